/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Routes, request validation and the per-provider rewrite. */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_request.h"
#include "tap.h"

static apr_pool_t *pool;

static void test_routes(void)
{
    const llm_endpoint_t *e;

    e = llm_endpoint_find("/api", "/v1/chat/completions");
    ok(e && e->op == LLM_OP_CHAT && !strcmp(e->method, "POST"),
       "/v1/chat/completions is chat");
    e = llm_endpoint_find("/api", "/api/chat/completions");
    ok(e && e->op == LLM_OP_CHAT, "prefixed chat");
    e = llm_endpoint_find("/api", "/chat/completions");
    ok(e && e->op == LLM_OP_CHAT, "unprefixed chat");
    e = llm_endpoint_find("/v2x", "/v2x/ping");
    ok(e && e->info == LLM_INFO_PING, "ping under a custom prefix");
    ok(llm_endpoint_find("/v2x", "/api/ping") == NULL,
       "the default prefix is gone when another is set");
    e = llm_endpoint_find("", "/embeddings");
    ok(e && e->op == LLM_OP_EMBEDDINGS, "no prefix");
    e = llm_endpoint_find("/api", "/v1/completions");
    ok(e && e->op == LLM_OP_COMPLETION,
       "/v1/completions is the legacy completion, not chat");
    e = llm_endpoint_find("/api", "/v1/responses");
    ok(e && e->op == LLM_OP_RESPONSES, "responses");
    e = llm_endpoint_find("/api", "/models");
    ok(e && e->info == LLM_INFO_MODELS && !strcmp(e->method, "GET"),
       "/models is a GET list");
    ok(llm_endpoint_find("/api", "/v1/chat/completions/") == NULL,
       "no trailing-slash variant");
    ok(llm_endpoint_find("/api", "/apichat/completions") == NULL,
       "prefix must end at a /");
    ok(llm_endpoint_in_namespace("/api", "/v1/nope"), "/v1/* is ours");
    ok(llm_endpoint_in_namespace("/api", "/api/nope"), "/api/* is ours");
    ok(!llm_endpoint_in_namespace("/api", "/index.html"), "/ is not");
    ok(!llm_endpoint_in_namespace("", "/x"), "nothing with no prefix");
}

static json_object *parse(const char *s, llm_error_t *err)
{
    return llm_request_parse(pool, s, strlen(s), err);
}

static void test_parse(void)
{
    llm_error_t err;
    json_object *o;

    o = parse("{\"model\":\"m\"} \n", &err);
    ok(o != NULL, "object with trailing space parses");
    json_object_put(o);
    ok(parse("", &err) == NULL && err.status == 400, "empty body");
    ok(parse("{\"model\":", &err) == NULL && err.status == 400
       && !strcmp(err.code, "invalid_json"), "truncated JSON");
    like(err.message, "unexpected end of input", "says what is wrong");
    ok(parse("[1,2]", &err) == NULL, "array refused");
    like(err.message, "must be a JSON object, not array", "array message");
    ok(parse("{} {}", &err) == NULL, "two values refused");
    like(err.message, "text after the value", "trailing text message");
}

static int validate(const char *body, llm_op_e op, const char **model,
                    int *stream, llm_error_t *err);

/* Issue 11, part 4: what json-c alone let through is refused, with the
 * byte and the reason; numbers the gateway does not read pass as the
 * client wrote them. */
static void test_parse_strict(void)
{
    static const struct {
        const char *body;
        const char *says;
    } bad[] = {
        { "{\"model\":\"m\",\"temperature\":NaN}", "at byte 27" },
        { "{\"model\":\"m\",\"temperature\":Infinity}", "at byte 27" },
        { "{\"model\":\"m\", /* c */ \"n\":1}", "at byte 14" },
        { "{'model':'m'}", "a quoted key expected" },
        { "{\"model\":\"m\xff\"}", "at byte 11: invalid UTF-8" },
        { "{\"model\\u0000zz\":\"m\"}", "contains NUL" },
        { "{\"model\":\"m\",\"model\":\"other\"}", "repeats a key" },
        { "{\"model\":\"m\",\"mod\\u0065l\":\"other\"}", "repeats a key" },
    };
    llm_error_t err;
    const char *model;
    int stream;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(parse(bad[i].body, &err) == NULL && err.status == 400
           && !strcmp(err.code, "invalid_json"),
           apr_psprintf(pool, "400 invalid_json: %s", bad[i].body));
        like(err.message, bad[i].says, "the message says where or why");
    }
    ok(validate("{\"model\":\"demo-chat\\u0000x\",\"messages\":[{\"role\":"
                "\"user\",\"content\":\"hi\"}]}", LLM_OP_CHAT, &model,
                &stream, &err) == -1
       && err.status == 400 && !strcmp(err.code, "invalid_value")
       && !strcmp(err.param, "model"),
       "a model name with NUL: 400 invalid_value, never routed as its prefix");
    ok(validate("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"hi\"}],\"max_tokens\":99999999999999999999}",
                LLM_OP_MESSAGES, &model, &stream, &err) == -1
       && !strcmp(err.param, "max_tokens"),
       "a number the gateway reads is range-checked (max_tokens > 64 bits)");
    {
        /* 200,000 one-word messages took 200 MB of json-c: the objects
         * are counted before json-c allocates any. */
        apr_size_t n = LLM_REQUEST_MAX_OBJECTS, k = 0;
        json_object *o;
        char *b = apr_palloc(pool, 40 * n + 64);

        k += sprintf(b, "{\"model\":\"m\",\"messages\":[");
        for (i = 0; i < n; i++) {
            k += sprintf(b + k, "%s{\"role\":\"user\",\"content\":\"w\"}",
                         i ? "," : "");
        }
        strcpy(b + k, "]}");
        ok(!llm_request_parse(pool, b, strlen(b), &err) && err.status == 413
           && !strcmp(err.code, "too_many_objects"),
           "one object over the limit: 413 too_many_objects");
        b[k - 1 - strlen("{\"role\":\"user\",\"content\":\"w\"}")] = ']';
        b[k - strlen("{\"role\":\"user\",\"content\":\"w\"}")] = '}';
        b[k + 1 - strlen("{\"role\":\"user\",\"content\":\"w\"}")] = '\0';
        o = llm_request_parse(pool, b, strlen(b), &err);
        ok(o != NULL, "at the limit: parsed");
        json_object_put(o);
        strcpy(b + k, "]}");
        o = llm_request_parse_max(pool, b, strlen(b), 0, &err);
        ok(o != NULL, "over it with no limit: parsed");
        json_object_put(o);
    }
}

/* Strings and numbers the gateway does not read go on as written. */
static const char *rewrite(const char *in, const llm_provider_t *p);
static llm_provider_t *provider(llm_api_type_e t, const char *host,
                                const char *model_path, int tools);

static void test_forward_as_written(void)
{
    is_str(rewrite("{\"model\":\"public-name\",\"seed\":99999999999999999999,"
                   "\"logit_bias\":{\"1\":-184467440737095516150},"
                   "\"x\":\"a\\u0000b\",\"t\":0.10}",
                   provider(LLM_API_OPENAI, "http://h", "up", 1)),
           "{\"model\":\"up\",\"seed\":99999999999999999999,"
           "\"logit_bias\":{\"1\":-184467440737095516150},"
           "\"x\":\"a\\u0000b\",\"t\":0.10}",
           "big integers, NUL in a string and 0.10 forwarded as written");
}

static int validate(const char *body, llm_op_e op, const char **model,
                    int *stream, llm_error_t *err)
{
    json_object *o = parse(body, err);
    int rc;

    if (!o) {
        return -2;
    }
    rc = llm_request_validate(pool, op, o, model, stream, err);
    /* model points into o: keep a copy before o goes */
    if (rc == 0) {
        *model = apr_pstrdup(pool, *model);
    }
    json_object_put(o);
    return rc;
}

static void test_validate(void)
{
    const char *model;
    int stream;
    llm_error_t err;

    ok(validate("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"hi\"}],\"stream\":true}", LLM_OP_CHAT,
                &model, &stream, &err) == 0 && stream
       && !strcmp(model, "m"), "valid chat");
    ok(validate("{\"model_name\":\"n\",\"messages\":[{\"role\":\"user\"}]}",
                LLM_OP_CHAT, &model, &stream, &err) == 0
       && !strcmp(model, "n") && !stream, "model_name accepted");
    ok(validate("{\"messages\":[{\"role\":\"user\"}]}", LLM_OP_CHAT, &model,
                &stream, &err) < 0 && !strcmp(err.param, "model")
       && !strcmp(err.code, "missing_required_parameter"), "model missing");
    ok(validate("{\"model\":7,\"messages\":[{\"role\":\"user\"}]}",
                LLM_OP_CHAT, &model, &stream, &err) < 0
       && !strcmp(err.code, "invalid_type"), "model not a string");
    ok(validate("{\"model\":\"\",\"messages\":[{\"role\":\"user\"}]}",
                LLM_OP_CHAT, &model, &stream, &err) < 0, "model empty");
    ok(validate("{\"model\":\"m\"}", LLM_OP_CHAT, &model, &stream, &err) < 0
       && !strcmp(err.param, "messages"), "messages missing");
    ok(validate("{\"model\":\"m\",\"messages\":[]}", LLM_OP_CHAT, &model,
                &stream, &err) < 0, "messages empty");
    ok(validate("{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}",
                LLM_OP_CHAT, &model, &stream, &err) < 0
       && !strcmp(err.param, "messages[0]"), "message without role");
    ok(validate("{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}],"
                "\"stream\":\"yes\"}", LLM_OP_CHAT, &model, &stream,
                &err) < 0 && !strcmp(err.param, "stream"),
       "stream must be a boolean");
    ok(validate("{\"model\":\"m\",\"prompt\":\"x\"}", LLM_OP_COMPLETION,
                &model, &stream, &err) == 0, "completion with prompt");
    ok(validate("{\"model\":\"m\"}", LLM_OP_COMPLETION, &model, &stream,
                &err) < 0 && !strcmp(err.param, "prompt"),
       "completion needs prompt");
    ok(validate("{\"model\":\"m\",\"input\":[\"a\",\"b\"]}",
                LLM_OP_EMBEDDINGS, &model, &stream, &err) == 0,
       "embeddings with input list");
    ok(validate("{\"model\":\"m\",\"input\":[]}", LLM_OP_EMBEDDINGS, &model,
                &stream, &err) < 0, "embeddings input empty");
    ok(validate("{\"model\":\"m\",\"input\":\"a\",\"stream\":true}",
                LLM_OP_EMBEDDINGS, &model, &stream, &err) < 0,
       "embeddings do not stream");
    ok(validate("{\"model\":\"m\"}", LLM_OP_RESPONSES, &model, &stream,
                &err) == 0, "responses: input optional");
    ok(validate("{\"model\":\"m\",\"input\":5}", LLM_OP_RESPONSES, &model,
                &stream, &err) < 0, "responses: input type");
}

static void test_new_routes(void)
{
    static const struct {
        const char *prefix;
        const char *path;
        const char *method;
        llm_dialect_e dialect;
        llm_op_e op;
        llm_info_e info;
        llm_wire_e wire;
        llm_builtin_e builtin;
    } r[] = {
        { "/api", "/", "GET", LLM_DIALECT_OLLAMA, LLM_OP_INFO,
          LLM_INFO_OLLAMA_HOME, LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/api/tags", "GET", LLM_DIALECT_OLLAMA, LLM_OP_INFO,
          LLM_INFO_TAGS, LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/tags", "GET", LLM_DIALECT_OLLAMA, LLM_OP_INFO,
          LLM_INFO_TAGS, LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/api/version", "GET", LLM_DIALECT_BUILTIN, LLM_OP_INFO,
          LLM_INFO_VERSION, LLM_WIRE_OPENAI_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/api/chat", "POST", LLM_DIALECT_OLLAMA, LLM_OP_CHAT,
          LLM_INFO_NONE, LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/api/generate", "POST", LLM_DIALECT_OLLAMA,
          LLM_OP_COMPLETION, LLM_INFO_NONE, LLM_WIRE_OLLAMA_GENERATE,
          LLM_BUILTIN_NONE },
        { "/api", "/api/embed", "POST", LLM_DIALECT_OLLAMA,
          LLM_OP_EMBEDDINGS, LLM_INFO_NONE, LLM_WIRE_OLLAMA_CHAT,
          LLM_BUILTIN_NONE },
        { "/api", "/api/show", "POST", LLM_DIALECT_OLLAMA, LLM_OP_INFO,
          LLM_INFO_SHOW, LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/api/v0/models", "GET", LLM_DIALECT_LMSTUDIO,
          LLM_OP_INFO, LLM_INFO_LMSTUDIO_MODELS, LLM_WIRE_LMSTUDIO_CHAT,
          LLM_BUILTIN_NONE },
        { "/api", "/api/v0/chat/completions", "POST", LLM_DIALECT_LMSTUDIO,
          LLM_OP_CHAT, LLM_INFO_NONE, LLM_WIRE_LMSTUDIO_CHAT,
          LLM_BUILTIN_NONE },
        { "/api", "/api/v0/completions", "POST", LLM_DIALECT_LMSTUDIO,
          LLM_OP_COMPLETION, LLM_INFO_NONE, LLM_WIRE_OPENAI_COMPLETION,
          LLM_BUILTIN_NONE },
        { "/api", "/api/v0/embeddings", "POST", LLM_DIALECT_LMSTUDIO,
          LLM_OP_EMBEDDINGS, LLM_INFO_NONE, LLM_WIRE_OPENAI_CHAT,
          LLM_BUILTIN_NONE },
        { "/api", "/v1/messages", "POST", LLM_DIALECT_ANTHROPIC,
          LLM_OP_MESSAGES, LLM_INFO_NONE, LLM_WIRE_ANTHROPIC,
          LLM_BUILTIN_NONE },
        { "/v2x", "/v2x/chat", "POST", LLM_DIALECT_OLLAMA, LLM_OP_CHAT,
          LLM_INFO_NONE, LLM_WIRE_OLLAMA_CHAT, LLM_BUILTIN_NONE },
        { "/api", "/api/conversation_with_model", "POST",
          LLM_DIALECT_BUILTIN, LLM_OP_CHAT, LLM_INFO_NONE,
          LLM_WIRE_OPENAI_CHAT, LLM_BUILTIN_CONVERSATION },
        { "/api", "/api/extended_conversation_with_model", "POST",
          LLM_DIALECT_BUILTIN, LLM_OP_CHAT, LLM_INFO_NONE,
          LLM_WIRE_OPENAI_CHAT, LLM_BUILTIN_EXTENDED_CONVERSATION },
        { "/api", "/api/generative_answer", "POST", LLM_DIALECT_BUILTIN,
          LLM_OP_CHAT, LLM_INFO_NONE, LLM_WIRE_OPENAI_CHAT,
          LLM_BUILTIN_GENERATIVE_ANSWER },
        { "/api", "/api/generate_questions", "POST", LLM_DIALECT_BUILTIN,
          LLM_OP_CHAT, LLM_INFO_NONE, LLM_WIRE_OPENAI_CHAT,
          LLM_BUILTIN_GENERATE_QUESTIONS },
        { "/api", "/api/translate", "POST", LLM_DIALECT_BUILTIN,
          LLM_OP_CHAT, LLM_INFO_NONE, LLM_WIRE_OPENAI_CHAT,
          LLM_BUILTIN_TRANSLATE },
        { "/api", "/api/simplify_text", "POST", LLM_DIALECT_BUILTIN,
          LLM_OP_CHAT, LLM_INFO_NONE, LLM_WIRE_OPENAI_CHAT,
          LLM_BUILTIN_SIMPLIFY_TEXT },
        { "/api", "/api/generate_article_from_text", "POST",
          LLM_DIALECT_BUILTIN, LLM_OP_CHAT, LLM_INFO_NONE,
          LLM_WIRE_OPENAI_CHAT, LLM_BUILTIN_GENERATE_ARTICLE },
        { "/api", "/api/create_full_article_from_texts", "POST",
          LLM_DIALECT_BUILTIN, LLM_OP_CHAT, LLM_INFO_NONE,
          LLM_WIRE_OPENAI_CHAT, LLM_BUILTIN_FULL_ARTICLE },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        const llm_endpoint_t *e = llm_endpoint_find(r[i].prefix, r[i].path);

        ok(e && !strcmp(e->method, r[i].method)
           && e->dialect == r[i].dialect && e->op == r[i].op
           && e->info == r[i].info && e->wire == r[i].wire
           && e->builtin == r[i].builtin,
           apr_psprintf(pool, "%s %s (prefix %s)", r[i].method, r[i].path,
                        r[i].prefix));
    }
    ok(llm_endpoint_find("/v2x", "/api/chat") == NULL,
       "the prefix replaces Ollama's /api");
    ok(llm_endpoint_find("/api", "/chat") == NULL
       && llm_endpoint_find("/api", "/api/messages") == NULL,
       "no unprefixed Ollama chat, no prefixed messages");
    ok(llm_endpoint_find("/api", "/v1/chat/completions")->wire
       == LLM_WIRE_OPENAI_CHAT
       && llm_endpoint_find("/api", "/v1/completions")->wire
          == LLM_WIRE_OPENAI_COMPLETION
       && llm_endpoint_find("/api", "/responses")->wire
          == LLM_WIRE_OPENAI_RESPONSES, "the OpenAI routes' wires");
}

static int check(const char *prefix, const char *path, const char *body,
                 const char **model, int *stream, llm_error_t *err)
{
    const llm_endpoint_t *e = llm_endpoint_find(prefix, path);
    json_object *o = parse(body, err);
    int rc;

    if (!o || !e) {
        return -2;
    }
    rc = llm_request_validate_endpoint(pool, e, o, model, stream, err);
    if (rc == 0) {
        *model = apr_pstrdup(pool, *model);
    }
    json_object_put(o);
    return rc;
}

static llm_wire_e wire_of(const char *path, const char *body)
{
    llm_error_t err;
    json_object *o = parse(body, &err);
    llm_wire_e w = llm_wire_of_request(llm_endpoint_find("/api", path), o);

    json_object_put(o);
    return w;
}

static void test_validate_endpoint(void)
{
    const char *model;
    int stream;
    llm_error_t err;

    ok(check("/api", "/api/chat", "{\"model\":\"m\",\"messages\":[{\"role\":"
             "\"user\",\"content\":\"hi\"}]}", &model, &stream, &err) == 0
       && stream && !strcmp(model, "m"),
       "Ollama chat streams unless told not to");
    ok(check("/api", "/api/chat", "{\"model\":\"m\",\"stream\":false,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &model,
             &stream, &err) == 0 && !stream, "Ollama stream:false");
    ok(check("/api", "/api/chat", "{\"model\":\"m\",\"messages\":[],"
             "\"options\":[]}", &model, &stream, &err) < 0
       && !strcmp(err.param, "options"), "Ollama options: an object");
    ok(check("/api", "/api/chat", "{\"model\":\"m\"}", &model, &stream,
             &err) < 0 && !strcmp(err.param, "messages") && err.status == 400,
       "Ollama chat needs messages");
    ok(check("/api", "/api/generate", "{\"model\":\"m\",\"prompt\":\"x\"}",
             &model, &stream, &err) == 0 && stream, "Ollama generate");
    ok(check("/api", "/api/generate", "{\"model\":\"m\",\"prompt\":[\"x\"]}",
             &model, &stream, &err) < 0 && !strcmp(err.param, "prompt"),
       "Ollama generate: the prompt is a string");
    ok(check("/api", "/api/generate", "{\"model\":\"m\",\"prompt\":\"x\","
             "\"images\":\"abc\"}", &model, &stream, &err) < 0
       && !strcmp(err.param, "images"), "Ollama images: an array");
    ok(check("/api", "/api/embed", "{\"model\":\"m\",\"input\":\"x\"}",
             &model, &stream, &err) == 0 && !stream,
       "Ollama embed: does not stream");
    ok(check("/api", "/api/embeddings", "{\"model\":\"m\",\"prompt\":\"x\"}",
             &model, &stream, &err) == 0, "legacy Ollama embeddings");
    ok(check("/api", "/api/embeddings", "{\"model\":\"m\",\"input\":[\"x\"]}",
             &model, &stream, &err) == 0, "and OpenAI's on the same route");
    ok(check("/api", "/api/embeddings", "{\"model\":\"m\"}", &model, &stream,
             &err) < 0 && !strcmp(err.param, "input"),
       "neither: input is missing");
    ok(wire_of("/api/embeddings", "{\"model\":\"m\",\"prompt\":\"x\"}")
       == LLM_WIRE_OLLAMA_GENERATE
       && wire_of("/api/embeddings", "{\"model\":\"m\",\"input\":\"x\"}")
          == LLM_WIRE_OPENAI_CHAT
       && wire_of("/v1/embeddings", "{\"model\":\"m\",\"prompt\":\"x\"}")
          == LLM_WIRE_OPENAI_CHAT, "the body picks the wire on "
       "{P}/embeddings only");
    ok(check("/api", "/v1/messages", "{\"model\":\"c\",\"max_tokens\":10,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &model,
             &stream, &err) == 0 && !stream, "Anthropic: stream false");
    ok(check("/api", "/v1/messages", "{\"model\":\"c\",\"messages\":"
             "[{\"role\":\"user\",\"content\":\"hi\"}]}", &model, &stream,
             &err) < 0 && !strcmp(err.param, "max_tokens")
       && err.status == 400, "Anthropic needs max_tokens");
    ok(check("/api", "/v1/messages", "{\"model\":\"c\",\"max_tokens\":0,"
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &model,
             &stream, &err) < 0 && !strcmp(err.param, "max_tokens"),
       "max_tokens >= 1");
    ok(check("/api", "/v1/messages", "{\"model\":\"c\",\"max_tokens\":5,"
             "\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}", &model,
             &stream, &err) < 0 && !strcmp(err.param, "messages[0].role"),
       "Anthropic: no system role in messages");
    ok(check("/api", "/v1/messages", "{\"model\":\"c\",\"max_tokens\":5,"
             "\"messages\":[{\"role\":\"user\",\"content\":5}]}", &model,
             &stream, &err) < 0 && !strcmp(err.param, "messages[0].content"),
       "Anthropic: content a string or blocks");
    ok(check("/api", "/v1/messages", "{\"model\":\"c\",\"max_tokens\":5,"
             "\"system\":5,\"messages\":[{\"role\":\"user\","
             "\"content\":\"x\"}]}",
             &model, &stream, &err) < 0 && !strcmp(err.param, "system"),
       "Anthropic: system a string or blocks");
    ok(check("/api", "/api/v0/chat/completions", "{\"model\":\"m\","
             "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &model,
             &stream, &err) == 0 && !stream, "LM Studio chat: OpenAI's rules");
    ok(check("/api", "/api/v0/completions", "{\"model\":\"m\"}", &model,
             &stream, &err) < 0 && !strcmp(err.param, "prompt"),
       "LM Studio completion needs a prompt");
    ok(check("/api", "/api/show", "{\"name\":\"llama3\"}", &model, &stream,
             &err) == 0 && !strcmp(model, "llama3"),
       "show: the older \"name\"");
    ok(check("/api", "/api/show", "{}", &model, &stream, &err) < 0
       && !strcmp(err.param, "model"), "show needs a model");
    ok(check("/api", "/api/translate", "{\"model_name\":\"m\","
             "\"texts\":[\"a\"]}", &model, &stream, &err) == 0
       && !strcmp(model, "m") && !stream, "a built-in's own fields");
    ok(check("/api", "/api/translate", "{\"model_name\":\"m\"}", &model,
             &stream, &err) < 0 && err.status == 400
       && !strcmp(err.param, "texts"), "a built-in field missing: 400");
    ok(check("/api", "/v1/chat/completions", "{\"model\":\"m\"}", &model,
             &stream, &err) < 0 && !strcmp(err.param, "messages"),
       "OpenAI chat as before");
    ok(validate("{\"model\":\"c\",\"messages\":[{\"role\":\"user\","
                "\"content\":\"x\"}]}", LLM_OP_MESSAGES, &model, &stream, &err)
       < 0 && !strcmp(err.param, "max_tokens"),
       "llm_request_validate: LLM_OP_MESSAGES is Anthropic's");
}

static llm_provider_t *provider(llm_api_type_e t, const char *host,
                                const char *model_path, int tools)
{
    llm_provider_t *p = apr_pcalloc(pool, sizeof(*p));

    p->id = "p";
    p->api_host = host;
    p->api_type = t;
    p->api_token = "";
    p->model_path = model_path;
    p->tool_calling = tools;
    return p;
}

static const char *rewrite(const char *in, const llm_provider_t *p)
{
    llm_error_t err;
    json_object *body = parse(in, &err);
    llm_model_t model = { .name = "public-name", .group = "g" };
    const char *text;
    const char *copy;
    apr_size_t len;
    json_object *out = llm_request_for_provider(body, &model, p, &text,
                                                &len);

    copy = apr_pstrmemdup(pool, text, len);
    ok(strlen(copy) == len, "length matches the text");
    json_object_put(out);
    json_object_put(body);
    return copy;
}

static void test_rewrite(void)
{
    llm_provider_t *vllm = provider(LLM_API_VLLM, "http://h", "served/m", 0);
    llm_provider_t *oai = provider(LLM_API_OPENAI, "http://h", "", 1);
    llm_error_t err;
    json_object *body;
    llm_model_t model = { .name = "public-name", .group = "g" };
    const char *text;
    apr_size_t len;
    json_object *out;

    is_str(rewrite("{\"model\":\"public-name\",\"temperature\":0.20,"
                   "\"messages\":[{\"role\":\"user\",\"content\":"
                   "\"za\\u017c\\u00f3\\u0142\\u0107 / x\"}],\"foo\":\"bar\"}",
                   vllm),
           "{\"model\":\"served/m\",\"temperature\":0.20,\"messages\":"
           "[{\"role\":\"user\",\"content\":\"zażółć / x\"}],"
           "\"foo\":\"bar\"}",
           "model_path replaces the model; numbers, UTF-8, unknown fields "
           "kept as sent");
    is_str(rewrite("{\"model_name\":\"public-name\",\"tools\":[],"
                   "\"tool_choice\":\"auto\",\"functions\":[],"
                   "\"parallel_tool_calls\":true,\"language\":\"pl\","
                   "\"max_new_tokens\":64}", vllm),
           "{\"model\":\"served/m\",\"max_tokens\":64}",
           "vLLM without tools: tool fields, language and model_name go, "
           "max_new_tokens is renamed");
    is_str(rewrite("{\"model\":\"x\",\"max_tokens\":0}", vllm),
           "{\"model\":\"served/m\"}", "vLLM: max_tokens < 1 dropped");
    is_str(rewrite("{\"model\":\"x\",\"max_tokens\":9,\"max_new_tokens\":5}",
                   vllm), "{\"model\":\"served/m\",\"max_tokens\":9}",
           "vLLM: max_tokens wins over max_new_tokens");
    is_str(rewrite("{\"model\":\"x\",\"tools\":[{\"type\":\"function\"}],"
                   "\"language\":\"pl\"}", oai),
           "{\"model\":\"public-name\",\"tools\":[{\"type\":\"function\"}],"
           "\"language\":\"pl\"}",
           "openai with tools: kept; model name when no model_path");

    body = parse("{\"model\":\"x\",\"tools\":[1]}", &err);
    out = llm_request_for_provider(body, &model, vllm, &text, &len);
    json_object_put(out);
    is_str(json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
           "{\"model\":\"x\",\"tools\":[1]}",
           "the client's object is left as it was (for a fail-over)");
    json_object_put(body);
}

static void test_urls(void)
{
    const llm_endpoint_t *chat = llm_endpoint_find("", "/v1/chat/completions");
    const llm_endpoint_t *emb = llm_endpoint_find("", "/v1/embeddings");
    const llm_endpoint_t *cmp = llm_endpoint_find("", "/v1/completions");
    const llm_endpoint_t *rsp = llm_endpoint_find("", "/v1/responses");

    is_str(llm_upstream_url(pool, chat, provider(LLM_API_VLLM,
                                                 "http://h:1", "", 0)),
           "http://h:1/v1/chat/completions", "chat path");
    is_str(llm_upstream_url(pool, chat, provider(LLM_API_OPENAI,
                                                 "https://h/x/v1", "", 0)),
           "https://h/x/v1/chat/completions", "a /v1 base is not doubled");
    is_str(llm_upstream_url(pool, emb, provider(LLM_API_OLLAMA,
                                                "http://h", "", 0)),
           "http://h/v1/embeddings", "embeddings path");
    is_str(llm_upstream_url(pool, cmp, provider(LLM_API_VLLM,
                                                "http://h", "", 0)),
           "http://h/v1/completions", "legacy completions path");
    is_str(llm_upstream_url(pool, rsp, provider(LLM_API_VLLM,
                                                "http://h", "", 0)),
           "http://h/v1/responses", "responses path");
    ok(llm_dialect_reaches(chat, LLM_API_VLLM)
       && llm_dialect_reaches(chat, LLM_API_LMSTUDIO)
       && llm_dialect_reaches(chat, LLM_API_OPENAI)
       && llm_dialect_reaches(chat, LLM_API_OLLAMA),
       "OpenAI dialect reaches OpenAI-compatible servers");
    ok(!llm_dialect_reaches(chat, LLM_API_ANTHROPIC),
       "not Anthropic (until its dialect lands)");
}

static void test_errors(void)
{
    is_str(llm_error_json_openai(pool, 404, NULL, "model_not_found", "model",
                                 "The model 'x\"' does not exist."),
           "{\"error\":{\"message\":\"The model 'x\\\"' does not exist.\","
           "\"type\":\"invalid_request_error\",\"param\":\"model\","
           "\"code\":\"model_not_found\"}}\n", "OpenAI error shape, escaped");
    like(llm_error_json_openai(pool, 502, NULL, NULL, NULL, "x"),
         "\"type\":\"api_error\",\"param\":null,\"code\":null",
         "5xx type, nulls");
    like(llm_error_json_openai(pool, 429, NULL, "c", NULL, "x"),
         "\"rate_limit_error\"", "429 type");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_routes();
    test_parse();
    test_parse_strict();
    test_validate();
    test_new_routes();
    test_validate_endpoint();
    test_rewrite();
    test_forward_as_written();
    test_urls();
    test_errors();
    apr_pool_destroy(pool);
    return tap_done();
}
