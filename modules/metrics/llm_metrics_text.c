/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The Prometheus text exposition format (version 0.0.4): for each
 * family "# HELP" and "# TYPE" once, then its series, each once; label
 * values escaped (\\, \", \n); a histogram's buckets cumulative with
 * le="+Inf" equal to _count, then _sum and _count. Numbers are integers
 * in the family's unit, printed as exact decimals (12345 us with scale 6
 * is "0.012345"): no floating point, so a sum never reads 0.30000000004.
 */

#include <string.h>
#include "apr_strings.h"

#include "llm_metrics.h"

#define ADD_LIT(b, s) llm_buf_add((b), (s), sizeof(s) - 1)

static void add_str(llm_buf_t *b, const char *s)
{
    llm_buf_add(b, s, strlen(s));
}

/* An integer / 10^scale, without trailing zeros after the point. */
static void add_decimal(llm_buf_t *b, apr_int64_t v, int scale)
{
    char digits[32], out[48];
    apr_uint64_t u = v < 0 ? (apr_uint64_t)0 - (apr_uint64_t)v
                           : (apr_uint64_t)v;
    int n, whole, o = 0;

    n = apr_snprintf(digits, sizeof(digits), "%0*" APR_UINT64_T_FMT,
                     scale + 1, u);
    whole = n - scale;
    if (v < 0) {
        out[o++] = '-';
    }
    memcpy(out + o, digits, (apr_size_t)whole);
    o += whole;
    if (scale > 0) {
        int last = n;

        while (last > whole && digits[last - 1] == '0') {
            last--;
        }
        if (last > whole) {
            out[o++] = '.';
            memcpy(out + o, digits + whole, (apr_size_t)(last - whole));
            o += last - whole;
        }
    }
    llm_buf_add(b, out, (apr_size_t)o);
}

/* HELP text: backslash and newline escaped. */
static void add_help(llm_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') {
            ADD_LIT(b, "\\\\");
        }
        else if (*s == '\n') {
            ADD_LIT(b, "\\n");
        }
        else {
            llm_buf_add(b, s, 1);
        }
    }
}

/* A label value: backslash, double quote and newline escaped. */
static void add_label_value(llm_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\') {
            ADD_LIT(b, "\\\\");
        }
        else if (*s == '"') {
            ADD_LIT(b, "\\\"");
        }
        else if (*s == '\n') {
            ADD_LIT(b, "\\n");
        }
        else {
            llm_buf_add(b, s, 1);
        }
    }
}

static const char *type_name(llm_metric_type_e t)
{
    return t == LLM_METRIC_COUNTER ? "counter"
           : t == LLM_METRIC_GAUGE ? "gauge" : "histogram";
}

void llm_metrics_write_head_as(llm_buf_t *out, const char *name,
                               const char *help, llm_metric_type_e type,
                               unsigned int flags)
{
    apr_size_t len = strlen(name);

    /* OpenMetrics names a counter family without the _total of its
     * samples */
    if ((flags & LLM_METRICS_OPENMETRICS) && type == LLM_METRIC_COUNTER
        && len > 6 && !strcmp(name + len - 6, "_total")) {
        len -= 6;
    }
    ADD_LIT(out, "# HELP ");
    llm_buf_add(out, name, len);
    ADD_LIT(out, " ");
    add_help(out, help);
    ADD_LIT(out, "\n# TYPE ");
    llm_buf_add(out, name, len);
    ADD_LIT(out, " ");
    add_str(out, type_name(type));
    ADD_LIT(out, "\n");
}

void llm_metrics_write_head(llm_buf_t *out, const char *name,
                            const char *help, llm_metric_type_e type)
{
    llm_metrics_write_head_as(out, name, help, type, 0);
}

void llm_metrics_write_eof(llm_buf_t *out)
{
    ADD_LIT(out, "# EOF\n");
}

/* " # {request_id="..."} value timestamp" before the end of the line
 * just written (OpenMetrics). */
static void add_exemplar(llm_buf_t *out, const llm_metrics_family_t *f,
                         const llm_metrics_exemplar_t *e)
{
    out->len--;                                  /* the newline */
    ADD_LIT(out, " # {request_id=\"");
    add_label_value(out, e->id);
    ADD_LIT(out, "\"} ");
    add_decimal(out, (apr_int64_t)e->value, f->scale);
    ADD_LIT(out, " ");
    add_decimal(out, (apr_int64_t)e->time, 6);  /* seconds */
    ADD_LIT(out, "\n");
}

void llm_metrics_write_sample(llm_buf_t *out, const char *name,
                              const char *const *labels, int nlabels,
                              apr_int64_t v, int scale)
{
    int i;

    add_str(out, name);
    for (i = 0; i < nlabels; i++) {
        llm_buf_add(out, i ? "," : "{", 1);
        add_str(out, labels[2 * i]);
        ADD_LIT(out, "=\"");
        add_label_value(out, labels[2 * i + 1]);
        ADD_LIT(out, "\"");
    }
    if (nlabels) {
        ADD_LIT(out, "}");
    }
    ADD_LIT(out, " ");
    add_decimal(out, v, scale);
    ADD_LIT(out, "\n");
}

/* The label pairs of series @a s into @a labels (a pair label gives two),
 * with room for one more (le); returns how many labels, -1 when a label
 * known at scrape time has no value (yet). */
static int series_labels(apr_pool_t *p, const llm_metrics_family_t *f,
                         apr_size_t s, const char **labels)
{
    const char *values[LLM_METRICS_MAX_DIMS];
    int i, n = 0;

    for (i = f->ndims - 1; i >= 0; i--) {
        apr_size_t nv = (apr_size_t)f->dims[i]->values->nelts;

        values[i] = f->dims[i]->label
                    ? f->dims[i]->label(f->dims[i]->baton, (int)(s % nv))
                    : APR_ARRAY_IDX(f->dims[i]->values, s % nv,
                                    const char *);
        if (!values[i]) {
            return -1;
        }
        s /= nv;
    }
    for (i = 0; i < f->ndims; i++) {
        const char *sep = f->dims[i]->name2
                          ? strstr(values[i], LLM_METRICS_PAIR_SEP) : NULL;

        labels[2 * n] = f->dims[i]->name;
        labels[2 * n + 1] = sep ? apr_pstrmemdup(p, values[i],
                                                 (apr_size_t)(sep - values[i]))
                                : values[i];
        n++;
        if (f->dims[i]->name2) {
            labels[2 * n] = f->dims[i]->name2;
            labels[2 * n + 1] = sep ? sep + 1 : "";
            n++;
        }
    }
    return n;
}

static void write_histogram_series(llm_buf_t *out, apr_pool_t *p,
                                   const llm_metrics_t *m,
                                   const llm_metrics_family_t *f,
                                   apr_size_t s, unsigned int flags,
                                   const apr_uint64_t *c, const char **labels,
                                   int nlabels)
{
    int ex = (flags & LLM_METRICS_OPENMETRICS) && f->exemplars;
    const char *bucket = apr_pstrcat(p, f->name, "_bucket", NULL);
    apr_uint64_t cum = 0;
    llm_buf_t le;
    int b;

    llm_buf_init(&le, p);
    labels[2 * nlabels] = "le";
    for (b = 0; b <= f->nbounds; b++) {
        cum += c[b];
        le.len = 0;
        if (b < f->nbounds) {
            add_decimal(&le, (apr_int64_t)f->bounds[b], f->scale);
        }
        else {
            ADD_LIT(&le, "+Inf");
        }
        llm_buf_add(&le, "", 1);
        labels[2 * nlabels + 1] = le.data;
        llm_metrics_write_sample(out, bucket, labels, nlabels + 1,
                                 (apr_int64_t)cum, 0);
        if (ex && c[b]) {
            llm_metrics_exemplar_t e;

            if (llm_metrics_exemplar_newest(
                    m, f->ex_offset + s * (apr_size_t)(f->nbounds + 1) + b,
                    &e)) {
                add_exemplar(out, f, &e);
            }
        }
    }
    llm_metrics_write_sample(out, apr_pstrcat(p, f->name, "_sum", NULL),
                             labels, nlabels,
                             (apr_int64_t)c[f->nbounds + 1], f->scale);
    llm_metrics_write_sample(out, apr_pstrcat(p, f->name, "_count", NULL),
                             labels, nlabels, (apr_int64_t)cum, 0);
}

static int series_moved(const llm_metrics_family_t *f, const apr_uint64_t *c)
{
    int b;

    if (f->type != LLM_METRIC_HISTOGRAM) {
        return c[0] != 0;
    }
    for (b = 0; b <= f->nbounds; b++) {
        if (c[b]) {
            return 1;
        }
    }
    return 0;
}

static void write_family(const llm_metrics_t *m, llm_buf_t *out,
                         apr_pool_t *p, const llm_metrics_family_t *f,
                         unsigned int flags)
{
    apr_uint64_t *sums = apr_palloc(p, f->nseries * f->cells_per_series
                                       * sizeof(*sums));
    const char *labels[2 * (2 * LLM_METRICS_MAX_DIMS + 1)];
    apr_size_t s;
    int n;

    llm_metrics_sum_family(m, f, sums);
    llm_metrics_write_head_as(out, f->name, f->help, f->type, flags);
    for (s = 0; s < f->nseries; s++) {
        const apr_uint64_t *c = sums + s * f->cells_per_series;

        if (f->ndims && !series_moved(f, c)) {
            continue;
        }
        if ((n = series_labels(p, f, s, labels)) < 0) {
            continue;
        }
        if (f->type == LLM_METRIC_HISTOGRAM) {
            write_histogram_series(out, p, m, f, s, flags, c, labels, n);
        }
        else {
            llm_metrics_write_sample(out, f->name, labels, n,
                                     (apr_int64_t)c[0], f->scale);
        }
    }
}

void llm_metrics_write(const llm_metrics_t *m, llm_buf_t *out,
                       apr_pool_t *scratch)
{
    llm_metrics_write_as(m, out, scratch, 0);
}

void llm_metrics_write_as(const llm_metrics_t *m, llm_buf_t *out,
                          apr_pool_t *scratch, unsigned int flags)
{
    int i;

    for (i = 0; i < m->families->nelts; i++) {
        apr_pool_t *p;

        /* one family's sums at a time: the scratch pool stays small */
        apr_pool_create(&p, scratch);
        write_family(m, out, p, APR_ARRAY_IDX(m->families, i,
                                              const llm_metrics_family_t *),
                     flags);
        apr_pool_destroy(p);
    }
}
