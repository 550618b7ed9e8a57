# What a provider receives (issue 11, part 6): an allow-list, not the
# client's headers minus a few. Each API gets the content type, the
# client's Accept, the provider's own credentials and the headers the
# API itself needs; nothing else of the client's unless the scope lists
# it (LLMRouterForwardHeaders), and never the client's credentials,
# framing or hop-by-hop headers. The mock records what came (record=
# in each provider's URL, t/models/headers.json.in) and shows a
# credential only as a hash of it.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use IO::Socket::INET;
use JSON::PP;
use Digest::SHA qw(sha1_hex);
use lib 't/lib';
use LLMTest;

plan tests => 31, need_module 'llm_router', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my ($gw) = Apache::TestRequest::module2url('headers_gateway', { path => '' })
    =~ m{^\w+://([^/]+)};
my $root = Apache::Test::vars('serverroot');
my @answers;        # every raw response of this file, for the key check

sub redacted { 'redacted:sha1:' . substr(sha1_hex(shift), 0, 16) }

# One request on a raw connection, the headers exactly as given (LWP
# would add its own TE, Connection and User-Agent). Returns the status
# and the raw response; a 100 Continue is skipped.
sub raw_post {
    my ($path, $body, @h) = @_;
    $body = $J->encode($body) if ref $body;
    my $s = IO::Socket::INET->new(PeerAddr => $gw, Timeout => 10)
        or die "connect $gw: $!";
    my $req = "POST $path HTTP/1.1\r\nHost: $gw\r\n"
        . "Content-Length: " . length($body) . "\r\n";
    while (my ($k, $v) = splice @h, 0, 2) {
        $req .= "$k: $v\r\n";
    }
    print $s "$req\r\n$body";
    my $res = read_response($s);
    close $s;
    push @answers, $res;
    my ($status) = $res =~ m{^HTTP/1\.1 (\d{3})};
    return ($status // 0, $res);
}

sub read_response {
    my $s = shift;
    my $buf = '';
    my $more = sub { my $n = sysread($s, $buf, 65536, length $buf); $n };
    while (1) {
        $more->() or return $buf while $buf !~ /\r\n\r\n/;
        last unless $buf =~ s{^HTTP/1\.1 1\d\d[^\r]*\r\n(?:[^\r]+\r\n)*\r\n}{};
    }
    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    if ($head =~ /^Content-Length:\s*(\d+)/mi) {
        my $len = $1;
        while (length($rest) < $len) {
            $more->() or last;
            ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        }
        return "$head\r\n\r\n" . substr($rest, 0, $len);
    }
    if ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        while ($rest !~ /(?:^|\r\n)0\r\n\r\n/) {
            $more->() or last;
            ($head, $rest) = split /\r\n\r\n/, $buf, 2;
        }
        my $body = '';
        while ($rest =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if !$n;
            $body .= substr($rest, 0, $n, '');
            $rest =~ s/^\r\n//;
        }
        return "$head\r\n\r\n$body";
    }
    1 while $more->();
    return $buf;
}

# What the provider behind record=$name received: its headers, names
# lower-cased. The file is removed first so that an old one is not read.
sub received {
    my ($name, $path, $body, @h) = @_;
    my $file = "$root/logs/mock-$name.json";
    unlink $file;
    my ($status) = raw_post($path, $body, @h);
    my $d = eval { local (@ARGV, $/) = ($file); $J->decode(<>) } // {};
    my $hd = $d->{headers} // {};
    return ($status, { map { lc($_) => $hd->{$_} } keys %$hd });
}

# Every header a hostile or careless client might send.
my @hostile = (
    'Content-Type' => 'application/json',
    'Accept' => 'application/json',
    'Accept-Encoding' => 'gzip',
    'OpenAI-Organization' => 'org-client-chosen',
    'OpenAI-Project' => 'proj-client-chosen',
    'api-key' => 'client-azure-key',
    'X-Api-Key' => 'client-x-api-key',
    'Authorization' => 'Bearer client-key-for-the-gateway',
    'Proxy-Authorization' => 'Basic Y2xpZW50OnByb3h5',
    'Cookie' => 'session=client-cookie',
    'Forwarded' => 'for=203.0.113.9;proto=https',
    'X-Forwarded-For' => '203.0.113.9',
    'X-Forwarded-Host' => 'client.example',
    'Via' => '1.1 client-proxy',
    'User-Agent' => 'hostile-client/1.0',
    'X-Custom' => 'custom-value',
    'X-Mock-Content' => 'a knob this scope does not list',
    'anthropic-version' => '2020-01-01',
    'anthropic-beta' => 'tools-2024-04-04',
    'Expect' => '100-continue',
    'Connection' => 'Authorization, X-Custom',
);

my $chat = { model => 'hdr-openai',
             messages => [{ role => 'user', content => 'Hello' }] };
my $amsg = { max_tokens => 16,
             messages => [{ role => 'user', content => 'Hello' }] };

# The exact set: name => value (undef: any value).
sub exactly {
    my ($got, $want, $what) = @_;
    my @bad = grep { !exists $want->{$_} } sort keys %$got;
    push @bad, map { "missing $_" } grep { !exists $got->{$_} } sort keys %$want;
    push @bad, map { "$_: $got->{$_}" }
        grep { exists $got->{$_} && defined $want->{$_}
               && $got->{$_} ne $want->{$_} } sort keys %$want;
    ok !@bad or diag "$what: " . join('; ', @bad) . "\n" . jdump($got);
}

sub base {
    my %extra = @_;
    # mod_proxy_http's own: Host, Content-Length, and Keep-Alive for its
    # pooled connections.
    return { host => undef, 'content-length' => undef,
             connection => 'Keep-Alive',
             'content-type' => 'application/json',
             accept => 'application/json', %extra };
}

# The header pairs but those named.
sub without {
    my ($names, @pairs) = @_;
    my %drop = map { lc($_) => 1 } @$names;
    my @out;
    while (my ($k, $v) = splice @pairs, 0, 2) {
        push @out, $k, $v unless $drop{lc $k};
    }
    return @out;
}

sub bearer { (authorization => redacted('Bearer ' . shift)) }
sub anthropic {
    ('x-api-key' => redacted(shift), 'anthropic-version' => '2023-06-01',
     'anthropic-beta' => 'tools-2024-04-04');
}

# --- each API gets what it needs, whatever the client sent -----------------
my ($st, $h) = received('hdr-openai', '/v1/chat/completions', $chat, @hostile);
ok $st == 200;
exactly($h, base(bearer('sk-hdr-openai-key')), 'OpenAI');

($st, $h) = received('hdr-vllm', '/v1/chat/completions',
                     { %$chat, model => 'hdr-vllm' }, @hostile);
exactly($h, base(bearer('sk-hdr-vllm-key')), 'vLLM');

($st, $h) = received('hdr-lmstudio', '/v1/chat/completions',
                     { %$chat, model => 'hdr-lmstudio' }, @hostile);
exactly($h, base(bearer('sk-hdr-lmstudio-key')), 'LM Studio');

($st, $h) = received('hdr-ollama', '/api/chat',
                     { %$chat, model => 'hdr-ollama', stream => JSON::PP::false },
                     @hostile);
ok $st == 200;
exactly($h, base(bearer('sk-hdr-ollama-key')), 'Ollama');

# Anthropic: its key header and the gateway's version; the client's
# anthropic-beta, since the provider speaks Anthropic.
($st, $h) = received('hdr-anthropic', '/v1/messages',
                     { %$amsg, model => 'hdr-anthropic' }, @hostile);
ok $st == 200;
exactly($h, base(anthropic('sk-hdr-anthropic-key')), 'Anthropic');

# Another dialect's client: the provider's needs, still nothing else.
($st, $h) = received('hdr-anthropic', '/v1/chat/completions',
                     { %$chat, model => 'hdr-anthropic' }, @hostile);
ok $st == 200;
exactly($h, base(anthropic('sk-hdr-anthropic-key')),
        'OpenAI client to Anthropic');
($st, $h) = received('hdr-ollama', '/v1/messages',
                     { %$amsg, model => 'hdr-ollama' }, @hostile);
exactly($h, base(bearer('sk-hdr-ollama-key')), 'Anthropic client to Ollama');

# A provider without a token gets no credential at all; a client that
# sent no Accept gets none sent.
($st, $h) = received('hdr-notoken', '/v1/chat/completions',
                     { %$chat, model => 'hdr-notoken' },
                     without(['Accept'], @hostile));
my $want = base();
delete $want->{accept};
exactly($h, $want, 'no token, no Accept');

# --- Connection: Authorization does not take the provider's token ---------
($st, $h) = received('hdr-openai', '/v1/chat/completions', $chat,
                     'Content-Type' => 'application/json',
                     'Connection' => 'Authorization');
ok $st == 200 && ($h->{authorization} // '') eq
    redacted('Bearer sk-hdr-openai-key') or diag jdump($h);

# --- the next provider starts from the client's headers again --------------
($st, $h) = received('hdr-busy', '/v1/chat/completions',
                     { %$chat, model => 'hdr-failover' }, @hostile);
my $spare = eval { local (@ARGV, $/) = ("$root/logs/mock-hdr-spare.json");
                   $J->decode(<>) } // {};
my %sh = map { lc($_) => $spare->{headers}{$_} } keys %{ $spare->{headers} // {} };
ok $st == 200;
exactly($h, base(bearer('sk-hdr-busy-key')), 'first attempt');
exactly(\%sh, base(bearer('sk-hdr-spare-key')), 'second attempt');

# --- a scope lists what else goes ------------------------------------------
# X-Custom and User-Agent listed; the client named X-Custom in its
# Connection header (a hop-by-hop header, not for the provider).
($st, $h) = received('hdr-vllm', '/listed/chat/completions',
                     { %$chat, model => 'hdr-vllm' }, @hostile);
ok $st == 200;
exactly($h, base(bearer('sk-hdr-vllm-key'),
                 'user-agent' => 'hostile-client/1.0'), 'listed, X-Custom hop-by-hop');
($st, $h) = received('hdr-vllm', '/listed/chat/completions',
                     { %$chat, model => 'hdr-vllm' },
                     without(['Connection'], @hostile));
exactly($h, base(bearer('sk-hdr-vllm-key'), 'user-agent' => 'hostile-client/1.0',
                 'x-custom' => 'custom-value'), 'listed');

# X-Forwarded-* only when listed (mod_proxy adds the client's address to
# the client's list); the client's credentials, framing, hop-by-hop
# headers and the gateway's own never, listed or not.
($st, $h) = received('hdr-vllm', '/forwarded/chat/completions',
                     { %$chat, model => 'hdr-vllm' }, @hostile);
ok $st == 200;
exactly($h, base(bearer('sk-hdr-vllm-key'),
                 'x-forwarded-for' => '203.0.113.9, 127.0.0.1',
                 'x-forwarded-host' => "client.example, $gw",
                 via => '1.1 client-proxy',
                 'openai-organization' => 'org-client-chosen'),
        'listed: forwarded and forbidden names');
ok $h->{host} =~ /^127\.0\.0\.1:\d+$/ && $h->{host} ne $gw
    or diag "host: $h->{host}";
($st, $h) = received('hdr-anthropic', '/forwarded/chat/completions',
                     { %$chat, model => 'hdr-anthropic' }, @hostile);
my $aw = base(anthropic('sk-hdr-anthropic-key'),
              'x-forwarded-for' => '203.0.113.9, 127.0.0.1',
              'x-forwarded-host' => "client.example, $gw",
              via => '1.1 client-proxy',
              'openai-organization' => 'org-client-chosen');
exactly($h, $aw, 'listed, to Anthropic');

# --- echoes and errors never carry a provider's key ------------------------
my $res;
($st, $res) = raw_post('/v1/chat/completions', { %$chat, model => 'hdr-echo' },
                       @hostile);
my ($echo) = $res =~ /\r\n\r\n(.*)\z/s;
$echo = eval { $J->decode($echo) } // {};
ok $st == 200 && ($echo->{headers}{Authorization} // '') eq
    redacted('Bearer sk-hdr-echo-key') or diag $res;
($st) = raw_post('/v1/messages', { %$amsg, model => 'hdr-refused' }, @hostile);
ok $st == 401;
($st) = raw_post('/v1/chat/completions', { %$chat, model => 'hdr-refused' },
                 @hostile);
ok $st == 401;
($st) = raw_post('/v1/chat/completions', { %$chat, model => 'hdr-dead' },
                 @hostile);
ok $st == 502;

my @keys = map { my $f = $_; local (@ARGV, $/) = ($f); <> =~ /"api_token":\s*"([^"]+)"/g }
           glob("$root/models/*.json.in");
ok @keys >= 10 && @answers == 18 or diag scalar(@keys) . ' keys, '
    . scalar(@answers) . ' answers';
my @leaks = grep { my $a = $_; grep { index($a, $_) >= 0 } @keys } @answers;
ok !@leaks or diag "a provider key in an answer:\n" . join("\n--\n", @leaks);

# The client's own headers are what the access log shows afterwards: the
# provider's key never takes the place of the client's.
my @log;
for (1 .. 40) {
    open my $fh, '<', "$root/logs/headers_access_log" or last;
    @log = <$fh>;
    last if @log >= @answers;
    select undef, undef, undef, 0.05;
}
my $as_sent = qr{^hdr /v1/chat/completions ua=hostile-client/1\.0 }
    . qr{auth=Bearer client-key-for-the-gateway key=client-x-api-key$};
ok @log >= @answers && (grep { /$as_sent/ } @log) or diag @log;
my @logged = grep { my $l = $_; grep { index($l, $_) >= 0 } @keys } @log;
ok !@logged or diag "a provider key in the access log:\n", @logged;
