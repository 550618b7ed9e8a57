/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Reading a trail back as a stream (llm_audit_verify, llm_audit_read):
 * lines across the reader's 64 KiB reads and longer than its buffer,
 * rotated files, a line too long to be a record, a NUL or an empty line,
 * a torn record at a file's end, an empty file, a file that cannot be
 * read, and a reader that stops early. Plaintext records only: sealed
 * ones are test_audit_gpg.c's. */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include "tap.h"
#include "llm_audit.h"
#include "llm_json.h"

static apr_pool_t *pool;
static apr_array_header_t *made;     /* the directories to remove */

static const char *tmpdir(void)
{
    char *t = apr_pstrdup(pool, "/tmp/llm-audit-read.XXXXXX");

    if (!mkdtemp(t)) {
        abort();
    }
    APR_ARRAY_PUSH(made, const char *) = t;
    return t;
}

static void remove_dirs(void)
{
    int i;

    for (i = 0; i < made->nelts; i++) {
        const char *cmd = apr_psprintf(pool, "rm -rf '%s'",
                                       APR_ARRAY_IDX(made, i, const char *));

        if (system(cmd) != 0) {
            printf("# %s failed\n", cmd);
        }
    }
}

static const char *trail_file(const char *dir, apr_uint64_t first_seq)
{
    return apr_psprintf(pool, "%s/" LLM_AUDIT_PREFIX "%016" APR_UINT64_T_FMT
                        LLM_AUDIT_SUFFIX, dir, first_seq);
}

static void append(const char *path, const char *bytes, apr_size_t len)
{
    apr_file_t *f;

    if (apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                      | APR_FOPEN_APPEND, APR_FPROT_OS_DEFAULT, pool)
        != APR_SUCCESS
        || apr_file_write_full(f, bytes, len, NULL) != APR_SUCCESS) {
        abort();
    }
    apr_file_close(f);
}

/* What a test trail holds: the lines written, to compare with what the
 * reader gives back. */
typedef struct {
    llm_audit_chain_t chain;
    apr_array_header_t *lines;       /* const char * */
} written_t;

static void written_init(written_t *w)
{
    llm_audit_chain_genesis(&w->chain);
    w->lines = apr_array_make(pool, 16, sizeof(const char *));
}

/* The next record, with a "pad" of @a pad bytes, appended to @a path
 * (with its newline unless @a torn). */
static void add_record(written_t *w, const char *path, apr_size_t pad,
                       int torn)
{
    llm_audit_entry_t e = { 0, "request", NULL, NULL, 0, NULL, 0 };
    char *padding = apr_palloc(pool, pad + 1);
    const char *line;
    apr_size_t len = 0;

    memset(padding, 'p', pad);
    padding[pad] = '\0';
    e.time = apr_time_from_sec(1796600000) + (apr_time_t)w->chain.seq;
    e.fields = json_object_new_object();
    json_object_object_add(e.fields, "model", json_object_new_string("m"));
    json_object_object_add(e.fields, "pad", json_object_new_string(padding));
    line = llm_audit_record_line(pool, w->chain.seq + 1, w->chain.prev, &e,
                                 &len);
    json_object_put(e.fields);
    append(path, line, len);
    if (torn) {
        return;
    }
    append(path, "\n", 1);
    w->chain.seq++;
    llm_core_sha256_hex(line, len, w->chain.prev);
    APR_ARRAY_PUSH(w->lines, const char *) = line;
}

static apr_array_header_t *list(const char *dir)
{
    apr_array_header_t *a = apr_array_make(pool, 1, sizeof(char *));

    APR_ARRAY_PUSH(a, const char *) = dir;
    return a;
}

static llm_audit_report_t verify(const char *dir)
{
    llm_audit_report_t rep;

    if (llm_audit_verify(pool, list(dir), 0, &rep) != APR_SUCCESS) {
        rep.verdict = -1;
    }
    printf("# verify %s: %s\n", dir, rep.message ? rep.message : "-");
    return rep;
}

/* llm_audit_read's callback: each line compared with the one written. */
typedef struct {
    const written_t *w;
    int seen;
    int same;                        /* every line as written */
    int stop_after;                  /* 0: never */
} collect_t;

static int collect(void *baton, const char *file, const char *line,
                   apr_size_t len)
{
    collect_t *c = baton;
    const char *want = c->seen < c->w->lines->nelts
        ? APR_ARRAY_IDX(c->w->lines, c->seen, const char *) : NULL;

    (void)file;
    if (!want || strlen(want) != len || memcmp(want, line, len)) {
        c->same = 0;
    }
    c->seen++;
    return c->stop_after && c->seen >= c->stop_after;
}

/* ------------------------------------------------------------------ */

/* Lines that end on, just before and just after the reader's 64 KiB
 * reads, and lines of several reads. */
static void test_boundaries(void)
{
    static const apr_size_t pads[] = { 0, 65300, 65536, 1, 65537, 200000,
                                       10, 131072, 3 };
    const char *dir = tmpdir(), *path = trail_file(dir, 1), *why;
    collect_t c = { NULL, 0, 1, 0 };
    llm_audit_report_t rep;
    written_t w;
    size_t i;

    written_init(&w);
    for (i = 0; i < sizeof(pads) / sizeof(pads[0]); i++) {
        add_record(&w, path, pads[i], 0);
    }
    rep = verify(dir);
    is_int(rep.verdict, LLM_AUDIT_INTACT, "lines across reads: intact");
    is_int(rep.records, 9, "9 records");
    c.w = &w;
    why = llm_audit_read(pool, list(dir), NULL, collect, &c);
    ok(!why, "read: no error");
    is_int(c.seen, 9, "read: 9 lines");
    ok(c.same, "read: each line as written");
}

/* Rotated files, an empty one among them: one chain, in order. */
static void test_files(void)
{
    const char *dir = tmpdir(), *why;
    collect_t c = { NULL, 0, 1, 0 };
    llm_audit_report_t rep;
    written_t w;
    int i;

    written_init(&w);
    for (i = 0; i < 3; i++) {
        add_record(&w, trail_file(dir, 1), 100, 0);
    }
    /* As the writer leaves one when a crash tore its first record:
     * the next file has the same seq and ".1". */
    append(trail_file(dir, 4), "", 0);
    for (i = 0; i < 4; i++) {
        add_record(&w, apr_psprintf(pool, "%s/" LLM_AUDIT_PREFIX
                                    "0000000000000004.1" LLM_AUDIT_SUFFIX,
                                    dir), 70000, 0);
    }
    for (i = 0; i < 2; i++) {
        add_record(&w, trail_file(dir, 8), 5, 0);
    }
    rep = verify(dir);
    is_int(rep.verdict, LLM_AUDIT_INTACT, "four files: intact");
    is_int(rep.records, 9, "9 records");
    is_int(rep.files, 4, "4 files");
    c.w = &w;
    why = llm_audit_read(pool, list(dir), NULL, collect, &c);
    ok(!why && c.seen == 9 && c.same, "read: 9 lines, in chain order");

    /* A reader that has seen enough. */
    c.seen = 0;
    c.stop_after = 4;
    why = llm_audit_read(pool, list(dir), NULL, collect, &c);
    ok(!why && c.seen == 4, "read: stops when the callback says so");

    /* The empty file alone: no record, nothing wrong; the last file
     * alone: the records before it missing, unless --partial. */
    rep = verify(trail_file(dir, 4));
    ok(rep.verdict == LLM_AUDIT_INTACT && rep.records == 0,
       "an empty file alone: intact, 0 records");
    rep = verify(trail_file(dir, 8));
    ok(rep.verdict == LLM_AUDIT_BROKEN
       && strstr(rep.message, "records 1..7 are missing"),
       "the last file alone: records 1..7 missing");
    ok(llm_audit_verify(pool, list(trail_file(dir, 8)), 1, &rep)
       == APR_SUCCESS && rep.verdict == LLM_AUDIT_INTACT && rep.records == 2,
       "the last file alone, --partial: intact, 2 records");
}

/* A record torn by a crash at the end of the first file; the writer went
 * on in a new file from the record before it. */
static void test_torn_between(void)
{
    const char *dir = tmpdir(), *why;
    collect_t c = { NULL, 0, 1, 0 };
    llm_audit_report_t rep;
    written_t w;

    written_init(&w);
    add_record(&w, trail_file(dir, 1), 10, 0);
    add_record(&w, trail_file(dir, 1), 90000, 1);
    add_record(&w, trail_file(dir, 2), 10, 0);
    rep = verify(dir);
    is_int(rep.verdict, LLM_AUDIT_TORN, "torn between files: TORN");
    like(rep.message, "0000000000000001.jsonl line 2: the last ",
         "named: the first file's line 2");
    is_int(rep.records, 2, "2 records chained");
    c.w = &w;
    why = llm_audit_read(pool, list(dir), NULL, collect, &c);
    ok(!why && c.seen == 2 && c.same, "read: the torn record skipped");
}

/* Lines that are not records: empty, with a NUL, longer than a line may
 * be (64 MiB). Each is named. */
static void test_not_records(void)
{
    const char *dir = tmpdir(), *path = trail_file(dir, 1), *why;
    apr_size_t huge = ((apr_size_t)64 << 20) + 10;
    llm_audit_report_t rep;
    written_t w;
    char *big;

    written_init(&w);
    add_record(&w, path, 10, 0);
    append(path, "\n", 1);
    rep = verify(dir);
    ok(rep.verdict == LLM_AUDIT_BROKEN
       && strstr(rep.message, "line 2 is not a record"),
       "an empty line: BROKEN, named");

    dir = tmpdir();
    path = trail_file(dir, 1);
    written_init(&w);
    add_record(&w, path, 10, 0);
    append(path, "{\"seq\":2,\0\"x\":1}\n", 17);
    rep = verify(dir);
    ok(rep.verdict == LLM_AUDIT_BROKEN
       && strstr(rep.message, "line 2 is not a record"),
       "a NUL in a line: BROKEN, named");

    dir = tmpdir();
    path = trail_file(dir, 1);
    written_init(&w);
    add_record(&w, path, 10, 0);
    big = malloc(huge + 1);
    memset(big, 'x', huge);
    big[huge] = '\n';
    append(path, big, huge + 1);
    free(big);
    add_record(&w, path, 10, 0);
    rep = verify(dir);
    ok(rep.verdict == LLM_AUDIT_BROKEN
       && strstr(rep.message, "line 2 is not a record (a line of 67108874 "
                 "bytes, longer than a record may be)"),
       "a line over 64 MiB: BROKEN, named with its length");
    why = llm_audit_read(pool, list(dir), NULL, collect,
                         &(collect_t){ &w, 0, 1, 0 });
    like(why, "line 2 is not a record", "read: names it too");
}

/* A file of the trail that cannot be read: said before any record, and
 * not a verdict. (Root reads any file: then not tested.) */
static void test_unreadable(void)
{
    const char *dir = tmpdir(), *why;
    collect_t c = { NULL, 0, 1, 0 };
    llm_audit_report_t rep;
    written_t w;

    written_init(&w);
    add_record(&w, trail_file(dir, 1), 10, 0);
    add_record(&w, trail_file(dir, 2), 10, 0);
    if (geteuid() == 0) {
        printf("# as root every file can be read: not tested\n");
        return;
    }
    apr_file_perms_set(trail_file(dir, 2), 0);
    memset(&rep, 0, sizeof(rep));
    ok(llm_audit_verify(pool, list(dir), 0, &rep) != APR_SUCCESS
       && rep.message && strstr(rep.message, "cannot be read"),
       "an unreadable file: verify fails, saying so");
    c.w = &w;
    why = llm_audit_read(pool, list(dir), NULL, collect, &c);
    ok(why && strstr(why, "cannot be read") && c.seen == 0,
       "read: says so before any record");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    made = apr_array_make(pool, 8, sizeof(const char *));
    test_boundaries();
    test_files();
    test_torn_between();
    test_not_records();
    test_unreadable();
    remove_dirs();
    apr_pool_destroy(pool);
    apr_terminate();
    return tap_done();
}
