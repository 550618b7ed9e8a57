# Fail-over before the first byte: a provider that cannot be reached,
# resets, stays silent or answers 429/5xx makes way for the next one of
# the same model, up to LLMRouterMaxAttempts; the client's own mistakes
# (4xx) are never retried.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

plan tests => 17, need_module 'llm_router', 'proxy_http';

my $chat = '/v1/chat/completions';
my @echo = ('X-Mock-Echo' => 1);
my $mark = error_log_mark();

# Refused, then reset, then served: the client sees only the answer.
my $res = post_json($chat, chat_body('flaky-model'), @echo);
my $d = json_of($res);
ok $res->code == 200 && $d->{uri} =~ m{^/p=ok/} or diag $res->content;
ok access_line('flaky-model') =~ /provider=flaky-ok err=- attempts=3 /;
my $log = error_log_since($mark);
ok $log =~ /provider flaky-dead .*connection refused.*; trying another provider/
    && $log =~ /provider flaky-reset .*reset.*; trying another provider/
    or diag $log;

# The same for a stream: the first byte comes from the provider that
# answers.
$res = post_json($chat, chat_body('flaky-model', stream => JSON::PP::true));
ok $res->code == 200 && $res->content =~ /data: \[DONE\]\n\n$/
    && access_line('flaky-model') =~ /provider=flaky-ok .*attempts=3 /;

# 503 + Retry-After from one provider: another one serves; nothing of the
# withheld answer reaches the client.
$res = post_json($chat, chat_body('overloaded-model'), @echo);
$d = json_of($res);
ok $res->code == 200 && $d->{uri} =~ m{^/p=spare/};
ok !defined $res->header('Retry-After');
ok access_line('overloaded-model') =~ /provider=spare err=- attempts=2 /;

# The provider's 400 is about the request: passed through, not retried.
$res = post_json($chat, chat_body('picky-model'));
ok $res->code == 400 && json_of($res)->{error}{type} eq 'invalid_request_error';
ok access_line('picky-model') =~ /provider=picky err=- attempts=1 /;

# A silent provider is cut at the timeout (1 s under /quick) and the next
# one answers.
my $t0 = time;
$res = post_json('/quick/chat/completions', chat_body('silent-model'), @echo);
my $took = time - $t0;
ok $res->code == 200 && json_of($res)->{uri} =~ m{^/p=awake/};
ok $took > 0.9 && $took < 2.5 or diag "took $took s";

# Every provider fails: the last failure is answered, once.
$res = post_json($chat, chat_body('down-model'));
is_error($res, 502, 'upstream_failed', 'all providers down');
ok access_line('down-model') =~ /attempts=2 /;

# LLMRouterMaxAttempts 1: no fail-over.
$res = post_json('/single/chat/completions', chat_body('flaky-model'));
is_error($res, 502, 'upstream_unreachable', 'one attempt only');
ok access_line('flaky-model') =~ /provider=flaky-dead err=upstream_unreachable attempts=1 /;

# The busy provider said Retry-After: 5; it is left out meanwhile.
$res = post_json($chat, chat_body('overloaded-model'), @echo);
ok $res->code == 200 && json_of($res)->{uri} =~ m{^/p=spare/};
ok access_line('overloaded-model') =~ /provider=spare err=- attempts=1 /;
