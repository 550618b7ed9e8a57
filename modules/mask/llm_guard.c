/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The rule-based guard (llm_guard.h): deny patterns in categories,
 * allow patterns that excuse a match lying inside theirs, and the
 * masking rules as category "pii". Patterns are compiled once, in
 * UTF + UCP mode with the JIT, and bounded like the masking rules.
 */

#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "llm_guard.h"

#define MATCH_LIMIT 2000000

typedef struct {
    const char *category;
    const char *name;
    const char *pattern;
    pcre2_code *code;
} pattern_t;

struct llm_guard {
    apr_pool_t *pool;
    apr_array_header_t *deny;       /* pattern_t */
    apr_array_header_t *allow;      /* pattern_t */
    int prompt_injection;
    int secrets;
    int pii;
    int deny_on;
    const llm_mask_ruleset_t *pii_rules;
    pcre2_match_context *mctx;
};

#define WS "\\s{1,4}"

typedef struct {
    const char *category;
    const char *name;
    const char *pattern;
} builtin_t;

static const builtin_t builtins[] = {
    { "prompt_injection", "ignore_instructions",
      "(?i)\\b(?:ignore|disregard|forget|override)" WS
      "(?:(?:all|any|every|the|your|of" WS "the)" WS "){0,2}"
      "(?:previous|prior|above|earlier|preceding|system)" WS
      "(?:instructions?|prompts?|rules|directions|guidelines)" },
    { "prompt_injection", "reveal_system_prompt",
      "(?i)\\b(?:reveal|show|print|repeat|output|display|leak)" WS
      "(?:me" WS ")?(?:your|the)" WS "(?:(?:full|hidden|initial|original)"
      WS ")?(?:system" WS "prompt|system" WS "message|hidden" WS
      "instructions|initial" WS "instructions)" },
    /* "Do Anything Now" as a name (capitalised), not "I can't do
     * anything now". */
    { "prompt_injection", "jailbreak",
      "\\b(?:(?i:you" WS "are" WS "now" WS "(?:DAN|in" WS "developer" WS
      "mode)|jailbreak(?:ed)?" WS "mode)|Do" WS "Anything" WS "Now|DAN"
      WS "mode)\\b" },
    { "prompt_injection", "ignore_instructions_pl",
      "(?i)\\b(?:zignoruj|zapomnij|pomiń|pomin)" WS
      "(?:(?:wszystkie|wszelkie|swoje|twoje)" WS ")?"
      "(?:poprzednie|wcześniejsze|wczesniejsze|powyższe|powyzsze|systemowe)"
      WS "(?:instrukcje|polecenia|zasady|reguły|reguly)" },
    { "prompt_injection", "reveal_system_prompt_pl",
      "(?i)\\b(?:ujawnij|pokaż|pokaz|wypisz|powtórz|powtorz)" WS
      "(?:(?:swój|swoj|swoje|twój|twoj|twoje|cały|caly)" WS ")?"
      "(?:prompt" WS "systemowy|instrukcje" WS "systemowe|ukryte" WS
      "instrukcje)" },
    { "secrets", "private_key",
      "-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY"
      "(?: BLOCK)?-----" },
    { "secrets", "aws_access_key", "\\b(?:AKIA|ASIA)[0-9A-Z]{16}\\b" },
    { "secrets", "github_token", "\\bgh[pousr]_[A-Za-z0-9]{36,255}\\b" },
    { "secrets", "api_key",
      "\\bsk-(?:proj-|ant-(?:api03-)?)?[A-Za-z0-9_\\-]{20,200}+" },
    { "secrets", "slack_token", "\\bxox[abposr]-[A-Za-z0-9\\-]{10,200}+" },
    { "secrets", "google_api_key", "\\bAIza[0-9A-Za-z_\\-]{35}\\b" },
    { NULL, NULL, NULL }
};

static apr_status_t guard_cleanup(void *data)
{
    llm_guard_t *g = data;
    apr_array_header_t *lists[2];
    int i, k;

    lists[0] = g->deny;
    lists[1] = g->allow;
    for (k = 0; k < 2; k++) {
        for (i = 0; i < lists[k]->nelts; i++) {
            pattern_t *pt = &APR_ARRAY_IDX(lists[k], i, pattern_t);

            if (pt->code) {
                pcre2_code_free(pt->code);
                pt->code = NULL;
            }
        }
    }
    if (g->mctx) {
        pcre2_match_context_free(g->mctx);
        g->mctx = NULL;
    }
    return APR_SUCCESS;
}

static void add_pattern(apr_array_header_t *list, const char *category,
                        const char *name, const char *pattern)
{
    pattern_t *pt = apr_array_push(list);

    pt->category = category;
    pt->name = name;
    pt->pattern = pattern;
    pt->code = NULL;
}

llm_guard_t *llm_guard_create(apr_pool_t *p)
{
    llm_guard_t *g = apr_pcalloc(p, sizeof(*g));
    const builtin_t *b;

    g->pool = p;
    g->deny = apr_array_make(p, 16, sizeof(pattern_t));
    g->allow = apr_array_make(p, 4, sizeof(pattern_t));
    g->prompt_injection = g->secrets = 1;
    for (b = builtins; b->category; b++) {
        add_pattern(g->deny, b->category, b->name, b->pattern);
    }
    apr_pool_cleanup_register(p, g, guard_cleanup, apr_pool_cleanup_null);
    return g;
}

static int *category_flag(llm_guard_t *g, const char *name)
{
    if (!strcasecmp(name, "prompt_injection")) {
        return &g->prompt_injection;
    }
    if (!strcasecmp(name, "secrets")) {
        return &g->secrets;
    }
    if (!strcasecmp(name, "pii")) {
        return &g->pii;
    }
    if (!strcasecmp(name, "deny")) {
        return &g->deny_on;
    }
    return NULL;
}

int llm_guard_category(llm_guard_t *g, const char *name, int on,
                       const char **err)
{
    int *flag = category_flag(g, name);

    if (!flag) {
        *err = apr_psprintf(g->pool, "no category %s (known: "
                            "prompt_injection, secrets, pii, deny)", name);
        return -1;
    }
    *flag = on;
    return 0;
}

static int compile_pattern(llm_guard_t *g, pattern_t *pt, const char **err)
{
    int code;
    PCRE2_SIZE at;
    PCRE2_UCHAR msg[160];

    if (pt->code) {
        return 0;
    }
    pt->code = pcre2_compile((PCRE2_SPTR)pt->pattern, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF
                             | PCRE2_USE_OFFSET_LIMIT, &code, &at, NULL);
    if (!pt->code) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        *err = apr_psprintf(g->pool, "pattern %s: error at offset %"
                            APR_SIZE_T_FMT ": %s", pt->pattern,
                            (apr_size_t)at, (const char *)msg);
        return -1;
    }
    pcre2_jit_compile(pt->code, PCRE2_JIT_COMPLETE);
    return 0;
}

int llm_guard_deny(llm_guard_t *g, const char *name, const char *pattern,
                   const char **err)
{
    add_pattern(g->deny, "deny", apr_pstrdup(g->pool, name),
                apr_pstrdup(g->pool, pattern));
    g->deny_on = 1;
    return compile_pattern(g, &APR_ARRAY_IDX(g->deny, g->deny->nelts - 1,
                                             pattern_t), err);
}

int llm_guard_allow(llm_guard_t *g, const char *pattern, const char **err)
{
    add_pattern(g->allow, "allow", "allow", apr_pstrdup(g->pool, pattern));
    return compile_pattern(g, &APR_ARRAY_IDX(g->allow, g->allow->nelts - 1,
                                             pattern_t), err);
}

apr_status_t llm_guard_compile(llm_guard_t *g, const llm_mask_ruleset_t *pii,
                               const char **err)
{
    apr_array_header_t *lists[2];
    int i, k;

    g->pii_rules = pii;
    if (!g->mctx && (g->mctx = pcre2_match_context_create(NULL))) {
        pcre2_set_match_limit(g->mctx, MATCH_LIMIT);
    }
    lists[0] = g->deny;
    lists[1] = g->allow;
    for (k = 0; k < 2; k++) {
        for (i = 0; i < lists[k]->nelts; i++) {
            if (compile_pattern(g, &APR_ARRAY_IDX(lists[k], i, pattern_t),
                                err) != 0) {
                return APR_EINVAL;
            }
        }
    }
    return APR_SUCCESS;
}

static int category_on(const llm_guard_t *g, const char *category)
{
    return !strcmp(category, "prompt_injection") ? g->prompt_injection
           : !strcmp(category, "secrets") ? g->secrets
           : !strcmp(category, "deny") ? g->deny_on : 0;
}

/* Is [s, e) inside a match of an allow pattern? Allow matches are
 * looked for within ALLOW_REACH bytes on either side of the deny match:
 * each deny match costs a bounded search, however long the text. */
#define ALLOW_REACH 1024

static int allowed(const llm_guard_t *g, pcre2_match_data *md,
                   pcre2_match_context *mctx, const char *text,
                   apr_size_t len, PCRE2_SIZE s, PCRE2_SIZE e)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    PCRE2_SIZE end = e + ALLOW_REACH < len ? e + ALLOW_REACH : len;
    int i;

    pcre2_set_offset_limit(mctx, s);
    for (i = 0; i < g->allow->nelts; i++) {
        const pattern_t *pt = &APR_ARRAY_IDX(g->allow, i, pattern_t);
        PCRE2_SIZE at = s > ALLOW_REACH ? s - ALLOW_REACH : 0;

        while (at <= s && pcre2_match(pt->code, (PCRE2_SPTR)text, end, at, 0,
                                      md, mctx) >= 0) {
            if (ov[1] >= e) {
                return 1;       /* it starts at or before s (the limit) */
            }
            at = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
        }
    }
    return 0;
}

/* A match of @a pt in text, outside every allow match: 1. */
static int denied_by(const llm_guard_t *g, const pattern_t *pt,
                     pcre2_match_data *md, pcre2_match_data *amd,
                     pcre2_match_context *mctx, const char *text,
                     apr_size_t len)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    PCRE2_SIZE at = 0;

    while (at <= len && pcre2_match(pt->code, (PCRE2_SPTR)text, len, at, 0,
                                    md, g->mctx) >= 0) {
        if (!allowed(g, amd, mctx, text, len, ov[0], ov[1])) {
            return 1;
        }
        at = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return 0;
}

int llm_guard_check(const llm_guard_t *g, apr_pool_t *p, const char *text,
                    apr_size_t len, llm_guard_verdict_t *v)
{
    /* Only the whole match is read: a pattern with more groups than
     * this still matches (pcre2_match says 0 then, not a failure). */
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    pcre2_match_data *amd = pcre2_match_data_create(1, NULL);
    pcre2_match_context *mctx = g->mctx ? pcre2_match_context_copy(g->mctx)
                                        : pcre2_match_context_create(NULL);
    const char *rule;
    int i, blocked = 0;

    for (i = 0; md && amd && mctx && i < g->deny->nelts && !blocked; i++) {
        const pattern_t *pt = &APR_ARRAY_IDX(g->deny, i, pattern_t);

        if (pt->code && category_on(g, pt->category)
            && denied_by(g, pt, md, amd, mctx, text, len)) {
            v->category = pt->category;
            v->rule = pt->name;
            blocked = 1;
        }
    }
    pcre2_match_data_free(md);
    pcre2_match_data_free(amd);
    pcre2_match_context_free(mctx);
    if (!blocked && g->pii && g->pii_rules
        && (rule = llm_mask_find(g->pii_rules, p, text, len))) {
        v->category = "pii";
        v->rule = rule;
        blocked = 1;
    }
    return blocked;
}
