/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Token budgets across a full stop of httpd: the state file.
 *
 * A budget is a counter in a slot of the limits' table (shared memory,
 * llm_access_limit.c), one bucket per holder, period and budget: its
 * name holds all three, and the slot only the name's 64-bit hash. What
 * a restart of httpd must not forget is, per bucket, that hash, when
 * its period ends and what it spent; the request that checks a budget
 * marks its slot with the period's end (llm_budget_mark: a load, and a
 * store once per period), which also tells budget slots from the
 * others. httpd's parent writes the marked slots to the state file now
 * and then and when it stops, and reads them back before the children
 * exist (mod_llm_access_budget.c).
 *
 * The file is text, one bucket a line, exact: every number in its one
 * spelling (no sign, no leading zero), a last line with the count of
 * records and an FNV-1a checksum of every byte before it. A file that
 * is not exactly what llm_budget_state_text() writes is refused whole:
 * half a budget state is worse than none, since it cannot say which
 * half is missing. It is written beside and renamed over the old one,
 * so a crash leaves the old file or the new, never a torn one.
 *
 *     mod_llm budget state 1
 *     5d0e6a2b9c1f3e47 1798761600 123456
 *     end 1 0b6c2f8e4a1d9735
 */

#include <stdarg.h>
#include <string.h>

#include "apr_file_info.h"
#include "apr_strings.h"

#include "llm_access.h"
#include "llm_buf.h"

#define FNV_START APR_UINT64_C(14695981039346656037)
#define FNV_PRIME APR_UINT64_C(1099511628211)
/* A month is at most 31 days: a period that ends later than that is
 * not one of now (a clock that went back, or a forged file). */
#define LONGEST_PERIOD (31 * 86400)
/* Tokens a bucket may have spent: far beyond any budget (10^12), and
 * far from overflowing a signed 64-bit counter. */
#define SPENT_MAX APR_INT64_C(1000000000000000000)

void llm_budget_mark(llm_limit_table_t *t, const llm_limit_slot_t *slot,
                     apr_time_t ends)
{
    apr_uint32_t i = (apr_uint32_t)(slot - t->slots);
    apr_uint32_t end_s = (apr_uint32_t)apr_time_sec(ends);

    if (__atomic_load_n(&t->ends[i], __ATOMIC_RELAXED) != end_s) {
        __atomic_store_n(&t->ends[i], end_s, __ATOMIC_RELAXED);
    }
}

apr_array_header_t *llm_budget_collect(apr_pool_t *p,
                                       const llm_limit_table_t *t,
                                       apr_time_t now)
{
    apr_array_header_t *out = apr_array_make(p, 16,
                                             sizeof(llm_budget_rec_t));
    apr_uint32_t now_s = (apr_uint32_t)apr_time_sec(now), i;

    for (i = 0; i < t->nslots; i++) {
        apr_uint32_t ends = __atomic_load_n(&t->ends[i], __ATOMIC_RELAXED);
        apr_uint64_t id = __atomic_load_n(&t->slots[i].id, __ATOMIC_ACQUIRE);
        apr_int64_t spent = (apr_int64_t)__atomic_load_n(&t->slots[i].tat,
                                                         __ATOMIC_ACQUIRE);
        llm_budget_rec_t *r;

        if (ends <= now_s || !id || spent <= 0) {
            continue;           /* no budget, its period over, or unspent */
        }
        r = apr_array_push(out);
        r->id = id;
        r->ends = ends;
        r->spent = spent > SPENT_MAX ? SPENT_MAX : spent;
    }
    return out;
}

static apr_uint64_t fnv(apr_uint64_t h, const char *b, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)b[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* One line into @a b (a record is under 60 bytes). */
static void add_line(llm_buf_t *b, const char *fmt, ...)
{
    char line[96];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = apr_vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    llm_buf_add(b, line, (apr_size_t)n);
}

const char *llm_budget_state_text(apr_pool_t *p,
                                  const apr_array_header_t *recs,
                                  apr_uint64_t *sum)
{
    llm_buf_t b;
    apr_uint64_t h;
    int i;

    llm_buf_init(&b, p);
    llm_buf_reserve(&b, 64 + 60 * (apr_size_t)recs->nelts);
    llm_buf_add(&b, LLM_BUDGET_STATE_MAGIC "\n",
                sizeof(LLM_BUDGET_STATE_MAGIC));
    for (i = 0; i < recs->nelts; i++) {
        const llm_budget_rec_t *r = &APR_ARRAY_IDX(recs, i,
                                                   llm_budget_rec_t);

        add_line(&b, "%016" APR_UINT64_T_HEX_FMT " %u %" APR_INT64_T_FMT
                 "\n", r->id, (unsigned)r->ends, r->spent);
    }
    h = fnv(FNV_START, b.data, b.len);
    add_line(&b, "end %d %016" APR_UINT64_T_HEX_FMT "\n", recs->nelts, h);
    if (sum) {
        *sum = h;
    }
    return b.data;
}

/* ------------------------------------------------------------------ */
/* Reading: exact, or not at all                                       */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *at, *end;
} cursor_t;

/* A decimal number in its one spelling (no sign, no leading zero, not
 * 0), at most @a max, then @a sep. */
static int take_dec(cursor_t *c, apr_int64_t max, char sep,
                    apr_int64_t *out)
{
    apr_int64_t n = 0;
    const char *start = c->at;

    if (c->at < c->end && *c->at == '0') {
        return 0;
    }
    while (c->at < c->end && *c->at >= '0' && *c->at <= '9') {
        if (n > (max - (*c->at - '0')) / 10) {
            return 0;
        }
        n = n * 10 + (*c->at++ - '0');
    }
    if (c->at == start || c->at >= c->end || *c->at++ != sep) {
        return 0;
    }
    *out = n;
    return 1;
}

/* 16 lower-case hex digits, not all zero, then @a sep. */
static int take_hex(cursor_t *c, char sep, apr_uint64_t *out)
{
    apr_uint64_t n = 0;
    int i;

    if (c->end - c->at < 17) {
        return 0;
    }
    for (i = 0; i < 16; i++) {
        char d = *c->at++;

        if (d >= '0' && d <= '9') {
            n = n << 4 | (apr_uint64_t)(d - '0');
        }
        else if (d >= 'a' && d <= 'f') {
            n = n << 4 | (apr_uint64_t)(d - 'a' + 10);
        }
        else {
            return 0;
        }
    }
    if (*c->at++ != sep) {
        return 0;
    }
    *out = n;
    return 1;
}

static int take_word(cursor_t *c, const char *word)
{
    apr_size_t n = strlen(word);

    if ((apr_size_t)(c->end - c->at) < n || memcmp(c->at, word, n)) {
        return 0;
    }
    c->at += n;
    return 1;
}

static int take_record(cursor_t *c, llm_budget_rec_t *r)
{
    apr_int64_t ends, spent;

    if (!take_hex(c, ' ', &r->id) || !r->id
        || !take_dec(c, APR_UINT32_MAX, ' ', &ends)
        || !take_dec(c, SPENT_MAX, '\n', &spent)) {
        return 0;
    }
    r->ends = (apr_uint32_t)ends;
    r->spent = spent;
    return 1;
}

/* "end <count> <checksum>\n", the last bytes of the file. */
static const char *take_trailer(cursor_t *c, const char *text, int count)
{
    apr_int64_t n;
    apr_uint64_t sum;
    apr_uint64_t h = fnv(FNV_START, text, (apr_size_t)(c->at - text));

    if (count == 0 ? !take_word(c, "end 0 ")
                   : !take_word(c, "end ")
                     || !take_dec(c, APR_INT32_MAX, ' ', &n)) {
        return "a broken last line";
    }
    if (count && n != count) {
        return "a wrong count of records (a truncated file?)";
    }
    if (!take_hex(c, '\n', &sum) || c->at != c->end) {
        return "a broken last line";
    }
    return sum == h ? NULL : "a wrong checksum";
}

static const char *parse_all(apr_pool_t *p, const char *text,
                             apr_size_t len, apr_array_header_t *out)
{
    cursor_t c;

    c.at = text;
    c.end = text + len;
    if (!take_word(&c, LLM_BUDGET_STATE_MAGIC "\n")) {
        return "not a budget state file of this layout (\""
               LLM_BUDGET_STATE_MAGIC "\")";
    }
    while (c.end - c.at >= 4 && memcmp(c.at, "end ", 4)) {
        llm_budget_rec_t r;

        if (!take_record(&c, &r)) {
            return apr_psprintf(p, "record %d is broken", out->nelts + 1);
        }
        *(llm_budget_rec_t *)apr_array_push(out) = r;
    }
    return take_trailer(&c, text, out->nelts);
}

const char *llm_budget_state_parse(apr_pool_t *p, const char *text,
                                   apr_size_t len, apr_array_header_t **out)
{
    const char *why;

    *out = apr_array_make(p, 16, sizeof(llm_budget_rec_t));
    if ((why = parse_all(p, text, len, *out)) != NULL) {
        apr_array_clear(*out);  /* refused whole: no record of it */
    }
    return why;
}

const char *llm_budget_state_load(apr_pool_t *p, const char *path,
                                  apr_array_header_t **out)
{
    apr_finfo_t fi;
    char *buf;
    apr_size_t len;
    const char *why;

    *out = apr_array_make(p, 1, sizeof(llm_budget_rec_t));
    if (apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_ENOENT) {
        return NULL;
    }
    if ((why = llm_file_slurp(p, path, LLM_ACCESS_FILE_MAX, &buf, &len))) {
        return why;
    }
    why = llm_budget_state_parse(p, buf, len, out);
    return why ? apr_pstrcat(p, path, ": ", why, NULL) : NULL;
}

int llm_budget_restore(llm_limit_table_t *t, const apr_array_header_t *recs,
                       apr_time_t now, int *dropped, int *full)
{
    apr_uint32_t now_s = (apr_uint32_t)apr_time_sec(now);
    int i, restored = 0;

    *dropped = *full = 0;
    for (i = 0; i < recs->nelts; i++) {
        const llm_budget_rec_t *r = &APR_ARRAY_IDX(recs, i,
                                                   llm_budget_rec_t);
        llm_limit_slot_t *s;

        if (r->ends <= now_s || r->ends - now_s > LONGEST_PERIOD) {
            (*dropped)++;
            continue;
        }
        if (!(s = llm_limit_slot_id(t, r->id))) {
            (*full)++;
            continue;
        }
        /* The larger count: a bucket named twice (which the writer never
         * does) is not charged twice. */
        if ((apr_int64_t)__atomic_load_n(&s->tat, __ATOMIC_RELAXED)
            < r->spent) {
            __atomic_store_n(&s->tat, (apr_uint64_t)r->spent,
                             __ATOMIC_RELEASE);
        }
        llm_budget_mark(t, s, apr_time_from_sec(r->ends));
        restored++;
    }
    return restored;
}
