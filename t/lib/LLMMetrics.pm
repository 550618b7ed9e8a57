package LLMMetrics;

# Helpers of the t/metrics/*.t files: scrape a /metrics page, check it
# with promtool (Debian's prometheus package), read its samples.
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempfile);
use IO::Socket::INET;

our @EXPORT = qw(raw_request scrape promtool_check sample series_keys
                 openmetrics_check);

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

# The body of GET $path (default /metrics) on $port; in list context
# also the response head. $headers: more request header lines.
sub scrape {
    my ($port, $path, $headers) = @_;
    my $res = raw_request($port, "GET " . ($path // '/metrics')
                                 . " HTTP/1.0\r\nHost: localhost\r\n"
                                 . ($headers // '') . "\r\n");
    my ($head, $body) = split /\r\n\r\n/, $res, 2;
    return wantarray ? ($body // '', $head // '') : $body // '';
}

# A strict reading of an OpenMetrics 1.0.0 text page (promtool 2.42 reads
# the Prometheus text format only). Returns (complaints, exemplars):
# complaints a list of strings (empty when the page is valid), exemplars
# a list of { family, series, le, labels => {..}, value, ts }.
#
# Checked: every line is "# HELP", "# TYPE", "# UNIT", a sample, or the
# final "# EOF" (nothing after it, no blank line); a family's TYPE before
# its samples, each family once and its samples together; the sample
# names of its type (counter: name_total, name_created; histogram:
# _bucket, _count, _sum, _created; gauge, unknown: name); label names,
# no label twice, values quoted with \\ \" \n escapes only; numbers;
# counters and histogram counts not negative; a histogram's buckets in
# ascending le, cumulative, ending with le="+Inf" equal to _count; each
# series once; exemplars only on counters' _total and buckets, their
# label set at most 128 characters, their value in their bucket.
sub openmetrics_check {
    my $text = shift;
    my (@bad, @ex, %family_seen, %series_seen);
    my ($fam, $type, %hist);
    my $num = qr/[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN/;
    my $lname = qr/[a-zA-Z_][a-zA-Z0-9_]*/;
    my $labels_re = qr/\{(?:$lname="(?:[^"\\\n]|\\[\\"n])*"(?:,$lname="(?:[^"\\\n]|\\[\\"n])*")*)?\}/;
    push @bad, 'does not end with "# EOF\n"' unless $text =~ /(?:^|\n)# EOF\n\z/;
    my @lines = split /\n/, $text;
    pop @lines if @lines && $lines[-1] eq '# EOF';
    my $parse_labels = sub {
        my $l = shift;
        my %h;
        return (\%h, undef) if !defined $l || $l eq '{}';
        my $body = substr($l, 1, -1);
        while ($body =~ /\G($lname)="((?:[^"\\]|\\.)*)"(?:,|$)/gc) {
            my ($k, $v) = ($1, $2);
            return (undef, "label $k twice") if exists $h{$k};
            $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
            $h{$k} = $v;
        }
        return (\%h, undef);
    };
    my $close_hist = sub {
        for my $key (sort keys %hist) {
            my $h = $hist{$key};
            my @b = @{ $h->{buckets} };
            push(@bad, "$key: no le=\"+Inf\" bucket"), next
                unless @b && $b[-1][0] eq '+Inf';
            for my $i (1 .. $#b) {
                my ($pl, $pv) = @{ $b[$i - 1] };
                my ($l, $v) = @{ $b[$i] };
                push @bad, "$key: le not ascending at $l"
                    if $l ne '+Inf' && $pl ne '+Inf' && $l <= $pl;
                push @bad, "$key: buckets not cumulative at $l" if $v < $pv;
            }
            push @bad, "$key: _count $h->{count} != +Inf $b[-1][1]"
                if !defined $h->{count} || $h->{count} != $b[-1][1];
        }
        %hist = ();
    };
    for my $line (@lines) {
        if ($line =~ /^# (HELP|TYPE|UNIT) ($lname)(?: (.*))?$/) {
            my ($what, $name, $rest) = ($1, $2, $3 // '');
            if (!defined $fam || $name ne $fam) {
                $close_hist->();
                push @bad, "family $name twice" if $family_seen{$name}++;
                ($fam, $type) = ($name, undef);
            }
            if ($what eq 'TYPE') {
                push @bad, "$name: type '$rest'" unless $rest =~
                    /^(?:counter|gauge|histogram|gaugehistogram|summary|stateset|info|unknown)$/;
                $type = $rest;
            }
            push @bad, "$name: bad escape in HELP"
                if $what eq 'HELP' && $rest =~ /\\[^\\"n]/;
            next;
        }
        if ($line =~ /^#/ || $line eq '') {
            push @bad, "line '$line'";
            next;
        }
        my ($name, $lab, $value, $tail) = $line =~
            /^($lname)($labels_re)? ($num)((?: \S+)?(?: # .*)?)$/
            or push(@bad, "sample '$line'"), next;
        my ($ts, $exemplar) = $tail =~ /^(?: ($num))?(?: # (.*))?$/
            or push(@bad, "after the value: '$line'"), next;
        push(@bad, "sample $name before any TYPE"), next unless $type;
        my %ok_suffix = (counter => [qw(_total _created)],
            histogram => [qw(_bucket _count _sum _created)],
            gauge => [''], unknown => ['']);
        my ($suffix) = grep { $name eq "$fam$_" } @{ $ok_suffix{$type} // [] };
        push(@bad, "sample $name in family $fam ($type)"), next
            unless defined $suffix;
        my ($lh, $err) = $parse_labels->($lab);
        push(@bad, "$line: $err"), next if $err;
        push @bad, "$name: negative $value"
            if ($type eq 'counter' || $suffix =~ /_bucket|_count/) && $value =~ /^-/;
        my $skey = $name . '{' . join(',', map { "$_=$lh->{$_}" } sort keys %$lh) . '}';
        push @bad, "series $skey twice" if $series_seen{$skey}++;
        my $le;
        if ($type eq 'histogram') {
            my %rest = %$lh;
            $le = delete $rest{le};
            my $hk = "$fam\{" . join(',', map { "$_=$rest{$_}" } sort keys %rest) . '}';
            if ($suffix eq '_bucket') {
                push(@bad, "$name without le"), next unless defined $le;
                push @{ $hist{$hk}{buckets} }, [$le, $value];
            }
            elsif ($suffix eq '_count') {
                $hist{$hk}{count} = $value;
            }
        }
        next unless defined $exemplar;
        push(@bad, "exemplar on $name"), next
            unless $suffix eq '_total' || $suffix eq '_bucket';
        my ($elab, $ev, $ets) = $exemplar =~ /^($labels_re) ($num)(?: ($num))?$/
            or push(@bad, "exemplar '$exemplar'"), next;
        my ($eh, $eerr) = $parse_labels->($elab);
        push(@bad, "exemplar $elab: $eerr"), next if $eerr;
        my $chars = 0;
        $chars += length($_) + length($eh->{$_}) for keys %$eh;
        push @bad, "exemplar labels over 128 characters: $elab" if $chars > 128;
        if (defined $le && $le ne '+Inf' && $ev > $le) {
            push @bad, "exemplar $ev above its bucket le=$le";
        }
        push @ex, { family => $fam, series => $skey, le => $le,
                    labels => $eh, value => $ev, ts => $ets };
    }
    $close_hist->();
    return (\@bad, \@ex);
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
