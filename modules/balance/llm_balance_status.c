/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The status page: "SetHandler llm-balance-status" in a <Location>, like
 * mod_proxy's balancer-manager, protected by the usual Require. For each
 * models file and model, each provider's state (ok / out until T /
 * probing), requests under way, requests, failures, time-to-first-byte
 * EWMA, and the model's method. HTML for people (refreshing its numbers
 * from the JSON every 2 s), JSON for machines (?format=json).
 *
 * The numbers are read from shared memory without locks: each one is
 * exact, a page is a snapshot taken over a few microseconds.
 */

#include "apr_strings.h"
#include "apr_atomic.h"
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "http_main.h"

#include "llm_balance_private.h"
#include "llm_health.h"

/* The models files of this generation, as the router announced them. */
static apr_array_header_t *tables;

static apr_status_t forget_tables(void *unused)
{
    (void)unused;
    tables = NULL;
    return APR_SUCCESS;
}

void llm_balance_status_remember(apr_pool_t *pconf, llm_models_t *m)
{
    if (!tables) {
        tables = apr_array_make(pconf, 4, sizeof(llm_models_t *));
        apr_pool_cleanup_register(pconf, NULL, forget_tables,
                                  apr_pool_cleanup_null);
    }
    APR_ARRAY_PUSH(tables, llm_models_t *) = m;
}

const apr_array_header_t *llm_balance_status_tables(void)
{
    return tables;
}

typedef struct {
    const char *state;        /* "ok", "out", "probing" */
    apr_uint32_t out_until;
} health_view_t;

static health_view_t view(llm_provider_stats_t *st, apr_time_t now)
{
    health_view_t v;

    v.out_until = apr_atomic_read32(&st->down_until_s);
    if (v.out_until == 0) {
        v.state = "ok";
    }
    else if (apr_atomic_read32(&st->probing)) {
        v.state = "probing";
    }
    else {
        v.state = (apr_uint32_t)apr_time_sec(now) < v.out_until
                  ? "out" : "probe due";
    }
    return v;
}

static const char *jstr(apr_pool_t *p, const char *s);

static const char *method_of(const llm_model_t *m)
{
    return m->balance ? m->balance : "LLMRouterBalance (default balanced)";
}

/* Each server (main, VirtualHosts) the gateway is on, with its models
 * file and method (the router knows them: an optional function). */
typedef void (*server_fn)(request_rec *r, server_rec *s, int first,
                          const char *path, const char *method);

static int each_server(request_rec *r, server_fn fn)
{
    APR_OPTIONAL_FN_TYPE(llm_router_server_info) *info =
        APR_RETRIEVE_OPTIONAL_FN(llm_router_server_info);
    server_rec *s;
    int n = 0;

    for (s = info ? ap_server_conf : NULL; s; s = s->next) {
        const char *path;
        const char *method;
        int on;

        info(s, &on, &path, &method);
        if (on && path) {
            fn(r, s, n++ == 0, path, method);
        }
    }
    return n;
}

static const char *server_name(request_rec *r, server_rec *s)
{
    return apr_psprintf(r->pool, "%s:%u", s->server_hostname
                        ? s->server_hostname : "*",
                        s->addrs ? s->addrs->host_port : 0);
}

static void json_server(request_rec *r, server_rec *s, int first,
                        const char *path, const char *method)
{
    ap_rprintf(r, "%s{\"server\":%s,\"models_file\":%s,\"method\":%s}",
               first ? "" : ",", jstr(r->pool, server_name(r, s)),
               jstr(r->pool, path), jstr(r->pool, method));
}

static void html_server(request_rec *r, server_rec *s, int first,
                        const char *path, const char *method)
{
    if (first) {
        ap_rputs("<h2>Servers</h2><table>\n<tr><th>server</th>"
                 "<th>models file</th><th>method (models without their "
                 "own)</th></tr>\n", r);
    }
    ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n",
               ap_escape_html2(r->pool, server_name(r, s), 1),
               ap_escape_html2(r->pool, path, 1),
               ap_escape_html2(r->pool, method, 1));
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

static const char *jstr(apr_pool_t *p, const char *s)
{
    /* Names come from the models file: escape what JSON needs. */
    const char *c;
    char *out = apr_palloc(p, strlen(s) * 6 + 3);
    char *o = out;

    *o++ = '"';
    for (c = s; *c; c++) {
        unsigned char u = (unsigned char)*c;

        if (u == '"' || u == '\\') {
            *o++ = '\\';
            *o++ = (char)u;
        }
        else if (u < 0x20) {
            o += apr_snprintf(o, 7, "\\u%04x", u);
        }
        else {
            *o++ = (char)u;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static void json_provider(request_rec *r, const llm_provider_t *pr,
                          const char *tier, apr_time_t now, int first)
{
    llm_provider_stats_t *st = pr->stats;
    health_view_t v = view(st, now);

    ap_rprintf(r, "%s{\"id\":%s,\"tier\":\"%s\",\"api_type\":%s,"
               "\"state\":\"%s\",\"out_until\":%s,\"inflight\":%u,"
               "\"requests\":%u,\"failures\":%u,"
               "\"consecutive_failures\":%u,\"latency_ewma_ms\":%.3f}",
               first ? "" : ",", jstr(r->pool, pr->id), tier,
               jstr(r->pool, llm_api_type_name(pr->api_type)), v.state,
               v.out_until ? apr_psprintf(r->pool, "%u", v.out_until) : "null",
               apr_atomic_read32(&st->inflight),
               apr_atomic_read32(&st->selected),
               apr_atomic_read32(&st->failures),
               apr_atomic_read32(&st->consecutive_failures),
               apr_atomic_read32(&st->latency_ewma_us) / 1000.0);
}

static void json_model(request_rec *r, const llm_model_t *m, apr_time_t now,
                       int first)
{
    int i;
    int n = 0;

    ap_rprintf(r, "%s{\"name\":%s,\"method\":%s,\"providers\":[",
               first ? "" : ",", jstr(r->pool, m->name),
               jstr(r->pool, method_of(m)));
    for (i = 0; i < m->providers->nelts; i++) {
        json_provider(r, APR_ARRAY_IDX(m->providers, i, llm_provider_t *),
                      "primary", now, n++ == 0);
    }
    for (i = 0; i < m->providers_sleep->nelts; i++) {
        json_provider(r, APR_ARRAY_IDX(m->providers_sleep, i,
                                       llm_provider_t *),
                      "sleep", now, n++ == 0);
    }
    ap_rputs("]}", r);
}

static void send_json(request_rec *r, apr_time_t now)
{
    int t;
    int i;

    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"time\":%" APR_TIME_T_FMT ",\"servers\":[",
               apr_time_sec(now));
    each_server(r, json_server);
    ap_rputs("],\"models_files\":[", r);
    for (t = 0; tables && t < tables->nelts; t++) {
        const llm_models_t *mf = APR_ARRAY_IDX(tables, t, llm_models_t *);

        ap_rprintf(r, "%s{\"path\":%s,\"models\":[", t ? "," : "",
                   jstr(r->pool, mf->path));
        for (i = 0; i < mf->models->nelts; i++) {
            json_model(r, APR_ARRAY_IDX(mf->models, i, llm_model_t *), now,
                       i == 0);
        }
        ap_rputs("]}", r);
    }
    ap_rputs("]}\n", r);
}

/* ------------------------------------------------------------------ */
/* HTML                                                                */
/* ------------------------------------------------------------------ */

static const char page_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>mod_llm balance status</title>\n<style>\n"
    "body{font-family:sans-serif;margin:1.5em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th:first-child,td:first-child,td.s{text-align:left}"
    "td.ok{background:#e6f4ea}td.out{background:#fce8e6}"
    "td.probing,td.probe_due{background:#fef7e0}"
    "h2{font-size:1.1em;margin-bottom:0}\n</style></head><body>\n"
    "<h1>mod_llm balance status</h1>\n";

/* Refresh the numbers in place from the JSON every 2 s: a person sees
 * the load move without reloading. */
static const char page_script[] =
    "<script>\n"
    "async function refresh(){\n"
    " try{const s=await (await fetch(location.pathname+'?format=json',"
    "{cache:'no-store'})).json();\n"
    "  for(const f of s.models_files)for(const m of f.models)"
    "for(const p of m.providers){\n"
    "   const row=document.getElementById('p-'+m.name+'-'+p.id);"
    "if(!row)continue;\n"
    "   for(const k of ['state','inflight','requests','failures',"
    "'latency_ewma_ms']){const c=row.querySelector('.'+k);"
    "if(c)c.textContent=k=='latency_ewma_ms'?p[k].toFixed(1):p[k];}\n"
    "   row.querySelector('.state').className='state s '+"
    "p.state.replace(' ','_');}\n"
    "  document.getElementById('updated').textContent="
    "new Date(s.time*1000).toISOString();\n"
    " }catch(e){}}\n"
    "setInterval(refresh,2000);\n</script>\n";

static void html_provider(request_rec *r, const llm_model_t *m,
                          const llm_provider_t *pr, const char *tier,
                          apr_time_t now)
{
    llm_provider_stats_t *st = pr->stats;
    health_view_t v = view(st, now);
    char until[APR_RFC822_DATE_LEN] = "";

    if (v.out_until && strcmp(v.state, "ok")) {
        apr_rfc822_date(until, apr_time_from_sec(v.out_until));
    }
    ap_rprintf(r, "<tr id=\"p-%s-%s\"><td>%s</td><td class=\"s\">%s</td>"
               "<td class=\"state s %s\">%s</td><td class=\"s\">%s</td>"
               "<td class=\"inflight\">%u</td><td class=\"requests\">%u</td>"
               "<td class=\"failures\">%u</td>"
               "<td class=\"latency_ewma_ms\">%.1f</td></tr>\n",
               ap_escape_html2(r->pool, m->name, 1),
               ap_escape_html2(r->pool, pr->id, 1),
               ap_escape_html2(r->pool, pr->id, 1), tier,
               v.state[0] == 'p' && v.state[5] == ' ' ? "probe_due" : v.state,
               v.state, until,
               apr_atomic_read32(&st->inflight),
               apr_atomic_read32(&st->selected),
               apr_atomic_read32(&st->failures),
               apr_atomic_read32(&st->latency_ewma_us) / 1000.0);
}

static void html_model(request_rec *r, const llm_model_t *m, apr_time_t now)
{
    int i;

    ap_rprintf(r, "<h2>%s</h2><p>method: %s</p>\n<table>\n<tr><th>provider"
               "</th><th>tier</th><th>state</th><th>out until</th>"
               "<th>in flight</th><th>requests</th><th>failures</th>"
               "<th>TTFB EWMA ms</th></tr>\n",
               ap_escape_html2(r->pool, m->name, 1),
               ap_escape_html2(r->pool, method_of(m), 1));
    for (i = 0; i < m->providers->nelts; i++) {
        html_provider(r, m, APR_ARRAY_IDX(m->providers, i,
                                          llm_provider_t *), "primary", now);
    }
    for (i = 0; i < m->providers_sleep->nelts; i++) {
        html_provider(r, m, APR_ARRAY_IDX(m->providers_sleep, i,
                                          llm_provider_t *), "sleep", now);
    }
    ap_rputs("</table>\n", r);
}

static void send_html(request_rec *r, apr_time_t now)
{
    char date[APR_RFC822_DATE_LEN];
    int t;
    int i;

    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs(page_head, r);
    apr_rfc822_date(date, now);
    ap_rprintf(r, "<p>Updated <span id=\"updated\">%s</span>. Machines: "
               "<a href=\"?format=json\">JSON</a>.</p>\n", date);
    if (each_server(r, html_server)) {
        ap_rputs("</table>\n", r);
    }
    for (t = 0; tables && t < tables->nelts; t++) {
        const llm_models_t *mf = APR_ARRAY_IDX(tables, t, llm_models_t *);

        ap_rprintf(r, "<h1>%s</h1>\n", ap_escape_html2(r->pool, mf->path, 1));
        for (i = 0; i < mf->models->nelts; i++) {
            html_model(r, APR_ARRAY_IDX(mf->models, i, llm_model_t *), now);
        }
    }
    ap_rputs(page_script, r);
    ap_rputs("</body></html>\n", r);
}

int llm_balance_status_handler(request_rec *r)
{
    apr_time_t now = apr_time_now();

    if (!r->handler || strcmp(r->handler, "llm-balance-status")) {
        return DECLINED;
    }
    r->allowed = AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->args && strstr(r->args, "format=json")) {
        send_json(r, now);
    }
    else {
        send_html(r, now);
    }
    return OK;
}
