/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * One attempt: the rewritten request handed to mod_proxy for one
 * provider.
 *
 * We call mod_proxy's scheme handler ourselves instead of setting the
 * handler to "proxy-server": mod_proxy_http still does all of the HTTP
 * (pooled keep-alive connections, request and response streaming, flush
 * on every upstream pause), but the outcome comes back to us, so that a
 * failure before the first response byte becomes a JSON error in the
 * client's dialect (or, with mod_llm_balance's fail-over, another
 * attempt with a body rewritten for the next provider) instead of
 * httpd's HTML error page.
 *
 * LLM_UPSTREAM watches what mod_proxy passes to the client: it marks the
 * first byte, and swallows mod_proxy's "backend broke before answering"
 * signal (an error bucket plus EOC, which would otherwise drop the
 * client's connection) so that we can answer properly.
 *
 * This is the one file that relies on mod_proxy's internals, beyond its
 * public functions; each place says which:
 *  - the shared worker record (proxy_worker_shared: status flags,
 *    conn_timeout, ttl, name_ex), for the workers we define;
 *  - mod_proxy_http's notes on r: "proxy_timedout" (a read from the
 *    backend timed out), "error-notes" (for its HTML page), and its pool
 *    userdata "proxy-req-input" (the body it read, kept for a retry);
 *  - mod_proxy_http streams a body with its Content-Length only when
 *    r->input_filters == r->proto_input_filters, and spools it otherwise;
 *  - ap_proxy_backend_broke(): an error bucket plus EOC when the backend
 *    fails before answering on a kept-alive client connection;
 *  - the proxy create_req hook, which hands us the backend connection;
 *  - the proxy fixups hook, and what ap_proxy_create_hdrbrgd() does to
 *    r->headers_in before and after it (the headers a provider gets;
 *    its order changed in 2.4.54, see llm_router_proxy_fixups).
 * Checked against the sources of httpd 2.4.53, 2.4.54 (the fixups hook),
 * 2.4.58, 2.4.62 and the 2.4.x branch (2.4.63-dev, f45abec1), and
 * against Debian's Apache/2.4.71 (its mod_proxy.h, and the test suite);
 * name_ex needs 2.4.53 or later. Look here first when httpd moves.
 */

#include <errno.h>

#include "apr_strings.h"
#include "apr_date.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <json-c/json.h>

#include "llm_router_private.h"
#include "llm_xlate.h"
#include "llm_fault.h"

typedef struct {
    llm_attempt_t *at;
    llm_router_req_t *rq;
    const llm_router_next_t *next; /* would a failure be retried? */
    int passed;          /* response bytes went on to the client */
    int broken;          /* mod_proxy gave up before any byte */
    int withheld;        /* a 429/5xx answer kept from the client */
    int inspecting;      /* a 400/413 held to be read: is the prompt too
                            long for the model (a larger one may take
                            it), or is it the client's to have? */
    int too_long;        /* ... it is too long: withheld */
    char *held;          /* what was read of it (LLM_FAULT_BODY_MAX) */
    apr_size_t held_len;
    int waiting;         /* a 2xx answer held until its first content */
    int streamed;        /* ... a stream: content is its first token */
    int content;         /* ... which has come */
    llm_decoder_t *dec;  /* reads the held stream for that token */
    apr_bucket_brigade *ahead; /* what came before it */
    apr_size_t ahead_len;      /* ... its bytes */
} watch_ctx_t;

/* Answers worth another provider: the provider is overloaded, broken or
 * rate-limited. Anything else (4xx) is about the request itself and goes
 * to the client as it is. */
static int retryable_status(int status)
{
    return status == HTTP_TOO_MANY_REQUESTS || status == HTTP_INTERNAL_SERVER_ERROR
           || status == HTTP_BAD_GATEWAY || status == HTTP_SERVICE_UNAVAILABLE
           || status == HTTP_GATEWAY_TIME_OUT;
}

static int brigade_has_error(apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (AP_BUCKET_IS_ERROR(e)) {
            return 1;
        }
    }
    return 0;
}

/* A provider's Retry-After (seconds or an HTTP date), 0 when none; at
 * most a day (the balance module caps it further), whatever it says. */
#define RETRY_AFTER_MAX 86400

static apr_interval_time_t retry_after(request_rec *r)
{
    const char *v = apr_table_get(r->headers_out, "Retry-After");
    apr_time_t when;
    apr_time_t now = apr_time_now();
    char *end;
    long s;

    if (!v) {
        return 0;
    }
    errno = 0;
    s = strtol(v, &end, 10);
    if (end != v && *end == '\0' && s > 0) {
        return apr_time_from_sec(errno == ERANGE || s > RETRY_AFTER_MAX
                                 ? RETRY_AFTER_MAX : s);
    }
    when = apr_date_parse_http(v);
    if (when <= now) {
        return 0;
    }
    return when - now > apr_time_from_sec(RETRY_AFTER_MAX)
           ? apr_time_from_sec(RETRY_AFTER_MAX) : when - now;
}

/* The provider's time limit for its next read: @a limit, cut short by
 * LLMRouterTotalTimeout. Applied to the backend socket, whose timeout
 * governs every read mod_proxy_http makes. */
static void limit_next_read(request_rec *r, llm_router_req_t *rq,
                            apr_interval_time_t limit)
{
    apr_interval_time_t total = llm_router_total_timeout(rq->conf);

    rq->total_bound = 0;
    if (total > 0) {
        apr_interval_time_t left = r->request_time + total - apr_time_now();

        if (left < limit) {
            limit = left > 0 ? left : 1;
            rq->total_bound = 1;
        }
    }
    apr_socket_timeout_set(rq->backend_sock, limit);
}

static int is_stream_type(const char *ct);

/* A stream the provider broke after it began: say so in the stream,
 * before the connection ends without its terminating chunk, so that no
 * client can take a cut answer for a whole one. */
static void add_stream_error(request_rec *r, llm_router_req_t *rq,
                             apr_bucket_brigade *bb)
{
    const char *event;
    apr_bucket *e;

    if (!is_stream_type(r->content_type)) {
        return;
    }
    event = llm_wire_stream_error(rq->wire);
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (AP_BUCKET_IS_ERROR(e)) {
            APR_BUCKET_INSERT_BEFORE(e, apr_bucket_immortal_create(
                event, strlen(event), bb->bucket_alloc));
            APR_BUCKET_INSERT_BEFORE(e, apr_bucket_flush_create(
                bb->bucket_alloc));
            return;
        }
    }
}

/* The body of a withheld answer, as much as is worth reading, for the
 * client if no attempt follows after all (the policy may change its mind
 * once the failure is recorded: a circuit opens). */
static void keep_withheld(request_rec *r, watch_ctx_t *w,
                          apr_bucket_brigade *bb)
{
    llm_buf_t *kept = &w->rq->withheld;
    apr_bucket *e;
    const char *data;
    apr_size_t len;

    if (!kept->pool) {
        llm_buf_init(kept, r->pool);
    }
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (!APR_BUCKET_IS_METADATA(e)
            && apr_bucket_read(e, &data, &len, APR_BLOCK_READ)
               == APR_SUCCESS) {
            if (kept->len + len > LLM_FAULT_BODY_MAX) {
                len = LLM_FAULT_BODY_MAX - kept->len;
            }
            llm_buf_add(kept, data, len);
        }
    }
    apr_brigade_cleanup(bb);
}

/* Would another attempt follow, were this answer (429/5xx) a failure?
 * Then it is withheld; else it is the client's, as the provider sent
 * it. */
static int would_go_on(watch_ctx_t *w)
{
    w->at->outcome = LLM_OUTCOME_HTTP_ERROR;
    return w->next->go_on(w->next->baton, w->at);
}

/* The answer goes to the client from now on. */
static void start_passing(request_rec *r, watch_ctx_t *w)
{
    w->passed = 1;
    w->at->first_byte = apr_time_now();
    if (w->rq->backend_sock) {
        limit_next_read(r, w->rq, llm_router_idle_timeout(w->rq->conf));
    }
}

/* The held refusal read whole (or as much as is worth reading): kept
 * from the client when the prompt is too long for the model, else put
 * back in front of what follows and passed on as it came. */
static apr_status_t decide_refusal(ap_filter_t *f, watch_ctx_t *w,
                                   apr_bucket_brigade *bb)
{
    w->inspecting = 0;
    if (llm_fault_of_answer(w->at->status, w->held, w->held_len)
        == LLM_FAULT_CONTEXT_LENGTH) {
        w->too_long = 1;
        w->withheld = 1;
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    if (w->held_len) {
        APR_BRIGADE_INSERT_HEAD(bb, apr_bucket_heap_create(
            w->held, w->held_len, NULL, bb->bucket_alloc));
    }
    start_passing(f->r, w);
    return ap_pass_brigade(f->next, bb);
}

/* A 400/413 that may say the prompt is too long: its bytes are taken out
 * of the brigades into w->held until its end (or the end of what is
 * worth reading), then decided on. */
static apr_status_t inspect_refusal(ap_filter_t *f, watch_ctx_t *w,
                                    apr_bucket_brigade *bb)
{
    apr_bucket *e = APR_BRIGADE_FIRST(bb);

    while (e != APR_BRIGADE_SENTINEL(bb)) {
        apr_bucket *next = APR_BUCKET_NEXT(e);
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(e) || AP_BUCKET_IS_ERROR(e)) {
            return decide_refusal(f, w, bb);
        }
        if (!APR_BUCKET_IS_METADATA(e)) {
            if (apr_bucket_read(e, &data, &len, APR_BLOCK_READ)
                != APR_SUCCESS || w->held_len + len > LLM_FAULT_BODY_MAX) {
                return decide_refusal(f, w, bb);    /* not worth reading */
            }
            if (!w->held) {
                w->held = apr_palloc(f->r->pool, LLM_FAULT_BODY_MAX);
            }
            memcpy(w->held + w->held_len, data, len);
            w->held_len += len;
        }
        apr_bucket_delete(e);
        e = next;
    }
    return APR_SUCCESS;
}

/*
 * The first-token timer. A provider may answer 200 and its headers at
 * once and its first token much later (a queue, a cold model): were the
 * headers passed on, the client's status would be committed, and at the
 * first-byte timeout the gateway could only end the stream with an
 * error. So a 2xx answer is held (status and headers with it) until its
 * first content: for a stream, the first event that carries a token, a
 * tool call, a finish or an error; otherwise, the first byte of the body.
 * The backend read keeps the first-byte limit until then; a timeout while
 * held is a failure before the first byte, and the next provider is
 * tried as if the provider had said nothing. mod_proxy_http's flush at
 * every upstream pause carries nothing to hold.
 */
static apr_status_t on_event(void *baton, const llm_event_t *ev)
{
    watch_ctx_t *w = baton;

    switch (ev->type) {
    case LLM_EV_START:
    case LLM_EV_USAGE:
        break;
    case LLM_EV_TEXT:
    case LLM_EV_REASONING:
        w->content |= ev->text_len > 0;     /* not a role-only chunk */
        break;
    default:
        w->content = 1;
    }
    return APR_SUCCESS;
}

static int is_stream_type(const char *ct)
{
    return ct && (!strncasecmp(ct, "text/event-stream", 17)
                  || !strncasecmp(ct, "application/x-ndjson", 20));
}

static void start_waiting(request_rec *r, watch_ctx_t *w)
{
    w->waiting = 1;
    w->streamed = is_stream_type(r->content_type);
    if (w->streamed) {
        w->dec = llm_decoder_create(r->pool, w->rq->provider_wire,
                                    LLM_EVENT_MAX_DEFAULT);
    }
    w->ahead = apr_brigade_create(r->pool, r->connection->bucket_alloc);
}

/* What is held for the first token at most: a provider that sends more
 * before it (keep-alive comments, a long prelude) is passed on from there,
 * the timer given up rather than memory spent. */
#define HOLD_MAX (256 * 1024)

/* Has content come in @a bb? Stops reading at the bucket that has it. */
static void look_for_content(watch_ctx_t *w, apr_bucket_brigade *bb)
{
    apr_bucket *e;
    const char *data;
    apr_size_t len;

    for (e = APR_BRIGADE_FIRST(bb);
         !w->content && e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            w->content = 1;             /* the end of the body */
        }
        else if (!APR_BUCKET_IS_METADATA(e)
                 && apr_bucket_read(e, &data, &len, APR_BLOCK_READ)
                    == APR_SUCCESS && len) {
            w->ahead_len += len;
            if (!w->streamed || !w->dec || w->ahead_len > HOLD_MAX
                || llm_decoder_feed(w->dec, data, len, on_event, w)
                   != APR_SUCCESS) {
                w->content = 1;         /* a body byte, or not events:
                                           nothing more to wait for */
            }
        }
    }
}

/* The first-byte limit is the first token's, not each read's: a
 * provider that keeps the connection busy (keep-alive comments) without
 * a token is cut when it runs out. Returns 0 when it has. */
static int first_token_in_time(request_rec *r, watch_ctx_t *w)
{
    apr_interval_time_t left = w->at->started
                               + llm_router_first_byte_timeout(w->rq->conf)
                               - apr_time_now();

    if (left <= 0) {
        return 0;
    }
    if (w->rq->backend_sock) {
        limit_next_read(r, w->rq, left);
    }
    return 1;
}

static apr_status_t wait_for_content(ap_filter_t *f, watch_ctx_t *w,
                                     apr_bucket_brigade *bb)
{
    apr_status_t rv;

    look_for_content(w, bb);
    if (!w->content && !first_token_in_time(f->r, w)) {
        /* mod_proxy_http stops reading the provider when a filter
         * fails; the attempt is a timeout (classify). */
        apr_brigade_cleanup(bb);
        apr_brigade_cleanup(w->ahead);
        return APR_TIMEUP;
    }
    if (!w->content) {
        return ap_save_brigade(f, &w->ahead, &bb, f->r->pool);
    }
    w->waiting = 0;
    APR_BRIGADE_PREPEND(bb, w->ahead);
    start_passing(f->r, w);
    rv = ap_pass_brigade(f->next, bb);
    apr_brigade_cleanup(bb);
    return rv;
}

apr_status_t llm_watch_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    watch_ctx_t *w = f->ctx;

    if (w->inspecting) {
        return inspect_refusal(f, w, bb);
    }
    if (w->passed) {
        if (w->rq->backend_sock) {
            limit_next_read(f->r, w->rq, llm_router_idle_timeout(w->rq->conf));
        }
        if (brigade_has_error(bb) && !w->rq->translating) {
            /* (LLM_XLATE ends a translated stream in its own dialect.) */
            add_stream_error(f->r, w->rq, bb);
        }
        return ap_pass_brigade(f->next, bb);
    }

    if (w->withheld) {
        keep_withheld(f->r, w, bb);           /* the rest of a withheld answer */
        return APR_SUCCESS;
    }
    if (!w->passed && !APR_BRIGADE_EMPTY(bb)) {
        if (brigade_has_error(bb)) {
            w->broken = 1;
            apr_brigade_cleanup(bb);
            if (w->ahead) {
                apr_brigade_cleanup(w->ahead);
            }
            return APR_SUCCESS;
        }
        if (w->waiting) {
            return wait_for_content(f, w, bb);
        }
        w->at->status = f->r->status;
        if (retryable_status(f->r->status)) {
            w->at->retry_after = retry_after(f->r);
        }
        if (w->rq->continuing && !ap_is_HTTP_SUCCESS(f->r->status)) {
            /* A continuation's refusal is no part of the client's
             * stream: the next prefill provider, or the stream's end. A
             * 4xx is about the continuation (its prompt is longer), not
             * the provider's health. */
            w->at->outcome = retryable_status(f->r->status)
                             ? LLM_OUTCOME_HTTP_ERROR : LLM_OUTCOME_OK;
            w->withheld = 1;
            apr_brigade_cleanup(bb);
            return APR_SUCCESS;
        }
        if (retryable_status(f->r->status) && would_go_on(w)) {
            w->withheld = 1;
            keep_withheld(f->r, w, bb);
            return APR_SUCCESS;
        }
        if (w->rq->context_fallback
            && (f->r->status == HTTP_BAD_REQUEST
                || f->r->status == HTTP_REQUEST_ENTITY_TOO_LARGE)) {
            w->inspecting = 1;
            return inspect_refusal(f, w, bb);
        }
        if (ap_is_HTTP_SUCCESS(f->r->status)) {
            start_waiting(f->r, w);
            return wait_for_content(f, w, bb);
        }
        start_passing(f->r, w);
    }
    return ap_pass_brigade(f->next, bb);
}

/* What mod_proxy left on r of an answer the client did not get (one
 * withheld for the next attempt, a built-in's call kept by LLM_XLATE),
 * before the next attempt or our own answer. */
void llm_router_forget_answer(request_rec *r)
{
    /* ap_pass_brigade() marked the EOS mod_proxy passed, though it never
     * reached the client: without this, httpd would not end the response
     * we write next. */
    r->eos_sent = 0;
    r->status = HTTP_OK;
    r->status_line = NULL;
    r->content_type = NULL;
    r->clength = 0;
    apr_table_clear(r->headers_out);
}

/* ------------------------------------------------------------------ */
/* What a provider receives                                            */
/* ------------------------------------------------------------------ */

/*
 * An allow-list, not the client's headers minus a few. A provider gets
 * the content type, the client's Accept, its own credentials from the
 * models file, what its API needs (Anthropic: anthropic-version, and the
 * client's anthropic-beta) and the client's headers the scope lists
 * (LLMRouterForwardHeaders); mod_proxy adds Host and the framing. The
 * rest stays here: OpenAI-Organization or OpenAI-Project would choose
 * whom the gateway's key bills, the client's key or cookie for the
 * gateway is none of the provider's business, User-Agent, Forwarded,
 * X-Forwarded-* and Via tell it about our clients.
 *
 * mod_proxy builds the provider's request in ap_proxy_create_hdrbrgd()
 * (proxy_util.c) from a copy of r->headers_in that it swaps in for the
 * time and swaps out after: since 2.4.54 it first takes Content-Length
 * and Transfer-Encoding out of the copy (mod_proxy_http writes its own),
 * drops the headers the client's Connection header names (so that
 * "Connection: Authorization" took the provider's token away), sets
 * Host, keeps Expect only for a 100-continue of its own, adds Via and
 * X-Forwarded-*, runs the proxy "fixups" hook, then sends what
 * r->headers_in holds (Host apart). So the hook is where the list is
 * made: r->headers_in becomes a new table holding only what goes. The
 * client's own table is never written, so the access log and other
 * modules see what the client sent, and the next attempt starts from it.
 * Up to 2.4.53 the Connection clean-up and the reading of Content-Length
 * came after the hook: the new table has no Connection header, carries
 * the Content-Length mod_proxy left, and a listed name the client's
 * Connection header names is not passed on.
 */

/* Never the client's, listed or not: credentials (a provider's come from
 * the models file), framing and hop-by-hop headers (mod_proxy writes its
 * own), encodings (the answer is read as it flows), and what the
 * gateway sets itself. */
static const char *const never_passed[] = {
    "Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key",
    "Cookie", "Host", "Content-Length", "Transfer-Encoding", "Expect",
    "Connection", "Proxy-Connection", "Keep-Alive", "TE", "Trailer",
    "Upgrade", "Accept-Encoding", "Content-Type", "Accept",
    "Anthropic-Version", "Anthropic-Beta", NULL
};

static int may_pass(const char *name)
{
    int i;

    for (i = 0; never_passed[i]; i++) {
        if (!strcasecmp(name, never_passed[i])) {
            return 0;
        }
    }
    return 1;
}

static int add_header(void *to, const char *key, const char *val)
{
    apr_table_addn(to, key, val);
    return 1;
}

/* Every value of @a name in @a from, spelt as it came. */
static void pass_on(apr_table_t *to, apr_table_t *from, const char *name)
{
    apr_table_do(add_header, to, from, name, NULL);
}

/* The client's headers the scope lists. */
static void pass_listed(request_rec *r, apr_table_t *to, apr_table_t *from,
                        const apr_array_header_t *names)
{
    const char *conn = apr_table_get(from, "Connection");   /* <= 2.4.53 */
    int i;

    for (i = 0; names && i < names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(names, i, const char *);

        if (apr_table_get(from, name) && !apr_table_get(to, name)
            && may_pass(name)
            && !(conn && ap_find_token(r->pool, conn, name))) {
            pass_on(to, from, name);
        }
    }
}

/* What the provider's API needs, and its credentials. */
static void api_headers(request_rec *r, apr_table_t *to, apr_table_t *from,
                        const llm_provider_t *pr, llm_wire_e wire)
{
    apr_table_setn(to, "Content-Type", "application/json");
    pass_on(to, from, "Accept");
    if (wire == LLM_WIRE_ANTHROPIC) {
        /* Anthropic's API takes its key in x-api-key, and a version: the
         * one we speak, not the client's. */
        if (*pr->api_token) {
            apr_table_setn(to, "x-api-key", pr->api_token);
        }
        apr_table_setn(to, "anthropic-version", LLM_ANTHROPIC_VERSION);
        pass_on(to, from, "anthropic-beta");
    }
    else if (*pr->api_token) {
        apr_table_setn(to, "Authorization",
                       apr_pstrcat(r->pool, "Bearer ", pr->api_token, NULL));
    }
}

/* The proxy fixups hook: for our own attempts, the headers mod_proxy is
 * about to send (its copy, r->headers_in for now) replaced by those the
 * provider gets. */
int llm_router_proxy_fixups(request_rec *r)
{
    llm_router_req_t *rq;
    apr_table_t *from = r->headers_in;
    apr_table_t *to;

    if (!r->handler || strcmp(r->handler, LLM_ROUTER_HANDLER)
        || r->proxyreq != PROXYREQ_REVERSE        /* set for an attempt */
        || !(rq = llm_router_req(r)) || !rq->pub.attempt
        || !rq->pub.attempt->provider) {
        return DECLINED;
    }
    to = apr_table_make(r->pool, 8);
    api_headers(r, to, from, rq->pub.attempt->provider, rq->provider_wire);
    pass_listed(r, to, from, llm_router_forward_headers(rq->conf));
    /* mod_proxy's own: its 100-continue, and the framing up to 2.4.53. */
    pass_on(to, from, "Expect");
    pass_on(to, from, "Content-Length");
    pass_on(to, from, "Transfer-Encoding");
    r->headers_in = to;
    return OK;
}

static const char *outcome_name(llm_outcome_e o)
{
    switch (o) {
    case LLM_OUTCOME_REFUSED: return "connection refused or failed";
    case LLM_OUTCOME_BROKEN:  return "connection reset or bad answer";
    case LLM_OUTCOME_TIMEOUT: return "timed out before answering";
    case LLM_OUTCOME_HTTP_ERROR: return "answered with an error status";
    case LLM_OUTCOME_ABORTED: return "client went away";
    case LLM_OUTCOME_DEADLINE: return "the request's time limit ran out";
    default:                  return "answered";
    }
}

/* A read limited to the first token's deadline may time out a little
 * before it: poll(2) counts whole milliseconds. */
#define TIMER_SLACK apr_time_from_msec(20)

/* Did LLMRouterTotalTimeout end the attempt's last read? */
static int deadline_passed(request_rec *r, const llm_router_req_t *rq)
{
    apr_interval_time_t total = llm_router_total_timeout(rq->conf);

    return rq->total_bound && total > 0
           && r->request_time + total <= apr_time_now() + TIMER_SLACK;
}

/* mod_proxy's verdict, when nothing reached the client, as our outcome. */
static llm_outcome_e classify(request_rec *r, const watch_ctx_t *w,
                              int status)
{
    if (r->connection->aborted) {
        return LLM_OUTCOME_ABORTED;
    }
    if (apr_table_get(r->notes, "proxy_timedout")) {
        return w->rq->total_bound ? LLM_OUTCOME_DEADLINE
                                  : LLM_OUTCOME_TIMEOUT;
    }
    if (deadline_passed(r, w->rq)) {
        return LLM_OUTCOME_DEADLINE;
    }
    if (w->waiting && w->at->started + llm_router_first_byte_timeout(
                          w->rq->conf) <= apr_time_now() + TIMER_SLACK) {
        /* Held for its first token, which did not come in time:
         * mod_proxy_http calls a body read that timed out a broken
         * backend. */
        return LLM_OUTCOME_TIMEOUT;
    }
    if (!w->broken && status == HTTP_SERVICE_UNAVAILABLE) {
        return LLM_OUTCOME_REFUSED;
    }
    return LLM_OUTCOME_BROKEN;
}

/* A withheld 429/5xx that no attempt followed: the provider's status,
 * Retry-After and message, in the client's dialect. */
static int answer_withheld(request_rec *r, const llm_attempt_t *at)
{
    llm_router_req_t *rq = llm_router_req(r);
    const char *msg = NULL;

    if (rq && rq->withheld.len) {
        msg = llm_error_message_of(r->pool, rq->withheld.data,
                                   rq->withheld.len);
    }
    if (!msg) {
        msg = apr_psprintf(r->pool, "Provider '%s' answered %d.",
                           at->provider->id, at->status);
    }
    if (at->retry_after > 0) {
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_ltoa(r->pool, (long)apr_time_sec(
                           at->retry_after + APR_USEC_PER_SEC - 1)));
    }
    return llm_router_send_error(r, at->status >= 400 ? at->status
                                                      : HTTP_BAD_GATEWAY,
                                 at->status == HTTP_TOO_MANY_REQUESTS
                                 ? "upstream_rate_limited"
                                 : "upstream_error", msg);
}

int llm_router_answer_failure(request_rec *r, const llm_attempt_t *at)
{
    const llm_provider_t *pr = at->provider;

    /* mod_proxy left its own status line and notes for an HTML page we
     * do not send. */
    llm_router_forget_answer(r);
    apr_table_unset(r->notes, "error-notes");
    if (at->outcome == LLM_OUTCOME_TIMEOUT) {
        return llm_router_send_error(r, HTTP_GATEWAY_TIME_OUT,
            "upstream_timeout",
            apr_psprintf(r->pool, "Provider '%s' did not answer in time.",
                         pr->id));
    }
    if (at->outcome == LLM_OUTCOME_OK) {
        /* Its "prompt too long", withheld for a larger model that then
         * could not be tried. */
        return llm_router_send_error(r, HTTP_BAD_REQUEST,
            "context_length_exceeded",
            apr_psprintf(r->pool, "The prompt is too long for the model "
                         "of provider '%s', and no larger model could "
                         "take it.", pr->id));
    }
    if (at->outcome == LLM_OUTCOME_DEADLINE) {
        return llm_router_send_error(r, HTTP_GATEWAY_TIME_OUT,
            "request_timeout", "The request's time limit ran out before a "
            "provider answered.");
    }
    if (at->outcome == LLM_OUTCOME_HTTP_ERROR) {
        return answer_withheld(r, at);
    }
    return llm_router_send_error(r, HTTP_BAD_GATEWAY,
        at->outcome == LLM_OUTCOME_REFUSED ? "upstream_unreachable"
                                           : "upstream_failed",
        apr_psprintf(r->pool, at->outcome == LLM_OUTCOME_REFUSED
                         ? "Provider '%s' could not be reached."
                         : "Provider '%s' closed the connection without a "
                           "valid answer.", pr->id));
}

void llm_router_log_failure(request_rec *r, const llm_model_t *model,
                            const llm_attempt_t *at, int retrying)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(01030)
                  "%s: model %s, provider %s (%s): %s%s%s", r->uri,
                  model->name, at->provider->id, at->provider->origin,
                  outcome_name(at->outcome),
                  at->outcome == LLM_OUTCOME_HTTP_ERROR
                      ? apr_psprintf(r->pool, " %d", at->status) : "",
                  retrying ? "; trying another provider" : "");
}

/* What the exchange came to, from mod_proxy's @a status and what
 * LLM_UPSTREAM saw; at->outcome says why for the balance method. */
static llm_attempt_end_e finish(request_rec *r, const llm_model_t *model,
                                llm_attempt_t *at, const watch_ctx_t *w,
                                int status)
{
    if (w->passed && w->rq->cut && !r->connection->aborted) {
        /* LLM_XLATE kept the client's stream open for a continuation. */
        at->outcome = deadline_passed(r, w->rq) ? LLM_OUTCOME_DEADLINE
                                                : LLM_OUTCOME_BROKEN;
        r->eos_sent = 0;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(01071)
                      "%s: provider %s cut the stream after %" APR_SIZE_T_FMT
                      " bytes of text; continuing it elsewhere", r->uri,
                      at->provider->id, w->rq->delivered.len);
        return LLM_ATTEMPT_CUT;
    }
    if (w->passed) {
        at->outcome = r->connection->aborted ? LLM_OUTCOME_ABORTED
                      : retryable_status(at->status) ? LLM_OUTCOME_HTTP_ERROR
                      : LLM_OUTCOME_OK;
        if (status != OK && status != DONE && !r->connection->aborted) {
            /* Too late for another provider: the stream ends without its
             * terminating chunk, and the provider has failed. */
            at->outcome = LLM_OUTCOME_BROKEN;
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(01031)
                          "%s: provider %s failed after the response "
                          "began (%d)", r->uri, at->provider->id, status);
        }
        else if (w->rq->answer_broke && at->outcome == LLM_OUTCOME_OK) {
            /* The connection ended cleanly, the answer did not (a stream
             * cut before its finish, that nothing continued): a failure
             * of the provider for health, metrics and the access log —
             * unless the request's own time limit cut it. */
            at->outcome = deadline_passed(r, w->rq) ? LLM_OUTCOME_DEADLINE
                                                    : LLM_OUTCOME_BROKEN;
        }
        w->rq->answer_broke = 0;
        return LLM_ATTEMPT_ANSWERED;
    }
    if (w->too_long) {
        /* The request's fault for this model, not the provider's. */
        at->outcome = LLM_OUTCOME_OK;
        at->failed_over = 1;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(01046)
                      "%s: model %s, provider %s: the prompt is too long "
                      "for the model; trying a larger one", r->uri,
                      model->name, at->provider->id);
        llm_router_forget_answer(r);
        return LLM_ATTEMPT_TOO_LONG;
    }
    at->outcome = !w->withheld ? classify(r, w, status)
                  : retryable_status(at->status) ? LLM_OUTCOME_HTTP_ERROR
                  : LLM_OUTCOME_OK;
    if (at->outcome == LLM_OUTCOME_ABORTED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(01032)
                      "%s: client went away before provider %s answered",
                      r->uri, at->provider->id);
        return LLM_ATTEMPT_ABANDONED;
    }
    at->failed_over = w->withheld || w->next->go_on(w->next->baton, at);
    llm_router_forget_answer(r);
    return LLM_ATTEMPT_FAILED;
}

/* Pooled connections found closed by the provider, in a row, before a
 * request gives up on that provider (each is dropped from the pool). */
#define MAX_STALE 3

/* mod_proxy_http trusts Content-Length and streams the body only when
 * no filter sits above the protocol filters (r->input_filters ==
 * r->proto_input_filters, in stream_reqbody's choice of method);
 * otherwise it spools any body over 16 KiB to memory or a temporary file
 * just to count it. LLM_BODY serves exactly Content-Length bytes, so for
 * the length of the attempt it stands in as the protocol chain (HTTP_IN
 * below it has delivered its EOS already). Returns what to put back. */
static ap_filter_t *stand_in_for_protocol(request_rec *r, ap_filter_t *in)
{
    ap_filter_t *saved = NULL;

    if (r->input_filters == in) {
        saved = r->proto_input_filters;
        r->proto_input_filters = in;
    }
    return saved;
}

static void end_replay(request_rec *r, ap_filter_t *in, ap_filter_t *saved)
{
    ap_remove_input_filter(in);
    if (saved) {
        r->proto_input_filters = saved;
    }
    /* mod_proxy_http keeps what it read of the body in the pool userdata
     * "proxy-req-input", for a retry on the same worker (a balancer's
     * fail-over); the next attempt may send a different body. */
    apr_pool_userdata_setn(NULL, "proxy-req-input", NULL, r->pool);
}

/* One exchange with the provider over one connection. */
static int exchange(request_rec *r, llm_router_req_t *rq, llm_attempt_t *at,
                    proxy_worker *worker, proxy_server_conf *pc,
                    const char *url, watch_ctx_t *w)
{
    ap_filter_t *in;
    ap_filter_t *saved;
    ap_filter_t *out;
    ap_filter_t *xlate;
    int status;

    in = llm_router_replay_body(r, rq->pub.body_sent, rq->pub.body_sent_len);
    saved = stand_in_for_protocol(r, in);
    rq->backend_sock = NULL;
    rq->backend_reused = 0;
    rq->total_bound = 0;
    out = ap_add_output_filter(LLM_WATCH_FILTER, w, r, r->connection);
    xlate = llm_router_add_xlate(r, rq);
    r->proxyreq = PROXYREQ_REVERSE;
    apr_table_unset(r->notes, "proxy_timedout");

    at->started = apr_time_now();
    status = proxy_run_scheme_handler(r, worker, pc,
                                      apr_pstrdup(r->pool, url), NULL, 0);
    at->ended = apr_time_now();

    end_replay(r, in, saved);
    ap_remove_output_filter(out);
    if (xlate) {
        ap_remove_output_filter(xlate);
    }
    rq->backend_sock = NULL;    /* back in mod_proxy's pool now */
    r->proxyreq = PROXYREQ_NONE;
    return status;
}

static void watch(watch_ctx_t *w, llm_router_req_t *rq, llm_attempt_t *at,
                  const llm_router_next_t *next)
{
    memset(w, 0, sizeof(*w));
    w->at = at;
    w->rq = rq;
    w->next = next;
    rq->withheld.len = 0;
}

/* A pooled connection the provider closed as we sent on it (its
 * keep-alive timeout, or its server shedding idle connections under
 * load): nothing was answered, so the request may go again (mod_proxy
 * dropped that connection) without counting against the provider. */
static int went_stale(request_rec *r, llm_router_req_t *rq,
                      const watch_ctx_t *w)
{
    return !w->passed && !w->withheld && !w->inspecting && !w->waiting
           && rq->backend_reused
           && !r->connection->aborted
           && !apr_table_get(r->notes, "proxy_timedout");
}

/* The request in the provider's dialect (1), or the client told why it
 * cannot be (0): the request's fault, not the provider's, so no other
 * provider is tried and the method hears of no failure. A continuation
 * that cannot be put in the provider's dialect (-1) is no answer's
 * business: the next prefill provider is tried. */
static int prepare(request_rec *r, llm_router_req_t *rq, llm_attempt_t *at,
                   const char **url)
{
    llm_error_t err = { 0 };

    if (llm_router_upstream_request(r, rq, at->provider, url, &err) != OK) {
        at->outcome = LLM_OUTCOME_OK;
        if (rq->continuing) {
            /* The client's stream is open: no answer of ours goes in it;
             * another prefill provider may take the continuation. */
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(01074)
                          "%s: provider %s cannot take the continuation: %s",
                          r->uri, at->provider->id, err.message);
            return -1;
        }
        llm_router_send_error_param(r, err.status, err.code, err.param,
                                    err.message);
        return 0;
    }
    /* The body was read whole, the client's 100-continue answered then:
     * mod_proxy_http is not to wait for one from the provider on its
     * behalf. The headers are chosen in llm_router_proxy_fixups. */
    r->expecting_100 = 0;
    return 1;
}

llm_attempt_end_e llm_router_attempt(request_rec *r, llm_router_req_t *rq,
                                     llm_attempt_t *at,
                                     const llm_router_next_t *next)
{
    proxy_server_conf *pc = ap_get_module_config(r->server->module_config,
                                                 &proxy_module);
    proxy_worker *worker = rq->table->workers[at->provider->slot];
    watch_ctx_t *w = apr_palloc(r->pool, sizeof(*w));
    const char *url;
    int status;
    int again;

    if (!worker) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(01033)
                      "%s: no proxy worker for provider %s (%s); is "
                      "mod_proxy_http loaded?", r->uri, at->provider->id,
                      at->provider->origin);
        at->outcome = LLM_OUTCOME_REFUSED;
        return LLM_ATTEMPT_FAILED;
    }
    switch (prepare(r, rq, at, &url)) {
    case 0:
        return LLM_ATTEMPT_REFUSED;
    case -1:
        return LLM_ATTEMPT_FAILED;
    default:
        break;
    }
    watch(w, rq, at, next);
    status = exchange(r, rq, at, worker, pc, url, w);
    for (again = 0; again < MAX_STALE && went_stale(r, rq, w); again++) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LLMLOGNO(01042)
                      "%s: provider %s closed a reused connection before "
                      "answering; sending again on a new one", r->uri,
                      at->provider->id);
        llm_router_forget_answer(r);
        apr_table_unset(r->notes, "error-notes");
        watch(w, rq, at, next);
        status = exchange(r, rq, at, worker, pc, url, w);
    }
    return finish(r, rq->pub.model, at, w, status);
}

/* The provider's time limits, per request: the backend connection's
 * socket timeout, set when mod_proxy_http is about to read the answer
 * (the connection may come from the pool with another one's), then
 * moved to the idle limit once the answer flows (llm_watch_filter). */
int llm_router_create_req(request_rec *r, request_rec *backend)
{
    llm_router_req_t *rq;
    apr_socket_t *sock;

    if (!r->handler || strcmp(r->handler, LLM_ROUTER_HANDLER)
        || !(rq = llm_router_req(r))
        || !(sock = ap_get_conn_socket(backend->connection))) {
        return DECLINED;
    }
    rq->backend_sock = sock;
    /* A mark on the backend connection: seen before, it came from the
     * pool (conn_config lives as long as the connection). */
    rq->backend_reused = ap_get_module_config(backend->connection->conn_config,
                                              &llm_router_module) != NULL;
    ap_set_module_config(backend->connection->conn_config, &llm_router_module,
                         (void *)1);
    limit_next_read(r, rq, llm_router_first_byte_timeout(rq->conf));
    return OK;
}

/* ------------------------------------------------------------------ */
/* Workers                                                             */
/* ------------------------------------------------------------------ */

/* One worker per provider origin, in the main server's mod_proxy
 * configuration. A worker the admin already defined (ProxyPass to the
 * same origin) is shared rather than duplicated. */
int llm_router_define_workers(apr_pool_t *pconf, apr_pool_t *ptemp,
                              server_rec *s, llm_router_table_t *t,
                              apr_interval_time_t connect_timeout)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    int i;

    for (i = 0; i < t->models->providers->nelts; i++) {
        llm_provider_t *pr = APR_ARRAY_IDX(t->models->providers, i,
                                           llm_provider_t *);
        proxy_worker *w = ap_proxy_get_worker(ptemp, NULL, pc, pr->origin);
        char *err;

        if (w && !strcmp(w->s->name_ex, pr->origin)) {
            continue;
        }
        err = ap_proxy_define_worker(pconf, &w, NULL, pc, pr->origin, 0);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(01001)
                         "%s: provider %s: cannot define a proxy worker "
                         "for %s: %s", t->models->path, pr->id, pr->origin,
                         err);
            return !OK;
        }
        /* Health is mod_llm_balance's business, not mod_proxy's: a
         * refused connection must not silently disable the worker. */
        w->s->status |= PROXY_WORKER_IGNORE_ERRORS;
        w->s->conn_timeout = connect_timeout;
        w->s->conn_timeout_set = 1;
        /* Close idle pooled connections before the provider does: httpd,
         * uvicorn (vLLM) and Ollama drop them after 5 s, and a request
         * sent on a connection closing at that moment is lost (reset). */
        w->s->ttl = LLM_POOL_TTL;
    }
    return OK;
}

/* In child_init, once every worker is defined: mod_proxy keeps workers
 * in an array that moves as it grows. */
void llm_router_find_workers(apr_pool_t *p, server_rec *s,
                             llm_router_table_t *t)
{
    proxy_server_conf *pc = ap_get_module_config(s->module_config,
                                                 &proxy_module);
    int i;

    for (i = 0; i < t->models->providers->nelts; i++) {
        llm_provider_t *pr = APR_ARRAY_IDX(t->models->providers, i,
                                           llm_provider_t *);

        t->workers[i] = ap_proxy_get_worker(p, NULL, pc, pr->origin);
    }
}
