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
/* LLMAuditSync batch without a count or a time. */
#define LLM_AUDIT_DEFAULT_BATCH 1000
#define LLM_AUDIT_DEFAULT_BATCH_AGE apr_time_from_sec(1)
/* What LLMAuditEvents chooses (a bit each). */
#define LLM_AUDIT_EV_REQUEST 1
#define LLM_AUDIT_EV_MASKING 2
#define LLM_AUDIT_EV_GUARD   4
#define LLM_AUDIT_EV_ACCESS  8
#define LLM_AUDIT_EV_ALL     15
/* LLMAuditOnFailure. */
#define LLM_AUDIT_FAIL_CLOSED 1
#define LLM_AUDIT_FAIL_OPEN   0
/* The output filter that holds a response's end back until its records
 * are written (mod_llm_audit_hold.c). */
#define LLM_AUDIT_HOLD_FILTER "LLM_AUDIT_HOLD"

typedef struct llm_audit_batch llm_audit_batch_t;
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
    int batch;                       /* LLMAuditSync batch: records per
                                        sealed batch at most; 0: record */
    apr_interval_time_t batch_age;   /* ... and the longest a record
                                        waits in one */
    llm_audit_trail_t *writer;       /* per child, child_init */
    llm_audit_batch_t *batcher;      /* per child, batch mode */
    const struct llm_audit_srv_conf *made_by; /* the settings it has */
} llm_audit_trail_conf_t;

/* Per server (VirtualHost): where its trail is and how it is written.
 * Unset values come from the main server. */
typedef struct llm_audit_srv_conf {
    const char *dir;                 /* LLMAuditDir */
    apr_array_header_t *recipients;  /* LLMAuditRecipient, const char * */
    const char *keyring;             /* LLMAuditKeyring */
    int encrypt;                     /* LLMAuditEncrypt */
    apr_off_t rotate;                /* LLMAuditRotate size; -1 unset */
    apr_interval_time_t rotate_age;  /* LLMAuditRotate age; -1 unset */
    int batch;                       /* LLMAuditSync: 0 record, else the
                                        batch's count; -1 unset */
    apr_interval_time_t batch_age;
    llm_audit_trail_conf_t *trail;   /* post_config */
} llm_audit_srv_conf_t;

/* Per directory (server, VirtualHost, Location): whether to audit,
 * which events, and what a failing trail does to requests. */
typedef struct {
    int audit;                       /* LLMAudit */
    int events;                      /* LLMAuditEvents: LLM_AUDIT_EV_* */
    int on_failure;                  /* LLMAuditOnFailure */
    int mask_mappings;               /* LLMAuditMaskMappings */
} llm_audit_dir_conf_t;

/* mod_llm_audit_config.c */
extern const command_rec llm_audit_cmds[];
void *llm_audit_create_dir(apr_pool_t *p, char *dir);
void *llm_audit_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *llm_audit_create_srv(apr_pool_t *p, server_rec *s);
void *llm_audit_merge_srv(apr_pool_t *p, void *basev, void *addv);

/* mod_llm_audit_hold.c: a response's end held until its records are
 * written (LLMAuditSync record). */
void llm_audit_hold_register(void);
void llm_audit_hold_add(request_rec *r, const llm_req_ctx_t *ctx);
int llm_audit_hold_active(request_rec *r);
apr_off_t llm_audit_hold_bytes(request_rec *r);
void llm_audit_hold_release(request_rec *r);
void llm_audit_hold_refuse(request_rec *r, const llm_req_ctx_t *ctx);

/* mod_llm_audit_batch.c: a child's records sealed and written in
 * batches (LLMAuditSync batch) by a thread of its own. */
apr_status_t llm_audit_batch_start(apr_pool_t *pchild, server_rec *s,
                                   llm_audit_trail_conf_t *t);
/* Queue @a body (a record body line) for the next batch. */
void llm_audit_batch_add(llm_audit_batch_t *b, const char *body,
                         apr_size_t len);

/* mod_llm_audit.c: the trail's failures and recoveries (lock held). */
void llm_audit_failed(server_rec *s, llm_audit_trail_conf_t *t,
                      apr_uint64_t records, apr_pool_t *p);
void llm_audit_worked(server_rec *s, llm_audit_trail_conf_t *t,
                      apr_pool_t *p);

/* mod_llm_audit_record.c: the fields of each event of a request,
 * written as JSON members into @a w. */
void llm_audit_request_fields(llm_audit_w_t *w, request_rec *r,
                              const llm_req_ctx_t *ctx);
void llm_audit_masking_fields(llm_audit_w_t *w, request_rec *r,
                              const llm_req_ctx_t *ctx, int mappings);
/* The request's guard, or (@a answer) the answer's. */
void llm_audit_guard_fields(llm_audit_w_t *w, request_rec *r,
                            const llm_req_ctx_t *ctx, int answer);
void llm_audit_access_fields(llm_audit_w_t *w, request_rec *r,
                             const llm_access_event_t *ev);

#endif /* MOD_LLM_AUDIT_H */
