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
 * from zero and catches up.
 *
 * The chosen counter is bumped with a compare-and-swap from the value
 * that made it the least (llm_lb_stride): if another thread or process
 * got there first, we look again. Since counters only grow, a counter
 * that was the least and has not moved is still the least, so the split
 * never drifts by more than one request, however many requests race.
 */

#include "llm_lb.h"

static int balanced_choose(request_rec *r, const llm_model_t *model,
                           llm_provider_t *const *cand, int n,
                           llm_attempt_t *attempt)
{
    (void)r;
    (void)model;
    (void)attempt;
    return llm_lb_stride(cand, n, NULL);
}

const llm_balance_method_t llm_lb_balanced = {
    "balanced", balanced_choose, llm_lb_release
};
