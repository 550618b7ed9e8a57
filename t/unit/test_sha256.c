/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Core's SHA-256 (the audit chain, the access module's key hashes)
 * against the FIPS 180-2 test vectors
 * (Appendix B) and the chunking of its input. */

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
    char *million = malloc(1000000);
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
    memset(million, 'a', 1000000);
    is_str(hex(million, 1000000),
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
           "FIPS 180-2 B.3: a million 'a'");
    is_str(hex("", 0),
           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
           "the empty message");

    /* The same digest whatever the pieces it is fed in. */
    llm_core_sha256_init(&c);
    llm_core_sha256_update(&c, million, 1000000);
    llm_core_sha256_final(&c, md);
    llm_core_sha256_init(&c);
    for (i = 0; i < 1000000; i += 7) {
        llm_core_sha256_update(&c, million + i, i + 7 > 1000000 ? 1000000 - i : 7);
    }
    llm_core_sha256_final(&c, md2);
    ok(!memcmp(md, md2, sizeof(md)), "fed 7 bytes at a time: same digest");
    /* Every length around the block and padding boundaries. */
    {
        int good = 1;

        for (i = 50; i < 140 && good; i++) {
            apr_size_t k;

            llm_core_sha256_init(&c);
            for (k = 0; k < i; k++) {
                llm_core_sha256_update(&c, million + k, 1);
            }
            llm_core_sha256_final(&c, md);
            llm_core_sha256_init(&c);
            llm_core_sha256_update(&c, million, i);
            llm_core_sha256_final(&c, md2);
            good = !memcmp(md, md2, sizeof(md));
        }
        ok(good, "lengths 50..139, byte by byte and at once, agree");
    }
    /* 55 and 56 bytes: the padding's edge (one block or two). */
    is_str(hex(million, 55),
           "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
           "55 'a': padding fits the block");
    is_str(hex(million, 56),
           "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
           "56 'a': padding takes a second block");
    free(million);
    return tap_done();
}
