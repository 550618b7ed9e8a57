/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Shared by the glue files of mod_llm_mask (mod_llm_mask*.c) only; the
 * engine (llm_*.c) knows nothing of httpd. */

#ifndef MOD_LLM_MASK_GLUE_H
#define MOD_LLM_MASK_GLUE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "mod_llm.h"
#include "llm_mask.h"
#include "llm_guard.h"

extern module AP_MODULE_DECLARE_DATA llm_mask_module;
#ifndef LLM_MASK_MODULE_FILE
APLOG_USE_MODULE(llm_mask);
#endif

#define LLM_MASK_DEFAULT_SERVICE_TIMEOUT apr_time_from_sec(10)
#define LLM_MASK_DEFAULT_BUDGET          apr_time_from_msec(2000)

/* A flag (ap_set_flag_slot) that no directive of the scope set. */
#define LLM_MASK_UNSET (-1)

/* LLMMaskResponses */
typedef enum {
    LLM_MASK_ANSWER_OFF = 0,
    LLM_MASK_ANSWER_UNMASK,          /* the request's pseudonyms restored */
    LLM_MASK_ANSWER_MASK             /* PII in the answer masked too */
} llm_mask_answer_e;

/* LLMGuardService */
typedef struct {
    const char *name;
    const char *url;
} llm_mask_service_t;

/* Per-directory configuration (server, <VirtualHost>, <Location>). The
 * flags are set by ap_set_flag_slot and are LLM_MASK_UNSET until a
 * directive names them (read them with llm_mask_flag()); the other
 * values have _set bits. A narrower scope overrides what it names. */
typedef struct {
    int mask;                        /* LLMMask */
    int anonymize_field;             /* LLMMaskAnonymizeField */
    int guard;                       /* LLMGuard */
    int guard_responses;             /* LLMGuardResponses */
    llm_mask_mode_e mode;            /* LLMMaskMode */
    llm_mask_answer_e responses;     /* LLMMaskResponses */
    llm_mask_ruleset_t *rules;       /* this scope's own set, or NULL */
    llm_guard_t *guard_rules;        /* this scope's own guard, or NULL */
    apr_array_header_t *services;    /* llm_mask_service_t */
    int fail_open;                   /* LLMGuardServiceFailure open */
    apr_interval_time_t timeout;     /* LLMGuardServiceTimeout */
    apr_interval_time_t budget;      /* LLMMaskTimeBudget */
    unsigned int mode_set:1, responses_set:1, services_set:1,
                 fail_open_set:1, timeout_set:1, budget_set:1;
} llm_mask_dir_conf_t;

/* A flag's value, or @a dflt when no scope set it. */
static APR_INLINE int llm_mask_flag(int v, int dflt)
{
    return v == LLM_MASK_UNSET ? dflt : v;
}

/* mod_llm_mask_config.c: directives, scopes, the default rules. */
extern const command_rec llm_mask_conf_cmds[];
void *llm_mask_conf_create(apr_pool_t *p, char *dir);
void *llm_mask_conf_merge(apr_pool_t *p, void *basev, void *addv);
/* Compile the default rules and guard for this configuration cycle
 * (once, before any directive): NULL, or why not. */
const char *llm_mask_conf_defaults(apr_pool_t *pconf);
const llm_mask_dir_conf_t *llm_mask_conf(request_rec *r);
/* The rule set and rule guard in force: the scope's own, or the
 * defaults. */
const llm_mask_ruleset_t *llm_mask_conf_rules(const llm_mask_dir_conf_t *c);
const llm_guard_t *llm_mask_conf_guard(const llm_mask_dir_conf_t *c);

/* mod_llm_mask_answer.c: what the answer's text goes through, set in
 * ctx->answer_filter for the router's LLM_XLATE (nothing when neither
 * LLMMaskResponses nor LLMGuardResponses asks for it). */
void llm_mask_answer_install(request_rec *r, const llm_mask_dir_conf_t *c,
                             llm_req_ctx_t *ctx);

/* mod_llm_mask_endpoint.c: the optional function llm_mask_fast_text
 * (the router's {prefix}/fast_text_mask route). */
void llm_mask_endpoint_register(void);

#endif /* MOD_LLM_MASK_GLUE_H */
