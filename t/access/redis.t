# Limits across httpd nodes (LLMLimitRedis) through a real redis-server:
# two gateways share one key's 10/min exactly, whichever node the
# requests reach; tokens charged on one node count on the other, and so
# does a day's token budget; keys kept in Redis (llmctl key --redis)
# work on both nodes at once and a revocation reaches them within
# LLMAccessKeyCache; when
# Redis goes away a fail-open node counts on its own (and says so once)
# and a fail-closed node answers 503 JSON; when Redis is back the limits
# are shared again.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

my $redis_server = `sh -c 'command -v redis-server'`;
chomp $redis_server;
plan tests => 23, need need_module('llm_router', 'llm_access', 'proxy_http'),
    { 'redis-server (Debian package redis-server)' => $redis_server ne '' };

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-redis";
rmtree($dir);
mkdir $dir;
my $rport = free_port();

sub redis {
    my $out = `env -u LD_PRELOAD redis-cli -p $rport @_ 2>/dev/null`;
    chomp $out;
    return $out;
}
sub redis_start {
    system('env', '-u', 'LD_PRELOAD', 'redis-server', '--port', $rport,
           '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
           '--daemonize', 'yes', '--pidfile', "$dir/redis.pid",
           '--logfile', "$dir/redis.log", '--dir', $dir) == 0
        or die 'cannot start redis-server';
    for (1 .. 50) {
        return 1 if redis('PING') eq 'PONG';
        select undef, undef, undef, 0.1;
    }
    die 'redis-server does not answer';
}
sub redis_stop {
    redis('SHUTDOWN', 'NOSAVE');
    for (1 .. 50) {
        last unless redis('PING') eq 'PONG';
        select undef, undef, undef, 0.1;
    }
}
END { local $?; redis_stop() if $rport }
redis_start();

my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_access_module (\S+)/mod_llm_access\.so} ? $1 : () }
        <$fh>;
};
my $file = "$dir/keys.json";
sub make_key { create_key($file, @_) }
my %k = (a => make_key('--id a'), t => make_key('--id t'),
         bud => make_key('--id bud'));

my %port;
for my $node (qw(A B C)) {
    $port{$node} = start_httpd("$dir/$node", {},
        'LogLevel warn llm_access:notice',
        # One child each: "logged once per process" is then once.
        'StartServers 1', 'ServerLimit 1', 'MaxRequestWorkers 25',
        'LLMRouter On', "LLMRouterModels $root/models/main.json",
        "LLMAccessKeyFile $file", "LLMLimitRedis 127.0.0.1:$rport",
        'LLMAccessKeyRedis On', 'LLMAccessKeyCache 1',
        $node eq 'C' ? 'LLMLimitRedisFail closed' : (),
        '<Location />', 'AuthType llm-key', 'AuthName gateway',
        'Require valid-user', 'LLMLimitRequests 10/min', '</Location>',
        '<Location /tok>', 'LLMRouterPrefix /tok', 'LLMLimitRequests off',
        'LLMLimitTokens 1/hour', '</Location>',
        '<Location /bud>', 'LLMRouterPrefix /bud', 'LLMLimitRequests off',
        'LLMBudgetTokens 1/day', '</Location>');
}

my $http = HTTP::Tiny->new(timeout => 30);
sub call {
    my ($node, $key, $path) = @_;
    return $http->post("http://127.0.0.1:$port{$node}"
                       . ($path // '/v1/chat/completions'), {
        headers => { 'Content-Type' => 'application/json',
                     Authorization => "Bearer $key" },
        content => $J->encode({ model => 'mock-chat', max_tokens => 16,
            messages => [{ role => 'user', content => 'Hello' }] }) });
}

# 16 requests, alternating between two nodes: 10 in all.
my %st;
$st{ call($_ % 2 ? 'A' : 'B', $k{a})->{status} }++ for 1 .. 16;
ok(($st{200} // 0) == 10 && ($st{429} // 0) == 6)
    or diag 'two nodes: ' . $J->encode(\%st);
my $res = call('B', $k{a});
my $d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 429 && ($d->{error}{code} // '') eq 'rate_limit_exceeded'
    && ($res->{headers}{'retry-after'} // 0) >= 1
    or diag "429 from B: $res->{status} $res->{content}";
ok redis('--scan', '--pattern', "'llm:limit:requests|key:a|*'") ne '';

# Tokens charged on A count on B.
ok call('A', $k{t}, '/tok/chat/completions')->{status} == 200;
$res = call('B', $k{t}, '/tok/chat/completions');
ok $res->{status} == 429 or diag "tokens on B: $res->{status}";

# A budget spent on A is spent on B; its counter ends with the day.
ok call('A', $k{bud}, '/bud/chat/completions')->{status} == 200;
$res = call('B', $k{bud}, '/bud/chat/completions');
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 429 && ($d->{error}{code} // '') eq 'budget_exceeded'
    or diag "budget on B: $res->{status} $res->{content}";
my ($bkey) = grep { length } split /\n/,
    redis('--scan', '--pattern', "'llm:budget:key:bud|*'");
my $ttl = $bkey ? redis('PTTL', "'$bkey'") : -2;
ok $ttl > 0 && $ttl <= 86400000 or diag "budget key $bkey, PTTL $ttl";

# Keys kept in Redis: made while the nodes run, seen by both at once;
# revoked, refused within LLMAccessKeyCache (1 s here).
my $rkey = `$build/llmctl key create --redis 127.0.0.1:$rport --id in-redis --permissions chat 2>/dev/null`;
chomp $rkey;
ok $rkey =~ /^sk-llm-/ && redis('--scan', '--pattern', "'llm:key:*'") ne ''
    or diag "llmctl key create --redis: $rkey";
ok call('A', $rkey, '/tok/chat/completions')->{status} == 200;
ok call('B', $rkey, '/bud/chat/completions')->{status} == 200;
my $rlist = `$build/llmctl key list --redis 127.0.0.1:$rport`;
ok $rlist =~ /^in-redis\s+sk-llm-\S+\s+active\s+chat /m or diag $rlist;
ok system("$build/llmctl key revoke --redis 127.0.0.1:$rport in-redis "
          . ">/dev/null 2>&1") == 0;
sleep 2;
refused_code('B', $rkey, 401, 'key_inactive');
refused_code('A', 'sk-llm-' . 'q' x 48, 401, 'invalid_key');

sub refused_code {
    my ($node, $key, $status, $code) = @_;
    my $r = call($node, $key, '/tok/chat/completions');
    my $e = eval { $J->decode($r->{content}) } // {};
    ok $r->{status} == $status && ($e->{error}{code} // '') eq $code
        or diag "$node: $r->{status} $r->{content}";
}

# Redis goes away: A (fail open) counts on its own, C (closed) refuses.
redis_stop();
$res = call('A', $k{t});
ok $res->{status} == 200 or diag "A without Redis: $res->{status}";
$res = call('C', $k{t});
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 503 && ($d->{error}{code} // '') eq 'limits_unavailable'
    && ($res->{headers}{'content-type'} // '') =~ m{^application/json}
    or diag "C without Redis: $res->{status} $res->{content}";
call('A', $k{t}) for 1 .. 3;
# A key only Redis knows cannot be checked: 503, whatever the fail mode.
refused_code('A', 'sk-llm-' . 'r' x 48, 503, 'key_store_unavailable');
my $log = do { local (@ARGV, $/) = "$dir/A/error_log"; <> } // '';
my @down = $log =~ /LLM05009/g;
ok @down == 1 or diag "outage logged " . scalar(@down) . " times: $log";

# Redis is back: shared again (after the 1 s reconnect pause).
redis_start();
sleep 2;
$res = call('A', $k{t});
ok $res->{status} == 200 or diag "A with Redis again: $res->{status}";
ok call('C', $k{t})->{status} == 200;
# The child that logged the outage says Redis is back once one of its
# requests used it (A may run more than one child: try a few times).
for (1 .. 20) {
    $log = do { local (@ARGV, $/) = "$dir/A/error_log"; <> } // '';
    last if $log =~ /LLM05010/;
    $http = HTTP::Tiny->new(timeout => 30);     # a new connection
    call('A', $k{t}, '/tok/chat/completions');
}
ok $log =~ /LLM05010: Redis at 127.0.0.1:\d+ answers again/ or diag $log;
ok !grep { index($log, $_) >= 0 } values %k;
