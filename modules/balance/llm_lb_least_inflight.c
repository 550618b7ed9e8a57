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

static int least_inflight_choose(request_rec *r, const llm_model_t *model,
                                 llm_provider_t *const *cand, int n,
                                 llm_attempt_t *attempt)
{
    apr_uint32_t best_busy = 0;
    apr_uint32_t best_used = 0;
    int best = 0;
    int i;

    (void)r;
    (void)model;
    (void)attempt;
    for (i = 0; i < n; i++) {
        apr_uint32_t busy = apr_atomic_read32(&cand[i]->stats->inflight);
        apr_uint32_t used = apr_atomic_read32(&cand[i]->stats->selected);

        if (i == 0 || busy < best_busy
            || (busy == best_busy && used < best_used)) {
            best = i;
            best_busy = busy;
            best_used = used;
        }
    }
    llm_lb_took(cand[best]);
    return best;
}

const llm_balance_method_t llm_lb_least_inflight = {
    "least_inflight", least_inflight_choose, llm_lb_release
};
