# Exemplars: a scraper that asks for OpenMetrics (Prometheus' Accept
# header) gets application/openmetrics-text 1.0.0, read strictly here
# (openmetrics_check in t/lib/LLMMetrics.pm: promtool 2.42 reads the
# Prometheus text format only), with exemplars on the latency histograms
# whose request_id is the "id" of a line of the JSON access log
# (conf/access-log-json.conf); any other scraper gets the text format
# 0.0.4 without exemplars, which promtool checks.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use JSON::PP;
use lib 't/lib';
use LLMTest;
use LLMMetrics;

plan tests => 17, need_module 'llm_router', 'llm_metrics', 'proxy_http';

my $dir = Apache::Test::vars('serverroot') . '/logs/metrics-om';
t_mkdir($dir);
unlink "$dir/json_log";
my $mock = Apache::TestRequest::module2url('mock_upstream', { path => '' });
$mock =~ s{/$}{};
t_write_file("$dir/models.json", <<JSON);
{"g":{"m":{"providers":[{"id":"a","api_host":"$mock/","api_type":"vllm"}]}},
 "active_models":{"g":["m"]}}
JSON
my $port = eval {
    start_httpd($dir, { mpm => 'prefork' }, 'LogLevel warn',
        'StartServers 2', 'MinSpareServers 2', 'MaxSpareServers 2',
        'ServerLimit 2', 'MaxRequestWorkers 2', 'KeepAlive Off',
        'Include ' . Apache::Test::vars('serverroot')
            . '/../conf/access-log-json.conf',
        "CustomLog $dir/json_log llm_json",
        'LLMRouter On', "LLMRouterModels $dir/models.json", 'LLMMetrics On',
        '<Location /metrics>', 'SetHandler llm-metrics', '</Location>');
};
ok $port or diag $@;

for my $stream (0, 0, 1, 0, 1, 0) {
    my $body = '{"model":"m","messages":[{"role":"user","content":"Hi"}]'
        . ($stream ? ',"stream":true' : '') . '}';
    raw_request($port, "POST /v1/chat/completions HTTP/1.0\r\n"
        . "Host: localhost\r\nContent-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body");
}
my %ids;
for (1 .. 50) {
    open my $fh, '<', "$dir/json_log" or die;
    my @j = map { JSON::PP->new->decode($_) } grep { m{/v1/chat} } <$fh>;
    %ids = map { $_->{id} => 1 } @j;
    last if @j >= 6;
    select undef, undef, undef, 0.1;
}
ok keys(%ids) == 6 or diag scalar(keys %ids) . ' ids in the JSON log';

# The default: the text format, no exemplars.
my ($text, $head) = scrape($port);
ok $head =~ m{^Content-Type: text/plain; version=0\.0\.4; charset=utf-8\r?$}mi
    or diag $head;
ok $text !~ /# \{/;
my $complaint = promtool_check($text);
ok $complaint eq '' or diag $complaint;

# Prometheus' own Accept header.
my $accept = 'Accept: application/openmetrics-text;version=1.0.0,'
    . 'application/openmetrics-text;version=0.0.1;q=0.75,'
    . "text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
my ($om, $omhead) = scrape($port, '/metrics', $accept);
ok $omhead =~ m{^Content-Type: application/openmetrics-text; version=1\.0\.0; charset=utf-8\r?$}mi
    or diag $omhead;
ok $omhead =~ /^Vary: .*Accept/mi;
my ($bad, $ex) = openmetrics_check($om);
ok !@$bad or diag join "\n", @$bad[0 .. ($#$bad < 20 ? $#$bad : 20)];
ok $om =~ /^# TYPE http_requests counter$/m
    && $om =~ /^http_requests_total\{/m;

# Exemplars on each latency histogram, each the id of a logged request.
my %by_family;
push @{ $by_family{$_->{family}} }, $_ for @$ex;
for my $f (qw(http_request_duration_seconds
              llm_router_provider_latency_seconds
              llm_router_time_to_first_token_seconds
              llm_router_gateway_overhead_seconds)) {
    my @chat = grep { $_->{series} !~ /endpoint=metrics/ }
               @{ $by_family{$f} // [] };
    my @unknown = grep { !$ids{$_->{labels}{request_id} // ''} } @chat;
    ok @chat && !@unknown
        or diag(join("\n", grep { /^${f}_bucket.* # / } split /\n/, $om)),
        diag "$f: " . scalar(@chat) . " exemplars, unknown ids: "
            . join ' ', map { $_->{labels}{request_id} // '-' } @unknown;
}
# exemplar times are recent (seconds since the epoch)
my @old = grep { !defined $_->{ts} || abs($_->{ts} - time) > 300 } @$ex;
ok @$ex && !@old or diag scalar(@old) . ' exemplars without a recent time';
# no exemplars on counters or gauges: only the four histograms
my @other = grep { !/^(http_request_duration_seconds|llm_router_(provider_latency|time_to_first_token|gateway_overhead)_seconds)$/ }
            keys %by_family;
ok !@other or diag "exemplars on: @other";

# OpenMetrics of another version only, or text/plain first: the text
# format.
my (undef, $h2) = scrape($port, '/metrics',
    "Accept: application/openmetrics-text;version=0.0.1\r\n");
ok $h2 =~ m{^Content-Type: text/plain}mi or diag $h2;
my (undef, $h3) = scrape($port, '/metrics',
    "Accept: text/plain;version=0.0.4,application/openmetrics-text;q=0.5\r\n");
ok $h3 =~ m{^Content-Type: text/plain}mi or diag $h3;
