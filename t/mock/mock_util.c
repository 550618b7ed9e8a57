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
 * mock_util.c: the knobs, small helpers, whole answers, the request body,
 * connection faults and the streaming writer, shared by every API the
 * mock speaks.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/socket.h>

#include "apr_lib.h"
#include "apr_portable.h"

#include "mock.h"

/* ------------------------------------------------------------------ */
/* Knobs                                                               */
/* ------------------------------------------------------------------ */

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
    { "stream_error", MOCK_OPT_FLAG,  offsetof(mock_opts, stream_error),
      0, 1 },
    { "bad_event",   MOCK_OPT_NUMBER, offsetof(mock_opts, bad_event),
      0, INT_MAX },
    { "no_done",     MOCK_OPT_FLAG,   offsetof(mock_opts, no_done),
      0, 1 },
    { "ping",        MOCK_OPT_NUMBER, offsetof(mock_opts, ping),
      0, 1000000 },
    { "ping_ms",     MOCK_OPT_NUMBER, offsetof(mock_opts, ping_ms),
      0, MOCK_MAX_MS },
    { "ping_pad",    MOCK_OPT_NUMBER, offsetof(mock_opts, ping_pad),
      0, 1048576 },
    { "nul",         MOCK_OPT_TEXT,   offsetof(mock_opts, nul),
      0, 0 },
    { "tool",        MOCK_OPT_TEXT,   offsetof(mock_opts, tool),
      0, 0 },
    { "tool_args",   MOCK_OPT_TEXT,   offsetof(mock_opts, tool_args),
      0, 0 },
    { "think",       MOCK_OPT_TEXT,   offsetof(mock_opts, think),
      0, 0 },
    { "models",      MOCK_OPT_TEXT,   offsetof(mock_opts, models),
      0, 0 },
    { "require_key", MOCK_OPT_TEXT,   offsetof(mock_opts, require_key),
      0, 0 },
    { "record",      MOCK_OPT_TEXT,   offsetof(mock_opts, record),
      0, 0 },
    { "stream_mode", MOCK_OPT_TEXT,   offsetof(mock_opts, stream_mode),
      0, 0 },
    { "hits",        MOCK_OPT_TEXT,   offsetof(mock_opts, hits), 0, 0 },
    { "fail_first",  MOCK_OPT_NUMBER, offsetof(mock_opts, fail_first),
      0, 1000000 },
    { "error_message", MOCK_OPT_TEXT, offsetof(mock_opts, error_message),
      0, 0 },
};

void mock_default_opts(mock_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->hang_ms = MOCK_DEFAULT_HANG_MS;
    o->chunks = MOCK_DEFAULT_CHUNKS;
    o->drop_after = -1;
    o->bad_event = -1;
    o->drop_rst = 1;
    o->content = MOCK_DEFAULT_CONTENT;
    o->error_style = "openai";
    o->tool_args = MOCK_DEFAULT_TOOL_ARGS;
    o->fail_first = -1;
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
const char *mock_raw_path(request_rec *r)
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
const char *mock_opts_from_path(request_rec *r, mock_opts *o)
{
    char *copy = apr_pstrdup(r->pool, mock_raw_path(r));
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
void mock_opts_from_headers(request_rec *r, mock_opts *o)
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

int mock_model_served(const mock_ctx *ctx, const char *model)
{
    char *list, *name, *last;
    apr_size_t mlen = strlen(model);

    if (!ctx->opts.models) {
        return 1;
    }
    list = apr_pstrdup(ctx->r->pool, ctx->opts.models);
    for (name = apr_strtok(list, ", ", &last); name;
         name = apr_strtok(NULL, ", ", &last)) {
        if (!strcmp(name, model)
            || (!strncmp(name, model, mlen) && !strcmp(name + mlen,
                                                       ":latest"))
            || (!strncmp(model, name, strlen(name))
                && !strcmp(model + strlen(name), ":latest"))) {
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

int mock_ends_with(const char *s, const char *suffix)
{
    apr_size_t ls = strlen(s), lx = strlen(suffix);

    return ls >= lx && !strcmp(s + ls - lx, suffix);
}

const char *mock_random_id(apr_pool_t *p, const char *prefix,
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

const char *mock_random_b62(apr_pool_t *p, const char *prefix,
                            apr_size_t len)
{
    static const char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char raw[64];
    char out[sizeof(raw) + 1];
    apr_size_t i;

    if (len > sizeof(raw)) {
        len = sizeof(raw);
    }
    ap_random_insecure_bytes(raw, sizeof(raw));
    for (i = 0; i < len; i++) {
        out[i] = digits[raw[i] % 62];
    }
    out[len] = '\0';
    return apr_pstrcat(p, prefix, out, NULL);
}

void mock_sleep_ms(apr_int64_t ms)
{
    if (ms > 0) {
        apr_sleep(apr_time_from_msec(ms));
    }
}

void mock_jadd(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

json_object *mock_jstr(const char *s)
{
    return json_object_new_string(s);
}

json_object *mock_jint(apr_int64_t v)
{
    return json_object_new_int64(v);
}

json_object *mock_member(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object)
        || !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return v;
}

const char *mock_string_member(json_object *o, const char *key,
                               const char *dflt)
{
    json_object *v = mock_member(o, key);

    return json_object_is_type(v, json_type_string)
           ? json_object_get_string(v) : dflt;
}

int mock_bool_member(json_object *o, const char *key)
{
    json_object *v = mock_member(o, key);

    return v ? json_object_get_boolean(v) : 0;
}

/* Prompt text bytes of a request value: strings by length, token ids as
 * four bytes each (one token), objects only by their "content" and "text"
 * members (chat messages, content parts, Responses API input items). */
apr_size_t mock_prompt_bytes(json_object *v)
{
    apr_size_t n = 0, i;

    switch (json_object_get_type(v)) {
    case json_type_string:
        return (apr_size_t)json_object_get_string_len(v);
    case json_type_int:
        return 4;
    case json_type_array:
        for (i = 0; i < json_object_array_length(v); i++) {
            n += mock_prompt_bytes(json_object_array_get_idx(v, i));
        }
        return n;
    case json_type_object:
        return mock_prompt_bytes(mock_member(v, "content"))
               + mock_prompt_bytes(mock_member(v, "text"));
    default:
        return 0;
    }
}

/* A deterministic stand-in for a tokenizer: about four bytes a token. */
apr_int64_t mock_tokens_for_bytes(apr_size_t bytes)
{
    return bytes < 8 ? 1 : (apr_int64_t)(bytes / 4);
}

static int utf8_continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Splits text into at most "want" non-empty pieces of about equal byte
 * size, cutting only at the start of a UTF-8 sequence.  Fewer pieces come
 * out when the text has fewer characters; none when it is empty. */
const char **mock_split_text(apr_pool_t *p, const char *text, int want,
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

json_object *mock_tool_args(mock_ctx *ctx)
{
    json_object *o = json_tokener_parse(ctx->opts.tool_args);

    if (json_object_is_type(o, json_type_object)) {
        return o;
    }
    json_object_put(o);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ctx->r, "LLMMOCK012: "
                  "tool_args is not a JSON object, using the default");
    return json_tokener_parse(MOCK_DEFAULT_TOOL_ARGS);
}

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
void mock_embed_text(const char *text, apr_size_t len, float *out, int dim)
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

int mock_embedding_dim(mock_ctx *ctx, json_object *req)
{
    json_object *v = mock_member(req, "dimensions");
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

/* ------------------------------------------------------------------ */
/* Whole answers                                                       */
/* ------------------------------------------------------------------ */

/* httpd answers 500 for a status it has no reason phrase for (418, 499,
 * 529...) unless the status line is given; an empty phrase is valid. */
void mock_set_status(request_rec *r, int status)
{
    r->status = status;
    if (atoi(ap_get_status_line(status)) != status) {
        r->status_line = apr_psprintf(r->pool, "%d ", status);
    }
}

static int send_body(request_rec *r, int status, const char *content_type,
                     const char *s, apr_size_t len)
{
    mock_set_status(r, status);
    ap_set_content_type(r, content_type);
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(s, (int)len, r);
    }
    return OK;
}

int mock_send_json_as(request_rec *r, int status, json_object *o,
                      const char *content_type)
{
    size_t len;
    const char *s = json_object_to_json_string_length(o, MOCK_JSON_FLAGS,
                                                      &len);

    s = mock_nul_text(r, s, &len);
    send_body(r, status, content_type, s, len);
    json_object_put(o);
    return OK;
}

int mock_send_json(request_rec *r, int status, json_object *o)
{
    return mock_send_json_as(r, status, o, "application/json");
}

int mock_send_text(request_rec *r, int status, const char *content_type,
                   const char *text)
{
    return send_body(r, status, content_type, text, strlen(text));
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
int mock_read_body(mock_ctx *ctx)
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
json_object *mock_parse_body(mock_ctx *ctx)
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

/* The model is only used in messages: a body that is not JSON still gets
 * its forced error. */
const char *mock_model_of_body(mock_ctx *ctx)
{
    json_object *req = json_tokener_parse(ctx->body);
    const char *model;

    model = apr_pstrdup(ctx->r->pool,
                        mock_string_member(req, "model",
                                           MOCK_DEFAULT_MODEL));
    json_object_put(req);
    return model;
}

/* ------------------------------------------------------------------ */
/* Connection faults                                                   */
/* ------------------------------------------------------------------ */

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
void mock_drop_connection(request_rec *r, int rst)
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
int mock_hang_up(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    apr_socket_t *sock = ap_get_conn_socket(r->connection);
    apr_int64_t waited = 0;

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "LLMMOCK006: "
                  "hanging for up to %" APR_INT64_T_FMT " ms",
                  ctx->opts.hang_ms);
    while (waited < ctx->opts.hang_ms) {
        mock_sleep_ms(MOCK_HANG_SLICE_MS);
        waited += MOCK_HANG_SLICE_MS;
        if (sock && peer_closed(sock)) {
            break;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "LLMMOCK011: "
                  "hang over after %" APR_INT64_T_FMT " ms, closing", waited);
    mock_drop_connection(r, 0);
    return OK;
}

int mock_reset_connection(mock_ctx *ctx)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ctx->r, "LLMMOCK007: "
                  "resetting the connection before answering");
    mock_drop_connection(ctx->r, 1);
    return OK;
}

/* ------------------------------------------------------------------ */
/* Streaming                                                           */
/* ------------------------------------------------------------------ */

apr_status_t mock_stream_write(mock_stream *st, const char *event,
                               const char *data)
{
    request_rec *r = st->ctx->r;
    apr_status_t rv;

    if (st->framing == MOCK_FRAME_NDJSON) {
        apr_brigade_putstrs(st->bb, NULL, NULL, data, "\n", NULL);
    }
    else {
        if (event) {
            apr_brigade_putstrs(st->bb, NULL, NULL, "event: ", event, "\n",
                                NULL);
        }
        apr_brigade_putstrs(st->bb, NULL, NULL, "data: ", data, "\n\n",
                            NULL);
    }
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
void mock_stream_begin(mock_ctx *ctx, mock_stream *st,
                       const char *content_type, mock_framing framing)
{
    request_rec *r = ctx->r;

    memset(st, 0, sizeof(*st));
    st->ctx = ctx;
    st->framing = framing;
    st->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    r->status = HTTP_OK;
    ap_set_content_type(r, content_type);
    /* mod_deflate would hold events back to fill its window. */
    apr_table_setn(r->subprocess_env, "no-gzip", "1");
    APR_BRIGADE_INSERT_TAIL(st->bb, apr_bucket_flush_create(
                                        r->connection->bucket_alloc));
    if (ap_pass_brigade(r->output_filters, st->bb) != APR_SUCCESS) {
        st->done = 1;
    }
    apr_brigade_cleanup(st->bb);
}

/* The stamp is taken as late as possible so that a test measures
 * delivery, not our own work. */
void mock_stream_send(mock_stream *st, const char *event, json_object *o)
{
    if (!st->done) {
        apr_size_t len;

        if (st->ctx->opts.stamp) {
            mock_jadd(o, "mock_sent_us", mock_jint(apr_time_now()));
        }
        st->last_event = event;
        mock_stream_write(st, event, mock_nul_text(
            st->ctx->r, st->go_json ? mock_go_json(st->ctx->r->pool, o)
                                    : json_object_to_json_string_ext(
                                          o, MOCK_JSON_FLAGS), &len));
    }
    json_object_put(o);
}

/* One event cut in the middle of its JSON, in an otherwise good stream
 * (an SSE event under the name of the one before it, or an NDJSON
 * line). Its text, "BROKEN", must never reach a client. */
static void send_bad_event(mock_stream *st)
{
    st->bad_sent = 1;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, st->ctx->r, "LLMMOCK014: "
                  "sending a malformed event after %d pieces",
                  st->pieces_sent);
    mock_stream_write(st, st->last_event,
                      st->framing == MOCK_FRAME_NDJSON
                      ? "{\"model\":\"BROKEN"
                      : "{\"choices\":[{\"delta\":{\"content\":\"BROKEN");
}

const char *mock_nul_text(request_rec *r, const char *json, apr_size_t *len)
{
    const char *mark = apr_table_get(r->notes, "mock-nul");
    apr_size_t mlen = mark ? strlen(mark) : 0;
    const char *at;
    char *out, *o;

    *len = strlen(json);
    if (!mlen || !strstr(json, mark)) {
        return json;
    }
    /* "\u0000" is six bytes: room for a marker of one byte each time. */
    o = out = apr_palloc(r->pool, *len * 6 + 1);
    while ((at = strstr(json, mark)) != NULL) {
        memcpy(o, json, (apr_size_t)(at - json));
        o += at - json;
        memcpy(o, "\\u0000", 6);
        o += 6;
        json = at + mlen;
    }
    strcpy(o, json);
    *len = (apr_size_t)(o - out) + strlen(json);
    return out;
}

void mock_stream_check_drop(mock_stream *st)
{
    if (!st->done && !st->bad_sent && st->ctx->opts.bad_event >= 0
        && st->pieces_sent >= st->ctx->opts.bad_event) {
        send_bad_event(st);
    }
    if (!st->done && st->ctx->opts.drop_after >= 0
        && st->pieces_sent >= st->ctx->opts.drop_after) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, st->ctx->r, "LLMMOCK009: "
                      "dropping the connection after %d content events",
                      st->pieces_sent);
        mock_drop_connection(st->ctx->r, (int)st->ctx->opts.drop_rst);
        st->done = 1;
    }
}

void mock_stream_pings(mock_stream *st)
{
    request_rec *r = st->ctx->r;
    apr_int64_t pad = st->ctx->opts.ping_pad;
    char *line = apr_palloc(r->pool, (apr_size_t)pad + 10);
    apr_int64_t i;

    memcpy(line, ": ping", 6);
    memset(line + 6, 'x', (apr_size_t)pad);
    memcpy(line + 6 + pad, "\n\n", 3);
    for (i = 0; i < st->ctx->opts.ping && !st->done; i++) {
        mock_sleep_ms(st->ctx->opts.ping_ms);
        apr_brigade_write(st->bb, NULL, NULL, line, (apr_size_t)pad + 8);
        APR_BRIGADE_INSERT_TAIL(st->bb, apr_bucket_flush_create(
                                            r->connection->bucket_alloc));
        if (ap_pass_brigade(r->output_filters, st->bb) != APR_SUCCESS
            || r->connection->aborted) {
            st->done = 1;
        }
        apr_brigade_cleanup(st->bb);
    }
}

void mock_stream_piece(mock_stream *st, const char *event, json_object *o)
{
    mock_stream_check_drop(st);
    if (!st->done) {
        mock_sleep_ms(st->ctx->opts.delay_ms);
    }
    mock_stream_send(st, event, o);
    if (!st->done) {
        st->pieces_sent++;
    }
}

/* ------------------------------------------------------------------ */
/* Go's encoding/json                                                  */
/* ------------------------------------------------------------------ */

/* JSON strings are the only place these bytes can be, so a plain scan
 * is enough. */
const char *mock_go_json(apr_pool_t *p, json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, MOCK_JSON_FLAGS);
    apr_size_t extra = 0, i, n = 0;
    const unsigned char *u = (const unsigned char *)s;
    char *out;

    for (i = 0; u[i]; i++) {
        if (u[i] == '<' || u[i] == '>' || u[i] == '&') {
            extra += 5;
        }
        else if (u[i] == 0xE2 && u[i + 1] == 0x80
                 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
            extra += 3;
        }
    }
    if (!extra) {
        return apr_pstrdup(p, s);
    }
    out = apr_palloc(p, i + extra + 1);
    for (i = 0; u[i]; i++) {
        if (u[i] == '<' || u[i] == '>' || u[i] == '&') {
            n += (apr_size_t)sprintf(out + n, "\\u%04x", u[i]);
        }
        else if (u[i] == 0xE2 && u[i + 1] == 0x80
                 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9)) {
            n += (apr_size_t)sprintf(out + n, "\\u%04x",
                                     u[i + 2] == 0xA8 ? 0x2028 : 0x2029);
            i += 2;
        }
        else {
            out[n++] = (char)u[i];
        }
    }
    out[n] = '\0';
    return out;
}

/* strconv.FormatFloat(v, 'f' or 'e', -1, bits) with encoding/json's
 * choice of format: the shortest digits that read back as the same
 * float32 or float64, fixed notation for 1e-6 <= |v| < 1e21. */
json_object *mock_go_float(double v, int bits)
{
    char sci[40], digits[24], out[64];
    double a = v < 0 ? -v : v;
    int prec, exp10, nd = 0, i, n = 0;
    char *e;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, v);
        if (bits == 32 ? (float)strtod(sci, NULL) == (float)v
                       : strtod(sci, NULL) == v) {
            break;
        }
    }
    /* sci is [-]d[.ddd]e[+-]xx: collect the digits and the exponent. */
    for (i = 0; sci[i] && sci[i] != 'e'; i++) {
        if (apr_isdigit(sci[i]) && nd < (int)sizeof(digits) - 1) {
            digits[nd++] = sci[i];
        }
    }
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }
    digits[nd] = '\0';
    e = strchr(sci, 'e');
    exp10 = e ? atoi(e + 1) : 0;
    if (v < 0) {
        out[n++] = '-';
    }
    if (a != 0.0 && (bits == 32 ? (float)a < 1e-6f || (float)a >= 1e21f
                                : a < 1e-6 || a >= 1e21)) {
        out[n++] = digits[0];
        if (nd > 1) {
            n += snprintf(out + n, sizeof(out) - n, ".%s", digits + 1);
        }
        n += snprintf(out + n, sizeof(out) - n, "e%c%02d",
                      exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        /* encoding/json writes e-07 as e-7. */
        if (n >= 4 && out[n - 4] == 'e' && out[n - 3] == '-'
            && out[n - 2] == '0') {
            out[n - 2] = out[n - 1];
            out[--n] = '\0';
        }
    }
    else if (a == 0.0) {
        out[n++] = '0';
    }
    else if (exp10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (i = 0; i < -exp10 - 1; i++) {
            out[n++] = '0';
        }
        n += snprintf(out + n, sizeof(out) - n, "%s", digits);
    }
    else {
        for (i = 0; i <= exp10; i++) {
            out[n++] = i < nd ? digits[i] : '0';
        }
        if (nd > exp10 + 1) {
            n += snprintf(out + n, sizeof(out) - n, ".%s",
                          digits + exp10 + 1);
        }
    }
    out[n] = '\0';
    return json_object_new_double_s(v, out);
}
