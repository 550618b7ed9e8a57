/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The masking engine's throughput on one core: MB/s over 4 MiB of
 * mixed Polish text with PII (prose, an e-mail, a PESEL, a phone, an
 * IBAN, an amount, a date every few hundred bytes), with the default
 * rules, static tokens. Not a test: prints MB/s per core, from the
 * thread's CPU time (a shared VM's wall clock counts other guests'
 * time too), best and median of the rounds, and the wall clock's best.
 * Then the worst cases (issue 11): 10 MiB of texts dense in what the
 * rules look for, and 10 MiB of the prose, best of 3 rounds each.
 * Built and run by bench/run (make -f Makefile.apxs bench-mask).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "llm_mask.h"

#define TEXT_SIZE (4 * 1024 * 1024)
#define ROUNDS 15
#define WORST_SIZE (10 * 1024 * 1024)
#define WORST_ROUNDS 3

static const char *const paragraphs[] = {
    "Szanowni Państwo, w nawiązaniu do rozmowy telefonicznej przesyłam "
    "informacje o zgłoszeniu. Klient zgłosił się do oddziału w Krakowie "
    "i poprosił o zmianę danych kontaktowych w systemie. ",
    "Dane klienta: Jan Kowalski, PESEL 44051401359, adres e-mail "
    "jan.kowalski@example.com, tel. +48 512 345 678. ",
    "Zgodnie z regulaminem usługi prosimy o weryfikację tożsamości przed "
    "wprowadzeniem zmian; w razie wątpliwości należy skontaktować się z "
    "działem obsługi klienta, który odpowie w ciągu dwóch dni roboczych. ",
    "Przelew na kwotę 1 250,00 zł z rachunku PL61 1090 1014 0000 0712 1981 "
    "2874 zaksięgowano 15.03.2024 o godzinie 14:30. ",
    "Wniosek został rozpatrzony pozytywnie, a decyzja zostanie wysłana "
    "pocztą tradycyjną na adres korespondencyjny wskazany w umowie. "
    "Zażółć gęślą jaźń — to zdanie zawiera wszystkie polskie litery. ",
    "Faktura FV/2023/00123 dla NIP 526-025-02-74 jest do zapłaty do dnia "
    "5 kwietnia 2024; kod pocztowy 00-950 Warszawa. ",
};

/* This thread's CPU time, in seconds. */
static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* @a len bytes of @a units repeated in turn, ending with a whole unit
 * (at most @a len + the longest unit). */
static char *repeated(apr_pool_t *p, const char *const *units, int n,
                      apr_size_t len, apr_size_t *out_len)
{
    char *text = apr_palloc(p, len + 1024);
    apr_size_t at = 0;
    int i;

    for (i = 0; at < len; i++) {
        apr_size_t ulen = strlen(units[i % n]);

        memcpy(text + at, units[i % n], ulen);
        at += ulen;
    }
    text[at] = '\0';
    *out_len = at;
    return text;
}

/* MB/s per core of CPU time, best of WORST_ROUNDS. */
static double best_mbs(llm_mask_ruleset_t *rs, apr_pool_t *p,
                       const char *text, apr_size_t len)
{
    double best = 0;
    apr_size_t out_len;
    int i, n;

    for (i = 0; i < WORST_ROUNDS; i++) {
        apr_pool_t *round;
        double c0, mbs;

        apr_pool_create(&round, p);
        c0 = cpu_seconds();
        llm_mask_apply(rs, NULL, round, text, len, &out_len, &n);
        mbs = (double)len / 1e6 / (cpu_seconds() - c0);
        best = mbs > best ? mbs : best;
        apr_pool_destroy(round);
    }
    return best;
}

/* Texts dense in what the rules look for: before issue 11 a long
 * cluster of digits cost time quadratic in its length. */
static void worst_cases(llm_mask_ruleset_t *rs, apr_pool_t *p)
{
    static const char *const units[][2] = {
        { "123 ", "dense digits" },
        { "44051401359 02070803628 ", "dense PESELs (valid)" },
        { "jan.kowalski@example.com ", "dense e-mails" },
        { "a@a.", "the shortest e-mails" },
        { "1-1-1-", "one run of digits" },
    };
    double worst = 0;
    apr_size_t len;
    size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        const char *text = repeated(p, &units[i][0], 1, WORST_SIZE, &len);
        double mbs = best_mbs(rs, p, text, len);

        printf("worst case, %.1f MiB, %-22s \"%s\" repeated: %.1f MB/s "
               "per core (best of %d)\n", (double)len / 1048576,
               units[i][1], units[i][0], mbs, WORST_ROUNDS);
        worst = i == 0 || mbs < worst ? mbs : worst;
    }
    printf("worst case, the slowest of these: %.1f MB/s per core (goal: "
           "20)\n", worst);
}

/* With the argument "typical", only the first row: what callgrind
 * counts per round (docs/performance.md). */
int main(int argc, char **argv)
{
    apr_pool_t *p;
    llm_mask_ruleset_t *rs;
    const char *err = NULL;
    char *text;
    apr_size_t len = 0, out_len, np = sizeof(paragraphs) / sizeof(*paragraphs);
    apr_time_t t0;
    double cpu[ROUNDS], c0, best_wall = 0;
    int i, n, values = 0;

    apr_initialize();
    apr_pool_create(&p, NULL);
    rs = llm_mask_ruleset_create(p);
    if (llm_mask_ruleset_compile(rs, &err) != APR_SUCCESS) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    text = apr_palloc(p, TEXT_SIZE + 1024);
    for (i = 0; len < TEXT_SIZE; i++) {
        const char *para = paragraphs[i % np];
        apr_size_t plen = strlen(para);

        memcpy(text + len, para, plen);
        len += plen;
    }
    text[len] = '\0';
    for (i = 0; i < ROUNDS; i++) {
        apr_pool_t *round;
        double mbs;

        apr_pool_create(&round, p);
        t0 = apr_time_now();
        c0 = cpu_seconds();
        llm_mask_apply(rs, NULL, round, text, len, &out_len, &n);
        cpu[i] = (double)len / 1e6 / (cpu_seconds() - c0);
        mbs = (double)len / 1e6 / ((double)(apr_time_now() - t0) / 1e6);
        best_wall = mbs > best_wall ? mbs : best_wall;
        values = n;
        apr_pool_destroy(round);
    }
    qsort(cpu, ROUNDS, sizeof(*cpu), by_value);
    printf("masking, %d rules, %.1f MiB of Polish text with %d values: "
           "%.1f MB/s per core of CPU time (best of %d; median %.1f); "
           "wall clock best %.1f MB/s\n", llm_mask_ruleset_count(rs),
           (double)len / 1048576, values, cpu[ROUNDS - 1], ROUNDS,
           cpu[ROUNDS / 2], best_wall);
    if (argc > 1 && !strcmp(argv[1], "typical")) {
        apr_terminate();
        return 0;
    }
    text = repeated(p, paragraphs, (int)np, WORST_SIZE, &len);
    printf("the same prose, %.1f MiB: %.1f MB/s per core (best of %d)\n",
           (double)len / 1048576, best_mbs(rs, p, text, len), WORST_ROUNDS);
    worst_cases(rs, p);
    apr_terminate();
    return 0;
}
