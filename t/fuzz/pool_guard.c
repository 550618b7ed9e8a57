/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * apr_palloc() for the fuzz targets: every allocation its own malloc().
 *
 * APR hands out pool memory from large blocks that AddressSanitizer sees
 * as one allocation, so a write past the end of an apr_palloc()ed buffer
 * lands in the next one unnoticed. Linked into a fuzz target, this file
 * defines apr_palloc (and apr_pcalloc) itself: the core's calls and
 * libapr's own (apr_pstrdup, apr_array_push, apr_pstrcat...), which go
 * through the PLT, get a malloc()ed chunk instead, with ASan's red zones
 * around it. The chunks of a pool are kept in a list that a cleanup,
 * registered on the pool's first allocation, frees when the pool is
 * cleared or destroyed; so a use after apr_pool_clear() is caught too.
 *
 * What the guard itself needs from the pool (its cleanup, its userdata
 * entry) comes from APR's own apr_palloc, found with dlsym(RTLD_NEXT).
 * apr_psprintf writes into the pool's block directly and is not seen.
 * Single-threaded, as the fuzz targets are.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_pools.h"

#define GUARD_KEY "llm-fuzz-pool-guard"

typedef struct guard {
    apr_pool_t *pool;
    void **chunks;
    size_t n;
    size_t cap;
    struct guard *prev, *next;
} guard_t;

static void *(*real_palloc)(apr_pool_t *, apr_size_t);
static int inside;              /* the guard's own allocations */
/* Every live guard, from a global: APR's blocks may be mmap()ed, where
 * LeakSanitizer does not look for pointers, so the pool's own reference
 * to its guard would not count. */
static guard_t *guards;

static void *apr_own(apr_pool_t *p, apr_size_t size)
{
    if (!real_palloc) {
        real_palloc = (void *(*)(apr_pool_t *, apr_size_t))
                      dlsym(RTLD_NEXT, "apr_palloc");
        if (!real_palloc) {
            fprintf(stderr, "pool_guard: no apr_palloc in libapr\n");
            abort();
        }
    }
    return real_palloc(p, size);
}

static apr_status_t guard_free(void *data)
{
    guard_t *g = data;
    size_t i;

    for (i = 0; i < g->n; i++) {
        free(g->chunks[i]);
    }
    /* An older cleanup that allocates after this one ran must not find
     * the freed guard: apr_pool_clear() drops the userdata only later. */
    inside = 1;
    apr_pool_userdata_setn(NULL, GUARD_KEY, NULL, g->pool);
    inside = 0;
    if (g->prev) {
        g->prev->next = g->next;
    }
    else {
        guards = g->next;
    }
    if (g->next) {
        g->next->prev = g->prev;
    }
    free(g->chunks);
    free(g);
    return APR_SUCCESS;
}

static guard_t *guard_of(apr_pool_t *p)
{
    void *data = NULL;
    guard_t *g;

    apr_pool_userdata_get(&data, GUARD_KEY, p);
    if (data) {
        return data;
    }
    if (!(g = calloc(1, sizeof(*g)))) {
        abort();
    }
    g->pool = p;
    g->next = guards;
    if (guards) {
        guards->prev = g;
    }
    guards = g;
    inside = 1;
    apr_pool_userdata_setn(g, GUARD_KEY, NULL, p);
    apr_pool_cleanup_register(p, g, guard_free, apr_pool_cleanup_null);
    inside = 0;
    return g;
}

APR_DECLARE(void *) apr_palloc(apr_pool_t *p, apr_size_t size)
{
    guard_t *g;
    void *m;

    if (inside) {
        return apr_own(p, size);
    }
    g = guard_of(p);
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        if (!(g->chunks = realloc(g->chunks, g->cap * sizeof(void *)))) {
            abort();
        }
    }
    if (!(m = malloc(size)) && !(m = malloc(1))) {
        abort();
    }
    /* Not zeroed, as APR's is not (a block it recycles holds what was
     * there before), but filled with one byte: what reads memory it did
     * not write gets 0xa5s, the same on every run. */
    memset(m, 0xa5, size);
    g->chunks[g->n++] = m;
    return m;
}

#undef apr_pcalloc
APR_DECLARE(void *) apr_pcalloc(apr_pool_t *p, apr_size_t size)
{
    return memset(apr_palloc(p, size), 0, size);
}
