/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Rules of dates and times: DATE (in words), DATE_NUMERIC, TIME. Each
 * rule is written once: its pattern, where it can match (anchor), and
 * the shape facts and test that say where it cannot, each derived from
 * the pattern beside it (llm_mask_private.h says what each field
 * promises; llm_mask_rules.c the order).
 */

#include "llm_mask_shape.h"

#define BIT LLM_MASK_BIT
#define K3 LLM_MASK_K3

/* ------------------------------------------------------------------ */
/* DATE                                                                */
/* ------------------------------------------------------------------ */

#define PL_MONTHS                                                          \
    "stycze[nń]|stycznia|luty|lutego|marzec|marca|kwiecie[nń]|kwietnia|"   \
    "maj|maja|czerwiec|czerwca|lipiec|lipca|sierpie[nń]|sierpnia|"         \
    "wrzesie[nń]|wrze[sś]nia|pa[zź]dziernik|pa[zź]dziernika|listopad|"     \
    "listopada|grudzie[nń]|grudnia|"                                       \
    "sty\\.?|lut\\.?|mar\\.?|kwi\\.?|cze\\.?|lip\\.?|sie\\.?|wrz\\.?|"     \
    "pa[zź]\\.?|lis\\.?|gru\\.?"

#define EN_MONTHS                                                          \
    "January|February|March|April|May|June|July|August|September|"         \
    "October|November|December|"                                           \
    "Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sept?\\.?|"   \
    "Oct\\.?|Nov\\.?|Dec\\.?"

/* The first three letters of the months' names above ("pa" + 'z' or
 * 'ź'). */
static int month_at(const llm_mask_where_t *w, apr_size_t p)
{
    switch (llm_mask_key3(w, p)) {
    case K3('s', 't', 'y'): case K3('l', 'u', 't'): case K3('m', 'a', 'r'):
    case K3('k', 'w', 'i'): case K3('m', 'a', 'j'): case K3('c', 'z', 'e'):
    case K3('l', 'i', 'p'): case K3('s', 'i', 'e'): case K3('w', 'r', 'z'):
    case K3('p', 'a', 'z'): case K3('p', 'a', 0xc5): case K3('l', 'i', 's'):
    case K3('g', 'r', 'u'): case K3('j', 'a', 'n'): case K3('f', 'e', 'b'):
    case K3('a', 'p', 'r'): case K3('m', 'a', 'y'): case K3('j', 'u', 'n'):
    case K3('j', 'u', 'l'): case K3('a', 'u', 'g'): case K3('s', 'e', 'p'):
    case K3('o', 'c', 't'): case K3('n', 'o', 'v'): case K3('d', 'e', 'c'):
        return 1;
    }
    return 0;
}

/*
 * Where a month's name first begins, or NOWHERE. It begins where a
 * word does: at the match's start, or after its first digits (1-2 or
 * 4, "st", a dot) and up to 3 \h, "of" and 3 \h more: before
 * run_end + 26.
 */
static apr_size_t first_month(const llm_mask_where_t *w)
{
    apr_size_t p, to = w->run_end + 26 < w->end ? w->run_end + 26 : w->end;

    for (p = w->start; p < to; p++) {
        if (llm_mask_is_alpha(w->text[p])
            && (p == 0 || !llm_mask_is_alpha(w->text[p - 1]))
            && month_at(w, p)) {
            return p;
        }
    }
    return LLM_MASK_NOWHERE;
}

/* Every form has a year of four digits, and a month's name; the month
 * may come first. */
static int date_words_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    apr_size_t month;

    if (!(llm_mask_where_wide(w, &buf)->lens & BIT(4))) {
        return 0;
    }
    if (w->odd_case) {
        return 1;
    }
    /* Without a month before the cluster, the match begins at its
     * digits. */
    month = first_month(w);
    llm_mask_begin_at(w, month != LLM_MASK_NOWHERE && month < w->run_start
                         ? month : w->run_start);
    return month != LLM_MASK_NOWHERE;
}

const llm_mask_rule_def_t llm_mask_rule_date = {
    .name = "DATE",
    .pattern =
        "(?i)(?<!\\w)(?:[0-9]{1,2}\\.?\\h{1,3}(?:" PL_MONTHS ")\\h{1,3}"
        "[0-9]{4}"
        "|[0-9]{4}\\h{1,3}(?:" PL_MONTHS ")\\h{1,3}[0-9]{1,2}"
        "|(?:" EN_MONTHS ")\\h{1,3}[0-9]{1,2}(?:st|nd|rd|th)?"
        "(?:,\\h{0,3}|\\h{1,3})[0-9]{4}"
        "|[0-9]{1,2}(?:st|nd|rd|th)?\\h{1,3}(?:of\\h{1,3})?(?:" EN_MONTHS ")"
        ",?\\h{1,3}[0-9]{4})(?!\\w)",
    .check = "date_words",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 18, .span = 80 },
    .near = { .lens = BIT(4) },
    .shape = date_words_shape,
};

/* ------------------------------------------------------------------ */
/* DATE_NUMERIC                                                        */
/* ------------------------------------------------------------------ */

/* \h{0,2}[-./]\h{0,2} between group i - 1 and group i: one of "-./",
 * spaces around. */
static int joined_as_date(const llm_mask_groups_t *gs, int i)
{
    apr_size_t at;
    int marks = 0;

    if (gs->g[i].start - gs->g[i - 1].end > 13) {
        return 0;
    }
    for (at = gs->g[i - 1].end; at < gs->g[i].start; at++) {
        unsigned char c = gs->u[at];

        if (c == '-' || c == '.' || c == '/') {
            marks++;
        }
        else if (c != ' ' && c != '\t' && c < 0x80) {
            return 0;
        }
    }
    return marks == 1;
}

/* 4 . 1-2 . 1-2 or 1-2 . 1-2 . 4 from group @a i. */
static int date_numeric_group(const llm_mask_groups_t *gs, int i)
{
    apr_size_t a, b, c;

    if (i + 2 >= gs->n) {
        return 0;
    }
    a = llm_mask_glen(gs, i);
    b = llm_mask_glen(gs, i + 1);
    c = llm_mask_glen(gs, i + 2);
    return ((a == 4 && llm_mask_in(b, 1, 2) && llm_mask_in(c, 1, 2))
            || (llm_mask_in(a, 1, 2) && llm_mask_in(b, 1, 2) && c == 4))
           && joined_as_date(gs, i + 1) && joined_as_date(gs, i + 2);
}

/* YYYY-MM-DD or DD.MM.YYYY, one- or two-digit day and month, a day
 * that exists (the original took 31.02 and missed 5.3.2024). */
const llm_mask_rule_def_t llm_mask_rule_date_numeric = {
    .name = "DATE_NUMERIC",
    .pattern =
        "(?<![0-9.])(?:[0-9]{4}\\h{0,2}[\\-./]\\h{0,2}[0-9]{1,2}\\h{0,2}"
        "[\\-./]\\h{0,2}[0-9]{1,2}|[0-9]{1,2}\\h{0,2}[\\-./]\\h{0,2}"
        "[0-9]{1,2}\\h{0,2}[\\-./]\\h{0,2}[0-9]{4})(?![0-9]|[.,][0-9])",
    .check = "date",
    .tag = "DATE",
    /* 8 digits, two of "-./" and four \h{0,2} of U+3000: 34. */
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 36,
                .digits = 6 },
    .group = date_numeric_group,
    .group_lens = BIT(1) | BIT(2) | BIT(4),
    .group_after = LLM_MASK_BYTE_SPACE | LLM_MASK_BYTE_HIGH
                   | LLM_MASK_BYTE_DASH | LLM_MASK_BYTE_DOT
                   | LLM_MASK_BYTE_SLASH,
    .quick = { .group = 1 },
};

/* ------------------------------------------------------------------ */
/* TIME                                                                */
/* ------------------------------------------------------------------ */

/* 2 [:.] 2 from group @a i. */
static int time_group(const llm_mask_groups_t *gs, int i)
{
    return i + 1 < gs->n && llm_mask_glen(gs, i + 1) == 2
           && llm_mask_joined_by(gs, i + 1, ':', '.');
}

/* A word that says a time follows, one \h and the hour (@a h): "o
 * 12.45", "at 12.45", "godz. 12.45". Each alternative of a look-behind
 * has a fixed length, so each word is written out with @a h. */
#define TIME_WORDS(h)                                                      \
    "\\bo" h "|\\bod" h "|\\bdo" h "|\\bat" h "|\\bfrom" h "|\\buntil" h   \
    "|\\btill" h "|godz" h "|godz\\." h "|godzina" h "|godzinie" h          \
    "|godziny" h

/* HH:MM(:SS); HH.MM only after a word that says it is a time, and not
 * before '%': "wynik 12.45" is a decimal (the spec's §6.2), "o 12.45"
 * a time, "wzrost o 12.45%" a decimal again. */
const llm_mask_rule_def_t llm_mask_rule_time = {
    .name = "TIME",
    .pattern =
        "(?<![0-9.:])(?:[01][0-9]|2[0-3])(?::|(?i:(?<="
        TIME_WORDS("\\h[0-9]{2}") "))"
        "\\.(?![0-9]{2}\\h?%))[0-5][0-9](?::[0-5][0-9])?"
        "(?![0-9]|[.:][0-9])",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 0, .span = 10,
                .digits = 4 },
    .group = time_group,
    .group_lens = BIT(2),
    .group_after = LLM_MASK_BYTE_COLON | LLM_MASK_BYTE_DOT,
    .quick = { .group = 1 },
};
