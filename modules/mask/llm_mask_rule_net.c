/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * Rules of the network and of machines: EMAIL, URL, IP, MAC_ADDRESS,
 * SSL_CERT, JWT. Each rule is written once: its pattern, where it can
 * match (anchor), and the shape facts and test that say where it
 * cannot, each derived from the pattern beside it (llm_mask_private.h
 * says what each field promises; llm_mask_rules.c the order).
 */

#include <string.h>

#include "llm_mask_shape.h"

/* ------------------------------------------------------------------ */
/* EMAIL                                                               */
/* ------------------------------------------------------------------ */

/* The local part, up to 64 of [A-Za-z0-9._%+-], ends at the cluster's
 * first '@': the match begins where that run does. */
static int email_shape(const llm_mask_where_t *w)
{
    const unsigned char *u = w->text;
    apr_size_t p = w->run_start;

    while (p > 0 && w->run_start - p < 65
           && (llm_mask_is_digit(u[p - 1]) || llm_mask_is_alpha(u[p - 1])
               || u[p - 1] == '.' || u[p - 1] == '_' || u[p - 1] == '%'
               || u[p - 1] == '+' || u[p - 1] == '-')) {
        p--;
    }
    llm_mask_begin_at(w, p);
    return 1;
}

const llm_mask_rule_def_t llm_mask_rule_email = {
    .name = "EMAIL",
    .pattern =
        "(?i)(?<![\\p{L}\\p{N}._%+\\-])_?(?-i:[A-Za-z0-9._%+\\-]{1,64})@"
        "[A-Z0-9\\-]{1,63}(?:\\.[A-Z0-9\\-]{1,63}){0,8}\\.[A-Z]{2,24}"
        "(?![\\p{L}\\p{N}\\-])_?",
    .anchor = { .bytes = "@", .back = 70, .span = 800 },
    .shape = email_shape,
    .normalised = 1,
};

/* ------------------------------------------------------------------ */
/* URL                                                                 */
/* ------------------------------------------------------------------ */

#define URL_TAIL                                                           \
    "(?::[0-9]{1,5})?(?:[/?#](?:[^\\s)<>\"']{0,2048}[^\\s)<>\"'.,;:!?])?)?"

/* "http://", "https://" (the "://" 4 or 5 bytes in) or "www.". */
static int url_shape(const llm_mask_where_t *w)
{
    return llm_mask_begins_in(w, "://", w->start, w->run_end + 5)
           || LLM_MASK_BEGINS_IN(w, "www.");
}

/* http(s) with a host name, an IPv4 address or localhost; www. with
 * any number of labels (the original took one: www.x.co.uk lost .uk);
 * never the sentence's closing punctuation. */
const llm_mask_rule_def_t llm_mask_rule_url = {
    .name = "URL",
    .pattern =
        "(?i)(?:https?://(?:(?:[A-Z0-9](?:[A-Z0-9\\-]{0,61}[A-Z0-9])?\\.)"
        "{1,10}[A-Z]{2,24}|(?:[0-9]{1,3}\\.){3}[0-9]{1,3}|localhost)"
        "|(?<![\\p{L}\\p{N}_])www\\.(?:[A-Z0-9\\-]{1,63}\\.){1,10}"
        "[A-Z]{2,24})(?![\\p{L}\\p{N}_\\-])" URL_TAIL,
    /* A host of 10 labels (672), a port (6), a tail of 2049 characters
     * of up to 4 bytes each (8196). */
    .anchor = { .bytes = ":", .literal = "www.", .back = 5, .span = 8900 },
    .shape = url_shape,
};

/* ------------------------------------------------------------------ */
/* IP                                                                  */
/* ------------------------------------------------------------------ */

/* An IPv6 address holds ':' before a hex digit or ':' (its first ':'
 * at most 4 bytes in), an IPv4 one four groups of 1-3 digits joined by
 * '.'; or it is "localhost". Read from the text: IP's anchor (':',
 * digits, "localhost") has no features but its separators, and its
 * colons and digits are all before reach. */
static int ip_shape(const llm_mask_where_t *w)
{
    const unsigned char *u = w->text;
    apr_size_t p, to = w->reach + 16 < w->len ? w->reach + 16 : w->len;
    int dots = 0, colons = 0;

    /* Its ':', its dots between digits, or the letters of "localhost"
     * (all IP's anchors) are in the cluster. */
    if (!(w->own->seps & (LLM_MASK_SEP_COLON | LLM_MASK_SEP_DOT
                          | LLM_MASK_SEP_ALPHA))) {
        return 0;
    }
    for (p = w->start; p < to; p++) {
        /* IPv6: "::", or seven ':' before hex digits. */
        if (u[p] == ':' && p + 1 < w->len
            && (u[p + 1] == ':'
                || (llm_mask_is_hex(u[p + 1]) && ++colons == 7))) {
            return 1;
        }
        if (u[p] == '.' && p > 0 && llm_mask_is_digit(u[p - 1])
            && p + 1 < w->len && llm_mask_is_digit(u[p + 1])) {
            if (++dots == 3) {
                return 1;
            }
        }
        else if (!llm_mask_is_digit(u[p])) {
            dots = 0;
        }
    }
    return (w->own->seps & LLM_MASK_SEP_ALPHA)
           && LLM_MASK_BEGINS_IN(w, "localhost");
}

/* A version's label followed by @a s: "1.2.3.4" after it is a version,
 * not an address (the spec's §6.2). "v1.2.3.4" is no IP already: a
 * word character comes before it. Each alternative of a look-behind
 * has a fixed length, so each label is written out with @a s. */
#define VERSION_LABELS(s)                                                  \
    "version" s "|release" s "|build" s "|ver\\." s "|v\\." s "|wersja" s    \
    "|wersji" s "|wersj\\x{119}" s "|wersj\\x{105}" s "|wer\\." s "|wydanie" s \
    "|wydania" s

/* IPv4 (octets checked), localhost, IPv6 full or compressed; an
 * optional port after IPv4 and localhost. An address that fails is
 * left whole (the original dropped its ":port"). A dotted quad after
 * a version's label is a version. */
const llm_mask_rule_def_t llm_mask_rule_ip = {
    .name = "IP",
    .pattern =
        "(?<![\\w.:])(localhost"
        "|(?i:(?<!" VERSION_LABELS("[:\\h]") ")(?<!"
        VERSION_LABELS("[:\\h]{2}") "))"
        "(?:[0-9]{1,3}\\.){3}[0-9]{1,3}"
        "|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
        "|(?:[0-9A-Fa-f]{1,4}:){1,6}:"
        "(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?"
        "|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)"
        "(?::([0-9]{1,5}))?(?![\\w]|[.:][0-9])",
    .check = "ip",
    .ip_port = 1,
    /* A compressed IPv6 address of 60 and a port of 6. */
    .anchor = { .bytes = ":" LLM_MASK_DIGITS, .literal = "localhost",
                .back = 9, .span = 68 },
    .shape = ip_shape,
};

/* ------------------------------------------------------------------ */
/* MAC_ADDRESS                                                         */
/* ------------------------------------------------------------------ */

/* A hex pair at @a p, then ':' or '-'. */
static int pair_then_joint(const llm_mask_groups_t *gs, apr_size_t p)
{
    const unsigned char *u = gs->u;

    return p + 3 <= gs->len && llm_mask_is_hex(u[p])
           && llm_mask_is_hex(u[p + 1])
           && (u[p + 2] == ':' || u[p + 2] == '-');
}

/* Six hex pairs joined by ':' or '-': a pair holding a digit is a
 * 2-byte word, and of six pairs in a row every one has two more before
 * it or two more after it. */
static int mac_group(const llm_mask_groups_t *gs, int i)
{
    const unsigned char *u = gs->u;
    apr_size_t ws = gs->g[i].ws, we = gs->g[i].we;

    if (we - ws != 2) {
        return 0;
    }
    return (ws >= 6 && pair_then_joint(gs, ws - 6)
            && pair_then_joint(gs, ws - 3))
           || (we + 6 <= gs->len && (u[we] == ':' || u[we] == '-')
               && pair_then_joint(gs, we + 1) && llm_mask_is_hex(u[we + 4])
               && llm_mask_is_hex(u[we + 5]));
}

/* Six hex pairs joined by ':' or '-' from @a p. */
static int mac_at(const llm_mask_where_t *w, apr_size_t p)
{
    int k;

    for (k = 0; k < 6; k++, p += 3) {
        if (p + 2 > w->len || !llm_mask_is_hex(w->text[p])
            || !llm_mask_is_hex(w->text[p + 1])
            || (k < 5 && (p + 3 > w->len || (w->text[p + 2] != ':'
                                             && w->text[p + 2] != '-')))) {
            return 0;
        }
    }
    return 1;
}

/* Six hex pairs joined by ':' or '-' (the group test); its first digit
 * may be 16 bytes in. */
static int mac_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;
    apr_size_t p;

    if (!(llm_mask_where_wide(w, &buf)->marks & w->mark)) {
        return 0;
    }
    for (p = w->start; p < w->run_end; p++) {
        unsigned char b = p ? w->text[p - 1] : ' ';

        /* (?<![\w:\-]) */
        if (!llm_mask_is_word(b) && b != ':' && b != '-' && mac_at(w, p)) {
            return 1;
        }
    }
    return 0;
}

/* Six hex pairs and their separators: twelve hex digits alone are as
 * often a hash or an id ("deadbeef1234", the spec's §6.2). */
const llm_mask_rule_def_t llm_mask_rule_mac = {
    .name = "MAC_ADDRESS",
    .pattern =
        "(?<![\\w:\\-])(?:[0-9A-Fa-f]{2}[:\\-]){5}[0-9A-Fa-f]{2}"
        "(?![\\w:\\-])",
    .check = "mac",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 16, .span = 17 },
    .group = mac_group,
    .group_lens = LLM_MASK_BITS(1, 2),
    .near = { .group = 1 },
    .shape = mac_shape,
};

/* ------------------------------------------------------------------ */
/* SSL_CERT                                                            */
/* ------------------------------------------------------------------ */

/* \b[0-9A-Fa-f]{16,40}\b: an ASCII word of 16 to 40, whose first digit
 * may come after 39 letters. */
static int cert_shape(const llm_mask_where_t *w)
{
    llm_mask_features_t buf;

    return (llm_mask_where_wide(w, &buf)->words
            & LLM_MASK_BITS(16, 31)) != 0;
}

const llm_mask_rule_def_t llm_mask_rule_ssl_cert = {
    .name = "SSL_CERT",
    .pattern = "(?<![A-Z]{2}[0-9])\\b[0-9A-Fa-f]{16,40}\\b",
    .check = "ssl_serial",
    .anchor = { .bytes = LLM_MASK_DIGITS, .back = 39, .span = 40 },
    .near = { .words = LLM_MASK_BITS(16, 31) },
    .shape = cert_shape,
};

/* ------------------------------------------------------------------ */
/* JWT                                                                 */
/* ------------------------------------------------------------------ */

/* It begins with eyJ. */
static int jwt_shape(const llm_mask_where_t *w)
{
    return LLM_MASK_BEGINS_IN(w, "eyj");
}

const llm_mask_rule_def_t llm_mask_rule_jwt = {
    .name = "JWT",
    .pattern =
        "(?<![A-Za-z0-9_\\-.])eyJ[A-Za-z0-9_\\-]{7,4093}+\\."
        "[A-Za-z0-9_\\-]{10,4096}+\\.[A-Za-z0-9_\\-]{10,4096}+",
    .anchor = { .bytes = "J", .back = 2, .span = 12300 },
    .shape = jwt_shape,
};
