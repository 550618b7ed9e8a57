/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_router: an LLM gateway in httpd's request path.
 *
 * This file only wires things together: the module record, the hooks,
 * the filters and the optional functions other mod_llm modules use (the
 * optional hooks we run are in llm_router_ctx.c). What each piece does
 * is in the file named after it; the request's way through them is in
 * docs/architecture.md.
 */

#include "httpd.h"
#include "http_config.h"
#include "http_request.h"
#include "util_filter.h"

/* AP_DECLARE_MODULE below declares what APLOG_USE_MODULE would. */
#define LLM_ROUTER_MODULE_FILE
#include "llm_router_private.h"

static void register_hooks(apr_pool_t *p)
{
    /* Alias, Redirect, ProxyPass and mod_rewrite claim URIs before us. */
    static const char *const after[] = { "mod_alias.c", "mod_rewrite.c",
                                          "mod_proxy.c", NULL };

    (void)p;
    ap_hook_pre_config(llm_router_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(llm_router_post_config, NULL, NULL,
                        APR_HOOK_MIDDLE);
    ap_hook_child_init(llm_router_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(llm_router_info_retrieve, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_child_init(llm_router_malloc_child_init, NULL, NULL,
                       APR_HOOK_FIRST);
    ap_hook_translate_name(llm_router_translate, after, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(llm_router_map_to_storage, NULL, NULL,
                           APR_HOOK_FIRST);
    ap_hook_handler(llm_router_handler, NULL, NULL, APR_HOOK_FIRST);
    APR_OPTIONAL_HOOK(proxy, create_req, llm_router_create_req, NULL, NULL,
                      APR_HOOK_MIDDLE);
    /* Last: what a provider receives is an allow-list, whatever else
     * joined the hook. */
    APR_OPTIONAL_HOOK(proxy, fixups, llm_router_proxy_fixups, NULL, NULL,
                      APR_HOOK_LAST);

    ap_register_input_filter(LLM_BODY_FILTER, llm_body_filter, NULL,
                             AP_FTYPE_RESOURCE);
    ap_register_output_filter(LLM_WATCH_FILTER, llm_watch_filter, NULL,
                              AP_FTYPE_CONTENT_SET);
    /* After LLM_UPSTREAM, which must see the provider's own bytes. */
    ap_register_output_filter(LLM_XLATE_FILTER, llm_xlate_filter, NULL,
                              AP_FTYPE_CONTENT_SET + 1);
    ap_hook_insert_error_filter(llm_router_insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
    ap_register_output_filter(LLM_ERROR_FILTER, llm_error_type_filter, NULL,
                              AP_FTYPE_RESOURCE);

    APR_REGISTER_OPTIONAL_FN(llm_router_get_ctx);
    APR_REGISTER_OPTIONAL_FN(llm_router_send_error);
    APR_REGISTER_OPTIONAL_FN(llm_router_server_info);
}

AP_DECLARE_MODULE(llm_router) = {
    STANDARD20_MODULE_STUFF,
    llm_router_create_dir_conf,
    llm_router_merge_dir_conf,
    llm_router_create_srv_conf,
    NULL,
    llm_router_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
