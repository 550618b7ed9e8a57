/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * OpenAI's Responses API: named SSE events, each carrying its "type"
 * and a "sequence_number", from response.created to response.completed
 * (the end marker: there is no [DONE]); or the response object whole.
 * An answer is a list of output items: messages with output_text parts,
 * function calls, reasoning.
 *
 * The server writes an event's keys as "type" and then in alphabetical
 * order, and an item's in its own order; the encoder does the same.
 */

#include <string.h>

#include "apr_strings.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static apr_status_t usage_of(llm_decoder_t *d, json_object *u)
{
    llm_usage_t usage;

    if (!u || !json_object_is_type(u, json_type_object)) {
        return APR_SUCCESS;
    }
    usage.prompt_tokens = llm_json_int(u, "input_tokens");
    usage.completion_tokens = llm_json_int(u, "output_tokens");
    usage.total_tokens = llm_json_int(u, "total_tokens");
    usage.cached_tokens =
        llm_json_int(llm_json_get(u, "input_tokens_details"),
                     "cached_tokens");
    usage.reasoning_tokens =
        llm_json_int(llm_json_get(u, "output_tokens_details"),
                     "reasoning_tokens");
    return llm_dec_usage(d, &usage);
}

static apr_status_t start_of(llm_decoder_t *d, json_object *r)
{
    return llm_dec_start(d, llm_json_str(r, "id", NULL),
                         llm_json_str(r, "model", NULL),
                         llm_json_int(r, "created_at"));
}

static int is(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

/* An incomplete response ran out of tokens (or was filtered); a
 * complete one that called functions waits for their results. */
static const char *finish_of(llm_decoder_t *d, json_object *r)
{
    if (is(llm_json_str(r, "status", NULL), "incomplete")) {
        const char *why = llm_json_str(llm_json_get(r, "incomplete_details"),
                                       "reason", NULL);

        return is(why, "content_filter") ? LLM_FINISH_CONTENT_FILTER
                                         : LLM_FINISH_LENGTH;
    }
    return d->tools->nelts ? LLM_FINISH_TOOL_CALLS : LLM_FINISH_STOP;
}

static apr_status_t end_of(llm_decoder_t *d, json_object *r)
{
    LLM_TRY(llm_dec_finish(d, finish_of(d, r)));
    LLM_TRY(usage_of(d, llm_json_get(r, "usage")));
    return llm_dec_done(d);
}

static apr_status_t failed(llm_decoder_t *d, json_object *err)
{
    const char *code = llm_json_str(err, "code", NULL);

    return llm_dec_error(d, code ? code : "upstream_error",
                         llm_json_str(err, "message", NULL));
}

static apr_status_t call_added(llm_decoder_t *d, json_object *item,
                               int output_index)
{
    apr_size_t alen;
    const char *args = llm_json_str(item, "arguments", &alen);
    int index = llm_dec_tool_add(d, output_index);

    return llm_dec_tool(d, index, llm_json_str(item, "call_id", NULL),
                        llm_json_str(item, "name", NULL), args, alen);
}

static apr_status_t call_delta(llm_decoder_t *d, json_object *obj)
{
    int key = (int)llm_json_int(obj, "output_index");
    int index = llm_dec_tool_find(d, key);
    apr_size_t len;
    const char *delta = llm_json_str(obj, "delta", &len);

    if (index < 0) {
        index = llm_dec_tool_add(d, key);
    }
    return len ? llm_dec_tool(d, index, NULL, NULL, delta, len)
               : APR_SUCCESS;
}

/* Arguments that came whole in a done event (or an item's done) and
 * not in deltas, as some servers send them. */
static apr_status_t call_done(llm_decoder_t *d, json_object *obj,
                              json_object *item)
{
    int index = llm_dec_tool_find(d, (int)llm_json_int(obj,
                                                       "output_index"));
    apr_size_t len;
    const char *args = llm_json_str(item ? item : obj, "arguments", &len);

    if (index < 0 || !len
        || APR_ARRAY_IDX(d->tools, index, llm_dec_tool_t).has_args) {
        return APR_SUCCESS;
    }
    return llm_dec_tool(d, index, NULL, NULL, args, len);
}

static apr_status_t delta_of(llm_decoder_t *d, llm_event_type_e type,
                             json_object *obj)
{
    apr_size_t len;
    const char *s = llm_json_str(obj, "delta", &len);

    return llm_dec_text(d, type, s, len);
}

static apr_status_t responses_record(llm_decoder_t *d, const char *event,
                                     json_object *obj)
{
    const char *type = llm_json_str(obj, "type", NULL);
    json_object *item = llm_json_get(obj, "item");

    type = type ? type : event ? event : "";
    if (is(type, "response.output_text.delta")
        || is(type, "response.refusal.delta")) {
        return delta_of(d, LLM_EV_TEXT, obj);
    }
    if (is(type, "response.reasoning_text.delta")
        || is(type, "response.reasoning_summary_text.delta")) {
        return delta_of(d, LLM_EV_REASONING, obj);
    }
    if (is(type, "response.function_call_arguments.delta")) {
        return call_delta(d, obj);
    }
    if (is(type, "response.output_item.added")
        && is(llm_json_str(item, "type", NULL), "function_call")) {
        return call_added(d, item, (int)llm_json_int(obj, "output_index"));
    }
    if (is(type, "response.function_call_arguments.done")
        || (is(type, "response.output_item.done")
            && is(llm_json_str(item, "type", NULL), "function_call"))) {
        return call_done(d, obj, item);
    }
    if (is(type, "response.created")) {
        return start_of(d, llm_json_get(obj, "response"));
    }
    if (is(type, "response.completed") || is(type, "response.incomplete")) {
        return end_of(d, llm_json_get(obj, "response"));
    }
    if (is(type, "response.failed")) {
        return failed(d, llm_json_get(llm_json_get(obj, "response"),
                                      "error"));
    }
    if (is(type, "error")) {
        return failed(d, obj);
    }
    return APR_SUCCESS;                 /* in_progress, *.done, *.added */
}

/* Every part of an item that is text of @a part_type, in order. */
static apr_status_t parts_of(llm_decoder_t *d, llm_event_type_e type,
                             json_object *parts, const char *part_type)
{
    size_t i;

    if (!parts || !json_object_is_type(parts, json_type_array)) {
        return APR_SUCCESS;
    }
    for (i = 0; i < json_object_array_length(parts); i++) {
        json_object *part = json_object_array_get_idx(parts, i);
        const char *t = llm_json_str(part, "type", NULL);
        apr_size_t len;
        const char *s;

        if (is(t, part_type) || is(t, "refusal")) {
            s = llm_json_str(part, is(t, "refusal") ? "refusal" : "text",
                             &len);
            LLM_TRY(llm_dec_text(d, type, s, len));
        }
    }
    return APR_SUCCESS;
}

static apr_status_t item_of(llm_decoder_t *d, json_object *item, int pos)
{
    const char *type = llm_json_str(item, "type", NULL);

    if (is(type, "message")) {
        return parts_of(d, LLM_EV_TEXT, llm_json_get(item, "content"),
                        "output_text");
    }
    if (is(type, "function_call")) {
        return call_added(d, item, pos);
    }
    if (is(type, "reasoning")) {
        json_object *content = llm_json_get(item, "content");

        return content ? parts_of(d, LLM_EV_REASONING, content,
                                  "reasoning_text")
                       : parts_of(d, LLM_EV_REASONING,
                                  llm_json_get(item, "summary"),
                                  "summary_text");
    }
    return APR_SUCCESS;
}

static apr_status_t responses_body(llm_decoder_t *d, json_object *obj)
{
    json_object *output = llm_json_get(obj, "output");
    apr_status_t rv;
    size_t i;

    if (is(llm_json_str(obj, "status", NULL), "failed")) {
        return failed(d, llm_json_get(obj, "error"));
    }
    if (llm_dec_upstream_error(d, obj, &rv)) {
        return rv;
    }
    if (!is(llm_json_str(obj, "object", NULL), "response")
        || !output || !json_object_is_type(output, json_type_array)) {
        return llm_dec_bad_body(d);
    }
    LLM_TRY(start_of(d, obj));
    for (i = 0; i < json_object_array_length(output); i++) {
        LLM_TRY(item_of(d, json_object_array_get_idx(output, i), (int)i));
    }
    return end_of(d, obj);
}

const llm_dec_ops_t llm_dec_responses = {
    LLM_FRAME_SSE, 0, responses_record, responses_body
};

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static json_object *int_json(apr_int64_t n)
{
    return json_object_new_int64(n);
}

static json_object *item_text(const llm_enc_item_t *it)
{
    return llm_json_strn(it->buf.data, it->buf.len);
}

/* An event: "type" first; the caller adds the rest alphabetically, and
 * send_event() the sequence_number unless the caller placed it. */
static json_object *event_new(const char *type)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "type", llm_json_string(type));
    return o;
}

static apr_status_t send_event(llm_encoder_t *e, json_object *o)
{
    const char *type = json_object_get_string(llm_json_get(o, "type"));
    char name[64];

    apr_cpystrn(name, type, sizeof(name));
    if (!llm_json_get(o, "sequence_number")) {
        llm_json_add(o, "sequence_number", int_json(e->seq++));
    }
    return llm_enc_sse(e, name, o);
}

static const char *item_prefix(llm_item_kind_e kind)
{
    return kind == LLM_ITEM_TEXT ? "msg_"
           : kind == LLM_ITEM_TOOL ? "fc_" : "rs_";
}

static const char *item_id(llm_encoder_t *e, llm_enc_item_t *it)
{
    if (!it->wire_id) {
        it->wire_id = llm_event_new_id(e->pool, item_prefix(it->kind));
    }
    return it->wire_id;
}

/* A content part: output_text of a message, reasoning_text. */
static json_object *part_json(const llm_enc_item_t *it, int done)
{
    json_object *part = json_object_new_object();

    if (it->kind == LLM_ITEM_REASONING) {
        llm_json_add(part, "type", llm_json_string("reasoning_text"));
    }
    else {
        llm_json_add(part, "type", llm_json_string("output_text"));
        llm_json_add(part, "annotations", json_object_new_array());
        llm_json_add(part, "logprobs", json_object_new_array());
    }
    llm_json_add(part, "text", done ? item_text(it) : llm_json_string(""));
    return part;
}

/* Cut short by max_output_tokens or a filter. */
static int incomplete(const llm_encoder_t *e)
{
    return e->finish && (!strcmp(e->finish, LLM_FINISH_LENGTH)
                         || !strcmp(e->finish, LLM_FINISH_CONTENT_FILTER));
}

/* An output item, as added (in progress, empty) or done; a message cut
 * short is "incomplete", as its response. */
static json_object *item_json(llm_encoder_t *e, llm_enc_item_t *it,
                              int done)
{
    json_object *o = json_object_new_object();
    json_object *content;

    llm_json_add(o, "id", llm_json_string(item_id(e, it)));
    if (it->kind == LLM_ITEM_TOOL) {
        llm_json_add(o, "type", llm_json_string("function_call"));
        llm_json_add(o, "status",
                     llm_json_string(done ? "completed" : "in_progress"));
        llm_json_add(o, "arguments",
                     done ? item_text(it) : llm_json_string(""));
        llm_json_add(o, "call_id", llm_json_string(it->tool_id));
        llm_json_add(o, "name", llm_json_string(it->tool_name));
        return o;
    }
    content = json_object_new_array();
    if (done) {
        json_object_array_add(content, part_json(it, 1));
    }
    if (it->kind == LLM_ITEM_REASONING) {
        llm_json_add(o, "type", llm_json_string("reasoning"));
        llm_json_add(o, "summary", json_object_new_array());
        llm_json_add(o, "content", content);
        return o;
    }
    llm_json_add(o, "type", llm_json_string("message"));
    llm_json_add(o, "status", llm_json_string(!done ? "in_progress"
                         : incomplete(e) ? "incomplete" : "completed"));
    llm_json_add(o, "content", content);
    llm_json_add(o, "role", llm_json_string("assistant"));
    return o;
}

static json_object *output_json(llm_encoder_t *e)
{
    json_object *out = json_object_new_array();
    int i;

    for (i = 0; i < e->items->nelts; i++) {
        json_object_array_add(out, item_json(
            e, APR_ARRAY_IDX(e->items, i, llm_enc_item_t *), 1));
    }
    return out;
}

static json_object *usage_json(const llm_usage_t *u)
{
    json_object *o = json_object_new_object();
    json_object *in = json_object_new_object();
    json_object *out = json_object_new_object();

    llm_json_add(in, "cached_tokens",
                 int_json(llm_enc_count(u->cached_tokens)));
    llm_json_add(out, "reasoning_tokens",
                 int_json(llm_enc_count(u->reasoning_tokens)));
    llm_json_add(o, "input_tokens", int_json(llm_enc_count(u->prompt_tokens)));
    llm_json_add(o, "input_tokens_details", in);
    llm_json_add(o, "output_tokens",
                 int_json(llm_enc_count(u->completion_tokens)));
    llm_json_add(o, "output_tokens_details", out);
    llm_json_add(o, "total_tokens", int_json(llm_enc_count(u->total_tokens)));
    return o;
}

/* Why a final response is incomplete, or null. */
static json_object *details_json(const llm_encoder_t *e, int final)
{
    json_object *o;

    if (!final || !incomplete(e)) {
        return NULL;
    }
    o = json_object_new_object();
    llm_json_add(o, "reason",
                 llm_json_string(strcmp(e->finish, LLM_FINISH_LENGTH)
                         ? "content_filter" : "max_output_tokens"));
    return o;
}

/* The request's settings a response echoes, as their defaults: the
 * gateway does not keep requests, hence store:false. */
static void add_settings(json_object *o)
{
    json_object *reasoning = json_object_new_object();
    json_object *text = json_object_new_object();
    json_object *format = json_object_new_object();

    llm_json_add(o, "parallel_tool_calls", json_object_new_boolean(1));
    llm_json_add(o, "previous_response_id", NULL);
    llm_json_add(reasoning, "effort", NULL);
    llm_json_add(reasoning, "summary", NULL);
    llm_json_add(o, "reasoning", reasoning);
    llm_json_add(o, "store", json_object_new_boolean(0));
    llm_json_add(format, "type", llm_json_string("text"));
    llm_json_add(text, "format", format);
    llm_json_add(o, "text", text);
    llm_json_add(o, "tool_choice", llm_json_string("auto"));
    llm_json_add(o, "tools", json_object_new_array());
    llm_json_add(o, "truncation", llm_json_string("disabled"));
}

/* The response object: in progress (no output yet) or final. */
static json_object *response_json(llm_encoder_t *e, int final)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "id", llm_json_string(e->id));
    llm_json_add(o, "object", llm_json_string("response"));
    llm_json_add(o, "created_at", int_json(e->created));
    llm_json_add(o, "status", llm_json_string(!final ? "in_progress"
                         : incomplete(e) ? "incomplete" : "completed"));
    llm_json_add(o, "error", NULL);
    llm_json_add(o, "incomplete_details", details_json(e, final));
    llm_json_add(o, "instructions", NULL);
    llm_json_add(o, "max_output_tokens", NULL);
    llm_json_add(o, "model", llm_json_string(e->model));
    llm_json_add(o, "output", final ? output_json(e) : json_object_new_array());
    add_settings(o);
    llm_json_add(o, "usage", final ? usage_json(&e->usage) : NULL);
    llm_json_add(o, "user", NULL);
    llm_json_add(o, "metadata", json_object_new_object());
    return o;
}

static apr_status_t response_event(llm_encoder_t *e, const char *type,
                                   int final)
{
    json_object *o = event_new(type);

    llm_json_add(o, "response", response_json(e, final));
    return send_event(e, o);
}

static apr_status_t item_event(llm_encoder_t *e, const char *type,
                               llm_enc_item_t *it, int done)
{
    json_object *o = event_new(type);

    llm_json_add(o, "item", item_json(e, it, done));
    llm_json_add(o, "output_index", int_json(it->index));
    return send_event(e, o);
}

/* content_part.added/done of a message or reasoning item. */
static apr_status_t part_event(llm_encoder_t *e, const char *type,
                               llm_enc_item_t *it, int done)
{
    json_object *o = event_new(type);

    llm_json_add(o, "content_index", int_json(0));
    llm_json_add(o, "item_id", llm_json_string(item_id(e, it)));
    llm_json_add(o, "output_index", int_json(it->index));
    llm_json_add(o, "part", part_json(it, done));
    return send_event(e, o);
}

/* The delta or done event of an item's text or arguments. The done
 * events of text end in "text", after the sequence_number. */
static apr_status_t text_event(llm_encoder_t *e, llm_enc_item_t *it,
                               int done, const char *s, apr_size_t n)
{
    static const char *const types[3][2] = {
        { "response.output_text.delta", "response.output_text.done" },
        { "response.reasoning_text.delta", "response.reasoning_text.done" },
        { "response.function_call_arguments.delta",
          "response.function_call_arguments.done" }
    };
    json_object *o = event_new(types[it->kind][done]);
    json_object *value = done ? item_text(it) : llm_json_strn(s, n);
    int tool = it->kind == LLM_ITEM_TOOL;

    if (tool) {
        llm_json_add(o, done ? "arguments" : "delta", value);
    }
    else {
        llm_json_add(o, "content_index", int_json(0));
        if (!done) {
            llm_json_add(o, "delta", value);
        }
    }
    llm_json_add(o, "item_id", llm_json_string(item_id(e, it)));
    if (it->kind == LLM_ITEM_TEXT) {
        llm_json_add(o, "logprobs", json_object_new_array());
    }
    llm_json_add(o, "output_index", int_json(it->index));
    if (done && !tool) {
        llm_json_add(o, "sequence_number", int_json(e->seq++));
        llm_json_add(o, "text", value);
    }
    return send_event(e, o);
}

static apr_status_t open_item(llm_encoder_t *e, llm_enc_item_t *it)
{
    it->opened = 1;
    LLM_TRY(item_event(e, "response.output_item.added", it, 0));
    if (it->kind == LLM_ITEM_TOOL) {
        return APR_SUCCESS;
    }
    return part_event(e, "response.content_part.added", it, 0);
}

static apr_status_t close_item(llm_encoder_t *e, llm_enc_item_t *it)
{
    it->closed = 1;
    LLM_TRY(text_event(e, it, 1, NULL, 0));
    if (it->kind != LLM_ITEM_TOOL) {
        LLM_TRY(part_event(e, "response.content_part.done", it, 1));
    }
    return item_event(e, "response.output_item.done", it, 1);
}

/* Items follow each other: a new one closes those still open. */
static apr_status_t close_open(llm_encoder_t *e, const llm_enc_item_t *keep)
{
    int i;

    for (i = 0; i < e->items->nelts; i++) {
        llm_enc_item_t *it = APR_ARRAY_IDX(e->items, i, llm_enc_item_t *);

        if (it != keep && it->opened && !it->closed) {
            LLM_TRY(close_item(e, it));
        }
    }
    return APR_SUCCESS;
}

static apr_status_t content_event(llm_encoder_t *e, const llm_event_t *ev,
                                  llm_enc_item_t *it)
{
    const char *s = ev->type == LLM_EV_TOOL_CALL ? ev->tool_args : ev->text;
    apr_size_t n = ev->type == LLM_EV_TOOL_CALL ? ev->tool_args_len
                                                : ev->text_len;

    if (!it->opened) {
        LLM_TRY(close_open(e, it));
        LLM_TRY(open_item(e, it));
    }
    return n ? text_event(e, it, 0, s, n) : APR_SUCCESS;
}

static apr_status_t responses_event(llm_encoder_t *e, const llm_event_t *ev,
                                    llm_enc_item_t *it)
{
    switch (ev->type) {
    case LLM_EV_START:
        LLM_TRY(response_event(e, "response.created", 0));
        return response_event(e, "response.in_progress", 0);
    case LLM_EV_TEXT:
    case LLM_EV_REASONING:
    case LLM_EV_TOOL_CALL:
        return content_event(e, ev, it);
    case LLM_EV_FINISH:
        return close_open(e, NULL);
    default:
        return APR_SUCCESS;
    }
}

static apr_status_t responses_end(llm_encoder_t *e)
{
    LLM_TRY(close_open(e, NULL));
    return response_event(e, incomplete(e) ? "response.incomplete"
                                           : "response.completed", 1);
}

static apr_status_t responses_whole(llm_encoder_t *e)
{
    return llm_enc_json(e, response_json(e, 1));
}

static apr_status_t responses_error(llm_encoder_t *e, const char *type,
                                    const char *message)
{
    json_object *o;

    if (!e->stream) {
        return llm_enc_json(e, llm_enc_openai_error(type, message));
    }
    o = event_new("error");
    llm_json_add(o, "code", llm_json_string(type));
    llm_json_add(o, "message", llm_json_string(message));
    llm_json_add(o, "param", NULL);
    return send_event(e, o);
}

const llm_enc_ops_t llm_enc_responses = {
    "resp_", "call_", 1, 1,
    responses_event, responses_end, responses_whole, responses_error
};
