# Provider state is shared by every child process: with prefork and four
# children serving at once, "balanced" over two providers splits 1,000
# requests 500/500 +- 1 (it would drift by up to one per child with
# per-process counters).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use IO::Socket::INET;
use POSIX qw(_exit);
use lib 't/lib';
use LLMTest;

plan tests => 4, need_module 'llm_router', 'proxy_http';

my $dir = Apache::Test::vars('serverroot') . '/logs/prefork';
t_mkdir($dir);
my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};

t_write_file("$dir/models.json", <<JSON);
{"g":{"two":{"providers":[
  {"id":"a","api_host":"$mock/p=a","api_type":"vllm"},
  {"id":"b","api_host":"$mock/p=b","api_type":"vllm"}]}},
 "active_models":{"g":["two"]}}
JSON
my $port = eval {
    start_httpd($dir, { mpm => 'prefork' },
        "LogLevel warn llm_router:info",
        'StartServers 4', 'MinSpareServers 4', 'MaxSpareServers 4',
        'ServerLimit 4', 'MaxRequestWorkers 4', 'KeepAlive Off',
        'LogFormat "%P" pid', "CustomLog $dir/access_log pid",
        'LLMRouter On', "LLMRouterModels $dir/models.json",
        'LLMRouterForwardHeaders X-Mock-Echo');
};
ok $port or diag $@;

# 4 clients at once, 250 requests each, every request on a fresh
# connection so that the 4 children all serve.
my $body = '{"model":"two","messages":[{"role":"user","content":"hi"}]}';
my @kids;
for my $k (1 .. 4) {
    pipe my $r, my $w or die;
    my $pid = fork // die;
    if (!$pid) {
        close $r;
        my %n;
        for (1 .. 250) {
            my $s = IO::Socket::INET->new("127.0.0.1:$port") or next;
            print $s "POST /v1/chat/completions HTTP/1.0\r\n"
                . "Content-Type: application/json\r\nX-Mock-Echo: 1\r\n"
                . "Content-Length: " . length($body) . "\r\n\r\n$body";
            local $/;
            my $res = <$s> // '';
            $n{$1}++ if $res =~ m{"uri":"/p=(\w)/};
        }
        print $w join(',', map { "$_=$n{$_}" } sort keys %n), "\n";
        close $w;
        _exit(0);
    }
    close $w;
    push @kids, [$pid, $r];
}
my %total;
for my $kid (@kids) {
    my $line = readline $kid->[1];
    waitpid $kid->[0], 0;
    $total{$1} += $2 while ($line // '') =~ /(\w)=(\d+)/g;
}
diag "a=" . ($total{a} // 0) . " b=" . ($total{b} // 0);
ok(($total{a} // 0) + ($total{b} // 0) == 1000);
ok abs(($total{a} // 0) - ($total{b} // 0)) <= 1;

# Several children served (else the test would prove nothing).
open my $log, '<', "$dir/access_log" or die;
my %pids = map { chomp; $_ => 1 } <$log>;
ok keys(%pids) >= 3 or diag "children that served: " . keys(%pids);
