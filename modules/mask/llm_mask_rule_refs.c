/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Rules of labelled references: CAR_PLATE, INVOICE_NUMBER, ORDER_NUMBER,
 * TRANSACTION_REF, SOCIAL_ID. Each rule is written once: its pattern,
 * where it can match (anchor), and the shape facts and test that say
 * where it cannot, each derived from the pattern beside it
 * (llm_mask_private.h says what each field promises; llm_mask_rules.c
 * the order).
 */

#include "llm_mask_shape.h"

#define BIT LLM_MASK_BIT
#define BITS LLM_MASK_BITS

/* The byte before group @a i folded to lower case, and the one before
 * it (0 at the text's start): a label's last letters. None of the
 * labels below ends in a k or an s, which caseless matching could take
 * from a byte outside ASCII. */
static unsigned char label_b(const llm_mask_groups_t *gs, int i)
{
    return llm_mask_lower(llm_mask_before(gs, i));
}

static unsigned char label_c(const llm_mask_groups_t *gs, int i)
{
    apr_size_t at = gs->g[i].start;

    return at >= 2 ? llm_mask_lower(gs->u[at - 2]) : 0;
}

/* ------------------------------------------------------------------ */
/* CAR_PLATE                                                           */
/* ------------------------------------------------------------------ */

#define PLATE_LABEL                                                        \
    "(?:(?i:\\b(?:nr\\.?\\h{0,2}rej(?:estracyjny)?\\.?|"                   \
    "numer\\h{1,2}rejestracyjny|"                                          \
    "tablic[aeyę]?(?:\\h{1,2}rejestracyjn\\w{1,3})?|"                      \
    "plates?|registration(?:\\h{1,2}(?:number|plate))?))[\\h:.]{1,4})?"

/* (?<![\p{L}\p{N}\-]) 2-3 capitals, \h?, then group @a i's first digit
 * and 2-4 more digits or capitals, not followed by a letter, a digit or
 * '-' (a byte outside ASCII may be a letter). */
static int plate_group(const llm_mask_groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t d = gs->g[i].start, p = d, e;
    int skipped = 0;

    if (d < 2 || !(llm_mask_is_upper(u[d - 1]) || llm_mask_is_upper(u[d - 2])
                   || (d >= 3 && llm_mask_is_upper(u[d - 3]))
                   || (d >= 4 && llm_mask_is_upper(u[d - 4])))) {
        return 0;               /* no capital within \h of the digit */
    }
    while (p > 0 && skipped < 3 && (u[p - 1] == ' ' || u[p - 1] == '\t'
                                    || u[p - 1] >= 0x80)) {
        p--;                    /* the \h between */
        skipped++;
    }
    for (e = p; p > 0 && llm_mask_is_upper(u[p - 1]) && e - p < 4; p--) {
    }
    if (!llm_mask_in(e - p, 2, 3)
        || (p > 0 && (llm_mask_is_alpha(u[p - 1])
                      || llm_mask_is_digit(u[p - 1]) || u[p - 1] == '-'))) {
        return 0;
    }
    for (e = d; e < gs->len && e - d < 6
                && (llm_mask_is_digit(u[e]) || llm_mask_is_upper(u[e])); e++) {
    }
    /* Cut shorter, the tail stops before a digit or capital. */
    return llm_mask_in(e - d, 3, 5)
           && (e == gs->len || u[e] >= 0x80
               || !(llm_mask_is_alpha(u[e]) || u[e] == '-'));
}

/* After its label, up to 45 bytes, a plate (the group test). */
static int plate_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;

    return (llm_mask_where_wide(w, &buf)->marks & w->mark) != 0;
}

const llm_mask_rule_def_t llm_mask_rule_car_plate = {
    .name = "CAR_PLATE",
    .pattern =
        PLATE_LABEL "(?<![\\p{L}\\p{N}\\-])([A-Z]{2,3}\\h?[0-9][0-9A-Z]{2,4})"
        "(?![\\p{L}\\p{N}\\-])",
    .check = "car_plate",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 52, .span = 72 },
    .group = plate_group,
    .group_lens = BITS(1, 5),
    .group_before = LLM_MASK_BYTE_UPPER | LLM_MASK_BYTE_SPACE
                    | LLM_MASK_BYTE_HIGH,
    .near = { .group = 1 },
    .shape = plate_shape,
};

/* ------------------------------------------------------------------ */
/* INVOICE_NUMBER                                                      */
/* ------------------------------------------------------------------ */

/* (?:FV|INV|INVOICE)[/\-][0-9]{4}: four digits after [/-] after a V or
 * an E. */
static int invoice_group(const llm_mask_groups_t *gs, int i)
{
    unsigned char b = label_b(gs, i), c = label_c(gs, i);

    return (b == '/' || b == '-') && (c == 'v' || c == 'e');
}

/* It begins with FV, INV or INVOICE. */
static int invoice_shape(const llm_mask_where_t *w)
{
    return LLM_MASK_BEGINS_IN(w, "fv") || LLM_MASK_BEGINS_IN(w, "inv");
}

const llm_mask_rule_def_t llm_mask_rule_invoice_number = {
    .name = "INVOICE_NUMBER",
    .pattern = "(?i)\\b(?:FV|INV|INVOICE)[/\\-][0-9]{4}[/\\-][0-9]{3,6}\\b",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 8, .span = 25,
                .digits = 7 },
    .group = invoice_group,
    .group_lens = BIT(4),
    .group_before = LLM_MASK_BYTE_SLASH | LLM_MASK_BYTE_DASH,
    .group_after = LLM_MASK_BYTE_SLASH | LLM_MASK_BYTE_DASH,
    .quick = { .lens = BITS(3, 6), .group = 1 },
    .shape = invoice_shape,
};

/* ------------------------------------------------------------------ */
/* ORDER_NUMBER                                                        */
/* ------------------------------------------------------------------ */

/* (?:ORDER|ORD)[\-_]?[0-9]{3,10}: 3-10 digits after a D or an R, maybe
 * with [-_] between. */
static int order_group(const llm_mask_groups_t *gs, int i)
{
    unsigned char b = label_b(gs, i), c = label_c(gs, i);

    return b == 'd' || b == 'r'
           || ((b == '-' || b == '_') && (c == 'd' || c == 'r'));
}

/* It begins with ORDER or ORD. */
static int order_shape(const llm_mask_where_t *w)
{
    return LLM_MASK_BEGINS_IN(w, "ord");
}

const llm_mask_rule_def_t llm_mask_rule_order_number = {
    .name = "ORDER_NUMBER",
    .pattern =
        "(?i)\\b(?:ORDER|ORD)[\\-_]?[0-9]{3,10}(?:[\\-_/][0-9]{1,10}){0,3}\\b",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 6, .span = 64,
                .digits = 3 },
    .group = order_group,
    .group_lens = BITS(3, 10),
    .group_before = LLM_MASK_BYTE_LETTER | LLM_MASK_BYTE_DASH
                    | LLM_MASK_BYTE_UNDER,
    .quick = { .group = 1 },
    .shape = order_shape,
};

/* ------------------------------------------------------------------ */
/* TRANSACTION_REF                                                     */
/* ------------------------------------------------------------------ */

/* 2-5 letters, '-' or '_', 4-8 digits, '-' or '_', 3-6 digits: a letter
 * (or, caseless, K or ſ) right before [-_] and a digit, 2 to 5 bytes
 * (15 with a K) after the match begins. */
static int transaction_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *f = w->own;
    const unsigned char *u = w->text;
    apr_size_t p;

    if (w->odd_case) {
        f = llm_mask_where_wide(w, &buf);   /* K is 3 bytes: 16 bytes in */
    }
    if (!(f->lens & BITS(4, 8)) || !(f->lens & BITS(3, 6))
        || !(f->seps & (LLM_MASK_SEP_DASH | LLM_MASK_SEP_UNDER))
        || !f->labelled) {
        return 0;
    }
    for (p = w->start; p < w->run_end + 16 && p + 2 < w->len; p++) {
        if ((llm_mask_is_alpha(u[p]) || u[p] >= 0x80)
            && (u[p + 1] == '-' || u[p + 1] == '_')
            && llm_mask_is_digit(u[p + 2])) {
            return 1;
        }
    }
    return 0;
}

const llm_mask_rule_def_t llm_mask_rule_transaction_ref = {
    .name = "TRANSACTION_REF",
    .pattern =
        "(?i)(?<![A-Z]{2}-)(?<![A-Z]{2}[0-9])\\b[A-Z]{2,5}[\\-_]"
        "(?![0-9]{2}[\\-_])[0-9]{4,8}[\\-_][0-9]{3,6}\\b",
    .check = "transaction_ref",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 6, .span = 25 },
    .shape = transaction_shape,
};

/* ------------------------------------------------------------------ */
/* SOCIAL_ID                                                           */
/* ------------------------------------------------------------------ */

/* fbid[0-9]{8,20}: 8-20 digits right after a D. */
static int social_group(const llm_mask_groups_t *gs, int i)
{
    return label_b(gs, i) == 'd';
}

/* It begins with fbid. */
static int social_shape(const llm_mask_where_t *w)
{
    return LLM_MASK_BEGINS_IN(w, "fbid");
}

const llm_mask_rule_def_t llm_mask_rule_social_id = {
    .name = "SOCIAL_ID",
    .pattern = "(?i)\\bfbid[0-9]{8,20}\\b",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 4, .span = 30,
                .digits = 8 },
    .group = social_group,
    .group_lens = BITS(8, 20),
    .group_before = LLM_MASK_BYTE_LETTER,
    .quick = { .group = 1 },
    .shape = social_shape,
};
