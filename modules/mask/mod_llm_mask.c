/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_mask: anonymisation and guardrails on the request path.
 *
 * It joins mod_llm_router's optional hook llm_request_parsed, which runs
 * once the body is parsed and the model resolved, before any provider is
 * chosen:
 *
 *   1. guardrails look at the clear text: the built-in rule guard
 *      (llm_guard.c) on every text of the request, then each external
 *      guard service (LLMGuardService, llm_guard_service.c) with the
 *      whole body; the first "unsafe" refuses the request with 403
 *      content_blocked in the client's dialect;
 *   2. masking replaces PII in every text a person wrote (llm_texts.c:
 *      never the model, roles or other structure), in the client's own
 *      body, so that whatever dialect the provider speaks gets masked
 *      text;
 *   3. the answer filter is handed to the router (mod_llm_mask_answer.c).
 *
 * The decision and the number of replacements are left in the request
 * context (include/mod_llm.h) for audit and metrics.
 *
 * This file holds the module record, its hooks and the request's work.
 * Directives and scopes are in mod_llm_mask_config.c, the answer filter
 * in mod_llm_mask_answer.c, {prefix}/fast_text_mask in
 * mod_llm_mask_endpoint.c; what they share in mod_llm_mask_glue.h. The
 * engine (llm_*.c) knows nothing of httpd.
 */

#include "apr_strings.h"
#include "http_protocol.h"

/* AP_DECLARE_MODULE below declares what APLOG_USE_MODULE would. */
#define LLM_MASK_MODULE_FILE
#include "mod_llm_mask_glue.h"
#include "llm_json.h"
#include "llm_texts.h"
#include "llm_guard_service.h"

/*
 * The time budget (LLMMaskTimeBudget) and a client that leaves.
 *
 * The walk over a request's texts checks between texts, before each and
 * once after the last; the masking engine checks inside a text too
 * (llm_mask_session_limit: every 256 clusters a rule visits), so one
 * huge text is cut at the budget as well. When the client has gone the
 * work stops; when the budget is spent the request is refused with 413,
 * whatever the number of texts. The rule guard is checked between texts
 * only: a text it has begun is finished (it is linear in its length,
 * and LLMRouterMaxBody bounds that). Waiting for the guard services
 * does not count: they have their own time limit.
 */
typedef enum {
    WALK_DONE = 0,
    WALK_BLOCKED,                    /* the rule guard refused a text */
    WALK_OVER_BUDGET,                /* LLMMaskTimeBudget is spent */
    WALK_CLIENT_GONE                 /* the client closed its connection */
} walk_end_e;

typedef struct {
    request_rec *r;
    llm_req_ctx_t *ctx;
    const llm_mask_dir_conf_t *conf;
    llm_mask_session_t *session;
    llm_guard_verdict_t verdict;
    int count;                       /* values masked */
    apr_time_t deadline;             /* where the budget ends */
} walk_t;

static walk_end_e walk_check(const walk_t *w)
{
    if (w->r->connection->aborted) {
        return WALK_CLIENT_GONE;
    }
    if (apr_time_now() > w->deadline) {
        return WALK_OVER_BUDGET;
    }
    return WALK_DONE;
}

static int guard_text(void *baton, json_object *text)
{
    walk_t *w = baton;
    walk_end_e end = walk_check(w);

    if (end != WALK_DONE) {
        return end;
    }
    if (llm_guard_check(llm_mask_conf_guard(w->conf), w->r->pool,
                        json_object_get_string(text),
                        (apr_size_t)json_object_get_string_len(text),
                        &w->verdict)) {
        return WALK_BLOCKED;
    }
    return WALK_DONE;
}

/* The engine's abort test: has httpd marked the connection aborted? */
static int client_gone(void *baton)
{
    return ((conn_rec *)baton)->aborted;
}

static int mask_text(void *baton, json_object *text)
{
    walk_t *w = baton;
    walk_end_e end = walk_check(w);
    apr_size_t len = 0;
    int n = 0;
    const char *out;

    if (end != WALK_DONE) {
        return end;
    }
    out = llm_mask_apply(llm_mask_conf_rules(w->conf), w->session,
                         w->r->pool, json_object_get_string(text),
                         (apr_size_t)json_object_get_string_len(text),
                         &len, &n);
    if (!out) {                 /* the engine's limit stopped it */
        return llm_mask_session_stopped(w->session) == LLM_MASK_STOP_ABORTED
               ? WALK_CLIENT_GONE : WALK_OVER_BUDGET;
    }
    if (n > 0) {
        json_object_set_string_len(text, out, (int)len);
        w->count += n;
    }
    return WALK_DONE;
}

static walk_end_e walk(walk_t *w, llm_text_fn fn)
{
    llm_req_ctx_t *ctx = w->ctx;
    int rc = llm_texts_walk(ctx->body, ctx->wire, ctx->op, ctx->builtin,
                            fn, w);

    return rc != WALK_DONE ? (walk_end_e)rc : walk_check(w);
}

/* ------------------------------------------------------------------ */
/* Refusals: the router answers them in the client's dialect           */
/* ------------------------------------------------------------------ */

static int refuse(llm_req_ctx_t *ctx, int status, const char *code,
                  const char *message)
{
    ctx->error_code = code;
    ctx->error_message = message;
    return status;
}

/* 403: a guard said unsafe; 503: a service could not tell (closed). */
static int refuse_guard(request_rec *r, llm_req_ctx_t *ctx, int status)
{
    int blocked = status == HTTP_FORBIDDEN;

    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, LLMLOGNO(03002)
                  "%s: model %s: %s by %s", r->uri, ctx->model_name,
                  blocked ? "blocked" : "not checked", ctx->guard_reason);
    if (blocked) {
        return refuse(ctx, status, "content_blocked", apr_psprintf(
            r->pool, "The request was blocked by a guardrail (%s).",
            ctx->guard_reason));
    }
    return refuse(ctx, status, "guard_unavailable", apr_psprintf(
        r->pool, "The request could not be checked by its guardrail "
        "(%s); retry later.", ctx->guard_reason));
}

/* A walk that ended early. Over budget: 413, naming the limit, since
 * less text is what gets the request through. Client gone: nobody
 * reads the answer; 400, as mod_proxy_http answers a client that
 * aborted its body. */
static int stopped(walk_t *w, walk_end_e end)
{
    request_rec *r = w->r;
    apr_int64_t ms = apr_time_as_msec(w->conf->budget);

    if (end == WALK_CLIENT_GONE) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(03006)
                      "%s: model %s: the client went away; masking and "
                      "guarding stopped", r->uri, w->ctx->model_name);
        return refuse(w->ctx, HTTP_BAD_REQUEST, "client_gone",
                      "The client closed the connection.");
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, LLMLOGNO(03005)
                  "%s: model %s: masking and guarding took longer than "
                  "LLMMaskTimeBudget (%" APR_INT64_T_FMT " ms); refused",
                  r->uri, w->ctx->model_name, ms);
    return refuse(w->ctx, HTTP_REQUEST_ENTITY_TOO_LARGE,
                  "mask_time_budget_exceeded", apr_psprintf(r->pool,
                  "Masking and guarding this request took longer than "
                  "the gateway allows (LLMMaskTimeBudget %" APR_INT64_T_FMT
                  " ms); send less text at once.", ms));
}

/* ------------------------------------------------------------------ */
/* Guard                                                               */
/* ------------------------------------------------------------------ */

/* OK to go on, or a refusal. */
static int ask_service(walk_t *w, const llm_mask_service_t *g,
                       const char *body, apr_size_t len)
{
    request_rec *r = w->r;
    llm_req_ctx_t *ctx = w->ctx;
    const char *why = NULL;
    llm_guard_service_e v = llm_guard_service_ask(NULL, r->pool, g->url,
                                                  body, len,
                                                  w->conf->timeout, &why);

    if (v == LLM_GUARD_SERVICE_SAFE) {
        return OK;
    }
    ctx->guard_reason = apr_pstrcat(r->pool, "service:", g->name, NULL);
    if (v == LLM_GUARD_SERVICE_UNSAFE) {
        ctx->guard_verdict = "blocked";
        return refuse_guard(r, ctx, HTTP_FORBIDDEN);
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(03001)
                  "guard service %s (%s) did not answer: %s; %s",
                  g->name, g->url, why, w->conf->fail_open
                  ? "letting the request through (fail-open)"
                  : "refusing the request (fail-closed)");
    if (!w->conf->fail_open) {
        ctx->guard_verdict = "blocked";
        return refuse_guard(r, ctx, HTTP_SERVICE_UNAVAILABLE);
    }
    ctx->guard_verdict = "unchecked";
    return OK;
}

/* Each service in turn gets the whole body as the client sent it. */
static int ask_services(walk_t *w)
{
    const apr_array_header_t *services = w->conf->services;
    const char *body = NULL;
    apr_size_t len = 0;
    int i;
    int rc;

    for (i = 0; i < services->nelts; i++) {
        if (w->r->connection->aborted) {
            return stopped(w, WALK_CLIENT_GONE);
        }
        if (!body) {
            body = llm_json_dump(w->ctx->body, &len);
        }
        rc = ask_service(w, &APR_ARRAY_IDX(services, i, llm_mask_service_t),
                         body, len);
        if (rc != OK) {
            return rc;
        }
    }
    return OK;
}

static int guard_request(walk_t *w)
{
    llm_req_ctx_t *ctx = w->ctx;
    walk_end_e end = walk(w, guard_text);
    apr_time_t asked;
    int rc;

    if (end == WALK_BLOCKED) {
        ctx->guard_verdict = "blocked";
        ctx->guard_reason = apr_pstrcat(w->r->pool, w->verdict.category,
                                        ":", w->verdict.rule, NULL);
        return refuse_guard(w->r, ctx, HTTP_FORBIDDEN);
    }
    if (end != WALK_DONE) {
        return stopped(w, end);
    }
    ctx->guard_verdict = "allowed";
    asked = apr_time_now();
    rc = ask_services(w);
    w->deadline += apr_time_now() - asked;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Masking                                                             */
/* ------------------------------------------------------------------ */

static int wants_masking(const llm_mask_dir_conf_t *c, llm_req_ctx_t *ctx)
{
    json_object *v;

    if (llm_mask_flag(c->mask, 0)) {
        return 1;
    }
    v = llm_json_get(ctx->body, "anonymize");
    return llm_mask_flag(c->anonymize_field, 1) && v
           && json_object_get_boolean(v);
}

/* What was masked, by kind, and the pseudonyms (mod_llm.h: for an
 * audit trail that asks for them) into the request's context. */
static void note_kinds(walk_t *w)
{
    const apr_array_header_t *tally = llm_mask_session_tally(w->session);
    int i;

    if (!w->count || !tally->nelts) {
        return;
    }
    w->ctx->mask_counts = apr_array_make(w->r->pool, tally->nelts,
                                         sizeof(llm_mask_count_t));
    for (i = 0; i < tally->nelts; i++) {
        const llm_mask_tally_t *t = &APR_ARRAY_IDX(tally, i,
                                                   llm_mask_tally_t);
        llm_mask_count_t *c = apr_array_push(w->ctx->mask_counts);

        c->type = t->type;
        c->count = t->count;
    }
    if (w->conf->mode == LLM_MASK_PSEUDONYM) {
        w->ctx->mask_map = llm_mask_session_map(w->session);
    }
}

static int mask_texts(walk_t *w)
{
    request_rec *r = w->r;
    walk_end_e end;

    w->session = llm_mask_session_create(r->pool, w->conf->mode);
    llm_mask_session_limit(w->session, w->deadline, client_gone,
                           r->connection);
    end = walk(w, mask_text);
    llm_mask_session_limit(w->session, 0, NULL, NULL);  /* answers: none */
    w->ctx->masked = w->count;
    w->ctx->mask_session = w->session;
    note_kinds(w);
    if (end != WALK_DONE) {
        return stopped(w, end);
    }
    if (w->count) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LLMLOGNO(03003)
                      "%s: %d value(s) masked", r->uri, w->count);
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Hooks                                                               */
/* ------------------------------------------------------------------ */

static int mask_request(request_rec *r, llm_req_ctx_t *ctx)
{
    const llm_mask_dir_conf_t *c = llm_mask_conf(r);
    walk_t w = { 0 };
    int rc;

    if (!ctx->body) {
        return DECLINED;
    }
    w.r = r;
    w.ctx = ctx;
    w.conf = c;
    w.deadline = apr_time_now() + c->budget;
    if (llm_mask_flag(c->guard, 0) && (rc = guard_request(&w)) != OK) {
        return rc;
    }
    if (!wants_masking(c, ctx)) {
        llm_mask_answer_install(r, c, ctx);
        return DECLINED;
    }
    if ((rc = mask_texts(&w)) != OK) {
        return rc;
    }
    llm_mask_answer_install(r, c, ctx);
    return OK;
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    const char *err;

    (void)plog;
    (void)ptemp;
    /* Before any directive: scopes copy nothing from the defaults, but
     * guard directives compile against the default rules. */
    if ((err = llm_mask_conf_defaults(pconf)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, NULL, LLMLOGNO(03004)
                     "%s", err);
        return !OK;
    }
    llm_guard_service_init();
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_request_parsed, mask_request, NULL, NULL,
                      APR_HOOK_MIDDLE);
    llm_mask_endpoint_register();
}

AP_DECLARE_MODULE(llm_mask) = {
    STANDARD20_MODULE_STUFF,
    llm_mask_conf_create,
    llm_mask_conf_merge,
    NULL,
    NULL,
    llm_mask_conf_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
