/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Masking costs linear time on every input (issue 11): texts dense in
 * what the rules look for ("123 " repeated, PESELs with valid check
 * digits, e-mails, "a@a.", "1-1-1-", ...) masked at n and at 4n bytes.
 * Linear, the larger costs 4 times the CPU time; each must stay under
 * 6 times (quadratic would be 16). The two sizes are timed in turn,
 * best of a few rounds, and a ratio over 6 is measured again (twice at
 * most): a machine shared with other work slows some rounds by half,
 * a quadratic cost fails every time. The engine once redid the work
 * inside one long cluster of digits after every match: 400 KB of
 * "123 " took 12.7 s, 1 MB of PESELs 28 s. */

#include <time.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "repeated_text.h"
#include "tap.h"
#include "llm_mask.h"

#define SMALL (64 * 1024)
#define ROUNDS 5
#define ATTEMPTS 3
#define MAX_RATIO 6.0

static apr_pool_t *pool;
static llm_mask_ruleset_t *rules;

/* This process's CPU time, in seconds. */
static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The CPU time of masking @a text @a times over, per masking (the
 * small text as often as makes the large one's bytes: both are timed
 * over as long, and the clock's grain weighs the same). */
static double time_of(const char *text, apr_size_t len, int times)
{
    apr_size_t out_len;
    apr_pool_t *p;
    double t0, t;
    int k, n;

    apr_pool_create(&p, pool);
    t0 = cpu_seconds();
    for (k = 0; k < times; k++) {
        llm_mask_apply(rules, NULL, p, text, len, &out_len, &n);
    }
    t = (cpu_seconds() - t0) / times;
    apr_pool_destroy(p);
    return t;
}

/* The best times of ROUNDS of each size, timed in turn. */
static double ratio_of(const char *small_text, apr_size_t small_len,
                       const char *large_text, apr_size_t large_len,
                       double *small, double *large)
{
    int r;

    for (r = 0; r < ROUNDS; r++) {
        double s = time_of(small_text, small_len, 4);
        double l = time_of(large_text, large_len, 1);

        *small = r == 0 || s < *small ? s : *small;
        *large = r == 0 || l < *large ? l : *large;
    }
    return *large / (*small > 1e-9 ? *small : 1e-9);
}

static void check_linear(const char *unit, const char *name)
{
    apr_size_t small_len, large_len;
    const char *small_text = repeated_text(pool, unit, SMALL, &small_len);
    const char *large_text = repeated_text(pool, unit, 4 * SMALL, &large_len);
    double small = 0, large = 0, ratio = 0;
    int a;

    for (a = 0; a < ATTEMPTS && (a == 0 || ratio > MAX_RATIO); a++) {
        ratio = ratio_of(small_text, small_len, large_text, large_len,
                         &small, &large);
    }

    printf("# %s: %.1f ms for %d KiB, %.1f ms for %d KiB (x%.2f)\n", name,
           small * 1e3, SMALL / 1024, large * 1e3, 4 * SMALL / 1024, ratio);
    ok(ratio <= MAX_RATIO, apr_psprintf(pool, "%s: 4 times the text, at most "
                                        "%.0f times the time", name,
                                        MAX_RATIO));
}

int main(void)
{
    static const struct {
        const char *unit;
        const char *name;
    } inputs[] = {
        { "123 ", "dense digits (\"123 \")" },
        { "44051401359 02070803628 ", "dense PESELs" },
        { "jan.kowalski@example.com ", "dense e-mails" },
        { "a@a.", "\"a@a.\" repeated" },
        { "1-1-1-", "a run of \"1-1-1-\"" },
        { "1 ", "\"1 \" repeated" },
        { "a1", "\"a1\", one long word" },
        { "12:30 ", "dense times" },
        { "4111 1111 1111 1111 ", "dense card numbers" },
        { "1 000 z\xc5\x82 ", "dense amounts" },
        { "PL61 1090 1014 0000 0712 1981 2874 ", "dense IBANs" },
        { "5 marca 2024 ", "dense dates in words" },
        /* Issue 11, part 3: what the normalised view reads through. */
        { "4 4 0 5 1 4 0 1 3 5 9, ", "dense spread PESELs" },
        { "440.514.013.59 ", "dense dotted PESELs" },
        { "4405\xe2\x80\x8b" "1401359 ", "dense PESELs with a ZWSP" },
        { "1\xe2\x80\x8b", "digits and ZWSPs, one long run" },
        { "1.1 ", "dotted pairs" },
        { "4111 1111 11 11 1111 ", "dense oddly spaced cards" },
        { "jan(at)example[dot]com ", "dense spelt e-mails" },
        { "a at a dot a ", "dense spelt words" },
        { "a(at)", "\"a(at)\" repeated" },
        { "a\xe2\x80\x8b@", "\"a<ZWSP>@\" repeated" },
        /* Splits, hyphens and digits of other scripts. */
        { "1 1 1 1 ", "\"1 \" repeated, one long chain" },
        { "1-1-", "\"1-\" repeated, one long chain" },
        { "440 514 013 59 ", "dense split PESELs" },
        { "440-514-013-59 ", "dense hyphenated PESELs" },
        { "12-34 ", "dense hyphenated pairs" },
        { "\xef\xbc\x91", "full-width digits, one long run" },
        { "\xef\xbc\x94\xef\xbc\x94 051 401 359 ",
          "dense full-width split PESELs" },
        { "\xd9\xa1 \xef\xbc\x91-1 \xf0\x9d\x9f\x8f ",
          "mixed scripts and separators" },
        { "\xef\xbc\x91\xe2\x80\x8b", "full-width digits and ZWSPs" },
    };
    const char *err = NULL;
    size_t i;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rules = llm_mask_ruleset_create(pool);
    ok(llm_mask_ruleset_compile(rules, &err) == APR_SUCCESS,
       "the default rules compile");
    for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        check_linear(inputs[i].unit, inputs[i].name);
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
