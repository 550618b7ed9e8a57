/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* llm_json.c: the json-c helpers every module uses, and llm_str_trim. */

#include <locale.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "llm_buf.h"
#include "llm_json.h"
#include "tap.h"

static void test_parse(void)
{
    apr_size_t end;
    json_object *o;

    o = llm_json_parse(" {\"a\":1.5} \n", 12);
    ok(llm_json_is(o, json_type_object), "one object, white space around");
    json_object_put(o);
    ok(!llm_json_parse("{\"a\":1} x", 10), "text after the value refused");
    ok(!llm_json_parse("{\"a\":", 5), "a cut value refused");
    o = llm_json_parse_prefix("[1,2]tail", 9, &end);
    ok(o && end == 5, "a prefix and where it ends");
    json_object_put(o);
}

/* Decimals are read the same whatever the process locale says. */
static void test_parse_locale(void)
{
    json_object *o;

    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8")
        && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        ok(1, "# SKIP no locale with a decimal comma here");
        return;
    }
    o = llm_json_parse("{\"t\":0.25}", 10);
    ok(o && json_object_get_double(llm_json_get(o, "t")) == 0.25,
       "0.25 read as 0.25 under a decimal-comma locale");
    json_object_put(o);
    setlocale(LC_NUMERIC, "C");
}

/* Fed in pieces with one tokener, as the answer filter does. */
static void test_parse_ex(void)
{
    json_tokener *tok = llm_json_tokener_take();
    json_object *o = llm_json_parse_ex(tok, "{\"usage\":{\"total", 16);

    ok(!o && json_tokener_get_error(tok) == json_tokener_continue,
       "a piece: continue");
    o = llm_json_parse_ex(tok, "_tokens\":7}}", 12);
    is_int(llm_json_int(llm_json_get(o, "usage"), "total_tokens"), 7,
           "the rest: the whole value");
    json_object_put(o);
    llm_json_tokener_give(tok);
}

static void test_lookups(void)
{
    const char *doc = "{\"s\":\"x\\u0000y\",\"n\":-3,\"z\":null,\"a\":[4]}";
    json_object *o = llm_json_parse(doc, strlen(doc));
    apr_size_t len = 0;

    is_str(llm_json_str(o, "s", &len), "x", "a string");
    is_int(len, 3, "its whole length, NUL included");
    ok(!llm_json_str(o, "n", &len) && len == 0, "not a string: NULL, 0");
    is_int(llm_json_int(o, "n"), -1, "a negative integer: -1");
    ok(!llm_json_get(o, "z"), "null: NULL");
    ok(!llm_json_get(NULL, "z") && !llm_json_get(llm_json_get(o, "a"), "x"),
       "no object: NULL");
    is_int(json_object_get_int(llm_json_first(llm_json_get(o, "a"))), 4,
           "first of an array");
    ok(llm_json_is(o, json_type_object) && !llm_json_is(NULL, json_type_null),
       "llm_json_is: NULL is no value");
    json_object_put(o);
}

static void test_build(apr_pool_t *p)
{
    json_object *o = json_object_new_object();
    apr_size_t len;
    apr_pool_t *sub;

    llm_json_add(o, "a", llm_json_string(NULL));
    llm_json_add(o, "b", llm_json_strn("a/b\0c", 5));
    llm_json_add(o, "c", llm_json_args("[1]"));
    llm_json_add(o, "d", llm_json_args("{\"k\":1}"));
    is_str(llm_json_dump(o, &len),
           "{\"a\":\"\",\"b\":\"a/b\\u0000c\",\"c\":{},\"d\":{\"k\":1}}",
           "built and dumped compact, / as is");
    is_str(llm_json_quote(p, "say \"hi\"\n"), "\"say \\\"hi\\\"\\n\"",
           "a quoted literal");
    apr_pool_create(&sub, p);
    json_object_get(o);                 /* one reference of ours */
    llm_json_own(sub, o);
    apr_pool_destroy(sub);
    ok(json_object_put(o) == 1, "the pool released its reference: ours "
       "was the last");
}

static void test_buf(apr_pool_t *p)
{
    llm_buf_t b;
    const char *first;
    int i;

    llm_buf_init(&b, p);
    llm_buf_reserve(&b, 10);
    first = b.data;
    llm_buf_add(&b, "0123456789", 10);
    ok(b.data == first && b.cap == 11, "reserved: filled without a copy");
    is_str(b.data, "0123456789", "NUL-terminated");
    for (i = 0; i < 100; i++) {
        llm_buf_add(&b, "abc", 3);
    }
    ok(b.len == 310 && b.cap >= 311 && b.cap < 2 * 311 + 256,
       "grown by doubling");
    is_str(b.data + 307, "abc", "the end kept");
}

/* llm_json_check: what is refused, where, and why. */
static void refused(apr_pool_t *p, const char *text, apr_size_t len,
                    apr_size_t offset, const char *reason)
{
    llm_json_check_t c;
    int rv = llm_json_check(p, text, len, 0, &c);

    ok(rv < 0 && c.offset == offset && c.reason && !strcmp(c.reason, reason),
       apr_psprintf(p, "refused at %" APR_SIZE_T_FMT " (%s): %s", offset,
                    reason, text));
    if (rv == 0 || c.offset != offset) {
        printf("#   got %d at %" APR_SIZE_T_FMT ": %s\n", rv, c.offset,
               c.reason ? c.reason : "-");
    }
}

#define REFUSED(text, offset, reason) \
    refused(p, text, sizeof(text) - 1, offset, reason)

static void test_check_refuses(apr_pool_t *p)
{
    REFUSED("{\"a\":NaN}", 5, "an unexpected character");
    REFUSED("{\"a\":Infinity}", 5, "an unexpected character");
    REFUSED("{\"a\":-Infinity}", 5, "an invalid number");
    REFUSED("{/*c*/\"a\":1}", 1, "a quoted key expected");
    REFUSED("{'a':1}", 1, "a quoted key expected");
    REFUSED("{\"a\":1,}", 7, "a quoted key expected");
    REFUSED("[1,]", 3, "an unexpected character");
    REFUSED("{\"a\":01}", 5, "an invalid number");
    REFUSED("{\"a\":1.}", 7, "an invalid number");
    REFUSED("{\"a\":\"\xff\"}", 6, "invalid UTF-8");
    REFUSED("{\"a\":\"\xc0\xaf\"}", 6, "invalid UTF-8");       /* overlong */
    REFUSED("{\"a\":\"\xed\xa0\x80\"}", 6, "invalid UTF-8");   /* surrogate */
    REFUSED("{\"a\":\"\xf4\x90\x80\x80\"}", 6, "invalid UTF-8");
    REFUSED("{\"a\":\"\xe2\x82\"}", 6, "invalid UTF-8");        /* cut */
    REFUSED("{\"model\\u0000zz\":1}", 7, "an object key contains NUL (\\u0000)");
    REFUSED("{\"a\":\"\\ud800\"}", 6, "a lone high surrogate escape");
    REFUSED("{\"a\":\"\\udc00\"}", 6, "a lone low surrogate escape");
    REFUSED("{\"a\":\"\\ud800\\u0041\"}", 6, "a lone high surrogate escape");
    REFUSED("{\"a\":\"\\x41\"}", 6, "an invalid escape in a string");
    REFUSED("{\"a\":\"\\u12G4\"}", 8, "a \\u escape needs four hex digits");
    REFUSED("{\"a\":\"tab\there\"}", 9, "a control character in a string");
    REFUSED("{\"a\":1} x", 8, "text after the value");
    REFUSED("{\"a\":1", 6, "unexpected end of input");
    REFUSED("{\"a\":\"x", 7, "unexpected end of input in a string");
    REFUSED("", 0, "unexpected end of input");
    REFUSED("{\"a\" 1}", 5, "':' expected after a key");
    REFUSED("[1 2]", 3, "',' or ']' expected");
    REFUSED("{\"a\":tru}", 5, "an unexpected character");
    REFUSED("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
            31, "nested too deeply");                  /* json-c's limit */
    REFUSED("{\"a\":\"x\0y\"}", 7, "a control character in a string");
}

static void test_check_accepts(apr_pool_t *p)
{
    static const char *good[] = {
        "{}", " [ ] ", "{\"a\":[1,-2.5e+3,0,-0,1E2,true,false,null,\"\"]}",
        "{\"a\":\"\\u00e9\\ud83d\\ude00 \xc3\xa9 \xe2\x82\xac "
        "\xf0\x9f\x98\x80 \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}",
        "{\"a\":\"x\\u0000y\"}", "\"top\"", "12",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        NULL
    };
    llm_json_check_t c;
    int i;

    for (i = 0; good[i]; i++) {
        ok(llm_json_check(p, good[i], strlen(good[i]), 0, &c) == 0,
           apr_psprintf(p, "accepted: %s", good[i]));
    }
    llm_json_check(p, good[2], strlen(good[2]), 0, &c);
    is_int(c.members, 1, "members counted");
    ok(llm_json_check(p, "[{},{},{}]", 10, 3, &c) == 0 && c.objects == 3,
       "objects counted, up to the limit");
    ok(llm_json_check(p, "[{},{},{},{}]", 13, 3, &c) < 0 && c.offset == 10
       && !strcmp(c.reason, "too many JSON objects"),
       "one more: refused where it opens");
}

/* Parsed by json-c after the check, as llm_request_parse does. */
static json_object *strict(apr_pool_t *p, const char *text, int *settled)
{
    llm_json_check_t c;
    json_object *o;

    if (llm_json_check(p, text, strlen(text), 0, &c) < 0) {
        return NULL;
    }
    o = llm_json_parse(text, strlen(text));
    *settled = llm_json_settle(o, &c);
    return o;
}

static void test_settle(apr_pool_t *p)
{
    int settled;
    apr_size_t len;
    json_object *o;

    o = strict(p, "{\"a\":99999999999999999999,\"b\":[1,-99999999999999999999"
               ",18446744073709551615,-9223372036854775808,"
               "18446744073709551616],\"c\":{\"d\":123456789012345678901234}}",
               &settled);
    is_str(llm_json_dump(o, &len),
           "{\"a\":99999999999999999999,\"b\":[1,-99999999999999999999,"
           "18446744073709551615,-9223372036854775808,18446744073709551616],"
           "\"c\":{\"d\":123456789012345678901234}}",
           "integers beyond 64 bits forwarded as written");
    ok(settled == 0, "no duplicate");
    ok(!llm_json_is(llm_json_get(o, "a"), json_type_int),
       "a big integer is no int for the gateway (range checks refuse it)");
    json_object_put(o);
    o = strict(p, "{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", &settled);
    ok(settled < 0, "a key repeated through an escape: refused");
    json_object_put(o);
    o = strict(p, "[{\"x\":1,\"y\":{\"x\":2}},{\"x\":3,\"x\":4}]", &settled);
    ok(settled < 0, "a repeated key in a nested object: refused");
    json_object_put(o);
    o = strict(p, "[{\"x\":1,\"y\":{\"x\":2}},{\"x\":3}]", &settled);
    ok(settled == 0, "the same key in different objects: fine");
    json_object_put(o);
}

/* Linear time: the check of n bytes of the worst shapes costs O(n). */
static void test_check_linear(apr_pool_t *p)
{
    static const char *unit[] = { "[", "\"\\u00e9\",", "1,", "{\"k\":1},",
                                  "\"\xf0\x9f\x98\x80\"," };
    int u;

    for (u = 0; u < 5; u++) {
        apr_size_t n = 1u << 20;
        char *big = apr_palloc(p, n + 8);
        apr_size_t ul = strlen(unit[u]);
        apr_size_t i;
        llm_json_check_t c;
        clock_t t0;
        double small_t, large_t;

        for (i = 0; i + ul < n; i += ul) {
            memcpy(big + i, unit[u], ul);
        }
        t0 = clock();
        llm_json_check(p, big, i / 4, 0, &c);
        small_t = (double)(clock() - t0);
        t0 = clock();
        llm_json_check(p, big, i, 0, &c);
        large_t = (double)(clock() - t0);
        ok(large_t <= 6 * small_t + CLOCKS_PER_SEC / 100,
           apr_psprintf(p, "1 MiB of '%s' checked in linear time", unit[u]));
    }
}

static void test_trim(apr_pool_t *p)
{
    is_str(llm_str_trim(p, " \t a b \n"), "a b", "trimmed both ends");
    is_str(llm_str_trim(p, "  "), "", "only space: empty");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_parse();
    test_parse_locale();
    test_parse_ex();
    test_lookups();
    test_build(p);
    test_buf(p);
    test_check_refuses(p);
    test_check_accepts(p);
    test_settle(p);
    test_check_linear(p);
    test_trim(p);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
