/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "balanced": the least used provider, as the original router's default
 * strategy.
 *
 * Every provider counts how often it was chosen. A request goes to the
 * candidate with the smallest count; on a tie the earliest in the models
 * file wins, so with N equal providers requests go round-robin: 1, 2, 3,
 * 1, 2, 3, ... Counters only grow; a provider added at a restart starts
 * from zero and catches up. Counts are read and bumped with atomics, so
 * two threads may pick the same provider in the same instant: the split
 * stays even over time, which is all this method promises. Where the
 * counters live (process or shared memory) is up to the module that
 * owns llm_provider_t.stats.
 */

#include "apr_atomic.h"

#include "llm_lb.h"

static int balanced_choose(request_rec *r, const llm_model_t *model,
                           llm_provider_t *const *cand, int n,
                           llm_attempt_t *attempt)
{
    apr_uint32_t best_count = 0;
    int best = -1;
    int i;

    (void)r;
    (void)model;
    (void)attempt;
    for (i = 0; i < n; i++) {
        apr_uint32_t count = apr_atomic_read32(&cand[i]->stats->selected);

        if (best < 0 || count < best_count) {
            best = i;
            best_count = count;
        }
    }
    if (best >= 0) {
        apr_atomic_inc32(&cand[best]->stats->selected);
        apr_atomic_inc32(&cand[best]->stats->inflight);
    }
    return best;
}

static void balanced_release(request_rec *r, const llm_model_t *model,
                             llm_attempt_t *attempt)
{
    llm_provider_stats_t *st = attempt->provider->stats;

    (void)r;
    (void)model;
    apr_atomic_dec32(&st->inflight);
    if (attempt->outcome != LLM_OUTCOME_OK
        && attempt->outcome != LLM_OUTCOME_ABORTED) {
        apr_atomic_inc32(&st->failures);
    }
}

const llm_balance_method_t llm_lb_balanced = {
    "balanced",
    balanced_choose,
    balanced_release
};
