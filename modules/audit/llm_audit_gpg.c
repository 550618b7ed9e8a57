/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * OpenPGP through gpgme: the keyring the gateway encrypts with, and the
 * sealing of one record.
 *
 * The gateway never holds a private key. At start-up (as the parent,
 * before any child) llm_audit_gpg_prepare() builds a keyring of its own
 * holding exactly the recipients' public keys, imported from key files
 * or exported from an operator's keyring by full fingerprint, and
 * checks each can encrypt. Children seal records with that keyring
 * only, naming the recipients by fingerprint, "always trust" (the
 * operator named the keys), so nothing else in any keyring is used.
 *
 * gpgme runs the gpg program for each operation (a fork and exec per
 * record: docs/performance.md has its cost). A gpgme context must not
 * be shared by threads: the sealer keeps a free list of contexts, one
 * per concurrent caller, behind a thread mutex.
 */

#include <locale.h>
#include <string.h>

#include <gpgme.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_file_info.h"
#include "apr_file_io.h"

#include "llm_audit.h"

struct llm_audit_gpg {
    const char *home;
    const char *recipients;          /* fingerprints, one a line */
    apr_array_header_t *idle;        /* gpgme_ctx_t */
#if APR_HAS_THREADS
    apr_thread_mutex_t *lock;
#endif
};

const char *llm_audit_gpg_init(void)
{
    gpgme_error_t err;

    if (!gpgme_check_version(NULL)) {
        return "gpgme could not be initialised";
    }
    gpgme_set_locale(NULL, LC_CTYPE, setlocale(LC_CTYPE, NULL));
    err = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP);
    if (err) {
        return "gpgme finds no usable gpg program (is gnupg installed?)";
    }
    return NULL;
}

static const char *gerr(apr_pool_t *p, const char *what, gpgme_error_t err)
{
    return apr_psprintf(p, "%s: %s", what, gpgme_strerror(err));
}

/* A context on @a home (NULL: the default), armored output. */
static const char *context(apr_pool_t *p, const char *home, gpgme_ctx_t *ctx)
{
    gpgme_error_t err = gpgme_new(ctx);

    if (err) {
        return gerr(p, "gpgme_new", err);
    }
    if (home && (err = gpgme_ctx_set_engine_info(
                     *ctx, GPGME_PROTOCOL_OpenPGP, NULL, home))) {
        gpgme_release(*ctx);
        return gerr(p, apr_psprintf(p, "keyring %s", home), err);
    }
    gpgme_set_armor(*ctx, 1);
    gpgme_set_offline(*ctx, 1);
    gpgme_set_pinentry_mode(*ctx, GPGME_PINENTRY_MODE_CANCEL);
    return NULL;
}

/* A full fingerprint: 40 (v4) or 64 (v5) hex digits, nothing else. */
static int is_fingerprint(const char *s)
{
    apr_size_t n = strlen(s), i;

    if (n != 40 && n != 64) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!apr_isxdigit(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* The keys of one key file into @a ctx; their fingerprints in @a fprs. */
static const char *import_file(apr_pool_t *p, gpgme_ctx_t ctx,
                               const char *path, apr_array_header_t *fprs)
{
    gpgme_data_t d;
    gpgme_import_result_t res;
    gpgme_import_status_t st;
    gpgme_error_t err;
    char *text = NULL;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_size_t n;
    int before = fprs->nelts;

    /* Read here, not by gpg: a secret key is refused before gpg sees
     * it (an import would hand it to a gpg-agent). */
    if (apr_file_open(&f, path, APR_FOPEN_READ, 0, p) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE, f) != APR_SUCCESS
        || fi.size > 1024 * 1024) {
        return apr_psprintf(p, "key file %s cannot be read (or is over "
                            "1 MiB)", path);
    }
    n = (apr_size_t)fi.size;
    text = apr_palloc(p, n + 1);
    if (apr_file_read_full(f, text, n, &n) != APR_SUCCESS && !n) {
        apr_file_close(f);
        return apr_psprintf(p, "key file %s cannot be read", path);
    }
    apr_file_close(f);
    text[n] = '\0';
    if (strstr(text, "PRIVATE KEY BLOCK")) {
        return apr_psprintf(p, "key file %s holds a secret key: give the "
                            "gateway the public key only", path);
    }
    if ((err = gpgme_data_new_from_mem(&d, text, n, 0))) {
        return gerr(p, path, err);
    }
    err = gpgme_op_import(ctx, d);
    gpgme_data_release(d);
    if (err) {
        return gerr(p, apr_psprintf(p, "key file %s", path), err);
    }
    res = gpgme_op_import_result(ctx);
    if (res && res->secret_read) {
        return apr_psprintf(p, "key file %s holds a secret key: give the "
                            "gateway the public key only", path);
    }
    for (st = res ? res->imports : NULL; st; st = st->next) {
        if (!st->result && st->fpr && !(st->status & GPGME_IMPORT_SECRET)) {
            APR_ARRAY_PUSH(fprs, const char *) = apr_pstrdup(p, st->fpr);
        }
    }
    if (fprs->nelts == before) {
        return apr_psprintf(p, "key file %s holds no OpenPGP public key",
                            path);
    }
    return NULL;
}

/* The public key @a fpr of @a keyring into @a ctx. */
static const char *export_key(apr_pool_t *p, gpgme_ctx_t ctx,
                              const char *keyring, const char *fpr,
                              apr_array_header_t *fprs)
{
    gpgme_ctx_t from;
    gpgme_data_t d;
    gpgme_error_t err;
    const char *why;
    size_t n = 0;
    char *blob;

    if ((why = context(p, keyring, &from)) != NULL) {
        return why;
    }
    if ((err = gpgme_data_new(&d))) {
        gpgme_release(from);
        return gerr(p, "gpgme_data_new", err);
    }
    err = gpgme_op_export(from, fpr, 0, d);
    gpgme_release(from);
    blob = gpgme_data_release_and_get_mem(d, &n);
    if (err || !n) {
        gpgme_free(blob);
        return apr_psprintf(p, "no public key %s in %s", fpr,
                            keyring ? keyring : "the default keyring");
    }
    err = gpgme_data_new_from_mem(&d, blob, n, 1);
    gpgme_free(blob);
    if (!err) {
        err = gpgme_op_import(ctx, d);
        gpgme_data_release(d);
    }
    if (err) {
        return gerr(p, apr_psprintf(p, "key %s", fpr), err);
    }
    APR_ARRAY_PUSH(fprs, const char *) = apr_pstrdup(p, fpr);
    return NULL;
}

/* Each key of @a fprs is in @a ctx's keyring and can encrypt. */
static const char *check_keys(apr_pool_t *p, gpgme_ctx_t ctx,
                              apr_array_header_t *fprs)
{
    int i;

    for (i = 0; i < fprs->nelts; i++) {
        const char *fpr = APR_ARRAY_IDX(fprs, i, const char *);
        gpgme_key_t key = NULL;
        gpgme_error_t err = gpgme_get_key(ctx, fpr, &key, 0);
        const char *bad = NULL;

        if (err || !key) {
            return gerr(p, apr_psprintf(p, "key %s", fpr), err);
        }
        bad = key->revoked ? "is revoked" : key->expired ? "has expired"
              : key->disabled ? "is disabled" : key->invalid ? "is invalid"
              : !key->can_encrypt ? "cannot encrypt" : NULL;
        /* The primary key's fingerprint, whatever the spec named. */
        APR_ARRAY_IDX(fprs, i, const char *) = apr_pstrdup(p, key->fpr);
        gpgme_key_unref(key);
        if (bad) {
            return apr_psprintf(p, "key %s %s", fpr, bad);
        }
    }
    return NULL;
}

/* Public keys need no gpg-agent: without this gpg would start one for
 * the gateway's keyring, and it would outlive httpd. */
static const char *no_agent(apr_pool_t *p, const char *home)
{
    /* Public keys only, read by many gpg runs at once (one per seal):
     * no agent to start, and none of the files gpg would lock and write
     * on every run (its random seed, the keyring's lock, the trustdb's
     * check), which made concurrent seals queue on one another. */
    static const char conf[] = "# mod_llm_audit: public keys only\n"
                               "no-autostart\n"
                               "lock-never\n"
                               "no-random-seed-file\n"
                               "no-auto-check-trustdb\n";
    const char *path = apr_pstrcat(p, home, "/gpg.conf", NULL);
    const char *tmp = apr_pstrcat(p, path, ".new", NULL);
    apr_file_t *f;

    /* Written aside and renamed: after a graceful restart the old
     * children's gpg runs read this file while it is made again. */
    if (apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                      | APR_FOPEN_TRUNCATE, APR_FPROT_UREAD
                      | APR_FPROT_UWRITE, p) != APR_SUCCESS) {
        return apr_psprintf(p, "keyring %s: gpg.conf cannot be written",
                            home);
    }
    if (apr_file_write_full(f, conf, sizeof(conf) - 1, NULL) != APR_SUCCESS
        || apr_file_close(f) != APR_SUCCESS
        || apr_file_rename(tmp, path, p) != APR_SUCCESS) {
        return apr_psprintf(p, "keyring %s: gpg.conf cannot be written",
                            home);
    }
    return NULL;
}

const char *llm_audit_gpg_prepare(apr_pool_t *p, const char *home,
                                  const apr_array_header_t *specs,
                                  const char *keyring,
                                  apr_array_header_t **fprs)
{
    gpgme_ctx_t ctx;
    const char *why = NULL;
    apr_status_t rv;
    int i;

    *fprs = apr_array_make(p, 2, sizeof(const char *));
    if (!specs || !specs->nelts) {
        return "no recipient: name one (LLMAuditRecipient) or turn "
               "encryption off";
    }
    rv = apr_dir_make_recursive(home, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                | APR_FPROT_UEXECUTE, p);
    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "keyring %s cannot be made", home);
    }
    apr_file_perms_set(home, APR_FPROT_UREAD | APR_FPROT_UWRITE
                       | APR_FPROT_UEXECUTE);
    if ((why = no_agent(p, home)) != NULL
        || (why = context(p, home, &ctx)) != NULL) {
        return why;
    }
    for (i = 0; i < specs->nelts && !why; i++) {
        const char *spec = APR_ARRAY_IDX(specs, i, const char *);

        why = is_fingerprint(spec) ? export_key(p, ctx, keyring, spec, *fprs)
                                   : import_file(p, ctx, spec, *fprs);
    }
    if (!why) {
        why = check_keys(p, ctx, *fprs);
    }
    gpgme_release(ctx);
    return why;
}

static apr_status_t release_contexts(void *data)
{
    llm_audit_gpg_t *g = data;
    int i;

    for (i = 0; i < g->idle->nelts; i++) {
        gpgme_release(APR_ARRAY_IDX(g->idle, i, gpgme_ctx_t));
    }
    g->idle->nelts = 0;
    return APR_SUCCESS;
}

const char *llm_audit_gpg_make(apr_pool_t *p, const char *home,
                               const apr_array_header_t *fprs,
                               llm_audit_gpg_t **gpg)
{
    llm_audit_gpg_t *g = apr_pcalloc(p, sizeof(*g));
    int i;

    g->home = apr_pstrdup(p, home);
    /* gpgme's recipient string: "--" first, so that no line is read
     * as an option; then one fingerprint a line. */
    g->recipients = "--\n";
    for (i = 0; i < fprs->nelts; i++) {
        g->recipients = apr_pstrcat(p, g->recipients,
                                    APR_ARRAY_IDX(fprs, i, const char *),
                                    "\n", NULL);
    }
    g->idle = apr_array_make(p, 4, sizeof(gpgme_ctx_t));
#if APR_HAS_THREADS
    if (apr_thread_mutex_create(&g->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return "a thread mutex cannot be made";
    }
#endif
    apr_pool_cleanup_register(p, g, release_contexts, apr_pool_cleanup_null);
    *gpg = g;
    return NULL;
}

static gpgme_ctx_t take(llm_audit_gpg_t *g, apr_pool_t *p, const char **why)
{
    gpgme_ctx_t ctx = NULL;

#if APR_HAS_THREADS
    apr_thread_mutex_lock(g->lock);
#endif
    if (g->idle->nelts) {
        ctx = *(gpgme_ctx_t *)apr_array_pop(g->idle);
    }
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(g->lock);
#endif
    if (!ctx && (*why = context(p, g->home, &ctx)) != NULL) {
        return NULL;
    }
    return ctx;
}

static void give(llm_audit_gpg_t *g, gpgme_ctx_t ctx)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(g->lock);
#endif
    APR_ARRAY_PUSH(g->idle, gpgme_ctx_t) = ctx;
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(g->lock);
#endif
}

apr_status_t llm_audit_seal(llm_audit_gpg_t *gpg, apr_pool_t *p,
                            llm_audit_entry_t *e, const char **why)
{
    apr_size_t len = 0;
    const char *body = llm_audit_body_line(p, e, &len);

    return llm_audit_seal_text(gpg, p, body, len, &e->pgp, why);
}

apr_status_t llm_audit_seal_text(llm_audit_gpg_t *gpg, apr_pool_t *p,
                                 const char *body, apr_size_t len,
                                 const char **sealed, const char **why)
{
    gpgme_ctx_t ctx = take(gpg, p, why);
    gpgme_data_t in = NULL, out = NULL;
    gpgme_error_t err;
    size_t n = 0;
    char *armored;

    if (!ctx) {
        return APR_EGENERAL;
    }
    err = gpgme_data_new_from_mem(&in, body, len, 0);
    if (!err) {
        err = gpgme_data_new(&out);
    }
    if (!err) {
        err = gpgme_op_encrypt_ext(ctx, NULL, gpg->recipients,
                                   GPGME_ENCRYPT_ALWAYS_TRUST, in, out);
    }
    if (err) {
        /* A context that failed is not reused. */
        gpgme_data_release(in);
        gpgme_data_release(out);
        gpgme_release(ctx);
        *why = gerr(p, "encryption failed", err);
        return APR_EGENERAL;
    }
    gpgme_data_release(in);
    give(gpg, ctx);
    armored = gpgme_data_release_and_get_mem(out, &n);
    *sealed = apr_pstrmemdup(p, armored, n);
    gpgme_free(armored);
    return APR_SUCCESS;
}

const char *llm_audit_gpg_decrypt(apr_pool_t *p, const char *home,
                                  const char *armored, apr_size_t *len,
                                  const char **why)
{
    gpgme_ctx_t ctx;
    gpgme_data_t in = NULL, out = NULL;
    gpgme_error_t err;
    size_t n = 0;
    char *plain;
    const char *text;

    if ((*why = context(p, home, &ctx)) != NULL) {
        return NULL;
    }
    gpgme_set_pinentry_mode(ctx, GPGME_PINENTRY_MODE_DEFAULT);
    err = gpgme_data_new_from_mem(&in, armored, strlen(armored), 0);
    if (!err) {
        err = gpgme_data_new(&out);
    }
    if (!err) {
        err = gpgme_op_decrypt(ctx, in, out);
    }
    gpgme_data_release(in);
    gpgme_release(ctx);
    if (err) {
        gpgme_data_release(out);
        *why = gerr(p, "decryption failed", err);
        return NULL;
    }
    plain = gpgme_data_release_and_get_mem(out, &n);
    text = apr_pstrmemdup(p, plain ? plain : "", n);
    gpgme_free(plain);
    *len = n;
    return text;
}
