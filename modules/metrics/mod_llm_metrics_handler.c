/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The scrape: "SetHandler llm-metrics" in a <Location> (protected with
 * the usual Require), answering GET with every family in the Prometheus
 * text format, or in OpenMetrics with exemplars when the scraper's
 * Accept prefers it. The counters are the sums of every child's slot; the
 * token budgets come from mod_llm_access (llm_access_each_budget); the
 * provider gauges are read at this moment from mod_llm_balance's shared
 * provider state (llm_provider_stats_t), without locks: each number is
 * exact, the page a snapshot taken over a few microseconds.
 */

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_atomic.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_main.h"

#include "mod_llm_metrics.h"

typedef enum { CIRCUIT_CLOSED = 0, CIRCUIT_OPEN = 1, CIRCUIT_HALF_OPEN = 2 }
    circuit_e;

/* Closed: usable; open: out after failures; half-open: its time out is
 * over (or a probe runs), the next request tries it. */
static circuit_e circuit_of(llm_provider_stats_t *st, apr_time_t now)
{
    apr_uint32_t until = apr_atomic_read32(&st->down_until_s);

    if (until == 0) {
        return CIRCUIT_CLOSED;
    }
    if (apr_atomic_read32(&st->probing)
        || (apr_uint32_t)apr_time_sec(now) >= until) {
        return CIRCUIT_HALF_OPEN;
    }
    return CIRCUIT_OPEN;
}

typedef struct {
    llm_buf_t up, circuit, inflight;
    apr_hash_t *seen;              /* "model\1provider" already shown */
    apr_time_t now;
} gauges_t;

static void provider_gauges(apr_pool_t *p, gauges_t *g, const llm_model_t *m,
                            const apr_array_header_t *prs)
{
    int i;

    for (i = 0; prs && i < prs->nelts; i++) {
        llm_provider_t *pr = APR_ARRAY_IDX(prs, i, llm_provider_t *);
        const char *key = apr_pstrcat(p, m->name, LLM_METRICS_PAIR_SEP,
                                      pr->id, NULL);
        const char *labels[4] = { "model", m->name, "provider", pr->id };
        circuit_e c;

        if (!pr->stats || apr_hash_get(g->seen, key, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(g->seen, key, APR_HASH_KEY_STRING, key);
        c = circuit_of(pr->stats, g->now);
        llm_metrics_write_sample(&g->up, "llm_router_provider_up", labels, 2,
                                 c != CIRCUIT_OPEN, 0);
        llm_metrics_write_sample(&g->circuit, "llm_router_provider_circuit_state",
                                 labels, 2, c, 0);
        llm_metrics_write_sample(&g->inflight, "llm_router_provider_inflight",
                                 labels, 2,
                                 apr_atomic_read32(&pr->stats->inflight), 0);
    }
}

static void write_health(apr_pool_t *p, llm_metrics_set_t *set,
                         llm_buf_t *out)
{
    gauges_t g;
    int t, i;

    llm_buf_init(&g.up, p);
    llm_buf_init(&g.circuit, p);
    llm_buf_init(&g.inflight, p);
    g.seen = apr_hash_make(p);
    g.now = apr_time_now();
    for (t = 0; t < set->tables->nelts; t++) {
        const llm_models_t *ms = APR_ARRAY_IDX(set->tables, t,
                                               const llm_models_t *);

        for (i = 0; i < ms->models->nelts; i++) {
            const llm_model_t *m = APR_ARRAY_IDX(ms->models, i,
                                                 const llm_model_t *);

            provider_gauges(p, &g, m, m->providers);
            provider_gauges(p, &g, m, m->providers_sleep);
        }
    }
    llm_metrics_write_head(out, "llm_router_provider_up",
                           "1 when the provider may be chosen, 0 while it is "
                           "out after failures.", LLM_METRIC_GAUGE);
    llm_buf_add(out, g.up.data, g.up.len);
    llm_metrics_write_head(out, "llm_router_provider_circuit_state",
                           "0 closed, 1 open (out), 2 half-open (a probe is "
                           "due or under way).", LLM_METRIC_GAUGE);
    llm_buf_add(out, g.circuit.data, g.circuit.len);
    llm_metrics_write_head(out, "llm_router_provider_inflight",
                           "Attempts under way against the provider now.",
                           LLM_METRIC_GAUGE);
    llm_buf_add(out, g.inflight.data, g.inflight.len);
}

/* ------------------------------------------------------------------ */
/* Token budgets (key_budget_usage_tokens), from mod_llm_access         */
/* ------------------------------------------------------------------ */

static APR_OPTIONAL_FN_TYPE(llm_access_each_budget) *each_budget;

void llm_metrics_handler_init(void)
{
    each_budget = APR_RETRIEVE_OPTIONAL_FN(llm_access_each_budget);
}

typedef struct {
    apr_pool_t *p;
    llm_buf_t used, limit;
    apr_hash_t *seen;            /* "key\1period": servers that share a
                                    key store give each key once */
    int left;                    /* series still allowed */
} budgets_t;

static int one_budget(void *baton, const llm_key_budget_t *b)
{
    budgets_t *x = baton;
    const char *labels[4];
    const char *key;

    if (!b || !b->key_id || !b->period) {
        return 0;
    }
    if (x->left <= 0) {
        return 1;
    }
    key = apr_pstrcat(x->p, b->key_id, LLM_METRICS_PAIR_SEP, b->period,
                      NULL);
    if (apr_hash_get(x->seen, key, APR_HASH_KEY_STRING)) {
        return 0;
    }
    apr_hash_set(x->seen, key, APR_HASH_KEY_STRING, key);
    x->left--;
    labels[0] = "key_id";
    labels[1] = b->key_id;
    labels[2] = "period";
    labels[3] = b->period;
    llm_metrics_write_sample(&x->used, "key_budget_usage_tokens", labels, 2,
                             (apr_int64_t)b->used, 0);
    llm_metrics_write_sample(&x->limit, "key_budget_limit_tokens", labels, 2,
                             (apr_int64_t)b->limit, 0);
    return 0;
}

/* Every server's keys with a budget spent in part, at most
 * LLMMetricsKeyIds of them; no samples when mod_llm_access is not
 * loaded (or does not publish budgets): the families stay. */
static void write_budgets(request_rec *r, llm_metrics_set_t *set,
                          llm_buf_t *out)
{
    budgets_t x;
    server_rec *s;

    x.p = r->pool;
    llm_buf_init(&x.used, r->pool);
    llm_buf_init(&x.limit, r->pool);
    x.seen = apr_hash_make(r->pool);
    x.left = llm_metrics_keys_max(set->keys);
    for (s = ap_server_conf; each_budget && s && x.left > 0; s = s->next) {
        each_budget(r->pool, s, x.left, one_budget, &x);
    }
    llm_metrics_write_head(out, "key_budget_usage_tokens",
                           "Tokens of a key's token budget spent in the "
                           "current period (from mod_llm_access).",
                           LLM_METRIC_GAUGE);
    llm_buf_add(out, x.used.data, x.used.len);
    llm_metrics_write_head(out, "key_budget_limit_tokens",
                           "A key's token budget for the period.",
                           LLM_METRIC_GAUGE);
    llm_buf_add(out, x.limit.data, x.limit.len);
}

/* ------------------------------------------------------------------ */
/* The format: OpenMetrics when the scraper prefers it                  */
/* ------------------------------------------------------------------ */

/* The q of one media range's parameters ("; q=0.5; version=1.0.0"),
 * 0 when its version is not @a version (NULL: any). */
static double range_q(const char *params, const char *version)
{
    double q = 1.0;
    const char *p = params;

    while (p && *p) {
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);

        while (p < end && apr_isspace(*p)) {
            p++;
        }
        if (!strncasecmp(p, "q=", 2)) {
            q = atof(p + 2);
        }
        else if (version && !strncasecmp(p, "version=", 8)) {
            const char *v = p + 8;
            apr_size_t n = (apr_size_t)(end - v);

            while (n && apr_isspace(v[n - 1])) {
                n--;
            }
            if (n != strlen(version) || strncmp(v, version, n)) {
                return 0;
            }
        }
        p = semi ? semi + 1 : NULL;
    }
    return q;
}

/* Whether the Accept header prefers OpenMetrics 1.0.0 (or OpenMetrics of
 * no version) to the text format: Prometheus asks
 * "application/openmetrics-text;version=1.0.0,...,text/plain;
 * version=0.0.4;q=0.5" and any type at q=0.1. Without it, the text
 * format. */
static int wants_openmetrics(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    char *list, *range, *state;
    double om = 0, text = 0;

    if (!accept || !ap_strcasestr(accept, "application/openmetrics-text")) {
        return 0;
    }
    list = apr_pstrdup(r->pool, accept);
    for (range = apr_strtok(list, ",", &state); range;
         range = apr_strtok(NULL, ",", &state)) {
        char *params = strchr(range, ';');
        double q;

        if (params) {
            *params++ = '\0';
        }
        apr_collapse_spaces(range, range);   /* returns the end */
        if (!strcasecmp(range, "application/openmetrics-text")) {
            q = range_q(params, "1.0.0");
            om = q > om ? q : om;
        }
        else if (!strcasecmp(range, "text/plain")) {
            q = range_q(params, NULL);
            text = q > text ? q : text;
        }
    }
    return om > 0 && om >= text;
}

int llm_metrics_handler(request_rec *r)
{
    llm_metrics_set_t *set = llm_metrics_current();
    llm_buf_t out;
    unsigned int flags;

    if (!r->handler || strcmp(r->handler, LLM_METRICS_HANDLER)) {
        return DECLINED;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!set) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(06004)
                      "mod_llm_metrics: no metrics in this process");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    llm_buf_init(&out, r->pool);
    llm_buf_reserve(&out, 64 * 1024);
    flags = wants_openmetrics(r) ? LLM_METRICS_OPENMETRICS : 0;
    llm_metrics_write_as(set->reg, &out, r->pool, flags);
    write_budgets(r, set, &out);
    write_health(r->pool, set, &out);
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    if (flags & LLM_METRICS_OPENMETRICS) {
        llm_metrics_write_eof(&out);
        ap_set_content_type(r, "application/openmetrics-text; "
                               "version=1.0.0; charset=utf-8");
    }
    else {
        ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    }
    ap_set_content_length(r, (apr_off_t)out.len);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rwrite(out.data, (int)out.len, r);
    }
    return OK;
}
