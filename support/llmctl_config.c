/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl config / llmctl models: models files (docs/configuration.md).
 *
 *   llmctl config check FILE
 *   llmctl config discover [-o FILE] [--timeout SECONDS] [TYPE=]URL...
 *   llmctl config merge [-o FILE] FILE...
 *   llmctl models [--json] FILE
 *
 * check and models read the file with the module's own parser
 * (llm_models_parse_all, llm_models_parse), so what they accept is what
 * httpd accepts; check names every problem, models the first.
 * discover and merge write models files: the result is validated with
 * the same parser before anything is written, and written whole or not
 * at all (a temporary file renamed over -o).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_file_io.h"

#include "llmctl.h"
#include "llmctl_discover.h"
#include "llm_buf.h"
#include "llm_json.h"
#include "llm_models.h"

#define MODELS_MAX (64 * 1024 * 1024)
#define ANSWER_MAX (8 * 1024 * 1024)
#define JSON_OUT (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED \
                  | JSON_C_TO_STRING_NOSLASHESCAPE)

static const char config_help[] =
"usage: llmctl config check FILE\n"
"       llmctl config discover [-o FILE] [--timeout SECONDS] [TYPE=]URL...\n"
"       llmctl config merge [-o FILE] FILE...\n"
"\n"
"check     validates a models file with mod_llm_router's own parser and\n"
"          prints every problem with its JSON path, one per line (httpd\n"
"          names the first at start-up). Invalid JSON is one problem,\n"
"          with its line and column.\n"
"          exit: 0 valid; 1 invalid; 2 usage, or FILE cannot be read\n"
"\n"
"discover  asks each server for its models and writes a models file\n"
"          for them (stdout, or -o FILE): Ollama (GET /api/tags), LM\n"
"          Studio (GET /api/v0/models) and OpenAI-compatible servers\n"
"          (GET /v1/models), tried in that order unless TYPE= names the\n"
"          server's api_type (openai, vllm, lmstudio, ollama). One group\n"
"          per api_type (\"<type>_models\"), every model active; a model\n"
"          served by several servers gets one provider for each.\n"
"          --timeout SECONDS  per request (default 5)\n"
"          A server that does not answer is named on stderr; the file\n"
"          is written for the servers that answered.\n"
"          exit: 0 at least one server answered with models; 1 none\n"
"                did; 2 usage, or -o cannot be written\n"
"\n"
"merge     merges models files: each later file adds its groups,\n"
"          models and providers, and its active models. A model in two\n"
"          files with different providers, or a provider id used twice\n"
"          for different providers, is a conflict, named with both\n"
"          paths; nothing is written then. The same model with the same\n"
"          providers is taken once (its other fields from the later\n"
"          file). The output holds the providers' api_token as the\n"
"          inputs do: it is a models file.\n"
"          exit: 0 merged; 1 a conflict, or an input or the result is\n"
"                invalid; 2 usage, or a file cannot be read or written\n";

static const char models_help[] =
"usage: llmctl models [--json] FILE\n"
"\n"
"Lists the active models of a models file: group, balance method,\n"
"providers (id, api_type, api_host without credentials; never the\n"
"api_token) by tier (active, then sleep), fallbacks and\n"
"on_context_length. --json prints the same as one JSON document.\n"
"exit: 0 listed; 1 the file is invalid (the problem is printed);\n"
"      2 usage, or FILE cannot be read\n";

/* ------------------------------------------------------------------ */
/* Shared helpers                                                      */
/* ------------------------------------------------------------------ */

static int usage_error(const char *cmd, const char *why)
{
    fprintf(stderr, "llmctl %s: %s (see llmctl %s --help)\n", cmd, why,
            strncmp(cmd, "models", 6) ? "config" : "models");
    return LLMCTL_USAGE;
}

static int is_help(const char *arg)
{
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

/* Write @a text to @a path whole or not at all (a temporary file beside
 * it, renamed over it); NULL or "-" is stdout. */
static int write_output(apr_pool_t *p, const char *cmd, const char *path,
                        const char *text)
{
    apr_file_t *f;
    apr_size_t len = strlen(text);
    char *tmp;
    apr_status_t rv;
    char buf[256];

    if (!path || !strcmp(path, "-")) {
        fputs(text, stdout);
        return fflush(stdout) ? LLMCTL_USAGE : LLMCTL_OK;
    }
    tmp = apr_pstrcat(p, path, ".XXXXXX", NULL);
    rv = apr_file_mktemp(&f, tmp, APR_FOPEN_CREATE | APR_FOPEN_WRITE
                         | APR_FOPEN_EXCL, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, text, len, NULL);
        if (apr_file_close(f) != APR_SUCCESS && rv == APR_SUCCESS) {
            rv = APR_EGENERAL;
        }
        /* mkstemp made it 0600: a models file may hold api_tokens. */
        if (rv == APR_SUCCESS) {
            rv = apr_file_rename(tmp, path, p);
        }
        if (rv != APR_SUCCESS) {
            apr_file_remove(tmp, p);
        }
    }
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "llmctl %s: cannot write %s: %s\n", cmd, path,
                apr_strerror(rv, buf, sizeof(buf)));
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

/* Read a models file: LLMCTL_OK, or LLMCTL_USAGE (not read: said on
 * stderr). */
static int read_models(apr_pool_t *p, const char *cmd, const char *path,
                       char **text, apr_size_t *len)
{
    const char *err = llm_file_slurp(p, path, MODELS_MAX, text, len);

    if (err) {
        fprintf(stderr, "llmctl %s: %s\n", cmd, err);
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

/* Read and validate a models file: LLMCTL_OK with @a *m, LLMCTL_FAIL
 * (invalid: @a *problem says where and why, the first problem) or
 * LLMCTL_USAGE (not read: said on stderr). */
static int load_models(apr_pool_t *p, const char *cmd, const char *path,
                       char **text, apr_size_t *len, llm_models_t **m,
                       const char **problem)
{
    int rc = read_models(p, cmd, path, text, len);

    if (rc != LLMCTL_OK) {
        return rc;
    }
    *problem = llm_models_parse(p, path, *text, *len, m);
    return *problem ? LLMCTL_FAIL : LLMCTL_OK;
}

/* ------------------------------------------------------------------ */
/* config check                                                        */
/* ------------------------------------------------------------------ */

static int count_providers(const llm_models_t *m)
{
    return m->providers->nelts;
}

/* Every problem of the file, one line each, as the parser found them
 * (the parser's order: see llm_models_parse_all). */
static void print_problems(const apr_array_header_t *problems)
{
    int i;

    for (i = 0; i < problems->nelts; i++) {
        printf("invalid: %s\n", APR_ARRAY_IDX(problems, i, const char *));
    }
    fprintf(stderr, "llmctl config check: %d problem(s)\n", problems->nelts);
}

static int config_check(apr_pool_t *p, int argc, const char *const *argv)
{
    apr_array_header_t *problems;
    llm_models_t *m = NULL;
    char *text;
    apr_size_t len;

    if (argc == 2 && is_help(argv[1])) {
        fputs(config_help, stdout);
        return LLMCTL_OK;
    }
    if (argc != 2 || argv[1][0] == '-') {
        return usage_error("config check", "give one models FILE");
    }
    if (read_models(p, "config check", argv[1], &text, &len) != LLMCTL_OK) {
        return LLMCTL_USAGE;
    }
    if (llm_models_parse_all(p, argv[1], text, len, &problems, &m)) {
        print_problems(problems);
        return LLMCTL_FAIL;
    }
    printf("valid: %s: %d active model(s), %d provider(s)\n", argv[1],
           m->models->nelts, count_providers(m));
    return LLMCTL_OK;
}

/* ------------------------------------------------------------------ */
/* llmctl models                                                       */
/* ------------------------------------------------------------------ */

/* api_host as it may be shown: without "user:password@" (a URL may
 * carry credentials as well as api_token does). */
static const char *public_host(apr_pool_t *p, const char *url)
{
    const char *rest = strstr(url, "://");
    const char *at;
    const char *slash;

    if (!rest) {
        return url;
    }
    rest += 3;
    slash = strchr(rest, '/');
    at = strchr(rest, '@');
    if (!at || (slash && at > slash)) {
        return url;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, url, (apr_size_t)(rest - url)),
                       at + 1, NULL);
}

static const char *model_names(apr_pool_t *p, const apr_array_header_t *a)
{
    const char *s = "";
    int i;

    for (i = 0; i < a->nelts; i++) {
        s = apr_pstrcat(p, s, i ? ", " : "",
                        APR_ARRAY_IDX(a, i, const llm_model_t *)->name,
                        NULL);
    }
    return s;
}

static void print_providers(apr_pool_t *p, const apr_array_header_t *a,
                            const char *tier)
{
    int i;

    for (i = 0; i < a->nelts; i++) {
        const llm_provider_t *pr = APR_ARRAY_IDX(a, i, llm_provider_t *);

        printf("  %-7s %-24s %-10s %s\n", tier, pr->id,
               llm_api_type_name(pr->api_type),
               public_host(p, pr->api_host));
    }
}

static void print_model_text(apr_pool_t *p, const llm_model_t *m)
{
    printf("%s\n  group   %s\n  balance %s\n", m->name, m->group,
           m->balance ? m->balance : "(the default)");
    print_providers(p, m->providers, "active");
    print_providers(p, m->providers_sleep, "sleep");
    if (m->fallbacks->nelts) {
        printf("  fallbacks %s\n", model_names(p, m->fallbacks));
    }
    if (m->on_context_length->nelts) {
        printf("  on_context_length %s\n",
               model_names(p, m->on_context_length));
    }
}

static json_object *providers_json(apr_pool_t *p,
                                   const apr_array_header_t *a)
{
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; i < a->nelts; i++) {
        const llm_provider_t *pr = APR_ARRAY_IDX(a, i, llm_provider_t *);
        json_object *o = json_object_new_object();

        json_object_object_add(o, "id", json_object_new_string(pr->id));
        json_object_object_add(o, "api_type", json_object_new_string(
                               llm_api_type_name(pr->api_type)));
        json_object_object_add(o, "api_host", json_object_new_string(
                               public_host(p, pr->api_host)));
        json_object_object_add(o, "model_path",
                               json_object_new_string(pr->model_path));
        json_object_object_add(o, "input_size",
                               json_object_new_int64(pr->input_size));
        json_object_object_add(o, "weight",
                               json_object_new_double(pr->weight));
        json_object_array_add(list, o);
    }
    return list;
}

static json_object *names_json(const apr_array_header_t *a)
{
    json_object *list = json_object_new_array();
    int i;

    for (i = 0; i < a->nelts; i++) {
        json_object_array_add(list, json_object_new_string(
            APR_ARRAY_IDX(a, i, const llm_model_t *)->name));
    }
    return list;
}

static json_object *model_json(apr_pool_t *p, const llm_model_t *m)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(m->name));
    json_object_object_add(o, "group", json_object_new_string(m->group));
    json_object_object_add(o, "balance", m->balance
                           ? json_object_new_string(m->balance) : NULL);
    json_object_object_add(o, "providers", providers_json(p, m->providers));
    json_object_object_add(o, "providers_sleep",
                           providers_json(p, m->providers_sleep));
    json_object_object_add(o, "fallbacks", names_json(m->fallbacks));
    json_object_object_add(o, "on_context_length",
                           names_json(m->on_context_length));
    return o;
}

static void print_models_json(apr_pool_t *p, const llm_models_t *models)
{
    json_object *list = json_object_new_array();
    json_object *root = json_object_new_object();
    int i;

    for (i = 0; i < models->models->nelts; i++) {
        json_object_array_add(list, model_json(p,
            APR_ARRAY_IDX(models->models, i, const llm_model_t *)));
    }
    json_object_object_add(root, "models", list);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_OUT));
    json_object_put(root);
}

int llmctl_models(apr_pool_t *p, int argc, const char *const *argv)
{
    const char *path = NULL;
    const char *problem = NULL;
    llm_models_t *m = NULL;
    char *text;
    apr_size_t len;
    int as_json = 0;
    int rc;
    int i;

    for (i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(models_help, stdout);
            return LLMCTL_OK;
        }
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        }
        else if (argv[i][0] == '-' || path) {
            return usage_error("models", apr_psprintf(p, "unexpected %s",
                                                      argv[i]));
        }
        else {
            path = argv[i];
        }
    }
    if (!path) {
        return usage_error("models", "give one models FILE");
    }
    rc = load_models(p, "models", path, &text, &len, &m, &problem);
    if (rc == LLMCTL_FAIL) {
        fprintf(stderr, "llmctl models: invalid: %s\n", problem);
    }
    if (rc != LLMCTL_OK) {
        return rc;
    }
    if (as_json) {
        print_models_json(p, m);
    }
    for (i = 0; !as_json && i < m->models->nelts; i++) {
        print_model_text(p, APR_ARRAY_IDX(m->models, i, const llm_model_t *));
    }
    return LLMCTL_OK;
}

/* ------------------------------------------------------------------ */
/* Writing a models file (discover, merge)                             */
/* ------------------------------------------------------------------ */

/* The text of @a root, checked with the module's parser: a file
 * discover or merge writes is one httpd takes. NULL, with the problem
 * on stderr, when it is not. */
static const char *models_text(apr_pool_t *p, const char *cmd,
                               json_object *root)
{
    const char *text = apr_pstrcat(p, json_object_to_json_string_ext(
                                   root, JSON_OUT), "\n", NULL);
    llm_models_t *m;
    const char *err = llm_models_parse(p, "(result)", text, strlen(text),
                                       &m);

    if (err) {
        fprintf(stderr, "llmctl %s: the result would be invalid: %s\n",
                cmd, err);
        return NULL;
    }
    return text;
}

/* The group object @a name of @a root, made when missing. */
static json_object *group_of(json_object *root, const char *name)
{
    json_object *g;

    if (!json_object_object_get_ex(root, name, &g)) {
        g = json_object_new_object();
        json_object_object_add(root, name, g);
    }
    return g;
}

/* Add @a model to active_models[@a group] unless it is listed there. */
static void activate(json_object *root, const char *group, const char *model)
{
    json_object *active = group_of(root, "active_models");
    json_object *list;
    size_t i;

    if (!json_object_object_get_ex(active, group, &list)) {
        list = json_object_new_array();
        json_object_object_add(active, group, list);
    }
    for (i = 0; i < json_object_array_length(list); i++) {
        if (!strcmp(json_object_get_string(
                    json_object_array_get_idx(list, i)), model)) {
            return;
        }
    }
    json_object_array_add(list, json_object_new_string(model));
}

/* ------------------------------------------------------------------ */
/* config discover                                                     */
/* ------------------------------------------------------------------ */

/* The api_types whose list of models is asked for, in this order:
 * Ollama and LM Studio also answer /v1/models, so their own lists come
 * first to tell them apart. */
static const llm_api_type_e model_lists[] = {
    LLM_API_OLLAMA, LLM_API_LMSTUDIO, LLM_API_OPENAI
};

typedef struct {
    char *data;
    apr_size_t len;
    apr_size_t cap;
    int too_big;                /* over ANSWER_MAX: said as such */
} answer_t;

static size_t keep_answer(char *ptr, size_t size, size_t n, void *baton)
{
    answer_t *a = baton;
    size_t add = size * n;

    if (a->len + add > ANSWER_MAX) {
        a->too_big = 1;
        return 0;                       /* curl fails the call */
    }
    if (a->len + add + 1 > a->cap) {
        char *bigger = realloc(a->data, a->len + add + 1 + 4096);

        if (!bigger) {
            return 0;
        }
        a->data = bigger;
        a->cap = a->len + add + 1 + 4096;
    }
    memcpy(a->data + a->len, ptr, add);
    a->len += add;
    a->data[a->len] = '\0';
    return add;
}

/* GET @a url: the body of a 200 answer (in @a p), or NULL with @a why. */
static const char *http_get(apr_pool_t *p, const char *url, long timeout,
                            apr_size_t *len, const char **why)
{
    CURL *h = curl_easy_init();
    answer_t a = { NULL, 0, 0, 0 };
    const char *body = NULL;
    long status = 0;
    CURLcode rc;

    if (!h) {
        *why = "curl_easy_init failed";
        return NULL;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (a.too_big) {
        *why = apr_psprintf(p, "the answer is over %d MiB", ANSWER_MAX >> 20);
    }
    else if (rc != CURLE_OK) {
        *why = curl_easy_strerror(rc);
    }
    else if (status != 200) {
        *why = apr_psprintf(p, "HTTP status %ld", status);
    }
    else {
        body = a.data ? apr_pstrmemdup(p, a.data, a.len) : "";
        *len = a.len;
    }
    free(a.data);
    curl_easy_cleanup(h);
    return body;
}

static const char *string_field(json_object *o, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(o, key, &v)
           && json_object_is_type(v, json_type_string)
           && json_object_get_string_len(v) > 0
           ? json_object_get_string(v) : NULL;
}

/* A provider id's part made of a name: [A-Za-z0-9._-], others '_'. */
static const char *id_part(apr_pool_t *p, const char *s)
{
    char *o = apr_pstrdup(p, s);
    char *c;

    for (c = o; *c; c++) {
        if (!apr_isalnum(*c) && *c != '.' && *c != '-') {
            *c = '_';
        }
    }
    return o;
}

/* host:port of a base URL, for provider ids. */
static const char *host_part(apr_pool_t *p, const char *url)
{
    const char *rest = strstr(url, "://");
    const char *at;

    rest = rest ? rest + 3 : url;
    if ((at = strchr(rest, '@')) && (!strchr(rest, '/')
                                     || at < strchr(rest, '/'))) {
        rest = at + 1;
    }
    return apr_pstrndup(p, rest, strcspn(rest, "/"));
}

typedef struct {
    apr_pool_t *p;
    json_object *root;
    apr_hash_t *groups;         /* model name -> its group (first server) */
    apr_hash_t *ids;            /* provider ids given */
    int models;
} discovered_t;

static json_object *provider_entry(const char *id, const char *base,
                                   llm_api_type_e type, const llmctl_found_t *f)
{
    json_object *pr = json_object_new_object();

    json_object_object_add(pr, "id", json_object_new_string(id));
    json_object_object_add(pr, "api_host", json_object_new_string(base));
    json_object_object_add(pr, "api_type",
                           json_object_new_string(llm_api_type_name(type)));
    json_object_object_add(pr, "model_path", json_object_new_string(f->name));
    json_object_object_add(pr, "input_size",
                           json_object_new_int64(f->context));
    json_object_object_add(pr, "tool_calling",
                           json_object_new_boolean(f->tools));
    if (f->embedding) {
        json_object_object_add(pr, "is_embedding",
                               json_object_new_boolean(1));
    }
    return pr;
}

/* One found model as a provider of the model of its name: a model
 * served by several servers sits in the group of the first. */
static void add_found(discovered_t *d, const char *base, llm_api_type_e type,
                      const llmctl_found_t *f)
{
    const char *id = apr_psprintf(d->p, "%s_%s_%s", llm_api_type_name(type),
                                  id_part(d->p, f->name),
                                  id_part(d->p, host_part(d->p, base)));
    const char *group = apr_hash_get(d->groups, f->name,
                                     APR_HASH_KEY_STRING);
    json_object *model;
    json_object *list;

    if (apr_hash_get(d->ids, id, APR_HASH_KEY_STRING)) {
        return;                         /* the same server given twice */
    }
    apr_hash_set(d->ids, id, APR_HASH_KEY_STRING, id);
    if (!group) {
        group = apr_pstrcat(d->p, llm_api_type_name(type), "_models", NULL);
        apr_hash_set(d->groups, f->name, APR_HASH_KEY_STRING, group);
        d->models++;
    }
    model = group_of(group_of(d->root, group), f->name);
    if (!json_object_object_get_ex(model, "providers", &list)) {
        list = json_object_new_array();
        json_object_object_add(model, "providers", list);
    }
    json_object_array_add(list, provider_entry(id, base, type, f));
    activate(d->root, group, f->name);
}

/* "TYPE=URL": the type named (-1: try every list), the base URL
 * without trailing '/'. NULL when TYPE is not one discover knows, or
 * the URL not http(s). */
static const char *split_target(apr_pool_t *p, const char *arg, int *type)
{
    const char *eq = strchr(arg, '=');
    const char *colon = strstr(arg, "://");
    char *base;
    apr_size_t n;

    *type = -1;
    if (eq && (!colon || eq < colon)) {
        *type = llm_api_type_parse(apr_pstrmemdup(p, arg,
                                                  (apr_size_t)(eq - arg)));
        if (*type < 0 || *type == LLM_API_ANTHROPIC) {
            return NULL;
        }
        arg = eq + 1;
    }
    /* curl would read file:// and others too: a provider is http(s). */
    if (strncasecmp(arg, "http://", 7) && strncasecmp(arg, "https://", 8)) {
        return NULL;
    }
    base = apr_pstrdup(p, arg);
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    return base;
}

/* The path where a server of @a type lists its models. */
static const char *list_path(int type)
{
    return type == LLM_API_OLLAMA ? "/api/tags"
         : type == LLM_API_LMSTUDIO ? "/api/v0/models" : "/v1/models";
}

/* Ask one server; 0 when it answered with a list of models. */
static int discover_one(discovered_t *d, const char *arg, long timeout)
{
    int type;
    const char *base = split_target(d->p, arg, &type);
    const char *why = "no answer";
    const char *body;
    apr_array_header_t *found = NULL;
    apr_size_t len = 0;
    size_t k;
    int i;

    if (!base) {
        fprintf(stderr, "llmctl config discover: %s: not [TYPE=]URL, with "
                "TYPE openai, vllm, lmstudio or ollama and an http:// or "
                "https:// URL\n", arg);
        return -1;
    }
    for (k = 0; !found && k < sizeof(model_lists) / sizeof(model_lists[0]);
         k++) {
        llm_api_type_e t = type < 0 ? model_lists[k]
                                    : (llm_api_type_e)type;

        if (type >= 0 && k > 0) {
            break;
        }
        body = http_get(d->p, apr_pstrcat(d->p, base, list_path(t), NULL),
                        timeout, &len, &why);
        if (body) {
            found = llmctl_discover_parse(d->p, t, body, len, &why);
        }
        for (i = 0; found && i < found->nelts; i++) {
            add_found(d, base, t, &APR_ARRAY_IDX(found, i, llmctl_found_t));
        }
    }
    if (!found) {
        fprintf(stderr, "llmctl config discover: %s: %s\n", base, why);
        return -1;
    }
    fprintf(stderr, "llmctl config discover: %s: %d model(s)\n", base,
            found->nelts);
    return 0;
}

static int config_discover(apr_pool_t *p, int argc, const char *const *argv)
{
    const char *out = NULL;
    const char *text;
    long timeout = 5;
    discovered_t d;
    int answered = 0;
    int targets = 0;
    int rc;
    int i;

    d.p = p;
    d.groups = apr_hash_make(p);
    d.ids = apr_hash_make(p);
    d.models = 0;
    for (i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(config_help, stdout);
            return LLMCTL_OK;
        }
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--timeout"))
            && i + 1 >= argc) {
            return usage_error("config discover", apr_psprintf(p,
                               "%s needs a value", argv[i]));
        }
        if (!strcmp(argv[i], "-o")) {
            out = argv[++i];
        }
        else if (!strcmp(argv[i], "--timeout")) {
            timeout = atol(argv[++i]);
            if (timeout <= 0 || timeout > 3600) {
                return usage_error("config discover",
                                   "--timeout takes 1 to 3600 seconds");
            }
        }
        else if (argv[i][0] == '-') {
            return usage_error("config discover", apr_psprintf(p,
                               "unknown option %s", argv[i]));
        }
        else {
            targets++;
        }
    }
    if (!targets) {
        return usage_error("config discover", "give at least one URL");
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    d.root = json_object_new_object();
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--timeout")) {
            i++;
        }
        else if (discover_one(&d, argv[i], timeout) == 0) {
            answered++;
        }
    }
    group_of(d.root, "active_models");
    rc = LLMCTL_FAIL;
    if (!answered || !d.models) {
        fprintf(stderr, "llmctl config discover: no models found: nothing "
                "written\n");
    }
    else if ((text = models_text(p, "config discover", d.root))) {
        rc = write_output(p, "config discover", out, text);
    }
    json_object_put(d.root);
    curl_global_cleanup();
    return rc;
}

/* ------------------------------------------------------------------ */
/* config merge                                                        */
/* ------------------------------------------------------------------ */

/* Where a model or provider was first seen, to name both on a
 * conflict. */
typedef struct {
    const char *where;          /* "file: $.group.model" */
    const char *group;          /* where it sits in the result */
    json_object *value;         /* in the result tree */
} seen_t;

typedef struct {
    apr_pool_t *p;
    json_object *result;
    apr_hash_t *models;         /* name -> seen_t */
    apr_hash_t *ids;            /* provider id -> seen_t */
    int conflicts;
} merge_t;

static seen_t *seen_at(apr_pool_t *p, const char *where, const char *group,
                       json_object *v)
{
    seen_t *s = apr_palloc(p, sizeof(*s));

    s->where = where;
    s->group = group ? apr_pstrdup(p, group) : NULL;
    s->value = v;
    return s;
}

static int same_field(json_object *a, json_object *b, const char *key)
{
    json_object *va = NULL;
    json_object *vb = NULL;

    json_object_object_get_ex(a, key, &va);
    json_object_object_get_ex(b, key, &vb);
    return json_object_equal(va, vb);
}

/* Register the provider ids of @a model (at @a mpath); a known id for a
 * different provider is a conflict. */
static void merge_ids(merge_t *mg, json_object *model, const char *mpath)
{
    static const char *const lists[] = { "providers", "providers_sleep" };
    json_object *list;
    size_t k;
    size_t i;

    for (k = 0; k < 2; k++) {
        if (!json_object_object_get_ex(model, lists[k], &list)
            || !json_object_is_type(list, json_type_array)) {
            continue;
        }
        for (i = 0; i < json_object_array_length(list); i++) {
            json_object *pr = json_object_array_get_idx(list, i);
            const char *id = string_field(pr, "id");
            const char *where = apr_psprintf(
                mg->p, "%s[%d].id",
                llm_models_path_key(mg->p, mpath, lists[k]), (int)i);
            seen_t *s = id ? apr_hash_get(mg->ids, id, APR_HASH_KEY_STRING)
                           : NULL;

            if (s && !json_object_equal(s->value, pr)) {
                fprintf(stderr, "llmctl config merge: conflict: provider id "
                        "\"%s\" at %s and at %s\n", id, s->where, where);
                mg->conflicts++;
            }
            else if (id && !s) {
                apr_hash_set(mg->ids, id, APR_HASH_KEY_STRING,
                             seen_at(mg->p, where, NULL, pr));
            }
        }
    }
}

/* The fields of @a model other than its providers replace those of
 * @a into: the later file's balance, fallbacks... win. */
static void merge_fields(json_object *into, json_object *model)
{
    json_object_object_foreach(model, key, v) {
        json_object *copy = NULL;

        if (strcmp(key, "providers") && strcmp(key, "providers_sleep")) {
            json_object_deep_copy(v, &copy, NULL);
            json_object_object_add(into, key, copy);
        }
    }
}

/* One model of a later file: new, the same (its other fields replace
 * the earlier's), or a conflict. What is kept points into the result,
 * since each input's tree is freed once merged. */
static void merge_model(merge_t *mg, const char *group, const char *name,
                        json_object *model, const char *mpath)
{
    seen_t *s = apr_hash_get(mg->models, name, APR_HASH_KEY_STRING);
    json_object *copy = NULL;

    if (s && !(same_field(s->value, model, "providers")
               && same_field(s->value, model, "providers_sleep"))) {
        fprintf(stderr, "llmctl config merge: conflict: model \"%s\" has "
                "other providers at %s than at %s\n", name, mpath, s->where);
        mg->conflicts++;
        return;
    }
    if (s) {
        merge_fields(s->value, model);
        return;
    }
    json_object_deep_copy(model, &copy, NULL);
    json_object_object_add(group_of(mg->result, group), name, copy);
    apr_hash_set(mg->models, apr_pstrdup(mg->p, name), APR_HASH_KEY_STRING,
                 seen_at(mg->p, mpath, group, copy));
    merge_ids(mg, copy, mpath);
}

/* A file's active models, each in the group its model sits in in the
 * result: the same model given by two files in two groups is kept in
 * the first file's, and activated there. */
static void merge_active(merge_t *mg, json_object *active)
{
    json_object_object_foreach(active, group, names) {
        size_t i;

        for (i = 0; json_object_is_type(names, json_type_array)
                    && i < json_object_array_length(names); i++) {
            const char *name = json_object_get_string(
                                   json_object_array_get_idx(names, i));
            seen_t *s = apr_hash_get(mg->models, name, APR_HASH_KEY_STRING);

            activate(mg->result, s ? s->group : group, name);
        }
    }
}

static void merge_file(merge_t *mg, const char *path, json_object *root)
{
    json_object *active = NULL;

    json_object_object_foreach(root, group, models) {
        const char *gpath = llm_models_path_key(
            mg->p, apr_pstrcat(mg->p, path, ": $", NULL), group);

        if (!strcmp(group, "active_models")) {
            active = models;
            continue;
        }
        if (!json_object_is_type(models, json_type_object)) {
            continue;                   /* not a group: not a models key */
        }
        json_object_object_foreach(models, name, model) {
            merge_model(mg, group, name, model,
                        llm_models_path_key(mg->p, gpath, name));
        }
    }
    if (active) {
        merge_active(mg, active);
    }
}

/* Read, validate and merge one input; an exit code. */
static int merge_input(merge_t *mg, const char *path)
{
    llm_json_check_t check;
    const char *problem;
    llm_models_t *m;
    json_object *root;
    char *text;
    apr_size_t len;
    int rc = load_models(mg->p, "config merge", path, &text, &len, &m,
                         &problem);

    if (rc == LLMCTL_FAIL) {
        fprintf(stderr, "llmctl config merge: invalid: %s\n", problem);
    }
    if (rc != LLMCTL_OK) {
        return rc;
    }
    root = llm_json_parse_strict(mg->p, text, len, 0, &check);
    merge_file(mg, path, root);
    json_object_put(root);
    return LLMCTL_OK;
}

static int config_merge(apr_pool_t *p, int argc, const char *const *argv)
{
    const char *out = NULL;
    const char *text;
    merge_t mg;
    int inputs = 0;
    int rc = LLMCTL_OK;
    int i;

    for (i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(config_help, stdout);
            return LLMCTL_OK;
        }
        if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            out = argv[++i];
        }
        else if (argv[i][0] == '-') {
            return usage_error("config merge", apr_psprintf(p,
                               "unexpected %s", argv[i]));
        }
        else {
            inputs++;
        }
    }
    if (!inputs) {
        return usage_error("config merge", "give at least one FILE");
    }
    mg.p = p;
    mg.result = json_object_new_object();
    mg.models = apr_hash_make(p);
    mg.ids = apr_hash_make(p);
    mg.conflicts = 0;
    for (i = 1; i < argc && rc == LLMCTL_OK; i++) {
        if (!strcmp(argv[i], "-o")) {
            i++;
            continue;
        }
        rc = merge_input(&mg, argv[i]);
    }
    group_of(mg.result, "active_models");
    if (rc == LLMCTL_OK && mg.conflicts) {
        fprintf(stderr, "llmctl config merge: %d conflict(s): nothing "
                "written\n", mg.conflicts);
        rc = LLMCTL_FAIL;
    }
    if (rc == LLMCTL_OK) {
        text = models_text(p, "config merge", mg.result);
        rc = text ? write_output(p, "config merge", out, text) : LLMCTL_FAIL;
    }
    json_object_put(mg.result);
    return rc;
}

/* ------------------------------------------------------------------ */

int llmctl_config(apr_pool_t *p, int argc, const char *const *argv)
{
    if (argc < 2 || is_help(argv[1])) {
        fputs(config_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? LLMCTL_USAGE : LLMCTL_OK;
    }
    if (!strcmp(argv[1], "check")) {
        return config_check(p, argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "discover")) {
        return config_discover(p, argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "merge")) {
        return config_merge(p, argc - 1, argv + 1);
    }
    fprintf(stderr, "llmctl config: no command %s\n%s", argv[1],
            config_help);
    return LLMCTL_USAGE;
}
