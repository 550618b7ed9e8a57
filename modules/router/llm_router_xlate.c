/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Any client dialect to any provider dialect, in the request path.
 *
 * The request: when the provider does not speak the client's wire, the
 * client's body becomes the canonical request (an OpenAI chat request,
 * llm_xlate_ingress, once per request) and that becomes the provider's
 * body (llm_xlate_egress, per attempt: the next provider may speak
 * another dialect).
 *
 * The answer: LLM_XLATE, an output filter after LLM_UPSTREAM, reads
 * what mod_proxy passes on. A streamed answer (SSE, NDJSON) goes through
 * the provider wire's decoder and the client wire's encoder bucket by
 * bucket: each translated event leaves as soon as its input event is
 * complete, with a FLUSH, and at most one incomplete input event is held
 * (llm_event.h). A whole answer, an embeddings answer and an error body
 * are small and are read to their end first. The usage the answer
 * reported lands in the request context for metrics, limits and audit.
 */

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "util_filter.h"

#include <json-c/json.h>

#include "llm_router_private.h"
#include "llm_xlate.h"
#include "llm_buf.h"

/* An answer read whole before it is translated (a whole chat answer, an
 * embeddings answer, an error body) may not be larger. */
#define WHOLE_MAX (64 * 1024 * 1024)

/* A whole answer passing unchanged is kept up to this size (in place
 * when it comes in one bucket) and its usage read at its end without
 * building its tree (llm_answer_usage); a larger one is parsed as it
 * flows instead, so that no copy of it is made. */
#define OBSERVE_KEEP_MAX (256 * 1024)

/* A whole answer read before it is translated starts with room for
 * this much: most answers fit, in one allocation. */
#define WHOLE_FIRST (16 * 1024)

/* How many malformed events of the provider's stream were skipped, for
 * the access log: %{llm-skipped-events}n. */
#define NOTE_SKIPPED "llm-skipped-events"

/* The canonical form of the client's request, made once. */
static json_object *canonical(request_rec *r, llm_router_req_t *rq,
                              llm_error_t *err)
{
    if (!rq->canon) {
        rq->canon = llm_xlate_ingress(r->pool, rq->wire, rq->pub.op,
                                      rq->pub.body, err);
        if (rq->canon) {
            llm_json_own(r->pool, rq->canon);
        }
    }
    return rq->canon;
}

/* A stream from an OpenAI-dialect provider (chat or legacy completions)
 * carries its usage only when asked (stream_options.include_usage): the
 * gateway always asks, for its accounting, and keeps the usage chunk
 * from a client that did not (docs/dialects.md, "Usage"). */
static int asks_usage(const llm_router_req_t *rq)
{
    return rq->pub.stream
           && (rq->provider_wire == LLM_WIRE_OPENAI_CHAT
               || rq->provider_wire == LLM_WIRE_OPENAI_COMPLETION);
}

static int include_usage_of(json_object *body)
{
    json_object *so = llm_json_get(body, "stream_options");

    return json_object_get_boolean(llm_json_get(so, "include_usage"));
}

/* stream_options with include_usage, keeping the other options of
 * @a so (the client's, or NULL). */
static json_object *usage_options(json_object *so)
{
    json_object *out = json_object_new_object();

    if (so && json_object_is_type(so, json_type_object)) {
        json_object_object_foreach(so, k, v) {
            json_object_object_add(out, k, json_object_get(v));
        }
    }
    json_object_object_add(out, "include_usage", json_object_new_boolean(1));
    return out;
}

/* The client's own body, or, when it streams without asking for the
 * usage, a copy of its top level (its values shared) that asks. */
static json_object *with_usage(request_rec *r, llm_router_req_t *rq,
                               json_object *body)
{
    json_object *copy;

    if (!asks_usage(rq) || include_usage_of(body)
        || !json_object_is_type(body, json_type_object)) {
        return body;
    }
    copy = json_object_new_object();
    json_object_object_foreach(body, k, v) {
        if (strcmp(k, "stream_options")) {
            json_object_object_add(copy, k, json_object_get(v));
        }
    }
    json_object_object_add(copy, "stream_options", usage_options(
        llm_json_get(body, "stream_options")));
    llm_json_own(r->pool, copy);
    rq->usage_added = 1;
    return copy;
}

/* The continuation of a cut answer: the client's request (canonical)
 * with the answer delivered so far as a final assistant message, which
 * a prefill-capable provider continues. Anthropic refuses a prefill that
 * ends in white space: it is left out (the continuation may repeat it). */
static json_object *with_prefill(request_rec *r, llm_router_req_t *rq,
                                 const llm_provider_t *pr, llm_error_t *err)
{
    json_object *canon = canonical(r, rq, err);
    json_object *copy;
    json_object *messages;
    json_object *old;
    json_object *assistant;
    apr_size_t len = rq->delivered.len;
    size_t i;

    if (!canon) {
        return NULL;
    }
    copy = json_object_new_object();
    json_object_object_foreach(canon, key, val) {
        if (strcmp(key, "messages")) {
            json_object_object_add(copy, key, json_object_get(val));
        }
    }
    messages = json_object_new_array();
    if (json_object_object_get_ex(canon, "messages", &old)
        && json_object_is_type(old, json_type_array)) {
        for (i = 0; i < json_object_array_length(old); i++) {
            json_object_array_add(messages, json_object_get(
                json_object_array_get_idx(old, i)));
        }
    }
    if (pr->api_type == LLM_API_ANTHROPIC) {
        while (len && apr_isspace(rq->delivered.data[len - 1])) {
            len--;
        }
    }
    rq->held_ws = rq->delivered.data ? rq->delivered.data + len : NULL;
    rq->held_ws_len = rq->delivered.data ? rq->delivered.len - len : 0;
    rq->prefill_len = len;
    if (len) {                  /* nothing delivered: asked again */
        assistant = json_object_new_object();
        json_object_object_add(assistant, "role",
                               json_object_new_string("assistant"));
        json_object_object_add(assistant, "content",
                               json_object_new_string_len(rq->delivered.data,
                                                          (int)len));
        json_object_array_add(messages, assistant);
    }
    json_object_object_add(copy, "messages", messages);
    llm_json_own(r->pool, copy);
    return copy;
}

/* vLLM starts a new assistant turn unless told to continue the last. */
static void ask_to_continue(json_object *out, const llm_provider_t *pr)
{
    if (pr->api_type == LLM_API_VLLM) {
        json_object_object_add(out, "continue_final_message",
                               json_object_new_boolean(1));
        json_object_object_add(out, "add_generation_prompt",
                               json_object_new_boolean(0));
    }
}

/* The body for provider @a pr and its URL, in ctx->body_sent and *url:
 * OK, or -1 when the request cannot be put in its dialect (why in
 * @a err, for the client). */
int llm_router_upstream_request(request_rec *r, llm_router_req_t *rq,
                                const llm_provider_t *pr, const char **url,
                                llm_error_t *err)
{
    llm_req_ctx_t *ctx = &rq->pub;
    json_object *src = ctx->body;
    json_object *fitted;
    json_object *out;
    const char *text;
    apr_size_t len;
    int passthrough = 0;

    rq->provider_wire = llm_wire_for_provider(pr->api_type, ctx->op,
                                              rq->wire);
    *url = llm_upstream_url_for(r->pool, pr, rq->provider_wire, ctx->op);
    rq->usage_added = 0;
    if (rq->builtin_request) {
        src = rq->builtin_request;
    }
    else if (rq->continuing) {
        if (!(src = with_prefill(r, rq, pr, err))) {
            return -1;
        }
    }
    else if (rq->provider_wire != rq->wire
             && !(src = canonical(r, rq, err))) {
        return -1;
    }
    else if (rq->provider_wire == rq->wire) {
        passthrough = 1;
        src = with_usage(r, rq, src);
    }
    /* model_path, tools the provider cannot take, vLLM's field names. */
    fitted = llm_request_for_provider(src, ctx->model, pr, &text, &len);
    llm_json_own(r->pool, fitted);
    if (passthrough) {
        ctx->body_sent = text;
        ctx->body_sent_len = len;
        return OK;
    }
    out = llm_xlate_egress(r->pool, rq->provider_wire, ctx->op, fitted, err);
    if (!out) {
        return -1;
    }
    llm_json_own(r->pool, out);
    llm_xlate_fit_provider(out, pr->api_type);
    if (rq->continuing && rq->prefill_len) {
        ask_to_continue(out, pr);
    }
    if (asks_usage(rq) && !include_usage_of(out)) {
        json_object_object_add(out, "stream_options", usage_options(NULL));
    }
    ctx->body_sent = llm_xlate_json_text(r->pool, out);
    ctx->body_sent_len = strlen(ctx->body_sent);
    return OK;
}

/* ------------------------------------------------------------------ */
/* The answer                                                          */
/* ------------------------------------------------------------------ */

typedef enum {
    XL_UNDECIDED = 0,
    XL_STREAM,          /* the provider streams: decode as it flows */
    XL_WHOLE,           /* the provider's whole JSON answer */
    XL_EMBEDDINGS,      /* an embeddings answer (not events) */
    XL_ERROR,           /* the provider's error body */
    XL_COLLECT,         /* a built-in's call: its text, for the envelope */
    XL_OBSERVE,         /* same dialect: bytes go on as they are, only
                           the usage is read on the way */
    XL_PASS             /* nothing to translate after all */
} xl_mode_e;

typedef struct {
    request_rec *r;
    llm_router_req_t *rq;
    apr_pool_t *pool;
    xl_mode_e mode;
    llm_decoder_t *dec;
    llm_encoder_t *enc;
    apr_bucket_brigade *out;
    const char *span;            /* XL_OBSERVE: a whole answer that came
                                    in one bucket, read in place */
    apr_size_t span_len;
    int parsing;                 /* ... too large to keep: parsed as
                                    it flows, by tok */
    json_tokener *tok;
    json_object *whole;          /* ... once complete */
    llm_buf_t kept;              /* a whole answer, read so far */
    int too_big;
    int started;
    int blocked;                 /* the answer filter refused the answer */
    const char *block_why;
    int text_ended;              /* the answer filter's end ran */
    int finished;                /* the provider said the answer is over
                                    (a finish, an in-band error, its end
                                    marker): a break after it is no cut */
    apr_pool_t *scratch;         /* the answer filter's, per event */
    apr_size_t skipped;          /* malformed events logged so far */
    int strip_usage;             /* XL_OBSERVE: hold back the usage
                                    chunk the client did not ask for */
    llm_sse_split_t split;       /* ... where its events end */
    llm_buf_t held;              /* ... the incomplete event */
    llm_buf_t pass;              /* ... what a bucket keeps of itself */
} xl_ctx_t;

/* The decoder skipped malformed events since the last look (it drops
 * them and goes on, llm_event.h): the error log says so, the request
 * counts them. */
static void note_skipped(xl_ctx_t *x)
{
    apr_size_t n = llm_decoder_skipped(x->dec);

    if (n == x->skipped) {
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, x->r, LLMLOGNO(01050)
                  "%s: provider %s sent a malformed event in its stream "
                  "(%" APR_SIZE_T_FMT " so far); skipped it", x->r->uri,
                  x->rq->pub.attempt ? x->rq->pub.attempt->provider->id
                                     : "?", n);
    x->skipped = n;
    x->rq->skipped_events = n;
    apr_table_setn(x->r->notes, NOTE_SKIPPED,
                   apr_psprintf(x->r->pool, "%" APR_SIZE_T_FMT, n));
}

static void feed(xl_ctx_t *x, const char *data, apr_size_t len,
                 llm_event_fn fn)
{
    llm_decoder_feed(x->dec, data, len, fn, x);
    note_skipped(x);
}

/* The provider's stream is over: the decoder delivers what it held
 * and its end (the end marker it made up after a finish reason, said
 * once in the log, or the error of a cut). */
static void end_stream(xl_ctx_t *x, llm_event_fn fn)
{
    llm_decoder_end(x->dec, fn, x);
    note_skipped(x);
    if (llm_decoder_closed(x->dec)) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, x->r, LLMLOGNO(01051)
                      "%s: the stream of provider %s ended after its "
                      "finish reason without its end marker; the gateway "
                      "ended it", x->r->uri,
                      x->rq->pub.attempt ? x->rq->pub.attempt->provider->id
                                         : "?");
    }
}

static apr_status_t emit(void *baton, const char *buf, apr_size_t len)
{
    xl_ctx_t *x = baton;

    if (len) {
        APR_BRIGADE_INSERT_TAIL(x->out, apr_bucket_heap_create(
            buf, len, NULL, x->out->bucket_alloc));
    }
    return APR_SUCCESS;
}

/* The answer filter said no: the client gets an error instead of the
 * rest (in its dialect, by the encoder), and the request records why. */
static apr_status_t block_answer(xl_ctx_t *x, const char *why)
{
    llm_event_t ev = { 0 };
    llm_req_ctx_t *ctx = &x->rq->pub;

    x->blocked = 1;
    x->block_why = why ? apr_pstrdup(x->pool, why) : "?";
    ctx->answer_guard_verdict = "blocked";
    ctx->answer_guard_reason = x->block_why;
    ctx->error_code = "content_blocked";
    /* For the access log: a stream's status went out already. */
    apr_table_setn(x->r->notes, LLM_NOTE_ERROR, "content_blocked");
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, x->r, LLMLOGNO(01043)
                  "%s: model %s: the answer was blocked by %s", x->r->uri,
                  ctx->model_name, x->block_why);
    ev.type = LLM_EV_ERROR;
    ev.error_type = "content_blocked";
    ev.error_message = apr_psprintf(x->pool, "The answer was blocked by a "
                                    "guardrail (%s).", why ? why : "?");
    return llm_encoder_event(x->enc, &ev, emit, x);
}

static apr_status_t filtered_text(xl_ctx_t *x, const llm_event_t *ev,
                                  const char *text, apr_size_t len)
{
    llm_event_t out = *ev;

    if (!len) {
        return APR_SUCCESS;
    }
    out.type = LLM_EV_TEXT;
    out.text = text;
    out.text_len = len;
    return llm_encoder_event(x->enc, &out, emit, x);
}

/* Text goes through the answer filter; what it held back comes out
 * before whatever ends the text (finish, usage, done, error). */
static apr_status_t filter_event(xl_ctx_t *x, const llm_event_t *ev);

/* The answer filter works in a pool cleared after each event: what it
 * returns is copied into the brigade by the encoder, so a long stream
 * does not grow r->pool with every delta. */
static apr_status_t through_filter(xl_ctx_t *x, const llm_event_t *ev)
{
    apr_status_t rv;

    if (!x->scratch) {
        apr_pool_create(&x->scratch, x->pool);
    }
    rv = filter_event(x, ev);
    apr_pool_clear(x->scratch);
    return rv;
}

static apr_status_t filter_event(xl_ctx_t *x, const llm_event_t *ev)
{
    const llm_answer_filter_t *af = x->rq->pub.answer_filter;
    const char *out = NULL;
    const char *why = NULL;
    apr_size_t len = 0;
    apr_status_t rv;

    if (ev->type == LLM_EV_TEXT) {
        if (af->feed(af->data, x->scratch, ev->text, ev->text_len, &out,
                     &len, &why)) {
            return block_answer(x, why);
        }
        return filtered_text(x, ev, out, len);
    }
    if (!x->text_ended && (ev->type == LLM_EV_FINISH
                           || ev->type == LLM_EV_USAGE
                           || ev->type == LLM_EV_DONE
                           || ev->type == LLM_EV_ERROR)) {
        llm_event_t text = { 0 };

        x->text_ended = 1;
        if (af->end(af->data, x->scratch, &out, &len, &why)) {
            return block_answer(x, why);
        }
        text.type = LLM_EV_TEXT;
        if ((rv = filtered_text(x, &text, out, len)) != APR_SUCCESS) {
            return rv;
        }
    }
    return llm_encoder_event(x->enc, ev, emit, x);
}

/* The longest answer text kept for a continuation's prefill: an answer
 * longer than this that is cut ends in its error, not in a copy of it
 * per continuation attempt. */
#define DELIVERED_MAX (1024 * 1024)

/* A continuable stream: what the client has of the answer, for the
 * prefill of a continuation; and whether the provider ended it. */
static void note_delivered(xl_ctx_t *x, const llm_event_t *ev)
{
    switch (ev->type) {
    case LLM_EV_TEXT:
        if (x->rq->delivered.len + ev->text_len > DELIVERED_MAX) {
            /* Past what a prefill may carry: a cut ends this one. */
            x->rq->delivered_other = 1;
            break;
        }
        llm_buf_add(&x->rq->delivered, ev->text, ev->text_len);
        break;
    case LLM_EV_TOOL_CALL:
        x->rq->delivered_other = 1;
        break;
    case LLM_EV_FINISH:
    case LLM_EV_ERROR:
    case LLM_EV_DONE:
        x->finished = 1;
        break;
    default:
        break;
    }
}

/* The white space a continuation repeats of what the prefill left out
 * (the client has it already) is taken off the front of its text. */
static void drop_repeated_ws(llm_router_req_t *rq, llm_event_t *ev)
{
    apr_size_t k = 0;

    while (k < ev->text_len && k < rq->held_ws_len
           && ev->text[k] == rq->held_ws[k]) {
        k++;
    }
    ev->text += k;
    ev->text_len -= k;
    rq->held_ws += k;
    rq->held_ws_len = ev->text_len ? 0 : rq->held_ws_len - k;
}

/* The answer's end marker (or its error): from here on, the client gets
 * only its end (mod_llm.h, answer_ending). Not at a finish reason: with
 * several choices (n > 1) the first one's finish comes while the others
 * still flow. */
static void note_ending(xl_ctx_t *x, const llm_event_t *ev)
{
    if (ev->type == LLM_EV_DONE || ev->type == LLM_EV_ERROR) {
        x->rq->pub.answer_ending = 1;
    }
}

static apr_status_t to_encoder(void *baton, const llm_event_t *ev)
{
    xl_ctx_t *x = baton;
    llm_event_t cont;

    note_ending(x, ev);
    if (x->blocked) {
        return APR_SUCCESS;         /* nothing more after a block */
    }
    if (x->rq->continuable) {
        if (x->rq->continuing && (ev->type == LLM_EV_START
                                  || ev->type == LLM_EV_REASONING)) {
            /* The client's stream began already, and its reasoning came
             * before the answer it continues. */
            return APR_SUCCESS;
        }
        if (x->rq->continuing && ev->type == LLM_EV_TEXT
            && x->rq->held_ws_len) {
            cont = *ev;
            drop_repeated_ws(x->rq, &cont);
            if (!cont.text_len) {
                return APR_SUCCESS;
            }
            ev = &cont;
        }
        note_delivered(x, ev);
    }
    if (x->rq->pub.answer_filter) {
        return through_filter(x, ev);
    }
    return llm_encoder_event(x->enc, ev, emit, x);
}

static int is_streamed(const char *content_type)
{
    return content_type
           && (!strncasecmp(content_type, "text/event-stream", 17)
               || !strncasecmp(content_type, "application/x-ndjson", 20));
}

static void start_encoder(request_rec *r, xl_ctx_t *x, int stream)
{
    llm_encode_opts_t o = { 0 };
    llm_req_ctx_t *ctx = &x->rq->pub;

    /* The model that answered: a fallback model names itself. */
    o.model = ctx->model ? ctx->model->name : ctx->model_name;
    o.include_usage = x->rq->include_usage;
    x->enc = llm_encoder_create(r->pool, x->rq->wire, stream, &o);
    if (x->rq->continuable) {
        x->rq->enc = x->enc;        /* a continuation goes on with it */
    }
}

/* What the client gets instead of the provider's headers. */
static void client_headers(request_rec *r, const char *content_type,
                           int stream)
{
    apr_table_unset(r->headers_out, "Content-Length");
    apr_table_unset(r->headers_out, "Content-Encoding");
    apr_table_unset(r->headers_out, "ETag");
    r->clength = 0;
    ap_set_content_type(r, content_type);
    if (stream) {
        apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
        apr_table_setn(r->headers_out, "X-Accel-Buffering", "no");
    }
}

/* A request that ends before its answer's JSON did returns the tokener
 * too (the thread's spare, see llm_json_tokener_take). */
static apr_status_t give_tokener(void *baton)
{
    xl_ctx_t *x = baton;

    llm_json_tokener_give(x->tok);
    x->tok = NULL;
    return APR_SUCCESS;
}

static void decide_observe(request_rec *r, xl_ctx_t *x)
{
    if (r->status >= 400) {
        x->mode = XL_PASS;
    }
    else if (is_streamed(r->content_type)) {
        x->dec = llm_decoder_create(r->pool, x->rq->provider_wire,
                                    LLM_EVENT_MAX_DEFAULT);
        x->strip_usage = x->rq->usage_added
                         && !strncasecmp(r->content_type,
                                         "text/event-stream", 17);
    }
}

static void decide(request_rec *r, xl_ctx_t *x)
{
    llm_router_req_t *rq = x->rq;
    int stream = rq->pub.stream;

    if (x->mode == XL_OBSERVE) {
        decide_observe(r, x);
        return;
    }
    if (rq->continuing) {
        /* The client's stream is open: the continuation's events go on
         * in it, through the same encoder (its status and headers went
         * out with the first attempt). */
        x->mode = XL_STREAM;
        x->dec = llm_decoder_create(r->pool, rq->provider_wire,
                                    LLM_EVENT_MAX_DEFAULT);
        x->enc = rq->enc;
        return;
    }
    if (rq->collect) {
        x->mode = XL_COLLECT;
        if (is_streamed(r->content_type)) {
            x->dec = llm_decoder_create(r->pool, rq->provider_wire,
                                        LLM_EVENT_MAX_DEFAULT);
        }
        return;
    }
    if (r->status >= 400) {
        x->mode = XL_ERROR;
        client_headers(r, "application/json", 0);
        return;
    }
    if (rq->pub.op == LLM_OP_EMBEDDINGS) {
        x->mode = XL_EMBEDDINGS;
        client_headers(r, llm_wire_content_type(rq->wire, 0), 0);
        return;
    }
    x->mode = is_streamed(r->content_type) ? XL_STREAM : XL_WHOLE;
    if (x->mode == XL_STREAM) {
        x->dec = llm_decoder_create(r->pool, rq->provider_wire,
                                    LLM_EVENT_MAX_DEFAULT);
    }
    start_encoder(r, x, stream);
    client_headers(r, llm_wire_content_type(rq->wire, stream), stream);
}

static void keep(xl_ctx_t *x, const char *data, apr_size_t len)
{
    if (x->too_big || x->kept.len + len > WHOLE_MAX) {
        x->too_big = 1;
        return;
    }
    if (!x->kept.cap) {
        llm_buf_reserve(&x->kept, WHOLE_FIRST);
    }
    llm_buf_add(&x->kept, data, len);
}

/* The provider's error, in the client's dialect, with its status. */
static void finish_error(request_rec *r, xl_ctx_t *x)
{
    const char *msg = x->kept.len ? llm_error_message_of(r->pool,
                                                         x->kept.data,
                                                         x->kept.len)
                                  : NULL;
    const char *body;

    if (!msg) {
        msg = apr_psprintf(r->pool, "The provider answered %d.", r->status);
    }
    x->rq->pub.error_code = "upstream_error";
    x->rq->pub.error_message = msg;
    body = llm_error_json_for(r->pool, x->rq->wire, r->status,
                              "upstream_error", msg);
    emit(x, body, strlen(body));
}

static void finish_embeddings(request_rec *r, xl_ctx_t *x)
{
    llm_router_req_t *rq = x->rq;
    json_object *o = x->too_big ? NULL
                     : llm_json_parse(x->kept.data, x->kept.len);
    const char *body = NULL;

    if (o) {
        body = llm_embeddings_response_ex(r->pool, rq->provider_wire,
                                          rq->wire, o, rq->pub.model
                                          ? rq->pub.model->name
                                          : rq->pub.model_name,
                                          rq->encoding_format,
                                          &rq->pub.usage);
        json_object_put(o);
    }
    if (!body) {
        body = llm_error_json_for(r->pool, rq->wire, HTTP_BAD_GATEWAY,
                                  "bad_upstream_answer",
                                  "The provider's embeddings answer could "
                                  "not be read.");
    }
    emit(x, body, strlen(body));
}

static void finish_whole(request_rec *r, xl_ctx_t *x)
{
    if (x->too_big) {
        llm_event_t ev = { 0 };

        ev.type = LLM_EV_ERROR;
        ev.error_type = "bad_upstream_answer";
        ev.error_message = "The provider's answer is too large.";
        to_encoder(x, &ev);
    }
    else {
        llm_decode_body(r->pool, x->rq->provider_wire, x->kept.data,
                        x->kept.len, to_encoder, x);
    }
}

static apr_status_t usage_event(void *baton, const llm_event_t *ev)
{
    xl_ctx_t *x = baton;

    note_ending(x, ev);
    if (ev->type == LLM_EV_USAGE) {
        x->rq->pub.usage = ev->usage;
    }
    return APR_SUCCESS;
}

/* A large whole answer, parsed as its buckets pass: no copy of it is
 * made. */
static void observe_whole(xl_ctx_t *x, const char *data, apr_size_t len)
{
    if (!x->tok || x->whole || !len) {
        return;
    }
    x->whole = llm_json_parse_ex(x->tok, data, len);
    if (x->whole) {
        llm_json_own(x->pool, x->whole);
    }
    if (x->whole || json_tokener_get_error(x->tok) != json_tokener_continue) {
        /* Done, or not JSON (nothing to learn): the tokener is free. */
        llm_json_tokener_give(x->tok);
        x->tok = NULL;
    }
}

/* Bytes of a whole answer passing unchanged: @a e is their bucket. */
static void observe_data(xl_ctx_t *x, apr_bucket_brigade *bb, apr_bucket *e,
                         const char *data, apr_size_t len)
{
    apr_bucket *next = APR_BUCKET_NEXT(e);

    if (x->parsing) {
        observe_whole(x, data, len);
    }
    else if (!x->kept.len && !x->span && next != APR_BRIGADE_SENTINEL(bb)
             && APR_BUCKET_IS_EOS(next)) {
        x->span = data;         /* all of it, alive until the EOS */
        x->span_len = len;
    }
    else if (x->span || x->kept.len + len > OBSERVE_KEEP_MAX) {
        /* Too large to keep (or a bucket after the one read in place,
         * which an EOS follows: never): parse as it flows from here. */
        x->parsing = 1;
        x->tok = llm_json_tokener_take();
        apr_pool_cleanup_register(x->pool, x, give_tokener,
                                  apr_pool_cleanup_null);
        observe_whole(x, x->span ? x->span : x->kept.data,
                      x->span ? x->span_len : x->kept.len);
        observe_whole(x, data, len);
    }
    else {
        keep(x, data, len);
    }
}

static void finish_observe(request_rec *r, xl_ctx_t *x)
{
    if (x->dec) {
        end_stream(x, usage_event);
    }
    else if (x->whole) {
        llm_decode_object(r->pool, x->rq->provider_wire, x->whole,
                          usage_event, x);
    }
    else if (!x->parsing && (x->span || x->kept.len)) {
        llm_answer_usage(r->pool, x->rq->provider_wire,
                         x->span ? x->span : x->kept.data,
                         x->span ? x->span_len : x->kept.len,
                         &x->rq->pub.usage);
    }
}

/* A built-in's call: the answer's text, or why there is none. */
static apr_status_t collect_event(void *baton, const llm_event_t *ev)
{
    xl_ctx_t *x = baton;
    llm_router_req_t *rq = x->rq;

    switch (ev->type) {
    case LLM_EV_TEXT:
        /* With its length: a text may hold NUL (a JSON "\u0000"). */
        if (!rq->collected.pool) {
            llm_buf_init(&rq->collected, x->pool);
        }
        llm_buf_add(&rq->collected, ev->text, ev->text_len);
        rq->has_collected = 1;
        break;
    case LLM_EV_USAGE:
        rq->pub.usage = ev->usage;
        break;
    case LLM_EV_ERROR:
        rq->collect_status = HTTP_BAD_GATEWAY;
        rq->collect_error = apr_pstrdup(x->pool, ev->error_message
                                        ? ev->error_message
                                        : "The provider's answer is broken.");
        break;
    default:
        break;
    }
    return APR_SUCCESS;
}

static void finish_collect(request_rec *r, xl_ctx_t *x)
{
    llm_router_req_t *rq = x->rq;

    if (r->status >= 400) {
        const char *msg = x->kept.len ? llm_error_message_of(r->pool,
                                                             x->kept.data,
                                                             x->kept.len)
                                      : NULL;

        rq->collect_status = r->status;
        rq->collect_error = msg ? msg : apr_psprintf(r->pool,
            "The provider answered %d.", r->status);
        return;
    }
    if (x->dec) {
        end_stream(x, collect_event);
    }
    else {
        llm_decode_body(r->pool, rq->provider_wire, x->kept.data,
                        x->kept.len, collect_event, x);
    }
}

/* A whole answer the answer filter refused: nothing went out yet, so
 * it becomes an error answer in the client's shape, with its status. */
static void answer_blocked(request_rec *r, xl_ctx_t *x)
{
    const char *msg = apr_psprintf(r->pool, "The answer was blocked by a "
                                   "guardrail (%s).", x->block_why);
    const char *body = llm_error_json_for(r->pool, x->rq->wire,
                                          HTTP_FORBIDDEN, "content_blocked",
                                          msg);

    r->status = HTTP_FORBIDDEN;
    r->status_line = NULL;
    apr_brigade_cleanup(x->out);
    emit(x, body, strlen(body));
    llm_router_note_error(r, x->rq, HTTP_FORBIDDEN, "content_blocked", msg);
}

/* The provider's answer is over (EOS, or a broken connection). */
static void finish(request_rec *r, xl_ctx_t *x)
{
    switch (x->mode) {
    case XL_COLLECT:
        finish_collect(r, x);
        return;
    case XL_OBSERVE:
        finish_observe(r, x);
        return;
    case XL_ERROR:
        finish_error(r, x);
        return;
    case XL_EMBEDDINGS:
        finish_embeddings(r, x);
        return;
    case XL_STREAM:
        end_stream(x, to_encoder);
        break;
    case XL_WHOLE:
        finish_whole(r, x);
        if (x->blocked) {
            answer_blocked(r, x);
            return;
        }
        break;
    default:
        return;
    }
    llm_encoder_end(x->enc, emit, x);
    x->rq->pub.usage = *llm_encoder_usage(x->enc);
    if (llm_encoder_failed(x->enc)) {
        x->rq->answer_broke = 1;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(01041)
                      "%s: the answer of provider %s ended badly; the "
                      "client got an error in its dialect", r->uri,
                      x->rq->pub.attempt ? x->rq->pub.attempt->provider->id
                                         : "?");
    }
}

static void take_data(xl_ctx_t *x, const char *data, apr_size_t len)
{
    if (x->mode == XL_STREAM) {
        feed(x, data, len, to_encoder);
    }
    else if (x->mode == XL_COLLECT && x->dec) {
        feed(x, data, len, collect_event);
    }
    else {
        keep(x, data, len);
    }
}

static void insert_copy(apr_bucket *before, const char *data,
                        apr_size_t len)
{
    if (len) {
        APR_BUCKET_INSERT_BEFORE(before, apr_bucket_heap_create(
            data, len, NULL, before->list));
    }
}

/* The bytes of bucket @a e, whose events pass on unchanged but the
 * usage chunk: the bucket goes as it is when it holds whole events
 * only, all kept (the usual case); else what it keeps is copied before
 * it, an incomplete event held, and the bucket deleted. Returns the
 * bucket to go on from. */
static apr_bucket *strip_data(xl_ctx_t *x, apr_bucket *e, const char *data,
                              apr_size_t len)
{
    apr_bucket *next = APR_BUCKET_NEXT(e);
    apr_size_t off = 0, n;
    int whole = !x->held.len;

    x->pass.len = 0;
    while ((n = llm_sse_split_next(&x->split, data + off, len - off))) {
        const char *ev = data + off;
        apr_size_t evlen = n;

        if (x->held.len) {
            llm_buf_add(&x->held, ev, n);
            ev = x->held.data;
            evlen = x->held.len;
        }
        if (!llm_sse_usage_only(ev, evlen)) {
            if (!whole || ev != data + off) {
                llm_buf_add(&x->pass, ev, evlen);
            }
        }
        else if (whole) {
            whole = 0;
            llm_buf_add(&x->pass, data, off);     /* kept before it */
        }
        x->held.len = 0;
        off += n;
    }
    if (off < len) {
        if (whole) {
            whole = 0;
            llm_buf_add(&x->pass, data, off);
        }
        llm_buf_add(&x->held, data + off, len - off);
        if (x->held.len > LLM_EVENT_MAX_DEFAULT) {
            /* No event is that large: pass on as is from here. */
            llm_buf_add(&x->pass, x->held.data, x->held.len);
            x->held.len = 0;
            x->strip_usage = 0;
        }
    }
    if (!whole) {
        insert_copy(e, x->pass.data, x->pass.len);
        apr_bucket_delete(e);
    }
    return next;
}

/* The provider's stream ended (EOS): an event held back goes before it,
 * and the end marker the provider left out after its finish reason
 * (llm_decoder_closed), as a translated stream gets it. */
static void observe_end(xl_ctx_t *x, apr_bucket *eos)
{
    const char *marker;

    insert_copy(eos, x->held.data, x->held.len);
    x->held.len = 0;
    if (x->dec && llm_decoder_closed(x->dec)
        && (marker = llm_wire_end_marker(x->rq->provider_wire)) != NULL) {
        APR_BUCKET_INSERT_BEFORE(eos, apr_bucket_immortal_create(
            marker, strlen(marker), eos->list));
    }
    else if (x->dec && !llm_decoder_complete(x->dec)) {
        /* Ended cleanly before its finish reason: a cut all the same,
         * and the client is told so, as when the connection breaks. */
        marker = llm_wire_stream_error(x->rq->provider_wire);
        APR_BUCKET_INSERT_BEFORE(eos, apr_bucket_immortal_create(
            marker, strlen(marker), eos->list));
        x->rq->answer_broke = 1;
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, LLMLOGNO(01052)
                      "%s: provider %s ended its stream before its finish "
                      "reason", x->r->uri, x->rq->pub.attempt
                      ? x->rq->pub.attempt->provider->id : "?");
    }
}

/* The same dialect on both sides: read, never change or hold (but the
 * usage chunk the gateway asked for, and the end marker of a stream
 * that ended after its finish without it). */
static apr_status_t observe(ap_filter_t *f, xl_ctx_t *x,
                            apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); ) {
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(e) || AP_BUCKET_IS_ERROR(e)) {
            finish(f->r, x);
            if (APR_BUCKET_IS_EOS(e)) {
                observe_end(x, e);
            }
            else {
                /* mod_proxy's word that the provider broke off after
                 * the answer began (a reset, or a close mid-body). */
                x->rq->answer_broke = 1;
            }
            x->mode = XL_PASS;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)
            || apr_bucket_read(e, &data, &len, APR_BLOCK_READ)
               != APR_SUCCESS) {
            e = APR_BUCKET_NEXT(e);
            continue;
        }
        if (x->dec) {
            feed(x, data, len, usage_event);
        }
        else {
            observe_data(x, bb, e, data, len);
        }
        e = x->strip_usage ? strip_data(x, e, data, len) : APR_BUCKET_NEXT(e);
    }
    return ap_pass_brigade(f->next, bb);
}

/* The provider's answer is over (EOS, or an error bucket when it broke
 * off): the encoder ends the client's answer, with an error event if it
 * is cut, and the rest of @a bb (from @a e) goes after it. */
/* A continuable stream the provider broke before its finish: nothing of
 * its end reaches the client (no error event, no end marker, and not
 * mod_proxy's error bucket and EOS), so that a continuation can go on in
 * the same stream; llm_router_end_cut_stream() ends it if none can. */
static int cut_to_continue(const xl_ctx_t *x)
{
    return x->mode == XL_STREAM && x->rq->continuable
           && !x->rq->delivered_other && !x->finished && !x->blocked
           && x->dec && !llm_decoder_complete(x->dec);
}

static apr_status_t at_end(ap_filter_t *f, xl_ctx_t *x,
                           apr_bucket_brigade *bb, apr_bucket *e)
{
    apr_status_t rv;

    if (cut_to_continue(x)) {
        x->rq->cut = 1;
        apr_brigade_cleanup(bb);
        APR_BRIGADE_INSERT_TAIL(x->out, apr_bucket_flush_create(
            f->c->bucket_alloc));
        rv = ap_pass_brigade(f->next, x->out);
        apr_brigade_cleanup(x->out);
        return rv;
    }
    finish(f->r, x);
    if (x->mode == XL_COLLECT) {
        /* Nothing of a built-in's call goes to the client: the handler
         * answers once every call is done. */
        apr_brigade_cleanup(bb);
        return APR_SUCCESS;
    }
    APR_BUCKET_REMOVE(e);
    APR_BRIGADE_INSERT_TAIL(x->out, e);
    APR_BRIGADE_CONCAT(x->out, bb);
    return ap_pass_brigade(f->next, x->out);
}

/* Read and translate @a bb; what was translated waits in x->out. Stops
 * at the answer's end (*ended set) or at an error. */
static apr_status_t translate(ap_filter_t *f, xl_ctx_t *x,
                              apr_bucket_brigade *bb, int *ended)
{
    apr_status_t rv;

    while (!APR_BRIGADE_EMPTY(bb)) {
        apr_bucket *e = APR_BRIGADE_FIRST(bb);
        const char *data;
        apr_size_t len;

        if (APR_BUCKET_IS_EOS(e) || AP_BUCKET_IS_ERROR(e)) {
            *ended = 1;
            return at_end(f, x, bb, e);
        }
        if (APR_BUCKET_IS_FLUSH(e) && x->mode != XL_COLLECT) {
            APR_BUCKET_REMOVE(e);
            APR_BRIGADE_INSERT_TAIL(x->out, e);
            if ((rv = ap_pass_brigade(f->next, x->out)) != APR_SUCCESS) {
                return rv;
            }
            apr_brigade_cleanup(x->out);
            continue;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            apr_bucket_delete(e);
            continue;
        }
        rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        take_data(x, data, len);
        apr_bucket_delete(e);
    }
    return APR_SUCCESS;
}

apr_status_t llm_xlate_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    xl_ctx_t *x = f->ctx;
    apr_status_t rv;
    int ended = 0;

    if (x->mode == XL_UNDECIDED || (x->mode == XL_OBSERVE && !x->started)) {
        if (APR_BRIGADE_EMPTY(bb)) {
            return APR_SUCCESS;
        }
        x->started = 1;
        decide(r, x);
        x->out = apr_brigade_create(r->pool, f->c->bucket_alloc);
    }
    if (x->mode == XL_PASS) {
        return ap_pass_brigade(f->next, bb);
    }
    if (x->mode == XL_OBSERVE) {
        return observe(f, x, bb);
    }
    rv = translate(f, x, bb, &ended);
    if (ended || rv != APR_SUCCESS) {
        return rv;
    }
    /* What was translated goes at once: no waiting for more input. */
    if (x->mode == XL_STREAM && !APR_BRIGADE_EMPTY(x->out)) {
        APR_BRIGADE_INSERT_TAIL(x->out, apr_bucket_flush_create(
            f->c->bucket_alloc));
        rv = ap_pass_brigade(f->next, x->out);
        apr_brigade_cleanup(x->out);
    }
    return rv;
}

static apr_status_t emit_to_brigade(void *baton, const char *buf,
                                    apr_size_t len)
{
    apr_bucket_brigade *bb = baton;

    return apr_brigade_write(bb, NULL, NULL, buf, len);
}

void llm_router_end_cut_stream(request_rec *r, llm_router_req_t *rq)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool,
                                                r->connection->bucket_alloc);
    llm_event_t ev = { 0 };

    ev.type = LLM_EV_ERROR;
    ev.error_type = "stream_interrupted";
    ev.error_message = "The provider's stream was interrupted and could "
                       "not be continued.";
    if (rq->enc) {
        llm_encoder_event(rq->enc, &ev, emit_to_brigade, bb);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(bb->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
}

ap_filter_t *llm_router_add_xlate(request_rec *r, llm_router_req_t *rq)
{
    xl_ctx_t *x = apr_pcalloc(r->pool, sizeof(*x));
    /* With an answer filter the answer's text must be read as text:
     * even the client's own dialect is decoded and encoded again. */
    int same = rq->provider_wire == rq->wire && !rq->builtin_request
               && !rq->continuable
               && (!rq->pub.answer_filter || rq->pub.op == LLM_OP_EMBEDDINGS);

    if (same && rq->pub.op == LLM_OP_EMBEDDINGS) {
        return NULL;
    }
    x->r = r;
    x->rq = rq;
    x->pool = r->pool;
    llm_buf_init(&x->kept, r->pool);
    llm_buf_init(&x->held, r->pool);
    llm_buf_init(&x->pass, r->pool);
    x->mode = same ? XL_OBSERVE : XL_UNDECIDED;
    rq->translating = !same;
    return ap_add_output_filter(LLM_XLATE_FILTER, x, r, r->connection);
}
