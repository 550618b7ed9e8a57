# Every client dialect against providers of another dialect, through the
# real httpd, mod_proxy and the mock upstreams (vLLM, Ollama, Anthropic):
# what the provider received (echo), what the client got, streamed and
# not, tool calls, errors in the client's own shape, a cut stream, and
# translated streams that still flow event by event.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use JSON::PP;
use Digest::SHA qw(sha1_hex);
use lib 't/lib';
use LLMTest;

plan tests => 70, need_module 'llm_router', 'proxy_http';

my $J = JSON::PP->new->utf8;
my $hello = 'Hello from the mock upstream.';

# The mock shows a credential as a hash of it, never the key itself.
sub redacted { 'redacted:sha1:' . substr(sha1_hex(shift), 0, 16) }

sub ndjson { [map { $J->decode($_) } grep { length } split /\n/, shift] }

# Named SSE events: [[event name or undef, data], ...]
sub sse {
    my @ev;
    for my $block (split /\n\n/, shift) {
        my ($name) = $block =~ /^event: (.*)$/m;
        my ($data) = $block =~ /^data: (.*)$/m;
        push @ev, [$name, $data] if defined $data;
    }
    return \@ev;
}

# What the provider received: the mock writes it to a file (record=) and
# answers as usual, since the gateway translates the answer.
my $recorded = 0;
sub echoed {
    my ($path, $body, @h) = @_;
    my $name = 'dialects-' . ++$recorded;
    my $file = Apache::Test::vars('serverroot') . "/logs/mock-$name.json";
    my $res = post_json($path, $body, 'X-Mock-Record' => $name, @h);
    my $d = eval { local (@ARGV, $/) = ($file); $J->decode(<>) } // {};
    $d->{json} = eval { $J->decode($d->{body}) };
    $d->{status} = $res->code;
    return $d;
}

my $msgs = [{ role => 'system', content => 'Be brief.' },
            { role => 'user', content => 'Hi' }];

# --- Ollama clients ----------------------------------------------------------
# /api/chat to a vLLM provider: OpenAI chat upstream, stream said out loud.
my $e = echoed('/api/chat', { model => 'mock-chat', messages => $msgs,
                              options => { temperature => 0.1, num_predict => 9 } });
ok $e->{uri} =~ m{/v1/chat/completions$};
ok $e->{json}{model} eq 'served/mock-chat' && $e->{json}{stream}
    && $e->{json}{max_tokens} == 9 && $e->{json}{temperature} == 0.1
    or diag $e->{body};

# Streamed by default (Ollama's default), NDJSON, done line with counts.
my $s = stream_request('/api/chat', $J->encode({ model => 'mock-chat',
                                                 messages => $msgs }));
my $lines = ndjson($s->{data});
ok $s->{head} =~ m{^Content-Type: application/x-ndjson}mi or diag $s->{head};
ok join('', map { $_->{message}{content} } @$lines) eq $hello;
ok $lines->[-1]{done} && $lines->[-1]{done_reason} eq 'stop'
    && $lines->[-1]{eval_count} == 3 && !grep { $_->{done} } @$lines[0 .. $#$lines - 1];
ok $lines->[0]{model} eq 'mock-chat';     # the client's name, not model_path

# Not streamed: one object.
my $d = json_of(post_json('/api/chat', { model => 'mock-chat', stream => JSON::PP::false,
                                         messages => $msgs }));
ok $d->{done} && $d->{message}{role} eq 'assistant' && $d->{message}{content} eq $hello;

# /api/chat to an Anthropic provider: /v1/messages, its headers, system.
$e = echoed('/api/chat', { model => 'claude-chat', stream => JSON::PP::false,
                           messages => $msgs });
ok $e->{uri} =~ m{/p=claude/.*/v1/messages$} or diag $e->{uri};
ok $e->{headers}{'x-api-key'} eq redacted('sk-ant-test')
    && $e->{headers}{'anthropic-version'} eq '2023-06-01'
    && !exists $e->{headers}{Authorization} or diag jdump($e->{headers});
ok $e->{json}{system} eq 'Be brief.' && $e->{json}{max_tokens} > 0
    && $e->{json}{model} eq 'claude-sonnet-4-5'
    && $e->{json}{messages}[0]{role} eq 'user' or diag $e->{body};
$d = json_of(post_json('/api/chat', { model => 'claude-chat', stream => JSON::PP::false,
                                      messages => $msgs }));
ok $d->{message}{content} eq $hello && $d->{done_reason} eq 'stop';

# /api/generate to vLLM (completion op: chat upstream), streamed.
$s = stream_request('/api/generate', $J->encode({ model => 'mock-chat', prompt => 'Hi' }));
$lines = ndjson($s->{data});
ok join('', map { $_->{response} // '' } @$lines) eq $hello && $lines->[-1]{done};

# Tool calls from a vLLM provider reach an Ollama client as objects.
$d = json_of(post_json('/api/chat', { model => 'vllm-tools', stream => JSON::PP::false,
    messages => $msgs, tools => [{ type => 'function', function => {
        name => 'get_weather', parameters => { type => 'object' } } }] },
    'X-Mock-Tool' => 'get_weather'));
ok $d->{message}{tool_calls}[0]{function}{name} eq 'get_weather'
    && ref $d->{message}{tool_calls}[0]{function}{arguments} eq 'HASH'
    or diag jdump($d);

# Embeddings: /api/embed served by an OpenAI-dialect provider, and the
# legacy /api/embeddings.
$d = json_of(post_json('/api/embed', { model => 'mock-embed', input => ['a', 'b'] }));
ok ref $d->{embeddings} eq 'ARRAY' && @{ $d->{embeddings} } == 2
    && $d->{model} eq 'mock-embed' or diag jdump($d);
$d = json_of(post_json('/api/embeddings', { model => 'mock-embed', prompt => 'a' }));
ok ref $d->{embedding} eq 'ARRAY' && @{ $d->{embedding} } > 0;

# Errors in Ollama's shape.
my $res = post_json('/api/chat', { model => 'nope', messages => $msgs });
$d = json_of($res);
ok $res->code == 404 && !ref $d->{error} && $d->{error} =~ /nope/;

# --- Anthropic clients -------------------------------------------------------
my $amsg = { model => 'mock-chat', max_tokens => 64, system => 'Be brief.',
             messages => [{ role => 'user', content => 'Hi' }] };
$e = echoed('/v1/messages', $amsg);
ok $e->{uri} =~ m{/v1/chat/completions$}
    && $e->{json}{messages}[0]{role} eq 'system'
    && $e->{json}{messages}[0]{content} eq 'Be brief.'
    && $e->{json}{max_tokens} == 64 or diag $e->{body};
$d = json_of(post_json('/v1/messages', $amsg));
ok $d->{type} eq 'message' && $d->{role} eq 'assistant'
    && $d->{content}[0]{type} eq 'text' && $d->{content}[0]{text} eq $hello
    && $d->{stop_reason} eq 'end_turn' && $d->{usage}{output_tokens} == 3
    && $d->{model} eq 'mock-chat' or diag jdump($d);

# Streamed from an Ollama provider: Anthropic's named events in order.
$s = stream_request('/v1/messages', $J->encode({ %$amsg, model => 'ollama-chat',
                                                 stream => JSON::PP::true }));
my $ev = sse($s->{data});
my @names = map { $_->[0] } @$ev;
ok "@names" =~ /^message_start (ping )?content_block_start (content_block_delta )+content_block_stop message_delta message_stop$/
    or diag "@names";
ok join('', map { $J->decode($_->[1])->{delta}{text} // '' }
        grep { $_->[0] eq 'content_block_delta' } @$ev) eq $hello;
ok $s->{head} =~ m{^Content-Type: text/event-stream}mi;

# To an Ollama provider: /api/chat with stream said out loud.
$e = echoed('/v1/messages', { %$amsg, model => 'ollama-chat' });
ok $e->{uri} =~ m{/p=ollama/api/chat$} && $e->{json}{stream} == 0
    && exists $e->{json}{stream} && $e->{json}{model} eq 'llama3.2:1b'
    && $e->{json}{options}{num_predict} == 64 or diag $e->{uri}, $e->{body};

# Tool use from Ollama: a tool_use block with an object input.
$d = json_of(post_json('/v1/messages', { %$amsg, model => 'ollama-chat',
    tools => [{ name => 'get_weather', input_schema => { type => 'object' } }] },
    'X-Mock-Tool' => 'get_weather'));
my ($tu) = grep { $_->{type} eq 'tool_use' } @{ $d->{content} // [] };
ok $tu && $tu->{name} eq 'get_weather' && ref $tu->{input} eq 'HASH'
    && $d->{stop_reason} eq 'tool_use' or diag jdump($d);

# Same dialect: straight through (x-api-key from the gateway's config).
$d = json_of(post_json('/v1/messages', { %$amsg, model => 'claude-chat' }));
ok $d->{content}[0]{text} eq $hello && $d->{id} =~ /^msg_/;

# Errors in Anthropic's shape.
$res = post_json('/v1/messages', { %$amsg, model => 'nope' });
$d = json_of($res);
ok $res->code == 404 && $d->{type} eq 'error' && $d->{error}{type} eq 'not_found_error'
    or diag $res->content;
$res = post_json('/v1/messages', { model => 'mock-chat', messages => $amsg->{messages} });
$d = json_of($res);
ok $res->code == 400 && $d->{error}{type} eq 'invalid_request_error'
    && $d->{error}{message} =~ /max_tokens/ or diag $res->content;

# --- OpenAI clients ----------------------------------------------------------
# To Ollama: /api/chat upstream; streamed answer as OpenAI SSE with usage.
$e = echoed('/v1/chat/completions', chat_body('ollama-chat', max_tokens => 5));
ok $e->{uri} =~ m{/api/chat$} && $e->{json}{options}{num_predict} == 5;
$s = stream_request('/v1/chat/completions', $J->encode(chat_body('ollama-chat',
    stream => JSON::PP::true, stream_options => { include_usage => JSON::PP::true })));
$ev = sse($s->{data});
ok $ev->[-1][1] eq '[DONE]';
my @chunks = map { $J->decode($_->[1]) } @$ev[0 .. $#$ev - 1];
ok join('', map { $_->{choices}[0]{delta}{content} // '' } @chunks) eq $hello;
ok((grep { $_->{usage} && $_->{usage}{completion_tokens} } @chunks) == 1);
ok $chunks[0]{object} eq 'chat.completion.chunk' && $chunks[0]{model} eq 'ollama-chat';

# To Anthropic: tool calls come back as OpenAI tool_calls.
$d = json_of(post_json('/v1/chat/completions', chat_body('claude-chat',
    tools => [{ type => 'function', function => { name => 'get_weather',
                                                  parameters => { type => 'object' } } }]),
    'X-Mock-Tool' => 'get_weather'));
my $tc = $d->{choices}[0]{message}{tool_calls}[0];
ok $tc && $tc->{function}{name} eq 'get_weather' && !ref $tc->{function}{arguments}
    && ref $J->decode($tc->{function}{arguments}) eq 'HASH'
    && $d->{choices}[0]{finish_reason} eq 'tool_calls' or diag jdump($d);

# The provider's own 4xx, in the client's shape and status.
$res = post_json('/v1/chat/completions', chat_body('claude-chat'), 'X-Mock-Status' => 400);
$d = json_of($res);
ok $res->code == 400 && ref $d->{error} eq 'HASH' && length $d->{error}{message}
    or diag $res->content;

# Embeddings from Ollama, as OpenAI's list.
$d = json_of(post_json('/v1/embeddings', { model => 'ollama-embed', input => 'a' }));
ok $d->{object} eq 'list' && $d->{data}[0]{object} eq 'embedding'
    && ref $d->{data}[0]{embedding} eq 'ARRAY' or diag jdump($d);

# Legacy completions to Ollama: /api/generate.
$e = echoed('/v1/completions', { model => 'ollama-chat', prompt => 'Once' });
ok $e->{uri} =~ m{/api/generate$} && $e->{json}{prompt} =~ /Once/;
$d = json_of(post_json('/v1/completions', { model => 'ollama-chat', prompt => 'Once' }));
ok $d->{object} eq 'text_completion' && $d->{choices}[0]{text} eq $hello;

# --- Responses clients -------------------------------------------------------
$d = json_of(post_json('/v1/responses', { model => 'ollama-chat', input => 'Hi',
                                          instructions => 'Be brief.' }));
ok $d->{object} eq 'response' && $d->{status} eq 'completed'
    && $d->{output}[-1]{content}[0]{text} eq $hello or diag jdump($d);
$s = stream_request('/v1/responses', $J->encode({ model => 'claude-chat', input => 'Hi',
                                                  stream => JSON::PP::true }));
$ev = sse($s->{data});
ok $ev->[0][0] eq 'response.created' && $ev->[-1][0] eq 'response.completed'
    or diag join ' ', map { $_->[0] } @$ev;
ok join('', map { $J->decode($_->[1])->{delta} }
        grep { $_->[0] eq 'response.output_text.delta' } @$ev) eq $hello;

# --- LM Studio clients -------------------------------------------------------
$d = json_of(post_json('/api/v0/chat/completions', chat_body('ollama-chat')));
ok $d->{choices}[0]{message}{content} eq $hello && $d->{object} eq 'chat.completion';
$d = json_of(GET '/api/v0/models');
ok $d->{object} eq 'list' && grep { $_->{id} eq 'ollama-chat' } @{ $d->{data} };

# --- Info routes -------------------------------------------------------------
$res = GET '/';
ok $res->code == 200 && $res->content eq 'Ollama is running';
$d = json_of(GET '/api/tags');
ok((grep { $_->{name} eq 'claude-chat' && $_->{model} eq 'claude-chat' } @{ $d->{models} }) == 1
    && !grep { exists $_->{host} } @{ $d->{models} });
$d = json_of(post_json('/api/show', { model => 'mock-chat' }));
ok ref $d->{details} eq 'HASH' && ref $d->{capabilities} eq 'ARRAY';
$res = post_json('/api/show', { model => 'nope' });
ok $res->code == 404 && !ref json_of($res)->{error};
$d = json_of(post_json('/api/show', { model => 'vllm-tools' }));
ok join(',', @{ $d->{capabilities} }) eq 'completion,tools';
$d = json_of(GET '/api/ps');
ok ref $d->{models} eq 'ARRAY';
$res = POST '/api/pull', content => '{"model":"x"}';
ok $res->code == 404 && !ref json_of($res)->{error} or diag $res->content;
# Ollama's clients (and curl -d) send no JSON type: Ollama routes take it.
$res = POST '/api/embeddings', content => '{"model":"mock-embed","prompt":"a"}';
ok $res->code == 200 && ref json_of($res)->{embedding} eq 'ARRAY';

# One model: OpenAI's object, Anthropic's with anthropic-version.
$d = json_of(GET '/v1/models/ollama-chat');
ok $d->{id} eq 'ollama-chat' && $d->{object} eq 'model' && $d->{owned_by} eq 'ollama';
$d = json_of(GET '/v1/models/claude-chat', 'anthropic-version' => '2023-06-01');
ok $d->{type} eq 'model' && $d->{id} eq 'claude-chat' && $d->{created_at} =~ /Z$/;
$res = GET '/v1/models/nope', 'anthropic-version' => '2023-06-01';
ok $res->code == 404 && json_of($res)->{error}{type} eq 'not_found_error';

# --- Cut and broken streams end in the client's own error form ---------------
$s = stream_request('/api/chat', $J->encode({ model => 'mock-chat', messages => $msgs }),
                    'X-Mock-Drop-After' => 1);
$lines = ndjson($s->{data});
ok !grep({ $_->{done} } @$lines) && exists $lines->[-1]{error} or diag $s->{data};
$s = stream_request('/v1/messages', $J->encode({ %$amsg, stream => JSON::PP::true }),
                    'X-Mock-Drop-After' => 1);
$ev = sse($s->{data});
ok $ev->[-1][0] eq 'error' && !grep { $_->[0] eq 'message_stop' } @$ev
    or diag $s->{data};
$s = stream_request('/v1/chat/completions', $J->encode(chat_body('ollama-chat',
    stream => JSON::PP::true)), 'X-Mock-Stream-Error' => 1);
$ev = sse($s->{data});
ok $ev->[-1][1] ne '[DONE]' && $J->decode($ev->[-1][1])->{error}{message}
    or diag $s->{data};

# --- Translated streams flow: 4 events 250 ms apart arrive 250 ms apart ------
for my $case (['/api/chat', { model => 'mock-chat', messages => $msgs }],
              ['/v1/messages', { %$amsg, model => 'ollama-chat', stream => JSON::PP::true }],
              ['/v1/chat/completions', chat_body('claude-chat', stream => JSON::PP::true)]) {
    $s = stream_request($case->[0], $J->encode($case->[1]),
                        'X-Mock-Chunks' => 4, 'X-Mock-Delay' => 250,
                        'X-Mock-Content' => 'AAAABBBBCCCCDDDD');
    my @t;
    for my $mark (qw(AAAA BBBB CCCC DDDD)) {
        my ($p) = grep { index($_->[0], $mark) >= 0 } @{ $s->{pieces} };
        push @t, $p->[1] if $p;
    }
    my @gaps = map { ($t[$_] - $t[$_ - 1]) / 1000 } 1 .. $#t;
    ok @t == 4 && !grep { $_ < 150 } @gaps
        or diag "$case->[0]: gaps (ms) @gaps over " . scalar(@t) . " pieces";
}

# --- Built-in endpoints ------------------------------------------------------
$e = echoed('/api/conversation_with_model', { model_name => 'mock-chat',
    user_last_statement => 'Hi', language => 'en',
    historical_messages => [{ user => 'q1', assistant => 'a1' }] });
ok $e->{uri} =~ m{/v1/chat/completions$} or diag $e->{uri};
$d = json_of(post_json('/api/conversation_with_model', { model_name => 'mock-chat',
    user_last_statement => 'Hi', language => 'en' }));
ok $d->{response} eq $hello && $d->{generation_time} >= 0 or diag jdump($d);
$d = json_of(post_json('/api/translate', { model_name => 'ollama-chat',
                                           texts => ['one', 'two'] }));
ok ref $d->{response} eq 'ARRAY' && @{ $d->{response} } == 2
    && $d->{response}[1]{original} eq 'two'
    && $d->{response}[1]{translated} eq $hello or diag jdump($d);
$res = post_json('/api/translate', { model_name => 'mock-chat', texts => ['x'],
                                     language => 'de' });
ok $res->code == 400 && json_of($res)->{error}{param} eq 'language' or diag $res->content;
$d = json_of(post_json('/api/generate_questions', { model_name => 'mock-chat',
    texts => ['A text.'], number_of_questions => 2 },
    'X-Mock-Content' => '1. Why is the sky blue?'));
ok $d->{response}[0]{text} eq 'A text.'
    && $d->{response}[0]{questions}[0] eq 'Why is the sky blue?' or diag jdump($d);
$res = post_json('/api/simplify_text', { model_name => 'mock-chat' });
ok $res->code == 400 && json_of($res)->{error}{param} eq 'texts';

# --- Usage, normalised from every dialect, in the access log -----------------
# (%{llm-usage}n: prompt/completion/total; modules read ctx->usage)
access_line($_) for qw(vllm-tools mock-tools claude-chat ollama-chat);  # lines so far
post_json('/v1/chat/completions', chat_body('vllm-tools'));       # passthrough
ok access_line('vllm-tools') =~ m{usage=\d+/3/\d+ } or diag access_line('vllm-tools');
stream_request('/v1/chat/completions', $J->encode(chat_body('mock-tools',
    stream => JSON::PP::true, stream_options => { include_usage => JSON::PP::true })));
ok access_line('mock-tools') =~ m{usage=\d+/3/\d+ } or diag access_line('mock-tools');
post_json('/api/chat', { model => 'claude-chat', stream => JSON::PP::false,
                         messages => $msgs });                     # Anthropic's
ok access_line('claude-chat') =~ m{usage=\d+/3/\d+ } or diag access_line('claude-chat');
stream_request('/v1/messages', $J->encode({ %$amsg, model => 'ollama-chat',
                                            stream => JSON::PP::true }));  # Ollama's
ok access_line('ollama-chat') =~ m{usage=\d+/3/\d+ } or diag access_line('ollama-chat');

# A provider that streams whatever it is asked, or never does: the client
# still gets what it asked for (the events aggregated into one answer, or
# one answer split into a stream).
$res = post_json('/v1/chat/completions', chat_body('ollama-chat',
    stream => JSON::PP::false), 'X-Mock-Stream-Mode' => 'always',
    'X-Mock-Content' => 'one two three', 'X-Mock-Chunks' => 3);
my $whole = json_of($res);
ok $res->code == 200 && $res->header('Content-Type') =~ m{^application/json}
    && $whole->{choices}[0]{message}{content} eq 'one two three'
    && $whole->{choices}[0]{finish_reason} eq 'stop'
    or diag $res->content;
$s = stream_request('/v1/chat/completions', $J->encode(chat_body('ollama-chat',
    stream => JSON::PP::true)), 'X-Mock-Stream-Mode' => 'never',
    'X-Mock-Content' => 'one two three');
$ev = sse($s->{data});
my $streamed = join '', map { $_->[1] eq '[DONE]' ? ''
    : ($J->decode($_->[1])->{choices}[0]{delta}{content} // '') } @$ev;
ok $ev->[-1][1] eq "[DONE]" && $streamed eq "one two three"
    or diag $s->{data};
