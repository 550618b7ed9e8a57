/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* A growing byte buffer in a pool (APR only), for every module and core
 * file that collects bytes, and the small string helpers beside it. */

#ifndef LLM_BUF_H
#define LLM_BUF_H

#include "apr_pools.h"

/** A growing byte buffer in a pool, always NUL-terminated. It doubles,
 *  so its pool holds at most about twice its largest size. */
typedef struct llm_buf {
    apr_pool_t *pool;
    char *data;
    apr_size_t len;
    apr_size_t cap;
} llm_buf_t;

void llm_buf_init(llm_buf_t *b, apr_pool_t *p);
void llm_buf_add(llm_buf_t *b, const char *s, apr_size_t n);
/** Make room for @a n more bytes at once (and the NUL): a buffer whose
 *  final size is known (a body with a Content-Length) is allocated once,
 *  at that size, and never copied. */
void llm_buf_reserve(llm_buf_t *b, apr_size_t n);

/** The whole file @a path, NUL-terminated, in @a p (at most @a max
 *  bytes). NULL, or why not ("<path>: cannot read: ...", "<path>: not a
 *  regular file": never waits on a FIFO or a device). */
const char *llm_file_slurp(apr_pool_t *p, const char *path, apr_size_t max,
                           char **buf, apr_size_t *len);

/** A copy of @a s in @a p without its leading and trailing white
 *  space. */
const char *llm_str_trim(apr_pool_t *p, const char *s);

#endif /* LLM_BUF_H */
