# mod_llm_access end to end: keys made with llmctl key, a gateway (an
# httpd of its own, so that nothing of it is in the shared test
# configuration) with AuthType llm-key, Require llm-permission and
# llm-model per Location, and keys beside Basic auth in <RequireAny>.
# Every refusal is JSON in the client's dialect; no key is ever in a
# body or a log.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64;
use lib 't/lib';
use LLMTest;

plan tests => 70, need_module 'llm_router', 'llm_access', 'proxy_http',
    'auth_basic', 'authn_file';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-keys";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_access_module (\S+)/mod_llm_access\.so} ? $1 : () }
        <$fh>;
};
my $llmctl = "$build/llmctl";

# llmctl key create: the key on stdout, once.
sub make_key {
    my ($id, @opts) = @_;
    return create_key($file, "--id $id", @opts);
}
sub ctl { system("$llmctl key @_ --file $file >/dev/null 2>&1") >> 8 }

my %k = (
    all      => make_key('all'),
    chat     => make_key('chat-only', '--permissions', 'chat'),
    mocks    => make_key('mocks', '--models', 'mock-*'),
    expired  => make_key('expired'),
    disabled => make_key('disabled'),
    revoked  => make_key('revoked'),
    graced   => make_key('graced'),
    rotated  => make_key('rotated'),
    admin    => make_key('admin', '--permissions', 'admin'),
);
ok $k{all} =~ /^sk-llm-[A-Za-z0-9]{48}$/ or diag "key: $k{all}";
ok !grep { $_ eq '' } values %k;
ok ctl('disable', 'disabled') == 0;
ok ctl('revoke', 'revoked') == 0;
ok ctl('enable', 'revoked') == 1;       # revoked for good
my $graced_new = `$llmctl key rotate --file $file --grace 1h graced 2>/dev/null`;
my $rotated_new = `$llmctl key rotate --file $file --grace 0 rotated 2>/dev/null`;
chomp($graced_new, $rotated_new);
ok $graced_new =~ /^sk-llm-/ && $rotated_new =~ /^sk-llm-/;
ok ctl('show', 'nobody') == 1;
# An expiry in the past: the file is the operator's to edit too.
{
    open my $fh, '<', $file or die;
    my $d = $J->decode(do { local $/; <$fh> });
    $_->{expires} = 1000 for grep { $_->{id} eq 'expired' } @{ $d->{keys} };
    open $fh, '>', $file or die;
    print $fh $J->encode($d);
}
ok((stat $file)[2] & 07777) == 0600 or diag sprintf "mode %o",
    (stat $file)[2] & 07777;

my $models = "$root/models/main.json";
my $htpasswd = Apache::Test::vars('t_conf') . '/htpasswd';
my @conf = ('LogLevel warn llm_access:info',
    'LogFormat "%u %r %>s key=%{llm-key-id}n err=%{llm-error}n" keys',
    "CustomLog $dir/access_log keys",
    'LLMRouter On', "LLMRouterModels $models",
    "LLMAccessKeyFile $file",
    '<Location />', 'AuthType llm-key', 'AuthName "gateway"',
    'AuthzSendForbiddenOnFailure On',
    'Require llm-permission chat embedding anthropic ollama builtin',
    '</Location>',
    # Public routes stay public by ordinary config.
    '<Location /v1/models>', 'Require all granted', '</Location>',
    '<Location /q>', 'LLMRouterPrefix /q',
    'LLMAccessKeySources bearer query', '</Location>',
    '<Location /onlymock>', 'LLMRouterPrefix /onlymock',
    'Require llm-model mock-* other', '</Location>',
    '<Location /admin>', 'LLMRouterPrefix /admin',
    'Require llm-permission admin', '</Location>',
    # Not an LLM route: a key needs admin (the balance status page).
    '<Location /keyed-status>', 'SetHandler llm-balance-status',
    'Require valid-user', '</Location>',
    # A Require that refuses, overruled by another: a later error of the
    # request is that error, not the refusal.
    '<Location /overruled>', 'LLMRouterPrefix /overruled',
    'LimitRequestBody 100', '<RequireAny>', 'Require llm-permission admin',
    'Require valid-user', '</RequireAny>', '</Location>',
    # People with a password, programs with a key, on one Location.
    '<Location /mixed>', 'LLMRouterPrefix /mixed', 'AuthType Basic',
    'AuthName "mixed"', "AuthUserFile $htpasswd", 'LLMAccessKeys On',
    '<RequireAny>', 'Require user alice', 'Require llm-permission chat',
    '</RequireAny>', '</Location>');
my $port = eval { start_httpd("$dir/httpd", {}, @conf) };
ok $port or diag $@;

my $http = HTTP::Tiny->new(timeout => 30);
sub call {
    my ($path, $hdr, $model, $body) = @_;
    $body //= { model => $model // 'mock-chat',
                messages => [{ role => 'user', content => 'Hello' }],
                max_tokens => 16 };
    return $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json', %{ $hdr // {} } },
        content => $J->encode($body) });
}
sub bearer { { Authorization => "Bearer $_[0]" } }
sub err_of {
    my $res = shift;
    my $d = eval { $J->decode($res->{content}) } // {};
    return ref $d->{error} eq 'HASH' ? $d->{error}{code} // '' : '';
}
# A refusal as the OpenAI dialect says it, with the key nowhere in it.
sub refused {
    my ($res, $status, $code, $name) = @_;
    my $ok = $res->{status} == $status
        && ($res->{headers}{'content-type'} // '') =~ m{^application/json}
        && err_of($res) eq $code
        && !grep { index($res->{content}, $_) >= 0 } values %k;
    ok $ok or diag "$name: $res->{status} $res->{content}";
}

# Missing and unusable keys: 401 with a Bearer challenge.
my $res = call('/v1/chat/completions');
refused($res, 401, 'missing_key', 'no key');
ok(($res->{headers}{'www-authenticate'} // '') eq 'Bearer realm="gateway"')
    or diag $res->{headers}{'www-authenticate'};
$res = call('/v1/chat/completions', bearer('sk-llm-' . 'x' x 48));
refused($res, 401, 'invalid_key', 'an unknown key');
ok(($res->{headers}{'www-authenticate'} // '') =~ /error="invalid_token"/);
refused(call('/v1/chat/completions', bearer($k{expired})), 401,
        'key_expired', 'expired');
refused(call('/v1/chat/completions', bearer($k{disabled})), 401,
        'key_inactive', 'disabled');
refused(call('/v1/chat/completions', bearer($k{revoked})), 401,
        'key_inactive', 'revoked');
refused(call('/v1/chat/completions', bearer($k{rotated})), 401,
        'key_rotated', 'rotated, grace over');

# Good keys, from each header the official clients use.
ok call('/v1/chat/completions', bearer($k{all}))->{status} == 200;
ok call('/v1/chat/completions', { 'x-api-key' => $k{all} })->{status}
    == 200;
ok call('/v1/chat/completions', bearer($k{graced}))->{status} == 200;
ok call('/v1/chat/completions', bearer($graced_new))->{status} == 200;
ok call('/v1/chat/completions', bearer($rotated_new))->{status} == 200;
# api-key and the query string only where LLMAccessKeySources says.
refused(call('/v1/chat/completions', { 'api-key' => $k{all} }), 401,
        'missing_key', 'api-key header, off by default');
refused(call("/v1/chat/completions?api_key=$k{all}"), 401, 'missing_key',
        'query, off by default');
ok call("/q/chat/completions?api_key=$k{all}")->{status} == 200;
refused(call('/q/chat/completions?api_key=a'), 401, 'invalid_key',
        'a one-letter query key');
refused(call('/q/chat/completions', { 'x-api-key' => $k{all} }), 401,
        'missing_key', 'x-api-key where only bearer and query are taken');

# Permissions: the key's own, then the Location's Require.
refused(call('/v1/embeddings', bearer($k{chat}), 'mock-embed',
             { model => 'mock-embed', input => 'hi' }),
        403, 'endpoint_denied_by_policy', 'a chat key on embeddings');
ok call('/v1/embeddings', bearer($k{all}), undef,
        { model => 'mock-embed', input => 'hi' })->{status} == 200;
$res = call('/v1/messages', bearer($k{chat}), 'claude-chat');
my $d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 403 && ($d->{type} // '') eq 'error'
    && ($d->{error}{type} // '') eq 'permission_error'
    or diag "anthropic shape: $res->{status} $res->{content}";
ok call('/v1/messages', { 'x-api-key' => $k{all} }, 'claude-chat')
    ->{status} == 200;
$res = call('/api/chat', bearer($k{chat}), 'ollama-chat');
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 403 && !ref $d->{error} && length($d->{error} // '')
    or diag "ollama shape: $res->{status} $res->{content}";
refused(call('/admin/chat/completions', bearer($k{all})), 403,
        'endpoint_denied_by_policy', 'Require llm-permission admin');
ok call('/admin/chat/completions', bearer($k{admin}))->{status} == 200;
ok call('/overruled/chat/completions', bearer($k{all}))->{status} == 200;
$res = call('/overruled/chat/completions', bearer($k{all}), 'mock-chat',
            { model => 'mock-chat', messages => [{ role => 'user',
                                                   content => 'x' x 200 }] });
ok $res->{status} == 413 && err_of($res) ne 'endpoint_denied_by_policy'
    or diag "overruled, too large: $res->{status} $res->{content}";
ok call('/v1/chat/completions', bearer($k{admin}))->{status} == 200;
ok $http->get("http://127.0.0.1:$port/v1/models")->{status} == 200;
$res = $http->get("http://127.0.0.1:$port/keyed-status",
                  { headers => bearer($k{all}) });
ok $res->{status} == 403 or diag "status page, chat key: $res->{status}";
$res = $http->get("http://127.0.0.1:$port/keyed-status",
                  { headers => bearer($k{admin}) });
ok $res->{status} == 200 or diag "status page, admin key: $res->{status}";

# Models: the key's own patterns and Require llm-model, once the router
# has read the body.
ok call('/v1/chat/completions', bearer($k{mocks}), 'mock-chat')->{status}
    == 200;
refused(call('/v1/chat/completions', bearer($k{mocks}), 'ollama-chat'),
        403, 'model_denied_by_policy', 'a model outside the key\'s');
ok call('/onlymock/chat/completions', bearer($k{all}), 'mock-chat')
    ->{status} == 200;
refused(call('/onlymock/chat/completions', bearer($k{all}), 'ollama-chat'),
        403, 'model_denied_by_policy', 'Require llm-model');
$res = call('/v1/messages', bearer($k{mocks}), 'claude-chat');
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 403 && ($d->{error}{type} // '') eq 'permission_error'
    or diag "anthropic model refusal: $res->{status} $res->{content}";

# Basic auth and keys on one Location (<RequireAny>).
my $alice = { Authorization => 'Basic ' . encode_base64('alice:wonderland',
                                                        '') };
ok call('/mixed/chat/completions', $alice)->{status} == 200;
ok call('/mixed/chat/completions', bearer($k{chat}))->{status} == 200;
ok call('/mixed/chat/completions', { 'x-api-key' => $k{all} })->{status}
    == 200;
$res = call('/mixed/chat/completions');
ok $res->{status} == 401
    && ($res->{headers}{'www-authenticate'} // '') =~ /^Basic/
    or diag "mixed, nothing: $res->{status}";
refused(call('/mixed/chat/completions', bearer('sk-llm-nope')), 401,
        'invalid_key', 'mixed, a bad key');
$res = call('/mixed/chat/completions', {
    Authorization => 'Basic ' . encode_base64('alice:wrong', '') });
ok $res->{status} == 401 or diag "mixed, wrong password: $res->{status}";

# r->user is the key's id in the access log; no key in any log.
sleep 1;
my $log = do { local (@ARGV, $/) = "$dir/access_log"; <> } // '';
ok $log =~ m{^all POST /v1/chat/completions HTTP/1.1 200 key=all }m
    or diag $log;
ok $log =~ m{^- POST /v1/chat/completions HTTP/1.1 401 key=expired err=key_expired}m;
ok $log =~ m{^all POST /q/chat/completions\?api_key=redacted HTTP/1.1 200 }m;
ok $log =~ m{^- POST /v1/chat/completions\?api_key=redacted HTTP/1.1 401 }m;
ok $log =~ m{^- POST /q/chat/completions\?api_key=redacted HTTP/1.1 401 }m
    or diag $log;
ok $log =~ m{^alice POST /mixed/chat/completions }m;
my $elog = do { local (@ARGV, $/) = "$dir/httpd/error_log"; <> } // '';
ok $elog =~ /LLM05003: POST \/v1\/chat\/completions: 401 key_rotated \(key rotated\)/
    or diag $elog;
ok !grep { index($log . $elog, $_) >= 0 } values %k, $graced_new;
ok $elog =~ /LLM05001: key file \S+keys.json: 11 key\(s\)/;

# A key made while httpd runs works after a graceful restart; a broken
# file leaves the running gateway as it was and says why.
my $late = make_key('late');
refused(call('/v1/chat/completions', bearer($late)), 401, 'invalid_key',
        'a new key before the restart');
my $httpd = Apache::Test::vars('httpd');
system("$httpd -f $dir/httpd/httpd.conf -k graceful");
my $st = 0;
for (1 .. 50) {
    $st = call('/v1/chat/completions', bearer($late))->{status};
    last if $st == 200;
    select undef, undef, undef, 0.1;
}
ok $st == 200 or diag "after graceful: $st";
ok call('/v1/chat/completions', bearer($k{all}))->{status} == 200;

# A key file httpd cannot use stops it at start-up, with the reason.
open my $bad, '>', "$dir/bad.json" or die;
print $bad '{"keys":[{"id":"x y","hash":"00"}]}';
close $bad;
my $bad_port = eval { start_httpd("$dir/bad", {},
    'LLMRouter On', "LLMRouterModels $models",
    "LLMAccessKeyFile $dir/bad.json") };
ok !$bad_port;
my $bad_log = do { local (@ARGV, $/) = "$dir/bad/error_log"; <> } // '';
ok $bad_log =~ /LLM05002: mod_llm_access: \S+bad.json: key 1 \(id \?\): id:/
    or diag $bad_log;

# llmctl key's usage.
ok system("$llmctl key --help >/dev/null") == 0;
ok system("$llmctl key create >/dev/null 2>&1") >> 8 == 2
    || $ENV{LLMCTL_KEY_FILE};
ok system("$llmctl key list --file $dir/bad.json >/dev/null 2>&1") >> 8 == 2;
my $list = `$llmctl key list --file $file`;
ok $list =~ /^revoked\s+sk-llm-\S+\s+revoked /m
    && $list =~ /^graced\s+sk-llm-\S+\s+rotating /m
    && $list =~ /^rotated\s+sk-llm-\S+\s+rotated /m
    or diag $list;
ok $list !~ /sk-llm-[A-Za-z0-9]{20}/;

