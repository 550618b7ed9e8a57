/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Every selection method of mod_llm_balance, on its own. */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_atomic.h"

#include "llm_lb.h"
#include "tap.h"

static apr_pool_t *pool;
static llm_model_t model = { .name = "m", .group = "g" };

static llm_provider_t *provider(const char *id, double weight)
{
    llm_provider_t *p = apr_pcalloc(pool, sizeof(*p));

    p->id = id;
    p->weight = weight;
    p->stats = apr_pcalloc(pool, sizeof(*p->stats));
    return p;
}

/* Choose and release at once, @a times; the picks as letters. */
static const char *run(const llm_balance_method_t *m, llm_provider_t **c,
                       int n, int times, int *count)
{
    char *order = apr_pcalloc(pool, (apr_size_t)times + 1);
    int i;

    for (i = 0; i < times; i++) {
        llm_attempt_t at = { 0 };
        int k = m->choose(NULL, &model, c, n, &at);

        order[i] = k < 0 ? '-' : c[k]->id[0];
        if (k >= 0) {
            count[k]++;
            at.provider = c[k];
            m->release(NULL, &model, &at);
        }
    }
    return order;
}

static void test_weighted(void)
{
    llm_provider_t *c[2] = { provider("A", 1.0), provider("B", 0.25) };
    int count[2] = { 0, 0 };
    const char *order = run(&llm_lb_weighted, c, 2, 500, count);

    is_str(apr_pstrndup(pool, order, 10), "AAAABAAAAB",
           "weighted 1 : 0.25 goes A A A A B");
    ok(count[0] == 400 && count[1] == 100, "500 requests: 400 / 100");
    c[1]->weight = 0.0;
    count[0] = count[1] = 0;
    run(&llm_lb_weighted, c, 2, 50, count);
    ok(count[1] == 0, "weight 0: never");
    c[0] = provider("A", 0.0);
    c[1] = provider("B", 0.0);
    count[0] = count[1] = 0;
    run(&llm_lb_weighted, c, 2, 50, count);
    ok(count[0] == 25 && count[1] == 25, "all weights 0: all equal");
}

static void test_dynamic_weighted(void)
{
    llm_provider_t *c[2] = { provider("F", 1.0), provider("S", 1.0) };
    int count[2] = { 0, 0 };

    c[0]->stats->latency_ewma_us = 1000;
    c[1]->stats->latency_ewma_us = 2000;
    run(&llm_lb_dynamic_weighted, c, 2, 300, count);
    ok(count[0] == 200 && count[1] == 100,
       "twice as slow: half the share (200 / 100)");
}

static void test_least_inflight(void)
{
    llm_provider_t *c[3] = { provider("a", 1), provider("b", 1),
                             provider("c", 1) };
    llm_attempt_t at = { 0 };

    c[0]->stats->inflight = 2;
    c[1]->stats->inflight = 0;
    c[2]->stats->inflight = 1;
    ok(llm_lb_least_inflight.choose(NULL, &model, c, 3, &at) == 1,
       "fewest under way");
    ok(c[1]->stats->inflight == 1, "and now one more there");
    c[2]->stats->inflight = 1;
    c[1]->stats->selected = 5;
    c[2]->stats->selected = 2;
    ok(llm_lb_least_inflight.choose(NULL, &model, c, 3, &at) == 2,
       "a tie goes to the least used");
}

static void test_latency(void)
{
    llm_provider_t *c[3] = { provider("a", 1), provider("b", 1),
                             provider("c", 1) };
    llm_attempt_t at = { 0 };

    c[0]->stats->latency_ewma_us = 1000;
    c[1]->stats->latency_ewma_us = 2000;
    ok(llm_lb_latency.choose(NULL, &model, c, 3, &at) == 2,
       "not measured yet: tried first");
    c[2]->stats->latency_ewma_us = 3000;
    c[0]->stats->inflight = 0;
    c[2]->stats->inflight = 0;
    ok(llm_lb_latency.choose(NULL, &model, c, 3, &at) == 0, "the fastest");
    c[0]->stats->inflight = 2;     /* 1000 x 3 > 2000 x 1 */
    c[1]->stats->inflight = 0;
    ok(llm_lb_latency.choose(NULL, &model, c, 3, &at) == 1,
       "the fastest, but not drowned: its queue counts");
}

static void test_p2c(void)
{
    llm_provider_t *c[3] = { provider("a", 1), provider("b", 1),
                             provider("c", 1) };
    llm_provider_t *two[2];
    int count[3] = { 0, 0, 0 };
    int i;
    int always = 1;

    two[0] = c[0];
    two[1] = c[1];
    c[0]->stats->inflight = 5;
    for (i = 0; i < 50; i++) {
        llm_attempt_t at = { 0 };

        always &= llm_lb_p2c.choose(NULL, &model, two, 2, &at) == 1;
        c[1]->stats->inflight = 0;
    }
    ok(always, "of two, the one with fewer under way");
    c[0]->stats->inflight = 0;
    run(&llm_lb_p2c, c, 3, 3000, count);
    ok(count[0] > 800 && count[1] > 800 && count[2] > 800,
       "equal providers: each gets about a third");
}

static void test_first_available(void)
{
    llm_provider_t *c[2] = { provider("a", 1), provider("b", 1) };
    llm_attempt_t at0 = { 0 }, at1 = { 0 }, at2 = { 0 };

    llm_lb_conf.queue_time = 0;
    ok(llm_lb_first_available.choose(NULL, &model, c, 2, &at0) == 0,
       "the first free");
    at0.provider = c[0];
    ok(llm_lb_first_available.choose(NULL, &model, c, 2, &at1) == 1,
       "the next free while the first is busy");
    ok(llm_lb_first_available.choose(NULL, &model, c, 2, &at2) == -1,
       "none free (no queue time): none");
    llm_lb_first_available.release(NULL, &model, &at0);
    ok(llm_lb_first_available.choose(NULL, &model, c, 2, &at2) == 0,
       "free again after its release");
}

static void test_first_available_wait(void)
{
    llm_provider_t *c[1] = { provider("a", 1) };
    llm_attempt_t at = { 0 };
    apr_time_t t;

    llm_lb_conf.queue_time = apr_time_from_msec(150);
    c[0]->stats->inflight = 1;
    t = apr_time_now();
    ok(llm_lb_first_available.choose(NULL, &model, c, 1, &at) == -1
       && apr_time_now() - t >= apr_time_from_msec(140),
       "waits at most the queue time, then gives up");
    llm_lb_conf.queue_time = 0;
}

static void test_optim(void)
{
    llm_provider_t *c[3] = { provider("a", 1), provider("b", 1),
                             provider("c", 1) };
    llm_attempt_t at = { 0 };

    llm_lb_conf.queue_time = 0;
    c[0]->stats->last_used_s = 100;
    c[1]->stats->last_used_s = 300;
    c[2]->stats->last_used_s = 200;
    ok(llm_lb_first_available_optim.choose(NULL, &model, c, 3, &at) == 1,
       "the free provider used last (warm)");
    ok(llm_lb_first_available_optim.choose(NULL, &model, c, 3, &at) == 2,
       "then the next warmest free one");
}

static void test_adaptive(void)
{
    llm_provider_t *c[3] = { provider("a", 1), provider("b", 1),
                             provider("c", 0.5) };
    llm_attempt_t at = { 0 };

    c[0]->stats->latency_ewma_us = 1000;
    c[1]->stats->latency_ewma_us = 1200;
    ok(llm_lb_adaptive.choose(NULL, &model, c, 3, &at) == 2,
       "not measured yet: tried first");
    c[2]->stats->latency_ewma_us = 500;   /* 500 / 0.5 = 1000 */
    c[2]->stats->inflight = 0;
    c[0]->stats->consecutive_failures = 1;
    ok(llm_lb_adaptive.choose(NULL, &model, c, 3, &at) == 2,
       "weight and failures count: 1000 < 1200 < 2000");
}

/* first_available under racing threads: never two at once. */
typedef struct {
    llm_provider_t **c;
    volatile apr_uint32_t violations;
} excl_t;

static void *APR_THREAD_FUNC grabber(apr_thread_t *t, void *data)
{
    excl_t *x = data;
    int i;

    (void)t;
    for (i = 0; i < 20000; i++) {
        llm_attempt_t at = { 0 };
        int k = llm_lb_first_available.choose(NULL, &model, x->c, 2, &at);

        if (k < 0) {
            continue;
        }
        if (apr_atomic_read32(&x->c[k]->stats->inflight) != 1) {
            apr_atomic_inc32(&x->violations);
        }
        at.provider = x->c[k];
        llm_lb_first_available.release(NULL, &model, &at);
    }
    return NULL;
}

static void test_exclusive(void)
{
    llm_provider_t *c[2] = { provider("a", 1), provider("b", 1) };
    excl_t x = { c, 0 };
    apr_thread_t *t[4];
    apr_status_t rv;
    int i;

    llm_lb_conf.queue_time = 0;
    for (i = 0; i < 4; i++) {
        apr_thread_create(&t[i], NULL, grabber, &x, pool);
    }
    for (i = 0; i < 4; i++) {
        apr_thread_join(&rv, t[i]);
    }
    ok(x.violations == 0 && c[0]->stats->inflight == 0
       && c[1]->stats->inflight == 0,
       "4 racing threads: a provider never serves two at once");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_weighted();
    test_dynamic_weighted();
    test_least_inflight();
    test_latency();
    test_p2c();
    test_first_available();
    test_first_available_wait();
    test_optim();
    test_adaptive();
    test_exclusive();
    apr_pool_destroy(pool);
    return tap_done();
}
