/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Issue 11, part 3: values written to slip past the rules are masked
 * whole (digits spread by spaces or dots, zero-width characters or a
 * NUL inside, "(at)" and "[dot]" in e-mails), prose that only looks
 * like them is not (numbers in a sentence, a thousands grouping, an
 * IP). Each case that masks failed before the change. */

#include "apr_general.h"
#include "apr_strings.h"

#include "tap.h"
#include "llm_mask.h"

static apr_pool_t *pool;
static llm_mask_ruleset_t *rules;

static const char *mask_len(const char *in, apr_size_t len)
{
    apr_size_t out_len;
    int n;

    return llm_mask_apply(rules, NULL, pool, in, len, &out_len, &n);
}

static const char *mask(const char *in)
{
    return mask_len(in, strlen(in));
}

static void check_all(const char *const (*cases)[2], int n)
{
    int i;

    for (i = 0; i < n; i++) {
        is_str(mask(cases[i][0]), cases[i][1], cases[i][0]);
    }
}

#define CHECK_ALL(cases) \
    check_all(cases, (int)(sizeof(cases) / sizeof(cases[0])))

#define ZWSP "\xe2\x80\x8b"     /* U+200B */
#define ZWNJ "\xe2\x80\x8c"     /* U+200C */
#define ZWJ "\xe2\x80\x8d"      /* U+200D */
#define WJ "\xe2\x81\xa0"       /* U+2060 */
#define BOM "\xef\xbb\xbf"      /* U+FEFF */

static void test_invisible(void)
{
    static const char *const cases[][2] = {
        { "PESEL 4405" ZWSP "1401359", "PESEL {{PESEL_TAGGED}}" },
        { "nr 4405" ZWNJ "14013" ZWJ "59 ok", "nr {{PESEL}} ok" },
        { "mail jan" ZWSP "@x.pl", "mail {{EMAIL}}" },
        { "mail jan@ex" WJ "ample.com.", "mail {{EMAIL}}." },
        { "karta 4111" BOM "1111" ZWSP ZWSP "11111111",
          "karta {{CREDIT_CARD}}" },
        /* Any rule reads through what nobody sees. */
        { "tel. 600" ZWSP "123" ZWSP "456", "tel. {{PHONE}}" },
        { "o 14" ZWSP ":30", "o {{TIME}}" },
        /* What is not inside a value stays as it is. */
        { BOM "tekst " ZWSP " bez danych", BOM "tekst " ZWSP " bez danych" },
        { "rodzina \xf0\x9f\x91\xa8" ZWJ "\xf0\x9f\x91\xa9",
          "rodzina \xf0\x9f\x91\xa8" ZWJ "\xf0\x9f\x91\xa9" },
        /* A bad check digit is still no PESEL. */
        { "nr 4405" ZWSP "1401358", "nr 4405" ZWSP "1401358" },
    };

    CHECK_ALL(cases);
    is_str(mask_len("nr 4405\0" "1401359 ok", 18), "nr {{PESEL}} ok",
           "a NUL inside a PESEL");
}

static void test_spread_digits(void)
{
    static const char *const cases[][2] = {
        { "PESEL 4 4 0 5 1 4 0 1 3 5 9", "PESEL {{PESEL_TAGGED}}" },
        { "numer 4 4 0 5 1 4 0 1 3 5 9.", "numer {{PESEL}}." },
        { "numer 440.514.013.59 ok", "numer {{PESEL}} ok" },
        { "NIP 5.2.6.0.2.5.0.2.7.4", "NIP {{NIP}}" },
        { "karta 4111 1111 11 11 1111", "karta {{CREDIT_CARD}}" },
        { "karta 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "karta {{CREDIT_CARD}}" },
        { "karta 5555.5555.5555.4444", "karta {{CREDIT_CARD}}" },
        { "konto PL 6 1 1 0 9 0 1 0 1 4 0 0 0 0 0 7 1 2 1 9 8 1 2 8 7 4",
          "konto {{BANK_ACCOUNT}}" },
        { "PESEL 4 4 0 5" ZWSP " 1 4 0 1 3 5 9", "PESEL {{PESEL_TAGGED}}" },
        /* The check digits still decide. */
        { "numer 4 4 0 5 1 4 0 1 3 5 8", "numer 4 4 0 5 1 4 0 1 3 5 8" },
        { "numer 440.514.013.58", "numer 440.514.013.58" },
    };

    CHECK_ALL(cases);
}

/* Numbers in prose that only look spread: none is joined. */
static void test_spread_prose(void)
{
    static const char *const cases[][2] = {
        { "in 2024 3 people came", "in 2024 3 people came" },
        /* Thousands groupings. */
        { "kwota 1 234 567 890", "kwota 1 234 567 890" },
        { "razem 1.234.567.890 sztuk", "razem 1.234.567.890 sztuk" },
        { "host 10.100.0.15 ok", "host {{IP}} ok" },
        /* Pairs and mixed groups in a sentence are no number. */
        { "strony 10 11 12 13 14", "strony 10 11 12 13 14" },
        { "w 2024 1 234 567 osób", "w 2024 1 234 567 osób" },
        { "Tel. 600 000 004", "Tel. {{PHONE}}" },
    };

    CHECK_ALL(cases);
}

/* Groups of any sizes, by spaces or hyphens: joined only when all
 * their digits make an identifier whose check they pass. */
static void test_split_digits(void)
{
    static const char *const cases[][2] = {
        { "numer 440 514 013 59 ok", "numer {{PESEL}} ok" },
        { "PESEL: 440 514 013 59", "PESEL: {{PESEL_TAGGED}}" },
        { "numer 44 05 14 01 35 9.", "numer {{PESEL}}." },
        { "numer 4405 1401 359", "numer {{PESEL}}" },
        { "numer 440-514-013-59 ok", "numer {{PESEL}} ok" },
        { "numer 4-4-0-5-1-4-0-1-3-5-9", "numer {{PESEL}}" },
        { "NIP 5260 250 274", "NIP {{NIP}}" },
        { "NIP 52602-50274", "NIP {{NIP}}" },
        { "REGON 1234 5678 5123 47", "REGON {{REGON}}" },
        { "konto 61 1090 10140000 0712 1981 2874", "konto {{NRB}}" },
        { "karta 4111-1111-11-11-1111", "karta {{CREDIT_CARD}}" },
        /* The check digits still decide. */
        { "numer 440 514 013 58", "numer 440 514 013 58" },
        { "numer 440-514-013-58", "numer 440-514-013-58" },
    };

    CHECK_ALL(cases);
}

/* Numbers in prose that a split could join: none is. Most of these
 * digits pass a check when joined (noted); what keeps them apart is
 * their grouping. */
static void test_split_prose(void)
{
    static const char *const cases[][2] = {
        { "in 2023 we had 12 34 56 items", "in 2023 we had 12 34 56 items" },
        { "numery 1 2 3 4 5 6 7 8 9 10", "numery 1 2 3 4 5 6 7 8 9 10" },
        /* A NIP's check, but a year first, or a list of pairs. */
        { "w latach 2023 12 34 57", "w latach 2023 12 34 57" },
        { "lista 10 20 30 40 57", "lista 10 20 30 40 57" },
        /* A PESEL's check, but a thousands grouping. */
        { "liczba 44 051 401 359", "liczba 44 051 401 359" },
        /* Dates, prices, ranges, an ISBN stay what they are. */
        { "od 2024-03-15 do 2024-03-20", "od {{DATE}} do {{DATE}}" },
        { "cena 1 299 zł", "cena {{MONEY}}" },
        { "kwota 12 345 678 901", "kwota 12 345 678 901" },
        { "ISBN 978-83-01-12345-6", "ISBN 978-83-01-12345-6" },
        { "strony 100-120 i 130-150", "strony 100-120 i 130-150" },
        /* Phones are phones, even when their digits pass a check. */
        { "tel. 600 123 456", "tel. {{PHONE}}" },
        { "tel. 600-123-456", "tel. {{PHONE}}" },
        /* A PESEL's check, in a phone's grouping with a country code. */
        { "dzwoń 48 612 345 670", "dzwoń 48 612 345 670" },
        { "call 1 201 155 0126", "call 1 201 155 0126" },
        { "Tel. +48 600 123 456", "Tel. {{PHONE_INTERNATIONAL}}" },
    };

    CHECK_ALL(cases);
}

#define FW(d) "\xef\xbc" d    /* a full-width digit: FW("\x90") is 0 */

/* Digits of other scripts are the digits they stand for, for every
 * rule; the token covers the characters as written. */
static void test_other_digits(void)
{
    static const char *const cases[][2] = {
        /* Full-width 44051401359. */
        { "PESEL " FW("\x94") FW("\x94") FW("\x90") FW("\x95") FW("\x91")
          FW("\x94") FW("\x90") FW("\x91") FW("\x93") FW("\x95") FW("\x99")
          " ok", "PESEL {{PESEL_TAGGED}} ok" },
        /* Some digits full-width, spaced as a split. */
        { "nr 44" FW("\x90") " 514 013 5" FW("\x99") ".", "nr {{PESEL}}." },
        /* Arabic-Indic (U+0660..) 44051401359. */
        { "nr \xd9\xa4\xd9\xa4\xd9\xa0\xd9\xa5\xd9\xa1\xd9\xa4\xd9\xa0"
          "\xd9\xa1\xd9\xa3\xd9\xa5\xd9\xa9 ok", "nr {{PESEL}} ok" },
        /* Mathematical bold (U+1D7CE..) 4405 then ASCII. */
        { "nr \xf0\x9d\x9f\x92\xf0\x9d\x9f\x92\xf0\x9d\x9f\x8e"
          "\xf0\x9d\x9f\x93" "1401359", "nr {{PESEL}}" },
        /* Devanagari (U+0966..) in a phone after its label. */
        { "tel. \xe0\xa5\xac\xe0\xa5\xa6\xe0\xa5\xa6 123 456",
          "tel. {{PHONE}}" },
        /* Any rule: a date in full-width digits. */
        { "dnia " FW("\x91") FW("\x95") "." FW("\x90") FW("\x93") ".2024",
          "dnia {{DATE}}" },
        /* A bad check digit is still no PESEL; a full-width number
         * that is nothing stays. */
        { "nr " FW("\x94") "4051401358", "nr " FW("\x94") "4051401358" },
        { "rok " FW("\x92") FW("\x90") FW("\x92") FW("\x94"),
          "rok " FW("\x92") FW("\x90") FW("\x92") FW("\x94") },
    };

    CHECK_ALL(cases);
}

static void test_at_dot(void)
{
    static const char *const cases[][2] = {
        { "pisz: jan(at)example.com", "pisz: {{EMAIL}}" },
        { "pisz: jan [at] example [dot] com!", "pisz: {{EMAIL}}!" },
        { "pisz: jan.kowalski (AT) example (DOT) co (dot) uk",
          "pisz: {{EMAIL}}" },
        { "pisz: jan{at}example.com", "pisz: {{EMAIL}}" },
        { "pisz: jan at example dot com.", "pisz: {{EMAIL}}." },
        { "pisz: jan[dot]kowalski@example.com", "pisz: {{EMAIL}}" },
        { "pisz: jan" ZWSP "(at)example.com", "pisz: {{EMAIL}}" },
        /* A word "at" without a spelt dot is prose. */
        { "look at example.com for more", "look at example.com for more" },
        { "we met (at) noon", "we met (at) noon" },
        { "meet me at home dot", "meet me at home dot" },
    };

    CHECK_ALL(cases);
}

/* A stream fed in pieces of every size, from one byte to the whole,
 * masks evasions as the whole text does (the view's edits are decided
 * close to where they begin). */
static void test_stream(void)
{
    static const char text[] =
        "Dane: PESEL 4 4 0 5 1 4 0 1 3 5 9, mail jan [at] example [dot] "
        "com, nr 4405" ZWSP "1401359, karta 5555.5555.5555.4444, host "
        "10.0.0.1:80, tel. 600" ZWSP "123" ZWSP "456, koniec.";
    apr_size_t len = sizeof(text) - 1, cut, k, olen;
    const char *want = mask(text), *piece;
    char *got;
    int bad = 0;

    for (cut = 0; cut <= len; cut++) {
        llm_mask_stream_t *st = llm_mask_stream_create(pool, rules, NULL, 0);

        got = "";
        for (k = 0; k < len; k = cut ? k + cut : len) {
            apr_size_t n = cut && k + cut < len ? cut : len - k;

            piece = llm_mask_stream_feed(st, pool, text + k, n, &olen);
            got = apr_pstrcat(pool, got, apr_pstrmemdup(pool, piece, olen),
                              NULL);
        }
        piece = llm_mask_stream_end(st, pool, &olen);
        got = apr_pstrcat(pool, got, apr_pstrmemdup(pool, piece, olen), NULL);
        bad += strcmp(got, want) != 0;
    }
    ok(strstr(want, "{{PESEL_TAGGED}}") && strstr(want, "{{EMAIL}}")
       && strstr(want, "{{CREDIT_CARD}}") && strstr(want, "{{PHONE}}"),
       "the whole text is masked");
    is_int(bad, 0, "streamed in pieces of every size = masked whole");
}

int main(void)
{
    const char *err = NULL;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rules = llm_mask_ruleset_create(pool);
    ok(llm_mask_ruleset_compile(rules, &err) == APR_SUCCESS,
       "the default rules compile");
    test_invisible();
    test_spread_digits();
    test_spread_prose();
    test_split_digits();
    test_split_prose();
    test_other_digits();
    test_at_dot();
    test_stream();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
