/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_metrics: Prometheus metrics of the gateway (docs/metrics.md).
 *
 * The cells of every metric live in one shared memory segment, one slot
 * per scoreboard child slot (ServerLimit of them): the child process in
 * slot i adds to slot i only, with atomic adds and no lock, and a scrape
 * (SetHandler llm-metrics) sums the slots, the way mod_status reads the
 * scoreboard. A child that exits leaves its counts in its slot; the next
 * child of that slot claims it, resets its gauges (what the old one had
 * under way is over) and adds to its counters, so no count is lost.
 *
 * The segment is made in post_config, once the router has announced its
 * models files (llm_models_loaded): the labels' tables come from them.
 * It is kept in the httpd process's pool: a graceful restart with the
 * same layout (same models, providers, routes) keeps counting in it; a
 * changed layout starts a new one (Prometheus sees a counter reset).
 *
 * Recording: mod_llm_metrics_record.c; the families and label tables:
 * mod_llm_metrics_set.c; the scrape: mod_llm_metrics_handler.c.
 */

#include "apr_strings.h"
#include "apr_shm.h"
#include "apr_atomic.h"
#include "apr_thread_proc.h"
#include "http_core.h"
#include "http_request.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "http_config.h"
#include <unistd.h>

/* AP_DECLARE_MODULE below declares what APLOG_USE_MODULE would. */
#define LLM_METRICS_MODULE_FILE
#include "mod_llm_metrics.h"

/* This generation's models files (from llm_models_loaded) and set. */
static apr_array_header_t *tables;
static llm_metrics_set_t *current;

/* Whether mod_unique_id gives each request its UNIQUE_ID. */
static int have_unique_id;
/* This process's pid (for the request ids) */
static apr_uint32_t my_pid;

/* This process's slot: claimed once, by the first request it serves. */
static llm_metrics_slot_t *my_slot;
static volatile apr_uint32_t my_slot_state; /* 0 none, 1 claiming, 2 done */

/* What lasts as long as the httpd process: the segment and its layout. */
typedef struct {
    apr_shm_t *shm;
    unsigned int layout;
    apr_size_t size;
} lasting_t;

#define LASTING_KEY "llm_metrics_segment"

llm_metrics_set_t *llm_metrics_current(void)
{
    return current;
}

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    tables = apr_array_make(pconf, 4, sizeof(llm_models_t *));
    current = NULL;
    return OK;
}

static int models_loaded(apr_pool_t *pconf, server_rec *s, llm_models_t *m)
{
    (void)pconf;
    (void)s;
    APR_ARRAY_PUSH(tables, llm_models_t *) = m;
    return OK;
}

/* A hash of every family's name and label values, in order: two
 * generations with the same one lay their cells out the same way. */
static unsigned int layout_of(apr_pool_t *p, const llm_metrics_t *m)
{
    llm_buf_t b;
    apr_ssize_t len;
    int i, d, v;

    llm_buf_init(&b, p);
    for (i = 0; i < m->families->nelts; i++) {
        const llm_metrics_family_t *f = APR_ARRAY_IDX(
            m->families, i, const llm_metrics_family_t *);

        llm_buf_add(&b, f->name, strlen(f->name) + 1);
        for (d = 0; d < f->ndims; d++) {
            for (v = 0; v < f->dims[d]->values->nelts; v++) {
                const char *s = APR_ARRAY_IDX(f->dims[d]->values, v,
                                              const char *);

                llm_buf_add(&b, s, strlen(s) + 1);
            }
        }
    }
    len = (apr_ssize_t)b.len;
    return b.len ? apr_hashfunc_default(b.data, &len) : 0;
}

/* The segment for @a size bytes of this layout: the previous
 * generation's when it matches, else a new one (zeroed by the system). */
static apr_status_t segment(server_rec *s, apr_size_t size,
                            unsigned int layout, void **base)
{
    apr_pool_t *pp = s->process->pool;
    lasting_t *l = NULL;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&l, LASTING_KEY, pp);
    if (!l) {
        l = apr_pcalloc(pp, sizeof(*l));
        apr_pool_userdata_set(l, LASTING_KEY, apr_pool_cleanup_null, pp);
    }
    if (l->shm && (l->layout != layout || l->size != size)) {
        /* old children keep their own mapping until they exit */
        apr_shm_destroy(l->shm);
        l->shm = NULL;
    }
    if (!l->shm) {
        if ((rv = apr_shm_create(&l->shm, size, NULL, pp)) != APR_SUCCESS) {
            return rv;
        }
        /* a new segment is zero pages (anonymous memory, a new file or
         * a new SysV segment): no memset, which would make every page of
         * every slot resident in the parent at once */
        l->layout = layout;
        l->size = size;
    }
    *base = apr_shm_baseaddr_get(l->shm);
    return APR_SUCCESS;
}

/* Which of this module's notes a directive names (a LogFormat,
 * CustomLog, ErrorLogFormat, or any other that reads notes): the others
 * are not made. */
static unsigned int notes_named(const ap_directive_t *d)
{
    unsigned int want = 0;

    for (; d; d = d->next) {
        if (d->args && ap_strstr_c(d->args, LLM_METRICS_NOTE_ID)) {
            want |= LLM_METRICS_WANT_ID;
            if (!strcasecmp(d->directive, "ErrorLogFormat")) {
                want |= LLM_METRICS_WANT_ID_EARLY;
            }
        }
        if (d->args && ap_strstr_c(d->args, LLM_METRICS_NOTE_TTFT)) {
            want |= LLM_METRICS_WANT_TTFT;
        }
        if (d->args && ap_strstr_c(d->args, LLM_METRICS_NOTE_OVERHEAD)) {
            want |= LLM_METRICS_WANT_OVERHEAD;
        }
        want |= notes_named(d->first_child);
    }
    return want;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    llm_metrics_set_t *set = llm_metrics_set_make(pconf, tables,
                                                  llm_metrics_key_ids(s));
    int nslots = 0;
    apr_size_t size, cells;
    void *base;
    apr_status_t rv;

    (void)plog;
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &nslots) != APR_SUCCESS
        || nslots < 1) {
        nslots = 1;
    }
    /* the children's slots, then the key id table */
    cells = llm_metrics_size(set->reg, nslots);
    size = cells + llm_metrics_keys_size(llm_metrics_keys_max(set->keys));
    rv = segment(s, size, layout_of(ptemp, set->reg), &base);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LLMLOGNO(06001)
                     "mod_llm_metrics: no shared memory for the metrics "
                     "(%" APR_SIZE_T_FMT " bytes for %d child slots)",
                     size, nslots);
        return !OK;
    }
    llm_metrics_attach(set->reg, base, nslots);
    llm_metrics_keys_attach(set->keys, (char *)base + cells);
    llm_metrics_index_servers(set, pconf, s);
    llm_metrics_record_init();
    llm_metrics_handler_init();
    have_unique_id = ap_find_linked_module("mod_unique_id.c") != NULL;
    set->notes = notes_named(ap_conftree);
    current = set;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LLMLOGNO(06002)
                 "mod_llm_metrics: %d families, %" APR_SIZE_T_FMT " cells "
                 "per child slot, %d slots (%" APR_SIZE_T_FMT " bytes); "
                 "notes named by the configuration: %s%s%s",
                 set->reg->families->nelts, set->reg->cells, nslots, size,
                 set->notes & LLM_METRICS_WANT_ID ? "id " : "",
                 set->notes & LLM_METRICS_WANT_TTFT ? "ttft " : "",
                 set->notes & LLM_METRICS_WANT_OVERHEAD ? "overhead" : "");
    return OK;
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)pchild;
    (void)s;
    my_pid = (apr_uint32_t)getpid();
    my_slot = NULL;
    apr_atomic_set32(&my_slot_state, 0);
}

/* ------------------------------------------------------------------ */
/* This process's slot                                                 */
/* ------------------------------------------------------------------ */

/* The scoreboard child slot of this process: the row of the scoreboard
 * that holds the worker serving r, else the row with our pid. */
static int find_slot(request_rec *r)
{
    int limit = 0, tlimit = 0, i;
    pid_t pid = getpid();

    if (!ap_scoreboard_image) {
        return 0;      /* no scoreboard (a one-process debug run) */
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &tlimit);
    if (r->connection->sbh) {
        worker_score *ws = ap_get_scoreboard_worker(r->connection->sbh);

        for (i = 0; ws && i < limit; i++) {
            worker_score *row = ap_scoreboard_image->servers[i];

            if (ws >= row && ws < row + tlimit) {
                return i;
            }
        }
    }
    for (i = 0; i < limit; i++) {
        if (ap_scoreboard_image->parent[i].pid == pid) {
            return i;
        }
    }
    return -1;
}

llm_metrics_slot_t *llm_metrics_my_slot(request_rec *r)
{
    if (apr_atomic_read32(&my_slot_state) == 2) {
        return my_slot;
    }
    if (apr_atomic_cas32(&my_slot_state, 1, 0) == 0) {
        llm_metrics_slot_t *slot = llm_metrics_slot(current->reg,
                                                    find_slot(r));

        if (slot) {
            llm_metrics_slot_claim(current->reg, slot,
                                   (apr_uint32_t)getpid());
            my_slot = slot;
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, LLMLOGNO(06003)
                          "mod_llm_metrics: this process has no scoreboard "
                          "slot; its requests are not counted");
        }
        apr_atomic_set32(&my_slot_state, 2);
        return my_slot;
    }
    /* another thread is claiming it: for a few microseconds, once */
    while (apr_atomic_read32(&my_slot_state) != 2) {
        apr_thread_yield();
    }
    return my_slot;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

llm_metrics_marks_t *llm_metrics_marks(request_rec *r)
{
    llm_metrics_marks_t *m;

    /* the initial request's: log_transaction sees that one, the router's
     * hooks may run in an internal redirect or a subrequest */
    while (r->prev || r->main) {
        r = r->prev ? r->prev : r->main;
    }
    m = ap_get_module_config(r->request_config, &llm_metrics_module);
    if (!m) {
        m = apr_pcalloc(r->pool, sizeof(*m));
        ap_set_module_config(r->request_config, &llm_metrics_module, m);
    }
    return m;
}

#define marks llm_metrics_marks

static llm_metrics_slot_t *counting(request_rec *r)
{
    return current && llm_metrics_enabled(r->server)
           ? llm_metrics_my_slot(r) : NULL;
}

/* The id that ties the request's samples to its access-log line:
 * mod_unique_id's when it is loaded, else time-pid-counter, written in
 * hex only when shown (the note, a scrape's exemplars); made once, when
 * first asked for. */
const llm_metrics_id_t *llm_metrics_request_id(request_rec *r,
                                               llm_metrics_marks_t *mk)
{
    static volatile apr_uint32_t seq;

    if (mk->id_made) {
        return &mk->id;
    }
    mk->id_made = 1;
    mk->id.text = have_unique_id
                  ? apr_table_get(r->subprocess_env, "UNIQUE_ID") : NULL;
    if (mk->id.text) {
        mk->id.len = strlen(mk->id.text);
    }
    else {
        mk->id.time = (apr_uint64_t)r->request_time;
        mk->id.pid = my_pid ? my_pid : (apr_uint32_t)getpid();
        mk->id.seq = apr_atomic_inc32(&seq);
    }
    return &mk->id;
}

/* The request id note, once (added: no need to look for an older
 * value). */
static void note_request_id(request_rec *r, llm_metrics_marks_t *mk)
{
    const llm_metrics_id_t *id;

    if (mk->id_noted) {
        return;
    }
    mk->id_noted = 1;
    id = llm_metrics_request_id(r, mk);
    if (id->text) {
        apr_table_addn(r->notes, LLM_METRICS_NOTE_ID, id->text);
    }
    else {
        llm_metrics_id_format(id, mk->idbuf);
        apr_table_addn(r->notes, LLM_METRICS_NOTE_ID, mk->idbuf);
    }
}

static int post_read_request(request_rec *r)
{
    llm_metrics_slot_t *slot;
    llm_metrics_marks_t *mk;

    if (r->main || r->prev || !(slot = counting(r))) {
        return DECLINED;
    }
    mk = marks(r);
    if (current->notes & LLM_METRICS_WANT_ID_EARLY) {
        note_request_id(r, mk);
    }
    llm_metrics_add_to(current->reg, slot, current->http_in_progress, NULL,
                       1);
    mk->in_progress = 1;
    return DECLINED;
}

static int log_transaction(request_rec *r)
{
    llm_metrics_slot_t *slot = counting(r);
    llm_metrics_marks_t *mk;

    if (!slot) {
        return DECLINED;
    }
    mk = marks(r);
    /* before mod_log_config writes the line (this hook runs first); late,
     * so that the router's notes are set in a shorter table */
    if (current->notes & LLM_METRICS_WANT_ID) {
        note_request_id(r, mk);
    }
    if (mk->in_progress) {
        llm_metrics_add_to(current->reg, slot, current->http_in_progress,
                           NULL, -1);
        mk->in_progress = 0;
    }
    llm_metrics_record_http(r, current, slot, mk);
    return DECLINED;
}

static int provider_chosen(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_metrics_slot_t *slot;
    llm_metrics_marks_t *mk;

    if (ctx->stream && (slot = counting(r)) && !(mk = marks(r))->streaming) {
        llm_metrics_add_to(current->reg, slot, current->active_streams,
                           NULL, 1);
        mk->streaming = 1;
    }
    return OK;
}

static int request_done(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_metrics_slot_t *slot = counting(r);
    llm_metrics_marks_t *mk;

    if (!slot) {
        return DECLINED;
    }
    mk = marks(r);
    if (mk->streaming) {
        llm_metrics_add_to(current->reg, slot, current->active_streams,
                           NULL, -1);
        mk->streaming = 0;
    }
    llm_metrics_record_llm(r, ctx, current, slot, mk);
    return OK;
}

static int access_refused(request_rec *r, const llm_access_event_t *ev)
{
    llm_metrics_slot_t *slot = counting(r);

    if (slot) {
        llm_metrics_record_access(r, ev, current, slot);
    }
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    /* the models files are announced from the router's post_config */
    static const char *const after_router[] = { "mod_llm_router.c", NULL };

    (void)p;
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, after_router, NULL, APR_HOOK_LAST);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_unique_id's, whose UNIQUE_ID becomes the request id */
    ap_hook_post_read_request(post_read_request, NULL, NULL, APR_HOOK_LAST);
    ap_hook_log_transaction(log_transaction, NULL, NULL,
                            APR_HOOK_REALLY_FIRST);
    ap_hook_handler(llm_metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_models_loaded, models_loaded, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_provider_chosen, provider_chosen, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_request_done, request_done, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_access_refused, access_refused, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_metrics) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    llm_metrics_create_srv,
    llm_metrics_merge_srv,
    llm_metrics_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
