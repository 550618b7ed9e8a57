/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_request.h
 * @brief The endpoint table, request validation and the per-provider
 *        rewrite of a request body. APR and json-c only: no httpd.
 */

#ifndef LLM_REQUEST_H
#define LLM_REQUEST_H

#include "apr_pools.h"
#include "mod_llm.h"
#include "llm_event.h"
#include "llm_json.h"

struct json_object;

/** What a built-in (LLM_OP_INFO) endpoint answers. */
typedef enum {
    LLM_INFO_NONE = 0,
    LLM_INFO_PING,
    LLM_INFO_VERSION,         /**< {"version":"x.y.z"}: what Ollama clients
                                   and the original's SDK both read */
    LLM_INFO_MODELS,          /**< OpenAI model list */
    LLM_INFO_OLLAMA_HOME,     /**< GET /: "Ollama is running" (text) */
    LLM_INFO_TAGS,            /**< GET {P}/tags: Ollama model list */
    LLM_INFO_LMSTUDIO_MODELS, /**< GET {P}/v0/models: LM Studio list */
    LLM_INFO_MODEL,           /**< GET /v1/models/{id}: one model (OpenAI's
                                   shape, Anthropic's with anthropic-version) */
    LLM_INFO_FAST_TEXT_MASK,  /**< POST {P}/fast_text_mask: {"text"} masked
                                   by mod_llm_mask */
    LLM_INFO_PS,              /**< GET {P}/ps: Ollama's loaded models
                                   (none here: providers load them) */
    LLM_INFO_SHOW             /**< POST {P}/show: Ollama model details;
                                   the body names the model ("model",
                                   or "name" of older clients) */
} llm_info_e;

/* llm_builtin_e is in mod_llm.h. */

/** One route of the gateway. */
typedef struct llm_endpoint {
    const char *route;        /**< path after the prefix, leading '/' */
    int prefixed;             /**< the route sits under LLMRouterPrefix */
    const char *method;       /**< "GET" or "POST" */
    llm_dialect_e dialect;
    llm_op_e op;
    llm_info_e info;
    const char *name;         /**< stable name for logs and notes */
    llm_wire_e wire;          /**< the body format its clients speak (for
                                   LLM_OP_EMBEDDINGS: OPENAI_* = OpenAI
                                   embeddings, OLLAMA_CHAT = /api/embed,
                                   OLLAMA_GENERATE = legacy
                                   /api/embeddings); built-ins build
                                   OpenAI chat requests */
    llm_builtin_e builtin;    /**< which built-in, or LLM_BUILTIN_NONE */
} llm_endpoint_t;

/**
 * The endpoint whose path is @a path under @a prefix ("" for none), or
 * NULL. The method is not checked: the caller answers 405 on mismatch.
 */
const llm_endpoint_t *llm_endpoint_find(const char *prefix, const char *path);

/** Route @a i of the table (0, 1, ... until NULL), for whoever needs the
 *  bounded list of route names (metrics labels); names repeat where a
 *  route is reachable under and outside the prefix. */
const llm_endpoint_t *llm_endpoint_at(int i);

/** True when @a path is one the gateway owns (under the prefix or /v1/),
 *  so an unknown route there gets a JSON 404 rather than httpd's page. */
int llm_endpoint_in_namespace(const char *prefix, const char *path);

/** A client error found in a request body. */
typedef struct llm_error {
    int status;               /**< HTTP status */
    const char *code;         /**< machine name, e.g. "invalid_json" */
    const char *param;        /**< offending field or NULL */
    const char *message;
} llm_error_t;

/**
 * Parse a request body. On success returns the object (owned by the
 * caller: json_object_put it, e.g. from a pool cleanup) and leaves @a err
 * alone; on failure returns NULL and fills @a err (400).
 */
struct json_object *llm_request_parse(apr_pool_t *p, const char *buf,
                                      apr_size_t len, llm_error_t *err);

/** The objects a request body may hold by default: json-c spends about
 *  1 KiB on each while the body is parsed (200,000 one-word messages in
 *  6.8 MB took 200 MB), so a cap on objects bounds a request's memory. */
#define LLM_REQUEST_MAX_OBJECTS 10000

/** llm_request_parse with at most @a max_objects JSON objects (0: no
 *  limit); more is 413 "too_many_objects", refused before json-c
 *  allocates anything. */
struct json_object *llm_request_parse_max(apr_pool_t *p, const char *buf,
                                          apr_size_t len,
                                          apr_size_t max_objects,
                                          llm_error_t *err);

/**
 * Check the fields @a op needs (model, messages, input, ...) and their
 * types. Returns 0, or -1 with @a err filled (400). Sets @a *model_name
 * and @a *stream on success.
 */
int llm_request_validate(apr_pool_t *p, llm_op_e op, struct json_object *body,
                         const char **model_name, int *stream,
                         llm_error_t *err);

/**
 * The check of llm_request_validate() done the way @a endpoint's clients
 * write their bodies (its wire, or its built-in):
 *  - the model is "model" ("model_name" accepted; built-ins and the
 *    original's clients send it), or "name" for {P}/show;
 *  - @a *stream defaults to TRUE for the Ollama wires (Ollama's own
 *    default) and to false for every other one;
 *  - OpenAI chat/LM Studio: messages; completion: prompt; Responses:
 *    input optional; Ollama chat: messages; generate: prompt (a string);
 *    /api/embed: input; legacy /api/embeddings: prompt (a string);
 *    Anthropic: messages (roles user/assistant only) and max_tokens (an
 *    integer >= 1); built-ins: their own fields (llm_builtin_validate).
 * On {P}/embeddings the body chooses: "prompt" without "input" is the
 * Ollama legacy form, otherwise OpenAI's (see llm_wire_of_request()).
 * Errors are 400 (missing field, wrong type, value out of range);
 * content that is well formed but that no provider could be sent is
 * found later, by the translation, as 422.
 */
int llm_request_validate_endpoint(apr_pool_t *p,
                                  const llm_endpoint_t *endpoint,
                                  struct json_object *body,
                                  const char **model_name, int *stream,
                                  llm_error_t *err);

/** The wire of a request to @a endpoint with @a body: the endpoint's
 *  wire, except on {P}/embeddings, where an Ollama-legacy body
 *  ({"model","prompt"}) gives LLM_WIRE_OLLAMA_GENERATE. */
llm_wire_e llm_wire_of_request(const llm_endpoint_t *endpoint,
                               struct json_object *body);

/** True when @a endpoint's dialect can be sent to a provider of @a t
 *  (this release: the OpenAI dialect to OpenAI-compatible servers). */
int llm_dialect_reaches(const llm_endpoint_t *endpoint, llm_api_type_e t);

/** The upstream URL of @a endpoint on @a provider. */
const char *llm_upstream_url(apr_pool_t *p, const llm_endpoint_t *endpoint,
                             const llm_provider_t *provider);

/**
 * The body to send to @a provider for @a model: the client's object with
 * "model" set to the provider's model_path (or the model name), and the
 * fields the provider cannot take removed or renamed. The client's object
 * is not changed (its values are shared, not copied). Returns the new
 * top-level object (caller puts it; the text lives as long as it does)
 * and sets @a *text / @a *len to its serialisation.
 */
struct json_object *llm_request_for_provider(struct json_object *body,
                                             const llm_model_t *model,
                                             const llm_provider_t *provider,
                                             const char **text,
                                             apr_size_t *len);

/**
 * An error body in the OpenAI shape:
 * {"error":{"message":...,"type":...,"param":...,"code":...}}.
 * @a type NULL picks the one OpenAI uses for @a status.
 */
const char *llm_error_json_openai(apr_pool_t *p, int status,
                                  const char *type, const char *code,
                                  const char *param, const char *message);

#endif /* LLM_REQUEST_H */
