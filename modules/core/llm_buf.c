/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

#include <string.h>

#include "apr_file_io.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "llm_buf.h"

void llm_buf_init(llm_buf_t *b, apr_pool_t *p)
{
    b->pool = p;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static void resize(llm_buf_t *b, apr_size_t cap)
{
    char *data = apr_palloc(b->pool, cap);

    if (b->len) {
        memcpy(data, b->data, b->len);
    }
    b->data = data;
    b->cap = cap;
}

void llm_buf_reserve(llm_buf_t *b, apr_size_t n)
{
    if (b->len + n + 1 > b->cap) {
        resize(b, b->len + n + 1);
        b->data[b->len] = '\0';
    }
}

void llm_buf_add(llm_buf_t *b, const char *s, apr_size_t n)
{
    if (b->len + n + 1 > b->cap) {
        apr_size_t cap = b->cap ? b->cap * 2 : 256;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        resize(b, cap);
    }
    if (n) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

const char *llm_str_trim(apr_pool_t *p, const char *s)
{
    apr_size_t n;

    while (apr_isspace(*s)) {
        s++;
    }
    n = strlen(s);
    while (n && apr_isspace(s[n - 1])) {
        n--;
    }
    return apr_pstrmemdup(p, s, n);
}

const char *llm_file_slurp(apr_pool_t *p, const char *path, apr_size_t max,
                           char **buf, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char ebuf[120];

    /* Not blocking: opening a FIFO put where a file belongs would wait
     * for a writer (httpd's parent reads some of these files). */
    rv = apr_file_open(&f, path,
                       APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_NONBLOCK,
                       APR_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
        if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
            apr_file_close(f);
            return apr_psprintf(p, "%s: not a regular file", path);
        }
        if (rv == APR_SUCCESS && (apr_size_t)fi.size > max) {
            apr_file_close(f);
            return apr_psprintf(p, "%s: larger than %" APR_SIZE_T_FMT
                                " bytes", path, max);
        }
        if (rv == APR_SUCCESS) {
            *len = (apr_size_t)fi.size;
            *buf = apr_palloc(p, *len + 1);
            rv = apr_file_read_full(f, *buf, *len, len);
            (*buf)[*len] = '\0';
        }
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "%s: cannot read: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    return NULL;
}
