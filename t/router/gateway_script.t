# "make start" with the user's own files (scripts/gateway, README): the
# models file given by LLM_MODELS instead of the demo's, and LLM_CONF's
# directives Included inside the gateway's VirtualHost; a file that is
# not there is named, and nothing starts.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir t_write_file);
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 8, need_module 'llm_router', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $top = "$root/..";
my $dir = "$root/logs/gateway-script";
rmtree($dir);
t_mkdir($dir);
my $mock = mock_url('/');
$mock =~ s{/$}{};
t_write_file("$dir/models.json", $J->encode({ mine => {
    'mine-chat' => { providers => [{ id => 'mine-1', api_host => $mock,
        api_type => 'vllm' }] } },
    active_models => { mine => ['mine-chat'] } }));
t_write_file("$dir/extra.conf", "LLMRouterMaxBody 1K\n");

my ($port, $demo) = (free_port(), free_port());
my $env = "LLM_PORT=$port LLM_DEMO_PORT=$demo";
my $out = `$env LLM_MODELS=$dir/nothere.json $top/scripts/gateway start 2>&1`;
ok $? >> 8 == 2 && $out =~ /LLM_MODELS=\S+nothere\.json: no such file/
    or diag $out;

$out = `$env LLM_MODELS=$dir/models.json LLM_CONF=$dir/extra.conf $top/scripts/gateway start 2>&1`;
ok $? == 0 or diag $out;
ok $out =~ /models: \Q$dir\E\/models\.json/ && $out =~ /extra configuration: /
    or diag $out;

my $http = HTTP::Tiny->new(timeout => 30);
sub chat {
    my ($model, $content) = @_;
    return $http->post("http://127.0.0.1:$port/v1/chat/completions", {
        headers => { 'Content-Type' => 'application/json' },
        content => $J->encode({ model => $model,
            messages => [{ role => 'user', content => $content }] }) });
}
ok chat('mine-chat', 'Hello')->{status} == 200;
ok chat('demo-chat', 'Hello')->{status} == 404;
# LLM_CONF's LLMRouterMaxBody, inside the gateway's VirtualHost.
my $big = chat('mine-chat', 'x' x 4096);
ok $big->{status} == 413 && $big->{content} =~ /"error"/ or diag $big->{status};
my $models = $http->get("http://127.0.0.1:$port/v1/models");
ok $models->{content} =~ /mine-chat/ && $models->{content} !~ /demo-chat/
    or diag $models->{content};

$out = `$env $top/scripts/gateway stop 2>&1`;
ok $? == 0 or diag $out;
