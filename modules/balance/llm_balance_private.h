/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Shared by the httpd-facing files of mod_llm_balance only. */

#ifndef LLM_BALANCE_PRIVATE_H
#define LLM_BALANCE_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "mod_llm.h"

extern module AP_MODULE_DECLARE_DATA llm_balance_module;
#ifndef LLM_BALANCE_MODULE_FILE
APLOG_USE_MODULE(llm_balance);
#endif

/* llm_balance_shm.c: the llm_models_loaded hook. */
int llm_balance_shm_attach(apr_pool_t *pconf, server_rec *s,
                           llm_models_t *models);

/* llm_balance_status.c: the status page. */
void llm_balance_status_remember(apr_pool_t *pconf, llm_models_t *models);
int llm_balance_status_handler(request_rec *r);

#endif /* LLM_BALANCE_PRIVATE_H */
