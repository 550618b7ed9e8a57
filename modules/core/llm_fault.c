/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The kind of a provider's error answer, read from its words. There is
 * no common code across the APIs: OpenAI says "context_length_exceeded",
 * vLLM and LM Studio "This model's maximum context length is N tokens",
 * Anthropic "prompt is too long: N tokens > M maximum", Ollama "the input
 * length exceeds the context length". Matching is case-insensitive and
 * linear: each phrase is looked for once in a bounded prefix.
 */

#include <string.h>

#include "apr_lib.h"

#include "llm_fault.h"

static const char *const context_phrases[] = {
    "context_length_exceeded",
    "maximum context length",
    "exceeds the context length",
    "context length exceeded",
    "context window",
    "prompt is too long",
    "input is too long",
    NULL
};

static const char *const policy_phrases[] = {
    "content_policy",
    "content policy",
    "content_filter",
    "content management policy",
    "safety system",
    NULL
};

/* Case-insensitive: is @a phrase (lower case) in @a s[0..n)? */
static int has_phrase(const char *s, apr_size_t n, const char *phrase)
{
    apr_size_t m = strlen(phrase);
    apr_size_t i;
    apr_size_t k;

    if (m > n) {
        return 0;
    }
    for (i = 0; i + m <= n; i++) {
        if (apr_tolower(s[i]) != phrase[0]) {
            continue;
        }
        for (k = 1; k < m && apr_tolower(s[i + k]) == phrase[k]; k++) {
        }
        if (k == m) {
            return 1;
        }
    }
    return 0;
}

static int has_any(const char *s, apr_size_t n, const char *const *phrases)
{
    int i;

    for (i = 0; phrases[i]; i++) {
        if (has_phrase(s, n, phrases[i])) {
            return 1;
        }
    }
    return 0;
}

llm_fault_e llm_fault_of_answer(int status, const char *body, apr_size_t len)
{
    if (!body) {
        return LLM_FAULT_OTHER;
    }
    if (len > LLM_FAULT_BODY_MAX) {
        len = LLM_FAULT_BODY_MAX;
    }
    if (has_any(body, len, policy_phrases)) {
        return LLM_FAULT_CONTENT_POLICY;
    }
    if ((status == 400 || status == 413)
        && has_any(body, len, context_phrases)) {
        return LLM_FAULT_CONTEXT_LENGTH;
    }
    return LLM_FAULT_OTHER;
}
