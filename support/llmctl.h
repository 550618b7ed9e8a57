/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* llmctl: one command-line tool, one area per file (llmctl_<area>.c). */

#ifndef LLMCTL_H
#define LLMCTL_H

#include "apr_pools.h"

/* Exit codes every area shares; an area documents its own above 2. */
#define LLMCTL_OK     0
#define LLMCTL_FAIL   1             /* the check failed, or the work */
#define LLMCTL_USAGE  2             /* bad arguments, unreadable input */

/* An area's entry: argv[0] is the area's name. Returns an exit code. */
typedef int (*llmctl_area_fn)(apr_pool_t *p, int argc, const char *const *argv);

int llmctl_audit(apr_pool_t *p, int argc, const char *const *argv);
int llmctl_key(apr_pool_t *p, int argc, const char *const *argv);
int llmctl_config(apr_pool_t *p, int argc, const char *const *argv);
int llmctl_models(apr_pool_t *p, int argc, const char *const *argv);
int llmctl_mask(apr_pool_t *p, int argc, const char *const *argv);

#endif /* LLMCTL_H */
