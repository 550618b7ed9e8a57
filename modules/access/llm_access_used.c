/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * When each key was last used, kept without a write per request.
 *
 * A table of slots in shared memory, one per key and store (the key
 * file's path, or a Redis), found by a 64-bit hash of both (open
 * addressing, claimed by compare-and-swap, never given back: the
 * limits' table does the same). A request stores the time of its use,
 * in whole seconds, only when it is the granularity or more after the
 * time kept: a key busy in every child costs one store of a word per
 * granularity, not one per request, and no lock. httpd's parent process
 * reads the table every flush interval and writes the keys used since
 * the last flush to their store, in one batch: the key file's sidecar
 * (one rename), or one HSET in Redis. `flushed` is the parent's alone.
 *
 * A slot is named (key id, hash) by the request that claims it, and
 * `ready` is set after the names: the flusher reads no half-written
 * name. A request that finds a slot claimed but not yet ready still
 * stores its time; the flusher takes it at the next flush.
 *
 * The sidecar is JSON, {"last_used": {"<id>": <Unix seconds>, ...}},
 * merged with what it held (the later time of each id wins, so a time
 * written before a full stop of httpd survives it) and renamed over the
 * old one: llmctl key reads the old file or the new one, never half.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_file_io.h"
#include "apr_strings.h"

#include "llm_access.h"
#include "llm_buf.h"
#include "llm_json.h"

#if !defined(__GCC_ATOMIC_LLONG_LOCK_FREE) || __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#error "the last-used table needs lock-free 64-bit atomics"
#endif

apr_size_t llm_used_table_size(apr_uint32_t nslots)
{
    return sizeof(llm_used_slot_t) * (apr_size_t)nslots;
}

void llm_used_table_init(llm_used_table_t *t, void *mem, apr_uint32_t nslots)
{
    t->slots = mem;
    t->nslots = nslots;
}

/* FNV-1a, 64 bits, over @a len bytes, from @a h. */
static apr_uint64_t fnv(apr_uint64_t h, const void *data, apr_size_t len)
{
    const unsigned char *b = data;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h ^= b[i];
        h *= APR_UINT64_C(1099511628211);
    }
    return h;
}

#define FNV_START APR_UINT64_C(14695981039346656037)

apr_uint64_t llm_used_store_hash(const char *name)
{
    apr_uint64_t h = fnv(FNV_START, name, strlen(name));

    return h ? h : 1;
}

static apr_uint64_t slot_id(apr_uint64_t store, const char *key_id)
{
    apr_uint64_t h = fnv(fnv(FNV_START, &store, sizeof(store)), key_id,
                         strlen(key_id));

    return h ? h : 1;
}

static void name_slot(llm_used_slot_t *s, apr_uint64_t store,
                      const llm_access_key_t *k)
{
    apr_cpystrn(s->key_id, k->id, sizeof(s->key_id));
    apr_cpystrn(s->hash, k->hash, sizeof(s->hash));
    __atomic_store_n(&s->store, store, __ATOMIC_RELAXED);
    __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
}

llm_used_slot_t *llm_used_slot(llm_used_table_t *t, apr_uint64_t store,
                               const llm_access_key_t *k)
{
    apr_uint64_t id = slot_id(store, k->id);
    apr_uint32_t i;

    for (i = 0; t->slots && i < t->nslots; i++) {
        llm_used_slot_t *s = &t->slots[(id + i) % t->nslots];
        apr_uint64_t seen = __atomic_load_n(&s->id, __ATOMIC_ACQUIRE);

        /* A load first: a CAS on a taken slot would still take its
         * cache line from every other process, on every request. */
        if (seen == 0
            && __atomic_compare_exchange_n(&s->id, &seen, id, 0,
                                           __ATOMIC_ACQ_REL,
                                           __ATOMIC_ACQUIRE)) {
            name_slot(s, store, k);
            return s;
        }
        if (seen == id) {
            return s;
        }
    }
    return NULL;
}

int llm_used_touch(llm_used_slot_t *s, apr_uint32_t now,
                   apr_uint32_t granularity)
{
    apr_uint32_t old = __atomic_load_n(&s->used, __ATOMIC_RELAXED);

    if (now < old + (granularity ? granularity : 1)) {
        return 0;               /* the common case: a load, no store */
    }
    /* One store per granularity: whoever loses the race has nothing to
     * add (its time is the same second, or nearly). */
    return __atomic_compare_exchange_n(&s->used, &old, now, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

apr_array_header_t *llm_used_dirty(apr_pool_t *p, llm_used_table_t *t,
                                   apr_uint64_t store)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(llm_used_entry_t));
    apr_uint32_t i;

    for (i = 0; t->slots && i < t->nslots; i++) {
        llm_used_slot_t *s = &t->slots[i];
        llm_used_entry_t *e;
        apr_uint32_t used;

        if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)
            || __atomic_load_n(&s->store, __ATOMIC_RELAXED) != store) {
            continue;
        }
        used = __atomic_load_n(&s->used, __ATOMIC_RELAXED);
        if (used <= __atomic_load_n(&s->flushed, __ATOMIC_RELAXED)) {
            continue;
        }
        e = apr_array_push(out);
        e->slot = s;
        e->key_id = apr_pstrndup(p, s->key_id, sizeof(s->key_id) - 1);
        e->hash = apr_pstrndup(p, s->hash, sizeof(s->hash) - 1);
        e->used = used;
    }
    return out;
}

void llm_used_mark_flushed(const apr_array_header_t *entries)
{
    int i;

    for (i = 0; i < entries->nelts; i++) {
        const llm_used_entry_t *e = &APR_ARRAY_IDX(entries, i,
                                                   llm_used_entry_t);

        __atomic_store_n(&e->slot->flushed, e->used, __ATOMIC_RELAXED);
    }
}

/* ------------------------------------------------------------------ */
/* Budgets (llm_access_each_budget)                                    */
/* ------------------------------------------------------------------ */

void llm_used_set_budget(llm_used_slot_t *u, apr_int64_t count,
                         llm_access_period_e period, apr_time_t ends,
                         apr_uint32_t index)
{
    apr_uint32_t end_s = (apr_uint32_t)apr_time_sec(ends);

    if (__atomic_load_n(&u->budget_ends, __ATOMIC_RELAXED) == end_s
        && __atomic_load_n(&u->budget, __ATOMIC_RELAXED)
           == (apr_uint64_t)count
        && __atomic_load_n(&u->budget_slot, __ATOMIC_RELAXED) == index) {
        return;                 /* every request but the period's first */
    }
    __atomic_store_n(&u->budget_slot, index, __ATOMIC_RELAXED);
    __atomic_store_n(&u->budget_period, (apr_uint32_t)period,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&u->budget, (apr_uint64_t)count, __ATOMIC_RELAXED);
    __atomic_store_n(&u->budget_ends, end_s, __ATOMIC_RELEASE);
}

int llm_used_each_budget(apr_pool_t *p, llm_used_table_t *t,
                         apr_uint64_t a, apr_uint64_t b, apr_time_t now,
                         int max, llm_used_spent_fn *spent, void *ctx,
                         llm_key_budget_fn *fn, void *baton)
{
    apr_uint32_t now_s = (apr_uint32_t)apr_time_sec(now), i;
    int n = 0;

    for (i = 0; t->slots && i < t->nslots && n < max; i++) {
        const llm_used_slot_t *u = &t->slots[i];
        apr_uint64_t store = __atomic_load_n(&u->store, __ATOMIC_RELAXED);
        llm_key_budget_t kb;
        apr_int64_t used;

        if (!__atomic_load_n(&u->ready, __ATOMIC_ACQUIRE)
            || !store || (store != a && store != b)
            || now_s >= __atomic_load_n(&u->budget_ends, __ATOMIC_ACQUIRE)
            || !__atomic_load_n(&u->budget, __ATOMIC_RELAXED)) {
            continue;           /* no budget, or its period is over */
        }
        kb.key_id = apr_pstrndup(p, u->key_id, sizeof(u->key_id) - 1);
        if ((used = spent(ctx, u, kb.key_id, now)) <= 0) {
            continue;
        }
        kb.used = (apr_uint64_t)used;
        kb.limit = __atomic_load_n(&u->budget, __ATOMIC_RELAXED);
        kb.period = __atomic_load_n(&u->budget_period, __ATOMIC_RELAXED)
                    == LLM_PERIOD_DAY ? "day" : "month";
        n++;
        if (fn(baton, &kb)) {
            break;
        }
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* The key file's sidecar                                              */
/* ------------------------------------------------------------------ */

const char *llm_used_sidecar(apr_pool_t *p, const char *key_file)
{
    return apr_pstrcat(p, key_file, ".last-used", NULL);
}

const char *llm_used_read(apr_pool_t *p, const char *path, apr_hash_t **out)
{
    apr_finfo_t fi;
    char *buf;
    apr_size_t len;
    const char *why;

    *out = apr_hash_make(p);
    if (apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_ENOENT) {
        return NULL;
    }
    if ((why = llm_file_slurp(p, path, LLM_ACCESS_FILE_MAX, &buf, &len))) {
        return why;
    }
    return llm_used_parse(p, path, buf, len, *out);
}

const char *llm_used_parse(apr_pool_t *p, const char *path,
                           const char *buf, apr_size_t len, apr_hash_t *out)
{
    json_object *root, *times;
    struct json_object_iterator it, end;

    root = llm_json_parse(buf, len);
    times = root ? llm_json_get(root, "last_used") : NULL;
    if (!llm_json_is(times, json_type_object)) {
        if (root) {
            json_object_put(root);
        }
        return apr_pstrcat(p, path, ": not a last-used file", NULL);
    }
    it = json_object_iter_begin(times);
    end = json_object_iter_end(times);
    for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
        json_object *v = json_object_iter_peek_value(&it);
        apr_time_t *t = apr_palloc(p, sizeof(*t));

        apr_int64_t sec;

        if (!llm_json_is(v, json_type_int)) {
            continue;
        }
        /* A time this file could hold: 1970 to 2106 (a value past what
         * apr_time_t holds would overflow, and win every merge). */
        sec = json_object_get_int64(v);
        if (sec < 0 || sec > APR_UINT32_MAX) {
            continue;
        }
        *t = apr_time_from_sec(sec);
        apr_hash_set(out, apr_pstrdup(p, json_object_iter_peek_name(&it)),
                     APR_HASH_KEY_STRING, t);
    }
    json_object_put(root);
    return NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The text of @a times (id -> apr_time_t *), ids sorted. */
static const char *sidecar_text(apr_pool_t *p, apr_hash_t *times)
{
    json_object *root = json_object_new_object();
    json_object *obj = json_object_new_object();
    apr_array_header_t *ids = apr_array_make(p, 16, sizeof(const char *));
    apr_hash_index_t *hi;
    const char *text;
    int i;

    for (hi = apr_hash_first(p, times); hi; hi = apr_hash_next(hi)) {
        APR_ARRAY_PUSH(ids, const char *) = apr_hash_this_key(hi);
    }
    qsort(ids->elts, ids->nelts, sizeof(const char *), by_name);
    for (i = 0; i < ids->nelts; i++) {
        const char *id = APR_ARRAY_IDX(ids, i, const char *);
        const apr_time_t *t = apr_hash_get(times, id, APR_HASH_KEY_STRING);

        llm_json_add(obj, id, json_object_new_int64(apr_time_sec(*t)));
    }
    llm_json_add(root, "last_used", obj);
    text = apr_pstrcat(p, json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
        | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL);
    json_object_put(root);
    return text;
}

const char *llm_used_merge(apr_pool_t *p, const char *path, const char *like,
                           const apr_array_header_t *entries)
{
    apr_hash_t *times;
    const char *why = llm_used_read(p, path, &times);
    int i;

    if (why) {
        times = apr_hash_make(p);   /* a broken file is written anew */
    }
    for (i = 0; i < entries->nelts; i++) {
        const llm_used_entry_t *e = &APR_ARRAY_IDX(entries, i,
                                                   llm_used_entry_t);
        apr_time_t *t = apr_hash_get(times, e->key_id, APR_HASH_KEY_STRING);

        if (!t) {
            t = apr_palloc(p, sizeof(*t));
            *t = 0;
            apr_hash_set(times, e->key_id, APR_HASH_KEY_STRING, t);
        }
        if (apr_time_from_sec(e->used) > *t) {
            *t = apr_time_from_sec(e->used);
        }
    }
    return llm_access_file_replace(p, path, like, sidecar_text(p, times));
}

void llm_used_apply(llm_access_store_t *s, apr_hash_t *times, int by_hash)
{
    int i;

    for (i = 0; i < s->keys->nelts; i++) {
        llm_access_key_t *k = APR_ARRAY_IDX(s->keys, i, llm_access_key_t *);
        const apr_time_t *t = apr_hash_get(times, by_hash ? k->hash : k->id,
                                           APR_HASH_KEY_STRING);

        k->last_used = t ? *t : 0;
    }
}
