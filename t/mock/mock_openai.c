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
 * mock_openai.c: the OpenAI API as vLLM's OpenAI server speaks it (same
 * JSON shapes and key order, same SSE framing), its errors, and /echo.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_base64.h"
#include "apr_file_io.h"
#include "apr_lib.h"
#include "apr_sha1.h"

#include "mock.h"

#define jadd    mock_jadd
#define jstr    mock_jstr
#define jint    mock_jint
#define member  mock_member

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

typedef struct {
    int status;
    const char *message;
    const char *type;           /* OpenAI style type */
    const char *code;           /* OpenAI style code, NULL for null */
    const char *route_detail;   /* set for routing errors: FastAPI text */
} mock_error;

/* vLLM names its error types after the exceptions of the openai client. */
static const char *vllm_error_type(int status)
{
    switch (status) {
    case 401: return "AuthenticationError";
    case 403: return "PermissionDeniedError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 409: return "ConflictError";
    case 413: return "RequestEntityTooLargeError";
    case 422: return "UnprocessableEntityError";
    case 429: return "RateLimitError";
    case 501: return "NotImplementedError";
    case 503: return "ServiceUnavailableError";
    default:  return status < 500 ? "BadRequestError" : "InternalServerError";
    }
}

/* vLLM's own shapes: its API key check answers {"error":"Unauthorized"},
 * FastAPI's router answers {"detail":...}, everything else is the flat
 * ErrorResponse. */
static json_object *vllm_error_body(const mock_error *e)
{
    json_object *o = json_object_new_object();

    if (e->route_detail) {
        jadd(o, "detail", jstr(e->route_detail));
        return o;
    }
    if (e->status == 401) {
        jadd(o, "error", jstr("Unauthorized"));
        return o;
    }
    jadd(o, "object", jstr("error"));
    jadd(o, "message", jstr(e->message));
    jadd(o, "type", jstr(vllm_error_type(e->status)));
    jadd(o, "param", NULL);
    jadd(o, "code", jint(e->status));
    return o;
}

static json_object *openai_error_body(const mock_error *e)
{
    json_object *o = json_object_new_object();
    json_object *err = json_object_new_object();

    jadd(err, "message", jstr(e->message));
    jadd(err, "type", jstr(e->type));
    jadd(err, "param", NULL);
    jadd(err, "code", e->code ? jstr(e->code) : NULL);
    jadd(o, "error", err);
    return o;
}

static int vllm_errors(const mock_ctx *ctx)
{
    return !strcasecmp(ctx->opts.error_style, "vllm");
}

static int send_error(mock_ctx *ctx, const mock_error *e)
{
    json_object *body = vllm_errors(ctx) ? vllm_error_body(e)
                                         : openai_error_body(e);

    return mock_send_json(ctx->r, e->status, body);
}

int mock_openai_bad_request(mock_ctx *ctx, const char *message)
{
    mock_error e = { HTTP_BAD_REQUEST, message, "invalid_request_error",
                     NULL, NULL };

    return send_error(ctx, &e);
}

int mock_openai_too_large(mock_ctx *ctx)
{
    mock_error e = { HTTP_REQUEST_ENTITY_TOO_LARGE, "Request body too large "
                     "for the mock upstream (64 MiB).",
                     "invalid_request_error", NULL, NULL };

    return send_error(ctx, &e);
}

int mock_openai_bad_json(mock_ctx *ctx)
{
    return mock_openai_bad_request(ctx, "We could not parse the JSON body "
                                   "of your request. (HINT: This likely "
                                   "means you aren't using your HTTP "
                                   "library correctly. The OpenAI API "
                                   "expects a JSON payload, but what was "
                                   "sent was not valid JSON.)");
}

/* The texts OpenAI (or, for 404, vLLM) really sends for these statuses. */
static const char *fault_message(const mock_ctx *ctx, int status,
                                 const char *model)
{
    apr_pool_t *p = ctx->r->pool;

    if (ctx->opts.error_message) {
        return ctx->opts.error_message;
    }
    switch (status) {
    case 400:
        return "Invalid request (fault injected by the mock upstream).";
    case 401:
        return "Incorrect API key provided: sk-mock. You can find your API "
               "key at https://platform.openai.com/account/api-keys.";
    case 403:
        return "Country, region, or territory not supported";
    case 404:
        return vllm_errors(ctx)
               ? apr_psprintf(p, "The model `%s` does not exist.", model)
               : apr_psprintf(p, "The model `%s` does not exist or you do "
                              "not have access to it.", model);
    case 429:
        return apr_psprintf(p, "Rate limit reached for %s in organization "
                            "org-mock on requests per min (RPM): Limit 3, "
                            "Used 3, Requested 1. Please try again in 20s. "
                            "Visit https://platform.openai.com/account/"
                            "rate-limits to learn more.", model);
    case 500:
        return "The server had an error while processing your request. "
               "Sorry about that!";
    case 503:
        return "The server is overloaded or not ready yet.";
    default:
        return apr_psprintf(p, "Mock upstream error (HTTP %d).", status);
    }
}

static const char *fault_type(int status)
{
    switch (status) {
    case 400: case 401: case 404:
        return "invalid_request_error";
    case 403:
        return "request_forbidden";
    case 429:
        return "requests";
    case 500: case 503:
        return "server_error";
    default:
        return "api_error";
    }
}

static const char *fault_code(int status)
{
    switch (status) {
    case 401: return "invalid_api_key";
    case 403: return "unsupported_country_region_territory";
    case 404: return "model_not_found";
    case 429: return "rate_limit_exceeded";
    default:  return NULL;
    }
}

static int send_status_error(mock_ctx *ctx, int status, const char *model)
{
    mock_error e;

    e.status = status;
    e.message = fault_message(ctx, status, model);
    e.type = fault_type(status);
    e.code = fault_code(status);
    e.route_detail = NULL;
    return send_error(ctx, &e);
}

int mock_openai_fault(mock_ctx *ctx)
{
    int status = (int)ctx->opts.status;

    if (ctx->opts.retry_after) {
        apr_table_setn(ctx->r->headers_out, "Retry-After",
                       ctx->opts.retry_after);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, "LLMMOCK004: "
                  "answering with forced status %d", status);
    return send_status_error(ctx, status, mock_model_of_body(ctx));
}

/* The texts are OpenAI's for an unknown URL or method. */
int mock_openai_route_error(mock_ctx *ctx, int status, const char *detail)
{
    request_rec *r = ctx->r;
    mock_error e;

    e.status = status;
    e.message = apr_psprintf(r->pool, "Invalid %s (%s %s)",
                             status == HTTP_NOT_FOUND ? "URL"
                                                      : "method for URL",
                             r->method, r->uri);
    e.type = "invalid_request_error";
    e.code = NULL;
    e.route_detail = detail;
    return send_error(ctx, &e);
}

/* ------------------------------------------------------------------ */
/* Echo                                                                */
/* ------------------------------------------------------------------ */

/* Headers that carry a credential: the mock never shows their values,
 * not even to the test that asked (an echo is an answer body, and answer
 * bodies end up in logs, demos and bug reports). */
static int is_credential(const char *name)
{
    static const char *const names[] = {
        "Authorization", "Proxy-Authorization", "X-Api-Key", "Api-Key",
        "Cookie", NULL
    };
    int i;

    for (i = 0; names[i]; i++) {
        if (!strcasecmp(name, names[i])) {
            return 1;
        }
    }
    return 0;
}

/* "redacted:sha1:" and the first 16 hex digits of the value's SHA-1:
 * enough for a test to tell which key came (it computes the same from
 * the key it expects), while the key itself never appears. */
const char *mock_redacted(apr_pool_t *p, const char *value)
{
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    char hex[2 * 8 + 1];
    apr_sha1_ctx_t sha;

    apr_sha1_init(&sha);
    apr_sha1_update(&sha, value, (unsigned int)strlen(value));
    apr_sha1_final(digest, &sha);
    ap_bin2hex(digest, 8, hex);
    return apr_pstrcat(p, MOCK_REDACTED_PREFIX, hex, NULL);
}

static json_object *headers_object(request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    json_object *o = json_object_new_object();
    const char *v;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key) {
            v = e[i].val ? e[i].val : "";
            if (is_credential(e[i].key)) {
                v = mock_redacted(r->pool, v);
            }
            jadd(o, e[i].key, jstr(v));
        }
    }
    return o;
}

/* The raw (still encoded) path is reported: tests want to see exactly
 * what the gateway put on the wire. */
json_object *mock_echo_object(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    json_object *o = json_object_new_object();

    jadd(o, "method", jstr(r->method));
    jadd(o, "uri", jstr(mock_raw_path(r)));
    jadd(o, "args", r->args ? jstr(r->args) : NULL);
    jadd(o, "headers", headers_object(r));
    jadd(o, "body", json_object_new_string_len(ctx->body,
                                               (int)ctx->body_len));
    jadd(o, "body_length", jint((apr_int64_t)ctx->body_len));
    /* Which connection it came on, so that tests can see the gateway
     * reuse its pooled connections: the peer's port and how many
     * requests came before this one on the connection. */
    jadd(o, "peer_port", jint((apr_int64_t)r->connection->client_addr->port));
    jadd(o, "conn_requests", jint((apr_int64_t)r->connection->keepalives));
    return o;
}

int mock_echo(mock_ctx *ctx)
{
    return mock_send_json(ctx->r, HTTP_OK, mock_echo_object(ctx));
}

/* For a gateway that translates the answer (echo's body would not
 * survive that): what came is written to a file the test reads, and the
 * request is answered as usual. The name is the test's: letters, digits,
 * '-' and '_' only. */
void mock_record(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    const char *name = ctx->opts.record;
    const char *path;
    const char *text;
    json_object *o;
    apr_file_t *f;
    const char *c;

    for (c = name; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_') {
            return;
        }
    }
    path = ap_server_root_relative(r->pool, apr_pstrcat(r->pool,
                                   "logs/mock-", name, ".json", NULL));
    o = mock_echo_object(ctx);
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                          | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (path && apr_file_open(&f, apr_pstrcat(r->pool, path, ".tmp", NULL),
                              APR_FOPEN_WRITE | APR_FOPEN_CREATE
                              | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT,
                              r->pool) == APR_SUCCESS) {
        apr_file_write_full(f, text, strlen(text), NULL);
        apr_file_close(f);
        apr_file_rename(apr_pstrcat(r->pool, path, ".tmp", NULL), path,
                        r->pool);
    }
    json_object_put(o);
}

/* ------------------------------------------------------------------ */
/* The reply text                                                      */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *id;
    apr_int64_t created;
    const char *model;
    const char *text;
    const char **pieces;        /* of the text, or of the tool arguments */
    int npieces;
    const char **think_pieces;  /* of the reasoning (think=) */
    int nthink;
    const char *tool_id;        /* set: the answer is a call of opts.tool */
    const char *tool_args;      /* its arguments, JSON text */
    apr_int64_t prompt_tokens;
    int stream;
    int include_usage;
} mock_reply;

static void prepare_reply(mock_ctx *ctx, json_object *req,
                          const char *id_prefix, mock_reply *rp)
{
    request_rec *r = ctx->r;

    memset(rp, 0, sizeof(*rp));
    rp->id = mock_random_id(r->pool, id_prefix, 32);
    rp->created = (apr_int64_t)apr_time_sec(r->request_time);
    rp->model = mock_string_member(req, "model", MOCK_DEFAULT_MODEL);
    rp->text = ctx->opts.content;
    rp->pieces = mock_split_text(r->pool, rp->text, (int)ctx->opts.chunks,
                                 &rp->npieces);
    rp->prompt_tokens = 1;
    rp->stream = mock_bool_member(req, "stream");
    rp->include_usage = mock_bool_member(member(req, "stream_options"),
                                         "include_usage");
}

/* The think= and tool= knobs (chat completions only). */
static void prepare_extras(mock_ctx *ctx, mock_reply *rp)
{
    apr_pool_t *p = ctx->r->pool;
    json_object *args;

    if (ctx->opts.think) {
        rp->think_pieces = mock_split_text(p, ctx->opts.think,
                                           (int)ctx->opts.chunks,
                                           &rp->nthink);
    }
    if (ctx->opts.tool) {
        args = mock_tool_args(ctx);
        rp->tool_args = apr_pstrdup(p, json_object_to_json_string_ext(
                                           args, MOCK_JSON_FLAGS));
        json_object_put(args);
        rp->tool_id = mock_random_id(p, "chatcmpl-tool-", 32);
        rp->pieces = mock_split_text(p, rp->tool_args,
                                     (int)ctx->opts.chunks, &rp->npieces);
    }
}

static json_object *usage_object(const mock_reply *rp, int with_details)
{
    json_object *u = json_object_new_object();
    apr_int64_t out = rp->npieces + rp->nthink;

    jadd(u, "prompt_tokens", jint(rp->prompt_tokens));
    jadd(u, "total_tokens", jint(rp->prompt_tokens + out));
    jadd(u, "completion_tokens", jint(out));
    if (with_details) {
        jadd(u, "prompt_tokens_details", NULL);
    }
    return u;
}

/* id, object, created, model: the head every vLLM answer starts with. */
static json_object *reply_head(const mock_reply *rp, const char *object)
{
    json_object *o = json_object_new_object();

    jadd(o, "id", jstr(rp->id));
    jadd(o, "object", jstr(object));
    jadd(o, "created", jint(rp->created));
    jadd(o, "model", jstr(rp->model));
    return o;
}

static json_object *single_choice(json_object *choice)
{
    json_object *a = json_object_new_array();

    json_object_array_add(a, choice);
    return a;
}

static void stream_done_marker(mock_stream *st)
{
    if (!st->done && !st->ctx->opts.no_done) {
        mock_stream_write(st, NULL, "[DONE]");
    }
}

/* vLLM reports a failure after the 200 in band: one data event with the
 * (flat) ErrorResponse under "error", then [DONE]. */
static void stream_vllm_error(mock_stream *st)
{
    json_object *o = json_object_new_object();
    json_object *err = json_object_new_object();

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, st->ctx->r, "LLMMOCK013: "
                  "ending the stream with an in-band error");
    jadd(err, "object", jstr("error"));
    jadd(err, "message", jstr("The engine failed while generating "
                              "(fault injected by the mock upstream)."));
    jadd(err, "type", jstr("BadRequestError"));
    jadd(err, "param", NULL);
    jadd(err, "code", jint(HTTP_BAD_REQUEST));
    jadd(o, "error", err);
    mock_stream_send(st, NULL, o);
    stream_done_marker(st);
}

static void stream_begin(mock_ctx *ctx, mock_stream *st)
{
    mock_stream_begin(ctx, st, "text/event-stream; charset=utf-8",
                      MOCK_FRAME_SSE);
}

static int model_not_served(mock_ctx *ctx, const char *model)
{
    if (mock_model_served(ctx, model)) {
        return 0;
    }
    send_status_error(ctx, HTTP_NOT_FOUND, model);
    return 1;
}

/* ------------------------------------------------------------------ */
/* POST /v1/chat/completions                                           */
/* ------------------------------------------------------------------ */

static json_object *chat_chunk(const mock_reply *rp, json_object *delta,
                               const char *finish_reason)
{
    json_object *o = reply_head(rp, "chat.completion.chunk");
    json_object *choice = json_object_new_object();

    jadd(choice, "index", jint(0));
    jadd(choice, "delta", delta);
    jadd(choice, "logprobs", NULL);
    jadd(choice, "finish_reason", finish_reason ? jstr(finish_reason) : NULL);
    if (finish_reason) {
        jadd(choice, "stop_reason", NULL);
    }
    jadd(o, "choices", single_choice(choice));
    return o;
}

static json_object *content_delta(const char *role, const char *content)
{
    json_object *d = json_object_new_object();

    if (role) {
        jadd(d, "role", jstr(role));
    }
    jadd(d, "content", jstr(content));
    return d;
}

static json_object *text_delta(const char *key, const char *text)
{
    json_object *d = json_object_new_object();

    jadd(d, key, jstr(text));
    return d;
}

/* The first tool call delta names the call (id, type, name, empty
 * arguments); the next ones carry pieces of the arguments only. */
static json_object *tool_delta(const mock_reply *rp, const char *name,
                               const char *args)
{
    json_object *d = json_object_new_object();
    json_object *call = json_object_new_object();
    json_object *fn = json_object_new_object();
    json_object *calls = json_object_new_array();

    jadd(call, "index", jint(0));
    if (name) {
        jadd(call, "id", jstr(rp->tool_id));
        jadd(call, "type", jstr("function"));
        jadd(fn, "name", jstr(name));
    }
    jadd(fn, "arguments", jstr(args));
    jadd(call, "function", fn);
    json_object_array_add(calls, call);
    jadd(d, "tool_calls", calls);
    return d;
}

static json_object *usage_chunk(const mock_reply *rp, const char *object)
{
    json_object *o = reply_head(rp, object);

    jadd(o, "choices", json_object_new_array());
    jadd(o, "usage", usage_object(rp, 0));
    return o;
}

static int chat_stream(mock_ctx *ctx, const mock_reply *rp)
{
    mock_stream st;
    int i;

    stream_begin(ctx, &st);
    mock_stream_send(&st, NULL, chat_chunk(rp, content_delta("assistant", ""),
                                           NULL));
    mock_stream_pings(&st);
    for (i = 0; i < rp->nthink; i++) {
        mock_stream_piece(&st, NULL, chat_chunk(rp, text_delta(
                              "reasoning_content", rp->think_pieces[i]),
                                                NULL));
    }
    if (rp->tool_id) {
        mock_stream_send(&st, NULL, chat_chunk(rp, tool_delta(
                             rp, ctx->opts.tool, ""), NULL));
    }
    for (i = 0; i < rp->npieces; i++) {
        mock_stream_piece(&st, NULL, chat_chunk(
                              rp, rp->tool_id
                                  ? tool_delta(rp, NULL, rp->pieces[i])
                                  : content_delta(NULL, rp->pieces[i]),
                              NULL));
    }
    mock_stream_check_drop(&st);
    if (ctx->opts.stream_error) {
        stream_vllm_error(&st);
        return OK;
    }
    mock_stream_send(&st, NULL, rp->tool_id
                     ? chat_chunk(rp, json_object_new_object(), "tool_calls")
                     : chat_chunk(rp, content_delta(NULL, ""), "stop"));
    if (rp->include_usage) {
        mock_stream_send(&st, NULL, usage_chunk(rp, "chat.completion.chunk"));
    }
    stream_done_marker(&st);
    return OK;
}

static json_object *tool_calls_array(const mock_reply *rp, const char *name)
{
    json_object *calls = json_object_new_array();
    json_object *call, *fn;

    if (!rp->tool_id) {
        return calls;
    }
    call = json_object_new_object();
    fn = json_object_new_object();
    jadd(call, "id", jstr(rp->tool_id));
    jadd(call, "type", jstr("function"));
    jadd(fn, "name", jstr(name));
    jadd(fn, "arguments", jstr(rp->tool_args));
    jadd(call, "function", fn);
    json_object_array_add(calls, call);
    return calls;
}

static json_object *chat_completion(const mock_ctx *ctx,
                                    const mock_reply *rp)
{
    json_object *o = reply_head(rp, "chat.completion");
    json_object *choice = json_object_new_object();
    json_object *msg = json_object_new_object();

    jadd(msg, "role", jstr("assistant"));
    jadd(msg, "reasoning_content",
         ctx->opts.think ? jstr(ctx->opts.think) : NULL);
    jadd(msg, "content", rp->tool_id ? NULL : jstr(rp->text));
    jadd(msg, "tool_calls", tool_calls_array(rp, ctx->opts.tool));
    jadd(choice, "index", jint(0));
    jadd(choice, "message", msg);
    jadd(choice, "logprobs", NULL);
    jadd(choice, "finish_reason", jstr(rp->tool_id ? "tool_calls" : "stop"));
    jadd(choice, "stop_reason", NULL);
    jadd(o, "choices", single_choice(choice));
    jadd(o, "usage", usage_object(rp, 1));
    jadd(o, "prompt_logprobs", NULL);
    jadd(o, "kv_transfer_params", NULL);
    return o;
}

int mock_openai_chat(mock_ctx *ctx, json_object *req)
{
    mock_reply rp;

    prepare_reply(ctx, req, "chatcmpl-", &rp);
    if (model_not_served(ctx, rp.model)) {
        return OK;
    }
    prepare_extras(ctx, &rp);
    rp.prompt_tokens = mock_tokens_for_bytes(mock_prompt_bytes(
                                                 member(req, "messages")));
    if (rp.stream) {
        return chat_stream(ctx, &rp);
    }
    return mock_send_json(ctx->r, HTTP_OK, chat_completion(ctx, &rp));
}

/* ------------------------------------------------------------------ */
/* POST /v1/completions                                                */
/* ------------------------------------------------------------------ */

static json_object *text_chunk(const mock_reply *rp, const char *text,
                               const char *finish_reason)
{
    json_object *o = reply_head(rp, "text_completion");
    json_object *choice = json_object_new_object();

    jadd(choice, "index", jint(0));
    jadd(choice, "text", jstr(text));
    jadd(choice, "logprobs", NULL);
    jadd(choice, "finish_reason", finish_reason ? jstr(finish_reason) : NULL);
    jadd(choice, "stop_reason", NULL);
    jadd(o, "choices", single_choice(choice));
    return o;
}

static int text_stream(mock_ctx *ctx, const mock_reply *rp)
{
    mock_stream st;
    int i;

    stream_begin(ctx, &st);
    for (i = 0; i < rp->npieces; i++) {
        mock_stream_piece(&st, NULL, text_chunk(rp, rp->pieces[i], NULL));
    }
    mock_stream_check_drop(&st);
    if (ctx->opts.stream_error) {
        stream_vllm_error(&st);
        return OK;
    }
    mock_stream_send(&st, NULL, text_chunk(rp, "", "stop"));
    if (rp->include_usage) {
        mock_stream_send(&st, NULL, usage_chunk(rp, "text_completion"));
    }
    stream_done_marker(&st);
    return OK;
}

static json_object *text_completion(const mock_reply *rp)
{
    json_object *o = text_chunk(rp, rp->text, "stop");
    json_object *choice = json_object_array_get_idx(member(o, "choices"), 0);

    jadd(choice, "prompt_logprobs", NULL);
    jadd(o, "usage", usage_object(rp, 1));
    return o;
}

int mock_openai_completions(mock_ctx *ctx, json_object *req)
{
    mock_reply rp;

    prepare_reply(ctx, req, "cmpl-", &rp);
    if (model_not_served(ctx, rp.model)) {
        return OK;
    }
    rp.prompt_tokens = mock_tokens_for_bytes(mock_prompt_bytes(
                                                 member(req, "prompt")));
    if (rp.stream) {
        return text_stream(ctx, &rp);
    }
    return mock_send_json(ctx->r, HTTP_OK, text_completion(&rp));
}

/* ------------------------------------------------------------------ */
/* POST /v1/embeddings                                                 */
/* ------------------------------------------------------------------ */

/* The shortest text that reads back as the same double, as Python's
 * repr() writes it, with ".0" on whole numbers. */
static json_object *json_float(float f)
{
    double d = f;
    char buf[40];
    int prec;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf) - 2, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    if (!strpbrk(buf, ".en")) {
        strcat(buf, ".0");
    }
    return json_object_new_double_s(d, buf);
}

/* Little-endian float32, base64: what vLLM and OpenAI send for
 * "encoding_format":"base64" (the openai npm client's default). */
static json_object *embedding_base64(apr_pool_t *p, const float *v, int dim)
{
    unsigned char *raw = apr_palloc(p, (apr_size_t)dim * 4);
    char *b64 = apr_palloc(p, apr_base64_encode_len(dim * 4));
    apr_uint32_t bits;
    int d;

    for (d = 0; d < dim; d++) {
        memcpy(&bits, &v[d], sizeof(bits));
        raw[4 * d] = (unsigned char)(bits & 0xFF);
        raw[4 * d + 1] = (unsigned char)((bits >> 8) & 0xFF);
        raw[4 * d + 2] = (unsigned char)((bits >> 16) & 0xFF);
        raw[4 * d + 3] = (unsigned char)((bits >> 24) & 0xFF);
    }
    apr_base64_encode_binary(b64, raw, dim * 4);
    return jstr(b64);
}

static json_object *embedding_values(apr_pool_t *p, const float *v, int dim,
                                     int base64)
{
    json_object *a;
    int d;

    if (base64) {
        return embedding_base64(p, v, dim);
    }
    a = json_object_new_array_ext(dim);
    for (d = 0; d < dim; d++) {
        json_object_array_add(a, json_float(v[d]));
    }
    return a;
}

/* Token id arrays are hashed through their JSON text. */
static const char *input_text(json_object *item, apr_size_t *len)
{
    const char *s;

    if (json_object_is_type(item, json_type_string)) {
        *len = (apr_size_t)json_object_get_string_len(item);
        return json_object_get_string(item);
    }
    s = json_object_to_json_string_ext(item, MOCK_JSON_FLAGS);
    *len = strlen(s);
    return s;
}

static int is_token_array(json_object *v)
{
    return json_object_is_type(v, json_type_array)
           && json_object_array_length(v) > 0
           && json_object_is_type(json_object_array_get_idx(v, 0),
                                  json_type_int);
}

/* "input" as a list of items: a string, a token array, or a list of
 * either.  NULL when it is none of these. */
static json_object *embedding_items(json_object *input)
{
    json_object *items, *it;
    apr_size_t i;

    if (json_object_is_type(input, json_type_string)
        || is_token_array(input)) {
        items = json_object_new_array();
        json_object_array_add(items, json_object_get(input));
        return items;
    }
    if (!json_object_is_type(input, json_type_array)
        || json_object_array_length(input) == 0) {
        return NULL;
    }
    for (i = 0; i < json_object_array_length(input); i++) {
        it = json_object_array_get_idx(input, i);
        if (!json_object_is_type(it, json_type_string)
            && !is_token_array(it)) {
            return NULL;
        }
    }
    return json_object_get(input);
}

static json_object *embedding_data(mock_ctx *ctx, json_object *items, int dim,
                                   int base64, apr_size_t *bytes)
{
    apr_pool_t *p = ctx->r->pool;
    float *v = apr_palloc(p, (apr_size_t)dim * sizeof(float));
    json_object *data = json_object_new_array(), *e, *item;
    const char *text;
    apr_size_t i, len;

    *bytes = 0;
    for (i = 0; i < json_object_array_length(items); i++) {
        item = json_object_array_get_idx(items, i);
        text = input_text(item, &len);
        mock_embed_text(text, len, v, dim);
        *bytes += mock_prompt_bytes(item);
        e = json_object_new_object();
        jadd(e, "index", jint((apr_int64_t)i));
        jadd(e, "object", jstr("embedding"));
        jadd(e, "embedding", embedding_values(p, v, dim, base64));
        json_object_array_add(data, e);
    }
    return data;
}

int mock_openai_embeddings(mock_ctx *ctx, json_object *req)
{
    const char *format = mock_string_member(req, "encoding_format", "float");
    json_object *items = embedding_items(member(req, "input"));
    json_object *o, *u, *data;
    mock_reply rp;
    apr_size_t bytes;

    if (!items) {
        return mock_openai_bad_request(ctx, "'input' must be a string, an "
                                       "array of strings, or an array of "
                                       "token arrays.");
    }
    if (strcmp(format, "float") && strcmp(format, "base64")) {
        json_object_put(items);
        return mock_openai_bad_request(ctx, "'encoding_format' must be "
                                       "'float' or 'base64'.");
    }
    prepare_reply(ctx, req, "embd-", &rp);
    if (model_not_served(ctx, rp.model)) {
        json_object_put(items);
        return OK;
    }
    data = embedding_data(ctx, items, mock_embedding_dim(ctx, req),
                          !strcmp(format, "base64"), &bytes);
    json_object_put(items);
    rp.prompt_tokens = mock_tokens_for_bytes(bytes);
    o = reply_head(&rp, "list");
    jadd(o, "data", data);
    u = json_object_new_object();
    jadd(u, "prompt_tokens", jint(rp.prompt_tokens));
    jadd(u, "total_tokens", jint(rp.prompt_tokens));
    jadd(u, "completion_tokens", jint(0));
    jadd(u, "prompt_tokens_details", NULL);
    jadd(o, "usage", u);
    return mock_send_json(ctx->r, HTTP_OK, o);
}

/* ------------------------------------------------------------------ */
/* POST /v1/responses                                                  */
/* ------------------------------------------------------------------ */

static json_object *output_text_part(const char *text)
{
    json_object *part = json_object_new_object();

    jadd(part, "type", jstr("output_text"));
    jadd(part, "text", jstr(text));
    jadd(part, "annotations", json_object_new_array());
    return part;
}

static json_object *message_item(const char *msg_id, const char *text)
{
    json_object *item = json_object_new_object();
    json_object *content = json_object_new_array();

    jadd(item, "type", jstr("message"));
    jadd(item, "id", jstr(msg_id));
    jadd(item, "status", jstr(text ? "completed" : "in_progress"));
    jadd(item, "role", jstr("assistant"));
    if (text) {
        json_object_array_add(content, output_text_part(text));
    }
    jadd(item, "content", content);
    return item;
}

/* The response object; without msg_id it is the in-progress one that
 * response.created carries (no output, no usage yet). */
static json_object *response_object(const mock_reply *rp, const char *msg_id)
{
    json_object *o = json_object_new_object();
    json_object *output = json_object_new_array();
    json_object *u;

    jadd(o, "id", jstr(rp->id));
    jadd(o, "object", jstr("response"));
    jadd(o, "created_at", jint(rp->created));
    jadd(o, "status", jstr(msg_id ? "completed" : "in_progress"));
    jadd(o, "model", jstr(rp->model));
    if (!msg_id) {
        jadd(o, "output", output);
        jadd(o, "usage", NULL);
        return o;
    }
    json_object_array_add(output, message_item(msg_id, rp->text));
    jadd(o, "output", output);
    u = json_object_new_object();
    jadd(u, "input_tokens", jint(rp->prompt_tokens));
    jadd(u, "output_tokens", jint(rp->npieces));
    jadd(u, "total_tokens", jint(rp->prompt_tokens + rp->npieces));
    jadd(o, "usage", u);
    return o;
}

static json_object *response_event(mock_stream *st, const char *type)
{
    json_object *o = json_object_new_object();

    jadd(o, "type", jstr(type));
    jadd(o, "sequence_number", jint(st->seq++));
    return o;
}

/* An event about the one content part of the one message item. */
static json_object *part_event(mock_stream *st, const char *type,
                               const char *msg_id)
{
    json_object *o = response_event(st, type);

    jadd(o, "item_id", jstr(msg_id));
    jadd(o, "output_index", jint(0));
    jadd(o, "content_index", jint(0));
    return o;
}

static void send_response_state(mock_stream *st, const char *type,
                                const mock_reply *rp, const char *msg_id)
{
    json_object *o = response_event(st, type);

    jadd(o, "response", response_object(rp, msg_id));
    mock_stream_send(st, type, o);
}

static void send_output_item(mock_stream *st, const char *type,
                             const char *msg_id, const char *text)
{
    json_object *o = response_event(st, type);

    jadd(o, "output_index", jint(0));
    jadd(o, "item", message_item(msg_id, text));
    mock_stream_send(st, type, o);
}

static void send_content_part(mock_stream *st, const char *type,
                              const char *msg_id, const char *text)
{
    json_object *o = part_event(st, type, msg_id);

    jadd(o, "part", output_text_part(text));
    mock_stream_send(st, type, o);
}

static void send_text_event(mock_stream *st, const char *type,
                            const char *msg_id, const char *key,
                            const char *text, int is_piece)
{
    json_object *o = part_event(st, type, msg_id);

    jadd(o, key, jstr(text));
    jadd(o, "logprobs", json_object_new_array());
    if (is_piece) {
        mock_stream_piece(st, type, o);
    }
    else {
        mock_stream_send(st, type, o);
    }
}

/* The Responses API's own in-band failure: an "error" event, and no
 * response.completed. */
static void send_response_error(mock_stream *st)
{
    json_object *o = response_event(st, "error");

    jadd(o, "code", jstr("server_error"));
    jadd(o, "message", jstr("The server had an error while processing "
                            "your request. Sorry about that!"));
    jadd(o, "param", NULL);
    mock_stream_send(st, "error", o);
}

/* The full event sequence OpenAI sends: the openai clients' stream
 * helpers need output_item.added before they accept a text delta. */
static int responses_stream(mock_ctx *ctx, const mock_reply *rp,
                            const char *msg_id)
{
    mock_stream st;
    int i;

    stream_begin(ctx, &st);
    send_response_state(&st, "response.created", rp, NULL);
    send_response_state(&st, "response.in_progress", rp, NULL);
    send_output_item(&st, "response.output_item.added", msg_id, NULL);
    send_content_part(&st, "response.content_part.added", msg_id, "");
    for (i = 0; i < rp->npieces; i++) {
        send_text_event(&st, "response.output_text.delta", msg_id, "delta",
                        rp->pieces[i], 1);
    }
    mock_stream_check_drop(&st);
    if (ctx->opts.stream_error) {
        send_response_error(&st);
        return OK;
    }
    send_text_event(&st, "response.output_text.done", msg_id, "text",
                    rp->text, 0);
    send_content_part(&st, "response.content_part.done", msg_id, rp->text);
    send_output_item(&st, "response.output_item.done", msg_id, rp->text);
    send_response_state(&st, "response.completed", rp, msg_id);
    return OK;
}

int mock_openai_responses(mock_ctx *ctx, json_object *req)
{
    const char *msg_id = mock_random_id(ctx->r->pool, "msg_", 48);
    mock_reply rp;

    prepare_reply(ctx, req, "resp_", &rp);
    if (model_not_served(ctx, rp.model)) {
        return OK;
    }
    rp.id = mock_random_id(ctx->r->pool, "resp_", 48);
    rp.prompt_tokens = mock_tokens_for_bytes(
        mock_prompt_bytes(member(req, "input"))
        + mock_prompt_bytes(member(req, "instructions")));
    if (rp.stream) {
        return responses_stream(ctx, &rp, msg_id);
    }
    return mock_send_json(ctx->r, HTTP_OK, response_object(&rp, msg_id));
}

/* ------------------------------------------------------------------ */
/* GET /v1/models, GET /health                                         */
/* ------------------------------------------------------------------ */

static json_object *model_entry(mock_ctx *ctx, const char *name)
{
    json_object *m = json_object_new_object();

    jadd(m, "id", jstr(name));
    jadd(m, "object", jstr("model"));
    jadd(m, "created", jint(apr_time_sec(ctx->r->request_time)));
    jadd(m, "owned_by", jstr("vllm"));
    jadd(m, "root", jstr(name));
    jadd(m, "parent", NULL);
    jadd(m, "max_model_len", jint(4096));
    return m;
}

/* The "models" knob, when set, lists the models served. */
int mock_openai_models(mock_ctx *ctx, json_object *req)
{
    json_object *o = json_object_new_object();
    json_object *data = json_object_new_array();
    char *list, *name, *last;

    (void)req;
    if (!ctx->opts.models) {
        json_object_array_add(data, model_entry(ctx, MOCK_DEFAULT_MODEL));
    }
    else {
        list = apr_pstrdup(ctx->r->pool, ctx->opts.models);
        for (name = apr_strtok(list, ", ", &last); name;
             name = apr_strtok(NULL, ", ", &last)) {
            json_object_array_add(data, model_entry(ctx, name));
        }
    }
    jadd(o, "object", jstr("list"));
    jadd(o, "data", data);
    return mock_send_json(ctx->r, HTTP_OK, o);
}

int mock_health(mock_ctx *ctx, json_object *req)
{
    (void)req;
    ctx->r->status = HTTP_OK;
    ap_set_content_length(ctx->r, 0);
    return OK;
}
