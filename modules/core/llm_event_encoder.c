/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The encoder side shared by every dialect. It keeps what any of them
 * needs to know about the answer so far: its id, model and time, the
 * usage, the finish reason, and the answer as items (runs of text or
 * reasoning, tool calls) in order, which are Anthropic's content blocks
 * and the Responses API's output items, and from which whole bodies are
 * built. Each dialect only writes its bytes (llm_event_openai.c...).
 */

#include <string.h>

#include "apr_strings.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

static const llm_enc_ops_t *enc_ops(llm_wire_e wire)
{
    switch (wire) {
    case LLM_WIRE_OPENAI_COMPLETION: return &llm_enc_openai_completion;
    case LLM_WIRE_OPENAI_RESPONSES:  return &llm_enc_responses;
    case LLM_WIRE_OLLAMA_CHAT:       return &llm_enc_ollama_chat;
    case LLM_WIRE_OLLAMA_GENERATE:   return &llm_enc_ollama_generate;
    case LLM_WIRE_ANTHROPIC:         return &llm_enc_anthropic;
    case LLM_WIRE_LMSTUDIO_CHAT:     return &llm_enc_lmstudio_chat;
    case LLM_WIRE_OPENAI_CHAT:
        break;
    }
    return &llm_enc_openai_chat;
}

llm_encoder_t *llm_encoder_create(apr_pool_t *p, llm_wire_e wire,
                                  int stream, const llm_encode_opts_t *o)
{
    apr_pool_t *pool;
    llm_encoder_t *e;

    apr_pool_create(&pool, p);
    e = apr_pcalloc(pool, sizeof(*e));
    e->pool = pool;
    apr_pool_create(&e->scratch, pool);
    e->ops = enc_ops(wire);
    e->wire = wire;
    e->stream = stream;
    if (o) {
        e->include_usage = o->include_usage;
        e->model_opt = o->model ? apr_pstrdup(pool, o->model) : NULL;
        e->now = o->now;
    }
    e->t0 = llm_event_now();
    llm_usage_unknown(&e->usage);
    e->items = apr_array_make(pool, 4, sizeof(llm_enc_item_t *));
    e->open_block = -1;
    return e;
}

const llm_usage_t *llm_encoder_usage(const llm_encoder_t *e)
{
    return &e->usage;
}

int llm_encoder_failed(const llm_encoder_t *e)
{
    return e->failed;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

apr_status_t llm_enc_write(llm_encoder_t *e, const char *buf,
                           apr_size_t len)
{
    return e->emit(e->baton, buf, len);
}

/* One SSE event, written in one call so that it travels as one bucket.
 * @a obj is consumed. */
apr_status_t llm_enc_sse(llm_encoder_t *e, const char *event,
                         json_object *obj)
{
    apr_size_t len;
    const char *json = llm_json_dump(obj, &len);
    apr_size_t head = event ? strlen(event) + 8 : 0;   /* "event: X\n" */
    char *out = apr_palloc(e->scratch, head + len + 9);
    char *p = out;
    apr_status_t rv;

    if (event) {
        memcpy(p, "event: ", 7);
        memcpy(p + 7, event, head - 8);
        p[head - 1] = '\n';
        p += head;
    }
    memcpy(p, "data: ", 6);
    memcpy(p + 6, json, len);
    memcpy(p + 6 + len, "\n\n", 2);
    p += len + 8;
    json_object_put(obj);
    rv = llm_enc_write(e, out, (apr_size_t)(p - out));
    return rv;
}

/* One NDJSON line; @a obj is consumed. */
apr_status_t llm_enc_line(llm_encoder_t *e, json_object *obj)
{
    apr_size_t len;
    const char *json = llm_json_dump(obj, &len);
    char *out = apr_palloc(e->scratch, len + 1);
    apr_status_t rv;

    memcpy(out, json, len);
    out[len] = '\n';
    json_object_put(obj);
    rv = llm_enc_write(e, out, len + 1);
    return rv;
}

/* A whole body; @a obj is consumed. */
apr_status_t llm_enc_json(llm_encoder_t *e, json_object *obj)
{
    apr_size_t len;
    const char *json = llm_json_dump(obj, &len);
    apr_status_t rv = llm_enc_write(e, json, len);

    json_object_put(obj);
    return rv;
}

/* The text (or reasoning) of every item of @a kind, in order. */
const char *llm_enc_text(llm_encoder_t *e, llm_item_kind_e kind,
                         apr_size_t *len)
{
    llm_buf_t all;
    int i;

    llm_buf_init(&all, e->scratch);
    llm_buf_add(&all, "", 0);
    for (i = 0; i < e->items->nelts; i++) {
        llm_enc_item_t *it = APR_ARRAY_IDX(e->items, i, llm_enc_item_t *);

        if (it->kind == kind && it->buf.len) {
            llm_buf_add(&all, it->buf.data, it->buf.len);
        }
    }
    *len = all.len;
    return all.data;
}

/* OpenAI's error object, which the OpenAI-family wires all write. */
json_object *llm_enc_openai_error(const char *type, const char *message)
{
    json_object *o = json_object_new_object();
    json_object *err = json_object_new_object();

    json_object_object_add(err, "message", json_object_new_string(message));
    json_object_object_add(err, "type", json_object_new_string(type));
    json_object_object_add(err, "param", NULL);
    json_object_object_add(err, "code", NULL);
    json_object_object_add(o, "error", err);
    return o;
}

/* A token count as the dialects write it: never negative. */
apr_int64_t llm_enc_count(apr_int64_t n)
{
    return n < 0 ? 0 : n;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

/* The upstream's id is kept when it already looks like one of the
 * client's dialect ("chatcmpl-..." to an OpenAI client), else one is
 * made up in the client's shape. */
static const char *response_id(llm_encoder_t *e, const char *upstream)
{
    const char *prefix = e->ops->id_prefix;

    if (!prefix) {
        return NULL;
    }
    if (upstream && !strncmp(upstream, prefix, strlen(prefix))
        && upstream[strlen(prefix)]) {
        return apr_pstrdup(e->pool, upstream);
    }
    return llm_event_new_id(e->pool, prefix);
}

static apr_status_t on_start(llm_encoder_t *e, const llm_event_t *ev)
{
    llm_event_t start;

    if (!ev) {
        memset(&start, 0, sizeof(start));
        start.type = LLM_EV_START;
        ev = &start;
    }
    e->started = 1;
    e->id = response_id(e, ev->id);
    e->model = apr_pstrdup(e->pool, e->model_opt ? e->model_opt
                                    : ev->model ? ev->model : "");
    e->created = ev->created > 0
                 ? ev->created
                 : apr_time_sec(e->now ? e->now : llm_event_now());
    return e->stream ? e->ops->event(e, ev, NULL) : APR_SUCCESS;
}

static llm_enc_item_t *new_item(llm_encoder_t *e, llm_item_kind_e kind)
{
    llm_enc_item_t *it = apr_pcalloc(e->pool, sizeof(*it));

    it->kind = kind;
    it->index = e->items->nelts;
    llm_buf_init(&it->buf, e->pool);
    APR_ARRAY_PUSH(e->items, llm_enc_item_t *) = it;
    return it;
}

/* Text continues the last item when it is an open run of the same
 * kind, and starts a new one otherwise. */
static llm_enc_item_t *text_item(llm_encoder_t *e, llm_item_kind_e kind)
{
    llm_enc_item_t *last = e->items->nelts
        ? APR_ARRAY_IDX(e->items, e->items->nelts - 1, llm_enc_item_t *)
        : NULL;

    if (last && last->kind == kind && !last->closed) {
        return last;
    }
    return new_item(e, kind);
}

static llm_enc_item_t *tool_item(llm_encoder_t *e, const llm_event_t *ev)
{
    llm_enc_item_t *it;
    int i;

    for (i = 0; i < e->items->nelts; i++) {
        it = APR_ARRAY_IDX(e->items, i, llm_enc_item_t *);
        if (it->kind == LLM_ITEM_TOOL && it->tool_key == ev->tool_index) {
            return it;
        }
    }
    it = new_item(e, LLM_ITEM_TOOL);
    it->tool_key = ev->tool_index;
    it->tool_seq = e->ntools++;
    it->tool_id = ev->tool_id && *ev->tool_id
                  ? apr_pstrdup(e->pool, ev->tool_id)
                  : llm_event_new_id(e->pool, e->ops->tool_prefix);
    it->tool_name = apr_pstrdup(e->pool, ev->tool_name ? ev->tool_name : "");
    return it;
}

static int keeps(const llm_encoder_t *e, llm_item_kind_e kind)
{
    if (!e->stream) {
        return 1;
    }
    return kind == LLM_ITEM_TOOL ? e->ops->keep_tools : e->ops->keep_text;
}

static apr_status_t on_content(llm_encoder_t *e, const llm_event_t *ev)
{
    llm_enc_item_t *it;
    llm_item_kind_e kind;
    const char *s = ev->text;
    apr_size_t n = ev->text_len;

    if (ev->type == LLM_EV_TOOL_CALL) {
        it = tool_item(e, ev);
        kind = LLM_ITEM_TOOL;
        s = ev->tool_args;
        n = ev->tool_args_len;
    }
    else if (!n) {
        return APR_SUCCESS;
    }
    else {
        kind = ev->type == LLM_EV_TEXT ? LLM_ITEM_TEXT : LLM_ITEM_REASONING;
        it = text_item(e, kind);
    }
    if (!e->t_first) {
        e->t_first = llm_event_now();
    }
    if (n && keeps(e, kind)) {
        llm_buf_add(&it->buf, s, n);
    }
    return e->stream ? e->ops->event(e, ev, it) : APR_SUCCESS;
}

static apr_status_t on_event(llm_encoder_t *e, const llm_event_t *ev)
{
    switch (ev->type) {
    case LLM_EV_START:
        return APR_SUCCESS;             /* taken by on_start */
    case LLM_EV_TEXT:
    case LLM_EV_REASONING:
    case LLM_EV_TOOL_CALL:
        return on_content(e, ev);
    case LLM_EV_FINISH:
        e->finish = apr_pstrdup(e->pool, ev->finish ? ev->finish
                                                    : LLM_FINISH_STOP);
        break;
    case LLM_EV_USAGE:
        llm_usage_merge(&e->usage, &ev->usage);
        break;
    case LLM_EV_DONE:
        e->done = 1;
        break;
    case LLM_EV_ERROR:
        break;
    }
    return e->stream ? e->ops->event(e, ev, NULL) : APR_SUCCESS;
}

/* The stream failed: a stream tells its client at once in its own
 * dialect; a whole body says it instead of the answer, at the end. */
static apr_status_t on_error(llm_encoder_t *e, const char *type,
                             const char *message)
{
    e->errored = 1;
    e->failed = 1;
    e->err_type = apr_pstrdup(e->pool, type ? type : "upstream_error");
    e->err_message = apr_pstrdup(e->pool, message ? message
                                 : "The upstream reported an error.");
    return e->stream ? e->ops->error(e, e->err_type, e->err_message)
                     : APR_SUCCESS;
}

apr_status_t llm_encoder_event(llm_encoder_t *e, const llm_event_t *ev,
                               llm_emit_fn emit, void *baton)
{
    apr_status_t rv = APR_SUCCESS;

    if (e->done || e->errored || e->ended) {
        return APR_SUCCESS;             /* nothing follows those */
    }
    e->emit = emit;
    e->baton = baton;
    if (ev->type == LLM_EV_ERROR) {
        rv = on_error(e, ev->error_type, ev->error_message);
    }
    else {
        if (!e->started) {
            rv = on_start(e, ev->type == LLM_EV_START ? ev : NULL);
        }
        if (rv == APR_SUCCESS) {
            rv = on_event(e, ev);
        }
    }
    apr_pool_clear(e->scratch);
    return rv;
}

apr_status_t llm_encoder_end(llm_encoder_t *e, llm_emit_fn emit,
                             void *baton)
{
    apr_status_t rv;

    if (e->ended) {
        return APR_SUCCESS;
    }
    e->ended = 1;
    e->emit = emit;
    e->baton = baton;
    if (e->errored) {
        rv = e->stream ? APR_SUCCESS
                       : e->ops->error(e, e->err_type, e->err_message);
    }
    else if (!e->done) {
        e->errored = 1;
        e->failed = 1;
        rv = e->ops->error(e, "incomplete_stream",
                           "The upstream stream ended before it was "
                           "complete.");
    }
    else {
        rv = e->stream ? e->ops->end(e) : e->ops->whole(e);
    }
    apr_pool_clear(e->scratch);
    return rv;
}
