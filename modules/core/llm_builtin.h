/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_builtin.h
 * @brief The original router's built-in endpoints (conversation_with_model,
 *        translate, generative_answer, ...): the prompt library, the
 *        upstream requests each one makes, and the envelope of its answer.
 *
 * A built-in turns its body into one or more canonical requests (OpenAI
 * chat, see llm_xlate.h) with a system prompt from the prompt library;
 * the router sends them like any other chat request, collects the answer
 * text of each, and llm_builtin_response() wraps the texts.
 *
 * APR and json-c only: no httpd (unit-tested in t/unit/test_builtin.c).
 */

#ifndef LLM_BUILTIN_H
#define LLM_BUILTIN_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "mod_llm.h"
#include "llm_request.h"

struct json_object;

/* ------------------------------------------------------------------ */
/* The prompt library                                                  */
/* ------------------------------------------------------------------ */

typedef struct llm_prompts llm_prompts_t;

/**
 * Read every "*.prompt" file below @a dir (recursively; names starting
 * with '.' are skipped), keyed by its path relative to @a dir with '/'
 * separators and without the extension, e.g.
 * "builtin/system/en/translate-to-pl". The files must be UTF-8 (a BOM is
 * dropped). Returns APR_SUCCESS and sets @a *lib (allocated from @a p),
 * or an error with @a *errmsg naming the file and the reason.
 */
apr_status_t llm_prompts_load(apr_pool_t *p, const char *dir,
                              llm_prompts_t **lib, const char **errmsg);

/** The text of the prompt @a key, or NULL. */
const char *llm_prompt_get(const llm_prompts_t *lib, const char *key);

/** How many prompts @a lib holds. */
int llm_prompts_count(const llm_prompts_t *lib);

/** The languages that have the prompt "builtin/system/<lang>/<name>",
 *  sorted, joined by ", " ("" when none). */
const char *llm_prompt_languages(apr_pool_t *p, const llm_prompts_t *lib,
                                 const char *name);

/**
 * A system prompt from @a tmpl: each @a map pair ("##NAME##", value;
 * NULL-terminated; may be NULL) replaced everywhere as plain text, then
 * @a postfix (may be NULL or "") appended after one blank line, then the
 * whole trimmed of white space.
 */
const char *llm_prompt_render(apr_pool_t *p, const char *tmpl,
                              const char *const *map, const char *postfix);

/* ------------------------------------------------------------------ */
/* The built-in endpoints                                              */
/* ------------------------------------------------------------------ */

/** The language when neither the request nor the caller names one. */
#define LLM_BUILTIN_DEFAULT_LANGUAGE "pl"

/** The generation defaults of the original's built-ins. */
#define LLM_BUILTIN_TEMPERATURE "0.75"
#define LLM_BUILTIN_MAX_TOKENS  256
#define LLM_BUILTIN_TOP_K       50
#define LLM_BUILTIN_TOP_P       "0.99"

/** What one built-in request becomes. */
typedef struct llm_builtin_plan {
    llm_builtin_e kind;
    const char *model_name;
    int stream;
    const char *language;       /**< the prompt's language; NULL when the
                                     built-in uses no prompt file */
    const char *system_prompt;  /**< as rendered; NULL when none */
    /** The canonical requests (struct json_object *), in order: one for
     *  the single-call built-ins, one per text for the others. They are
     *  put when @a p is cleared: json_object_get one to keep it longer. */
    apr_array_header_t *requests;
    /** const char *: the source text of each request (texts[i]) for the
     *  multi-call built-ins; empty otherwise. */
    apr_array_header_t *inputs;
} llm_builtin_plan_t;

/** The route name of @a kind ("translate"...), NULL for NONE. */
const char *llm_builtin_name(llm_builtin_e kind);

/** True for the built-ins that make one upstream call per text
 *  (generate_questions, translate, simplify_text): they do not stream. */
int llm_builtin_is_multi(llm_builtin_e kind);

/**
 * Check the fields of a @a kind request: the model is "model_name"
 * ("model" accepted), the endpoint's own fields, and the generation
 * options. Missing field: 400 missing_required_parameter; wrong type or
 * value out of range: 400 invalid_type / invalid_value; stream:true on a
 * multi-call built-in: 400 (param "stream"). @a err->param names the
 * field. Sets @a *model_name and @a *stream (default false).
 */
int llm_builtin_validate(apr_pool_t *p, llm_builtin_e kind,
                         struct json_object *body, const char **model_name,
                         int *stream, llm_error_t *err);

/**
 * Validate @a body and build what the router sends. The language is the
 * request's "language", else @a default_language (NULL:
 * LLM_BUILTIN_DEFAULT_LANGUAGE). A requested language without the
 * endpoint's prompt is a 400 listing the available ones (400
 * unsupported_language, param "language"); the default language without
 * it, or no prompt at all, is a 500 (prompt_missing). The system prompt
 * is part of every request, streamed or not.
 * Returns 0 and sets @a *plan, or -1 with @a err filled.
 */
int llm_builtin_build(apr_pool_t *p, llm_builtin_e kind,
                      struct json_object *body, const llm_prompts_t *lib,
                      const char *default_language,
                      llm_builtin_plan_t **plan, llm_error_t *err);

/** A text with its length: a provider's answer may hold NUL (a JSON
 *  "\u0000"), which a C string would end at. NULL text: none. */
typedef struct llm_builtin_text {
    const char *text;
    apr_size_t len;
} llm_builtin_text_t;

/**
 * The JSON answer of @a plan (spec endpoints.md, 1.4.6), with its
 * trailing newline, from @a answers: the answer text of each request, in
 * order (@a nanswers == plan->requests->nelts; a NULL text is JSON null;
 * each text whole, NUL included),
 * and @a generation_time in seconds:
 *   conversation, extended, generative_answer: {"response":"text",...}
 *   generate_questions: {"response":[{"text","questions":[...]}],...}
 *   translate:          {"response":[{"original","translated"}],...}
 *   simplify_text:      {"response":["text",...],...}
 *   generate_article_from_text, create_full_article_from_texts:
 *                       {"response":{"article_text":"text"},...}
 * each followed by "generation_time".
 */
const char *llm_builtin_response(apr_pool_t *p,
                                 const llm_builtin_plan_t *plan,
                                 const llm_builtin_text_t *answers,
                                 int nanswers,
                                 double generation_time);

/**
 * The questions in a generate_questions answer of @a len bytes (NUL
 * among them is text): the text after its last blank line (once
 * trailing white space is gone), one question per line, trimmed, empty
 * lines dropped, a leading "N." enumeration removed. Returns an array
 * of llm_builtin_text_t.
 */
apr_array_header_t *llm_builtin_parse_questions(apr_pool_t *p,
                                                const char *text,
                                                apr_size_t len);

#endif /* LLM_BUILTIN_H */
