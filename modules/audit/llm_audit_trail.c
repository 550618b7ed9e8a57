/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The trail's files: which there are, where the chain stands when the
 * trail is opened, and the append of one record.
 *
 * Files are named after the seq of their first record,
 * llm-audit.<16 digits>.jsonl, so that their names sort in chain order;
 * a second file starting at the same seq (a crash tore the first
 * record of the first) gets ".<n>" before the suffix.
 *
 * A record is one line written with one write() to a file opened
 * O_APPEND, then (sync) fdatasync'd. A crash can leave at most that
 * line torn. The next start finds it (llm_audit_recover): the chain
 * goes on from the last whole record, in a new file, and the torn
 * bytes stay where they are, as evidence; llmctl audit verify reports
 * them. A failed write is cut off again at once, so a trail never holds
 * a torn record in the middle of a file.
 *
 * The state (chain, current file, its size) may be shared by many
 * processes (mod_llm_audit keeps it in shared memory): each writer
 * checks, with the lock held, that its open file is still the current
 * one.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_file_info.h"

#include "llm_audit.h"

#define PERMS (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD)
#define DIR_PERMS (APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE)

struct llm_audit_trail {
    apr_pool_t *pool;
    llm_audit_opts_t opts;
    llm_audit_state_t *st;
    apr_file_t *file;                /* open on (file_seq, file_n) */
    apr_uint64_t file_seq;
    unsigned int file_n;
};

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static const char *file_name(apr_pool_t *p, apr_uint64_t seq, unsigned n)
{
    char num[32];

    apr_snprintf(num, sizeof(num), "%016" APR_UINT64_T_FMT, seq);
    return n ? apr_psprintf(p, LLM_AUDIT_PREFIX "%s.%u" LLM_AUDIT_SUFFIX,
                            num, n)
             : apr_pstrcat(p, LLM_AUDIT_PREFIX, num, LLM_AUDIT_SUFFIX, NULL);
}

/* llm-audit.<16 digits>[.<n>].jsonl → seq, n. */
static int parse_name(const char *name, apr_uint64_t *seq, unsigned *n)
{
    const char *s = name + sizeof(LLM_AUDIT_PREFIX) - 1;
    int i;

    if (strncmp(name, LLM_AUDIT_PREFIX, sizeof(LLM_AUDIT_PREFIX) - 1)) {
        return 0;
    }
    *seq = 0;
    *n = 0;
    for (i = 0; i < 16; i++, s++) {
        if (!apr_isdigit(*s)) {
            return 0;
        }
        *seq = *seq * 10 + (apr_uint64_t)(*s - '0');
    }
    if (*s == '.' && apr_isdigit(s[1])) {
        for (s++; apr_isdigit(*s) && *n < 100000; s++) {
            *n = *n * 10 + (unsigned)(*s - '0');
        }
    }
    return !strcmp(s, LLM_AUDIT_SUFFIX);
}

static int by_chain(const void *a, const void *b)
{
    const llm_audit_file_t *x = a, *y = b;

    if (x->seq != y->seq) {
        return x->seq < y->seq ? -1 : 1;
    }
    return x->n < y->n ? -1 : x->n > y->n;
}

apr_array_header_t *llm_audit_files(apr_pool_t *p, const char *dir,
                                    apr_status_t *rv)
{
    apr_array_header_t *files = apr_array_make(p, 8,
                                               sizeof(llm_audit_file_t));
    apr_dir_t *d;
    apr_finfo_t fi;
    llm_audit_file_t f;

    if ((*rv = apr_dir_open(&d, dir, p)) != APR_SUCCESS) {
        return NULL;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        if (fi.filetype == APR_REG && parse_name(fi.name, &f.seq, &f.n)) {
            f.name = apr_pstrdup(p, fi.name);
            f.path = apr_pstrcat(p, dir, "/", fi.name, NULL);
            APR_ARRAY_PUSH(files, llm_audit_file_t) = f;
        }
    }
    apr_dir_close(d);
    qsort(files->elts, (size_t)files->nelts, sizeof(llm_audit_file_t),
          by_chain);
    return files;
}

/* ------------------------------------------------------------------ */
/* Recovery                                                            */
/* ------------------------------------------------------------------ */

/* The last whole record of @a path: its seq and hash into @a chain, and
 * in *good the offset where it ends (after its newline); 0 when the
 * file holds none. Reads a window from the end, doubled until a record
 * is found or the whole file was read. */
static const char *last_record(apr_pool_t *p, const char *path,
                               apr_off_t *size, llm_audit_chain_t *chain,
                               apr_off_t *good)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_off_t window = 64 * 1024, at;
    llm_audit_head_t head;
    const char *why;

    *good = 0;
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        return apr_psprintf(p, "%s cannot be read", path);
    }
    *size = fi.size;
    for (;; window *= 2) {
        apr_size_t n;
        char *buf, *end;

        at = fi.size > window ? fi.size - window : 0;
        n = (apr_size_t)(fi.size - at);
        buf = apr_palloc(p, n + 1);
        if (apr_file_seek(f, APR_SET, &at) != APR_SUCCESS
            || (n && apr_file_read_full(f, buf, n, NULL) != APR_SUCCESS)) {
            apr_file_close(f);
            return apr_psprintf(p, "%s cannot be read", path);
        }
        /* Lines backwards: [start, end) before each newline. */
        end = buf + n;
        while (end > buf && end[-1] != '\n') {
            end--;
        }
        while (end > buf) {
            char *start = end - 1;          /* at its newline */

            while (start > buf && start[-1] != '\n') {
                start--;
            }
            if (start == buf && at > 0) {
                break;                      /* may begin before the window */
            }
            if (llm_audit_line_head(p, start, (apr_size_t)(end - 1 - start),
                                    &head, &why) == APR_SUCCESS) {
                chain->seq = head.seq + head.count - 1;
                llm_core_sha256_hex(start, (apr_size_t)(end - 1 - start),
                               chain->prev);
                *good = at + (end - buf);
                apr_file_close(f);
                return NULL;
            }
            end = start;
        }
        if (at == 0) {
            break;
        }
    }
    apr_file_close(f);
    return NULL;
}

static unsigned int free_n(apr_pool_t *p, const char *dir, apr_uint64_t seq)
{
    apr_finfo_t fi;
    unsigned int n = 0;

    while (apr_stat(&fi, apr_pstrcat(p, dir, "/", file_name(p, seq, n),
                                     NULL), APR_FINFO_TYPE, p)
           == APR_SUCCESS) {
        n++;
    }
    return n;
}

const char *llm_audit_recover(apr_pool_t *p, const char *dir,
                              llm_audit_state_t *st,
                              llm_audit_found_t *found)
{
    apr_array_header_t *files;
    apr_status_t rv;
    apr_off_t size = 0, good = 0, newest_size = 0;
    int i;

    memset(st, 0, sizeof(*st));
    memset(found, 0, sizeof(*found));
    llm_audit_chain_genesis(&st->chain);
    if ((rv = apr_dir_make_recursive(dir, DIR_PERMS, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "%s cannot be made", dir);
    }
    if (!(files = llm_audit_files(p, dir, &rv))) {
        return apr_psprintf(p, "%s cannot be read", dir);
    }
    found->files = files->nelts;
    for (i = files->nelts - 1; i >= 0; i--) {
        const llm_audit_file_t *f = &APR_ARRAY_IDX(files, i,
                                                   llm_audit_file_t);
        const char *why = last_record(p, f->path, &size, &st->chain, &good);

        if (why) {
            return why;
        }
        if (i == files->nelts - 1) {
            found->last_file = f->name;
            newest_size = size;
            found->torn_bytes = size - good;
        }
        else {
            found->torn_bytes += size - good;
        }
        if (good) {
            break;
        }
    }
    found->last_seq = st->chain.seq;
    if (files->nelts && i == files->nelts - 1 && good == newest_size) {
        /* A clean end: go on in the newest file. */
        const llm_audit_file_t *f = &APR_ARRAY_IDX(files, i,
                                                   llm_audit_file_t);

        st->file_seq = f->seq;
        st->file_n = f->n;
        st->size = newest_size;
        st->file_started = apr_time_now();
        return NULL;
    }
    st->file_seq = st->chain.seq + 1;
    st->file_n = free_n(p, dir, st->file_seq);
    st->file_started = apr_time_now();
    found->new_file = files->nelts > 0;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Appending                                                           */
/* ------------------------------------------------------------------ */

llm_audit_trail_t *llm_audit_trail_make(apr_pool_t *p,
                                        const llm_audit_opts_t *o,
                                        llm_audit_state_t *st)
{
    llm_audit_trail_t *t = apr_pcalloc(p, sizeof(*t));

    t->pool = p;
    t->opts = *o;
    t->opts.dir = apr_pstrdup(p, o->dir);
    t->st = st;
    return t;
}

/* The directory's entry of a new file made durable. */
static void sync_dir(llm_audit_trail_t *t, apr_pool_t *p)
{
    apr_file_t *d;

    if (apr_file_open(&d, t->opts.dir, APR_FOPEN_READ, 0, p)
        == APR_SUCCESS) {
        apr_file_sync(d);
        apr_file_close(d);
    }
}

/* The file the state names, open for appending. */
static apr_status_t open_current(llm_audit_trail_t *t, apr_pool_t *p,
                                 const char **why)
{
    llm_audit_state_t *st = t->st;
    const char *path;
    apr_status_t rv;

    if (t->file && t->file_seq == st->file_seq && t->file_n == st->file_n) {
        return APR_SUCCESS;
    }
    if (t->file) {
        apr_file_close(t->file);
        t->file = NULL;
    }
    path = apr_pstrcat(p, t->opts.dir, "/",
                       file_name(p, st->file_seq, st->file_n), NULL);
    /* The trail's pool owns the file: it outlives the record's. */
    rv = apr_file_open(&t->file, path, APR_FOPEN_READ | APR_FOPEN_WRITE
                       | APR_FOPEN_CREATE | APR_FOPEN_APPEND
                       | APR_FOPEN_BINARY, PERMS, t->pool);
    if (rv != APR_SUCCESS) {
        t->file = NULL;
        *why = apr_psprintf(p, "%s cannot be opened for appending", path);
        return rv;
    }
    t->file_seq = st->file_seq;
    t->file_n = st->file_n;
    if (st->size == 0 && t->opts.sync) {
        sync_dir(t, p);
    }
    return APR_SUCCESS;
}

/* Rotation: the next record starts a new file. */
static void next_file(llm_audit_trail_t *t, apr_pool_t *p)
{
    llm_audit_state_t *st = t->st;

    st->file_seq = st->chain.seq + 1;
    st->file_n = free_n(p, t->opts.dir, st->file_seq);
    st->size = 0;
    st->file_started = apr_time_now();
    st->broken = 0;
}

/* Is it time for a new file before @a len more bytes? Never for an
 * empty one: a record bigger than the limit still gets a file. */
static int rotate_now(const llm_audit_trail_t *t, apr_size_t len)
{
    const llm_audit_state_t *st = t->st;

    if (st->broken) {
        return 1;
    }
    if (st->size == 0) {
        return 0;
    }
    return (t->opts.rotate_size
            && st->size + (apr_off_t)len > t->opts.rotate_size)
           || (t->opts.rotate_age
               && apr_time_now() - st->file_started >= t->opts.rotate_age);
}

/* A write that failed: cut what it left, or move to a new file. */
static void undo(llm_audit_trail_t *t)
{
    if (apr_file_trunc(t->file, t->st->size) != APR_SUCCESS) {
        t->st->broken = 1;
    }
}

/*
 * The file holds more than the shared state says: a writer died (kill
 * -9) after its write and before it moved the state on, with the lock
 * released by its death. Whole records in that tail that chain on from
 * the state are taken into it; anything after them (a record torn in
 * its write) is cut off, or, when it cannot be, the next record starts
 * a new file. A file shorter than the state says was cut by someone
 * else: the chain goes on in a new file.
 */
static apr_status_t catch_up(llm_audit_trail_t *t, apr_pool_t *p)
{
    llm_audit_state_t *st = t->st;
    apr_finfo_t fi;
    apr_off_t at = st->size;
    apr_size_t n;
    char *buf, *line, *nl;
    apr_status_t rv;

    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, t->file))
        != APR_SUCCESS || fi.size == st->size) {
        return rv;
    }
    if (fi.size < st->size || fi.size - st->size > 64 * 1024 * 1024) {
        st->broken = 1;
        return APR_SUCCESS;
    }
    n = (apr_size_t)(fi.size - st->size);
    buf = apr_palloc(p, n + 1);
    if ((rv = apr_file_seek(t->file, APR_SET, &at)) != APR_SUCCESS
        || (rv = apr_file_read_full(t->file, buf, n, NULL)) != APR_SUCCESS) {
        st->broken = 1;
        return APR_SUCCESS;
    }
    buf[n] = '\0';
    for (line = buf; (nl = memchr(line, '\n', n - (line - buf))); ) {
        llm_audit_head_t head;
        const char *why;
        apr_size_t len = (apr_size_t)(nl - line);

        if (llm_audit_line_head(p, line, len, &head, &why) != APR_SUCCESS
            || head.seq != st->chain.seq + 1
            || strcmp(head.prev, st->chain.prev)) {
            break;
        }
        st->chain.seq = head.seq + head.count - 1;
        llm_core_sha256_hex(line, len, st->chain.prev);
        st->size += (apr_off_t)len + 1;
        line = nl + 1;
    }
    if (st->size < fi.size && apr_file_trunc(t->file, st->size)
                              != APR_SUCCESS) {
        st->broken = 1;
    }
    return APR_SUCCESS;
}

apr_status_t llm_audit_append(llm_audit_trail_t *t, apr_pool_t *p,
                              const llm_audit_entry_t *e,
                              apr_uint64_t *seq, const char **why)
{
    llm_audit_state_t *st = t->st;
    apr_uint64_t next = st->chain.seq + 1;
    apr_uint64_t count = e->count > 1 && e->pgp ? e->count : 1;
    apr_size_t len = 0;
    const char *line = e->pgp
        ? llm_audit_envelope_line(p, next, count, st->chain.prev, e->pgp,
                                  &len)
        : llm_audit_record_line(p, next, st->chain.prev, e, &len);
    char *buf = apr_palloc(p, len + 1);
    apr_status_t rv;

    memcpy(buf, line, len);
    buf[len] = '\n';
    /* The current file first, as it is: a writer that died may have left
     * records in it the state does not know of (before the size decides
     * on a rotation, or the new file would start at a seq already used). */
    if ((rv = open_current(t, p, why)) != APR_SUCCESS) {
        return rv;
    }
    if (catch_up(t, p) == APR_SUCCESS && st->chain.seq + 1 != next) {
        /* Records of a writer that died took their place: this one is
         * made again after them. */
        return llm_audit_append(t, p, e, seq, why);
    }
    if (rotate_now(t, len + 1)) {
        next_file(t, p);
        if ((rv = open_current(t, p, why)) != APR_SUCCESS) {
            return rv;
        }
    }
    rv = apr_file_write_full(t->file, buf, len + 1, NULL);
    if (rv != APR_SUCCESS) {
        undo(t);
        *why = "the record could not be written";
        return rv;
    }
    if (t->opts.sync && (rv = apr_file_datasync(t->file)) != APR_SUCCESS) {
        undo(t);
        *why = "the record could not be synced to disk";
        return rv;
    }
    st->chain.seq = next + count - 1;
    llm_core_sha256_hex(line, len, st->chain.prev);
    st->size += (apr_off_t)len + 1;
    *seq = next;
    return APR_SUCCESS;
}
