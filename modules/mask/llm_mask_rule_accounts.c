/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Rules of accounts and cards: BANK_ACCOUNT (IBAN), NRB, CREDIT_CARD,
 * SIM_CARD. Each rule is written once: its pattern, where it can match
 * (anchor), and the shape facts and test that say where it cannot,
 * each derived from the pattern beside it (llm_mask_private.h says what
 * each field promises; llm_mask_rules.c the order).
 */

#include <string.h>

#include "llm_mask_shape.h"

#define BIT LLM_MASK_BIT

/* Separators inside numbers: a space, NBSP or a hyphen. */
#define SEP "[ \\x{a0}\\-]"

/* ------------------------------------------------------------------ */
/* BANK_ACCOUNT                                                        */
/* ------------------------------------------------------------------ */

/* [A-Za-z]{2}[ \-]?[0-9]{2}: two ASCII letters, not after a letter or
 * digit, maybe ' ' or '-', then group @a i (of two digits or more). */
static int iban_group(const llm_mask_groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t q = gs->g[i].start;

    if (q >= 1 && (u[q - 1] == ' ' || u[q - 1] == '-')) {
        q--;
    }
    return q >= 2 && llm_mask_is_alpha(u[q - 1]) && llm_mask_is_alpha(u[q - 2])
           && (q == 2 || !(llm_mask_is_alpha(u[q - 3])
                           || llm_mask_is_digit(u[q - 3])));
}

/* The head as the pattern reads it at @a p: two letters not after a
 * letter or digit, maybe ' ' or '-', then two digits or XX. */
static int iban_head_at(const llm_mask_where_t *w, apr_size_t p)
{
    const unsigned char *u = w->text;
    apr_size_t q;

    if (!llm_mask_is_alpha(u[p]) || !llm_mask_is_alpha(u[p + 1])
        || (p > 0 && (llm_mask_is_alpha(u[p - 1])
                      || llm_mask_is_digit(u[p - 1])))) {
        return 0;
    }
    q = p + 2 + (u[p + 2] == ' ' || u[p + 2] == '-');
    return q + 1 < w->len
           && ((llm_mask_is_digit(u[q]) && llm_mask_is_digit(u[q + 1]))
               || (u[q] == 'X' && u[q + 1] == 'X')
               || (u[q] == 'x' && u[q + 1] == 'x'));
}

/* The head is right before a group of this cluster (the group test),
 * or "XX" comes instead of its digits, after which the first digit may
 * come 64 bytes later: then the head is looked for where the match
 * begins. */
static int iban_shape(const llm_mask_where_t *w)
{
    const unsigned char *u = w->text;
    apr_size_t p, to = w->run_end < w->len ? w->run_end : w->len;
    int xx = w->has_xx && w->start < to
             && (memchr(u + w->start, 'X', to - w->start)
                 || memchr(u + w->start, 'x', to - w->start));

    if (!xx) {
        llm_mask_begin_at(w, llm_mask_start_less(w, 3));
        return (w->own->marks & w->mark) != 0;
    }
    if (w->own->marks & w->mark) {
        return 1;
    }
    for (p = w->start; p < w->run_end && p + 4 <= w->len; p++) {
        if (iban_head_at(w, p)) {
            return 1;
        }
    }
    return 0;
}

/* Read generously, then cut to the country's length by the check. */
const llm_mask_rule_def_t llm_mask_rule_bank_account = {
    .name = "BANK_ACCOUNT",
    .pattern =
        "(?<![\\p{L}\\p{N}])([A-Za-z]{2}[ \\-]?(?:[0-9]{2}|XX|xx)"
        "(?:[ \\-]?[0-9A-Z]){8,32})",
    .check = "iban",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 68, .span = 80 },
    .group = iban_group,
    .group_lens = LLM_MASK_BITS(2, 31),
    .group_before = LLM_MASK_BYTE_LETTER | LLM_MASK_BYTE_SPACE
                    | LLM_MASK_BYTE_DASH,
    .shape = iban_shape,
    .normalised = 1,
};

/* ------------------------------------------------------------------ */
/* NRB                                                                 */
/* ------------------------------------------------------------------ */

/* (?<![A-Z]{2})(?<!\b[A-Z]{2}[ \-])(?<![0-9]) then 2 + 6 x 4 digits,
 * each joined by at most one ' ', NBSP or '-': a first group of 2, 6,
 * ... or 26 not right after two capitals, in a chain of 26 digits or
 * more from it. */
static int nrb_group(const llm_mask_groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t s = gs->g[i].start, total = 0;
    int k;

    if ((s >= 2 && llm_mask_is_upper(u[s - 1]) && llm_mask_is_upper(u[s - 2]))
        || (s >= 3 && (u[s - 1] == ' ' || u[s - 1] == '-')
            && llm_mask_is_upper(u[s - 2]) && llm_mask_is_upper(u[s - 3])
            && (s == 3 || (u[s - 4] < 0x80 && !llm_mask_is_word(u[s - 4]))))) {
        return 0;
    }
    for (k = i; k < gs->n && total < 26; k++) {
        if (k > i && !llm_mask_joined_by(gs, k, ' ', '-')
            && !llm_mask_joined_by_high(gs, k)) {
            break;
        }
        total += llm_mask_glen(gs, k);
    }
    return total >= 26;
}

/* Not right after a two-letter country code (that is an IBAN), but
 * after a label such as "NRB" it is. */
const llm_mask_rule_def_t llm_mask_rule_nrb = {
    .name = "NRB",
    .pattern =
        "(?<![A-Z]{2})(?<!\\b[A-Z]{2}[ \\-])(?<![0-9])([0-9]{2}(?:"
        SEP "?[0-9]{4}){6})(?![0-9])",
    .check = "nrb",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 40,
                .digits = 26 },
    .group = nrb_group,
    .group_lens = BIT(2) | BIT(6) | BIT(10) | BIT(14) | BIT(18) | BIT(22)
                  | BIT(26),
    .quick = { .group = 1 },
    .normalised = 1,
};

/* ------------------------------------------------------------------ */
/* CREDIT_CARD, SIM_CARD                                               */
/* ------------------------------------------------------------------ */

/* Do groups from @a i, each joined to the next by one ' ' or '-' (or,
 * with @a h, by one \h), hold @a need digits or more? */
static int chain_from(const llm_mask_groups_t *gs, int i, apr_size_t need,
                      int h)
{
    apr_size_t total = 0;
    int k;

    for (k = i; k < gs->n && total < need; k++) {
        if (k > i && !(h ? llm_mask_joined_by_h(gs, k)
                         : llm_mask_joined_by(gs, k, ' ', '-'))) {
            break;
        }
        total += llm_mask_glen(gs, k);
    }
    return total >= need;
}

/* A card begins at a group (\b), of 4, 8 or 12 digits and a separator
 * (4-4-4-x), of 10 (4 6-5) or of 13 to 19 (none): 13 digits or more
 * joined by at most one ' ' or '-'. */
static int card_group(const llm_mask_groups_t *gs, int i)
{
    return chain_from(gs, i, 13, 0);
}

/* 4-4-4-(1-7) or 4-6-5: 13 to 19 digits joined by at most one ' ' or
 * '-'. */
const llm_mask_rule_def_t llm_mask_rule_credit_card = {
    .name = "CREDIT_CARD",
    .pattern =
        "\\b(?:[0-9]{4}[ \\-]?[0-9]{6}[ \\-]?[0-9]{5}|(?:[0-9]{4}[ \\-]?){3}"
        "[0-9]{1,7})\\b",
    .check = "luhn",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 25,
                .digits = 13 },
    .group = card_group,
    .group_lens = BIT(4) | BIT(8) | BIT(10) | BIT(12) | LLM_MASK_BITS(13, 19),
    .quick = { .group = 1 },
    .normalised = 1,
};

/* A SIM card begins at a group (\b) of 4, 8, 12 or 16 digits and a
 * \h, or of 17 to 20: 17 digits or more joined by at most one \h. */
static int sim_group(const llm_mask_groups_t *gs, int i)
{
    return chain_from(gs, i, 17, 1);
}

/* Four groups of four and 1-4 more: 17 to 20 digits joined by at most
 * one \h each. */
const llm_mask_rule_def_t llm_mask_rule_sim_card = {
    .name = "SIM_CARD",
    .pattern = "\\b(?:[0-9]{4}\\h?){4}[0-9]{1,4}\\b",
    .check = "iccid",
    /* 20 digits and four U+3000: 32. */
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 32,
                .digits = 17 },
    .group = sim_group,
    .group_lens = BIT(4) | BIT(8) | BIT(12) | LLM_MASK_BITS(16, 20),
    .quick = { .group = 1 },
    .normalised = 1,
};
