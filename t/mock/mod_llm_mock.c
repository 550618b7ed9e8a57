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
 * mod_llm_mock.c: a test-only stand-in for the LLM servers the gateway
 * talks to: an OpenAI-compatible server (answering like vLLM's OpenAI
 * server: same JSON shapes and key order, same SSE framing), Ollama's
 * native API (as Ollama 0.9 answers) and Anthropic's Messages API (as
 * api.anthropic.com answers).  So the gateway can be tested, and
 * demonstrated, without a GPU.  It also fails on demand: forced HTTP
 * errors, a slow first byte, a hang, a TCP reset, a stream cut in the
 * middle, an error inside a stream.
 *
 *     <Location />
 *         SetHandler llm-mock
 *     </Location>
 *
 * Every knob can be set by a path segment "k=v" (so a provider base URL in
 * a config file can carry a fault, e.g. http://127.0.0.1:8081/ttfb=3000)
 * or by a request header "X-Mock-K: v"; the header wins.  The "k=v"
 * segments are left out when the endpoint is matched.
 *
 *   status=N        answer N (>= 400) with the endpoint's API error shape
 *   retry_after=S   with a Retry-After header
 *   error_style=    "openai" (default) or "vllm" error bodies (OpenAI API)
 *   ttfb=MS         wait before answering at all
 *   hang=1          never answer (hang_ms=MS, default 30000), then close
 *   reset=1         reset the connection instead of answering
 *   content=TEXT    the answer text; chunks=N pieces of it when streamed,
 *                   delay=MS before each piece (each piece is flushed)
 *   drop_after=N    cut a stream after N pieces (drop_rst=0: FIN, not RST)
 *   ping=N          OpenAI/vLLM chat streams: N keep-alive comments
 *                   (": ping", as OpenRouter and others send) after the
 *                   role chunk, before the first token, each after
 *                   ping_ms=MS and ping_pad=B bytes longer
 *   stream_error=1  end a stream with an in-band error after the pieces
 *                   (Ollama: also a non-streamed 500)
 *   bad_event=N     one malformed event (JSON cut in its middle, its text
 *                   "BROKEN") after N pieces of a stream, then the rest:
 *                   OpenAI/vLLM "data: {...BROKEN", Ollama an NDJSON line
 *                   "{...BROKEN", Anthropic under the name of the event
 *                   before it (content_block_delta)
 *   no_done=1       end a stream after its finish reason but without its
 *                   end marker: OpenAI/vLLM no "data: [DONE]" (after the
 *                   finish chunk and the usage chunk if asked), Anthropic
 *                   no message_stop (after message_delta with
 *                   stop_reason and usage); Ollama, whose finish is its
 *                   done:true line, without that line: a stream cut
 *                   before its finish, closed cleanly
 *   nul=TEXT        each TEXT in the JSON text of an answer (whole or
 *                   streamed) is sent as \u0000 (content=a@b nul=@ gives
 *                   the text "a", NUL, "b")
 *   tool=NAME       answer with a call of that tool (chat endpoints);
 *                   tool_args=JSON its arguments (an object)
 *   think=TEXT      reasoning sent before the answer (chat endpoints)
 *   models=A,B      only these models exist (404 for others, listings)
 *   require_key=K   Anthropic: insist on "x-api-key: K"
 *   stamp=1         add "mock_sent_us" to each streamed event
 *   dim=N           embedding size
 *   echo=1          answer with what was received (as /echo does)
 *   stream_mode=    Ollama: "always" or "never" stream, whatever asked
 *   record=NAME     write what was received to logs/mock-NAME.json and
 *                   answer as usual (for answers the gateway translates)
 *   hits=KEY        append "<time us> <path>" to logs/mock-hits-KEY.log
 *   fail_first=N    with hits: the faults (status, reset, hang) apply to
 *                   the first N hits of KEY only, then it answers
 *   error_message=  the message of a forced error (status=N)
 *
 * A chat request whose last message is the assistant's, with a text that
 * "content" begins with (a prefill), is answered with the rest of
 * "content", at once and never cut: the continuation of a cut answer.
 *
 * Faults (hang, reset, status) win over echo, and echo over the endpoint.
 *
 * Endpoints, matched on the end of the path:
 *   OpenAI:    /v1/chat/completions, /v1/completions, /v1/embeddings,
 *              /v1/responses, /v1/models, /health
 *   Ollama:    / (exactly), /api/version, /api/tags, /api/show, /api/chat,
 *              /api/generate, /api/embed, /api/embeddings
 *   Anthropic: /v1/messages
 *   Guards:    /api/guardrails/nask_guard, /api/guardrails/sojka_guard
 *              (the original's guard services: "UNSAFE" in a text is
 *              unsafe)
 *   and /echo, which returns what the gateway forwarded.
 *
 * Not for production: the module trusts its client completely.
 */

#include <string.h>

#include "mock.h"

module AP_MODULE_DECLARE_DATA llm_mock_module;

/* ------------------------------------------------------------------ */
/* Routing                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *suffix;
    int exact;                  /* the whole route, not its end */
    int method;                 /* M_GET also covers HEAD */
    const char *allow;
    mock_api api;
    mock_endpoint_fn fn;
} mock_endpoint;

static const mock_endpoint mock_endpoints[] = {
    { "/v1/chat/completions", 0, M_POST, "POST", MOCK_API_OPENAI,
      mock_openai_chat },
    { "/v1/completions",      0, M_POST, "POST", MOCK_API_OPENAI,
      mock_openai_completions },
    { "/v1/embeddings",       0, M_POST, "POST", MOCK_API_OPENAI,
      mock_openai_embeddings },
    { "/v1/responses",        0, M_POST, "POST", MOCK_API_OPENAI,
      mock_openai_responses },
    { "/v1/models",           0, M_GET,  "GET, HEAD", MOCK_API_OPENAI,
      mock_openai_models },
    { "/health",              0, M_GET,  "GET, HEAD", MOCK_API_OPENAI,
      mock_health },
    { "/api/guardrails/nask_guard",  0, M_POST, "POST", MOCK_API_OPENAI,
      mock_guard },
    { "/api/guardrails/sojka_guard", 0, M_POST, "POST", MOCK_API_OPENAI,
      mock_guard },
    { "/v1/messages",         0, M_POST, "POST", MOCK_API_ANTHROPIC,
      mock_anthropic_messages },
    { "/api/chat",            0, M_POST, "POST", MOCK_API_OLLAMA,
      mock_ollama_chat },
    { "/api/generate",        0, M_POST, "POST", MOCK_API_OLLAMA,
      mock_ollama_generate },
    { "/api/embed",           0, M_POST, "POST", MOCK_API_OLLAMA,
      mock_ollama_embed },
    { "/api/embeddings",      0, M_POST, "POST", MOCK_API_OLLAMA,
      mock_ollama_embeddings },
    { "/api/show",            0, M_POST, "POST", MOCK_API_OLLAMA,
      mock_ollama_show },
    { "/api/tags",            0, M_GET,  "GET, HEAD", MOCK_API_OLLAMA,
      mock_ollama_tags },
    { "/api/version",         0, M_GET,  "GET, HEAD", MOCK_API_OLLAMA,
      mock_ollama_version },
    { "/",                    1, M_GET,  "GET, HEAD", MOCK_API_OLLAMA,
      mock_ollama_home },
};

static const mock_endpoint *find_endpoint(const char *route)
{
    const mock_endpoint *ep;
    apr_size_t i;

    for (i = 0; i < sizeof(mock_endpoints) / sizeof(mock_endpoints[0]);
         i++) {
        ep = &mock_endpoints[i];
        if (ep->exact ? !strcmp(route, ep->suffix)
                      : mock_ends_with(route, ep->suffix)) {
            return ep;
        }
    }
    return NULL;
}

static int send_fault(mock_ctx *ctx, const mock_endpoint *ep)
{
    switch (ep ? ep->api : MOCK_API_OPENAI) {
    case MOCK_API_OLLAMA:
        return mock_ollama_fault(ctx);
    case MOCK_API_ANTHROPIC:
        return mock_anthropic_fault(ctx);
    default:
        return mock_openai_fault(ctx);
    }
}

static int send_bad_json(mock_ctx *ctx, const mock_endpoint *ep)
{
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ctx->r, "LLMMOCK010: "
                  "request body is not a JSON object");
    switch (ep->api) {
    case MOCK_API_OLLAMA:
        return mock_ollama_bad_json(ctx);
    case MOCK_API_ANTHROPIC:
        return mock_anthropic_bad_json(ctx);
    default:
        return mock_openai_bad_json(ctx);
    }
}

static int dispatch(mock_ctx *ctx, const mock_endpoint *ep)
{
    request_rec *r = ctx->r;
    json_object *req = NULL;
    int rv;

    if (!ep) {
        return mock_openai_route_error(ctx, HTTP_NOT_FOUND, "Not Found");
    }
    if (r->method_number != ep->method) {
        apr_table_setn(r->headers_out, "Allow", ep->allow);
        if (ep->api == MOCK_API_OLLAMA) {
            return mock_ollama_method_error(ctx);
        }
        if (ep->api == MOCK_API_ANTHROPIC) {
            return mock_anthropic_method_error(ctx);
        }
        return mock_openai_route_error(ctx, HTTP_METHOD_NOT_ALLOWED,
                                       "Method Not Allowed");
    }
    if (ep->api == MOCK_API_ANTHROPIC) {
        rv = mock_anthropic_check_headers(ctx);
        if (rv != DECLINED) {
            return rv;
        }
    }
    if (ep->method == M_POST) {
        req = mock_parse_body(ctx);
        if (!req) {
            return send_bad_json(ctx, ep);
        }
        mock_continuation(ctx, req);
    }
    return ep->fn(ctx, req);
}

/* Order matters: ttfb delays everything, then the faults (hang, reset,
 * status) win over echo, as a broken server does not echo; and a fault
 * beats the endpoint (so a base URL with status=503 fails every call
 * made under it). */
static int llm_mock_handler(request_rec *r)
{
    const mock_endpoint *ep;
    mock_ctx ctx;
    int rv;

    if (!r->handler || strcmp(r->handler, MOCK_HANDLER)) {
        return DECLINED;
    }
    ctx.r = r;
    mock_default_opts(&ctx.opts);
    ctx.route = mock_opts_from_path(r, &ctx.opts);
    mock_opts_from_headers(r, &ctx.opts);
    if (ctx.opts.nul) {
        apr_table_setn(r->notes, "mock-nul", ctx.opts.nul);
    }
    ep = find_endpoint(ctx.route);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "LLMMOCK001: "
                  "%s %s routed as %s", r->method, r->uri, ctx.route);

    rv = mock_read_body(&ctx);
    if (rv == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        r->connection->keepalive = AP_CONN_CLOSE;
        ctx.opts.status = rv;
        if (ep && ep->api != MOCK_API_OPENAI) {
            return send_fault(&ctx, ep);
        }
        return mock_openai_too_large(&ctx);
    }
    if (rv != OK) {
        return rv;
    }
    if (ctx.opts.record && *ctx.opts.record) {
        mock_record(&ctx);
    }
    mock_faults_for_hit(&ctx);
    mock_sleep_ms(ctx.opts.ttfb_ms);
    /* Faults first: a broken server does not echo. */
    if (ctx.opts.hang) {
        return mock_hang_up(&ctx);
    }
    if (ctx.opts.reset) {
        return mock_reset_connection(&ctx);
    }
    if (ctx.opts.status >= 400) {
        return send_fault(&ctx, ep);
    }
    if (ctx.opts.echo || mock_ends_with(ctx.route, "/echo")) {
        return mock_echo(&ctx);
    }
    return dispatch(&ctx, ep);
}

static void llm_mock_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_handler(llm_mock_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(llm_mock) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* per-directory config creator */
    NULL,                       /* dir config merger */
    NULL,                       /* server config creator */
    NULL,                       /* server config merger */
    NULL,                       /* command table */
    llm_mock_register_hooks,    /* set up other request processing hooks */
    AP_MODULE_FLAG_NONE         /* flags */
};
