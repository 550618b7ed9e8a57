# Active probes from the parent process: a provider that does not answer
# is taken out before any client request meets it, and is back in
# service within an interval once it answers again.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use IO::Socket::INET;
use POSIX qw(_exit);
use lib 't/lib';
use LLMTest;

plan tests => 5, need_module 'llm_router';

my $httpd = Apache::Test::vars('httpd');
my $dir = Apache::Test::vars('serverroot') . '/logs/probe';
t_mkdir($dir);

my ($gw, $prov) = (free_port(), free_port());

my @load = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    grep { /^LoadModule/ } <$fh>;
};
t_write_file("$dir/models.json", qq({"g":{"probed":{"providers":[
  {"id":"lazarus","api_host":"http://127.0.0.1:$prov","api_type":"vllm"}]}},
 "active_models":{"g":["probed"]}}));
t_write_file("$dir/httpd.conf", join '', @load, map { "$_\n" }
    "ServerRoot $dir", "DefaultRuntimeDir $dir", "PidFile $dir/httpd.pid",
    "ErrorLog $dir/error_log", "LogLevel warn llm_balance:info",
    "Listen 127.0.0.1:$gw", 'ServerName localhost', 'TypesConfig /dev/null',
    'LLMBalanceProbeInterval 1', 'LLMBalanceProbeTimeout 500ms',
    'LLMBalanceRetry 30', 'LLMRouter On', "LLMRouterModels $dir/models.json",
    '<Location /status>', 'SetHandler llm-balance-status', '</Location>');

system("$httpd -f $dir/httpd.conf -k start") == 0 or die "cannot start";
END {
    if ($? && open my $fh, '<', "$dir/error_log") { print STDERR "# $_" for <$fh> }
}
my $server_pid;
END {
    system("$httpd -f $dir/httpd.conf -k stop 2>/dev/null") if $dir;
    kill 'KILL', $server_pid if $server_pid;
}

sub state {
    my $s = IO::Socket::INET->new("127.0.0.1:$gw") or return {};
    print $s "GET /status?format=json HTTP/1.0\r\n\r\n";
    local $/;
    my ($body) = (<$s> // '') =~ /\r\n\r\n(.*)$/s;
    my $d = eval { JSON::PP::decode_json($body // '') } // {};
    return $d->{models_files}[0]{models}[0]{providers}[0] // {};
}

sub wait_for {
    my ($want, $secs) = @_;
    my $p = {};
    for (1 .. $secs * 10) {
        $p = state();
        return $p if ($p->{state} // '') eq $want;
        select undef, undef, undef, 0.1;
    }
    return $p;
}

# Nothing listens on its port: three failed probes, and it is out,
# though no client asked for it.
my $p = wait_for('out', 6);
ok(($p->{state} // '') eq 'out' && ($p->{failures} // 0) >= 3)
    or diag jdump($p);
ok defined $p->{requests} && $p->{requests} == 0;

# It comes back: a server answers its model list.
$server_pid = fork // die;
if (!$server_pid) {
    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => "127.0.0.1:$prov",
                                  ReuseAddr => 1) or _exit(1);
    while (my $c = $l->accept) {
        my $body = '{"object":"list","data":[]}';
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            . "Content-Length: " . length($body)
            . "\r\nConnection: close\r\n\r\n$body";
        close $c;
    }
    _exit(0);
}
$p = wait_for('ok', 4);
ok(($p->{state} // '') eq 'ok' && ($p->{consecutive_failures} // 1) == 0)
    or diag jdump($p);

my $log = do { open my $fh, '<', "$dir/error_log"; local $/; <$fh> // '' };
ok $log =~ /LLM02011: provider lazarus .*fails its probes: out of service/;
ok $log =~ /LLM02010: provider lazarus answers its probe again/ or diag $log;
