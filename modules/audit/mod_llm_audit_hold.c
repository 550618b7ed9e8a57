/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The end of an audited response, held back until its records are on
 * disk (LLMAuditSync record; docs/audit.md, "Nothing lost").
 *
 * LLM_AUDIT_HOLD sits after the router's filters (LLM_UPSTREAM,
 * LLM_XLATE) and before httpd's protocol filters: it sees what the
 * client gets, before the headers and the chunked framing are made. It
 * passes every brigade on until the answer's end: the brigade that
 * carries the EOS — and with it the last chunk, or for a response held
 * whole the headers too — and, for a stream, every brigade from the one
 * with its end marker on (the router sets ctx->answer_ending as that
 * event is made), so that a client cannot take the answer for whole
 * before its record is written. An answer the router writes itself
 * (ap_rwrite: model lists, built-ins, its errors) is still buffered
 * above this filter when the records are made; refused, it is replaced
 * as it comes down (hold_t.replace). Those it sets aside. The router runs
 * llm_request_done once the request is over, inside its handler;
 * mod_llm_audit writes the records there and then lets the held brigade
 * go (llm_audit_hold_release), or, when they could not be written and
 * LLMAuditOnFailure is closed, ends the response as a failure instead
 * (llm_audit_hold_refuse): a 503 in the client's dialect when nothing
 * of it has gone yet, else a stream that ends in an error event and
 * without its last chunk, so that no client takes it for whole.
 *
 * It counts the body bytes that pass, held ones too: r->bytes_sent
 * does not know of the held brigade when the record is made.
 */

#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "mod_llm_audit.h"
#include "llm_event.h"
#include "llm_xlate.h"

typedef struct {
    ap_filter_t *f;
    const llm_req_ctx_t *ctx;
    apr_bucket_brigade *held;        /* the answer's end */
    apr_off_t bytes;                 /* body bytes seen */
    int passed;                      /* something went on (the headers
                                        with it) */
    int ended;                       /* the EOS is held */
    int released;                    /* everything passes from now on */
    const char *replace;             /* refused before anything came
                                        down: what comes is dropped, and
                                        this body goes before the EOS */
} hold_t;

static hold_t *hold_of(request_rec *r)
{
    return ap_get_module_config(r->request_config, &llm_audit_module);
}

static void count(hold_t *h, apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (!APR_BUCKET_IS_METADATA(e) && e->length != (apr_size_t)-1) {
            h->bytes += (apr_off_t)e->length;
        }
    }
}

static int has_eos(apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            return 1;
        }
    }
    return 0;
}

/* The refused answer's bytes, as they come down, dropped; its EOS gets
 * the refusal's body before it. */
static apr_status_t replace_answer(ap_filter_t *f, hold_t *h,
                                   apr_bucket_brigade *bb)
{
    apr_bucket *e = APR_BRIGADE_FIRST(bb);

    while (e != APR_BRIGADE_SENTINEL(bb)) {
        apr_bucket *next = APR_BUCKET_NEXT(e);

        if (APR_BUCKET_IS_EOS(e)) {
            APR_BUCKET_INSERT_BEFORE(e, apr_bucket_immortal_create(
                h->replace, strlen(h->replace), bb->bucket_alloc));
            h->replace = NULL;
            return ap_pass_brigade(f->next, bb);
        }
        if (!APR_BUCKET_IS_METADATA(e) || APR_BUCKET_IS_FLUSH(e)) {
            apr_bucket_delete(e);
        }
        e = next;
    }
    return APR_SUCCESS;
}

static apr_status_t hold_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    hold_t *h = hold_of(f->r);

    if (h && h->replace) {
        return replace_answer(f, h, bb);
    }
    if (!h || h->released || h->ended) {
        /* Not ours to hold (or after the EOS, which httpd drops). */
        return ap_pass_brigade(f->next, bb);
    }
    count(h, bb);
    h->ended = has_eos(bb);
    if (!h->ended && !h->ctx->answer_ending) {
        h->passed |= !APR_BRIGADE_EMPTY(bb);
        return ap_pass_brigade(f->next, bb);
    }
    /* Kept in r->pool, which outlives the hook that lets it go. */
    return ap_save_brigade(f, &h->held, &bb, f->r->pool);
}

void llm_audit_hold_register(void)
{
    ap_register_output_filter(LLM_AUDIT_HOLD_FILTER, hold_filter, NULL,
                              AP_FTYPE_CONTENT_SET + 5);
}

void llm_audit_hold_add(request_rec *r, const llm_req_ctx_t *ctx)
{
    hold_t *h = apr_pcalloc(r->pool, sizeof(*h));

    h->ctx = ctx;
    h->f = ap_add_output_filter(LLM_AUDIT_HOLD_FILTER, NULL, r,
                                r->connection);
    ap_set_module_config(r->request_config, &llm_audit_module, h);
}

int llm_audit_hold_active(request_rec *r)
{
    hold_t *h = hold_of(r);

    return h && !h->released;
}

apr_off_t llm_audit_hold_bytes(request_rec *r)
{
    hold_t *h = hold_of(r);

    return h ? h->bytes : (apr_off_t)r->bytes_sent;
}

void llm_audit_hold_release(request_rec *r)
{
    hold_t *h = hold_of(r);

    if (!h || h->released) {
        return;
    }
    h->released = 1;
    if (h->held) {
        ap_pass_brigade(h->f->next, h->held);
        apr_brigade_cleanup(h->held);
    }
}

/* The response as a 503 in the client's dialect: status and headers;
 * returns its body. */
static const char *as_refusal(request_rec *r, const llm_req_ctx_t *ctx)
{
    const char *body = llm_error_json_for(
        r->pool, ctx->wire, HTTP_SERVICE_UNAVAILABLE, "audit_unavailable",
        "The request was not served: its audit record could not be "
        "written.");

    r->status = HTTP_SERVICE_UNAVAILABLE;
    r->status_line = NULL;
    apr_table_clear(r->headers_out);
    apr_table_setn(r->headers_out, "Retry-After", "1");
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)strlen(body));
    return body;
}

/* Nothing of the response has gone: it becomes a 503 in the client's
 * dialect. */
static void refuse_whole(request_rec *r, hold_t *h, const llm_req_ctx_t *ctx)
{
    const char *body = as_refusal(r, ctx);
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;

    apr_brigade_cleanup(h->held);
    APR_BRIGADE_INSERT_TAIL(h->held, apr_bucket_immortal_create(
        body, strlen(body), ba));
    APR_BRIGADE_INSERT_TAIL(h->held, apr_bucket_eos_create(ba));
    ap_pass_brigade(h->f->next, h->held);
    apr_brigade_cleanup(h->held);
}

/* The headers and some of the body have gone: the rest is dropped, a
 * stream gets its dialect's error event, and the response ends without
 * its last chunk (httpd's chunk filter omits it after a 502 error
 * bucket) and closes the connection. */
static void refuse_cut(request_rec *r, hold_t *h, const llm_req_ctx_t *ctx)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    const char *ev = ctx->stream ? llm_wire_stream_error(ctx->wire) : NULL;

    apr_brigade_cleanup(h->held);
    if (ev) {
        APR_BRIGADE_INSERT_TAIL(h->held, apr_bucket_immortal_create(
            ev, strlen(ev), ba));
    }
    APR_BRIGADE_INSERT_TAIL(h->held, ap_bucket_error_create(
        HTTP_BAD_GATEWAY, NULL, r->pool, ba));
    APR_BRIGADE_INSERT_TAIL(h->held, apr_bucket_eos_create(ba));
    r->connection->keepalive = AP_CONN_CLOSE;
    ap_pass_brigade(h->f->next, h->held);
    apr_brigade_cleanup(h->held);
}

void llm_audit_hold_refuse(request_rec *r, const llm_req_ctx_t *ctx)
{
    hold_t *h = hold_of(r);

    if (!h || h->released) {
        return;
    }
    if (!h->held) {
        h->released = 1;
        if (!h->passed) {
            /* The router's own answer, buffered above (ap_rwrite). */
            h->replace = as_refusal(r, ctx);
        }
        else {
            /* Still to come down: whatever it is, not as a whole. */
            r->connection->keepalive = AP_CONN_CLOSE;
            r->connection->aborted = 1;
        }
        return;
    }
    h->released = 1;
    /* Not r->sent_bodyct: mod_proxy sets it before anything is sent. */
    if (!h->passed) {
        refuse_whole(r, h, ctx);
    }
    else {
        refuse_cut(r, h, ctx);
    }
}
