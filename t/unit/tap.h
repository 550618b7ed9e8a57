/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* A minimal TAP producer for the C unit tests, read by prove. */

#ifndef LLM_TAP_H
#define LLM_TAP_H

#include <stdio.h>
#include <string.h>

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

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif /* LLM_TAP_H */
