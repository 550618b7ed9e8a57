/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Shared by the files of mod_llm_router only. */

#ifndef LLM_ROUTER_PRIVATE_H
#define LLM_ROUTER_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "mod_llm.h"
#include "llm_models.h"
#include "llm_request.h"
#include "llm_event.h"

extern module AP_MODULE_DECLARE_DATA llm_router_module;
#ifndef LLM_ROUTER_MODULE_FILE
APLOG_USE_MODULE(llm_router);
#endif

#define LLM_BODY_FILTER    "LLM_BODY"
#define LLM_WATCH_FILTER   "LLM_UPSTREAM"
#define LLM_ERROR_FILTER   "LLM_ERROR_JSON"
#define LLM_XLATE_FILTER   "LLM_XLATE"

/* A models file together with the proxy workers of its providers. */
typedef struct llm_router_table {
    llm_models_t *models;
    proxy_worker **workers;       /* by provider slot; set in child_init */
} llm_router_table_t;

/* Per-directory configuration (server defaults, <VirtualHost>,
 * <Location>); every field has a _set bit so a narrower scope overrides
 * only what it names. */
typedef struct {
    int enabled;
    llm_router_table_t *table;
    const char *prefix;
    const char *language;
    struct llm_prompts *prompts;
    apr_off_t max_body;
    apr_interval_time_t timeout;
    apr_interval_time_t first_byte_timeout;
    apr_interval_time_t idle_timeout;
    apr_interval_time_t total_timeout;
    int max_attempts;
    apr_interval_time_t retry_wait;     /* longest Retry-After waited out */
    apr_interval_time_t retry_backoff;  /* before a same-provider retry */
    int retry_same;                     /* llm_retry_same_e */
    apr_size_t max_objects;             /* JSON objects in a body; 0: any */
    apr_array_header_t *forward_headers;/* client headers passed on */
    const llm_balance_method_t *balance;
    const char *balance_name;
    unsigned int enabled_set:1;
    unsigned int table_set:1;
    unsigned int prefix_set:1;
    unsigned int language_set:1;
    unsigned int prompts_set:1;
    unsigned int max_body_set:1;
    unsigned int timeout_set:1;
    unsigned int first_byte_timeout_set:1;
    unsigned int idle_timeout_set:1;
    unsigned int total_timeout_set:1;
    unsigned int max_attempts_set:1;
    unsigned int retry_wait_set:1;
    unsigned int retry_backoff_set:1;
    unsigned int retry_same_set:1;
    unsigned int max_objects_set:1;
    unsigned int forward_headers_set:1;
    unsigned int balance_set:1;
} llm_router_dir_conf_t;

/* LLMRouterRetrySame: when a provider that answered 5xx or broke the
 * connection gets a second try before the next one. */
typedef enum {
    LLM_RETRY_SAME_AUTO = 0,   /* only when no other provider is usable */
    LLM_RETRY_SAME_ON,
    LLM_RETRY_SAME_OFF
} llm_retry_same_e;

/* Global (main server) configuration. */
typedef struct {
    apr_interval_time_t connect_timeout;
} llm_router_srv_conf_t;

#define LLM_DEFAULT_PREFIX    "/api"
#define LLM_DEFAULT_LANGUAGE  "pl"
#define LLM_DEFAULT_MAX_BODY  (10 * 1024 * 1024)
#define LLM_DEFAULT_TIMEOUT   apr_time_from_sec(300)
#define LLM_DEFAULT_CONNECT   apr_time_from_sec(5)
#define LLM_DEFAULT_ATTEMPTS  3
#define LLM_DEFAULT_RETRY_WAIT    apr_time_from_sec(5)
#define LLM_DEFAULT_RETRY_BACKOFF apr_time_from_msec(250)
#define LLM_POOL_TTL          apr_time_from_sec(4)
#define LLM_ANTHROPIC_VERSION "2023-06-01"   /* what we speak upstream */

/* The request's private state: the public context plus what only the
 * router needs. Lives in r->request_config. */
typedef struct {
    llm_req_ctx_t pub;
    const llm_endpoint_t *endpoint;     /* NULL: unknown route (404) */
    llm_router_dir_conf_t *conf;
    llm_router_table_t *table;
    apr_socket_t *backend_sock;         /* of the attempt under way */
    int total_bound;                    /* its last read limit was what
                                           LLMRouterTotalTimeout left */
    llm_buf_t withheld;                 /* a withheld 429/5xx's body (its
                                           first LLM_FAULT_BODY_MAX bytes),
                                           for the client when no attempt
                                           follows after all */
    int backend_reused;                 /* ... taken from the pool */
    llm_wire_e wire;                    /* what the client speaks */
    llm_wire_e provider_wire;           /* what this attempt's provider
                                           is spoken to in */
    struct json_object *canon;          /* the canonical request, once
                                           one provider needed it */
    struct json_object *builtin_request;/* a built-in's upstream request
                                           of the call under way */
    int include_usage;                  /* stream_options.include_usage */
    int usage_added;                    /* ... asked of this attempt's
                                           provider by the gateway, not
                                           by the client */
    const char *encoding_format;        /* embeddings: float / base64 */
    int translating;                    /* LLM_XLATE is on this attempt */
    int collect;                        /* a built-in's call: keep the
                                           answer's text, send nothing */
    llm_buf_t collected;                /* that text (NUL included) */
    int has_collected;                  /* ... text came */
    int collect_status;                 /* the provider's error status */
    const char *collect_error;          /* ... and message */
    int context_fallback;               /* a larger model may follow: a
                                           provider's "prompt too long"
                                           is withheld to be read */
    /* Continuing a cut stream on a prefill-capable provider (see
     * llm_router_route.c). */
    int continuable;                    /* this stream may be continued:
                                           it is translated by LLM_XLATE
                                           with rq->enc, which outlives
                                           each attempt */
    llm_encoder_t *enc;                 /* the client's stream encoder */
    llm_buf_t delivered;                /* the answer text sent so far */
    int delivered_other;                /* ... and more than text (a tool
                                           call): not continued */
    int cut;                            /* the attempt's stream broke
                                           after content, before its
                                           finish: nothing ended it */
    int continuing;                     /* this attempt continues it */
    int answer_broke;                   /* the answer the client got from
                                           this attempt ended without its
                                           finish (LLM_XLATE ended it with
                                           an error): the provider failed,
                                           whatever mod_proxy returned */
    const llm_model_t *asked_model;     /* the model the client named */
    const char *held_ws;                /* white space left out of the
                                           prefill (Anthropic): not to be
                                           sent twice when the
                                           continuation repeats it */
    apr_size_t held_ws_len;
    apr_size_t prefill_len;             /* the continuation's prefill (0:
                                           none: the request asked again) */
    apr_size_t skipped_events;          /* malformed events of the
                                           provider's stream, skipped */
} llm_router_req_t;

/* What one attempt at one provider came to, for the loop that makes
 * them (route() in llm_router_handler.c). Not a handler's return value:
 * httpd's OK, DONE and DECLINED and the HTTP statuses mean other things
 * (DONE, -2, once stood for "failed" too, so that a request already
 * refused and answered was taken for a failed provider and the next
 * provider's answer appended). The values lie above every HTTP status,
 * so that one passed where the other is expected cannot pass for it. */
typedef enum {
    LLM_ATTEMPT_ANSWERED = 1000,    /* the provider's answer went to the
                                       client (any status) */
    LLM_ATTEMPT_REFUSED,            /* the request cannot be made for
                                       this provider; the client has its
                                       error: no further attempt */
    LLM_ATTEMPT_ABANDONED,          /* the client went away */
    LLM_ATTEMPT_FAILED,             /* nothing reached the client;
                                       at->outcome says why; another
                                       provider may be tried */
    LLM_ATTEMPT_NOT_CHOSEN,         /* the balance method chose none */
    LLM_ATTEMPT_CUT,                /* a continuable stream broke after
                                       content went to the client; it is
                                       still open for a continuation */
    LLM_ATTEMPT_TOO_LONG            /* the provider said the prompt is too
                                       long for the model; its answer was
                                       withheld for a larger model */
} llm_attempt_end_e;

/* llm_router_ctx.c: the request's context, and the optional hooks that
 * hand it to other modules. Every file reads the context through it. */
llm_router_req_t *llm_router_req_create(request_rec *r,
                                        const llm_endpoint_t *ep);
llm_router_req_t *llm_router_claim(request_rec *r,
                                   const llm_router_dir_conf_t *c);
llm_router_req_t *llm_router_req(request_rec *r);
llm_router_req_t *llm_router_req_here(request_rec *r);
llm_req_ctx_t *llm_router_get_ctx(request_rec *r);
void llm_router_note_error(request_rec *r, llm_router_req_t *rq, int status,
                           const char *code, const char *message);
int llm_run_llm_models_loaded(apr_pool_t *pconf, server_rec *s,
                              llm_models_t *models);
int llm_run_llm_request_parsed(request_rec *r, llm_req_ctx_t *ctx);
int llm_run_llm_provider_chosen(request_rec *r, llm_req_ctx_t *ctx);
int llm_run_llm_request_done(request_rec *r, llm_req_ctx_t *ctx);

/* llm_router_config.c: directives, merge, start-up. The merged
 * configuration is read through the inline accessors below, so that
 * reading it makes no file depend on this one. */
extern const command_rec llm_router_cmds[];
void *llm_router_create_dir_conf(apr_pool_t *p, char *dir);
void *llm_router_merge_dir_conf(apr_pool_t *p, void *base, void *add);
void *llm_router_create_srv_conf(apr_pool_t *p, server_rec *s);
int llm_router_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp);
int llm_router_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s);
void llm_router_child_init(apr_pool_t *p, server_rec *s);
void llm_router_server_info(server_rec *s, int *enabled,
                            const char **models_path, const char **method);
const llm_balance_method_t *llm_router_balance(const llm_router_dir_conf_t *c,
                                               const llm_model_t *model);

static APR_INLINE const char *llm_router_prefix(const llm_router_dir_conf_t *c)
{
    return c->prefix_set ? c->prefix : LLM_DEFAULT_PREFIX;
}

static APR_INLINE const char *llm_router_language(
    const llm_router_dir_conf_t *c)
{
    return c->language_set ? c->language : LLM_DEFAULT_LANGUAGE;
}

static APR_INLINE apr_off_t llm_router_max_body(const llm_router_dir_conf_t *c)
{
    return c->max_body_set ? c->max_body : LLM_DEFAULT_MAX_BODY;
}

static APR_INLINE apr_size_t llm_router_max_objects(
    const llm_router_dir_conf_t *c)
{
    return c->max_objects_set ? c->max_objects : LLM_REQUEST_MAX_OBJECTS;
}

/* The client's headers an admin lets through to providers (names), or
 * NULL: none. */
static APR_INLINE const apr_array_header_t *llm_router_forward_headers(
    const llm_router_dir_conf_t *c)
{
    return c->forward_headers_set ? c->forward_headers : NULL;
}

/* LLMRouterTimeout: the first-byte and idle limits when not set apart. */
static APR_INLINE apr_interval_time_t llm_router_silence(
    const llm_router_dir_conf_t *c)
{
    return c->timeout_set ? c->timeout : LLM_DEFAULT_TIMEOUT;
}

static APR_INLINE apr_interval_time_t llm_router_first_byte_timeout(
    const llm_router_dir_conf_t *c)
{
    return c->first_byte_timeout_set ? c->first_byte_timeout
                                     : llm_router_silence(c);
}

static APR_INLINE apr_interval_time_t llm_router_idle_timeout(
    const llm_router_dir_conf_t *c)
{
    return c->idle_timeout_set ? c->idle_timeout : llm_router_silence(c);
}

static APR_INLINE apr_interval_time_t llm_router_total_timeout(
    const llm_router_dir_conf_t *c)
{
    return c->total_timeout_set ? c->total_timeout : 0;
}

static APR_INLINE int llm_router_max_attempts(const llm_router_dir_conf_t *c)
{
    return c->max_attempts_set ? c->max_attempts : LLM_DEFAULT_ATTEMPTS;
}

static APR_INLINE apr_interval_time_t llm_router_retry_wait(
    const llm_router_dir_conf_t *c)
{
    return c->retry_wait_set ? c->retry_wait : LLM_DEFAULT_RETRY_WAIT;
}

static APR_INLINE apr_interval_time_t llm_router_retry_backoff(
    const llm_router_dir_conf_t *c)
{
    return c->retry_backoff_set ? c->retry_backoff : LLM_DEFAULT_RETRY_BACKOFF;
}

static APR_INLINE llm_retry_same_e llm_router_retry_same(
    const llm_router_dir_conf_t *c)
{
    return c->retry_same_set ? (llm_retry_same_e)c->retry_same
                             : LLM_RETRY_SAME_AUTO;
}

/* llm_router_handler.c: the request path (translate_name,
 * map_to_storage, the handler). */
int llm_router_translate(request_rec *r);
int llm_router_map_to_storage(request_rec *r);
int llm_router_handler(request_rec *r);

/* llm_router_route.c: the attempt loop and its retry, fail-over and
 * fallback policy; answers the client when no attempt did. */
int llm_router_route(request_rec *r, llm_router_req_t *rq);

/* llm_router_info.c: the routes the gateway answers itself; the
 * optional functions of other modules they use, looked up at start-up
 * (optional_fn_retrieve). */
int llm_router_serve_info(request_rec *r, llm_router_req_t *rq);
void llm_router_info_retrieve(void);

/* llm_router_body.c: the client's body in, and LLM_BODY, which replays
 * a body from memory. */
int llm_router_read_body(request_rec *r, apr_off_t limit, const char **buf,
                         apr_size_t *len);
apr_status_t llm_body_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                             ap_input_mode_t mode, apr_read_type_e block,
                             apr_off_t readbytes);
ap_filter_t *llm_router_replay_body(request_rec *r, const char *body,
                                    apr_size_t len);
/* child_init: glibc's malloc thresholds fixed (large bodies' memory
 * goes back to the system). */
void llm_router_malloc_child_init(apr_pool_t *p, server_rec *s);

/* llm_router_proxy.c: one attempt through mod_proxy, and every use of
 * mod_proxy's internals (workers, notes, its input-filter needs). */
/* The attempt loop's answer to "were this attempt to fail as @a at says
 * (outcome, status, Retry-After), would another one follow?": a failure
 * that ends the request is the client's to see. */
typedef struct {
    int (*go_on)(void *baton, const llm_attempt_t *at);
    void *baton;
} llm_router_next_t;

llm_attempt_end_e llm_router_attempt(request_rec *r, llm_router_req_t *rq,
                                     llm_attempt_t *at,
                                     const llm_router_next_t *next);
int llm_router_answer_failure(request_rec *r, const llm_attempt_t *at);
/* One line per failed attempt (LLM01030), said once the loop knows
 * whether another attempt follows it. */
void llm_router_log_failure(request_rec *r, const llm_model_t *model,
                            const llm_attempt_t *at, int retrying);
void llm_router_forget_answer(request_rec *r);
apr_status_t llm_watch_filter(ap_filter_t *f, apr_bucket_brigade *bb);
int llm_router_create_req(request_rec *r, request_rec *backend);
/* The headers a provider receives: an allow-list (proxy fixups hook). */
int llm_router_proxy_fixups(request_rec *r);
int llm_router_define_workers(apr_pool_t *pconf, apr_pool_t *ptemp,
                              server_rec *s, llm_router_table_t *t,
                              apr_interval_time_t connect_timeout);
void llm_router_find_workers(apr_pool_t *p, server_rec *s,
                             llm_router_table_t *t);

/* llm_router_xlate.c: the request for a provider's dialect, and
 * LLM_XLATE, the answer in the client's. */
int llm_router_upstream_request(request_rec *r, llm_router_req_t *rq,
                                const llm_provider_t *pr, const char **url,
                                llm_error_t *err);
ap_filter_t *llm_router_add_xlate(request_rec *r, llm_router_req_t *rq);
/* A cut stream that no provider could continue: its error event, in the
 * client's dialect (httpd ends the response when the handler returns:
 * the cut attempt's EOS was dropped and r->eos_sent reset). */
void llm_router_end_cut_stream(request_rec *r, llm_router_req_t *rq);
apr_status_t llm_xlate_filter(ap_filter_t *f, apr_bucket_brigade *bb);

/* llm_router_reply.c: JSON answers and errors in the client's dialect,
 * and httpd's own error pages on our routes turned into them. */
int llm_router_send_json(request_rec *r, int status, const char *body);
int llm_router_send_error(request_rec *r, int status, const char *code,
                          const char *message);
int llm_router_send_error_param(request_rec *r, int status, const char *code,
                                const char *param, const char *message);
void llm_router_insert_error_filter(request_rec *r);
apr_status_t llm_error_type_filter(ap_filter_t *f, apr_bucket_brigade *bb);

#endif /* LLM_ROUTER_PRIVATE_H */
