# Two gateway nodes (two separate httpd instances) share provider state
# through a real redis-server (LLMBalanceRedis): "balanced" alternates
# across both nodes as if they were one, first_available never gives a
# provider two requests at once whichever node they reach, a node that
# dies holding a provider frees it after LLMBalanceRedisLockTTL, and
# when Redis goes away the nodes keep serving on local state, say so
# once, and use Redis again when it is back.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(time sleep);
use lib 't/lib';
use LLMTest;

my $redis_server = `sh -c 'command -v redis-server'`;
chomp $redis_server;
plan tests => 15, need need_module('llm_router', 'proxy_http'),
    { 'redis-server (Debian package redis-server)' => $redis_server ne '' };

my $root = Apache::Test::vars('serverroot') . '/logs/redis';
t_mkdir($root);
my $rport = free_port();

sub redis_start {
    # (Without the sanitizer pass's LD_PRELOAD: redis is not ours.)
    system('env', '-u', 'LD_PRELOAD', 'redis-server', '--port', $rport, '--bind', '127.0.0.1',
           '--save', '', '--appendonly', 'no', '--daemonize', 'yes',
           '--pidfile', "$root/redis.pid", '--logfile', "$root/redis.log",
           '--dir', $root) == 0 or die 'cannot start redis-server';
    for (1 .. 50) {
        return 1 if redis('PING') eq 'PONG';
        sleep 0.1;
    }
    die 'redis-server does not answer';
}

sub redis {
    my $out = `env -u LD_PRELOAD redis-cli -p $rport @_ 2>/dev/null`;
    chomp $out;
    return $out;
}

sub redis_stop {
    redis('SHUTDOWN', 'NOSAVE');
    for (1 .. 50) {
        last unless -e "$root/redis.pid" && redis('PING') eq 'PONG';
        sleep 0.1;
    }
}
END { local $?; redis_stop() if $rport }

redis_start();

my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};
t_write_file("$root/models.json", <<JSON);
{"g":{
  "r-two":{"balance":"balanced","providers":[
    {"id":"a","api_host":"$mock/p=a","api_type":"vllm"},
    {"id":"b","api_host":"$mock/p=b","api_type":"vllm"}]},
  "r-excl":{"balance":"first_available","providers":[
    {"id":"x1","api_host":"$mock/p=x1/ttfb=700","api_type":"vllm"},
    {"id":"x2","api_host":"$mock/p=x2/ttfb=700","api_type":"vllm"}]},
  "r-least":{"balance":"least_inflight","providers":[
    {"id":"l1","api_host":"$mock/p=l1/ttfb=600","api_type":"vllm"},
    {"id":"l2","api_host":"$mock/p=l2/ttfb=600","api_type":"vllm"}]},
  "r-one":{"balance":"first_available","providers":[
    {"id":"o","api_host":"$mock/p=o","api_type":"vllm"}]}},
 "active_models":{"g":["r-two","r-excl","r-least","r-one"]}}
JSON

my %port;
for my $node (qw(A B)) {
    $port{$node} = start_httpd("$root/$node", {},
        'LogLevel warn llm_balance:notice',
        'LLMRouter On', "LLMRouterModels $root/models.json",
        'LLMRouterForwardHeaders X-Mock-Echo X-Mock-Ttfb',
        "LLMBalanceRedis 127.0.0.1:$rport", 'LLMBalanceRedisPrefix t:',
        'LLMBalanceRedisLockTTL 2', 'LLMBalanceQueueTime 2500ms');
}

# One request to a node; returns [status, seconds, provider].
sub ask {
    my ($node, $model, %h) = @_;
    my $body = qq({"model":"$model","messages":[{"role":"user","content":"x"}]});
    my $t0 = time;
    my $s = IO::Socket::INET->new("127.0.0.1:$port{$node}") or return [0, 0, '-'];
    print $s "POST /v1/chat/completions HTTP/1.0\r\n"
        . "Content-Type: application/json\r\nX-Mock-Echo: 1\r\n"
        . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $res = <$s> // '';
    my ($code) = $res =~ m{^HTTP/1\.\d (\d+)};
    my ($who) = $res =~ m{"uri":"/p=(\w+)/};
    return [$code // 0, time - $t0, $who // '-'];
}

# Requests at once, each [node, model, headers...]; results in order.
sub at_once {
    my @kids;
    for my $job (@_) {
        pipe my $r, my $w or die;
        my $pid = fork // die;
        if (!$pid) {
            close $r;
            my $res = ask(@$job);
            printf $w "%s %.3f %s\n", @$res;
            close $w;
            _exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
        sleep 0.02;
    }
    my @out;
    for my $k (@kids) {
        my $line = readline $k->[1];
        waitpid $k->[0], 0;
        push @out, [split ' ', $line // '0 0 -'];
    }
    return @out;
}

# 1. balanced: one request to A, the next to B, ...: with one count for
# both nodes the providers alternate a, b, a, b (with a count per node
# both nodes would start with a).
my @seq = map { ask($_ % 2 ? 'B' : 'A', 'r-two')->[2] } 0 .. 39;
ok join('', @seq) eq 'ab' x 20 or diag "served by: @seq";
ok redis('HGET', 't:sel:r-two', 'a') == 20 && redis('HGET', 't:sel:r-two', 'b') == 20;

# 2. first_available across nodes: 2 providers answering in 0.7 s, 4
# requests at once, 2 on each node: two are served at once, the other
# two wait for a provider (whichever node holds it).
my @r = at_once(['A', 'r-excl'], ['B', 'r-excl'], ['A', 'r-excl'],
                ['B', 'r-excl']);
my @t = sort { $a <=> $b } map { $_->[1] } @r;
ok((grep { $_->[0] == 200 } @r) == 4) or diag join '; ', map { "@$_" } @r;
ok $t[1] < 1.2 && $t[2] > 1.3 or diag "times: @t";
my %by;
$by{ $_->[2] }++ for @r;
ok(($by{x1} // 0) == 2 && ($by{x2} // 0) == 2) or diag join ' ', %by;
ok redis('KEYS', "'t:lock:*'") eq '' or diag 'locks left: ' . redis('KEYS', "'t:lock:*'");

# least_inflight: one request in flight on A, the next on B goes to the
# other provider (each node alone would see nothing in flight).
@r = at_once(['A', 'r-least'], ['B', 'r-least']);
ok join(' ', sort map { $_->[2] } @r) eq 'l1 l2' or diag join '; ', map { "@$_" } @r;
ok redis('ZCARD', 't:lease:r-least:l1') == 0 && redis('ZCARD', 't:lease:r-least:l2') == 0;

# 3. Node B dies (kill -9, no clean-up) while it holds the one provider
# of r-one: node A's request waits in its queue until the lock's TTL
# (2 s from B taking it) has run out, then gets the provider.
my ($held) = grep { 1 } fork // die;
if (!$held) {
    ask('B', 'r-one', 'X-Mock-Ttfb' => 6000);
    _exit(0);
}
sleep 0.4;
ok redis('EXISTS', 't:lock:r-one:o') == 1;
my $bpid = do { local (@ARGV, $/) = "$root/B/httpd.pid"; <> };
chomp $bpid;
kill 'KILL', -$bpid;
kill 'KILL', $bpid;
waitpid $held, 0;
my $after = ask('A', 'r-one');
ok $after->[0] == 200 && $after->[2] eq 'o' && $after->[1] > 1.1
    && $after->[1] < 2.4 or diag "after B died: @$after";
ok redis('EXISTS', 't:lock:r-one:o') == 0;

# 4. Redis goes away: A keeps serving on its own state, the error log
# says so once; Redis comes back: A uses it again and says so once.
my $alog = "$root/A/error_log";
my $mark = -s $alog;
redis_stop();
my @down = map { ask('A', 'r-two')->[0] } 1 .. 10;
ok((grep { $_ == 200 } @down) == 10) or diag "without Redis: @down";
redis_start();
sleep 1.2;    # a thread that failed tries again after a second
my @back = map { ask('A', 'r-two')->[0] } 1 .. 10;
ok((grep { $_ == 200 } @back) == 10) or diag "Redis back: @back";
my $log = do { open my $fh, '<', $alog; seek $fh, $mark, 0; local $/; <$fh> };
my @gone = $log =~ /LLM02016: /g;
my @again = $log =~ /LLM02017: /g;
ok @gone == 1 && @again == 1 or diag $log;
ok redis('HGET', 't:sel:r-two', 'a') + redis('HGET', 't:sel:r-two', 'b') >= 1
    or diag 'nothing counted in Redis after it came back';
