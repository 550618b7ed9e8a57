/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The request path of mod_llm_router.
 *
 * translate_name (after the first <Location> walk, before httpd's auth):
 * is this URI one of our routes? If so the request becomes ours (handler
 * "llm-router") with a context in r->request_config, and map_to_storage
 * skips the filesystem for it. Nothing is read yet, so a request refused
 * by auth never costs us a body read.
 *
 * handler: read the body (capped), parse and validate it, resolve the
 * model, let other modules look at it (llm_request_parsed), and route
 * it (llm_router_route.c: providers, retries, fallback models; each
 * attempt through mod_proxy in llm_router_proxy.c). Every refusal is a JSON error in the
 * client's dialect (llm_router_reply.c).
 */

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include <json-c/json.h>

#include "llm_router_private.h"
#include "llm_xlate.h"
#include "llm_builtin.h"

/* ------------------------------------------------------------------ */
/* translate_name and map_to_storage                                   */
/* ------------------------------------------------------------------ */

int llm_router_translate(request_rec *r)
{
    llm_router_dir_conf_t *c = ap_get_module_config(r->per_dir_config,
                                                    &llm_router_module);

    if (!c->enabled || !ap_is_initial_req(r) || r->proxyreq
        || !llm_router_claim(r, c)) {
        return DECLINED;
    }
    r->handler = LLM_ROUTER_HANDLER;
    r->filename = apr_pstrcat(r->pool, LLM_ROUTER_HANDLER ":", r->uri, NULL);
    r->finfo.filetype = APR_NOFILE;
    return OK;
}

int llm_router_map_to_storage(request_rec *r)
{
    /* The URI names an API route, not a file: like mod_proxy, we spare
     * the request core's directory and file walks (a stat and an
     * .htaccess lookup per path segment). Access control for routes is
     * therefore <Location>'s, as for any proxied path. */
    if (r->handler && !strcmp(r->handler, LLM_ROUTER_HANDLER)
        && ap_get_module_config(r->request_config, &llm_router_module)) {
        return OK;
    }
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* handler                                                             */
/* ------------------------------------------------------------------ */

static int is_json_type(const char *ct)
{
    const char *semi;
    apr_size_t n;

    /* A client that names no type gets the benefit of the doubt: many
     * send JSON without saying so. A type that is not JSON does not. */
    if (!ct || !*ct) {
        return 1;
    }
    semi = ap_strchr_c(ct, ';');
    n = semi ? (apr_size_t)(semi - ct) : strlen(ct);
    while (n > 0 && apr_isspace(ct[n - 1])) {
        n--;
    }
    return (n == 16 && !strncasecmp(ct, "application/json", 16))
           || (n > 5 && !strncasecmp(ct + n - 5, "+json", 5));
}

/* What the client asked of the answer's shape, kept for a translated
 * answer (a provider of the same dialect reads them itself). */
static void note_client_options(llm_router_req_t *rq, json_object *body)
{
    json_object *o;

    if (json_object_object_get_ex(body, "stream_options", &o)
        && json_object_object_get_ex(o, "include_usage", &o)) {
        rq->include_usage = json_object_get_boolean(o);
    }
    if (json_object_object_get_ex(body, "encoding_format", &o)
        && json_object_is_type(o, json_type_string)) {
        rq->encoding_format = json_object_get_string(o);
    }
}

static int unsupported_type(request_rec *r, const char *type)
{
    return llm_router_send_error(r, HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "unsupported_media_type",
                                 apr_psprintf(r->pool, "Content-Type must "
                                              "be application/json, not %s",
                                              type ? type : "none"));
}

/* Body -> parsed, validated context, or an error answered. Returns OK
 * when the request may go on, else the handler's return value. */
static int take_body(request_rec *r, llm_router_req_t *rq)
{
    llm_req_ctx_t *ctx = &rq->pub;
    llm_error_t err;
    json_object *body;
    int rc;

    const char *type = apr_table_get(r->headers_in, "Content-Type");

    /* Ollama reads any body as JSON whatever its type, and its users'
     * scripts (curl -d) rely on that; the others must say JSON. */
    if (rq->endpoint->dialect != LLM_DIALECT_OLLAMA && !is_json_type(type)
        && !(rq->endpoint->op == LLM_OP_EMBEDDINGS
             && rq->endpoint->prefixed)) {
        return unsupported_type(r, type);
    }
    rc = llm_router_read_body(r, llm_router_max_body(rq->conf),
                              &ctx->body_raw, &ctx->body_raw_len);
    if (rc != OK) {
        return rc;
    }
    body = llm_request_parse_max(r->pool, ctx->body_raw, ctx->body_raw_len,
                                 llm_router_max_objects(rq->conf), &err);
    if (!body) {
        return llm_router_send_error_param(r, err.status, err.code,
                                           err.param, err.message);
    }
    llm_json_own(r->pool, body);
    ctx->body = body;
    rq->wire = llm_wire_of_request(rq->endpoint, body);
    ctx->wire = rq->wire;
    /* {P}/embeddings is Ollama's legacy route too: the body tells. */
    if (!is_json_type(type) && rq->wire != LLM_WIRE_OLLAMA_GENERATE
        && rq->endpoint->dialect != LLM_DIALECT_OLLAMA) {
        return unsupported_type(r, type);
    }
    if (llm_request_validate_endpoint(r->pool, rq->endpoint, body,
                                      &ctx->model_name, &ctx->stream,
                                      &err) < 0) {
        return llm_router_send_error_param(r, err.status, err.code,
                                           err.param, err.message);
    }
    note_client_options(rq, body);
    return OK;
}

static int resolve_model(request_rec *r, llm_router_req_t *rq)
{
    llm_req_ctx_t *ctx = &rq->pub;

    if (!rq->table) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(01010)
                      "LLMRouter is on for %s but no LLMRouterModels file "
                      "applies here", r->uri);
        return llm_router_send_error(r, HTTP_INTERNAL_SERVER_ERROR,
                                     "no_models_configured",
                                     "The gateway has no models configured "
                                     "for this location.");
    }
    ctx->model = llm_models_find(rq->table->models, ctx->model_name);
    if (!ctx->model) {
        return llm_router_send_error_param(r, HTTP_NOT_FOUND,
            "model_not_found", "model",
            apr_psprintf(r->pool, "The model '%s' does not exist or is not "
                         "active.", ctx->model_name));
    }
    apr_table_setn(r->notes, LLM_NOTE_MODEL, ctx->model->name);
    apr_table_setn(r->subprocess_env, LLM_ENV_MODEL, ctx->model->name);
    return OK;
}

/* A built-in endpoint: its upstream request(s) built from the prompt
 * library, each routed like any request (balancing, fail-over) but with
 * the answer kept, and one answer in the original's envelope. A streamed
 * single-call built-in streams as OpenAI chunks instead. */
static int serve_builtin(request_rec *r, llm_router_req_t *rq)
{
    llm_req_ctx_t *ctx = &rq->pub;
    llm_builtin_plan_t *plan;
    llm_error_t err = { 0 };
    llm_builtin_text_t *answers;
    int i;
    int rc;

    if (!rq->conf->prompts) {
        return llm_router_send_error(r, HTTP_INTERNAL_SERVER_ERROR,
            "prompt_missing", "The built-in endpoints need a prompt library "
            "(LLMRouterPrompts) here.");
    }
    if (llm_builtin_build(r->pool, rq->endpoint->builtin, ctx->body,
                          rq->conf->prompts, llm_router_language(rq->conf),
                          &plan, &err) < 0) {
        return llm_router_send_error_param(r, err.status, err.code,
                                           err.param, err.message);
    }
    if (ctx->stream) {
        rq->builtin_request = APR_ARRAY_IDX(plan->requests, 0, json_object *);
        return llm_router_route(r, rq);
    }
    answers = apr_pcalloc(r->pool, sizeof(*answers) * plan->requests->nelts);
    rq->collect = 1;
    for (i = 0; i < plan->requests->nelts; i++) {
        rq->builtin_request = APR_ARRAY_IDX(plan->requests, i, json_object *);
        llm_buf_init(&rq->collected, r->pool);
        rq->has_collected = 0;
        if ((rc = llm_router_route(r, rq)) != OK) {
            return rc;              /* answered already (an error) */
        }
        /* What mod_proxy left on r is this call's, not the answer. */
        llm_router_forget_answer(r);
        if (rq->collect_status) {
            return llm_router_send_error(r, rq->collect_status,
                                         "upstream_error", rq->collect_error);
        }
        /* Each call's text with its length, NUL and all. */
        answers[i].text = rq->has_collected
                          ? apr_pmemdup(r->pool, rq->collected.data,
                                        rq->collected.len) : "";
        answers[i].len = rq->has_collected ? rq->collected.len : 0;
    }
    rq->collect = 0;
    return llm_router_send_json(r, HTTP_OK, llm_builtin_response(
        r->pool, plan, answers, plan->requests->nelts,
        (double)(apr_time_now() - r->request_time) / APR_USEC_PER_SEC));
}

static int serve(request_rec *r, llm_router_req_t *rq)
{
    int rc;

    if (!rq->endpoint) {
        return llm_router_send_error(r, HTTP_NOT_FOUND, "unknown_route",
            apr_psprintf(r->pool, "There is no API route %s %s here.",
                         r->method, r->uri));
    }
    if (strcmp(r->method, rq->endpoint->method)
        && !(r->header_only && !strcmp(rq->endpoint->method, "GET"))) {
        apr_table_setn(r->err_headers_out, "Allow",
                       apr_pstrcat(r->pool, rq->endpoint->method,
                                   strcmp(rq->endpoint->method, "GET")
                                       ? "" : ", HEAD", NULL));
        return llm_router_send_error(r, HTTP_METHOD_NOT_ALLOWED,
            "method_not_allowed",
            apr_psprintf(r->pool, "%s is not allowed on %s; use %s.",
                         r->method, r->uri, rq->endpoint->method));
    }
    if (rq->endpoint->op == LLM_OP_INFO) {
        return llm_router_serve_info(r, rq);
    }
    if ((rc = take_body(r, rq)) != OK || (rc = resolve_model(r, rq)) != OK) {
        return rc;
    }
    rc = llm_run_llm_request_parsed(r, &rq->pub);
    if (rc != OK && rc != DECLINED) {
        return llm_router_send_error(r, rc, rq->pub.error_code
                                     ? rq->pub.error_code : "refused",
                                     rq->pub.error_message
                                     ? rq->pub.error_message
                                     : "The request was refused.");
    }
    if (rq->endpoint->builtin != LLM_BUILTIN_NONE) {
        return serve_builtin(r, rq);
    }
    return llm_router_route(r, rq);
}

static const char *tokens(apr_pool_t *p, apr_int64_t n)
{
    return n < 0 ? "-" : apr_off_t_toa(p, (apr_off_t)n);
}

/* For the access log (%{llm-usage}n); modules read ctx->usage. */
static void note_usage(request_rec *r, const llm_usage_t *u)
{
    if (u->prompt_tokens < 0 && u->completion_tokens < 0
        && u->total_tokens < 0) {
        return;
    }
    apr_table_setn(r->notes, LLM_NOTE_USAGE,
                   apr_pstrcat(r->pool, tokens(r->pool, u->prompt_tokens), "/",
                               tokens(r->pool, u->completion_tokens), "/",
                               tokens(r->pool, u->total_tokens), NULL));
}

int llm_router_handler(request_rec *r)
{
    llm_router_req_t *rq;
    int rc;

    if (!r->handler || strcmp(r->handler, LLM_ROUTER_HANDLER)) {
        return DECLINED;
    }
    if (!(rq = llm_router_req(r))) {
        return DECLINED;
    }
    /* The final per-directory merge (second <Location> walk, <If>). */
    rq->conf = ap_get_module_config(r->per_dir_config, &llm_router_module);
    rq->table = rq->conf->table;
    rq->pub.models = rq->table ? rq->table->models : NULL;
    rc = serve(r, rq);
    if (!rq->pub.status) {
        rq->pub.status = r->status;
    }
    note_usage(r, &rq->pub.usage);
    llm_run_llm_request_done(r, &rq->pub);
    return rc;
}
