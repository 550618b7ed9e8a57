/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Responses of every dialect through events (llm_event.h).
 *
 * Golden files: t/golden/events/in/ holds upstream answers shaped as the
 * vendors document them, streamed (.stream) and whole (.json);
 * t/golden/events/<input>.out the events each one decodes to and what
 * every encoder writes from them, byte for byte. Run with
 * LLM_GOLDEN_UPDATE=1 to rewrite the .out files after a deliberate
 * change, then review the diff.
 *
 * Every stream is also fed split at each byte and in random pieces: the
 * events and bytes out must not change.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include <json-c/json.h>

#include "llm_event.h"
#include "tap.h"

#define N_WIRES 7

static apr_pool_t *pool;
static const char *golden_dir;
static int update_golden;

/* ------------------------------------------------------------------ */
/* Deterministic ids and time                                          */
/* ------------------------------------------------------------------ */

/* fake_random, fake_clock, fake_reset: */
#include "fake_clock.h"

/* ------------------------------------------------------------------ */
/* Growing strings                                                     */
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
        b->data = realloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_free(sbuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static const char *sb_get(const sbuf_t *b)
{
    return b->data ? b->data : "";
}

/* ------------------------------------------------------------------ */
/* Runs: one decoder feeding a set of encoders                         */
/* ------------------------------------------------------------------ */

#define MAX_ENC (2 * N_WIRES)

typedef struct {
    llm_wire_e wire;
    int stream;
} enc_spec_t;

typedef struct {
    sbuf_t trace;
    int n;
    enc_spec_t spec[MAX_ENC];
    llm_encoder_t *enc[MAX_ENC];
    sbuf_t out[MAX_ENC];
    apr_status_t enc_rv[MAX_ENC];
    llm_usage_t usage;          /* the first encoder's, at the end */
    int nevents;
} run_t;

static void trace_json(sbuf_t *b, const char *s, size_t n)
{
    json_object *o = json_object_new_string_len(s ? s : "", (int)n);

    sb_str(b, json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static void trace_event(sbuf_t *b, const llm_event_t *ev)
{
    char line[256];

    switch (ev->type) {
    case LLM_EV_START:
        snprintf(line, sizeof(line), "START id=%s model=%s created=%"
                 APR_INT64_T_FMT "\n", ev->id ? ev->id : "-",
                 ev->model ? ev->model : "-", ev->created);
        sb_str(b, line);
        return;
    case LLM_EV_TEXT:
    case LLM_EV_REASONING:
        sb_str(b, ev->type == LLM_EV_TEXT ? "TEXT " : "REASONING ");
        trace_json(b, ev->text, ev->text_len);
        break;
    case LLM_EV_TOOL_CALL:
        snprintf(line, sizeof(line), "TOOL_CALL %d id=%s name=%s args=",
                 ev->tool_index, ev->tool_id ? ev->tool_id : "-",
                 ev->tool_name ? ev->tool_name : "-");
        sb_str(b, line);
        trace_json(b, ev->tool_args, ev->tool_args_len);
        break;
    case LLM_EV_FINISH:
        sb_str(b, "FINISH ");
        sb_str(b, ev->finish);
        break;
    case LLM_EV_USAGE:
        snprintf(line, sizeof(line), "USAGE prompt=%" APR_INT64_T_FMT
                 " completion=%" APR_INT64_T_FMT " total=%" APR_INT64_T_FMT
                 " cached=%" APR_INT64_T_FMT " reasoning=%" APR_INT64_T_FMT,
                 ev->usage.prompt_tokens, ev->usage.completion_tokens,
                 ev->usage.total_tokens, ev->usage.cached_tokens,
                 ev->usage.reasoning_tokens);
        sb_str(b, line);
        break;
    case LLM_EV_ERROR:
        sb_str(b, "ERROR ");
        sb_str(b, ev->error_type);
        sb_str(b, " ");
        trace_json(b, ev->error_message, strlen(ev->error_message));
        break;
    case LLM_EV_DONE:
        sb_str(b, "DONE");
        break;
    }
    sb_str(b, "\n");
}

static apr_status_t emit(void *baton, const char *buf, apr_size_t len)
{
    sb_add(baton, buf, len);
    return APR_SUCCESS;
}

static apr_status_t fan_out(void *baton, const llm_event_t *ev)
{
    run_t *r = baton;
    int i;

    r->nevents++;
    trace_event(&r->trace, ev);
    for (i = 0; i < r->n; i++) {
        apr_status_t rv = llm_encoder_event(r->enc[i], ev, emit, &r->out[i]);

        if (rv != APR_SUCCESS && r->enc_rv[i] == APR_SUCCESS) {
            r->enc_rv[i] = rv;
        }
    }
    return APR_SUCCESS;
}

static void run_init(run_t *r, apr_pool_t *p, const enc_spec_t *spec, int n,
                     const char *model)
{
    llm_encode_opts_t opts;
    int i;

    memset(r, 0, sizeof(*r));
    memset(&opts, 0, sizeof(opts));
    opts.model = model;
    opts.now = APR_INT64_C(1750000000123456);   /* 2025-06-15T15:06:40 */
    opts.include_usage = 1;
    fake_reset();
    r->n = n;
    for (i = 0; i < n; i++) {
        r->spec[i] = spec[i];
        r->enc[i] = llm_encoder_create(p, spec[i].wire, spec[i].stream,
                                       &opts);
    }
}

static void run_free(run_t *r)
{
    int i;

    sb_free(&r->trace);
    for (i = 0; i < r->n; i++) {
        sb_free(&r->out[i]);
    }
}

static void run_end(run_t *r)
{
    int i;

    for (i = 0; i < r->n; i++) {
        apr_status_t rv = llm_encoder_end(r->enc[i], emit, &r->out[i]);

        if (rv != APR_SUCCESS && r->enc_rv[i] == APR_SUCCESS) {
            r->enc_rv[i] = rv;
        }
    }
    if (r->n) {
        r->usage = *llm_encoder_usage(r->enc[0]);
    }
}

/* Decode @a in as a stream fed in pieces ending at @a cuts (ascending,
 * within the input), then end it. */
static void run_stream(run_t *r, apr_pool_t *p, llm_wire_e wire,
                       const char *in, size_t len, const size_t *cuts,
                       int ncuts, apr_size_t max_event)
{
    llm_decoder_t *d = llm_decoder_create(p, wire, max_event);
    apr_status_t rv, feed_rv = APR_SUCCESS;
    size_t at = 0;
    int i;
    char line[96];

    for (i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : len;

        rv = llm_decoder_feed(d, in + at, to - at, fan_out, r);
        if (rv != APR_SUCCESS && feed_rv == APR_SUCCESS) {
            feed_rv = rv;
        }
        at = to;
    }
    rv = llm_decoder_end(d, fan_out, r);
    snprintf(line, sizeof(line), "# feed=%d end=%d complete=%d\n", feed_rv,
             rv, llm_decoder_complete(d));
    sb_str(&r->trace, line);
    run_end(r);
}

static void run_body(run_t *r, apr_pool_t *p, llm_wire_e wire,
                     const char *in, size_t len)
{
    apr_status_t rv = llm_decode_body(p, wire, in, len, fan_out, r);
    char line[64];

    snprintf(line, sizeof(line), "# body=%d\n", rv);
    sb_str(&r->trace, line);
    run_end(r);
}

/* ------------------------------------------------------------------ */
/* Golden files                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;           /* in t/golden/events/in/ */
    llm_wire_e wire;
} golden_t;

static const golden_t goldens[] = {
    { "openai_chat-text.stream", LLM_WIRE_OPENAI_CHAT },
    { "openai_chat-tools.stream", LLM_WIRE_OPENAI_CHAT },
    { "openai_chat-error.stream", LLM_WIRE_OPENAI_CHAT },
    { "openai_chat-truncated.stream", LLM_WIRE_OPENAI_CHAT },
    { "openai_chat-text.json", LLM_WIRE_OPENAI_CHAT },
    { "openai_chat-tools.json", LLM_WIRE_OPENAI_CHAT },
    { "openai_completion-text.stream", LLM_WIRE_OPENAI_COMPLETION },
    { "openai_completion-text.json", LLM_WIRE_OPENAI_COMPLETION },
    { "lmstudio_chat-text.stream", LLM_WIRE_LMSTUDIO_CHAT },
    { "lmstudio_chat-text.json", LLM_WIRE_LMSTUDIO_CHAT },
    { "openai_responses-text.stream", LLM_WIRE_OPENAI_RESPONSES },
    { "openai_responses-tools.stream", LLM_WIRE_OPENAI_RESPONSES },
    { "openai_responses-incomplete.stream", LLM_WIRE_OPENAI_RESPONSES },
    { "openai_responses-error.stream", LLM_WIRE_OPENAI_RESPONSES },
    { "openai_responses-text.json", LLM_WIRE_OPENAI_RESPONSES },
    { "openai_responses-tools.json", LLM_WIRE_OPENAI_RESPONSES },
    { "ollama_chat-text.stream", LLM_WIRE_OLLAMA_CHAT },
    { "ollama_chat-tools.stream", LLM_WIRE_OLLAMA_CHAT },
    { "ollama_chat-error.stream", LLM_WIRE_OLLAMA_CHAT },
    { "ollama_chat-text.json", LLM_WIRE_OLLAMA_CHAT },
    { "ollama_chat-tools.json", LLM_WIRE_OLLAMA_CHAT },
    { "ollama_generate-text.stream", LLM_WIRE_OLLAMA_GENERATE },
    { "ollama_generate-text.json", LLM_WIRE_OLLAMA_GENERATE },
    { "anthropic-tools.stream", LLM_WIRE_ANTHROPIC },
    { "anthropic-thinking.stream", LLM_WIRE_ANTHROPIC },
    { "anthropic-error.stream", LLM_WIRE_ANTHROPIC },
    { "anthropic-truncated.stream", LLM_WIRE_ANTHROPIC },
    { "anthropic-text.json", LLM_WIRE_ANTHROPIC },
    { "anthropic-tools.json", LLM_WIRE_ANTHROPIC },
};

#define N_GOLDENS (sizeof(goldens) / sizeof(goldens[0]))

static int is_stream(const golden_t *g)
{
    size_t n = strlen(g->name);

    return n > 7 && !strcmp(g->name + n - 7, ".stream");
}

static char *slurp(apr_pool_t *p, const char *path, apr_size_t *len)
{
    char *buf;
    apr_finfo_t info;
    apr_file_t *f;

    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                      APR_FPROT_OS_DEFAULT, p) != APR_SUCCESS
        || apr_file_info_get(&info, APR_FINFO_SIZE, f) != APR_SUCCESS) {
        return NULL;
    }
    *len = (apr_size_t)info.size;
    buf = apr_palloc(p, *len + 1);
    if (*len && apr_file_read_full(f, buf, *len, NULL) != APR_SUCCESS) {
        apr_file_close(f);
        return NULL;
    }
    buf[*len] = '\0';
    apr_file_close(f);
    return buf;
}

static char *input(apr_pool_t *p, const char *name, apr_size_t *len)
{
    char *buf = slurp(p, apr_pstrcat(p, golden_dir, "/in/", name, NULL),
                      len);

    if (!buf) {
        printf("Bail out! cannot read %s/in/%s\n", golden_dir, name);
        exit(1);
    }
    return buf;
}

/* Every encoder: streamed and whole for a stream, whole for a body. */
static int all_encoders(int stream, enc_spec_t *spec)
{
    int n = 0;
    int w;

    for (w = 0; w < N_WIRES; w++) {
        if (stream) {
            spec[n].wire = (llm_wire_e)w;
            spec[n++].stream = 1;
        }
        spec[n].wire = (llm_wire_e)w;
        spec[n++].stream = 0;
    }
    return n;
}

static void render(const run_t *r, sbuf_t *b)
{
    char head[128];
    int i;

    sb_str(b, "### events\n");
    sb_str(b, sb_get(&r->trace));
    for (i = 0; i < r->n; i++) {
        snprintf(head, sizeof(head), "### %s %s rv=%d failed=%d\n",
                 llm_wire_name(r->spec[i].wire),
                 r->spec[i].stream ? "stream" : "whole", r->enc_rv[i],
                 llm_encoder_failed(r->enc[i]));
        sb_str(b, head);
        sb_add(b, sb_get(&r->out[i]), r->out[i].len);
        sb_str(b, "\n");
    }
}

/* Where two renderings part, for the failure message. */
static void show_diff(const char *got, const char *want)
{
    size_t i = 0;
    size_t line = 1;

    while (got[i] && got[i] == want[i]) {
        line += got[i++] == '\n';
    }
    printf("#   first difference at line %lu:\n#     got: %.160s\n"
           "#    want: %.160s\n", (unsigned long)line, got + i, want + i);
}

static void full_run(run_t *r, apr_pool_t *p, const golden_t *g,
                     const char *in, apr_size_t len)
{
    enc_spec_t spec[MAX_ENC];
    int n = all_encoders(is_stream(g), spec);

    run_init(r, p, spec, n, NULL);
    if (is_stream(g)) {
        run_stream(r, p, g->wire, in, len, NULL, 0, 0);
    }
    else {
        run_body(r, p, g->wire, in, len);
    }
}

static void check_golden(const golden_t *g)
{
    apr_pool_t *p;
    apr_size_t len, want_len;
    char *in, *want;
    const char *path;
    run_t r;
    sbuf_t got = { 0 };

    apr_pool_create(&p, pool);
    in = input(p, g->name, &len);
    full_run(&r, p, g, in, len);
    render(&r, &got);
    path = apr_pstrcat(p, golden_dir, "/", g->name, ".out", NULL);
    if (update_golden) {
        FILE *f = fopen(path, "wb");

        ok(f && fwrite(got.data, 1, got.len, f) == got.len
           && fclose(f) == 0,
           apr_psprintf(p, "%s: golden file written", g->name));
    }
    else {
        want = slurp(p, path, &want_len);
        if (!ok(want && want_len == got.len
                && !memcmp(want, got.data, got.len),
                apr_psprintf(p, "%s: events and every encoding as golden",
                             g->name))) {
            show_diff(got.data, want ? want : "");
        }
    }
    sb_free(&got);
    run_free(&r);
    apr_pool_destroy(p);
}

/* ------------------------------------------------------------------ */
/* Splits                                                              */
/* ------------------------------------------------------------------ */

/* The trace and the output of one encoder (a single one per run keeps
 * the runs cheap; each split position uses another wire). */
typedef struct {
    sbuf_t trace;
    sbuf_t out;
} one_t;

static void one_run(one_t *o, apr_pool_t *p, llm_wire_e wire, const char *in,
                    size_t len, const size_t *cuts, int ncuts, int client)
{
    enc_spec_t spec;
    run_t r;

    spec.wire = (llm_wire_e)client;
    spec.stream = 1;
    run_init(&r, p, &spec, 1, NULL);
    run_stream(&r, p, wire, in, len, cuts, ncuts, 0);
    o->trace = r.trace;
    o->out = r.out[0];
}

static int same(const one_t *a, const one_t *b)
{
    return !strcmp(sb_get(&a->trace), sb_get(&b->trace))
           && a->out.len == b->out.len
           && !memcmp(sb_get(&a->out), sb_get(&b->out), a->out.len);
}

static unsigned long lcg_state = 12345;

static unsigned lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)(lcg_state >> 33);
}

static int random_cuts(size_t len, size_t *cuts, int max)
{
    size_t at = 0;
    int n = 0;

    while (n < max) {
        at += 1 + lcg() % 40;
        if (at >= len) {
            break;
        }
        cuts[n++] = at;
    }
    return n;
}

static int check_cuts(apr_pool_t *p, const one_t *ref, llm_wire_e wire,
                      const char *in, size_t len, const size_t *cuts,
                      int ncuts, int client)
{
    one_t o;
    int pass;

    one_run(&o, p, wire, in, len, cuts, ncuts, client);
    pass = same(&o, &ref[client]);
    if (!pass) {
        printf("# cut in %d pieces (first at %lu), to %s:\n%s", ncuts + 1,
               (unsigned long)(ncuts ? cuts[0] : 0),
               llm_wire_name((llm_wire_e)client), sb_get(&o.trace));
    }
    sb_free(&o.trace);
    sb_free(&o.out);
    apr_pool_clear(p);
    return pass;
}

/* Every byte boundary of a stream is a cut: alone (@a each: one run
 * per byte), and in runs that cut every SPAN bytes from each offset
 * (each boundary once, holding lines across cuts); then byte by byte
 * and in random pieces. The events and the bytes out must be those of
 * the stream in one piece. */
#define SPAN 61

static void check_splits(const char *name, llm_wire_e wire, const char *in,
                         size_t len, int each)
{
    apr_pool_t *p, *iter;
    one_t ref[N_WIRES];
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    int good = 1, w, k, n;
    size_t i;

    apr_pool_create(&p, pool);
    apr_pool_create(&iter, p);
    for (w = 0; w < N_WIRES; w++) {
        one_run(&ref[w], p, wire, in, len, NULL, 0, w);
    }
    for (i = 1; each && i < len && good; i++) {
        good = check_cuts(iter, ref, wire, in, len, &i, 1,
                          (int)(i % N_WIRES));
    }
    for (k = 0; k < SPAN && good; k++) {
        for (n = 0, i = k ? (size_t)k : SPAN; i < len; i += SPAN) {
            cuts[n++] = i;
        }
        good = check_cuts(iter, ref, wire, in, len, cuts, n, k % N_WIRES);
    }
    ok(good, apr_psprintf(p, "%s: cut at every byte boundary, same events "
                          "and output", name));

    for (i = 0; i + 1 < len; i++) {
        cuts[i] = i + 1;
    }
    for (w = 0; w < N_WIRES && good; w++) {
        good = check_cuts(iter, ref, wire, in, len, cuts, (int)len - 1, w);
    }
    for (k = 0; k < 24 && good; k++) {
        n = random_cuts(len, cuts, (int)len);
        good = check_cuts(iter, ref, wire, in, len, cuts, n, k % N_WIRES);
    }
    ok(good, apr_psprintf(p, "%s: byte by byte and in random pieces, same "
                          "events and output", name));
    for (w = 0; w < N_WIRES; w++) {
        sb_free(&ref[w].trace);
        sb_free(&ref[w].out);
    }
    free(cuts);
    apr_pool_destroy(p);
}

static void test_goldens(void)
{
    apr_size_t i;

    for (i = 0; i < N_GOLDENS; i++) {
        check_golden(&goldens[i]);
    }
    for (i = 0; i < N_GOLDENS && !update_golden; i++) {
        apr_size_t len;
        char *in;

        if (!is_stream(&goldens[i])) {
            continue;
        }
        in = input(pool, goldens[i].name, &len);
        check_splits(goldens[i].name, goldens[i].wire, in, len,
                     len < 2000);
    }
}

/* ------------------------------------------------------------------ */
/* Usage from each dialect                                             */
/* ------------------------------------------------------------------ */

static void usage_of(const char *name, llm_wire_e wire, llm_usage_t *u)
{
    golden_t g;
    apr_pool_t *p;
    apr_size_t len;
    char *in;
    run_t r;

    g.name = name;
    g.wire = wire;
    apr_pool_create(&p, pool);
    in = input(p, name, &len);
    full_run(&r, p, &g, in, len);
    *u = r.usage;
    run_free(&r);
    apr_pool_destroy(p);
}

static int usage_is(const llm_usage_t *u, apr_int64_t prompt,
                    apr_int64_t completion, apr_int64_t total,
                    apr_int64_t cached, apr_int64_t reasoning)
{
    int pass = u->prompt_tokens == prompt
               && u->completion_tokens == completion
               && u->total_tokens == total && u->cached_tokens == cached
               && u->reasoning_tokens == reasoning;

    if (!pass) {
        printf("# usage %" APR_INT64_T_FMT "/%" APR_INT64_T_FMT "/%"
               APR_INT64_T_FMT "/%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT
               "\n", u->prompt_tokens, u->completion_tokens,
               u->total_tokens, u->cached_tokens, u->reasoning_tokens);
    }
    return pass;
}

static void test_usage(void)
{
    llm_usage_t u;

    usage_of("openai_chat-text.stream", LLM_WIRE_OPENAI_CHAT, &u);
    ok(usage_is(&u, 9, 12, 21, 4, 0), "OpenAI stream usage, with details");
    usage_of("openai_chat-tools.stream", LLM_WIRE_OPENAI_CHAT, &u);
    ok(usage_is(&u, 310, 62, 372, -1, 14),
       "vLLM usage: no cache details means unknown");
    usage_of("openai_completion-text.json", LLM_WIRE_OPENAI_COMPLETION, &u);
    ok(usage_is(&u, 5, 7, 12, -1, -1), "completion body usage");
    usage_of("openai_responses-tools.stream", LLM_WIRE_OPENAI_RESPONSES, &u);
    ok(usage_is(&u, 45, 25, 70, 32, 11), "Responses usage");
    usage_of("anthropic-tools.stream", LLM_WIRE_ANTHROPIC, &u);
    ok(usage_is(&u, 572, 89, 661, 100, -1),
       "Anthropic stream: prompt counts the cache reads");
    usage_of("anthropic-tools.json", LLM_WIRE_ANTHROPIC, &u);
    ok(usage_is(&u, 2504, 92, 2596, 2000, -1),
       "Anthropic body: prompt counts cache reads and writes");
    usage_of("ollama_chat-text.stream", LLM_WIRE_OLLAMA_CHAT, &u);
    ok(usage_is(&u, 26, 282, 308, -1, -1), "Ollama counters");
    usage_of("openai_chat-truncated.stream", LLM_WIRE_OPENAI_CHAT, &u);
    ok(usage_is(&u, -1, -1, -1, -1, -1), "no usage reported: all -1");
}

/* ------------------------------------------------------------------ */
/* Cases                                                               */
/* ------------------------------------------------------------------ */

/* Decode @a in (one piece) into a trace and one encoder's output. */
static void decode(llm_wire_e wire, const char *in, size_t len,
                   apr_size_t max_event, llm_wire_e client, int stream,
                   sbuf_t *trace, sbuf_t *out)
{
    enc_spec_t spec;
    run_t r;
    apr_pool_t *p;

    spec.wire = client;
    spec.stream = stream;
    apr_pool_create(&p, pool);
    run_init(&r, p, &spec, 1, NULL);
    run_stream(&r, p, wire, in, len, NULL, 0, max_event);
    *trace = r.trace;
    *out = r.out[0];
    apr_pool_destroy(p);
}

static void test_sse_framing(void)
{
    static const char multi[] =
        "\xEF\xBB\xBF: a comment\n"
        "id: 7\nretry: 1000\nevent: whatever\n"
        "data:{\"id\":\"x\",\"choices\":[{\"index\":0,\n"
        "data: \"delta\":{\"content\":\"two\\nlines\"}}]}\n\n"
        "data: [DONE]\n\n";
    sbuf_t t, o;
    apr_pool_t *p;
    apr_size_t len;
    char *lf, *crlf, *cr;
    size_t i, n;
    sbuf_t t2, o2, t3, o3;

    decode(LLM_WIRE_OPENAI_CHAT, multi, sizeof(multi) - 1, 0,
           LLM_WIRE_OPENAI_CHAT, 1, &t, &o);
    like(sb_get(&t), "TEXT \"two\\nlines\"\n",
         "data lines of one event are joined; BOM, comments, id, retry "
         "and event ignored");
    like(sb_get(&t), "complete=1", "[DONE] ends it");
    sb_free(&t);
    sb_free(&o);

    /* the same with CRLF, cut everywhere (between CR and LF too) */
    apr_pool_create(&p, pool);
    crlf = apr_palloc(p, 2 * sizeof(multi));
    for (i = n = 0; i < sizeof(multi) - 1; i++) {
        if (multi[i] == '\n') {
            crlf[n++] = '\r';
        }
        crlf[n++] = multi[i];
    }
    decode(LLM_WIRE_OPENAI_CHAT, crlf, n, 0, LLM_WIRE_OPENAI_CHAT, 1, &t,
           &o);
    like(sb_get(&t), "TEXT \"two\\nlines\"\n", "CRLF: the same event");
    sb_free(&t);
    sb_free(&o);
    check_splits("CRLF multi-line data event", LLM_WIRE_OPENAI_CHAT, crlf, n,
                 1);
    apr_pool_destroy(p);

    /* the same stream with CRLF and with CR line ends */
    apr_pool_create(&p, pool);
    lf = input(p, "anthropic-tools.stream", &len);
    crlf = apr_palloc(p, 2 * len + 1);
    cr = apr_palloc(p, len + 1);
    for (i = n = 0; i < len; i++) {
        if (lf[i] == '\n') {
            crlf[n++] = '\r';
        }
        crlf[n++] = lf[i];
        cr[i] = lf[i] == '\n' ? '\r' : lf[i];
    }
    decode(LLM_WIRE_ANTHROPIC, lf, len, 0, LLM_WIRE_OPENAI_CHAT, 1, &t, &o);
    decode(LLM_WIRE_ANTHROPIC, crlf, n, 0, LLM_WIRE_OPENAI_CHAT, 1, &t2,
           &o2);
    decode(LLM_WIRE_ANTHROPIC, cr, len, 0, LLM_WIRE_OPENAI_CHAT, 1, &t3,
           &o3);
    ok(!strcmp(sb_get(&t), sb_get(&t2)) && !strcmp(sb_get(&o), sb_get(&o2)),
       "CRLF framing: same events and output");
    ok(!strcmp(sb_get(&t), sb_get(&t3)) && !strcmp(sb_get(&o), sb_get(&o3)),
       "CR framing: same events and output");
    sb_free(&t);
    sb_free(&o);
    sb_free(&t2);
    sb_free(&o2);
    sb_free(&t3);
    sb_free(&o3);
    check_splits("CRLF anthropic-tools.stream", LLM_WIRE_ANTHROPIC, crlf, n,
                 1);
    apr_pool_destroy(p);
}

static void test_utf8_split(void)
{
    static const char s[] =
        "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"caf\xC3\xA9 \xF0\x9F\x91\x8B\"}}]}\n\n"
        "data: [DONE]\n\n";
    const char *at = strstr(s, "\xF0\x9F");
    size_t cuts[3];
    one_t o;
    apr_pool_t *p;

    apr_pool_create(&p, pool);
    cuts[0] = (size_t)(strstr(s, "\xC3") - s) + 1;     /* inside é */
    cuts[1] = (size_t)(at - s) + 2;                    /* inside 👋 */
    cuts[2] = cuts[1] + 1;
    one_run(&o, p, LLM_WIRE_OPENAI_CHAT, s, sizeof(s) - 1, cuts, 3,
            LLM_WIRE_ANTHROPIC);
    like(sb_get(&o.trace), "TEXT \"caf\xC3\xA9 \xF0\x9F\x91\x8B\"",
         "UTF-8 split across feeds arrives whole");
    like(sb_get(&o.out), "\"text\":\"caf\xC3\xA9 \xF0\x9F\x91\x8B\"",
         "and is written as is, not escaped");
    sb_free(&o.trace);
    sb_free(&o.out);
    apr_pool_destroy(p);
}

/* Decode @a in (one feed, then the end) for one client stream of
 * @a client; the decoder's counts in @a skipped and @a closed. */
static void fault_run(run_t *r, apr_pool_t *p, llm_wire_e wire,
                      const char *in, llm_wire_e client,
                      apr_size_t *skipped, int *closed)
{
    enc_spec_t spec;
    llm_decoder_t *d = llm_decoder_create(p, wire, 0);
    char line[96];
    apr_status_t rv, end_rv;

    spec.wire = client;
    spec.stream = 1;
    run_init(r, p, &spec, 1, NULL);
    rv = llm_decoder_feed(d, in, strlen(in), fan_out, r);
    end_rv = llm_decoder_end(d, fan_out, r);
    snprintf(line, sizeof(line), "# feed=%d end=%d complete=%d\n", rv,
             end_rv, llm_decoder_complete(d));
    sb_str(&r->trace, line);
    run_end(r);
    *skipped = llm_decoder_skipped(d);
    *closed = llm_decoder_closed(d);
}

/* One malformed event in a good stream is skipped, counted, and the
 * stream goes on to its end: each dialect (issue 12). */
static void test_bad_event(void)
{
    static const char openai[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The\"}}]}"
        "\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"BRO\n\n"
        "data: 42\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" end\"},"
        "\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n";
    static const char ollama[] =
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
        "\"content\":\"The\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"content\":\"BRO\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
        "\"content\":\" end\"},\"done\":false}\n"
        "{\"model\":\"m\",\"message\":{\"role\":\"assistant\","
        "\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
        "\"prompt_eval_count\":3,\"eval_count\":2}\n";
    static const char anthropic[] =
        "event: message_start\ndata: {\"type\":\"message_start\","
        "\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
        "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"The\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_de\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" end\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
        "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    apr_pool_t *p;
    apr_size_t skipped;
    int closed;
    run_t r;

    apr_pool_create(&p, pool);
    fault_run(&r, p, LLM_WIRE_OPENAI_CHAT, openai, LLM_WIRE_ANTHROPIC,
              &skipped, &closed);
    like(sb_get(&r.trace), "TEXT \"The\"\nTEXT \" end\"\nFINISH stop\nDONE\n"
         "# feed=0 end=0 complete=1", "OpenAI: a bad event is skipped");
    ok(!strstr(sb_get(&r.trace), "ERROR") && !strstr(sb_get(&r.out[0]),
                                                     "BRO"),
       "no error, nothing of it");
    is_int((int)skipped, 2, "both counted (not JSON; not an object)");
    ok(!closed && !llm_encoder_failed(r.enc[0])
       && strstr(sb_get(&r.out[0]), "event: message_stop\n"),
       "the Anthropic client's stream ends normally");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_OLLAMA_CHAT, ollama, LLM_WIRE_OPENAI_CHAT,
              &skipped, &closed);
    like(sb_get(&r.trace), "TEXT \"The\"\nTEXT \" end\"\nFINISH stop\n",
         "Ollama: a bad line is skipped");
    is_int((int)skipped, 1, "and counted");
    ok(!strstr(sb_get(&r.trace), "ERROR") && !llm_encoder_failed(r.enc[0])
       && strstr(sb_get(&r.out[0]), "data: [DONE]\n\n"),
       "the OpenAI client's stream ends with [DONE]");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_ANTHROPIC, anthropic, LLM_WIRE_OLLAMA_CHAT,
              &skipped, &closed);
    like(sb_get(&r.trace), "TEXT \"The\"\nTEXT \" end\"\nFINISH stop\n",
         "Anthropic: a bad event is skipped");
    is_int((int)skipped, 1, "and counted");
    like(sb_get(&r.out[0]), "\"done\":true,\"done_reason\":\"stop\"",
         "the Ollama client gets its done line");
    run_free(&r);
    apr_pool_destroy(p);
}

/* A stream that ends after its finish reason without its end marker is
 * ended by the decoder, usage kept; one cut before it ends in an
 * error (issue 12). */
static void test_end_after_finish(void)
{
    static const char openai[] =
        "data: {\"id\":\"chatcmpl-1\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"Hi\"}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},"
        "\"finish_reason\":\"length\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
        "\"completion_tokens\":1,\"total_tokens\":6}}\n\n";
    static const char openai_cut_usage[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
        "\"finish_reason\":\"stop\"}]}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tok";
    static const char openai_cut[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}"
        "\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" th";
    static const char anthropic[] =
        "event: message_start\ndata: {\"type\":\"message_start\","
        "\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":4}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
        "{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n";
    static const char anthropic_cut[] =
        "event: message_start\ndata: {\"type\":\"message_start\","
        "\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":4}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
    /* done_reason on a line that is not done:true is no end: Ollama
     * writes it only on its last line. */
    static const char ollama_cut[] =
        "{\"model\":\"m\",\"message\":{\"content\":\"Hi\"},\"done\":false,"
        "\"done_reason\":\"stop\"}\n";
    apr_pool_t *p;
    apr_size_t skipped;
    int closed;
    run_t r;

    apr_pool_create(&p, pool);
    fault_run(&r, p, LLM_WIRE_OPENAI_CHAT, openai, LLM_WIRE_OPENAI_CHAT,
              &skipped, &closed);
    like(sb_get(&r.trace), "FINISH length\nUSAGE prompt=5 completion=1 "
         "total=6 cached=-1 reasoning=-1\nDONE\n# feed=0 end=0 complete=1",
         "OpenAI without [DONE] after its finish: DONE made up");
    ok(closed && !llm_encoder_failed(r.enc[0]), "closed, not failed");
    like(sb_get(&r.out[0]), "\"usage\":{\"prompt_tokens\":5,"
         "\"completion_tokens\":1,\"total_tokens\":6}}\n\ndata: [DONE]\n\n",
         "the client gets its usage chunk and [DONE]");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_OPENAI_CHAT, openai, LLM_WIRE_ANTHROPIC,
              &skipped, &closed);
    like(sb_get(&r.out[0]), "\"stop_reason\":\"max_tokens\",\"stop_sequence\":"
         "null},\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}\n\n"
         "event: message_stop\n", "... an Anthropic client its usage and "
         "message_stop");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_OPENAI_CHAT, openai_cut_usage,
              LLM_WIRE_OPENAI_CHAT, &skipped, &closed);
    ok(closed && (int)skipped == 1 && !llm_encoder_failed(r.enc[0])
       && strstr(sb_get(&r.out[0]), "data: [DONE]\n\n"),
       "a usage chunk cut after the finish: skipped, the stream ended");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_OPENAI_CHAT, openai_cut, LLM_WIRE_OLLAMA_CHAT,
              &skipped, &closed);
    like(sb_get(&r.trace), "ERROR incomplete_stream", "cut before the "
         "finish: an error");
    ok(!closed && llm_encoder_failed(r.enc[0])
       && !strstr(sb_get(&r.out[0]), "\"done\":true"),
       "the Ollama client gets no done line");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_ANTHROPIC, anthropic, LLM_WIRE_OPENAI_CHAT,
              &skipped, &closed);
    ok(closed && !llm_encoder_failed(r.enc[0]), "Anthropic without "
       "message_stop after message_delta's stop_reason: closed");
    like(sb_get(&r.out[0]), "\"usage\":{\"prompt_tokens\":4,"
         "\"completion_tokens\":7,\"total_tokens\":11}}\n\ndata: [DONE]\n\n",
         "with its usage");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_ANTHROPIC, anthropic_cut, LLM_WIRE_OPENAI_CHAT,
              &skipped, &closed);
    ok(!closed && llm_encoder_failed(r.enc[0])
       && !strstr(sb_get(&r.out[0]), "[DONE]"),
       "Anthropic cut before message_delta: an error, no [DONE]");
    run_free(&r);

    fault_run(&r, p, LLM_WIRE_OLLAMA_CHAT, ollama_cut, LLM_WIRE_ANTHROPIC,
              &skipped, &closed);
    ok(!closed && llm_encoder_failed(r.enc[0])
       && !strstr(sb_get(&r.out[0]), "message_stop"),
       "Ollama without its done:true line: a cut, whatever done_reason");
    run_free(&r);
    apr_pool_destroy(p);
}

static void test_too_large(void)
{
    char big[300];
    apr_pool_t *p;
    llm_decoder_t *d;
    run_t r;
    enc_spec_t spec = { LLM_WIRE_ANTHROPIC, 1 };

    memset(big, 'x', sizeof(big));
    memcpy(big, "data: {\"id\":\"", 13);
    apr_pool_create(&p, pool);
    run_init(&r, p, &spec, 1, NULL);
    d = llm_decoder_create(p, LLM_WIRE_OPENAI_CHAT, 100);
    is_int(llm_decoder_feed(d, big, 60, fan_out, &r), APR_SUCCESS,
           "part of an event under the cap is held");
    is_int(llm_decoder_feed(d, big + 60, 60, fan_out, &r), APR_ENOSPC,
           "an event over max_event: APR_ENOSPC");
    like(sb_get(&r.trace), "ERROR event_too_large", "after an ERROR");
    is_int(llm_decoder_feed(d, "\n\n", 2, fan_out, &r), APR_EGENERAL,
           "the decoder is stopped");
    run_end(&r);
    like(sb_get(&r.out[0]), "event: error\ndata: {\"type\":\"error\","
         "\"error\":{\"type\":\"api_error\",\"message\":\"The upstream sent "
         "an event larger than 100 bytes.\"}}\n\n",
         "the Anthropic client gets its error form");
    run_free(&r);

    /* a complete line over the cap, in one feed */
    run_init(&r, p, &spec, 1, NULL);
    d = llm_decoder_create(p, LLM_WIRE_OLLAMA_CHAT, 100);
    big[200] = '\n';
    is_int(llm_decoder_feed(d, big, 201, fan_out, &r), APR_ENOSPC,
           "a whole line over max_event too");
    run_end(&r);
    run_free(&r);
    apr_pool_destroy(p);
}

static apr_status_t stop_at_text(void *baton, const llm_event_t *ev)
{
    (void)baton;
    return ev->type == LLM_EV_TEXT ? APR_EOF : APR_SUCCESS;
}

static apr_status_t count_events(void *baton, const llm_event_t *ev)
{
    (void)ev;
    (*(int *)baton)++;
    return APR_SUCCESS;
}

static void test_decoder_rules(void)
{
    static const char s[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}"
        "\n\ndata: [DONE]\n\ndata: {\"garbage\n\n";
    apr_pool_t *p;
    llm_decoder_t *d;
    int n = 0;
    sbuf_t t, o;

    apr_pool_create(&p, pool);
    d = llm_decoder_create(p, LLM_WIRE_OPENAI_CHAT, 0);
    is_int(llm_decoder_feed(d, s, sizeof(s) - 1, stop_at_text, NULL),
           APR_EOF, "a callback's status stops the decoder and is returned");
    ok(!llm_decoder_complete(d), "it is not complete");

    d = llm_decoder_create(p, LLM_WIRE_OPENAI_CHAT, 0);
    is_int(llm_decoder_feed(d, s, sizeof(s) - 1, count_events, &n),
           APR_SUCCESS, "bytes after [DONE] are ignored");
    is_int(n, 3, "START (made up), TEXT, DONE");
    is_int(llm_decoder_end(d, count_events, &n), APR_SUCCESS,
           "end after DONE");
    is_int(n, 3, "adds nothing");

    decode(LLM_WIRE_OLLAMA_CHAT, "", 0, 0, LLM_WIRE_OLLAMA_CHAT, 1, &t, &o);
    is_str(sb_get(&t), "START id=- model=- created=0\nERROR "
           "incomplete_stream \"The upstream stream ended before it was "
           "complete.\"\n# feed=0 end=0 complete=0\n",
           "an empty stream is incomplete");
    is_str(sb_get(&o), "{\"error\":\"The upstream stream ended before it "
           "was complete.\"}\n", "Ollama's error line");
    sb_free(&t);
    sb_free(&o);

    decode(LLM_WIRE_OPENAI_CHAT, "data: [DONE]", 12, 0, LLM_WIRE_OPENAI_CHAT,
           1, &t, &o);
    like(sb_get(&t), "DONE\n# feed=0 end=0 complete=1",
         "a last event without its blank line is still delivered");
    sb_free(&t);
    sb_free(&o);
    apr_pool_destroy(p);
}

/* Servers that send a call's arguments only whole, in a done event or
 * in the block's start. */
static void test_whole_arguments(void)
{
    static const char responses[] =
        "event: response.output_item.added\n"
        "data: {\"type\":\"response.output_item.added\",\"item\":{\"id\":"
        "\"fc_1\",\"type\":\"function_call\",\"status\":\"in_progress\","
        "\"arguments\":\"\",\"call_id\":\"call_1\",\"name\":\"f\"},"
        "\"output_index\":0,\"sequence_number\":0}\n\n"
        "event: response.function_call_arguments.done\n"
        "data: {\"type\":\"response.function_call_arguments.done\","
        "\"arguments\":\"{\\\"a\\\":1}\",\"item_id\":\"fc_1\","
        "\"output_index\":0,\"sequence_number\":1}\n\n"
        "event: response.output_item.done\n"
        "data: {\"type\":\"response.output_item.done\",\"item\":{\"id\":"
        "\"fc_1\",\"type\":\"function_call\",\"status\":\"completed\","
        "\"arguments\":\"{\\\"a\\\":1}\",\"call_id\":\"call_1\","
        "\"name\":\"f\"},\"output_index\":0,\"sequence_number\":2}\n\n";
    static const char anthropic[] =
        "event: content_block_start\n"
        "data: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\","
        "\"name\":\"f\",\"input\":{\"a\":1}}}\n\n";
    sbuf_t t, o;

    decode(LLM_WIRE_OPENAI_RESPONSES, responses, sizeof(responses) - 1, 0,
           LLM_WIRE_OPENAI_CHAT, 1, &t, &o);
    like(sb_get(&t), "TOOL_CALL 0 id=call_1 name=f args=\"\"\n"
         "TOOL_CALL 0 id=- name=- args=\"{\\\"a\\\":1}\"\nERROR",
         "Responses: arguments from the done event, once");
    sb_free(&t);
    sb_free(&o);
    decode(LLM_WIRE_ANTHROPIC, anthropic, sizeof(anthropic) - 1, 0,
           LLM_WIRE_OPENAI_CHAT, 1, &t, &o);
    like(sb_get(&t), "TOOL_CALL 0 id=toolu_1 name=f args=\"{\\\"a\\\":1}\"",
         "Anthropic: a tool_use block with its input whole");
    sb_free(&t);
    sb_free(&o);
}

static void body(llm_wire_e wire, const char *s, llm_wire_e client,
                 sbuf_t *trace, sbuf_t *out)
{
    enc_spec_t spec = { client, 0 };
    run_t r;
    apr_pool_t *p;

    apr_pool_create(&p, pool);
    run_init(&r, p, &spec, 1, NULL);
    run_body(&r, p, wire, s, strlen(s));
    *trace = r.trace;
    *out = r.out[0];
    apr_pool_destroy(p);
}

static void test_bodies(void)
{
    sbuf_t t, o;

    body(LLM_WIRE_ANTHROPIC, "not json", LLM_WIRE_ANTHROPIC, &t, &o);
    like(sb_get(&t), "ERROR bad_response", "a body that is not JSON");
    like(sb_get(&t), apr_psprintf(pool, "# body=%d", APR_EGENERAL),
         "gives APR_EGENERAL");
    is_str(sb_get(&o), "{\"type\":\"error\",\"error\":{\"type\":"
           "\"api_error\",\"message\":\"The upstream's response is not "
           "valid JSON.\"}}", "Anthropic's error body");
    sb_free(&t);
    sb_free(&o);

    body(LLM_WIRE_OPENAI_CHAT, "{\"object\":\"list\"}", LLM_WIRE_OLLAMA_CHAT,
         &t, &o);
    like(sb_get(&t), "ERROR bad_response", "JSON that is not an answer");
    sb_free(&t);
    sb_free(&o);

    body(LLM_WIRE_ANTHROPIC, "{\"type\":\"error\",\"error\":{\"type\":"
         "\"overloaded_error\",\"message\":\"Overloaded\"}}",
         LLM_WIRE_OPENAI_CHAT, &t, &o);
    like(sb_get(&t), "ERROR overloaded_error \"Overloaded\"\n# body=0",
         "an error body is an ERROR event");
    is_str(sb_get(&o), "{\"error\":{\"message\":\"Overloaded\",\"type\":"
           "\"overloaded_error\",\"param\":null,\"code\":null}}",
           "written as OpenAI's error body");
    sb_free(&t);
    sb_free(&o);

    body(LLM_WIRE_OLLAMA_GENERATE, "{\"error\":\"model 'x' not found\"}",
         LLM_WIRE_OPENAI_RESPONSES, &t, &o);
    like(sb_get(&t), "ERROR upstream_error \"model 'x' not found\"",
         "Ollama's error body");
    sb_free(&t);
    sb_free(&o);
}

/* The client's model name replaces the provider's. */
static void test_model_override(void)
{
    static const char s[] =
        "{\"model\":\"llama3.2:3b-instruct-q4\",\"created_at\":"
        "\"2023-08-04T19:22:45.499127-07:00\",\"response\":\"Hi\","
        "\"done\":true,\"done_reason\":\"stop\"}";
    llm_encode_opts_t opts = { "my-model", 0, 0 };
    apr_pool_t *p;
    run_t r;

    apr_pool_create(&p, pool);
    memset(&r, 0, sizeof(r));
    r.n = 1;
    r.enc[0] = llm_encoder_create(p, LLM_WIRE_OPENAI_CHAT, 0, &opts);
    llm_decode_body(p, LLM_WIRE_OLLAMA_GENERATE, s, sizeof(s) - 1, fan_out,
                    &r);
    run_end(&r);
    like(sb_get(&r.out[0]), "\"model\":\"my-model\"",
         "opts.model is reported");
    like(sb_get(&r.trace), "created=1691202165",
         "created_at with a zone offset becomes epoch seconds");
    like(sb_get(&r.out[0]), "\"created\":1691202165",
         "and is the created time");
    like(sb_get(&r.out[0]), "\"id\":\"chatcmpl-",
         "an id is made up in the client's shape");
    run_free(&r);
    apr_pool_destroy(p);
}

static void test_content_types(void)
{
    is_str(llm_wire_content_type(LLM_WIRE_OPENAI_CHAT, 1),
           "text/event-stream", "SSE");
    is_str(llm_wire_content_type(LLM_WIRE_ANTHROPIC, 0), "application/json",
           "whole JSON");
    is_str(llm_wire_content_type(LLM_WIRE_OLLAMA_GENERATE, 1),
           "application/x-ndjson", "Ollama stream");
    is_str(llm_wire_content_type(LLM_WIRE_OLLAMA_CHAT, 0),
           "application/json; charset=utf-8", "Ollama whole");
}

/* ------------------------------------------------------------------ */
/* A long stream keeps its memory flat                                 */
/* ------------------------------------------------------------------ */

static apr_status_t discard(void *baton, const char *buf, apr_size_t len)
{
    (void)baton;
    (void)buf;
    (void)len;
    return APR_SUCCESS;
}

static apr_status_t to_encoder(void *baton, const llm_event_t *ev)
{
    return llm_encoder_event(baton, ev, discard, NULL);
}

/* Resident memory: APR may take its blocks with mmap, out of malloc's
 * sight, so the process's pages are what is counted. */
static size_t heap_used(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;

    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_long_stream(void)
{
#if defined(__SANITIZE_ADDRESS__)
    const int n = 20000;
#else
    const int n = 100000;
#endif
    static const char chunk[] =
        "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":"
        "{\"content\":\"tok \"},\"logprobs\":null,\"finish_reason\":null}]}"
        "\n\n";
    apr_pool_t *p;
    llm_decoder_t *d;
    llm_encoder_t *e;
    llm_encode_opts_t opts = { NULL, 0, 1 };
    size_t at_start = 0;
    long growth;
    clock_t t0 = clock();
    int i, fails = 0;

    apr_pool_create(&p, pool);
    d = llm_decoder_create(p, LLM_WIRE_OPENAI_CHAT, 0);
    e = llm_encoder_create(p, LLM_WIRE_ANTHROPIC, 1, &opts);
    for (i = 0; i < n; i++) {
        /* fed in two pieces, so that lines are also held back */
        fails += llm_decoder_feed(d, chunk, 50, to_encoder, e) != APR_SUCCESS;
        fails += llm_decoder_feed(d, chunk + 50, sizeof(chunk) - 51,
                                  to_encoder, e) != APR_SUCCESS;
        if (i == n / 10) {
            at_start = heap_used();
        }
    }
    growth = (long)heap_used() - (long)at_start;
    ok(!fails, apr_psprintf(p, "%d chunks decoded and encoded", n));
#if defined(__SANITIZE_ADDRESS__)
    /* ASan's quarantine keeps freed memory resident */
    (void)growth;
    ok(1, "memory does not grow with the stream # SKIP under ASan");
#else
    ok(growth < 512 * 1024, "memory does not grow with the stream");
    if (growth >= 512 * 1024) {
        printf("# grew by %ld bytes\n", growth);
    }
#endif
    printf("# %d chunks in %.2f s\n", n,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    apr_pool_destroy(p);
}

/* ------------------------------------------------------------------ */

static const char *find_golden_dir(const char *argv0)
{
    const char *candidates[3];
    int i;

    candidates[0] = "t/golden/events";
    candidates[1] = apr_pstrcat(pool, argv0, "/../../../t/golden/events",
                                NULL);
    candidates[2] = apr_pstrcat(pool, argv0,
                                "/../../../../t/golden/events", NULL);
    for (i = 0; i < 3; i++) {
        apr_finfo_t info;

        if (apr_stat(&info, candidates[i], APR_FINFO_TYPE, pool)
            == APR_SUCCESS && info.filetype == APR_DIR) {
            return candidates[i];
        }
    }
    return candidates[0];
}

int main(int argc, char **argv)
{
    (void)argc;
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    llm_event_random_fn = fake_random;
    llm_event_clock_fn = fake_clock;
    golden_dir = find_golden_dir(argv[0]);
    update_golden = getenv("LLM_GOLDEN_UPDATE") != NULL;

    test_goldens();
    test_usage();
    test_sse_framing();
    test_utf8_split();
    test_bad_event();
    test_end_after_finish();
    test_too_large();
    test_decoder_rules();
    test_whole_arguments();
    test_bodies();
    test_model_override();
    test_content_types();
    test_long_stream();

    apr_pool_destroy(pool);
    return tap_done();
}
