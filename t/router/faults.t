# The upstream faults of the spec (faults.md) the attempt loop answers:
# the sleep tier while a primary's circuit is open and the probe that
# brings it back, a short Retry-After waited out, one 500 retried on a
# model's only provider, a prompt too long for a model sent to a larger
# one, fallback models, and everything down. For each: what the client
# gets (one answer, or one error), what the upstream saw and when (the
# mock's hits log: no hammering), and the access log's notes.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use LLMTest;

plan tests => 55, need_module 'llm_router', 'proxy_http';

my $chat = '/v1/chat/completions';
my $n = 0;

# The mock counts hits in files under logs/, which outlive the server:
# a second run of the suite (the sanitizer build) starts from zero.
unlink glob Apache::Test::vars('serverroot') . '/logs/mock-hits-*.log';

# The times (s) at which the mock saw requests for $key.
sub hits {
    my $key = shift;
    my $f = Apache::Test::vars('serverroot') . "/logs/mock-hits-$key.log";
    open my $fh, '<', $f or return ();
    return map { /^(\d+) / ? $1 / 1e6 : () } <$fh>;
}

# Most requests on one provider within $window seconds.
sub densest {
    my ($window, @t) = @_;
    my $most = 0;
    for my $i (0 .. $#t) {
        my $c = grep { $_ >= $t[$i] && $_ < $t[$i] + $window } @t;
        $most = $c if $c > $most;
    }
    return $most;
}

# A request tagged so that its access-log line can be found.
sub send_chat {
    my ($path, $body, @h) = @_;
    my $tag = 'fault-' . ++$n;
    my $t0 = time;
    my $res = post_json("$path?case=$tag", $body, @h);
    my $took = time - $t0;
    my $line = access_line_matching(qr{\?case=\Q$tag\E HTTP/});
    return ($res, $line, $took);
}

# --- 429 with a short Retry-After, nothing else to serve: waited out -------
my ($res, $line, $took) = send_chat($chat, chat_body('rl-short'));
my @h = hits('rl-short');
ok $res->code == 200 && json_of($res)->{choices}[0]{message}{content}
    or diag $res->code, ' ', $res->content;
ok @h == 2 && $h[1] - $h[0] >= 0.9 && $h[1] - $h[0] < 2.5
    or diag "hits: @h";
ok $line =~ /tried=rl-short-1:429,rl-short-1:200 / or diag $line;

# The same for a stream: the client's stream comes from the second try.
($res, $line) = send_chat($chat, chat_body('rl-short-stream',
                                            stream => JSON::PP::true));
ok $res->code == 200 && $res->content =~ /data: \[DONE\]\n\n$/
    && $res->content !~ /error/
    or diag $res->content;
ok $line =~ /tried=rl-short-stream-1:429,rl-short-stream-1:200 /
    or diag $line;

# A long Retry-After (10 s > LLMRouterRetryWait 5 s): no wait, the
# provider's 429 is the client's, as it sent it, once.
($res, $line, $took) = send_chat($chat, chat_body('rl-long'));
ok $res->code == 429 && $res->header('Retry-After') == 10
    && json_of($res)->{error}{code} eq 'rate_limit_exceeded';
ok $took < 1 && hits('rl-long') == 1 or diag "took $took";

# Another provider usable: fail over at once, no wait.
($res, $line, $took) = send_chat($chat, chat_body('rl-spare'),
                                 'X-Mock-Echo' => 1);
ok $res->code == 200 && json_of($res)->{uri} =~ m{/p=rl-spare-ok/};
ok $took < 0.8 && $line =~ /tried=rl-spare-busy:429,rl-spare-ok:200 /
    or diag "took $took: $line";

# --- one 500, then healthy: a model's only provider is tried again -------
($res, $line) = send_chat($chat, chat_body('one-500'));
@h = hits('one-500');
ok $res->code == 200;
ok @h == 2 && $h[1] - $h[0] >= 0.1 && $h[1] - $h[0] < 1
    or diag "hits: @h";
ok $line =~ /attempts=2 .*tried=one-500-1:500,one-500-1:200 / or diag $line;

# The same through Ollama's API to an Ollama provider.
($res, $line) = send_chat('/api/chat', { model => 'one-500-ollama',
    messages => [{ role => 'user', content => 'Hi' }],
    stream => JSON::PP::false });
ok $res->code == 200 && json_of($res)->{done} or diag $res->content;
ok hits('one-500-ollama') == 2;

# Always 500: two tries, then the provider's answer as it sent it; never
# more than two on one provider for one request.
($res, $line) = send_chat($chat, chat_body('always-500'));
ok $res->code == 500 && json_of($res)->{error}{type} eq 'server_error'
    or diag $res->content;
ok hits('always-500') == 2 && $line =~ /attempts=2 / or diag $line;

# --- a prompt too long for the model: its larger model, never itself again
($res, $line) = send_chat($chat, chat_body('ctx-small'));
my $d = json_of($res);
ok $res->code == 200 && $d->{model} eq 'served/big' or diag $res->content;
ok hits('ctx-small') == 1 && hits('ctx-big') == 1
    && !hits('fb-target');
ok $line =~ /model=ctx-big .*tried=ctx-small-1:400,ctx-big-1:200 fallback=ctx-small:context_length/
    or diag $line;

# Streamed, and asked in Anthropic's dialect (an Anthropic provider that
# says "prompt is too long"): the larger model's answer, translated.
($res, $line) = send_chat($chat, chat_body('ctx-small',
                                            stream => JSON::PP::true));
ok $res->code == 200 && $res->content =~ /data: \[DONE\]\n\n$/
    && $res->content !~ /"error"/;
($res, $line) = send_chat('/v1/messages', {
    model => 'ctx-small-claude', max_tokens => 16,
    messages => [{ role => 'user', content => 'Hi' }] },
    'anthropic-version' => '2023-06-01');
$d = json_of($res);
ok $res->code == 200 && $d->{type} eq 'message' or diag $res->content;
ok $line =~ /fallback=ctx-small-claude:context_length/ or diag $line;

# No larger model configured: the provider's 400 is the client's.
($res, $line) = send_chat($chat, chat_body('ctx-only'));
ok $res->code == 400
    && json_of($res)->{error}{message} =~ /maximum context length/;
ok hits('ctx-only') == 1 && $line =~ /attempts=1 /;

# ... in the client's dialect (Anthropic).
($res) = send_chat('/v1/messages', {
    model => 'ctx-only', max_tokens => 16,
    messages => [{ role => 'user', content => 'Hi' }] },
    'anthropic-version' => '2023-06-01');
$d = json_of($res);
ok $res->code == 400 && $d->{type} eq 'error'
    && $d->{error}{message} =~ /maximum context length/
    or diag $res->content;

# A content-policy refusal never goes anywhere else, whatever is
# configured.
($res, $line) = send_chat($chat, chat_body('policy-model'));
ok $res->code == 400 && json_of($res)->{error}{message} =~ /safety system/;
ok hits('policy') == 1 && $line =~ /attempts=1 / && $line !~ /fb-target/;

# --- fallback models: every provider of the model failed ----------------
($res, $line) = send_chat($chat, chat_body('fb-model'), 'X-Mock-Echo' => 1);
ok $res->code == 200 && json_of($res)->{uri} =~ m{/p=fb-target/};
ok $line =~ /model=fb-target .*tried=fb-dead:refused,fb-target-1:200 fallback=fb-model:unavailable/
    or diag $line;
($res, $line) = send_chat($chat, chat_body('fb-model'));
ok $res->code == 200 && json_of($res)->{model} eq 'served/fb-target';
# Translated (Anthropic's dialect), the answer names the model that
# answered, with its usage.
($res, $line) = send_chat('/v1/messages', {
    model => 'fb-model', max_tokens => 16,
    messages => [{ role => 'user', content => 'Hi' }] },
    'anthropic-version' => '2023-06-01');
$d = json_of($res);
ok $res->code == 200 && $d->{model} eq 'fb-target'
    && $d->{usage}{output_tokens} > 0
    or diag $res->content;

# --- everything down: the failure once; then, circuits open, 503 at once -
($res, $line) = send_chat($chat, chat_body('gone-all'));
is_error($res, 502, 'upstream_unreachable', 'model and fallback down');
ok $line =~ /tried=gone-all-1:refused,gone-all-fb-1:refused / or diag $line;
send_chat($chat, chat_body('gone-all')) for 1 .. 2;  # 3 failures: out
($res, $line, $took) = send_chat($chat, chat_body('gone-all'));
is_error($res, 503, 'no_provider_available', 'all out of service');
ok $res->header('Retry-After') =~ /^[12]$/ && $took < 0.5
    or diag "took $took, Retry-After ", $res->header('Retry-After') // '-';
ok $line =~ /attempts=0 /;

# --- a slow first token: headers at once, the token late ------------------
# The status and headers wait for the first token; at the first-byte
# limit (1 s under /quick) the next provider serves, invisibly.
($res, $line, $took) = send_chat('/quick/chat/completions',
    chat_body('slow-token', stream => JSON::PP::true));
ok $res->code == 200 && $res->content =~ /data: \[DONE\]\n\n$/
    && $res->content !~ /error/
    or diag $res->code, ' ', $res->content;
ok $took > 0.9 && $took < 2.2 or diag "took $took";
ok $line =~ /tried=slow-token-1:timeout,slow-token-sleep:200 / or diag $line;
ok hits('slow-token') == 1;
# Under the limit, it is served as it comes.
($res, $line) = send_chat('/quick/chat/completions',
    chat_body('slow-ok', stream => JSON::PP::true));
ok $res->code == 200 && $res->content =~ /data: \[DONE\]\n\n$/
    && $line =~ /tried=slow-ok-1:200 /
    or diag $res->content, $line;

# --- a stream cut mid-answer, passed through: one explicit error in the
# client's own dialect, whether the provider reset or closed cleanly.
for my $rst (1, 0) {
    my @cut = ('X-Mock-Chunks' => 5, 'X-Mock-Drop-After' => 2,
               'X-Mock-Drop-Rst' => $rst);
    ($res) = send_chat('/v1/messages', {
        model => 'claude-chat', max_tokens => 16, stream => JSON::PP::true,
        messages => [{ role => 'user', content => 'Hi' }] },
        'anthropic-version' => '2023-06-01', @cut);
    my $c = $res->content;
    ok $c =~ /event: error\ndata: \{"type":"error","error":\{"type":"api_error"/
        && $c !~ /message_stop/ && $c !~ /"code":"stream_interrupted"/
        or diag "anthropic rst=$rst: $c";
    ($res) = send_chat('/api/chat', { model => 'ollama-chat',
        messages => [{ role => 'user', content => 'Hi' }] }, @cut);
    my @lines = split /\n/, $res->content;
    ok @lines >= 2 && $lines[-1] =~ /^\{"error":"The provider's stream was interrupted\."\}$/
        && $res->content !~ /"done":true/
        or diag "ollama rst=$rst: ", $res->content;
    ($res) = send_chat($chat, chat_body('mock-chat', stream => JSON::PP::true),
                       @cut);
    ok $res->content =~ /"code":"stream_interrupted"\}\}\n\n$/
        && $res->content !~ /\[DONE\]/
        or diag "openai rst=$rst: ", $res->content;
}

# --- a primary that flaps: the sleep tier serves meanwhile, the probe ----
# brings the primary back within seconds. The primary fails its first 4
# requests: 3 open its circuit (2 s), the probe 2 s later fails, the next
# one succeeds.
my (@codes, @served);
my $t0 = time;
while (time - $t0 < 7.5) {
    ($res, $line) = send_chat($chat, chat_body('flap-model'));
    push @codes, $res->code;
    push @served, $line =~ /provider=(\S+)/ ? $1 : '?';
    sleep 0.2;
}
ok !grep { $_ != 200 } @codes or diag "statuses: @codes";
ok((grep { $_ eq 'flap-sleep' } @served) >= 3) or diag "@served";
ok $served[-1] eq 'flap-primary' && $served[-2] eq 'flap-primary'
    or diag "@served";
@h = hits('flap');
ok @h >= 5 && @h <= @codes or diag scalar(@h), " hits";
# No hammering: while out, the primary sees only its probes.
ok densest(1.5, @h[0 .. 4]) <= 3 or diag "hits: @h";
my $back = (grep { $served[$_] eq 'flap-primary' } 0 .. $#served)[0];
ok defined $back or diag "@served";
# Recovered at hit 5; the next request after that is served by it.
my $first_ok = $h[4];
ok $first_ok - $h[3] < 3.5 or diag "probes at @h";
ok $first_ok - $t0 < 6.5 or diag "back after ", $first_ok - $t0;
