/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The audit engine without keys: record lines, the chain, rotation,
 * recovery after a torn record, several processes on one trail, and
 * the verifier naming the first bad record of a tampered trail. */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_file_info.h"
#include "apr_shm.h"
#include "apr_proc_mutex.h"
#include "apr_thread_proc.h"

#include "tap.h"
#include "llm_audit.h"
#include "llm_json.h"

static apr_pool_t *pool;

static const char *tmpdir(const char *name)
{
    char *t = apr_psprintf(pool, "/tmp/llm-audit-test.XXXXXX");

    if (!mkdtemp(t)) {
        abort();
    }
    return apr_pstrcat(pool, t, "/", name, NULL);
}

static char *slurp(const char *path)
{
    apr_file_t *f;
    apr_finfo_t fi;
    char *buf;

    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, pool) != APR_SUCCESS) {
        return NULL;
    }
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    buf = apr_pcalloc(pool, (apr_size_t)fi.size + 1);
    apr_file_read_full(f, buf, (apr_size_t)fi.size, NULL);
    apr_file_close(f);
    return buf;
}

static void spit(const char *path, const char *text, int append)
{
    apr_file_t *f;

    apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                  | (append ? APR_FOPEN_APPEND : APR_FOPEN_TRUNCATE),
                  APR_FPROT_OS_DEFAULT, pool);
    apr_file_write_full(f, text, strlen(text), NULL);
    apr_file_close(f);
}

/* Line @a n (1-based) of @a text, in @a pool. */
static const char *line_of(const char *text, int n)
{
    const char *s = text, *nl;

    while (--n > 0 && (nl = strchr(s, '\n'))) {
        s = nl + 1;
    }
    nl = strchr(s, '\n');
    return nl ? apr_pstrndup(pool, s, (apr_size_t)(nl - s)) : s;
}

static int count_lines(const char *text)
{
    int n = 0;

    for (; text && *text; text++) {
        n += *text == '\n';
    }
    return n;
}

static const char *file_path(const char *dir, apr_uint64_t seq, int n)
{
    return n ? apr_psprintf(pool, "%s/llm-audit.%016" APR_UINT64_T_FMT
                            ".%d.jsonl", dir, seq, n)
             : apr_psprintf(pool, "%s/llm-audit.%016" APR_UINT64_T_FMT
                            ".jsonl", dir, seq);
}

typedef struct {
    const char *dir;
    llm_audit_state_t st;
    llm_audit_trail_t *t;
    llm_audit_found_t found;
} trail_t;

static void open_trail(trail_t *tr, const char *dir, apr_off_t rotate)
{
    llm_audit_opts_t o = { dir, rotate, 0, 1 };
    const char *why = llm_audit_recover(pool, dir, &tr->st, &tr->found);

    ok(!why, "recovered");
    if (why) {
        printf("# %s\n", why);
    }
    tr->dir = dir;
    tr->t = llm_audit_trail_make(pool, &o, &tr->st);
}

static apr_uint64_t add(trail_t *tr, const char *event, json_object *fields)
{
    llm_audit_entry_t e = { apr_time_now(), event, fields, NULL, 0, NULL, 0 };
    apr_uint64_t seq = 0;
    const char *why = NULL;

    if (llm_audit_append(tr->t, pool, &e, &seq, &why) != APR_SUCCESS) {
        printf("# append: %s\n", why);
        return 0;
    }
    return seq;
}

static json_object *fields(const char *model)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "model", llm_audit_str(model));
    json_object_object_add(o, "status", json_object_new_int(200));
    llm_json_own(pool, o);
    return o;
}

static llm_audit_report_t verify(const char *dir, int partial)
{
    apr_array_header_t *dirs = apr_array_make(pool, 1, sizeof(char *));
    llm_audit_report_t rep;

    APR_ARRAY_PUSH(dirs, const char *) = dir;
    if (llm_audit_verify(pool, dirs, partial, &rep) != APR_SUCCESS) {
        rep.verdict = -1;
    }
    printf("# verify %s: %s\n", dir, rep.message ? rep.message : "-");
    return rep;
}

static void copy_dir(const char *from, const char *to)
{
    char *cmd = apr_psprintf(pool, "rm -rf '%s' && cp -a '%s' '%s'", to,
                             from, to);

    if (system(cmd) != 0) {
        abort();
    }
}

/* ------------------------------------------------------------------ */

static void test_lines(void)
{
    llm_audit_chain_t g;
    llm_audit_entry_t e = { 0, "request", NULL, NULL, 0, NULL, 0 };
    json_object *f = json_object_new_object(), *o;
    const char *line;
    char want[LLM_CORE_SHA256_HEX];
    apr_size_t len;
    llm_audit_head_t head;
    const char *why;

    llm_audit_chain_genesis(&g);
    llm_core_sha256_hex(LLM_AUDIT_GENESIS, strlen(LLM_AUDIT_GENESIS), want);
    is_str(g.prev, want, "genesis: the hash of the genesis string");
    is_int(g.seq, 0, "genesis: seq 0");

    e.time = apr_time_from_sec(1735787045) + 123456;
    json_object_object_add(f, "user", llm_audit_str("eve\nseq\":99\r\x01"));
    json_object_object_add(f, "bad", llm_audit_strn("a\xff\xc0\x80z\xed\xa0\x80"
                                                    "\xf4\x90\x80\x80", 13));
    json_object_object_add(f, "ok", llm_audit_str("za\xc5\xbc\xc3\xb3\xc5\x82"
                                                  "\xe2\x82\xac\xf0\x9f\x98\x80"));
    json_object_object_add(f, "seq", json_object_new_int(77));
    json_object_object_add(f, "prev", llm_audit_str("forged"));
    llm_json_own(pool, f);
    e.fields = f;
    line = llm_audit_record_line(pool, 5, g.prev, &e, &len);
    is_int(strlen(line), len, "a line has no NUL");
    ok(!strchr(line, '\n') && !strchr(line, '\r'), "no newline in a line, "
       "whatever a field holds");
    like(line, "{\"seq\":5,\"time\":\"2025-01-02T03:04:05.123456Z\","
         "\"event\":\"request\",\"prev\":\"", "seq, time (RFC 3339, µs, "
         "UTC), event, prev first");
    o = llm_json_parse(line, len);
    ok(o != NULL, "the line is JSON");
    is_str(llm_json_str(o, "user", NULL), "eve\nseq\":99\r\x01",
           "a field's newline and quote survive, escaped");
    is_str(llm_json_str(o, "bad", NULL), "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
           "\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
           "\xef\xbf\xbd\xef\xbf\xbd", "invalid UTF-8 (stray, overlong, "
           "surrogate, past U+10FFFF) becomes U+FFFD, byte by byte");
    is_str(llm_json_str(o, "ok", NULL), "za\xc5\xbc\xc3\xb3\xc5\x82\xe2\x82"
           "\xac\xf0\x9f\x98\x80", "valid UTF-8 is kept as it is");
    is_int(json_object_get_int(llm_json_get(o, "seq")), 5,
           "a field cannot override seq");
    is_str(llm_json_str(o, "prev", NULL), g.prev, "nor prev");
    json_object_put(o);
    ok(llm_audit_line_head(pool, line, len, &head, &why) == APR_SUCCESS
       && head.seq == 5 && !strcmp(head.prev, g.prev) && !head.pgp,
       "its head reads back");
    ok(llm_audit_line_head(pool, "{\"seq\":1,\"prev\":\"ab\",\"event\":\"x\"}",
                           35, &head, &why) != APR_SUCCESS,
       "a short prev is not a record");
    ok(llm_audit_line_head(pool, "{\"seq\":0,\"prev\":\"\"}", 19, &head, &why)
       != APR_SUCCESS, "seq 0 is not a record");

    line = llm_audit_envelope_line(pool, 6, 1, g.prev,
                                   "-----BEGIN PGP MESSAGE-----\n\nx\n", &len);
    ok(!strchr(line, '\n'), "an envelope is one line too");
    ok(llm_audit_line_head(pool, line, len, &head, &why) == APR_SUCCESS
       && head.seq == 6 && head.pgp && !strncmp(head.pgp, "-----BEGIN", 10),
       "an envelope's head: seq and the armored message");
    line = llm_audit_body_line(pool, &e, &len);
    ok(!strstr(line, "\"seq\"") && !strstr(line, "\"prev\""),
       "a sealed body holds neither seq nor prev");
    line = llm_audit_unseal_line(pool, 6, g.prev, line, len, &len);
    like(line, "{\"seq\":6,\"time\":\"2025-01-02T03:04:05.123456Z\","
         "\"event\":\"request\",\"prev\":\"", "an opened body reads as the "
         "plaintext record");
    ok(!llm_audit_unseal_line(pool, 6, g.prev, "{\"seq\":1}", 9, &len),
       "a body with a seq of its own is refused");
}

static void test_chain(const char *dir)
{
    trail_t tr;
    char *text;
    char h1[LLM_CORE_SHA256_HEX], g[LLM_CORE_SHA256_HEX];
    const char *l1, *l2;
    llm_audit_report_t rep;
    llm_audit_head_t head;
    const char *why;

    open_trail(&tr, dir, 0);
    is_int(tr.found.files, 0, "a new trail: no file");
    is_int(add(&tr, "request", fields("m1")), 1, "first record: seq 1");
    is_int(add(&tr, "request", fields("m2")), 2, "then seq 2");
    is_int(add(&tr, "masking", NULL), 3, "then seq 3");
    text = slurp(file_path(dir, 1, 0));
    is_int(count_lines(text), 3, "three lines in llm-audit.<seq 1>.jsonl");
    l1 = line_of(text, 1);
    l2 = line_of(text, 2);
    llm_core_sha256_hex(LLM_AUDIT_GENESIS, strlen(LLM_AUDIT_GENESIS), g);
    llm_audit_line_head(pool, l1, strlen(l1), &head, &why);
    is_str(head.prev, g, "record 1's prev: the genesis hash");
    llm_core_sha256_hex(l1, strlen(l1), h1);
    llm_audit_line_head(pool, l2, strlen(l2), &head, &why);
    is_str(head.prev, h1, "record 2's prev: the SHA-256 of line 1");
    is_str(tr.st.chain.prev, (llm_core_sha256_hex(line_of(text, 3),
           strlen(line_of(text, 3)), h1), h1), "the state holds the hash "
           "of the last line");
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_INTACT, "verify: intact");
    is_int(rep.records, 3, "verify: 3 records");

    /* Reopened with a clean end: the same file goes on. */
    open_trail(&tr, dir, 0);
    is_int(tr.found.last_seq, 3, "recovery: last seq 3");
    is_int(tr.found.torn_bytes, 0, "recovery: nothing torn");
    is_int(tr.found.new_file, 0, "recovery: no new file");
    is_int(add(&tr, "request", fields("m4")), 4, "after a restart: seq 4");
    is_int(count_lines(slurp(file_path(dir, 1, 0))), 4,
           "in the same file");
    is_int(verify(dir, 0).verdict, LLM_AUDIT_INTACT, "still intact");
}

/* A crash in the middle of a write: the chain goes on from the last
 * whole record, in a new file; the torn bytes stay; verify says TORN. */
static void test_torn(const char *dir)
{
    trail_t tr;
    llm_audit_report_t rep;
    char h4[LLM_CORE_SHA256_HEX];
    const char *text, *l;
    llm_audit_head_t head;
    const char *why;

    spit(file_path(dir, 1, 0), "{\"seq\":5,\"time\":\"2025-", 1);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_TORN, "a torn last record: TORN");
    like(rep.message, "line 5", "named: line 5");
    open_trail(&tr, dir, 0);
    is_int(tr.found.last_seq, 4, "recovery: the last good record is 4");
    is_int(tr.found.torn_bytes, 22, "recovery: 22 torn bytes found");
    is_int(tr.found.new_file, 1, "recovery: a new file");
    is_int(add(&tr, "request", fields("m5")), 5, "the chain goes on: seq 5");
    text = slurp(file_path(dir, 1, 0));
    llm_core_sha256_hex(line_of(text, 4), strlen(line_of(text, 4)), h4);
    text = slurp(file_path(dir, 5, 0));
    ok(text != NULL, "in llm-audit.<seq 5>.jsonl");
    l = line_of(text ? text : "", 1);
    llm_audit_line_head(pool, l, strlen(l), &head, &why);
    is_str(head.prev, h4, "linked to record 4, the last good one");
    like(slurp(file_path(dir, 1, 0)), "{\"seq\":5,\"time\":\"2025-",
         "the torn bytes are kept, as evidence");
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_TORN, "verify: TORN (a crash, chain "
           "goes on)");
    is_int(rep.records, 5, "verify: 5 records chained");

    /* The new file's own first record torn: the next gets ".1". */
    spit(file_path(dir, 6, 0), "{\"seq\":6", 0);
    open_trail(&tr, dir, 0);
    is_int(tr.found.last_seq, 5, "recovery over a file with no whole "
           "record: 5");
    is_int(add(&tr, "request", NULL), 6, "seq 6 again");
    ok(slurp(file_path(dir, 6, 1)) != NULL, "in llm-audit.<seq 6>.1.jsonl");
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_TORN, "verify: TORN");
    is_int(rep.records, 6, "verify: 6 records, the .1 file after the torn "
           "one");
}

static void test_rotation(const char *dir)
{
    trail_t tr;
    apr_status_t rv;
    apr_array_header_t *files;
    int i, n = 0;
    char hl[LLM_CORE_SHA256_HEX];
    const char *text, *l;
    llm_audit_head_t head;
    const char *why;

    open_trail(&tr, dir, 600);
    for (i = 0; i < 20; i++) {
        n += add(&tr, "request", fields("rotated")) == (apr_uint64_t)i + 1;
    }
    is_int(n, 20, "20 records");
    files = llm_audit_files(pool, dir, &rv);
    ok(files && files->nelts > 3, "rotated into several files");
    for (i = 0, n = 0; files && i < files->nelts; i++) {
        apr_finfo_t fi;

        apr_stat(&fi, APR_ARRAY_IDX(files, i, llm_audit_file_t).path,
                 APR_FINFO_SIZE, pool);
        n += fi.size <= 600;
    }
    is_int(n, files ? files->nelts : -1, "none over the rotation size");
    text = slurp(APR_ARRAY_IDX(files, 0, llm_audit_file_t).path);
    l = line_of(text, count_lines(text));
    llm_core_sha256_hex(l, strlen(l), hl);
    text = slurp(APR_ARRAY_IDX(files, 1, llm_audit_file_t).path);
    l = line_of(text, 1);
    llm_audit_line_head(pool, l, strlen(l), &head, &why);
    is_str(head.prev, hl, "a new file's first record: the hash of the "
           "last record of the file before");
    is_int(verify(dir, 0).verdict, LLM_AUDIT_INTACT, "intact across files");
}

/* Tampering, each on a copy of an intact rotated trail. */
static void test_tamper(const char *good)
{
    const char *dir = apr_pstrcat(pool, good, ".t", NULL);
    apr_status_t rv;
    apr_array_header_t *files;
    const char *f0, *f1, *text, *cut;
    llm_audit_report_t rep;
    char *edit;

    copy_dir(good, dir);
    files = llm_audit_files(pool, dir, &rv);
    f0 = APR_ARRAY_IDX(files, 0, llm_audit_file_t).path;
    f1 = APR_ARRAY_IDX(files, 1, llm_audit_file_t).path;
    text = slurp(f0);

    /* Record 2's content edited. */
    edit = apr_pstrdup(pool, text);
    *strstr(strstr(edit, "\"seq\":2,"), "rotated") = 'R';
    spit(f0, edit, 0);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "an edited record: BROKEN");
    like(rep.message, "seq 2 (", "named: seq 2");
    like(rep.message, "line 2) was altered", "at line 2, altered");

    /* Record 3's prev edited: record 3 is named, not 2. */
    copy_dir(good, dir);
    {
        char *e2 = apr_pstrdup(pool, text);
        char *pv = strstr(strstr(e2, "\"seq\":3,"), "\"prev\":\"") + 8;

        *pv = *pv == 'a' ? 'b' : 'a';
        spit(f0, e2, 0);
    }
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "an edited prev: BROKEN");
    like(rep.message, "seq 3 (", "named: seq 3, whose prev was edited");

    /* Record 2 deleted. */
    copy_dir(good, dir);
    edit = apr_pstrdup(pool, text);
    cut = strstr(edit, "{\"seq\":2,");
    memmove((char *)cut, strchr(cut, '\n') + 1, strlen(strchr(cut, '\n')));
    spit(f0, edit, 0);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "a deleted record: BROKEN");
    like(rep.message, "records 2..2 are missing", "named: record 2 missing");

    /* Records 1 and 2 swapped. */
    copy_dir(good, dir);
    spit(f0, apr_pstrcat(pool, line_of(text, 2), "\n", line_of(text, 1),
                         "\n", strstr(text, "{\"seq\":3,"), NULL), 0);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "reordered records: BROKEN");
    like(rep.message, "seq 2 (", "named: seq 2");
    like(rep.message, "reordered", "reordered");

    /* Record 2 cut in the middle (its newline kept). */
    copy_dir(good, dir);
    edit = apr_pstrdup(pool, text);
    {
        char *l2 = strstr(edit, "{\"seq\":2,");

        memmove(l2 + 20, strchr(l2, '\n'), strlen(strchr(l2, '\n')) + 1);
    }
    spit(f0, edit, 0);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "a record cut short: BROKEN");
    like(rep.message, "line 2 is not a record", "named: line 2");

    /* A whole file deleted (the second). */
    copy_dir(good, dir);
    files = llm_audit_files(pool, dir, &rv);
    f1 = APR_ARRAY_IDX(files, 1, llm_audit_file_t).path;
    apr_file_remove(f1, pool);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "a deleted file: BROKEN");
    like(rep.message, "are missing before", "named: the records missing");

    /* The first file deleted (retention): broken, unless --partial. */
    copy_dir(good, dir);
    apr_file_remove(f0, pool);
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_BROKEN, "the first file gone: BROKEN");
    is_int(verify(dir, 1).verdict, LLM_AUDIT_INTACT,
           "--partial: the rest is intact");
    (void)f1;
}

/* A write that fails leaves the state as it was. */
static void test_failure(const char *dir)
{
    trail_t tr;
    llm_audit_entry_t e = { apr_time_now(), "request", NULL, NULL, 0, NULL, 0 };
    apr_uint64_t seq = 0;
    const char *why = NULL;
    llm_audit_chain_t before;

    open_trail(&tr, dir, 0);
    add(&tr, "request", NULL);
    before = tr.st.chain;
    /* The directory replaced by a file: no new file can be opened. */
    tr.st.file_seq = 99;
    system(apr_psprintf(pool, "rm -rf '%s' && touch '%s'", dir, dir));
    ok(llm_audit_append(tr.t, pool, &e, &seq, &why) != APR_SUCCESS,
       "an unwritable trail: the append fails");
    like(why, "cannot be opened", "saying why");
    is_int(tr.st.chain.seq, before.seq, "the seq is not used up");
    is_str(tr.st.chain.prev, before.prev, "nor the chain moved");
    apr_file_remove(dir, pool);
}

/* Four processes, one trail, one lock: every record once, in order. */
static void test_processes(const char *dir)
{
    llm_audit_state_t *st;
    llm_audit_found_t found;
    apr_shm_t *shm;
    apr_proc_mutex_t *lock;
    llm_audit_opts_t o = { dir, 4096, 0, 0 };
    llm_audit_report_t rep;
    int i, status, good = 1;

    apr_shm_create(&shm, sizeof(*st), NULL, pool);
    st = apr_shm_baseaddr_get(shm);
    llm_audit_recover(pool, dir, st, &found);
    apr_proc_mutex_create(&lock, NULL, APR_LOCK_DEFAULT, pool);
    for (i = 0; i < 4; i++) {
        if (fork() == 0) {
            apr_pool_t *cp;
            llm_audit_trail_t *t;
            int k;

            apr_pool_create(&cp, NULL);
            t = llm_audit_trail_make(cp, &o, st);
            for (k = 0; k < 100; k++) {
                char model[32];
                json_object *f = json_object_new_object();
                llm_audit_entry_t e = { apr_time_now(), "request", f, NULL, 0, NULL, 0 };
                apr_uint64_t seq;
                const char *why;

                snprintf(model, sizeof(model), "p%d-%d", i, k);
                json_object_object_add(f, "model", llm_audit_str(model));
                apr_proc_mutex_lock(lock);
                if (llm_audit_append(t, cp, &e, &seq, &why) != APR_SUCCESS) {
                    _exit(1);
                }
                apr_proc_mutex_unlock(lock);
                json_object_put(f);
            }
            _exit(0);
        }
    }
    for (i = 0; i < 4; i++) {
        wait(&status);
        good &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    ok(good, "four processes wrote 100 records each");
    is_int(st->chain.seq, 400, "the shared state: seq 400");
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_INTACT, "the trail is intact");
    is_int(rep.records, 400, "with 400 records, seq 1..400");
    ok(rep.files > 1, "rotated by the processes in turn");
}

/* A writer killed between its write and the state's update (kill -9
 * while it held the lock): the next writer takes the record it left in
 * the file into the chain, and cuts off a torn one. */
static void test_dead_writer(const char *dir)
{
    trail_t tr;
    llm_audit_state_t stale;
    llm_audit_report_t rep;
    const char *path;

    open_trail(&tr, dir, 0);
    ok(add(&tr, "request", fields("m1")) == 1, "record 1");
    stale = tr.st;
    ok(add(&tr, "request", fields("m2")) == 2, "record 2, then the "
       "writer dies before the state moves");
    tr.st = stale;
    ok(add(&tr, "request", fields("m3")) == 3, "the next writer takes "
       "record 2 in and writes 3");
    path = file_path(dir, 1, 0);
    spit(path, "{\"seq\":4,\"time\":\"2026-", 1);
    ok(add(&tr, "request", fields("m4")) == 4, "a torn record 4 is cut "
       "off; 4 is written again");
    rep = verify(dir, 0);
    is_int(rep.verdict, LLM_AUDIT_INTACT, "the trail is intact");
    is_int(rep.records, 4, "with 4 records");
    is_int(count_lines(slurp(path)), 4, "one line each");
}

/* LLMAuditRotate's time: a file older than it is not written to again. */
static void test_rotate_age(const char *dir)
{
    llm_audit_state_t st;
    llm_audit_found_t found;
    llm_audit_opts_t o = { dir, 0, apr_time_from_msec(50), 1 };
    llm_audit_trail_t *t;
    llm_audit_entry_t e = { 0, "request", NULL, NULL, 0, NULL, 0 };
    apr_uint64_t seq;
    const char *why;
    int good = 1, i;

    llm_audit_recover(pool, dir, &st, &found);
    t = llm_audit_trail_make(pool, &o, &st);
    for (i = 0; i < 3; i++) {
        e.time = apr_time_now();
        good &= llm_audit_append(t, pool, &e, &seq, &why) == APR_SUCCESS;
    }
    apr_sleep(apr_time_from_msec(80));
    e.time = apr_time_now();
    good &= llm_audit_append(t, pool, &e, &seq, &why) == APR_SUCCESS;
    ok(good, "four records, the last after the file's time");
    is_int(count_lines(slurp(file_path(dir, 1, 0))), 3,
           "three in the first file");
    is_int(count_lines(slurp(file_path(dir, 4, 0))), 1,
           "the fourth starts a new one");
    is_int(verify(dir, 0).verdict, LLM_AUDIT_INTACT, "chained across them");
}

/* Review: a writer killed between its write and the state's update, and
 * the next record does not fit in that file (or the file is old enough
 * to rotate): the rotation is decided on the stale size before
 * catch_up looks at the file, so the dead writer's record is never
 * taken in, and the new file starts at the same seq: the chain forks. */
static void test_dead_writer_rotation(const char *dir)
{
    trail_t tr;
    llm_audit_state_t stale;
    apr_size_t l1;
    const char *text;

    open_trail(&tr, dir, 0);
    ok(add(&tr, "request", fields("m1")) == 1, "record 1");
    l1 = (apr_size_t)tr.st.size;
    /* Room for two records of this size, not for a bigger third. */
    {
        llm_audit_opts_t o = { dir, (apr_off_t)(2 * l1 + 5), 0, 1 };
        const char *why = llm_audit_recover(pool, dir, &tr.st, &tr.found);

        ok(!why, "recovered");
        tr.t = llm_audit_trail_make(pool, &o, &tr.st);
    }
    stale = tr.st;
    ok(add(&tr, "request", fields("m2")) == 2, "record 2 fits the file; "
       "the writer dies before the state moves");
    tr.st = stale;
    ok(add(&tr, "request", fields("m3-a-longer-model-name-than-before"))
       == 3, "the next writer takes record 2 in and writes 3");
    text = slurp(file_path(dir, 1, 0));
    is_int(count_lines(text), 2, "records 1 and 2 in the first file");
    is_int(verify(dir, 0).verdict, LLM_AUDIT_INTACT, "the trail is intact "
           "(no fork at seq 2)");
}

/* Fields written as JSON text: escaped, nested, mended, and a record
 * made from them reads back as the same values. */
static void test_writer(void)
{
    llm_audit_w_t w;
    llm_audit_entry_t e = { 0, "request", NULL, NULL, 0, NULL, 0 };
    const char *line;
    apr_size_t len = 0;
    json_object *o, *v;

    llm_audit_w_init(&w, pool);
    llm_audit_w_str(&w, "user", "a\"b\\c\n\x01/\xff\xc3\xa9");
    llm_audit_w_str(&w, "none", NULL);
    llm_audit_w_int(&w, "n", -42);
    llm_audit_w_bool(&w, "stream", 1);
    llm_audit_w_open(&w, "attempts", '[');
    llm_audit_w_open(&w, NULL, '{');
    llm_audit_w_str(&w, "provider", "p1");
    llm_audit_w_close(&w, '}');
    llm_audit_w_open(&w, NULL, '{');
    llm_audit_w_int(&w, "status", 200);
    llm_audit_w_close(&w, '}');
    llm_audit_w_close(&w, ']');
    llm_audit_w_strn(&w, "nul", "x\0y", 3);
    e.text = llm_audit_w_text(&w, &e.text_len);
    line = llm_audit_record_line(pool, 3, "ab", &e, &len);
    is_int((int)strlen(line), (int)len, "one line, no NUL inside");
    o = llm_json_parse(line, len);
    ok(o != NULL, "valid JSON");
    is_str(llm_json_str(o, "user", NULL), "a\"b\\c\n\x01/\xef\xbf\xbd\xc3\xa9",
           "escaped; invalid UTF-8 mended, valid kept");
    ok((v = llm_json_get(o, "none")) == NULL
       || json_object_is_type(v, json_type_null), "NULL: null");
    v = llm_json_get(o, "attempts");
    ok(v && json_object_array_length(v) == 2
       && json_object_get_int(llm_json_get(json_object_array_get_idx(v, 1),
                                           "status")) == 200,
       "nested arrays and objects");
    is_int((int)json_object_get_int64(llm_json_get(o, "seq")), 3,
           "seq first");
    is_int(json_object_get_string_len(llm_json_get(o, "nul")), 3,
           "a NUL inside a value is kept, escaped");
    ok(!strchr(line, '\n'), "no raw newline");
    json_object_put(o);
}

/* The cost of one append (a plaintext record, fdatasync'd), printed for
 * docs/performance.md. */
static void time_appends(const char *dir)
{
    trail_t tr;
    apr_time_t t0;
    int i, n = 0;

    open_trail(&tr, dir, 0);
    t0 = apr_time_now();
    for (i = 0; i < 200; i++) {
        n += add(&tr, "request", fields("timed")) != 0;
    }
    printf("# append + fdatasync: %.3f ms per record (200 records)\n",
           (double)(apr_time_now() - t0) / 200 / 1000);
    is_int(n, 200, "200 timed appends");
}

int main(void)
{
    const char *base;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    base = tmpdir("trail");
    test_lines();
    test_writer();
    test_rotate_age(apr_pstrcat(pool, base, "-age", NULL));
    test_chain(base);
    test_torn(base);
    test_rotation(apr_pstrcat(pool, base, "-rot", NULL));
    test_tamper(apr_pstrcat(pool, base, "-rot", NULL));
    test_failure(apr_pstrcat(pool, base, "-fail", NULL));
    test_processes(apr_pstrcat(pool, base, "-procs", NULL));
    test_dead_writer(apr_pstrcat(pool, base, "-dead", NULL));
    test_dead_writer_rotation(apr_pstrcat(pool, base, "-deadrot", NULL));
    time_appends(apr_pstrcat(pool, base, "-time", NULL));
    system(apr_psprintf(pool, "rm -rf '%s'",
                        apr_pstrndup(pool, base, strrchr(base, '/') - base)));
    return tap_done();
}
