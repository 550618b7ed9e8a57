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
#include "llm_redis.h"

/* Health, queue and probes are global: provider state is one per
 * provider, whichever scope routes to it. Redis is per VirtualHost: a
 * virtual host may share its choices with other nodes, or not. */
typedef struct {
    llm_health_conf_t health;
    llm_lb_conf_t lb;
    llm_balance_probe_conf_t probe;
    llm_balance_redis_t *redis;
    int redis_set;
    const char *redis_prefix;
    apr_interval_time_t redis_timeout;
    apr_interval_time_t redis_lock_ttl;
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

static llm_balance_redis_t *redis_of(request_rec *r)
{
    llm_balance_srv_conf_t *c = ap_get_module_config(r->server->module_config,
                                                     &llm_balance_module);

    return c->redis;
}

/* A method whose state is shared by nodes through Redis when the
 * VirtualHost has LLMBalanceRedis, and lives in shared memory else. */
#define SHARED_METHOD(name, kind)                                           \
    static int name##_shared_choose(request_rec *r, const llm_model_t *m,   \
                                    llm_provider_t *const *c, int n,        \
                                    llm_attempt_t *a)                       \
    {                                                                       \
        return llm_balance_redis_choose(redis_of(r), kind, &llm_lb_##name,  \
                                        r, m, c, n, a);                     \
    }                                                                       \
    static void name##_shared_release(request_rec *r, const llm_model_t *m, \
                                      llm_attempt_t *a)                     \
    {                                                                       \
        llm_balance_redis_release(&llm_lb_##name, r, m, a);                 \
    }                                                                       \
    static const llm_balance_method_t name##_shared = {                     \
        #name, name##_shared_choose, name##_shared_release                  \
    }

SHARED_METHOD(balanced, LLM_REDIS_BALANCED);
SHARED_METHOD(weighted, LLM_REDIS_WEIGHTED);
SHARED_METHOD(dynamic_weighted, LLM_REDIS_DYNAMIC);
SHARED_METHOD(least_inflight, LLM_REDIS_LEAST);
SHARED_METHOD(first_available, LLM_REDIS_FIRST);
SHARED_METHOD(first_available_optim, LLM_REDIS_WARMEST);

HEALTHY_METHOD(balanced, balanced_shared);
HEALTHY_METHOD(weighted, weighted_shared);
HEALTHY_METHOD(dynamic_weighted, dynamic_weighted_shared);
HEALTHY_METHOD(least_inflight, least_inflight_shared);
HEALTHY_METHOD(latency, llm_lb_latency);
HEALTHY_METHOD(p2c, llm_lb_p2c);
HEALTHY_METHOD(first_available, first_available_shared);
HEALTHY_METHOD(first_available_optim, first_available_optim_shared);
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

static void *merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    llm_balance_srv_conf_t *base = basev;
    llm_balance_srv_conf_t *add = addv;
    llm_balance_srv_conf_t *c = apr_pmemdup(p, base, sizeof(*c));

    if (add->redis_set) {
        c->redis = add->redis;
        c->redis_set = 1;
    }
    else if (c->redis && (add->redis_prefix || add->redis_timeout
                          || add->redis_lock_ttl)) {
        /* Own settings on the enclosing scope's server: its own copy. */
        c->redis = llm_balance_redis_copy(p, c->redis);
    }
    c->redis_prefix = add->redis_prefix ? add->redis_prefix
                                        : base->redis_prefix;
    c->redis_timeout = add->redis_timeout ? add->redis_timeout
                                          : base->redis_timeout;
    c->redis_lock_ttl = add->redis_lock_ttl ? add->redis_lock_ttl
                                            : base->redis_lock_ttl;
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

static const char *set_redis(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    srv_conf(cmd)->redis_set = 1;
    return llm_balance_redis_parse(cmd->pool, arg, &srv_conf(cmd)->redis);
}

static const char *set_redis_prefix(cmd_parms *cmd, void *dc,
                                    const char *arg)
{
    (void)dc;
    srv_conf(cmd)->redis_prefix = arg;
    return NULL;
}

static const char *set_redis_time(cmd_parms *cmd, const char *arg,
                                  apr_interval_time_t *out,
                                  apr_interval_time_t least)
{
    if (ap_timeout_parameter_parse(arg, out, "s") != APR_SUCCESS
        || *out < least) {
        return apr_psprintf(cmd->pool, "%s takes a time of at least %"
                            APR_TIME_T_FMT " ms, such as 300 or 250ms",
                            cmd->cmd->name, apr_time_as_msec(least));
    }
    return NULL;
}

static const char *set_redis_timeout(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    (void)dc;
    return set_redis_time(cmd, arg, &srv_conf(cmd)->redis_timeout,
                          apr_time_from_msec(1));
}

static const char *set_redis_lock_ttl(cmd_parms *cmd, void *dc,
                                      const char *arg)
{
    (void)dc;
    return set_redis_time(cmd, arg, &srv_conf(cmd)->redis_lock_ttl,
                          apr_time_from_sec(1));
}

static const command_rec llm_balance_cmds[] = {
    AP_INIT_TAKE1("LLMBalanceRedis", set_redis, NULL, RSRC_CONF,
                  "share selection state with other nodes through this "
                  "Redis server: host[:port][/db], redis://..., "
                  "unix:/path[?db=N], or off (default off)"),
    AP_INIT_TAKE1("LLMBalanceRedisPrefix", set_redis_prefix, NULL,
                  RSRC_CONF, "prefix of the Redis keys (default llm:)"),
    AP_INIT_TAKE1("LLMBalanceRedisTimeout", set_redis_timeout, NULL,
                  RSRC_CONF, "connect and command time limit of Redis "
                  "(default 200ms)"),
    AP_INIT_TAKE1("LLMBalanceRedisLockTTL", set_redis_lock_ttl, NULL,
                  RSRC_CONF, "life of a provider lock or lease in Redis, "
                  "so that a node that dies cannot hold one longer; set it "
                  "above the longest request (default 300s)"),
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

/* Prefix and times may come before or after LLMBalanceRedis, and from
 * an enclosing scope: they are folded in once the configuration is read. */
static void apply_redis_settings(llm_balance_srv_conf_t *c)
{
    llm_redis_target_t *t = llm_balance_redis_target(c->redis);

    if (c->redis_prefix) {
        t->prefix = c->redis_prefix;
    }
    if (c->redis_timeout) {
        t->timeout = c->redis_timeout;
    }
    if (c->redis_lock_ttl) {
        t->lock_ttl = c->redis_lock_ttl;
    }
}

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    llm_balance_redis_pre_config();
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    llm_balance_srv_conf_t *c = ap_get_module_config(s->module_config,
                                                     &llm_balance_module);

    (void)plog;
    (void)ptemp;
    server_rec *vs;

    health = c->health;
    llm_lb_conf = c->lb;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    for (vs = s; vs; vs = vs->next) {
        llm_balance_srv_conf_t *vc = ap_get_module_config(vs->module_config,
                                                          &llm_balance_module);
        int rv;

        if (vc->redis) {
            apply_redis_settings(vc);
        }
        if ((rv = llm_balance_redis_post_config(pconf, vs, vc->redis))
            != OK) {
            return rv;
        }
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
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
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
    merge_srv_conf,
    llm_balance_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
