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
 * mock.h: what the files of the test mock (mod_llm_mock.so) share: the
 * knobs, one request's context, whole answers, connection faults and the
 * streaming writer.  Internal to the mock; nothing here is exported from
 * the module (hidden visibility: httpd loads modules RTLD_GLOBAL, and a
 * helper called "jadd" in another module must not take the place of ours).
 *
 * The Makefile copies only the .c files into its build directory, so the
 * .c files include this header through the "include" directory that is on
 * the include path: #include "../t/mock/mock.h".
 */

#ifndef MOCK_H
#define MOCK_H

#include <stddef.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "apr_strings.h"

#include <json-c/json.h>

#pragma GCC visibility push(hidden)

#define MOCK_HANDLER            "llm-mock"
#define MOCK_HEADER_PREFIX      "X-Mock-"
#define MOCK_DEFAULT_MODEL      "mock-model"
#define MOCK_DEFAULT_CONTENT    "Hello from the mock upstream."
#define MOCK_DEFAULT_TOOL_ARGS  "{\"location\":\"Paris, France\"," \
                                "\"unit\":\"celsius\"}"
#define MOCK_DEFAULT_CHUNKS     3
#define MOCK_DEFAULT_HANG_MS    30000
#define MOCK_DEFAULT_DIM        8
#define MOCK_MAX_BODY           (64 * 1024 * 1024)
#define MOCK_HANG_SLICE_MS      50
#define MOCK_MAX_MS             (24 * 3600 * 1000)
#define MOCK_JSON_DEPTH         128

/* vLLM (pydantic) writes compact JSON, keeps "/" and non-ASCII as is. */
#define MOCK_JSON_FLAGS \
    (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* ------------------------------------------------------------------ */
/* Knobs                                                               */
/* ------------------------------------------------------------------ */

/* Numbers are apr_int64_t so that one table can describe them all. */
typedef struct {
    apr_int64_t status;         /* < 400: no forced error */
    apr_int64_t ttfb_ms;
    apr_int64_t hang;
    apr_int64_t hang_ms;
    apr_int64_t reset;
    apr_int64_t chunks;
    apr_int64_t delay_ms;
    apr_int64_t drop_after;     /* < 0: never */
    apr_int64_t drop_rst;       /* drop with a RST (1) or a FIN (0) */
    apr_int64_t stamp;
    apr_int64_t echo;
    apr_int64_t dim;            /* 0: the request's "dimensions", or 8 */
    apr_int64_t stream_error;   /* an in-band error instead of the end */
    apr_int64_t bad_event;      /* a malformed event after this many
                                   pieces; < 0: none */
    apr_int64_t no_done;        /* leave out the stream's end marker */
    apr_int64_t ping;           /* SSE comments before the first piece */
    apr_int64_t ping_ms;        /* ... each after this long */
    apr_int64_t ping_pad;       /* ... each this many bytes longer */
    const char *nul;            /* this text in an answer's JSON text
                                   becomes \u0000 */
    const char *retry_after;
    const char *content;
    const char *error_style;    /* "openai" (default) or "vllm" */
    const char *tool;           /* answer with a call of this tool */
    const char *tool_args;      /* its arguments, a JSON object */
    const char *think;          /* reasoning text sent before the answer */
    const char *models;         /* comma list of the models served */
    const char *require_key;    /* Anthropic: the x-api-key to insist on */
    const char *record;         /* write what came to logs/mock-<it>.json */
    const char *stream_mode;    /* Ollama: "always" or "never" stream,
                                   whatever the request says */
    const char *hits;           /* log each hit to logs/mock-hits-<it>.log */
    apr_int64_t fail_first;     /* < 0: always; else faults for the first
                                   N hits of "hits" only */
    const char *error_message;  /* the message of a forced error */
} mock_opts;

/* Which API an endpoint speaks: it decides the shape of the errors. */
typedef enum {
    MOCK_API_OPENAI,
    MOCK_API_OLLAMA,
    MOCK_API_ANTHROPIC
} mock_api;

/* One request being answered. */
typedef struct {
    request_rec *r;
    mock_opts opts;
    const char *route;          /* decoded path without the k=v segments */
    char *body;                 /* raw request body, NUL terminated */
    apr_size_t body_len;
} mock_ctx;

typedef int (*mock_endpoint_fn)(mock_ctx *ctx, json_object *req);

void mock_default_opts(mock_opts *o);
const char *mock_opts_from_path(request_rec *r, mock_opts *o);
void mock_opts_from_headers(request_rec *r, mock_opts *o);
/* The path as the client sent it, still %-encoded. */
const char *mock_raw_path(request_rec *r);

/* 1 when the "models" knob is unset or lists the model (a name without a
 * tag also matches its ":latest", as in Ollama). */
int mock_model_served(const mock_ctx *ctx, const char *model);

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

int mock_ends_with(const char *s, const char *suffix);
const char *mock_random_id(apr_pool_t *p, const char *prefix,
                           apr_size_t hex_len);
/* Letters and digits, as Anthropic's msg_01... and req_01... ids. */
const char *mock_random_b62(apr_pool_t *p, const char *prefix,
                            apr_size_t len);
void mock_sleep_ms(apr_int64_t ms);

void mock_jadd(json_object *o, const char *key, json_object *v);
json_object *mock_jstr(const char *s);
json_object *mock_jint(apr_int64_t v);
json_object *mock_member(json_object *o, const char *key);
const char *mock_string_member(json_object *o, const char *key,
                               const char *dflt);
int mock_bool_member(json_object *o, const char *key);

/* Prompt text bytes of a request value, and a stand-in tokenizer. */
apr_size_t mock_prompt_bytes(json_object *v);
apr_int64_t mock_tokens_for_bytes(apr_size_t bytes);

/* Splits text into at most "want" non-empty pieces at UTF-8 boundaries. */
const char **mock_split_text(apr_pool_t *p, const char *text, int want,
                             int *count);

/* The "tool_args" knob as a JSON object (the default when it is not one);
 * the caller owns the reference. */
json_object *mock_tool_args(mock_ctx *ctx);

/* A unit vector that depends on the text only. */
void mock_embed_text(const char *text, apr_size_t len, float *out, int dim);
int mock_embedding_dim(mock_ctx *ctx, json_object *req);

/* ------------------------------------------------------------------ */
/* Whole answers                                                       */
/* ------------------------------------------------------------------ */

void mock_set_status(request_rec *r, int status);
/* Sends a JSON body (and releases o) with the given content type. */
int mock_send_json_as(request_rec *r, int status, json_object *o,
                      const char *content_type);
int mock_send_json(request_rec *r, int status, json_object *o);
int mock_send_text(request_rec *r, int status, const char *content_type,
                   const char *text);

/* ------------------------------------------------------------------ */
/* Request body                                                        */
/* ------------------------------------------------------------------ */

int mock_read_body(mock_ctx *ctx);
/* Strict parse of the whole body as one JSON object; NULL if it is not.
 * The object is released with the request pool. */
json_object *mock_parse_body(mock_ctx *ctx);
/* The request's "model", or the default; the body need not be JSON. */
const char *mock_model_of_body(mock_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Connection faults                                                   */
/* ------------------------------------------------------------------ */

void mock_drop_connection(request_rec *r, int rst);
int mock_hang_up(mock_ctx *ctx);
int mock_reset_connection(mock_ctx *ctx);

/* ------------------------------------------------------------------ */
/* Streaming                                                           */
/* ------------------------------------------------------------------ */

typedef enum {
    MOCK_FRAME_SSE,             /* [event: X\n]data: {...}\n\n */
    MOCK_FRAME_NDJSON           /* {...}\n (Ollama) */
} mock_framing;

typedef struct {
    mock_ctx *ctx;
    apr_bucket_brigade *bb;
    mock_framing framing;
    int go_json;                /* escape <, >, & as Go's encoding/json */
    int pieces_sent;
    int done;                   /* dropped, or the client went away */
    int bad_sent;               /* the bad_event went out */
    const char *last_event;     /* the SSE event name sent last */
    apr_int64_t seq;            /* Responses API sequence_number */
} mock_stream;

/* Sends status 200 and the headers at once. */
void mock_stream_begin(mock_ctx *ctx, mock_stream *st,
                       const char *content_type, mock_framing framing);
/* Writes one framed event (event is ignored for NDJSON) and flushes. */
apr_status_t mock_stream_write(mock_stream *st, const char *event,
                               const char *data);
/* Sends one JSON event and releases it. */
void mock_stream_send(mock_stream *st, const char *event, json_object *o);
/* Sends the bad_event if its number of pieces went out, then drops the
 * connection if drop_after pieces did. */
void mock_stream_check_drop(mock_stream *st);
/* The "ping" keep-alive comments (": ping", SSE only), each after
 * ping_ms, before the first content piece. */
void mock_stream_pings(mock_stream *st);
/* A content piece: the drop check and the delay come before it. */
void mock_stream_piece(mock_stream *st, const char *event, json_object *o);

/* JSON text as Go's encoding/json writes it (Ollama): <, >, & and
 * U+2028/U+2029 escaped. */
const char *mock_go_json(apr_pool_t *p, json_object *o);
/* JSON text with each "nul" knob text in it made \u0000 (the text as it
 * is without the knob); the knob is kept in r->notes "mock-nul". */
const char *mock_nul_text(request_rec *r, const char *json,
                          apr_size_t *len);
/* A float as Go writes a float32 (bits 32) or a float64 (bits 64). */
json_object *mock_go_float(double v, int bits);

/* ------------------------------------------------------------------ */
/* The APIs (mock_openai.c, mock_ollama.c, mock_anthropic.c)           */
/* ------------------------------------------------------------------ */

/* Forced "status" answers, each in its API's error shape. */
int mock_openai_fault(mock_ctx *ctx);
int mock_ollama_fault(mock_ctx *ctx);
int mock_anthropic_fault(mock_ctx *ctx);

/* Unknown URL or method (OpenAI texts, or vLLM/FastAPI's with
 * error_style=vllm). */
int mock_openai_route_error(mock_ctx *ctx, int status, const char *detail);
int mock_openai_bad_request(mock_ctx *ctx, const char *message);
int mock_openai_bad_json(mock_ctx *ctx);
int mock_openai_too_large(mock_ctx *ctx);
int mock_ollama_method_error(mock_ctx *ctx);
int mock_ollama_bad_json(mock_ctx *ctx);
int mock_anthropic_method_error(mock_ctx *ctx);
int mock_anthropic_bad_json(mock_ctx *ctx);
/* Anthropic checks headers before it reads the body. */
int mock_anthropic_check_headers(mock_ctx *ctx);

int mock_echo(mock_ctx *ctx);
/* What echo answers, as a JSON object (the caller puts it). The values
 * of credential headers (Authorization, Proxy-Authorization, x-api-key,
 * api-key, Cookie) are shown redacted (mock_redacted), never as sent. */
json_object *mock_echo_object(mock_ctx *ctx);
/* record=NAME: the echo object written to logs/mock-NAME.json. */
void mock_record(mock_ctx *ctx);
/* Counts the hit ("hits") and, past "fail_first" hits, lifts the faults. */
void mock_faults_for_hit(mock_ctx *ctx);
/* A request ending in an assistant message whose text begins "content"
 * (a prefill) is answered with the rest of "content", at once and not
 * cut (no delay, no drop_after): the continuation of a cut answer. */
void mock_continuation(mock_ctx *ctx, json_object *req);
/* A credential as echo shows it: MOCK_REDACTED_PREFIX and the first 16
 * hex digits of the SHA-1 of the value as it came (in Perl:
 * "redacted:sha1:" . substr(sha1_hex($value), 0, 16)). */
#define MOCK_REDACTED_PREFIX    "redacted:sha1:"
const char *mock_redacted(apr_pool_t *p, const char *value);

int mock_openai_chat(mock_ctx *ctx, json_object *req);
int mock_openai_completions(mock_ctx *ctx, json_object *req);
int mock_openai_embeddings(mock_ctx *ctx, json_object *req);
int mock_openai_responses(mock_ctx *ctx, json_object *req);
int mock_openai_models(mock_ctx *ctx, json_object *req);
int mock_health(mock_ctx *ctx, json_object *req);
/* mock_guard.c: the original's guard services (/api/guardrails/...). */
int mock_guard(mock_ctx *ctx, json_object *req);

int mock_ollama_home(mock_ctx *ctx, json_object *req);
int mock_ollama_version(mock_ctx *ctx, json_object *req);
int mock_ollama_tags(mock_ctx *ctx, json_object *req);
int mock_ollama_show(mock_ctx *ctx, json_object *req);
int mock_ollama_chat(mock_ctx *ctx, json_object *req);
int mock_ollama_generate(mock_ctx *ctx, json_object *req);
int mock_ollama_embed(mock_ctx *ctx, json_object *req);
int mock_ollama_embeddings(mock_ctx *ctx, json_object *req);

int mock_anthropic_messages(mock_ctx *ctx, json_object *req);

#pragma GCC visibility pop

#endif /* MOCK_H */
