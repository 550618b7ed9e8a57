/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Exact rate limits over a table of slots that every child of httpd
 * shares (shared memory), with no lock.
 *
 * Each limit is a GCRA (the generic cell rate algorithm, ITU-T I.371):
 * a limit of N per window W spaces requests T = W/N apart and keeps one
 * number per bucket, the theoretical arrival time (TAT) of the next
 * request. A request at time t is allowed when max(TAT, t) + cost*T - t
 * <= N*T, and then TAT becomes max(TAT, t) + cost*T. That lets a burst
 * of N through, then one per T, and never more than N in any window of
 * W: exact, with no per-request history to keep. T is W/N rounded up to
 * a whole microsecond, so that rounding can only slow the refill (by
 * less than a microsecond per request), never let one more through; a
 * limit finer than one per microsecond is refused when it is parsed.
 *
 * The TAT is one 64-bit word, updated by compare-and-swap: concurrent
 * requests of one key in several processes each retry until their own
 * update lands, so none is lost and none counts twice. Buckets find
 * their slot by a 64-bit hash of their name (open addressing, linear
 * probing), claimed by CAS too; slots are not given back (the table is
 * sized by LLMLimitSlots; a full table lets requests through and says
 * so).
 *
 * Tokens use the same arithmetic with the tokens of an answer as its
 * cost, charged when the answer is over (when its usage is known): a
 * key is refused while the tokens it spent are more than its window
 * allows, so the request that crosses the limit is served, and the next
 * ones wait until the debt has drained.
 */

#include <string.h>

#include "llm_access.h"

/* Lock-free on every platform httpd's MPMs run this on (x86-64,
 * aarch64); a platform without 64-bit atomics fails to build here
 * rather than count wrong. */
#if !defined(__GCC_ATOMIC_LLONG_LOCK_FREE) || __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#error "exact limits need lock-free 64-bit atomics"
#endif

apr_size_t llm_limit_table_size(apr_uint32_t nslots)
{
    return (sizeof(llm_limit_slot_t) + sizeof(apr_uint32_t))
           * (apr_size_t)nslots;
}

/* The period ends after the slots, apart: the slots stay 16 bytes, four
 * to a cache line, and the request path reads an end only for a
 * budget. */
void llm_limit_table_init(llm_limit_table_t *t, void *mem,
                          apr_uint32_t nslots)
{
    t->slots = mem;
    t->ends = (volatile apr_uint32_t *)(t->slots + nslots);
    t->nslots = nslots;
}

/* FNV-1a, 64 bits; 0 is "empty". */
static apr_uint64_t name_hash(const char *name)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= APR_UINT64_C(1099511628211);
    }
    return h ? h : 1;
}

llm_limit_slot_t *llm_limit_slot(llm_limit_table_t *t, const char *name)
{
    return llm_limit_slot_id(t, name_hash(name));
}

llm_limit_slot_t *llm_limit_slot_id(llm_limit_table_t *t, apr_uint64_t id)
{
    apr_uint32_t i, at;

    for (i = 0; i < t->nslots; i++) {
        llm_limit_slot_t *s;
        apr_uint64_t seen = 0;

        at = (apr_uint32_t)((id + i) % t->nslots);
        s = &t->slots[at];
        /* A load first: a compare-and-swap on a slot already taken
         * fails, but still takes its cache line from every other
         * process, on every request. */
        seen = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);
        if (seen == id
            || (seen == 0
                && (__atomic_compare_exchange_n(&s->id, &seen, id, 0,
                                                __ATOMIC_ACQ_REL,
                                                __ATOMIC_ACQUIRE)
                    || seen == id))) {
            return s;           /* ours already, or claimed now */
        }
    }
    return NULL;
}

apr_int64_t llm_limit_spacing(const llm_access_rate_t *rate)
{
    apr_int64_t t = (rate->window + rate->count - 1) / rate->count;

    return t > 0 ? t : 1;
}

void llm_limit_take(volatile apr_uint64_t *tat, const llm_access_rate_t *rate,
                    apr_int64_t cost, apr_time_t now, llm_limit_result_t *res)
{
    apr_int64_t t = llm_limit_spacing(rate), tolerance = rate->count * t;
    apr_uint64_t old = __atomic_load_n(tat, __ATOMIC_ACQUIRE), next;

    for (;;) {
        apr_int64_t base = (apr_int64_t)old > now ? (apr_int64_t)old : now;

        next = (apr_uint64_t)(base + cost * t);
        if ((apr_int64_t)next - now > tolerance) {
            res->allowed = 0;
            res->retry_after = (apr_int64_t)next - now - tolerance;
            next = (apr_uint64_t)base;
            break;
        }
        if (__atomic_compare_exchange_n(tat, &old, next, 0,
                                        __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            res->allowed = 1;
            res->retry_after = 0;
            break;
        }
    }
    res->limit = rate->count;
    res->remaining = (tolerance - ((apr_int64_t)next - now)) / t;
    if (res->remaining < 0) {
        res->remaining = 0;
    }
    res->reset = (apr_int64_t)next > now ? (apr_int64_t)next - now : 0;
}

void llm_limit_charge(volatile apr_uint64_t *tat,
                      const llm_access_rate_t *rate, apr_int64_t cost,
                      apr_time_t now)
{
    apr_int64_t t = llm_limit_spacing(rate);
    apr_uint64_t old = __atomic_load_n(tat, __ATOMIC_ACQUIRE), next;

    do {
        apr_int64_t base = (apr_int64_t)old > now ? (apr_int64_t)old : now;

        next = (apr_uint64_t)(base + cost * t);
    } while (!__atomic_compare_exchange_n(tat, &old, next, 0,
                                          __ATOMIC_ACQ_REL,
                                          __ATOMIC_ACQUIRE));
}

/* A budget is a plain counter in its slot: a bucket per period (its
 * name holds the period), so a new period starts at zero. Like tokens
 * per window, the answer that crosses the budget is served. */
void llm_budget_check(volatile apr_uint64_t *spent, apr_int64_t budget,
                      llm_limit_result_t *res)
{
    apr_int64_t used = (apr_int64_t)__atomic_load_n(spent, __ATOMIC_ACQUIRE);

    res->allowed = used < budget;
    res->limit = budget;
    res->remaining = used < budget ? budget - used : 0;
    res->reset = 0;
    res->retry_after = 0;
}

void llm_budget_charge(volatile apr_uint64_t *spent, apr_int64_t tokens)
{
    __atomic_add_fetch(spent, (apr_uint64_t)tokens, __ATOMIC_ACQ_REL);
}
