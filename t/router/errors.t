# Every refusal is a JSON error with the right status, logged once with
# our tag; the server survives all of them.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

plan tests => 34, need_module 'llm_router', 'proxy_http';

my $chat = '/v1/chat/completions';
my $mark = error_log_mark();

# --- the client's mistakes -------------------------------------------
is_error(post_json($chat, '{"model": "mock-chat",'), 400, 'invalid_json',
         'malformed JSON');
is_error(post_json($chat, '["mock-chat"]'), 400, 'invalid_json',
         'JSON that is not an object');
is_error(post_json($chat, ''), 400, 'invalid_json', 'empty body');
my $d = is_error(post_json($chat, { messages => [] }), 400,
                 'missing_required_parameter', 'no model');
ok $d && $d->{error}{param} eq 'model';
$d = is_error(post_json($chat, { model => 'mock-chat' }), 400,
              'missing_required_parameter', 'no messages');
ok $d && $d->{error}{param} eq 'messages';
is_error(post_json($chat, chat_body('mock-chat', stream => 'yes')), 400,
         'invalid_type', 'stream not a boolean');
is_error(post_json('/v1/embeddings', { model => 'mock-embed' }), 400,
         'missing_required_parameter', 'embeddings without input');
$d = is_error(post_json($chat, chat_body('no-such-model')), 404,
              'model_not_found', 'unknown model');
ok $d && $d->{error}{message} =~ /'no-such-model'/;
is_error(post_json($chat, chat_body('not-active')), 404, 'model_not_found',
         'a model of the file that is not active');
is_error(GET('/v1/nothing-here'), 404, 'unknown_route', 'unknown /v1 route');
# Under the prefix (Ollama's /api): Ollama's error shape.
my $nh = GET('/api/nothing-here');
ok $nh->code == 404 && (json_of($nh) // {})->{error} =~ /no API route/
    or diag $nh->content;
my $res = GET $chat;
is_error($res, 405, 'method_not_allowed', 'GET on a POST route');
ok $res->header('Allow') eq 'POST';
is_error(POST($chat, content => '{}', 'Content-Type' => 'text/plain'),
         415, 'unsupported_media_type', 'text/plain body');
is_error(post_json('/small/chat/completions',
                   chat_body('mock-chat', pad => 'x' x 2000)),
         413, 'request_too_large', 'body over LLMRouterMaxBody (1K here)');

# --- the providers' failures -----------------------------------------
is_error(post_json($chat, chat_body('dead-model')), 502,
         'upstream_unreachable', 'provider refuses connections');
is_error(post_json($chat, chat_body('reset-model')), 502, 'upstream_failed',
         'provider resets the connection before answering');
my $t0 = time;
is_error(post_json('/quick/chat/completions', chat_body('hang-model')), 504,
         'upstream_timeout', 'provider never answers');
my $took = time - $t0;
ok $took >= 0.9 && $took < 2.5 or diag "timeout took $took s";
is_error(post_json('/quick/chat/completions', chat_body('slow-model')), 504,
         'upstream_timeout', 'first byte after LLMRouterTimeout (1s)');
ok post_json($chat, chat_body('slow-model'))->code == 200;  # 3s here
# Anthropic has no embeddings API: no provider of the model can serve.
$res = post_json('/v1/embeddings', { model => 'anthropic-only', input => 'x' });
is_error($res, 503, 'no_provider_available',
         'no provider serves the operation');
ok $res->header('Retry-After');
is_error(post_json($chat, chat_body('dead-model', stream => JSON::PP::true)),
         502, 'upstream_unreachable', 'a stream fails before its first byte');

# --- the log names each request and reason once -------------------------
my $log = error_log_since($mark);
ok $log =~ m{LLM01040: POST /v1/chat/completions: 404 model_not_found}
    or diag $log;
my @refused = $log =~ m{(LLM\d+: /v1/chat/completions: model dead-model, provider dead-1 .*)}g;
ok @refused == 2 or diag "dead-1 lines:\n" . join("\n", @refused);
ok $log =~ m{LLM01030: /quick/chat/completions: model hang-model, provider hang-1 .*timed out}
    && $log =~ m{LLM01011: /v1/embeddings: no provider of model anthropic-only};
ok $log !~ /AH0\d+.*(proxy|error reading)/i && $log !~ /Segmentation|exit signal/
    or diag $log;

ok GET('/ping')->code == 200;

# The routing decision and the error code are notes, for the access log.
open my $fh, '<', Apache::Test::vars('serverroot') . '/logs/llm_access_log';
my @access = <$fh>;
ok grep { m{"POST /v1/chat/completions HTTP/1\.1" 404 \d+ model=- provider=- err=model_not_found} } @access;
ok grep { m{"POST /v1/chat/completions HTTP/1\.1" 502 \d+ model=dead-model provider=dead-1 err=upstream_unreachable} } @access;
