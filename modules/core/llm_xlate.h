/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_xlate.h
 * @brief Requests of every API dialect, translated through one canonical
 *        form (an OpenAI chat-completions request), and the dialects'
 *        error bodies. Responses are events: see llm_event.h.
 *
 * Ingress: what the client sent (its wire) -> canonical request.
 * Egress:  canonical request -> what the provider's wire takes.
 * Same wire on both sides: no translation (the caller skips both steps).
 *
 * APR and json-c only: no httpd (unit-tested in t/unit/test_xlate.c).
 */

#ifndef LLM_XLATE_H
#define LLM_XLATE_H

#include "apr_pools.h"
#include "mod_llm.h"
#include "llm_event.h"
#include "llm_request.h"

struct json_object;

/**
 * The canonical request for a client body of @a wire: an OpenAI chat
 * request object (model, messages with text/image/tool-call parts,
 * tools, tool_choice, stream, max_tokens, temperature, top_p, top_k,
 * seed, stop, stream_options, response_format...). For embeddings the
 * canonical form is an OpenAI embeddings request ({"model","input"}).
 * Returns a new object (caller puts it), or NULL with @a err filled
 * (400 / 422) when the body cannot be a request of that wire.
 *
 * The canonical request always has an explicit boolean "stream" (the
 * client's, or its wire's default: true for Ollama). When it streams and
 * the client is not an OpenAI one, it asks for the usage chunk
 * (stream_options.include_usage), since those clients get token counts.
 * For LLM_OP_EMBEDDINGS the wire names the embeddings API of its family
 * (see llm_endpoint_t.wire).
 *
 * What is translated, and what cannot be (422 unless said otherwise):
 *  OpenAI chat / LM Studio: kept; "developer" -> "system", legacy
 *    functions/function_call -> tools/tool_choice, model_name -> model.
 *  OpenAI completion: prompt (a string, or an array of one string) ->
 *    one user message; suffix (non-empty), echo:true, several prompts
 *    or token prompts: 422; logprobs N -> logprobs + top_logprobs;
 *    best_of dropped.
 *  OpenAI Responses: instructions -> system; input string/items
 *    (message with input_text/output_text/input_image, function_call,
 *    function_call_output; reasoning items dropped); max_output_tokens
 *    -> max_tokens; function tools; text.format -> response_format;
 *    reasoning.effort -> reasoning_effort; previous_response_id, files,
 *    hosted tools, other item types: 422; store, metadata, include,
 *    truncation, background, service_tier dropped.
 *  Ollama chat/generate: images -> image_url data URLs (type sniffed:
 *    jpeg/png/gif/webp, else png); tool_calls arguments object ->
 *    string, ids made up when absent ("call_<message>_<n>") and tool
 *    messages matched to them by tool_name; options temperature, top_p,
 *    top_k, seed, num_predict (>= 0) -> max_tokens, stop,
 *    presence_penalty, frequency_penalty (other options dropped: num_ctx,
 *    repeat_penalty, mirostat...); format "json" -> json_object, schema
 *    -> json_schema; think "low"/"medium"/"high" -> reasoning_effort,
 *    think true/false dropped; keep_alive, template, raw dropped;
 *    generate: system -> system message, suffix (non-empty) and context
 *    (non-empty): 422.
 *  Anthropic: system string/text blocks -> system message; text, image
 *    (base64 -> data URL, url), tool_use -> tool_calls, tool_result ->
 *    tool messages (text only; is_error dropped); thinking blocks
 *    dropped; documents, server tools and other blocks: 422;
 *    stop_sequences -> stop; tools input_schema -> parameters;
 *    tool_choice auto/any/tool/none -> auto/required/function/none,
 *    disable_parallel_tool_use -> parallel_tool_calls:false; metadata,
 *    thinking, service_tier, cache_control dropped.
 */
struct json_object *llm_xlate_ingress(apr_pool_t *p, llm_wire_e wire,
                                      llm_op_e op, struct json_object *body,
                                      llm_error_t *err);

/**
 * The body for a provider whose wire is @a wire, from a canonical
 * request @a canon (not changed). Returns a new object (caller puts it),
 * or NULL with @a err filled when the provider cannot take it (e.g. an
 * image to a provider that has none): 422.
 *
 * "model" is the canonical one: the router replaces it (model_path).
 * Fields each target does not have are dropped:
 *
 *  target          | kept / mapped                | dropped
 *  ----------------+------------------------------+-----------------------
 *  OpenAI chat,    | everything                   | (llm_xlate_fit_provider
 *  LM Studio       |                              |  drops top_k for openai)
 *  OpenAI          | prompt (system and user text | tools, response_format,
 *  completion      | joined by a blank line),     | reasoning_effort,
 *                  | max_tokens, temperature,     | logprobs, everything
 *                  | top_p, top_k, n, stop, seed, | not listed
 *                  | penalties, logit_bias, user, |
 *                  | stream, stream_options       |
 *  Ollama chat /   | messages (texts joined by    | tool_choice (none ->
 *  generate        | "\n", data-URL images ->     | no tools), n (>1: 422),
 *                  | images), tools, options      | logit_bias, logprobs,
 *                  | {temperature, top_p, top_k,  | user, stream_options,
 *                  | seed, num_predict, stop,     | parallel_tool_calls,
 *                  | presence/frequency_penalty}, | reasoning_effort,
 *                  | format, stream (explicit)    | http(s) images (422)
 *  Anthropic       | system (joined), messages    | n (>1: 422), seed,
 *                  | (same roles merged, empty    | penalties, logit_bias,
 *                  | ones dropped), max_tokens    | logprobs, user,
 *                  | (else max_completion_tokens, | response_format,
 *                  | else 4096), stop_sequences,  | stream_options,
 *                  | temperature (clamped to      | reasoning_effort
 *                  | [0,1]), top_p, top_k, tools, |
 *                  | tool_choice, stream          |
 *  Embeddings      | OpenAI: input, dimensions,   | Ollama: encoding_format
 *                  | encoding_format, user;       | (the answer is
 *                  | Ollama: input, dimensions    | re-encoded), user
 *
 * Anthropic wants user and assistant in turn: consecutive messages of one
 * role are merged (tool results join the user message), never padded
 * with empty ones as the original did; a conversation that opens with an
 * assistant message is sent as it is. Its temperature range is [0,1]:
 * OpenAI's [0,2] values are clamped, not scaled. Tool arguments must be
 * a JSON object for Anthropic and Ollama (else 422).
 */
struct json_object *llm_xlate_egress(apr_pool_t *p, llm_wire_e wire,
                                     llm_op_e op, struct json_object *canon,
                                     llm_error_t *err);

/**
 * Remove from @a body (an egress result, changed in place) the fields a
 * provider of @a type refuses although its wire has them: OpenAI's own
 * API rejects vLLM's "top_k".
 */
void llm_xlate_fit_provider(struct json_object *body, llm_api_type_e type);

/** The wire a client of @a endpoint speaks (llm_wire_of_request() in
 *  llm_request.h refines it by the body). */
llm_wire_e llm_wire_of_endpoint(const llm_endpoint_t *endpoint);

/** True when a provider of @a type can serve @a op at all (an Anthropic
 *  provider has no embeddings). Check it before llm_wire_for_provider. */
int llm_provider_serves(llm_api_type_e type, llm_op_e op);

/**
 * The wire used to ask a provider of @a type for @a op when the client
 * speaks @a client_wire (same wire when the provider speaks it: no
 * translation):
 *   openai, vllm, lmstudio: OpenAI chat / completion / embeddings;
 *     Responses clients stay on Responses;
 *   ollama: OLLAMA_CHAT (chat, Responses, messages, embeddings:
 *     /api/embed), OLLAMA_GENERATE (completion);
 *   anthropic: ANTHROPIC for every op it serves.
 * For an op the provider does not serve the result is meaningless.
 */
llm_wire_e llm_wire_for_provider(llm_api_type_e type, llm_op_e op,
                                 llm_wire_e client_wire);

/** The path of @a wire for @a op: "/v1/chat/completions",
 *  "/v1/completions", "/v1/responses", "/v1/embeddings", "/api/chat",
 *  "/api/generate", "/api/embed", "/api/embeddings", "/v1/messages",
 *  "/api/v0/chat/completions", "/api/v0/completions",
 *  "/api/v0/embeddings". */
const char *llm_wire_path(llm_wire_e wire, llm_op_e op);

/**
 * The URL of @a wire's @a op on @a provider: api_host + path. An api_host
 * written the OpenAI-SDK way ("http://h:8000/v1") gives ".../v1/..." once
 * for /v1 paths, and is taken without its "/v1" for the native paths
 * ("/api/chat").
 */
const char *llm_upstream_url_for(apr_pool_t *p,
                                 const llm_provider_t *provider,
                                 llm_wire_e wire, llm_op_e op);

/* ------------------------------------------------------------------ */
/* Embedding responses (not events: one JSON body each way)            */
/* ------------------------------------------------------------------ */

/**
 * An embeddings answer of a provider speaking @a from_wire, in the shape
 * of @a to_wire (the client's; for LLM_OP_EMBEDDINGS wires, see
 * llm_endpoint_t.wire):
 *   OpenAI: {"object":"list","data":[{"object":"embedding","index":i,
 *            "embedding":[...]}],"model":m,"usage":{"prompt_tokens":n,
 *            "total_tokens":n}}
 *   Ollama /api/embed: {"model":m,"embeddings":[[...]],
 *            "prompt_eval_count":n} (durations are Ollama's own: not
 *            made up)
 *   Ollama legacy /api/embeddings: {"embedding":[...]} (the first one)
 * @a model is the name reported (the client's, not model_path). Fills
 * @a usage (-1 where unknown; may be NULL). Returns the JSON text with a
 * trailing newline, or NULL when @a body is not an embeddings answer.
 */
const char *llm_embeddings_response(apr_pool_t *p, llm_wire_e from_wire,
                                    llm_wire_e to_wire,
                                    struct json_object *body,
                                    const char *model, llm_usage_t *usage);

/** The same, for an OpenAI client that asked for @a encoding_format
 *  "base64" (vectors as base64 of little-endian float32, as OpenAI
 *  sends them) or "float"/NULL. OpenAI vectors that came as base64 are
 *  decoded for the other shapes. */
const char *llm_embeddings_response_ex(apr_pool_t *p, llm_wire_e from_wire,
                                       llm_wire_e to_wire,
                                       struct json_object *body,
                                       const char *model,
                                       const char *encoding_format,
                                       llm_usage_t *usage);

/* ------------------------------------------------------------------ */
/* Error bodies                                                        */
/* ------------------------------------------------------------------ */

/**
 * An error body in the shape of @a wire's API:
 *   OpenAI:    {"error":{"message","type","param","code"}}
 *   Anthropic: {"type":"error","error":{"type","message"}}
 *   Ollama:    {"error":"message"}
 */
const char *llm_error_json_for(apr_pool_t *p, llm_wire_e wire, int status,
                               const char *code, const char *message);

/** llm_error_json_for() of a validation or translation error (OpenAI's
 *  shape carries its param). */
const char *llm_error_json_for_error(apr_pool_t *p, llm_wire_e wire,
                                     const llm_error_t *err);

/** The message of an upstream error body of any dialect (NULL if the
 *  body is not one): OpenAI and Anthropic {"error":{"message"}},
 *  Ollama {"error":"..."}, vLLM {"object":"error","message"},
 *  FastAPI {"detail":"..."}. */
const char *llm_error_message_of(apr_pool_t *p, const char *buf,
                                 apr_size_t len);

/* ------------------------------------------------------------------ */
/* Helpers shared by llm_xlate*.c and llm_builtin*.c (not an API)      */
/* ------------------------------------------------------------------ */

/** Fill @a err; returns -1. */
int llm_xlate_fail(llm_error_t *err, int status, const char *code,
                   const char *param, const char *message);

/** Add @a key to @a dst sharing @a src's value of @a from (reference
 *  counted, not copied) when present and not null. Returns 1 if added. */
int llm_xlate_share(struct json_object *dst, const char *key,
                    struct json_object *src, const char *from);

/** @a v serialised plainly (no slash escaping, no spaces), copied into
 *  @a p. */
const char *llm_xlate_json_text(apr_pool_t *p, struct json_object *v);

/** True for the ops that are a conversation (chat, Responses,
 *  messages). */
int llm_op_is_chat(llm_op_e op);

/** The embeddings halves of llm_xlate_ingress / llm_xlate_egress. */
struct json_object *llm_xlate_embed_ingress(apr_pool_t *p, llm_wire_e wire,
                                            struct json_object *body,
                                            llm_error_t *err);
struct json_object *llm_xlate_embed_egress(apr_pool_t *p, llm_wire_e wire,
                                           struct json_object *canon,
                                           llm_error_t *err);

#endif /* LLM_XLATE_H */
