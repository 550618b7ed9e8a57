/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The connections to LLMLimitRedis (limits, budgets, and keys with
 * LLMAccessKeyRedis On). Each thread keeps its own connection: no lock
 * and no pool on the hot path. A thread that found Redis unreachable
 * tries again after a second; the error log says so once per process,
 * and again when Redis answers.
 */

#include <pthread.h>
#include <stdlib.h>

#include "apr_strings.h"

#include "mod_llm_access.h"

#define REDIS_TIMEOUT apr_time_from_msec(500)
#define REDIS_RETRY_AFTER apr_time_from_sec(1)

/* This thread's connection to Redis (one target at a time). */
typedef struct {
    struct redisContext *conn;
    char *target;                    /* host:port it is connected to */
    apr_time_t retry_at;             /* after a failure */
} thread_conn_t;

static pthread_key_t conn_key;
static pthread_once_t conn_once = PTHREAD_ONCE_INIT;
static int redis_down;               /* this process logged an outage */

static void free_thread_conn(void *v)
{
    thread_conn_t *tc = v;

    llm_access_redis_close(tc->conn);
    free(tc->target);
    free(tc);
}

static void make_conn_key(void)
{
    pthread_key_create(&conn_key, free_thread_conn);
}

static thread_conn_t *thread_conn(void)
{
    thread_conn_t *tc;

    pthread_once(&conn_once, make_conn_key);
    tc = pthread_getspecific(conn_key);
    if (!tc && (tc = calloc(1, sizeof(*tc))) != NULL) {
        pthread_setspecific(conn_key, tc);
    }
    return tc;
}

static void note_redis(server_rec *s, const llm_access_srv_conf_t *sc,
                       int up, const char *why)
{
    if (!up && !redis_down) {
        redis_down = 1;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, LLMLOGNO(05009)
                      "Redis at %s cannot be used (%s): %s; keys kept in it "
                      "cannot be checked until it answers", sc->redis, why,
                      sc->redis_fail_closed == 1
                      ? "requests with limits are refused (503)"
                      : "limits are counted on this node");
    }
    else if (up && redis_down) {
        redis_down = 0;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(05010)
                      "Redis at %s answers again: limits are shared "
                      "across nodes again", sc->redis);
    }
}

/* This thread's connection to sc's Redis, NULL while unreachable. */
struct redisContext *llm_access_redis_conn(server_rec *s,
                                           const llm_access_srv_conf_t *sc)
{
    thread_conn_t *tc = thread_conn();
    const char *why = "no memory";
    apr_time_t now = apr_time_now();

    if (!tc) {
        return NULL;
    }
    if (tc->conn && tc->target && !strcmp(tc->target, sc->redis)) {
        return tc->conn;
    }
    llm_access_redis_close(tc->conn);
    tc->conn = NULL;
    if (tc->target && !strcmp(tc->target, sc->redis) && now < tc->retry_at) {
        return NULL;
    }
    free(tc->target);
    tc->target = strdup(sc->redis);
    tc->conn = llm_access_redis_connect(sc->redis_host, sc->redis_port,
                                        REDIS_TIMEOUT, &why);
    if (!tc->conn) {
        tc->retry_at = now + REDIS_RETRY_AFTER;
        note_redis(s, sc, 0, why);
    }
    return tc->conn;
}

/* Redis did not answer as it should: drop the connection (a new one
 * after REDIS_RETRY_AFTER). */
void llm_access_redis_failed(server_rec *s,
                             const llm_access_srv_conf_t *sc)
{
    thread_conn_t *tc = thread_conn();

    if (tc) {
        llm_access_redis_close(tc->conn);
        tc->conn = NULL;
        tc->retry_at = apr_time_now() + REDIS_RETRY_AFTER;
    }
    note_redis(s, sc, 0, "no answer, or not the script's");
}

void llm_access_redis_up(server_rec *s, const llm_access_srv_conf_t *sc)
{
    note_redis(s, sc, 1, NULL);
}
