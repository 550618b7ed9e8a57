/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * "first_available" and "first_available_optim": a provider serves one
 * request at a time, across every child process (its in-flight count,
 * in shared memory, is taken from 0 to 1 with a compare-and-swap).
 *
 * first_available takes the first free provider in models-file order.
 * first_available_optim takes, among the free ones, the one used most
 * recently: the host that last served this model most likely still has
 * it loaded (the original router's host affinity).
 *
 * When none is free the request waits for one, polling every 10 ms, at
 * most LLMBalanceQueueTime; then the gateway answers 503 with
 * Retry-After. (The original router waited forever when no provider was
 * healthy.)
 */

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "apr_atomic.h"
#include "apr_time.h"

#include "llm_lb.h"

#define POLL apr_time_from_msec(10)

static int try_take(llm_provider_t *p)
{
    if (apr_atomic_cas32(&p->stats->inflight, 1, 0) != 0) {
        return 0;
    }
    /* Who holds it: a process that dies holding it (a crash, kill -9)
     * runs no release; a request that finds it busy frees it then
     * (llm_lb_free_orphan). */
    apr_atomic_set32(&p->stats->holder_pid, (apr_uint32_t)getpid());
    apr_atomic_inc32(&p->stats->selected);
    return 1;
}

static void give_back(request_rec *r, const llm_model_t *model,
                      llm_attempt_t *attempt)
{
    apr_atomic_set32(&attempt->provider->stats->holder_pid, 0);
    llm_lb_release(r, model, attempt);
}

int llm_lb_free_orphan(llm_provider_t *p)
{
    apr_uint32_t pid = apr_atomic_read32(&p->stats->holder_pid);

    if (pid == 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
        return 0;
    }
    if (apr_atomic_cas32(&p->stats->holder_pid, 0, pid) != pid) {
        return 0;               /* released or taken again meanwhile */
    }
    apr_atomic_set32(&p->stats->inflight, 0);
    return 1;
}

static int take_first(llm_provider_t *const *cand, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (try_take(cand[i])) {
            return i;
        }
    }
    return -1;
}

/* The free provider used most recently, taken; -1 when none is free. */
static int take_warmest(llm_provider_t *const *cand, int n)
{
    for (;;) {
        apr_uint32_t newest = 0;
        int best = -1;
        int i;

        for (i = 0; i < n; i++) {
            apr_uint32_t used = apr_atomic_read32(&cand[i]->stats->last_used_s);

            if (apr_atomic_read32(&cand[i]->stats->inflight) == 0
                && (best < 0 || used > newest)) {
                best = i;
                newest = used;
            }
        }
        if (best < 0) {
            return -1;
        }
        if (try_take(cand[best])) {
            return best;
        }
        /* taken meanwhile by another request: look again */
    }
}

/* All busy: any held by a process that is gone? Only then, so the cost
 * (a kill(pid, 0) each) is paid by waiting requests alone. */
static int free_orphans(llm_provider_t *const *cand, int n)
{
    int freed = 0;
    int i;

    for (i = 0; i < n; i++) {
        freed += llm_lb_free_orphan(cand[i]);
    }
    return freed;
}

static int wait_for(int (*take)(llm_provider_t *const *, int),
                    llm_provider_t *const *cand, int n)
{
    apr_time_t deadline = apr_time_now() + llm_lb_conf.queue_time;
    int i;

    while ((i = take(cand, n)) < 0) {
        if (free_orphans(cand, n)) {
            continue;
        }
        if (apr_time_now() >= deadline) {
            break;
        }
        apr_sleep(POLL);
    }
    return i;
}

static int first_available_choose(request_rec *r, const llm_model_t *model,
                                  llm_provider_t *const *cand, int n,
                                  llm_attempt_t *attempt)
{
    (void)r;
    (void)model;
    (void)attempt;
    return wait_for(take_first, cand, n);
}

static int first_available_optim_choose(request_rec *r,
                                        const llm_model_t *model,
                                        llm_provider_t *const *cand, int n,
                                        llm_attempt_t *attempt)
{
    (void)r;
    (void)model;
    (void)attempt;
    return wait_for(take_warmest, cand, n);
}

const llm_balance_method_t llm_lb_first_available = {
    "first_available", first_available_choose, give_back
};

const llm_balance_method_t llm_lb_first_available_optim = {
    "first_available_optim", first_available_optim_choose, give_back
};
