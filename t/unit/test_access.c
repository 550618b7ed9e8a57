/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* mod_llm_access's engine: key generation, the key file (parse, save,
 * parse again), every verdict of a presented key, permissions of
 * routes, model patterns and limits' notation. */

#include <string.h>
#include <unistd.h>
#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_lib.h"

#include "tap.h"
#include "llm_access.h"

static const char *record(apr_pool_t *p, const char *id, const char *key,
                          const char *extra)
{
    char hex[LLM_CORE_SHA256_HEX];

    llm_access_key_hash(key, strlen(key), hex);
    return apr_psprintf(p, "{\"id\":\"%s\",\"hash\":\"%s\"%s%s}", id, hex,
                        *extra ? "," : "", extra);
}

static llm_access_store_t *store_of(apr_pool_t *p, const char *records)
{
    llm_access_store_t *s;
    const char *json = apr_pstrcat(p, "{\"keys\":[", records, "]}", NULL);
    const char *why = llm_access_store_parse(p, "keys.json", json,
                                             strlen(json), &s);

    if (why) {
        printf("# %s\n", why);
    }
    return why ? NULL : s;
}

static const char *parse_error(apr_pool_t *p, const char *json)
{
    llm_access_store_t *s;
    const char *why = llm_access_store_parse(p, "f", json, strlen(json), &s);

    return why ? why : "";
}

static void test_generate(apr_pool_t *p)
{
    char *a = llm_access_key_generate(p), *b = llm_access_key_generate(p);
    apr_size_t i, good = 0;

    ok(a && strlen(a) == LLM_ACCESS_KEY_LEN, "a key has 55 characters");
    ok(a && !strncmp(a, LLM_ACCESS_KEY_PREFIX, 7), "it starts sk-llm-");
    for (i = 7; a && i < LLM_ACCESS_KEY_LEN; i++) {
        good += apr_isalnum(a[i]) ? 1 : 0;
    }
    is_int(good, LLM_ACCESS_KEY_RANDOM, "48 characters of [A-Za-z0-9]");
    ok(a && b && strcmp(a, b), "two keys differ");
}

static void test_verdicts(apr_pool_t *p)
{
    apr_time_t now = apr_time_from_sec(2000000000);
    const llm_access_key_t *k;
    llm_access_store_t *s = store_of(p, apr_pstrcat(p,
        record(p, "good", "sk-llm-good", ""), ",",
        record(p, "off", "sk-llm-off", "\"active\":false"), ",",
        record(p, "old", "sk-llm-old", "\"expires\":1999999999"), ",",
        record(p, "rot-in", "sk-llm-rot-in",
               "\"rotated_to\":\"good\",\"grace_until\":2000000100"), ",",
        record(p, "rot-out", "sk-llm-rot-out",
               "\"rotated_to\":\"good\",\"grace_until\":1999999000"),
        NULL));

    ok(s != NULL, "a store of five keys parses");
    if (!s) {
        return;
    }
    is_int(llm_access_check(s, "sk-llm-good", 11, now, &k), LLM_KEY_OK,
           "a good key is OK");
    is_str(k ? k->id : "", "good", "and found by its hash");
    is_int(llm_access_check(s, "sk-llm-goo", 10, now, &k), LLM_KEY_INVALID,
           "a prefix of it is invalid");
    ok(k == NULL, "and names no record");
    is_int(llm_access_check(s, NULL, 0, now, &k), LLM_KEY_MISSING,
           "no key is missing");
    is_int(llm_access_check(s, "sk-llm-off", 10, now, &k), LLM_KEY_INACTIVE,
           "a disabled key is inactive");
    is_int(llm_access_check(s, "sk-llm-old", 10, now, &k), LLM_KEY_EXPIRED,
           "a key past its expiry has expired");
    is_int(llm_access_check(s, "sk-llm-rot-in", 13, now, &k), LLM_KEY_OK,
           "a rotated key works within its grace");
    is_int(llm_access_check(s, "sk-llm-rot-out", 14, now, &k),
           LLM_KEY_ROTATED, "and is rotated after it");
    is_str(llm_access_verdict_code(LLM_KEY_ROTATED), "key_rotated",
           "the code the client reads");
}

static void test_file_errors(apr_pool_t *p)
{
    like(parse_error(p, "[]"), "not a key file", "an array is no key file");
    like(parse_error(p, "{\"keys\":[{\"id\":\"a b\",\"hash\":\"x\"}]}"),
         "key 1 (id ?): id:", "an id with a space is refused");
    like(parse_error(p, "{\"keys\":[{\"id\":\"a\",\"hash\":\"ab\"}]}"),
         "hash:", "a short hash is refused");
    like(parse_error(p, apr_pstrcat(p, "{\"keys\":[",
                                    record(p, "a", "k1", ""), ",",
                                    record(p, "a", "k2", ""), "]}", NULL)),
         "key 2 (id a): its id is used twice", "an id used twice");
    like(parse_error(p, apr_pstrcat(p, "{\"keys\":[",
                                    record(p, "a", "k1", "\"permissions\":"
                                           "[\"root\"]"), "]}", NULL)),
         "permissions:", "an unknown permission");
    like(parse_error(p, apr_pstrcat(p, "{\"keys\":[",
                                    record(p, "a", "k1", "\"limits\":"
                                           "{\"requests\":\"9/fortnight\"}"),
                                    "]}", NULL)),
         "limits: requests:", "an unknown window");
    like(parse_error(p, "{\"keys\":[] } x"), "not JSON", "trailing text");
}

static void test_save_roundtrip(apr_pool_t *p)
{
    llm_access_store_t *s = store_of(p, record(p, "team-a", "sk-llm-x",
        "\"permissions\":[\"chat\",\"admin\"],\"models\":[\"gpt-*\"],"
        "\"limits\":{\"requests\":\"60/min\",\"tokens\":\"100k/hour\","
        "\"budget\":\"5M/month\"},"
        "\"expires\":2100000000,\"metadata\":{\"owner\":\"A\"}"));
    llm_access_store_t *again;
    const llm_access_key_t *k;
    char path[] = "/tmp/test_access.XXXXXX";
    int fd = mkstemp(path);

    ok(s && fd >= 0, "a store to save");
    if (!s || fd < 0) {
        return;
    }
    close(fd);
    s->path = path;
    is_str(llm_access_store_save(p, s), NULL, "saved");
    is_str(llm_access_store_load(p, path, &again), NULL, "and read again");
    k = again ? apr_hash_get(again->by_id, "team-a", APR_HASH_KEY_STRING)
              : NULL;
    ok(k && k->perms == (LLM_PERM_CHAT | LLM_PERM_ADMIN),
       "its permissions kept");
    ok(k && k->models->nelts == 1 && k->requests.count == 60
       && k->requests.window == apr_time_from_sec(60)
       && k->tokens.count == 100000 && k->budget.count == 5000000
       && k->budget.period == LLM_PERIOD_MONTH, "its models and limits kept");
    ok(k && k->expires == apr_time_from_sec(2100000000)
       && k->metadata && strstr(k->metadata, "owner"),
       "its expiry and metadata kept");
    unlink(path);
}

static void test_policy(void)
{
    apr_pool_t *p;
    apr_array_header_t *globs;
    llm_access_rate_t r;

    apr_pool_create(&p, NULL);
    globs = apr_array_make(p, 2, sizeof(const char *));
    is_int(llm_access_route_perm(1, LLM_DIALECT_OPENAI, LLM_OP_CHAT,
                                 LLM_BUILTIN_NONE), LLM_PERM_CHAT,
           "/v1/chat/completions needs chat");
    is_int(llm_access_route_perm(1, LLM_DIALECT_OPENAI, LLM_OP_EMBEDDINGS,
                                 LLM_BUILTIN_NONE), LLM_PERM_EMBEDDING,
           "/v1/embeddings needs embedding");
    is_int(llm_access_route_perm(1, LLM_DIALECT_ANTHROPIC, LLM_OP_MESSAGES,
                                 LLM_BUILTIN_NONE), LLM_PERM_ANTHROPIC,
           "/v1/messages needs anthropic");
    is_int(llm_access_route_perm(1, LLM_DIALECT_OLLAMA, LLM_OP_CHAT,
                                 LLM_BUILTIN_NONE), LLM_PERM_OLLAMA,
           "/api/chat needs ollama");
    is_int(llm_access_route_perm(1, LLM_DIALECT_BUILTIN, LLM_OP_CHAT,
                                 LLM_BUILTIN_TRANSLATE), LLM_PERM_BUILTIN,
           "/api/translate needs builtin");
    is_int(llm_access_route_perm(0, 0, 0, 0), LLM_PERM_ADMIN,
           "what is not an LLM route needs admin");
    ok(llm_access_perm_allows(LLM_PERM_ADMIN, LLM_PERM_OLLAMA),
       "admin allows everything");
    ok(!llm_access_perm_allows(LLM_PERM_CHAT, LLM_PERM_EMBEDDING),
       "chat does not allow embedding");
    ok(llm_access_model_matches(globs, "anything"), "no patterns: any model");
    APR_ARRAY_PUSH(globs, const char *) = "gpt-4o*";
    APR_ARRAY_PUSH(globs, const char *) = "mock-chat";
    ok(llm_access_model_matches(globs, "gpt-4o-mini"), "a glob matches");
    ok(llm_access_model_matches(globs, "mock-chat"), "an exact name matches");
    ok(!llm_access_model_matches(globs, "mock"),
       "a substring does not (the original's bug)");
    ok(!llm_access_model_matches(globs, "xgpt-4o"), "globs are anchored");
    ok(!llm_access_rate_parse("100k/hour", &r) && r.count == 100000
       && r.window == apr_time_from_sec(3600), "100k/hour");
    ok(!llm_access_rate_parse("5/10s", &r) && r.count == 5
       && r.window == apr_time_from_sec(10), "5/10s");
    ok(llm_access_rate_parse("60", &r) != NULL, "60 alone is no limit");
    ok(llm_access_rate_parse("-1/min", &r) != NULL, "nor is -1/min");
    ok(llm_access_rate_parse("9223372036854775807M/min", &r) != NULL,
       "a count that would overflow is refused (found by fuzz_keys)");
    ok(llm_access_rate_parse("1000000000001/min", &r) != NULL,
       "a count above 10^12 is refused");
    apr_pool_destroy(p);
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    test_generate(p);
    test_verdicts(p);
    test_file_errors(p);
    test_save_roundtrip(p);
    test_policy();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
