package LLMMetrics;

# Helpers of the t/metrics/*.t files: scrape a /metrics page, check it
# with promtool (Debian's prometheus package), read its samples.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use IO::Socket::INET;

our @EXPORT = qw(raw_request scrape promtool_check sample series_keys);

# Send $request (the whole HTTP/1.0 request) to 127.0.0.1:$port on a
# fresh connection, so that every child process of a prefork server
# gets its share; returns the whole response.
sub raw_request {
    my ($port, $request) = @_;
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or return '';
    print $s $request;
    local $/;
    my $res = <$s> // '';
    close $s;
    return $res;
}

# The body of GET $path (default /metrics) on $port.
sub scrape {
    my ($port, $path) = @_;
    my $res = raw_request($port, "GET " . ($path // '/metrics')
                                 . " HTTP/1.0\r\nHost: localhost\r\n\r\n");
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    return $body // '';
}

# promtool's complaints about $text ('' when none). A missing promtool is
# a complaint: the suite needs it (scripts/install-deps).
sub promtool_check {
    my $text = shift;
    my ($fh, $file) = tempfile();
    print $fh $text;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    my $rc = $?;
    unlink $file;
    return "promtool: exit $rc: $out" if $rc || $out =~ /\S/;
    return '';
}

# The value of the sample "$name{labels}" (labels in the page's order, as
# one string: 'method="GET",endpoint="ping"'), 0 when absent.
sub sample {
    my ($text, $name, $labels) = @_;
    my $key = defined $labels && length $labels ? "$name\{$labels\}" : $name;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/;
        my ($k, $v) = $line =~ /^(.*) (\S+)$/ or next;
        return $v + 0 if $k eq $key;
    }
    return 0;
}

# Every series of the page (name and labels), for comparing pages.
sub series_keys {
    my $text = shift;
    return map { /^(.*) \S+$/ ? ($1) : () } grep { !/^#/ && /\S/ }
           split /\n/, $text;
}

1;
