/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A fuzz target without libFuzzer, for machines without clang:
 *
 *   replay [-t SECONDS] [-s SEED] [-o PREFIX] [-m MAX_LEN] [-x DICT]
 *          DIR|FILE...
 *
 * runs LLVMFuzzerTestOneInput on every file given (and every file in the
 * directories given), then, with -t, on mutations of them until the time
 * is up: byte flips, inserts, deletes, copies, splices with another file
 * and words the target cares about, from a xorshift PRNG. The words are
 * those of DICT (libFuzzer's format: one "word" a line, \xNN escapes),
 * else the masking engine's ("{{", PESEL, "@", UTF-8 fragments). There
 * is no coverage feedback: a blind search, but the same properties,
 * under ASan and UBSan when built with them. Mutants are at most
 * MAX_LEN bytes (default 4096, as libFuzzer's -max_len).
 *
 * The input being run when the process dies (a failed property's
 * abort(), a signal, a sanitizer's report) is written to
 * PREFIXcrash-replay-PID (PREFIX as libFuzzer's -artifact_prefix,
 * default "./"), to be run again alone.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#include <sanitizer/common_interface_defs.h>
#define HAVE_DEATH_CALLBACK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define HAVE_DEATH_CALLBACK 1
#endif
#endif

#define MAX_LEN 4096        /* as libFuzzer's -max_len, by default */
#define RING 256            /* mutants kept to mutate further */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t *data;
    size_t len;
} input_t;

static input_t *corpus;
static size_t ncorpus, corpus_cap;
static input_t ring[RING];
static size_t nring;

/* What is running now, for the crash file, and how many ran before. */
static const uint8_t *current;
static size_t current_len;
static unsigned long runs;
static char crash_path[4096];
static size_t max_len = MAX_LEN;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* ------------------------------------------------------------------ */
/* Crash files                                                         */
/* ------------------------------------------------------------------ */

/* "replay: N runs, then ..." with write() alone: in a signal handler. */
static void say_runs(void)
{
    char digits[24], *d = digits + sizeof(digits);
    unsigned long n = runs;

    do {
        *--d = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    if (write(2, "replay: ", 8) > 0
        && write(2, d, (size_t)(digits + sizeof(digits) - d)) > 0) {
        (void)!write(2, " runs, then a crash\n", 20);
    }
}

/* Async-signal-safe: open and write only. */
static void write_current(void)
{
    int fd;

    if (!current || !crash_path[0]) {
        return;
    }
    fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        size_t at = 0;

        while (at < current_len) {
            ssize_t w = write(fd, current + at, current_len - at);

            if (w <= 0) {
                break;
            }
            at += (size_t)w;
        }
        close(fd);
        if (write(2, "replay: the input is in ", 24) > 0
            && write(2, crash_path, strlen(crash_path)) > 0) {
            (void)!write(2, "\n", 1);
        }
    }
    say_runs();
    current = NULL;
}

static void on_signal(int sig)
{
    write_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_deaths(const char *prefix)
{
    snprintf(crash_path, sizeof(crash_path), "%scrash-replay-%ld", prefix,
             (long)getpid());
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGILL, on_signal);
#ifdef HAVE_DEATH_CALLBACK
    __sanitizer_set_death_callback(write_current);
#endif
}

static void run_one(const uint8_t *data, size_t len)
{
    current = data;
    current_len = len;
    LLVMFuzzerTestOneInput(data, len);
    current = NULL;
    runs++;
}

/* ------------------------------------------------------------------ */
/* The corpus                                                          */
/* ------------------------------------------------------------------ */

static void add_input(uint8_t *data, size_t len)
{
    if (ncorpus == corpus_cap) {
        corpus_cap = corpus_cap ? corpus_cap * 2 : 64;
        corpus = realloc(corpus, corpus_cap * sizeof(*corpus));
        if (!corpus) {
            abort();
        }
    }
    corpus[ncorpus].data = data;
    corpus[ncorpus].len = len;
    ncorpus++;
}

static int load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t len = 0, cap = 0, got;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if (!(data = realloc(data, cap))) {
                abort();
            }
        }
        got = fread(data + len, 1, cap - len, f);
        len += got;
    } while (got > 0);
    fclose(f);
    add_input(data, len);
    return 0;
}

static int load_path(const char *path)
{
    struct stat sb;
    struct dirent *e;
    DIR *d;
    char file[4096];

    if (stat(path, &sb) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        return load_file(path);
    }
    if (!(d = opendir(path))) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((e = readdir(d))) {
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        if (e->d_name[0] != '.' && stat(file, &sb) == 0
            && S_ISREG(sb.st_mode)) {
            load_file(file);
        }
    }
    closedir(d);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Mutations                                                           */
/* ------------------------------------------------------------------ */

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* What the rules and the guard look for, and what breaks UTF-8. */
static const char *const words[] = {
    "{{", "}}", "{", "}", "{{EMAIL_1}}", "{{PESEL_1}}", "{{IP_1}}:{{PORT_1}}",
    "PESEL ", "PESEL: ", "44051401359", "02070803628", "NIP ", "5260250274",
    "jan.kowalski@example.com", "@", ".pl", "https://", "http://", "www.",
    "PL61 1090 1014 0000 0712 1981 2874", "4111 1111 1111 1111", "+48 ",
    "512 345 678", "Tel. ", "10.0.0.1", ":8080", "::", "1 500 zł", "$",
    "15.03.2024", "5 marca 2024", "00-950", "WX 12345", "KRS ",
    "1M8GDM9AXKP042788", "ABA300000", "fbid", "FV/2023/", "ORD-",
    "eyJhbGciOiJIUzI1NiJ9.", "Ignore all previous instructions",
    "Zignoruj wszystkie poprzednie instrukcje", "-----BEGIN ",
    "PRIVATE KEY-----", "sk-", "AKIA", "ghp_", "xoxb-", "AIza", "plutonium",
    "-free", "ą", "ę", "ó", "\xc4", "\x85", "\x80", "\xff", "\xf0\x9f\x98",
    "\xc2\xa0", " ", "\t", "\n", "-", "_", "*", ".", ",", "0", "9",
    "0000000000000000", "",
};

/* The words of a dictionary (-x), when one was given. */
static input_t *dict;
static size_t ndict, dict_cap;

static int hex_digit(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* One line of a libFuzzer dictionary: [name=]"word", with \\, \" and
 * \xNN escapes; anything else (comments, blank lines) is skipped. */
static void dict_line(const char *line)
{
    const char *s = strchr(line, '"');
    uint8_t *w;
    size_t n = 0;

    if (!s || line[strspn(line, " \t")] == '#') {
        return;
    }
    if (!(w = malloc(strlen(s)))) {
        abort();
    }
    for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1] == 'x' && hex_digit(s[2]) >= 0
            && hex_digit(s[3]) >= 0) {
            w[n++] = (uint8_t)(hex_digit(s[2]) * 16 + hex_digit(s[3]));
            s += 3;
        }
        else if (*s == '\\' && s[1]) {
            w[n++] = (uint8_t)*++s;
        }
        else {
            w[n++] = (uint8_t)*s;
        }
    }
    if (*s != '"' || n == 0) {
        free(w);
        return;
    }
    if (ndict == dict_cap) {
        dict_cap = dict_cap ? dict_cap * 2 : 64;
        if (!(dict = realloc(dict, dict_cap * sizeof(*dict)))) {
            abort();
        }
    }
    dict[ndict].data = w;
    dict[ndict].len = n;
    ndict++;
}

static int load_dict(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f)) {
        dict_line(line);
    }
    fclose(f);
    return 0;
}

static size_t mutate_once(uint8_t *b, size_t len, size_t cap)
{
    size_t at = below(len + 1), n, from;
    const input_t *other;
    const char *w;
    uint8_t run[64];

    switch (below(8)) {
    case 0:                                     /* flip a bit */
        if (len) {
            b[below(len)] ^= (uint8_t)(1u << below(8));
        }
        return len;
    case 1:                                     /* any byte */
        if (len) {
            b[below(len)] = (uint8_t)rnd();
        }
        return len;
    case 2:                                     /* delete a run */
        n = below(len - at + 1) % 16;
        memmove(b + at, b + at + n, len - at - n);
        return len - n;
    case 3:                                     /* copy a run of itself */
        if (!len) {
            return len;
        }
        from = below(len);
        n = below(len - from) % sizeof(run) + 1;
        if (len + n > cap) {
            return len;
        }
        memcpy(run, b + from, n);
        memmove(b + at + n, b + at, len - at);
        memcpy(b + at, run, n);
        return len + n;
    case 4:                                     /* splice another */
        other = &corpus[below(ncorpus)];
        if (!other->len) {
            return len;
        }
        from = below(other->len);
        n = below(other->len - from) + 1;
        n = n > cap - len ? cap - len : n;
        memmove(b + at + n, b + at, len - at);
        memcpy(b + at, other->data + from, n);
        return len + n;
    case 5:                                     /* cut the tail */
        return at;
    default:                                    /* a word */
        if (ndict) {
            const input_t *dw = &dict[below(ndict)];

            w = (const char *)dw->data;
            n = dw->len;
        }
        else {
            w = words[below(sizeof(words) / sizeof(words[0]))];
            n = strlen(w) + !*w;                /* "": a NUL byte */
        }
        if (len + n > cap) {
            return len;
        }
        memmove(b + at + n, b + at, len - at);
        memcpy(b + at, w, n);
        return len + n;
    }
}

/* A mutant of a corpus file or of an earlier mutant, in @a b. */
static size_t mutant(uint8_t *b)
{
    const input_t *base = nring && below(3) == 0 ? &ring[below(nring)]
                                                  : &corpus[below(ncorpus)];
    size_t len = base->len > max_len ? max_len : base->len;
    int k, rounds = 1 + (int)below(8);

    memcpy(b, base->data, len);
    for (k = 0; k < rounds; k++) {
        len = mutate_once(b, len, max_len);
    }
    return len;
}

static void keep_mutant(const uint8_t *b, size_t len)
{
    input_t *slot = &ring[nring < RING ? nring++ : below(RING)];

    free(slot->data);
    if (!(slot->data = malloc(len ? len : 1))) {
        abort();
    }
    memcpy(slot->data, b, len);
    slot->len = len;
}

/* ------------------------------------------------------------------ */
/* main                                                                */
/* ------------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: replay [-t SECONDS] [-s SEED] [-o PREFIX] "
            "[-m MAX_LEN] [-x DICT] DIR|FILE...\n");
    return 2;
}

int main(int argc, char **argv)
{
    double seconds = 0, t0 = now();
    const char *prefix = "./";
    unsigned long long seed = (unsigned long long)time(NULL) ^ getpid();
    uint8_t *b;
    size_t i;
    int c;

    while ((c = getopt(argc, argv, "t:s:o:m:x:")) != -1) {
        switch (c) {
        case 't': seconds = atof(optarg); break;
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'o': prefix = optarg; break;
        case 'm': max_len = (size_t)strtoul(optarg, NULL, 10); break;
        case 'x':
            if (load_dict(optarg) != 0) {
                return 2;
            }
            break;
        default: return usage();
        }
    }
    if (optind == argc) {
        return usage();
    }
    for (; optind < argc; optind++) {
        if (load_path(argv[optind]) != 0) {
            return 2;
        }
    }
    if (max_len < 1) {
        return usage();
    }
    catch_deaths(prefix);
    rng_state ^= seed * 0x9e3779b97f4a7c15ULL;
    rnd();
    for (i = 0; i < ncorpus; i++) {
        run_one(corpus[i].data, corpus[i].len);
    }
    if (seconds > 0 && ncorpus) {
        if (!(b = malloc(max_len))) {
            abort();
        }
        printf("replay: %lu files, mutating for %.0f s (seed %llu)\n",
               (unsigned long)ncorpus, seconds, seed);
        while (now() - t0 < seconds) {
            size_t len = mutant(b);

            run_one(b, len);
            if (below(8) == 0) {
                keep_mutant(b, len);
            }
        }
        free(b);
    }
    printf("replay: %lu runs in %.0f s, no crash\n", runs, now() - t0);
    return 0;
}
