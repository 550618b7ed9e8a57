/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * What the fuzz targets of t/fuzz/ found, each as the test that would
 * have caught it (the smallest input that shows it). A bug fixed is an
 * ok(); a bug in code the fuzzing work could not change is a TODO test
 * (TAP: "not ok N - ... # TODO"), which prove reports without failing,
 * until its fix turns it into a pass.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include <json-c/json.h>

#include "llm_event.h"
#include "llm_json.h"
#include "llm_models.h"
#include "llm_request.h"
#include "llm_xlate.h"
#include "tap.h"

static apr_pool_t *pool;

/* A TODO test: counted, reported, never a failure (none now). */
static inline void todo(int pass, const char *name, const char *why)
{
    tap_n++;
    printf("%sok %d - %s # TODO %s\n", pass ? "" : "not ", tap_n, name,
           why);
}

static json_object *parse(const char *s, llm_error_t *err)
{
    return llm_request_parse(pool, s, strlen(s), err);
}

/* ------------------------------------------------------------------ */
/* Fixed                                                               */
/* ------------------------------------------------------------------ */

/* fuzz_event: a stream cut in pieces gave other events than the same
 * stream whole. json-c 0.16's json_tokener_reset() does not clear a
 * UTF-16 high surrogate that a parse cut short was holding; the tokener
 * each thread keeps for its next parse (llm_json_tokener_give) carried
 * it into the next parse, which wrote a U+FFFD before its first
 * surrogate pair: a provider's answer cut in its middle changed the
 * text of the next request the thread read. The tokener is now kept
 * only after a parse that ended well. */
static void test_tokener_surrogate(void)
{
    llm_error_t err;
    json_object *o, *m;
    const char *want = "m\xf0\x9f\x98\x80";

    /* An upstream's record cut after a high surrogate... */
    o = llm_json_parse("{\"text\":\"x\\ud83d", 16);
    ok(o == NULL, "a record cut after a high surrogate is not JSON");
    /* ...and the next request this thread reads. */
    o = parse("{\"model\":\"m\\ud83d\\ude00\"}", &err);
    m = o ? json_object_object_get(o, "model") : NULL;
    ok(m && json_object_get_string_len(m) == (int)strlen(want)
       && !memcmp(json_object_get_string(m), want, strlen(want)),
       "the next body's surrogate pair is the emoji alone");
    json_object_put(o);
}

static apr_status_t keep_created(void *baton, const llm_event_t *ev)
{
    if (ev->type == LLM_EV_START) {
        *(apr_int64_t *)baton = ev->created;
    }
    return APR_SUCCESS;
}

/* The created_at of an Ollama line, as the START event says it. */
static apr_int64_t ollama_created(const char *created_at)
{
    llm_decoder_t *d = llm_decoder_create(pool, LLM_WIRE_OLLAMA_CHAT, 0);
    const char *line = apr_psprintf(pool, "{\"model\":\"m\",\"created_at\":"
                                    "\"%s\",\"message\":{\"role\":"
                                    "\"assistant\",\"content\":\"x\"},"
                                    "\"done\":false}\n", created_at);
    apr_int64_t created = -1;

    llm_decoder_feed(d, line, strlen(line), keep_created, &created);
    return created;
}

/* fuzz_event (UBSan): "signed integer overflow: 85406475 * 60" in
 * llm_event_ollama.c's parse_time, which read a time zone's hours with
 * atoi() over every digit that followed the sign. The offset is now
 * RFC 3339's HH:MM, and anything else is no time at all. */
static void test_ollama_offset(void)
{
    is_int(ollama_created("2023-08-04T08:52:19.3+85406475Z"), 0,
           "an offset of eight digits is no time (and no overflow)");
    is_int(ollama_created("2023-08-04T08:52:19.385406455-07:00"),
           1691164339, "-07:00 is seven hours behind");
    is_int(ollama_created("2023-08-04T08:52:19+0230"), 1691130139,
           "+0230 is two and a half hours ahead");
    is_int(ollama_created("2023-08-04T08:52:19Z"), 1691139139,
           "Z is UTC");
    is_int(ollama_created("2023-08-04T08:52:19+24:00"), 0,
           "an hour of 24 is no offset");
    is_int(ollama_created("2023-08-04T08:52:19+"), 0,
           "a sign alone is no offset");
}

/* An OpenAI chat body as an Anthropic provider is sent it (NULL: the
 * translation refused, with @a err). */
static json_object *to_anthropic(const char *body, llm_error_t *err)
{
    json_object *in = parse(body, err);
    json_object *canon = in ? llm_xlate_ingress(pool, LLM_WIRE_OPENAI_CHAT,
                                                LLM_OP_CHAT, in, err) : NULL;
    json_object *out = canon ? llm_xlate_egress(pool, LLM_WIRE_ANTHROPIC,
                                                LLM_OP_CHAT, canon, err)
                             : NULL;

    json_object_put(canon);
    json_object_put(in);
    return out;
}

static apr_int64_t max_tokens_sent(const char *fields)
{
    llm_error_t err;
    json_object *out = to_anthropic(apr_pstrcat(pool, "{\"model\":\"m\","
                                                "\"messages\":[{\"role\":"
                                                "\"user\",\"content\":"
                                                "\"Hi\"}]", fields, "}",
                                                NULL), &err);
    json_object *v = out ? json_object_object_get(out, "max_tokens") : NULL;
    apr_int64_t n = json_object_is_type(v, json_type_int)
                    ? json_object_get_int64(v) : -1;

    json_object_put(out);
    return n;
}

/* fuzz_xlate (a translated body checked against what the provider's own
 * API requires): an OpenAI client's max_tokens 0 (or an Ollama client's
 * num_predict 0, or a fraction) went to Anthropic as it was, and
 * Anthropic refuses anything but an integer >= 1; messages that all had
 * no content went as "messages":[], which Anthropic refuses too. Now
 * such a max_tokens gives way to max_completion_tokens or the default,
 * as the vLLM mapping drops it, and no message at all is a 422. */
static void test_anthropic_requirements(void)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    json_object *out;

    is_int(max_tokens_sent(",\"max_tokens\":0"), 4096,
           "max_tokens 0 to Anthropic: the default");
    is_int(max_tokens_sent(",\"max_tokens\":-5"), 4096,
           "a negative max_tokens to Anthropic: the default");
    is_int(max_tokens_sent(",\"max_tokens\":1.5"), 4096,
           "a fraction to Anthropic: the default");
    is_int(max_tokens_sent(",\"max_tokens\":0,\"max_completion_tokens\":"
                           "64"), 64,
           "max_tokens 0 and max_completion_tokens 64: 64");
    is_int(max_tokens_sent(",\"max_tokens\":7"), 7,
           "max_tokens 7 stays 7");
    out = to_anthropic("{\"model\":\"m\",\"messages\":[{\"role\":"
                       "\"user\",\"cont\":\"Hi\"}]}", &err);
    ok(out == NULL && err.status == 422 && err.param
       && !strcmp(err.param, "messages"),
       "messages without content to Anthropic: 422 (messages)");
    json_object_put(out);
    out = to_anthropic("{\"model\":\"m\",\"messages\":[{\"role\":"
                       "\"system\",\"content\":\"Be brief.\"}]}", &err);
    ok(out == NULL && err.status == 422,
       "a system prompt alone to Anthropic: 422");
    json_object_put(out);
}

/* The last USAGE of a whole answer of @a wire. */
static apr_status_t keep_usage(void *baton, const llm_event_t *ev)
{
    if (ev->type == LLM_EV_USAGE) {
        *(llm_usage_t *)baton = ev->usage;
    }
    return APR_SUCCESS;
}

static llm_usage_t usage_of_body(llm_wire_e wire, const char *body)
{
    llm_usage_t u = { -2, -2, -2, -2, -2 };

    llm_decode_body(pool, wire, body, strlen(body), keep_usage, &u);
    return u;
}

#define HUGE_COUNT "9223372036854775807"

/* fuzz_event (UBSan): "signed integer overflow: 472 +
 * 9223372036854775807" in llm_event_anthropic.c, which adds the cache
 * counts to input_tokens: an upstream's counts are anything up to
 * INT64_MAX. The sum now stops at INT64_MAX. */
static void test_anthropic_usage_sum(void)
{
    llm_usage_t u = usage_of_body(LLM_WIRE_ANTHROPIC,
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"m\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
        "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":"
        HUGE_COUNT ",\"cache_read_input_tokens\":472}}");

    ok(u.prompt_tokens == APR_INT64_MAX && u.cached_tokens == 472,
       "Anthropic: input plus cache counts stop at INT64_MAX");
}

/* fuzz_event (UBSan): "signed integer overflow: 9223372036854775807 + 5"
 * in llm_event.c (llm_dec_usage: total = prompt + completion), and the
 * same sum in llm_event_util.c (llm_usage_merge), for an answer whose
 * usage has no total_tokens. The sums stop at INT64_MAX now
 * (llm_count_add). */
static void test_usage_total_sum(void)
{
    llm_usage_t u = usage_of_body(LLM_WIRE_OPENAI_CHAT,
        "{\"id\":\"x\",\"object\":\"chat.completion\",\"created\":1,"
        "\"model\":\"m\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
        "\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":" HUGE_COUNT ",\"completion_tokens\""
        ":5}}");

    ok(u.total_tokens == APR_INT64_MAX,
       "prompt INT64_MAX + completion 5: total stops at INT64_MAX");
}

/* An OpenAI embeddings answer as a client of @a to (with @a format) is
 * given it, or NULL. */
static const char *embeddings_for(const char *answer, llm_wire_e to,
                                  const char *format)
{
    json_object *o = llm_json_parse(answer, strlen(answer));
    const char *out = o ? llm_embeddings_response_ex(pool,
                                                     LLM_WIRE_OPENAI_CHAT,
                                                     to, o, "m", format,
                                                     NULL) : NULL;

    json_object_put(o);
    return out;
}

#define EMBED(e) "{\"object\":\"list\",\"data\":[{\"object\":" \
                 "\"embedding\",\"index\":0,\"embedding\":" e "}]," \
                 "\"model\":\"m\"}"

/* fuzz_event: an OpenAI embeddings answer whose "embedding" was not an
 * array, for a client that asked for base64, made json-c's
 * json_object_array_length() assert: the process died on a provider's
 * answer. And base64 of NaNs came out as NaN in an Ollama client's JSON,
 * which is not JSON. A vector is now an array of numbers float32 holds,
 * or the answer is one the gateway cannot read (NULL: a 502). */
static void test_embeddings_vectors(void)
{
    const char *out;

    ok(embeddings_for(EMBED("5"), LLM_WIRE_OPENAI_CHAT, "base64") == NULL,
       "an embedding that is a number: not an answer (no assert)");
    ok(embeddings_for(EMBED("{\"a\":1}"), LLM_WIRE_OPENAI_CHAT, "base64")
       == NULL, "an embedding that is an object: not an answer");
    ok(embeddings_for(EMBED("\"AADAfw==\""), LLM_WIRE_OLLAMA_CHAT, NULL)
       == NULL, "base64 of a NaN: not an answer");
    ok(embeddings_for(EMBED("[1e300]"), LLM_WIRE_OPENAI_CHAT, "base64")
       == NULL, "a number beyond float32: not an answer");
    ok(embeddings_for(EMBED("[1,\"x\"]"), LLM_WIRE_OLLAMA_CHAT, NULL)
       == NULL, "a string in a vector: not an answer");
    out = embeddings_for("{\"object\":\"list\",\"data\":[{\"index\":1,"
                         "\"embedding\":[1]},{\"index\":1,\"embedding\":"
                         "[2]}]}", LLM_WIRE_OLLAMA_CHAT, NULL);
    ok(out == NULL, "two vectors at one index leave a hole: not an answer");
    out = embeddings_for(EMBED("\"AACAPwAAAEA=\""), LLM_WIRE_OLLAMA_CHAT,
                         NULL);
    like(out, "\"embeddings\":[[1.0,2.0]]", "base64 of 1 and 2 still reads");
}

/* fuzz_event: an Ollama answer's vector [00.50,25] reached an OpenAI
 * client as "[00.50,25]": json-c reads numbers JSON does not allow and
 * writes a double back as it was written. Such numbers are written
 * anew; the others stay as the upstream wrote them. */
static void test_embeddings_number_text(void)
{
    const char *in = "{\"embedding\":[00.50,1.,0.0123,-0,25,1E+2]}";
    json_object *o = llm_json_parse(in, strlen(in));
    const char *out = o ? llm_embeddings_response_ex(
                              pool, LLM_WIRE_OLLAMA_GENERATE,
                              LLM_WIRE_OPENAI_CHAT, o, "m", NULL, NULL)
                        : NULL;

    like(out, "\"embedding\":[0.5,1.0,0.0123,0,25,1E+2]",
         "00.50 and 1. are written as JSON, the rest as they came");
    json_object_put(o);
}

/* fuzz_xlate: an assistant's tool call whose arguments text was
 * {"x":00.5} went to Anthropic and Ollama as the object {"x":00.5}:
 * json-c reads it and writes the number back as it came, so the body
 * sent was not JSON. The arguments text is now checked as the door
 * checks a body: not JSON, 422. */
static void test_tool_arguments_text(void)
{
    static const char *const bad[] = {
        "{\\\"x\\\":00.5}", "{\\\"x\\\":NaN}", "{\\\"x\\\":1,}",
        "{\\\"x\\\":1,\\\"x\\\":2}"
    };
    llm_error_t err;
    json_object *out;
    size_t i;
    int refused = 0;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        out = to_anthropic(apr_pstrcat(pool,
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
            "\"hi\"},{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\","
            "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
            "\"", bad[i], "\"}}]}]}", NULL), &err);
        refused += out == NULL && err.status == 422;
        json_object_put(out);
    }
    is_int(refused, 4, "arguments with 00.5, NaN, a trailing comma or a "
           "repeated key: 422");
    out = to_anthropic("{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                       "\"content\":\"hi\"},{\"role\":\"assistant\","
                       "\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
                       "\"function\":{\"name\":\"f\",\"arguments\":"
                       "\"{\\\"x\\\":0.5}\"}}]}]}", &err);
    like(out ? json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN)
             : NULL, "\"input\":{\"x\":0.5}", "arguments that are JSON pass");
    json_object_put(out);
}

/* fuzz_models: a provider's "weight": NaN loaded as NaN, which the
 * clamp to [0,1] does not catch and a weighted choice cannot use. The
 * models file is now read as strict JSON, so NaN is refused where it
 * stands, before the weight's own check. */
static void test_models_nan_weight(void)
{
    const char *json = "{\"g\":{\"m\":{\"providers\":[{\"id\":\"a\","
                       "\"api_host\":\"http://h\",\"api_type\":\"vllm\","
                       "\"weight\":NaN}]}},\"active_models\":{\"g\":[\"m\"]}}";
    llm_models_t *m = NULL;
    const char *err = llm_models_parse(pool, "models.json", json,
                                       strlen(json), &m);

    is_str(err, "models.json: invalid JSON at line 1, column 84: an "
           "unexpected character", "a NaN weight is refused, with where it is");
}

/* fuzz_event: an Ollama answer's tool call with the arguments
 * {"x":00.5,"y":1.} reached an Anthropic client as
 * "input":{"x":00.5,"y":1.}, which is not JSON (an Ollama client too):
 * llm_json_args read an upstream's arguments text with json-c, which
 * takes such numbers and writes them back as they came. It reads them
 * as the door does now, and a text that is not JSON gives {}. */
static void test_args_object_is_json(void)
{
    json_object *o = llm_json_args("{\"x\":00.5,\"y\":1.}");
    const char *text = json_object_to_json_string_ext(
                           o, JSON_C_TO_STRING_PLAIN);

    ok(!strstr(text, "00.5") && !strstr(text, "1.}"),
       "arguments that are not JSON do not come out as they went in");
    json_object_put(o);
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);

    test_tokener_surrogate();
    test_ollama_offset();
    test_anthropic_requirements();
    test_anthropic_usage_sum();
    test_usage_total_sum();
    test_embeddings_vectors();
    test_embeddings_number_text();
    test_tool_arguments_text();
    test_models_nan_weight();
    test_args_object_is_json();

    apr_pool_destroy(pool);
    return tap_done();
}
