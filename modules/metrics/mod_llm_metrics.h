/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Shared by the glue files of mod_llm_metrics (mod_llm_metrics*.c) only;
 * the engine (llm_metrics_*.c) knows nothing of httpd. */

#ifndef MOD_LLM_METRICS_H
#define MOD_LLM_METRICS_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "mod_llm.h"
#include "llm_metrics.h"

extern module AP_MODULE_DECLARE_DATA llm_metrics_module;
#ifndef LLM_METRICS_MODULE_FILE
APLOG_USE_MODULE(llm_metrics);
#endif

#define LLM_METRICS_HANDLER "llm-metrics"
/** The request id note (UNIQUE_ID when mod_unique_id gave one). */
#define LLM_METRICS_NOTE_ID       "llm-request-id"
/** Time to the first byte of the answer that reached the client, in ms. */
#define LLM_METRICS_NOTE_TTFT     "llm-ttft-ms"
/** Time in the gateway itself (not waiting on providers), in ms. */
#define LLM_METRICS_NOTE_OVERHEAD "llm-overhead-ms"

/* Per server (VirtualHost). */
typedef struct {
    int enabled;                 /* LLMMetrics; -1 unset */
} llm_metrics_srv_conf_t;

/* Every label table and family of the gateway (mod_llm_metrics_set.c). */
typedef struct {
    llm_metrics_t *reg;
    llm_metrics_dim_t *method, *endpoint, *status, *model, *api, *provider,
                      *error, *reason, *strategy, *stage, *result,
                      *direction, *format, *wire, *to_api, *fallback,
                      *entity, *access_kind, *access_endpoint;
    /* the original's */
    llm_metrics_family_t *http_requests, *http_duration, *http_in_progress,
                         *http_exceptions, *http_request_size,
                         *http_response_size, *guardrail_incidents,
                         *masker_incidents, *provider_calls,
                         *provider_latency, *provider_errors, *lb_selected,
                         *pipeline_stage, *retries, *retries_exhausted,
                         *tokens, *response_format, *payload_conversion,
                         *auth_attempts, *rate_limited, *key_budget;
    /* added */
    llm_metrics_family_t *ttft, *overhead, *active_streams, *failovers,
                         *fallbacks, *masked_values, *streamed_bytes;
    apr_array_header_t *tables;  /* llm_models_t *, for the health gauges */
} llm_metrics_set_t;

/* mod_llm_metrics_config.c */
extern const command_rec llm_metrics_cmds[];
void *llm_metrics_create_srv(apr_pool_t *p, server_rec *s);
void *llm_metrics_merge_srv(apr_pool_t *p, void *basev, void *addv);
int llm_metrics_enabled(server_rec *s);

/* mod_llm_metrics_set.c: the families, from the models files known now. */
llm_metrics_set_t *llm_metrics_set_make(apr_pool_t *p,
                                        apr_array_header_t *tables);

/* mod_llm_metrics.c: this generation's set and this process's slot. */
llm_metrics_set_t *llm_metrics_current(void);
llm_metrics_slot_t *llm_metrics_my_slot(request_rec *r);

/* mod_llm_metrics_record.c: what a request moves. */
void llm_metrics_record_init(void);
void llm_metrics_record_http(request_rec *r, llm_metrics_set_t *set,
                             llm_metrics_slot_t *slot);
void llm_metrics_record_llm(request_rec *r, llm_req_ctx_t *ctx,
                            llm_metrics_set_t *set, llm_metrics_slot_t *slot);
void llm_metrics_record_access(request_rec *r, const llm_access_event_t *ev,
                               llm_metrics_set_t *set,
                               llm_metrics_slot_t *slot);
int llm_metrics_endpoint_index(request_rec *r, llm_metrics_set_t *set);

/* mod_llm_metrics_handler.c: the scrape. */
int llm_metrics_handler(request_rec *r);

#endif /* MOD_LLM_METRICS_H */
