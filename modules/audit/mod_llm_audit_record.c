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
    add(o, "bytes_out", i64((apr_int64_t)r->bytes_sent));
    add(o, "usage", usage(&ctx->usage));
    add(o, "latency_us", i64(apr_time_now() - start));
    if (answered && answered->first_byte) {
        add(o, "ttfb_us", i64(answered->first_byte - start));
    }
    return o;
}

/* Only the count: the context does not (yet) say which entity types,
 * and the pseudonym mappings are PII (docs/audit.md). */
json_object *llm_audit_masking_fields(request_rec *r,
                                      const llm_req_ctx_t *ctx)
{
    json_object *o = common(r, ctx);

    add(o, "masked", i64(ctx->masked));
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
