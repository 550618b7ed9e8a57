/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The routes the gateway answers itself, from its models table and
 * nothing else: ping and version, the model lists of each API (OpenAI's
 * /v1/models and /v1/models/{id}, LM Studio's /api/v0/models, Ollama's
 * tags, show and ps, and the "Ollama is running" of its /), and
 * fast_text_mask, answered by mod_llm_mask.
 *
 * With mod_llm_access, a request authenticated by an API key sees only
 * the models its key may use (llm_access_model_allowed): the lists leave
 * the others out, and /v1/models/{id} and Ollama's show refuse them as a
 * chat with them is refused (403 model_denied_by_policy).
 */

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include <json-c/json.h>

#include "llm_router_private.h"

/* mod_llm_access's llm_access_model_allowed, looked up at start-up
 * (llm_router_info_retrieve); NULL when the module is not loaded: every
 * model is listed. */
static APR_OPTIONAL_FN_TYPE(llm_access_model_allowed) *allowed_fn;

void llm_router_info_retrieve(void)
{
    allowed_fn = APR_RETRIEVE_OPTIONAL_FN(llm_access_model_allowed);
}

static int visible(request_rec *r, const llm_model_t *m)
{
    return !allowed_fn || allowed_fn(r, m->name);
}

/* A model the key may not use: what a chat with it answers (the names
 * of models are no secret from key holders; lists leave them out so
 * that a client sees what it can use). */
static int send_denied(request_rec *r)
{
    return llm_router_send_error(r, HTTP_FORBIDDEN, LLM_MODEL_DENIED_CODE,
                                 LLM_MODEL_DENIED_MESSAGE);
}

/* The api_type a model is "owned by" in lists: its first provider's. */
static const char *owner(const llm_model_t *m)
{
    return llm_api_type_name(APR_ARRAY_IDX(m->providers, 0,
                                           llm_provider_t *)->api_type);
}

static const char *models_list(request_rec *r, const llm_models_t *models)
{
    const char *created;
    const char *data = "";
    int i;

    if (!models) {
        return "{\"object\":\"list\",\"data\":[]}\n";
    }
    /* "created" is when this gateway loaded the model, a stable integer
     * (the original gave the time of each request, as a float on
     * /models). */
    created = apr_ltoa(r->pool, (long)apr_time_sec(models->loaded_at));
    for (i = 0; i < models->models->nelts; i++) {
        const llm_model_t *m = APR_ARRAY_IDX(models->models, i,
                                             llm_model_t *);

        if (!visible(r, m)) {
            continue;
        }
        data = apr_pstrcat(r->pool, data, *data ? "," : "",
                           "{\"id\":", llm_json_quote(r->pool, m->name),
                           ",\"object\":\"model\",\"created\":", created,
                           ",\"owned_by\":",
                           llm_json_quote(r->pool, owner(m)), "}", NULL);
    }
    return apr_pstrcat(r->pool, "{\"object\":\"list\",\"data\":[", data,
                       "]}\n", NULL);
}

/* Ollama's /api/tags: what the ollama clients list. Sizes, digests and
 * quantisation are the provider's business and are not known here: left
 * empty rather than made up (the original invented "4bit"/"mlx" and
 * leaked each provider's address). */
static const char *ollama_model(request_rec *r, const llm_models_t *models,
                                const llm_model_t *m)
{
    char when[APR_RFC822_DATE_LEN + 40];
    apr_time_exp_t t;
    apr_size_t n;
    const char *name = llm_json_quote(r->pool, m->name);

    apr_time_exp_gmt(&t, models->loaded_at);
    apr_strftime(when, &n, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &t);
    return apr_pstrcat(r->pool, "{\"name\":", name, ",\"model\":", name,
                       ",\"modified_at\":\"", when, "\",\"size\":0,"
                       "\"digest\":\"\",\"details\":{\"parent_model\":\"\","
                       "\"format\":\"\",\"family\":",
                       llm_json_quote(r->pool, owner(m)),
                       ",\"families\":null,\"parameter_size\":\"\","
                       "\"quantization_level\":\"\"}}", NULL);
}

static const char *tags_list(request_rec *r, const llm_models_t *models)
{
    const char *data = "";
    int i;

    for (i = 0; models && i < models->models->nelts; i++) {
        const llm_model_t *m = APR_ARRAY_IDX(models->models, i,
                                             llm_model_t *);

        if (visible(r, m)) {
            data = apr_pstrcat(r->pool, data, *data ? "," : "",
                               ollama_model(r, models, m), NULL);
        }
    }
    return apr_pstrcat(r->pool, "{\"models\":[", data, "]}\n", NULL);
}

static int is_embedding_model(const llm_model_t *m)
{
    return APR_ARRAY_IDX(m->providers, 0, llm_provider_t *)->is_embedding;
}

/* LM Studio's /api/v0/models. */
static const char *lmstudio_list(request_rec *r, const llm_models_t *models)
{
    const char *data = "";
    int i;

    for (i = 0; models && i < models->models->nelts; i++) {
        const llm_model_t *m = APR_ARRAY_IDX(models->models, i,
                                             llm_model_t *);
        const llm_provider_t *first = APR_ARRAY_IDX(m->providers, 0,
                                                    llm_provider_t *);

        if (!visible(r, m)) {
            continue;
        }
        data = apr_pstrcat(r->pool, data, *data ? "," : "",
            "{\"id\":", llm_json_quote(r->pool, m->name),
            ",\"object\":\"model\",\"type\":\"",
            is_embedding_model(m) ? "embeddings" : "llm",
            "\",\"publisher\":", llm_json_quote(r->pool, owner(m)),
            ",\"arch\":\"\",\"compatibility_type\":\"\","
            "\"quantization\":\"\",\"state\":\"loaded\","
            "\"max_context_length\":",
            apr_off_t_toa(r->pool, (apr_off_t)first->input_size), "}", NULL);
    }
    return apr_pstrcat(r->pool, "{\"object\":\"list\",\"data\":[", data,
                       "]}\n", NULL);
}

/* Ollama's /api/show for one model named in the body. */
static int send_show(request_rec *r, llm_router_req_t *rq)
{
    llm_error_t err = { 0 };
    const char *buf;
    apr_size_t len;
    const char *name = NULL;
    int stream;
    const llm_model_t *m;
    struct json_object *body;
    int rc;

    if ((rc = llm_router_read_body(r, llm_router_max_body(rq->conf), &buf,
                                   &len)) != OK) {
        return rc;
    }
    body = llm_request_parse_max(r->pool, buf, len,
                                 llm_router_max_objects(rq->conf), &err);
    if (!body || llm_request_validate_endpoint(r->pool, rq->endpoint, body,
                                               &name, &stream, &err) < 0) {
        if (body) {
            json_object_put(body);
        }
        return llm_router_send_error_param(r, err.status, err.code,
                                           err.param, err.message);
    }
    name = apr_pstrdup(r->pool, name);      /* it lived in the body */
    json_object_put(body);
    m = rq->pub.models ? llm_models_find(rq->pub.models, name) : NULL;
    if (!m) {
        return llm_router_send_error(r, HTTP_NOT_FOUND, "model_not_found",
            apr_psprintf(r->pool, "model '%s' not found", name));
    }
    if (!visible(r, m)) {
        return send_denied(r);
    }
    return llm_router_send_json(r, HTTP_OK, apr_pstrcat(r->pool,
        "{\"modelfile\":\"\",\"parameters\":\"\",\"template\":\"\","
        "\"details\":{\"parent_model\":\"\",\"format\":\"\",\"family\":",
        llm_json_quote(r->pool, owner(m)), ",\"families\":null,"
        "\"parameter_size\":\"\",\"quantization_level\":\"\"},"
        "\"model_info\":{},\"capabilities\":[\"",
        is_embedding_model(m) ? "embedding" : "completion",
        APR_ARRAY_IDX(m->providers, 0, llm_provider_t *)->tool_calling
            ? "\",\"tools" : "", "\"]}\n", NULL));
}

/* GET /v1/models/{id}: OpenAI's model object, or Anthropic's when the
 * client sends anthropic-version (both SDKs' models.retrieve). Model
 * names may hold '/' (vLLM's "org/name"): the rest of the path is it. */
static int send_model(request_rec *r, llm_router_req_t *rq)
{
    char *id = apr_pstrdup(r->pool, r->uri + strlen("/v1/models/"));
    const llm_model_t *m;
    char when[64];
    apr_time_exp_t t;
    apr_size_t n;
    apr_time_t loaded;

    ap_unescape_url(id);
    if (apr_table_get(r->headers_in, "anthropic-version")) {
        rq->wire = LLM_WIRE_ANTHROPIC;      /* its errors in its shape */
    }
    m = rq->pub.models ? llm_models_find(rq->pub.models, id) : NULL;
    if (!m) {
        return llm_router_send_error_param(r, HTTP_NOT_FOUND,
            "model_not_found", "model", apr_psprintf(r->pool,
            "The model '%s' does not exist or is not active.", id));
    }
    if (!visible(r, m)) {
        return send_denied(r);
    }
    loaded = rq->pub.models->loaded_at;
    if (rq->wire == LLM_WIRE_ANTHROPIC) {
        apr_time_exp_gmt(&t, loaded);
        apr_strftime(when, &n, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &t);
        return llm_router_send_json(r, HTTP_OK, apr_pstrcat(r->pool,
            "{\"type\":\"model\",\"id\":", llm_json_quote(r->pool, m->name),
            ",\"display_name\":", llm_json_quote(r->pool, m->name),
            ",\"created_at\":\"", when, "\"}\n", NULL));
    }
    return llm_router_send_json(r, HTTP_OK, apr_pstrcat(r->pool,
        "{\"id\":", llm_json_quote(r->pool, m->name),
        ",\"object\":\"model\",\"created\":",
        apr_ltoa(r->pool, (long)apr_time_sec(loaded)), ",\"owned_by\":",
        llm_json_quote(r->pool, owner(m)), "}\n", NULL));
}

/* {P}/fast_text_mask: {"text": "..."} masked by mod_llm_mask. */
static int send_fast_text_mask(request_rec *r, llm_router_req_t *rq)
{
    APR_OPTIONAL_FN_TYPE(llm_mask_fast_text) *mask =
        APR_RETRIEVE_OPTIONAL_FN(llm_mask_fast_text);
    llm_error_t err = { 0 };
    const char *buf;
    apr_size_t len;
    struct json_object *body;
    struct json_object *text = NULL;
    const char *answer;
    int rc;

    if (!mask) {
        return llm_router_send_error(r, HTTP_NOT_IMPLEMENTED,
                                     "masking_unavailable",
                                     "Masking needs mod_llm_mask.");
    }
    if ((rc = llm_router_read_body(r, llm_router_max_body(rq->conf), &buf,
                                   &len)) != OK) {
        return rc;
    }
    if (!(body = llm_request_parse_max(r->pool, buf, len,
                                       llm_router_max_objects(rq->conf),
                                       &err))) {
        return llm_router_send_error_param(r, err.status, err.code,
                                           err.param, err.message);
    }
    if (!json_object_object_get_ex(body, "text", &text)
        || !json_object_is_type(text, json_type_string)) {
        json_object_put(body);
        return llm_router_send_error_param(r, HTTP_BAD_REQUEST,
            text ? "invalid_type" : "missing_required_parameter", "text",
            "\"text\" must be a string.");
    }
    answer = mask(r, json_object_get_string(text),
                  (apr_size_t)json_object_get_string_len(text));
    json_object_put(body);
    return llm_router_send_json(r, HTTP_OK, answer);
}

/* What Ollama answers on /, so that its clients find a server here. */
static int send_ollama_home(request_rec *r)
{
    r->status = HTTP_OK;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_set_content_length(r, 17);
    if (!r->header_only) {
        ap_rwrite("Ollama is running", 17, r);
    }
    return DONE;
}

int llm_router_serve_info(request_rec *r, llm_router_req_t *rq)
{
    switch (rq->endpoint->info) {
    case LLM_INFO_PING:
        return llm_router_send_json(r, HTTP_OK, "{\"body\":\"pong\",\"status\":true}\n");
    case LLM_INFO_VERSION:
        return llm_router_send_json(r, HTTP_OK,
                         "{\"version\":\"" LLM_VERSION_STRING "\"}\n");
    case LLM_INFO_MODELS:
        return llm_router_send_json(r, HTTP_OK, models_list(r, rq->pub.models));
    case LLM_INFO_TAGS:
        return llm_router_send_json(r, HTTP_OK, tags_list(r, rq->pub.models));
    case LLM_INFO_LMSTUDIO_MODELS:
        return llm_router_send_json(r, HTTP_OK, lmstudio_list(r, rq->pub.models));
    case LLM_INFO_SHOW:
        return send_show(r, rq);
    case LLM_INFO_MODEL:
        return send_model(r, rq);
    case LLM_INFO_FAST_TEXT_MASK:
        return send_fast_text_mask(r, rq);
    case LLM_INFO_PS:
        return llm_router_send_json(r, HTTP_OK, "{\"models\":[]}\n");
    case LLM_INFO_OLLAMA_HOME:
        return send_ollama_home(r);
    default:
        return llm_router_send_error(r, HTTP_NOT_FOUND, "unknown_route",
                                     "Unknown route.");
    }
}
