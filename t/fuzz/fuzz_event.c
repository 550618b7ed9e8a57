/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for answers: the SSE, NDJSON and Anthropic decoders and
 * the encoders of every dialect (llm_event*.c), as LLM_XLATE runs them.
 * An input is three bytes of settings, then a provider's answer:
 *
 *   byte 0: bits 0-2 the provider's wire (llm_wire_e, modulo 7); bit 3
 *           a whole body (llm_decode_body) rather than a stream; bits
 *           4-5 the decoder's max_event (default, 16, 256, 4096 bytes)
 *   byte 1: bits 0-2 the client's wire; bit 3 a streamed answer; bit 4
 *           include_usage; bit 5 no model name given to the encoder
 *   byte 2: how the stream is cut: pieces of 1 to 64 bytes, their sizes
 *           drawn from a generator seeded with this byte
 *   the rest: the answer's bytes.
 *
 * Properties (a violation abort()s, naming it):
 *   - a stream fed whole and fed in pieces gives the same events, the
 *     same statuses and the same bytes to the client;
 *   - START comes first and once, nothing follows ERROR or DONE, DONE
 *     only when the decoder says the stream is complete;
 *   - a whole answer for the client is one JSON object, and the
 *     encoder's streamed answer is read back by the decoder of the
 *     client's wire without a broken record;
 *   - a whole body: llm_answer_usage (which reads OpenAI answers
 *     without their JSON tree) says what llm_decode_body's last USAGE
 *     event says, whenever the body decodes completely; and
 *     llm_decode_object of the parsed body gives the same events;
 *   - the embeddings answer of any wire to any wire (floats or base64),
 *     made from the body, is a JSON object.
 * Ids and times come from a fake generator and clock reset before each
 * run, so that runs compare byte for byte.
 */

#define FUZZ_NAME "fuzz_event"

#include "fuzz.h"
#include "llm_event.h"
#include "llm_xlate.h"

#define N_WIRES 7
#define HEADER 3


/* ------------------------------------------------------------------ */
/* Deterministic ids and time                                          */
/* ------------------------------------------------------------------ */

/* fake_random, fake_clock, fake_reset: */
#include "../unit/fake_clock.h"

/* ------------------------------------------------------------------ */
/* Growing strings (malloc, so that ASan watches them)                 */
/* ------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        if (!(b->data = realloc(b->data, b->cap))) {
            abort();
        }
    }
    if (n) {
        memcpy(b->data + b->len, s, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s ? s : "(null)", strlen(s ? s : "(null)"));
}

static void sb_free(sbuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------ */
/* One run: a decoder feeding one encoder                              */
/* ------------------------------------------------------------------ */

typedef struct {
    llm_wire_e dec_wire;
    int whole;
    apr_size_t max_event;
    llm_wire_e enc_wire;
    int enc_stream;
    llm_encode_opts_t opts;
} settings_t;

typedef struct {
    llm_encoder_t *enc;
    sbuf_t trace;               /* the events, as text */
    sbuf_t out;                 /* the client's bytes */
    sbuf_t text;                /* the TEXT events' text */
    int started, ended, done, nevents;
    llm_usage_t usage;          /* the last USAGE event's */
    int has_usage;
    apr_status_t enc_rv;
    apr_size_t skipped;         /* records the decoder skipped */
} run_t;

static apr_status_t emit(void *baton, const char *buf, apr_size_t len)
{
    sb_add(baton, buf, len);
    return APR_SUCCESS;
}

static void trace_event(run_t *r, const llm_event_t *ev)
{
    char line[256];

    snprintf(line, sizeof(line), "%d ", (int)ev->type);
    sb_str(&r->trace, line);
    switch (ev->type) {
    case LLM_EV_START:
        sb_str(&r->trace, ev->id);
        sb_str(&r->trace, ev->model);
        snprintf(line, sizeof(line), " %" APR_INT64_T_FMT, ev->created);
        sb_str(&r->trace, line);
        break;
    case LLM_EV_TEXT:
    case LLM_EV_REASONING:
        FUZZ_CHECK(ev->text && ev->text_len, "a text event has text");
        sb_add(&r->trace, ev->text, ev->text_len);
        break;
    case LLM_EV_TOOL_CALL:
        snprintf(line, sizeof(line), "%d ", ev->tool_index);
        sb_str(&r->trace, line);
        sb_str(&r->trace, ev->tool_id);
        sb_str(&r->trace, ev->tool_name);
        FUZZ_CHECK(ev->tool_args, "a tool call has arguments");
        sb_add(&r->trace, ev->tool_args, ev->tool_args_len);
        break;
    case LLM_EV_FINISH:
        FUZZ_CHECK(ev->finish, "a finish has a reason");
        sb_str(&r->trace, ev->finish);
        break;
    case LLM_EV_USAGE:
        snprintf(line, sizeof(line), "%" APR_INT64_T_FMT " %" APR_INT64_T_FMT
                 " %" APR_INT64_T_FMT " %" APR_INT64_T_FMT
                 " %" APR_INT64_T_FMT, ev->usage.prompt_tokens,
                 ev->usage.completion_tokens, ev->usage.total_tokens,
                 ev->usage.cached_tokens, ev->usage.reasoning_tokens);
        sb_str(&r->trace, line);
        break;
    case LLM_EV_ERROR:
        FUZZ_CHECK(ev->error_type && ev->error_message,
                   "an error has a type and a message");
        sb_str(&r->trace, ev->error_type);
        sb_str(&r->trace, ev->error_message);
        break;
    case LLM_EV_DONE:
        break;
    }
    sb_str(&r->trace, "\n");
}

static apr_status_t on_event(void *baton, const llm_event_t *ev)
{
    run_t *r = baton;
    apr_status_t rv;

    FUZZ_CHECK((ev->type == LLM_EV_START) == !r->started,
               "START first, and once");
    FUZZ_CHECK(!r->ended, "nothing after ERROR or DONE");
    r->started = 1;
    r->nevents++;
    if (ev->type == LLM_EV_ERROR || ev->type == LLM_EV_DONE) {
        r->ended = 1;
        r->done = ev->type == LLM_EV_DONE;
    }
    if (ev->type == LLM_EV_TEXT) {
        sb_add(&r->text, ev->text, ev->text_len);
    }

    if (ev->type == LLM_EV_USAGE) {
        r->usage = ev->usage;
        r->has_usage = 1;
    }
    trace_event(r, ev);
    if (r->enc) {
        rv = llm_encoder_event(r->enc, ev, emit, &r->out);
        if (rv != APR_SUCCESS && r->enc_rv == APR_SUCCESS) {
            r->enc_rv = rv;
        }
    }
    return APR_SUCCESS;
}

static void run_init(run_t *r, apr_pool_t *p, const settings_t *s)
{
    memset(r, 0, sizeof(*r));
    fake_reset();
    r->enc = llm_encoder_create(p, s->enc_wire, s->enc_stream, &s->opts);
}

static void run_end(run_t *r)
{
    apr_status_t rv = llm_encoder_end(r->enc, emit, &r->out);
    char line[64];

    if (rv != APR_SUCCESS && r->enc_rv == APR_SUCCESS) {
        r->enc_rv = rv;
    }
    snprintf(line, sizeof(line), "# enc=%d failed=%d\n", r->enc_rv,
             llm_encoder_failed(r->enc));
    sb_str(&r->trace, line);
}

static void run_free(run_t *r)
{
    sb_free(&r->trace);
    sb_free(&r->out);
    sb_free(&r->text);
}

/* The pieces' ends: sizes of 1 to 64 bytes from a xorshift seeded by
 * the settings' third byte. */
static size_t next_cut(uint32_t *state, size_t at, size_t len)
{
    size_t n;

    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    n = 1 + *state % 64;
    return at + n > len ? len : at + n;
}

static void run_stream(run_t *r, apr_pool_t *p, const settings_t *s,
                       const char *in, size_t len, uint8_t cut_seed,
                       int pieces)
{
    llm_decoder_t *d = llm_decoder_create(p, s->dec_wire, s->max_event);
    apr_status_t rv, feed_rv = APR_SUCCESS;
    uint32_t state = 0x9e3779b9u ^ cut_seed;
    size_t at = 0;
    char line[96];

    while (at < len) {
        size_t to = pieces ? next_cut(&state, at, len) : len;

        rv = llm_decoder_feed(d, in + at, to - at, on_event, r);
        if (rv != APR_SUCCESS && feed_rv == APR_SUCCESS) {
            feed_rv = rv;
        }
        at = to;
    }
    rv = llm_decoder_end(d, on_event, r);
    r->skipped = llm_decoder_skipped(d);
    FUZZ_CHECK(r->done == llm_decoder_complete(d),
               "DONE delivered exactly when the stream is complete");
    FUZZ_CHECK(r->ended || r->nevents == 0 || rv != APR_SUCCESS,
               "a stream ends in DONE or ERROR");
    snprintf(line, sizeof(line), "# feed=%d end=%d complete=%d\n",
             feed_rv, rv, llm_decoder_complete(d));
    sb_str(&r->trace, line);
    run_end(r);
}

/* ------------------------------------------------------------------ */
/* The client's bytes                                                  */
/* ------------------------------------------------------------------ */

/* Each record of a streamed answer is JSON (RFC 8259): an NDJSON line,
 * an SSE event's data but "[DONE]". */
static void check_records(llm_wire_e wire, const sbuf_t *out)
{
    int ndjson = wire == LLM_WIRE_OLLAMA_CHAT
                 || wire == LLM_WIRE_OLLAMA_GENERATE;
    const char *at = out->data ? out->data : "";
    const char *end = at + out->len;

    while (at < end) {
        const char *nl = memchr(at, '\n', (size_t)(end - at));
        size_t n = nl ? (size_t)(nl - at) : (size_t)(end - at);

        if (ndjson && n) {
            FUZZ_CHECK_TEXT(fuzz_rfc_json(at, n),
                            "each line of an NDJSON answer is JSON",
                            out->data);
        }
        else if (!ndjson && n > 6 && !memcmp(at, "data: ", 6)
                 && !(n == 12 && !memcmp(at + 6, "[DONE]", 6))) {
            FUZZ_CHECK_TEXT(fuzz_rfc_json(at + 6, n - 6),
                            "the data of each SSE event is JSON",
                            out->data);
        }
        at += n + 1;
    }
}

/* A whole answer is one JSON object; a streamed one is read back by a
 * decoder of the client's wire without a broken record. */
static void check_client_bytes(apr_pool_t *p, const settings_t *s,
                               const run_t *r)
{
    /* What a decoder says of a record it cannot read. */
    static const char *const broken[] = {
        "is not valid JSON", "is not one of its API", "event larger than"
    };
    settings_t back;
    run_t again;
    size_t i;

    if (!s->enc_stream) {
        FUZZ_CHECK_TEXT(fuzz_is_object(r->out.data, 1),
                        "a whole answer is one JSON object", r->out.data);
        return;
    }
    check_records(s->enc_wire, &r->out);
    memset(&back, 0, sizeof(back));
    back.dec_wire = s->enc_wire;
    back.enc_wire = LLM_WIRE_OPENAI_CHAT;
    run_init(&again, p, &back);
    run_stream(&again, p, &back, r->out.data ? r->out.data : "",
               r->out.len, 0, 0);
    FUZZ_CHECK_TEXT(again.skipped == 0, "the client's stream reads back "
                    "without a malformed record", r->out.data);
    for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        /* What the first decoder said is passed on to the client. */
        FUZZ_CHECK_TEXT(!strstr(again.trace.data, broken[i])
                        || strstr(r->trace.data, broken[i]),
                        "the client's stream reads back without a broken "
                        "record", r->out.data);
    }
    run_free(&again);
}

/* ------------------------------------------------------------------ */
/* Whole bodies                                                        */
/* ------------------------------------------------------------------ */

/* The end of a whole body's run, with the decoder's status. */
static void body_end(run_t *r, apr_status_t rv)
{
    char line[64];

    FUZZ_CHECK(r->ended, "a whole body ends in DONE or ERROR");
    snprintf(line, sizeof(line), "# body=%d\n", rv);
    sb_str(&r->trace, line);
    run_end(r);
}

static void check_usage(apr_pool_t *p, const settings_t *s, const run_t *r,
                        const char *in, size_t len)
{
    llm_usage_t u;
    int has = llm_answer_usage(p, s->dec_wire, in, len, &u);

    if (!r->done) {
        return;         /* a body with text after its value, or broken */
    }
    FUZZ_CHECK(has == r->has_usage,
               "answer_usage finds usage exactly when decode_body does");
    FUZZ_CHECK(!has || (u.prompt_tokens == r->usage.prompt_tokens
                        && u.completion_tokens == r->usage.completion_tokens
                        && u.total_tokens == r->usage.total_tokens
                        && u.cached_tokens == r->usage.cached_tokens
                        && u.reasoning_tokens
                           == r->usage.reasoning_tokens),
               "answer_usage says what decode_body's USAGE says");
}

static void check_object(apr_pool_t *p, const settings_t *s,
                         const run_t *r, const char *in, size_t len)
{
    json_object *o = llm_json_parse(in, len);
    run_t again;

    run_init(&again, p, s);
    body_end(&again, llm_decode_object(p, s->dec_wire, o, on_event,
                                       &again));
    if (o) {
        FUZZ_CHECK_TEXT(!strcmp(again.trace.data, r->trace.data)
                        && again.out.len == r->out.len
                        && !memcmp(again.out.data, r->out.data, r->out.len),
                        "decode_object says what decode_body says",
                        again.trace.data);
    }
    run_free(&again);
    json_object_put(o);
}

static const llm_wire_e embed_wires[] = {
    LLM_WIRE_OPENAI_CHAT, LLM_WIRE_OLLAMA_CHAT, LLM_WIRE_OLLAMA_GENERATE
};

static void check_embeddings(apr_pool_t *p, const settings_t *s,
                             const char *in, size_t len)
{
    json_object *o = llm_json_parse(in, len);
    size_t from, to;
    int base64;

    for (from = 0; o && from < 3; from++) {
        for (to = 0; to < 3; to++) {
            for (base64 = 0; base64 <= (embed_wires[to]
                                        == LLM_WIRE_OPENAI_CHAT); base64++) {
                llm_usage_t u;
                const char *out = llm_embeddings_response_ex(
                    p, embed_wires[from], embed_wires[to], o, s->opts.model,
                    base64 ? "base64" : NULL, &u);

                FUZZ_CHECK_TEXT(!out || fuzz_is_object(out, 1),
                                "an embeddings answer is a JSON object", out);
            }
        }
    }
    json_object_put(o);
    llm_error_message_of(p, in, len);
}

/* ------------------------------------------------------------------ */

static void settings_of(settings_t *s, const uint8_t *h)
{
    static const apr_size_t max_events[] = { 0, 16, 256, 4096 };

    memset(s, 0, sizeof(*s));
    s->dec_wire = (llm_wire_e)((h[0] & 7) % N_WIRES);
    s->whole = (h[0] >> 3) & 1;
    s->max_event = max_events[(h[0] >> 4) & 3];
    s->enc_wire = (llm_wire_e)((h[1] & 7) % N_WIRES);
    s->enc_stream = (h[1] >> 3) & 1;
    s->opts.include_usage = (h[1] >> 4) & 1;
    s->opts.model = (h[1] >> 5) & 1 ? NULL : "client-model";
    s->opts.now = APR_INT64_C(1750000000123456);
}

static void setup(void)
{
    llm_event_random_fn = fake_random;
    llm_event_clock_fn = fake_clock;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    settings_t s;
    run_t whole, cut;
    apr_pool_t *p;
    const char *in;
    size_t len;
    char *buf;

    if (fuzz_start()) {
        setup();
    }
    if (size < HEADER) {
        return 0;
    }
    fuzz_input = data;
    fuzz_input_len = size;
    settings_of(&s, data);
    len = size - HEADER;
    /* Exactly the answer's bytes, so that ASan sees a read past them. */
    if (!(buf = malloc(len ? len : 1))) {
        abort();
    }
    memcpy(buf, data + HEADER, len);
    in = buf;
    apr_pool_create(&p, fuzz_root);

    run_init(&whole, p, &s);
    if (s.whole) {
        body_end(&whole, llm_decode_body(p, s.dec_wire, in, len, on_event,
                                         &whole));
        check_usage(p, &s, &whole, in, len);
        check_object(p, &s, &whole, in, len);
        check_embeddings(p, &s, in, len);
    }
    else {
        run_stream(&whole, p, &s, in, len, data[2], 0);
        run_init(&cut, p, &s);
        run_stream(&cut, p, &s, in, len, data[2], 1);
        if (strcmp(whole.trace.data, cut.trace.data)) {
            fprintf(stderr, "whole:\n%s\ncut:\n%s\n", whole.trace.data,
                    cut.trace.data);
            fuzz_fail("a stream cut in pieces gives other events", NULL, 0);
        }
        FUZZ_CHECK_TEXT(whole.out.len == cut.out.len
                        && !memcmp(whole.out.data, cut.out.data,
                                   whole.out.len),
                        "a stream cut in pieces gives the client other "
                        "bytes", cut.out.data);
        run_free(&cut);
    }
    check_client_bytes(p, &s, &whole);
    run_free(&whole);

    free(buf);
    apr_pool_destroy(p);
    return 0;
}
