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
    c->per_address = -1;
    return c;
}

void *llm_access_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    llm_access_dir_conf_t *base = basev, *add = addv;
    llm_access_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->keys = add->keys != -1 ? add->keys : base->keys;
    c->sources = add->sources ? add->sources : base->sources;
    c->requests = add->requests.set ? add->requests : base->requests;
    c->tokens = add->tokens.set ? add->tokens : base->tokens;
    c->per_address = add->per_address != -1 ? add->per_address
                                            : base->per_address;
    c->budget_set = add->budget_set || base->budget_set;
    c->budget = add->budget_set ? add->budget : base->budget;
    return c;
}

void *llm_access_create_srv(apr_pool_t *p, server_rec *s)
{
    llm_access_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->redis_fail_closed = -1;
    c->key_redis = -1;
    c->key_cache = -1;
    c->used_interval = -1;
    c->budget_interval = -1;
    return c;
}

void *llm_access_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    llm_access_srv_conf_t *base = basev, *add = addv;
    llm_access_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->key_file = add->key_file ? add->key_file : base->key_file;
    c->limit_slots = add->limit_slots ? add->limit_slots : base->limit_slots;
    if (add->redis) {
        c->redis = add->redis;
        c->redis_host = add->redis_host;
        c->redis_port = add->redis_port;
    }
    else {
        c->redis = base->redis;
        c->redis_host = base->redis_host;
        c->redis_port = base->redis_port;
    }
    c->key_redis = add->key_redis != -1 ? add->key_redis : base->key_redis;
    c->key_cache = add->key_cache >= 0 ? add->key_cache : base->key_cache;
    c->used_interval = add->used_interval >= 0 ? add->used_interval
                                               : base->used_interval;
    c->budget_file = add->budget_file ? add->budget_file : base->budget_file;
    c->budget_interval = add->budget_interval >= 0 ? add->budget_interval
                                                   : base->budget_interval;
    c->has_budget = add->has_budget;
    c->redis_fail_closed = add->redis_fail_closed != -1
                           ? add->redis_fail_closed
                           : base->redis_fail_closed;
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

/* "60/min", "100k/hour", or "off" (none here, whatever outer scopes
 * say). */
static const char *set_limit(cmd_parms *cmd, void *dcv, const char *arg)
{
    llm_access_dir_conf_t *dc = dcv;
    llm_access_limit_conf_t *l = cmd->info ? &dc->tokens : &dc->requests;
    const char *why;

    l->set = 1;
    if (!strcasecmp(arg, "off")) {
        l->rate.count = 0;
        return NULL;
    }
    if ((why = llm_access_rate_parse(arg, &l->rate)) != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name, arg,
                            why);
    }
    return NULL;
}

/* "5M/month", "200k/day", or "off". */
static const char *set_budget(cmd_parms *cmd, void *dcv, const char *arg)
{
    llm_access_dir_conf_t *dc = dcv;
    const char *why;

    dc->budget_set = 1;
    if (!strcasecmp(arg, "off")) {
        dc->budget.count = 0;
        return NULL;
    }
    if ((why = llm_access_budget_parse(arg, &dc->budget)) != NULL) {
        return apr_psprintf(cmd->pool, "LLMBudgetTokens %s: %s", arg, why);
    }
    /* so that start-up can say when budgets are not kept in a file */
    llm_access_srv(cmd->server)->has_budget = 1;
    return NULL;
}

/* Where httpd's parent keeps the budgets across a full stop, or off. */
static const char *set_budget_file(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    llm_access_srv_conf_t *sc = llm_access_srv(cmd->server);

    (void)dc;
    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        sc->budget_file = "";
        return NULL;
    }
    sc->budget_file = ap_server_root_relative(cmd->pool, arg);
    return sc->budget_file ? NULL
        : apr_pstrcat(cmd->pool, "LLMBudgetStateFile: bad path ", arg, NULL);
}

/* A whole number of seconds from 1 to a day into *out: 1, or 0. */
static int interval_seconds(const char *arg, int *out)
{
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);

    if (*end || end == arg || n < 1 || n > 86400) {
        return 0;
    }
    *out = (int)n;
    return 1;
}

static const char *set_budget_interval(cmd_parms *cmd, void *dc,
                                       const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err) {
        return err;
    }
    return interval_seconds(arg, &llm_access_srv(cmd->server)->budget_interval)
           ? NULL : "LLMBudgetStateInterval: seconds, 1 to 86400";
}

static const char *set_slots(cmd_parms *cmd, void *dc, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t n = apr_atoi64(arg);

    (void)dc;
    if (err) {
        return err;
    }
    if (n < 16 || n > 16 * 1024 * 1024) {
        return "LLMLimitSlots: a number of buckets from 16 to 16M";
    }
    llm_access_srv(cmd->server)->limit_slots = (apr_uint32_t)n;
    return NULL;
}

static const char *set_redis(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_access_srv_conf_t *sc = llm_access_srv(cmd->server);
    const char *why;

    (void)dc;
    sc->redis = apr_pstrdup(cmd->pool, arg);
    if (!strcasecmp(arg, "off")) {
        sc->redis_host = NULL;
        return NULL;
    }
    why = llm_access_redis_parse(cmd->pool, arg, &sc->redis_host,
                                 &sc->redis_port);
    return why ? apr_psprintf(cmd->pool, "LLMLimitRedis %s: %s", arg, why)
               : NULL;
}

static const char *set_redis_fail(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_access_srv_conf_t *sc = llm_access_srv(cmd->server);

    (void)dc;
    if (!strcasecmp(arg, "open") || !strcasecmp(arg, "closed")) {
        sc->redis_fail_closed = !strcasecmp(arg, "closed");
        return NULL;
    }
    return "LLMLimitRedisFail: open or closed";
}

static const char *set_key_redis(cmd_parms *cmd, void *dc, int on)
{
    (void)dc;
    llm_access_srv(cmd->server)->key_redis = on;
    return NULL;
}

static const char *set_key_cache(cmd_parms *cmd, void *dc, const char *arg)
{
    char *end;
    apr_int64_t n = apr_strtoi64(arg, &end, 10);

    (void)dc;
    if (*end || n < 0 || n > 86400) {
        return "LLMAccessKeyCache: seconds, 0 to 86400";
    }
    llm_access_srv(cmd->server)->key_cache = apr_time_from_sec(n);
    return NULL;
}

/* Seconds between two writes of the keys' last_used, or off. */
static const char *set_used_interval(cmd_parms *cmd, void *dc,
                                     const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)dc;
    if (err) {
        return err;
    }
    if (!strcasecmp(arg, "off")) {
        llm_access_srv(cmd->server)->used_interval = 0;
        return NULL;
    }
    return interval_seconds(arg, &llm_access_srv(cmd->server)->used_interval)
           ? NULL : "LLMAccessLastUsedInterval: seconds, 1 to 86400, or off";
}

const command_rec llm_access_cmds[] = {
    AP_INIT_FLAG("LLMAccessKeyRedis", set_key_redis, NULL, RSRC_CONF,
                 "On: keys the key file does not know are looked up in "
                 "LLMLimitRedis (llm:key:<sha256>)"),
    AP_INIT_TAKE1("LLMAccessKeyCache", set_key_cache, NULL, RSRC_CONF,
                  "how long (seconds) a node remembers a key read from "
                  "Redis: how long a revoked key may still work (30)"),
    AP_INIT_TAKE1("LLMLimitRedis", set_redis, NULL, RSRC_CONF,
                  "host:port of the Redis that keeps request and token "
                  "limits for every node, or off (this httpd's shared "
                  "memory)"),
    AP_INIT_TAKE1("LLMLimitRedisFail", set_redis_fail, NULL, RSRC_CONF,
                  "when Redis cannot be reached: open (count on this "
                  "node; default) or closed (refuse with 503)"),
    AP_INIT_TAKE1("LLMLimitRequests", set_limit, NULL, RSRC_CONF | ACCESS_CONF,
                  "requests per window for each key (or user, or address): "
                  "60/min, 1000/day, 5/10s, or off"),
    AP_INIT_TAKE1("LLMLimitTokens", set_limit, (void *)1,
                  RSRC_CONF | ACCESS_CONF,
                  "tokens per window for each key, counted from each "
                  "answer's usage: 100k/hour, or off"),
    AP_INIT_TAKE1("LLMBudgetTokens", set_budget, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "tokens each key may spend per calendar day or month "
                  "(UTC): 5M/month, 200k/day, or off"),
    AP_INIT_TAKE1("LLMBudgetStateFile", set_budget_file, NULL, RSRC_CONF,
                  "where httpd's parent keeps the token budgets across a "
                  "full stop (default: <LLMAccessKeyFile>.budgets), or "
                  "off"),
    AP_INIT_TAKE1("LLMBudgetStateInterval", set_budget_interval, NULL,
                  RSRC_CONF,
                  "seconds between two writes of the budget state file "
                  "(60)"),
    AP_INIT_FLAG("LLMLimitPerAddress", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(llm_access_dir_conf_t, per_address),
                 RSRC_CONF | ACCESS_CONF,
                 "On: each client address of a key has its own limits"),
    AP_INIT_TAKE1("LLMLimitSlots", set_slots, NULL, RSRC_CONF,
                  "how many buckets the shared limit table holds, and "
                  "keys the last-used table (16384)"),
    AP_INIT_TAKE1("LLMAccessLastUsedInterval", set_used_interval, NULL,
                  RSRC_CONF,
                  "seconds between two writes of the keys' last_used "
                  "times to their store (60), or off"),
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
