/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 * WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 * License for the specific language governing permissions and limitations
 * under the License.
 *
 * Copyright The mod_llm authors.
 */

/*
 * mock_anthropic.c: Anthropic's Messages API (POST /v1/messages) as
 * api.anthropic.com answers it: the checks it makes first (x-api-key when
 * require_key= asks for one, the anthropic-version header, max_tokens),
 * a "request-id: req_..." header on every answer, the message object,
 * and the stream of named SSE events (message_start, content_block_*,
 * ping, message_delta, message_stop, error), "type" first in each.
 */

#include <string.h>

#include "mock.h"

#define jadd    mock_jadd
#define jstr    mock_jstr
#define jint    mock_jint
#define member  mock_member

#define ANTHROPIC_JSON          "application/json"
#define ANTHROPIC_SSE           "text/event-stream; charset=utf-8"
#define ANTHROPIC_ID_LEN        22
#define ANTHROPIC_NOTE_ID       "llm-mock-request-id"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* One id a request, in the header and in error bodies. */
static const char *request_id(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    const char *id = apr_table_get(r->notes, ANTHROPIC_NOTE_ID);

    if (!id) {
        id = mock_random_b62(r->pool, "req_01", ANTHROPIC_ID_LEN);
        apr_table_setn(r->notes, ANTHROPIC_NOTE_ID, id);
        apr_table_setn(r->headers_out, "request-id", id);
    }
    return id;
}

static json_object *error_object(const char *type, const char *message)
{
    json_object *o = json_object_new_object();
    json_object *err = json_object_new_object();

    jadd(o, "type", jstr("error"));
    jadd(err, "type", jstr(type));
    jadd(err, "message", jstr(message));
    jadd(o, "error", err);
    return o;
}

static int send_error(mock_ctx *ctx, int status, const char *type,
                      const char *message)
{
    json_object *o = error_object(type, message);

    jadd(o, "request_id", jstr(request_id(ctx)));
    return mock_send_json_as(ctx->r, status, o, ANTHROPIC_JSON);
}

static const char *error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default:  return status < 500 ? "invalid_request_error" : "api_error";
    }
}

static const char *error_message(mock_ctx *ctx, int status)
{
    if (ctx->opts.error_message) {
        return ctx->opts.error_message;
    }
    switch (status) {
    case 400:
        return "Invalid request (fault injected by the mock upstream).";
    case 401:
        return "invalid x-api-key";
    case 402:
        return "Your credit balance is too low to access the Anthropic "
               "API. Please go to Plans & Billing to upgrade or purchase "
               "credits.";
    case 403:
        return "Your API key does not have permission to use the specified "
               "resource.";
    case 404:
        return apr_pstrcat(ctx->r->pool, "model: ", mock_model_of_body(ctx),
                           NULL);
    case 413:
        return "Request exceeds the maximum allowed number of bytes.";
    case 429:
        return "Number of request tokens has exceeded your per-minute rate "
               "limit (https://docs.anthropic.com/en/api/rate-limits); see "
               "the response headers for current usage. Please reduce the "
               "prompt length or the maximum tokens requested, or try "
               "again later. You may also contact sales at "
               "https://www.anthropic.com/contact-sales to discuss your "
               "options for a rate limit increase.";
    case 500:
        return "Internal server error";
    case 504:
        return "Request timed out";
    case 529:
        return "Overloaded";
    default:
        return apr_psprintf(ctx->r->pool, "Mock upstream error (HTTP %d).",
                            status);
    }
}

int mock_anthropic_fault(mock_ctx *ctx)
{
    int status = (int)ctx->opts.status;

    if (ctx->opts.retry_after) {
        apr_table_setn(ctx->r->headers_out, "Retry-After",
                       ctx->opts.retry_after);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, "LLMMOCK004: "
                  "answering with forced status %d (Anthropic)", status);
    return send_error(ctx, status, error_type(status),
                      error_message(ctx, status));
}

/* The key first (when require_key= wants one), then the version. */
int mock_anthropic_check_headers(mock_ctx *ctx)
{
    const char *key = apr_table_get(ctx->r->headers_in, "x-api-key");

    if (ctx->opts.require_key) {
        if (!key) {
            return send_error(ctx, HTTP_UNAUTHORIZED, "authentication_error",
                              "x-api-key header is required");
        }
        if (strcmp(key, ctx->opts.require_key)) {
            return send_error(ctx, HTTP_UNAUTHORIZED, "authentication_error",
                              "invalid x-api-key");
        }
    }
    if (!apr_table_get(ctx->r->headers_in, "anthropic-version")) {
        return send_error(ctx, HTTP_BAD_REQUEST, "invalid_request_error",
                          "anthropic-version: header is required");
    }
    return DECLINED;
}

int mock_anthropic_method_error(mock_ctx *ctx)
{
    return send_error(ctx, HTTP_METHOD_NOT_ALLOWED, "invalid_request_error",
                      "Method Not Allowed");
}

int mock_anthropic_bad_json(mock_ctx *ctx)
{
    return send_error(ctx, HTTP_BAD_REQUEST, "invalid_request_error",
                      "There was an issue with the format or content of "
                      "your request.");
}

/* ------------------------------------------------------------------ */
/* The message                                                         */
/* ------------------------------------------------------------------ */

typedef struct {
    mock_ctx *ctx;
    const char *id;
    const char *model;
    const char **pieces;        /* of the text, or of the tool input */
    int npieces;
    const char **think_pieces;
    int nthink;
    const char *signature;      /* of the thinking block */
    json_object *tool_input;    /* set: the answer is a tool_use block */
    const char *tool_id;
    apr_int64_t input_tokens;
} anthropic_reply;

static apr_int64_t output_tokens(const anthropic_reply *rp)
{
    return rp->npieces + rp->nthink;
}

static const char *stop_reason(const anthropic_reply *rp)
{
    return rp->tool_input ? "tool_use" : "end_turn";
}

static json_object *usage(const anthropic_reply *rp, apr_int64_t out)
{
    json_object *u = json_object_new_object();

    jadd(u, "input_tokens", jint(rp->input_tokens));
    jadd(u, "cache_creation_input_tokens", jint(0));
    jadd(u, "cache_read_input_tokens", jint(0));
    jadd(u, "output_tokens", jint(out));
    return u;
}

static json_object *thinking_block(const char *thinking,
                                   const char *signature)
{
    json_object *b = json_object_new_object();

    jadd(b, "type", jstr("thinking"));
    jadd(b, "thinking", jstr(thinking));
    jadd(b, "signature", jstr(signature));
    return b;
}

static json_object *text_block(const char *text)
{
    json_object *b = json_object_new_object();

    jadd(b, "type", jstr("text"));
    jadd(b, "text", jstr(text));
    return b;
}

static json_object *tool_block(const anthropic_reply *rp, json_object *input)
{
    json_object *b = json_object_new_object();

    jadd(b, "type", jstr("tool_use"));
    jadd(b, "id", jstr(rp->tool_id));
    jadd(b, "name", jstr(rp->ctx->opts.tool));
    jadd(b, "input", input);
    return b;
}

/* The message object; "done" 0 gives the one message_start carries. */
static json_object *message_object(const anthropic_reply *rp, int done)
{
    json_object *o = json_object_new_object();
    json_object *content = json_object_new_array();
    mock_opts *opts = &rp->ctx->opts;

    jadd(o, "id", jstr(rp->id));
    jadd(o, "type", jstr("message"));
    jadd(o, "role", jstr("assistant"));
    jadd(o, "model", jstr(rp->model));
    if (done && opts->think) {
        json_object_array_add(content, thinking_block(opts->think,
                                                      rp->signature));
    }
    if (done) {
        json_object_array_add(content, rp->tool_input
                              ? tool_block(rp, json_object_get(
                                               rp->tool_input))
                              : text_block(opts->content));
    }
    jadd(o, "content", content);
    jadd(o, "stop_reason", done ? jstr(stop_reason(rp)) : NULL);
    jadd(o, "stop_sequence", NULL);
    jadd(o, "usage", usage(rp, done ? output_tokens(rp) : 1));
    return o;
}

/* ------------------------------------------------------------------ */
/* The stream                                                          */
/* ------------------------------------------------------------------ */

static json_object *event(const char *type)
{
    json_object *o = json_object_new_object();

    jadd(o, "type", jstr(type));
    return o;
}

static json_object *block_event(const char *type, int index)
{
    json_object *o = event(type);

    jadd(o, "index", jint(index));
    return o;
}

static void send_block_start(mock_stream *st, int index, json_object *block)
{
    json_object *o = block_event("content_block_start", index);

    jadd(o, "content_block", block);
    mock_stream_send(st, "content_block_start", o);
    /* The API sends its first ping right after the first block opens. */
    if (index == 0 && !st->done) {
        mock_stream_write(st, "ping", "{\"type\": \"ping\"}");
    }
}

static json_object *delta_event(int index, const char *type,
                                const char *key, const char *value)
{
    json_object *o = block_event("content_block_delta", index);
    json_object *d = event(type);

    jadd(d, key, jstr(value));
    jadd(o, "delta", d);
    return o;
}

static void send_block_stop(mock_stream *st, int index)
{
    mock_stream_send(st, "content_block_stop",
                     block_event("content_block_stop", index));
}

static int messages_stream(mock_ctx *ctx, const anthropic_reply *rp)
{
    json_object *o, *d, *u;
    mock_stream st;
    int i, index = 0;

    mock_stream_begin(ctx, &st, ANTHROPIC_SSE, MOCK_FRAME_SSE);
    o = event("message_start");
    jadd(o, "message", message_object(rp, 0));
    mock_stream_send(&st, "message_start", o);
    if (ctx->opts.think) {
        send_block_start(&st, index, thinking_block("", ""));
        for (i = 0; i < rp->nthink; i++) {
            mock_stream_piece(&st, "content_block_delta", delta_event(
                                  index, "thinking_delta", "thinking",
                                  rp->think_pieces[i]));
        }
        mock_stream_send(&st, "content_block_delta", delta_event(
                             index, "signature_delta", "signature",
                             rp->signature));
        send_block_stop(&st, index++);
    }
    if (rp->tool_input) {
        send_block_start(&st, index, tool_block(rp,
                                                json_object_new_object()));
        mock_stream_send(&st, "content_block_delta", delta_event(
                             index, "input_json_delta", "partial_json", ""));
    }
    else {
        send_block_start(&st, index, text_block(""));
    }
    for (i = 0; i < rp->npieces; i++) {
        mock_stream_piece(&st, "content_block_delta",
                          rp->tool_input
                          ? delta_event(index, "input_json_delta",
                                        "partial_json", rp->pieces[i])
                          : delta_event(index, "text_delta", "text",
                                        rp->pieces[i]));
    }
    mock_stream_check_drop(&st);
    if (ctx->opts.stream_error) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ctx->r, "LLMMOCK013: "
                      "ending the stream with an in-band error");
        mock_stream_send(&st, "error", error_object("overloaded_error",
                                                    "Overloaded"));
        return OK;
    }
    send_block_stop(&st, index);
    o = event("message_delta");
    d = json_object_new_object();
    jadd(d, "stop_reason", jstr(stop_reason(rp)));
    jadd(d, "stop_sequence", NULL);
    jadd(o, "delta", d);
    u = json_object_new_object();
    jadd(u, "output_tokens", jint(output_tokens(rp)));
    jadd(o, "usage", u);
    mock_stream_send(&st, "message_delta", o);
    if (!ctx->opts.no_done) {
        mock_stream_send(&st, "message_stop", event("message_stop"));
    }
    return OK;
}

/* ------------------------------------------------------------------ */
/* POST /v1/messages                                                   */
/* ------------------------------------------------------------------ */

static apr_status_t release_json(void *o)
{
    json_object_put(o);
    return APR_SUCCESS;
}

static const char *missing_field(json_object *req)
{
    if (!member(req, "model")) {
        return "model: Field required";
    }
    if (!member(req, "messages")) {
        return "messages: Field required";
    }
    if (!member(req, "max_tokens")) {
        return "max_tokens: Field required";
    }
    return NULL;
}

int mock_anthropic_messages(mock_ctx *ctx, json_object *req)
{
    apr_pool_t *p = ctx->r->pool;
    const char *missing = missing_field(req);
    anthropic_reply rp;
    const char *args;

    request_id(ctx);
    if (missing) {
        return send_error(ctx, HTTP_BAD_REQUEST, "invalid_request_error",
                          missing);
    }
    memset(&rp, 0, sizeof(rp));
    rp.ctx = ctx;
    rp.model = mock_string_member(req, "model", MOCK_DEFAULT_MODEL);
    if (!mock_model_served(ctx, rp.model)) {
        return send_error(ctx, HTTP_NOT_FOUND, "not_found_error",
                          apr_pstrcat(p, "model: ", rp.model, NULL));
    }
    rp.id = mock_random_b62(p, "msg_01", ANTHROPIC_ID_LEN);
    rp.input_tokens = mock_tokens_for_bytes(
        mock_prompt_bytes(member(req, "messages"))
        + mock_prompt_bytes(member(req, "system")));
    if (ctx->opts.think) {
        rp.think_pieces = mock_split_text(p, ctx->opts.think,
                                          (int)ctx->opts.chunks, &rp.nthink);
        rp.signature = mock_random_b62(p, "Eo", 64);
    }
    if (ctx->opts.tool) {
        rp.tool_input = mock_tool_args(ctx);
        apr_pool_cleanup_register(p, rp.tool_input, release_json,
                                  apr_pool_cleanup_null);
        rp.tool_id = mock_random_b62(p, "toolu_01", ANTHROPIC_ID_LEN);
        args = json_object_to_json_string_ext(rp.tool_input,
                                              MOCK_JSON_FLAGS);
        rp.pieces = mock_split_text(p, args, (int)ctx->opts.chunks,
                                    &rp.npieces);
    }
    else {
        rp.pieces = mock_split_text(p, ctx->opts.content,
                                    (int)ctx->opts.chunks, &rp.npieces);
    }
    if (mock_bool_member(req, "stream")) {
        return messages_stream(ctx, &rp);
    }
    return mock_send_json_as(ctx->r, HTTP_OK, message_object(&rp, 1),
                             ANTHROPIC_JSON);
}
