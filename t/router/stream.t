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
    my $sock = IO::Socket::INET->new(PeerAddr => 'localhost',
        PeerPort => Apache::Test::vars('port'), Timeout => 10) or die $!;
    my $headers = join '', map { "$_: $hdr{$_}\r\n" } sort keys %hdr;
    print $sock "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\n$headers" . "Connection: close\r\n\r\n$body";
    my ($raw, $data, @events) = ('', '');
    my ($head, $complete, $closed) = (undef, 0, 0);
    my $sel = IO::Select->new($sock);
    my $deadline = time + 15;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread $sock, my $buf, 65536;
        my $now = time;
        if (!$n) { $closed = 1; last }
        $raw .= $buf;
        if (!defined $head) {
            next unless $raw =~ s/^(.*?\r\n)\r\n//s;
            $head = $1;
        }
        # de-chunk what is complete
        while ($raw =~ /^([0-9a-fA-F]+)\r\n/) {
            my $size = hex $1;
            my $start = length($1) + 2;
            last if length($raw) < $start + $size + 2;
            if ($size == 0) { $complete = 1; $raw = ''; last }
            $data .= substr($raw, $start, $size);
            substr($raw, 0, $start + $size + 2, '');
        }
        while ($data =~ s/^data: (.*?)\n\n//s) {
            push @events, { data => $1, at_us => int($now * 1e6) };
        }
    }
    return { head => $head, events => \@events, complete => $complete };
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

my (@lag, @gap);
my $prev;
for my $e (@ev) {
    next if $e->{data} eq '[DONE]';
    my $j = decode_json($e->{data});
    push @lag, ($e->{at_us} - $j->{mock_sent_us}) / 1000;
    my $content = $j->{choices}[0]{delta}{content} // '';
    if (length $content) {
        push @gap, ($e->{at_us} - $prev) / 1000 if defined $prev;
        $prev = $e->{at_us};
    }
}
my @sorted = sort { $a <=> $b } @lag;
my $median = $sorted[int(@sorted / 2)];
diag sprintf "delivery lag ms: median %.2f, max %.2f; gaps ms: %s",
    $median, $sorted[-1], join(' ', map { sprintf '%.0f', $_ } @gap);
ok @lag == 12;
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
# is cut there, with the same explicit error, though its first byte came
# in time (first-byte limit 5 s there).
my $t0 = time;
$r = stream_events(
    encode_json(chat_body('mock-chat', stream => JSON::PP::true)),
    path => '/idle/chat/completions', 'X-Mock-Chunks' => 4,
    'X-Mock-Delay' => 2500);
my $took = time - $t0;
@ev = @{ $r->{events} };
ok $r->{head} =~ m{^HTTP/1\.1 200} && !$r->{complete}
    && $ev[-1]{data} =~ /stream_interrupted/ or diag scalar(@ev) . " events";
ok $took > 0.9 && $took < 2.0 or diag "idle cut after $took s";

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
