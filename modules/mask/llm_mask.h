/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_mask.h
 * @brief The masking engine: PII found by PCRE2 rules with validators and
 *        replaced by tokens. APR, PCRE2 and json-c only (no request_rec):
 *        unit-tested in t/unit/test_mask.c.
 *
 * How a text is masked (docs/masking.md):
 *   1. every enabled rule scans the original text once (PCRE2, JIT,
 *      UTF + UCP, bounded quantifiers: linear in the text); each match
 *      is checked by the rule's validator, which says HIT (mask it),
 *      MISS (not this rule's) or HOLD (the shape of an identifier whose
 *      check failed: nothing weaker may mask a part of it);
 *   2. the candidates are arbitrated by span: leftmost first, then the
 *      longest, then a HIT before a HOLD, then the rule listed first;
 *      overlapping candidates lose;
 *   3. the output is written once, each HIT's span replaced by its token.
 * Unlike the original's sequential rewriting, no rule ever sees another
 * rule's output, so a rejected IBAN is never half masked as a card.
 */

#ifndef LLM_MASK_H
#define LLM_MASK_H

#include "apr_pools.h"
#include "apr_hash.h"
#include "apr_tables.h"
#include "apr_time.h"

/** Static tokens ({{EMAIL}}) or pseudonyms ({{EMAIL_1}}, per request). */
typedef enum {
    LLM_MASK_STATIC = 0,
    LLM_MASK_PSEUDONYM
} llm_mask_mode_e;

/** What a validator says of a match. */
typedef enum {
    LLM_MASK_MISS = 0,   /**< not this rule's: others may match there */
    LLM_MASK_HIT,        /**< PII: replace it */
    LLM_MASK_HOLD        /**< an identifier's shape whose check failed:
                              kept as it is, and no weaker rule may mask a
                              part of it */
} llm_mask_verdict_e;

/**
 * A match as a validator sees it: the whole match and the span the rule
 * replaces (its first capture group that took part, else the whole).
 * A validator may shorten the replaced span (@a keep, from @a g) when
 * the pattern over-reads (IBAN: the country fixes the length).
 */
typedef struct {
    const char *s;          /**< the match */
    apr_size_t len;
    const char *g;          /**< the span to replace, within s */
    apr_size_t glen;
    apr_size_t keep;        /**< in: glen; out: the length to replace */
} llm_mask_cand_t;

typedef llm_mask_verdict_e (*llm_mask_check_fn)(llm_mask_cand_t *c);

/** A validator by its name ("pesel", "luhn", ...), or NULL. */
llm_mask_check_fn llm_mask_check_by_name(const char *name);

/** The validators' names, comma-separated (for error messages). */
const char *llm_mask_check_names(void);

typedef struct llm_mask_ruleset llm_mask_ruleset_t;
typedef struct llm_mask_session llm_mask_session_t;
typedef struct llm_mask_stream llm_mask_stream_t;

/** A rule set holding the default list (docs/masking.md), all enabled;
 *  compile it before use. Allocated from @a p, freed with it. */
llm_mask_ruleset_t *llm_mask_ruleset_create(apr_pool_t *p);

/** Enable or disable a rule by name, or every rule with "all".
 *  Returns 0, or -1 with @a err (an unknown name). */
int llm_mask_ruleset_enable(llm_mask_ruleset_t *rs, const char *name,
                            int on, const char **err);

/**
 * Add a rule after the others (or replace the one of that name):
 * @a name, its @a pattern (PCRE2; "(?i)" for case-insensitive), its
 * @a token ("{{TICKET}}": the tag is the text inside the braces) and an
 * optional @a validator by name. Returns 0, or -1 with @a err.
 */
int llm_mask_ruleset_add(llm_mask_ruleset_t *rs, const char *name,
                         const char *pattern, const char *token,
                         const char *validator, const char **err);

/**
 * Rules from a JSON file: an array of objects
 *   {"name": "TICKET", "pattern": "TCK-[0-9]{6}", "token": "{{TICKET}}",
 *    "validator": "luhn", "enabled": true}
 * where an entry naming a default rule with only "enabled" switches it.
 * Returns APR_SUCCESS, or an error with @a err ("$[2].pattern: ...").
 */
apr_status_t llm_mask_ruleset_load(llm_mask_ruleset_t *rs, const char *path,
                                   const char **err);

/** Compile every enabled rule (again, after changes). Patterns are
 *  compiled with PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF and
 *  JIT-compiled where the JIT is available. */
apr_status_t llm_mask_ruleset_compile(llm_mask_ruleset_t *rs,
                                      const char **err);

/** The number of enabled rules; their names in order (for the docs and
 *  the status of a scope). */
int llm_mask_ruleset_count(const llm_mask_ruleset_t *rs);
const char *llm_mask_ruleset_name(const llm_mask_ruleset_t *rs, int i);

/** One request's tokens: in pseudonym mode the same value gets the same
 *  token within the session, never across sessions. */
llm_mask_session_t *llm_mask_session_create(apr_pool_t *p,
                                            llm_mask_mode_e mode);

/** How many values of one kind (a rule's tag: "PESEL", "EMAIL") a
 *  session masked. */
typedef struct {
    const char *type;
    int count;
} llm_mask_tally_t;

/** The session's values masked so far by kind (llm_mask_tally_t, in the
 *  order first met; the types live as long as the rule set). */
const apr_array_header_t *llm_mask_session_tally(const llm_mask_session_t *s);

/** token → original, for the pseudonyms given so far (empty in static
 *  mode). Keys and values are NUL-terminated strings. */
apr_hash_t *llm_mask_session_map(const llm_mask_session_t *s);

/** The original of one token (@a len bytes), with its length (an
 *  original may hold a NUL byte: JSON's \u0000), or NULL. */
const char *llm_mask_session_original(const llm_mask_session_t *s,
                                      const char *token, apr_size_t len,
                                      apr_size_t *original_len);

/** Why a session's masking stopped before its end. */
typedef enum {
    LLM_MASK_RUNNING = 0,   /**< not stopped */
    LLM_MASK_STOP_DEADLINE, /**< its deadline passed */
    LLM_MASK_STOP_ABORTED   /**< its abort test said to give up */
} llm_mask_stop_e;

/** An abort test: non-zero to give up (the client has gone). */
typedef int (*llm_mask_abort_fn)(void *baton);

/** How often a pass over the whole text (finding a rule set's anchors,
 *  a custom rule's scan) looks at a session's limit: each time it has
 *  gone this many bytes further. */
#define LLM_MASK_CHECK_EVERY (64 * 1024)

/**
 * Limit the session's maskings (llm_mask_apply): a @a deadline (0:
 * none) and an @a aborted test called with @a baton (NULL: none), both
 * looked at once per text, every LLM_MASK_CHECK_EVERY bytes of a pass
 * over the text and every 256 clusters a rule's scan visits, so that
 * one huge text is stopped in its middle too. Once
 * stopped, the session stays stopped and llm_mask_apply returns NULL,
 * until the next call of this, which sets a new limit (0 and NULL: none;
 * the baton must live as long as the limit).
 */
void llm_mask_session_limit(llm_mask_session_t *s, apr_time_t deadline,
                            llm_mask_abort_fn aborted, void *baton);

/** Whether, and why, the session's limit stopped a masking. */
llm_mask_stop_e llm_mask_session_stopped(const llm_mask_session_t *s);

/**
 * Mask @a in (@a len bytes, UTF-8): returns the masked text (from @a p,
 * NUL-terminated, @a out_len bytes) and sets @a n to the number of
 * values replaced; with nothing to mask it returns @a in itself. With
 * a session whose limit stopped it (llm_mask_session_limit), NULL
 * (never a text masked in part), @a out_len and @a n 0.
 */
const char *llm_mask_apply(const llm_mask_ruleset_t *rs,
                           llm_mask_session_t *s, apr_pool_t *p,
                           const char *in, apr_size_t len,
                           apr_size_t *out_len, int *n);

/** The longest text a masked value may span in a stream (bytes): a
 *  stream holds back at most this much. */
#define LLM_MASK_STREAM_HOLD 256

/**
 * A text that arrives in pieces (an answer's stream): masked with @a rs
 * (NULL: not masked) and, with @a unmask, the session's pseudonyms
 * turned back into the originals. Each feed returns what can be let go
 * now; a value split between two pieces is still found, at the cost of
 * holding back twice LLM_MASK_STREAM_HOLD bytes (more while a value
 * found crosses the cut, up to 64 KiB). The state lives in
 * @a p; what each call returns is allocated from the call's pool.
 */
llm_mask_stream_t *llm_mask_stream_create(apr_pool_t *p,
                                          const llm_mask_ruleset_t *rs,
                                          llm_mask_session_t *s,
                                          int unmask);
const char *llm_mask_stream_feed(llm_mask_stream_t *st, apr_pool_t *p,
                                 const char *in, apr_size_t len,
                                 apr_size_t *out_len);
const char *llm_mask_stream_end(llm_mask_stream_t *st, apr_pool_t *p,
                                apr_size_t *out_len);

/* ------------------------------------------------------------------ */
/* For llm_guard.c: the spans of PII without rewriting anything.      */
/* ------------------------------------------------------------------ */

/** The first PII value found in @a text: returns the rule's name, or
 *  NULL when there is none. */
const char *llm_mask_find(const llm_mask_ruleset_t *rs, apr_pool_t *p,
                          const char *text, apr_size_t len);

#endif /* LLM_MASK_H */
