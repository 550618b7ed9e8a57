/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The directives of mod_llm_metrics: LLMMetrics On|Off per server or
 * VirtualHost (whether its requests are counted), LLMMetricsKeyIds N
 * (global: how many key ids the key_id label may take). Where the
 * numbers are shown is up to the admin: SetHandler llm-metrics in a
 * <Location>. */

#include "apr_strings.h"
#include "http_core.h"

#include "mod_llm_metrics.h"

/* A server-config flag: ap_set_flag_slot would write the per-directory
 * config. */
static const char *set_enabled(cmd_parms *cmd, void *dconf, int on)
{
    llm_metrics_srv_conf_t *c = ap_get_module_config(
        cmd->server->module_config, &llm_metrics_module);

    (void)dconf;
    c->enabled = on;
    return NULL;
}

static const char *set_key_ids(cmd_parms *cmd, void *dconf, const char *arg)
{
    llm_metrics_srv_conf_t *c = ap_get_module_config(
        cmd->server->module_config, &llm_metrics_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long n;

    (void)dconf;
    if (err) {
        return err;
    }
    n = strtol(arg, &end, 10);
    if (!*arg || *end || n < 0 || n > LLM_METRICS_KEY_IDS_LIMIT) {
        return apr_psprintf(cmd->pool, "LLMMetricsKeyIds: '%s' is not a "
                            "number from 0 to %d", arg,
                            LLM_METRICS_KEY_IDS_LIMIT);
    }
    c->key_ids = (int)n;
    return NULL;
}

const command_rec llm_metrics_cmds[] = {
    AP_INIT_FLAG("LLMMetrics", set_enabled, NULL, RSRC_CONF, "count this server's requests in the metrics "
                 "(SetHandler llm-metrics shows them)"),
    AP_INIT_TAKE1("LLMMetricsKeyIds", set_key_ids, NULL, RSRC_CONF,
                  "how many API key ids the key_id label takes (first "
                  "come; the others are _other), default 100"),
    { NULL }
};

void *llm_metrics_create_srv(apr_pool_t *p, server_rec *s)
{
    llm_metrics_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->enabled = -1;
    c->key_ids = -1;
    return c;
}

void *llm_metrics_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    llm_metrics_srv_conf_t *base = basev, *add = addv;
    llm_metrics_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->enabled = add->enabled != -1 ? add->enabled : base->enabled;
    c->key_ids = add->key_ids != -1 ? add->key_ids : base->key_ids;
    return c;
}

int llm_metrics_enabled(server_rec *s)
{
    llm_metrics_srv_conf_t *c = ap_get_module_config(s->module_config,
                                                     &llm_metrics_module);

    return c->enabled == 1;
}

int llm_metrics_key_ids(server_rec *main_server)
{
    llm_metrics_srv_conf_t *c = ap_get_module_config(
        main_server->module_config, &llm_metrics_module);

    return c->key_ids >= 0 ? c->key_ids : LLM_METRICS_KEY_IDS_DEFAULT;
}
