/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Keys: making one, and judging one a client presents.
 *
 * A presented key is hashed once (SHA-256) and the hex looked up in the
 * store's hash table: O(1) whatever the number of keys, and no key is
 * ever compared in clear. The table's own compare is memcmp; the match
 * is confirmed once more in constant time, so that the time a lookup
 * takes says nothing about how much of a stored hash a guess shares.
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_general.h"

#include "llm_access.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* Uniform over the 62 characters: bytes of 248 and above (4 * 62) are
 * thrown away instead of folded, which would favour the first ones. */
char *llm_access_key_generate(apr_pool_t *p)
{
    apr_size_t plen = sizeof(LLM_ACCESS_KEY_PREFIX) - 1, n = 0;
    char *key = apr_palloc(p, LLM_ACCESS_KEY_LEN + 1);
    unsigned char buf[64];

    memcpy(key, LLM_ACCESS_KEY_PREFIX, plen);
    while (n < LLM_ACCESS_KEY_RANDOM) {
        apr_size_t i;

        if (apr_generate_random_bytes(buf, sizeof(buf)) != APR_SUCCESS) {
            return NULL;
        }
        for (i = 0; i < sizeof(buf) && n < LLM_ACCESS_KEY_RANDOM; i++) {
            if (buf[i] < 248) {
                key[plen + n++] = alphabet[buf[i] % 62];
            }
        }
    }
    key[LLM_ACCESS_KEY_LEN] = '\0';
    return key;
}

void llm_access_key_hash(const char *key, apr_size_t len,
                         char out[LLM_CORE_SHA256_HEX])
{
    llm_core_sha256_hex(key, len, out);
}

/* Equal or not, in a time that depends on the length only. */
static int same_hex(const char *a, const char *b)
{
    unsigned char diff = 0;
    apr_size_t i;

    for (i = 0; i < LLM_CORE_SHA256_HEX - 1; i++) {
        diff |= (unsigned char)(a[i] ^ b[i]);
    }
    return diff == 0;
}

/* A rotated key works until its grace time, then says where it went;
 * a disabled or revoked one is inactive; expiry applies to all. */
llm_access_verdict_e llm_access_judge(const llm_access_key_t *k,
                                      apr_time_t now)
{
    if (!k->active) {
        return LLM_KEY_INACTIVE;
    }
    if (k->rotated_to && (!k->grace_until || now >= k->grace_until)) {
        return LLM_KEY_ROTATED;
    }
    if (k->expires && now >= k->expires) {
        return LLM_KEY_EXPIRED;
    }
    return LLM_KEY_OK;
}

llm_access_verdict_e llm_access_check(const llm_access_store_t *s,
                                      const char *key, apr_size_t len,
                                      apr_time_t now,
                                      const llm_access_key_t **found)
{
    char hex[LLM_CORE_SHA256_HEX];
    const llm_access_key_t *k;

    *found = NULL;
    if (!key || len == 0) {
        return LLM_KEY_MISSING;
    }
    if (!s || len > LLM_ACCESS_KEY_MAX) {
        return LLM_KEY_INVALID;
    }
    llm_access_key_hash(key, len, hex);
    k = apr_hash_get(s->by_hash, hex, LLM_CORE_SHA256_HEX - 1);
    if (!k || !same_hex(k->hash, hex)) {
        return LLM_KEY_INVALID;
    }
    *found = k;
    return llm_access_judge(k, now);
}

const char *llm_access_verdict_code(llm_access_verdict_e v)
{
    switch (v) {
    case LLM_KEY_OK:       return "ok";
    case LLM_KEY_MISSING:  return "missing_key";
    case LLM_KEY_EXPIRED:  return "key_expired";
    case LLM_KEY_ROTATED:  return "key_rotated";
    case LLM_KEY_INACTIVE: return "key_inactive";
    default:               return "invalid_key";
    }
}

const char *llm_access_verdict_message(llm_access_verdict_e v)
{
    switch (v) {
    case LLM_KEY_OK:
        return "The API key is valid.";
    case LLM_KEY_MISSING:
        return "API key not provided. Send it in the Authorization header "
               "(Bearer) or as x-api-key.";
    case LLM_KEY_EXPIRED:
        return "This API key has expired.";
    case LLM_KEY_ROTATED:
        return "This API key has been rotated. Use the new key.";
    case LLM_KEY_INACTIVE:
        return "This API key has been deactivated.";
    default:
        return "API key not found or invalid.";
    }
}
