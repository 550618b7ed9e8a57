/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Selection state shared by many httpd nodes (LLMBalanceRedis): the
 * methods whose meaning spans nodes ask Redis (llm_redis.c) instead of
 * the local shared memory:
 *
 *   balanced, weighted, dynamic_weighted  counts of choices (stride)
 *   first_available, first_available_optim  one lock per provider
 *   least_inflight                        leases that expire
 *
 * The others (latency, p2c, adaptive) rank by what this node measured
 * and stay local. Health (the breaker) is per node too: each node learns
 * of a dead provider from its own attempts or probes.
 *
 * Each thread keeps its own connection per Redis server: no lock and no
 * pool on the hot path. When Redis cannot be reached the choice is made
 * on local state, the error log says so once (one flag in shared memory
 * for all child processes), the thread tries again after a second, and
 * the log says so once again when Redis answers.
 */

#include <pthread.h>
#include <stdlib.h>

#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "llm_balance_private.h"
#include "llm_lb.h"
#include "llm_redis.h"

#define MAX_TARGETS 16
#define RECONNECT_AFTER apr_time_from_sec(1)
#define LOCK_POLL apr_time_from_msec(20)

struct llm_balance_redis {
    llm_redis_target_t target;
    const char *name;          /* as configured, for the log */
    int index;                 /* in targets[] and the per-thread slots */
};

static llm_balance_redis_t *targets[MAX_TARGETS];
static int ntargets;

/* 1 while Redis target i is known to be down (shared by the children,
 * so that the outage is logged once, not once per process). */
static apr_uint32_t *down_flags;

typedef struct {
    struct redisContext *conn[MAX_TARGETS];
    apr_time_t retry_at[MAX_TARGETS];
} thread_conns_t;

static pthread_key_t conns_key;
static pthread_once_t conns_once = PTHREAD_ONCE_INIT;

static void free_thread_conns(void *v)
{
    thread_conns_t *tc = v;
    int i;

    for (i = 0; i < MAX_TARGETS; i++) {
        llm_redis_close(tc->conn[i]);
    }
    free(tc);
}

static void make_conns_key(void)
{
    pthread_key_create(&conns_key, free_thread_conns);
}

static thread_conns_t *thread_conns(void)
{
    thread_conns_t *tc;

    pthread_once(&conns_once, make_conns_key);
    tc = pthread_getspecific(conns_key);
    if (!tc && (tc = calloc(1, sizeof(*tc))) != NULL) {
        pthread_setspecific(conns_key, tc);
    }
    return tc;
}

const char *llm_balance_redis_parse(apr_pool_t *p, const char *arg,
                                    llm_balance_redis_t **out)
{
    llm_balance_redis_t *b;
    const char *err;

    if (!strcasecmp(arg, "off")) {
        *out = NULL;
        return NULL;
    }
    b = apr_pcalloc(p, sizeof(*b));
    b->name = llm_redis_redact(p, arg);     /* for logs: no password */
    b->index = -1;
    b->target.prefix = LLM_REDIS_DEFAULT_PREFIX;
    b->target.timeout = LLM_REDIS_DEFAULT_TIMEOUT;
    b->target.lock_ttl = LLM_REDIS_DEFAULT_LOCK_TTL;
    b->target.count_ttl = LLM_REDIS_DEFAULT_COUNT_TTL;
    if ((err = llm_redis_parse_target(p, arg, &b->target)) != NULL) {
        return apr_psprintf(p, "LLMBalanceRedis %s: %s", b->name, err);
    }
    *out = b;
    return NULL;
}

llm_balance_redis_t *llm_balance_redis_copy(apr_pool_t *p,
                                            const llm_balance_redis_t *b)
{
    llm_balance_redis_t *copy = apr_pmemdup(p, b, sizeof(*b));

    copy->index = -1;
    return copy;
}

llm_redis_target_t *llm_balance_redis_target(llm_balance_redis_t *b)
{
    return &b->target;
}

void llm_balance_redis_pre_config(void)
{
    ntargets = 0;
}

/* The config pool goes away at a restart, and the segment with it. */
static apr_status_t forget_flags(void *unused)
{
    (void)unused;
    down_flags = NULL;
    return APR_SUCCESS;
}

int llm_balance_redis_post_config(apr_pool_t *pconf, server_rec *s,
                                  llm_balance_redis_t *b)
{
    apr_shm_t *shm;
    apr_status_t rv;

    if (!b || b->index >= 0) {
        return OK;
    }
    if (ntargets == MAX_TARGETS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(02014)
                     "LLMBalanceRedis: at most %d different Redis servers",
                     MAX_TARGETS);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!down_flags) {
        rv = apr_shm_create(&shm, sizeof(apr_uint32_t) * MAX_TARGETS, NULL,
                            pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LLMLOGNO(02015)
                         "LLMBalanceRedis: no shared memory for its state");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        down_flags = apr_shm_baseaddr_get(shm);
        memset(down_flags, 0, sizeof(apr_uint32_t) * MAX_TARGETS);
        apr_pool_cleanup_register(pconf, NULL, forget_flags,
                                  apr_pool_cleanup_null);
    }
    b->index = ntargets;
    targets[ntargets++] = b;
    return OK;
}


static void note_down(request_rec *r, llm_balance_redis_t *b,
                      const char *why)
{
    if (apr_atomic_cas32(&down_flags[b->index], 1, 0) == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(02016)
                      "Redis at %s cannot be used (%s): choosing providers "
                      "on this node's own state until it answers",
                      b->name, why);
    }
}

static void note_up(request_rec *r, llm_balance_redis_t *b)
{
    if (apr_atomic_read32(&down_flags[b->index])
        && apr_atomic_cas32(&down_flags[b->index], 0, 1) == 1) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, LLMLOGNO(02017)
                      "Redis at %s answers again: provider state is "
                      "shared across nodes again", b->name);
    }
}

/* This thread's connection to @a b, NULL while it is unreachable. */
static struct redisContext *connection(request_rec *r, llm_balance_redis_t *b)
{
    thread_conns_t *tc = thread_conns();
    const char *err = NULL;
    apr_time_t now;

    if (!tc || !down_flags) {
        return NULL;
    }
    if (tc->conn[b->index]) {
        return tc->conn[b->index];
    }
    now = apr_time_now();
    if (now < tc->retry_at[b->index]) {
        return NULL;
    }
    tc->conn[b->index] = llm_redis_connect(r->pool, &b->target, &err);
    if (!tc->conn[b->index]) {
        tc->retry_at[b->index] = now + RECONNECT_AFTER;
        note_down(r, b, err);
    }
    return tc->conn[b->index];
}

/* After a broken connection (dropped by ask): one new try at once. */
static struct redisContext *reconnect(request_rec *r, llm_balance_redis_t *b)
{
    thread_conns_t *tc = thread_conns();

    if (tc) {
        tc->retry_at[b->index] = 0;
    }
    return connection(r, b);
}

static void drop_connection(llm_balance_redis_t *b)
{
    thread_conns_t *tc = thread_conns();

    if (tc) {
        llm_redis_close(tc->conn[b->index]);
        tc->conn[b->index] = NULL;
        tc->retry_at[b->index] = apr_time_now() + RECONNECT_AFTER;
    }
}

/* What a Redis choice holds until its release. */
typedef struct {
    llm_balance_redis_t *redis;
    llm_redis_kind_e kind;
    const char *token;
} redis_hold_t;

static const char *new_token(apr_pool_t *p)
{
    return apr_psprintf(p, "%08x%08x%08x%08x", llm_lb_random(),
                        llm_lb_random(), llm_lb_random(), llm_lb_random());
}

static apr_status_t ask(request_rec *r, llm_balance_redis_t *b,
                        struct redisContext *c, llm_redis_kind_e kind,
                        const llm_model_t *model,
                        llm_provider_t *const *cand, int n,
                        const char *token, int *chosen)
{
    const char **ids = apr_palloc(r->pool, sizeof(*ids) * n);
    double *w = NULL;
    const char *err = NULL;
    apr_status_t rv;
    int i;

    for (i = 0; i < n; i++) {
        ids[i] = cand[i]->id;
    }
    switch (kind) {
    case LLM_REDIS_WEIGHTED:
        w = apr_palloc(r->pool, sizeof(*w) * n);
        for (i = 0; i < n; i++) {
            w[i] = llm_lb_weight(cand, n, i);
        }
        /* fall through */
    case LLM_REDIS_BALANCED:
        rv = llm_redis_stride(c, &b->target, r->pool, model->name, ids, w,
                              n, chosen, &err);
        break;
    case LLM_REDIS_DYNAMIC:
        w = apr_palloc(r->pool, sizeof(*w) * n);
        llm_lb_dynamic_weights(cand, n, w);
        rv = llm_redis_stride(c, &b->target, r->pool, model->name, ids, w,
                              n, chosen, &err);
        break;
    case LLM_REDIS_FIRST:
    case LLM_REDIS_WARMEST:
        rv = llm_redis_lock_first(c, &b->target, r->pool, model->name, ids,
                                  n, kind == LLM_REDIS_WARMEST, token,
                                  chosen, &err);
        break;
    default:
        rv = llm_redis_lease_least(c, &b->target, r->pool, model->name, ids,
                                   n, token, chosen, &err);
        break;
    }
    if (rv == APR_ECONNRESET) {
        drop_connection(b);
    }
    else if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(02018)
                      "Redis at %s refused a selection: %s", b->name, err);
    }
    else {
        note_up(r, b);
    }
    return rv;
}

static int holds(llm_redis_kind_e kind)
{
    return kind == LLM_REDIS_FIRST || kind == LLM_REDIS_WARMEST
           || kind == LLM_REDIS_LEAST;
}

int llm_balance_redis_choose(llm_balance_redis_t *b, llm_redis_kind_e kind,
                             const llm_balance_method_t *local,
                             request_rec *r, const llm_model_t *model,
                             llm_provider_t *const *cand, int n,
                             llm_attempt_t *attempt)
{
    struct redisContext *c = b ? connection(r, b) : NULL;
    const char *token = holds(kind) ? new_token(r->pool) : NULL;
    apr_time_t deadline = apr_time_now() + llm_lb_conf.queue_time;
    redis_hold_t *hold;
    int chosen = -1;

    if (!c) {
        return local->choose(r, model, cand, n, attempt);
    }
    for (;;) {
        apr_status_t rv = ask(r, b, c, kind, model, cand, n, token, &chosen);

        if (rv == APR_ECONNRESET) {
            /* A connection kept from before a Redis restart fails once:
             * a fresh one decides whether Redis is really gone. */
            rv = (c = reconnect(r, b)) != NULL
                 ? ask(r, b, c, kind, model, cand, n, token, &chosen) : rv;
        }
        if (rv != APR_SUCCESS) {
            return local->choose(r, model, cand, n, attempt);
        }
        if (chosen >= 0 || (kind != LLM_REDIS_FIRST
                            && kind != LLM_REDIS_WARMEST)
            || apr_time_now() >= deadline) {
            break;
        }
        /* Every provider is held (by this node or another): wait for one
         * to free up, at most LLMBalanceQueueTime. */
        apr_sleep(LOCK_POLL);
    }
    if (chosen < 0) {
        return -1;
    }
    /* This node's own counters go on: the status page and the health of
     * the provider read them. */
    llm_lb_took(cand[chosen]);
    if (token) {
        hold = apr_palloc(r->pool, sizeof(*hold));
        hold->redis = b;
        hold->kind = kind;
        hold->token = token;
        attempt->method_data = hold;
    }
    return chosen;
}

static apr_status_t give_back(request_rec *r, struct redisContext *c,
                              redis_hold_t *hold, const llm_model_t *model,
                              llm_attempt_t *attempt)
{
    const char *err = NULL;

    return hold->kind == LLM_REDIS_LEAST
           ? llm_redis_unlease(c, &hold->redis->target, r->pool, model->name,
                               attempt->provider->id, hold->token, &err)
           : llm_redis_unlock(c, &hold->redis->target, r->pool, model->name,
                              attempt->provider->id, hold->token, &err);
}

void llm_balance_redis_release(const llm_balance_method_t *local,
                               request_rec *r, const llm_model_t *model,
                               llm_attempt_t *attempt)
{
    redis_hold_t *hold = attempt->method_data;

    if (hold) {
        int tries;

        /* Without Redis the lock or lease runs out by its TTL; a stale
         * connection gets one fresh try, so that a Redis restart does
         * not keep a provider locked for the whole TTL. */
        for (tries = 0; tries < 2; tries++) {
            struct redisContext *c = tries ? reconnect(r, hold->redis)
                                           : connection(r, hold->redis);

            if (!c || give_back(r, c, hold, model, attempt)
                      != APR_ECONNRESET) {
                break;
            }
            drop_connection(hold->redis);
        }
        attempt->method_data = NULL;
        /* llm_lb_took() counted it in flight here: count it out. */
        llm_lb_release(r, model, attempt);
        return;
    }
    if (local->release) {
        local->release(r, model, attempt);
    }
}
