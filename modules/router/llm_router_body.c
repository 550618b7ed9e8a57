/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Reading the client's body, and replaying the rewritten one to
 * mod_proxy.
 *
 * The body is read whole (the model to route to is inside it), into one
 * buffer (llm_buf) sized from Content-Length when the client sent one:
 * one copy out of the network buckets, none after. The rewritten body
 * goes back through the LLM_BODY input filter as a bucket over memory
 * that lives in r->pool, so mod_proxy_http reads it without another
 * copy (what mod_proxy_http needs of the filter chain for that is in
 * llm_router_proxy.c).
 *
 * What a large body costs goes back when its request ends (issue 11):
 * the body in a pool of its own, the heap trimmed after it, and glibc's
 * malloc thresholds fixed in each child (llm_router_malloc_child_init).
 */

#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>             /* malloc_trim, mallopt */
#endif

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "llm_router_private.h"
#include "llm_buf.h"

/* The status an input filter put in an error bucket, if any. */
static int error_bucket_status(apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (AP_BUCKET_IS_ERROR(e)) {
            return ((ap_bucket_error *)e->data)->status;
        }
    }
    return 0;
}

static int too_large(request_rec *r, apr_off_t limit)
{
    /* Do not read (and discard) the rest of a body we refuse: close. */
    r->connection->keepalive = AP_CONN_CLOSE;
    return llm_router_send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE,
        "request_too_large",
        apr_psprintf(r->pool, "The request body is larger than the %"
                     APR_OFF_T_FMT " bytes this endpoint accepts.", limit));
}

static int read_failed(request_rec *r, apr_status_t rv,
                       apr_bucket_brigade *bb)
{
    int status = error_bucket_status(bb);

    if (!status) {
        status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
    }
    if (r->connection->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, LLMLOGNO(01020)
                      "%s: client went away while sending the body",
                      r->uri);
        r->connection->keepalive = AP_CONN_CLOSE;
        return DONE;
    }
    if (status == AP_FILTER_ERROR) {
        /* HTTP_IN refused the body (a bad chunk size, a body longer
         * than it said) and has answered already, through
         * insert_error_filter: in JSON. */
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, LLMLOGNO(01044)
                      "%s: bad request: the body's framing is invalid "
                      "(answered %d)", r->uri,
                      r->status >= 400 ? r->status : HTTP_BAD_REQUEST);
        r->connection->keepalive = AP_CONN_CLOSE;
        return DONE;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, LLMLOGNO(01021)
                  "%s: reading the request body failed (%d)", r->uri,
                  status);
    r->connection->keepalive = AP_CONN_CLOSE;
    return llm_router_send_error(r, status, "invalid_body",
                                 "The request body could not be read.");
}

/* A large body's JSON tree is json-c's, in malloc'd nodes (about 1 KiB
 * an object): freed when the request ends, they stay in the thread's
 * malloc arena, and a child that served a few such requests kept
 * hundreds of MB. This cleanup, registered before the body is parsed
 * (so that it runs after the tree is released), gives the free pages
 * of every arena back to the system. */
#define TRIM_AFTER_BODY (256 * 1024)

/* glibc's malloc starts with blocks of 128 KiB and more mmapped (given
 * back to the system when freed) and an arena's free top trimmed past
 * 128 KiB. Both thresholds rise when a mmapped block is freed, to its
 * size and twice that (up to 32 and 64 MiB): after one 10 MiB body,
 * blocks up to 10 MiB came from the arenas, and each thread's arena
 * kept up to 20 MiB at its top, which malloc_trim() does not touch in
 * the arenas of threads. A child kept 100 MB after ten 10 MiB bodies.
 * Fixed at glibc's own starting values, they stay there. An admin's
 * own choice (GLIBC_TUNABLES, MALLOC_*_THRESHOLD_) is left alone. */
#define MALLOC_THRESHOLD (128 * 1024)

static int admin_tuned_malloc(void)
{
    const char *t = getenv("GLIBC_TUNABLES");

    return getenv("MALLOC_MMAP_THRESHOLD_") || getenv("MALLOC_TRIM_THRESHOLD_")
           || (t && (strstr(t, "glibc.malloc.mmap_threshold")
                     || strstr(t, "glibc.malloc.trim_threshold")));
}

void llm_router_malloc_child_init(apr_pool_t *p, server_rec *s)
{
    (void)p;
#ifdef __GLIBC__
    if (admin_tuned_malloc()) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LLMLOGNO(01070)
                     "malloc thresholds left as the environment sets them");
        return;
    }
    mallopt(M_MMAP_THRESHOLD, MALLOC_THRESHOLD);
    mallopt(M_TRIM_THRESHOLD, MALLOC_THRESHOLD);
#else
    (void)s;
#endif
}

static apr_status_t give_back_heap(void *unused)
{
    (void)unused;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    return APR_SUCCESS;
}

/* Where a body is kept: r->pool, or, for one announced as large, a
 * pool of its own whose allocator keeps nothing. The blocks of r->pool
 * go back to the connection's allocator, which keeps them for its next
 * requests (up to MaxMemFree, 2 MiB by default, per connection pool an
 * event or worker child recycles): a child whose connections each
 * carried a large body kept about one body per connection. A subpool
 * is destroyed before r->pool's cleanups run, so its memory is free by
 * the time the heap is trimmed. */
static apr_pool_t *body_pool(request_rec *r, apr_off_t expect)
{
    apr_allocator_t *a;
    apr_pool_t *p;

    if (expect < TRIM_AFTER_BODY || apr_allocator_create(&a) != APR_SUCCESS) {
        return r->pool;
    }
    apr_allocator_max_free_set(a, 1);
    if (apr_pool_create_ex(&p, r->pool, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return r->pool;
    }
    apr_allocator_owner_set(a, p);
    apr_pool_tag(p, "llm_body");
    return p;
}

/* A body without a Content-Length (chunked) starts in r->pool and
 * moves to a pool of its own when its buffer would grow past
 * SPILL_UNANNOUNCED: what its doublings leave in r->pool stays under
 * 128 KiB. (Chunked 1 MB bodies
 * moved at 256 KiB left each recycled connection pool 512 KiB.) */
#define SPILL_UNANNOUNCED (64 * 1024)

static void spill(request_rec *r, llm_buf_t *b, apr_size_t more)
{
    apr_pool_t *p = body_pool(r, TRIM_AFTER_BODY);
    llm_buf_t own;

    if (p == r->pool) {
        return;
    }
    llm_buf_init(&own, p);
    llm_buf_reserve(&own, 2 * (b->len + more));
    llm_buf_add(&own, b->data, b->len);
    *b = own;
}

/* The body's bytes in @a bb into @a b. Returns 1 at its end (EOS), 0
 * when more is to come, -1 when an error was answered (*rc is then the
 * handler's return value). */
static int take_bytes(request_rec *r, apr_bucket_brigade *bb, llm_buf_t *b,
                      apr_off_t limit, int *rc)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        const char *d;
        apr_size_t n;
        apr_status_t rv;

        if (APR_BUCKET_IS_EOS(e)) {
            return 1;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        rv = apr_bucket_read(e, &d, &n, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            *rc = read_failed(r, rv, bb);
            return -1;
        }
        if ((apr_off_t)(b->len + n) > limit) {
            apr_brigade_cleanup(bb);
            *rc = too_large(r, limit);
            return -1;
        }
        if (b->len + n + 1 > b->cap && b->len + n > SPILL_UNANNOUNCED
            && b->pool == r->pool) {
            spill(r, b, n);     /* about to grow: not announced */
        }
        llm_buf_add(b, d, n);
    }
    return 0;
}

int llm_router_read_body(request_rec *r, apr_off_t limit, const char **buf,
                         apr_size_t *len)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t expect = 0;
    apr_bucket_brigade *bb;
    llm_buf_t b;
    int end = 0;
    int rc = OK;

    if (cl && (!ap_parse_strict_length(&expect, cl) || expect < 0)) {
        r->connection->keepalive = AP_CONN_CLOSE;
        return llm_router_send_error(r, HTTP_BAD_REQUEST, "invalid_body",
                                     "The Content-Length header is invalid.");
    }
    if (expect > limit) {
        return too_large(r, limit);
    }
    /* With a Content-Length, one allocation at the exact size. */
    llm_buf_init(&b, body_pool(r, expect));
    llm_buf_reserve(&b, cl ? (apr_size_t)expect : 8192);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!end) {
        apr_status_t rv = ap_get_brigade(r->input_filters, bb,
                                         AP_MODE_READBYTES, APR_BLOCK_READ,
                                         HUGE_STRING_LEN);

        if (rv != APR_SUCCESS) {
            return read_failed(r, rv, bb);
        }
        if ((end = take_bytes(r, bb, &b, limit, &rc)) < 0) {
            return rc;
        }
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    if (b.len >= TRIM_AFTER_BODY) {
        apr_pool_cleanup_register(r->pool, NULL, give_back_heap,
                                  apr_pool_cleanup_null);
    }
    *buf = b.data;
    *len = b.len;
    return OK;
}

/* ------------------------------------------------------------------ */
/* LLM_BODY: replay a body from memory                                 */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *data;
    apr_size_t len;
    apr_size_t off;
} replay_ctx_t;

apr_status_t llm_body_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                             ap_input_mode_t mode, apr_read_type_e block,
                             apr_off_t readbytes)
{
    replay_ctx_t *ctx = f->ctx;
    apr_bucket_alloc_t *ba = f->c->bucket_alloc;
    apr_size_t n;

    if (mode != AP_MODE_READBYTES && mode != AP_MODE_SPECULATIVE) {
        return ap_get_brigade(f->next, bb, mode, block, readbytes);
    }
    n = ctx->len - ctx->off;
    if (readbytes > 0 && (apr_off_t)n > readbytes) {
        n = (apr_size_t)readbytes;
    }
    if (n > 0) {
        /* The memory belongs to r->pool (the request's JSON objects),
         * which outlives every reader of r->input_filters: no copy. */
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(
                                        ctx->data + ctx->off, n, ba));
        if (mode == AP_MODE_READBYTES) {
            ctx->off += n;
        }
    }
    if (ctx->off == ctx->len || n == 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(ba));
    }
    return APR_SUCCESS;
}

/* The body the next reader of r's input gets instead of the client's
 * (which was read whole before): exactly Content-Length bytes. The
 * caller removes the filter when the attempt is over. */
ap_filter_t *llm_router_replay_body(request_rec *r, const char *body,
                                    apr_size_t len)
{
    replay_ctx_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));

    ctx->data = body;
    ctx->len = len;
    apr_table_setn(r->headers_in, "Content-Length",
                   apr_off_t_toa(r->pool, (apr_off_t)len));
    apr_table_unset(r->headers_in, "Transfer-Encoding");
    return ap_add_input_filter(LLM_BODY_FILTER, ctx, r, r->connection);
}
