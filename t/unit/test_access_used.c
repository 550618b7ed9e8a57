/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* mod_llm_access's last-used table and its batches: a slot per key and
 * store; a use stored only once per granularity, whatever the number of
 * requests and threads; the dirty keys of one store, flushed once; the
 * sidecar merged (the later time wins), written atomically with the key
 * file's mode, read back into a store; the budgets each key has spent
 * (llm_access_each_budget's walk). */

#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include "tap.h"
#include "temp_files.h"
#include "llm_access.h"

static llm_used_table_t table;
static llm_used_slot_t *racing;
static int stores;

static void *hammer(void *arg)
{
    apr_uint32_t t0 = *(apr_uint32_t *)arg, i;
    int mine = 0;

    /* 100,000 requests over 10 s of clock: 10 stores at most. */
    for (i = 0; i < 100000; i++) {
        mine += llm_used_touch(racing, t0 + i / 10000, 1);
    }
    __atomic_add_fetch(&stores, mine, __ATOMIC_SEQ_CST);
    return NULL;
}

static llm_access_key_t *key(apr_pool_t *p, const char *id, char c)
{
    llm_access_key_t *k = apr_pcalloc(p, sizeof(*k));

    k->id = id;
    memset(k->hash, c, 64);
    k->hash[64] = '\0';
    k->models = apr_array_make(p, 1, sizeof(const char *));
    k->active = 1;
    return k;
}

typedef struct {
    int n;
    char seen[256];
} budgets_t;

static int collect(void *baton, const llm_key_budget_t *b)
{
    budgets_t *bs = baton;
    size_t at = strlen(bs->seen);

    apr_snprintf(bs->seen + at, sizeof(bs->seen) - at, "%s%s=%" APR_UINT64_T_FMT
                 "/%" APR_UINT64_T_FMT "/%s", at ? " " : "", b->key_id,
                 b->used, b->limit, b->period);
    return ++bs->n >= 100;
}

/* A budget's spent count, made up: the limit slot's index * 10. */
static apr_int64_t fake_spent(void *ctx, const llm_used_slot_t *u,
                              const char *key_id, apr_time_t now)
{
    (void)ctx;
    (void)key_id;
    (void)now;
    return (apr_int64_t)u->budget_slot * 10;
}

int main(void)
{
    static llm_used_slot_t mem[32];
    apr_pool_t *p;
    apr_uint64_t file = llm_used_store_hash("file:/etc/keys.json");
    apr_uint64_t redis = llm_used_store_hash("redis:127.0.0.1:6379");
    llm_used_slot_t *a, *b, *a2;
    llm_access_key_t *ka, *kb, *kc;
    apr_array_header_t *dirty;
    apr_uint32_t t0 = 1796600000;
    pthread_t th[8];
    char dir[] = "/tmp/test_access_used.XXXXXX";
    const char *path, *side;
    apr_hash_t *times;
    apr_time_t *t;
    llm_access_store_t *s;
    struct stat st;
    budgets_t bs;
    int i;

    apr_initialize();
    apr_pool_create(&p, NULL);
    ok(sizeof(llm_used_slot_t) == 184, "a slot is 184 bytes (docs/directives.md)");
    llm_used_table_init(&table, mem, 32);
    ka = key(p, "team-a", 'a');
    kb = key(p, "team-b", 'b');
    kc = key(p, "team-a", 'c');         /* the same id in Redis */
    a = llm_used_slot(&table, file, ka);
    b = llm_used_slot(&table, file, kb);
    a2 = llm_used_slot(&table, redis, kc);
    ok(a && b && a2 && a != b && a != a2, "a slot per key and store");
    ok(llm_used_slot(&table, file, ka) == a, "a key keeps its slot");
    is_str(a->key_id, "team-a", "the slot is named by its key");
    ok(a->ready && a2->ready && !strncmp(a2->hash, "ccc", 3),
       "ready, with the key's hash");

    /* A use is stored once per granularity. */
    ok(llm_used_touch(a, t0, 10), "the first use is stored");
    ok(!llm_used_touch(a, t0 + 9, 10), "9 s later: nothing stored");
    ok(llm_used_touch(a, t0 + 10, 10) && a->used == t0 + 10,
       "10 s later: stored");
    ok(!llm_used_touch(a, t0 + 5, 10) && a->used == t0 + 10,
       "an older time never goes back");

    /* Eight threads, 800,000 uses over 10 s of clock: at most 10
     * stores in all. */
    racing = b;
    for (i = 0; i < 8; i++) {
        pthread_create(&th[i], NULL, hammer, &t0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
    }
    if (!ok(stores >= 1 && stores <= 10, "800,000 uses: 10 stores or fewer")) {
        printf("# %d stores\n", stores);
    }
    ok(b->used == t0 + 9, "the last second is kept");

    /* The dirty keys of one store, once. */
    dirty = llm_used_dirty(p, &table, file);
    is_int(dirty->nelts, 2, "two keys of the file are dirty");
    ok(llm_used_dirty(p, &table, redis)->nelts == 0,
       "a store that was not used is clean");
    llm_used_mark_flushed(dirty);
    ok(llm_used_dirty(p, &table, file)->nelts == 0, "flushed: clean");
    llm_used_touch(a, t0 + 30, 10);
    dirty = llm_used_dirty(p, &table, file);
    ok(dirty->nelts == 1
       && !strcmp(APR_ARRAY_IDX(dirty, 0, llm_used_entry_t).key_id,
                  "team-a")
       && APR_ARRAY_IDX(dirty, 0, llm_used_entry_t).used == t0 + 30,
       "used again: dirty again, with its new time");

    /* The sidecar: merged, the later time wins, the key file's mode. */
    ok(mkdtemp(dir) != NULL, "a directory");
    path = apr_pstrcat(p, dir, "/keys.json", NULL);
    side = llm_used_sidecar(p, path);
    is_str(side, apr_pstrcat(p, path, ".last-used", NULL), "its name");
    {
        apr_file_t *f;

        apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
        apr_file_puts("{\"keys\":[]}\n", f);
        apr_file_close(f);
        chmod(path, 0640);
        apr_file_open(&f, side, APR_FOPEN_WRITE | APR_FOPEN_CREATE,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
        apr_file_printf(f, "{\"last_used\": {\"team-a\": %u, "
                        "\"team-z\": 5}}", t0 + 100);
        apr_file_close(f);
    }
    ok(llm_used_merge(p, side, path, dirty) == NULL, "merged");
    ok(llm_used_read(p, side, &times) == NULL, "read back");
    t = apr_hash_get(times, "team-a", APR_HASH_KEY_STRING);
    ok(t && *t == apr_time_from_sec(t0 + 100),
       "a later time in the file is kept");
    t = apr_hash_get(times, "team-z", APR_HASH_KEY_STRING);
    ok(t && *t == apr_time_from_sec(5), "other keys are kept");
    llm_used_touch(a, t0 + 200, 10);
    ok(llm_used_merge(p, side, path,
                      llm_used_dirty(p, &table, file)) == NULL
       && llm_used_read(p, side, &times) == NULL
       && (t = apr_hash_get(times, "team-a", APR_HASH_KEY_STRING))
       && *t == apr_time_from_sec(t0 + 200), "a newer use replaces it");
    ok(stat(side, &st) == 0 && (st.st_mode & 0777) == 0640,
       "the key file's mode");
    ok(temp_files_left(side) == 0, "no temporary file left");

    /* Into a store, for llmctl key. */
    s = llm_access_store_make(p, path);
    llm_access_store_add(s, ka);
    llm_access_store_add(s, kb);
    llm_used_apply(s, times, 0);
    ok(ka->last_used == apr_time_from_sec(t0 + 200) && kb->last_used == 0,
       "used keys get their time, the others none");
    apr_hash_set(times, kb->hash, APR_HASH_KEY_STRING, t);
    llm_used_apply(s, times, 1);
    ok(kb->last_used == *t && ka->last_used == 0, "by hash (Redis)");
    ok(llm_used_read(p, apr_pstrcat(p, dir, "/none", NULL), &times) == NULL
       && apr_hash_count(times) == 0, "no sidecar: no times");
    {
        apr_file_t *f;

        apr_file_open(&f, side, APR_FOPEN_WRITE | APR_FOPEN_TRUNCATE,
                      APR_FPROT_OS_DEFAULT, p);
        apr_file_puts("[1,2]", f);
        apr_file_close(f);
    }
    ok(llm_used_read(p, side, &times) != NULL, "a broken sidecar is said");
    ok(llm_used_merge(p, side, path, dirty) == NULL
       && llm_used_read(p, side, &times) == NULL,
       "and written anew at the next flush");
    apr_file_remove(side, p);
    apr_file_remove(path, p);
    rmdir(dir);

    /* Budgets: the keys of the server's stores whose period is on and
     * that spent some. */
    memset(&bs, 0, sizeof(bs));
    ok(llm_used_each_budget(p, &table, file, redis,
                            apr_time_from_sec(t0), 10, fake_spent, NULL,
                            collect, &bs) == 0, "no budget yet: none");
    llm_used_set_budget(a, 5000, LLM_PERIOD_MONTH, apr_time_from_sec(t0 + 60),
                        3);
    llm_used_set_budget(b, 700, LLM_PERIOD_DAY, apr_time_from_sec(t0 + 60),
                        0);
    llm_used_set_budget(a2, 900, LLM_PERIOD_DAY, apr_time_from_sec(t0 - 1),
                        4);
    memset(&bs, 0, sizeof(bs));
    i = llm_used_each_budget(p, &table, file, redis, apr_time_from_sec(t0),
                             10, fake_spent, NULL, collect, &bs);
    if (!ok(i == 1 && !strcmp(bs.seen, "team-a=30/5000/month"),
            "spent ones only, their period on")) {
        printf("# %s\n", bs.seen);
    }
    llm_used_set_budget(b, 700, LLM_PERIOD_DAY, apr_time_from_sec(t0 + 60),
                        2);
    memset(&bs, 0, sizeof(bs));
    i = llm_used_each_budget(p, &table, file, 0, apr_time_from_sec(t0), 1,
                             fake_spent, NULL, collect, &bs);
    ok(i == 1, "at most max keys");
    memset(&bs, 0, sizeof(bs));
    i = llm_used_each_budget(p, &table, redis, 0, apr_time_from_sec(t0), 10,
                             fake_spent, NULL, collect, &bs);
    ok(i == 0, "another server's store: none");
    memset(&bs, 0, sizeof(bs));
    i = llm_used_each_budget(p, &table, file, 0,
                             apr_time_from_sec(t0 + 60), 10, fake_spent,
                             NULL, collect, &bs);
    ok(i == 0, "the period is over: none");

    /* A full table gives no slot. */
    memset(mem, 0, sizeof(mem));
    llm_used_table_init(&table, mem, 2);
    ok(llm_used_slot(&table, file, ka) && llm_used_slot(&table, file, kb)
       && !llm_used_slot(&table, redis, kc), "a full table gives no slot");
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
