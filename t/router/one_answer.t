# One request, one answer (issue 11): every error response, on every
# route family, for models with one provider and with several of
# different api types, is exactly one JSON document in the client's
# dialect, and the access log's err= field names its cause.
#
# What this guards against: a request refused while it was put in a
# provider's dialect (400/422, answered at once) was taken for a failed
# provider, because the attempt's "failed" had the value of httpd's DONE.
# The next provider was tried and its answer appended: a 502 with two or
# three JSON bodies and err=upstream_failed, or a 200 whose body was a
# 422 error followed by the completion.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use JSON::PP;
use lib 't/lib';
use LLMTest;

my $J = JSON::PP->new->canonical->utf8;
my $ant = { 'anthropic-version' => '2023-06-01' };

sub msgs { [{ role => 'user', content => shift // 'Hello' }] }

my $image_url = [{ type => 'image_url',
                   image_url => { url => 'http://example.com/cat.png' } }];
my $audio = [{ type => 'input_audio',
               input_audio => { data => 'AAAA', format => 'wav' } }];

# [name, dialect, path, body (a string goes as it is), headers, status,
#  err= in the access log ('-': the provider's own answer, passed on),
#  attempts= (undef: not checked)]
my @cases = (
    # --- OpenAI chat ------------------------------------------------------
    ['chat: malformed JSON', 'openai', '/v1/chat/completions',
     '{"model": "mock-chat",', {}, 400, 'invalid_json'],
    ['chat: unknown model', 'openai', '/v1/chat/completions',
     chat_body('no-such-model'), {}, 404, 'model_not_found'],
    ['chat: GET', 'openai', '/v1/chat/completions', undef, {}, 405,
     'method_not_allowed'],
    ['chat: text/plain', 'openai', '/v1/chat/completions', '{}',
     { 'Content-Type' => 'text/plain' }, 415, 'unsupported_media_type'],
    ['chat: audio for Anthropic (one provider)', 'openai',
     '/v1/chat/completions', { model => 'claude-chat',
                               messages => msgs($audio) }, {},
     422, 'unsupported_content', 1],
    ['chat: image URL for Ollama (Ollama, vLLM, Anthropic)', 'openai',
     '/v1/chat/completions', { model => 'mixed-chat',
                               messages => msgs($image_url) }, {},
     422, 'unsupported_content', 1],
    ['chat: the same, streamed', 'openai', '/v1/chat/completions',
     { model => 'mixed-chat', messages => msgs($image_url),
       stream => JSON::PP::true }, {}, 422, 'unsupported_content', 1],
    ['chat: provider unreachable (one)', 'openai', '/v1/chat/completions',
     chat_body('gone-one'), {}, 502, 'upstream_unreachable', 1],
    ['chat: both providers reset (vLLM, Ollama)', 'openai',
     '/v1/chat/completions', chat_body('reset-two'), {}, 502,
     'upstream_failed', 2],
    ['chat: provider silent', 'openai', '/quick/chat/completions',
     chat_body('hang-one'), {}, 504, 'upstream_timeout', 1],
    ['chat: provider 400, same dialect', 'openai', '/v1/chat/completions',
     chat_body('mock-chat'), { 'X-Mock-Status' => 400 }, 400, '-', 1],
    ['chat: provider 400, translated', 'openai', '/v1/chat/completions',
     chat_body('claude-chat'), { 'X-Mock-Status' => 400 }, 400, '-', 1],
    ['chat: every provider 500 (Ollama, vLLM, Anthropic)', 'openai',
     '/v1/chat/completions', chat_body('mixed-chat'),
     { 'X-Mock-Status' => 500 }, 500, '-', 3],

    # --- OpenAI completions -----------------------------------------------
    ['completions: no prompt', 'openai', '/v1/completions',
     { model => 'mock-chat' }, {}, 400, 'missing_required_parameter'],
    ['completions: prompts for Ollama (one provider)', 'openai',
     '/v1/completions', { model => 'ollama-chat', prompt => ['a', 'b'] },
     {}, 422, 'unsupported_content', 1],
    ['completions: prompts for Ollama (Ollama, vLLM, Anthropic)', 'openai',
     '/v1/completions', { model => 'mixed-chat', prompt => ['a', 'b'] },
     {}, 422, 'unsupported_content', 1],
    ['completions: provider unreachable', 'openai', '/v1/completions',
     { model => 'gone-three', prompt => 'Once' }, {}, 502,
     'upstream_unreachable', 1],

    # --- OpenAI embeddings ------------------------------------------------
    ['embeddings: no input', 'openai', '/v1/embeddings',
     { model => 'mock-embed' }, {}, 400, 'missing_required_parameter'],
    ['embeddings: no provider serves them', 'openai', '/v1/embeddings',
     { model => 'anthropic-only', input => 'x' }, {}, 503,
     'no_provider_available'],
    ['embeddings: both providers 500 (Ollama, LM Studio)', 'openai',
     '/v1/embeddings', { model => 'mixed-embed', input => 'x' },
     { 'X-Mock-Status' => 500 }, 500, '-', 2],
    ['embeddings: provider 400, translated', 'openai', '/v1/embeddings',
     { model => 'ollama-embed', input => 'x' }, { 'X-Mock-Status' => 400 },
     400, '-', 1],

    # --- OpenAI responses -------------------------------------------------
    ['responses: a number as input', 'openai', '/v1/responses',
     { model => 'mock-chat', input => 5 }, {}, 400, 'invalid_type'],
    ['responses: state for Ollama (one provider)', 'openai', '/v1/responses',
     { model => 'ollama-chat', input => 'Hi',
       previous_response_id => 'resp_1' }, {}, 422, 'unsupported_content', 1],
    ['responses: state for Ollama (Ollama, vLLM, Anthropic)', 'openai',
     '/v1/responses', { model => 'mixed-chat', input => 'Hi',
                        previous_response_id => 'resp_1' }, {},
     422, 'unsupported_content', 1],
    ['responses: providers unreachable (Ollama, Anthropic)', 'openai',
     '/v1/responses', { model => 'gone-two', input => 'Hi' }, {}, 502,
     'upstream_unreachable', 2],

    # --- Anthropic messages -----------------------------------------------
    ['messages: a number as content (two vLLM)', 'anthropic', '/v1/messages',
     { model => 'mock-chat', max_tokens => 8, messages => msgs([1]) }, $ant,
     422, 'unsupported_content', 1],
    ['messages: the same, streamed', 'anthropic', '/v1/messages',
     { model => 'mock-chat', max_tokens => 8, messages => msgs([1]),
       stream => JSON::PP::true }, $ant, 422, 'unsupported_content', 1],
    ['messages: the same (Ollama, vLLM, Anthropic)', 'anthropic',
     '/v1/messages', { model => 'mixed-chat', max_tokens => 8,
                       messages => msgs([1]) }, $ant,
     422, 'unsupported_content', 1],
    ['messages: the same (one vLLM)', 'anthropic', '/v1/messages',
     { model => 'vllm-tools', max_tokens => 8, messages => msgs([1]) },
     $ant, 422, 'unsupported_content', 1],
    ['messages: no max_tokens', 'anthropic', '/v1/messages',
     { model => 'mock-chat', messages => msgs() }, $ant, 400,
     'missing_required_parameter'],
    ['messages: unknown model', 'anthropic', '/v1/messages',
     { model => 'no-such-model', max_tokens => 8, messages => msgs() },
     $ant, 404, 'model_not_found'],
    ['messages: provider 400, translated', 'anthropic', '/v1/messages',
     { model => 'vllm-tools', max_tokens => 8, messages => msgs() },
     { %$ant, 'X-Mock-Status' => 400 }, 400, '-', 1],
    ['messages: providers unreachable (Ollama, Anthropic)', 'anthropic',
     '/v1/messages', { model => 'gone-two', max_tokens => 8,
                       messages => msgs() }, $ant,
     502, 'upstream_unreachable', 2],

    # --- Ollama chat ------------------------------------------------------
    ['ollama chat: malformed JSON', 'ollama', '/api/chat', '{"model":', {},
     400, 'invalid_json'],
    ['ollama chat: a format for vLLM (one provider)', 'ollama', '/api/chat',
     { model => 'vllm-tools', messages => msgs(), format => 'xml',
       stream => JSON::PP::false }, {}, 422, 'unsupported_content', 1],
    ['ollama chat: a format for vLLM (vLLM, Ollama)', 'ollama', '/api/chat',
     { model => 'mixed-chat-vllm-first', messages => msgs(),
       format => 'xml', stream => JSON::PP::false }, {},
     422, 'unsupported_content', 1],
    ['ollama chat: the same, streamed', 'ollama', '/api/chat',
     { model => 'mixed-chat-vllm-first', messages => msgs(),
       format => 'xml' }, {}, 422, 'unsupported_content', 1],
    ['ollama chat: provider unreachable', 'ollama', '/api/chat',
     { model => 'gone-one', messages => msgs(), stream => JSON::PP::false },
     {}, 502, 'upstream_unreachable', 1],
    # (A model's only provider gets a second try after a 5xx.)
    ['ollama chat: provider 500, same dialect', 'ollama', '/api/chat',
     { model => 'ollama-chat', messages => msgs(),
       stream => JSON::PP::false }, { 'X-Mock-Status' => 500 }, 500, '-', 2],

    # --- Ollama generate --------------------------------------------------
    ['ollama generate: a context for vLLM (vLLM, Ollama)', 'ollama',
     '/api/generate', { model => 'mixed-chat-vllm-first', prompt => 'Hi',
                        context => [1, 2], stream => JSON::PP::false }, {},
     422, 'unsupported_content', 1],
    ['ollama generate: a context for vLLM (two vLLM)', 'ollama',
     '/api/generate', { model => 'mock-chat', prompt => 'Hi',
                        context => [1, 2], stream => JSON::PP::false }, {},
     422, 'unsupported_content', 1],
    ['ollama generate: unknown model', 'ollama', '/api/generate',
     { model => 'no-such-model', prompt => 'Hi' }, {}, 404,
     'model_not_found'],
    ['ollama generate: both providers 503, translated', 'ollama',
     '/api/generate', { model => 'mock-chat', prompt => 'Hi',
                        stream => JSON::PP::false },
     { 'X-Mock-Status' => 503 }, 503, '-', 2],

    # --- Ollama embed -----------------------------------------------------
    ['ollama embed: a number as input', 'ollama', '/api/embed',
     { model => 'mixed-embed', input => 5 }, {}, 400, 'invalid_type'],
    ['ollama embed: both providers 500 (Ollama, LM Studio)', 'ollama',
     '/api/embed', { model => 'mixed-embed', input => 'x' },
     { 'X-Mock-Status' => 500 }, 500, '-', 2],

    # --- Built-ins --------------------------------------------------------
    ['built-in: a field missing', 'openai', '/api/conversation_with_model',
     { model_name => 'mock-chat' }, {}, 400, 'missing_required_parameter'],
    ['built-in: unknown model', 'openai', '/api/translate',
     { model_name => 'no-such-model', texts => ['a'] }, {}, 404,
     'model_not_found'],
    ['built-in: provider unreachable', 'openai',
     '/api/conversation_with_model',
     { model_name => 'gone-three', user_last_statement => 'Hi',
       language => 'en' }, {}, 502, 'upstream_unreachable', 1],
    ['built-in: provider 500 (one)', 'openai', '/api/conversation_with_model',
     { model_name => 'mock-tools', user_last_statement => 'Hi',
       language => 'en' }, { 'X-Mock-Status' => 500 }, 500,
     'upstream_error', 2],
    ['built-in: every provider 429 (Ollama, vLLM, Anthropic)', 'openai',
     '/api/translate', { model_name => 'mixed-chat', texts => ['a', 'b'] },
     { 'X-Mock-Status' => 429 }, 429, 'upstream_error', 3],

    # --- Routes and httpd's own refusals ----------------------------------
    ['unknown route', 'openai', '/v1/nothing-here', undef, {}, 404,
     'unknown_route'],
    ['unknown route under the prefix', 'ollama', '/api/nothing-here', undef,
     {}, 404, 'unknown_route'],
);

# Gateway B's routes: httpd's refusals (auth, LimitRequestBody).
my @gateway_b = (
    ['gateway B: no credentials', 'openai', '/v2x/chat/completions',
     chat_body('b-only'), {}, 401, 'unauthorized'],
    ['gateway B: a route denied', 'openai', '/v2x/embeddings',
     { model => 'b-only', input => 'x' }, {}, 403, 'forbidden'],
);

# A guarded gateway's refusals, of the request and of the answer
# (mod_llm_mask's guard, when it is there).
my $forbidden = { 'X-Mock-Content' => 'All about plutonium.' };
my @guarded = !have_module('llm_mask') ? () : (
    ['guard: the request (OpenAI)', 'openai', '/v1/chat/completions',
     chat_body('mock-chat', messages => msgs('Tell me about plutonium.')),
     {}, 403, 'content_blocked'],
    ['guard: the request (Ollama)', 'ollama', '/api/chat',
     { model => 'ollama-chat', messages => msgs('Plutonium, please.') }, {},
     403, 'content_blocked'],
    ['guard: the answer (OpenAI, same dialect)', 'openai',
     '/v1/chat/completions', chat_body('mock-chat'), $forbidden, 403,
     'content_blocked', 1],
    ['guard: the answer (Anthropic, translated)', 'anthropic',
     '/v1/messages', { model => 'mixed-chat', max_tokens => 8,
                       messages => msgs() }, { %$ant, %$forbidden }, 403,
     'content_blocked', 1],
);

plan tests => 3 * (@cases + @gateway_b + @guarded),
    need_module 'llm_router', 'llm_balance', 'proxy_http';

# The shape of an error in each dialect.
sub in_dialect {
    my ($d, $dialect) = @_;
    return 0 unless ref $d eq 'HASH';
    if ($dialect eq 'anthropic') {
        return ($d->{type} // '') eq 'error' && ref $d->{error} eq 'HASH'
            && length($d->{error}{type} // '')
            && length($d->{error}{message} // '');
    }
    if ($dialect eq 'ollama') {
        return defined $d->{error} && !ref $d->{error}
            && length $d->{error};
    }
    return ref $d->{error} eq 'HASH'
        && length($d->{error}{message} // '')
        && length($d->{error}{type} // '')
        && exists $d->{error}{param} && exists $d->{error}{code};
}

my $n = 0;
sub check {
    my ($name, $dialect, $path, $body, $hdr, $status, $err, $attempts) = @_;
    my $tag = 'one-answer-' . ++$n;
    my $uri = "$path?case=$tag";
    my $res;

    if (!defined $body) {
        $res = GET($uri, %$hdr);
    }
    else {
        my %h = ('Content-Type' => 'application/json', %$hdr);
        $res = POST($uri, content => ref $body ? $J->encode($body) : $body,
                    %h);
    }
    ok $res->code == $status
        or diag "$name: status " . $res->code . ", not $status: "
                . $res->content;

    # Exactly one JSON document: JSON::PP's decode refuses anything after
    # the value but white space, so a second body fails here.
    my $d = json_of($res);
    ok(($res->header('Content-Type') // '') =~ m{^application/json}
       && in_dialect($d, $dialect)
       && ($dialect ne 'openai' || $err eq '-'
           || ($d->{error}{code} // '') eq $err))
        or diag "$name: not one $dialect error: "
                . ($res->header('Content-Type') // '-') . " "
                . $res->content;

    my $line = access_line_matching(qr{ \Q$path?case=$tag\E HTTP/});
    ok $line =~ qr{ \Q$status\E \d+ .*err=\Q$err\E }
       && (!defined $attempts || $line =~ / attempts=\Q$attempts\E /)
        or diag "$name: access log: $line";
}

check(@$_) for @cases;

Apache::TestRequest::module('gateway_b');
check(@$_) for @gateway_b;

Apache::TestRequest::module('guarded_gateway');
check(@$_) for @guarded;
