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
 * Parse and validate @a len bytes of JSON text read from @a path.
 * On success returns NULL and sets @a *out, allocated from @a p
 * (provider stats included, zeroed). On failure returns a message of the
 * form "<path>: <json path>: <reason>" and leaves @a *out alone.
 */
const char *llm_models_parse(apr_pool_t *p, const char *path,
                             const char *json, apr_size_t len,
                             llm_models_t **out);

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
