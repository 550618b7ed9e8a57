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
 *      guard service (LLMGuardService, NASK/Sójka contract) with the
 *      whole body; the first "unsafe" refuses the request with 403
 *      content_blocked in the client's dialect (the original answered
 *      500 with a Python repr);
 *   2. masking replaces PII in every text a person wrote (llm_texts.c:
 *      never the model, roles or other structure), in the client's own
 *      body, so that whatever dialect the provider speaks gets masked
 *      text.
 *
 * The decision and the number of replacements are left in the request
 * context (include/mod_llm.h) for audit and metrics. The router's
 * {prefix}/fast_text_mask route calls llm_mask_fast_text() from here.
 *
 * Rule sets are per server, VirtualHost or Location: a scope with rule
 * directives has its own compiled set (defaults + its directives); the
 * others share the defaults, compiled once at start-up.
 */

#include <curl/curl.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"

#include <json-c/json.h>

#include "mod_llm.h"
#include "llm_texts.h"
#include "llm_mask.h"
#include "llm_buf.h"
#include "llm_guard.h"

module AP_MODULE_DECLARE_DATA llm_mask_module;

#define DEFAULT_SERVICE_TIMEOUT apr_time_from_sec(10)

typedef struct {
    const char *name;
    const char *url;
} guard_service_t;

typedef struct {
    int mask;                        /* LLMMask */
    int anonymize_field;             /* LLMMaskAnonymizeField */
    llm_mask_mode_e mode;            /* LLMMaskMode */
    llm_mask_ruleset_t *rules;       /* this scope's own set, or NULL */
    int guard;                       /* LLMGuard */
    llm_guard_t *guard_rules;        /* this scope's own guard, or NULL */
    apr_array_header_t *services;    /* guard_service_t */
    int fail_open;                   /* LLMGuardServiceFailure open */
    apr_interval_time_t timeout;     /* LLMGuardServiceTimeout */
    int responses;                   /* LLMMaskResponses */
    int guard_responses;             /* LLMGuardResponses */
    unsigned int mask_set:1, anonymize_field_set:1, mode_set:1,
                 guard_set:1, services_set:1, fail_open_set:1,
                 timeout_set:1, responses_set:1, guard_responses_set:1;
} mask_conf_t;

/* LLMMaskResponses */
#define RESPONSES_OFF    0
#define RESPONSES_UNMASK 1           /* the request's pseudonyms restored */
#define RESPONSES_MASK   2           /* PII in the answer masked too */

static void filter_answer(request_rec *r, const mask_conf_t *c,
                          llm_req_ctx_t *ctx);

/* The defaults, compiled once per configuration cycle. */
static llm_mask_ruleset_t *default_rules;
static llm_guard_t *default_guard;

static const char *compile_defaults(apr_pool_t *p)
{
    const char *err = NULL;

    if (default_rules) {
        return NULL;
    }
    default_rules = llm_mask_ruleset_create(p);
    if (llm_mask_ruleset_compile(default_rules, &err) != APR_SUCCESS) {
        return apr_psprintf(p, "mod_llm_mask: default rules: %s", err);
    }
    default_guard = llm_guard_create(p);
    if (llm_guard_compile(default_guard, default_rules, &err)
        != APR_SUCCESS) {
        return apr_psprintf(p, "mod_llm_mask: default guard: %s", err);
    }
    return NULL;
}

static apr_status_t forget_defaults(void *unused)
{
    (void)unused;
    default_rules = NULL;
    default_guard = NULL;
    return APR_SUCCESS;
}

static void *create_conf(apr_pool_t *p, char *dir)
{
    mask_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->anonymize_field = 1;
    c->timeout = DEFAULT_SERVICE_TIMEOUT;
    c->services = apr_array_make(p, 1, sizeof(guard_service_t));
    return c;
}

#define MERGE(f) do { c->f = add->f##_set ? add->f : base->f; \
                      c->f##_set = add->f##_set | base->f##_set; } while (0)

static void *merge_conf(apr_pool_t *p, void *basev, void *addv)
{
    mask_conf_t *base = basev;
    mask_conf_t *add = addv;
    mask_conf_t *c = apr_pcalloc(p, sizeof(*c));

    MERGE(mask);
    MERGE(anonymize_field);
    MERGE(mode);
    MERGE(guard);
    MERGE(services);
    MERGE(fail_open);
    MERGE(timeout);
    MERGE(responses);
    MERGE(guard_responses);
    c->rules = add->rules ? add->rules : base->rules;
    c->guard_rules = add->guard_rules ? add->guard_rules : base->guard_rules;
    return c;
}

/* ------------------------------------------------------------------ */
/* Directives                                                          */
/* ------------------------------------------------------------------ */

static const char *set_mask(cmd_parms *cmd, void *dc, int on)
{
    mask_conf_t *c = dc;

    (void)cmd;
    c->mask = on;
    c->mask_set = 1;
    return NULL;
}

static const char *set_anonymize_field(cmd_parms *cmd, void *dc, int on)
{
    mask_conf_t *c = dc;

    (void)cmd;
    c->anonymize_field = on;
    c->anonymize_field_set = 1;
    return NULL;
}

static const char *set_mode(cmd_parms *cmd, void *dc, const char *arg)
{
    mask_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "static")) {
        c->mode = LLM_MASK_STATIC;
    }
    else if (!strcasecmp(arg, "pseudonym")) {
        c->mode = LLM_MASK_PSEUDONYM;
    }
    else {
        return "LLMMaskMode takes static or pseudonym";
    }
    c->mode_set = 1;
    return NULL;
}

/* This scope's own rule set: the defaults plus its directives, compiled
 * again after each one (a handful at start-up). */
static llm_mask_ruleset_t *own_rules(cmd_parms *cmd, mask_conf_t *c)
{
    if (!c->rules) {
        c->rules = llm_mask_ruleset_create(cmd->pool);
    }
    return c->rules;
}

static const char *recompile(cmd_parms *cmd, mask_conf_t *c)
{
    const char *err = NULL;

    if (llm_mask_ruleset_compile(c->rules, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    if (c->guard_rules
        && llm_guard_compile(c->guard_rules, c->rules, &err)
           != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    return NULL;
}

static const char *enable_rules(cmd_parms *cmd, void *dc, const char *name,
                                int on)
{
    mask_conf_t *c = dc;
    const char *err = NULL;

    if (llm_mask_ruleset_enable(own_rules(cmd, c), name, on, &err) != 0) {
        return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name, name,
                            err);
    }
    return recompile(cmd, c);
}

static const char *set_disable(cmd_parms *cmd, void *dc, const char *name)
{
    return enable_rules(cmd, dc, name, 0);
}

static const char *set_enable(cmd_parms *cmd, void *dc, const char *name)
{
    return enable_rules(cmd, dc, name, 1);
}

/* LLMMaskRule NAME TOKEN PATTERN [validator] */
static const char *set_rule(cmd_parms *cmd, void *dc, int argc,
                            char *const argv[])
{
    mask_conf_t *c = dc;
    const char *err = NULL;

    if (argc < 3 || argc > 4) {
        return "LLMMaskRule takes NAME TOKEN PATTERN [VALIDATOR]";
    }
    if (llm_mask_ruleset_add(own_rules(cmd, c), argv[0], argv[2], argv[1],
                             argc == 4 ? argv[3] : NULL, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMMaskRule %s: %s", argv[0], err);
    }
    return recompile(cmd, c);
}

static const char *set_rules_file(cmd_parms *cmd, void *dc, const char *arg)
{
    mask_conf_t *c = dc;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *err = NULL;

    if (!path || llm_mask_ruleset_load(own_rules(cmd, c), path, &err)
                 != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "LLMMaskRulesFile %s: %s", arg,
                            err ? err : "bad path");
    }
    return recompile(cmd, c);
}

static const char *set_guard(cmd_parms *cmd, void *dc, int on)
{
    mask_conf_t *c = dc;

    (void)cmd;
    c->guard = on;
    c->guard_set = 1;
    return NULL;
}

static llm_guard_t *own_guard(cmd_parms *cmd, mask_conf_t *c)
{
    if (!c->guard_rules) {
        c->guard_rules = llm_guard_create(cmd->pool);
    }
    return c->guard_rules;
}

static const char *compile_guard(cmd_parms *cmd, mask_conf_t *c)
{
    const char *err = NULL;

    if (llm_guard_compile(c->guard_rules, c->rules ? c->rules
                                                   : default_rules, &err)
        != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    return NULL;
}

/* LLMGuardCategory name [off] */
static const char *set_guard_category(cmd_parms *cmd, void *dc,
                                      const char *name, const char *onoff)
{
    mask_conf_t *c = dc;
    const char *err = NULL;
    int on = !onoff || strcasecmp(onoff, "off");

    if (llm_guard_category(own_guard(cmd, c), name, on, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMGuardCategory %s: %s", name, err);
    }
    return compile_guard(cmd, c);
}

static const char *set_guard_deny(cmd_parms *cmd, void *dc, const char *name,
                                  const char *pattern)
{
    mask_conf_t *c = dc;
    const char *err = NULL;

    if (llm_guard_deny(own_guard(cmd, c), name, pattern, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMGuardDeny %s: %s", name, err);
    }
    return compile_guard(cmd, c);
}

static const char *set_guard_allow(cmd_parms *cmd, void *dc,
                                   const char *pattern)
{
    mask_conf_t *c = dc;
    const char *err = NULL;

    if (llm_guard_allow(own_guard(cmd, c), pattern, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMGuardAllow: %s", err);
    }
    return compile_guard(cmd, c);
}

static const char *set_guard_service(cmd_parms *cmd, void *dc,
                                     const char *name, const char *url)
{
    mask_conf_t *c = dc;
    guard_service_t *g;

    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
        return "LLMGuardService takes a name and an http(s) URL";
    }
    if (!c->services_set) {
        c->services = apr_array_make(cmd->pool, 2, sizeof(guard_service_t));
        c->services_set = 1;
    }
    g = apr_array_push(c->services);
    g->name = name;
    g->url = url;
    return NULL;
}

static const char *set_fail(cmd_parms *cmd, void *dc, const char *arg)
{
    mask_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "open")) {
        c->fail_open = 1;
    }
    else if (!strcasecmp(arg, "closed")) {
        c->fail_open = 0;
    }
    else {
        return "LLMGuardServiceFailure takes open or closed";
    }
    c->fail_open_set = 1;
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    mask_conf_t *c = dc;

    (void)cmd;
    if (ap_timeout_parameter_parse(arg, &c->timeout, "s") != APR_SUCCESS
        || c->timeout <= 0) {
        return "LLMGuardServiceTimeout takes a time such as 10 or 500ms";
    }
    c->timeout_set = 1;
    return NULL;
}

static const char *set_responses(cmd_parms *cmd, void *dc, const char *arg)
{
    mask_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "off")) {
        c->responses = RESPONSES_OFF;
    }
    else if (!strcasecmp(arg, "unmask")) {
        c->responses = RESPONSES_UNMASK;
    }
    else if (!strcasecmp(arg, "mask")) {
        c->responses = RESPONSES_MASK;
    }
    else {
        return "LLMMaskResponses takes off, unmask or mask";
    }
    c->responses_set = 1;
    return NULL;
}

static const char *set_guard_responses(cmd_parms *cmd, void *dc, int on)
{
    mask_conf_t *c = dc;

    (void)cmd;
    c->guard_responses = on;
    c->guard_responses_set = 1;
    return NULL;
}

#define SCOPES (RSRC_CONF | ACCESS_CONF)

static const command_rec mask_cmds[] = {
    AP_INIT_FLAG("LLMMask", set_mask, NULL, SCOPES,
                 "mask PII in every request sent to a provider (default "
                 "Off)"),
    AP_INIT_FLAG("LLMMaskAnonymizeField", set_anonymize_field, NULL, SCOPES,
                 "with LLMMask Off, mask requests that carry "
                 "\"anonymize\": true (default On)"),
    AP_INIT_TAKE1("LLMMaskMode", set_mode, NULL, SCOPES,
                  "static ({{EMAIL}}) or pseudonym ({{EMAIL_1}}, a mapping "
                  "per request) (default static)"),
    AP_INIT_ITERATE("LLMMaskDisable", set_disable, NULL, SCOPES,
                    "rules left out here, by name (EMAIL PESEL ...) or all"),
    AP_INIT_ITERATE("LLMMaskEnable", set_enable, NULL, SCOPES,
                    "rules taken back in, by name or all"),
    AP_INIT_TAKE_ARGV("LLMMaskRule", set_rule, NULL, SCOPES,
                      "a rule of this scope: NAME TOKEN PATTERN [VALIDATOR]"),
    AP_INIT_TAKE1("LLMMaskRulesFile", set_rules_file, NULL, SCOPES,
                  "rules of this scope from a file"),
    AP_INIT_TAKE1("LLMMaskResponses", set_responses, NULL, SCOPES,
                  "the answer's text: off (default), unmask (the request's "
                  "pseudonyms back to the originals, for the client) or "
                  "mask (PII in the answer masked too); streaming-safe"),
    AP_INIT_FLAG("LLMGuardResponses", set_guard_responses, NULL, SCOPES,
                 "check the answer's text with the rule guard too; a "
                 "stream that turns unsafe ends with an error (default "
                 "Off)"),
    AP_INIT_FLAG("LLMGuard", set_guard, NULL, SCOPES,
                 "check requests with the rule guard and the guard "
                 "services (default Off)"),
    AP_INIT_TAKE12("LLMGuardCategory", set_guard_category, NULL, SCOPES,
                   "a built-in guard category, and Off to leave it out"),
    AP_INIT_TAKE2("LLMGuardDeny", set_guard_deny, NULL, SCOPES,
                  "a deny rule: NAME PATTERN"),
    AP_INIT_TAKE1("LLMGuardAllow", set_guard_allow, NULL, SCOPES,
                  "a pattern that lets a text through whatever denies it"),
    AP_INIT_TAKE2("LLMGuardService", set_guard_service, NULL, SCOPES,
                  "an external guard service: NAME URL (the original's "
                  "nask_guard/sojka_guard contract)"),
    AP_INIT_TAKE1("LLMGuardServiceFailure", set_fail, NULL, SCOPES,
                  "when a guard service cannot answer: open (let through, "
                  "logged) or closed (refuse, default)"),
    AP_INIT_TAKE1("LLMGuardServiceTimeout", set_timeout, NULL, SCOPES,
                  "time limit of a guard service (default 10s)"),
    { NULL }
};

/* ------------------------------------------------------------------ */
/* The request                                                         */
/* ------------------------------------------------------------------ */

static const llm_mask_ruleset_t *rules_of(const mask_conf_t *c)
{
    return c->rules ? c->rules : default_rules;
}

typedef struct {
    request_rec *r;
    const mask_conf_t *conf;
    llm_mask_session_t *session;
    llm_guard_verdict_t verdict;
    int count;
} walk_t;

static int guard_text(void *baton, json_object *text)
{
    walk_t *w = baton;

    return llm_guard_check(w->conf->guard_rules ? w->conf->guard_rules
                                                : default_guard,
                           w->r->pool, json_object_get_string(text),
                           (apr_size_t)json_object_get_string_len(text),
                           &w->verdict);
}

static int mask_text(void *baton, json_object *text)
{
    walk_t *w = baton;
    apr_size_t len = 0;
    int n = 0;
    const char *in = json_object_get_string(text);
    const char *out = llm_mask_apply(rules_of(w->conf), w->session,
                                     w->r->pool, in,
                                     (apr_size_t)json_object_get_string_len(
                                         text), &len, &n);

    if (n > 0) {
        json_object_set_string_len(text, out, (int)len);
        w->count += n;
    }
    return 0;
}

#define ANSWER_MAX (1024 * 1024)

/* libcurl's writer: the service's answer, capped. */
static size_t keep_answer(char *ptr, size_t size, size_t n, void *data)
{
    llm_buf_t *a = data;
    apr_size_t len = size * n;

    if (a->len + len > ANSWER_MAX) {
        return 0;               /* too big for a verdict: fail */
    }
    llm_buf_add(a, ptr, len);
    return len;
}

/* One guard service: 1 safe, 0 unsafe, -1 could not tell (why in
 * @a *why). The original's contract: POST the request body, answer
 * {"results":{"safe":bool,...}}; a missing "safe" is unsafe. */
static int ask_service(request_rec *r, const mask_conf_t *c,
                       const guard_service_t *g, const char *body,
                       const char **why)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    llm_buf_t answer;
    json_object *o;
    json_object *res;
    json_object *safe;
    long status = 0;
    CURLcode rc;
    int verdict;

    if (!h) {
        *why = "no HTTP client";
        return -1;
    }
    llm_buf_init(&answer, r->pool);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, g->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)apr_time_as_msec(c->timeout));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK || status < 200 || status > 299) {
        *why = rc != CURLE_OK ? curl_easy_strerror(rc)
               : apr_psprintf(r->pool, "HTTP %ld", status);
        return -1;
    }
    o = answer.data ? json_tokener_parse(answer.data) : NULL;
    if (!o || !json_object_object_get_ex(o, "results", &res)) {
        *why = "an answer without \"results\"";
        if (o) {
            json_object_put(o);
        }
        return -1;
    }
    verdict = json_object_object_get_ex(res, "safe", &safe)
              && json_object_get_boolean(safe);
    json_object_put(o);
    return verdict;
}

/* 0 to go on; an HTTP status to refuse. */
static int ask_services(request_rec *r, const mask_conf_t *c,
                        llm_req_ctx_t *ctx)
{
    const char *body = NULL;
    int i;

    for (i = 0; i < c->services->nelts; i++) {
        const guard_service_t *g = &APR_ARRAY_IDX(c->services, i,
                                                  guard_service_t);
        const char *why = NULL;
        int safe;

        if (!body) {
            body = json_object_to_json_string_ext(ctx->body,
                                                  JSON_C_TO_STRING_PLAIN);
        }
        safe = ask_service(r, c, g, body, &why);
        if (safe == 1) {
            continue;
        }
        ctx->guard_reason = apr_pstrcat(r->pool, "service:", g->name, NULL);
        if (safe == 0) {
            ctx->guard_verdict = "blocked";
            return HTTP_FORBIDDEN;
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(03001)
                      "guard service %s (%s) did not answer: %s; %s",
                      g->name, g->url, why, c->fail_open
                      ? "letting the request through (fail-open)"
                      : "refusing the request (fail-closed)");
        if (!c->fail_open) {
            ctx->guard_verdict = "blocked";
            return HTTP_SERVICE_UNAVAILABLE;
        }
        ctx->guard_verdict = "unchecked";
    }
    return 0;
}

static int refuse(request_rec *r, llm_req_ctx_t *ctx, int status)
{
    ctx->error_code = status == HTTP_FORBIDDEN ? "content_blocked"
                                               : "guard_unavailable";
    ctx->error_message = status == HTTP_FORBIDDEN
        ? apr_psprintf(r->pool, "The request was blocked by a guardrail "
                       "(%s).", ctx->guard_reason)
        : apr_psprintf(r->pool, "The request could not be checked by its "
                       "guardrail (%s); retry later.", ctx->guard_reason);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, LLMLOGNO(03002)
                  "%s: model %s: %s by %s", r->uri, ctx->model_name,
                  status == HTTP_FORBIDDEN ? "blocked" : "not checked",
                  ctx->guard_reason);
    return status;
}

static int guard_request(request_rec *r, const mask_conf_t *c,
                         llm_req_ctx_t *ctx, llm_builtin_e builtin,
                         llm_wire_e wire)
{
    walk_t w = { 0 };
    int status;

    w.r = r;
    w.conf = c;
    if (llm_texts_walk(ctx->body, wire, ctx->op, builtin, guard_text, &w)) {
        ctx->guard_verdict = "blocked";
        ctx->guard_reason = apr_pstrcat(r->pool, w.verdict.category, ":",
                                        w.verdict.rule, NULL);
        return refuse(r, ctx, HTTP_FORBIDDEN);
    }
    ctx->guard_verdict = "allowed";
    if ((status = ask_services(r, c, ctx)) != 0) {
        return refuse(r, ctx, status);
    }
    return OK;
}

static int wants_masking(const mask_conf_t *c, llm_req_ctx_t *ctx)
{
    json_object *v;

    if (c->mask) {
        return 1;
    }
    return c->anonymize_field
           && json_object_object_get_ex(ctx->body, "anonymize", &v)
           && json_object_get_boolean(v);
}

static int mask_request(request_rec *r, llm_req_ctx_t *ctx)
{
    const mask_conf_t *c = ap_get_module_config(r->per_dir_config,
                                                &llm_mask_module);
    llm_wire_e wire = ctx->wire;
    llm_builtin_e builtin = ctx->builtin;
    walk_t w = { 0 };
    int rc;

    if (!ctx->body) {
        return DECLINED;
    }
    if (c->guard && (rc = guard_request(r, c, ctx, builtin, wire)) != OK) {
        return rc;
    }
    if (!wants_masking(c, ctx)) {
        filter_answer(r, c, ctx);
        return DECLINED;
    }
    w.r = r;
    w.conf = c;
    w.session = llm_mask_session_create(r->pool, c->mode);
    llm_texts_walk(ctx->body, wire, ctx->op, builtin, mask_text, &w);
    ctx->masked = w.count;
    ctx->mask_session = w.session;
    if (w.count) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LLMLOGNO(03003)
                      "%s: %d value(s) masked", r->uri, w.count);
    }
    filter_answer(r, c, ctx);
    return OK;
}

/* ------------------------------------------------------------------ */
/* The answer                                                          */
/* ------------------------------------------------------------------ */

/* The last bytes of answer text the guard saw, looked at again with the
 * next piece: a phrase split across two stream events is still found. */
#define GUARD_WINDOW 256

typedef struct {
    llm_mask_stream_t *stream;       /* NULL: the text is not changed */
    const llm_guard_t *guard;        /* NULL: not guarded */
    char window[GUARD_WINDOW];
    apr_size_t window_len;
} reply_t;

static int guard_piece(reply_t *a, apr_pool_t *p, const char *text,
                       apr_size_t len, const char **why)
{
    llm_guard_verdict_t v;
    char *both;
    apr_size_t keep;

    if (!a->guard || !len) {
        return 0;
    }
    both = apr_palloc(p, a->window_len + len);
    memcpy(both, a->window, a->window_len);
    memcpy(both + a->window_len, text, len);
    if (llm_guard_check(a->guard, p, both, a->window_len + len, &v)) {
        *why = apr_pstrcat(p, v.category, ":", v.rule, NULL);
        return 1;
    }
    keep = a->window_len + len < GUARD_WINDOW ? a->window_len + len
                                               : GUARD_WINDOW;
    memcpy(a->window, both + a->window_len + len - keep, keep);
    a->window_len = keep;
    return 0;
}

static int answer_feed(void *data, apr_pool_t *p, const char *in,
                       apr_size_t len, const char **out, apr_size_t *out_len,
                       const char **why)
{
    reply_t *a = data;

    if (a->stream) {
        *out = llm_mask_stream_feed(a->stream, p, in, len, out_len);
    }
    else {
        *out = in;
        *out_len = len;
    }
    return guard_piece(a, p, *out, *out_len, why);
}

static int answer_end(void *data, apr_pool_t *p, const char **out,
                      apr_size_t *out_len, const char **why)
{
    reply_t *a = data;

    *out = "";
    *out_len = 0;
    if (a->stream) {
        *out = llm_mask_stream_end(a->stream, p, out_len);
    }
    return guard_piece(a, p, *out, *out_len, why);
}

/* What the answer's text goes through, set for the router (LLM_XLATE). */
static void filter_answer(request_rec *r, const mask_conf_t *c,
                          llm_req_ctx_t *ctx)
{
    llm_answer_filter_t *af;
    reply_t *a;
    int unmask = c->responses == RESPONSES_UNMASK && ctx->mask_session
                 && c->mode == LLM_MASK_PSEUDONYM;
    int mask = c->responses == RESPONSES_MASK;

    if (!unmask && !mask && !c->guard_responses) {
        return;
    }
    a = apr_pcalloc(r->pool, sizeof(*a));
    if (unmask || mask) {
        llm_mask_session_t *s = ctx->mask_session
            ? ctx->mask_session : llm_mask_session_create(r->pool, c->mode);

        a->stream = llm_mask_stream_create(r->pool,
                                           mask ? rules_of(c) : NULL, s,
                                           unmask);
    }
    if (c->guard_responses) {
        a->guard = c->guard_rules ? c->guard_rules : default_guard;
    }
    af = apr_pcalloc(r->pool, sizeof(*af));
    af->feed = answer_feed;
    af->end = answer_end;
    af->data = a;
    ctx->answer_filter = af;
}

/* ------------------------------------------------------------------ */
/* fast_text_mask                                                      */
/* ------------------------------------------------------------------ */

static const char *llm_mask_fast_text(request_rec *r, const char *text,
                                      apr_size_t len)
{
    const mask_conf_t *c = ap_get_module_config(r->per_dir_config,
                                                &llm_mask_module);
    llm_mask_session_t *s = llm_mask_session_create(r->pool, c->mode);
    apr_size_t out_len = 0;
    int n = 0;
    const char *out = llm_mask_apply(rules_of(c), s, r->pool, text, len,
                                     &out_len, &n);
    json_object *o = json_object_new_object();
    json_object *map = json_object_new_object();
    apr_hash_index_t *hi;
    const char *body;

    for (hi = apr_hash_first(r->pool, llm_mask_session_map(s)); hi;
         hi = apr_hash_next(hi)) {
        const void *k;
        void *v;

        apr_size_t olen;
        const char *original;

        apr_hash_this(hi, &k, NULL, &v);
        original = llm_mask_session_original(s, k, strlen(k), &olen);
        json_object_object_add(map, k, json_object_new_string_len(
                                           original, (int)olen));
    }
    json_object_object_add(o, "text",
                           json_object_new_string_len(out, (int)out_len));
    json_object_object_add(o, "mappings", map);
    body = apr_pstrcat(r->pool, json_object_to_json_string_ext(o,
                           JSON_C_TO_STRING_PLAIN
                           | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL);
    json_object_put(o);
    return body;
}

/* ------------------------------------------------------------------ */
/* Module                                                              */
/* ------------------------------------------------------------------ */

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    const char *err;

    (void)plog;
    (void)ptemp;
    /* Before any directive: scopes copy nothing from it, but guard
     * directives compile against the default rules. */
    apr_pool_cleanup_register(pconf, NULL, forget_defaults,
                              apr_pool_cleanup_null);
    if ((err = compile_defaults(pconf)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, NULL, LLMLOGNO(03004)
                     "%s", err);
        return !OK;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_request_parsed, mask_request, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_REGISTER_OPTIONAL_FN(llm_mask_fast_text);
}

AP_DECLARE_MODULE(llm_mask) = {
    STANDARD20_MODULE_STUFF,
    create_conf,
    merge_conf,
    NULL,
    NULL,
    mask_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
