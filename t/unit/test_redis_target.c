/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* LLMBalanceRedis's target: host, port, database, a unix socket, and
 * redis://[user]:password@ (percent-encoded) — parsed, and redacted for
 * logs so that the password is never shown. */

#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "llm_redis.h"
#include "tap.h"

static apr_pool_t *pool;

static llm_redis_target_t parse(const char *arg, const char **err)
{
    llm_redis_target_t t;

    memset(&t, 0, sizeof(t));
    *err = llm_redis_parse_target(pool, arg, &t);
    return t;
}

static void test_plain(void)
{
    const char *err;
    llm_redis_target_t t = parse("redis.example:6380/2", &err);

    ok(!err && !strcmp(t.host, "redis.example") && t.port == 6380
       && t.db == 2 && !t.password && !t.user, "host:port/db");
    t = parse("redis://10.0.0.1", &err);
    ok(!err && !strcmp(t.host, "10.0.0.1") && t.port == 6379 && !t.password,
       "redis://host: the default port, no AUTH");
    t = parse("unix:/run/redis.sock?db=3", &err);
    ok(!err && t.port == 0 && t.db == 3, "a unix socket");
}

static void test_password(void)
{
    const char *err;
    llm_redis_target_t t = parse("redis://:s3cret@redis:6379/1", &err);

    ok(!err && !strcmp(t.host, "redis") && t.port == 6379 && t.db == 1
       && !t.user && t.password && !strcmp(t.password, "s3cret"),
       "redis://:password@host:port/db: AUTH password");
    t = parse("redis://app:p%40ss%2Fw%3Ard@redis", &err);
    ok(!err && !strcmp(t.host, "redis") && t.user && !strcmp(t.user, "app")
       && !strcmp(t.password, "p@ss/w:rd"),
       "user and password percent-decoded ('@', '/', ':' in them)");
    t = parse("redis://:a@b@redis:7000", &err);
    ok(!err && !strcmp(t.host, "redis") && t.port == 7000
       && !strcmp(t.password, "a@b"), "the last '@' ends the password");
    parse("redis://nocolon@redis", &err);
    ok(err && !strstr(err, "nocolon"), "no ':' before the password: said, "
       "without it");
    parse("redis://:bad%zz@redis", &err);
    ok(err != NULL, "a broken %-escape is an error");
}

static void test_redact(void)
{
    is_str(llm_redis_redact(pool, "redis://:s3cret@redis:6379/1"),
           "redis://:***@redis:6379/1", "the password redacted");
    is_str(llm_redis_redact(pool, "redis://app:s3cret@redis"),
           "redis://app:***@redis", "the user kept, the password not");
    is_str(llm_redis_redact(pool, "redis:6379/0"), "redis:6379/0",
           "no password: as given");
    ok(!strstr(llm_redis_redact(pool, "redis://:a@b@redis"), "a@b"),
       "a password holding '@' redacted whole");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_plain();
    test_password();
    test_redact();
    apr_pool_destroy(pool);
    return tap_done();
}
