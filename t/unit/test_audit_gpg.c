/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The audit engine with real keys: a throw-away GNUPGHOME and key pair
 * made with gpg --batch, the gateway's own keyring built from a key
 * file or a fingerprint, records sealed and opened, an encrypted trail
 * verified without the key and read with it, and the cost of a seal. */

#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "tap.h"
#include "llm_audit.h"
#include "llm_json.h"

static apr_pool_t *pool;
static const char *top, *keyring, *fpr;

static int sh(const char *cmd)
{
    return system(apr_pstrcat(pool, "GNUPGHOME='", keyring, "' ", cmd,
                              " 2>/dev/null", NULL));
}

/* A key pair in the throw-away keyring: ed25519 to sign, cv25519 to
 * encrypt, no passphrase; its public and secret keys as files. */
static int make_keys(void)
{
    char *t = apr_pstrdup(pool, "/tmp/llm-audit-gpg.XXXXXX");
    FILE *f;
    char buf[128] = "";

    if (!mkdtemp(t)) {
        return 0;
    }
    top = t;
    keyring = apr_pstrcat(pool, top, "/operator", NULL);
    if (system(apr_psprintf(pool, "mkdir -m 700 '%s'", keyring))
        || sh("gpg --batch --pinentry-mode loopback --passphrase '' "
              "--quick-gen-key 'mod_llm audit test <audit@test>' "
              "future-default default never >/dev/null")
        || sh(apr_psprintf(pool, "gpg --batch --armor --export "
                           "audit@test >'%s/pub.asc'", top))
        || sh(apr_psprintf(pool, "gpg --batch --pinentry-mode loopback "
                           "--passphrase '' --armor --export-secret-keys "
                           "audit@test >'%s/sec.asc'", top))) {
        return 0;
    }
    f = popen(apr_psprintf(pool, "GNUPGHOME='%s' gpg --batch --with-colons "
                           "--list-keys audit@test 2>/dev/null | awk -F: '/^fpr/ "
                           "{print $10; exit}' 2>/dev/null", keyring), "r");
    if (!f || !fgets(buf, sizeof(buf), f)) {
        return 0;
    }
    pclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    fpr = apr_pstrdup(pool, buf);
    return strlen(fpr) == 40;
}

static apr_array_header_t *list(const char *a)
{
    apr_array_header_t *l = apr_array_make(pool, 1, sizeof(char *));

    APR_ARRAY_PUSH(l, const char *) = a;
    return l;
}

static llm_audit_entry_t entry(const char *model)
{
    llm_audit_entry_t e = { apr_time_now(), "request", NULL, NULL, 0, NULL, 0 };

    e.fields = json_object_new_object();
    json_object_object_add(e.fields, "model", llm_audit_str(model));
    llm_json_own(pool, e.fields);
    return e;
}

typedef struct {
    int n;
    const char *text[8];
} lines_t;

static int collect(void *baton, const char *file, const char *line,
                   apr_size_t len)
{
    lines_t *l = baton;

    (void)file;
    if (l->n < 8) {
        l->text[l->n++] = apr_pstrmemdup(pool, line, len);
    }
    return 0;
}

typedef struct {
    llm_audit_gpg_t *gpg;
    int good;
} seal_job_t;

static void *APR_THREAD_FUNC seal_thread(apr_thread_t *th, void *data)
{
    seal_job_t *job = data;
    apr_pool_t *p;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 3; i++) {
        llm_audit_entry_t e = { apr_time_now(), "request", NULL, NULL, 0, NULL, 0 };
        const char *why, *body;
        apr_size_t n;

        if (llm_audit_seal(job->gpg, p, &e, &why) == APR_SUCCESS
            && (body = llm_audit_gpg_decrypt(p, keyring, e.pgp, &n, &why))
            && strstr(body, "\"event\":\"request\"")) {
            job->good++;
        }
    }
    apr_pool_destroy(p);
    /* A return, not apr_thread_exit(): ASan takes pthread_exit()'s
     * unwinding for a stack overflow. */
    (void)th;
    return NULL;
}

int main(void)
{
    apr_array_header_t *fprs = NULL, *fprs2 = NULL;
    llm_audit_gpg_t *gpg = NULL;
    llm_audit_entry_t e;
    const char *why, *body, *home, *dir;
    apr_size_t n = 0;
    int i;

    apr_initialize();
    apr_pool_create(&pool, NULL);
    ok(llm_audit_gpg_init() == NULL, "gpgme finds gpg");
    if (!ok(make_keys(), "a throw-away key pair (gpg --batch)")) {
        return tap_done();
    }
    home = apr_pstrcat(pool, top, "/gateway", NULL);

    /* The gateway's keyring, from a key file. */
    why = llm_audit_gpg_prepare(pool, home, list(apr_pstrcat(
                                    pool, top, "/pub.asc", NULL)),
                                NULL, &fprs);
    is_str(why, NULL, "a public key file is imported");
    ok(fprs && fprs->nelts == 1
       && !strcmp(APR_ARRAY_IDX(fprs, 0, const char *), fpr),
       "its fingerprint is the recipient");
    /* From a fingerprint in the operator's keyring. */
    why = llm_audit_gpg_prepare(pool, apr_pstrcat(pool, top, "/gw2", NULL),
                                list(fpr), keyring, &fprs2);
    is_str(why, NULL, "a fingerprint is exported from a keyring");
    /* Refusals. */
    why = llm_audit_gpg_prepare(pool, apr_pstrcat(pool, top, "/gw3", NULL),
                                list(apr_pstrcat(pool, top, "/sec.asc",
                                                 NULL)), NULL, &fprs2);
    like(why, "holds a secret key", "a secret key file is refused");
    why = llm_audit_gpg_prepare(pool, apr_pstrcat(pool, top, "/gw4", NULL),
                                list("0123456789ABCDEF0123456789ABCDEF01234567"),
                                keyring, &fprs2);
    like(why, "no public key", "an unknown fingerprint is refused");
    why = llm_audit_gpg_prepare(pool, apr_pstrcat(pool, top, "/gw5", NULL),
                                list(apr_pstrcat(pool, top, "/none.asc",
                                                 NULL)), NULL, &fprs2);
    like(why, "cannot be read", "a missing key file is refused");
    why = llm_audit_gpg_prepare(pool, apr_pstrcat(pool, top, "/gw6", NULL),
                                apr_array_make(pool, 1, sizeof(char *)),
                                NULL, &fprs2);
    like(why, "no recipient", "no recipient is refused");

    /* Seal and open. */
    ok(llm_audit_gpg_make(pool, home, fprs, &gpg) == NULL, "a sealer");
    e = entry("sealed-model");
    ok(llm_audit_seal(gpg, pool, &e, &why) == APR_SUCCESS, "sealed");
    like(e.pgp, "-----BEGIN PGP MESSAGE-----", "ASCII-armored");
    ok(e.pgp && !strstr(e.pgp, "sealed-model"), "the field is not in clear");
    if (!e.pgp) {
        printf("# %s\n", why);
        return tap_done();
    }
    body = llm_audit_gpg_decrypt(pool, keyring, e.pgp, &n, &why);
    like(body, "\"model\":\"sealed-model\"", "the recipient opens it");
    body = llm_audit_gpg_decrypt(pool, home, e.pgp, &n, &why);
    ok(!body, "the gateway's own keyring cannot (no secret key there)");

    /* The cost of one seal (a gpg run per record). */
    {
        apr_time_t t0 = apr_time_now();

        for (i = 0; i < 20; i++) {
            e = entry("timed");
            llm_audit_seal(gpg, pool, &e, &why);
        }
        printf("# seal: %.2f ms per record (20 records, one thread)\n",
               (double)(apr_time_now() - t0) / 20 / 1000);
    }

    /* Threads share the sealer. */
    {
        apr_thread_t *th[4];
        seal_job_t jobs[4];
        apr_status_t rv;
        int good = 0;

        for (i = 0; i < 4; i++) {
            jobs[i].gpg = gpg;
            jobs[i].good = 0;
            apr_thread_create(&th[i], NULL, seal_thread, &jobs[i], pool);
        }
        for (i = 0; i < 4; i++) {
            apr_thread_join(&rv, th[i]);
            good += jobs[i].good;
        }
        is_int(good, 12, "four threads sealed 3 records each, all open");
    }

    /* An encrypted trail: verified without the key, read with it. */
    dir = apr_pstrcat(pool, top, "/trail", NULL);
    {
        llm_audit_state_t st;
        llm_audit_found_t found;
        llm_audit_opts_t o = { dir, 0, 0, 1 };
        llm_audit_trail_t *t;
        llm_audit_report_t rep;
        lines_t got = { 0, { 0 } };
        apr_uint64_t seq;
        int good = 1;

        llm_audit_recover(pool, dir, &st, &found);
        t = llm_audit_trail_make(pool, &o, &st);
        for (i = 0; i < 3; i++) {
            e = entry(apr_psprintf(pool, "m%d", i + 1));
            good &= llm_audit_seal(gpg, pool, &e, &why) == APR_SUCCESS
                    && llm_audit_append(t, pool, &e, &seq, &why)
                       == APR_SUCCESS;
        }
        ok(good, "three sealed records appended");
        llm_audit_verify(pool, list(dir), 0, &rep);
        is_int(rep.verdict, LLM_AUDIT_INTACT, "verify needs no key: intact");
        is_int(rep.records, 3, "3 records");
        why = llm_audit_read(pool, list(dir), keyring, collect, &got);
        is_str(why, NULL, "read with the recipient's keyring");
        is_int(got.n, 3, "three lines");
        like(got.text[0], "{\"seq\":1,\"time\":\"", "opened: seq, time first");
        like(got.text[1], "\"prev\":\"", "prev from the envelope");
        like(got.text[2], "\"model\":\"m3\"", "the fields");
        why = llm_audit_read(pool, list(dir), home, collect, &got);
        like(why, "decryption failed", "without the secret key: refused");
    }

    /* A batch: three bodies sealed as one message, then one record
     * alone; the chain counts four, the reader opens four in order. */
    dir = apr_pstrcat(pool, top, "/batch", NULL);
    {
        llm_audit_state_t st;
        llm_audit_found_t found;
        llm_audit_opts_t o = { dir, 0, 0, 1 };
        llm_audit_trail_t *t;
        llm_audit_report_t rep;
        lines_t got = { 0, { 0 } };
        apr_uint64_t seq = 0;
        llm_audit_entry_t b = { 0, NULL, NULL, NULL, 3, NULL, 0 };
        const char *text = "", *path;
        apr_size_t len = 0;
        int good = 1;

        for (i = 0; i < 3; i++) {
            e = entry(apr_psprintf(pool, "b%d", i + 1));
            text = apr_pstrcat(pool, text, i ? "\n" : "",
                               llm_audit_body_line(pool, &e, &len), NULL);
        }
        llm_audit_recover(pool, dir, &st, &found);
        t = llm_audit_trail_make(pool, &o, &st);
        good &= llm_audit_seal_text(gpg, pool, text, strlen(text), &b.pgp,
                                    &why) == APR_SUCCESS
                && llm_audit_append(t, pool, &b, &seq, &why) == APR_SUCCESS;
        is_int((int)seq, 1, "the batch is records 1..3");
        e = entry("after");
        good &= llm_audit_seal(gpg, pool, &e, &why) == APR_SUCCESS
                && llm_audit_append(t, pool, &e, &seq, &why) == APR_SUCCESS;
        ok(good, "a batch and a record appended");
        is_int((int)seq, 4, "the record after it is seq 4");
        llm_audit_verify(pool, list(dir), 0, &rep);
        is_int(rep.verdict, LLM_AUDIT_INTACT, "batch trail: intact");
        is_int((int)rep.records, 4, "4 records in 2 lines");
        why = llm_audit_read(pool, list(dir), keyring, collect, &got);
        is_str(why, NULL, "the batch opens");
        is_int(got.n, 4, "four records read");
        like(got.text[1], "{\"seq\":2,", "the batch's second record: seq 2");
        like(got.text[2], "\"model\":\"b3\"", "its fields");
        like(got.text[3], "{\"seq\":4,", "then seq 4");
        /* A count changed: the chain says so (the next seq is off). */
        path = apr_pstrcat(pool, dir, "/llm-audit.0000000000000001.jsonl",
                           NULL);
        system(apr_psprintf(pool, "sed -i '1s/\"count\":3/\"count\":2/' "
                            "'%s'", path));
        llm_audit_verify(pool, list(dir), 0, &rep);
        is_int(rep.verdict, LLM_AUDIT_BROKEN, "a batch's count altered: "
               "broken");
        like(rep.message, "records 3..3 are missing", "names the records the count no longer covers");
    }

    /* No gpg-agent for the gateway's keyrings (public keys only): its
     * socket would be there. (Not ps: it hangs under the sanitizers'
     * preloaded runtime.) */
    ok(system(apr_psprintf(pool, "for h in '%s' '%s/gw2'; do test -S "
                           "\"$(GNUPGHOME=$h gpgconf --list-dirs "
                           "agent-socket)\" && exit 1; done; exit 0", home,
                           top)) == 0,
       "no gpg-agent was started for the gateway's keyrings");
    sh("gpgconf --kill all >/dev/null");
    system(apr_psprintf(pool, "GNUPGHOME='%s' gpgconf --kill all "
                        ">/dev/null 2>&1; rm -rf '%s'", home, top));
    return tap_done();
}
