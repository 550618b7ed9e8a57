/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * An SSE stream passing through unchanged but for the usage chunk the
 * gateway asked for (issue 12): where its events end, across any split
 * and any line end, and which event is the usage-only chunk; the end
 * marker of each wire.
 */

#include <string.h>

#include "apr_general.h"

#include "llm_event.h"
#include "tap.h"

/* The events of @a s fed in pieces of @a step bytes, each event's text
 * joined by "|" in @a out. */
static void split_all(const char *s, apr_size_t step, char *out,
                      apr_size_t outlen)
{
    llm_sse_split_t sp;
    char ev[512];
    apr_size_t evlen = 0, at = 0, len = strlen(s);

    memset(&sp, 0, sizeof(sp));
    out[0] = '\0';
    while (at < len) {
        apr_size_t piece = len - at < step ? len - at : step;
        apr_size_t off = 0, n;

        while ((n = llm_sse_split_next(&sp, s + at + off, piece - off))) {
            memcpy(ev + evlen, s + at + off, n);
            evlen += n;
            ev[evlen] = '\0';
            strncat(out, ev, outlen - strlen(out) - 2);
            strcat(out, "|");
            evlen = 0;
            off += n;
        }
        memcpy(ev + evlen, s + at + off, piece - off);
        evlen += piece - off;
        at += piece;
    }
}

static void test_split(void)
{
    char out[1024];
    apr_size_t step;
    int same = 1;

    split_all("data: a\n\ndata: b\nevent: x\n\n: c\n\n", 100, out,
              sizeof(out));
    is_str(out, "data: a\n\n|data: b\nevent: x\n\n|: c\n\n|",
           "LF: each event with its blank line");
    split_all("data: a\r\n\r\ndata: b\r\rdata: c", 100, out, sizeof(out));
    is_str(out, "data: a\r\n\r|\ndata: b\r\r|",
           "CRLF and CR; the LF of an event's last CRLF opens the next "
           "piece; an event without its end is none yet");
    for (step = 1; step < 12; step++) {
        char again[1024];

        split_all("data: {\"a\":1}\r\n\r\ndata: [DONE]\n\n", step, again,
                  sizeof(again));
        split_all("data: {\"a\":1}\r\n\r\ndata: [DONE]\n\n", 1000, out,
                  sizeof(out));
        same = same && !strcmp(again, out);
    }
    ok(same, "any split finds the same events");
}

static void test_usage_only(void)
{
    static const char usage[] =
        "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\","
        "\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
        "\"completion_tokens\":4,\"total_tokens\":5}}\n\n";
    static const char text[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[] "
        "usage\"}}],\"usage\":null}\n\n";
    static const char two[] =
        "data: {\"choices\": [],\r\ndata: \"usage\": {}}\r\n\r\n";

    ok(llm_sse_usage_only(usage, sizeof(usage) - 1), "the usage chunk");
    ok(llm_sse_usage_only(two, sizeof(two) - 1),
       "... over two data lines, CRLF");
    ok(!llm_sse_usage_only(text, sizeof(text) - 1),
       "a text chunk with usage null is not");
    ok(!llm_sse_usage_only("data: {\"choices\":[{\"delta\":{}}],\"usage\":"
                           "{\"total_tokens\":5}}\n\n", 61),
       "nor a last text chunk that carries the usage");
    ok(!llm_sse_usage_only("data: {\"choices\":[],\"usage\":{\n\n", 31),
       "nor a broken one");
    ok(!llm_sse_usage_only("data: [DONE]\n\n", 14), "nor [DONE]");
}

static void test_end_marker(void)
{
    is_str(llm_wire_end_marker(LLM_WIRE_OPENAI_CHAT), "data: [DONE]\n\n",
           "OpenAI chat: [DONE]");
    is_str(llm_wire_end_marker(LLM_WIRE_OPENAI_COMPLETION),
           "data: [DONE]\n\n", "completions too");
    is_str(llm_wire_end_marker(LLM_WIRE_ANTHROPIC),
           "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
           "Anthropic: message_stop");
    ok(!llm_wire_end_marker(LLM_WIRE_OLLAMA_CHAT)
       && !llm_wire_end_marker(LLM_WIRE_OPENAI_RESPONSES),
       "Ollama and Responses: their last record is their end");
}

int main(void)
{
    apr_initialize();
    test_split();
    test_usage_only();
    test_end_marker();
    apr_terminate();
    return tap_done();
}
