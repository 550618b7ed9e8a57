# What mod_llm_balance's watchdog (one child at a time) does every second:
#  - keep-alive (the original router's): a provider with "keep_alive" in
#    the models file that has served and then stays idle that long gets a
#    small chat request, so a server that unloads idle models keeps this
#    one loaded; never before its first use, never without keep_alive;
# and, not the watchdog's job but tested here with the same node, a
# first_available provider held by a process that died (kill -9, a crash:
# no release runs) is freed by the next request that finds it busy,
# instead of being busy for ever.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep);
use lib 't/lib';
use LLMTest;

plan tests => 6, need_module 'llm_router', 'proxy_http';

my $dir = Apache::Test::vars('serverroot') . '/logs/keepalive';
t_mkdir($dir);
my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};
t_write_file("$dir/models.json", <<JSON);
{"g":{
  "warm":{"providers":[
    {"id":"ka","api_host":"$mock/p=ka","api_type":"vllm","keep_alive":"2s",
     "model_path":"warm-path"}]},
  "cold":{"providers":[
    {"id":"nk","api_host":"$mock/p=nk","api_type":"vllm"}]},
  "solo":{"balance":"first_available","providers":[
    {"id":"so","api_host":"$mock/p=so","api_type":"vllm"}]}},
 "active_models":{"g":["warm","cold","solo"]}}
JSON
my $port = start_httpd($dir, {}, 'LogLevel warn llm_balance:debug',
    'LLMBalanceQueueTime 5',
    'LLMRouter On', "LLMRouterModels $dir/models.json",
    'LLMRouterForwardHeaders X-Mock-Ttfb');

# What reached the mock for provider $p (its access log).
sub hits {
    my $p = shift;
    open my $fh, '<', Apache::Test::vars('serverroot') . '/logs/access_log'
        or return 0;
    return scalar grep { m{"POST /p=\Q$p\E/v1/chat/completions} } <$fh>;
}

sub chat {
    my ($model, $extra) = @_;
    $extra //= '';
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return '';
    my $body = qq({"model":"$model","messages":[{"role":"user","content":"x"}]});
    print $s "POST /v1/chat/completions HTTP/1.0\r\n$extra"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body";
    local $/;
    return <$s> // '';
}

sleep 3;
ok hits('ka') == 0;        # not used yet: nothing to keep warm

chat('warm') =~ m{^HTTP/1\.1 200} or diag 'first request failed';
chat('cold') =~ m{^HTTP/1\.1 200} or diag 'first request failed';
sleep 5.5;
my $ka = hits('ka');
# 1 request + a keep-alive every 2 s of idleness
ok $ka >= 3 && $ka <= 4 or diag "requests seen by ka: $ka";
ok hits('nk') == 1 or diag 'nk got ' . hits('nk');
open my $fh, '<', "$dir/error_log" or die;
my $log = join '', <$fh>;
ok $log =~ /LLM02019: keep-alive of model warm on provider ka: 200/
    or diag $log;

# The child processes die (kill -9) while one holds "so": the next
# request finds its holder gone and takes it.
my $held = fork // die;
if (!$held) {
    chat('solo', "X-Mock-Ttfb: 8000\r\n");
    POSIX::_exit(0);
}
sleep 0.5;
my $ppid = do { local (@ARGV, $/) = "$dir/httpd.pid"; <> };
chomp $ppid;
# (Not pkill: under the sanitizer pass LD_PRELOAD would reach it too.)
for my $stat (glob '/proc/[0-9]*/stat') {
    my $line = do { local (@ARGV, $/) = ($stat); eval { <> } } // next;
    my ($pid, $parent) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/ or next;
    kill 'KILL', $pid if $parent == $ppid;
}
waitpid $held, 0;
my $t0 = Time::HiRes::time();
my $res = chat('solo');
my $took = Time::HiRes::time() - $t0;
ok $res =~ m{^HTTP/1\.1 200} && $took < 3
    or diag "after the holder died: " . substr($res, 0, 200) . " in ${took}s";
ok $res =~ /"uri":"\/p=so\// || $res =~ /"object":"chat.completion"/;
