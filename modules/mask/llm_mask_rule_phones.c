/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Rules of phone numbers: PHONE_INTERNATIONAL, PHONE. Each rule is
 * written once: its pattern, where it can match (anchor), and the shape
 * facts and test that say where it cannot, each derived from the
 * pattern beside it (llm_mask_private.h says what each field promises;
 * llm_mask_rules.c the order).
 */

#include "llm_mask_shape.h"

#define BIT LLM_MASK_BIT

/* ------------------------------------------------------------------ */
/* PHONE_INTERNATIONAL                                                 */
/* ------------------------------------------------------------------ */

/* '+', a digit 1-9 (the match's first two bytes): group @a i right
 * after a '+'. */
static int phone_intl_group(const llm_mask_groups_t *gs, int i)
{
    return llm_mask_before(gs, i) == '+' && gs->u[gs->g[i].start] != '0';
}

const llm_mask_rule_def_t llm_mask_rule_phone_international = {
    .name = "PHONE_INTERNATIONAL",
    .pattern =
        "(?<![\\w+])\\+[1-9][0-9]{0,2}+(?:[ \\-]?+[0-9]{1,4}+){2,6}+"
        "(?![0-9])",
    .check = "phone_international",
    /* '+', 3 digits, 6 x (a separator and 4 digits): 34. */
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 1, .span = 36 },
    .group = phone_intl_group,
    .group_lens = LLM_MASK_BITS(1, 31),
    .group_before = LLM_MASK_BYTE_PLUS,
    .quick = { .group = 1 },
};

/* ------------------------------------------------------------------ */
/* PHONE                                                               */
/* ------------------------------------------------------------------ */

/* A phone label: what makes a landline number a phone number. */
#define PHONE_LABEL                                                        \
    "(?:(?i:\\b(?:tel(?:efon)?|phone|mobile|mob|kom(?:órka)?|gsm|fax|"     \
    "infolinia|call)\\b)\\.?(?:\\h{0,2}(?i:nr|no)\\.?)?[\\h:]{0,3})?"

/* The second form: (?<![\w+.,\-]) 2-3 digits, then two to four groups
 * of 2-4, each after one ' ' or '-', from group @a i. */
static int phone_group(const llm_mask_groups_t *gs, int i)
{
    unsigned char b = llm_mask_before(gs, i);
    int k;

    if (llm_mask_is_word(b) || b == '+' || b == '.' || b == ','
        || b == '-') {
        return 0;
    }
    for (k = i + 1; k < gs->n && k <= i + 2; k++) {
        if (!llm_mask_joined_by(gs, k, ' ', '-')
            || !llm_mask_in(llm_mask_glen(gs, k), 2, 4)) {
            return 0;
        }
    }
    return k == i + 3;
}

/* Does a PHONE_LABEL word (caseless) begin in [from, to)? */
static int phone_label_in(const llm_mask_where_t *w, apr_size_t from,
                          apr_size_t to)
{
    static const char *const c[] = { "call", NULL },
        *const f[] = { "fax", NULL }, *const g[] = { "gsm", NULL },
        *const i[] = { "infolinia", NULL }, *const k[] = { "kom", NULL },
        *const m[] = { "mob", NULL }, *const p[] = { "phone", NULL },
        *const t[] = { "tel", NULL };

    for (to = to < w->len ? to : w->len; from < to; from++) {
        const char *const *list;

        switch (w->text[from] | 0x20) {
        case 'c': list = c; break;
        case 'f': list = f; break;
        case 'g': list = g; break;
        case 'i': list = i; break;
        case 'k': list = k; break;
        case 'm': list = m; break;
        case 'p': list = p; break;
        case 't': list = t; break;
        default: continue;
        }
        if (llm_mask_any_at(w, from, list)) {
            return 1;
        }
    }
    return 0;
}

/* After its label (up to 28 bytes), nine digits or 3 to 5 groups (the
 * group test); without a label before the cluster, the match begins at
 * its digits. */
static int phone_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all = llm_mask_where_wide(w, &buf);

    if (!(all->lens & BIT(9)) && !(all->marks & w->mark)) {
        return 0;
    }
    if (!w->odd_case && !phone_label_in(w, w->start, w->run_start)) {
        llm_mask_begin_at(w, w->run_start);
    }
    return 1;
}

const llm_mask_rule_def_t llm_mask_rule_phone = {
    .name = "PHONE",
    .pattern =
        PHONE_LABEL "(?<![\\w+.,\\-])([0-9]{9}|[0-9]{2,3}(?:[ \\-][0-9]{2,4})"
        "{2,4})(?![\\w\\-]|[.,][0-9])",
    .check = "phone_pl",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 28, .span = 56 },
    .group = phone_group,
    .group_lens = BIT(2) | BIT(3),
    .group_before = LLM_MASK_BYTE_SPACE | LLM_MASK_BYTE_SLASH
                    | LLM_MASK_BYTE_COLON | LLM_MASK_BYTE_HIGH
                    | LLM_MASK_BYTE_OTHER,
    .group_after = LLM_MASK_BYTE_SPACE | LLM_MASK_BYTE_DASH,
    .near = { .lens = BIT(9), .group = 1 },
    .shape = phone_shape,
};
