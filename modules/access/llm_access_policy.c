/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Policy: which permission a route needs, which models a key may use,
 * and the limits' notation.
 *
 * The original had a table from "<METHOD>:<path>" to a permission that
 * no lookup ever matched (lower-case methods against upper-case ones),
 * so no permission was enforced. Here the router's own route table
 * decides, through what it says of a route (its dialect, its operation,
 * whether it is a built-in), so a route added to the router needs no
 * second table.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_fnmatch.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "llm_access.h"

static const struct {
    const char *name;
    unsigned bit;
} perms[] = {
    { "chat", LLM_PERM_CHAT },
    { "embedding", LLM_PERM_EMBEDDING },
    { "anthropic", LLM_PERM_ANTHROPIC },
    { "ollama", LLM_PERM_OLLAMA },
    { "builtin", LLM_PERM_BUILTIN },
    { "admin", LLM_PERM_ADMIN },
};

#define N_PERMS (sizeof(perms) / sizeof(perms[0]))

unsigned llm_access_perm_bit(const char *name)
{
    apr_size_t i;

    for (i = 0; name && i < N_PERMS; i++) {
        if (!strcmp(name, perms[i].name)) {
            return perms[i].bit;
        }
    }
    return 0;
}

const char *llm_access_perm_name(unsigned bit)
{
    apr_size_t i;

    for (i = 0; i < N_PERMS; i++) {
        if (perms[i].bit == bit) {
            return perms[i].name;
        }
    }
    return "none";
}

unsigned llm_access_route_perm(int known, llm_dialect_e dialect,
                               llm_op_e op, llm_builtin_e builtin)
{
    if (!known) {
        return LLM_PERM_ADMIN;
    }
    if (builtin != LLM_BUILTIN_NONE || dialect == LLM_DIALECT_BUILTIN) {
        return LLM_PERM_BUILTIN;
    }
    switch (dialect) {
    case LLM_DIALECT_ANTHROPIC: return LLM_PERM_ANTHROPIC;
    case LLM_DIALECT_OLLAMA:    return LLM_PERM_OLLAMA;
    default:
        return op == LLM_OP_EMBEDDINGS ? LLM_PERM_EMBEDDING : LLM_PERM_CHAT;
    }
}

int llm_access_perm_allows(unsigned perms_held, unsigned needed)
{
    return (perms_held & LLM_PERM_ADMIN) || (needed && (perms_held & needed));
}

/* Exact names or globs; not the original's substring match, under which
 * "gpt" allowed every model whose name held those three letters. */
int llm_access_model_matches(const apr_array_header_t *globs,
                             const char *model)
{
    int i;

    if (!globs || globs->nelts == 0) {
        return 1;
    }
    if (!model) {
        return 0;
    }
    for (i = 0; i < globs->nelts; i++) {
        if (apr_fnmatch(APR_ARRAY_IDX(globs, i, const char *), model, 0)
            == APR_SUCCESS) {
            return 1;
        }
    }
    return 0;
}

static apr_interval_time_t window_of(const char *unit)
{
    static const struct {
        const char *name;
        apr_int64_t seconds;
    } units[] = {
        { "s", 1 }, { "sec", 1 }, { "second", 1 },
        { "m", 60 }, { "min", 60 }, { "minute", 60 },
        { "h", 3600 }, { "hour", 3600 },
        { "d", 86400 }, { "day", 86400 },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (!strcmp(unit, units[i].name)) {
            return apr_time_from_sec(units[i].seconds);
        }
    }
    return 0;
}

/* "<count>[k|K|m|M]/[<n>]<unit>": 60/min, 100k/hour, 5/10s. */
const char *llm_access_rate_parse(const char *s, llm_access_rate_t *out)
{
    char *end;
    apr_int64_t n, times = 1;
    apr_interval_time_t w;

    n = apr_strtoi64(s, &end, 10);
    /* Bounded so that k and M cannot overflow (found by fuzz_keys). */
    if (end == s || n <= 0 || n > LLM_ACCESS_RATE_MAX) {
        return "a limit is <count>/<window>, e.g. 60/min or 100k/hour";
    }
    if (*end == 'k' || *end == 'K') {
        n *= 1000;
        end++;
    }
    else if (*end == 'M') {
        n *= 1000000;
        end++;
    }
    if (*end++ != '/') {
        return "a limit is <count>/<window>, e.g. 60/min or 100k/hour";
    }
    if (apr_isdigit(*end)) {
        times = apr_strtoi64(end, &end, 10);
    }
    w = window_of(end);
    if (!w || times <= 0 || times > 366 * 24) {
        return "the window is s, min, hour or day, optionally with a "
               "count (10s)";
    }
    if (n > LLM_ACCESS_RATE_MAX) {
        return "a limit's count is at most 10^12";
    }
    if (n > w * times) {
        return "a limit is at most one per microsecond of its window";
    }
    out->count = n;
    out->window = w * times;
    return NULL;
}

const char *llm_access_budget_parse(const char *s, llm_access_budget_t *out)
{
    char *end;
    apr_int64_t n = apr_strtoi64(s, &end, 10), times = 1;

    if (end == s || n <= 0 || n > LLM_ACCESS_RATE_MAX) {
        return "a budget is <tokens>/<day|month>, e.g. 5M/month";
    }
    switch (*end) {
    case 'G': times = 1000000000; end++; break;
    case 'M': times = 1000000; end++; break;
    case 'k': case 'K': times = 1000; end++; break;
    default: break;
    }
    /* Checked before multiplying (UBSan found the overflow). */
    if (n > LLM_ACCESS_RATE_MAX / times) {
        return "a budget is at most 10^12 tokens";
    }
    n *= times;
    if (!strcmp(end, "/day")) {
        out->period = LLM_PERIOD_DAY;
    }
    else if (!strcmp(end, "/month")) {
        out->period = LLM_PERIOD_MONTH;
    }
    else {
        return "a budget is <tokens>/<day|month>, e.g. 5M/month";
    }
    out->count = n;
    return NULL;
}

const char *llm_access_budget_text(apr_pool_t *p,
                                   const llm_access_budget_t *b)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT "/%s", b->count,
                        b->period == LLM_PERIOD_DAY ? "day" : "month");
}

void llm_access_budget_period(llm_access_period_e period, apr_time_t now,
                              char *id, apr_time_t *ends)
{
    apr_time_exp_t t;
    apr_time_t start;

    apr_time_exp_gmt(&t, now);
    t.tm_hour = t.tm_min = t.tm_sec = t.tm_usec = 0;
    if (period == LLM_PERIOD_DAY) {
        apr_snprintf(id, 11, "%04d-%02d-%02d", t.tm_year + 1900,
                     t.tm_mon + 1, t.tm_mday);
        apr_time_exp_gmt_get(&start, &t);
        *ends = start + apr_time_from_sec(86400);
        return;
    }
    apr_snprintf(id, 11, "%04d-%02d", t.tm_year + 1900, t.tm_mon + 1);
    t.tm_mday = 1;
    t.tm_mon += 1;
    if (t.tm_mon == 12) {
        t.tm_mon = 0;
        t.tm_year += 1;
    }
    apr_time_exp_gmt_get(ends, &t);
}
