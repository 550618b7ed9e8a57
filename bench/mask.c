/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The masking engine's throughput on one core: MB/s over 4 MiB of
 * mixed Polish text with PII (prose, an e-mail, a PESEL, a phone, an
 * IBAN, an amount, a date every few hundred bytes), with the default
 * rules, static tokens. Not a test: prints MB/s.
 * Built and run by bench/run (make -f Makefile.apxs bench-mask).
 */

#include <stdio.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "llm_mask.h"

#define TEXT_SIZE (4 * 1024 * 1024)
#define ROUNDS 5

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

int main(void)
{
    apr_pool_t *p;
    llm_mask_ruleset_t *rs;
    const char *err = NULL;
    char *text;
    apr_size_t len = 0, out_len, np = sizeof(paragraphs) / sizeof(*paragraphs);
    apr_time_t t0;
    double best = 0;
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
        llm_mask_apply(rs, NULL, round, text, len, &out_len, &n);
        mbs = (double)len / 1e6 / ((double)(apr_time_now() - t0) / 1e6);
        best = mbs > best ? mbs : best;
        values = n;
        apr_pool_destroy(round);
    }
    printf("masking, %d rules, %.1f MiB of Polish text with %d values: "
           "%.1f MB/s on one core (best of %d)\n", llm_mask_ruleset_count(rs),
           (double)len / 1048576, values, best, ROUNDS);
    apr_terminate();
    return 0;
}
