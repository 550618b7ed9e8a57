/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/*
 * The default rules, in the original's order (../shared/spec/masking.md
 * §1.2), each rule's token being {{NAME}}: the order breaks ties between
 * candidates of the same span (docs/masking.md). Where the original
 * masked too much or too little (§6) the pattern or its validator is
 * fixed; docs/masking.md lists each change.
 *
 * Each rule is written whole in one place, in the file of its family
 * (llm_mask_rule_*.c): its pattern, validator and token; where it can
 * match (its anchor: bytes every match holds, how far before the first
 * of them a match may begin, how long it may be); and the shape facts
 * and test that say where it cannot, each derived from the pattern
 * beside it. A new rule is a definition there and a line here.
 *
 * Every pattern runs in UTF + UCP mode, so \w, \b and \s know Polish
 * letters, but digits are ASCII [0-9] on purpose. Every quantifier over
 * a class that the next token can also match is bounded, possessive or
 * guarded by a look-behind that lets a run be entered only at its start:
 * no pattern can backtrack more than a constant per position, which
 * t/unit/test_mask.c checks on adversarial megabytes.
 *
 * The anchors' BACK covers the labels and letters a match may open with
 * ("Tel. ", "PESEL: ", "PL61", "September "), a \h or \s counted as 3
 * bytes (U+3000); a text with U+212A or U+017F, which caseless patterns
 * take for k and s, is searched three times as far back (llm_mask.c).
 * t/unit/test_mask_shape.c checks that a scan of the whole text finds
 * nothing more.
 */

#include "llm_mask_shape.h"

extern const llm_mask_rule_def_t llm_mask_rule_email, llm_mask_rule_url,
    llm_mask_rule_ip, llm_mask_rule_pesel_tagged, llm_mask_rule_pesel,
    llm_mask_rule_nip, llm_mask_rule_regon, llm_mask_rule_date,
    llm_mask_rule_date_numeric, llm_mask_rule_time, llm_mask_rule_money,
    llm_mask_rule_vin, llm_mask_rule_bank_account, llm_mask_rule_car_plate,
    llm_mask_rule_postal_code, llm_mask_rule_nrb, llm_mask_rule_krs,
    llm_mask_rule_passport, llm_mask_rule_id_card, llm_mask_rule_ssn,
    llm_mask_rule_health_code, llm_mask_rule_phone_international,
    llm_mask_rule_phone, llm_mask_rule_mac, llm_mask_rule_credit_card,
    llm_mask_rule_ssl_cert, llm_mask_rule_jwt, llm_mask_rule_invoice_number,
    llm_mask_rule_order_number, llm_mask_rule_transaction_ref,
    llm_mask_rule_sim_card, llm_mask_rule_social_id, llm_mask_rule_eu_vat;

const llm_mask_rule_def_t *const llm_mask_default_rules[] = {
    &llm_mask_rule_email,               /* llm_mask_rule_net.c */
    &llm_mask_rule_url,                 /* llm_mask_rule_net.c */
    &llm_mask_rule_ip,                  /* llm_mask_rule_net.c */
    &llm_mask_rule_pesel_tagged,        /* llm_mask_rule_ids.c */
    &llm_mask_rule_pesel,               /* llm_mask_rule_ids.c */
    &llm_mask_rule_nip,                 /* llm_mask_rule_ids.c */
    &llm_mask_rule_regon,               /* llm_mask_rule_ids.c */
    &llm_mask_rule_date,                /* llm_mask_rule_dates.c */
    &llm_mask_rule_date_numeric,        /* llm_mask_rule_dates.c */
    &llm_mask_rule_time,                /* llm_mask_rule_dates.c */
    &llm_mask_rule_money,               /* llm_mask_rule_money.c */
    &llm_mask_rule_vin,                 /* llm_mask_rule_ids.c */
    &llm_mask_rule_bank_account,        /* llm_mask_rule_accounts.c */
    &llm_mask_rule_car_plate,           /* llm_mask_rule_refs.c */
    &llm_mask_rule_postal_code,         /* llm_mask_rule_ids.c */
    &llm_mask_rule_nrb,                 /* llm_mask_rule_accounts.c */
    &llm_mask_rule_krs,                 /* llm_mask_rule_ids.c */
    &llm_mask_rule_passport,            /* llm_mask_rule_ids.c */
    &llm_mask_rule_id_card,             /* llm_mask_rule_ids.c */
    &llm_mask_rule_ssn,                 /* llm_mask_rule_ids.c */
    &llm_mask_rule_health_code,         /* llm_mask_rule_ids.c */
    &llm_mask_rule_phone_international, /* llm_mask_rule_phones.c */
    &llm_mask_rule_phone,               /* llm_mask_rule_phones.c */
    &llm_mask_rule_mac,                 /* llm_mask_rule_net.c */
    &llm_mask_rule_credit_card,         /* llm_mask_rule_accounts.c */
    &llm_mask_rule_ssl_cert,            /* llm_mask_rule_net.c */
    &llm_mask_rule_jwt,                 /* llm_mask_rule_net.c */
    &llm_mask_rule_invoice_number,      /* llm_mask_rule_refs.c */
    &llm_mask_rule_order_number,        /* llm_mask_rule_refs.c */
    &llm_mask_rule_transaction_ref,     /* llm_mask_rule_refs.c */
    &llm_mask_rule_sim_card,            /* llm_mask_rule_accounts.c */
    &llm_mask_rule_social_id,           /* llm_mask_rule_refs.c */
    &llm_mask_rule_eu_vat,              /* llm_mask_rule_ids.c */
    NULL
};
