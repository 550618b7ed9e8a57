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

static double cost(llm_provider_t *const *cand, int n, int i)
{
    llm_provider_stats_t *st = cand[i]->stats;
    apr_uint32_t l = apr_atomic_read32(&st->latency_ewma_us);
    double w = llm_lb_weight(cand, n, i);

    if (w <= 0.0) {
        return -1.0;                    /* weight 0: never */
    }
    if (l == 0) {
        return 0.0;                     /* not measured yet: first */
    }
    return (double)l * (1.0 + apr_atomic_read32(&st->inflight))
           * (1.0 + apr_atomic_read32(&st->consecutive_failures)) / w;
}

LLM_LB_LEAST_COST_METHOD(adaptive, cost);
