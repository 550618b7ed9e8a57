/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Error bodies: written in the client's dialect, read in any provider's.
 */

#include <string.h>

#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_xlate.h"

/* Anthropic's error types, by status (its API reference, "Errors"). */
static const char *anthropic_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 503:
    case 529: return "overloaded_error";
    default:  return status < 500 ? "invalid_request_error" : "api_error";
    }
}

static const char *error_json(apr_pool_t *p, llm_wire_e wire, int status,
                              const char *code, const char *param,
                              const char *message)
{
    switch (wire) {
    case LLM_WIRE_ANTHROPIC:
        return apr_pstrcat(p, "{\"type\":\"error\",\"error\":{\"type\":",
                           llm_json_quote(p, anthropic_error_type(status)),
                           ",\"message\":", llm_json_quote(p, message),
                           "}}\n", NULL);
    case LLM_WIRE_OLLAMA_CHAT:
    case LLM_WIRE_OLLAMA_GENERATE:
        return apr_pstrcat(p, "{\"error\":", llm_json_quote(p, message),
                           "}\n", NULL);
    default:
        return llm_error_json_openai(p, status, NULL, code, param, message);
    }
}

const char *llm_error_json_for(apr_pool_t *p, llm_wire_e wire, int status,
                               const char *code, const char *message)
{
    return error_json(p, wire, status, code, NULL, message);
}

const char *llm_error_json_for_error(apr_pool_t *p, llm_wire_e wire,
                                     const llm_error_t *err)
{
    return error_json(p, wire, err->status, err->code, err->param,
                      err->message);
}

/* The message is for people (the client's error body, the log), and a
 * C string: an upstream's message ends at a NUL it holds. */
const char *llm_error_message_of(apr_pool_t *p, const char *buf,
                                 apr_size_t len)
{
    json_object *body = llm_json_parse(buf, len);
    json_object *e = llm_json_get(body, "error");
    const char *msg = NULL;

    if (e && json_object_is_type(e, json_type_string)) {
        msg = json_object_get_string(e);             /* Ollama */
    }
    else if (llm_json_str(e, "message", NULL)) {
        msg = llm_json_str(e, "message", NULL);           /* OpenAI, Anthropic */
    }
    else if (llm_json_str(body, "object", NULL)
             && !strcmp(llm_json_str(body, "object", NULL), "error")) {
        msg = llm_json_str(body, "message", NULL);        /* vLLM */
    }
    else if (llm_json_str(body, "detail", NULL)) {
        msg = llm_json_str(body, "detail", NULL);         /* FastAPI servers */
    }
    msg = msg ? apr_pstrdup(p, msg) : NULL;
    json_object_put(body);
    return msg;
}
