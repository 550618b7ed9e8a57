/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The default rules, in the original's order (../shared/spec/masking.md
 * §1.2), each rule's token being {{NAME}}. Where the original masked
 * too much or too little (§6) the pattern or its validator is fixed;
 * docs/masking.md lists each change.
 *
 * Every pattern runs in UTF + UCP mode, so \w, \b and \s know Polish
 * letters, but digits are ASCII [0-9] on purpose. Every quantifier over
 * a class that the next token can also match is bounded, possessive or
 * guarded by a look-behind that lets a run be entered only at its start:
 * no pattern can backtrack more than a constant per position, which
 * t/unit/test_mask.c checks on adversarial megabytes.
 */

#include "llm_mask_shape.h"

/* Separators inside numbers: a space, NBSP or a hyphen. */
#define SEP "[ \\x{a0}\\-]"

#define PL_MONTHS                                                          \
    "stycze[nń]|stycznia|luty|lutego|marzec|marca|kwiecie[nń]|kwietnia|"   \
    "maj|maja|czerwiec|czerwca|lipiec|lipca|sierpie[nń]|sierpnia|"         \
    "wrzesie[nń]|wrze[sś]nia|pa[zź]dziernik|pa[zź]dziernika|listopad|"     \
    "listopada|grudzie[nń]|grudnia|"                                       \
    "sty\\.?|lut\\.?|mar\\.?|kwi\\.?|cze\\.?|lip\\.?|sie\\.?|wrz\\.?|"     \
    "pa[zź]\\.?|lis\\.?|gru\\.?"

#define EN_MONTHS                                                          \
    "January|February|March|April|May|June|July|August|September|"         \
    "October|November|December|"                                           \
    "Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sept?\\.?|"   \
    "Oct\\.?|Nov\\.?|Dec\\.?"

/* An amount: 1 500, 1.500,00, 1500, 12,5 */
#define AMOUNT                                                             \
    "(?:[0-9]{1,3}(?:[ ,.\\x{a0}][0-9]{3})++|[0-9]{1,12}+)"                \
    "(?:[.,][0-9]{1,2})?"
#define MAGNITUDE "(?:tys\\.?|mln|mld|k)"
#define CURRENCY                                                           \
    "(?:[$€£¥₽₹]|USD|EUR|GBP|PLN|CHF|CAD|AUD|JPY|NOK|SEK|DKK|CZK|HUF|RUB|" \
    "CNY|INR|zł)"
#define CURRENCY_WORD                                                      \
    "(?:złotych|złotymi|złote|złoty|zł\\.?|groszy|grosze|gr\\.?|"          \
    "dolarów|dolarami|dolary|dolara|dolar|euro|eurów|eurem|eura|eur\\.?|"  \
    "funtów|funtami|funty|funt|rubli|rublami|rubla|rubel|"                 \
    "[$€£¥₽₹]|USD|EUR|GBP|PLN|CHF|CAD|AUD|JPY|NOK|SEK|DKK|CZK|HUF|RUB|"    \
    "CNY|INR)"

/* A phone label: what makes a landline number a phone number. */
#define PHONE_LABEL                                                        \
    "(?:(?i:\\b(?:tel(?:efon)?|phone|mobile|mob|kom(?:órka)?|gsm|fax|"     \
    "infolinia|call)\\b)\\.?(?:\\h{0,2}(?i:nr|no)\\.?)?[\\h:]{0,3})?"

#define PLATE_LABEL                                                        \
    "(?:(?i:\\b(?:nr\\.?\\h{0,2}rej(?:estracyjny)?\\.?|"                   \
    "numer\\h{1,2}rejestracyjny|tablic[aeyę]?(?:\\h{1,2}rejestracyjn\\w{1,3})?|" \
    "plates?|registration(?:\\h{1,2}(?:number|plate))?))[\\h:.]{1,4})?"

#define URL_TAIL                                                           \
    "(?::[0-9]{1,5})?(?:[/?#](?:[^\\s)<>\"']{0,2048}[^\\s)<>\"'.,;:!?])?)?"

/* Where a rule can match (llm_mask_anchor_t): a match holds one of
 * these bytes, starts at most BACK bytes before the first of them and
 * is at most SPAN bytes long. BACK covers the labels and letters a
 * match may open with ("Tel. ", "PESEL: ", "PL61", "September "), a \h
 * or \s counted as 3 bytes (U+3000); a text with U+212A or U+017F,
 * which caseless patterns take for k and s, is searched three times as
 * far back (llm_mask.c). t/unit/test_mask.c checks that a scan of the
 * whole text finds nothing more. */
#define DIGITS "0123456789"
#define ANCHOR(bytes, back, span, shape)                                   \
    (&(const llm_mask_anchor_t){ bytes, back, span, NULL, shape, 0, 0, 0 })
#define ANCHOR_QUICK(bytes, back, span, quick, digits)                     \
    (&(const llm_mask_anchor_t){ bytes, back, span, NULL, NULL, quick,     \
                                 digits, 0 })
#define ANCHOR_QUICK_D(bytes, back, span, quick, shape, digits)            \
    (&(const llm_mask_anchor_t){ bytes, back, span, NULL, shape, quick,    \
                                 digits, 0 })
#define ANCHOR_NEAR(bytes, back, span, shape, near)                        \
    (&(const llm_mask_anchor_t){ bytes, back, span, NULL, shape, 0, 0, near })
#define ANCHOR_OR(bytes, literal, back, span, shape)                       \
    (&(const llm_mask_anchor_t){ bytes, back, span, literal, shape, 0, 0,  \
                                 0 })
#define SHAPE(name) llm_mask_shape_ ## name

const llm_mask_rule_def_t llm_mask_default_rules[] = {
    { "EMAIL",
      "(?i)(?<![\\p{L}\\p{N}._%+\\-])_?(?-i:[A-Za-z0-9._%+\\-]{1,64})@"
      "[A-Z0-9\\-]{1,63}(?:\\.[A-Z0-9\\-]{1,63}){0,8}\\.[A-Z]{2,24}"
      "(?![\\p{L}\\p{N}\\-])_?",
      NULL, 0, NULL, ANCHOR("@", 70, 800, SHAPE(email)) },
    /* http(s) with a host name, an IPv4 address or localhost; www. with
     * any number of labels (the original took one: www.x.co.uk lost
     * .uk); never the sentence's closing punctuation. */
    { "URL",
      "(?i)(?:https?://(?:(?:[A-Z0-9](?:[A-Z0-9\\-]{0,61}[A-Z0-9])?\\.){1,10}"
      "[A-Z]{2,24}|(?:[0-9]{1,3}\\.){3}[0-9]{1,3}|localhost)"
      "|(?<![\\p{L}\\p{N}_])www\\.(?:[A-Z0-9\\-]{1,63}\\.){1,10}[A-Z]{2,24})"
      "(?![\\p{L}\\p{N}_\\-])" URL_TAIL,
      NULL, 0, NULL, ANCHOR_OR(":", "www.", 5, 4200, SHAPE(url)) },
    /* IPv4 (octets checked), localhost, IPv6 full or compressed; an
     * optional port after IPv4 and localhost. An address that fails is
     * left whole (the original dropped its ":port"). */
    { "IP",
      "(?<![\\w.:])(localhost|(?:[0-9]{1,3}\\.){3}[0-9]{1,3}"
      "|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
      "|(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5})?"
      "|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?)"
      "(?::([0-9]{1,5}))?(?![\\w]|[.:][0-9])",
      "ip", 1, NULL, ANCHOR_OR(":" DIGITS, "localhost", 9, 64, SHAPE(ip)) },
    { "PESEL_TAGGED",
      "(?i)\\bPESEL[:\\s]{1,8}([0-9]{11})\\b",
      "pesel", 0, NULL, ANCHOR_NEAR(DIGITS, 29, 48, SHAPE(pesel_tagged),
                  LLM_MASK_NEAR_PESEL) },
    { "PESEL",
      "(?<!\\w)[_*]{0,3}([0-9]{11})[_*]{0,3}(?!\\w)",
      "pesel", 0, NULL, ANCHOR_QUICK(DIGITS, 3, 20, LLM_MASK_QUICK_PESEL, 11) },
    /* 3-3-2-2, 3-2-2-3 (hyphens or spaces) or 10 digits. */
    { "NIP",
      "(?<![0-9])[_*]{0,3}([0-9]{3}-?[0-9]{3}-?[0-9]{2}-?[0-9]{2}"
      "|[0-9]{3}-[0-9]{2}-[0-9]{2}-[0-9]{3}|[0-9]{3} [0-9]{3} [0-9]{2} [0-9]{2}"
      "|[0-9]{3} [0-9]{2} [0-9]{2} [0-9]{3})[_*]{0,3}(?![0-9])",
      "nip", 0, NULL, ANCHOR_QUICK(DIGITS, 3, 24, LLM_MASK_QUICK_NIP, 10) },
    { "REGON",
      "\\b([0-9]{2}\\h?[0-9]{3}\\h?[0-9]{4}(?:\\h?[0-9]{5})?)\\b",
      "regon", 0, NULL, ANCHOR_QUICK(DIGITS, 0, 20, LLM_MASK_QUICK_REGON, 9) },
    { "DATE",
      "(?i)(?<!\\w)(?:[0-9]{1,2}\\.?\\h{1,3}(?:" PL_MONTHS ")\\h{1,3}[0-9]{4}"
      "|[0-9]{4}\\h{1,3}(?:" PL_MONTHS ")\\h{1,3}[0-9]{1,2}"
      "|(?:" EN_MONTHS ")\\h{1,3}[0-9]{1,2}(?:st|nd|rd|th)?(?:,\\h{0,3}|\\h{1,3})[0-9]{4}"
      "|[0-9]{1,2}(?:st|nd|rd|th)?\\h{1,3}(?:of\\h{1,3})?(?:" EN_MONTHS ")"
      ",?\\h{1,3}[0-9]{4})(?!\\w)",
      "date_words", 0, NULL, ANCHOR_NEAR(DIGITS, 18, 80, SHAPE(date_words),
                  LLM_MASK_NEAR_YEAR) },
    /* YYYY-MM-DD or DD.MM.YYYY, one- or two-digit day and month, a day
     * that exists (the original took 31.02 and missed 5.3.2024). */
    { "DATE_NUMERIC",
      "(?<![0-9.])(?:[0-9]{4}\\h{0,2}[\\-./]\\h{0,2}[0-9]{1,2}\\h{0,2}[\\-./]"
      "\\h{0,2}[0-9]{1,2}|[0-9]{1,2}\\h{0,2}[\\-./]\\h{0,2}[0-9]{1,2}\\h{0,2}"
      "[\\-./]\\h{0,2}[0-9]{4})(?![0-9]|[.,][0-9])",
      "date", 0, "DATE", ANCHOR_QUICK(DIGITS, 0, 24, LLM_MASK_QUICK_DATE_NUMERIC, 6) },
    { "TIME",
      "(?<![0-9.:])(?:[01][0-9]|2[0-3])[:.][0-5][0-9](?::[0-5][0-9])?"
      "(?![0-9]|[.:][0-9])",
      NULL, 0, NULL, ANCHOR_QUICK(DIGITS, 0, 10, LLM_MASK_QUICK_TIME, 4) },
    /* Amounts of 1000 and more without a separator, "tys" without its
     * dot, "k", grosze and a leading "zł" count too. */
    { "MONEY",
      "(?i)(?<!\\w)[_*]{0,3}(?:" CURRENCY "\\h{0,2}" AMOUNT "(?:\\h{0,2}"
      MAGNITUDE ")?(?:\\h{0,2}" CURRENCY_WORD ")?|" AMOUNT "(?:\\h{0,2}"
      MAGNITUDE ")?\\h{0,2}" CURRENCY_WORD ")[_*]{0,3}(?![\\w])",
      NULL, 0, NULL, ANCHOR(DIGITS, 12, 512, SHAPE(money)) },
    { "VIN",
      "(?i)\\b([A-HJ-NPR-Z0-9]{17})\\b",
      "vin", 0, NULL, ANCHOR_NEAR(DIGITS, 16, 17, SHAPE(vin),
                  LLM_MASK_NEAR_VIN) },
    /* Read generously, then cut to the country's length by the check. */
    { "BANK_ACCOUNT",
      "(?<![\\p{L}\\p{N}])([A-Za-z]{2}[ \\-]?(?:[0-9]{2}|XX|xx)"
      "(?:[ \\-]?[0-9A-Z]){8,32})",
      "iban", 0, NULL, ANCHOR(DIGITS, 68, 80, SHAPE(iban)) },
    { "CAR_PLATE",
      PLATE_LABEL "(?<![\\p{L}\\p{N}\\-])([A-Z]{2,3}\\h?[0-9][0-9A-Z]{2,4})"
      "(?![\\p{L}\\p{N}\\-])",
      "car_plate", 0, NULL, ANCHOR_NEAR(DIGITS, 52, 72, SHAPE(plate),
                  LLM_MASK_NEAR_PLATE) },
    /* DD-DDD only (a bare 5-digit number is no postal code), not inside
     * a longer number, whatever follows on the line. */
    { "POSTAL_CODE",
      "(?<![0-9]|[0-9]-)[_*]{0,3}([0-9]{2}-[0-9]{3})[_*]{0,3}(?!-?[0-9])",
      NULL, 0, NULL, ANCHOR_QUICK(DIGITS, 3, 12, LLM_MASK_QUICK_POSTAL, 5) },
    /* Not right after a two-letter country code (that is an IBAN), but
     * after a label such as "NRB" it is. */
    { "NRB",
      "(?<![A-Z]{2})(?<!\\b[A-Z]{2}[ \\-])(?<![0-9])([0-9]{2}(?:"
      SEP "?[0-9]{4}){6})(?![0-9])",
      "nrb", 0, NULL, ANCHOR_QUICK(DIGITS, 0, 40, LLM_MASK_QUICK_NRB, 26) },
    /* A labelled KRS, or the zero-padded shape; not any 10 digits. */
    { "KRS",
      "(?i)(?:\\bKRS[:\\h]{1,4}(?:nr\\.?\\h{0,2})?([0-9]{10})"
      "|(?<!\\w)(000[0-9]{7}))(?!\\w)",
      "krs", 0, NULL, ANCHOR_NEAR(DIGITS, 24, 42, SHAPE(krs),
                  LLM_MASK_NEAR_KRS) },
    { "PASSPORT",
      "(?i)\\b[A-Z]{2}[0-9]{7}\\b",
      NULL, 0, NULL, ANCHOR_QUICK(DIGITS, 2, 9, LLM_MASK_QUICK_PASSPORT, 7) },
    { "ID_CARD",
      "(?i)\\b[A-Z]{3}[0-9]{6}\\b",
      "id_card", 0, NULL, ANCHOR_QUICK(DIGITS, 3, 9, LLM_MASK_QUICK_ID_CARD, 6) },
    { "SSN",
      "\\b[0-9]{3}-[0-9]{2}-[0-9]{4}\\b",
      "ssn", 0, NULL, ANCHOR_QUICK(DIGITS, 0, 11, LLM_MASK_QUICK_SSN, 9) },
    { "HEALTH_CODE",
      "\\b[0-9]{8}/[0-9]{3}\\b",
      NULL, 0, NULL, ANCHOR_QUICK(DIGITS, 0, 12, LLM_MASK_QUICK_HEALTH, 11) },
    { "PHONE_INTERNATIONAL",
      "(?<![\\w+])\\+[1-9][0-9]{0,2}+(?:[ \\-]?+[0-9]{1,4}+){2,6}+(?![0-9])",
      "phone_international", 0, NULL,
      ANCHOR_QUICK(DIGITS, 1, 32, LLM_MASK_QUICK_PHONE_INTL, 0) },
    { "PHONE",
      PHONE_LABEL "(?<![\\w+.,\\-])([0-9]{9}|[0-9]{2,3}(?:[ \\-][0-9]{2,4}){2,4})"
      "(?![\\w\\-]|[.,][0-9])",
      "phone_pl", 0, NULL, ANCHOR_NEAR(DIGITS, 28, 56, SHAPE(phone),
                  LLM_MASK_NEAR_PHONE) },
    { "MAC_ADDRESS",
      "(?<![\\w:\\-])(?:[0-9A-Fa-f]{2}[:\\-]){5}[0-9A-Fa-f]{2}(?![\\w:\\-])"
      "|\\b[0-9A-Fa-f]{12}\\b",
      "mac", 0, NULL, ANCHOR_NEAR(DIGITS, 16, 17, SHAPE(mac),
                  LLM_MASK_NEAR_MAC) },
    { "CREDIT_CARD",
      "\\b(?:[0-9]{4}[ \\-]?[0-9]{6}[ \\-]?[0-9]{5}|(?:[0-9]{4}[ \\-]?){3}"
      "[0-9]{1,7})\\b",
      "luhn", 0, NULL, ANCHOR_QUICK(DIGITS, 0, 25, LLM_MASK_QUICK_CARD, 13) },
    { "SSL_CERT",
      "(?<![A-Z]{2}[0-9])\\b[0-9A-Fa-f]{16,40}\\b",
      "ssl_serial", 0, NULL, ANCHOR_NEAR(DIGITS, 39, 40, SHAPE(cert),
                  LLM_MASK_NEAR_CERT) },
    { "JWT",
      "(?<![A-Za-z0-9_\\-.])eyJ[A-Za-z0-9_\\-]{7,4093}+\\.[A-Za-z0-9_\\-]{10,4096}+"
      "\\.[A-Za-z0-9_\\-]{10,4096}+",
      NULL, 0, NULL, ANCHOR("J", 2, 12300, SHAPE(jwt)) },
    { "INVOICE_NUMBER",
      "(?i)\\b(?:FV|INV|INVOICE)[/\\-][0-9]{4}[/\\-][0-9]{3,6}\\b",
      NULL, 0, NULL, ANCHOR_QUICK_D(DIGITS, 8, 25, LLM_MASK_QUICK_INVOICE,
                     SHAPE(invoice), 7) },
    { "ORDER_NUMBER",
      "(?i)\\b(?:ORDER|ORD)[\\-_]?[0-9]{3,10}(?:[\\-_/][0-9]{1,10}){0,3}\\b",
      NULL, 0, NULL, ANCHOR_QUICK_D(DIGITS, 6, 64, LLM_MASK_QUICK_ORDER,
                     SHAPE(order), 3) },
    { "TRANSACTION_REF",
      "(?i)(?<![A-Z]{2}-)(?<![A-Z]{2}[0-9])\\b[A-Z]{2,5}[\\-_](?![0-9]{2}[\\-_])"
      "[0-9]{4,8}[\\-_][0-9]{3,6}\\b",
      "transaction_ref", 0, NULL, ANCHOR(DIGITS, 6, 25, SHAPE(transaction)) },
    { "SIM_CARD",
      "\\b(?:[0-9]{4}\\h?){4}[0-9]{1,4}\\b",
      "iccid", 0, NULL, ANCHOR_QUICK(DIGITS, 0, 30, LLM_MASK_QUICK_SIM, 17) },
    { "SOCIAL_ID",
      "(?i)\\bfbid[0-9]{8,20}\\b",
      NULL, 0, NULL, ANCHOR_QUICK_D(DIGITS, 4, 30, LLM_MASK_QUICK_SOCIAL,
                     SHAPE(social), 8) },
    { "EU_VAT",
      "(?i)\\b[A-Z]{2}[0-9A-Z]{8,12}\\b",
      "eu_vat", 0, NULL, ANCHOR(DIGITS, 14, 14, SHAPE(eu_vat)) },
    { NULL, NULL, NULL, 0, NULL, NULL }
};
