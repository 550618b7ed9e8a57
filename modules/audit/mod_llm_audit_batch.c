/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * LLMAuditSync batch: each child gathers its records' bodies and one
 * thread of its own seals them as one OpenPGP message and appends them
 * as one line of the trail, when the batch is full or its first record
 * has waited long enough (docs/audit.md, "Sync modes").
 *
 * Why: gpgme runs gpg once per message, 3–4 ms of a core each time;
 * sealed per record that is most of a request's cost. In a batch it is
 * paid once per count records or once per time, and off the request's
 * thread. What it costs: a record is in the child's memory, not on
 * disk, until its batch is written — a kill -9 of the child (or of the
 * machine) loses at most its batch (count records, or time's worth).
 * A child that stops normally writes what it has (the pool cleanup of
 * child_init's pool).
 *
 * Requests only take the batch's own (thread) lock to add a line; the
 * trail's global mutex is taken by the writer thread alone, once per
 * batch.
 */

#include <pthread.h>
#include <signal.h>

#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_thread_mutex.h"
#include "apr_thread_cond.h"

#include "mod_llm_audit.h"

struct llm_audit_batch {
    llm_audit_trail_conf_t *t;
    server_rec *s;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *more;         /* a batch is full, or stop */
    apr_thread_t *thread;
    char *text;                      /* bodies, one per line (malloc) */
    apr_size_t len, cap;
    int count;                       /* bodies in text */
    apr_time_t first_at;             /* when the first of them came */
    int stop;
};

/* Take the gathered bodies (the lock held): the writer seals them while
 * requests go on adding to a fresh buffer. */
static void take(llm_audit_batch_t *b, char **text, apr_size_t *len,
                 int *count)
{
    *text = b->text;
    *len = b->len;
    *count = b->count;
    b->text = NULL;
    b->len = b->cap = 0;
    b->count = 0;
}

/* Records that never reach the trail are counted in it (the next
 * "trail" record says how many). */
static void count_lost(llm_audit_batch_t *b, int count)
{
    if (apr_global_mutex_lock(b->t->mutex) == APR_SUCCESS) {
        apr_pool_t *p;

        apr_pool_create(&p, NULL);
        llm_audit_failed(b->s, b->t, (apr_uint64_t)count, p);
        apr_pool_destroy(p);
        apr_global_mutex_unlock(b->t->mutex);
    }
}

static void write_batch(llm_audit_batch_t *b, char *text, apr_size_t len,
                        int count)
{
    llm_audit_trail_conf_t *t = b->t;
    llm_audit_entry_t e = { apr_time_now(), NULL, NULL, NULL,
                            (apr_uint64_t)count, NULL, 0 };
    apr_pool_t *p;
    apr_uint64_t seq = 0;
    const char *why = NULL;
    apr_status_t rv;

    apr_pool_create(&p, NULL);
    rv = llm_audit_seal_text(t->gpg, p, text, len, &e.pgp, &why);
    if (rv != APR_SUCCESS) {
        count_lost(b, count);
    }
    else if ((rv = apr_global_mutex_lock(t->mutex)) != APR_SUCCESS) {
        why = "its lock failed";     /* nor can the loss be counted */
    }
    else {
        rv = llm_audit_append(t->writer, p, &e, &seq, &why);
        if (rv == APR_SUCCESS) {
            llm_audit_worked(b->s, t, p);
        }
        else {
            llm_audit_failed(b->s, t, (apr_uint64_t)count, p);
        }
        apr_global_mutex_unlock(t->mutex);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, b->s, LLMLOGNO(04011)
                     "audit trail %s: a batch of %d record(s) NOT written: "
                     "%s", t->dir, count, why);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, b->s, LLMLOGNO(04012)
                     "audit records %" APR_UINT64_T_FMT "..%"
                     APR_UINT64_T_FMT " written in one batch", seq,
                     seq + (apr_uint64_t)count - 1);
    }
    apr_pool_destroy(p);
    free(text);
}

/* A batch is one line of the trail: past this many bytes it is written
 * whatever its count, so that readers (llmctl: 64 MiB a line) keep up. */
#define BATCH_BYTES_MAX (16 * 1024 * 1024)

static int full(const llm_audit_batch_t *b)
{
    return b->count >= b->t->batch || b->len >= BATCH_BYTES_MAX;
}

static int due(const llm_audit_batch_t *b)
{
    return full(b)
           || (b->count && apr_time_now() - b->first_at >= b->t->batch_age);
}

static void *APR_THREAD_FUNC writer(apr_thread_t *th, void *data)
{
    llm_audit_batch_t *b = data;
    char *text;
    apr_size_t len;
    int count, stop = 0;
#if APR_HAVE_SIGWAIT || defined(SIG_BLOCK)
    sigset_t all;

    /* Signals are the child's main thread's (prefork stops a child from
     * its SIGTERM handler, which joins this thread: run here, it would
     * wait for itself). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
#endif

    apr_thread_mutex_lock(b->lock);
    while (!stop) {
        if (!due(b) && !b->stop) {
            apr_interval_time_t wait = b->count
                ? b->first_at + b->t->batch_age - apr_time_now()
                : b->t->batch_age;

            apr_thread_cond_timedwait(b->more, b->lock,
                                      wait > 0 ? wait : 1000);
            continue;
        }
        stop = b->stop;
        take(b, &text, &len, &count);
        apr_thread_mutex_unlock(b->lock);
        if (count) {
            write_batch(b, text, len, count);
        }
        apr_thread_mutex_lock(b->lock);
    }
    apr_thread_mutex_unlock(b->lock);
    apr_thread_exit(th, APR_SUCCESS);
    return NULL;
}

void llm_audit_batch_add(llm_audit_batch_t *b, const char *body,
                         apr_size_t len)
{
    apr_thread_mutex_lock(b->lock);
    if (b->len + len + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap : 64 * 1024;
        char *grown;

        while (cap < b->len + len + 1) {
            cap *= 2;
        }
        if (!(grown = realloc(b->text, cap))) {
            apr_thread_mutex_unlock(b->lock);
            ap_log_error(APLOG_MARK, APLOG_CRIT, APR_ENOMEM, b->s,
                         LLMLOGNO(04013) "audit trail %s: no memory for a "
                         "record: NOT written", b->t->dir);
            count_lost(b, 1);
            return;
        }
        b->text = grown;
        b->cap = cap;
    }
    if (b->count) {
        b->text[b->len++] = '\n';
    }
    else {
        b->first_at = apr_time_now();
    }
    memcpy(b->text + b->len, body, len);
    b->len += len;
    b->count++;
    if (full(b)) {
        apr_thread_cond_signal(b->more);
    }
    apr_thread_mutex_unlock(b->lock);
}

/* The child is going: the writer writes what is left, then ends; a
 * record added after its last look is written here. */
static apr_status_t stop_writer(void *data)
{
    llm_audit_batch_t *b = data;
    apr_status_t rv;
    char *text;
    apr_size_t len;
    int count;

    apr_thread_mutex_lock(b->lock);
    b->stop = 1;
    apr_thread_cond_signal(b->more);
    apr_thread_mutex_unlock(b->lock);
    apr_thread_join(&rv, b->thread);
    take(b, &text, &len, &count);
    if (count) {
        write_batch(b, text, len, count);
    }
    else {
        free(text);
    }
    return APR_SUCCESS;
}

apr_status_t llm_audit_batch_start(apr_pool_t *pchild, server_rec *s,
                                   llm_audit_trail_conf_t *t)
{
    llm_audit_batch_t *b = apr_pcalloc(pchild, sizeof(*b));
    apr_status_t rv;

    b->t = t;
    b->s = s;
    if ((rv = apr_thread_mutex_create(&b->lock, APR_THREAD_MUTEX_DEFAULT,
                                      pchild)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&b->more, pchild)) != APR_SUCCESS
        || (rv = apr_thread_create(&b->thread, NULL, writer, b, pchild))
           != APR_SUCCESS) {
        return rv;
    }
    /* Before anything of the child's pool goes: the trail's file (opened
     * later, its cleanup would run first), the mutex and the cond. */
    apr_pool_pre_cleanup_register(pchild, b, stop_writer);
    t->batcher = b;
    return APR_SUCCESS;
}
