/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What one request moves. The HTTP metrics are recorded when httpd logs
 * the request (log_transaction: the status and bytes are final); the LLM
 * ones when the router says the request is over (llm_request_done, with
 * the whole context: attempts, usage, masking, guards); the access ones
 * when mod_llm_access refuses (llm_access_refused) or, for a request it
 * authenticated, when it is logged. Each sample is one or two atomic
 * adds into this process's slot, the latency histograms also write an
 * exemplar record there: no lock, no allocation but the notes a log
 * format names (and a lower-cased entity type when masking counted).
 */

#include "apr_strings.h"
#include "http_protocol.h"

#include "mod_llm_metrics.h"

static APR_OPTIONAL_FN_TYPE(llm_router_get_ctx) *get_ctx;

void llm_metrics_record_init(void)
{
    get_ctx = APR_RETRIEVE_OPTIONAL_FN(llm_router_get_ctx);
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

/* The same, keeping the request id as the bucket's exemplar. */
static void observe_ex(llm_metrics_set_t *s, llm_metrics_slot_t *slot,
                       const llm_metrics_family_t *f, const int *idx,
                       apr_int64_t v, request_rec *r,
                       llm_metrics_marks_t *mk, apr_time_t when)
{
    llm_metrics_observe_ex(s->reg, slot, f, idx,
                           v > 0 ? (apr_uint64_t)v : 0,
                           llm_metrics_request_id(r, mk), when);
}

#define IDX(...) ((const int[]){ __VA_ARGS__ })

/* The index of a route name: the router's names are its own copies of
 * them (core is linked into each module), so they are hashed once per
 * process and then found by address. */
static int route_index(llm_metrics_set_t *s, const char *name)
{
    int i = llm_metrics_ptrcache_get(&s->endpoint_cache, name);

    if (i < 0) {
        i = ix(s->endpoint, name);
        llm_metrics_ptrcache_put(&s->endpoint_cache, name, i);
    }
    return i;
}

int llm_metrics_endpoint_index(request_rec *r, llm_metrics_set_t *s)
{
    llm_req_ctx_t *ctx = ctx_of(r);

    if (ctx && ctx->endpoint) {
        return route_index(s, ctx->endpoint);
    }
    if (r->handler && !strcmp(r->handler, LLM_METRICS_HANDLER)) {
        return ix(s->endpoint, "metrics");
    }
    return s->endpoint->other;
}

/* ------------------------------------------------------------------ */
/* HTTP (log_transaction)                                              */
/* ------------------------------------------------------------------ */

static void record_authenticated(request_rec *r, llm_metrics_set_t *s,
                                 llm_metrics_slot_t *slot,
                                 const llm_metrics_marks_t *mk);

/* GET, HEAD, POST by their numbers, the rest by name ("other"). */
static int method_index(request_rec *r, llm_metrics_set_t *s)
{
    if (r->method_number == M_POST) {
        return 2;
    }
    if (r->method_number == M_GET) {
        return r->header_only ? 1 : 0;
    }
    return ix(s->method, r->method);
}

/* The request's Content-Length: httpd's HTTP_IN filter accepted it
 * (digits only, no sign, no overflow), so its digits are read here
 * without strtoll. */
static void request_size(request_rec *r, llm_metrics_set_t *s,
                         llm_metrics_slot_t *slot, int m, int e)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_uint64_t len = 0;
    int n = 0;

    if (!cl) {
        return;
    }
    for (; *cl >= '0' && *cl <= '9' && n < 19; cl++, n++) {
        len = len * 10 + (apr_uint64_t)(*cl - '0');
    }
    if (n && !*cl) {
        observe(s, slot, s->http_request_size, IDX(m, e),
                (apr_int64_t)len);
    }
}

void llm_metrics_record_http(request_rec *r, llm_metrics_set_t *s,
                             llm_metrics_slot_t *slot,
                             llm_metrics_marks_t *mk)
{
    request_rec *last = r;
    apr_time_t now = apr_time_now();
    int m, e, st;

    while (last->next) {
        last = last->next;
    }
    st = last->status >= 0 && last->status < LLM_METRICS_MAX_STATUS
         ? s->status_ix[last->status] : s->status->other;
    m = method_index(r, s);
    /* llm_request_done found the route already */
    e = mk->llm_done ? mk->endpoint : llm_metrics_endpoint_index(r, s);
    inc(s, slot, s->http_requests, IDX(m, e, st), 1);
    observe_ex(s, slot, s->http_duration, IDX(m, e), now - r->request_time,
               r, mk, now);
    if (last->status >= 500) {
        inc(s, slot, s->http_exceptions, IDX(m, e), 1);
    }
    request_size(r, s, slot, m, e);
    observe(s, slot, s->http_response_size, IDX(m, e, st), last->bytes_sent);
    if (mk->llm_done && mk->streamed) {
        inc(s, slot, s->streamed_bytes, IDX(mk->model), last->bytes_sent);
    }
    if (r->user) {
        record_authenticated(r, s, slot, mk);
    }
}

/* ------------------------------------------------------------------ */
/* LLM requests (llm_request_done)                                     */
/* ------------------------------------------------------------------ */

/* What went wrong with @a at (llm_metrics_err_e), -1: nothing. */
static int error_kind(const llm_attempt_t *at)
{
    switch (at->outcome) {
    case LLM_OUTCOME_REFUSED:
        return LLM_ERR_CONNECT;
    case LLM_OUTCOME_BROKEN:
        /* the answer had begun reaching the client: a cut stream */
        return at->first_byte ? LLM_ERR_STREAM_CUT : LLM_ERR_RESET;
    case LLM_OUTCOME_TIMEOUT:
        return LLM_ERR_TIMEOUT;
    case LLM_OUTCOME_ABORTED:
        return LLM_ERR_CLIENT_ABORT;
    case LLM_OUTCOME_DEADLINE:
        return LLM_ERR_DEADLINE;
    case LLM_OUTCOME_HTTP_ERROR:
    case LLM_OUTCOME_OK:
    default:
        break;
    }
    if (at->status == 429) {
        return LLM_ERR_HTTP_429;
    }
    if (at->status >= 500) {
        return LLM_ERR_HTTP_5XX;
    }
    if (at->status >= 400) {
        return LLM_ERR_HTTP_4XX;
    }
    /* answered well, yet given up: the prompt was too long for it */
    return at->failed_over ? LLM_ERR_CONTEXT_LENGTH : -1;
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

/* The balance method of an attempt that does not say which chose it
 * (llm_attempt_t.method): the model's own, else its server's. */
static int strategy_of(request_rec *r, llm_metrics_set_t *s,
                       const llm_metrics_model_ix_t *mix)
{
    if (mix && mix->strategy >= 0) {
        return mix->strategy;
    }
    return llm_metrics_ptrmap_get(s->by_server, r->server,
                                  s->strategy->other);
}

/* The api dimension is made from llm_api_type_name in enum order. */
static int api_index(llm_metrics_set_t *s, llm_api_type_e t)
{
    return (int)t >= 0 && t < LLM_API__COUNT ? (int)t : s->api->other;
}

typedef struct {
    request_rec *r;
    llm_req_ctx_t *ctx;
    llm_metrics_set_t *s;
    llm_metrics_slot_t *slot;
    int model;                     /* index in s->model */
    const llm_metrics_model_ix_t *mix; /* NULL: a model not in a file */
    llm_metrics_marks_t *mk;
} rec_t;

static void record_attempt(rec_t *x, const llm_attempt_t *at, int last,
                           int strategy)
{
    llm_metrics_set_t *s = x->s;
    int api = api_index(s, at->provider->api_type);
    int kind = error_kind(at);

    inc(s, x->slot, s->provider_calls, IDX(api, x->model), 1);
    inc(s, x->slot, s->lb_selected, IDX(strategy, x->model), 1);
    if (at->ended) {
        observe_ex(s, x->slot, s->provider_latency, IDX(api, x->model),
                   at->ended - at->started, x->r, x->mk, at->ended);
    }
    if (at->first_byte) {
        observe_ex(s, x->slot, s->ttft,
                   IDX(llm_metrics_pair_index(s, x->ctx->models,
                                              at->provider)),
                   at->first_byte - at->started, x->r, x->mk,
                   at->first_byte);
    }
    if (wire_family(x->ctx->wire) != api_family(at->provider->api_type)) {
        inc(s, x->slot, s->payload_conversion,
            IDX(ix(s->wire, wire_name(x->ctx->wire)),
                api_index(s, at->provider->api_type)), 1);
    }
    if (kind < 0) {
        return;
    }
    inc(s, x->slot, s->provider_errors, IDX(api, x->model, kind), 1);
    if (!last) {
        inc(s, x->slot, s->retries, IDX(x->model, kind), 1);
        inc(s, x->slot, s->failovers, IDX(kind), 1);
    }
    else {
        inc(s, x->slot, s->retries_exhausted, IDX(x->model, kind), 1);
    }
}

/* Every attempt; returns the time spent waiting on providers. */
static apr_interval_time_t record_attempts(rec_t *x)
{
    const apr_array_header_t *a = x->ctx->attempts;
    int strategy = strategy_of(x->r, x->s, x->mix);
    apr_interval_time_t waited = 0;
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        const llm_attempt_t *at = &APR_ARRAY_IDX(a, i, llm_attempt_t);

        if (!at->provider) {
            continue;
        }
        record_attempt(x, at, i == a->nelts - 1,
                       at->method ? llm_metrics_ptrmap_get(x->s->by_method,
                                                           at->method,
                                                           strategy)
                                  : strategy);
        if (at->ended > at->started) {
            waited += at->ended - at->started;
        }
    }
    return waited;
}

static void stage(rec_t *x, llm_metrics_stage_e st, llm_metrics_result_e res)
{
    inc(x->s, x->slot, x->s->pipeline_stage, IDX(st, res), 1);
}

static llm_metrics_result_e guard_result(const char *verdict)
{
    return !strcmp(verdict, "blocked") ? LLM_RESULT_BLOCK
           : !strcmp(verdict, "allowed") ? LLM_RESULT_PASS
           : LLM_RESULT_UNCHECKED;
}

static void record_stages(rec_t *x, const llm_attempt_t *last)
{
    llm_req_ctx_t *ctx = x->ctx;
    int blocked = 0;

    stage(x, LLM_STAGE_RECEIVED, LLM_RESULT_SUCCESS);
    if (ctx->guard_verdict) {
        llm_metrics_result_e g = guard_result(ctx->guard_verdict);

        stage(x, LLM_STAGE_GUARD_REQUEST, g);
        blocked = g == LLM_RESULT_BLOCK;
    }
    stage(x, LLM_STAGE_MASKING, ctx->masked > 0 ? LLM_RESULT_APPLIED
                                                : LLM_RESULT_SKIPPED);
    if (last) {
        stage(x, LLM_STAGE_PROVIDER, error_kind(last) >= 0
                                     ? LLM_RESULT_FAILURE
                                     : LLM_RESULT_SUCCESS);
    }
    if (ctx->answer_guard_verdict) {
        llm_metrics_result_e g = guard_result(ctx->answer_guard_verdict);

        stage(x, LLM_STAGE_GUARD_RESPONSE, g);
        blocked |= g == LLM_RESULT_BLOCK;
    }
    if (blocked) {
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
    const char *fb = NULL;
    int api = api_index(s, last->provider->api_type);

    if (u->prompt_tokens > 0) {
        inc(s, x->slot, s->tokens, IDX(x->model, 0, api), u->prompt_tokens);
    }
    if (u->completion_tokens > 0) {
        inc(s, x->slot, s->tokens, IDX(x->model, 1, api),
            u->completion_tokens);
    }
    inc(s, x->slot, s->response_format,
        IDX(x->ctx->stream ? 0 : 1, x->model, api), 1);   /* formats[] */
    /* the note says why, when another model than the one asked answered */
    if (x->ctx->model_name && x->ctx->model
        && strcmp(x->ctx->model_name, x->ctx->model->name)) {
        fb = apr_table_get(x->r->notes, LLM_NOTE_FALLBACK);
    }
    if (fb && strrchr(fb, ':')) {
        inc(s, x->slot, s->fallbacks,
            IDX(x->model, ix(s->fallback, strrchr(fb, ':') + 1)), 1);
    }
}

/* @a us microseconds as milliseconds with three decimals, without the
 * cost of a formatter (this runs for every request). */
static const char *ms_of(apr_pool_t *p, apr_interval_time_t us)
{
    char buf[32], *end = buf + sizeof(buf), *c = end;
    int i;

    if (us < 0) {
        us = 0;
    }
    *--c = '\0';
    for (i = 0; i < 3; i++, us /= 10) {
        *--c = (char)('0' + us % 10);
    }
    *--c = '.';
    do {
        *--c = (char)('0' + us % 10);
        us /= 10;
    } while (us && c > buf);
    return apr_pstrmemdup(p, c, (apr_size_t)(end - c - 1));
}

/* Time to the first byte and the gateway's own time, as notes for the
 * access log (LogFormat %{llm-ttft-ms}n, %{llm-overhead-ms}n). */
static void set_time_notes(rec_t *x, const llm_attempt_t *last,
                           apr_interval_time_t overhead)
{
    /* llm_request_done runs once per request: add, no need to look for
     * an older value (setn would compare every note) */
    if ((x->s->notes & LLM_METRICS_WANT_TTFT) && last && last->first_byte) {
        apr_table_addn(x->r->notes, LLM_METRICS_NOTE_TTFT,
                       ms_of(x->r->pool, last->first_byte - last->started));
    }
    if (x->s->notes & LLM_METRICS_WANT_OVERHEAD) {
        apr_table_addn(x->r->notes, LLM_METRICS_NOTE_OVERHEAD,
                       ms_of(x->r->pool, overhead));
    }
}

void llm_metrics_record_llm(request_rec *r, llm_req_ctx_t *ctx,
                            llm_metrics_set_t *s, llm_metrics_slot_t *slot,
                            llm_metrics_marks_t *mk)
{
    rec_t x = { r, ctx, s, slot, 0, NULL, mk };
    const llm_attempt_t *last = NULL;
    apr_time_t start = ctx->started ? ctx->started : r->request_time;
    apr_time_t now;
    apr_interval_time_t overhead;
    int endpoint = ctx->endpoint ? route_index(s, ctx->endpoint)
                                 : s->endpoint->other;

    x.mix = llm_metrics_model_of(s, ctx->model);
    x.model = x.mix ? x.mix->model : s->model->other;
    /* for log_transaction */
    mk->llm_done = 1;
    mk->endpoint = endpoint;
    mk->model = x.model;
    mk->streamed = ctx->stream && ctx->attempts && ctx->attempts->nelts;
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
    now = apr_time_now();
    overhead = now - start - record_attempts(&x);
    if (last) {
        record_answer(&x, last);
    }
    observe_ex(s, slot, s->overhead, IDX(endpoint), overhead, r, mk, now);
    set_time_notes(&x, last, overhead);
}

/* ------------------------------------------------------------------ */
/* Access refusals (llm_access_refused)                                */
/* ------------------------------------------------------------------ */

void llm_metrics_record_access(request_rec *r, const llm_access_event_t *ev,
                               llm_metrics_set_t *s, llm_metrics_slot_t *slot)
{
    /* an unknown key has no key id: "" (no client makes a series) */
    int key = llm_metrics_keys_index(s->keys, ev->key_id);
    int kind = (int)ev->kind >= 0 && (int)ev->kind < LLM_AUTH_SUCCESS
               ? (int)ev->kind : s->access_kind->other;

    llm_metrics_marks(r)->refused = 1;
    inc(s, slot, s->auth_attempts, IDX(kind, key), 1);
    if (ev->kind == LLM_ACCESS_RATE_LIMITED
        || ev->kind == LLM_ACCESS_BUDGET_SPENT) {
        inc(s, slot, s->rate_limited,
            IDX(key, llm_metrics_endpoint_index(r, s)), 1);
    }
}

/* A request mod_llm_access authenticated (AuthType llm-key: r->user and
 * the key id note) and did not refuse. */
static void record_authenticated(request_rec *r, llm_metrics_set_t *s,
                                 llm_metrics_slot_t *slot,
                                 const llm_metrics_marks_t *mk)
{
    const char *id;

    if (!r->user || mk->refused
        || !(id = apr_table_get(r->notes, LLM_NOTE_KEY_ID))) {
        return;
    }
    inc(s, slot, s->auth_attempts,
        IDX(LLM_AUTH_SUCCESS, llm_metrics_keys_index(s->keys, id)), 1);
}
