/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * A text that arrives in pieces: an answer's stream, event by event.
 *
 * Un-masking turns the session's pseudonyms back into the originals; a
 * "{{" whose closing "}}" has not come yet is held back (at most
 * LLM_MASK_TOKEN_MAX bytes).
 *
 * Masking holds back the last LLM_MASK_STREAM_HOLD bytes, so a value
 * split between two pieces is seen whole: once more than twice that is
 * pending, the text is scanned (with 64 bytes already let go as context
 * for the look-behinds) and let go up to HOLD bytes before its end —
 * never inside a value found, never inside a UTF-8 character. Each byte
 * is so scanned about twice, whatever the size of the pieces.
 *
 * The pending bytes live in buffers owned by the stream (malloc, freed
 * with its pool): a long answer does not grow the request's pool.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "llm_buf.h"
#include "llm_mask_private.h"

#define CONTEXT 64
/* A value longer than this is not waited for: the text is let go. */
#define PENDING_MAX (64 * 1024)

typedef struct {
    char *buf;
    apr_size_t len;
    apr_size_t cap;
} pending_t;

struct llm_mask_stream {
    const llm_mask_ruleset_t *rs;
    llm_mask_session_t *session;
    int unmask;
    pending_t tokens;       /* un-masking: a token's start, not its end */
    pending_t text;         /* masking: context, then what is pending */
    apr_size_t context;     /* bytes of text.buf that were let go */
    apr_size_t *start_at;   /* per rule: where its scan goes on, in text */
};

static apr_status_t free_pending(void *data)
{
    llm_mask_stream_t *st = data;

    free(st->tokens.buf);
    free(st->text.buf);
    st->tokens.buf = st->text.buf = NULL;
    return APR_SUCCESS;
}

static void keep(pending_t *pd, const char *s, apr_size_t len)
{
    pd->len = len;
    if (!len) {
        return;
    }
    if (len > pd->cap) {
        char *grown = realloc(pd->buf, len);

        if (!grown) {
            abort();        /* as APR's pools do on out of memory */
        }
        pd->buf = grown;
        pd->cap = len;
    }
    memmove(pd->buf, s, len);
}

llm_mask_stream_t *llm_mask_stream_create(apr_pool_t *p,
                                          const llm_mask_ruleset_t *rs,
                                          llm_mask_session_t *s, int unmask)
{
    llm_mask_stream_t *st = apr_pcalloc(p, sizeof(*st));

    st->rs = rs;
    st->session = s;
    st->unmask = unmask && s;
    if (rs) {
        /* The rules' scans of the text, then of its normalised view. */
        st->start_at = apr_pcalloc(p, sizeof(*st->start_at)
                                      * (2 * llm_mask_ruleset_size(rs) + 1));
    }
    apr_pool_cleanup_register(p, st, free_pending, apr_pool_cleanup_null);
    return st;
}

/* pending + in, in the call's pool (or @a in itself with none pending) */
static const char *joined(apr_pool_t *p, const pending_t *pd, apr_size_t from,
                          const char *in, apr_size_t len, apr_size_t *total)
{
    char *all;

    *total = pd->len - from + len;
    if (pd->len == from) {
        return in;
    }
    all = apr_palloc(p, *total + 1);
    memcpy(all, pd->buf + from, pd->len - from);
    if (len) {
        memcpy(all + pd->len - from, in, len);
    }
    all[*total] = '\0';
    return all;
}

/* ------------------------------------------------------------------ */
/* Un-masking                                                          */
/* ------------------------------------------------------------------ */

/* Where the "}}" closing a token opened at @a at is, or 0. */
static apr_size_t token_end(const char *s, apr_size_t len, apr_size_t at)
{
    apr_size_t i, stop = at + LLM_MASK_TOKEN_MAX < len
                         ? at + LLM_MASK_TOKEN_MAX : len;

    for (i = at + 2; i + 1 < stop; i++) {
        if (s[i] == '}' && s[i + 1] == '}') {
            return i + 2;
        }
        if (s[i] == '{') {
            return 0;
        }
    }
    return 0;
}

/* The session's pseudonyms in @a s turned back; returns how many bytes
 * were used (the rest may be the start of a token). */
static apr_size_t unmask_into(const llm_mask_stream_t *st, llm_buf_t *o,
                              const char *s, apr_size_t len, int last)
{
    apr_size_t at = 0, olen;

    while (at < len) {
        const char *brace = memchr(s + at, '{', len - at);
        apr_size_t i, end;
        const char *original;

        if (!brace) {
            llm_buf_add(o, s + at, len - at);
            return len;
        }
        i = (apr_size_t)(brace - s);
        llm_buf_add(o, s + at, i - at);
        if (i + 1 == len && !last) {
            return i;                   /* a lone "{" at the end: wait */
        }
        if (i + 1 < len && s[i + 1] == '{') {
            if ((end = token_end(s, len, i))) {
                original = llm_mask_session_original(st->session, s + i,
                                                     end - i, &olen);
                if (original) {
                    llm_buf_add(o, original, olen);
                }
                else {
                    llm_buf_add(o, s + i, end - i);
                }
                at = end;
                continue;
            }
            if (!last && len - i < LLM_MASK_TOKEN_MAX) {
                return i;               /* the token may end in the next */
            }
        }
        llm_buf_add(o, s + i, 1);
        at = i + 1;
    }
    return len;
}

static const char *unmask_feed(llm_mask_stream_t *st, apr_pool_t *p,
                               const char *in, apr_size_t len,
                               apr_size_t *out_len, int last)
{
    llm_buf_t o;
    apr_size_t total, used;
    const char *all = joined(p, &st->tokens, 0, in, len, &total);

    if (!total) {
        *out_len = 0;
        return "";
    }
    llm_buf_init(&o, p);
    used = unmask_into(st, &o, all, total, last);
    keep(&st->tokens, all + used, total - used);
    *out_len = o.len;
    return o.len ? o.data : "";
}

/* ------------------------------------------------------------------ */
/* Masking                                                             */
/* ------------------------------------------------------------------ */

/* Where to let go of the text: HOLD before its end, moved back to the
 * start of a value that crosses it and to a UTF-8 character's start. */
static apr_size_t cut_at(const char *s, apr_size_t from, apr_size_t total,
                         const llm_mask_span_t *spans, int n, int last)
{
    apr_size_t cut = last ? total : total - LLM_MASK_STREAM_HOLD;
    int i;

    if (last) {
        return cut;
    }
    while (cut > from && ((unsigned char)s[cut] & 0xc0) == 0x80) {
        cut--;
    }
    for (i = 0; i < n; i++) {
        if (spans[i].start < cut && spans[i].end > cut) {
            cut = spans[i].start;       /* a character's start too */
            break;
        }
    }
    if (cut == from && total - from > PENDING_MAX) {
        cut = total - LLM_MASK_STREAM_HOLD;
        while (cut > from && ((unsigned char)s[cut] & 0xc0) == 0x80) {
            cut--;
        }
    }
    return cut;
}

/* The HIT spans that end at or before @a cut, in place. */
static int hits_before(llm_mask_span_t *spans, int n, apr_size_t cut)
{
    int i, k = 0;

    for (i = 0; i < n; i++) {
        if (spans[i].end <= cut && spans[i].verdict == LLM_MASK_HIT) {
            spans[k++] = spans[i];
        }
    }
    return k;
}

/* Each rule's scan goes on, in the next text, where it went on last at
 * or before the cut (the next text starts @a shift bytes later). */
static void go_on_after(llm_mask_stream_t *st, const apr_array_header_t *steps,
                        apr_size_t cut, apr_size_t shift)
{
    const llm_mask_step_t *sp = (const llm_mask_step_t *)steps->elts;
    int i, n = 2 * llm_mask_ruleset_size(st->rs);

    for (i = 0; i < steps->nelts; i++) {
        if (sp[i].at <= cut) {
            st->start_at[sp[i].rule] = sp[i].at;
        }
    }
    for (i = 0; i < n; i++) {
        st->start_at[i] = st->start_at[i] >= shift ? st->start_at[i] - shift
                                                   : 0;
    }
}

static const char *mask_feed(llm_mask_stream_t *st, apr_pool_t *p,
                             const char *in, apr_size_t len,
                             apr_size_t *out_len, int last)
{
    llm_mask_span_t *spans;
    apr_size_t total, cut, from = st->context, ctx;
    apr_array_header_t *steps;
    const char *all;
    char *out;
    int n, replaced;

    if (!last && st->text.len - from + len <= 2 * LLM_MASK_STREAM_HOLD) {
        all = joined(p, &st->text, 0, in, len, &total);
        keep(&st->text, all, total);
        *out_len = 0;
        return "";
    }
    all = joined(p, &st->text, 0, in, len, &total);
    steps = apr_array_make(p, 16, sizeof(llm_mask_step_t));
    n = llm_mask_spans_resumed(st->rs, p, all, total, from, 1, &spans,
                               st->start_at, steps);
    cut = cut_at(all, from, total, spans, n, last);
    n = hits_before(spans, n, cut);
    out = llm_mask_render(st->rs, st->session, p, all, from, cut, spans, n,
                          out_len, &replaced);
    ctx = cut > CONTEXT ? cut - CONTEXT : 0;
    while (ctx < cut && ((unsigned char)all[ctx] & 0xc0) == 0x80) {
        ctx++;
    }
    keep(&st->text, all + ctx, total - ctx);
    st->context = cut - ctx;
    go_on_after(st, steps, cut, ctx);
    return out;
}

/* ------------------------------------------------------------------ */
/* The two, chained                                                    */
/* ------------------------------------------------------------------ */

static const char *stream_step(llm_mask_stream_t *st, apr_pool_t *p,
                               const char *in, apr_size_t len,
                               apr_size_t *out_len, int last)
{
    if (st->unmask) {
        in = unmask_feed(st, p, in, len, &len, last);
    }
    if (st->rs) {
        return mask_feed(st, p, in, len, out_len, last);
    }
    *out_len = len;
    return in;
}

const char *llm_mask_stream_feed(llm_mask_stream_t *st, apr_pool_t *p,
                                 const char *in, apr_size_t len,
                                 apr_size_t *out_len)
{
    return stream_step(st, p, in, len, out_len, 0);
}

const char *llm_mask_stream_end(llm_mask_stream_t *st, apr_pool_t *p,
                                apr_size_t *out_len)
{
    return stream_step(st, p, "", 0, out_len, 1);
}
