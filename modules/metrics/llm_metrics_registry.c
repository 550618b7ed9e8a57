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

#define SLOT_HEAD 64   /* a cache line: the owner's pid */

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
        f->nseries *= (apr_size_t)dims[i]->values->nelts;
    }
    f->ndims = i;
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

static apr_size_t slot_bytes(const llm_metrics_t *m)
{
    return SLOT_HEAD + m->cells * sizeof(apr_uint64_t);
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

static volatile apr_uint64_t *cells(llm_metrics_slot_t *slot)
{
    return (volatile apr_uint64_t *)((char *)slot + SLOT_HEAD);
}

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

/* The series of @a idx, or (apr_size_t)-1 when a label has no value. */
static apr_size_t series_of(const llm_metrics_family_t *f, const int *idx)
{
    apr_size_t s = 0;
    int i;

    for (i = 0; i < f->ndims; i++) {
        if (idx[i] < 0 || idx[i] >= f->dims[i]->values->nelts) {
            return (apr_size_t)-1;
        }
        s = s * (apr_size_t)f->dims[i]->values->nelts + (apr_size_t)idx[i];
    }
    return s;
}

void llm_metrics_add_to(const llm_metrics_t *m, llm_metrics_slot_t *slot,
                        const llm_metrics_family_t *f, const int *idx,
                        apr_int64_t delta)
{
    apr_size_t s = series_of(f, idx);

    (void)m;
    if (!slot || s == (apr_size_t)-1 || f->type == LLM_METRIC_HISTOGRAM
        || delta == 0) {
        return;
    }
    apr_atomic_add64(&cells(slot)[f->offset + s], (apr_uint64_t)delta);
}

void llm_metrics_observe(const llm_metrics_t *m, llm_metrics_slot_t *slot,
                         const llm_metrics_family_t *f, const int *idx,
                         apr_uint64_t value)
{
    apr_size_t s = series_of(f, idx);
    volatile apr_uint64_t *c;
    int b = 0;

    (void)m;
    if (!slot || s == (apr_size_t)-1 || f->type != LLM_METRIC_HISTOGRAM) {
        return;
    }
    while (b < f->nbounds && value > f->bounds[b]) {
        b++;
    }
    c = &cells(slot)[f->offset + s * f->cells_per_series];
    apr_atomic_add64(&c[b], 1);
    apr_atomic_add64(&c[f->nbounds + 1], value);
}

apr_int64_t llm_metrics_value(const llm_metrics_t *m,
                              const llm_metrics_family_t *f, const int *idx)
{
    apr_size_t s = series_of(f, idx);
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
