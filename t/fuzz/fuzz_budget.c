/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for mod_llm_access's budget state file
 * (llm_access_budget.c), which httpd's parent reads at start-up: an
 * input is a file's bytes, given to llm_budget_state_parse() with
 * exactly its length. A checksum is hard to guess, so the input is also
 * parsed a second time sealed: its bytes before any "end " line, with
 * the count of its lines and their checksum appended, as the writer
 * would; that reaches the record parser with any bytes.
 *
 * Properties (a violation abort()s, naming it):
 *   - a refused file gives no record at all;
 *   - an accepted file is exactly what llm_budget_state_text() writes
 *     for its records (one spelling of each file);
 *   - its records have an id, a period's end and spent tokens;
 *   - restored into a small table, every record is restored, dropped or
 *     counted as not fitting, and what the table gives back is no more
 *     than was restored, of periods not over.
 */

#define FUZZ_NAME "fuzz_budget"

#include "fuzz.h"
#include "llm_access.h"

#define NSLOTS 16
/* The fuzzer's "now": inside the periods the seeds name. */
#define NOW_S 1798000000

static apr_uint64_t fnv(const char *b, size_t len)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)b[i];
        h *= APR_UINT64_C(1099511628211);
    }
    return h;
}

static void check_restore(apr_pool_t *p, const apr_array_header_t *recs)
{
    static llm_limit_slot_t mem[NSLOTS + NSLOTS / 4];
    llm_limit_table_t t;
    apr_time_t now = apr_time_from_sec(NOW_S);
    apr_array_header_t *back;
    int n, dropped, full, i;

    memset(mem, 0, sizeof(mem));
    llm_limit_table_init(&t, mem, NSLOTS);
    n = llm_budget_restore(&t, recs, now, &dropped, &full);
    FUZZ_CHECK(n >= 0 && dropped >= 0 && full >= 0
               && n + dropped + full == recs->nelts,
               "every record is restored, dropped or does not fit");
    back = llm_budget_collect(p, &t, now);
    FUZZ_CHECK(back->nelts <= n, "no more given back than restored");
    for (i = 0; i < back->nelts; i++) {
        const llm_budget_rec_t *r = &APR_ARRAY_IDX(back, i,
                                                   llm_budget_rec_t);

        FUZZ_CHECK(r->ends > NOW_S && r->spent > 0,
                   "what is given back is of a period not over");
    }
}

static void check(apr_pool_t *p, const char *buf, size_t len)
{
    apr_array_header_t *recs;
    const char *why = llm_budget_state_parse(p, buf, len, &recs);
    const char *text;
    int i;

    if (why) {
        FUZZ_CHECK(recs && recs->nelts == 0, "a refused file has no record");
        return;
    }
    text = llm_budget_state_text(p, recs, NULL);
    FUZZ_CHECK_TEXT(strlen(text) == len && !memcmp(text, buf, len),
                    "an accepted file is what the writer writes", text);
    for (i = 0; i < recs->nelts; i++) {
        const llm_budget_rec_t *r = &APR_ARRAY_IDX(recs, i,
                                                   llm_budget_rec_t);

        FUZZ_CHECK(r->id && r->ends && r->spent > 0,
                   "a record has an id, an end and spent tokens");
    }
    check_restore(p, recs);
}

/* The input before any "end " line, sealed as the writer would. */
static void check_sealed(apr_pool_t *p, const char *buf, size_t len)
{
    const char *end = NULL;
    size_t body = len, i;
    int lines = 0;
    char *sealed;

    for (i = 0; i + 4 <= len; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && !memcmp(buf + i, "end ", 4)) {
            end = buf + i;
            break;
        }
    }
    if (end) {
        body = (size_t)(end - buf);
    }
    for (i = 0; i < body; i++) {
        lines += buf[i] == '\n';
    }
    sealed = apr_psprintf(p, "%.*send %d %016" APR_UINT64_T_HEX_FMT "\n",
                          (int)body, buf, lines > 0 ? lines - 1 : 0,
                          fnv(buf, body));
    check(p, sealed, strlen(sealed));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *buf;

    fuzz_start();
    apr_pool_create(&p, fuzz_root);
    buf = fuzz_exact_copy(data, size);
    check(p, buf, size);
    if (!memchr(buf, '\0', size)) {
        check_sealed(p, buf, size);
    }
    free(buf);
    apr_pool_destroy(p);
    return 0;
}
