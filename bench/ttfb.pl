#!/usr/bin/env perl
# Time to first token of a streamed (SSE) chat answer, measured at the
# client against the mock upstream's own clock (bench/run's TTFB row).
#
#   bench/ttfb.pl [-n N] [-w WARMUP] [-m MODEL] [-t SECONDS] [--close]
#                 label=URL ...
#
# Each URL is a POST endpoint that streams an OpenAI chat completion from
# the mock (t/mock/mod_llm_mock.c) with stamp=1, so that every event
# carries "mock_sent_us", the mock's wall clock when it wrote the event.
# For each request the script records, on the same machine's clock:
#
#   lag : arrival of the first content event (the first whose
#         choices[0].delta.content is non-empty) minus its mock_sent_us:
#         what the path between the mock and the client adds to it;
#   ttfb: arrival of that event minus the moment the request was sent
#         (includes the mock's delay=MS before its first piece);
#   next: the lag of the later content events, for comparison: the
#         stream as it flows once the first token has passed.
#
# Requests are sequential (one in flight at a time) and taken in turn,
# one per URL, so that a swing of the machine's speed falls on all of
# them alike. Connections are kept alive, one per URL (--close: a new
# connection per request, "Connection: close"). WARMUP requests per URL
# (default 5) are not counted. Prints median and p90 of each figure per
# URL, then what the LAST URL adds to each of the others. Any failure
# (refused, timeout, non-200, an answer without a stamped content event)
# stops it with a message on stderr and exit status 1.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);
use JSON::PP ();
use Getopt::Long qw(GetOptions);

my ($n, $warm, $model, $timeout, $close) = (200, 5, 'bench-stream', 10, 0);
GetOptions('n=i' => \$n, 'w=i' => \$warm, 'm=s' => \$model,
           't=f' => \$timeout, 'close' => \$close)
    && @ARGV >= 1 && $n >= 1
    or do { print STDERR "usage: $0 [-n N] [-w WARMUP] [-m MODEL] [-t SECONDS] [--close] label=URL ...\n"; exit 1 };

my $json = JSON::PP->new;
$SIG{PIPE} = 'IGNORE';   # a closed kept-alive connection is an error to see
my @targets;
for my $arg (@ARGV) {
    my ($label, $host, $port, $path) =
        $arg =~ m{^([^=]+)=http://([^/:]+):(\d+)(/.*)$}
        or do { print STDERR "ttfb: not label=http://host:port/path: $arg\n"; exit 1 };
    push @targets, { label => $label, host => $host, port => $port,
                     path => $path, sock => undef, lag => [], ttfb => [], later => [] };
}

my $body = $json->encode({
    model => $model, stream => JSON::PP::true, max_tokens => 16,
    messages => [{ role => 'user', content => 'Say hello in one word.' }] });

sub fail { my ($t, $i, $msg) = @_; print STDERR "ttfb: $t->{label} request $i: $msg\n"; exit 1 }

sub connect_to {
    my ($t, $i) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $t->{host}, PeerPort => $t->{port},
                                  Proto => 'tcp', Timeout => $timeout)
        or fail($t, $i, "cannot connect to $t->{host}:$t->{port}: $@");
    $s->setsockopt(IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    return $s;
}

# One request; returns (lag_s, ttfb_s), or undef if a kept-alive
# connection turned out closed before any byte of the answer came (the
# caller then tries once more on a new one).
sub one {
    my ($t, $i, $fresh) = @_;
    $t->{sock} //= connect_to($t, $i);
    my $s = $t->{sock};
    my $req = "POST $t->{path} HTTP/1.1\r\nHost: $t->{host}:$t->{port}\r\n"
            . "Content-Type: application/json\r\nAccept: text/event-stream\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . ($close ? "Connection: close\r\n" : "") . "\r\n" . $body;
    my $sel = IO::Select->new($s);
    my $t0 = time;
    my $deadline = $t0 + $timeout;
    my $wrote = syswrite($s, $req);
    unless (defined $wrote && $wrote == length $req) {
        return undef unless $fresh;
        fail($t, $i, "write: " . ($! || 'short write'));
    }

    my ($raw, $head, $chunked, $clen, $conn_close) = ('', undef, 0, undef, 0);
    my ($data, $sse, $first_at, $first_stamp, $done, $status) = ('', '', undef, undef, 0);
    my $eof = 0;
    my @later;
    while (!$done) {
        my $left = $deadline - time;
        fail($t, $i, "no complete answer within ${timeout} s") if $left <= 0;
        $sel->can_read($left) or next;
        my $got = sysread($s, my $buf, 65536);
        my $now = time;
        unless (defined $got) {
            return undef if !$fresh && $raw eq '' && !defined $head;
            fail($t, $i, "read: $!");
        }
        if ($got == 0) {
            $eof = 1;
            return undef if !$fresh && $raw eq '' && !defined $head;
        }
        $raw .= $buf;

        if (!defined $head) {
            my $end = index($raw, "\r\n\r\n");
            if ($end < 0) {
                fail($t, $i, "connection closed before the answer's headers") if $eof;
                next;
            }
            $head = substr($raw, 0, $end);
            $raw = substr($raw, $end + 4);
            ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
            $status //= 'none';
            $chunked = $head =~ /^Transfer-Encoding:\s*chunked/mi;
            ($clen) = $head =~ /^Content-Length:\s*(\d+)/mi;
            $conn_close = $head =~ /^Connection:\s*close/mi;
        }
        # De-chunk what arrived into $data.
        if ($chunked) {
            while (1) {
                my $nl = index($raw, "\r\n");
                last if $nl < 0;
                my $size = hex(substr($raw, 0, $nl));
                if ($size == 0) {
                    # Last chunk (no trailers expected): the answer is complete.
                    last if length($raw) < $nl + 4;
                    $raw = '';
                    $done = 1;
                    last;
                }
                last if length($raw) < $nl + 2 + $size + 2;
                $data .= substr($raw, $nl + 2, $size);
                $raw = substr($raw, $nl + 2 + $size + 2);
            }
        } else {
            $data .= $raw;
            $raw = '';
            $done = 1 if defined $clen && length($data) >= $clen;
        }
        $done = 1 if $eof;
        if ($status ne '200') {
            next unless $done;
            (my $snip = substr($data, 0, 300)) =~ s/\s+/ /g;
            fail($t, $i, "HTTP $status: $snip");
        }
        # Complete SSE events: the first content event, and the lag of
        # the later ones (the stream as it flows, for comparison).
        $sse .= $data;
        $data = '';
        while ($sse =~ s/^(.*?)\r?\n\r?\n//s) {
            for my $line (split /\r?\n/, $1) {
                next unless $line =~ /^data:\s?(.*)$/;
                my $payload = $1;
                next if $payload eq '[DONE]';
                my $o = eval { $json->decode($payload) }
                    or fail($t, $i, "an event that is not JSON: " . substr($payload, 0, 200));
                my $c = $o->{choices} && $o->{choices}[0]
                        && $o->{choices}[0]{delta} && $o->{choices}[0]{delta}{content};
                next unless defined $c && length $c;
                defined $o->{mock_sent_us}
                    or fail($t, $i, "a content event without mock_sent_us "
                                    . "(is stamp=1 in the provider's URL?)");
                if (defined $first_at) {
                    push @later, $now - $o->{mock_sent_us} / 1e6;
                } else {
                    ($first_at, $first_stamp) = ($now, $o->{mock_sent_us});
                }
            }
        }
    }
    fail($t, $i, "stream ended without a content event") unless defined $first_at;
    fail($t, $i, "connection closed before the end of the answer")
        if $eof && $chunked;
    if ($close || $conn_close || $eof) {
        close $s;
        $t->{sock} = undef;
    }
    return ($first_at - $first_stamp / 1e6, $first_at - $t0, @later);
}

for my $i (1 .. $warm + $n) {
    for my $t (@targets) {
        my @r = one($t, $i, !defined $t->{sock});
        unless (@r && defined $r[0]) {
            close $t->{sock} if $t->{sock};
            $t->{sock} = undef;
            @r = one($t, $i, 1);
        }
        next if $i <= $warm;
        fail($t, $i, sprintf("negative lag %.3f ms: the mock and this client "
                             . "disagree on the clock", $r[0] * 1e3)) if $r[0] < -0.001;
        push @{ $t->{lag} }, $r[0];
        push @{ $t->{ttfb} }, $r[1];
        push @{ $t->{later} }, @r[2 .. $#r];
    }
}

sub pct {   # nearest rank, in ms
    my ($v, $p) = @_;
    my @s = sort { $a <=> $b } @$v;
    my $k = int($p / 100 * @s + 0.999999) - 1;
    $k = 0 if $k < 0;
    return $s[$k] * 1e3;
}

my $row = "%-16s %5s | %8.3f %8.3f | %8.3f %8.3f | %8.3f %8.3f\n";
printf "%-16s %5s | %8s %8s | %8s %8s | %8s %8s\n", 'stream', 'n',
    'lag_p50', 'lag_p90', 'ttfb_p50', 'ttfb_p90', 'next_p50', 'next_p90';
for my $t (@targets) {
    @$t{qw(l5 l9 t5 t9 n5 n9)} = (pct($t->{lag}, 50), pct($t->{lag}, 90),
                                  pct($t->{ttfb}, 50), pct($t->{ttfb}, 90),
                                  @{ $t->{later} } ? (pct($t->{later}, 50), pct($t->{later}, 90))
                                                   : (0, 0));
    printf $row, $t->{label}, scalar @{ $t->{lag} }, @$t{qw(l5 l9 t5 t9 n5 n9)};
}
my $last = $targets[-1];
for my $t (@targets[0 .. $#targets - 1]) {
    printf $row, "added: -$t->{label}", '',
        map { $last->{$_} - $t->{$_} } qw(l5 l9 t5 t9 n5 n9);
}
printf "(ms; lag: the first content event's arrival minus its mock_sent_us; ttfb: its\n"
     . " arrival minus the request's sending; next: lag of the later content events;\n"
     . " added: %s minus the row named; %s)\n", $last->{label},
     $close ? 'a new connection per request' : 'one kept-alive connection per URL';
exit 0;
