# mod_llm_audit's directives refused with a reason: httpd -t on a
# configuration of each mistake. Sizes that overflow, a rotation time
# read as a size, batch mode without encryption, VirtualHosts that share
# a trail but not its keys.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir);
use File::Path qw(rmtree);
use lib 't/lib';
use LLMTest;

my @cases = (
    ['LLMAuditRotate 99999999999G', qr/LLMAuditRotate: a size from 4K/],
    ['LLMAuditRotate 64M 30m', qr/a size and a time, not two of one kind/],
    ['LLMAuditRotate 1h 2d', qr/a size and a time, not two of one kind/],
    ['LLMAuditRotate 10s', qr/a time of at least 60s/],
    ['LLMAuditSync batch 1', qr/LLMAuditSync batch: a count from 2/],
    ['LLMAuditSync batch 2h', qr/LLMAuditSync batch: a time from 1s to 1h/],
    ['LLMAuditSync later', qr/LLMAuditSync: record, or batch/],
    ['LLMAuditEvents request bogus', qr/LLMAuditEvents: unknown event bogus/],
    ['LLMAuditOnFailure maybe', qr/LLMAuditOnFailure: closed or open/],
    ['LLMAuditRecipient ABCD1234', qr/a short key id is not enough/],
);
plan tests => @cases + 3, need_module 'llm_audit';

my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/audit-config";
rmtree($dir);
t_mkdir($dir);
my $httpd = Apache::Test::vars('httpd');
my @load = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    grep { /^LoadModule/ } <$fh>;
};

# httpd -t of these directives: (exit status, what it said).
sub configtest {
    my @lines = @_;
    open my $fh, '>', "$dir/httpd.conf" or die;
    print $fh @load, map { "$_\n" } "ServerRoot $dir", "DefaultRuntimeDir $dir",
        "PidFile $dir/httpd.pid", "ErrorLog $dir/error_log",
        'ServerName localhost', 'Listen 127.0.0.1:1', @lines;
    close $fh;
    my $out = `$httpd -t -f $dir/httpd.conf 2>&1`;
    return ($? >> 8, $out);
}

for my $c (@cases) {
    my ($rc, $out) = configtest("LLMAuditDir $dir/trail", $c->[0]);
    ok $rc != 0 && $out =~ $c->[1] or diag "$c->[0]: exit $rc: $out";
}

my ($rc, $out) = configtest("LLMAuditDir $dir/trail", 'LLMAuditEncrypt Off',
    'LLMAuditSync batch 10');
ok $rc != 0 && $out =~ /LLMAuditSync batch seals records together: it needs LLMAuditEncrypt On/
    or diag "exit $rc: $out";

# A VirtualHost with recipients of its own on the main server's trail.
($rc, $out) = configtest("LLMAuditDir $dir/trail", 'LLMAuditEncrypt Off',
    '<VirtualHost 127.0.0.1:1>', 'LLMAuditRotate 1M', '</VirtualHost>');
ok $rc != 0 && $out =~ /servers sharing this LLMAuditDir disagree on LLMAuditRotate/
    or diag "exit $rc: $out";

# The same settings: one trail, accepted.
($rc, $out) = configtest("LLMAuditDir $dir/trail", 'LLMAuditEncrypt Off',
    '<VirtualHost 127.0.0.1:1>', 'LLMAudit On', '</VirtualHost>');
ok $rc == 0 or diag "exit $rc: $out";
