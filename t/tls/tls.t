# TLS on both sides and httpd's own auth, through the examples in
# conf/examples/ as they are (Included with their Defines set): a
# throw-away CA made here (openssl), providers behind TLS the gateway
# must verify (and refuse when their certificate is from another CA or
# names another host), the gateway over TLS to curl and to the official
# openai npm client, client certificates instead of API keys, a Basic-
# auth admin page beside the public API, and a model set per VirtualHost.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir t_write_file);
use File::Path qw(rmtree);
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 17, need_module 'llm_router', 'llm_mask', 'proxy_http',
    'auth_basic', 'authn_file';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $top = "$root/..";
my $dir = "$root/logs/tls";
rmtree($dir);
t_mkdir($dir);
my $pki = "$dir/pki";
mkdir $pki;
my ($modules) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule mpm_\w+ (\S+)/mod_mpm_\w+\.so} ? $1 : () } <$fh>;
};

# --- A throw-away PKI ---------------------------------------------------
sub openssl { system("env -u LD_PRELOAD openssl @_ >/dev/null 2>&1") == 0 or die "openssl @_" }
sub ca {
    my $name = shift;
    openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
        "-keyout $pki/$name.key -out $pki/$name.pem -days 2",
        "-subj '/O=mod_llm tests/CN=$name'");
}
sub cert {
    my ($name, $ca, $subj, $san) = @_;
    openssl("req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes",
        "-keyout $pki/$name.key -out $pki/$name.csr -subj '$subj'");
    t_write_file("$pki/$name.ext", $san ? "subjectAltName=$san\n" : "\n");
    openssl("x509 -req -in $pki/$name.csr -CA $pki/$ca.pem -CAkey $pki/$ca.key",
        "-CAcreateserial -out $pki/$name.pem -days 2 -extfile $pki/$name.ext");
}
ca('ca');                   # servers: the gateway and the providers
ca('other-ca');             # someone else's
ca('clients-ca');           # the applications' certificates
my $local = 'DNS:localhost,IP:127.0.0.1';
cert('server', 'ca', '/CN=localhost', $local);
cert('wrongca', 'other-ca', '/CN=localhost', $local);
cert('wrongname', 'ca', '/CN=provider.example', 'DNS:provider.example');
cert('billing', 'clients-ca', '/O=Example Apps/CN=billing');
cert('intruder', 'clients-ca', '/O=Example Apps/CN=intruder');
cert('stranger', 'other-ca', '/O=Example Apps/CN=billing');
ok -s "$pki/server.pem" && -s "$pki/billing.pem";

# --- Providers behind TLS: the mock upstream, three certificates --------
my ($good, $bad_ca, $bad_name) = (free_port(), free_port(), free_port());
my @vhosts = map {
    my ($p, $c) = @$_;
    ("Listen 127.0.0.1:$p", "<VirtualHost 127.0.0.1:$p>", 'SSLEngine on',
     "SSLCertificateFile $pki/$c.pem", "SSLCertificateKeyFile $pki/$c.key",
     '<Location />', 'SetHandler llm-mock', '</Location>', '</VirtualHost>')
} [$good, 'server'], [$bad_ca, 'wrongca'], [$bad_name, 'wrongname'];
start_httpd("$dir/providers", {},
    "LoadModule ssl_module $modules/mod_ssl.so", 'LogLevel warn', @vhosts);

# The test's models, and models for each provider behind TLS.
my $models = $J->decode(do { local (@ARGV, $/) = "$root/models/main.json"; <> });
$models->{tls} = {
    'tls-chat' => { providers => [{ id => 'tls-good',
        api_host => "https://localhost:$good", api_type => 'vllm' }] },
    'tls-wrongca' => { providers => [{ id => 'tls-wrongca',
        api_host => "https://localhost:$bad_ca", api_type => 'vllm' }] },
    'tls-wrongname' => { providers => [{ id => 'tls-wrongname',
        api_host => "https://127.0.0.1:$bad_name", api_type => 'vllm' }] },
};
$models->{active_models}{tls} = ['tls-chat', 'tls-wrongca', 'tls-wrongname'];
t_write_file("$dir/models.json", $J->encode($models));
my $mock = mock_url('/');
$mock =~ s{/$}{};
t_write_file("$dir/team-a.json", $J->encode({ a => { 'team-a-chat' => {
    providers => [{ id => 'a1', api_host => $mock,
                    api_type => 'vllm' }] } }, active_models => { a => ['team-a-chat'] } }));
t_write_file("$dir/team-b.json", $J->encode({ b => { 'team-b-chat' => {
    providers => [{ id => 'b1', api_host => $mock,
                    api_type => 'vllm' }] } }, active_models => { b => ['team-b-chat'] } }));
system("env -u LD_PRELOAD htpasswd -b -c $dir/admins.htpasswd admin s3cret >/dev/null 2>&1") == 0
    or die 'htpasswd';

# --- The gateway: the examples, Included as they are --------------------
my ($tls, $mtls, $plain) = (free_port(), free_port(), free_port());
start_httpd("$dir/gateway", {},
    "LoadModule ssl_module $modules/mod_ssl.so", 'LogLevel warn',
    "Define LLM_TLS_PORT $tls", "Define LLM_MTLS_PORT $mtls",
    "Define LLM_PORT $plain", "Define LLM_TLS_CERT $pki/server.pem",
    "Define LLM_TLS_KEY $pki/server.key", "Define LLM_MODELS $dir/models.json",
    "Define LLM_PROVIDER_CA $pki/ca.pem", "Define LLM_CLIENT_CA $pki/clients-ca.pem",
    "Define LLM_ADMINS $dir/admins.htpasswd",
    "Define LLM_MODELS_A $dir/team-a.json", "Define LLM_MODELS_B $dir/team-b.json",
    # The npm client's script steers the mock (a provider's 429, a tool
    # call) with the headers the shared test configuration forwards.
    do { open my $fh, '<', "$top/t/conf/extra.conf.in" or die;
         grep { /^LLMRouterForwardHeaders / } <$fh> },
    "Include $top/conf/examples/tls-gateway.conf",
    "Include $top/conf/examples/client-certs.conf",
    "Include $top/conf/examples/per-vhost-models.conf");

# curl, verifying the gateway with the CA: (HTTP status, body, exit code).
sub curl {
    my ($url, @opt) = @_;
    # Not under the sanitizers' preloaded runtime (curl hangs under it).
    my $out = `env -u LD_PRELOAD curl -s -m 20 --cacert $pki/ca.pem -w '\\n%{http_code}' @opt '$url' 2>/dev/null`;
    my $rc = $? >> 8;
    my ($body, $status) = $out =~ /\A(.*)\n(\d+)\z/s ? ($1, $2) : ($out, 0);
    return ($status, $body, $rc);
}
sub chat_opts {
    my $model = shift;
    my $b = $J->encode({ model => $model,
        messages => [{ role => 'user', content => 'Hello' }] });
    return ('-H', "'Content-Type: application/json'", '-d', "'$b'");
}
my $api = "https://localhost:$tls/v1/chat/completions";

# The gateway over TLS, a provider over verified TLS.
my ($st, $body) = curl($api, chat_opts('tls-chat'));
ok $st == 200 && $body =~ /Hello from the mock upstream/ or diag "$st $body";
# A provider whose certificate another CA signed, or that names another
# host: refused by the gateway, a JSON 502.
($st, $body) = curl($api, chat_opts('tls-wrongca'));
ok $st == 502 && $body =~ /"error"/ or diag "$st $body";
($st, $body) = curl($api, chat_opts('tls-wrongname'));
ok $st == 502 && $body =~ /"error"/ or diag "$st $body";
# A client that does not trust the gateway's CA does not talk to it.
my (undef, undef, $rc) = curl($api, '--cacert', "$pki/other-ca.pem", chat_opts('tls-chat'));
ok $rc == 60 or diag "curl exit $rc";

# Basic auth for the admin page; the API beside it stays public.
($st) = curl("https://localhost:$tls/llm-status");
ok $st == 401 or diag $st;
($st, $body) = curl("https://localhost:$tls/llm-status", '-u', 'admin:s3cret');
ok $st == 200 && $body =~ /tls-good/ or diag "$st";
($st) = curl("https://localhost:$tls/llm-status", '-u', 'admin:wrong');
ok $st == 401 or diag $st;
($st, $body) = curl("https://localhost:$tls/v1/models");
ok $st == 200 && $body =~ /tls-chat/ or diag "$st $body";

# Client certificates: the named applications only.
my $mapi = "https://localhost:$mtls/v1/chat/completions";
my @billing = ('--cert', "$pki/billing.pem", '--key', "$pki/billing.key");
($st, $body) = curl($mapi, @billing, chat_opts('tls-chat'));
ok $st == 200 && $body =~ /chat\.completion/ or diag "$st $body";
($st, $body) = curl($mapi, '--cert', "$pki/intruder.pem", '--key',
    "$pki/intruder.key", chat_opts('tls-chat'));
ok $st == 403 && $body =~ /"error"/ && $body !~ /<html/i or diag "$st $body";
(undef, undef, $rc) = curl($mapi, chat_opts('tls-chat'));
ok $rc != 0 or diag 'served without a client certificate';
(undef, undef, $rc) = curl($mapi, '--cert', "$pki/stranger.pem", '--key',
    "$pki/stranger.key", chat_opts('tls-chat'));
ok $rc != 0 or diag "served a certificate of another CA";

# A model set per VirtualHost.
my @a = ('--resolve', "team-a.llm.example:$plain:127.0.0.1");
my @b = ('--resolve', "team-b.llm.example:$plain:127.0.0.1");
($st, $body) = curl("http://team-a.llm.example:$plain/v1/models", @a);
ok $body =~ /team-a-chat/ && $body !~ /team-b-chat/ or diag $body;
($st, $body) = curl("http://team-b.llm.example:$plain/v1/chat/completions", @b,
    chat_opts('team-a-chat'));
ok $st == 404 or diag "$st $body";
($st, $body) = curl("http://team-b.llm.example:$plain/v1/chat/completions", @b,
    chat_opts('team-b-chat'));
ok $st == 200 or diag "$st $body";

# The official openai client over TLS, trusting the CA as an application
# would (NODE_EXTRA_CA_CERTS): its whole script passes.
my $node = `NODE_EXTRA_CA_CERTS=$pki/ca.pem node $top/t/npm/openai.mjs https://localhost:$tls/v1 2>&1`;
ok $? == 0 && $node =~ /^ok /m && $node !~ /^not ok/m or diag $node;
