/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "latency": the provider expected to answer first.
 *
 * Its expected wait is its time-to-first-byte EWMA times (1 + requests it
 * has under way), so that the fastest provider is preferred but not
 * drowned. A provider not measured yet is tried first (least used among
 * those), so that every provider gets measured.
 */

#include "apr_atomic.h"

#include "llm_lb.h"

/* Not measured yet (then least used) before measured (then expected
 * wait): a measured cost starts above any use count. */
#define MEASURED 1e15

static double cost(llm_provider_t *const *cand, int n, int i)
{
    llm_provider_stats_t *st = cand[i]->stats;
    apr_uint32_t l = apr_atomic_read32(&st->latency_ewma_us);

    (void)n;
    if (l == 0) {
        return (double)apr_atomic_read32(&st->selected);
    }
    return MEASURED + (double)l * (1.0 + apr_atomic_read32(&st->inflight));
}

LLM_LB_LEAST_COST_METHOD(latency, cost);
