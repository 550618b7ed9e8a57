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

/* Lower is better: not measured (then least used) before measured (then
 * expected wait). */
typedef struct {
    int measured;
    double cost;
} rank_t;

static rank_t rank(const llm_provider_t *p)
{
    llm_provider_stats_t *st = p->stats;
    apr_uint32_t l = apr_atomic_read32(&st->latency_ewma_us);
    rank_t k;

    k.measured = l != 0;
    k.cost = k.measured
             ? (double)l * (1.0 + apr_atomic_read32(&st->inflight))
             : (double)apr_atomic_read32(&st->selected);
    return k;
}

static int latency_choose(request_rec *r, const llm_model_t *model,
                          llm_provider_t *const *cand, int n,
                          llm_attempt_t *attempt)
{
    rank_t best_rank = rank(cand[0]);
    int best = 0;
    int i;

    (void)r;
    (void)model;
    (void)attempt;
    for (i = 1; i < n; i++) {
        rank_t k = rank(cand[i]);

        if (k.measured < best_rank.measured
            || (k.measured == best_rank.measured
                && k.cost < best_rank.cost)) {
            best = i;
            best_rank = k;
        }
    }
    llm_lb_took(cand[best]);
    return best;
}

const llm_balance_method_t llm_lb_latency = {
    "latency", latency_choose, llm_lb_release
};
