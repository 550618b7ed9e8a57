# What the metrics say of each attempt:
# - a stream cut before its finish that nothing continues (no prefill
#   provider) is a failed attempt: llm_router_provider_error_total
#   counts it as stream_cut, the access log's llm-tried says "broken" —
#   whether the provider reset the connection or closed it cleanly
#   (FIN); a whole stream is not;
# - llm_router_lb_strategy_selected_total names the balance method that
#   chose: a <Location>'s LLMRouterBalance, else the server's.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use lib 't/lib';
use LLMTest;
use LLMMetrics;

plan tests => 10, need_module 'llm_router', 'llm_metrics', 'proxy_http';

my $dir = Apache::Test::vars('serverroot') . '/logs/metrics-cut';
t_mkdir($dir);
unlink "$dir/access_log";
my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};

t_write_file("$dir/models.json", <<JSON);
{"g":{
  "rst":{"providers":[{"id":"r","api_host":"$mock/chunks=6/drop_after=2","api_type":"vllm"}]},
  "fin":{"providers":[{"id":"f","api_host":"$mock/chunks=6/drop_after=2/drop_rst=0","api_type":"vllm"}]},
  "whole":{"providers":[{"id":"w","api_host":"$mock/chunks=6","api_type":"vllm"}]}},
 "active_models":{"g":["rst","fin","whole"]}}
JSON
my $port = eval {
    start_httpd($dir, {},
        'LogLevel warn',
        'LogFormat "%{llm-model}n %{llm-tried}n" m',
        "CustomLog $dir/access_log m",
        'LLMRouter On', "LLMRouterModels $dir/models.json",
        'LLMRouterBalance weighted',
        '<Location /lf>', 'LLMRouterPrefix /lf',
        'LLMRouterBalance least_inflight', '</Location>',
        'LLMMetrics On',
        '<Location /metrics>', 'SetHandler llm-metrics', '</Location>');
};
ok $port or diag $@;

sub stream {
    my ($model, $path) = @_;
    my $body = '{"model":"' . $model . '","stream":true,"messages":'
        . '[{"role":"user","content":"Hello"}]}';
    $path //= '/v1/chat/completions';
    return raw_request($port, "POST $path HTTP/1.0\r\n"
        . "Host: localhost\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body");
}

my @answers = map { stream($_) } qw(rst fin whole);
ok $answers[0] !~ /\[DONE\]/ && $answers[1] !~ /\[DONE\]/
    && $answers[2] =~ /\[DONE\]/;

my %tried;
for (1 .. 50) {
    open my $fh, '<', "$dir/access_log" or die;
    %tried = map { chomp; split / / } <$fh>;
    last if keys %tried >= 3;
    select undef, undef, undef, 0.1;
}
ok(($tried{rst} // '') eq 'r:broken') or diag "rst: " . ($tried{rst} // '-');
ok(($tried{fin} // '') eq 'f:broken') or diag "fin: " . ($tried{fin} // '-');
ok(($tried{whole} // '') eq 'w:200') or diag "whole: " . ($tried{whole} // '-');

my $page = scrape($port);
my $kind = 'provider_type="vllm",model_name="%s",error_code="stream_cut"';
ok sample($page, 'llm_router_provider_error_total', sprintf $kind, 'rst') == 1;
ok sample($page, 'llm_router_provider_error_total', sprintf $kind, 'fin') == 1;
ok sample($page, 'llm_router_provider_error_total', sprintf $kind, 'whole') == 0;

# The Location's method, then the server's, by name.
stream('whole', '/lf/chat/completions') for 1 .. 2;
$page = scrape($port);
ok sample($page, 'llm_router_lb_strategy_selected_total',
          'strategy="least_inflight",model_name="whole"') == 2;
ok sample($page, 'llm_router_lb_strategy_selected_total',
          'strategy="weighted",model_name="whole"') == 1;

stop_httpd($dir);
