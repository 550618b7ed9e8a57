/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Reading a trail back: the chain check (llmctl audit verify), which
 * needs no key, and the records opened (llmctl audit show).
 *
 * The check walks every line of every file in chain order and wants,
 * of each record, the next seq and as prev the SHA-256 of the line
 * before it. The first line that does not is named, with what it most
 * likely means:
 *   - a seq past the one expected: records deleted (or a whole file);
 *   - a seq before it: records reordered or repeated;
 *   - the right seq, a wrong prev: a record altered — the one before
 *     when this one's own hash is what the next record holds (its
 *     content was edited), else this one (its prev was edited);
 *   - a line that is not a record: altered, or cut in the middle.
 * A file whose last bytes are not a whole line holds a record torn by
 * a crash: acceptable (LLM_AUDIT_TORN) when the chain goes on from the
 * record before it, as the writer does after a crash.
 *
 * What a chain cannot show: records cut off the end of the newest file
 * at a line boundary, or a trail rewritten from some record on by
 * someone who recomputes every hash after it. docs/audit.md says how
 * the error log's chain heads anchor it.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_file_info.h"

#include "llm_audit.h"

typedef struct {
    const char *file;
    int line;
    int torn;                        /* the file's last bytes, no newline */
    int ok;                          /* a record (head parsed) */
    const char *why;                 /* when not */
    llm_audit_head_t head;
    char hash[LLM_SHA256_HEX];
    const char *text;                /* the line, NUL-terminated */
    apr_size_t len;
} entry_t;

static int by_chain(const void *a, const void *b)
{
    const llm_audit_file_t *x = a, *y = b;

    if (x->seq != y->seq) {
        return x->seq < y->seq ? -1 : 1;
    }
    return x->n < y->n ? -1 : x->n > y->n;
}

/* Every trail file named by @a dirs (a directory's trail files, or a
 * file itself), in chain order. */
static const char *gather(apr_pool_t *p, const apr_array_header_t *dirs,
                          apr_array_header_t **out)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(llm_audit_file_t));
    int i;

    for (i = 0; i < dirs->nelts; i++) {
        const char *d = APR_ARRAY_IDX(dirs, i, const char *);
        apr_finfo_t fi;
        apr_status_t rv;
        apr_array_header_t *files;

        if (apr_stat(&fi, d, APR_FINFO_TYPE, p) != APR_SUCCESS) {
            return apr_psprintf(p, "%s: no such file or directory", d);
        }
        if (fi.filetype == APR_REG) {
            llm_audit_file_t f = { d, d, 0, 0 };
            const char *base = strrchr(d, '/');
            apr_array_header_t *one;

            /* Its place from its name, as the directory listing gives. */
            one = llm_audit_files(p, base ? apr_pstrndup(p, d, base - d)
                                          : ".", &rv);
            f.name = base ? base + 1 : d;
            for (int k = 0; one && k < one->nelts; k++) {
                llm_audit_file_t *g = &APR_ARRAY_IDX(one, k,
                                                     llm_audit_file_t);
                if (!strcmp(g->name, f.name)) {
                    f.seq = g->seq;
                    f.n = g->n;
                }
            }
            APR_ARRAY_PUSH(all, llm_audit_file_t) = f;
            continue;
        }
        if (!(files = llm_audit_files(p, d, &rv))) {
            return apr_psprintf(p, "%s cannot be read", d);
        }
        apr_array_cat(all, files);
    }
    qsort(all->elts, (size_t)all->nelts, sizeof(llm_audit_file_t), by_chain);
    *out = all;
    return NULL;
}

static const char *slurp(apr_pool_t *p, const char *path, char **buf,
                         apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        return apr_psprintf(p, "%s cannot be read", path);
    }
    *len = (apr_size_t)fi.size;
    *buf = apr_palloc(p, *len + 1);
    if (*len && apr_file_read_full(f, *buf, *len, NULL) != APR_SUCCESS) {
        apr_file_close(f);
        return apr_psprintf(p, "%s cannot be read", path);
    }
    (*buf)[*len] = '\0';
    apr_file_close(f);
    return NULL;
}

/* Every line of every file, in order. */
static const char *entries(apr_pool_t *p, const apr_array_header_t *dirs,
                           apr_array_header_t **out, int *nfiles)
{
    apr_array_header_t *files = NULL;
    apr_array_header_t *es = apr_array_make(p, 64, sizeof(entry_t));
    const char *why;
    int i;

    if ((why = gather(p, dirs, &files)) != NULL) {
        return why;
    }
    *nfiles = files->nelts;
    for (i = 0; i < files->nelts; i++) {
        const llm_audit_file_t *f = &APR_ARRAY_IDX(files, i,
                                                   llm_audit_file_t);
        char *buf = NULL, *s, *nl;
        apr_size_t len = 0;
        int line = 0;

        if ((why = slurp(p, f->path, &buf, &len)) != NULL) {
            return why;
        }
        for (s = buf; s < buf + len; s = nl + 1) {
            entry_t *e = apr_array_push(es);

            memset(e, 0, sizeof(*e));
            nl = memchr(s, '\n', (apr_size_t)(buf + len - s));
            e->file = f->path;
            e->line = ++line;
            e->text = s;
            if (!nl) {
                e->torn = 1;
                e->len = (apr_size_t)(buf + len - s);
                break;
            }
            *nl = '\0';
            e->len = (apr_size_t)(nl - s);
            e->ok = llm_audit_line_head(p, s, e->len, &e->head, &e->why)
                    == APR_SUCCESS;
            llm_sha256_hex(s, e->len, e->hash);
        }
    }
    *out = es;
    return NULL;
}

static const char *at(apr_pool_t *p, const entry_t *e)
{
    return apr_psprintf(p, "%s line %d", e->file, e->line);
}

/* The right seq, the wrong prev: which record was altered. */
static const char *altered(apr_pool_t *p, const entry_t *es, int i, int n,
                           const entry_t *prev)
{
    const entry_t *e = &es[i], *next = NULL;
    int k;

    for (k = i + 1; k < n && !next; k++) {
        if (!es[k].torn) {
            next = &es[k];
        }
    }
    if (!prev) {
        return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) does not "
                            "start the trail: its prev is not the genesis "
                            "hash (altered, or the records before it "
                            "removed: --partial accepts that)",
                            e->head.seq, at(p, e));
    }
    if (next && next->ok && !strcmp(next->head.prev, e->hash)) {
        return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) was altered: "
                            "its hash is not the prev of seq %"
                            APR_UINT64_T_FMT " (%s)", prev->head.seq,
                            at(p, prev), e->head.seq, at(p, e));
    }
    return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) was altered: "
                        "its prev is not the hash of seq %" APR_UINT64_T_FMT
                        " (%s)", e->head.seq, at(p, e), prev->head.seq,
                        at(p, prev));
}

/* A seq not the one expected: deleted records, or reordered ones (the
 * expected seq comes later). */
static const char *out_of_place(apr_pool_t *p, const entry_t *es, int i,
                                int n, apr_uint64_t want)
{
    const entry_t *e = &es[i];
    int k;

    if (e->head.seq < want) {
        return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) comes where "
                            "seq %" APR_UINT64_T_FMT " should: records "
                            "reordered or repeated", e->head.seq, at(p, e),
                            want);
    }
    for (k = i + 1; k < n; k++) {
        if (es[k].ok && es[k].head.seq == want) {
            return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) comes "
                                "before seq %" APR_UINT64_T_FMT " (%s): "
                                "records reordered", e->head.seq, at(p, e),
                                want, at(p, &es[k]));
        }
    }
    return apr_psprintf(p, "records %" APR_UINT64_T_FMT "..%" APR_UINT64_T_FMT
                        " are missing before %s (deleted)", want,
                        e->head.seq - 1, at(p, e));
}

apr_status_t llm_audit_verify(apr_pool_t *p,
                              const apr_array_header_t *dirs,
                              int partial, llm_audit_report_t *rep)
{
    apr_array_header_t *arr;
    const entry_t *es, *prev = NULL, *torn = NULL;
    llm_audit_chain_t want;
    const char *why;
    int i, n;

    memset(rep, 0, sizeof(*rep));
    if ((why = entries(p, dirs, &arr, &rep->files)) != NULL) {
        rep->message = why;
        return APR_EGENERAL;
    }
    es = (const entry_t *)arr->elts;
    n = arr->nelts;
    llm_audit_chain_genesis(&want);
    want.seq = 1;
    for (i = 0; i < n; i++) {
        const entry_t *e = &es[i];

        if (e->torn) {
            torn = e;
            continue;
        }
        if (!e->ok) {
            rep->verdict = LLM_AUDIT_BROKEN;
            rep->message = apr_psprintf(p, "%s is not a record (%s): "
                                        "altered or cut", at(p, e), e->why);
            return APR_SUCCESS;
        }
        if (!prev && partial) {
            want.seq = e->head.seq;
            memcpy(want.prev, e->head.prev, LLM_SHA256_HEX);
        }
        if (e->head.seq != want.seq) {
            rep->verdict = LLM_AUDIT_BROKEN;
            rep->message = out_of_place(p, es, i, n, want.seq);
            return APR_SUCCESS;
        }
        if (strcmp(e->head.prev, want.prev)) {
            rep->verdict = LLM_AUDIT_BROKEN;
            rep->message = altered(p, es, i, n, prev);
            return APR_SUCCESS;
        }
        if (torn) {
            rep->verdict = LLM_AUDIT_TORN;
            rep->message = apr_psprintf(p, "%s: the last %" APR_SIZE_T_FMT
                                        " bytes are a record torn by a "
                                        "crash; the chain goes on from the "
                                        "record before them", at(p, torn),
                                        torn->len);
            torn = NULL;
        }
        memcpy(want.prev, e->hash, LLM_SHA256_HEX);
        want.seq += e->head.count;
        rep->records += e->head.count;
        prev = e;
    }
    if (torn) {
        rep->verdict = LLM_AUDIT_TORN;
        rep->message = apr_psprintf(p, "%s: the trail ends in %"
                                    APR_SIZE_T_FMT " bytes of a torn record "
                                    "(a crash while writing, or the file "
                                    "was cut)", at(p, torn), torn->len);
    }
    if (rep->verdict == LLM_AUDIT_INTACT) {
        rep->message = apr_psprintf(p, "%" APR_UINT64_T_FMT " records in %d "
                                    "file(s), chain intact", rep->records,
                                    rep->files);
    }
    return APR_SUCCESS;
}

/* The records of a sealed line opened: each body (one per line of
 * @a body, e->head.count of them) as its plaintext line, given to @a fn.
 * Returns why not, or NULL; *stop when @a fn said so. */
static const char *each_sealed(apr_pool_t *p, const entry_t *e,
                               const char *body, apr_size_t blen,
                               llm_audit_line_fn fn, void *baton, int *stop)
{
    const char *s = body, *end = body + blen;
    apr_uint64_t i;

    for (i = 0; i < e->head.count; i++) {
        const char *nl = memchr(s, '\n', (apr_size_t)(end - s));
        const char *eol = nl ? nl : end;
        const char *text;
        apr_size_t len = 0;

        if (s >= end) {
            return apr_psprintf(p, "%s: the sealed batch holds fewer "
                                "records than its count", at(p, e));
        }
        text = llm_audit_unseal_line(p, e->head.seq + i, e->head.prev, s,
                                     (apr_size_t)(eol - s), &len);
        if (!text) {
            return apr_psprintf(p, "%s: the sealed body is not a record",
                                at(p, e));
        }
        if (fn(baton, e->file, text, len)) {
            *stop = 1;
            return NULL;
        }
        s = nl ? nl + 1 : end;
    }
    if (s < end) {
        return apr_psprintf(p, "%s: the sealed batch holds more records "
                            "than its count", at(p, e));
    }
    return NULL;
}

const char *llm_audit_read(apr_pool_t *p, const apr_array_header_t *dirs,
                           const char *home, llm_audit_line_fn fn,
                           void *baton)
{
    apr_array_header_t *arr;
    const char *why;
    int i, files, stop = 0;

    if ((why = entries(p, dirs, &arr, &files)) != NULL) {
        return why;
    }
    for (i = 0; i < arr->nelts && !stop; i++) {
        const entry_t *e = &APR_ARRAY_IDX(arr, i, entry_t);
        const char *body;
        apr_size_t blen = 0;

        if (e->torn) {
            continue;
        }
        if (!e->ok) {
            return apr_psprintf(p, "%s is not a record (%s)", at(p, e),
                                e->why);
        }
        if (!e->head.pgp) {
            stop = fn(baton, e->file, e->text, e->len);
            continue;
        }
        body = llm_audit_gpg_decrypt(p, home, e->head.pgp, &blen, &why);
        if (!body) {
            return apr_psprintf(p, "%s: %s", at(p, e), why);
        }
        if ((why = each_sealed(p, e, body, blen, fn, baton, &stop))
            != NULL) {
            return why;
        }
    }
    return NULL;
}
