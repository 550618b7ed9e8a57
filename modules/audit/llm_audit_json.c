/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Records written straight as JSON text (llm_audit_w_*): a request's
 * record is made once per request, in batch mode on the request's own
 * thread with nothing else to pay for, so it is not built as json-c
 * objects, copied into a record object and serialised (that was most
 * of the module's cost per request: docs/performance.md), but appended
 * to one buffer. Strings are escaped as JSON wants and invalid UTF-8
 * becomes U+FFFD, as llm_audit_strn() does for json-c values: every
 * line is valid JSON whatever a header carried.
 */

#include <string.h>

#include "apr_strings.h"

#include "llm_audit.h"

void llm_audit_w_init(llm_audit_w_t *w, apr_pool_t *p)
{
    memset(w, 0, sizeof(*w));
    llm_buf_init(&w->buf, p);
    llm_buf_reserve(&w->buf, 1024);        /* a request record: ~600 */
}

static void put(llm_audit_w_t *w, const char *s, apr_size_t n)
{
    llm_buf_add(&w->buf, s, n);
}

/* A comma before every member or element but the first of its level. */
static void next(llm_audit_w_t *w)
{
    if (w->count[w->depth]++) {
        put(w, ",", 1);
    }
}

/* Whether @a s (of @a len bytes) goes into a JSON string as it is:
 * printable ASCII, no quote, no backslash (the usual name or number). */
static int plain(const char *s, apr_size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (u[i] < 0x20 || u[i] >= 0x80 || u[i] == '"' || u[i] == '\\') {
            return 0;
        }
    }
    return 1;
}

/* "s", in one copy. */
static void quoted(llm_audit_w_t *w, const char *s, apr_size_t len)
{
    llm_buf_t *b = &w->buf;

    llm_buf_reserve(b, len + 2);
    b->data[b->len++] = '"';
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

static void escaped(llm_audit_w_t *w, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t i = 0, from = 0, k;

    if (plain(s, len)) {
        quoted(w, s, len);
        return;
    }
    put(w, "\"", 1);
    while (i < len) {
        unsigned char c = u[i];
        const char *esc = NULL;
        char ctl[6];

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80 && (k = llm_audit_utf8_seq(u + i, len - i)) != 0) {
            i += k;
            continue;
        }
        put(w, s + from, i - from);
        switch (c) {
        case '"':  esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                memcpy(ctl, "\\u00", 4);
                ctl[4] = hex[c >> 4];
                ctl[5] = hex[c & 15];
                put(w, ctl, 6);
            }
            else {
                put(w, "\xEF\xBF\xBD", 3);      /* U+FFFD */
            }
        }
        if (esc) {
            put(w, esc, strlen(esc));
        }
        from = ++i;
    }
    put(w, s + from, len - from);
    put(w, "\"", 1);
}

/* Room for @a n more bytes (and a NUL) at the end of the text. */
static char *room(llm_audit_w_t *w, apr_size_t n)
{
    llm_buf_reserve(&w->buf, n);
    return w->buf.data + w->buf.len;
}

/* The comma and "k": in one copy when the key needs no escaping (ours
 * never do; a masking rule's tag might). Returns where the value goes. */
static void key(llm_audit_w_t *w, const char *k)
{
    apr_size_t klen = k ? strlen(k) : 0;
    char *o;

    if (k && !plain(k, klen)) {
        next(w);
        escaped(w, k, klen);
        put(w, ":", 1);
        return;
    }
    o = room(w, klen + 4);
    if (w->count[w->depth]++) {
        *o++ = ',';
    }
    if (k) {
        *o++ = '"';
        memcpy(o, k, klen);
        o += klen;
        *o++ = '"';
        *o++ = ':';
    }
    *o = '\0';
    w->buf.len = (apr_size_t)(o - w->buf.data);
}

void llm_audit_w_strn(llm_audit_w_t *w, const char *k, const char *s,
                      apr_size_t len)
{
    key(w, k);
    if (s) {
        escaped(w, s, len);
    }
    else {
        put(w, "null", 4);
    }
}

void llm_audit_w_str(llm_audit_w_t *w, const char *k, const char *s)
{
    llm_audit_w_strn(w, k, s, s ? strlen(s) : 0);
}

/* Digits by hand: a record has a dozen numbers. */
void llm_audit_w_int(llm_audit_w_t *w, const char *k, apr_int64_t n)
{
    char num[24], *d = num + sizeof(num);
    apr_uint64_t u = n < 0 ? 0 - (apr_uint64_t)n : (apr_uint64_t)n;

    key(w, k);
    do {
        *--d = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0) {
        *--d = '-';
    }
    put(w, d, (apr_size_t)(num + sizeof(num) - d));
}

void llm_audit_w_bool(llm_audit_w_t *w, const char *k, int b)
{
    key(w, k);
    put(w, b ? "true" : "false", b ? 4 : 5);
}

void llm_audit_w_open(llm_audit_w_t *w, const char *k, char bracket)
{
    key(w, k);
    put(w, &bracket, 1);
    if (w->depth + 1 < LLM_AUDIT_W_DEPTH) {
        w->count[++w->depth] = 0;
    }
}

void llm_audit_w_close(llm_audit_w_t *w, char bracket)
{
    put(w, &bracket, 1);
    if (w->depth > 0) {
        w->depth--;
    }
}

const char *llm_audit_w_text(llm_audit_w_t *w, apr_size_t *len)
{
    llm_buf_reserve(&w->buf, 1);
    w->buf.data[w->buf.len] = '\0';
    *len = w->buf.len;
    return w->buf.data;
}
