/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Which provider answers: the attempt loop, and the one place where the
 * retry, fail-over and fallback policy lives.
 *
 * The loop walks (model, tier, provider, attempt):
 *
 *         ┌──────────────────── next model of the chain ◄────────────┐
 *         ▼                                                          │
 *   PICK(model, tier) ──none usable in this tier──► next tier ──none─┘
 *         │ the balance method chose p                   (chain over: GIVE UP)
 *         ▼
 *   ATTEMPT(p) ──answered / refused / client gone──► DONE
 *         │ failed before anything reached the client
 *         ▼
 *   decide() ─429/503 short Retry-After, no other usable──► WAIT ─► ATTEMPT(p)
 *         ├──5xx or reset, second try allowed──► BACKOFF ─► ATTEMPT(p)
 *         ├──prompt too long for the model──► its on_context_length chain
 *         ├──another provider or model usable──► PICK (p left out)
 *         └──nothing usable, or LLMRouterTotalTimeout spent──► GIVE UP
 *   ATTEMPT(p) ──stream cut after content (CUT)──► CONTINUE on a prefill
 *         provider ─► DONE (none could: the stream's error event)
 *
 * The chain of models starts with the client's, then its "fallbacks"
 * (after every provider of a model failed or none was usable); a context
 * length error replaces what is left of it by the model's
 * "on_context_length" list. A model is never tried twice. Bounds: at most
 * LLMRouterMaxAttempts attempts in all, and two on one provider.
 *
 * A stream cut after content reached the client (CUT) is continued on a
 * prefill-capable provider ("prefill": true) of the chain: the text
 * delivered so far goes to it as a final assistant message and its
 * continuation goes on in the client's stream, through the encoder of
 * the first attempt (LLM_XLATE). No such provider, or none that answers:
 * the stream ends with one error event.
 *
 * A provider's 429/5xx is withheld from the client only when the policy
 * would follow it with another attempt (go_on, asked by LLM_UPSTREAM):
 * the last attempt's answer, whatever it is, is the client's as the
 * provider sent it (or, withheld and then followed by nothing after all,
 * its status, Retry-After and message in the client's dialect).
 */

#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"

#include "llm_router_private.h"
#include "llm_xlate.h"

/* Attempts on one provider per request: the first and one retry. */
#define TRIES_PER_PROVIDER 2

typedef struct {
    request_rec *r;
    llm_router_req_t *rq;
    const llm_balance_method_t *method;
    const llm_model_t *model;          /* the model of the chain tried now */
    apr_array_header_t *chain;         /* const llm_model_t *, in order */
    int next_in_chain;                 /* index of the model after it */
    int chain_floor;                   /* models before it said the prompt
                                          is too long: never again */
    unsigned char *tries;              /* attempts per provider slot */
    llm_provider_t **cand;             /* room for any model's providers */
    int attempts_left;
    llm_attempt_t *last;
    const char *fallback_reason;       /* why the chain moved on */
    llm_attempt_end_e end;
} route_t;

/* What follows an attempt that failed before anything reached the
 * client. */
typedef enum {
    STEP_GIVE_UP,               /* nothing else can serve: the client has
                                   this failure */
    STEP_NEXT_PROVIDER,
    STEP_RETRY_SAME,
    STEP_CONTEXT_FALLBACK
} step_e;

/* ------------------------------------------------------------------ */
/* Walking the providers                                               */
/* ------------------------------------------------------------------ */

static const apr_array_header_t *tier_of(const llm_model_t *m, int tier)
{
    return tier == 0 ? m->providers : m->providers_sleep;
}

/* Calls @a fn on each provider of @a m, primary tier first, until it
 * returns non-zero; returns that (0: none did). */
typedef int (*provider_fn)(const route_t *rt, llm_provider_t *pr,
                           void *baton);

static int each_provider(const route_t *rt, const llm_model_t *m,
                         provider_fn fn, void *baton)
{
    int tier;
    int i;
    int rv;

    for (tier = 0; tier < 2; tier++) {
        const apr_array_header_t *t = tier_of(m, tier);

        for (i = 0; i < t->nelts; i++) {
            if ((rv = fn(rt, APR_ARRAY_IDX(t, i, llm_provider_t *), baton))) {
                return rv;
            }
        }
    }
    return 0;
}

/* ... of each model of the chain from index @a from on. */
static int each_in_chain(const route_t *rt, int from, provider_fn fn,
                         void *baton)
{
    int k;
    int rv;

    for (k = from; k < rt->chain->nelts; k++) {
        if ((rv = each_provider(rt, APR_ARRAY_IDX(rt->chain, k,
                                                  const llm_model_t *),
                                fn, baton))) {
            return rv;
        }
    }
    return 0;
}

static int serves_op(const route_t *rt, llm_provider_t *pr, void *baton)
{
    (void)baton;
    return llm_provider_serves(pr->api_type, rt->rq->pub.op);
}

/* ------------------------------------------------------------------ */
/* The chain of models                                                 */
/* ------------------------------------------------------------------ */

static int in_chain(const route_t *rt, const llm_model_t *m)
{
    int i;

    for (i = 0; i < rt->chain->nelts; i++) {
        if (APR_ARRAY_IDX(rt->chain, i, const llm_model_t *) == m) {
            return 1;
        }
    }
    return 0;
}

static void add_to_chain(route_t *rt, const apr_array_header_t *models)
{
    int i;

    for (i = 0; models && i < models->nelts; i++) {
        const llm_model_t *m = APR_ARRAY_IDX(models, i, const llm_model_t *);

        if (!in_chain(rt, m)) {
            APR_ARRAY_PUSH(rt->chain, const llm_model_t *) = m;
        }
    }
}

/* The prompt is too long for the model: what is left of the chain gives
 * way to the model's larger ones (fallbacks of the same size would fail
 * the same way). */
static void take_context_chain(route_t *rt)
{
    rt->chain->nelts = rt->next_in_chain;
    rt->chain_floor = rt->next_in_chain;
    add_to_chain(rt, rt->model->on_context_length);
}

/* Is a model of the current one's on_context_length list still untried
 * (it may be queued as a fallback already: it moves up)? */
static int context_fallback_left(const route_t *rt)
{
    const apr_array_header_t *l = rt->model->on_context_length;
    int i;
    int k;

    for (i = 0; l && i < l->nelts; i++) {
        const llm_model_t *m = APR_ARRAY_IDX(l, i, const llm_model_t *);

        if (!each_provider(rt, m, serves_op, NULL)) {
            continue;
        }
        for (k = 0; k < rt->next_in_chain
                    && APR_ARRAY_IDX(rt->chain, k, const llm_model_t *) != m;
             k++) {
        }
        if (k == rt->next_in_chain) {
            return 1;
        }
    }
    return 0;
}

/* The next model of the chain (its fallbacks joined the queue when it
 * was entered), or NULL when the chain is over. */
static const llm_model_t *next_model(route_t *rt)
{
    if (rt->next_in_chain >= rt->chain->nelts) {
        return NULL;
    }
    rt->model = APR_ARRAY_IDX(rt->chain, rt->next_in_chain++,
                              const llm_model_t *);
    add_to_chain(rt, rt->model->fallbacks);
    return rt->model;
}

/* ------------------------------------------------------------------ */
/* Candidates                                                          */
/* ------------------------------------------------------------------ */


/* The providers of tier @a tier of the model this endpoint can reach and
 * this request has not tried yet. */
static int candidates(route_t *rt, int tier)
{
    const apr_array_header_t *t = tier_of(rt->model, tier);
    int n = 0;
    int i;

    for (i = 0; i < t->nelts; i++) {
        llm_provider_t *pr = APR_ARRAY_IDX(t, i, llm_provider_t *);

        if (!rt->tries[pr->slot]
            && llm_provider_serves(pr->api_type, rt->rq->pub.op)) {
            rt->cand[n++] = pr;
        }
    }
    return n;
}

/* Not out of service now (or its time out is over: it may be probed).
 * Read from the shared stats the balance module keeps. */
static int usable(const llm_provider_t *pr, apr_time_t now)
{
    apr_uint32_t until = pr->stats->down_until_s;

    return until == 0 || (apr_uint32_t)apr_time_sec(now) >= until;
}

/* Could another provider, of this model or of a model further down the
 * chain, take the request now? With @a untried, only one this request
 * has not tried. */
typedef struct {
    const llm_provider_t *but;
    int untried;
    apr_time_t now;
} usable_q;

static int usable_one(const route_t *rt, llm_provider_t *pr, void *baton)
{
    const usable_q *q = baton;

    return pr != q->but && !(q->untried && rt->tries[pr->slot])
           && serves_op(rt, pr, NULL) && usable(pr, q->now);
}

static int another_usable(const route_t *rt, const llm_provider_t *but,
                          int untried)
{
    usable_q q;

    q.but = but;
    q.untried = untried;
    q.now = apr_time_now();
    return each_in_chain(rt, rt->next_in_chain - 1, usable_one, &q);
}

static int other_usable(const route_t *rt, const llm_provider_t *but)
{
    return another_usable(rt, but, 1);
}

/* ------------------------------------------------------------------ */
/* One attempt                                                         */
/* ------------------------------------------------------------------ */

static int go_on(void *baton, const llm_attempt_t *at);

/* One attempt at one provider chosen by the method among @a n candidates
 * in rt->cand. */
static llm_attempt_end_e attempt_one(route_t *rt, int n)
{
    llm_router_next_t next;
    request_rec *r = rt->r;
    llm_req_ctx_t *ctx = &rt->rq->pub;
    llm_attempt_t *at = apr_array_push(ctx->attempts);
    llm_attempt_end_e end;
    int i;

    memset(at, 0, sizeof(*at));
    ctx->attempt = at;
    ctx->model = rt->model;
    at->method = rt->method;
    i = rt->method->choose(r, rt->model, rt->cand, n, at);
    if (i < 0 || i >= n) {
        ctx->attempts->nelts--;
        ctx->attempt = rt->last;
        return LLM_ATTEMPT_NOT_CHOSEN;
    }
    at->provider = rt->cand[i];
    apr_table_setn(r->notes, LLM_NOTE_PROVIDER, at->provider->id);
    apr_table_setn(r->subprocess_env, LLM_ENV_PROVIDER, at->provider->id);
    llm_run_llm_provider_chosen(r, ctx);
    rt->tries[at->provider->slot]++;
    rt->attempts_left--;
    rt->rq->context_fallback = rt->attempts_left > 0
                               && context_fallback_left(rt);
    next.go_on = go_on;
    next.baton = rt;
    end = llm_router_attempt(r, rt->rq, at, &next);
    if (rt->method->release) {
        rt->method->release(r, rt->model, at);
    }
    rt->last = at;
    return end;
}

/* ------------------------------------------------------------------ */
/* The policy                                                          */
/* ------------------------------------------------------------------ */

/* Time the request has left under LLMRouterTotalTimeout (a day when no
 * limit is set). */
static apr_interval_time_t time_left(const route_t *rt)
{
    apr_interval_time_t total = llm_router_total_timeout(rt->rq->conf);

    if (total <= 0) {
        return apr_time_from_sec(86400);
    }
    return rt->r->request_time + total - apr_time_now();
}

/* LLMRouterRetryBackoff jittered to [0.5, 1.5) of itself, so that the
 * requests a provider failed at once do not come back at once. */
static apr_interval_time_t jittered(apr_interval_time_t base)
{
    apr_uint32_t x;

    apr_generate_random_bytes((unsigned char *)&x, sizeof(x));
    return base / 2 + (apr_interval_time_t)((double)base * (x / 4294967296.0));
}

/* A provider that answered 429 (or 503 with Retry-After): wait it out
 * and try it again only when its wait is short, nothing else can serve
 * at once, and the request can afford the wait. */
static step_e after_rate_limit(route_t *rt, const llm_attempt_t *at,
                               apr_interval_time_t *wait)
{
    apr_interval_time_t ra = at->retry_after;

    if (ra <= 0 || ra > llm_router_retry_wait(rt->rq->conf)
        || other_usable(rt, at->provider)
        || ra + apr_time_from_sec(1) >= time_left(rt)) {
        return STEP_NEXT_PROVIDER;
    }
    *wait = ra;
    return STEP_RETRY_SAME;
}

/* A provider that answered 5xx or broke the connection: one more try
 * after a short pause, when configured or when it is the only usable
 * provider (a model served by one server: a passing fault should not
 * reach the client), and only while its circuit is closed. Where there
 * are others, the next one is better than a second try. */
static step_e after_server_error(route_t *rt, const llm_attempt_t *at,
                                 apr_interval_time_t *wait)
{
    llm_retry_same_e how = llm_router_retry_same(rt->rq->conf);

    if (how == LLM_RETRY_SAME_OFF
        || !usable(at->provider, apr_time_now())
        || (how == LLM_RETRY_SAME_AUTO
            && another_usable(rt, at->provider, 0))) {
        return STEP_NEXT_PROVIDER;
    }
    *wait = jittered(llm_router_retry_backoff(rt->rq->conf));
    if (*wait >= time_left(rt)) {
        return STEP_NEXT_PROVIDER;
    }
    return STEP_RETRY_SAME;
}

/* The same provider again, or another one? */
static step_e same_or_next(route_t *rt, const llm_attempt_t *at,
                           apr_interval_time_t *wait)
{
    if (rt->tries[at->provider->slot] >= TRIES_PER_PROVIDER) {
        return STEP_NEXT_PROVIDER;
    }
    if (at->outcome == LLM_OUTCOME_HTTP_ERROR && at->retry_after > 0
        && (at->status == HTTP_TOO_MANY_REQUESTS
            || at->status == HTTP_SERVICE_UNAVAILABLE)) {
        return after_rate_limit(rt, at, wait);
    }
    if (at->outcome == LLM_OUTCOME_HTTP_ERROR
        || at->outcome == LLM_OUTCOME_BROKEN) {
        return after_server_error(rt, at, wait);
    }
    /* Refused: the provider is down. Timed out: a second wait as long
     * would double the client's. Either way the next one, at once. */
    return STEP_NEXT_PROVIDER;
}

/* The policy: what follows an attempt that ended as @a end / @a at. */
static step_e decide(route_t *rt, llm_attempt_end_e end,
                     const llm_attempt_t *at, apr_interval_time_t *wait)
{
    step_e step;

    *wait = 0;
    if (time_left(rt) <= 0 || at->outcome == LLM_OUTCOME_DEADLINE) {
        return STEP_GIVE_UP;        /* LLMRouterTotalTimeout is spent */
    }
    if (end == LLM_ATTEMPT_TOO_LONG) {
        return STEP_CONTEXT_FALLBACK;
    }
    if (rt->attempts_left <= 0) {
        return STEP_GIVE_UP;
    }
    step = same_or_next(rt, at, wait);
    if (step == STEP_NEXT_PROVIDER && !other_usable(rt, at->provider)) {
        return STEP_GIVE_UP;
    }
    return step;
}

/* For LLM_UPSTREAM and the log: were this attempt to fail as @a at
 * says, would another follow? (If not, the client has its answer as the
 * provider sent it.) */
static int go_on(void *baton, const llm_attempt_t *at)
{
    apr_interval_time_t wait;

    return decide(baton, LLM_ATTEMPT_FAILED, at, &wait) != STEP_GIVE_UP;
}

/* Has the client gone? Nothing is written to it while the gateway waits,
 * so httpd would not notice: a look at its connection (without taking
 * anything from it) tells. */
static int client_gone(request_rec *r)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb;
    apr_status_t rv;

    if (c->aborted) {
        return 1;
    }
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    rv = ap_get_brigade(c->input_filters, bb, AP_MODE_SPECULATIVE,
                        APR_NONBLOCK_READ, 1);
    apr_brigade_destroy(bb);
    if (rv == APR_EOF || (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv))) {
        c->aborted = 1;
        return 1;
    }
    return 0;
}

/* Waits @a wait, in slices, unless the client leaves meanwhile. */
#define WAIT_SLICE apr_time_from_msec(100)

static int wait_for_client(request_rec *r, apr_interval_time_t wait)
{
    apr_time_t until = apr_time_now() + wait;
    apr_interval_time_t left;

    while ((left = until - apr_time_now()) > 0) {
        apr_sleep(left < WAIT_SLICE ? left : WAIT_SLICE);
        if (client_gone(r)) {
            return 0;
        }
    }
    return !client_gone(r);
}

/* The same provider again, after @a wait; the method has its say (its
 * circuit may have opened meanwhile). */
static llm_attempt_end_e retry_same(route_t *rt, llm_provider_t *pr,
                                    apr_interval_time_t wait)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, rt->r, LLMLOGNO(01045)
                  "%s: model %s: trying provider %s again in %" APR_TIME_T_FMT
                  " ms", rt->r->uri, rt->model->name, pr->id,
                  apr_time_as_msec(wait));
    if (!wait_for_client(rt->r, wait)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, rt->r, LLMLOGNO(01073)
                      "%s: the client went away while the gateway waited "
                      "to try provider %s again", rt->r->uri, pr->id);
        return LLM_ATTEMPT_ABANDONED;
    }
    rt->cand[0] = pr;
    return attempt_one(rt, 1);
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

/* A failed attempt's log line, once its sequel is known. */
static void log_failed(route_t *rt, llm_attempt_end_e end, int retrying)
{
    if (end == LLM_ATTEMPT_FAILED && rt->last) {
        llm_router_log_failure(rt->r, rt->rq->pub.model, rt->last, retrying);
    }
}

/* After a failed attempt: the same provider again, as long as the
 * policy says so. Returns how the last attempt ended and, in *step,
 * what is to follow it. */
static llm_attempt_end_e retry_while_told(route_t *rt, llm_attempt_end_e end,
                                          step_e *step)
{
    apr_interval_time_t wait;

    while ((*step = decide(rt, end, rt->last, &wait)) == STEP_RETRY_SAME) {
        log_failed(rt, end, 1);
        end = retry_same(rt, rt->last->provider, wait);
        if (end == LLM_ATTEMPT_NOT_CHOSEN) {
            /* Its circuit opened meanwhile: the failure stands. */
            end = LLM_ATTEMPT_FAILED;
            *step = other_usable(rt, rt->last->provider) ? STEP_NEXT_PROVIDER
                                                         : STEP_GIVE_UP;
            break;
        }
        if (end != LLM_ATTEMPT_FAILED && end != LLM_ATTEMPT_TOO_LONG) {
            break;
        }
    }
    if (*step != STEP_RETRY_SAME) {
        log_failed(rt, end, *step != STEP_GIVE_UP);
    }
    return end;
}

/* ------------------------------------------------------------------ */
/* Continuing a cut stream                                             */
/* ------------------------------------------------------------------ */

/* A provider that can continue this request's answer: marked prefill,
 * and spoken to in a dialect where a prefill is a final assistant
 * message (not the Responses API, which keeps its own state). */
static int can_continue(const route_t *rt, llm_provider_t *pr, void *baton)
{
    const llm_router_req_t *rq = rt->rq;

    (void)baton;
    return pr->prefill && llm_provider_serves(pr->api_type, rq->pub.op)
           && llm_wire_for_provider(pr->api_type, rq->pub.op, rq->wire)
              != LLM_WIRE_OPENAI_RESPONSES;
}

/* May this request's stream be continued if cut? A text answer streamed
 * (chat, messages, responses), with no answer filter (masking reads the
 * text as it goes), of a model (or a fallback) that has a provider that
 * can continue it. */
static int continuable(const route_t *rt, const llm_model_t *asked)
{
    const llm_router_req_t *rq = rt->rq;
    int i;

    if (!rq->pub.stream || rq->builtin_request || rq->collect
        || rq->pub.answer_filter
        || (rq->pub.op != LLM_OP_CHAT && rq->pub.op != LLM_OP_MESSAGES
            && rq->pub.op != LLM_OP_RESPONSES)) {
        return 0;
    }
    if (each_provider(rt, asked, can_continue, NULL)) {
        return 1;
    }
    for (i = 0; asked->fallbacks && i < asked->fallbacks->nelts; i++) {
        if (each_provider(rt, APR_ARRAY_IDX(asked->fallbacks, i,
                                            const llm_model_t *),
                          can_continue, NULL)) {
            return 1;
        }
    }
    return 0;
}

/* One prefill provider that may continue, into rt->cand. */
typedef struct {
    const unsigned char *spent;
    int n;
} prefill_q;

static int add_prefill(const route_t *rt, llm_provider_t *pr, void *baton)
{
    prefill_q *q = baton;

    if (can_continue(rt, pr, NULL) && !q->spent[pr->slot]
        && rt->tries[pr->slot] < TRIES_PER_PROVIDER) {
        rt->cand[q->n++] = pr;
    }
    return 0;
}

/* The prefill providers that may continue, of the first model of the
 * chain that has any (rt->model becomes it; not one that said the prompt
 * is too long): not one that cut or failed in this request, nor one
 * tried twice. */
static int prefill_candidates(route_t *rt, const unsigned char *spent)
{
    prefill_q q;
    int k;

    q.spent = spent;
    for (k = rt->chain_floor; k < rt->chain->nelts; k++) {
        const llm_model_t *m = APR_ARRAY_IDX(rt->chain, k,
                                             const llm_model_t *);

        q.n = 0;
        each_provider(rt, m, add_prefill, &q);
        if (q.n) {
            rt->model = m;
            rt->method = llm_router_balance(rt->rq->conf, m);
            return q.n;
        }
    }
    return 0;
}

/* The providers that failed this request are no place to continue it. */
static void spend_failed(route_t *rt, unsigned char *spent)
{
    const apr_array_header_t *attempts = rt->rq->pub.attempts;
    int i;

    for (i = 0; i < attempts->nelts; i++) {
        const llm_attempt_t *at = &APR_ARRAY_IDX(attempts, i, llm_attempt_t);

        if (at->outcome != LLM_OUTCOME_OK) {
            spent[at->provider->slot] = 1;
        }
    }
}

static void spend_candidates(route_t *rt, unsigned char *spent, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        spent[rt->cand[i]->slot] = 1;
    }
}

/* The stream was cut: continue it on prefill providers until one
 * finishes it, or end it with its error. The client has its answer
 * either way. */
static llm_attempt_end_e continue_cut(route_t *rt)
{
    unsigned char *spent = apr_pcalloc(rt->r->pool,
                                       rt->rq->table->models->providers->nelts);
    llm_attempt_end_e end = LLM_ATTEMPT_CUT;
    int n = 0;

    spend_failed(rt, spent);
    rt->rq->continuing = 1;
    while (end == LLM_ATTEMPT_CUT || end == LLM_ATTEMPT_FAILED
           || end == LLM_ATTEMPT_NOT_CHOSEN) {
        if (end == LLM_ATTEMPT_NOT_CHOSEN) {
            spend_candidates(rt, spent, n);     /* all out of service */
        }
        else {
            spent[rt->last->provider->slot] = 1;
        }
        n = rt->attempts_left > 0 && time_left(rt) > 0
            ? prefill_candidates(rt, spent) : 0;
        log_failed(rt, end, n > 0);
        if (!n) {
            break;
        }
        rt->rq->cut = 0;
        end = attempt_one(rt, n);
    }
    rt->rq->continuing = 0;
    if (end == LLM_ATTEMPT_ANSWERED || end == LLM_ATTEMPT_ABANDONED) {
        return end;
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rt->r, LLMLOGNO(01072)
                  "%s: model %s: no prefill provider could continue the "
                  "cut stream", rt->r->uri, rt->model->name);
    llm_router_end_cut_stream(rt->r, rt->rq);
    return LLM_ATTEMPT_ANSWERED;
}

/* Attempts on rt->model, tier by tier, until one ends the request, the
 * policy gives up, or the model has nothing left (the chain goes on).
 * Sets rt->end; returns 0 when the request is over. */
static int try_model(route_t *rt)
{
    int tier = 0;
    step_e step;

    while (rt->attempts_left > 0 && tier < 2 && time_left(rt) > 0) {
        int n = candidates(rt, tier);

        if (n == 0
            || (rt->end = attempt_one(rt, n)) == LLM_ATTEMPT_NOT_CHOSEN) {
            tier++;                 /* none usable here: the next tier */
            continue;
        }
        if (rt->end != LLM_ATTEMPT_FAILED && rt->end != LLM_ATTEMPT_TOO_LONG) {
            if (rt->end == LLM_ATTEMPT_CUT) {
                rt->end = continue_cut(rt);
            }
            return 0;               /* answered, refused or abandoned */
        }
        rt->end = retry_while_told(rt, rt->end, &step);
        if (rt->end == LLM_ATTEMPT_CUT) {
            rt->end = continue_cut(rt);
            return 0;
        }
        switch (step) {
        case STEP_CONTEXT_FALLBACK:
            take_context_chain(rt);
            rt->fallback_reason = "context_length";
            return 1;
        case STEP_GIVE_UP:
            return 0;
        default:
            if (rt->end != LLM_ATTEMPT_FAILED) {
                return 0;
            }
        }
    }
    return rt->attempts_left > 0;
}

/* The soonest time out's end among the chain's providers. */
typedef struct {
    apr_uint32_t now;
    apr_uint32_t soonest;
} soonest_q;

static int note_soonest(const route_t *rt, llm_provider_t *pr, void *baton)
{
    soonest_q *q = baton;
    apr_uint32_t until = pr->stats->down_until_s;

    (void)rt;
    if (until > q->now && (!q->soonest || until - q->now < q->soonest)) {
        q->soonest = until - q->now;
    }
    return 0;
}

/* Seconds until the first provider of the chain that is out of service
 * may be tried again (at least 1), for Retry-After. */
static const char *retry_after(const route_t *rt)
{
    soonest_q q;

    q.now = (apr_uint32_t)apr_time_sec(apr_time_now());
    q.soonest = 0;
    each_in_chain(rt, 0, note_soonest, &q);
    return apr_ltoa(rt->r->pool, q.soonest ? (long)q.soonest : 1);
}

/* Nothing could be tried: 503 at once, with when to come back. */
static int no_provider(route_t *rt)
{
    request_rec *r = rt->r;
    const char *name = rt->rq->pub.model_name;
    int any = each_in_chain(rt, 0, serves_op, NULL);

    apr_table_setn(r->err_headers_out, "Retry-After", retry_after(rt));
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, LLMLOGNO(01011)
                  "%s: no provider of model %s%s %s", r->uri, name,
                  rt->chain->nelts > 1 ? " or its fallbacks" : "",
                  any ? "is available now" : "speaks this API");
    return llm_router_send_error(r, HTTP_SERVICE_UNAVAILABLE,
        "no_provider_available",
        apr_psprintf(r->pool, any ? "No provider of model '%s' is available "
                     "now; retry later." : "No provider of model '%s' can "
                     "serve this API.", name));
}

static const char *outcome_word(llm_outcome_e o)
{
    switch (o) {
    case LLM_OUTCOME_REFUSED: return "refused";
    case LLM_OUTCOME_BROKEN:  return "broken";
    case LLM_OUTCOME_TIMEOUT: return "timeout";
    case LLM_OUTCOME_ABORTED: return "aborted";
    case LLM_OUTCOME_DEADLINE: return "deadline";
    default:                  return "ok";
    }
}

/* For the access log: each attempt as provider:status (or how it broke),
 * and, when another model answered, which was asked for and why. */
static void note_route(route_t *rt, const llm_model_t *asked)
{
    request_rec *r = rt->r;
    llm_req_ctx_t *ctx = &rt->rq->pub;
    const char *tried = NULL;
    int i;

    for (i = 0; i < ctx->attempts->nelts; i++) {
        llm_attempt_t *at = &APR_ARRAY_IDX(ctx->attempts, i, llm_attempt_t);
        int broke = at->outcome != LLM_OUTCOME_OK
                    && at->outcome != LLM_OUTCOME_HTTP_ERROR;
        const char *one = apr_pstrcat(r->pool, at->provider->id, ":",
                                      at->status && !broke
                                      ? apr_itoa(r->pool, at->status)
                                      : outcome_word(at->outcome), NULL);

        tried = tried ? apr_pstrcat(r->pool, tried, ",", one, NULL) : one;
    }
    apr_table_setn(r->notes, LLM_NOTE_ATTEMPTS,
                   apr_itoa(r->pool, ctx->attempts->nelts));
    if (tried) {
        apr_table_setn(r->notes, LLM_NOTE_TRIED, tried);
    }
    if (ctx->model != asked) {
        apr_table_setn(r->notes, LLM_NOTE_MODEL, ctx->model->name);
        apr_table_setn(r->subprocess_env, LLM_ENV_MODEL, ctx->model->name);
        apr_table_setn(r->notes, LLM_NOTE_FALLBACK,
                       apr_pstrcat(r->pool, asked->name, ":",
                                   rt->fallback_reason, NULL));
    }
}

/* The handler's return value once the attempts are over: the last one
 * decides, and only a failure with nothing sent leaves an answer to
 * write (a refusal was answered when it was found). */
static int answer(route_t *rt)
{
    switch (rt->end) {
    case LLM_ATTEMPT_ANSWERED:
        return OK;
    case LLM_ATTEMPT_REFUSED:
    case LLM_ATTEMPT_ABANDONED:
        return DONE;
    default:
        return rt->last ? llm_router_answer_failure(rt->r, rt->last)
                        : no_provider(rt);
    }
}

/* Room for @a n more attempts in ctx->attempts before any is made:
 * the loop and other modules keep pointers to its elements (ctx->attempt,
 * the last attempt), which apr_array_push would move when it grows. */
static void reserve_attempts(request_rec *r, llm_req_ctx_t *ctx, int n)
{
    apr_array_header_t *a = ctx->attempts;
    apr_array_header_t *bigger;

    if (a->nalloc - a->nelts >= n) {
        return;
    }
    bigger = apr_array_make(r->pool, a->nelts + n, sizeof(llm_attempt_t));
    apr_array_cat(bigger, a);
    ctx->attempts = bigger;
    ctx->attempt = bigger->nelts
                   ? &APR_ARRAY_IDX(bigger, bigger->nelts - 1, llm_attempt_t)
                   : NULL;
}

int llm_router_route(request_rec *r, llm_router_req_t *rq)
{
    llm_req_ctx_t *ctx = &rq->pub;
    const llm_models_t *models = rq->table->models;
    const llm_model_t *asked;
    route_t rt;

    /* A built-in routes once per text: each starts from the model asked
     * for, whichever answered the one before. */
    if (!rq->asked_model) {
        rq->asked_model = ctx->model;
    }
    asked = ctx->model = rq->asked_model;

    memset(&rt, 0, sizeof(rt));
    rt.r = r;
    rt.rq = rq;
    rt.attempts_left = llm_router_max_attempts(rq->conf);
    reserve_attempts(r, ctx, rt.attempts_left);
    rt.chain = apr_array_make(r->pool, 4, sizeof(const llm_model_t *));
    APR_ARRAY_PUSH(rt.chain, const llm_model_t *) = asked;
    rt.tries = apr_pcalloc(r->pool, models->providers->nelts);
    rt.cand = apr_palloc(r->pool, sizeof(*rt.cand)
                                  * models->providers->nelts);
    rt.end = LLM_ATTEMPT_NOT_CHOSEN;
    rt.fallback_reason = "unavailable";
    if ((rq->continuable = continuable(&rt, asked))) {
        llm_buf_init(&rq->delivered, r->pool);
    }

    while (next_model(&rt)) {
        rt.method = llm_router_balance(rq->conf, rt.model);
        if (!try_model(&rt)) {
            break;
        }
    }
    if (!ctx->attempts->nelts) {
        ctx->model = asked;
    }
    note_route(&rt, asked);
    return answer(&rt);
}
