/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * mod_llm_audit: a hash-chained, OpenPGP-sealed audit trail of the
 * gateway's requests (docs/audit.md).
 *
 * It joins mod_llm_router's optional hooks: llm_request_parsed (with
 * LLMAuditOnFailure closed, a failing trail refuses the request),
 * llm_request_done (which the router's handler runs when a request is
 * over, before it returns: for a request in a scope with LLMAudit On it
 * writes a "guard" record when a guard judged the request or the
 * answer, a "masking" record when values were masked, and a "request"
 * record, as LLMAuditEvents chooses) and llm_access_refused (an
 * "access" record). With LLMAuditSync record each record is written
 * and fsync'd before the response's last bytes go
 * (mod_llm_audit_hold.c); with batch, a thread of each child writes
 * them in sealed batches (mod_llm_audit_batch.c).
 *
 * A trail is one directory (LLMAuditDir), written by every child of
 * httpd. Each record is sealed (gpg) by the thread that has it, with no
 * lock held; then, under the trail's global mutex (Mutex llm-audit),
 * it gets the next seq and the hash of the record before, and is
 * appended. The chain's state lives in shared memory, so seq numbers
 * are unique and consecutive across processes. The mutex and the state
 * are made once for the life of the httpd process (its process pool),
 * so the children of a graceful restart share them with the old
 * children still finishing their requests; the trail is recovered from
 * its files when httpd starts.
 *
 * The engine (llm_audit_*.c) knows nothing of httpd; the fields of each
 * record are gathered in mod_llm_audit_record.c, the directives are in
 * mod_llm_audit_config.c.
 */

#include "apr_strings.h"
#include "apr_shm.h"
#include "apr_atomic.h"
#include "http_core.h"
#include "http_request.h"
#include "util_mutex.h"
#include "mpm_common.h"
#if !defined(WIN32)
#include "unixd.h"
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <stdio.h>
#include <unistd.h>

/* AP_DECLARE_MODULE below declares what APLOG_USE_MODULE would. */
#define LLM_AUDIT_MODULE_FILE
#include "mod_llm_audit.h"
#include "llm_json.h"

/* What lasts as long as the httpd process, per trail directory. */
typedef struct {
    apr_global_mutex_t *mutex;
    llm_audit_state_t *state;
} lasting_t;

#define LASTING_KEY "llm_audit_trails"

/* This generation's trails (llm_audit_trail_conf_t *), for child_init. */
static apr_array_header_t *trails;

static llm_audit_srv_conf_t *srv_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &llm_audit_module);
}

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

static int pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    trails = NULL;
    return ap_mutex_register(pconf, LLM_AUDIT_MUTEX, NULL, APR_LOCK_DEFAULT,
                             0) == APR_SUCCESS ? OK : !OK;
}

/* The children run as User: the trail (and the gateway's keyring) must
 * be theirs when httpd starts as root. */
static void give_to_children(apr_pool_t *p, const char *path, int deep)
{
#if !defined(WIN32)
    apr_dir_t *d;
    apr_finfo_t fi;

    if (geteuid() != 0) {
        return;
    }
    if (chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id)) {
        return;
    }
    if (apr_dir_open(&d, path, p) != APR_SUCCESS) {
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        const char *sub = apr_pstrcat(p, path, "/", fi.name, NULL);

        if (!strcmp(fi.name, ".") || !strcmp(fi.name, "..")) {
            continue;
        }
        if (fi.filetype == APR_DIR && deep) {
            give_to_children(p, sub, deep);
        }
        else if (fi.filetype == APR_REG
                 && (deep || !strncmp(fi.name, LLM_AUDIT_PREFIX,
                                      sizeof(LLM_AUDIT_PREFIX) - 1))) {
            if (chown(sub, ap_unixd_config.user_id,
                      ap_unixd_config.group_id)) {
                /* the child's open will say what is wrong */
            }
        }
    }
    apr_dir_close(d);
#else
    (void)p; (void)path; (void)deep;
#endif
}

/* One httpd per trail: two would chain their records over each other's
 * (and each would cut off what the other wrote as a torn tail). A flock
 * on dir/llm-audit.lock, held as long as this httpd process (and its
 * children, which inherit it) lives; a crash releases it. */
static const char *claim_dir(apr_pool_t *pp, apr_pool_t *ptemp,
                             const char *dir)
{
    apr_file_t *f;
    apr_os_file_t fd;
    const char *path = apr_pstrcat(ptemp, dir, "/llm-audit.lock", NULL);

    if (apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE, pp)
        != APR_SUCCESS || apr_os_file_get(&fd, f) != APR_SUCCESS) {
        return apr_psprintf(ptemp, "%s cannot be opened", path);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        return apr_psprintf(ptemp, "another httpd writes this trail (it "
                            "holds %s): give each httpd a directory of "
                            "its own", path);
    }
    return NULL;
}

/* The mutex and shared state of @a dir, made (and the trail recovered)
 * the first time this httpd process sees it. */
static const char *lasting(server_rec *s, apr_pool_t *ptemp,
                           const char *dir, int n, lasting_t **out)
{
    apr_pool_t *pp = s->process->pool;
    apr_hash_t *all = NULL;
    lasting_t *l;
    apr_shm_t *shm;
    llm_audit_found_t found;
    const char *why;

    apr_pool_userdata_get((void **)&all, LASTING_KEY, pp);
    if (!all) {
        all = apr_hash_make(pp);
        apr_pool_userdata_set(all, LASTING_KEY, apr_pool_cleanup_null, pp);
    }
    if ((*out = apr_hash_get(all, dir, APR_HASH_KEY_STRING)) != NULL) {
        return NULL;
    }
    l = apr_pcalloc(pp, sizeof(*l));
    if (apr_shm_create(&shm, sizeof(llm_audit_state_t), NULL, pp)
        != APR_SUCCESS) {
        return "no shared memory for the trail's state";
    }
    l->state = apr_shm_baseaddr_get(shm);
    if ((why = llm_audit_recover(ptemp, dir, l->state, &found)) != NULL
        || (why = claim_dir(pp, ptemp, dir)) != NULL) {
        return why;
    }
    give_to_children(ptemp, dir, 0);
    if (ap_global_mutex_create(&l->mutex, NULL, LLM_AUDIT_MUTEX,
                               apr_psprintf(ptemp, "trail%d", n), s, pp, 0)
        != APR_SUCCESS) {
        return "its mutex cannot be made (see the Mutex directive)";
    }
    if (found.torn_bytes) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, LLMLOGNO(04003)
                     "audit trail %s: %" APR_OFF_T_FMT " bytes after the "
                     "last whole record (seq %" APR_UINT64_T_FMT ") of %s: "
                     "a record torn by a crash; the chain goes on from "
                     "that record in a new file", dir, found.torn_bytes,
                     found.last_seq, found.last_file);
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(04002)
                 "audit trail %s: %d file(s), the chain goes on after seq %"
                 APR_UINT64_T_FMT " (hash %s)", dir, found.files,
                 l->state->chain.seq, l->state->chain.prev);
    apr_hash_set(all, apr_pstrdup(pp, dir), APR_HASH_KEY_STRING, l);
    *out = l;
    return NULL;
}

/* Remove @a name (in the directory @a at) and what is below it without
 * ever following a symbolic link: the keyring belongs to User, and a
 * directory swapped for a link while root walks it must not lead root
 * anywhere else (openat with O_NOFOLLOW, unlinkat). */
static void remove_at(int at, const char *name, int depth)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                              | O_CLOEXEC);
    DIR *d;
    struct dirent *e;

    if (fd < 0) {
        unlinkat(at, name, 0);          /* a file, or a link itself */
        return;
    }
    if (depth > 8 || !(d = fdopendir(fd))) {
        close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            remove_at(dirfd(d), e->d_name, depth + 1);
        }
    }
    closedir(d);
    unlinkat(at, name, AT_REMOVEDIR);
}

/* Keyrings of httpd processes that are gone (a stop, a crash): each
 * start makes its own (llm-audit-keys.<pid>.<n>); public keys only, but
 * they should not pile up in DefaultRuntimeDir. */
static void sweep_keyrings(apr_pool_t *p)
{
    const char *dir = ap_runtime_dir_relative(p, "");
    DIR *d;
    struct dirent *e;

    if (!dir || !(d = opendir(dir))) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        long pid;

        if (sscanf(e->d_name, "llm-audit-keys.%ld.", &pid) != 1
            || pid <= 0 || pid == (long)getpid()
            || kill((pid_t)pid, 0) == 0 || errno != ESRCH) {
            continue;
        }
        remove_at(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

static apr_status_t remove_checked(void *home)
{
    remove_at(AT_FDCWD, home, 0);
    return APR_SUCCESS;
}

/* This generation's keyring for the trail's recipients. The first pass
 * over the configuration (before httpd detaches, with another pid) only
 * checks the keys, in a keyring that goes with its temporary pool. */
static const char *keys(apr_pool_t *pconf, apr_pool_t *ptemp,
                        llm_audit_srv_conf_t *sc, llm_audit_trail_conf_t *t,
                        int n)
{
    int check = ap_state_query(AP_SQ_MAIN_STATE)
                == AP_SQ_MS_CREATE_PRE_CONFIG;
    const char *home = ap_runtime_dir_relative(
        pconf, apr_psprintf(pconf, "llm-audit-keys.%s%" APR_PID_T_FMT ".%d",
                            check ? "check." : "", getpid(), n));
    apr_array_header_t *fprs;
    const char *why;

    if (check) {
        apr_pool_cleanup_register(ptemp, home, remove_checked,
                                  apr_pool_cleanup_null);
    }
    else {
        sweep_keyrings(pconf);
    }
    if ((why = llm_audit_gpg_init()) != NULL
        || (why = llm_audit_gpg_prepare(pconf, home, sc->recipients,
                                        sc->keyring, &fprs)) != NULL) {
        return why;
    }
    t->recipients = apr_array_pstrcat(pconf, fprs, ' ');
    if (check) {
        return NULL;
    }
    if ((why = llm_audit_gpg_make(pconf, home, fprs, &t->gpg)) != NULL) {
        return why;
    }
    give_to_children(pconf, home, 1);
    return NULL;
}

static const char *make_trail(apr_pool_t *pconf, apr_pool_t *ptemp,
                              server_rec *s, llm_audit_srv_conf_t *sc,
                              llm_audit_trail_conf_t **out)
{
    llm_audit_trail_conf_t *t = apr_pcalloc(pconf, sizeof(*t));
    lasting_t *l;
    const char *why;

    t->dir = sc->dir;
    t->made_by = sc;
    t->encrypt = sc->encrypt != 0;
    if ((why = lasting(s, ptemp, sc->dir, trails->nelts, &l)) != NULL) {
        return why;
    }
    t->mutex = l->mutex;
    t->state = l->state;
    if (t->encrypt && (why = keys(pconf, ptemp, sc, t, trails->nelts))
                      != NULL) {
        return why;
    }
    t->opts.dir = t->dir;
    t->opts.rotate_size = sc->rotate >= 0 ? sc->rotate
                                          : LLM_AUDIT_DEFAULT_ROTATE;
    t->opts.rotate_age = sc->rotate_age > 0 ? sc->rotate_age : 0;
    t->opts.sync = 1;
    t->batch = sc->batch > 0 ? sc->batch : 0;
    t->batch_age = sc->batch_age;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, LLMLOGNO(04008)
                 "audit trail %s: records %s", t->dir, t->encrypt
                 ? apr_pstrcat(ptemp, "encrypted to ", t->recipients, NULL)
                 : "in clear (LLMAuditEncrypt Off)");
    APR_ARRAY_PUSH(trails, llm_audit_trail_conf_t *) = t;
    *out = t;
    return NULL;
}

static const char *joined(apr_pool_t *p, const apr_array_header_t *a)
{
    return a ? apr_array_pstrcat(p, a, ' ') : "";
}

/* What two servers sharing a trail disagree on, or NULL: a VirtualHost
 * with recipients of its own must not have its records sealed to the
 * main server's keys without a word. */
static const char *disagreement(apr_pool_t *p, const llm_audit_srv_conf_t *a,
                                const llm_audit_srv_conf_t *b)
{
    if ((a->encrypt != 0) != (b->encrypt != 0)) {
        return "LLMAuditEncrypt";
    }
    if (strcmp(joined(p, a->recipients), joined(p, b->recipients))) {
        return "LLMAuditRecipient";
    }
    if (strcmp(a->keyring ? a->keyring : "", b->keyring ? b->keyring : "")) {
        return "LLMAuditKeyring";
    }
    if (a->rotate != b->rotate || a->rotate_age != b->rotate_age) {
        return "LLMAuditRotate";
    }
    if (a->batch != b->batch
        || (a->batch > 0 && a->batch_age != b->batch_age)) {
        return "LLMAuditSync";
    }
    return NULL;
}

/* Servers that name the same directory share its trail (they agree on
 * how it is written: check_config). */
static void find_trail(llm_audit_srv_conf_t *sc)
{
    int i;

    for (i = 0; i < trails->nelts; i++) {
        llm_audit_trail_conf_t *t = APR_ARRAY_IDX(trails, i,
                                                  llm_audit_trail_conf_t *);

        if (!strcmp(t->dir, sc->dir)) {
            sc->trail = t;
            return;
        }
    }
}

/* What one server's trail settings say wrong, alone or against the
 * first server that named its directory (in @a seen). */
static const char *check_server(apr_pool_t *p, apr_hash_t *seen,
                                llm_audit_srv_conf_t *sc)
{
    const llm_audit_srv_conf_t *first = apr_hash_get(seen, sc->dir,
                                                     APR_HASH_KEY_STRING);
    const char *what;

    if (sc->batch > 0 && sc->encrypt == 0) {
        return "LLMAuditSync batch seals records together: it needs "
               "LLMAuditEncrypt On (records in clear cost no seal: use "
               "LLMAuditSync record)";
    }
    if (!first) {
        apr_hash_set(seen, sc->dir, APR_HASH_KEY_STRING, sc);
        return NULL;
    }
    if ((what = disagreement(p, first, sc)) != NULL) {
        return apr_psprintf(p, "servers sharing this LLMAuditDir disagree "
                            "on %s: give the VirtualHost an LLMAuditDir of "
                            "its own, or the same settings", what);
    }
    return NULL;
}

/* Mistakes of the configuration, said by "apachectl configtest" too
 * (which runs this hook, not post_config). */
static int check_config(apr_pool_t *pconf, apr_pool_t *plog,
                        apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *v;
    const char *why;

    (void)pconf;
    (void)plog;
    for (v = s; v; v = v->next) {
        llm_audit_srv_conf_t *sc = srv_conf(v);

        if (sc->dir && (why = check_server(ptemp, seen, sc)) != NULL) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, LLMLOGNO(04017)
                         "mod_llm_audit: audit trail %s: %s", sc->dir, why);
            return !OK;
        }
    }
    return OK;
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog,
                       apr_pool_t *ptemp, server_rec *s)
{
    server_rec *v;
    const char *why;

    (void)plog;
    trails = apr_array_make(pconf, 2, sizeof(llm_audit_trail_conf_t *));
    for (v = s; v; v = v->next) {
        llm_audit_srv_conf_t *sc = srv_conf(v);

        if (!sc->dir) {
            continue;
        }
        find_trail(sc);
        why = sc->trail ? NULL : make_trail(pconf, ptemp, v, sc, &sc->trail);
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, v, LLMLOGNO(04001)
                         "mod_llm_audit: audit trail %s: %s", sc->dir, why);
            return !OK;
        }
    }
    return OK;
}

static void child_init(apr_pool_t *pchild, server_rec *s)
{
    int i;

    for (i = 0; trails && i < trails->nelts; i++) {
        llm_audit_trail_conf_t *t = APR_ARRAY_IDX(trails, i,
                                                  llm_audit_trail_conf_t *);
        apr_status_t rv = apr_global_mutex_child_init(
            &t->mutex, apr_global_mutex_lockfile(t->mutex), pchild);

        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, LLMLOGNO(04004)
                         "audit trail %s: its mutex cannot be opened in "
                         "this child", t->dir);
        }
        t->writer = llm_audit_trail_make(pchild, &t->opts, t->state);
        if (t->batch && (rv = llm_audit_batch_start(pchild, s, t))
                        != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, LLMLOGNO(04014)
                         "audit trail %s: no thread to write batches in "
                         "this child: records are written one by one",
                         t->dir);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/* The trail failed to take @a records records (the lock held): from
 * now on LLMAuditOnFailure decides, until a write works again. */
void llm_audit_failed(server_rec *s, llm_audit_trail_conf_t *t,
                      apr_uint64_t records, apr_pool_t *p)
{
    llm_audit_state_t *st = t->state;

    (void)p;
    if (!st->failing_since) {
        st->failing_since = apr_time_now();
        /* The next try in a second: not the very next request. */
        st->probe_at = (apr_uint32_t)apr_time_sec(st->failing_since);
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, LLMLOGNO(04015)
                     "audit trail %s is failing: records are not being "
                     "written (LLMAuditOnFailure closed refuses requests "
                     "until it works again)", t->dir);
    }
    st->lost += records;
}

/* A write worked (the lock held): if the trail was failing, the gap is
 * written into the trail itself, as its next record. */
void llm_audit_worked(server_rec *s, llm_audit_trail_conf_t *t,
                      apr_pool_t *p)
{
    llm_audit_state_t *st = t->state;
    json_object *f;
    llm_audit_entry_t e = { apr_time_now(), "trail", NULL, NULL, 0, NULL, 0 };
    apr_uint64_t seq;
    const char *why;

    if (!st->failing_since) {
        return;
    }
    f = json_object_new_object();
    json_object_object_add(f, "state", llm_audit_str("resumed"));
    json_object_object_add(f, "failing_since", llm_audit_str(
        llm_audit_time(p, st->failing_since)));
    json_object_object_add(f, "lost",
                           json_object_new_int64((int64_t)st->lost));
    json_object_object_add(f, "refused",
                           json_object_new_int64((int64_t)st->refused));
    e.fields = f;
    llm_json_own(p, f);
    if ((t->gpg && llm_audit_seal(t->gpg, p, &e, &why) != APR_SUCCESS)
        || llm_audit_append(t->writer, p, &e, &seq, &why) != APR_SUCCESS) {
        return;                 /* still failing: the next write tries */
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, LLMLOGNO(04016)
                 "audit trail %s works again: %" APR_UINT64_T_FMT " record(s)"
                 " lost and %" APR_UINT64_T_FMT " request(s) refused since %s"
                 " (record %" APR_UINT64_T_FMT " says so)", t->dir, st->lost,
                 st->refused, llm_audit_time(p, st->failing_since), seq);
    st->failing_since = 0;
    st->lost = 0;
    st->refused = 0;
}

/* One record of @a event, sealed with no lock held, then appended (or,
 * in batch mode, queued for the child's writer). Returns whether it was
 * written (queued). */
static int write_record(request_rec *r, llm_audit_trail_conf_t *t,
                        const char *event, llm_audit_w_t *w)
{
    llm_audit_entry_t e = { apr_time_now(), event, NULL, NULL, 0, NULL, 0 };
    apr_uint64_t seq = 0;
    const char *why = NULL;
    apr_status_t rv;

    e.text = llm_audit_w_text(w, &e.text_len);
    if (t->batcher) {
        apr_size_t len = 0;
        const char *body = llm_audit_body_line(r->pool, &e, &len);

        llm_audit_batch_add(t->batcher, body, len);
        return 1;
    }
    if (t->gpg && (rv = llm_audit_seal(t->gpg, r->pool, &e, &why))
                  != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LLMLOGNO(04005)
                      "audit record (%s) NOT written to %s: %s", event,
                      t->dir, why);
        if (apr_global_mutex_lock(t->mutex) == APR_SUCCESS) {
            llm_audit_failed(r->server, t, 1, r->pool);
            apr_global_mutex_unlock(t->mutex);
        }
        return 0;
    }
    if ((rv = apr_global_mutex_lock(t->mutex)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LLMLOGNO(04006)
                      "audit record (%s) NOT written to %s: its lock "
                      "failed", event, t->dir);
        return 0;
    }
    rv = llm_audit_append(t->writer, r->pool, &e, &seq, &why);
    if (rv == APR_SUCCESS) {
        llm_audit_worked(r->server, t, r->pool);
    }
    else {
        llm_audit_failed(r->server, t, 1, r->pool);
    }
    apr_global_mutex_unlock(t->mutex);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LLMLOGNO(04007)
                      "audit record (%s) NOT written to %s: %s", event,
                      t->dir, why);
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LLMLOGNO(04009)
                  "audit record %" APR_UINT64_T_FMT " (%s) written", seq,
                  event);
    return 1;
}

static llm_audit_dir_conf_t *dir_conf(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &llm_audit_module);
}

static int events(const llm_audit_dir_conf_t *dc)
{
    return dc->events == LLM_AUDIT_UNSET ? LLM_AUDIT_EV_ALL : dc->events;
}

static int fails_closed(const llm_audit_dir_conf_t *dc)
{
    return dc->on_failure != LLM_AUDIT_FAIL_OPEN;
}

/* The trail of r's server, when r is audited; NULL otherwise (said in
 * the error log when LLMAudit On has no trail). */
static llm_audit_trail_conf_t *trail_of(request_rec *r)
{
    llm_audit_trail_conf_t *t;

    if (dir_conf(r)->audit != 1) {
        return NULL;
    }
    if (!(t = srv_conf(r->server)->trail) || !t->writer) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LLMLOGNO(04010)
                      "LLMAudit On, but no LLMAuditDir for server %s: "
                      "audit record NOT written", r->server->server_hostname);
        return NULL;
    }
    return t;
}

/* A request refused because the trail fails: no record of it is tried
 * (the trail's "resumed" record counts it). */
#define REFUSED_NOTE "llm-audit-refused"

/*
 * LLMAuditOnFailure closed: while the trail fails, requests are refused
 * before anything is sent to a provider — except one a second, across
 * all children, which goes through to try the trail again (its records
 * clear the failure, or its answer is refused at its end).
 */
static int audit_request_parsed(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_audit_trail_conf_t *t = trail_of(r);
    llm_audit_state_t *st;
    apr_uint32_t now, was;

    if (!t || !(st = t->state)->failing_since
        || !fails_closed(dir_conf(r))) {
        return DECLINED;
    }
    now = (apr_uint32_t)apr_time_sec(apr_time_now());
    was = st->probe_at;
    if (was != now && apr_atomic_cas32(&st->probe_at, now, was) == was) {
        return DECLINED;
    }
    if (apr_global_mutex_lock(t->mutex) == APR_SUCCESS) {
        st->refused++;
        apr_global_mutex_unlock(t->mutex);
    }
    apr_table_setn(r->notes, REFUSED_NOTE, "1");
    ctx->error_code = "audit_unavailable";
    ctx->error_message = "The audit trail cannot be written: the request "
                         "is refused until it can (LLMAuditOnFailure "
                         "closed).";
    return HTTP_SERVICE_UNAVAILABLE;
}

/* Audited requests of a trail written record by record hold their
 * response's end until the records are written. */
static APR_OPTIONAL_FN_TYPE(llm_router_get_ctx) *get_ctx;

/* Looked up once per (re)start, not per request. */
static void retrieve_optional_fns(void)
{
    get_ctx = APR_RETRIEVE_OPTIONAL_FN(llm_router_get_ctx);
}

static void audit_insert_filter(request_rec *r)
{
    llm_audit_trail_conf_t *t;
    llm_req_ctx_t *ctx;

    /* Only where the router's handler will run llm_request_done, which
     * lets the held end go: not under another handler (SetHandler). */
    if (r->main || r->prev || dir_conf(r)->audit != 1 || !r->handler
        || strcmp(r->handler, LLM_ROUTER_HANDLER) || !get_ctx
        || !(ctx = get_ctx(r)) || !(t = srv_conf(r->server)->trail)
        || t->batcher) {
        return;
    }
    llm_audit_hold_add(r, ctx);
}

static int audit_request_done(request_rec *r, llm_req_ctx_t *ctx)
{
    llm_audit_dir_conf_t *dc = dir_conf(r);
    llm_audit_trail_conf_t *t = trail_of(r);
    int ev = events(dc), written = 1;
    llm_audit_w_t w;

    if (!t || apr_table_get(r->notes, REFUSED_NOTE)) {
        llm_audit_hold_release(r);
        return DECLINED;
    }
    if (ctx->guard_verdict && (ev & LLM_AUDIT_EV_GUARD)) {
        llm_audit_w_init(&w, r->pool);
        llm_audit_guard_fields(&w, r, ctx, 0);
        written &= write_record(r, t, "guard", &w);
    }
    if (ctx->answer_guard_verdict && (ev & LLM_AUDIT_EV_GUARD)) {
        llm_audit_w_init(&w, r->pool);
        llm_audit_guard_fields(&w, r, ctx, 1);
        written &= write_record(r, t, "guard", &w);
    }
    if (ctx->masked > 0 && (ev & LLM_AUDIT_EV_MASKING)) {
        llm_audit_w_init(&w, r->pool);
        llm_audit_masking_fields(&w, r, ctx,
                                 dc->mask_mappings == 1 && t->encrypt);
        written &= write_record(r, t, "masking", &w);
    }
    if (ev & LLM_AUDIT_EV_REQUEST) {
        llm_audit_w_init(&w, r->pool);
        llm_audit_request_fields(&w, r, ctx);
        written &= write_record(r, t, "request", &w);
    }
    if (!written && fails_closed(dc)) {
        llm_audit_hold_refuse(r, ctx);
    }
    else {
        llm_audit_hold_release(r);
    }
    return OK;
}

/* An access refusal (mod_llm_access), before its answer is written. */
static int audit_access_refused(request_rec *r, const llm_access_event_t *ev)
{
    llm_audit_trail_conf_t *t;
    llm_audit_w_t w;

    if (!(events(dir_conf(r)) & LLM_AUDIT_EV_ACCESS)
        || !(t = trail_of(r))) {
        return DECLINED;
    }
    llm_audit_w_init(&w, r->pool);
    llm_audit_access_fields(&w, r, ev);
    write_record(r, t, "access", &w);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(retrieve_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_insert_filter(audit_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    llm_audit_hold_register();
    /* First: a refused request costs no masking and no guard. */
    APR_OPTIONAL_HOOK(llm, llm_request_parsed, audit_request_parsed, NULL,
                      NULL, APR_HOOK_FIRST);
    APR_OPTIONAL_HOOK(llm, llm_request_done, audit_request_done, NULL, NULL,
                      APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(llm, llm_access_refused, audit_access_refused, NULL,
                      NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_audit) = {
    STANDARD20_MODULE_STUFF,
    llm_audit_create_dir,
    llm_audit_merge_dir,
    llm_audit_create_srv,
    llm_audit_merge_srv,
    llm_audit_cmds,
    register_hooks,
#ifdef AP_MODULE_FLAG_NONE
    AP_MODULE_FLAG_NONE
#endif
};
