/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Token budgets across a full stop of httpd (a stop, a crash, a
 * reboot): the state file (llm_access_budget.c says what it holds).
 *
 * The budgets live in the limits' table in shared memory, which a
 * graceful restart keeps but a full stop loses. httpd's parent process,
 * and it alone, writes the table's budget buckets to the state file:
 * from its monitor hook (which the MPMs run about every ten seconds)
 * once per LLMBudgetStateInterval when something changed, and when its
 * configuration pool is cleared (a stop or a restart). It reads the
 * file back once, when the table is made (post_config, before any child
 * exists), and never again while the table lives: a graceful restart
 * keeps the table, which knows more than the file. Requests only mark
 * their budget's slot (mod_llm_access_limit.c); no child writes, locks
 * or waits for anything here.
 *
 * What a crash loses: the tokens charged since the last write (at most
 * LLMBudgetStateInterval plus the monitor's ten seconds). A stop loses
 * nothing: the last write comes after the children are gone.
 */

#include <unistd.h>

#include "apr_strings.h"
#include "http_core.h"

#include "mod_llm_access.h"

/* Set in httpd's process pool once the state file was read: the table
 * it was read into lives as long. */
#define RESTORED_KEY "llm_access_budgets_restored"

static const char *state_path;      /* NULL: budgets not kept */
static void write_state(server_rec *s);
static llm_access_parent_job_t job = { write_state, 0, 0, 0 };
static apr_uint64_t written_sum;     /* the checksum of the last write */
static int written;                  /* written_sum says something */
static int failing;                  /* a write failed, said once */

/* LLMBudgetStateFile, else beside the main server's key file (which
 * the parent reads, and may write beside: the last-used sidecar is
 * there too), else none. */
static const char *path_of(apr_pool_t *p, server_rec *s)
{
    const llm_access_srv_conf_t *sc = llm_access_srv(s);

    if (sc->budget_file) {
        return *sc->budget_file ? sc->budget_file : NULL;
    }
    return sc->key_file ? apr_pstrcat(p, sc->key_file, ".budgets", NULL)
                        : NULL;
}

/* Any budget in the configuration or the key files. */
static int budgets_configured(server_rec *s)
{
    for (; s; s = s->next) {
        const llm_access_srv_conf_t *sc = llm_access_srv(s);
        int i;

        if (sc->has_budget) {
            return 1;
        }
        for (i = 0; sc->store && i < sc->store->keys->nelts; i++) {
            if (APR_ARRAY_IDX(sc->store->keys, i,
                              llm_access_key_t *)->budget.count) {
                return 1;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading, once per table                                             */
/* ------------------------------------------------------------------ */

static void restore(apr_pool_t *ptemp, server_rec *s, llm_limit_table_t *t)
{
    apr_array_header_t *recs;
    apr_time_t now = apr_time_now();
    const char *why = llm_budget_state_load(ptemp, state_path, &recs);
    int n, dropped, full;

    if (why) {
        /* A broken file is no reason to refuse to start: the budgets
         * start from zero, and the next write replaces it. */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, LLMLOGNO(05020)
                     "token budgets start from zero: the state file is "
                     "not read: %s", why);
        return;
    }
    n = llm_budget_restore(t, recs, now, &dropped, &full);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(05021)
                 "token budgets: %d bucket(s) read from %s, %d of ended "
                 "periods dropped", n, state_path, dropped);
    if (full) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, LLMLOGNO(05022)
                     "token budgets: %d bucket(s) of %s do not fit in the "
                     "limits' table (LLMLimitSlots %u): they start from "
                     "zero", full, state_path, t->nslots);
    }
}

/* ------------------------------------------------------------------ */
/* Writing, in httpd's parent only                                     */
/* ------------------------------------------------------------------ */

static void said(server_rec *s, const char *why)
{
    if (why && !failing) {
        failing = 1;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, LLMLOGNO(05023)
                     "token budgets cannot be written: %s; a full stop "
                     "of httpd now would forget what keys spent since "
                     "the last write; tried again every "
                     "LLMBudgetStateInterval", why);
    }
    else if (!why && failing) {
        failing = 0;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(05024)
                     "token budgets written to %s again", state_path);
    }
}

/* The table's budgets to the file, when they changed since the last
 * write. */
static void write_state(server_rec *s)
{
    llm_limit_table_t *t = llm_access_limit_table();
    apr_array_header_t *recs;
    const char *text, *why;
    apr_uint64_t sum;
    apr_pool_t *p;

    if (!t || !state_path) {
        return;                 /* nothing to keep */
    }
    apr_pool_create(&p, s->process->pool);
    recs = llm_budget_collect(p, t, apr_time_now());
    text = llm_budget_state_text(p, recs, &sum);
    if (!written || sum != written_sum) {
        why = llm_access_file_replace(p, state_path, NULL, text);
        said(s, why);
        if (!why) {
            written = 1;
            written_sum = sum;
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LLMLOGNO(05025)
                         "token budgets: %d bucket(s) written to %s",
                         recs->nelts, state_path);
        }
    }
    apr_pool_destroy(p);
}

int llm_access_budget_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    llm_access_parent_job_tick(&job, s);
    return DECLINED;
}

/* What the file holds now is what there is to write: a start-up does
 * not write the file it just read. */
static void note_written(apr_pool_t *ptemp, llm_limit_table_t *t)
{
    llm_budget_state_text(ptemp, llm_budget_collect(ptemp, t,
                                                    apr_time_now()),
                          &written_sum);
    written = 1;
}

void llm_access_budget_init(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s)
{
    llm_limit_table_t *t = llm_access_limit_table();
    const llm_access_srv_conf_t *sc = llm_access_srv(s);
    void *restored = NULL;

    state_path = path_of(pconf, s);
    job.interval_s = (apr_uint32_t)(sc->budget_interval > 0
                                    ? sc->budget_interval
                                    : LLM_BUDGET_INTERVAL_DEFAULT);
    if (!state_path && !sc->budget_file && budgets_configured(s)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(05026)
                     "token budgets are kept in shared memory only: a "
                     "full stop of httpd forgets them (LLMBudgetStateFile, "
                     "or an LLMAccessKeyFile in the main server, keeps "
                     "them)");
    }
    if (!t || !state_path) {
        return;
    }
    apr_pool_userdata_get(&restored, RESTORED_KEY, s->process->pool);
    if (!restored) {
        apr_pool_userdata_set((void *)1, RESTORED_KEY, apr_pool_cleanup_null,
                              s->process->pool);
        restore(ptemp, s, t);
        note_written(ptemp, t);
    }
    /* At the generation's end (stop, restart) too: the children are
     * gone or going, and what they charged goes out then. */
    llm_access_parent_job_start(&job, pconf, s);
}
