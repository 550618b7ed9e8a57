/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_audit.h
 * @brief The audit engine: hash-chained records as JSON lines, sealed
 *        per record with OpenPGP (gpgme), appended to rotated files.
 *        APR, json-c and gpgme only (no request_rec): unit-tested in
 *        t/unit/test_audit*.c, used by mod_llm_audit and llmctl.
 *
 * The trail (docs/audit.md):
 *
 *   dir/llm-audit.0000000000000001.jsonl     records 1..k
 *   dir/llm-audit.<k+1, 16 digits>.jsonl     records k+1.. (rotated)
 *
 * Each line is one record. Plaintext (LLMAuditEncrypt Off):
 *
 *   {"seq":7,"time":"2025-01-02T03:04:05.123456Z","event":"request",
 *    "prev":"<sha256 hex>", ...fields}
 *
 * Encrypted (the default), the same record sealed and wrapped:
 *
 *   {"seq":7,"prev":"<sha256 hex>","pgp":"-----BEGIN PGP MESSAGE-----\n..."}
 *
 * or, written in batches (LLMAuditSync batch), several records sealed
 * as one message, one body per line, seq 7 to 7 + count - 1:
 *
 *   {"seq":7,"count":40,"prev":"<sha256 hex>","pgp":"-----BEGIN PGP..."}
 *
 * "prev" is the SHA-256 of the previous line as stored (without its
 * newline) — of the sealed envelope when encrypted — so that the chain
 * is checked without the private key (llm_audit_verify). Record 1's
 * prev is the hash of LLM_AUDIT_GENESIS; the first record of a rotated
 * file carries the hash of the last record of the file before it. The
 * sealed body holds neither seq nor prev (they are given under the
 * trail's lock, after the seal): the chain covers the ciphertext, so
 * an envelope moved, or a ciphertext swapped for another, breaks it.
 */

#ifndef LLM_AUDIT_H
#define LLM_AUDIT_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_file_io.h"

#include <json-c/json.h>

#include "llm_buf.h"

/* SHA-256: core's (llm_sha256.h; httpd links no libcrypto). */
#include "llm_sha256.h"

/* ------------------------------------------------------------------ */
/* Records (llm_audit_record.c)                                        */
/* ------------------------------------------------------------------ */

/** What the chain of a new trail starts from (its hash is record 1's
 *  prev). */
#define LLM_AUDIT_GENESIS "mod_llm audit trail v1"

/** Where the chain stands: the last record written (0: none yet) and
 *  the hash of its line (the genesis hash when none). */
typedef struct {
    apr_uint64_t seq;
    char prev[LLM_CORE_SHA256_HEX];
} llm_audit_chain_t;

/** A new trail's chain: seq 0, prev = hash of LLM_AUDIT_GENESIS. */
void llm_audit_chain_genesis(llm_audit_chain_t *chain);

/** RFC 3339 UTC with microseconds: 2025-01-02T03:04:05.123456Z. */
const char *llm_audit_time(apr_pool_t *p, apr_time_t t);

/** A string value safe for a record: invalid UTF-8 sequences become
 *  U+FFFD (json-c escapes control characters itself), NULL gives a
 *  JSON null. */
json_object *llm_audit_str(const char *s);
json_object *llm_audit_strn(const char *s, apr_size_t len);

/** The length of the valid UTF-8 sequence at @a s (of @a n bytes), 0
 *  when it is not one (RFC 3629). */
apr_size_t llm_audit_utf8_seq(const unsigned char *s, apr_size_t n);

/* ------------------------------------------------------------------ */
/* Records written as JSON text (llm_audit_json.c)                     */
/* ------------------------------------------------------------------ */

#define LLM_AUDIT_W_DEPTH 8

/** A record's fields written straight as JSON members ("k":v,...),
 *  without json-c objects: the hot path of every audited request. */
typedef struct {
    llm_buf_t buf;
    int count[LLM_AUDIT_W_DEPTH];    /* members so far, per level */
    int depth;
} llm_audit_w_t;

void llm_audit_w_init(llm_audit_w_t *w, apr_pool_t *p);
/** One member "k":value (@a k NULL: an array's element); a NULL string
 *  is null; strings are escaped, invalid UTF-8 becomes U+FFFD. */
void llm_audit_w_str(llm_audit_w_t *w, const char *k, const char *s);
void llm_audit_w_strn(llm_audit_w_t *w, const char *k, const char *s,
                      apr_size_t len);
void llm_audit_w_int(llm_audit_w_t *w, const char *k, apr_int64_t n);
void llm_audit_w_bool(llm_audit_w_t *w, const char *k, int b);
/** "k":{ or "k":[ ... closed by llm_audit_w_close with } or ]. */
void llm_audit_w_open(llm_audit_w_t *w, const char *k, char bracket);
void llm_audit_w_close(llm_audit_w_t *w, char bracket);
/** What was written, NUL-terminated (owned by the writer's pool). */
const char *llm_audit_w_text(llm_audit_w_t *w, apr_size_t *len);

/** One record to write: when, which event, its fields (an object or
 *  NULL, members in their order; never seq, time, event or prev), and,
 *  once llm_audit_seal() ran, the armored message (NULL: plaintext).
 *  A batch is an entry whose pgp seals @a count record bodies (time,
 *  event and fields unused); 0 means 1. Fields may be given as JSON
 *  text instead (@a text: members without braces, from an
 *  llm_audit_w_t; used when @a fields is NULL). */
typedef struct {
    apr_time_t time;
    const char *event;
    json_object *fields;
    const char *pgp;
    apr_uint64_t count;
    const char *text;
    apr_size_t text_len;
} llm_audit_entry_t;

/** The most records one sealed batch may hold. */
#define LLM_AUDIT_BATCH_MAX 100000

/** The plaintext line (no newline) of @a e as record @a seq after
 *  @a prev: seq, time, event, prev, then every field in its order.
 *  Allocated from @a p. */
const char *llm_audit_record_line(apr_pool_t *p, apr_uint64_t seq,
                                  const char *prev,
                                  const llm_audit_entry_t *e,
                                  apr_size_t *len);

/** What is sealed of @a e: {"time","event",...fields}, no seq, no
 *  prev (they are not known before the lock; the envelope carries
 *  them and the chain covers the ciphertext). */
const char *llm_audit_body_line(apr_pool_t *p, const llm_audit_entry_t *e,
                                apr_size_t *len);

/** The envelope line of a sealed record, or of a batch of @a count
 *  records sealed together (count > 1 is written as "count"). */
const char *llm_audit_envelope_line(apr_pool_t *p, apr_uint64_t seq,
                                    apr_uint64_t count, const char *prev,
                                    const char *armored, apr_size_t *len);

/** A sealed record's opened body back as its plaintext line (seq and
 *  prev from the envelope); NULL when @a body is not a record body. */
const char *llm_audit_unseal_line(apr_pool_t *p, apr_uint64_t seq,
                                  const char *prev, const char *body,
                                  apr_size_t len, apr_size_t *out_len);

/** What one line of a trail says about the chain: its seq and prev,
 *  and the armored message when sealed (NULL for a plaintext record).
 *  APR_EINVAL when the line is not a record (*why says what). */
typedef struct {
    apr_uint64_t seq;
    apr_uint64_t count;              /* records the line holds: 1, or a
                                        sealed batch's count */
    char prev[LLM_CORE_SHA256_HEX];
    const char *pgp;                 /* in @a p, or NULL */
} llm_audit_head_t;

apr_status_t llm_audit_line_head(apr_pool_t *p, const char *line,
                                 apr_size_t len, llm_audit_head_t *head,
                                 const char **why);

/* ------------------------------------------------------------------ */
/* OpenPGP through gpgme (llm_audit_gpg.c)                             */
/* ------------------------------------------------------------------ */

typedef struct llm_audit_gpg llm_audit_gpg_t;

/** gpgme_check_version() and the locale, once per process, before
 *  threads. NULL, or why not. */
const char *llm_audit_gpg_init(void);

/**
 * Build the keyring the engine encrypts with: @a home (a directory the
 * engine owns, created mode 0700 when missing) gets the public key of
 * each recipient in @a specs (const char *): a full fingerprint (40 or
 * 64 hex digits, exported from @a keyring, a GNUPGHOME; NULL: gpg's
 * default) or else the path of a key file (imported; a file with a
 * secret key is refused). Each key must be able to encrypt and be
 * neither revoked, expired nor disabled. The fingerprints of the keys
 * are put in *fprs (const char *). NULL, or why not (in @a p).
 */
const char *llm_audit_gpg_prepare(apr_pool_t *p, const char *home,
                                  const apr_array_header_t *specs,
                                  const char *keyring,
                                  apr_array_header_t **fprs);

/**
 * A sealer on @a home for the keys @a fprs (from llm_audit_gpg_prepare),
 * released with @a p. Thread-safe: it keeps a gpgme context per
 * concurrent caller. NULL, or why not.
 */
const char *llm_audit_gpg_make(apr_pool_t *p, const char *home,
                               const apr_array_header_t *fprs,
                               llm_audit_gpg_t **gpg);

/** Seal @a e's body (llm_audit_body_line) to every recipient, ASCII-
 *  armored, into e->pgp. Needs no lock of the trail. APR_SUCCESS, or
 *  an error with *why. */
apr_status_t llm_audit_seal(llm_audit_gpg_t *gpg, apr_pool_t *p,
                            llm_audit_entry_t *e, const char **why);

/** Seal @a len bytes of @a text (a batch: bodies one per line) into
 *  *armored, in @a p. */
apr_status_t llm_audit_seal_text(llm_audit_gpg_t *gpg, apr_pool_t *p,
                                 const char *text, apr_size_t len,
                                 const char **armored, const char **why);

/** An armored message opened with the secret keys of @a home (NULL:
 *  GNUPGHOME or gpg's default); NULL on failure with *why. */
const char *llm_audit_gpg_decrypt(apr_pool_t *p, const char *home,
                                  const char *armored, apr_size_t *len,
                                  const char **why);

/* ------------------------------------------------------------------ */
/* The trail's files (llm_audit_trail.c)                               */
/* ------------------------------------------------------------------ */

#define LLM_AUDIT_PREFIX "llm-audit."
#define LLM_AUDIT_SUFFIX ".jsonl"

/** One file of a trail: its name (in the directory), the seq its name
 *  gives, and the number that tells apart two files of one seq (a new
 *  file started after a crash tore the last record of one). */
typedef struct {
    const char *path;
    const char *name;
    apr_uint64_t seq;
    unsigned int n;
} llm_audit_file_t;

/** The trail's files in @a dir in chain order (llm_audit_file_t);
 *  other names are ignored. NULL when the directory cannot be read. */
apr_array_header_t *llm_audit_files(apr_pool_t *p, const char *dir,
                                    apr_status_t *rv);

/** What the trail looks like when it is opened (for the error log). */
typedef struct {
    int files;                       /* trail files found */
    const char *last_file;           /* the newest (NULL: none) */
    apr_uint64_t last_seq;           /* the last good record's seq */
    apr_off_t torn_bytes;            /* bytes after it: a record torn by
                                        a crash (or lines not records) */
    int new_file;                    /* a new file was started */
} llm_audit_found_t;

/**
 * The state of a trail several writers share (put it in shared memory):
 * the chain, the file records go to and its size. Change it only with
 * the trail's lock held.
 */
typedef struct {
    llm_audit_chain_t chain;
    apr_uint64_t file_seq;           /* the current file's name: seq, n */
    unsigned int file_n;
    apr_off_t size;                  /* its size */
    apr_time_t file_started;         /* when it was opened (or found at
                                        start-up): for LLMAuditRotate's
                                        age */
    int broken;                      /* a failed write left bytes that
                                        could not be cut: next file */
    /* The trail failing (kept by mod_llm_audit, with the lock held). */
    apr_time_t failing_since;        /* the first failed write of a run
                                        of them; 0 when the last worked */
    apr_uint64_t lost;               /* records not written since */
    apr_uint64_t refused;            /* requests refused since
                                        (LLMAuditOnFailure closed) */
    volatile apr_uint32_t probe_at;  /* apr_time_sec of the last try to
                                        write again while failing */
} llm_audit_state_t;

/**
 * Read where the trail in @a dir stands into @a st (the last good
 * record of the newest file; a torn tail is left in place and a new
 * file started after it, linked to the last good record). Creates
 * @a dir (0700) when missing. NULL, or why not.
 */
const char *llm_audit_recover(apr_pool_t *p, const char *dir,
                              llm_audit_state_t *st,
                              llm_audit_found_t *found);

typedef struct llm_audit_trail llm_audit_trail_t;

typedef struct {
    const char *dir;
    apr_off_t rotate_size;           /* a new file past it; 0: never */
    apr_interval_time_t rotate_age;  /* a new file when the current one
                                        is older; 0: never */
    int sync;                        /* fsync after each record */
} llm_audit_opts_t;

/** A writer of the trail whose state is @a st (recovered first; it may
 *  live in shared memory). The file is opened on the first append.
 *  One per process (or per thread), used with the trail's lock held. */
llm_audit_trail_t *llm_audit_trail_make(apr_pool_t *p,
                                        const llm_audit_opts_t *o,
                                        llm_audit_state_t *st);

/**
 * Append @a e (sealed when e->pgp is set; a batch of e->count records
 * when that is more than 1) as the trail's next record(s).
 * The caller holds the trail's lock. On success the state moves on
 * (seq, prev, size) and *seq is the (first) record's; on failure nothing of the
 * record stays in the file (what was written is cut off, or the next
 * record starts a new file) and *why says what failed.
 */
apr_status_t llm_audit_append(llm_audit_trail_t *t, apr_pool_t *p,
                              const llm_audit_entry_t *e,
                              apr_uint64_t *seq, const char **why);

/* ------------------------------------------------------------------ */
/* Verification and reading (llm_audit_verify.c)                       */
/* ------------------------------------------------------------------ */

/** What llm_audit_verify found. */
typedef enum {
    LLM_AUDIT_INTACT = 0,            /* every record chained */
    LLM_AUDIT_BROKEN,                /* a record altered, deleted,
                                        reordered or not a record */
    LLM_AUDIT_TORN                   /* intact, but a record was torn by
                                        a crash (the last of a file) */
} llm_audit_verdict_e;

typedef struct {
    llm_audit_verdict_e verdict;
    apr_uint64_t records;            /* records that chained */
    int files;
    const char *message;             /* names the first bad record */
} llm_audit_report_t;

/** Check the chain over the trail files of @a dirs (each a trail
 *  directory or one trail file), in chain order. @a partial accepts a
 *  trail whose first records were removed on purpose (retention): it
 *  then starts from the first record found. Returns APR_SUCCESS when
 *  the files could be read (the verdict is in @a rep). */
apr_status_t llm_audit_verify(apr_pool_t *p,
                              const apr_array_header_t *dirs,
                              int partial, llm_audit_report_t *rep);

/** Call @a fn with each line of the trail in @a dirs (chain order),
 *  opened when sealed (with the keys of @a home, NULL: the default
 *  keyring) and checked against its envelope. Stops at the first
 *  non-zero return of @a fn. NULL, or why not. */
typedef int (*llm_audit_line_fn)(void *baton, const char *file,
                                 const char *line, apr_size_t len);
const char *llm_audit_read(apr_pool_t *p, const apr_array_header_t *dirs,
                           const char *home, llm_audit_line_fn fn,
                           void *baton);

#endif /* LLM_AUDIT_H */
