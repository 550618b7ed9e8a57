/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_balance: provider-selection methods for mod_llm_router,
 * registered as APR providers in the group LLM_BALANCE_GROUP, the way
 * mod_lbmethod_* register theirs for mod_proxy_balancer. A method is
 * chosen by name with LLMRouterBalance, or per model in the models file.
 *
 * Each method lives in its own llm_lb_<name>.c and knows only how to
 * rank usable providers; every method registered here is wrapped in the
 * passive health of llm_health.c (a provider that keeps failing is left
 * out for a while, then probed), and the provider state they all read
 * lives in shared memory (llm_balance_shm.c).
 */

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "ap_provider.h"
#include "http_core.h"

#define LLM_BALANCE_MODULE_FILE
#include "llm_balance_private.h"
#include "llm_health.h"
#include "llm_lb.h"

/* Global only: provider state is one per provider, whichever scope
 * routes to it. */
typedef struct {
    llm_health_conf_t health;
    llm_lb_conf_t lb;
    llm_balance_probe_conf_t probe;
} llm_balance_srv_conf_t;

/* The main server's settings, fixed in post_config before any child. */
static llm_health_conf_t health;

/* A method of this module with health around it. */
#define HEALTHY_METHOD(name, inner)                                         \
    static int name##_choose(request_rec *r, const llm_model_t *m,          \
                             llm_provider_t *const *c, int n,               \
                             llm_attempt_t *a)                              \
    {                                                                       \
        return llm_health_choose(&inner, r, m, c, n, a, apr_time_now());   \
    }                                                                       \
    static void name##_release(request_rec *r, const llm_model_t *m,        \
                               llm_attempt_t *a)                            \
    {                                                                       \
        llm_health_release(&inner, &health, r, m, a, apr_time_now());      \
    }                                                                       \
    static const llm_balance_method_t name = {                              \
        #name, name##_choose, name##_release                                \
    }

HEALTHY_METHOD(balanced, llm_lb_balanced);
HEALTHY_METHOD(weighted, llm_lb_weighted);
HEALTHY_METHOD(dynamic_weighted, llm_lb_dynamic_weighted);
HEALTHY_METHOD(least_inflight, llm_lb_least_inflight);
HEALTHY_METHOD(latency, llm_lb_latency);
HEALTHY_METHOD(p2c, llm_lb_p2c);
HEALTHY_METHOD(first_available, llm_lb_first_available);
HEALTHY_METHOD(first_available_optim, llm_lb_first_available_optim);
HEALTHY_METHOD(adaptive, llm_lb_adaptive);

static const llm_balance_method_t *const methods[] = {
    &balanced, &weighted, &dynamic_weighted, &least_inflight, &latency,
    &p2c, &first_available, &first_available_optim, &adaptive, NULL
};

static void *create_srv_conf(apr_pool_t *p, server_rec *s)
{
    llm_balance_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->health.failures = LLM_HEALTH_DEFAULT_FAILURES;
    c->health.retry = LLM_HEALTH_DEFAULT_RETRY;
    c->health.max_retry_after = LLM_HEALTH_DEFAULT_MAX_RA;
    c->lb.queue_time = LLM_LB_DEFAULT_QUEUE_TIME;
    c->probe.timeout = apr_time_from_sec(2);
    return c;
}

static llm_balance_srv_conf_t *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config,
                                &llm_balance_module);
}

static const char *set_failures(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long n = strtol(arg, &end, 10);

    (void)dc;
    if (err) {
        return err;
    }
    if (*end || n < 1 || n > 1000) {
        return "LLMBalanceFailures takes a number of failures from 1 to 1000";
    }
    srv_conf(cmd)->health.failures = (apr_uint32_t)n;
    return NULL;
}

static const char *parse_time(cmd_parms *cmd, const char *arg,
                              apr_interval_time_t *out,
                              apr_interval_time_t least)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    if (ap_timeout_parameter_parse(arg, out, "s") != APR_SUCCESS
        || *out < least) {
        return apr_psprintf(cmd->pool, "%s takes a time of at least %"
                            APR_TIME_T_FMT " ms, such as 30 or 2m",
                            cmd->cmd->name, apr_time_as_msec(least));
    }
    return NULL;
}

static const char *set_time(cmd_parms *cmd, const char *arg,
                            apr_interval_time_t *out)
{
    return parse_time(cmd, arg, out, apr_time_from_sec(1));
}

static const char *set_retry(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    return set_time(cmd, arg, &srv_conf(cmd)->health.retry);
}

static const char *set_max_retry_after(cmd_parms *cmd, void *dc,
                                       const char *arg)
{
    (void)dc;
    return set_time(cmd, arg, &srv_conf(cmd)->health.max_retry_after);
}

static const char *set_queue_time(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err) {
        return err;
    }
    if (ap_timeout_parameter_parse(arg, &srv_conf(cmd)->lb.queue_time, "s")
        != APR_SUCCESS || srv_conf(cmd)->lb.queue_time < 0) {
        return "LLMBalanceQueueTime takes a time such as 10 or 500ms "
               "(0: do not wait)";
    }
    return NULL;
}

static const char *set_probe_interval(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    (void)dc;
    if (!strcmp(arg, "0") || !strcasecmp(arg, "off")) {
        const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

        srv_conf(cmd)->probe.interval = 0;
        return err;
    }
    return set_time(cmd, arg, &srv_conf(cmd)->probe.interval);
}

static const char *set_probe_timeout(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    (void)dc;
    return parse_time(cmd, arg, &srv_conf(cmd)->probe.timeout,
                      apr_time_from_msec(10));
}

static const command_rec llm_balance_cmds[] = {
    AP_INIT_TAKE1("LLMBalanceProbeInterval", set_probe_interval, NULL,
                  RSRC_CONF,
                  "probe every provider this often from the parent process "
                  "(default off; e.g. 10s; global)"),
    AP_INIT_TAKE1("LLMBalanceProbeTimeout", set_probe_timeout, NULL,
                  RSRC_CONF, "time limit of one probe (default 2s; global)"),
    AP_INIT_TAKE1("LLMBalanceQueueTime", set_queue_time, NULL, RSRC_CONF,
                  "first_available*: longest wait for a provider to free up "
                  "(default 10s; global)"),
    AP_INIT_TAKE1("LLMBalanceFailures", set_failures, NULL, RSRC_CONF,
                  "failures in a row that take a provider out (default 3; "
                  "global)"),
    AP_INIT_TAKE1("LLMBalanceRetry", set_retry, NULL, RSRC_CONF,
                  "how long a provider stays out before one probe request "
                  "(default 30s; global)"),
    AP_INIT_TAKE1("LLMBalanceMaxRetryAfter", set_max_retry_after, NULL,
                  RSRC_CONF,
                  "longest Retry-After of a provider that is honoured "
                  "(default 300s; global)"),
    { NULL }
};

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    llm_balance_srv_conf_t *c = ap_get_module_config(s->module_config,
                                                     &llm_balance_module);

    (void)plog;
    (void)ptemp;
    health = c->health;
    llm_lb_conf = c->lb;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    c->probe.health = &health;
    return llm_balance_probe_start(pconf, s, &c->probe);
}

static void register_hooks(apr_pool_t *p)
{
    const llm_balance_method_t *const *m;

    for (m = methods; *m; m++) {
        ap_register_provider(p, LLM_BALANCE_GROUP, (*m)->name,
                             LLM_BALANCE_VERSION, *m);
    }
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(llm_balance_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_models_loaded, llm_balance_shm_attach, NULL,
                      NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_balance) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    create_srv_conf,
    NULL,
    llm_balance_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
