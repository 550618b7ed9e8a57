/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for request translation, each ingress x each egress, the
 * way the router makes an attempt (llm_router_xlate.c): the first byte
 * picks the route (fuzz_routes[] in fuzz.h; its high bit: translate a
 * body that the validation would refuse, as another module may hand one
 * over from llm_request_parsed); the rest is the client's body. For a
 * provider of every api_type:
 *
 *   provider wire = llm_wire_for_provider(type, op, client wire);
 *   the same wire: llm_request_for_provider of the client's body;
 *   another: llm_xlate_ingress (once) -> llm_request_for_provider ->
 *   llm_xlate_egress -> llm_xlate_fit_provider -> llm_xlate_json_text;
 *   a built-in: each request of its plan, as the router sends them.
 *
 * Properties (a violation abort()s, naming it):
 *   - ingress leaves the client's object unchanged, and egress the
 *     canonical one; a refusal is a 400 or 422 with a code and a message
 *     and an error body in the client's dialect that is a JSON object;
 *   - the canonical request is an object with a boolean "stream" (but
 *     for embeddings);
 *   - the body sent is a JSON object (RFC 8259) that names the
 *     provider's model; to Anthropic, one with what its API requires
 *     (a message, and max_tokens an integer >= 1);
 *   - the upstream URL is the provider's host and the wire's path;
 *   - the canonical request sent straight to every wire (not only those
 *     the router picks) gives a JSON object or a 400/422;
 *   - a planted text goes on whole: the body parsed again with each of
 *     its texts (llm_texts_walk: what masking reads) made "NULPLANT",
 *     NUL, "KEPT" gives a canonical request, a body for every wire (or
 *     a built-in's requests) in which "NULPLANT" is always followed by
 *     the rest, as \u0000KEPT (\\u0000KEPT in a JSON text of
 *     arguments): a text cut at its NUL would end there (issue 11, part
 *     4). Fields a dialect drops take their texts with them, and are not
 *     counted; a body that holds "NULPLANT" itself is not planted.
 */

#define FUZZ_NAME "fuzz_xlate"

#include "fuzz.h"
#include "llm_builtin.h"
#include "llm_texts.h"
#include "llm_xlate.h"

static llm_prompts_t *prompts;

typedef struct {
    apr_pool_t *p;
    const llm_endpoint_t *ep;
    json_object *body;          /* the client's */
    llm_wire_e wire;            /* the client's */
    llm_op_e op;
    json_object *canon;         /* made once, as the router does */
    int canon_tried;
} attempt_t;

static void check_refusal(attempt_t *a, const llm_error_t *err,
                          const char *what)
{
    const char *body;

    FUZZ_CHECK(err->status == 400 || err->status == 422, what);
    FUZZ_CHECK(err->code && *err->code && err->message && *err->message,
               "a refusal has a code and a message");
    body = llm_error_json_for_error(a->p, a->wire, err);
    FUZZ_CHECK_TEXT(fuzz_is_object(body, 1),
                    "the error body is a JSON object", body);
}

static json_object *canonical(attempt_t *a)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    const char *before;
    json_object *stream;

    if (a->canon_tried) {
        return a->canon;
    }
    a->canon_tried = 1;
    before = fuzz_text(a->p, a->body);
    a->canon = llm_xlate_ingress(a->p, a->wire, a->op, a->body, &err);
    FUZZ_CHECK_TEXT(!strcmp(before, fuzz_text(a->p, a->body)),
                    "ingress: the client's object is unchanged",
                    fuzz_text(a->p, a->body));
    if (!a->canon) {
        check_refusal(a, &err, "ingress: a 400 or 422");
        return NULL;
    }
    FUZZ_CHECK(json_object_is_type(a->canon, json_type_object),
               "ingress: an object");
    FUZZ_CHECK_TEXT(a->op == LLM_OP_EMBEDDINGS
                    || (json_object_object_get_ex(a->canon, "stream",
                                                  &stream)
                        && json_object_is_type(stream, json_type_boolean)),
                    "ingress: an explicit boolean stream",
                    fuzz_text(a->p, a->canon));
    return a->canon;
}

static void check_url(attempt_t *a, const fuzz_provider_t *f,
                      llm_wire_e pw)
{
    const char *url = llm_upstream_url_for(a->p, &f->provider, pw, a->op);
    const char *path = llm_wire_path(pw, a->op);

    FUZZ_CHECK(url && !strncmp(url, "http://127.0.0.1:9/", 19)
               && strlen(url) >= strlen(path)
               && !strcmp(url + strlen(url) - strlen(path), path),
               "upstream_url_for: the host and the wire's path");
}

/* What Anthropic refuses a request for. */
static void check_anthropic(json_object *out, const char *text)
{
    json_object *msgs = json_object_object_get(out, "messages");
    json_object *max = json_object_object_get(out, "max_tokens");

    FUZZ_CHECK_TEXT(json_object_is_type(msgs, json_type_array)
                    && json_object_array_length(msgs) > 0,
                    "egress: Anthropic is sent a message", text);
    FUZZ_CHECK_TEXT(json_object_is_type(max, json_type_int)
                    && json_object_get_int64(max) >= 1,
                    "egress: Anthropic is sent max_tokens >= 1", text);
}

/* One attempt on a provider of @a type, from @a src: the client's body,
 * or a built-in's request (@a builtin). */
static void attempt(attempt_t *a, llm_api_type_e type, int tools,
                    json_object *builtin_rq)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    fuzz_provider_t f;
    json_object *src, *fitted, *out, *model;
    const char *text, *before;
    apr_size_t len;
    llm_wire_e pw;

    if (!llm_provider_serves(type, a->op)) {
        return;
    }
    fuzz_provider(&f, type, tools, tools ? "served/fuzz" : "");
    pw = llm_wire_for_provider(type, a->op, a->wire);
    check_url(a, &f, pw);
    if (builtin_rq) {
        src = builtin_rq;
    }
    else if (pw == a->wire) {
        src = a->body;
    }
    else if (!(src = canonical(a))) {
        return;
    }
    fitted = llm_request_for_provider(src, &f.model, &f.provider, &text,
                                      &len);
    if (src == a->body) {
        FUZZ_CHECK_TEXT(fuzz_is_object(text, 1),
                        "for_provider: a JSON object", text);
        json_object_put(fitted);
        return;
    }
    before = fuzz_text(a->p, fitted);
    out = llm_xlate_egress(a->p, pw, a->op, fitted, &err);
    FUZZ_CHECK_TEXT(!strcmp(before, fuzz_text(a->p, fitted)),
                    "egress: the canonical request is unchanged",
                    fuzz_text(a->p, fitted));
    json_object_put(fitted);
    if (!out) {
        check_refusal(a, &err, "egress: a 400 or 422");
        return;
    }
    llm_xlate_fit_provider(out, type);
    text = llm_xlate_json_text(a->p, out);
    FUZZ_CHECK_TEXT(fuzz_is_object(text, 1),
                    "egress: the body sent is a JSON object", text);
    FUZZ_CHECK_TEXT(json_object_object_get_ex(out, "model", &model)
                    && json_object_is_type(model, json_type_string)
                    && !strcmp(json_object_get_string(model),
                               tools ? "served/fuzz" : "fuzz-model"),
                    "egress: the provider's model", text);
    if (pw == LLM_WIRE_ANTHROPIC) {
        check_anthropic(out, text);
    }
    json_object_put(out);
}

static void every_provider(attempt_t *a, json_object *builtin_rq)
{
    int type;

    for (type = 0; type < LLM_API__COUNT; type++) {
        attempt(a, (llm_api_type_e)type, type % 2, builtin_rq);
    }
    /* Tool calling the other way round for the two that differ most. */
    attempt(a, LLM_API_ANTHROPIC, 1, builtin_rq);
    attempt(a, LLM_API_OLLAMA, 0, builtin_rq);
}

/* The canonical request straight to every wire, those the router would
 * not pick for this operation too (an egress must refuse what it cannot
 * write, never break on it). */
static void every_wire(attempt_t *a)
{
    json_object *canon = canonical(a);
    const char *before;
    int w;

    if (!canon) {
        return;
    }
    before = fuzz_text(a->p, canon);
    for (w = LLM_WIRE_OPENAI_CHAT; w <= LLM_WIRE_LMSTUDIO_CHAT; w++) {
        llm_error_t err = { 0, NULL, NULL, NULL };
        json_object *out = llm_xlate_egress(a->p, (llm_wire_e)w, a->op,
                                            canon, &err);

        if (!out) {
            check_refusal(a, &err, "egress to any wire: a 400 or 422");
            continue;
        }
        FUZZ_CHECK_TEXT(fuzz_is_object(fuzz_text(a->p, out), 1),
                        "egress to any wire: a JSON object",
                        fuzz_text(a->p, out));
        json_object_put(out);
    }
    FUZZ_CHECK_TEXT(!strcmp(before, fuzz_text(a->p, canon)),
                    "egress to any wire: the canonical request is "
                    "unchanged", fuzz_text(a->p, canon));
}

static void run_builtin(attempt_t *a)
{
    llm_builtin_plan_t *plan = NULL;
    llm_error_t err = { 0, NULL, NULL, NULL };
    int i;

    if (!prompts || llm_builtin_build(a->p, a->ep->builtin, a->body,
                                      prompts, NULL, &plan, &err) < 0) {
        return;
    }
    for (i = 0; i < plan->requests->nelts && i < 4; i++) {
        every_provider(a, APR_ARRAY_IDX(plan->requests, i, json_object *));
    }
}

/* ------------------------------------------------------------------ */
/* A planted text goes on whole                                        */
/* ------------------------------------------------------------------ */

#define PLANT      "NULPLANT\0KEPT"
#define PLANT_HEAD "NULPLANT"

static int plant_text(void *baton, json_object *text)
{
    (void)baton;
    json_object_set_string_len(text, PLANT, (int)sizeof(PLANT) - 1);
    return 0;
}

static int occurrences(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    int count = 0;

    while ((s = strstr(s, needle))) {
        count++;
        s += n;
    }
    return count;
}

static void check_whole(attempt_t *a, json_object *o, const char *what)
{
    const char *text = fuzz_text(a->p, o);

    FUZZ_CHECK_TEXT(occurrences(text, PLANT_HEAD)
                    == occurrences(text, PLANT_HEAD "\\u0000KEPT")
                       + occurrences(text, PLANT_HEAD "\\\\u0000KEPT"),
                    what, text);
}

static void planted_egress(attempt_t *a, json_object *canon)
{
    int w;

    check_whole(a, canon, "planted: ingress keeps a text whole");
    for (w = LLM_WIRE_OPENAI_CHAT; w <= LLM_WIRE_LMSTUDIO_CHAT; w++) {
        llm_error_t err = { 0, NULL, NULL, NULL };
        json_object *out = llm_xlate_egress(a->p, (llm_wire_e)w, a->op,
                                            canon, &err);

        if (out) {
            check_whole(a, out, "planted: egress keeps a text whole");
            json_object_put(out);
        }
    }
}

static void planted(attempt_t *a, const char *buf, size_t len)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    llm_builtin_plan_t *plan = NULL;
    json_object *body, *canon;
    int i;

    if (strstr(fuzz_text(a->p, a->body), PLANT_HEAD)
        || !(body = llm_request_parse(a->p, buf, len, &err))) {
        return;
    }
    llm_texts_walk(body, a->wire, a->op, a->ep->builtin, plant_text, NULL);
    if (a->ep->builtin == LLM_BUILTIN_NONE) {
        if ((canon = llm_xlate_ingress(a->p, a->wire, a->op, body, &err))) {
            planted_egress(a, canon);
            json_object_put(canon);
        }
    }
    else if (prompts && llm_builtin_build(a->p, a->ep->builtin, body,
                                          prompts, NULL, &plan, &err) == 0) {
        for (i = 0; i < plan->requests->nelts; i++) {
            check_whole(a, APR_ARRAY_IDX(plan->requests, i, json_object *),
                        "planted: a built-in keeps a text whole");
        }
    }
    json_object_put(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    llm_error_t err = { 0, NULL, NULL, NULL };
    const char *model;
    attempt_t a;
    char *buf;
    int stream, validate;

    if (fuzz_start()) {
        prompts = fuzz_prompts();
    }
    if (size < 1) {
        return 0;
    }
    fuzz_input = data;
    fuzz_input_len = size;
    memset(&a, 0, sizeof(a));
    validate = !(data[0] & 0x80);
    a.ep = fuzz_endpoint(data[0] & 0x7f);
    a.op = a.ep->op;
    if (a.op == LLM_OP_INFO
        || (!validate && a.ep->builtin != LLM_BUILTIN_NONE)) {
        return 0;
    }
    buf = malloc(size - 1 ? size - 1 : 1);
    if (!buf) {
        abort();
    }
    memcpy(buf, data + 1, size - 1);
    apr_pool_create(&a.p, fuzz_root);
    a.body = llm_request_parse(a.p, buf, size - 1, &err);
    if (a.body) {
        a.wire = llm_wire_of_request(a.ep, a.body);
        if (!validate || llm_request_validate_endpoint(a.p, a.ep, a.body,
                                                       &model, &stream,
                                                       &err) == 0) {
            if (a.ep->builtin != LLM_BUILTIN_NONE) {
                run_builtin(&a);
            }
            else {
                every_provider(&a, NULL);
                every_wire(&a);
            }
            planted(&a, buf, size - 1);
        }
        json_object_put(a.canon);
        json_object_put(a.body);
    }
    free(buf);
    apr_pool_destroy(a.p);
    return 0;
}
