/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The request's context, and what other modules see of it.
 *
 * translate_name creates it in the initial request's request_config;
 * every file of the router reads it through the functions here (and
 * only this file knows where it is kept), so that none of them has to
 * call back into the handler for it. Other modules reach its public
 * part through the optional function llm_router_get_ctx and the
 * optional hooks run here.
 */

#include "apr_strings.h"
#include "http_request.h"

#include "llm_router_private.h"

/* Optional hooks: other modules join them with APR_OPTIONAL_HOOK(llm,
 * <name>, ...) and need not be linked against this one. */
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llm, LLM, int, llm_models_loaded,
                                    (apr_pool_t *pconf, server_rec *s,
                                     llm_models_t *models),
                                    (pconf, s, models), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llm, LLM, int, llm_request_parsed,
                                    (request_rec *r, llm_req_ctx_t *ctx),
                                    (r, ctx), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llm, LLM, int, llm_provider_chosen,
                                    (request_rec *r, llm_req_ctx_t *ctx),
                                    (r, ctx), OK, DECLINED)
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(llm, LLM, int, llm_request_done,
                                    (request_rec *r, llm_req_ctx_t *ctx),
                                    (r, ctx), OK, DECLINED)

llm_router_req_t *llm_router_req_create(request_rec *r,
                                        const llm_endpoint_t *ep)
{
    llm_router_req_t *rq = apr_pcalloc(r->pool, sizeof(*rq));

    rq->pub.version = LLM_REQ_CTX_VERSION;
    rq->pub.started = r->request_time;
    /* Room for the default LLMRouterMaxAttempts: the loop reserves more
     * (a copy) only when configured higher (reserve_attempts). */
    rq->pub.attempts = apr_array_make(r->pool, LLM_DEFAULT_ATTEMPTS,
                                      sizeof(llm_attempt_t));
    rq->pub.usage.prompt_tokens = -1;
    rq->pub.usage.completion_tokens = -1;
    rq->pub.usage.total_tokens = -1;
    rq->pub.usage.cached_tokens = -1;
    rq->pub.usage.reasoning_tokens = -1;
    rq->endpoint = ep;
    if (ep) {
        rq->pub.endpoint = ep->name;
        rq->pub.dialect = ep->dialect;
        rq->pub.op = ep->op;
        rq->wire = ep->wire;
        rq->pub.wire = ep->wire;
        rq->pub.builtin = ep->builtin;
    }
    ap_set_module_config(r->request_config, &llm_router_module, rq);
    return rq;
}

/* Whether the URI is ours under the configuration in force: one of our
 * routes, or under /v1/ or the prefix. Then the request gets its
 * context (an unknown route under the prefix is an Ollama client's,
 * /api/pull and such: it reads errors as {"error":"..."}). */
llm_router_req_t *llm_router_claim(request_rec *r,
                                   const llm_router_dir_conf_t *c)
{
    const char *prefix = llm_router_prefix(c);
    const llm_endpoint_t *ep;
    llm_router_req_t *rq;

    if (!c->enabled || !r->uri || *r->uri != '/') {
        return NULL;
    }
    ep = llm_endpoint_find(prefix, r->uri);
    if (!ep && !llm_endpoint_in_namespace(prefix, r->uri)) {
        return NULL;
    }
    rq = llm_router_req_create(r, ep);
    if (!ep && *prefix && !strncmp(r->uri, prefix, strlen(prefix))) {
        rq->wire = LLM_WIRE_OLLAMA_CHAT;
    }
    return rq;
}

/* The context lives in the initial request: internal redirects and
 * subrequests of it find it there. */
llm_router_req_t *llm_router_req(request_rec *r)
{
    while (r->prev) {
        r = r->prev;
    }
    while (r->main) {
        r = r->main;
    }
    return ap_get_module_config(r->request_config, &llm_router_module);
}

/* The context of r itself only: an error page httpd serves through an
 * internal redirect (ErrorDocument) is not one of our answers. */
llm_router_req_t *llm_router_req_here(request_rec *r)
{
    return ap_get_module_config(r->request_config, &llm_router_module);
}

llm_req_ctx_t *llm_router_get_ctx(request_rec *r)
{
    llm_router_req_t *rq = llm_router_req(r);

    return rq ? &rq->pub : NULL;
}

/* An error answered to the client: the context says so (for the
 * modules of llm_request_done), and the access log (%{llm-error}n). */
void llm_router_note_error(request_rec *r, llm_router_req_t *rq, int status,
                           const char *code, const char *message)
{
    if (rq) {
        rq->pub.status = status;
        rq->pub.error_code = code;
        rq->pub.error_message = message;
    }
    apr_table_setn(r->notes, LLM_NOTE_ERROR, code);
}
