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

#include "llm_health.h"

/* llm_balance_status.c: the status page, and the models files known. */
void llm_balance_status_remember(apr_pool_t *pconf, llm_models_t *models);
const apr_array_header_t *llm_balance_status_tables(void);
int llm_balance_status_handler(request_rec *r);

/* llm_balance_probe.c: active probes from the parent process. */
typedef struct {
    apr_interval_time_t interval;      /* 0: no probes */
    apr_interval_time_t timeout;
    const llm_health_conf_t *health;
    server_rec *server;
} llm_balance_probe_conf_t;

int llm_balance_probe_start(apr_pool_t *pconf, server_rec *s,
                            llm_balance_probe_conf_t *c);

#endif /* LLM_BALANCE_PRIVATE_H */
