/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Shape tests: for each default rule, a cheap necessary condition on a
 * search window, so that PCRE2 runs only where the rule could match
 * (docs/masking.md, "Speed"). Most windows of prose around a number can
 * hold only two or three of the 33 rules: a PESEL needs a run of
 * exactly eleven digits, an amount a currency next to it, a date in
 * words a month's name. Each test reads the digit structure of clusters
 * (llm_mask_features_t, computed once per cluster) and, only when that
 * passes, a little of the window's text.
 *
 * A test may say "maybe" too often, never "no" where PCRE2 would find a
 * match: each one below says from which part of its pattern it follows.
 * t/unit/test_mask.c and the fuzz target compare every text masked with
 * the tests and without them (llm_mask_ruleset_exhaustive).
 *
 * Which cluster holds a match's digits: a match begins in
 * [start, run_end) of the cluster searched, and by then the scan is past
 * every cluster before it (llm_mask.c), so a group of digits that
 * begins at most 13 bytes after the match does is in this cluster: the
 * next one begins over LLM_MASK_RUN_GAP (13) bytes after run_end. Most
 * tests read this cluster's features (w->own); the rules whose digits
 * may come later (a label first: PHONE, KRS, a month first: DATE, hex
 * letters first: SSL_CERT, MAC_ADDRESS, VIN, a plate after its label)
 * read every cluster of the window (llm_mask_where_wide). Groups joined
 * by at most 13 bytes (DATE_NUMERIC's "2024 - 03 - 05" in wide spaces)
 * are always in one cluster.
 *
 * Caseless patterns in UCP mode take U+212A (Kelvin) for k and U+017F
 * (long s) for s: a test that reads letters of such a pattern says
 * "maybe" for a text that holds either (w->odd_case).
 */

#include <string.h>

#include "llm_mask_shape.h"

#define BIT(n) ((apr_uint32_t)1 << (n))
#define BITS(lo, hi) ((((apr_uint32_t)2 << (hi)) - 1) & ~(BIT(lo) - 1))

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_word(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '_';
}

static int is_hex(unsigned char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static int in(apr_size_t n, apr_size_t lo, apr_size_t hi)
{
    return n >= lo && n <= hi;
}

/* ------------------------------------------------------------------ */
/* A cluster's features, from its groups of digits                     */
/* ------------------------------------------------------------------ */

#define MAX_GROUPS 64

typedef struct {
    apr_size_t start;
    apr_size_t end;
} group_t;

typedef struct {
    const unsigned char *u;
    apr_size_t len;
    group_t g[MAX_GROUPS];
    int n;
} groups_t;

static apr_size_t glen(const groups_t *gs, int i)
{
    return gs->g[i].end - gs->g[i].start;
}

/* The byte before group @a i (a space at the text's start). */
static unsigned char before(const groups_t *gs, int i)
{
    return gs->g[i].start ? gs->u[gs->g[i].start - 1] : ' ';
}

/* Exactly the one byte @a a or @a b between group i - 1 and group i? */
static int joined_by(const groups_t *gs, int i, char a, char b)
{
    apr_size_t at;

    if (i == 0) {
        return 0;
    }
    at = gs->g[i - 1].end;
    return gs->g[i].start == at + 1
           && (gs->u[at] == (unsigned char)a || gs->u[at] == (unsigned char)b);
}

/* One character of 2 or 3 bytes outside ASCII (NBSP, the other \h)? */
static int joined_by_high(const groups_t *gs, int i)
{
    apr_size_t at, n;

    if (i == 0) {
        return 0;
    }
    n = gs->g[i].start - gs->g[i - 1].end;
    for (at = gs->g[i - 1].end; at < gs->g[i].start; at++) {
        if (gs->u[at] < 0x80) {
            return 0;
        }
    }
    return n >= 2 && n <= 3;
}

/* \h or nothing: REGON's and SIM_CARD's joints. */
static int joined_by_h(const groups_t *gs, int i)
{
    return joined_by(gs, i, ' ', '\t') || joined_by_high(gs, i);
}

/* DATE_NUMERIC's \h{0,2}[-./]\h{0,2}: one of "-./", spaces around. */
static int joined_as_date(const groups_t *gs, int i)
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

/* Chains: the most digits of groups joined one by one. */
static void chain_step(unsigned *digits, unsigned *most, int joined,
                       apr_size_t len)
{
    *digits = joined ? *digits + (unsigned)len : (unsigned)len;
    *most = *digits > *most ? *digits : *most;
}

static void read_chains(const groups_t *gs, llm_mask_chains_t *c)
{
    unsigned dash = 0, h = 0;
    int i;

    for (i = 0; i < gs->n; i++) {
        apr_size_t len = glen(gs, i);

        chain_step(&dash, &c->dash_digits, joined_by(gs, i, ' ', '-'), len);
        chain_step(&h, &c->h_digits, joined_by_h(gs, i), len);
    }
}

/* PHONE's second form: (?<![\w+.,\-]) 2-3 digits, then two to four
 * groups of 2-4, each after one ' ' or '-'. */
static int phone_from(const groups_t *gs, int i)
{
    unsigned char b = before(gs, i);
    int k;

    if (!in(glen(gs, i), 2, 3) || is_word(b) || b == '+' || b == '.'
        || b == ',' || b == '-') {
        return 0;
    }
    for (k = i + 1; k < gs->n && k <= i + 2; k++) {
        if (!joined_by(gs, k, ' ', '-') || !in(glen(gs, k), 2, 4)) {
            return 0;
        }
    }
    return k == i + 3;
}

/* REGON: \b 2 \h? 3 \h? 4 (\h? 5)? \b: from a group after a non-word
 * byte, the digits so far at each joint are 2, 5 or 9, and 9 or 14 at
 * the end of a group. */
static int regon_from(const groups_t *gs, int i)
{
    apr_size_t total = 0, first = glen(gs, i);
    int k;

    if ((first != 2 && first != 5 && first != 9 && first != 14)
        || is_word(before(gs, i))) {
        return 0;
    }
    for (k = i; k < gs->n && (k == i || joined_by_h(gs, k)); k++) {
        total += glen(gs, k);
        if (total == 9 || total == 14) {
            return 1;
        }
        if (total != 2 && total != 5) {
            return 0;
        }
    }
    return 0;
}

/* NIP: 3-?3-?2-?2 (the joints at 3, 6 and 8 digits), 3-2-2-3, or with
 * single spaces 3 3 2 2 and 3 2 2 3. */
static int nip_from(const groups_t *gs, int i)
{
    static const unsigned char spaced[2][4] = { { 3, 3, 2, 2 },
                                                { 3, 2, 2, 3 } };
    apr_size_t total = 0, first = glen(gs, i);
    int k, f;

    if (first != 3 && first != 6 && first != 8 && first != 10) {
        return 0;
    }
    for (k = i; k < gs->n && (k == i || joined_by(gs, k, '-', '-')); k++) {
        total += glen(gs, k);
        if (total == 10) {
            return 1;
        }
        if (total != 3 && total != 6 && total != 8) {
            break;
        }
    }
    for (f = 0; f < 2; f++) {
        for (k = 0; k < 4 && i + k < gs->n; k++) {
            if (glen(gs, i + k) != spaced[f][k]
                || (k && !joined_by(gs, i + k, ' ', f ? '-' : ' '))) {
                break;
            }
        }
        if (k == 4) {
            return 1;
        }
    }
    return 0;
}

/* Letters right before group @a i, or one of [-_/] after letters:
 * ORDER123, fbid123, FV/2023, TX_1234, AB1234567 (a byte outside ASCII
 * may be a letter: caseless, U+212A is a K). */
static int labelled(const groups_t *gs, int i)
{
    apr_size_t at = gs->g[i].start;
    unsigned char b = before(gs, i);

    if (is_alpha(b) || b >= 0x80) {
        return 1;
    }
    return (b == '-' || b == '_' || b == '/') && at >= 2
           && (is_alpha(gs->u[at - 2]) || gs->u[at - 2] >= 0x80);
}

static unsigned char lower(unsigned char c)
{
    return is_upper(c) ? c | 0x20 : c;
}

/* The labels' last letters before a group (caseless, none of them a k
 * or an s): ORDER_NUMBER's (?:ORDER|ORD)[\-_]?[0-9]{3,10}, INVOICE's
 * (?:FV|INV|INVOICE)[/\-][0-9]{4}, SOCIAL_ID's fbid[0-9]{8,20}. */
static apr_uint32_t label_marks(const groups_t *gs, int i)
{
    apr_size_t at = gs->g[i].start, n = glen(gs, i);
    unsigned char b = before(gs, i), c = at >= 2 ? lower(gs->u[at - 2]) : 0;
    apr_uint32_t m = 0;

    b = lower(b);
    if (in(n, 3, 10)
        && (b == 'd' || b == 'r'
            || ((b == '-' || b == '_') && (c == 'd' || c == 'r')))) {
        m |= LLM_MASK_MARK_ORDER;
    }
    if (n == 4 && (b == '/' || b == '-') && (c == 'v' || c == 'e')) {
        m |= LLM_MASK_MARK_INVOICE;
    }
    if (in(n, 8, 20) && b == 'd') {
        m |= LLM_MASK_MARK_SOCIAL;
    }
    return m;
}

/* CAR_PLATE: (?<![\p{L}\p{N}\-]) 2-3 capitals, \h?, then this group's
 * first digit and 2-4 more digits or capitals, not followed by a
 * letter, a digit or '-' (a byte outside ASCII may be a letter). */
static int plate_at(const groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t d = gs->g[i].start, p = d, e;
    int skipped = 0;

    if (d < 2 || !(is_upper(u[d - 1]) || is_upper(u[d - 2])
                   || (d >= 3 && is_upper(u[d - 3]))
                   || (d >= 4 && is_upper(u[d - 4])))) {
        return 0;               /* no capital within \h of the digit */
    }
    while (p > 0 && skipped < 3 && (u[p - 1] == ' ' || u[p - 1] == '\t'
                                    || u[p - 1] >= 0x80)) {
        p--;                    /* the \h between */
        skipped++;
    }
    for (e = p; p > 0 && is_upper(u[p - 1]) && e - p < 4; p--) {
    }
    if (!in(e - p, 2, 3) || (p > 0 && (is_alpha(u[p - 1])
                                       || is_digit(u[p - 1])
                                       || u[p - 1] == '-'))) {
        return 0;
    }
    for (e = d; e < gs->len && e - d < 6
                && (is_digit(u[e]) || is_upper(u[e])); e++) {
    }
    /* Cut shorter, the tail stops before a digit or capital. */
    return in(e - d, 3, 5) && (e == gs->len || u[e] >= 0x80
                               || !(is_alpha(u[e]) || u[e] == '-'));
}

/* BANK_ACCOUNT's [A-Za-z]{2}[ \-]?[0-9]{2}: two ASCII letters, not
 * after a letter or digit, maybe ' ' or '-', then this group. */
static int iban_head_at(const groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t q = gs->g[i].start;

    if (q >= 1 && (u[q - 1] == ' ' || u[q - 1] == '-')) {
        q--;
    }
    return q >= 2 && is_alpha(u[q - 1]) && is_alpha(u[q - 2])
           && (q == 2 || !(is_alpha(u[q - 3]) || is_digit(u[q - 3])));
}

/* A hex pair at @a p, then ':' or '-' (the pair after @a p - 3 ...). */
static int pair_then_joint(const groups_t *gs, apr_size_t p)
{
    const unsigned char *u = gs->u;

    return p + 3 <= gs->len && is_hex(u[p]) && is_hex(u[p + 1])
           && (u[p + 2] == ':' || u[p + 2] == '-');
}

/* MAC_ADDRESS joined by ':' or '-': a hex pair holding a digit is a
 * 2-byte word, and of six pairs in a row every one has two more before
 * it or two more after it. */
static int hex_pair_at(const groups_t *gs, apr_size_t ws, apr_size_t we)
{
    const unsigned char *u = gs->u;
    int before2 = ws >= 6 && pair_then_joint(gs, ws - 6)
                  && pair_then_joint(gs, ws - 3);
    int after2 = we + 6 <= gs->len && (u[we] == ':' || u[we] == '-')
                 && pair_then_joint(gs, we + 1) && is_hex(u[we + 4])
                 && is_hex(u[we + 5]);

    return we - ws == 2 && (before2 || after2);
}

/* NRB: (?<![A-Z]{2})(?<!\b[A-Z]{2}[ \-])(?<![0-9]) then 2 + 6 x 4
 * digits, each joined by at most one ' ', NBSP or '-': a first group
 * of 2, 6, ... or 26 not right after two capitals, in a chain of 26
 * digits or more from it. */
static int nrb_from(const groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t s = gs->g[i].start, total = 0, n = glen(gs, i);
    int k;

    if (n % 4 != 2 || n > 26
        || (s >= 2 && is_upper(u[s - 1]) && is_upper(u[s - 2]))
        || (s >= 3 && (u[s - 1] == ' ' || u[s - 1] == '-')
            && is_upper(u[s - 2]) && is_upper(u[s - 3])
            && (s == 3 || (u[s - 4] < 0x80 && !is_word(u[s - 4]))))) {
        return 0;
    }
    for (k = i; k < gs->n; k++) {
        if (k > i && !joined_by(gs, k, ' ', '-') && !joined_by_high(gs, k)) {
            break;
        }
        total += glen(gs, k);
    }
    return total >= 26;
}

static apr_uint32_t read_marks(const groups_t *gs)
{
    apr_uint32_t m = 0;
    int i;

    for (i = 0; i < gs->n; i++) {
        apr_size_t a = i >= 2 ? glen(gs, i - 2) : 0;
        apr_size_t b = i >= 1 ? glen(gs, i - 1) : 0, c = glen(gs, i);

        m |= phone_from(gs, i) ? LLM_MASK_MARK_PHONE : 0;
        m |= regon_from(gs, i) ? LLM_MASK_MARK_REGON : 0;
        m |= nip_from(gs, i) ? LLM_MASK_MARK_NIP : 0;
        m |= labelled(gs, i) ? LLM_MASK_MARK_LABELLED : 0;
        m |= plate_at(gs, i) ? LLM_MASK_MARK_PLATE : 0;
        m |= iban_head_at(gs, i) ? LLM_MASK_MARK_IBAN : 0;
        m |= label_marks(gs, i);
        m |= nrb_from(gs, i) ? LLM_MASK_MARK_NRB : 0;
        m |= before(gs, i) == '+' && gs->u[gs->g[i].start] != '0'
             ? LLM_MASK_MARK_PLUS : 0;
        if (i < 1) {
            continue;
        }
        m |= b == 2 && c == 2 && joined_by(gs, i, ':', '.')
             ? LLM_MASK_MARK_TIME : 0;
        m |= b == 2 && c == 3 && joined_by(gs, i, '-', '-')
             ? LLM_MASK_MARK_POSTAL : 0;
        m |= b == 8 && c == 3 && joined_by(gs, i, '/', '/')
             ? LLM_MASK_MARK_HEALTH : 0;
        if (i < 2) {
            continue;
        }
        m |= a == 3 && b == 2 && c == 4 && joined_by(gs, i - 1, '-', '-')
             && joined_by(gs, i, '-', '-') ? LLM_MASK_MARK_SSN : 0;
        m |= ((a == 4 && in(b, 1, 2) && in(c, 1, 2))
              || (in(a, 1, 2) && in(b, 1, 2) && c == 4))
             && joined_as_date(gs, i - 1) && joined_as_date(gs, i)
             ? LLM_MASK_MARK_DATE : 0;
    }
    return m;
}

static apr_uint32_t len_bit(apr_size_t n)
{
    return BIT(n < 31 ? n : 31);
}

static apr_uint32_t sep_bit(unsigned char c)
{
    switch (c) {
    case ' ': case '\t': return LLM_MASK_SEP_SPACE;
    case '-': return LLM_MASK_SEP_DASH;
    case '.': return LLM_MASK_SEP_DOT;
    case '/': return LLM_MASK_SEP_SLASH;
    case ':': return LLM_MASK_SEP_COLON;
    case ',': return LLM_MASK_SEP_COMMA;
    case '_': return LLM_MASK_SEP_UNDER;
    }
    if (c >= 0x80) {
        return LLM_MASK_SEP_HIGH;
    }
    return is_alpha(c) ? LLM_MASK_SEP_ALPHA : LLM_MASK_SEP_OTHER;
}

apr_uint32_t llm_mask_cluster_seps(const unsigned char *u, apr_size_t start,
                                   apr_size_t end)
{
    apr_uint32_t seps = 0;

    for (; start < end; start++) {
        if (!is_digit(u[start])) {
            seps |= sep_bit(u[start]);
        }
    }
    return seps;
}

/* The words (ASCII letters, digits, '_') around each group. */
static void read_words(groups_t *gs, llm_mask_features_t *f)
{
    const unsigned char *u = gs->u;
    int i;

    for (i = 0; i < gs->n; i++) {
        apr_size_t ws = gs->g[i].start, we = gs->g[i].end;

        while (ws > 0 && is_word(u[ws - 1])) {
            ws--;
        }
        while (we < gs->len && is_word(u[we])) {
            we++;
        }
        f->words |= len_bit(we - ws);
        if (we - ws >= 2 && is_alpha(u[ws]) && is_alpha(u[ws + 1])) {
            f->lwords |= len_bit(we - ws);
        }
        if (hex_pair_at(gs, ws, we)) {
            f->marks |= LLM_MASK_MARK_HEX_PAIR;
        }
    }
}

/* A cluster with more groups than MAX_GROUPS: every feature, so that
 * no test rules anything out there (its bytes are not all read). */
static void read_everything(llm_mask_features_t *f)
{
    memset(&f->chains, 0xff, sizeof(f->chains));
    f->lens = f->words = f->lwords = ~(apr_uint32_t)0;
    f->seps = f->marks = f->quick = ~(apr_uint32_t)0;
}

static apr_uint32_t read_quick(const llm_mask_features_t *f);

void llm_mask_cluster_features(const unsigned char *u, apr_size_t len,
                               apr_size_t start, apr_size_t end,
                               llm_mask_features_t *f)
{
    groups_t gs;
    apr_size_t i = start, a;

    memset(f, 0, sizeof(*f));
    gs.u = u;
    gs.len = len;
    gs.n = 0;
    while (i < end) {
        if (!is_digit(u[i])) {
            f->seps |= sep_bit(u[i++]);
            continue;
        }
        for (a = i; i < len && is_digit(u[i]); i++) {
        }
        f->lens |= len_bit(i - a);
        if (gs.n == MAX_GROUPS) {
            read_everything(f);
            return;
        }
        gs.g[gs.n].start = a;
        gs.g[gs.n++].end = i;
    }
    read_words(&gs, f);
    read_chains(&gs, &f->chains);
    f->marks |= read_marks(&gs);
    f->quick = read_quick(f);
}


const llm_mask_features_t *llm_mask_where_wide(const llm_mask_where_t *w,
                                               llm_mask_features_t *f)
{
    int j, alone = (w->k == 0 || w->runs[w->k - 1].end <= w->start)
                   && (w->k + 1 == w->nruns
                       || w->runs[w->k + 1].start >= w->end);

    if (alone) {
        return w->own;
    }
    f->lens = f->words = f->seps = f->marks = 0;
    for (j = w->k; j > 0 && w->runs[j - 1].end > w->start; j--) {
    }
    for (; j < w->nruns && w->runs[j].start < w->end; j++) {
        f->lens |= w->runs[j].f.lens;
        f->words |= w->runs[j].f.words;
        f->seps |= w->runs[j].f.seps;
        f->marks |= w->runs[j].f.marks;
    }
    return f;
}

/* ------------------------------------------------------------------ */
/* Reading the window's text                                           */
/* ------------------------------------------------------------------ */

/* @a lit (lower case ASCII, or bytes outside ASCII as they are) at @a p,
 * caseless. */
static int at_ci(const llm_mask_where_t *w, apr_size_t p, const char *lit)
{
    for (; *lit; lit++, p++) {
        unsigned char c;

        if (p >= w->len) {
            return 0;
        }
        c = w->text[p];
        if ((is_upper(c) ? c | 0x20 : c) != (unsigned char)*lit) {
            return 0;
        }
    }
    return 1;
}

#define NOWHERE ((apr_size_t)-1)

/* Where @a lit first begins, caseless, in [from, to), or NOWHERE. */
static apr_size_t find_ci(const llm_mask_where_t *w, const char *lit,
                          apr_size_t from, apr_size_t to)
{
    unsigned char first = (unsigned char)lit[0];

    for (to = to < w->len ? to : w->len; from < to; from++) {
        unsigned char c = w->text[from];

        if ((is_upper(c) ? c | 0x20 : c) == first && at_ci(w, from, lit)) {
            return from;
        }
    }
    return NOWHERE;
}

static int begins_in(const llm_mask_where_t *w, const char *lit,
                     apr_size_t from, apr_size_t to)
{
    return find_ci(w, lit, from, to) != NOWHERE;
}

/* No match begins before @a p: the search may start there. */
static void begin_at(const llm_mask_where_t *w, apr_size_t p)
{
    if (p != NOWHERE && p > *w->begin) {
        *w->begin = p;
    }
}

/* The cluster's start less @a n bytes, or 0. */
static apr_size_t run_start_less(const llm_mask_where_t *w, apr_size_t n)
{
    return w->run_start > n ? w->run_start - n : 0;
}

/* Where a match begins: [start, run_end) (llm_mask_where_t). */
#define BEGINS_IN(w, lit) begins_in(w, lit, (w)->start, (w)->run_end)

/* Does a word of @a list begin at @a p? */
static int any_at(const llm_mask_where_t *w, apr_size_t p,
                  const char *const *list)
{
    for (; *list; list++) {
        if (at_ci(w, p, *list)) {
            return 1;
        }
    }
    return 0;
}

/* Three bytes from @a p as one number, ASCII capitals folded (0 past
 * the text's end): words compared in one switch. */
#define K3(a, b, c) (((apr_uint32_t)(unsigned char)(a) << 16)              \
                     | ((apr_uint32_t)(unsigned char)(b) << 8)             \
                     | (apr_uint32_t)(unsigned char)(c))

static apr_uint32_t key3(const llm_mask_where_t *w, apr_size_t p)
{
    if (p + 3 > w->len) {
        return 0;
    }
    return K3(lower(w->text[p]), lower(w->text[p + 1]),
              lower(w->text[p + 2]));
}

/* The first three letters of DATE's month names (PL_MONTHS, EN_MONTHS:
 * "pa" + 'z' or 'ź'). */
static int month_at(const llm_mask_where_t *w, apr_size_t p)
{
    switch (key3(w, p)) {
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
        if (is_alpha(w->text[p]) && (p == 0 || !is_alpha(w->text[p - 1]))
            && month_at(w, p)) {
            return p;
        }
    }
    return NOWHERE;
}

/* The first bytes of MONEY's CURRENCY and CURRENCY_WORD: the symbols,
 * the ISO codes, "zł..." and the Polish words, by their first byte. */
static int currency_at(const llm_mask_where_t *w, apr_size_t p)
{
    const unsigned char *u = w->text + p;

    if (u[0] == '$') {
        return 1;
    }
    if (p + 2 <= w->len && ((u[0] == 0xc2 && (u[1] == 0xa3 || u[1] == 0xa5))
                            || (lower(u[0]) == 'g' && lower(u[1]) == 'r'))) {
        return 1;                       /* £ ¥, gr */
    }
    switch (key3(w, p)) {
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

/* Does a magnitude (MAGNITUDE: k, tys, mln, mld) end right before
 * @a p? Caseless; a byte outside ASCII may be a K (U+212A). */
static int after_magnitude(const llm_mask_where_t *w, apr_size_t p)
{
    unsigned char b = w->text[p - 1];

    if (b >= 0x80) {
        return 1;
    }
    switch (b | 0x20) {
    case 'k':
        return p < 2 || !is_alpha(w->text[p - 2]);
    case 's':
        return p >= 3 && at_ci(w, p - 3, "tys");
    case 'n':
        return p >= 3 && at_ci(w, p - 3, "mln");
    case 'd':
        return p >= 3 && at_ci(w, p - 3, "mld");
    }
    return 0;
}

/* Where a currency first begins in [from, to), or NOWHERE: after a
 * non-letter or right after a magnitude. */
static apr_size_t currency_in(const llm_mask_where_t *w, apr_size_t from,
                              apr_size_t to)
{
    /* The first bytes of currency_at's cases. */
    static const char may[256] = {
        ['$'] = 1, [0xc2] = 1, [0xe2] = 1,
        ['a'] = 1, ['A'] = 1, ['c'] = 1, ['C'] = 1, ['d'] = 1, ['D'] = 1,
        ['e'] = 1, ['E'] = 1, ['f'] = 1, ['F'] = 1, ['g'] = 1, ['G'] = 1,
        ['h'] = 1, ['H'] = 1, ['i'] = 1, ['I'] = 1, ['j'] = 1, ['J'] = 1,
        ['n'] = 1, ['N'] = 1, ['p'] = 1, ['P'] = 1, ['r'] = 1, ['R'] = 1,
        ['s'] = 1, ['S'] = 1, ['u'] = 1, ['U'] = 1, ['z'] = 1, ['Z'] = 1,
    };

    for (to = to < w->len ? to : w->len; from < to; from++) {
        if (may[w->text[from]]
            && (from == 0 || !is_alpha(w->text[from - 1])
                || after_magnitude(w, from))
            && currency_at(w, from)) {
            return from;
        }
    }
    return NOWHERE;
}

/* ------------------------------------------------------------------ */
/* The rules' tests                                                    */
/* ------------------------------------------------------------------ */

/* PESEL: [_*]{0,3}([0-9]{11}) between non-word characters: a maximal
 * run of eleven. */
static int quick_pesel(const llm_mask_features_t *own)
{
    return (own->lens & BIT(11)) != 0;
}

/* PESEL_TAGGED: the same after "PESEL" and up to 8 \s (3 bytes each,
 * outside ASCII); the match begins at "PESEL" (caseless: ſ is an s). */
int llm_mask_shape_pesel_tagged(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;
    apr_size_t label;

    all = llm_mask_where_wide(w, &buf);
    if (!(all->lens & BIT(11))) {
        return 0;
    }
    if (w->odd_case) {
        return 1;
    }
    label = find_ci(w, "pesel", w->start, w->run_end);
    begin_at(w, label);
    return label != NOWHERE;
}

static int quick_nip(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_NIP) != 0;
}

static int quick_regon(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_REGON) != 0;
}

/* DATE: every form has a year of four digits, and a month's name; the
 * month may come first. */
int llm_mask_shape_date_words(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;
    apr_size_t month;

    all = llm_mask_where_wide(w, &buf);
    if (!(all->lens & BIT(4))) {
        return 0;
    }
    if (w->odd_case) {
        return 1;
    }
    /* Without a month before the cluster, the match begins at its
     * digits. */
    month = first_month(w);
    begin_at(w, month != NOWHERE && month < w->run_start ? month
                                                        : w->run_start);
    return month != NOWHERE;
}

static int quick_date_numeric(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_DATE) != 0;
}

static int quick_time(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_TIME) != 0;
}

/*
 * MONEY: a currency at most 2 \h before the amount or, after it, at
 * most 2 \h + a magnitude ("tys.") + 2 \h on. The amount begins at most
 * 3 bytes after the match and its digits are joined by single
 * separators: they are all in this cluster, and a currency begins in
 * [run_start - 9, run_end + 16]. Letters and symbols in the cluster
 * are few: when it has none, only its edges are read.
 */
int llm_mask_shape_money(const llm_mask_where_t *w)
{
    apr_size_t from = run_start_less(w, 12), first;

    if (w->odd_case) {
        return 1;
    }
    if (!(w->own->seps & (LLM_MASK_SEP_ALPHA | LLM_MASK_SEP_HIGH
                          | LLM_MASK_SEP_OTHER))) {
        first = currency_in(w, from, w->run_start);
        if (first == NOWHERE) {
            first = currency_in(w, w->run_end, w->run_end + 20);
        }
    }
    else {
        first = currency_in(w, from, w->run_end + 20);
    }
    if (first == NOWHERE) {
        return 0;
    }
    /* [_*]{0,3} before the currency or the amount. */
    begin_at(w, first < w->run_start ? (first > 3 ? first - 3 : 0)
                                     : run_start_less(w, 3));
    return 1;
}

/* VIN: \b([A-HJ-NPR-Z0-9]{17})\b, caseless: an ASCII word of 17, whose
 * first digit may be its last character. */
int llm_mask_shape_vin(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;

    if (w->odd_case) {
        return 1;
    }
    all = llm_mask_where_wide(w, &buf);
    return (all->words & BIT(17)) != 0;
}

/* BANK_ACCOUNT begins with two ASCII letters not after a letter or
 * digit, maybe ' ' or '-', then two digits (a group of this cluster:
 * LLM_MASK_MARK_IBAN) or "XX", after which the first digit may come 64
 * bytes later: then the head is looked for where the match begins. */
int llm_mask_shape_iban(const llm_mask_where_t *w)
{
    const unsigned char *u = w->text;
    apr_size_t p, q, to = w->run_end < w->len ? w->run_end : w->len;

    int xx = w->has_xx && w->start < to
             && (memchr(u + w->start, 'X', to - w->start)
                 || memchr(u + w->start, 'x', to - w->start));

    if (!xx) {
        /* The head is right before a group of this cluster. */
        begin_at(w, run_start_less(w, 3));
        return (w->own->marks & LLM_MASK_MARK_IBAN) != 0;
    }
    if (w->own->marks & LLM_MASK_MARK_IBAN) {
        return 1;
    }
    for (p = w->start; p < w->run_end && p + 4 <= w->len; p++) {
        if (!is_alpha(u[p]) || !is_alpha(u[p + 1])
            || (p > 0 && (is_alpha(u[p - 1]) || is_digit(u[p - 1])))) {
            continue;
        }
        q = p + 2 + (u[p + 2] == ' ' || u[p + 2] == '-');
        if (q + 1 < w->len
            && ((is_digit(u[q]) && is_digit(u[q + 1]))
                || (u[q] == 'X' && u[q + 1] == 'X')
                || (u[q] == 'x' && u[q + 1] == 'x'))) {
            return 1;
        }
    }
    return 0;
}

/* CAR_PLATE: after its label, up to 45 bytes, a plate (plate_at). */
int llm_mask_shape_plate(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;

    all = llm_mask_where_wide(w, &buf);
    return (all->marks & LLM_MASK_MARK_PLATE) != 0;
}

static int quick_postal(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_POSTAL) != 0;
}

/* NRB: LLM_MASK_MARK_NRB (nrb_from). */
static int quick_nrb(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_NRB) != 0;
}

/* KRS: ([0-9]{10}) after its label (up to 24 bytes), or 000[0-9]{7},
 * not in a word. */
int llm_mask_shape_krs(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;

    all = llm_mask_where_wide(w, &buf);
    if (!(all->lens & BIT(10))) {
        return 0;
    }
    if (!w->odd_case && !begins_in(w, "krs", w->start, w->run_start)) {
        begin_at(w, w->run_start);      /* 000[0-9]{7}, at its digits */
    }
    return 1;
}

/* PASSPORT: \b[A-Z]{2}[0-9]{7}\b: seven digits right after letters. */
static int quick_passport(const llm_mask_features_t *own)
{
    return (own->lens & BIT(7))
           && (own->marks & LLM_MASK_MARK_LABELLED);
}

/* ID_CARD: \b[A-Z]{3}[0-9]{6}\b: six digits right after letters. */
static int quick_id_card(const llm_mask_features_t *own)
{
    return (own->lens & BIT(6))
           && (own->marks & LLM_MASK_MARK_LABELLED);
}

static int quick_ssn(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_SSN) != 0;
}

static int quick_health(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_HEALTH) != 0;
}

/* PHONE_INTERNATIONAL: '+', a digit 1-9 (the match's first two
 * bytes): a group of this cluster right after a '+'. */
static int quick_phone_intl(const llm_mask_features_t *own)
{
    return (own->marks & LLM_MASK_MARK_PLUS) != 0;
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
        if (any_at(w, from, list)) {
            return 1;
        }
    }
    return 0;
}

/* PHONE: after its label (up to 28 bytes), nine digits or 3 to 5
 * groups (phone_from); without a label before the cluster, the match
 * begins at its digits. */
int llm_mask_shape_phone(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;

    all = llm_mask_where_wide(w, &buf);
    if (!(all->lens & BIT(9)) && !(all->marks & LLM_MASK_MARK_PHONE)) {
        return 0;
    }
    if (!w->odd_case && !phone_label_in(w, w->start, w->run_start)) {
        begin_at(w, w->run_start);
    }
    return 1;
}

/* Six hex pairs joined by ':' or '-' from @a p. */
static int mac_at(const llm_mask_where_t *w, apr_size_t p)
{
    int k;

    for (k = 0; k < 6; k++, p += 3) {
        if (p + 2 > w->len || !is_hex(w->text[p]) || !is_hex(w->text[p + 1])
            || (k < 5 && (p + 3 > w->len || (w->text[p + 2] != ':'
                                             && w->text[p + 2] != '-')))) {
            return 0;
        }
    }
    return 1;
}

/* MAC_ADDRESS: six hex pairs joined by ':' or '-', or an ASCII word of
 * twelve (\b[0-9A-Fa-f]{12}\b); its first digit may be 16 bytes in. */
int llm_mask_shape_mac(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;
    apr_size_t p;

    all = llm_mask_where_wide(w, &buf);
    if (all->words & BIT(12)) {
        return 1;
    }
    if (!(all->marks & LLM_MASK_MARK_HEX_PAIR)) {
        return 0;
    }
    for (p = w->start; p < w->run_end; p++) {
        unsigned char b = p ? w->text[p - 1] : ' ';

        /* (?<![\w:\-]) */
        if (!is_word(b) && b != ':' && b != '-' && mac_at(w, p)) {
            return 1;
        }
    }
    return 0;
}

/* CREDIT_CARD: 13 to 19 digits joined by at most one ' ' or '-'. */
static int quick_card(const llm_mask_features_t *own)
{
    return own->chains.dash_digits >= 13;
}

/* SSL_CERT: \b[0-9A-Fa-f]{16,40}\b: an ASCII word of 16 to 40, whose
 * first digit may come after 39 letters. */
int llm_mask_shape_cert(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;

    all = llm_mask_where_wide(w, &buf);
    return (all->words & BITS(16, 31)) != 0;
}

/* INVOICE_NUMBER begins with FV, INV or INVOICE, then [/-], four
 * digits, [/-], 3-6 digits. */
int llm_mask_shape_invoice(const llm_mask_where_t *w)
{
    return BEGINS_IN(w, "fv") || BEGINS_IN(w, "inv");  /* and its quick */
}

/* ORDER_NUMBER begins with ORDER or ORD, maybe [-_], then 3-10 digits. */
int llm_mask_shape_order(const llm_mask_where_t *w)
{
    return BEGINS_IN(w, "ord");         /* and its quick test */
}

/* TRANSACTION_REF: 2-5 letters, '-' or '_', 4-8 digits, '-' or '_',
 * 3-6 digits: a letter (or, caseless, K or ſ) right before [-_] and a
 * digit, 2 to 5 bytes (15 with a K) after the match begins. */
int llm_mask_shape_transaction(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    const llm_mask_features_t *all;
    const llm_mask_features_t *f = w->own;
    const unsigned char *u = w->text;
    apr_size_t p;

    if (w->odd_case) {
        all = llm_mask_where_wide(w, &buf);   /* K is 3 bytes: 16 bytes in */
        f = all;
    }
    if (!(f->lens & BITS(4, 8)) || !(f->lens & BITS(3, 6))
        || !(f->seps & (LLM_MASK_SEP_DASH | LLM_MASK_SEP_UNDER))
        || !(f->marks & LLM_MASK_MARK_LABELLED)) {
        return 0;
    }
    for (p = w->start; p < w->run_end + 16 && p + 2 < w->len; p++) {
        if ((is_alpha(u[p]) || u[p] >= 0x80)
            && (u[p + 1] == '-' || u[p + 1] == '_') && is_digit(u[p + 2])) {
            return 1;
        }
    }
    return 0;
}

/* SIM_CARD: 17 to 20 digits joined by at most one \h each. */
static int quick_sim(const llm_mask_features_t *own)
{
    return own->chains.h_digits >= 17;
}

/* SOCIAL_ID begins with fbid, then 8-20 digits. */
int llm_mask_shape_social(const llm_mask_where_t *w)
{
    return BEGINS_IN(w, "fbid");        /* and its quick test */
}

/* EU_VAT: \b[A-Z]{2}[0-9A-Z]{8,12}\b, caseless: an ASCII word of 10 to
 * 14 that begins with two letters. */
int llm_mask_shape_eu_vat(const llm_mask_where_t *w)
{
    return w->odd_case || (w->own->lwords & BITS(10, 14));
}

/* JWT begins with eyJ. */
int llm_mask_shape_jwt(const llm_mask_where_t *w)
{
    return BEGINS_IN(w, "eyj");
}

/* IP: an IPv6 address holds ':' before a hex digit or ':' (its first
 * ':' at most 4 bytes in), an IPv4 one four groups of 1-3 digits
 * joined by '.'; or it is "localhost". Read from the text: IP's anchor
 * (':', digits, "localhost") has no features. */
int llm_mask_shape_ip(const llm_mask_where_t *w)
{
    const unsigned char *u = w->text;
    apr_size_t p, to = w->run_end + 16 < w->len ? w->run_end + 16 : w->len;
    int dots = 0, colons = 0;

    /* Its ':', its dots between digits, or the letters of "localhost"
     * (all IP's anchors) are in the cluster. */
    if (!(w->own->seps & (LLM_MASK_SEP_COLON | LLM_MASK_SEP_DOT
                          | LLM_MASK_SEP_ALPHA))) {
        return 0;
    }
    for (p = w->start; p < to; p++) {
        /* IPv6: "::", or seven ':' before hex digits. */
        if (u[p] == ':' && p + 1 < w->len
            && (u[p + 1] == ':' || (is_hex(u[p + 1]) && ++colons == 7))) {
            return 1;
        }
        if (u[p] == '.' && p > 0 && is_digit(u[p - 1]) && p + 1 < w->len
            && is_digit(u[p + 1])) {
            if (++dots == 3) {
                return 1;
            }
        }
        else if (!is_digit(u[p])) {
            dots = 0;
        }
    }
    return (w->own->seps & LLM_MASK_SEP_ALPHA) && BEGINS_IN(w, "localhost");
}

/* URL: "http://", "https://" (the "://" 4 or 5 bytes in) or "www.". */
int llm_mask_shape_url(const llm_mask_where_t *w)
{
    return begins_in(w, "://", w->start, w->run_end + 5)
           || BEGINS_IN(w, "www.");
}

/* EMAIL: the local part, up to 64 of [A-Za-z0-9._%+-], ends at the
 * cluster's first '@': the match begins where that run does. */
int llm_mask_shape_email(const llm_mask_where_t *w)
{
    const unsigned char *u = w->text;
    apr_size_t p = w->run_start;

    while (p > 0 && w->run_start - p < 65
           && (is_digit(u[p - 1]) || is_alpha(u[p - 1]) || u[p - 1] == '.'
               || u[p - 1] == '_' || u[p - 1] == '%' || u[p - 1] == '+'
               || u[p - 1] == '-')) {
        p--;
    }
    begin_at(w, p);
    return 1;
}

/* The bits of the rules that read several clusters, from this one. */
static apr_uint32_t read_near(const llm_mask_features_t *f)
{
    apr_uint32_t n = 0;

    n |= f->lens & BIT(4) ? LLM_MASK_NEAR_YEAR : 0;
    n |= (f->lens & BIT(9)) || (f->marks & LLM_MASK_MARK_PHONE)
         ? LLM_MASK_NEAR_PHONE : 0;
    n |= f->marks & LLM_MASK_MARK_PLATE ? LLM_MASK_NEAR_PLATE : 0;
    n |= f->words & BITS(16, 31) ? LLM_MASK_NEAR_CERT : 0;
    n |= f->words & BIT(17) ? LLM_MASK_NEAR_VIN : 0;
    n |= (f->words & BIT(12)) || (f->marks & LLM_MASK_MARK_HEX_PAIR)
         ? LLM_MASK_NEAR_MAC : 0;
    n |= f->lens & BIT(10) ? LLM_MASK_NEAR_KRS : 0;
    n |= f->lens & BIT(11) ? LLM_MASK_NEAR_PESEL : 0;
    return n;
}

void llm_mask_near_features(llm_mask_run_t *runs, int n)
{
    int k, j;

    for (k = 0; k < n; k++) {
        runs[k].f.near = read_near(&runs[k].f);
    }
    for (k = 0; k < n; k++) {
        for (j = k + 1;
             j < n && runs[j].start < runs[k].end + LLM_MASK_NEAR_AHEAD;
             j++) {
            runs[k].f.near |= read_near(&runs[j].f);
        }
    }
}

/* Every quick test of the cluster, once. */
static apr_uint32_t read_quick(const llm_mask_features_t *f)
{
    apr_uint32_t q = 0;

    q |= quick_pesel(f) ? LLM_MASK_QUICK_PESEL : 0;
    q |= quick_nip(f) ? LLM_MASK_QUICK_NIP : 0;
    q |= quick_regon(f) ? LLM_MASK_QUICK_REGON : 0;
    q |= quick_date_numeric(f) ? LLM_MASK_QUICK_DATE_NUMERIC : 0;
    q |= quick_time(f) ? LLM_MASK_QUICK_TIME : 0;
    q |= quick_postal(f) ? LLM_MASK_QUICK_POSTAL : 0;
    q |= quick_nrb(f) ? LLM_MASK_QUICK_NRB : 0;
    q |= quick_passport(f) ? LLM_MASK_QUICK_PASSPORT : 0;
    q |= quick_id_card(f) ? LLM_MASK_QUICK_ID_CARD : 0;
    q |= quick_ssn(f) ? LLM_MASK_QUICK_SSN : 0;
    q |= quick_health(f) ? LLM_MASK_QUICK_HEALTH : 0;
    q |= quick_card(f) ? LLM_MASK_QUICK_CARD : 0;
    q |= quick_sim(f) ? LLM_MASK_QUICK_SIM : 0;
    q |= quick_phone_intl(f) ? LLM_MASK_QUICK_PHONE_INTL : 0;
    q |= (f->lens & BITS(3, 6)) && (f->marks & LLM_MASK_MARK_INVOICE)
         ? LLM_MASK_QUICK_INVOICE : 0;
    q |= f->marks & LLM_MASK_MARK_ORDER ? LLM_MASK_QUICK_ORDER : 0;
    q |= f->marks & LLM_MASK_MARK_SOCIAL ? LLM_MASK_QUICK_SOCIAL : 0;
    return q;
}
