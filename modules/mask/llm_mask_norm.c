/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A normalised view of a text, for values written to slip past the
 * rules (issue 11, part 3), with the offset of each of its bytes in the
 * text, so that what a rule finds in the view masks the whole value as
 * it was written (llm_mask.c). Three kinds of edits make the view:
 *
 *   hidden  zero-width characters (U+200B, U+200C, U+200D, U+2060,
 *           U+FEFF) and NUL, up to 8 in a row, between two visible
 *           ASCII characters (inside a value: "4405<ZWSP>1401359",
 *           "jan<ZWSP>@x.pl"; a ZWJ inside an emoji stays);
 *   spread  the separators inside a number written spread: digits one
 *           by one with spaces or hyphens ("4 4 0 5 1 ..."), groups
 *           joined by single dots ("440.514.013.59"), a card's groups
 *           spaced oddly ("4111 1111 11 11 1111"), or groups of any
 *           sizes (spaces or hyphens) whose digits together pass the
 *           check of an identifier of their length ("440 514 013 59",
 *           "440-514-013-59": a PESEL; see split()). Not a thousands
 *           grouping ("1 234 567", "1.234.567"), an IPv4 address's four
 *           groups, a decimal, a phone's grouping, or groups of one or
 *           two digits among others that make no checked identifier
 *           ("in 2024 3 people", "strony 10 11 12"): 9 to 32 digits in
 *           all, one kind of separator throughout;
 *   digits  a decimal digit of another script (full-width U+FF10..19,
 *           Arabic-Indic, Devanagari and the other Indic digits, Thai,
 *           Lao, Tibetan, the mathematical digits U+1D7CE..1D7FF) as
 *           the ASCII digit it stands for: the view is made of the text
 *           with them mapped, then the edits above (see
 *           llm_mask_view());
 *   spelt   "(at)", "[at]", "{at}" as '@', "(dot)", "[dot]", "{dot}" as
 *           '.', with a space on either side or none; " at " and
 *           " dot " as words only in an address that spells a dot.
 *
 * Only rules whose matches are checked (a PESEL's, a NIP's, a card's
 * check digits) or are e-mails read through spread and spelt edits
 * (llm_mask_rule_def_t.normalised); every rule reads through hidden
 * ones. Each edit is decided from at most 192 bytes after where it
 * begins, so that a stream, which looks 256 bytes past its cut, sees
 * it as the whole text does. Linear: every byte is read a bounded
 * number of times.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_tables.h"

#include "llm_mask_shape.h"

#define HIDDEN_RUN_MAX 8        /* invisible characters in a row */
#define RUN_DIGITS_MIN 9        /* REGON's, the shortest checked id */
#define RUN_DIGITS_MAX 32       /* an IBAN's BBAN and check digits */
#define RUN_BYTES_MAX 160       /* a spread number, as written */
#define WALK_BYTES_MAX 128      /* a spelt address's domain */

typedef struct {
    apr_size_t s;
    apr_size_t e;
    char byte;                  /* what stands for [s, e), or 0: none */
    unsigned char kind;         /* LLM_MASK_NORM_* */
} edit_t;

static void add_edit(apr_array_header_t *edits, apr_size_t s, apr_size_t e,
                     char byte, unsigned char kind)
{
    edit_t *ed = apr_array_push(edits);

    ed->s = s;
    ed->e = e;
    ed->byte = byte;
    ed->kind = kind;
}

/* ------------------------------------------------------------------ */
/* Hidden characters                                                   */
/* ------------------------------------------------------------------ */

/* The length of the invisible character at @a p, or 0. */
static apr_size_t hidden_at(const unsigned char *u, apr_size_t p,
                            apr_size_t len)
{
    if (u[p] == 0) {
        return 1;
    }
    if (p + 3 > len) {
        return 0;
    }
    if (u[p] == 0xe2 && ((u[p + 1] == 0x80 && u[p + 2] >= 0x8b
                          && u[p + 2] <= 0x8d)
                         || (u[p + 1] == 0x81 && u[p + 2] == 0xa0))) {
        return 3;
    }
    return u[p] == 0xef && u[p + 1] == 0xbb && u[p + 2] == 0xbf ? 3 : 0;
}

static int hidden_lead(unsigned char c)
{
    return c == 0xe2 || c == 0xef || c == 0;
}

/* After up to HIDDEN_RUN_MAX invisible characters from @a p. */
static apr_size_t skip_hidden(const unsigned char *u, apr_size_t p,
                              apr_size_t len)
{
    apr_size_t n;
    int k;

    for (k = 0; k < HIDDEN_RUN_MAX && p < len && (n = hidden_at(u, p, len));
         k++) {
        p += n;
    }
    return p;
}

/* Before up to HIDDEN_RUN_MAX invisible characters that end at @a p. */
static apr_size_t skip_hidden_back(const unsigned char *u, apr_size_t p,
                                   apr_size_t len)
{
    int k;

    for (k = 0; k < HIDDEN_RUN_MAX && p > 0; k++) {
        if (u[p - 1] == 0) {
            p--;
        }
        else if (p >= 3 && hidden_at(u, p - 3, len) == 3) {
            p -= 3;
        }
        else {
            break;
        }
    }
    return p;
}

static int visible_ascii(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* The invisible characters at @a p, removed when a visible ASCII
 * character is on either side. Returns where to go on. */
static apr_size_t hidden_edit(apr_array_header_t *edits,
                              const unsigned char *u, apr_size_t p,
                              apr_size_t len)
{
    apr_size_t e = skip_hidden(u, p, len);

    if (e == p) {
        return p + 1;
    }
    if (p > 0 && visible_ascii(u[p - 1]) && e < len && visible_ascii(u[e])
        && !hidden_at(u, e, len)) {
        add_edit(edits, p, e, 0, LLM_MASK_NORM_HIDDEN);
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* Spread numbers                                                      */
/* ------------------------------------------------------------------ */

enum { SEP_NONE, SEP_SPACE, SEP_DOT, SEP_DASH };

/* A chain of groups of digits, one kind of separator between them. */
typedef struct {
    apr_size_t start;
    apr_size_t gs[RUN_DIGITS_MAX + 1];  /* where each group begins */
    apr_size_t ge[RUN_DIGITS_MAX + 1];  /* and ends */
    int digits[RUN_DIGITS_MAX + 1];
    int value[RUN_DIGITS_MAX + 1];      /* up to 1000 and more */
    int n;
    int total;
    int kind;
    int too_long;
} chain_t;

/* After the digits from @a p, invisible characters between them
 * included; @a count gets their number. */
static apr_size_t digits_end(const unsigned char *u, apr_size_t p,
                             apr_size_t len, int *count, int *value)
{
    apr_size_t q;

    *count = *value = 0;
    while (p < len && llm_mask_is_digit(u[p])) {
        *value = *value < 1000 ? *value * 10 + (u[p] - '0') : *value;
        ++*count;
        if (++p < len && !llm_mask_is_digit(u[p]) && hidden_lead(u[p])) {
            q = skip_hidden(u, p, len);
            p = q < len && llm_mask_is_digit(u[q]) ? q : p;
        }
    }
    return p;
}

/* The separator at @a p (invisible characters around it included) and
 * where the next group begins, or SEP_NONE. */
static int separator_at(const unsigned char *u, apr_size_t p, apr_size_t len,
                        apr_size_t *next)
{
    int kind = SEP_NONE, spaces = 0;

    if (p + 1 < len && llm_mask_is_digit(u[p + 1])) {  /* the most */
        *next = p + 1;
        switch (u[p]) {
        case ' ':
        case '\t':
            return SEP_SPACE;
        case '.':
            return SEP_DOT;
        case '-':
            return SEP_DASH;
        }
    }
    p = p < len && hidden_lead(u[p]) ? skip_hidden(u, p, len) : p;
    if (p < len && (u[p] == '.' || u[p] == '-')) {
        kind = u[p] == '.' ? SEP_DOT : SEP_DASH;
        p++;
    }
    else {
        while (spaces < 2 && p < len) {
            if (u[p] == ' ' || u[p] == '\t') {
                p++;
            }
            else if (u[p] == 0xc2 && p + 1 < len && u[p + 1] == 0xa0) {
                p += 2;
            }
            else {
                break;
            }
            spaces++;
        }
        kind = spaces ? SEP_SPACE : SEP_NONE;
    }
    p = p < len && hidden_lead(u[p]) ? skip_hidden(u, p, len) : p;
    *next = p;
    return p < len && llm_mask_is_digit(u[p]) ? kind : SEP_NONE;
}

/* Read the chain of groups that begins at @a p; returns where it ends.
 * Only its groups up to where the kind of separator first changes are
 * recorded (the rest is never joined, wherever a reading begins). */
static apr_size_t read_chain(const unsigned char *u, apr_size_t p,
                             apr_size_t len, const apr_uint32_t *at,
                             chain_t *c)
{
    apr_size_t next, e;
    int kind, count, value, mixed = 0;

    c->start = p;
    c->n = c->total = c->kind = c->too_long = 0;
    for (;;) {
        e = digits_end(u, p, len, &count, &value);
        if (!mixed) {
            if (c->n <= RUN_DIGITS_MAX) {
                c->gs[c->n] = p;
                c->ge[c->n] = e;
                c->digits[c->n] = count;
                c->value[c->n] = value;
            }
            c->n++;
            c->total += count;
            c->too_long |= c->total > RUN_DIGITS_MAX
                           || (at ? at[e] - at[c->start] : e - c->start)
                              > RUN_BYTES_MAX;
        }
        if ((kind = separator_at(u, e, len, &next)) == SEP_NONE) {
            return e;
        }
        mixed |= c->kind && kind != c->kind;
        c->kind = mixed ? c->kind : kind;
        p = next;
    }
}

/* 1-3 digits, then groups of three: a number written for reading. */
static int thousands(const chain_t *c)
{
    int i;

    if (c->digits[0] > 3) {
        return 0;
    }
    for (i = 1; i < c->n; i++) {
        if (c->digits[i] != 3) {
            return 0;
        }
    }
    return 1;
}

/* A phone's grouping, after a country code of 1-3 digits or not:
 * 3-3-3 (a Polish mobile), 3-3-4 (North America), 2-3-2-2 (a Polish
 * landline). Its digits may pass a check by chance; it is a phone. */
static int phone_shape(const chain_t *c)
{
    static const int shapes[][5] = { { 3, 3, 3 }, { 3, 3, 4 },
                                     { 2, 3, 2, 2 } };
    static const int lens[] = { 3, 3, 4 };
    int s, i, from;

    for (s = 0; s < 3; s++) {
        from = c->n - lens[s];
        if (from < 0 || from > 1 || (from == 1 && c->digits[0] > 3)) {
            continue;
        }
        for (i = 0; i < lens[s] && c->digits[from + i] == shapes[s][i];
             i++) {
        }
        if (i == lens[s]) {
            return 1;
        }
    }
    return 0;
}

/* An identifier's own grouping, which its rule reads as written: an
 * NRB's 2 + 6 x 4 (an IBAN's after "PL"), a NIP's 3-3-2-2 or 3-2-2-3,
 * a REGON's 2-3-4-5. Joining it would only make a view to find it
 * again (prose with an account number or a NIP would pay for one). */
static int written_whole(const chain_t *c)
{
    static const int shapes[][7] = { { 2, 4, 4, 4, 4, 4, 4 }, { 3, 3, 2, 2 },
                                     { 3, 2, 2, 3 }, { 2, 3, 4, 5 } };
    static const int lens[] = { 7, 4, 4, 4 };
    int s, i;

    for (s = 0; s < 4; s++) {
        for (i = 0; i < lens[s] && c->n == lens[s]
                    && c->digits[i] == shapes[s][i]; i++) {
        }
        if (c->n == lens[s] && i == lens[s]) {
            return 1;
        }
    }
    return 0;
}

/*
 * A number split in groups of any sizes, by spaces or by hyphens
 * ("440 514 013 59", "44 05 14 01 35 9", "440-514-013-59"): joined only
 * when its digits, all of them, make an identifier whose check they
 * pass. A list of numbers in prose passes a check by chance, so only
 * the strong checks of their own length join: 11 digits a PESEL (check
 * digit and a birth date that exists, 1 in ~50 by chance), 14 a REGON
 * (two check digits, 1 in ~120), 26 an NRB (mod 97). 10 digits a NIP
 * (mod 11, 1 in 11) only when its first group has 3 digits or more and
 * is not a year: "2023 12 34 56", "12 34 56 78 90" stay. Never 9 digits
 * (a phone's length, REGON's 9 would take phones), nor 12, 13, 15-25
 * (a card's Luhn is 1 in 10: only its own grouping joins), nor a
 * phone's grouping (phone_shape), nor an identifier's own grouping
 * (written_whole: no need).
 */
static int split(const unsigned char *u, const chain_t *c)
{
    char d[RUN_DIGITS_MAX];
    apr_size_t k;
    int i, n = 0;

    if ((c->total != 10 && c->total != 11 && c->total != 14
         && c->total != 26) || phone_shape(c) || written_whole(c)) {
        return 0;
    }
    if (c->total == 10
        && (c->digits[0] < 3 || (c->digits[0] == 4 && c->value[0] >= 1900
                                 && c->value[0] <= 2099))) {
        return 0;
    }
    for (i = 0; i < c->n; i++) {
        for (k = c->gs[i]; k < c->ge[i]; k++) {
            if (llm_mask_is_digit(u[k])) {
                d[n++] = (char)u[k];
            }
        }
    }
    return llm_mask_split_checks(d, n);
}

/* Is this chain a number written spread (see the top)? Dotted, not
 * an IPv4 address (four groups of 0-255); spaced or hyphenated, digits
 * one by one, a card's 13-19 digits in groups of 2-4 after a first of
 * 4, or split() groups that make a checked identifier. */
static int spread(const unsigned char *u, const chain_t *c)
{
    int i, ones = 1, card = c->digits[0] == 4, ip = c->n == 4;

    if (c->too_long || c->n < 2 || c->total < RUN_DIGITS_MIN
        || thousands(c)) {
        return 0;
    }
    for (i = 0; i < c->n; i++) {
        ones &= c->digits[i] == 1;
        card &= c->digits[i] >= 2 && c->digits[i] <= 4;
        ip &= c->digits[i] <= 3 && c->value[i] <= 255;
    }
    if (c->kind == SEP_DOT) {
        return c->n >= 3 && !ip;
    }
    return ones || (card && c->n >= 3 && c->total >= 13 && c->total <= 19)
           || split(u, c);
}

/* A byte that may stand between two groups of a chain. */
static int chain_sep(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '.' || c == '-' || c == 0xc2
           || c == 0xa0;
}

/* Does the group of digits that ends at @a e go on, into another
 * group or through invisible characters? Most of prose's numbers do
 * not, and are passed by without reading a chain. */
static int goes_on(const unsigned char *u, apr_size_t e, apr_size_t len)
{
    apr_size_t k;

    for (k = e; k < len && k < e + 3; k++) {
        if (llm_mask_is_digit(u[k]) || hidden_lead(u[k])) {
            return 1;
        }
        if (!chain_sep(u[k])) {
            return 0;
        }
    }
    return 0;
}

/* Most chains of prose are dates and amounts, too short to be spread:
 * the digits and plain separators (space, '.', '-') from @a e on, after
 * a first group of @a digits. Fewer than RUN_DIGITS_MIN digits in all:
 * where they end (no chain read anywhere in there can be spread), else
 * 0 (read_chain decides, as it does where a tab, an NBSP or an
 * invisible character comes first). */
static apr_size_t few_digits(const unsigned char *u, apr_size_t e,
                             apr_size_t len, int digits)
{
    for (; e < len; e++) {
        if (llm_mask_is_digit(u[e])) {
            if (++digits >= RUN_DIGITS_MIN) {
                return 0;
            }
        }
        else if (u[e] != ' ' && u[e] != '.' && u[e] != '-') {
            break;
        }
    }
    return e < len && (hidden_lead(u[e]) || u[e] == '\t' || u[e] == 0xc2)
           ? 0 : e;
}

/* Past a chain that is never joined (glued to a word or a '+'): its
 * digits and the plain separators between them. Any end would do that
 * every reading of the text finds the same; this one is cheap. */
static apr_size_t skip_chain(const unsigned char *u, apr_size_t e,
                             apr_size_t len)
{
    apr_size_t last = e;

    for (; e < len; e++) {
        if (llm_mask_is_digit(u[e])) {
            last = e + 1;
        }
        else if (u[e] != ' ' && u[e] != '.' && u[e] != '-' && u[e] != '\t') {
            break;
        }
    }
    return last;
}

/* The chain of digits at @a p: its separators removed when it is a
 * number written spread; never one glued to a word or a '+' ("PL61
 * 1090 ...", an IBAN's; "+48 512 ...", a phone's; "ISO9001"): a code
 * its own rule reads as written. Returns where to go on. */
static apr_size_t spread_edit(apr_array_header_t *edits,
                              const unsigned char *u, apr_size_t p,
                              apr_size_t len, const apr_uint32_t *at)
{
    chain_t c;
    apr_size_t end = p, few;
    int i;

    while (end < len && llm_mask_is_digit(u[end])) {
        end++;
    }
    if (!goes_on(u, end, len)) {
        return end;             /* a group alone */
    }
    if (p > 0 && (llm_mask_is_alpha(u[p - 1]) || u[p - 1] == '+')) {
        return skip_chain(u, end, len);     /* a code, not a number */
    }
    if ((few = few_digits(u, end, len, (int)(end - p)))) {
        return few;             /* "15.03.2024", "1 250": too short */
    }
    end = read_chain(u, p, len, at, &c);

    if (spread(u, &c)) {
        for (i = 1; i < c.n; i++) {
            add_edit(edits, c.ge[i - 1], c.gs[i], 0, LLM_MASK_NORM_SPREAD);
        }
    }
    return end;
}

/* Can a chain that joins groups begin in cluster @a k of digits? Only
 * where its bytes between digits hold a separator or an invisible
 * character, and it is long enough for 9 digits and a separator or
 * goes on in a piece; or where invisible characters follow it, maybe
 * after a separator (clusters are cut at 13 bytes without a digit, a
 * chain only where its separator is longer, which takes invisible
 * ones). Prose's "2024 r.", "1 250,00" or "FV/2023" are passed by. */
static int may_spread(const llm_mask_run_t *runs, int nruns, int k,
                      const unsigned char *u, apr_size_t len)
{
    const llm_mask_run_t *run = &runs[k];
    apr_size_t e = run->end;
    int seps = run->f.seps & (LLM_MASK_SEP_DOT | LLM_MASK_SEP_HIGH
                              | LLM_MASK_SEP_OTHER | LLM_MASK_SEP_SPACE
                              | LLM_MASK_SEP_DASH);

    if (seps && (e - run->start > RUN_DIGITS_MIN
                 || (k + 1 < nruns && runs[k + 1].piece))) {
        return 1;
    }
    for (; e < len && e < run->end + 3; e++) {
        if (hidden_lead(u[e])) {
            return 1;
        }
        if (!chain_sep(u[e])) {
            return 0;
        }
    }
    return 0;
}

/* Every chain of digits (each digit begins one, or is in the one
 * before): in the clusters of digits the rules' scan found, those that
 * may_spread(), or else in the whole text, with the same edits. */
static void find_chains(apr_array_header_t *edits, const unsigned char *u,
                        apr_size_t len, const llm_mask_run_t *runs,
                        int nruns, const apr_uint32_t *at)
{
    llm_mask_bytes_t set;
    apr_size_t p, next = 0;
    int k;

    if (!runs) {
        llm_mask_bytes_init(&set, LLM_MASK_DIGITS, 0);
        for (p = llm_mask_bytes_next(&set, (const char *)u, 0, len); p < len;
             p = llm_mask_bytes_next(&set, (const char *)u, p, len)) {
            p = spread_edit(edits, u, p, len, at);
        }
        return;
    }
    for (k = 0; k < nruns; k++) {
        if (runs[k].end <= next || !may_spread(runs, nruns, k, u, len)) {
            continue;
        }
        for (p = runs[k].start > next ? runs[k].start : next;
             p < runs[k].end; p++) {
            if (llm_mask_is_digit(u[p])) {
                p = next = spread_edit(edits, u, p, len, at);
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* Spelt e-mails                                                       */
/* ------------------------------------------------------------------ */

static int local_char(unsigned char c)
{
    return llm_mask_is_digit(c) || llm_mask_is_alpha(c) || c == '.'
           || c == '_' || c == '%' || c == '+' || c == '-';
}

static int label_char(unsigned char c)
{
    return llm_mask_is_digit(c) || llm_mask_is_alpha(c) || c == '-';
}

/* "(word)", "[word]" or "{word}" at @a p, caseless, with a space on
 * either side or none: its end, or 0. The space before is @a p's. */
static apr_size_t bracketed(const unsigned char *u, apr_size_t p,
                            apr_size_t len, const char *word)
{
    static const char close[] = { ')', ']', '}' };
    apr_size_t n = strlen(word), k;
    const char *open = memchr("([{", u[p], 3);

    if (!open || p + n + 2 > len
        || u[p + n + 1] != (unsigned char)close[open - "([{"]) {
        return 0;
    }
    for (k = 0; k < n; k++) {
        if (llm_mask_lower(u[p + 1 + k]) != (unsigned char)word[k]) {
            return 0;
        }
    }
    k = p + n + 2;
    return k < len && u[k] == ' ' ? k + 1 : k;
}

/* " word " at @a p (lower or upper case): its end, or 0. */
static apr_size_t bare(const unsigned char *u, apr_size_t p, apr_size_t len,
                       const char *word)
{
    apr_size_t n = strlen(word), k;
    int upper = p + 1 < len && llm_mask_is_upper(u[p + 1]);

    if (p + n + 2 > len || u[p] != ' ' || u[p + n + 1] != ' ') {
        return 0;
    }
    for (k = 0; k < n; k++) {
        if (u[p + 1 + k] != (unsigned char)(word[k] - (upper ? 0x20 : 0))) {
            return 0;
        }
    }
    return p + n + 2;
}

/* A spelt or written '.' of a domain at @a p: its end, or 0; @a spelt
 * says whether it was spelt. */
static apr_size_t dot_at(const unsigned char *u, apr_size_t p,
                         apr_size_t len, int *spelt)
{
    apr_size_t e;

    *spelt = 1;
    if (u[p] == '.') {
        *spelt = 0;
        return p + 1;
    }
    if ((e = bare(u, p, len, "dot"))) {
        return e;
    }
    e = u[p] == ' ' && p + 1 < len ? bracketed(u, p + 1, len, "dot")
                                   : bracketed(u, p, len, "dot");
    return e;
}

/* The domain after an '@' (or a spelt one) ending at @a p: its labels
 * and dots, within WALK_BYTES_MAX. Its bare " dot "s become edits when
 * @a apply; returns whether a dot was spelt. */
static int walk_domain(apr_array_header_t *edits, const unsigned char *u,
                       apr_size_t p, apr_size_t len, int apply)
{
    apr_size_t stop = p + WALK_BYTES_MAX < len ? p + WALK_BYTES_MAX : len;
    apr_size_t e;
    int labels, spelt, any = 0;

    for (labels = 0; labels < 10 && p < stop; labels++) {
        while (p < stop && label_char(u[p])) {
            p++;
        }
        if (p >= stop || !(e = dot_at(u, p, stop, &spelt))
            || e >= stop || !label_char(u[e])) {
            break;
        }
        any |= spelt;
        if (apply && spelt && u[p] == ' ' && llm_mask_is_alpha(u[p + 1])) {
            add_edit(edits, p, e, '.', LLM_MASK_NORM_SPELT);
        }
        p = e;
    }
    return any;
}

/* A spelt '@' or '.' in brackets at @a p (a space before it is @a p's,
 * when there is one). Returns where to go on. */
static apr_size_t bracket_edit(apr_array_header_t *edits,
                               const unsigned char *u, apr_size_t p,
                               apr_size_t len)
{
    apr_size_t s = p > 0 && u[p - 1] == ' ' ? p - 1 : p, e;
    char byte = '@';

    if (!(e = bracketed(u, p, len, "at"))) {
        byte = '.';
        if (!(e = bracketed(u, p, len, "dot"))) {
            return p + 1;
        }
    }
    s = skip_hidden_back(u, s, len);
    if (s == 0 || !local_char(u[s - 1]) || e >= len
        || !(llm_mask_is_digit(u[e]) || llm_mask_is_alpha(u[e]))) {
        return p + 1;
    }
    add_edit(edits, s, e, byte, LLM_MASK_NORM_SPELT);
    if (byte == '@') {
        walk_domain(edits, u, e, len, 1);
    }
    return e;
}

/* " at " at @a p, in an address that spells a dot: '@'. */
static void bare_at_edit(apr_array_header_t *edits, const unsigned char *u,
                         apr_size_t p, apr_size_t len)
{
    apr_size_t e = bare(u, p, len, "at");

    apr_size_t s = e ? skip_hidden_back(u, p, len) : 0;

    if (e && s > 0 && local_char(u[s - 1]) && e < len && label_char(u[e])
        && walk_domain(edits, u, e, len, 0)) {
        add_edit(edits, p, e, '@', LLM_MASK_NORM_SPELT);
        walk_domain(edits, u, e, len, 1);
    }
}

/* ------------------------------------------------------------------ */
/* The view                                                            */
/* ------------------------------------------------------------------ */

static char digit_at(const unsigned char *u, apr_size_t p, apr_size_t len,
                     apr_size_t *n);

/* Invisible characters, by their first bytes (rare in prose but for
 * 0xe2, typographic quotes and dashes). Returns whether a full-width
 * digit was met on the way (its first byte, 0xef, is a BOM's too: one
 * pass finds both). */
static int find_hidden(apr_array_header_t *edits, const unsigned char *u,
                       apr_size_t len)
{
    static const unsigned char lead[] = { 0xe2, 0xef, 0x00 };
    const unsigned char *hit;
    apr_size_t p, n;
    int k, digits = 0;

    for (k = 0; k < 3; k++) {
        for (p = 0; p < len && (hit = memchr(u + p, lead[k], len - p)); ) {
            p = (apr_size_t)(hit - u);
            if (hidden_at(u, p, len)) {
                p = hidden_edit(edits, u, p, len);
                continue;
            }
            digits |= k == 1 && digit_at(u, p, len, &n);
            p++;
        }
    }
    return digits;
}

/* " dot " or " DOT " somewhere, by its rare first letter. (memchr
 * restarts at every 'd' of prose, and still costs less than a vector
 * scan for " d": Polish words begin with a 'd' often.) */
static int has_bare_dot(const unsigned char *u, apr_size_t len)
{
    const unsigned char *hit;
    apr_size_t p;
    int k;

    for (k = 0; k < 2; k++) {
        const char *word = k ? " DOT " : " dot ";

        for (p = 1; p < len && (hit = memchr(u + p, word[1], len - p)); ) {
            p = (apr_size_t)(hit - u);
            if (p + 4 <= len && !memcmp(u + p - 1, word, 5)) {
                return 1;
            }
            p++;
        }
    }
    return 0;
}

/* Spelt '@' and '.': in brackets anywhere; as words where an address
 * spells a dot (looked for only when the text has " dot " or a dot in
 * brackets: rare). */
static void find_spelt(apr_array_header_t *edits, const unsigned char *u,
                       apr_size_t len)
{
    static const char open[] = "([{";
    const unsigned char *hit;
    apr_size_t p;
    int n = edits->nelts, dots = 0, k;

    for (k = 0; k < 3; k++) {
        for (p = 0; p < len && (hit = memchr(u + p, open[k], len - p)); ) {
            p = bracket_edit(edits, u, (apr_size_t)(hit - u), len);
        }
    }
    for (k = n; k < edits->nelts; k++) {
        dots |= APR_ARRAY_IDX(edits, k, edit_t).byte == '.';
    }
    if (!dots && !has_bare_dot(u, len)) {
        return;
    }
    for (p = 0; p < len; p++) {
        if (u[p] == ' ') {
            bare_at_edit(edits, u, p, len);
        }
        else if (u[p] == '@') {
            walk_domain(edits, u, p + 1, len, 1);
        }
    }
}

static int edit_order(const void *a, const void *b)
{
    const edit_t *x = a, *y = b;

    return x->s != y->s ? (x->s < y->s ? -1 : 1)
                        : (x->e != y->e ? (x->e < y->e ? -1 : 1) : 0);
}

/* The edits in order, an edit that overlaps the one before merged into
 * it: their union, standing for the spelt byte of either (of the first
 * when both spell one). */
static int merge_edits(apr_array_header_t *edits)
{
    edit_t *ed = (edit_t *)edits->elts, *last;
    int i, n = 0;

    qsort(ed, edits->nelts, sizeof(*ed), edit_order);
    for (i = 0; i < edits->nelts; i++) {
        if (!n || ed[i].s >= ed[n - 1].e) {
            ed[n++] = ed[i];
            continue;
        }
        last = &ed[n - 1];
        last->e = ed[i].e > last->e ? ed[i].e : last->e;
        if (!last->byte) {
            last->byte = ed[i].byte;
            last->kind = ed[i].byte ? ed[i].kind : last->kind | ed[i].kind;
        }
    }
    return n;
}

/* The view written from the text and its edits. */
static void write_view(apr_pool_t *p, const char *text, apr_size_t len,
                       const edit_t *ed, int n, llm_mask_view_t *v)
{
    char *out = apr_palloc(p, len + 1);
    apr_uint32_t *at = apr_palloc(p, (len + 1) * sizeof(*at));
    unsigned char *flag = apr_palloc(p, len + 1);
    apr_size_t from = 0, w = 0, k;
    unsigned char pending = 0;
    int i;

    for (i = 0; i <= n; i++) {
        apr_size_t to = i < n ? ed[i].s : len;

        for (k = from; k < to; k++, w++) {
            out[w] = text[k];
            at[w] = (apr_uint32_t)k;
            flag[w] = pending;
            pending = 0;
        }
        if (i == n) {
            break;
        }
        if (ed[i].byte) {
            out[w] = ed[i].byte;
            at[w] = (apr_uint32_t)ed[i].s;
            flag[w++] = pending | ed[i].kind;
            pending = 0;
        }
        else {
            pending |= ed[i].kind;
            v->hidden |= ed[i].kind & LLM_MASK_NORM_HIDDEN;
        }
        from = ed[i].e;
    }
    out[w] = '\0';
    at[w] = (apr_uint32_t)len;
    flag[w] = pending;
    v->text = out;
    v->len = w;
    v->at = at;
    v->flag = flag;
}

/* The view of a text without digits of other scripts: 1, 0 when it
 * would be the text itself, -1 when it holds a full-width digit after
 * all (see has_other_digits). */
static int view_of(apr_pool_t *p, const char *text, apr_size_t len,
                   const llm_mask_run_t *runs, int nruns,
                   const apr_uint32_t *at, llm_mask_view_t *v)
{
    apr_array_header_t *edits = apr_array_make(p, 8, sizeof(edit_t));
    const unsigned char *u = (const unsigned char *)text;
    int n;

    if (find_hidden(edits, u, len)) {
        return -1;
    }
    find_chains(edits, u, len, runs, nruns, at);
    find_spelt(edits, u, len);
    if (!edits->nelts) {
        return 0;
    }
    n = merge_edits(edits);
    write_view(p, text, len, (const edit_t *)edits->elts, n, v);
    return 1;
}

/* ------------------------------------------------------------------ */
/* Digits of other scripts                                             */
/* ------------------------------------------------------------------ */

/* The zeros of the decimal digits of other scripts that the view reads
 * as ASCII (each followed by its nine digits): Arabic-Indic, Extended
 * Arabic-Indic, Devanagari, Bengali, Gurmukhi, Gujarati, Oriya, Tamil,
 * Telugu, Kannada, Malayalam, Sinhala, Thai, Lao, Tibetan, full-width.
 * Their characters begin with 0xd9, 0xdb, 0xe0 or 0xef; the
 * mathematical digits U+1D7CE..U+1D7FF (five styles) with 0xf0. */
static const apr_uint32_t digit_zeros[] = {
    0x0660, 0x06f0, 0x0966, 0x09e6, 0x0a66, 0x0ae6, 0x0b66, 0x0be6,
    0x0c66, 0x0ce6, 0x0d66, 0x0de6, 0x0e50, 0x0ed0, 0x0f20, 0xff10
};

/* The ASCII digit that the character at @a p stands for, with its
 * length in @a n; or 0. */
static char digit_at(const unsigned char *u, apr_size_t p, apr_size_t len,
                     apr_size_t *n)
{
    apr_uint32_t cp;
    apr_size_t k, need = u[p] >= 0xf0 ? 4 : u[p] >= 0xe0 ? 3 : 2;
    size_t z;

    if ((u[p] != 0xd9 && u[p] != 0xdb && u[p] != 0xe0 && u[p] != 0xef
         && u[p] != 0xf0) || p + need > len) {
        return 0;
    }
    cp = u[p] & (0x7f >> need);
    for (k = 1; k < need; k++) {
        if ((u[p + k] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (u[p + k] & 0x3f);
    }
    *n = need;
    if (cp >= 0x1d7ce && cp <= 0x1d7ff) {
        return (char)('0' + (cp - 0x1d7ce) % 10);
    }
    for (z = 0; z < sizeof(digit_zeros) / sizeof(digit_zeros[0]); z++) {
        if (cp >= digit_zeros[z] && cp <= digit_zeros[z] + 9) {
            return (char)('0' + (cp - digit_zeros[z]));
        }
    }
    return 0;
}

/* Does the text hold a digit of another script but the full-width
 * ones? By the rare first bytes of their characters (0xf0 is also an
 * emoji's). Full-width digits (0xef) are found with the invisible
 * characters, in the same pass (find_hidden). */
static int has_other_digits(const unsigned char *u, apr_size_t len)
{
    static const unsigned char lead[] = { 0xd9, 0xdb, 0xe0, 0xf0 };
    const unsigned char *hit;
    apr_size_t p, n;
    int k;

    for (k = 0; k < 4; k++) {
        for (p = 0; p < len && (hit = memchr(u + p, lead[k], len - p));
             p++) {
            p = (apr_size_t)(hit - u);
            if (digit_at(u, p, len, &n)) {
                return 1;
            }
        }
    }
    return 0;
}

/* The text with its digits of other scripts written in ASCII: @a at
 * and @a flag as a view's (LLM_MASK_NORM_DIGIT on each such digit). */
static apr_size_t map_digits(apr_pool_t *p, const unsigned char *u,
                             apr_size_t len, char **text, apr_uint32_t **at,
                             unsigned char **flag)
{
    char *t = apr_palloc(p, len + 1);
    apr_uint32_t *a = apr_palloc(p, (len + 1) * sizeof(*a));
    unsigned char *f = apr_palloc(p, len + 1);
    apr_size_t k = 0, w = 0, n;
    char d;

    while (k < len) {
        a[w] = (apr_uint32_t)k;
        if (u[k] >= 0xd9 && (d = digit_at(u, k, len, &n))) {
            t[w] = d;
            f[w++] = LLM_MASK_NORM_DIGIT;
            k += n;
        }
        else {
            t[w] = (char)u[k++];
            f[w++] = 0;
        }
    }
    t[w] = '\0';
    a[w] = (apr_uint32_t)len;
    f[w] = 0;
    *text = t;
    *at = a;
    *flag = f;
    return w;
}

/* The view of a text with digits of other scripts: of the text with
 * them mapped (the first view), its edits found as in any text (every
 * chain read, the clusters being those of the text), the two views'
 * offsets and flags composed. */
static int view_of_digits(apr_pool_t *p, const char *text, apr_size_t len,
                          llm_mask_view_t *v)
{
    char *t;
    apr_uint32_t *at;
    unsigned char *flag;
    apr_size_t n = map_digits(p, (const unsigned char *)text, len, &t, &at,
                              &flag), i;
    llm_mask_view_t second;

    memset(&second, 0, sizeof(second));
    if (view_of(p, t, n, NULL, 0, at, &second) <= 0) {
        v->text = t;
        v->len = n;
        v->at = at;
        v->flag = flag;
    }
    else {
        for (i = 0; i <= second.len; i++) {
            apr_uint32_t j = second.at[i];

            second.at[i] = at[j];
            second.flag[i] |= flag[j];
        }
        *v = second;
    }
    v->orig = text;
    v->digits = 1;
    return 1;
}

int llm_mask_view(apr_pool_t *p, const char *text, apr_size_t len,
                  const llm_mask_run_t *runs, int nruns, llm_mask_view_t *v)
{
    int rc;

    memset(v, 0, sizeof(*v));
    if (len >= 0xffffffffUL) {
        return 0;           /* offsets of 32 bits: no view */
    }
    if (has_other_digits((const unsigned char *)text, len)
        || (rc = view_of(p, text, len, runs, nruns, NULL, v)) < 0) {
        memset(v, 0, sizeof(*v));
        return view_of_digits(p, text, len, v);
    }
    if (!rc) {
        return 0;
    }
    v->orig = text;
    return 1;
}

apr_size_t llm_mask_view_index(const llm_mask_view_t *v, apr_size_t off)
{
    apr_size_t lo = 0, hi = v->len;

    while (lo < hi) {
        apr_size_t mid = lo + (hi - lo) / 2;

        if (v->at[mid] < off) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

int llm_mask_view_span(const llm_mask_view_t *v, apr_size_t s, apr_size_t e,
                       apr_size_t *os, apr_size_t *oe)
{
    int kinds = v->flag[s] & (LLM_MASK_NORM_SPELT | LLM_MASK_NORM_DIGIT);
    unsigned char last = v->flag[e - 1];
    apr_size_t k;

    for (k = s + 1; k < e; k++) {
        kinds |= v->flag[k];
    }
    *os = v->at[s];
    if (last & LLM_MASK_NORM_SPELT) {
        *oe = v->at[e];
    }
    else if (last & LLM_MASK_NORM_DIGIT) {      /* a character of 2-4 */
        unsigned char lead = (unsigned char)v->orig[v->at[e - 1]];

        *oe = v->at[e - 1] + (lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2);
    }
    else {
        *oe = v->at[e - 1] + 1;
    }
    return kinds;
}
