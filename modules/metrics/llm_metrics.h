/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The metrics engine of mod_llm_metrics (APR only, no httpd).
 *
 * A registry holds metric families (counter, gauge, histogram), each with
 * up to LLM_METRICS_MAX_DIMS label dimensions. A dimension is a fixed
 * table of values, known at start-up (route patterns, the models and
 * providers of the models files, status codes, error kinds): a value not
 * in the table is counted under "other", so no client can make a series
 * appear. Every (family, label values) pair has fixed cells, laid out the
 * same way in every slot.
 *
 * The cells live in memory the caller gives (shared memory in httpd),
 * as one slot per writer (a child process). A writer only adds to its
 * own slot, with atomic adds and no lock; a scrape sums the slots. Values
 * are integers in the family's unit (microseconds, bytes, tokens) and
 * are written as decimals with llm_metrics_family_t.scale digits after
 * the point, so that no floating point is involved in counting.
 */

#ifndef LLM_METRICS_H
#define LLM_METRICS_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_hash.h"
#include "llm_buf.h"

#define LLM_METRICS_MAX_DIMS 4
/** The value of a dimension that stands for every value not in its table. */
#define LLM_METRICS_OTHER "other"
/** Between the two values of a pair label's value. */
#define LLM_METRICS_PAIR_SEP "\001"

typedef enum {
    LLM_METRIC_COUNTER = 0,
    LLM_METRIC_GAUGE,
    LLM_METRIC_HISTOGRAM
} llm_metric_type_e;

/** A label: its name and the fixed table of its values. A pair label
 *  (name2 set) is two labels whose values go together, such as a
 *  provider and its model: each value is "a" LLM_METRICS_PAIR_SEP "b",
 *  so that only the pairs that exist take cells. */
typedef struct llm_metrics_dim {
    const char *name;
    const char *name2;           /**< NULL, or the second label's name */
    apr_array_header_t *values;  /**< const char *, in order */
    apr_hash_t *index;           /**< value -> index + 1 */
    int other;                   /**< index of "other", -1 when none */
    /** NULL, or the values are known at scrape time only (key ids): the
     *  label of value @a i, NULL when it has none yet (the series is not
     *  shown). values then holds placeholders, for the count. */
    const char *(*label)(void *baton, int i);
    void *baton;
} llm_metrics_dim_t;

typedef struct llm_metrics_family {
    const char *name;
    const char *help;
    llm_metric_type_e type;
    int ndims;
    const llm_metrics_dim_t *dims[LLM_METRICS_MAX_DIMS];
    int scale;                   /**< decimal digits of the unit: 6 for
                                      microseconds shown as seconds */
    const apr_uint64_t *bounds;  /**< histogram upper bounds, in units */
    int nbounds;
    /* Layout, set by llm_metrics_add. */
    int nvalues[LLM_METRICS_MAX_DIMS];   /**< values of each dimension */
    apr_size_t stride[LLM_METRICS_MAX_DIMS]; /**< series per step of a
                                              dimension's index */
    apr_size_t nseries;
    apr_size_t cells_per_series; /**< 1, or nbounds + 1 buckets + sum */
    apr_size_t offset;           /**< first cell in a slot */
    int exemplars;               /**< a histogram keeping exemplars */
    apr_size_t ex_offset;        /**< its first exemplar in a slot */
} llm_metrics_family_t;

typedef struct llm_metrics {
    apr_pool_t *pool;
    apr_array_header_t *families; /**< llm_metrics_family_t *, in order */
    apr_size_t cells;             /**< per slot */
    apr_size_t exemplars;         /**< exemplar records per slot */
    int nslots;
    char *base;                   /**< llm_metrics_attach */
} llm_metrics_t;

/** One writer's cells. */
typedef struct llm_metrics_slot llm_metrics_slot_t;

llm_metrics_t *llm_metrics_make(apr_pool_t *p);

/** A dimension of @a n values (duplicates are dropped), with "other"
 *  added when @a with_other. */
llm_metrics_dim_t *llm_metrics_dim(apr_pool_t *p, const char *name,
                                   const char *const *values, int n,
                                   int with_other);
/** A pair label (see llm_metrics_dim_t); "other" is "other" for both. */
llm_metrics_dim_t *llm_metrics_dim_pair(apr_pool_t *p, const char *name,
                                        const char *name2,
                                        const apr_array_header_t *values,
                                        int with_other);
/** The same from an array of const char *. */
llm_metrics_dim_t *llm_metrics_dim_array(apr_pool_t *p, const char *name,
                                         const apr_array_header_t *values,
                                         int with_other);
/** The index of @a value in @a d: its own, else "other", else -1 (the
 *  sample is then not recorded). NULL is "other". */
int llm_metrics_dim_index(const llm_metrics_dim_t *d, const char *value);

/** A dimension of @a n values whose labels @a label gives at scrape
 *  time (see llm_metrics_dim_t.label). */
llm_metrics_dim_t *llm_metrics_dim_dynamic(apr_pool_t *p, const char *name,
                                           int n,
                                           const char *(*label)(void *, int),
                                           void *baton);

/*
 * Key ids (llm_metrics_keys.c): the values of a key_id label, a bounded
 * table in shared memory filled first come (see the file's comment).
 * The label's values: LLM_METRICS_KEY_NONE (""), LLM_METRICS_KEY_OTHER
 * ("_other"), then the table's key ids.
 */
#define LLM_METRICS_KEY_NONE  0
#define LLM_METRICS_KEY_OTHER 1
#define LLM_METRICS_KEY_FIRST 2
#define LLM_METRICS_KEY_OTHER_NAME "_other"
#define LLM_METRICS_KEY_ID_MAX 64   /**< longer key ids are "_other" */

typedef struct llm_metrics_keys llm_metrics_keys_t;

/** Bytes of shared memory for a table of @a max key ids. */
apr_size_t llm_metrics_keys_size(int max);
/** A table of at most @a max key ids (0: every key id is "_other"). */
llm_metrics_keys_t *llm_metrics_keys_make(apr_pool_t *p, int max);
/** Use @a base (llm_metrics_keys_size(max) bytes, zeroed once by its
 *  creator) for the table; until then every key id is "_other". */
void llm_metrics_keys_attach(llm_metrics_keys_t *k, void *base);
int llm_metrics_keys_max(const llm_metrics_keys_t *k);
/** The label value of key id @a id (NULL or "": none), claiming an entry
 *  for it when the table has room. Lock-free; for the request path. */
int llm_metrics_keys_index(llm_metrics_keys_t *k, const char *id);
/** The label callback of a key_id dimension (@a baton: the table). */
const char *llm_metrics_keys_label(void *baton, int value);

/**
 * Add a family before llm_metrics_attach. @a dims is NULL-terminated (up
 * to LLM_METRICS_MAX_DIMS). A histogram's @a bounds are ascending, in
 * units. Returns NULL when the family is malformed or its name taken.
 */
llm_metrics_family_t *llm_metrics_add(llm_metrics_t *m, const char *name,
                                      const char *help,
                                      llm_metric_type_e type, int scale,
                                      const apr_uint64_t *bounds,
                                      int nbounds,
                                      const llm_metrics_dim_t *const *dims);

/**
 * Exemplars: a histogram family marked with llm_metrics_keep_exemplars
 * (before llm_metrics_attach) keeps, in each slot, the last observation
 * of each bucket of each series with the id of the request that made it
 * (llm_metrics_observe_ex). A scrape in the OpenMetrics format shows on
 * each bucket the newest across the slots. Each record is guarded by a
 * sequence number (a seqlock): a writer takes it odd with a
 * compare-and-swap (a thread that finds it taken leaves that sample
 * without exemplar), writes, and makes it even again; a reader copies
 * the record and keeps the copy when the number was even and unchanged.
 */
#define LLM_METRICS_EXEMPLAR_ID_MAX 40   /**< longer ids are not kept */

/** Keep exemplars for histogram @a f; 0 when it is not one, or too late. */
int llm_metrics_keep_exemplars(llm_metrics_t *m, llm_metrics_family_t *f);

/**
 * A request id: its text (mod_unique_id's UNIQUE_ID), or, when text is
 * NULL, time-pid-seq, written in hex only when shown (a scrape, a log
 * note): the request path keeps three numbers.
 */
typedef struct {
    const char *text;
    apr_size_t len;              /**< of text */
    apr_uint64_t time;
    apr_uint32_t pid;
    apr_uint32_t seq;
} llm_metrics_id_t;

/** Write @a id into @a buf (LLM_METRICS_EXEMPLAR_ID_MAX + 1 bytes, NUL
 *  terminated); returns its length (0: a text id too long). */
apr_size_t llm_metrics_id_format(const llm_metrics_id_t *id, char *buf);

/** Write the exemplar of record @a rec of @a slot (llm_metrics_observe_ex
 *  finds it). */
void llm_metrics_exemplar_put(const llm_metrics_t *m, llm_metrics_slot_t *slot,
                              apr_size_t rec, apr_uint64_t value,
                              apr_time_t now, const llm_metrics_id_t *id);

/** An exemplar as a scrape reads it. */
typedef struct {
    apr_uint64_t value;
    apr_time_t time;
    char id[LLM_METRICS_EXEMPLAR_ID_MAX + 1];   /**< NUL terminated */
} llm_metrics_exemplar_t;

/** The newest exemplar of record @a rec across the slots; 0 when none. */
int llm_metrics_exemplar_newest(const llm_metrics_t *m, apr_size_t rec,
                                llm_metrics_exemplar_t *out);

/** Bytes of memory the cells of @a nslots writers need. */
apr_size_t llm_metrics_size(const llm_metrics_t *m, int nslots);

/** Use @a base (llm_metrics_size bytes, zeroed once by its creator) for
 *  the slots. */
void llm_metrics_attach(llm_metrics_t *m, void *base, int nslots);

/** Slot @a i (0 <= i < nslots), NULL when out of range. */
llm_metrics_slot_t *llm_metrics_slot(const llm_metrics_t *m, int i);

/**
 * Claim @a slot for process @a pid: when the slot was another process's
 * (a child that died), its gauges are reset, since what that process had
 * under way is over; its counters stay and go on from where they were.
 */
void llm_metrics_slot_claim(const llm_metrics_t *m, llm_metrics_slot_t *slot,
                            apr_uint32_t pid);

/* The first cell of a slot: after a cache line holding its owner. */
#define LLM_METRICS_SLOT_HEAD 64

/* Relaxed atomic adds, inline where the compiler has them (one locked
 * instruction on x86-64), else APR's. The request path makes about
 * twenty of them. */
#if defined(__GNUC__) || defined(__clang__)
#define LLM_METRICS_ADD64(p, v) \
    ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#else
#include "apr_atomic.h"
#define LLM_METRICS_ADD64(p, v) ((void)apr_atomic_add64((p), (v)))
#endif

/** The cells of @a slot. */
static APR_INLINE volatile apr_uint64_t *llm_metrics_cells(
    llm_metrics_slot_t *slot)
{
    return (volatile apr_uint64_t *)((char *)slot + LLM_METRICS_SLOT_HEAD);
}

/** The series of @a idx in @a f (one index per dimension, from the
 *  strides computed by llm_metrics_add), or (apr_size_t)-1 when an index
 *  is out of its dimension (a label without a value). */
static APR_INLINE apr_size_t llm_metrics_series(
    const llm_metrics_family_t *f, const int *idx)
{
    apr_size_t s = 0;
    int i;

    for (i = 0; i < f->ndims; i++) {
        if ((unsigned int)idx[i] >= (unsigned int)f->nvalues[i]) {
            return (apr_size_t)-1;
        }
        s += (apr_size_t)idx[i] * f->stride[i];
    }
    return s;
}

/** Add @a delta to a counter or gauge (a gauge may go down). @a idx holds
 *  one index per dimension; a negative index drops the sample. Inline:
 *  the request path makes a dozen of these. */
static APR_INLINE void llm_metrics_add_to(const llm_metrics_t *m,
                                          llm_metrics_slot_t *slot,
                                          const llm_metrics_family_t *f,
                                          const int *idx, apr_int64_t delta)
{
    apr_size_t s = llm_metrics_series(f, idx);

    (void)m;
    if (!slot || s == (apr_size_t)-1 || f->type == LLM_METRIC_HISTOGRAM
        || delta == 0) {
        return;
    }
    LLM_METRICS_ADD64(&llm_metrics_cells(slot)[f->offset + s],
                      (apr_uint64_t)delta);
}

/** The bucket @a value (in units) falls in: 0 .. nbounds (+Inf). */
static APR_INLINE int llm_metrics_bucket(const llm_metrics_family_t *f,
                                         apr_uint64_t value)
{
    int b = 0;

    while (b < f->nbounds && value > f->bounds[b]) {
        b++;
    }
    return b;
}

/** Observe @a value (in units) in a histogram: two atomic adds (its
 *  bucket and the sum; the count is the sum of the buckets). */
static APR_INLINE void llm_metrics_observe(const llm_metrics_t *m,
                                           llm_metrics_slot_t *slot,
                                           const llm_metrics_family_t *f,
                                           const int *idx,
                                           apr_uint64_t value)
{
    apr_size_t s = llm_metrics_series(f, idx);
    volatile apr_uint64_t *c;

    (void)m;
    if (!slot || s == (apr_size_t)-1 || f->type != LLM_METRIC_HISTOGRAM) {
        return;
    }
    c = &llm_metrics_cells(slot)[f->offset + s * f->cells_per_series];
    LLM_METRICS_ADD64(&c[llm_metrics_bucket(f, value)], 1);
    LLM_METRICS_ADD64(&c[f->nbounds + 1], value);
}

/** Observe @a value as llm_metrics_observe, and keep it as the exemplar
 *  of its bucket with the request id @a id and the time @a now, when @a f
 *  keeps exemplars and @a id is not NULL. */
static APR_INLINE void llm_metrics_observe_ex(const llm_metrics_t *m,
                                              llm_metrics_slot_t *slot,
                                              const llm_metrics_family_t *f,
                                              const int *idx,
                                              apr_uint64_t value,
                                              const llm_metrics_id_t *id,
                                              apr_time_t now)
{
    apr_size_t s = llm_metrics_series(f, idx);
    volatile apr_uint64_t *c;
    int b;

    if (!slot || s == (apr_size_t)-1 || f->type != LLM_METRIC_HISTOGRAM) {
        return;
    }
    b = llm_metrics_bucket(f, value);
    c = &llm_metrics_cells(slot)[f->offset + s * f->cells_per_series];
    LLM_METRICS_ADD64(&c[b], 1);
    LLM_METRICS_ADD64(&c[f->nbounds + 1], value);
    if (f->exemplars && id) {
        llm_metrics_exemplar_put(m, slot, f->ex_offset
                                 + s * (apr_size_t)(f->nbounds + 1) + b,
                                 value, now, id);
    }
}

/**
 * A map from addresses known at start-up (models, servers) to small
 * integers, read-only once built: open addressing on a multiplicative
 * hash of the address, so a lookup on the request path is a multiply,
 * a shift and a compare or two (apr_hash_t hashes the key's bytes one by
 * one). Built before the children fork, it is the same in every child.
 */
typedef struct {
    unsigned int shift;          /**< 64 - log2(capacity) */
    apr_size_t mask;
    const void **keys;
    int *vals;
} llm_metrics_ptrmap_t;

/** A map with room for @a n addresses. */
llm_metrics_ptrmap_t *llm_metrics_ptrmap_make(apr_pool_t *p, int n);
/** Map @a key (not NULL) to @a val (>= 0); a key set twice keeps the
 *  last value. Start-up only: not safe against concurrent readers. */
void llm_metrics_ptrmap_set(llm_metrics_ptrmap_t *pm, const void *key,
                            int val);

static APR_INLINE apr_size_t llm_metrics_ptr_hash(const void *key,
                                                  unsigned int shift)
{
    return (apr_size_t)(((apr_uint64_t)(apr_uintptr_t)key
                         * APR_UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}

/** The value of @a key, @a dflt when it is not in the map. */
static APR_INLINE int llm_metrics_ptrmap_get(const llm_metrics_ptrmap_t *pm,
                                             const void *key, int dflt)
{
    apr_size_t h = llm_metrics_ptr_hash(key, pm->shift);

    while (pm->keys[h]) {
        if (pm->keys[h] == key) {
            return pm->vals[h];
        }
        h = (h + 1) & pm->mask;
    }
    return dflt;
}

/**
 * A cache, learned at run time, from addresses this process sees (the
 * router's route names, which are not the engine's own copies of them)
 * to small integers. Each entry is one 64-bit word (the address in the
 * low 48 bits, value + 1 in the high 16), stored and loaded whole: the
 * threads of a process share it without a lock, and a torn pair cannot
 * be read. Direct-mapped; a miss costs the caller its slow lookup once.
 */
#define LLM_METRICS_PTRCACHE_SIZE 64
typedef struct {
    apr_uint64_t e[LLM_METRICS_PTRCACHE_SIZE];
} llm_metrics_ptrcache_t;

/** The value cached for @a key, -1 when none. */
static APR_INLINE int llm_metrics_ptrcache_get(llm_metrics_ptrcache_t *c,
                                               const void *key)
{
    apr_uint64_t k = (apr_uint64_t)(apr_uintptr_t)key;
    apr_uint64_t e;

#if defined(__GNUC__) || defined(__clang__)
    e = __atomic_load_n(&c->e[llm_metrics_ptr_hash(key, 58)],
                        __ATOMIC_RELAXED);
#else
    e = c->e[llm_metrics_ptr_hash(key, 58)];
#endif
    return e && (e & APR_UINT64_C(0xFFFFFFFFFFFF)) == k
           ? (int)(e >> 48) - 1 : -1;
}

/** Remember @a val (0 .. 65534) for @a key; an address that does not fit
 *  in 48 bits is not cached. */
void llm_metrics_ptrcache_put(llm_metrics_ptrcache_t *c, const void *key,
                              int val);

/** The sum over every slot of a counter or gauge series (for tests). */
apr_int64_t llm_metrics_value(const llm_metrics_t *m,
                              const llm_metrics_family_t *f, const int *idx);

/** The sum over the slots ever used of @a f's cells, into @a out
 *  (f->nseries * f->cells_per_series values). */
void llm_metrics_sum_family(const llm_metrics_t *m,
                            const llm_metrics_family_t *f, apr_uint64_t *out);

/**
 * Append every family in the Prometheus text exposition format (0.0.4):
 * HELP and TYPE once per family, then its series. A family without
 * labels always shows its value; a labelled series shows once it moved
 * (its count for a histogram).
 */
void llm_metrics_write(const llm_metrics_t *m, llm_buf_t *out,
                       apr_pool_t *scratch);

/** The same in the OpenMetrics text format 1.0.0 when @a flags has
 *  LLM_METRICS_OPENMETRICS: a counter family is named without its
 *  "_total" (its samples keep it), the buckets of the families keeping
 *  exemplars carry them. The caller ends the page with
 *  llm_metrics_write_eof. */
#define LLM_METRICS_OPENMETRICS 1u
void llm_metrics_write_as(const llm_metrics_t *m, llm_buf_t *out,
                          apr_pool_t *scratch, unsigned int flags);
/** "# EOF" for an OpenMetrics page. */
void llm_metrics_write_eof(llm_buf_t *out);

/* Pieces of the format, for families computed at scrape time. */
void llm_metrics_write_head(llm_buf_t *out, const char *name,
                            const char *help, llm_metric_type_e type);
void llm_metrics_write_head_as(llm_buf_t *out, const char *name,
                               const char *help, llm_metric_type_e type,
                               unsigned int flags);
/** One sample line: @a name{labels} value. @a labels are pairs (name,
 *  value), @a nlabels pairs; @a value is @a v / 10^scale. */
void llm_metrics_write_sample(llm_buf_t *out, const char *name,
                              const char *const *labels, int nlabels,
                              apr_int64_t v, int scale);

#endif /* LLM_METRICS_H */
