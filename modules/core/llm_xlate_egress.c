/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The canonical request (an OpenAI chat-completions body) -> the body a
 * provider's wire takes. The table of kept and dropped fields per target
 * is at llm_xlate_egress() in llm_xlate.h.
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_hash.h"

#include <json-c/json.h>

#include "llm_buf.h"
#include "llm_xlate.h"

#define get  llm_json_get
/* A C string ends at the first NUL, which a JSON string may hold: str()
 * reads only ids, roles, types, enums and names. Text (contents, parts,
 * prompts, arguments) is carried as its json-c object, shared, or
 * joined with its length (join_t). */
#define str(o, key)  llm_json_str(o, key, NULL)
#define share llm_xlate_share

/* Anthropic requires max_tokens; the original used the same default. */
#define ANTHROPIC_MAX_TOKENS 4096

static int unusable(apr_pool_t *p, llm_error_t *err, const char *param,
                    const char *fmt, const char *what)
{
    return llm_xlate_fail(err, 422, "unsupported_content", param,
                          apr_psprintf(p, fmt, what));
}

static const char *msg_param(apr_pool_t *p, size_t i)
{
    return apr_psprintf(p, "messages[%" APR_SIZE_T_FMT "]", (apr_size_t)i);
}

/* ------------------------------------------------------------------ */
/* Content                                                             */
/* ------------------------------------------------------------------ */

/* Texts joined by a separator, with their lengths. */
typedef struct {
    llm_buf_t buf;
    int n;                      /* texts joined */
} join_t;

static void join_init(join_t *j, apr_pool_t *p)
{
    llm_buf_init(&j->buf, p);
    j->n = 0;
}

static void join_add(join_t *j, const char *sep, const char *s,
                     apr_size_t len)
{
    if (j->n++) {
        llm_buf_add(&j->buf, sep, strlen(sep));
    }
    llm_buf_add(&j->buf, s, len);
}

static void join_text(join_t *j, const char *sep, json_object *text)
{
    join_add(j, sep, json_object_get_string(text),
             (apr_size_t)json_object_get_string_len(text));
}

static json_object *join_string(const join_t *j)
{
    return llm_json_strn(j->buf.data, j->buf.len);
}

/* The length of a string (NUL and all); 0 for anything else. */
static apr_size_t text_len(json_object *v)
{
    return llm_json_is(v, json_type_string)
           ? (apr_size_t)json_object_get_string_len(v) : 0;
}

/* "data:<type>;base64,<data>" (@a url, a string) -> type and data with
 * its length; 0 when not base64. */
static int data_url(apr_pool_t *p, json_object *url, const char **type,
                    const char **data, apr_size_t *dlen)
{
    const char *u = json_object_get_string(url);
    apr_size_t len = (apr_size_t)json_object_get_string_len(url);
    const char *comma;
    const char *semi;

    if (len < 5 || strncmp(u, "data:", 5)
        || !(comma = memchr(u + 5, ',', len - 5))
        || comma - (u + 5) < 7 || strncmp(comma - 7, ";base64", 7)) {
        return 0;
    }
    semi = memchr(u + 5, ';', (apr_size_t)(comma - (u + 5)));
    *type = semi > u + 5
            ? apr_pstrmemdup(p, u + 5, (apr_size_t)(semi - u - 5))
            : "image/png";
    *data = comma + 1;
    *dlen = len - (apr_size_t)(*data - u);
    return 1;
}

/* The URL of an image part (a string), or NULL. */
static json_object *image_url_of(json_object *part)
{
    json_object *iu = get(part, "image_url");

    /* {"image_url":{"url":...}}, or the bare string some clients send */
    if (!llm_json_is(iu, json_type_string)) {
        iu = get(iu, "url");
    }
    return llm_json_is(iu, json_type_string) ? iu : NULL;
}

/*
 * The text of @a content (a string, shared, or parts), text parts joined
 * by @a sep. Images go to @a images as base64 when it is given (Ollama),
 * and are refused otherwise; an image that is not a base64 data URL
 * cannot go to Ollama at all. A new reference, or NULL with @a err set.
 */
static json_object *flatten(apr_pool_t *p, json_object *content,
                            const char *sep, json_object *images,
                            const char *param, llm_error_t *err)
{
    join_t text;
    size_t n;
    size_t i;

    if (!content) {
        return json_object_new_string("");
    }
    if (llm_json_is(content, json_type_string)) {
        return json_object_get(content);
    }
    if (!llm_json_is(content, json_type_array)) {
        llm_xlate_fail(err, 400, "invalid_type", param,
                       apr_psprintf(p, "Invalid type for '%s.content': "
                                    "expected a string or an array of "
                                    "content parts.", param));
        return NULL;
    }
    join_init(&text, p);
    n = json_object_array_length(content);
    for (i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *type = str(part, "type");
        json_object *url;
        const char *mt, *data;
        apr_size_t dlen;

        if (type && (!strcmp(type, "text") || !strcmp(type, "refusal"))) {
            apr_size_t len;
            const char *t = llm_json_str(part, type, &len);

            join_add(&text, sep, t, len);
            continue;
        }
        if (!type || strcmp(type, "image_url") || !images) {
            unusable(p, err, param, "Content of type '%s' cannot be sent to "
                     "this model's provider.", type ? type : "(none)");
            return NULL;
        }
        url = image_url_of(part);
        if (!url || !data_url(p, url, &mt, &data, &dlen)) {
            unusable(p, err, param, "%s", "Ollama takes images as data only: "
                     "an image URL cannot be sent to it (send the image as a "
                     "base64 data: URL).");
            return NULL;
        }
        json_object_array_add(images, llm_json_strn(data, dlen));
    }
    return join_string(&text);
}

/* ------------------------------------------------------------------ */
/* OpenAI chat, LM Studio                                              */
/* ------------------------------------------------------------------ */

static json_object *to_openai_chat(json_object *canon)
{
    json_object *out = json_object_new_object();

    json_object_object_foreach(canon, key, val) {
        json_object_object_add(out, key, json_object_get(val));
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* The single-prompt targets: OpenAI completion, Ollama generate       */
/* ------------------------------------------------------------------ */

/* The system and user texts of a completion's canonical request, each
 * joined by a blank line (@a system->n 0: no system message). */
static int prompt_parts(apr_pool_t *p, json_object *canon, join_t *system,
                        join_t *prompt, json_object *images,
                        llm_error_t *err)
{
    json_object *msgs = get(canon, "messages");
    size_t n = llm_json_is(msgs, json_type_array)
               ? json_object_array_length(msgs) : 0;
    size_t i;

    join_init(system, p);
    join_init(prompt, p);
    for (i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        const char *role = str(m, "role");
        int is_system = role && (!strcmp(role, "system")
                                 || !strcmp(role, "developer"));
        json_object *text;

        if (!is_system && (!role || strcmp(role, "user"))) {
            return unusable(p, err, msg_param(p, i), "A completion takes "
                            "one prompt: a '%s' message cannot be part of "
                            "it.", role ? role : "(none)");
        }
        text = flatten(p, get(m, "content"), "\n",
                       is_system ? NULL : images, msg_param(p, i), err);
        if (!text) {
            return -1;
        }
        join_text(is_system ? system : prompt, "\n\n", text);
        json_object_put(text);
    }
    return 0;
}

static const char *const completion_fields[] = {
    "max_tokens", "temperature", "top_p", "top_k", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "user", "stream",
    "stream_options", NULL
};

static json_object *to_openai_completion(apr_pool_t *p, json_object *canon,
                                         llm_error_t *err)
{
    join_t system, prompt;
    const char *const *f;
    json_object *out;

    if (prompt_parts(p, canon, &system, &prompt, NULL, err) < 0) {
        return NULL;
    }
    /* A completion has no system prompt: it leads the text. */
    if (system.n && prompt.n) {
        join_add(&system, "\n\n", prompt.buf.data, prompt.buf.len);
    }
    out = json_object_new_object();
    share(out, "model", canon, "model");
    json_object_object_add(out, "prompt", join_string(system.n ? &system
                                                               : &prompt));
    if (!share(out, "max_tokens", canon, "max_tokens")) {
        share(out, "max_tokens", canon, "max_completion_tokens");
    }
    for (f = completion_fields + 1; *f; f++) {
        share(out, *f, canon, *f);
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Ollama                                                              */
/* ------------------------------------------------------------------ */

static int no_choices(apr_pool_t *p, json_object *canon, llm_error_t *err)
{
    json_object *n = get(canon, "n");

    if (llm_json_is(n, json_type_int) && json_object_get_int64(n) > 1) {
        return unusable(p, err, "n", "%s", "This model's provider gives one "
                        "answer per request: n must be 1.");
    }
    return 0;
}

static void ollama_options(json_object *canon, json_object *out)
{
    static const char *const same[] = {
        "temperature", "top_p", "top_k", "seed", "presence_penalty",
        "frequency_penalty", NULL
    };
    json_object *opts = json_object_new_object();
    json_object *stop = get(canon, "stop");
    const char *const *f;

    for (f = same; *f; f++) {
        share(opts, *f, canon, *f);
    }
    if (!share(opts, "num_predict", canon, "max_tokens")) {
        share(opts, "num_predict", canon, "max_completion_tokens");
    }
    if (llm_json_is(stop, json_type_string)) {
        json_object *list = json_object_new_array();

        json_object_array_add(list, json_object_get(stop));
        json_object_object_add(opts, "stop", list);
    }
    else if (stop) {
        json_object_object_add(opts, "stop", json_object_get(stop));
    }
    if (json_object_object_length(opts)) {
        json_object_object_add(out, "options", opts);
    }
    else {
        json_object_put(opts);
    }
}

/* response_format -> format, then options, then stream (always: Ollama
 * streams unless told not to). */
static void ollama_common(json_object *canon, json_object *out)
{
    json_object *rf = get(canon, "response_format");
    const char *type = str(rf, "type");
    json_object *stream = get(canon, "stream");

    if (type && !strcmp(type, "json_object")) {
        json_object_object_add(out, "format", json_object_new_string("json"));
    }
    else if (type && !strcmp(type, "json_schema")) {
        share(out, "format", get(rf, "json_schema"), "schema");
    }
    ollama_options(canon, out);
    json_object_object_add(out, "stream", json_object_new_boolean(
                               llm_json_is(stream, json_type_boolean)
                               && json_object_get_boolean(stream)));
}

/* Arguments (a JSON text) -> the object Ollama and Anthropic take. The
 * text is a string of the client's body, which the door's check did not
 * read as JSON: it is checked here, since json-c would take "00.5" or
 * NaN and write them back as they came, into a body that is not JSON. */
static json_object *args_object(apr_pool_t *p, json_object *fn,
                                const char *param, llm_error_t *err)
{
    json_object *args = get(fn, "arguments");
    llm_json_check_t check;
    apr_size_t len = text_len(args);
    json_object *obj = NULL;

    if (llm_json_is(args, json_type_object)) {
        return json_object_get(args);
    }
    if (!len) {
        return json_object_new_object();
    }
    obj = llm_json_parse_strict(p, json_object_get_string(args), len, 0,
                                &check);
    if (!llm_json_is(obj, json_type_object)) {
        json_object_put(obj);
        unusable(p, err, param, "The arguments of tool call '%s' are not a "
                 "JSON object.", str(fn, "name") ? str(fn, "name") : "");
        return NULL;
    }
    return obj;
}

static int ollama_calls(apr_pool_t *p, json_object *calls, json_object *m,
                        apr_hash_t *names, const char *param,
                        llm_error_t *err)
{
    json_object *list = json_object_new_array();
    size_t n = json_object_array_length(calls);
    size_t i;

    json_object_object_add(m, "tool_calls", list);
    for (i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(calls, i);
        json_object *fn = get(c, "function");
        json_object *args = args_object(p, fn, param, err);
        json_object *oc, *of;

        if (!args) {
            return -1;
        }
        of = json_object_new_object();
        share(of, "name", fn, "name");
        json_object_object_add(of, "arguments", args);
        oc = json_object_new_object();
        json_object_object_add(oc, "function", of);
        json_object_array_add(list, oc);
        if (str(c, "id") && str(fn, "name")) {
            apr_hash_set(names, str(c, "id"), APR_HASH_KEY_STRING,
                         str(fn, "name"));
        }
    }
    return 0;
}

static json_object *ollama_message(apr_pool_t *p, json_object *m, size_t i,
                                   apr_hash_t *names, llm_error_t *err)
{
    const char *role = str(m, "role");
    const char *param = msg_param(p, i);
    json_object *images = json_object_new_array();
    json_object *calls = get(m, "tool_calls");
    json_object *om;
    json_object *text;

    if (!role) {
        json_object_put(images);
        llm_xlate_fail(err, 400, "invalid_type", param, "A message has no "
                       "role.");
        return NULL;
    }
    if (!(text = flatten(p, get(m, "content"), "\n", images, param, err))) {
        json_object_put(images);
        return NULL;
    }
    om = json_object_new_object();
    json_object_object_add(om, "role", json_object_new_string(
                               strcmp(role, "developer") ? role : "system"));
    json_object_object_add(om, "content", text);
    if (json_object_array_length(images)) {
        json_object_object_add(om, "images", json_object_get(images));
    }
    json_object_put(images);
    if (llm_json_is(calls, json_type_array) && json_object_array_length(calls)
        && ollama_calls(p, calls, om, names, param, err) < 0) {
        json_object_put(om);
        return NULL;
    }
    if (!strcmp(role, "tool") && str(m, "tool_call_id")) {
        const char *name = apr_hash_get(names, str(m, "tool_call_id"),
                                        APR_HASH_KEY_STRING);

        if (name) {
            json_object_object_add(om, "tool_name",
                                   json_object_new_string(name));
        }
    }
    return om;
}

static json_object *to_ollama_chat(apr_pool_t *p, json_object *canon,
                                   llm_error_t *err)
{
    json_object *msgs = get(canon, "messages");
    apr_hash_t *names = apr_hash_make(p);
    json_object *out, *list;
    const char *tc = str(canon, "tool_choice");
    size_t n = llm_json_is(msgs, json_type_array)
               ? json_object_array_length(msgs) : 0;
    size_t i;

    if (no_choices(p, canon, err) < 0) {
        return NULL;
    }
    out = json_object_new_object();
    share(out, "model", canon, "model");
    list = json_object_new_array();
    json_object_object_add(out, "messages", list);
    for (i = 0; i < n; i++) {
        json_object *om = ollama_message(p, json_object_array_get_idx(msgs, i),
                                         i, names, err);

        if (!om) {
            json_object_put(out);
            return NULL;
        }
        json_object_array_add(list, om);
    }
    /* Ollama has no tool_choice: "none" is best said by no tools. */
    if (!tc || strcmp(tc, "none")) {
        share(out, "tools", canon, "tools");
    }
    ollama_common(canon, out);
    return out;
}

static json_object *to_ollama_generate(apr_pool_t *p, json_object *canon,
                                       llm_error_t *err)
{
    json_object *images = json_object_new_array();
    join_t system, prompt;
    json_object *out;

    if (no_choices(p, canon, err) < 0
        || prompt_parts(p, canon, &system, &prompt, images, err) < 0) {
        json_object_put(images);
        return NULL;
    }
    out = json_object_new_object();
    share(out, "model", canon, "model");
    json_object_object_add(out, "prompt", join_string(&prompt));
    if (system.n) {
        json_object_object_add(out, "system", join_string(&system));
    }
    if (json_object_array_length(images)) {
        json_object_object_add(out, "images", json_object_get(images));
    }
    json_object_put(images);
    ollama_common(canon, out);
    return out;
}

/* ------------------------------------------------------------------ */
/* Anthropic                                                           */
/* ------------------------------------------------------------------ */

/* A text block of @a text (shared). */
static json_object *text_block(json_object *text)
{
    json_object *b = json_object_new_object();

    json_object_object_add(b, "type", json_object_new_string("text"));
    json_object_object_add(b, "text", json_object_get(text));
    return b;
}

static json_object *image_block(apr_pool_t *p, json_object *url)
{
    json_object *b = json_object_new_object();
    json_object *src = json_object_new_object();
    const char *mt, *data;
    apr_size_t dlen;

    if (data_url(p, url, &mt, &data, &dlen)) {
        json_object_object_add(src, "type", json_object_new_string("base64"));
        json_object_object_add(src, "media_type", json_object_new_string(mt));
        json_object_object_add(src, "data", llm_json_strn(data, dlen));
    }
    else {
        json_object_object_add(src, "type", json_object_new_string("url"));
        json_object_object_add(src, "url", json_object_get(url));
    }
    json_object_object_add(b, "type", json_object_new_string("image"));
    json_object_object_add(b, "source", src);
    return b;
}

/* Content -> blocks appended to @a blocks; empty texts are left out
 * (Anthropic refuses empty text blocks). */
static int anthropic_blocks(apr_pool_t *p, json_object *content,
                            json_object *blocks, const char *param,
                            llm_error_t *err)
{
    size_t n;
    size_t i;

    if (llm_json_is(content, json_type_string)) {
        if (text_len(content)) {
            json_object_array_add(blocks, text_block(content));
        }
        return 0;
    }
    n = llm_json_is(content, json_type_array)
        ? json_object_array_length(content) : 0;
    for (i = 0; i < n; i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *type = str(part, "type");
        json_object *t = type ? get(part, type) : NULL;

        if (type && (!strcmp(type, "text") || !strcmp(type, "refusal"))) {
            if (text_len(t)) {
                json_object_array_add(blocks, text_block(t));
            }
        }
        else if (type && !strcmp(type, "image_url") && image_url_of(part)) {
            json_object_array_add(blocks, image_block(p, image_url_of(part)));
        }
        else {
            return unusable(p, err, param, "Content of type '%s' cannot be "
                            "sent to this model's provider.",
                            type ? type : "(none)");
        }
    }
    return 0;
}

static int anthropic_tool_uses(apr_pool_t *p, json_object *calls,
                               json_object *blocks, const char *param,
                               llm_error_t *err)
{
    size_t n = llm_json_is(calls, json_type_array)
               ? json_object_array_length(calls) : 0;
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *c = json_object_array_get_idx(calls, i);
        json_object *fn = get(c, "function");
        json_object *input = args_object(p, fn, param, err);
        json_object *b;

        if (!input) {
            return -1;
        }
        b = json_object_new_object();
        json_object_object_add(b, "type", json_object_new_string("tool_use"));
        share(b, "id", c, "id");
        share(b, "name", fn, "name");
        json_object_object_add(b, "input", input);
        json_object_array_add(blocks, b);
    }
    return 0;
}

static int anthropic_tool_result(apr_pool_t *p, json_object *m,
                                 json_object *blocks, const char *param,
                                 llm_error_t *err)
{
    json_object *text = flatten(p, get(m, "content"), "\n", NULL, param,
                                err);
    json_object *b;

    if (!text) {
        return -1;
    }
    b = json_object_new_object();
    json_object_object_add(b, "type", json_object_new_string("tool_result"));
    share(b, "tool_use_id", m, "tool_call_id");
    if (text_len(text)) {
        json_object_object_add(b, "content", json_object_get(text));
    }
    json_object_put(text);
    json_object_array_add(blocks, b);
    return 0;
}

typedef struct {
    apr_pool_t *p;
    join_t system;             /* the system messages' texts */
    json_object *msgs;
    llm_error_t *err;
} anth_out_t;

/* The blocks of canonical message @a m (role @a *role on Anthropic's
 * side), or NULL with the error set. */
static json_object *anthropic_message_blocks(anth_out_t *st, json_object *m,
                                             size_t i, const char **role)
{
    apr_pool_t *p = st->p;
    const char *param = msg_param(p, i);
    json_object *blocks = json_object_new_array();
    int rc;

    if (!strcmp(*role, "tool")) {
        *role = "user";
        rc = anthropic_tool_result(p, m, blocks, param, st->err);
    }
    else if (!strcmp(*role, "user") || !strcmp(*role, "assistant")) {
        rc = anthropic_blocks(p, get(m, "content"), blocks, param, st->err);
        if (rc == 0 && !strcmp(*role, "assistant")) {
            rc = anthropic_tool_uses(p, get(m, "tool_calls"), blocks, param,
                                     st->err);
        }
    }
    else {
        rc = unusable(p, st->err, param, "Messages of role '%s' cannot be "
                      "sent to this model's provider.", *role);
    }
    if (rc < 0) {
        json_object_put(blocks);
        return NULL;
    }
    return blocks;
}

/* Anthropic wants user and assistant in turn: a message of the role of
 * the one before joins it rather than sitting next to it. */
static void anthropic_append(anth_out_t *st, const char *role,
                             json_object *blocks)
{
    size_t n = json_object_array_length(st->msgs);
    json_object *last = n ? json_object_array_get_idx(st->msgs, n - 1)
                          : NULL;
    json_object *m;
    size_t i;

    if (last && !strcmp(str(last, "role"), role)) {
        json_object *to = get(last, "content");

        for (i = 0; i < json_object_array_length(blocks); i++) {
            json_object_array_add(to, json_object_get(
                                      json_object_array_get_idx(blocks, i)));
        }
        json_object_put(blocks);
        return;
    }
    m = json_object_new_object();
    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", blocks);
    json_object_array_add(st->msgs, m);
}

static int anthropic_one(anth_out_t *st, json_object *m, size_t i)
{
    const char *role = str(m, "role");
    json_object *blocks;

    if (!role) {
        return llm_xlate_fail(st->err, 400, "invalid_type",
                              msg_param(st->p, i), "A message has no role.");
    }
    if (!strcmp(role, "system") || !strcmp(role, "developer")) {
        json_object *text = flatten(st->p, get(m, "content"), "\n", NULL,
                                    msg_param(st->p, i), st->err);

        if (!text) {
            return -1;
        }
        if (text_len(text)) {
            join_text(&st->system, "\n\n", text);
        }
        json_object_put(text);
        return 0;
    }
    if (!(blocks = anthropic_message_blocks(st, m, i, &role))) {
        return -1;
    }
    if (json_object_array_length(blocks) == 0) {
        json_object_put(blocks);       /* an empty message: left out */
        return 0;
    }
    anthropic_append(st, role, blocks);
    return 0;
}

/* A message of one text block is written as a plain string. */
static void anthropic_simplify(json_object *msgs)
{
    size_t n = json_object_array_length(msgs);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(msgs, i);
        json_object *blocks = get(m, "content");
        json_object *b = json_object_array_get_idx(blocks, 0);

        if (json_object_array_length(blocks) == 1
            && !strcmp(str(b, "type"), "text")) {
            json_object_object_add(m, "content",
                                   json_object_get(get(b, "text")));
        }
    }
}

static int anthropic_tools(apr_pool_t *p, json_object *canon,
                           json_object *out, llm_error_t *err)
{
    json_object *tools = get(canon, "tools");
    json_object *list;
    size_t n = llm_json_is(tools, json_type_array)
               ? json_object_array_length(tools) : 0;
    size_t i;

    if (n == 0) {
        return 0;
    }
    list = json_object_new_array();
    json_object_object_add(out, "tools", list);
    for (i = 0; i < n; i++) {
        json_object *t = json_object_array_get_idx(tools, i);
        json_object *fn = get(t, "function");
        const char *type = str(t, "type");
        json_object *at;

        if (!type || strcmp(type, "function") || !str(fn, "name")) {
            return unusable(p, err, "tools", "Tools of type '%s' cannot be "
                            "used with this model's provider.",
                            type ? type : "(none)");
        }
        at = json_object_new_object();
        share(at, "name", fn, "name");
        share(at, "description", fn, "description");
        if (!share(at, "input_schema", fn, "parameters")) {
            json_object *schema = json_object_new_object();

            json_object_object_add(schema, "type",
                                   json_object_new_string("object"));
            json_object_object_add(at, "input_schema", schema);
        }
        json_object_array_add(list, at);
    }
    return 0;
}

static void anthropic_tool_choice(json_object *canon, json_object *out)
{
    json_object *tc = get(canon, "tool_choice");
    json_object *ptc = get(canon, "parallel_tool_calls");
    const char *s = llm_json_is(tc, json_type_string)
                    ? json_object_get_string(tc) : NULL;
    const char *name = str(get(tc, "function"), "name");
    json_object *choice;

    if (!get(out, "tools")) {
        return;
    }
    choice = json_object_new_object();
    if (name) {
        json_object_object_add(choice, "type", json_object_new_string("tool"));
        json_object_object_add(choice, "name", json_object_new_string(name));
    }
    else {
        json_object_object_add(choice, "type", json_object_new_string(
            !s ? "auto" : !strcmp(s, "required") ? "any"
                        : !strcmp(s, "none") ? "none" : "auto"));
    }
    if (llm_json_is(ptc, json_type_boolean) && !json_object_get_boolean(ptc)) {
        json_object_object_add(choice, "disable_parallel_tool_use",
                               json_object_new_boolean(1));
    }
    if (!tc && json_object_object_length(choice) == 1) {
        json_object_put(choice);         /* auto is Anthropic's default */
        return;
    }
    json_object_object_add(out, "tool_choice", choice);
}

/* Anthropic's temperature range is [0, 1], OpenAI's [0, 2]: a value out
 * of range is clamped (not scaled, so that 0.7 stays 0.7). */
static void anthropic_sampling(json_object *canon, json_object *out)
{
    json_object *t = get(canon, "temperature");
    json_object *stop = get(canon, "stop");

    if (llm_json_is(t, json_type_double) || llm_json_is(t, json_type_int)) {
        double d = json_object_get_double(t);

        json_object_object_add(out, "temperature",
                               d > 1.0 ? json_object_new_double(1.0)
                               : d < 0.0 ? json_object_new_double(0.0)
                                         : json_object_get(t));
    }
    share(out, "top_p", canon, "top_p");
    share(out, "top_k", canon, "top_k");
    if (llm_json_is(stop, json_type_string)) {
        json_object *list = json_object_new_array();

        json_object_array_add(list, json_object_get(stop));
        json_object_object_add(out, "stop_sequences", list);
    }
    else if (llm_json_is(stop, json_type_array)
             && json_object_array_length(stop)) {
        json_object_object_add(out, "stop_sequences", json_object_get(stop));
    }
}

/* Anthropic requires max_tokens, an integer >= 1. A client's value that
 * is not one (0, a negative or a fraction: an OpenAI or Ollama client
 * may send them) is dropped as the vLLM mapping drops it, and the
 * default stands in, as for a request without any. */
static int anthropic_max_tokens_of(json_object *canon, const char *key,
                                   json_object *out)
{
    json_object *v = get(canon, key);

    if (!llm_json_is(v, json_type_int) || json_object_get_int64(v) < 1) {
        return 0;
    }
    json_object_object_add(out, "max_tokens", json_object_get(v));
    return 1;
}

static void anthropic_max_tokens(json_object *canon, json_object *out)
{
    if (!anthropic_max_tokens_of(canon, "max_tokens", out)
        && !anthropic_max_tokens_of(canon, "max_completion_tokens", out)) {
        json_object_object_add(out, "max_tokens",
                               json_object_new_int(ANTHROPIC_MAX_TOKENS));
    }
}

static json_object *to_anthropic(apr_pool_t *p, json_object *canon,
                                 llm_error_t *err)
{
    json_object *msgs = get(canon, "messages");
    json_object *stream = get(canon, "stream");
    json_object *out;
    anth_out_t st;
    size_t n = llm_json_is(msgs, json_type_array)
               ? json_object_array_length(msgs) : 0;
    size_t i;

    if (no_choices(p, canon, err) < 0) {
        return NULL;
    }
    st.p = p;
    st.err = err;
    join_init(&st.system, p);
    st.msgs = json_object_new_array();
    for (i = 0; i < n; i++) {
        if (anthropic_one(&st, json_object_array_get_idx(msgs, i), i) < 0) {
            json_object_put(st.msgs);
            return NULL;
        }
    }
    anthropic_simplify(st.msgs);
    /* Anthropic refuses a request without a message: one whose messages
     * had no content at all (or a system prompt alone) is not one. */
    if (json_object_array_length(st.msgs) == 0) {
        json_object_put(st.msgs);
        unusable(p, err, "messages", "%s", "This model's provider needs a "
                 "message with content.");
        return NULL;
    }
    out = json_object_new_object();
    share(out, "model", canon, "model");
    if (st.system.n) {
        json_object_object_add(out, "system", join_string(&st.system));
    }
    json_object_object_add(out, "messages", st.msgs);
    anthropic_max_tokens(canon, out);
    anthropic_sampling(canon, out);
    if (anthropic_tools(p, canon, out, err) < 0) {
        json_object_put(out);
        return NULL;
    }
    anthropic_tool_choice(canon, out);
    json_object_object_add(out, "stream", json_object_new_boolean(
                               llm_json_is(stream, json_type_boolean)
                               && json_object_get_boolean(stream)));
    return out;
}

/* ------------------------------------------------------------------ */

json_object *llm_xlate_egress(apr_pool_t *p, llm_wire_e wire, llm_op_e op,
                              json_object *canon, llm_error_t *err)
{
    if (!llm_json_is(canon, json_type_object)) {
        llm_xlate_fail(err, 400, "invalid_json", NULL,
                       "The request body must be a JSON object.");
        return NULL;
    }
    if (op == LLM_OP_EMBEDDINGS) {
        return llm_xlate_embed_egress(p, wire, canon, err);
    }
    switch (wire) {
    case LLM_WIRE_OPENAI_CHAT:
    case LLM_WIRE_LMSTUDIO_CHAT:
        return to_openai_chat(canon);
    case LLM_WIRE_OPENAI_COMPLETION:
        return to_openai_completion(p, canon, err);
    case LLM_WIRE_OLLAMA_CHAT:
        return to_ollama_chat(p, canon, err);
    case LLM_WIRE_OLLAMA_GENERATE:
        return to_ollama_generate(p, canon, err);
    case LLM_WIRE_ANTHROPIC:
        return to_anthropic(p, canon, err);
    default:
        /* Responses requests only ever pass through unchanged. */
        llm_xlate_fail(err, 422, "unsupported_translation", NULL,
                       apr_psprintf(p, "A request cannot be translated to "
                                    "%s.", llm_wire_name(wire)));
        return NULL;
    }
}
