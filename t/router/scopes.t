# Configuration per VirtualHost and per Location, with a real merge.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use lib 't/lib';
use LLMTest;

plan tests => 20, need_module 'llm_router', 'proxy_http';

# Gateway B: its own models file and prefix.
Apache::TestRequest::module('gateway_b');
my $d = json_of(GET '/v1/models');
ok join(',', map { $_->{id} } @{ $d->{data} }) eq 'b-only';
ok GET('/v2x/ping')->code == 200;
ok GET('/api/ping')->code == 404;    # the default prefix is not B's
# httpd's own auth on a route: its refusals are JSON too.
my $res = post_json('/v2x/chat/completions', chat_body('b-only'));
is_error($res, 401, 'unauthorized', 'AuthType Basic without credentials');
ok(($res->header('WWW-Authenticate') // '') =~ /^Basic realm="gateway B"/);
is_error(post_json('/v2x/embeddings', { model => 'b-only', input => 'a' }),
         403, 'forbidden', 'Require all denied');
$d = json_of(post_json('/v2x/chat/completions', chat_body('b-only'),
                       'X-Mock-Echo' => 1,
                       'Authorization' => 'Basic YWxpY2U6d29uZGVybGFuZA=='));
ok $d->{uri} eq '/p=b1/v1/chat/completions' or diag jdump($d);
# The client's credential for the gateway reaches the provider in no form
# (B's providers have no token of their own: no credential at all).
ok !grep { /^(?:authorization|proxy-authorization|x-api-key|api-key|cookie)$/i }
    keys %{ $d->{headers} } or diag jdump($d->{headers});
# LimitRequestBody (100000 here) is httpd's; its 413 is JSON as well.
is_error(post_json('/v1/completions', { model => 'b-only',
                                        prompt => 'x' x 150_000 }),
         413, 'request_too_large', 'over LimitRequestBody');
is_error(post_json('/v1/chat/completions', chat_body('mock-chat')), 404,
         'model_not_found', 'gateway A\'s model is unknown on B');

# Gateway A does not know B's model.
Apache::TestRequest::module('default');
is_error(post_json('/v1/chat/completions', chat_body('b-only')), 404,
         'model_not_found', 'B\'s model is unknown on A');
ok post_json('/v1/chat/completions', chat_body('mock-chat'))->code == 200;

# A Location overrides the body limit and keeps the rest (models,
# timeout) from the server.
my $small = chat_body('mock-chat', pad => 'x' x 700);
ok post_json('/small/chat/completions', $small)->code == 200;
is_error(post_json('/small/chat/completions',
                   chat_body('mock-chat', pad => 'x' x 1100)),
         413, 'request_too_large', '1K limit in <Location /small>');
ok post_json('/v1/chat/completions',
             chat_body('mock-chat', pad => 'x' x 1100))->code == 200;
# A Location with its own models file and prefix, inside gateway A.
$d = json_of(post_json('/team-c/chat/completions', chat_body('b-only'),
                       'X-Mock-Echo' => 1));
ok $d && $d->{uri} eq '/p=b1/v1/chat/completions';
is_error(post_json('/team-c/chat/completions', chat_body('mock-chat')), 404,
         'model_not_found', 'gateway A\'s models are not /team-c\'s');
# A Location with LLMRouter Off is not the gateway's.
$res = post_json('/noprefix-off/chat/completions', chat_body('mock-chat'));
ok $res->code == 404 && $res->content !~ /"error"/;
# An Alias claims its URI before the gateway does.
$res = GET '/api/static/index.html';
ok $res->code == 200 && $res->content =~ /welcome/;
# The /quick Location changed only the timeout: the prefix is its own.
ok post_json('/quick/chat/completions', chat_body('mock-chat'))->code == 200;
