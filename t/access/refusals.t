# Refusals by mod_llm_access on Locations the router does not handle (a
# static file, a path proxied to another server) are one JSON error, not
# httpd's HTML page: OpenAI's shape (Anthropic's when the client sends
# anthropic-version), application/json, with WWW-Authenticate,
# Retry-After and X-RateLimit-* kept; what is let through is untouched.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 24, need_module 'llm_router', 'llm_access', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-refusals";
rmtree($dir);
mkdir $dir;
mkdir "$dir/htdocs";
mkdir "$dir/htdocs/$_" for qw(static limited);
for my $d (qw(static limited)) {
    open my $fh, '>', "$dir/htdocs/$d/hello.txt" or die;
    print $fh "hello\n";
}
my $file = "$dir/keys.json";
sub make_key { create_key($file, @_) }
my %k = (chat => make_key('--id chat --permissions chat'),
         admin => make_key('--id admin --permissions admin'));
(my $mock = mock_url('/health')) =~ s{/+$}{};

my $port = start_httpd("$dir/httpd", {},
    'LogLevel warn llm_access:info',
    "DocumentRoot $dir/htdocs", "LLMAccessKeyFile $file",
    "ProxyPass /proxied/health $mock",
    '<Location /static>', 'AuthType llm-key', 'AuthName static',
    'Require valid-user', '</Location>',
    '<Location /limited>', 'AuthType llm-key', 'AuthName limited',
    'Require valid-user', 'LLMLimitRequests 1/min', '</Location>',
    '<Location /proxied>', 'AuthType llm-key', 'AuthName proxied',
    'AuthzSendForbiddenOnFailure On',
    'Require llm-permission admin', '</Location>');

my $http = HTTP::Tiny->new(timeout => 30);
sub get {
    my ($path, $key, %h) = @_;
    $h{Authorization} = "Bearer $key" if defined $key;
    return $http->get("http://127.0.0.1:$port$path", { headers => \%h });
}
# One JSON error of $status with $code, in OpenAI's shape (or
# Anthropic's), labelled JSON, no HTML.
sub json_error {
    my ($res, $status, $code, $shape, $name) = @_;
    my $d = eval { $J->decode($res->{content}) } // {};
    my $ok = $res->{status} == $status
        && ($res->{headers}{'content-type'} // '') =~ m{^application/json}
        && $res->{content} !~ /<html|<!DOCTYPE/i
        && ($shape eq 'anthropic'
            ? ($d->{type} // '') eq 'error'
              && length($d->{error}{type} // '')
              && length($d->{error}{message} // '')
            : ($d->{error}{code} // '') eq $code
              && length($d->{error}{message} // '')
              && length($d->{error}{type} // ''));
    ok $ok or diag "$name: $res->{status} "
        . ($res->{headers}{'content-type'} // '-') . " $res->{content}";
    return $d;
}

# A static Location: no key, a bad key, a key without admin (a file is
# no LLM route: admin only).
my $res = get('/static/hello.txt');
json_error($res, 401, 'missing_key', 'openai', 'static, no key');
ok(($res->{headers}{'www-authenticate'} // '') =~ /^Bearer realm="static"/)
    or diag $res->{headers}{'www-authenticate'} // 'no challenge';
$res = get('/static/hello.txt', 'sk-llm-' . ('x' x 48));
json_error($res, 401, 'invalid_key', 'openai', 'static, bad key');
ok(($res->{headers}{'www-authenticate'} // '') =~ /error="invalid_token"/);
ok index($res->{content}, 'x' x 48) < 0;   # the key is not echoed
$res = get('/static/hello.txt', $k{chat});
json_error($res, 403, 'endpoint_denied_by_policy', 'openai',
           'static, chat key');
$res = get('/static/hello.txt', $k{admin});
ok $res->{status} == 200 && $res->{content} eq "hello\n"
    or diag "static, admin: $res->{status}";
# Anthropic's shape when the client says anthropic-version.
$res = get('/static/hello.txt', undef, 'anthropic-version' => '2023-06-01');
my $d = json_error($res, 401, 'missing_key', 'anthropic',
                   'static, anthropic');
ok(($d->{error}{type} // '') eq 'authentication_error')
    or diag $res->{content};

# A limit on a static Location: the 429 is JSON with its headers.
$res = get('/limited/hello.txt', $k{admin});
ok $res->{status} == 200 && ($res->{headers}{'x-ratelimit-limit'} // '') eq '1'
    or diag "limited, first: $res->{status}";
$res = get('/limited/hello.txt', $k{admin});
json_error($res, 429, 'rate_limit_exceeded', 'openai', 'limited, second');
ok(($res->{headers}{'retry-after'} // 0) >= 1);
ok(($res->{headers}{'x-ratelimit-limit'} // '') eq '1'
   && ($res->{headers}{'x-ratelimit-remaining'} // '') eq '0'
   && ($res->{headers}{'x-ratelimit-reset'} // 0) >= 1)
    or diag $J->encode($res->{headers});

# A proxied path that is no LLM route: refused as JSON, served as the
# backend answers when the key may.
$res = get('/proxied/health');
json_error($res, 401, 'missing_key', 'openai', 'proxied, no key');
$res = get('/proxied/health', $k{chat});
json_error($res, 403, 'endpoint_denied_by_policy', 'openai',
           'proxied, chat key');
$res = get('/proxied/health', $k{admin});
ok $res->{status} == 200 or diag "proxied, admin: $res->{status} "
    . $res->{content};
$res = $http->request('HEAD', "http://127.0.0.1:$port/proxied/health");
ok $res->{status} == 401 && ($res->{content} // '') eq '';

# An error that is not a refusal of ours keeps httpd's page.
$res = get('/nothing-here', $k{admin});
ok $res->{status} == 404 && ($res->{headers}{'content-type'} // '') =~ /html/
    or diag "404: $res->{status}";

# Every refusal above was logged with the key's id, never the key.
my $log = do { local (@ARGV, $/) = "$dir/httpd/error_log"; <> } // '';
ok $log =~ /LLM05003: GET \/static\/hello.txt: 403 endpoint_denied_by_policy \(key chat\)/
    or diag $log;
ok index($log, $k{chat}) < 0 && index($log, $k{admin}) < 0;

stop_httpd("$dir/httpd");

# The same Location once the router serves it: its own dialects win.
my $port2 = start_httpd("$dir/httpd2", {},
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file",
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'Require valid-user', '</Location>');
$res = $http->post("http://127.0.0.1:$port2/api/chat", {
    content => '{"model":"mock-chat","messages":[]}' });
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 401 && !ref($d->{error}) && length($d->{error} // '')
    && ($res->{headers}{'content-type'} // '') =~ m{^application/json}
    or diag "ollama route: $res->{status} $res->{content}";
$res = $http->post("http://127.0.0.1:$port2/v1/messages", {
    headers => { 'anthropic-version' => '2023-06-01',
                 'Content-Type' => 'application/json' },
    content => '{"model":"mock-chat","max_tokens":5,"messages":[]}' });
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 401 && ($d->{type} // '') eq 'error'
    or diag "anthropic route: $res->{status} $res->{content}";
$res = $http->get("http://127.0.0.1:$port2/v1/models");
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 401 && ($d->{error}{code} // '') eq 'missing_key'
    or diag "openai route: $res->{status} $res->{content}";
ok(($res->{headers}{'www-authenticate'} // '') =~ /^Bearer/);
stop_httpd("$dir/httpd2");
