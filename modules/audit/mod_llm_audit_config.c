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

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_core.h"

#include "mod_llm_audit.h"

void *llm_audit_create_dir(apr_pool_t *p, char *dir)
{
    llm_audit_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)dir;
    c->audit = LLM_AUDIT_UNSET;
    return c;
}

void *llm_audit_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    llm_audit_dir_conf_t *base = basev, *add = addv;
    llm_audit_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));

    c->audit = add->audit != LLM_AUDIT_UNSET ? add->audit : base->audit;
    return c;
}

void *llm_audit_create_srv(apr_pool_t *p, server_rec *s)
{
    llm_audit_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    (void)s;
    c->encrypt = LLM_AUDIT_UNSET;
    c->rotate = -1;
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

/* A size: bytes, or with K, M, G; 0 never rotates. */
static const char *set_rotate(cmd_parms *cmd, void *dc, const char *arg)
{
    char *end;
    apr_off_t n;

    (void)dc;
    if (apr_strtoff(&n, arg, &end, 10) != APR_SUCCESS || n < 0) {
        return apr_pstrcat(cmd->pool, "LLMAuditRotate: not a size: ", arg,
                           NULL);
    }
    switch (apr_toupper(*end)) {
    case 'G': n *= 1024; /* fall through */
    case 'M': n *= 1024; /* fall through */
    case 'K': n *= 1024; end++; break;
    default: break;
    }
    if (*end || (n > 0 && n < 4096)) {
        return apr_pstrcat(cmd->pool, "LLMAuditRotate: a size of at least "
                           "4K (or 0: never), not ", arg, NULL);
    }
    srv_conf(cmd)->rotate = (apr_off_t)n;
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
    AP_INIT_TAKE1("LLMAuditRotate", set_rotate, NULL, RSRC_CONF,
                  "a new file when one would pass this size (64M; 0: "
                  "never)"),
    { NULL }
};
