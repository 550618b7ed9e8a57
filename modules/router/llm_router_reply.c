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

#include "llm_router_private.h"

/* Returns DONE: the response is written, nothing else may be. */
static int send_json(request_rec *r, int status, const char *body)
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
    /* Every dialect of this release answers errors the OpenAI way; the
     * dialect of rq->pub picks the shape once others are served. */
    return send_json(r, status, llm_error_json_openai(r->pool, status, NULL,
                                                      code, param, message));
}

int llm_router_send_error(request_rec *r, int status, const char *code,
                          const char *message)
{
    return llm_router_send_error_param(r, status, code, NULL, message);
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

int llm_router_send_info(request_rec *r, llm_router_req_t *rq)
{
    switch (rq->endpoint->info) {
    case LLM_INFO_PING:
        return send_json(r, HTTP_OK, "{\"body\":\"pong\",\"status\":true}\n");
    case LLM_INFO_VERSION:
        return send_json(r, HTTP_OK,
                         "{\"version\":\"" LLM_VERSION_STRING "\"}\n");
    case LLM_INFO_MODELS:
        return send_json(r, HTTP_OK, models_list(r, rq->pub.models));
    default:
        return llm_router_send_error(r, HTTP_NOT_FOUND, "unknown_route",
                                     "Unknown route.");
    }
}
