/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Require llm-permission <perm>... and Require llm-model <pattern>...
 *
 * Both are mod_authz_core providers, so they combine with every other
 * Require in <RequireAny>/<RequireAll>. A request that was not
 * authenticated by a key gets AUTHZ_DENIED_NO_USER (authenticate
 * first), or AUTHZ_DENIED when someone else authenticated it (a Basic
 * user holds no key permissions).
 *
 * The model is in the body, which is read after authorisation. So
 * "Require llm-model" grants the key holder provisionally and keeps its
 * patterns; once mod_llm_router has parsed the body (llm_request_parsed)
 * the model must match them, and the key's own models, or the request
 * is refused with 403 model_denied_by_policy. Inside <RequireAny> only
 * the line that granted binds: an admin granted by "Require user admin"
 * before it is not held to it. Put every pattern on one line, and do
 * not negate it ("Require not llm-model" cannot see the model either).
 */

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"

#include "mod_llm_access.h"

/* The key that authenticated r, or NULL. */
static const llm_access_key_t *key_of(request_rec *r)
{
    return llm_access_req(r)->key;
}

static authz_status no_key(request_rec *r)
{
    return r->user ? AUTHZ_DENIED : AUTHZ_DENIED_NO_USER;
}

static const char *parse_perms(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    unsigned *bits = apr_pcalloc(cmd->pool, sizeof(*bits));
    const char *word;

    while (*(word = ap_getword_conf(cmd->temp_pool, &line))) {
        unsigned bit = llm_access_perm_bit(word);

        if (!bit) {
            return apr_pstrcat(cmd->pool, "Require llm-permission: ", word,
                               " is none of chat, embedding, anthropic, "
                               "ollama, builtin, admin", NULL);
        }
        *bits |= bit;
    }
    if (!*bits) {
        return "Require llm-permission needs one permission or more";
    }
    *parsed = bits;
    return NULL;
}

/* Granted when the key holds one of the listed permissions (admin
 * holds all). */
static authz_status check_perms(request_rec *r, const char *line,
                                const void *parsed)
{
    const llm_access_key_t *k = key_of(r);
    const unsigned *bits = parsed;

    (void)line;
    if (!k) {
        return no_key(r);
    }
    if (llm_access_perm_allows(k->perms, *bits)) {
        return AUTHZ_GRANTED;
    }
    llm_access_refuse(r, LLM_ACCESS_DENIED, HTTP_FORBIDDEN,
                      "endpoint_denied_by_policy",
                      "Access to this endpoint is denied by policy.", k);
    return AUTHZ_DENIED;
}

static const char *parse_models(cmd_parms *cmd, const char *line,
                                const void **parsed)
{
    apr_array_header_t *globs = apr_array_make(cmd->pool, 2,
                                               sizeof(const char *));
    const char *word;

    while (*(word = ap_getword_conf(cmd->pool, &line))) {
        APR_ARRAY_PUSH(globs, const char *) = word;
    }
    if (!globs->nelts) {
        return "Require llm-model needs a model name or pattern";
    }
    *parsed = globs;
    return NULL;
}

static authz_status check_models(request_rec *r, const char *line,
                                 const void *parsed)
{
    llm_access_req_t *st = llm_access_req(r);

    (void)line;
    if (!st->key) {
        return no_key(r);
    }
    if (!st->require_models) {
        st->require_models = parsed;
    }
    return AUTHZ_GRANTED;
}

static const authz_provider perm_provider = { check_perms, parse_perms };
static const authz_provider model_provider = { check_models, parse_models };

void llm_access_register_authz(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "llm-permission",
                              AUTHZ_PROVIDER_VERSION, &perm_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "llm-model",
                              AUTHZ_PROVIDER_VERSION, &model_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}

/* ------------------------------------------------------------------ */
/* The model, once the router knows it                                 */
/* ------------------------------------------------------------------ */

/* The optional function llm_access_model_allowed (mod_llm.h): the
 * router lists only the models this says yes to. The same test as the
 * request's model below: the key's models, and the patterns of the
 * Require llm-model line that granted this request, if one did. A
 * request without a key may use (and see) every model. */
int llm_access_model_allowed(request_rec *r, const char *model)
{
    llm_access_req_t *st = llm_access_req(r);

    return !st->key
           || (llm_access_model_matches(st->key->models, model)
               && llm_access_model_matches(st->require_models, model));
}

int llm_access_request_parsed(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_access_req_t *st = llm_access_req(r);
    const char *model = ctx->model_name;

    if (!st->key || !model) {
        return DECLINED;
    }
    if (llm_access_model_allowed(r, model)) {
        return OK;
    }
    ctx->error_code = LLM_MODEL_DENIED_CODE;
    ctx->error_message = LLM_MODEL_DENIED_MESSAGE;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, LLMLOGNO(05006)
                  "%s %s: 403 model_denied_by_policy (key %s, model %s)",
                  r->method, r->uri, st->key->id, model);
    llm_access_announce(r, LLM_ACCESS_DENIED, HTTP_FORBIDDEN,
                        ctx->error_code, st->key->id, model, NULL);
    return HTTP_FORBIDDEN;
}
