/* Licensed under the Apache License, Version 2.0 (see LICENSE).
 * Copyright The mod_llm authors.
 */

/**
 * @file llm_event.h
 * @brief Responses of every API dialect as one stream of events.
 *
 * A provider's answer, streamed (SSE, NDJSON) or whole (one JSON body),
 * is read by the decoder of its wire format into llm_event_t values; the
 * encoder of the client's wire format turns those events into the bytes
 * the client expects, streamed or as one body. Any provider can thus
 * serve any client: N decoders + N encoders instead of N*N converters,
 * and "the client wants a whole body but the provider streams" is the
 * same code as everything else.
 *
 * APR and json-c only: no httpd (unit-tested in t/unit/test_event.c).
 * All entry points are incremental and never hold more than one
 * incomplete input event (bounded by max_event).
 */

#ifndef LLM_EVENT_H
#define LLM_EVENT_H

#include "apr_pools.h"
#include "mod_llm.h"
#include "llm_buf.h"
#include "llm_json.h"

struct json_object;

/* llm_wire_e, the body formats of the APIs we speak, is in mod_llm.h. */

typedef enum {
    LLM_EV_START = 0,   /**< id, model, created known (first event) */
    LLM_EV_TEXT,        /**< a piece of the answer text */
    LLM_EV_REASONING,   /**< a piece of reasoning ("thinking") text */
    LLM_EV_TOOL_CALL,   /**< a tool call starts or its arguments grow */
    LLM_EV_FINISH,      /**< the answer is over, with its reason */
    LLM_EV_USAGE,       /**< token counts (may come after FINISH) */
    LLM_EV_ERROR,       /**< the upstream reported an error in-band, or
                             its stream is broken; nothing follows */
    LLM_EV_DONE         /**< the upstream's end marker: the stream is
                             complete ([DONE], message_stop, done:true) */
} llm_event_type_e;

/** Why an answer ended, in OpenAI's words (each encoder maps them). */
#define LLM_FINISH_STOP           "stop"
#define LLM_FINISH_LENGTH         "length"
#define LLM_FINISH_TOOL_CALLS     "tool_calls"
#define LLM_FINISH_CONTENT_FILTER "content_filter"

/**
 * One event. Strings are valid only during the callback that receives
 * the event (they point into the decoder's scratch memory): copy what
 * must outlive it. Fields not used by a type are NULL/0.
 */
typedef struct llm_event {
    llm_event_type_e type;

    /* LLM_EV_START */
    const char *id;            /**< upstream response id, or NULL */
    const char *model;         /**< model name the upstream reported */
    apr_int64_t created;       /**< epoch seconds, 0 if unknown */

    /* LLM_EV_TEXT, LLM_EV_REASONING: text (UTF-8, not NUL-terminated
     * necessarily: use text_len) */
    const char *text;
    apr_size_t text_len;

    /* LLM_EV_TOOL_CALL: the first event of a call has id and name; the
     * following ones of the same index only grow the arguments. */
    int tool_index;
    const char *tool_id;
    const char *tool_name;
    const char *tool_args;     /**< a fragment of the JSON arguments */
    apr_size_t tool_args_len;

    /* LLM_EV_FINISH */
    const char *finish;        /**< LLM_FINISH_* */

    /* LLM_EV_USAGE */
    llm_usage_t usage;

    /* LLM_EV_ERROR */
    const char *error_message;
    const char *error_type;    /**< e.g. "upstream_error", "bad_stream" */
} llm_event_t;

/** Receives events from a decoder. Return APR_SUCCESS to go on; any
 *  other value stops the decoder, which returns it. */
typedef apr_status_t (*llm_event_fn)(void *baton, const llm_event_t *ev);

/** Receives encoded bytes, valid only during the call. */
typedef apr_status_t (*llm_emit_fn)(void *baton, const char *buf,
                                    apr_size_t len);

/* ------------------------------------------------------------------ */
/* Decoders: provider bytes -> events                                  */
/* ------------------------------------------------------------------ */

typedef struct llm_decoder llm_decoder_t;

/** The largest incomplete input event a decoder holds by default. */
#define LLM_EVENT_MAX_DEFAULT (1024 * 1024)

/**
 * A stream decoder for @a wire. Everything it keeps is allocated from
 * a subpool of @a p; per-event scratch memory is cleared after each
 * event, so a long stream does not grow the pool.
 */
llm_decoder_t *llm_decoder_create(apr_pool_t *p, llm_wire_e wire,
                                  apr_size_t max_event);

/**
 * Feed the next bytes of a streamed body (any split: mid-line, mid-
 * UTF-8 sequence, mid-"\r\n"). Calls @a fn for each complete event.
 * Returns APR_SUCCESS, the callback's status, or APR_ENOSPC when one
 * event exceeds max_event (an LLM_EV_ERROR is delivered first).
 * A complete record (an SSE event's data, an NDJSON line) that is not a
 * JSON object is skipped: it gives no event and is counted
 * (llm_decoder_skipped), and the stream goes on, as it does for a
 * client the provider's bytes reach unchanged. Once a callback failed
 * or an error was delivered, feeds return APR_EGENERAL; after an
 * in-band upstream error or the end marker, further bytes are ignored
 * (APR_SUCCESS).
 */
apr_status_t llm_decoder_feed(llm_decoder_t *d, const char *buf,
                              apr_size_t len, llm_event_fn fn, void *baton);

/**
 * The upstream's body ended. Delivers a last event held without its
 * terminator. A stream that never reached its end marker ends in one of
 * two ways:
 * - its finish reason came (OpenAI: a chunk with finish_reason, before
 *   a usage chunk perhaps; Anthropic: message_delta with stop_reason;
 *   Responses: response.completed, which is also its end): the answer
 *   is whole, only the marker is missing. LLM_EV_DONE is delivered, as
 *   if the upstream had sent it, and llm_decoder_closed() says so; a
 *   last record cut in its middle after the finish is skipped;
 * - it did not (a cut; Ollama's finish is its done:true line, which is
 *   also its end, so an Ollama stream without it is always a cut):
 *   LLM_EV_ERROR (error_type "incomplete_stream").
 */
apr_status_t llm_decoder_end(llm_decoder_t *d, llm_event_fn fn,
                             void *baton);

/** True once the decoder saw the upstream's end marker (or made it up
 *  at the end of a stream that had its finish reason). */
int llm_decoder_complete(const llm_decoder_t *d);

/** True when llm_decoder_end() delivered the end marker the upstream
 *  did not send, after its finish reason. */
int llm_decoder_closed(const llm_decoder_t *d);

/** How many records the decoder skipped so far (not JSON objects). */
apr_size_t llm_decoder_skipped(const llm_decoder_t *d);

/**
 * Decode a whole (non-streamed) response body of @a wire: the same
 * events a stream of that answer would give, ending in LLM_EV_DONE.
 * A body that is not what @a wire answers gives LLM_EV_ERROR.
 */
apr_status_t llm_decode_body(apr_pool_t *p, llm_wire_e wire,
                             const char *buf, apr_size_t len,
                             llm_event_fn fn, void *baton);

/**
 * The usage a whole (not streamed) answer of @a wire reports: what
 * llm_decode_body() would deliver as its last LLM_EV_USAGE, except that
 * text after the JSON value is not read (as when the answer is parsed
 * as it flows). Returns 1 with @a usage set, or 0 (none; @a usage
 * untouched). OpenAI answers are read without building their tree
 * (llm_event_usage.c).
 */
int llm_answer_usage(apr_pool_t *p, llm_wire_e wire, const char *buf,
                     apr_size_t len, llm_usage_t *usage);

/** llm_decode_body() of a body already parsed (NULL: not JSON); @a obj
 *  stays the caller's. */
apr_status_t llm_decode_object(apr_pool_t *p, llm_wire_e wire,
                               struct json_object *obj, llm_event_fn fn,
                               void *baton);

/* ------------------------------------------------------------------ */
/* SSE passing through: where its events end, and which to hold back   */
/* ------------------------------------------------------------------ */

/** Where the SSE events of a stream passing unchanged end, across any
 *  split of its bytes (CR, LF or CRLF line ends). Zero it to start. */
typedef struct llm_sse_split {
    int in_line;                /* bytes of the current line came */
    int after_cr;               /* the last byte was a CR */
} llm_sse_split_t;

/**
 * The number of bytes of @a buf up to and including the blank line that
 * ends the first event in it, or 0 when no event ends in @a buf (all of
 * it was read into @a s). Call again on the rest after a hit. The LF of
 * a CRLF that ends an event may open the next piece: a stray line end,
 * harmless between events.
 */
apr_size_t llm_sse_split_next(llm_sse_split_t *s, const char *buf,
                              apr_size_t len);

/**
 * True when the SSE event @a ev (its whole text, data lines and all) is
 * OpenAI's usage-only chunk: a JSON object with an empty "choices" array
 * and a "usage" object, the chunk stream_options.include_usage adds
 * before [DONE].
 */
int llm_sse_usage_only(const char *ev, apr_size_t len);

/** The end marker of a streamed answer of @a wire, as a provider sends
 *  it ("data: [DONE]", Anthropic's message_stop), or NULL for a wire
 *  whose end is part of its last answer record (Ollama's done line,
 *  the Responses API's response.completed). */
const char *llm_wire_end_marker(llm_wire_e wire);

/** The in-band error that ends a stream of @a wire the provider cut (a
 *  passthrough stream: the client's dialect is the provider's), code
 *  "stream_interrupted" where the dialect has codes. */
const char *llm_wire_stream_error(llm_wire_e wire);

/* ------------------------------------------------------------------ */
/* Encoders: events -> client bytes                                    */
/* ------------------------------------------------------------------ */

typedef struct llm_encoder llm_encoder_t;

typedef struct llm_encode_opts {
    const char *model;         /**< the model name the client asked for:
                                    reported back instead of the
                                    provider's model_path */
    apr_time_t now;            /**< for created/created_at when the
                                    upstream gave none; 0 = apr_time_now */
    int include_usage;         /**< OpenAI stream: send a usage chunk
                                    (stream_options.include_usage) */
} llm_encode_opts_t;

/**
 * An encoder for the client's @a wire; @a stream selects the streamed
 * framing (SSE or NDJSON) or one JSON body written by llm_encoder_end.
 * Allocates from a subpool of @a p.
 */
llm_encoder_t *llm_encoder_create(apr_pool_t *p, llm_wire_e wire,
                                  int stream, const llm_encode_opts_t *o);

/** Take one event; streamed encoders emit its bytes at once. */
apr_status_t llm_encoder_event(llm_encoder_t *e, const llm_event_t *ev,
                               llm_emit_fn emit, void *baton);

/**
 * No more events. A whole-body encoder emits its JSON now. A stream
 * encoder writes the dialect's end ("data: [DONE]", message_stop, the
 * done:true line) only if LLM_EV_DONE was seen; if the stream ended in
 * LLM_EV_ERROR or without DONE it writes an explicit error event in the
 * client's dialect instead, so a broken stream never looks complete.
 */
apr_status_t llm_encoder_end(llm_encoder_t *e, llm_emit_fn emit,
                             void *baton);

/** The usage the encoder saw (all -1 when none was reported). */
const llm_usage_t *llm_encoder_usage(const llm_encoder_t *e);

/** True when the encoder ended the client's stream with an error. */
int llm_encoder_failed(const llm_encoder_t *e);

/** Content-Type of @a wire's response, streamed or not. */
const char *llm_wire_content_type(llm_wire_e wire, int stream);

/** The short name of @a wire ("openai_chat", "anthropic"...), for logs. */
const char *llm_wire_name(llm_wire_e wire);

/**
 * Test hooks. Generated ids (response ids, and the tool-call ids Ollama
 * does not send) take their bytes from llm_event_random_fn, and Ollama's
 * durations and LM Studio's stats their time from llm_event_clock_fn.
 * NULL, the default, means apr_generate_random_bytes() and
 * apr_time_now(). The unit tests set them to make golden outputs
 * reproducible; set them only before any decoder or encoder exists.
 */
extern void (*llm_event_random_fn)(unsigned char *buf, apr_size_t len);
extern apr_time_t (*llm_event_clock_fn)(void);

#ifdef LLM_EVENT_PRIVATE
/* ------------------------------------------------------------------ */
/* Internals shared by the modules/core/llm_event*.c files only: they  */
/* define LLM_EVENT_PRIVATE before including this header. Nothing else */
/* may use them.                                                       */
/* ------------------------------------------------------------------ */

#include <json-c/json.h>

/** Return a failed status at once (the callbacks' and the emitters'). */
#define LLM_TRY(expr) do {                        \
        apr_status_t llm_try_rv_ = (expr);        \
        if (llm_try_rv_ != APR_SUCCESS) {         \
            return llm_try_rv_;                   \
        }                                         \
    } while (0)

/* llm_buf_t, the growing buffer: llm_buf.h */

/* Generated ids, times and usage arithmetic. */
const char *llm_event_new_id(apr_pool_t *p, const char *prefix);
apr_time_t llm_event_now(void);
void llm_usage_unknown(llm_usage_t *u);
void llm_usage_merge(llm_usage_t *into, const llm_usage_t *from);
/** @a a plus @a b when @a b counts (> 0), stopping at INT64_MAX: token
 *  counts are whatever an upstream says, up to where json-c stops. */
apr_int64_t llm_count_add(apr_int64_t a, apr_int64_t b);

/* --- Decoders ------------------------------------------------------ */

typedef enum { LLM_FRAME_SSE, LLM_FRAME_NDJSON } llm_frame_e;

/** What a wire's decoder knows: its framing, and how one record (an
 *  SSE event's data or an NDJSON line, parsed) or a whole body becomes
 *  events. @a event is the SSE event name, NULL if none. */
typedef struct llm_dec_ops {
    llm_frame_e framing;
    int done_sentinel;          /* "data: [DONE]" ends the stream */
    apr_status_t (*record)(llm_decoder_t *d, const char *event,
                           json_object *obj);
    apr_status_t (*body)(llm_decoder_t *d, json_object *obj);
} llm_dec_ops_t;

extern const llm_dec_ops_t llm_dec_openai_chat;
extern const llm_dec_ops_t llm_dec_openai_completion;
extern const llm_dec_ops_t llm_dec_responses;
extern const llm_dec_ops_t llm_dec_ollama_chat;
extern const llm_dec_ops_t llm_dec_ollama_generate;
extern const llm_dec_ops_t llm_dec_anthropic;

struct llm_decoder {
    apr_pool_t *pool;           /* the decoder's own state */
    apr_pool_t *scratch;        /* cleared after each record */
    const llm_dec_ops_t *ops;
    apr_size_t max_event;
    llm_event_fn fn;            /* set for the duration of a call */
    void *baton;

    /* framing */
    llm_buf_t line;             /* the incomplete line */
    llm_buf_t data;             /* SSE: data lines of the event so far */
    llm_buf_t event;            /* SSE: its event name */
    int has_data;
    int after_cr;               /* the last byte was a CR: skip one LF */
    int first_line;             /* a BOM may open the stream */
    int ending;                 /* llm_decoder_end() runs */

    /* progress */
    int started;
    int complete;
    int closed;                 /* the end marker was ours */
    apr_size_t skipped;         /* records that were not JSON objects */
    int stopped;                /* an ERROR was delivered, or fn failed */
    apr_status_t stop_rv;

    /* for the wire code: usage so far, and the tool calls by tool
     * index (llm_dec_tool_t) */
    llm_usage_t usage;
    apr_array_header_t *tools;
    const char *finish;
};

/** A tool call a decoder has seen: the upstream's key for it (a block
 *  index, an output_index...), and whether arguments came. */
typedef struct llm_dec_tool {
    int key;
    int has_args;
} llm_dec_tool_t;

apr_status_t llm_dec_start(llm_decoder_t *d, const char *id,
                           const char *model, apr_int64_t created);
apr_status_t llm_dec_text(llm_decoder_t *d, llm_event_type_e type,
                          const char *text, apr_size_t len);
apr_status_t llm_dec_tool(llm_decoder_t *d, int index, const char *id,
                          const char *name, const char *args,
                          apr_size_t args_len);
apr_status_t llm_dec_finish(llm_decoder_t *d, const char *reason);
apr_status_t llm_dec_finish_if(llm_decoder_t *d, const char *reason);
apr_status_t llm_dec_usage(llm_decoder_t *d, const llm_usage_t *u);
apr_status_t llm_dec_error(llm_decoder_t *d, const char *type,
                           const char *message);
apr_status_t llm_dec_done(llm_decoder_t *d);
int llm_dec_tool_find(llm_decoder_t *d, int key);
int llm_dec_tool_add(llm_decoder_t *d, int key);
int llm_dec_upstream_error(llm_decoder_t *d, json_object *obj,
                           apr_status_t *rv);
apr_status_t llm_dec_bad_body(llm_decoder_t *d);

/* --- Encoders ------------------------------------------------------ */

typedef enum {
    LLM_ITEM_TEXT = 0,
    LLM_ITEM_REASONING,
    LLM_ITEM_TOOL
} llm_item_kind_e;

/** One part of the answer, in order: a run of text, of reasoning, or a
 *  tool call. They are Anthropic's content blocks and the Responses
 *  API's output items; whole bodies are built from them. */
typedef struct llm_enc_item {
    llm_item_kind_e kind;
    int index;                  /* position among the items */
    int tool_seq;               /* tools: 0, 1... in order of appearance */
    int tool_key;               /* tools: the events' tool_index */
    const char *tool_id;
    const char *tool_name;
    const char *wire_id;        /* the id an encoder gave the item */
    llm_buf_t buf;              /* its text or arguments, when kept */
    int opened;
    int closed;
} llm_enc_item_t;

typedef struct llm_enc_ops {
    const char *id_prefix;      /* response ids; NULL: the wire has none */
    const char *tool_prefix;    /* tool-call ids made up when missing */
    int keep_text;              /* streaming needs the text of items */
    int keep_tools;             /* streaming needs whole arguments */
    /* streamed: one event (item is the one it extends, or NULL) */
    apr_status_t (*event)(llm_encoder_t *e, const llm_event_t *ev,
                          llm_enc_item_t *item);
    apr_status_t (*end)(llm_encoder_t *e);      /* streamed, complete */
    apr_status_t (*whole)(llm_encoder_t *e);    /* one body, complete */
    apr_status_t (*error)(llm_encoder_t *e, const char *type,
                          const char *message);
} llm_enc_ops_t;

extern const llm_enc_ops_t llm_enc_openai_chat;
extern const llm_enc_ops_t llm_enc_openai_completion;
extern const llm_enc_ops_t llm_enc_lmstudio_chat;
extern const llm_enc_ops_t llm_enc_responses;
extern const llm_enc_ops_t llm_enc_ollama_chat;
extern const llm_enc_ops_t llm_enc_ollama_generate;
extern const llm_enc_ops_t llm_enc_anthropic;

struct llm_encoder {
    apr_pool_t *pool;
    apr_pool_t *scratch;        /* cleared after each call */
    const llm_enc_ops_t *ops;
    llm_wire_e wire;
    int stream;
    int include_usage;
    const char *model_opt;
    apr_time_t now;             /* opts.now, 0 if not given */
    llm_emit_fn emit;           /* set for the duration of a call */
    void *baton;

    const char *id;
    const char *model;
    apr_int64_t created;
    apr_time_t t0;              /* creation */
    apr_time_t t_first;         /* first content, 0 before */
    int started, done, errored, failed, ended;
    const char *err_type;
    const char *err_message;
    const char *finish;         /* NULL until FINISH */
    llm_usage_t usage;
    apr_array_header_t *items;  /* llm_enc_item_t * */
    int ntools;

    /* wire state: Responses' sequence_number, Anthropic's open block,
     * Ollama's "tool calls written" */
    int seq;
    int open_block;
    int tools_flushed;
};

apr_status_t llm_enc_write(llm_encoder_t *e, const char *buf,
                           apr_size_t len);
apr_status_t llm_enc_sse(llm_encoder_t *e, const char *event,
                         json_object *obj);
apr_status_t llm_enc_line(llm_encoder_t *e, json_object *obj);
apr_status_t llm_enc_json(llm_encoder_t *e, json_object *obj);
const char *llm_enc_text(llm_encoder_t *e, llm_item_kind_e kind,
                         apr_size_t *len);
json_object *llm_enc_openai_error(const char *type, const char *message);
apr_int64_t llm_enc_count(apr_int64_t n);
#endif /* LLM_EVENT_PRIVATE */

#endif /* LLM_EVENT_H */
