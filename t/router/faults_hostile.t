# A hostile review of the attempt loop, the first-token timer and the
# retry policy (llm_router_route.c, LLM_UPSTREAM in llm_router_proxy.c,
# llm_health.c). Each case was a defect found in review, fixed since;
# its comment says what went wrong, and the test states what the
# documents promise (docs/configuration.md "Fail-over, retries and
# fallback models", docs/architecture.md "The attempt loop and its
# policy" and "The first-token timer", ../shared/spec/faults.md).
#
# A gateway of its own (start_httpd) with its own models file, so that
# the timeouts, the circuits and the hits logs of the mock upstream are
# this file's alone.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use HTTP::Date qw(time2str);
use IO::Socket::INET;
use LWP::UserAgent;
use POSIX qw(ceil);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use LLMTest;

plan tests => 16, need_module 'llm_router', 'proxy_http';

my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/faults_hostile";
t_mkdir($dir);
unlink glob "$root/logs/mock-hits-hx-*.log";

my $mock = mock_url('/');
$mock =~ s{/$}{};
sub up { my ($id, $knobs, %o) = @_;
         my $api = $o{api_type} // 'vllm';
         return qq({"id":"$id","api_host":"$mock/$knobs","api_type":"$api"}) }

my %models = (
    # Keep-alive comments before the first token.
    'hx-ping' => [[up('hx-ping-1', 'hits=hx-ping/ping=8/ping_ms=400/chunks=2')],
                  [up('hx-ping-sleep', 'hits=hx-ping-sleep/p=sleep')]],
    # A large prelude before the first token, held in memory.
    'hx-prelude' => [[up('hx-prelude-1',
                         'ping=600/ping_pad=65536/chunks=1')]],
    # One provider, always 500, circuit closes after 3 failures.
    'hx-solo-500' => [[up('hx-solo-500-1',
        'hits=hx-solo-500/status=500/error_message=solo%20boom')]],
    # LLMRouterTotalTimeout spent on a silent provider; a healthy spare.
    'hx-total' => [[up('hx-total-hang', 'hits=hx-total-hang/hang=1/hang_ms=3000')],
                   [up('hx-total-ok', 'hits=hx-total-ok/p=ok')]],
    # 429 with a short Retry-After, once.
    'hx-gone' => [[up('hx-gone-1',
        'hits=hx-gone/fail_first=1/status=429/retry_after=3')]],
    # 429 with an absurdly long Retry-After.
    'hx-huge' => [[up('hx-huge-1',
        'hits=hx-huge/status=429/retry_after=18446744073710')]],
    # A slow primary, then a 429 whose Retry-After is an HTTP date.
    'hx-date' => [[up('hx-date-hang', 'hang=1/hang_ms=4000')],
                  [up('hx-date-1', 'hits=hx-date/fail_first=1/status=429')]],
);
my @names = sort keys %models;
t_write_file("$dir/models.json", '{"g":{' . join(',', map {
    my ($p, $s) = @{ $models{$_} };
    qq("$_":{"providers":[) . join(',', @$p) . ']'
        . ($s ? ',"providers_sleep":[' . join(',', @$s) . ']' : '') . '}'
} @names) . '},"active_models":{"g":[' . join(',', map { qq("$_") } @names)
    . ']}}');

my $port = start_httpd($dir, {},
    'LogLevel warn llm_router:info proxy:crit proxy_http:crit',
    'LogFormat "%h \"%r\" %>s %B model=%{llm-model}n provider=%{llm-provider}n'
    . ' attempts=%{llm-attempts}n %D tried=%{llm-tried}n fallback=%{llm-fallback}n" llm',
    "CustomLog $dir/access_log llm",
    'LLMBalanceRetry 2',
    'LLMRouter On', "LLMRouterModels $dir/models.json",
    'LLMRouterTimeout 3',
    'LLMRouterForwardHeaders X-Mock-Retry-After',
    '<Location /quick>', 'LLMRouterPrefix /quick', 'LLMRouterTimeout 1',
    '</Location>',
    '<Location /two>', 'LLMRouterPrefix /two', 'LLMRouterTimeout 2',
    '</Location>',
    '<Location /total>', 'LLMRouterPrefix /total',
    'LLMRouterTotalTimeout 1', '</Location>',
    '<Location /status>', 'SetHandler llm-balance-status', '</Location>');
my $base = "http://127.0.0.1:$port";
my $ua = LWP::UserAgent->new(timeout => 30);
my $n = 0;

sub hits {
    my $key = shift;
    open my $fh, '<', "$root/logs/mock-hits-$key.log" or return ();
    return map { /^(\d+) / ? $1 / 1e6 : () } <$fh>;
}

sub access_of {
    my $tag = shift;
    for (1 .. 20) {
        if (open my $fh, '<', "$dir/access_log") {
            my ($l) = grep { /\?case=\Q$tag\E / } <$fh>;
            return $l if $l;
        }
        sleep 0.1;
    }
    return '';
}

# POST to the gateway: (response, access-log line, seconds taken).
sub send_chat {
    my ($path, $body, @h) = @_;
    my $tag = 'hx-' . ++$n;
    my $t0 = time;
    my $res = $ua->post("$base$path?case=$tag",
                        'Content-Type' => 'application/json', @h,
                        Content => JSON::PP::encode_json($body));
    my $took = time - $t0;
    return ($res, access_of($tag), $took);
}


# Peak resident memory (kB) of the gateway's children.
sub children_hwm {
    open my $fh, '<', "$dir/httpd.pid" or return 0;
    chomp(my $ppid = <$fh>);
    my $sum = 0;
    for my $st (glob '/proc/[0-9]*/status') {
        open my $s, '<', $st or next;
        my $t = do { local $/; <$s> };
        next unless $t =~ /^PPid:\s+\Q$ppid\E$/m;
        $sum += $1 if $t =~ /^VmHWM:\s+(\d+)/m;
    }
    return $sum;
}

my $stream = JSON::PP::true;

# --- 1. The first-token timer is a per-read timeout ------------------------
# A provider that sends its role chunk and then a keep-alive comment every
# 0.4 s (": ping", as OpenRouter and other proxies do while they queue)
# and its first token after 3.2 s: every read of the backend succeeds
# within the 1 s first-byte limit, so the "timer" never fires and the
# client waits for it, with nothing at all on its connection (the pings
# are held too). docs/configuration.md: "sends its headers but no first
# token in time -> the next usable provider".
my ($res, $line, $took) = send_chat('/quick/chat/completions',
                                    chat_body('hx-ping', stream => $stream));
ok $res->code == 200 && $res->content =~ /data: \[DONE\]\n\n$/
    or diag $res->code, ' ', $res->content;
ok $took < 2.2 or diag "first-token limit 1 s, took $took s";
ok $line =~ /tried=hx-ping-1:timeout,hx-ping-sleep:200 / or diag $line;

# --- 2. What is held before the first token is not bounded ----------------
# 600 keep-alive comments of 64 KiB before the first token: the gateway
# holds all of them (37 MiB) in LLM_UPSTREAM's brigade until the token
# comes. A hold of the role chunk should cost kilobytes, not the
# provider's choice.
my $before = children_hwm();
($res, $line, $took) = send_chat('/chat/completions',
                                 chat_body('hx-prelude', stream => $stream));
my $grew = children_hwm() - $before;
ok $res->code == 200 or diag $res->code;
ok $grew < 16 * 1024 or diag "children's peak RSS grew by $grew kB";

# --- 3. go_on() asked before release() opens the circuit -----------------
# One provider, always 500. Request 1: two tries, the provider's 500 as
# sent (as in faults.t). Request 2: its first 500 is the third failure in
# a row. LLM_UPSTREAM asked the policy while the circuit was closed
# ("retry the same once more") and withheld the 500; then the method's
# release opened the circuit, decide() changed its mind (give up), and
# the client gets the gateway's 502 "Provider answered 500" instead of
# the provider's 500 (docs: "the last attempt's answer goes to the client
# as the provider sent it").
($res) = send_chat('/chat/completions', chat_body('hx-solo-500'));
ok $res->code == 500 or diag $res->code, ' ', $res->content;
($res, $line) = send_chat('/chat/completions', chat_body('hx-solo-500'));
ok $res->code == 500 && $res->content =~ /solo boom/
    or diag $res->code, ' ', $res->content, ' ', $line;

# --- 4. LLMRouterTotalTimeout spent: attempts go on, healthy providers
# are blamed -------------------------------------------------------------
# The primary is silent; at 1 s (the total limit) it is cut. decide()
# never looks at the time left for "the next provider": the spare gets
# the request with a read limit of 1 us (limit_next_read), is "timed
# out" at once, and its failure counts against it. Three such requests
# take a healthy provider out of service.
for my $i (1 .. 3) {
    ($res, $line, $took) = send_chat('/total/chat/completions',
                                     chat_body('hx-total'));
}
ok $res->code == 504 && $took < 1.5 or diag $res->code, " took $took";
ok !hits('hx-total-ok') or diag scalar(hits('hx-total-ok')),
    " requests sent to the spare after the total limit: $line";
my $spare = provider_state("$base/status", 'hx-total-ok');
ok(($spare->{failures} // 0) == 0 && ($spare->{state} // '') eq 'ok')
    or diag jdump($spare);

# --- 5. A client gone during a Retry-After wait ----------------------------
# The provider says 429, Retry-After 3 (<= LLMRouterRetryWait): the
# worker sleeps 3 s in one apr_sleep. The client leaves after 0.5 s;
# retry_same() looks at c->aborted, which nothing sets while nothing is
# written, so the worker sleeps on and sends the request again for
# nobody.
{
    my $body = JSON::PP::encode_json(chat_body('hx-gone'));
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or die;
    print $s "POST /chat/completions HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body";
    sleep 0.5;
    close $s;
    sleep 4;
    my @h = hits('hx-gone');
    ok @h == 1 or diag scalar(@h), " requests to the provider for a client"
        . " that left during the wait";
}

# --- 6. Retry-After: a huge number of seconds -----------------------------
# retry_after() multiplies the provider's seconds by 10^6 in a signed
# 64-bit integer (apr_time_from_sec): 18446744073710 s wraps to 0.45 s
# (UBSan: signed integer overflow; in the sanitizer build, built with
# -fno-sanitize-recover, the child dies: the client's connection drops
# and the provider's inflight count leaks). The gateway waits 0.45 s and tries
# the provider again, and takes it out for under a second, where the
# provider asked for ever (capped at LLMBalanceMaxRetryAfter, 300 s).
($res, $line, $took) = send_chat('/chat/completions', chat_body('hx-huge'));
ok $res->code == 429 && hits('hx-huge') == 1
    or diag $res->code, ' ', scalar(hits('hx-huge')), " hits: $line";
my $p = provider_state("$base/status", 'hx-huge-1');
ok(($p->{state} // '') eq 'out' && ($p->{out_until} // 0) > time + 60)
    or diag jdump($p);

# --- 7. Retry-After as an HTTP date is read against the request's start ---
# The primary is silent for the first-byte limit (2 s under /two); the
# sleep tier's provider then says 429 with Retry-After an HTTP date about
# 2 s ahead. retry_after() subtracts r->request_time, not the present,
# so the gateway waits the 2 s it already spent on top: about 4 s.
{
    my $t0 = time;
    my $date = time2str(ceil($t0) + 4);
    ($res, $line, $took) = send_chat('/two/chat/completions',
        chat_body('hx-date'), 'X-Mock-Retry-After' => $date);
    my @h = hits('hx-date');
    ok $res->code == 200 or diag $res->code, ' ', $res->content;
    ok @h == 2 && $h[1] - $h[0] < 3.2
        or diag "hits: @h (waited ", (@h == 2 ? $h[1] - $h[0] : '-'),
                " s for a date ", ceil($t0) + 4 - ($h[0] // 0), " s ahead)";
}

# --- Held up: the choices of the balance method are all released ----------
# (Except in the ASan/UBSan build: there case 6's overflow aborts the
# child between choose and release, and hx-huge-1's inflight count stays
# at 1 in shared memory for good.)
my $in = 0;
for my $id ('hx-solo-500-1', 'hx-total-hang', 'hx-total-ok', 'hx-gone-1',
            'hx-huge-1', 'hx-date-hang', 'hx-date-1', 'hx-ping-1',
            'hx-ping-sleep') {
    $in += provider_state("$base/status", $id)->{inflight} // 1000;
}
ok $in == 0 or diag "$in still in flight";
