/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Which wire a request travels on, and where: the choice of the provider's
 * API for a client's request, its path and URL, and the small helpers the
 * translators share. The translations themselves are in
 * llm_xlate_ingress.c (client -> canonical), llm_xlate_egress.c
 * (canonical -> provider), llm_xlate_embed.c (embeddings) and
 * llm_xlate_error.c (error bodies).
 */

#include <string.h>

#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_xlate.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

int llm_xlate_fail(llm_error_t *err, int status, const char *code,
                   const char *param, const char *message)
{
    err->status = status;
    err->code = code;
    err->param = param;
    err->message = message;
    return -1;
}

int llm_xlate_share(json_object *dst, const char *key, json_object *src,
                    const char *from)
{
    json_object *v = llm_json_get(src, from);

    if (!v) {
        return 0;
    }
    json_object_object_add(dst, key, json_object_get(v));
    return 1;
}

const char *llm_xlate_json_text(apr_pool_t *p, json_object *v)
{
    return apr_pstrdup(p, json_object_to_json_string_ext(
                              v, JSON_C_TO_STRING_PLAIN
                                 | JSON_C_TO_STRING_NOSLASHESCAPE));
}

int llm_op_is_chat(llm_op_e op)
{
    return op == LLM_OP_CHAT || op == LLM_OP_RESPONSES
           || op == LLM_OP_MESSAGES;
}

/* ------------------------------------------------------------------ */
/* Wires                                                               */
/* ------------------------------------------------------------------ */

llm_wire_e llm_wire_of_endpoint(const llm_endpoint_t *endpoint)
{
    return endpoint->wire;
}

int llm_provider_serves(llm_api_type_e type, llm_op_e op)
{
    if (op == LLM_OP_INFO) {
        return 0;
    }
    /* Anthropic has no embeddings API (it points to Voyage AI). */
    return !(type == LLM_API_ANTHROPIC && op == LLM_OP_EMBEDDINGS);
}

static int openai_like(llm_api_type_e type)
{
    return type == LLM_API_OPENAI || type == LLM_API_VLLM
           || type == LLM_API_LMSTUDIO;
}

llm_wire_e llm_wire_for_provider(llm_api_type_e type, llm_op_e op,
                                 llm_wire_e client_wire)
{
    if (type == LLM_API_ANTHROPIC) {
        return LLM_WIRE_ANTHROPIC;
    }
    if (type == LLM_API_OLLAMA) {
        return op == LLM_OP_COMPLETION ? LLM_WIRE_OLLAMA_GENERATE
                                       : LLM_WIRE_OLLAMA_CHAT;
    }
    if (!openai_like(type)) {
        return LLM_WIRE_OPENAI_CHAT;
    }
    switch (op) {
    case LLM_OP_COMPLETION:
        return LLM_WIRE_OPENAI_COMPLETION;
    case LLM_OP_RESPONSES:
        /* Their own Responses API keeps server-side state and hosted
         * tools that a chat translation would lose. */
        return client_wire == LLM_WIRE_OPENAI_RESPONSES
               ? LLM_WIRE_OPENAI_RESPONSES : LLM_WIRE_OPENAI_CHAT;
    default:
        /* LM Studio clients too: the original sent them to
         * /v1/chat/completions, and the encoder makes the LM Studio
         * answer from OpenAI's. */
        return LLM_WIRE_OPENAI_CHAT;
    }
}

static const char *embeddings_path(llm_wire_e wire)
{
    switch (wire) {
    case LLM_WIRE_OLLAMA_CHAT:     return "/api/embed";
    case LLM_WIRE_OLLAMA_GENERATE: return "/api/embeddings";
    case LLM_WIRE_LMSTUDIO_CHAT:   return "/api/v0/embeddings";
    default:                       return "/v1/embeddings";
    }
}

const char *llm_wire_path(llm_wire_e wire, llm_op_e op)
{
    if (op == LLM_OP_EMBEDDINGS) {
        return embeddings_path(wire);
    }
    switch (wire) {
    case LLM_WIRE_OPENAI_COMPLETION: return "/v1/completions";
    case LLM_WIRE_OPENAI_RESPONSES:  return "/v1/responses";
    case LLM_WIRE_OLLAMA_CHAT:       return "/api/chat";
    case LLM_WIRE_OLLAMA_GENERATE:   return "/api/generate";
    case LLM_WIRE_ANTHROPIC:         return "/v1/messages";
    case LLM_WIRE_LMSTUDIO_CHAT:
        return op == LLM_OP_COMPLETION ? "/api/v0/completions"
                                       : "/api/v0/chat/completions";
    default:                         return "/v1/chat/completions";
    }
}

const char *llm_upstream_url_for(apr_pool_t *p, const llm_provider_t *pr,
                                 llm_wire_e wire, llm_op_e op)
{
    const char *path = llm_wire_path(wire, op);
    const char *host = pr->api_host;
    apr_size_t n = strlen(host);

    /* A base URL written the OpenAI-SDK way ("http://h:8000/v1") names
     * the /v1 API: it must not become ".../v1/v1/chat/completions", and
     * the native paths ("/api/chat") sit beside it, not below. */
    if (n >= 3 && !strcmp(host + n - 3, "/v1")) {
        if (!strncmp(path, "/v1/", 4)) {
            path += 3;
        }
        else {
            host = apr_pstrmemdup(p, host, n - 3);
        }
    }
    return apr_pstrcat(p, host, path, NULL);
}

void llm_xlate_fit_provider(json_object *body, llm_api_type_e type)
{
    /* vLLM, LM Studio and Ollama take top_k; OpenAI's API answers 400
     * "Unrecognized request argument" to it. */
    if (type == LLM_API_OPENAI && body) {
        json_object_object_del(body, "top_k");
    }
}
