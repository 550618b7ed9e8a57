/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* For the tests of files written beside another and renamed over it. */

#ifndef LLM_TEST_TEMP_FILES_H
#define LLM_TEST_TEMP_FILES_H

#include <glob.h>
#include <stdio.h>

/* How many "<path>.*" files are there (temporary files left behind). */
static inline int temp_files_left(const char *path)
{
    char pattern[4096];
    glob_t g;
    int n = 0;

    snprintf(pattern, sizeof(pattern), "%s.*", path);
    if (glob(pattern, 0, NULL, &g) == 0) {
        n = (int)g.gl_pathc;
        globfree(&g);
    }
    return n;
}

#endif
