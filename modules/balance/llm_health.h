/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_health.h
 * @brief Passive health of providers: a circuit breaker per provider,
 *        kept in llm_provider_stats_t (shared memory in httpd). APR only.
 */

#ifndef LLM_HEALTH_H
#define LLM_HEALTH_H

#include "mod_llm.h"

typedef struct {
    apr_uint32_t failures;            /**< consecutive failures that take a
                                           provider out */
    apr_interval_time_t retry;        /**< how long it then stays out */
    apr_interval_time_t max_retry_after; /**< cap on a provider's own
                                              Retry-After */
} llm_health_conf_t;

#define LLM_HEALTH_DEFAULT_FAILURES 3
#define LLM_HEALTH_DEFAULT_RETRY    apr_time_from_sec(30)
#define LLM_HEALTH_DEFAULT_MAX_RA   apr_time_from_sec(300)

typedef enum {
    LLM_HEALTH_UP = 0,       /**< usable */
    LLM_HEALTH_OUT,          /**< out until its retry time */
    LLM_HEALTH_PROBE_READY   /**< its time is up: one probe may go */
} llm_health_state_e;

llm_health_state_e llm_health_state(llm_provider_stats_t *st,
                                    apr_time_t now);

/** Claim the one probe of a PROBE_READY provider; 1 when this caller
 *  got it, 0 when another request did. */
int llm_health_claim_probe(llm_provider_stats_t *st);

/**
 * Account for an attempt that is over: @a outcome, its upstream status,
 * the provider's Retry-After (0 when none), and whether it was the probe.
 */
void llm_health_record(const llm_health_conf_t *c, llm_provider_stats_t *st,
                       llm_outcome_e outcome, int status,
                       apr_interval_time_t retry_after, int was_probe,
                       apr_time_t now);

/**
 * Choose with @a method among the healthy @a cand: providers that are out
 * are skipped; one whose out time is over gets this request as its probe
 * when no other request has taken it. Returns the index in @a cand or -1.
 */
int llm_health_choose(const llm_balance_method_t *method, request_rec *r,
                      const llm_model_t *model, llm_provider_t *const *cand,
                      int n, llm_attempt_t *attempt, apr_time_t now);

/** Fold the time to first byte of a successful attempt into the
 *  provider's latency EWMA (weight 1/8), and note when it was used. */
void llm_stats_observe(llm_provider_stats_t *st, const llm_attempt_t *at);

/** The method's release, then llm_stats_observe() and
 *  llm_health_record(). */
void llm_health_release(const llm_balance_method_t *method,
                        const llm_health_conf_t *c, request_rec *r,
                        const llm_model_t *model, llm_attempt_t *attempt,
                        apr_time_t now);

#endif /* LLM_HEALTH_H */
