/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Deterministic ids and time for the event decoders and encoders
 * (llm_event_random_fn, llm_event_clock_fn), so that outputs can be
 * compared byte for byte: t/unit/test_event.c and t/fuzz/fuzz_event.c. */

#ifndef LLM_FAKE_CLOCK_H
#define LLM_FAKE_CLOCK_H

#include "apr_time.h"

static unsigned fake_counter;
static apr_time_t fake_time;

static void fake_random(unsigned char *buf, apr_size_t len)
{
    apr_size_t i;

    fake_counter++;
    for (i = 0; i < len; i++) {
        buf[i] = (unsigned char)(fake_counter * 17 + i * 29);
    }
}

/* Each look at the clock is 1.5 ms after the one before. */
static apr_time_t fake_clock(void)
{
    fake_time += 1500;
    return fake_time;
}

static void fake_reset(void)
{
    fake_counter = 0;
    fake_time = APR_INT64_C(1700000000) * APR_USEC_PER_SEC;
}

#endif /* LLM_FAKE_CLOCK_H */
