/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Active health probes, from one place: a singleton watchdog of
 * mod_watchdog, which runs in one child process at a time (it holds a
 * global mutex; parent-process watchdogs do not exist for the forked
 * MPMs), like mod_proxy_hcheck's: never once per child. Every
 * LLMBalanceProbeInterval it asks each provider for its model list
 * (OpenAI-compatible: GET /v1/models; Ollama: GET /api/tags) with libcurl
 * and feeds the answer to the same breaker as real requests
 * (llm_health.c), through the shared memory the children read:
 *
 *   - no answer, or a 5xx: a failure (N in a row take it out), so a dead
 *     provider is left out before any client request pays for it;
 *   - any other answer: alive; a provider that was out is trusted again
 *     at once, so traffic returns within one interval of its recovery.
 *
 * Probes run one after another, each bounded by LLMBalanceProbeTimeout.
 *
 * The same watchdog keeps models warm: a provider with "keep_alive" in
 * the models file that has served since start-up and then stayed idle
 * for that long gets a one-line chat request (the original router's
 * keep-alive), so that a server which unloads idle models (Ollama, LM
 * Studio) still has it loaded when a client comes back. Checked every
 * second, whatever LLMBalanceProbeInterval says; a provider that is out
 * of service or busy is left alone.
 */

#include <curl/curl.h>

#include "apr_strings.h"
#include "apr_atomic.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_watchdog.h"

#include "llm_balance_private.h"
#include "llm_health.h"

static size_t discard(char *ptr, size_t size, size_t n, void *data)
{
    (void)ptr;
    (void)data;
    return size * n;
}

static const char *probe_url(apr_pool_t *p, const llm_provider_t *pr)
{
    apr_size_t n = strlen(pr->api_host);
    int v1 = n >= 3 && !strcmp(pr->api_host + n - 3, "/v1");

    if (pr->api_type == LLM_API_OLLAMA) {
        return apr_pstrcat(p, pr->api_host, "/api/tags", NULL);
    }
    return apr_pstrcat(p, pr->api_host, v1 ? "/models" : "/v1/models", NULL);
}

/* 0 alive, else the failure as an outcome. */
static llm_outcome_e ask(apr_pool_t *p, const llm_provider_t *pr,
                         apr_interval_time_t timeout, long *status)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    CURLcode rc;

    *status = 0;
    if (!h) {
        return LLM_OUTCOME_OK;          /* cannot tell: do not judge */
    }
    curl_easy_setopt(h, CURLOPT_URL, probe_url(p, pr));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)apr_time_as_msec(timeout));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mod_llm probe/" LLM_VERSION_STRING);
    if (*pr->api_token) {
        hdr = curl_slist_append(hdr, apr_pstrcat(p, "Authorization: Bearer ",
                                                 pr->api_token, NULL));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    }
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        return LLM_OUTCOME_TIMEOUT;
    }
    if (rc != CURLE_OK) {
        return LLM_OUTCOME_REFUSED;
    }
    return *status >= 500 ? LLM_OUTCOME_HTTP_ERROR : LLM_OUTCOME_OK;
}

static void probe_one(apr_pool_t *p, server_rec *s,
                      const llm_balance_probe_conf_t *c, llm_provider_t *pr)
{
    llm_provider_stats_t *st = pr->stats;
    apr_uint32_t was_out = apr_atomic_read32(&st->down_until_s);
    long status;
    llm_outcome_e o = ask(p, pr, c->timeout, &status);

    if (o == LLM_OUTCOME_OK) {
        apr_atomic_set32(&st->consecutive_failures, 0);
        if (was_out) {
            apr_atomic_set32(&st->down_until_s, 0);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, LLMLOGNO(02010)
                         "provider %s answers its probe again: back in "
                         "service", pr->id);
        }
        return;
    }
    llm_health_record(c->health, st, o, (int)status, 0, 0, apr_time_now());
    if (!was_out && apr_atomic_read32(&st->down_until_s)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, LLMLOGNO(02011)
                     "provider %s (%s) fails its probes: out of service",
                     pr->id, pr->origin);
    }
}

#define KEEP_ALIVE_TEXT "Send an empty message."
#define KEEP_ALIVE_TIMEOUT_S 60L

static const char *keep_alive_body(apr_pool_t *p, const llm_model_t *m,
                                   const llm_provider_t *pr)
{
    const char *model = *pr->model_path ? pr->model_path : m->name;

    if (pr->api_type == LLM_API_OLLAMA) {
        return apr_psprintf(p, "{\"model\":\"%s\",\"messages\":[{\"role\":"
                            "\"user\",\"content\":\"" KEEP_ALIVE_TEXT "\"}],"
                            "\"stream\":false,\"options\":{\"num_predict\":1,"
                            "\"temperature\":0}}", model);
    }
    return apr_psprintf(p, "{\"model\":\"%s\",\"messages\":[{\"role\":"
                        "\"user\",\"content\":\"" KEEP_ALIVE_TEXT "\"}],"
                        "\"stream\":false,\"max_tokens\":%d,"
                        "\"temperature\":0}", model,
                        pr->api_type == LLM_API_ANTHROPIC ? 1 : 56);
}

static const char *keep_alive_url(apr_pool_t *p, const llm_provider_t *pr)
{
    apr_size_t n = strlen(pr->api_host);
    int v1 = n >= 3 && !strcmp(pr->api_host + n - 3, "/v1");

    switch (pr->api_type) {
    case LLM_API_OLLAMA:
        return apr_pstrcat(p, pr->api_host, "/api/chat", NULL);
    case LLM_API_ANTHROPIC:
        return apr_pstrcat(p, pr->api_host, v1 ? "/messages"
                                                : "/v1/messages", NULL);
    default:
        return apr_pstrcat(p, pr->api_host, v1 ? "/chat/completions"
                                                : "/v1/chat/completions",
                           NULL);
    }
}

/* One keep-alive request; the HTTP status, 0 when none came. */
static long send_keep_alive(apr_pool_t *p, const llm_model_t *m,
                            const llm_provider_t *pr)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    long status = 0;

    if (!h) {
        return 0;
    }
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    if (*pr->api_token) {
        hdr = curl_slist_append(hdr, apr_pstrcat(p,
            pr->api_type == LLM_API_ANTHROPIC ? "x-api-key: "
                                              : "Authorization: Bearer ",
            pr->api_token, NULL));
    }
    if (pr->api_type == LLM_API_ANTHROPIC) {
        hdr = curl_slist_append(hdr, "anthropic-version: 2023-06-01");
    }
    curl_easy_setopt(h, CURLOPT_URL, keep_alive_url(p, pr));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, keep_alive_body(p, m, pr));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, KEEP_ALIVE_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT,
                     "mod_llm keep-alive/" LLM_VERSION_STRING);
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return status;
}

static void keep_warm(apr_pool_t *p, server_rec *s, const llm_model_t *m,
                      const llm_provider_t *pr, apr_uint32_t now)
{
    llm_provider_stats_t *st = pr->stats;
    apr_uint32_t last = apr_atomic_read32(&st->last_used_s);
    apr_uint32_t every = (apr_uint32_t)apr_time_sec(pr->keep_alive);
    long status;

    if (!pr->keep_alive || !last || now - last < (every ? every : 1)
        || apr_atomic_read32(&st->inflight)
        || llm_health_state(st, apr_time_now()) != LLM_HEALTH_UP) {
        return;
    }
    /* Counted as a use first: a slow answer must not get a second one. */
    apr_atomic_set32(&st->last_used_s, now);
    status = send_keep_alive(p, m, pr);
    ap_log_error(APLOG_MARK, status >= 200 && status < 300 ? APLOG_DEBUG
                                                          : APLOG_WARNING,
                 0, s, LLMLOGNO(02019) "keep-alive of model %s on provider "
                 "%s: %s", m->name, pr->id,
                 status ? apr_ltoa(p, status) : "no answer");
}

static void keep_tier_warm(apr_pool_t *p, server_rec *s,
                           const llm_model_t *m,
                           const apr_array_header_t *tier, apr_uint32_t now)
{
    int i;

    for (i = 0; i < tier->nelts; i++) {
        keep_warm(p, s, m, APR_ARRAY_IDX(tier, i, llm_provider_t *), now);
    }
}

static apr_status_t keep_all_warm(int state, void *data, apr_pool_t *p)
{
    server_rec *s = data;
    const apr_array_header_t *tables = llm_balance_status_tables();
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    int t;
    int i;

    if (state != AP_WATCHDOG_STATE_RUNNING || !tables) {
        return APR_SUCCESS;
    }
    for (t = 0; t < tables->nelts; t++) {
        llm_models_t *ms = APR_ARRAY_IDX(tables, t, llm_models_t *);

        for (i = 0; i < ms->models->nelts; i++) {
            const llm_model_t *m = APR_ARRAY_IDX(ms->models, i,
                                                 llm_model_t *);

            keep_tier_warm(p, s, m, m->providers, now);
            keep_tier_warm(p, s, m, m->providers_sleep, now);
        }
    }
    return APR_SUCCESS;
}

static apr_status_t probe_all(int state, void *data, apr_pool_t *p)
{
    const llm_balance_probe_conf_t *c = data;
    const apr_array_header_t *tables = llm_balance_status_tables();
    int t;
    int i;

    if (state != AP_WATCHDOG_STATE_RUNNING || !tables) {
        return APR_SUCCESS;
    }
    for (t = 0; t < tables->nelts; t++) {
        llm_models_t *m = APR_ARRAY_IDX(tables, t, llm_models_t *);

        for (i = 0; i < m->providers->nelts; i++) {
            probe_one(p, c->server, c,
                      APR_ARRAY_IDX(m->providers, i, llm_provider_t *));
        }
    }
    return APR_SUCCESS;
}

static int watchdog(apr_pool_t *pconf, server_rec *s, const char *name,
                    apr_interval_time_t every, void *data,
                    ap_watchdog_callback_fn_t *fn)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *reg;
    ap_watchdog_t *wd;
    apr_status_t rv;

    get = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    reg = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get || !reg) {
        return APR_ENOTIMPL;
    }
    rv = get(&wd, name, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = reg(wd, every, data, fn);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LLMLOGNO(02013)
                     "cannot start the %s watchdog", name);
    }
    return rv;
}

int llm_balance_probe_start(apr_pool_t *pconf, server_rec *s,
                            llm_balance_probe_conf_t *c)
{
    apr_status_t rv;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    c->server = s;
    /* Keep-alives need mod_watchdog only when a provider asks for them
     * (the models files are read by then: see llm_balance_shm_attach). */
    rv = watchdog(pconf, s, "llm_balance_keepalive", apr_time_from_sec(1),
                  s, keep_all_warm);
    if (rv != APR_SUCCESS && rv != APR_ENOTIMPL) {
        return !OK;
    }
    if (c->interval <= 0) {
        return OK;
    }
    rv = watchdog(pconf, s, "llm_balance_probe", c->interval, c, probe_all);
    if (rv == APR_ENOTIMPL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(02012)
                     "LLMBalanceProbeInterval needs mod_watchdog");
    }
    return rv == APR_SUCCESS ? OK : !OK;
}
