/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The decoder side shared by every dialect: SSE and NDJSON framing that
 * survives any split of its input, one scratch pool per record, and the
 * delivery rules of llm_event.h (START first and once, nothing after an
 * ERROR, DONE marks the stream complete). The dialects only turn one
 * parsed record into events (llm_event_openai.c, _responses.c,
 * _ollama.c, _anthropic.c).
 */

#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

static const llm_dec_ops_t *dec_ops(llm_wire_e wire)
{
    switch (wire) {
    case LLM_WIRE_OPENAI_COMPLETION: return &llm_dec_openai_completion;
    case LLM_WIRE_OPENAI_RESPONSES:  return &llm_dec_responses;
    case LLM_WIRE_OLLAMA_CHAT:       return &llm_dec_ollama_chat;
    case LLM_WIRE_OLLAMA_GENERATE:   return &llm_dec_ollama_generate;
    case LLM_WIRE_ANTHROPIC:         return &llm_dec_anthropic;
    case LLM_WIRE_OPENAI_CHAT:
    case LLM_WIRE_LMSTUDIO_CHAT:
        break;
    }
    return &llm_dec_openai_chat;
}

llm_decoder_t *llm_decoder_create(apr_pool_t *p, llm_wire_e wire,
                                  apr_size_t max_event)
{
    apr_pool_t *pool;
    llm_decoder_t *d;

    apr_pool_create(&pool, p);
    d = apr_pcalloc(pool, sizeof(*d));
    d->pool = pool;
    apr_pool_create(&d->scratch, pool);
    d->ops = dec_ops(wire);
    d->max_event = max_event ? max_event : LLM_EVENT_MAX_DEFAULT;
    llm_buf_init(&d->line, pool);
    llm_buf_init(&d->data, pool);
    llm_buf_init(&d->event, pool);
    d->first_line = 1;
    llm_usage_unknown(&d->usage);
    d->tools = apr_array_make(pool, 4, sizeof(llm_dec_tool_t));
    return d;
}

int llm_decoder_complete(const llm_decoder_t *d)
{
    return d->complete;
}

int llm_decoder_closed(const llm_decoder_t *d)
{
    return d->closed;
}

apr_size_t llm_decoder_skipped(const llm_decoder_t *d)
{
    return d->skipped;
}

/* ------------------------------------------------------------------ */
/* Delivery                                                            */
/* ------------------------------------------------------------------ */

static apr_status_t stop(llm_decoder_t *d, apr_status_t rv)
{
    d->stopped = 1;
    d->stop_rv = rv;
    return rv;
}

static apr_status_t call(llm_decoder_t *d, const llm_event_t *ev)
{
    apr_status_t rv = d->fn(d->baton, ev);

    return rv == APR_SUCCESS ? rv : stop(d, rv);
}

/* Everything goes through here: START comes first and once (made up
 * when the upstream's first record has nothing to say), and an ERROR
 * or a failed callback ends the stream for good. */
static apr_status_t deliver(llm_decoder_t *d, const llm_event_t *ev)
{
    if (d->stopped || d->complete) {
        return APR_SUCCESS;
    }
    if (ev->type == LLM_EV_START && d->started) {
        return APR_SUCCESS;
    }
    if (!d->started) {
        llm_event_t start;

        d->started = 1;
        if (ev->type != LLM_EV_START) {
            memset(&start, 0, sizeof(start));
            start.type = LLM_EV_START;
            LLM_TRY(call(d, &start));
        }
    }
    LLM_TRY(call(d, ev));
    if (ev->type == LLM_EV_ERROR) {
        /* an upstream error is news, not a failure of ours: later
         * bytes are ignored quietly */
        stop(d, APR_SUCCESS);
    }
    else if (ev->type == LLM_EV_DONE) {
        d->complete = 1;
    }
    return APR_SUCCESS;
}

static void event_init(llm_event_t *ev, llm_event_type_e type)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
}

apr_status_t llm_dec_start(llm_decoder_t *d, const char *id,
                           const char *model, apr_int64_t created)
{
    llm_event_t ev;

    event_init(&ev, LLM_EV_START);
    ev.id = id;
    ev.model = model;
    ev.created = created > 0 ? created : 0;
    return deliver(d, &ev);
}

apr_status_t llm_dec_text(llm_decoder_t *d, llm_event_type_e type,
                          const char *text, apr_size_t len)
{
    llm_event_t ev;

    if (!text || !len) {
        return APR_SUCCESS;
    }
    event_init(&ev, type);
    ev.text = text;
    ev.text_len = len;
    return deliver(d, &ev);
}

apr_status_t llm_dec_tool(llm_decoder_t *d, int index, const char *id,
                          const char *name, const char *args,
                          apr_size_t args_len)
{
    llm_event_t ev;

    if (index >= 0 && index < d->tools->nelts && args_len) {
        APR_ARRAY_IDX(d->tools, index, llm_dec_tool_t).has_args = 1;
    }
    event_init(&ev, LLM_EV_TOOL_CALL);
    ev.tool_index = index;
    ev.tool_id = id;
    ev.tool_name = name;
    ev.tool_args = args ? args : "";
    ev.tool_args_len = args ? args_len : 0;
    return deliver(d, &ev);
}

apr_status_t llm_dec_finish(llm_decoder_t *d, const char *reason)
{
    llm_event_t ev;

    event_init(&ev, LLM_EV_FINISH);
    ev.finish = reason;
    d->finish = reason;
    return deliver(d, &ev);
}

/* A FINISH when the record has a reason (most have none). */
apr_status_t llm_dec_finish_if(llm_decoder_t *d, const char *reason)
{
    return reason ? llm_dec_finish(d, reason) : APR_SUCCESS;
}

apr_status_t llm_dec_usage(llm_decoder_t *d, const llm_usage_t *u)
{
    llm_event_t ev;

    event_init(&ev, LLM_EV_USAGE);
    ev.usage = *u;
    if (u->total_tokens < 0 && u->prompt_tokens >= 0
        && u->completion_tokens >= 0) {
        ev.usage.total_tokens = llm_count_add(u->prompt_tokens,
                                              u->completion_tokens);
    }
    return deliver(d, &ev);
}

apr_status_t llm_dec_error(llm_decoder_t *d, const char *type,
                           const char *message)
{
    llm_event_t ev;

    event_init(&ev, LLM_EV_ERROR);
    ev.error_type = type ? type : "upstream_error";
    ev.error_message = message ? message : "The upstream reported an error.";
    return deliver(d, &ev);
}

apr_status_t llm_dec_done(llm_decoder_t *d)
{
    llm_event_t ev;

    event_init(&ev, LLM_EV_DONE);
    return deliver(d, &ev);
}

/* A body or record that is valid JSON but not an answer of the wire. */
apr_status_t llm_dec_bad_body(llm_decoder_t *d)
{
    LLM_TRY(llm_dec_error(d, "bad_response",
                          "The upstream's response is not one of its API."));
    return stop(d, APR_EGENERAL);
}

/* Tool calls are numbered 0, 1... in order of appearance, whatever the
 * upstream keys them by (a content block index, an output_index). */
int llm_dec_tool_find(llm_decoder_t *d, int key)
{
    int i;

    for (i = 0; i < d->tools->nelts; i++) {
        if (APR_ARRAY_IDX(d->tools, i, llm_dec_tool_t).key == key) {
            return i;
        }
    }
    return -1;
}

int llm_dec_tool_add(llm_decoder_t *d, int key)
{
    llm_dec_tool_t *t = apr_array_push(d->tools);

    t->key = key;
    t->has_args = 0;
    return d->tools->nelts - 1;
}

/* The error objects of every dialect: OpenAI's and Anthropic's
 * {"error":{"message","type"}}, vLLM's {"object":"error","message"},
 * Ollama's {"error":"message"}. */
int llm_dec_upstream_error(llm_decoder_t *d, json_object *obj,
                           apr_status_t *rv)
{
    json_object *err = llm_json_get(obj, "error");
    const char *type = NULL;
    const char *message = NULL;

    if (err && json_object_is_type(err, json_type_object)) {
        message = llm_json_str(err, "message", NULL);
        type = llm_json_str(err, "type", NULL);
        if (!type) {
            type = llm_json_str(err, "code", NULL);
        }
    }
    else if (err && json_object_is_type(err, json_type_string)) {
        message = json_object_get_string(err);
    }
    else {
        const char *object = llm_json_str(obj, "object", NULL);

        if (!object || strcmp(object, "error")) {
            return 0;
        }
        message = llm_json_str(obj, "message", NULL);
        type = llm_json_str(obj, "type", NULL);
    }
    *rv = llm_dec_error(d, type, message);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

static int blank(const char *s, apr_size_t len)
{
    while (len && apr_isspace(*s)) {
        s++;
        len--;
    }
    return len == 0;
}

static apr_status_t incomplete(llm_decoder_t *d)
{
    return llm_dec_error(d, "incomplete_stream",
                         "The upstream stream ended before it was "
                         "complete.");
}

/* One complete record: an SSE event's data, or an NDJSON line. Its
 * events point into the parsed object and the scratch pool, both gone
 * once it is handled.
 *
 * A record that is not a JSON object is skipped and counted: one bad
 * event in a good stream costs that event, not the stream (a client
 * of the provider's own dialect gets the stream whole too, the bad
 * event with it). Only the last bytes of a stream that ends before its
 * finish reason are a cut rather than a bad event. */
static apr_status_t record(llm_decoder_t *d, const char *event,
                           const char *data, apr_size_t len)
{
    json_object *obj;
    apr_status_t rv;

    if (d->ops->done_sentinel && len == 6 && !memcmp(data, "[DONE]", 6)) {
        return llm_dec_done(d);
    }
    if (blank(data, len)) {
        return APR_SUCCESS;
    }
    obj = llm_json_parse(data, len);
    if (!obj && d->ending && !d->finish) {
        return incomplete(d);           /* cut off in its middle */
    }
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        if (obj) {
            json_object_put(obj);
        }
        d->skipped++;
        return APR_SUCCESS;
    }
    rv = d->ops->record(d, event, obj);
    json_object_put(obj);
    apr_pool_clear(d->scratch);
    return rv;
}

static apr_status_t too_large(llm_decoder_t *d)
{
    LLM_TRY(llm_dec_error(d, "event_too_large",
                          apr_psprintf(d->scratch, "The upstream sent an "
                                       "event larger than %" APR_SIZE_T_FMT
                                       " bytes.", d->max_event)));
    stop(d, APR_EGENERAL);
    return APR_ENOSPC;
}

/* ------------------------------------------------------------------ */
/* SSE (https://html.spec.whatwg.org/#event-stream-interpretation)     */
/* ------------------------------------------------------------------ */

static apr_status_t sse_dispatch(llm_decoder_t *d)
{
    apr_status_t rv = APR_SUCCESS;

    if (d->has_data) {
        rv = record(d, d->event.len ? d->event.data : NULL, d->data.data,
                    d->data.len);
    }
    d->has_data = 0;
    d->data.len = 0;
    d->event.len = 0;
    return rv;
}

static apr_status_t sse_line(llm_decoder_t *d, const char *line,
                             apr_size_t len)
{
    const char *colon;
    const char *value = "";
    apr_size_t flen = len;
    apr_size_t vlen = 0;

    if (len == 0) {
        return sse_dispatch(d);
    }
    if (line[0] == ':') {
        return APR_SUCCESS;                 /* a comment (keep-alive) */
    }
    if ((colon = memchr(line, ':', len)) != NULL) {
        flen = (apr_size_t)(colon - line);
        value = colon + 1;
        vlen = len - flen - 1;
        if (vlen && *value == ' ') {
            value++;
            vlen--;
        }
    }
    if (flen == 4 && !memcmp(line, "data", 4)) {
        if (d->has_data) {
            llm_buf_add(&d->data, "\n", 1);
        }
        llm_buf_add(&d->data, value, vlen);
        d->has_data = 1;
    }
    else if (flen == 5 && !memcmp(line, "event", 5)) {
        d->event.len = 0;
        llm_buf_add(&d->event, value, vlen);
    }
    return APR_SUCCESS;                     /* id, retry, others: unused */
}

/* ------------------------------------------------------------------ */
/* Lines                                                               */
/* ------------------------------------------------------------------ */

static apr_status_t on_line(llm_decoder_t *d, const char *line,
                            apr_size_t len)
{
    if (d->first_line) {
        d->first_line = 0;
        if (len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) {
            line += 3;
            len -= 3;
        }
    }
    if (d->ops->framing == LLM_FRAME_SSE) {
        return sse_line(d, line, len);
    }
    if (len && line[len - 1] == '\r') {
        len--;
    }
    return record(d, NULL, line, len);
}

/* Where the line starting at @a s ends: SSE lines end at CR, LF or
 * CRLF, NDJSON lines at LF (a CR before it is stripped). */
static const char *line_end(const llm_decoder_t *d, const char *s,
                            apr_size_t len)
{
    const char *end = s + len;

    if (d->ops->framing == LLM_FRAME_NDJSON) {
        return memchr(s, '\n', len);
    }
    for (; s < end; s++) {
        if (*s == '\n' || *s == '\r') {
            return s;
        }
    }
    return NULL;
}

/* The bytes an event holds so far plus @a more must fit max_event. */
static int fits(const llm_decoder_t *d, apr_size_t more)
{
    return d->data.len + d->line.len + more <= d->max_event;
}

/* A complete line is handed over straight from the input when nothing
 * of it was held back, else it is appended to what was. */
static apr_status_t take_line(llm_decoder_t *d, const char *s,
                              apr_size_t n)
{
    apr_status_t rv;

    if (!fits(d, n)) {
        return too_large(d);
    }
    if (!d->line.len) {
        return on_line(d, s, n);
    }
    llm_buf_add(&d->line, s, n);
    rv = on_line(d, d->line.data, d->line.len);
    d->line.len = 0;
    return rv;
}

apr_status_t llm_decoder_feed(llm_decoder_t *d, const char *buf,
                              apr_size_t len, llm_event_fn fn, void *baton)
{
    apr_status_t rv = APR_SUCCESS;

    if (d->stopped) {
        return d->stop_rv == APR_SUCCESS ? APR_SUCCESS : APR_EGENERAL;
    }
    d->fn = fn;
    d->baton = baton;
    while (len && !d->complete && !d->stopped && rv == APR_SUCCESS) {
        const char *end;
        apr_size_t n;

        if (d->after_cr) {
            d->after_cr = 0;
            if (*buf == '\n') {             /* the LF of a split CRLF */
                buf++;
                len--;
                continue;
            }
        }
        if (!(end = line_end(d, buf, len))) {
            if (!fits(d, len)) {
                return too_large(d);
            }
            llm_buf_add(&d->line, buf, len);
            break;
        }
        n = (apr_size_t)(end - buf);
        d->after_cr = *end == '\r';
        rv = take_line(d, buf, n);
        buf += n + 1;
        len -= n + 1;
    }
    return rv;
}

apr_status_t llm_decoder_end(llm_decoder_t *d, llm_event_fn fn,
                             void *baton)
{
    if (d->stopped) {
        return d->stop_rv == APR_SUCCESS ? APR_SUCCESS : APR_EGENERAL;
    }
    if (d->complete) {
        return APR_SUCCESS;
    }
    d->fn = fn;
    d->baton = baton;
    d->ending = 1;
    if (d->line.len) {
        llm_buf_t held = d->line;

        d->line.len = 0;
        LLM_TRY(on_line(d, held.data, held.len));
    }
    if (d->ops->framing == LLM_FRAME_SSE && !d->complete && !d->stopped) {
        LLM_TRY(sse_dispatch(d));
    }
    if (d->complete || d->stopped) {
        return APR_SUCCESS;
    }
    if (d->finish) {
        /* The answer is whole; only its end marker did not come. */
        d->closed = 1;
        return llm_dec_done(d);
    }
    return incomplete(d);
}

/* ------------------------------------------------------------------ */
/* Whole bodies                                                        */
/* ------------------------------------------------------------------ */

apr_status_t llm_decode_body(apr_pool_t *p, llm_wire_e wire,
                             const char *buf, apr_size_t len,
                             llm_event_fn fn, void *baton)
{
    json_object *obj = llm_json_parse(buf, len);
    apr_status_t rv = llm_decode_object(p, wire, obj, fn, baton);

    if (obj) {
        json_object_put(obj);
    }
    return rv;
}

apr_status_t llm_decode_object(apr_pool_t *p, llm_wire_e wire,
                               struct json_object *obj, llm_event_fn fn,
                               void *baton)
{
    llm_decoder_t *d = llm_decoder_create(p, wire, 0);
    apr_status_t rv;

    d->fn = fn;
    d->baton = baton;
    if (!obj) {
        rv = llm_dec_error(d, "bad_response",
                           "The upstream's response is not valid JSON.");
        rv = rv == APR_SUCCESS ? APR_EGENERAL : rv;
    }
    else {
        rv = d->ops->body(d, obj);
        if (rv == APR_SUCCESS && !d->complete && !d->stopped) {
            rv = llm_dec_done(d);
        }
    }
    apr_pool_destroy(d->pool);
    return rv;
}
