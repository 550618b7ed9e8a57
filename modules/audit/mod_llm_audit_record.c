/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What each event of a request records, read from the request and the
 * router's context (include/mod_llm.h), written straight as JSON
 * members (llm_audit_w_*: no json-c objects on the request path). Never
 * a prompt, an answer or a key: names, numbers and outcomes only — and
 * a pseudonym's original only where LLMAuditMaskMappings asks for it.
 * Every string is escaped by the writer, so a header-borne value (a
 * user name, an address) cannot break a line or its UTF-8.
 */

#include "apr_strings.h"

#include "mod_llm_audit.h"

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
static void common(llm_audit_w_t *w, request_rec *r, const llm_req_ctx_t *ctx)
{
    const char *id = r->subprocess_env
        ? apr_table_get(r->subprocess_env, "UNIQUE_ID") : NULL;

    llm_audit_w_str(w, "server", r->server->server_hostname);
    llm_audit_w_str(w, "route", ctx->endpoint);
    llm_audit_w_str(w, "dialect", dialect_name(ctx->dialect));
    llm_audit_w_str(w, "model", ctx->model_name);
    llm_audit_w_str(w, "client", r->useragent_ip);
    llm_audit_w_str(w, "user", r->user);
    if (id) {
        llm_audit_w_str(w, "request_id", id);
    }
}

/* The attempts, and the one that answered (NULL: none did). */
static const llm_attempt_t *attempts(llm_audit_w_t *w,
                                     const llm_req_ctx_t *ctx)
{
    const llm_attempt_t *answered = NULL;
    int i;

    llm_audit_w_open(w, "attempts", '[');
    for (i = 0; ctx->attempts && i < ctx->attempts->nelts; i++) {
        const llm_attempt_t *at = &APR_ARRAY_IDX(ctx->attempts, i,
                                                 llm_attempt_t);

        llm_audit_w_open(w, NULL, '{');
        llm_audit_w_str(w, "provider", at->provider ? at->provider->id
                                                    : NULL);
        llm_audit_w_str(w, "outcome", outcome_name(at->outcome));
        llm_audit_w_int(w, "status", at->status);
        if (at->ended && at->started) {
            llm_audit_w_int(w, "duration_us", at->ended - at->started);
        }
        if (at->first_byte && at->started) {
            llm_audit_w_int(w, "ttfb_us", at->first_byte - at->started);
        }
        llm_audit_w_close(w, '}');
        if (at->outcome == LLM_OUTCOME_OK && !at->failed_over) {
            answered = at;
        }
    }
    llm_audit_w_close(w, ']');
    return answered;
}

static void usage(llm_audit_w_t *w, const llm_usage_t *u)
{
    llm_audit_w_open(w, "usage", '{');
#define USAGE(f) if (u->f >= 0) llm_audit_w_int(w, #f, u->f)
    USAGE(prompt_tokens);
    USAGE(completion_tokens);
    USAGE(total_tokens);
    USAGE(cached_tokens);
    USAGE(reasoning_tokens);
#undef USAGE
    llm_audit_w_close(w, '}');
}

void llm_audit_request_fields(llm_audit_w_t *w, request_rec *r,
                              const llm_req_ctx_t *ctx)
{
    const llm_attempt_t *answered;
    apr_time_t start = ctx->started ? ctx->started : r->request_time;

    common(w, r, ctx);
    llm_audit_w_str(w, "method", r->method);
    llm_audit_w_bool(w, "stream", ctx->stream);
    if (ctx->model && ctx->model_name
        && strcmp(ctx->model->name, ctx->model_name)) {
        llm_audit_w_str(w, "model_answered", ctx->model->name);
    }
    answered = attempts(w, ctx);
    llm_audit_w_str(w, "provider", answered && answered->provider
                                   ? answered->provider->id : NULL);
    llm_audit_w_int(w, "status", ctx->status ? ctx->status : r->status);
    if (ctx->error_code) {
        llm_audit_w_str(w, "error", ctx->error_code);
    }
    llm_audit_w_int(w, "bytes_in", (apr_int64_t)ctx->body_raw_len);
    llm_audit_w_int(w, "bytes_out", (apr_int64_t)llm_audit_hold_bytes(r));
    usage(w, &ctx->usage);
    llm_audit_w_int(w, "latency_us", apr_time_now() - start);
    if (answered && answered->first_byte) {
        llm_audit_w_int(w, "ttfb_us", answered->first_byte - start);
    }
}

/* The values masked by entity type; the pseudonyms' originals only
 * when asked for (LLMAuditMaskMappings, an encrypted trail): PII. */
void llm_audit_masking_fields(llm_audit_w_t *w, request_rec *r,
                              const llm_req_ctx_t *ctx, int mappings)
{
    int i;

    common(w, r, ctx);
    llm_audit_w_int(w, "masked", ctx->masked);
    if (ctx->mask_counts) {
        llm_audit_w_open(w, "types", '{');
        for (i = 0; i < ctx->mask_counts->nelts; i++) {
            const llm_mask_count_t *c = &APR_ARRAY_IDX(
                ctx->mask_counts, i, llm_mask_count_t);

            llm_audit_w_int(w, c->type, c->count);
        }
        llm_audit_w_close(w, '}');
    }
    if (mappings && ctx->mask_map) {
        apr_hash_index_t *hi;

        llm_audit_w_open(w, "mappings", '{');
        for (hi = apr_hash_first(r->pool, ctx->mask_map); hi;
             hi = apr_hash_next(hi)) {
            const void *k;
            void *v;

            apr_hash_this(hi, &k, NULL, &v);
            llm_audit_w_str(w, k, v);
        }
        llm_audit_w_close(w, '}');
    }
}

void llm_audit_guard_fields(llm_audit_w_t *w, request_rec *r,
                            const llm_req_ctx_t *ctx, int answer)
{
    common(w, r, ctx);
    llm_audit_w_str(w, "stage", answer ? "answer" : "request");
    llm_audit_w_str(w, "verdict", answer ? ctx->answer_guard_verdict
                                         : ctx->guard_verdict);
    llm_audit_w_str(w, "reason", answer ? ctx->answer_guard_reason
                                        : ctx->guard_reason);
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
void llm_audit_access_fields(llm_audit_w_t *w, request_rec *r,
                             const llm_access_event_t *ev)
{
    llm_audit_w_str(w, "server", r->server->server_hostname);
    llm_audit_w_str(w, "uri", r->uri);
    llm_audit_w_str(w, "client", r->useragent_ip);
    llm_audit_w_str(w, "kind", access_kind(ev->kind));
    llm_audit_w_str(w, "code", ev->code);
    llm_audit_w_int(w, "status", ev->status);
    llm_audit_w_str(w, "key_id", ev->key_id);
    if (ev->limit) {
        llm_audit_w_str(w, "limit", ev->limit);
    }
    if (ev->model) {
        llm_audit_w_str(w, "model", ev->model);
    }
}
