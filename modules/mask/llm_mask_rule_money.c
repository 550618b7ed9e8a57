/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The rule of amounts: MONEY. Written once: its pattern, where it can
 * match (anchor), and the shape test that says where it cannot, derived
 * from the pattern beside it (llm_mask_private.h says what each field
 * promises; llm_mask_rules.c the order).
 */

#include "llm_mask_shape.h"

#define K3 LLM_MASK_K3

/* An amount: 1 500, 1.500,00, 1500, 12,5; up to 21 digits. The groups
 * of three are bounded: unbounded, a chain of them was read from each
 * of its groups in turn, and a match was longer than any span. */
#define AMOUNT                                                             \
    "(?:[0-9]{1,3}(?:[ ,.\\x{a0}][0-9]{3}){1,6}+|[0-9]{1,12}+)"            \
    "(?:[.,][0-9]{1,2})?"
#define MAGNITUDE "(?:tys\\.?|mln|mld|k)"
#define CURRENCY                                                           \
    "(?:[$€£¥₽₹]|USD|EUR|GBP|PLN|CHF|CAD|AUD|JPY|NOK|SEK|DKK|CZK|HUF|RUB|" \
    "CNY|INR|zł)"
#define CURRENCY_WORD                                                      \
    "(?:złotych|złotymi|złote|złoty|zł\\.?|groszy|grosze|gr\\.?|"          \
    "dolarów|dolarami|dolary|dolara|dolar|euro|eurów|eurem|eura|eur\\.?|"  \
    "funtów|funtami|funty|funt|rubli|rublami|rubla|rubel|"                 \
    "[$€£¥₽₹]|USD|EUR|GBP|PLN|CHF|CAD|AUD|JPY|NOK|SEK|DKK|CZK|HUF|RUB|"    \
    "CNY|INR)"

/* The first bytes of CURRENCY and CURRENCY_WORD: the symbols, the ISO
 * codes, "zł..." and the Polish words, by their first byte. */
static int currency_at(const llm_mask_where_t *w, apr_size_t p)
{
    const unsigned char *u = w->text + p;

    if (u[0] == '$') {
        return 1;
    }
    if (p + 2 <= w->len && ((u[0] == 0xc2 && (u[1] == 0xa3 || u[1] == 0xa5))
                            || (llm_mask_lower(u[0]) == 'g'
                                && llm_mask_lower(u[1]) == 'r'))) {
        return 1;                       /* £ ¥, gr */
    }
    switch (llm_mask_key3(w, p)) {
    case K3(0xe2, 0x82, 0xac): case K3(0xe2, 0x82, 0xbd):
    case K3(0xe2, 0x82, 0xb9):          /* € ₽ ₹ */
    case K3('z', 0xc5, 0x82): case K3('z', 0xc5, 0x81):
    case K3('a', 'u', 'd'): case K3('c', 'h', 'f'): case K3('c', 'a', 'd'):
    case K3('c', 'n', 'y'): case K3('c', 'z', 'k'): case K3('d', 'k', 'k'):
    case K3('d', 'o', 'l'): case K3('e', 'u', 'r'): case K3('f', 'u', 'n'):
    case K3('g', 'b', 'p'): case K3('h', 'u', 'f'): case K3('i', 'n', 'r'):
    case K3('j', 'p', 'y'): case K3('n', 'o', 'k'): case K3('p', 'l', 'n'):
    case K3('r', 'u', 'b'): case K3('s', 'e', 'k'): case K3('u', 's', 'd'):
        return 1;
    }
    return 0;
}

/* Does a MAGNITUDE (k, tys, mln, mld) end right before @a p? Caseless,
 * in a text without U+212A or U+017F (money_shape says "maybe" for the
 * others). */
static int after_magnitude(const llm_mask_where_t *w, apr_size_t p)
{
    unsigned char b = w->text[p - 1];

    switch (b | 0x20) {
    case 'k':
        return p < 2 || !llm_mask_is_alpha(w->text[p - 2]);
    case 's':
        return p >= 3 && llm_mask_at_ci(w, p - 3, "tys");
    case 'n':
        return p >= 3 && llm_mask_at_ci(w, p - 3, "mln");
    case 'd':
        return p >= 3 && llm_mask_at_ci(w, p - 3, "mld");
    }
    return 0;
}

/* The first two bytes of currency_at's cases: for a first byte, the
 * second bytes that may follow it (ASCII letters caseless), as bits of
 * second_byte; anything after a '$'. */
#define S_(c) ((apr_uint32_t)1 << ((c) - 'a'))
#define S_C5 ((apr_uint32_t)1 << 26)    /* zł */
#define S_82 ((apr_uint32_t)1 << 27)    /* € ₽ ₹ */
#define S_A3 ((apr_uint32_t)1 << 28)    /* £ ¥ */
#define ANY_BYTE (~(apr_uint32_t)0)
#define BOTH(c, m) [c] = (m), [(c) - 32] = (m)

static const apr_uint32_t first_byte[256] = {
    ['$'] = ANY_BYTE, [0xc2] = S_A3, [0xe2] = S_82,
    BOTH('a', S_('u')), BOTH('e', S_('u')), BOTH('f', S_('u')),
    BOTH('h', S_('u')), BOTH('r', S_('u')),
    BOTH('c', S_('h') | S_('a') | S_('n') | S_('z')),
    BOTH('d', S_('k') | S_('o')), BOTH('g', S_('r') | S_('b')),
    BOTH('i', S_('n')), BOTH('j', S_('p')), BOTH('n', S_('o')),
    BOTH('p', S_('l')), BOTH('s', S_('e')), BOTH('u', S_('s')),
    BOTH('z', S_C5),
};

static const apr_uint32_t second_byte[256] = {
    BOTH('a', S_('a')), BOTH('b', S_('b')), BOTH('e', S_('e')),
    BOTH('h', S_('h')), BOTH('k', S_('k')), BOTH('l', S_('l')),
    BOTH('n', S_('n')), BOTH('o', S_('o')), BOTH('p', S_('p')),
    BOTH('r', S_('r')), BOTH('s', S_('s')), BOTH('u', S_('u')),
    BOTH('z', S_('z')),
    [0xc5] = S_C5, [0x82] = S_82, [0xa3] = S_A3, [0xa5] = S_A3,
};

/* May a currency begin at @a p, by its first two bytes? */
static int may_begin(const llm_mask_where_t *w, apr_size_t p)
{
    apr_uint32_t m = first_byte[w->text[p]];

    return m && (m == ANY_BYTE
                 || (p + 1 < w->len && (m & second_byte[w->text[p + 1]])));
}

#undef BOTH
#undef ANY_BYTE
#undef S_A3
#undef S_82
#undef S_C5
#undef S_

/* Where a currency first begins in [from, to), or NOWHERE: after a
 * non-letter or right after a magnitude. */
static apr_size_t currency_in(const llm_mask_where_t *w, apr_size_t from,
                              apr_size_t to)
{
    for (to = to < w->len ? to : w->len; from < to; from++) {
        if (may_begin(w, from)
            && (from == 0 || !llm_mask_is_alpha(w->text[from - 1])
                || after_magnitude(w, from))
            && currency_at(w, from)) {
            return from;
        }
    }
    return LLM_MASK_NOWHERE;
}

/*
 * A currency at most 2 \h before the amount or, after it, at most
 * 2 \h + a magnitude ("tys.") + 2 \h on. The amount begins at most 3
 * bytes after the match and its digits are joined by single
 * separators: they are all in the groups the features read, and a
 * currency begins in [run_start - 9, reach + 16]. Letters and symbols
 * there are few: when there are none, only the edges are read.
 */
static int money_shape(const llm_mask_where_t *w)
{
    apr_size_t from = llm_mask_start_less(w, 12), first;

    if (w->odd_case) {
        return 1;
    }
    if (!(w->own->seps & (LLM_MASK_SEP_ALPHA | LLM_MASK_SEP_HIGH
                          | LLM_MASK_SEP_OTHER))) {
        first = currency_in(w, from, w->run_start);
        if (first == LLM_MASK_NOWHERE) {
            first = currency_in(w, w->reach, w->reach + 20);
        }
    }
    else {
        first = currency_in(w, from, w->reach + 20);
    }
    if (first == LLM_MASK_NOWHERE) {
        return 0;
    }
    /* [_*]{0,3} before the currency or the amount. */
    llm_mask_begin_at(w, first < w->run_start
                         ? (first > 3 ? first - 3 : 0)
                         : llm_mask_start_less(w, 3));
    return 1;
}

/* Amounts of 1000 and more without a separator, "tys" without its
 * dot, "k", grosze and a leading "zł" count too. */
const llm_mask_rule_def_t llm_mask_rule_money = {
    .name = "MONEY",
    .pattern =
        "(?i)(?<!\\w)[_*]{0,3}(?:" CURRENCY "\\h{0,2}" AMOUNT "(?:\\h{0,2}"
        MAGNITUDE ")?(?:\\h{0,2}" CURRENCY_WORD ")?|" AMOUNT "(?:\\h{0,2}"
        MAGNITUDE ")?\\h{0,2}" CURRENCY_WORD ")[_*]{0,3}(?![\\w])",
    /* [_*] 3, a currency 3, \h 6, 3 + 6 x 5 digits and NBSP, decimals
     * 3, \h and "tys." 10, \h and "dolarów" 14, [_*] 3: 75. */
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 12, .span = 80 },
    .shape = money_shape,
};
