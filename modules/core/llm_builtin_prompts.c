/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The prompt library of the built-in endpoints: "*.prompt" files read
 * once at start-up, looked up by their relative path.
 */

#include <string.h>
#include <stdlib.h>

#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_file_info.h"
#include "apr_hash.h"
#include "apr_lib.h"

#include "llm_buf.h"
#include "llm_builtin.h"

#define PROMPT_EXT ".prompt"
#define SYSTEM_DIR "builtin/system/"

struct llm_prompts {
    apr_hash_t *by_key;        /* key -> const char * text */
};

/* Length of the valid UTF-8 sequence at @a s (at most @a n bytes), 0 if
 * it is not one: overlong forms, surrogates and code points above
 * U+10FFFF are refused, as Python's decoder refuses them. */
static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n)
{
    apr_size_t len;
    apr_uint32_t cp;
    apr_size_t i;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    }
    else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return len;
}

/* The offset of the first byte that is not UTF-8, or -1. NUL bytes are
 * refused too: a prompt is text. */
static apr_ssize_t utf8_invalid_at(const char *buf, apr_size_t len)
{
    const unsigned char *s = (const unsigned char *)buf;
    apr_size_t i = 0;

    while (i < len) {
        apr_size_t n = s[i] ? utf8_seq(s + i, len - i) : 0;

        if (!n) {
            return (apr_ssize_t)i;
        }
        i += n;
    }
    return -1;
}

/* A prompt is text for a model's context: far below this. */
#define PROMPT_MAX (1024 * 1024)

static apr_status_t read_prompt(apr_pool_t *p, const char *path,
                                const char **text, const char **errmsg)
{
    apr_size_t len;
    apr_ssize_t bad;
    char *buf;

    if ((*errmsg = llm_file_slurp(p, path, PROMPT_MAX, &buf, &len))) {
        return APR_EGENERAL;
    }
    if ((bad = utf8_invalid_at(buf, len)) >= 0) {
        *errmsg = apr_psprintf(p, "%s: not valid UTF-8 text (at byte %"
                               APR_SSIZE_T_FMT ")", path, bad);
        return APR_EINVAL;
    }
    /* A byte-order mark is an editor's, not the prompt's. */
    *text = strncmp(buf, "\xef\xbb\xbf", 3) ? buf : buf + 3;
    return APR_SUCCESS;
}

static int is_prompt_name(const char *name)
{
    apr_size_t n = strlen(name);
    apr_size_t e = sizeof(PROMPT_EXT) - 1;

    return n > e && !strcmp(name + n - e, PROMPT_EXT);
}

/* The next entry of @a d; APR_INCOMPLETE only means that the type may
 * be unknown (a file system without d_type): it is looked up then. */
static int next_entry(apr_finfo_t *fi, apr_dir_t *d)
{
    apr_status_t rv = apr_dir_read(fi, APR_FINFO_NAME | APR_FINFO_TYPE, d);

    if (rv == APR_INCOMPLETE && !(fi->valid & APR_FINFO_TYPE)) {
        fi->filetype = APR_UNKFILE;
    }
    return (rv == APR_SUCCESS || rv == APR_INCOMPLETE)
           && (fi->valid & APR_FINFO_NAME);
}

/* Read the prompts of @a dir (relative path @a rel, "" at the root). */
static apr_status_t load_dir(apr_pool_t *p, llm_prompts_t *lib,
                             const char *dir, const char *rel, int depth,
                             const char **errmsg)
{
    apr_dir_t *d;
    apr_finfo_t fi;
    apr_status_t rv;
    char ebuf[120];

    if (depth > 32) {
        *errmsg = apr_psprintf(p, "%s: directories nested too deep (a "
                               "symbolic link loop?)", dir);
        return APR_EINVAL;
    }
    if ((rv = apr_dir_open(&d, dir, p)) != APR_SUCCESS) {
        *errmsg = apr_psprintf(p, "%s: %s", dir,
                               apr_strerror(rv, ebuf, sizeof(ebuf)));
        return rv;
    }
    rv = APR_SUCCESS;
    while (rv == APR_SUCCESS && next_entry(&fi, d)) {
        const char *path, *sub;

        if (fi.name[0] == '.') {
            continue;            /* ".", "..", and hidden files */
        }
        path = apr_pstrcat(p, dir, "/", fi.name, NULL);
        sub = *rel ? apr_pstrcat(p, rel, "/", fi.name, NULL) : fi.name;
        if (fi.filetype == APR_LNK || fi.filetype == APR_UNKFILE) {
            if (apr_stat(&fi, path, APR_FINFO_TYPE, p) != APR_SUCCESS) {
                continue;        /* a dangling link */
            }
        }
        if (fi.filetype == APR_DIR) {
            rv = load_dir(p, lib, path, sub, depth + 1, errmsg);
        }
        else if (fi.filetype == APR_REG && is_prompt_name(sub)) {
            const char *text;

            rv = read_prompt(p, path, &text, errmsg);
            if (rv == APR_SUCCESS) {
                apr_hash_set(lib->by_key,
                             apr_pstrndup(p, sub, strlen(sub)
                                              - (sizeof(PROMPT_EXT) - 1)),
                             APR_HASH_KEY_STRING, text);
            }
        }
    }
    apr_dir_close(d);
    return rv;
}

apr_status_t llm_prompts_load(apr_pool_t *p, const char *dir,
                              llm_prompts_t **lib, const char **errmsg)
{
    llm_prompts_t *l = apr_pcalloc(p, sizeof(*l));
    apr_size_t n = strlen(dir);
    apr_status_t rv;

    while (n > 1 && dir[n - 1] == '/') {
        n--;
    }
    l->by_key = apr_hash_make(p);
    rv = load_dir(p, l, apr_pstrndup(p, dir, n), "", 0, errmsg);
    if (rv == APR_SUCCESS) {
        *lib = l;
    }
    return rv;
}

const char *llm_prompt_get(const llm_prompts_t *lib, const char *key)
{
    return lib ? apr_hash_get(lib->by_key, key, APR_HASH_KEY_STRING) : NULL;
}

int llm_prompts_count(const llm_prompts_t *lib)
{
    return lib ? (int)apr_hash_count(lib->by_key) : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char *llm_prompt_languages(apr_pool_t *p, const llm_prompts_t *lib,
                                 const char *name)
{
    apr_array_header_t *langs = apr_array_make(p, 4, sizeof(const char *));
    apr_size_t plen = sizeof(SYSTEM_DIR) - 1;
    apr_hash_index_t *hi;
    const char *out = "";
    int i;

    if (!lib) {
        return "";
    }
    for (hi = apr_hash_first(p, lib->by_key); hi; hi = apr_hash_next(hi)) {
        const char *key = apr_hash_this_key(hi);
        const char *lang = key + plen;
        const char *slash;

        /* builtin/system/<lang>/<name>, <lang> one path segment */
        if (strncmp(key, SYSTEM_DIR, plen) || !(slash = strchr(lang, '/'))
            || slash == lang || strcmp(slash + 1, name)) {
            continue;
        }
        APR_ARRAY_PUSH(langs, const char *) =
            apr_pstrmemdup(p, lang, (apr_size_t)(slash - lang));
    }
    qsort(langs->elts, (size_t)langs->nelts, sizeof(const char *), cmp_str);
    for (i = 0; i < langs->nelts; i++) {
        out = apr_pstrcat(p, out, i ? ", " : "",
                          APR_ARRAY_IDX(langs, i, const char *), NULL);
    }
    return out;
}

/* Every @a from in @a s replaced by @a to, as plain text. */
static const char *replace_all(apr_pool_t *p, const char *s, const char *from,
                               const char *to)
{
    apr_size_t flen = strlen(from);
    const char *out = "";
    const char *hit;

    if (!flen) {
        return s;
    }
    while ((hit = strstr(s, from))) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, s, (apr_size_t)(hit - s)),
                          to, NULL);
        s = hit + flen;
    }
    return apr_pstrcat(p, out, s, NULL);
}

const char *llm_prompt_render(apr_pool_t *p, const char *tmpl,
                              const char *const *map, const char *postfix)
{
    const char *s = tmpl ? tmpl : "";

    for (; map && map[0]; map += 2) {
        s = replace_all(p, s, map[0], map[1] ? map[1] : "");
    }
    /* The postfix follows one blank line, whatever white space the
     * prompt file ends with (the original kept the file's newline, so
     * two blank lines came between). */
    if (postfix && *postfix) {
        s = apr_pstrcat(p, llm_str_trim(p, s), "\n\n", postfix, NULL);
    }
    return llm_str_trim(p, s);
}
