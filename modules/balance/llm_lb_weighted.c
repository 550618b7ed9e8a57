/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "weighted": shares in proportion to each provider's weight, exactly
 * and deterministically over time.
 *
 * The original router drew a hash-based pseudo-random point on the
 * cumulative weights, which matches the weights only on average. Here a
 * request goes to the provider with the smallest (chosen + 1) / weight
 * (stride scheduling): with weights 1 and 0.25 the order is A A A A B,
 * A A A A B, ... A weight of 0 means "never", unless every candidate has
 * weight 0, when all count as 1.
 */

#include "llm_lb.h"

static int weighted_choose(request_rec *r, const llm_model_t *model,
                           llm_provider_t *const *cand, int n,
                           llm_attempt_t *attempt)
{
    double w[n > 0 ? n : 1];
    int i;

    (void)r;
    (void)model;
    (void)attempt;
    for (i = 0; i < n; i++) {
        w[i] = llm_lb_weight(cand, n, i);
    }
    return llm_lb_stride(cand, n, w);
}

const llm_balance_method_t llm_lb_weighted = {
    "weighted", weighted_choose, llm_lb_release
};
