/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* Request translation between the dialects, against the golden files of
 * t/golden/requests/ (run from the repository root):
 *   <name>.json -> <name>.canon.json            (ingress)
 *   canon_<x>.json -> canon_<x>.<target>.json   (egress)
 */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_xlate.h"
#include "tap.h"

#define GOLDEN "t/golden/requests/"

static apr_pool_t *pool;

static json_object *load(const char *name)
{
    json_object *o = json_object_from_file(apr_pstrcat(pool, GOLDEN, name,
                                                       NULL));

    if (!o) {
        printf("# cannot read %s%s: %s\n", GOLDEN, name,
               json_util_get_last_err());
    }
    return o;
}

static json_object *parse(const char *s)
{
    return json_tokener_parse(s);
}

static const char *text(json_object *o)
{
    return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                              | JSON_C_TO_STRING_NOSLASHESCAPE)
             : "(null)";
}

/* Exact comparison (key order aside), both shown when they differ. */
static int same_json(json_object *got, json_object *want, const char *name)
{
    int pass = got && want && json_object_equal(got, want);

    if (!ok(pass, name)) {
        printf("#          got: %s\n", text(got));
        printf("#     expected: %s\n", text(want));
    }
    return pass;
}

/* ------------------------------------------------------------------ */

static const struct {
    llm_wire_e wire;
    llm_op_e op;
    const char *name;
} ingress_cases[] = {
    { LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, "openai_chat" },
    { LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, "openai_chat_legacy" },
    { LLM_WIRE_LMSTUDIO_CHAT, LLM_OP_CHAT, "openai_chat" },
    { LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION, "openai_completion" },
    { LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES, "responses" },
    { LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES, "responses_text" },
    { LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, "ollama_chat" },
    { LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION, "ollama_generate" },
    { LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, "anthropic" },
    { LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, "anthropic_text" },
    { LLM_WIRE_OPENAI_CHAT, LLM_OP_EMBEDDINGS, "openai_embed" },
    { LLM_WIRE_OLLAMA_CHAT, LLM_OP_EMBEDDINGS, "ollama_embed" },
    { LLM_WIRE_OLLAMA_GENERATE, LLM_OP_EMBEDDINGS,
      "ollama_embeddings_legacy" },
};

#define N_INGRESS (sizeof(ingress_cases) / sizeof(ingress_cases[0]))

static void test_ingress_golden(void)
{
    apr_size_t i;

    for (i = 0; i < N_INGRESS; i++) {
        const char *name = ingress_cases[i].name;
        json_object *in = load(apr_pstrcat(pool, name, ".json", NULL));
        json_object *want = load(apr_pstrcat(pool, name, ".canon.json",
                                             NULL));
        const char *before = apr_pstrdup(pool, text(in));
        llm_error_t err = { 0, NULL, NULL, NULL };
        json_object *got = llm_xlate_ingress(pool, ingress_cases[i].wire,
                                             ingress_cases[i].op, in, &err);

        if (!got) {
            printf("# %d %s\n", err.status, err.message);
        }
        same_json(got, want, apr_psprintf(pool, "ingress %s (%s)", name,
                                          llm_wire_name(
                                              ingress_cases[i].wire)));
        is_str(text(in), before, "the client's body is left unchanged");
        json_object_put(got);
        json_object_put(want);
        json_object_put(in);
    }
}

static const struct {
    llm_wire_e wire;
    llm_op_e op;
    const char *canon;
    const char *target;
} egress_cases[] = {
    { LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, "canon_chat", "openai_chat" },
    { LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, "canon_chat", "ollama_chat" },
    { LLM_WIRE_ANTHROPIC, LLM_OP_CHAT, "canon_chat", "anthropic" },
    { LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, "canon_merge", "anthropic" },
    { LLM_WIRE_ANTHROPIC, LLM_OP_CHAT, "canon_plain", "anthropic" },
    { LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, "canon_plain", "ollama_chat" },
    { LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION, "canon_completion",
      "openai_completion" },
    { LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION, "canon_completion",
      "ollama_generate" },
    { LLM_WIRE_OLLAMA_CHAT, LLM_OP_EMBEDDINGS, "canon_embed",
      "ollama_chat" },
    { LLM_WIRE_OPENAI_CHAT, LLM_OP_EMBEDDINGS, "canon_embed",
      "openai_chat" },
};

#define N_EGRESS (sizeof(egress_cases) / sizeof(egress_cases[0]))

static void test_egress_golden(void)
{
    apr_size_t i;

    for (i = 0; i < N_EGRESS; i++) {
        const char *name = egress_cases[i].canon;
        json_object *canon = load(apr_pstrcat(pool, name, ".json", NULL));
        json_object *want = load(apr_pstrcat(pool, name, ".",
                                             egress_cases[i].target,
                                             ".json", NULL));
        const char *before = apr_pstrdup(pool, text(canon));
        llm_error_t err = { 0, NULL, NULL, NULL };
        json_object *got = llm_xlate_egress(pool, egress_cases[i].wire,
                                            egress_cases[i].op, canon, &err);

        if (!got) {
            printf("# %d %s\n", err.status, err.message);
        }
        same_json(got, want, apr_psprintf(pool, "egress %s -> %s", name,
                                          egress_cases[i].target));
        is_str(text(canon), before, "the canonical request is unchanged");
        json_object_put(got);
        json_object_put(want);
        json_object_put(canon);
    }
}

/* Every client body through every provider wire: an answer or a 4xx,
 * never a crash (the sanitizer build checks the memory). */
static void test_all_pairs(void)
{
    static const llm_wire_e chat_targets[] = {
        LLM_WIRE_OPENAI_CHAT, LLM_WIRE_OLLAMA_CHAT, LLM_WIRE_ANTHROPIC,
        LLM_WIRE_LMSTUDIO_CHAT
    };
    int bad = 0;
    int done = 0;
    apr_size_t i;
    apr_size_t t;

    for (i = 0; i < N_INGRESS; i++) {
        json_object *in = load(apr_pstrcat(pool, ingress_cases[i].name,
                                           ".json", NULL));
        llm_error_t err;
        json_object *canon = llm_xlate_ingress(pool, ingress_cases[i].wire,
                                               ingress_cases[i].op, in, &err);

        for (t = 0; canon && t < 4; t++) {
            llm_wire_e w = chat_targets[t];
            llm_op_e op = ingress_cases[i].op;
            json_object *out;

            if (op == LLM_OP_COMPLETION) {
                w = t % 2 ? LLM_WIRE_OLLAMA_GENERATE
                          : LLM_WIRE_OPENAI_COMPLETION;
            }
            out = llm_xlate_egress(pool, w, op, canon, &err);
            bad += !out && (err.status < 400 || err.status >= 500);
            done++;
            json_object_put(out);
        }
        bad += !canon;
        json_object_put(canon);
        json_object_put(in);
    }
    ok(bad == 0 && done == (int)N_INGRESS * 4,
       "every client body to every provider wire: an answer or a 4xx");
}

/* ------------------------------------------------------------------ */

static int ingress_fails(llm_wire_e wire, llm_op_e op, const char *body,
                         llm_error_t *err)
{
    json_object *in = parse(body);
    json_object *out = llm_xlate_ingress(pool, wire, op, in, err);
    int failed = out == NULL;

    json_object_put(out);
    json_object_put(in);
    return failed;
}

static int egress_fails(llm_wire_e wire, llm_op_e op, const char *body,
                        llm_error_t *err)
{
    json_object *in = parse(body);
    json_object *out = llm_xlate_egress(pool, wire, op, in, err);
    int failed = out == NULL;

    json_object_put(out);
    json_object_put(in);
    return failed;
}

static void test_ingress_errors(void)
{
    llm_error_t err;

    ok(ingress_fails(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION,
                     "{\"model\":\"m\",\"prompt\":\"def f(\","
                     "\"suffix\":\"return x\"}", &err)
       && err.status == 422 && !strcmp(err.param, "suffix"),
       "Ollama generate: a suffix is 422");
    ok(!ingress_fails(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION,
                      "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"\"}",
                      &err), "an empty suffix is fine");
    ok(ingress_fails(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION,
                     "{\"model\":\"m\",\"prompt\":\"x\",\"context\":[1,2]}",
                     &err) && err.status == 422, "context is 422");
    ok(ingress_fails(LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION,
                     "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", &err)
       && err.status == 422 && !strcmp(err.param, "prompt"),
       "several completion prompts: 422");
    ok(ingress_fails(LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION,
                     "{\"model\":\"m\",\"prompt\":[1,2,3]}", &err)
       && err.status == 422, "token prompts: 422");
    ok(ingress_fails(LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION,
                     "{\"model\":\"m\",\"prompt\":\"x\",\"echo\":true}", &err)
       && err.status == 422, "echo: 422");
    ok(ingress_fails(LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES,
                     "{\"model\":\"m\",\"input\":\"x\","
                     "\"previous_response_id\":\"resp_1\"}", &err)
       && err.status == 422 && !strcmp(err.param, "previous_response_id"),
       "Responses: previous_response_id is 422");
    ok(ingress_fails(LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES,
                     "{\"model\":\"m\",\"input\":\"x\","
                     "\"tools\":[{\"type\":\"web_search_preview\"}]}", &err)
       && err.status == 422, "Responses: hosted tools are 422");
    like(err.message, "web_search_preview", "the message names the tool");
    ok(ingress_fails(LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES,
                     "{\"model\":\"m\",\"input\":[{\"role\":\"user\","
                     "\"content\":[{\"type\":\"input_file\","
                     "\"file_id\":\"f\"}]}]}", &err)
       && err.status == 422 && !strcmp(err.param, "input[0]"),
       "Responses: a file is 422, naming the item");
    ok(ingress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES,
                     "{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
                     "[{\"role\":\"user\",\"content\":[{\"type\":\"document\","
                     "\"source\":{}}]}]}", &err)
       && err.status == 422
       && !strcmp(err.param, "messages[0].content[0]"),
       "Anthropic: a document block is 422");
    ok(ingress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES,
                     "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[],"
                     "\"tools\":[{\"type\":\"bash_20250124\","
                     "\"name\":\"bash\"}]}", &err)
       && err.status == 422, "Anthropic: server tools are 422");
    ok(ingress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES,
                     "{\"model\":\"m\",\"max_tokens\":5,\"messages\":"
                     "[{\"role\":\"user\",\"content\":7}]}", &err)
       && err.status == 400, "Anthropic: content of a wrong type is 400");
    ok(ingress_fails(LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT,
                     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\",\"images\":[5]}]}", &err)
       && err.status == 400 && !strcmp(err.param, "messages[0].images"),
       "Ollama: an image that is not a string is 400");
    ok(ingress_fails(LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT,
                     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                     "\"content\":\"x\"}],\"format\":\"yaml\"}", &err)
       && err.status == 422 && !strcmp(err.param, "format"),
       "Ollama: an unknown format is 422");
    ok(ingress_fails(LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT,
                     "{\"model\":\"m\"}", &err) && err.status == 400,
       "Ollama: no messages is 400");
    ok(ingress_fails(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_EMBEDDINGS,
                     "{\"model\":\"m\",\"prompt\":[\"a\"]}", &err)
       && err.status == 400, "legacy embeddings: the prompt is a string");
}

static void test_ingress_details(void)
{
    llm_error_t err;
    json_object *in, *out;

    /* think true has no OpenAI form; num_predict -1 means no limit */
    in = parse("{\"model\":\"m\",\"messages\":[{\"role\":\"tool\","
               "\"content\":\"r\",\"tool_name\":\"f\"}],\"think\":true,"
               "\"stream\":false,\"options\":{\"num_predict\":-1}}");
    out = llm_xlate_ingress(pool, LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, in, &err);
    is_str(text(out), "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\","
           "\"tool_call_id\":\"call_0\",\"content\":\"r\"}],"
           "\"stream\":false}",
           "Ollama: think:true and num_predict -1 dropped; a tool answer "
           "with no call gets an id");
    json_object_put(out);
    json_object_put(in);

    /* Ollama images that are data URLs already, and a webp */
    in = parse("{\"model\":\"m\",\"prompt\":\"\",\"images\":"
               "[\"data:image/png;base64,AAAA\",\"UklGRiQAAABXRUJQ\"]}");
    out = llm_xlate_ingress(pool, LLM_WIRE_OLLAMA_GENERATE,
                            LLM_OP_COMPLETION, in, &err);
    like(text(out), "\"content\":[{\"type\":\"image_url\",\"image_url\":"
         "{\"url\":\"data:image/png;base64,AAAA\"}},{\"type\":\"image_url\","
         "\"image_url\":{\"url\":\"data:image/webp;base64,UklGR",
         "an empty prompt with images: images only; webp sniffed");
    like(text(out), "\"stream\":true,\"stream_options\"",
         "Ollama streams by default");
    json_object_put(out);
    json_object_put(in);

    /* Anthropic tool_choice tool/auto/none */
    in = parse("{\"model\":\"m\",\"max_tokens\":9,\"messages\":[{\"role\":"
               "\"user\",\"content\":\"x\"}],\"tool_choice\":{\"type\":"
               "\"tool\",\"name\":\"f\"},\"tools\":[{\"name\":\"f\","
               "\"input_schema\":{\"type\":\"object\"}}]}");
    out = llm_xlate_ingress(pool, LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES, in,
                            &err);
    like(text(out), "\"tool_choice\":{\"type\":\"function\",\"function\":"
         "{\"name\":\"f\"}}", "Anthropic tool_choice tool -> function");
    json_object_put(out);
    json_object_put(in);
}

static void test_egress_errors(void)
{
    llm_error_t err;

    ok(egress_fails(LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                    "\"content\":[{\"type\":\"image_url\",\"image_url\":"
                    "{\"url\":\"https://example.com/cat.png\"}}]}]}", &err)
       && err.status == 422 && !strcmp(err.param, "messages[0]"),
       "an image URL cannot go to Ollama: 422");
    like(err.message, "image URL cannot be sent", "and says why");
    ok(egress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_CHAT,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
                    "\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                    "\"type\":\"function\",\"function\":{\"name\":\"f\","
                    "\"arguments\":\"{not json\"}}]}]}", &err)
       && err.status == 422, "tool arguments that are not JSON: 422");
    like(err.message, "'f'", "naming the tool");
    ok(egress_fails(LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
                    "\"content\":null,\"tool_calls\":[{\"id\":\"c\","
                    "\"type\":\"function\",\"function\":{\"name\":\"f\","
                    "\"arguments\":\"[1]\"}}]}]}", &err)
       && err.status == 422, "arguments that are not an object: 422");
    ok(egress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_CHAT,
                    "{\"model\":\"m\",\"n\":2,\"messages\":[{\"role\":"
                    "\"user\",\"content\":\"x\"}]}", &err)
       && err.status == 422 && !strcmp(err.param, "n"),
       "n > 1 to Anthropic: 422");
    ok(egress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_CHAT,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                    "\"content\":[{\"type\":\"input_audio\"}]}]}", &err)
       && err.status == 422, "audio to Anthropic: 422");
    ok(egress_fails(LLM_WIRE_ANTHROPIC, LLM_OP_CHAT,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"function\","
                    "\"name\":\"f\",\"content\":\"x\"}]}", &err)
       && err.status == 422, "the legacy function role: 422");
    ok(egress_fails(LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
                    "\"content\":\"x\"}]}", &err)
       && err.status == 422, "a conversation is not a completion: 422");
    ok(egress_fails(LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION,
                    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                    "\"content\":[{\"type\":\"image_url\",\"image_url\":"
                    "{\"url\":\"data:image/png;base64,AA\"}}]}]}", &err)
       && err.status == 422, "an image to a completion: 422");
    ok(egress_fails(LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES,
                    "{\"model\":\"m\",\"messages\":[]}", &err)
       && err.status == 422, "nothing is translated to Responses");
    ok(egress_fails(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_EMBEDDINGS,
                    "{\"model\":\"m\",\"input\":[\"a\",\"b\"]}", &err)
       && err.status == 422, "legacy embeddings take one text");
}

static void test_egress_details(void)
{
    llm_error_t err;
    json_object *in, *out;

    /* the http image goes to Anthropic as a url source; tool_choice
     * "none" to Ollama means no tools */
    in = parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
               "[{\"type\":\"image_url\",\"image_url\":{\"url\":"
               "\"https://x/a.png\"}}]}],\"tools\":[{\"type\":\"function\","
               "\"function\":{\"name\":\"f\"}}],\"tool_choice\":\"none\","
               "\"temperature\":0.4}");
    out = llm_xlate_egress(pool, LLM_WIRE_ANTHROPIC, LLM_OP_CHAT, in, &err);
    like(text(out), "{\"type\":\"image\",\"source\":{\"type\":\"url\","
         "\"url\":\"https://x/a.png\"}}", "URL image -> url source");
    like(text(out), "\"temperature\":0.4,", "a temperature in range kept");
    like(text(out), "\"tool_choice\":{\"type\":\"none\"}", "none -> none");
    json_object_put(out);
    in = json_object_get(in);
    json_object_object_del(in, "messages");
    out = llm_xlate_egress(pool, LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT, in, &err);
    ok(out && !json_object_object_get_ex(out, "tools", NULL),
       "tool_choice none: no tools for Ollama");
    json_object_put(out);
    json_object_put(in);
    json_object_put(in);

    in = parse("{\"model\":\"m\",\"top_k\":5,\"messages\":[]}");
    out = llm_xlate_egress(pool, LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT, in, &err);
    llm_xlate_fit_provider(out, LLM_API_VLLM);
    like(text(out), "\"top_k\":5", "vLLM keeps top_k");
    llm_xlate_fit_provider(out, LLM_API_OPENAI);
    is_str(text(out), "{\"model\":\"m\",\"messages\":[]}",
           "OpenAI's own API does not take top_k");
    json_object_put(out);
    json_object_put(in);
}

/* ------------------------------------------------------------------ */

static void test_wires(void)
{
    llm_provider_t pr = { 0 };
    const llm_endpoint_t *e = llm_endpoint_find("/api", "/api/chat");

    ok(e && llm_wire_of_endpoint(e) == LLM_WIRE_OLLAMA_CHAT,
       "/api/chat speaks Ollama chat");
    e = llm_endpoint_find("/api", "/v1/messages");
    ok(e && llm_wire_of_endpoint(e) == LLM_WIRE_ANTHROPIC,
       "/v1/messages speaks Anthropic");

    ok(llm_wire_for_provider(LLM_API_VLLM, LLM_OP_CHAT,
                             LLM_WIRE_OLLAMA_CHAT) == LLM_WIRE_OPENAI_CHAT,
       "Ollama client, vLLM provider: OpenAI chat");
    ok(llm_wire_for_provider(LLM_API_OLLAMA, LLM_OP_CHAT,
                             LLM_WIRE_OPENAI_CHAT) == LLM_WIRE_OLLAMA_CHAT,
       "OpenAI client, Ollama provider: /api/chat");
    ok(llm_wire_for_provider(LLM_API_OLLAMA, LLM_OP_COMPLETION,
                             LLM_WIRE_OPENAI_COMPLETION)
       == LLM_WIRE_OLLAMA_GENERATE, "completion to Ollama: /api/generate");
    ok(llm_wire_for_provider(LLM_API_LMSTUDIO, LLM_OP_COMPLETION,
                             LLM_WIRE_OLLAMA_GENERATE)
       == LLM_WIRE_OPENAI_COMPLETION, "generate to LM Studio: completion");
    ok(llm_wire_for_provider(LLM_API_OPENAI, LLM_OP_RESPONSES,
                             LLM_WIRE_OPENAI_RESPONSES)
       == LLM_WIRE_OPENAI_RESPONSES, "Responses pass through to OpenAI");
    ok(llm_wire_for_provider(LLM_API_ANTHROPIC, LLM_OP_RESPONSES,
                             LLM_WIRE_OPENAI_RESPONSES) == LLM_WIRE_ANTHROPIC
       && llm_wire_for_provider(LLM_API_OLLAMA, LLM_OP_RESPONSES,
                                LLM_WIRE_OPENAI_RESPONSES)
          == LLM_WIRE_OLLAMA_CHAT, "Responses translated for the others");
    ok(llm_wire_for_provider(LLM_API_VLLM, LLM_OP_MESSAGES,
                             LLM_WIRE_ANTHROPIC) == LLM_WIRE_OPENAI_CHAT,
       "Anthropic client, vLLM provider: OpenAI chat");
    ok(llm_wire_for_provider(LLM_API_LMSTUDIO, LLM_OP_CHAT,
                             LLM_WIRE_LMSTUDIO_CHAT) == LLM_WIRE_OPENAI_CHAT,
       "LM Studio client, LM Studio provider: /v1 (as the original)");
    ok(llm_wire_for_provider(LLM_API_OLLAMA, LLM_OP_EMBEDDINGS,
                             LLM_WIRE_OPENAI_CHAT) == LLM_WIRE_OLLAMA_CHAT,
       "embeddings to Ollama: /api/embed");
    ok(!llm_provider_serves(LLM_API_ANTHROPIC, LLM_OP_EMBEDDINGS)
       && llm_provider_serves(LLM_API_ANTHROPIC, LLM_OP_CHAT)
       && llm_provider_serves(LLM_API_OLLAMA, LLM_OP_EMBEDDINGS),
       "Anthropic serves no embeddings");

    is_str(llm_wire_path(LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT), "/api/chat",
           "path /api/chat");
    is_str(llm_wire_path(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION),
           "/api/generate", "path /api/generate");
    is_str(llm_wire_path(LLM_WIRE_OLLAMA_CHAT, LLM_OP_EMBEDDINGS),
           "/api/embed", "path /api/embed");
    is_str(llm_wire_path(LLM_WIRE_OLLAMA_GENERATE, LLM_OP_EMBEDDINGS),
           "/api/embeddings", "path /api/embeddings");
    is_str(llm_wire_path(LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES),
           "/v1/messages", "path /v1/messages");
    is_str(llm_wire_path(LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES),
           "/v1/responses", "path /v1/responses");
    is_str(llm_wire_path(LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION),
           "/v1/completions", "path /v1/completions");
    is_str(llm_wire_path(LLM_WIRE_OPENAI_CHAT, LLM_OP_EMBEDDINGS),
           "/v1/embeddings", "path /v1/embeddings");
    is_str(llm_wire_path(LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT),
           "/v1/chat/completions", "path /v1/chat/completions");
    is_str(llm_wire_path(LLM_WIRE_LMSTUDIO_CHAT, LLM_OP_CHAT),
           "/api/v0/chat/completions", "path of LM Studio's native chat");

    pr.api_host = "http://o:11434";
    is_str(llm_upstream_url_for(pool, &pr, LLM_WIRE_OLLAMA_CHAT,
                                LLM_OP_CHAT), "http://o:11434/api/chat",
           "Ollama URL");
    pr.api_host = "http://o:11434/v1";
    is_str(llm_upstream_url_for(pool, &pr, LLM_WIRE_OLLAMA_CHAT,
                                LLM_OP_CHAT), "http://o:11434/api/chat",
           "a /v1 base: native paths beside it");
    is_str(llm_upstream_url_for(pool, &pr, LLM_WIRE_OPENAI_CHAT,
                                LLM_OP_CHAT),
           "http://o:11434/v1/chat/completions", "a /v1 base is not doubled");
    pr.api_host = "https://api.anthropic.com";
    is_str(llm_upstream_url_for(pool, &pr, LLM_WIRE_ANTHROPIC,
                                LLM_OP_MESSAGES),
           "https://api.anthropic.com/v1/messages", "Anthropic URL");
}

/* ------------------------------------------------------------------ */

static const char *embed_conv(llm_wire_e from, llm_wire_e to,
                              const char *body, const char *enc,
                              llm_usage_t *u)
{
    json_object *o = parse(body);
    const char *r = llm_embeddings_response_ex(pool, from, to, o, "public",
                                               enc, u);

    json_object_put(o);
    return r;
}

static void test_embeddings_response(void)
{
    const char *ollama = "{\"model\":\"all-minilm\",\"embeddings\":"
                         "[[0.5,-1.25],[0.25,2]],\"total_duration\":14143917,"
                         "\"load_duration\":1019500,"
                         "\"prompt_eval_count\":8}";
    const char *openai = "{\"object\":\"list\",\"data\":[{\"object\":"
                         "\"embedding\",\"index\":1,\"embedding\":[0.25,2]},"
                         "{\"object\":\"embedding\",\"index\":0,\"embedding\":"
                         "[0.5,-1.25]}],\"model\":\"text-embedding-3-small\","
                         "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}";
    llm_usage_t u;

    is_str(embed_conv(LLM_WIRE_OLLAMA_CHAT, LLM_WIRE_OPENAI_CHAT, ollama,
                      NULL, &u),
           "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
           "\"index\":0,\"embedding\":[0.5,-1.25]},{\"object\":\"embedding\","
           "\"index\":1,\"embedding\":[0.25,2]}],\"model\":\"public\","
           "\"usage\":{\"prompt_tokens\":8,\"total_tokens\":8}}\n",
           "Ollama /api/embed -> OpenAI");
    ok(u.prompt_tokens == 8 && u.total_tokens == 8
       && u.completion_tokens == -1, "usage from prompt_eval_count");
    is_str(embed_conv(LLM_WIRE_OPENAI_CHAT, LLM_WIRE_OLLAMA_CHAT, openai,
                      NULL, &u),
           "{\"model\":\"public\",\"embeddings\":[[0.5,-1.25],[0.25,2]],"
           "\"prompt_eval_count\":8}\n",
           "OpenAI -> Ollama /api/embed, in index order");
    is_str(embed_conv(LLM_WIRE_OLLAMA_CHAT, LLM_WIRE_OLLAMA_GENERATE, ollama,
                      NULL, NULL),
           "{\"embedding\":[0.5,-1.25]}\n", "Ollama -> legacy");
    is_str(embed_conv(LLM_WIRE_OLLAMA_GENERATE, LLM_WIRE_OPENAI_CHAT,
                      "{\"embedding\":[1,2]}", NULL, &u),
           "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
           "\"index\":0,\"embedding\":[1,2]}],\"model\":\"public\","
           "\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}\n",
           "legacy -> OpenAI, usage 0 when unknown");
    ok(u.prompt_tokens == -1, "but the usage seen is unknown");
    /* 0.5 and -1.25 as float32 LE: 0000003f 0000a0bf */
    is_str(embed_conv(LLM_WIRE_OLLAMA_GENERATE, LLM_WIRE_OPENAI_CHAT,
                      "{\"embedding\":[0.5,-1.25]}", "base64", NULL),
           "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\","
           "\"index\":0,\"embedding\":\"AAAAPwAAoL8=\"}],\"model\":"
           "\"public\",\"usage\":{\"prompt_tokens\":0,\"total_tokens\":0}}\n",
           "encoding_format base64 honoured");
    is_str(embed_conv(LLM_WIRE_OPENAI_CHAT, LLM_WIRE_OLLAMA_GENERATE,
                      "{\"object\":\"list\",\"data\":[{\"object\":"
                      "\"embedding\",\"index\":0,\"embedding\":"
                      "\"AAAAPwAAoL8=\"}]}", NULL, NULL),
           "{\"embedding\":[0.5,-1.25]}\n", "base64 vectors decoded");
    ok(embed_conv(LLM_WIRE_OPENAI_CHAT, LLM_WIRE_OLLAMA_CHAT,
                  "{\"error\":{\"message\":\"x\"}}", NULL, NULL) == NULL,
       "an error body is not an embeddings answer");
    ok(embed_conv(LLM_WIRE_OLLAMA_CHAT, LLM_WIRE_OPENAI_CHAT, openai, NULL,
                  NULL) == NULL, "nor is another wire's answer");
}

static void test_errors(void)
{
    llm_error_t e = { 400, "invalid_type", "max_tokens", "Bad." };

    is_str(llm_error_json_for(pool, LLM_WIRE_ANTHROPIC, 404, "x",
                              "No such \"model\"."),
           "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\","
           "\"message\":\"No such \\\"model\\\".\"}}\n", "Anthropic error");
    like(llm_error_json_for(pool, LLM_WIRE_ANTHROPIC, 529, NULL, "x"),
         "overloaded_error", "Anthropic 529");
    like(llm_error_json_for(pool, LLM_WIRE_ANTHROPIC, 400, NULL, "x"),
         "invalid_request_error", "Anthropic 400");
    is_str(llm_error_json_for(pool, LLM_WIRE_OLLAMA_CHAT, 404, "x",
                              "model \"m\" not found"),
           "{\"error\":\"model \\\"m\\\" not found\"}\n", "Ollama error");
    is_str(llm_error_json_for(pool, LLM_WIRE_OPENAI_RESPONSES, 429, "rl",
                              "Slow down."),
           "{\"error\":{\"message\":\"Slow down.\",\"type\":"
           "\"rate_limit_error\",\"param\":null,\"code\":\"rl\"}}\n",
           "OpenAI error");
    like(llm_error_json_for_error(pool, LLM_WIRE_LMSTUDIO_CHAT, &e),
         "\"param\":\"max_tokens\",\"code\":\"invalid_type\"",
         "a validation error keeps its param");

#define MSG(s) llm_error_message_of(pool, s, strlen(s))
    is_str(MSG("{\"error\":{\"message\":\"Incorrect API key\",\"type\":"
               "\"invalid_request_error\"}}"), "Incorrect API key", "OpenAI");
    is_str(MSG("{\"type\":\"error\",\"error\":{\"type\":"
               "\"overloaded_error\",\"message\":\"Overloaded\"}}"),
           "Overloaded", "Anthropic");
    is_str(MSG("{\"error\":\"model 'x' not found\"}"), "model 'x' not found",
           "Ollama");
    is_str(MSG("{\"object\":\"error\",\"message\":\"max_tokens too large\","
               "\"type\":\"BadRequestError\",\"code\":400}"),
           "max_tokens too large", "vLLM");
    is_str(MSG("{\"detail\":\"Not Found\"}"), "Not Found", "FastAPI");
    ok(MSG("<html>502</html>") == NULL, "not JSON: NULL");
    ok(MSG("{\"choices\":[]}") == NULL, "not an error: NULL");
    ok(llm_error_message_of(pool, "{\"error\":\"x\"}", 5) == NULL,
       "a cut body: NULL");
#undef MSG
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_ingress_golden();
    test_egress_golden();
    test_all_pairs();
    test_ingress_errors();
    test_ingress_details();
    test_egress_errors();
    test_egress_details();
    test_wires();
    test_embeddings_response();
    test_errors();
    apr_pool_destroy(pool);
    return tap_done();
}
