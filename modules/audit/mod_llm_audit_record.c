/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What each event of a request records, read from the request and the
 * router's context (include/mod_llm.h). Never a prompt, an answer, a
 * pseudonym's original or a key: names, numbers and outcomes only.
 * Every string goes through llm_audit_str(), so a header-borne value
 * (a user name, an address) cannot break a line or its UTF-8.
 */

#include "apr_strings.h"

#include "mod_llm_audit.h"

static void add(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static json_object *str(const char *s)
{
    return llm_audit_str(s);
}

static json_object *i64(apr_int64_t n)
{
    return json_object_new_int64(n);
}

static const char *dialect_name(llm_dialect_e d)
{
    switch (d) {
    case LLM_DIALECT_OPENAI:    return "openai";
    case LLM_DIALECT_OLLAMA:    return "ollama";
    case LLM_DIALECT_ANTHROPIC: return "anthropic";
    case LLM_DIALECT_LMSTUDIO:  return "lmstudio";
    case LLM_DIALECT_BUILTIN:   return "builtin";
    }
    return "unknown";
}

static const char *outcome_name(llm_outcome_e o)
{
    switch (o) {
    case LLM_OUTCOME_OK:         return "ok";
    case LLM_OUTCOME_REFUSED:    return "refused";
    case LLM_OUTCOME_BROKEN:     return "broken";
    case LLM_OUTCOME_TIMEOUT:    return "timeout";
    case LLM_OUTCOME_HTTP_ERROR: return "http_error";
    case LLM_OUTCOME_ABORTED:    return "aborted";
    case LLM_OUTCOME_DEADLINE:   return "deadline";
    }
    return "unknown";
}

/* What every event of the request names: where, who, which model. */
static json_object *common(request_rec *r, const llm_req_ctx_t *ctx)
{
    json_object *o = json_object_new_object();

    add(o, "server", str(r->server->server_hostname));
    add(o, "route", str(ctx->endpoint));
    add(o, "dialect", str(dialect_name(ctx->dialect)));
    add(o, "model", str(ctx->model_name));
    add(o, "client", str(r->useragent_ip));
    add(o, "user", str(r->user));
    if (r->subprocess_env) {
        const char *id = apr_table_get(r->subprocess_env, "UNIQUE_ID");

        if (id) {
            add(o, "request_id", str(id));
        }
    }
    return o;
}

static json_object *attempts(const llm_req_ctx_t *ctx,
                             const llm_attempt_t **answered)
{
    json_object *a = json_object_new_array();
    int i;

    *answered = NULL;
    for (i = 0; ctx->attempts && i < ctx->attempts->nelts; i++) {
        const llm_attempt_t *at = &APR_ARRAY_IDX(ctx->attempts, i,
                                                 llm_attempt_t);
        json_object *o = json_object_new_object();

        add(o, "provider", str(at->provider ? at->provider->id : NULL));
        add(o, "outcome", str(outcome_name(at->outcome)));
        add(o, "status", i64(at->status));
        if (at->ended && at->started) {
            add(o, "duration_us", i64(at->ended - at->started));
        }
        if (at->first_byte && at->started) {
            add(o, "ttfb_us", i64(at->first_byte - at->started));
        }
        json_object_array_add(a, o);
        if (at->outcome == LLM_OUTCOME_OK && !at->failed_over) {
            *answered = at;
        }
    }
    return a;
}

static json_object *usage(const llm_usage_t *u)
{
    json_object *o = json_object_new_object();

#define USAGE(f) if (u->f >= 0) add(o, #f, i64(u->f))
    USAGE(prompt_tokens);
    USAGE(completion_tokens);
    USAGE(total_tokens);
    USAGE(cached_tokens);
    USAGE(reasoning_tokens);
#undef USAGE
    return o;
}

json_object *llm_audit_request_fields(request_rec *r,
                                      const llm_req_ctx_t *ctx)
{
    json_object *o = common(r, ctx);
    const llm_attempt_t *answered;
    apr_time_t start = ctx->started ? ctx->started : r->request_time;

    add(o, "method", str(r->method));
    add(o, "stream", json_object_new_boolean(ctx->stream));
    if (ctx->model && ctx->model_name
        && strcmp(ctx->model->name, ctx->model_name)) {
        add(o, "model_answered", str(ctx->model->name));
    }
    add(o, "attempts", attempts(ctx, &answered));
    add(o, "provider", str(answered && answered->provider
                           ? answered->provider->id : NULL));
    add(o, "status", i64(ctx->status ? ctx->status : r->status));
    if (ctx->error_code) {
        add(o, "error", str(ctx->error_code));
    }
    add(o, "bytes_in", i64((apr_int64_t)ctx->body_raw_len));
    add(o, "bytes_out", i64((apr_int64_t)llm_audit_hold_bytes(r)));
    add(o, "usage", usage(&ctx->usage));
    add(o, "latency_us", i64(apr_time_now() - start));
    if (answered && answered->first_byte) {
        add(o, "ttfb_us", i64(answered->first_byte - start));
    }
    return o;
}

/* The values masked by entity type; the pseudonyms' originals only
 * when asked for (LLMAuditMaskMappings, an encrypted trail): PII. */
json_object *llm_audit_masking_fields(request_rec *r,
                                      const llm_req_ctx_t *ctx,
                                      int mappings)
{
    json_object *o = common(r, ctx);
    int i;

    add(o, "masked", i64(ctx->masked));
    if (ctx->mask_counts) {
        json_object *types = json_object_new_object();

        for (i = 0; i < ctx->mask_counts->nelts; i++) {
            const llm_mask_count_t *c = &APR_ARRAY_IDX(
                ctx->mask_counts, i, llm_mask_count_t);

            json_object_object_add(types, c->type, i64(c->count));
        }
        add(o, "types", types);
    }
    if (mappings && ctx->mask_map) {
        json_object *m = json_object_new_object();
        apr_hash_index_t *hi;

        for (hi = apr_hash_first(r->pool, ctx->mask_map); hi;
             hi = apr_hash_next(hi)) {
            const void *k;
            void *v;

            apr_hash_this(hi, &k, NULL, &v);
            json_object_object_add(m, k, str(v));
        }
        add(o, "mappings", m);
    }
    return o;
}

json_object *llm_audit_guard_fields(request_rec *r,
                                    const llm_req_ctx_t *ctx)
{
    json_object *o = common(r, ctx);

    add(o, "stage", str("request"));
    add(o, "verdict", str(ctx->guard_verdict));
    add(o, "reason", str(ctx->guard_reason));
    return o;
}

json_object *llm_audit_answer_guard_fields(request_rec *r,
                                           const llm_req_ctx_t *ctx)
{
    json_object *o = common(r, ctx);

    add(o, "stage", str("answer"));
    add(o, "verdict", str(ctx->answer_guard_verdict));
    add(o, "reason", str(ctx->answer_guard_reason));
    return o;
}

static const char *access_kind(llm_access_kind_e k)
{
    switch (k) {
    case LLM_ACCESS_AUTH_FAILED:  return "auth_failed";
    case LLM_ACCESS_DENIED:       return "denied";
    case LLM_ACCESS_RATE_LIMITED: return "rate_limited";
    case LLM_ACCESS_BUDGET_SPENT: return "budget_spent";
    case LLM_ACCESS_STORE_FAILED: return "store_failed";
    }
    return "unknown";
}

/* An access refusal may come before the router knows the request (an
 * authentication hook): its own fields, no context. Never the key. */
json_object *llm_audit_access_fields(request_rec *r,
                                     const llm_access_event_t *ev)
{
    json_object *o = json_object_new_object();

    add(o, "server", str(r->server->server_hostname));
    add(o, "uri", str(r->uri));
    add(o, "client", str(r->useragent_ip));
    add(o, "kind", str(access_kind(ev->kind)));
    add(o, "code", str(ev->code));
    add(o, "status", i64(ev->status));
    add(o, "key_id", str(ev->key_id));
    if (ev->limit) {
        add(o, "limit", str(ev->limit));
    }
    if (ev->model) {
        add(o, "model", str(ev->model));
    }
    return o;
}
