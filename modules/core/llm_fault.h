/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_fault.h
 * @brief What a provider's error answer says went wrong, when its status
 *        alone does not tell (a 400 is the request's fault, but "the
 *        prompt is too long for this model" can be mended by a model with
 *        a larger context). APR only: no httpd.
 */

#ifndef LLM_FAULT_H
#define LLM_FAULT_H

#include "apr.h"

typedef enum {
    LLM_FAULT_OTHER = 0,
    LLM_FAULT_CONTEXT_LENGTH,   /**< the prompt exceeds the model's context */
    LLM_FAULT_CONTENT_POLICY    /**< the provider refused the content */
} llm_fault_e;

/** The longest error body worth reading for its kind. */
#define LLM_FAULT_BODY_MAX (16 * 1024)

/**
 * The kind of a provider's error answer of @a status with @a len bytes of
 * @a body (any dialect; not NUL-terminated; only the first
 * LLM_FAULT_BODY_MAX bytes are read). Only 400 and 413 can be a context
 * length error. A content-policy refusal wins over a context-length
 * wording in the same body: it must never be routed around.
 */
llm_fault_e llm_fault_of_answer(int status, const char *body, apr_size_t len);

#endif /* LLM_FAULT_H */
