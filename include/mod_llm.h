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

/**
 * @file mod_llm.h
 * @brief The one header the mod_llm_* modules share.
 *
 * It holds the cross-module contract of the suite, and nothing else:
 *  - the model table read from a models file (models, providers, stats),
 *  - the per-request context that mod_llm_router fills in, and that other
 *    modules read and extend through optional functions and hooks,
 *  - the balance-method provider interface (group LLM_BALANCE_GROUP),
 *  - log tags and the names of notes and environment variables.
 *
 * Modules never link against each other: they meet through the APR
 * provider registry, optional functions and optional hooks, so any of
 * them may be absent and LoadModule order between them does not matter.
 * See docs/architecture.md for the request path these plug into.
 */

#ifndef MOD_LLM_H
#define MOD_LLM_H

#include "apr.h"
#include "apr_hooks.h"
#include "apr_optional.h"
#include "apr_optional_hooks.h"
#include "apr_tables.h"
#include "apr_hash.h"
#include "apr_time.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Named by pointer only, so that APR-only code can include this header
 * without httpd.h (C11 allows the typedef to be repeated there). */
typedef struct request_rec request_rec;
typedef struct server_rec server_rec;

#define LLM_VERSION_STRING "0.1.0"

/* Linkage for the optional hooks below (plain on Unix, as PROXY_DECLARE). */
#define LLM_DECLARE(type)            type
#define LLM_DECLARE_NONSTD(type)     type
#define LLM_DECLARE_DATA

/**
 * Log tag of the suite: LLMLOGNO(01001) expands to "LLM01001: ".
 * One tag per call site, never reused; httpd's APLOGNO/AH tags belong to
 * httpd itself. The next free number is kept in docs/log-tags-next-number.
 * Ranges: 01xxx router, 02xxx balance, 03xxx mask, 04xxx audit,
 * 09xxx shared core code.
 */
#define LLMLOGNO(n) "LLM" #n ": "

/* Request notes (r->notes) and exported environment (r->subprocess_env),
 * readable from LogFormat as %{llm-model}n and %{LLM_MODEL}e. */
#define LLM_NOTE_MODEL     "llm-model"
#define LLM_NOTE_PROVIDER  "llm-provider"
#define LLM_NOTE_ATTEMPTS  "llm-attempts"
#define LLM_NOTE_ERROR     "llm-error"
/** Each attempt as "provider:status" (or refused/broken/timeout/aborted),
 *  comma-separated, in order */
#define LLM_NOTE_TRIED     "llm-tried"
/** "asked-model:reason" when a fallback model answered (llm-model then
 *  names the model that answered); reason: unavailable, context_length */
#define LLM_NOTE_FALLBACK  "llm-fallback"
/** "prompt/completion/total" tokens the answer reported ("-" unknown) */
#define LLM_NOTE_USAGE     "llm-usage"
#define LLM_ENV_MODEL      "LLM_MODEL"
#define LLM_ENV_PROVIDER   "LLM_PROVIDER"

/* ------------------------------------------------------------------ */
/* The model table                                                     */
/* ------------------------------------------------------------------ */

/** What a provider speaks (its api_type in the models file). */
typedef enum {
    LLM_API_OPENAI = 0,
    LLM_API_VLLM,
    LLM_API_LMSTUDIO,
    LLM_API_OLLAMA,
    LLM_API_ANTHROPIC,
    LLM_API__COUNT
} llm_api_type_e;

/** The api_type as written in models files. */
static APR_INLINE const char *llm_api_type_name(llm_api_type_e t)
{
    static const char *const names[LLM_API__COUNT] = {
        "openai", "vllm", "lmstudio", "ollama", "anthropic"
    };

    return ((int)t >= 0 && t < LLM_API__COUNT) ? names[t] : "unknown";
}

/**
 * Counters of one provider. They are updated with apr_atomic_* only, so
 * the struct may live in process memory or in a shared-memory slot; the
 * balance module decides where (the router never assumes either).
 */
typedef struct llm_provider_stats {
    volatile apr_uint32_t selected;   /**< times chosen by a method */
    volatile apr_uint32_t inflight;   /**< attempts under way now */
    volatile apr_uint32_t failures;   /**< attempts that failed */
    volatile apr_uint32_t consecutive_failures;
    volatile apr_uint32_t latency_ewma_us; /**< time to first byte, EWMA */
    volatile apr_uint32_t down_until_s;    /**< epoch s, 0 when usable */
    volatile apr_uint32_t probing;         /**< 1 while one probe runs */
    volatile apr_uint32_t last_used_s;     /**< epoch s of the last choice */
    volatile apr_uint32_t holder_pid;      /**< first_available: the process
                                                that holds the provider, so
                                                that a crash frees it */
} llm_provider_stats_t;

/** One provider entry of a model, as validated from the models file. */
typedef struct llm_provider {
    const char *id;          /**< unique across the file */
    const char *api_host;    /**< base URL without trailing '/' */
    const char *origin;      /**< scheme://host:port/ (the proxy worker) */
    llm_api_type_e api_type;
    const char *api_token;   /**< "" when none; never logged */
    const char *model_path;  /**< upstream model name; "" = model name */
    apr_int64_t input_size;
    double weight;           /**< clamped to [0,1] */
    apr_interval_time_t keep_alive; /**< 0 when not set */
    int tool_calling;
    int is_embedding;
    int sleep_tier;          /**< 1 when listed in providers_sleep */
    int prefill;             /**< continues an answer given as a final
                                  assistant message ("prefill": true, of
                                  the provider or of its model) */
    int slot;                /**< index in llm_models_t.providers */
    llm_provider_stats_t *stats;
} llm_provider_t;

/** One active model. */
typedef struct llm_model {
    const char *name;        /**< what clients send as "model" */
    const char *group;       /**< the models file group it sits in */
    apr_array_header_t *providers;       /**< llm_provider_t * */
    apr_array_header_t *providers_sleep; /**< llm_provider_t *, fallback */
    const char *balance;     /**< per-model method name, NULL = default */
    /** Models (const llm_model_t *) tried in order when no provider of
     *  this one could answer; empty when none. */
    apr_array_header_t *fallbacks;
    /** Models for a prompt too long for this one (a provider's context
     *  length error), in order; empty when none. */
    apr_array_header_t *on_context_length;
} llm_model_t;

/** One models file, loaded and validated once per (re)start. */
typedef struct llm_models {
    const char *path;
    apr_array_header_t *models;    /**< llm_model_t *, file order */
    apr_hash_t *by_name;           /**< name -> llm_model_t * */
    apr_array_header_t *providers; /**< every llm_provider_t *, by slot */
    apr_time_t loaded_at;
} llm_models_t;

/* ------------------------------------------------------------------ */
/* The per-request context                                             */
/* ------------------------------------------------------------------ */

/** The API dialect a client speaks to us (the ingress side). */
typedef enum {
    LLM_DIALECT_OPENAI = 0,
    LLM_DIALECT_OLLAMA,
    LLM_DIALECT_ANTHROPIC,
    LLM_DIALECT_LMSTUDIO,
    LLM_DIALECT_BUILTIN
} llm_dialect_e;

/** What is on the wire: the body formats of the APIs we speak. */
typedef enum {
    LLM_WIRE_OPENAI_CHAT = 0,   /**< /v1/chat/completions (vLLM, LM Studio) */
    LLM_WIRE_OPENAI_COMPLETION, /**< /v1/completions (legacy text) */
    LLM_WIRE_OPENAI_RESPONSES,  /**< /v1/responses */
    LLM_WIRE_OLLAMA_CHAT,       /**< /api/chat, NDJSON when streamed */
    LLM_WIRE_OLLAMA_GENERATE,   /**< /api/generate, NDJSON when streamed */
    LLM_WIRE_ANTHROPIC,         /**< /v1/messages, named SSE events */
    LLM_WIRE_LMSTUDIO_CHAT      /**< /api/v0/chat/completions: OpenAI chat
                                     plus stats/model_info/runtime */
} llm_wire_e;

/** The built-in endpoints that build their own upstream requests
 *  (llm_builtin.h), LLM_BUILTIN_NONE for every other route. */
typedef enum {
    LLM_BUILTIN_NONE = 0,
    LLM_BUILTIN_CONVERSATION,          /**< conversation_with_model */
    LLM_BUILTIN_EXTENDED_CONVERSATION, /**< extended_conversation_with_model */
    LLM_BUILTIN_GENERATE_QUESTIONS,    /**< generate_questions (one call
                                            per text) */
    LLM_BUILTIN_TRANSLATE,             /**< translate (one call per text) */
    LLM_BUILTIN_SIMPLIFY_TEXT,         /**< simplify_text (one call per
                                            text) */
    LLM_BUILTIN_GENERATE_ARTICLE,      /**< generate_article_from_text */
    LLM_BUILTIN_FULL_ARTICLE,          /**< create_full_article_from_texts */
    LLM_BUILTIN_GENERATIVE_ANSWER,     /**< generative_answer */
    LLM_BUILTIN__COUNT
} llm_builtin_e;

/** What a request asks for. */
typedef enum {
    LLM_OP_INFO = 0,         /**< answered by the gateway itself */
    LLM_OP_CHAT,
    LLM_OP_COMPLETION,
    LLM_OP_EMBEDDINGS,
    LLM_OP_RESPONSES,
    LLM_OP_MESSAGES
} llm_op_e;

/** Token usage, normalised from every dialect; -1 = not reported. */
typedef struct llm_usage {
    apr_int64_t prompt_tokens;
    apr_int64_t completion_tokens;
    apr_int64_t total_tokens;
    apr_int64_t cached_tokens;
    apr_int64_t reasoning_tokens;
} llm_usage_t;

/**
 * A transformation of the answer's text, which a module sets in
 * ctx->answer_filter from llm_request_parsed (mod_llm_mask: un-mask the
 * request's pseudonyms, mask PII, guard the answer). mod_llm_router runs
 * every piece of answer text through it, whatever the dialects, before
 * the text is encoded for the client; an answer of the client's own
 * dialect is then decoded and encoded too. Called from one thread per
 * request, in order. The pool @a p given to feed and end is cleared
 * after the call (what *out points to is copied before that): state
 * that must last belongs in the filter's own data.
 */
typedef struct llm_answer_filter {
    /** Take @a len bytes of answer text; set what may go to the client
     *  now in *out / *out_len (a tail that may still turn out to be a
     *  token or PII can be held back). Return non-zero to block the
     *  answer, with the reason in *why. */
    int (*feed)(void *data, apr_pool_t *p, const char *in, apr_size_t len,
                const char **out, apr_size_t *out_len, const char **why);
    /** The answer's text is over: what was held back, or a block. */
    int (*end)(void *data, apr_pool_t *p, const char **out,
               apr_size_t *out_len, const char **why);
    void *data;
} llm_answer_filter_t;

/** How one attempt against a provider ended, given to the method. */
typedef enum {
    LLM_OUTCOME_OK = 0,        /**< the upstream answered (any status) */
    LLM_OUTCOME_REFUSED,       /**< no connection could be made */
    LLM_OUTCOME_BROKEN,        /**< reset or garbage before a response */
    LLM_OUTCOME_TIMEOUT,       /**< no answer within the timeout */
    LLM_OUTCOME_HTTP_ERROR,    /**< answered 429 or 5xx */
    LLM_OUTCOME_ABORTED,       /**< the client went away */
    LLM_OUTCOME_DEADLINE       /**< the request's own time limit ran out
                                    (LLMRouterTotalTimeout): not held
                                    against the provider */
} llm_outcome_e;

struct llm_balance_method;

typedef struct llm_attempt {
    llm_provider_t *provider;
    llm_outcome_e outcome;
    int status;                /**< upstream HTTP status, 0 if none */
    int failed_over;           /**< its answer was withheld for a retry */
    apr_interval_time_t retry_after; /**< the provider's Retry-After, 0 if none */
    int probe;                 /**< the half-open probe of a provider that
                                    was out (set by the balance module) */
    apr_time_t started;
    apr_time_t first_byte;     /**< 0 when none reached the client */
    apr_time_t ended;
    void *method_data;         /**< owned by the balance method */
    const struct llm_balance_method *method; /**< the method that chose
                                    the provider: the Location's, the
                                    model's or the server's (metrics) */
} llm_attempt_t;

#define LLM_REQ_CTX_VERSION 1

/** r->handler of the requests mod_llm_router answers: its handler runs
 *  llm_request_done. A request it claimed can still be given another
 *  handler (SetHandler in a <Location> under /v1/): then the context
 *  exists and no hook of the router's handler runs. */
#define LLM_ROUTER_HANDLER "llm-router"

/**
 * Everything the suite knows about one LLM request. Owned by
 * mod_llm_router, allocated from r->pool, reachable from other modules
 * through the optional function llm_router_get_ctx(). Fields are filled
 * in the order of the request path; NULL/0 means "not yet known".
 */
typedef struct llm_req_ctx {
    int version;                   /**< LLM_REQ_CTX_VERSION */
    const char *endpoint;          /**< route name, e.g. "v1/chat/completions" */
    llm_dialect_e dialect;
    llm_op_e op;
    const llm_models_t *models;    /**< the table in force for r */
    const char *model_name;
    const llm_model_t *model;
    int stream;                    /**< the client asked for a stream */

    /** The parsed request (a json-c json_object *): modules may change it
     *  in llm_request_parsed; the router serialises it per attempt. */
    void *body;
    const char *body_raw;          /**< as received, not NUL-terminated */
    apr_size_t body_raw_len;
    const char *body_sent;         /**< as sent in the last attempt */
    apr_size_t body_sent_len;

    apr_array_header_t *attempts;  /**< llm_attempt_t, in order */
    llm_attempt_t *attempt;        /**< the current/last one */

    apr_time_t started;
    int status;                    /**< status given to the client */
    const char *error_code;        /**< set when we answered an error */
    const char *error_message;
    llm_usage_t usage;

    /* Set by mod_llm_mask in llm_request_parsed (for audit, metrics). */
    int masked;                    /**< replacements made in the request */
    const char *guard_verdict;     /**< NULL: no guard ran; "allowed";
                                        "blocked"; "unchecked" (a guard
                                        service failed, fail-open) */
    const char *guard_reason;      /**< what decided: "category:rule" or
                                        "service:<name>" */
    void *mask_session;            /**< mod_llm_mask's, per request */
    llm_answer_filter_t *answer_filter; /**< see llm_answer_filter_t */

    llm_wire_e wire;               /**< the body format the client speaks */
    llm_builtin_e builtin;         /**< which built-in, or NONE */
    /** Set by the router as a streamed answer's end marker ([DONE],
     *  message_stop, Ollama's done) or error event is made for the
     *  client: what follows is only the answer's end, which mod_llm_audit
     *  holds back until the request's records are written. */
    int answer_ending;

    /* Set by mod_llm_mask (for audit, metrics). */
    /** Values masked in the request by entity type (llm_mask_count_t,
     *  one entry per type, in the order first met); NULL when none. */
    apr_array_header_t *mask_counts;
    /** Pseudonym -> original (const char * both) of the request's
     *  masking in pseudonym mode, NULL otherwise. PII: for nothing but
     *  an encrypted audit trail that asks for it (LLMAuditMaskMappings). */
    apr_hash_t *mask_map;
    const char *answer_guard_verdict; /**< NULL: no guard judged the
                                           answer; "allowed"; "blocked" */
    const char *answer_guard_reason;  /**< "category:rule" when blocked */
} llm_req_ctx_t;

/** How many values of one entity type were masked (ctx->mask_counts). */
typedef struct llm_mask_count {
    const char *type;              /**< the rule's entity type, e.g. "pesel" */
    int count;
} llm_mask_count_t;

/**
 * The context of r (or of its initial request), NULL when mod_llm_router
 * does not handle r.
 */
APR_DECLARE_OPTIONAL_FN(llm_req_ctx_t *, llm_router_get_ctx,
                        (request_rec *r));

/**
 * Answer r with an error in the client's dialect (OpenAI:
 * {"error":{"message","type","param","code"}}), and remember it in the
 * context. Returns DONE once the response is written: a handler that
 * refuses a request returns this value. @a code is a short machine
 * name ("model_not_found"), @a message is shown to the client.
 */
APR_DECLARE_OPTIONAL_FN(int, llm_router_send_error,
                        (request_rec *r, int status, const char *code,
                         const char *message));

/**
 * What the gateway does at the top of server (VirtualHost) @a s, its
 * <Location>s aside: on or off, the models file (NULL when none) and the
 * balance method in force (for the status page).
 */
APR_DECLARE_OPTIONAL_FN(void, llm_router_server_info,
                        (server_rec *s, int *enabled,
                         const char **models_path, const char **method));

/**
 * mod_llm_mask's answer to {prefix}/fast_text_mask for @a text under the
 * masking configuration in force for r: the JSON body
 * {"text": masked, "mappings": {token: original}} (mappings empty in
 * static mode), with a trailing newline. The router owns the route.
 */
APR_DECLARE_OPTIONAL_FN(const char *, llm_mask_fast_text,
                        (request_rec *r, const char *text, apr_size_t len));

/* ------------------------------------------------------------------ */
/* Optional hooks along the request path                               */
/* ------------------------------------------------------------------ */

/**
 * Runs at start-up (post_config, once the configuration is final) for
 * every models file loaded, before any child process exists. Modules
 * that keep state per provider set it up here; mod_llm_balance moves
 * llm_provider_t.stats into shared memory. Return OK or DECLINED; any
 * other value stops httpd (log why at EMERG first).
 */
APR_DECLARE_EXTERNAL_HOOK(llm, LLM, int, llm_models_loaded,
                          (apr_pool_t *pconf, server_rec *s,
                           llm_models_t *models))

/**
 * Runs once the body is parsed and the model resolved, before a provider
 * is chosen: guardrails, masking, key scopes and rate limits join here.
 * Return OK or DECLINED to go on; any other value is an HTTP status that
 * refuses the request (set ctx->error_code/error_message first; the
 * router answers in the client's dialect).
 */
APR_DECLARE_EXTERNAL_HOOK(llm, LLM, int, llm_request_parsed,
                          (request_rec *r, llm_req_ctx_t *ctx))

/**
 * Runs before each attempt, once ctx->attempt names the provider. The
 * return value is ignored (OK/DECLINED).
 */
APR_DECLARE_EXTERNAL_HOOK(llm, LLM, int, llm_provider_chosen,
                          (request_rec *r, llm_req_ctx_t *ctx))

/**
 * Runs once when the request is over, whatever the outcome (audit,
 * metrics, usage accounting). The return value is ignored.
 */
APR_DECLARE_EXTERNAL_HOOK(llm, LLM, int, llm_request_done,
                          (request_rec *r, llm_req_ctx_t *ctx))

/* ------------------------------------------------------------------ */
/* Access decisions (run by mod_llm_access)                            */
/* ------------------------------------------------------------------ */

/**
 * Notes (r->notes) mod_llm_access sets when it refuses a request in an
 * httpd hook (check_user_id, auth_checker): the status it refused with,
 * a short code ("invalid_key") and the sentence for the client.
 * mod_llm_router's error pages on our routes use the code and message
 * when the status of the page is the noted one, instead of its generic
 * "unauthorized"/"forbidden". The presented key is never in them.
 */
#define LLM_NOTE_ACCESS_STATUS  "llm-access-status"
#define LLM_NOTE_ACCESS_CODE    "llm-access-code"
#define LLM_NOTE_ACCESS_MESSAGE "llm-access-message"
/** The key id of an authenticated request (also r->user), for logs:
 *  %{llm-key-id}n */
#define LLM_NOTE_KEY_ID         "llm-key-id"

/** What kind of refusal (or notable decision) an access event is. */
typedef enum {
    LLM_ACCESS_AUTH_FAILED = 0,    /**< 401: no key, an unknown, expired,
                                        rotated or inactive key */
    LLM_ACCESS_DENIED,             /**< 403: the key's policy or a Require
                                        llm-permission/llm-model refused */
    LLM_ACCESS_RATE_LIMITED,       /**< 429: a request or token limit */
    LLM_ACCESS_BUDGET_SPENT,       /**< 429: a token budget for the period */
    LLM_ACCESS_STORE_FAILED        /**< the key store or the limits' Redis
                                        failed (fail-open or fail-closed) */
} llm_access_kind_e;

/** One access event. Never the presented key: its id only. */
typedef struct llm_access_event {
    llm_access_kind_e kind;
    int status;                    /**< what the client got (0: served) */
    const char *code;              /**< "invalid_key", "rate_limited", ... */
    const char *key_id;            /**< NULL when no key was recognised */
    const char *limit;             /**< the limit that refused, e.g.
                                        "requests 60/60s"; NULL if none */
    const char *model;             /**< the model asked for, NULL unknown */
} llm_access_event_t;

/**
 * Runs when mod_llm_access refuses a request (or its store fails), from
 * whichever httpd hook decided (check_user_id, auth_checker, the
 * router's llm_request_parsed), before the refusal is written: audit
 * and metrics record it. Runs for requests the router may never see.
 * The return value is ignored.
 */
APR_DECLARE_EXTERNAL_HOOK(llm, LLM, int, llm_access_refused,
                          (request_rec *r, const llm_access_event_t *ev))

/**
 * mod_llm_access: may the request's key (r->user, authenticated by
 * AuthType llm-key) use @a model? 1 yes, 0 no. Requests without a key
 * (public routes, other auth types) may use every model. The router
 * lists only such models in GET /v1/models (and its dialect variants).
 */
APR_DECLARE_OPTIONAL_FN(int, llm_access_model_allowed,
                        (request_rec *r, const char *model));

/** The refusal of a model the request's key may not use, the same on
 *  every route (chat and the rest: mod_llm_access; /v1/models/{id} and
 *  /api/show: the router): 403 with this code and message. */
#define LLM_MODEL_DENIED_CODE    "model_denied_by_policy"
#define LLM_MODEL_DENIED_MESSAGE "This model is not allowed for this key."

/** One key's token budget in its current period (key_budget_usage_tokens). */
typedef struct llm_key_budget {
    const char *key_id;
    apr_uint64_t used;             /**< tokens charged in this period */
    apr_uint64_t limit;            /**< the budget in tokens */
    const char *period;            /**< "day" or "month" */
} llm_key_budget_t;

/** Called once per key by llm_access_each_budget; non-zero stops. */
typedef int (llm_key_budget_fn)(void *baton, const llm_key_budget_t *b);

/**
 * mod_llm_access: call @a fn for every key of server @a s that has a
 * token budget and has spent some of it in the current period, at most
 * @a max keys (the metrics scrape bounds its series this way). Reads the
 * shared state (shm, or Redis when the budgets live there) without
 * changing it; allocations from @a p.
 */
APR_DECLARE_OPTIONAL_FN(void, llm_access_each_budget,
                        (apr_pool_t *p, server_rec *s, int max,
                         llm_key_budget_fn *fn, void *baton));

/* ------------------------------------------------------------------ */
/* Balance methods (APR providers)                                     */
/* ------------------------------------------------------------------ */

#define LLM_BALANCE_GROUP   "llm_balance"
#define LLM_BALANCE_VERSION "0"
#define LLM_BALANCE_DEFAULT "balanced"

/**
 * A provider-selection method, registered by mod_llm_balance (or any
 * module) with
 *   ap_register_provider(p, LLM_BALANCE_GROUP, name,
 *                        LLM_BALANCE_VERSION, &method);
 * The struct must live as long as the process. Methods are called
 * concurrently from many threads and processes: they keep state only in
 * llm_provider_t.stats (atomics) or behind their own locks.
 */
typedef struct llm_balance_method {
    const char *name;

    /**
     * Choose one of @a candidates (usable providers of @a model, in
     * models-file order, never empty). Returns the index chosen, or -1
     * when none may be used now. May store per-attempt data in
     * @a attempt->method_data.
     */
    int (*choose)(request_rec *r, const llm_model_t *model,
                  llm_provider_t *const *candidates, int ncandidates,
                  llm_attempt_t *attempt);

    /**
     * Called exactly once for every successful choose(), when the
     * attempt is over (attempt->outcome and timings filled in). May be
     * NULL.
     */
    void (*release)(request_rec *r, const llm_model_t *model,
                    llm_attempt_t *attempt);
} llm_balance_method_t;

#ifdef __cplusplus
}
#endif

#endif /* MOD_LLM_H */
