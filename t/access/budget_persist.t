# Token budgets without Redis survive a full stop of httpd (prefork, three
# processes), through the state file httpd's parent writes
# (<key file>.budgets): a clean stop loses nothing, and the budget goes on
# where it was (X-RateLimit-Remaining, then 429 budget_exceeded); a kill -9
# of every process loses at most what was charged since the last write; a
# corrupt or truncated file is said once (LLM05020) and the budgets start
# from zero; buckets of an ended period are dropped.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes qw(time sleep);
use lib 't/lib';
use LLMTest;

plan tests => 27, need_module 'llm_router', 'llm_access', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-budget-persist";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
my $state = "$file.budgets";
my $hdir = "$dir/httpd";
sub make_key { create_key($file, @_) }
# a: the directive's budget; s: its own, spent by one answer.
my %k = (a => make_key('--id a'), s => make_key('--id s --budget 1/month'));
my $BUDGET = 100000;

my $port;
sub start {
    $port = start_httpd($hdir, { mpm => 'prefork' },
        'StartServers 3', 'MinSpareServers 3', 'MaxSpareServers 6',
        'LogLevel warn llm_access:debug',
        'LLMRouter On', "LLMRouterModels $root/models/main.json",
        "LLMAccessKeyFile $file", 'LLMBudgetStateInterval 1',
        '<Location />', 'AuthType llm-key', 'AuthName gateway',
        'Require valid-user', "LLMBudgetTokens $BUDGET/month",
        '</Location>');
}
sub stop {
    stop_httpd($hdir);
    wait_stopped($hdir) or die 'httpd does not stop';
}
my $http = HTTP::Tiny->new(timeout => 30);
# One answer: [status, X-RateLimit-Remaining, tokens it cost, error code].
sub call {
    my ($key) = @_;
    my $res = $http->post("http://127.0.0.1:$port/v1/chat/completions", {
        headers => { 'Content-Type' => 'application/json',
                     Authorization => "Bearer $key" },
        content => $J->encode({ model => 'mock-chat', max_tokens => 16,
            messages => [{ role => 'user', content => 'Hello' }] }) });
    my $d = eval { $J->decode($res->{content}) } // {};
    return [$res->{status}, $res->{headers}{'x-ratelimit-remaining'} // '-',
            $d->{usage}{total_tokens} // 0, $d->{error}{code} // ''];
}
sub slurp { my $f = shift; local (@ARGV, $/) = $f; return -e $f ? <> // '' : '' }
my $log_mark = 0;
sub log_since {
    my $log = slurp("$hdir/error_log");
    my $new = substr($log, $log_mark);
    $log_mark = length $log;
    return $new;
}
# The state file's records: [[id, ends, spent]...].
sub records {
    return [map { [split / /] } slurp($state) =~ /^([0-9a-f]{16} \d+ \d+)$/mg];
}
sub spent_in_file { my $t = 0; $t += $_->[2] for @{ records() }; return $t }
# FNV-1a 64 (the state file's checksum), as the module computes it.
sub fnv {
    use integer;
    my $h = -3750763034362895579;       # 14695981039346656037
    for (unpack 'C*', shift) { $h ^= $_; $h *= 1099511628211 }
    return sprintf '%016x', $h;
}

# ---- a clean stop loses nothing ----
start();
my $spent = 0;
my $remaining_ok = 1;
for (1 .. 3) {
    my $r = call($k{a});
    $remaining_ok &&= $r->[0] == 200 && $r->[1] eq $BUDGET - $spent;
    $spent += $r->[2];
}
ok $remaining_ok && $spent > 0 or diag "before the stop: spent $spent";
my $r = call($k{s});
ok $r->[0] == 200 && $r->[2] > 0 or diag "s: @$r";
my $s_spent = $r->[2];
$r = call($k{s});
ok $r->[0] == 429 && $r->[3] eq 'budget_exceeded' or diag "s again: @$r";
stop();
ok -e $state or diag "no $state";
ok !glob("$state.*") or diag 'left beside it: ' . join ' ', glob("$state.*");
ok spent_in_file() == $spent + $s_spent
    or diag "the file: " . slurp($state);
my ($body, $sum) = slurp($state) =~ /\A(.*)end \d+ ([0-9a-f]{16})\n\z/s;
ok defined $sum && fnv($body) eq $sum or diag 'checksum of ' . slurp($state);
ok(((stat $state)[2] & 0777) == 0600);

start();
my $log = log_since();
ok $log =~ /LLM05021: token budgets: 2 bucket\(s\) read from \Q$state\E, 0 of ended periods dropped/
    or diag $log;
$r = call($k{a});
ok $r->[0] == 200 && $r->[1] eq $BUDGET - $spent
    or diag "after the restart: @$r (spent $spent)";
$spent += $r->[2];
$r = call($k{s});
ok $r->[0] == 429 && $r->[3] eq 'budget_exceeded' && $r->[1] eq '0'
    or diag "s after the restart: @$r";

# ---- kill -9 of every process: at most the unflushed part is lost ----
# Wait for a write that holds what was spent (LLMBudgetStateInterval 1,
# the monitor's tick: about 10 s).
my $until = time + 40;
sleep 0.5 while spent_in_file() != $spent + $s_spent && time < $until;
ok spent_in_file() == $spent + $s_spent or diag 'not written: ' . slurp($state);
my $flushed = $spent;
$r = call($k{a});        # charged, perhaps not written
$spent += $r->[2];
my @pids = grep { index(slurp("/proc/$_/cmdline"), "$hdir/httpd.conf") >= 0 }
    map { m{/proc/(\d+)/} ? $1 : () } glob '/proc/[0-9]*/cmdline';
ok @pids >= 2 or diag "pids: @pids";
kill 'KILL', @pids;
$until = time + 30;
sleep 0.1 while time < $until && grep { -e "/proc/$_" && slurp("/proc/$_/stat") !~ /^\d+ \(\S+\) Z/ } @pids;
unlink "$hdir/httpd.pid";
start();
$r = call($k{a});
my $restored = $BUDGET - $r->[1];
ok $r->[0] == 200 && $restored >= $flushed && $restored <= $spent
    or diag "after kill -9: @$r (written $flushed, spent $spent)";
$spent = $restored + $r->[2];
ok call($k{s})->[0] == 429;

# ---- a corrupt (truncated) file: said once, zero, served ----
stop();
my $good = slurp($state);
open my $fh, '>', $state or die;
print $fh substr($good, 0, length($good) - 10);
close $fh;
log_since();
start();
$r = call($k{a});
ok $r->[0] == 200 && $r->[1] eq $BUDGET or diag "corrupt: @$r";
my $a_spent = $r->[2];
ok call($k{s})->[0] == 200;
$log = log_since();
my $n = () = $log =~ /LLM05020: token budgets start from zero: the state file is not read: \Q$state\E: /g;
ok $n == 1 or diag $log;
# Another layout.
stop();
open $fh, '>', $state or die;
print $fh "{\"budgets\": {\"a\": 5}}\n";
close $fh;
start();
ok call($k{a})->[1] eq $BUDGET && call($k{s})->[0] == 200;
$log = log_since();
ok $log =~ /LLM05020: .*not a budget state file of this layout/ or diag $log;
# The stop writes the state anew.
stop();
ok slurp($state) =~ /\Amod_llm budget state 1\n/ && @{ records() } == 2
    or diag slurp($state);

# ---- buckets of an ended period are dropped ----
# The same buckets, their period made to end an hour ago.
my $ended = int(time) - 3600;
my @recs = @{ records() };
my $text = "mod_llm budget state 1\n"
    . join('', map { "$_->[0] $ended $_->[2]\n" } @recs);
open $fh, '>', $state or die;
print $fh $text, 'end ', scalar(@recs), ' ', fnv($text), "\n";
close $fh;
start();
$log = log_since();
ok $log =~ /LLM05021: token budgets: 0 bucket\(s\) read from \S+, 2 of ended periods dropped/
    or diag $log;
$r = call($k{s});
ok $r->[0] == 200 && $r->[1] eq '1' or diag "s, a new period: @$r";
ok call($k{a})->[1] eq $BUDGET;

# Nothing crashed, no key in the log, nothing left running.
stop();
$log = slurp("$hdir/error_log");
ok $log !~ /exit signal|segfault|AddressSanitizer|runtime error/i
    or diag $log;
ok !grep { index($log, $_) >= 0 } values %k;
ok !grep { index(slurp("/proc/$_/cmdline"), "$hdir/httpd.conf") >= 0 } @pids;
