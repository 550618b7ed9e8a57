/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_json.h
 * @brief The one place for json-c helpers: parsing in the "C" locale
 *        with a per-thread tokener, lookups that read as the documents
 *        they decode, small builders, and ownership by a pool.
 *
 * APR and json-c only (unit-tested in t/unit/test_json.c). Every module
 * and every core file parses and builds JSON through these, never with
 * its own copy.
 */

#ifndef LLM_JSON_H
#define LLM_JSON_H

#include "apr_pools.h"
#include "apr_tables.h"

#include <json-c/json.h>

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

/** A json-c tokener for one parse (reset, default depth), and its
 *  return: each thread keeps one for its next parse, sparing json-c's
 *  allocation of a parse stack per parse. */
json_tokener *llm_json_tokener_take(void);
void llm_json_tokener_give(json_tokener *tok);

/** json_tokener_parse_ex() on the thread's "C" locale: json-c otherwise
 *  duplicates the current locale around each parse, which takes
 *  glibc's process-wide locale lock (a global lock per request). Feed
 *  a value in pieces by calling it again with the same @a tok. */
json_object *llm_json_parse_ex(json_tokener *tok, const char *buf,
                               apr_size_t len);

/** One whole JSON text (white space around it allowed); NULL when
 *  @a buf is not exactly one value. */
json_object *llm_json_parse(const char *buf, apr_size_t len);

/** The JSON value at the start of @a buf (NULL: none), and in @a end
 *  where it ends: what follows is not read. */
json_object *llm_json_parse_prefix(const char *buf, apr_size_t len,
                                   apr_size_t *end);

/* ------------------------------------------------------------------ */
/* Strict JSON at the door (llm_json_check.c)                          */
/* ------------------------------------------------------------------ */

/** An integer literal json-c cannot hold exactly (beyond 64 bits). */
typedef struct {
    apr_size_t ordinal;         /**< among the text's integer literals */
    const char *text;           /**< in the checked buffer */
    apr_size_t len;
} llm_json_big_t;

typedef struct {
    apr_pool_t *pool;
    apr_size_t offset;          /**< of the first error */
    const char *reason;         /**< what is wrong there (static) */
    apr_size_t members;         /**< object members in the text */
    apr_size_t objects;         /**< objects in the text */
    apr_array_header_t *big;    /**< llm_json_big_t, or NULL: none */
    int repeated_key;           /**< llm_json_parse_strict: the text
                                     passed, but an object repeats a key */
} llm_json_check_t;

/** Whether @a buf is exactly one JSON text by RFC 8259 (white space
 *  around it allowed), in one linear pass: no NaN, Infinity, comments,
 *  single quotes, trailing commas or leading zeros; UTF-8 well-formed;
 *  no lone surrogate escapes; no NUL in a key; nesting within json-c's
 *  31 levels; at most @a max_objects objects (0: no limit), since
 *  json-c spends about 1 KiB on each. 0, or -1 with @a out->offset and
 *  @a out->reason set. */
int llm_json_check(apr_pool_t *p, const char *buf, apr_size_t len,
                   apr_size_t max_objects, llm_json_check_t *out);

/* @a p NULL: integers beyond 64 bits are not noted (llm_json_settle
 * then only finds repeated keys). */

/** After json-c parsed a text that passed llm_json_check: put back the
 *  integers beyond 64 bits as the client wrote them (json-c saturates
 *  them), and say whether a key was repeated in an object (json-c keeps
 *  one value: -1), which a strict reader refuses, since the gateway and
 *  a provider could read different values. */
int llm_json_settle(json_object *root, const llm_json_check_t *check);

/** The one strict parse of the suite, for every body and file it reads
 *  from outside: llm_json_check, then json-c, then llm_json_settle. The
 *  value, or NULL with @a check saying why: offset and reason, or
 *  repeated_key set (a key repeated in an object). */
json_object *llm_json_parse_strict(apr_pool_t *p, const char *buf,
                                   apr_size_t len, apr_size_t max_objects,
                                   llm_json_check_t *check);

/* ------------------------------------------------------------------ */
/* Lookups: NULL/-1 for absent, null or mistyped values                */
/* ------------------------------------------------------------------ */

/** Whether @a v is a value (not NULL) of type @a t. */
int llm_json_is(json_object *v, json_type t);
json_object *llm_json_get(json_object *o, const char *key);
json_object *llm_json_first(json_object *array);
/** The string member @a key (and its length in @a len when not NULL). */
const char *llm_json_str(json_object *o, const char *key, apr_size_t *len);
/** @a v's text when it is a non-empty string without NUL, as names
 *  (a model, a language) must be: a C string would end at the NUL. */
const char *llm_json_name(json_object *v);
/** A non-negative integer member, or -1. */
apr_int64_t llm_json_int(json_object *o, const char *key);

/* ------------------------------------------------------------------ */
/* Building and writing                                                */
/* ------------------------------------------------------------------ */

/** A string value; NULL makes "". */
json_object *llm_json_string(const char *s);
json_object *llm_json_strn(const char *s, apr_size_t len);
/** Set member @a key of @a o to @a v (which @a o then owns). */
void llm_json_add(json_object *o, const char *key, json_object *v);
/** Tool-call arguments (a JSON text) as an object; anything that is not
 *  an object becomes {}. */
json_object *llm_json_args(const char *args);
/** Compact, "/" unescaped, UTF-8 as is, as the servers write. The
 *  string belongs to @a o. */
const char *llm_json_dump(json_object *o, apr_size_t *len);

/** A JSON string literal (with its quotes) for @a s, in @a p. */
const char *llm_json_quote(apr_pool_t *p, const char *s);

/** Release @a o (one reference) when @a p is cleared or destroyed. */
void llm_json_own(apr_pool_t *p, json_object *o);

#endif /* LLM_JSON_H */
