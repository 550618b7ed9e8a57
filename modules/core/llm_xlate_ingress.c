/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Client requests -> the canonical request (an OpenAI chat-completions
 * body). What each dialect maps to, and what it loses, is listed at
 * llm_xlate_ingress() in llm_xlate.h.
 *
 * The canonical object shares the client's values where they are the
 * same (reference counted): neither side is ever changed afterwards.
 */

#include <string.h>

#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_buf.h"
#include "llm_xlate.h"

#define get  llm_json_get
/* A C string ends at the first NUL, which a JSON string may hold: str()
 * reads only ids, roles, types, enums and names. Text (contents, parts,
 * prompts, arguments, descriptions) is carried as its json-c object,
 * shared, or copied with its length. */
#define str(o, key)  llm_json_str(o, key, NULL)
#define share llm_xlate_share

static int unusable(apr_pool_t *p, llm_error_t *err, const char *param,
                    const char *fmt, const char *what)
{
    return llm_xlate_fail(err, 422, "unsupported_content", param,
                          apr_psprintf(p, fmt, what));
}

static int bad_type(apr_pool_t *p, llm_error_t *err, const char *param,
                    const char *what)
{
    return llm_xlate_fail(err, 400, "invalid_type", param,
                          apr_psprintf(p, "Invalid type for '%s': expected "
                                       "%s.", param, what));
}

/* ------------------------------------------------------------------ */
/* Canonical building blocks                                           */
/* ------------------------------------------------------------------ */

static json_object *message(const char *role)
{
    json_object *m = json_object_new_object();

    json_object_object_add(m, "role", json_object_new_string(role));
    return m;
}

/* The string member @a key of @a o, shared (whole, NUL and all), or a
 * new "" when it is not a string. */
static json_object *text_of(json_object *o, const char *key)
{
    json_object *v = get(o, key);

    return llm_json_is(v, json_type_string) ? json_object_get(v)
                                            : json_object_new_string("");
}

/* @a head, then the string @a v with its length. */
static json_object *prefixed(apr_pool_t *p, const char *head, json_object *v)
{
    apr_size_t hlen = strlen(head);
    apr_size_t vlen = (apr_size_t)json_object_get_string_len(v);
    char *s = apr_palloc(p, hlen + vlen + 1);

    memcpy(s, head, hlen);
    memcpy(s + hlen, json_object_get_string(v), vlen);
    return llm_json_strn(s, hlen + vlen);
}

/* A text part of @a text (taken). */
static json_object *text_part(json_object *text)
{
    json_object *t = json_object_new_object();

    json_object_object_add(t, "type", json_object_new_string("text"));
    json_object_object_add(t, "text", text);
    return t;
}

/* An image part of @a url (taken). */
static json_object *image_part(json_object *url, json_object *detail)
{
    json_object *t = json_object_new_object();
    json_object *u = json_object_new_object();

    json_object_object_add(u, "url", url);
    if (detail) {
        json_object_object_add(u, "detail", json_object_get(detail));
    }
    json_object_object_add(t, "type", json_object_new_string("image_url"));
    json_object_object_add(t, "image_url", u);
    return t;
}

/* A content from @a parts (taken): one text part is a plain string, no
 * part an empty string, anything else the parts. */
static json_object *content_of(json_object *parts)
{
    json_object *first;
    const char *type;

    if (json_object_array_length(parts) == 0) {
        json_object_put(parts);
        return json_object_new_string("");
    }
    first = json_object_array_get_idx(parts, 0);
    type = str(first, "type");
    if (json_object_array_length(parts) == 1 && type
        && !strcmp(type, "text")) {
        json_object *text = json_object_get(get(first, "text"));

        json_object_put(parts);
        return text;
    }
    return parts;
}

/* A tool call with @a args (taken). */
static json_object *tool_call(const char *id, const char *name,
                              json_object *args)
{
    json_object *c = json_object_new_object();
    json_object *f = json_object_new_object();

    json_object_object_add(f, "name", json_object_new_string(name));
    json_object_object_add(f, "arguments", args);
    json_object_object_add(c, "id", json_object_new_string(id));
    json_object_object_add(c, "type", json_object_new_string("function"));
    json_object_object_add(c, "function", f);
    return c;
}

/* Arguments as OpenAI has them: a JSON text (a string is shared as it
 * is; json-c writes NUL in an object's strings as \u0000). */
static json_object *args_text(json_object *args)
{
    const char *s;
    size_t len;

    if (!args) {
        return json_object_new_string("{}");
    }
    if (json_object_is_type(args, json_type_string)) {
        return json_object_get(args);
    }
    s = json_object_to_json_string_length(args, JSON_C_TO_STRING_PLAIN
                                          | JSON_C_TO_STRING_NOSLASHESCAPE,
                                          &len);
    return llm_json_strn(s, len);
}

static json_object *new_canon(json_object *body)
{
    json_object *out = json_object_new_object();

    if (!share(out, "model", body, "model")) {
        share(out, "model", body, "model_name");
    }
    return out;
}

/* stream, always explicit; a stream of a non-OpenAI client asks for the
 * usage chunk, since those clients are told token counts. */
static void set_stream(json_object *out, json_object *body, int dflt,
                       int want_usage)
{
    json_object *v = get(body, "stream");
    int stream = llm_json_is(v, json_type_boolean) ? json_object_get_boolean(v)
                                                : dflt;

    json_object_object_add(out, "stream", json_object_new_boolean(stream));
    if (stream && want_usage) {
        json_object *so = json_object_new_object();

        json_object_object_add(so, "include_usage",
                               json_object_new_boolean(1));
        json_object_object_add(out, "stream_options", so);
    }
}

static json_object *function_tool(json_object *name, json_object *desc,
                                  json_object *params, json_object *strict)
{
    json_object *t = json_object_new_object();
    json_object *f = json_object_new_object();

    json_object_object_add(f, "name", json_object_get(name));
    if (desc) {
        json_object_object_add(f, "description", json_object_get(desc));
    }
    if (params) {
        json_object_object_add(f, "parameters", json_object_get(params));
    }
    if (strict) {
        json_object_object_add(f, "strict", json_object_get(strict));
    }
    json_object_object_add(t, "type", json_object_new_string("function"));
    json_object_object_add(t, "function", f);
    return t;
}

static json_object *named_choice(const char *name)
{
    json_object *c = json_object_new_object();
    json_object *f = json_object_new_object();

    json_object_object_add(f, "name", json_object_new_string(name));
    json_object_object_add(c, "type", json_object_new_string("function"));
    json_object_object_add(c, "function", f);
    return c;
}

/* ------------------------------------------------------------------ */
/* OpenAI chat (and LM Studio)                                         */
/* ------------------------------------------------------------------ */

static json_object *openai_messages(json_object *msgs)
{
    json_object *out = json_object_new_array();
    size_t n = json_object_array_length(msgs);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        const char *role = str(m, "role");

        if (role && !strcmp(role, "developer")) {
            json_object *c = json_object_new_object();

            json_object_object_foreach(m, k, v) {
                json_object_object_add(c, k, strcmp(k, "role")
                                       ? json_object_get(v)
                                       : json_object_new_string("system"));
            }
            json_object_array_add(out, c);
        }
        else {
            json_object_array_add(out, json_object_get(m));
        }
    }
    return out;
}

/* The legacy "functions" list as "tools". */
static json_object *functions_as_tools(json_object *fns)
{
    json_object *tools = json_object_new_array();
    size_t n = json_object_array_length(fns);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *t = json_object_new_object();

        json_object_object_add(t, "type", json_object_new_string("function"));
        json_object_object_add(t, "function",
                               json_object_get(
                                   json_object_array_get_idx(fns, i)));
        json_object_array_add(tools, t);
    }
    return tools;
}

static json_object *function_call_as_choice(json_object *fc)
{
    const char *name = str(fc, "name");

    if (name) {
        return named_choice(name);
    }
    return json_object_get(fc);          /* "auto" / "none" */
}

static json_object *from_openai_chat(json_object *body)
{
    json_object *out = new_canon(body);
    json_object *msgs = get(body, "messages");
    json_object *v;

    if (llm_json_is(msgs, json_type_array)) {
        json_object_object_add(out, "messages", openai_messages(msgs));
    }
    json_object_object_foreach(body, key, val) {
        if (!strcmp(key, "model") || !strcmp(key, "model_name")
            || !strcmp(key, "messages") || !strcmp(key, "stream")
            || !val) {
            continue;
        }
        if (!strcmp(key, "functions")) {
            if (!get(body, "tools")
                && json_object_is_type(val, json_type_array)) {
                json_object_object_add(out, "tools",
                                       functions_as_tools(val));
            }
            continue;
        }
        if (!strcmp(key, "function_call")) {
            if (!get(body, "tool_choice")) {
                json_object_object_add(out, "tool_choice",
                                       function_call_as_choice(val));
            }
            continue;
        }
        json_object_object_add(out, key, json_object_get(val));
    }
    v = get(body, "stream");
    json_object_object_add(out, "stream", json_object_new_boolean(
                               llm_json_is(v, json_type_boolean)
                               && json_object_get_boolean(v)));
    return out;
}

/* ------------------------------------------------------------------ */
/* OpenAI completion                                                   */
/* ------------------------------------------------------------------ */

static const char *const completion_fields[] = {
    "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "user",
    "stream_options", NULL
};

/* The one text prompt (not taken), or NULL. */
static json_object *single_prompt(json_object *prompt)
{
    if (llm_json_is(prompt, json_type_string)) {
        return prompt;
    }
    if (llm_json_is(prompt, json_type_array)
        && json_object_array_length(prompt) == 1
        && llm_json_is(json_object_array_get_idx(prompt, 0),
                       json_type_string)) {
        return json_object_array_get_idx(prompt, 0);
    }
    return NULL;
}

/* A suffix is refused unless empty: one of NUL is not. */
static int has_suffix(json_object *body)
{
    apr_size_t len;

    return llm_json_str(body, "suffix", &len) && len;
}

static json_object *from_openai_completion(apr_pool_t *p, json_object *body,
                                           llm_error_t *err)
{
    json_object *prompt = single_prompt(get(body, "prompt"));
    json_object *echo = get(body, "echo");
    json_object *logprobs = get(body, "logprobs");
    json_object *out, *msgs, *m;
    const char *const *f;

    if (!prompt) {
        unusable(p, err, "prompt", "%s", "Only a single text prompt can be "
                 "sent to this model's provider (not several prompts, nor "
                 "token ids).");
        return NULL;
    }
    if (has_suffix(body)) {
        unusable(p, err, "suffix", "%s", "This model's provider does not "
                 "take a suffix (insertion).");
        return NULL;
    }
    if (llm_json_is(echo, json_type_boolean) && json_object_get_boolean(echo)) {
        unusable(p, err, "echo", "%s", "This model's provider cannot echo "
                 "the prompt.");
        return NULL;
    }
    out = new_canon(body);
    msgs = json_object_new_array();
    m = message("user");
    json_object_object_add(m, "content", json_object_get(prompt));
    json_object_array_add(msgs, m);
    json_object_object_add(out, "messages", msgs);
    for (f = completion_fields; *f; f++) {
        share(out, *f, body, *f);
    }
    if (llm_json_is(logprobs, json_type_int) && json_object_get_int(logprobs)) {
        json_object_object_add(out, "logprobs", json_object_new_boolean(1));
        json_object_object_add(out, "top_logprobs",
                               json_object_get(logprobs));
    }
    set_stream(out, body, 0, 0);
    return out;
}

/* ------------------------------------------------------------------ */
/* OpenAI Responses                                                    */
/* ------------------------------------------------------------------ */

/* One content part of a Responses message item, appended to @a parts. */
static int responses_part(apr_pool_t *p, json_object *part,
                          json_object *parts, const char *param,
                          llm_error_t *err)
{
    const char *type = str(part, "type");

    if (type && (!strcmp(type, "input_text") || !strcmp(type, "output_text")
                 || !strcmp(type, "text"))) {
        json_object_array_add(parts, text_part(text_of(part, "text")));
        return 0;
    }
    if (type && !strcmp(type, "refusal")) {
        json_object_array_add(parts, text_part(text_of(part, "refusal")));
        return 0;
    }
    if (type && !strcmp(type, "input_image") && str(part, "image_url")) {
        json_object_array_add(parts, image_part(text_of(part, "image_url"),
                                                get(part, "detail")));
        return 0;
    }
    return unusable(p, err, param, "Content of type '%s' cannot be sent to "
                    "this model's provider (only text and image URLs).",
                    type ? type : "(none)");
}

static json_object *responses_content(apr_pool_t *p, json_object *content,
                                      const char *param, llm_error_t *err)
{
    json_object *parts;
    size_t n;
    size_t i;

    if (llm_json_is(content, json_type_string)) {
        return json_object_get(content);
    }
    if (!llm_json_is(content, json_type_array)) {
        bad_type(p, err, param, "a string or an array of content parts");
        return NULL;
    }
    parts = json_object_new_array();
    n = json_object_array_length(content);
    for (i = 0; i < n; i++) {
        if (responses_part(p, json_object_array_get_idx(content, i), parts,
                           param, err) < 0) {
            json_object_put(parts);
            return NULL;
        }
    }
    return content_of(parts);
}

/* The assistant message tool calls join: the last one when it is an
 * assistant's (a model's text and its calls are one turn), else a new
 * one. */
static json_object *assistant_for_calls(json_object *msgs)
{
    size_t n = json_object_array_length(msgs);
    json_object *last = n ? json_object_array_get_idx(msgs, n - 1) : NULL;
    const char *role = str(last, "role");
    json_object *m;

    if (role && !strcmp(role, "assistant")) {
        if (!get(last, "tool_calls")) {
            json_object_object_add(last, "tool_calls",
                                   json_object_new_array());
        }
        return last;
    }
    m = message("assistant");
    json_object_object_add(m, "content", NULL);
    json_object_object_add(m, "tool_calls", json_object_new_array());
    json_object_array_add(msgs, m);
    return m;
}

static int responses_item(apr_pool_t *p, json_object *item, size_t idx,
                          json_object *msgs, llm_error_t *err)
{
    const char *param = apr_psprintf(p, "input[%" APR_SIZE_T_FMT "]",
                                     (apr_size_t)idx);
    const char *type = str(item, "type");
    const char *role = str(item, "role");

    if (!llm_json_is(item, json_type_object)) {
        return bad_type(p, err, param, "an object");
    }
    if ((!type || !strcmp(type, "message")) && role) {
        json_object *content = responses_content(p, get(item, "content"),
                                                 param, err);
        json_object *m;

        if (!content) {
            return -1;
        }
        m = message(strcmp(role, "developer") ? role : "system");
        json_object_object_add(m, "content", content);
        json_object_array_add(msgs, m);
        return 0;
    }
    if (type && !strcmp(type, "function_call")) {
        json_object *m = assistant_for_calls(msgs);
        const char *id = str(item, "call_id") ? str(item, "call_id")
                         : str(item, "id") ? str(item, "id") : "";
        const char *name = str(item, "name");

        if (!name) {
            return bad_type(p, err, apr_pstrcat(p, param, ".name", NULL),
                            "a string");
        }
        json_object_array_add(get(m, "tool_calls"),
                              tool_call(id, name,
                                        args_text(get(item, "arguments"))));
        return 0;
    }
    if (type && !strcmp(type, "function_call_output")) {
        json_object *m = message("tool");
        json_object *out = get(item, "output");
        json_object *content = llm_json_is(out, json_type_string)
                               ? json_object_get(out)
                               : responses_content(p, out, param, err);

        if (!content) {
            json_object_put(m);
            return -1;
        }
        json_object_object_add(m, "tool_call_id",
                               json_object_new_string(
                                   str(item, "call_id") ? str(item, "call_id")
                                                        : ""));
        json_object_object_add(m, "content", content);
        json_object_array_add(msgs, m);
        return 0;
    }
    if (type && !strcmp(type, "reasoning")) {
        return 0;                /* the model's own notes: not replayed */
    }
    return unusable(p, err, param, "Input items of type '%s' cannot be sent "
                    "to this model's provider.", type ? type : "(none)");
}

static int responses_tools(apr_pool_t *p, json_object *tools,
                           json_object *out, llm_error_t *err)
{
    json_object *list = json_object_new_array();
    size_t n = json_object_array_length(tools);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tools, i);
        const char *type = str(t, "type");

        if (!type || strcmp(type, "function") || !get(t, "name")) {
            json_object_put(list);
            return unusable(p, err, "tools", "Tools of type '%s' (hosted "
                            "by OpenAI) cannot be used with this model's "
                            "provider.", type ? type : "(none)");
        }
        json_object_array_add(list, function_tool(get(t, "name"),
                                                  get(t, "description"),
                                                  get(t, "parameters"),
                                                  get(t, "strict")));
    }
    json_object_object_add(out, "tools", list);
    return 0;
}

static int responses_tool_choice(apr_pool_t *p, json_object *tc,
                                 json_object *out, llm_error_t *err)
{
    const char *type = str(tc, "type");

    if (llm_json_is(tc, json_type_string)) {
        json_object_object_add(out, "tool_choice", json_object_get(tc));
        return 0;
    }
    if (type && !strcmp(type, "function") && str(tc, "name")) {
        json_object_object_add(out, "tool_choice",
                               named_choice(str(tc, "name")));
        return 0;
    }
    return unusable(p, err, "tool_choice", "A tool_choice of type '%s' "
                    "cannot be used with this model's provider.",
                    type ? type : "(none)");
}

/* text.format -> response_format */
static void responses_format(json_object *text, json_object *out)
{
    json_object *fmt = get(text, "format");
    const char *type = str(fmt, "type");
    json_object *rf;

    if (!type || !strcmp(type, "text")) {
        return;
    }
    rf = json_object_new_object();
    json_object_object_add(rf, "type", json_object_new_string(type));
    if (!strcmp(type, "json_schema")) {
        json_object *js = json_object_new_object();

        json_object_object_foreach(fmt, k, v) {
            if (strcmp(k, "type") && v) {
                json_object_object_add(js, k, json_object_get(v));
            }
        }
        json_object_object_add(rf, "json_schema", js);
    }
    json_object_object_add(out, "response_format", rf);
}

static json_object *responses_messages(apr_pool_t *p, json_object *body,
                                       llm_error_t *err)
{
    json_object *msgs = json_object_new_array();
    json_object *input = get(body, "input");
    apr_size_t len;
    size_t i;
    size_t n;

    if (llm_json_str(body, "instructions", &len) && len) {
        json_object *m = message("system");

        json_object_object_add(m, "content", text_of(body, "instructions"));
        json_object_array_add(msgs, m);
    }
    if (llm_json_is(input, json_type_string)) {
        json_object *m = message("user");

        json_object_object_add(m, "content", json_object_get(input));
        json_object_array_add(msgs, m);
        return msgs;
    }
    n = llm_json_is(input, json_type_array) ? json_object_array_length(input)
                                        : 0;
    for (i = 0; i < n; i++) {
        if (responses_item(p, json_object_array_get_idx(input, i), i, msgs,
                           err) < 0) {
            json_object_put(msgs);
            return NULL;
        }
    }
    return msgs;
}

static json_object *from_openai_responses(apr_pool_t *p, json_object *body,
                                          llm_error_t *err)
{
    json_object *out, *msgs, *v;

    if (str(body, "previous_response_id")) {
        unusable(p, err, "previous_response_id", "%s", "This model's "
                 "provider keeps no conversation state: send the whole "
                 "input instead of previous_response_id.");
        return NULL;
    }
    if (!(msgs = responses_messages(p, body, err))) {
        return NULL;
    }
    out = new_canon(body);
    json_object_object_add(out, "messages", msgs);
    if ((v = get(body, "tools"))
        && json_object_is_type(v, json_type_array)
        && responses_tools(p, v, out, err) < 0) {
        json_object_put(out);
        return NULL;
    }
    if ((v = get(body, "tool_choice"))
        && responses_tool_choice(p, v, out, err) < 0) {
        json_object_put(out);
        return NULL;
    }
    share(out, "max_tokens", body, "max_output_tokens");
    share(out, "temperature", body, "temperature");
    share(out, "top_p", body, "top_p");
    share(out, "parallel_tool_calls", body, "parallel_tool_calls");
    share(out, "user", body, "user");
    share(out, "reasoning_effort", get(body, "reasoning"), "effort");
    responses_format(get(body, "text"), out);
    set_stream(out, body, 0, 1);
    return out;
}

/* ------------------------------------------------------------------ */
/* Ollama                                                              */
/* ------------------------------------------------------------------ */

/* Ollama sends bare base64; a data URL needs the media type, which the
 * first bytes give away. @a img is a string (not taken). */
static json_object *image_data_url(apr_pool_t *p, json_object *img)
{
    const char *b64 = json_object_get_string(img);
    static const struct { const char *magic; const char *type; } kinds[] = {
        { "/9j/", "image/jpeg" },
        { "iVBORw0KGgo", "image/png" },
        { "R0lGOD", "image/gif" },
        { "UklGR", "image/webp" },
    };
    const char *type = "image/png";
    apr_size_t i;

    if (!strncmp(b64, "data:", 5)) {
        return json_object_get(img);
    }
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (!strncmp(b64, kinds[i].magic, strlen(kinds[i].magic))) {
            type = kinds[i].type;
            break;
        }
    }
    return prefixed(p, apr_pstrcat(p, "data:", type, ";base64,", NULL), img);
}

/* The text of @a o's @a key + images -> content */
static json_object *ollama_content(apr_pool_t *p, json_object *o,
                                   const char *key, json_object *images,
                                   const char *param, llm_error_t *err)
{
    json_object *parts;
    size_t n = llm_json_is(images, json_type_array)
               ? json_object_array_length(images) : 0;
    size_t i;
    apr_size_t len;

    if (n == 0) {
        return text_of(o, key);
    }
    parts = json_object_new_array();
    if (llm_json_str(o, key, &len) && len) {
        json_object_array_add(parts, text_part(text_of(o, key)));
    }
    for (i = 0; i < n; i++) {
        json_object *img = json_object_array_get_idx(images, i);

        if (!llm_json_is(img, json_type_string)) {
            json_object_put(parts);
            bad_type(p, err, apr_pstrcat(p, param, ".images", NULL),
                     "an array of base64 strings");
            return NULL;
        }
        json_object_array_add(parts, image_part(image_data_url(p, img),
                                                NULL));
    }
    return parts;
}

/* The ids of the calls of the last assistant message, for the tool
 * messages that answer them (Ollama names the tool, not the call). */
typedef struct {
    const char *id;
    const char *name;
    int answered;
} pending_call_t;

static void ollama_tool_calls(apr_pool_t *p, json_object *calls,
                              size_t midx, json_object *m,
                              apr_array_header_t *pending)
{
    json_object *list = json_object_new_array();
    size_t n = json_object_array_length(calls);
    size_t i;

    apr_array_clear(pending);
    for (i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(calls, i);
        json_object *f = get(c, "function");
        const char *name = str(f, "name");
        const char *id = str(c, "id");
        pending_call_t *pc = apr_array_push(pending);

        if (!id || !*id) {
            id = apr_psprintf(p, "call_%" APR_SIZE_T_FMT "_%" APR_SIZE_T_FMT,
                              (apr_size_t)midx, (apr_size_t)i);
        }
        pc->id = id;
        pc->name = name ? name : "";
        pc->answered = 0;
        json_object_array_add(list, tool_call(id, pc->name,
                                              args_text(get(f,
                                                            "arguments"))));
    }
    json_object_object_add(m, "tool_calls", list);
}

static const char *answered_call(apr_pool_t *p, json_object *om, size_t midx,
                                 apr_array_header_t *pending)
{
    const char *name = str(om, "tool_name");
    pending_call_t *calls = (pending_call_t *)pending->elts;
    int i;

    if (str(om, "tool_call_id")) {
        return str(om, "tool_call_id");
    }
    if (!name) {
        name = str(om, "name");
    }
    for (i = 0; name && i < pending->nelts; i++) {
        if (!calls[i].answered && !strcmp(calls[i].name, name)) {
            calls[i].answered = 1;
            return calls[i].id;
        }
    }
    for (i = 0; i < pending->nelts; i++) {
        if (!calls[i].answered) {
            calls[i].answered = 1;
            return calls[i].id;
        }
    }
    return apr_psprintf(p, "call_%" APR_SIZE_T_FMT, (apr_size_t)midx);
}

static json_object *ollama_messages(apr_pool_t *p, json_object *msgs,
                                    llm_error_t *err)
{
    json_object *out = json_object_new_array();
    apr_array_header_t *pending = apr_array_make(p, 4,
                                                 sizeof(pending_call_t));
    size_t n = json_object_array_length(msgs);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *om = json_object_array_get_idx(msgs, i);
        const char *role = str(om, "role");
        const char *param = apr_psprintf(p, "messages[%" APR_SIZE_T_FMT "]",
                                         (apr_size_t)i);
        json_object *calls = get(om, "tool_calls");
        json_object *m, *content;

        if (!role) {
            json_object_put(out);
            bad_type(p, err, param, "an object with a string 'role'");
            return NULL;
        }
        content = ollama_content(p, om, "content", get(om, "images"), param,
                                 err);
        if (!content) {
            json_object_put(out);
            return NULL;
        }
        m = message(role);
        if (!strcmp(role, "tool")) {
            json_object_object_add(m, "tool_call_id", json_object_new_string(
                                       answered_call(p, om, i, pending)));
        }
        json_object_object_add(m, "content", content);
        if (!strcmp(role, "assistant") && llm_json_is(calls, json_type_array)
            && json_object_array_length(calls)) {
            ollama_tool_calls(p, calls, i, m, pending);
        }
        json_object_array_add(out, m);
    }
    return out;
}

/* options -> top-level fields; format; think. */
static int ollama_options(apr_pool_t *p, json_object *body, json_object *out,
                          llm_error_t *err)
{
    static const char *const same[] = {
        "temperature", "top_p", "top_k", "seed", "stop", "presence_penalty",
        "frequency_penalty", NULL
    };
    json_object *opts = get(body, "options");
    json_object *np = get(opts, "num_predict");
    json_object *fmt = get(body, "format");
    const char *think = str(body, "think");
    const char *const *f;

    for (f = same; *f; f++) {
        share(out, *f, opts, *f);
    }
    /* -1 (no limit) and -2 (fill the context) have no OpenAI form. */
    if (llm_json_is(np, json_type_int) && json_object_get_int64(np) > 0) {
        json_object_object_add(out, "max_tokens", json_object_get(np));
    }
    if (llm_json_is(fmt, json_type_string) && *json_object_get_string(fmt)) {
        json_object *rf;

        if (strcmp(json_object_get_string(fmt), "json")) {
            return unusable(p, err, "format", "format must be \"json\" or a "
                            "JSON schema, not \"%s\".",
                            json_object_get_string(fmt));
        }
        rf = json_object_new_object();
        json_object_object_add(rf, "type",
                               json_object_new_string("json_object"));
        json_object_object_add(out, "response_format", rf);
    }
    else if (llm_json_is(fmt, json_type_object)) {
        json_object *rf = json_object_new_object();
        json_object *js = json_object_new_object();

        json_object_object_add(js, "name", json_object_new_string("response"));
        json_object_object_add(js, "schema", json_object_get(fmt));
        json_object_object_add(rf, "type",
                               json_object_new_string("json_schema"));
        json_object_object_add(rf, "json_schema", js);
        json_object_object_add(out, "response_format", rf);
    }
    /* think: an effort level maps; true/false has no OpenAI form. */
    if (think && (!strcmp(think, "low") || !strcmp(think, "medium")
                  || !strcmp(think, "high"))) {
        json_object_object_add(out, "reasoning_effort",
                               json_object_new_string(think));
    }
    return 0;
}

static json_object *from_ollama_chat(apr_pool_t *p, json_object *body,
                                     llm_error_t *err)
{
    json_object *msgs;
    json_object *out;

    if (!llm_json_is(get(body, "messages"), json_type_array)) {
        bad_type(p, err, "messages", "an array of messages");
        return NULL;
    }
    msgs = ollama_messages(p, get(body, "messages"), err);
    if (!msgs) {
        return NULL;
    }
    out = new_canon(body);
    json_object_object_add(out, "messages", msgs);
    share(out, "tools", body, "tools");
    if (ollama_options(p, body, out, err) < 0) {
        json_object_put(out);
        return NULL;
    }
    set_stream(out, body, 1, 1);
    return out;
}

static json_object *from_ollama_generate(apr_pool_t *p, json_object *body,
                                         llm_error_t *err)
{
    json_object *ctx = get(body, "context");
    json_object *msgs, *m, *content, *out;
    apr_size_t len;

    if (has_suffix(body)) {
        unusable(p, err, "suffix", "%s", "This model's provider does not "
                 "take a suffix (insertion).");
        return NULL;
    }
    if (llm_json_is(ctx, json_type_array) && json_object_array_length(ctx)) {
        unusable(p, err, "context", "%s", "The context of an earlier "
                 "/api/generate answer can only go back to Ollama: send the "
                 "conversation with /api/chat instead.");
        return NULL;
    }
    content = ollama_content(p, body, "prompt", get(body, "images"),
                             "prompt", err);
    if (!content) {
        return NULL;
    }
    msgs = json_object_new_array();
    if (llm_json_str(body, "system", &len) && len) {
        m = message("system");
        json_object_object_add(m, "content", text_of(body, "system"));
        json_object_array_add(msgs, m);
    }
    m = message("user");
    json_object_object_add(m, "content", content);
    json_object_array_add(msgs, m);
    out = new_canon(body);
    json_object_object_add(out, "messages", msgs);
    if (ollama_options(p, body, out, err) < 0) {
        json_object_put(out);
        return NULL;
    }
    set_stream(out, body, 1, 1);
    return out;
}

/* ------------------------------------------------------------------ */
/* Anthropic Messages                                                  */
/* ------------------------------------------------------------------ */

static json_object *anthropic_image(apr_pool_t *p, json_object *block,
                                    const char *param, llm_error_t *err)
{
    json_object *src = get(block, "source");
    const char *type = str(src, "type");

    if (type && !strcmp(type, "base64") && str(src, "data")) {
        const char *mt = str(src, "media_type");

        return image_part(prefixed(p, apr_pstrcat(p, "data:",
                                                  mt ? mt : "image/png",
                                                  ";base64,", NULL),
                                   get(src, "data")), NULL);
    }
    if (type && !strcmp(type, "url") && str(src, "url")) {
        return image_part(text_of(src, "url"), NULL);
    }
    unusable(p, err, param, "Images of source type '%s' cannot be sent to "
             "this model's provider.", type ? type : "(none)");
    return NULL;
}

/* The text of a tool_result's content (a string, shared, or text
 * blocks joined by a newline), or NULL with @a err set. */
static json_object *tool_result_text(apr_pool_t *p, json_object *content,
                                     const char *param, llm_error_t *err)
{
    llm_buf_t text;
    size_t n;
    size_t i;

    if (llm_json_is(content, json_type_string)) {
        return json_object_get(content);
    }
    llm_buf_init(&text, p);
    n = llm_json_is(content, json_type_array)
        ? json_object_array_length(content) : 0;
    for (i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(content, i);
        const char *type = str(b, "type");
        apr_size_t len;
        const char *t = llm_json_str(b, "text", &len);

        if (!type || strcmp(type, "text")) {
            unusable(p, err, param, "A tool_result holding '%s' blocks "
                     "cannot be sent to this model's provider (text only).",
                     type ? type : "(none)");
            return NULL;
        }
        if (text.len) {
            llm_buf_add(&text, "\n", 1);
        }
        llm_buf_add(&text, t, len);
    }
    return llm_json_strn(text.data, text.len);
}

typedef struct {
    apr_pool_t *p;
    json_object *msgs;     /* canonical messages being built */
    json_object *parts;    /* text/image parts of this message */
    json_object *calls;    /* tool calls of this (assistant) message */
    llm_error_t *err;
} anth_state_t;

static int anthropic_block(anth_state_t *st, json_object *b,
                           const char *role, const char *param)
{
    apr_pool_t *p = st->p;
    const char *type = str(b, "type");

    if (type && !strcmp(type, "text")) {
        json_object_array_add(st->parts, text_part(text_of(b, "text")));
    }
    else if (type && !strcmp(type, "image")) {
        json_object *img = anthropic_image(p, b, param, st->err);

        if (!img) {
            return -1;
        }
        json_object_array_add(st->parts, img);
    }
    else if (type && !strcmp(type, "tool_use") && !strcmp(role, "assistant")) {
        json_object_array_add(st->calls, tool_call(
            str(b, "id") ? str(b, "id") : "",
            str(b, "name") ? str(b, "name") : "",
            args_text(get(b, "input"))));
    }
    else if (type && !strcmp(type, "tool_result") && !strcmp(role, "user")) {
        json_object *text = tool_result_text(p, get(b, "content"), param,
                                             st->err);
        json_object *m;

        if (!text) {
            return -1;
        }
        m = message("tool");
        json_object_object_add(m, "tool_call_id", json_object_new_string(
            str(b, "tool_use_id") ? str(b, "tool_use_id") : ""));
        json_object_object_add(m, "content", text);
        json_object_array_add(st->msgs, m);
    }
    else if (!type || (strcmp(type, "thinking")
                       && strcmp(type, "redacted_thinking"))) {
        return unusable(p, st->err, param, "Content blocks of type '%s' "
                        "cannot be sent to this model's provider.",
                        type ? type : "(none)");
    }
    return 0;
}

/* The message of the collected parts and calls, if any. */
static void anthropic_flush(anth_state_t *st, const char *role)
{
    int ncalls = (int)json_object_array_length(st->calls);
    json_object *m;

    if (json_object_array_length(st->parts) == 0 && ncalls == 0) {
        return;
    }
    m = message(role);
    if (ncalls && json_object_array_length(st->parts) == 0) {
        json_object_object_add(m, "content", NULL);
    }
    else {
        json_object_object_add(m, "content",
                               content_of(json_object_get(st->parts)));
    }
    if (ncalls) {
        json_object_object_add(m, "tool_calls", json_object_get(st->calls));
    }
    json_object_array_add(st->msgs, m);
}

static int anthropic_message(anth_state_t *st, json_object *am, size_t idx)
{
    apr_pool_t *p = st->p;
    const char *role = str(am, "role");
    json_object *content = get(am, "content");
    size_t n;
    size_t i;
    int rc = 0;

    if (!role) {
        return bad_type(p, st->err, apr_psprintf(p, "messages[%"
                                                 APR_SIZE_T_FMT "]",
                                                 (apr_size_t)idx),
                        "an object with a string 'role'");
    }
    if (llm_json_is(content, json_type_string)) {
        json_object *m = message(role);

        json_object_object_add(m, "content", json_object_get(content));
        json_object_array_add(st->msgs, m);
        return 0;
    }
    if (!llm_json_is(content, json_type_array)) {
        return bad_type(p, st->err, apr_psprintf(p, "messages[%"
                                                 APR_SIZE_T_FMT "].content",
                                                 (apr_size_t)idx),
                        "a string or an array of content blocks");
    }
    st->parts = json_object_new_array();
    st->calls = json_object_new_array();
    n = json_object_array_length(content);
    /* tool_result blocks become tool messages, put before the rest of
     * their user message, as OpenAI wants them right after the call. */
    for (i = 0; i < n && rc == 0; i++) {
        rc = anthropic_block(st, json_object_array_get_idx(content, i), role,
                             apr_psprintf(p, "messages[%" APR_SIZE_T_FMT
                                          "].content[%" APR_SIZE_T_FMT "]",
                                          (apr_size_t)idx, (apr_size_t)i));
    }
    if (rc == 0) {
        anthropic_flush(st, role);
    }
    json_object_put(st->parts);
    json_object_put(st->calls);
    return rc;
}

static json_object *anthropic_system(apr_pool_t *p, json_object *sys,
                                     llm_error_t *err)
{
    json_object *parts;
    size_t n;
    size_t i;

    if (llm_json_is(sys, json_type_string)) {
        return json_object_get(sys);
    }
    if (!llm_json_is(sys, json_type_array)) {
        bad_type(p, err, "system", "a string or an array of text blocks");
        return NULL;
    }
    parts = json_object_new_array();
    n = json_object_array_length(sys);
    for (i = 0; i < n; i++) {
        json_object *b = json_object_array_get_idx(sys, i);
        const char *type = str(b, "type");

        if (!type || strcmp(type, "text")) {
            json_object_put(parts);
            unusable(p, err, "system", "A system prompt holding '%s' blocks "
                     "cannot be sent to this model's provider (text only).",
                     type ? type : "(none)");
            return NULL;
        }
        json_object_array_add(parts, text_part(text_of(b, "text")));
    }
    return content_of(parts);
}

static int anthropic_tools(apr_pool_t *p, json_object *tools,
                           json_object *out, llm_error_t *err)
{
    json_object *list = json_object_new_array();
    size_t n = json_object_array_length(tools);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tools, i);
        const char *type = str(t, "type");

        /* Server tools (web_search_..., bash_..., text_editor_...) run
         * at Anthropic: no other provider has them. */
        if ((type && strcmp(type, "custom")) || !get(t, "name")) {
            json_object_put(list);
            return unusable(p, err, "tools", "Tools of type '%s' (run by "
                            "Anthropic) cannot be used with this model's "
                            "provider.", type ? type : "(none)");
        }
        json_object_array_add(list, function_tool(get(t, "name"),
                                                  get(t, "description"),
                                                  get(t, "input_schema"),
                                                  NULL));
    }
    json_object_object_add(out, "tools", list);
    return 0;
}

static void anthropic_tool_choice(json_object *tc, json_object *out)
{
    const char *type = str(tc, "type");
    json_object *dp = get(tc, "disable_parallel_tool_use");

    if (!type) {
        return;
    }
    if (!strcmp(type, "any")) {
        json_object_object_add(out, "tool_choice",
                               json_object_new_string("required"));
    }
    else if (!strcmp(type, "tool") && str(tc, "name")) {
        json_object_object_add(out, "tool_choice",
                               named_choice(str(tc, "name")));
    }
    else if (!strcmp(type, "auto") || !strcmp(type, "none")) {
        json_object_object_add(out, "tool_choice",
                               json_object_new_string(type));
    }
    if (llm_json_is(dp, json_type_boolean) && json_object_get_boolean(dp)) {
        json_object_object_add(out, "parallel_tool_calls",
                               json_object_new_boolean(0));
    }
}

static json_object *from_anthropic(apr_pool_t *p, json_object *body,
                                   llm_error_t *err)
{
    anth_state_t st;
    json_object *sys = get(body, "system");
    json_object *msgs = get(body, "messages");
    json_object *out;
    json_object *tools = get(body, "tools");
    size_t n;
    size_t i;

    if (!llm_json_is(msgs, json_type_array)) {
        bad_type(p, err, "messages", "an array of messages");
        return NULL;
    }
    n = json_object_array_length(msgs);
    out = new_canon(body);
    st.p = p;
    st.err = err;
    st.msgs = json_object_new_array();
    json_object_object_add(out, "messages", st.msgs);
    if (sys) {
        json_object *content = anthropic_system(p, sys, err);
        json_object *m;

        if (!content) {
            json_object_put(out);
            return NULL;
        }
        m = message("system");
        json_object_object_add(m, "content", content);
        json_object_array_add(st.msgs, m);
    }
    for (i = 0; i < n; i++) {
        if (anthropic_message(&st, json_object_array_get_idx(msgs, i), i)
            < 0) {
            json_object_put(out);
            return NULL;
        }
    }
    if (llm_json_is(tools, json_type_array)
        && anthropic_tools(p, tools, out, err) < 0) {
        json_object_put(out);
        return NULL;
    }
    anthropic_tool_choice(get(body, "tool_choice"), out);
    share(out, "max_tokens", body, "max_tokens");
    share(out, "stop", body, "stop_sequences");
    share(out, "temperature", body, "temperature");
    share(out, "top_p", body, "top_p");
    share(out, "top_k", body, "top_k");
    set_stream(out, body, 0, 1);
    return out;
}

/* ------------------------------------------------------------------ */

json_object *llm_xlate_ingress(apr_pool_t *p, llm_wire_e wire, llm_op_e op,
                               json_object *body, llm_error_t *err)
{
    if (!llm_json_is(body, json_type_object)) {
        llm_xlate_fail(err, 400, "invalid_json", NULL,
                       "The request body must be a JSON object.");
        return NULL;
    }
    if (op == LLM_OP_EMBEDDINGS) {
        return llm_xlate_embed_ingress(p, wire, body, err);
    }
    switch (wire) {
    case LLM_WIRE_OPENAI_COMPLETION:
        return from_openai_completion(p, body, err);
    case LLM_WIRE_OPENAI_RESPONSES:
        return from_openai_responses(p, body, err);
    case LLM_WIRE_OLLAMA_CHAT:
        return from_ollama_chat(p, body, err);
    case LLM_WIRE_OLLAMA_GENERATE:
        return from_ollama_generate(p, body, err);
    case LLM_WIRE_ANTHROPIC:
        return from_anthropic(p, body, err);
    default:
        return from_openai_chat(body);
    }
}
