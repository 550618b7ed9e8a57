/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl audit: check and read mod_llm_audit's trails (docs/audit.md).
 *
 *   llmctl audit verify [--partial] DIR|FILE...
 *   llmctl audit show [--keyring DIR] [--event NAME] DIR|FILE...
 */

#include <stdio.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "llmctl.h"
#include "llm_audit.h"
#include "llm_json.h"

#define EXIT_TORN 3

static const char help[] =
"usage: llmctl audit verify [--partial] DIR|FILE...\n"
"       llmctl audit show [--keyring DIR] [--event NAME] DIR|FILE...\n"
"\n"
"verify  checks the hash chain of the trail files (llm-audit.*.jsonl) in\n"
"        each DIR, or the FILEs given, across rotated files, in chain\n"
"        order. Needs no key: the chain covers the sealed records.\n"
"        Prints the first bad record: an edited, deleted, reordered or\n"
"        cut record, or a deleted file.\n"
"        --partial  the trail may start after seq 1 (older files removed\n"
"                   on purpose); the chain is checked from its first\n"
"                   record\n"
"        exit: 0 intact; 1 broken (the first bad record is named);\n"
"              2 usage, or a file cannot be read;\n"
"              3 intact, but a record torn by a crash is in it (named)\n"
"\n"
"show    prints each record as a JSON line, in chain order: sealed\n"
"        records are decrypted with the secret keys of the GnuPG home\n"
"        (--keyring, else GNUPGHOME, else ~/.gnupg). Torn records are\n"
"        skipped; run verify for the chain.\n"
"        --event NAME  only records of this event (request, masking,\n"
"                      guard)\n"
"        exit: 0 every record printed; 1 a record could not be opened;\n"
"              2 usage, or a file cannot be read\n";

static int verify(apr_pool_t *p, int argc, const char *const *argv)
{
    apr_array_header_t *dirs = apr_array_make(p, 4, sizeof(char *));
    llm_audit_report_t rep;
    int i, partial = 0;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return LLMCTL_OK;
        }
        if (!strcmp(argv[i], "--partial")) {
            partial = 1;
        }
        else if (argv[i][0] == '-') {
            fprintf(stderr, "llmctl audit verify: unknown option %s\n%s",
                    argv[i], help);
            return LLMCTL_USAGE;
        }
        else {
            APR_ARRAY_PUSH(dirs, const char *) = argv[i];
        }
    }
    if (!dirs->nelts) {
        fputs(help, stderr);
        return LLMCTL_USAGE;
    }
    if (llm_audit_verify(p, dirs, partial, &rep) != APR_SUCCESS) {
        fprintf(stderr, "llmctl audit verify: %s\n", rep.message);
        return LLMCTL_USAGE;
    }
    switch (rep.verdict) {
    case LLM_AUDIT_INTACT:
        printf("intact: %s\n", rep.message);
        return LLMCTL_OK;
    case LLM_AUDIT_TORN:
        printf("torn: %s (%" APR_UINT64_T_FMT " records chained in %d "
               "file(s))\n", rep.message, rep.records, rep.files);
        return EXIT_TORN;
    default:
        printf("BROKEN: %s (%" APR_UINT64_T_FMT " records chained before "
               "it)\n", rep.message, rep.records);
        return LLMCTL_FAIL;
    }
}

typedef struct {
    apr_pool_t *p;
    const char *event;
} show_t;

static int show_line(void *baton, const char *file, const char *line,
                     apr_size_t len)
{
    show_t *s = baton;

    (void)file;
    if (s->event) {
        json_object *o = llm_json_parse(line, len);
        const char *ev = o ? llm_json_str(o, "event", NULL) : NULL;
        int skip = !ev || strcmp(ev, s->event);

        if (o) {
            json_object_put(o);
        }
        if (skip) {
            return 0;
        }
    }
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    return 0;
}

static int show(apr_pool_t *p, int argc, const char *const *argv)
{
    apr_array_header_t *dirs = apr_array_make(p, 4, sizeof(char *));
    show_t s = { p, NULL };
    const char *keyring = NULL, *why;
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return LLMCTL_OK;
        }
        if (!strcmp(argv[i], "--keyring") && i + 1 < argc) {
            keyring = argv[++i];
        }
        else if (!strcmp(argv[i], "--event") && i + 1 < argc) {
            s.event = argv[++i];
        }
        else if (argv[i][0] == '-') {
            fprintf(stderr, "llmctl audit show: unknown option %s\n%s",
                    argv[i], help);
            return LLMCTL_USAGE;
        }
        else {
            APR_ARRAY_PUSH(dirs, const char *) = argv[i];
        }
    }
    if (!dirs->nelts) {
        fputs(help, stderr);
        return LLMCTL_USAGE;
    }
    if ((why = llm_audit_gpg_init()) != NULL) {
        fprintf(stderr, "llmctl audit show: %s\n", why);
        return LLMCTL_FAIL;
    }
    if ((why = llm_audit_read(p, dirs, keyring, show_line, &s)) != NULL) {
        fflush(stdout);
        fprintf(stderr, "llmctl audit show: %s\n", why);
        return strstr(why, "cannot be read") || strstr(why, "no such")
               ? LLMCTL_USAGE : LLMCTL_FAIL;
    }
    return LLMCTL_OK;
}

int llmctl_audit(apr_pool_t *p, int argc, const char *const *argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? LLMCTL_USAGE : LLMCTL_OK;
    }
    if (!strcmp(argv[1], "verify")) {
        return verify(p, argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "show")) {
        return show(p, argc - 1, argv + 1);
    }
    fprintf(stderr, "llmctl audit: no command %s\n%s", argv[1], help);
    return LLMCTL_USAGE;
}
