/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Record lines: what one record of the trail looks like, built and read
 * back. A line is one compact JSON object ending in no newline (the
 * writer adds it); json-c escapes control characters, so a field with a
 * newline never splits a line, and llm_audit_str() mends invalid UTF-8
 * so that every line is valid JSON for any reader.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_time.h"

#include "llm_audit.h"
#include "llm_json.h"

void llm_audit_chain_genesis(llm_audit_chain_t *chain)
{
    chain->seq = 0;
    llm_core_sha256_hex(LLM_AUDIT_GENESIS, strlen(LLM_AUDIT_GENESIS), chain->prev);
}

/* @a n in @a width digits, zero-padded, at @a out. */
static void digits(char *out, int n, int width)
{
    while (width--) {
        out[width] = (char)('0' + n % 10);
        n /= 10;
    }
}

/* Written by hand, not by a printf: every record has one. */
const char *llm_audit_time(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t x;
    char *s = apr_palloc(p, sizeof("2025-01-02T03:04:05.123456Z"));

    apr_time_exp_gmt(&x, t);
    memcpy(s, "0000-00-00T00:00:00.000000Z", 28);
    digits(s, x.tm_year + 1900, 4);
    digits(s + 5, x.tm_mon + 1, 2);
    digits(s + 8, x.tm_mday, 2);
    digits(s + 11, x.tm_hour, 2);
    digits(s + 14, x.tm_min, 2);
    digits(s + 17, x.tm_sec, 2);
    digits(s + 20, x.tm_usec, 6);
    return s;
}

/* The length of the valid UTF-8 sequence at @a s (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF), 0 if none. */
apr_size_t llm_audit_utf8_seq(const unsigned char *s, apr_size_t n)
{
    unsigned char c = s[0];
    apr_size_t len, i;
    unsigned char lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    }
    else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return len;
}

json_object *llm_audit_strn(const char *s, apr_size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t i = 0, k, bad = 0;
    json_object *v;
    char *out, *o;

    if (!s) {
        return NULL;
    }
    while (i < len) {
        k = llm_audit_utf8_seq(u + i, len - i);
        bad += !k;
        i += k ? k : 1;
    }
    if (!bad) {
        return json_object_new_string_len(s, (int)len);
    }
    o = out = malloc(len + 2 * bad + 1);
    if (!out) {
        return NULL;
    }
    for (i = 0; i < len; i += k ? k : 1) {
        k = llm_audit_utf8_seq(u + i, len - i);
        if (k) {
            memcpy(o, s + i, k);
            o += k;
        }
        else {
            memcpy(o, "\xEF\xBF\xBD", 3);   /* U+FFFD */
            o += 3;
        }
    }
    v = json_object_new_string_len(out, (int)(o - out));
    free(out);
    return v;
}

json_object *llm_audit_str(const char *s)
{
    return s ? llm_audit_strn(s, strlen(s)) : NULL;
}

/* @a o as one compact line, copied into @a p; @a o is released. */
static const char *line_of(apr_pool_t *p, json_object *o, apr_size_t *len)
{
    size_t n = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *line = apr_pstrmemdup(p, s, n);

    json_object_put(o);
    if (len) {
        *len = n;
    }
    return line;
}

static int reserved(const char *key)
{
    return !strcmp(key, "seq") || !strcmp(key, "time")
           || !strcmp(key, "event") || !strcmp(key, "prev");
}

/* Every member of @a fields but the reserved ones, added to @a o. */
static void add_fields(json_object *o, json_object *fields)
{
    if (fields && json_object_is_type(fields, json_type_object)) {
        json_object_object_foreach(fields, key, val) {
            if (!reserved(key)) {
                json_object_object_add(o, key, json_object_get(val));
            }
        }
    }
}

/* The record's line from its fields as text: the head written, then
 * the members as they are (the hot path; see llm_audit_json.c). */
static const char *text_line(apr_pool_t *p, int with_seq, apr_uint64_t seq,
                             const char *prev, const llm_audit_entry_t *e,
                             apr_size_t *len)
{
    llm_audit_w_t w;
    const char *head;
    apr_size_t n;
    char *line;

    llm_audit_w_init(&w, p);
    llm_audit_w_open(&w, NULL, '{');
    if (with_seq) {
        llm_audit_w_int(&w, "seq", (apr_int64_t)seq);
    }
    llm_audit_w_str(&w, "time", llm_audit_time(p, e->time));
    llm_audit_w_str(&w, "event", e->event);
    if (with_seq) {
        llm_audit_w_str(&w, "prev", prev);
    }
    head = llm_audit_w_text(&w, &n);
    line = apr_palloc(p, n + 1 + e->text_len + 2);
    memcpy(line, head, n);
    if (e->text_len) {
        line[n++] = ',';
        memcpy(line + n, e->text, e->text_len);
        n += e->text_len;
    }
    line[n++] = '}';
    line[n] = '\0';
    *len = n;
    return line;
}

const char *llm_audit_record_line(apr_pool_t *p, apr_uint64_t seq,
                                  const char *prev,
                                  const llm_audit_entry_t *e,
                                  apr_size_t *len)
{
    json_object *o;

    if (!e->fields && e->text) {
        return text_line(p, 1, seq, prev, e, len);
    }
    o = json_object_new_object();

    json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
    json_object_object_add(o, "time", json_object_new_string(
                                          llm_audit_time(p, e->time)));
    json_object_object_add(o, "event", llm_audit_str(e->event));
    json_object_object_add(o, "prev", json_object_new_string(prev));
    add_fields(o, e->fields);
    return line_of(p, o, len);
}

const char *llm_audit_body_line(apr_pool_t *p, const llm_audit_entry_t *e,
                                apr_size_t *len)
{
    json_object *o;

    if (!e->fields && e->text) {
        return text_line(p, 0, 0, NULL, e, len);
    }
    o = json_object_new_object();

    json_object_object_add(o, "time", json_object_new_string(
                                          llm_audit_time(p, e->time)));
    json_object_object_add(o, "event", llm_audit_str(e->event));
    add_fields(o, e->fields);
    return line_of(p, o, len);
}

const char *llm_audit_unseal_line(apr_pool_t *p, apr_uint64_t seq,
                                  const char *prev, const char *body,
                                  apr_size_t len, apr_size_t *out_len)
{
    json_object *b = llm_json_parse(body, len);
    json_object *o, *v;

    if (!b || !json_object_is_type(b, json_type_object)
        || !llm_json_str(b, "time", NULL) || !llm_json_str(b, "event", NULL)
        || llm_json_get(b, "seq") || llm_json_get(b, "prev")) {
        if (b) {
            json_object_put(b);
        }
        return NULL;
    }
    o = json_object_new_object();
    json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
    v = llm_json_get(b, "time");
    json_object_object_add(o, "time", json_object_get(v));
    v = llm_json_get(b, "event");
    json_object_object_add(o, "event", json_object_get(v));
    json_object_object_add(o, "prev", json_object_new_string(prev));
    add_fields(o, b);
    json_object_put(b);
    return line_of(p, o, out_len);
}

const char *llm_audit_envelope_line(apr_pool_t *p, apr_uint64_t seq,
                                    apr_uint64_t count, const char *prev,
                                    const char *armored, apr_size_t *len)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "seq", json_object_new_int64((int64_t)seq));
    if (count > 1) {
        json_object_object_add(o, "count",
                               json_object_new_int64((int64_t)count));
    }
    json_object_object_add(o, "prev", json_object_new_string(prev));
    json_object_object_add(o, "pgp", json_object_new_string(armored));
    return line_of(p, o, len);
}

static int is_hash(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len != 2 * LLM_CORE_SHA256_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

apr_status_t llm_audit_line_head(apr_pool_t *p, const char *line,
                                 apr_size_t len, llm_audit_head_t *head,
                                 const char **why)
{
    json_object *o = llm_json_parse(line, len);
    json_object *v;
    const char *s;
    apr_size_t n = 0;
    apr_status_t rv = APR_EINVAL;

    memset(head, 0, sizeof(*head));
    if (!o || !json_object_is_type(o, json_type_object)) {
        *why = "not a JSON object";
        goto done;
    }
    v = llm_json_get(o, "seq");
    if (!llm_json_is(v, json_type_int) || json_object_get_int64(v) < 1) {
        *why = "no seq";
        goto done;
    }
    head->seq = (apr_uint64_t)json_object_get_int64(v);
    head->count = 1;
    if ((v = llm_json_get(o, "count")) != NULL) {
        if (!llm_json_is(v, json_type_int) || json_object_get_int64(v) < 1
            || json_object_get_int64(v) > LLM_AUDIT_BATCH_MAX
            || !llm_json_get(o, "pgp")) {
            *why = "a bad count (only a sealed batch has one)";
            goto done;
        }
        head->count = (apr_uint64_t)json_object_get_int64(v);
    }
    s = llm_json_str(o, "prev", &n);
    if (!s || !is_hash(s, n)) {
        *why = "no prev hash";
        goto done;
    }
    memcpy(head->prev, s, n + 1);
    if ((v = llm_json_get(o, "pgp")) != NULL) {
        if (!llm_json_is(v, json_type_string)) {
            *why = "pgp is not a string";
            goto done;
        }
        head->pgp = apr_pstrdup(p, json_object_get_string(v));
    }
    else if (!llm_json_str(o, "event", NULL)) {
        *why = "neither a record nor a sealed one";
        goto done;
    }
    rv = APR_SUCCESS;
done:
    if (o) {
        json_object_put(o);
    }
    return rv;
}
