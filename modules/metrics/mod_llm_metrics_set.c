/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Every metric the gateway shows, and the fixed tables its labels take
 * values from (docs/metrics.md lists them). The tables are made at
 * start-up: the routes of the router, the models and providers of every
 * models file the router announced (llm_models_loaded), the balance
 * methods registered, status codes, error kinds. A value outside them is
 * "other": a client sending random paths or model names moves "other",
 * it never makes a series.
 */

#include <stdlib.h>
#include "apr_strings.h"
#include "ap_provider.h"

#include "mod_llm_metrics.h"
#include "llm_request.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const methods[] = { "GET", "HEAD", "POST" };
static const char *const statuses[] = {
    "200", "201", "204", "206", "301", "302", "304", "400", "401", "403",
    "404", "405", "406", "408", "411", "413", "415", "422", "429", "500",
    "501", "502", "503", "504"
};
/* The next four are in the order of their enums (mod_llm_metrics.h). */
/* What went wrong with an attempt. */
static const char *const errors[] = {
    "connect", "reset", "timeout", "http_4xx", "http_429", "http_5xx",
    "stream_cut", "client_abort", "deadline", "context_length"
};
static const char *const stages[] = {
    "request_received", "guardrail_request", "masking", "provider_resolved",
    "guardrail_response"
};
static const char *const results[] = {
    "success", "failure", "pass", "block", "unchecked", "applied", "skipped"
};
static const char *const directions[] = { "input", "output" };
static const char *const formats[] = { "streamed", "non_streamed" };
static const char *const wires[] = {
    "openai_chat", "openai_completion", "openai_responses", "ollama_chat",
    "ollama_generate", "anthropic", "lmstudio_chat"
};
static const char *const fallback_reasons[] = {
    "unavailable", "context_length"
};
/* mod_llm_mask's default rules (docs/masking.md), lower case; a rule of
 * the admin's own is "other". */
static const char *const entities[] = {
    "email", "url", "ip", "pesel_tagged", "pesel", "nip", "regon", "date",
    "date_numeric", "time", "money", "vin", "bank_account", "car_plate",
    "postal_code", "nrb", "krs", "passport", "id_card", "ssn",
    "health_code", "phone_international", "phone", "mac_address", "mac",
    "credit_card", "ssl_cert", "jwt", "invoice_number", "order_number",
    "transaction_ref", "sim_card", "social_id", "eu_vat"
};
/* llm_access_kind_e in order, then LLM_AUTH_SUCCESS */
static const char *const access_kinds[] = {
    "auth_failed", "denied", "rate_limited", "budget_spent", "store_failed",
    "success"
};

/* Buckets, in microseconds or bytes. */
static const apr_uint64_t http_seconds[] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
    5000000, 10000000
};
static const apr_uint64_t provider_seconds[] = {
    10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000, 30000000
};
static const apr_uint64_t overhead_seconds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000
};
static const apr_uint64_t sizes[] = {
    100, 500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000
};

static apr_array_header_t *route_names(apr_pool_t *p)
{
    apr_array_header_t *a = apr_array_make(p, 48, sizeof(const char *));
    const llm_endpoint_t *e;
    int i;

    for (i = 0; (e = llm_endpoint_at(i)) != NULL; i++) {
        APR_ARRAY_PUSH(a, const char *) = e->name;
    }
    APR_ARRAY_PUSH(a, const char *) = "metrics";
    return a;
}

/* "model\001provider" for each provider of @a prs. */
static void push_pairs(apr_pool_t *p, const llm_model_t *m,
                       const apr_array_header_t *prs,
                       apr_array_header_t *pairs)
{
    int i;

    for (i = 0; prs && i < prs->nelts; i++) {
        APR_ARRAY_PUSH(pairs, const char *) = apr_pstrcat(
            p, m->name, LLM_METRICS_PAIR_SEP,
            APR_ARRAY_IDX(prs, i, llm_provider_t *)->id, NULL);
    }
}

static void table_names(apr_pool_t *p, apr_array_header_t *tables,
                        apr_array_header_t *models,
                        apr_array_header_t *pairs)
{
    int t, i;

    for (t = 0; t < tables->nelts; t++) {
        const llm_models_t *ms = APR_ARRAY_IDX(tables, t,
                                               const llm_models_t *);

        for (i = 0; i < ms->models->nelts; i++) {
            const llm_model_t *m = APR_ARRAY_IDX(ms->models, i,
                                                 const llm_model_t *);

            APR_ARRAY_PUSH(models, const char *) = m->name;
            push_pairs(p, m, m->providers, pairs);
            push_pairs(p, m, m->providers_sleep, pairs);
        }
    }
}

static apr_array_header_t *api_names(apr_pool_t *p)
{
    apr_array_header_t *a = apr_array_make(p, LLM_API__COUNT,
                                           sizeof(const char *));
    int i;

    for (i = 0; i < LLM_API__COUNT; i++) {
        APR_ARRAY_PUSH(a, const char *) = llm_api_type_name(i);
    }
    return a;
}

/* The registered balance methods by address (llm_attempt_t.method), so
 * that a request's method, its Location's included, is found without a
 * string compared. */
static void methods_by_address(apr_pool_t *p, llm_metrics_set_t *s,
                               const apr_array_header_t *names)
{
    int i;

    s->by_method = llm_metrics_ptrmap_make(p, names->nelts + 1);
    for (i = 0; i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);
        const void *m = ap_lookup_provider(LLM_BALANCE_GROUP, name,
                                           LLM_BALANCE_VERSION);

        if (m) {
            llm_metrics_ptrmap_set(s->by_method, m,
                                   llm_metrics_dim_index(s->strategy, name));
        }
    }
}

static void make_dims(apr_pool_t *p, llm_metrics_set_t *s)
{
    apr_array_header_t *models = apr_array_make(p, 16, sizeof(char *));
    apr_array_header_t *pairs = apr_array_make(p, 16, sizeof(char *));
    apr_array_header_t *methods_lb = ap_list_provider_names(
        p, LLM_BALANCE_GROUP, LLM_BALANCE_VERSION);
    apr_array_header_t *lb = apr_array_make(p, 8, sizeof(char *));
    int i;

    table_names(p, s->tables, models, pairs);
    for (i = 0; methods_lb && i < methods_lb->nelts; i++) {
        APR_ARRAY_PUSH(lb, const char *) = APR_ARRAY_IDX(
            methods_lb, i, ap_list_provider_names_t).provider_name;
    }
    s->method = llm_metrics_dim(p, "method", methods, N(methods), 1);
    s->endpoint = llm_metrics_dim_array(p, "endpoint", route_names(p), 1);
    s->access_endpoint = s->endpoint;
    s->status = llm_metrics_dim(p, "http_status", statuses, N(statuses), 1);
    s->model = llm_metrics_dim_array(p, "model_name", models, 1);
    s->api = llm_metrics_dim_array(p, "provider_type", api_names(p), 1);
    s->provider = llm_metrics_dim_pair(p, "model", "provider", pairs, 1);
    s->error = llm_metrics_dim(p, "error_code", errors, N(errors), 1);
    s->reason = llm_metrics_dim(p, "reason", errors, N(errors), 1);
    s->strategy = llm_metrics_dim_array(p, "strategy", lb, 1);
    methods_by_address(p, s, lb);
    s->stage = llm_metrics_dim(p, "stage", stages, N(stages), 0);
    s->result = llm_metrics_dim(p, "result", results, N(results), 0);
    s->direction = llm_metrics_dim(p, "direction", directions,
                                   N(directions), 0);
    s->format = llm_metrics_dim(p, "format", formats, N(formats), 0);
    s->wire = llm_metrics_dim(p, "from_type", wires, N(wires), 1);
    s->to_api = llm_metrics_dim_array(p, "to_type", api_names(p), 1);
    s->fallback = llm_metrics_dim(p, "reason", fallback_reasons,
                                  N(fallback_reasons), 1);
    s->entity = llm_metrics_dim(p, "entity_type", entities, N(entities), 1);
    s->access_kind = llm_metrics_dim(p, "result", access_kinds,
                                     N(access_kinds), 1);
    s->key_id = llm_metrics_dim_dynamic(p, "key_id",
                                        LLM_METRICS_KEY_FIRST
                                        + llm_metrics_keys_max(s->keys),
                                        llm_metrics_keys_label, s->keys);
}

#define D(...) ((const llm_metrics_dim_t *const[]){ __VA_ARGS__, NULL })
#define COUNTER(name, help, dims) \
    llm_metrics_add(s->reg, name, help, LLM_METRIC_COUNTER, 0, NULL, 0, dims)
#define GAUGE(name, help, dims) \
    llm_metrics_add(s->reg, name, help, LLM_METRIC_GAUGE, 0, NULL, 0, dims)
#define HIST(name, help, scale, b, dims) \
    llm_metrics_add(s->reg, name, help, LLM_METRIC_HISTOGRAM, scale, b, \
                    N(b), dims)

/* The original's HTTP metrics (spec §10.1). */
static void http_families(llm_metrics_set_t *s)
{
    s->http_requests = COUNTER("http_requests_total",
        "HTTP responses by method, route and status.",
        D(s->method, s->endpoint, s->status));
    s->http_duration = HIST("http_request_duration_seconds",
        "Time from the request line to the end of the response.", 6,
        http_seconds, D(s->method, s->endpoint));
    s->http_in_progress = GAUGE("http_requests_in_progress",
        "Requests being served now, across every child process.", NULL);
    s->http_exceptions = COUNTER("http_request_exceptions_total",
        "Responses with a 5xx status.", D(s->method, s->endpoint));
    s->http_request_size = HIST("http_request_size_bytes",
        "Request bodies with a Content-Length.", 0, sizes,
        D(s->method, s->endpoint));
    s->http_response_size = HIST("http_response_size_bytes",
        "Response bytes sent (headers excluded).", 0, sizes,
        D(s->method, s->endpoint, s->status));
    s->guardrail_incidents = COUNTER("guardrail_incidents_total",
        "Requests or answers a guard blocked.", NULL);
    s->masker_incidents = COUNTER("masker_incidents_total",
        "Requests in which masking changed the payload.", NULL);
}

/* The original's router metrics (spec §10.2), each recorded once. */
static void router_families(llm_metrics_set_t *s)
{
    s->provider_calls = COUNTER("llm_router_provider_calls_total",
        "Attempts against a provider.", D(s->api, s->model));
    s->provider_latency = HIST("llm_router_provider_latency_seconds",
        "Duration of each attempt against a provider.", 6,
        provider_seconds, D(s->api, s->model));
    s->provider_errors = COUNTER("llm_router_provider_error_total",
        "Attempts that failed, by what went wrong.",
        D(s->api, s->model, s->error));
    s->lb_selected = COUNTER("llm_router_lb_strategy_selected_total",
        "Provider choices, by balance method.", D(s->strategy, s->model));
    s->pipeline_stage = COUNTER("llm_router_pipeline_stage_total",
        "Requests through each stage of the pipeline, by result.",
        D(s->stage, s->result));
    s->retries = COUNTER("llm_router_retry_total",
        "Attempts that failed and were followed by another.",
        D(s->model, s->error));
    s->retries_exhausted = COUNTER("llm_router_retry_exhausted_total",
        "Requests whose every attempt failed.",
        D(s->model, llm_metrics_dim(s->reg->pool, "last_error_code", errors,
                                    N(errors), 1)));
    s->tokens = COUNTER("llm_router_tokens_total",
        "Tokens the answers reported (streamed ones too).",
        D(s->model, s->direction, s->api));
    s->response_format = COUNTER("llm_router_response_format_total",
        "Answers by whether they were streamed.",
        D(s->format, s->model, s->api));
    s->payload_conversion = COUNTER("llm_router_payload_conversion_total",
        "Attempts whose body was translated between API formats.",
        D(s->wire, s->to_api));
}

/* The access module's (spec §10.3): fed by llm_access_refused. */
static void access_families(llm_metrics_set_t *s)
{
    s->auth_attempts = COUNTER("auth_attempts_total",
        "Requests authenticated by an API key, and requests mod_llm_access "
        "refused, by why and key id.", D(s->access_kind, s->key_id));
    s->rate_limited = COUNTER("rate_limit_exceeded_total",
        "Requests refused by a rate limit or a token budget.",
        D(s->key_id, s->access_endpoint));
}

/* What the original lacks. */
static void added_families(llm_metrics_set_t *s)
{
    s->ttft = HIST("llm_router_time_to_first_token_seconds",
        "Time from an attempt's start to the first byte of its answer.", 6,
        provider_seconds, D(s->provider));
    s->overhead = HIST("llm_router_gateway_overhead_seconds",
        "Time spent in the gateway itself, waiting on providers excluded.",
        6, overhead_seconds, D(s->endpoint));
    s->active_streams = GAUGE("llm_router_active_streams",
        "Streamed answers under way now.", NULL);
    s->failovers = COUNTER("llm_router_failover_total",
        "Attempts given up for another provider, by why.", D(s->reason));
    s->fallbacks = COUNTER("llm_router_fallback_model_total",
        "Requests answered by a fallback model (the one that answered).",
        D(s->model, s->fallback));
    s->masked_values = COUNTER("llm_router_masked_values_total",
        "Values masked in requests, by entity type.", D(s->entity));
    s->streamed_bytes = COUNTER("llm_router_streamed_bytes_total",
        "Bytes of streamed answers sent to clients.", D(s->model));
}

/* Status code -> its index, so that no string is made per request. */
static void index_statuses(llm_metrics_set_t *s)
{
    int i;

    for (i = 0; i < LLM_METRICS_MAX_STATUS; i++) {
        s->status_ix[i] = s->status->other;
    }
    for (i = 0; i < N(statuses); i++) {
        s->status_ix[atoi(statuses[i])] = llm_metrics_dim_index(s->status,
                                                                statuses[i]);
    }
}

/* Each provider's pair index, by models file and slot. */
static void index_pairs(apr_pool_t *p, llm_metrics_set_t *s)
{
    int t, i;

    s->table_ix = apr_array_make(p, s->tables->nelts,
                                 sizeof(llm_metrics_table_ix_t));
    for (t = 0; t < s->tables->nelts; t++) {
        const llm_models_t *ms = APR_ARRAY_IDX(s->tables, t,
                                               const llm_models_t *);
        llm_metrics_table_ix_t *ix = apr_array_push(s->table_ix);

        ix->models = ms;
        ix->pair = apr_palloc(p, sizeof(int) * (ms->providers->nelts + 1));
        for (i = 0; i < ms->providers->nelts; i++) {
            ix->pair[i] = s->provider->other;
        }
        for (i = 0; i < ms->models->nelts; i++) {
            const llm_model_t *m = APR_ARRAY_IDX(ms->models, i,
                                                 const llm_model_t *);
            const apr_array_header_t *tiers[2] = { m->providers,
                                                   m->providers_sleep };
            int k, j;

            for (k = 0; k < 2; k++) {
                for (j = 0; tiers[k] && j < tiers[k]->nelts; j++) {
                    const llm_provider_t *pr = APR_ARRAY_IDX(
                        tiers[k], j, const llm_provider_t *);

                    ix->pair[pr->slot] = llm_metrics_dim_index(
                        s->provider, apr_pstrcat(p, m->name,
                                                 LLM_METRICS_PAIR_SEP,
                                                 pr->id, NULL));
                }
            }
        }
    }
}

/* Each model's indexes, by its address. */
static void index_models(apr_pool_t *p, llm_metrics_set_t *s)
{
    int t, i, n = 0;

    for (t = 0; t < s->tables->nelts; t++) {
        n += APR_ARRAY_IDX(s->tables, t, const llm_models_t *)->models->nelts;
    }
    s->by_model = llm_metrics_ptrmap_make(p, n);
    s->model_ix = apr_pcalloc(p, sizeof(*s->model_ix) * (n + 1));
    n = 0;
    for (t = 0; t < s->tables->nelts; t++) {
        const llm_models_t *ms = APR_ARRAY_IDX(s->tables, t,
                                               const llm_models_t *);

        for (i = 0; i < ms->models->nelts; i++, n++) {
            const llm_model_t *m = APR_ARRAY_IDX(ms->models, i,
                                                 const llm_model_t *);
            llm_metrics_model_ix_t *ix = &s->model_ix[n];

            ix->model = llm_metrics_dim_index(s->model, m->name);
            ix->strategy = m->balance ? llm_metrics_dim_index(s->strategy,
                                                              m->balance)
                                      : -1;
            llm_metrics_ptrmap_set(s->by_model, m, n);
        }
    }
}

const llm_metrics_model_ix_t *llm_metrics_model_of(const llm_metrics_set_t *s,
                                                   const llm_model_t *m)
{
    int i = m ? llm_metrics_ptrmap_get(s->by_model, m, -1) : -1;

    return i >= 0 ? &s->model_ix[i] : NULL;
}

void llm_metrics_index_servers(llm_metrics_set_t *s, apr_pool_t *p,
                               server_rec *main_server)
{
    APR_OPTIONAL_FN_TYPE(llm_router_server_info) *info =
        APR_RETRIEVE_OPTIONAL_FN(llm_router_server_info);
    server_rec *v;
    int n = 0;

    for (v = main_server; v; v = v->next) {
        n++;
    }
    s->by_server = llm_metrics_ptrmap_make(p, n);
    for (v = main_server; v; v = v->next) {
        const char *method = NULL, *path = NULL;
        int on = 0;

        if (info) {
            info(v, &on, &path, &method);
        }
        llm_metrics_ptrmap_set(s->by_server, v, llm_metrics_dim_index(
            s->strategy, method ? method : LLM_BALANCE_DEFAULT));
    }
}

int llm_metrics_pair_index(const llm_metrics_set_t *s, const llm_models_t *m,
                           const llm_provider_t *pr)
{
    int t;

    for (t = 0; t < s->table_ix->nelts; t++) {
        const llm_metrics_table_ix_t *ix = &APR_ARRAY_IDX(
            s->table_ix, t, llm_metrics_table_ix_t);

        if (ix->models == m && pr->slot >= 0
            && pr->slot < m->providers->nelts) {
            return ix->pair[pr->slot];
        }
    }
    return s->provider->other;
}

llm_metrics_set_t *llm_metrics_set_make(apr_pool_t *p,
                                        apr_array_header_t *tables,
                                        int key_ids)
{
    llm_metrics_set_t *s = apr_pcalloc(p, sizeof(*s));

    s->tables = tables;
    s->keys = llm_metrics_keys_make(p, key_ids);
    s->reg = llm_metrics_make(p);
    make_dims(p, s);
    index_statuses(s);
    index_pairs(p, s);
    index_models(p, s);
    http_families(s);
    router_families(s);
    access_families(s);
    added_families(s);
    /* the latency histograms tie a sample to its access-log line */
    llm_metrics_keep_exemplars(s->reg, s->http_duration);
    llm_metrics_keep_exemplars(s->reg, s->provider_latency);
    llm_metrics_keep_exemplars(s->reg, s->ttft);
    llm_metrics_keep_exemplars(s->reg, s->overhead);
    return s;
}
