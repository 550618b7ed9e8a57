# What reaches the provider (through the mock's echo) and what comes back.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use IO::Socket::INET;
use Digest::SHA qw(sha1_hex);
use lib 't/lib';
use LLMTest;

plan tests => 38, need_module 'llm_router', 'proxy_http';

my $chat = '/v1/chat/completions';
my @echo = ('X-Mock-Echo' => 1);

# The mock shows a credential as a hash of it, never the key itself.
sub redacted { 'redacted:sha1:' . substr(sha1_hex(shift), 0, 16) }

# --- a plain chat, as vLLM answers it --------------------------------------
my $res = post_json($chat, chat_body('mock-chat'));
my $d = json_of($res);
ok $res->code == 200 && $res->header('Content-Type') =~ m{^application/json};
ok $d->{object} eq 'chat.completion' && $d->{model} eq 'served/mock-chat';
ok $d->{choices}[0]{message}{content} eq 'Hello from the mock upstream.';
ok $d->{usage}{total_tokens} > 0;

# --- the body and headers the provider receives ----------------------------
my $sent = '{"foo":"bar","messages":[{"content":"Hello","role":"user"}],'
         . '"model":"mock-chat","temperature":0.2,"tool_choice":"auto",'
         . '"tools":[{"function":{"name":"f"},"type":"function"}]}';
$res = post_json($chat, $sent, @echo,
                 'Authorization' => 'Bearer client-key-for-the-gateway',
                 'X-Api-Key' => 'client-key', 'Cookie' => 'session=1',
                 'Accept-Encoding' => 'gzip', 'X-Request-Id' => 'r-42');
$d = json_of($res);
ok $res->code == 200 && $d && $d->{method} eq 'POST' or diag $res->content;
ok $d->{uri} =~ m{^/p=[ab]/v1/chat/completions$} or diag $d->{uri};
ok $d->{body} eq '{"model":"served/mock-chat","foo":"bar","messages":'
    . '[{"content":"Hello","role":"user"}],"temperature":0.2}'
    or diag $d->{body};
my %h = map { lc($_) => $d->{headers}{$_} } keys %{ $d->{headers} };
ok $h{'content-length'} == length($d->{body})
    && $h{'content-length'} == $d->{body_length};
ok !exists $h{'transfer-encoding'};
ok $h{'content-type'} eq 'application/json';
ok !exists $h{authorization} && !exists $h{'x-api-key'} && !exists $h{cookie}
    or diag jdump(\%h);
ok !exists $h{'accept-encoding'};
# Nothing else of the client's unless listed (this server lists only the
# mock's knobs), nor mod_proxy's X-Forwarded-* (t/router/headers.t).
ok !exists $h{'x-request-id'} && !exists $h{'x-forwarded-for'}
    or diag jdump(\%h);
ok $h{host} =~ /^127\.0\.0\.1:\d+$/;

# --- a provider with a token, tools, and a base URL ending in /v1 ----------
$d = json_of(post_json($chat, $sent =~ s/"mock-chat"/"mock-tools"/r, @echo,
                       'Authorization' => 'Bearer client-key'));
%h = map { lc($_) => $d->{headers}{$_} } keys %{ $d->{headers} };
ok $h{authorization} eq redacted('Bearer sk-provider-secret')
    or diag jdump(\%h);
ok $d->{uri} eq '/v1/chat/completions' or diag $d->{uri};
ok $d->{body} =~ /"tools":\[/ && $d->{body} =~ /"tool_choice":"auto"/
    && $d->{body} =~ /^\{"model":"mock-tools",/ or diag $d->{body};

# --- bodies larger than mod_proxy's 16 KiB prefetch, and chunked ones ------
my $big = { model => 'mock-chat',
            messages => [{ role => 'user', content => 'x' x 300_000 }] };
$d = json_of(post_json($chat, $big, @echo));
ok $d->{body_length} == length($d->{body}) && $d->{body_length} > 300_000;
ok $d->{body} eq '{"model":"served/mock-chat","messages":[{"content":"'
    . ('x' x 300_000) . '","role":"user"}]}';
%h = map { lc($_) => $d->{headers}{$_} } keys %{ $d->{headers} };
ok $h{'content-length'} == $d->{body_length} && !$h{'transfer-encoding'};

my $json = '{"model":"mock-chat","messages":[{"role":"user","content":"'
         . ('y' x 40_000) . '"}]}';
my $chunked = '';
for (my $i = 0; $i < length $json; $i += 7000) {
    my $part = substr($json, $i, 7000);
    $chunked .= sprintf("%x\r\n%s\r\n", length $part, $part);
}
my $raw = raw_request("POST $chat HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/json\r\nX-Mock-Echo: 1\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    . $chunked . "0\r\n\r\n");
ok $raw =~ m{^HTTP/1\.1 200} && $raw =~ /"body_length":40\d{3}/
    && $raw =~ /"content-length":"40\d{3}"/i or diag substr($raw, 0, 400);

# --- every OpenAI operation goes to its own path ---------------------------
$res = post_json('/v1/embeddings', { model => 'mock-embed',
                                     input => ['a', 'b'] });
$d = json_of($res);
ok $res->code == 200 && $d->{object} eq 'list' && @{ $d->{data} } == 2
    && ref $d->{data}[0]{embedding} eq 'ARRAY';
$d = json_of(post_json('/embeddings', { model => 'mock-embed', input => 'a' },
                       @echo));
ok $d->{uri} eq '/v1/embeddings';
$d = json_of(post_json('/v1/completions', { model => 'mock-chat',
                                            prompt => 'Once' }));
ok $d->{object} eq 'text_completion';
$d = json_of(post_json('/v1/completions', { model => 'mock-chat',
                                            prompt => 'Once' }, @echo));
ok $d->{uri} =~ m{/v1/completions$};
$d = json_of(post_json('/v1/responses', { model => 'mock-chat',
                                          input => 'Hi' }));
ok $d->{object} eq 'response' && $d->{status} eq 'completed';
$d = json_of(post_json('/responses', { model => 'mock-chat', input => 'Hi' },
                       @echo));
ok $d->{uri} =~ m{/v1/responses$};
ok post_json('/chat/completions', chat_body('mock-chat'))->code == 200;
ok post_json('/api/embeddings', { model => 'mock-embed', input => 'a' })
       ->code == 200;

# --- the sleep tier serves when no primary provider can ----------------------
$d = json_of(post_json($chat, chat_body('sleepy-model'), @echo));
ok $d->{uri} =~ m{^/p=sleep/};

# --- the provider's own errors reach the client as they are ----------------
$res = post_json($chat, chat_body('ratelimit-model'), 'X-Mock-Status' => 429,
                 'X-Mock-Retry-After' => 7);
$d = json_of($res);
ok $res->code == 429 && $res->header('Retry-After') == 7;
ok $d->{error}{code} eq 'rate_limit_exceeded';
$res = post_json($chat, chat_body('broken-model'), 'X-Mock-Status' => 500);
ok $res->code == 500 && json_of($res)->{error}{type} eq 'server_error';

# --- a stream passes through as the provider sent it -----------------------
$res = post_json($chat, chat_body('mock-chat', stream => JSON::PP::true),
                 'X-Mock-Chunks' => 4);
my @events = $res->content =~ /^data: (.*)\n\n/mg;
ok $res->code == 200
    && $res->header('Content-Type') eq 'text/event-stream; charset=utf-8';
ok @events == 7 && $events[-1] eq '[DONE]' or diag $res->content;
my $text = join '', map { $_->{choices}[0]{delta}{content} // '' }
           map { JSON::PP::decode_json($_) } @events[0 .. 5];
ok $text eq 'Hello from the mock upstream.';

# --- connections to a provider are pooled and kept alive ------------------
# Sequential requests ride a few pooled connections to the provider
# (one per worker thread that served them), each reused many times.
my @conn = map { json_of(post_json($chat, chat_body('mock-tools'), @echo)) }
           1 .. 12;
my %ports = map { $_->{peer_port} => 1 } @conn;
ok(keys(%ports) <= 4 && (grep { $_->{conn_requests} > 0 } @conn) >= 8)
    or diag join ' ', map { "$_->{peer_port}/$_->{conn_requests}" } @conn;

# --- notes for the access log ---------------------------------------------
my $log = Apache::Test::vars('serverroot') . '/logs/llm_access_log';
open my $fh, '<', $log;
my @lines = <$fh>;
ok grep { m{"POST /v1/chat/completions HTTP/1.1" 200 \d+ model=mock-chat provider=mock-[ab] err=-} } @lines;

sub raw_request {
    my $req = shift;
    my $sock = IO::Socket::INET->new(PeerAddr => 'localhost',
        PeerPort => Apache::Test::vars('port'), Timeout => 10) or die $!;
    print $sock $req;
    local $/;
    my $out = <$sock>;
    return $out // '';
}
