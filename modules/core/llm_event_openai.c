/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * OpenAI's chat completions (also vLLM's and LM Studio's /v1) and legacy
 * completions, streamed as "data: {chunk}" SSE events ending in
 * "data: [DONE]", or whole; and LM Studio's /api/v0 chat, which is the
 * same with its "stats" added to whole bodies.
 */

#include <string.h>

#include "apr_strings.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

static const char *finish_of(const char *reason)
{
    if (!reason) {
        return NULL;
    }
    if (!strcmp(reason, "length")) {
        return LLM_FINISH_LENGTH;
    }
    if (!strcmp(reason, "tool_calls") || !strcmp(reason, "function_call")) {
        return LLM_FINISH_TOOL_CALLS;
    }
    if (!strcmp(reason, "content_filter")) {
        return LLM_FINISH_CONTENT_FILTER;
    }
    return LLM_FINISH_STOP;             /* stop, eos, abort... */
}

static apr_status_t usage_of(llm_decoder_t *d, json_object *u)
{
    llm_usage_t usage;

    if (!u || !json_object_is_type(u, json_type_object)) {
        return APR_SUCCESS;
    }
    usage.prompt_tokens = llm_json_int(u, "prompt_tokens");
    usage.completion_tokens = llm_json_int(u, "completion_tokens");
    usage.total_tokens = llm_json_int(u, "total_tokens");
    usage.cached_tokens =
        llm_json_int(llm_json_get(u, "prompt_tokens_details"),
                     "cached_tokens");
    usage.reasoning_tokens =
        llm_json_int(llm_json_get(u, "completion_tokens_details"),
                     "reasoning_tokens");
    return llm_dec_usage(d, &usage);
}

static apr_status_t start_of(llm_decoder_t *d, json_object *obj)
{
    return llm_dec_start(d, llm_json_str(obj, "id", NULL),
                         llm_json_str(obj, "model", NULL),
                         llm_json_int(obj, "created"));
}

/* vLLM says reasoning_content, newer servers reasoning. */
static apr_status_t reasoning_of(llm_decoder_t *d, json_object *msg)
{
    apr_size_t len;
    const char *s = llm_json_str(msg, "reasoning_content", &len);

    if (!s) {
        s = llm_json_str(msg, "reasoning", &len);
    }
    return llm_dec_text(d, LLM_EV_REASONING, s, len);
}

/* One tool call of a delta: the first one of an index opens the call,
 * the next ones grow its arguments. A whole message's calls are each
 * first and last at once. */
static apr_status_t tool_of(llm_decoder_t *d, json_object *tc, int pos)
{
    json_object *fn = llm_json_get(tc, "function");
    apr_int64_t key = llm_json_int(tc, "index");
    apr_size_t alen;
    const char *args = llm_json_str(fn, "arguments", &alen);
    int index = llm_dec_tool_find(d, key >= 0 ? (int)key : pos);

    if (index < 0) {
        index = llm_dec_tool_add(d, key >= 0 ? (int)key : pos);
        return llm_dec_tool(d, index, llm_json_str(tc, "id", NULL),
                            llm_json_str(fn, "name", NULL), args, alen);
    }
    return alen ? llm_dec_tool(d, index, NULL, NULL, args, alen)
                : APR_SUCCESS;
}

static apr_status_t tools_of(llm_decoder_t *d, json_object *calls)
{
    size_t i;

    if (!calls || !json_object_is_type(calls, json_type_array)) {
        return APR_SUCCESS;
    }
    for (i = 0; i < json_object_array_length(calls); i++) {
        LLM_TRY(tool_of(d, json_object_array_get_idx(calls, i), (int)i));
    }
    return APR_SUCCESS;
}

/* Only the first choice is an answer: n > 1 is not relayed. */
static apr_status_t chat_choice(llm_decoder_t *d, json_object *choice,
                                const char *part)
{
    json_object *msg = llm_json_get(choice, part);
    apr_size_t len;
    const char *text = llm_json_str(msg, "content", &len);

    LLM_TRY(reasoning_of(d, msg));
    LLM_TRY(llm_dec_text(d, LLM_EV_TEXT, text, len));
    LLM_TRY(tools_of(d, llm_json_get(msg, "tool_calls")));
    return llm_dec_finish_if(d, finish_of(llm_json_str(choice,
                                                       "finish_reason",
                                                       NULL)));
}

static apr_status_t chat_record(llm_decoder_t *d, const char *event,
                                json_object *obj)
{
    apr_status_t rv;

    (void)event;
    if (llm_dec_upstream_error(d, obj, &rv)) {
        return rv;
    }
    LLM_TRY(start_of(d, obj));
    LLM_TRY(chat_choice(d, llm_json_first(llm_json_get(obj, "choices")),
                        "delta"));
    return usage_of(d, llm_json_get(obj, "usage"));
}

static apr_status_t chat_body(llm_decoder_t *d, json_object *obj)
{
    json_object *choice = llm_json_first(llm_json_get(obj, "choices"));
    apr_status_t rv;

    if (llm_dec_upstream_error(d, obj, &rv)) {
        return rv;
    }
    if (!choice) {
        return llm_dec_bad_body(d);
    }
    LLM_TRY(start_of(d, obj));
    LLM_TRY(chat_choice(d, choice, "message"));
    LLM_TRY(usage_of(d, llm_json_get(obj, "usage")));
    return llm_dec_done(d);
}

static apr_status_t completion_choice(llm_decoder_t *d, json_object *choice)
{
    apr_size_t len;
    const char *text = llm_json_str(choice, "text", &len);

    LLM_TRY(llm_dec_text(d, LLM_EV_TEXT, text, len));
    return llm_dec_finish_if(d, finish_of(llm_json_str(choice,
                                                       "finish_reason",
                                                       NULL)));
}

static apr_status_t completion_record(llm_decoder_t *d, const char *event,
                                      json_object *obj)
{
    apr_status_t rv;

    (void)event;
    if (llm_dec_upstream_error(d, obj, &rv)) {
        return rv;
    }
    LLM_TRY(start_of(d, obj));
    LLM_TRY(completion_choice(d, llm_json_first(llm_json_get(obj,
                                                             "choices"))));
    return usage_of(d, llm_json_get(obj, "usage"));
}

static apr_status_t completion_body(llm_decoder_t *d, json_object *obj)
{
    json_object *choice = llm_json_first(llm_json_get(obj, "choices"));
    apr_status_t rv;

    if (llm_dec_upstream_error(d, obj, &rv)) {
        return rv;
    }
    if (!choice) {
        return llm_dec_bad_body(d);
    }
    LLM_TRY(start_of(d, obj));
    LLM_TRY(completion_choice(d, choice));
    LLM_TRY(usage_of(d, llm_json_get(obj, "usage")));
    return llm_dec_done(d);
}

const llm_dec_ops_t llm_dec_openai_chat = {
    LLM_FRAME_SSE, 1, chat_record, chat_body
};

const llm_dec_ops_t llm_dec_openai_completion = {
    LLM_FRAME_SSE, 1, completion_record, completion_body
};

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

/* id, object, created, model: how every OpenAI object begins. LM
 * Studio adds its model as system_fingerprint. */
static json_object *head(llm_encoder_t *e, const char *object)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "id", llm_json_string(e->id));
    llm_json_add(o, "object", llm_json_string(object));
    llm_json_add(o, "created", json_object_new_int64(e->created));
    llm_json_add(o, "model", llm_json_string(e->model));
    if (e->wire == LLM_WIRE_LMSTUDIO_CHAT) {
        llm_json_add(o, "system_fingerprint", llm_json_string(e->model));
    }
    return o;
}

static json_object *usage_json(const llm_usage_t *u)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "prompt_tokens", json_object_new_int64(llm_enc_count(
        u->prompt_tokens)));
    llm_json_add(o, "completion_tokens", json_object_new_int64(llm_enc_count(
        u->completion_tokens)));
    llm_json_add(o, "total_tokens", json_object_new_int64(llm_enc_count(
        u->total_tokens)));
    if (u->cached_tokens >= 0) {
        json_object *details = json_object_new_object();

        llm_json_add(details, "cached_tokens", json_object_new_int64(
            u->cached_tokens));
        llm_json_add(o, "prompt_tokens_details", details);
    }
    if (u->reasoning_tokens >= 0) {
        json_object *details = json_object_new_object();

        llm_json_add(details, "reasoning_tokens", json_object_new_int64(
            u->reasoning_tokens));
        llm_json_add(o, "completion_tokens_details", details);
    }
    return o;
}

static const char *finish_or_stop(const llm_encoder_t *e)
{
    return e->finish ? e->finish : LLM_FINISH_STOP;
}

/* "data: {"error":{...}}" and no [DONE]; or the error body. */
static apr_status_t openai_error(llm_encoder_t *e, const char *type,
                                 const char *message)
{
    json_object *o = llm_enc_openai_error(type, message);

    return e->stream ? llm_enc_sse(e, NULL, o) : llm_enc_json(e, o);
}

/* The usage chunk (when the client asked for it) and [DONE]. */
static apr_status_t stream_end(llm_encoder_t *e, const char *object)
{
    if (e->include_usage) {
        json_object *o = head(e, object);

        llm_json_add(o, "choices", json_object_new_array());
        llm_json_add(o, "usage", usage_json(&e->usage));
        LLM_TRY(llm_enc_sse(e, NULL, o));
    }
    return llm_enc_write(e, "data: [DONE]\n\n", 14);
}

/* --- chat ---------------------------------------------------------- */

static apr_status_t chat_chunk(llm_encoder_t *e, json_object *delta,
                               const char *finish)
{
    json_object *o = head(e, "chat.completion.chunk");
    json_object *choice = json_object_new_object();
    json_object *choices = json_object_new_array();

    llm_json_add(choice, "index", json_object_new_int(0));
    llm_json_add(choice, "delta", delta);
    llm_json_add(choice, "logprobs", NULL);
    llm_json_add(choice, "finish_reason",
                 finish ? llm_json_string(finish) : NULL);
    json_object_array_add(choices, choice);
    llm_json_add(o, "choices", choices);
    return llm_enc_sse(e, NULL, o);
}

static json_object *text_delta(const char *key, const char *s, apr_size_t n)
{
    json_object *delta = json_object_new_object();

    llm_json_add(delta, key, llm_json_strn(s, n));
    return delta;
}

/* The first delta of a call names it; the next ones carry arguments. */
static json_object *tool_delta(llm_enc_item_t *it, const llm_event_t *ev)
{
    json_object *delta = json_object_new_object();
    json_object *calls = json_object_new_array();
    json_object *call = json_object_new_object();
    json_object *fn = json_object_new_object();

    llm_json_add(call, "index", json_object_new_int(it->tool_seq));
    if (!it->opened) {
        it->opened = 1;
        llm_json_add(call, "id", llm_json_string(it->tool_id));
        llm_json_add(call, "type", llm_json_string("function"));
        llm_json_add(fn, "name", llm_json_string(it->tool_name));
    }
    llm_json_add(fn, "arguments",
                 llm_json_strn(ev->tool_args, ev->tool_args_len));
    llm_json_add(call, "function", fn);
    json_object_array_add(calls, call);
    llm_json_add(delta, "tool_calls", calls);
    return delta;
}

static apr_status_t chat_event(llm_encoder_t *e, const llm_event_t *ev,
                               llm_enc_item_t *it)
{
    json_object *delta;

    switch (ev->type) {
    case LLM_EV_START:
        delta = json_object_new_object();
        llm_json_add(delta, "role", llm_json_string("assistant"));
        llm_json_add(delta, "content", llm_json_string(""));
        return chat_chunk(e, delta, NULL);
    case LLM_EV_TEXT:
        return chat_chunk(e, text_delta("content", ev->text, ev->text_len),
                          NULL);
    case LLM_EV_REASONING:
        return chat_chunk(e, text_delta("reasoning_content", ev->text,
                                        ev->text_len), NULL);
    case LLM_EV_TOOL_CALL:
        if (it->opened && !ev->tool_args_len) {
            return APR_SUCCESS;
        }
        return chat_chunk(e, tool_delta(it, ev), NULL);
    case LLM_EV_FINISH:
        return chat_chunk(e, json_object_new_object(), e->finish);
    default:
        return APR_SUCCESS;
    }
}

static apr_status_t chat_end(llm_encoder_t *e)
{
    if (!e->finish) {
        e->finish = LLM_FINISH_STOP;
        LLM_TRY(chat_chunk(e, json_object_new_object(), e->finish));
    }
    return stream_end(e, "chat.completion.chunk");
}

static json_object *tool_calls_json(llm_encoder_t *e)
{
    json_object *calls = json_object_new_array();
    int i;

    for (i = 0; i < e->items->nelts; i++) {
        llm_enc_item_t *it = APR_ARRAY_IDX(e->items, i, llm_enc_item_t *);
        json_object *call, *fn;

        if (it->kind != LLM_ITEM_TOOL) {
            continue;
        }
        call = json_object_new_object();
        fn = json_object_new_object();
        llm_json_add(call, "id", llm_json_string(it->tool_id));
        llm_json_add(call, "type", llm_json_string("function"));
        llm_json_add(fn, "name", llm_json_string(it->tool_name));
        llm_json_add(fn, "arguments", llm_json_strn(it->buf.data, it->buf.len));
        llm_json_add(call, "function", fn);
        json_object_array_add(calls, call);
    }
    return calls;
}

/* content is null when the answer is only tool calls, as OpenAI says. */
static json_object *chat_message(llm_encoder_t *e)
{
    json_object *msg = json_object_new_object();
    apr_size_t len, rlen;
    const char *text = llm_enc_text(e, LLM_ITEM_TEXT, &len);
    const char *reasoning = llm_enc_text(e, LLM_ITEM_REASONING, &rlen);

    llm_json_add(msg, "role", llm_json_string("assistant"));
    llm_json_add(msg, "content",
                 len || !e->ntools ? llm_json_strn(text, len) : NULL);
    if (rlen) {
        llm_json_add(msg, "reasoning_content", llm_json_strn(reasoning, rlen));
    }
    if (e->ntools) {
        llm_json_add(msg, "tool_calls", tool_calls_json(e));
    }
    return msg;
}

static apr_status_t chat_whole(llm_encoder_t *e)
{
    json_object *o = head(e, "chat.completion");
    json_object *choice = json_object_new_object();
    json_object *choices = json_object_new_array();

    llm_json_add(choice, "index", json_object_new_int(0));
    llm_json_add(choice, "message", chat_message(e));
    llm_json_add(choice, "logprobs", NULL);
    llm_json_add(choice, "finish_reason", llm_json_string(finish_or_stop(e)));
    json_object_array_add(choices, choice);
    llm_json_add(o, "choices", choices);
    llm_json_add(o, "usage", usage_json(&e->usage));
    return llm_enc_json(e, o);
}

const llm_enc_ops_t llm_enc_openai_chat = {
    "chatcmpl-", "call_", 0, 0,
    chat_event, chat_end, chat_whole, openai_error
};

/* --- LM Studio's /api/v0 ------------------------------------------- */

static const char *lmstudio_stop_reason(const char *finish)
{
    if (!strcmp(finish, LLM_FINISH_LENGTH)) {
        return "maxPredictedTokensReached";
    }
    if (!strcmp(finish, LLM_FINISH_TOOL_CALLS)) {
        return "toolCalls";
    }
    return "eosFound";
}

/* A number with three decimals, formatted by APR: the C locale's
 * decimal point whatever the process's locale. */
static json_object *decimal3(apr_pool_t *p, double d)
{
    return json_object_new_double_s(d, apr_psprintf(p, "%.3f", d));
}

/* LM Studio's stats, measured here: from the encoder's creation to the
 * first token, and from there to the end. */
static json_object *lmstudio_stats(llm_encoder_t *e, apr_pool_t *p)
{
    json_object *o = json_object_new_object();
    apr_time_t end = llm_event_now();
    apr_time_t first = e->t_first ? e->t_first : end;
    double gen = (double)(end - first) / APR_USEC_PER_SEC;
    double tps = gen > 0 ? llm_enc_count(e->usage.completion_tokens) / gen
                         : 0;

    llm_json_add(o, "tokens_per_second", decimal3(p, tps));
    llm_json_add(o, "time_to_first_token",
        decimal3(p, (double)(first - e->t0) / APR_USEC_PER_SEC));
    llm_json_add(o, "generation_time", decimal3(p, gen));
    llm_json_add(o, "stop_reason",
                 llm_json_string(lmstudio_stop_reason(finish_or_stop(e))));
    return o;
}

static apr_status_t lmstudio_whole(llm_encoder_t *e)
{
    json_object *o = head(e, "chat.completion");
    json_object *choice = json_object_new_object();
    json_object *choices = json_object_new_array();

    llm_json_add(choice, "index", json_object_new_int(0));
    llm_json_add(choice, "logprobs", NULL);
    llm_json_add(choice, "finish_reason", llm_json_string(finish_or_stop(e)));
    llm_json_add(choice, "message", chat_message(e));
    json_object_array_add(choices, choice);
    llm_json_add(o, "choices", choices);
    llm_json_add(o, "usage", usage_json(&e->usage));
    llm_json_add(o, "stats", lmstudio_stats(e, e->scratch));
    return llm_enc_json(e, o);
}

const llm_enc_ops_t llm_enc_lmstudio_chat = {
    "chatcmpl-", "call_", 0, 0,
    chat_event, chat_end, lmstudio_whole, openai_error
};

/* --- legacy completions -------------------------------------------- */

/* A completion has no tool calls to finish with. */
static json_object *completion_json(llm_encoder_t *e, json_object *text,
                                    const char *finish)
{
    json_object *o = head(e, "text_completion");
    json_object *choice = json_object_new_object();
    json_object *choices = json_object_new_array();

    llm_json_add(choice, "text", text);
    llm_json_add(choice, "index", json_object_new_int(0));
    llm_json_add(choice, "logprobs", NULL);
    if (finish && !strcmp(finish, LLM_FINISH_TOOL_CALLS)) {
        finish = LLM_FINISH_STOP;
    }
    llm_json_add(choice, "finish_reason",
                 finish ? llm_json_string(finish) : NULL);
    json_object_array_add(choices, choice);
    llm_json_add(o, "choices", choices);
    return o;
}

/* Text only: reasoning and tool calls have no place in a completion. */
static apr_status_t completion_event(llm_encoder_t *e, const llm_event_t *ev,
                                     llm_enc_item_t *it)
{
    (void)it;
    if (ev->type == LLM_EV_TEXT) {
        return llm_enc_sse(e, NULL, completion_json(
            e, llm_json_strn(ev->text, ev->text_len), NULL));
    }
    if (ev->type == LLM_EV_FINISH) {
        return llm_enc_sse(e, NULL, completion_json(e, llm_json_string(""),
                                                    e->finish));
    }
    return APR_SUCCESS;
}

static apr_status_t completion_end(llm_encoder_t *e)
{
    if (!e->finish) {
        e->finish = LLM_FINISH_STOP;
        LLM_TRY(llm_enc_sse(e, NULL, completion_json(e, llm_json_string(""),
                                                     e->finish)));
    }
    return stream_end(e, "text_completion");
}

static apr_status_t completion_whole(llm_encoder_t *e)
{
    apr_size_t len;
    const char *text = llm_enc_text(e, LLM_ITEM_TEXT, &len);
    json_object *o = completion_json(e, llm_json_strn(text, len),
                                     finish_or_stop(e));

    llm_json_add(o, "usage", usage_json(&e->usage));
    return llm_enc_json(e, o);
}

const llm_enc_ops_t llm_enc_openai_completion = {
    "cmpl-", "call_", 0, 0,
    completion_event, completion_end, completion_whole, openai_error
};
