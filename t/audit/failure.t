# mod_llm_audit when records cannot be written, and the promise that a
# record is on disk before its response ends (docs/audit.md, "Nothing
# lost"). Gateways of their own (start_httpd), plaintext trails: the
# chain is the same sealed or not, and the failures are the disk's.
#
#   1. LLMAuditSync record: after each response, plain or streamed, its
#      record is already in the trail (the response's end was held).
#   2. An unwritable trail (its directory made read-only while a small
#      LLMAuditRotate needs new files): LLMAuditOnFailure closed answers
#      503 audit_unavailable in the client's dialect, refuses what comes
#      next before any provider sees it, and a streamed answer caught by
#      the failure does not end as a whole one; LLMAuditOnFailure open
#      serves and logs each lost record; once the directory is writable
#      again the trail says, in a record of its own, how many records
#      were lost and how many requests refused, and verifies intact.
#   3. A full disk (ulimit -f): closed refuses, open serves, and the
#      trail is cut back to its last whole record.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir);
use File::Path qw(rmtree);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 32, need_module 'llm_router', 'llm_audit', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/audit-failure";
chmod 0700, glob "$dir/*/trail" if -d $dir;
rmtree($dir);
t_mkdir($dir);
my $models = "$root/models/main.json";
my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_audit_module (\S+)/mod_llm_audit\.so} ? $1 : () }
        <$fh>;
};
my $llmctl = "$build/llmctl";
my $http = HTTP::Tiny->new(timeout => 30);

sub gateway {
    my ($name, $o, @extra) = @_;
    my $trail = "$dir/$name/trail";
    mkdir "$dir/$name";
    my $port = start_httpd("$dir/$name/httpd", $o,
        'LogLevel warn llm_audit:info', 'LLMRouter On',
        "LLMRouterModels $models", 'LLMAudit On', "LLMAuditDir $trail",
        'LLMAuditEncrypt Off', @extra);
    return ($port, $trail);
}

sub post {
    my ($port, $path, $body) = @_;
    return $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json' },
        content => $J->encode($body) });
}

sub chat {
    my ($port, $path, %extra) = @_;
    return post($port, $path, { model => 'mock-chat',
        messages => [{ role => 'user', content => 'Hello' }], %extra });
}

sub records {
    my ($trail, $event) = @_;
    my @r;
    for my $f (glob "$trail/llm-audit.*.jsonl") {
        open my $fh, '<', $f or next;
        push @r, grep { !$event || ($_->{event} // '') eq $event }
            map { eval { $J->decode($_) } || () } <$fh>;
    }
    return @r;
}

sub error_log {
    my $name = shift;
    local (@ARGV, $/) = "$dir/$name/httpd/error_log";
    return <> // '';
}

# A streamed chat read off the socket: the status, the body as it came
# (chunks undone), and whether the terminating chunk came. $at_end is
# called as soon as the end marker ([DONE]) has been read.
sub raw_stream {
    my ($port, $path, $at_end) = @_;
    my $body = $J->encode({ model => 'mock-chat', stream => JSON::PP::true,
        messages => [{ role => 'user', content => 'Hello' }] });
    my $s = IO::Socket::INET->new("127.0.0.1:$port") or die $!;
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\nContent-Length: "
        . length($body) . "\r\nConnection: close\r\n\r\n$body";
    my $raw = '';
    while (sysread $s, my $buf, 65536) {
        $raw .= $buf;
        if ($at_end && $raw =~ /\[DONE\]/) {
            $at_end->();
            undef $at_end;
        }
    }
    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my ($data, $complete) = ('', 0);
    $rest //= '';
    while ($rest =~ s/^([0-9a-fA-F]+)\r\n//) {
        my $n = hex $1;
        if ($n == 0) { $complete = 1; last }
        $data .= substr($rest, 0, $n, '');
        $rest =~ s/^\r\n//;
    }
    return { status => $status // 0, data => $data, complete => $complete,
             raw => $raw };
}

# 1. The record is there before the response has ended.
{
    my ($port, $trail) = gateway('hold', {});
    my $late = 0;
    for my $i (1 .. 20) {
        my $res = chat($port, '/v1/chat/completions');
        my $n = () = records($trail, 'request');
        $late++ unless $res->{status} == 200 && $n == 2 * $i - 1;
        # A stream: counted the moment its end marker is read.
        my $s = raw_stream($port, '/v1/chat/completions', sub {
            $n = () = records($trail, 'request') });
        $late++ unless $s->{status} == 200 && $s->{complete} && $n == 2 * $i;
    }
    ok $late == 0 or diag "$late responses ended before their record";
    my $v = `$llmctl audit verify $trail 2>&1`;
    ok $? == 0 && $v =~ /^intact: 40 records/ or diag $v;
    my @r = records($trail, 'request');
    ok(($r[1]{bytes_out} // 0) > 0 && $r[1]{stream})
        or diag jdump($r[1] // {});
    stop_httpd("$dir/hold/httpd");
}

# 2. A trail that cannot be written, then can again.
{
    my ($port, $trail) = gateway('unwritable', {}, 'LLMAuditRotate 4K',
        '<Location /open>', 'LLMRouterPrefix /open',
        'LLMAuditOnFailure open', '</Location>');
    chat($port, '/v1/chat/completions');
    chmod 0500, $trail or die $!;
    my ($refused, $served) = (undef, 0);
    for (1 .. 40) {
        my $res = chat($port, '/v1/chat/completions');
        if ($res->{status} != 200) { $refused = $res; last }
        $served++;
    }
    ok $refused && $refused->{status} == 503
        or diag "no refusal after $served requests";
    my $e = eval { $J->decode($refused->{content}) } // {};
    ok(($e->{error}{code} // '') eq 'audit_unavailable'
        && ($refused->{headers}{'content-type'} // '') =~ m{^application/json})
        or diag $refused->{content};

    # What comes next is refused before a provider sees it, in the
    # client's own dialect.
    my $next = chat($port, '/v1/chat/completions');
    ok $next->{status} == 503 or diag $next->{status};
    my $anth = post($port, '/v1/messages', { model => 'mock-chat',
        max_tokens => 10, messages => [{ role => 'user', content => 'Hi' }] });
    my $a = eval { $J->decode($anth->{content}) } // {};
    ok $anth->{status} == 503 && ($a->{type} // '') eq 'error'
        && ($a->{error}{message} // '') =~ /audit/ or diag $anth->{content};

    # open: served, and each lost record said in the error log.
    my $open = chat($port, '/open/chat/completions');
    ok $open->{status} == 200 or diag $open->{status};
    ok error_log('unwritable') =~ /LLM04007: audit record \(request\) NOT written/
        or diag error_log('unwritable');
    ok error_log('unwritable') =~ /LLM04015: audit trail \S+ is failing/;

    # A stream caught by the failure (the request let through, once a
    # second, to try the trail again) does not end as a whole answer.
    sleep 1;
    my $s = raw_stream($port, '/v1/chat/completions');
    ok(($s->{status} == 503 && $s->{raw} =~ /audit_unavailable/)
        || ($s->{status} == 200 && !$s->{complete}
            && $s->{data} !~ /\[DONE\]/))
        or diag $s->{raw};

    # Writable again: the next request that tries the trail resumes it.
    chmod 0700, $trail or die $!;
    sleep 1;
    my $back = chat($port, '/v1/chat/completions');
    ok $back->{status} == 200 or diag $back->{content};
    my ($gap) = records($trail, 'trail');
    ok $gap && $gap->{state} eq 'resumed' && $gap->{lost} >= 2
        && $gap->{refused} >= 2 or diag jdump($gap // {});
    ok error_log('unwritable') =~ /LLM04016: audit trail \S+ works again/;
    ok chat($port, '/v1/chat/completions')->{status} == 200;
    my $v = `$llmctl audit verify $trail 2>&1`;
    ok $? == 0 or diag $v;
    my @req = records($trail, 'request');
    ok @req == $served + 3 or diag scalar(@req) . " request records, "
        . ($served + 3) . " expected";
    stop_httpd("$dir/unwritable/httpd");
}

# 3. A full disk: every file the gateway writes may hold 24 KiB.
{
    my ($port, $trail) = gateway('full', { fsize => 24 }, 'LLMAuditRotate 0',
        '<Location /open>', 'LLMRouterPrefix /open',
        'LLMAuditOnFailure open', '</Location>');
    my ($refused, $served) = (undef, 0);
    for (1 .. 100) {
        my $res = chat($port, '/v1/chat/completions');
        if ($res->{status} != 200) { $refused = $res; last }
        $served++;
    }
    ok $refused && $refused->{status} == 503
        && $refused->{content} =~ /audit_unavailable/
        or diag "served $served; " . ($refused // {})->{content};
    ok $served > 10 or diag "served $served";
    ok chat($port, '/v1/chat/completions')->{status} == 503;
    ok chat($port, '/open/chat/completions')->{status} == 200;
    ok error_log('full') =~ /LLM04007: audit record \(request\) NOT written/;
    my ($file) = glob "$trail/llm-audit.*.jsonl";
    my $size = -s $file;
    ok $size <= 24 * 1024 or diag "$size bytes";
    # The write that hit the limit was cut back: whole records only.
    my $tail = do { open my $fh, '<', $file or die; local $/; <$fh> };
    ok substr($tail, -1) eq "\n" or diag 'the trail ends in a torn record';
    my $v = `$llmctl audit verify $trail 2>&1`;
    ok $? == 0 or diag $v;
    my @req = records($trail, 'request');
    ok @req == $served or diag scalar(@req) . " request records for $served";
    stop_httpd("$dir/full/httpd");
}

# 4. The same in batch mode: a batch that cannot be written counts its
#    records lost, requests are refused until a batch goes again, and
#    the gap is in the (sealed) trail.
{
    my $gnupg = "$dir/gnupg";
    mkdir $gnupg, 0700;
    local $ENV{GNUPGHOME} = $gnupg;
    system("gpg --batch --pinentry-mode loopback --passphrase '' "
        . "--quick-gen-key 'failure.t <failure\@test>' future-default "
        . "default never >/dev/null 2>&1") == 0
        and system("gpg --batch --armor --export failure\@test "
                   . ">$dir/auditor.asc 2>/dev/null") == 0
        or die "gpg cannot make a key pair";
    my ($port, $trail) = gateway('batchfail', {}, 'LLMAuditRotate 4K',
        'LLMAuditEncrypt On', "LLMAuditRecipient $dir/auditor.asc",
        'LLMAuditSync batch 4 1s');
    chat($port, '/v1/chat/completions') for 1 .. 4;
    chmod 0500, $trail or die $!;
    my $refused;
    for (1 .. 60) {
        my $res = chat($port, '/v1/chat/completions');
        if ($res->{status} == 503) { $refused = $res; last }
        select undef, undef, undef, 0.1;
    }
    ok $refused && $refused->{content} =~ /audit_unavailable/
        or diag 'no refusal in batch mode';
    ok error_log('batchfail') =~ /LLM04011: audit trail \S+: a batch of \d+ record\(s\) NOT written/
        or diag error_log('batchfail');
    chmod 0700, $trail or die $!;
    sleep 2;
    my $back;
    for (1 .. 30) {
        $back = chat($port, '/v1/chat/completions');
        last if $back->{status} == 200;
        select undef, undef, undef, 0.2;
    }
    ok $back->{status} == 200 or diag $back->{content};
    sleep 2;
    my $out = `$llmctl audit show --keyring $gnupg --event trail $trail 2>&1`;
    my ($gap) = map { $J->decode($_) } grep { /^\{/ } split /\n/, $out;
    ok $gap && $gap->{lost} >= 1 && $gap->{refused} >= 1 or diag $out;
    my $v = `$llmctl audit verify $trail 2>&1`;
    ok $? == 0 or diag $v;
    stop_httpd("$dir/batchfail/httpd");
    system("gpgconf --kill all >/dev/null 2>&1");
}

ok 1;
