/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Embeddings: requests of the three embedding APIs through one canonical
 * form (OpenAI's {"model","input"}), and their answers converted whole
 * (an embeddings answer is one JSON body, never a stream).
 */

#include <float.h>
#include <math.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_base64.h"

#include <json-c/json.h>

#include "llm_xlate.h"

#define get  llm_json_get
/* A C string ends at the first NUL, which a JSON string may hold: str()
 * reads only the model's name. The texts to embed are shared by
 * reference, whole. */
#define str(o, key)  llm_json_str(o, key, NULL)
#define share llm_xlate_share

static int openai_family(llm_wire_e wire)
{
    return wire != LLM_WIRE_OLLAMA_CHAT && wire != LLM_WIRE_OLLAMA_GENERATE;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

json_object *llm_xlate_embed_ingress(apr_pool_t *p, llm_wire_e wire,
                                     json_object *body, llm_error_t *err)
{
    const char *field = wire == LLM_WIRE_OLLAMA_GENERATE ? "prompt"
                                                         : "input";
    json_object *in = get(body, field);
    json_object *out;

    if (!llm_json_is(in, json_type_string)
        && (wire == LLM_WIRE_OLLAMA_GENERATE
            || !llm_json_is(in, json_type_array))) {
        llm_xlate_fail(err, 400, "invalid_type", field,
                       apr_psprintf(p, "Invalid type for '%s': expected a "
                                    "string%s.", field,
                                    wire == LLM_WIRE_OLLAMA_GENERATE
                                    ? "" : " or an array"));
        return NULL;
    }
    out = json_object_new_object();
    if (!share(out, "model", body, "model")) {
        share(out, "model", body, "model_name");
    }
    json_object_object_add(out, "input", json_object_get(in));
    share(out, "dimensions", body, "dimensions");
    /* Ollama's truncate, options and keep_alive have no OpenAI form. */
    if (openai_family(wire)) {
        share(out, "encoding_format", body, "encoding_format");
        share(out, "user", body, "user");
    }
    return out;
}

json_object *llm_xlate_embed_egress(apr_pool_t *p, llm_wire_e wire,
                                    json_object *canon, llm_error_t *err)
{
    json_object *in = get(canon, "input");
    json_object *out = json_object_new_object();

    share(out, "model", canon, "model");
    if (wire == LLM_WIRE_OLLAMA_GENERATE) {
        /* The legacy API embeds one text. */
        if (llm_json_is(in, json_type_array)
            && json_object_array_length(in) == 1) {
            in = json_object_array_get_idx(in, 0);
        }
        if (!llm_json_is(in, json_type_string)) {
            json_object_put(out);
            llm_xlate_fail(err, 422, "unsupported_content", "input",
                           "Ollama's /api/embeddings embeds one text.");
            return NULL;
        }
        json_object_object_add(out, "prompt", json_object_get(in));
        return out;
    }
    json_object_object_add(out, "input", json_object_get(in));
    share(out, "dimensions", canon, "dimensions");
    /* Ollama answers floats: the answer is encoded as asked for later
     * (llm_embeddings_response_ex). */
    if (openai_family(wire)) {
        share(out, "encoding_format", canon, "encoding_format");
        share(out, "user", canon, "user");
    }
    (void)p;
    return out;
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

/* base64 of little-endian float32 (OpenAI's encoding_format "base64")
 * -> an array of numbers. */
static json_object *vector_of_base64(apr_pool_t *p, const char *b64)
{
    int max = apr_base64_decode_len(b64);
    unsigned char *buf = apr_palloc(p, max > 0 ? (apr_size_t)max : 1);
    int len = apr_base64_decode_binary(buf, b64);
    json_object *vec = json_object_new_array();
    int i;

    for (i = 0; i + 4 <= len; i += 4) {
        apr_uint32_t u = (apr_uint32_t)buf[i]
                         | (apr_uint32_t)buf[i + 1] << 8
                         | (apr_uint32_t)buf[i + 2] << 16
                         | (apr_uint32_t)buf[i + 3] << 24;
        float f;

        memcpy(&f, &u, sizeof(f));
        json_object_array_add(vec, json_object_new_double(f));
    }
    return vec;
}

static json_object *base64_of_vector(apr_pool_t *p, json_object *vec)
{
    size_t n = json_object_array_length(vec);
    unsigned char *buf = apr_palloc(p, n * 4 + 1);
    char *out = apr_palloc(p, (apr_size_t)apr_base64_encode_len(
                                  (int)(n * 4)));
    size_t i;

    for (i = 0; i < n; i++) {
        float f = (float)json_object_get_double(
                      json_object_array_get_idx(vec, i));
        apr_uint32_t u;

        memcpy(&u, &f, sizeof(u));
        buf[i * 4] = (unsigned char)(u & 0xff);
        buf[i * 4 + 1] = (unsigned char)(u >> 8 & 0xff);
        buf[i * 4 + 2] = (unsigned char)(u >> 16 & 0xff);
        buf[i * 4 + 3] = (unsigned char)(u >> 24 & 0xff);
    }
    apr_base64_encode_binary(out, buf, (int)(n * 4));
    return json_object_new_string(out);
}

/* RFC 8259's number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)? */
static int json_number(const char *s)
{
    s += *s == '-';
    if (*s == '0') {
        s++;
    }
    else if (apr_isdigit(*s)) {
        while (apr_isdigit(*s)) {
            s++;
        }
    }
    else {
        return 0;
    }
    if (*s == '.') {
        if (!apr_isdigit(*++s)) {
            return 0;
        }
        while (apr_isdigit(*s)) {
            s++;
        }
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        s += *s == '-' || *s == '+';
        if (!apr_isdigit(*s)) {
            return 0;
        }
        while (apr_isdigit(*s)) {
            s++;
        }
    }
    return *s == '\0';
}

/* A vector a client can be given: an array of numbers that float32
 * holds (what every API's vectors are; JSON has no NaN or Infinity, and
 * base64 is of float32). An upstream's "embedding" may be anything: a
 * number, an object, base64 of NaNs. Its numbers are passed on as the
 * upstream wrote them (json-c keeps a double's text), but json-c also
 * reads "00.5" and "1.", which are not JSON: those are written anew. */
static int usable_vector(json_object *v)
{
    size_t n, i;

    if (!llm_json_is(v, json_type_array)) {
        return 0;
    }
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        json_object *x = json_object_array_get_idx(v, i);
        double d;

        if ((!llm_json_is(x, json_type_int)
             && !llm_json_is(x, json_type_double))
            || !isfinite(d = json_object_get_double(x)) || fabs(d) > FLT_MAX) {
            return 0;
        }
        if (llm_json_is(x, json_type_double) && json_object_get_userdata(x)
            && !json_number(json_object_get_userdata(x))) {
            json_object_set_serializer(x, NULL, NULL, NULL);
        }
    }
    return 1;
}

/* Every vector of @a vecs is usable, and none is missing (an OpenAI
 * answer's "index" may leave a hole). */
static int usable_vectors(json_object *vecs)
{
    size_t n = json_object_array_length(vecs);
    size_t i;

    for (i = 0; i < n; i++) {
        if (!usable_vector(json_object_array_get_idx(vecs, i))) {
            return 0;
        }
    }
    return 1;
}

/* The vectors of an answer (in order; usable_vectors() says whether
 * they are arrays of numbers) and its token count (-1 when not given).
 * 0 when @a body is not an answer of @a wire. */
static int read_vectors(apr_pool_t *p, llm_wire_e wire, json_object *body,
                        json_object *vecs, apr_int64_t *tokens)
{
    json_object *v;
    size_t n;
    size_t i;

    *tokens = -1;
    if (wire == LLM_WIRE_OLLAMA_GENERATE) {
        v = get(body, "embedding");
        if (!llm_json_is(v, json_type_array)) {
            return 0;
        }
        json_object_array_add(vecs, json_object_get(v));
        return 1;
    }
    if (wire == LLM_WIRE_OLLAMA_CHAT) {
        v = get(body, "embeddings");
        if (!llm_json_is(v, json_type_array)) {
            return 0;
        }
        n = json_object_array_length(v);
        for (i = 0; i < n; i++) {
            json_object_array_add(vecs, json_object_get(
                                      json_object_array_get_idx(v, i)));
        }
        if (llm_json_is(get(body, "prompt_eval_count"), json_type_int)) {
            *tokens = json_object_get_int64(get(body, "prompt_eval_count"));
        }
        return 1;
    }
    v = get(body, "data");
    if (!llm_json_is(v, json_type_array)) {
        return 0;
    }
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(v, i);
        json_object *e = get(item, "embedding");
        json_object *idx = get(item, "index");
        size_t at = llm_json_is(idx, json_type_int)
                    ? (size_t)json_object_get_int(idx) : i;

        e = llm_json_is(e, json_type_string)
            ? vector_of_base64(p, json_object_get_string(e))
            : json_object_get(e);
        /* OpenAI does not promise the order of "data": "index" does. */
        json_object_array_put_idx(vecs, at < n ? at : i, e);
    }
    v = get(get(body, "usage"), "prompt_tokens");
    if (llm_json_is(v, json_type_int)) {
        *tokens = json_object_get_int64(v);
    }
    return 1;
}

static json_object *openai_answer(apr_pool_t *p, json_object *vecs,
                                  const char *model, int base64,
                                  apr_int64_t tokens)
{
    json_object *out = json_object_new_object();
    json_object *data = json_object_new_array();
    json_object *usage = json_object_new_object();
    size_t n = json_object_array_length(vecs);
    size_t i;

    for (i = 0; i < n; i++) {
        json_object *item = json_object_new_object();
        json_object *vec = json_object_array_get_idx(vecs, i);

        json_object_object_add(item, "object",
                               json_object_new_string("embedding"));
        json_object_object_add(item, "index", json_object_new_int((int)i));
        json_object_object_add(item, "embedding",
                               base64 && vec ? base64_of_vector(p, vec)
                                             : json_object_get(vec));
        json_object_array_add(data, item);
    }
    /* OpenAI's clients require the usage numbers: 0 when unknown. */
    json_object_object_add(usage, "prompt_tokens",
                           json_object_new_int64(tokens < 0 ? 0 : tokens));
    json_object_object_add(usage, "total_tokens",
                           json_object_new_int64(tokens < 0 ? 0 : tokens));
    json_object_object_add(out, "object", json_object_new_string("list"));
    json_object_object_add(out, "data", data);
    json_object_object_add(out, "model", json_object_new_string(model));
    json_object_object_add(out, "usage", usage);
    return out;
}

static json_object *ollama_answer(json_object *vecs, const char *model,
                                  apr_int64_t tokens)
{
    json_object *out = json_object_new_object();

    json_object_object_add(out, "model", json_object_new_string(model));
    json_object_object_add(out, "embeddings", json_object_get(vecs));
    if (tokens >= 0) {
        json_object_object_add(out, "prompt_eval_count",
                               json_object_new_int64(tokens));
    }
    return out;
}

static json_object *legacy_answer(json_object *vecs)
{
    json_object *out = json_object_new_object();
    json_object *first = json_object_array_length(vecs)
                         ? json_object_array_get_idx(vecs, 0) : NULL;

    json_object_object_add(out, "embedding",
                           first ? json_object_get(first)
                                 : json_object_new_array());
    return out;
}

const char *llm_embeddings_response_ex(apr_pool_t *p, llm_wire_e from_wire,
                                       llm_wire_e to_wire, json_object *body,
                                       const char *model,
                                       const char *encoding_format,
                                       llm_usage_t *usage)
{
    json_object *vecs = json_object_new_array();
    json_object *out;
    apr_int64_t tokens;
    const char *text;

    if (!llm_json_is(body, json_type_object)
        || !read_vectors(p, from_wire, body, vecs, &tokens)
        || !usable_vectors(vecs)) {
        json_object_put(vecs);
        return NULL;
    }
    if (usage) {
        usage->prompt_tokens = tokens;
        usage->total_tokens = tokens;
        usage->completion_tokens = -1;
        usage->cached_tokens = -1;
        usage->reasoning_tokens = -1;
    }
    if (!model) {
        model = str(body, "model") ? str(body, "model") : "";
    }
    if (to_wire == LLM_WIRE_OLLAMA_GENERATE) {
        out = legacy_answer(vecs);
    }
    else if (to_wire == LLM_WIRE_OLLAMA_CHAT) {
        out = ollama_answer(vecs, model, tokens);
    }
    else {
        out = openai_answer(p, vecs, model, encoding_format
                            && !strcmp(encoding_format, "base64"), tokens);
    }
    text = apr_pstrcat(p, llm_xlate_json_text(p, out), "\n", NULL);
    json_object_put(out);
    json_object_put(vecs);
    return text;
}

const char *llm_embeddings_response(apr_pool_t *p, llm_wire_e from_wire,
                                    llm_wire_e to_wire, json_object *body,
                                    const char *model, llm_usage_t *usage)
{
    return llm_embeddings_response_ex(p, from_wire, to_wire, body, model,
                                      NULL, usage);
}
