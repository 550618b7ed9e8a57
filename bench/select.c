/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The cost of choosing a provider, per method: choose + release (with
 * health around it, as in httpd) over 4 providers whose counters live in
 * a shared anonymous mapping (as slotmem's do), on 1 thread and on 2
 * threads at once. Not a test: prints ns per selection.
 * With LLM_BENCH_REDIS=host:port it also times the Redis scripts that
 * replace the shared-memory choice when LLMBalanceRedis is set (one
 * round trip each, one connection, as one httpd thread does).
 * Built and run by bench/run (make -f Makefile.apxs bench-select).
 */

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "apr_general.h"
#include "apr_thread_proc.h"
#include "apr_time.h"

#include "llm_health.h"
#include "llm_lb.h"
#include "llm_redis.h"

#define PROVIDERS 4
#define ROUNDS 2000000

static const llm_health_conf_t health = { 3, APR_USEC_PER_SEC * 30,
                                          APR_USEC_PER_SEC * 300 };
static llm_model_t model = { "m", "g", NULL, NULL, NULL };
static llm_provider_t providers[PROVIDERS];
static llm_provider_t *cand[PROVIDERS];
static const llm_balance_method_t *method;

static void *APR_THREAD_FUNC loop(apr_thread_t *t, void *data)
{
    int i;

    (void)t;
    (void)data;
    for (i = 0; i < ROUNDS; i++) {
        llm_attempt_t at = { 0 };
        apr_time_t now = apr_time_now();
        int k = llm_health_choose(method, NULL, &model, cand, PROVIDERS,
                                  &at, now);

        if (k >= 0) {
            at.provider = cand[k];
            at.outcome = LLM_OUTCOME_OK;
            at.started = now;
            at.first_byte = now + 1000 + k;
            at.ended = now + 2000;
            llm_health_release(method, &health, NULL, &model, &at, now);
        }
    }
    return NULL;
}

static double run(int threads, apr_pool_t *p)
{
    apr_thread_t *t[2];
    apr_status_t rv;
    apr_time_t t0 = apr_time_now();
    int i;

    for (i = 0; i < threads; i++) {
        apr_thread_create(&t[i], NULL, loop, NULL, p);
    }
    for (i = 0; i < threads; i++) {
        apr_thread_join(&rv, t[i]);
    }
    return (double)(apr_time_now() - t0) * 1000.0 / ROUNDS;
}

#define REDIS_ROUNDS 20000

static const char *const ids[PROVIDERS] = { "p1", "p2", "p3", "p4" };

typedef enum { STRIDE, LOCK, LEASE } redis_op_e;

static double redis_run(struct redisContext *c, const llm_redis_target_t *t,
                        apr_pool_t *p, redis_op_e op)
{
    apr_time_t t0 = apr_time_now();
    const char *err = NULL;
    int i;

    for (i = 0; i < REDIS_ROUNDS; i++) {
        int k = -1;

        switch (op) {
        case STRIDE:
            llm_redis_stride(c, t, p, "bench", ids, NULL, PROVIDERS, &k,
                             &err);
            break;
        case LOCK:
            llm_redis_lock_first(c, t, p, "bench", ids, PROVIDERS, 0, "tok",
                                 &k, &err);
            if (k >= 0) {
                llm_redis_unlock(c, t, p, "bench", ids[k], "tok", &err);
            }
            break;
        case LEASE:
            llm_redis_lease_least(c, t, p, "bench", ids, PROVIDERS, "tok",
                                  &k, &err);
            if (k >= 0) {
                llm_redis_unlease(c, t, p, "bench", ids[k], "tok", &err);
            }
            break;
        }
        if (k < 0) {
            fprintf(stderr, "redis: %s\n", err ? err : "no choice");
            return -1.0;
        }
        apr_pool_clear(p);
    }
    return (double)(apr_time_now() - t0) * 1000.0 / REDIS_ROUNDS;
}

static void redis_bench(const char *where)
{
    static const struct { const char *methods; redis_op_e op; } rows[] = {
        { "balanced/weighted/dynamic_weighted", STRIDE },
        { "first_available(_optim) + unlock", LOCK },
        { "least_inflight + unlease", LEASE },
    };
    llm_redis_target_t t = { 0 };
    struct redisContext *c;
    const char *err = NULL;
    apr_pool_t *p;
    size_t i;

    apr_pool_create(&p, NULL);
    t.prefix = "bench:";
    t.timeout = apr_time_from_sec(1);
    t.lock_ttl = apr_time_from_sec(60);
    t.count_ttl = apr_time_from_sec(60);
    if ((err = llm_redis_parse_target(p, where, &t)) != NULL
        || (c = llm_redis_connect(p, &t, &err)) == NULL) {
        fprintf(stderr, "redis %s: %s\n", where, err);
        return;
    }
    printf("\nwith LLMBalanceRedis (%s), one round trip per script:\n",
           where);
    printf("%-36s %14s\n", "methods", "ns/choice");
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        apr_pool_t *scratch;

        apr_pool_create(&scratch, p);
        printf("%-36s %14.1f\n", rows[i].methods,
               redis_run(c, &t, scratch, rows[i].op));
    }
    llm_redis_close(c);
    apr_pool_destroy(p);
}

int main(void)
{
    const llm_balance_method_t *all[] = {
        &llm_lb_balanced, &llm_lb_weighted, &llm_lb_dynamic_weighted,
        &llm_lb_least_inflight, &llm_lb_latency, &llm_lb_p2c,
        &llm_lb_first_available, &llm_lb_first_available_optim,
        &llm_lb_adaptive, NULL
    };
    llm_provider_stats_t *stats;
    apr_pool_t *p;
    int m;
    int i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    stats = mmap(NULL, sizeof(*stats) * PROVIDERS, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (stats == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    llm_lb_conf.queue_time = 0;
    printf("%-22s %14s %18s\n", "method", "ns/choice 1thr",
           "ns/choice 2thr each");
    for (m = 0; all[m]; m++) {
        method = all[m];
        for (i = 0; i < PROVIDERS; i++) {
            memset(&stats[i], 0, sizeof(stats[i]));
            providers[i].id = "p";
            providers[i].weight = 1.0 / (i + 1);
            providers[i].stats = &stats[i];
            cand[i] = &providers[i];
        }
        printf("%-22s %14.1f", method->name, run(1, p));
        printf(" %18.1f\n", run(2, p));
    }
    apr_pool_destroy(p);
    if (getenv("LLM_BENCH_REDIS")) {
        redis_bench(getenv("LLM_BENCH_REDIS"));
    }
    apr_terminate();
    return 0;
}
