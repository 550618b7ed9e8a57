/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl key: the life of API keys in mod_llm_access's key file
 * (docs/access.md). httpd reads the file at (graceful) restart, so a
 * change takes effect with "apachectl graceful".
 *
 * The key itself is printed once, by create and rotate, and stored
 * nowhere: the file holds its SHA-256.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_date.h"
#include "apr_file_info.h"
#include "apr_file_io.h"
#include "apr_portable.h"

#include "llmctl.h"
#include <hiredis/hiredis.h>

#include "llm_access.h"
#include "llm_json.h"

#define DEFAULT_GRACE_S 86400

static const char help[] =
"usage: llmctl key create  --file F [--id ID] [--permissions P,...]\n"
"                          [--models M,...] [--requests N/WINDOW]\n"
"                          [--tokens N/WINDOW] [--budget N/PERIOD]\n"
"                          [--expires DURATION]\n"
"                          [--meta NAME=VALUE]...\n"
"       llmctl key list    --file F\n"
"       llmctl key show    --file F ID\n"
"       llmctl key revoke  --file F ID\n"
"       llmctl key disable --file F ID\n"
"       llmctl key enable  --file F ID\n"
"       llmctl key rotate  --file F [--grace DURATION] [--new-id ID] ID\n"
"\n"
"--redis HOST:PORT instead of --file works on the keys kept in Redis\n"
"(LLMAccessKeyRedis On), one record a key at llm:key:<sha256>; nodes see\n"
"a change within LLMAccessKeyCache seconds, with no restart.\n"
"\n"
"The file is LLMAccessKeyFile (created by the first create); httpd reads\n"
"it at each (graceful) restart. --file may be left out when\n"
"LLMCTL_KEY_FILE names it.\n"
"\n"
"create   makes a key and prints it once on stdout (nothing keeps it:\n"
"         the file holds its SHA-256). --permissions: chat, embedding,\n"
"         anthropic, ollama, builtin, admin (default: all but admin);\n"
"         --models: names or globs (default: every model); --requests,\n"
"         --tokens: limits such as 60/min, 100k/hour; --budget: tokens\n"
"         per calendar day or month (UTC), 5M/month; --expires: a\n"
"         duration from now (30d, 12h, 90m, 3600s). --id: default\n"
"         key-<8 hex>.\n"
"list     one line per key: id, shown prefix, state, permissions,\n"
"         expiry, last use. No key is ever shown.\n"
"show     the record of ID as JSON (its hash, not the key), with\n"
"         last_used (Unix seconds, null if never), as httpd last wrote\n"
"         it: every LLMAccessLastUsedInterval (60 s).\n"
"revoke   ID stops working for good (401 key_inactive); enable refuses\n"
"         it afterwards.\n"
"disable  ID stops working (401 key_inactive) until enable.\n"
"rotate   makes a new key with ID's policy and prints it; ID keeps\n"
"         working for --grace (default 24h; 0: at once), then gets 401\n"
"         key_rotated. --new-id: default ID-r<unix seconds>.\n"
"\n"
"exit: 0 done; 1 the work failed (no such id, an id taken, enable of a\n"
"      revoked key, the file cannot be written); 2 usage, or the file\n"
"      cannot be read or is not a key file\n";

typedef struct {
    const char *file, *id, *perms, *models, *requests, *tokens;
    const char *expires, *grace, *new_id, *budget, *redis, *arg;
    apr_array_header_t *meta;
} key_opts_t;

static int usage(const char *why)
{
    fprintf(stderr, "llmctl key: %s\n(llmctl key --help)\n", why);
    return LLMCTL_USAGE;
}

static const char **slot_of(key_opts_t *o, const char *name)
{
    static const struct {
        const char *name;
        apr_size_t off;
    } slots[] = {
        { "--file", APR_OFFSETOF(key_opts_t, file) },
        { "--id", APR_OFFSETOF(key_opts_t, id) },
        { "--permissions", APR_OFFSETOF(key_opts_t, perms) },
        { "--models", APR_OFFSETOF(key_opts_t, models) },
        { "--requests", APR_OFFSETOF(key_opts_t, requests) },
        { "--tokens", APR_OFFSETOF(key_opts_t, tokens) },
        { "--expires", APR_OFFSETOF(key_opts_t, expires) },
        { "--grace", APR_OFFSETOF(key_opts_t, grace) },
        { "--new-id", APR_OFFSETOF(key_opts_t, new_id) },
        { "--budget", APR_OFFSETOF(key_opts_t, budget) },
        { "--redis", APR_OFFSETOF(key_opts_t, redis) },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        if (!strcmp(name, slots[i].name)) {
            return (const char **)((char *)o + slots[i].off);
        }
    }
    return NULL;
}

/* Options (each takes a value) and at most one argument, the id. */
static const char *parse_opts(apr_pool_t *p, int argc,
                              const char *const *argv, key_opts_t *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->meta = apr_array_make(p, 2, sizeof(const char *));
    for (i = 1; i < argc; i++) {
        const char **slot = slot_of(o, argv[i]);

        if (!strcmp(argv[i], "--meta") && i + 1 < argc) {
            APR_ARRAY_PUSH(o->meta, const char *) = argv[++i];
        }
        else if (slot && i + 1 < argc) {
            *slot = argv[++i];
        }
        else if (argv[i][0] == '-' || o->arg) {
            return apr_pstrcat(p, "unexpected ", argv[i], NULL);
        }
        else {
            o->arg = argv[i];
        }
    }
    if (!o->file && !o->redis) {
        o->file = getenv("LLMCTL_KEY_FILE");
    }
    if (o->file && o->redis) {
        return "--file or --redis, not both";
    }
    return o->file || o->redis ? NULL
           : "--file (or LLMCTL_KEY_FILE) names the key file, or --redis "
             "HOST:PORT the Redis";
}

/* 30d, 12h, 90m, 3600s, or plain seconds. -1 when not a duration. */
static apr_int64_t seconds_of(const char *s)
{
    char *end;
    apr_int64_t n = apr_strtoi64(s, &end, 10);

    if (end == s || n < 0) {
        return -1;
    }
    switch (*end) {
    case 'd': n *= 24; /* fall through */
    case 'h': n *= 60; /* fall through */
    case 'm': n *= 60; /* fall through */
    case 's': end++; break;
    default: break;
    }
    return *end ? -1 : n;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */
/* ------------------------------------------------------------------ */

/* "<file>.lock", made if need be: never through a symbolic link, and
 * only a regular file (llmctl often runs as root in a directory others
 * may write to). */
static apr_status_t open_lock_file(apr_pool_t *p, const char *path,
                                   apr_file_t **f)
{
    struct stat st;
    apr_os_file_t fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC
                                  | O_NONBLOCK, 0600);

    if (fd < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return APR_EINVAL;
    }
    return apr_os_file_put(f, &fd, APR_FOPEN_WRITE, p);
}

/* A change to the key file is read, made and renamed over the file
 * under an exclusive lock on "<file>.lock" (not on the file itself,
 * which the rename replaces), so that two runs at once never lose a
 * key: the second waits, then reads what the first wrote. The lock goes
 * when llmctl exits. Readers (list, show)
 * take none: the rename is atomic. */
static int lock_for_change(apr_pool_t *p, const key_opts_t *o)
{
    const char *path;
    apr_file_t *f;
    apr_status_t rv;
    char err[120];

    if (!o->file) {
        return LLMCTL_OK;       /* Redis: one SET per record */
    }
    path = apr_pstrcat(p, o->file, ".lock", NULL);
    rv = open_lock_file(p, path, &f);
    if (rv == APR_SUCCESS) {
        rv = apr_file_lock(f, APR_FLOCK_EXCLUSIVE);
    }
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "llmctl key: cannot lock %s: %s\n", path,
                apr_strerror(rv, err, sizeof(err)));
        return LLMCTL_FAIL;
    }
    return LLMCTL_OK;
}

/* ------------------------------------------------------------------ */
/* Keys in Redis (LLMAccessKeyRedis On): llm:key:<hash> = the record     */
/* ------------------------------------------------------------------ */

static struct redisContext *redis;

static int redis_open(apr_pool_t *p, const char *target)
{
    const char *host, *why;
    int port;

    if ((why = llm_access_redis_parse(p, target, &host, &port)) != NULL) {
        fprintf(stderr, "llmctl key: --redis %s: %s\n", target, why);
        return LLMCTL_USAGE;
    }
    redis = llm_access_redis_connect(host, port, apr_time_from_sec(5), &why);
    if (!redis) {
        fprintf(stderr, "llmctl key: Redis at %s: %s\n", target, why);
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

static int redis_add(apr_pool_t *p, llm_access_store_t *s, const char *name)
{
    redisReply *rep = redisCommand(redis, "GET %s", name);
    llm_access_key_t *k;
    const char *why = "not a string";

    if (rep && rep->type == REDIS_REPLY_STRING) {
        why = llm_access_record_parse(p, rep->str, rep->len, &k);
        if (!why) {
            why = llm_access_store_add(s, k);
        }
    }
    if (rep) {
        freeReplyObject(rep);
    }
    if (why) {
        fprintf(stderr, "llmctl key: %s: %s\n", name, why);
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

/* Every record under llm:key:*, as a store. */
static int redis_load(apr_pool_t *p, const char *target,
                      llm_access_store_t **s)
{
    char cursor[32] = "0";
    int rc;

    if ((rc = redis_open(p, target)) != LLMCTL_OK) {
        return rc;
    }
    *s = llm_access_store_make(p, apr_pstrcat(p, "redis ", target, NULL));
    do {
        redisReply *rep = redisCommand(redis, "SCAN %s MATCH llm:key:* "
                                       "COUNT 1000", cursor);
        size_t i;

        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            fprintf(stderr, "llmctl key: Redis at %s: SCAN failed\n",
                    target);
            return LLMCTL_USAGE;
        }
        apr_cpystrn(cursor, rep->element[0]->str, sizeof(cursor));
        for (i = 0; i < rep->element[1]->elements; i++) {
            if ((rc = redis_add(p, *s, rep->element[1]->element[i]->str))
                != LLMCTL_OK) {
                freeReplyObject(rep);
                return rc;
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0"));
    return LLMCTL_OK;
}

static int redis_save(apr_pool_t *p, const llm_access_store_t *s)
{
    int i;

    for (i = 0; i < s->keys->nelts; i++) {
        const llm_access_key_t *k = APR_ARRAY_IDX(s->keys, i,
                                                  llm_access_key_t *);
        redisReply *rep = redisCommand(redis, "SET llm:key:%s %s", k->hash,
                                       llm_access_key_json(p, k));
        int ok = rep && rep->type == REDIS_REPLY_STATUS;

        if (rep) {
            freeReplyObject(rep);
        }
        if (!ok) {
            fprintf(stderr, "llmctl key: %s: SET failed\n", k->id);
            return LLMCTL_FAIL;
        }
    }
    return LLMCTL_OK;
}

/* last_used of every key: mod_llm_access's parent process writes them
 * in batches to a sidecar of the key file (or to a hash in Redis). A
 * store without them shows none. */
static void load_used(apr_pool_t *p, const key_opts_t *o,
                      llm_access_store_t *s)
{
    apr_hash_t *times;
    const char *why = NULL;

    if (o->redis) {
        if (llm_access_redis_used_all(redis, p, &times) != APR_SUCCESS) {
            why = "Redis did not answer HGETALL " LLM_USED_REDIS_KEY;
        }
    }
    else {
        why = llm_used_read(p, llm_used_sidecar(p, o->file), &times);
    }
    if (why) {
        fprintf(stderr, "llmctl key: last_used unknown: %s\n", why);
        return;
    }
    llm_used_apply(s, times, o->redis != NULL);
}

static int load(apr_pool_t *p, const key_opts_t *o, int may_be_new,
                llm_access_store_t **s)
{
    const char *path = o->file;

    apr_finfo_t fi;
    const char *why;

    if (o->redis) {
        return redis_load(p, o->redis, s);
    }
    if (may_be_new && apr_stat(&fi, path, APR_FINFO_TYPE, p)
                      == APR_ENOENT) {
        *s = llm_access_store_make(p, path);
        return LLMCTL_OK;
    }
    if ((why = llm_access_store_load(p, path, s)) != NULL) {
        fprintf(stderr, "llmctl key: %s\n", why);
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

static int save(apr_pool_t *p, llm_access_store_t *s)
{
    const char *why;

    if (redis) {
        return redis_save(p, s);
    }
    why = llm_access_store_save(p, s);

    if (why) {
        fprintf(stderr, "llmctl key: %s\n", why);
        return LLMCTL_FAIL;
    }
    return LLMCTL_OK;
}

static llm_access_key_t *find(llm_access_store_t *s, const char *id)
{
    llm_access_key_t *k = id ? apr_hash_get(s->by_id, id,
                                            APR_HASH_KEY_STRING) : NULL;

    if (!k) {
        fprintf(stderr, "llmctl key: no key %s in %s\n", id ? id : "(none)",
                s->path);
    }
    return k;
}

/* ------------------------------------------------------------------ */
/* create and rotate                                                   */
/* ------------------------------------------------------------------ */

static const char *policy_from(apr_pool_t *p, const key_opts_t *o,
                               llm_access_key_t *k)
{
    char *list, *last, *w;
    const char *why;

    if (o->perms) {
        k->perms = 0;
        list = apr_pstrdup(p, o->perms);
        for (w = apr_strtok(list, ",", &last); w;
             w = apr_strtok(NULL, ",", &last)) {
            if (!llm_access_perm_bit(w)) {
                return apr_pstrcat(p, "--permissions: no permission ", w,
                                   NULL);
            }
            k->perms |= llm_access_perm_bit(w);
        }
    }
    if (o->models) {
        list = apr_pstrdup(p, o->models);
        for (w = apr_strtok(list, ",", &last); w;
             w = apr_strtok(NULL, ",", &last)) {
            APR_ARRAY_PUSH(k->models, const char *) = w;
        }
    }
    if (o->requests && (why = llm_access_rate_parse(o->requests,
                                                    &k->requests))) {
        return apr_pstrcat(p, "--requests: ", why, NULL);
    }
    if (o->tokens && (why = llm_access_rate_parse(o->tokens, &k->tokens))) {
        return apr_pstrcat(p, "--tokens: ", why, NULL);
    }
    if (o->budget && (why = llm_access_budget_parse(o->budget,
                                                    &k->budget))) {
        return apr_pstrcat(p, "--budget: ", why, NULL);
    }
    return NULL;
}

static const char *meta_from(apr_pool_t *p, const key_opts_t *o,
                             llm_access_key_t *k)
{
    const char *out = "{";
    int i;

    for (i = 0; i < o->meta->nelts; i++) {
        const char *m = APR_ARRAY_IDX(o->meta, i, const char *);
        const char *eq = strchr(m, '=');

        if (!eq || eq == m) {
            return "--meta takes NAME=VALUE";
        }
        out = apr_pstrcat(p, out, i ? "," : "",
                          llm_json_quote(p, apr_pstrndup(p, m, eq - m)), ":",
                          llm_json_quote(p, eq + 1), NULL);
    }
    k->metadata = o->meta->nelts ? apr_pstrcat(p, out, "}", NULL) : NULL;
    return NULL;
}

/* A new record with a new key in *key; its id and policy are set by the
 * caller. */
static llm_access_key_t *new_key(apr_pool_t *p, const char **key)
{
    llm_access_key_t *k = apr_pcalloc(p, sizeof(*k));
    char *plain = llm_access_key_generate(p);

    if (!plain) {
        return NULL;
    }
    llm_access_key_hash(plain, strlen(plain), k->hash);
    k->shown = apr_pstrndup(p, plain, LLM_ACCESS_SHOWN_LEN);
    k->perms = LLM_PERM_ALL_BUT_ADMIN;
    k->models = apr_array_make(p, 2, sizeof(const char *));
    k->created = apr_time_now();
    k->active = 1;
    *key = plain;
    return k;
}

static const char *random_id(apr_pool_t *p)
{
    unsigned char b[4];

    apr_generate_random_bytes(b, sizeof(b));
    return apr_psprintf(p, "key-%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

static int add_and_save(apr_pool_t *p, llm_access_store_t *s,
                        llm_access_key_t *k, const char *key)
{
    const char *why = llm_access_store_add(s, k);
    int rc;

    if (why) {
        fprintf(stderr, "llmctl key: %s: %s\n", k->id, why);
        return LLMCTL_FAIL;
    }
    if ((rc = save(p, s)) == LLMCTL_OK) {
        printf("%s\n", key);
        fprintf(stderr, "llmctl key: %s made (%s...); the key above is "
                "shown once. Run apachectl graceful to use it.\n", k->id,
                k->shown);
    }
    return rc;
}

static int create(apr_pool_t *p, const key_opts_t *o)
{
    llm_access_store_t *s;
    llm_access_key_t *k;
    const char *key, *why;
    apr_int64_t secs = o->expires ? seconds_of(o->expires) : 0;
    int rc;

    if (secs < 0) {
        return usage("--expires takes a duration: 30d, 12h, 90m, 3600s");
    }
    if ((rc = lock_for_change(p, o)) != LLMCTL_OK
        || (rc = load(p, o, 1, &s)) != LLMCTL_OK) {
        return rc;
    }
    if (!(k = new_key(p, &key))) {
        fprintf(stderr, "llmctl key: no random bytes for a key\n");
        return LLMCTL_FAIL;
    }
    k->id = o->id ? o->id : random_id(p);
    k->expires = secs ? k->created + apr_time_from_sec(secs) : 0;
    if ((why = policy_from(p, o, k)) || (why = meta_from(p, o, k))) {
        return usage(why);
    }
    return add_and_save(p, s, k, key);
}

/* The new key takes the old one's policy; the old one points to it and
 * works until its grace ends (the original rejected it at once). */
static int rotate(apr_pool_t *p, const key_opts_t *o)
{
    apr_int64_t grace = o->grace ? seconds_of(o->grace) : DEFAULT_GRACE_S;
    llm_access_store_t *s;
    llm_access_key_t *old, *k;
    const char *key;
    int rc;

    if (grace < 0) {
        return usage("--grace takes a duration: 30d, 12h, 90m, 3600s, 0");
    }
    if ((rc = lock_for_change(p, o)) != LLMCTL_OK
        || (rc = load(p, o, 0, &s)) != LLMCTL_OK) {
        return rc;
    }
    if (!(old = find(s, o->arg))) {
        return LLMCTL_FAIL;
    }
    if (!(k = new_key(p, &key))) {
        return LLMCTL_FAIL;
    }
    k->id = o->new_id ? o->new_id
                      : apr_psprintf(p, "%s-r%" APR_INT64_T_FMT, old->id,
                                     apr_time_sec(k->created));
    k->perms = old->perms;
    k->models = old->models;
    k->requests = old->requests;
    k->tokens = old->tokens;
    k->budget = old->budget;
    k->expires = old->expires;
    k->metadata = old->metadata;
    old->rotated_to = k->id;
    old->grace_until = k->created + apr_time_from_sec(grace);
    return add_and_save(p, s, k, key);
}

/* ------------------------------------------------------------------ */
/* list, show, and the state changes                                   */
/* ------------------------------------------------------------------ */

static const char *state_of(const llm_access_key_t *k, apr_time_t now)
{
    if (k->revoked) {
        return "revoked";
    }
    if (!k->active) {
        return "disabled";
    }
    if (k->rotated_to) {
        return now < k->grace_until ? "rotating" : "rotated";
    }
    return k->expires && now >= k->expires ? "expired" : "active";
}

static const char *perms_text(apr_pool_t *p, unsigned perms)
{
    const char *out = "";
    unsigned bit;

    for (bit = 1; bit <= LLM_PERM_ADMIN; bit <<= 1) {
        if (perms & bit) {
            out = apr_pstrcat(p, out, *out ? "," : "",
                              llm_access_perm_name(bit), NULL);
        }
    }
    return out;
}

static const char *when(apr_pool_t *p, apr_time_t t)
{
    char buf[APR_RFC822_DATE_LEN];

    if (!t) {
        return "never";
    }
    apr_rfc822_date(buf, t);
    return apr_pstrdup(p, buf);
}

static int list(apr_pool_t *p, const key_opts_t *o)
{
    llm_access_store_t *s;
    apr_time_t now = apr_time_now();
    int i, rc;

    if ((rc = load(p, o, 0, &s)) != LLMCTL_OK) {
        return rc;
    }
    load_used(p, o, s);
    printf("%-24s %-12s %-9s %-40s %-29s %s\n", "ID", "SHOWN", "STATE",
           "PERMISSIONS", "EXPIRES", "LAST USED");
    for (i = 0; i < s->keys->nelts; i++) {
        const llm_access_key_t *k = APR_ARRAY_IDX(s->keys, i,
                                                  llm_access_key_t *);

        printf("%-24s %-12s %-9s %-40s %-29s %s\n", k->id, k->shown,
               state_of(k, now), perms_text(p, k->perms),
               when(p, k->expires), when(p, k->last_used));
    }
    return LLMCTL_OK;
}

/* The record as the file has it, and "last_used" (Unix seconds, null:
 * never, as far as the store knows), which the key file never holds. */
static const char *with_last_used(apr_pool_t *p, const llm_access_key_t *k)
{
    const char *text = llm_access_key_json(p, k);
    json_object *o = llm_json_parse(text, strlen(text));

    if (!o) {
        return text;
    }
    llm_json_add(o, "last_used", k->last_used
                 ? json_object_new_int64(apr_time_sec(k->last_used)) : NULL);
    text = apr_pstrcat(p, json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
        | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL);
    json_object_put(o);
    return text;
}

static int show(apr_pool_t *p, const key_opts_t *o)
{
    llm_access_store_t *s;
    llm_access_key_t *k;
    int rc;

    if ((rc = load(p, o, 0, &s)) != LLMCTL_OK) {
        return rc;
    }
    if (!(k = find(s, o->arg))) {
        return LLMCTL_FAIL;
    }
    load_used(p, o, s);
    fputs(with_last_used(p, k), stdout);
    return LLMCTL_OK;
}

static int set_state(apr_pool_t *p, const key_opts_t *o, const char *cmd)
{
    llm_access_store_t *s;
    llm_access_key_t *k;
    int rc;

    if ((rc = lock_for_change(p, o)) != LLMCTL_OK
        || (rc = load(p, o, 0, &s)) != LLMCTL_OK) {
        return rc;
    }
    if (!(k = find(s, o->arg))) {
        return LLMCTL_FAIL;
    }
    if (!strcmp(cmd, "enable") && k->revoked) {
        fprintf(stderr, "llmctl key: %s is revoked for good; create a new "
                "key\n", k->id);
        return LLMCTL_FAIL;
    }
    k->active = !strcmp(cmd, "enable");
    k->revoked = k->revoked || !strcmp(cmd, "revoke");
    if ((rc = save(p, s)) == LLMCTL_OK) {
        fprintf(stderr, "llmctl key: %s %sd; run apachectl graceful\n",
                k->id, cmd);
    }
    return rc;
}

int llmctl_key(apr_pool_t *p, int argc, const char *const *argv)
{
    key_opts_t o;
    const char *cmd = argc > 1 ? argv[1] : NULL, *why;

    if (!cmd || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(help, cmd ? stdout : stderr);
        return cmd ? LLMCTL_OK : LLMCTL_USAGE;
    }
    if ((why = parse_opts(p, argc - 1, argv + 1, &o)) != NULL) {
        return usage(why);
    }
    if (!strcmp(cmd, "create")) {
        return o.arg ? usage("create takes no argument (--id ID)")
                     : create(p, &o);
    }
    if (!strcmp(cmd, "list")) {
        return list(p, &o);
    }
    if (!o.arg) {
        return usage("which key? (its id)");
    }
    if (!strcmp(cmd, "show")) {
        return show(p, &o);
    }
    if (!strcmp(cmd, "rotate")) {
        return rotate(p, &o);
    }
    if (!strcmp(cmd, "revoke") || !strcmp(cmd, "disable")
        || !strcmp(cmd, "enable")) {
        return set_state(p, &o, cmd);
    }
    return usage(apr_pstrcat(p, "no command ", cmd, NULL));
}
