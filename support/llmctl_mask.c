/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl mask: mod_llm_mask's engine for batch use outside httpd.
 *
 *   llmctl mask [--rules FILE] [--mode static|pseudonym] [--json]
 *               [--map FILE] [FILE...]
 *
 * The same rule set as the module (llm_mask_ruleset_create: the
 * default rules; --rules adds or switches rules as LLMMaskRules does),
 * one session for the whole run, so a value gets the same pseudonym in
 * every input. Every output is made before any is written: an error
 * leaves stdout empty, never a text masked in part.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_tables.h"
#include "apr_file_io.h"

#include "llmctl.h"
#include "llm_buf.h"
#include "llm_json.h"
#include "llm_mask.h"
#include "llm_texts.h"

#define INPUT_MAX (256 * 1024 * 1024)

static const char help[] =
"usage: llmctl mask [--rules FILE] [--mode static|pseudonym] [--json]\n"
"                   [--map FILE] [FILE...]\n"
"\n"
"Masks personal data in each FILE (or stdin, also as \"-\") with\n"
"mod_llm_mask's engine and default rules, and prints the results, one\n"
"after the other, on stdout.\n"
"  --rules FILE  rules in the module's JSON format (LLMMaskRules): added\n"
"                to the default rules, or switching them on or off\n"
"  --mode MODE   static: every value of a kind becomes one token\n"
"                ({{EMAIL}}, the default, as LLMMaskMode); pseudonym:\n"
"                numbered tokens ({{EMAIL_1}}), the same value the same\n"
"                token across every input of the run\n"
"  --json        each input is a JSON document (a request body): only\n"
"                the strings that carry a person's words are masked, as\n"
"                the module does; keys, model, roles, ids are kept\n"
"  --map FILE    pseudonym mode: write the token -> original map (a\n"
"                JSON object) to FILE instead of stderr\n"
"Nothing is printed unless every input was masked.\n"
"exit: 0 masked; 1 an input is not JSON (--json) or could not be\n"
"      masked; 2 usage, a rules file or an input cannot be read, or\n"
"      --map cannot be written\n";

typedef struct {
    apr_pool_t *p;
    llm_mask_ruleset_t *rules;
    llm_mask_session_t *session;
    llm_mask_mode_e mode;
    const char *rules_path;
    const char *map_path;
    int json;
    apr_array_header_t *inputs;     /* const char *: paths, "-" stdin */
    apr_array_header_t *outputs;    /* output_t: the masked texts */
} masker_t;

/* A masked text (it may hold a NUL byte, as its input did). */
typedef struct {
    const char *text;
    apr_size_t len;
} output_t;

static int usage_error(const char *why)
{
    fprintf(stderr, "llmctl mask: %s (see llmctl mask --help)\n", why);
    return LLMCTL_USAGE;
}

/* The value of an option that takes one, or NULL when missing. */
static const char *option_value(int argc, const char *const *argv, int *i)
{
    return *i + 1 < argc ? argv[++*i] : NULL;
}

static int read_mode(masker_t *mk, const char *v)
{
    if (v && !strcmp(v, "static")) {
        mk->mode = LLM_MASK_STATIC;
    }
    else if (v && !strcmp(v, "pseudonym")) {
        mk->mode = LLM_MASK_PSEUDONYM;
    }
    else {
        return usage_error("--mode takes static or pseudonym");
    }
    return LLMCTL_OK;
}

/* LLMCTL_OK, LLMCTL_USAGE (said), or -1 after --help. */
static int read_args(masker_t *mk, int argc, const char *const *argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(help, stdout);
            return -1;
        }
        if (!strcmp(a, "--json")) {
            mk->json = 1;
        }
        else if (!strcmp(a, "--mode")) {
            if (read_mode(mk, option_value(argc, argv, &i)) != LLMCTL_OK) {
                return LLMCTL_USAGE;
            }
        }
        else if (!strcmp(a, "--rules")) {
            if (!(mk->rules_path = option_value(argc, argv, &i))) {
                return usage_error("--rules needs a FILE");
            }
        }
        else if (!strcmp(a, "--map")) {
            if (!(mk->map_path = option_value(argc, argv, &i))) {
                return usage_error("--map needs a FILE");
            }
        }
        else if (a[0] == '-' && a[1]) {
            return usage_error(apr_psprintf(mk->p, "unknown option %s", a));
        }
        else {
            APR_ARRAY_PUSH(mk->inputs, const char *) = a;
        }
    }
    if (mk->map_path && mk->mode != LLM_MASK_PSEUDONYM) {
        return usage_error("--map needs --mode pseudonym");
    }
    if (!mk->inputs->nelts) {
        APR_ARRAY_PUSH(mk->inputs, const char *) = "-";
    }
    return LLMCTL_OK;
}

static int load_rules(masker_t *mk)
{
    const char *err = NULL;

    mk->rules = llm_mask_ruleset_create(mk->p);
    if (mk->rules_path
        && llm_mask_ruleset_load(mk->rules, mk->rules_path, &err)
           != APR_SUCCESS) {
        fprintf(stderr, "llmctl mask: %s: %s\n", mk->rules_path, err);
        return LLMCTL_USAGE;
    }
    if (llm_mask_ruleset_compile(mk->rules, &err) != APR_SUCCESS) {
        fprintf(stderr, "llmctl mask: rules: %s\n", err);
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

/* The whole of stdin, NUL-terminated. */
static const char *read_stdin(apr_pool_t *p, apr_size_t *len)
{
    llm_buf_t b;
    char chunk[64 * 1024];
    size_t n;

    llm_buf_init(&b, p);
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (b.len + n > INPUT_MAX) {
            return NULL;
        }
        llm_buf_add(&b, chunk, n);
    }
    if (ferror(stdin)) {
        return NULL;
    }
    llm_buf_add(&b, "", 1);
    *len = b.len - 1;
    return b.data;
}

static const char *read_input(masker_t *mk, const char *path,
                              apr_size_t *len)
{
    char *text;
    const char *err;

    if (!strcmp(path, "-")) {
        const char *in = read_stdin(mk->p, len);

        if (!in) {
            fprintf(stderr, "llmctl mask: stdin: cannot read it (or it is "
                    "over %d MiB)\n", INPUT_MAX >> 20);
        }
        return in;
    }
    if ((err = llm_file_slurp(mk->p, path, INPUT_MAX, &text, len))) {
        fprintf(stderr, "llmctl mask: %s\n", err);
        return NULL;
    }
    return text;
}

/* ------------------------------------------------------------------ */
/* Masking                                                             */
/* ------------------------------------------------------------------ */

static const char *mask_text(masker_t *mk, const char *in, apr_size_t len,
                             apr_size_t *out_len)
{
    int n = 0;

    return llm_mask_apply(mk->rules, mk->session, mk->p, in, len, out_len,
                          &n);
}

/* llm_texts_walk's callback: one string of the document, masked in
 * place. Non-zero stops the walk (the engine gave up). */
static int mask_string(void *baton, json_object *text)
{
    masker_t *mk = baton;
    apr_size_t len = 0;
    const char *out = mask_text(mk, json_object_get_string(text),
                                (apr_size_t)json_object_get_string_len(text),
                                &len);

    if (!out) {
        return 1;
    }
    json_object_set_string_len(text, out, (int)len);
    return 0;
}

/* One JSON document: its texts masked, written back as compact JSON. */
static const char *mask_json(masker_t *mk, const char *path, const char *in,
                             apr_size_t len)
{
    llm_json_check_t check;
    json_object *root = llm_json_parse_strict(mk->p, in, len, 0, &check);
    const char *out = NULL;

    if (!root) {
        fprintf(stderr, "llmctl mask: %s: not JSON: %s\n", path,
                check.repeated_key ? "a key is repeated in an object"
                                   : check.reason);
        return NULL;
    }
    /* The wire, op and built-in do not change which strings are texts
     * (llm_texts.h): the first of each. */
    if (llm_texts_walk(root, (llm_wire_e)0, (llm_op_e)0, (llm_builtin_e)0,
                       mask_string, mk) == 0) {
        out = apr_pstrcat(mk->p, json_object_to_json_string_ext(root,
                          JSON_C_TO_STRING_PLAIN
                          | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL);
    }
    else {
        fprintf(stderr, "llmctl mask: %s: the engine stopped\n", path);
    }
    json_object_put(root);
    return out;
}

static int mask_input(masker_t *mk, const char *path)
{
    apr_size_t len = 0;
    apr_size_t out_len = 0;
    const char *in = read_input(mk, path, &len);
    const char *out;
    output_t *o;

    if (!in) {
        return LLMCTL_USAGE;
    }
    if (mk->json) {
        if ((out = mask_json(mk, path, in, len))) {
            out_len = strlen(out);
        }
    }
    else if (!(out = mask_text(mk, in, len, &out_len))) {
        fprintf(stderr, "llmctl mask: %s: the engine stopped\n", path);
    }
    if (!out) {
        return LLMCTL_FAIL;
    }
    o = apr_array_push(mk->outputs);
    o->text = out;
    o->len = out_len;
    return LLMCTL_OK;
}

/* ------------------------------------------------------------------ */
/* The pseudonym map                                                   */
/* ------------------------------------------------------------------ */

static int by_token(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* token -> original as a JSON object, tokens sorted. */
static const char *map_text(masker_t *mk)
{
    apr_hash_t *map = llm_mask_session_map(mk->session);
    apr_array_header_t *tokens = apr_array_make(mk->p, 8,
                                                sizeof(const char *));
    json_object *o = json_object_new_object();
    apr_hash_index_t *hi;
    const char *text;
    int i;

    for (hi = apr_hash_first(mk->p, map); hi; hi = apr_hash_next(hi)) {
        APR_ARRAY_PUSH(tokens, const char *) = apr_hash_this_key(hi);
    }
    qsort(tokens->elts, (size_t)tokens->nelts, sizeof(const char *),
          by_token);
    for (i = 0; i < tokens->nelts; i++) {
        const char *t = APR_ARRAY_IDX(tokens, i, const char *);
        apr_size_t olen = 0;
        const char *orig = llm_mask_session_original(mk->session, t,
                                                     strlen(t), &olen);

        json_object_object_add(o, t, json_object_new_string_len(
                               orig ? orig : "", (int)olen));
    }
    text = apr_pstrcat(mk->p, json_object_to_json_string_ext(o,
                       JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                       | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL);
    json_object_put(o);
    return text;
}

static int write_map(masker_t *mk)
{
    const char *text = map_text(mk);
    apr_file_t *f;
    apr_status_t rv;
    char buf[256];

    if (!mk->map_path) {
        fputs(text, stderr);
        return LLMCTL_OK;
    }
    rv = apr_file_open(&f, mk->map_path, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                       | APR_FOPEN_TRUNCATE, APR_FPROT_UREAD
                       | APR_FPROT_UWRITE, mk->p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, text, strlen(text), NULL);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "llmctl mask: cannot write %s: %s\n", mk->map_path,
                apr_strerror(rv, buf, sizeof(buf)));
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

/* ------------------------------------------------------------------ */

int llmctl_mask(apr_pool_t *p, int argc, const char *const *argv)
{
    masker_t mk;
    int rc;
    int i;

    memset(&mk, 0, sizeof(mk));
    mk.p = p;
    mk.mode = LLM_MASK_STATIC;
    mk.inputs = apr_array_make(p, 4, sizeof(const char *));
    mk.outputs = apr_array_make(p, 4, sizeof(output_t));
    if ((rc = read_args(&mk, argc, argv)) != LLMCTL_OK) {
        return rc < 0 ? LLMCTL_OK : rc;
    }
    if ((rc = load_rules(&mk)) != LLMCTL_OK) {
        return rc;
    }
    mk.session = llm_mask_session_create(p, mk.mode);
    for (i = 0; i < mk.inputs->nelts && rc == LLMCTL_OK; i++) {
        rc = mask_input(&mk, APR_ARRAY_IDX(mk.inputs, i, const char *));
    }
    if (rc == LLMCTL_OK && mk.mode == LLM_MASK_PSEUDONYM) {
        rc = write_map(&mk);
    }
    for (i = 0; rc == LLMCTL_OK && i < mk.outputs->nelts; i++) {
        const output_t *o = &APR_ARRAY_IDX(mk.outputs, i, output_t);

        fwrite(o->text, 1, o->len, stdout);
    }
    return rc;
}
