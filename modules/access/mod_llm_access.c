/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_access: API keys as an httpd authentication type, and the
 * permissions of a key as Require providers (docs/access.md).
 *
 * Where it joins a request:
 *  - check_user_id (check_authn): "AuthType llm-key", or keys taken
 *    beside another AuthType (LLMAccessKeys On), finds the key in
 *    Authorization: Bearer or x-api-key, checks it against the store,
 *    and the route against the key's permissions; r->user is the key's
 *    id (mod_llm_access_authn.c);
 *  - auth_checker, through mod_authz_core: "Require llm-permission" and
 *    "Require llm-model" (mod_llm_access_authz.c), so <RequireAny> and
 *    <RequireAll> combine keys with any other httpd auth;
 *  - mod_llm_router's llm_request_parsed: the model, known only once
 *    the body is read, against the key's models and Require llm-model.
 *  - monitor, in httpd's parent: the keys' last_used times, written to
 *    their store in batches (mod_llm_access_used.c), and the token
 *    budgets to their state file (mod_llm_access_budget.c).
 * Each refusal is announced through the llm_access_refused hook (for
 * audit and metrics) and answered as JSON in the client's dialect (on
 * any Location: insert_error_filter below). Optional functions:
 * llm_access_model_allowed (the router's model lists per key) and
 * llm_access_each_budget (metrics).
 *
 * The store is read in post_config into the configuration pool: the
 * children share it read-only (no lock), and a graceful restart reads
 * the file again.
 */

#include <stdlib.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"
#include "util_filter.h"
#include "mpm_common.h"

#include "llm_xlate.h"

#define LLM_ACCESS_MODULE_FILE
#include "mod_llm_access.h"

APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llm, LLM, int, llm_access_refused,
                                    (request_rec *r,
                                     const llm_access_event_t *ev),
                                    (r, ev), OK, DECLINED)

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

/* Servers naming the same file share one copy of its store. */
static const char *load_store(apr_pool_t *pconf, apr_hash_t *loaded,
                              server_rec *s, llm_access_srv_conf_t *sc)
{
    const char *why;

    sc->store = apr_hash_get(loaded, sc->key_file, APR_HASH_KEY_STRING);
    if (sc->store) {
        return NULL;
    }
    if ((why = llm_access_store_load(pconf, sc->key_file, &sc->store))
        != NULL) {
        return why;
    }
    apr_hash_set(loaded, sc->key_file, APR_HASH_KEY_STRING, sc->store);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(05001)
                 "key file %s: %d key(s)", sc->key_file,
                 sc->store->keys->nelts);
    return NULL;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *loaded = apr_hash_make(ptemp);
    server_rec *v;
    const char *why;

    (void)plog;
    if ((why = llm_access_limits_init(pconf, s)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(05008)
                     "mod_llm_access: %s", why);
        return !OK;
    }
    for (v = s; v; v = v->next) {
        llm_access_srv_conf_t *sc = llm_access_srv(v);

        if (sc->key_file
            && (why = load_store(pconf, loaded, v, sc)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, LLMLOGNO(05002)
                         "mod_llm_access: %s", why);
            return !OK;
        }
    }
    llm_access_budget_init(pconf, ptemp, s);
    if ((why = llm_access_used_init(pconf, s)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(05019)
                     "mod_llm_access: %s", why);
        return !OK;
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* Refusals                                                            */
/* ------------------------------------------------------------------ */

/* Kept in the initial request, which internal redirects and
 * subrequests (skipped by the auth hooks) share. */
llm_access_req_t *llm_access_req(request_rec *r)
{
    llm_access_req_t *st;

    while (r->prev) {
        r = r->prev;
    }
    while (r->main) {
        r = r->main;
    }
    st = ap_get_module_config(r->request_config, &llm_access_module);
    if (!st) {
        st = apr_pcalloc(r->pool, sizeof(*st));
        ap_set_module_config(r->request_config, &llm_access_module, st);
    }
    return st;
}

void llm_access_announce(request_rec *r, llm_access_kind_e kind, int status,
                         const char *code, const char *key_id,
                         const char *model, const char *limit)
{
    llm_access_req_t *st = llm_access_req(r);
    llm_access_event_t ev;

    if (st->announced) {
        return;
    }
    st->announced = 1;
    ev.kind = kind;
    ev.status = status;
    ev.code = code;
    ev.key_id = key_id;
    ev.limit = limit;
    ev.model = model;
    llm_run_llm_access_refused(r, &ev);
}

int llm_access_refuse(request_rec *r, llm_access_kind_e kind, int status,
                      const char *code, const char *message,
                      const llm_access_key_t *key)
{
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_STATUS,
                   apr_itoa(r->pool, status));
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_CODE, code);
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_MESSAGE, message);
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_KIND, apr_itoa(r->pool, kind));
    if (key) {
        apr_table_setn(r->notes, LLM_NOTE_KEY_ID, key->id);
    }
    /* The key's id only: the key itself is never logged. */
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(05003)
                  "%s %s: %d %s (key %s)", r->method, r->uri, status, code,
                  key ? key->id : "-");
    return status;
}

/* Whether the error page being made is the refusal noted: its status,
 * or the 401 httpd makes of a Require's 403 after authentication
 * (unless AuthzSendForbiddenOnFailure On). A refusal noted by a Require
 * provider that another one overruled is not the page of a later error
 * (a 413, say). */
static int is_noted_refusal(request_rec *r)
{
    const char *noted = apr_table_get(r->notes, LLM_NOTE_ACCESS_STATUS);
    int status = noted ? atoi(noted) : 0;

    return status == r->status
           || (status == HTTP_FORBIDDEN && r->status == HTTP_UNAUTHORIZED);
}

/* The refusal as one JSON error instead of httpd's HTML page, for any
 * Location (a static file, a proxied path that is no LLM route):
 * OpenAI's shape, Anthropic's when the client sends anthropic-version.
 * On the router's routes its own hook runs after this one and answers
 * in the client's dialect instead. The status and err_headers_out
 * (WWW-Authenticate, Retry-After, X-RateLimit-*) are httpd's to send. */
static void json_page(request_rec *r, const char *code)
{
    const char *message = apr_table_get(r->notes, LLM_NOTE_ACCESS_MESSAGE);
    llm_wire_e wire = apr_table_get(r->headers_in, "anthropic-version")
                      ? LLM_WIRE_ANTHROPIC : LLM_WIRE_OPENAI_CHAT;

    ap_custom_response(r, r->status,
                       llm_error_json_for(r->pool, wire, r->status, code,
                                          message ? message : code));
    ap_add_output_filter(LLM_ACCESS_JSON_FILTER, NULL, r, r->connection);
}

/* httpd labels every error page text/html after insert_error_filter. */
static apr_status_t json_type_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* The error page of a refusal noted above is being made: announce it,
 * with the status the client gets, and make it JSON. */
static void insert_error_filter(request_rec *r)
{
    const char *code = apr_table_get(r->notes, LLM_NOTE_ACCESS_CODE);
    const char *kind = apr_table_get(r->notes, LLM_NOTE_ACCESS_KIND);

    if (!code || !kind || r->status < 400 || !is_noted_refusal(r)) {
        return;
    }
    apr_table_setn(r->notes, LLM_NOTE_ACCESS_STATUS,
                   apr_itoa(r->pool, r->status));
    llm_access_announce(r, (llm_access_kind_e)atoi(kind), r->status, code,
                        apr_table_get(r->notes, LLM_NOTE_KEY_ID), NULL,
                        apr_table_get(r->notes, LLM_NOTE_ACCESS_LIMIT));
    json_page(r, code);
}

/* ------------------------------------------------------------------ */
/* Writes of httpd's parent                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    llm_access_parent_job_t *job;
    server_rec *s;
} job_end_t;

static apr_status_t parent_job_last(void *data)
{
    job_end_t *e = data;

    if (e->job->interval_s && getpid() == e->job->pid) {
        e->job->run(e->s);
    }
    return APR_SUCCESS;
}

void llm_access_parent_job_start(llm_access_parent_job_t *j,
                                 apr_pool_t *pconf, server_rec *s)
{
    job_end_t *e = apr_palloc(pconf, sizeof(*e));

    j->pid = getpid();
    j->next = apr_time_now() + apr_time_from_sec(j->interval_s);
    e->job = j;
    e->s = s;
    apr_pool_cleanup_register(pconf, e, parent_job_last,
                              apr_pool_cleanup_null);
}

void llm_access_parent_job_tick(llm_access_parent_job_t *j, server_rec *s)
{
    apr_time_t now = apr_time_now();

    if (j->interval_s && now >= j->next && getpid() == j->pid) {
        j->next = now + apr_time_from_sec(j->interval_s);
        j->run(s);
    }
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    llm_access_keycache_init(pchild);
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* Before mod_auth_basic: a request that carries a key is ours, one
     * that carries none goes on to the other AuthType. */
    ap_hook_check_authn(llm_access_check_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(llm_access_note_failure, NULL, NULL,
                              APR_HOOK_FIRST);
    /* Before the router's, which reads the notes set here. */
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL,
                                APR_HOOK_FIRST);
    ap_register_output_filter(LLM_ACCESS_JSON_FILTER, json_type_filter,
                              NULL, AP_FTYPE_RESOURCE);
    llm_access_register_authz(p);
    /* After authentication and authorisation: a refused request costs
     * nothing. */
    ap_hook_fixups(llm_access_check_limits, NULL, NULL, APR_HOOK_FIRST);
    APR_OPTIONAL_HOOK(llm, llm_request_done, llm_access_request_done,
                      NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_request_parsed, llm_access_request_parsed,
                      NULL, NULL, APR_HOOK_FIRST);
    APR_REGISTER_OPTIONAL_FN(llm_access_model_allowed);
    APR_REGISTER_OPTIONAL_FN(llm_access_each_budget);
    /* httpd's parent writes the keys' last_used in batches. */
    ap_hook_monitor(llm_access_used_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(llm_access_budget_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_access) = {
    STANDARD20_MODULE_STUFF,
    llm_access_create_dir,
    llm_access_merge_dir,
    llm_access_create_srv,
    llm_access_merge_srv,
    llm_access_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
