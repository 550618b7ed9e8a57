/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Shared by the glue files of mod_llm_access (mod_llm_access*.c) only;
 * the engine (llm_access_*.c) knows nothing of httpd. */

#ifndef MOD_LLM_ACCESS_H
#define MOD_LLM_ACCESS_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "mod_llm.h"
#include "llm_access.h"

extern module AP_MODULE_DECLARE_DATA llm_access_module;
#ifndef LLM_ACCESS_MODULE_FILE
APLOG_USE_MODULE(llm_access);
#endif

/** The AuthType that makes API keys the way in. */
#define LLM_ACCESS_AUTH_TYPE "llm-key"

/* Which llm_access_kind_e a refusal noted in r->notes is (private to
 * this module; the other notes are in mod_llm.h). */
#define LLM_NOTE_ACCESS_KIND "llm-access-kind"
/* The limit that refused ("requests 60/60s"), for the event. */
#define LLM_NOTE_ACCESS_LIMIT "llm-access-limit"

/* Labels a refusal's error page application/json. */
#define LLM_ACCESS_JSON_FILTER "LLM_ACCESS_JSON"

/* Where a key may come from (LLMAccessKeySources). */
#define LLM_SRC_BEARER   (1 << 0)   /* Authorization: Bearer <key> */
#define LLM_SRC_XAPIKEY  (1 << 1)   /* x-api-key: <key> (Anthropic) */
#define LLM_SRC_APIKEY   (1 << 2)   /* api-key: <key> (Azure OpenAI) */
#define LLM_SRC_QUERY    (1 << 3)   /* ?api_key= or ?api-key= */
#define LLM_SRC_DEFAULT  (LLM_SRC_BEARER | LLM_SRC_XAPIKEY)

/* Per server (VirtualHost): the key store. Unset: the main server's. */
typedef struct {
    const char *key_file;            /* LLMAccessKeyFile */
    llm_access_store_t *store;       /* post_config, pconf; read-only */
    apr_uint32_t limit_slots;        /* LLMLimitSlots (main server); 0
                                        unset */
    const char *redis;               /* LLMLimitRedis as given; NULL
                                        unset, "off" */
    const char *redis_host;
    int redis_port;
    int redis_fail_closed;           /* LLMLimitRedisFail; -1 unset */
    int key_redis;                   /* LLMAccessKeyRedis; -1 unset */
    apr_interval_time_t key_cache;   /* LLMAccessKeyCache; -1 unset */
    int used_interval;               /* LLMAccessLastUsedInterval, s (main
                                        server); 0 off, -1 unset */
    apr_uint64_t used_file;          /* post_config: the key file's and */
    apr_uint64_t used_redis;         /* the Redis's last-used store */
    const char *budget_file;         /* LLMBudgetStateFile (main server);
                                        NULL unset, "" off */
    int budget_interval;             /* LLMBudgetStateInterval, s (main
                                        server); -1 unset */
    int has_budget;                  /* an LLMBudgetTokens in its config */
} llm_access_srv_conf_t;

#define LLM_USED_INTERVAL_DEFAULT 60
#define LLM_BUDGET_INTERVAL_DEFAULT 60

#define LLM_KEYCACHE_DEFAULT apr_time_from_sec(30)

#define LLM_LIMIT_SLOTS_DEFAULT 16384

/* A limit directive: unset, off, or a rate. */
typedef struct {
    int set;
    llm_access_rate_t rate;          /* count 0: off */
} llm_access_limit_conf_t;

/* Per directory. */
typedef struct {
    int keys;                        /* LLMAccessKeys; -1 unset */
    unsigned sources;                /* LLMAccessKeySources; 0 unset */
    llm_access_limit_conf_t requests; /* LLMLimitRequests */
    llm_access_limit_conf_t tokens;   /* LLMLimitTokens */
    int per_address;                 /* LLMLimitPerAddress; -1 unset */
    int budget_set;                  /* LLMBudgetTokens said (or off) */
    llm_access_budget_t budget;
} llm_access_dir_conf_t;

/* What one request has come to, kept in its initial request. */
typedef struct {
    const llm_access_key_t *key;     /* the authenticated key, or NULL */
    const apr_array_header_t *require_models; /* the patterns of the
                                                 Require llm-model line
                                                 that granted, or NULL */
    int announced;                   /* llm_access_refused ran */
    llm_limit_slot_t *tokens_slot;   /* charged when the answer is over */
    const llm_access_rate_t *tokens_rate;
    llm_limit_slot_t *budget_slot;   /* charged when the answer is over */
    const char *tokens_bucket;       /* in Redis, when LLMLimitRedis */
    const char *budget_bucket;       /* in Redis, when LLMLimitRedis */
    apr_time_t budget_ends;          /* its period's end */
    llm_used_slot_t *used_slot;      /* the key's last-used slot */
} llm_access_req_t;

/* mod_llm_access_config.c */
extern const command_rec llm_access_cmds[];
void *llm_access_create_dir(apr_pool_t *p, char *dir);
void *llm_access_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *llm_access_create_srv(apr_pool_t *p, server_rec *s);
void *llm_access_merge_srv(apr_pool_t *p, void *basev, void *addv);
llm_access_dir_conf_t *llm_access_dir(request_rec *r);
llm_access_srv_conf_t *llm_access_srv(server_rec *s);

/* mod_llm_access.c */
llm_access_req_t *llm_access_req(request_rec *r);
/* Remember a refusal in r->notes for the error page (mod_llm_router
 * turns it into JSON in the client's dialect) and log it; the
 * llm_access_refused hook runs when the page is made. Returns status. */
int llm_access_refuse(request_rec *r, llm_access_kind_e kind, int status,
                      const char *code, const char *message,
                      const llm_access_key_t *key);
/* Run llm_access_refused once for r. */
void llm_access_announce(request_rec *r, llm_access_kind_e kind, int status,
                         const char *code, const char *key_id,
                         const char *model, const char *limit);

/* mod_llm_access_authn.c: AuthType llm-key */
int llm_access_check_authn(request_rec *r);
int llm_access_note_failure(request_rec *r, const char *auth_type);

/* mod_llm_access_authz.c: Require llm-permission / llm-model, and the
 * model's check once the router knows it. */
void llm_access_register_authz(apr_pool_t *p);
int llm_access_request_parsed(request_rec *r, llm_req_ctx_t *ctx);
/* The optional function of mod_llm.h (GET /v1/models per key). */
int llm_access_model_allowed(request_rec *r, const char *model);

/* mod_llm_access_redis.c: this thread's connection to sc's Redis (NULL
 * while unreachable); a failed exchange drops it; a good one says Redis
 * is back. */
struct redisContext *llm_access_redis_conn(server_rec *s,
                                           const llm_access_srv_conf_t *sc);
void llm_access_redis_failed(server_rec *s, const llm_access_srv_conf_t *sc);
void llm_access_redis_up(server_rec *s, const llm_access_srv_conf_t *sc);

/* mod_llm_access_keycache.c: keys in Redis (LLMAccessKeyRedis On). */
void llm_access_keycache_init(apr_pool_t *pchild);
/* The verdict on @a key from Redis; *unavailable when Redis could not
 * be asked (the verdict is then LLM_KEY_INVALID). */
llm_access_verdict_e llm_access_redis_check(request_rec *r,
                                            const llm_access_srv_conf_t *sc,
                                            const char *key,
                                            const llm_access_key_t **found,
                                            int *unavailable);

/* mod_llm_access_limit.c: LLMLimitRequests / LLMLimitTokens. */
const char *llm_access_limits_init(apr_pool_t *pconf, server_rec *s);
int llm_access_check_limits(request_rec *r);
int llm_access_request_done(request_rec *r, llm_req_ctx_t *ctx);
/* The limits' table (NULL before post_config). */
llm_limit_table_t *llm_access_limit_table(void);
/* The budget slot's place in the limits' table (1-based), and what it
 * has spent. */
apr_uint32_t llm_access_limit_index(const llm_limit_slot_t *slot);
apr_int64_t llm_access_limit_spent(apr_uint32_t index);

/* mod_llm_access.c: a file or Redis write httpd's parent does every
 * interval (its monitor hook) and once more when the generation ends
 * (stop, restart: a pconf cleanup); never in a child, which runs the
 * same cleanups as it exits. */
typedef struct llm_access_parent_job {
    void (*run)(server_rec *s);
    apr_uint32_t interval_s;           /* 0: never */
    apr_time_t next;
    pid_t pid;                         /* httpd's parent */
} llm_access_parent_job_t;
void llm_access_parent_job_start(llm_access_parent_job_t *j,
                                 apr_pool_t *pconf, server_rec *s);
void llm_access_parent_job_tick(llm_access_parent_job_t *j, server_rec *s);

/* mod_llm_access_used.c: last_used per key, batched, and the budgets
 * each key has spent (llm_access_each_budget). */
const char *llm_access_used_init(apr_pool_t *pconf, server_rec *s);
void llm_access_used_touch(request_rec *r, const llm_access_key_t *k,
                           int from_redis);
void llm_access_used_budget(llm_access_req_t *st,
                            const llm_access_budget_t *b, apr_time_t ends,
                            const llm_limit_slot_t *slot);
int llm_access_used_monitor(apr_pool_t *p, server_rec *s);
void llm_access_each_budget(apr_pool_t *p, server_rec *s, int max,
                            llm_key_budget_fn *fn, void *baton);

/* mod_llm_access_budget.c: budgets kept across a full stop (the state
 * file, written by httpd's parent only). */
void llm_access_budget_init(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s);
int llm_access_budget_monitor(apr_pool_t *p, server_rec *s);

#endif /* MOD_LLM_ACCESS_H */
