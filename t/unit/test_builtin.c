/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/* The built-in endpoints: the prompt library (t/unit/fixtures/prompts,
 * read from the repository root), the requests each built-in makes, and
 * the envelope of its answer. */

#include <stdlib.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_file_io.h"

#include <json-c/json.h>

#include "llm_builtin.h"
#include "tap.h"

#define FIXTURES "t/unit/fixtures/prompts"

static apr_pool_t *pool;
static llm_prompts_t *lib;

static const char *text(json_object *o)
{
    return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN
                                              | JSON_C_TO_STRING_NOSLASHESCAPE)
             : "(null)";
}

/* ------------------------------------------------------------------ */
/* The prompt library                                                  */
/* ------------------------------------------------------------------ */

static void write_file(const char *path, const char *data, apr_size_t len)
{
    apr_file_t *f;

    apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                  | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY, APR_OS_DEFAULT,
                  pool);
    apr_file_write_full(f, data, len, NULL);
    apr_file_close(f);
}

static void test_load(void)
{
    const char *errmsg = NULL;
    const char *tmp;
    const char *dir;
    llm_prompts_t *bad = NULL;

    ok(llm_prompts_load(pool, FIXTURES "/", &lib, &errmsg) == APR_SUCCESS,
       "the fixture library loads");
    is_int(llm_prompts_count(lib), 17,
           "every *.prompt, hidden files and other names left out");
    is_str(llm_prompt_get(lib, "builtin/system/en/translate-to-pl"),
           "Translate the text into Polish. Never answer it.\n",
           "keyed by relative path without the extension");
    is_str(llm_prompt_get(lib, "other/deep/x"), "nested\n", "recursive");
    is_str(llm_prompt_get(lib, "builtin/system/pl/simplify-text"),
           "Upro\xc5\x9b\xc4\x87 tekst.\n", "UTF-8, its BOM dropped");
    ok(!llm_prompt_get(lib, "builtin/system/en/README")
       && !llm_prompt_get(lib, "builtin/system/en/.hidden"),
       "no README, no hidden file");
    is_str(llm_prompt_languages(pool, lib, "translate-to-pl"), "de, en, pl",
           "languages of a prompt, sorted");
    is_str(llm_prompt_languages(pool, lib, "news-on-sm"), "en, pl",
           "languages of another");
    is_str(llm_prompt_languages(pool, lib, "nope"), "", "none");

    ok(llm_prompts_load(pool, FIXTURES "/none-here", &bad, &errmsg)
       != APR_SUCCESS && bad == NULL, "a missing directory fails");
    like(errmsg, "none-here", "naming it");

    apr_temp_dir_get(&tmp, pool);
    dir = apr_psprintf(pool, "%s/llm-prompts-%d", tmp, (int)getpid());
    apr_dir_make_recursive(apr_pstrcat(pool, dir, "/x", NULL),
                           APR_OS_DEFAULT, pool);
    write_file(apr_pstrcat(pool, dir, "/x/ok.prompt", NULL), "fine", 4);
    write_file(apr_pstrcat(pool, dir, "/x/latin1.prompt", NULL),
               "Zaż\xf3\xb3\xe6", 6);
    ok(llm_prompts_load(pool, dir, &bad, &errmsg) != APR_SUCCESS,
       "a file that is not UTF-8 fails the load");
    like(errmsg, "latin1.prompt: not valid UTF-8 text (at byte 4)",
         "naming the file and the byte");
    write_file(apr_pstrcat(pool, dir, "/x/latin1.prompt", NULL),
               "\xed\xa0\x80", 3);
    ok(llm_prompts_load(pool, dir, &bad, &errmsg) != APR_SUCCESS,
       "an encoded surrogate is not UTF-8 either");
    write_file(apr_pstrcat(pool, dir, "/x/latin1.prompt", NULL),
               "\xc0\xaf", 2);
    ok(llm_prompts_load(pool, dir, &bad, &errmsg) != APR_SUCCESS,
       "nor an overlong form");
    write_file(apr_pstrcat(pool, dir, "/x/latin1.prompt", NULL),
               "\xf0\x9f\x99\x82", 4);
    ok(llm_prompts_load(pool, dir, &bad, &errmsg) == APR_SUCCESS
       && llm_prompts_count(bad) == 2, "a 4-byte character is");
    apr_file_remove(apr_pstrcat(pool, dir, "/x/latin1.prompt", NULL), pool);
    apr_file_remove(apr_pstrcat(pool, dir, "/x/ok.prompt", NULL), pool);
    apr_dir_remove(apr_pstrcat(pool, dir, "/x", NULL), pool);
    apr_dir_remove(dir, pool);
}

static void test_render(void)
{
    const char *map[] = { "##A##", "1", "##B##", "two", NULL };

    is_str(llm_prompt_render(pool, "  ##A## and ##A##, ##B## ##C##\n", map,
                             NULL), "1 and 1, two ##C##",
           "every placeholder, as text; unknown ones left; trimmed");
    is_str(llm_prompt_render(pool, "Base.\n", NULL, "Postfix."),
           "Base.\n\nPostfix.", "postfix after one blank line");
    is_str(llm_prompt_render(pool, "Base.", NULL, ""), "Base.",
           "an empty postfix adds nothing");
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

static llm_builtin_plan_t *build(llm_builtin_e kind, const char *body,
                                 const char *dflt, llm_error_t *err)
{
    json_object *o = json_tokener_parse(body);
    llm_builtin_plan_t *plan = NULL;
    int rc;

    if (!o) {
        printf("# bad test JSON: %s\n", body);
        return NULL;
    }
    rc = llm_builtin_build(pool, kind, o, lib, dflt, &plan, err);
    json_object_put(o);
    return rc == 0 ? plan : NULL;
}

static const char *req(const llm_builtin_plan_t *plan, int i)
{
    if (!plan || i >= plan->requests->nelts) {
        return "(none)";
    }
    return text(APR_ARRAY_IDX(plan->requests, i, json_object *));
}

#define GEN "\"stream\":false,\"temperature\":0.75,\"max_tokens\":256," \
            "\"top_k\":50,\"top_p\":0.99}"

static void test_conversation(void)
{
    llm_error_t err;
    llm_builtin_plan_t *plan;

    plan = build(LLM_BUILTIN_CONVERSATION,
                 "{\"model_name\":\"m\",\"user_last_statement\":\"hi\","
                 "\"historical_messages\":[{\"user\":\"q1\",\"assistant\":"
                 "\"a1\"},{\"user\":\"q2\"}],\"language\":\"en\"}", NULL,
                 &err);
    is_str(req(plan, 0),
           "{\"model\":\"m\",\"messages\":["
           "{\"role\":\"system\",\"content\":\"You are a helpful "
           "assistant.\"},"
           "{\"role\":\"user\",\"content\":\"q1\"},"
           "{\"role\":\"assistant\",\"content\":\"a1\"},"
           "{\"role\":\"user\",\"content\":\"q2\"},"
           "{\"role\":\"user\",\"content\":\"hi\"}]," GEN,
           "conversation: system, history in order, the statement last; "
           "the original's defaults");
    ok(plan && plan->requests->nelts == 1 && !strcmp(plan->language, "en")
       && !strcmp(plan->model_name, "m"), "one request, language en");

    plan = build(LLM_BUILTIN_CONVERSATION,
                 "{\"model_name\":\"m\",\"user_last_statement\":\"hi\","
                 "\"temperature\":0.2,\"max_new_tokens\":64,\"top_k\":5,"
                 "\"top_p\":0.5,\"typical_p\":0.9,\"repetition_penalty\":1.1,"
                 "\"stream\":true}", NULL, &err);
    is_str(req(plan, 0),
           "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
           "\"Jeste\xc5\x9b pomocnym asystentem. Odpowiadaj po polsku.\"},"
           "{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
           "\"temperature\":0.2,\"max_tokens\":64,\"top_k\":5,"
           "\"top_p\":0.5}",
           "no language: pl; the client's generation fields; typical_p and "
           "repetition_penalty not sent; a stream keeps its system prompt");

    plan = build(LLM_BUILTIN_CONVERSATION,
                 "{\"model_name\":\"m\",\"user_last_statement\":\"hi\"}",
                 "en", &err);
    like(req(plan, 0), "You are a helpful assistant.",
         "the caller's default language");

    plan = build(LLM_BUILTIN_EXTENDED_CONVERSATION,
                 "{\"model_name\":\"m\",\"user_last_statement\":\"now?\","
                 "\"system_prompt\":\"Be a pirate.\",\"language\":\"xx\","
                 "\"historical_messages\":[{\"role\":\"user\",\"content\":"
                 "\"ahoy\"},{\"role\":\"assistant\",\"content\":\"arr\"}]}",
                 NULL, &err);
    is_str(req(plan, 0),
           "{\"model\":\"m\",\"messages\":["
           "{\"role\":\"system\",\"content\":\"Be a pirate.\"},"
           "{\"role\":\"user\",\"content\":\"ahoy\"},"
           "{\"role\":\"assistant\",\"content\":\"arr\"},"
           "{\"role\":\"user\",\"content\":\"now?\"}]," GEN,
           "extended: the given system prompt, history before the "
           "statement, no prompt file (any language)");
}

static void test_multi_call(void)
{
    llm_error_t err;
    llm_builtin_plan_t *plan;

    plan = build(LLM_BUILTIN_GENERATE_QUESTIONS,
                 "{\"model_name\":\"m\",\"texts\":[\"T1\",\"T2\"],"
                 "\"number_of_questions\":3,\"language\":\"en\"}", NULL,
                 &err);
    ok(plan && plan->requests->nelts == 2 && plan->inputs->nelts == 2,
       "generate_questions: one request per text");
    is_str(req(plan, 1),
           "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
           "\"Write 3 question(s) that the text answers, as a numbered "
           "list.\"},{\"role\":\"user\",\"content\":\"T2\"}]," GEN,
           "##QUESTION_NUM_STR## replaced");

    plan = build(LLM_BUILTIN_TRANSLATE,
                 "{\"model_name\":\"m\",\"texts\":[\"Guten Tag\"],"
                 "\"language\":\"de\"}", NULL, &err);
    like(req(plan, 0), "\"content\":\"\xc3\x9c" "bersetze den Text ins "
         "Polnische.\"},{\"role\":\"user\",\"content\":\"Guten Tag\"}",
         "translate: a third language works when its prompt exists");

    plan = build(LLM_BUILTIN_SIMPLIFY_TEXT,
                 "{\"model_name\":\"m\",\"texts\":[\"a\",\"b\",\"c\"]}", NULL,
                 &err);
    ok(plan && plan->requests->nelts == 3, "simplify_text: three calls");

    ok(!build(LLM_BUILTIN_TRANSLATE, "{\"model_name\":\"m\",\"texts\":"
              "[\"a\"],\"stream\":true}", NULL, &err)
       && err.status == 400 && !strcmp(err.param, "stream"),
       "multi-call built-ins do not stream");
    like(err.message, "Streaming is available only for single-call "
         "endpoints", "and say so");
}

static void test_single_call(void)
{
    llm_error_t err;
    llm_builtin_plan_t *plan;

    plan = build(LLM_BUILTIN_GENERATE_ARTICLE,
                 "{\"model_name\":\"m\",\"text\":\"Storm hits.\","
                 "\"language\":\"en\"}", NULL, &err);
    like(req(plan, 0), "\"messages\":[{\"role\":\"system\",\"content\":"
         "\"Write a one-paragraph social media news item from the text.\"},"
         "{\"role\":\"user\",\"content\":\"Storm hits.\"}]",
         "generate_article_from_text");

    plan = build(LLM_BUILTIN_FULL_ARTICLE,
                 "{\"model_name\":\"m\",\"user_query\":\"Why rain?\","
                 "\"texts\":[\"  one \",\"\",\"   \",\"two\"],"
                 "\"article_type\":\"Write it for children.\","
                 "\"language\":\"en\"}", NULL, &err);
    is_str(req(plan, 0),
           "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
           "\"Write an article that answers: Why rain?\\nStay on Why rain?."
           "\\n\\nWrite it for children.\"},{\"role\":\"user\","
           "\"content\":\"one\\n\\ntwo\"}]," GEN,
           "full article: ##USER_Q_STR## everywhere, article_type as "
           "postfix, non-empty texts trimmed and joined");

    plan = build(LLM_BUILTIN_GENERATIVE_ANSWER,
                 "{\"model_name\":\"m\",\"question_str\":\"Who?\","
                 "\"texts\":{\"doc A\":[\"p1\",\"p2\"],\"doc B\":[\"p3\"]},"
                 "\"doc_name_in_answer\":true,\"question_prompt\":"
                 "\"Be short.\",\"language\":\"en\",\"stream\":true}", NULL,
                 &err);
    is_str(req(plan, 0),
           "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
           "\"Answer only from the texts; say so when they lack the answer."
           "\\nQuestion: Who?\\n\\nBe short.\"},{\"role\":\"user\","
           "\"content\":\"Document name: doc A\\nDocument context: p1\\n\\n"
           "Document name: doc A\\nDocument context: p2\\n\\n"
           "Document name: doc B\\nDocument context: p3\"}],\"stream\":true,"
           "\"temperature\":0.75,\"max_tokens\":256,\"top_k\":50,"
           "\"top_p\":0.99}",
           "generative_answer: named passages, question and postfix in the "
           "system prompt, streamed with it");

    plan = build(LLM_BUILTIN_GENERATIVE_ANSWER,
                 "{\"model_name\":\"m\",\"question_str\":\"Who?\","
                 "\"texts\":[\"p1\",\"p2\"],\"system_prompt\":"
                 "\"Forced: ##QUESTION_STR##\",\"language\":\"fr\"}", NULL,
                 &err);
    like(req(plan, 0), "[{\"role\":\"system\",\"content\":\"Forced: Who?\"},"
         "{\"role\":\"user\",\"content\":\"p1\\n\\np2\"}]",
         "a forced system prompt replaces the file (no prompt needed for "
         "its language), placeholders still applied");

    plan = build(LLM_BUILTIN_GENERATIVE_ANSWER,
                 "{\"model_name\":\"m\",\"question_str\":\"Who?\","
                 "\"texts\":{\"d\":[\"p1\"]},\"language\":\"en\"}", NULL,
                 &err);
    like(req(plan, 0), "{\"role\":\"user\",\"content\":\"p1\"}",
         "a map without doc_name_in_answer: passages only");
}

static void test_languages(void)
{
    llm_error_t err;

    ok(!build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
              "\"user_last_statement\":\"x\",\"language\":\"de\"}", NULL,
              &err)
       && err.status == 400 && !strcmp(err.param, "language")
       && !strcmp(err.code, "unsupported_language"),
       "a language without the prompt: 400");
    is_str(err.message, "The language 'de' has no prompt for "
           "conversation_with_model; available: en, pl.",
           "listing the available ones");
    ok(!build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
              "\"user_last_statement\":\"x\"}", "de", &err)
       && err.status == 500 && !strcmp(err.code, "prompt_missing"),
       "the configured default without the prompt: 500");
    like(err.message, "builtin/system/de/chat-conversation-simple",
         "naming the prompt");
    ok(!build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
              "\"user_last_statement\":\"x\",\"language\":\"../en\"}", NULL,
              &err) && err.status == 400 && !strcmp(err.param, "language"),
       "a language is one path segment");
    ok(!build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
              "\"user_last_statement\":\"x\",\"language\":\"pl\\u0000../x\"}",
              NULL, &err) && err.status == 400
       && !strcmp(err.param, "language") && !strcmp(err.code, "invalid_value"),
       "a language with NUL: 400, not its part before the NUL");
    ok(!build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\\u0000x\","
              "\"user_last_statement\":\"x\"}", NULL, &err)
       && err.status == 400 && !strcmp(err.code, "invalid_value"),
       "a model name with NUL: 400 invalid_value");
    ok(build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
             "\"user_last_statement\":\"x\",\"language\":null}", "en", &err)
       != NULL, "language null: the default");
}

static void test_fields(void)
{
    static const struct {
        llm_builtin_e kind;
        const char *body;
        int status;
        const char *param;
        const char *name;
    } cases[] = {
        { LLM_BUILTIN_CONVERSATION, "{\"user_last_statement\":\"x\"}",
          400, "model_name", "model_name required" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\"}", 400,
          "user_last_statement", "user_last_statement required" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":5,"
          "\"user_last_statement\":\"x\"}", 400, "model_name",
          "model_name a string" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\",\"historical_messages\":"
          "[{\"user\":1}]}", 400, "historical_messages[0].user",
          "history of strings" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\",\"temperature\":\"hot\"}", 400,
          "temperature", "temperature a number" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\",\"max_new_tokens\":1.5}", 400,
          "max_new_tokens", "max_new_tokens an integer" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\",\"max_new_tokens\":0}", 400,
          "max_new_tokens", "max_new_tokens >= 1" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\",\"top_p\":1.5}", 400, "top_p",
          "top_p in [0,1]" },
        { LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\",\"stream\":1}", 400, "stream",
          "stream a boolean" },
        { LLM_BUILTIN_EXTENDED_CONVERSATION, "{\"model_name\":\"m\","
          "\"user_last_statement\":\"x\"}", 400, "system_prompt",
          "extended: system_prompt required" },
        { LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\"}", 400,
          "texts", "texts required" },
        { LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\","
          "\"texts\":\"one\"}", 400, "texts", "texts a list" },
        { LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\","
          "\"texts\":[]}", 400, "texts", "texts not empty" },
        { LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\","
          "\"texts\":[\"a\",2]}", 400, "texts[1]", "texts of strings" },
        { LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\","
          "\"texts\":[\"a\"],\"number_of_questions\":0}", 400,
          "number_of_questions", "number_of_questions >= 1" },
        { LLM_BUILTIN_GENERATE_ARTICLE, "{\"model_name\":\"m\"}", 400,
          "text", "article: text required" },
        { LLM_BUILTIN_FULL_ARTICLE, "{\"model_name\":\"m\","
          "\"texts\":[\"a\"]}", 400, "user_query", "user_query required" },
        { LLM_BUILTIN_FULL_ARTICLE, "{\"model_name\":\"m\","
          "\"user_query\":\"q\",\"texts\":[\"a\"],\"article_type\":[]}",
          400, "article_type", "article_type a string" },
        { LLM_BUILTIN_GENERATIVE_ANSWER, "{\"model_name\":\"m\","
          "\"texts\":[\"a\"]}", 400, "question_str", "question_str "
          "required" },
        { LLM_BUILTIN_GENERATIVE_ANSWER, "{\"model_name\":\"m\","
          "\"question_str\":\"q\",\"texts\":{\"d\":\"a\"}}", 400, "texts.d",
          "a map of lists" },
        { LLM_BUILTIN_GENERATIVE_ANSWER, "{\"model_name\":\"m\","
          "\"question_str\":\"q\",\"texts\":5}", 400, "texts",
          "texts a list or a map" },
    };
    llm_error_t err0;
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        llm_error_t err = { 0, NULL, NULL, NULL };
        llm_builtin_plan_t *plan = build(cases[i].kind, cases[i].body, "en",
                                         &err);

        if (!ok(!plan && err.status == cases[i].status && err.param
                && !strcmp(err.param, cases[i].param), cases[i].name)) {
            printf("#   %d %s: %s\n", err.status, err.param ? err.param : "-",
                   err.message ? err.message : "-");
        }
    }
    ok(build(LLM_BUILTIN_CONVERSATION, "{\"model\":\"m\","
             "\"user_last_statement\":\"x\",\"mask_payload\":false,"
             "\"masker_pipeline\":null,\"unknown\":1}", "en", &err0) != NULL,
       "\"model\" accepted; accepted and unknown fields ignored");
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */
/* ------------------------------------------------------------------ */

static const char *questions(const char *answer)
{
    apr_array_header_t *qs = llm_builtin_parse_questions(
        pool, answer, answer ? strlen(answer) : 0);
    const char *out = "";
    int i;

    for (i = 0; i < qs->nelts; i++) {
        out = apr_pstrcat(pool, out, i ? "|" : "",
                          APR_ARRAY_IDX(qs, i, llm_builtin_text_t).text,
                          NULL);
    }
    return out;
}

static void test_questions(void)
{
    is_str(questions("Here are questions:\n\n1. What is it?\n2.  Why?\n"
                     "  3. How?  \n\n\n"),
           "What is it?|Why?|How?",
           "after the last blank line, enumeration stripped, trailing "
           "blank lines ignored");
    is_str(questions("Intro\n \nold\n\nA?\n\n  \nB?\nC?"), "B?|C?",
           "a line of spaces is blank too");
    is_str(questions("1.5 million people live where?\n12. Who?\n3."),
           "1.5 million people live where?|Who?",
           "a number that is not an enumeration stays; a bare \"3.\" goes");
    is_str(questions("One?\r\nTwo?\r\n"), "One?|Two?", "CRLF lines");
    is_str(questions(""), "", "nothing");
    is_str(questions(NULL), "", "no answer");
}

static void test_envelopes(void)
{
    llm_error_t err;
    llm_builtin_plan_t *plan;
    llm_builtin_text_t two[] = { { "Q intro\n\n1. A?\n2. B?", 20 },
                                 { NULL, 0 } };
    llm_builtin_text_t one[] = { { "Hello", 5 } };

    plan = build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
                 "\"user_last_statement\":\"hi\"}", "en", &err);
    is_str(llm_builtin_response(pool, plan, one, 1, 0.0078),
           "{\"response\":\"Hello\",\"generation_time\":0.0078}\n",
           "conversation envelope");
    is_str(llm_builtin_response(pool, plan, one, 1, 2.0),
           "{\"response\":\"Hello\",\"generation_time\":2.0}\n",
           "whole seconds");

    plan = build(LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\","
                 "\"texts\":[\"T1\",\"T2\"]}", "en", &err);
    is_str(llm_builtin_response(pool, plan, two, 2, 1.5),
           "{\"response\":[{\"text\":\"T1\",\"questions\":[\"A?\",\"B?\"]},"
           "{\"text\":\"T2\",\"questions\":[]}],\"generation_time\":1.5}\n",
           "generate_questions envelope");

    plan = build(LLM_BUILTIN_TRANSLATE, "{\"model_name\":\"m\","
                 "\"texts\":[\"Hallo\",\"Welt\"]}", "en", &err);
    two[0].text = "Cze\xc5\x9b\xc4\x87";
    two[0].len = 7;
    two[1].text = "\xc5\x9bwiat";
    two[1].len = 6;
    is_str(llm_builtin_response(pool, plan, two, 2, 0.25),
           "{\"response\":[{\"original\":\"Hallo\",\"translated\":"
           "\"Cze\xc5\x9b\xc4\x87\"},{\"original\":\"Welt\",\"translated\":"
           "\"\xc5\x9bwiat\"}],\"generation_time\":0.25}\n",
           "translate envelope");

    plan = build(LLM_BUILTIN_SIMPLIFY_TEXT, "{\"model_name\":\"m\","
                 "\"texts\":[\"a\",\"b\"]}", "en", &err);
    two[1].text = NULL;
    is_str(llm_builtin_response(pool, plan, two, 2, 0.1),
           "{\"response\":[\"Cze\xc5\x9b\xc4\x87\",null],"
           "\"generation_time\":0.1}\n", "simplify_text envelope");

    plan = build(LLM_BUILTIN_FULL_ARTICLE, "{\"model_name\":\"m\","
                 "\"user_query\":\"q\",\"texts\":[\"a\"]}", "en", &err);
    is_str(llm_builtin_response(pool, plan, one, 1, 3.25),
           "{\"response\":{\"article_text\":\"Hello\"},"
           "\"generation_time\":3.25}\n", "article envelope");
}

/* A provider's answer holding NUL ("\u0000") goes into the envelope
 * whole, in every shape (issue 11, part 4). */
static void test_nul_answers(void)
{
    llm_error_t err;
    llm_builtin_plan_t *plan;
    llm_builtin_text_t one[] = { { "a\0b", 3 } };
    llm_builtin_text_t two[] = { { "x\0y", 3 },
                                 { "Intro\n\n1. A\0?\n2. B?", 19 } };
    apr_array_header_t *qs;

    plan = build(LLM_BUILTIN_CONVERSATION, "{\"model_name\":\"m\","
                 "\"user_last_statement\":\"hi\"}", "en", &err);
    is_str(llm_builtin_response(pool, plan, one, 1, 1.0),
           "{\"response\":\"a\\u0000b\",\"generation_time\":1.0}\n",
           "conversation: the text after a NUL is kept");
    plan = build(LLM_BUILTIN_FULL_ARTICLE, "{\"model_name\":\"m\","
                 "\"user_query\":\"q\",\"texts\":[\"a\"]}", "en", &err);
    is_str(llm_builtin_response(pool, plan, one, 1, 1.0),
           "{\"response\":{\"article_text\":\"a\\u0000b\"},"
           "\"generation_time\":1.0}\n", "article");
    plan = build(LLM_BUILTIN_SIMPLIFY_TEXT, "{\"model_name\":\"m\","
                 "\"texts\":[\"a\",\"b\"]}", "en", &err);
    is_str(llm_builtin_response(pool, plan, two, 2, 1.0),
           "{\"response\":[\"x\\u0000y\",\"Intro\\n\\n1. A\\u0000?\\n2. "
           "B?\"],\"generation_time\":1.0}\n", "simplify_text");
    plan = build(LLM_BUILTIN_GENERATE_QUESTIONS, "{\"model_name\":\"m\","
                 "\"texts\":[\"T1\",\"T2\"]}", "en", &err);
    is_str(llm_builtin_response(pool, plan, two, 2, 1.0),
           "{\"response\":[{\"text\":\"T1\",\"questions\":[\"x\\u0000y\"]},"
           "{\"text\":\"T2\",\"questions\":[\"A\\u0000?\",\"B?\"]}],"
           "\"generation_time\":1.0}\n", "generate_questions");
    qs = llm_builtin_parse_questions(pool, two[1].text, two[1].len);
    ok(qs->nelts == 2
       && APR_ARRAY_IDX(qs, 0, llm_builtin_text_t).len == 3
       && !memcmp(APR_ARRAY_IDX(qs, 0, llm_builtin_text_t).text, "A\0?", 3),
       "a question with NUL in it, whole");
}

int main(void)
{
    apr_initialize();
    atexit(apr_terminate);
    apr_pool_create(&pool, NULL);
    test_load();
    test_render();
    test_conversation();
    test_multi_call();
    test_single_call();
    test_languages();
    test_fields();
    test_questions();
    test_envelopes();
    test_nul_answers();
    ok(llm_builtin_is_multi(LLM_BUILTIN_TRANSLATE)
       && !llm_builtin_is_multi(LLM_BUILTIN_GENERATIVE_ANSWER)
       && !strcmp(llm_builtin_name(LLM_BUILTIN_FULL_ARTICLE),
                  "create_full_article_from_texts")
       && !llm_builtin_name(LLM_BUILTIN_NONE), "names and kinds");
    apr_pool_destroy(pool);
    return tap_done();
}
