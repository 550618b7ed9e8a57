/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The texts of a request in each dialect (llm_texts_walk): all of a
 * person's words, none of the structure. */

#include <string.h>

#include "apr_file_info.h"
#include "apr_general.h"
#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_texts.h"

#include "tap.h"

typedef struct {
    apr_pool_t *p;
    const char *seen;
} seen_t;

static int collect(void *baton, json_object *text)
{
    seen_t *s = baton;

    s->seen = apr_pstrcat(s->p, s->seen, *s->seen ? "|" : "",
                          json_object_get_string(text), NULL);
    return 0;
}

static const char *walk(apr_pool_t *p, const char *json, llm_wire_e wire,
                        llm_op_e op, llm_builtin_e builtin)
{
    json_object *body = json_tokener_parse(json);
    seen_t s = { p, "" };

    llm_texts_walk(body, wire, op, builtin, collect, &s);
    json_object_put(body);
    return s.seen;
}

static int upper(void *baton, json_object *text)
{
    char *s = strdup(json_object_get_string(text));
    char *c;

    (void)baton;
    for (c = s; *c; c++) {
        if (*c >= 'a' && *c <= 'z') {
            *c -= 32;
        }
    }
    json_object_set_string(text, s);
    free(s);
    return 0;
}

static int stop_at_b(void *baton, json_object *text)
{
    (void)baton;
    return strcmp(json_object_get_string(text), "b") ? 0 : 7;
}

/* Issue 11, part 3: every string a provider receives that can carry a
 * person's words, in every dialect; structure left alone. */
static void test_every_field(apr_pool_t *p)
{
    is_str(walk(p, "{\"model\":\"m\",\"user\":\"U\",\"metadata\":{\"k\":\"M\"},"
                   "\"stop\":[\"S\"],\"messages\":[{\"role\":\"user\",\"name\":"
                   "\"N\",\"content\":[{\"type\":\"image_url\",\"image_url\":"
                   "{\"url\":\"https://x/?q=Q\",\"detail\":\"low\"}},{\"type\":"
                   "\"image_url\",\"image_url\":{\"url\":"
                   "\"data:image/png;base64,iVBORw0KGgo=\"}}]}],\"tools\":[{\"type\":"
                   "\"function\",\"function\":{\"name\":\"fn\",\"description\":"
                   "\"D\",\"parameters\":{\"type\":\"object\",\"properties\":"
                   "{\"a\":{\"type\":\"string\",\"description\":\"PD\",\"enum\":"
                   "[\"e\"]}},\"required\":[\"a\"]}}}],\"tool_choice\":\"auto\","
                   "\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
                   "{\"name\":\"sn\",\"schema\":{\"description\":\"SD\"}}}}",
                LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE),
           "U|M|S|N|https://x/?q=Q|D|PD|SD",
           "OpenAI: user, metadata, stop, a message's name, image URLs, "
           "tool and schema descriptions; not names, types, enums, base64");
    is_str(walk(p, "{\"model\":\"m\",\"max_tokens\":5,\"stop_sequences\":"
                   "[\"S\"],\"metadata\":{\"user_id\":\"U\"},\"tools\":[{\"name\":"
                   "\"t\",\"description\":\"D\",\"input_schema\":{\"type\":"
                   "\"object\"}}],\"messages\":[{\"role\":\"assistant\",\"content\":"
                   "[{\"type\":\"thinking\",\"thinking\":\"T\",\"signature\":"
                   "\"sig\"},{\"type\":\"tool_use\",\"id\":\"i\",\"name\":\"t\","
                   "\"input\":{\"q\":\"Q\"}}]},{\"role\":\"user\",\"content\":"
                   "[{\"type\":\"image\",\"source\":{\"type\":\"base64\","
                   "\"media_type\":\"image/png\",\"data\":\"AAAA\"}}]}]}",
                LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, LLM_BUILTIN_NONE),
           "S|U|D|T|Q", "Anthropic: stop sequences, metadata, tool descriptions, "
           "thinking, tool_use input; not names, ids, signatures, images");
    is_str(walk(p, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":"
                   "\"user\",\"content\":[{\"type\":\"document\",\"source\":"
                   "{\"type\":\"text\",\"media_type\":\"text/plain\",\"data\":"
                   "\"DOC\"}},{\"type\":\"document\",\"source\":{\"type\":"
                   "\"base64\",\"media_type\":\"application/pdf\",\"data\":"
                   "\"JVBER\"}}]}]}",
                LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, LLM_BUILTIN_NONE),
           "DOC", "Anthropic: a plain-text document's data, not base64 data");
    is_str(walk(p, "{\"model\":\"m\",\"format\":\"json\",\"template\":\"TP\","
                   "\"messages\":[{\"role\":\"assistant\",\"content\":\"\","
                   "\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":"
                   "{\"city\":\"C\"}}}]}],\"keep_alive\":\"5m\"}",
                LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE),
           "TP||C", "Ollama: template, content, tool-call arguments; not the "
           "format, keep_alive or function name");
}

static int mask_pesel(void *baton, json_object *text)
{
    const char *s = json_object_get_string(text);
    const char *hit = strstr(s, "44051401359");
    apr_pool_t *p = baton;

    if (hit) {
        json_object_set_string(text, apr_psprintf(p, "%.*s{{PESEL_1}}%s",
                                                  (int)(hit - s), s,
                                                  hit + 11));
    }
    return 0;
}

/* Tool-call arguments given as a JSON text are masked inside, and stay
 * JSON (a value with a quote or a backslash included). */
static void test_arguments(apr_pool_t *p)
{
    json_object *body = json_tokener_parse(
        "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":"
        "\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"id\\\": \\\"44051401359\\\", \\\"q\\\": "
        "\\\"say \\\\\\\"hi\\\\\\\"\\\"}\"}}]},{\"role\":\"assistant\","
        "\"tool_calls\":[{\"function\":{\"arguments\":\"{\\\"n\\\": 1}\"}}]}]}");
    json_object *args;
    json_object *inner;

    llm_texts_walk(body, LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE,
                   mask_pesel, p);
    args = json_object_object_get(json_object_object_get(
        json_object_array_get_idx(json_object_object_get(
            json_object_array_get_idx(json_object_object_get(body,
                "messages"), 0), "tool_calls"), 0), "function"), "arguments");
    inner = json_tokener_parse(json_object_get_string(args));
    is_str(json_object_get_string(json_object_object_get(inner, "id")),
           "{{PESEL_1}}", "a value inside the arguments masked");
    is_str(json_object_get_string(json_object_object_get(inner, "q")),
           "say \"hi\"", "the arguments are still JSON, quotes and all");
    json_object_put(inner);
    like(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
         "\"arguments\":\"{\\\"n\\\": 1}\"",
         "arguments with nothing masked are left exactly as written");
    json_object_put(body);
}

/* Every golden request of every dialect, with a PESEL put into each
 * string that is not structure (by the documented list, read here on
 * its own): no PESEL is left after the walk, and structure is as it
 * was. */
static const char *const structure[] = {
    "model", "model_name", "role", "language", "id", "tool_call_id",
    "tool_use_id", "call_id", "item_id", "previous_response_id", "file_id",
    "conversation", "type", "object", "tool_choice", "reasoning_effort",
    "effort", "service_tier", "encoding_format", "detail", "media_type",
    "keep_alive", "truncation", "format", "modalities", "voice",
    "stop_reason", "finish_reason", "status", "anthropic_version",
    "required", "enum", "const", "pattern", "$ref", "$schema", "$id",
    "data", "images", "file_data", "signature", "encrypted_content", NULL
};

static int is_structure(const char *key, json_object *parent)
{
    int i;

    if (!strcmp(key, "name")) {
        return !json_object_object_get(parent, "role");
    }
    for (i = 0; structure[i]; i++) {
        if (!strcmp(key, structure[i])) {
            return 1;
        }
    }
    return 0;
}

static int planted;

static void plant(json_object *v, const char *key, json_object *parent)
{
    size_t i;

    if (key && is_structure(key, parent)) {
        return;
    }
    if (json_object_is_type(v, json_type_string)) {
        if (strncmp(json_object_get_string(v), "data:", 5)
            && !(key && !strcmp(key, "arguments"))) {
            json_object_set_string(v, "PESEL 44051401359");
            planted++;
        }
    }
    else if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, val) {
            plant(val, k, v);
        }
    }
    else if (json_object_is_type(v, json_type_array)) {
        for (i = 0; i < json_object_array_length(v); i++) {
            plant(json_object_array_get_idx(v, i), NULL, NULL);
        }
    }
}

static void test_golden(apr_pool_t *p)
{
    apr_dir_t *dir;
    apr_finfo_t fi;
    int files = 0;

    if (apr_dir_open(&dir, "t/golden/requests", p) != APR_SUCCESS) {
        ok(0, "t/golden/requests readable (run from the top directory)");
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME, dir) == APR_SUCCESS) {
        json_object *body;
        char *before;
        const char *after;

        if (!strstr(fi.name, ".json") || strstr(fi.name, "canon")) {
            continue;
        }
        body = json_object_from_file(apr_pstrcat(p, "t/golden/requests/",
                                                 fi.name, NULL));
        if (!body) {
            continue;
        }
        planted = 0;
        plant(body, NULL, NULL);
        before = apr_pstrdup(p, json_object_to_json_string(body));
        llm_texts_walk(body, LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT,
                       LLM_BUILTIN_NONE, mask_pesel, p);
        after = json_object_to_json_string(body);
        ok(planted > 0 && !strstr(after, "44051401359"),
           apr_psprintf(p, "%s: all %d planted values masked", fi.name,
                        planted));
        (void)before;
        json_object_put(body);
        files++;
    }
    apr_dir_close(dir);
    ok(files >= 10, apr_psprintf(p, "%d golden requests walked", files));
}

int main(void)
{
    apr_pool_t *p;
    json_object *body;

    apr_initialize();
    apr_pool_create(&p, NULL);

    is_str(walk(p, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
                   "\"content\":\"s\"},{\"role\":\"user\",\"content\":"
                   "[{\"type\":\"text\",\"text\":\"u1\"},{\"type\":"
                   "\"image_url\",\"image_url\":{\"url\":\"data:x\"}}]},"
                   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
                   "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":"
                   "\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c\","
                   "\"content\":\"t\"}]}",
                LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE),
           "s|u1|data:x|t", "OpenAI chat: message texts, not model/roles/ids");
    is_str(walk(p, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}",
                LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION,
                LLM_BUILTIN_NONE), "a|b", "completion prompts");
    is_str(walk(p, "{\"model\":\"m\",\"instructions\":\"i\",\"input\":[{\"role\":"
                   "\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
                   "\"x\"}]},{\"type\":\"function_call_output\",\"call_id\":"
                   "\"c\",\"output\":\"o\"}]}",
                LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES, LLM_BUILTIN_NONE),
           "i|x|o", "Responses: instructions, input parts, tool output");
    is_str(walk(p, "{\"model\":\"m\",\"input\":\"plain\"}",
                LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES, LLM_BUILTIN_NONE),
           "plain", "Responses: string input");
    is_str(walk(p, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                   "\"content\":\"c\",\"images\":[\"aGk=\"]}],\"options\":"
                   "{\"stop\":[\"x\"]}}",
                LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE),
           "c|x", "Ollama chat: content and stop, not images");
    is_str(walk(p, "{\"model\":\"m\",\"system\":\"s\",\"prompt\":\"p\"}",
                LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION, LLM_BUILTIN_NONE),
           "s|p", "Ollama generate: system and prompt");
    is_str(walk(p, "{\"model\":\"m\",\"max_tokens\":9,\"system\":[{\"type\":"
                   "\"text\",\"text\":\"s\"}],\"messages\":[{\"role\":\"user\","
                   "\"content\":\"u\"},{\"role\":\"assistant\",\"content\":"
                   "[{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\","
                   "\"input\":{}}]},{\"role\":\"user\",\"content\":[{\"type\":"
                   "\"tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":"
                   "\"text\",\"text\":\"r\"}]}]}]}",
                LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, LLM_BUILTIN_NONE),
           "s|u|r", "Anthropic: system blocks, texts, tool results");
    is_str(walk(p, "{\"model\":\"m\",\"input\":[\"e1\",\"e2\"]}",
                LLM_WIRE_OPENAI_CHAT, LLM_OP_EMBEDDINGS, LLM_BUILTIN_NONE),
           "e1|e2", "embeddings input");
    is_str(walk(p, "{\"model\":\"m\",\"prompt\":\"lp\"}",
                LLM_WIRE_OLLAMA_GENERATE, LLM_OP_EMBEDDINGS, LLM_BUILTIN_NONE),
           "lp", "Ollama legacy embeddings prompt");
    is_str(walk(p, "{\"model_name\":\"m\",\"user_last_statement\":\"u\","
                   "\"historical_messages\":[{\"user\":\"q\",\"assistant\":"
                   "\"a\"}],\"language\":\"en\"}",
                LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, LLM_BUILTIN_CONVERSATION),
           "u|q|a", "built-in conversation: statement and history");
    is_str(walk(p, "{\"model_name\":\"m\",\"question_str\":\"q\",\"texts\":"
                   "{\"doc\":[\"t1\",\"t2\"]}}",
                LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT,
                LLM_BUILTIN_GENERATIVE_ANSWER),
           "q|t1|t2", "built-in generative_answer: question and texts map");

    body = json_tokener_parse("{\"model\":\"gpt\",\"messages\":[{\"role\":"
                              "\"user\",\"content\":\"hi\"}]}");
    llm_texts_walk(body, LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE,
                   upper, NULL);
    is_str(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
           "{\"model\":\"gpt\",\"messages\":[{\"role\":\"user\",\"content\":"
           "\"HI\"}]}", "a callback may replace a text in place");
    json_object_put(body);

    body = json_tokener_parse("{\"prompt\":[\"a\",\"b\",\"c\"]}");
    is_int(llm_texts_walk(body, LLM_WIRE_OPENAI_COMPLETION,
                          LLM_OP_COMPLETION, LLM_BUILTIN_NONE, stop_at_b,
                          NULL), 7, "a non-zero return stops the walk");
    json_object_put(body);

    test_every_field(p);
    test_arguments(p);
    test_golden(p);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
