/* Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 * WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 * License for the specific language governing permissions and limitations
 * under the License.
 *
 * Copyright The mod_llm authors.
 */

/*
 * mock_faults.c: faults that change over time. "hits=KEY" appends one
 * line per request to logs/mock-hits-KEY.log (the time in microseconds
 * and the path), so a test sees how often and when the gateway came;
 * "fail_first=N" applies the request's faults (status, reset, hang) to
 * the first N hits of its key only, so a provider can fail and recover.
 * The file is written under an exclusive lock: every child process of
 * the mock's httpd counts in the same place.
 */

#include "apr_file_io.h"
#include "apr_lib.h"
#include "apr_time.h"

#include "mock.h"

static int valid_key(const char *key)
{
    const char *c;

    for (c = key; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_') {
            return 0;
        }
    }
    return *key != '\0';
}

/* Lines in the file so far, i.e. hits before this one. */
static apr_int64_t count_lines(apr_file_t *f, apr_pool_t *p)
{
    apr_int64_t n = 0;
    char buf[4096];
    apr_off_t at = 0;
    apr_size_t len;
    apr_size_t i;

    (void)p;
    apr_file_seek(f, APR_SET, &at);
    for (;;) {
        len = sizeof(buf);
        if (apr_file_read(f, buf, &len) != APR_SUCCESS || len == 0) {
            break;
        }
        for (i = 0; i < len; i++) {
            n += buf[i] == '\n';
        }
    }
    return n;
}

/* Records this hit; returns its number (1 for the first), 0 when the
 * key is unset or unusable. */
static apr_int64_t record_hit(mock_ctx *ctx)
{
    request_rec *r = ctx->r;
    const char *path;
    const char *line;
    apr_file_t *f;
    apr_int64_t n;
    apr_off_t end = 0;

    if (!ctx->opts.hits || !valid_key(ctx->opts.hits)) {
        return 0;
    }
    path = ap_server_root_relative(r->pool, apr_pstrcat(r->pool,
                                   "logs/mock-hits-", ctx->opts.hits,
                                   ".log", NULL));
    if (!path || apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_WRITE
                               | APR_FOPEN_CREATE, APR_FPROT_OS_DEFAULT,
                               r->pool) != APR_SUCCESS) {
        return 0;
    }
    apr_file_lock(f, APR_FLOCK_EXCLUSIVE);
    n = count_lines(f, r->pool) + 1;
    apr_file_seek(f, APR_END, &end);
    line = apr_psprintf(r->pool, "%" APR_TIME_T_FMT " %s\n", apr_time_now(),
                        r->uri);
    apr_file_write_full(f, line, strlen(line), NULL);
    apr_file_unlock(f);
    apr_file_close(f);
    return n;
}

void mock_faults_for_hit(mock_ctx *ctx)
{
    apr_int64_t n = record_hit(ctx);

    if (ctx->opts.fail_first >= 0 && n > ctx->opts.fail_first) {
        ctx->opts.status = 0;
        ctx->opts.reset = 0;
        ctx->opts.hang = 0;
        ctx->opts.retry_after = NULL;
    }
}

/* The text of a message's content: a string, or text blocks/parts. */
static const char *content_text(apr_pool_t *p, json_object *content)
{
    const char *all = "";
    size_t i;

    if (json_object_is_type(content, json_type_string)) {
        return json_object_get_string(content);
    }
    if (!json_object_is_type(content, json_type_array)) {
        return NULL;
    }
    for (i = 0; i < json_object_array_length(content); i++) {
        json_object *part = json_object_array_get_idx(content, i);
        const char *t = mock_string_member(part, "text", NULL);

        if (t) {
            all = apr_pstrcat(p, all, t, NULL);
        }
    }
    return all;
}

void mock_continuation(mock_ctx *ctx, json_object *req)
{
    json_object *messages = req ? mock_member(req, "messages") : NULL;
    json_object *last;
    const char *prefill;
    const char *content = ctx->opts.content;
    size_t n;

    if (!messages || !json_object_is_type(messages, json_type_array)
        || (n = json_object_array_length(messages)) == 0) {
        return;
    }
    last = json_object_array_get_idx(messages, n - 1);
    if (strcmp(mock_string_member(last, "role", ""), "assistant")
        || !(prefill = content_text(ctx->r->pool,
                                    mock_member(last, "content")))
        || !*prefill || strncmp(content, prefill, strlen(prefill))) {
        return;
    }
    ctx->opts.content = content + strlen(prefill);
    ctx->opts.drop_after = -1;
    ctx->opts.delay_ms = 0;
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, "LLMMOCK020: "
                  "continuing after a prefill of %" APR_SIZE_T_FMT " bytes",
                  strlen(prefill));
}
