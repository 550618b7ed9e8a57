/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What in a request body can carry a person's words: every string a
 * provider receives, except a short list of structural fields. The
 * original router masked every string and every key, so a model name or
 * a field name that looked like PII was changed too (masking.md §6.4);
 * an allow-list of texts (the first version here) missed the user
 * field, names, metadata, stop sequences, tool and schema descriptions,
 * image URLs and tool-call arguments (issue 11, part 3). So the walk is
 * the other way round: everything is a text unless it is structure.
 *
 * Structure, never visited (docs/masking.md lists it):
 *   - object keys (field names, metadata keys, schema property names);
 *   - the values of STRUCTURAL_KEYS below: model, roles, ids, types and
 *     enums, JSON-schema keywords, opaque binary (base64 images, audio,
 *     files, signatures);
 *   - "name" except in a message (an object with a "role"): a tool's,
 *     a function's or a schema's name is structure, a message's name is
 *     a person's;
 *   - a data: URL carrying base64 (an image): binary, not text.
 * Tool-call arguments are the tool's data: every string in them is
 * visited, whatever its key; given as a JSON text ("arguments" of
 * OpenAI), they are parsed and written back as JSON when a string in
 * them changed, so masking never breaks them.
 */

#include <string.h>

#include <json-c/json.h>

#include "llm_json.h"
#include "llm_texts.h"

typedef struct {
    llm_text_fn fn;
    void *baton;
    int data;                   /* inside tool-call arguments: all data */
} walk_t;

static const char *const STRUCTURAL_KEYS[] = {
    /* routing and roles */
    "model", "model_name", "role", "language",
    /* ids */
    "id", "tool_call_id", "tool_use_id", "call_id", "item_id",
    "previous_response_id", "file_id", "conversation",
    /* types and enums */
    "type", "object", "tool_choice", "reasoning_effort", "effort",
    "service_tier", "encoding_format", "detail", "media_type",
    "keep_alive", "truncation", "format", "modalities", "voice",
    "stop_reason", "finish_reason", "status", "anthropic_version",
    /* JSON schema keywords whose strings are structure */
    "required", "enum", "const", "pattern", "$ref", "$schema", "$id",
    /* opaque binary or signatures */
    "data", "images", "file_data", "signature", "encrypted_content",
    NULL
};

static int structural(const char *key)
{
    int i;

    for (i = 0; STRUCTURAL_KEYS[i]; i++) {
        if (*key == *STRUCTURAL_KEYS[i] && !strcmp(key, STRUCTURAL_KEYS[i])) {
            return 1;
        }
    }
    return 0;
}

/* data:[<type>][;base64],<data>: base64 is binary (an image, audio); a
 * data: URL of plain text is a text. */
static int binary_data_url(json_object *v)
{
    const char *s = json_object_get_string(v);
    const char *comma;

    if (strncmp(s, "data:", 5) || !(comma = strchr(s, ','))) {
        return 0;
    }
    return comma - s >= 12 && !strncmp(comma - 7, ";base64", 7);
}

static int walk_value(walk_t *w, json_object *v, int depth);

/* FNV-1a: whether a string changed, without keeping a copy of it. */
static apr_uint64_t fingerprint(json_object *s)
{
    const unsigned char *c = (const unsigned char *)json_object_get_string(s);
    apr_size_t n = (apr_size_t)json_object_get_string_len(s);
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    while (n--) {
        h = (h ^ *c++) * APR_UINT64_C(1099511628211);
    }
    return h;
}

typedef struct {
    walk_t *outer;
    int changed;
} args_t;

static int visit_arg(void *baton, json_object *text)
{
    args_t *a = baton;
    apr_uint64_t before = fingerprint(text);
    int rc = a->outer->fn(a->outer->baton, text);

    a->changed |= fingerprint(text) != before;
    return rc;
}

/* Tool-call arguments as a JSON text: their strings are visited in the
 * parsed value, which replaces the text only when one changed. Text
 * that is not JSON is visited as a whole. */
static int arguments(walk_t *w, json_object *text)
{
    apr_size_t len = (apr_size_t)json_object_get_string_len(text);
    json_object *parsed = llm_json_parse(json_object_get_string(text), len);
    args_t a = { w, 0 };
    walk_t inner = { visit_arg, &a, 1 };
    int rc;

    if (!parsed) {
        return w->fn(w->baton, text);
    }
    rc = walk_value(&inner, parsed, 0);
    if (a.changed) {
        const char *out = llm_json_dump(parsed, &len);

        json_object_set_string_len(text, out, (int)len);
    }
    json_object_put(parsed);
    return rc;
}

/* Tool-call arguments (OpenAI's and Ollama's "arguments", Anthropic's
 * tool_use "input") are the tool's data: every string in them is one,
 * whatever its key. */
static int is_tool_data(const char *key, json_object *o)
{
    const char *type;

    if (!strcmp(key, "arguments")) {
        return 1;
    }
    return !strcmp(key, "input") && (type = llm_json_str(o, "type", NULL))
           && !strcmp(type, "tool_use");
}

static int walk_member(walk_t *w, json_object *o, const char *key,
                       json_object *val, int depth)
{
    walk_t data;

    if (w->data) {
        return walk_value(w, val, depth + 1);
    }
    if (!strcmp(key, "data")) {
        /* Binary (base64) but in Anthropic's plain-text document
         * source, {"type":"text","data":"..."}. */
        const char *type = llm_json_str(o, "type", NULL);

        return type && !strcmp(type, "text") ? walk_value(w, val, depth + 1)
                                             : 0;
    }
    if (structural(key)
        || (!strcmp(key, "name") && !llm_json_get(o, "role"))) {
        return 0;
    }
    if (is_tool_data(key, o)) {
        if (json_object_is_type(val, json_type_string)) {
            return arguments(w, val);
        }
        data = *w;
        data.data = 1;
        return walk_value(&data, val, depth + 1);
    }
    return walk_value(w, val, depth + 1);
}

static int walk_object(walk_t *w, json_object *o, int depth)
{
    int rc;

    json_object_object_foreach(o, key, val) {
        rc = val ? walk_member(w, o, key, val, depth) : 0;
        if (rc) {
            return rc;
        }
    }
    return 0;
}

static int walk_value(walk_t *w, json_object *v, int depth)
{
    size_t i;
    int rc;

    /* json-c parses at most 31 levels: this bound is never reached by a
     * parsed body; it keeps a body built in code from recursing far. */
    if (!v || depth > 64) {
        return 0;
    }
    switch (json_object_get_type(v)) {
    case json_type_string:
        return binary_data_url(v) ? 0 : w->fn(w->baton, v);
    case json_type_object:
        return walk_object(w, v, depth);
    case json_type_array:
        for (i = 0; i < json_object_array_length(v); i++) {
            rc = walk_value(w, json_object_array_get_idx(v, i), depth + 1);
            if (rc) {
                return rc;
            }
        }
        return 0;
    default:
        return 0;
    }
}

int llm_texts_walk(json_object *body, llm_wire_e wire, llm_op_e op,
                   llm_builtin_e builtin, llm_text_fn fn, void *baton)
{
    walk_t w = { fn, baton, 0 };

    /* One rule for every dialect and built-in: what is structure is
     * named by its key wherever it is. */
    (void)wire;
    (void)op;
    (void)builtin;
    return walk_value(&w, body, 0);
}
