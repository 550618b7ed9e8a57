/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_audit's directives (docs/audit.md, "Directives").
 *
 * What is audited is per directory (LLMAudit in a server, VirtualHost
 * or Location); where and how records are written is per server, since
 * a trail is one directory written by every child through one lock:
 * LLMAuditDir, LLMAuditRecipient, LLMAuditKeyring, LLMAuditEncrypt and
 * LLMAuditRotate in the main server or a VirtualHost, which takes what
 * it does not set from the main server. None is allowed in .htaccess:
 * a directory's owner must not be able to switch the audit off.
 */

#include <errno.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"

#include "mod_llm_audit.h"

void *llm_audit_create_dir(apr_pool_t *p, char *dir)
{
    llm_audit_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->audit = LLM_AUDIT_UNSET;
    c->events = LLM_AUDIT_UNSET;
    c->on_failure = LLM_AUDIT_UNSET;
    c->mask_mappings = LLM_AUDIT_UNSET;
    return c;
}

void *llm_audit_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    llm_audit_dir_conf_t *base = basev, *add = addv;
    llm_audit_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

#define MERGE(f) c->f = add->f != LLM_AUDIT_UNSET ? add->f : base->f
    MERGE(audit);
    MERGE(events);
    MERGE(on_failure);
    MERGE(mask_mappings);
#undef MERGE
    return c;
}

void *llm_audit_create_srv(apr_pool_t *p, server_rec *s)
{
    llm_audit_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->encrypt = LLM_AUDIT_UNSET;
    c->rotate = -1;
    c->rotate_age = -1;
    c->batch = LLM_AUDIT_UNSET;
    return c;
}

void *llm_audit_merge_srv(apr_pool_t *p, void *basev, void *addv)
{
    llm_audit_srv_conf_t *base = basev, *add = addv;
    llm_audit_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->dir = add->dir ? add->dir : base->dir;
    c->recipients = add->recipients ? add->recipients : base->recipients;
    c->keyring = add->keyring ? add->keyring : base->keyring;
    c->encrypt = add->encrypt != LLM_AUDIT_UNSET ? add->encrypt
                                                  : base->encrypt;
    c->rotate = add->rotate >= 0 ? add->rotate : base->rotate;
    c->rotate_age = add->rotate_age >= 0 ? add->rotate_age
                                         : base->rotate_age;
    if (add->batch != LLM_AUDIT_UNSET) {
        c->batch = add->batch;
        c->batch_age = add->batch_age;
    }
    else {
        c->batch = base->batch;
        c->batch_age = base->batch_age;
    }
    return c;
}

static llm_audit_srv_conf_t *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config,
                                &llm_audit_module);
}

static const char *set_dir(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    srv_conf(cmd)->dir = ap_server_root_relative(cmd->pool, arg);
    if (!srv_conf(cmd)->dir) {
        return apr_pstrcat(cmd->pool, "LLMAuditDir: bad path ", arg, NULL);
    }
    return NULL;
}

static int is_fingerprint(const char *s)
{
    apr_size_t n = strlen(s), i;

    for (i = 0; i < n && apr_isxdigit(s[i]); i++) {
    }
    return i == n && (n == 40 || n == 64);
}

/* A full fingerprint, or a key file (relative to ServerRoot). Short key
 * ids are refused: anyone can make a key that matches one. */
static const char *add_recipient(cmd_parms *cmd, void *dc, const char *arg)
{
    llm_audit_srv_conf_t *c = srv_conf(cmd);
    const char *spec = arg;

    (void)dc;
    if (!c->recipients) {
        c->recipients = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    if (!is_fingerprint(arg)) {
        apr_size_t n = strlen(arg), i;

        for (i = 0; i < n && apr_isxdigit(arg[i]); i++) {
        }
        if (i == n && n <= 16) {
            return apr_psprintf(cmd->pool, "LLMAuditRecipient %s: a short "
                                "key id is not enough; give the full "
                                "fingerprint (40 hex digits) or a key file",
                                arg);
        }
        spec = ap_server_root_relative(cmd->pool, arg);
        if (!spec) {
            return apr_pstrcat(cmd->pool, "LLMAuditRecipient: bad path ",
                               arg, NULL);
        }
    }
    APR_ARRAY_PUSH(c->recipients, const char *) = spec;
    return NULL;
}

static const char *set_keyring(cmd_parms *cmd, void *dc, const char *arg)
{
    (void)dc;
    srv_conf(cmd)->keyring = ap_server_root_relative(cmd->pool, arg);
    return srv_conf(cmd)->keyring ? NULL : "LLMAuditKeyring: bad path";
}

static const char *set_encrypt(cmd_parms *cmd, void *dc, int on)
{
    (void)dc;
    srv_conf(cmd)->encrypt = on;
    return NULL;
}

/* A time: seconds, or with s, min, h, d (never "m": a size's M). */
static int parse_age(const char *arg, apr_interval_time_t *out)
{
    char *end;
    apr_int64_t n, unit;

    errno = 0;
    n = apr_strtoi64(arg, &end, 10);
    if (end == arg || n < 0 || errno == ERANGE) {
        return 0;
    }
    if (!strcasecmp(end, "s") || !*end)  unit = 1;
    else if (!strcasecmp(end, "min"))    unit = 60;
    else if (!strcasecmp(end, "h"))      unit = 3600;
    else if (!strcasecmp(end, "d"))      unit = 86400;
    else return 0;
    if (n > APR_INT64_C(100) * 365 * 86400 / unit) {
        return 0;
    }
    *out = apr_time_from_sec(n * unit);
    return 1;
}

static int is_age(const char *arg)
{
    apr_size_t n = strlen(arg);

    return n && (apr_tolower(arg[n - 1]) == 's' || apr_tolower(arg[n - 1]) == 'h'
                 || apr_tolower(arg[n - 1]) == 'd'
                 || (n > 3 && !strcasecmp(arg + n - 3, "min")));
}

/* A size: bytes, or with K, M, G; 0 never rotates. */
static const char *parse_size(apr_pool_t *p, const char *arg, apr_off_t *out)
{
    char *end;
    apr_off_t n, unit = 1;

    if (apr_strtoff(&n, arg, &end, 10) != APR_SUCCESS || n < 0) {
        return apr_pstrcat(p, "LLMAuditRotate: not a size: ", arg, NULL);
    }
    switch (apr_toupper(*end)) {
    case 'G': unit = (apr_off_t)1 << 30; end++; break;
    case 'M': unit = (apr_off_t)1 << 20; end++; break;
    case 'K': unit = (apr_off_t)1 << 10; end++; break;
    default: break;
    }
    /* Checked before it is multiplied: no overflow. */
    if (n > ((apr_off_t)1 << 50) / unit) {
        n = -1;
    }
    n *= unit;
    if (*end || n < 0 || (n > 0 && n < 4096)) {
        return apr_pstrcat(p, "LLMAuditRotate: a size from 4K to 1024T (or "
                           "0: never), not ", arg, NULL);
    }
    *out = n;
    return NULL;
}

/* LLMAuditRotate size [age] | age [size]: a new file past a size, after
 * a time, whichever comes first. */
static const char *set_rotate(cmd_parms *cmd, void *dc, const char *a1,
                              const char *a2)
{
    llm_audit_srv_conf_t *c = srv_conf(cmd);
    const char *args[2] = { a1, a2 };
    int i;

    (void)dc;
    if (a2 && is_age(a1) == is_age(a2)) {
        return "LLMAuditRotate: a size and a time, not two of one kind "
               "(a time ends in s, min, h or d; 30m is 30 megabytes)";
    }
    for (i = 0; i < 2 && args[i]; i++) {
        const char *why;

        if (is_age(args[i])) {
            if (!parse_age(args[i], &c->rotate_age)
                || (c->rotate_age && c->rotate_age < apr_time_from_sec(60))) {
                return apr_pstrcat(cmd->pool, "LLMAuditRotate: a time of at "
                                   "least 60s (s, min, h, d), not ",
                                   args[i], NULL);
            }
        }
        else if ((why = parse_size(cmd->pool, args[i], &c->rotate)) != NULL) {
            return why;
        }
    }
    return NULL;
}

/* LLMAuditSync record | batch [count] [time]. */
static const char *set_sync(cmd_parms *cmd, void *dc, const char *args)
{
    llm_audit_srv_conf_t *c = srv_conf(cmd);
    const char *w = ap_getword_conf(cmd->temp_pool, &args);

    (void)dc;
    if (!strcasecmp(w, "record") && !*args) {
        c->batch = 0;
        return NULL;
    }
    if (strcasecmp(w, "batch")) {
        return "LLMAuditSync: record, or batch [count] [time]";
    }
    c->batch = LLM_AUDIT_DEFAULT_BATCH;
    c->batch_age = LLM_AUDIT_DEFAULT_BATCH_AGE;
    while (*(w = ap_getword_conf(cmd->temp_pool, &args))) {
        char *end;
        apr_int64_t n;

        if (is_age(w)) {
            if (!parse_age(w, &c->batch_age) || !c->batch_age
                || c->batch_age > apr_time_from_sec(3600)) {
                return apr_pstrcat(cmd->pool, "LLMAuditSync batch: a time "
                                   "from 1s to 1h, not ", w, NULL);
            }
            continue;
        }
        n = apr_strtoi64(w, &end, 10);
        if (*end || n < 2 || n > LLM_AUDIT_BATCH_MAX) {
            return apr_psprintf(cmd->pool, "LLMAuditSync batch: a count "
                                "from 2 to %d, not %s", LLM_AUDIT_BATCH_MAX,
                                w);
        }
        c->batch = (int)n;
    }
    return NULL;
}

static const struct {
    const char *name;
    int bit;
} event_names[] = {
    { "request", LLM_AUDIT_EV_REQUEST },
    { "masking", LLM_AUDIT_EV_MASKING },
    { "guard",   LLM_AUDIT_EV_GUARD },
    { "access",  LLM_AUDIT_EV_ACCESS },
    { "all",     LLM_AUDIT_EV_ALL },
    { "none",    0 },
};

/* LLMAuditEvents name...: these, or +name/-name on what the scope
 * above chose (merged at request time: the base is not known here, so
 * a relative list starts from all). */
static const char *set_events(cmd_parms *cmd, void *dcv, const char *arg)
{
    llm_audit_dir_conf_t *dc = dcv;
    int op = (*arg == '+' || *arg == '-') ? *arg++ : 0;
    apr_size_t i;

    for (i = 0; i < sizeof(event_names) / sizeof(event_names[0]); i++) {
        if (!strcasecmp(arg, event_names[i].name)) {
            break;
        }
    }
    if (i == sizeof(event_names) / sizeof(event_names[0])) {
        return apr_pstrcat(cmd->pool, "LLMAuditEvents: unknown event ", arg,
                           " (request, masking, guard, access, all, none)",
                           NULL);
    }
    if (dc->events == LLM_AUDIT_UNSET) {
        dc->events = op ? LLM_AUDIT_EV_ALL : 0;
    }
    if (op == '-') {
        dc->events &= ~event_names[i].bit;
    }
    else {
        dc->events |= event_names[i].bit;
    }
    return NULL;
}

static const char *set_on_failure(cmd_parms *cmd, void *dcv,
                                  const char *arg)
{
    llm_audit_dir_conf_t *dc = dcv;

    (void)cmd;
    if (!strcasecmp(arg, "closed")) {
        dc->on_failure = LLM_AUDIT_FAIL_CLOSED;
    }
    else if (!strcasecmp(arg, "open")) {
        dc->on_failure = LLM_AUDIT_FAIL_OPEN;
    }
    else {
        return "LLMAuditOnFailure: closed or open";
    }
    return NULL;
}

const command_rec llm_audit_cmds[] = {
    AP_INIT_FLAG("LLMAudit", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(llm_audit_dir_conf_t, audit),
                 RSRC_CONF | ACCESS_CONF,
                 "On: write an audit record for each request here"),
    AP_INIT_TAKE1("LLMAuditDir", set_dir, NULL, RSRC_CONF,
                  "the directory of the audit trail (relative to "
                  "ServerRoot)"),
    AP_INIT_ITERATE("LLMAuditRecipient", add_recipient, NULL, RSRC_CONF,
                    "who can read the records: a key's full fingerprint "
                    "or a public key file"),
    AP_INIT_TAKE1("LLMAuditKeyring", set_keyring, NULL, RSRC_CONF,
                  "the GnuPG home that holds the keys LLMAuditRecipient "
                  "names by fingerprint"),
    AP_INIT_FLAG("LLMAuditEncrypt", set_encrypt, NULL, RSRC_CONF,
                 "Off: write records in clear (default On)"),
    AP_INIT_TAKE12("LLMAuditRotate", set_rotate, NULL, RSRC_CONF,
                   "a new file when one would pass this size (64M; 0: "
                   "never) and/or is older than this time (24h)"),
    AP_INIT_RAW_ARGS("LLMAuditSync", set_sync, NULL, RSRC_CONF,
                     "record: each record sealed and synced before its "
                     "response ends; batch [count] [time]: sealed and "
                     "synced in batches of at most count records or time"),
    AP_INIT_ITERATE("LLMAuditEvents", set_events, NULL,
                    RSRC_CONF | ACCESS_CONF,
                    "the events recorded here: request, masking, guard, "
                    "access, all, none, or +event/-event"),
    AP_INIT_TAKE1("LLMAuditOnFailure", set_on_failure, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "closed: refuse requests (503) while records cannot be "
                  "written; open: serve them and log each lost record"),
    AP_INIT_FLAG("LLMAuditMaskMappings", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(llm_audit_dir_conf_t, mask_mappings),
                 RSRC_CONF | ACCESS_CONF,
                 "On: masking records hold each pseudonym's original "
                 "value (PII: the trail must be encrypted)"),
    { NULL }
};
