/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The masking engine without httpd: every test vector of the spec
 * (t/unit/fixtures/mask_vectors.tsv), the validators' worked examples,
 * span arbitration, pseudonyms per session, rule sets from config and
 * from a file, streams split at every byte, and adversarial megabytes
 * in linear time. */

#include <stdlib.h>
#include <time.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include "tap.h"
#include "llm_mask.h"

#define VECTORS "t/unit/fixtures/mask_vectors.tsv"

static apr_pool_t *pool;
static llm_mask_ruleset_t *rules;

static const char *mask(const char *in)
{
    apr_size_t len;
    int n;

    return llm_mask_apply(rules, NULL, pool, in, strlen(in), &len, &n);
}

static const char *mask_with(const llm_mask_ruleset_t *rs,
                             llm_mask_session_t *s, const char *in)
{
    apr_size_t len;
    int n;

    return llm_mask_apply(rs, s, pool, in, strlen(in), &len, &n);
}

static void test_vectors(void)
{
    FILE *f = fopen(VECTORS, "r");
    char line[1024];
    int count = 0;

    ok(f != NULL, "the spec's vectors are readable");
    while (f && fgets(line, sizeof(line), f)) {
        char *num, *in, *want, *save;

        if (line[0] == '#') {
            continue;
        }
        line[strcspn(line, "\n")] = '\0';
        num = strtok_r(line, "\t", &save);
        in = strtok_r(NULL, "\t", &save);
        want = strtok_r(NULL, "\t", &save);
        if (!num || !in || !want) {
            continue;
        }
        is_str(mask(in), want, apr_psprintf(pool, "vector %s: %s", num, in));
        count++;
    }
    if (f) {
        fclose(f);
    }
    is_int(count, 60, "all 60 vectors were run");
}

/* Further cases: the spec's fixtures (§5) and its §6 defects. */
static void test_more(void)
{
    static const char *const cases[][2] = {
        { "PESEL 02070803628", "PESEL {{PESEL_TAGGED}}" },
        { "nr 11111111116", "nr {{PESEL}}" },
        { "NIP 5260250274", "NIP {{NIP}}" },
        { "karta 5555555555554444", "karta {{CREDIT_CARD}}" },
        { "karta 378282246310005", "karta {{CREDIT_CARD}}" },
        { "ICCID 89480123456789012345", "ICCID {{SIM_CARD}}" },
        { "mail jan.kowalski@example.com.", "mail {{EMAIL}}." },
        { "see https://example.com/a?b=1.", "see {{URL}}." },
        { "www.example.co.uk is it", "{{URL}} is it" },
        { "host 192.168.1.10:8080 up", "host {{IP}}:{{PORT}} up" },
        { "host 10.0.0.1 up", "host {{IP}} up" },
        { "bad 999.1.1.1:80", "bad 999.1.1.1:80" },
        { "port 10.0.0.1:99999", "port 10.0.0.1:99999" },
        { "v6 2001:db8::1 ok", "v6 {{IP}} ok" },
        { "Zapłacono 1500 zł", "Zapłacono {{MONEY}}" },
        { "koszt $1,200.50", "koszt {{MONEY}}" },
        { "o 14:30 w sobotę", "o {{TIME}} w sobotę" },
        { "dnia 5 marca 2024 r.", "dnia {{DATE}} r." },
        { "on March 5, 2024", "on {{DATE}}" },
        { "Kod 00-950 Warszawa", "Kod {{POSTAL_CODE}} Warszawa" },
        { "MAC 00:1A:2B:3C:4D:5E", "MAC {{MAC_ADDRESS}}" },
        { "Nr rej. WX 12345", "Nr rej. {{CAR_PLATE}}" },
        { "karta graficzna RTX 4090", "karta graficzna RTX 4090" },
        { "Tel. 22 123 45 67", "Tel. {{PHONE}}" },
        { "w roku 2024 było 100 osób", "w roku 2024 było 100 osób" },
        { "wersja 1.2.3 działa", "wersja 1.2.3 działa" },
        /* The spec's §6.2: a version is no IP, a decimal no time, a
         * hex id no MAC (issue 11, part 3). */
        { "wersja 1.2.3.4", "wersja 1.2.3.4" },
        { "version 1.2.3.4 is out", "version 1.2.3.4 is out" },
        { "Release 10.0.0.1 notes", "Release 10.0.0.1 notes" },
        { "ver. 2.0.10.1, build: 10.0.0.7", "ver. 2.0.10.1, build: 10.0.0.7" },
        { "v1.2.3.4", "v1.2.3.4" },
        { "host 1.2.3.4 up", "host {{IP}} up" },
        { "wynik 12.45", "wynik 12.45" },
        { "wzrost o 12.45%", "wzrost o 12.45%" },
        { "kurs 10.30 zł", "kurs {{MONEY}}" },
        { "spotkanie o 12.45", "spotkanie o {{TIME}}" },
        { "at 09.15 sharp", "at {{TIME}} sharp" },
        { "godz. 23.59", "godz. {{TIME}}" },
        { "od 10.15 do 12.45", "od {{TIME}} do {{TIME}}" },
        { "wynik 12:45", "wynik {{TIME}}" },
        { "id deadbeef1234", "id deadbeef1234" },
        { "id 001a2b3c4d5e", "id 001a2b3c4d5e" },
        { "MAC 00-1a-2b-3c-4d-5e", "MAC {{MAC_ADDRESS}}" },
        { "44051401359ą", "44051401359ą" },
        { "Tel. 600000004", "Tel. {{PHONE}}" },
        { "REGON 600000004", "REGON {{REGON}}" },
        { "Mamy planxy i klientow.", "Mamy planxy i klientow." },
        { "12345 osób", "12345 osób" },
        { "ISO 9001, PKB 2023, od 12345 do 20000",
          "ISO 9001, PKB 2023, od 12345 do 20000" },
        { "5 tys zł, zł 100, 1500,50 zł", "{{MONEY}}, {{MONEY}}, {{MONEY}}" },
        /* Up to seven groups of three (issue 11: unbounded, they made
         * masking quadratic); an eighth is left before the amount. */
        { "1 000 000 000 000 000 000 zł", "{{MONEY}}" },
        { "1 000 000 000 000 000 000 000 zł", "1 {{MONEY}}" },
        { "00-950 Warszawa, lok. 5/7", "{{POSTAL_CODE}} Warszawa, lok. 5/7" },
        { "localhost:8080", "{{IP}}:{{PORT}}" },
        { "MAC 00:11:22:33:44:55", "MAC {{MAC_ADDRESS}}" },
        { "nr 99999999994", "nr 99999999994" },
        { "Data 5.3.2024", "Data {{DATE}}" },
        { "VAT ATU12345678, DE123456789", "VAT {{EU_VAT}}, {{EU_VAT}}" },
        { "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwi"
          "bmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwp"
          "MeJf36POk6yJV_adQssw5c ok", "jwt {{JWT}} ok" },
        /* A local part of 24 Kelvin signs (3 bytes each) is no ASCII
         * address: the look-behind is no longer escaped by it. */
        { "x \xe2\x84\xaa\xe2\x84\xaa@example.com ok",
          "x \xe2\x84\xaa\xe2\x84\xaa@example.com ok" },
        { "", "" },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        is_str(mask(cases[i][0]), cases[i][1], cases[i][0]);
    }
}

static void test_pseudonyms(void)
{
    llm_mask_session_t *s = llm_mask_session_create(pool, LLM_MASK_PSEUDONYM);
    llm_mask_session_t *other;
    apr_hash_t *map;

    is_str(mask_with(rules, s, "Jan, PESEL: 44051401359, tel. +48 512 345 "
                     "678, mail jan@x.pl"),
           "Jan, PESEL: {{PESEL_TAGGED_1}}, tel. {{PHONE_INTERNATIONAL_1}}, "
           "mail {{EMAIL_1}}", "pseudonyms: a counter per tag");
    map = llm_mask_session_map(s);
    is_int(apr_hash_count(map), 3, "three values in the mapping");
    is_str(apr_hash_get(map, "{{EMAIL_1}}", APR_HASH_KEY_STRING), "jan@x.pl",
           "token -> original");
    is_str(apr_hash_get(map, "{{PHONE_INTERNATIONAL_1}}", APR_HASH_KEY_STRING),
           "+48 512 345 678", "the phone as written");
    is_str(mask_with(rules, s, "a@b.pl, jan@x.pl, a@b.pl"),
           "{{EMAIL_2}}, {{EMAIL_1}}, {{EMAIL_2}}",
           "the same value keeps its token within the session");
    is_str(mask_with(rules, s, "host 10.0.0.1:8080 and 10.0.0.2:8080"),
           "host {{IP_1}}:{{PORT_1}} and {{IP_2}}:{{PORT_1}}",
           "address and port get their own pseudonyms");
    other = llm_mask_session_create(pool, LLM_MASK_PSEUDONYM);
    is_str(mask_with(rules, other, "mail a@b.pl"), "mail {{EMAIL_1}}",
           "another session starts afresh: nothing shared between requests");
    ok(!apr_hash_get(llm_mask_session_map(other), "{{EMAIL_2}}",
                     APR_HASH_KEY_STRING), "nor its mapping");
    s = llm_mask_session_create(pool, LLM_MASK_STATIC);
    is_str(mask_with(rules, s, "mail a@b.pl"), "mail {{EMAIL}}",
           "static mode");
    is_int(apr_hash_count(llm_mask_session_map(s)), 0,
           "static mode keeps no mapping");
}

static void test_rulesets(void)
{
    llm_mask_ruleset_t *rs = llm_mask_ruleset_create(pool);
    const char *err = NULL;
    /* Next to the test binary's build: a directory of its own run. */
    const char *path = "build/unit/mask_rules.json";
    FILE *f;

    ok(llm_mask_ruleset_enable(rs, "EMAIL", 0, &err) == 0, "disable EMAIL");
    ok(llm_mask_ruleset_enable(rs, "NOPE", 0, &err) == -1
       && strstr(err, "no rule named NOPE") && strstr(err, "PESEL_TAGGED"),
       "an unknown rule's name is refused, with the known ones");
    ok(llm_mask_ruleset_add(rs, "TICKET", "TCK-([0-9]{6})", "{{TICKET}}",
                            NULL, &err) == 0, "a custom rule");
    ok(llm_mask_ruleset_add(rs, "CARD2", "K([0-9]{16})K", "{{CARD}}",
                            "luhn", &err) == 0, "a custom rule with a validator");
    ok(llm_mask_ruleset_compile(rs, &err) == APR_SUCCESS, "compiles");
    is_int(llm_mask_ruleset_count(rs), 34, "33 defaults - 1 + 2");
    is_str(llm_mask_ruleset_name(rs, 0), "URL", "EMAIL is off: URL is first");
    is_str(mask_with(rs, NULL, "a@b.pl TCK-123456 K4111111111111111K "
                     "K4111111111111112K"),
           "a@b.pl TCK-{{TICKET}} K{{CARD}}K K4111111111111112K",
           "disabled, custom, validated");
    ok(llm_mask_ruleset_add(rs, "X", "a(b", "{{X}}", NULL, &err) == 0
       && llm_mask_ruleset_compile(rs, &err) != APR_SUCCESS
       && strstr(err, "rule X: pattern error at offset"),
       "a bad pattern is refused with its offset");
    rs = llm_mask_ruleset_create(pool);
    ok(llm_mask_ruleset_add(rs, "Y", "y", "{{Y}}", "nope", &err) == -1
       && strstr(err, "no validator named nope"), "an unknown validator");
    ok(llm_mask_ruleset_add(rs, "Y", "y", "{{a b}}", NULL, &err) == -1,
       "a token with a space");
    f = fopen(path, "w");
    if (!f) {
        ok(0, "cannot write %s", path);
        return;
    }
    fputs("[{\"name\": \"EMAIL\", \"enabled\": false},\n"
          " {\"name\": \"TICKET\", \"pattern\": \"(?i)tck-[0-9]{6}\",\n"
          "  \"token\": \"{{TICKET}}\"}]\n", f);
    fclose(f);
    ok(llm_mask_ruleset_load(rs, path, &err) == APR_SUCCESS
       && llm_mask_ruleset_compile(rs, &err) == APR_SUCCESS,
       "rules from a file");
    is_str(mask_with(rs, NULL, "a@b.pl tck-000001"), "a@b.pl {{TICKET}}",
           "the file's rules apply");
    f = fopen(path, "w");
    if (!f) {
        ok(0, "cannot write %s", path);
        return;
    }
    fputs("[{\"name\": \"A\", \"pattern\": \"a\"}, {\"name\": \"B\"}]", f);
    fclose(f);
    ok(llm_mask_ruleset_load(llm_mask_ruleset_create(pool), path, &err)
       != APR_SUCCESS && strstr(err, "$[1].pattern"),
       "a bad file names the entry");
    ok(llm_mask_ruleset_load(rs, "build/unit/none.json", &err) != APR_SUCCESS,
       "a missing file");
    f = fopen(path, "w");
    if (!f) {
        ok(0, "cannot write %s", path);
        return;
    }
    fputs("[{\"name\": \"A\", /* c */ \"pattern\": \"a\"}]", f);
    fclose(f);
    ok(llm_mask_ruleset_load(llm_mask_ruleset_create(pool), path, &err)
       != APR_SUCCESS && strstr(err, "at byte 15: a quoted key expected"),
       "a rules file is strict JSON: a comment is refused, with where");
    f = fopen(path, "w");
    if (!f) {
        ok(0, "cannot write %s", path);
        return;
    }
    fputs("[{\"name\": \"A\", \"pattern\": \"a\", \"pattern\": \"b\"}]", f);
    fclose(f);
    ok(llm_mask_ruleset_load(llm_mask_ruleset_create(pool), path, &err)
       != APR_SUCCESS && strstr(err, "a key is repeated"),
       "a repeated key is refused");
    rs = llm_mask_ruleset_create(pool);
    ok(llm_mask_ruleset_add(rs, "G8", "(T)(C)(K)-([0-9])([0-9])([0-9])([0-9])"
                            "([0-9])([0-9])", "{{G8}}", NULL, &err) == 0
       && llm_mask_ruleset_compile(rs, &err) == APR_SUCCESS,
       "a custom rule with nine groups");
    is_str(mask_with(rs, NULL, "id TCK-123456"), "id {{G8}}CK-123456",
           "masks its first group, however many groups it has");
    llm_mask_ruleset_enable(rs, "all", 0, &err);
    llm_mask_ruleset_enable(rs, "PESEL", 1, &err);
    llm_mask_ruleset_compile(rs, &err);
    is_str(mask_with(rs, NULL, "a@b.pl 44051401359"), "a@b.pl {{PESEL}}",
           "all off, one on");
}

/* Streams: the same text cut at every byte, and fed byte by byte, comes
 * out as the whole text masked at once. */
static const char *stream_all(llm_mask_stream_t *st, const char *in,
                              const apr_size_t *cuts, int ncuts)
{
    char *out = "";
    apr_size_t at = 0, len;
    int i;

    for (i = 0; i <= ncuts; i++) {
        apr_size_t end = i < ncuts ? cuts[i] : strlen(in);
        const char *piece = llm_mask_stream_feed(st, pool, in + at, end - at,
                                                 &len);

        out = apr_pstrcat(pool, out, apr_pstrmemdup(pool, piece, len), NULL);
        at = end;
    }
    return apr_pstrcat(pool, out, llm_mask_stream_end(st, pool, &len), NULL);
}

/* What the fuzzer found (t/fuzz): each once a difference between a
 * stream and the whole text, or a bad read. */
static void test_stream_regressions(void)
{
    char *chain = "", *stray;
    apr_size_t len, olen, cut = 300;
    llm_mask_session_t *s;
    const char *masked, *back;
    int i, n;

    for (i = 0; i < 110; i++) {
        chain = apr_pstrcat(pool, chain, "1234 ", NULL);
    }
    is_str(stream_all(llm_mask_stream_create(pool, rules, NULL, 0), chain,
                      NULL, 0), mask(chain),
           "a chain of matches is cut in a stream as in the whole text");
    stray = apr_pstrcat(pool, apr_psprintf(pool, "%300s", ""),
                        " 44051401359\x80\x80\x80\x80\x80\x80\x80\x80 ",
                        apr_psprintf(pool, "%250s", "y"), NULL);
    is_str(stream_all(llm_mask_stream_create(pool, rules, NULL, 0), stray,
                      &cut, 1), mask(stray),
           "a value before stray UTF-8 continuation bytes is still masked");
    is_str(mask("Tel. 21 123 45 67"), "Tel. 21 123 45 67",
           "21 is no area code (and its check reads nothing past its list)");
    s = llm_mask_session_create(pool, LLM_MASK_PSEUDONYM);
    masked = llm_mask_apply(rules, s, pool, "see https://a.com/x\0secret ok",
                            30, &len, &n);
    ok(llm_mask_session_original(s, "{{URL_1}}", 9, &olen) && olen == 22,
       "an original with a NUL byte keeps its length");
    back = llm_mask_stream_feed(llm_mask_stream_create(pool, NULL, s, 1), pool,
                                masked, len, &olen);
    ok(olen == 30 && !memcmp(back, "see https://a.com/x\0secret ok", 30),
       "and comes back whole");
}

static void test_streams(void)
{
    const char *text = "Dzień dobry, mój PESEL: 44051401359, mail "
        "jan.kowalski@example.com, konto PL61 1090 1014 0000 0712 1981 2874, "
        "tel. +48 512 345 678. Zażółć gęślą jaźń. Karta 4111 1111 1111 1111.";
    char *longer = apr_pstrcat(pool, text, " ", text, " ", text, " ", text,
                               " ", text, NULL);
    const char *want = mask(longer);
    apr_size_t n = strlen(longer), i, cut;
    int bad = 0, bad_bytes = 0;
    apr_size_t *every = apr_palloc(pool, n * sizeof(*every));
    llm_mask_session_t *s;
    const char *masked, *back;

    for (cut = 1; cut < n; cut++) {
        llm_mask_stream_t *st = llm_mask_stream_create(pool, rules, NULL, 0);

        const char *got = stream_all(st, longer, &cut, 1);

        if (strcmp(got, want) && !bad++) {
            printf("# cut at %d:\n# got  %s\n# want %s\n", (int)cut, got,
                   want);
        }
    }
    is_int(bad, 0, "masked stream cut in two at every byte = masked whole");
    for (i = 0; i + 1 < n; i++) {
        every[i] = i + 1;
    }
    bad_bytes = strcmp(stream_all(llm_mask_stream_create(pool, rules, NULL, 0),
                                  longer, every, (int)n - 1), want) != 0;
    is_int(bad_bytes, 0, "fed byte by byte = masked whole");

    s = llm_mask_session_create(pool, LLM_MASK_PSEUDONYM);
    masked = mask_with(rules, s, longer);
    n = strlen(masked);
    bad = 0;
    for (cut = 1; cut < n; cut++) {
        llm_mask_stream_t *st = llm_mask_stream_create(pool, NULL, s, 1);

        back = stream_all(st, masked, &cut, 1);
        bad += strcmp(back, longer) != 0;
    }
    is_int(bad, 0, "un-masked stream cut at every byte = the original");
    back = stream_all(llm_mask_stream_create(pool, NULL, s, 1),
                      "{{EMAIL_9}} {{ {{x}} {", NULL, 0);
    is_str(back, "{{EMAIL_9}} {{ {{x}} {", "unknown tokens and braces stay");
    test_stream_regressions();
}

/* Linear time: adversarial megabytes for every rule. */
static void check_mib(void *rs, const char *text, size_t len)
{
    apr_size_t out_len;
    int n;

    llm_mask_apply(rs, NULL, pool, text, len, &out_len, &n);
}

static void test_linear_time(void)
{
    static const char *const units[] = {
        "1", "1 ", "1-", "a", "a@", "a.", "@a.", "1.", "1:", "a1", "A1",
        "PL", "PL1 ", "www.", "http://a", "://", "x.y", "AB-", "+1 ",
        "0000", "ORD-", "fbid1", "FV/1", "12-", "1/", "$1,", "1 000 ",
        "stycznia ", "Tel. ", "ą", "{{", "::", "f:", "aa:",
        /* What the normalised view reads through (issue 11, part 3). */
        "1\xe2\x80\x8b", "a\xe2\x80\x8b", "1.1 ", "(at)", "a(at)",
        " at a dot ", "[dot]", "4 4 0 5 ", "\xef\xbb\xbf",
    };

    tap_each_mib_fast(units, sizeof(units) / sizeof(units[0]), check_mib, rules,
                      "every adversarial MiB is masked in well under a second");
}

int main(void)
{
    const char *err = NULL;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    rules = llm_mask_ruleset_create(pool);
    ok(llm_mask_ruleset_compile(rules, &err) == APR_SUCCESS,
       "the default rules compile");
    if (err) {
        printf("# %s\n", err);
    }
    test_vectors();
    test_more();
    test_pseudonyms();
    test_rulesets();
    test_streams();
    test_linear_time();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
