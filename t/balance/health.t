# Passive health: a provider that fails 3 times in a row is left out for
# LLMBalanceRetry (2 s here), then gets one probe request; a good probe
# makes it trusted again. State is shared by all child processes.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use lib 't/lib';
use LLMTest;

plan tests => 11, need_module 'llm_router', 'proxy_http';

my $chat = '/v1/chat/completions';

sub attempts {
    my ($model, @hdr) = @_;
    my $res = post_json($chat, chat_body($model), @hdr);
    my ($n) = access_line($model) =~ /attempts=(\d+) /;
    return ($res, $n // 0);
}

# circuit-dead refuses connections: it fails over to circuit-ok three
# times, then it is out and requests go straight to circuit-ok.
my @n = map { (attempts('circuit-model'))[1] } 1 .. 5;
ok "@n" eq '2 2 2 1 1' or diag "attempts: @n";

# When its time is up, one request probes it; the probe fails, so it is
# out again.
sleep 2;
my ($res, $n) = attempts('circuit-model');
ok $res->code == 200 && $n == 2;
($res, $n) = attempts('circuit-model');
ok $res->code == 200 && $n == 1;

# Both providers of recover-model fail (the mock resets every request
# that asks it to): after three failures each, both are out, and the
# gateway answers 503 with a Retry-After at once instead of trying.
for (1 .. 3) {
    ($res) = attempts('recover-model', 'X-Mock-Reset' => 1);
}
is_error($res, 502, 'upstream_failed', 'all providers failing');
($res, $n) = attempts('recover-model');
is_error($res, 503, 'no_provider_available', 'all providers out');
ok $res->header('Retry-After') =~ /^[12]$/ && $n == 0
    or diag "Retry-After " . ($res->header('Retry-After') // '-');

# They recovered: after the interval each is probed once, the probes
# succeed, and both are trusted again.
sleep 2;
my @who;
for (1 .. 4) {
    my $d = json_of(post_json($chat, chat_body('recover-model'),
                              'X-Mock-Echo' => 1));
    push @who, ($d->{uri} // '') =~ m{^/p=(r\d)/} ? $1 : '?';
}
ok $who[0] eq 'r1' && $who[1] eq 'r2' or diag "served by @who";
ok "@who[2,3]" =~ /r1/ && "@who[2,3]" =~ /r2/ or diag "served by @who";

# Every failure and the circuit state are visible in the error log as
# provider failures; no crash.
my $log = do {
    open my $fh, '<', Apache::Test::vars('serverroot') . '/logs/error_log';
    local $/; <$fh>;
};
ok $log =~ /provider circuit-dead .*connection refused/;
ok $log =~ /LLM01011: .*no provider of model recover-model is available now/;
ok $log !~ /Segmentation|exit signal/;
