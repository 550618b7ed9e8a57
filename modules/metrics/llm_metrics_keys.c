/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The key_id label's values: a table of at most `max` key ids in shared
 * memory, filled first come, first served by whichever process meets a
 * key first, and read by the scrape. A key id beyond the table is
 * "_other"; a request without a recognised key is "" (no key id): a
 * client sending random keys moves "" and never makes a series.
 *
 * The table is open addressing over twice as many entries as key ids,
 * each one word of state (0 free, 1 being written, 2 published), the
 * key id's number and its text. A writer claims a free entry with a
 * compare-and-swap, writes the text, then publishes it; a reader that
 * meets an entry being written waits for it (a few instructions of the
 * writer's), so one key id never gets two entries. Entries are never
 * freed: the table lasts as long as the segment.
 */

#include <string.h>
#include "apr_atomic.h"
#include "apr_thread_proc.h"

#include "llm_metrics.h"

enum { FREE = 0, WRITING = 1, PUBLISHED = 2 };

typedef struct {
    volatile apr_uint32_t state;
    apr_uint32_t number;         /* 0 .. max-1, or max: over the table */
    char id[LLM_METRICS_KEY_ID_MAX];
} entry_t;

typedef struct {
    volatile apr_uint32_t used;  /* numbers given */
    apr_uint32_t pad[15];        /* a cache line */
} head_t;

struct llm_metrics_keys {
    head_t *head;
    entry_t *entries;
    volatile apr_uint32_t *where; /* number -> its entry + 1 (0: none
                                     yet), for the scrape's labels */
    apr_uint32_t cap;            /* a power of two, >= 2 * max */
    int max;
};

static apr_uint32_t capacity(int max)
{
    apr_uint32_t cap = 2;

    while (cap < (apr_uint32_t)(max > 0 ? max : 0) * 2) {
        cap <<= 1;
    }
    return cap;
}

apr_size_t llm_metrics_keys_size(int max)
{
    return sizeof(head_t) + capacity(max) * sizeof(entry_t)
           + (apr_size_t)(max > 0 ? max : 0) * sizeof(apr_uint32_t);
}

llm_metrics_keys_t *llm_metrics_keys_make(apr_pool_t *p, int max)
{
    llm_metrics_keys_t *k = apr_pcalloc(p, sizeof(*k));

    k->cap = capacity(max);
    k->max = max > 0 ? max : 0;
    return k;
}

void llm_metrics_keys_attach(llm_metrics_keys_t *k, void *base)
{
    k->head = base;
    k->entries = (entry_t *)((char *)base + sizeof(head_t));
    k->where = (volatile apr_uint32_t *)(k->entries + k->cap);
}

int llm_metrics_keys_max(const llm_metrics_keys_t *k)
{
    return k->max;
}

/* FNV-1a */
static apr_uint32_t hash_of(const char *s, apr_size_t len)
{
    apr_uint32_t h = 2166136261u;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

static int label_of(const llm_metrics_keys_t *k, apr_uint32_t number)
{
    return number < (apr_uint32_t)k->max ? LLM_METRICS_KEY_FIRST + (int)number
                                         : LLM_METRICS_KEY_OTHER;
}

/* Wait for an entry another thread or process is writing: a few stores.
 * A writer that died in the middle leaves it WRITING for good: give up
 * after a while and count the key as "_other". */
static apr_uint32_t wait_published(entry_t *e)
{
    apr_uint32_t st;
    int spins = 0;

    while ((st = apr_atomic_read32(&e->state)) == WRITING && spins < 10000) {
        if (++spins % 64 == 0) {
            apr_thread_yield();
        }
    }
    return st;
}

int llm_metrics_keys_index(llm_metrics_keys_t *k, const char *id)
{
    apr_size_t len = id ? strlen(id) : 0;
    apr_uint32_t h, n;

    if (!len) {
        return LLM_METRICS_KEY_NONE;
    }
    if (len >= LLM_METRICS_KEY_ID_MAX || !k->max || !k->head) {
        return LLM_METRICS_KEY_OTHER;
    }
    h = hash_of(id, len) & (k->cap - 1);
    for (n = 0; n < k->cap; n++, h = (h + 1) & (k->cap - 1)) {
        entry_t *e = &k->entries[h];
        apr_uint32_t st = apr_atomic_read32(&e->state);

        if (st == FREE) {
            if (apr_atomic_read32(&k->head->used) >= (apr_uint32_t)k->max) {
                return LLM_METRICS_KEY_OTHER;     /* the table is full */
            }
            if (apr_atomic_cas32(&e->state, WRITING, FREE) == FREE) {
                e->number = apr_atomic_inc32(&k->head->used);
                memcpy(e->id, id, len + 1);
                if (e->number < (apr_uint32_t)k->max) {
                    k->where[e->number] = h + 1;
                }
                /* the CAS of apr_atomic is a full barrier: the text and
                 * where it is are seen before the state */
                apr_atomic_cas32(&e->state, PUBLISHED, WRITING);
                return label_of(k, e->number);
            }
            st = apr_atomic_read32(&e->state);   /* lost the race */
        }
        if (st == WRITING && (st = wait_published(e)) == WRITING) {
            return LLM_METRICS_KEY_OTHER;
        }
        if (!strcmp(e->id, id)) {
            return label_of(k, e->number);
        }
    }
    return LLM_METRICS_KEY_OTHER;
}

const char *llm_metrics_keys_label(void *baton, int value)
{
    llm_metrics_keys_t *k = baton;
    apr_uint32_t where;
    entry_t *e;

    if (value == LLM_METRICS_KEY_NONE) {
        return "";
    }
    if (value == LLM_METRICS_KEY_OTHER) {
        return LLM_METRICS_KEY_OTHER_NAME;
    }
    value -= LLM_METRICS_KEY_FIRST;
    if (!k->head || value < 0 || value >= k->max) {
        return NULL;
    }
    /* read from the segment, where a published entry never changes (no
     * copy in the process: concurrent scrapes share nothing) */
    where = apr_atomic_read32(&k->where[value]);
    if (!where || where > k->cap) {
        return NULL;
    }
    e = &k->entries[where - 1];
    return apr_atomic_read32(&e->state) == PUBLISHED
           && e->number == (apr_uint32_t)value
           && memchr(e->id, '\0', sizeof(e->id)) ? e->id : NULL;
}
