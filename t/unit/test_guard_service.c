/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The guard services' client without httpd: verdicts read from answers
 * of every shape, and the libcurl seam against a small HTTP/1.1 server
 * on 127.0.0.1 (plain sockets, a thread per connection) that counts the
 * connections it accepts: requests from one thread reuse one kept-alive
 * connection, a connection the service closed is replaced, a silent or
 * absent service and a malformed or oversized answer cannot tell. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                  /* memmem, strcasestr */
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "tap.h"
#include "llm_guard_service.h"

static apr_pool_t *pool;

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

static int listener;
static int port;
static int accepts;                  /* connections accepted so far */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_request[4096];      /* the last request's head and body */

typedef struct {
    char buf[65536];
    size_t len;
} conn_buf_t;

static int accepted(void)
{
    return __atomic_load_n(&accepts, __ATOMIC_SEQ_CST);
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);

        if (k <= 0) {
            return;
        }
        s += k;
        n -= (size_t)k;
    }
}

/* One whole request (head and Content-Length body) at the start of
 * b->buf, reading as needed: its length, or 0 at the end of the
 * connection. */
static size_t read_request(int fd, conn_buf_t *b)
{
    for (;;) {
        char *end = memmem(b->buf, b->len, "\r\n\r\n", 4);
        ssize_t k;

        if (end) {
            const char *cl = strcasestr(b->buf, "\r\nContent-Length:");
            size_t head = (size_t)(end + 4 - b->buf);
            size_t whole = head + (cl && cl < end ? strtoul(cl + 17, NULL,
                                                            10) : 0);

            if (whole <= b->len) {
                return whole;
            }
        }
        if (b->len == sizeof(b->buf)) {
            return 0;
        }
        k = recv(fd, b->buf + b->len, sizeof(b->buf) - b->len, 0);
        if (k <= 0) {
            return 0;
        }
        b->len += (size_t)k;
    }
}

static void answer(int fd, int status, const char *body, int close_it)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n%s\r\n", status, strlen(body),
                     close_it ? "Connection: close\r\n" : "");

    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

/* What each path answers; 0 to keep the connection, 1 to close it. */
static int respond(int fd, const char *path)
{
    static const char safe[] = "{\"results\":{\"safe\":true,"
                               "\"detailed\":[]}}";

    if (!strncmp(path, "/unsafe ", 8)) {
        answer(fd, 200, "{\"results\":{\"safe\":false}}", 0);
    }
    else if (!strncmp(path, "/bad ", 5)) {
        answer(fd, 200, "{\"results\": {\"safe\": tr", 0);
    }
    else if (!strncmp(path, "/error ", 7)) {
        answer(fd, 500, "{}", 0);
    }
    else if (!strncmp(path, "/big ", 5)) {
        char *big = malloc(LLM_GUARD_SERVICE_ANSWER_MAX + 2);

        memset(big, ' ', LLM_GUARD_SERVICE_ANSWER_MAX + 1);
        big[LLM_GUARD_SERVICE_ANSWER_MAX + 1] = '\0';
        answer(fd, 200, big, 0);
        free(big);
    }
    else if (!strncmp(path, "/slow ", 6)) {
        usleep(1000 * 1000);
        answer(fd, 200, safe, 0);
    }
    else {
        /* /close says so; /drop closes an idle connection unannounced,
         * as a service's keep-alive timeout does. */
        answer(fd, 200, safe, !strncmp(path, "/close ", 7));
        return !strncmp(path, "/close ", 7) || !strncmp(path, "/drop ", 6);
    }
    return 0;
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    conn_buf_t *b = calloc(1, sizeof(*b));
    size_t n;

    while ((n = read_request(fd, b)) > 0) {
        const char *path = strchr(b->buf, ' ');

        pthread_mutex_lock(&seen_lock);
        snprintf(seen_request, sizeof(seen_request), "%.*s", (int)n, b->buf);
        pthread_mutex_unlock(&seen_lock);
        if (!path || respond(fd, path + 1)) {
            break;
        }
        memmove(b->buf, b->buf + n, b->len - n);
        b->len -= n;
    }
    close(fd);
    free(b);
    return NULL;
}

static void *serve(void *unused)
{
    int fd;

    (void)unused;
    while ((fd = accept(listener, NULL, NULL)) >= 0) {
        pthread_t t;

        __atomic_add_fetch(&accepts, 1, __ATOMIC_SEQ_CST);
        pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

/* A socket on a free loopback port (listening or not). */
static int loopback_socket(int *p, int listen_too)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0
        || (listen_too && listen(fd, 16) != 0)
        || getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        return -1;
    }
    *p = ntohs(a.sin_port);
    return fd;
}

static int start_server(void)
{
    pthread_t t;

    listener = loopback_socket(&port, 1);
    return listener >= 0 && pthread_create(&t, NULL, serve, NULL) == 0;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static const char body[] = "{\"model\":\"m\",\"messages\":[{\"role\":"
                           "\"user\",\"content\":\"hi\"}]}";

static const char *url(const char *path)
{
    return apr_psprintf(pool, "http://127.0.0.1:%d%s", port, path);
}

static llm_guard_service_e ask(const char *path, apr_interval_time_t t,
                               const char **why)
{
    return llm_guard_service_ask(NULL, pool, url(path), body,
                                 strlen(body), t, why);
}

static const char *verdict_of(const char *answer)
{
    const char *why = NULL;

    switch (llm_guard_service_verdict(answer, strlen(answer), &why)) {
    case LLM_GUARD_SERVICE_SAFE:   return "safe";
    case LLM_GUARD_SERVICE_UNSAFE: return "unsafe";
    default:                       return apr_pstrcat(pool, "unknown: ",
                                                      why, NULL);
    }
}

static void test_verdicts(void)
{
    is_str(verdict_of("{\"results\":{\"safe\":true,\"detailed\":[]}}"),
           "safe", "results.safe true");
    is_str(verdict_of(" {\"results\":{\"safe\":1}}\n"), "safe",
           "a truthy safe, white space around");
    is_str(verdict_of("{\"results\":{\"safe\":false}}"), "unsafe",
           "results.safe false");
    is_str(verdict_of("{\"results\":{\"detailed\":[]}}"), "unsafe",
           "results without safe is unsafe");
    is_str(verdict_of("{\"results\":null}"), "unsafe",
           "results null is unsafe (as the original)");
    is_str(verdict_of("{\"detailed\":[]}"),
           "unknown: an answer without \"results\"", "no results");
    is_str(verdict_of("[1]"), "unknown: an answer without \"results\"",
           "not an object");
    is_str(verdict_of("{\"results\":{\"safe\":tr"),
           "unknown: an answer that is not JSON", "a cut answer");
    is_str(verdict_of("{\"results\":{\"safe\":true}} x"),
           "unknown: an answer that is not JSON", "text after the JSON");
    is_str(verdict_of(""), "unknown: an answer that is not JSON",
           "an empty answer");
}

/* The seam: a fake transport answering a redirect. */
static apr_status_t redirected(apr_pool_t *p, const char *u, const char *b,
                               apr_size_t len, apr_interval_time_t t,
                               int *status, const char **answer,
                               apr_size_t *answer_len, const char **why)
{
    (void)p; (void)u; (void)b; (void)len; (void)t; (void)why;
    *status = 302;
    *answer = "{\"results\":{\"safe\":true}}";
    *answer_len = strlen(*answer);
    return APR_SUCCESS;
}

static void test_seam(void)
{
    const char *why = NULL;

    is_int(llm_guard_service_ask(redirected, pool, "http://x/", body,
                                 strlen(body), apr_time_from_sec(1), &why),
           LLM_GUARD_SERVICE_UNKNOWN, "a 3xx cannot tell (not followed)");
    is_str(why, "HTTP 302", "why: the status");
}

static void test_exchange(void)
{
    const char *why = NULL;
    apr_interval_time_t t = apr_time_from_sec(5);
    char seen[sizeof(seen_request)];

    is_int(ask("/safe", t, &why), LLM_GUARD_SERVICE_SAFE, "a safe verdict");
    pthread_mutex_lock(&seen_lock);
    memcpy(seen, seen_request, sizeof(seen));
    pthread_mutex_unlock(&seen_lock);
    like(seen, "POST /safe HTTP/1.1\r\n", "posted to the URL's path");
    like(seen, "\r\nContent-Type: application/json\r\n", "as JSON");
    like(seen, apr_pstrcat(pool, "\r\n\r\n", body, NULL), "the whole body");
    is_int(ask("/unsafe", t, &why), LLM_GUARD_SERVICE_UNSAFE,
           "an unsafe verdict");
    is_int(ask("/safe", t, &why), LLM_GUARD_SERVICE_SAFE, "safe again");
    is_int(accepted(), 1, "three requests, one connection (kept alive)");
}

static void test_reconnect(void)
{
    const char *why = NULL;
    apr_interval_time_t t = apr_time_from_sec(5);
    int before = accepted();

    is_int(ask("/close", t, &why), LLM_GUARD_SERVICE_SAFE,
           "an answer with Connection: close");
    is_int(ask("/drop", t, &why), LLM_GUARD_SERVICE_SAFE,
           "then a new connection, which the service drops after");
    usleep(50 * 1000);
    is_int(ask("/safe", t, &why), LLM_GUARD_SERVICE_SAFE,
           "a dropped idle connection is replaced");
    is_int(accepted() - before, 2, "one new connection after each close");
}

static void *ask_from_thread(void *verdict)
{
    const char *why = NULL;

    *(int *)verdict = ask("/safe", apr_time_from_sec(5), &why);
    return NULL;
}

static void test_per_thread(void)
{
    pthread_t t;
    int verdict = -1;
    int before = accepted();

    pthread_create(&t, NULL, ask_from_thread, &verdict);
    pthread_join(t, NULL);
    is_int(verdict, LLM_GUARD_SERVICE_SAFE, "another thread's verdict");
    is_int(accepted() - before, 1, "on a connection of its own");
}

static void test_failures(void)
{
    const char *why = NULL;
    apr_time_t t0;
    int closed_port = 0;
    int fd = loopback_socket(&closed_port, 0);

    is_int(ask("/bad", apr_time_from_sec(5), &why),
           LLM_GUARD_SERVICE_UNKNOWN, "a malformed answer cannot tell");
    is_str(why, "an answer that is not JSON", "why: not JSON");
    is_int(ask("/error", apr_time_from_sec(5), &why),
           LLM_GUARD_SERVICE_UNKNOWN, "HTTP 500 cannot tell");
    is_str(why, "HTTP 500", "why: the status");
    is_int(ask("/big", apr_time_from_sec(5), &why),
           LLM_GUARD_SERVICE_UNKNOWN, "an answer over 1 MiB cannot tell");
    is_str(why, "an answer over 1 MiB", "why: its size");
    t0 = apr_time_now();
    is_int(ask("/slow", apr_time_from_msec(200), &why),
           LLM_GUARD_SERVICE_UNKNOWN, "a silent service cannot tell");
    ok(apr_time_now() - t0 < apr_time_from_msec(900),
       "given up at the timeout");
    like(why, "imeout", "why: the timeout");
    close(fd);
    is_int(llm_guard_service_ask(NULL, pool, apr_psprintf(pool,
               "http://127.0.0.1:%d/safe", closed_port), body, strlen(body),
               apr_time_from_sec(2), &why),
           LLM_GUARD_SERVICE_UNKNOWN, "an unreachable service cannot tell");
    ok(why && *why, apr_pstrcat(pool, "why: ", why ? why : "(none)", NULL));
    is_int(ask("/safe", apr_time_from_sec(5), &why), LLM_GUARD_SERVICE_SAFE,
           "and the thread's handle still works after the failures");
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    signal(SIGPIPE, SIG_IGN);
    llm_guard_service_init();
    test_verdicts();
    test_seam();
    if (!ok(start_server(), "a server on 127.0.0.1")) {
        return tap_done();
    }
    test_exchange();
    test_reconnect();
    test_per_thread();
    test_failures();
    return tap_done();
}
