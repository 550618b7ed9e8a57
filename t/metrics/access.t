# The access metrics with real keys (llmctl key create, AuthType llm-key):
# auth_attempts_total and rate_limit_exceeded_total by key_id, the key
# id table bounded by LLMMetricsKeyIds (the first key ids met, then
# _other), random and missing keys counted under the empty key id and
# making no series; key_budget_usage_tokens from mod_llm_access's
# llm_access_each_budget: the key that spent some of its budget, its
# use and its limit.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;
use LLMMetrics;

plan tests => 20, need_module 'llm_router', 'llm_access', 'llm_metrics',
    'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/metrics-access";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
sub make_key { create_key($file, @_) }
my %k = (a => make_key('--id a'), b => make_key('--id b'),
         small => make_key('--id small --requests 2/min'),
         c => make_key('--id c'));
ok !grep { !$_ } values %k or diag 'llmctl key create failed';

my $port = eval {
    start_httpd("$dir/httpd", { mpm => 'prefork' }, 'LogLevel warn',
        'StartServers 2', 'MinSpareServers 2', 'MaxSpareServers 2',
        'ServerLimit 2', 'MaxRequestWorkers 2', 'KeepAlive Off',
        'LogFormat "%u %>s %{llm-key-id}n" k', "CustomLog $dir/access_log k",
        'LLMRouter On', "LLMRouterModels $root/models/main.json",
        "LLMAccessKeyFile $file", 'LLMMetrics On', 'LLMMetricsKeyIds 3',
        '<Location />', 'AuthType llm-key', 'AuthName gateway',
        'Require llm-permission chat', '</Location>',
        '<Location /bud>', 'LLMRouterPrefix /bud',
        'LLMBudgetTokens 100000/day', '</Location>',
        '<Location /metrics>', 'SetHandler llm-metrics', 'AuthType None',
        'Require all granted', '</Location>');
};
ok $port or diag $@;

my $http = HTTP::Tiny->new(timeout => 30);
my $logged = 0;
# One request, and its access-log line written before the next one goes:
# the key id table is filled in the order the keys are met.
sub call {
    my ($path, $key) = @_;
    my $res = $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json',
                     defined $key ? (Authorization => "Bearer $key") : () },
        content => $J->encode({ model => 'mock-chat', max_tokens => 16,
            messages => [{ role => 'user', content => 'Hello' }] }) });
    $logged++;
    for (1 .. 50) {
        open my $fh, '<', "$dir/access_log" or last;
        my @l = <$fh>;
        last if @l >= $logged;
        select undef, undef, undef, 0.05;
    }
    return $res->{status};
}
sub random_key { 'sk-' . join '', map { ('a' .. 'z')[rand 26] } 1 .. 40 }

my @st = map { call('/v1/chat/completions', $k{$_}) } qw(a b small small small c);
push @st, call('/bud/chat/completions', $k{b});
push @st, call('/v1/chat/completions', undef);
push @st, call('/v1/chat/completions', random_key()) for 1 .. 5;
ok "@st" eq '200 200 200 200 429 200 200 401 401 401 401 401 401'
    or diag "@st";

my $page = scrape($port);
my $complaint = promtool_check($page);
ok $complaint eq '' or diag $complaint;

my %want = (
    'auth_attempts_total{result="success",key_id="a"}' => 1,
    'auth_attempts_total{result="success",key_id="b"}' => 2,
    'auth_attempts_total{result="success",key_id="small"}' => 2,
    'auth_attempts_total{result="rate_limited",key_id="small"}' => 1,
    # the fourth key met: over LLMMetricsKeyIds 3
    'auth_attempts_total{result="success",key_id="_other"}' => 1,
    # no key and random keys: no key id
    'auth_attempts_total{result="auth_failed",key_id=""}' => 6,
    'rate_limit_exceeded_total{key_id="small",endpoint="v1/chat/completions"}' => 1,
);
for my $s (sort keys %want) {
    my ($name, $labels) = $s =~ /^([^{]+)\{(.*)\}$/;
    my $got = sample($page, $name, $labels);
    ok $got == $want{$s} or diag "$s: got $got, want $want{$s}";
}
my %ids = map { /key_id="([^"]*)"/ ? ($1 => 1) : () }
          grep { /^(auth_attempts_total|rate_limit_exceeded_total)\{/ }
          split /\n/, $page;
ok join(',', sort keys %ids) eq ',_other,a,b,small'
    or diag 'key ids: ' . join ',', sort keys %ids;

# Random keys make no series (the scrape's own series exist from now on).
my @before = sort(series_keys(scrape($port)));
call('/v1/chat/completions', random_key()) for 1 .. 10;
$page = scrape($port);
my @after = grep { !/^key_budget_/ } sort(series_keys($page));
@before = grep { !/^key_budget_/ } @before;
ok "@after" eq "@before" or diag 'new series: '
    . join ' ', grep { my $k = $_; !grep { $_ eq $k } @before } @after;
ok sample($page, 'auth_attempts_total', 'result="auth_failed",key_id=""')
    == 16;
$complaint = promtool_check($page);
ok $complaint eq '' or diag $complaint;

# Token budgets: the families are always there; their values come from
# mod_llm_access (llm_access_each_budget).
ok $page =~ /^# TYPE key_budget_usage_tokens gauge$/m;
ok $page =~ /^# TYPE key_budget_limit_tokens gauge$/m;
my @budget = grep { /^key_budget_usage_tokens\{/ } split /\n/, $page;
my $used = sample($page, 'key_budget_usage_tokens', 'key_id="b",period="day"');
ok $used > 0 or diag "budget of b: $used\n" . join "\n", @budget;
ok sample($page, 'key_budget_limit_tokens', 'key_id="b",period="day"') == 100000;
# only the key whose budget was spent
ok @budget == 1 or diag join "\n", @budget;
