/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The features of a cluster of anchor bytes, read once per cluster for
 * every rule, and the helpers the rules' shape tests are written with
 * (docs/masking.md, "Where the rules run"). Each rule's own facts and
 * tests are beside its pattern, in llm_mask_rule_*.c: this file knows
 * no rule.
 *
 * A cluster's features: the lengths of its maximal runs of digits
 * (groups), the ASCII words around them, its separators, whether
 * letters come right before a group; then, for each rule, whether its group test passed
 * for one of the groups (marks), whether its quick facts hold (quick)
 * and whether its near facts hold here or in a cluster just after
 * (near). A test may say "maybe" too often, never "no" where PCRE2
 * would find a match; t/unit/test_mask_shape.c and the fuzz target
 * compare every text masked with the tests and without them
 * (llm_mask_ruleset_exhaustive).
 *
 * Which cluster holds a match's digits: a match begins in
 * [start, run_end) of the cluster searched, and by then the scan is past
 * every cluster before it (llm_mask.c), so a group of digits that
 * begins at most 13 bytes after the match does is in this cluster: the
 * next one begins over LLM_MASK_RUN_GAP (13) bytes after run_end. Most
 * tests read this cluster's features (w->own); the rules whose digits
 * may come later (a label first: PHONE, KRS, a month first: DATE, hex
 * letters first: SSL_CERT, MAC_ADDRESS, VIN, a plate after its label)
 * read every cluster of the window (llm_mask_where_wide). Groups joined
 * by at most 13 bytes (DATE_NUMERIC's "2024 - 03 - 05" in wide spaces)
 * are always in one cluster.
 */

#include <string.h>

#include "llm_mask_shape.h"

/* ------------------------------------------------------------------ */
/* The rules' facts, as the features read them                        */
/* ------------------------------------------------------------------ */

/* The class of a byte beside a group (LLM_MASK_BYTE_*), as its bit's
 * place. */
static unsigned byte_class(unsigned char c)
{
    if (c >= 0x80) {
        return 10;
    }
    if (llm_mask_is_alpha(c)) {
        return c >= 'a' ? 2 : 1;
    }
    switch (c) {
    case ' ': case '\t': return 0;
    case '+': return 3;
    case '-': return 4;
    case '/': return 5;
    case '_': return 6;
    case '.': return 7;
    case ',': return 8;
    case ':': return 9;
    }
    return 11;
}

static int only_group_quick(const llm_mask_quick_t *q)
{
    return q->group && !q->lens && !q->labelled;
}

void llm_mask_facts_init(llm_mask_facts_t *facts,
                         const llm_mask_rule_def_t *const *defs,
                         const int *on)
{
    int r, n;

    memset(facts, 0, sizeof(*facts));
    for (n = 0; n < 256; n++) {
        facts->byte_class[n] = (unsigned char)byte_class((unsigned char)n);
    }
    for (r = 0; r < 64 && defs[r]; r++) {
        const llm_mask_rule_def_t *d = defs[r];
        apr_uint64_t bit = (apr_uint64_t)1 << r;

        if (!on[r]) {
            continue;
        }
        if (d->group) {
            apr_uint32_t before = d->group_before ? d->group_before
                                                  : LLM_MASK_BYTE_ANY;
            apr_uint32_t after = d->group_after ? d->group_after
                                                : LLM_MASK_BYTE_ANY;

            facts->group[r] = d->group;
            for (n = 0; n < 32; n++) {
                facts->by_len[n] |= d->group_lens & LLM_MASK_BIT(n) ? bit : 0;
            }
            for (n = 0; n < LLM_MASK_BYTE_CLASSES; n++) {
                facts->by_before[n] |= before & LLM_MASK_BIT(n) ? bit : 0;
                facts->by_after[n] |= after & LLM_MASK_BIT(n) ? bit : 0;
            }
        }
        /* A test of the group alone is a bit of the marks: the rules
         * with no other fact are read in one step. */
        if (only_group_quick(&d->quick)) {
            facts->quick_marks |= bit;
        }
        else if (llm_mask_has_quick(&d->quick)) {
            facts->quick[facts->nquick].def = d;
            facts->quick[facts->nquick++].bit = bit;
        }
        if (d->near.group && !d->near.lens && !d->near.words) {
            facts->near_marks |= bit;
        }
        else if (llm_mask_has_near(&d->near)) {
            facts->near[facts->nnear].def = d;
            facts->near[facts->nnear++].bit = bit;
        }
    }
}

/* ------------------------------------------------------------------ */
/* A cluster's features, from its groups of digits                     */
/* ------------------------------------------------------------------ */

/* Letters right before group @a i, or one of [-_/] after letters:
 * ORDER123, fbid123, FV/2023, TX_1234, AB1234567 (a byte outside ASCII
 * may be a letter: caseless, U+212A is a K). */
static int labelled(const llm_mask_groups_t *gs, int i)
{
    apr_size_t at = gs->g[i].start;
    unsigned char b = llm_mask_before(gs, i);

    if (llm_mask_is_alpha(b) || b >= 0x80) {
        return 1;
    }
    return (b == '-' || b == '_' || b == '/') && at >= 2
           && (llm_mask_is_alpha(gs->u[at - 2]) || gs->u[at - 2] >= 0x80);
}

static unsigned len_index(apr_size_t n)
{
    return n < 31 ? (unsigned)n : 31;
}

/* The text's edges count as a space. */
static unsigned after_class(const llm_mask_groups_t *gs,
                            const llm_mask_facts_t *facts, int i)
{
    apr_size_t e = gs->g[i].end;

    return e < gs->len ? facts->byte_class[gs->u[e]] : 0;
}

/* Each rule's group test, for the groups of a length and between bytes
 * it may pass for, until it passes once. */
static apr_uint64_t read_marks(const llm_mask_groups_t *gs,
                               const llm_mask_facts_t *facts)
{
    apr_uint64_t m = 0, todo;
    int i, r;

    for (i = 0; i < gs->n; i++) {
        todo = facts->by_len[len_index(llm_mask_glen(gs, i))]
               & facts->by_before[facts->byte_class[llm_mask_before(gs, i)]]
               & facts->by_after[after_class(gs, facts, i)] & ~m;
        while (todo) {
            r = __builtin_ctzll(todo);
            todo &= todo - 1;
            if (facts->group[r](gs, i)) {
                m |= (apr_uint64_t)1 << r;
            }
        }
    }
    return m;
}

static int quick_holds(const llm_mask_quick_t *q, apr_uint64_t bit,
                       const llm_mask_features_t *f)
{
    return (!q->lens || (f->lens & q->lens))
           && (!q->labelled || f->labelled)
           && (!q->group || (f->marks & bit));
}

static apr_uint64_t read_quick(const llm_mask_features_t *f,
                               const llm_mask_facts_t *facts)
{
    apr_uint64_t q = f->marks & facts->quick_marks;
    int j;

    for (j = 0; j < facts->nquick; j++) {
        if (quick_holds(&facts->quick[j].def->quick, facts->quick[j].bit, f)) {
            q |= facts->quick[j].bit;
        }
    }
    return q;
}

static apr_uint32_t sep_bit(unsigned char c)
{
    switch (c) {
    case ' ': case '\t': return LLM_MASK_SEP_SPACE;
    case '-': return LLM_MASK_SEP_DASH;
    case '.': return LLM_MASK_SEP_DOT;
    case '/': return LLM_MASK_SEP_SLASH;
    case ':': return LLM_MASK_SEP_COLON;
    case ',': return LLM_MASK_SEP_COMMA;
    case '_': return LLM_MASK_SEP_UNDER;
    }
    if (c >= 0x80) {
        return LLM_MASK_SEP_HIGH;
    }
    return llm_mask_is_alpha(c) ? LLM_MASK_SEP_ALPHA : LLM_MASK_SEP_OTHER;
}

apr_uint32_t llm_mask_cluster_seps(const unsigned char *u, apr_size_t start,
                                   apr_size_t end)
{
    apr_uint32_t seps = 0;

    for (; start < end; start++) {
        if (!llm_mask_is_digit(u[start])) {
            seps |= sep_bit(u[start]);
        }
    }
    return seps;
}

/* The words (ASCII letters, digits, '_') around each group, and
 * letters before it. A word is read once for all its groups, and no
 * further than 32 bytes on either side of a group: its length counts
 * only up to 31, and a word as long as the text ("a1a1...") read from
 * each of its groups would make the features quadratic. */
static void read_words(llm_mask_groups_t *gs, llm_mask_features_t *f)
{
    const unsigned char *u = gs->u;
    int i;

    for (i = 0; i < gs->n; i++) {
        apr_size_t s = gs->g[i].start, e = gs->g[i].end, ws = s, we = e;

        f->labelled |= labelled(gs, i);
        if (i > 0 && gs->g[i - 1].we > s) {
            gs->g[i].ws = gs->g[i - 1].ws;      /* the same word */
            gs->g[i].we = gs->g[i - 1].we > e ? gs->g[i - 1].we : e;
            continue;
        }
        while (ws > 0 && s - ws < 32 && llm_mask_is_word(u[ws - 1])) {
            ws--;
        }
        while (we < gs->len && we - e < 32 && llm_mask_is_word(u[we])) {
            we++;
        }
        gs->g[i].ws = ws;
        gs->g[i].we = we;
        f->words |= LLM_MASK_BIT(len_index(we - ws));
        if (we - ws >= 31 || (we - ws >= 2 && llm_mask_is_alpha(u[ws])
                              && llm_mask_is_alpha(u[ws + 1]))) {
            f->lwords |= LLM_MASK_BIT(len_index(we - ws));
        }
    }
}

/* A cluster with more groups than LLM_MASK_MAX_GROUPS: every feature,
 * so that no test rules anything out there. */
static void read_everything(llm_mask_features_t *f)
{
    f->lens = f->words = f->lwords = f->seps = ~(apr_uint32_t)0;
    f->labelled = 1;
    f->marks = f->quick = ~(apr_uint64_t)0;
}

void llm_mask_cluster_features(const unsigned char *u, apr_size_t len,
                               apr_size_t start, apr_size_t end,
                               const llm_mask_facts_t *facts,
                               llm_mask_features_t *f)
{
    llm_mask_groups_t gs;
    apr_size_t i = start, a;

    memset(f, 0, sizeof(*f));
    gs.u = u;
    gs.len = len;
    gs.n = 0;
    while (i < end) {
        if (!llm_mask_is_digit(u[i])) {
            f->seps |= sep_bit(u[i++]);
            continue;
        }
        for (a = i; i < len && llm_mask_is_digit(u[i]); i++) {
        }
        f->lens |= LLM_MASK_BIT(len_index(i - a));
        if (gs.n == LLM_MASK_MAX_GROUPS) {
            read_everything(f);
            return;
        }
        gs.g[gs.n].start = a;
        gs.g[gs.n++].end = i;
    }
    read_words(&gs, f);
    f->marks = read_marks(&gs, facts);
    f->quick = read_quick(f, facts);
}

/* The rules whose near facts hold in one cluster. */
static apr_uint64_t read_near(const llm_mask_features_t *f,
                              const llm_mask_facts_t *facts)
{
    apr_uint64_t n = f->marks & facts->near_marks;
    int j;

    for (j = 0; j < facts->nnear; j++) {
        const llm_mask_near_t *nf = &facts->near[j].def->near;
        apr_uint64_t bit = facts->near[j].bit;

        if ((f->lens & nf->lens) || (f->words & nf->words)
            || (nf->group && (f->marks & bit))) {
            n |= bit;
        }
    }
    return n;
}

void llm_mask_near_features(llm_mask_run_t *runs, int n,
                            const llm_mask_facts_t *facts)
{
    int k, j;

    for (k = 0; k < n; k++) {
        runs[k].f.near = read_near(&runs[k].f, facts);
    }
    for (k = 0; k < n; k++) {
        for (j = k + 1;
             j < n && runs[j].start < runs[k].end + LLM_MASK_NEAR_AHEAD;
             j++) {
            runs[k].f.near |= runs[j].f.near;
        }
    }
}

const llm_mask_features_t *llm_mask_where_wide(const llm_mask_where_t *w,
                                               llm_mask_features_t *f)
{
    int j, alone = (w->k == 0 || w->runs[w->k - 1].end <= w->start)
                   && (w->k + 1 == w->nruns
                       || w->runs[w->k + 1].start >= w->end);

    if (alone) {
        return w->own;
    }
    memset(f, 0, sizeof(*f));
    for (j = w->k; j > 0 && w->runs[j - 1].end > w->start; j--) {
    }
    for (; j < w->nruns && w->runs[j].start < w->end; j++) {
        const llm_mask_features_t *o = &w->runs[j].f;

        f->lens |= o->lens;
        f->words |= o->words;
        f->lwords |= o->lwords;
        f->seps |= o->seps;
        f->labelled |= o->labelled;
        f->marks |= o->marks;
    }
    return f;
}

/* ------------------------------------------------------------------ */
/* Reading the window's text                                           */
/* ------------------------------------------------------------------ */

apr_size_t llm_mask_find_ci(const llm_mask_where_t *w, const char *lit,
                            apr_size_t from, apr_size_t to)
{
    unsigned char first = (unsigned char)lit[0];

    for (to = to < w->len ? to : w->len; from < to; from++) {
        if (llm_mask_lower(w->text[from]) == first
            && llm_mask_at_ci(w, from, lit)) {
            return from;
        }
    }
    return LLM_MASK_NOWHERE;
}
