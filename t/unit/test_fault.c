/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* llm_fault.c: a provider's error answer read for its kind. */

#include <string.h>

#include "apr_general.h"

#include "llm_fault.h"
#include "tap.h"

static llm_fault_e of(int status, const char *body)
{
    return llm_fault_of_answer(status, body, strlen(body));
}

static void test_context_length(void)
{
    /* The words of each API, as their servers write them. */
    ok(of(400, "{\"error\":{\"message\":\"This model's maximum context "
               "length is 4096 tokens. However, you requested 9000 tokens."
               "\",\"type\":\"invalid_request_error\",\"param\":\"messages\","
               "\"code\":\"context_length_exceeded\"}}")
       == LLM_FAULT_CONTEXT_LENGTH, "OpenAI");
    ok(of(400, "{\"object\":\"error\",\"message\":\"This model's maximum "
               "context length is 2048 tokens. However, your request has "
               "3000 input tokens.\",\"type\":\"BadRequestError\"}")
       == LLM_FAULT_CONTEXT_LENGTH, "vLLM");
    ok(of(400, "{\"type\":\"error\",\"error\":{\"type\":"
               "\"invalid_request_error\",\"message\":\"prompt is too long: "
               "210000 tokens > 200000 maximum\"}}")
       == LLM_FAULT_CONTEXT_LENGTH, "Anthropic");
    ok(of(400, "{\"error\":\"the input length exceeds the context length\"}")
       == LLM_FAULT_CONTEXT_LENGTH, "Ollama");
    ok(of(413, "{\"error\":{\"message\":\"Maximum Context Length reached\"}}")
       == LLM_FAULT_CONTEXT_LENGTH, "413, any case");
}

static void test_not_context_length(void)
{
    ok(of(500, "maximum context length") == LLM_FAULT_OTHER,
       "a 5xx is never a context error");
    ok(of(400, "{\"error\":{\"message\":\"max_tokens must be at least 1\"}}")
       == LLM_FAULT_OTHER, "another 400");
    ok(of(400, "maximum context lengt") == LLM_FAULT_OTHER,
       "a phrase cut at the end of the body");
    ok(llm_fault_of_answer(400, NULL, 0) == LLM_FAULT_OTHER, "no body");
    ok(of(400, "{\"error\":{\"message\":\"Your request was rejected by our "
               "safety system; prompt is too long too\",\"code\":"
               "\"content_policy_violation\"}}")
       == LLM_FAULT_CONTENT_POLICY,
       "a content-policy refusal wins over context words");
}

static void test_bounded(void)
{
    static char big[LLM_FAULT_BODY_MAX + 64];
    const char *tail = "context_length_exceeded";

    memset(big, 'x', sizeof(big));
    memcpy(big + LLM_FAULT_BODY_MAX, tail, strlen(tail));
    ok(llm_fault_of_answer(400, big, sizeof(big)) == LLM_FAULT_OTHER,
       "only the first LLM_FAULT_BODY_MAX bytes are read");
    memcpy(big + 10, tail, strlen(tail));
    ok(llm_fault_of_answer(400, big, sizeof(big))
       == LLM_FAULT_CONTEXT_LENGTH, "found near the start of a long body");
}

int main(void)
{
    apr_initialize();
    test_context_length();
    test_not_context_length();
    test_bounded();
    apr_terminate();
    return tap_done();
}
