/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_mask's directives and scopes (docs/masking.md, "Directives"
 * and "How scopes merge").
 *
 * Rule sets are per server, VirtualHost or Location: a scope with rule
 * directives has its own compiled set (the defaults plus its
 * directives); the others share the defaults, compiled once per
 * configuration cycle.
 */

#include "apr_strings.h"
#include "http_core.h"

#include "mod_llm_mask_glue.h"

/* The defaults, compiled once per configuration cycle. */
static llm_mask_ruleset_t *default_rules;
static llm_guard_t *default_guard;

static apr_status_t forget_defaults(void *unused)
{
    (void)unused;
    default_rules = NULL;
    default_guard = NULL;
    return APR_SUCCESS;
}

const char *llm_mask_conf_defaults(apr_pool_t *pconf)
{
    const char *err = NULL;

    if (default_rules) {
        return NULL;
    }
    apr_pool_cleanup_register(pconf, NULL, forget_defaults,
                              apr_pool_cleanup_null);
    default_rules = llm_mask_ruleset_create(pconf);
    if (llm_mask_ruleset_compile(default_rules, &err) != APR_SUCCESS) {
        return apr_psprintf(pconf, "mod_llm_mask: default rules: %s", err);
    }
    default_guard = llm_guard_create(pconf);
    if (llm_guard_compile(default_guard, default_rules, &err)
        != APR_SUCCESS) {
        return apr_psprintf(pconf, "mod_llm_mask: default guard: %s", err);
    }
    return NULL;
}

const llm_mask_ruleset_t *llm_mask_conf_rules(const llm_mask_dir_conf_t *c)
{
    return c->rules ? c->rules : default_rules;
}

const llm_guard_t *llm_mask_conf_guard(const llm_mask_dir_conf_t *c)
{
    return c->guard_rules ? c->guard_rules : default_guard;
}

const llm_mask_dir_conf_t *llm_mask_conf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &llm_mask_module);
}

/* ------------------------------------------------------------------ */
/* Scopes                                                              */
/* ------------------------------------------------------------------ */

void *llm_mask_conf_create(apr_pool_t *p, char *dir)
{
    llm_mask_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->mask = LLM_MASK_UNSET;
    c->anonymize_field = LLM_MASK_UNSET;
    c->guard = LLM_MASK_UNSET;
    c->guard_responses = LLM_MASK_UNSET;
    c->timeout = LLM_MASK_DEFAULT_SERVICE_TIMEOUT;
    c->budget = LLM_MASK_DEFAULT_BUDGET;
    c->services = apr_array_make(p, 1, sizeof(llm_mask_service_t));
    return c;
}

#define MERGE_FLAG(f) c->f = add->f != LLM_MASK_UNSET ? add->f : base->f
#define MERGE(f) do { c->f = add->f##_set ? add->f : base->f; \
                      c->f##_set = add->f##_set | base->f##_set; } while (0)

void *llm_mask_conf_merge(apr_pool_t *p, void *basev, void *addv)
{
    llm_mask_dir_conf_t *base = basev;
    llm_mask_dir_conf_t *add = addv;
    llm_mask_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    MERGE_FLAG(mask);
    MERGE_FLAG(anonymize_field);
    MERGE_FLAG(guard);
    MERGE_FLAG(guard_responses);
    MERGE(mode);
    MERGE(responses);
    MERGE(services);
    MERGE(fail_open);
    MERGE(timeout);
    MERGE(budget);
    c->rules = add->rules ? add->rules : base->rules;
    c->guard_rules = add->guard_rules ? add->guard_rules : base->guard_rules;
    return c;
}

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

static const char *set_mode(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_mask_dir_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "static")) {
        c->mode = LLM_MASK_STATIC;
    }
    else if (!strcasecmp(arg, "pseudonym")) {
        c->mode = LLM_MASK_PSEUDONYM;
    }
    else {
        return "LLMMaskMode takes static or pseudonym";
    }
    c->mode_set = 1;
    return NULL;
}

static const char *set_responses(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_mask_dir_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "off")) {
        c->responses = LLM_MASK_ANSWER_OFF;
    }
    else if (!strcasecmp(arg, "unmask")) {
        c->responses = LLM_MASK_ANSWER_UNMASK;
    }
    else if (!strcasecmp(arg, "mask")) {
        c->responses = LLM_MASK_ANSWER_MASK;
    }
    else {
        return "LLMMaskResponses takes off, unmask or mask";
    }
    c->responses_set = 1;
    return NULL;
}

static const char *set_fail(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_mask_dir_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "open")) {
        c->fail_open = 1;
    }
    else if (!strcasecmp(arg, "closed")) {
        c->fail_open = 0;
    }
    else {
        return "LLMGuardServiceFailure takes open or closed";
    }
    c->fail_open_set = 1;
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_mask_dir_conf_t *c = dc;

    (void)cmd;
    if (ap_timeout_parameter_parse(arg, &c->timeout, "s") != APR_SUCCESS
        || c->timeout <= 0) {
        return "LLMGuardServiceTimeout takes a time such as 10 or 500ms";
    }
    c->timeout_set = 1;
    return NULL;
}

/* LLMMaskTimeBudget: milliseconds unless a unit says otherwise. */
static const char *set_budget(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_mask_dir_conf_t *c = dc;

    (void)cmd;
    if (ap_timeout_parameter_parse(arg, &c->budget, "ms") != APR_SUCCESS
        || c->budget < apr_time_from_msec(1)) {
        return "LLMMaskTimeBudget takes a time such as 2000 (ms) or 5s";
    }
    c->budget_set = 1;
    return NULL;
}

static const char *set_guard_service(cmd_parms *cmd, void *dc,
                                     const char *name, const char *url)
{
    llm_mask_dir_conf_t *c = dc;
    llm_mask_service_t *g;

    if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8)) {
        return "LLMGuardService takes a name and an http(s) URL";
    }
    /* The first of a scope replaces the parent's list. */
    if (!c->services_set) {
        c->services = apr_array_make(cmd->pool, 2, sizeof(*g));
        c->services_set = 1;
    }
    g = apr_array_push(c->services);
    g->name = name;
    g->url = url;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Masking rules                                                       */
/* ------------------------------------------------------------------ */

/* This scope's own rule set: the defaults plus its directives, compiled
 * again after each one (a handful at start-up). */
static llm_mask_ruleset_t *own_rules(cmd_parms *cmd, llm_mask_dir_conf_t *c)
{
    if (!c->rules) {
        c->rules = llm_mask_ruleset_create(cmd->pool);
    }
    return c->rules;
}

static const char *recompile(cmd_parms *cmd, llm_mask_dir_conf_t *c)
{
    const char *err = NULL;

    if (llm_mask_ruleset_compile(c->rules, &err) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    /* The guard's pii category reads these rules. */
    if (c->guard_rules
        && llm_guard_compile(c->guard_rules, c->rules, &err)
           != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    return NULL;
}

static const char *enable_rules(cmd_parms *cmd, void *dc, const char *name,
                                int on)
{
    llm_mask_dir_conf_t *c = dc;
    const char *err = NULL;

    if (llm_mask_ruleset_enable(own_rules(cmd, c), name, on, &err) != 0) {
        return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name, name,
                            err);
    }
    return recompile(cmd, c);
}

static const char *set_disable(cmd_parms *cmd, void *dc, const char *name)
{
    return enable_rules(cmd, dc, name, 0);
}

static const char *set_enable(cmd_parms *cmd, void *dc, const char *name)
{
    return enable_rules(cmd, dc, name, 1);
}

/* LLMMaskRule NAME TOKEN PATTERN [validator] */
static const char *set_rule(cmd_parms *cmd, void *dc, int argc,
                            char *const argv[])
{
    llm_mask_dir_conf_t *c = dc;
    const char *err = NULL;

    if (argc < 3 || argc > 4) {
        return "LLMMaskRule takes NAME TOKEN PATTERN [VALIDATOR]";
    }
    if (llm_mask_ruleset_add(own_rules(cmd, c), argv[0], argv[2], argv[1],
                             argc == 4 ? argv[3] : NULL, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMMaskRule %s: %s", argv[0], err);
    }
    return recompile(cmd, c);
}

static const char *set_rules_file(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_mask_dir_conf_t *c = dc;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *err = NULL;

    if (!path || llm_mask_ruleset_load(own_rules(cmd, c), path, &err)
                 != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "LLMMaskRulesFile %s: %s", arg,
                            err ? err : "bad path");
    }
    return recompile(cmd, c);
}

/* ------------------------------------------------------------------ */
/* Guard rules                                                         */
/* ------------------------------------------------------------------ */

static llm_guard_t *own_guard(cmd_parms *cmd, llm_mask_dir_conf_t *c)
{
    if (!c->guard_rules) {
        c->guard_rules = llm_guard_create(cmd->pool);
    }
    return c->guard_rules;
}

/* Against the default rules until the scope has its own: pre_config
 * compiled them before any directive. */
static const char *compile_guard(cmd_parms *cmd, llm_mask_dir_conf_t *c)
{
    const char *err = NULL;

    if (llm_guard_compile(c->guard_rules, llm_mask_conf_rules(c), &err)
        != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    return NULL;
}

/* LLMGuardCategory name [off] */
static const char *set_guard_category(cmd_parms *cmd, void *dc,
                                      const char *name, const char *onoff)
{
    llm_mask_dir_conf_t *c = dc;
    const char *err = NULL;
    int on = !onoff || strcasecmp(onoff, "off");

    if (llm_guard_category(own_guard(cmd, c), name, on, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMGuardCategory %s: %s", name, err);
    }
    return compile_guard(cmd, c);
}

static const char *set_guard_deny(cmd_parms *cmd, void *dc, const char *name,
                                  const char *pattern)
{
    llm_mask_dir_conf_t *c = dc;
    const char *err = NULL;

    if (llm_guard_deny(own_guard(cmd, c), name, pattern, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMGuardDeny %s: %s", name, err);
    }
    return compile_guard(cmd, c);
}

static const char *set_guard_allow(cmd_parms *cmd, void *dc,
                                   const char *pattern)
{
    llm_mask_dir_conf_t *c = dc;
    const char *err = NULL;

    if (llm_guard_allow(own_guard(cmd, c), pattern, &err) != 0) {
        return apr_psprintf(cmd->pool, "LLMGuardAllow: %s", err);
    }
    return compile_guard(cmd, c);
}

/* ------------------------------------------------------------------ */
/* The command table                                                   */
/* ------------------------------------------------------------------ */

#define SCOPES (RSRC_CONF | ACCESS_CONF)
#define FLAG_SLOT(f) (void *)APR_OFFSETOF(llm_mask_dir_conf_t, f)

const command_rec llm_mask_conf_cmds[] = {
    AP_INIT_FLAG("LLMMask", ap_set_flag_slot, FLAG_SLOT(mask), SCOPES,
                 "mask PII in every request sent to a provider (default "
                 "Off)"),
    AP_INIT_FLAG("LLMMaskAnonymizeField", ap_set_flag_slot,
                 FLAG_SLOT(anonymize_field), SCOPES,
                 "with LLMMask Off, mask requests that carry "
                 "\"anonymize\": true (default On)"),
    AP_INIT_TAKE1("LLMMaskMode", set_mode, NULL, SCOPES,
                  "static ({{EMAIL}}) or pseudonym ({{EMAIL_1}}, a mapping "
                  "per request) (default static)"),
    AP_INIT_ITERATE("LLMMaskDisable", set_disable, NULL, SCOPES,
                    "rules left out here, by name (EMAIL PESEL ...) or all"),
    AP_INIT_ITERATE("LLMMaskEnable", set_enable, NULL, SCOPES,
                    "rules taken back in, by name or all"),
    AP_INIT_TAKE_ARGV("LLMMaskRule", set_rule, NULL, SCOPES,
                      "a rule of this scope: NAME TOKEN PATTERN [VALIDATOR]"),
    AP_INIT_TAKE1("LLMMaskRulesFile", set_rules_file, NULL, SCOPES,
                  "rules of this scope from a file"),
    AP_INIT_TAKE1("LLMMaskResponses", set_responses, NULL, SCOPES,
                  "the answer's text: off (default), unmask (the request's "
                  "pseudonyms back to the originals, for the client) or "
                  "mask (PII in the answer masked too); streaming-safe"),
    AP_INIT_TAKE1("LLMMaskTimeBudget", set_budget, NULL, SCOPES,
                  "the longest a request's masking and rule guard may "
                  "take before it is refused with 413 (default 2000 ms)"),
    AP_INIT_FLAG("LLMGuardResponses", ap_set_flag_slot,
                 FLAG_SLOT(guard_responses), SCOPES,
                 "check the answer's text with the rule guard too; a "
                 "stream that turns unsafe ends with an error (default "
                 "Off)"),
    AP_INIT_FLAG("LLMGuard", ap_set_flag_slot, FLAG_SLOT(guard), SCOPES,
                 "check requests with the rule guard and the guard "
                 "services (default Off)"),
    AP_INIT_TAKE12("LLMGuardCategory", set_guard_category, NULL, SCOPES,
                   "a built-in guard category, and Off to leave it out"),
    AP_INIT_TAKE2("LLMGuardDeny", set_guard_deny, NULL, SCOPES,
                  "a deny rule: NAME PATTERN"),
    AP_INIT_TAKE1("LLMGuardAllow", set_guard_allow, NULL, SCOPES,
                  "a pattern that lets a text through whatever denies it"),
    AP_INIT_TAKE2("LLMGuardService", set_guard_service, NULL, SCOPES,
                  "an external guard service: NAME URL (the original's "
                  "nask_guard/sojka_guard contract)"),
    AP_INIT_TAKE1("LLMGuardServiceFailure", set_fail, NULL, SCOPES,
                  "when a guard service cannot answer: open (let through, "
                  "logged) or closed (refuse, default)"),
    AP_INIT_TAKE1("LLMGuardServiceTimeout", set_timeout, NULL, SCOPES,
                  "time limit of a guard service (default 10s)"),
    { NULL }
};
