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
 * Both read the files as a stream, a line at a time through a buffer
 * as long as the longest line (at most LINE_MAX_BYTES), so that a trail
 * of many GB is checked in a few MB. Naming what broke reads on from
 * the bad record (the next record, or where the seq wanted went), which
 * ends the check anyway.
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

/* A line longer than this is not a record: the reader's buffer grows
 * to the longest line, no further, so that a trail of any size is read
 * in bounded memory. A sealed batch is one line: 64 MiB holds the
 * largest batch (LLM_AUDIT_BATCH_MAX records) of ordinary records,
 * compressed and armored, with room to spare. */
#define LINE_MAX_BYTES ((apr_size_t)64 << 20)
#define READ_CHUNK ((apr_size_t)64 << 10)

/* One line of the trail. What it points to (text, head.pgp, why) lives
 * until the next line is read into the same scratch pool. */
typedef struct {
    const char *file;
    apr_uint64_t line;
    int torn;                        /* the file's last bytes, no newline */
    int ok;                          /* a record (head parsed) */
    const char *why;                 /* when not */
    llm_audit_head_t head;
    char hash[LLM_CORE_SHA256_HEX];
    const char *text;                /* the line, NUL-terminated */
    apr_size_t len;
} entry_t;

/* Where a line was, kept after its text is gone (for messages). */
typedef struct {
    const char *file;
    apr_uint64_t line;
    apr_uint64_t seq;
    apr_size_t len;
} place_t;

/* Lines of one file through a buffer of malloc()ed memory, which grows
 * to the longest line read (a pool could not give the smaller buffers
 * back) and is freed with the trail's pool. */
typedef struct {
    apr_file_t *f;
    char *buf;
    apr_size_t size;                 /* of buf; one byte more than data */
    apr_size_t start, end;           /* the bytes not yet returned */
    int eof;
} reader_t;

/* The lines of every file of a trail, in chain order. */
typedef struct {
    apr_pool_t *p;
    apr_array_header_t *files;       /* llm_audit_file_t */
    int next_file;
    reader_t rd;                     /* on files[next_file - 1] */
    const char *path;
    apr_uint64_t line;
    const char *error;               /* a file could not be read */
} trail_t;

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

/* ------------------------------------------------------------------ */
/* Reading lines in bounded memory                                      */
/* ------------------------------------------------------------------ */

static apr_status_t reader_free(void *data)
{
    reader_t *r = data;

    free(r->buf);
    r->buf = NULL;
    r->size = r->start = r->end = 0;
    return APR_SUCCESS;
}

/* Room for more bytes after the data: the data moved to the front, the
 * buffer grown when full (to LINE_MAX_BYTES + 1 at most). 0 when the
 * line in it is already as long as a line may be. */
static int reader_room(reader_t *r)
{
    apr_size_t want;
    char *grown;

    if (r->start) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->end + 1 < r->size) {
        return 1;
    }
    if (r->size > LINE_MAX_BYTES) {
        return 0;
    }
    want = r->size ? r->size * 2 : READ_CHUNK;
    if (want > LINE_MAX_BYTES + 1) {
        want = LINE_MAX_BYTES + 1;
    }
    if (!(grown = realloc(r->buf, want))) {
        return 0;
    }
    r->buf = grown;
    r->size = want;
    return 1;
}

/* Read what fits after the data; *eof at the end of the file. */
static apr_status_t reader_fill(reader_t *r)
{
    apr_size_t n = r->size - 1 - r->end;
    apr_status_t rv = apr_file_read(r->f, r->buf + r->end, &n);

    if (rv == APR_EOF || (rv == APR_SUCCESS && !n)) {
        r->eof = 1;
        return APR_SUCCESS;
    }
    r->end += n;
    return rv;
}

/* A line longer than LINE_MAX_BYTES: read on to its end (or the file's),
 * counting its bytes; *torn when the file ends first. */
static apr_status_t reader_skip(reader_t *r, apr_size_t *len, int *torn)
{
    apr_status_t rv;

    *len = 0;
    for (;;) {
        char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);

        if (nl) {
            *len += (apr_size_t)(nl - (r->buf + r->start));
            r->start = (apr_size_t)(nl + 1 - r->buf);
            return APR_SUCCESS;
        }
        *len += r->end - r->start;
        r->start = r->end = 0;
        if (r->eof) {
            *torn = 1;
            return APR_SUCCESS;
        }
        if ((rv = reader_fill(r)) != APR_SUCCESS) {
            return rv;
        }
    }
}

/* The next line of the file, NUL-terminated in the buffer (valid until
 * the next call): *line and *len without its newline; *torn when the
 * file ends without one; *line NULL when it is longer than
 * LINE_MAX_BYTES (*len is its length). APR_EOF after the last line. */
static apr_status_t reader_line(reader_t *r, char **line, apr_size_t *len,
                                int *torn)
{
    apr_status_t rv;

    *torn = 0;
    for (;;) {
        char *s = r->buf ? r->buf + r->start : NULL;
        char *nl = s ? memchr(s, '\n', r->end - r->start) : NULL;

        if (nl || (r->eof && r->end > r->start)) {
            *torn = !nl;
            *len = nl ? (apr_size_t)(nl - s) : r->end - r->start;
            s[*len] = '\0';          /* the newline, or the spare byte */
            r->start += *len + !*torn;
            *line = s;
            return APR_SUCCESS;
        }
        if (r->eof) {
            return APR_EOF;
        }
        if (!reader_room(r)) {
            *line = NULL;
            return reader_skip(r, len, torn);
        }
        if ((rv = reader_fill(r)) != APR_SUCCESS) {
            return rv;
        }
    }
}

/* ------------------------------------------------------------------ */
/* The trail as a stream of entries                                     */
/* ------------------------------------------------------------------ */

/* The files of @a dirs, each checked readable now, so that a file that
 * cannot be read is said before any record is. */
static const char *trail_open(apr_pool_t *p, const apr_array_header_t *dirs,
                              trail_t *t)
{
    const char *why;
    int i;

    memset(t, 0, sizeof(*t));
    t->p = p;
    if ((why = gather(p, dirs, &t->files)) != NULL) {
        return why;
    }
    for (i = 0; i < t->files->nelts; i++) {
        const char *path = APR_ARRAY_IDX(t->files, i, llm_audit_file_t).path;
        apr_file_t *f;

        if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
            return apr_psprintf(p, "%s cannot be read", path);
        }
        apr_file_close(f);
    }
    apr_pool_cleanup_register(p, &t->rd, reader_free, apr_pool_cleanup_null);
    return NULL;
}

/* The buffer freed and the file closed (the trail lives on the caller's
 * stack: nothing of it may be left to the pool). */
static void trail_close(trail_t *t)
{
    if (t->rd.f) {
        apr_file_close(t->rd.f);
        t->rd.f = NULL;
    }
    apr_pool_cleanup_run(t->p, &t->rd, reader_free);
}

/* The reader moved to the next file; 0 when there is none (or it could
 * not be opened: t->error). */
static int trail_next_file(trail_t *t)
{
    const llm_audit_file_t *f;

    if (t->rd.f) {
        apr_file_close(t->rd.f);
        t->rd.f = NULL;
    }
    if (t->next_file >= t->files->nelts) {
        return 0;
    }
    f = &APR_ARRAY_IDX(t->files, t->next_file, llm_audit_file_t);
    t->next_file++;
    if (apr_file_open(&t->rd.f, f->path, APR_FOPEN_READ, 0, t->p)
        != APR_SUCCESS) {
        t->rd.f = NULL;
        t->error = apr_psprintf(t->p, "%s cannot be read", f->path);
        return 0;
    }
    t->rd.start = t->rd.end = 0;
    t->rd.eof = 0;
    t->path = f->path;
    t->line = 0;
    return 1;
}

/* The next line of the trail as an entry, its head parsed in @a scratch
 * (cleared by the caller between entries it no longer needs). 0 at the
 * end of the trail, or when a file could not be read (t->error). */
static int trail_entry(trail_t *t, apr_pool_t *scratch, entry_t *e)
{
    char *s = NULL;
    apr_status_t rv = APR_SUCCESS;

    memset(e, 0, sizeof(*e));
    while (!t->rd.f || (rv = reader_line(&t->rd, &s, &e->len, &e->torn))
                       == APR_EOF) {
        if (!trail_next_file(t)) {
            return 0;
        }
    }
    if (rv != APR_SUCCESS) {
        t->error = apr_psprintf(t->p, "%s cannot be read", t->path);
        return 0;
    }
    e->file = t->path;
    e->line = ++t->line;
    e->text = s ? s : "";
    if (e->torn) {
        return 1;
    }
    if (!s) {
        e->why = apr_psprintf(scratch, "a line of %" APR_SIZE_T_FMT
                              " bytes, longer than a record may be",
                              e->len);
        return 1;
    }
    e->ok = llm_audit_line_head(scratch, s, e->len, &e->head, &e->why)
            == APR_SUCCESS;
    llm_core_sha256_hex(s, e->len, e->hash);
    return 1;
}

static void place_of(place_t *pl, const entry_t *e)
{
    pl->file = e->file;
    pl->line = e->line;
    pl->seq = e->head.seq;
    pl->len = e->len;
}

static const char *at_place(apr_pool_t *p, const place_t *pl)
{
    return apr_psprintf(p, "%s line %" APR_UINT64_T_FMT, pl->file,
                        pl->line);
}

static const char *at(apr_pool_t *p, const entry_t *e)
{
    return apr_psprintf(p, "%s line %" APR_UINT64_T_FMT, e->file, e->line);
}

/* ------------------------------------------------------------------ */
/* The chain check                                                      */
/* ------------------------------------------------------------------ */

/* The right seq, the wrong prev: which record was altered. The trail
 * is read on to the next record (the check stops here anyway). */
static const char *altered(apr_pool_t *p, trail_t *t, apr_pool_t *scratch,
                           const entry_t *e, const place_t *prev)
{
    entry_t next;
    int found;

    if (!prev) {
        return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) does not "
                            "start the trail: its prev is not the genesis "
                            "hash (altered, or the records before it "
                            "removed: --partial accepts that)",
                            e->head.seq, at(p, e));
    }
    while ((found = trail_entry(t, scratch, &next)) && next.torn) {
        apr_pool_clear(scratch);
    }
    if (found && next.ok && !strcmp(next.head.prev, e->hash)) {
        return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) was altered: "
                            "its hash is not the prev of seq %"
                            APR_UINT64_T_FMT " (%s)", prev->seq,
                            at_place(p, prev), e->head.seq, at(p, e));
    }
    return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) was altered: "
                        "its prev is not the hash of seq %" APR_UINT64_T_FMT
                        " (%s)", e->head.seq, at(p, e), prev->seq,
                        at_place(p, prev));
}

/* A seq not the one expected: deleted records, or reordered ones (the
 * expected seq comes later: the rest of the trail is searched). */
static const char *out_of_place(apr_pool_t *p, trail_t *t,
                                apr_pool_t *scratch, const entry_t *e,
                                apr_uint64_t want)
{
    entry_t later;

    if (e->head.seq < want) {
        return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) comes where "
                            "seq %" APR_UINT64_T_FMT " should: records "
                            "reordered or repeated", e->head.seq, at(p, e),
                            want);
    }
    while (trail_entry(t, scratch, &later)) {
        if (later.ok && later.head.seq == want) {
            return apr_psprintf(p, "seq %" APR_UINT64_T_FMT " (%s) comes "
                                "before seq %" APR_UINT64_T_FMT " (%s): "
                                "records reordered", e->head.seq, at(p, e),
                                want, at(p, &later));
        }
        apr_pool_clear(scratch);
    }
    return apr_psprintf(p, "records %" APR_UINT64_T_FMT "..%" APR_UINT64_T_FMT
                        " are missing before %s (deleted)", want,
                        e->head.seq - 1, at(p, e));
}

/* Where the check stands: the next record wanted, the last that
 * chained, a torn record seen since it. */
typedef struct {
    llm_audit_chain_t want;
    place_t prev, torn;
    int has_prev, has_torn;
} check_t;

/* One record against the chain: NULL when it chains, else why not (the
 * verdict is BROKEN). @a lookahead is a second scratch pool for the
 * records read on to name what broke. */
static const char *check_entry(apr_pool_t *p, trail_t *t,
                               apr_pool_t *lookahead, check_t *c,
                               const entry_t *e, int partial,
                               llm_audit_report_t *rep)
{
    if (!e->ok) {
        return apr_psprintf(p, "%s is not a record (%s): altered or cut",
                            at(p, e), e->why);
    }
    if (!c->has_prev && partial) {
        c->want.seq = e->head.seq;
        memcpy(c->want.prev, e->head.prev, LLM_CORE_SHA256_HEX);
    }
    if (e->head.seq != c->want.seq) {
        return out_of_place(p, t, lookahead, e, c->want.seq);
    }
    if (strcmp(e->head.prev, c->want.prev)) {
        return altered(p, t, lookahead, e, c->has_prev ? &c->prev : NULL);
    }
    if (c->has_torn) {
        rep->verdict = LLM_AUDIT_TORN;
        rep->message = apr_psprintf(p, "%s: the last %" APR_SIZE_T_FMT
                                    " bytes are a record torn by a "
                                    "crash; the chain goes on from the "
                                    "record before them",
                                    at_place(p, &c->torn), c->torn.len);
        c->has_torn = 0;
    }
    memcpy(c->want.prev, e->hash, LLM_CORE_SHA256_HEX);
    c->want.seq += e->head.count;
    rep->records += e->head.count;
    place_of(&c->prev, e);
    c->has_prev = 1;
    return NULL;
}

/* The chain over the stream of entries; the verdict in @a rep. */
static void check_trail(apr_pool_t *p, trail_t *t, int partial,
                        llm_audit_report_t *rep)
{
    apr_pool_t *scratch, *lookahead;
    check_t c;
    entry_t e;
    const char *broken = NULL;

    memset(&c, 0, sizeof(c));
    llm_audit_chain_genesis(&c.want);
    c.want.seq = 1;
    apr_pool_create(&scratch, p);
    apr_pool_create(&lookahead, p);
    while (!broken && trail_entry(t, scratch, &e)) {
        if (e.torn) {
            place_of(&c.torn, &e);
            c.has_torn = 1;
        }
        else {
            broken = check_entry(p, t, lookahead, &c, &e, partial, rep);
        }
        apr_pool_clear(scratch);
    }
    apr_pool_destroy(lookahead);
    apr_pool_destroy(scratch);
    if (broken) {
        rep->verdict = LLM_AUDIT_BROKEN;
        rep->message = broken;
    }
    else if (c.has_torn) {
        rep->verdict = LLM_AUDIT_TORN;
        rep->message = apr_psprintf(p, "%s: the trail ends in %"
                                    APR_SIZE_T_FMT " bytes of a torn record "
                                    "(a crash while writing, or the file "
                                    "was cut)", at_place(p, &c.torn),
                                    c.torn.len);
    }
}

apr_status_t llm_audit_verify(apr_pool_t *p,
                              const apr_array_header_t *dirs,
                              int partial, llm_audit_report_t *rep)
{
    trail_t t;
    const char *why;

    memset(rep, 0, sizeof(*rep));
    if ((why = trail_open(p, dirs, &t)) != NULL) {
        rep->message = why;
        return APR_EGENERAL;
    }
    rep->files = t.files->nelts;
    check_trail(p, &t, partial, rep);
    trail_close(&t);
    if (t.error) {
        /* A file went unreadable while it was read: no verdict. */
        rep->message = t.error;
        return APR_EGENERAL;
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

/* One entry given to @a fn: as it is when plaintext, else opened with
 * the keys of @a home and each record of it. */
static const char *read_entry(apr_pool_t *scratch, const entry_t *e,
                              const char *home, llm_audit_line_fn fn,
                              void *baton, int *stop)
{
    const char *body, *why;
    apr_size_t blen = 0;

    if (!e->head.pgp) {
        *stop = fn(baton, e->file, e->text, e->len);
        return NULL;
    }
    body = llm_audit_gpg_decrypt(scratch, home, e->head.pgp, &blen, &why);
    if (!body) {
        return apr_psprintf(scratch, "%s: %s", at(scratch, e), why);
    }
    return each_sealed(scratch, e, body, blen, fn, baton, stop);
}

const char *llm_audit_read(apr_pool_t *p, const apr_array_header_t *dirs,
                           const char *home, llm_audit_line_fn fn,
                           void *baton)
{
    apr_pool_t *scratch;
    trail_t t;
    entry_t e;
    const char *why;
    int stop = 0;

    if ((why = trail_open(p, dirs, &t)) != NULL) {
        return why;
    }
    apr_pool_create(&scratch, p);
    while (!why && !stop && trail_entry(&t, scratch, &e)) {
        if (e.torn) {
            /* skipped: verify names it */
        }
        else if (!e.ok) {
            why = apr_psprintf(p, "%s is not a record (%s)", at(p, &e),
                               e.why);
        }
        else if ((why = read_entry(scratch, &e, home, fn, baton, &stop))
                 != NULL) {
            why = apr_pstrdup(p, why);
        }
        apr_pool_clear(scratch);
    }
    apr_pool_destroy(scratch);
    trail_close(&t);
    return why ? why : t.error;
}
