/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* What the rules' shape facts and tests are written with (the rule
 * files, llm_mask_rule_*.c): byte classes, a cluster's groups, the
 * window's text; and the features of a cluster of anchor bytes that
 * they read (llm_mask_shape.c, llm_mask_anchor.c finds the clusters). */

#ifndef LLM_MASK_SHAPE_H
#define LLM_MASK_SHAPE_H

#include "llm_mask_private.h"

/** The digits' anchor: most rules' matches hold one. */
#define LLM_MASK_DIGITS "0123456789"

#define LLM_MASK_BIT(n) ((apr_uint32_t)1 << (n))
#define LLM_MASK_BITS(lo, hi)                                              \
    ((((apr_uint32_t)2 << (hi)) - 1) & ~(LLM_MASK_BIT(lo) - 1))

/* ASCII classes. Caseless patterns in UCP mode also take U+212A
 * (Kelvin) for k and U+017F (long s) for s: a test that reads letters
 * of such a pattern says "maybe" for a text that holds either
 * (llm_mask_where_t.odd_case). */
static inline int llm_mask_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline int llm_mask_is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static inline int llm_mask_is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static inline int llm_mask_is_word(unsigned char c)
{
    return llm_mask_is_digit(c) || llm_mask_is_alpha(c) || c == '_';
}

static inline int llm_mask_is_hex(unsigned char c)
{
    return llm_mask_is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static inline unsigned char llm_mask_lower(unsigned char c)
{
    return llm_mask_is_upper(c) ? c | 0x20 : c;
}

static inline int llm_mask_in(apr_size_t n, apr_size_t lo, apr_size_t hi)
{
    return n >= lo && n <= hi;
}

/* ------------------------------------------------------------------ */
/* A cluster's groups of digits (group tests)                          */
/* ------------------------------------------------------------------ */

static inline apr_size_t llm_mask_glen(const llm_mask_groups_t *gs, int i)
{
    return gs->g[i].end - gs->g[i].start;
}

/* The byte before group @a i (a space at the text's start). */
static inline unsigned char llm_mask_before(const llm_mask_groups_t *gs,
                                            int i)
{
    return gs->g[i].start ? gs->u[gs->g[i].start - 1] : ' ';
}

/* Exactly the one byte @a a or @a b between group i - 1 and group i? */
static inline int llm_mask_joined_by(const llm_mask_groups_t *gs, int i,
                                     char a, char b)
{
    apr_size_t at;

    if (i <= 0 || i >= gs->n) {
        return 0;
    }
    at = gs->g[i - 1].end;
    return gs->g[i].start == at + 1
           && (gs->u[at] == (unsigned char)a || gs->u[at] == (unsigned char)b);
}

/* One character of 2 or 3 bytes outside ASCII (NBSP, the other \h)
 * between group i - 1 and group i? */
static inline int llm_mask_joined_by_high(const llm_mask_groups_t *gs, int i)
{
    apr_size_t at, n;

    if (i <= 0 || i >= gs->n) {
        return 0;
    }
    n = gs->g[i].start - gs->g[i - 1].end;
    if (n < 2 || n > 3) {
        return 0;
    }
    for (at = gs->g[i - 1].end; at < gs->g[i].start; at++) {
        if (gs->u[at] < 0x80) {
            return 0;
        }
    }
    return 1;
}

/* \h or nothing: REGON's and SIM_CARD's joints. */
static inline int llm_mask_joined_by_h(const llm_mask_groups_t *gs, int i)
{
    return llm_mask_joined_by(gs, i, ' ', '\t')
           || llm_mask_joined_by_high(gs, i);
}

/* ------------------------------------------------------------------ */
/* The window's text (shape tests)                                     */
/* ------------------------------------------------------------------ */

#define LLM_MASK_NOWHERE ((apr_size_t)-1)

/* @a lit (lower case ASCII, or bytes outside ASCII as they are) at
 * @a p, caseless. */
static inline int llm_mask_at_ci(const llm_mask_where_t *w, apr_size_t p,
                                 const char *lit)
{
    for (; *lit; lit++, p++) {
        if (p >= w->len || llm_mask_lower(w->text[p]) != (unsigned char)*lit) {
            return 0;
        }
    }
    return 1;
}

/** Where @a lit first begins, caseless, in [from, to), or NOWHERE. */
apr_size_t llm_mask_find_ci(const llm_mask_where_t *w, const char *lit,
                            apr_size_t from, apr_size_t to);

static inline int llm_mask_begins_in(const llm_mask_where_t *w,
                                     const char *lit, apr_size_t from,
                                     apr_size_t to)
{
    return llm_mask_find_ci(w, lit, from, to) != LLM_MASK_NOWHERE;
}

/* Does @a lit begin where a match may: [start, run_end)? */
#define LLM_MASK_BEGINS_IN(w, lit)                                         \
    llm_mask_begins_in(w, lit, (w)->start, (w)->run_end)

/* Does a word of @a list (NULL-terminated) begin at @a p? */
static inline int llm_mask_any_at(const llm_mask_where_t *w, apr_size_t p,
                                  const char *const *list)
{
    for (; *list; list++) {
        if (llm_mask_at_ci(w, p, *list)) {
            return 1;
        }
    }
    return 0;
}

/* No match begins before @a p: the search may start there. */
static inline void llm_mask_begin_at(const llm_mask_where_t *w, apr_size_t p)
{
    if (p != LLM_MASK_NOWHERE && p > *w->begin) {
        *w->begin = p;
    }
}

/* The cluster's start less @a n bytes, or 0. */
static inline apr_size_t llm_mask_start_less(const llm_mask_where_t *w,
                                             apr_size_t n)
{
    return w->run_start > n ? w->run_start - n : 0;
}

/* Three bytes as one number: words compared in one switch. */
#define LLM_MASK_K3(a, b, c) (((apr_uint32_t)(unsigned char)(a) << 16)     \
                              | ((apr_uint32_t)(unsigned char)(b) << 8)    \
                              | (apr_uint32_t)(unsigned char)(c))

/* The three bytes from @a p, ASCII capitals folded (0 past the end). */
static inline apr_uint32_t llm_mask_key3(const llm_mask_where_t *w,
                                         apr_size_t p)
{
    if (p + 3 > w->len) {
        return 0;
    }
    return LLM_MASK_K3(llm_mask_lower(w->text[p]),
                       llm_mask_lower(w->text[p + 1]),
                       llm_mask_lower(w->text[p + 2]));
}

/* ------------------------------------------------------------------ */
/* Clusters and their features (llm_mask_anchor.c, llm_mask_shape.c)   */
/* ------------------------------------------------------------------ */

/* Has a rule quick facts, near facts? */
static inline int llm_mask_has_quick(const llm_mask_quick_t *q)
{
    return q->lens || q->labelled || q->group;
}

static inline int llm_mask_has_near(const llm_mask_near_t *n)
{
    return n->lens || n->words || n->group;
}

/** The shape facts of the enabled rules of @a defs (bit r for
 *  defs[r]; @a on[r] says whether it is enabled), for the features. */
void llm_mask_facts_init(llm_mask_facts_t *facts,
                         const llm_mask_rule_def_t *const *defs,
                         const int *on);

/** The features of the cluster [start, end) of a text of @a len bytes
 *  (words are read beyond the cluster, within the text). */
void llm_mask_cluster_features(const unsigned char *u, apr_size_t len,
                               apr_size_t start, apr_size_t end,
                               const llm_mask_facts_t *facts,
                               llm_mask_features_t *f);

/** The clusters' near features (llm_mask_features_t.near), once the
 *  features of all are read. */
void llm_mask_near_features(llm_mask_run_t *runs, int n,
                            const llm_mask_facts_t *facts);

/** Only the separators' features of a cluster (for anchors other than
 *  the digits, whose shape tests read no more). */
apr_uint32_t llm_mask_cluster_seps(const unsigned char *u, apr_size_t start,
                                   apr_size_t end);

/** Anchors less than this many bytes apart are one cluster ("512 345
 *  678", "15.03.2024 o 14:30"): one search over a stretch that starts
 *  and ends with an anchor byte finds what a search per run would, and
 *  costs less. The shape tests rely on it being 13 (llm_mask_shape.c). */
#define LLM_MASK_RUN_GAP 13

/** A cluster longer than this many bytes is searched in pieces of
 *  about as many (llm_mask_anchor.c): the features and tests of a piece
 *  still rule most rules out in a text dense in digits, a search after
 *  a match never reads the cluster to its end, and a text of n bytes
 *  costs O(n). */
#define LLM_MASK_PIECE 128

/**
 * The clusters of the anchor's bytes and literal (caseless) in @a text,
 * in order, each with its features (llm_mask_anchor.c); a long cluster
 * in pieces, whose features (of digits) read as far as a match that
 * begins in them may reach: @a span, the longest match of the rules
 * that share the anchor. Allocated from @a p. With @a stop, called
 * with @a baton each LLM_MASK_CHECK_EVERY bytes of the text as the
 * features are read: when it says to stop, the clusters after that
 * place are left out (the scan is given up: llm_mask_session_limit).
 */
apr_array_header_t *llm_mask_find_runs(apr_pool_t *p, const char *text,
                                       apr_size_t len,
                                       const llm_mask_anchor_t *a,
                                       const llm_mask_facts_t *facts,
                                       apr_size_t span,
                                       int (*stop)(void *), void *baton);

/** A set of bytes to look for, 16 at a time when it is every digit
 *  and/or at most three other bytes (SSE2 or NEON through the vector
 *  extensions), byte by byte otherwise. */
typedef struct {
    char table[256];
    int digits;
    unsigned char other[3];
    int nother;
    int fast;
} llm_mask_bytes_t;

/** The set of the bytes of @a bytes, and the NUL byte with @a nul. */
void llm_mask_bytes_init(llm_mask_bytes_t *c, const char *bytes, int nul);

/** The first byte of the set at or after @a t in @a text, or @a len. */
apr_size_t llm_mask_bytes_next(const llm_mask_bytes_t *c, const char *text,
                               apr_size_t t, apr_size_t len);

/** apr_array_make() without zeroing the room it makes (megabytes for a
 *  long text's clusters and candidates, each written before it is
 *  read); apr_array_push() grows it as any. */
apr_array_header_t *llm_mask_array_make(apr_pool_t *p, int n, int size);

/** Does [s, s + n) hold one of the anchor's bytes or its literal? */
int llm_mask_holds_anchor(const llm_mask_anchor_t *a, const char *s,
                          apr_size_t n);

#endif /* LLM_MASK_SHAPE_H */
