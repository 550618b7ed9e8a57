/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What the fuzz targets of the core (fuzz_request.c, fuzz_xlate.c,
 * fuzz_event.c, fuzz_models.c) share: how a broken property is reported,
 * a JSON check, the routes a body may be sent to, and a provider of each
 * api_type. Each target defines FUZZ_NAME before including it.
 */

#ifndef LLM_FUZZ_H
#define LLM_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#include <json-c/json.h>

#include "mod_llm.h"
#include "llm_builtin.h"
#include "llm_request.h"

#ifndef FUZZ_NAME
#error "define FUZZ_NAME before including fuzz.h"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input being run, for the report of a broken property. */
static const uint8_t *fuzz_input;
static size_t fuzz_input_len;

/* ------------------------------------------------------------------ */
/* Reporting                                                           */
/* ------------------------------------------------------------------ */

static inline void fuzz_dump(const char *label, const char *s, size_t len)
{
    size_t i;

    fprintf(stderr, "  %s (%lu bytes): \"", label, (unsigned long)len);
    for (i = 0; s && i < len && i < 2048; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            fprintf(stderr, "\\%c", c);
        }
        else if (c >= 0x20 && c < 0x7f) {
            fputc(c, stderr);
        }
        else {
            fprintf(stderr, "\\x%02x", c);
        }
    }
    fprintf(stderr, "%s\"\n", len > 2048 ? "..." : "");
}

/* A property does not hold: say which, on what, and abort() so that
 * libFuzzer (or the replayer) keeps the input as a crash file. */
static inline void fuzz_fail(const char *what, const char *got, size_t got_len)
{
    fprintf(stderr, "%s: %s\n", FUZZ_NAME, what);
    fuzz_dump("input", (const char *)fuzz_input, fuzz_input_len);
    if (got) {
        fuzz_dump("got", got, got_len);
    }
    abort();
}

#define FUZZ_CHECK(cond, what) \
    do { if (!(cond)) fuzz_fail((what), NULL, 0); } while (0)
#define FUZZ_CHECK_TEXT(cond, what, s) \
    do { \
        if (!(cond)) { \
            const char *fz_s_ = (s); \
            fuzz_fail((what), fz_s_, fz_s_ ? strlen(fz_s_) : 0); \
        } \
    } while (0)

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/* RFC 8259's grammar, which json-c does not hold to even when told to be
 * strict (it takes NaN, Infinity, "1." and control characters in
 * strings): a recursive descent over @a s, nesting at most 64 deep
 * (json-c's own limit is 32). */
typedef struct {
    const char *s;
    size_t at, len;
    int depth;
} fuzz_rfc_t;

static inline void fuzz_rfc_ws(fuzz_rfc_t *r)
{
    while (r->at < r->len && strchr(" \t\r\n", r->s[r->at]) && r->s[r->at]) {
        r->at++;
    }
}

static inline int fuzz_rfc_lit(fuzz_rfc_t *r, const char *lit)
{
    size_t n = strlen(lit);

    if (r->len - r->at < n || memcmp(r->s + r->at, lit, n)) {
        return 0;
    }
    r->at += n;
    return 1;
}

static inline int fuzz_rfc_digits(fuzz_rfc_t *r)
{
    size_t from = r->at;

    while (r->at < r->len && r->s[r->at] >= '0' && r->s[r->at] <= '9') {
        r->at++;
    }
    return r->at > from;
}

static inline int fuzz_rfc_number(fuzz_rfc_t *r)
{
    if (r->at < r->len && r->s[r->at] == '-') {
        r->at++;
    }
    if (r->at < r->len && r->s[r->at] == '0') {
        r->at++;
    }
    else if (!fuzz_rfc_digits(r)) {
        return 0;
    }
    if (r->at < r->len && r->s[r->at] == '.') {
        r->at++;
        if (!fuzz_rfc_digits(r)) {
            return 0;
        }
    }
    if (r->at < r->len && (r->s[r->at] == 'e' || r->s[r->at] == 'E')) {
        r->at++;
        if (r->at < r->len && (r->s[r->at] == '+' || r->s[r->at] == '-')) {
            r->at++;
        }
        return fuzz_rfc_digits(r);
    }
    return 1;
}

static inline int fuzz_rfc_string(fuzz_rfc_t *r)
{
    int i;

    r->at++;                                    /* the quote */
    while (r->at < r->len) {
        unsigned char c = (unsigned char)r->s[r->at++];

        if (c == '"') {
            return 1;
        }
        if (c < 0x20) {
            return 0;
        }
        if (c != '\\') {
            continue;
        }
        if (r->at >= r->len) {
            return 0;
        }
        c = (unsigned char)r->s[r->at++];
        if (c == 'u') {
            for (i = 0; i < 4; i++, r->at++) {
                if (r->at >= r->len || !strchr("0123456789abcdefABCDEF",
                                               r->s[r->at])
                    || !r->s[r->at]) {
                    return 0;
                }
            }
        }
        else if (!strchr("\"\\/bfnrt", c) || !c) {
            return 0;
        }
    }
    return 0;
}

static inline int fuzz_rfc_value(fuzz_rfc_t *r)
{
    int first = 1;
    char close;

    fuzz_rfc_ws(r);
    if (r->at >= r->len) {
        return 0;
    }
    switch (r->s[r->at]) {
    case '"':
        return fuzz_rfc_string(r);
    case 't':
        return fuzz_rfc_lit(r, "true");
    case 'f':
        return fuzz_rfc_lit(r, "false");
    case 'n':
        return fuzz_rfc_lit(r, "null");
    case '{':
    case '[':
        break;
    default:
        return fuzz_rfc_number(r);
    }
    close = r->s[r->at] == '{' ? '}' : ']';
    if (++r->depth > 64) {
        return 0;
    }
    r->at++;
    fuzz_rfc_ws(r);
    while (r->at < r->len && r->s[r->at] != close) {
        if (!first) {
            if (r->s[r->at] != ',') {
                return 0;
            }
            r->at++;
            fuzz_rfc_ws(r);
        }
        first = 0;
        if (close == '}') {
            if (r->at >= r->len || r->s[r->at] != '"' || !fuzz_rfc_string(r)) {
                return 0;
            }
            fuzz_rfc_ws(r);
            if (r->at >= r->len || r->s[r->at] != ':') {
                return 0;
            }
            r->at++;
        }
        if (!fuzz_rfc_value(r)) {
            return 0;
        }
        fuzz_rfc_ws(r);
    }
    if (r->at >= r->len) {
        return 0;
    }
    r->at++;
    r->depth--;
    return 1;
}

/* True when @a s is one JSON value (RFC 8259) with nothing but white
 * space around it. */
static inline int fuzz_rfc_json(const char *s, size_t len)
{
    fuzz_rfc_t r = { s, 0, len, 0 };

    if (!fuzz_rfc_value(&r)) {
        return 0;
    }
    fuzz_rfc_ws(&r);
    return r.at == len;
}

/* @a s is one JSON value and nothing but white space after it; with
 * @a strict, JSON as RFC 8259 says (json-c also takes NaN, single
 * quotes, comments...). Returns the value (caller puts it). */
static inline json_object *fuzz_json(const char *s, size_t len, int strict)
{
    json_tokener *tok;
    json_object *v;
    size_t end;

    if (strict && !fuzz_rfc_json(s, len)) {
        return NULL;
    }
    if (!(tok = json_tokener_new())) {
        abort();
    }
    v = json_tokener_parse_ex(tok, s, (int)len);
    if (v && json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(v);
        v = NULL;
    }
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    while (v && end < len && strchr(" \t\r\n", s[end]) && s[end]) {
        end++;
    }
    if (v && end < len) {
        json_object_put(v);
        v = NULL;
    }
    return v;
}

/* True when @a s (NUL-terminated) is a JSON object. */
static inline int fuzz_is_object(const char *s, int strict)
{
    json_object *v = s ? fuzz_json(s, strlen(s), strict) : NULL;
    int yes = json_object_is_type(v, json_type_object);

    json_object_put(v);
    return yes;
}

/* @a o serialised the way the core sends bodies, copied into @a p. */
static inline const char *fuzz_text(apr_pool_t *p, json_object *o)
{
    return apr_pstrdup(p, json_object_to_json_string_ext(
                              o, JSON_C_TO_STRING_PLAIN
                                 | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ------------------------------------------------------------------ */
/* Routes and providers                                                */
/* ------------------------------------------------------------------ */

#define FUZZ_PREFIX "/api"

/* Every route that takes a body, under the prefix "/api"; the first
 * byte of an input picks one (t/fuzz/seeds names them by index). */
static const char *const fuzz_routes[] = {
    "/v1/chat/completions",                     /*  0 */
    "/v1/completions",                          /*  1 */
    "/v1/embeddings",                           /*  2 */
    "/api/embeddings",                          /*  3 OpenAI or legacy */
    "/v1/responses",                            /*  4 */
    "/api/chat",                                /*  5 */
    "/api/generate",                            /*  6 */
    "/api/embed",                               /*  7 */
    "/api/v0/chat/completions",                 /*  8 */
    "/api/v0/completions",                      /*  9 */
    "/api/v0/embeddings",                       /* 10 */
    "/v1/messages",                             /* 11 */
    "/api/show",                                /* 12 */
    "/api/fast_text_mask",                      /* 13 */
    "/api/conversation_with_model",             /* 14 */
    "/api/extended_conversation_with_model",    /* 15 */
    "/api/generate_questions",                  /* 16 */
    "/api/translate",                           /* 17 */
    "/api/simplify_text",                       /* 18 */
    "/api/generate_article_from_text",          /* 19 */
    "/api/create_full_article_from_texts",      /* 20 */
    "/api/generative_answer",                   /* 21 */
};

#define FUZZ_N_ROUTES (sizeof(fuzz_routes) / sizeof(fuzz_routes[0]))

static inline const llm_endpoint_t *fuzz_endpoint(uint8_t selector)
{
    const char *path = fuzz_routes[selector % FUZZ_N_ROUTES];
    const llm_endpoint_t *e = llm_endpoint_find(FUZZ_PREFIX, path);

    if (!e) {
        fprintf(stderr, "%s: no endpoint for %s\n", FUZZ_NAME, path);
        abort();
    }
    return e;
}

/* A provider of @a type as the models file would give it, and the
 * model it serves. */
typedef struct {
    llm_provider_t provider;
    llm_provider_stats_t stats;
    llm_model_t model;
} fuzz_provider_t;

static inline void fuzz_provider(fuzz_provider_t *f, llm_api_type_e type,
                          int tool_calling, const char *model_path)
{
    memset(f, 0, sizeof(*f));
    f->provider.id = "fuzz";
    f->provider.api_host = type == LLM_API_OPENAI ? "http://127.0.0.1:9/v1"
                                                  : "http://127.0.0.1:9";
    f->provider.origin = "http://127.0.0.1:9/";
    f->provider.api_type = type;
    f->provider.api_token = "";
    f->provider.model_path = model_path;
    f->provider.weight = 1.0;
    f->provider.tool_calling = tool_calling;
    f->provider.stats = &f->stats;
    f->model.name = "fuzz-model";
    f->model.group = "fuzz";
}

/* ------------------------------------------------------------------ */
/* The run's pool and the prompt library                               */
/* ------------------------------------------------------------------ */

/* Made at the first input, destroyed at exit so that LeakSanitizer
 * finds nothing. */
static apr_pool_t *fuzz_root;

static void fuzz_root_destroy(void)
{
    apr_pool_destroy(fuzz_root);
    fuzz_root = NULL;
    apr_terminate();
}

/* 1 the first time it is called (the target then sets up the rest). */
static inline int fuzz_start(void)
{
    if (fuzz_root) {
        return 0;
    }
    apr_initialize();
    if (apr_pool_create(&fuzz_root, NULL) != APR_SUCCESS) {
        abort();
    }
    atexit(fuzz_root_destroy);
    return 1;
}

/* The input in a buffer of exactly its length (free() it): no NUL after
 * it, so that ASan sees a parser read past the end. Also records it for
 * fuzz_dump. */
static inline char *fuzz_exact_copy(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);

    if (!buf) {
        abort();
    }
    if (size) {                 /* an empty input's data may be NULL */
        memcpy(buf, data, size);
    }
    fuzz_input = data;
    fuzz_input_len = size;
    return buf;
}

/* The built-ins' prompts (t/fuzz/run runs from the repository's root),
 * or NULL: built-ins are then not built. */
static inline llm_prompts_t *fuzz_prompts(void)
{
    llm_prompts_t *prompts = NULL;
    const char *err = NULL;

    if (llm_prompts_load(fuzz_root, "prompts", &prompts, &err)
        != APR_SUCCESS) {
        fprintf(stderr, "%s: prompts/: %s; built-ins are not built\n",
                FUZZ_NAME, err ? err : "?");
        return NULL;
    }
    return prompts;
}

#endif /* LLM_FUZZ_H */
