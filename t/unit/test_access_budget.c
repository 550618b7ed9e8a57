/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* mod_llm_access's budgets across a full stop (llm_access_budget.c):
 * budget slots are marked and collected, GCRA slots never; the state
 * file's text reads back exactly; a restore keeps the current period's
 * buckets, drops ended ones, and finds them again by their names; every
 * malformed or truncated file, and every file of another layout, is
 * refused whole; a file is replaced atomically. */

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_file_io.h"
#include "apr_strings.h"

#include "tap.h"
#include "temp_files.h"
#include "llm_access.h"

#define NSLOTS 64

static llm_limit_table_t table;
/* NSLOTS slots and their NSLOTS period ends (4 bytes each). */
static llm_limit_slot_t mem[NSLOTS + NSLOTS / 4];

static void fresh_table(apr_uint32_t n)
{
    memset(mem, 0, sizeof(mem));
    llm_limit_table_init(&table, mem, n);
}

static int refused(apr_pool_t *p, const char *text, apr_size_t len)
{
    apr_array_header_t *recs;

    return llm_budget_state_parse(p, text, len, &recs) != NULL
           && recs->nelts == 0;
}

/* A budget "k" of 2026-12 spent 1500; a GCRA slot beside it. */
static const char *spend(apr_pool_t *p, apr_time_t now, apr_time_t ends,
                         apr_uint64_t *sum)
{
    llm_limit_slot_t *b = llm_limit_slot(&table, "llm:budget:key:k|2026-12|5000");
    llm_limit_slot_t *g = llm_limit_slot(&table, "llm:limit:requests|key:k|1/1");
    llm_access_rate_t r = { 1, apr_time_from_sec(1) };
    llm_limit_result_t res;

    llm_limit_take(&g->tat, &r, 1, now, &res);
    llm_budget_mark(&table, b, ends);
    llm_budget_charge(&b->tat, 1500);
    return llm_budget_state_text(p, llm_budget_collect(p, &table, now), sum);
}

static void test_round_trip(apr_pool_t *p, apr_time_t now, apr_time_t ends)
{
    apr_array_header_t *recs;
    apr_uint64_t sum, sum2;
    const char *text = spend(p, now, ends, &sum);
    const llm_budget_rec_t *r;
    llm_limit_slot_t *b;
    int dropped, full;

    ok(!llm_budget_state_parse(p, text, strlen(text), &recs)
       && recs->nelts == 1, "one budget bucket written, not the GCRA one");
    r = &APR_ARRAY_IDX(recs, 0, llm_budget_rec_t);
    ok(r->spent == 1500 && r->ends == apr_time_sec(ends),
       "its spent tokens and its period's end");
    is_str(llm_budget_state_text(p, recs, &sum2), text,
           "the text of what was read is what was written");
    ok(sum == sum2, "and its checksum");

    fresh_table(NSLOTS);
    ok(llm_budget_restore(&table, recs, now, &dropped, &full) == 1
       && !dropped && !full, "restored into a fresh table");
    b = llm_limit_slot(&table, "llm:budget:key:k|2026-12|5000");
    ok(b && b->tat == 1500, "the bucket's name finds its count again");
    llm_budget_charge(&b->tat, 10);
    is_int(llm_budget_collect(p, &table, now)->nelts, 1,
           "restored, it is marked as a budget again");

    /* Its period over: dropped, nothing restored. */
    fresh_table(NSLOTS);
    ok(llm_budget_restore(&table, recs, ends, &dropped, &full) == 0
       && dropped == 1, "a bucket of an ended period is dropped");
    ok(llm_limit_slot(&table, "llm:budget:key:k|2026-12|5000")->tat == 0,
       "and starts from zero");
    ok(llm_budget_restore(&table, recs,
                          ends - apr_time_from_sec(32 * 86400), &dropped,
                          &full) == 0 && dropped == 1,
       "a period more than 31 days ahead cannot be current: dropped");
    /* Nor is an ended period written again. */
    fresh_table(NSLOTS);
    spend(p, now, ends, NULL);
    is_int(llm_budget_collect(p, &table, ends)->nelts, 0,
           "an ended period is not collected");
    /* A full table. */
    fresh_table(1);
    llm_limit_slot(&table, "another bucket");
    ok(llm_budget_restore(&table, recs, now, &dropped, &full) == 0
       && full == 1, "a full table: counted, not a crash");
}

static void test_empty(apr_pool_t *p)
{
    apr_array_header_t *recs = apr_array_make(p, 1, sizeof(llm_budget_rec_t));
    const char *text = llm_budget_state_text(p, recs, NULL);

    ok(!llm_budget_state_parse(p, text, strlen(text), &recs)
       && recs->nelts == 0, "an empty state reads back");
    like(text, "end 0 ", "with a count of 0");
}

/* Each malformed input is refused whole. */
static void test_malformed(apr_pool_t *p, const char *good)
{
    static const char *bad[] = {
        "",
        "mod_llm budget state 2\nend 0 0000000000000000\n",
        "mod_llm budget state 1\n",
        "mod_llm budget state 1\nend 0\n",
        "mod_llm budget state 1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n0000000000000000 1 1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n12345 1 1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n00000000000000AB 1 1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n00000000000000ab 01 1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n00000000000000ab 1 -1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n00000000000000ab 4294967296 1\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n00000000000000ab 1 99999999999999999999\nend 1 0000000000000000\n",
        "mod_llm budget state 1\n00000000000000ab 1 1 \nend 1 0000000000000000\n",
        "{\"budgets\": {}}\n",
    };
    apr_size_t i, n = strlen(good), cut;
    char *flip;
    int all = 1;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (!refused(p, bad[i], strlen(bad[i]))) {
            all = 0;
            printf("# accepted: %s\n", bad[i]);
        }
    }
    ok(all, "malformed files and other layouts are refused");
    for (cut = 0, all = 1; cut < n; cut++) {
        all &= refused(p, good, cut);
    }
    ok(all, "every truncation of a good file is refused");
    flip = apr_pstrdup(p, good);
    for (i = 0, all = 1; i < n; i++) {
        flip[i] ^= 0x01;
        all &= refused(p, flip, n);
        flip[i] ^= 0x01;
    }
    ok(all, "every flipped bit of a good file is refused (the checksum)");
    ok(refused(p, apr_pstrcat(p, good, "x", NULL), n + 1),
       "bytes after the last line are refused");
    ok(refused(p, apr_pstrcat(p, good, "\n", NULL), n + 1),
       "even a new line");
}

static void test_files(apr_pool_t *p, const char *good)
{
    char dir[] = "/tmp/test_access_budget.XXXXXX";
    const char *path, *why;
    apr_array_header_t *recs;
    struct stat st;

    if (!mkdtemp(dir)) {
        ok(0, "a temporary directory");
        return;
    }
    path = apr_pstrcat(p, dir, "/keys.json.budgets", NULL);
    ok(!llm_budget_state_load(p, path, &recs) && recs->nelts == 0,
       "no file: no record, no error");
    ok(!llm_access_file_replace(p, path, NULL, good), "written");
    ok(!llm_budget_state_load(p, path, &recs) && recs->nelts == 1,
       "and read back");
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
       "mode 0600");
    ok(temp_files_left(path) == 0, "no temporary file left");
    {
        /* The root parent writes these files: a link planted at the
         * file's name (or at its old temporary name) is replaced, its
         * target never written. */
        const char *victim = apr_pstrcat(p, dir, "/victim", NULL);
        const char *link_at = apr_pstrcat(p, dir, "/linked.budgets", NULL);
        struct stat vs;
        apr_file_t *vf;

        apr_file_open(&vf, victim, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
        apr_file_puts("victim", vf);
        apr_file_close(vf);
        ok(symlink(victim, link_at) == 0
           && symlink(victim, apr_pstrcat(p, link_at, ".tmp", NULL)) == 0,
           "links planted at the file's name and at <name>.tmp");
        ok(!llm_access_file_replace(p, link_at, NULL, good)
           && lstat(link_at, &vs) == 0 && S_ISREG(vs.st_mode)
           && stat(victim, &vs) == 0 && vs.st_size == 6,
           "the link replaced by the file, its target untouched");
        unlink(apr_pstrcat(p, link_at, ".tmp", NULL));
        unlink(link_at);
        unlink(victim);
    }
    ok(!llm_access_file_replace(p, path, NULL, "mod_llm budget state 1\nen"),
       "a truncated file written by hand");
    why = llm_budget_state_load(p, path, &recs);
    ok(why && !strncmp(why, path, strlen(path)) && recs->nelts == 0,
       "is refused, naming the file");
    ok(llm_access_file_replace(p, apr_pstrcat(p, dir, "/no/such/dir", NULL),
                               NULL, good) != NULL,
       "an unwritable place is an error, not a crash");
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    apr_pool_t *p;
    apr_time_t now = apr_time_from_sec(1798761600 - 10 * 86400);
    apr_time_t ends = apr_time_from_sec(1798761600);
    const char *good;

    apr_initialize();
    apr_pool_create(&p, NULL);
    fresh_table(NSLOTS);
    test_round_trip(p, now, ends);
    test_empty(p);
    fresh_table(NSLOTS);
    good = spend(p, now, ends, NULL);
    test_malformed(p, good);
    test_files(p, good);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
