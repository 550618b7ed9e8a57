/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The usage of a whole answer, without the answer's tree where it can be
 * avoided.
 *
 * When the client speaks the provider's dialect the answer passes
 * unchanged and only its usage is read. Running json-c over all of it
 * builds a node per value and frees each again for four numbers: on a
 * small chat answer that was a third of the gateway's own instructions
 * per request. A whole OpenAI chat or completion answer is instead
 * scanned once as strict JSON (RFC 8259) for its top-level members, and
 * only those the OpenAI decoder's usage depends on are parsed: "error"
 * and "object" (an upstream error has no usage), "usage", and of
 * "choices" only whether it has a first choice (an answer without one is
 * not an answer); the decoder then runs on that small object. Its text,
 * tool and finish events cannot stop it (the callback here never fails),
 * so what a choice holds does not change the usage.
 *
 * Whatever the strict scan does not accept (json-c's extensions:
 * comments, single quotes, NaN, trailing commas; escaped keys; deep
 * nesting; a truncated answer) and every other wire go to json-c as
 * before, so the result is always the decoder's own.
 */

#include <string.h>

#include "apr_lib.h"

#define LLM_EVENT_PRIVATE
#include "llm_event.h"

/* Deeper than this the scan gives up (json-c stops at 32 levels). */
#define SCAN_DEPTH 16

typedef struct {
    const char *p;
    const char *end;
    int depth;
} scan_t;

/* A top-level member the usage depends on: where its value is. */
typedef struct {
    const char *name;
    apr_size_t name_len;
    const char *val;
    apr_size_t val_len;
} member_t;

static void skip_ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t'
                             || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

/* A string, at its opening quote; *escaped tells whether it had an
 * escape (a key spelt with one is left to json-c). */
static int scan_string(scan_t *s, int *escaped)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p++;

        if (c == '"') {
            return 0;
        }
        if (c < 0x20) {
            return -1;
        }
        if (c != '\\') {
            continue;
        }
        if (s->p >= s->end) {
            return -1;
        }
        *escaped = 1;
        c = (unsigned char)*s->p++;
        if (c == 'u') {
            int i;

            for (i = 0; i < 4; i++, s->p++) {
                if (s->p >= s->end || !apr_isxdigit(*s->p)) {
                    return -1;
                }
            }
        }
        else if (!c || !strchr("\"\\/bfnrt", c)) {
            return -1;
        }
    }
    return -1;
}

static int scan_digits(scan_t *s)
{
    const char *start = s->p;

    while (s->p < s->end && apr_isdigit(*s->p)) {
        s->p++;
    }
    return s->p > start ? 0 : -1;
}

static int scan_number(scan_t *s)
{
    if (*s->p == '-') {
        s->p++;
    }
    if (s->p < s->end && *s->p == '0') {
        s->p++;
    }
    else if (scan_digits(s) < 0) {
        return -1;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (scan_digits(s) < 0) {
            return -1;
        }
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }
        return scan_digits(s);
    }
    return 0;
}

static int scan_word(scan_t *s, const char *word, apr_size_t len)
{
    if ((apr_size_t)(s->end - s->p) < len || memcmp(s->p, word, len)) {
        return -1;
    }
    s->p += len;
    return 0;
}

static int scan_value(scan_t *s);

/* An object or an array, at its opening bracket. */
static int scan_container(scan_t *s, char close)
{
    int escaped = 0;

    if (++s->depth > SCAN_DEPTH) {
        return -1;
    }
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (close == '}') {
            if (s->p >= s->end || *s->p != '"'
                || scan_string(s, &escaped) < 0) {
                return -1;
            }
            skip_ws(s);
            if (s->p >= s->end || *s->p++ != ':') {
                return -1;
            }
            skip_ws(s);
        }
        if (scan_value(s) < 0) {
            return -1;
        }
        skip_ws(s);
        if (s->p >= s->end) {
            return -1;
        }
        if (*s->p == close) {
            s->p++;
            s->depth--;
            return 0;
        }
        if (*s->p++ != ',') {
            return -1;
        }
        skip_ws(s);
    }
}

static int scan_value(scan_t *s)
{
    int escaped = 0;

    if (s->p >= s->end) {
        return -1;
    }
    switch (*s->p) {
    case '{': return scan_container(s, '}');
    case '[': return scan_container(s, ']');
    case '"': return scan_string(s, &escaped);
    case 't': return scan_word(s, "true", 4);
    case 'f': return scan_word(s, "false", 5);
    case 'n': return scan_word(s, "null", 4);
    default:
        return (*s->p == '-' || apr_isdigit(*s->p)) ? scan_number(s) : -1;
    }
}

/* The top-level object's members named in @a m (the last of a name
 * wins, as in json-c). 0, or -1 when the scan gives up. */
static int scan_members(const char *buf, apr_size_t len, member_t *m, int n)
{
    scan_t s;
    int i;

    s.p = buf;
    s.end = buf + len;
    s.depth = 1;
    skip_ws(&s);
    if (s.p >= s.end || *s.p++ != '{') {
        return -1;
    }
    skip_ws(&s);
    if (s.p < s.end && *s.p == '}') {
        return 0;
    }
    for (;;) {
        const char *key = s.p + 1;
        const char *val;
        apr_size_t klen;
        int escaped = 0;

        if (s.p >= s.end || *s.p != '"' || scan_string(&s, &escaped) < 0
            || escaped) {
            return -1;
        }
        klen = (apr_size_t)(s.p - 1 - key);
        skip_ws(&s);
        if (s.p >= s.end || *s.p++ != ':') {
            return -1;
        }
        skip_ws(&s);
        val = s.p;
        if (scan_value(&s) < 0) {
            return -1;
        }
        for (i = 0; i < n; i++) {
            if (klen == m[i].name_len && !memcmp(key, m[i].name, klen)) {
                m[i].val = val;
                m[i].val_len = (apr_size_t)(s.p - val);
            }
        }
        skip_ws(&s);
        if (s.p < s.end && *s.p == '}') {
            return 0;           /* what follows the value is not read */
        }
        if (s.p >= s.end || *s.p++ != ',') {
            return -1;
        }
        skip_ws(&s);
    }
}

/* json-c's value of a span the scan accepted (so json-c does too). */
static json_object *parse_span(const member_t *m)
{
    return m->val ? llm_json_parse(m->val, m->val_len) : NULL;
}

/* "choices" as far as the decoder's usage goes: empty, a null first
 * choice, or some first choice (an empty object stands in for it). */
static json_object *choices_stand_in(const member_t *m)
{
    scan_t s;
    json_object *a;

    if (!m->val || *m->val != '[') {
        return parse_span(m);   /* not an array: as it is */
    }
    s.p = m->val + 1;
    s.end = m->val + m->val_len;
    skip_ws(&s);
    a = json_object_new_array();
    if (*s.p == ']') {
        return a;
    }
    json_object_array_add(a, *s.p == 'n' ? NULL : json_object_new_object());
    return a;
}

static void add_member(json_object *o, const char *name, json_object *v)
{
    if (v) {
        json_object_object_add(o, name, v);
    }
}

/* The small object an OpenAI answer's usage depends on, or NULL when
 * the strict scan gave up. */
static json_object *openai_skeleton(const char *buf, apr_size_t len)
{
    member_t m[4] = {
        { "error", 5, NULL, 0 }, { "object", 6, NULL, 0 },
        { "choices", 7, NULL, 0 }, { "usage", 5, NULL, 0 }
    };
    json_object *o;

    if (scan_members(buf, len, m, 4) < 0) {
        return NULL;
    }
    o = json_object_new_object();
    add_member(o, "error", parse_span(&m[0]));
    add_member(o, "object", parse_span(&m[1]));
    if (m[2].val) {
        /* A JSON null member stays a member whose value is NULL. */
        json_object_object_add(o, "choices", choices_stand_in(&m[2]));
    }
    add_member(o, "usage", parse_span(&m[3]));
    return o;
}

/* The whole value at the start of @a buf, as the incremental json-c
 * parse of an answer as it flows sees it: what follows is not read. */
static json_object *parse_prefix(const char *buf, apr_size_t len)
{
    apr_size_t end;

    return llm_json_parse_prefix(buf, len, &end);
}

typedef struct {
    llm_usage_t *usage;
    int found;
} usage_baton_t;

static apr_status_t take_usage(void *baton, const llm_event_t *ev)
{
    usage_baton_t *b = baton;

    if (ev->type == LLM_EV_USAGE) {
        *b->usage = ev->usage;
        b->found = 1;
    }
    return APR_SUCCESS;
}

int llm_answer_usage(apr_pool_t *p, llm_wire_e wire, const char *buf,
                     apr_size_t len, llm_usage_t *usage)
{
    usage_baton_t b;
    json_object *o = NULL;

    b.usage = usage;
    b.found = 0;
    if (wire == LLM_WIRE_OPENAI_CHAT || wire == LLM_WIRE_LMSTUDIO_CHAT
        || wire == LLM_WIRE_OPENAI_COMPLETION) {
        o = openai_skeleton(buf, len);
    }
    if (!o && !(o = parse_prefix(buf, len))) {
        return 0;               /* not JSON: nothing to learn */
    }
    llm_decode_object(p, wire, o, take_usage, &b);
    json_object_put(o);
    return b.found;
}
