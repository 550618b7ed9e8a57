/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_balance: provider-selection methods for mod_llm_router,
 * registered as APR providers in the group LLM_BALANCE_GROUP, the way
 * mod_lbmethod_* register theirs for mod_proxy_balancer. A method is
 * chosen by name with LLMRouterBalance, or per model in the models file.
 *
 * Each method lives in its own llm_lb_<name>.c; the provider state the
 * methods read lives in shared memory (llm_balance_shm.c).
 */

#include "httpd.h"
#include "http_config.h"
#include "ap_provider.h"

#define LLM_BALANCE_MODULE_FILE
#include "llm_balance_private.h"
#include "llm_lb.h"

static void register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, LLM_BALANCE_GROUP, "balanced",
                         LLM_BALANCE_VERSION, &llm_lb_balanced);
    APR_OPTIONAL_HOOK(llm, llm_models_loaded, llm_balance_shm_attach, NULL,
                      NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_balance) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
