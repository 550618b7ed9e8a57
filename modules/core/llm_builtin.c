/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The built-in endpoints of the original router: their fields, the
 * canonical chat requests they make, and the envelope of their answers.
 *
 * Where this differs from the original (spec defects-and-checklist.md):
 *  - a missing or mistyped field is a 400 naming it, not a 500;
 *  - translate, generate_questions and simplify_text work (one call per
 *    text) instead of failing;
 *  - a language without the endpoint's prompt is a 400 listing the
 *    languages that have it, not a 500, and any language directory of
 *    the prompt library counts (not only pl and en);
 *  - the system prompt is sent on streamed calls too;
 *  - extended_conversation_with_model puts the history before the new
 *    user statement, not after it;
 *  - typical_p and repetition_penalty are accepted and checked but not
 *    sent: the canonical request is OpenAI's, which has neither, and the
 *    original sent them only to servers that ignored them or refused
 *    them (vLLM's OpenAI server takes repetition_penalty, but OpenAI,
 *    Anthropic and Ollama's chat do not under that name);
 *  - a generate_questions answer ending in blank lines still gives its
 *    questions, and "1.5 million?" keeps its number (a leading "N." is
 *    only an enumeration when a space or the end follows it).
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include <json-c/json.h>

#include "llm_buf.h"
#include "llm_builtin.h"
#include "llm_xlate.h"

#define get  llm_json_get
/* A C string ends at the first NUL, which a JSON string may hold: str()
 * reads only names, roles and languages (refused at the door with a
 * NUL). The texts are shared by reference or joined with their lengths
 * (span_t, llm_buf). */
#define str(o, key)  llm_json_str(o, key, NULL)

typedef enum {
    F_STR = 0,
    F_INT,
    F_NUM,
    F_BOOL,
    F_STR_LIST,      /* a non-empty array of strings */
    F_HISTORY,       /* an array of objects of strings */
    F_TEXTS_MAP,     /* an array of strings, or an object of such arrays */
    F_ANY
} ftype_e;

typedef struct {
    const char *name;
    ftype_e type;
    int required;
    double min;      /* F_INT / F_NUM: smallest value allowed */
    double max;      /* F_INT / F_NUM: largest value allowed (0: none) */
} field_t;

#define END { NULL, F_ANY, 0, 0, 0 }

static const field_t common_fields[] = {
    { "temperature", F_NUM, 0, 0, 0 },
    { "max_new_tokens", F_INT, 0, 1, 0 },
    { "top_k", F_INT, 0, -1, 0 },
    { "top_p", F_NUM, 0, 0, 1 },
    { "typical_p", F_NUM, 0, 0, 1 },
    { "repetition_penalty", F_NUM, 0, 0, 0 },
    { "language", F_STR, 0, 0, 0 },
    { "stream", F_BOOL, 0, 0, 0 },
    { "mask_payload", F_BOOL, 0, 0, 0 },
    { "anonymize", F_BOOL, 0, 0, 0 },
    END
};

static const field_t conversation_fields[] = {
    { "user_last_statement", F_STR, 1, 0, 0 },
    { "historical_messages", F_HISTORY, 0, 0, 0 },
    END
};

static const field_t extended_fields[] = {
    { "user_last_statement", F_STR, 1, 0, 0 },
    { "system_prompt", F_STR, 1, 0, 0 },
    { "historical_messages", F_HISTORY, 0, 0, 0 },
    END
};

static const field_t questions_fields[] = {
    { "texts", F_STR_LIST, 1, 0, 0 },
    { "number_of_questions", F_INT, 0, 1, 0 },
    END
};

static const field_t texts_fields[] = {
    { "texts", F_STR_LIST, 1, 0, 0 },
    END
};

static const field_t article_fields[] = {
    { "text", F_STR, 1, 0, 0 },
    END
};

static const field_t full_article_fields[] = {
    { "user_query", F_STR, 1, 0, 0 },
    { "texts", F_STR_LIST, 1, 0, 0 },
    { "article_type", F_STR, 0, 0, 0 },
    END
};

static const field_t answer_fields[] = {
    { "question_str", F_STR, 1, 0, 0 },
    { "texts", F_TEXTS_MAP, 1, 0, 0 },
    { "doc_name_in_answer", F_BOOL, 0, 0, 0 },
    { "question_prompt", F_STR, 0, 0, 0 },
    { "system_prompt", F_STR, 0, 0, 0 },
    END
};

typedef struct {
    const char *name;          /* route */
    const char *prompt;        /* prompt file name, NULL for none */
    const field_t *fields;
    int multi;                 /* one call per text */
} builtin_t;

static const builtin_t builtins[LLM_BUILTIN__COUNT] = {
    [LLM_BUILTIN_CONVERSATION] = { "conversation_with_model",
        "chat-conversation-simple", conversation_fields, 0 },
    [LLM_BUILTIN_EXTENDED_CONVERSATION] = {
        "extended_conversation_with_model", NULL, extended_fields, 0 },
    [LLM_BUILTIN_GENERATE_QUESTIONS] = { "generate_questions",
        "generate-questions", questions_fields, 1 },
    [LLM_BUILTIN_TRANSLATE] = { "translate", "translate-to-pl",
        texts_fields, 1 },
    [LLM_BUILTIN_SIMPLIFY_TEXT] = { "simplify_text", "simplify-text",
        texts_fields, 1 },
    [LLM_BUILTIN_GENERATE_ARTICLE] = { "generate_article_from_text",
        "news-on-sm", article_fields, 0 },
    [LLM_BUILTIN_FULL_ARTICLE] = { "create_full_article_from_texts",
        "full-article", full_article_fields, 0 },
    [LLM_BUILTIN_GENERATIVE_ANSWER] = { "generative_answer",
        "answer-from-context-simple", answer_fields, 0 },
};

static const builtin_t *builtin_of(llm_builtin_e kind)
{
    return (int)kind > 0 && kind < LLM_BUILTIN__COUNT ? &builtins[kind]
                                                      : NULL;
}

const char *llm_builtin_name(llm_builtin_e kind)
{
    const builtin_t *b = builtin_of(kind);

    return b ? b->name : NULL;
}

int llm_builtin_is_multi(llm_builtin_e kind)
{
    const builtin_t *b = builtin_of(kind);

    return b && b->multi;
}

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

static int missing(apr_pool_t *p, const char *field, llm_error_t *err)
{
    return llm_xlate_fail(err, 400, "missing_required_parameter", field,
                          apr_psprintf(p, "Missing required parameter: "
                                       "'%s'.", field));
}

static int invalid(apr_pool_t *p, const char *field, const char *what,
                   llm_error_t *err)
{
    return llm_xlate_fail(err, 400, "invalid_type", field,
                          apr_psprintf(p, "Invalid type for '%s': expected "
                                       "%s.", field, what));
}

static int out_of_range(apr_pool_t *p, const char *field, const char *what,
                        llm_error_t *err)
{
    return llm_xlate_fail(err, 400, "invalid_value", field,
                          apr_psprintf(p, "Invalid value for '%s': %s.",
                                       field, what));
}

static int check_str_list(apr_pool_t *p, const char *name, json_object *v,
                          llm_error_t *err)
{
    size_t n;
    size_t i;

    if (!llm_json_is(v, json_type_array)) {
        return invalid(p, name, "an array of strings", err);
    }
    n = json_object_array_length(v);
    if (n == 0) {
        return out_of_range(p, name, "at least one text is needed", err);
    }
    for (i = 0; i < n; i++) {
        if (!llm_json_is(json_object_array_get_idx(v, i), json_type_string)) {
            return invalid(p, apr_psprintf(p, "%s[%" APR_SIZE_T_FMT "]",
                                           name, (apr_size_t)i),
                           "a string", err);
        }
    }
    return 0;
}

static int check_history(apr_pool_t *p, const char *name, json_object *v,
                         llm_error_t *err)
{
    size_t n;
    size_t i;

    if (!llm_json_is(v, json_type_array)) {
        return invalid(p, name, "an array of objects", err);
    }
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(v, i);
        const char *at = apr_psprintf(p, "%s[%" APR_SIZE_T_FMT "]", name,
                                      (apr_size_t)i);

        if (!llm_json_is(item, json_type_object)) {
            return invalid(p, at, "an object of strings", err);
        }
        json_object_object_foreach(item, k, val) {
            if (!llm_json_is(val, json_type_string)) {
                return invalid(p, apr_pstrcat(p, at, ".", k, NULL),
                               "a string", err);
            }
        }
    }
    return 0;
}

static int check_texts_map(apr_pool_t *p, const char *name, json_object *v,
                           llm_error_t *err)
{
    if (llm_json_is(v, json_type_array)) {
        return check_str_list(p, name, v, err);
    }
    if (!llm_json_is(v, json_type_object)) {
        return invalid(p, name, "an array of strings, or an object of "
                       "document name -> array of strings", err);
    }
    if (json_object_object_length(v) == 0) {
        return out_of_range(p, name, "at least one text is needed", err);
    }
    json_object_object_foreach(v, doc, list) {
        if (check_str_list(p, apr_pstrcat(p, name, ".", doc, NULL), list,
                           err) < 0) {
            return -1;
        }
    }
    return 0;
}

static int check_number(apr_pool_t *p, const field_t *f, json_object *v,
                        llm_error_t *err)
{
    double d;

    if (f->type == F_INT && !llm_json_is(v, json_type_int)) {
        return invalid(p, f->name, "an integer", err);
    }
    if (!llm_json_is(v, json_type_int) && !llm_json_is(v, json_type_double)) {
        return invalid(p, f->name, "a number", err);
    }
    d = json_object_get_double(v);
    if (d < f->min || (f->max > 0 && d > f->max)) {
        return out_of_range(p, f->name,
                            f->max > 0 ? apr_psprintf(p, "between %g and %g",
                                                      f->min, f->max)
                                       : apr_psprintf(p, "at least %g",
                                                      f->min), err);
    }
    return 0;
}

static int check_field(apr_pool_t *p, const field_t *f, json_object *body,
                       llm_error_t *err)
{
    json_object *v = get(body, f->name);

    if (!v) {
        return f->required ? missing(p, f->name, err) : 0;
    }
    switch (f->type) {
    case F_STR:
        return llm_json_is(v, json_type_string) ? 0
               : invalid(p, f->name, "a string", err);
    case F_BOOL:
        return llm_json_is(v, json_type_boolean) ? 0
               : invalid(p, f->name, "a boolean", err);
    case F_INT:
    case F_NUM:
        return check_number(p, f, v, err);
    case F_STR_LIST:
        return check_str_list(p, f->name, v, err);
    case F_HISTORY:
        return check_history(p, f->name, v, err);
    case F_TEXTS_MAP:
        return check_texts_map(p, f->name, v, err);
    default:
        return 0;
    }
}

static int check_fields(apr_pool_t *p, const field_t *f, json_object *body,
                        llm_error_t *err)
{
    for (; f->name; f++) {
        if (check_field(p, f, body, err) < 0) {
            return -1;
        }
    }
    return 0;
}

/* A language names a directory of the prompt library: one segment.
 * NULL: not a name (not a string, or one with a NUL). */
static int check_language(apr_pool_t *p, const char *lang, llm_error_t *err)
{
    const char *c = lang ? lang : "";

    while (apr_isalnum(*c) || *c == '-' || *c == '_') {
        c++;
    }
    if (!lang || !*lang || *c || c - lang > 32) {
        return out_of_range(p, "language", "a language code such as \"en\" "
                            "(letters, digits, '-' and '_')", err);
    }
    return 0;
}

int llm_builtin_validate(apr_pool_t *p, llm_builtin_e kind, json_object *body,
                         const char **model_name, int *stream,
                         llm_error_t *err)
{
    const builtin_t *b = builtin_of(kind);
    json_object *v = get(body, "model_name");
    const char *param = "model_name";

    if (!b || !llm_json_is(body, json_type_object)) {
        return llm_xlate_fail(err, 400, "invalid_json", NULL,
                              "The request body must be a JSON object.");
    }
    if (!v && (v = get(body, "model"))) {
        param = "model";
    }
    if (!v) {
        return missing(p, "model_name", err);
    }
    if (!llm_json_is(v, json_type_string) || !json_object_get_string_len(v)) {
        return invalid(p, param, "a non-empty string", err);
    }
    if (!llm_json_name(v)) {
        return llm_xlate_fail(err, 400, "invalid_value", param,
                              apr_psprintf(p, "Invalid value for '%s': it "
                                           "contains NUL.", param));
    }
    if (check_fields(p, common_fields, body, err) < 0
        || check_fields(p, b->fields, body, err) < 0
        || (get(body, "language")
            && check_language(p, llm_json_name(get(body, "language")),
                              err) < 0)) {
        return -1;
    }
    *model_name = json_object_get_string(v);
    v = get(body, "stream");
    *stream = v && json_object_get_boolean(v);
    if (*stream && b->multi) {
        return llm_xlate_fail(err, 400, "invalid_value", "stream",
                              apr_psprintf(p, "Streaming is available only "
                                           "for single-call endpoints; %s "
                                           "makes one call per text.",
                                           b->name));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The requests                                                        */
/* ------------------------------------------------------------------ */

/* A text and its length: what a client sent may hold NUL, at which a C
 * string would end. */
typedef struct {
    const char *s;
    apr_size_t len;
} span_t;

static span_t span_of(json_object *v)
{
    span_t t = { "", 0 };

    if (llm_json_is(v, json_type_string)) {
        t.s = json_object_get_string(v);
        t.len = (apr_size_t)json_object_get_string_len(v);
    }
    return t;
}

static span_t span_str(const char *s)
{
    span_t t = { s ? s : "", s ? strlen(s) : 0 };

    return t;
}

static span_t span_trim(span_t t)
{
    while (t.len && apr_isspace(*t.s)) {
        t.s++;
        t.len--;
    }
    while (t.len && apr_isspace(t.s[t.len - 1])) {
        t.len--;
    }
    return t;
}

static span_t span_buf(const llm_buf_t *b)
{
    span_t t = { b->data ? b->data : "", b->len };

    return t;
}

/* What one built-in's requests are made of. */
typedef struct {
    apr_pool_t *p;
    llm_builtin_plan_t *plan;
    json_object *body;
    json_object *system;        /* the system prompt (a string), or NULL */
} build_t;

/* A message of @a content (taken). */
static json_object *chat_message(const char *role, json_object *content)
{
    json_object *m = json_object_new_object();

    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", content);
    return m;
}

/* The client's text @a v (a string), shared: whole, NUL and all. */
static json_object *text_of(json_object *v)
{
    return llm_json_is(v, json_type_string) ? json_object_get(v)
                                            : json_object_new_string("");
}

/* A field of the client's, else the original's default. */
static void gen_field(json_object *out, const char *key, json_object *body,
                      const char *from, json_object *dflt)
{
    json_object *v = get(body, from);

    if (v) {
        json_object_put(dflt);
        json_object_object_add(out, key, json_object_get(v));
    }
    else {
        json_object_object_add(out, key, dflt);
    }
}

/* One canonical request with @a msgs (taken), registered for cleanup. */
static json_object *new_request(build_t *bd, json_object *msgs)
{
    llm_builtin_plan_t *plan = bd->plan;
    json_object *body = bd->body;
    json_object *r = json_object_new_object();

    json_object_object_add(r, "model",
                           json_object_new_string(plan->model_name));
    json_object_object_add(r, "messages", msgs);
    json_object_object_add(r, "stream", json_object_new_boolean(plan->stream));
    gen_field(r, "temperature", body, "temperature",
              json_object_new_double_s(0.75, LLM_BUILTIN_TEMPERATURE));
    gen_field(r, "max_tokens", body, "max_new_tokens",
              json_object_new_int(LLM_BUILTIN_MAX_TOKENS));
    gen_field(r, "top_k", body, "top_k",
              json_object_new_int(LLM_BUILTIN_TOP_K));
    gen_field(r, "top_p", body, "top_p",
              json_object_new_double_s(0.99, LLM_BUILTIN_TOP_P));
    llm_json_own(bd->p, r);
    APR_ARRAY_PUSH(plan->requests, json_object *) = r;
    return r;
}

/* [system] + ... : the start of every message list. */
static json_object *messages_start(const build_t *bd)
{
    json_object *msgs = json_object_new_array();

    if (span_of(bd->system).len) {
        json_object_array_add(msgs, chat_message("system",
                                                 json_object_get(bd->system)));
    }
    return msgs;
}

static void conversation(build_t *bd)
{
    json_object *msgs = messages_start(bd);
    json_object *hist = get(bd->body, "historical_messages");
    size_t n = hist ? json_object_array_length(hist) : 0;
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *turn = json_object_array_get_idx(hist, i);

        if (bd->plan->kind == LLM_BUILTIN_EXTENDED_CONVERSATION) {
            if (str(turn, "role") && get(turn, "content")) {
                json_object_array_add(msgs, chat_message(
                    str(turn, "role"), text_of(get(turn, "content"))));
            }
            continue;
        }
        if (get(turn, "user")) {
            json_object_array_add(msgs, chat_message(
                "user", text_of(get(turn, "user"))));
        }
        if (get(turn, "assistant")) {
            json_object_array_add(msgs, chat_message(
                "assistant", text_of(get(turn, "assistant"))));
        }
    }
    json_object_array_add(msgs, chat_message(
        "user", text_of(get(bd->body, "user_last_statement"))));
    new_request(bd, msgs);
}

static void one_call_per_text(build_t *bd)
{
    json_object *texts = get(bd->body, "texts");
    size_t n = json_object_array_length(texts);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *text = json_object_array_get_idx(texts, i);
        span_t t = span_of(text);
        json_object *msgs = messages_start(bd);

        json_object_array_add(msgs, chat_message("user", text_of(text)));
        new_request(bd, msgs);
        APR_ARRAY_PUSH(bd->plan->inputs, const char *) =
            apr_pstrmemdup(bd->p, t.s, t.len);
    }
}

/* The one request of a single-call built-in, for @a user (taken). */
static void single_call(build_t *bd, json_object *user)
{
    json_object *msgs = messages_start(bd);

    json_object_array_add(msgs, chat_message("user", user));
    new_request(bd, msgs);
}

/* create_full_article_from_texts: the non-empty texts, trimmed, one
 * paragraph each. */
static json_object *joined_texts(apr_pool_t *p, json_object *texts)
{
    llm_buf_t out;
    size_t n = json_object_array_length(texts);
    size_t i;

    llm_buf_init(&out, p);
    for (i = 0; i < n; i++) {
        span_t t = span_trim(span_of(json_object_array_get_idx(texts, i)));

        if (t.len) {
            if (out.len) {
                llm_buf_add(&out, "\n\n", 2);
            }
            llm_buf_add(&out, t.s, t.len);
        }
    }
    return llm_json_strn(out.data, out.len);
}

static void passages(llm_buf_t *out, json_object *list, const char *doc)
{
    size_t n = json_object_array_length(list);
    size_t i;

    for (i = 0; i < n; i++) {
        span_t t = span_of(json_object_array_get_idx(list, i));

        if (doc) {
            llm_buf_add(out, "Document name: ", 15);
            llm_buf_add(out, doc, strlen(doc));
            llm_buf_add(out, "\nDocument context: ", 19);
        }
        llm_buf_add(out, t.s, t.len);
        llm_buf_add(out, "\n\n", 2);
    }
}

/* generative_answer: the passages, in order, a blank line apart; with a
 * map and doc_name_in_answer each says which document it is from. */
static json_object *answer_context(apr_pool_t *p, json_object *body)
{
    json_object *texts = get(body, "texts");
    json_object *dn = get(body, "doc_name_in_answer");
    int names = dn && json_object_get_boolean(dn);
    llm_buf_t out;
    span_t t;

    llm_buf_init(&out, p);
    if (llm_json_is(texts, json_type_array)) {
        passages(&out, texts, NULL);
    }
    else {
        json_object_object_foreach(texts, doc, list) {
            passages(&out, list, names ? doc : NULL);
        }
    }
    t = span_trim(span_buf(&out));
    return llm_json_strn(t.s, t.len);
}

/* The first @a what (of @a n bytes) in [@a s, @a end), or NULL. */
static const char *find(const char *s, const char *end, const char *what,
                        apr_size_t n)
{
    for (; (apr_size_t)(end - s) >= n; s++) {
        if (!(s = memchr(s, *what, (apr_size_t)(end - s) - n + 1))) {
            return NULL;
        }
        if (!memcmp(s, what, n)) {
            return s;
        }
    }
    return NULL;
}

/* Every @a from in @a in replaced by @a to, as plain text. */
static span_t replace_all(apr_pool_t *p, span_t in, const char *from,
                          span_t to)
{
    apr_size_t flen = strlen(from);
    const char *s = in.s;
    const char *end = in.s + in.len;
    const char *hit;
    llm_buf_t out;

    if (!flen || !(hit = find(s, end, from, flen))) {
        return in;
    }
    llm_buf_init(&out, p);
    do {
        llm_buf_add(&out, s, (apr_size_t)(hit - s));
        llm_buf_add(&out, to.s, to.len);
        s = hit + flen;
    } while ((hit = find(s, end, from, flen)));
    llm_buf_add(&out, s, (apr_size_t)(end - s));
    return span_buf(&out);
}

/* llm_prompt_render() with the lengths of what the client sent (the
 * forced prompt, the placeholder's value, the postfix): @a from (may be
 * NULL) replaced by @a to, then @a postfix after one blank line, then
 * the whole trimmed. */
static span_t render(apr_pool_t *p, span_t tmpl, const char *from,
                     span_t to, span_t postfix)
{
    span_t s = from ? replace_all(p, tmpl, from, to) : tmpl;
    llm_buf_t out;

    if (!postfix.len) {
        return span_trim(s);
    }
    s = span_trim(s);
    llm_buf_init(&out, p);
    llm_buf_reserve(&out, s.len + 2 + postfix.len);
    llm_buf_add(&out, s.s, s.len);
    llm_buf_add(&out, "\n\n", 2);
    llm_buf_add(&out, postfix.s, postfix.len);
    return span_trim(span_buf(&out));
}

/* The template of @a bd's system prompt: the forced one, else the file
 * of its language; -1 with @a err set when there is none. */
static int prompt_template(build_t *bd, const builtin_t *b,
                           const llm_prompts_t *lib, const char *dflt,
                           span_t *tmpl, llm_error_t *err)
{
    apr_pool_t *p = bd->p;
    llm_builtin_plan_t *plan = bd->plan;
    const char *asked = str(bd->body, "language");
    json_object *forced = plan->kind == LLM_BUILTIN_GENERATIVE_ANSWER
                          ? get(bd->body, "system_prompt") : NULL;
    const char *file, *avail;

    /* The plan outlives the body: what it keeps is copied. */
    plan->language = apr_pstrdup(p, asked ? asked : dflt);
    if (forced) {
        *tmpl = span_of(forced);
        return 0;
    }
    file = llm_prompt_get(lib, apr_pstrcat(p, "builtin/system/",
                                           plan->language, "/", b->prompt,
                                           NULL));
    if (file) {
        *tmpl = span_str(file);
        return 0;
    }
    avail = llm_prompt_languages(p, lib, b->prompt);
    if (asked && *avail) {
        return llm_xlate_fail(err, 400, "unsupported_language", "language",
                              apr_psprintf(p, "The language '%s' has no "
                                           "prompt for %s; available: %s.",
                                           asked, b->name, avail));
    }
    return llm_xlate_fail(err, 500, "prompt_missing", NULL,
                          apr_psprintf(p, "The prompt library has no "
                                       "builtin/system/%s/%s prompt "
                                       "(languages that have it: %s).",
                                       plan->language, b->prompt,
                                       *avail ? avail : "none"));
}

/* The system prompt of @a bd: its template, rendered. */
static int system_prompt(build_t *bd, const builtin_t *b,
                         const llm_prompts_t *lib, const char *dflt,
                         llm_error_t *err)
{
    json_object *body = bd->body;
    const char *from = NULL;
    span_t tmpl, to = { "", 0 }, postfix = { "", 0 };

    if (prompt_template(bd, b, lib, dflt, &tmpl, err) < 0) {
        return -1;
    }
    switch (bd->plan->kind) {
    case LLM_BUILTIN_GENERATE_QUESTIONS: {
        json_object *nq = get(body, "number_of_questions");

        from = "##QUESTION_NUM_STR##";
        to = span_str(apr_psprintf(bd->p, "%" APR_INT64_T_FMT " question(s)",
                                   nq ? (apr_int64_t)json_object_get_int64(nq)
                                      : (apr_int64_t)1));
        break;
    }
    case LLM_BUILTIN_FULL_ARTICLE:
        from = "##USER_Q_STR##";
        to = span_of(get(body, "user_query"));
        postfix = span_of(get(body, "article_type"));
        break;
    case LLM_BUILTIN_GENERATIVE_ANSWER:
        from = "##QUESTION_STR##";
        to = span_of(get(body, "question_str"));
        postfix = span_of(get(body, "question_prompt"));
        break;
    default:
        break;
    }
    tmpl = render(bd->p, tmpl, from, to, postfix);
    bd->system = llm_json_strn(tmpl.s, tmpl.len);
    return 0;
}

/* The system prompt of @a bd: extended_conversation's own, else the
 * prompt file's. The plan's C string reads it only up to a NUL: the
 * requests carry it whole, and it lives as long as the pool. */
static int plan_system(build_t *bd, const builtin_t *b,
                       const llm_prompts_t *lib, const char *dflt,
                       llm_error_t *err)
{
    if (bd->plan->kind == LLM_BUILTIN_EXTENDED_CONVERSATION) {
        bd->system = json_object_get(get(bd->body, "system_prompt"));
    }
    else if (system_prompt(bd, b, lib, dflt, err) < 0) {
        return -1;
    }
    llm_json_own(bd->p, bd->system);
    bd->plan->system_prompt = bd->system
                              ? json_object_get_string(bd->system) : NULL;
    return 0;
}

int llm_builtin_build(apr_pool_t *p, llm_builtin_e kind, json_object *body,
                      const llm_prompts_t *lib, const char *default_language,
                      llm_builtin_plan_t **out, llm_error_t *err)
{
    const builtin_t *b = builtin_of(kind);
    llm_builtin_plan_t *plan = apr_pcalloc(p, sizeof(*plan));
    build_t bd = { p, plan, body, NULL };

    if (llm_builtin_validate(p, kind, body, &plan->model_name, &plan->stream,
                             err) < 0) {
        return -1;
    }
    plan->kind = kind;
    plan->model_name = apr_pstrdup(p, plan->model_name);
    plan->requests = apr_array_make(p, 1, sizeof(json_object *));
    plan->inputs = apr_array_make(p, 1, sizeof(const char *));
    if (plan_system(&bd, b, lib, default_language
                    ? default_language : LLM_BUILTIN_DEFAULT_LANGUAGE,
                    err) < 0) {
        return -1;
    }
    switch (kind) {
    case LLM_BUILTIN_CONVERSATION:
    case LLM_BUILTIN_EXTENDED_CONVERSATION:
        conversation(&bd);
        break;
    case LLM_BUILTIN_GENERATE_ARTICLE:
        single_call(&bd, text_of(get(body, "text")));
        break;
    case LLM_BUILTIN_FULL_ARTICLE:
        single_call(&bd, joined_texts(p, get(body, "texts")));
        break;
    case LLM_BUILTIN_GENERATIVE_ANSWER:
        single_call(&bd, answer_context(p, body));
        break;
    default:
        one_call_per_text(&bd);
        break;
    }
    *out = plan;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The answers                                                         */
/* ------------------------------------------------------------------ */

/* A blank line: nothing but white space up to its end. */
static int blank_line(const char *s, const char *end)
{
    for (; s < end && *s != '\n'; s++) {
        if (!apr_isspace(*s)) {
            return 0;
        }
    }
    return 1;
}

/* [*s, *end) without the white space around it. */
static void trim(const char **s, const char **end)
{
    while (*s < *end && apr_isspace(**s)) {
        (*s)++;
    }
    while (*end > *s && apr_isspace((*end)[-1])) {
        (*end)--;
    }
}

/* "3. Why?" -> "Why?"; "1.5 million?" is left alone. */
static void strip_enumeration(const char **q, const char **end)
{
    const char *c = *q;

    while (c < *end && apr_isdigit(*c)) {
        c++;
    }
    if (c > *q && c < *end && *c == '.'
        && (c + 1 == *end || apr_isspace(c[1]))) {
        *q = c + 1;
        trim(q, end);
    }
}

static const char *line_end(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (apr_size_t)(end - s));

    return nl ? nl : end;
}

apr_array_header_t *llm_builtin_parse_questions(apr_pool_t *p,
                                                const char *text,
                                                apr_size_t len)
{
    apr_array_header_t *qs = apr_array_make(p, 4,
                                            sizeof(llm_builtin_text_t));
    const char *t = text ? text : "";
    const char *end = t + (text ? len : 0);
    const char *start;
    const char *line;

    trim(&t, &end);
    start = t;
    /* The questions are the last paragraph: what follows the last blank
     * line (the model may introduce them first). */
    for (line = t; line < end; ) {
        const char *nl = line_end(line, end);
        const char *next = nl < end ? nl + 1 : end;

        if (blank_line(line, end) && next < end) {
            start = next;
        }
        line = next;
    }
    for (line = start; line < end; ) {
        const char *nl = line_end(line, end);
        const char *next = nl < end ? nl + 1 : end;
        const char *q = line;
        const char *qend = nl;

        trim(&q, &qend);
        strip_enumeration(&q, &qend);
        if (qend > q) {
            llm_builtin_text_t *out = apr_array_push(qs);

            out->len = (apr_size_t)(qend - q);
            out->text = apr_pstrmemdup(p, q, out->len);
        }
        line = next;
    }
    return qs;
}

static json_object *text_or_null(const llm_builtin_text_t *t)
{
    return t->text ? json_object_new_string_len(t->text, (int)t->len)
                   : NULL;
}

static json_object *questions_of(apr_pool_t *p, const llm_builtin_text_t *a)
{
    apr_array_header_t *qs = llm_builtin_parse_questions(p, a->text, a->len);
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; i < qs->nelts; i++) {
        json_object_array_add(list, text_or_null(
            &APR_ARRAY_IDX(qs, i, llm_builtin_text_t)));
    }
    return list;
}

/* The text the @a i-th request of a multi-call plan was made for (its
 * last message's, shared: plan->inputs would end at a NUL), or "". */
static json_object *input_of(const llm_builtin_plan_t *plan, int i)
{
    json_object *msgs = i < plan->requests->nelts
                        ? get(APR_ARRAY_IDX(plan->requests, i, json_object *),
                              "messages") : NULL;
    size_t n = llm_json_is(msgs, json_type_array)
               ? json_object_array_length(msgs) : 0;

    return text_of(n ? get(json_object_array_get_idx(msgs, n - 1), "content")
                     : NULL);
}

/* The list of a multi-call built-in: one entry per text. */
static json_object *multi_response(apr_pool_t *p,
                                   const llm_builtin_plan_t *plan,
                                   const llm_builtin_text_t *answers, int n)
{
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; i < n; i++) {
        json_object *item;

        if (plan->kind == LLM_BUILTIN_SIMPLIFY_TEXT) {
            json_object_array_add(list, text_or_null(&answers[i]));
            continue;
        }
        item = json_object_new_object();
        if (plan->kind == LLM_BUILTIN_TRANSLATE) {
            json_object_object_add(item, "original", input_of(plan, i));
            json_object_object_add(item, "translated",
                                   text_or_null(&answers[i]));
        }
        else {
            json_object_object_add(item, "text", input_of(plan, i));
            json_object_object_add(item, "questions",
                                   questions_of(p, &answers[i]));
        }
        json_object_array_add(list, item);
    }
    return list;
}

/* Seconds, to the microsecond, without trailing zeros ("0.0078"). */
static json_object *seconds(apr_pool_t *p, double s)
{
    char *txt = apr_psprintf(p, "%.6f", s < 0 ? 0.0 : s);
    apr_size_t n = strlen(txt);

    while (n > 2 && txt[n - 1] == '0' && txt[n - 2] != '.') {
        txt[--n] = '\0';
    }
    return json_object_new_double_s(s, txt);
}

const char *llm_builtin_response(apr_pool_t *p,
                                 const llm_builtin_plan_t *plan,
                                 const llm_builtin_text_t *answers,
                                 int nanswers, double generation_time)
{
    static const llm_builtin_text_t none = { NULL, 0 };
    json_object *out = json_object_new_object();
    json_object *resp;
    const llm_builtin_text_t *first = nanswers > 0 ? &answers[0] : &none;
    const char *text;

    switch (plan->kind) {
    case LLM_BUILTIN_GENERATE_QUESTIONS:
    case LLM_BUILTIN_TRANSLATE:
    case LLM_BUILTIN_SIMPLIFY_TEXT:
        resp = multi_response(p, plan, answers, nanswers);
        break;
    case LLM_BUILTIN_GENERATE_ARTICLE:
    case LLM_BUILTIN_FULL_ARTICLE:
        resp = json_object_new_object();
        json_object_object_add(resp, "article_text", text_or_null(first));
        break;
    default:
        resp = text_or_null(first);
        break;
    }
    json_object_object_add(out, "response", resp);
    json_object_object_add(out, "generation_time",
                           seconds(p, generation_time));
    text = apr_pstrcat(p, llm_xlate_json_text(p, out), "\n", NULL);
    json_object_put(out);
    return text;
}
