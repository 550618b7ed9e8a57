/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The Redis side of provider selection. Every decision that must hold
 * across nodes (who is least used, who holds a provider) is one Lua
 * script, which Redis runs atomically: no read-then-write race between
 * nodes, one round trip per choice. Scripts go by EVALSHA; a server
 * that has not seen one yet (NOSCRIPT, e.g. after its restart) gets the
 * text once through EVAL.
 */

#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "apr_lib.h"
#include "apr_sha1.h"
#include "apr_strings.h"

#include <hiredis/hiredis.h>

#include "llm_redis.h"

/* KEYS[1] counts hash; ARGV[1] ttl ms, then id, weight pairs. The
 * smallest (count + 1) / weight wins, ties to the earliest; weight 0
 * never. */
static const char stride_lua[] =
    "local best, score = -1, 0\n"
    "for i = 2, #ARGV - 1, 2 do\n"
    "  local w = tonumber(ARGV[i + 1])\n"
    "  if w > 0 then\n"
    "    local c = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')\n"
    "    local s = (c + 1) / w\n"
    "    if best < 0 or s < score then best, score = i, s end\n"
    "  end\n"
    "end\n"
    "if best < 0 then return -1 end\n"
    "redis.call('HINCRBY', KEYS[1], ARGV[best], 1)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "return (best - 2) / 2\n";

/* KEYS[1..n] locks, KEYS[n+1] last-release hash; ARGV[1] token, ARGV[2]
 * ttl ms, ARGV[3] "1" for the warmest first, ARGV[4..] ids. */
static const char lock_first_lua[] =
    "local n = #KEYS - 1\n"
    "local order = {}\n"
    "for i = 1, n do order[i] = i end\n"
    "if ARGV[3] == '1' then\n"
    "  local last = {}\n"
    "  for i = 1, n do\n"
    "    last[i] = tonumber(redis.call('HGET', KEYS[n + 1], ARGV[3 + i])"
    " or '0')\n"
    "  end\n"
    "  table.sort(order, function(a, b)\n"
    "    if last[a] ~= last[b] then return last[a] > last[b] end\n"
    "    return a < b end)\n"
    "end\n"
    "for _, i in ipairs(order) do\n"
    "  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "    return i - 1\n"
    "  end\n"
    "end\n"
    "return -1\n";

/* KEYS[1] lock, KEYS[2] last-release hash; ARGV token, id, ttl ms. */
static const char unlock_lua[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "redis.call('HSET', KEYS[2], ARGV[2], redis.call('TIME')[1])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
    "return 1\n";

/* KEYS[1..n] lease sets; ARGV[1] token, ARGV[2] ttl ms. Expired leases
 * (a node died holding them) are dropped before counting. */
static const char lease_least_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"
    "local best, fewest = -1, 0\n"
    "for i = 1, #KEYS do\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)\n"
    "  local c = redis.call('ZCARD', KEYS[i])\n"
    "  if best < 0 or c < fewest then best, fewest = i, c end\n"
    "end\n"
    "redis.call('ZADD', KEYS[best], now + tonumber(ARGV[2]), ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[best], ARGV[2])\n"
    "return best - 1\n";

typedef struct {
    const char *text;
    char sha[APR_SHA1_DIGESTSIZE * 2 + 1];
} script_t;

static script_t stride_script = { stride_lua, "" };
static script_t lock_first_script = { lock_first_lua, "" };
static script_t unlock_script = { unlock_lua, "" };
static script_t lease_least_script = { lease_least_lua, "" };

/* The hex SHA-1 Redis names a script by. Computed on first use; racing
 * threads write the same bytes. */
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
        memcpy(s->sha, hex, sizeof(hex));
    }
    return s->sha;
}

static struct timeval to_timeval(apr_interval_time_t t)
{
    struct timeval tv;

    tv.tv_sec = (long)apr_time_sec(t);
    tv.tv_usec = (long)apr_time_usec(t);
    return tv;
}

/* %XX in place; 0 when an escape is not two hex digits. */
static int percent_decode(char *s)
{
    char *out = s;

    for (; *s; s++) {
        if (*s != '%') {
            *out++ = *s;
            continue;
        }
        if (!apr_isxdigit(s[1]) || !apr_isxdigit(s[2])) {
            return 0;
        }
        *out++ = (char)((apr_isdigit(s[1]) ? s[1] - '0'
                         : (s[1] | 0x20) - 'a' + 10) * 16
                        + (apr_isdigit(s[2]) ? s[2] - '0'
                           : (s[2] | 0x20) - 'a' + 10));
        s += 2;
    }
    *out = '\0';
    return 1;
}

/* "[user]:password@" at the start of @a *s (a redis:// URL's rest):
 * into t->user and t->password, *s moved past it. */
static const char *parse_userinfo(char **s, llm_redis_target_t *t)
{
    char *at = strrchr(*s, '@');
    char *slash = strchr(*s, '/');
    char *colon;

    if (!at || (slash && slash < at)) {
        return NULL;
    }
    *at = '\0';
    colon = strchr(*s, ':');
    if (!colon) {
        return "the password goes after a ':' (redis://:password@host)";
    }
    *colon = '\0';
    if (!percent_decode(*s) || !percent_decode(colon + 1)) {
        return "a '%' in the user or password must be followed by two "
               "hex digits";
    }
    t->user = **s ? *s : NULL;
    t->password = colon + 1;
    *s = at + 1;
    return NULL;
}

const char *llm_redis_redact(apr_pool_t *p, const char *arg)
{
    const char *rest = arg + 8;
    const char *at = strrchr(rest, '@');
    const char *slash = strchr(rest, '/');
    const char *colon;

    if (strncmp(arg, "redis://", 8) || !at || (slash && slash < at)) {
        return apr_pstrdup(p, arg);
    }
    colon = memchr(rest, ':', (apr_size_t)(at - rest));
    return apr_pstrcat(p, "redis://",
                       apr_pstrmemdup(p, rest, colon ? (apr_size_t)(colon - rest)
                                                     : 0),
                       ":***", at, NULL);
}

const char *llm_redis_parse_target(apr_pool_t *p, const char *arg,
                                   llm_redis_target_t *t)
{
    char *s = apr_pstrdup(p, arg);
    char *slash;
    char *colon;
    const char *why;

    t->db = 0;
    t->user = t->password = NULL;
    if (!strncmp(s, "unix:", 5)) {
        char *q = strstr(s + 5, "?db=");

        if (q) {
            t->db = atoi(q + 4);
            *q = '\0';
        }
        t->host = s + 5;
        t->port = 0;
        return t->host[0] == '/' ? NULL
               : "a unix socket must be an absolute path (unix:/run/r.sock)";
    }
    if (!strncmp(s, "redis://", 8)) {
        s += 8;
        if ((why = parse_userinfo(&s, t)) != NULL) {
            return why;
        }
    }
    if ((slash = strchr(s, '/')) != NULL) {
        char *end;

        *slash = '\0';
        t->db = (int)strtol(slash + 1, &end, 10);
        if (*end || t->db < 0) {
            return "the database after '/' must be a number";
        }
    }
    t->port = LLM_REDIS_DEFAULT_PORT;
    if ((colon = strrchr(s, ':')) != NULL) {
        char *end;

        *colon = '\0';
        t->port = (int)strtol(colon + 1, &end, 10);
        if (*end || t->port < 1 || t->port > 65535) {
            return "the port must be a number from 1 to 65535";
        }
    }
    if (!*s) {
        return "no host given";
    }
    t->host = s;
    return NULL;
}

/* AUTH [user] password: 1 when Redis took it. The error said is
 * Redis's, which never repeats the password. */
static int authenticate(apr_pool_t *p, redisContext *c,
                        const llm_redis_target_t *t, const char **err)
{
    redisReply *rep = t->user
        ? redisCommand(c, "AUTH %s %s", t->user, t->password)
        : redisCommand(c, "AUTH %s", t->password);
    int good = rep && rep->type != REDIS_REPLY_ERROR;

    if (!good) {
        *err = apr_pstrcat(p, "AUTH refused: ",
                           rep ? rep->str : c->errstr, NULL);
    }
    if (rep) {
        freeReplyObject(rep);
    }
    return good;
}

redisContext *llm_redis_connect(apr_pool_t *p, const llm_redis_target_t *t,
                                const char **err)
{
    struct timeval tv = to_timeval(t->timeout);
    redisContext *c = t->port ? redisConnectWithTimeout(t->host, t->port, tv)
                              : redisConnectUnixWithTimeout(t->host, tv);

    if (!c) {
        *err = "out of memory";
        return NULL;
    }
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        *err = apr_pstrdup(p, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (t->password && !authenticate(p, c, t, err)) {
        redisFree(c);
        return NULL;
    }
    if (t->db > 0) {
        redisReply *rep = redisCommand(c, "SELECT %d", t->db);
        int bad = !rep || rep->type == REDIS_REPLY_ERROR;

        if (bad) {
            *err = rep ? apr_pstrdup(p, rep->str) : apr_pstrdup(p, c->errstr);
        }
        if (rep) {
            freeReplyObject(rep);
        }
        if (bad) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

void llm_redis_close(redisContext *c)
{
    if (c) {
        redisFree(c);
    }
}

/* Run a script: argv[0..2] are left for EVALSHA sha numkeys. */
static apr_status_t run_script(redisContext *c, script_t *s, apr_pool_t *p,
                               int argc, const char **argv, size_t *len,
                               long long *result, const char **err)
{
    redisReply *rep;
    apr_status_t rv = APR_SUCCESS;
    int tries;

    argv[0] = "EVALSHA";
    argv[1] = script_sha(s);
    for (tries = 0; tries < 2; tries++) {
        int i;

        for (i = 0; i < 2; i++) {
            len[i] = strlen(argv[i]);
        }
        rep = redisCommandArgv(c, argc, argv, len);
        if (!rep) {
            *err = apr_pstrdup(p, c->errstr);
            return APR_ECONNRESET;
        }
        if (rep->type == REDIS_REPLY_ERROR && tries == 0
            && !strncmp(rep->str, "NOSCRIPT", 8)) {
            /* The server has not seen it (or was restarted): send it
             * once in full; Redis then knows it by its SHA-1. */
            freeReplyObject(rep);
            argv[0] = "EVAL";
            argv[1] = s->text;
            continue;
        }
        break;
    }
    if (rep->type == REDIS_REPLY_INTEGER) {
        *result = rep->integer;
    }
    else {
        *err = apr_pstrdup(p, rep->type == REDIS_REPLY_ERROR ? rep->str
                              : "unexpected reply to a selection script");
        rv = APR_EGENERAL;
    }
    freeReplyObject(rep);
    return rv;
}

static const char *ms(apr_pool_t *p, apr_interval_time_t t)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT,
                        (apr_int64_t)apr_time_as_msec(t) + (t % 1000 ? 1 : 0));
}

static apr_status_t chosen_index(apr_status_t rv, long long got, int n,
                                 int *chosen)
{
    *chosen = rv == APR_SUCCESS && got >= 0 && got < n ? (int)got : -1;
    return rv;
}

apr_status_t llm_redis_stride(redisContext *c, const llm_redis_target_t *t,
                              apr_pool_t *p, const char *model,
                              const char *const *ids, const double *weights,
                              int n, int *chosen, const char **err)
{
    int argc = 5 + 2 * n;
    const char **argv = apr_palloc(p, sizeof(*argv) * argc);
    size_t *len = apr_palloc(p, sizeof(*len) * argc);
    long long got = -1;
    apr_status_t rv;
    int i;

    argv[2] = "1";
    argv[3] = apr_pstrcat(p, t->prefix, "sel:", model, NULL);
    argv[4] = ms(p, t->count_ttl);
    for (i = 0; i < n; i++) {
        argv[5 + 2 * i] = ids[i];
        argv[6 + 2 * i] = apr_psprintf(p, "%.6f", weights ? weights[i] : 1.0);
    }
    for (i = 2; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }
    rv = run_script(c, &stride_script, p, argc, argv, len, &got, err);
    return chosen_index(rv, got, n, chosen);
}

static const char *lock_key(apr_pool_t *p, const llm_redis_target_t *t,
                            const char *model, const char *id)
{
    return apr_pstrcat(p, t->prefix, "lock:", model, ":", id, NULL);
}

apr_status_t llm_redis_lock_first(redisContext *c,
                                  const llm_redis_target_t *t, apr_pool_t *p,
                                  const char *model, const char *const *ids,
                                  int n, int warmest, const char *token,
                                  int *chosen, const char **err)
{
    int argc = 3 + (n + 1) + 3 + n;
    const char **argv = apr_palloc(p, sizeof(*argv) * argc);
    size_t *len = apr_palloc(p, sizeof(*len) * argc);
    long long got = -1;
    apr_status_t rv;
    int i;

    argv[2] = apr_itoa(p, n + 1);
    for (i = 0; i < n; i++) {
        argv[3 + i] = lock_key(p, t, model, ids[i]);
        argv[3 + n + 1 + 3 + i] = ids[i];
    }
    argv[3 + n] = apr_pstrcat(p, t->prefix, "last:", model, NULL);
    argv[3 + n + 1] = token;
    argv[3 + n + 2] = ms(p, t->lock_ttl);
    argv[3 + n + 3] = warmest ? "1" : "0";
    for (i = 2; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }
    rv = run_script(c, &lock_first_script, p, argc, argv, len, &got, err);
    return chosen_index(rv, got, n, chosen);
}

apr_status_t llm_redis_unlock(redisContext *c, const llm_redis_target_t *t,
                              apr_pool_t *p, const char *model,
                              const char *id, const char *token,
                              const char **err)
{
    const char *argv[8];
    size_t len[8];
    long long got;
    int i;

    argv[2] = "2";
    argv[3] = lock_key(p, t, model, id);
    argv[4] = apr_pstrcat(p, t->prefix, "last:", model, NULL);
    argv[5] = token;
    argv[6] = id;
    argv[7] = ms(p, t->count_ttl);
    for (i = 2; i < 8; i++) {
        len[i] = strlen(argv[i]);
    }
    return run_script(c, &unlock_script, p, 8, argv, len, &got, err);
}

static const char *lease_key(apr_pool_t *p, const llm_redis_target_t *t,
                             const char *model, const char *id)
{
    return apr_pstrcat(p, t->prefix, "lease:", model, ":", id, NULL);
}

apr_status_t llm_redis_lease_least(redisContext *c,
                                   const llm_redis_target_t *t, apr_pool_t *p,
                                   const char *model, const char *const *ids,
                                   int n, const char *token, int *chosen,
                                   const char **err)
{
    int argc = 3 + n + 2;
    const char **argv = apr_palloc(p, sizeof(*argv) * argc);
    size_t *len = apr_palloc(p, sizeof(*len) * argc);
    long long got = -1;
    apr_status_t rv;
    int i;

    argv[2] = apr_itoa(p, n);
    for (i = 0; i < n; i++) {
        argv[3 + i] = lease_key(p, t, model, ids[i]);
    }
    argv[3 + n] = token;
    argv[4 + n] = ms(p, t->lock_ttl);
    for (i = 2; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }
    rv = run_script(c, &lease_least_script, p, argc, argv, len, &got, err);
    return chosen_index(rv, got, n, chosen);
}

apr_status_t llm_redis_unlease(redisContext *c, const llm_redis_target_t *t,
                               apr_pool_t *p, const char *model,
                               const char *id, const char *token,
                               const char **err)
{
    const char *key = lease_key(p, t, model, id);
    const char *argv[3] = { "ZREM", key, token };
    size_t len[3] = { 4, strlen(key), strlen(token) };
    redisReply *rep = redisCommandArgv(c, 3, argv, len);
    apr_status_t rv = APR_SUCCESS;

    if (!rep) {
        *err = apr_pstrdup(p, c->errstr);
        return APR_ECONNRESET;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        *err = apr_pstrdup(p, rep->str);
        rv = APR_EGENERAL;
    }
    freeReplyObject(rep);
    return rv;
}
