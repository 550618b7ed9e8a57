/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The cost of choosing a provider, per method: choose + release (with
 * health around it, as in httpd) over 4 providers whose counters live in
 * a shared anonymous mapping (as slotmem's do), on 1 thread and on 2
 * threads at once. Not a test: prints ns per selection.
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
    apr_terminate();
    return 0;
}
