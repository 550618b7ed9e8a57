# Streams flow: each SSE event reaches the client as soon as the
# provider sends it, and a stream cut by the provider never looks
# complete.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

plan tests => 14, need_module 'llm_router', 'proxy_http';

# Send a raw request; read the chunked SSE response as it arrives and
# note, for every complete event, when it arrived (epoch microseconds).
sub stream_events {
    my ($body, %hdr) = @_;
    my $path = delete $hdr{path} // '/v1/chat/completions';
    my $got = stream_request($path, $body, %hdr);
    my ($data, @events) = ('');
    # Each event with the time the piece that completed it arrived.
    for my $p (@{ $got->{pieces} }) {
        $data .= $p->[0];
        while ($data =~ s/^data: (.*?)\n\n//s) {
            push @events, { data => $1, at_us => $p->[1] };
        }
    }
    return { head => $got->{head}, events => \@events,
             complete => $got->{complete} };
}

# 10 content events, 100 ms apart; the mock stamps each one just before
# it flushes it.
my $r = stream_events(
    encode_json(chat_body('mock-chat', stream => JSON::PP::true)),
    'X-Mock-Chunks' => 10, 'X-Mock-Delay' => 100, 'X-Mock-Stamp' => 1,
    'X-Mock-Content' => 'one two three four five six seven eight nine ten');
ok $r->{head} =~ m{^HTTP/1\.1 200}
    && $r->{head} =~ m{Content-Type: text/event-stream}i
    && $r->{head} =~ /Transfer-Encoding: chunked/i
    && $r->{head} !~ /Content-Length/i;
my @ev = @{ $r->{events} };
ok @ev == 13 && $ev[-1]{data} eq '[DONE]' && $r->{complete}
    or diag scalar(@ev) . " events";

# Lag from the first token on: what comes before it (the role chunk) is
# held with the status until the first token, by design (the first-token
# timer), so the first token's own lag is the time-to-first-token cost.
my (@lag, @gap);
my ($prev, $begun);
for my $e (@ev) {
    next if $e->{data} eq '[DONE]';
    my $j = decode_json($e->{data});
    my $content = $j->{choices}[0]{delta}{content} // '';
    $begun ||= length $content;
    push @lag, ($e->{at_us} - $j->{mock_sent_us}) / 1000 if $begun;
    if (length $content) {
        push @gap, ($e->{at_us} - $prev) / 1000 if defined $prev;
        $prev = $e->{at_us};
    }
}
my @sorted = sort { $a <=> $b } @lag;
my $median = $sorted[int(@sorted / 2)];
diag sprintf "delivery lag ms: median %.2f, max %.2f; gaps ms: %s",
    $median, $sorted[-1], join(' ', map { sprintf '%.0f', $_ } @gap);
ok @lag == 11;
ok $median < 5 or diag "median lag $median ms";
ok $sorted[-1] < 30 or diag "max lag $sorted[-1] ms";
ok @gap == 9 && !grep { $_ < 80 } @gap;

# The provider cuts the stream after 3 events: the client must not see
# a stream that ends as if it were complete.
$r = stream_events(
    encode_json(chat_body('mock-chat', stream => JSON::PP::true)),
    'X-Mock-Chunks' => 8, 'X-Mock-Delay' => 20, 'X-Mock-Drop-After' => 3);
@ev = @{ $r->{events} };
ok $r->{head} =~ m{^HTTP/1\.1 200};
ok @ev == 5 && !grep { $_->{data} eq '[DONE]' } @ev
    or diag scalar(@ev) . " events";
ok !$r->{complete};   # no terminating chunk after a cut
# ... and says so in the stream itself, as its last event.
ok $ev[-1]{data} =~ /"code":"stream_interrupted"/ or diag $ev[-1]{data};

# A stream that stalls longer than LLMRouterIdleTimeout (1 s in /idle)
# is cut there, with the same explicit error, though its first token came
# in time (first-byte limit 5 s there): the first token after 2.5 s, the
# second not within 1 s of it.
my $t0 = time;
$r = stream_events(
    encode_json(chat_body('mock-chat', stream => JSON::PP::true)),
    path => '/idle/chat/completions', 'X-Mock-Chunks' => 4,
    'X-Mock-Delay' => 2500);
my $took = time - $t0;
@ev = @{ $r->{events} };
ok $r->{head} =~ m{^HTTP/1\.1 200} && !$r->{complete}
    && $ev[-1]{data} =~ /stream_interrupted/ or diag scalar(@ev) . " events";
ok $took > 3.4 && $took < 4.5 or diag "idle cut after $took s";

# LLMRouterTotalTimeout (1 s in /total) ends a stream that keeps flowing.
$t0 = time;
$r = stream_events(
    encode_json(chat_body('mock-chat', stream => JSON::PP::true)),
    path => '/total/chat/completions', 'X-Mock-Chunks' => 10,
    'X-Mock-Delay' => 300);
$took = time - $t0;
@ev = @{ $r->{events} };
ok !$r->{complete} && $ev[-1]{data} =~ /stream_interrupted/
    && (grep { $_->{data} =~ /"content":"[^"]/ } @ev) < 10
    or diag scalar(@ev) . " events";
ok $took > 0.9 && $took < 1.6 or diag "total cut after $took s";
