/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Directives, the per-directory merge, and the start-up work that turns
 * models files into proxy workers.
 *
 * A models file named by several scopes is read once per configuration
 * pass. Every provider origin (scheme://host:port/) gets one mod_proxy
 * worker, defined in the main server in post_config, so that all
 * VirtualHosts and Locations routing to a server share one pool of
 * keep-alive connections per child process. Worker pointers are looked
 * up in child_init: mod_proxy keeps workers in an array that moves when
 * it grows, so a pointer taken while workers are still being defined
 * would dangle. The workers themselves are made in llm_router_proxy.c,
 * with every other use of mod_proxy's internals.
 *
 * The merged configuration is read through the accessors in
 * llm_router_private.h.
 */

#include <stdlib.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "http_core.h"
#include "ap_provider.h"

#include "llm_router_private.h"
#include "llm_builtin.h"

/* Models files of the current configuration pass, by absolute path.
 * Reset in pre_config; lives in pconf. */
static apr_hash_t *loaded_tables;
static const llm_balance_method_t *default_balance;

/* ------------------------------------------------------------------ */
/* Create and merge                                                    */
/* ------------------------------------------------------------------ */

void *llm_router_create_dir_conf(apr_pool_t *p, char *dir)
{
    (void)dir;
    return apr_pcalloc(p, sizeof(llm_router_dir_conf_t));
}

#define MERGE(field) \
    do { \
        c->field = add->field##_set ? add->field : base->field; \
        c->field##_set = add->field##_set || base->field##_set; \
    } while (0)

void *llm_router_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    llm_router_dir_conf_t *base = basev;
    llm_router_dir_conf_t *add = addv;
    llm_router_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    MERGE(enabled);
    MERGE(table);
    MERGE(prefix);
    MERGE(language);
    MERGE(prompts);
    MERGE(max_body);
    MERGE(timeout);
    MERGE(first_byte_timeout);
    MERGE(idle_timeout);
    MERGE(total_timeout);
    MERGE(max_attempts);
    MERGE(retry_wait);
    MERGE(retry_backoff);
    MERGE(retry_same);
    MERGE(max_objects);
    MERGE(forward_headers);
    MERGE(balance);
    c->balance_name = add->balance_set ? add->balance_name
                                       : base->balance_name;
    return c;
}

void *llm_router_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    llm_router_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->connect_timeout = LLM_DEFAULT_CONNECT;
    return c;
}

void llm_router_server_info(server_rec *s, int *enabled,
                            const char **models_path, const char **method)
{
    llm_router_dir_conf_t *c = ap_get_module_config(s->lookup_defaults,
                                                    &llm_router_module);

    *enabled = c && c->enabled;
    *models_path = c && c->table ? c->table->models->path : NULL;
    *method = c && c->balance_set ? c->balance_name : LLM_BALANCE_DEFAULT;
}

const llm_balance_method_t *llm_router_balance(const llm_router_dir_conf_t *c,
                                               const llm_model_t *model)
{
    const llm_balance_method_t *m;

    /* A method named for the model in the models file wins over the
     * scope's; both were checked at start-up. */
    if (model->balance
        && (m = ap_lookup_provider(LLM_BALANCE_GROUP, model->balance,
                                   LLM_BALANCE_VERSION))) {
        return m;
    }
    return c->balance_set ? c->balance : default_balance;
}

/* ------------------------------------------------------------------ */
/* Directives                                                          */
/* ------------------------------------------------------------------ */

static const char *set_enabled(cmd_parms *cmd, void *dc, int on)
{
    llm_router_dir_conf_t *c = dc;

    (void)cmd;
    c->enabled = on;
    c->enabled_set = 1;
    return NULL;
}

static const char *set_models(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    llm_router_table_t *t;
    const char *err;

    if (!path) {
        return apr_pstrcat(cmd->pool, "LLMRouterModels: invalid path ",
                           arg, NULL);
    }
    t = apr_hash_get(loaded_tables, path, APR_HASH_KEY_STRING);
    if (!t) {
        t = apr_pcalloc(cmd->pool, sizeof(*t));
        if ((err = llm_models_load(cmd->pool, path, &t->models))) {
            return apr_pstrcat(cmd->pool, "LLMRouterModels: ", err, NULL);
        }
        t->workers = apr_pcalloc(cmd->pool, sizeof(proxy_worker *)
                                 * (t->models->providers->nelts + 1));
        apr_hash_set(loaded_tables, t->models->path, APR_HASH_KEY_STRING, t);
    }
    c->table = t;
    c->table_set = 1;
    return NULL;
}

static const char *set_prefix(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    apr_size_t n;

    /* As the original's LLM_ROUTER_EP_PREFIX: trimmed, a leading '/'
     * added when missing, "" (or "none") for no prefix. We also drop a
     * trailing '/', which the original kept and turned into "//". */
    while (apr_isspace(*arg)) {
        arg++;
    }
    if (!strcasecmp(arg, "none")) {
        arg = "";
    }
    n = strlen(arg);
    while (n > 0 && (arg[n - 1] == '/' || apr_isspace(arg[n - 1]))) {
        n--;
    }
    if (n == 0) {
        c->prefix = "";
    }
    else {
        c->prefix = apr_pstrcat(cmd->pool, arg[0] == '/' ? "" : "/",
                                apr_pstrmemdup(cmd->pool, arg, n), NULL);
    }
    if (ap_strchr_c(c->prefix, '?') || ap_strchr_c(c->prefix, '#')) {
        return "LLMRouterPrefix must be a plain path such as /api";
    }
    c->prefix_set = 1;
    return NULL;
}

static const char *set_language(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    const char *s;

    for (s = arg; *s; s++) {
        if (!apr_isalpha(*s) && *s != '-' && *s != '_') {
            return "LLMRouterDefaultLanguage takes a language code such as "
                   "en or pl";
        }
    }
    if (!*arg) {
        return "LLMRouterDefaultLanguage must not be empty";
    }
    c->language = apr_pstrdup(cmd->pool, arg);
    ap_str_tolower((char *)c->language);
    c->language_set = 1;
    return NULL;
}

/* Read at start-up (and at each graceful restart): a broken prompt file
 * stops httpd with its name, instead of failing requests later. */
static const char *set_prompts(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    const char *dir = ap_server_root_relative(cmd->pool, arg);
    const char *why = NULL;

    if (!dir || llm_prompts_load(cmd->pool, dir, &c->prompts, &why)
                != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "LLMRouterPrompts %s: %s", arg,
                            why ? why : "bad path");
    }
    c->prompts_set = 1;
    return NULL;
}

/* "10485760", "512K", "10M", "1G". */
static const char *set_max_body(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    char *end;
    apr_off_t n;

    if (apr_strtoff(&n, arg, &end, 10) != APR_SUCCESS || n <= 0) {
        return "LLMRouterMaxBody takes a positive size such as 10M";
    }
    switch (apr_toupper(*end)) {
    case '\0': break;
    case 'K': n *= 1024; end++; break;
    case 'M': n *= 1024 * 1024; end++; break;
    case 'G': n *= 1024 * 1024 * 1024; end++; break;
    default: end = "x";
    }
    if (*end) {
        return apr_pstrcat(cmd->pool, "LLMRouterMaxBody: cannot read size ",
                           arg, NULL);
    }
    c->max_body = n;
    c->max_body_set = 1;
    return NULL;
}

static const char *parse_timeout(cmd_parms *cmd, const char *arg,
                                 apr_interval_time_t *out)
{
    if (ap_timeout_parameter_parse(arg, out, "s") != APR_SUCCESS
        || *out <= 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, " takes a positive "
                           "time such as 300 (seconds) or 1500ms", NULL);
    }
    return NULL;
}

#define TIMEOUT_SETTER(field)                                               \
    static const char *set_##field(cmd_parms *cmd, void *dc,                \
                                   const char *arg)                         \
    {                                                                       \
        llm_router_dir_conf_t *c = dc;                                      \
        const char *err = parse_timeout(cmd, arg, &c->field);              \
                                                                            \
        c->field##_set = !err;                                              \
        return err;                                                         \
    }

TIMEOUT_SETTER(timeout)
TIMEOUT_SETTER(first_byte_timeout)
TIMEOUT_SETTER(idle_timeout)
TIMEOUT_SETTER(total_timeout)

static const char *set_max_attempts(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    char *end;
    long n = strtol(arg, &end, 10);

    (void)cmd;
    if (*end || n < 1 || n > 16) {
        return "LLMRouterMaxAttempts takes a number of attempts from 1 to 16";
    }
    c->max_attempts = (int)n;
    c->max_attempts_set = 1;
    return NULL;
}

static const char *set_retry_wait(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;

    (void)cmd;
    if (ap_timeout_parameter_parse(arg, &c->retry_wait, "s") != APR_SUCCESS
        || c->retry_wait < 0 || c->retry_wait > apr_time_from_sec(60)) {
        return "LLMRouterRetryWait takes a time from 0 to 60 s, such as 5 "
               "(seconds) or 1500ms";
    }
    c->retry_wait_set = 1;
    return NULL;
}

static const char *set_retry_backoff(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    llm_router_dir_conf_t *c = dc;

    (void)cmd;
    if (ap_timeout_parameter_parse(arg, &c->retry_backoff, "ms")
        != APR_SUCCESS || c->retry_backoff < 0
        || c->retry_backoff > apr_time_from_sec(10)) {
        return "LLMRouterRetryBackoff takes a time from 0 to 10 s, such as "
               "250 (milliseconds) or 1s";
    }
    c->retry_backoff_set = 1;
    return NULL;
}

static const char *set_retry_same(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;

    (void)cmd;
    if (!strcasecmp(arg, "auto")) {
        c->retry_same = LLM_RETRY_SAME_AUTO;
    }
    else if (!strcasecmp(arg, "on")) {
        c->retry_same = LLM_RETRY_SAME_ON;
    }
    else if (!strcasecmp(arg, "off")) {
        c->retry_same = LLM_RETRY_SAME_OFF;
    }
    else {
        return "LLMRouterRetrySame takes auto, on or off";
    }
    c->retry_same_set = 1;
    return NULL;
}

static const char *set_max_objects(cmd_parms *cmd, void *dc,
                                   const char *arg)
{
    llm_router_dir_conf_t *c = dc;
    apr_int64_t n;
    char *end;

    (void)cmd;
    n = apr_strtoi64(arg, &end, 10);
    if (*end || n < 0 || n > 100000000) {
        return "LLMRouterMaxJsonObjects takes a number of objects "
               "(0: no limit)";
    }
    c->max_objects = (apr_size_t)n;
    c->max_objects_set = 1;
    return NULL;
}

/* LLMRouterForwardHeaders name... | None: a narrower scope's list
 * replaces a wider one's. */
static const char *add_forward_header(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    llm_router_dir_conf_t *c = dc;

    if (!c->forward_headers_set) {
        c->forward_headers = apr_array_make(cmd->pool, 4,
                                            sizeof(const char *));
        c->forward_headers_set = 1;
    }
    if (strcasecmp(arg, "None")) {
        if (!ap_strchr_c(arg, ':') && *arg) {
            APR_ARRAY_PUSH(c->forward_headers, const char *) = arg;
            return NULL;
        }
        return "LLMRouterForwardHeaders takes header names (or None)";
    }
    return NULL;
}

static const char *set_connect_timeout(cmd_parms *cmd, void *dc,
                                       const char *arg)
{
    llm_router_srv_conf_t *c =
        ap_get_module_config(cmd->server->module_config, &llm_router_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    return err ? err : parse_timeout(cmd, arg, &c->connect_timeout);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ap_list_provider_names_t *)a)->provider_name,
                  ((const ap_list_provider_names_t *)b)->provider_name);
}

static const char *unknown_balance(apr_pool_t *p, const char *name)
{
    apr_array_header_t *names = ap_list_provider_names(p, LLM_BALANCE_GROUP,
                                                       LLM_BALANCE_VERSION);
    const char *known = "";
    int i;

    if (!names || names->nelts == 0) {
        return apr_psprintf(p, "no balance methods are registered (is "
                            "mod_llm_balance loaded?), so \"%s\" is unknown",
                            name);
    }
    qsort(names->elts, (size_t)names->nelts, sizeof(ap_list_provider_names_t),
          by_name);
    for (i = 0; i < names->nelts; i++) {
        known = apr_pstrcat(p, known, i ? ", " : "",
                            APR_ARRAY_IDX(names, i, ap_list_provider_names_t)
                                .provider_name, NULL);
    }
    return apr_psprintf(p, "unknown balance method \"%s\" (known: %s)",
                        name, known);
}

static const char *set_balance(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_router_dir_conf_t *c = dc;

    c->balance = ap_lookup_provider(LLM_BALANCE_GROUP, arg,
                                    LLM_BALANCE_VERSION);
    if (!c->balance) {
        return apr_pstrcat(cmd->pool, "LLMRouterBalance: ",
                           unknown_balance(cmd->pool, arg), NULL);
    }
    c->balance_name = apr_pstrdup(cmd->pool, arg);
    c->balance_set = 1;
    return NULL;
}

const command_rec llm_router_cmds[] = {
    AP_INIT_FLAG("LLMRouter", set_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On to serve the LLM API here (default Off)"),
    AP_INIT_TAKE1("LLMRouterModels", set_models, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "the models file (models-config.json schema)"),
    AP_INIT_TAKE1("LLMRouterPrefix", set_prefix, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "path prefix of the prefixed routes (default /api; "
                  "\"none\" for no prefix)"),
    AP_INIT_TAKE1("LLMRouterDefaultLanguage", set_language, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "language of built-in prompts when a request names none "
                  "(default pl)"),
    AP_INIT_TAKE1("LLMRouterPrompts", set_prompts, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "directory of the built-in endpoints' system prompts "
                  "(builtin/system/<lang>/<name>.prompt)"),
    AP_INIT_TAKE1("LLMRouterMaxBody", set_max_body, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "largest request body accepted, e.g. 10M (default 10M)"),
    AP_INIT_TAKE1("LLMRouterTimeout", set_timeout, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "how long a provider may stay silent, before its first "
                  "byte or between two reads (default 300s)"),
    AP_INIT_TAKE1("LLMRouterFirstByteTimeout", set_first_byte_timeout, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "how long a provider may take to start answering "
                  "(default LLMRouterTimeout)"),
    AP_INIT_TAKE1("LLMRouterIdleTimeout", set_idle_timeout, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "how long a stream may stall between two reads (default "
                  "LLMRouterTimeout)"),
    AP_INIT_TAKE1("LLMRouterTotalTimeout", set_total_timeout, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "longest time for a whole request, streams included "
                  "(default none)"),
    AP_INIT_TAKE1("LLMRouterMaxAttempts", set_max_attempts, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "providers tried per request before giving up, the first "
                  "included (default 3; 1 = no fail-over)"),
    AP_INIT_TAKE1("LLMRouterRetryWait", set_retry_wait, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "longest Retry-After of a 429/503 the gateway waits out "
                  "to retry the same provider when no other can serve "
                  "(default 5 s; 0 = fail over at once)"),
    AP_INIT_TAKE1("LLMRouterRetryBackoff", set_retry_backoff, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "pause before a provider that answered 5xx or broke the "
                  "connection is tried again, jittered by +-50% (default "
                  "250 ms)"),
    AP_INIT_TAKE1("LLMRouterRetrySame", set_retry_same, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "retry a provider once after a 5xx or a reset: auto "
                  "(only when no other provider of the model is usable, "
                  "the default), on (always first), off"),
    AP_INIT_TAKE1("LLMRouterMaxJsonObjects", set_max_objects, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "JSON objects a request body may hold (default 10000; "
                  "json-c spends about 1 KiB on each; 0 = no limit)"),
    AP_INIT_ITERATE("LLMRouterForwardHeaders", add_forward_header, NULL,
                    RSRC_CONF | ACCESS_CONF,
                    "client request headers passed on to providers besides "
                    "the ones each API needs (default None)"),
    AP_INIT_TAKE1("LLMRouterConnectTimeout", set_connect_timeout, NULL,
                  RSRC_CONF,
                  "time to open a connection to a provider (default 5s; "
                  "global)"),
    AP_INIT_TAKE1("LLMRouterBalance", set_balance, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "provider selection method (default balanced)"),
    { NULL }
};

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

int llm_router_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    loaded_tables = apr_hash_make(pconf);
    default_balance = NULL;
    return OK;
}

static int check_model_methods(server_rec *s, llm_router_table_t *t)
{
    int i;

    for (i = 0; i < t->models->models->nelts; i++) {
        llm_model_t *m = APR_ARRAY_IDX(t->models->models, i, llm_model_t *);

        if (m->balance && !ap_lookup_provider(LLM_BALANCE_GROUP, m->balance,
                                              LLM_BALANCE_VERSION)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(01002)
                         "%s: model \"%s\": %s", t->models->path, m->name,
                         unknown_balance(s->process->pool, m->balance));
            return !OK;
        }
    }
    return OK;
}

int llm_router_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    llm_router_srv_conf_t *sc = ap_get_module_config(s->module_config,
                                                     &llm_router_module);
    apr_hash_index_t *hi;

    (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || apr_hash_count(loaded_tables) == 0) {
        return OK;
    }
    default_balance = ap_lookup_provider(LLM_BALANCE_GROUP,
                                         LLM_BALANCE_DEFAULT,
                                         LLM_BALANCE_VERSION);
    if (!default_balance) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(01003)
                     "mod_llm_router: the default balance method \"%s\" is "
                     "not registered; load mod_llm_balance",
                     LLM_BALANCE_DEFAULT);
        return !OK;
    }
    for (hi = apr_hash_first(ptemp, loaded_tables); hi;
         hi = apr_hash_next(hi)) {
        llm_router_table_t *t = apr_hash_this_val(hi);

        int rc;

        if (llm_router_define_workers(pconf, ptemp, s, t,
                                      sc->connect_timeout) != OK
            || check_model_methods(s, t) != OK) {
            return !OK;
        }
        rc = llm_run_llm_models_loaded(pconf, s, t->models);
        if (rc != OK && rc != DECLINED) {
            return rc;
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, LLMLOGNO(01004)
                     "%s: %d active models, %d providers", t->models->path,
                     t->models->models->nelts,
                     t->models->providers->nelts);
    }
    return OK;
}

void llm_router_child_init(apr_pool_t *p, server_rec *s)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, loaded_tables); hi; hi = apr_hash_next(hi)) {
        llm_router_find_workers(p, s, apr_hash_this_val(hi));
    }
}
