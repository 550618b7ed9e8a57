# last_used per key, batched: keys used through a real httpd (prefork,
# three processes) show a last_used in llmctl key show/list once the
# parent has flushed (LLMAccessLastUsedInterval), unused keys show none;
# the sidecar beside the key file is written once per flush, not once
# per request (its flushes are counted in the error log: LLM05014); a
# stop writes what the last interval saw. Keys kept in Redis: one HSET
# per flush whatever the number of requests (INFO commandstats), and
# llmctl key --redis shows the times.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use lib 't/lib';
use LLMTest;

my $redis_server = `sh -c 'command -v redis-server'`;
chomp $redis_server;
plan tests => 19, need_module 'llm_router', 'llm_access', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-last-used";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
my $llmctl = llmctl_path();
my %k = map { $_ => create_key($file, "--id $_") } qw(busy quiet late);

sub show {
    my ($id, $where) = @_;
    my $out = `$llmctl key show $where $id 2>/dev/null`;
    return eval { $J->decode($out) } // {};
}
sub flushes {
    my $log = do { local (@ARGV, $/) = "$dir/httpd/error_log"; <> } // '';
    return scalar(() = $log =~ /LLM05014: last_used of \d+ key\(s\) written/g);
}
# Wait (up to $max s) until key $id shows a last_used.
sub wait_used {
    my ($id, $where, $max) = @_;
    my $until = time + $max;
    while (time < $until) {
        my $t = show($id, $where)->{last_used};
        return $t if defined $t;
        sleep 0.5;
    }
    return undef;
}

my $port = start_httpd("$dir/httpd", { mpm => 'prefork' },
    'StartServers 3', 'MinSpareServers 3', 'MaxSpareServers 6',
    'LogLevel warn llm_access:debug',
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file", 'LLMAccessLastUsedInterval 1',
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'Require valid-user', '</Location>');
my $http = HTTP::Tiny->new(timeout => 30);
sub get {
    my ($key) = @_;
    return $http->get("http://127.0.0.1:$port/v1/models",
                      { headers => { Authorization => "Bearer $key" } });
}

my $t0 = int(time);
# 200 requests of one key from 4 clients at once (across the children).
my @pids;
for (1 .. 4) {
    my $pid = fork // die;
    if (!$pid) {
        my $bad = grep { get($k{busy})->{status} != 200 } 1 .. 50;
        POSIX::_exit($bad ? 1 : 0);
    }
    push @pids, $pid;
}
my $bad = 0;
for (@pids) { waitpid $_, 0; $bad++ if $? }
ok !$bad;
my $burst = time - $t0;
my $used = wait_used('busy', "--file $file", 30);
ok defined $used && $used >= $t0 - 1 && $used <= time + 1
    or diag 'busy: ' . ($used // 'none') . " (from $t0)";
ok !defined show('quiet', "--file $file")->{last_used};
ok -e "$file.last-used";
my $side = eval { $J->decode(do { local (@ARGV, $/) = "$file.last-used"; <> }) }
    // {};
ok join(',', sort keys %{ $side->{last_used} // {} }) eq 'busy'
    or diag $J->encode($side);
# 200 requests, one or two flushes (one per flush interval, and the
# monitor runs about every 10 s): never one per request.
my $n = flushes();
ok $n >= 1 && $n <= 2 + int($burst / 10) or diag "$n flushes";
# The key file itself is untouched by httpd.
ok index(do { local (@ARGV, $/) = $file; <> }, 'last_used') < 0;
# llmctl key list shows it.
my $list = `$llmctl key list --file $file 2>/dev/null`;
ok $list =~ /LAST USED/ && $list =~ /^busy .* \d\d:\d\d:\d\d GMT\s*$/m
    && $list =~ /^quiet .* never\s+never\s*$/m or diag $list;

# Another burst: still one write per interval at most.
$n = flushes();
my $t1 = time;
get($k{busy}) for 1 .. 100;
sleep 12;       # at least one monitor tick
my $more = flushes() - $n;
ok $more >= 1 && $more <= 1 + int((time - $t1) / 10)
    or diag "$more flushes in " . (time - $t1) . ' s';

# A stop writes what the last interval saw.
ok get($k{late})->{status} == 200;
stop_httpd("$dir/httpd");
wait_stopped("$dir/httpd");
$used = show('late', "--file $file")->{last_used};
ok defined $used && $used >= $t1 or diag 'late: ' . ($used // 'none');
ok defined show('busy', "--file $file")->{last_used};
ok !defined show('quiet', "--file $file")->{last_used};

# ---- keys kept in Redis ----
SKIP: {
    skip 'no redis-server (Debian package redis-server)', 6
        unless $redis_server ne '';
    my $rport = free_port();
    my $rdir = "$dir/redis";
    mkdir $rdir;
    my $redis = sub {
        my $out = `env -u LD_PRELOAD redis-cli -p $rport @_ 2>/dev/null`;
        chomp $out;
        return $out;
    };
    system('env', '-u', 'LD_PRELOAD', 'redis-server', '--port', $rport,
           '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
           '--daemonize', 'yes', '--pidfile', "$rdir/redis.pid",
           '--logfile', "$rdir/redis.log", '--dir', $rdir) == 0
        or die 'cannot start redis-server';
    for (1 .. 50) { last if $redis->('PING') eq 'PONG'; sleep 0.1 }
    my $stop = sub { $redis->('SHUTDOWN', 'NOSAVE') };
    my $where = "--redis 127.0.0.1:$rport";
    my %r = map { $_ => create_key($where, "--id $_") } qw(rbusy rquiet);
    ok $r{rbusy} =~ /^sk-llm-/;

    my $rp = start_httpd("$dir/httpd-r", {},
        'LogLevel warn llm_access:debug',
        'LLMRouter On', "LLMRouterModels $root/models/main.json",
        "LLMLimitRedis 127.0.0.1:$rport", 'LLMAccessKeyRedis On',
        'LLMAccessLastUsedInterval 1',
        '<Location />', 'AuthType llm-key', 'AuthName gateway',
        'Require valid-user', '</Location>');
    $redis->('CONFIG', 'RESETSTAT');
    my $rt0 = int(time);
    my $ok = grep {
        $http->get("http://127.0.0.1:$rp/v1/models", { headers => {
            Authorization => "Bearer $r{rbusy}" } })->{status} == 200
    } 1 .. 100;
    ok $ok == 100 or diag "$ok of 100";
    $used = wait_used('rbusy', $where, 30);
    ok defined $used && $used >= $rt0 - 1 or diag 'rbusy: ' . ($used // 'none');
    ok !defined show('rquiet', $where)->{last_used};
    my $elapsed = time - $rt0;
    my ($hset) = $redis->('INFO', 'commandstats') =~ /cmdstat_hset:calls=(\d+)/;
    # 100 requests: one HSET per flush interval that saw a use.
    ok defined $hset && $hset >= 1 && $hset <= 1 + int($elapsed / 10)
        or diag 'HSET calls: ' . ($hset // 'none') . " in $elapsed s";
    my $hash = show('rbusy', $where)->{hash} // '';
    ok $redis->('HGET', 'llm:key-last-used', $hash) == $used;
    stop_httpd("$dir/httpd-r");
    wait_stopped("$dir/httpd-r");
    $stop->();
}
