/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Rules of identity numbers and codes: PESEL_TAGGED, PESEL, NIP, REGON,
 * KRS, PASSPORT, ID_CARD, SSN, HEALTH_CODE, VIN, EU_VAT, POSTAL_CODE.
 * Each rule is written once: its pattern, where it can match (anchor),
 * and the shape facts and test that say where it cannot, each derived
 * from the pattern beside it (llm_mask_private.h says what each field
 * promises; llm_mask_rules.c the order).
 */

#include "llm_mask_shape.h"

#define BIT LLM_MASK_BIT

/* ------------------------------------------------------------------ */
/* PESEL                                                               */
/* ------------------------------------------------------------------ */

/* The same as PESEL after "PESEL" and up to 8 \s (3 bytes each, outside
 * ASCII): eleven digits; the match begins at "PESEL" (caseless: ſ is
 * an s). */
static int pesel_tagged_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    apr_size_t label;

    if (!(llm_mask_where_wide(w, &buf)->lens & BIT(11))) {
        return 0;
    }
    if (w->odd_case) {
        return 1;
    }
    label = llm_mask_find_ci(w, "pesel", w->start, w->run_end);
    llm_mask_begin_at(w, label);
    return label != LLM_MASK_NOWHERE;
}

const llm_mask_rule_def_t llm_mask_rule_pesel_tagged = {
    .name = "PESEL_TAGGED",
    .pattern = "(?i)\\bPESEL[:\\s]{1,8}([0-9]{11})\\b",
    .check = "pesel",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 29, .span = 48 },
    .near = { .lens = BIT(11) },
    .shape = pesel_tagged_shape,
    .normalised = 1,
};

/* [_*]{0,3}([0-9]{11}) between non-word characters: a maximal run of
 * eleven. */
const llm_mask_rule_def_t llm_mask_rule_pesel = {
    .name = "PESEL",
    .pattern = "(?<!\\w)[_*]{0,3}([0-9]{11})[_*]{0,3}(?!\\w)",
    .check = "pesel",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 3, .span = 20,
                .digits = 11 },
    .quick = { .lens = BIT(11) },
    .normalised = 1,
};

/* ------------------------------------------------------------------ */
/* NIP                                                                 */
/* ------------------------------------------------------------------ */

/* 3-?3-?2-?2 (the joints at 3, 6 and 8 digits), 3-2-2-3, or with
 * single spaces 3 3 2 2 and 3 2 2 3, from group @a i. */
static int nip_group(const llm_mask_groups_t *gs, int i)
{
    static const unsigned char spaced[2][4] = { { 3, 3, 2, 2 },
                                                { 3, 2, 2, 3 } };
    apr_size_t total = 0;
    int k, f;

    for (k = i; k < gs->n && (k == i || llm_mask_joined_by(gs, k, '-', '-'));
         k++) {
        total += llm_mask_glen(gs, k);
        if (total == 10) {
            return 1;
        }
        if (total != 3 && total != 6 && total != 8) {
            break;
        }
    }
    /* Both spaced forms: 3, then 3 or 2, then 2, then a fourth group. */
    if (llm_mask_glen(gs, i) != 3 || i + 3 >= gs->n
        || llm_mask_glen(gs, i + 2) != 2) {
        return 0;
    }
    for (f = 0; f < 2; f++) {
        for (k = 0; k < 4 && i + k < gs->n; k++) {
            if (llm_mask_glen(gs, i + k) != spaced[f][k]
                || (k && !llm_mask_joined_by(gs, i + k, ' ',
                                             f ? '-' : ' '))) {
                break;
            }
        }
        if (k == 4) {
            return 1;
        }
    }
    return 0;
}

/* 3-3-2-2, 3-2-2-3 (hyphens or spaces) or 10 digits. */
const llm_mask_rule_def_t llm_mask_rule_nip = {
    .name = "NIP",
    .pattern =
        "(?<![0-9])[_*]{0,3}([0-9]{3}-?[0-9]{3}-?[0-9]{2}-?[0-9]{2}"
        "|[0-9]{3}-[0-9]{2}-[0-9]{2}-[0-9]{3}"
        "|[0-9]{3} [0-9]{3} [0-9]{2} [0-9]{2}"
        "|[0-9]{3} [0-9]{2} [0-9]{2} [0-9]{3})[_*]{0,3}(?![0-9])",
    .check = "nip",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 3, .span = 24,
                .digits = 10 },
    .group = nip_group,
    .group_lens = BIT(3) | BIT(6) | BIT(8) | BIT(10),
    .quick = { .group = 1 },
    .normalised = 1,
};

/* ------------------------------------------------------------------ */
/* REGON                                                               */
/* ------------------------------------------------------------------ */

/* \b 2 \h? 3 \h? 4 (\h? 5)? \b: from a group after a non-word byte,
 * the digits so far at each joint are 2, 5 or 9, and 9 or 14 at the end
 * of a group. */
static int regon_group(const llm_mask_groups_t *gs, int i)
{
    apr_size_t total = 0;
    int k;

    if (llm_mask_is_word(llm_mask_before(gs, i))) {
        return 0;
    }
    for (k = i; k < gs->n && (k == i || llm_mask_joined_by_h(gs, k)); k++) {
        total += llm_mask_glen(gs, k);
        if (total == 9 || total == 14) {
            return 1;
        }
        if (total != 2 && total != 5) {
            return 0;
        }
    }
    return 0;
}

const llm_mask_rule_def_t llm_mask_rule_regon = {
    .name = "REGON",
    .pattern = "\\b([0-9]{2}\\h?[0-9]{3}\\h?[0-9]{4}(?:\\h?[0-9]{5})?)\\b",
    .check = "regon",
    /* 14 digits and three U+3000: 23. */
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 24,
                .digits = 9 },
    .group = regon_group,
    .group_lens = BIT(2) | BIT(5) | BIT(9) | BIT(14),
    .group_before = LLM_MASK_BYTE_ANY & ~(LLM_MASK_BYTE_LETTER
                                          | LLM_MASK_BYTE_UNDER),
    .quick = { .group = 1 },
    .normalised = 1,
};

/* ------------------------------------------------------------------ */
/* KRS                                                                 */
/* ------------------------------------------------------------------ */

/* ([0-9]{10}) after its label (up to 24 bytes), or 000[0-9]{7}, not in
 * a word: ten digits; without the label, at the digits. */
static int krs_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;

    if (!(llm_mask_where_wide(w, &buf)->lens & BIT(10))) {
        return 0;
    }
    if (!w->odd_case && !llm_mask_begins_in(w, "krs", w->start,
                                            w->run_start)) {
        llm_mask_begin_at(w, w->run_start);     /* 000[0-9]{7} */
    }
    return 1;
}

/* A labelled KRS, or the zero-padded shape; not any 10 digits. */
const llm_mask_rule_def_t llm_mask_rule_krs = {
    .name = "KRS",
    .pattern =
        "(?i)(?:\\bKRS[:\\h]{1,4}(?:nr\\.?\\h{0,2})?([0-9]{10})"
        "|(?<!\\w)(000[0-9]{7}))(?!\\w)",
    .check = "krs",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 24, .span = 42 },
    .near = { .lens = BIT(10) },
    .shape = krs_shape,
};

/* ------------------------------------------------------------------ */
/* PASSPORT, ID_CARD                                                   */
/* ------------------------------------------------------------------ */

/* \b[A-Z]{2}[0-9]{7}\b: seven digits right after letters. */
const llm_mask_rule_def_t llm_mask_rule_passport = {
    .name = "PASSPORT",
    .pattern = "(?i)\\b[A-Z]{2}[0-9]{7}\\b",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 2, .span = 9,
                .digits = 7 },
    .quick = { .lens = BIT(7), .labelled = 1 },
};

/* \b[A-Z]{3}[0-9]{6}\b: six digits right after letters. */
const llm_mask_rule_def_t llm_mask_rule_id_card = {
    .name = "ID_CARD",
    .pattern = "(?i)\\b[A-Z]{3}[0-9]{6}\\b",
    .check = "id_card",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 3, .span = 9,
                .digits = 6 },
    .quick = { .lens = BIT(6), .labelled = 1 },
};

/* ------------------------------------------------------------------ */
/* SSN, HEALTH_CODE                                                    */
/* ------------------------------------------------------------------ */

/* 3 - 2 - 4 from group @a i. */
static int ssn_group(const llm_mask_groups_t *gs, int i)
{
    return i + 2 < gs->n && llm_mask_glen(gs, i + 1) == 2
           && llm_mask_glen(gs, i + 2) == 4
           && llm_mask_joined_by(gs, i + 1, '-', '-')
           && llm_mask_joined_by(gs, i + 2, '-', '-');
}

const llm_mask_rule_def_t llm_mask_rule_ssn = {
    .name = "SSN",
    .pattern = "\\b[0-9]{3}-[0-9]{2}-[0-9]{4}\\b",
    .check = "ssn",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 11,
                .digits = 9 },
    .group = ssn_group,
    .group_lens = BIT(3),
    .group_after = LLM_MASK_BYTE_DASH,
    .quick = { .group = 1 },
};

/* 8 / 3 from group @a i. */
static int health_group(const llm_mask_groups_t *gs, int i)
{
    return i + 1 < gs->n && llm_mask_glen(gs, i + 1) == 3
           && llm_mask_joined_by(gs, i + 1, '/', '/');
}

const llm_mask_rule_def_t llm_mask_rule_health_code = {
    .name = "HEALTH_CODE",
    .pattern = "\\b[0-9]{8}/[0-9]{3}\\b",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 12,
                .digits = 11 },
    .group = health_group,
    .group_lens = BIT(8),
    .group_after = LLM_MASK_BYTE_SLASH,
    .quick = { .group = 1 },
};

/* ------------------------------------------------------------------ */
/* VIN                                                                 */
/* ------------------------------------------------------------------ */

/* \b([A-HJ-NPR-Z0-9]{17})\b, caseless: an ASCII word of 17, whose first
 * digit may be its last character. */
static int vin_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;

    return w->odd_case
           || (llm_mask_where_wide(w, &buf)->words & BIT(17)) != 0;
}

const llm_mask_rule_def_t llm_mask_rule_vin = {
    .name = "VIN",
    .pattern = "(?i)\\b([A-HJ-NPR-Z0-9]{17})\\b",
    .check = "vin",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 16, .span = 17 },
    .near = { .words = BIT(17) },
    .shape = vin_shape,
};

/* ------------------------------------------------------------------ */
/* EU_VAT                                                              */
/* ------------------------------------------------------------------ */

/* \b[A-Z]{2}[0-9A-Z]{8,12}\b, caseless: an ASCII word of 10 to 14 that
 * begins with two letters. */
static int eu_vat_shape(const llm_mask_where_t *w)
{
    return w->odd_case || (w->own->lwords & LLM_MASK_BITS(10, 14));
}

const llm_mask_rule_def_t llm_mask_rule_eu_vat = {
    .name = "EU_VAT",
    .pattern = "(?i)\\b[A-Z]{2}[0-9A-Z]{8,12}\\b",
    .check = "eu_vat",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 14, .span = 14 },
    .shape = eu_vat_shape,
};

/* ------------------------------------------------------------------ */
/* POSTAL_CODE                                                         */
/* ------------------------------------------------------------------ */

/* 2 - 3 from group @a i. */
static int postal_group(const llm_mask_groups_t *gs, int i)
{
    return i + 1 < gs->n && llm_mask_glen(gs, i + 1) == 3
           && llm_mask_joined_by(gs, i + 1, '-', '-');
}

/* DD-DDD only (a bare 5-digit number is no postal code), not inside
 * a longer number, whatever follows on the line. */
const llm_mask_rule_def_t llm_mask_rule_postal_code = {
    .name = "POSTAL_CODE",
    .pattern =
        "(?<![0-9]|[0-9]-)[_*]{0,3}([0-9]{2}-[0-9]{3})[_*]{0,3}(?!-?[0-9])",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 3, .span = 12,
                .digits = 5 },
    .group = postal_group,
    .group_lens = BIT(2),
    .group_after = LLM_MASK_BYTE_DASH,
    .quick = { .group = 1 },
};
