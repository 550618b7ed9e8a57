/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The texts of a request in each dialect (llm_texts_walk): all of a
 * person's words, none of the structure. */

#include <string.h>

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

int main(void)
{
    apr_pool_t *p;
    json_object *body;

    apr_initialize();
    apr_pool_create(&p, NULL);
    printf("1..13\n");

    is_str(walk(p, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\","
                   "\"content\":\"s\"},{\"role\":\"user\",\"content\":"
                   "[{\"type\":\"text\",\"text\":\"u1\"},{\"type\":"
                   "\"image_url\",\"image_url\":{\"url\":\"data:x\"}}]},"
                   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":"
                   "[{\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":"
                   "\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c\","
                   "\"content\":\"t\"}]}",
                LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, LLM_BUILTIN_NONE),
           "s|u1|t", "OpenAI chat: message texts, not model/roles/urls/ids");
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
           "c", "Ollama chat: content, not images or options");
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

    apr_pool_destroy(p);
    apr_terminate();
    return tap_failed ? 1 : 0;
}
