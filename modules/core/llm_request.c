/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What a request to the gateway may be, and what it becomes on its way
 * to a provider. Kept free of httpd so that the rules are unit-tested on
 * their own (t/unit/test_request.c).
 */

#include <locale.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include <json-c/json.h>

#include "llm_request.h"
#include "llm_builtin.h"

/* ------------------------------------------------------------------ */
/* The endpoint table                                                  */
/* ------------------------------------------------------------------ */

#define GET  "GET"
#define POST "POST"

/* Field order: route, prefixed, method, dialect, op, info, name, wire,
 * builtin. "{P}" below is LLMRouterPrefix: it replaces the "/api" segment
 * of the Ollama and LM Studio routes. */
#define INFO(route, pfx, dialect, info, name, wire) \
    { route, pfx, GET, dialect, LLM_OP_INFO, info, name, wire, \
      LLM_BUILTIN_NONE }
#define API(route, pfx, dialect, op, name, wire) \
    { route, pfx, POST, dialect, op, LLM_INFO_NONE, name, wire, \
      LLM_BUILTIN_NONE }
#define BUILTIN(name, kind) \
    { "/" name, 1, POST, LLM_DIALECT_BUILTIN, LLM_OP_CHAT, LLM_INFO_NONE, \
      name, LLM_WIRE_OPENAI_CHAT, kind }

static const llm_endpoint_t endpoints[] = {
    /* Answered by the gateway itself. The unprefixed /ping, /version and
     * /tags are the routes the original's READMEs promise. */
    INFO("/", 0, LLM_DIALECT_OLLAMA, LLM_INFO_OLLAMA_HOME, "home",
         LLM_WIRE_OLLAMA_CHAT),
    INFO("/ping", 0, LLM_DIALECT_BUILTIN, LLM_INFO_PING, "ping",
         LLM_WIRE_OPENAI_CHAT),
    INFO("/ping", 1, LLM_DIALECT_BUILTIN, LLM_INFO_PING, "ping",
         LLM_WIRE_OPENAI_CHAT),
    INFO("/version", 0, LLM_DIALECT_BUILTIN, LLM_INFO_VERSION, "version",
         LLM_WIRE_OPENAI_CHAT),
    INFO("/version", 1, LLM_DIALECT_BUILTIN, LLM_INFO_VERSION, "version",
         LLM_WIRE_OPENAI_CHAT),
    INFO("/tags", 0, LLM_DIALECT_OLLAMA, LLM_INFO_TAGS, "tags",
         LLM_WIRE_OLLAMA_CHAT),
    INFO("/tags", 1, LLM_DIALECT_OLLAMA, LLM_INFO_TAGS, "tags",
         LLM_WIRE_OLLAMA_CHAT),
    INFO("/models", 0, LLM_DIALECT_OPENAI, LLM_INFO_MODELS, "models",
         LLM_WIRE_OPENAI_CHAT),
    INFO("/v1/models", 0, LLM_DIALECT_OPENAI, LLM_INFO_MODELS, "v1/models",
         LLM_WIRE_OPENAI_CHAT),
    INFO("/ps", 1, LLM_DIALECT_OLLAMA, LLM_INFO_PS, "ps",
         LLM_WIRE_OLLAMA_CHAT),
    INFO("/v0/models", 1, LLM_DIALECT_LMSTUDIO, LLM_INFO_LMSTUDIO_MODELS,
         "v0/models", LLM_WIRE_LMSTUDIO_CHAT),
    /* POST, answered by the gateway (mod_llm_mask) from the body alone. */
    { "/fast_text_mask", 1, POST, LLM_DIALECT_BUILTIN, LLM_OP_INFO,
      LLM_INFO_FAST_TEXT_MASK, "fast_text_mask", LLM_WIRE_OPENAI_CHAT,
      LLM_BUILTIN_NONE },
    /* POST, but answered from the models file: the body names a model. */
    { "/show", 1, POST, LLM_DIALECT_OLLAMA, LLM_OP_INFO, LLM_INFO_SHOW,
      "show", LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },

    /* OpenAI */
    API("/v1/chat/completions", 0, LLM_DIALECT_OPENAI, LLM_OP_CHAT,
        "v1/chat/completions", LLM_WIRE_OPENAI_CHAT),
    API("/chat/completions", 0, LLM_DIALECT_OPENAI, LLM_OP_CHAT,
        "chat/completions", LLM_WIRE_OPENAI_CHAT),
    API("/chat/completions", 1, LLM_DIALECT_OPENAI, LLM_OP_CHAT,
        "chat/completions", LLM_WIRE_OPENAI_CHAT),
    API("/v1/completions", 0, LLM_DIALECT_OPENAI, LLM_OP_COMPLETION,
        "v1/completions", LLM_WIRE_OPENAI_COMPLETION),
    API("/v1/embeddings", 0, LLM_DIALECT_OPENAI, LLM_OP_EMBEDDINGS,
        "v1/embeddings", LLM_WIRE_OPENAI_CHAT),
    API("/embeddings", 0, LLM_DIALECT_OPENAI, LLM_OP_EMBEDDINGS,
        "embeddings", LLM_WIRE_OPENAI_CHAT),
    /* {P}/embeddings is also Ollama's legacy embeddings route: the body
     * tells them apart (llm_wire_of_request). */
    API("/embeddings", 1, LLM_DIALECT_OPENAI, LLM_OP_EMBEDDINGS,
        "embeddings", LLM_WIRE_OPENAI_CHAT),
    API("/v1/responses", 0, LLM_DIALECT_OPENAI, LLM_OP_RESPONSES,
        "v1/responses", LLM_WIRE_OPENAI_RESPONSES),
    API("/responses", 0, LLM_DIALECT_OPENAI, LLM_OP_RESPONSES,
        "responses", LLM_WIRE_OPENAI_RESPONSES),

    /* Ollama */
    API("/chat", 1, LLM_DIALECT_OLLAMA, LLM_OP_CHAT, "chat",
        LLM_WIRE_OLLAMA_CHAT),
    API("/generate", 1, LLM_DIALECT_OLLAMA, LLM_OP_COMPLETION, "generate",
        LLM_WIRE_OLLAMA_GENERATE),
    API("/embed", 1, LLM_DIALECT_OLLAMA, LLM_OP_EMBEDDINGS, "embed",
        LLM_WIRE_OLLAMA_CHAT),

    /* LM Studio's native REST API (OpenAI bodies; answers add stats) */
    API("/v0/chat/completions", 1, LLM_DIALECT_LMSTUDIO, LLM_OP_CHAT,
        "v0/chat/completions", LLM_WIRE_LMSTUDIO_CHAT),
    API("/v0/completions", 1, LLM_DIALECT_LMSTUDIO, LLM_OP_COMPLETION,
        "v0/completions", LLM_WIRE_OPENAI_COMPLETION),
    API("/v0/embeddings", 1, LLM_DIALECT_LMSTUDIO, LLM_OP_EMBEDDINGS,
        "v0/embeddings", LLM_WIRE_OPENAI_CHAT),

    /* Anthropic */
    API("/v1/messages", 0, LLM_DIALECT_ANTHROPIC, LLM_OP_MESSAGES,
        "v1/messages", LLM_WIRE_ANTHROPIC),

    /* The original's built-in endpoints (llm_builtin.h) */
    BUILTIN("conversation_with_model", LLM_BUILTIN_CONVERSATION),
    BUILTIN("extended_conversation_with_model",
            LLM_BUILTIN_EXTENDED_CONVERSATION),
    BUILTIN("generate_questions", LLM_BUILTIN_GENERATE_QUESTIONS),
    BUILTIN("translate", LLM_BUILTIN_TRANSLATE),
    BUILTIN("simplify_text", LLM_BUILTIN_SIMPLIFY_TEXT),
    BUILTIN("generate_article_from_text", LLM_BUILTIN_GENERATE_ARTICLE),
    BUILTIN("create_full_article_from_texts", LLM_BUILTIN_FULL_ARTICLE),
    BUILTIN("generative_answer", LLM_BUILTIN_GENERATIVE_ANSWER),
};

#define N_ENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

/* GET /v1/models/{id}: the one route with a parameter. */
static const llm_endpoint_t model_endpoint =
    INFO("/v1/models/{id}", 0, LLM_DIALECT_OPENAI, LLM_INFO_MODEL,
         "v1/models/id", LLM_WIRE_OPENAI_CHAT);

const llm_endpoint_t *llm_endpoint_find(const char *prefix, const char *path)
{
    apr_size_t plen = strlen(prefix);
    int under_prefix = plen && !strncmp(path, prefix, plen)
                       && path[plen] == '/';
    apr_size_t i;

    if (!strncmp(path, "/v1/models/", 11) && path[11]) {
        return &model_endpoint;
    }
    for (i = 0; i < N_ENDPOINTS; i++) {
        const llm_endpoint_t *e = &endpoints[i];

        if (e->prefixed ? (under_prefix && !strcmp(path + plen, e->route))
                        : !strcmp(path, e->route)) {
            return e;
        }
    }
    return NULL;
}

const llm_endpoint_t *llm_endpoint_at(int i)
{
    if (i >= 0 && (apr_size_t)i < N_ENDPOINTS) {
        return &endpoints[i];
    }
    return i == (int)N_ENDPOINTS ? &model_endpoint : NULL;
}

int llm_endpoint_in_namespace(const char *prefix, const char *path)
{
    apr_size_t plen = strlen(prefix);

    if (!strncmp(path, "/v1/", 4) || !strcmp(path, "/v1")) {
        return 1;
    }
    return plen && !strncmp(path, prefix, plen)
           && (path[plen] == '/' || path[plen] == '\0');
}

/* ------------------------------------------------------------------ */
/* Parsing and validation                                              */
/* ------------------------------------------------------------------ */

static void set_error(llm_error_t *err, int status, const char *code,
                      const char *param, const char *message)
{
    err->status = status;
    err->code = code;
    err->param = param;
    err->message = message;
}

/* Strict JSON first (llm_json_check): what json-c would let through
 * (NaN, comments, a key cut at a NUL, a repeated key, invalid UTF-8) is
 * what a provider would get. */
struct json_object *llm_request_parse(apr_pool_t *p, const char *buf,
                                      apr_size_t len, llm_error_t *err)
{
    return llm_request_parse_max(p, buf, len, LLM_REQUEST_MAX_OBJECTS, err);
}

struct json_object *llm_request_parse_max(apr_pool_t *p, const char *buf,
                                          apr_size_t len,
                                          apr_size_t max_objects,
                                          llm_error_t *err)
{
    llm_json_check_t check;
    json_object *obj;

    if (len == 0) {
        set_error(err, 400, "invalid_json", NULL,
                  "The request body is empty; a JSON object is required.");
        return NULL;
    }
    if (len > (apr_size_t)INT32_MAX) {
        set_error(err, 413, "request_too_large", NULL,
                  "The request body is too large to parse.");
        return NULL;
    }
    if (!(obj = llm_json_parse_strict(p, buf, len, max_objects, &check))) {
        if (max_objects && check.objects > max_objects) {
            set_error(err, 413, "too_many_objects", NULL,
                      apr_psprintf(p, "The request body has more than %"
                                   APR_SIZE_T_FMT " JSON objects (the "
                                   "limit of LLMRouterMaxJsonObjects).",
                                   max_objects));
        }
        else if (check.repeated_key) {
            set_error(err, 400, "invalid_json", NULL,
                      "The request body repeats a key in an object.");
        }
        else {
            set_error(err, 400, "invalid_json", NULL,
                      apr_psprintf(p, "The request body is not valid JSON "
                                   "(at byte %" APR_SIZE_T_FMT ": %s).",
                                   check.offset, check.reason));
        }
        return NULL;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        set_error(err, 400, "invalid_json", NULL,
                  apr_psprintf(p, "The request body must be a JSON object, "
                               "not %s.",
                               json_type_to_name(json_object_get_type(obj))));
        json_object_put(obj);
        return NULL;
    }
    return obj;
}

static int is_string(json_object *v)
{
    return json_object_is_type(v, json_type_string);
}

static int is_nonempty_array(json_object *v)
{
    return json_object_is_type(v, json_type_array)
           && json_object_array_length(v) > 0;
}

static int missing(apr_pool_t *p, const char *field, const char *what,
                   llm_error_t *err)
{
    set_error(err, 400, "missing_required_parameter", field,
              apr_psprintf(p, "Missing required parameter: '%s' (%s).",
                           field, what));
    return -1;
}

static int invalid(apr_pool_t *p, const char *field, const char *what,
                   llm_error_t *err)
{
    set_error(err, 400, "invalid_type", field,
              apr_psprintf(p, "Invalid type for '%s': expected %s.",
                           field, what));
    return -1;
}

static int check_messages(apr_pool_t *p, json_object *msgs, llm_error_t *err)
{
    size_t i;
    size_t n;

    if (!msgs) {
        return missing(p, "messages", "a non-empty array of messages", err);
    }
    if (!is_nonempty_array(msgs)) {
        return invalid(p, "messages", "a non-empty array of messages", err);
    }
    n = json_object_array_length(msgs);
    for (i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        json_object *role;

        if (!json_object_is_type(m, json_type_object)
            || !json_object_object_get_ex(m, "role", &role)
            || !is_string(role)) {
            return invalid(p, apr_psprintf(p, "messages[%" APR_SIZE_T_FMT
                                           "]", (apr_size_t)i),
                           "an object with a string 'role'", err);
        }
    }
    return 0;
}

/* prompt / input: a string or a non-empty array. */
static int check_text_input(apr_pool_t *p, json_object *body,
                            const char *field, int required, llm_error_t *err)
{
    json_object *v;

    if (!json_object_object_get_ex(body, field, &v) || !v) {
        return required ? missing(p, field, "a string or an array", err) : 0;
    }
    if (!is_string(v) && !is_nonempty_array(v)) {
        return invalid(p, field, "a string or a non-empty array", err);
    }
    return 0;
}

/* A name the gateway routes by: a string with a NUL would be read up
 * to the NUL, so it is refused rather than cut. */
static int check_name(apr_pool_t *p, const char *field, json_object *v,
                      const char **name, llm_error_t *err)
{
    if (!is_string(v) || !json_object_get_string_len(v)) {
        return invalid(p, field, "a non-empty string", err);
    }
    if (!(*name = llm_json_name(v))) {
        set_error(err, 400, "invalid_value", field,
                  apr_psprintf(p, "Invalid value for '%s': it contains NUL.",
                               field));
        return -1;
    }
    return 0;
}

static int check_model(apr_pool_t *p, json_object *body, const char **name,
                       llm_error_t *err)
{
    json_object *v = NULL;

    /* "model" is the OpenAI field; the original router also took
     * "model_name" (its built-in endpoints use it). */
    if ((!json_object_object_get_ex(body, "model", &v) || !v)
        && (!json_object_object_get_ex(body, "model_name", &v) || !v)) {
        return missing(p, "model", "the name of a model", err);
    }
    return check_name(p, "model", v, name, err);
}

static int check_anthropic(apr_pool_t *p, json_object *body,
                           llm_error_t *err);

int llm_request_validate(apr_pool_t *p, llm_op_e op, json_object *body,
                         const char **model_name, int *stream,
                         llm_error_t *err)
{
    json_object *v;

    if (check_model(p, body, model_name, err) < 0) {
        return -1;
    }
    *stream = 0;
    if (json_object_object_get_ex(body, "stream", &v) && v) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return invalid(p, "stream", "a boolean", err);
        }
        *stream = json_object_get_boolean(v);
    }
    switch (op) {
    case LLM_OP_CHAT:
        json_object_object_get_ex(body, "messages", &v);
        return check_messages(p, v, err);
    case LLM_OP_COMPLETION:
        return check_text_input(p, body, "prompt", 1, err);
    case LLM_OP_EMBEDDINGS:
        if (*stream) {
            return invalid(p, "stream", "false (embeddings do not stream)",
                           err);
        }
        return check_text_input(p, body, "input", 1, err);
    case LLM_OP_RESPONSES:
        return check_text_input(p, body, "input", 0, err);
    case LLM_OP_MESSAGES:
        return check_anthropic(p, body, err);
    default:
        return 0;
    }
}

/* stream: a boolean when present, else @a dflt. */
static int check_stream(apr_pool_t *p, json_object *body, int dflt,
                        int *stream, llm_error_t *err)
{
    json_object *v;

    *stream = dflt;
    if (json_object_object_get_ex(body, "stream", &v) && v) {
        if (!json_object_is_type(v, json_type_boolean)) {
            return invalid(p, "stream", "a boolean", err);
        }
        *stream = json_object_get_boolean(v);
    }
    return 0;
}

static int check_string_field(apr_pool_t *p, json_object *body,
                              const char *field, int required,
                              llm_error_t *err)
{
    json_object *v;

    if (!json_object_object_get_ex(body, field, &v) || !v) {
        return required ? missing(p, field, "a string", err) : 0;
    }
    return is_string(v) ? 0 : invalid(p, field, "a string", err);
}

static int check_object_field(apr_pool_t *p, json_object *body,
                              const char *field, llm_error_t *err)
{
    json_object *v;

    if (json_object_object_get_ex(body, field, &v) && v
        && !json_object_is_type(v, json_type_object)) {
        return invalid(p, field, "an object", err);
    }
    return 0;
}

/* Anthropic Messages: max_tokens is required there, and the roles of
 * "messages" are user and assistant only (the system prompt is the
 * top-level "system"). */
static int check_anthropic(apr_pool_t *p, json_object *body,
                           llm_error_t *err)
{
    json_object *v = NULL;
    size_t i;
    size_t n;

    if (!json_object_object_get_ex(body, "max_tokens", &v) || !v) {
        return missing(p, "max_tokens", "an integer >= 1", err);
    }
    if (!json_object_is_type(v, json_type_int)
        || json_object_get_int64(v) < 1) {
        return invalid(p, "max_tokens", "an integer >= 1", err);
    }
    if (json_object_object_get_ex(body, "system", &v) && v && !is_string(v)
        && !json_object_is_type(v, json_type_array)) {
        return invalid(p, "system", "a string or an array of text blocks",
                       err);
    }
    json_object_object_get_ex(body, "messages", &v);
    if (check_messages(p, v, err) < 0) {
        return -1;
    }
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(v, i);
        json_object *role = json_object_object_get(m, "role");
        json_object *content = json_object_object_get(m, "content");
        const char *r = json_object_get_string(role);

        if (strcmp(r, "user") && strcmp(r, "assistant")) {
            return invalid(p, apr_psprintf(p, "messages[%" APR_SIZE_T_FMT
                                           "].role", (apr_size_t)i),
                           "\"user\" or \"assistant\" (the system prompt "
                           "is the top-level \"system\")", err);
        }
        if (!content || (!is_string(content)
                         && !json_object_is_type(content, json_type_array))) {
            return invalid(p, apr_psprintf(p, "messages[%" APR_SIZE_T_FMT
                                           "].content", (apr_size_t)i),
                           "a string or an array of content blocks", err);
        }
    }
    return 0;
}

static int check_ollama(apr_pool_t *p, llm_wire_e wire, json_object *body,
                        llm_error_t *err)
{
    json_object *v = NULL;

    if (check_object_field(p, body, "options", err) < 0) {
        return -1;
    }
    if (json_object_object_get_ex(body, "images", &v) && v
        && !json_object_is_type(v, json_type_array)) {
        return invalid(p, "images", "an array of base64 strings", err);
    }
    if (wire == LLM_WIRE_OLLAMA_GENERATE) {
        if (check_string_field(p, body, "system", 0, err) < 0) {
            return -1;
        }
        return check_string_field(p, body, "prompt", 1, err);
    }
    json_object_object_get_ex(body, "messages", &v);
    return check_messages(p, v, err);
}

static int check_embeddings(apr_pool_t *p, llm_wire_e wire, json_object *body,
                            llm_error_t *err)
{
    if (wire == LLM_WIRE_OLLAMA_GENERATE) {
        return check_string_field(p, body, "prompt", 1, err);
    }
    return check_text_input(p, body, "input", 1, err);
}

llm_wire_e llm_wire_of_request(const llm_endpoint_t *ep, json_object *body)
{
    json_object *v;

    /* {P}/embeddings: Ollama's legacy route and an OpenAI alias at once.
     * Ollama's clients send "prompt", OpenAI's "input". */
    if (ep->op == LLM_OP_EMBEDDINGS && ep->prefixed
        && !strcmp(ep->route, "/embeddings") && body
        && json_object_object_get_ex(body, "prompt", &v)
        && !json_object_object_get_ex(body, "input", &v)) {
        return LLM_WIRE_OLLAMA_GENERATE;
    }
    return ep->wire;
}

static int is_ollama_wire(llm_wire_e wire)
{
    return wire == LLM_WIRE_OLLAMA_CHAT || wire == LLM_WIRE_OLLAMA_GENERATE;
}

static int check_show(apr_pool_t *p, json_object *body,
                      const char **model_name, llm_error_t *err)
{
    json_object *v = NULL;

    /* Ollama's /api/show took "name" before "model". */
    if ((!json_object_object_get_ex(body, "model", &v) || !v)
        && (!json_object_object_get_ex(body, "name", &v) || !v)) {
        return missing(p, "model", "the name of a model", err);
    }
    return check_name(p, "model", v, model_name, err);
}

int llm_request_validate_endpoint(apr_pool_t *p, const llm_endpoint_t *ep,
                                  json_object *body, const char **model_name,
                                  int *stream, llm_error_t *err)
{
    llm_wire_e wire = llm_wire_of_request(ep, body);
    json_object *msgs = NULL;

    if (ep->builtin != LLM_BUILTIN_NONE) {
        return llm_builtin_validate(p, ep->builtin, body, model_name, stream,
                                    err);
    }
    if (ep->info == LLM_INFO_SHOW) {
        *stream = 0;
        return check_show(p, body, model_name, err);
    }
    if (check_model(p, body, model_name, err) < 0
        || check_stream(p, body, is_ollama_wire(wire), stream, err) < 0) {
        return -1;
    }
    if (ep->op == LLM_OP_EMBEDDINGS) {
        if (*stream && !is_ollama_wire(wire)) {
            return invalid(p, "stream", "false (embeddings do not stream)",
                           err);
        }
        /* Ollama's embedding routes take no "stream": its default (true)
         * means nothing there. */
        *stream = 0;
        return check_embeddings(p, wire, body, err);
    }
    switch (wire) {
    case LLM_WIRE_OLLAMA_CHAT:
    case LLM_WIRE_OLLAMA_GENERATE:
        return check_ollama(p, wire, body, err);
    case LLM_WIRE_ANTHROPIC:
        return check_anthropic(p, body, err);
    case LLM_WIRE_OPENAI_COMPLETION:
        return check_text_input(p, body, "prompt", 1, err);
    case LLM_WIRE_OPENAI_RESPONSES:
        return check_text_input(p, body, "input", 0, err);
    default:
        json_object_object_get_ex(body, "messages", &msgs);
        return check_messages(p, msgs, err);
    }
}

/* ------------------------------------------------------------------ */
/* Upstream                                                            */
/* ------------------------------------------------------------------ */

int llm_dialect_reaches(const llm_endpoint_t *endpoint, llm_api_type_e t)
{
    if (endpoint->dialect != LLM_DIALECT_OPENAI) {
        return 0;
    }
    /* Ollama serves the OpenAI API under /v1 as well; its native API is
     * used once the dialect translation lands (see docs/dialects.md). */
    return t == LLM_API_OPENAI || t == LLM_API_VLLM
           || t == LLM_API_LMSTUDIO || t == LLM_API_OLLAMA;
}

static const char *openai_path(llm_op_e op)
{
    switch (op) {
    case LLM_OP_COMPLETION: return "/v1/completions";
    case LLM_OP_EMBEDDINGS: return "/v1/embeddings";
    case LLM_OP_RESPONSES:  return "/v1/responses";
    default:                return "/v1/chat/completions";
    }
}

const char *llm_upstream_url(apr_pool_t *p, const llm_endpoint_t *endpoint,
                             const llm_provider_t *provider)
{
    const char *path = openai_path(endpoint->op);
    apr_size_t n = strlen(provider->api_host);

    /* A base URL written the OpenAI-SDK way ("http://h:8000/v1") must not
     * become ".../v1/v1/chat/completions". */
    if (n >= 3 && !strcmp(provider->api_host + n - 3, "/v1")) {
        path += 3;
    }
    return apr_pstrcat(p, provider->api_host, path, NULL);
}

/* Fields a provider without tool calling must not see: sending "tools"
 * to such a server fails the whole request, and a tool_choice without
 * tools is itself an error. */
static const char *const tool_fields[] = {
    "tools", "functions", "tool_choice", "function_call",
    "parallel_tool_calls", NULL
};

static int in_list(const char *key, const char *const *list)
{
    for (; *list; list++) {
        if (!strcmp(key, *list)) {
            return 1;
        }
    }
    return 0;
}

/* Decide what happens to one top-level field on its way to @a pr:
 * 0 keep, 1 drop. */
static int drop_field(const char *key, json_object *val,
                      const llm_provider_t *pr)
{
    if (!strcmp(key, "model") || !strcmp(key, "model_name")) {
        return 1;                       /* re-added below */
    }
    if (!pr->tool_calling && in_list(key, tool_fields)) {
        return 1;
    }
    if (pr->api_type == LLM_API_VLLM) {
        /* The original router's vLLM mapping: "language" belongs to its
         * built-in endpoints, and vLLM rejects max_tokens < 1. */
        if (!strcmp(key, "language")) {
            return 1;
        }
        if (!strcmp(key, "max_tokens") && json_object_get_int64(val) < 1) {
            return 1;
        }
    }
    return 0;
}

json_object *llm_request_for_provider(json_object *body,
                                      const llm_model_t *model,
                                      const llm_provider_t *pr,
                                      const char **text, apr_size_t *len)
{
    json_object *out = json_object_new_object();
    json_object *mnt;
    size_t n;
    const char *upstream_model = *pr->model_path ? pr->model_path
                                                 : model->name;

    /* The model first, as clients usually send it. The values of the
     * client's object are shared by reference count, not copied; keys
     * are borrowed (the client's object outlives this one). */
    json_object_object_add_ex(out, "model",
                              json_object_new_string(upstream_model),
                              JSON_C_OBJECT_ADD_KEY_IS_NEW
                              | JSON_C_OBJECT_KEY_IS_CONSTANT);
    json_object_object_foreach(body, key, val) {
        if (drop_field(key, val, pr)) {
            continue;
        }
        if (pr->api_type == LLM_API_VLLM && !strcmp(key, "max_new_tokens")) {
            if (json_object_object_get_ex(body, "max_tokens", &mnt)) {
                continue;
            }
            key = "max_tokens";
            if (json_object_get_int64(val) < 1) {
                continue;
            }
        }
        json_object_object_add_ex(out, key, json_object_get(val),
                                  JSON_C_OBJECT_KEY_IS_CONSTANT);
    }
    *text = json_object_to_json_string_length(
                out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                &n);
    *len = n;
    return out;
}

/* ------------------------------------------------------------------ */
/* Error bodies                                                        */
/* ------------------------------------------------------------------ */

static const char *openai_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "invalid_request_error";
    case 429: return "rate_limit_error";
    default:  return status < 500 ? "invalid_request_error" : "api_error";
    }
}

const char *llm_error_json_openai(apr_pool_t *p, int status,
                                  const char *type, const char *code,
                                  const char *param, const char *message)
{
    return apr_pstrcat(p, "{\"error\":{\"message\":",
                       llm_json_quote(p, message), ",\"type\":",
                       llm_json_quote(p, type ? type
                                              : openai_error_type(status)),
                       ",\"param\":",
                       param ? llm_json_quote(p, param) : "null",
                       ",\"code\":",
                       code ? llm_json_quote(p, code) : "null", "}}\n",
                       NULL);
}
