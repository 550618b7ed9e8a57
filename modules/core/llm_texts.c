/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Where a person's words are in each API's request body. The original
 * router masked every string and every key of the payload, so a model
 * name or a field name that happened to look like PII was changed too
 * (masking.md §6.4); here only the texts are visited.
 */

#include <string.h>

#include <json-c/json.h>

#include "llm_json.h"
#include "llm_texts.h"

typedef struct {
    llm_text_fn fn;
    void *baton;
} walk_t;

static int is_str(json_object *v)
{
    return json_object_is_type(v, json_type_string);
}

static int visit(walk_t *w, json_object *v)
{
    return is_str(v) ? w->fn(w->baton, v) : 0;
}

/* A string, or a list of strings. */
static int strings(walk_t *w, json_object *v)
{
    size_t i;
    int rc;

    if (is_str(v)) {
        return visit(w, v);
    }
    if (!json_object_is_type(v, json_type_array)) {
        return 0;
    }
    for (i = 0; i < json_object_array_length(v); i++) {
        if ((rc = visit(w, json_object_array_get_idx(v, i))) != 0) {
            return rc;
        }
    }
    return 0;
}

/* Content: a string, or parts/blocks whose "text" is text (OpenAI text
 * parts, Responses input_text/output_text, Anthropic text blocks), and
 * Anthropic tool_result blocks, whose content is content again. */
static int content(walk_t *w, json_object *v, int depth)
{
    size_t i;
    int rc;

    if (is_str(v)) {
        return visit(w, v);
    }
    if (!json_object_is_type(v, json_type_array) || depth > 4) {
        return 0;
    }
    for (i = 0; i < json_object_array_length(v); i++) {
        json_object *part = json_object_array_get_idx(v, i);

        if ((rc = visit(w, llm_json_get(part, "text"))) != 0
            || (rc = content(w, llm_json_get(part, "content"), depth + 1)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int messages(walk_t *w, json_object *msgs)
{
    size_t i;
    int rc;

    if (!json_object_is_type(msgs, json_type_array)) {
        return 0;
    }
    for (i = 0; i < json_object_array_length(msgs); i++) {
        if ((rc = content(w, llm_json_get(json_object_array_get_idx(msgs, i),
                                 "content"), 0)) != 0) {
            return rc;
        }
    }
    return 0;
}

/* Responses' input: a string, or items (messages with content, and
 * function_call_output with its output). */
static int responses_input(walk_t *w, json_object *input)
{
    size_t i;
    int rc;

    if (is_str(input)) {
        return visit(w, input);
    }
    if (!json_object_is_type(input, json_type_array)) {
        return 0;
    }
    for (i = 0; i < json_object_array_length(input); i++) {
        json_object *item = json_object_array_get_idx(input, i);

        if ((rc = content(w, llm_json_get(item, "content"), 0)) != 0
            || (rc = visit(w, llm_json_get(item, "output"))) != 0) {
            return rc;
        }
    }
    return 0;
}

static int builtin_texts(walk_t *w, json_object *body)
{
    static const char *const fields[] = {
        "user_last_statement", "system_prompt", "text", "user_query",
        "question_str", "question_prompt", NULL
    };
    json_object *hist = llm_json_get(body, "historical_messages");
    json_object *texts = llm_json_get(body, "texts");
    int i;
    int rc;

    for (i = 0; fields[i]; i++) {
        if ((rc = visit(w, llm_json_get(body, fields[i]))) != 0) {
            return rc;
        }
    }
    if (json_object_is_type(hist, json_type_array)) {
        size_t k;

        for (k = 0; k < json_object_array_length(hist); k++) {
            json_object *h = json_object_array_get_idx(hist, k);

            if ((rc = visit(w, llm_json_get(h, "user"))) != 0
                || (rc = visit(w, llm_json_get(h, "assistant"))) != 0
                || (rc = content(w, llm_json_get(h, "content"), 0)) != 0) {
                return rc;
            }
        }
    }
    if (json_object_is_type(texts, json_type_object)) {
        json_object_object_foreach(texts, name, list) {
            (void)name;
            if ((rc = strings(w, list)) != 0) {
                return rc;
            }
        }
        return 0;
    }
    return strings(w, texts);
}

int llm_texts_walk(json_object *body, llm_wire_e wire, llm_op_e op,
                   llm_builtin_e builtin, llm_text_fn fn, void *baton)
{
    walk_t w;
    int rc;

    w.fn = fn;
    w.baton = baton;
    if (builtin != LLM_BUILTIN_NONE) {
        return builtin_texts(&w, body);
    }
    if (op == LLM_OP_EMBEDDINGS) {
        return (rc = strings(&w, llm_json_get(body, "input"))) != 0
               ? rc : visit(&w, llm_json_get(body, "prompt"));
    }
    switch (wire) {
    case LLM_WIRE_OPENAI_COMPLETION:
        return strings(&w, llm_json_get(body, "prompt"));
    case LLM_WIRE_OPENAI_RESPONSES:
        return (rc = visit(&w, llm_json_get(body, "instructions"))) != 0
               ? rc : responses_input(&w, llm_json_get(body, "input"));
    case LLM_WIRE_OLLAMA_GENERATE:
        return (rc = visit(&w, llm_json_get(body, "system"))) != 0
               ? rc : visit(&w, llm_json_get(body, "prompt"));
    case LLM_WIRE_ANTHROPIC:
        return (rc = content(&w, llm_json_get(body, "system"), 0)) != 0
               ? rc : messages(&w, llm_json_get(body, "messages"));
    default:
        return messages(&w, llm_json_get(body, "messages"));
    }
}
