/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* A session's limit (llm_mask_session_limit) stops the engine inside
 * one huge text: at its deadline, or when its abort test says so (the
 * client has gone), long before the text's end; never with a text
 * masked in part. A limit far off changes nothing. */

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "repeated_text.h"
#include "tap.h"
#include "llm_mask.h"

#define HUGE_TEXT (10 * 1024 * 1024)

static apr_pool_t *pool;
static llm_mask_ruleset_t *rules;

static const char unit[] =
    "Jan, PESEL 44051401359, jan.kowalski@example.com, "
    "tel. +48 512 345 678, PL61 1090 1014 0000 0712 1981 2874, "
    "15.03.2024 o 14:30, nr 440 514 013 59. ";

typedef struct {
    int calls;
    int gone_at;                /* the call that says the client left */
} abort_t;

static int aborted(void *baton)
{
    abort_t *a = baton;

    return ++a->calls >= a->gone_at;
}

/* Mask @a text with @a s: the result, and the wall time in @a took. */
static const char *timed(llm_mask_session_t *s, const char *text,
                         apr_size_t len, apr_size_t *out_len, int *n,
                         apr_interval_time_t *took)
{
    apr_time_t t0 = apr_time_now();
    const char *out = llm_mask_apply(rules, s, pool, text, len, out_len, n);

    *took = apr_time_now() - t0;
    return out;
}

int main(void)
{
    const char *err = NULL, *text, *out, *whole;
    apr_size_t len, out_len, whole_len;
    apr_interval_time_t full, took;
    llm_mask_session_t *s;
    abort_t gone = { 0, 3 };
    int n, whole_n;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rules = llm_mask_ruleset_create(pool);
    ok(llm_mask_ruleset_compile(rules, &err) == APR_SUCCESS,
       "the default rules compile");
    text = repeated_text(pool, unit, HUGE_TEXT, &len);

    /* Without a limit: the whole text, as the measure. */
    s = llm_mask_session_create(pool, LLM_MASK_STATIC);
    whole = timed(s, text, len, &whole_len, &whole_n, &full);
    ok(whole && whole_n > 100000, "10 MiB masked whole without a limit");
    printf("# 10 MiB masked in %.0f ms\n", full / 1000.0);

    /* A deadline far off changes nothing. */
    s = llm_mask_session_create(pool, LLM_MASK_STATIC);
    llm_mask_session_limit(s, apr_time_now() + apr_time_from_sec(3600),
                           NULL, NULL);
    out = timed(s, text, len, &out_len, &n, &took);
    ok(out && out_len == whole_len && n == whole_n
       && !memcmp(out, whole, out_len), "a deadline far off: the same text");
    is_int(llm_mask_session_stopped(s), LLM_MASK_RUNNING, "not stopped");

    /* A deadline 5 ms on: cut in the middle of the text. */
    s = llm_mask_session_create(pool, LLM_MASK_STATIC);
    llm_mask_session_limit(s, apr_time_now() + apr_time_from_msec(5), NULL,
                           NULL);
    out = timed(s, text, len, &out_len, &n, &took);
    printf("# stopped at its deadline after %.1f ms\n", took / 1000.0);
    ok(!out && out_len == 0 && n == 0, "past its deadline: NULL, nothing");
    is_int(llm_mask_session_stopped(s), LLM_MASK_STOP_DEADLINE,
           "stopped by the deadline");
    ok(took < full / 4, "stopped long before the text's end");
    out = llm_mask_apply(rules, s, pool, "PESEL 44051401359", 17, &out_len,
                         &n);
    ok(!out, "a stopped session stays stopped, even for a small text");

    /* A deadline past: even a small text is not masked. */
    s = llm_mask_session_create(pool, LLM_MASK_STATIC);
    llm_mask_session_limit(s, apr_time_now() - 1, NULL, NULL);
    ok(!llm_mask_apply(rules, s, pool, "PESEL 44051401359", 17, &out_len,
                       &n), "a deadline past: a small text is refused");

    /* The client goes away: the abort test stops it. */
    s = llm_mask_session_create(pool, LLM_MASK_PSEUDONYM);
    llm_mask_session_limit(s, 0, aborted, &gone);
    out = timed(s, text, len, &out_len, &n, &took);
    ok(!out, "the client gone: NULL");
    is_int(llm_mask_session_stopped(s), LLM_MASK_STOP_ABORTED,
           "stopped by the abort test");
    is_int(gone.calls, gone.gone_at, "the test is not called after it said so");
    ok(took < full / 4, "stopped long before the text's end");

    /* A new limit starts afresh; none masks as always. */
    llm_mask_session_limit(s, 0, NULL, NULL);
    out = llm_mask_apply(rules, s, pool, "PESEL 44051401359", 17, &out_len,
                         &n);
    is_str(out, "PESEL {{PESEL_TAGGED_1}}", "the limit lifted: masked again");
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
