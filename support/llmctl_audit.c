/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * llmctl audit: check and read mod_llm_audit's trails (docs/audit.md).
 *
 *   llmctl audit verify [--partial] DIR|FILE...
 *   llmctl audit show [--keyring DIR] [--since TIME] [--until TIME]
 *                     [--event NAME] [--model NAME] [--key ID] DIR|FILE...
 *   llmctl audit keygen [--dir DIR] [--name NAME] [--email ADDR]
 *                       [--out FILE] [--passphrase-file FILE]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gpgme.h>

#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_time.h"
#include "apr_file_info.h"
#include "apr_file_io.h"
#include "apr_env.h"

#include "llmctl.h"
#include "llm_audit.h"
#include "llm_json.h"

#define EXIT_TORN 3

static const char help[] =
"usage: llmctl audit verify [--partial] DIR|FILE...\n"
"       llmctl audit show [--keyring DIR] [--since TIME] [--until TIME]\n"
"                         [--event NAME] [--model NAME] [--key ID]\n"
"                         DIR|FILE...\n"
"       llmctl audit keygen [--dir DIR] [--name NAME] [--email ADDR]\n"
"                           [--out FILE] [--passphrase-file FILE]\n"
"\n"
"verify  checks the hash chain of the trail files (llm-audit.*.jsonl) in\n"
"        each DIR, or the FILEs given, across rotated files, in chain\n"
"        order. Needs no key: the chain covers the sealed records.\n"
"        Prints the first bad record: an edited, deleted, reordered or\n"
"        cut record, or a deleted file.\n"
"        --partial  the trail may start after seq 1 (older files removed\n"
"                   on purpose); the chain is checked from its first\n"
"                   record\n"
"        exit: 0 intact; 1 broken (the first bad record is named);\n"
"              2 usage, or a file cannot be read;\n"
"              3 intact, but a record torn by a crash is in it (named)\n"
"\n"
"show    prints each record as a JSON line, in chain order: sealed\n"
"        records are decrypted with the secret keys of the GnuPG home\n"
"        (--keyring, else GNUPGHOME, else ~/.gnupg). Torn records are\n"
"        skipped; run verify for the chain. The records of a sealed\n"
"        batch are filtered one by one. Filters: a record is printed\n"
"        when it matches every option given; an option given several\n"
"        times matches any of its values.\n"
"        --since TIME  records at or after TIME: RFC 3339\n"
"                      (2026-12-07T01:02:03Z, 2026-12-07T02:02:03+01:00,\n"
"                      fractions of a second allowed) or a date\n"
"                      (2026-12-07: from its start, UTC)\n"
"        --until TIME  records up to TIME, inclusive at the precision\n"
"                      given: a date takes in the whole day (UTC), a\n"
"                      time in seconds the whole second\n"
"        --event NAME  records of this event (request, masking, guard,\n"
"                      access)\n"
"        --model NAME  records whose \"model\" is NAME\n"
"        --key ID      records whose \"user\" or \"key_id\" is ID (the\n"
"                      authenticated user, or the API key's id)\n"
"        A record without the field (or without a valid \"time\") does\n"
"        not match that filter.\n"
"        exit: 0 every record read (printed or filtered out); 1 a record\n"
"              could not be opened; 2 usage, or a file cannot be read\n"
"\n"
"keygen  creates the auditors' key pair for a new install (on their\n"
"        machine, not on the gateway): ed25519 to certify, cv25519 to\n"
"        encrypt (gpg's future-default), no expiry. Prints the\n"
"        fingerprint and writes the armored public key, for the\n"
"        gateway's LLMAuditRecipient, to <fingerprint>.asc. The secret\n"
"        key stays in the GnuPG home: it must not go to the gateway.\n"
"        --dir DIR     the GnuPG home that keeps the key pair (created\n"
"                      mode 0700); default GNUPGHOME, else ~/.gnupg\n"
"        --name NAME   the key's user id (default \"LLM gateway\n"
"                      auditor\")\n"
"        --email ADDR  an address in the user id\n"
"        --out FILE    the public key file (not overwritten)\n"
"        --passphrase-file FILE\n"
"                      protect the secret key with the first line of\n"
"                      FILE; without it the key has no passphrase (a\n"
"                      warning says so)\n"
"        exit: 0 key pair created; 1 gpg failed, or the public key could\n"
"              not be written; 2 usage, the passphrase file cannot be\n"
"              read, or the --out file exists\n";

static int verify(apr_pool_t *p, int argc, const char *const *argv)
{
    apr_array_header_t *dirs = apr_array_make(p, 4, sizeof(char *));
    llm_audit_report_t rep;
    int i, partial = 0;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            return LLMCTL_OK;
        }
        if (!strcmp(argv[i], "--partial")) {
            partial = 1;
        }
        else if (argv[i][0] == '-') {
            fprintf(stderr, "llmctl audit verify: unknown option %s\n%s",
                    argv[i], help);
            return LLMCTL_USAGE;
        }
        else {
            APR_ARRAY_PUSH(dirs, const char *) = argv[i];
        }
    }
    if (!dirs->nelts) {
        fputs(help, stderr);
        return LLMCTL_USAGE;
    }
    if (llm_audit_verify(p, dirs, partial, &rep) != APR_SUCCESS) {
        fprintf(stderr, "llmctl audit verify: %s\n", rep.message);
        return LLMCTL_USAGE;
    }
    switch (rep.verdict) {
    case LLM_AUDIT_INTACT:
        printf("intact: %s\n", rep.message);
        return LLMCTL_OK;
    case LLM_AUDIT_TORN:
        printf("torn: %s (%" APR_UINT64_T_FMT " records chained in %d "
               "file(s))\n", rep.message, rep.records, rep.files);
        return EXIT_TORN;
    default:
        printf("BROKEN: %s (%" APR_UINT64_T_FMT " records chained before "
               "it)\n", rep.message, rep.records);
        return LLMCTL_FAIL;
    }
}

/* ------------------------------------------------------------------ */
/* Times: RFC 3339 or a date, to microseconds since the epoch           */
/* ------------------------------------------------------------------ */

/* @a n decimal digits at *s as a number, *s moved past them; -1 when
 * they are not all digits. */
static int digits(const char **s, int n)
{
    int v = 0;

    while (n--) {
        if (**s < '0' || **s > '9') {
            return -1;
        }
        v = v * 10 + (*(*s)++ - '0');
    }
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    return month == 2 && leap ? 29 : days[month - 1];
}

/* "YYYY-MM-DD" at *s into @a x (midnight). */
static int parse_date(const char **s, apr_time_exp_t *x)
{
    int y = digits(s, 4), m = -1, d = -1;

    if (y >= 0 && **s == '-' && (++*s, m = digits(s, 2)) >= 1 && m <= 12
        && **s == '-' && (++*s, d = digits(s, 2)) >= 1
        && d <= days_in_month(y, m)) {
        memset(x, 0, sizeof(*x));
        x->tm_year = y - 1900;
        x->tm_mon = m - 1;
        x->tm_mday = d;
        return 1;
    }
    return 0;
}

/* "HH:MM:SS[.frac]" at *s into @a x; *unit: the time the last digit
 * given stands for (a second, or a tenth, ... a microsecond). */
static int parse_clock(const char **s, apr_time_exp_t *x,
                       apr_interval_time_t *unit)
{
    int h = digits(s, 2), mi = -1, se = -1;

    if (h < 0 || h > 23 || **s != ':' || (++*s, mi = digits(s, 2)) < 0
        || mi > 59 || **s != ':' || (++*s, se = digits(s, 2)) < 0
        || se > 60) {                /* 60: a leap second */
        return 0;
    }
    x->tm_hour = h;
    x->tm_min = mi;
    x->tm_sec = se;
    *unit = APR_USEC_PER_SEC;
    if (**s == '.') {
        apr_interval_time_t scale = APR_USEC_PER_SEC;

        if (*++*s < '0' || **s > '9') {
            return 0;
        }
        /* Digits past microseconds are read and dropped. */
        for (; **s >= '0' && **s <= '9'; ++*s) {
            if (scale > 1) {
                scale /= 10;
                x->tm_usec += (**s - '0') * (apr_int32_t)scale;
            }
        }
        *unit = scale;
    }
    return 1;
}

/* "Z" or "+HH:MM"/"-HH:MM" at *s: seconds east of UTC. */
static int parse_offset(const char **s, long *east)
{
    int sign, h, m;

    if (**s == 'Z' || **s == 'z') {
        ++*s;
        *east = 0;
        return 1;
    }
    if (**s != '+' && **s != '-') {
        return 0;
    }
    sign = *(*s)++ == '-' ? -1 : 1;
    if ((h = digits(s, 2)) < 0 || h > 23 || *(*s)++ != ':'
        || (m = digits(s, 2)) < 0 || m > 59) {
        return 0;
    }
    *east = sign * (h * 3600L + m * 60L);
    return 1;
}

/* @a text as a time: RFC 3339 (a date, "T", a clock and an offset) or a
 * date alone (midnight UTC). *unit is what its last digit stands for:
 * a day for a date, so that --until 2026-12-07 takes in the whole day.
 * 0 when @a text is neither. */
static int parse_time(const char *text, apr_time_t *t,
                      apr_interval_time_t *unit)
{
    const char *s = text;
    apr_time_exp_t x;
    long east = 0;

    if (!parse_date(&s, &x)) {
        return 0;
    }
    *unit = apr_time_from_sec(86400);
    if (*s && ((*s != 'T' && *s != 't' && *s != ' ')
               || (++s, !parse_clock(&s, &x, unit))
               || !parse_offset(&s, &east))) {
        return 0;
    }
    if (*s || apr_time_exp_gmt_get(t, &x) != APR_SUCCESS) {
        return 0;
    }
    *t -= apr_time_from_sec(east);
    return 1;
}

/* ------------------------------------------------------------------ */
/* show's filters                                                       */
/* ------------------------------------------------------------------ */

/* What show prints: records matching every filter set; a filter given
 * several times matches any of its values. */
typedef struct {
    apr_array_header_t *events;      /* const char *; empty: any */
    apr_array_header_t *models;
    apr_array_header_t *keys;        /* "user" or "key_id" */
    apr_time_t since;                /* has_since: time >= since */
    apr_time_t until;                /* has_until: time < until */
    int has_since;
    int has_until;
} filter_t;

static int filtering(const filter_t *f)
{
    return f->events->nelts || f->models->nelts || f->keys->nelts
           || f->has_since || f->has_until;
}

static int one_of(const apr_array_header_t *values, const char *s)
{
    int i;

    for (i = 0; s && i < values->nelts; i++) {
        if (!strcmp(APR_ARRAY_IDX(values, i, const char *), s)) {
            return 1;
        }
    }
    return 0;
}

static int in_time(const filter_t *f, json_object *rec)
{
    const char *text = llm_json_str(rec, "time", NULL);
    apr_interval_time_t unit;
    apr_time_t t;

    if (!f->has_since && !f->has_until) {
        return 1;
    }
    if (!text || !parse_time(text, &t, &unit)) {
        return 0;
    }
    return (!f->has_since || t >= f->since)
           && (!f->has_until || t < f->until);
}

static int matches(const filter_t *f, json_object *rec)
{
    return (!f->events->nelts
            || one_of(f->events, llm_json_str(rec, "event", NULL)))
        && (!f->models->nelts
            || one_of(f->models, llm_json_str(rec, "model", NULL)))
        && (!f->keys->nelts
            || one_of(f->keys, llm_json_str(rec, "user", NULL))
            || one_of(f->keys, llm_json_str(rec, "key_id", NULL)))
        && in_time(f, rec);
}

/* --since/--until: several of each narrow the window (AND). */
static int set_bound(filter_t *f, const char *opt, const char *value)
{
    apr_interval_time_t unit;
    apr_time_t t;

    if (!parse_time(value, &t, &unit)) {
        fprintf(stderr, "llmctl audit show: %s %s: not a time (RFC 3339 "
                "like 2026-12-07T01:02:03Z, or a date like 2026-12-07)\n",
                opt, value);
        return 0;
    }
    if (!strcmp(opt, "--since")) {
        f->since = f->has_since && f->since > t ? f->since : t;
        f->has_since = 1;
    }
    else {
        /* Inclusive at the precision given: the bound is the end of
         * the day, second or fraction named. */
        t += unit;
        f->until = f->has_until && f->until < t ? f->until : t;
        f->has_until = 1;
    }
    return 1;
}

static int show_line(void *baton, const char *file, const char *line,
                     apr_size_t len)
{
    const filter_t *f = baton;

    (void)file;
    if (filtering(f)) {
        json_object *o = llm_json_parse(line, len);
        int keep = o && matches(f, o);

        if (o) {
            json_object_put(o);
        }
        if (!keep) {
            return 0;
        }
    }
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
    return 0;
}

/* Whether argv[*i] is @a opt with a value (then in *value, *i moved on);
 * *bad when it is @a opt without one. */
static int option(int argc, const char *const *argv, int *i,
                  const char *opt, const char **value, int *bad)
{
    if (strcmp(argv[*i], opt)) {
        return 0;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "llmctl audit: %s needs a value\n", opt);
        *bad = 1;
        return 0;
    }
    *value = argv[++*i];
    return 1;
}

/* show's options into @a f, its files into @a dirs. LLMCTL_OK, or the
 * exit code (usage: 2; --help: 0 with *done). */
static int show_options(int argc, const char *const *argv, filter_t *f,
                        const char **keyring, apr_array_header_t *dirs,
                        int *done)
{
    const char *v;
    int i, bad = 0;

    for (i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            *done = 1;
            return LLMCTL_OK;
        }
        if (option(argc, argv, &i, "--keyring", keyring, &bad)) {
            continue;
        }
        if (option(argc, argv, &i, "--event", &v, &bad)) {
            APR_ARRAY_PUSH(f->events, const char *) = v;
        }
        else if (option(argc, argv, &i, "--model", &v, &bad)) {
            APR_ARRAY_PUSH(f->models, const char *) = v;
        }
        else if (option(argc, argv, &i, "--key", &v, &bad)) {
            APR_ARRAY_PUSH(f->keys, const char *) = v;
        }
        else if (option(argc, argv, &i, "--since", &v, &bad)
                 || option(argc, argv, &i, "--until", &v, &bad)) {
            bad = !set_bound(f, argv[i - 1], v);
        }
        else if (!bad && argv[i][0] == '-') {
            fprintf(stderr, "llmctl audit show: unknown option %s\n", argv[i]);
            bad = 1;
        }
        else if (!bad) {
            APR_ARRAY_PUSH(dirs, const char *) = argv[i];
        }
    }
    if (bad || !dirs->nelts) {
        fputs(help, stderr);
        *done = 1;
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

static int show(apr_pool_t *p, int argc, const char *const *argv)
{
    apr_array_header_t *dirs = apr_array_make(p, 4, sizeof(char *));
    filter_t f;
    const char *keyring = NULL, *why;
    int rc, done = 0;

    memset(&f, 0, sizeof(f));
    f.events = apr_array_make(p, 2, sizeof(char *));
    f.models = apr_array_make(p, 2, sizeof(char *));
    f.keys = apr_array_make(p, 2, sizeof(char *));
    rc = show_options(argc, argv, &f, &keyring, dirs, &done);
    if (done) {
        return rc;
    }
    if ((why = llm_audit_gpg_init()) != NULL) {
        fprintf(stderr, "llmctl audit show: %s\n", why);
        return LLMCTL_FAIL;
    }
    if ((why = llm_audit_read(p, dirs, keyring, show_line, &f)) != NULL) {
        fflush(stdout);
        fprintf(stderr, "llmctl audit show: %s\n", why);
        return strstr(why, "cannot be read") || strstr(why, "no such")
               ? LLMCTL_USAGE : LLMCTL_FAIL;
    }
    return LLMCTL_OK;
}

/* ------------------------------------------------------------------ */
/* keygen: the auditors' key pair, through gpgme                       */
/* ------------------------------------------------------------------ */

#define DEFAULT_NAME "LLM gateway auditor"
#define PASSPHRASE_MAX 4096

typedef struct {
    const char *home;                /* the GnuPG home */
    const char *name;
    const char *email;
    const char *out;                 /* NULL: <fingerprint>.asc */
    const char *passfile;            /* NULL: no passphrase */
    char *passphrase;                /* wiped with the pool */
} keygen_t;

/* --dir, else GNUPGHOME, else ~/.gnupg: where gpg itself would look. */
static const char *default_home(apr_pool_t *p)
{
    char *env = NULL;

    if (apr_env_get(&env, "GNUPGHOME", p) == APR_SUCCESS && *env) {
        return env;
    }
    if (apr_env_get(&env, "HOME", p) == APR_SUCCESS && *env) {
        return apr_pstrcat(p, env, "/.gnupg", NULL);
    }
    return NULL;
}

/* The home made 0700 when missing (gpg refuses, or warns about, one
 * others can read). NULL, or why not. */
static const char *make_home(apr_pool_t *p, const char *home)
{
    apr_finfo_t fi;
    apr_status_t rv;
    char err[120];

    rv = apr_dir_make_recursive(home, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                | APR_FPROT_UEXECUTE, p);
    if (rv != APR_SUCCESS
        || (rv = apr_stat(&fi, home, APR_FINFO_TYPE | APR_FINFO_PROT, p))
           != APR_SUCCESS) {
        return apr_psprintf(p, "%s: %s", home,
                            apr_strerror(rv, err, sizeof(err)));
    }
    if (fi.filetype != APR_DIR) {
        return apr_psprintf(p, "%s is not a directory", home);
    }
    if (fi.protection & (APR_FPROT_GREAD | APR_FPROT_GWRITE
                         | APR_FPROT_WREAD | APR_FPROT_WWRITE)) {
        fprintf(stderr, "llmctl audit keygen: warning: %s can be read or "
                "written by others than its owner (chmod 700 it)\n", home);
    }
    return NULL;
}

static apr_status_t wipe(void *data)
{
    keygen_t *k = data;

    if (k->passphrase) {
        memset(k->passphrase, 0, strlen(k->passphrase));
    }
    return APR_SUCCESS;
}

/* The first line of k->passfile, without its newline. NULL, or why
 * not. */
static const char *read_passphrase(apr_pool_t *p, keygen_t *k)
{
    apr_file_t *f;
    apr_size_t n = PASSPHRASE_MAX;
    apr_status_t rv;
    char err[120];

    k->passphrase = apr_pcalloc(p, PASSPHRASE_MAX + 1);
    apr_pool_cleanup_register(p, k, wipe, apr_pool_cleanup_null);
    if ((rv = apr_file_open(&f, k->passfile, APR_FOPEN_READ, 0, p))
        != APR_SUCCESS) {
        return apr_psprintf(p, "%s: %s", k->passfile,
                            apr_strerror(rv, err, sizeof(err)));
    }
    rv = apr_file_read_full(f, k->passphrase, n, &n);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(p, "%s: %s", k->passfile,
                            apr_strerror(rv, err, sizeof(err)));
    }
    k->passphrase[strcspn(k->passphrase, "\r\n")] = '\0';
    if (!*k->passphrase) {
        return apr_psprintf(p, "%s: the first line is empty", k->passfile);
    }
    return NULL;
}

/* gpg asks (pinentry loopback) for the new key's passphrase: it gets
 * the file's, once; a second ask means it was refused, so cancel
 * rather than loop. */
static gpgme_error_t give_passphrase(void *hook, const char *uid_hint,
                                     const char *info, int prev_was_bad,
                                     int fd)
{
    const keygen_t *k = hook;
    size_t len = strlen(k->passphrase);

    (void)uid_hint;
    (void)info;
    if (prev_was_bad || gpgme_io_writen(fd, k->passphrase, len)
        || gpgme_io_writen(fd, "\n", 1)) {
        return gpgme_error(GPG_ERR_CANCELED);
    }
    return 0;
}

static const char *gpg_why(apr_pool_t *p, const char *what,
                           gpgme_error_t err)
{
    return apr_psprintf(p, "%s: %s", what, gpgme_strerror(err));
}

/* A context on k->home, the passphrase (if any) given by loopback. */
static const char *keygen_context(apr_pool_t *p, keygen_t *k,
                                  gpgme_ctx_t *ctx)
{
    gpgme_error_t err;

    if ((err = gpgme_new(ctx))) {
        return gpg_why(p, "gpgme_new", err);
    }
    if ((err = gpgme_ctx_set_engine_info(*ctx, GPGME_PROTOCOL_OpenPGP,
                                         NULL, k->home))) {
        gpgme_release(*ctx);
        return gpg_why(p, k->home, err);
    }
    gpgme_set_armor(*ctx, 1);
    gpgme_set_offline(*ctx, 1);
    if (k->passphrase) {
        gpgme_set_pinentry_mode(*ctx, GPGME_PINENTRY_MODE_LOOPBACK);
        gpgme_set_passphrase_cb(*ctx, give_passphrase, k);
    }
    return NULL;
}

/* The key pair made in @a ctx: its fingerprint in *fpr. gpg's
 * future-default makes an ed25519 primary key and a cv25519 subkey to
 * encrypt; checked, since the gateway refuses a key that cannot. */
static const char *create_key(apr_pool_t *p, gpgme_ctx_t ctx,
                              const keygen_t *k, const char **fpr)
{
    const char *uid = k->email ? apr_psprintf(p, "%s <%s>", k->name,
                                              k->email) : k->name;
    unsigned int flags = GPGME_CREATE_NOEXPIRE;
    gpgme_genkey_result_t res;
    gpgme_key_t key = NULL;
    gpgme_error_t err;
    int can_encrypt;

    if (!k->passphrase) {
        flags |= GPGME_CREATE_NOPASSWD;
    }
    if ((err = gpgme_op_createkey(ctx, uid, "future-default", 0, 0, NULL,
                                  flags))) {
        return gpg_why(p, "creating the key pair", err);
    }
    res = gpgme_op_genkey_result(ctx);
    if (!res || !res->fpr) {
        return "creating the key pair: gpg gave no fingerprint";
    }
    *fpr = apr_pstrdup(p, res->fpr);
    if ((err = gpgme_get_key(ctx, *fpr, &key, 0))) {
        return gpg_why(p, *fpr, err);
    }
    can_encrypt = key->can_encrypt;
    gpgme_key_unref(key);
    return can_encrypt ? NULL : apr_psprintf(p, "%s: the new key cannot "
                                             "encrypt", *fpr);
}

/* The armored public key of @a fpr written to @a path, which must not
 * exist yet (a key file someone relies on is never replaced). */
static const char *write_public(apr_pool_t *p, gpgme_ctx_t ctx,
                                const char *fpr, const char *path)
{
    gpgme_data_t d;
    gpgme_error_t err;
    apr_file_t *f;
    apr_status_t rv;
    apr_size_t n = 0;
    char *blob, errbuf[120];

    if ((err = gpgme_data_new(&d))) {
        return gpg_why(p, "gpgme_data_new", err);
    }
    err = gpgme_op_export(ctx, fpr, 0, d);
    blob = gpgme_data_release_and_get_mem(d, &n);
    if (err || !n) {
        gpgme_free(blob);
        return err ? gpg_why(p, "exporting the public key", err)
                   : "exporting the public key: gpg gave nothing";
    }
    rv = apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_EXCL, APR_FPROT_OS_DEFAULT, p);
    if (rv == APR_SUCCESS) {
        rv = apr_file_write_full(f, blob, n, NULL);
        if (apr_file_close(f) != APR_SUCCESS && rv == APR_SUCCESS) {
            rv = APR_EGENERAL;
        }
    }
    gpgme_free(blob);
    return rv == APR_SUCCESS ? NULL
           : apr_psprintf(p, "%s: %s", path,
                          apr_strerror(rv, errbuf, sizeof(errbuf)));
}

static int keygen_options(apr_pool_t *p, int argc, const char *const *argv,
                          keygen_t *k, int *done)
{
    int i, bad = 0;

    for (i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            *done = 1;
            return LLMCTL_OK;
        }
        if (!option(argc, argv, &i, "--dir", &k->home, &bad)
            && !option(argc, argv, &i, "--name", &k->name, &bad)
            && !option(argc, argv, &i, "--email", &k->email, &bad)
            && !option(argc, argv, &i, "--out", &k->out, &bad)
            && !option(argc, argv, &i, "--passphrase-file", &k->passfile,
                       &bad)
            && !bad) {
            fprintf(stderr, "llmctl audit keygen: unknown %s %s\n",
                    argv[i][0] == '-' ? "option" : "argument", argv[i]);
            bad = 1;
        }
    }
    if (!bad && !k->home && !(k->home = default_home(p))) {
        fprintf(stderr, "llmctl audit keygen: no GNUPGHOME and no HOME: "
                "say --dir\n");
        bad = 1;
    }
    if (bad) {
        fputs(help, stderr);
        *done = 1;
        return LLMCTL_USAGE;
    }
    return LLMCTL_OK;
}

static int exists(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;

    return apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_SUCCESS;
}

/* What keygen made, and what the operator must know about it. */
static void keygen_report(const keygen_t *k, const char *fpr,
                          const char *out)
{
    printf("%s\n", fpr);
    fflush(stdout);
    fprintf(stderr, "llmctl audit keygen: public key written to %s: give "
            "it to the gateway (LLMAuditRecipient %s)\n"
            "llmctl audit keygen: the secret key stays in %s: keep it, "
            "and a backup, with the auditors; it must not go to the "
            "gateway\n", out, out, k->home);
    if (!k->passphrase) {
        fprintf(stderr, "llmctl audit keygen: warning: the secret key has "
                "no passphrase: whoever can read %s can read the trail "
                "(--passphrase-file protects it)\n", k->home);
    }
}

static int keygen(apr_pool_t *p, int argc, const char *const *argv)
{
    keygen_t k;
    gpgme_ctx_t ctx;
    const char *why, *fpr = NULL, *out;
    int rc, done = 0;

    memset(&k, 0, sizeof(k));
    k.name = DEFAULT_NAME;
    rc = keygen_options(p, argc, argv, &k, &done);
    if (done) {
        return rc;
    }
    if (k.passfile && (why = read_passphrase(p, &k)) != NULL) {
        fprintf(stderr, "llmctl audit keygen: %s\n", why);
        return LLMCTL_USAGE;
    }
    if (k.out && exists(p, k.out)) {
        /* Before the key is made: a key pair nobody gets the public key
         * of is one more to clean up. */
        fprintf(stderr, "llmctl audit keygen: %s exists: it is not "
                "replaced\n", k.out);
        return LLMCTL_USAGE;
    }
    if ((why = llm_audit_gpg_init()) != NULL
        || (why = make_home(p, k.home)) != NULL
        || (why = keygen_context(p, &k, &ctx)) != NULL) {
        fprintf(stderr, "llmctl audit keygen: %s\n", why);
        return LLMCTL_FAIL;
    }
    why = create_key(p, ctx, &k, &fpr);
    out = k.out ? k.out : apr_pstrcat(p, fpr ? fpr : "", ".asc", NULL);
    if (!why) {
        why = write_public(p, ctx, fpr, out);
    }
    gpgme_release(ctx);
    if (why) {
        fprintf(stderr, "llmctl audit keygen: %s\n", why);
        if (fpr) {
            fprintf(stderr, "llmctl audit keygen: the key pair %s was "
                    "made in %s all the same\n", fpr, k.home);
        }
        return LLMCTL_FAIL;
    }
    keygen_report(&k, fpr, out);
    return LLMCTL_OK;
}

int llmctl_audit(apr_pool_t *p, int argc, const char *const *argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? LLMCTL_USAGE : LLMCTL_OK;
    }
    if (!strcmp(argv[1], "verify")) {
        return verify(p, argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "show")) {
        return show(p, argc - 1, argv + 1);
    }
    if (!strcmp(argv[1], "keygen")) {
        return keygen(p, argc - 1, argv + 1);
    }
    fprintf(stderr, "llmctl audit: no command %s\n%s", argv[1], help);
    return LLMCTL_USAGE;
}
