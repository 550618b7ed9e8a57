/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What the decoders and encoders of every dialect share: growing
 * buffers, json-c lookups and serialisation, generated ids, the clock,
 * usage arithmetic, and the wires' names and content types.
 */

#include <locale.h>
#include <pthread.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_time.h"
#include "apr_general.h"
#include "apr_atomic.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

void (*llm_event_random_fn)(unsigned char *buf, apr_size_t len) = NULL;
apr_time_t (*llm_event_clock_fn)(void) = NULL;

/* ------------------------------------------------------------------ */
/* Ids, time, usage                                                    */
/* ------------------------------------------------------------------ */

/* prefix + 24 hex digits, as the servers' own ids look enough alike
 * for clients that check a prefix ("chatcmpl-", "msg_", "resp_"). */
const char *llm_event_new_id(apr_pool_t *p, const char *prefix)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[12];
    char out[sizeof(bytes) * 2 + 1];
    apr_size_t i;

    if (llm_event_random_fn) {
        llm_event_random_fn(bytes, sizeof(bytes));
    }
    else if (apr_generate_random_bytes(bytes, sizeof(bytes))
             != APR_SUCCESS) {
        /* no entropy source: time and a counter still differ per call */
        static volatile apr_uint32_t counter;
        apr_uint64_t t = (apr_uint64_t)apr_time_now();
        apr_uint32_t n = apr_atomic_inc32(&counter);

        for (i = 0; i < 8; i++) {
            bytes[i] = (unsigned char)(t >> (i * 8));
        }
        for (i = 8; i < sizeof(bytes); i++) {
            bytes[i] = (unsigned char)(n >> ((i - 8) * 8));
        }
    }
    for (i = 0; i < sizeof(bytes); i++) {
        out[2 * i] = hex[bytes[i] >> 4];
        out[2 * i + 1] = hex[bytes[i] & 0xf];
    }
    out[sizeof(out) - 1] = '\0';
    return apr_pstrcat(p, prefix, out, NULL);
}

apr_time_t llm_event_now(void)
{
    return llm_event_clock_fn ? llm_event_clock_fn() : apr_time_now();
}

void llm_usage_unknown(llm_usage_t *u)
{
    u->prompt_tokens = -1;
    u->completion_tokens = -1;
    u->total_tokens = -1;
    u->cached_tokens = -1;
    u->reasoning_tokens = -1;
}

/* Later reports win field by field (Anthropic gives the prompt first
 * and the completion at the end); the total follows its parts. */
apr_int64_t llm_count_add(apr_int64_t a, apr_int64_t b)
{
    if (b <= 0) {
        return a;
    }
    return a > APR_INT64_MAX - b ? APR_INT64_MAX : a + b;
}

void llm_usage_merge(llm_usage_t *into, const llm_usage_t *from)
{
    if (from->prompt_tokens >= 0) {
        into->prompt_tokens = from->prompt_tokens;
    }
    if (from->completion_tokens >= 0) {
        into->completion_tokens = from->completion_tokens;
    }
    if (from->total_tokens >= 0) {
        into->total_tokens = from->total_tokens;
    }
    if (from->cached_tokens >= 0) {
        into->cached_tokens = from->cached_tokens;
    }
    if (from->reasoning_tokens >= 0) {
        into->reasoning_tokens = from->reasoning_tokens;
    }
    if (into->prompt_tokens >= 0 && into->completion_tokens >= 0
        && (from->total_tokens < 0 || into->total_tokens < 0)) {
        into->total_tokens = llm_count_add(into->prompt_tokens,
                                           into->completion_tokens);
    }
}

/* ------------------------------------------------------------------ */
/* Wires                                                               */
/* ------------------------------------------------------------------ */

const char *llm_wire_name(llm_wire_e wire)
{
    switch (wire) {
    case LLM_WIRE_OPENAI_CHAT:       return "openai_chat";
    case LLM_WIRE_OPENAI_COMPLETION: return "openai_completion";
    case LLM_WIRE_OPENAI_RESPONSES:  return "openai_responses";
    case LLM_WIRE_OLLAMA_CHAT:       return "ollama_chat";
    case LLM_WIRE_OLLAMA_GENERATE:   return "ollama_generate";
    case LLM_WIRE_ANTHROPIC:         return "anthropic";
    case LLM_WIRE_LMSTUDIO_CHAT:     return "lmstudio_chat";
    }
    return "unknown";
}

const char *llm_wire_content_type(llm_wire_e wire, int stream)
{
    int ollama = wire == LLM_WIRE_OLLAMA_CHAT
                 || wire == LLM_WIRE_OLLAMA_GENERATE;

    if (stream) {
        return ollama ? "application/x-ndjson" : "text/event-stream";
    }
    return ollama ? "application/json; charset=utf-8" : "application/json";
}
