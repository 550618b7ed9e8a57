/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The circuit breaker: out after N failures or a Retry-After, one probe
 * when the time is up, trusted again after a good probe. */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "llm_health.h"
#include "llm_lb.h"
#include "tap.h"

static apr_pool_t *pool;
static const llm_health_conf_t conf = { 3, APR_USEC_PER_SEC * 30,
                                        APR_USEC_PER_SEC * 300 };
static const apr_time_t t0 = APR_USEC_PER_SEC * (apr_time_t)1800000000;

static apr_time_t at_s(int s)
{
    return t0 + apr_time_from_sec(s);
}

static llm_provider_t *provider(const char *id)
{
    llm_provider_t *p = apr_pcalloc(pool, sizeof(*p));

    p->id = id;
    p->stats = apr_pcalloc(pool, sizeof(*p->stats));
    return p;
}

static void fail(llm_provider_t *p, llm_outcome_e o, int probe, int s)
{
    llm_health_record(&conf, p->stats, o, 0, 0, probe, at_s(s));
}

static void test_breaker(void)
{
    llm_provider_t *p = provider("p");

    fail(p, LLM_OUTCOME_REFUSED, 0, 0);
    fail(p, LLM_OUTCOME_TIMEOUT, 0, 0);
    ok(llm_health_state(p->stats, at_s(0)) == LLM_HEALTH_UP,
       "two failures: still up (threshold 3)");
    llm_health_record(&conf, p->stats, LLM_OUTCOME_OK, 200, 0, 0, at_s(1));
    fail(p, LLM_OUTCOME_BROKEN, 0, 1);
    fail(p, LLM_OUTCOME_HTTP_ERROR, 0, 1);
    ok(llm_health_state(p->stats, at_s(1)) == LLM_HEALTH_UP,
       "a success resets the count");
    fail(p, LLM_OUTCOME_REFUSED, 0, 2);
    ok(llm_health_state(p->stats, at_s(2)) == LLM_HEALTH_OUT,
       "third failure in a row: out");
    ok(llm_health_state(p->stats, at_s(31)) == LLM_HEALTH_OUT,
       "still out before the retry interval ends");
    ok(llm_health_state(p->stats, at_s(32)) == LLM_HEALTH_PROBE_READY,
       "then ready for a probe");
    ok(llm_health_claim_probe(p->stats), "one request claims the probe");
    ok(!llm_health_claim_probe(p->stats)
       && llm_health_state(p->stats, at_s(32)) == LLM_HEALTH_OUT,
       "the others see it out while the probe runs");
    fail(p, LLM_OUTCOME_TIMEOUT, 1, 33);
    ok(llm_health_state(p->stats, at_s(33)) == LLM_HEALTH_OUT
       && llm_health_state(p->stats, at_s(63)) == LLM_HEALTH_PROBE_READY,
       "a failed probe: out for another interval");
    ok(llm_health_claim_probe(p->stats), "the next probe");
    llm_health_record(&conf, p->stats, LLM_OUTCOME_OK, 200, 0, 1, at_s(63));
    ok(llm_health_state(p->stats, at_s(63)) == LLM_HEALTH_UP
       && p->stats->consecutive_failures == 0 && p->stats->probing == 0,
       "a good probe: trusted again");
    is_int(p->stats->failures, 6, "every failure counted");
}

static void test_client_side(void)
{
    llm_provider_t *p = provider("p");
    int i;

    for (i = 0; i < 5; i++) {
        llm_health_record(&conf, p->stats, LLM_OUTCOME_OK, 400, 0, 0, t0);
        llm_health_record(&conf, p->stats, LLM_OUTCOME_ABORTED, 0, 0, 0, t0);
    }
    ok(llm_health_state(p->stats, t0) == LLM_HEALTH_UP
       && p->stats->failures == 0,
       "4xx answers and client aborts are not the provider's failures");
    p->stats->down_until_s = 1;
    ok(llm_health_claim_probe(p->stats), "probe claimed");
    llm_health_record(&conf, p->stats, LLM_OUTCOME_ABORTED, 0, 0, 1, t0);
    ok(p->stats->probing == 0
       && llm_health_state(p->stats, t0) == LLM_HEALTH_PROBE_READY,
       "an aborted probe frees the probe for another request");
}

static void test_retry_after(void)
{
    llm_provider_t *p = provider("p");

    llm_health_record(&conf, p->stats, LLM_OUTCOME_HTTP_ERROR, 429,
                      apr_time_from_sec(5), 0, t0);
    ok(llm_health_state(p->stats, at_s(4)) == LLM_HEALTH_OUT
       && llm_health_state(p->stats, at_s(5)) == LLM_HEALTH_PROBE_READY,
       "429 with Retry-After 5: out for 5 s at once");
    p = provider("q");
    llm_health_record(&conf, p->stats, LLM_OUTCOME_HTTP_ERROR, 503,
                      apr_time_from_sec(86400), 0, t0);
    ok(llm_health_state(p->stats, at_s(299)) == LLM_HEALTH_OUT
       && llm_health_state(p->stats, at_s(300)) == LLM_HEALTH_PROBE_READY,
       "a Retry-After is capped (300 s here)");
}

static void test_choose(void)
{
    llm_provider_t *c[3] = { provider("a"), provider("b"), provider("c") };
    llm_model_t model = { .name = "m", .group = "g" };
    llm_attempt_t at = { 0 };
    int k;

    c[0]->stats->down_until_s = (apr_uint32_t)apr_time_sec(at_s(10));
    k = llm_health_choose(&llm_lb_balanced, NULL, &model, c, 3, &at, t0);
    ok(k == 1 && !at.probe, "a provider that is out is skipped");
    memset(&at, 0, sizeof(at));
    k = llm_health_choose(&llm_lb_balanced, NULL, &model, c, 3, &at,
                          at_s(10));
    ok(k == 0 && at.probe && c[0]->stats->probing,
       "its time up, the next request is its probe");
    memset(&at, 0, sizeof(at));
    k = llm_health_choose(&llm_lb_balanced, NULL, &model, c, 3, &at,
                          at_s(10));
    ok(k == 2 && !at.probe, "only one probe at a time");
    c[1]->stats->down_until_s = c[2]->stats->down_until_s =
        (apr_uint32_t)apr_time_sec(at_s(99));
    ok(llm_health_choose(&llm_lb_balanced, NULL, &model, c, 3, &at,
                         at_s(11)) == -1, "all out: no provider");
}

/* No cap on a model's providers: the 70th, the least used of 70 usable
 * ones, is found. */
static void test_many(void)
{
    llm_provider_t *c[70];
    llm_model_t model = { .name = "m", .group = "g" };
    llm_attempt_t at = { 0 };
    int i;

    for (i = 0; i < 70; i++) {
        c[i] = provider("p");
        c[i]->weight = 1.0;
        c[i]->stats->selected = i < 69 ? 1000 : 0;
    }
    ok(llm_health_choose(&llm_lb_balanced, NULL, &model, c, 70, &at,
                         t0) == 69, "70 usable providers: the least used, last");
    memset(&at, 0, sizeof(at));
    ok(llm_health_choose(&llm_lb_weighted, NULL, &model, c, 70, &at,
                         t0) == 69, "the same through weighted");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_breaker();
    test_client_side();
    test_retry_after();
    test_choose();
    test_many();
    apr_pool_destroy(pool);
    return tap_done();
}
