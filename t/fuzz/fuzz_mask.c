/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for the masking engine and the guard (libFuzzer's entry
 * point; t/fuzz/replay.c runs it without libFuzzer). Each input is any
 * bytes, as a prompt or an answer may be, and must keep these true:
 *
 *   - llm_mask_apply, static and pseudonym: the output is NUL-terminated
 *     at out_len, is the input itself exactly when nothing was masked,
 *     and both modes mask the same number of values;
 *   - the pseudonyms un-masked by a stream, fed in pieces, give back the
 *     input (unless it has a "{{" of its own, or a NUL: reversible());
 *   - a masking stream fed the input in pieces says what llm_mask_apply
 *     says of the whole (the pieces cut where the first bytes say);
 *   - the guard answers 0 or 1 with a verdict, and with pii alone it
 *     refuses exactly what llm_mask_apply masks;
 *   - where the rules run (anchors, shape tests) changes nothing: the
 *     spans, HOLDs included, are those of every rule scanning the whole
 *     text, for the input alone and set in prose (where anchors are
 *     sparse enough for the anchored scan to run).
 *
 * A violation abort()s after saying which property and on what input,
 * so that libFuzzer keeps the input as a crash file.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "llm_mask_private.h"
#include "llm_guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *root;
static llm_mask_ruleset_t *rules;
static llm_mask_ruleset_t *exhaustive;  /* no anchors, no shape tests */
static llm_guard_t *guard;          /* the defaults */
static llm_guard_t *pii_guard;      /* category pii alone */
static llm_guard_t *custom_guard;   /* deny and allow patterns, pii on */

/* ------------------------------------------------------------------ */
/* Reporting                                                           */
/* ------------------------------------------------------------------ */

static void dump(const char *label, const char *s, apr_size_t len)
{
    apr_size_t i;

    fprintf(stderr, "  %s (%lu bytes): \"", label, (unsigned long)len);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            fprintf(stderr, "\\%c", c);
        }
        else if (c >= 0x20 && c < 0x7f) {
            fputc(c, stderr);
        }
        else {
            fprintf(stderr, "\\x%02x", c);
        }
    }
    fprintf(stderr, "\"\n");
}

/* A property does not hold: say which, with the texts, and abort. */
static void fail(const char *what, const char *in, apr_size_t len,
                 const char *got, apr_size_t got_len, const char *want,
                 apr_size_t want_len)
{
    fprintf(stderr, "fuzz_mask: %s\n", what);
    dump("input", in, len);
    if (got) {
        dump("got", got, got_len);
    }
    if (want) {
        dump("expected", want, want_len);
    }
    abort();
}

#define CHECK(cond, what, in, len) \
    do { if (!(cond)) fail((what), (in), (len), NULL, 0, NULL, 0); } while (0)

/* ------------------------------------------------------------------ */
/* Set-up, once                                                        */
/* ------------------------------------------------------------------ */

static llm_guard_t *make_guard(void)
{
    llm_guard_t *g = llm_guard_create(root);
    const char *err = NULL;

    if (llm_guard_compile(g, rules, &err) != APR_SUCCESS) {
        fprintf(stderr, "fuzz_mask: guard: %s\n", err ? err : "?");
        abort();
    }
    return g;
}

/* Deny patterns with empty matches and matches inside allow matches:
 * the allow scan and its steps over UTF-8 are what is fuzzed here. */
static llm_guard_t *make_custom_guard(void)
{
    llm_guard_t *g = make_guard();
    const char *err = NULL;

    if (llm_guard_deny(g, "nuclear", "(?i)\\bplutonium\\b", &err)
        || llm_guard_deny(g, "empty", "(?=[ąę])", &err)
        || llm_guard_allow(g, "(?i)plutonium-(?:free|based)", &err)
        || llm_guard_allow(g, "[ąęó]{1,8}", &err)
        || llm_guard_category(g, "pii", 1, &err)) {
        fprintf(stderr, "fuzz_mask: custom guard: %s\n", err);
        abort();
    }
    return g;
}

/* At exit, so that LeakSanitizer finds nothing: APR's pools may live in
 * mmap()ed memory, where it does not look for the pointers to the
 * compiled patterns (malloc()ed by PCRE2). */
static void teardown(void)
{
    apr_pool_destroy(root);
    root = NULL;
    apr_terminate();
}

static void setup(void)
{
    const char *err = NULL;

    apr_initialize();
    if (apr_pool_create(&root, NULL) != APR_SUCCESS) {
        abort();
    }
    atexit(teardown);
    rules = llm_mask_ruleset_create(root);
    exhaustive = llm_mask_ruleset_create(root);
    llm_mask_ruleset_exhaustive(exhaustive, 1);
    if (llm_mask_ruleset_compile(rules, &err) != APR_SUCCESS
        || llm_mask_ruleset_compile(exhaustive, &err) != APR_SUCCESS) {
        fprintf(stderr, "fuzz_mask: rules: %s\n", err ? err : "?");
        abort();
    }
    guard = make_guard();
    pii_guard = make_guard();
    custom_guard = make_custom_guard();
    if (llm_guard_category(pii_guard, "prompt_injection", 0, &err)
        || llm_guard_category(pii_guard, "secrets", 0, &err)
        || llm_guard_category(pii_guard, "pii", 1, &err)) {
        abort();
    }
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    char *buf;
    apr_size_t len;
    apr_size_t cap;
} acc_t;

static void acc_put(apr_pool_t *p, acc_t *a, const char *s, apr_size_t len)
{
    if (a->len + len + 1 > a->cap) {
        apr_size_t cap = (a->len + len + 1) * 2;
        char *grown = apr_palloc(p, cap);

        if (a->len) {
            memcpy(grown, a->buf, a->len);
        }
        a->buf = grown;
        a->cap = cap;
    }
    if (len) {
        memcpy(a->buf + a->len, s, len);
    }
    a->len += len;
    a->buf[a->len] = '\0';
}

/* Up to @a max cut points in [0, len], in order, from @a seed's bytes. */
static int cuts_from(const uint8_t *seed, size_t seed_len, apr_size_t len,
                     apr_size_t *cuts, int max)
{
    int n = 0, i, k;

    for (i = 0; i < max && (size_t)(2 * i + 1) < seed_len; i++) {
        apr_size_t c = ((apr_size_t)seed[2 * i] << 8 | seed[2 * i + 1])
                       % (len + 1);

        for (k = n; k > 0 && cuts[k - 1] > c; k--) {
            cuts[k] = cuts[k - 1];      /* insertion: they stay sorted */
        }
        cuts[k] = c;
        n++;
    }
    return n;
}

/* @a s fed to @a st in pieces ending at @a cuts, then the end; every
 * piece's output checked for its NUL and gathered in @a out. */
static void feed_all(llm_mask_stream_t *st, apr_pool_t *p, const char *s,
                     apr_size_t len, const apr_size_t *cuts, int ncuts,
                     acc_t *out)
{
    apr_size_t at = 0, olen;
    const char *piece;
    int i;

    for (i = 0; i <= ncuts; i++) {
        apr_size_t end = i < ncuts ? cuts[i] : len;

        piece = llm_mask_stream_feed(st, p, s + at, end - at, &olen);
        CHECK(piece != NULL, "stream feed: NULL", s, len);
        acc_put(p, out, piece, olen);
        at = end;
    }
    piece = llm_mask_stream_end(st, p, &olen);
    CHECK(piece != NULL && piece[olen] == '\0',
          "stream end: not NUL-terminated", s, len);
    acc_put(p, out, piece, olen);
}

/* Fixed-size pieces (1 to 64 bytes, from the first byte): many feeds. */
static int small_cuts(apr_pool_t *p, const uint8_t *data, size_t size,
                      apr_size_t **cuts)
{
    apr_size_t step = size ? (apr_size_t)(data[0] % 64) + 1 : 1, at;
    int n = 0;

    *cuts = apr_palloc(p, sizeof(**cuts) * (size / step + 1));
    for (at = step; at < size; at += step) {
        (*cuts)[n++] = at;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* The properties                                                      */
/* ------------------------------------------------------------------ */

static const char *check_apply(apr_pool_t *p, llm_mask_session_t *s,
                               const char *in, apr_size_t len,
                               apr_size_t *out_len, int *n)
{
    const char *out = llm_mask_apply(rules, s, p, in, len, out_len, n);

    CHECK(out != NULL, "apply: NULL", in, len);
    CHECK(out[*out_len] == '\0', "apply: not NUL-terminated at out_len",
          in, len);
    CHECK((*n == 0) == (out == in),
          "apply: the input itself exactly when nothing is masked", in, len);
    CHECK(*n > 0 || *out_len == len, "apply: nothing masked, length changed",
          in, len);
    return out;
}

/* Masked in pieces = masked whole, with the cuts from the first bytes
 * and then in small steps. */
static void check_mask_stream(apr_pool_t *p, const uint8_t *data,
                              const char *raw, apr_size_t len,
                              const char *want, apr_size_t want_len)
{
    apr_size_t cuts[3], *many;
    acc_t got = { NULL, 0, 0 };
    int ncuts = cuts_from(data, len, len, cuts, 3);

    acc_put(p, &got, "", 0);
    feed_all(llm_mask_stream_create(p, rules, NULL, 0), p, raw, len, cuts,
             ncuts, &got);
    if (got.len != want_len || memcmp(got.buf, want, want_len)) {
        fail("mask stream (cut where the first bytes say) != apply",
             raw, len, got.buf, got.len, want, want_len);
    }
    got.len = 0;
    ncuts = small_cuts(p, data, len, &many);
    feed_all(llm_mask_stream_create(p, rules, NULL, 0), p, raw, len, many,
             ncuts, &got);
    if (got.len != want_len || memcmp(got.buf, want, want_len)) {
        fail("mask stream (small pieces) != apply", raw, len, got.buf,
             got.len, want, want_len);
    }
}

/* The pseudonyms turned back, the masked text cut where the last bytes
 * say: the input again. */
static void check_roundtrip(apr_pool_t *p, llm_mask_session_t *s,
                            const uint8_t *data, size_t size,
                            const char *masked, apr_size_t masked_len)
{
    uint8_t seed[4];
    apr_size_t cuts[2];
    acc_t got = { NULL, 0, 0 };
    size_t i;
    int ncuts;

    for (i = 0; i < sizeof(seed); i++) {
        seed[i] = size ? data[size - 1 - i % size] ^ (uint8_t)i : 0;
    }
    ncuts = cuts_from(seed, sizeof(seed), masked_len, cuts, 1 + seed[0] % 2);
    acc_put(p, &got, "", 0);
    feed_all(llm_mask_stream_create(p, NULL, s, 1), p, masked, masked_len,
             cuts, ncuts, &got);
    if (got.len != size || (size && memcmp(got.buf, data, size))) {
        fail("un-masked pseudonyms != the input", (const char *)data, size,
             got.buf, got.len, masked, masked_len);
    }
}

/* The spans of @a text with the anchored rules and the exhaustive ones
 * are the same. */
static void check_same_spans(apr_pool_t *p, const char *text,
                             apr_size_t len, const char *what)
{
    llm_mask_span_t *a, *b;
    int na = llm_mask_spans(rules, p, text, len, 0, 1, &a);
    int nb = llm_mask_spans(exhaustive, p, text, len, 0, 1, &b);
    int i;

    CHECK(na == nb, what, text, len);
    for (i = 0; i < na; i++) {
        CHECK(a[i].start == b[i].start && a[i].end == b[i].end
              && a[i].rule == b[i].rule && a[i].verdict == b[i].verdict,
              what, text, len);
    }
}

/* Prose around the input: 64 bytes and more without an anchor byte. */
#define PROSE "W nawi\xc4\x85zaniu do rozmowy przesy\xc5\x82" "am informacje " \
              "o zg\xc5\x82oszeniu klienta, kt\xc3\xb3ry poprosi\xc5\x82 " \
              "o zmian\xc4\x99 danych w systemie. "

static void check_anchors(apr_pool_t *p, const char *raw, apr_size_t len)
{
    apr_size_t pl = sizeof(PROSE) - 1;
    char *framed = apr_palloc(p, 2 * pl + len);

    check_same_spans(p, raw, len, "anchors and shapes change nothing");
    memcpy(framed, PROSE, pl);
    memcpy(framed + pl, raw, len);
    memcpy(framed + pl + len, PROSE, pl);
    check_same_spans(p, framed, 2 * pl + len,
                     "anchors and shapes change nothing (in prose)");
}

static void check_guards(apr_pool_t *p, const char *raw, apr_size_t len,
                         int masked)
{
    llm_guard_verdict_t v;
    int rc;

    v.category = v.rule = NULL;
    rc = llm_guard_check(guard, p, raw, len, &v);
    CHECK(rc == 0 || (rc == 1 && v.category && v.rule),
          "guard: 0, or 1 with a verdict", raw, len);
    v.category = v.rule = NULL;
    rc = llm_guard_check(pii_guard, p, raw, len, &v);
    CHECK(rc == (masked > 0), "pii guard refuses exactly what is masked",
          raw, len);
    CHECK(!rc || (v.category && !strcmp(v.category, "pii") && v.rule),
          "pii guard: category pii", raw, len);
    v.category = v.rule = NULL;
    rc = llm_guard_check(custom_guard, p, raw, len, &v);
    CHECK(rc == 0 || (rc == 1 && v.category && v.rule),
          "custom guard: 0, or 1 with a verdict", raw, len);
}

/* Can the pseudonyms of this input be turned back exactly? Not when it
 * has a "{{" of its own (a text that looks like a token is ambiguous by
 * design). A value with a NUL byte in it (a URL's tail may have one)
 * must come back whole (llm_mask_session_original). */
static int reversible(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i < size; i++) {
        if (data[i] == '{' && i + 1 < size && data[i + 1] == '{') {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    llm_mask_session_t *s;
    const char *st_out, *ps_out;
    apr_size_t st_len, ps_len;
    char *in, *raw;
    int st_n, ps_n;

    if (!root) {
        setup();
    }
    apr_pool_create(&p, root);
    /* @a in ends with a NUL (llm_mask_apply may return it); @a raw has
     * exactly the input's bytes, so that ASan sees a read past them. */
    in = malloc(size + 1);
    raw = malloc(size ? size : 1);
    if (!in || !raw) {
        abort();
    }
    if (size) {                 /* an empty input's data may be NULL */
        memcpy(in, data, size);
        memcpy(raw, data, size);
    }
    in[size] = '\0';

    st_out = check_apply(p, NULL, in, size, &st_len, &st_n);
    s = llm_mask_session_create(p, LLM_MASK_PSEUDONYM);
    ps_out = check_apply(p, s, in, size, &ps_len, &ps_n);
    CHECK(st_n == ps_n, "static and pseudonym modes mask alike", in, size);
    if (reversible(data, size)) {
        check_roundtrip(p, s, data, size, ps_out, ps_len);
    }
    check_mask_stream(p, data, raw, size, st_out, st_len);
    check_guards(p, raw, size, st_n);
    check_anchors(p, raw, size);

    free(in);
    free(raw);
    apr_pool_destroy(p);
    return 0;
}
