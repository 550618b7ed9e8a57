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
 *
 * With LLMLimitRedis the request and token buckets and the budgets are
 * kept in Redis instead, for every node that names it (llm_access_redis.c,
 * connections in mod_llm_access_redis.c). When Redis cannot be reached
 * they are counted in this httpd's table (LLMLimitRedisFail open, the
 * default) or the request is refused with 503 (closed).
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

llm_limit_table_t *llm_access_limit_table(void)
{
    return table;
}

apr_uint32_t llm_access_limit_index(const llm_limit_slot_t *slot)
{
    return table && slot ? (apr_uint32_t)(slot - table->slots) + 1 : 0;
}

/* A budget's count (slots are never given back: the index stays its
 * bucket's). */
apr_int64_t llm_access_limit_spent(apr_uint32_t index)
{
    if (!table || !index || index > table->nslots) {
        return 0;
    }
    return (apr_int64_t)__atomic_load_n(&table->slots[index - 1].tat,
                                        __ATOMIC_ACQUIRE);
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

/* Numbers as text without apr_psprintf, which cost about a third of
 * the limits' instructions per request (callgrind). */
static const char *num(request_rec *r, apr_int64_t n)
{
    return apr_off_t_toa(r->pool, (apr_off_t)n);
}

static const char *bucket_name(request_rec *r, const char *kind,
                               const char *who,
                               const llm_access_rate_t *rate)
{
    return apr_pstrcat(r->pool, "llm:limit:", kind, "|", who, "|",
                       num(r, rate->count), "/", num(r, rate->window), NULL);
}

static llm_limit_slot_t *slot_of(request_rec *r, const char *name)
{
    static int warned;
    llm_limit_slot_t *slot = llm_limit_slot(table, name);

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
    return num(r, (t + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);
}

static void rate_headers(request_rec *r, const llm_limit_result_t *res)
{
    apr_table_setn(r->err_headers_out, "X-RateLimit-Limit",
                   num(r, res->limit));
    apr_table_setn(r->err_headers_out, "X-RateLimit-Remaining",
                   num(r, res->remaining));
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
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_LIMIT, apr_psprintf(
                       r->pool, "%s %" APR_INT64_T_FMT "/%" APR_INT64_T_FMT
                       "s", what, rate->count,
                       (apr_int64_t)apr_time_sec(rate->window)));
    return llm_access_refuse(r, LLM_ACCESS_RATE_LIMITED,
                             HTTP_TOO_MANY_REQUESTS, "rate_limit_exceeded",
                             apr_psprintf(r->pool, "Rate limit exceeded: %"
                                          APR_INT64_T_FMT " %s per %"
                                          APR_INT64_T_FMT " s. Retry after "
                                          "%s s.", rate->count, what,
                                          (apr_int64_t)apr_time_sec(
                                              rate->window), wait), k);
}

typedef enum {
    LIMIT_DECIDED,                   /* *res says */
    LIMIT_NONE,                      /* no bucket (a full table): let
                                        through */
    LIMIT_UNAVAILABLE                /* Redis down, LLMLimitRedisFail
                                        closed */
} limit_outcome_e;

/* One limit, in Redis when configured (and reachable), else here. */
static limit_outcome_e limit_take(request_rec *r,
                                  const llm_access_srv_conf_t *sc,
                                  const char *name,
                                  const llm_access_rate_t *rate,
                                  apr_int64_t cost, llm_limit_result_t *res,
                                  llm_limit_slot_t **slot, int *in_redis)
{
    *slot = NULL;
    *in_redis = 0;
    if (sc->redis_host) {
        struct redisContext *c = llm_access_redis_conn(r->server, sc);

        if (c && llm_access_redis_gcra(c, r->pool, name, rate, cost, 1, res)
                 == APR_SUCCESS) {
            llm_access_redis_up(r->server, sc);
            *in_redis = 1;
            return LIMIT_DECIDED;
        }
        if (c) {
            llm_access_redis_failed(r->server, sc);
        }
        if (sc->redis_fail_closed == 1) {
            return LIMIT_UNAVAILABLE;
        }
    }
    if (!(*slot = slot_of(r, name))) {
        return LIMIT_NONE;
    }
    llm_limit_take(&(*slot)->tat, rate, cost, apr_time_now(), res);
    return LIMIT_DECIDED;
}

static int refuse_unavailable(request_rec *r, const llm_access_key_t *k)
{
    apr_table_setn(r->err_headers_out, "Retry-After", "1");
    return llm_access_refuse(r, LLM_ACCESS_STORE_FAILED,
                             HTTP_SERVICE_UNAVAILABLE, "limits_unavailable",
                             "The rate limits cannot be checked now. Retry "
                             "after 1 s.", k);
}

/* What a budget bucket has spent: in Redis when configured (and
 * reachable), else here. LIMIT_DECIDED with *spent, or why not. */
static limit_outcome_e budget_spent(request_rec *r, llm_access_req_t *st,
                                    const char *name, apr_time_t ends,
                                    apr_int64_t *spent)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);
    llm_limit_slot_t *slot;

    if (sc->redis_host) {
        struct redisContext *c = llm_access_redis_conn(r->server, sc);

        if (c && llm_access_redis_budget(c, r->pool, name, 0, ends, spent)
                 == APR_SUCCESS) {
            llm_access_redis_up(r->server, sc);
            st->budget_bucket = name;
            st->budget_ends = ends;
            return LIMIT_DECIDED;
        }
        if (c) {
            llm_access_redis_failed(r->server, sc);
        }
        if (sc->redis_fail_closed == 1) {
            return LIMIT_UNAVAILABLE;
        }
    }
    if (!(slot = slot_of(r, name))) {
        return LIMIT_NONE;
    }
    *spent = (apr_int64_t)__atomic_load_n(&slot->tat, __ATOMIC_ACQUIRE);
    st->budget_slot = slot;
    /* what the state file keeps across a full stop (a load, a store once
     * per period) */
    llm_budget_mark(table, slot, ends);
    return LIMIT_DECIDED;
}

/* A budget's X-RateLimit-*: tokens left, and the seconds until its
 * period ends (when a new bucket starts from zero). */
static void budget_headers(request_rec *r, apr_int64_t budget,
                           apr_int64_t spent, apr_interval_time_t reset)
{
    llm_limit_result_t res = { 0 };

    res.limit = budget;
    res.remaining = spent < budget ? budget - spent : 0;
    res.reset = reset;
    rate_headers(r, &res);
}

/* The key's budget, else the directive's; the bucket is the period's.
 * @a headers: no request or token limit will say X-RateLimit-*. */
static int check_budget(request_rec *r, llm_access_req_t *st,
                        llm_access_dir_conf_t *dc, const char *who,
                        apr_time_t now, int headers)
{
    const llm_access_budget_t *b = st->key && st->key->budget.count
                                   ? &st->key->budget
                                   : dc->budget_set && dc->budget.count
                                   ? &dc->budget : NULL;
    char period[16];
    apr_time_t ends;
    apr_int64_t spent = 0;

    if (!b) {
        return DECLINED;
    }
    llm_access_budget_period(b->period, now, period, &ends);
    switch (budget_spent(r, st, apr_psprintf(
                r->pool, "llm:budget:%s|%s|%" APR_INT64_T_FMT, who, period,
                b->count), ends, &spent)) {
    case LIMIT_UNAVAILABLE:
        return refuse_unavailable(r, st->key);
    case LIMIT_NONE:
        return DECLINED;
    default:
        break;
    }
    if (st->key && !strcmp(who + 4, st->key->id)) {
        /* per key (not per address): for llm_access_each_budget */
        llm_access_used_budget(st, b, ends, st->budget_slot);
    }
    if (headers) {
        budget_headers(r, b->count, spent, ends - now);
    }
    if (spent < b->count) {
        return DECLINED;
    }
    st->budget_slot = NULL;
    st->budget_bucket = NULL;
    apr_table_setn(r->err_headers_out, "Retry-After", seconds(r, ends - now));
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_LIMIT, apr_pstrcat(
                       r->pool, "budget ", llm_access_budget_text(r->pool, b),
                       NULL));
    return llm_access_refuse(r, LLM_ACCESS_BUDGET_SPENT,
                             HTTP_TOO_MANY_REQUESTS, "budget_exceeded",
                             apr_psprintf(r->pool, "The token budget of "
                                          "this key (%s) is spent until "
                                          "the period %s ends.",
                                          llm_access_budget_text(r->pool, b),
                                          period), st->key);
}

/* One request of the bucket's: 429 when over. */
static int check_requests(request_rec *r, llm_access_req_t *st,
                          const char *who, const llm_access_rate_t *rate)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);
    llm_limit_slot_t *slot;
    llm_limit_result_t res;
    int in_redis;

    switch (limit_take(r, sc, bucket_name(r, "requests", who, rate), rate,
                       1, &res, &slot, &in_redis)) {
    case LIMIT_UNAVAILABLE:
        return refuse_unavailable(r, st->key);
    case LIMIT_DECIDED:
        rate_headers(r, &res);
        return res.allowed ? DECLINED
                           : refuse_rate(r, st->key, "requests", rate, &res);
    default:
        return DECLINED;
    }
}

/* Refused while in debt; otherwise the bucket is remembered, to be
 * charged the answer's tokens at its end. */
static int check_tokens(request_rec *r, llm_access_req_t *st,
                        const char *who, const llm_access_rate_t *rate,
                        int headers)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);
    const char *name = bucket_name(r, "tokens", who, rate);
    llm_limit_slot_t *slot;
    llm_limit_result_t res;
    int in_redis;

    switch (limit_take(r, sc, name, rate, 0, &res, &slot, &in_redis)) {
    case LIMIT_UNAVAILABLE:
        return refuse_unavailable(r, st->key);
    case LIMIT_DECIDED:
        if (headers) {
            rate_headers(r, &res);
        }
        if (!res.allowed) {
            return refuse_rate(r, st->key, "tokens", rate, &res);
        }
        st->tokens_slot = slot;
        st->tokens_bucket = in_redis ? name : NULL;
        st->tokens_rate = rate;
        return DECLINED;
    default:
        return DECLINED;
    }
}

int llm_access_check_limits(request_rec *r)
{
    llm_access_dir_conf_t *dc = llm_access_dir(r);
    llm_access_req_t *st;
    const llm_access_rate_t *req_rate, *tok_rate;
    const char *who;
    int rv;

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
    if ((rv = check_budget(r, st, dc, who, apr_time_now(),
                           !req_rate && !tok_rate)) != DECLINED
        || (req_rate && (rv = check_requests(r, st, who, req_rate))
                        != DECLINED)
        || (tok_rate && (rv = check_tokens(r, st, who, tok_rate, !req_rate))
                        != DECLINED)) {
        return rv;
    }
    return DECLINED;
}

static void charge_redis(request_rec *r, llm_access_req_t *st,
                         apr_int64_t spent)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);
    struct redisContext *c = llm_access_redis_conn(r->server, sc);
    llm_limit_result_t res;

    if (!c || llm_access_redis_gcra(c, r->pool, st->tokens_bucket,
                                    st->tokens_rate, spent, 0, &res)
              != APR_SUCCESS) {
        if (c) {
            llm_access_redis_failed(r->server, sc);
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, LLMLOGNO(05011)
                      "%" APR_INT64_T_FMT " tokens of key %s not charged: "
                      "Redis at %s did not answer", spent,
                      st->key ? st->key->id : "-", sc->redis);
    }
}

static void charge_budget_redis(request_rec *r, llm_access_req_t *st,
                                apr_int64_t spent)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);
    struct redisContext *c = llm_access_redis_conn(r->server, sc);
    apr_int64_t total;

    if (!c || llm_access_redis_budget(c, r->pool, st->budget_bucket, spent,
                                      st->budget_ends, &total)
              != APR_SUCCESS) {
        if (c) {
            llm_access_redis_failed(r->server, sc);
        }
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, LLMLOGNO(05012)
                      "%" APR_INT64_T_FMT " tokens of key %s not charged "
                      "to its budget: Redis at %s did not answer", spent,
                      st->key ? st->key->id : "-", sc->redis);
    }
}

/* What the answer cost, from its normalised usage (a stream cut early
 * reports what was delivered, when the provider said so). */
int llm_access_request_done(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_access_req_t *st = llm_access_req(r);
    apr_int64_t spent = ctx->usage.total_tokens;

    if (!st->tokens_slot && !st->budget_slot && !st->tokens_bucket
        && !st->budget_bucket) {
        return DECLINED;
    }
    if (spent < 0) {
        spent = (ctx->usage.prompt_tokens > 0 ? ctx->usage.prompt_tokens : 0)
                + (ctx->usage.completion_tokens > 0
                   ? ctx->usage.completion_tokens : 0);
    }
    if (spent > 0 && st->tokens_bucket) {
        charge_redis(r, st, spent);
    }
    if (spent > 0 && st->tokens_slot) {
        llm_limit_charge(&st->tokens_slot->tat, st->tokens_rate, spent,
                         apr_time_now());
    }
    if (spent > 0 && st->budget_slot) {
        llm_budget_charge(&st->budget_slot->tat, spent);
    }
    if (spent > 0 && st->budget_bucket) {
        charge_budget_redis(r, st, spent);
    }
    return OK;
}
