/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* A minimal TAP producer for the C unit tests, read by prove. */

#ifndef LLM_TAP_H
#define LLM_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int tap_n;
static int tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
    tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
    tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
               __VA_ARGS__)
#define like(got, needle, ...) \
    tap_like((got), (needle), __FILE__, __LINE__, __VA_ARGS__)

static inline int tap_ok(int pass, const char *file, int line, const char *name,
                  ...)
{
    tap_n++;
    printf("%sok %d - %s\n", pass ? "" : "not ", tap_n, name);
    if (!pass) {
        tap_failed++;
        printf("#   failed at %s line %d\n", file, line);
    }
    return pass;
}

static inline int tap_is_str(const char *got, const char *want, const char *file,
                      int line, const char *name)
{
    int pass = (got == NULL && want == NULL)
               || (got && want && !strcmp(got, want));

    if (!tap_ok(pass, file, line, name)) {
        printf("#          got: %s\n#     expected: %s\n",
               got ? got : "(null)", want ? want : "(null)");
    }
    return pass;
}

static inline int tap_is_int(long long got, long long want, const char *file,
                      int line, const char *name)
{
    if (!tap_ok(got == want, file, line, name)) {
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
        return 0;
    }
    return 1;
}

static inline int tap_like(const char *got, const char *needle, const char *file,
                    int line, const char *name)
{
    int pass = got && needle && strstr(got, needle);

    if (!tap_ok(pass, file, line, name)) {
        printf("#          got: %s\n#  to contain: %s\n",
               got ? got : "(null)", needle);
    }
    return pass;
}

/* Linear time: @a check run over 1 MiB of each unit repeated; one ok()
 * that the slowest took under a second (ten under ASan, which costs
 * several times the time), printing which one it was. */
typedef void (*tap_mib_fn)(void *baton, const char *text, size_t len);

static inline int tap_each_mib_fast(const char *const *units, size_t n,
                                    tap_mib_fn check, void *baton,
                                    const char *name)
{
    double limit = 1.0, worst = 0;
    const char *worst_unit = "";
    size_t i, k;

#if defined(__SANITIZE_ADDRESS__)
    limit = 10.0;
#endif
    for (i = 0; i < n; i++) {
        size_t ulen = strlen(units[i]), reps = (1024 * 1024) / ulen;
        char *big = malloc(ulen * reps + 1);
        clock_t t0;
        double t;

        for (k = 0; k < reps; k++) {
            memcpy(big + k * ulen, units[i], ulen);
        }
        big[ulen * reps] = '\0';
        t0 = clock();
        check(baton, big, ulen * reps);
        t = (double)(clock() - t0) / CLOCKS_PER_SEC;
        free(big);
        if (t > worst) {
            worst = t;
            worst_unit = units[i];
        }
    }
    printf("# slowest adversarial MiB: \"%s\" repeated, %.3f s\n",
           worst_unit, worst);
    return tap_ok(worst < limit, __FILE__, __LINE__, name);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* LLM_TAP_H */
