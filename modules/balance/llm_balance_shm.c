/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Provider state in shared memory, so that every child process sees the
 * same counters: "balanced" splits a model's requests evenly across the
 * whole server, not per process.
 *
 * One slotmem segment (mod_slotmem_shm) per models file, one slot per
 * provider, created at start-up before any child exists: children
 * inherit the mapping, and llm_provider_t.stats points into it. The
 * counters are apr_atomic_* words, so no lock is taken on the request
 * path. The segment's name carries a hash of the file's path and of its
 * provider ids in order, so that a changed file never finds the slots of
 * another layout; mod_slotmem_shm gives each restart generation its own
 * segment, so counters start from zero at a restart.
 */

#include "apr_strings.h"
#include "apr_hash.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"
#include "ap_slotmem.h"

#include "mod_llm.h"
#include "llm_balance_private.h"

static const char *segment_name(apr_pool_t *p, const llm_models_t *m)
{
    unsigned int h = 0;
    apr_ssize_t len;
    int i;

    len = (apr_ssize_t)strlen(m->path);
    h = apr_hashfunc_default(m->path, &len);
    for (i = 0; i < m->providers->nelts; i++) {
        const llm_provider_t *pr = APR_ARRAY_IDX(m->providers, i,
                                                 llm_provider_t *);
        unsigned int id;

        len = (apr_ssize_t)strlen(pr->id);
        id = apr_hashfunc_default(pr->id, &len);
        h = h * 31 + id;
    }
    return apr_psprintf(p, "llm_balance_%08x_%d", h, m->providers->nelts);
}

int llm_balance_shm_attach(apr_pool_t *pconf, server_rec *s,
                           llm_models_t *m)
{
    const ap_slotmem_provider_t *shm;
    ap_slotmem_instance_t *inst;
    const char *name;
    apr_status_t rv;
    int i;

    if (m->providers->nelts == 0) {
        return OK;
    }
    shm = ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm",
                             AP_SLOTMEM_PROVIDER_VERSION);
    if (!shm) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, LLMLOGNO(02001)
                     "mod_llm_balance keeps provider state in shared memory: "
                     "load mod_slotmem_shm");
        return !OK;
    }
    name = segment_name(pconf, m);
    rv = shm->create(&inst, name, sizeof(llm_provider_stats_t),
                     (unsigned int)m->providers->nelts, AP_SLOTMEM_TYPE_PREGRAB,
                     pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LLMLOGNO(02002)
                     "%s: cannot create the shared memory segment %s for "
                     "%d providers (is DefaultRuntimeDir writable?)",
                     m->path, name, m->providers->nelts);
        return !OK;
    }
    for (i = 0; i < m->providers->nelts; i++) {
        llm_provider_t *pr = APR_ARRAY_IDX(m->providers, i,
                                           llm_provider_t *);
        void *slot;

        rv = shm->dptr(inst, (unsigned int)pr->slot, &slot);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LLMLOGNO(02003)
                         "%s: no shared slot %d for provider %s", m->path,
                         pr->slot, pr->id);
            return !OK;
        }
        pr->stats = slot;
    }
    llm_balance_status_remember(pconf, m);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LLMLOGNO(02004)
                 "%s: provider state for %d providers in shared memory %s",
                 m->path, m->providers->nelts, name);
    return OK;
}
