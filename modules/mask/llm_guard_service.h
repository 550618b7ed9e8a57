/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_guard_service.h
 * @brief The client of the external guard services (LLMGuardService):
 *        the original router's nask_guard / sojka_guard contract over
 *        HTTP. APR, libcurl and core's JSON helpers, no request_rec;
 *        unit-tested in t/unit/test_guard_service.c against a server on
 *        127.0.0.1.
 *
 * The contract: POST the request body (JSON) to the service's URL; a
 * 2xx answer is {"results":{"safe":bool,"detailed":[...]}}. A missing
 * "safe" is unsafe; anything else ("results" missing, not JSON, another
 * status, no answer in time) means the service could not tell, and the
 * caller decides (LLMGuardServiceFailure).
 *
 * The HTTP exchange is behind a seam (llm_guard_post_fn) so that the
 * verdict logic does not depend on how the bytes travel; the libcurl
 * implementation keeps one handle per thread, and with it the thread's
 * keep-alive connections to the services.
 */

#ifndef LLM_GUARD_SERVICE_H
#define LLM_GUARD_SERVICE_H

#include "apr_pools.h"
#include "apr_time.h"

/** The largest answer read from a service: a verdict is small, so a
 *  bigger one is treated as no answer. */
#define LLM_GUARD_SERVICE_ANSWER_MAX (1024 * 1024)

/** What a service said about a request. */
typedef enum {
    LLM_GUARD_SERVICE_SAFE = 0,
    LLM_GUARD_SERVICE_UNSAFE,
    LLM_GUARD_SERVICE_UNKNOWN   /**< could not tell (why in *why) */
} llm_guard_service_e;

/**
 * The HTTP seam: POST @a len bytes of JSON @a body to @a url, with
 * @a timeout for the whole exchange, connection included. Sets *status
 * (the HTTP status) and *answer / *answer_len (the answer's body,
 * NUL-terminated, from @a p; at most LLM_GUARD_SERVICE_ANSWER_MAX
 * bytes). Returns APR_SUCCESS, or an error with the reason in *why.
 */
typedef apr_status_t llm_guard_post_fn(apr_pool_t *p, const char *url,
                                       const char *body, apr_size_t len,
                                       apr_interval_time_t timeout,
                                       int *status, const char **answer,
                                       apr_size_t *answer_len,
                                       const char **why);

/** Once per process before any thread posts (libcurl's global set-up;
 *  not thread-safe). */
void llm_guard_service_init(void);

/**
 * The seam's libcurl implementation. Each thread keeps one easy handle
 * for its next call, reset between uses: its connection cache keeps
 * the connections to the services alive, so a guarded request costs a
 * round trip, not a TCP (and TLS) handshake. Redirects are not
 * followed. The handle is released when its thread ends.
 */
apr_status_t llm_guard_http_post(apr_pool_t *p, const char *url,
                                 const char *body, apr_size_t len,
                                 apr_interval_time_t timeout, int *status,
                                 const char **answer, apr_size_t *answer_len,
                                 const char **why);

/** The verdict in the body of a service's 2xx answer: SAFE when
 *  results.safe is true (json-c's boolean conversion, as Python's
 *  bool() in the original), UNSAFE when it is false or missing, UNKNOWN
 *  without "results" or when @a answer is not one JSON text. */
llm_guard_service_e llm_guard_service_verdict(const char *answer,
                                              apr_size_t len,
                                              const char **why);

/**
 * Ask the service at @a url about @a body through @a post (NULL: the
 * libcurl one). UNKNOWN (why in *why, from @a p) when the exchange
 * failed or the status is not 2xx (3xx included).
 */
llm_guard_service_e llm_guard_service_ask(llm_guard_post_fn *post,
                                          apr_pool_t *p, const char *url,
                                          const char *body, apr_size_t len,
                                          apr_interval_time_t timeout,
                                          const char **why);

#endif /* LLM_GUARD_SERVICE_H */
