/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * AuthType llm-key: who the client is, from the API key it presents.
 *
 * The official clients send the key as "Authorization: Bearer" (OpenAI,
 * Ollama) or "x-api-key" (Anthropic); "api-key" (Azure OpenAI) and the
 * query string are taken only where LLMAccessKeySources says so, since
 * a key in a URL ends up in logs and browser histories.
 *
 * Under AuthType llm-key a request without a key is refused here
 * (missing_key). Under another AuthType with LLMAccessKeys On, a request
 * without a key is left to that AuthType (mod_auth_basic runs after
 * this hook), so people and programs can share one Location.
 */

#include "apr_strings.h"
#include "apr_lib.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "mod_llm_access.h"
#include "llm_buf.h"

/* The text after "<scheme> " when @a value uses @a scheme, trimmed. */
static const char *after_scheme(request_rec *r, const char *value,
                                const char *scheme)
{
    apr_size_t n = strlen(scheme);

    if (!value || strncasecmp(value, scheme, n) || value[n] != ' ') {
        return NULL;
    }
    return llm_str_trim(r->pool, value + n + 1);
}

static const char *header_key(request_rec *r, const char *name)
{
    const char *v = apr_table_get(r->headers_in, name);

    return v ? llm_str_trim(r->pool, v) : NULL;
}

/* A key in the query string would be written to the access log with
 * the request line (%r, %q, %U%q): the parameter @a pair ("api_key=...")
 * becomes "api_key=redacted" there, in the request line and the query,
 * whether the query is a source of keys here or not. The whole pair is
 * looked for, so that a short value is not found elsewhere in the line. */
static void redact(request_rec *r, const char *pair)
{
    char **fields[] = { &r->the_request, &r->unparsed_uri, &r->args };
    apr_size_t i, n = strlen(pair);

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char *at = *fields[i] ? strstr(*fields[i], pair) : NULL;

        if (at) {
            *fields[i] = apr_pstrcat(r->pool,
                                     apr_pstrndup(r->pool, *fields[i],
                                                  at - *fields[i] + 8),
                                     "redacted", at + n, NULL);
        }
    }
}

/* ?api_key=... or ?api-key=... (the first one). */
static const char *query_key(request_rec *r)
{
    char *args, *pair, *last;

    if (!r->args) {
        return NULL;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (pair = apr_strtok(args, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        if ((!strncmp(pair, "api_key=", 8) || !strncmp(pair, "api-key=", 8))
            && pair[8]) {
            char *v = apr_pstrdup(r->pool, pair + 8);

            redact(r, pair);
            return ap_unescape_urlencoded(v) == OK ? v : NULL;
        }
    }
    return NULL;
}

static const char *presented_key(request_rec *r, unsigned sources)
{
    const char *key = NULL, *in_query = query_key(r);

    if (sources & LLM_SRC_BEARER) {
        key = after_scheme(r, apr_table_get(r->headers_in, "Authorization"),
                           "Bearer");
    }
    if ((!key || !*key) && (sources & LLM_SRC_XAPIKEY)) {
        key = header_key(r, "x-api-key");
    }
    if ((!key || !*key) && (sources & LLM_SRC_APIKEY)) {
        key = header_key(r, "api-key");
    }
    if ((!key || !*key) && (sources & LLM_SRC_QUERY)) {
        key = in_query;
    }
    return key && *key ? key : NULL;
}

/* RFC 6750 §3: the challenge; error="invalid_token" when a key was
 * presented and refused. */
static void challenge(request_rec *r, int presented)
{
    const char *realm = ap_auth_name(r) ? ap_auth_name(r) : "llm";

    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   apr_psprintf(r->pool, "Bearer realm=\"%s\"%s",
                                ap_escape_quotes(r->pool, realm),
                                presented ? ", error=\"invalid_token\""
                                          : ""));
}

static int refuse_key(request_rec *r, llm_access_verdict_e v,
                      const llm_access_key_t *k)
{
    challenge(r, v != LLM_KEY_MISSING);
    return llm_access_refuse(r, LLM_ACCESS_AUTH_FAILED, HTTP_UNAUTHORIZED,
                             llm_access_verdict_code(v),
                             llm_access_verdict_message(v), k);
}

/* The route's permission against the key's own: a key limited to chat
 * never reaches embeddings, whatever Require lines say. */
static int route_allowed(request_rec *r, const llm_access_key_t *k)
{
    APR_OPTIONAL_FN_TYPE(llm_router_get_ctx) *get_ctx =
        APR_RETRIEVE_OPTIONAL_FN(llm_router_get_ctx);
    llm_req_ctx_t *ctx = get_ctx ? get_ctx(r) : NULL;
    unsigned needed = ctx ? llm_access_route_perm(1, ctx->dialect, ctx->op,
                                                  ctx->builtin)
                          : llm_access_route_perm(0, 0, 0, 0);

    return llm_access_perm_allows(k->perms, needed);
}

static int accept_key(request_rec *r, const llm_access_key_t *k,
                      int from_redis)
{
    r->user = apr_pstrdup(r->pool, k->id);
    apr_table_setn(r->notes, LLM_NOTE_KEY_ID, r->user);
    llm_access_req(r)->key = k;
    llm_access_used_touch(r, k, from_redis);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LLMLOGNO(05004)
                  "key %s accepted", k->id);
    return OK;
}

static int keys_in_redis(request_rec *r)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);

    return sc->key_redis == 1 && sc->redis_host;
}

int llm_access_check_authn(request_rec *r)
{
    llm_access_dir_conf_t *dc = llm_access_dir(r);
    const char *type = ap_auth_type(r);
    int ours = type && !strcasecmp(type, LLM_ACCESS_AUTH_TYPE);
    const llm_access_store_t *store = llm_access_srv(r->server)->store;
    const llm_access_key_t *k;
    const char *key;
    llm_access_verdict_e v;
    int from_redis = 0;

    if (!ours && dc->keys != 1) {
        return DECLINED;
    }
    key = presented_key(r, dc->sources ? dc->sources : LLM_SRC_DEFAULT);
    if (!key && !ours) {
        return DECLINED;    /* for the other AuthType */
    }
    if (!store && !keys_in_redis(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(05005)
                      "API keys are asked for here, but server %s has no "
                      "LLMAccessKeyFile", r->server->server_hostname);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    v = llm_access_check(store, key, key ? strlen(key) : 0, apr_time_now(),
                         &k);
    if (v == LLM_KEY_INVALID && !k && keys_in_redis(r)
        && strlen(key) <= LLM_ACCESS_KEY_MAX) {
        int unavailable;

        v = llm_access_redis_check(r, llm_access_srv(r->server), key, &k,
                                   &unavailable);
        from_redis = 1;
        if (unavailable) {
            apr_table_setn(r->err_headers_out, "Retry-After", "1");
            return llm_access_refuse(r, LLM_ACCESS_STORE_FAILED,
                                     HTTP_SERVICE_UNAVAILABLE,
                                     "key_store_unavailable",
                                     "API keys cannot be checked now. "
                                     "Retry after 1 s.", NULL);
        }
    }
    if (v != LLM_KEY_OK) {
        return refuse_key(r, v, k);
    }
    if (!route_allowed(r, k)) {
        return llm_access_refuse(r, LLM_ACCESS_DENIED, HTTP_FORBIDDEN,
                                 "endpoint_denied_by_policy",
                                 "Access to this endpoint is denied by "
                                 "policy.", k);
    }
    return accept_key(r, k, from_redis);
}

/* mod_authz_core refused an authenticated request: under AuthType
 * llm-key the client is told to bring another key (Bearer challenge);
 * a refusal noted as 403 by a Require provider is then a 401 unless
 * AuthzSendForbiddenOnFailure On makes it a 403 (insert_error_filter
 * takes the page's status either way). */
int llm_access_note_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, LLM_ACCESS_AUTH_TYPE)) {
        return DECLINED;
    }
    challenge(r, 1);
    return OK;
}
