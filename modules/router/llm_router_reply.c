/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What the gateway answers itself: errors in the client's dialect, and
 * the built-in endpoints (ping, version, model lists).
 */

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include <json-c/json.h>

#include "llm_router_private.h"
#include "llm_xlate.h"

/* Returns DONE: the response is written, nothing else may be. */
int llm_router_send_json(request_rec *r, int status, const char *body)
{
    apr_size_t len = strlen(body);

    r->status = status;
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(body, (int)len, r);
    }
    return DONE;
}

int llm_router_send_error_param(request_rec *r, int status, const char *code,
                                const char *param, const char *message)
{
    llm_router_req_t *rq = llm_router_req(r);
    llm_error_t err;

    if (rq) {
        rq->pub.status = status;
        rq->pub.error_code = code;
        rq->pub.error_message = message;
    }
    apr_table_setn(r->notes, LLM_NOTE_ERROR, code);
    /* Refusals of the client's request are logged here, once; failures
     * on our side (5xx) are logged where their cause is known. */
    if (status < 500) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(01040)
                      "%s %s: %d %s: %s", r->method, r->uri, status, code,
                      message);
    }
    /* In the shape of the client's API (OpenAI, Anthropic, Ollama). */
    err.status = status;
    err.code = code;
    err.param = param;
    err.message = message;
    return llm_router_send_json(r, status, llm_error_json_for_error(
                         r->pool, rq ? rq->wire : LLM_WIRE_OPENAI_CHAT,
                         &err));
}

int llm_router_send_error(request_rec *r, int status, const char *code,
                          const char *message)
{
    return llm_router_send_error_param(r, status, code, NULL, message);
}

/* ------------------------------------------------------------------ */
/* Errors httpd answers itself on our routes                           */
/* ------------------------------------------------------------------ */

/* When httpd refuses one of our requests before the handler runs (auth:
 * 401 and 403; 408; LimitRequestBody's 413; ...), it writes its HTML
 * error page. Clients of an LLM API expect JSON: for our routes the page
 * becomes a JSON error in the client's dialect, with httpd's status and
 * headers (WWW-Authenticate, Allow, ...) kept. */
static const char *httpd_error_code(int status)
{
    switch (status) {
    case HTTP_UNAUTHORIZED:             return "unauthorized";
    case HTTP_FORBIDDEN:                return "forbidden";
    case HTTP_NOT_FOUND:                return "not_found";
    case HTTP_METHOD_NOT_ALLOWED:       return "method_not_allowed";
    case HTTP_REQUEST_TIME_OUT:         return "request_timeout";
    case HTTP_REQUEST_ENTITY_TOO_LARGE: return "request_too_large";
    case HTTP_TOO_MANY_REQUESTS:        return "rate_limit_exceeded";
    case HTTP_SERVICE_UNAVAILABLE:      return "service_unavailable";
    default:                            return status < 500 ? "bad_request"
                                                            : "server_error";
    }
}

void llm_router_insert_error_filter(request_rec *r)
{
    llm_router_req_t *rq = ap_get_module_config(r->request_config,
                                                &llm_router_module);
    const char *line;

    if (!rq || r->status < 400 || rq->pub.error_code) {
        return;
    }
    line = ap_get_status_line(r->status);
    rq->pub.status = r->status;
    rq->pub.error_code = httpd_error_code(r->status);
    rq->pub.error_message = apr_pstrcat(r->pool, "The server refused the "
                                        "request: ", line + 4, ".", NULL);
    apr_table_setn(r->notes, LLM_NOTE_ERROR, rq->pub.error_code);
    ap_custom_response(r, r->status,
                       llm_error_json_for(r->pool, rq->wire, r->status,
                                          rq->pub.error_code,
                                          rq->pub.error_message));
    ap_add_output_filter(LLM_ERROR_FILTER, NULL, r, r->connection);
}

/* httpd labels every error page text/html after the hook above ran. */
apr_status_t llm_error_type_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* ------------------------------------------------------------------ */
/* Built-in endpoints                                                  */
/* ------------------------------------------------------------------ */

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

        data = apr_pstrcat(r->pool, data, i ? "," : "",
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
        data = apr_pstrcat(r->pool, data, i ? "," : "",
                           ollama_model(r, models, APR_ARRAY_IDX(
                               models->models, i, llm_model_t *)), NULL);
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

        data = apr_pstrcat(r->pool, data, i ? "," : "",
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
    body = llm_request_parse(r->pool, buf, len, &err);
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
    if (!(body = llm_request_parse(r->pool, buf, len, &err))) {
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

int llm_router_send_info(request_rec *r, llm_router_req_t *rq)
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
        /* What Ollama answers, so that its clients find a server here. */
        r->status = HTTP_OK;
        ap_set_content_type(r, "text/plain; charset=utf-8");
        ap_set_content_length(r, 17);
        if (!r->header_only) {
            ap_rwrite("Ollama is running", 17, r);
        }
        return DONE;
    default:
        return llm_router_send_error(r, HTTP_NOT_FOUND, "unknown_route",
                                     "Unknown route.");
    }
}
