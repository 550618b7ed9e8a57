/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_sha256.h
 * @brief SHA-256 (FIPS 180-4) for every module: httpd links no
 * libcrypto and APR has SHA-1 and MD5 only. mod_llm_access hashes API
 * keys with it; mod_llm_audit has its own copy (llm_audit_sha256.c) and
 * is meant to switch to this one.
 */

#ifndef LLM_SHA256_H
#define LLM_SHA256_H

#include "apr.h"

#define LLM_CORE_SHA256_LEN 32
#define LLM_CORE_SHA256_HEX (2 * LLM_CORE_SHA256_LEN + 1)

typedef struct {
    apr_uint32_t h[8];
    apr_uint64_t bytes;              /* bytes hashed so far */
    unsigned char block[64];
    apr_size_t fill;                 /* bytes waiting in block */
} llm_core_sha256_t;

void llm_core_sha256_init(llm_core_sha256_t *c);
void llm_core_sha256_update(llm_core_sha256_t *c, const void *data,
                            apr_size_t len);
void llm_core_sha256_final(llm_core_sha256_t *c,
                           unsigned char out[LLM_CORE_SHA256_LEN]);
/** The lower-case hex digest of @a len bytes, NUL-terminated. */
void llm_core_sha256_hex(const void *data, apr_size_t len,
                         char out[LLM_CORE_SHA256_HEX]);

#endif /* LLM_SHA256_H */
