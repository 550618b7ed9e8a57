/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_access.h
 * @brief mod_llm_access's engine: API keys, their store and their
 * policy. APR (+ json-c through core) only, no request_rec: the glue
 * (mod_llm_access*.c) and llmctl key use it, and t/unit/test_access.c
 * tests it without httpd.
 *
 * A key is LLM_ACCESS_KEY_PREFIX followed by 48 characters of
 * [A-Za-z0-9] from the system's CSPRNG (about 286 bits), so one SHA-256
 * is the right way to store it: nobody guesses a preimage of that, and
 * a slow hash (bcrypt) would only cost every request. The store maps
 * the hash's hex to the record (O(1)); the match is then confirmed in
 * constant time.
 */

#ifndef LLM_ACCESS_H
#define LLM_ACCESS_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_hash.h"
#include "apr_time.h"

#include "mod_llm.h"
#include "llm_sha256.h"

#define LLM_ACCESS_KEY_PREFIX  "sk-llm-"
#define LLM_ACCESS_KEY_RANDOM  48
#define LLM_ACCESS_KEY_LEN     (sizeof(LLM_ACCESS_KEY_PREFIX) - 1 \
                                + LLM_ACCESS_KEY_RANDOM)
/** What is shown of a key (llmctl key list): its prefix + 4 chars. */
#define LLM_ACCESS_SHOWN_LEN   (sizeof(LLM_ACCESS_KEY_PREFIX) - 1 + 4)
/** A presented key longer than this is not looked up at all. */
#define LLM_ACCESS_KEY_MAX     512
/** The largest key file read (a few thousand keys). */
#define LLM_ACCESS_FILE_MAX    (16 * 1024 * 1024)

/** Permissions (the original's groups), as bits. */
typedef enum {
    LLM_PERM_CHAT      = 1 << 0,   /**< OpenAI/LM Studio chat, completions,
                                        responses, model lists */
    LLM_PERM_EMBEDDING = 1 << 1,   /**< embeddings of every dialect but
                                        Ollama's */
    LLM_PERM_ANTHROPIC = 1 << 2,   /**< /v1/messages */
    LLM_PERM_OLLAMA    = 1 << 3,   /**< the Ollama API under the prefix */
    LLM_PERM_BUILTIN   = 1 << 4,   /**< the original's built-in endpoints,
                                        ping, version, fast_text_mask */
    LLM_PERM_ADMIN     = 1 << 5    /**< everything, and what is not an LLM
                                        route (status pages) */
} llm_access_perm_e;

/** Every permission but admin: a key's default. */
#define LLM_PERM_ALL_BUT_ADMIN (LLM_PERM_CHAT | LLM_PERM_EMBEDDING \
                                | LLM_PERM_ANTHROPIC | LLM_PERM_OLLAMA \
                                | LLM_PERM_BUILTIN)

/** The largest count of a limit (10^12 requests or tokens). */
#define LLM_ACCESS_RATE_MAX APR_INT64_C(1000000000000)

/** A limit: @a count per @a window (0 count: none). */
typedef struct {
    apr_int64_t count;
    apr_interval_time_t window;
} llm_access_rate_t;

/** A token budget per calendar period (UTC): @a count 0 is none. */
typedef enum {
    LLM_PERIOD_DAY = 1,
    LLM_PERIOD_MONTH
} llm_access_period_e;

typedef struct {
    apr_int64_t count;
    llm_access_period_e period;
} llm_access_budget_t;

/** One key record of a store. Times are 0 when not set. */
typedef struct {
    const char *id;                 /**< r->user; logged; never secret */
    char hash[LLM_CORE_SHA256_HEX]; /**< SHA-256 of the key, lower hex */
    const char *shown;              /**< the key's first characters */
    unsigned perms;                 /**< llm_access_perm_e bits */
    apr_array_header_t *models;     /**< glob patterns (const char *);
                                         empty: every model */
    llm_access_rate_t requests;     /**< per-key request limit */
    llm_access_rate_t tokens;       /**< per-key token limit */
    llm_access_budget_t budget;     /**< per-key token budget */
    apr_time_t created;
    apr_time_t expires;
    int active;                     /**< 0: disabled or revoked */
    int revoked;                    /**< revoked for good (no enable) */
    const char *rotated_to;         /**< the id of the key that replaced
                                         this one, NULL if none */
    apr_time_t grace_until;         /**< a rotated key works until then */
    const char *metadata;           /**< a JSON object's text, or NULL */
    apr_time_t last_used;           /**< from the last-used store, not
                                         the key file (llmctl key) */
} llm_access_key_t;

/** A key store: the records of one file, read once per (re)start. */
typedef struct {
    const char *path;
    apr_array_header_t *keys;       /**< llm_access_key_t *, file order */
    apr_hash_t *by_hash;            /**< hash hex -> llm_access_key_t * */
    apr_hash_t *by_id;              /**< id -> llm_access_key_t * */
} llm_access_store_t;

/** What a presented key comes to. */
typedef enum {
    LLM_KEY_OK = 0,
    LLM_KEY_MISSING,
    LLM_KEY_INVALID,
    LLM_KEY_EXPIRED,
    LLM_KEY_ROTATED,
    LLM_KEY_INACTIVE
} llm_access_verdict_e;

/* ---- the store (llm_access_store.c) ---- */

/** An empty store (for llmctl key create on a new file). */
llm_access_store_t *llm_access_store_make(apr_pool_t *p, const char *path);

/** Parse a key file's text: {"keys":[{record}...]}. NULL, or why not
 *  ("key 3 (id k3): ..."). Records are allocated in @a p. */
const char *llm_access_store_parse(apr_pool_t *p, const char *path,
                                   const char *json, apr_size_t len,
                                   llm_access_store_t **out);

/** Read and parse @a path. NULL, or why not. */
const char *llm_access_store_load(apr_pool_t *p, const char *path,
                                  llm_access_store_t **out);

/** Write @a s to its path atomically (a temporary file renamed), mode
 *  0600. NULL, or why not. */
const char *llm_access_store_save(apr_pool_t *p, const llm_access_store_t *s);

/** One record's JSON text (as in the file, or in Redis) into *out.
 *  NULL, or why not. */
const char *llm_access_record_parse(apr_pool_t *p, const char *json,
                                    apr_size_t len, llm_access_key_t **out);

/** The record @a k as the file has it (pretty JSON, no key), in @a p. */
const char *llm_access_key_json(apr_pool_t *p, const llm_access_key_t *k);

/** Add @a k (its id must be new). NULL, or why not. */
const char *llm_access_store_add(llm_access_store_t *s, llm_access_key_t *k);

/* ---- keys (llm_access_key.c) ---- */

/** A new key (NUL-terminated, LLM_ACCESS_KEY_LEN chars) in @a p, from
 *  the system's CSPRNG; NULL when it fails. */
char *llm_access_key_generate(apr_pool_t *p);

/** The SHA-256 hex of @a key. */
void llm_access_key_hash(const char *key, apr_size_t len,
                         char out[LLM_CORE_SHA256_HEX]);

/** Look @a key up and judge it at @a now; *found is the record when
 *  there is one (also for a refused key, so its id can be logged). */
llm_access_verdict_e llm_access_check(const llm_access_store_t *s,
                                      const char *key, apr_size_t len,
                                      apr_time_t now,
                                      const llm_access_key_t **found);

/** What a found record comes to at @a now (never LLM_KEY_INVALID or
 *  LLM_KEY_MISSING). */
llm_access_verdict_e llm_access_judge(const llm_access_key_t *k,
                                      apr_time_t now);

/** "invalid_key", ... for the client and the log. */
const char *llm_access_verdict_code(llm_access_verdict_e v);
/** The sentence the client reads. */
const char *llm_access_verdict_message(llm_access_verdict_e v);

/* ---- policy (llm_access_policy.c) ---- */

/** The bit of permission @a name ("chat", ...), 0 when none. */
unsigned llm_access_perm_bit(const char *name);
/** The name of one permission bit. */
const char *llm_access_perm_name(unsigned bit);
/** The permission a route needs. @a known is 0 for a URI that is not an
 *  LLM route (admin then). */
unsigned llm_access_route_perm(int known, llm_dialect_e dialect,
                               llm_op_e op, llm_builtin_e builtin);
/** Whether @a perms (a key's) grant @a needed (admin grants all). */
int llm_access_perm_allows(unsigned perms, unsigned needed);

/** Whether @a model matches one of @a globs (fnmatch: * ? [..], case
 *  sensitive, '/' an ordinary character); an empty list allows all. */
int llm_access_model_matches(const apr_array_header_t *globs,
                             const char *model);

/** Parse "60/min", "100000/hour", "5/10s", "1000/day". NULL, or why
 *  not. */
const char *llm_access_rate_parse(const char *s, llm_access_rate_t *out);

/** Parse "5M/month", "200k/day" (k, M, G). NULL, or why not. */
const char *llm_access_budget_parse(const char *s, llm_access_budget_t *out);
/** "200000/day": what llm_access_budget_parse reads back. */
const char *llm_access_budget_text(apr_pool_t *p,
                                   const llm_access_budget_t *b);
/** The calendar period (UTC) that holds @a now, as "2026-12" or
 *  "2026-12-07" in @a id (at least 11 bytes), and when it ends. */
void llm_access_budget_period(llm_access_period_e period, apr_time_t now,
                              char *id, apr_time_t *ends);

/* ---- exact limits over shared slots (llm_access_limit.c) ---- */

/** One bucket: the hash of its name (0: free) and the theoretical
 *  arrival time of its next request (GCRA) per limit it keeps. Lives in
 *  shared memory; changed with atomics only. */
typedef struct {
    volatile apr_uint64_t id;
    volatile apr_uint64_t tat;
} llm_limit_slot_t;

/** A table of slots in memory the caller owns (shared memory in
 *  httpd, any memory in the unit tests), zeroed before first use:
 *  llm_limit_table_size() bytes, the slots and then, for each, the end
 *  of the period of the budget it counts (Unix seconds; 0: the slot is
 *  no budget's), which the state file (llm_access_budget.c) needs. */
typedef struct {
    llm_limit_slot_t *slots;
    volatile apr_uint32_t *ends;
    apr_uint32_t nslots;
} llm_limit_table_t;

/** What a limit said of a request (X-RateLimit-* headers). */
typedef struct {
    int allowed;
    apr_int64_t limit;
    apr_int64_t remaining;              /**< requests (tokens) left now */
    apr_interval_time_t reset;          /**< until the bucket is full */
    apr_interval_time_t retry_after;    /**< when refused: wait this */
} llm_limit_result_t;

apr_size_t llm_limit_table_size(apr_uint32_t nslots);
void llm_limit_table_init(llm_limit_table_t *t, void *mem,
                          apr_uint32_t nslots);
/** The slot of bucket @a name, claimed on first use; NULL when the
 *  table is full. */
llm_limit_slot_t *llm_limit_slot(llm_limit_table_t *t, const char *name);
/** The same by the hash of the name (never 0), as the state file keeps
 *  it. */
llm_limit_slot_t *llm_limit_slot_id(llm_limit_table_t *t, apr_uint64_t id);
/** GCRA: let a request of @a cost through @a rate at @a now, or not;
 *  the bucket is charged only when it is let through. */
void llm_limit_take(volatile apr_uint64_t *tat, const llm_access_rate_t *rate,
                    apr_int64_t cost, apr_time_t now,
                    llm_limit_result_t *res);
/** Charge @a cost whatever the state (tokens, once an answer is over). */
void llm_limit_charge(volatile apr_uint64_t *tat,
                      const llm_access_rate_t *rate, apr_int64_t cost,
                      apr_time_t now);

/** W/N rounded up to a whole microsecond (at least 1). */
apr_int64_t llm_limit_spacing(const llm_access_rate_t *rate);

/* ---- the same limits in Redis, across nodes (llm_access_redis.c) ---- */

struct redisContext;

/** "host:port". NULL, or why not. */
const char *llm_access_redis_parse(apr_pool_t *p, const char *arg,
                                   const char **host, int *port);
/** A connection (NULL and *why when there is none). */
struct redisContext *llm_access_redis_connect(const char *host, int port,
                                              apr_interval_time_t timeout,
                                              const char **why);
void llm_access_redis_close(struct redisContext *c);
/** The GCRA of llm_limit_take (@a take 1) or llm_limit_charge (@a take
 *  0) on Redis's bucket @a bucket, atomically, on Redis's clock.
 *  APR_SUCCESS, or an error when Redis did not answer as it should. */
apr_status_t llm_access_redis_gcra(struct redisContext *c, apr_pool_t *p,
                                   const char *bucket,
                                   const llm_access_rate_t *rate,
                                   apr_int64_t cost, int take,
                                   llm_limit_result_t *res);

/** The record of key hash @a hex in Redis (llm:key:<hex>, the JSON of
 *  llm_access_key_json), as text in *json (NULL: no such key).
 *  APR_SUCCESS, or an error when Redis did not answer. */
apr_status_t llm_access_redis_key(struct redisContext *c, apr_pool_t *p,
                                  const char *hex, const char **json);

/** A budget's counter in Redis: add @a add tokens (0: read only) to
 *  @a bucket, which expires at @a ends; *spent is the new total. */
apr_status_t llm_access_redis_budget(struct redisContext *c, apr_pool_t *p,
                                     const char *bucket, apr_int64_t add,
                                     apr_time_t ends, apr_int64_t *spent);

/** A budget: what a bucket has spent (its slot's word counts tokens)
 *  against @a budget; res->retry_after is left to the caller. */
void llm_budget_check(volatile apr_uint64_t *spent, apr_int64_t budget,
                      llm_limit_result_t *res);
/** Add @a tokens to what a bucket has spent. */
void llm_budget_charge(volatile apr_uint64_t *spent, apr_int64_t tokens);

/* ---- budgets across a full stop: the state file (llm_access_budget.c) */

/** The state file's first line: its layout. A file that starts with
 *  anything else is another layout's, and is not read. */
#define LLM_BUDGET_STATE_MAGIC "mod_llm budget state 1"

/** One budget bucket as the state file keeps it. */
typedef struct {
    apr_uint64_t id;        /**< the hash of the bucket's name, which
                                 names its holder, period and budget */
    apr_uint32_t ends;      /**< its period's end, Unix seconds */
    apr_int64_t spent;      /**< tokens, > 0 */
} llm_budget_rec_t;

/** Slot @a slot of @a t counts a budget whose period ends at @a ends: a
 *  load per request, a store once per period. */
void llm_budget_mark(llm_limit_table_t *t, const llm_limit_slot_t *slot,
                     apr_time_t ends);
/** The budget buckets of @a t whose period is not over at @a now and
 *  that spent something (llm_budget_rec_t, in slot order). */
apr_array_header_t *llm_budget_collect(apr_pool_t *p,
                                       const llm_limit_table_t *t,
                                       apr_time_t now);
/** The state file's text of @a recs; *sum (when not NULL) is its
 *  checksum, which changes when any record does. */
const char *llm_budget_state_text(apr_pool_t *p,
                                  const apr_array_header_t *recs,
                                  apr_uint64_t *sum);
/** Parse a state file's @a len bytes into llm_budget_rec_t records.
 *  NULL, or why not (another layout, a broken line, a wrong count or
 *  checksum: a file that is not exactly what llm_budget_state_text
 *  writes). */
const char *llm_budget_state_parse(apr_pool_t *p, const char *text,
                                   apr_size_t len, apr_array_header_t **out);
/** Read and parse @a path; no file is no record. NULL, or why not. */
const char *llm_budget_state_load(apr_pool_t *p, const char *path,
                                  apr_array_header_t **out);
/** Put @a recs back in @a t at @a now: records of a period that is over
 *  (or that cannot be current: more than 31 days ahead) are dropped
 *  (*dropped), as are those a full table has no slot for (*full).
 *  Returns how many were restored. */
int llm_budget_restore(llm_limit_table_t *t, const apr_array_header_t *recs,
                       apr_time_t now, int *dropped, int *full);

/* ---- files httpd and llmctl write (llm_access_store.c) ---- */

/** Replace @a path by @a text atomically: written to a new file beside
 *  it ("<path>.XXXXXX", mkstemp: never through a symbolic link),
 *  fsync()ed, renamed over @a path, the directory fsync()ed; the mode
 *  (and, when root writes, the owner) of @a like when it is not NULL,
 *  else 0600. NULL, or why not. */
const char *llm_access_file_replace(apr_pool_t *p, const char *path,
                                    const char *like, const char *text);

/* ---- last use of each key, batched (llm_access_used.c) ---- */

/** Longest name a last-used slot keeps: a key id (1-64) or a hash hex. */
#define LLM_USED_NAME 65

/** What a key was last used and, when it has a token budget, where its
 *  budget's count is. One per key per store, in shared memory; written
 *  with atomics only: a request stores the time only when it moved by
 *  the granularity or more, the flusher (httpd's parent process) alone
 *  writes @a flushed. */
typedef struct {
    volatile apr_uint64_t id;            /**< hash of (store, key id); 0
                                              free */
    volatile apr_uint64_t store;         /**< llm_used_store_hash() */
    volatile apr_uint64_t budget;        /**< the budget, tokens; 0 none */
    volatile apr_uint32_t ready;         /**< the names are written */
    volatile apr_uint32_t used;          /**< last use, Unix seconds */
    volatile apr_uint32_t flushed;       /**< written to the store up to */
    volatile apr_uint32_t budget_ends;   /**< its period's end, Unix s */
    volatile apr_uint32_t budget_period; /**< llm_access_period_e */
    volatile apr_uint32_t budget_slot;   /**< its limit slot + 1; 0: in
                                              Redis */
    char key_id[LLM_USED_NAME];
    char hash[LLM_USED_NAME];            /**< the key's SHA-256 hex */
} llm_used_slot_t;

typedef struct {
    llm_used_slot_t *slots;
    apr_uint32_t nslots;
} llm_used_table_t;

apr_size_t llm_used_table_size(apr_uint32_t nslots);
void llm_used_table_init(llm_used_table_t *t, void *mem, apr_uint32_t nslots);
/** A store's identity in the table: "file:<path>" or "redis:<host:port>",
 *  hashed (never 0). */
apr_uint64_t llm_used_store_hash(const char *name);
/** The slot of key @a k of store @a store, claimed (and named) on first
 *  use; NULL when the table is full. */
llm_used_slot_t *llm_used_slot(llm_used_table_t *t, apr_uint64_t store,
                               const llm_access_key_t *k);
/** A use at @a now (Unix seconds): stored only when it is @a granularity
 *  seconds or more after the time kept. Returns 1 when it stored. */
int llm_used_touch(llm_used_slot_t *s, apr_uint32_t now,
                   apr_uint32_t granularity);

/** One key whose use is not in its store yet. */
typedef struct {
    llm_used_slot_t *slot;
    const char *key_id;
    const char *hash;
    apr_uint32_t used;
} llm_used_entry_t;

/** The keys of @a store used since they were last flushed (entries
 *  llm_used_entry_t, copied into @a p). */
apr_array_header_t *llm_used_dirty(apr_pool_t *p, llm_used_table_t *t,
                                   apr_uint64_t store);
/** The entries of llm_used_dirty are in their store now. */
void llm_used_mark_flushed(const apr_array_header_t *entries);

/** Where key @a u's budget is counted: @a count tokens per @a period,
 *  ending at @a ends, in limit slot @a index (1-based; 0: in Redis).
 *  Stores only what changed (once per period). */
void llm_used_set_budget(llm_used_slot_t *u, apr_int64_t count,
                         llm_access_period_e period, apr_time_t ends,
                         apr_uint32_t index);

/** What the budget of @a u has spent (its key id @a key_id) at @a now;
 *  < 0 when it cannot be read. */
typedef apr_int64_t (llm_used_spent_fn)(void *ctx, const llm_used_slot_t *u,
                                        const char *key_id, apr_time_t now);

/** llm_access_each_budget's walk: @a fn for each key of store @a a or
 *  @a b (0: none) whose budget period is not over at @a now and that has
 *  spent some of it (@a spent says how much), at most @a max keys;
 *  strings in @a p. Changes nothing. Returns the keys given to fn. */
int llm_used_each_budget(apr_pool_t *p, llm_used_table_t *t,
                         apr_uint64_t a, apr_uint64_t b, apr_time_t now,
                         int max, llm_used_spent_fn *spent, void *ctx,
                         llm_key_budget_fn *fn, void *baton);

/** Where the last-used times of key file @a key_file are kept: a file
 *  beside it, "<key file>.last-used",
 *  {"last_used":{"<id>":<Unix seconds>,...}}. */
const char *llm_used_sidecar(apr_pool_t *p, const char *key_file);
/** Read a sidecar into id -> apr_time_t * (an empty hash when there is
 *  none). NULL, or why not. */
const char *llm_used_read(apr_pool_t *p, const char *path, apr_hash_t **out);
/** The same from @a len bytes at @a buf (no NUL needed), into @a out;
 *  @a path names the file in the error. Ids with a time outside
 *  1970..2106 are left out. */
const char *llm_used_parse(apr_pool_t *p, const char *path,
                           const char *buf, apr_size_t len, apr_hash_t *out);
/** Merge @a entries into the sidecar @a path (the later time of each id
 *  wins), written beside and renamed over it with the permissions (and,
 *  when allowed, the owner) of @a like (the key file). NULL, or why not. */
const char *llm_used_merge(apr_pool_t *p, const char *path, const char *like,
                           const apr_array_header_t *entries);
/** Set last_used of each key of @a s from @a times (id -> apr_time_t *;
 *  @a by_hash: keyed by the key's hash, as in Redis). */
void llm_used_apply(llm_access_store_t *s, apr_hash_t *times, int by_hash);

/** Redis: the last-used times, one HSET of every entry on
 *  LLM_USED_REDIS_KEY (field: the key's hash). */
#define LLM_USED_REDIS_KEY "llm:key-last-used"
apr_status_t llm_access_redis_used(struct redisContext *c, apr_pool_t *p,
                                   const apr_array_header_t *entries);
/** Redis: every last-used time (hash -> apr_time_t *). */
apr_status_t llm_access_redis_used_all(struct redisContext *c, apr_pool_t *p,
                                       apr_hash_t **out);

#endif /* LLM_ACCESS_H */
