/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Core's SHA-256 (the hash of stored API keys) against the FIPS 180-2
 * test vectors (Appendix B) and the chunking of its input. */

#include <string.h>

#include "apr_general.h"

#include "tap.h"
#include "llm_sha256.h"

static const char *hex(const char *s, apr_size_t len)
{
    static char out[LLM_CORE_SHA256_HEX];

    llm_core_sha256_hex(s, len, out);
    return out;
}

int main(void)
{
    static const char *b2 =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    unsigned char md[LLM_CORE_SHA256_LEN], md2[LLM_CORE_SHA256_LEN];
    llm_core_sha256_t c;
    apr_size_t i;

    apr_initialize();
    is_str(hex("abc", 3),
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
           "FIPS 180-2 B.1: abc");
    is_str(hex(b2, strlen(b2)),
           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
           "FIPS 180-2 B.2: 448-bit message (two blocks of padding)");
    is_str(hex("", 0),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "the empty message");
    /* One byte at a time gives the same digest as all at once. */
    llm_core_sha256_init(&c);
    llm_core_sha256_update(&c, b2, strlen(b2));
    llm_core_sha256_final(&c, md);
    llm_core_sha256_init(&c);
    for (i = 0; i < strlen(b2); i++) {
        llm_core_sha256_update(&c, b2 + i, 1);
    }
    llm_core_sha256_final(&c, md2);
    ok(!memcmp(md, md2, sizeof(md)), "byte-wise updates give one digest");
    apr_terminate();
    return tap_done();
}
