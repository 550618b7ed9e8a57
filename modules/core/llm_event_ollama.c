/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Ollama's /api/chat and /api/generate: one JSON object per line
 * (NDJSON) when streamed, the last one "done":true with the counters;
 * one such object when not. Tool calls come whole, with their arguments
 * as an object, and before Ollama 0.12 without ids.
 *
 * Ollama is written in Go: keys come in its structs' order, times in
 * RFC 3339 with nanoseconds and the metrics are "omitempty" (a zero is
 * left out). The encoder writes them the same way.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_time.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* Two digits at @a s as a number, or -1. */
static int two_digits(const char *s)
{
    return apr_isdigit(s[0]) && apr_isdigit(s[1])
           ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

/* "2023-08-04T08:52:19.385406455-07:00" or "...Z" to epoch seconds;
 * 0 if it is not one. The offset is RFC 3339's "+HH:MM" (or "+HHMM"),
 * read as those digits alone: an upstream's "+85406475" is no offset
 * of any time, not a number to multiply until it overflows. */
static apr_int64_t parse_time(const char *s)
{
    apr_time_exp_t tm;
    apr_time_t t;
    int y, mo, d, h, mi, sec, n = 0, oh, om;
    apr_int64_t offset = 0;

    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                     &sec, &n) != 6) {
        return 0;
    }
    s += n;
    if (*s == '.') {
        while (apr_isdigit(*++s)) {
        }
    }
    if (*s == '+' || *s == '-') {
        /* Each byte is read only when those before it were digits. */
        if ((oh = two_digits(s + 1)) < 0 || oh > 23
            || (om = two_digits(s + (s[3] == ':' ? 4 : 3))) < 0 || om > 59
            || apr_isdigit(s[s[3] == ':' ? 6 : 5])) {
            return 0;
        }
        offset = (oh * 60 + om) * 60;
        offset = *s == '-' ? -offset : offset;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    if (apr_time_exp_gmt_get(&t, &tm) != APR_SUCCESS) {
        return 0;
    }
    return apr_time_sec(t) - offset;
}

/* Ollama sends arguments as an object; they travel as a JSON string. */
static const char *args_of(json_object *args, apr_size_t *len)
{
    if (!args) {
        *len = 2;
        return "{}";
    }
    if (json_object_is_type(args, json_type_string)) {
        *len = (apr_size_t)json_object_get_string_len(args);
        return json_object_get_string(args);
    }
    return llm_json_dump(args, len);
}

static apr_status_t tool_of(llm_decoder_t *d, json_object *tc)
{
    json_object *fn = llm_json_get(tc, "function");
    const char *id = llm_json_str(tc, "id", NULL);
    apr_size_t len;
    const char *args = args_of(llm_json_get(fn, "arguments"), &len);
    int index = llm_dec_tool_add(d, d->tools->nelts);

    if (!id || !*id) {
        id = llm_event_new_id(d->scratch, "call_");
    }
    return llm_dec_tool(d, index, id, llm_json_str(fn, "name", NULL),
                        args, len);
}

static apr_status_t tools_of(llm_decoder_t *d, json_object *calls)
{
    size_t i;

    if (!calls || !json_object_is_type(calls, json_type_array)) {
        return APR_SUCCESS;
    }
    for (i = 0; i < json_object_array_length(calls); i++) {
        LLM_TRY(tool_of(d, json_object_array_get_idx(calls, i)));
    }
    return APR_SUCCESS;
}

static apr_status_t text_of(llm_decoder_t *d, json_object *o,
                            const char *text_key)
{
    apr_size_t len;
    const char *s = llm_json_str(o, "thinking", &len);

    LLM_TRY(llm_dec_text(d, LLM_EV_REASONING, s, len));
    s = llm_json_str(o, text_key, &len);
    return llm_dec_text(d, LLM_EV_TEXT, s, len);
}

/* The done line: why it stopped (tool calls made say "stop" too), its
 * counters, and the end. */
static apr_status_t done_of(llm_decoder_t *d, json_object *obj)
{
    const char *reason = llm_json_str(obj, "done_reason", NULL);
    llm_usage_t usage;

    LLM_TRY(llm_dec_finish(d, d->tools->nelts ? LLM_FINISH_TOOL_CALLS
                              : reason && !strcmp(reason, "length")
                              ? LLM_FINISH_LENGTH : LLM_FINISH_STOP));
    llm_usage_unknown(&usage);
    usage.prompt_tokens = llm_json_int(obj, "prompt_eval_count");
    usage.completion_tokens = llm_json_int(obj, "eval_count");
    LLM_TRY(llm_dec_usage(d, &usage));
    return llm_dec_done(d);
}

static apr_status_t line_of(llm_decoder_t *d, json_object *obj, int chat)
{
    apr_status_t rv;
    json_object *done = llm_json_get(obj, "done");

    if (llm_dec_upstream_error(d, obj, &rv)) {
        return rv;
    }
    LLM_TRY(llm_dec_start(d, NULL, llm_json_str(obj, "model", NULL),
                          parse_time(llm_json_str(obj, "created_at",
                                                  NULL))));
    if (chat) {
        json_object *msg = llm_json_get(obj, "message");

        LLM_TRY(text_of(d, msg, "content"));
        LLM_TRY(tools_of(d, llm_json_get(msg, "tool_calls")));
    }
    else {
        LLM_TRY(text_of(d, obj, "response"));
        LLM_TRY(tools_of(d, llm_json_get(obj, "tool_calls")));
    }
    if (done && json_object_get_boolean(done)) {
        return done_of(d, obj);
    }
    return APR_SUCCESS;
}

static apr_status_t chat_record(llm_decoder_t *d, const char *event,
                                json_object *obj)
{
    (void)event;
    return line_of(d, obj, 1);
}

static apr_status_t generate_record(llm_decoder_t *d, const char *event,
                                    json_object *obj)
{
    (void)event;
    return line_of(d, obj, 0);
}

/* A whole body is the done line with everything in it. */
static apr_status_t body_of(llm_decoder_t *d, json_object *obj,
                            const char *key)
{
    if (!llm_json_get(obj, key) && !llm_json_get(obj, "error")) {
        return llm_dec_bad_body(d);
    }
    LLM_TRY(line_of(d, obj, !strcmp(key, "message")));
    return d->complete || d->stopped ? APR_SUCCESS : done_of(d, obj);
}

static apr_status_t chat_body(llm_decoder_t *d, json_object *obj)
{
    return body_of(d, obj, "message");
}

static apr_status_t generate_body(llm_decoder_t *d, json_object *obj)
{
    return body_of(d, obj, "response");
}

const llm_dec_ops_t llm_dec_ollama_chat = {
    LLM_FRAME_NDJSON, 0, chat_record, chat_body
};

const llm_dec_ops_t llm_dec_ollama_generate = {
    LLM_FRAME_NDJSON, 0, generate_record, generate_body
};

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static int is_chat(const llm_encoder_t *e)
{
    return e->wire == LLM_WIRE_OLLAMA_CHAT;
}

/* Go's time.RFC3339Nano in UTC: trailing zeros of the fraction, and a
 * fraction of zero, are left out. */
static const char *rfc3339(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;
    char frac[16] = "";
    long ns;
    int digits = 9;

    apr_time_exp_gmt(&tm, t);
    ns = (long)tm.tm_usec * 1000;
    if (ns) {
        while (ns % 10 == 0) {
            ns /= 10;
            digits--;
        }
        apr_snprintf(frac, sizeof(frac), ".%0*ld", digits, ns);
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d%sZ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* model and created_at: how every line begins. Each line is stamped
 * when it is written, as Ollama does, unless the caller fixed "now". */
static json_object *line_head(llm_encoder_t *e)
{
    json_object *o = json_object_new_object();

    llm_json_add(o, "model", llm_json_string(e->model));
    llm_json_add(o, "created_at",
                 llm_json_string(rfc3339(e->scratch, e->now ? e->now
                                                        : llm_event_now())));
    return o;
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
        llm_json_add(fn, "index", json_object_new_int(it->tool_seq));
        llm_json_add(fn, "name", llm_json_string(it->tool_name));
        llm_json_add(fn, "arguments", llm_json_args(it->buf.data));
        llm_json_add(call, "function", fn);
        json_object_array_add(calls, call);
    }
    return calls;
}

/* A line's payload: chat's message {role, content, thinking,
 * tool_calls}, generate's response and thinking. */
static void add_payload(llm_encoder_t *e, json_object *o, json_object *text,
                        json_object *thinking, int tools)
{
    json_object *msg;

    if (!is_chat(e)) {
        llm_json_add(o, "response", text);
        if (thinking) {
            llm_json_add(o, "thinking", thinking);
        }
        return;
    }
    msg = json_object_new_object();
    llm_json_add(msg, "role", llm_json_string("assistant"));
    llm_json_add(msg, "content", text);
    if (thinking) {
        llm_json_add(msg, "thinking", thinking);
    }
    if (tools) {
        llm_json_add(msg, "tool_calls", tool_calls_json(e));
    }
    llm_json_add(o, "message", msg);
}

static apr_status_t part_line(llm_encoder_t *e, json_object *text,
                              json_object *thinking, int tools)
{
    json_object *o = line_head(e);

    add_payload(e, o, text, thinking, tools);
    llm_json_add(o, "done", json_object_new_boolean(0));
    return llm_enc_line(e, o);
}

/* Only chat has tool calls; they go out whole, once they are complete:
 * at the finish, or at the end. */
static apr_status_t flush_tools(llm_encoder_t *e)
{
    if (e->tools_flushed || !e->ntools || !is_chat(e)) {
        return APR_SUCCESS;
    }
    e->tools_flushed = 1;
    return part_line(e, llm_json_string(""), NULL, 1);
}

static void add_count(json_object *o, const char *key, apr_int64_t n)
{
    if (n > 0) {
        llm_json_add(o, key, json_object_new_int64(n));
    }
}

/* done_reason and the metrics, measured here: from the encoder's
 * creation to the first token (prompt evaluation), from there to the
 * end (evaluation). */
static void add_done(llm_encoder_t *e, json_object *o)
{
    apr_time_t end = llm_event_now();
    apr_time_t first = e->t_first ? e->t_first : end;

    llm_json_add(o, "done", json_object_new_boolean(1));
    llm_json_add(o, "done_reason", llm_json_string(e->finish
                              && !strcmp(e->finish, LLM_FINISH_LENGTH)
                              ? "length" : "stop"));
    add_count(o, "total_duration", (end - e->t0) * 1000);
    /* load_duration: no model was loaded here, and Go leaves a 0 out */
    add_count(o, "prompt_eval_count", e->usage.prompt_tokens);
    add_count(o, "prompt_eval_duration", (first - e->t0) * 1000);
    add_count(o, "eval_count", e->usage.completion_tokens);
    add_count(o, "eval_duration", (end - first) * 1000);
}

static apr_status_t ollama_event(llm_encoder_t *e, const llm_event_t *ev,
                                 llm_enc_item_t *it)
{
    (void)it;
    switch (ev->type) {
    case LLM_EV_TEXT:
        return part_line(e, llm_json_strn(ev->text, ev->text_len), NULL, 0);
    case LLM_EV_REASONING:
        return part_line(e, llm_json_string(""),
                         llm_json_strn(ev->text, ev->text_len), 0);
    case LLM_EV_FINISH:
        return flush_tools(e);
    default:
        return APR_SUCCESS;             /* tool calls wait, see above */
    }
}

static apr_status_t ollama_end(llm_encoder_t *e)
{
    json_object *o;

    LLM_TRY(flush_tools(e));
    o = line_head(e);
    add_payload(e, o, llm_json_string(""), NULL, 0);
    add_done(e, o);
    return llm_enc_line(e, o);
}

static apr_status_t ollama_whole(llm_encoder_t *e)
{
    json_object *o = line_head(e);
    apr_size_t len, rlen;
    const char *text = llm_enc_text(e, LLM_ITEM_TEXT, &len);
    const char *thinking = llm_enc_text(e, LLM_ITEM_REASONING, &rlen);

    add_payload(e, o, llm_json_strn(text, len),
                rlen ? llm_json_strn(thinking, rlen) : NULL, e->ntools);
    add_done(e, o);
    return llm_enc_json(e, o);
}

static apr_status_t ollama_error(llm_encoder_t *e, const char *type,
                                 const char *message)
{
    json_object *o = json_object_new_object();

    (void)type;
    llm_json_add(o, "error", llm_json_string(message));
    return e->stream ? llm_enc_line(e, o) : llm_enc_json(e, o);
}

const llm_enc_ops_t llm_enc_ollama_chat = {
    NULL, "call_", 0, 1,
    ollama_event, ollama_end, ollama_whole, ollama_error
};

/* /api/generate has no tools: tool calls are not relayed. */
const llm_enc_ops_t llm_enc_ollama_generate = {
    NULL, "call_", 0, 0,
    ollama_event, ollama_end, ollama_whole, ollama_error
};
