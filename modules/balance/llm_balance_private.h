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

/* llm_balance_redis.c: selection state shared by nodes through Redis. */
typedef struct llm_balance_redis llm_balance_redis_t;
struct llm_redis_target;

typedef enum {
    LLM_REDIS_NONE = 0,        /* the method stays on local state */
    LLM_REDIS_BALANCED,
    LLM_REDIS_WEIGHTED,
    LLM_REDIS_DYNAMIC,
    LLM_REDIS_FIRST,
    LLM_REDIS_WARMEST,
    LLM_REDIS_LEAST
} llm_redis_kind_e;

/* "off" gives NULL. */
const char *llm_balance_redis_parse(apr_pool_t *p, const char *arg,
                                    llm_balance_redis_t **out);
llm_balance_redis_t *llm_balance_redis_copy(apr_pool_t *p,
                                            const llm_balance_redis_t *b);
struct llm_redis_target *llm_balance_redis_target(llm_balance_redis_t *b);
void llm_balance_redis_pre_config(void);
int llm_balance_redis_post_config(apr_pool_t *pconf, server_rec *s,
                                  llm_balance_redis_t *b);

/* Choose through Redis when @a b is set and reachable, else with
 * @a local; the release matches whichever chose. */
int llm_balance_redis_choose(llm_balance_redis_t *b, llm_redis_kind_e kind,
                             const llm_balance_method_t *local,
                             request_rec *r, const llm_model_t *model,
                             llm_provider_t *const *cand, int n,
                             llm_attempt_t *attempt);
void llm_balance_redis_release(const llm_balance_method_t *local,
                               request_rec *r, const llm_model_t *model,
                               llm_attempt_t *attempt);

#endif /* LLM_BALANCE_PRIVATE_H */
