/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl config discover: what a server says it serves. The answer
 * comes from outside, so it is read with the suite's strict parser
 * (llm_json_parse_strict) and every field is type-checked; what does
 * not look like a model entry is skipped rather than trusted. Apart
 * from llmctl_config.c (which does the HTTP) so that it can be fuzzed
 * alone (t/fuzz/fuzz_discover.c).
 */

#include <string.h>

#include <json-c/json.h>

#include "apr_strings.h"

#include "llm_json.h"
#include "llmctl_discover.h"

/* json-c spends about 1 KiB on each object: a list of models has a few
 * per model, so this bounds the memory an answer may take (~100 MiB)
 * far above any real server's list. */
#define ANSWER_MAX_OBJECTS 100000

static apr_int64_t int_field(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v)
           && json_object_is_type(v, json_type_int)
           && json_object_get_int64(v) > 0 ? json_object_get_int64(v) : 0;
}

/* A non-empty string without a NUL byte (JSON's \u0000 would cut a
 * model's name short where it is used as a C string), or NULL. */
static const char *string_field(json_object *o, const char *key)
{
    json_object *v;
    const char *s;

    if (!json_object_object_get_ex(o, key, &v)
        || !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    s = json_object_get_string(v);
    return *s && strlen(s) == (size_t)json_object_get_string_len(v)
           ? s : NULL;
}

/* Whether the list @a key of @a o holds a tool-calling capability (the
 * original's words: tools, tool_use, function_call). */
static int says_tools(json_object *o, const char *key)
{
    json_object *list;
    size_t i;

    if (!json_object_object_get_ex(o, key, &list)
        || !json_object_is_type(list, json_type_array)) {
        return 0;
    }
    for (i = 0; i < json_object_array_length(list); i++) {
        const char *s = json_object_get_string(
                            json_object_array_get_idx(list, i));

        if (s && (!strcmp(s, "tools") || !strcmp(s, "tool_use")
                  || !strcmp(s, "function_call"))) {
            return 1;
        }
    }
    return 0;
}

static void read_entry(apr_pool_t *p, llm_api_type_e type, json_object *e,
                       apr_array_header_t *out)
{
    const char *name;
    json_object *details;
    llmctl_found_t *f;

    if (!json_object_is_type(e, json_type_object)
        || !(name = string_field(e, type == LLM_API_OLLAMA ? "name"
                                                           : "id"))) {
        return;                         /* not a model entry: skipped */
    }
    f = apr_array_push(out);
    f->name = apr_pstrdup(p, name);
    f->context = int_field(e, "max_model_len");
    if (!f->context) {
        f->context = int_field(e, "max_context_length");
    }
    if (!f->context && json_object_object_get_ex(e, "details", &details)) {
        f->context = int_field(details, "context_length");
    }
    f->tools = says_tools(e, "capabilities");
    f->embedding = (string_field(e, "type")
                    && !strcmp(string_field(e, "type"), "embeddings"));
}

apr_array_header_t *llmctl_discover_parse(apr_pool_t *p,
                                          llm_api_type_e type,
                                          const char *body, apr_size_t len,
                                          const char **why)
{
    llm_json_check_t check;
    json_object *root = llm_json_parse_strict(p, body, len,
                                              ANSWER_MAX_OBJECTS, &check);
    json_object *list;
    apr_array_header_t *out = NULL;
    size_t i;

    if (!root) {
        *why = apr_psprintf(p, "the answer is not JSON (%s)",
                            check.repeated_key ? "a key is repeated"
                            : check.reason ? check.reason : "unreadable");
        return NULL;
    }
    if (json_object_object_get_ex(root, type == LLM_API_OLLAMA
                                  ? "models" : "data", &list)
        && json_object_is_type(list, json_type_array)) {
        out = apr_array_make(p, 8, sizeof(llmctl_found_t));
        for (i = 0; i < json_object_array_length(list); i++) {
            read_entry(p, type, json_object_array_get_idx(list, i), out);
        }
    }
    else {
        *why = "the answer has no list of models";
    }
    json_object_put(root);
    return out;
}

