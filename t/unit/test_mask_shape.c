/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Where the masking rules run (llm_mask_anchor.c, llm_mask_shape.c) must
 * never change what they find: every text here gives the same spans,
 * HOLDs included, with the anchors and shape tests as with every rule
 * scanning the whole text (llm_mask_ruleset_exhaustive). The texts: the
 * spec's vectors, the benchmark's prose, and thousands made of the
 * pieces the rules read (digits in groups, separators, labels, months,
 * currencies, hex, a caseless K as U+212A, wide spaces). */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "tap.h"
#include "llm_mask_private.h"

#define VECTORS "t/unit/fixtures/mask_vectors.tsv"
#define GENERATED 40000
#define DENSE 3000
#define EVASIVE 5000

static int is_alnum(char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static apr_pool_t *pool;
static llm_mask_ruleset_t *fast;
static llm_mask_ruleset_t *exhaustive;

static unsigned long long rng = 88172645463325252ULL;

static unsigned next_random(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *pick(const char *const *list, unsigned n)
{
    return list[next_random(n)];
}

#define PICK(list) pick(list, sizeof(list) / sizeof(list[0]))

/* A run of @a n digits, or hex digits. */
static const char *digits(unsigned n, int hex)
{
    static const char xdigits[] = "0123456789abcdefABCDEF";
    char *s = apr_palloc(pool, n + 1);
    unsigned i;

    for (i = 0; i < n; i++) {
        s[i] = hex ? xdigits[next_random(sizeof(xdigits) - 1)]
                   : (char)('0' + next_random(10));
    }
    s[n] = '\0';
    return s;
}

/* Groups of digits as the rules read them, joined by one separator. */
static const char *number(void)
{
    static const unsigned char shapes[][8] = {
        { 11 }, { 3, 3, 2, 2 }, { 3, 2, 2, 3 }, { 2, 3, 4 }, { 2, 3, 4, 5 },
        { 4, 2, 2 }, { 2, 2, 4 }, { 1, 1, 4 }, { 2, 2 }, { 2, 3 },
        { 3, 2, 4 }, { 8, 3 }, { 2, 4, 4, 4, 4, 4, 4 }, { 4, 4, 4, 4 },
        { 4, 4, 4, 4, 3 }, { 4, 6, 5 }, { 1, 3, 3 }, { 9 }, { 10 }, { 7 },
        { 6 }, { 1, 2, 3 }, { 3, 1, 2, 3 }, { 4, 5 }, { 12 }, { 17 },
        { 2, 2, 2, 2, 2, 2 }, { 16 }, { 14 }, { 5, 4, 5 }, { 3, 3, 3 },
        { 2, 3, 3, 3 }, { 4, 3 }, { 1 }, { 2 }, { 4 }, { 20 },
    };
    static const char *const seps[] = {
        "", " ", "-", ".", "/", ":", "\xc2\xa0", "\xe3\x80\x80", ", ",
        " - ", ". ", "  ", "_", "\t", " / ",
    };
    const unsigned char *shape = shapes[next_random(sizeof(shapes)
                                                    / sizeof(shapes[0]))];
    const char *sep = PICK(seps), *text = "";
    int hex = next_random(10) == 0, mixed = next_random(6) == 0, i;

    for (i = 0; i < 8 && shape[i]; i++) {
        text = apr_pstrcat(pool, text, i ? (mixed ? PICK(seps) : sep) : "",
                           digits(shape[i], hex), NULL);
    }
    return text;
}

/* Labels, currencies, months, letters: before or after a number. */
static const char *label(void)
{
    static const char *const words[] = {
        "PESEL", "KRS", "KRS nr.", "Tel.", "telefon nr", "infolinia",
        "kom\xc3\xb3rka", "nr rej.", "tablica rejestracyjna",
        "registration number", "plate", "PL", "DE", "PLXX", "FV/", "INV-",
        "INVOICE/", "ORDER_", "ORD-", "fbid", "TX-", "REFNO_", "AB", "ABC",
        "WA", "+", "+48", "$", "\xe2\x82\xac", "\xc2\xa3", "USD", "EUR",
        "z\xc5\x82", "PLN", "z\xc5\x82otych", "tys.", "mln", "k", "gr",
        "dolar\xc3\xb3w", "funt\xc3\xb3w", "stycznia", "wrze\xc5\x9bnia",
        "pa\xc5\xba", "pa\xc5\xba" "dziernika", "September", "Sept.", "March",
        "maj", "st", "th", "of", "localhost", "www.", "http://", "https://",
        "eyJ", "@", "x@", "@a.pl", "a.b.", "fe80::", "::", "abcd:",
        "\xe2\x84\xaa", "\xc5\xbf", "\xe2\x84\xaa" "R", "PE\xc5\xbf" "EL",
        "ORDE\xe2\x84\xaa", "\xe2\x84\xaa" "RS", "ab", "\xc4\x85",
        "\xc5\x81\xc3\x93", "X", "xx", "XX", "_", "*", "**", "A1B2",
        "1HGCM82633A", "VIN", "IBAN", "NIP", "REGON", "nr", "no", "dnia",
        "kwota", "konto", "Za\xc5\xbc\xc3\xb3\xc5\x82\xc4\x87", "tys",
        "WPI", "KRA", "GD", "PO", "DW", "SSN", "fax", "mob.", "gsm",
    };

    return PICK(words);
}

static const char *spacing(void)
{
    static const char *const spaces[] = {
        "", " ", " ", " ", "  ", ":", ": ", "\xc2\xa0", "\xe3\x80\x80",
        "\xe3\x80\x80\xe3\x80\x80\xe3\x80\x80", ". ", "\n", ", ", "-", "/",
    };

    return PICK(spaces);
}

/* Prose between the numbers: where anchors are dense (more than one
 * cluster per 64 bytes) every rule scans the whole text, and the
 * anchors and shapes would go untested. */
static const char *filler(void)
{
    static const char prose[] =
        " W nawi\xc4\x85zaniu do rozmowy przesy\xc5\x82" "am informacje o "
        "zg\xc5\x82oszeniu; klient poprosi\xc5\x82 o zmian\xc4\x99 danych w "
        "systemie, a decyzja zostanie wys\xc5\x82" "ana poczt\xc4\x85. ";

    return apr_pstrndup(pool, prose + next_random(20),
                        40 + next_random(sizeof(prose) - 61));
}

/* A text: numbers with labels before or after, spaced as people and
 * machines write them, in prose. */
static const char *generated(void)
{
    unsigned n = 1 + next_random(6), i;
    char *text = "";

    for (i = 0; i < n; i++) {
        text = apr_pstrcat(pool, text,
                           next_random(4) ? label() : "", spacing(),
                           number(), spacing(),
                           next_random(3) ? "" : label(),
                           next_random(2) ? " " : spacing(),
                           next_random(8) ? filler() : "", NULL);
    }
    return text;
}

/* The spans of @a text with both rule sets; 0 when they differ. */
static int same_spans(const char *text)
{
    llm_mask_span_t *a, *b;
    apr_size_t len = strlen(text);
    int na = llm_mask_spans(fast, pool, text, len, 0, 1, &a);
    int nb = llm_mask_spans(exhaustive, pool, text, len, 0, 1, &b);
    int i;

    if (na != nb) {
        return 0;
    }
    for (i = 0; i < na; i++) {
        if (a[i].start != b[i].start || a[i].end != b[i].end
            || a[i].rule != b[i].rule || a[i].verdict != b[i].verdict) {
            return 0;
        }
    }
    return 1;
}

static void check_all(const char *const *texts, int n, const char *what)
{
    int i, bad = 0;

    for (i = 0; i < n; i++) {
        if (!same_spans(texts[i]) && bad++ < 5) {
            printf("# differs: \"%s\"\n", texts[i]);
        }
    }
    is_int(bad, 0, what);
}

static void test_vectors(void)
{
    FILE *f = fopen(VECTORS, "r");
    apr_array_header_t *texts = apr_array_make(pool, 64, sizeof(char *));
    char line[1024];

    while (f && fgets(line, sizeof(line), f)) {
        char *save, *in;

        if (line[0] == '#' || !strtok_r(line, "\t", &save)
            || !(in = strtok_r(NULL, "\t", &save))) {
            continue;
        }
        APR_ARRAY_PUSH(texts, const char *) = apr_pstrdup(pool, in);
    }
    if (f) {
        fclose(f);
    }
    ok(texts->nelts == 60, "the spec's 60 vectors are read");
    check_all((const char *const *)texts->elts, texts->nelts,
              "the spec's vectors: the same spans with and without shapes");
}

#define W3 "\xe3\x80\x80"      /* U+3000: \h and \s, 3 bytes */
#define K "\xe2\x84\xaa"        /* U+212A: caseless, a k */

/* Each value in prose of its own (anchors far apart), each at the
 * edge of where its rule's match may begin: the longest label, wide
 * spaces, K for k. */
static void test_values(void)
{
    static const char *const values[] = {
        "PESEL 44051401359", "jan.kowalski@example.com", "+48 512 345 678",
        "1 250,00 z\xc5\x82", "PL61 1090 1014 0000 0712 1981 2874",
        "15.03.2024 o godzinie 14:30", "FV/2023/00123", "526-025-02-74",
        "5 kwietnia 2024", "00-950", "192.168.1.10:8080", "fe80::1",
        "abcd:ef::", "localhost:99", "00:1A:2b:3C:4d:5E", "001a2b3c4d5e",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "abcd:abcd:abcd:abcd:abcd:"
        "abcd:abcd:ab12",
        "cert 0123456789abcdef01", "1HGCM82633A004352", "nr rej. WA 12345",
        "plate KR1ABCD", "ORD-12345", "fbid1234567890", "TX-1234-567",
        "INV-2024-000123", "INVOICE/2024/0042", "ORDER12345", "KRS: 0000123456",
        "AB1234567", "ABC123456",
        "123-45-6789", "12345678/123", "DE123456789", "4111 1111 1111 1111",
        "8948 0000 0000 0000 0001", "https://example.com/a?b=1",
        "www.example.co.uk", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkw"
        "In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "\xe2\x82\xac" "1.500", "3 tys. z\xc5\x82", "5kUSD", "12tysPLN",
        "Sept. 5th, 2024", "1st of March 2024", "2024 maj 3",
        /* a day and its year more than a cluster's gap apart */
        "5 pa\xc5\xba" "dziernika 2024", "2024 pa\xc5\xba" "dziernika 5",
        "12." W3 W3 W3 "wrze\xc5\x9bnia" W3 W3 W3 "2024",
        "September" W3 W3 W3 "12th," W3 W3 W3 "2024",
        "PLXX 1234 5678 9012 3456", "Tel. 21 123 45 67",
        /* the longest labels, in wide spaces */
        "PESEL" W3 W3 W3 W3 W3 W3 W3 W3 "44051401359",
        "KRS:" W3 W3 W3 "nr." W3 W3 "1234567890",
        "infolinia." W3 W3 "nr." W3 W3 W3 "600000004",
        "***USD" W3 W3 "1500", "September" W3 W3 W3 "5, 2024",
        "tablica" W3 W3 "rejestracyjna" W3 W3 W3 W3 "WA 12345",
        "registration" W3 W3 "number" W3 W3 W3 W3 "WPI" W3 "1234",
        "PLXXABCDEFGHIJKLMNOPQRSTUVWXYZ12", "plxxABCDEFGHIJKLMNOP 1234",
        /* K and long s for k and s */
        "ORDE" K "R, " K "R1234567", "PE\xc5\xbf" "EL 44051401359",
        K K "-12345-678", "AB" K K K K K K K K K K "12", K "KL0123456",
        "1" K K K K K K K K K K K K K K K "2", "5" K "EUR", "12 S" K "K",
    };
    static const char before[] =
        "W nawi\xc4\x85zaniu do rozmowy przesy\xc5\x82" "am informacje o "
        "zg\xc5\x82oszeniu klienta, kt\xc3\xb3ry poprosi\xc5\x82 o zmian\xc4\x99 "
        "danych w systemie. ";
    static const char after[] =
        " Decyzja zostanie wys\xc5\x82" "ana poczt\xc4\x85 tradycyjn\xc4\x85 na "
        "adres korespondencyjny wskazany w umowie, w ci\xc4\x85gu dw\xc3\xb3" "ch "
        "dni roboczych.";
    int n = (int)(sizeof(values) / sizeof(values[0])), i;
    const char **texts = apr_palloc(pool, n * sizeof(*texts));

    for (i = 0; i < n; i++) {
        texts[i] = apr_pstrcat(pool, before, values[i], after, NULL);
    }
    check_all(texts, n, "each kind of value, at the edges of its rule: "
              "the same spans");
}

/* A cluster of more groups than its features record (64), a value at
 * its end: found all the same (the fuzz target's first find). */
static void test_many_groups(void)
{
    char *text = "Numery: ";
    int i;

    for (i = 0; i < 70; i++) {
        text = apr_pstrcat(pool, text, "1 ", NULL);
    }
    text = apr_pstrcat(pool, text, "44051401359 i dalej zwyk\xc5\x82y tekst "
                       "bez liczb, dostatecznie d\xc5\x82ugi.", NULL);
    ok(same_spans(text), "a cluster of 70 groups, a PESEL at its end: the "
       "same spans");
}

/* Numbers and labels with no prose between: clusters of hundreds of
 * bytes, searched in pieces (LLM_MASK_PIECE) whose features read on
 * into the pieces after them. A third of them are bare numbers, and a
 * third groups of three as in an amount, a label only at their end. */
static const char *dense(void)
{
    static const char *const joints[] = { " ", ",", ".", "-", " ", "" };
    static const char *const currencies[] = {
        "z\xc5\x82", "PLN", "$", "tys. EUR", "k", "dolar\xc3\xb3w",
    };
    unsigned n = 8 + next_random(120), i, kind = next_random(3);
    char *text = "";

    for (i = 0; i < n; i++) {
        if (kind == 0) {
            text = apr_pstrcat(pool, text, next_random(3) ? "" : label(),
                               spacing(), number(),
                               next_random(4) ? " " : spacing(), NULL);
        }
        else if (kind == 1) {
            text = apr_pstrcat(pool, text, number(), PICK(joints), NULL);
        }
        else {
            text = apr_pstrcat(pool, text,
                               digits(next_random(8) ? 3 : 1 + next_random(4),
                                      0), PICK(joints), NULL);
        }
    }
    return kind == 0 ? text : apr_pstrcat(pool, text, next_random(2)
                                          ? label() : PICK(currencies), NULL);
}

static void test_dense(void)
{
    apr_pool_t *outer = pool;
    int i, bad = 0;

    apr_pool_create(&pool, outer);
    for (i = 0; i < DENSE; i++) {
        const char *text = dense();

        if (!same_spans(text) && bad++ < 3) {
            printf("# differs: \"%s\"\n", text);
        }
        apr_pool_clear(pool);
    }
    apr_pool_destroy(pool);
    pool = outer;
    is_int(bad, 0, apr_psprintf(pool, "%d texts dense in numbers, in pieces: "
                                "the same spans", DENSE));
}

static void test_generated(void)
{
    apr_pool_t *outer = pool;
    int i, bad = 0;

    apr_pool_create(&pool, outer);
    for (i = 0; i < GENERATED; i++) {
        const char *text = generated();

        if (!same_spans(text) && bad++ < 5) {
            printf("# differs: \"%s\"\n", text);
        }
        apr_pool_clear(pool);
    }
    apr_pool_destroy(pool);
    pool = outer;
    is_int(bad, 0, apr_psprintf(pool, "%d texts of numbers and labels: the "
                                "same spans", GENERATED));
}

/* A generated text written to slip past the rules (issue 11, part 3):
 * invisible characters inside numbers and words, digits spread by
 * spaces or dots, '@' and '.' spelt. The normalised view is scanned
 * with anchors and shapes too, and must find what a whole scan finds. */
static const char *evasive(void)
{
    static const char *const hidden[] = {
        "\xe2\x80\x8b", "\xe2\x80\x8c", "\xe2\x80\x8d", "\xe2\x81\xa0",
        "\xef\xbb\xbf", "\xe2\x80\x8b\xe2\x80\x8b",
    };
    static const char *const spread[] = { " ", ".", "  ", "\xc2\xa0" };
    static const char *const at[] = { "(at)", " [at] ", " at ", "{AT}" };
    static const char *const dot[] = { "[dot]", " (dot) ", " dot ", "." };
    const char *src = generated(), *sep = PICK(spread);
    unsigned mode = next_random(3);
    char *text = "";
    apr_size_t i, n = strlen(src);

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        const char *add = apr_pstrndup(pool, src + i, 1);
        int inner = i + 1 < n && is_alnum(src[i + 1]);

        if (c == '@') {
            add = PICK(at);
        }
        else if (c == '.' && i > 0 && inner) {
            add = PICK(dot);
        }
        text = apr_pstrcat(pool, text, add, NULL);
        if (c >= '0' && c <= '9' && i + 1 < n && src[i + 1] >= '0'
            && src[i + 1] <= '9' && next_random(3)) {
            text = apr_pstrcat(pool, text, mode ? sep : PICK(hidden), NULL);
        }
        else if (c < 0x80 && inner && next_random(12) == 0) {
            text = apr_pstrcat(pool, text, PICK(hidden), NULL);
        }
    }
    return text;
}

/* Does the text have a value found only in its normalised view? */
static int read_through(const char *text)
{
    llm_mask_span_t *sp;
    int n = llm_mask_spans(fast, pool, text, strlen(text), 0, 0, &sp), i;

    for (i = 0; i < n && !sp[i].norm; i++) {
    }
    return i < n;
}

static void test_evasive(void)
{
    apr_pool_t *outer = pool;
    int i, bad = 0, through = 0;

    apr_pool_create(&pool, outer);
    for (i = 0; i < EVASIVE; i++) {
        const char *text = evasive();

        if (!same_spans(text) && bad++ < 5) {
            printf("# differs: \"%s\"\n", text);
        }
        through += read_through(text);
        apr_pool_clear(pool);
    }
    apr_pool_destroy(pool);
    pool = outer;
    is_int(bad, 0, apr_psprintf(pool, "%d texts written to slip past the "
                                "rules: the same spans", EVASIVE));
    printf("# %d of them have a value found through the view\n", through);
    ok(through > EVASIVE / 20, "values are found through the view");
}

int main(void)
{
    const char *err = NULL;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    fast = llm_mask_ruleset_create(pool);
    exhaustive = llm_mask_ruleset_create(pool);
    llm_mask_ruleset_exhaustive(exhaustive, 1);
    ok(llm_mask_ruleset_compile(fast, &err) == APR_SUCCESS
       && llm_mask_ruleset_compile(exhaustive, &err) == APR_SUCCESS,
       "the default rules compile");
    test_vectors();
    test_values();
    test_many_groups();
    test_generated();
    test_dense();
    test_evasive();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
