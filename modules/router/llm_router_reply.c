/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What the gateway writes itself: JSON answers, and errors in the
 * client's dialect, its own and the ones httpd decides on our routes.
 */

#include <stdlib.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

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

    llm_router_note_error(r, rq, status, code, message);
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

/* httpd refused the request before translate_name claimed it (a bad
 * Content-Length, a header too long): the server's configuration is
 * all there is to say whether the URI is ours. */
static llm_router_req_t *claim_refused(request_rec *r)
{
    if (r->prev || r->main || !r->per_dir_config || llm_router_req(r)) {
        return NULL;            /* an ErrorDocument's, or too early */
    }
    return llm_router_claim(r, ap_get_module_config(r->per_dir_config,
                                                    &llm_router_module));
}

/* mod_llm_access says why it refused (notes in mod_llm.h): its code
 * and message, when this page is of the status it refused with. */
static int access_refusal(request_rec *r, llm_router_req_t *rq)
{
    const char *status = apr_table_get(r->notes, LLM_NOTE_ACCESS_STATUS);
    const char *code = apr_table_get(r->notes, LLM_NOTE_ACCESS_CODE);
    const char *message = apr_table_get(r->notes, LLM_NOTE_ACCESS_MESSAGE);

    if (!status || !code || !message || atoi(status) != r->status) {
        return 0;
    }
    llm_router_note_error(r, rq, r->status, code, message);
    return 1;
}

void llm_router_insert_error_filter(request_rec *r)
{
    llm_router_req_t *rq = llm_router_req_here(r);
    const char *line;

    if (!rq && r->status >= 400) {
        rq = claim_refused(r);
    }
    if (!rq || r->status < 400 || rq->pub.error_code) {
        return;
    }
    if (!access_refusal(r, rq)) {
        line = ap_get_status_line(r->status);
        llm_router_note_error(r, rq, r->status, httpd_error_code(r->status),
                              apr_pstrcat(r->pool, "The server refused the "
                                          "request: ", line + 4, ".", NULL));
    }
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
