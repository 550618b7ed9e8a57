/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The models file: groups of models, each with providers, and the
 * "active_models" gate that says which of them exist for clients.
 *
 * Validation is strict where the original router failed late or not at
 * all (see docs/configuration.md): every problem is reported with the
 * file, a JSON path and a reason, and stops httpd at start-up instead of
 * failing at request time.
 *
 * The reading goes on past a problem, so that one run finds every one
 * (llmctl config check prints them all; httpd shows the first). What
 * depends on a part that is wrong is not checked against it: a mistake
 * is said once, not again as the problems it would cause.
 */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_lib.h"
#include "apr_hash.h"

#include <json-c/json.h>

#include "llm_buf.h"
#include "llm_json.h"
#include "llm_models.h"

int llm_api_type_parse(const char *s)
{
    int i;

    for (i = 0; i < LLM_API__COUNT; i++) {
        if (!strcmp(s, llm_api_type_name((llm_api_type_e)i))) {
            return i;
        }
    }
    return -1;
}

int llm_parse_duration(const char *s, apr_interval_time_t *out)
{
    char *end;
    apr_int64_t n;
    apr_int64_t unit;

    while (apr_isspace(*s)) {
        s++;
    }
    if (!apr_isdigit(*s)) {
        return -1;
    }
    errno = 0;
    n = apr_strtoi64(s, &end, 10);
    if (errno || n < 0 || n > 10L * 365 * 86400) {
        return -1;
    }
    while (apr_isspace(*end)) {
        end++;
    }
    switch (apr_tolower(*end)) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    default: return -1;
    }
    end++;
    while (apr_isspace(*end)) {
        end++;
    }
    if (*end) {
        return -1;
    }
    *out = apr_time_from_sec(n * unit);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reporting                                                           */
/* ------------------------------------------------------------------ */

/* What a validation step needs: where problems go and the path so far. */
typedef struct {
    apr_pool_t *p;
    const char *file;
    llm_models_t *m;
    apr_array_header_t *problems;/* const char *: every one, in order */
    apr_hash_t *ids;            /* provider id -> json path of first use */
    apr_hash_t *listed;         /* model name -> group that listed it first
                                   in active_models */
    apr_array_header_t *pending;/* pending_chain_t: model names to resolve
                                   once every active model is read */
} loader_t;

/* A model's list of other models (fallbacks, on_context_length), read
 * before the models it names may be: resolved at the end. */
typedef struct {
    llm_model_t *model;
    const char *jpath;
    apr_array_header_t *names;          /* const char *, NULL: not a name */
    apr_array_header_t **to;            /* const llm_model_t * */
} pending_chain_t;

/* Every problem is kept, so that one run names them all (llmctl config
 * check); it is also returned, so that a reader can tell its caller
 * that this part is unusable and what depends on it is not checked
 * (one mistake, one problem). */
static const char *problem(loader_t *ld, const char *msg)
{
    APR_ARRAY_PUSH(ld->problems, const char *) = msg;
    return msg;
}

static const char *fail(loader_t *ld, const char *jpath, const char *why)
{
    return problem(ld, apr_psprintf(ld->p, "%s: %s: %s", ld->file, jpath,
                                    why));
}

/* A JSON path step for an object key: .key, or ["key"] when the key is
 * not a plain identifier (model names often contain '/' and ':'). */
static const char *path_key(apr_pool_t *p, const char *base, const char *key)
{
    const char *c;
    int plain = *key && !apr_isdigit(*key);

    for (c = key; *c && plain; c++) {
        plain = apr_isalnum(*c) || *c == '_' || *c == '-';
    }
    return plain ? apr_pstrcat(p, base, ".", key, NULL)
                 : apr_psprintf(p, "%s[\"%s\"]", base, key);
}

/* For tools that name places in a models file (llmctl config merge) the
 * way its problems do. */
const char *llm_models_path_key(apr_pool_t *p, const char *base,
                                const char *key)
{
    return path_key(p, base, key);
}

static const char *path_index(apr_pool_t *p, const char *base, size_t i)
{
    return apr_psprintf(p, "%s[%" APR_SIZE_T_FMT "]", base, (apr_size_t)i);
}

static const char *type_name(json_object *v)
{
    return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

/* ------------------------------------------------------------------ */
/* Field readers: each returns NULL or the problem it said             */
/* ------------------------------------------------------------------ */

/* A string field; absent or null gives @a dflt. On a problem *out is
 * @a dflt too: the reading goes on past it. */
static const char *opt_string(loader_t *ld, json_object *o, const char *jp,
                              const char *key, const char *dflt,
                              const char **out)
{
    json_object *v;

    *out = dflt;
    if (!json_object_object_get_ex(o, key, &v) || !v) {
        return NULL;
    }
    if (!json_object_is_type(v, json_type_string)) {
        return fail(ld, path_key(ld->p, jp, key),
                    apr_psprintf(ld->p, "must be a string, not %s",
                                 type_name(v)));
    }
    *out = apr_pstrdup(ld->p, json_object_get_string(v));
    return NULL;
}

static const char *req_string(loader_t *ld, json_object *o, const char *jp,
                              const char *key, const char **out)
{
    const char *err = opt_string(ld, o, jp, key, NULL, out);

    if (!err && (!*out || !**out)) {
        err = fail(ld, path_key(ld->p, jp, key),
                   "is required and must be a non-empty string");
    }
    return err;
}

static const char *opt_bool(loader_t *ld, json_object *o, const char *jp,
                            const char *key, int *out)
{
    json_object *v;

    *out = 0;
    if (!json_object_object_get_ex(o, key, &v) || !v) {
        return NULL;
    }
    if (!json_object_is_type(v, json_type_boolean)) {
        return fail(ld, path_key(ld->p, jp, key),
                    apr_psprintf(ld->p, "must be true or false, not %s",
                                 type_name(v)));
    }
    *out = json_object_get_boolean(v);
    return NULL;
}

/* input_size: an integer, or a string holding one (the original accepts
 * both). */
static const char *opt_size(loader_t *ld, json_object *o, const char *jp,
                            const char *key, apr_int64_t *out)
{
    json_object *v;
    const char *s;
    char *end;

    *out = 0;
    if (!json_object_object_get_ex(o, key, &v) || !v) {
        return NULL;
    }
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
    }
    else if (json_object_is_type(v, json_type_string)) {
        s = json_object_get_string(v);
        errno = 0;
        *out = apr_strtoi64(s, &end, 10);
        if (!*s || *end || errno) {
            return fail(ld, path_key(ld->p, jp, key),
                        apr_psprintf(ld->p, "\"%s\" is not an integer", s));
        }
    }
    else {
        return fail(ld, path_key(ld->p, jp, key),
                    apr_psprintf(ld->p, "must be an integer, not %s",
                                 type_name(v)));
    }
    if (*out < 0) {
        return fail(ld, path_key(ld->p, jp, key), "must not be negative");
    }
    return NULL;
}

/* weight: a number, clamped to [0,1] as the original does. */
static const char *opt_weight(loader_t *ld, json_object *o, const char *jp,
                              double *out)
{
    json_object *v;

    *out = 1.0;
    if (!json_object_object_get_ex(o, "weight", &v) || !v) {
        return NULL;
    }
    if (!json_object_is_type(v, json_type_int)
        && !json_object_is_type(v, json_type_double)) {
        return fail(ld, path_key(ld->p, jp, "weight"),
                    apr_psprintf(ld->p, "must be a number, not %s",
                                 type_name(v)));
    }
    *out = json_object_get_double(v);
    /* json-c reads NaN, which no clamp catches (every comparison with it
     * is false) and which would make a weighted choice meaningless. */
    if (isnan(*out)) {
        return fail(ld, path_key(ld->p, jp, "weight"),
                    "must be a number, not NaN");
    }
    if (*out < 0.0) {
        *out = 0.0;
    }
    else if (*out > 1.0) {
        *out = 1.0;
    }
    return NULL;
}

/* api_host: an absolute http(s) URL. We keep it without the trailing
 * '/', and derive the origin (scheme://host[:port]/) that names the
 * connection pool shared by every provider on that server. */
static const char *check_api_host(loader_t *ld, const char *jp,
                                  llm_provider_t *pr)
{
    const char *h = pr->api_host;
    const char *rest;
    const char *slash;
    char *norm;
    apr_size_t authority;
    apr_size_t n;
    apr_size_t i;

    if (!strncasecmp(h, "http://", 7)) {
        rest = h + 7;
    }
    else if (!strncasecmp(h, "https://", 8)) {
        rest = h + 8;
    }
    else {
        return fail(ld, path_key(ld->p, jp, "api_host"),
                    apr_psprintf(ld->p, "\"%s\" is not an http:// or "
                                 "https:// URL", h));
    }
    if (!*rest || *rest == '/' || strchr(h, '?') || strchr(h, '#')) {
        return fail(ld, path_key(ld->p, jp, "api_host"),
                    apr_psprintf(ld->p, "\"%s\" has no host, or has a "
                                 "query or fragment", h));
    }
    n = strlen(h);
    while (n > 0 && h[n - 1] == '/') {
        n--;
    }
    slash = strchr(rest, '/');
    authority = slash ? (apr_size_t)(slash - h) : strlen(h);
    norm = apr_pstrmemdup(ld->p, h, n);
    /* Scheme and host are case-insensitive; mod_proxy names workers in
     * lower case, and so do we. */
    for (i = 0; i < authority && i < n; i++) {
        norm[i] = apr_tolower(norm[i]);
    }
    pr->api_host = norm;
    pr->origin = apr_pstrcat(ld->p, apr_pstrmemdup(ld->p, norm, authority),
                             "/", NULL);
    return NULL;
}

/* api_type: one of the names llm_api_type_parse() knows. */
static const char *read_api_type(loader_t *ld, json_object *o,
                                 const char *jp, llm_provider_t *pr)
{
    const char *s;
    const char *err = req_string(ld, o, jp, "api_type", &s);
    int t;

    if (err) {
        return err;
    }
    if ((t = llm_api_type_parse(s)) < 0) {
        return fail(ld, path_key(ld->p, jp, "api_type"),
                    apr_psprintf(ld->p, "unknown api_type \"%s\" (known: "
                                 "openai, vllm, lmstudio, ollama, "
                                 "anthropic)", s));
    }
    pr->api_type = (llm_api_type_e)t;
    return NULL;
}

/* The optional fields: each one's problem is said, and the next read. */
static void read_provider_options(loader_t *ld, json_object *o,
                                  const char *jp, llm_provider_t *pr)
{
    const char *s;

    opt_string(ld, o, jp, "api_token", "", &pr->api_token);
    opt_string(ld, o, jp, "model_path", "", &pr->model_path);
    opt_size(ld, o, jp, "input_size", &pr->input_size);
    opt_weight(ld, o, jp, &pr->weight);
    opt_bool(ld, o, jp, "tool_calling", &pr->tool_calling);
    opt_bool(ld, o, jp, "is_embedding", &pr->is_embedding);
    opt_bool(ld, o, jp, "prefill", &pr->prefill);
    if (!opt_string(ld, o, jp, "keep_alive", NULL, &s) && s && *s
        && llm_parse_duration(s, &pr->keep_alive) < 0) {
        fail(ld, path_key(ld->p, jp, "keep_alive"),
             apr_psprintf(ld->p, "\"%s\" is not a duration like \"90s\", "
                          "\"35m\" or \"2h\"", s));
    }
}

/* An id is the provider's name in the shared state: unique in the file.
 * The first use keeps it, each later one is a problem. */
static void claim_id(loader_t *ld, const char *jp, const char *id)
{
    const char *seen = apr_hash_get(ld->ids, id, APR_HASH_KEY_STRING);

    if (seen) {
        fail(ld, path_key(ld->p, jp, "id"),
             apr_psprintf(ld->p, "duplicate provider id \"%s\" (first used "
                          "at %s)", id, seen));
        return;
    }
    apr_hash_set(ld->ids, id, APR_HASH_KEY_STRING, jp);
}

/* A provider, in the table and its model's list even when it has a
 * problem: the table is never handed out then, and a model whose only
 * provider is broken is not also said to have none. */
static llm_provider_t *read_provider(loader_t *ld, json_object *o,
                                     const char *jp, int sleep_tier)
{
    llm_provider_t *pr = apr_pcalloc(ld->p, sizeof(*pr));
    int id_ok;

    pr->sleep_tier = sleep_tier;
    pr->slot = ld->m->providers->nelts;
    pr->stats = apr_pcalloc(ld->p, sizeof(*pr->stats));
    APR_ARRAY_PUSH(ld->m->providers, llm_provider_t *) = pr;
    if (!json_object_is_type(o, json_type_object)) {
        fail(ld, jp, apr_psprintf(ld->p, "a provider must be an object, "
                                  "not %s", type_name(o)));
        return pr;
    }
    id_ok = !req_string(ld, o, jp, "id", &pr->id);
    if (!req_string(ld, o, jp, "api_host", &pr->api_host)) {
        check_api_host(ld, jp, pr);
    }
    read_api_type(ld, o, jp, pr);
    read_provider_options(ld, o, jp, pr);
    if (id_ok) {
        claim_id(ld, jp, pr->id);
    }
    return pr;
}

static const char *read_provider_list(loader_t *ld, json_object *mo,
                                      const char *jp, const char *key,
                                      int sleep_tier,
                                      apr_array_header_t **out)
{
    json_object *list;
    const char *lp = path_key(ld->p, jp, key);
    size_t i;
    size_t n;

    *out = apr_array_make(ld->p, 2, sizeof(llm_provider_t *));
    if (!json_object_object_get_ex(mo, key, &list) || !list) {
        return NULL;
    }
    if (!json_object_is_type(list, json_type_array)) {
        return fail(ld, lp, apr_psprintf(ld->p, "must be a list, not %s",
                                         type_name(list)));
    }
    n = json_object_array_length(list);
    for (i = 0; i < n; i++) {
        APR_ARRAY_PUSH(*out, llm_provider_t *) =
            read_provider(ld, json_object_array_get_idx(list, i),
                          path_index(ld->p, lp, i), sleep_tier);
    }
    return NULL;
}

/* "fallbacks": ["model", ...]: kept as names until every model is read;
 * a name that is not a string is said, and kept as NULL so that the
 * names after it keep their index in the file. */
static void read_chain(loader_t *ld, json_object *mo, const char *mp,
                       llm_model_t *model, const char *key,
                       apr_array_header_t **to)
{
    const char *lp = path_key(ld->p, mp, key);
    pending_chain_t *pc;
    json_object *list;
    size_t i;
    size_t n;

    *to = apr_array_make(ld->p, 1, sizeof(const llm_model_t *));
    if (!json_object_object_get_ex(mo, key, &list) || !list) {
        return;
    }
    if (!json_object_is_type(list, json_type_array)) {
        fail(ld, lp, apr_psprintf(ld->p, "must be a list of model names, "
                                  "not %s", type_name(list)));
        return;
    }
    pc = apr_array_push(ld->pending);
    pc->model = model;
    pc->jpath = lp;
    pc->to = to;
    n = json_object_array_length(list);
    pc->names = apr_array_make(ld->p, (int)n, sizeof(const char *));
    for (i = 0; i < n; i++) {
        json_object *nm = json_object_array_get_idx(list, i);
        const char *name = json_object_is_type(nm, json_type_string)
                           ? apr_pstrdup(ld->p, json_object_get_string(nm))
                           : NULL;

        if (!name) {
            fail(ld, path_index(ld->p, lp, i),
                 "a model name must be a string");
        }
        APR_ARRAY_PUSH(pc->names, const char *) = name;
    }
}

/* Each name of a chain must be an active model of this file, not the
 * model itself (a chain is walked with the models already tried left
 * out, so a loop between two models ends; naming itself is a mistake). */
static void resolve_chain(loader_t *ld, pending_chain_t *pc)
{
    int i;

    for (i = 0; i < pc->names->nelts; i++) {
        const char *name = APR_ARRAY_IDX(pc->names, i, const char *);
        const llm_model_t *to;

        if (!name) {
            continue;                   /* not a string: already said */
        }
        if (!(to = llm_models_find(ld->m, name))) {
            fail(ld, path_index(ld->p, pc->jpath, (size_t)i),
                 apr_psprintf(ld->p, "\"%s\" is not an active model of "
                              "this file", name));
        }
        else if (to == pc->model) {
            fail(ld, path_index(ld->p, pc->jpath, (size_t)i),
                 "a model cannot be its own fallback");
        }
        else {
            APR_ARRAY_PUSH(*pc->to, const llm_model_t *) = to;
        }
    }
}

static void resolve_chains(loader_t *ld)
{
    int k;

    for (k = 0; k < ld->pending->nelts; k++) {
        resolve_chain(ld, &APR_ARRAY_IDX(ld->pending, k, pending_chain_t));
    }
}

/* A model's "prefill": true is each of its providers'. */
static void mark_prefill(apr_array_header_t *providers)
{
    int i;

    for (i = 0; i < providers->nelts; i++) {
        APR_ARRAY_IDX(providers, i, llm_provider_t *)->prefill = 1;
    }
}

/* A name active_models gives once: a second listing is the problem, and
 * the model is not read again (its own problems would be said twice). */
static int list_once(loader_t *ld, const char *group, const char *name,
                     const char *mp)
{
    const char *first = apr_hash_get(ld->listed, name, APR_HASH_KEY_STRING);

    if (first) {
        fail(ld, mp, apr_psprintf(ld->p, strcmp(first, group)
                                  ? "model \"%s\" is active in two groups"
                                  : "model \"%s\" is listed twice in "
                                    "active_models", name));
        return 0;
    }
    apr_hash_set(ld->listed, apr_pstrdup(ld->p, name), APR_HASH_KEY_STRING,
                 apr_pstrdup(ld->p, group));
    return 1;
}

/* The model @a name of group object @a go, in the table under its name:
 * NULL (said) when it is listed again, or not defined. A model with a
 * problem in its fields is in the table all the same, so that the
 * fallbacks naming it are not also said to name nothing. */
static llm_model_t *claim_model(loader_t *ld, json_object *go,
                                const char *group, const char *name,
                                const char *mp, json_object **mo)
{
    llm_model_t *model;

    if (!list_once(ld, group, name, mp)) {
        return NULL;
    }
    if (!json_object_object_get_ex(go, name, mo)
        || !json_object_is_type(*mo, json_type_object)) {
        fail(ld, mp, apr_psprintf(ld->p, "model \"%s\" is active but not "
                                  "defined in group \"%s\"", name, group));
        return NULL;
    }
    model = apr_pcalloc(ld->p, sizeof(*model));
    model->name = apr_pstrdup(ld->p, name);
    model->group = apr_pstrdup(ld->p, group);
    APR_ARRAY_PUSH(ld->m->models, llm_model_t *) = model;
    apr_hash_set(ld->m->by_name, model->name, APR_HASH_KEY_STRING, model);
    return model;
}

static void read_model(loader_t *ld, json_object *go, const char *group,
                       const char *name)
{
    int prefill = 0;
    llm_model_t *model;
    json_object *mo;
    const char *mp = path_key(ld->p, path_key(ld->p, "$", group), name);
    const char *list_err;

    if (!(model = claim_model(ld, go, group, name, mp, &mo))) {
        return;
    }
    list_err = read_provider_list(ld, mo, mp, "providers", 0,
                                  &model->providers);
    read_provider_list(ld, mo, mp, "providers_sleep", 1,
                       &model->providers_sleep);
    opt_string(ld, mo, mp, "balance", NULL, &model->balance);
    read_chain(ld, mo, mp, model, "fallbacks", &model->fallbacks);
    read_chain(ld, mo, mp, model, "on_context_length",
               &model->on_context_length);
    /* A list that is not one was said: that it is empty would be the
     * same mistake said twice. */
    if (!list_err && model->providers->nelts == 0) {
        fail(ld, path_key(ld->p, mp, "providers"),
             "an active model needs at least one provider");
    }
    if (!opt_bool(ld, mo, mp, "prefill", &prefill) && prefill) {
        mark_prefill(model->providers);
        mark_prefill(model->providers_sleep);
    }
}

/* The object of @a group, or NULL (said). */
static json_object *group_object(loader_t *ld, json_object *root,
                                 const char *group)
{
    json_object *go;

    if (!json_object_object_get_ex(root, group, &go)
        || !json_object_is_type(go, json_type_object)) {
        fail(ld, path_key(ld->p, "$", group),
             apr_psprintf(ld->p, "group \"%s\" is named in active_models "
                          "but is not an object of the file", group));
        return NULL;
    }
    return go;
}

/* One list of active_models. The group is looked up at its first name
 * (an empty list of a missing group is allowed, as it always was), and
 * a missing group is one problem, not one per name. */
static void read_active_group(loader_t *ld, json_object *root,
                              const char *group, json_object *names)
{
    const char *ap = path_key(ld->p, "$.active_models", group);
    json_object *go = NULL;
    size_t i;
    size_t n;

    if (!json_object_is_type(names, json_type_array)) {
        fail(ld, ap, apr_psprintf(ld->p, "must be a list of model names, "
                                  "not %s", type_name(names)));
        return;
    }
    n = json_object_array_length(names);
    for (i = 0; i < n; i++) {
        json_object *nm = json_object_array_get_idx(names, i);

        if (!json_object_is_type(nm, json_type_string)) {
            fail(ld, path_index(ld->p, ap, i),
                 "a model name must be a string");
            continue;
        }
        if (!go && !(go = group_object(ld, root, group))) {
            return;
        }
        read_model(ld, go, group, json_object_get_string(nm));
    }
}

static void read_active(loader_t *ld, json_object *root)
{
    json_object *active;

    if (!json_object_object_get_ex(root, "active_models", &active)) {
        fail(ld, "$", "\"active_models\" is missing: name the models "
             "clients may use, as {\"<group>\": [\"<model>\", ...]}");
        return;
    }
    if (!json_object_is_type(active, json_type_object)) {
        fail(ld, "$.active_models", "must be an object of lists");
        return;
    }
    json_object_object_foreach(active, group, names) {
        read_active_group(ld, root, group, names);
    }
}

/* "line L, column C" of byte @a off, for json-c parse errors. */
static const char *where(apr_pool_t *p, const char *json, apr_size_t off)
{
    apr_size_t i;
    int line = 1;
    int col = 1;

    for (i = 0; i < off; i++) {
        if (json[i] == '\n') {
            line++;
            col = 1;
        }
        else {
            col++;
        }
    }
    return apr_psprintf(p, "line %d, column %d", line, col);
}

/* Strict JSON, as the door reads a body (llm_json_check): what json-c
 * alone takes (comments, NaN, a repeated key whose first value would be
 * silently lost) is refused with where it is. Text that is not a JSON
 * object is the file's only problem: nothing after it can be read.
 * json-c objects are malloc'ed: the tree must not outlive the parse. */
static const char *parse_root(loader_t *ld, const char *json, apr_size_t len,
                              json_object **root)
{
    llm_json_check_t check;

    if (!(*root = llm_json_parse_strict(ld->p, json, len, 0, &check))) {
        if (check.repeated_key) {
            return problem(ld, apr_psprintf(ld->p, "%s: invalid JSON: a key "
                                            "is repeated in an object",
                                            ld->file));
        }
        return problem(ld, apr_psprintf(ld->p, "%s: invalid JSON at %s: %s",
                                        ld->file,
                                        where(ld->p, json, check.offset),
                                        check.offset >= len
                                        ? "unexpected end of file"
                                        : check.reason));
    }
    if (!json_object_is_type(*root, json_type_object)) {
        json_object_put(*root);
        *root = NULL;
        return fail(ld, "$", "the file must hold a JSON object");
    }
    return NULL;
}

static void loader_init(loader_t *ld, apr_pool_t *p, const char *path)
{
    ld->p = p;
    ld->file = path;
    ld->problems = apr_array_make(p, 4, sizeof(const char *));
    ld->ids = apr_hash_make(p);
    ld->listed = apr_hash_make(p);
    ld->pending = apr_array_make(p, 4, sizeof(pending_chain_t));
    ld->m = apr_pcalloc(p, sizeof(*ld->m));
    ld->m->path = apr_pstrdup(p, path);
    ld->m->models = apr_array_make(p, 8, sizeof(llm_model_t *));
    ld->m->providers = apr_array_make(p, 8, sizeof(llm_provider_t *));
    ld->m->by_name = apr_hash_make(p);
    ld->m->loaded_at = apr_time_now();
}

int llm_models_parse_all(apr_pool_t *p, const char *path,
                         const char *json, apr_size_t len,
                         apr_array_header_t **problems, llm_models_t **out)
{
    loader_t ld;
    json_object *root = NULL;

    loader_init(&ld, p, path);
    *problems = ld.problems;
    if (parse_root(&ld, json, len, &root)) {
        return ld.problems->nelts;
    }
    read_active(&ld, root);
    json_object_put(root);
    resolve_chains(&ld);
    if (ld.problems->nelts == 0) {
        *out = ld.m;
    }
    return ld.problems->nelts;
}

const char *llm_models_parse(apr_pool_t *p, const char *path,
                             const char *json, apr_size_t len,
                             llm_models_t **out)
{
    apr_array_header_t *problems;
    int n = llm_models_parse_all(p, path, json, len, &problems, out);

    if (n == 0) {
        return NULL;
    }
    /* httpd's start-up shows one message: the first problem, and that
     * fixing it is not the end when it is not. */
    return n == 1 ? APR_ARRAY_IDX(problems, 0, const char *)
                  : apr_psprintf(p, "%s (and %d more problem(s): llmctl "
                                 "config check lists them all)",
                                 APR_ARRAY_IDX(problems, 0, const char *),
                                 n - 1);
}

const char *llm_models_load(apr_pool_t *p, const char *path,
                            llm_models_t **out)
{
    char *buf;
    apr_size_t n;
    const char *err = llm_file_slurp(p, path, 64 * 1024 * 1024, &buf, &n);

    return err ? err : llm_models_parse(p, path, buf, n, out);
}

const llm_model_t *llm_models_find(const llm_models_t *m, const char *name)
{
    return m ? apr_hash_get(m->by_name, name, APR_HASH_KEY_STRING) : NULL;
}
