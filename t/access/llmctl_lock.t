# Concurrent llmctl key runs on one key file: 20 creates at once lose
# no key (each run takes an exclusive lock on <file>.lock around its
# read, change and rename); every key made works through a real httpd;
# state changes at once with creates lose neither.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use lib 't/lib';
use LLMTest;

plan tests => 7, need_module 'llm_router', 'llm_access', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-lock";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
my $llmctl = llmctl_path();

# $n runs of "llmctl key @args" at once, each in a child process that
# writes its stdout to $dir/out.<i>; their exit codes.
sub at_once {
    my ($n, $args) = @_;
    my @pids;
    for my $i (1 .. $n) {
        my $pid = fork // die;
        if (!$pid) {
            my $rc = system("$llmctl key " . $args->($i)
                            . " --file $file >$dir/out.$i 2>>$dir/err.log");
            POSIX::_exit($rc >> 8);   # not LLMTest's END
        }
        push @pids, $pid;
    }
    return map { waitpid($_, 0); $? >> 8 } @pids;
}

sub read_keys {
    open my $fh, '<', $file or return [];
    return $J->decode(do { local $/; <$fh> })->{keys};
}

my @rc = at_once(20, sub { "create --id k$_[0]" });
ok !grep { $_ != 0 } @rc or diag "exit codes: @rc";
my %keys = map {
    open my $fh, '<', "$dir/out.$_" or die;
    my $k = <$fh> // '';
    chomp $k;
    ("k$_" => $k);
} 1 .. 20;
my %in_file = map { $_->{id} => 1 } @{ read_keys() };
# 20 concurrent creates: 20 keys in the file.
ok join(' ', sort keys %in_file) eq join(' ', sort keys %keys)
    or diag 'in the file: ' . join ' ', sort keys %in_file;
ok !grep { !/^sk-llm-[A-Za-z0-9]{48}$/ } values %keys;

# Creates and disables at once: every create kept, every disable done.
@rc = at_once(20, sub {
    $_[0] % 2 ? "create --id n$_[0]" : "disable k$_[0]" });
ok !grep { $_ != 0 } @rc or diag "exit codes: @rc";
my %rec = map { $_->{id} => $_ } @{ read_keys() };
ok((grep { /^n/ } keys %rec) == 10
   && !grep { $rec{"k$_"}{active} } grep { $_ % 2 == 0 } 1 .. 20)
    or diag $J->encode([sort keys %rec]);
ok -e "$file.lock";

# Each key made works.
my $port = start_httpd("$dir/httpd", {},
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file",
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'Require valid-user', '</Location>');
my $http = HTTP::Tiny->new(timeout => 30);
my %status;
for my $id (sort keys %keys) {
    my $res = $http->get("http://127.0.0.1:$port/v1/models",
        { headers => { Authorization => "Bearer $keys{$id}" } });
    my $want = $id =~ /^k(\d+)$/ && $1 % 2 == 0 ? 401 : 200;
    $status{$id} = $res->{status} unless $res->{status} == $want;
}
ok !%status or diag $J->encode(\%status);
stop_httpd("$dir/httpd");
