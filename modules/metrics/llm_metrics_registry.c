/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The registry: label dimensions, families, their cells in the slots,
 * and recording. A family's series are numbered in mixed radix over its
 * dimensions (the first dimension varies slowest), so a sample's cell is
 * found by arithmetic, with no lookup and no allocation on the request
 * path. A slot is a small header (the process that owns it) followed by
 * every family's cells; a histogram series has one cell per bucket (the
 * bucket the value falls in, not cumulative: the writer touches one
 * bucket), one for +Inf and one for the sum; its count is the sum of
 * its buckets, so an observation is two atomic adds.
 */

#include <string.h>
#include "apr_strings.h"
#include "apr_atomic.h"

#include "llm_metrics.h"

#define SLOT_HEAD LLM_METRICS_SLOT_HEAD  /* the owner's pid */

struct llm_metrics_slot {
    volatile apr_uint32_t pid;
};

llm_metrics_t *llm_metrics_make(apr_pool_t *p)
{
    llm_metrics_t *m = apr_pcalloc(p, sizeof(*m));

    m->pool = p;
    m->families = apr_array_make(p, 32, sizeof(llm_metrics_family_t *));
    return m;
}

static void dim_push(apr_pool_t *p, llm_metrics_dim_t *d, const char *v)
{
    if (apr_hash_get(d->index, v, APR_HASH_KEY_STRING)) {
        return;
    }
    APR_ARRAY_PUSH(d->values, const char *) = apr_pstrdup(p, v);
    apr_hash_set(d->index, APR_ARRAY_IDX(d->values, d->values->nelts - 1,
                                         const char *),
                 APR_HASH_KEY_STRING, (void *)(apr_uintptr_t)d->values->nelts);
}

llm_metrics_dim_t *llm_metrics_dim(apr_pool_t *p, const char *name,
                                   const char *const *values, int n,
                                   int with_other)
{
    llm_metrics_dim_t *d = apr_pcalloc(p, sizeof(*d));
    int i;

    d->name = apr_pstrdup(p, name);
    d->values = apr_array_make(p, n + 1, sizeof(const char *));
    d->index = apr_hash_make(p);
    for (i = 0; i < n; i++) {
        dim_push(p, d, values[i]);
    }
    d->other = -1;
    if (with_other) {
        dim_push(p, d, LLM_METRICS_OTHER);
        d->other = (int)(apr_uintptr_t)apr_hash_get(
            d->index, LLM_METRICS_OTHER, APR_HASH_KEY_STRING) - 1;
    }
    return d;
}

llm_metrics_dim_t *llm_metrics_dim_array(apr_pool_t *p, const char *name,
                                         const apr_array_header_t *values,
                                         int with_other)
{
    return llm_metrics_dim(p, name, (const char *const *)values->elts,
                           values->nelts, with_other);
}

llm_metrics_dim_t *llm_metrics_dim_pair(apr_pool_t *p, const char *name,
                                        const char *name2,
                                        const apr_array_header_t *values,
                                        int with_other)
{
    llm_metrics_dim_t *d = llm_metrics_dim(p, name,
                                           (const char *const *)values->elts,
                                           values->nelts, 0);

    d->name2 = apr_pstrdup(p, name2);
    if (with_other) {
        dim_push(p, d, LLM_METRICS_OTHER LLM_METRICS_PAIR_SEP
                       LLM_METRICS_OTHER);
        d->other = d->values->nelts - 1;
    }
    return d;
}

llm_metrics_dim_t *llm_metrics_dim_dynamic(apr_pool_t *p, const char *name,
                                           int n,
                                           const char *(*label)(void *, int),
                                           void *baton)
{
    llm_metrics_dim_t *d = llm_metrics_dim(p, name, NULL, 0, 0);
    int i;

    for (i = 0; i < n; i++) {
        dim_push(p, d, apr_psprintf(p, "#%d", i));   /* placeholders */
    }
    d->label = label;
    d->baton = baton;
    return d;
}

int llm_metrics_dim_index(const llm_metrics_dim_t *d, const char *value)
{
    apr_uintptr_t i = value ? (apr_uintptr_t)apr_hash_get(
                                  d->index, value, APR_HASH_KEY_STRING)
                            : 0;

    return i ? (int)i - 1 : d->other;
}

static int valid_name(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9')) {
        return 0;
    }
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '_' || *s == ':')) {
            return 0;
        }
    }
    return 1;
}

static llm_metrics_family_t *find(const llm_metrics_t *m, const char *name)
{
    int i;

    for (i = 0; i < m->families->nelts; i++) {
        llm_metrics_family_t *f = APR_ARRAY_IDX(m->families, i,
                                                llm_metrics_family_t *);
        if (!strcmp(f->name, name)) {
            return f;
        }
    }
    return NULL;
}

llm_metrics_family_t *llm_metrics_add(llm_metrics_t *m, const char *name,
                                      const char *help,
                                      llm_metric_type_e type, int scale,
                                      const apr_uint64_t *bounds,
                                      int nbounds,
                                      const llm_metrics_dim_t *const *dims)
{
    llm_metrics_family_t *f;
    int i;

    if (m->base || !valid_name(name) || find(m, name)
        || (type == LLM_METRIC_HISTOGRAM && (!bounds || nbounds < 1))) {
        return NULL;
    }
    f = apr_pcalloc(m->pool, sizeof(*f));
    f->name = name;
    f->help = help;
    f->type = type;
    f->scale = scale;
    f->nseries = 1;
    for (i = 0; dims && dims[i]; i++) {
        if (i == LLM_METRICS_MAX_DIMS || !valid_name(dims[i]->name)
            || (dims[i]->name2 && !valid_name(dims[i]->name2))
            || dims[i]->values->nelts == 0) {
            return NULL;
        }
        f->dims[i] = dims[i];
        f->nvalues[i] = dims[i]->values->nelts;
        f->nseries *= (apr_size_t)dims[i]->values->nelts;
    }
    f->ndims = i;
    /* mixed radix, the first dimension slowest */
    for (i = f->ndims - 1; i >= 0; i--) {
        f->stride[i] = i == f->ndims - 1
                       ? 1 : f->stride[i + 1] * (apr_size_t)f->nvalues[i + 1];
    }
    for (i = 1; type == LLM_METRIC_HISTOGRAM && i < nbounds; i++) {
        if (bounds[i] <= bounds[i - 1]) {
            return NULL;
        }
    }
    if (type == LLM_METRIC_HISTOGRAM) {
        f->bounds = bounds;
        f->nbounds = nbounds;
    }
    f->cells_per_series = type == LLM_METRIC_HISTOGRAM
                          ? (apr_size_t)nbounds + 2 : 1;
    f->offset = m->cells;
    m->cells += f->nseries * f->cells_per_series;
    APR_ARRAY_PUSH(m->families, llm_metrics_family_t *) = f;
    return f;
}

/* One exemplar: see llm_metrics.h. 64 bytes. */
typedef struct {
    volatile apr_uint32_t seq;   /* odd: being written; 0: never */
    apr_uint32_t len;            /* of the text id; ID_NUMBERS: numbers */
    apr_uint64_t value;
    apr_uint64_t time;           /* apr_time_t */
    char id[LLM_METRICS_EXEMPLAR_ID_MAX];
} exemplar_t;

#define ID_NUMBERS 0xFFFFFFFFu

/* The compiler's atomics where it has them: inline, and the barriers
 * the seqlock needs only (APR's are calls with full barriers). */
#if defined(__GNUC__) || defined(__clang__)
static int seq_take(volatile apr_uint32_t *p, apr_uint32_t seq)
{
    if (!__atomic_compare_exchange_n(p, &seq, seq + 1, 0,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        return 0;
    }
    /* The odd number before the data: the acquire above orders only the
     * exchange's read, and on weakly ordered CPUs (AArch64, POWER) the
     * record's stores could be seen first, a torn read taken for whole
     * (Linux's write_seqcount_begin has the same barrier). */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    return 1;
}
static void seq_give(volatile apr_uint32_t *p, apr_uint32_t seq)
{
    __atomic_store_n(p, seq, __ATOMIC_RELEASE);
}
static apr_uint32_t seq_read(volatile apr_uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static apr_uint32_t seq_again(volatile apr_uint32_t *p)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
#else
static int seq_take(volatile apr_uint32_t *p, apr_uint32_t seq)
{
    return apr_atomic_cas32(p, seq + 1, seq) == seq;
}
static void seq_give(volatile apr_uint32_t *p, apr_uint32_t seq)
{
    apr_atomic_set32(p, seq);
}
static apr_uint32_t seq_read(volatile apr_uint32_t *p)
{
    return apr_atomic_read32(p);
}
static apr_uint32_t seq_again(volatile apr_uint32_t *p)
{
    /* a compare-and-swap that changes nothing: a full barrier */
    return apr_atomic_cas32(p, 0, 0);
}
#endif

/* Append @a v in hex before @a c (writing backwards). */
static char *hex_before(char *c, apr_uint64_t v)
{
    do {
        *--c = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    return c;
}

apr_size_t llm_metrics_id_format(const llm_metrics_id_t *id, char *buf)
{
    char tmp[64], *end = tmp + sizeof(tmp), *c = end;
    apr_size_t n;

    if (id->text) {
        n = id->len <= LLM_METRICS_EXEMPLAR_ID_MAX ? id->len : 0;
        memcpy(buf, id->text, n);
        buf[n] = '\0';
        return n;
    }
    c = hex_before(c, id->seq);
    *--c = '-';
    c = hex_before(c, id->pid);
    *--c = '-';
    c = hex_before(c, id->time);
    n = (apr_size_t)(end - c);       /* at most 34 */
    memcpy(buf, c, n);
    buf[n] = '\0';
    return n;
}

static apr_size_t slot_bytes(const llm_metrics_t *m)
{
    return SLOT_HEAD + m->cells * sizeof(apr_uint64_t)
           + m->exemplars * sizeof(exemplar_t);
}

int llm_metrics_keep_exemplars(llm_metrics_t *m, llm_metrics_family_t *f)
{
    if (m->base || !f || f->type != LLM_METRIC_HISTOGRAM || f->exemplars) {
        return 0;
    }
    f->exemplars = 1;
    f->ex_offset = m->exemplars;
    m->exemplars += f->nseries * (apr_size_t)(f->nbounds + 1);
    return 1;
}

static exemplar_t *exemplar_at(const llm_metrics_t *m,
                               llm_metrics_slot_t *slot, apr_size_t rec)
{
    return (exemplar_t *)((char *)slot + SLOT_HEAD
                          + m->cells * sizeof(apr_uint64_t)) + rec;
}

void llm_metrics_exemplar_put(const llm_metrics_t *m, llm_metrics_slot_t *slot,
                              apr_size_t rec, apr_uint64_t value,
                              apr_time_t now, const llm_metrics_id_t *id)
{
    exemplar_t *e;
    apr_uint32_t seq;

    if (rec >= m->exemplars
        || (id->text && id->len > LLM_METRICS_EXEMPLAR_ID_MAX)) {
        return;
    }
    e = exemplar_at(m, slot, rec);
    seq = seq_read(&e->seq);
    /* another thread of this process writes it: this sample goes
     * without exemplar */
    if ((seq & 1) || !seq_take(&e->seq, seq)) {
        return;
    }
    e->value = value;
    e->time = (apr_uint64_t)now;
    if (id->text) {
        e->len = (apr_uint32_t)id->len;
        memcpy(e->id, id->text, id->len);
    }
    else {
        e->len = ID_NUMBERS;
        memcpy(e->id, &id->time, sizeof(id->time));
        memcpy(e->id + 8, &id->pid, sizeof(id->pid));
        memcpy(e->id + 12, &id->seq, sizeof(id->seq));
    }
    seq_give(&e->seq, seq + 2);
}

/* Record @a e of one slot, copied whole, into @a out; 0 when it was
 * never written or kept changing. */
static int exemplar_copy(exemplar_t *e, llm_metrics_exemplar_t *out)
{
    int tries;

    for (tries = 0; tries < 4; tries++) {
        apr_uint32_t s1 = seq_read(&e->seq), len;
        llm_metrics_id_t id = { NULL, 0, 0, 0, 0 };
        char raw[LLM_METRICS_EXEMPLAR_ID_MAX];

        if (!s1) {
            return 0;            /* never written */
        }
        if (s1 & 1) {
            continue;            /* being written: again */
        }
        len = e->len;
        out->value = e->value;
        out->time = (apr_time_t)e->time;
        memcpy(raw, e->id, sizeof(raw));
        if (seq_again(&e->seq) != s1) {
            continue;
        }
        if (len == ID_NUMBERS) {
            memcpy(&id.time, raw, sizeof(id.time));
            memcpy(&id.pid, raw + 8, sizeof(id.pid));
            memcpy(&id.seq, raw + 12, sizeof(id.seq));
        }
        else if (len <= LLM_METRICS_EXEMPLAR_ID_MAX) {
            id.text = raw;
            id.len = len;
        }
        else {
            return 0;
        }
        return llm_metrics_id_format(&id, out->id) > 0;
    }
    return 0;
}

int llm_metrics_exemplar_newest(const llm_metrics_t *m, apr_size_t rec,
                                llm_metrics_exemplar_t *out)
{
    int i, found = 0;

    for (i = 0; i < m->nslots && rec < m->exemplars; i++) {
        llm_metrics_slot_t *slot = llm_metrics_slot(m, i);
        llm_metrics_exemplar_t copy;

        if (apr_atomic_read32(&slot->pid)
            && exemplar_copy(exemplar_at(m, slot, rec), &copy)
            && (!found || copy.time > out->time)) {
            *out = copy;
            found = 1;
        }
    }
    return found;
}

apr_size_t llm_metrics_size(const llm_metrics_t *m, int nslots)
{
    return slot_bytes(m) * (apr_size_t)(nslots > 0 ? nslots : 0);
}

void llm_metrics_attach(llm_metrics_t *m, void *base, int nslots)
{
    m->base = base;
    m->nslots = nslots;
}

llm_metrics_slot_t *llm_metrics_slot(const llm_metrics_t *m, int i)
{
    if (!m->base || i < 0 || i >= m->nslots) {
        return NULL;
    }
    return (llm_metrics_slot_t *)(m->base + slot_bytes(m) * (apr_size_t)i);
}

#define cells llm_metrics_cells

void llm_metrics_slot_claim(const llm_metrics_t *m, llm_metrics_slot_t *slot,
                            apr_uint32_t pid)
{
    int i;

    if (apr_atomic_read32(&slot->pid) == pid) {
        return;
    }
    for (i = 0; i < m->families->nelts; i++) {
        const llm_metrics_family_t *f = APR_ARRAY_IDX(
            m->families, i, const llm_metrics_family_t *);
        apr_size_t c;

        for (c = 0; f->type == LLM_METRIC_GAUGE && c < f->nseries; c++) {
            apr_atomic_set64(&cells(slot)[f->offset + c], 0);
        }
    }
    apr_atomic_set32(&slot->pid, pid);
}

apr_int64_t llm_metrics_value(const llm_metrics_t *m,
                              const llm_metrics_family_t *f, const int *idx)
{
    apr_size_t s = llm_metrics_series(f, idx);
    apr_uint64_t sum = 0;
    int i;

    if (s == (apr_size_t)-1 || f->type == LLM_METRIC_HISTOGRAM) {
        return 0;
    }
    for (i = 0; i < m->nslots; i++) {
        llm_metrics_slot_t *slot = llm_metrics_slot(m, i);

        sum += apr_atomic_read64(&cells(slot)[f->offset + s]);
    }
    return (apr_int64_t)sum;
}

void llm_metrics_sum_family(const llm_metrics_t *m,
                            const llm_metrics_family_t *f, apr_uint64_t *out)
{
    apr_size_t n = f->nseries * f->cells_per_series, c;
    int i;

    memset(out, 0, n * sizeof(*out));
    for (i = 0; i < m->nslots; i++) {
        llm_metrics_slot_t *slot = llm_metrics_slot(m, i);
        volatile apr_uint64_t *src;

        if (!apr_atomic_read32(&slot->pid)) {
            continue;
        }
        /* plain 64-bit loads: each is whole on the platforms httpd
         * runs on, and a scrape is a snapshot anyway */
        src = &cells(slot)[f->offset];
        for (c = 0; c < n; c++) {
            out[c] += src[c];
        }
    }
}

llm_metrics_ptrmap_t *llm_metrics_ptrmap_make(apr_pool_t *p, int n)
{
    llm_metrics_ptrmap_t *pm = apr_pcalloc(p, sizeof(*pm));
    apr_size_t cap = 8;
    unsigned int bits = 3;

    while (cap < (apr_size_t)(n > 0 ? n : 0) * 2) {
        cap <<= 1;
        bits++;
    }
    pm->shift = 64 - bits;
    pm->mask = cap - 1;
    pm->keys = apr_pcalloc(p, cap * sizeof(*pm->keys));
    pm->vals = apr_pcalloc(p, cap * sizeof(*pm->vals));
    return pm;
}

void llm_metrics_ptrmap_set(llm_metrics_ptrmap_t *pm, const void *key,
                            int val)
{
    apr_size_t h = llm_metrics_ptr_hash(key, pm->shift), n;

    /* at most half full (llm_metrics_ptrmap_make): a free cell exists */
    for (n = 0; n <= pm->mask; n++, h = (h + 1) & pm->mask) {
        if (!pm->keys[h] || pm->keys[h] == key) {
            pm->keys[h] = key;
            pm->vals[h] = val;
            return;
        }
    }
}

void llm_metrics_ptrcache_put(llm_metrics_ptrcache_t *c, const void *key,
                              int val)
{
    apr_uint64_t k = (apr_uint64_t)(apr_uintptr_t)key;
    apr_uint64_t e;

    if (!key || (k >> 48) || val < 0 || val >= 0xFFFF) {
        return;
    }
    e = k | ((apr_uint64_t)(val + 1) << 48);
#if defined(__GNUC__) || defined(__clang__)
    __atomic_store_n(&c->e[llm_metrics_ptr_hash(key, 58)], e,
                     __ATOMIC_RELAXED);
#else
    c->e[llm_metrics_ptr_hash(key, 58)] = e;
#endif
}
