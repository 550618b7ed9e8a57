/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Long generated texts for the masking engine's time tests:
 * t/unit/test_mask_linear.c and t/unit/test_mask_deadline.c. */

#ifndef LLM_REPEATED_TEXT_H
#define LLM_REPEATED_TEXT_H

#include <string.h>

#include "apr_pools.h"

/* @a unit repeated to @a size bytes (whole units), NUL-terminated; its
 * length in *len. */
static char *repeated_text(apr_pool_t *p, const char *unit, apr_size_t size,
                           apr_size_t *len)
{
    apr_size_t ulen = strlen(unit), n = size / ulen, k;
    char *text = apr_palloc(p, n * ulen + 1);

    for (k = 0; k < n; k++) {
        memcpy(text + k * ulen, unit, ulen);
    }
    text[n * ulen] = '\0';
    *len = n * ulen;
    return text;
}

#endif /* LLM_REPEATED_TEXT_H */
