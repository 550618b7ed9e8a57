/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target for reading an audit trail back (modules/audit): the
 * line parser that verify and show trust with whatever is on disk, and
 * the chain check over a file made from the input.
 *
 * The whole input, as one line (with exactly its length: lines are not
 * NUL-terminated where they end in a file):
 *   - llm_audit_line_head(): a record's head is sane (seq >= 1, count
 *     1..LLM_AUDIT_BATCH_MAX and more than 1 only when sealed, prev 64
 *     lower-case hex digits), or a refusal says why;
 *   - llm_audit_unseal_line(), as a sealed body: what show prints is one
 *     line (no newline in it), a JSON object that starts with the seq,
 *     time, event and prev given, and is itself a plaintext record;
 *   - an envelope around the input as armor gives back its seq, count,
 *     prev and armor.
 *
 * Then the input as a trail, one file: its first byte says whether the
 * last line is torn (no newline); each line after it is a record made
 * by llm_audit_record_line() around the line's text, its first byte
 * saying how (low two bits): 0 chained as the writer would, 1 a wrong
 * seq, 2 a wrong prev, 3 not a record ("#" and the text). Properties:
 * llm_audit_verify() finds INTACT when every line is chained, TORN when
 * the only flaw is the torn last line, else BROKEN naming the first bad
 * line; --partial never finds worse than without it.
 */

#define FUZZ_NAME "fuzz_audit_line"

#include <unistd.h>

#include "fuzz.h"
#include "apr_file_io.h"
#include "llm_audit.h"
#include "llm_json.h"

#define MAX_LINES 64
#define TRAIL_FILE LLM_AUDIT_PREFIX "0000000000000001" LLM_AUDIT_SUFFIX

static char trail_dir[] = "/tmp/fuzz-audit.XXXXXX";
static char trail_path[sizeof(trail_dir) + sizeof(TRAIL_FILE) + 1];

static void trail_remove(void)
{
    unlink(trail_path);
    rmdir(trail_dir);
}

/* The directory the trail file is written to, once per process. */
static void trail_setup(void)
{
    if (!mkdtemp(trail_dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(trail_path, sizeof(trail_path), "%s/%s", trail_dir,
             TRAIL_FILE);
    atexit(trail_remove);
}

static int is_hex64(const char *s)
{
    int i;

    for (i = 0; i < 2 * LLM_CORE_SHA256_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[i] == '\0';
}

/* ------------------------------------------------------------------ */
/* The input as one line                                                */
/* ------------------------------------------------------------------ */

static void check_head(apr_pool_t *p, const char *line, size_t len)
{
    llm_audit_head_t head;
    const char *why = NULL;

    if (llm_audit_line_head(p, line, len, &head, &why) != APR_SUCCESS) {
        FUZZ_CHECK(why && *why, "a refused line says why");
        return;
    }
    FUZZ_CHECK(head.seq >= 1, "a record's seq is at least 1");
    FUZZ_CHECK(head.count >= 1 && head.count <= LLM_AUDIT_BATCH_MAX,
               "a record's count is 1..LLM_AUDIT_BATCH_MAX");
    FUZZ_CHECK(head.count == 1 || head.pgp, "only a sealed line has a "
               "count");
    FUZZ_CHECK(is_hex64(head.prev), "prev is 64 lower-case hex digits");
}

static void check_unsealed(apr_pool_t *p, const char *body, size_t len)
{
    static const char prev[] = "00112233445566778899aabbccddeeff"
                               "00112233445566778899aabbccddeeff";
    llm_audit_head_t head;
    const char *line, *why = NULL;
    apr_size_t n = 0;
    json_object *o;

    line = llm_audit_unseal_line(p, 42, prev, body, len, &n);
    if (!line) {
        return;
    }
    FUZZ_CHECK_TEXT(!memchr(line, '\n', n), "an opened record is one line",
                    line);
    o = llm_json_parse(line, n);
    FUZZ_CHECK_TEXT(o && json_object_is_type(o, json_type_object),
                    "an opened record is a JSON object", line);
    json_object_put(o);
    FUZZ_CHECK_TEXT(!strncmp(line, "{\"seq\":42,\"time\":\"", 18),
                    "an opened record starts with its seq and time", line);
    FUZZ_CHECK_TEXT(llm_audit_line_head(p, line, n, &head, &why)
                    == APR_SUCCESS && head.seq == 42 && head.count == 1
                    && !head.pgp && !strcmp(head.prev, prev),
                    "an opened record is a plaintext record with the "
                    "envelope's seq and prev", line);
}

static void check_envelope(apr_pool_t *p, const char *data, size_t size)
{
    static const char prev[] = "ffeeddccbbaa99887766554433221100"
                               "ffeeddccbbaa99887766554433221100";
    const char *armor = apr_pstrmemdup(p, data, size), *line, *why = NULL;
    apr_uint64_t count = 1 + size % 3;
    llm_audit_head_t head;
    apr_size_t n = 0, i;

    /* Armor is ASCII; json-c writes other bytes as they are, and what it
     * reads back of invalid UTF-8 is not this test's business. */
    for (i = 0; armor[i]; i++) {
        if ((unsigned char)armor[i] >= 0x80) {
            return;
        }
    }
    line = llm_audit_envelope_line(p, 7, count, prev, armor, &n);
    FUZZ_CHECK_TEXT(llm_audit_line_head(p, line, n, &head, &why)
                    == APR_SUCCESS, "an envelope is a record", line);
    FUZZ_CHECK_TEXT(head.seq == 7 && head.count == count
                    && !strcmp(head.prev, prev) && head.pgp
                    && !strcmp(head.pgp, armor),
                    "an envelope gives back its seq, count, prev, armor",
                    line);
}

/* ------------------------------------------------------------------ */
/* The input as a trail                                                 */
/* ------------------------------------------------------------------ */

enum { CHAINED, WRONG_SEQ, WRONG_PREV, NOT_A_RECORD };

/* Line @a i (1-based) of the trail from @a text, made as @a how says,
 * after the line whose hash is @a prev. */
static const char *make_line(apr_pool_t *p, int i, unsigned char how,
                             const char *prev, const char *text,
                             apr_size_t tlen, apr_size_t *len)
{
    llm_audit_entry_t e = { 0, "request", NULL, NULL, 0, NULL, 0 };
    apr_uint64_t seq = (apr_uint64_t)i;
    const char *line;

    if ((how & 3) == NOT_A_RECORD) {
        char *raw = apr_palloc(p, tlen + 2);

        raw[0] = '#';                /* never JSON: never a record */
        memcpy(raw + 1, text, tlen);
        raw[tlen + 1] = '\0';
        *len = tlen + 1;
        return raw;
    }
    if ((how & 3) == WRONG_SEQ) {
        /* Later (deleted records), or earlier when there is room
         * (reordered or repeated). */
        seq = (how & 4) && i > 1 ? seq - 1 - (how >> 4) % (apr_uint64_t)(i - 1)
                                 : seq + 1 + (how >> 4);
    }
    if ((how & 3) == WRONG_PREV) {
        prev = "0000000000000000000000000000000000000000000000000000000000000000";
    }
    e.time = apr_time_from_sec(1796600000) + i;
    e.fields = json_object_new_object();
    json_object_object_add(e.fields, "text", llm_audit_strn(text, tlen));
    line = llm_audit_record_line(p, seq, prev, &e, len);
    json_object_put(e.fields);
    return line;
}

/* "line N" and no digit after it: where a message names line @a n. */
static int names_line(const char *msg, int n)
{
    char want[32];
    const char *s = msg;
    size_t wlen = (size_t)snprintf(want, sizeof(want), "line %d", n);

    while ((s = strstr(s, want)) != NULL) {
        s += wlen;
        if (*s < '0' || *s > '9') {
            return 1;
        }
    }
    return 0;
}

/* Write the trail; *first_bad is its first line not chained (0: none),
 * *torn whether its last line has no newline. */
static void write_trail(apr_pool_t *p, const char *data, size_t size,
                        int *lines, int *first_bad, int *torn)
{
    const char *s = data + 1, *end = data + size;
    char prev[LLM_CORE_SHA256_HEX];
    apr_file_t *f;
    llm_audit_chain_t g;

    llm_audit_chain_genesis(&g);
    memcpy(prev, g.prev, sizeof(prev));
    *lines = *first_bad = 0;
    *torn = size > 0 && (data[0] & 1);
    if (apr_file_open(&f, trail_path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                      | APR_FOPEN_TRUNCATE, APR_FPROT_OS_DEFAULT, p)
        != APR_SUCCESS) {
        abort();
    }
    while (size > 1 && s < end && *lines < MAX_LINES) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *eol = nl ? nl : end;
        unsigned char how = (unsigned char)*s;
        apr_size_t len = 0;
        const char *line = make_line(p, *lines + 1, how, prev, s + 1,
                                     eol > s ? (apr_size_t)(eol - s - 1) : 0,
                                     &len);
        int last = !nl || nl + 1 >= end || *lines + 1 == MAX_LINES;

        ++*lines;
        if ((how & 3) != CHAINED && !*first_bad && !(last && *torn)) {
            *first_bad = *lines;
        }
        apr_file_write_full(f, line, len, NULL);
        if (!(last && *torn)) {
            apr_file_write_full(f, "\n", 1, NULL);
        }
        llm_core_sha256_hex(line, len, prev);
        s = nl ? nl + 1 : end;
    }
    *torn = *torn && *lines > 0;
    apr_file_close(f);
}

static void check_trail(apr_pool_t *p, const char *data, size_t size)
{
    apr_array_header_t *dirs = apr_array_make(p, 1, sizeof(char *));
    llm_audit_report_t rep, part;
    int lines, first_bad, torn;

    write_trail(p, data, size, &lines, &first_bad, &torn);
    APR_ARRAY_PUSH(dirs, const char *) = trail_dir;
    FUZZ_CHECK(llm_audit_verify(p, dirs, 0, &rep) == APR_SUCCESS
               && rep.message && rep.files == 1,
               "a readable trail gets a verdict");
    if (first_bad) {
        FUZZ_CHECK_TEXT(rep.verdict == LLM_AUDIT_BROKEN
                        && names_line(rep.message, first_bad),
                        "a trail with a bad line is BROKEN, named",
                        rep.message);
    }
    else if (torn) {
        FUZZ_CHECK_TEXT(rep.verdict == LLM_AUDIT_TORN
                        && names_line(rep.message, lines)
                        && rep.records == (apr_uint64_t)lines - 1,
                        "a trail whose last line is torn is TORN",
                        rep.message);
    }
    else {
        FUZZ_CHECK_TEXT(rep.verdict == LLM_AUDIT_INTACT
                        && rep.records == (apr_uint64_t)lines,
                        "a chained trail is INTACT", rep.message);
    }
    FUZZ_CHECK(llm_audit_verify(p, dirs, 1, &part) == APR_SUCCESS
               && (rep.verdict != LLM_AUDIT_INTACT
                   || part.verdict == LLM_AUDIT_INTACT),
               "--partial finds no worse");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *buf;

    if (fuzz_start()) {
        trail_setup();
    }
    apr_pool_create(&p, fuzz_root);
    buf = fuzz_exact_copy(data, size);
    check_head(p, buf, size);
    check_unsealed(p, buf, size);
    free(buf);
    check_envelope(p, (const char *)data, size);
    check_trail(p, (const char *)data, size);
    apr_pool_destroy(p);
    return 0;
}
