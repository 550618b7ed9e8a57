/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The external guard services' client (llm_guard_service.h). */

#include <pthread.h>

#include <curl/curl.h>

#include "apr_strings.h"

#include "llm_buf.h"
#include "llm_json.h"
#include "llm_guard_service.h"

void llm_guard_service_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ------------------------------------------------------------------ */
/* One libcurl handle per thread                                       */
/* ------------------------------------------------------------------ */

/* A new easy handle per request meant a new TCP connection (and TLS
 * handshake) per guarded request: libcurl keeps idle connections in
 * the handle's cache, which died with it. Each thread now keeps its
 * handle between requests. The handle is taken out of the thread's
 * slot for a call and given back after it, as core's JSON tokener is,
 * so that a call made while another is under way simply gets a handle
 * of its own. */
static pthread_key_t handle_key;
static pthread_once_t handle_once = PTHREAD_ONCE_INIT;
static int handle_key_ok;

static void free_handle(void *h)
{
    curl_easy_cleanup(h);
}

static void make_handle_key(void)
{
    handle_key_ok = pthread_key_create(&handle_key, free_handle) == 0;
}

static CURL *take_handle(void)
{
    CURL *h;

    pthread_once(&handle_once, make_handle_key);
    if (handle_key_ok && (h = pthread_getspecific(handle_key)) != NULL) {
        pthread_setspecific(handle_key, NULL);
        return h;
    }
    return curl_easy_init();
}

/* Reset drops the options, which point into the call's pool and at its
 * body, and keeps the live connections, DNS and TLS session caches. */
static void give_handle(CURL *h)
{
    curl_easy_reset(h);
    if (handle_key_ok && !pthread_getspecific(handle_key)
        && pthread_setspecific(handle_key, h) == 0) {
        return;
    }
    curl_easy_cleanup(h);
}

/* ------------------------------------------------------------------ */
/* The exchange                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    llm_buf_t buf;
    int too_big;
} answer_t;

/* libcurl's writer: the answer, capped (returning less fails the
 * transfer). */
static size_t keep_answer(char *ptr, size_t size, size_t n, void *data)
{
    answer_t *a = data;
    apr_size_t len = size * n;

    if (a->buf.len + len > LLM_GUARD_SERVICE_ANSWER_MAX) {
        a->too_big = 1;
        return 0;
    }
    llm_buf_add(&a->buf, ptr, len);
    return len;
}

/* The header list is returned to be freed once the transfer is over:
 * libcurl does not copy it. */
static struct curl_slist *set_options(CURL *h, const char *url,
                                      const char *body, apr_size_t len,
                                      apr_interval_time_t timeout,
                                      answer_t *a)
{
    struct curl_slist *hdr = curl_slist_append(
        NULL, "Content-Type: application/json");
    long ms = (long)apr_time_as_msec(timeout);

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    /* 0 would mean no limit at all. */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
    /* No SIGALRM for name lookups in a threaded server. */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    return hdr;
}

apr_status_t llm_guard_http_post(apr_pool_t *p, const char *url,
                                 const char *body, apr_size_t len,
                                 apr_interval_time_t timeout, int *status,
                                 const char **answer, apr_size_t *answer_len,
                                 const char **why)
{
    CURL *h = take_handle();
    struct curl_slist *hdr;
    answer_t a;
    long code = 0;
    CURLcode rc;

    if (!h) {
        *why = "no HTTP client";
        return APR_ENOMEM;
    }
    llm_buf_init(&a.buf, p);
    a.too_big = 0;
    hdr = set_options(h, url, body, len, timeout, &a);
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    give_handle(h);
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        *why = a.too_big ? "an answer over 1 MiB" : curl_easy_strerror(rc);
        return rc == CURLE_OPERATION_TIMEDOUT ? APR_TIMEUP : APR_EGENERAL;
    }
    *status = (int)code;
    *answer = a.buf.data ? a.buf.data : "";
    *answer_len = a.buf.len;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* The verdict                                                         */
/* ------------------------------------------------------------------ */

llm_guard_service_e llm_guard_service_verdict(const char *answer,
                                              apr_size_t len,
                                              const char **why)
{
    json_object *o = answer ? llm_json_parse(answer, len) : NULL;
    json_object *results = NULL;
    json_object *safe;
    llm_guard_service_e v;

    if (!o) {
        *why = "an answer that is not JSON";
        return LLM_GUARD_SERVICE_UNKNOWN;
    }
    /* "results": null counts as results without "safe" (unsafe), as in
     * the original: only an answer without the member cannot tell. */
    if (!llm_json_is(o, json_type_object)
        || !json_object_object_get_ex(o, "results", &results)) {
        *why = "an answer without \"results\"";
        json_object_put(o);
        return LLM_GUARD_SERVICE_UNKNOWN;
    }
    safe = llm_json_get(results, "safe");
    v = safe && json_object_get_boolean(safe) ? LLM_GUARD_SERVICE_SAFE
                                              : LLM_GUARD_SERVICE_UNSAFE;
    *why = v == LLM_GUARD_SERVICE_SAFE ? "safe" : "unsafe";
    json_object_put(o);
    return v;
}

llm_guard_service_e llm_guard_service_ask(llm_guard_post_fn *post,
                                          apr_pool_t *p, const char *url,
                                          const char *body, apr_size_t len,
                                          apr_interval_time_t timeout,
                                          const char **why)
{
    const char *answer = NULL;
    apr_size_t answer_len = 0;
    int status = 0;

    if (!post) {
        post = llm_guard_http_post;
    }
    if (post(p, url, body, len, timeout, &status, &answer, &answer_len,
             why) != APR_SUCCESS) {
        return LLM_GUARD_SERVICE_UNKNOWN;
    }
    if (status < 200 || status > 299) {
        *why = apr_psprintf(p, "HTTP %d", status);
        return LLM_GUARD_SERVICE_UNKNOWN;
    }
    return llm_guard_service_verdict(answer, answer_len, why);
}
