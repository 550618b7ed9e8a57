/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* json-c helpers for every module (llm_json.h). */

#include <locale.h>
#include <pthread.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "llm_json.h"

int llm_json_is(json_object *v, json_type t)
{
    return v && json_object_is_type(v, t);
}

json_object *llm_json_get(json_object *o, const char *key)
{
    json_object *v = NULL;

    if (!o || !json_object_is_type(o, json_type_object)
        || !json_object_object_get_ex(o, key, &v)) {
        return NULL;
    }
    return v;                   /* NULL for a JSON null too */
}

json_object *llm_json_first(json_object *array)
{
    if (!array || !json_object_is_type(array, json_type_array)
        || json_object_array_length(array) == 0) {
        return NULL;
    }
    return json_object_array_get_idx(array, 0);
}

const char *llm_json_str(json_object *o, const char *key, apr_size_t *len)
{
    json_object *v = llm_json_get(o, key);

    if (!v || !json_object_is_type(v, json_type_string)) {
        if (len) {
            *len = 0;
        }
        return NULL;
    }
    if (len) {
        *len = (apr_size_t)json_object_get_string_len(v);
    }
    return json_object_get_string(v);
}

const char *llm_json_name(json_object *v)
{
    const char *s;

    if (!llm_json_is(v, json_type_string)) {
        return NULL;
    }
    s = json_object_get_string(v);
    return *s && strlen(s) == (size_t)json_object_get_string_len(v) ? s
                                                                    : NULL;
}

apr_int64_t llm_json_int(json_object *o, const char *key)
{
    json_object *v = llm_json_get(o, key);
    apr_int64_t n;

    if (!v || !(json_object_is_type(v, json_type_int)
                || json_object_is_type(v, json_type_double))) {
        return -1;
    }
    n = json_object_get_int64(v);
    return n < 0 ? -1 : n;
}

/* json_tokener_new() callocs its parse stack (~1.3 KiB, 32 levels): a
 * request that large makes glibc's malloc consolidate every small chunk
 * freed since the last one, and json-c frees many (a node per value).
 * Two parses per proxied request paid that, a few per cent of its CPU.
 * Instead each thread keeps the tokener of its last parse for the next
 * one; take/give pairs make a tokener held across calls (an answer
 * parsed as it flows) safe: the next parse simply gets a new one. */
static pthread_key_t tok_key;
static pthread_once_t tok_once = PTHREAD_ONCE_INIT;
static int tok_key_ok;

static void free_tokener(void *tok)
{
    json_tokener_free(tok);
}

static void make_tok_key(void)
{
    tok_key_ok = pthread_key_create(&tok_key, free_tokener) == 0;
}

/* The tokener collects each string (and number) in its printbuf, which
 * grows to the longest and never shrinks: kept for the thread, a body
 * with one 5 MB string left 5 MB in every thread that parsed one (a
 * child kept 96 MB after 20 of them). A tokener whose buffer grew past
 * what small parses need is freed instead. (json-c has no accessor for
 * it; the struct is public in 0.13-0.18.) */
#define TOKENER_KEEP_MAX (64 * 1024)

static int tokener_grew(const json_tokener *tok)
{
    return tok->pb && tok->pb->size > TOKENER_KEEP_MAX;
}

json_tokener *llm_json_tokener_take(void)
{
    json_tokener *tok;

    pthread_once(&tok_once, make_tok_key);
    if (tok_key_ok && (tok = pthread_getspecific(tok_key)) != NULL) {
        pthread_setspecific(tok_key, NULL);
        return tok;
    }
    return json_tokener_new();
}

void llm_json_tokener_give(json_tokener *tok)
{
    if (!tok) {
        return;
    }
    /* json-c 0.16's reset() does not clear a UTF-16 high surrogate that
     * a parse cut short was holding: kept, it would put a U+FFFD into
     * the next parse on this thread. Only a tokener whose parse ended
     * well is kept (found by fuzz_event, t/unit/test_fuzz_regress.c). */
    if (json_tokener_get_error(tok) != json_tokener_success
        || tokener_grew(tok)) {
        json_tokener_free(tok);
        return;
    }
    json_tokener_reset(tok);
    if (tok_key_ok && !pthread_getspecific(tok_key)
        && pthread_setspecific(tok_key, tok) == 0) {
        return;
    }
    json_tokener_free(tok);
}

/* json-c switches to the "C" numeric locale around every parse by
 * duplicating the current locale, which takes glibc's process-wide
 * locale lock. When the thread already runs on the static "C" locale
 * object, both calls return that object without locking or allocating,
 * so we swap it in (uselocale() is a thread-local pointer swap). */
json_object *llm_json_parse_ex(json_tokener *tok, const char *buf,
                               apr_size_t len)
{
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
    json_object *obj = json_tokener_parse_ex(tok, buf, (int)len);

    if (c_locale) {
        uselocale(old);
        freelocale(c_locale);
    }
    return obj;
}

json_object *llm_json_parse_prefix(const char *buf, apr_size_t len,
                                   apr_size_t *end)
{
    json_tokener *tok;
    json_object *obj;

    *end = 0;
    if (len > (apr_size_t)INT32_MAX || !(tok = llm_json_tokener_take())) {
        return NULL;
    }
    obj = llm_json_parse_ex(tok, buf, len);
    if (obj && json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(obj);
        obj = NULL;
    }
    *end = obj ? json_tokener_get_parse_end(tok) : 0;
    llm_json_tokener_give(tok);
    return obj;
}

json_object *llm_json_parse(const char *buf, apr_size_t len)
{
    apr_size_t end;
    json_object *obj = llm_json_parse_prefix(buf, len, &end);

    while (obj && end < len && apr_isspace(buf[end])) {
        end++;
    }
    if (obj && end < len) {
        json_object_put(obj);   /* text after the value */
        obj = NULL;
    }
    return obj;
}

json_object *llm_json_string(const char *s)
{
    return json_object_new_string(s ? s : "");
}

json_object *llm_json_strn(const char *s, apr_size_t len)
{
    return json_object_new_string_len(s ? s : "", s ? (int)len : 0);
}

/* Tool-call arguments as an object, for the dialects that carry them
 * as one (Anthropic's input, Ollama's arguments). Arguments that are
 * not a JSON object become {}: those dialects cannot carry anything
 * else. */
json_object *llm_json_args(const char *args)
{
    llm_json_check_t check;
    json_object *o = args ? llm_json_parse_strict(NULL, args, strlen(args),
                                                  0, &check)
                          : NULL;

    /* Strictly JSON, as the door checks a body: json-c also takes
     * {"x":00.5} and writes the number back as it came, which would
     * make the body sent on not JSON (found by fuzz_event). */
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        o = NULL;
    }
    return o ? o : json_object_new_object();
}

/* What the servers write: compact, "/" as is, UTF-8 as is. The string
 * belongs to @a o. */
const char *llm_json_dump(json_object *o, apr_size_t *len)
{
    size_t n = 0;
    const char *s = json_object_to_json_string_length(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

    *len = n;
    return s;
}


void llm_json_add(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static apr_status_t put_json(void *obj)
{
    json_object_put(obj);
    return APR_SUCCESS;
}

void llm_json_own(apr_pool_t *p, json_object *o)
{
    if (o) {
        apr_pool_cleanup_register(p, o, put_json, apr_pool_cleanup_null);
    }
}

const char *llm_json_quote(apr_pool_t *p, const char *s)
{
    json_object *js = json_object_new_string(s ? s : "");
    const char *q = apr_pstrdup(p, json_object_to_json_string_ext(
                                    js, JSON_C_TO_STRING_PLAIN
                                        | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(js);
    return q;
}
