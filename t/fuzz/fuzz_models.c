/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for the models file (llm_models.c): an input is a file's
 * bytes, given to llm_models_parse_all() (every problem, as llmctl config
 * check reads a file) and to llm_models_parse() (the first, as httpd
 * does) with exactly its length (no NUL after it: a file is read whole,
 * but the parser must not count on the terminator).
 *
 * Properties (a violation abort()s, naming it):
 *   - the count returned is the list's length; each problem says
 *     "<path>: " first, and none is said twice (going on past a problem
 *     must not say it again, nor loop);
 *   - invalid JSON is the only problem of its file;
 *   - llm_models_parse() says the first problem, alone or followed by
 *     how many more, and loads exactly when there is none;
 *   - a refusal leaves *out alone;
 *   - a table that loads is consistent: every model is found by its
 *     name, has a provider, and its providers are in the table at their
 *     slot; every provider has an id, an http(s) api_host without a
 *     trailing '/', an origin that is its scheme://authority/ in lower
 *     case, a known api_type, a weight in [0,1], an input_size and a
 *     keep_alive that are not negative, and stats;
 *   - provider ids are unique.
 */

#define FUZZ_NAME "fuzz_models"

#include <strings.h>

#include "fuzz.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "llm_models.h"

#define PATH "fuzz/models.json"


static void check_provider(const llm_models_t *m, const llm_provider_t *pr,
                           apr_hash_t *ids, apr_pool_t *p)
{
    const char *h = pr->api_host, *o = pr->origin;
    size_t olen, i;

    FUZZ_CHECK(pr->id && pr->api_host && pr->origin && pr->api_token
               && pr->model_path && pr->stats,
               "a provider has id, api_host, origin, token, model_path "
               "and stats");
    FUZZ_CHECK(!apr_hash_get(ids, pr->id, APR_HASH_KEY_STRING),
               "provider ids are unique");
    apr_hash_set(ids, apr_pstrdup(p, pr->id), APR_HASH_KEY_STRING, pr);
    FUZZ_CHECK(pr->slot >= 0 && pr->slot < m->providers->nelts
               && APR_ARRAY_IDX(m->providers, pr->slot, llm_provider_t *)
                  == pr,
               "a provider is in the table at its slot");
    FUZZ_CHECK(!strncmp(h, "http://", 7) || !strncmp(h, "https://", 8),
               "api_host is http(s), in lower case");
    FUZZ_CHECK(*h && h[strlen(h) - 1] != '/',
               "api_host without a trailing '/'");
    olen = strlen(o);
    FUZZ_CHECK(olen > 8 && o[olen - 1] == '/'
               && !strncmp(h, o, olen - 1)
               && (h[olen - 1] == '\0' || h[olen - 1] == '/'),
               "origin is api_host's scheme://authority/");
    FUZZ_CHECK(!memchr(o + (o[4] == 's' ? 8 : 7), '/',
                       olen - (o[4] == 's' ? 8 : 7) - 1),
               "origin has no path");
    for (i = 0; i < olen; i++) {
        FUZZ_CHECK(!apr_isupper(o[i]), "origin in lower case");
    }
    FUZZ_CHECK((int)pr->api_type >= 0 && pr->api_type < LLM_API__COUNT,
               "a known api_type");
    FUZZ_CHECK(pr->weight >= 0.0 && pr->weight <= 1.0,
               "weight in [0,1]");
    FUZZ_CHECK(pr->input_size >= 0 && pr->keep_alive >= 0,
               "input_size and keep_alive not negative");
}

static void check_table(apr_pool_t *p, const llm_models_t *m)
{
    apr_hash_t *ids = apr_hash_make(p);
    int i, k, seen = 0;

    FUZZ_CHECK(m->models && m->providers && m->by_name && m->path
               && !strcmp(m->path, PATH), "a table with its path");
    for (i = 0; i < m->models->nelts; i++) {
        const llm_model_t *model = APR_ARRAY_IDX(m->models, i,
                                                 llm_model_t *);

        FUZZ_CHECK(model->name && model->group, "a model has a name and "
                   "a group");
        FUZZ_CHECK(llm_models_find(m, model->name) == model,
                   "a model is found by its name");
        FUZZ_CHECK(model->providers && model->providers->nelts > 0
                   && model->providers_sleep,
                   "a model has a provider");
        for (k = 0; k < model->providers->nelts; k++) {
            const llm_provider_t *pr = APR_ARRAY_IDX(model->providers, k,
                                                     llm_provider_t *);

            FUZZ_CHECK(!pr->sleep_tier, "providers are not sleepers");
            check_provider(m, pr, ids, p);
            seen++;
        }
        for (k = 0; k < model->providers_sleep->nelts; k++) {
            const llm_provider_t *pr = APR_ARRAY_IDX(model->providers_sleep,
                                                     k, llm_provider_t *);

            FUZZ_CHECK(pr->sleep_tier, "providers_sleep are sleepers");
            check_provider(m, pr, ids, p);
            seen++;
        }
    }
    FUZZ_CHECK(seen == m->providers->nelts,
               "every provider of the table belongs to a model");
    FUZZ_CHECK((int)apr_hash_count(m->by_name) == m->models->nelts,
               "one name per model");
}

/* The problems of one file, as llm_models_parse_all() gave them. */
static void check_problems(apr_pool_t *p, const apr_array_header_t *problems,
                           int n)
{
    apr_hash_t *said = apr_hash_make(p);
    int i;

    FUZZ_CHECK(n == problems->nelts, "the count is the list's length");
    for (i = 0; i < n; i++) {
        const char *pb = APR_ARRAY_IDX(problems, i, const char *);

        FUZZ_CHECK_TEXT(!strncmp(pb, PATH ": ", strlen(PATH) + 2),
                        "a problem names the file first", pb);
        FUZZ_CHECK_TEXT(!apr_hash_get(said, pb, APR_HASH_KEY_STRING),
                        "no problem is said twice", pb);
        apr_hash_set(said, pb, APR_HASH_KEY_STRING, pb);
        FUZZ_CHECK_TEXT(n == 1 || strncmp(pb + strlen(PATH) + 2,
                                          "invalid JSON", 12),
                        "invalid JSON is the only problem", pb);
    }
}

/* llm_models_parse()'s one message: the first problem, and how many
 * more when there are. */
static void check_first(apr_pool_t *p, const apr_array_header_t *problems,
                        const char *err)
{
    const char *first;

    FUZZ_CHECK((err == NULL) == (problems->nelts == 0),
               "parse refuses exactly when parse_all finds a problem");
    if (!err) {
        return;
    }
    first = APR_ARRAY_IDX(problems, 0, const char *);
    FUZZ_CHECK_TEXT(!strcmp(err, problems->nelts == 1 ? first
                            : apr_psprintf(p, "%s (and %d more problem(s): "
                                           "llmctl config check lists them "
                                           "all)", first,
                                           problems->nelts - 1)),
                    "parse says the first problem, and how many more", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_models_t *m = NULL;
    llm_models_t *m1 = NULL;
    apr_array_header_t *problems;
    apr_interval_time_t t;
    apr_pool_t *p;
    const char *err;
    char *buf;
    int n;

    fuzz_start();
    apr_pool_create(&p, fuzz_root);
    buf = fuzz_exact_copy(data, size);
    n = llm_models_parse_all(p, PATH, buf, size, &problems, &m);
    err = llm_models_parse(p, PATH, buf, size, &m1);
    free(buf);
    check_problems(p, problems, n);
    check_first(p, problems, err);
    if (n) {
        FUZZ_CHECK(m == NULL && m1 == NULL, "a refusal leaves *out alone");
    }
    else {
        FUZZ_CHECK(m != NULL && m1 != NULL, "a table when there is no "
                   "problem");
        check_table(p, m);
    }
    /* keep_alive's grammar on the bytes as a string. */
    if (llm_parse_duration(apr_pstrmemdup(p, (const char *)data, size),
                           &t) == 0) {
        FUZZ_CHECK(t >= 0, "a duration is not negative");
    }
    apr_pool_destroy(p);
    return 0;
}
