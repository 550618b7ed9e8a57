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
 * Where a rule can match, so that it runs only there (llm_mask.c): every
 * match holds one of @a bytes, starts at most @a back bytes before the
 * first of them and is at most @a span bytes long. A rule without one
 * (a custom rule) scans the whole text.
 */
typedef struct {
    const char *bytes;
    int back;
    int span;
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
