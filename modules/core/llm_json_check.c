/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Strict JSON (RFC 8259) at the door, in one linear pass over the bytes.
 *
 * json-c is lenient, even with JSON_TOKENER_STRICT: it takes NaN,
 * Infinity, single quotes and lone surrogates, cuts object keys at an
 * escaped NUL, and saturates integers beyond 64 bits. What json-c takes
 * is what a provider would be sent, so a request must first be exactly
 * JSON: this scanner says where it is not (the byte offset and why),
 * counts the object members (json-c keeps one of duplicate keys: fewer
 * members in the tree than in the text means a duplicate) and notes the
 * integer literals json-c cannot hold, so that they can be forwarded as
 * the client wrote them.
 *
 * The nesting limit is json-c's own (31 levels), so that what passes
 * here is what json-c parses.
 */

#include <string.h>

#include "apr_strings.h"

#include "llm_json.h"

#define MAX_DEPTH 31            /* json-c refuses a 32nd level */

typedef struct {
    const unsigned char *s;
    apr_size_t len;
    apr_size_t pos;
    llm_json_check_t *out;
    apr_pool_t *pool;
    apr_size_t ints;            /* integer literals so far */
    apr_size_t max_objects;
    int depth;
    char stack[MAX_DEPTH];      /* '{' or '[' per open container */
} scan_t;

static int fail(scan_t *sc, const char *why)
{
    sc->out->offset = sc->pos;
    sc->out->reason = why;
    return -1;
}

static void skip_space(scan_t *sc)
{
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        sc->pos++;
    }
}

static int hex4(scan_t *sc, unsigned *code)
{
    unsigned v = 0;
    int i;

    if (sc->len - sc->pos < 4) {
        return fail(sc, "a \\u escape needs four hex digits");
    }
    for (i = 0; i < 4; i++) {
        unsigned char c = sc->s[sc->pos + i];

        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        }
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v |= (c | 0x20) - 'a' + 10;
        }
        else {
            return fail(sc, "a \\u escape needs four hex digits");
        }
    }
    sc->pos += 4;
    *code = v;
    return 0;
}

/* After "\u": a code unit; a high surrogate must be followed by a low
 * one (json-c would put U+FFFD in the place of a lone one). */
static int unicode_escape(scan_t *sc, int is_key)
{
    apr_size_t at = sc->pos - 2;
    unsigned code;
    unsigned low;

    if (hex4(sc, &code) < 0) {
        return -1;
    }
    if (code == 0 && is_key) {
        sc->pos = at;
        return fail(sc, "an object key contains NUL (\\u0000)");
    }
    if (code >= 0xDC00 && code <= 0xDFFF) {
        sc->pos = at;
        return fail(sc, "a lone low surrogate escape");
    }
    if (code < 0xD800 || code > 0xDBFF) {
        return 0;
    }
    if (sc->len - sc->pos < 6 || sc->s[sc->pos] != '\\'
        || sc->s[sc->pos + 1] != 'u') {
        sc->pos = at;
        return fail(sc, "a lone high surrogate escape");
    }
    sc->pos += 2;
    if (hex4(sc, &low) < 0) {
        return -1;
    }
    if (low < 0xDC00 || low > 0xDFFF) {
        sc->pos = at;
        return fail(sc, "a lone high surrogate escape");
    }
    return 0;
}

static int escape(scan_t *sc, int is_key)
{
    unsigned char c;

    if (++sc->pos >= sc->len) {
        return fail(sc, "unexpected end of input in a string");
    }
    c = sc->s[sc->pos++];
    switch (c) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n':
    case 'r': case 't':
        return 0;
    case 'u':
        return unicode_escape(sc, is_key);
    default:
        sc->pos -= 2;
        return fail(sc, "an invalid escape in a string");
    }
}

/* One UTF-8 sequence of two to four bytes, well-formed (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static int utf8_sequence(scan_t *sc)
{
    const unsigned char *s = sc->s + sc->pos;
    apr_size_t left = sc->len - sc->pos;
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    apr_size_t n;
    apr_size_t i;

    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    }
    else {
        return fail(sc, "invalid UTF-8");
    }
    if (left < n || s[1] < lo || s[1] > hi) {
        return fail(sc, "invalid UTF-8");
    }
    for (i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return fail(sc, "invalid UTF-8");
        }
    }
    sc->pos += n;
    return 0;
}

static int string(scan_t *sc, int is_key)
{
    sc->pos++;                                  /* the opening quote */
    for (;;) {
        unsigned char c;

        /* The common case: plain ASCII text. */
        while (sc->pos < sc->len && (c = sc->s[sc->pos]) >= 0x20
               && c < 0x80 && c != '"' && c != '\\') {
            sc->pos++;
        }
        if (sc->pos >= sc->len) {
            return fail(sc, "unexpected end of input in a string");
        }
        c = sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return 0;
        }
        if (c == '\\') {
            if (escape(sc, is_key) < 0) {
                return -1;
            }
        }
        else if (c < 0x20) {
            return fail(sc, "a control character in a string");
        }
        else if (utf8_sequence(sc) < 0) {
            return -1;
        }
    }
}

static apr_size_t digits(scan_t *sc)
{
    apr_size_t start = sc->pos;

    while (sc->pos < sc->len && sc->s[sc->pos] >= '0'
           && sc->s[sc->pos] <= '9') {
        sc->pos++;
    }
    return sc->pos - start;
}

/* Whether the integer literal s[0..n) is beyond what json-c holds
 * exactly: int64 below zero, uint64 above. */
static int beyond_64_bits(const unsigned char *s, apr_size_t n)
{
    static const char max_u64[] = "18446744073709551615";
    static const char min_i64[] = "9223372036854775808";
    const char *limit = max_u64;

    if (*s == '-') {
        s++;
        n--;
        limit = min_i64;
    }
    if (n != strlen(limit)) {
        return n > strlen(limit);
    }
    return memcmp(s, limit, n) > 0;
}

static void note_big_integer(scan_t *sc, apr_size_t start)
{
    llm_json_big_t *big;

    if (!sc->pool) {
        return;                 /* the caller does not want them */
    }
    if (!sc->out->big) {
        sc->out->big = apr_array_make(sc->pool, 2, sizeof(llm_json_big_t));
    }
    big = apr_array_push(sc->out->big);
    big->ordinal = sc->ints - 1;
    big->text = (const char *)sc->s + start;
    big->len = sc->pos - start;
}

static int number(scan_t *sc)
{
    apr_size_t start = sc->pos;
    apr_size_t n;
    int integer = 1;

    if (sc->s[sc->pos] == '-') {
        sc->pos++;
    }
    n = digits(sc);
    if (n == 0 || (n > 1 && sc->s[sc->pos - n] == '0')) {
        sc->pos = start;
        return fail(sc, "an invalid number");
    }
    if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
        sc->pos++;
        integer = 0;
        if (!digits(sc)) {
            return fail(sc, "an invalid number");
        }
    }
    if (sc->pos < sc->len && (sc->s[sc->pos] | 0x20) == 'e') {
        sc->pos++;
        integer = 0;
        if (sc->pos < sc->len
            && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-')) {
            sc->pos++;
        }
        if (!digits(sc)) {
            return fail(sc, "an invalid number");
        }
    }
    if (integer) {
        sc->ints++;
        if (sc->pos - start > 18
            && beyond_64_bits(sc->s + start, sc->pos - start)) {
            note_big_integer(sc, start);
        }
    }
    return 0;
}

static int literal(scan_t *sc, const char *word)
{
    apr_size_t n = strlen(word);

    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n)) {
        return fail(sc, "an unexpected character");
    }
    sc->pos += n;
    return 0;
}

/* What a step of the scan leaves: a value complete, a container
 * opened (its elements to come), or an element to read next. */
enum { FAILED = -1, COMPLETE = 0, OPENED = 1, ELEMENT = 2 };

/* A key and its colon, at the start of an object member. */
static int member_key(scan_t *sc)
{
    skip_space(sc);
    if (sc->pos >= sc->len || sc->s[sc->pos] != '"') {
        return fail(sc, sc->pos < sc->len ? "a quoted key expected"
                                          : "unexpected end of input");
    }
    if (string(sc, 1) < 0) {
        return FAILED;
    }
    sc->out->members++;
    skip_space(sc);
    if (sc->pos >= sc->len || sc->s[sc->pos] != ':') {
        return fail(sc, "':' expected after a key");
    }
    sc->pos++;
    return ELEMENT;
}

static int open_container(scan_t *sc, char kind)
{
    if (sc->depth == MAX_DEPTH) {
        return fail(sc, "nested too deeply");
    }
    sc->stack[sc->depth++] = kind;
    sc->pos++;
    if (kind == '{' && ++sc->out->objects > sc->max_objects) {
        sc->pos--;
        return fail(sc, "too many JSON objects");
    }
    return OPENED;
}

static int value(scan_t *sc)
{
    unsigned char c;

    skip_space(sc);
    if (sc->pos >= sc->len) {
        return fail(sc, "unexpected end of input");
    }
    c = sc->s[sc->pos];
    switch (c) {
    case '{': return open_container(sc, '{');
    case '[': return open_container(sc, '[');
    case '"': return string(sc, 0);
    case 't': return literal(sc, "true");
    case 'f': return literal(sc, "false");
    case 'n': return literal(sc, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            return number(sc);
        }
        return fail(sc, "an unexpected character");
    }
}

static int close_container(scan_t *sc)
{
    sc->pos++;
    sc->depth--;
    return COMPLETE;
}

/* Just inside a container: its end at once, or its first element. */
static int first_element(scan_t *sc)
{
    char kind = sc->stack[sc->depth - 1];

    skip_space(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == (kind == '{' ? '}' : ']')) {
        return close_container(sc);
    }
    return kind == '{' ? member_key(sc) : ELEMENT;
}

/* After a complete value inside a container: ',' and the next element,
 * or the container's end. */
static int next_element(scan_t *sc)
{
    char kind = sc->stack[sc->depth - 1];

    skip_space(sc);
    if (sc->pos >= sc->len) {
        return fail(sc, "unexpected end of input");
    }
    if (sc->s[sc->pos] == ',') {
        sc->pos++;
        return kind == '{' ? member_key(sc) : ELEMENT;
    }
    if (sc->s[sc->pos] == (kind == '{' ? '}' : ']')) {
        return close_container(sc);
    }
    return fail(sc, kind == '{' ? "',' or '}' expected"
                                : "',' or ']' expected");
}

/* No recursion: the state is the stack of open containers. */
static int scan(scan_t *sc)
{
    int step = value(sc);

    while (step != FAILED) {
        if (step == OPENED) {
            step = first_element(sc);
        }
        else if (step == ELEMENT) {
            step = value(sc);
        }
        else if (sc->depth) {
            step = next_element(sc);            /* COMPLETE, inside */
        }
        else {
            skip_space(sc);
            return sc->pos < sc->len ? fail(sc, "text after the value") : 0;
        }
    }
    return FAILED;
}

int llm_json_check(apr_pool_t *p, const char *buf, apr_size_t len,
                   apr_size_t max_objects, llm_json_check_t *out)
{
    scan_t sc;

    memset(out, 0, sizeof(*out));
    out->pool = p;
    sc.s = (const unsigned char *)buf;
    sc.len = len;
    sc.pos = 0;
    sc.out = out;
    sc.pool = p;
    sc.ints = 0;
    sc.max_objects = max_objects ? max_objects : (apr_size_t)-1;
    sc.depth = 0;
    return scan(&sc);
}

/* ------------------------------------------------------------------ */
/* After json-c                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    const llm_json_check_t *check;
    apr_size_t members;
    apr_size_t ints;
    int next_big;               /* index into check->big */
} settle_t;

/* An integer json-c saturated, as the client wrote it: json-c writes a
 * double made with its text as that text. */
static json_object *as_written(settle_t *st, json_object *v)
{
    const llm_json_big_t *big;

    if (!st->check->big || st->next_big >= st->check->big->nelts) {
        return NULL;
    }
    big = &APR_ARRAY_IDX(st->check->big, st->next_big, llm_json_big_t);
    if (big->ordinal != st->ints - 1) {
        return NULL;
    }
    st->next_big++;
    return json_object_new_double_s(
        json_object_get_int64(v) < 0 ? -1e300 : 1e300,
        apr_pstrmemdup(st->check->pool, big->text, big->len));
}

static void settle(settle_t *st, json_object *v);

static void settle_object(settle_t *st, json_object *o)
{
    json_object_object_foreach(o, key, val) {
        json_object *big;

        st->members++;
        if (json_object_is_type(val, json_type_int)) {
            st->ints++;
            if ((big = as_written(st, val)) != NULL) {
                json_object_object_add(o, key, big);
            }
        }
        else {
            settle(st, val);
        }
    }
}

static void settle_array(settle_t *st, json_object *a)
{
    size_t i;
    size_t n = json_object_array_length(a);

    for (i = 0; i < n; i++) {
        json_object *val = json_object_array_get_idx(a, i);
        json_object *big;

        if (json_object_is_type(val, json_type_int)) {
            st->ints++;
            if ((big = as_written(st, val)) != NULL) {
                json_object_array_put_idx(a, i, big);
            }
        }
        else {
            settle(st, val);
        }
    }
}

static void settle(settle_t *st, json_object *v)
{
    if (json_object_is_type(v, json_type_object)) {
        settle_object(st, v);
    }
    else if (json_object_is_type(v, json_type_array)) {
        settle_array(st, v);
    }
}

int llm_json_settle(json_object *root, const llm_json_check_t *check)
{
    settle_t st = { check, 0, 0, 0 };

    if (json_object_is_type(root, json_type_int)) {
        return 0;               /* a bare number: nothing to forward */
    }
    settle(&st, root);
    return st.members == check->members ? 0 : -1;
}

json_object *llm_json_parse_strict(apr_pool_t *p, const char *buf,
                                   apr_size_t len, apr_size_t max_objects,
                                   llm_json_check_t *check)
{
    json_object *o;

    if (llm_json_check(p, buf, len, max_objects, check) < 0) {
        return NULL;
    }
    /* After the check, only memory can make json-c fail. */
    if (!(o = llm_json_parse(buf, len))) {
        check->offset = 0;
        check->reason = "json-c could not parse it";
        return NULL;
    }
    if (llm_json_settle(o, check) < 0) {
        json_object_put(o);
        check->repeated_key = 1;
        return NULL;
    }
    return o;
}
