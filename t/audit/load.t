# mod_llm_audit under load (docs/audit.md, "Nothing lost"): gateways of
# their own with several child processes, clients in parallel.
#
#   1. 300 requests from 10 clients at once (LLMAuditSync record): every
#      request has exactly one record (its UNIQUE_ID), seqs run 1..N
#      with no gap, the chain verifies.
#   2. LLMAuditSync batch (sealed to a throw-away key): the records come
#      in sealed batches, within the batch's time while traffic goes on,
#      and the rest when httpd stops; each request once, opened by
#      llmctl audit show.
#   3. kill -9 of a child, then of the parent and every child, in the
#      middle of traffic: the trail verifies up to its last whole record,
#      the next start says where the chain goes on, and the records
#      written after it chain on.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir);
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use lib 't/lib';
use LLMTest;

plan tests => 17, need_module 'llm_router', 'llm_audit', 'proxy_http',
    'headers';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/audit-load";
rmtree($dir);
t_mkdir($dir);
my $models = "$root/models/main.json";
my ($build, $modules);
{
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    for (<$fh>) {
        $build = $1 if m{^LoadModule llm_audit_module (\S+)/mod_llm_audit\.so};
        $modules = $1 if m{^LoadModule mpm_\w+ (\S+)/mod_mpm_\w+\.so};
    }
}
my $llmctl = "$build/llmctl";

# A throw-away recipient key pair.
my $gnupg = "$dir/gnupg";
gpg_keypair($gnupg, 'load@test', "$dir/auditor.asc");

sub gateway {
    my ($name, @extra) = @_;
    mkdir "$dir/$name";
    return start_httpd("$dir/$name/httpd", {},
        "LoadModule unique_id_module $modules/mod_unique_id.so",
        'LogLevel warn llm_audit:info', 'LLMRouter On',
        "LLMRouterModels $models", 'LLMAudit On',
        "LLMAuditDir $dir/$name/trail",
        'Header always set X-Request-Id "%{UNIQUE_ID}e"',
        'StartServers 3', 'MinSpareThreads 25', 'ThreadsPerChild 10',
        'MaxRequestWorkers 160',
        @extra);
}

# $clients processes send $each requests (every other one streamed) and
# return the request ids they were answered with (200s only).
sub load {
    my ($port, $clients, $each) = @_;
    my @files;
    for my $c (1 .. $clients) {
        my $file = "$dir/ids.$port.$c";
        push @files, $file;
        next if fork;
        my $http = HTTP::Tiny->new(timeout => 30);
        open my $out, '>', $file or die;
        for my $i (1 .. $each) {
            my $res = $http->post("http://127.0.0.1:$port/v1/chat/completions",
                { headers => { 'Content-Type' => 'application/json' },
                  content => $J->encode({ model => 'mock-chat',
                      stream => ($i % 2 ? JSON::PP::true : JSON::PP::false),
                      messages => [{ role => 'user', content => "c$c r$i" }] }) });
            print $out "$res->{headers}{'x-request-id'}\n"
                if $res->{status} == 200;
        }
        close $out;
        POSIX::_exit(0);        # not the parent's END blocks
    }
    1 while wait > 0;
    return map { open my $fh, '<', $_ or die; map { chomp; $_ } <$fh> } @files;
}

sub trail_lines {
    my $trail = shift;
    return map { open my $fh, '<', $_ or die; <$fh> }
        sort glob "$trail/llm-audit.*.jsonl";
}

sub request_ids {
    my @recs = @_;
    return map { $_->{request_id} // 'none' }
        grep { ($_->{event} // '') eq 'request' } @recs;
}

# The seq of the last whole record (a torn line is no record).
sub last_seq {
    my $last = 0;
    for (trail_lines(shift)) {
        my $r = /\n\z/ && eval { $J->decode($_) } or next;
        $last = $r->{seq} if $r->{seq} > $last;
    }
    return $last;
}

# The child processes of $pid, from /proc (not pgrep: it hangs under the
# sanitizers' preloaded runtime, which the test inherits).
sub children_of {
    my $pid = shift;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pid;
    }
    return @kids;
}

# 1. Parallel requests, record by record.
{
    my $port = gateway('record', 'LLMAuditEncrypt Off');
    my @ids = load($port, 10, 30);
    ok @ids == 300 or diag scalar(@ids) . " requests answered";
    my @recs = map { $J->decode($_) } trail_lines("$dir/record/trail");
    my %seen;
    $seen{$_}++ for request_ids(@recs);
    my @twice = grep { $seen{$_} > 1 } keys %seen;
    my @missing = grep { !$seen{$_} } @ids;
    ok !@twice && !@missing && keys %seen == 300
        or diag scalar(@missing) . " missing, " . scalar(@twice) . " twice";
    ok join(',', map { $_->{seq} } @recs) eq join(',', 1 .. @recs)
        or diag 'seqs out of order';
    my $v = `$llmctl audit verify $dir/record/trail 2>&1`;
    ok $? == 0 && $v =~ /^intact: 300 records/ or diag $v;
    stop_httpd("$dir/record/httpd");
}

# 2. Sealed in batches.
{
    my $port = gateway('batch', "LLMAuditRecipient $dir/auditor.asc",
        'LLMAuditSync batch 40 1s');
    my $t0 = time;
    my @ids = load($port, 8, 25);
    ok @ids == 200 or diag scalar(@ids) . " requests answered";
    # Written within the batch's time while httpd runs.
    sleep 1.6;
    my $v = `$llmctl audit verify $dir/batch/trail 2>&1`;
    ok $? == 0 && $v =~ /^intact: 200 records/ or diag $v;
    my @lines = trail_lines("$dir/batch/trail");
    ok @lines < 200 && grep { /"count":\d+/ } @lines
        or diag scalar(@lines) . " lines for 200 records";
    ok !grep { /mock-chat|c\d+ r\d+/ } @lines or diag 'something in clear';

    # The rest is written when httpd stops.
    push @ids, load($port, 1, 7);
    stop_httpd("$dir/batch/httpd");
    ok wait_stopped("$dir/batch/httpd");
    $v = `$llmctl audit verify $dir/batch/trail 2>&1`;
    ok $? == 0 && $v =~ /^intact: 207 records/ or diag $v;
    my $out = `$llmctl audit show --keyring $gnupg $dir/batch/trail 2>&1`;
    ok $? == 0 or diag $out;
    my %seen;
    $seen{$_}++ for request_ids(map { $J->decode($_) } split /\n/, $out);
    ok keys %seen == 207 && !grep({ $_ != 1 } values %seen)
        && !grep { !$seen{$_} } @ids
        or diag scalar(keys %seen) . " distinct request records";
}

# 3. kill -9 in the middle of traffic.
{
    my $name = 'killed';
    my $conf = "$dir/$name/httpd/httpd.conf";
    my $port = gateway($name, 'LLMAuditEncrypt Off');
    my $clients = fork // die;
    unless ($clients) {
        load($port, 6, 1000);
        POSIX::_exit(0);
    }
    sleep 1;
    my $parent = do { local (@ARGV, $/) = "$dir/$name/httpd/httpd.pid"; <> };
    chomp $parent;
    my @children = children_of($parent);
    ok @children >= 2 or diag "children: @children";
    kill 'KILL', $children[0];
    sleep 1;
    kill 'KILL', $parent;
    # Every process of that httpd (not pkill: see children_of).
    for my $stat (glob '/proc/[0-9]*/cmdline') {
        my ($pid) = $stat =~ m{/proc/(\d+)/} or next;
        open my $fh, '<', $stat or next;
        my $cmd = <$fh> // '';
        kill 'KILL', $pid if index($cmd, $conf) >= 0 && $pid != $$;
    }
    waitpid $clients, 0;
    unlink "$dir/$name/httpd/httpd.pid";
    my $before = `$llmctl audit verify $dir/$name/trail 2>&1`;
    my $rc = $? >> 8;
    ok $rc == 0 || $rc == 3 or diag "exit $rc: $before";
    my $n = last_seq("$dir/$name/trail");
    ok $n > 10 or diag "$n records: $before";

    $port = gateway($name, 'LLMAuditEncrypt Off');
    my $log = do { local (@ARGV, $/) = "$dir/$name/httpd/error_log"; <> };
    ok $log =~ /LLM04002: audit trail \S+: \d+ file\(s\), the chain goes on after seq \Q$n\E / or diag $log;
    my @ids = load($port, 2, 5);
    my $after = `$llmctl audit verify $dir/$name/trail 2>&1`;
    $rc = $? >> 8;
    my $m = last_seq("$dir/$name/trail");
    ok(($rc == 0 || $rc == 3) && @ids == 10 && $m == $n + 10)
        or diag "exit $rc, $n then $m: $after";
    stop_httpd("$dir/$name/httpd");
}
