/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The "balanced" method: least used first, ties to the earliest. */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "llm_lb.h"
#include "tap.h"

static apr_pool_t *pool;

static llm_provider_t *provider(const char *id)
{
    llm_provider_t *p = apr_pcalloc(pool, sizeof(*p));

    p->id = id;
    p->stats = apr_pcalloc(pool, sizeof(*p->stats));
    return p;
}

static void test_even_split(void)
{
    llm_provider_t *c[3] = { provider("a"), provider("b"), provider("c") };
    llm_model_t model = { .name = "m", .group = "g" };
    int count[3] = { 0, 0, 0 };
    char order[7] = { 0 };
    int i;

    for (i = 0; i < 300; i++) {
        llm_attempt_t at = { 0 };
        int k = llm_lb_balanced.choose(NULL, &model, c, 3, &at);

        count[k]++;
        if (i < 6) {
            order[i] = c[k]->id[0];
        }
        at.provider = c[k];
        at.outcome = LLM_OUTCOME_OK;
        llm_lb_balanced.release(NULL, &model, &at);
    }
    is_str(order, "abcabc", "round robin in models-file order");
    ok(count[0] == 100 && count[1] == 100 && count[2] == 100,
       "300 requests over 3 providers: 100 each");
    ok(c[0]->stats->inflight == 0, "release ends the in-flight count");
    ok(c[1]->stats->inflight == 0 && c[2]->stats->inflight == 0,
       "on every provider");
}

static void test_catch_up(void)
{
    llm_provider_t *c[2] = { provider("old"), provider("new") };
    llm_model_t model = { .name = "m", .group = "g" };
    llm_attempt_t at = { 0 };
    int i;

    c[0]->stats->selected = 5;
    for (i = 0; i < 5; i++) {
        ok(llm_lb_balanced.choose(NULL, &model, c, 2, &at) == 1,
           "the less used provider is chosen until it catches up");
    }
    ok(llm_lb_balanced.choose(NULL, &model, c, 2, &at) == 0,
       "then a tie goes to the first");
    at.provider = c[0];
    at.outcome = LLM_OUTCOME_REFUSED;
    c[0]->stats->inflight = 1;
    llm_lb_balanced.release(NULL, &model, &at);
    ok(c[0]->stats->inflight == 0 && c[0]->stats->failures == 0,
       "release ends the attempt; failures are the health's business");
}

/* Many threads at once: no choice is lost or counted twice, every one
 * is released, and the split ends within one. (That the split also stays
 * within one at every instant, the point of the compare-and-swap, is not
 * observable from here without locks.) */
typedef struct {
    llm_provider_t **c;
    int n;
    int rounds;
} race_t;

static void *APR_THREAD_FUNC racer(apr_thread_t *t, void *data)
{
    race_t *race = data;
    llm_model_t model = { .name = "m", .group = "g" };
    int i;

    for (i = 0; i < race->rounds; i++) {
        llm_attempt_t at = { 0 };
        int k = llm_lb_balanced.choose(NULL, &model, race->c, race->n, &at);

        at.provider = race->c[k];
        llm_lb_balanced.release(NULL, &model, &at);
    }
    (void)t;
    return NULL;   /* not apr_thread_exit(): unwinding with live locals */
}

static void test_concurrent(void)
{
    llm_provider_t *c[3] = { provider("a"), provider("b"), provider("c") };
    race_t race = { c, 3, 20000 };
    apr_thread_t *t[4];
    apr_status_t rv;
    apr_uint32_t lo, hi;
    int i;

    for (i = 0; i < 4; i++) {
        apr_thread_create(&t[i], NULL, racer, &race, pool);
    }
    for (i = 0; i < 4; i++) {
        apr_thread_join(&rv, t[i]);
    }
    lo = hi = c[0]->stats->selected;
    for (i = 1; i < 3; i++) {
        lo = c[i]->stats->selected < lo ? c[i]->stats->selected : lo;
        hi = c[i]->stats->selected > hi ? c[i]->stats->selected : hi;
    }
    is_int(c[0]->stats->selected + c[1]->stats->selected
           + c[2]->stats->selected, 80000, "4 threads x 20000 choices");
    ok(hi - lo <= 1, "racing threads: the split ends within one");
    ok(c[0]->stats->inflight == 0 && c[1]->stats->inflight == 0,
       "every choice released");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_even_split();
    test_catch_up();
    test_concurrent();
    apr_pool_destroy(pool);
    return tap_done();
}
