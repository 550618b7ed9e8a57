/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llm_answer_usage() (llm_event_usage.c) against what it replaces: the
 * whole answer parsed by json-c as it flows (what follows the value not
 * read) and run through the wire's decoder, the last LLM_EV_USAGE kept.
 * Every golden whole answer of every wire, and OpenAI answers built to
 * hit each branch of the strict scan and of the fall-back to json-c,
 * each also cut at every byte (a truncated answer has no usage).
 */

#include <stdio.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include <json-c/json.h>

#include "llm_event.h"
#include "tap.h"

static apr_pool_t *pool;

typedef struct {
    llm_usage_t usage;
    int found;
} ref_t;

static apr_status_t ref_event(void *baton, const llm_event_t *ev)
{
    ref_t *r = baton;

    if (ev->type == LLM_EV_USAGE) {
        r->usage = ev->usage;
        r->found = 1;
    }
    return APR_SUCCESS;
}

/* The former way: the whole tree, then the decoder. */
static ref_t reference(llm_wire_e wire, const char *buf, apr_size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, buf, (int)len);
    ref_t r;

    memset(&r, 0, sizeof(r));
    if (o && json_tokener_get_error(tok) == json_tokener_success) {
        llm_decode_object(pool, wire, o, ref_event, &r);
    }
    json_object_put(o);
    json_tokener_free(tok);
    return r;
}

static int same(llm_wire_e wire, const char *buf, apr_size_t len)
{
    ref_t want = reference(wire, buf, len);
    llm_usage_t got;
    int found;

    memset(&got, 0, sizeof(got));
    found = llm_answer_usage(pool, wire, buf, len, &got);
    if (found != want.found) {
        return 0;
    }
    return !found || (got.prompt_tokens == want.usage.prompt_tokens
                      && got.completion_tokens == want.usage.completion_tokens
                      && got.total_tokens == want.usage.total_tokens
                      && got.cached_tokens == want.usage.cached_tokens
                      && got.reasoning_tokens
                         == want.usage.reasoning_tokens);
}

/* @a text whole and cut at every byte: the same usage as the tree's. */
static void check(llm_wire_e wire, const char *name, const char *text)
{
    apr_size_t len = strlen(text);
    apr_size_t cut;
    int all = 1;

    ok(same(wire, text, len), "%s: whole", name);
    for (cut = 0; cut < len; cut++) {
        if (!same(wire, text, cut)) {
            all = 0;
            printf("# %s: differs cut at %lu\n", name, (unsigned long)cut);
            break;
        }
    }
    ok(all, "%s: cut at every byte", name);
}

static void test_goldens(void)
{
    static const struct {
        const char *file;
        llm_wire_e wire;
    } g[] = {
        { "openai_chat-text.json", LLM_WIRE_OPENAI_CHAT },
        { "openai_chat-tools.json", LLM_WIRE_OPENAI_CHAT },
        { "openai_completion-text.json", LLM_WIRE_OPENAI_COMPLETION },
        { "lmstudio_chat-text.json", LLM_WIRE_LMSTUDIO_CHAT },
        { "openai_responses-text.json", LLM_WIRE_OPENAI_RESPONSES },
        { "openai_responses-tools.json", LLM_WIRE_OPENAI_RESPONSES },
        { "ollama_chat-text.json", LLM_WIRE_OLLAMA_CHAT },
        { "ollama_chat-tools.json", LLM_WIRE_OLLAMA_CHAT },
        { "ollama_generate-text.json", LLM_WIRE_OLLAMA_GENERATE },
        { "anthropic-text.json", LLM_WIRE_ANTHROPIC },
        { "anthropic-tools.json", LLM_WIRE_ANTHROPIC },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        const char *path = apr_pstrcat(pool, "t/golden/events/in/",
                                       g[i].file, NULL);
        apr_file_t *f;
        apr_finfo_t fi;
        char *buf;
        apr_size_t n;
        llm_usage_t u;

        if (apr_file_open(&f, path, APR_FOPEN_READ, 0, pool)
            != APR_SUCCESS) {
            ok(0, "%s: readable (run from the top directory)", path);
            continue;
        }
        apr_file_info_get(&fi, APR_FINFO_SIZE, f);
        n = (apr_size_t)fi.size;
        buf = apr_palloc(pool, n + 1);
        apr_file_read_full(f, buf, n, &n);
        apr_file_close(f);
        buf[n] = '\0';
        check(g[i].wire, g[i].file, buf);
        ok(llm_answer_usage(pool, g[i].wire, buf, n, &u) == 1,
           "%s: has usage", g[i].file);
    }
}

static void test_openai_cases(void)
{
    static const struct {
        const char *name;
        const char *text;
    } c[] = {
        { "plain", "{\"choices\":[{\"message\":{\"content\":\"hi\"}}],"
          "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}" },
        { "usage first, details", " \r\n{\"usage\":{\"prompt_tokens\":3,"
          "\"completion_tokens\":4,\"total_tokens\":9,"
          "\"prompt_tokens_details\":{\"cached_tokens\":2},"
          "\"completion_tokens_details\":{\"reasoning_tokens\":1}},"
          "\"choices\":[{}]}" },
        { "doubles, negatives, huge", "{\"choices\":[1],\"usage\":"
          "{\"prompt_tokens\":3.9e0,\"completion_tokens\":-4,"
          "\"total_tokens\":123456789012345678901234567890}}" },
        { "usage null", "{\"choices\":[{}],\"usage\":null}" },
        { "usage not object", "{\"choices\":[{}],\"usage\":[1,2]}" },
        { "no usage", "{\"choices\":[{\"text\":\"x\"}]}" },
        { "no choices", "{\"usage\":{\"prompt_tokens\":3}}" },
        { "empty choices", "{\"choices\":[ ],\"usage\":{\"prompt_tokens\":3}}" },
        { "null first choice", "{\"choices\":[ null, {}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "choices not array", "{\"choices\":{\"a\":1},"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "choices null", "{\"choices\":null,\"usage\":{\"prompt_tokens\":3}}" },
        { "error object", "{\"error\":{\"message\":\"no\"},\"choices\":[{}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "error string", "{\"error\":\"no\",\"choices\":[{}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "error null", "{\"error\":null,\"choices\":[{}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "vllm error", "{\"object\":\"error\",\"message\":\"m\","
          "\"choices\":[{}],\"usage\":{\"prompt_tokens\":3}}" },
        { "duplicate usage: the last", "{\"choices\":[{}],\"usage\":"
          "{\"prompt_tokens\":3},\"usage\":{\"prompt_tokens\":5}}" },
        { "escaped key", "{\"choices\":[{}],\"us\\u0061ge\":"
          "{\"prompt_tokens\":3}}" },
        { "escapes in values", "{\"choices\":[{\"message\":{\"content\":"
          "\"a\\\"b\\\\c\\u00e9\\n\\/\"}}],\"usage\":{\"prompt_tokens\":3}}" },
        { "comment (json-c only)", "{/* c */\"choices\":[{}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "trailing comma (json-c only)", "{\"choices\":[{},],"
          "\"usage\":{\"prompt_tokens\":3},}" },
        { "single quotes (json-c only)", "{'choices':[{}],"
          "'usage':{'prompt_tokens':3}}" },
        { "text after the value", "{\"choices\":[{}],"
          "\"usage\":{\"prompt_tokens\":3}} trailing" },
        { "deep", "{\"choices\":[{\"a\":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "top-level array", "[{\"choices\":[{}]}]" },
        { "empty object", "{}" },
        { "bad literal", "{\"choices\":[tru],\"usage\":{\"prompt_tokens\":3}}" },
        { "raw control character", "{\"choices\":[{\"text\":\"a\tb\"}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "numbers", "{\"choices\":[{\"n\":[0,-0.5,1e10,2E-3,10]}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
        { "bad number", "{\"choices\":[{\"n\":01}],"
          "\"usage\":{\"prompt_tokens\":3}}" },
    };
    static const llm_wire_e wires[] = {
        LLM_WIRE_OPENAI_CHAT, LLM_WIRE_OPENAI_COMPLETION,
        LLM_WIRE_LMSTUDIO_CHAT, LLM_WIRE_OLLAMA_CHAT
    };
    apr_size_t i;
    apr_size_t w;

    for (w = 0; w < sizeof(wires) / sizeof(wires[0]); w++) {
        for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
            check(wires[w], apr_psprintf(pool, "wire %d: %s", (int)wires[w],
                                         c[i].name), c[i].text);
        }
    }
}

static void test_values(void)
{
    llm_usage_t u;
    const char *a = "{\"choices\":[{}],\"usage\":{\"prompt_tokens\":3,"
                    "\"completion_tokens\":4}}";

    memset(&u, 0, sizeof(u));
    is_int(llm_answer_usage(pool, LLM_WIRE_OPENAI_CHAT, a, strlen(a), &u), 1,
           "usage found");
    is_int(u.prompt_tokens, 3, "prompt tokens");
    is_int(u.completion_tokens, 4, "completion tokens");
    is_int(u.total_tokens, 7, "total made up");
    is_int(u.cached_tokens, -1, "cached unknown");
    u.prompt_tokens = 42;
    is_int(llm_answer_usage(pool, LLM_WIRE_OPENAI_CHAT, "{\"choices\":[]}",
                            14, &u), 0, "none without a choice");
    is_int(u.prompt_tokens, 42, "usage left alone");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_goldens();
    test_openai_cases();
    test_values();
    apr_pool_destroy(pool);
    return tap_done();
}
