/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The key file: read once per (re)start of httpd, written by llmctl key.
 *
 *   {"keys": [
 *     {"id": "team-a", "hash": "<sha256 hex of the key>",
 *      "shown": "sk-llm-AbCd", "permissions": ["chat", "embedding"],
 *      "models": ["gpt-4o*", "mock-chat"],
 *      "limits": {"requests": "60/min", "tokens": "100k/hour"},
 *      "created": 1733500000, "expires": null, "active": true,
 *      "revoked": false, "rotated_to": null, "grace_until": null,
 *      "metadata": {"owner": "team A"}}
 *   ]}
 *
 * Times are Unix seconds (null: not set). The file holds no key, only
 * hashes: it is still kept 0600, since the ids and policies are the
 * operator's business. A file httpd cannot use stops httpd with the
 * record and the reason, as a bad models file does.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_file_io.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "llm_access.h"
#include "llm_buf.h"
#include "llm_json.h"

llm_access_store_t *llm_access_store_make(apr_pool_t *p, const char *path)
{
    llm_access_store_t *s = apr_pcalloc(p, sizeof(*s));

    s->path = path;
    s->keys = apr_array_make(p, 16, sizeof(llm_access_key_t *));
    s->by_hash = apr_hash_make(p);
    s->by_id = apr_hash_make(p);
    return s;
}

const char *llm_access_store_add(llm_access_store_t *s, llm_access_key_t *k)
{
    if (apr_hash_get(s->by_id, k->id, APR_HASH_KEY_STRING)) {
        return "its id is used twice";
    }
    if (apr_hash_get(s->by_hash, k->hash, LLM_CORE_SHA256_HEX - 1)) {
        return "its hash is another key's";
    }
    APR_ARRAY_PUSH(s->keys, llm_access_key_t *) = k;
    apr_hash_set(s->by_id, k->id, APR_HASH_KEY_STRING, k);
    apr_hash_set(s->by_hash, k->hash, LLM_CORE_SHA256_HEX - 1, k);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* An id becomes r->user and goes to logs: printable, no spaces. */
static int good_id(const char *id)
{
    apr_size_t n = 0;

    for (; id[n]; n++) {
        if (!apr_isalnum(id[n]) && !strchr("._-@:", id[n])) {
            return 0;
        }
    }
    return n > 0 && n <= 64;
}

static int good_hash(const char *h)
{
    apr_size_t n = 0;

    for (; h[n]; n++) {
        if (!apr_isdigit(h[n]) && !(h[n] >= 'a' && h[n] <= 'f')) {
            return 0;
        }
    }
    return n == LLM_CORE_SHA256_HEX - 1;
}

/* A time member: absent or null is 0; else whole seconds >= 0. */
static const char *time_of(apr_pool_t *p, json_object *o, const char *name,
                           apr_time_t *t)
{
    json_object *v = llm_json_get(o, name);

    *t = 0;
    if (!v) {
        return NULL;
    }
    if (!llm_json_is(v, json_type_int) || json_object_get_int64(v) < 0
        || json_object_get_int64(v) > APR_INT64_C(253402300799)) {
        return apr_pstrcat(p, name, ": not Unix seconds", NULL);
    }
    *t = apr_time_from_sec(json_object_get_int64(v));
    return NULL;
}

static const char *flag_of(apr_pool_t *p, json_object *o, const char *name,
                           int dflt, int *out)
{
    json_object *v = llm_json_get(o, name);

    *out = dflt;
    if (!v) {
        return NULL;
    }
    if (!llm_json_is(v, json_type_boolean)) {
        return apr_pstrcat(p, name, ": not true or false", NULL);
    }
    *out = json_object_get_boolean(v);
    return NULL;
}

static const char *perms_of(json_object *o, unsigned *out)
{
    json_object *v = llm_json_get(o, "permissions");
    apr_size_t i, n;

    *out = LLM_PERM_ALL_BUT_ADMIN;
    if (!v) {
        return NULL;
    }
    if (!llm_json_is(v, json_type_array)) {
        return "permissions: not a list";
    }
    *out = 0;
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        unsigned bit = llm_access_perm_bit(
            llm_json_name(json_object_array_get_idx(v, i)));

        if (!bit) {
            return "permissions: each is one of chat, embedding, "
                   "anthropic, ollama, builtin, admin";
        }
        *out |= bit;
    }
    return NULL;
}

static const char *models_of(apr_pool_t *p, json_object *o,
                             apr_array_header_t **out)
{
    json_object *v = llm_json_get(o, "models");
    apr_size_t i, n;

    *out = apr_array_make(p, 2, sizeof(const char *));
    if (!v) {
        return NULL;
    }
    if (!llm_json_is(v, json_type_array)) {
        return "models: not a list";
    }
    n = json_object_array_length(v);
    for (i = 0; i < n; i++) {
        const char *m = llm_json_name(json_object_array_get_idx(v, i));

        if (!m) {
            return "models: each is a name or a pattern";
        }
        APR_ARRAY_PUSH(*out, const char *) = apr_pstrdup(p, m);
    }
    return NULL;
}

static const char *limit_of(apr_pool_t *p, json_object *limits,
                            const char *name, llm_access_rate_t *out)
{
    json_object *v = llm_json_get(limits, name);
    const char *why;

    out->count = 0;
    out->window = 0;
    if (!v) {
        return NULL;
    }
    if (!llm_json_name(v)) {
        return "limits: each is a text like \"60/min\"";
    }
    why = llm_access_rate_parse(llm_json_name(v), out);
    return why ? apr_pstrcat(p, "limits: ", name, ": ", why, NULL) : NULL;
}

static const char *limits_of(apr_pool_t *p, json_object *o,
                             llm_access_key_t *k)
{
    json_object *limits = llm_json_get(o, "limits");
    json_object *budget = llm_json_get(limits, "budget");
    const char *why;

    if (limits && !llm_json_is(limits, json_type_object)) {
        return "limits: not an object";
    }

    if ((why = limit_of(p, limits, "requests", &k->requests)) != NULL
        || (why = limit_of(p, limits, "tokens", &k->tokens)) != NULL) {
        return why;
    }
    k->budget.count = 0;
    if (!budget) {
        return NULL;
    }
    if (!llm_json_name(budget)) {
        return "limits: budget: a text like \"5M/month\"";
    }
    why = llm_access_budget_parse(llm_json_name(budget), &k->budget);
    return why ? apr_pstrcat(p, "limits: budget: ", why, NULL) : NULL;
}

static const char *text_of(apr_pool_t *p, json_object *o, const char *name,
                           const char **out)
{
    json_object *v = llm_json_get(o, name);

    *out = NULL;
    if (!v) {
        return NULL;
    }
    if (!llm_json_name(v) || !good_id(llm_json_name(v))) {
        return apr_pstrcat(p, name, ": not a key id", NULL);
    }
    *out = apr_pstrdup(p, llm_json_name(v));
    return NULL;
}

static const char *identity_of(apr_pool_t *p, json_object *o,
                               llm_access_key_t *k)
{
    const char *id = llm_json_name(llm_json_get(o, "id"));
    const char *hash = llm_json_name(llm_json_get(o, "hash"));
    const char *shown = llm_json_name(llm_json_get(o, "shown"));

    if (!id || !good_id(id)) {
        return "id: 1 to 64 of A-Z a-z 0-9 . _ - @ :";
    }
    k->id = apr_pstrdup(p, id);
    if (!hash || !good_hash(hash)) {
        return "hash: the key's SHA-256 in 64 lower-case hex digits";
    }
    memcpy(k->hash, hash, LLM_CORE_SHA256_HEX);
    k->shown = apr_pstrdup(p, shown ? shown : "");
    return NULL;
}

static const char *state_of(apr_pool_t *p, json_object *o,
                            llm_access_key_t *k)
{
    json_object *meta = llm_json_get(o, "metadata");
    apr_size_t len;
    const char *why;

    if ((why = time_of(p, o, "created", &k->created)) != NULL
        || (why = time_of(p, o, "expires", &k->expires)) != NULL
        || (why = time_of(p, o, "grace_until", &k->grace_until)) != NULL
        || (why = flag_of(p, o, "active", 1, &k->active)) != NULL
        || (why = flag_of(p, o, "revoked", 0, &k->revoked)) != NULL
        || (why = text_of(p, o, "rotated_to", &k->rotated_to)) != NULL) {
        return why;
    }
    if (meta && !llm_json_is(meta, json_type_object)) {
        return "metadata: not an object";
    }
    k->metadata = meta ? apr_pstrdup(p, llm_json_dump(meta, &len)) : NULL;
    return NULL;
}

static const char *record_of(apr_pool_t *p, json_object *o,
                             llm_access_key_t **out)
{
    llm_access_key_t *k = apr_pcalloc(p, sizeof(*k));
    const char *why;

    *out = k;
    if (!llm_json_is(o, json_type_object)) {
        return "not an object";
    }
    if ((why = identity_of(p, o, k)) != NULL
        || (why = perms_of(o, &k->perms)) != NULL
        || (why = models_of(p, o, &k->models)) != NULL
        || (why = limits_of(p, o, k)) != NULL
        || (why = state_of(p, o, k)) != NULL) {
        return why;
    }
    return NULL;
}

const char *llm_access_record_parse(apr_pool_t *p, const char *json,
                                    apr_size_t len, llm_access_key_t **out)
{
    json_object *o = llm_json_parse(json, len);
    const char *why;

    if (!o) {
        *out = NULL;
        return "not JSON";
    }
    why = record_of(p, o, out);
    json_object_put(o);
    return why;
}

static const char *parse_keys(apr_pool_t *p, json_object *root,
                              llm_access_store_t *s)
{
    json_object *keys = llm_json_get(root, "keys");
    apr_size_t i, n;

    if (!llm_json_is(root, json_type_object)
        || !llm_json_is(keys, json_type_array)) {
        return "not a key file: {\"keys\": [...]} expected";
    }
    n = json_object_array_length(keys);
    for (i = 0; i < n; i++) {
        llm_access_key_t *k;
        const char *why = record_of(p, json_object_array_get_idx(keys, i),
                                    &k);

        if (!why) {
            why = llm_access_store_add(s, k);
        }
        if (why) {
            return apr_psprintf(p, "key %" APR_SIZE_T_FMT " (id %s): %s",
                                i + 1, k->id ? k->id : "?", why);
        }
    }
    return NULL;
}

const char *llm_access_store_parse(apr_pool_t *p, const char *path,
                                   const char *json, apr_size_t len,
                                   llm_access_store_t **out)
{
    json_object *root = llm_json_parse(json, len);
    const char *why;

    *out = llm_access_store_make(p, path);
    if (!root) {
        return apr_pstrcat(p, path, ": not JSON", NULL);
    }
    why = parse_keys(p, root, *out);
    json_object_put(root);
    return why ? apr_pstrcat(p, path, ": ", why, NULL) : NULL;
}

const char *llm_access_store_load(apr_pool_t *p, const char *path,
                                  llm_access_store_t **out)
{
    char *buf;
    apr_size_t len;
    const char *why = llm_file_slurp(p, path, LLM_ACCESS_FILE_MAX, &buf,
                                     &len);

    if (why) {
        *out = NULL;
        return why;
    }
    return llm_access_store_parse(p, path, buf, len, out);
}

/* ------------------------------------------------------------------ */
/* Writing (llmctl key)                                                */
/* ------------------------------------------------------------------ */

static json_object *time_json(apr_time_t t)
{
    return t ? json_object_new_int64(apr_time_sec(t)) : NULL;
}

static json_object *list_json(const apr_array_header_t *a)
{
    json_object *l = json_object_new_array();
    int i;

    for (i = 0; a && i < a->nelts; i++) {
        json_object_array_add(l, llm_json_string(
                                  APR_ARRAY_IDX(a, i, const char *)));
    }
    return l;
}

static json_object *perms_json(unsigned perms)
{
    json_object *l = json_object_new_array();
    unsigned bit;

    for (bit = 1; bit <= LLM_PERM_ADMIN; bit <<= 1) {
        if (perms & bit) {
            json_object_array_add(l, llm_json_string(
                                      llm_access_perm_name(bit)));
        }
    }
    return l;
}

/* The largest unit that divides the window: 60/min, 5/10s, 1000/day. */
static json_object *rate_json(apr_pool_t *p, const llm_access_rate_t *r)
{
    static const struct {
        const char *name;
        apr_int64_t seconds;
    } units[] = { { "day", 86400 }, { "hour", 3600 }, { "min", 60 },
                  { "s", 1 } };
    apr_int64_t w = apr_time_sec(r->window);
    apr_size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]) - 1; i++) {
        if (w % units[i].seconds == 0) {
            break;
        }
    }
    w /= units[i].seconds;
    return llm_json_string(w == 1
        ? apr_psprintf(p, "%" APR_INT64_T_FMT "/%s", r->count, units[i].name)
        : apr_psprintf(p, "%" APR_INT64_T_FMT "/%" APR_INT64_T_FMT "%s",
                       r->count, w, units[i].name));
}

static json_object *record_json(apr_pool_t *p, const llm_access_key_t *k)
{
    json_object *o = json_object_new_object();
    json_object *limits = json_object_new_object();

    llm_json_add(o, "id", llm_json_string(k->id));
    llm_json_add(o, "hash", llm_json_string(k->hash));
    llm_json_add(o, "shown", llm_json_string(k->shown));
    llm_json_add(o, "permissions", perms_json(k->perms));
    llm_json_add(o, "models", list_json(k->models));
    if (k->requests.count) {
        llm_json_add(limits, "requests", rate_json(p, &k->requests));
    }
    if (k->tokens.count) {
        llm_json_add(limits, "tokens", rate_json(p, &k->tokens));
    }
    if (k->budget.count) {
        llm_json_add(limits, "budget", llm_json_string(
                         llm_access_budget_text(p, &k->budget)));
    }
    llm_json_add(o, "limits", limits);
    llm_json_add(o, "created", time_json(k->created));
    llm_json_add(o, "expires", time_json(k->expires));
    llm_json_add(o, "active", json_object_new_boolean(k->active));
    llm_json_add(o, "revoked", json_object_new_boolean(k->revoked));
    llm_json_add(o, "rotated_to",
                 k->rotated_to ? llm_json_string(k->rotated_to) : NULL);
    llm_json_add(o, "grace_until", time_json(k->grace_until));
    llm_json_add(o, "metadata", k->metadata
                 ? llm_json_parse(k->metadata, strlen(k->metadata))
                 : json_object_new_object());
    return o;
}

const char *llm_access_key_json(apr_pool_t *p, const llm_access_key_t *k)
{
    json_object *o = record_json(p, k);
    const char *text = apr_pstrcat(p, json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
        | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL);

    json_object_put(o);
    return text;
}

/* A new file beside @a path, made with O_EXCL under a name no one can
 * guess (mkstemp): never one a symbolic link already names, which the
 * root parent writing these files would otherwise follow. */
static int make_temp(apr_pool_t *p, const char *path, char **tmp)
{
    *tmp = apr_pstrcat(p, path, ".XXXXXX", NULL);
    return mkstemp(*tmp);
}

/* The mode and, when we may, the owner of @a like, given to the open
 * file @a fd (never to a path: a path could be swapped for a link):
 * whoever reads that file (llmctl beside the key file) reads this one. */
static int take_mode_of(int fd, const char *like)
{
    struct stat st;

    if (!like || stat(like, &st) != 0) {
        return 0;
    }
    if (geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
        return -1;
    }
    return fchmod(fd, st.st_mode & 0666);
}

/* @a text into @a fd, on the disk before it returns. */
static int write_synced(int fd, const char *text)
{
    apr_size_t left = strlen(text);

    while (left) {
        ssize_t n = write(fd, text, left);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        text += n;
        left -= (apr_size_t)n;
    }
    return fsync(fd);
}

/* The rename itself on the disk: a crash (or a power cut) after this
 * finds the new file, not the old one. */
static void sync_dir(apr_pool_t *p, const char *path)
{
    char *dir = apr_pstrdup(p, path), *slash = strrchr(dir, '/');
    int fd;

    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
    }
    if ((fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY)) >= 0) {
        fsync(fd);
        close(fd);
    }
}

const char *llm_access_file_replace(apr_pool_t *p, const char *path,
                                    const char *like, const char *text)
{
    char *tmp;
    char err[120];
    int fd = make_temp(p, path, &tmp);
    int bad;

    if (fd < 0) {
        return apr_pstrcat(p, path, ": cannot write beside it: ",
                           apr_strerror(APR_FROM_OS_ERROR(errno), err,
                                        sizeof(err)), NULL);
    }
    bad = take_mode_of(fd, like) != 0 || write_synced(fd, text) != 0;
    bad = close(fd) != 0 || bad;
    /* rename() replaces @a path itself, a link there included: it never
     * writes through one. */
    if (bad || rename(tmp, path) != 0) {
        apr_strerror(APR_FROM_OS_ERROR(errno), err, sizeof(err));
        unlink(tmp);
        return apr_pstrcat(p, path, ": cannot replace it: ", err, NULL);
    }
    sync_dir(p, path);
    return NULL;
}

/* Written beside, then renamed over: httpd (re)starting meanwhile reads
 * the old file or the new one, never half of one. */
const char *llm_access_store_save(apr_pool_t *p, const llm_access_store_t *s)
{
    json_object *root = json_object_new_object();
    json_object *keys = json_object_new_array();
    const char *why;
    int i;

    for (i = 0; i < s->keys->nelts; i++) {
        json_object_array_add(keys, record_json(
            p, APR_ARRAY_IDX(s->keys, i, llm_access_key_t *)));
    }
    llm_json_add(root, "keys", keys);
    why = llm_access_file_replace(p, s->path, NULL, apr_pstrcat(
        p, json_object_to_json_string_ext(
            root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
            | JSON_C_TO_STRING_NOSLASHESCAPE), "\n", NULL));
    json_object_put(root);
    return why;
}
