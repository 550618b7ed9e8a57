/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The default rules' shape tests (llm_mask_shape.c) and the features of
 * a cluster of anchor bytes they read (llm_mask.c finds the clusters). */

#ifndef LLM_MASK_SHAPE_H
#define LLM_MASK_SHAPE_H

#include "llm_mask_private.h"

/** The features of the cluster [start, end) of a text of @a len bytes
 *  (words are read beyond the cluster, within the text). */
void llm_mask_cluster_features(const unsigned char *u, apr_size_t len,
                               apr_size_t start, apr_size_t end,
                               llm_mask_features_t *f);

/** The clusters' near features (llm_mask_features_t.near), once the
 *  features of all are read. */
void llm_mask_near_features(llm_mask_run_t *runs, int n);

/** Only the separators' features of a cluster (for anchors other than
 *  the digits, whose shape tests read no more). */
apr_uint32_t llm_mask_cluster_seps(const unsigned char *u, apr_size_t start,
                                   apr_size_t end);

/** Anchors less than this many bytes apart are one cluster ("512 345
 *  678", "15.03.2024 o 14:30"): one search over a stretch that starts
 *  and ends with an anchor byte finds what a search per run would, and
 *  costs less. The shape tests rely on it being 13 (llm_mask_shape.c). */
#define LLM_MASK_RUN_GAP 13

/**
 * The clusters of the anchor's bytes and literal (caseless) in @a text,
 * in order, each with its features (llm_mask_anchor.c). Allocated from
 * @a p.
 */
apr_array_header_t *llm_mask_find_runs(apr_pool_t *p, const char *text,
                                       apr_size_t len,
                                       const llm_mask_anchor_t *a);

/** apr_array_make() without zeroing the room it makes (megabytes for a
 *  long text's clusters and candidates, each written before it is
 *  read); apr_array_push() grows it as any. */
apr_array_header_t *llm_mask_array_make(apr_pool_t *p, int n, int size);

/** Does [s, s + n) hold one of the anchor's bytes or its literal? */
int llm_mask_holds_anchor(const llm_mask_anchor_t *a, const char *s,
                          apr_size_t n);

int llm_mask_shape_pesel_tagged(const llm_mask_where_t *w);
int llm_mask_shape_date_words(const llm_mask_where_t *w);
int llm_mask_shape_money(const llm_mask_where_t *w);
int llm_mask_shape_vin(const llm_mask_where_t *w);
int llm_mask_shape_iban(const llm_mask_where_t *w);
int llm_mask_shape_plate(const llm_mask_where_t *w);
int llm_mask_shape_krs(const llm_mask_where_t *w);
int llm_mask_shape_phone(const llm_mask_where_t *w);
int llm_mask_shape_mac(const llm_mask_where_t *w);
int llm_mask_shape_cert(const llm_mask_where_t *w);
int llm_mask_shape_invoice(const llm_mask_where_t *w);
int llm_mask_shape_order(const llm_mask_where_t *w);
int llm_mask_shape_transaction(const llm_mask_where_t *w);
int llm_mask_shape_social(const llm_mask_where_t *w);
int llm_mask_shape_eu_vat(const llm_mask_where_t *w);
int llm_mask_shape_ip(const llm_mask_where_t *w);
int llm_mask_shape_url(const llm_mask_where_t *w);
int llm_mask_shape_jwt(const llm_mask_where_t *w);
int llm_mask_shape_email(const llm_mask_where_t *w);

#endif /* LLM_MASK_SHAPE_H */
