/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The methods of mod_llm_balance, one llm_lb_<name>.c each, and what
 * they share (llm_lb_common.c). APR only: the selection logic is
 * unit-tested without httpd. Candidates reach a method already filtered
 * by health (llm_health.c), in models-file order, never empty. */

#ifndef LLM_LB_H
#define LLM_LB_H

#include "mod_llm.h"

/** What the methods are configured with (global, set at start-up). */
typedef struct {
    apr_interval_time_t queue_time;   /**< first_available*: longest wait
                                           for a provider to free up */
} llm_lb_conf_t;

#define LLM_LB_DEFAULT_QUEUE_TIME apr_time_from_sec(10)

extern llm_lb_conf_t llm_lb_conf;

extern const llm_balance_method_t llm_lb_balanced;
extern const llm_balance_method_t llm_lb_weighted;
extern const llm_balance_method_t llm_lb_dynamic_weighted;
extern const llm_balance_method_t llm_lb_least_inflight;
extern const llm_balance_method_t llm_lb_latency;
extern const llm_balance_method_t llm_lb_p2c;
extern const llm_balance_method_t llm_lb_first_available;
extern const llm_balance_method_t llm_lb_first_available_optim;
extern const llm_balance_method_t llm_lb_adaptive;

/** first_available*: free @a p when the process holding it is gone
 *  (crashed or killed before its release); 1 when it was freed. */
int llm_lb_free_orphan(llm_provider_t *p);

/* llm_lb_common.c */

/** Count @a p as chosen: selected and in-flight go up by one. */
void llm_lb_took(llm_provider_t *p);

/** The release of every method: in-flight goes down by one. */
void llm_lb_release(request_rec *r, const llm_model_t *model,
                    llm_attempt_t *attempt);

/** A fast per-thread pseudo-random number (not for secrets). */
apr_uint32_t llm_lb_random(void);

/** The weight a method uses: the provider's, or 1 for all when every
 *  candidate has weight 0. */
double llm_lb_weight(llm_provider_t *const *cand, int n, int i);

/**
 * Choose the candidate with the smallest (selected + 1) / w[i] and bump
 * its "selected" with a compare-and-swap from the count that made it the
 * smallest, looking again when another chooser got there first: the
 * shares then follow the weights exactly over time, whatever races.
 * @a w NULL means all weights 1 ("balanced").
 */
int llm_lb_stride(llm_provider_t *const *cand, int n, const double *w);

/** dynamic_weighted's weights: each provider's weight scaled by how
 *  much slower than the fastest it answers (llm_lb_dynamic_weighted.c). */
void llm_lb_dynamic_weights(llm_provider_t *const *cand, int n, double *w);

/** A candidate's cost for llm_lb_least(): lower wins, negative = never. */
typedef double (*llm_lb_cost_fn)(llm_provider_t *const *cand, int n, int i);

/** The candidate of least cost (ties to the earliest), counted as chosen
 *  (llm_lb_took); -1 when every cost is negative. */
int llm_lb_least(llm_provider_t *const *cand, int n, llm_lb_cost_fn cost);

/** Define the method llm_lb_<name> that takes the candidate of least
 *  @a cost (a llm_lb_cost_fn). */
#define LLM_LB_LEAST_COST_METHOD(name, cost)                                \
    static int name##_choose(request_rec *r, const llm_model_t *model,      \
                             llm_provider_t *const *cand, int n,            \
                             llm_attempt_t *attempt)                        \
    {                                                                       \
        (void)r;                                                            \
        (void)model;                                                        \
        (void)attempt;                                                      \
        return llm_lb_least(cand, n, cost);                                 \
    }                                                                       \
    const llm_balance_method_t llm_lb_##name = {                            \
        #name, name##_choose, llm_lb_release                                \
    }

#endif /* LLM_LB_H */
