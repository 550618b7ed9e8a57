/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "least_inflight": the provider with the fewest requests under way
 * (across all child processes), ties to the least used, then to the
 * earliest in the models file. Suits providers of unequal speed serving
 * long streams, where counting requests started ("balanced") overloads
 * the slow one.
 */

#include "apr_atomic.h"

#include "llm_lb.h"

/* In flight first, then used: both 32-bit, so one exact double. */
static double cost(llm_provider_t *const *cand, int n, int i)
{
    (void)n;
    return (double)apr_atomic_read32(&cand[i]->stats->inflight) * 4294967296.0
           + (double)apr_atomic_read32(&cand[i]->stats->selected);
}

LLM_LB_LEAST_COST_METHOD(least_inflight, cost);
