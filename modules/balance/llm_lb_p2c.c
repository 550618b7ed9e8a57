/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "p2c": power of two choices. Two candidates at random; the one with
 * fewer requests under way wins (then the faster one, then the first
 * drawn). Nearly as good as looking at every provider, with no herd:
 * processes that read the same stale counters still spread their picks.
 */

#include "apr_atomic.h"

#include "llm_lb.h"

static int better(llm_provider_t *a, llm_provider_t *b)
{
    apr_uint32_t ia = apr_atomic_read32(&a->stats->inflight);
    apr_uint32_t ib = apr_atomic_read32(&b->stats->inflight);
    apr_uint32_t la = apr_atomic_read32(&a->stats->latency_ewma_us);
    apr_uint32_t lb = apr_atomic_read32(&b->stats->latency_ewma_us);

    if (ia != ib) {
        return ia < ib;
    }
    return !(la && lb && lb < la);
}

static int p2c_choose(request_rec *r, const llm_model_t *model,
                      llm_provider_t *const *cand, int n,
                      llm_attempt_t *attempt)
{
    int i;
    int j;

    (void)r;
    (void)model;
    (void)attempt;
    i = n == 1 ? 0 : (int)(llm_lb_random() % (apr_uint32_t)n);
    if (n > 1) {
        j = (int)(llm_lb_random() % (apr_uint32_t)(n - 1));
        if (j >= i) {
            j++;
        }
        if (!better(cand[i], cand[j])) {
            i = j;
        }
    }
    llm_lb_took(cand[i]);
    return i;
}

const llm_balance_method_t llm_lb_p2c = {
    "p2c", p2c_choose, llm_lb_release
};
