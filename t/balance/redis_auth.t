# LLMBalanceRedis with a password (redis://[user]:password@host:port, as
# the container maps the original router's LLM_ROUTER_REDIS_PASSWORD):
# a real redis-server with requirepass; the gateway authenticates and
# counts its choices there; with a wrong password it serves on local
# state and says why — and neither the password nor the wrong one is in
# any log line.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use lib 't/lib';
use LLMTest;

my $redis_server = `sh -c 'command -v redis-server'`;
chomp $redis_server;
plan tests => 7, need need_module('llm_router', 'proxy_http'),
    { 'redis-server (Debian package redis-server)' => $redis_server ne '' };

my $root = Apache::Test::vars('serverroot') . '/logs/redis_auth';
t_mkdir($root);
my $rport = free_port();
my $secret = 'p@ss/w:rd-7f3a';                 # '@', '/', ':' encoded below
(my $encoded = $secret) =~ s/([@\/:])/sprintf '%%%02X', ord $1/ge;

sub redis {
    my $out = `env -u LD_PRELOAD redis-cli -p $rport -a '$secret' --no-auth-warning @_ 2>/dev/null`;
    chomp $out;
    return $out;
}
system('env', '-u', 'LD_PRELOAD', 'redis-server', '--port', $rport,
       '--bind', '127.0.0.1', '--requirepass', $secret, '--save', '',
       '--appendonly', 'no', '--daemonize', 'yes',
       '--pidfile', "$root/redis.pid", '--logfile', "$root/redis.log",
       '--dir', $root) == 0 or die 'cannot start redis-server';
for (1 .. 50) { last if redis('PING') eq 'PONG'; sleep 0.1 }
END { local $?; redis('SHUTDOWN', 'NOSAVE') if $rport }

my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};
t_write_file("$root/models.json", <<JSON);
{"g":{"ra-two":{"balance":"balanced","providers":[
    {"id":"a","api_host":"$mock/p=a","api_type":"vllm"},
    {"id":"b","api_host":"$mock/p=b","api_type":"vllm"}]}},
 "active_models":{"g":["ra-two"]}}
JSON

sub gateway {   # gateway(dir, password) -> port
    my ($dir, $password) = @_;
    return start_httpd($dir, {},
        'LogLevel warn llm_balance:notice',
        'LLMRouter On', "LLMRouterModels $root/models.json",
        "LLMBalanceRedis redis://:$password\@127.0.0.1:$rport/0",
        'LLMBalanceRedisPrefix ra:');
}

sub ask {
    my $port = shift;
    my $body = '{"model":"ra-two","messages":[{"role":"user","content":"x"}]}';
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return 0;
    print $s "POST /v1/chat/completions HTTP/1.0\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my ($code) = (<$s> // '') =~ m{^HTTP/1\.\d (\d+)};
    return $code // 0;
}

sub logs_of {
    my $dir = shift;
    local $/;
    my $all = '';
    for my $f (glob "$dir/logs/*_log $dir/*_log") {
        open my $fh, '<', $f or next;
        $all .= <$fh> // '';
    }
    return $all;
}

# The right password: choices counted in Redis.
my $good = gateway("$root/good", $encoded);
ok $good or diag 'the gateway with the password did not start';
my @codes = map { ask($good) } 1 .. 4;
ok "@codes" eq '200 200 200 200' or diag "@codes";
ok redis('HGET', 'ra:sel:ra-two', 'a') == 2 && redis('HGET', 'ra:sel:ra-two', 'b') == 2
    or diag 'in Redis: a=' . redis('HGET', 'ra:sel:ra-two', 'a');

# A wrong password: served on local state, the refusal said.
my $bad = gateway("$root/bad", 'wrong-pass-9c1e');
@codes = map { ask($bad) } 1 .. 2;
ok "@codes" eq '200 200' or diag "@codes";
my $said = '';
for (1 .. 30) {
    $said = logs_of("$root/bad");
    last if $said =~ /AUTH refused/;
    sleep 0.1;
}
ok $said =~ /AUTH refused/ or diag $said;

# Neither password in any log.
stop_httpd("$root/good");
stop_httpd("$root/bad");
my $all = logs_of("$root/good") . logs_of("$root/bad");
ok $all !~ /\Q$secret\E|\Q$encoded\E|p%40ss|wrong-pass-9c1e/ or diag $all;
ok $all =~ /:\*\*\*\@127\.0\.0\.1/ || $all !~ /redis:\/\// or diag $all;
