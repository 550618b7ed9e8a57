# The endpoints the gateway answers itself: ping, version, model lists.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use lib 't/lib';
use LLMTest;

plan tests => 15, need_module 'llm_router', 'proxy_http';

for my $path ('/ping', '/api/ping') {
    my $res = GET $path;
    ok $res->code == 200;
    ok $res->content eq qq({"body":"pong","status":true}\n)
        or diag $res->content;
}

for my $path ('/version', '/api/version') {
    my $d = json_of(GET $path);
    ok $d && $d->{version} =~ /^\d+\.\d+\.\d+$/;
}

my @active = ('flap-model', 'rl-short', 'rl-short-stream', 'rl-long',
              'rl-spare', 'one-500', 'one-500-ollama', 'always-500',
              'ctx-small', 'ctx-small-claude', 'ctx-only', 'ctx-big',
              'policy-model', 'fb-model', 'fb-target', 'gone-all',
              'gone-all-fb', 'slow-token', 'slow-ok', 'cont-model',
              'cont-anth', 'cont-half',
              'mixed-chat', 'mixed-chat-vllm-first', 'mixed-embed',
              'gone-one', 'gone-two', 'gone-three', 'reset-two', 'hang-one',
              'mock-chat', 'mock-tools', 'mock-embed', 'ollama-chat',
              'ollama-embed', 'claude-chat', 'vllm-tools', 'slow-model',
              'hang-model', 'reset-model', 'dead-model', 'anthropic-only',
              'sleepy-model', 'flaky-model', 'overloaded-model',
              'picky-model', 'silent-model', 'down-model',
              'ratelimit-model', 'broken-model', 'circuit-model',
              'recover-model', 'weighted-model', 'exclusive-model',
              'exclusive-one', 'status-dead');
for my $path ('/models', '/v1/models') {
    my $res = GET $path;
    my $d = json_of($res);
    ok $res->code == 200 && $d->{object} eq 'list';
    ok join(',', map { $_->{id} } @{ $d->{data} }) eq join(',', @active)
        or diag $res->content;
    ok !grep { !($_->{object} eq 'model' && $_->{created} =~ /^\d+$/
                 && $_->{owned_by}) } @{ $d->{data} };
}

my $res = HEAD '/v1/models';
ok $res->code == 200 && $res->content eq '';

is_error(POST('/v1/models', content => '{}'), 405, 'method_not_allowed',
         'POST on a GET route');
ok((POST('/v1/models', content => '{}'))->header('Allow') eq 'GET, HEAD');
