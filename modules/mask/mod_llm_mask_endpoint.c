/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * {prefix}/fast_text_mask: the router owns the route and calls the
 * optional function llm_mask_fast_text(), which masks one text with the
 * rules and mode of the request's scope (whatever LLMMask says) and
 * returns {"text": masked, "mappings": {token: original}}.
 */

#include <string.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "llm_json.h"
#include "mod_llm_mask_glue.h"

/* token → original, empty in static mode (an original may hold a NUL:
 * JSON's \u0000). */
static json_object *mappings(apr_pool_t *p, const llm_mask_session_t *s)
{
    json_object *map = json_object_new_object();
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(p, llm_mask_session_map(s)); hi;
         hi = apr_hash_next(hi)) {
        const char *token = apr_hash_this_key(hi);
        apr_size_t len = 0;
        const char *original = llm_mask_session_original(s, token,
                                                         strlen(token),
                                                         &len);

        llm_json_add(map, token, llm_json_strn(original, len));
    }
    return map;
}

static const char *llm_mask_fast_text(request_rec *r, const char *text,
                                      apr_size_t len)
{
    const llm_mask_dir_conf_t *c = llm_mask_conf(r);
    llm_mask_session_t *s = llm_mask_session_create(r->pool, c->mode);
    apr_size_t out_len = 0;
    apr_size_t body_len;
    int n = 0;
    const char *out = llm_mask_apply(llm_mask_conf_rules(c), s, r->pool,
                                     text, len, &out_len, &n);
    json_object *o = json_object_new_object();
    const char *body;

    llm_json_add(o, "text", llm_json_strn(out, out_len));
    llm_json_add(o, "mappings", mappings(r->pool, s));
    body = llm_json_dump(o, &body_len);
    body = apr_pstrcat(r->pool, body, "\n", NULL);
    json_object_put(o);
    return body;
}

void llm_mask_endpoint_register(void)
{
    APR_REGISTER_OPTIONAL_FN(llm_mask_fast_text);
}
