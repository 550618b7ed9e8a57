/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl — the mod_llm suite's command-line tool.
 *
 *   llmctl <area> <command> [options] [arguments]
 *
 * One binary; each area (audit, key, config, models, mask) is a file of
 * its own, support/llmctl_<area>.c (models lives in llmctl_config.c,
 * beside the config commands), with its entry in the table below.
 * "llmctl <area> --help" describes an area's commands and exit codes.
 */

#include <stdio.h>
#include <string.h>

#include "apr_general.h"

#include "llmctl.h"
#include "mod_llm.h"

static const struct {
    const char *name;
    llmctl_area_fn fn;
    const char *summary;
} areas[] = {
    { "audit", llmctl_audit, "verify and read mod_llm_audit's trails" },
    { "key", llmctl_key, "create, rotate and revoke mod_llm_access's API keys" },
    { "config", llmctl_config, "check, discover and merge models files" },
    { "models", llmctl_models, "list a models file's models and providers" },
    { "mask", llmctl_mask, "mask personal data as mod_llm_mask does" },
};

static int usage(FILE *out)
{
    size_t i;

    fprintf(out, "usage: llmctl <area> <command> [options] [arguments]\n"
            "       llmctl <area> --help\n\nareas:\n");
    for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
        fprintf(out, "  %-8s %s\n", areas[i].name, areas[i].summary);
    }
    fprintf(out, "\nexit codes: 0 success, 1 failure (see each area), "
            "2 usage or unreadable input\n");
    return LLMCTL_USAGE;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    size_t i;
    int rc = -1;

    if (argc < 2) {
        return usage(stderr);
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return LLMCTL_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("llmctl (mod_llm) %s\n", LLM_VERSION_STRING);
        return LLMCTL_OK;
    }
    apr_app_initialize(&argc, &argv, NULL);
    apr_pool_create(&p, NULL);
    for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++) {
        if (!strcmp(argv[1], areas[i].name)) {
            rc = areas[i].fn(p, argc - 1, argv + 1);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "llmctl: no area %s\n", argv[1]);
        rc = usage(stderr);
    }
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
