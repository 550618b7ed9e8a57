# Children come and go: with MaxConnectionsPerChild 3, two prefork
# children are replaced every few requests, yet no count is lost (a dead
# child's counts stay in its slot, the next child of the slot adds to
# them) and the in-progress gauge comes back to the scrape alone (the
# new child resets what the old one had under way). Also: the handler is
# protected like any page (Require), and LLMMetrics Off counts nothing.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use lib 't/lib';
use LLMTest;
use LLMMetrics;

plan tests => 10, need_module 'llm_router', 'llm_metrics', 'proxy_http';

my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};

sub gateway {
    my ($name, @more) = @_;
    my $dir = Apache::Test::vars('serverroot') . "/logs/$name";
    t_mkdir($dir);
    unlink "$dir/access_log";
    t_write_file("$dir/models.json", <<JSON);
{"g":{"m":{"providers":[{"id":"a","api_host":"$mock/","api_type":"vllm"}]}},
 "active_models":{"g":["m"]}}
JSON
    my $port = eval {
        start_httpd($dir, { mpm => 'prefork' }, 'LogLevel warn',
            'StartServers 2', 'MinSpareServers 2', 'MaxSpareServers 2',
            'ServerLimit 2', 'MaxRequestWorkers 2', 'KeepAlive Off',
            'MaxConnectionsPerChild 3',
            'LogFormat "%P" pid', "CustomLog $dir/access_log pid",
            'LLMRouter On', "LLMRouterModels $dir/models.json",
            '<Location /metrics>', 'SetHandler llm-metrics', '</Location>',
            '<Location /metrics-closed>', 'SetHandler llm-metrics',
            'Require all denied', '</Location>', @more);
    };
    diag $@ unless $port;
    return ($port, $dir);
}

sub chat {
    my $port = shift;
    my $body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
    return raw_request($port, "POST /v1/chat/completions HTTP/1.0\r\n"
        . "Host: localhost\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body");
}

my ($port, $dir) = gateway('metrics-children', 'LLMMetrics On');
ok $port;
my $ok = 0;
for (1 .. 30) {
    $ok++ if chat($port) =~ m{^HTTP/1\.\d 200};
}
ok $ok == 30 or diag "$ok answered";
select undef, undef, undef, 0.3;
open my $fh, '<', "$dir/access_log" or die;
my %pids = map { chomp; $_ => 1 } <$fh>;
ok keys(%pids) >= 6 or diag "children that served: " . keys(%pids);

my $page = scrape($port);
ok promtool_check($page) eq '';
my $ep = 'method="POST",endpoint="v1/chat/completions"';
ok sample($page, 'http_requests_total', "$ep,http_status=\"200\"") == 30
    or diag $page;
ok sample($page, 'llm_router_provider_calls_total',
          'provider_type="vllm",model_name="m"') == 30;
ok sample($page, 'http_request_duration_seconds_count', $ep) == 30;
ok sample($page, 'http_requests_in_progress') == 1;

my $closed = raw_request($port,
    "GET /metrics-closed HTTP/1.0\r\nHost: localhost\r\n\r\n");
ok $closed =~ m{^HTTP/1\.\d 403} or diag $closed;

# A server with LLMMetrics Off serves the page (zeros), counts nothing.
my ($off) = gateway('metrics-off', 'LLMMetrics Off');
chat($off) for 1 .. 3;
$page = scrape($off);
ok sample($page, 'http_requests_total', "$ep,http_status=\"200\"") == 0
    && $page =~ /^# TYPE http_requests_total counter$/m or diag $page;
