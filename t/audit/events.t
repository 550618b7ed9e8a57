# mod_llm_audit's events, each through a gateway of its own and opened
# with the auditors' key: masking records by entity type, the pseudonyms'
# originals only where LLMAuditMaskMappings asks for them, the answer
# guard's decisions, and LLMAuditEvents choosing per Location.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir t_write_file);
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 14, need_module 'llm_router', 'llm_mask', 'llm_audit',
    'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/audit-events";
rmtree($dir);
t_mkdir($dir);
my $llmctl = llmctl_path();
my $gnupg = "$dir/gnupg";
gpg_keypair($gnupg, 'events@test', "$dir/auditor.asc");

my $mock = mock_url('/');
$mock =~ s{/$}{};
t_write_file("$dir/models.json", $J->encode({ g => {
    'ev-chat' => { providers => [{ id => 'ev-1', api_host => $mock,
        api_type => 'vllm' }] },
    'ev-banned' => { providers => [{ id => 'ev-2',
        api_host => "$mock/content=Here%20is%20plutonium", api_type => 'vllm' }] } },
    active_models => { g => ['ev-chat', 'ev-banned'] } }));

my $trail = "$dir/trail";
my $port = start_httpd("$dir/httpd", {}, 'LogLevel warn',
    'LLMRouter On', "LLMRouterModels $dir/models.json",
    'LLMMask On', 'LLMGuardResponses On',
    'LLMGuardDeny forbidden_topic "(?i)\bplutonium\b"',
    'LLMAudit On', "LLMAuditDir $trail", "LLMAuditRecipient $dir/auditor.asc",
    '<Location /pseudo>', 'LLMRouterPrefix /pseudo',
    'LLMMaskMode pseudonym', 'LLMAuditMaskMappings On', '</Location>',
    '<Location /static>', 'LLMRouterPrefix /static',
    'LLMAuditMaskMappings On', '</Location>',
    '<Location /nomask>', 'LLMRouterPrefix /nomask',
    'LLMAuditEvents -masking', '</Location>',
    '<Location /onlyreq>', 'LLMRouterPrefix /onlyreq',
    'LLMAuditEvents request', '</Location>');

my $http = HTTP::Tiny->new(timeout => 30);
sub chat {
    my ($path, $model, $content) = @_;
    return $http->post("http://127.0.0.1:$port$path/chat/completions", {
        headers => { 'Content-Type' => 'application/json' },
        content => $J->encode({ model => $model,
            messages => [{ role => 'user', content => $content }] }) });
}

my $pii = 'Write to jan.kowalski@example.com and to ewa@example.org';
ok chat('/v1', 'ev-chat', $pii)->{status} == 200;
ok chat('/pseudo', 'ev-chat', $pii)->{status} == 200;
ok chat('/static', 'ev-chat', $pii)->{status} == 200;
ok chat('/nomask', 'ev-chat', $pii)->{status} == 200;
ok chat('/onlyreq', 'ev-chat', 'Tell me about it')->{status} == 200;
ok chat('/v1', 'ev-banned', 'Tell me about it')->{status} == 403;

my $out = `$llmctl audit show --keyring $gnupg $trail 2>&1`;
my @rec = map { eval { $J->decode($_) } || { bad => $_ } } split /\n/, $out;
my %by;
push @{$by{$_->{route} // '?'}{$_->{event} // '?'}}, $_ for @rec;
my $plain = $by{'v1/chat/completions'};

# Masking by kind; no originals in static mode, nor where not asked.
my ($m) = @{$plain->{masking} // []};
ok $m && $m->{masked} == 2 && ($m->{types}{EMAIL} // 0) == 2
    && !exists $m->{mappings} or diag jdump($m // {});
my ($p) = grep { $_->{mappings} } @rec;
ok $p && ($p->{mappings}{'{{EMAIL_1}}'} // '') eq 'jan.kowalski@example.com'
    && ($p->{mappings}{'{{EMAIL_2}}'} // '') eq 'ewa@example.org'
    or diag jdump($p // {});
ok 1 == grep { $_->{mappings} } @rec
    or diag 'mappings outside the pseudonym scope';
ok $out =~ /kowalski/ && `cat $trail/*.jsonl` !~ /kowalski/
    or diag 'an original in clear';

# The answer guard: allowed answers, and the one it blocked.
my @guard = grep { ($_->{event} // '') eq 'guard' } @rec;
my ($blocked) = grep { $_->{verdict} eq 'blocked' } @guard;
ok $blocked && $blocked->{stage} eq 'answer'
    && $blocked->{reason} =~ /forbidden_topic/ && $blocked->{model} eq 'ev-banned'
    or diag jdump(\@guard);
ok((grep { $_->{stage} eq 'answer' && $_->{verdict} eq 'allowed' } @guard) >= 3)
    or diag jdump(\@guard);

# LLMAuditEvents: -masking keeps the rest; "request" keeps only that.
my $req_count = grep { ($_->{event} // '') eq 'request' } @rec;
my @masking = grep { ($_->{event} // '') eq 'masking' } @rec;
ok $req_count == 6 && @masking == 3 or diag "$req_count requests, "
    . scalar(@masking) . " masking records";
my $v = `$llmctl audit verify $trail 2>&1`;
ok $? == 0 or diag $v;
