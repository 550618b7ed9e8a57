/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_texts.h
 * @brief The texts a person wrote in a request body, in every dialect:
 *        what masking and guardrails look at. Never the model, roles,
 *        ids, tool names or other structure. APR and json-c only.
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
 * Walk the texts of @a body, a request of @a wire for @a op (or of the
 * built-in @a builtin):
 *   OpenAI chat, LM Studio: messages[].content (a string, or the "text" of
 *     its text parts), including tool results;
 *   OpenAI completion: prompt (a string or strings);
 *   Responses: instructions; input (a string, or its items' content:
 *     strings and input_text/output_text parts; function_call_output);
 *   Ollama chat: messages[].content; generate: prompt, system;
 *   Anthropic: system (a string or text blocks); messages[].content (a
 *     string, text blocks, tool_result contents);
 *   embeddings: input (a string or strings), prompt (Ollama's legacy);
 *   built-ins: user_last_statement, historical_messages (user, assistant,
 *     content), system_prompt, text, texts (strings, or a map of lists),
 *     user_query, question_str, question_prompt.
 * Returns 0, or the callback's non-zero value.
 */
int llm_texts_walk(struct json_object *body, llm_wire_e wire, llm_op_e op,
                   llm_builtin_e builtin, llm_text_fn fn, void *baton);

#endif /* LLM_TEXTS_H */
