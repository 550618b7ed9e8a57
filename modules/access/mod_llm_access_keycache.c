/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Keys kept in Redis (LLMAccessKeyRedis On), looked up by their hash
 * (llm:key:<sha256 hex>) when the key file does not know them, and
 * remembered per process for LLMAccessKeyCache seconds: that time bounds
 * how long a revoked or changed key keeps working on a node, and how
 * long a new key may still be unknown on a node where it was tried
 * before it existed (answers "no such key" are remembered too, so that
 * guessed keys do not each cost a round trip).
 *
 * The cache holds the records' JSON text, copied out under a mutex and
 * parsed into the request's pool: no request holds memory the cache
 * frees. It is emptied after LLM_KEYCACHE_MAX insertions, which bounds
 * its memory whatever the keys presented.
 */

#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include "mod_llm_access.h"

#define LLM_KEYCACHE_MAX 10000

typedef struct {
    const char *json;                /* NULL: no such key */
    apr_time_t at;
} cached_t;

static apr_pool_t *cache_pool;
static apr_hash_t *cache;
static apr_thread_mutex_t *cache_mutex;
static int inserted;

void llm_access_keycache_init(apr_pool_t *pchild)
{
    apr_pool_create(&cache_pool, pchild);
    cache = apr_hash_make(cache_pool);
    if (apr_thread_mutex_create(&cache_mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS) {
        cache_mutex = NULL;          /* then no cache */
    }
}

/* 1 when @a hex is remembered (its JSON, or NULL for no key, copied
 * into @a p), 0 when Redis must be asked. */
static int cache_get(apr_pool_t *p, const char *hex, apr_interval_time_t ttl,
                     const char **json)
{
    cached_t *c;
    int hit = 0;

    if (!cache_mutex || ttl <= 0) {
        return 0;
    }
    apr_thread_mutex_lock(cache_mutex);
    c = apr_hash_get(cache, hex, APR_HASH_KEY_STRING);
    if (c && apr_time_now() - c->at < ttl) {
        *json = c->json ? apr_pstrdup(p, c->json) : NULL;
        hit = 1;
    }
    apr_thread_mutex_unlock(cache_mutex);
    return hit;
}

static void cache_put(const char *hex, const char *json,
                      apr_interval_time_t ttl)
{
    cached_t *c;

    if (!cache_mutex || ttl <= 0) {
        return;
    }
    apr_thread_mutex_lock(cache_mutex);
    if (++inserted > LLM_KEYCACHE_MAX) {
        apr_pool_clear(cache_pool);
        cache = apr_hash_make(cache_pool);
        inserted = 1;
    }
    c = apr_palloc(cache_pool, sizeof(*c));
    c->json = json ? apr_pstrdup(cache_pool, json) : NULL;
    c->at = apr_time_now();
    apr_hash_set(cache, apr_pstrdup(cache_pool, hex), APR_HASH_KEY_STRING, c);
    apr_thread_mutex_unlock(cache_mutex);
}

/* The record's text: remembered, or from Redis. APR_SUCCESS (*json NULL
 * when there is no such key), or an error when Redis cannot be asked. */
static apr_status_t record_text(request_rec *r,
                                const llm_access_srv_conf_t *sc,
                                const char *hex, const char **json)
{
    apr_interval_time_t ttl = sc->key_cache >= 0 ? sc->key_cache
                                                 : LLM_KEYCACHE_DEFAULT;
    struct redisContext *c;

    if (cache_get(r->pool, hex, ttl, json)) {
        return APR_SUCCESS;
    }
    if (!(c = llm_access_redis_conn(r->server, sc))) {
        return APR_EGENERAL;
    }
    if (llm_access_redis_key(c, r->pool, hex, json) != APR_SUCCESS) {
        llm_access_redis_failed(r->server, sc);
        return APR_EGENERAL;
    }
    llm_access_redis_up(r->server, sc);
    cache_put(hex, *json, ttl);
    return APR_SUCCESS;
}

llm_access_verdict_e llm_access_redis_check(request_rec *r,
                                            const llm_access_srv_conf_t *sc,
                                            const char *key,
                                            const llm_access_key_t **found,
                                            int *unavailable)
{
    char hex[LLM_CORE_SHA256_HEX];
    const char *json;
    llm_access_key_t *k;
    const char *why;

    *found = NULL;
    *unavailable = 0;
    llm_access_key_hash(key, strlen(key), hex);
    if (record_text(r, sc, hex, &json) != APR_SUCCESS) {
        *unavailable = 1;
        return LLM_KEY_INVALID;
    }
    if (!json) {
        return LLM_KEY_INVALID;
    }
    if ((why = llm_access_record_parse(r->pool, json, strlen(json), &k))
        || strcmp(k->hash, hex)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(05013)
                      "the record of key %s in Redis is not usable: %s",
                      k && k->id ? k->id : "?", why ? why
                      : "its hash is not the one it is kept under");
        return LLM_KEY_INVALID;
    }
    *found = k;
    return llm_access_judge(k, apr_time_now());
}
