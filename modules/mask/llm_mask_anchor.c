/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Where the rules run: the clusters of a rule's anchor bytes (digits,
 * '@', ...) and literal ("www.") in a text, each with the features its
 * shape test reads (llm_mask_shape.c). Found once per text for all the
 * rules of one anchor (llm_mask.c caches them).
 *
 * Prose holds a digit every few dozen bytes at most, so the walk tests
 * 16 bytes at a time (GCC/Clang vector extensions: SSE2 or NEON, no
 * intrinsics) and looks at single bytes only in a block that holds an
 * anchor.
 */

#include <string.h>

#include "apr_tables.h"

#include "llm_mask_shape.h"

typedef unsigned char v16u __attribute__((vector_size(16)));
typedef signed char v16s __attribute__((vector_size(16)));

/* An anchor's bytes as the walk tests them (llm_mask_bytes_t). */
typedef llm_mask_bytes_t byte_class_t;

static void class_of(byte_class_t *c, const char *bytes)
{
    const unsigned char *b;
    int d;

    memset(c, 0, sizeof(*c));
    for (b = (const unsigned char *)bytes; *b; b++) {
        c->table[*b] = 1;
    }
    for (d = '0', c->digits = 1; d <= '9'; d++) {
        c->digits &= c->table[d];
    }
    c->fast = 1;
    for (b = (const unsigned char *)bytes; *b; b++) {
        if (c->digits && *b >= '0' && *b <= '9') {
            continue;
        }
        if (c->nother == 3) {
            c->fast = 0;
            break;
        }
        c->other[c->nother++] = *b;
    }
}

/* Where in the 16 bytes at @a u the first anchor byte is, or 16. */
static unsigned block_first(const byte_class_t *c, const unsigned char *u)
{
    v16u v;
    v16s hit = { 0 };
    apr_uint64_t half[2];
    int k;

    memcpy(&v, u, sizeof(v));
    if (c->digits) {
        hit = (v16s)((v16u)(v - (unsigned char)'0') < (unsigned char)10);
    }
    for (k = 0; k < c->nother; k++) {
        hit |= (v16s)(v == c->other[k]);
    }
    memcpy(half, &hit, sizeof(half));   /* lane i: byte i, 0xff or 0 */
#if APR_IS_BIGENDIAN
    return half[0] ? (unsigned)__builtin_clzll(half[0]) / 8
         : half[1] ? 8 + (unsigned)__builtin_clzll(half[1]) / 8 : 16;
#else
    return half[0] ? (unsigned)__builtin_ctzll(half[0]) / 8
         : half[1] ? 8 + (unsigned)__builtin_ctzll(half[1]) / 8 : 16;
#endif
}

/* The first anchor byte at or after @a t, or @a len. */
static apr_size_t next_byte(const byte_class_t *c, const unsigned char *u,
                            apr_size_t t, apr_size_t len)
{
    if (!c->digits && c->nother == 1 && c->fast) {
        const unsigned char *hit = t < len ? memchr(u + t, c->other[0],
                                                    len - t) : NULL;

        return hit ? (apr_size_t)(hit - u) : len;
    }
    if (c->fast) {
        for (; t + 16 <= len; t += 16) {
            unsigned at = block_first(c, u + t);

            if (at < 16) {
                return t + at;
            }
        }
    }
    while (t < len && !c->table[u[t]]) {
        t++;
    }
    return t;
}

void llm_mask_bytes_init(llm_mask_bytes_t *c, const char *bytes, int nul)
{
    class_of(c, bytes);
    if (nul) {
        c->table[0] = 1;
        if (c->fast && c->nother < 3) {
            c->other[c->nother++] = 0;
        }
        else {
            c->fast = 0;
        }
    }
}

apr_size_t llm_mask_bytes_next(const llm_mask_bytes_t *c, const char *text,
                               apr_size_t t, apr_size_t len)
{
    return next_byte(c, (const unsigned char *)text, t, len);
}

static int same_ci(const unsigned char *s, const char *lit, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = s[i], l = (unsigned char)lit[i];

        if (c != l && !((c | 0x20) == (l | 0x20) && (l | 0x20) >= 'a'
                        && (l | 0x20) <= 'z')) {
            return 0;
        }
    }
    return 1;
}

/* The places where a literal begins, caseless: its rarest byte (in
 * either case) found with memchr, then the whole compared. */
typedef struct {
    const char *lit;
    apr_size_t n;
    const unsigned char *u;
    apr_size_t len;
    apr_size_t next[2];         /* the next rarest byte, in each case */
    apr_size_t key;             /* where in the literal it is */
} literal_scan_t;

/* The literal's byte that prose holds least often: a non-letter, else
 * the first of the letters ranked rarest first (Polish and English). */
static apr_size_t rarest(const char *lit, apr_size_t n)
{
    static const char rank[] = "qxjvfgbkhpmwuylcdtsnroiaez";
    apr_size_t i, best = n - 1, best_rank = sizeof(rank);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(lit[i] | 0x20);
        const char *r = c >= 'a' && c <= 'z' ? strchr(rank, c) : NULL;
        apr_size_t at = r ? (apr_size_t)(r - rank) : 0;

        if (at < best_rank) {
            best = i;
            best_rank = at;
        }
    }
    return best;
}

static apr_size_t find_byte(const literal_scan_t *ls, unsigned char c,
                            apr_size_t from)
{
    const unsigned char *hit = from < ls->len
        ? memchr(ls->u + from, c, ls->len - from) : NULL;

    return hit ? (apr_size_t)(hit - ls->u) : ls->len;
}

/* The next place at or after @a t where the literal begins, or len. */
static apr_size_t next_literal(literal_scan_t *ls, apr_size_t t)
{
    unsigned char last = (unsigned char)ls->lit[ls->key];
    int letter = (last | 0x20) >= 'a' && (last | 0x20) <= 'z';
    apr_size_t at = t + ls->key;
    int k;

    for (;;) {
        for (k = 0; k < 2; k++) {
            if (ls->next[k] < at || ls->next[k] == (apr_size_t)-1) {
                ls->next[k] = k && !letter ? ls->len
                              : find_byte(ls, k ? last ^ 0x20 : last, at);
            }
        }
        at = ls->next[0] < ls->next[1] ? ls->next[0] : ls->next[1];
        if (at >= ls->len) {
            return ls->len;
        }
        if (at - ls->key + ls->n <= ls->len
            && same_ci(ls->u + at - ls->key, ls->lit, ls->n)) {
            return at - ls->key;
        }
        at++;
    }
}

apr_array_header_t *llm_mask_array_make(apr_pool_t *p, int n, int size)
{
    apr_array_header_t *a = apr_palloc(p, sizeof(*a));

    a->pool = p;
    a->elt_size = size;
    a->nelts = 0;
    a->nalloc = n > 0 ? n : 1;
    a->elts = apr_palloc(p, (apr_size_t)a->nalloc * size);
    return a;
}

/* Append [start, end), one with the last cluster when close enough; a
 * cluster that grows long goes on in a new piece (then 1). */
static int add_run(apr_array_header_t *runs, apr_size_t start,
                   apr_size_t end)
{
    llm_mask_run_t *last = runs->nelts
        ? &APR_ARRAY_IDX(runs, runs->nelts - 1, llm_mask_run_t) : NULL;
    int piece = 0;

    if (last && start <= last->end + LLM_MASK_RUN_GAP) {
        if (start - last->start < LLM_MASK_PIECE) {
            last->end = end > last->end ? end : last->end;
            return 0;
        }
        piece = 1;
    }
    last = apr_array_push(runs);
    last->start = start;
    last->end = end;
    last->piece = piece;
    return piece;
}

/* A piece's features read on into the pieces after it, as far as a
 * match that begins in it may reach (@a span), and no further than its
 * cluster: a match's digits are all in the cluster where it begins. */
static void set_reach(llm_mask_run_t *run, int n, apr_size_t span)
{
    int k, j;

    for (k = 0; k < n; k++) {
        run[k].reach = run[k].end;
        for (j = k + 1; j < n && run[j].piece
                        && run[j].start < run[k].end + span; j++) {
            run[k].reach = run[j].end;
        }
    }
}

apr_array_header_t *llm_mask_find_runs(apr_pool_t *p, const char *text,
                                       apr_size_t len,
                                       const llm_mask_anchor_t *a,
                                       const llm_mask_facts_t *facts,
                                       apr_size_t span,
                                       int (*stop)(void *), void *baton)
{
    apr_array_header_t *runs;
    apr_size_t check = LLM_MASK_CHECK_EVERY;
    const unsigned char *u = (const unsigned char *)text;
    literal_scan_t ls = { a->literal, a->literal ? strlen(a->literal) : 0,
                          u, len, { (apr_size_t)-1, (apr_size_t)-1 }, 0 };
    apr_size_t b, e, lit = ls.n ? next_literal(&ls, 0) : len;
    byte_class_t c;
    int k, digits, pieces = 0;

    class_of(&c, a->bytes);
    digits = c.digits && !c.nother;     /* the anchor of the features */
    span = c.digits ? span : 0;         /* nothing read past a piece */
    ls.key = ls.n ? rarest(ls.lit, ls.n) : 0;
    /* Room for a cluster of digits per 100 bytes, as prose with PII
     * has: an array grown by doubling copies every cluster again. */
    runs = llm_mask_array_make(p, c.digits ? (int)(len / 100) + 16 : 16,
                               sizeof(llm_mask_run_t));
    b = next_byte(&c, u, 0, len);
    while (b < len || lit < len) {
        if (lit < b) {
            pieces |= add_run(runs, lit, lit + ls.n);
            lit = next_literal(&ls, lit + 1);
            continue;
        }
        for (e = b + 1; e < len && c.table[u[e]]; e++) {
        }
        pieces |= add_run(runs, b, e);
        b = next_byte(&c, u, e, len);
    }
    if (pieces) {
        set_reach((llm_mask_run_t *)runs->elts, runs->nelts, span);
    }
    /* The shape tests read the features of the digits' clusters, only
     * the separators of clusters of digits and other bytes (IP's), and
     * nothing of the others. */
    for (k = 0; k < runs->nelts; k++) {
        llm_mask_run_t *run = &APR_ARRAY_IDX(runs, k, llm_mask_run_t);

        run->reach = pieces ? run->reach : run->end;
        if (stop && run->start >= check) {
            check = run->start + LLM_MASK_CHECK_EVERY;
            if (stop(baton)) {
                runs->nelts = k;
                break;
            }
        }
        if (digits) {
            llm_mask_cluster_features(u, len, run->start, run->reach, facts,
                                      &run->f);
            continue;
        }
        memset(&run->f, 0, sizeof(run->f));
        if (c.digits) {
            run->f.seps = llm_mask_cluster_seps(u, run->start, run->reach);
        }
    }
    if (digits) {
        llm_mask_near_features((llm_mask_run_t *)runs->elts, runs->nelts,
                               facts);
    }
    return runs;
}

int llm_mask_holds_anchor(const llm_mask_anchor_t *a, const char *s,
                          apr_size_t n)
{
    apr_size_t k, ln = a->literal ? strlen(a->literal) : 0;
    int digits = strchr(a->bytes, '0') != NULL;     /* "0123456789" */

    for (k = 0; k < n; k++) {
        if ((digits && s[k] >= '0' && s[k] <= '9')
            || (s[k] && strchr(a->bytes, s[k]))
            || (ln && k + ln <= n
                && same_ci((const unsigned char *)s + k, a->literal, ln))) {
            return 1;
        }
    }
    return 0;
}
