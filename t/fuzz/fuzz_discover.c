/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for llmctl config discover's reading of a server's list
 * of models (support/llmctl_discover.c): the first byte picks the
 * server's kind (Ollama's /api/tags, LM Studio's /api/v0/models or
 * OpenAI's /v1/models), the rest is the answer's body, given with
 * exactly its length (curl's buffer has no NUL the parser may count on).
 *
 * Properties (a violation abort()s, naming it):
 *   - a refusal says why and gives no list;
 *   - every model found has a non-empty name, NUL-terminated within
 *     the input's length, a context length that is not negative, and
 *     tools / embedding flags that are 0 or 1;
 *   - no more models than the input has bytes (each one is an object
 *     with a name in the text).
 */

#define FUZZ_NAME "fuzz_discover"

#include "fuzz.h"
#include "llmctl_discover.h"

static const llm_api_type_e kinds[] = {
    LLM_API_OLLAMA, LLM_API_LMSTUDIO, LLM_API_OPENAI
};

static void check_found(const apr_array_header_t *found, size_t size)
{
    int i;

    FUZZ_CHECK((size_t)found->nelts <= size, "no more models than bytes");
    for (i = 0; i < found->nelts; i++) {
        const llmctl_found_t *f = &APR_ARRAY_IDX(found, i, llmctl_found_t);

        FUZZ_CHECK(f->name && *f->name && strlen(f->name) < size,
                   "a model has a non-empty name from the input");
        FUZZ_CHECK(f->context >= 0, "a context length is not negative");
        FUZZ_CHECK((f->tools == 0 || f->tools == 1)
                   && (f->embedding == 0 || f->embedding == 1),
                   "the flags are 0 or 1");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_array_header_t *found;
    const char *why = NULL;
    apr_pool_t *p;
    char *buf;

    if (size < 1) {
        return 0;
    }
    fuzz_start();
    fuzz_input = data;
    fuzz_input_len = size;
    apr_pool_create(&p, fuzz_root);
    if (!(buf = malloc(size - 1 ? size - 1 : 1))) {
        abort();
    }
    memcpy(buf, data + 1, size - 1);
    found = llmctl_discover_parse(p, kinds[data[0] % 3], buf, size - 1,
                                  &why);
    free(buf);
    if (found) {
        check_found(found, size);
    }
    else {
        FUZZ_CHECK(why && *why, "a refusal says why");
    }
    apr_pool_destroy(p);
    return 0;
}
