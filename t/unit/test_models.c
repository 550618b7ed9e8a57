/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The models file: what loads, and how each mistake is reported: every
 * one of a file, in order, each once. */

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "llm_models.h"
#include "tap.h"

static apr_pool_t *pool;

static const char *load(const char *json, llm_models_t **m)
{
    *m = NULL;
    return llm_models_parse(pool, "models.json", json, strlen(json), m);
}

/* A one-model file with @a provider as its only provider. */
static const char *load_provider(const char *provider)
{
    llm_models_t *m;

    return load(apr_psprintf(pool, "{\"g\":{\"m\":{\"providers\":[%s]}},"
                             "\"active_models\":{\"g\":[\"m\"]}}", provider),
                &m);
}

static void test_valid_file(void)
{
    const char *json =
        "{\"google_models\":{\"google/gemma-3-12b-it\":{\"providers\":["
        "{\"id\":\"g1\",\"api_host\":\"HTTP://10.0.0.5:7000/\","
        "\"api_token\":\"\",\"api_type\":\"vllm\",\"input_size\":4096,"
        "\"model_path\":\"\",\"weight\":1.0,\"keep_alive\":null,"
        "\"tool_calling\":false},"
        "{\"id\":\"g2\",\"api_host\":\"https://example.com/v1beta/openai/\","
        "\"api_type\":\"openai\",\"api_token\":\"sk-x\",\"input_size\":\"512\","
        "\"model_path\":\"gemini\",\"weight\":7,\"keep_alive\":\" 35m\","
        "\"tool_calling\":true,\"extra\":{\"ignored\":1}}],"
        "\"providers_sleep\":[{\"id\":\"g3\",\"api_host\":\"http://h:11434\","
        "\"api_type\":\"ollama\",\"is_embedding\":true,\"weight\":-1}]},"
        "\"inactive\":{\"providers\":[]}},"
        "\"active_models\":{\"google_models\":[\"google/gemma-3-12b-it\"]}}";
    llm_models_t *m;
    const llm_model_t *model;
    llm_provider_t *p1, *p2, *p3;
    const char *err = load(json, &m);

    is_str(err, NULL, "the original router's sample loads");
    if (err) {
        return;
    }
    is_int(m->models->nelts, 1, "only active models are loaded");
    model = llm_models_find(m, "google/gemma-3-12b-it");
    ok(model != NULL, "model found by name");
    ok(llm_models_find(m, "inactive") == NULL, "inactive model not found");
    is_int(model->providers->nelts, 2, "two primary providers");
    is_int(model->providers_sleep->nelts, 1, "one sleep provider");
    is_int(m->providers->nelts, 3, "three providers in the table");
    p1 = APR_ARRAY_IDX(model->providers, 0, llm_provider_t *);
    p2 = APR_ARRAY_IDX(model->providers, 1, llm_provider_t *);
    p3 = APR_ARRAY_IDX(model->providers_sleep, 0, llm_provider_t *);
    is_str(p1->api_host, "http://10.0.0.5:7000",
           "scheme and host lower-cased, trailing / dropped");
    is_str(p1->origin, "http://10.0.0.5:7000/", "origin of a bare host");
    is_str(p2->api_host, "https://example.com/v1beta/openai",
           "a path in api_host is kept");
    is_str(p2->origin, "https://example.com/", "origin drops the path");
    is_int(p1->api_type, LLM_API_VLLM, "api_type vllm");
    is_int(p2->api_type, LLM_API_OPENAI, "api_type openai");
    is_int(p2->input_size, 512, "input_size as a numeric string");
    ok(p2->weight == 1.0, "weight clamped to 1");
    ok(p3->weight == 0.0, "weight clamped to 0");
    ok(p1->weight == 1.0, "weight default 1");
    is_int(apr_time_sec(p2->keep_alive), 35 * 60, "keep_alive 35m");
    is_int(p1->keep_alive, 0, "keep_alive null");
    ok(p2->tool_calling && !p1->tool_calling, "tool_calling");
    ok(p3->is_embedding && p3->sleep_tier, "sleep tier, is_embedding");
    is_str(p2->api_token, "sk-x", "api_token");
    is_str(p1->api_token, "", "api_token default empty");
    is_str(p2->model_path, "gemini", "model_path");
    ok(p1->slot == 0 && p2->slot == 1 && p3->slot == 2, "slots in order");
    ok(p1->stats && p1->stats->selected == 0, "stats allocated, zeroed");
}

static void test_json_errors(void)
{
    llm_models_t *m;

    like(load("{\n  \"a\": 1,\n  oops\n}", &m),
         "models.json: invalid JSON at line 3", "syntax error has a line");
    like(load("{\"a\":", &m), "unexpected end of file", "truncated file");
    like(load("[]", &m), "$: the file must hold a JSON object",
         "top level not an object");
    like(load("{} {}", &m), "text after the value", "trailing text");
    like(load("{\"a\":1, /* c */ \"b\":2}", &m),
         "invalid JSON at line 1, column 9: a quoted key expected",
         "comments refused, with where");
    like(load("{\"g\":{\"w\":NaN}}", &m), "an unexpected character",
         "NaN refused");
    like(load("{\"a\":1,\"a\":2}", &m), "a key is repeated",
         "a repeated key refused");
    like(load("{\"a\":\"x", &m), "unexpected end of file",
         "a file cut in a string");
    like(load("{\"g\":{}}", &m), "\"active_models\" is missing",
         "active_models required");
    like(load("{\"active_models\":[]}", &m),
         "$.active_models: must be an object", "active_models type");
    like(load("{\"active_models\":{\"g\":\"m\"}}", &m),
         "$.active_models.g: must be a list", "active list type");
    like(load("{\"active_models\":{\"g\":[\"m\"]}}", &m),
         "$.g: group \"g\" is named in active_models",
         "active group missing");
    like(load("{\"g\":{},\"active_models\":{\"g\":[\"a/b\"]}}", &m),
         "$.g[\"a/b\"]: model \"a/b\" is active but not defined",
         "active model missing, path quotes odd keys");
    like(load("{\"g\":{\"m\":{}},\"active_models\":{\"g\":[\"m\"]}}", &m),
         "$.g.m.providers: an active model needs at least one provider",
         "model without providers");
    like(load("{\"g\":{\"m\":{\"providers\":{}}},"
              "\"active_models\":{\"g\":[\"m\"]}}", &m),
         "$.g.m.providers: must be a list", "providers type");
    ok(load("{\"active_models\":{}}", &m) == NULL && m->models->nelts == 0,
       "no active models is allowed");
}

static void test_provider_errors(void)
{
    like(load_provider("1"), "$.g.m.providers[0]: a provider must be an "
         "object", "provider type");
    like(load_provider("{\"api_host\":\"http://h\",\"api_type\":\"vllm\"}"),
         "$.g.m.providers[0].id: is required", "id required");
    like(load_provider("{\"id\":\"\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\"}"),
         ".id: is required and must be a non-empty string", "id not empty");
    like(load_provider("{\"id\":\"a\",\"api_type\":\"vllm\"}"),
         ".api_host: is required", "api_host required");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"ftp://h\","
                       "\"api_type\":\"vllm\"}"),
         ".api_host: \"ftp://h\" is not an http:// or https:// URL",
         "api_host scheme");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://\","
                       "\"api_type\":\"vllm\"}"),
         "has no host", "api_host without host");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\"}"),
         ".api_type: is required", "api_type required");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"llama.cpp\"}"),
         "unknown api_type \"llama.cpp\" (known: openai, vllm, lmstudio, "
         "ollama, anthropic)", "api_type unknown");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\",\"weight\":\"high\"}"),
         ".weight: must be a number, not string", "weight type");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\",\"keep_alive\":\"35x\"}"),
         ".keep_alive: \"35x\" is not a duration", "keep_alive syntax");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\",\"input_size\":\"4k\"}"),
         ".input_size: \"4k\" is not an integer", "input_size syntax");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\",\"tool_calling\":\"yes\"}"),
         ".tool_calling: must be true or false", "tool_calling type");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\",\"api_token\":5}"),
         ".api_token: must be a string, not int", "api_token type");
    like(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                       "\"api_type\":\"vllm\"},{\"id\":\"a\","
                       "\"api_host\":\"http://i\",\"api_type\":\"vllm\"}"),
         "$.g.m.providers[1].id: duplicate provider id \"a\" (first used at "
         "$.g.m.providers[0])", "duplicate id names both places");
}

static void test_durations(void)
{
    apr_interval_time_t t;

    ok(llm_parse_duration("90s", &t) == 0 && t == apr_time_from_sec(90),
       "90s");
    ok(llm_parse_duration(" 2 H ", &t) == 0 && t == apr_time_from_sec(7200),
       "2h with spaces and upper case");
    ok(llm_parse_duration("5", &t) < 0, "unit required");
    ok(llm_parse_duration("m", &t) < 0, "number required");
    ok(llm_parse_duration("-5m", &t) < 0, "no negative");
    ok(llm_parse_duration("5m5", &t) < 0, "nothing after the unit");
}

/* Every problem of @a json, joined by newlines ("" for none); *m is
 * NULL unless there is none. */
static const char *all_problems(const char *json, llm_models_t **m)
{
    apr_array_header_t *problems;
    const char *s = "";
    int n;
    int i;

    *m = NULL;
    n = llm_models_parse_all(pool, "models.json", json, strlen(json),
                             &problems, m);
    if (n != problems->nelts) {
        return "(the count is not the list's length)";
    }
    for (i = 0; i < n; i++) {
        s = apr_pstrcat(pool, s, i ? "\n" : "",
                        APR_ARRAY_IDX(problems, i, const char *), NULL);
    }
    return s;
}

/* Two models a and b in group g, a with @a extra members. */
static const char *load_chain(const char *extra, llm_models_t **m)
{
    return load(apr_psprintf(pool, "{\"g\":{"
                             "\"a\":{\"providers\":[{\"id\":\"pa\","
                             "\"api_host\":\"http://h:1\","
                             "\"api_type\":\"vllm\"}]%s},"
                             "\"b\":{\"providers\":[{\"id\":\"pb\","
                             "\"api_host\":\"http://h:2\","
                             "\"api_type\":\"vllm\"}],"
                             "\"fallbacks\":[\"a\"]}},"
                             "\"active_models\":{\"g\":[\"a\",\"b\"]}}",
                             extra), m);
}

static void test_fallbacks(void)
{
    llm_models_t *m;
    const llm_model_t *a;
    const llm_model_t *b;

    is_str(load_chain(",\"fallbacks\":[\"b\"],"
                      "\"on_context_length\":[\"b\"]", &m), NULL,
           "fallbacks naming a model defined later load");
    a = llm_models_find(m, "a");
    b = llm_models_find(m, "b");
    ok(a && b && a->fallbacks->nelts == 1
       && APR_ARRAY_IDX(a->fallbacks, 0, const llm_model_t *) == b
       && APR_ARRAY_IDX(a->on_context_length, 0, const llm_model_t *) == b,
       "names resolved to the models");
    ok(b && APR_ARRAY_IDX(b->fallbacks, 0, const llm_model_t *) == a
       && b->on_context_length->nelts == 0,
       "a loop between two models is allowed (the chain skips the tried)");
    like(load_chain(",\"fallbacks\":[\"zz\"]", &m),
         "$.g.a.fallbacks[0]: \"zz\" is not an active model",
         "an unknown model refused");
    like(load_chain(",\"on_context_length\":[\"a\"]", &m),
         "$.g.a.on_context_length[0]: a model cannot be its own fallback",
         "a model as its own fallback refused");
    like(load_chain(",\"fallbacks\":\"b\"", &m),
         "$.g.a.fallbacks: must be a list of model names, not string",
         "a string instead of a list refused");
    like(load_chain(",\"fallbacks\":[1]", &m),
         "$.g.a.fallbacks[0]: a model name must be a string",
         "a number as a name refused");
    is_str(all_problems(apr_psprintf(pool, "{\"g\":{\"a\":{\"providers\":"
                                     "[{\"id\":\"pa\",\"api_host\":"
                                     "\"http://h\",\"api_type\":\"vllm\"}],"
                                     "\"fallbacks\":[1,\"zz\",\"a\"]}},"
                                     "\"active_models\":{\"g\":[\"a\"]}}"),
                        &m),
           "models.json: $.g.a.fallbacks[0]: a model name must be a string\n"
           "models.json: $.g.a.fallbacks[1]: \"zz\" is not an active model of "
           "this file\n"
           "models.json: $.g.a.fallbacks[2]: a model cannot be its own "
           "fallback", "each name of a chain at its own index");
}

/* Problems in two models, their providers and their fallbacks: each one
 * named, in the order of active_models, then of the fields, fallbacks
 * last. */
static void test_every_problem(void)
{
    const char *json =
        "{\"g\":{"
        "\"a\":{\"providers\":[{\"id\":\"x\",\"api_host\":\"ftp://h\","
        "\"api_type\":\"vllm\"},{\"id\":\"y\",\"api_host\":\"http://h\","
        "\"api_type\":\"gemini\",\"weight\":\"1\"}],"
        "\"fallbacks\":[\"zz\",1]},"
        "\"b\":{\"providers_sleep\":[{\"id\":\"x\",\"api_host\":\"http://i\","
        "\"api_type\":\"ollama\",\"keep_alive\":\"soon\"}]}},"
        "\"active_models\":{\"g\":[\"a\",\"b\",\"c\"]}}";
    llm_models_t *m;

    is_str(all_problems(json, &m),
           "models.json: $.g.a.providers[0].api_host: \"ftp://h\" is not an "
           "http:// or https:// URL\n"
           "models.json: $.g.a.providers[1].api_type: unknown api_type "
           "\"gemini\" (known: openai, vllm, lmstudio, ollama, anthropic)\n"
           "models.json: $.g.a.providers[1].weight: must be a number, not "
           "string\n"
           "models.json: $.g.a.fallbacks[1]: a model name must be a string\n"
           "models.json: $.g.b.providers_sleep[0].keep_alive: \"soon\" is not "
           "a duration like \"90s\", \"35m\" or \"2h\"\n"
           "models.json: $.g.b.providers_sleep[0].id: duplicate provider id "
           "\"x\" (first used at $.g.a.providers[0])\n"
           "models.json: $.g.b.providers: an active model needs at least "
           "one provider\n"
           "models.json: $.g.c: model \"c\" is active but not defined in "
           "group \"g\"\n"
           "models.json: $.g.a.fallbacks[0]: \"zz\" is not an active model "
           "of this file",
           "every problem, in order");
    ok(m == NULL, "no table when there is a problem");
    like(load(json, &m), "models.json: $.g.a.providers[0].api_host: "
         "\"ftp://h\" is not an http:// or https:// URL (and 8 more "
         "problem(s): llmctl config check lists them all)",
         "one message: the first problem, and how many more");
    is_str(load_provider("{\"id\":\"a\",\"api_host\":\"http://h\","
                         "\"api_type\":\"x\"}"),
           "models.json: $.g.m.providers[0].api_type: unknown api_type \"x\" "
           "(known: openai, vllm, lmstudio, ollama, anthropic)",
           "one problem: the message alone");
}

/* What a wrong part would cause is not said again. */
static void test_each_problem_once(void)
{
    llm_models_t *m;

    is_str(all_problems("{\"g\":{\"m\":{\"providers\":{}}},"
                        "\"active_models\":{\"g\":[\"m\"]}}", &m),
           "models.json: $.g.m.providers: must be a list, not object",
           "providers not a list: not also said empty");
    is_str(all_problems("{\"g\":{\"m\":{\"providers\":[7]},"
                        "\"n\":{\"providers\":[{\"id\":\"b\","
                        "\"api_host\":\"http://h\",\"api_type\":\"vllm\"}],"
                        "\"fallbacks\":[\"m\"]}},"
                        "\"active_models\":{\"g\":[\"m\",\"n\"]}}", &m),
           "models.json: $.g.m.providers[0]: a provider must be an object, "
           "not int",
           "a broken provider: its model has one, and is a fallback");
    is_str(all_problems("{\"active_models\":{\"g\":[\"a\",\"b\"]}}", &m),
           "models.json: $.g: group \"g\" is named in active_models but is "
           "not an object of the file", "a missing group: said once");
    is_str(all_problems("{\"g\":{\"m\":{\"providers\":[{\"api_host\":\"\","
                        "\"api_type\":5}]}},"
                        "\"active_models\":{\"g\":[\"m\"]}}", &m),
           "models.json: $.g.m.providers[0].id: is required and must be a "
           "non-empty string\n"
           "models.json: $.g.m.providers[0].api_host: is required and must "
           "be a non-empty string\n"
           "models.json: $.g.m.providers[0].api_type: must be a string, not "
           "int", "the required fields, each");
    is_str(all_problems("{\n\"g\": oops,\n\"active_models\": 1}", &m),
           "models.json: invalid JSON at line 2, column 6: an unexpected "
           "character", "invalid JSON: one problem, with where it is");
    is_str(all_problems("{\"g\":{},\"active_models\":{\"g\":[\"m\","
                        "\"m\"]}}", &m),
           "models.json: $.g.m: model \"m\" is active but not defined in "
           "group \"g\"\n"
           "models.json: $.g.m: model \"m\" is listed twice in active_models",
           "a model listed twice: the listing said, not the model again");
    is_str(all_problems("{\"g\":{\"m\":{}},\"h\":{\"m\":{}},"
                        "\"active_models\":{\"g\":[\"m\"],\"h\":[\"m\"]}}",
                        &m),
           "models.json: $.g.m.providers: an active model needs at least one "
           "provider\n"
           "models.json: $.h.m: model \"m\" is active in two groups",
           "a model active in two groups");
    is_str(all_problems("{\"active_models\":{\"g\":[]}}", &m), "",
           "an empty list of a missing group is still allowed");
    ok(m != NULL && m->models->nelts == 0, "and gives a table");
}

/* A FIFO (or a directory) where the models file belongs is refused at
 * once: httpd's start must not wait for a writer. */
static void test_not_a_file(void)
{
    char dir[] = "/tmp/llm-models-XXXXXX";
    const char *fifo;
    llm_models_t *m = NULL;
    const char *err;
    time_t t0;

    if (!mkdtemp(dir)) {
        ok(0, "mkdtemp");
        return;
    }
    fifo = apr_pstrcat(pool, dir, "/models.json", NULL);
    ok(mkfifo(fifo, 0600) == 0, "a FIFO made");
    t0 = time(NULL);
    err = llm_models_load(pool, fifo, &m);
    ok(err && strstr(err, "not a regular file"), "a FIFO: not a regular file");
    ok(time(NULL) - t0 < 2, "... said at once, no writer awaited");
    err = llm_models_load(pool, dir, &m);
    ok(err && strstr(err, "not a regular file"), "a directory: the same");
    unlink(fifo);
    rmdir(dir);
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_valid_file();
    test_json_errors();
    test_provider_errors();
    test_durations();
    test_fallbacks();
    test_every_problem();
    test_each_problem_once();
    test_not_a_file();
    apr_pool_destroy(pool);
    return tap_done();
}
