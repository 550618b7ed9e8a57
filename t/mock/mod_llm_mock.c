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
 * mod_llm_mock.c: a test-only stand-in for an OpenAI-compatible LLM server.
 *
 * It answers like vLLM's OpenAI server does (same JSON shapes and key
 * order, same SSE framing), so the gateway can be tested, and demonstrated,
 * without a GPU.  It also fails on demand: forced HTTP errors, a slow first
 * byte, a hang, a TCP reset, a stream cut in the middle.
 *
 *     <Location />
 *         SetHandler llm-mock
 *     </Location>
 *
 * Every knob can be set by a path segment "k=v" (so a provider base URL in
 * a config file can carry a fault, e.g. http://127.0.0.1:8081/ttfb=3000)
 * or by a request header "X-Mock-K: v"; the header wins.  The "k=v"
 * segments are left out when the endpoint is matched.
 *
 * Endpoints, matched on the end of the path: /v1/chat/completions,
 * /v1/completions, /v1/embeddings, /v1/responses, /v1/models, /health,
 * and /echo (which returns what the gateway forwarded).
 *
 * Not for production: the module trusts its client completely.
 */

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "apr_base64.h"
#include "apr_lib.h"
#include "apr_portable.h"
#include "apr_strings.h"

#include <json-c/json.h>

module AP_MODULE_DECLARE_DATA llm_mock_module;

#define MOCK_HANDLER            "llm-mock"
#define MOCK_HEADER_PREFIX      "X-Mock-"
#define MOCK_DEFAULT_MODEL      "mock-model"
#define MOCK_DEFAULT_CONTENT    "Hello from the mock upstream."
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
/* Options                                                             */
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
    const char *retry_after;
    const char *content;
    const char *error_style;    /* "openai" (default) or "vllm" */
} mock_opts;

typedef enum {
    MOCK_OPT_NUMBER,
    MOCK_OPT_FLAG,
    MOCK_OPT_TEXT
} mock_opt_kind;

typedef struct {
    const char *name;
    mock_opt_kind kind;
    apr_size_t offset;
    apr_int64_t min;
    apr_int64_t max;
} mock_opt_def;

static const mock_opt_def mock_opt_defs[] = {
    { "status",      MOCK_OPT_NUMBER, offsetof(mock_opts, status),
      0, 599 },
    { "retry_after", MOCK_OPT_TEXT,   offsetof(mock_opts, retry_after),
      0, 0 },
    { "ttfb",        MOCK_OPT_NUMBER, offsetof(mock_opts, ttfb_ms),
      0, MOCK_MAX_MS },
    { "hang",        MOCK_OPT_FLAG,   offsetof(mock_opts, hang),
      0, 1 },
    { "hang_ms",     MOCK_OPT_NUMBER, offsetof(mock_opts, hang_ms),
      0, MOCK_MAX_MS },
    { "reset",       MOCK_OPT_FLAG,   offsetof(mock_opts, reset),
      0, 1 },
    { "chunks",      MOCK_OPT_NUMBER, offsetof(mock_opts, chunks),
      1, 1000000 },
    { "delay",       MOCK_OPT_NUMBER, offsetof(mock_opts, delay_ms),
      0, MOCK_MAX_MS },
    { "drop_after",  MOCK_OPT_NUMBER, offsetof(mock_opts, drop_after),
      0, INT_MAX },
    { "drop_rst",    MOCK_OPT_FLAG,   offsetof(mock_opts, drop_rst),
      0, 1 },
    { "content",     MOCK_OPT_TEXT,   offsetof(mock_opts, content),
      0, 0 },
    { "stamp",       MOCK_OPT_FLAG,   offsetof(mock_opts, stamp),
      0, 1 },
    { "echo",        MOCK_OPT_FLAG,   offsetof(mock_opts, echo),
      0, 1 },
    { "dim",         MOCK_OPT_NUMBER, offsetof(mock_opts, dim),
      1, 65536 },
    { "error_style", MOCK_OPT_TEXT,   offsetof(mock_opts, error_style),
      0, 0 },
};

/* One request being answered. */
typedef struct {
    request_rec *r;
    mock_opts opts;
    const char *route;          /* decoded path without the k=v segments */
    char *body;                 /* raw request body, NUL terminated */
    apr_size_t body_len;
} mock_ctx;

static void default_opts(mock_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->hang_ms = MOCK_DEFAULT_HANG_MS;
    o->chunks = MOCK_DEFAULT_CHUNKS;
    o->drop_after = -1;
    o->drop_rst = 1;
    o->content = MOCK_DEFAULT_CONTENT;
    o->error_style = "openai";
}

static int parse_number(const char *v, apr_int64_t *out)
{
    char *end;

    if (!*v) {
        return 0;
    }
    errno = 0;
    *out = apr_strtoi64(v, &end, 10);
    return errno == 0 && *end == '\0';
}

static int parse_flag(const char *v, apr_int64_t *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes")
        || !strcasecmp(v, "on")) {
        *out = 1;
        return 1;
    }
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no")
        || !strcasecmp(v, "off")) {
        *out = 0;
        return 1;
    }
    if (!parse_number(v, out)) {
        return 0;
    }
    *out = *out != 0;
    return 1;
}

static const mock_opt_def *find_opt_def(const char *name)
{
    apr_size_t i;

    for (i = 0; i < sizeof(mock_opt_defs) / sizeof(mock_opt_defs[0]); i++) {
        if (!strcasecmp(mock_opt_defs[i].name, name)) {
            return &mock_opt_defs[i];
        }
    }
    return NULL;
}

/* A bad value is logged and ignored: the default is a safer bet for a
 * test than an error the test did not ask for. */
static void set_opt(request_rec *r, mock_opts *o, const char *name,
                    const char *value, const char *from)
{
    const mock_opt_def *def = find_opt_def(name);
    char *field;
    apr_int64_t n;
    int ok;

    if (!def) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "LLMMOCK002: "
                      "unknown option %s=%s from %s ignored",
                      name, value, from);
        return;
    }
    field = (char *)o + def->offset;
    if (def->kind == MOCK_OPT_TEXT) {
        *(const char **)field = value;
        return;
    }
    ok = def->kind == MOCK_OPT_FLAG ? parse_flag(value, &n)
                                    : parse_number(value, &n);
    if (!ok || n < def->min || n > def->max) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "LLMMOCK003: "
                      "bad value for option %s=%s from %s ignored",
                      def->name, value, from);
        return;
    }
    *(apr_int64_t *)field = n;
}

/* The path as the client sent it, still %-encoded: httpd decodes
 * r->parsed_uri.path in place, so only r->unparsed_uri has it. */
static const char *raw_path(request_rec *r)
{
    const char *u = r->unparsed_uri;

    if (!u || *u != '/') {
        return r->uri;
    }
    return apr_pstrmemdup(r->pool, u, strcspn(u, "?#"));
}

/* Reads the k=v segments out of the raw path and returns the rest, decoded,
 * for endpoint matching.  Segments are decoded one by one so that an
 * encoded "/" in a value (content=a%2Fb) does not split it, where
 * AllowEncodedSlashes lets it through. */
static const char *opts_from_path(request_rec *r, mock_opts *o)
{
    char *copy = apr_pstrdup(r->pool, raw_path(r));
    char *route = apr_pstrdup(r->pool, "");
    char *seg, *last, *eq;

    for (seg = apr_strtok(copy, "/", &last); seg;
         seg = apr_strtok(NULL, "/", &last)) {
        eq = strchr(seg, '=');
        if (eq && eq != seg) {
            *eq++ = '\0';
            ap_unescape_all(seg);
            ap_unescape_all(eq);
            set_opt(r, o, seg, eq, "path");
            continue;
        }
        ap_unescape_all(seg);
        route = apr_pstrcat(r->pool, route, "/", seg, NULL);
    }
    return *route ? route : "/";
}

/* "X-Mock-Retry-After" and "X-Mock-Retry_After" both mean retry_after. */
static void opts_from_headers(request_rec *r, mock_opts *o)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_size_t plen = strlen(MOCK_HEADER_PREFIX);
    char *name, *p;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (!e[i].key || !e[i].val
            || strncasecmp(e[i].key, MOCK_HEADER_PREFIX, plen)) {
            continue;
        }
        name = apr_pstrdup(r->pool, e[i].key + plen);
        for (p = name; *p; p++) {
            *p = *p == '-' ? '_' : apr_tolower(*p);
        }
        set_opt(r, o, name, e[i].val, "header");
    }
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    apr_size_t ls = strlen(s), lx = strlen(suffix);

    return ls >= lx && !strcmp(s + ls - lx, suffix);
}

static const char *random_id(apr_pool_t *p, const char *prefix,
                             apr_size_t hex_len)
{
    unsigned char raw[32];
    char hex[2 * sizeof(raw) + 1];

    if (hex_len > 2 * sizeof(raw)) {
        hex_len = 2 * sizeof(raw);
    }
    ap_random_insecure_bytes(raw, sizeof(raw));
    ap_bin2hex(raw, sizeof(raw), hex);
    hex[hex_len] = '\0';
    return apr_pstrcat(p, prefix, hex, NULL);
}

static void sleep_ms(apr_int64_t ms)
{
    if (ms > 0) {
        apr_sleep(apr_time_from_msec(ms));
    }
}

static void jadd(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static json_object *jstr(const char *s)
{
    return json_object_new_string(s);
}

static json_object *jint(apr_int64_t v)
{
    return json_object_new_int64(v);
}

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object)
        || !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return v;
}

static const char *string_member(json_object *o, const char *key,
                                 const char *dflt)
{
    json_object *v = member(o, key);

    return json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : dflt;
}

static int bool_member(json_object *o, const char *key)
{
    json_object *v = member(o, key);

    return v ? json_object_get_boolean(v) : 0;
}

/* Prompt text bytes of a request value: strings by length, token ids as
 * four bytes each (one token), objects only by their "content" and "text"
 * members (chat messages, content parts, Responses API input items). */
static apr_size_t prompt_bytes(json_object *v)
{
    apr_size_t n = 0, i;

    switch (json_object_get_type(v)) {
    case json_type_string:
        return (apr_size_t)json_object_get_string_len(v);
    case json_type_int:
        return 4;
    case json_type_array:
        for (i = 0; i < json_object_array_length(v); i++) {
            n += prompt_bytes(json_object_array_get_idx(v, i));
        }
        return n;
    case json_type_object:
        return prompt_bytes(member(v, "content"))
               + prompt_bytes(member(v, "text"));
    default:
        return 0;
    }
}

/* A deterministic stand-in for a tokenizer: about four bytes a token. */
static apr_int64_t tokens_for_bytes(apr_size_t bytes)
{
    return bytes < 8 ? 1 : (apr_int64_t)(bytes / 4);
}

/* ------------------------------------------------------------------ */
/* Sending whole responses                                             */
/* ------------------------------------------------------------------ */

/* httpd answers 500 for a status it has no reason phrase for (418, 499,
 * 529...) unless the status line is given; an empty phrase is valid. */
static void set_status(request_rec *r, int status)
{
    r->status = status;
    if (atoi(ap_get_status_line(status)) != status) {
        r->status_line = apr_psprintf(r->pool, "%d ", status);
    }
}

static int send_json(request_rec *r, int status, json_object *o)
{
    size_t len;
    const char *s = json_object_to_json_string_length(o, MOCK_JSON_FLAGS,
                                                      &len);

    set_status(r, status);
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(s, (int)len, r);
    }
    json_object_put(o);
    return OK;
}

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

    return send_json(ctx->r, e->status, body);
}

static int send_bad_request(mock_ctx *ctx, const char *message)
{
    mock_error e = { HTTP_BAD_REQUEST, message, "invalid_request_error",
                     NULL, NULL };

    return send_error(ctx, &e);
}

/* ------------------------------------------------------------------ */
/* Faults                                                              */
/* ------------------------------------------------------------------ */

/* The texts OpenAI (or, for 404, vLLM) really sends for these statuses. */
static const char *fault_message(const mock_ctx *ctx, int status,
                                 const char *model)
{
    apr_pool_t *p = ctx->r->pool;

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

/* The model is only used in messages: a body that is not JSON still gets
 * its forced error. */
static const char *model_of_body(mock_ctx *ctx)
{
    json_object *req = json_tokener_parse(ctx->body);
    const char *model;

    model = apr_pstrdup(ctx->r->pool,
                        string_member(req, "model", MOCK_DEFAULT_MODEL));
    json_object_put(req);
    return model;
}

static int send_fault(mock_ctx *ctx)
{
    int status = (int)ctx->opts.status;
    mock_error e;

    e.status = status;
    e.message = fault_message(ctx, status, model_of_body(ctx));
    e.type = fault_type(status);
    e.code = fault_code(status);
    e.route_detail = NULL;
    if (ctx->opts.retry_after) {
        apr_table_setn(ctx->r->headers_out, "Retry-After",
                       ctx->opts.retry_after);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, "LLMMOCK004: "
                  "answering with forced status %d", status);
    return send_error(ctx, &e);
}

static int peer_closed(apr_socket_t *sock)
{
    apr_os_sock_t fd;
    char b;
    ssize_t n;

    if (apr_os_sock_get(&fd, sock) != APR_SUCCESS || fd < 0) {
        return 1;
    }
    n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) {
        return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    }
    return n == 0;
}

/* Closes the client connection under httpd's feet.  With "rst" the close
 * is abortive (SO_LINGER 0): the peer gets a RST instead of a FIN.
 * Marking the connection aborted makes httpd drop whatever it still
 * wants to write, and close_socket in the MPM skips a closed socket. */
static void drop_connection(request_rec *r, int rst)
{
    conn_rec *c = r->connection;
    apr_socket_t *sock = ap_get_conn_socket(c);
    apr_os_sock_t fd;
    struct linger lg;

    c->keepalive = AP_CONN_CLOSE;
    c->aborted = 1;
    if (!sock) {
        return;
    }
    if (rst && apr_os_sock_get(&fd, sock) == APR_SUCCESS && fd >= 0) {
        lg.l_onoff = 1;
        lg.l_linger = 0;
        if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) < 0) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, errno, r, "LLMMOCK005: "
                          "could not set SO_LINGER for a reset");
        }
    }
    apr_socket_close(sock);
}

/* Sleeps in slices rather than once so that a client that gave up frees
 * the worker early; MSG_PEEK sees its FIN without eating any data. */
static int hang_up(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    apr_socket_t *sock = ap_get_conn_socket(r->connection);
    apr_int64_t waited = 0;

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "LLMMOCK006: "
                  "hanging for up to %" APR_INT64_T_FMT " ms",
                  ctx->opts.hang_ms);
    while (waited < ctx->opts.hang_ms) {
        sleep_ms(MOCK_HANG_SLICE_MS);
        waited += MOCK_HANG_SLICE_MS;
        if (sock && peer_closed(sock)) {
            break;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "LLMMOCK011: "
                  "hang over after %" APR_INT64_T_FMT " ms, closing", waited);
    drop_connection(r, 0);
    return OK;
}

static int reset_connection(mock_ctx *ctx)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ctx->r, "LLMMOCK007: "
                  "resetting the connection before answering");
    drop_connection(ctx->r, 1);
    return OK;
}

/* ------------------------------------------------------------------ */
/* Request body                                                        */
/* ------------------------------------------------------------------ */

static void append_body(mock_ctx *ctx, const char *data, apr_size_t len,
                        apr_size_t *size)
{
    char *grown;

    if (ctx->body_len + len + 1 > *size) {
        *size = (ctx->body_len + len + 1) * 2;
        grown = apr_palloc(ctx->r->pool, *size);
        memcpy(grown, ctx->body, ctx->body_len);
        ctx->body = grown;
    }
    memcpy(ctx->body + ctx->body_len, data, len);
    ctx->body_len += len;
    ctx->body[ctx->body_len] = '\0';
}

/* Reads the whole body into memory (capped, the mock is not a sink). */
static int read_body(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    apr_bucket_brigade *bb;
    apr_bucket *b;
    apr_size_t size = 8192, len;
    const char *data;
    apr_status_t rv;
    int seen_eos = 0;
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_int64_t announced = cl ? apr_atoi64(cl) : 0;

    /* Refuse before reading, so the client is not sent 100-continue. */
    if (announced > MOCK_MAX_BODY) {
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (announced > 0) {
        size = (apr_size_t)announced + 1;
    }
    ctx->body = apr_palloc(r->pool, size);
    ctx->body[0] = '\0';
    ctx->body_len = 0;
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!seen_eos) {
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            }
            if (ctx->body_len + len > MOCK_MAX_BODY) {
                return HTTP_REQUEST_ENTITY_TOO_LARGE;
            }
            append_body(ctx, data, len, &size);
        }
        apr_brigade_cleanup(bb);
    }
    return OK;
}

static apr_status_t release_json(void *o)
{
    json_object_put(o);
    return APR_SUCCESS;
}

/* Strict, whole-body parse: trailing garbage is an error as in Python. */
static json_object *parse_body(mock_ctx *ctx)
{
    json_tokener *tok = json_tokener_new_ex(MOCK_JSON_DEPTH);
    json_object *req;
    size_t end;

    if (!tok) {
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    req = json_tokener_parse_ex(tok, ctx->body, (int)ctx->body_len);
    end = json_tokener_get_parse_end(tok);
    if (req && json_tokener_get_error(tok) == json_tokener_success) {
        while (end < ctx->body_len && apr_isspace(ctx->body[end])) {
            end++;
        }
    }
    if (req && (end != ctx->body_len
                || !json_object_is_type(req, json_type_object))) {
        json_object_put(req);
        req = NULL;
    }
    json_tokener_free(tok);
    if (req) {
        apr_pool_cleanup_register(ctx->r->pool, req, release_json,
                                  apr_pool_cleanup_null);
    }
    return req;
}

/* ------------------------------------------------------------------ */
/* Echo                                                                */
/* ------------------------------------------------------------------ */

static json_object *headers_object(request_rec *r)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    json_object *o = json_object_new_object();
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (e[i].key) {
            jadd(o, e[i].key, jstr(e[i].val ? e[i].val : ""));
        }
    }
    return o;
}

/* The raw (still encoded) path is reported: tests want to see exactly
 * what the gateway put on the wire. */
static int send_echo(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    json_object *o = json_object_new_object();

    jadd(o, "method", jstr(r->method));
    jadd(o, "uri", jstr(raw_path(r)));
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
    return send_json(r, HTTP_OK, o);
}

/* ------------------------------------------------------------------ */
/* The reply text                                                      */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *id;
    apr_int64_t created;
    const char *model;
    const char *text;
    const char **pieces;
    int npieces;
    apr_int64_t prompt_tokens;
    int stream;
    int include_usage;
} mock_reply;

static int utf8_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Splits text into at most "want" non-empty pieces of about equal byte
 * size, cutting only at the start of a UTF-8 sequence.  Fewer pieces come
 * out when the text has fewer characters; none when it is empty. */
static const char **split_text(apr_pool_t *p, const char *text, int want,
                               int *count)
{
    apr_size_t len = strlen(text), pos = 0, start = 0, target;
    int nchars = 0, n, k, chars_before = 0;
    const char **pieces;

    for (pos = 0; pos < len; pos++) {
        nchars += !utf8_continuation((unsigned char)text[pos]);
    }
    n = want < nchars ? want : nchars;
    pieces = apr_pcalloc(p, (n + 1) * sizeof(*pieces));
    pos = 0;
    for (k = 0; k < n; k++) {
        target = k == n - 1 ? len : len * (apr_size_t)(k + 1) / n;
        /* One character at least, and one left for each later piece. */
        do {
            pos++;
            while (pos < len && utf8_continuation((unsigned char)text[pos])) {
                pos++;
            }
            chars_before++;
        } while (pos < target && nchars - chars_before > n - k - 1);
        pieces[k] = apr_pstrndup(p, text + start, pos - start);
        start = pos;
    }
    *count = n;
    return pieces;
}

static void prepare_reply(mock_ctx *ctx, json_object *req,
                          const char *id_prefix, mock_reply *rp)
{
    request_rec *r = ctx->r;

    rp->id = random_id(r->pool, id_prefix, 32);
    rp->created = (apr_int64_t)apr_time_sec(r->request_time);
    rp->model = string_member(req, "model", MOCK_DEFAULT_MODEL);
    rp->text = ctx->opts.content;
    rp->pieces = split_text(r->pool, rp->text, (int)ctx->opts.chunks,
                            &rp->npieces);
    rp->prompt_tokens = 1;
    rp->stream = bool_member(req, "stream");
    rp->include_usage = bool_member(member(req, "stream_options"),
                                    "include_usage");
}

static json_object *usage_object(const mock_reply *rp, int with_details)
{
    json_object *u = json_object_new_object();

    jadd(u, "prompt_tokens", jint(rp->prompt_tokens));
    jadd(u, "total_tokens", jint(rp->prompt_tokens + rp->npieces));
    jadd(u, "completion_tokens", jint(rp->npieces));
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

/* ------------------------------------------------------------------ */
/* Streaming                                                           */
/* ------------------------------------------------------------------ */

typedef struct {
    mock_ctx *ctx;
    apr_bucket_brigade *bb;
    int pieces_sent;
    int done;                   /* dropped, or the client went away */
    apr_int64_t seq;            /* Responses API sequence_number */
} mock_stream;

static apr_status_t stream_write(mock_stream *st, const char *event,
                                 const char *data)
{
    request_rec *r = st->ctx->r;
    apr_status_t rv;

    if (event) {
        apr_brigade_putstrs(st->bb, NULL, NULL, "event: ", event, "\n",
                            NULL);
    }
    apr_brigade_putstrs(st->bb, NULL, NULL, "data: ", data, "\n\n", NULL);
    APR_BRIGADE_INSERT_TAIL(st->bb, apr_bucket_flush_create(
                                        r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, st->bb);
    apr_brigade_cleanup(st->bb);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "LLMMOCK008: "
                      "client went away in the middle of a stream");
        st->done = 1;
    }
    return rv;
}

/* Status and headers leave at once, as with vLLM's StreamingResponse, so
 * that ttfb and drop_after=0 mean what they say. */
static void stream_begin(mock_ctx *ctx, mock_stream *st)
{
    request_rec *r = ctx->r;

    memset(st, 0, sizeof(*st));
    st->ctx = ctx;
    st->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    r->status = HTTP_OK;
    ap_set_content_type(r, "text/event-stream; charset=utf-8");
    /* mod_deflate would hold events back to fill its window. */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    APR_BRIGADE_INSERT_TAIL(st->bb, apr_bucket_flush_create(
                                        r->connection->bucket_alloc));
    if (ap_pass_brigade(r->output_filters, st->bb) != APR_SUCCESS) {
        st->done = 1;
    }
    apr_brigade_cleanup(st->bb);
}

/* Sends one JSON event and releases it.  The stamp is taken as late as
 * possible so that a test measures delivery, not our own work. */
static void stream_send(mock_stream *st, const char *event, json_object *o)
{
    if (!st->done) {
        if (st->ctx->opts.stamp) {
            jadd(o, "mock_sent_us", jint(apr_time_now()));
        }
        stream_write(st, event, json_object_to_json_string_ext(
                                    o, MOCK_JSON_FLAGS));
    }
    json_object_put(o);
}

static void stream_check_drop(mock_stream *st)
{
    if (!st->done && st->ctx->opts.drop_after >= 0
        && st->pieces_sent >= st->ctx->opts.drop_after) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, st->ctx->r, "LLMMOCK009: "
                      "dropping the connection after %d content events",
                      st->pieces_sent);
        drop_connection(st->ctx->r, (int)st->ctx->opts.drop_rst);
        st->done = 1;
    }
}

/* A content event: the drop check and the delay come before it. */
static void stream_piece(mock_stream *st, const char *event, json_object *o)
{
    stream_check_drop(st);
    if (!st->done) {
        sleep_ms(st->ctx->opts.delay_ms);
    }
    stream_send(st, event, o);
    if (!st->done) {
        st->pieces_sent++;
    }
}

static void stream_done_marker(mock_stream *st)
{
    if (!st->done) {
        stream_write(st, NULL, "[DONE]");
    }
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
    stream_send(&st, NULL, chat_chunk(rp, content_delta("assistant", ""),
                                      NULL));
    for (i = 0; i < rp->npieces; i++) {
        stream_piece(&st, NULL, chat_chunk(rp, content_delta(NULL,
                                                             rp->pieces[i]),
                                           NULL));
    }
    stream_check_drop(&st);
    stream_send(&st, NULL, chat_chunk(rp, content_delta(NULL, ""), "stop"));
    if (rp->include_usage) {
        stream_send(&st, NULL, usage_chunk(rp, "chat.completion.chunk"));
    }
    stream_done_marker(&st);
    return OK;
}

static json_object *chat_completion(const mock_reply *rp)
{
    json_object *o = reply_head(rp, "chat.completion");
    json_object *choice = json_object_new_object();
    json_object *msg = json_object_new_object();

    jadd(msg, "role", jstr("assistant"));
    jadd(msg, "reasoning_content", NULL);
    jadd(msg, "content", jstr(rp->text));
    jadd(msg, "tool_calls", json_object_new_array());
    jadd(choice, "index", jint(0));
    jadd(choice, "message", msg);
    jadd(choice, "logprobs", NULL);
    jadd(choice, "finish_reason", jstr("stop"));
    jadd(choice, "stop_reason", NULL);
    jadd(o, "choices", single_choice(choice));
    jadd(o, "usage", usage_object(rp, 1));
    jadd(o, "prompt_logprobs", NULL);
    jadd(o, "kv_transfer_params", NULL);
    return o;
}

static int chat_completions(mock_ctx *ctx, json_object *req)
{
    mock_reply rp;

    prepare_reply(ctx, req, "chatcmpl-", &rp);
    rp.prompt_tokens = tokens_for_bytes(prompt_bytes(member(req,
                                                            "messages")));
    if (rp.stream) {
        return chat_stream(ctx, &rp);
    }
    return send_json(ctx->r, HTTP_OK, chat_completion(&rp));
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
        stream_piece(&st, NULL, text_chunk(rp, rp->pieces[i], NULL));
    }
    stream_check_drop(&st);
    stream_send(&st, NULL, text_chunk(rp, "", "stop"));
    if (rp->include_usage) {
        stream_send(&st, NULL, usage_chunk(rp, "text_completion"));
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

static int completions(mock_ctx *ctx, json_object *req)
{
    mock_reply rp;

    prepare_reply(ctx, req, "cmpl-", &rp);
    rp.prompt_tokens = tokens_for_bytes(prompt_bytes(member(req, "prompt")));
    if (rp.stream) {
        return text_stream(ctx, &rp);
    }
    return send_json(ctx->r, HTTP_OK, text_completion(&rp));
}

/* ------------------------------------------------------------------ */
/* POST /v1/embeddings                                                 */
/* ------------------------------------------------------------------ */

/* Newton's method: the module must not need libm at load time. */
static double square_root(double x)
{
    double g = x > 1.0 ? x : 1.0, next;
    int i;

    if (x <= 0.0) {
        return 0.0;
    }
    for (i = 0; i < 200; i++) {
        next = 0.5 * (g + x / g);
        if (next >= g) {
            break;
        }
        g = next;
    }
    return g;
}

static apr_uint64_t splitmix64(apr_uint64_t *state)
{
    apr_uint64_t z = (*state += APR_UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * APR_UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * APR_UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* A unit vector that depends on the text only, like a real (normalised)
 * embedding; float32 as vLLM computes them. */
static void embed_text(const char *text, apr_size_t len, float *out, int dim)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325);
    double sum = 0.0, norm;
    apr_size_t i;
    int d;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)text[i]) * APR_UINT64_C(0x100000001b3);
    }
    for (d = 0; d < dim; d++) {
        out[d] = (float)((double)(splitmix64(&h) >> 11)
                         / 4503599627370496.0 - 1.0);
        sum += (double)out[d] * out[d];
    }
    norm = square_root(sum);
    for (d = 0; d < dim && norm > 0.0; d++) {
        out[d] = (float)(out[d] / norm);
    }
}

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

static int embedding_dim(mock_ctx *ctx, json_object *req)
{
    json_object *v = member(req, "dimensions");
    apr_int64_t d;

    if (ctx->opts.dim > 0) {
        return (int)ctx->opts.dim;
    }
    if (json_object_is_type(v, json_type_int)) {
        d = json_object_get_int64(v);
        if (d >= 1 && d <= 65536) {
            return (int)d;
        }
    }
    return MOCK_DEFAULT_DIM;
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
        embed_text(text, len, v, dim);
        *bytes += prompt_bytes(item);
        e = json_object_new_object();
        jadd(e, "index", jint((apr_int64_t)i));
        jadd(e, "object", jstr("embedding"));
        jadd(e, "embedding", embedding_values(p, v, dim, base64));
        json_object_array_add(data, e);
    }
    return data;
}

static int embeddings(mock_ctx *ctx, json_object *req)
{
    const char *format = string_member(req, "encoding_format", "float");
    json_object *items = embedding_items(member(req, "input"));
    json_object *o, *u, *data;
    mock_reply rp;
    apr_size_t bytes;

    if (!items) {
        return send_bad_request(ctx, "'input' must be a string, an array "
                                "of strings, or an array of token arrays.");
    }
    if (strcmp(format, "float") && strcmp(format, "base64")) {
        json_object_put(items);
        return send_bad_request(ctx, "'encoding_format' must be 'float' or "
                                "'base64'.");
    }
    prepare_reply(ctx, req, "embd-", &rp);
    data = embedding_data(ctx, items, embedding_dim(ctx, req),
                          !strcmp(format, "base64"), &bytes);
    json_object_put(items);
    rp.prompt_tokens = tokens_for_bytes(bytes);
    o = reply_head(&rp, "list");
    jadd(o, "data", data);
    u = json_object_new_object();
    jadd(u, "prompt_tokens", jint(rp.prompt_tokens));
    jadd(u, "total_tokens", jint(rp.prompt_tokens));
    jadd(u, "completion_tokens", jint(0));
    jadd(u, "prompt_tokens_details", NULL);
    jadd(o, "usage", u);
    return send_json(ctx->r, HTTP_OK, o);
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
    stream_send(st, type, o);
}

static void send_output_item(mock_stream *st, const char *type,
                             const char *msg_id, const char *text)
{
    json_object *o = response_event(st, type);

    jadd(o, "output_index", jint(0));
    jadd(o, "item", message_item(msg_id, text));
    stream_send(st, type, o);
}

static void send_content_part(mock_stream *st, const char *type,
                              const char *msg_id, const char *text)
{
    json_object *o = part_event(st, type, msg_id);

    jadd(o, "part", output_text_part(text));
    stream_send(st, type, o);
}

static void send_text_event(mock_stream *st, const char *type,
                            const char *msg_id, const char *key,
                            const char *text, int is_piece)
{
    json_object *o = part_event(st, type, msg_id);

    jadd(o, key, jstr(text));
    jadd(o, "logprobs", json_object_new_array());
    if (is_piece) {
        stream_piece(st, type, o);
    }
    else {
        stream_send(st, type, o);
    }
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
    stream_check_drop(&st);
    send_text_event(&st, "response.output_text.done", msg_id, "text",
                    rp->text, 0);
    send_content_part(&st, "response.content_part.done", msg_id, rp->text);
    send_output_item(&st, "response.output_item.done", msg_id, rp->text);
    send_response_state(&st, "response.completed", rp, msg_id);
    return OK;
}

static int responses(mock_ctx *ctx, json_object *req)
{
    const char *msg_id = random_id(ctx->r->pool, "msg_", 48);
    mock_reply rp;

    prepare_reply(ctx, req, "resp_", &rp);
    rp.id = random_id(ctx->r->pool, "resp_", 48);
    rp.prompt_tokens = tokens_for_bytes(prompt_bytes(member(req, "input"))
                                        + prompt_bytes(member(req,
                                                       "instructions")));
    if (rp.stream) {
        return responses_stream(ctx, &rp, msg_id);
    }
    return send_json(ctx->r, HTTP_OK, response_object(&rp, msg_id));
}

/* ------------------------------------------------------------------ */
/* GET /v1/models, GET /health                                         */
/* ------------------------------------------------------------------ */

static int models(mock_ctx *ctx, json_object *req)
{
    json_object *o = json_object_new_object();
    json_object *m = json_object_new_object();
    json_object *data = json_object_new_array();

    (void)req;
    jadd(m, "id", jstr(MOCK_DEFAULT_MODEL));
    jadd(m, "object", jstr("model"));
    jadd(m, "created", jint(apr_time_sec(ctx->r->request_time)));
    jadd(m, "owned_by", jstr("vllm"));
    jadd(m, "root", jstr(MOCK_DEFAULT_MODEL));
    jadd(m, "parent", NULL);
    jadd(m, "max_model_len", jint(4096));
    json_object_array_add(data, m);
    jadd(o, "object", jstr("list"));
    jadd(o, "data", data);
    return send_json(ctx->r, HTTP_OK, o);
}

static int health(mock_ctx *ctx, json_object *req)
{
    (void)req;
    ctx->r->status = HTTP_OK;
    ap_set_content_length(ctx->r, 0);
    return OK;
}

/* ------------------------------------------------------------------ */
/* Routing                                                             */
/* ------------------------------------------------------------------ */

typedef int (*mock_endpoint_fn)(mock_ctx *ctx, json_object *req);

typedef struct {
    const char *suffix;
    int method;                 /* M_GET also covers HEAD */
    const char *allow;
    mock_endpoint_fn fn;
} mock_endpoint;

static const mock_endpoint mock_endpoints[] = {
    { "/v1/chat/completions", M_POST, "POST", chat_completions },
    { "/v1/completions",      M_POST, "POST", completions },
    { "/v1/embeddings",       M_POST, "POST", embeddings },
    { "/v1/responses",        M_POST, "POST", responses },
    { "/v1/models",           M_GET,  "GET, HEAD", models },
    { "/health",              M_GET,  "GET, HEAD", health },
};

static const mock_endpoint *find_endpoint(const char *route)
{
    apr_size_t i;

    for (i = 0; i < sizeof(mock_endpoints) / sizeof(mock_endpoints[0]);
         i++) {
        if (ends_with(route, mock_endpoints[i].suffix)) {
            return &mock_endpoints[i];
        }
    }
    return NULL;
}

/* The texts are OpenAI's for an unknown URL or method. */
static int send_route_error(mock_ctx *ctx, int status, const char *detail)
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

static int dispatch(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    const mock_endpoint *ep = find_endpoint(ctx->route);
    json_object *req = NULL;

    if (!ep) {
        return send_route_error(ctx, HTTP_NOT_FOUND, "Not Found");
    }
    if (r->method_number != ep->method) {
        apr_table_setn(r->headers_out, "Allow", ep->allow);
        return send_route_error(ctx, HTTP_METHOD_NOT_ALLOWED,
                                "Method Not Allowed");
    }
    if (ep->method == M_POST) {
        req = parse_body(ctx);
        if (!req) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "LLMMOCK010: "
                          "request body is not a JSON object");
            return send_bad_request(ctx, "We could not parse the JSON body "
                                    "of your request. (HINT: This likely "
                                    "means you aren't using your HTTP "
                                    "library correctly. The OpenAI API "
                                    "expects a JSON payload, but what was "
                                    "sent was not valid JSON.)");
        }
    }
    return ep->fn(ctx, req);
}

/* Order matters: ttfb delays everything, then the faults (hang, reset,
 * status) win over echo, as a broken server does not echo; and a fault
 * beats the endpoint (so a base URL with status=503 fails every call
 * made under it). */
static int llm_mock_handler(request_rec *r)
{
    mock_ctx ctx;
    int rv;

    if (!r->handler || strcmp(r->handler, MOCK_HANDLER)) {
        return DECLINED;
    }
    ctx.r = r;
    default_opts(&ctx.opts);
    ctx.route = opts_from_path(r, &ctx.opts);
    opts_from_headers(r, &ctx.opts);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "LLMMOCK001: "
                  "%s %s routed as %s", r->method, r->uri, ctx.route);

    rv = read_body(&ctx);
    if (rv == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        mock_error e = { rv, "Request body too large for the mock "
                         "upstream (64 MiB).", "invalid_request_error",
                         NULL, NULL };

        r->connection->keepalive = AP_CONN_CLOSE;
        return send_error(&ctx, &e);
    }
    if (rv != OK) {
        return rv;
    }
    sleep_ms(ctx.opts.ttfb_ms);
    /* Faults first: a broken server does not echo. */
    if (ctx.opts.hang) {
        return hang_up(&ctx);
    }
    if (ctx.opts.reset) {
        return reset_connection(&ctx);
    }
    if (ctx.opts.status >= 400) {
        return send_fault(&ctx);
    }
    if (ctx.opts.echo || ends_with(ctx.route, "/echo")) {
        return send_echo(&ctx);
    }
    return dispatch(&ctx);
}

static void llm_mock_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(llm_mock_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_mock) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* per-directory config creator */
    NULL,                       /* dir config merger */
    NULL,                       /* server config creator */
    NULL,                       /* server config merger */
    NULL,                       /* command table */
    llm_mock_register_hooks,    /* set up other request processing hooks */
    AP_MODULE_FLAG_NONE         /* flags */
};
