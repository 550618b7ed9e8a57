/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_access's directives (docs/access.md, "Directives").
 *
 * The key store is per server (VirtualHost), read once per (re)start;
 * where keys are accepted and from which headers is per directory, so
 * that a <Location> can take keys while another keeps Basic only.
 */

#include "apr_strings.h"
#include "http_core.h"

#include "mod_llm_access.h"

void *llm_access_create_dir(apr_pool_t *p, char *dir)
{
    llm_access_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->keys = -1;
    return c;
}

void *llm_access_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    llm_access_dir_conf_t *base = basev, *add = addv;
    llm_access_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->keys = add->keys != -1 ? add->keys : base->keys;
    c->sources = add->sources ? add->sources : base->sources;
    return c;
}

void *llm_access_create_srv(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(llm_access_srv_conf_t));
}

void *llm_access_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    llm_access_srv_conf_t *base = basev, *add = addv;
    llm_access_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->key_file = add->key_file ? add->key_file : base->key_file;
    return c;
}

llm_access_dir_conf_t *llm_access_dir(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &llm_access_module);
}

llm_access_srv_conf_t *llm_access_srv(server_rec *s)
{
    return ap_get_module_config(s->module_config, &llm_access_module);
}

static const char *set_key_file(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_access_srv_conf_t *sc = llm_access_srv(cmd->server);

    (void)dc;
    sc->key_file = ap_server_root_relative(cmd->pool, arg);
    return sc->key_file ? NULL
        : apr_pstrcat(cmd->pool, "LLMAccessKeyFile: bad path ", arg, NULL);
}

/* Each call replaces what an outer scope said: the list given is the
 * whole list for this scope. */
static const char *add_source(cmd_parms *cmd, void *dcv, const char *arg)
{
    llm_access_dir_conf_t *dc = dcv;
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {
        { "bearer", LLM_SRC_BEARER }, { "x-api-key", LLM_SRC_XAPIKEY },
        { "api-key", LLM_SRC_APIKEY }, { "query", LLM_SRC_QUERY },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strcasecmp(arg, names[i].name)) {
            dc->sources |= names[i].bit;
            return NULL;
        }
    }
    return apr_pstrcat(cmd->pool, "LLMAccessKeySources: ", arg, " is none "
                       "of bearer, x-api-key, api-key, query", NULL);
}

const command_rec llm_access_cmds[] = {
    AP_INIT_TAKE1("LLMAccessKeyFile", set_key_file, NULL, RSRC_CONF,
                  "the key store: a JSON file of key hashes and policies "
                  "(relative to ServerRoot), read at each (re)start"),
    AP_INIT_FLAG("LLMAccessKeys", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(llm_access_dir_conf_t, keys),
                 OR_AUTHCFG | RSRC_CONF,
                 "On: accept API keys here under any AuthType (Basic "
                 "for people, keys for programs); AuthType llm-key "
                 "implies it"),
    AP_INIT_ITERATE("LLMAccessKeySources", add_source, NULL,
                    OR_AUTHCFG | RSRC_CONF,
                    "where a key may come from: bearer x-api-key "
                    "(default) api-key query"),
    { NULL }
};
