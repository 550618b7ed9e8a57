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
 * that made it the least: if another thread (or process, when the
 * counters are in shared memory) got there first, we look again. Since
 * counters only grow, a counter that was the least and has not moved is
 * still the least, so the split never drifts by more than one request,
 * however many requests race. Where the counters live is up to the
 * module that owns llm_provider_t.stats.
 */

#include "apr_atomic.h"

#include "llm_lb.h"

/* Give up racing after this many lost swaps and take the least seen:
 * a bounded loop, whatever the contention. */
#define MAX_RACES 64

static int least_used(llm_provider_t *const *cand, int n, apr_uint32_t *count)
{
    int best = 0;
    int i;

    *count = apr_atomic_read32(&cand[0]->stats->selected);
    for (i = 1; i < n; i++) {
        apr_uint32_t c = apr_atomic_read32(&cand[i]->stats->selected);

        if (c < *count) {
            best = i;
            *count = c;
        }
    }
    return best;
}

static int balanced_choose(request_rec *r, const llm_model_t *model,
                           llm_provider_t *const *cand, int n,
                           llm_attempt_t *attempt)
{
    apr_uint32_t count;
    int races;
    int best;

    (void)r;
    (void)model;
    (void)attempt;
    if (n <= 0) {
        return -1;
    }
    for (races = 0; ; races++) {
        best = least_used(cand, n, &count);
        if (races == MAX_RACES) {
            apr_atomic_inc32(&cand[best]->stats->selected);
            break;
        }
        if (apr_atomic_cas32(&cand[best]->stats->selected, count + 1, count)
            == count) {
            break;
        }
    }
    apr_atomic_inc32(&cand[best]->stats->inflight);
    return best;
}

static void balanced_release(request_rec *r, const llm_model_t *model,
                             llm_attempt_t *attempt)
{
    (void)r;
    (void)model;
    apr_atomic_dec32(&attempt->provider->stats->inflight);
}

const llm_balance_method_t llm_lb_balanced = {
    "balanced",
    balanced_choose,
    balanced_release
};
