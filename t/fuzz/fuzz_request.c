/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for the door: a request body as the router takes it
 * (llm_router_handler.c), on the route its first byte picks
 * (fuzz_routes[] in fuzz.h). The rest of the input is the body (a
 * first byte of 0xff: the rest is "prefix\npath", for the route table):
 *
 *   llm_request_parse -> llm_wire_of_request ->
 *   llm_request_validate_endpoint (each dialect's rules, the built-ins')
 *   -> llm_request_for_provider for a provider of every api_type, with
 *   and without tool calling (or, for a built-in, llm_builtin_build and
 *   llm_builtin_response with the prompt library of prompts/).
 *
 * Properties (a violation abort()s, naming it):
 *   - the route found for a path is the one whose route it is (under
 *     the prefix when the route is prefixed), and such a path is in the
 *     gateway's namespace;
 *   - a refusal has a 4xx status, a code and a message, and its error
 *     body in the route's dialect is a JSON object;
 *   - a parse that succeeds was given JSON (RFC 8259: t/fuzz/fuzz.h has
 *     a validator of its own) and gives an object; a validation that
 *     succeeds
 *     gives a non-empty model name that is the whole JSON string (no
 *     NUL inside: the name resolved must be the name the client sent),
 *     and a stream flag of 0 or 1 (0 for embeddings);
 *   - the body for a provider is a JSON object (RFC 8259), says the
 *     provider's model, has no tool fields for
 *     a provider without tool calling, and leaves the client's object
 *     as it was;
 *   - a built-in's plan has the client's model, one canonical request
 *     (a JSON object) per input, and its answer envelope is JSON;
 *   - llm_texts_walk (what masking and the guard read and rewrite):
 *     texts written back as they were leave the body byte for byte;
 *     texts rewritten (longer, with quotes and braces) leave a body
 *     that is still JSON and still valid for the route, with its model.
 */

#define FUZZ_NAME "fuzz_request"

#include "fuzz.h"
#include "llm_builtin.h"
#include "llm_texts.h"
#include "llm_xlate.h"

static llm_prompts_t *prompts;

static void check_refusal(apr_pool_t *p, const llm_error_t *err,
                          llm_wire_e wire, int lo, int hi, const char *what)
{
    const char *body;

    FUZZ_CHECK(err->status >= lo && err->status <= hi, what);
    FUZZ_CHECK(err->code && *err->code && err->message && *err->message,
               "a refusal has a code and a message");
    body = llm_error_json_for_error(p, wire, err);
    FUZZ_CHECK_TEXT(fuzz_is_object(body, 1),
                    "the error body is a JSON object", body);
}

/* The model the validation returned is the whole string of the field
 * it came from. */
static void check_model_name(json_object *body, const char *name)
{
    static const char *const keys[] = { "model", "model_name", "name" };
    size_t i;

    FUZZ_CHECK(name && *name, "a valid request names a model");
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_object *v;

        if (json_object_object_get_ex(body, keys[i], &v)
            && json_object_is_type(v, json_type_string)
            && json_object_get_string(v) == name) {
            FUZZ_CHECK((size_t)json_object_get_string_len(v)
                       == strlen(name),
                       "the model name has no NUL inside (a name cut at "
                       "its NUL resolves another model)");
            return;
        }
    }
}

static const char *const tool_fields[] = {
    "tools", "functions", "tool_choice", "function_call",
    "parallel_tool_calls"
};

static void check_for_provider(apr_pool_t *p, json_object *body)
{
    const char *before = fuzz_text(p, body);
    int type, tools;

    for (type = 0; type < LLM_API__COUNT; type++) {
        for (tools = 0; tools < 2; tools++) {
            fuzz_provider_t f;
            json_object *out, *model;
            const char *text = NULL;
            apr_size_t len = 0;
            size_t i;

            fuzz_provider(&f, (llm_api_type_e)type, tools,
                          tools ? "served/fuzz" : "");
            out = llm_request_for_provider(body, &f.model, &f.provider,
                                           &text, &len);
            FUZZ_CHECK(out && text && strlen(text) == len,
                       "for_provider: a text of the length it says");
            FUZZ_CHECK_TEXT(fuzz_is_object(text, 1),
                            "for_provider: a JSON object", text);
            FUZZ_CHECK(json_object_object_get_ex(out, "model", &model)
                       && !strcmp(json_object_get_string(model),
                                  tools ? "served/fuzz" : "fuzz-model"),
                       "for_provider: the provider's model");
            for (i = 0; !tools && i < 5; i++) {
                FUZZ_CHECK_TEXT(!json_object_object_get_ex(out,
                                                           tool_fields[i],
                                                           NULL),
                                "for_provider: no tool fields without "
                                "tool calling", text);
            }
            json_object_put(out);
        }
    }
    FUZZ_CHECK_TEXT(!strcmp(before, fuzz_text(p, body)),
                    "for_provider: the client's object is unchanged",
                    fuzz_text(p, body));
}

static void check_builtin(apr_pool_t *p, const llm_endpoint_t *ep,
                          json_object *body, const char *model,
                          const char *raw, size_t raw_len)
{
    llm_builtin_plan_t *plan = NULL;
    llm_error_t err = { 0, NULL, NULL, NULL };
    llm_builtin_text_t *answers;
    const char *env;
    int i;

    if (!prompts) {
        return;
    }
    if (llm_builtin_build(p, ep->builtin, body, prompts, NULL, &plan,
                          &err) < 0) {
        check_refusal(p, &err, ep->wire, 400, 500,
                      "builtin_build: 400, or 500 for a missing prompt");
        return;
    }
    FUZZ_CHECK(plan && plan->kind == ep->builtin
               && plan->requests && plan->requests->nelts >= 1,
               "builtin_build: a plan with a request");
    FUZZ_CHECK(!strcmp(plan->model_name, model),
               "builtin_build: the model validate said");
    FUZZ_CHECK(!llm_builtin_is_multi(ep->builtin)
               || plan->inputs->nelts == plan->requests->nelts,
               "builtin_build: one request per text");
    answers = apr_pcalloc(p, sizeof(*answers) * plan->requests->nelts);
    for (i = 0; i < plan->requests->nelts; i++) {
        json_object *rq = APR_ARRAY_IDX(plan->requests, i, json_object *);

        FUZZ_CHECK(json_object_is_type(rq, json_type_object),
                   "builtin_build: the requests are objects");
        /* Answers from the input's bytes, one of them none at all. */
        answers[i].text = i == 1 ? NULL : raw;
        answers[i].len = i == 1 ? 0 : raw_len > 64 ? 64 : raw_len;
    }
    env = llm_builtin_response(p, plan, answers, plan->requests->nelts,
                               0.5);
    FUZZ_CHECK_TEXT(fuzz_is_object(env, 0),
                    "builtin_response: a JSON object", env);
    llm_builtin_parse_questions(p, raw, raw_len);
}

/* Masking's view of a body: each text kept as it is, or rewritten. */
static int text_same(void *baton, json_object *text)
{
    (void)baton;
    return json_object_set_string_len(text, json_object_get_string(text),
                                      json_object_get_string_len(text))
           ? 0 : 1;
}

static int text_wrapped(void *baton, json_object *text)
{
    apr_pool_t *p = baton;
    const char *s = apr_psprintf(p, "{{\"%s\"}}",
                                 json_object_get_string(text));

    return json_object_set_string(text, s) ? 0 : 1;
}

static void check_texts(apr_pool_t *p, const llm_endpoint_t *ep,
                        json_object *body, const char *model)
{
    json_object *copy = NULL;
    llm_wire_e wire = llm_wire_of_request(ep, body);
    llm_error_t err = { 0, NULL, NULL, NULL };
    const char *before = fuzz_text(p, body), *after, *model2 = NULL;
    int stream;

    FUZZ_CHECK(json_object_deep_copy(body, &copy, NULL) == 0, "deep copy");
    FUZZ_CHECK(llm_texts_walk(copy, wire, ep->op, ep->builtin, text_same,
                              NULL) == 0, "texts_walk: 0");
    after = fuzz_text(p, copy);
    FUZZ_CHECK_TEXT(!strcmp(before, after),
                    "texts_walk: texts written back as they were change "
                    "nothing", after);
    FUZZ_CHECK(llm_texts_walk(copy, wire, ep->op, ep->builtin, text_wrapped,
                              p) == 0, "texts_walk: 0");
    after = fuzz_text(p, copy);
    FUZZ_CHECK_TEXT(fuzz_is_object(after, 1),
                    "texts_walk: rewritten texts leave JSON", after);
    FUZZ_CHECK_TEXT(llm_request_validate_endpoint(p, ep, copy, &model2,
                                                  &stream, &err) == 0
                    && !strcmp(model, model2),
                    "texts_walk: rewritten texts leave a valid request "
                    "with its model", after);
    json_object_put(copy);
}

/* llm_request_validate, the check by operation alone. */
static void check_validate_op(apr_pool_t *p, const llm_endpoint_t *ep,
                              json_object *body)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    const char *model = NULL;
    int stream = -1;

    if (llm_request_validate(p, ep->op, body, &model, &stream, &err) == 0) {
        check_model_name(body, model);
        FUZZ_CHECK(stream == 0 || stream == 1, "validate: stream 0 or 1");
    }
    else {
        check_refusal(p, &err, ep->wire, 400, 400, "validate: a 400");
    }
}

static void run(apr_pool_t *p, const llm_endpoint_t *ep, const char *buf,
                size_t len)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    json_object *body;
    const char *model = NULL;
    int stream = -1, rc;
    llm_wire_e wire;

    body = llm_request_parse(p, buf, len, &err);
    if (!body) {
        check_refusal(p, &err, ep->wire, 400, 413, "parse: a 400 or 413");
        return;
    }
    FUZZ_CHECK(json_object_is_type(body, json_type_object),
               "parse: an object");
    /* json-c alone takes NaN, comments, single quotes...: the door must
     * not (the provider would be sent them as written). */
    FUZZ_CHECK(fuzz_rfc_json(buf, len), "parse: only JSON is taken");
    wire = llm_wire_of_request(ep, body);
    FUZZ_CHECK(wire == ep->wire || (ep->op == LLM_OP_EMBEDDINGS
                                    && wire == LLM_WIRE_OLLAMA_GENERATE),
               "wire_of_request: the route's, or Ollama's legacy one");
    if (ep->info == LLM_INFO_FAST_TEXT_MASK) {
        goto done;              /* the router reads its "text" alone */
    }
    rc = llm_request_validate_endpoint(p, ep, body, &model, &stream, &err);
    if (rc < 0) {
        check_refusal(p, &err, wire, 400, 400, "validate_endpoint: a 400");
        goto done;
    }
    FUZZ_CHECK(rc == 0, "validate_endpoint: 0 or -1");
    check_model_name(body, model);
    FUZZ_CHECK(stream == 0 || stream == 1,
               "validate_endpoint: stream 0 or 1");
    FUZZ_CHECK(ep->op != LLM_OP_EMBEDDINGS || stream == 0,
               "validate_endpoint: embeddings do not stream");
    check_texts(p, ep, body, model);
    if (ep->builtin != LLM_BUILTIN_NONE) {
        check_builtin(p, ep, body, model, buf, len);
    }
    else if (ep->op != LLM_OP_INFO) {
        check_validate_op(p, ep, body);
        check_for_provider(p, body);
    }
done:
    json_object_put(body);
}

/* The route table: "prefix\npath" (both made NUL-free). */
static void run_route(apr_pool_t *p, const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    const char *prefix, *path;
    const llm_endpoint_t *e;

    if (!nl) {
        return;
    }
    prefix = apr_pstrmemdup(p, buf, (apr_size_t)(nl - buf));
    path = apr_pstrmemdup(p, nl + 1, len - (size_t)(nl - buf) - 1);
    if (strlen(prefix) != (size_t)(nl - buf)
        || strlen(path) != len - (size_t)(nl - buf) - 1) {
        return;                 /* httpd's URIs have no NUL */
    }
    e = llm_endpoint_find(prefix, path);
    if (!e) {
        return;
    }
    if (e->info == LLM_INFO_MODEL) {
        FUZZ_CHECK(!strncmp(path, "/v1/models/", 11) && path[11],
                   "endpoint_find: /v1/models/{id} has an id");
    }
    else if (e->prefixed) {
        FUZZ_CHECK(*prefix && !strncmp(path, prefix, strlen(prefix))
                   && !strcmp(path + strlen(prefix), e->route),
                   "endpoint_find: a prefixed route is under the prefix");
    }
    else {
        FUZZ_CHECK(!strcmp(path, e->route), "endpoint_find: the route");
    }
    FUZZ_CHECK(e->route[0] == '/' && e->name && e->method,
               "endpoint_find: a route with a name and a method");
    FUZZ_CHECK(!strcmp(path, "/") || llm_endpoint_in_namespace(prefix, path)
               || !e->prefixed,
               "endpoint_find: a prefixed route is in the namespace");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *buf;

    if (fuzz_start()) {
        prompts = fuzz_prompts();
    }
    if (size < 1) {
        return 0;
    }
    fuzz_input = data;
    fuzz_input_len = size;
    apr_pool_create(&p, fuzz_root);
    /* Exactly the body's bytes, so that ASan sees a read past them. */
    buf = malloc(size - 1 ? size - 1 : 1);
    if (!buf) {
        abort();
    }
    memcpy(buf, data + 1, size - 1);
    if (data[0] == 0xff) {
        run_route(p, buf, size - 1);
    }
    else {
        run(p, fuzz_endpoint(data[0]), buf, size - 1);
    }
    free(buf);
    apr_pool_destroy(p);
    return 0;
}
