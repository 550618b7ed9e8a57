/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_texts.h
 * @brief Every string of a request body that can carry a person's
 *        words, in every dialect: what masking and guardrails look at.
 *        Never the model, roles, ids, tool names or other structure.
 *        APR and json-c only.
 */

#ifndef LLM_TEXTS_H
#define LLM_TEXTS_H

#include "apr_pools.h"
#include "mod_llm.h"
#include "llm_event.h"
#include "llm_request.h"

struct json_object;

/**
 * Called for each text: @a text is a json-c string object of the body;
 * the callback may replace its value (json_object_set_string_len).
 * Return non-zero to stop the walk (that value is returned).
 */
typedef int (*llm_text_fn)(void *baton, struct json_object *text);

/**
 * Walk every string of @a body that can carry a person's words, in any
 * dialect or built-in: all strings but structure (object keys, model,
 * roles, ids, types, enums, JSON-schema keywords, base64 data, and the
 * name of anything that is not a message); tool-call arguments whole,
 * as data, a JSON-text "arguments" parsed and written back as JSON when
 * a string in it changed. The list is in llm_texts.c and
 * docs/masking.md. @a wire, @a op and @a builtin are not needed by
 * this rule (kept for callers and for a dialect that may need one).
 * Returns 0, or the callback's non-zero value.
 */
int llm_texts_walk(struct json_object *body, llm_wire_e wire, llm_op_e op,
                   llm_builtin_e builtin, llm_text_fn fn, void *baton);

#endif /* LLM_TEXTS_H */
