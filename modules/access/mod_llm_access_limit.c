/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * LLMLimitRequests and LLMLimitTokens: exact limits per key (or per
 * user, or per client address when nobody authenticated), shared by
 * every child of httpd (llm_access_limit.c says how).
 *
 * The table of buckets is made once for the life of the httpd process
 * (its process pool), so a graceful restart keeps every bucket: a
 * restart is no way around a limit. Requests are counted in fixups,
 * after authentication and authorisation (a refused request costs
 * nothing); the tokens of an answer are charged from its usage when the
 * router is done with it (llm_request_done). A key's own limits in the
 * store replace the directives'.
 */

#include "apr_shm.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_llm_access.h"

#define LASTING_KEY "llm_access_limits"

static llm_limit_table_t *table;

const char *llm_access_limits_init(apr_pool_t *pconf, server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    apr_uint32_t n = llm_access_srv(s)->limit_slots;
    apr_shm_t *shm;

    (void)pconf;
    apr_pool_userdata_get((void **)&table, LASTING_KEY, pp);
    if (table) {
        return NULL;    /* kept across restarts, at its first size */
    }
    n = n ? n : LLM_LIMIT_SLOTS_DEFAULT;
    if (apr_shm_create(&shm, llm_limit_table_size(n), NULL, pp)
        != APR_SUCCESS) {
        return "no shared memory for the limits' table";
    }
    memset(apr_shm_baseaddr_get(shm), 0, llm_limit_table_size(n));
    table = apr_pcalloc(pp, sizeof(*table));
    llm_limit_table_init(table, apr_shm_baseaddr_get(shm), n);
    apr_pool_userdata_set(table, LASTING_KEY, apr_pool_cleanup_null, pp);
    return NULL;
}

/* Whose bucket: the key's, else the user's, else the address's. */
static const char *holder(request_rec *r, const llm_access_key_t *k,
                          int per_address)
{
    const char *who = k ? apr_pstrcat(r->pool, "key:", k->id, NULL)
                    : r->user ? apr_pstrcat(r->pool, "user:", r->user, NULL)
                    : apr_pstrcat(r->pool, "ip:", r->useragent_ip, NULL);

    return per_address && (k || r->user)
           ? apr_pstrcat(r->pool, who, "|", r->useragent_ip, NULL) : who;
}

static const llm_access_rate_t *rate_of(const llm_access_rate_t *key_rate,
                                        const llm_access_limit_conf_t *c)
{
    if (key_rate && key_rate->count) {
        return key_rate;
    }
    return c->set && c->rate.count ? &c->rate : NULL;
}

static llm_limit_slot_t *slot_of(request_rec *r, const char *kind,
                                 const char *who,
                                 const llm_access_rate_t *rate)
{
    static int warned;
    llm_limit_slot_t *slot = llm_limit_slot(table, apr_psprintf(
        r->pool, "%s|%s|%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT, kind, who,
        rate->count, (apr_int64_t)rate->window));

    if (!slot && !warned) {
        warned = 1;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, LLMLOGNO(05007)
                      "the limits' table is full (LLMLimitSlots %u): "
                      "requests of new buckets are let through",
                      table->nslots);
    }
    return slot;
}

static const char *seconds(request_rec *r, apr_interval_time_t t)
{
    return apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                        (apr_int64_t)((t + APR_USEC_PER_SEC - 1)
                                      / APR_USEC_PER_SEC));
}

static void rate_headers(request_rec *r, const llm_limit_result_t *res)
{
    apr_table_setn(r->err_headers_out, "X-RateLimit-Limit",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, res->limit));
    apr_table_setn(r->err_headers_out, "X-RateLimit-Remaining",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                res->remaining));
    apr_table_setn(r->err_headers_out, "X-RateLimit-Reset",
                   seconds(r, res->reset));
}

static int refuse_rate(request_rec *r, const llm_access_key_t *k,
                       const char *what, const llm_access_rate_t *rate,
                       const llm_limit_result_t *res)
{
    const char *wait = seconds(r, res->retry_after > 0 ? res->retry_after
                                                       : 1);

    apr_table_setn(r->err_headers_out, "Retry-After", wait);
    return llm_access_refuse(r, LLM_ACCESS_RATE_LIMITED,
                             HTTP_TOO_MANY_REQUESTS, "rate_limit_exceeded",
                             apr_psprintf(r->pool, "Rate limit exceeded: %"
                                          APR_INT64_T_FMT " %s per %"
                                          APR_INT64_T_FMT " s. Retry after "
                                          "%s s.", rate->count, what,
                                          (apr_int64_t)apr_time_sec(
                                              rate->window), wait), k);
}

/* The key's budget, else the directive's; the bucket is the period's. */
static int check_budget(request_rec *r, llm_access_req_t *st,
                        llm_access_dir_conf_t *dc, const char *who,
                        apr_time_t now)
{
    const llm_access_budget_t *b = st->key && st->key->budget.count
                                   ? &st->key->budget
                                   : dc->budget_set && dc->budget.count
                                   ? &dc->budget : NULL;
    char period[16];
    apr_time_t ends;
    llm_limit_slot_t *slot;
    llm_limit_result_t res;

    if (!b) {
        return DECLINED;
    }
    llm_access_budget_period(b->period, now, period, &ends);
    slot = llm_limit_slot(table, apr_psprintf(
        r->pool, "budget|%s|%s|%" APR_INT64_T_FMT, who, period, b->count));
    if (!slot) {
        return DECLINED;
    }
    llm_budget_check(&slot->tat, b->count, &res);
    if (res.allowed) {
        st->budget_slot = slot;
        return DECLINED;
    }
    apr_table_setn(r->err_headers_out, "Retry-After", seconds(r, ends - now));
    return llm_access_refuse(r, LLM_ACCESS_BUDGET_SPENT,
                             HTTP_TOO_MANY_REQUESTS, "budget_exceeded",
                             apr_psprintf(r->pool, "The token budget of "
                                          "this key (%s) is spent until "
                                          "the period %s ends.",
                                          llm_access_budget_text(r->pool, b),
                                          period), st->key);
}

int llm_access_check_limits(request_rec *r)
{
    llm_access_dir_conf_t *dc = llm_access_dir(r);
    llm_access_req_t *st;
    const llm_access_rate_t *req_rate, *tok_rate;
    const char *who;
    llm_limit_slot_t *slot;
    llm_limit_result_t res;
    apr_time_t now = apr_time_now();

    if (r->main || r->prev || !table) {
        return DECLINED;
    }
    st = llm_access_req(r);
    req_rate = rate_of(st->key ? &st->key->requests : NULL, &dc->requests);
    tok_rate = rate_of(st->key ? &st->key->tokens : NULL, &dc->tokens);
    if (!req_rate && !tok_rate && !(st->key && st->key->budget.count)
        && !(dc->budget_set && dc->budget.count)) {
        return DECLINED;
    }
    who = holder(r, st->key, dc->per_address == 1);
    if (check_budget(r, st, dc, who, now) != DECLINED) {
        return HTTP_TOO_MANY_REQUESTS;
    }
    if (req_rate && (slot = slot_of(r, "requests", who, req_rate))) {
        llm_limit_take(&slot->tat, req_rate, 1, now, &res);
        rate_headers(r, &res);
        if (!res.allowed) {
            return refuse_rate(r, st->key, "requests", req_rate, &res);
        }
    }
    if (tok_rate && (slot = slot_of(r, "tokens", who, tok_rate))) {
        llm_limit_take(&slot->tat, tok_rate, 0, now, &res);
        if (!req_rate) {
            rate_headers(r, &res);
        }
        if (!res.allowed) {
            return refuse_rate(r, st->key, "tokens", tok_rate, &res);
        }
        st->tokens_slot = slot;
        st->tokens_rate = tok_rate;
    }
    return DECLINED;
}

/* What the answer cost, from its normalised usage (a stream cut early
 * reports what was delivered, when the provider said so). */
int llm_access_request_done(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_access_req_t *st = llm_access_req(r);
    apr_int64_t spent = ctx->usage.total_tokens;

    if (!st->tokens_slot && !st->budget_slot) {
        return DECLINED;
    }
    if (spent < 0) {
        spent = (ctx->usage.prompt_tokens > 0 ? ctx->usage.prompt_tokens : 0)
                + (ctx->usage.completion_tokens > 0
                   ? ctx->usage.completion_tokens : 0);
    }
    if (spent > 0 && st->tokens_slot) {
        llm_limit_charge(&st->tokens_slot->tat, st->tokens_rate, spent,
                         apr_time_now());
    }
    if (spent > 0 && st->budget_slot) {
        llm_budget_charge(&st->budget_slot->tat, spent);
    }
    return OK;
}
