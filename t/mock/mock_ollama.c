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
 * mock_ollama.c: Ollama's native API as Ollama 0.9 answers it.
 *
 * Go's encoding/json writes the structs of ollama/api/types.go: keys in
 * field order, empty optional fields left out ("thinking", "tool_calls",
 * the metrics), <, > and & escaped, float32 embeddings in their shortest
 * form.  Streams (the default when "stream" is absent) are NDJSON, one
 * object a line, each flushed; errors are {"error":"..."}, also in the
 * middle of a stream.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_md5.h"

#include "mock.h"

#define jadd    mock_jadd
#define jstr    mock_jstr
#define jint    mock_jint
#define member  mock_member

#define OLLAMA_VERSION          "0.9.0"
#define OLLAMA_JSON             "application/json; charset=utf-8"
#define OLLAMA_NDJSON           "application/x-ndjson"
#define OLLAMA_MODIFIED_AT      "2025-05-21T09:14:07.391815229+02:00"
#define OLLAMA_STREAM_ERROR     "an error was encountered while running " \
                                "the model: unexpected EOF"
#define OLLAMA_MAX_CONTEXT      4096

/* ------------------------------------------------------------------ */
/* Answers and errors                                                  */
/* ------------------------------------------------------------------ */

static int send_ollama(request_rec *r, int status, json_object *o)
{
    apr_size_t len;
    const char *s = mock_nul_text(r, mock_go_json(r->pool, o), &len);

    json_object_put(o);
    return mock_send_text(r, status, OLLAMA_JSON, s);
}

static int send_ollama_error(mock_ctx *ctx, int status, const char *message)
{
    json_object *o = json_object_new_object();

    jadd(o, "error", jstr(message));
    return send_ollama(ctx->r, status, o);
}

/* Go's %q is close enough to C's quoting for model names. */
static const char *quoted(apr_pool_t *p, const char *s)
{
    const char *c;
    char *out = apr_palloc(p, 2 * strlen(s) + 3), *o = out;

    *o++ = '"';
    for (c = s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
        }
        *o++ = *c;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* The scheduler's words (chat, generate, embeddings) or the model
 * lookup's (embed, show). */
static const char *not_found_message(mock_ctx *ctx, const char *model)
{
    apr_pool_t *p = ctx->r->pool;

    if (mock_ends_with(ctx->route, "/api/embed")
        || mock_ends_with(ctx->route, "/api/show")) {
        return apr_psprintf(p, "model '%s' not found", model);
    }
    return apr_psprintf(p, "model %s not found, try pulling it first",
                        quoted(p, model));
}

static int send_not_found(mock_ctx *ctx, const char *model)
{
    return send_ollama_error(ctx, HTTP_NOT_FOUND,
                             not_found_message(ctx, model));
}

int mock_ollama_fault(mock_ctx *ctx)
{
    int status = (int)ctx->opts.status;
    apr_pool_t *p = ctx->r->pool;
    const char *message;

    if (ctx->opts.retry_after) {
        apr_table_setn(ctx->r->headers_out, "Retry-After",
                       ctx->opts.retry_after);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, "LLMMOCK004: "
                  "answering with forced status %d (Ollama)", status);
    switch (ctx->opts.error_message ? 0 : status) {
    case 0:
        message = ctx->opts.error_message;
        break;
    case 400:
        message = "invalid request (fault injected by the mock upstream)";
        break;
    case 404:
        message = not_found_message(ctx, mock_model_of_body(ctx));
        break;
    case 413:
        message = "http: request body too large";
        break;
    case 499:
        message = "request canceled";
        break;
    case 500:
        message = "llama runner process has terminated: exit status 2";
        break;
    case 503:
        message = "server busy, please try again.  maximum pending "
                  "requests exceeded";
        break;
    default:
        message = apr_psprintf(p, "mock upstream error (HTTP %d)", status);
    }
    return send_ollama_error(ctx, status, message);
}

/* gin's own answer when the path exists for another method. */
int mock_ollama_method_error(mock_ctx *ctx)
{
    return mock_send_text(ctx->r, HTTP_METHOD_NOT_ALLOWED, "text/plain",
                          "405 method not allowed");
}

/* What Go's json.Unmarshal says, roughly. */
int mock_ollama_bad_json(mock_ctx *ctx)
{
    const char *s = ctx->body;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
        s++;
    }
    if (!*s) {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST,
                                 "missing request body");
    }
    if (*s == '{') {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST,
                                 "unexpected EOF");
    }
    if (*s == '[' || *s == '"' || apr_isdigit(*s) || *s == '-') {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST, apr_psprintf(
                                     ctx->r->pool, "json: cannot unmarshal "
                                     "%s into Go value of type "
                                     "api.Request", *s == '[' ? "array"
                                     : *s == '"' ? "string" : "number"));
    }
    return send_ollama_error(ctx, HTTP_BAD_REQUEST, apr_psprintf(
                                 ctx->r->pool, "invalid character '%c' "
                                 "looking for beginning of value", *s));
}

/* ------------------------------------------------------------------ */
/* Values as Go writes them                                            */
/* ------------------------------------------------------------------ */

/* time.Time in RFC 3339 with as many fraction digits as needed. */
static const char *go_time(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;
    char frac[8];
    int n;

    apr_time_exp_gmt(&tm, t);
    snprintf(frac, sizeof(frac), ".%06d", (int)tm.tm_usec);
    for (n = 6; n > 0 && frac[n] == '0'; n--) {
        frac[n] = '\0';
    }
    if (n == 0) {
        frac[0] = '\0';
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy with the keys of every object sorted, as Go writes a map. */
static json_object *sorted_copy(apr_pool_t *p, json_object *v)
{
    json_object *out;
    const char **keys;
    apr_size_t n = 0, i;

    if (json_object_is_type(v, json_type_array)) {
        out = json_object_new_array();
        for (i = 0; i < json_object_array_length(v); i++) {
            json_object_array_add(out, sorted_copy(
                                      p, json_object_array_get_idx(v, i)));
        }
        return out;
    }
    if (!json_object_is_type(v, json_type_object)) {
        return json_object_get(v);
    }
    keys = apr_palloc(p, (json_object_object_length(v) + 1)
                         * sizeof(*keys));
    {
        json_object_object_foreach(v, key, val) {
            (void)val;
            keys[n++] = key;
        }
    }
    qsort(keys, n, sizeof(*keys), cmp_keys);
    out = json_object_new_object();
    for (i = 0; i < n; i++) {
        jadd(out, keys[i], sorted_copy(p, member(v, keys[i])));
    }
    return out;
}

/* Durations are in nanoseconds; zero ones are left out (omitempty), so
 * each is at least 1. */
static apr_int64_t ns_at_least_1(apr_int64_t ns)
{
    return ns > 0 ? ns : 1;
}

/* ------------------------------------------------------------------ */
/* GET /, GET /api/version, GET /api/tags, POST /api/show              */
/* ------------------------------------------------------------------ */

int mock_ollama_home(mock_ctx *ctx, json_object *req)
{
    (void)req;
    return mock_send_text(ctx->r, HTTP_OK, "text/plain; charset=utf-8",
                          "Ollama is running");
}

int mock_ollama_version(mock_ctx *ctx, json_object *req)
{
    json_object *o = json_object_new_object();

    (void)req;
    jadd(o, "version", jstr(OLLAMA_VERSION));
    return send_ollama(ctx->r, HTTP_OK, o);
}

/* "llama3" is listed as "llama3:latest". */
static const char *tagged(apr_pool_t *p, const char *name)
{
    return strchr(name, ':') ? name : apr_pstrcat(p, name, ":latest", NULL);
}

/* A sha256-looking digest that depends on the name only. */
static const char *model_digest(apr_pool_t *p, const char *name)
{
    unsigned char d1[APR_MD5_DIGESTSIZE], d2[APR_MD5_DIGESTSIZE];
    char hex[4 * APR_MD5_DIGESTSIZE + 1];
    const char *salted = apr_pstrcat(p, "mock:", name, NULL);

    apr_md5(d1, name, strlen(name));
    apr_md5(d2, salted, strlen(salted));
    ap_bin2hex(d1, sizeof(d1), hex);
    ap_bin2hex(d2, sizeof(d2), hex + 2 * sizeof(d1));
    return apr_pstrdup(p, hex);
}

static json_object *model_details(void)
{
    json_object *d = json_object_new_object();
    json_object *fam = json_object_new_array();

    json_object_array_add(fam, jstr("llama"));
    jadd(d, "parent_model", jstr(""));
    jadd(d, "format", jstr("gguf"));
    jadd(d, "family", jstr("llama"));
    jadd(d, "families", fam);
    jadd(d, "parameter_size", jstr("8.0B"));
    jadd(d, "quantization_level", jstr("Q4_K_M"));
    return d;
}

static json_object *tag_entry(apr_pool_t *p, const char *name)
{
    json_object *m = json_object_new_object();
    const char *full = tagged(p, name);

    jadd(m, "name", jstr(full));
    jadd(m, "model", jstr(full));
    jadd(m, "modified_at", jstr(OLLAMA_MODIFIED_AT));
    jadd(m, "size", jint(APR_INT64_C(4920753328)));
    jadd(m, "digest", jstr(model_digest(p, full)));
    jadd(m, "details", model_details());
    return m;
}

int mock_ollama_tags(mock_ctx *ctx, json_object *req)
{
    json_object *o = json_object_new_object();
    json_object *models = json_object_new_array();
    apr_pool_t *p = ctx->r->pool;
    char *list, *name, *last;

    (void)req;
    if (!ctx->opts.models) {
        json_object_array_add(models, tag_entry(p, MOCK_DEFAULT_MODEL));
    }
    else {
        list = apr_pstrdup(p, ctx->opts.models);
        for (name = apr_strtok(list, ", ", &last); name;
             name = apr_strtok(NULL, ", ", &last)) {
            json_object_array_add(models, tag_entry(p, name));
        }
    }
    jadd(o, "models", models);
    return send_ollama(ctx->r, HTTP_OK, o);
}

int mock_ollama_show(mock_ctx *ctx, json_object *req)
{
    apr_pool_t *p = ctx->r->pool;
    const char *model = mock_string_member(req, "model", "");
    json_object *o, *info, *caps;
    const char *full;

    if (!*model) {
        model = mock_string_member(req, "name", "");
    }
    if (!*model) {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST, "model is required");
    }
    if (!mock_model_served(ctx, model)) {
        return send_not_found(ctx, model);
    }
    full = tagged(p, model);
    o = json_object_new_object();
    jadd(o, "modelfile", jstr(apr_psprintf(
        p, "# Modelfile generated by \"ollama show\"\n"
        "# To build a new Modelfile based on this, replace FROM with:\n"
        "# FROM %s\n\n"
        "FROM /usr/share/ollama/.ollama/models/blobs/sha256-%s\n"
        "TEMPLATE \"{{ .Prompt }}\"\n"
        "PARAMETER stop <|eot_id|>\n", full, model_digest(p, full))));
    jadd(o, "parameters", jstr("stop                           "
                               "\"<|eot_id|>\""));
    jadd(o, "template", jstr("{{ .Prompt }}"));
    jadd(o, "details", model_details());
    info = json_object_new_object();
    jadd(info, "general.architecture", jstr("llama"));
    jadd(info, "general.parameter_count", jint(APR_INT64_C(8030261248)));
    jadd(info, "llama.context_length", jint(131072));
    jadd(info, "llama.embedding_length", jint(4096));
    jadd(o, "model_info", info);
    caps = json_object_new_array();
    json_object_array_add(caps, jstr("completion"));
    json_object_array_add(caps, jstr("tools"));
    json_object_array_add(caps, jstr("thinking"));
    jadd(o, "capabilities", caps);
    jadd(o, "modified_at", jstr(OLLAMA_MODIFIED_AT));
    return send_ollama(ctx->r, HTTP_OK, o);
}

/* ------------------------------------------------------------------ */
/* POST /api/chat, POST /api/generate                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    mock_ctx *ctx;
    const char *model;
    int chat;                   /* /api/chat, else /api/generate */
    int stream;
    const char **pieces;
    int npieces;
    const char **think_pieces;
    int nthink;
    json_object *tool_args;     /* sorted; set: answer with a tool call */
    apr_int64_t prompt_tokens;
    int with_context;           /* generate without "raw" */
} ollama_reply;

/* Streaming is the default: only an explicit false turns it off. */
static int wants_stream(json_object *req)
{
    json_object *v = member(req, "stream");

    return !(json_object_is_type(v, json_type_boolean)
             && !json_object_get_boolean(v));
}

static apr_int64_t eval_count(const ollama_reply *rp)
{
    return rp->nthink + (rp->tool_args ? 1 : rp->npieces);
}

static json_object *line_head(const ollama_reply *rp)
{
    json_object *o = json_object_new_object();

    jadd(o, "model", jstr(rp->model));
    jadd(o, "created_at", jstr(go_time(rp->ctx->r->pool, apr_time_now())));
    return o;
}

static json_object *tool_calls(const ollama_reply *rp)
{
    json_object *calls = json_object_new_array();
    json_object *call = json_object_new_object();
    json_object *fn = json_object_new_object();

    jadd(fn, "name", jstr(rp->ctx->opts.tool));
    jadd(fn, "arguments", json_object_get(rp->tool_args));
    jadd(call, "function", fn);
    json_object_array_add(calls, call);
    return calls;
}

/* One object of the answer; "text" and "thinking" are what it carries
 * (the whole answer when it is not streamed). */
static json_object *answer_object(const ollama_reply *rp, const char *text,
                                  const char *thinking, int with_tool)
{
    json_object *o = line_head(rp);
    json_object *msg;

    if (!rp->chat) {
        jadd(o, "response", jstr(text));
        if (thinking && *thinking) {
            jadd(o, "thinking", jstr(thinking));
        }
        return o;
    }
    msg = json_object_new_object();
    jadd(msg, "role", jstr("assistant"));
    jadd(msg, "content", jstr(text));
    if (thinking && *thinking) {
        jadd(msg, "thinking", jstr(thinking));
    }
    if (with_tool) {
        jadd(msg, "tool_calls", tool_calls(rp));
    }
    jadd(o, "message", msg);
    return o;
}

static json_object *context_array(const ollama_reply *rp)
{
    json_object *a = json_object_new_array();
    apr_int64_t n = rp->prompt_tokens + eval_count(rp), i;

    if (n > OLLAMA_MAX_CONTEXT) {
        n = OLLAMA_MAX_CONTEXT;
    }
    for (i = 0; i < n; i++) {
        json_object_array_add(a, jint(128000 + i));
    }
    return a;
}

/* done_reason goes before done in a ChatResponse and after it in a
 * GenerateResponse; then the metrics, the zero ones left out. */
static json_object *finish(const ollama_reply *rp, json_object *o,
                           const char *reason, int metrics)
{
    apr_int64_t total = ns_at_least_1(
        (apr_int64_t)(apr_time_now() - rp->ctx->r->request_time) * 1000);

    if (rp->chat) {
        jadd(o, "done_reason", jstr(reason));
        jadd(o, "done", json_object_new_boolean(1));
    }
    else {
        jadd(o, "done", json_object_new_boolean(1));
        jadd(o, "done_reason", jstr(reason));
        if (metrics && rp->with_context) {
            jadd(o, "context", context_array(rp));
        }
    }
    if (!metrics) {
        return o;
    }
    jadd(o, "total_duration", jint(total));
    jadd(o, "load_duration", jint(ns_at_least_1(total / 8)));
    jadd(o, "prompt_eval_count", jint(rp->prompt_tokens));
    jadd(o, "prompt_eval_duration", jint(ns_at_least_1(total / 8)));
    if (eval_count(rp) > 0) {
        jadd(o, "eval_count", jint(eval_count(rp)));
    }
    jadd(o, "eval_duration", jint(ns_at_least_1(total / 2)));
    return o;
}

static int answer_stream(mock_ctx *ctx, const ollama_reply *rp)
{
    json_object *o;
    mock_stream st;
    int i;

    mock_stream_begin(ctx, &st, OLLAMA_NDJSON, MOCK_FRAME_NDJSON);
    st.go_json = 1;
    for (i = 0; i < rp->nthink; i++) {
        o = answer_object(rp, "", rp->think_pieces[i], 0);
        jadd(o, "done", json_object_new_boolean(0));
        mock_stream_piece(&st, NULL, o);
    }
    if (rp->tool_args) {
        o = answer_object(rp, "", NULL, 1);
        jadd(o, "done", json_object_new_boolean(0));
        mock_stream_piece(&st, NULL, o);
    }
    for (i = 0; !rp->tool_args && i < rp->npieces; i++) {
        o = answer_object(rp, rp->pieces[i], NULL, 0);
        jadd(o, "done", json_object_new_boolean(0));
        mock_stream_piece(&st, NULL, o);
    }
    mock_stream_check_drop(&st);
    if (ctx->opts.stream_error) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, ctx->r, "LLMMOCK013: "
                      "ending the stream with an in-band error");
        o = json_object_new_object();
        jadd(o, "error", jstr(OLLAMA_STREAM_ERROR));
        mock_stream_send(&st, NULL, o);
        return OK;
    }
    if (!ctx->opts.no_done) {
        mock_stream_send(&st, NULL, finish(rp, answer_object(rp, "", NULL,
                                                             0),
                                           "stop", 1));
    }
    return OK;
}

/* Ollama builds the whole answer from its own stream: an error in it is
 * a 500. */
static int answer_whole(mock_ctx *ctx, const ollama_reply *rp)
{
    if (ctx->opts.stream_error) {
        return send_ollama_error(ctx, HTTP_INTERNAL_SERVER_ERROR,
                                 OLLAMA_STREAM_ERROR);
    }
    return send_ollama(ctx->r, HTTP_OK, finish(
        rp, answer_object(rp, rp->tool_args ? "" : ctx->opts.content,
                          ctx->opts.think, rp->tool_args != NULL),
        "stop", 1));
}

/* An empty conversation (or prompt) only loads the model. */
static int answer_load(mock_ctx *ctx, const ollama_reply *rp)
{
    return send_ollama(ctx->r, HTTP_OK, finish(
        rp, answer_object(rp, "", NULL, 0), "load", 0));
}

static apr_status_t release_json(void *o)
{
    json_object_put(o);
    return APR_SUCCESS;
}

static int answer(mock_ctx *ctx, json_object *req, int chat)
{
    apr_pool_t *p = ctx->r->pool;
    ollama_reply rp;
    json_object *args, *messages = member(req, "messages");
    const char *prompt = mock_string_member(req, "prompt", "");

    memset(&rp, 0, sizeof(rp));
    rp.ctx = ctx;
    rp.chat = chat;
    rp.model = mock_string_member(req, "model", "");
    if (!*rp.model) {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST, "model is required");
    }
    if (!mock_model_served(ctx, rp.model)) {
        return send_not_found(ctx, rp.model);
    }
    if (chat ? !json_object_is_type(messages, json_type_array)
               || json_object_array_length(messages) == 0
             : !*prompt) {
        return answer_load(ctx, &rp);
    }
    rp.stream = wants_stream(req);
    /* A server that only streams, or never does (stream_mode=). */
    if (ctx->opts.stream_mode) {
        rp.stream = !strcmp(ctx->opts.stream_mode, "always") ? 1
                    : !strcmp(ctx->opts.stream_mode, "never") ? 0 : rp.stream;
    }
    rp.prompt_tokens = mock_tokens_for_bytes(
        chat ? mock_prompt_bytes(messages)
             : mock_prompt_bytes(member(req, "prompt"))
               + mock_prompt_bytes(member(req, "system")));
    rp.with_context = !chat && !mock_bool_member(req, "raw");
    rp.pieces = mock_split_text(p, ctx->opts.content, (int)ctx->opts.chunks,
                                &rp.npieces);
    if (ctx->opts.think) {
        rp.think_pieces = mock_split_text(p, ctx->opts.think,
                                          (int)ctx->opts.chunks, &rp.nthink);
    }
    /* GenerateResponse has no tool calls. */
    if (chat && ctx->opts.tool) {
        args = mock_tool_args(ctx);
        rp.tool_args = sorted_copy(p, args);
        json_object_put(args);
        apr_pool_cleanup_register(p, rp.tool_args, release_json,
                                  apr_pool_cleanup_null);
    }
    return rp.stream ? answer_stream(ctx, &rp) : answer_whole(ctx, &rp);
}

int mock_ollama_chat(mock_ctx *ctx, json_object *req)
{
    return answer(ctx, req, 1);
}

int mock_ollama_generate(mock_ctx *ctx, json_object *req)
{
    return answer(ctx, req, 0);
}

/* ------------------------------------------------------------------ */
/* POST /api/embed, POST /api/embeddings                               */
/* ------------------------------------------------------------------ */

static json_object *vector(apr_pool_t *p, json_object *text, int dim,
                           int bits)
{
    float *v = apr_palloc(p, (apr_size_t)dim * sizeof(float));
    json_object *a = json_object_new_array_ext(dim);
    int d;

    mock_embed_text(json_object_get_string(text),
                    (apr_size_t)json_object_get_string_len(text), v, dim);
    for (d = 0; d < dim; d++) {
        json_object_array_add(a, mock_go_float(v[d], bits));
    }
    return a;
}

/* "input" is a string or a list of strings; an empty string is no
 * input at all. */
int mock_ollama_embed(mock_ctx *ctx, json_object *req)
{
    apr_pool_t *p = ctx->r->pool;
    json_object *input = member(req, "input"), *o, *all, *item;
    const char *model = mock_string_member(req, "model", "");
    apr_int64_t total;
    apr_size_t i, n = 0, bytes = 0;
    int dim = mock_embedding_dim(ctx, req);

    if (json_object_is_type(input, json_type_array)) {
        for (i = 0; i < json_object_array_length(input); i++) {
            if (!json_object_is_type(json_object_array_get_idx(input, i),
                                     json_type_string)) {
                return send_ollama_error(ctx, HTTP_BAD_REQUEST,
                                         "invalid input type");
            }
        }
        n = json_object_array_length(input);
    }
    else if (json_object_is_type(input, json_type_string)) {
        n = json_object_get_string_len(input) > 0;
    }
    else if (input) {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST, "invalid input type");
    }
    if (!*model) {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST, "model is required");
    }
    if (!mock_model_served(ctx, model)) {
        return send_not_found(ctx, model);
    }
    o = json_object_new_object();
    all = json_object_new_array();
    jadd(o, "model", jstr(model));
    for (i = 0; i < n; i++) {
        item = json_object_is_type(input, json_type_array)
               ? json_object_array_get_idx(input, i) : input;
        json_object_array_add(all, vector(p, item, dim, 32));
        bytes += mock_prompt_bytes(item);
    }
    jadd(o, "embeddings", all);
    if (n > 0) {
        total = ns_at_least_1(
            (apr_int64_t)(apr_time_now() - ctx->r->request_time) * 1000);
        jadd(o, "total_duration", jint(total));
        jadd(o, "load_duration", jint(ns_at_least_1(total / 8)));
        jadd(o, "prompt_eval_count", jint(mock_tokens_for_bytes(bytes)));
    }
    return send_ollama(ctx->r, HTTP_OK, o);
}

/* The legacy endpoint: one "prompt", float64 values. */
int mock_ollama_embeddings(mock_ctx *ctx, json_object *req)
{
    const char *model = mock_string_member(req, "model", "");
    json_object *prompt = member(req, "prompt"), *o;

    if (!*model) {
        return send_ollama_error(ctx, HTTP_BAD_REQUEST, "model is required");
    }
    if (!mock_model_served(ctx, model)) {
        return send_not_found(ctx, model);
    }
    o = json_object_new_object();
    if (!json_object_is_type(prompt, json_type_string)
        || json_object_get_string_len(prompt) == 0) {
        jadd(o, "embedding", json_object_new_array());
    }
    else {
        jadd(o, "embedding", vector(ctx->r->pool, prompt,
                                    mock_embedding_dim(ctx, req), 64));
    }
    return send_ollama(ctx->r, HTTP_OK, o);
}
