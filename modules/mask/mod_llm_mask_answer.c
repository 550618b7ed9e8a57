/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The answer filter mod_llm_mask hands the router (ctx->answer_filter,
 * include/mod_llm.h): each piece of answer text, whatever the dialects,
 * goes through the masking stream (LLMMaskResponses unmask or mask) and
 * then the rule guard (LLMGuardResponses) before LLM_XLATE encodes it
 * for the client.
 *
 * The guard judges each piece together with the last GUARD_WINDOW bytes
 * it saw, so that a phrase split across two stream events is still
 * found (docs/masking.md: the limits of judging pieces as they come).
 */

#include <string.h>

#include "apr_strings.h"

#include "mod_llm_mask_glue.h"

#define GUARD_WINDOW 256

typedef struct {
    conn_rec *conn;                  /* to notice a client that left */
    llm_req_ctx_t *ctx;              /* the verdict goes there (audit) */
    apr_pool_t *pool;                /* the request's: for the verdict */
    llm_mask_stream_t *stream;       /* NULL: the text is not changed */
    const llm_guard_t *guard;        /* NULL: not guarded */
    char window[GUARD_WINDOW];
    apr_size_t window_len;
} reply_t;

static int guard_piece(reply_t *a, apr_pool_t *p, const char *text,
                       apr_size_t len, const char **why)
{
    llm_guard_verdict_t v;
    char *both;
    apr_size_t keep;

    if (!a->guard || !len) {
        return 0;
    }
    both = apr_palloc(p, a->window_len + len);
    memcpy(both, a->window, a->window_len);
    memcpy(both + a->window_len, text, len);
    if (llm_guard_check(a->guard, p, both, a->window_len + len, &v)) {
        *why = apr_pstrcat(p, v.category, ":", v.rule, NULL);
        a->ctx->answer_guard_verdict = "blocked";
        a->ctx->answer_guard_reason = apr_pstrdup(a->pool, *why);
        return 1;
    }
    keep = a->window_len + len < GUARD_WINDOW ? a->window_len + len
                                               : GUARD_WINDOW;
    memcpy(a->window, both + a->window_len + len - keep, keep);
    a->window_len = keep;
    return 0;
}

/* Once the client has gone, nobody reads the answer: the text is
 * dropped unworked rather than passed on unmasked, so nothing unmasked
 * can reach a filter or log after this one either. */
static int client_gone(const reply_t *a, const char **out,
                       apr_size_t *out_len)
{
    if (!a->conn->aborted) {
        return 0;
    }
    *out = "";
    *out_len = 0;
    return 1;
}

static int answer_feed(void *data, apr_pool_t *p, const char *in,
                       apr_size_t len, const char **out, apr_size_t *out_len,
                       const char **why)
{
    reply_t *a = data;

    if (client_gone(a, out, out_len)) {
        return 0;
    }
    if (a->stream) {
        *out = llm_mask_stream_feed(a->stream, p, in, len, out_len);
    }
    else {
        *out = in;
        *out_len = len;
    }
    return guard_piece(a, p, *out, *out_len, why);
}

static int answer_end(void *data, apr_pool_t *p, const char **out,
                      apr_size_t *out_len, const char **why)
{
    reply_t *a = data;

    if (client_gone(a, out, out_len)) {
        return 0;
    }
    *out = "";
    *out_len = 0;
    if (a->stream) {
        *out = llm_mask_stream_end(a->stream, p, out_len);
    }
    if (guard_piece(a, p, *out, *out_len, why)) {
        return 1;
    }
    if (a->guard && !a->ctx->answer_guard_verdict) {
        a->ctx->answer_guard_verdict = "allowed";
    }
    return 0;
}

/* Un-masking needs the request's pseudonyms; masking works with a
 * session of its own when the request was not masked. */
static llm_mask_stream_t *answer_stream(request_rec *r,
                                        const llm_mask_dir_conf_t *c,
                                        llm_req_ctx_t *ctx, int unmask)
{
    llm_mask_session_t *s = ctx->mask_session
        ? ctx->mask_session : llm_mask_session_create(r->pool, c->mode);

    return llm_mask_stream_create(r->pool,
                                  unmask ? NULL : llm_mask_conf_rules(c),
                                  s, unmask);
}

void llm_mask_answer_install(request_rec *r, const llm_mask_dir_conf_t *c,
                             llm_req_ctx_t *ctx)
{
    llm_answer_filter_t *af;
    reply_t *a;
    int unmask = c->responses == LLM_MASK_ANSWER_UNMASK && ctx->mask_session
                 && c->mode == LLM_MASK_PSEUDONYM;
    int mask = c->responses == LLM_MASK_ANSWER_MASK;
    int guard = llm_mask_flag(c->guard_responses, 0);

    if (!unmask && !mask && !guard) {
        return;
    }
    a = apr_pcalloc(r->pool, sizeof(*a));
    a->conn = r->connection;
    a->ctx = ctx;
    a->pool = r->pool;
    if (unmask || mask) {
        a->stream = answer_stream(r, c, ctx, unmask);
    }
    if (guard) {
        a->guard = llm_mask_conf_guard(c);
    }
    af = apr_pcalloc(r->pool, sizeof(*af));
    af->feed = answer_feed;
    af->end = answer_end;
    af->data = a;
    ctx->answer_filter = af;
}
