/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "adaptive": the cheapest provider by an estimate that learns from
 * every answer: its time-to-first-byte EWMA, times (1 + requests under
 * way), times (1 + failures in a row), divided by its weight. Slow,
 * busy, failing or lightly weighted providers get less; one that
 * recovers wins its share back as its averages improve. A provider not
 * measured yet is tried first. (The original router's "adaptive" was a
 * beta that could not be selected.)
 */

#include "apr_atomic.h"

#include "llm_lb.h"

static int adaptive_choose(request_rec *r, const llm_model_t *model,
                           llm_provider_t *const *cand, int n,
                           llm_attempt_t *attempt)
{
    double best_cost = -1.0;
    int best = 0;
    int i;

    (void)r;
    (void)model;
    (void)attempt;
    for (i = 0; i < n; i++) {
        llm_provider_stats_t *st = cand[i]->stats;
        apr_uint32_t l = apr_atomic_read32(&st->latency_ewma_us);
        double w = llm_lb_weight(cand, n, i);
        double cost;

        if (w <= 0.0) {
            continue;
        }
        cost = l == 0 ? 0.0
               : (double)l * (1.0 + apr_atomic_read32(&st->inflight))
                 * (1.0 + apr_atomic_read32(&st->consecutive_failures)) / w;
        if (best_cost < 0.0 || cost < best_cost) {
            best = i;
            best_cost = cost;
        }
    }
    llm_lb_took(cand[best]);
    return best;
}

const llm_balance_method_t llm_lb_adaptive = {
    "adaptive", adaptive_choose, llm_lb_release
};
