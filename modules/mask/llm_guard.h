/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_guard.h
 * @brief The rule-based guard: a text is refused when a deny pattern of
 *        an enabled category matches it outside every allow pattern's
 *        match. APR and PCRE2 only; unit-tested in t/unit/test_guard.c.
 *
 * Categories (LLMGuardCategory):
 *   prompt_injection  built-in, on:  "ignore all previous instructions",
 *                                    "reveal your system prompt", DAN...
 *                                    (English and Polish)
 *   secrets           built-in, on:  private keys, cloud and API tokens
 *   pii               off:           anything the masking rules find
 *   deny              the patterns of LLMGuardDeny (on once one is set)
 */

#ifndef LLM_GUARD_H
#define LLM_GUARD_H

#include "apr_pools.h"

#include "llm_mask.h"

typedef struct llm_guard llm_guard_t;

/** Why a text was refused: the category and the rule's name (static
 *  or from the guard's pool). */
typedef struct {
    const char *category;
    const char *rule;
} llm_guard_verdict_t;

/** A guard with the built-in categories at their defaults. */
llm_guard_t *llm_guard_create(apr_pool_t *p);

/** Switch a category on or off: 0, or -1 with @a err. */
int llm_guard_category(llm_guard_t *g, const char *name, int on,
                       const char **err);

/** Refuse what @a pattern (PCRE2) matches, as category "deny", rule
 *  @a name. 0, or -1 with @a err (the pattern does not compile). */
int llm_guard_deny(llm_guard_t *g, const char *name, const char *pattern,
                   const char **err);

/** Never refuse because of a match that lies inside a match of
 *  @a pattern ("plutonium-free" while "plutonium" is denied). The allow
 *  match is looked for within 1 KiB on either side of the deny match
 *  (a longer one does not excuse it): the cost stays linear. */
int llm_guard_allow(llm_guard_t *g, const char *pattern, const char **err);

/** Compile what is not yet; @a pii are the rules of category pii. */
apr_status_t llm_guard_compile(llm_guard_t *g, const llm_mask_ruleset_t *pii,
                               const char **err);

/** 1 when @a text is refused (@a v says why), else 0. */
int llm_guard_check(const llm_guard_t *g, apr_pool_t *p, const char *text,
                    apr_size_t len, llm_guard_verdict_t *v);

#endif /* LLM_GUARD_H */
