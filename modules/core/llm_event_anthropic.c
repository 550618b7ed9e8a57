/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Anthropic's Messages API: named SSE events from message_start to
 * message_stop (the end marker), the answer as numbered content blocks
 * (text, thinking, tool_use with its input streamed as partial JSON);
 * or the message object whole.
 *
 * Anthropic counts input_tokens without the prompt cache; the events
 * carry prompts with it (OpenAI's prompt_tokens), so cache reads and
 * writes are added on the way in and taken out on the way back.
 */

#include <string.h>

#include "apr_strings.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static int is(const char *a, const char *b)
{
    return a && !strcmp(a, b);
}

static const char *finish_of(const char *stop_reason)
{
    if (!stop_reason) {
        return NULL;
    }
    if (is(stop_reason, "max_tokens")
        || is(stop_reason, "model_context_window_exceeded")) {
        return LLM_FINISH_LENGTH;
    }
    if (is(stop_reason, "tool_use")) {
        return LLM_FINISH_TOOL_CALLS;
    }
    if (is(stop_reason, "refusal")) {
        return LLM_FINISH_CONTENT_FILTER;
    }
    return LLM_FINISH_STOP;     /* end_turn, stop_sequence, pause_turn */
}

/* Folds what @a u reports into the decoder's usage so far. */
static void usage_of(llm_decoder_t *d, json_object *u, int with_output)
{
    apr_int64_t input = llm_json_int(u, "input_tokens");
    apr_int64_t read = llm_json_int(u, "cache_read_input_tokens");
    llm_usage_t usage;

    llm_usage_unknown(&usage);
    if (input >= 0) {
        usage.prompt_tokens = llm_count_add(
            llm_count_add(input, read),
            llm_json_int(u, "cache_creation_input_tokens"));
        usage.cached_tokens = read;
    }
    if (with_output) {
        usage.completion_tokens = llm_json_int(u, "output_tokens");
    }
    llm_usage_merge(&d->usage, &usage);
}

static apr_status_t message_start(llm_decoder_t *d, json_object *msg)
{
    LLM_TRY(llm_dec_start(d, llm_json_str(msg, "id", NULL),
                          llm_json_str(msg, "model", NULL), 0));
    /* its output_tokens is a running count: the final one comes in
     * message_delta */
    usage_of(d, llm_json_get(msg, "usage"), 0);
    return d->usage.prompt_tokens >= 0 ? llm_dec_usage(d, &d->usage)
                                       : APR_SUCCESS;
}

/* A block's own content: text, thinking, or a tool call's input when
 * it comes whole (streams send {} and then the input in deltas). */
static apr_status_t block_of(llm_decoder_t *d, json_object *block, int key)
{
    const char *type = llm_json_str(block, "type", NULL);
    apr_size_t len = 0;
    const char *s;

    if (is(type, "text") || is(type, "thinking")) {
        s = llm_json_str(block, type, &len);
        return llm_dec_text(d, is(type, "text") ? LLM_EV_TEXT
                                                : LLM_EV_REASONING, s, len);
    }
    if (is(type, "tool_use")) {
        json_object *input = llm_json_get(block, "input");

        s = input && json_object_object_length(input)
            ? llm_json_dump(input, &len) : "";
        return llm_dec_tool(d, llm_dec_tool_add(d, key),
                            llm_json_str(block, "id", NULL),
                            llm_json_str(block, "name", NULL), s, len);
    }
    return APR_SUCCESS;         /* redacted_thinking, server tools... */
}

static apr_status_t block_delta(llm_decoder_t *d, json_object *obj)
{
    json_object *delta = llm_json_get(obj, "delta");
    const char *type = llm_json_str(delta, "type", NULL);
    apr_size_t len;
    const char *s;
    int index;

    if (is(type, "text_delta") || is(type, "thinking_delta")) {
        s = llm_json_str(delta, is(type, "text_delta") ? "text" : "thinking",
                         &len);
        return llm_dec_text(d, is(type, "text_delta") ? LLM_EV_TEXT
                                                      : LLM_EV_REASONING,
                            s, len);
    }
    if (is(type, "input_json_delta")) {
        s = llm_json_str(delta, "partial_json", &len);
        index = llm_dec_tool_find(d, (int)llm_json_int(obj, "index"));
        return index >= 0 && len
               ? llm_dec_tool(d, index, NULL, NULL, s, len) : APR_SUCCESS;
    }
    return APR_SUCCESS;         /* signature_delta, citations */
}

static apr_status_t message_delta(llm_decoder_t *d, json_object *obj)
{
    LLM_TRY(llm_dec_finish_if(d, finish_of(llm_json_str(
        llm_json_get(obj, "delta"), "stop_reason", NULL))));
    usage_of(d, llm_json_get(obj, "usage"), 1);
    return llm_dec_usage(d, &d->usage);
}

static apr_status_t anthropic_error(llm_decoder_t *d, json_object *obj)
{
    json_object *err = llm_json_get(obj, "error");

    return llm_dec_error(d, llm_json_str(err, "type", NULL),
                         llm_json_str(err, "message", NULL));
}

static apr_status_t anthropic_record(llm_decoder_t *d, const char *event,
                                     json_object *obj)
{
    const char *type = llm_json_str(obj, "type", NULL);

    type = type ? type : event ? event : "";
    if (is(type, "content_block_delta")) {
        return block_delta(d, obj);
    }
    if (is(type, "content_block_start")) {
        return block_of(d, llm_json_get(obj, "content_block"),
                        (int)llm_json_int(obj, "index"));
    }
    if (is(type, "message_start")) {
        return message_start(d, llm_json_get(obj, "message"));
    }
    if (is(type, "message_delta")) {
        return message_delta(d, obj);
    }
    if (is(type, "message_stop")) {
        return llm_dec_done(d);
    }
    if (is(type, "error")) {
        return anthropic_error(d, obj);
    }
    return APR_SUCCESS;         /* ping, content_block_stop */
}

static apr_status_t anthropic_body(llm_decoder_t *d, json_object *obj)
{
    const char *type = llm_json_str(obj, "type", NULL);
    json_object *content = llm_json_get(obj, "content");
    const char *finish;
    size_t i;

    if (is(type, "error")) {
        return anthropic_error(d, obj);
    }
    if (!is(type, "message") || !content
        || !json_object_is_type(content, json_type_array)) {
        return llm_dec_bad_body(d);
    }
    LLM_TRY(llm_dec_start(d, llm_json_str(obj, "id", NULL),
                          llm_json_str(obj, "model", NULL), 0));
    for (i = 0; i < json_object_array_length(content); i++) {
        LLM_TRY(block_of(d, json_object_array_get_idx(content, i), (int)i));
    }
    finish = finish_of(llm_json_str(obj, "stop_reason", NULL));
    LLM_TRY(llm_dec_finish(d, finish ? finish : LLM_FINISH_STOP));
    usage_of(d, llm_json_get(obj, "usage"), 1);
    LLM_TRY(llm_dec_usage(d, &d->usage));
    return llm_dec_done(d);
}

const llm_dec_ops_t llm_dec_anthropic = {
    LLM_FRAME_SSE, 0, anthropic_record, anthropic_body
};

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static json_object *typed(const char *type)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "type", llm_json_string(type));
    return o;
}

static const char *stop_reason(const llm_encoder_t *e)
{
    const char *f = e->finish ? e->finish : LLM_FINISH_STOP;

    return is(f, LLM_FINISH_LENGTH) ? "max_tokens"
           : is(f, LLM_FINISH_TOOL_CALLS) ? "tool_use"
           : is(f, LLM_FINISH_CONTENT_FILTER) ? "refusal" : "end_turn";
}

/* Anthropic's usage: input_tokens without the cache reads, which have
 * their own count. */
static json_object *usage_json(const llm_usage_t *u, int with_input)
{
    json_object *o = json_object_new_object();
    apr_int64_t input = u->prompt_tokens;

    if (input >= 0 && u->cached_tokens > 0 && input >= u->cached_tokens) {
        input -= u->cached_tokens;
    }
    if (with_input) {
        llm_json_add(o, "input_tokens",
                     json_object_new_int64(llm_enc_count(input)));
        if (u->cached_tokens >= 0) {
            llm_json_add(o, "cache_read_input_tokens",
                json_object_new_int64(u->cached_tokens));
        }
    }
    llm_json_add(o, "output_tokens", json_object_new_int64(llm_enc_count(
        u->completion_tokens)));
    return o;
}

/* The message: empty at message_start, final in a whole body. */
static json_object *message_json(llm_encoder_t *e, json_object *content,
                                 int final)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "id", llm_json_string(e->id));
    llm_json_add(o, "type", llm_json_string("message"));
    llm_json_add(o, "role", llm_json_string("assistant"));
    llm_json_add(o, "model", llm_json_string(e->model));
    llm_json_add(o, "content", content);
    llm_json_add(o, "stop_reason",
                 final ? llm_json_string(stop_reason(e)) : NULL);
    llm_json_add(o, "stop_sequence", NULL);
    llm_json_add(o, "usage", usage_json(&e->usage, 1));
    return o;
}

/* A content block as it starts (empty) or as a whole body holds it. */
static json_object *block_json(llm_enc_item_t *it, int whole)
{
    json_object *o;

    if (it->kind == LLM_ITEM_TOOL) {
        o = typed("tool_use");
        llm_json_add(o, "id", llm_json_string(it->tool_id));
        llm_json_add(o, "name", llm_json_string(it->tool_name));
        llm_json_add(o, "input", whole ? llm_json_args(it->buf.data)
                              : json_object_new_object());
        return o;
    }
    o = typed(it->kind == LLM_ITEM_TEXT ? "text" : "thinking");
    llm_json_add(o, it->kind == LLM_ITEM_TEXT ? "text" : "thinking",
        whole ? llm_json_strn(it->buf.data, it->buf.len) : llm_json_string(""));
    if (it->kind == LLM_ITEM_REASONING) {
        llm_json_add(o, "signature",
                     llm_json_string(""));   /* we have none to give */
    }
    return o;
}

static apr_status_t send_event(llm_encoder_t *e, const char *type,
                               json_object *o)
{
    return llm_enc_sse(e, type, o);
}

static apr_status_t block_stop(llm_encoder_t *e)
{
    json_object *o;

    if (e->open_block < 0) {
        return APR_SUCCESS;
    }
    o = typed("content_block_stop");
    llm_json_add(o, "index", json_object_new_int(e->open_block));
    e->open_block = -1;
    return send_event(e, "content_block_stop", o);
}

/* One block at a time: opening one closes the one before. */
static apr_status_t block_start(llm_encoder_t *e, llm_enc_item_t *it)
{
    json_object *o = typed("content_block_start");

    LLM_TRY(block_stop(e));
    it->opened = 1;
    e->open_block = it->index;
    llm_json_add(o, "index", json_object_new_int(it->index));
    llm_json_add(o, "content_block", block_json(it, 0));
    return send_event(e, "content_block_start", o);
}

static apr_status_t block_delta_out(llm_encoder_t *e, llm_enc_item_t *it,
                                    const char *s, apr_size_t n)
{
    json_object *o = typed("content_block_delta");
    json_object *delta = typed(it->kind == LLM_ITEM_TEXT ? "text_delta"
                               : it->kind == LLM_ITEM_TOOL
                               ? "input_json_delta" : "thinking_delta");

    llm_json_add(delta, it->kind == LLM_ITEM_TEXT ? "text"
               : it->kind == LLM_ITEM_TOOL ? "partial_json" : "thinking",
        llm_json_strn(s, n));
    llm_json_add(o, "index", json_object_new_int(it->index));
    llm_json_add(o, "delta", delta);
    return send_event(e, "content_block_delta", o);
}

static apr_status_t content(llm_encoder_t *e, const llm_event_t *ev,
                            llm_enc_item_t *it)
{
    int tool = ev->type == LLM_EV_TOOL_CALL;
    const char *s = tool ? ev->tool_args : ev->text;
    apr_size_t n = tool ? ev->tool_args_len : ev->text_len;

    if (!it->opened) {
        LLM_TRY(block_start(e, it));
    }
    return n ? block_delta_out(e, it, s, n) : APR_SUCCESS;
}

static apr_status_t anthropic_event(llm_encoder_t *e, const llm_event_t *ev,
                                    llm_enc_item_t *it)
{
    json_object *o;

    switch (ev->type) {
    case LLM_EV_START:
        o = typed("message_start");
        llm_json_add(o, "message", message_json(e, json_object_new_array(), 0));
        LLM_TRY(send_event(e, "message_start", o));
        return send_event(e, "ping", typed("ping"));
    case LLM_EV_TEXT:
    case LLM_EV_REASONING:
    case LLM_EV_TOOL_CALL:
        return content(e, ev, it);
    case LLM_EV_FINISH:
        return block_stop(e);
    default:
        return APR_SUCCESS;
    }
}

/* The stop reason and final usage (the input too, as Anthropic now
 * sends it there), then the end marker. */
static apr_status_t anthropic_end(llm_encoder_t *e)
{
    json_object *o = typed("message_delta");
    json_object *delta = json_object_new_object();

    LLM_TRY(block_stop(e));
    llm_json_add(delta, "stop_reason", llm_json_string(stop_reason(e)));
    llm_json_add(delta, "stop_sequence", NULL);
    llm_json_add(o, "delta", delta);
    llm_json_add(o, "usage",
                 usage_json(&e->usage, e->usage.prompt_tokens >= 0));
    LLM_TRY(send_event(e, "message_delta", o));
    return send_event(e, "message_stop", typed("message_stop"));
}

static apr_status_t anthropic_whole(llm_encoder_t *e)
{
    json_object *blocks = json_object_new_array();
    int i;

    for (i = 0; i < e->items->nelts; i++) {
        json_object_array_add(blocks, block_json(
            APR_ARRAY_IDX(e->items, i, llm_enc_item_t *), 1));
    }
    return llm_enc_json(e, message_json(e, blocks, 1));
}

/* Anthropic's error types pass; any other becomes api_error. */
static const char *error_type(const char *type)
{
    static const char *const known[] = {
        "invalid_request_error", "authentication_error",
        "permission_error", "not_found_error", "request_too_large",
        "rate_limit_error", "api_error", "overloaded_error", NULL
    };
    int i;

    for (i = 0; known[i]; i++) {
        if (is(type, known[i])) {
            return type;
        }
    }
    return "api_error";
}

static apr_status_t anthropic_error_out(llm_encoder_t *e, const char *type,
                                        const char *message)
{
    json_object *o = typed("error");
    json_object *err = typed(error_type(type));

    llm_json_add(err, "message", llm_json_string(message));
    llm_json_add(o, "error", err);
    return e->stream ? send_event(e, "error", o) : llm_enc_json(e, o);
}

const llm_enc_ops_t llm_enc_anthropic = {
    "msg_", "toolu_", 0, 0,
    anthropic_event, anthropic_end, anthropic_whole, anthropic_error_out
};
