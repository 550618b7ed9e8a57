# The model lists answer per key: a request authenticated by an API key
# sees only the models the key may use (its "models" and the Require
# llm-model line that granted it) in GET /v1/models, LM Studio's
# /api/v0/models and Ollama's /api/tags; /v1/models/{id} and Ollama's
# /api/show of a model it may not use are 404 model_not_found, the same
# bytes as for a model that does not exist; a key without models and a
# public list see every model.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 17, need_module 'llm_router', 'llm_access', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-models";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
sub make_key { create_key($file, @_) }
my %k = (all => make_key('--id all'),
         mocks => make_key('--id mocks --models mock-*'),
         one => make_key('--id one --models ollama-chat'));

my $port = start_httpd("$dir/httpd", {},
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file",
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'Require valid-user', '</Location>',
    # Keys here are held to Require llm-model too.
    '<Location /narrow>', 'LLMRouterPrefix /narrow',
    'Require llm-model mock-chat claude-*', '</Location>',
    '<Location /public>', 'LLMRouterPrefix /public', 'Require all granted',
    '</Location>');

my $http = HTTP::Tiny->new(timeout => 30);
sub get {
    my ($path, $key) = @_;
    return $http->get("http://127.0.0.1:$port$path", { headers => {
        $key ? (Authorization => "Bearer $key") : () } });
}
sub names {
    my ($path, $key, $field) = @_;
    my $res = get($path, $key);
    my $d = eval { $J->decode($res->{content}) } // {};
    return 'status ' . $res->{status} if $res->{status} != 200;
    my $list = $d->{data} // $d->{models} // [];
    return join ',', sort map { $_->{$field // 'id'} } @$list;
}

my $every = names('/v1/models', $k{all});
my @every = split /,/, $every;
ok @every > 10 && $every =~ /\bmock-chat\b/ && $every =~ /\bollama-chat\b/
    or diag "every: $every";
my $mocks = join ',', grep { /^mock-/ } @every;
ok names('/v1/models', $k{mocks}) eq $mocks
    or diag 'mocks: ' . names('/v1/models', $k{mocks});
ok names('/v1/models', $k{one}) eq 'ollama-chat';
ok names('/api/v0/models', $k{mocks}) eq $mocks;
ok names('/api/tags', $k{one}, 'name') eq 'ollama-chat';
ok names('/api/tags', $k{all}, 'name') eq $every;

# /v1/models/{id}: a model the key may not use is refused as a chat
# with it is; one that does not exist is a 404.
my $res = get('/v1/models/mock-chat', $k{one});
my $denied = $res->{content};
ok $res->{status} == 403 && $denied =~ /"code":"model_denied_by_policy"/
    or diag "denied: $res->{status} $denied";
$res = $http->post("http://127.0.0.1:$port/v1/chat/completions", {
    headers => { Authorization => "Bearer $k{one}",
                 'Content-Type' => 'application/json' },
    content => '{"model":"mock-chat","messages":[{"role":"user","content":"hi"}]}' });
ok $res->{status} == 403 && $res->{content} eq $denied
    or diag "chat: $res->{status} $res->{content} vs $denied";
$res = get('/v1/models/no-such-model', $k{one});
ok $res->{status} == 404 && $res->{content} =~ /"code":"model_not_found"/
    or diag "unknown: $res->{status} $res->{content}";
$res = get('/v1/models/ollama-chat', $k{one});
ok $res->{status} == 200 && $res->{content} =~ /"id":"ollama-chat"/;
# Ollama's show, likewise.
$res = $http->post("http://127.0.0.1:$port/api/show", {
    headers => { Authorization => "Bearer $k{one}" },
    content => '{"model":"mock-chat"}' });
# (Ollama's error shape has the message only)
ok $res->{status} == 403 && $res->{content} =~ /not allowed for this key/
    or diag "show: $res->{status} $res->{content}";
$res = $http->post("http://127.0.0.1:$port/api/show", {
    headers => { Authorization => "Bearer $k{one}" },
    content => '{"model":"ollama-chat"}' });
ok $res->{status} == 200 or diag "show: $res->{status} $res->{content}";

# Require llm-model narrows what the key's own models allow.
ok names('/narrow/tags', $k{all}, 'name') eq 'claude-chat,mock-chat'
    or diag 'narrow: ' . names('/narrow/tags', $k{all}, 'name');
ok names('/narrow/tags', $k{mocks}, 'name') eq 'mock-chat';
ok names('/narrow/tags', $k{one}, 'name') eq '';
# A public list (no key asked for): every model, key or not.
ok names('/public/tags', undef, 'name') eq $every;
ok names('/public/tags', $k{one}, 'name') eq $every;
stop_httpd("$dir/httpd");
