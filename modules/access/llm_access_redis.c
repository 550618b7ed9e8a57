/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Limits shared by several httpd nodes (LLMLimitRedis): the same GCRA
 * as llm_access_limit.c, run as one Lua script in Redis, which runs it
 * atomically: two nodes on one redis-server share one bucket, never N
 * times the limit. Budgets are a counter per period (INCRBY), which
 * expires when its period ends. The clock is Redis's own (TIME), so the nodes' clocks
 * need not agree. A bucket's key expires once it is full again.
 *
 * Scripts go by EVALSHA; a server that has not seen the script yet
 * (NOSCRIPT, e.g. after its restart) gets its text once through EVAL.
 * (mod_llm_balance's llm_redis.c does the same for its scripts; a
 * module cannot link another's engine, so the few lines of connecting
 * are repeated here: they belong in core once a third module needs
 * them.)
 */

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "apr_sha1.h"
#include "apr_strings.h"

#include <hiredis/hiredis.h>

#include "llm_access.h"

/* KEYS[1] the bucket; ARGV[1] T (us), ARGV[2] tolerance N*T (us),
 * ARGV[3] cost, ARGV[4] "take" (refuse when over) or "charge". Returns
 * {allowed, TAT - now, retry after} in microseconds. */
static const char gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if tat < now then tat = now end\n"
    "local nxt = tat + tonumber(ARGV[3]) * tonumber(ARGV[1])\n"
    "local tol = tonumber(ARGV[2])\n"
    "if ARGV[4] == 'take' and nxt - now > tol then\n"
    "  return {0, tat - now, nxt - now - tol}\n"
    "end\n"
    "if nxt > now then\n"
    "  redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX',\n"
    "             math.floor((nxt - now) / 1000) + 1000)\n"
    "end\n"
    "return {1, nxt - now, 0}\n";

/* KEYS[1] the budget's counter (one per period); ARGV[1] tokens to add
 * (0: just read), ARGV[2] the period's end (Unix ms). Returns what the
 * bucket has spent. */
static const char budget_lua[] =
    "local v = tonumber(ARGV[1])\n"
    "if v > 0 then\n"
    "  v = redis.call('INCRBY', KEYS[1], v)\n"
    "  redis.call('PEXPIREAT', KEYS[1], ARGV[2])\n"
    "  return v\n"
    "end\n"
    "return tonumber(redis.call('GET', KEYS[1]) or '0')\n";

typedef struct {
    const char *text;
    char sha[APR_SHA1_DIGESTSIZE * 2 + 1];
} script_t;

static script_t gcra_script = { gcra_lua, "" };
static script_t budget_script = { budget_lua, "" };

static const char *script_sha(script_t *s)
{
    if (!s->sha[0]) {
        unsigned char d[APR_SHA1_DIGESTSIZE];
        char hex[sizeof(s->sha)];
        apr_sha1_ctx_t ctx;
        int i;

        apr_sha1_init(&ctx);
        apr_sha1_update(&ctx, s->text, (unsigned int)strlen(s->text));
        apr_sha1_final(d, &ctx);
        for (i = 0; i < APR_SHA1_DIGESTSIZE; i++) {
            hex[2 * i] = "0123456789abcdef"[d[i] >> 4];
            hex[2 * i + 1] = "0123456789abcdef"[d[i] & 15];
        }
        hex[sizeof(hex) - 1] = '\0';
        memcpy(s->sha, hex, sizeof(hex));   /* racing threads agree */
    }
    return s->sha;
}

const char *llm_access_redis_parse(apr_pool_t *p, const char *arg,
                                   const char **host, int *port)
{
    const char *colon = strrchr(arg, ':');
    char *end;
    long n;

    if (!colon || colon == arg) {
        return "a Redis server is host:port";
    }
    n = strtol(colon + 1, &end, 10);
    if (*end || n <= 0 || n > 65535) {
        return "a Redis server is host:port";
    }
    *host = apr_pstrndup(p, arg, colon - arg);
    *port = (int)n;
    return NULL;
}

struct redisContext *llm_access_redis_connect(const char *host, int port,
                                              apr_interval_time_t timeout,
                                              const char **why)
{
    struct timeval tv;
    redisContext *c;

    tv.tv_sec = (long)apr_time_sec(timeout);
    tv.tv_usec = (long)apr_time_usec(timeout);
    c = redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        *why = c ? "cannot connect" : "no memory";
        if (c) {
            redisFree(c);
        }
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

void llm_access_redis_close(struct redisContext *c)
{
    if (c) {
        redisFree(c);
    }
}

/* @a nargs (at most 4) arguments after the one key. */
static redisReply *run(redisContext *c, script_t *script, const char *key,
                       const char *const *args, int nargs)
{
    const char *argv[8] = { "EVALSHA", script_sha(script), "1", key };
    redisReply *rep;
    int i;

    for (i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
    }
    rep = redisCommandArgv(c, 4 + nargs, argv, NULL);
    if (rep && rep->type == REDIS_REPLY_ERROR
        && !strncmp(rep->str, "NOSCRIPT", 8)) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = script->text;
        rep = redisCommandArgv(c, 4 + nargs, argv, NULL);
    }
    return rep;
}

apr_status_t llm_access_redis_gcra(struct redisContext *c, apr_pool_t *p,
                                   const char *bucket,
                                   const llm_access_rate_t *rate,
                                   apr_int64_t cost, int take,
                                   llm_limit_result_t *res)
{
    apr_int64_t t = llm_limit_spacing(rate), tol = rate->count * t;
    const char *args[4];
    redisReply *rep;
    apr_int64_t ahead;

    args[0] = apr_psprintf(p, "%" APR_INT64_T_FMT, t);
    args[1] = apr_psprintf(p, "%" APR_INT64_T_FMT, tol);
    args[2] = apr_psprintf(p, "%" APR_INT64_T_FMT, cost);
    args[3] = take ? "take" : "charge";
    rep = run(c, &gcra_script, bucket, args, 4);
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3
        || rep->element[0]->type != REDIS_REPLY_INTEGER
        || rep->element[1]->type != REDIS_REPLY_INTEGER
        || rep->element[2]->type != REDIS_REPLY_INTEGER) {
        if (rep) {
            freeReplyObject(rep);
        }
        return APR_EGENERAL;
    }
    res->allowed = rep->element[0]->integer == 1;
    ahead = rep->element[1]->integer;
    res->retry_after = rep->element[2]->integer;
    freeReplyObject(rep);
    res->limit = rate->count;
    res->remaining = ahead < tol ? (tol - ahead) / t : 0;
    res->reset = ahead > 0 ? ahead : 0;
    return APR_SUCCESS;
}

apr_status_t llm_access_redis_budget(struct redisContext *c, apr_pool_t *p,
                                     const char *bucket, apr_int64_t add,
                                     apr_time_t ends, apr_int64_t *spent)
{
    const char *args[2];
    redisReply *rep;

    args[0] = apr_psprintf(p, "%" APR_INT64_T_FMT, add);
    args[1] = apr_psprintf(p, "%" APR_INT64_T_FMT,
                           (apr_int64_t)apr_time_as_msec(ends));
    rep = run(c, &budget_script, bucket, args, 2);
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        if (rep) {
            freeReplyObject(rep);
        }
        return APR_EGENERAL;
    }
    *spent = rep->integer;
    freeReplyObject(rep);
    return APR_SUCCESS;
}

apr_status_t llm_access_redis_key(struct redisContext *c, apr_pool_t *p,
                                  const char *hex, const char **json)
{
    const char *argv[2] = { "GET", apr_pstrcat(p, "llm:key:", hex, NULL) };
    redisReply *rep = redisCommandArgv(c, 2, argv, NULL);

    *json = NULL;
    if (!rep || (rep->type != REDIS_REPLY_STRING
                 && rep->type != REDIS_REPLY_NIL)) {
        if (rep) {
            freeReplyObject(rep);
        }
        return APR_EGENERAL;
    }
    if (rep->type == REDIS_REPLY_STRING) {
        *json = apr_pstrmemdup(p, rep->str, rep->len);
    }
    freeReplyObject(rep);
    return APR_SUCCESS;
}

/* One HSET of every entry: a flush is one command, whatever the number
 * of keys. Each node writes the times it saw; the last flush wins,
 * which is at most a flush interval behind the newest. */
apr_status_t llm_access_redis_used(struct redisContext *c, apr_pool_t *p,
                                   const apr_array_header_t *entries)
{
    int n = 2 + 2 * entries->nelts, i;
    const char **argv = apr_palloc(p, sizeof(*argv) * n);
    redisReply *rep;
    apr_status_t rv;

    argv[0] = "HSET";
    argv[1] = LLM_USED_REDIS_KEY;
    for (i = 0; i < entries->nelts; i++) {
        const llm_used_entry_t *e = &APR_ARRAY_IDX(entries, i,
                                                   llm_used_entry_t);

        argv[2 + 2 * i] = e->hash;
        argv[3 + 2 * i] = apr_psprintf(p, "%u", e->used);
    }
    rep = redisCommandArgv(c, n, argv, NULL);
    rv = rep && rep->type == REDIS_REPLY_INTEGER ? APR_SUCCESS
                                                 : APR_EGENERAL;
    if (rep) {
        freeReplyObject(rep);
    }
    return rv;
}

apr_status_t llm_access_redis_used_all(struct redisContext *c, apr_pool_t *p,
                                       apr_hash_t **out)
{
    redisReply *rep = redisCommand(c, "HGETALL %s", LLM_USED_REDIS_KEY);
    size_t i;

    *out = apr_hash_make(p);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (rep) {
            freeReplyObject(rep);
        }
        return APR_EGENERAL;
    }
    for (i = 0; i + 1 < rep->elements; i += 2) {
        apr_time_t *t = apr_palloc(p, sizeof(*t));

        *t = apr_time_from_sec(apr_atoi64(rep->element[i + 1]->str));
        apr_hash_set(*out, apr_pstrmemdup(p, rep->element[i]->str,
                                          rep->element[i]->len),
                     APR_HASH_KEY_STRING, t);
    }
    freeReplyObject(rep);
    return APR_SUCCESS;
}
