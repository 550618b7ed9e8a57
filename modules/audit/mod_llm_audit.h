/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Shared by the glue files of mod_llm_audit (mod_llm_audit*.c) only;
 * the engine (llm_audit_*.c) knows nothing of httpd. */

#ifndef MOD_LLM_AUDIT_H
#define MOD_LLM_AUDIT_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_global_mutex.h"

#include "mod_llm.h"
#include "llm_audit.h"

extern module AP_MODULE_DECLARE_DATA llm_audit_module;
#ifndef LLM_AUDIT_MODULE_FILE
APLOG_USE_MODULE(llm_audit);
#endif

/* A flag no directive of the scope set. */
#define LLM_AUDIT_UNSET (-1)
#define LLM_AUDIT_DEFAULT_ROTATE ((apr_off_t)64 * 1024 * 1024)
/* The mutex type (Mutex directive: "Mutex fcntl llm-audit"). */
#define LLM_AUDIT_MUTEX "llm-audit"

/* One trail: a directory, its writers' lock and shared state (kept for
 * the life of the httpd process, so that a graceful restart's old and
 * new children share them), and this generation's settings. */
typedef struct {
    const char *dir;
    int encrypt;
    const char *recipients;          /* fingerprints, for the log */
    apr_global_mutex_t *mutex;       /* process pool */
    llm_audit_state_t *state;        /* shared memory, process pool */
    llm_audit_gpg_t *gpg;            /* NULL: plaintext */
    llm_audit_opts_t opts;
    llm_audit_trail_t *writer;       /* per child, child_init */
} llm_audit_trail_conf_t;

/* Per server (VirtualHost): where its trail is and how it is written.
 * Unset values come from the main server. */
typedef struct {
    const char *dir;                 /* LLMAuditDir */
    apr_array_header_t *recipients;  /* LLMAuditRecipient, const char * */
    const char *keyring;             /* LLMAuditKeyring */
    int encrypt;                     /* LLMAuditEncrypt */
    apr_off_t rotate;                /* LLMAuditRotate; -1 unset */
    llm_audit_trail_conf_t *trail;   /* post_config */
} llm_audit_srv_conf_t;

/* Per directory (server, VirtualHost, Location): whether to audit. */
typedef struct {
    int audit;                       /* LLMAudit */
} llm_audit_dir_conf_t;

/* mod_llm_audit_config.c */
extern const command_rec llm_audit_cmds[];
void *llm_audit_create_dir(apr_pool_t *p, char *dir);
void *llm_audit_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *llm_audit_create_srv(apr_pool_t *p, server_rec *s);
void *llm_audit_merge_srv(apr_pool_t *p, void *basev, void *addv);

/* mod_llm_audit_record.c: the fields of each event of a request. */
json_object *llm_audit_request_fields(request_rec *r,
                                      const llm_req_ctx_t *ctx);
json_object *llm_audit_masking_fields(request_rec *r,
                                      const llm_req_ctx_t *ctx);
json_object *llm_audit_guard_fields(request_rec *r,
                                    const llm_req_ctx_t *ctx);

#endif /* MOD_LLM_AUDIT_H */
