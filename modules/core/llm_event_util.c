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
/* JSON                                                                */
/* ------------------------------------------------------------------ */

json_object *llm_json_get(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object)
        || !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return v;                   /* NULL for a JSON null too */
}

json_object *llm_json_first(json_object *array)
{
    if (!array || !json_object_is_type(array, json_type_array)
        || json_object_array_length(array) == 0) {
        return NULL;
    }
    return json_object_array_get_idx(array, 0);
}

const char *llm_json_str(json_object *o, const char *key, apr_size_t *len)
{
    json_object *v = llm_json_get(o, key);

    if (!v || !json_object_is_type(v, json_type_string)) {
        if (len) {
            *len = 0;
        }
        return NULL;
    }
    if (len) {
        *len = (apr_size_t)json_object_get_string_len(v);
    }
    return json_object_get_string(v);
}

apr_int64_t llm_json_int(json_object *o, const char *key)
{
    json_object *v = llm_json_get(o, key);
    apr_int64_t n;

    if (!v || !(json_object_is_type(v, json_type_int)
                || json_object_is_type(v, json_type_double))) {
        return -1;
    }
    n = json_object_get_int64(v);
    return n < 0 ? -1 : n;
}

/* json_tokener_new() callocs its parse stack (~1.3 KiB, 32 levels): a
 * request that large makes glibc's malloc consolidate every small chunk
 * freed since the last one, and json-c frees many (a node per value).
 * Two parses per proxied request paid that, a few per cent of its CPU.
 * Instead each thread keeps the tokener of its last parse for the next
 * one; take/give pairs make a tokener held across calls (an answer
 * parsed as it flows) safe: the next parse simply gets a new one. */
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;
static int tok_key_ok;

static void free_tokener(void *tok)
{
    json_tokener_free(tok);
}

static void make_tok_key(void)
{
    tok_key_ok = pthread_key_create(&tok_key, free_tokener) == 0;
}

json_tokener *llm_json_tokener_take(void)
{
    json_tokener *tok;

    pthread_once(&tok_once, make_tok_key);
    if (tok_key_ok && (tok = pthread_getspecific(tok_key)) != NULL) {
        pthread_setspecific(tok_key, NULL);
        return tok;
    }
    return json_tokener_new();
}

void llm_json_tokener_give(json_tokener *tok)
{
    if (!tok) {
        return;
    }
    /* reset() also releases what a parse cut short had built. */
    json_tokener_reset(tok);
    if (tok_key_ok && !pthread_getspecific(tok_key)
        && pthread_setspecific(tok_key, tok) == 0) {
        return;
    }
    json_tokener_free(tok);
}

/* json-c switches to the "C" numeric locale around every parse by
 * duplicating the current locale, which takes glibc's process-wide
 * locale lock; from the static "C" object that is a pointer swap, so
 * we run the parse on it (see llm_request.c). */
json_object *llm_json_parse_prefix(const char *buf, apr_size_t len,
                                   apr_size_t *end)
{
    locale_t c_locale;
    locale_t old;
    json_tokener *tok;
    json_object *obj;

    *end = 0;
    if (len > (apr_size_t)INT32_MAX || !(tok = llm_json_tokener_take())) {
        return NULL;
    }
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    old = c_locale ? uselocale(c_locale) : (locale_t)0;
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    if (c_locale) {
        uselocale(old);
        freelocale(c_locale);
    }
    if (obj && json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(obj);
        obj = NULL;
    }
    *end = obj ? json_tokener_get_parse_end(tok) : 0;
    llm_json_tokener_give(tok);
    return obj;
}

json_object *llm_json_parse(const char *buf, apr_size_t len)
{
    apr_size_t end;
    json_object *obj = llm_json_parse_prefix(buf, len, &end);

    while (obj && end < len && apr_isspace(buf[end])) {
        end++;
    }
    if (obj && end < len) {
        json_object_put(obj);   /* text after the value */
        obj = NULL;
    }
    return obj;
}

json_object *llm_json_strn(const char *s, apr_size_t len)
{
    return json_object_new_string_len(s ? s : "", s ? (int)len : 0);
}

/* Tool-call arguments as an object, for the dialects that carry them
 * as one (Anthropic's input, Ollama's arguments). Arguments that are
 * not a JSON object become {}: those dialects cannot carry anything
 * else. */
json_object *llm_json_args(const char *args)
{
    json_object *o = args ? llm_json_parse(args, strlen(args)) : NULL;

    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o ? o : json_object_new_object();
}

/* What the servers write: compact, "/" as is, UTF-8 as is. The string
 * belongs to @a o. */
const char *llm_json_dump(json_object *o, apr_size_t *len)
{
    size_t n = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

    *len = n;
    return s;
}

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
        into->total_tokens = into->prompt_tokens + into->completion_tokens;
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
