/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The metrics engine: bounded labels, cells per slot summed at a
 * scrape, a dead writer's counters kept and its gauges reset, the
 * exposition format (HELP/TYPE once, escaping, cumulative buckets with
 * +Inf, exact decimals), and several processes adding at once. */

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_shm.h"

#include "tap.h"
#include "llm_metrics.h"

static apr_pool_t *pool;

static const char *const methods[] = { "GET", "POST" };
static const char *const kinds[] = { "a\"b", "c\\d", "e\nf" };

typedef struct {
    llm_metrics_t *m;
    llm_metrics_dim_t *method, *kind;
    llm_metrics_family_t *requests, *inflight, *latency, *plain;
} fixture_t;

static const apr_uint64_t bounds_us[] = { 5000, 100000, 1000000 };

static fixture_t make_ex(int nslots, void *base, int exemplars)
{
    fixture_t x;
    const llm_metrics_dim_t *d1[2], *d2[3];

    x.m = llm_metrics_make(pool);
    x.method = llm_metrics_dim(pool, "method", methods, 2, 1);
    x.kind = llm_metrics_dim(pool, "kind", kinds, 3, 0);
    d1[0] = x.method; d1[1] = NULL;
    d2[0] = x.method; d2[1] = x.kind; d2[2] = NULL;
    x.requests = llm_metrics_add(x.m, "t_requests_total", "Requests.",
                                 LLM_METRIC_COUNTER, 0, NULL, 0, d2);
    x.inflight = llm_metrics_add(x.m, "t_in_progress", "Under way.",
                                 LLM_METRIC_GAUGE, 0, NULL, 0, NULL);
    x.latency = llm_metrics_add(x.m, "t_seconds", "Time\\taken\nhere.",
                                LLM_METRIC_HISTOGRAM, 6, bounds_us, 3, d1);
    x.plain = llm_metrics_add(x.m, "t_plain_total", "Never moves.",
                              LLM_METRIC_COUNTER, 0, NULL, 0, NULL);
    if (exemplars) {
        llm_metrics_keep_exemplars(x.m, x.latency);
    }
    if (!base) {
        base = apr_pcalloc(pool, llm_metrics_size(x.m, nslots));
    }
    llm_metrics_attach(x.m, base, nslots);
    return x;
}

static fixture_t make(int nslots, void *base)
{
    return make_ex(nslots, base, 0);
}

static const char *scrape(fixture_t *x)
{
    llm_buf_t b;

    llm_buf_init(&b, pool);
    llm_metrics_write(x->m, &b, pool);
    llm_buf_add(&b, "", 1);
    return b.data;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;

    for (; (hay = strstr(hay, needle)) != NULL; hay++) {
        n++;
    }
    return n;
}

static void test_dims(void)
{
    fixture_t x = make(1, NULL);
    const llm_metrics_dim_t *bad[2];

    is_int(llm_metrics_dim_index(x.method, "POST"), 1, "a known value");
    is_int(llm_metrics_dim_index(x.method, "/random/url"), 2,
           "an unknown value is other");
    is_int(llm_metrics_dim_index(x.method, NULL), 2, "NULL is other");
    is_int(llm_metrics_dim_index(x.kind, "zzz"), -1,
           "no other: the sample is dropped");
    is_int(x.method->values->nelts, 3, "GET, POST, other");
    {
        llm_metrics_t *m = llm_metrics_make(pool);

        ok(llm_metrics_add(m, "x_total", "x", LLM_METRIC_COUNTER, 0, NULL,
                           0, NULL) != NULL, "a family");
        ok(!llm_metrics_add(m, "x_total", "x", LLM_METRIC_COUNTER, 0, NULL,
                            0, NULL), "its name is taken");
    }
    ok(!llm_metrics_add(x.m, "late_total", "x", LLM_METRIC_COUNTER, 0, NULL,
                        0, NULL), "no family after attach");
    x = make(1, NULL);
    bad[0] = x.method; bad[1] = NULL;
    ok(!llm_metrics_add(x.m, "1bad", "x", LLM_METRIC_COUNTER, 0, NULL, 0,
                        bad), "a name must not start with a digit");
}

static void test_exposition(void)
{
    fixture_t x = make(2, NULL);
    llm_metrics_slot_t *s0 = llm_metrics_slot(x.m, 0);
    llm_metrics_slot_t *s1 = llm_metrics_slot(x.m, 1);
    int post_q[2] = { 1, 0 }, get_bs[2] = { 0, 1 }, post[1] = { 1 };
    const char *out;

    llm_metrics_slot_claim(x.m, s0, 100);
    llm_metrics_slot_claim(x.m, s1, 101);
    llm_metrics_add_to(x.m, s0, x.requests, post_q, 2);
    llm_metrics_add_to(x.m, s1, x.requests, post_q, 3);
    llm_metrics_add_to(x.m, s1, x.requests, get_bs, 1);
    llm_metrics_observe(x.m, s0, x.latency, post, 5000);   /* le 0.005 */
    llm_metrics_observe(x.m, s1, x.latency, post, 20000);  /* le 0.1 */
    llm_metrics_observe(x.m, s1, x.latency, post, 3000000);/* +Inf */
    out = scrape(&x);

    is_int(llm_metrics_value(x.m, x.requests, post_q), 5,
           "the slots are summed");
    like(out, "t_requests_total{method=\"POST\",kind=\"a\\\"b\"} 5\n",
         "a quote in a label value is escaped");
    like(out, "t_requests_total{method=\"GET\",kind=\"c\\\\d\"} 1\n",
         "a backslash in a label value is escaped");
    is_int(count_of(out, "t_requests_total{"), 2,
           "only the series that moved");
    is_int(count_of(out, "# TYPE t_requests_total counter\n"), 1,
           "TYPE once");
    is_int(count_of(out, "# HELP t_seconds Time\\\\taken\\nhere.\n"), 1,
           "HELP once, escaped");
    like(out, "t_in_progress 0\n", "an unlabelled gauge shows 0");
    like(out, "t_plain_total 0\n", "an unlabelled counter shows 0");
    like(out, "t_seconds_bucket{method=\"POST\",le=\"0.005\"} 1\n"
              "t_seconds_bucket{method=\"POST\",le=\"0.1\"} 2\n"
              "t_seconds_bucket{method=\"POST\",le=\"1\"} 2\n"
              "t_seconds_bucket{method=\"POST\",le=\"+Inf\"} 3\n"
              "t_seconds_sum{method=\"POST\"} 3.025\n"
              "t_seconds_count{method=\"POST\"} 3\n",
         "buckets cumulative, +Inf = count, the sum exact");
    ok(!strstr(out, "method=\"GET\",le="), "no empty histogram series");
}

static void test_pairs(void)
{
    llm_metrics_t *m = llm_metrics_make(pool);
    apr_array_header_t *v = apr_array_make(pool, 2, sizeof(const char *));
    const llm_metrics_dim_t *d[2];
    llm_metrics_dim_t *pair;
    llm_metrics_family_t *f;
    int idx[1];

    APR_ARRAY_PUSH(v, const char *) = "m1" LLM_METRICS_PAIR_SEP "p1";
    APR_ARRAY_PUSH(v, const char *) = "m2" LLM_METRICS_PAIR_SEP "p2";
    pair = llm_metrics_dim_pair(pool, "model", "provider", v, 1);
    d[0] = pair; d[1] = NULL;
    f = llm_metrics_add(m, "t_ttft_seconds", "TTFT.", LLM_METRIC_HISTOGRAM,
                        6, bounds_us, 3, d);
    llm_metrics_attach(m, apr_pcalloc(pool, llm_metrics_size(m, 1)), 1);
    llm_metrics_slot_claim(m, llm_metrics_slot(m, 0), 1);
    idx[0] = llm_metrics_dim_index(pair, "m2" LLM_METRICS_PAIR_SEP "p2");
    llm_metrics_observe(m, llm_metrics_slot(m, 0), f, idx, 7);
    idx[0] = llm_metrics_dim_index(pair, "m1" LLM_METRICS_PAIR_SEP "p9");
    llm_metrics_observe(m, llm_metrics_slot(m, 0), f, idx, 7);
    {
        llm_buf_t b;

        llm_buf_init(&b, pool);
        llm_metrics_write(m, &b, pool);
        llm_buf_add(&b, "", 1);
        like(b.data, "t_ttft_seconds_count{model=\"m2\",provider=\"p2\"} 1\n",
             "a pair label gives two labels");
        like(b.data, "t_ttft_seconds_bucket{model=\"other\",provider="
                     "\"other\",le=\"0.005\"} 1\n",
             "an unknown pair is other/other");
        is_int(m->cells, 3 * 5, "cells only for the pairs that exist");
    }
}

static void test_dead_writer(void)
{
    fixture_t x = make(1, NULL);
    llm_metrics_slot_t *s = llm_metrics_slot(x.m, 0);
    int get_q[2] = { 0, 0 };

    llm_metrics_slot_claim(x.m, s, 200);
    llm_metrics_add_to(x.m, s, x.requests, get_q, 7);
    llm_metrics_add_to(x.m, s, x.inflight, NULL, 3);
    /* process 200 dies with 3 requests under way; 201 takes its slot */
    llm_metrics_slot_claim(x.m, s, 201);
    is_int(llm_metrics_value(x.m, x.requests, get_q), 7,
           "a dead child's counts stay in its slot");
    is_int(llm_metrics_value(x.m, x.inflight, NULL), 0,
           "its gauges are reset");
    llm_metrics_add_to(x.m, s, x.requests, get_q, 1);
    is_int(llm_metrics_value(x.m, x.requests, get_q), 8,
           "the next child adds to them");
    llm_metrics_slot_claim(x.m, s, 201);
    llm_metrics_add_to(x.m, s, x.inflight, NULL, 1);
    llm_metrics_slot_claim(x.m, s, 201);
    is_int(llm_metrics_value(x.m, x.inflight, NULL), 1,
           "claiming its own slot again changes nothing");
    llm_metrics_add_to(x.m, s, x.inflight, NULL, -1);
    like(scrape(&x), "t_in_progress 0\n", "a gauge goes down");
}

/* Four processes, two threads' worth of adds each, two per slot: the
 * sums are exact with atomic adds and no lock. */
static void test_processes(void)
{
    apr_shm_t *shm;
    fixture_t x = make(2, NULL);
    apr_size_t size = llm_metrics_size(x.m, 2);
    int post_q[2] = { 1, 0 }, post[1] = { 1 }, k;

    if (apr_shm_create(&shm, size, NULL, pool) != APR_SUCCESS) {
        ok(0, "shared memory");
        return;
    }
    memset(apr_shm_baseaddr_get(shm), 0, size);
    x = make(2, apr_shm_baseaddr_get(shm));
    for (k = 0; k < 4; k++) {
        if (fork() == 0) {
            llm_metrics_slot_t *s = llm_metrics_slot(x.m, k % 2);
            int i;

            for (i = 0; i < 100000; i++) {
                llm_metrics_add_to(x.m, s, x.requests, post_q, 1);
                llm_metrics_observe(x.m, s, x.latency, post, 1);
            }
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    llm_metrics_slot_claim(x.m, llm_metrics_slot(x.m, 0), 1);
    llm_metrics_slot_claim(x.m, llm_metrics_slot(x.m, 1), 2);
    is_int(llm_metrics_value(x.m, x.requests, post_q), 400000,
           "400,000 adds from 4 processes in 2 slots, none lost");
    like(scrape(&x), "t_seconds_count{method=\"POST\"} 400000\n",
         "and as many observations");
}

/* The address maps of the request path: every key found, a missing one
 * not (the default), many keys in a small map. */
static void test_ptrmap(void)
{
    static int objs[300];
    llm_metrics_ptrmap_t *pm = llm_metrics_ptrmap_make(pool, 300);
    llm_metrics_ptrcache_t *c = apr_pcalloc(pool, sizeof(*c));
    int i, bad = 0;

    for (i = 0; i < 300; i++) {
        llm_metrics_ptrmap_set(pm, &objs[i], i * 7);
    }
    llm_metrics_ptrmap_set(pm, &objs[5], 1);     /* set again: the last */
    for (i = 0; i < 300; i++) {
        bad += llm_metrics_ptrmap_get(pm, &objs[i], -1)
               != (i == 5 ? 1 : i * 7);
    }
    is_int(bad, 0, "ptrmap: 300 addresses, each its value");
    is_int(llm_metrics_ptrmap_get(pm, &bad, -2), -2,
           "ptrmap: an address not in it gives the default");

    is_int(llm_metrics_ptrcache_get(c, &objs[1]), -1, "ptrcache: a miss");
    llm_metrics_ptrcache_put(c, &objs[1], 42);
    is_int(llm_metrics_ptrcache_get(c, &objs[1]), 42, "ptrcache: a hit");
    llm_metrics_ptrcache_put(c, &objs[1], 0);
    is_int(llm_metrics_ptrcache_get(c, &objs[1]), 0, "ptrcache: value 0");
    for (i = 0; i < 300; i++) {
        llm_metrics_ptrcache_put(c, &objs[i], i);
    }
    for (bad = 0, i = 0; i < 300; i++) {
        int v = llm_metrics_ptrcache_get(c, &objs[i]);

        bad += v != -1 && v != i;    /* evicted, or its own value */
    }
    is_int(bad, 0, "ptrcache: a colliding address never reads another's "
           "value");
    llm_metrics_ptrcache_put(c, &objs[2], 0xFFFF);
    ok(llm_metrics_ptrcache_get(c, &objs[2]) != 0xFFFF,
       "ptrcache: a value too large is not cached");
}

/* The key_id table: no key id, first come, full, labels at scrape; four
 * processes meeting the same 40 key ids at once give each one entry. */
static void test_keys(void)
{
    apr_shm_t *shm;
    llm_metrics_keys_t *k = llm_metrics_keys_make(pool, 3);
    apr_size_t size = llm_metrics_keys_size(3);
    char long_id[100];
    int a, i, seen[64] = { 0 }, bad = 0, named = 0;

    is_int(llm_metrics_keys_index(k, "a"), LLM_METRICS_KEY_OTHER,
           "keys: before a table, every key id is _other");
    llm_metrics_keys_attach(k, apr_pcalloc(pool, size));
    is_int(llm_metrics_keys_index(k, NULL), LLM_METRICS_KEY_NONE,
           "keys: no key id");
    is_int(llm_metrics_keys_index(k, ""), LLM_METRICS_KEY_NONE,
           "keys: an empty key id is none");
    a = llm_metrics_keys_index(k, "a");
    ok(a >= LLM_METRICS_KEY_FIRST, "keys: the first key id has its value");
    is_int(llm_metrics_keys_index(k, "a"), a, "keys: the same again");
    ok(llm_metrics_keys_index(k, "b") >= LLM_METRICS_KEY_FIRST
       && llm_metrics_keys_index(k, "c") >= LLM_METRICS_KEY_FIRST
       && llm_metrics_keys_index(k, "b") != llm_metrics_keys_index(k, "c"),
       "keys: three fit");
    is_int(llm_metrics_keys_index(k, "d"), LLM_METRICS_KEY_OTHER,
           "keys: the fourth is _other");
    memset(long_id, 'x', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    is_int(llm_metrics_keys_index(k, long_id), LLM_METRICS_KEY_OTHER,
           "keys: a key id too long is _other");
    is_str(llm_metrics_keys_label(k, a), "a", "keys: its label");
    is_str(llm_metrics_keys_label(k, LLM_METRICS_KEY_NONE), "",
           "keys: none is the empty label");
    is_str(llm_metrics_keys_label(k, LLM_METRICS_KEY_OTHER), "_other",
           "keys: _other");

    k = llm_metrics_keys_make(pool, 64);
    size = llm_metrics_keys_size(64);
    if (apr_shm_create(&shm, size, NULL, pool) != APR_SUCCESS) {
        ok(0, "shared memory");
        return;
    }
    memset(apr_shm_baseaddr_get(shm), 0, size);
    llm_metrics_keys_attach(k, apr_shm_baseaddr_get(shm));
    for (a = 0; a < 4; a++) {
        if (fork() == 0) {
            for (i = 0; i < 40; i++) {
                llm_metrics_keys_index(k, apr_psprintf(pool, "key-%d",
                                                       (i * 7 + a) % 40));
            }
            _exit(0);
        }
    }
    while (wait(NULL) > 0) {
    }
    for (i = 0; i < 64; i++) {
        const char *l = llm_metrics_keys_label(k, LLM_METRICS_KEY_FIRST + i);
        int n;

        if (l) {
            named++;
            n = atoi(l + 4);
            bad += seen[n]++ != 0;
        }
    }
    is_int(named, 40, "keys: 40 key ids from 4 processes, 40 entries");
    is_int(bad, 0, "keys: none twice");
}

/* OpenMetrics: counters' families without _total, exemplars on the
 * buckets (the newest of the slots, in its bucket), none in the text
 * format; a family that is no histogram keeps none. */
static void test_exemplars(void)
{
    fixture_t x = make_ex(2, NULL, 1);
    llm_metrics_slot_t *s0 = llm_metrics_slot(x.m, 0);
    llm_metrics_slot_t *s1 = llm_metrics_slot(x.m, 1);
    int post[1] = { 1 }, get[1] = { 0 };
    llm_metrics_id_t old_id = { "old", 3, 0, 0, 0 };
    llm_metrics_id_t new_id = { "new\"id", 6, 0, 0, 0 };
    llm_metrics_id_t numbers = { NULL, 0, APR_UINT64_C(0x5e0be100ab), 4660,
                                 255 };
    char buf[LLM_METRICS_EXEMPLAR_ID_MAX + 1];
    llm_buf_t b;

    is_int(llm_metrics_id_format(&numbers, buf), 18, "id: time-pid-seq");
    is_str(buf, "5e0be100ab-1234-ff", "id: in hex");
    ok(!llm_metrics_keep_exemplars(x.m, x.requests),
       "exemplars: not for a counter");
    llm_metrics_slot_claim(x.m, s0, 100);
    llm_metrics_slot_claim(x.m, s1, 101);
    llm_metrics_observe_ex(x.m, s0, x.latency, post, 20000, &old_id,
                           APR_TIME_C(1000000000000000));
    llm_metrics_observe_ex(x.m, s1, x.latency, post, 30000, &new_id,
                           APR_TIME_C(1000000000500000));
    llm_metrics_observe_ex(x.m, s0, x.latency, post, 4000, &numbers,
                           APR_TIME_C(1000000000000001));
    llm_metrics_observe_ex(x.m, s0, x.latency, get, 4000, NULL,
                           APR_TIME_C(1000000000000001));
    llm_metrics_add_to(x.m, s0, x.requests, (const int[]){ 1, 0 }, 1);
    ok(!strstr(scrape(&x), "# {"), "exemplars: none in the text format");
    llm_buf_init(&b, pool);
    llm_metrics_write_as(x.m, &b, pool, LLM_METRICS_OPENMETRICS);
    llm_metrics_write_eof(&b);
    llm_buf_add(&b, "", 1);
    like(b.data, "# TYPE t_requests counter\n", "OpenMetrics: a counter's "
         "family without _total");
    like(b.data, "\nt_requests_total{method=\"POST\",kind=\"a\\\"b\"} 1\n",
         "OpenMetrics: its samples with it");
    like(b.data, "t_seconds_bucket{method=\"POST\",le=\"0.1\"} 3 "
         "# {request_id=\"new\\\"id\"} 0.03 1000000000.5\n",
         "exemplar: the newest of the slots, escaped, value and time");
    like(b.data, "t_seconds_bucket{method=\"POST\",le=\"0.005\"} 1 "
         "# {request_id=\"5e0be100ab-1234-ff\"} 0.004 1000000000.000001\n",
         "exemplar: each bucket its own");
    like(b.data, "t_seconds_bucket{method=\"POST\",le=\"1\"} 3\n",
         "exemplar: none on a bucket no sample fell in");
    like(b.data, "t_seconds_bucket{method=\"GET\",le=\"0.005\"} 1\n",
         "exemplar: none without a request id");
    ok(strlen(b.data) > 6 && !strcmp(b.data + strlen(b.data) - 6, "# EOF\n"),
       "OpenMetrics: ends with # EOF");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_dims();
    test_exposition();
    test_pairs();
    test_dead_writer();
    test_processes();
    test_ptrmap();
    test_keys();
    test_exemplars();
    printf("1..%d\n", tap_n);
    return tap_failed != 0;
}
