# conf/grafana/mod_llm.json: valid JSON that Grafana imports (panels with
# Prometheus targets), whose expressions name only metrics this gateway
# emits (read from a real scrape), and that covers every area the issue
# asks for.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 6, need_module 'llm_metrics';

my $res = GET('/metrics');
ok $res->code == 200 or diag $res->status_line;
my %emitted;
my $page = $res->content;
while ($page =~ /^# TYPE (\S+) (\S+)$/mg) {
    my ($name, $type) = ($1, $2);
    $emitted{$name} = 1;
    $emitted{"${name}_$_"} = 1 for $type eq 'histogram'
        ? qw(bucket sum count) : ();
}

my $file = Apache::Test::vars('serverroot') . '/../conf/grafana/mod_llm.json';
open my $fh, '<', $file or die "$file: $!";
my $dash = eval { JSON::PP->new->decode(do { local $/; <$fh> }) };
ok $dash && $dash->{title} && ref $dash->{panels} eq 'ARRAY' or diag $@;

my (@exprs, $bare);
for my $p (@{ $dash->{panels} // [] }) {
    next if $p->{type} eq 'row';
    my @t = @{ $p->{targets} // [] };
    $bare++ unless @t && $p->{datasource}{type} eq 'prometheus';
    push @exprs, map { $_->{expr} } @t;
}
ok !$bare && @exprs >= 20 or diag "panels without a Prometheus target: "
    . ($bare // 0) . ", expressions: " . @exprs;

# A metric name in PromQL: an identifier before a selector or a range,
# or one of our names standing alone.
my %used;
for my $e (@exprs) {
    (my $plain = $e) =~ s/\{[^}]*\}//g;        # label matchers
    $plain =~ s/"[^"]*"//g;
    $plain =~ s/\b(?:by|without|on|ignoring)\s*\([^)]*\)//g;   # label names
    $used{$1} = 1 while $plain =~ /\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\[/g;
    $used{$1} = 1 while $plain =~
        /\b((?:http|llm_router|guardrail|masker|auth|rate_limit|key_budget)_[a-z_]+)\b/g;
}
my @unknown = grep { !$emitted{$_} } sort keys %used;
ok !@unknown or diag "not emitted: @unknown";

# Every area: traffic, errors, latency, TTFT, overhead, tokens, provider
# health, limits.
my @areas = qw(http_requests_total llm_router_provider_error_total
    http_request_duration_seconds_bucket
    llm_router_time_to_first_token_seconds_bucket
    llm_router_gateway_overhead_seconds_bucket llm_router_tokens_total
    llm_router_provider_up rate_limit_exceeded_total);
my @missing = grep { !$used{$_} } @areas;
ok !@missing or diag "no panel for: @missing";
# Every family the gateway emits has a panel.
my @unused = grep { my $n = $_; !grep { /^\Q$n\E(?:_bucket)?$/ } keys %used }
    grep { !/_(bucket|sum|count)$/ } sort keys %emitted;
ok !@unused or diag "families without a panel: @unused";
