/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_models.h
 * @brief Load and validate a models file (the original router's
 *        models-config.json schema). APR and json-c only: no httpd.
 */

#ifndef LLM_MODELS_H
#define LLM_MODELS_H

#include "apr_pools.h"
#include "apr_tables.h"

#include "mod_llm.h"

/**
 * Parse and validate @a len bytes of JSON text read from @a path, going
 * on past each problem so that every one is found. Each problem is
 * pushed onto @a *problems (made from @a p; const char *) as
 * "<path>: <json path>: <reason>", in the order the parser meets them:
 * active model after active model as active_models lists them, each
 * model's fields in a fixed order, its providers in list order, the
 * names of fallbacks and on_context_length last. Text that is not a
 * JSON object is one problem ("<path>: invalid JSON at line L, column
 * C: ..."): nothing after it can be read. Returns the number of
 * problems; 0 sets @a *out, allocated from @a p (provider stats
 * included, zeroed), and anything else leaves it alone. Linear in
 * @a len.
 */
int llm_models_parse_all(apr_pool_t *p, const char *path,
                         const char *json, apr_size_t len,
                         apr_array_header_t **problems, llm_models_t **out);

/**
 * llm_models_parse_all() for a caller that shows one message (httpd's
 * start-up). On success returns NULL and sets @a *out. On failure
 * returns the first problem, followed by " (and N more problem(s):
 * llmctl config check lists them all)" when there are others, and
 * leaves @a *out alone.
 */
const char *llm_models_parse(apr_pool_t *p, const char *path,
                             const char *json, apr_size_t len,
                             llm_models_t **out);

/** @a base followed by the JSON path step for object key @a key, as the
 *  parser's problems write it: ".key", or "[\"key\"]" when @a key is not
 *  a plain name (model names with '/' or ':'). From @a p. */
const char *llm_models_path_key(apr_pool_t *p, const char *base,
                                const char *key);

/** Read @a path and call llm_models_parse(). */
const char *llm_models_load(apr_pool_t *p, const char *path,
                            llm_models_t **out);

/** The active model called @a name, or NULL. */
const llm_model_t *llm_models_find(const llm_models_t *m, const char *name);

/** The api_type written @a s (-1 when unknown); llm_api_type_name() in
 *  mod_llm.h goes the other way. */
int llm_api_type_parse(const char *s);

/** Parse a keep_alive duration "<n>s|m|h" (spaces allowed around n).
 *  Returns 0 and sets @a *out, or -1 when malformed. */
int llm_parse_duration(const char *s, apr_interval_time_t *out);

#endif /* LLM_MODELS_H */
