/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Inside the masking engine: the default rule table (llm_mask_rules.c)
 * and the span finder shared by apply, stream and guard (llm_mask.c). */

#ifndef LLM_MASK_PRIVATE_H
#define LLM_MASK_PRIVATE_H

#include "apr_tables.h"

#include "llm_mask.h"

/**
 * Chains of digit groups, each joined to the next by exactly one
 * separator, in a cluster: the most digits of one chain. A pattern
 * whose groups of digits are joined by at most one such separator
 * matches within one chain, and a chain lies in one cluster.
 */
typedef struct {
    unsigned dash_digits;       /* ' ' or '-' (CREDIT_CARD) */
    unsigned h_digits;          /* ' ', a tab, or a non-ASCII character
                                   (NBSP, the other \h: SIM_CARD) */
} llm_mask_chains_t;

/** The digit structure of one cluster of anchor bytes (or of several:
 *  llm_mask_where_wide), read by the shape tests. */
typedef struct {
    apr_uint32_t lens;          /* bit n: a maximal run of n digits
                                   (bit 31: 31 or more) */
    apr_uint32_t words;         /* bit n: a maximal ASCII word (letters,
                                   digits, '_') of n bytes holding a
                                   digit (bit 31: 31 or more) */
    apr_uint32_t lwords;        /* the same, of words that begin with two
                                   ASCII letters */
    apr_uint32_t seps;          /* LLM_MASK_SEP_*: bytes between digits */
    apr_uint32_t marks;         /* LLM_MASK_MARK_*: shapes of groups */
    llm_mask_chains_t chains;   /* the longest chains of digit groups */
    apr_uint32_t quick;         /* LLM_MASK_QUICK_*: the quick tests that
                                   pass here */
    apr_uint32_t near;          /* LLM_MASK_NEAR_*: of this cluster and
                                   every one that begins less than
                                   LLM_MASK_NEAR_AHEAD bytes after it
                                   (a search begins past the clusters
                                   before the one searched) */
} llm_mask_features_t;

/* What the rules that read several clusters (llm_mask_where_wide) need
 * in one of them: a cheap first test over a window reaching as far as
 * any of theirs (DATE's span + LOOKAHEAD), before their own. */
#define LLM_MASK_NEAR_AHEAD  88
#define LLM_MASK_NEAR_YEAR   0x01   /* a group of 4: DATE */
#define LLM_MASK_NEAR_PHONE  0x02   /* 9, or PHONE's groups */
#define LLM_MASK_NEAR_PLATE  0x04
#define LLM_MASK_NEAR_CERT   0x08   /* a word of 16 or more */
#define LLM_MASK_NEAR_VIN    0x10   /* a word of 17 */
#define LLM_MASK_NEAR_MAC    0x20   /* a word of 12, or a hex pair */
#define LLM_MASK_NEAR_KRS    0x40   /* 10 */
#define LLM_MASK_NEAR_PESEL  0x80   /* 11 */

/** A cluster of anchor bytes: [start, end) starts and ends with one. */
typedef struct {
    apr_size_t start;
    apr_size_t end;
    llm_mask_features_t f;      /* for anchors that hold every digit */
} llm_mask_run_t;

/**
 * What a rule's search window holds, for its shape test (below): the
 * window [start, end) of @a text (every match lies in it and begins
 * before run_end), and the features of the cluster searched.
 */
typedef struct {
    const unsigned char *text;
    apr_size_t len;
    apr_size_t start;           /* where a match may begin */
    apr_size_t end;             /* where every match ends, at the latest */
    apr_size_t run_start;       /* the cluster searched: every match */
    apr_size_t run_end;         /* begins in [start, run_end) */
    apr_size_t *begin;          /* where the search begins: a test that
                                   knows no match begins before a later
                                   place moves it there (never back) */
    const llm_mask_features_t *own;     /* the cluster's features */
    const llm_mask_run_t *runs;         /* every cluster, for */
    int nruns;                          /* llm_mask_where_wide */
    int k;                              /* the one searched */
    int odd_case;               /* the text holds U+212A or U+017F, which
                                   caseless matching takes for k and s */
    int has_xx;                 /* the text holds "XX" or "xx" */
} llm_mask_where_t;

/** The features of every cluster the window touches, together: the
 *  cluster's own, or those of several written in @a buf (lens, words,
 *  seps and marks only). */
const llm_mask_features_t *llm_mask_where_wide(const llm_mask_where_t *w,
                                               llm_mask_features_t *buf);

#define LLM_MASK_SEP_SPACE  0x001   /* ' ' or a tab */
#define LLM_MASK_SEP_DASH   0x002
#define LLM_MASK_SEP_DOT    0x004
#define LLM_MASK_SEP_SLASH  0x008
#define LLM_MASK_SEP_COLON  0x010
#define LLM_MASK_SEP_COMMA  0x020
#define LLM_MASK_SEP_UNDER  0x040   /* '_' */
#define LLM_MASK_SEP_ALPHA  0x080   /* an ASCII letter */
#define LLM_MASK_SEP_HIGH   0x100   /* a byte of a non-ASCII character */
#define LLM_MASK_SEP_OTHER  0x200

/* Digit groups in a row, each joined to the next by exactly what the
 * rule allows (llm_mask_shape.c says which). */
#define LLM_MASK_MARK_TIME      0x01    /* 2 [:.] 2 */
#define LLM_MASK_MARK_POSTAL    0x02    /* 2 - 3 */
#define LLM_MASK_MARK_SSN       0x04    /* 3 - 2 - 4 */
#define LLM_MASK_MARK_HEALTH    0x08    /* 8 / 3 */
#define LLM_MASK_MARK_DATE      0x10    /* 4 . 1-2 . 1-2 or 1-2 . 1-2 . 4 */
#define LLM_MASK_MARK_PHONE     0x20    /* 2-3 then two or more 2-4 */
#define LLM_MASK_MARK_REGON     0x80    /* 2 3 4 (5), \h or nothing between */
#define LLM_MASK_MARK_NIP       0x100   /* 3 3 2 2 or 3 2 2 3, - or ' ' */
#define LLM_MASK_MARK_LABELLED  0x200   /* letters right before (or [-_/]) */
#define LLM_MASK_MARK_PLATE     0x400   /* 2-3 capitals, \h?, 3-5 more */
#define LLM_MASK_MARK_HEX_PAIR  0x800   /* a 2-byte word beside ':' or '-' */
#define LLM_MASK_MARK_IBAN      0x1000  /* two letters, [ -]?, the group */
#define LLM_MASK_MARK_ORDER     0x2000  /* [DR] [-_]? 3-10 */
#define LLM_MASK_MARK_INVOICE   0x4000  /* [VE] [/-] 4 */
#define LLM_MASK_MARK_SOCIAL    0x8000  /* d 8-20 */
#define LLM_MASK_MARK_NRB       0x10000 /* 2 (4){6}, not after AB */
#define LLM_MASK_MARK_PLUS      0x20000 /* '+' right before [1-9] */

/**
 * A rule's shape test: 0 when no match of the rule can lie in the
 * window, from what the window holds (llm_mask_shape.c); it may move
 * *w->begin on past where no match can begin. It must never
 * say 0 where PCRE2 would find a match: a necessary condition, cheap,
 * checked against a scan without it by t/unit/test_mask.c and the fuzz
 * target.
 */
typedef int (*llm_mask_shape_fn)(const llm_mask_where_t *w);

/** Shape tests that read no more than a cluster's own features, done
 *  once per cluster for all rules (llm_mask_features_t.quick): the rule
 *  runs only where its bit is set (the same contract). */
#define LLM_MASK_QUICK_PESEL         0x0001
#define LLM_MASK_QUICK_NIP           0x0002
#define LLM_MASK_QUICK_REGON         0x0004
#define LLM_MASK_QUICK_DATE_NUMERIC  0x0008
#define LLM_MASK_QUICK_TIME          0x0010
#define LLM_MASK_QUICK_POSTAL        0x0020
#define LLM_MASK_QUICK_NRB           0x0040
#define LLM_MASK_QUICK_PASSPORT      0x0080
#define LLM_MASK_QUICK_ID_CARD       0x0100
#define LLM_MASK_QUICK_SSN           0x0200
#define LLM_MASK_QUICK_HEALTH        0x0400
#define LLM_MASK_QUICK_CARD          0x0800
#define LLM_MASK_QUICK_PHONE_INTL    0x2000
#define LLM_MASK_QUICK_INVOICE       0x4000
#define LLM_MASK_QUICK_ORDER         0x8000
#define LLM_MASK_QUICK_SOCIAL        0x10000
#define LLM_MASK_QUICK_SIM           0x1000

/**
 * Where a rule can match, so that it runs only there (llm_mask.c): every
 * match holds one of @a bytes (or @a literal, ASCII, caseless), starts
 * at most @a back bytes before the first of them and is at most @a span
 * bytes long; @a quick, then @a shape, when set, say where it cannot. A
 * rule without an anchor (a custom rule) scans the whole text.
 */
typedef struct {
    const char *bytes;
    int back;
    int span;
    const char *literal;
    llm_mask_shape_fn shape;
    apr_uint32_t quick;         /* an LLM_MASK_QUICK_* bit, or 0 */
    int digits;                 /* the fewest digits of a match, all in
                                   the cluster where it begins (0: not
                                   so): a cluster searched again after
                                   a match needs as many more */
    apr_uint32_t near;          /* LLM_MASK_NEAR_* bits one of which a
                                   cluster's near features must hold
                                   (but in a text with a caseless K:
                                   VIN's words are then not ASCII) */
} llm_mask_anchor_t;

/** A rule of the default list. */
typedef struct {
    const char *name;           /* EMAIL: for LLMMaskDisable/Enable */
    const char *pattern;        /* PCRE2 */
    const char *check;          /* a validator's name, or NULL */
    int ip_port;                /* group 1 is an address, group 2 a port:
                                   two tokens, IP and PORT */
    const char *tag;            /* the token's text, NULL: the name */
    const llm_mask_anchor_t *anchor;
} llm_mask_rule_def_t;

/** The default list, in priority order, ending with a NULL name. */
extern const llm_mask_rule_def_t llm_mask_default_rules[];

/** A PII value found: [start, end) replaced by the rule's token; with
 *  an address and a port, [start, mid) is the address and
 *  [port, end) the port. */
typedef struct {
    apr_size_t start;
    apr_size_t end;
    apr_size_t mid;             /* == end unless a port follows */
    apr_size_t port;
    apr_size_t match_len;       /* the whole match, label included */
    int rule;
    llm_mask_verdict_e verdict;
} llm_mask_span_t;

/**
 * The spans to replace in @a text (HITs only, non-overlapping, in
 * order), from the rules' candidates that start at or after @a from
 * (the bytes before it are context: look-behinds and labels). Returns
 * their number; @a spans is allocated from @a p. With @a holds, HOLD
 * spans are returned too (the stream must not cut inside one).
 */
int llm_mask_spans(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                   const char *text, apr_size_t len, apr_size_t from,
                   int holds, llm_mask_span_t **spans);

/** Where a rule's scan went on after a match (or a run without one). */
typedef struct {
    int rule;
    apr_size_t at;
} llm_mask_step_t;

/**
 * llm_mask_spans for a stream: rule i's scan starts at @a start_at[i]
 * (where the scan of the text before went on, so that a chain of
 * matches is cut as a scan of the whole text cuts it), and each place
 * a scan went on is appended to @a steps. Both may be NULL.
 */
int llm_mask_spans_resumed(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                           const char *text, apr_size_t len,
                           apr_size_t from, int holds,
                           llm_mask_span_t **spans,
                           const apr_size_t *start_at,
                           apr_array_header_t *steps);

/** Test only: every rule scans the whole text, no anchors, no shape
 *  tests (what they must never change). */
void llm_mask_ruleset_exhaustive(llm_mask_ruleset_t *rs, int on);

/** The number of rules, enabled or not (the size of start_at). */
int llm_mask_ruleset_size(const llm_mask_ruleset_t *rs);

/** Write @a text with @a spans (of llm_mask_spans, [from, to) of the
 *  text) replaced by their tokens; @a n counts the values replaced. */
char *llm_mask_render(const llm_mask_ruleset_t *rs, llm_mask_session_t *s,
                      apr_pool_t *p, const char *text, apr_size_t from,
                      apr_size_t to, const llm_mask_span_t *spans,
                      int nspans, apr_size_t *out_len, int *n);

/** The longest pseudonym token the session gives ({{...}}), for the
 *  un-masking stream's hold-back. */
#define LLM_MASK_TOKEN_MAX 64

#endif /* LLM_MASK_PRIVATE_H */
