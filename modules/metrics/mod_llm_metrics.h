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
    int key_ids;                 /* LLMMetricsKeyIds (global); -1 unset */
} llm_metrics_srv_conf_t;

#define LLM_METRICS_KEY_IDS_DEFAULT 100
#define LLM_METRICS_KEY_IDS_LIMIT   10000

/* Values of the fixed label tables, by position (mod_llm_metrics_set.c
 * makes the tables in this order, so a value's index is its enum). */
typedef enum {
    LLM_ERR_CONNECT = 0, LLM_ERR_RESET, LLM_ERR_TIMEOUT, LLM_ERR_HTTP_4XX,
    LLM_ERR_HTTP_429, LLM_ERR_HTTP_5XX, LLM_ERR_STREAM_CUT,
    LLM_ERR_CLIENT_ABORT, LLM_ERR_DEADLINE, LLM_ERR_CONTEXT_LENGTH,
    LLM_ERR__COUNT
} llm_metrics_err_e;
typedef enum {
    LLM_STAGE_RECEIVED = 0, LLM_STAGE_GUARD_REQUEST, LLM_STAGE_MASKING,
    LLM_STAGE_PROVIDER, LLM_STAGE_GUARD_RESPONSE
} llm_metrics_stage_e;
/* auth_attempts_total's result: llm_access_kind_e, then success. */
#define LLM_AUTH_SUCCESS 5
typedef enum {
    LLM_RESULT_SUCCESS = 0, LLM_RESULT_FAILURE, LLM_RESULT_PASS,
    LLM_RESULT_BLOCK, LLM_RESULT_UNCHECKED, LLM_RESULT_APPLIED,
    LLM_RESULT_SKIPPED
} llm_metrics_result_e;
#define LLM_METRICS_MAX_STATUS 600

/* The pair label index (model, provider) of each provider of one models
 * file, by llm_provider_t.slot: no string is built on the request path. */
typedef struct {
    const llm_models_t *models;
    int *pair;
} llm_metrics_table_ix_t;

/* Every label table and family of the gateway (mod_llm_metrics_set.c). */
typedef struct {
    llm_metrics_t *reg;
    llm_metrics_dim_t *method, *endpoint, *status, *model, *api, *provider,
                      *error, *reason, *strategy, *stage, *result,
                      *direction, *format, *wire, *to_api, *fallback,
                      *entity, *access_kind, *access_endpoint, *key_id;
    llm_metrics_keys_t *keys;    /* the key_id label's table */
    /* the original's */
    llm_metrics_family_t *http_requests, *http_duration, *http_in_progress,
                         *http_exceptions, *http_request_size,
                         *http_response_size, *guardrail_incidents,
                         *masker_incidents, *provider_calls,
                         *provider_latency, *provider_errors, *lb_selected,
                         *pipeline_stage, *retries, *retries_exhausted,
                         *tokens, *response_format, *payload_conversion,
                         *auth_attempts, *rate_limited;
    /* added */
    llm_metrics_family_t *ttft, *overhead, *active_streams, *failovers,
                         *fallbacks, *masked_values, *streamed_bytes;
    apr_array_header_t *tables;  /* llm_models_t *, for the health gauges */
    apr_array_header_t *table_ix; /* llm_metrics_table_ix_t */
    /* by address, no string hashed on the request path: */
    llm_metrics_ptrmap_t *by_model;  /* const llm_model_t * -> index in
                                        model_ix */
    struct llm_metrics_model_ix *model_ix;
    llm_metrics_ptrmap_t *by_server; /* server_rec * -> strategy index */
    llm_metrics_ptrmap_t *by_method; /* llm_balance_method_t * (the
                                        registered methods) -> strategy
                                        index */
    /* the router's route names (ctx->endpoint) -> endpoint index,
     * learned per process (they are the router's copies of the names) */
    llm_metrics_ptrcache_t endpoint_cache;
    int status_ix[LLM_METRICS_MAX_STATUS]; /* status -> index in status */
    unsigned int notes;          /* LLM_METRICS_WANT_*: the notes the
                                    configuration names */
} llm_metrics_set_t;

/* The notes this module sets, each only when a directive of the
 * configuration (a LogFormat, CustomLog, ErrorLogFormat...) names it:
 * a note nobody reads costs every request its making and makes every
 * later apr_table_setn on r->notes compare one more entry. */
#define LLM_METRICS_WANT_ID       1u
#define LLM_METRICS_WANT_TTFT     2u
#define LLM_METRICS_WANT_OVERHEAD 4u
#define LLM_METRICS_WANT_ID_EARLY 8u   /* named by ErrorLogFormat: set the
                                          id as the request is read */

/* Per request (the initial request's request_config): what this module
 * added that it must take back, and what llm_request_done found that
 * log_transaction uses again. */
typedef struct {
    int in_progress;
    int streaming;
    int llm_done;                /* llm_request_done recorded: */
    int endpoint;                /*   its endpoint index */
    int model;                   /*   its model index */
    int streamed;                /*   a streamed answer was attempted */
    int refused;                 /* an access refusal was counted */
    int id_made;                 /* the request id, once made: */
    llm_metrics_id_t id;
    int id_noted;                /* its note is set */
    char idbuf[LLM_METRICS_EXEMPLAR_ID_MAX + 1];
} llm_metrics_marks_t;

/* A model's label indexes, found by its address (no string hashed on
 * the request path). strategy is -1 when the model has no balance of
 * its own. */
typedef struct llm_metrics_model_ix {
    int model;
    int strategy;
} llm_metrics_model_ix_t;

/* The indexes of ctx->model (NULL: a model not in a models file). */
const llm_metrics_model_ix_t *llm_metrics_model_of(const llm_metrics_set_t *s,
                                                   const llm_model_t *m);

/* The balance method in force at the top of each server, by server
 * (from the router, once the configuration is final). */
void llm_metrics_index_servers(llm_metrics_set_t *s, apr_pool_t *p,
                               server_rec *main_server);

/* The pair index of provider @a pr of models file @a m ("other" when
 * unknown). */
int llm_metrics_pair_index(const llm_metrics_set_t *s, const llm_models_t *m,
                           const llm_provider_t *pr);

/* mod_llm_metrics_config.c */
extern const command_rec llm_metrics_cmds[];
void *llm_metrics_create_srv(apr_pool_t *p, server_rec *s);
void *llm_metrics_merge_srv(apr_pool_t *p, void *basev, void *addv);
int llm_metrics_enabled(server_rec *s);
int llm_metrics_key_ids(server_rec *main_server);

/* mod_llm_metrics_set.c: the families, from the models files known now. */
llm_metrics_set_t *llm_metrics_set_make(apr_pool_t *p,
                                        apr_array_header_t *tables,
                                        int key_ids);

/* mod_llm_metrics.c: this generation's set and this process's slot. */
llm_metrics_set_t *llm_metrics_current(void);
llm_metrics_slot_t *llm_metrics_my_slot(request_rec *r);
/* The marks of r's initial request. */
llm_metrics_marks_t *llm_metrics_marks(request_rec *r);
/* The request id of r (made once, kept in its marks): the exemplars'
 * and the note's. */
const llm_metrics_id_t *llm_metrics_request_id(request_rec *r,
                                               llm_metrics_marks_t *mk);

/* mod_llm_metrics_record.c: what a request moves. */
void llm_metrics_record_init(void);
void llm_metrics_record_http(request_rec *r, llm_metrics_set_t *set,
                             llm_metrics_slot_t *slot,
                             llm_metrics_marks_t *mk);
void llm_metrics_record_llm(request_rec *r, llm_req_ctx_t *ctx,
                            llm_metrics_set_t *set, llm_metrics_slot_t *slot,
                            llm_metrics_marks_t *mk);
void llm_metrics_record_access(request_rec *r, const llm_access_event_t *ev,
                               llm_metrics_set_t *set,
                               llm_metrics_slot_t *slot);
int llm_metrics_endpoint_index(request_rec *r, llm_metrics_set_t *set);

/* mod_llm_metrics_handler.c: the scrape. */
void llm_metrics_handler_init(void);
int llm_metrics_handler(request_rec *r);

#endif /* MOD_LLM_METRICS_H */
