/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_redis.h
 * @brief Provider state shared by many httpd nodes through Redis: the
 *        selection scripts (Lua, run atomically by Redis) and their
 *        releases. APR + hiredis only: no httpd.
 *
 * Keys, all under a configurable prefix, all with a TTL so that nothing
 * a crashed node held outlives it for long:
 *   <prefix>sel:<model>                 hash provider id -> times chosen
 *   <prefix>last:<model>                hash provider id -> last release (s)
 *   <prefix>lock:<model>:<provider id>  first_available: the holder's token
 *   <prefix>lease:<model>:<provider id> least_inflight: zset token -> expiry
 */

#ifndef LLM_REDIS_H
#define LLM_REDIS_H

#include "apr_pools.h"
#include "apr_time.h"

struct redisContext;

typedef struct llm_redis_target {
    const char *host;          /**< host name, or a unix socket path */
    const char *user;          /**< AUTH user (Redis 6 ACL), NULL: none */
    const char *password;      /**< AUTH password, NULL: no AUTH; never
                                    in a log or an error */
    int port;                  /**< 0 for a unix socket */
    int db;                    /**< SELECT this database (0: none) */
    const char *prefix;        /**< key prefix, e.g. "llm:" */
    apr_interval_time_t timeout;   /**< connect and command timeout */
    apr_interval_time_t lock_ttl;  /**< locks and leases */
    apr_interval_time_t count_ttl; /**< counters, refreshed by use */
} llm_redis_target_t;

#define LLM_REDIS_DEFAULT_PORT      6379
#define LLM_REDIS_DEFAULT_PREFIX    "llm:"
#define LLM_REDIS_DEFAULT_TIMEOUT   apr_time_from_msec(200)
#define LLM_REDIS_DEFAULT_LOCK_TTL  apr_time_from_sec(300)
#define LLM_REDIS_DEFAULT_COUNT_TTL apr_time_from_sec(86400)

/**
 * Parse "host[:port][/db]", "redis://[[user]:password@]host[:port][/db]"
 * (user and password percent-encoded, as in a URL) or
 * "unix:/path[?db=N]" into @a t (other fields untouched). Returns NULL
 * or an error message (never holding the password).
 */
const char *llm_redis_parse_target(apr_pool_t *p, const char *arg,
                                   llm_redis_target_t *t);

/** @a arg as llm_redis_parse_target reads it, with the password of a
 *  redis:// URL replaced by "***": what logs and pages may show. */
const char *llm_redis_redact(apr_pool_t *p, const char *arg);

/** A connection, or NULL with @a *err set (static or from @a p). */
struct redisContext *llm_redis_connect(apr_pool_t *p,
                                       const llm_redis_target_t *t,
                                       const char **err);

void llm_redis_close(struct redisContext *c);

/*
 * The selections. Each returns APR_SUCCESS with @a *chosen the index in
 * @a ids (-1: none may be used now), or an error: APR_ECONNRESET when the
 * connection is broken (drop it: the caller falls back to local state),
 * APR_EGENERAL when Redis refused the command (@a *err says why).
 */

/** Least (times chosen + 1) / weight, counted as chosen: "balanced"
 *  (all weights 1), "weighted", "dynamic_weighted". */
apr_status_t llm_redis_stride(struct redisContext *c,
                              const llm_redis_target_t *t, apr_pool_t *p,
                              const char *model, const char *const *ids,
                              const double *weights, int n, int *chosen,
                              const char **err);

/** The first provider whose lock is free, locked with @a token for
 *  lock_ttl ("first_available"); with @a warmest, the free one released
 *  most recently ("first_available_optim"). */
apr_status_t llm_redis_lock_first(struct redisContext *c,
                                  const llm_redis_target_t *t, apr_pool_t *p,
                                  const char *model, const char *const *ids,
                                  int n, int warmest, const char *token,
                                  int *chosen, const char **err);

/** Give a lock back if @a token still holds it, and note the time. */
apr_status_t llm_redis_unlock(struct redisContext *c,
                              const llm_redis_target_t *t, apr_pool_t *p,
                              const char *model, const char *id,
                              const char *token, const char **err);

/** The provider with the fewest live leases, leased with @a token
 *  ("least_inflight"). */
apr_status_t llm_redis_lease_least(struct redisContext *c,
                                   const llm_redis_target_t *t, apr_pool_t *p,
                                   const char *model, const char *const *ids,
                                   int n, const char *token, int *chosen,
                                   const char **err);

apr_status_t llm_redis_unlease(struct redisContext *c,
                               const llm_redis_target_t *t, apr_pool_t *p,
                               const char *model, const char *id,
                               const char *token, const char **err);

#endif /* LLM_REDIS_H */
