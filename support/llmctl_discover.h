/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llmctl_discover.h
 * @brief llmctl config discover: a server's list of models read.
 *        APR and json-c only (fuzzed by t/fuzz/fuzz_discover.c).
 */

#ifndef LLMCTL_DISCOVER_H
#define LLMCTL_DISCOVER_H

#include "apr_pools.h"
#include "apr_tables.h"

#include "mod_llm.h"

/** One model a server listed. */
typedef struct {
    const char *name;           /**< as the server names it */
    apr_int64_t context;        /**< its context length; 0: not said */
    int tools;                  /**< it says it can call tools */
    int embedding;              /**< LM Studio says "type": "embeddings" */
} llmctl_found_t;

/**
 * The models of a server's answer (@a len bytes, not NUL-terminated):
 * Ollama's {"models": [{"name"}]} for LLM_API_OLLAMA, else LM Studio's
 * and OpenAI's {"data": [{"id"}]}. Entries that are not objects with a
 * non-empty name are skipped. An array of llmctl_found_t from @a p, or
 * NULL with @a why when the answer is not such a list at all.
 */
apr_array_header_t *llmctl_discover_parse(apr_pool_t *p,
                                          llm_api_type_e type,
                                          const char *body, apr_size_t len,
                                          const char **why);

#endif /* LLMCTL_DISCOVER_H */
