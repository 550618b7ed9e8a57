/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "dynamic_weighted": "weighted", with each weight scaled by how fast the
 * provider has been answering.
 *
 * A provider's effective weight is its configured weight times
 * (fastest time to first byte among the candidates / its own), both from
 * the EWMA kept by llm_stats_observe(): a provider twice as slow as the
 * fastest gets half its configured share. Providers not measured yet
 * keep their configured weight. (The original router's dynamic weights
 * could only be set by hand and were never used.)
 */

#include "apr_atomic.h"

#include "llm_lb.h"

void llm_lb_dynamic_weights(llm_provider_t *const *cand, int n, double *w)
{
    apr_uint32_t fastest = 0;
    int i;

    for (i = 0; i < n; i++) {
        apr_uint32_t l = apr_atomic_read32(&cand[i]->stats->latency_ewma_us);

        if (l && (!fastest || l < fastest)) {
            fastest = l;
        }
    }
    for (i = 0; i < n; i++) {
        apr_uint32_t l = apr_atomic_read32(&cand[i]->stats->latency_ewma_us);

        w[i] = llm_lb_weight(cand, n, i);
        if (l && fastest) {
            w[i] *= (double)fastest / (double)l;
        }
    }
}

static int dynamic_choose(request_rec *r, const llm_model_t *model,
                          llm_provider_t *const *cand, int n,
                          llm_attempt_t *attempt)
{
    double w[n > 0 ? n : 1];

    (void)r;
    (void)model;
    (void)attempt;
    llm_lb_dynamic_weights(cand, n, w);
    return llm_lb_stride(cand, n, w);
}

const llm_balance_method_t llm_lb_dynamic_weighted = {
    "dynamic_weighted", dynamic_choose, llm_lb_release
};
