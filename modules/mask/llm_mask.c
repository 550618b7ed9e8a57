/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The masking engine: rule sets, compiled with PCRE2 and its JIT; the
 * spans of PII found by every rule over the original text, arbitrated;
 * the text written once with tokens, static or pseudonyms of a session.
 * The order of events is in llm_mask.h; the choices in docs/masking.md.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <json-c/json.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "llm_buf.h"
#include "llm_json.h"
#include "llm_mask_shape.h"

/* A custom pattern that backtracks badly stops at this many steps for
 * one match: the rule then finds nothing more in that text, which is
 * logged by nobody but can never hang a request. The default rules
 * never come near it (t/unit/test_mask.c). */
#define MATCH_LIMIT 2000000
#define DEPTH_LIMIT 20000

#define TAG_MAX 40

typedef struct {
    const char *name;
    const char *tag;            /* the token's text inside {{ }} */
    const char *token;          /* "{{TAG}}", once compiled */
    const char *pattern;
    llm_mask_check_fn check;
    int ip_port;
    int enabled;
    const llm_mask_rule_def_t *def;     /* a default rule's, or NULL */
    const llm_mask_anchor_t *anchor;    /* NULL: scan the whole text */
    apr_uint64_t quick;         /* its bit in the features' quick, or 0 */
    apr_uint64_t near;          /* its bit in the features' near, or 0 */
    apr_uint64_t mark;          /* its bit in the features' marks */
    apr_size_t reach;           /* the longest span of the enabled rules
                                   that share its anchor */
    pcre2_code *code;           /* NULL until compiled, or disabled */
} rule_t;

struct llm_mask_ruleset {
    apr_pool_t *pool;
    apr_array_header_t *rules;  /* rule_t, in priority order */
    pcre2_match_context *mctx;
    uint32_t groups;            /* the most capture groups of a rule */
    int exhaustive;             /* test only: no anchors, no shapes */
    llm_mask_facts_t facts;     /* of the enabled default rules */
};

/* A session's limit (llm_mask_session_limit), as a scan reads it. */
typedef struct {
    apr_time_t deadline;        /* 0: none */
    llm_mask_abort_fn aborted;  /* or NULL */
    void *baton;
    llm_mask_stop_e stopped;
} limit_t;

struct llm_mask_session {
    apr_pool_t *pool;
    llm_mask_mode_e mode;
    apr_hash_t *by_value;       /* "TAG\0value" -> token */
    apr_hash_t *counters;       /* TAG -> int* */
    apr_hash_t *map;            /* token -> original */
    apr_hash_t *lengths;        /* token -> apr_size_t: the original's
                                   length (it may hold a NUL) */
    limit_t limit;              /* llm_mask_session_limit */
    int limited;
    apr_array_header_t *tally;  /* llm_mask_tally_t, in the order met */
};

/* ------------------------------------------------------------------ */
/* Rule sets                                                           */
/* ------------------------------------------------------------------ */

static void free_code(rule_t *rule)
{
    if (rule->code) {
        pcre2_code_free(rule->code);
        rule->code = NULL;
    }
}

static apr_status_t ruleset_cleanup(void *data)
{
    llm_mask_ruleset_t *rs = data;
    int i;

    for (i = 0; i < rs->rules->nelts; i++) {
        free_code(&APR_ARRAY_IDX(rs->rules, i, rule_t));
    }
    if (rs->mctx) {
        pcre2_match_context_free(rs->mctx);
        rs->mctx = NULL;
    }
    return APR_SUCCESS;
}

/* A default rule's bits: the features have one per rule of the list,
 * by its place, for the first 64. */
static void default_rule(rule_t *rule, const llm_mask_rule_def_t *d, int r)
{
    apr_uint64_t bit = r < 64 ? (apr_uint64_t)1 << r : 0;

    memset(rule, 0, sizeof(*rule));
    rule->name = d->name;
    rule->tag = d->tag ? d->tag : d->name;
    rule->pattern = d->pattern;
    rule->check = llm_mask_check_by_name(d->check);
    rule->ip_port = d->ip_port;
    rule->enabled = 1;
    rule->def = d;
    rule->anchor = d->anchor.bytes && bit ? &d->anchor : NULL;
    rule->mark = bit;
    rule->quick = llm_mask_has_quick(&d->quick) ? bit : 0;
    rule->near = llm_mask_has_near(&d->near) ? bit : 0;
}

llm_mask_ruleset_t *llm_mask_ruleset_create(apr_pool_t *p)
{
    llm_mask_ruleset_t *rs = apr_pcalloc(p, sizeof(*rs));
    int r;

    rs->pool = p;
    rs->rules = apr_array_make(p, 40, sizeof(rule_t));
    for (r = 0; llm_mask_default_rules[r]; r++) {
        default_rule(apr_array_push(rs->rules), llm_mask_default_rules[r], r);
    }
    apr_pool_cleanup_register(p, rs, ruleset_cleanup, apr_pool_cleanup_null);
    return rs;
}

static rule_t *rule_named(llm_mask_ruleset_t *rs, const char *name)
{
    int i;

    for (i = 0; i < rs->rules->nelts; i++) {
        rule_t *rule = &APR_ARRAY_IDX(rs->rules, i, rule_t);

        if (!strcasecmp(rule->name, name)) {
            return rule;
        }
    }
    return NULL;
}

int llm_mask_ruleset_enable(llm_mask_ruleset_t *rs, const char *name,
                            int on, const char **err)
{
    rule_t *rule;
    int i;

    if (!strcasecmp(name, "all")) {
        for (i = 0; i < rs->rules->nelts; i++) {
            APR_ARRAY_IDX(rs->rules, i, rule_t).enabled = on;
        }
        return 0;
    }
    if (!(rule = rule_named(rs, name))) {
        const char *known = "";

        for (i = 0; i < rs->rules->nelts; i++) {
            known = apr_pstrcat(rs->pool, known, i ? ", " : "",
                                APR_ARRAY_IDX(rs->rules, i, rule_t).name,
                                NULL);
        }
        *err = apr_psprintf(rs->pool, "no rule named %s (known: all, %s)",
                            name, known);
        return -1;
    }
    rule->enabled = on;
    return 0;
}

/* "{{TICKET}}" or "TICKET" -> "TICKET"; letters, digits and '_'. */
static const char *tag_of(apr_pool_t *p, const char *token)
{
    apr_size_t len = strlen(token), i;

    if (len > 4 && !strncmp(token, "{{", 2)
        && !strcmp(token + len - 2, "}}")) {
        token += 2;
        len -= 4;
    }
    if (!len || len > TAG_MAX) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        char c = token[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '_')) {
            return NULL;
        }
    }
    return apr_pstrmemdup(p, token, len);
}

int llm_mask_ruleset_add(llm_mask_ruleset_t *rs, const char *name,
                         const char *pattern, const char *token,
                         const char *validator, const char **err)
{
    llm_mask_check_fn check = NULL;
    const char *tag = tag_of(rs->pool, token && *token ? token : name);
    rule_t *rule;

    if (!tag) {
        *err = apr_psprintf(rs->pool, "token %s: {{NAME}} with up to %d "
                            "letters, digits or '_'", token ? token : name,
                            TAG_MAX);
        return -1;
    }
    if (validator && *validator
        && !(check = llm_mask_check_by_name(validator))) {
        *err = apr_psprintf(rs->pool, "no validator named %s (known: %s)",
                            validator, llm_mask_check_names());
        return -1;
    }
    if (!pattern || !*pattern) {
        *err = "an empty pattern";
        return -1;
    }
    if (!(rule = rule_named(rs, name))) {
        rule = apr_array_push(rs->rules);
        memset(rule, 0, sizeof(*rule));
        rule->name = apr_pstrdup(rs->pool, name);
    }
    free_code(rule);
    rule->tag = tag;
    rule->pattern = apr_pstrdup(rs->pool, pattern);
    rule->check = check;
    rule->ip_port = 0;
    rule->def = NULL;
    rule->anchor = NULL;
    rule->quick = rule->near = rule->mark = 0;
    rule->enabled = 1;
    return 0;
}

static int load_entry(llm_mask_ruleset_t *rs, json_object *e, int i,
                      const char **err)
{
    const char *name = llm_json_str(e, "name", NULL);
    const char *pattern = llm_json_str(e, "pattern", NULL);
    json_object *on = NULL;
    const char *why = NULL;

    if (!json_object_is_type(e, json_type_object) || !name) {
        *err = apr_psprintf(rs->pool, "$[%d].name: a rule needs a name", i);
        return -1;
    }
    json_object_object_get_ex(e, "enabled", &on);
    if (on && !json_object_is_type(on, json_type_boolean)) {
        *err = apr_psprintf(rs->pool, "$[%d].enabled: true or false", i);
        return -1;
    }
    if (pattern) {
        if (llm_mask_ruleset_add(rs, name, pattern, llm_json_str(e, "token", NULL),
                                 llm_json_str(e, "validator", NULL), &why) != 0) {
            *err = apr_psprintf(rs->pool, "$[%d]: %s", i, why);
            return -1;
        }
    }
    else if (!on) {
        *err = apr_psprintf(rs->pool, "$[%d].pattern: a new rule needs a "
                            "pattern", i);
        return -1;
    }
    if (on && llm_mask_ruleset_enable(rs, name, json_object_get_boolean(on),
                                      &why) != 0) {
        *err = apr_psprintf(rs->pool, "$[%d].name: %s", i, why);
        return -1;
    }
    return 0;
}

apr_status_t llm_mask_ruleset_load(llm_mask_ruleset_t *rs, const char *path,
                                   const char **err)
{
    json_object *root;
    llm_json_check_t check;
    char *text;
    apr_size_t len;
    int i, n, rc = 0;

    /* Strict JSON, as every file and body the suite reads. */
    if ((*err = llm_file_slurp(rs->pool, path, 16 * 1024 * 1024, &text,
                               &len)) != NULL) {
        return APR_EINVAL;
    }
    if (!(root = llm_json_parse_strict(rs->pool, text, len, 0, &check))) {
        *err = check.repeated_key
            ? apr_psprintf(rs->pool, "%s: a key is repeated in an object",
                           path)
            : apr_psprintf(rs->pool, "%s: not JSON (at byte %"
                           APR_SIZE_T_FMT ": %s)", path, check.offset,
                           check.reason);
        return APR_EINVAL;
    }
    if (!json_object_is_type(root, json_type_array)) {
        json_object_put(root);
        *err = apr_psprintf(rs->pool, "%s: $: an array of rules", path);
        return APR_EINVAL;
    }
    n = (int)json_object_array_length(root);
    for (i = 0; i < n && rc == 0; i++) {
        rc = load_entry(rs, json_object_array_get_idx(root, i), i, err);
    }
    json_object_put(root);
    if (rc != 0) {
        *err = apr_psprintf(rs->pool, "%s: %s", path, *err);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

static apr_status_t compile_rule(llm_mask_ruleset_t *rs, rule_t *rule,
                                 const char **err)
{
    int code;
    PCRE2_SIZE at;
    PCRE2_UCHAR msg[160];
    uint32_t groups = 0;

    rule->code = pcre2_compile((PCRE2_SPTR)rule->pattern,
                               PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF
                               | PCRE2_USE_OFFSET_LIMIT, &code, &at, NULL);
    if (!rule->code) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        *err = apr_psprintf(rs->pool, "rule %s: pattern error at offset "
                            "%" APR_SIZE_T_FMT ": %s", rule->name,
                            (apr_size_t)at, (const char *)msg);
        return APR_EINVAL;
    }
    rule->token = apr_pstrcat(rs->pool, "{{", rule->tag, "}}", NULL);
    /* Without the JIT (a platform lacking it) the interpreter runs the
     * same patterns, slower. */
    pcre2_jit_compile(rule->code, PCRE2_JIT_COMPLETE);
    if (pcre2_pattern_info(rule->code, PCRE2_INFO_CAPTURECOUNT, &groups) == 0
        && groups > rs->groups) {
        rs->groups = groups;
    }
    return APR_SUCCESS;
}

static int same_anchor(const llm_mask_anchor_t *a, const llm_mask_anchor_t *b)
{
    return !strcmp(a->bytes, b->bytes)
           && (a->literal == b->literal
               || (a->literal && b->literal
                   && !strcmp(a->literal, b->literal)));
}

/* How far the features of a piece of a long cluster read on: as far as
 * the longest match of the rules that share the cluster's anchor. */
static void compile_reach(llm_mask_ruleset_t *rs)
{
    rule_t *rules = (rule_t *)rs->rules->elts;
    int i, j;

    for (i = 0; i < rs->rules->nelts; i++) {
        rules[i].reach = 0;
        for (j = 0; rules[i].anchor && j < rs->rules->nelts; j++) {
            if (rules[j].enabled && rules[j].anchor
                && same_anchor(rules[i].anchor, rules[j].anchor)
                && (apr_size_t)rules[j].anchor->span > rules[i].reach) {
                rules[i].reach = (apr_size_t)rules[j].anchor->span;
            }
        }
    }
}

/* The shape facts of the default rules that are enabled and not
 * replaced, for the clusters' features. */
static void compile_facts(llm_mask_ruleset_t *rs)
{
    int on[64] = { 0 }, r;

    for (r = 0; r < 64 && r < rs->rules->nelts && llm_mask_default_rules[r];
         r++) {
        const rule_t *rule = &APR_ARRAY_IDX(rs->rules, r, rule_t);

        on[r] = rule->enabled && rule->def == llm_mask_default_rules[r];
    }
    llm_mask_facts_init(&rs->facts, llm_mask_default_rules, on);
}

apr_status_t llm_mask_ruleset_compile(llm_mask_ruleset_t *rs,
                                      const char **err)
{
    int i;

    if (!rs->mctx) {
        rs->mctx = pcre2_match_context_create(NULL);
        if (!rs->mctx) {
            *err = "out of memory";
            return APR_ENOMEM;
        }
        pcre2_set_match_limit(rs->mctx, MATCH_LIMIT);
        pcre2_set_depth_limit(rs->mctx, DEPTH_LIMIT);
    }
    for (i = 0; i < rs->rules->nelts; i++) {
        rule_t *rule = &APR_ARRAY_IDX(rs->rules, i, rule_t);

        if (!rule->enabled) {
            free_code(rule);
        }
        else if (!rule->code && compile_rule(rs, rule, err) != APR_SUCCESS) {
            return APR_EINVAL;
        }
    }
    compile_facts(rs);
    compile_reach(rs);
    return APR_SUCCESS;
}

void llm_mask_ruleset_exhaustive(llm_mask_ruleset_t *rs, int on)
{
    rs->exhaustive = on;
}

int llm_mask_ruleset_size(const llm_mask_ruleset_t *rs)
{
    return rs->rules->nelts;
}

int llm_mask_ruleset_count(const llm_mask_ruleset_t *rs)
{
    int i, n = 0;

    for (i = 0; i < rs->rules->nelts; i++) {
        n += APR_ARRAY_IDX(rs->rules, i, rule_t).code != NULL;
    }
    return n;
}

const char *llm_mask_ruleset_name(const llm_mask_ruleset_t *rs, int i)
{
    int k;

    for (k = 0; k < rs->rules->nelts; k++) {
        const rule_t *rule = &APR_ARRAY_IDX(rs->rules, k, rule_t);

        if (rule->code && i-- == 0) {
            return rule->name;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Spans                                                               */
/* ------------------------------------------------------------------ */

/* The replaced span: the first group that took part, else the whole. */
static void replaced_group(const PCRE2_SIZE *ov, int groups,
                           PCRE2_SIZE *gs, PCRE2_SIZE *ge)
{
    int k;

    for (k = 1; k < groups; k++) {
        if (ov[2 * k] != PCRE2_UNSET) {
            *gs = ov[2 * k];
            *ge = ov[2 * k + 1];
            return;
        }
    }
    *gs = ov[0];
    *ge = ov[1];
}

static int port_ok(const char *s, apr_size_t len)
{
    apr_size_t i;
    long v = 0;

    for (i = 0; i < len; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return len && v >= 1 && v <= 65535;
}

/* One match of rule @a i as a candidate span, or 0 when it is a MISS. */
static int judge(const rule_t *rule, int i, const char *text,
                 const PCRE2_SIZE *ov, int groups, llm_mask_span_t *span)
{
    PCRE2_SIZE gs, ge;
    llm_mask_cand_t c;
    llm_mask_verdict_e v;

    if (rule->ip_port) {
        gs = ov[2];
        ge = ov[3];
    }
    else {
        replaced_group(ov, groups, &gs, &ge);
    }
    if (ge <= gs) {
        return 0;
    }
    c.s = text + ov[0];
    c.len = ov[1] - ov[0];
    c.g = text + gs;
    c.glen = ge - gs;
    c.keep = c.glen;
    v = rule->check ? rule->check(&c) : LLM_MASK_HIT;
    if (v == LLM_MASK_MISS || !c.keep || c.keep > c.glen) {
        return 0;
    }
    span->start = gs;
    span->end = span->mid = gs + c.keep;
    span->port = span->end;
    span->match_len = c.len;
    span->rule = i;
    span->norm = 0;
    span->verdict = v;
    if (rule->ip_port && groups > 2 && ov[4] != PCRE2_UNSET) {
        /* A bad port leaves the whole "address:port" as it was. */
        if (!port_ok(text + ov[4], ov[5] - ov[4])) {
            return 0;
        }
        span->port = ov[4];
        span->end = ov[5];
    }
    return 1;
}

/* After a match at [ov[0], ov[1]): where the rule's scan goes on. As the
 * original: a rejected match consumes its span for this rule
 * (masking.md §1.4); an empty one moves on by a character. */
static PCRE2_SIZE resume_at(const char *text, apr_size_t len,
                            const PCRE2_SIZE *ov)
{
    PCRE2_SIZE at = ov[1];

    if (ov[1] > ov[0]) {
        return at;
    }
    at++;
    while (at < len && ((unsigned char)text[at] & 0xc0) == 0x80) {
        at++;
    }
    return at;
}

/* One scan's state: the text, its match data and context, and where
 * the candidates go. */
typedef struct {
    const char *text;
    apr_size_t len;
    apr_size_t from;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    apr_array_header_t *out;
    const apr_size_t *start_at;     /* per rule, or NULL: 0 */
    apr_array_header_t *steps;      /* llm_mask_step_t, or NULL */
    int odd_case;                   /* llm_mask_where_t.odd_case */
    int has_xx;                     /* llm_mask_where_t.has_xx */
    const llm_mask_facts_t *facts;  /* the rule set's shape facts */
    limit_t *limit;                 /* or NULL */
} scan_t;

/* Has the limit stopped the scan? Looked at when it is reached: is the
 * deadline past, or does the abort test say so? */
static int limit_reached(limit_t *l)
{
    if (l->stopped) {
        return 1;
    }
    if (l->aborted && l->aborted(l->baton)) {
        l->stopped = LLM_MASK_STOP_ABORTED;
    }
    else if (l->deadline && apr_time_now() > l->deadline) {
        l->stopped = LLM_MASK_STOP_DEADLINE;
    }
    return l->stopped != LLM_MASK_RUNNING;
}

/* A rule's scan at @a at: has it stopped? The limit is looked at each
 * time the scan has gone LLM_MASK_CHECK_EVERY bytes on (@a next: where
 * next; without a limit, never), so a scan of a small text never reads
 * the clock. */
static int stop_at(const scan_t *sc, apr_size_t at, apr_size_t *next)
{
    if (at < *next) {
        return 0;               /* (always, without a limit) */
    }
    if (sc->limit->stopped) {
        return 1;
    }
    *next = at + LLM_MASK_CHECK_EVERY;
    return limit_reached(sc->limit);
}

/* Where rule @a i's scan starts, and a note of where it went on. */
static PCRE2_SIZE first_at(const scan_t *sc, int i)
{
    return sc->start_at ? sc->start_at[i] : 0;
}

static void step(scan_t *sc, int i, PCRE2_SIZE at)
{
    if (sc->steps) {
        llm_mask_step_t *st = apr_array_push(sc->steps);

        st->rule = i;
        st->at = at;
    }
}

/* The first match at or after @a at that starts at most at @a limit
 * (PCRE2_UNSET: anywhere), in text[0, end). */
static int match_in(const rule_t *rule, scan_t *sc, PCRE2_SIZE at,
                    PCRE2_SIZE limit, PCRE2_SIZE end)
{
    int rc;

    pcre2_set_offset_limit(sc->mctx, limit);
    rc = pcre2_match(rule->code, (PCRE2_SPTR)sc->text, end, at, 0, sc->md,
                     sc->mctx);
    /* 0: a match with more groups than the match data holds (it is sized
     * for the rule set's largest pattern, so this should not happen). */
    return rc == 0 ? (int)pcre2_get_ovector_count(sc->md) : rc;
}

/* Does the match hold one of the rule's anchor bytes? A scan of the
 * whole text (no anchor, or anchors everywhere) must find no more than
 * the scan around the anchors would. */
static int anchored_match(const rule_t *rule, const scan_t *sc,
                          const PCRE2_SIZE *ov)
{
    return !rule->anchor
           || llm_mask_holds_anchor(rule->anchor, sc->text + ov[0],
                                    ov[1] - ov[0]);
}

static void candidate(const rule_t *rule, int i, scan_t *sc, int groups)
{
    llm_mask_span_t span;

    if (!anchored_match(rule, sc, pcre2_get_ovector_pointer(sc->md))) {
        return;
    }
    if (judge(rule, i, sc->text, pcre2_get_ovector_pointer(sc->md), groups,
              &span) && span.start >= sc->from) {
        *(llm_mask_span_t *)apr_array_push(sc->out) = span;
    }
}

/* A rule without an anchor: every match in the text. */
static void scan_whole(const rule_t *rule, int i, scan_t *sc)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(sc->md);
    PCRE2_SIZE at = first_at(sc, i);
    apr_size_t next = sc->limit ? at + LLM_MASK_CHECK_EVERY : (apr_size_t)-1;
    int rc;

    while (at <= sc->len && !stop_at(sc, at, &next)
           && (rc = match_in(rule, sc, at, PCRE2_UNSET, sc->len)) > 0) {
        candidate(rule, i, sc, rc);
        at = resume_at(sc->text, sc->len, ov);
        step(sc, i, at);
    }
}

/*
 * A rule with an anchor runs only around the clusters of its bytes
 * (llm_mask_anchor.c): for a cluster [t, e), a match whose first anchor
 * byte is in it starts in [t - back, e) and ends before e + span, so one
 * search starting no later than e, in a subject cut at e + span (+ a few
 * bytes for the look-aheads), finds it as a scan of the whole text
 * would. A search that finds nothing there moves on to the next
 * cluster; so does one the rule's shape test rules out.
 */
#define LOOKAHEAD 8

/* The clusters of one anchor, found once per scan for all the rules
 * that share it; and, once a rule asks, for each rule bit the clusters
 * whose quick or near features hold it. */
typedef struct {
    const llm_mask_anchor_t *anchor;
    apr_array_header_t *runs;       /* llm_mask_run_t, in order */
    int listed;
    int *list[64];                  /* by rule bit: cluster indices */
    int nlist[64];
} anchor_runs_t;

/* llm_mask_find_runs's stop test: the scan's limit. */
static int runs_stop(void *baton)
{
    return limit_reached(baton);
}

static anchor_runs_t *runs_of(apr_array_header_t *cache, apr_pool_t *p,
                              const scan_t *sc, const rule_t *rule)
{
    const llm_mask_anchor_t *anchor = rule->anchor;
    anchor_runs_t *ar;
    int k;

    for (k = 0; k < cache->nelts; k++) {
        ar = &APR_ARRAY_IDX(cache, k, anchor_runs_t);
        if (same_anchor(ar->anchor, anchor)) {
            return ar;
        }
    }
    ar = apr_array_push(cache);
    ar->anchor = anchor;
    ar->listed = 0;
    /* A letter of a caseless pattern may be U+212A, 3 bytes. */
    ar->runs = llm_mask_find_runs(p, sc->text, sc->len, anchor, sc->facts,
                                  rule->reach * (sc->odd_case ? 3 : 1),
                                  sc->limit ? runs_stop : NULL, sc->limit);
    return ar;
}

/* For each rule bit, the clusters whose quick or near features hold it,
 * in order (counted, then written into one array). */
static void list_runs(anchor_runs_t *ar, apr_pool_t *p)
{
    const llm_mask_run_t *run = (const llm_mask_run_t *)ar->runs->elts;
    int k, r, total = 0, *at;
    apr_uint64_t b;

    memset(ar->nlist, 0, sizeof(ar->nlist));
    for (k = 0; k < ar->runs->nelts; k++) {
        for (b = run[k].f.quick | run[k].f.near; b; b &= b - 1) {
            ar->nlist[__builtin_ctzll(b)]++;
        }
    }
    for (r = 0; r < 64; r++) {
        total += ar->nlist[r];
    }
    at = apr_palloc(p, (total + 1) * sizeof(*at));
    for (r = 0; r < 64; r++) {
        ar->list[r] = at;
        at += ar->nlist[r];
        ar->nlist[r] = 0;
    }
    for (k = 0; k < ar->runs->nelts; k++) {
        for (b = run[k].f.quick | run[k].f.near; b; b &= b - 1) {
            r = __builtin_ctzll(b);
            ar->list[r][ar->nlist[r]++] = k;
        }
    }
    ar->listed = 1;
}

/* A shape test reads about as much text as the stretch where a match
 * may begin; over a longer one (anchors everywhere, as in "www." a
 * megabyte long) the search runs untested, once per match found,
 * rather than a test reading the stretch again each time. */
#define SHAPE_MAX_STRETCH 256

/* Are there @a n digits in [from, to)? Counted only as far as the n-th:
 * in a long cluster, counting to its end after every match would make
 * the scan quadratic. */
static int has_digits(const char *text, apr_size_t from, apr_size_t to,
                      int n)
{
    for (; from < to && n > 0; from++) {
        n -= text[from] >= '0' && text[from] <= '9';
    }
    return n <= 0;
}

/* One rule's scan around the clusters of its anchor: what stays the
 * same from cluster to cluster, the window its shape test reads
 * included. */
typedef struct {
    const rule_t *rule;
    int i;
    scan_t *sc;
    const llm_mask_run_t *run;
    const PCRE2_SIZE *ov;
    PCRE2_SIZE back;
    PCRE2_SIZE span;
    llm_mask_where_t w;
} rule_scan_t;

static void rule_scan_init(rule_scan_t *rc, const rule_t *rule, int i,
                           scan_t *sc, const anchor_runs_t *ar)
{
    /* A letter of a caseless pattern may be U+212A, 3 bytes. */
    PCRE2_SIZE odd = sc->odd_case ? 3 : 1;

    rc->rule = rule;
    rc->i = i;
    rc->sc = sc;
    rc->run = (const llm_mask_run_t *)ar->runs->elts;
    rc->ov = pcre2_get_ovector_pointer(sc->md);
    rc->back = (PCRE2_SIZE)rule->anchor->back * odd;
    rc->span = (PCRE2_SIZE)rule->anchor->span * odd;
    rc->w.text = (const unsigned char *)sc->text;
    rc->w.len = sc->len;
    rc->w.runs = rc->run;
    rc->w.nruns = ar->runs->nelts;
    rc->w.mark = rule->mark;
    rc->w.odd_case = sc->odd_case;
    rc->w.has_xx = sc->has_xx;
}

/* Could the rule match in [*start, end), around cluster @a k? The test
 * may move *start on. */
static int shape_allows(rule_scan_t *rc, int k, PCRE2_SIZE *start,
                        PCRE2_SIZE end)
{
    const llm_mask_run_t *run = &rc->run[k];

    if (rc->rule->quick && !(run->f.quick & rc->rule->quick)) {
        return 0;
    }
    if (!rc->rule->def->shape || run->end - *start > SHAPE_MAX_STRETCH) {
        return 1;
    }
    rc->w.start = *start;
    rc->w.begin = start;
    rc->w.end = end;
    rc->w.run_start = run->start;
    rc->w.run_end = run->end;
    rc->w.reach = run->reach;
    rc->w.own = &run->f;
    rc->w.k = k;
    return rc->rule->def->shape(&rc->w);
}

/* The matches whose search begins in cluster @a k, from @a at: where
 * the rule's scan goes on, past the cluster. */
static PCRE2_SIZE search_run(rule_scan_t *rc, int k, PCRE2_SIZE at)
{
    const llm_mask_run_t *run = &rc->run[k];
    scan_t *sc = rc->sc;
    PCRE2_SIZE start, end;
    int n;

    while (at < run->end) {
        start = run->start > rc->back ? run->start - rc->back : 0;
        start = start > at ? start : at;
        end = run->end + rc->span + LOOKAHEAD;
        end = end < sc->len ? end : sc->len;
        if (!shape_allows(rc, k, &start, end) || start >= run->end
            || (n = match_in(rc->rule, sc, start, run->end - 1, end)) <= 0) {
            break;
        }
        candidate(rc->rule, rc->i, sc, n);
        at = resume_at(sc->text, sc->len, rc->ov);
        step(sc, rc->i, at);
        if (rc->rule->anchor->digits && at < run->end
            && !has_digits(sc->text, at, run->reach,
                           rc->rule->anchor->digits)) {
            break;              /* too few digits left for another */
        }
    }
    if (at < run->end) {
        at = run->end;
        step(sc, rc->i, at);
    }
    return at;
}

/* A rule whose quick or near bit the clusters' features carry visits
 * only the clusters that hold it (not in a stream, which notes every
 * step, nor near ones in a text with a caseless K). The clusters it
 * passes move its scan on as if it had visited them. */
static const int *listed_runs(const rule_t *rule, const scan_t *sc,
                              anchor_runs_t *ar, apr_pool_t *p, int *n)
{
    apr_uint64_t bit = rule->quick | rule->near;

    if (sc->steps || !bit || (rule->quick && rule->near)
        || (rule->near && sc->odd_case)) {
        return NULL;
    }
    if (!ar->listed) {
        list_runs(ar, p);
    }
    *n = ar->nlist[__builtin_ctzll(bit)];
    return ar->list[__builtin_ctzll(bit)];
}

/* Cluster @a j (of the rule's list, or the j-th) of a rule's scan,
 * which has gone on to @a at: where it goes on. */
static PCRE2_SIZE scan_cluster(rule_scan_t *rc, const int *list, int j,
                               PCRE2_SIZE at)
{
    const rule_t *rule = rc->rule;
    const scan_t *sc = rc->sc;
    int k = list ? list[j] : j;

    if (list && k > 0 && rc->run[k - 1].end > at) {
        at = rc->run[k - 1].end;        /* the clusters passed */
    }
    if (rc->run[k].end <= at) {
        return at;              /* inside what a match consumed */
    }
    if (!list && rule->near && !sc->odd_case && !sc->steps
        && !(rc->run[k].f.near & rule->near)) {
        return rc->run[k].end;  /* nothing the rule needs near here */
    }
    return search_run(rc, k, at);
}

/* With a limit, a rule's scan looks at it each STOP_CLUSTERS clusters:
 * each cluster's search is bounded (a piece, its back and span), so the
 * work between two looks is. */
#define STOP_CLUSTERS 256

/* Each cluster in turn, or those of the rule's list: a cluster passed
 * moves the scan on as if it had been searched. */
static void scan_anchored(const rule_t *rule, int i, scan_t *sc,
                          anchor_runs_t *ar, apr_pool_t *p)
{
    rule_scan_t rc;
    int j, end, n = ar->runs->nelts;
    const int *list = listed_runs(rule, sc, ar, p, &n);
    PCRE2_SIZE at = first_at(sc, i);

    rule_scan_init(&rc, rule, i, sc, ar);
    for (j = 0; j < n; ) {
        end = sc->limit && n - j > STOP_CLUSTERS ? j + STOP_CLUSTERS : n;
        if (sc->limit && j && limit_reached(sc->limit)) {
            return;
        }
        for (; j < end; j++) {
            at = scan_cluster(&rc, list, j, at);
        }
    }
}

/* "XX" or "xx" (an IBAN's check digits, masked): rare, so memchr. */
static int has_xx(const char *text, apr_size_t len)
{
    static const char xs[] = "Xx";
    const char *p, *x;

    for (x = xs; *x; x++) {
        for (p = text; (p = memchr(p, *x, len - (apr_size_t)(p - text)));
             p++) {
            if ((apr_size_t)(p - text) + 1 < len && p[1] == *x) {
                return 1;
            }
        }
    }
    return 0;
}

/* Caseless patterns take U+212A for k and U+017F for s (UCP). Their
 * last bytes, 0xAA and 0xBF, are in no Polish letter: memchr finds
 * them at memory speed where memmem would crawl. */
static int has_odd_case(const char *text, apr_size_t len)
{
    const char *p;

    for (p = text; (p = memchr(p, 0xaa, len - (apr_size_t)(p - text)));
         p++) {
        if (p - text >= 2 && !memcmp(p - 2, "\xe2\x84", 2)) {
            return 1;
        }
    }
    for (p = text; (p = memchr(p, 0xbf, len - (apr_size_t)(p - text)));
         p++) {
        if (p - text >= 1 && p[-1] == '\xc5') {
            return 1;
        }
    }
    return 0;
}

static int span_order(const void *a, const void *b)
{
    const llm_mask_span_t *x = a, *y = b;
    apr_size_t lx = x->end - x->start, ly = y->end - y->start;

    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    if (lx != ly) {
        return lx > ly ? -1 : 1;
    }
    if (x->verdict != y->verdict) {
        return x->verdict == LLM_MASK_HIT ? -1 : 1;
    }
    /* Read in the text rather than through a normalised view: "600 123
     * 456" is the phone it looks like, though a valid REGON joined. */
    if (x->norm != y->norm) {
        return x->norm - y->norm;
    }
    /* The same value: the rule that read a label with it knows better
     * ("Tel. 600000004" is a phone, though a valid REGON too). */
    if (x->match_len != y->match_len) {
        return x->match_len > y->match_len ? -1 : 1;
    }
    return x->rule - y->rule;
}

/* Two runs of candidates in span order, merged into @a out. */
static void merge_two(const llm_mask_span_t *x, int nx,
                      const llm_mask_span_t *y, int ny, llm_mask_span_t *out)
{
    while (nx && ny) {
        if (span_order(y, x) < 0) {
            *out++ = *y++;
            ny--;
        }
        else {
            *out++ = *x++;
            nx--;
        }
    }
    memcpy(out, x, nx * sizeof(*x));
    memcpy(out + nx, y, ny * sizeof(*y));
}

/*
 * The candidates in span order. Each rule's come in order already (its
 * matches never overlap): the runs [bound[i], bound[i + 1]) are merged
 * in pairs, log2(rules) passes, rather than the whole sorted again.
 * Returns the array sorted, @a all or one from @a p.
 */
static llm_mask_span_t *sort_candidates(apr_pool_t *p, llm_mask_span_t *all,
                                        int n, int *bound, int nruns)
{
    llm_mask_span_t *from = all, *to = apr_palloc(p, n * sizeof(*all));
    int i, merged;

    while (nruns > 1) {
        for (i = 0, merged = 0; i < nruns; i += 2, merged++) {
            int a = bound[i], b = bound[i + 1];
            int c = i + 2 <= nruns ? bound[i + 2] : b;

            merge_two(from + a, b - a, from + b, c - b, to + a);
            bound[merged] = a;
        }
        bound[merged] = n;
        nruns = merged;
        all = to;
        to = from;
        from = all;
    }
    return from;
}

/* One rule over the scan's text: around its anchors, or all of it. */
static void scan_rule(const llm_mask_ruleset_t *rs, const rule_t *rule,
                      int i, scan_t *sc, apr_array_header_t *runs,
                      apr_pool_t *p)
{
    anchor_runs_t *around = rule->anchor && !rs->exhaustive
                            ? runs_of(runs, p, sc, rule) : NULL;

    if (around) {
        scan_anchored(rule, i, sc, around, p);
    }
    else {
        scan_whole(rule, i, sc);
    }
}

/* ------------------------------------------------------------------ */
/* The normalised view                                                 */
/* ------------------------------------------------------------------ */

/*
 * Values written to slip past the rules ("4 4 0 5 1 4 0 1 3 5 9",
 * "jan(at)example.com", a zero-width space inside a PESEL) are found in
 * a normalised view of the text (llm_mask_norm.c), built only when the
 * text holds such an edit. The rules that may read through its edits
 * scan the view as they scan the text; what they find is mapped back to
 * the text, over the whole value as written, and joins the candidates
 * when it reads through an edit (else the scan of the text found it
 * already). Only HITs: a check that fails in the view says nothing of
 * the text. A candidate of the view loses a tie with one of the text.
 */

static int reads_view(const rule_t *rule, const llm_mask_view_t *v)
{
    return v->hidden || v->digits || (rule->def && rule->def->normalised);
}

/* A candidate of the view in the text's offsets: 0 when it reads
 * through no edit, or through one its rule may not read through. */
static int from_view(const rule_t *rule, const llm_mask_view_t *v,
                     llm_mask_span_t *sp)
{
    apr_size_t s, e, mid = 0, ms;
    int kinds = llm_mask_view_span(v, sp->start, sp->end, &s, &e);

    if (sp->verdict != LLM_MASK_HIT || !kinds
        || ((kinds & ~(LLM_MASK_NORM_HIDDEN | LLM_MASK_NORM_DIGIT))
            && !(rule->def && rule->def->normalised))) {
        return 0;
    }
    if (sp->mid < sp->end) {           /* an address, then a port */
        llm_mask_view_span(v, sp->start, sp->mid, &ms, &mid);
        sp->mid = mid;
        sp->port = v->at[sp->port];
    }
    else {
        sp->mid = sp->port = e;
    }
    sp->start = s;
    sp->end = e;
    sp->norm = 1;
    return 1;
}

/* The view's scan starts, per rule, where the stream's scan of the
 * view went on (slots after the rules'), and its steps go there. */
static apr_size_t *view_start_at(const scan_t *sc, const llm_mask_view_t *v,
                                 int size, apr_pool_t *p)
{
    apr_size_t *at;
    int i;

    if (!sc->start_at) {
        return NULL;
    }
    at = apr_palloc(p, size * sizeof(*at));
    for (i = 0; i < size; i++) {
        at[i] = llm_mask_view_index(v, sc->start_at[size + i]);
    }
    return at;
}

static void view_steps(scan_t *sc, const apr_array_header_t *steps,
                       const llm_mask_view_t *v, int size)
{
    const llm_mask_step_t *st = (const llm_mask_step_t *)steps->elts;
    int k;

    for (k = 0; sc->steps && k < steps->nelts; k++) {
        llm_mask_step_t *to = apr_array_push(sc->steps);

        to->rule = size + st[k].rule;
        to->at = v->at[st[k].at < v->len ? st[k].at : v->len];
    }
}

/* The clusters of digits the rules' scan found, or NULL. */
static const llm_mask_run_t *digit_runs(const apr_array_header_t *runs,
                                        int *n)
{
    int k;

    for (k = 0; k < runs->nelts; k++) {
        const anchor_runs_t *ar = &APR_ARRAY_IDX(runs, k, anchor_runs_t);

        if (!strcmp(ar->anchor->bytes, LLM_MASK_DIGITS)
            && !ar->anchor->literal) {
            *n = ar->runs->nelts;
            return (const llm_mask_run_t *)ar->runs->elts;
        }
    }
    return NULL;
}

/* The candidates of the view, each rule's a run of @a bound; @a runs,
 * the clusters the scan of the text found. */
static void scan_view(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                      scan_t *sc, const apr_array_header_t *text_runs,
                      int *bound, int *nbound)
{
    llm_mask_view_t v;
    scan_t vs;
    apr_array_header_t *found, *runs;
    int i, k, size = rs->rules->nelts, ndigits = 0;
    const llm_mask_run_t *digits = digit_runs(text_runs, &ndigits);

    if ((sc->limit && sc->limit->stopped)
        || !llm_mask_view(p, sc->text, sc->len, digits, ndigits, &v)) {
        return;
    }
    vs = *sc;
    vs.text = v.text;
    vs.len = v.len;
    vs.from = llm_mask_view_index(&v, sc->from);
    vs.out = found = apr_array_make(p, 8, sizeof(llm_mask_span_t));
    vs.start_at = view_start_at(sc, &v, size, p);
    vs.steps = sc->steps ? apr_array_make(p, 16, sizeof(llm_mask_step_t))
                         : NULL;
    vs.odd_case = has_odd_case(v.text, v.len);
    vs.has_xx = has_xx(v.text, v.len);
    runs = apr_array_make(p, 4, sizeof(anchor_runs_t));
    for (i = 0; i < size; i++) {
        const rule_t *rule = &APR_ARRAY_IDX(rs->rules, i, rule_t);

        if (!rule->code || !reads_view(rule, &v)
            || (vs.limit && vs.limit->stopped)) {
            continue;
        }
        found->nelts = 0;
        scan_rule(rs, rule, i, &vs, runs, p);
        bound[(*nbound)++] = sc->out->nelts;
        for (k = 0; k < found->nelts; k++) {
            llm_mask_span_t *sp = &APR_ARRAY_IDX(found, k, llm_mask_span_t);

            if (from_view(rule, &v, sp)) {
                *(llm_mask_span_t *)apr_array_push(sc->out) = *sp;
            }
        }
    }
    if (vs.steps) {
        view_steps(sc, vs.steps, &v, size);
    }
}

/* The spans, as llm_mask_spans_resumed; -1 when @a limit stopped the
 * scan (then none). */
static int spans_of(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                    const char *text, apr_size_t len, apr_size_t from,
                    int holds, llm_mask_span_t **spans,
                    const apr_size_t *start_at, apr_array_header_t *steps,
                    limit_t *limit)
{
    /* Room for a candidate per 64 bytes, as prose with PII has. */
    apr_array_header_t *cands = llm_mask_array_make(p, (int)(len / 64) + 8,
                                                    sizeof(llm_mask_span_t));
    apr_array_header_t *runs = apr_array_make(p, 4, sizeof(anchor_runs_t));
    llm_mask_span_t *all, *kept;
    apr_size_t last_end = from;
    int *bound = apr_palloc(p, (2 * rs->rules->nelts + 2) * sizeof(*bound));
    int nbound = 0;
    scan_t sc;
    int i, n = 0;

    *spans = NULL;
    if (limit && limit_reached(limit)) {
        return -1;
    }
    sc.limit = limit;
    sc.text = text;
    sc.len = len;
    sc.from = from;
    sc.out = cands;
    sc.start_at = start_at;
    sc.steps = steps;
    sc.odd_case = has_odd_case(text, len);
    sc.has_xx = has_xx(text, len);
    sc.facts = &rs->facts;
    sc.md = pcre2_match_data_create(rs->groups + 1, NULL);
    sc.mctx = pcre2_match_context_copy(rs->mctx);
    if (!sc.md || !sc.mctx) {
        pcre2_match_data_free(sc.md);
        pcre2_match_context_free(sc.mctx);
        return 0;
    }
    for (i = 0; i < rs->rules->nelts; i++) {
        const rule_t *rule = &APR_ARRAY_IDX(rs->rules, i, rule_t);

        if (!rule->code) {
            continue;
        }
        if (limit && limit->stopped) {
            break;
        }
        bound[nbound++] = cands->nelts;     /* this rule's run begins */
        scan_rule(rs, rule, i, &sc, runs, p);
    }
    scan_view(rs, p, &sc, runs, bound, &nbound);
    pcre2_match_data_free(sc.md);
    pcre2_match_context_free(sc.mctx);
    if (limit && limit->stopped) {
        return -1;
    }
    if (!cands->nelts) {
        return 0;
    }
    bound[nbound] = cands->nelts;
    all = sort_candidates(p, (llm_mask_span_t *)cands->elts, cands->nelts,
                          bound, nbound);
    kept = all;         /* written over in place: kept <= all */
    for (i = 0; i < cands->nelts; i++) {
        if (all[i].start < last_end) {
            continue;   /* overlaps a span taken already: it loses */
        }
        last_end = all[i].end;
        if (all[i].verdict == LLM_MASK_HIT || holds) {
            kept[n++] = all[i];
        }
    }
    *spans = kept;
    return n;
}

int llm_mask_spans(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                   const char *text, apr_size_t len, apr_size_t from,
                   int holds, llm_mask_span_t **spans)
{
    return spans_of(rs, p, text, len, from, holds, spans, NULL, NULL, NULL);
}

int llm_mask_spans_resumed(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                           const char *text, apr_size_t len,
                           apr_size_t from, int holds,
                           llm_mask_span_t **spans,
                           const apr_size_t *start_at,
                           apr_array_header_t *steps)
{
    return spans_of(rs, p, text, len, from, holds, spans, start_at, steps,
                    NULL);
}

/* ------------------------------------------------------------------ */
/* Sessions and tokens                                                 */
/* ------------------------------------------------------------------ */

llm_mask_session_t *llm_mask_session_create(apr_pool_t *p,
                                            llm_mask_mode_e mode)
{
    llm_mask_session_t *s = apr_pcalloc(p, sizeof(*s));

    s->pool = p;
    s->mode = mode;
    s->by_value = apr_hash_make(p);
    s->counters = apr_hash_make(p);
    s->map = apr_hash_make(p);
    s->lengths = apr_hash_make(p);
    s->tally = apr_array_make(p, 4, sizeof(llm_mask_tally_t));
    return s;
}

const apr_array_header_t *llm_mask_session_tally(const llm_mask_session_t *s)
{
    return s->tally;
}

/* One more value of @a tag masked. A request masks few kinds: a scan. */
static void tally(llm_mask_session_t *s, const char *tag)
{
    llm_mask_tally_t *t;
    int i;

    for (i = 0; i < s->tally->nelts; i++) {
        t = &APR_ARRAY_IDX(s->tally, i, llm_mask_tally_t);
        if (!strcmp(t->type, tag)) {
            t->count++;
            return;
        }
    }
    t = apr_array_push(s->tally);
    t->type = tag;              /* the rule's, as long as the rule set */
    t->count = 1;
}

void llm_mask_session_limit(llm_mask_session_t *s, apr_time_t deadline,
                            llm_mask_abort_fn aborted, void *baton)
{
    s->limit.deadline = deadline;
    s->limit.aborted = aborted;
    s->limit.baton = baton;
    s->limit.stopped = LLM_MASK_RUNNING;
    s->limited = deadline || aborted;
}

llm_mask_stop_e llm_mask_session_stopped(const llm_mask_session_t *s)
{
    return s->limit.stopped;
}

apr_hash_t *llm_mask_session_map(const llm_mask_session_t *s)
{
    return s->map;
}

const char *llm_mask_session_original(const llm_mask_session_t *s,
                                      const char *token, apr_size_t len,
                                      apr_size_t *original_len)
{
    const char *original = apr_hash_get(s->map, token, len);
    const apr_size_t *olen = apr_hash_get(s->lengths, token, len);

    *original_len = original ? *olen : 0;
    return original;
}

/* The token of one value: {{TAG}}, or its pseudonym {{TAG_n}}, the
 * same for the same value within the session. */
static const char *token_of(llm_mask_session_t *s, apr_pool_t *p,
                            const char *tag, const char *value,
                            apr_size_t len)
{
    apr_size_t tlen = strlen(tag);
    char *key;
    const char *token;
    apr_size_t *olen;
    int *count;

    if (!s || s->mode == LLM_MASK_STATIC) {
        return apr_pstrcat(p, "{{", tag, "}}", NULL);   /* PORT's */
    }
    key = apr_palloc(p, tlen + 1 + len);    /* a lookup: the call's pool */
    memcpy(key, tag, tlen + 1);
    memcpy(key + tlen + 1, value, len);
    if ((token = apr_hash_get(s->by_value, key, tlen + 1 + len))) {
        return token;
    }
    if (!(count = apr_hash_get(s->counters, tag, APR_HASH_KEY_STRING))) {
        count = apr_pcalloc(s->pool, sizeof(*count));
        apr_hash_set(s->counters, apr_pstrdup(s->pool, tag),
                     APR_HASH_KEY_STRING, count);
    }
    token = apr_psprintf(s->pool, "{{%s_%d}}", tag, ++*count);
    key = apr_pmemdup(s->pool, key, tlen + 1 + len);
    apr_hash_set(s->by_value, key, tlen + 1 + len, token);
    apr_hash_set(s->map, token, APR_HASH_KEY_STRING,
                 apr_pstrmemdup(s->pool, value, len));
    olen = apr_palloc(s->pool, sizeof(*olen));
    *olen = len;
    apr_hash_set(s->lengths, token, APR_HASH_KEY_STRING, olen);
    return token;
}

static char *put(char *out, const char *s, apr_size_t len)
{
    memcpy(out, s, len);
    return out + len;
}

char *llm_mask_render(const llm_mask_ruleset_t *rs, llm_mask_session_t *s,
                      apr_pool_t *p, const char *text, apr_size_t from,
                      apr_size_t to, const llm_mask_span_t *spans,
                      int nspans, apr_size_t *out_len, int *n)
{
    const char **tokens = apr_palloc(p, sizeof(*tokens) * 2 * (nspans + 1));
    apr_size_t size = to - from, at = from;
    char *out, *w;
    int i, k = 0;

    *n = 0;
    for (i = 0; i < nspans; i++) {
        const llm_mask_span_t *sp = &spans[i];
        const rule_t *rule = &APR_ARRAY_IDX(rs->rules, sp->rule, rule_t);

        tokens[2 * i] = !s || s->mode == LLM_MASK_STATIC ? rule->token
                        : token_of(s, p, rule->tag, text + sp->start,
                                   sp->mid - sp->start);
        tokens[2 * i + 1] = sp->port < sp->end
            ? token_of(s, p, "PORT", text + sp->port, sp->end - sp->port)
            : NULL;
        if (s) {
            tally(s, rule->tag);
            if (tokens[2 * i + 1]) {
                tally(s, "PORT");
            }
        }
        size = size - (sp->end - sp->start) + strlen(tokens[2 * i])
               + (sp->port - sp->mid)
               + (tokens[2 * i + 1] ? strlen(tokens[2 * i + 1]) : 0);
    }
    w = out = apr_palloc(p, size + 1);
    for (i = 0; i < nspans; i++) {
        const llm_mask_span_t *sp = &spans[i];

        w = put(w, text + at, sp->start - at);
        w = put(w, tokens[2 * i], strlen(tokens[2 * i]));
        if (tokens[2 * i + 1]) {
            w = put(w, text + sp->mid, sp->port - sp->mid);
            w = put(w, tokens[2 * i + 1], strlen(tokens[2 * i + 1]));
            k++;
        }
        at = sp->end;
        k++;
    }
    w = put(w, text + at, to - at);
    *w = '\0';
    *out_len = (apr_size_t)(w - out);
    *n = k;
    return out;
}

const char *llm_mask_apply(const llm_mask_ruleset_t *rs,
                           llm_mask_session_t *s, apr_pool_t *p,
                           const char *in, apr_size_t len,
                           apr_size_t *out_len, int *n)
{
    llm_mask_span_t *spans;
    int nspans = spans_of(rs, p, in, len, 0, 0, &spans, NULL, NULL,
                          s && s->limited ? &s->limit : NULL);

    if (nspans < 0) {
        *out_len = 0;
        *n = 0;
        return NULL;
    }
    if (!nspans) {
        *out_len = len;
        *n = 0;
        return in;
    }
    return llm_mask_render(rs, s, p, in, 0, len, spans, nspans, out_len, n);
}

const char *llm_mask_find(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                          const char *text, apr_size_t len)
{
    llm_mask_span_t *spans;

    if (!llm_mask_spans(rs, p, text, len, 0, 0, &spans)) {
        return NULL;
    }
    return APR_ARRAY_IDX(rs->rules, spans[0].rule, rule_t).name;
}
