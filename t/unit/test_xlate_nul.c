/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Text holding NUL goes on whole (issue 11, part 4). A JSON string may
 * hold \u0000; json-c keeps its length, but a C string ends there, so
 * a translation that read a text as one sent "a\u0000b" on as "a".
 *
 * Requests: every client body of t/golden/requests/ (each <name>.json
 * with a <name>.canon.json) gets "a\u0000b" in every string that is
 * text: message contents, text parts and blocks, system, prompt,
 * instructions, input, tool results, the values of tool-call arguments
 * (inside the JSON text when they are one) and descriptions. It is
 * translated as the router does (ingress to the canonical request, then
 * the canonical request to each provider wire of its op), and each
 * planted text must come out whole: the JSON text of each result holds
 * as many "a\u0000b" (or "a\\u0000b" inside an arguments text) as were
 * planted. The one text no target carries is thinking (Anthropic's
 * thinking blocks, Ollama's "thinking" of a message): the canonical
 * request has no place for a model's past reasoning, so ingress drops
 * it (docs/dialects.md) and it is not counted. Ollama's legacy
 * /api/embeddings embeds one text: bodies with two are refused there
 * (422), not cut, and are not sent to it.
 *
 * The canonical golden inputs go to every provider wire the same way,
 * and texts that begin with NUL are not taken for empty ones.
 *
 * The built-ins: each text field of their bodies, in every request of
 * their plans (the system prompt rendered with the client's texts), and
 * the original text translate gives back.
 *
 * Answers: an answer text "a\u0000b" from a provider of each wire,
 * streamed and whole, decoded and encoded for a client of each wire,
 * streamed and whole; reasoning and tool-call arguments too.
 */

#include <stdlib.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include <json-c/json.h>

#include "llm_builtin.h"
#include "llm_event.h"
#include "llm_xlate.h"
#include "tap.h"

#define GOLDEN "t/golden/requests/"
#define PROMPTS "t/unit/fixtures/prompts"

/* What the JSON text of a result holds for one whole planted text: as
 * a string, or as a string inside a JSON text (tool-call arguments). */
#define NUL_JSON "a\\u0000b"
#define NUL_JSON_IN_JSON "a\\\\u0000b"

static apr_pool_t *pool;

static const char *text(json_object *o)
{
    return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                              | JSON_C_TO_STRING_NOSLASHESCAPE)
             : "(null)";
}

static int count_in(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    int count = 0;

    while (s && (s = strstr(s, needle))) {
        count++;
        s += n;
    }
    return count;
}

/* The whole planted texts in @a o, in any form. */
static int nul_texts(json_object *o)
{
    const char *s = text(o);

    return count_in(s, NUL_JSON) + count_in(s, NUL_JSON_IN_JSON);
}

/* ------------------------------------------------------------------ */
/* Planting                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    int planted;        /* every text planted */
    int thinking;       /* of which thinking, which no target carries */
} plant_t;

static json_object *nul_text(void)
{
    return json_object_new_string_len("a\0b", 3);
}

static int text_key(const char *k)
{
    static const char *const keys[] = {
        "content", "text", "system", "prompt", "instructions", "input",
        "output", "description", "refusal", "thinking", NULL
    };
    const char *const *t;

    for (t = keys; *t; t++) {
        if (!strcmp(k, *t)) {
            return 1;
        }
    }
    return 0;
}

/* Every string below @a v: the values of tool-call arguments. */
static void plant_values(json_object *v, plant_t *pl)
{
    size_t i;

    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, val) {
            if (json_object_is_type(val, json_type_string)) {
                json_object_object_add(v, k, nul_text());
                pl->planted++;
            }
            else {
                plant_values(val, pl);
            }
        }
    }
    else if (json_object_is_type(v, json_type_array)) {
        for (i = 0; i < json_object_array_length(v); i++) {
            plant_values(json_object_array_get_idx(v, i), pl);
        }
    }
}

/* Arguments written as a JSON text: planted inside it. */
static json_object *planted_args(json_object *args, plant_t *pl)
{
    json_object *o = json_tokener_parse(json_object_get_string(args));
    json_object *out;

    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return json_object_get(args);
    }
    plant_values(o, pl);
    out = json_object_new_string(text(o));
    json_object_put(o);
    return out;
}

static void plant(json_object *v, plant_t *pl);

static void plant_member(json_object *o, const char *k, json_object *val,
                         plant_t *pl)
{
    int string = json_object_is_type(val, json_type_string);

    if (string && text_key(k)) {
        json_object_object_add(o, k, nul_text());
        pl->planted++;
        pl->thinking += !strcmp(k, "thinking");
    }
    else if (string && !strcmp(k, "arguments")) {
        json_object_object_add(o, k, planted_args(val, pl));
    }
    else if (json_object_is_type(val, json_type_object)
             && (!strcmp(k, "arguments") || !strcmp(k, "input"))) {
        plant_values(val, pl);          /* Ollama's, Anthropic's tool_use */
    }
    else if (json_object_is_type(val, json_type_array)
             && !strcmp(k, "input")) {
        size_t i;

        for (i = 0; i < json_object_array_length(val); i++) {
            json_object *x = json_object_array_get_idx(val, i);

            if (json_object_is_type(x, json_type_string)) {
                json_object_array_put_idx(val, i, nul_text());
                pl->planted++;
            }
            else {
                plant(x, pl);
            }
        }
    }
    else {
        plant(val, pl);
    }
}

static void plant(json_object *v, plant_t *pl)
{
    size_t i;

    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, val) {
            plant_member(v, k, val, pl);
        }
    }
    else if (json_object_is_type(v, json_type_array)) {
        for (i = 0; i < json_object_array_length(v); i++) {
            plant(json_object_array_get_idx(v, i), pl);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static const struct {
    const char *name;
    llm_wire_e wire;
    llm_op_e op;
} clients[] = {
    { "openai_chat", LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT },
    { "openai_chat_legacy", LLM_WIRE_OPENAI_CHAT, LLM_OP_CHAT },
    { "openai_completion", LLM_WIRE_OPENAI_COMPLETION, LLM_OP_COMPLETION },
    { "responses", LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES },
    { "responses_text", LLM_WIRE_OPENAI_RESPONSES, LLM_OP_RESPONSES },
    { "ollama_chat", LLM_WIRE_OLLAMA_CHAT, LLM_OP_CHAT },
    { "ollama_generate", LLM_WIRE_OLLAMA_GENERATE, LLM_OP_COMPLETION },
    { "anthropic", LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES },
    { "anthropic_text", LLM_WIRE_ANTHROPIC, LLM_OP_MESSAGES },
    { "openai_embed", LLM_WIRE_OPENAI_CHAT, LLM_OP_EMBEDDINGS },
    { "ollama_embed", LLM_WIRE_OLLAMA_CHAT, LLM_OP_EMBEDDINGS },
    { "ollama_embeddings_legacy", LLM_WIRE_OLLAMA_GENERATE,
      LLM_OP_EMBEDDINGS },
};

#define N_CLIENTS (sizeof(clients) / sizeof(clients[0]))

static int client_of(const char *name)
{
    apr_size_t i;

    for (i = 0; i < N_CLIENTS; i++) {
        if (!strcmp(clients[i].name, name)) {
            return (int)i;
        }
    }
    return -1;
}

/* Every client body of the golden files is one this test knows: a new
 * one cannot be left out by mistake. */
static void test_all_clients_known(void)
{
    apr_dir_t *dir;
    apr_finfo_t fi;
    int unknown = 0, seen = 0;

    if (apr_dir_open(&dir, GOLDEN, pool) != APR_SUCCESS) {
        ok(0, "t/golden/requests/ can be read (run from the root)");
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME, dir) == APR_SUCCESS) {
        apr_size_t n = strlen(fi.name);
        const char *name;

        if (n <= 11 || strcmp(fi.name + n - 11, ".canon.json")) {
            continue;
        }
        name = apr_pstrmemdup(pool, fi.name, n - 11);
        seen++;
        if (client_of(name) < 0) {
            printf("# a client body this test does not know: %s.json\n",
                   name);
            unknown++;
        }
    }
    apr_dir_close(dir);
    ok(unknown == 0 && seen == (int)N_CLIENTS,
       "every client body of t/golden/requests/ is translated here");
}

/* The provider wires a canonical request of @a op may go to. */
static int targets_of(llm_op_e op, json_object *canon, llm_wire_e *t)
{
    json_object *in;

    switch (op) {
    case LLM_OP_COMPLETION:
        t[0] = LLM_WIRE_OPENAI_COMPLETION;
        t[1] = LLM_WIRE_OLLAMA_GENERATE;
        return 2;
    case LLM_OP_EMBEDDINGS:
        t[0] = LLM_WIRE_OPENAI_CHAT;
        t[1] = LLM_WIRE_OLLAMA_CHAT;
        t[2] = LLM_WIRE_OLLAMA_GENERATE;
        json_object_object_get_ex(canon, "input", &in);
        /* the legacy API embeds one text */
        return json_object_is_type(in, json_type_string)
               || json_object_array_length(in) == 1 ? 3 : 2;
    default:
        t[0] = LLM_WIRE_OPENAI_CHAT;
        t[1] = LLM_WIRE_LMSTUDIO_CHAT;
        t[2] = LLM_WIRE_OLLAMA_CHAT;
        t[3] = LLM_WIRE_ANTHROPIC;
        return 4;
    }
}

static void show_if_failed(int pass, json_object *o)
{
    if (!pass) {
        printf("#   %s\n", text(o));
    }
}

/* @a canon without its images. A target that cannot take an image (a
 * URL to Ollama, any image to a completion) refuses the request (422)
 * for it: the text is then checked on the request without them. */
static json_object *without_images(json_object *canon)
{
    json_object *copy = NULL, *msgs = NULL;
    size_t i, j;

    json_object_deep_copy(canon, &copy, NULL);
    json_object_object_get_ex(copy, "messages", &msgs);
    for (i = 0; json_object_is_type(msgs, json_type_array)
                && i < json_object_array_length(msgs); i++) {
        json_object *c = NULL, *type = NULL;

        json_object_object_get_ex(json_object_array_get_idx(msgs, i),
                                  "content", &c);
        for (j = json_object_is_type(c, json_type_array)
                 ? json_object_array_length(c) : 0; j-- > 0; ) {
            json_object_object_get_ex(json_object_array_get_idx(c, j),
                                      "type", &type);
            if (!strcmp(json_object_get_string(type), "image_url")) {
                json_object_array_del_idx(c, j, 1);
            }
        }
    }
    return copy;
}

static json_object *egress(const char *name, llm_wire_e wire, llm_op_e op,
                           json_object *canon, llm_error_t *err)
{
    json_object *out = llm_xlate_egress(pool, wire, op, canon, err);
    json_object *bare;

    if (out || err->status != 422 || !strstr(text(canon), "image_url")) {
        return out;
    }
    printf("# %s -> %s refused its images: %s Sent without them.\n", name,
           llm_wire_name(wire), err->message);
    bare = without_images(canon);
    out = llm_xlate_egress(pool, wire, op, bare, err);
    json_object_put(bare);
    return out;
}

static void egress_all(const char *name, llm_op_e op, json_object *canon,
                       int want)
{
    llm_wire_e targets[4];
    int n = targets_of(op, canon, targets);
    int i;

    for (i = 0; i < n; i++) {
        llm_error_t err = { 0, NULL, NULL, NULL };
        json_object *out = egress(name, targets[i], op, canon, &err);

        if (!out) {
            printf("# %d %s\n", err.status, err.message);
        }
        show_if_failed(is_int(nul_texts(out), want,
                              apr_psprintf(pool, "%s -> %s: every text "
                                           "whole", name,
                                           llm_wire_name(targets[i]))),
                       out);
        json_object_put(out);
    }
}

static void test_requests(void)
{
    apr_size_t i;

    for (i = 0; i < N_CLIENTS; i++) {
        const char *name = clients[i].name;
        json_object *body = json_object_from_file(
                                apr_pstrcat(pool, GOLDEN, name, ".json",
                                            NULL));
        llm_error_t err = { 0, NULL, NULL, NULL };
        plant_t pl = { 0, 0 };
        json_object *canon;

        plant(body, &pl);
        ok(pl.planted > 0 && nul_texts(body) == pl.planted,
           apr_psprintf(pool, "%s: texts planted: %d", name, pl.planted));
        canon = llm_xlate_ingress(pool, clients[i].wire, clients[i].op, body,
                                  &err);
        if (!canon) {
            printf("# %d %s\n", err.status, err.message);
        }
        show_if_failed(is_int(nul_texts(canon), pl.planted - pl.thinking,
                              apr_psprintf(pool, "%s -> canonical: every "
                                           "text whole (%d thinking "
                                           "dropped)", name, pl.thinking)),
                       canon);
        if (canon) {
            egress_all(name, clients[i].op, canon, pl.planted - pl.thinking);
        }
        json_object_put(canon);
        json_object_put(body);
    }
}

/* The canonical golden inputs (refusal parts, empty and merged messages,
 * joined system prompts) straight to every provider wire. */
static void test_canonical(void)
{
    static const struct {
        const char *name;
        llm_op_e op;
    } canons[] = {
        { "canon_chat", LLM_OP_CHAT }, { "canon_merge", LLM_OP_CHAT },
        { "canon_plain", LLM_OP_CHAT },
        { "canon_completion", LLM_OP_COMPLETION },
        { "canon_embed", LLM_OP_EMBEDDINGS },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(canons) / sizeof(canons[0]); i++) {
        json_object *canon = json_object_from_file(
                                 apr_pstrcat(pool, GOLDEN, canons[i].name,
                                             ".json", NULL));
        plant_t pl = { 0, 0 };

        plant(canon, &pl);
        egress_all(canons[i].name, canons[i].op, canon, pl.planted);
        json_object_put(canon);
    }
}

/* A text that begins with NUL is not empty: Anthropic drops empty
 * texts, and an Ollama suffix is refused only when it is not empty. */
static void test_leading_nul(void)
{
    json_object *in = json_tokener_parse(
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
        "\"\\u0000s\"},{\"role\":\"user\",\"content\":\"\\u0000u\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"\\u0000p\"}]}]}");
    llm_error_t err = { 0, NULL, NULL, NULL };
    json_object *out = llm_xlate_egress(pool, LLM_WIRE_ANTHROPIC,
                                        LLM_OP_CHAT, in, &err);

    is_str(text(out), "{\"model\":\"m\",\"system\":\"\\u0000s\",\"messages\":"
           "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
           "\"\\u0000u\"},{\"type\":\"text\",\"text\":\"\\u0000p\"}]}],"
           "\"max_tokens\":4096,\"stream\":false}",
           "Anthropic: texts that begin with NUL are kept");
    json_object_put(out);
    json_object_put(in);

    in = json_tokener_parse("{\"model\":\"m\",\"prompt\":\"x\","
                            "\"suffix\":\"\\u0000\"}");
    out = llm_xlate_ingress(pool, LLM_WIRE_OLLAMA_GENERATE,
                            LLM_OP_COMPLETION, in, &err);
    ok(!out && err.status == 422, "a suffix of one NUL is a suffix: 422");
    json_object_put(out);
    json_object_put(in);
}

/* ------------------------------------------------------------------ */
/* The built-ins                                                       */
/* ------------------------------------------------------------------ */

static llm_prompts_t *lib;

/* The whole planted texts in the requests of @a plan. */
static int plan_texts(const llm_builtin_plan_t *plan)
{
    int n = 0;
    int i;

    for (i = 0; plan && i < plan->requests->nelts; i++) {
        n += nul_texts(APR_ARRAY_IDX(plan->requests, i, json_object *));
    }
    return n;
}

static void test_builtin(llm_builtin_e kind, const char *body, int want,
                         const char *name)
{
    json_object *in = json_tokener_parse(body);
    llm_builtin_plan_t *plan = NULL;
    llm_error_t err = { 0, NULL, NULL, NULL };

    if (llm_builtin_build(pool, kind, in, lib, "en", &plan, &err) < 0) {
        printf("# %d %s\n", err.status, err.message);
    }
    if (!is_int(plan_texts(plan), want, name) && plan) {
        printf("#   %s\n", text(APR_ARRAY_IDX(plan->requests, 0,
                                              json_object *)));
    }
    json_object_put(in);
}

#define NUL "a\\u0000b"

static void test_builtin_chats(void)
{
    test_builtin(LLM_BUILTIN_CONVERSATION,
                 "{\"model_name\":\"m\",\"user_last_statement\":\"" NUL "\","
                 "\"historical_messages\":[{\"user\":\"" NUL "\","
                 "\"assistant\":\"" NUL "\"}]}", 3,
                 "conversation: statement and history whole");
    test_builtin(LLM_BUILTIN_EXTENDED_CONVERSATION,
                 "{\"model_name\":\"m\",\"user_last_statement\":\"" NUL "\","
                 "\"system_prompt\":\"" NUL "\",\"historical_messages\":"
                 "[{\"role\":\"user\",\"content\":\"" NUL "\"}]}", 3,
                 "extended conversation: system prompt, statement and "
                 "history whole");
}

static void test_builtin_texts(void)
{
    llm_builtin_plan_t *plan = NULL;
    llm_error_t err;
    json_object *in;
    const llm_builtin_text_t said[1] = { { "x", 1 } };

    test_builtin(LLM_BUILTIN_GENERATE_QUESTIONS,
                 "{\"model_name\":\"m\",\"texts\":[\"" NUL "\",\"" NUL "\"]}",
                 2, "generate_questions: each text whole");
    test_builtin(LLM_BUILTIN_SIMPLIFY_TEXT,
                 "{\"model_name\":\"m\",\"texts\":[\"" NUL "\"]}", 1,
                 "simplify_text: the text whole");
    in = json_tokener_parse("{\"model_name\":\"m\",\"texts\":[\"" NUL "\"]}");
    if (llm_builtin_build(pool, LLM_BUILTIN_TRANSLATE, in, lib, "en", &plan,
                          &err) == 0) {
        like(llm_builtin_response(pool, plan, said, 1, 0.5),
             "\"original\":\"" NUL "\"",
             "translate: the original text is given back whole");
    }
    else {
        ok(0, "translate builds");
    }
    json_object_put(in);
}

static void test_builtin_articles(void)
{
    test_builtin(LLM_BUILTIN_GENERATE_ARTICLE,
                 "{\"model_name\":\"m\",\"text\":\"" NUL "\"}", 1,
                 "generate_article_from_text: the text whole");
    /* full-article.prompt names ##USER_Q_STR## twice */
    test_builtin(LLM_BUILTIN_FULL_ARTICLE,
                 "{\"model_name\":\"m\",\"user_query\":\"" NUL "\","
                 "\"texts\":[\" " NUL " \",\"" NUL "\"],\"article_type\":"
                 "\"" NUL "\"}", 5,
                 "full article: query in the prompt, texts joined and "
                 "trimmed, article type: all whole");
    /* answer-from-context-simple.prompt names ##QUESTION_STR## once */
    test_builtin(LLM_BUILTIN_GENERATIVE_ANSWER,
                 "{\"model_name\":\"m\",\"question_str\":\"" NUL "\","
                 "\"texts\":{\"d\":[\"" NUL "\"],\"e\":[\"" NUL "\"]},"
                 "\"doc_name_in_answer\":true,\"question_prompt\":\"" NUL
                 "\"}", 4,
                 "generative_answer: question, passages and postfix whole");
    test_builtin(LLM_BUILTIN_GENERATIVE_ANSWER,
                 "{\"model_name\":\"m\",\"question_str\":\"" NUL "\","
                 "\"texts\":[\"" NUL "\"],\"system_prompt\":\"" NUL
                 " ##QUESTION_STR##\"}", 3,
                 "generative_answer: a forced system prompt rendered whole");
}

static void test_builtins(void)
{
    const char *errmsg = NULL;

    if (llm_prompts_load(pool, PROMPTS, &lib, &errmsg) != APR_SUCCESS) {
        ok(0, apr_psprintf(pool, "the prompt fixtures load: %s", errmsg));
        return;
    }
    test_builtin_chats();
    test_builtin_texts();
    test_builtin_articles();
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

/* An answer "a\u0000b" of each provider wire, streamed and whole. */
static const struct {
    llm_wire_e wire;
    const char *stream;
    const char *whole;
} answers[] = {
    { LLM_WIRE_OPENAI_CHAT,
      "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
      "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
      "{\"role\":\"assistant\",\"content\":\"" NUL "\"},"
      "\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
      "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},"
      "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
      "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
      "\"assistant\",\"content\":\"" NUL "\"},\"finish_reason\":\"stop\"}]}" },
    { LLM_WIRE_LMSTUDIO_CHAT,
      "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
      "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
      "{\"content\":\"" NUL "\"},\"finish_reason\":\"stop\"}]}\n\n"
      "data: [DONE]\n\n",
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
      "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
      "\"assistant\",\"content\":\"" NUL "\"},\"finish_reason\":\"stop\"}]}" },
    { LLM_WIRE_OPENAI_COMPLETION,
      "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,"
      "\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"" NUL "\","
      "\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
      "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,"
      "\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"" NUL "\","
      "\"finish_reason\":\"stop\"}]}" },
    { LLM_WIRE_OPENAI_RESPONSES,
      "event: response.created\ndata: {\"type\":\"response.created\","
      "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
      "\"created_at\":1,\"status\":\"in_progress\",\"model\":\"m\","
      "\"output\":[]}}\n\n"
      "event: response.output_text.delta\ndata: {\"type\":"
      "\"response.output_text.delta\",\"item_id\":\"msg_1\","
      "\"output_index\":0,\"content_index\":0,\"delta\":\"" NUL "\"}\n\n"
      "event: response.completed\ndata: {\"type\":\"response.completed\","
      "\"response\":{\"id\":\"resp_1\",\"object\":\"response\","
      "\"created_at\":1,\"status\":\"completed\",\"model\":\"m\","
      "\"output\":[]}}\n\n",
      "{\"id\":\"resp_1\",\"object\":\"response\",\"created_at\":1,"
      "\"status\":\"completed\",\"model\":\"m\",\"output\":[{\"type\":"
      "\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":"
      "[{\"type\":\"output_text\",\"text\":\"" NUL "\"}]}]}" },
    { LLM_WIRE_OLLAMA_CHAT,
      "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":"
      "{\"role\":\"assistant\",\"content\":\"" NUL "\"},\"done\":false}\n"
      "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":"
      "{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,"
      "\"done_reason\":\"stop\"}\n",
      "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"message\":"
      "{\"role\":\"assistant\",\"content\":\"" NUL "\"},\"done\":true,"
      "\"done_reason\":\"stop\"}" },
    { LLM_WIRE_OLLAMA_GENERATE,
      "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"response\":"
      "\"" NUL "\",\"done\":false}\n"
      "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"response\":"
      "\"\",\"done\":true,\"done_reason\":\"stop\"}\n",
      "{\"model\":\"m\",\"created_at\":\"2024-01-01T00:00:00Z\",\"response\":"
      "\"" NUL "\",\"done\":true,\"done_reason\":\"stop\"}" },
    { LLM_WIRE_ANTHROPIC,
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
      "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
      "\"content\":[],\"model\":\"m\",\"usage\":{\"input_tokens\":1,"
      "\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\","
      "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
      "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" NUL
      "\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
      "\"index\":0}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
      "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
      "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
      "\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"" NUL "\"}],"
      "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":1,"
      "\"output_tokens\":2}}" },
};

#define N_ANSWERS (sizeof(answers) / sizeof(answers[0]))
#define N_WIRES 7

static const llm_wire_e client_wires[N_WIRES] = {
    LLM_WIRE_OPENAI_CHAT, LLM_WIRE_LMSTUDIO_CHAT, LLM_WIRE_OPENAI_COMPLETION,
    LLM_WIRE_OPENAI_RESPONSES, LLM_WIRE_OLLAMA_CHAT, LLM_WIRE_OLLAMA_GENERATE,
    LLM_WIRE_ANTHROPIC
};

typedef struct {
    llm_encoder_t *enc[2 * N_WIRES];
    llm_buf_t out[2 * N_WIRES];
    int texts;                   /* text events holding the whole text */
} fan_t;

static apr_status_t emit(void *baton, const char *buf, apr_size_t len)
{
    llm_buf_add(baton, buf, len);
    return APR_SUCCESS;
}

static apr_status_t fan_out(void *baton, const llm_event_t *ev)
{
    fan_t *f = baton;
    int i;

    if (ev->type == LLM_EV_TEXT && ev->text_len == 3
        && !memcmp(ev->text, "a\0b", 3)) {
        f->texts++;
    }
    for (i = 0; i < 2 * N_WIRES; i++) {
        llm_encoder_event(f->enc[i], ev, emit, &f->out[i]);
    }
    return APR_SUCCESS;
}

static void fan_init(fan_t *f, apr_pool_t *p)
{
    llm_encode_opts_t opts = { "m", APR_INT64_C(1750000000000000), 1 };
    int i;

    memset(f, 0, sizeof(*f));
    for (i = 0; i < 2 * N_WIRES; i++) {
        f->enc[i] = llm_encoder_create(p, client_wires[i / 2], i % 2, &opts);
        llm_buf_init(&f->out[i], p);
        llm_buf_add(&f->out[i], "", 0);
    }
}

/* What every client got: the text whole at least once (a stream may
 * repeat it, as Responses does in its .done events), never cut. */
static void fan_check(fan_t *f, const char *from)
{
    int i;

    ok(f->texts == 1, apr_psprintf(pool, "%s: decoded whole", from));
    for (i = 0; i < 2 * N_WIRES; i++) {
        const char *got;
        int pass;

        llm_encoder_end(f->enc[i], emit, &f->out[i]);
        got = f->out[i].data;
        pass = count_in(got, NUL_JSON) >= 1 && !strstr(got, "\"a\"");
        if (!ok(pass, apr_psprintf(pool, "%s -> %s %s: whole", from,
                                   llm_wire_name(client_wires[i / 2]),
                                   i % 2 ? "stream" : "body"))) {
            printf("#   %s\n", got);
        }
    }
}

static void test_answers(void)
{
    apr_size_t i;

    for (i = 0; i < N_ANSWERS; i++) {
        apr_pool_t *p;
        llm_decoder_t *d;
        fan_t f;

        apr_pool_create(&p, pool);
        fan_init(&f, p);
        d = llm_decoder_create(p, answers[i].wire, LLM_EVENT_MAX_DEFAULT);
        llm_decoder_feed(d, answers[i].stream, strlen(answers[i].stream),
                         fan_out, &f);
        llm_decoder_end(d, fan_out, &f);
        fan_check(&f, apr_psprintf(pool, "%s stream",
                                   llm_wire_name(answers[i].wire)));
        fan_init(&f, p);
        llm_decode_body(p, answers[i].wire, answers[i].whole,
                        strlen(answers[i].whole), fan_out, &f);
        fan_check(&f, apr_psprintf(pool, "%s body",
                                   llm_wire_name(answers[i].wire)));
        apr_pool_destroy(p);
    }
}

/* Reasoning and tool-call arguments too, where the client's dialect
 * carries them: legacy completions carry neither, Ollama's generate no
 * tool calls (docs/dialects.md). */
static void test_answer_parts(void)
{
    static const char in[] =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"role\":\"assistant\",\"reasoning_content\":\"c\\u0000d\"},"
        "\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":"
        "\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
        "\"{\\\"q\\\":\\\"e\\\\u0000f\\\"}\"}}]},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},"
        "\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    apr_pool_t *p;
    llm_decoder_t *d;
    fan_t f;
    int i;

    apr_pool_create(&p, pool);
    fan_init(&f, p);
    d = llm_decoder_create(p, LLM_WIRE_OPENAI_CHAT, LLM_EVENT_MAX_DEFAULT);
    llm_decoder_feed(d, in, sizeof(in) - 1, fan_out, &f);
    llm_decoder_end(d, fan_out, &f);
    for (i = 0; i < 2 * N_WIRES; i++) {
        llm_wire_e w = client_wires[i / 2];
        const char *got;
        int reasoning, args;

        llm_encoder_end(f.enc[i], emit, &f.out[i]);
        got = f.out[i].data;
        reasoning = count_in(got, "c\\u0000d") > 0;
        args = count_in(got, "e\\u0000f") + count_in(got, "e\\\\u0000f") > 0;
        if (!ok(reasoning == (w != LLM_WIRE_OPENAI_COMPLETION)
                && args == (w != LLM_WIRE_OPENAI_COMPLETION
                            && w != LLM_WIRE_OLLAMA_GENERATE)
                && !strstr(got, "\"c\"") && !strstr(got, "\"e\""),
                apr_psprintf(pool, "reasoning and arguments -> %s %s: "
                             "whole where carried", llm_wire_name(w),
                             i % 2 ? "stream" : "body"))) {
            printf("#   %s\n", got);
        }
    }
    apr_pool_destroy(p);
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_all_clients_known();
    test_requests();
    test_canonical();
    test_leading_nul();
    test_builtins();
    test_answers();
    test_answer_parts();
    apr_pool_destroy(pool);
    return tap_done();
}
