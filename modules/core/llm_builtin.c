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

#include "llm_builtin.h"
#include "llm_xlate.h"

#define get  llm_json_get
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

static json_object *chat_message(const char *role, const char *content)
{
    json_object *m = json_object_new_object();

    json_object_object_add(m, "role", json_object_new_string(role));
    json_object_object_add(m, "content", json_object_new_string(content));
    return m;
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
static json_object *new_request(apr_pool_t *p, llm_builtin_plan_t *plan,
                                json_object *body, json_object *msgs)
{
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
    llm_json_own(p, r);
    APR_ARRAY_PUSH(plan->requests, json_object *) = r;
    return r;
}

/* [system] + ... : the start of every message list. */
static json_object *messages_start(const llm_builtin_plan_t *plan)
{
    json_object *msgs = json_object_new_array();

    if (plan->system_prompt && *plan->system_prompt) {
        json_object_array_add(msgs, chat_message("system",
                                                 plan->system_prompt));
    }
    return msgs;
}

static void conversation(apr_pool_t *p, llm_builtin_plan_t *plan,
                         json_object *body)
{
    json_object *msgs = messages_start(plan);
    json_object *hist = get(body, "historical_messages");
    size_t n = hist ? json_object_array_length(hist) : 0;
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *turn = json_object_array_get_idx(hist, i);

        if (plan->kind == LLM_BUILTIN_EXTENDED_CONVERSATION) {
            if (str(turn, "role") && str(turn, "content")) {
                json_object_array_add(msgs, chat_message(
                    str(turn, "role"), str(turn, "content")));
            }
            continue;
        }
        if (str(turn, "user")) {
            json_object_array_add(msgs, chat_message("user",
                                                     str(turn, "user")));
        }
        if (str(turn, "assistant")) {
            json_object_array_add(msgs, chat_message(
                "assistant", str(turn, "assistant")));
        }
    }
    json_object_array_add(msgs, chat_message(
                                    "user", str(body, "user_last_statement")));
    new_request(p, plan, body, msgs);
}

static void one_call_per_text(apr_pool_t *p, llm_builtin_plan_t *plan,
                              json_object *body)
{
    json_object *texts = get(body, "texts");
    size_t n = json_object_array_length(texts);
    size_t i;

    for (i = 0; i < n; i++) {
        const char *text = json_object_get_string(
                               json_object_array_get_idx(texts, i));
        json_object *msgs = messages_start(plan);

        json_object_array_add(msgs, chat_message("user", text));
        new_request(p, plan, body, msgs);
        APR_ARRAY_PUSH(plan->inputs, const char *) = apr_pstrdup(p, text);
    }
}

static void single_call(apr_pool_t *p, llm_builtin_plan_t *plan,
                        json_object *body, const char *user)
{
    json_object *msgs = messages_start(plan);

    json_object_array_add(msgs, chat_message("user", user));
    new_request(p, plan, body, msgs);
}

/* create_full_article_from_texts: the non-empty texts, trimmed, one
 * paragraph each. */
static const char *joined_texts(apr_pool_t *p, json_object *texts)
{
    const char *out = "";
    size_t n = json_object_array_length(texts);
    size_t i;

    for (i = 0; i < n; i++) {
        const char *t = llm_str_trim(p, json_object_get_string(
                                       json_object_array_get_idx(texts, i)));

        if (*t) {
            out = *out ? apr_pstrcat(p, out, "\n\n", t, NULL) : t;
        }
    }
    return out;
}

static const char *passages(apr_pool_t *p, const char *out, json_object *list,
                            const char *doc)
{
    size_t n = json_object_array_length(list);
    size_t i;

    for (i = 0; i < n; i++) {
        const char *t = json_object_get_string(
                            json_object_array_get_idx(list, i));

        out = doc ? apr_pstrcat(p, out, "Document name: ", doc,
                                "\nDocument context: ", t, "\n\n", NULL)
                  : apr_pstrcat(p, out, t, "\n\n", NULL);
    }
    return out;
}

/* generative_answer: the passages, in order, a blank line apart; with a
 * map and doc_name_in_answer each says which document it is from. */
static const char *answer_context(apr_pool_t *p, json_object *body)
{
    json_object *texts = get(body, "texts");
    json_object *dn = get(body, "doc_name_in_answer");
    int names = dn && json_object_get_boolean(dn);
    const char *out = "";

    if (llm_json_is(texts, json_type_array)) {
        out = passages(p, out, texts, NULL);
    }
    else {
        json_object_object_foreach(texts, doc, list) {
            out = passages(p, out, list, names ? doc : NULL);
        }
    }
    return llm_str_trim(p, out);
}

/* The system prompt of @a plan: the file of its language, rendered. */
static int system_prompt(apr_pool_t *p, llm_builtin_plan_t *plan,
                         const builtin_t *b, json_object *body,
                         const llm_prompts_t *lib, const char *dflt,
                         llm_error_t *err)
{
    const char *asked = str(body, "language");
    const char *forced = plan->kind == LLM_BUILTIN_GENERATIVE_ANSWER
                         ? str(body, "system_prompt") : NULL;
    const char *map[3] = { NULL, NULL, NULL };
    const char *postfix = NULL;
    const char *tmpl;

    /* The plan outlives the body: what it keeps is copied. */
    plan->language = apr_pstrdup(p, asked ? asked : dflt);
    tmpl = forced ? forced
                  : llm_prompt_get(lib, apr_pstrcat(p, "builtin/system/",
                                                    plan->language, "/",
                                                    b->prompt, NULL));
    if (!tmpl) {
        const char *avail = llm_prompt_languages(p, lib, b->prompt);

        if (asked && *avail) {
            return llm_xlate_fail(err, 400, "unsupported_language",
                                  "language", apr_psprintf(p,
                                  "The language '%s' has no prompt for %s; "
                                  "available: %s.", asked, b->name, avail));
        }
        return llm_xlate_fail(err, 500, "prompt_missing", NULL,
                              apr_psprintf(p, "The prompt library has no "
                                           "builtin/system/%s/%s prompt "
                                           "(languages that have it: %s).",
                                           plan->language, b->prompt,
                                           *avail ? avail : "none"));
    }
    switch (plan->kind) {
    case LLM_BUILTIN_GENERATE_QUESTIONS: {
        json_object *nq = get(body, "number_of_questions");

        map[0] = "##QUESTION_NUM_STR##";
        map[1] = apr_psprintf(p, "%" APR_INT64_T_FMT " question(s)",
                              nq ? (apr_int64_t)json_object_get_int64(nq)
                                 : (apr_int64_t)1);
        break;
    }
    case LLM_BUILTIN_FULL_ARTICLE:
        map[0] = "##USER_Q_STR##";
        map[1] = str(body, "user_query");
        postfix = str(body, "article_type");
        break;
    case LLM_BUILTIN_GENERATIVE_ANSWER:
        map[0] = "##QUESTION_STR##";
        map[1] = str(body, "question_str");
        postfix = str(body, "question_prompt");
        break;
    default:
        break;
    }
    plan->system_prompt = llm_prompt_render(p, tmpl, map, postfix);
    return 0;
}

int llm_builtin_build(apr_pool_t *p, llm_builtin_e kind, json_object *body,
                      const llm_prompts_t *lib, const char *default_language,
                      llm_builtin_plan_t **out, llm_error_t *err)
{
    const builtin_t *b = builtin_of(kind);
    llm_builtin_plan_t *plan = apr_pcalloc(p, sizeof(*plan));

    if (llm_builtin_validate(p, kind, body, &plan->model_name, &plan->stream,
                             err) < 0) {
        return -1;
    }
    plan->kind = kind;
    plan->model_name = apr_pstrdup(p, plan->model_name);
    plan->requests = apr_array_make(p, 1, sizeof(json_object *));
    plan->inputs = apr_array_make(p, 1, sizeof(const char *));
    if (kind == LLM_BUILTIN_EXTENDED_CONVERSATION) {
        plan->system_prompt = apr_pstrdup(p, str(body, "system_prompt"));
    }
    else if (system_prompt(p, plan, b, body, lib, default_language
                           ? default_language : LLM_BUILTIN_DEFAULT_LANGUAGE,
                           err) < 0) {
        return -1;
    }
    switch (kind) {
    case LLM_BUILTIN_CONVERSATION:
    case LLM_BUILTIN_EXTENDED_CONVERSATION:
        conversation(p, plan, body);
        break;
    case LLM_BUILTIN_GENERATE_ARTICLE:
        single_call(p, plan, body, str(body, "text"));
        break;
    case LLM_BUILTIN_FULL_ARTICLE:
        single_call(p, plan, body, joined_texts(p, get(body, "texts")));
        break;
    case LLM_BUILTIN_GENERATIVE_ANSWER:
        single_call(p, plan, body, answer_context(p, body));
        break;
    default:
        one_call_per_text(p, plan, body);
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

/* "3. Why?" -> "Why?"; "1.5 million?" is left alone. */
static const char *strip_enumeration(apr_pool_t *p, const char *q)
{
    const char *c = q;

    while (apr_isdigit(*c)) {
        c++;
    }
    if (c > q && *c == '.' && (!c[1] || apr_isspace(c[1]))) {
        return llm_str_trim(p, c + 1);
    }
    return q;
}

apr_array_header_t *llm_builtin_parse_questions(apr_pool_t *p,
                                                const char *text)
{
    apr_array_header_t *qs = apr_array_make(p, 4, sizeof(const char *));
    const char *t = llm_str_trim(p, text ? text : "");
    const char *end = t + strlen(t);
    const char *start = t;
    const char *line;

    /* The questions are the last paragraph: what follows the last blank
     * line (the model may introduce them first). */
    for (line = t; line < end; ) {
        const char *nl = strchr(line, '\n');
        const char *next = nl ? nl + 1 : end;

        if (blank_line(line, end) && next < end) {
            start = next;
        }
        line = next;
    }
    for (line = start; line < end; ) {
        const char *nl = strchr(line, '\n');
        const char *next = nl ? nl + 1 : end;
        const char *q = llm_str_trim(p, apr_pstrmemdup(p, line,
                                                  (apr_size_t)((nl ? nl : end)
                                                               - line)));

        q = strip_enumeration(p, q);
        if (*q) {
            APR_ARRAY_PUSH(qs, const char *) = q;
        }
        line = next;
    }
    return qs;
}

static json_object *text_or_null(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

static json_object *questions_of(apr_pool_t *p, const char *answer)
{
    apr_array_header_t *qs = llm_builtin_parse_questions(p, answer);
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; i < qs->nelts; i++) {
        json_object_array_add(list, json_object_new_string(
                                  APR_ARRAY_IDX(qs, i, const char *)));
    }
    return list;
}

/* The list of a multi-call built-in: one entry per text. */
static json_object *multi_response(apr_pool_t *p,
                                   const llm_builtin_plan_t *plan,
                                   const char *const *answers, int n)
{
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; i < n; i++) {
        const char *in = i < plan->inputs->nelts
                         ? APR_ARRAY_IDX(plan->inputs, i, const char *) : "";
        json_object *item;

        if (plan->kind == LLM_BUILTIN_SIMPLIFY_TEXT) {
            json_object_array_add(list, text_or_null(answers[i]));
            continue;
        }
        item = json_object_new_object();
        if (plan->kind == LLM_BUILTIN_TRANSLATE) {
            json_object_object_add(item, "original",
                                   json_object_new_string(in));
            json_object_object_add(item, "translated",
                                   text_or_null(answers[i]));
        }
        else {
            json_object_object_add(item, "text", json_object_new_string(in));
            json_object_object_add(item, "questions",
                                   questions_of(p, answers[i]));
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
                                 const char *const *answers, int nanswers,
                                 double generation_time)
{
    json_object *out = json_object_new_object();
    json_object *resp;
    const char *first = nanswers > 0 ? answers[0] : NULL;
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
