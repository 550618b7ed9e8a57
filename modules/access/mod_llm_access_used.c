/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * last_used per key, batched (llm_access_used.c says how the table
 * works), and llm_access_each_budget, which reads the budgets the same
 * table points to.
 *
 * Requests (any child) store the time of a key's use in its slot of a
 * shared table, at most once per granularity (a tenth of
 * LLMAccessLastUsedInterval, 1 to 60 s). httpd's parent process writes
 * them to their stores from its monitor hook (which the MPMs run about
 * every ten seconds) once per LLMAccessLastUsedInterval, and once more
 * when it stops or restarts: keys of a key file to the sidecar beside it
 * (one rename; the parent may write where the key file is, as it may
 * read it), keys kept in Redis with one HSET. No request ever waits for
 * either, and no child holds a lock for it.
 *
 * The parent opens its own Redis connection for each flush and closes
 * it: a connection kept in the parent would be inherited by the
 * children it forks.
 */

#include <unistd.h>

#include "apr_shm.h"
#include "apr_strings.h"
#include "http_core.h"
#include "mpm_common.h"

#include "mod_llm_access.h"

#define USED_KEY "llm_access_used"
#define REDIS_TIMEOUT apr_time_from_msec(500)

static llm_used_table_t *table;      /* the process's life, like limits */
static void flush_all(server_rec *main_s);
/* the parent's flushes; job.interval_s 0: last_used off */
static llm_access_parent_job_t job = { flush_all, 0, 0, 0 };
static apr_uint32_t granularity_s;
static int failing;                  /* the parent said a flush failed */
static int full_said;                /* a child said the table is full */

/* The table, once per httpd process (kept across restarts), as many
 * slots as LLMLimitSlots. */
static const char *make_table(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    apr_uint32_t n = llm_access_srv(s)->limit_slots;
    apr_shm_t *shm;

    apr_pool_userdata_get((void **)&table, USED_KEY, pp);
    if (table) {
        return NULL;
    }
    n = n ? n : LLM_LIMIT_SLOTS_DEFAULT;
    if (apr_shm_create(&shm, llm_used_table_size(n), NULL, pp)
        != APR_SUCCESS) {
        return "no shared memory for the last-used table";
    }
    memset(apr_shm_baseaddr_get(shm), 0, llm_used_table_size(n));
    table = apr_pcalloc(pp, sizeof(*table));
    llm_used_table_init(table, apr_shm_baseaddr_get(shm), n);
    apr_pool_userdata_set(table, USED_KEY, apr_pool_cleanup_null, pp);
    return NULL;
}

/* Each server's stores, by the hash the table knows them by. */
static void name_stores(apr_pool_t *p, server_rec *s)
{
    for (; s; s = s->next) {
        llm_access_srv_conf_t *sc = llm_access_srv(s);

        sc->used_file = sc->key_file
            ? llm_used_store_hash(apr_pstrcat(p, "file:", sc->key_file,
                                              NULL)) : 0;
        sc->used_redis = sc->key_redis == 1 && sc->redis_host
            ? llm_used_store_hash(apr_pstrcat(p, "redis:", sc->redis,
                                              NULL)) : 0;
    }
}

/* ------------------------------------------------------------------ */
/* The flush, in httpd's parent process                                */
/* ------------------------------------------------------------------ */

static void said(server_rec *s, int ok, const char *where, const char *why)
{
    if (!ok && !failing) {
        failing = 1;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, LLMLOGNO(05015)
                     "last_used of keys cannot be written to %s: %s; "
                     "tried again every LLMAccessLastUsedInterval", where,
                     why);
    }
    else if (ok && failing) {
        failing = 0;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(05016)
                     "last_used of keys written to %s again", where);
    }
}

static void flush_file(apr_pool_t *p, server_rec *s,
                       const llm_access_srv_conf_t *sc)
{
    apr_array_header_t *dirty = llm_used_dirty(p, table, sc->used_file);
    const char *path, *why;

    if (!dirty->nelts) {
        return;
    }
    path = llm_used_sidecar(p, sc->key_file);
    why = llm_used_merge(p, path, sc->key_file, dirty);
    said(s, !why, path, why);
    if (!why) {
        llm_used_mark_flushed(dirty);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LLMLOGNO(05014)
                     "last_used of %d key(s) written to %s", dirty->nelts,
                     path);
    }
}

static void flush_redis(apr_pool_t *p, server_rec *s,
                        const llm_access_srv_conf_t *sc)
{
    apr_array_header_t *dirty = llm_used_dirty(p, table, sc->used_redis);
    const char *where, *why = "no answer to HSET";
    struct redisContext *c;

    if (!dirty->nelts) {
        return;
    }
    where = apr_pstrcat(p, "Redis at ", sc->redis, NULL);
    c = llm_access_redis_connect(sc->redis_host, sc->redis_port,
                                 REDIS_TIMEOUT, &why);
    if (c && llm_access_redis_used(c, p, dirty) == APR_SUCCESS) {
        llm_access_redis_close(c);
        said(s, 1, where, NULL);
        llm_used_mark_flushed(dirty);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LLMLOGNO(05017)
                     "last_used of %d key(s) written to %s", dirty->nelts,
                     where);
        return;
    }
    llm_access_redis_close(c);
    said(s, 0, where, why);
}

/* Every store of every server, each once. */
static void flush_all(server_rec *main_s)
{
    apr_pool_t *p;
    apr_hash_t *done;
    server_rec *s;

    if (!table) {
        return;
    }
    apr_pool_create(&p, main_s->process->pool);
    done = apr_hash_make(p);
    for (s = main_s; s; s = s->next) {
        const llm_access_srv_conf_t *sc = llm_access_srv(s);

        if (sc->used_file && !apr_hash_get(done, &sc->used_file, 8)) {
            apr_hash_set(done, &sc->used_file, 8, s);
            flush_file(p, main_s, sc);
        }
        if (sc->used_redis && !apr_hash_get(done, &sc->used_redis, 8)) {
            apr_hash_set(done, &sc->used_redis, 8, s);
            flush_redis(p, main_s, sc);
        }
    }
    apr_pool_destroy(p);
}

int llm_access_used_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    llm_access_parent_job_tick(&job, s);
    return DECLINED;
}

const char *llm_access_used_init(apr_pool_t *pconf, server_rec *s)
{
    const char *why;
    int n = llm_access_srv(s)->used_interval;

    job.interval_s = (apr_uint32_t)(n >= 0 ? n : LLM_USED_INTERVAL_DEFAULT);
    granularity_s = job.interval_s / 10;
    granularity_s = granularity_s < 1 ? 1
                    : granularity_s > 60 ? 60 : granularity_s;
    if ((why = make_table(s)) != NULL) {
        return why;
    }
    name_stores(pconf, s);
    /* At the generation's end (stop, restart) too: what it saw goes out
     * then. */
    llm_access_parent_job_start(&job, pconf, s);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The request path                                                    */
/* ------------------------------------------------------------------ */

void llm_access_used_touch(request_rec *r, const llm_access_key_t *k,
                           int from_redis)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(r->server);
    apr_uint64_t store = from_redis ? sc->used_redis : sc->used_file;
    llm_used_slot_t *slot;

    if (!table || !store) {
        return;
    }
    if (!(slot = llm_used_slot(table, store, k))) {
        if (!full_said) {
            full_said = 1;
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, LLMLOGNO(05018)
                          "the last-used table is full (LLMLimitSlots %u): "
                          "keys new to it have no last_used",
                          table->nslots);
        }
        return;
    }
    llm_access_req(r)->used_slot = slot;
    if (job.interval_s) {
        llm_used_touch(slot, (apr_uint32_t)apr_time_sec(r->request_time),
                       granularity_s);
    }
}

/* Where the key's budget is counted, for llm_access_each_budget. */
void llm_access_used_budget(llm_access_req_t *st,
                            const llm_access_budget_t *b, apr_time_t ends,
                            const llm_limit_slot_t *slot)
{
    if (st->used_slot) {
        llm_used_set_budget(st->used_slot, b->count, b->period, ends,
                            llm_access_limit_index(slot));
    }
}

/* ------------------------------------------------------------------ */
/* llm_access_each_budget (mod_llm.h), for key_budget_usage_tokens      */
/* ------------------------------------------------------------------ */

typedef struct {
    server_rec *s;
    apr_pool_t *p;
} spent_ctx_t;

/* What a budget has spent in its period: its slot's count here, or its
 * counter in Redis, read (the script adds nothing when asked for 0).
 * -1 when Redis cannot say. */
static apr_int64_t spent_of(void *v, const llm_used_slot_t *u,
                            const char *key_id, apr_time_t now)
{
    spent_ctx_t *c = v;
    const llm_access_srv_conf_t *sc = llm_access_srv(c->s);
    struct redisContext *conn;
    char period[16];
    apr_time_t ends;
    apr_int64_t spent;

    if (u->budget_slot) {
        return llm_access_limit_spent(u->budget_slot);
    }
    if (!sc->redis_host || !(conn = llm_access_redis_conn(c->s, sc))) {
        return -1;
    }
    llm_access_budget_period((llm_access_period_e)u->budget_period, now,
                             period, &ends);
    if (llm_access_redis_budget(conn, c->p, apr_psprintf(
            c->p, "llm:budget:key:%s|%s|%" APR_UINT64_T_FMT, key_id,
            period, (apr_uint64_t)u->budget), 0, ends, &spent)
        != APR_SUCCESS) {
        llm_access_redis_failed(c->s, sc);
        return -1;
    }
    llm_access_redis_up(c->s, sc);
    return spent;
}

void llm_access_each_budget(apr_pool_t *p, server_rec *s, int max,
                            llm_key_budget_fn *fn, void *baton)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(s);
    spent_ctx_t c;

    if (!table || max <= 0) {
        return;
    }
    c.s = s;
    c.p = p;
    llm_used_each_budget(p, table, sc->used_file, sc->used_redis,
                         apr_time_now(), max, spent_of, &c, fn, baton);
}
