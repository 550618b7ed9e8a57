/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for mod_llm_access's key file (llm_access_store.c): an
 * input is a file's bytes, given to llm_access_store_parse() with
 * exactly its length; then the input, as a presented key, is judged
 * against what loaded; then the notation of limits is parsed.
 *
 * Properties (a violation abort()s, naming it):
 *   - a refusal says "<path>: " first;
 *   - a store that loads is consistent: every record is found by its id
 *     and its hash, ids are printable, hashes are 64 lower-case hex
 *     digits, permissions are known bits;
 *   - a saved store reads back to the same ids and hashes;
 *   - any bytes presented as a key get a verdict, and OK only with the
 *     record whose hash is the key's;
 *   - a limit that parses has a count and a window above zero, a
 *     budget a count within bounds.
 */

#define FUZZ_NAME "fuzz_keys"

#include <unistd.h>

#include "fuzz.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "llm_access.h"

#define PATH "fuzz/keys.json"

static void check_record(const llm_access_store_t *s,
                         const llm_access_key_t *k)
{
    apr_size_t i;

    FUZZ_CHECK(k->id && *k->id && k->shown && k->models,
               "a record has an id, a shown prefix and models");
    for (i = 0; k->id[i]; i++) {
        FUZZ_CHECK(apr_isgraph(k->id[i]), "an id is printable");
    }
    FUZZ_CHECK(strlen(k->hash) == LLM_CORE_SHA256_HEX - 1,
               "a hash has 64 digits");
    for (i = 0; k->hash[i]; i++) {
        FUZZ_CHECK(apr_isdigit(k->hash[i])
                   || (k->hash[i] >= 'a' && k->hash[i] <= 'f'),
                   "a hash is lower-case hex");
    }
    FUZZ_CHECK(apr_hash_get(s->by_id, k->id, APR_HASH_KEY_STRING) == k,
               "a record is found by its id");
    FUZZ_CHECK(apr_hash_get(s->by_hash, k->hash, LLM_CORE_SHA256_HEX - 1)
               == k, "a record is found by its hash");
    FUZZ_CHECK(!(k->perms & ~(unsigned)(LLM_PERM_ALL_BUT_ADMIN
                                         | LLM_PERM_ADMIN)),
               "permissions are known bits");
}

/* Saved and read again: the same records. */
static void check_roundtrip(apr_pool_t *p, llm_access_store_t *s)
{
    char path[] = "/tmp/fuzz_keys.XXXXXX";
    llm_access_store_t *again;
    int fd = mkstemp(path), i;

    if (fd < 0) {
        return;
    }
    close(fd);
    s->path = path;
    FUZZ_CHECK(llm_access_store_save(p, s) == NULL, "a store saves");
    FUZZ_CHECK(llm_access_store_load(p, path, &again) == NULL,
               "a saved store loads");
    unlink(path);
    FUZZ_CHECK(again->keys->nelts == s->keys->nelts, "as many records");
    for (i = 0; i < s->keys->nelts; i++) {
        const llm_access_key_t *a = APR_ARRAY_IDX(s->keys, i,
                                                  llm_access_key_t *);
        const llm_access_key_t *b = APR_ARRAY_IDX(again->keys, i,
                                                  llm_access_key_t *);

        FUZZ_CHECK(!strcmp(a->id, b->id) && !strcmp(a->hash, b->hash)
                   && a->perms == b->perms && a->active == b->active
                   && a->expires == b->expires
                   && a->requests.count == b->requests.count
                   && a->requests.window == b->requests.window,
                   "a record reads back as it was");
    }
}

static void check_key(const llm_access_store_t *s, const uint8_t *data,
                      size_t size)
{
    const llm_access_key_t *k;
    char hex[LLM_CORE_SHA256_HEX];
    llm_access_verdict_e v = llm_access_check(s, (const char *)data, size,
                                              apr_time_now(), &k);

    FUZZ_CHECK(v >= LLM_KEY_OK && v <= LLM_KEY_INACTIVE, "a verdict");
    if (v == LLM_KEY_OK || (k && v != LLM_KEY_INVALID)) {
        llm_access_key_hash((const char *)data, size, hex);
        FUZZ_CHECK(k && !strcmp(k->hash, hex),
                   "a key is judged by its own record only");
    }
}

/* The same bytes as a last-used sidecar, which httpd's parent reads:
 * refused naming the file, or times of 1970..2106 only. */
static void check_sidecar(apr_pool_t *p, const uint8_t *data, size_t size)
{
    apr_hash_t *times = apr_hash_make(p);
    apr_hash_index_t *hi;
    char *buf = fuzz_exact_copy(data, size);
    const char *err = llm_used_parse(p, PATH, buf, size, times);

    free(buf);
    if (err) {
        FUZZ_CHECK_TEXT(!strncmp(err, PATH ": ", strlen(PATH) + 2),
                        "a broken sidecar is said, naming the file", err);
        return;
    }
    for (hi = apr_hash_first(p, times); hi; hi = apr_hash_next(hi)) {
        const apr_time_t *t = apr_hash_this_val(hi);

        FUZZ_CHECK(*t >= 0 && *t <= apr_time_from_sec(APR_UINT32_MAX),
                   "a last-used time within 1970..2106");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_access_store_t *s = NULL;
    llm_access_rate_t rate;
    llm_access_budget_t budget;
    apr_pool_t *p;
    const char *err;
    char *buf;
    int i;

    fuzz_start();
    apr_pool_create(&p, fuzz_root);
    buf = fuzz_exact_copy(data, size);
    err = llm_access_store_parse(p, PATH, buf, size, &s);
    free(buf);
    if (err) {
        FUZZ_CHECK_TEXT(!strncmp(err, PATH ": ", strlen(PATH) + 2),
                        "a refusal names the file first", err);
    }
    else {
        for (i = 0; i < s->keys->nelts; i++) {
            check_record(s, APR_ARRAY_IDX(s->keys, i, llm_access_key_t *));
        }
        check_roundtrip(p, s);
    }
    check_key(err ? NULL : s, data, size);
    check_sidecar(p, data, size);
    if (!llm_access_rate_parse(apr_pstrmemdup(p, (const char *)data, size),
                               &rate)) {
        FUZZ_CHECK(rate.count > 0 && rate.window > 0,
                   "a limit has a count and a window");
    }
    if (!llm_access_budget_parse(apr_pstrmemdup(p, (const char *)data, size),
                                 &budget)) {
        FUZZ_CHECK(budget.count > 0 && budget.count <= LLM_ACCESS_RATE_MAX,
                   "a budget has a count within bounds");
    }
    apr_pool_destroy(p);
    return 0;
}
