/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * An SSE stream that passes to its client unchanged but for one event:
 * the usage chunk the gateway asked an OpenAI-dialect provider for on
 * behalf of a client that did not (docs/dialects.md, "Usage"). LLM_XLATE
 * finds where each event ends (llm_sse_split_next) and holds back the
 * one that is the usage-only chunk (llm_sse_usage_only); everything
 * else goes on as the provider sent it.
 */

#include <string.h>

#include "apr_strings.h"

#include "llm_event.h"
#include "llm_buf.h"

apr_size_t llm_sse_split_next(llm_sse_split_t *s, const char *buf,
                              apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        char c = buf[i];

        if (s->after_cr) {
            s->after_cr = 0;
            if (c == '\n') {
                continue;               /* the LF of a CRLF */
            }
        }
        if (c != '\r' && c != '\n') {
            s->in_line = 1;
            continue;
        }
        s->after_cr = c == '\r';
        if (!s->in_line) {
            return i + 1;               /* a blank line: the event ends */
        }
        s->in_line = 0;
    }
    return 0;
}

/* Its data lines joined with LF, as the SSE spec reads them. */
static const char *event_data(apr_pool_t *p, const char *ev, apr_size_t len,
                              apr_size_t *dlen)
{
    const char *end = ev + len;
    llm_buf_t data;
    int lines = 0;

    llm_buf_init(&data, p);
    while (ev < end) {
        const char *eol = ev;
        apr_size_t n;

        while (eol < end && *eol != '\r' && *eol != '\n') {
            eol++;
        }
        n = (apr_size_t)(eol - ev);
        if (n >= 5 && !memcmp(ev, "data:", 5)) {
            const char *v = ev + 5;
            apr_size_t vn = n - 5;

            if (vn && *v == ' ') {
                v++;
                vn--;
            }
            if (lines++) {
                llm_buf_add(&data, "\n", 1);
            }
            llm_buf_add(&data, v, vn);
        }
        ev = eol < end ? eol + 1 : end;
    }
    *dlen = data.len;
    return lines ? data.data : NULL;
}

int llm_sse_usage_only(const char *ev, apr_size_t len)
{
    apr_pool_t *p;
    json_object *o, *choices, *usage;
    const char *data;
    apr_size_t dlen;
    int yes = 0;

    /* Most events are text deltas: only one that mentions both is read. */
    if (!memmem(ev, len, "\"usage\"", 7) || !memmem(ev, len, "[", 1)) {
        return 0;
    }
    apr_pool_create(&p, NULL);
    data = event_data(p, ev, len, &dlen);
    o = data ? llm_json_parse(data, dlen) : NULL;
    if (o) {
        choices = llm_json_get(o, "choices");
        usage = llm_json_get(o, "usage");
        yes = choices && json_object_is_type(choices, json_type_array)
              && json_object_array_length(choices) == 0
              && usage && json_object_is_type(usage, json_type_object);
        json_object_put(o);
    }
    apr_pool_destroy(p);
    return yes;
}

const char *llm_wire_end_marker(llm_wire_e wire)
{
    switch (wire) {
    case LLM_WIRE_OPENAI_CHAT:
    case LLM_WIRE_OPENAI_COMPLETION:
    case LLM_WIRE_LMSTUDIO_CHAT:
        return "data: [DONE]\n\n";
    case LLM_WIRE_ANTHROPIC:
        return "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    default:
        return NULL;
    }
}

const char *llm_wire_stream_error(llm_wire_e wire)
{
    switch (wire) {
    case LLM_WIRE_ANTHROPIC:
        return "event: error\ndata: {\"type\":\"error\",\"error\":{"
               "\"type\":\"api_error\",\"message\":\"The provider's "
               "stream was interrupted.\"}}\n\n";
    case LLM_WIRE_OLLAMA_CHAT:
    case LLM_WIRE_OLLAMA_GENERATE:
        return "{\"error\":\"The provider's stream was interrupted.\"}\n";
    case LLM_WIRE_OPENAI_RESPONSES:
        return "event: error\ndata: {\"type\":\"error\",\"code\":"
               "\"stream_interrupted\",\"message\":\"The provider's "
               "stream was interrupted.\",\"param\":null}\n\n";
    default:
        return "data: {\"error\":{\"message\":\"The provider's stream was "
               "interrupted.\",\"type\":\"api_error\",\"param\":null,"
               "\"code\":\"stream_interrupted\"}}\n\n";
    }
}
