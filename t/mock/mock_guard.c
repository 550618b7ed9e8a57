/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A stand-in for the original router's guard services
 * (llm_router_services: POST /api/guardrails/nask_guard and
 * /api/guardrails/sojka_guard; masking.md §3, §4.1). The real ones run a
 * classifier over every string longer than 8 characters of the posted
 * JSON; this one calls a text unsafe when it contains "UNSAFE", so that
 * tests choose the verdict. The answer has the real shape:
 *   {"results":{"safe":bool,"detailed":[{"chunk_index","chunk_text",
 *    "label","score","safe"}]}}
 */

#include <string.h>

#include "httpd.h"
#include "http_protocol.h"

#include "mock.h"

static void texts(json_object *v, json_object *detailed, int *unsafe)
{
    size_t i;

    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        json_object *d;
        int bad;

        if (strlen(s) <= 8) {
            return;
        }
        bad = strstr(s, "UNSAFE") != NULL;
        d = json_object_new_object();
        json_object_object_add(d, "chunk_index", json_object_new_int(
            (int)json_object_array_length(detailed)));
        json_object_object_add(d, "chunk_text", json_object_new_string(s));
        json_object_object_add(d, "label", json_object_new_string(
            bad ? "crime" : "safe"));
        json_object_object_add(d, "score", json_object_new_double(
            bad ? 0.93 : 0.99));
        json_object_object_add(d, "safe", json_object_new_boolean(!bad));
        json_object_array_add(detailed, d);
        *unsafe |= bad;
    }
    else if (json_object_is_type(v, json_type_array)) {
        for (i = 0; i < json_object_array_length(v); i++) {
            texts(json_object_array_get_idx(v, i), detailed, unsafe);
        }
    }
    else if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, key, val) {
            (void)key;
            texts(val, detailed, unsafe);
        }
    }
}

int mock_guard(mock_ctx *ctx, json_object *req)
{
    json_object *o = json_object_new_object();
    json_object *results = json_object_new_object();
    json_object *detailed = json_object_new_array();
    int unsafe = 0;

    texts(req, detailed, &unsafe);
    json_object_object_add(results, "safe", json_object_new_boolean(!unsafe));
    json_object_object_add(results, "detailed", detailed);
    json_object_object_add(o, "results", results);
    return mock_send_json(ctx->r, HTTP_OK, o);
}
