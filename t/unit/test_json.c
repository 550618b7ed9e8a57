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
    llm_json_own(sub, o);
    apr_pool_destroy(sub);      /* released it: ASan would see a leak */
    ok(1, "owned by a pool");
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
    test_trim(p);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
