/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The directives of mod_llm_metrics: LLMMetrics On|Off per server or
 * VirtualHost (whether its requests are counted). Where the numbers are
 * shown is up to the admin: SetHandler llm-metrics in a <Location>. */

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

const command_rec llm_metrics_cmds[] = {
    AP_INIT_FLAG("LLMMetrics", set_enabled, NULL, RSRC_CONF, "count this server's requests in the metrics "
                 "(SetHandler llm-metrics shows them)"),
    { NULL }
};

void *llm_metrics_create_srv(apr_pool_t *p, server_rec *s)
{
    llm_metrics_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->enabled = -1;
    return c;
}

void *llm_metrics_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    llm_metrics_srv_conf_t *base = basev, *add = addv;
    llm_metrics_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->enabled = add->enabled != -1 ? add->enabled : base->enabled;
    return c;
}

int llm_metrics_enabled(server_rec *s)
{
    llm_metrics_srv_conf_t *c = ap_get_module_config(s->module_config,
                                                     &llm_metrics_module);

    return c->enabled == 1;
}
