/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The methods of mod_llm_balance, one llm_lb_<name>.c each. APR only:
 * the selection logic is unit-tested without httpd. */

#ifndef LLM_LB_H
#define LLM_LB_H

#include "mod_llm.h"

extern const llm_balance_method_t llm_lb_balanced;

#endif /* LLM_LB_H */
