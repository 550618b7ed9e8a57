/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* What the methods of mod_llm_balance share. */

#include "apr_atomic.h"
#include "apr_time.h"

#include "llm_lb.h"

llm_lb_conf_t llm_lb_conf = { LLM_LB_DEFAULT_QUEUE_TIME };

void llm_lb_took(llm_provider_t *p)
{
    apr_atomic_inc32(&p->stats->selected);
    apr_atomic_inc32(&p->stats->inflight);
}

void llm_lb_release(request_rec *r, const llm_model_t *model,
                    llm_attempt_t *attempt)
{
    (void)r;
    (void)model;
    apr_atomic_dec32(&attempt->provider->stats->inflight);
}

apr_uint32_t llm_lb_random(void)
{
    static __thread apr_uint64_t state;

    if (state == 0) {
        state = (apr_uint64_t)apr_time_now() ^ (apr_uint64_t)(apr_uintptr_t)&state
                ^ 0x9e3779b97f4a7c15ULL;
    }
    /* xorshift64* */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (apr_uint32_t)((state * 0x2545f4914f6cdd1dULL) >> 32);
}

double llm_lb_weight(llm_provider_t *const *cand, int n, int i)
{
    int k;

    for (k = 0; k < n; k++) {
        if (cand[k]->weight > 0.0) {
            return cand[i]->weight;
        }
    }
    return 1.0;
}

/* Give up racing after this many lost swaps and take the least seen:
 * a bounded loop, whatever the contention. */
#define MAX_RACES 64

static int least_stride(llm_provider_t *const *cand, int n, const double *w,
                        apr_uint32_t *count)
{
    double best_score = 0.0;
    int best = -1;
    int i;

    for (i = 0; i < n; i++) {
        apr_uint32_t c = apr_atomic_read32(&cand[i]->stats->selected);
        double score;

        if (w && w[i] <= 0.0) {
            continue;
        }
        score = ((double)c + 1.0) / (w ? w[i] : 1.0);
        if (best < 0 || score < best_score) {
            best = i;
            best_score = score;
            *count = c;
        }
    }
    return best;
}

int llm_lb_stride(llm_provider_t *const *cand, int n, const double *w)
{
    apr_uint32_t count = 0;
    int races;
    int best = -1;

    for (races = 0; races <= MAX_RACES; races++) {
        best = least_stride(cand, n, w, &count);
        if (best < 0) {
            return -1;
        }
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

int llm_lb_least(llm_provider_t *const *cand, int n, llm_lb_cost_fn cost)
{
    double best_cost = 0.0;
    int best = -1;
    int i;

    for (i = 0; i < n; i++) {
        double c = cost(cand, n, i);

        if (c >= 0.0 && (best < 0 || c < best_cost)) {
            best = i;
            best_cost = c;
        }
    }
    if (best >= 0) {
        llm_lb_took(cand[best]);
    }
    return best;
}
