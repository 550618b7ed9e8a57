/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Inside the masking engine: the default rule table (llm_mask_rules.c)
 * and the span finder shared by apply, stream and guard (llm_mask.c). */

#ifndef LLM_MASK_PRIVATE_H
#define LLM_MASK_PRIVATE_H

#include "apr_tables.h"

#include "llm_mask.h"

/** The digit structure of one cluster of anchor bytes (or of several:
 *  llm_mask_where_wide), read by the rules' shape facts and tests. The
 *  64-bit sets have one bit per default rule, its place in the list
 *  (llm_mask_default_rules). */
typedef struct {
    apr_uint32_t lens;          /* bit n: a maximal run of n digits
                                   (bit 31: 31 or more) */
    apr_uint32_t words;         /* bit n: a maximal ASCII word (letters,
                                   digits, '_') of n bytes holding a
                                   digit (bit 31: 31 or more) */
    apr_uint32_t lwords;        /* the same, of words that begin with two
                                   ASCII letters */
    apr_uint32_t seps;          /* LLM_MASK_SEP_*: bytes between digits */
    int labelled;               /* letters right before a group, or one
                                   of [-_/] after letters (ORDER123,
                                   FV/2023, TX_1234, AB1234567) */
    apr_uint64_t marks;         /* the rules whose group test passed for
                                   one of the groups */
    apr_uint64_t quick;         /* the rules whose quick facts hold */
    apr_uint64_t near;          /* the rules whose near facts hold in
                                   this cluster or in one that begins
                                   less than LLM_MASK_NEAR_AHEAD bytes
                                   after it (a search begins past the
                                   clusters before the one searched) */
} llm_mask_features_t;

/* How far the near facts look ahead: as far as any rule that reads
 * several clusters (llm_mask_where_wide) may reach, DATE's span +
 * LOOKAHEAD. */
#define LLM_MASK_NEAR_AHEAD  88

/** A cluster of anchor bytes: [start, end) starts and ends with one;
 *  or a piece of a long cluster (llm_mask_anchor.c). */
typedef struct {
    apr_size_t start;
    apr_size_t end;
    apr_size_t reach;           /* its features read the groups of digits
                                   up to here: every digit of a match
                                   that begins before end is before it
                                   (end, but for a piece) */
    int piece;                  /* a piece after a cluster's first: it
                                   begins less than LLM_MASK_RUN_GAP
                                   bytes after the one before */
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
    apr_size_t reach;           /* and has its digits before reach, all
                                   in the groups that own describes */
    apr_size_t *begin;          /* where the search begins: a test that
                                   knows no match begins before a later
                                   place moves it there (never back) */
    const llm_mask_features_t *own;     /* the cluster's features */
    const llm_mask_run_t *runs;         /* every cluster, for */
    int nruns;                          /* llm_mask_where_wide */
    int k;                              /* the one searched */
    apr_uint64_t mark;          /* the rule's own bit in marks */
    int odd_case;               /* the text holds U+212A or U+017F, which
                                   caseless matching takes for k and s */
    int has_xx;                 /* the text holds "XX" or "xx" */
} llm_mask_where_t;

/** The features of every cluster the window touches, together: the
 *  cluster's own, or those of several written in @a buf (all but
 *  quick and near). */
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

/** The most digit groups whose features a cluster records; one with
 *  more says it has every feature (its bytes are not all read). A piece
 *  of a long cluster has at most 65, and its features read those of
 *  the next 80 bytes (240 in a text with a caseless K). */
#define LLM_MASK_MAX_GROUPS 128

/** A maximal run of digits of a cluster, and the ASCII word (letters,
 *  digits, '_') around it. */
typedef struct {
    apr_size_t start;
    apr_size_t end;
    apr_size_t ws;
    apr_size_t we;
} llm_mask_group_t;

/* Classes of the bytes right before and after a group, for the rules'
 * group tests (the text's edges count as a space). */
#define LLM_MASK_BYTE_SPACE  0x001  /* ' ' or a tab */
#define LLM_MASK_BYTE_UPPER  0x002  /* an ASCII capital */
#define LLM_MASK_BYTE_LOWER  0x004
#define LLM_MASK_BYTE_PLUS   0x008
#define LLM_MASK_BYTE_DASH   0x010
#define LLM_MASK_BYTE_SLASH  0x020
#define LLM_MASK_BYTE_UNDER  0x040
#define LLM_MASK_BYTE_DOT    0x080
#define LLM_MASK_BYTE_COMMA  0x100
#define LLM_MASK_BYTE_COLON  0x200
#define LLM_MASK_BYTE_HIGH   0x400  /* a byte of a non-ASCII character */
#define LLM_MASK_BYTE_OTHER  0x800
#define LLM_MASK_BYTE_CLASSES 12
#define LLM_MASK_BYTE_LETTER (LLM_MASK_BYTE_UPPER | LLM_MASK_BYTE_LOWER)
#define LLM_MASK_BYTE_ANY    0xfff

/** The groups of digits of a cluster, in order, and the whole text. */
typedef struct {
    const unsigned char *u;
    apr_size_t len;
    llm_mask_group_t g[LLM_MASK_MAX_GROUPS];
    int n;
} llm_mask_groups_t;

/**
 * A rule's group test: 1 when a match's digits may begin with group
 * @a i (read with the groups after it and the bytes around), 0 when
 * they cannot. Run once per cluster for each group whose length is in
 * the rule's group_lens; the rule's bit of the features' marks says
 * that it passed for one of them.
 */
typedef int (*llm_mask_group_fn)(const llm_mask_groups_t *gs, int i);

/**
 * A rule's shape test: 0 when no match of the rule can lie in the
 * window, from what the window holds; it may move *w->begin on past
 * where no match can begin. It must never say 0 where PCRE2 would find
 * a match: a necessary condition, cheap, checked against a scan without
 * it by t/unit/test_mask_shape.c and the fuzz target.
 */
typedef int (*llm_mask_shape_fn)(const llm_mask_where_t *w);

/**
 * Quick facts: what the cluster where a match begins must hold, from
 * its own features alone (its digits are all there: llm_mask_shape.c).
 * Every fact set must hold; a rule with none has no quick test. Read
 * once per cluster for all rules (features' quick): a rule passes the
 * clusters without its bit in one loop.
 */
typedef struct {
    apr_uint32_t lens;          /* a maximal run of one of these lengths */
    int labelled;               /* letters right before a group */
    int group;                  /* the rule's group test passed */
} llm_mask_quick_t;

/**
 * Near facts, of a rule whose digits may come well after the match
 * begins (a label, a month, hex letters first): one of them must hold
 * in a cluster that begins less than LLM_MASK_NEAR_AHEAD bytes after
 * the one searched (it is ignored in a text with a caseless K, whose
 * words are not ASCII).
 */
typedef struct {
    apr_uint32_t lens;          /* a maximal run of one of these lengths */
    apr_uint32_t words;         /* a word holding a digit, of one of
                                   these lengths */
    int group;                  /* the rule's group test passed */
} llm_mask_near_t;

/**
 * Where a rule can match, so that it runs only there (llm_mask.c): every
 * match holds one of @a bytes (or @a literal, ASCII, caseless), starts
 * at most @a back bytes before the first of them and is at most @a span
 * bytes long. A rule without an anchor (a custom rule) scans the whole
 * text.
 */
typedef struct {
    const char *bytes;
    const char *literal;
    int back;
    int span;
    int digits;                 /* the fewest digits of a match, all in
                                   the cluster where it begins (0: not
                                   so): a cluster searched again after
                                   a match needs as many more */
} llm_mask_anchor_t;

/**
 * A default rule, whole: what it matches (pattern, validator, token),
 * where it can (anchor), and the shape facts and test that keep it
 * from running where it cannot. Each is written once, in a file per
 * family of rules (llm_mask_rule_*.c), beside the pattern it follows
 * from; llm_mask_rules.c lists them in priority order.
 */
typedef struct {
    const char *name;           /* EMAIL: for LLMMaskDisable/Enable */
    const char *pattern;        /* PCRE2 */
    const char *check;          /* a validator's name, or NULL */
    const char *tag;            /* the token's text, NULL: the name */
    int ip_port;                /* group 1 is an address, group 2 a port:
                                   two tokens, IP and PORT */
    llm_mask_anchor_t anchor;   /* bytes NULL: none */
    llm_mask_group_fn group;    /* or NULL; it runs only for groups */
    apr_uint32_t group_lens;    /* of these lengths (bit n: n digits), */
    apr_uint32_t group_before;  /* with one of these bytes right before */
    apr_uint32_t group_after;   /* and right after (LLM_MASK_BYTE_*; 0:
                                   any) */
    llm_mask_quick_t quick;
    llm_mask_near_t near;
    llm_mask_shape_fn shape;    /* or NULL */
    int normalised;             /* a match may read through digits
                                   spread and a spelt '@' or '.' (its
                                   check digits decide, or an e-mail);
                                   every rule reads through invisible
                                   characters (llm_mask_norm.c) */
} llm_mask_rule_def_t;

/** The default list, in priority order, ending with NULL
 *  (llm_mask_rules.c); at most 64 rules (a bit each in the features). */
extern const llm_mask_rule_def_t *const llm_mask_default_rules[];

/** The shape facts of a rule set's enabled default rules, as the
 *  features read them (llm_mask_shape.c). */
typedef struct {
    const llm_mask_rule_def_t *def;
    apr_uint64_t bit;
} llm_mask_fact_t;

typedef struct {
    llm_mask_group_fn group[64];    /* by rule: its group test */
    apr_uint64_t by_len[32];    /* the rules whose group test may pass
                                   for a group of n digits (31: or more) */
    apr_uint64_t by_before[LLM_MASK_BYTE_CLASSES];  /* after a byte of
                                   class 1 << n */
    apr_uint64_t by_after[LLM_MASK_BYTE_CLASSES];
    unsigned char byte_class[256];  /* of each byte: n for class 1 << n */
    apr_uint64_t quick_marks;   /* the rules whose only quick fact is
                                   their group test */
    apr_uint64_t near_marks;    /* the same, of near facts */
    llm_mask_fact_t quick[64];  /* the other rules with quick facts */
    llm_mask_fact_t near[64];   /* and with near facts */
    int nquick;
    int nnear;
} llm_mask_facts_t;

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
    int norm;                   /* found in the normalised view: loses
                                   a tie with one found in the text */
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
 * a scan went on is appended to @a steps. Both may be NULL. The
 * scans of the normalised view (llm_mask_norm.c) have the slots after
 * the rules': rule i's at [size + i] (llm_mask_ruleset_size).
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

/** The number of rules, enabled or not (start_at has twice as many:
 *  the scans of the text, then of its normalised view). */
int llm_mask_ruleset_size(const llm_mask_ruleset_t *rs);

/** Write @a text with @a spans (of llm_mask_spans, [from, to) of the
 *  text) replaced by their tokens; @a n counts the values replaced. */
char *llm_mask_render(const llm_mask_ruleset_t *rs, llm_mask_session_t *s,
                      apr_pool_t *p, const char *text, apr_size_t from,
                      apr_size_t to, const llm_mask_span_t *spans,
                      int nspans, apr_size_t *out_len, int *n);

/* The kinds of edits of a normalised view (llm_mask_norm.c), as the
 * flags of its bytes. */
#define LLM_MASK_NORM_HIDDEN 0x01   /* invisible characters removed right
                                       before this byte */
#define LLM_MASK_NORM_SPREAD 0x02   /* separators of a spread number */
#define LLM_MASK_NORM_SPELT  0x04   /* this byte stands for "(at)", ... */
#define LLM_MASK_NORM_DIGIT  0x08   /* this byte stands for a digit of
                                       another script (2-4 bytes) */

/** A normalised view of a text: what rules read for values written to
 *  slip past them (zero-width characters inside, digits spread,
 *  "(at)" for '@'), with where each of its bytes comes from. */
typedef struct {
    const char *text;           /* NUL-terminated */
    const char *orig;           /* the text it is a view of */
    apr_size_t len;
    apr_uint32_t *at;           /* at[i]: the text's offset of byte i;
                                   at[len]: the text's length */
    unsigned char *flag;        /* per byte: LLM_MASK_NORM_* */
    int hidden;                 /* some invisible characters removed */
    int digits;                 /* some digits of other scripts mapped */
} llm_mask_view_t;

/** The view of @a text, from @a p: 1, or 0 when it would be the text
 *  itself (then @a v is empty). Linear in @a len. With @a runs, the
 *  clusters of digits (every digit in one, with its separators: as
 *  llm_mask_find_runs gives them), numbers are looked for only there;
 *  the view is the same. */
int llm_mask_view(apr_pool_t *p, const char *text, apr_size_t len,
                  const llm_mask_run_t *runs, int nruns, llm_mask_view_t *v);

/** Do the @a n digits joined from a number split in groups make an
 *  identifier of their length whose check they pass (a PESEL of 11,
 *  a NIP of 10, a REGON of 14, an NRB of 26; llm_mask_check.c)? */
int llm_mask_split_checks(const char *digits, int n);

/** The first byte of the view from the text's offset @a off on. */
apr_size_t llm_mask_view_index(const llm_mask_view_t *v, apr_size_t off);

/** The view's [s, e) in the text, [*os, *oe), the edits it reads
 *  through inside returned (LLM_MASK_NORM_*; 0: none, it is written
 *  the same in the text). */
int llm_mask_view_span(const llm_mask_view_t *v, apr_size_t s, apr_size_t e,
                       apr_size_t *os, apr_size_t *oe);

/** The longest pseudonym token the session gives ({{...}}), for the
 *  un-masking stream's hold-back. */
#define LLM_MASK_TOKEN_MAX 64

#endif /* LLM_MASK_PRIVATE_H */
