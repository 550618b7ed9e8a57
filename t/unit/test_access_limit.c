/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* mod_llm_access's exact limits (GCRA over shared slots): a burst of N
 * then one per W/N; retry-after and remaining; tokens charged after the
 * fact; many threads on one bucket let exactly N through. */

#include <string.h>
#include <pthread.h>

#include "apr_general.h"

#include "tap.h"
#include "llm_access.h"

static llm_limit_table_t table;
static llm_access_rate_t hourly = { 100, APR_TIME_C(3600000000) };
static int let_through;

static void *hammer(void *arg)
{
    llm_limit_slot_t *s = llm_limit_slot(&table, "req|race");
    apr_time_t now = *(apr_time_t *)arg;
    int i, mine = 0;

    for (i = 0; i < 1000; i++) {
        llm_limit_result_t res;

        llm_limit_take(&s->tat, &hourly, 1, now, &res);
        mine += res.allowed;
    }
    __atomic_add_fetch(&let_through, mine, __ATOMIC_SEQ_CST);
    return NULL;
}

int main(void)
{
    /* 64 slots and their 64 period ends (4 bytes each) */
    static llm_limit_slot_t mem[64 + 64 / 4];
    llm_access_rate_t per_min = { 10, apr_time_from_sec(60) };
    llm_access_rate_t tokens = { 1000, apr_time_from_sec(60) };
    apr_time_t now = apr_time_from_sec(1000000);
    llm_limit_result_t res;
    llm_limit_slot_t *a, *b;
    pthread_t th[8];
    int i, allowed = 0;

    apr_initialize();
    llm_limit_table_init(&table, mem, 64);
    a = llm_limit_slot(&table, "req|a");
    b = llm_limit_slot(&table, "req|b");
    ok(a && b && a != b, "two buckets, two slots");
    ok(llm_limit_slot(&table, "req|a") == a, "a bucket keeps its slot");

    for (i = 0; i < 15; i++) {
        llm_limit_take(&a->tat, &per_min, 1, now, &res);
        allowed += res.allowed;
    }
    is_int(allowed, 10, "10/min: a burst of 15 lets 10 through");
    ok(!res.allowed && res.retry_after == apr_time_from_sec(6),
       "the 11th is told to retry after 6 s");
    is_int(res.remaining, 0, "none remaining");
    llm_limit_take(&a->tat, &per_min, 1, now + apr_time_from_sec(6), &res);
    ok(res.allowed, "6 s later one more goes");
    llm_limit_take(&a->tat, &per_min, 1, now + apr_time_from_sec(6), &res);
    ok(!res.allowed, "and only one");
    llm_limit_take(&b->tat, &per_min, 1, now, &res);
    ok(res.allowed && res.remaining == 9, "another bucket is untouched");
    llm_limit_take(&a->tat, &per_min, 1, now + apr_time_from_sec(3600),
                   &res);
    ok(res.allowed && res.remaining == 9, "an idle bucket fills up again");

    /* Tokens: charged after the answer; refused while in debt. */
    b = llm_limit_slot(&table, "tok|b");
    llm_limit_take(&b->tat, &tokens, 0, now, &res);
    ok(res.allowed && res.remaining == 1000, "tokens: a full bucket");
    llm_limit_charge(&b->tat, &tokens, 1500, now);
    llm_limit_take(&b->tat, &tokens, 0, now, &res);
    ok(!res.allowed && res.retry_after == apr_time_from_sec(30),
       "1500 of 1000/min spent: refused for 30 s");
    llm_limit_take(&b->tat, &tokens, 0, now + apr_time_from_sec(30), &res);
    ok(res.allowed, "then allowed again");

    /* Eight threads, 8000 attempts, 100/hour: exactly 100. */
    for (i = 0; i < 8; i++) {
        pthread_create(&th[i], NULL, hammer, &now);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
    }
    is_int(let_through, 100, "8 threads on one bucket: exactly 100 of 8000");

    /* Budgets: a counter per period; the answer that crosses is served. */
    {
        llm_access_budget_t bud;
        char id[16];
        apr_time_t ends;
        llm_limit_slot_t *c = llm_limit_slot(&table, "budget|k|2026-12");

        ok(!llm_access_budget_parse("5M/month", &bud) && bud.count == 5000000
           && bud.period == LLM_PERIOD_MONTH, "5M/month");
        ok(!llm_access_budget_parse("200k/day", &bud) && bud.count == 200000
           && bud.period == LLM_PERIOD_DAY, "200k/day");
        ok(llm_access_budget_parse("5M/week", &bud) != NULL,
           "no weeks (calendar days and months only)");
        ok(llm_access_budget_parse("999999999999G/day", &bud) != NULL,
           "a budget that would overflow is refused");
        /* 2026-12-31 23:59:59 UTC */
        llm_access_budget_period(LLM_PERIOD_MONTH,
                                 apr_time_from_sec(1798761599), id, &ends);
        ok(!strcmp(id, "2026-12") && ends == apr_time_from_sec(1798761600),
           "December ends at the new year");
        llm_access_budget_period(LLM_PERIOD_DAY,
                                 apr_time_from_sec(1798761599), id, &ends);
        ok(!strcmp(id, "2026-12-31") && ends == apr_time_from_sec(1798761600),
           "a day ends at midnight UTC");
        llm_budget_check(&c->tat, 100, &res);
        ok(res.allowed && res.remaining == 100, "a fresh budget");
        llm_budget_charge(&c->tat, 150);
        llm_budget_check(&c->tat, 100, &res);
        ok(!res.allowed && res.remaining == 0, "spent: refused");
    }

    /* Rounding never lets one more through: 7/min (T not a whole
     * number of microseconds) and 6 per 10 us (T rounds up to 2 us). */
    {
        llm_access_rate_t seven = { 7, apr_time_from_sec(60) };
        llm_access_rate_t six = { 6, 10 };
        llm_limit_slot_t *c = llm_limit_slot(&table, "req|seven");
        llm_limit_slot_t *d = llm_limit_slot(&table, "req|six");
        int n7 = 0, n6 = 0;

        for (i = 0; i < 20; i++) {
            llm_limit_take(&c->tat, &seven, 1, now, &res);
            n7 += res.allowed;
            llm_limit_take(&d->tat, &six, 1, now, &res);
            n6 += res.allowed;
        }
        ok(n7 == 7 && n6 == 6, "7/min lets 7, 6/10us lets 6");
        ok(llm_access_rate_parse("1000000000/min", &per_min) != NULL,
           "more than one per microsecond is refused");
    }

    /* A full table says so. */
    llm_limit_table_init(&table, mem, 2);
    memset(mem, 0, sizeof(mem));
    ok(llm_limit_slot(&table, "x") && llm_limit_slot(&table, "y")
       && !llm_limit_slot(&table, "z"), "a full table gives no slot");
    apr_terminate();
    return tap_done();
}
