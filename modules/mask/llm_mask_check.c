/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The validators of the masking rules: pure functions over one match.
 * Algorithms as in ../shared/spec/masking.md §1.3, with the original's
 * bugs fixed (§6.1): REGON-14 with the official weights, VIN with the
 * ISO 3779 table, PESEL with its birth date, NRB with its mod-97 check,
 * the ID card's check digit, the SWIFT registry's IBAN lengths, the
 * Polish numbering plan for phones, calendar dates.
 *
 * A check that fails on a value of the full shape of a checked
 * identifier says HOLD: the value is left as it is, and no weaker rule
 * may mask a slice of it (the original masked half of a bad IBAN as a
 * card number).
 */

#include <string.h>
#include <strings.h>

#include "apr_strings.h"

#include "llm_mask_private.h"

#define MAX_DIGITS 64

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_alnum(char c)
{
    return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z');
}

static char upper(char c)
{
    return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* The digits of s, separators (space, tab, '-') dropped: their number,
 * or -1 when anything else is there or there are too many. */
static int digits_of(const char *s, apr_size_t len, char *out)
{
    apr_size_t i;
    int n = 0;

    for (i = 0; i < len; i++) {
        if (is_digit(s[i])) {
            if (n == MAX_DIGITS) {
                return -1;
            }
            out[n++] = s[i];
        }
        else if (s[i] != ' ' && s[i] != '-' && s[i] != '\t'
                 && (unsigned char)s[i] != 0xc2 && (unsigned char)s[i] != 0xa0) {
            return -1;
        }
    }
    return n;
}

static int weighted(const char *d, const int *w, int n)
{
    int i, sum = 0;

    for (i = 0; i < n; i++) {
        sum += (d[i] - '0') * w[i];
    }
    return sum;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    if (month < 1 || month > 12) {
        return 0;
    }
    return month == 2 && leap ? 29 : days[month - 1];
}

static int valid_date(int year, int month, int day)
{
    return day >= 1 && day <= days_in_month(year, month);
}

/* ------------------------------------------------------------------ */
/* Polish identifiers                                                  */
/* ------------------------------------------------------------------ */

/* PESEL: checksum, and a birth date that exists (month offsets give the
 * century: +80 1800s, +0 1900s, +20 2000s, +40 2100s, +60 2200s). */
static llm_mask_verdict_e check_pesel(llm_mask_cand_t *c)
{
    static const int w[] = { 1, 3, 7, 9, 1, 3, 7, 9, 1, 3 };
    static const int century[] = { 1900, 2000, 2100, 2200, 1800 };
    char d[MAX_DIGITS];
    int yy, mm, dd;

    if (digits_of(c->g, c->glen, d) != 11) {
        return LLM_MASK_MISS;
    }
    if ((10 - weighted(d, w, 10) % 10) % 10 != d[10] - '0') {
        return LLM_MASK_HOLD;
    }
    yy = (d[0] - '0') * 10 + (d[1] - '0');
    mm = (d[2] - '0') * 10 + (d[3] - '0');
    dd = (d[4] - '0') * 10 + (d[5] - '0');
    if (mm < 1 || mm > 92 || mm % 20 < 1 || mm % 20 > 12) {
        return LLM_MASK_HOLD;
    }
    return valid_date(century[mm / 20] + yy, mm % 20, dd) ? LLM_MASK_HIT
                                                          : LLM_MASK_HOLD;
}

static int nip_ok(const char *d)
{
    static const int w[] = { 6, 5, 7, 2, 3, 4, 5, 6, 7 };

    return weighted(d, w, 9) % 11 == d[9] - '0';
}

static llm_mask_verdict_e check_nip(llm_mask_cand_t *c)
{
    char d[MAX_DIGITS];

    if (digits_of(c->g, c->glen, d) != 10) {
        return LLM_MASK_MISS;
    }
    return nip_ok(d) ? LLM_MASK_HIT : LLM_MASK_HOLD;
}

static int mod11_check(const char *d, const int *w, int n)
{
    int r = weighted(d, w, n) % 11;

    return (r == 10 ? 0 : r) == d[n] - '0';
}

static llm_mask_verdict_e check_regon(llm_mask_cand_t *c)
{
    static const int w9[] = { 8, 9, 2, 3, 4, 5, 6, 7 };
    static const int w14[] = { 2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8 };
    char d[MAX_DIGITS];
    int n = digits_of(c->g, c->glen, d);

    if (n != 9 && n != 14) {
        return LLM_MASK_MISS;
    }
    if (!mod11_check(d, w9, 8)) {
        return LLM_MASK_HOLD;
    }
    return n == 9 || mod11_check(d, w14, 13) ? LLM_MASK_HIT : LLM_MASK_HOLD;
}

static llm_mask_verdict_e check_krs(llm_mask_cand_t *c)
{
    char d[MAX_DIGITS];

    return digits_of(c->g, c->glen, d) == 10 ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* Dowód osobisty: AAA + 6 digits, the 4th character is the check digit;
 * letters A=10 .. Z=35; weights 7 3 1 9 7 3 1 7 3; sum mod 10 = 0. */
static llm_mask_verdict_e check_id_card(llm_mask_cand_t *c)
{
    static const int w[] = { 7, 3, 1, 9, 7, 3, 1, 7, 3 };
    int i, sum = 0;

    if (c->glen != 9) {
        return LLM_MASK_MISS;
    }
    for (i = 0; i < 9; i++) {
        char ch = upper(c->g[i]);
        int v;

        if (i < 3) {
            if (!is_upper(ch)) {
                return LLM_MASK_MISS;
            }
            v = ch - 'A' + 10;
        }
        else {
            if (!is_digit(ch)) {
                return LLM_MASK_MISS;
            }
            v = ch - '0';
        }
        sum += v * w[i];
    }
    return sum % 10 == 0 ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* ------------------------------------------------------------------ */
/* Accounts and cards                                                  */
/* ------------------------------------------------------------------ */

/* ISO 13616 mod 97 over country + check + BBAN (upper-case alnum). */
static int iban_mod97(const char *iban, int n)
{
    int i, r = 0;

    for (i = 0; i < n; i++) {
        char ch = iban[(i + 4) % n];

        if (is_digit(ch)) {
            r = (r * 10 + (ch - '0')) % 97;
        }
        else {
            r = (r * 100 + (ch - 'A' + 10)) % 97;
        }
    }
    return r;
}

typedef struct {
    char cc[3];
    int len;
} iban_country_t;

/* The SWIFT IBAN registry (the original's BH, BY, CR, SA were wrong, its
 * UK is no country, and IL, AZ, XK, SV, LY, ... were missing). */
static const iban_country_t iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20},
    {"BE", 16}, {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28},
    {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23},
    {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
    {"IL", 23}, {"IQ", 23}, {"IR", 26}, {"IS", 26}, {"IT", 27}, {"JO", 30},
    {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22},
    {"MK", 19}, {"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28},
    {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24}, {"PL", 28}, {"PS", 29},
    {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
    {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26},
    {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};

static int iban_length(char a, char b)
{
    apr_size_t i;

    for (i = 0; i < sizeof(iban_countries) / sizeof(iban_countries[0]); i++) {
        if (iban_countries[i].cc[0] == a && iban_countries[i].cc[1] == b) {
            return iban_countries[i].len;
        }
    }
    return 0;
}

static int iban_separator(char c)
{
    return c == ' ' || c == '-' || c == '\t';
}

/*
 * IBAN: the pattern may read past the account (into the next group of
 * capitals); the country fixes the length, so the span is cut there and
 * must end at a separator or the match's end (the original had no right
 * boundary: a 29-character "PL" string lost 28 of them to the token).
 * The check digits must be digits (or "XX" in an account masked by
 * hand, whose checksum cannot be checked), and the BBAN mostly digits:
 * prose such as "plan 12 ..." is no account.
 */
static llm_mask_verdict_e check_iban(llm_mask_cand_t *c)
{
    char iban[40];
    int n = 0, need, digits = 0, masked = 0;
    apr_size_t i;

    if (c->glen < 4) {
        return LLM_MASK_MISS;
    }
    need = iban_length(upper(c->g[0]), upper(c->g[1]));
    if (!need) {
        return LLM_MASK_MISS;
    }
    for (i = 0; i < c->glen && n < need; i++) {
        char ch = upper(c->g[i]);

        if (iban_separator(ch)) {
            continue;
        }
        if (!is_alnum(ch)) {
            return LLM_MASK_MISS;
        }
        iban[n++] = ch;
        if (n > 4) {
            digits += is_digit(ch);
        }
        masked |= ch == 'X' && n > 2;
    }
    if (n < need) {
        return LLM_MASK_MISS;
    }
    if (i < c->glen && !iban_separator(c->g[i])) {
        return LLM_MASK_HOLD;           /* the number goes on: too long */
    }
    c->keep = i;
    if (!(is_digit(iban[2]) && is_digit(iban[3]))
        && !(iban[2] == 'X' && iban[3] == 'X')) {
        return LLM_MASK_MISS;
    }
    if (digits * 2 < need - 4) {
        return LLM_MASK_MISS;
    }
    if (masked) {
        return LLM_MASK_HIT;
    }
    return iban_mod97(iban, n) == 1 ? LLM_MASK_HIT : LLM_MASK_HOLD;
}

/* NRB: a Polish account without "PL": "PL" + NRB must pass mod 97. */
static llm_mask_verdict_e check_nrb(llm_mask_cand_t *c)
{
    char d[MAX_DIGITS];
    char iban[28];

    if (digits_of(c->g, c->glen, d) != 26) {
        return LLM_MASK_MISS;
    }
    iban[0] = 'P';
    iban[1] = 'L';
    memcpy(iban + 2, d, 26);
    return iban_mod97(iban, 28) == 1 ? LLM_MASK_HIT : LLM_MASK_HOLD;
}

static int luhn(const char *d, int n)
{
    int i, sum = 0;

    for (i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';

        if (i % 2) {
            v *= 2;
            if (v > 9) {
                v -= 9;
            }
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static llm_mask_verdict_e luhn_between(llm_mask_cand_t *c, int min, int max)
{
    char d[MAX_DIGITS];
    int n = digits_of(c->g, c->glen, d);

    if (n < min || n > max) {
        return LLM_MASK_MISS;
    }
    return luhn(d, n) ? LLM_MASK_HIT : LLM_MASK_HOLD;
}

static llm_mask_verdict_e check_luhn(llm_mask_cand_t *c)
{
    return luhn_between(c, 13, 19);
}

static llm_mask_verdict_e check_iccid(llm_mask_cand_t *c)
{
    return luhn_between(c, 19, 20);
}

/* ------------------------------------------------------------------ */
/* Phones                                                              */
/* ------------------------------------------------------------------ */

/* The Polish numbering plan: mobile ranges, and geographic area codes. */
static int pl_mobile(const char *d)
{
    static const char *const mobile[] = { "45", "50", "51", "53", "57", "60",
                                          "66", "69", "72", "73", "78", "79",
                                          "88", NULL };
    int i;

    for (i = 0; mobile[i]; i++) {
        if (d[0] == mobile[i][0] && d[1] == mobile[i][1]) {
            return 1;
        }
    }
    return !strncmp(d, "800", 3) || !strncmp(d, "801", 3);
}

static int pl_area(const char *d)
{
    static const char areas[] = "12 13 14 15 16 17 18 22 23 24 25 29 32 33 "
                                "34 41 42 43 44 46 48 52 54 55 56 58 59 61 "
                                "62 63 65 67 68 71 74 75 76 77 81 82 83 84 "
                                "85 86 87 89 91 94 95";
    const char *a;

    for (a = areas; a[0] != d[0] || a[1] != d[1]; a += 3) {
        if (!a[2]) {
            return 0;                   /* the last area code */
        }
    }
    return 1;
}

/* A Polish number: 9 digits; a mobile range anywhere, a landline only
 * after a phone label (the match's context: "tel.", "phone", ...), so
 * that other 9-digit numbers (a REGON whose check failed) stay. */
static llm_mask_verdict_e check_phone(llm_mask_cand_t *c)
{
    char d[MAX_DIGITS];
    int labelled = c->g > c->s;

    if (digits_of(c->g, c->glen, d) != 9) {
        return LLM_MASK_MISS;
    }
    if (pl_mobile(d)) {
        return LLM_MASK_HIT;
    }
    return labelled && pl_area(d) ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* +CC and at least 8 more digits, at most 15 in all (E.164): "+150%"
 * is no phone. */
static llm_mask_verdict_e check_phone_intl(llm_mask_cand_t *c)
{
    char d[MAX_DIGITS];
    int n;

    if (c->glen < 2 || c->g[0] != '+') {
        return LLM_MASK_MISS;
    }
    n = digits_of(c->g + 1, c->glen - 1, d);
    return n >= 10 && n <= 15 ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* ------------------------------------------------------------------ */
/* Dates                                                               */
/* ------------------------------------------------------------------ */

/* The numbers of a match, in order (at most 3). */
static int numbers_of(const char *s, apr_size_t len, int *num, int *width)
{
    apr_size_t i = 0;
    int n = 0;

    while (i < len && n < 3) {
        if (is_digit(s[i])) {
            int v = 0, w = 0;

            while (i < len && is_digit(s[i]) && w < 5) {
                v = v * 10 + (s[i++] - '0');
                w++;
            }
            num[n] = v;
            width[n++] = w;
        }
        else {
            i++;
        }
    }
    return n;
}

/* 2024-03-15, 15.03.2024, 5.3.2024: a day that exists. */
static llm_mask_verdict_e check_date(llm_mask_cand_t *c)
{
    int num[3], width[3];

    if (numbers_of(c->g, c->glen, num, width) != 3) {
        return LLM_MASK_MISS;
    }
    if (width[0] == 4) {
        return valid_date(num[0], num[1], num[2]) ? LLM_MASK_HIT
                                                  : LLM_MASK_MISS;
    }
    return width[2] == 4 && valid_date(num[2], num[1], num[0])
           ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* "15 marca 2024", "March 5th, 2024": a day of 1..31 (the month's name
 * is in the pattern). */
static llm_mask_verdict_e check_date_words(llm_mask_cand_t *c)
{
    int num[3], width[3];
    int n = numbers_of(c->g, c->glen, num, width);
    int day;

    if (n != 2) {
        return LLM_MASK_MISS;
    }
    day = width[0] == 4 ? num[1] : num[0];
    return day >= 1 && day <= 31 ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* ------------------------------------------------------------------ */
/* Other identifiers                                                   */
/* ------------------------------------------------------------------ */

/* VIN (ISO 3779): position 9 is the check character. */
static llm_mask_verdict_e check_vin(llm_mask_cand_t *c)
{
    static const int w[] = { 8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3,
                             2 };
    /* A..Z; 0 where the letter is not allowed (I, O, Q). */
    static const int letter[] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 0,
                                  7, 0, 9, 2, 3, 4, 5, 6, 7, 8, 9 };
    int i, sum = 0, letters = 0, r;
    char check;

    if (c->glen != 17) {
        return LLM_MASK_MISS;
    }
    for (i = 0; i < 17; i++) {
        char ch = upper(c->g[i]);
        int v;

        if (is_digit(ch)) {
            v = ch - '0';
        }
        else if (is_upper(ch) && letter[ch - 'A']) {
            v = letter[ch - 'A'];
            letters++;
        }
        else {
            return LLM_MASK_MISS;
        }
        sum += v * w[i];
    }
    r = sum % 11;
    check = r == 10 ? 'X' : (char)('0' + r);
    return letters && upper(c->g[8]) == check ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* SSN: area not 000, 666 or 900-999; group not 00; serial not 0000. */
static llm_mask_verdict_e check_ssn(llm_mask_cand_t *c)
{
    char d[MAX_DIGITS];
    int area;

    if (digits_of(c->g, c->glen, d) != 9) {
        return LLM_MASK_MISS;
    }
    area = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    if (area == 0 || area == 666 || area >= 900) {
        return LLM_MASK_MISS;
    }
    if ((d[3] == '0' && d[4] == '0') || !strncmp(d + 5, "0000", 4)) {
        return LLM_MASK_MISS;
    }
    return LLM_MASK_HIT;
}

/* MAC: six octets with one separator throughout (the original's always
 * failed). Twelve hex digits without separators are not taken: as often
 * a hash or an id (the spec's §6.2). */
static llm_mask_verdict_e check_mac(llm_mask_cand_t *c)
{
    apr_size_t i;

    if (c->glen == 17) {
        char sep = c->g[2];

        for (i = 2; i < 17; i += 3) {
            if (c->g[i] != sep) {
                return LLM_MASK_MISS;
            }
        }
        return sep == ':' || sep == '-' ? LLM_MASK_HIT : LLM_MASK_MISS;
    }
    return LLM_MASK_MISS;
}

/* A certificate serial: 16-40 upper-case hex digits, with at least one
 * letter (a long run of digits is not a serial). */
static llm_mask_verdict_e check_ssl_serial(llm_mask_cand_t *c)
{
    apr_size_t i;
    int letters = 0;

    if (c->glen < 16 || c->glen > 40) {
        return LLM_MASK_MISS;
    }
    for (i = 0; i < c->glen; i++) {
        char ch = c->g[i];

        if (ch >= 'A' && ch <= 'F') {
            letters++;
        }
        else if (!is_digit(ch)) {
            return LLM_MASK_MISS;
        }
    }
    return letters && (apr_size_t)letters < c->glen ? LLM_MASK_HIT
                                                   : LLM_MASK_MISS;
}

static llm_mask_verdict_e check_transaction(llm_mask_cand_t *c)
{
    apr_size_t i;
    int runs = 0;

    if (c->glen < 8 || c->glen > 64) {
        return LLM_MASK_MISS;
    }
    for (i = 0; i < c->glen; i++) {
        if (is_digit(c->g[i]) && (i == 0 || !is_digit(c->g[i - 1]))) {
            runs++;
        }
    }
    return runs >= 2 ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* EU VAT numbers by country (VIES formats, simplified): the tail is
 * digits but where the country's format has letters; Poland's is a NIP.
 * Hex ids ("deadbeef1234") are no VAT numbers. */
static llm_mask_verdict_e check_eu_vat(llm_mask_cand_t *c)
{
    static const char eu[] = "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE "
                             "IT LT LU LV MT NL PL PT RO SE SI SK XI";
    char cc[3], tail[16];
    const char *p;
    apr_size_t i, n;
    int digits = 0;

    if (c->glen < 10 || c->glen > 14) {
        return LLM_MASK_MISS;
    }
    cc[0] = upper(c->g[0]);
    cc[1] = upper(c->g[1]);
    cc[2] = '\0';
    for (p = eu; p[0] != cc[0] || p[1] != cc[1]; p += 3) {
        if (!p[2]) {
            return LLM_MASK_MISS;       /* the last code: not an EU one */
        }
    }
    n = c->glen - 2;
    for (i = 0; i < n; i++) {
        tail[i] = upper(c->g[2 + i]);
        digits += is_digit(tail[i]);
    }
    tail[n] = '\0';
    if (!strcmp(cc, "PL")) {
        return n == 10 && digits == 10 && nip_ok(tail) ? LLM_MASK_HIT
                                                       : LLM_MASK_MISS;
    }
    if (!strcmp(cc, "AT")) {
        return n == 9 && tail[0] == 'U' && digits == 8 ? LLM_MASK_HIT
                                                       : LLM_MASK_MISS;
    }
    if (!strcmp(cc, "NL")) {
        return n == 12 && tail[9] == 'B' && digits == 11 ? LLM_MASK_HIT
                                                         : LLM_MASK_MISS;
    }
    if (!strcmp(cc, "FR") || !strcmp(cc, "ES") || !strcmp(cc, "IE")
        || !strcmp(cc, "CY")) {
        return digits >= 7 && (apr_size_t)digits >= n - 2 ? LLM_MASK_HIT
                                                          : LLM_MASK_MISS;
    }
    return (apr_size_t)digits == n ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* ------------------------------------------------------------------ */
/* Network                                                             */
/* ------------------------------------------------------------------ */

static int ipv4_ok(const char *s, apr_size_t len)
{
    apr_size_t i;
    int v = 0, parts = 1, width = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (!width) {
                return 0;
            }
            parts++;
            v = 0;
            width = 0;
        }
        else if (is_digit(s[i])) {
            v = v * 10 + (s[i] - '0');
            if (++width > 3 || v > 255) {
                return 0;
            }
        }
        else {
            return 0;
        }
    }
    return parts == 4 && width;
}

/* IPv6: eight groups, or fewer around one "::". */
static int ipv6_ok(const char *s, apr_size_t len)
{
    apr_size_t i;
    int groups = 0, width = 0, compressed = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == ':') {
            if (i + 1 < len && s[i + 1] == ':') {
                if (compressed++) {
                    return 0;
                }
                if (width) {
                    groups++;
                }
                width = 0;
                i++;
                continue;
            }
            if (!width) {
                return 0;
            }
            groups++;
            width = 0;
        }
        else if (++width > 4) {
            return 0;
        }
    }
    if (width) {
        groups++;
    }
    else if (len && s[len - 1] == ':' && !(len >= 2 && s[len - 2] == ':')) {
        return 0;
    }
    return compressed ? groups <= 7 : groups == 8;
}

/* The address (the replaced span; the port is checked by the engine). */
static llm_mask_verdict_e check_ip(llm_mask_cand_t *c)
{
    if (c->glen == 9 && !strncmp(c->g, "localhost", 9)) {
        return LLM_MASK_HIT;
    }
    if (memchr(c->g, ':', c->glen)) {
        return ipv6_ok(c->g, c->glen) ? LLM_MASK_HIT : LLM_MASK_MISS;
    }
    return ipv4_ok(c->g, c->glen) ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* ------------------------------------------------------------------ */
/* Car plates                                                          */
/* ------------------------------------------------------------------ */

/*
 * Polish plates: a district code (2 or 3 capitals, the first one a
 * voivodeship's letter) and the rest, 7 characters in all. A code of
 * three capitals followed by 4 digits alone ("PKB 2023", "RTX 4090")
 * counts only after a label ("nr rej.", "tablica", "plate").
 */
static llm_mask_verdict_e check_car_plate(llm_mask_cand_t *c)
{
    static const char voivodeship[] = "BCDEFGKLNOPRSTWZ";
    char plate[16];
    apr_size_t i;
    int n = 0, code = 0, digits = 0, labelled = c->g > c->s;

    for (i = 0; i < c->glen; i++) {
        if (c->g[i] == ' ') {
            continue;
        }
        if (n == (int)sizeof(plate) - 1) {
            return LLM_MASK_MISS;
        }
        plate[n++] = c->g[i];
    }
    plate[n] = '\0';
    if (n != 7 || !strchr(voivodeship, plate[0])) {
        return LLM_MASK_MISS;
    }
    while (code < n && is_upper(plate[code])) {
        code++;
    }
    if (code < 2 || code > 3 || !is_digit(plate[code])) {
        return LLM_MASK_MISS;
    }
    for (i = (apr_size_t)code; i < (apr_size_t)n; i++) {
        digits += is_digit(plate[i]);
    }
    if (code == 3 && digits == 4 && !labelled) {
        return LLM_MASK_MISS;
    }
    return digits >= 2 ? LLM_MASK_HIT : LLM_MASK_MISS;
}

/* ------------------------------------------------------------------ */
/* By name                                                             */
/* ------------------------------------------------------------------ */

int llm_mask_split_checks(const char *digits, int n)
{
    llm_mask_cand_t c;

    c.s = c.g = digits;
    c.len = c.glen = c.keep = (apr_size_t)n;
    switch (n) {
    case 10:
        return check_nip(&c) == LLM_MASK_HIT;
    case 11:
        return check_pesel(&c) == LLM_MASK_HIT;
    case 14:
        return check_regon(&c) == LLM_MASK_HIT;
    case 26:
        return check_nrb(&c) == LLM_MASK_HIT;
    }
    return 0;
}

/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    llm_mask_check_fn fn;
} named_check_t;

static const named_check_t checks[] = {
    { "pesel", check_pesel },
    { "nip", check_nip },
    { "regon", check_regon },
    { "krs", check_krs },
    { "id_card", check_id_card },
    { "iban", check_iban },
    { "nrb", check_nrb },
    { "luhn", check_luhn },
    { "iccid", check_iccid },
    { "phone_pl", check_phone },
    { "phone_international", check_phone_intl },
    { "date", check_date },
    { "date_words", check_date_words },
    { "vin", check_vin },
    { "ssn", check_ssn },
    { "mac", check_mac },
    { "ssl_serial", check_ssl_serial },
    { "transaction_ref", check_transaction },
    { "eu_vat", check_eu_vat },
    { "ip", check_ip },
    { "car_plate", check_car_plate },
    { NULL, NULL }
};

llm_mask_check_fn llm_mask_check_by_name(const char *name)
{
    int i;

    for (i = 0; name && checks[i].name; i++) {
        if (!strcasecmp(checks[i].name, name)) {
            return checks[i].fn;
        }
    }
    return NULL;
}

const char *llm_mask_check_names(void)
{
    return "pesel, nip, regon, krs, id_card, iban, nrb, luhn, iccid, "
           "phone_pl, phone_international, date, date_words, vin, ssn, mac, "
           "ssl_serial, transaction_ref, eu_vat, ip, car_plate";
}
