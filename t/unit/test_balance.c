/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The "balanced" method: least used first, ties to the earliest. */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

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
    llm_model_t model = { "m", "g", NULL, NULL, NULL };
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
    ok(c[0]->stats->failures == 0, "no failures counted");
}

static void test_catch_up(void)
{
    llm_provider_t *c[2] = { provider("old"), provider("new") };
    llm_model_t model = { "m", "g", NULL, NULL, NULL };
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
    llm_lb_balanced.release(NULL, &model, &at);
    ok(c[0]->stats->failures == 1, "a refused attempt is a failure");
    at.outcome = LLM_OUTCOME_ABORTED;
    c[0]->stats->inflight = 1;
    llm_lb_balanced.release(NULL, &model, &at);
    ok(c[0]->stats->failures == 1, "a client abort is not the provider's");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_even_split();
    test_catch_up();
    apr_pool_destroy(pool);
    return tap_done();
}
