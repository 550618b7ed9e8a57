# The llm_access_refused hook end to end: mod_llm_audit (a plaintext
# trail) records each refusal of mod_llm_access as an "access" record
# with its kind, code, status, key id, limit and model, and never the
# presented key.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 7, need_module 'llm_router', 'llm_access', 'llm_audit',
    'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-audit";
rmtree($dir);
mkdir $dir;
my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_access_module (\S+)/mod_llm_access\.so} ? $1 : () }
        <$fh>;
};
my $file = "$dir/keys.json";
my $key = `$build/llmctl key create --file $file --id aud --models 'mock-*' 2>/dev/null`;
chomp $key;
my $bad = 'sk-llm-' . 'z' x 48;

my $port = start_httpd("$dir/httpd", {},
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file",
    'LLMAudit On', "LLMAuditDir $dir/trail", 'LLMAuditEncrypt Off',
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'Require valid-user', 'LLMLimitRequests 2/min', '</Location>');

my $http = HTTP::Tiny->new(timeout => 30);
sub call {
    my ($k, $model) = @_;
    return $http->post("http://127.0.0.1:$port/v1/chat/completions", {
        headers => { 'Content-Type' => 'application/json',
                     Authorization => "Bearer $k" },
        content => $J->encode({ model => $model // 'mock-chat',
            messages => [{ role => 'user', content => 'Hello' }] }) });
}

ok call($bad)->{status} == 401;
ok call($key, 'ollama-chat')->{status} == 403;
ok call($key)->{status} == 200;
ok call($key)->{status} == 429;

select undef, undef, undef, 0.3;
my $trail = join '', map { local (@ARGV, $/) = $_; <> }
    glob "$dir/trail/llm-audit.*.jsonl";
my @access = grep { ($_->{event} // '') eq 'access' }
    map { eval { $J->decode($_) } // {} } split /\n/, $trail;
my %by = map { ($_->{code} // '') => $_ } @access;
ok $by{invalid_key} && $by{invalid_key}{kind} eq 'auth_failed'
    && $by{invalid_key}{status} == 401 && !defined $by{invalid_key}{key_id}
    or diag $trail;
ok $by{model_denied_by_policy}
    && ($by{model_denied_by_policy}{model} // '') eq 'ollama-chat'
    && ($by{model_denied_by_policy}{key_id} // '') eq 'aud'
    && ($by{rate_limit_exceeded}{limit} // '') eq 'requests 2/60s'
    && ($by{rate_limit_exceeded}{kind} // '') eq 'rate_limited'
    or diag $trail;
ok index($trail, $key) < 0 && index($trail, $bad) < 0;
