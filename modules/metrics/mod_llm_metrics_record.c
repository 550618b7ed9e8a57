/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What one request moves. The HTTP metrics are recorded when httpd logs
 * the request (log_transaction: the status and bytes are final); the LLM
 * ones when the router says the request is over (llm_request_done, with
 * the whole context: attempts, usage, masking, guards); the access ones
 * when mod_llm_access refuses (llm_access_refused). Each sample is one
 * or two atomic adds into this process's slot: no lock, no allocation
 * but a label key or two in r->pool.
 */

#include "apr_strings.h"
#include "http_protocol.h"

#include "mod_llm_metrics.h"

static APR_OPTIONAL_FN_TYPE(llm_router_get_ctx) *get_ctx;
static APR_OPTIONAL_FN_TYPE(llm_router_server_info) *server_info;

void llm_metrics_record_init(void)
{
    get_ctx = APR_RETRIEVE_OPTIONAL_FN(llm_router_get_ctx);
    server_info = APR_RETRIEVE_OPTIONAL_FN(llm_router_server_info);
}

static llm_req_ctx_t *ctx_of(request_rec *r)
{
    return get_ctx ? get_ctx(r) : NULL;
}

static int ix(const llm_metrics_dim_t *d, const char *v)
{
    return llm_metrics_dim_index(d, v);
}

static void inc(llm_metrics_set_t *s, llm_metrics_slot_t *slot,
                const llm_metrics_family_t *f, const int *idx,
                apr_int64_t n)
{
    llm_metrics_add_to(s->reg, slot, f, idx, n);
}

static void observe(llm_metrics_set_t *s, llm_metrics_slot_t *slot,
                    const llm_metrics_family_t *f, const int *idx,
                    apr_int64_t v)
{
    llm_metrics_observe(s->reg, slot, f, idx, v > 0 ? (apr_uint64_t)v : 0);
}

#define IDX(...) ((const int[]){ __VA_ARGS__ })

int llm_metrics_endpoint_index(request_rec *r, llm_metrics_set_t *s)
{
    llm_req_ctx_t *ctx = ctx_of(r);

    if (ctx && ctx->endpoint) {
        return ix(s->endpoint, ctx->endpoint);
    }
    if (r->handler && !strcmp(r->handler, LLM_METRICS_HANDLER)) {
        return ix(s->endpoint, "metrics");
    }
    return s->endpoint->other;
}

/* ------------------------------------------------------------------ */
/* HTTP (log_transaction)                                              */
/* ------------------------------------------------------------------ */

static void request_size(request_rec *r, llm_metrics_set_t *s,
                         llm_metrics_slot_t *slot, int m, int e)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t len;

    if (cl && apr_strtoff(&len, cl, NULL, 10) == APR_SUCCESS && len >= 0) {
        observe(s, slot, s->http_request_size, IDX(m, e), len);
    }
}

void llm_metrics_record_http(request_rec *r, llm_metrics_set_t *s,
                             llm_metrics_slot_t *slot)
{
    request_rec *last = r;
    llm_req_ctx_t *ctx = ctx_of(r);
    char code[16];
    int m, e, st;

    while (last->next) {
        last = last->next;
    }
    apr_snprintf(code, sizeof(code), "%d", last->status);
    m = ix(s->method, r->method);
    e = llm_metrics_endpoint_index(r, s);
    st = ix(s->status, code);
    inc(s, slot, s->http_requests, IDX(m, e, st), 1);
    observe(s, slot, s->http_duration, IDX(m, e),
            apr_time_now() - r->request_time);
    if (last->status >= 500) {
        inc(s, slot, s->http_exceptions, IDX(m, e), 1);
    }
    request_size(r, s, slot, m, e);
    observe(s, slot, s->http_response_size, IDX(m, e, st), last->bytes_sent);
    if (ctx && ctx->stream && ctx->attempts && ctx->attempts->nelts) {
        inc(s, slot, s->streamed_bytes,
            IDX(ix(s->model, ctx->model ? ctx->model->name : NULL)),
            last->bytes_sent);
    }
}

/* ------------------------------------------------------------------ */
/* LLM requests (llm_request_done)                                     */
/* ------------------------------------------------------------------ */

/* What went wrong with @a at, as an error_code value; NULL: nothing. */
static const char *error_kind(const llm_attempt_t *at)
{
    switch (at->outcome) {
    case LLM_OUTCOME_REFUSED:
        return "connect";
    case LLM_OUTCOME_BROKEN:
        /* the answer had begun reaching the client: a cut stream */
        return at->first_byte ? "stream_cut" : "reset";
    case LLM_OUTCOME_TIMEOUT:
        return "timeout";
    case LLM_OUTCOME_ABORTED:
        return "client_abort";
    case LLM_OUTCOME_DEADLINE:
        return "deadline";
    case LLM_OUTCOME_HTTP_ERROR:
    case LLM_OUTCOME_OK:
    default:
        break;
    }
    if (at->status == 429) {
        return "http_429";
    }
    if (at->status >= 500) {
        return "http_5xx";
    }
    if (at->status >= 400) {
        return "http_4xx";
    }
    /* answered well, yet given up: the prompt was too long for it */
    return at->failed_over ? "context_length" : NULL;
}

/* The API family a body format or provider speaks: a call converts when
 * the client's and the provider's differ. */
static int wire_family(llm_wire_e w)
{
    return w == LLM_WIRE_OLLAMA_CHAT || w == LLM_WIRE_OLLAMA_GENERATE ? 1
           : w == LLM_WIRE_ANTHROPIC ? 2 : 0;
}

static int api_family(llm_api_type_e t)
{
    return t == LLM_API_OLLAMA ? 1 : t == LLM_API_ANTHROPIC ? 2 : 0;
}

static const char *wire_name(llm_wire_e w)
{
    static const char *const names[] = {
        "openai_chat", "openai_completion", "openai_responses",
        "ollama_chat", "ollama_generate", "anthropic", "lmstudio_chat"
    };

    return (int)w >= 0 && (int)w < (int)(sizeof(names) / sizeof(names[0]))
           ? names[w] : NULL;
}

static const char *strategy_of(request_rec *r, const llm_req_ctx_t *ctx)
{
    const char *method = NULL, *path;
    int on;

    if (ctx->model && ctx->model->balance) {
        return ctx->model->balance;
    }
    if (server_info) {
        server_info(r->server, &on, &path, &method);
    }
    return method;
}

typedef struct {
    request_rec *r;
    llm_req_ctx_t *ctx;
    llm_metrics_set_t *s;
    llm_metrics_slot_t *slot;
    int model;                     /* index in s->model */
    const char *model_name;
} rec_t;

static void record_attempt(rec_t *x, const llm_attempt_t *at, int last,
                           int strategy)
{
    llm_metrics_set_t *s = x->s;
    int api = ix(s->api, llm_api_type_name(at->provider->api_type));
    const char *kind = error_kind(at);

    inc(s, x->slot, s->provider_calls, IDX(api, x->model), 1);
    inc(s, x->slot, s->lb_selected, IDX(strategy, x->model), 1);
    if (at->ended) {
        observe(s, x->slot, s->provider_latency, IDX(api, x->model),
                at->ended - at->started);
    }
    if (at->first_byte) {
        observe(s, x->slot, s->ttft,
                IDX(ix(s->provider, apr_pstrcat(x->r->pool, x->model_name,
                                                LLM_METRICS_PAIR_SEP,
                                                at->provider->id, NULL))),
                at->first_byte - at->started);
    }
    if (wire_family(x->ctx->wire) != api_family(at->provider->api_type)) {
        inc(s, x->slot, s->payload_conversion,
            IDX(ix(s->wire, wire_name(x->ctx->wire)),
                ix(s->to_api, llm_api_type_name(at->provider->api_type))), 1);
    }
    if (!kind) {
        return;
    }
    inc(s, x->slot, s->provider_errors, IDX(api, x->model, ix(s->error, kind)),
        1);
    if (!last) {
        inc(s, x->slot, s->retries, IDX(x->model, ix(s->error, kind)), 1);
        inc(s, x->slot, s->failovers, IDX(ix(s->reason, kind)), 1);
    }
    else {
        inc(s, x->slot, s->retries_exhausted,
            IDX(x->model, ix(s->error, kind)), 1);
    }
}

/* Every attempt; returns the time spent waiting on providers. */
static apr_interval_time_t record_attempts(rec_t *x)
{
    const apr_array_header_t *a = x->ctx->attempts;
    int strategy = ix(x->s->strategy, strategy_of(x->r, x->ctx));
    apr_interval_time_t waited = 0;
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        const llm_attempt_t *at = &APR_ARRAY_IDX(a, i, llm_attempt_t);

        if (!at->provider) {
            continue;
        }
        record_attempt(x, at, i == a->nelts - 1, strategy);
        if (at->ended > at->started) {
            waited += at->ended - at->started;
        }
    }
    return waited;
}

static void stage(rec_t *x, const char *stage, const char *result)
{
    inc(x->s, x->slot, x->s->pipeline_stage,
        IDX(ix(x->s->stage, stage), ix(x->s->result, result)), 1);
}

static const char *guard_result(const char *verdict)
{
    return !strcmp(verdict, "blocked") ? "block"
           : !strcmp(verdict, "allowed") ? "pass" : "unchecked";
}

static void record_stages(rec_t *x, const llm_attempt_t *last)
{
    llm_req_ctx_t *ctx = x->ctx;

    stage(x, "request_received", "success");
    if (ctx->guard_verdict) {
        stage(x, "guardrail_request", guard_result(ctx->guard_verdict));
    }
    stage(x, "masking", ctx->masked > 0 ? "applied" : "skipped");
    if (last) {
        stage(x, "provider_resolved", error_kind(last) ? "failure"
                                                       : "success");
    }
    if (ctx->answer_guard_verdict) {
        stage(x, "guardrail_response",
              guard_result(ctx->answer_guard_verdict));
    }
    if ((ctx->guard_verdict && !strcmp(ctx->guard_verdict, "blocked"))
        || (ctx->answer_guard_verdict
            && !strcmp(ctx->answer_guard_verdict, "blocked"))) {
        inc(x->s, x->slot, x->s->guardrail_incidents, NULL, 1);
    }
}

/* Values masked by entity type; the rules' names are matched in lower
 * case. */
static void record_masking(rec_t *x)
{
    const apr_array_header_t *mc = x->ctx->mask_counts;
    int i;

    if (x->ctx->masked > 0) {
        inc(x->s, x->slot, x->s->masker_incidents, NULL, 1);
    }
    for (i = 0; mc && i < mc->nelts; i++) {
        const llm_mask_count_t *c = &APR_ARRAY_IDX(mc, i, llm_mask_count_t);
        char *type = apr_pstrdup(x->r->pool, c->type ? c->type : "");

        ap_str_tolower(type);
        inc(x->s, x->slot, x->s->masked_values,
            IDX(ix(x->s->entity, type)), c->count);
    }
}

static void record_answer(rec_t *x, const llm_attempt_t *last)
{
    llm_metrics_set_t *s = x->s;
    const llm_usage_t *u = &x->ctx->usage;
    const char *fb = apr_table_get(x->r->notes, LLM_NOTE_FALLBACK);
    int api = ix(s->api, llm_api_type_name(last->provider->api_type));

    if (u->prompt_tokens > 0) {
        inc(s, x->slot, s->tokens, IDX(x->model, 0, api), u->prompt_tokens);
    }
    if (u->completion_tokens > 0) {
        inc(s, x->slot, s->tokens, IDX(x->model, 1, api),
            u->completion_tokens);
    }
    inc(s, x->slot, s->response_format,
        IDX(x->ctx->stream ? 0 : 1, x->model, api), 1);
    if (fb && strrchr(fb, ':')) {
        inc(s, x->slot, s->fallbacks,
            IDX(x->model, ix(s->fallback, strrchr(fb, ':') + 1)), 1);
    }
}

/* Time to the first byte and the gateway's own time, as notes for the
 * access log (LogFormat %{llm-ttft-ms}n, %{llm-overhead-ms}n). */
static void set_time_notes(rec_t *x, const llm_attempt_t *last,
                           apr_interval_time_t overhead)
{
    if (last && last->first_byte) {
        apr_table_setn(x->r->notes, LLM_METRICS_NOTE_TTFT,
                       apr_psprintf(x->r->pool, "%.3f",
                                    (last->first_byte - last->started)
                                    / 1000.0));
    }
    apr_table_setn(x->r->notes, LLM_METRICS_NOTE_OVERHEAD,
                   apr_psprintf(x->r->pool, "%.3f", overhead / 1000.0));
}

void llm_metrics_record_llm(request_rec *r, llm_req_ctx_t *ctx,
                            llm_metrics_set_t *s, llm_metrics_slot_t *slot)
{
    rec_t x = { r, ctx, s, slot, 0, NULL };
    const llm_attempt_t *last = NULL;
    apr_time_t start = ctx->started ? ctx->started : r->request_time;
    apr_interval_time_t overhead;

    x.model_name = ctx->model ? ctx->model->name : "";
    x.model = ix(s->model, ctx->model ? ctx->model->name : NULL);
    if (ctx->attempts && ctx->attempts->nelts) {
        last = &APR_ARRAY_IDX(ctx->attempts, ctx->attempts->nelts - 1,
                              llm_attempt_t);
        if (!last->provider) {
            last = NULL;
        }
    }
    if (ctx->op != LLM_OP_INFO) {
        record_stages(&x, last);
        record_masking(&x);
    }
    overhead = apr_time_now() - start - record_attempts(&x);
    if (last) {
        record_answer(&x, last);
    }
    observe(s, slot, s->overhead, IDX(ix(s->endpoint, ctx->endpoint)),
            overhead);
    set_time_notes(&x, last, overhead);
}

/* ------------------------------------------------------------------ */
/* Access refusals (llm_access_refused)                                */
/* ------------------------------------------------------------------ */

void llm_metrics_record_access(request_rec *r, const llm_access_event_t *ev,
                               llm_metrics_set_t *s, llm_metrics_slot_t *slot)
{
    static const char *const kinds[] = {
        "auth_failed", "denied", "rate_limited", "budget_spent",
        "store_failed"
    };
    const char *kind = (int)ev->kind >= 0 && (int)ev->kind < 5
                       ? kinds[ev->kind] : NULL;

    inc(s, slot, s->auth_attempts, IDX(ix(s->access_kind, kind)), 1);
    if (ev->kind == LLM_ACCESS_RATE_LIMITED
        || ev->kind == LLM_ACCESS_BUDGET_SPENT) {
        inc(s, slot, s->rate_limited,
            IDX(llm_metrics_endpoint_index(r, s)), 1);
    }
}
