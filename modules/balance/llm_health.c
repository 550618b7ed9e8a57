/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A circuit breaker per provider, shared by every method of
 * mod_llm_balance and, through shared memory, by every child process.
 *
 *   up ──(N failures in a row, or a Retry-After)──► out until T
 *   out ──(T reached)──► probe ready ──(one request claims it)──► probing
 *   probing ──success──► up (counters reset)
 *   probing ──failure──► out until now + retry interval
 *
 * A failure is what the client must not be left with: no connection, a
 * reset, silence past the timeout, a 429 or a 5xx. A provider's 4xx is
 * about the request, not the provider. Times are whole seconds (the
 * shared words are 32 bits), so "out for 2 s" means between 1 and 2 s.
 */

#include "apr_atomic.h"

#include "llm_health.h"

static apr_uint32_t seconds(apr_time_t t)
{
    return (apr_uint32_t)apr_time_sec(t);
}

llm_health_state_e llm_health_state(llm_provider_stats_t *st,
                                    apr_time_t now)
{
    apr_uint32_t until = apr_atomic_read32(&st->down_until_s);

    if (until == 0) {
        return LLM_HEALTH_UP;
    }
    if (seconds(now) < until
        || apr_atomic_read32(&st->probing)) {
        return LLM_HEALTH_OUT;
    }
    return LLM_HEALTH_PROBE_READY;
}

int llm_health_claim_probe(llm_provider_stats_t *st)
{
    return apr_atomic_cas32(&st->probing, 1, 0) == 0;
}

static int is_failure(llm_outcome_e outcome)
{
    return outcome == LLM_OUTCOME_REFUSED || outcome == LLM_OUTCOME_BROKEN
           || outcome == LLM_OUTCOME_TIMEOUT
           || outcome == LLM_OUTCOME_HTTP_ERROR;
}

static void take_out(llm_provider_stats_t *st, apr_interval_time_t for_,
                     apr_time_t now)
{
    apr_uint32_t until = seconds(now + for_);

    apr_atomic_set32(&st->down_until_s, until > seconds(now) ? until
                                                             : seconds(now) + 1);
}

void llm_health_record(const llm_health_conf_t *c, llm_provider_stats_t *st,
                       llm_outcome_e outcome, int status,
                       apr_interval_time_t retry_after, int was_probe,
                       apr_time_t now)
{
    (void)status;
    if (!is_failure(outcome)) {
        if (outcome == LLM_OUTCOME_OK) {
            apr_atomic_set32(&st->consecutive_failures, 0);
            if (was_probe) {
                apr_atomic_set32(&st->down_until_s, 0);
            }
        }
        if (was_probe) {
            apr_atomic_set32(&st->probing, 0);
        }
        return;
    }
    apr_atomic_inc32(&st->failures);
    if (retry_after > 0) {
        take_out(st, retry_after < c->max_retry_after ? retry_after
                                                      : c->max_retry_after,
                 now);
    }
    else if (was_probe
             || apr_atomic_inc32(&st->consecutive_failures) + 1
                >= c->failures) {
        take_out(st, c->retry, now);
    }
    if (was_probe) {
        apr_atomic_set32(&st->probing, 0);
    }
}

int llm_health_choose(const llm_balance_method_t *method, request_rec *r,
                      const llm_model_t *model, llm_provider_t *const *cand,
                      int n, llm_attempt_t *attempt, apr_time_t now)
{
    llm_provider_t *up[n > 0 ? n : 1];
    int where[n > 0 ? n : 1];
    int m = 0;
    int i;
    int k;

    for (i = 0; i < n; i++) {
        switch (llm_health_state(cand[i]->stats, now)) {
        case LLM_HEALTH_UP:
            up[m] = cand[i];
            where[m++] = i;
            break;
        case LLM_HEALTH_PROBE_READY:
            /* Its time out is over: this request is its probe, whatever
             * the method would have chosen, so that a recovered provider
             * is found at once. */
            if (llm_health_claim_probe(cand[i]->stats)) {
                if (method->choose(r, model, &cand[i], 1, attempt) == 0) {
                    attempt->probe = 1;
                    return i;
                }
                apr_atomic_set32(&cand[i]->stats->probing, 0);
            }
            break;
        default:
            break;
        }
    }
    if (m == 0) {
        return -1;
    }
    k = method->choose(r, model, up, m, attempt);
    return k < 0 || k >= m ? -1 : where[k];
}

void llm_stats_observe(llm_provider_stats_t *st, const llm_attempt_t *at)
{
    apr_uint32_t old;
    apr_uint64_t sample;

    apr_atomic_set32(&st->last_used_s, (apr_uint32_t)apr_time_sec(
                         at->ended ? at->ended : at->started));
    if (at->outcome != LLM_OUTCOME_OK || at->first_byte <= at->started) {
        return;
    }
    sample = (apr_uint64_t)(at->first_byte - at->started);
    if (sample > 0xffffffffu) {
        sample = 0xffffffffu;
    }
    /* Racing updates may lose one sample: an average can afford it. */
    old = apr_atomic_read32(&st->latency_ewma_us);
    apr_atomic_set32(&st->latency_ewma_us, old == 0 ? (apr_uint32_t)sample
                     : (apr_uint32_t)((old * 7ULL + sample) / 8));
}

void llm_health_release(const llm_balance_method_t *method,
                        const llm_health_conf_t *c, request_rec *r,
                        const llm_model_t *model, llm_attempt_t *attempt,
                        apr_time_t now)
{
    if (method->release) {
        method->release(r, model, attempt);
    }
    llm_stats_observe(attempt->provider->stats, attempt);
    llm_health_record(c, attempt->provider->stats, attempt->outcome,
                      attempt->status, attempt->retry_after, attempt->probe,
                      now);
}
