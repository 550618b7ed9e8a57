# llmctl audit, the real binary (docs/llmctl.md):
#   keygen makes a key pair whose public key a gateway encrypts to and
#   whose secret key "show --keyring" opens the records with; with
#   --passphrase-file the secret key needs that passphrase;
#   show's filters (--since, --until, --event, --model, --key), alone and
#   together, over a trail written in sealed batches;
#   the same filters over a plaintext trail made here (key_id, time
#   offsets and fractions, records without the field);
#   verify and show read a large trail in constant memory.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir);
use Digest::SHA qw(sha1_base64 sha256_hex);
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime);
use lib 't/lib';
use LLMTest;

plan tests => 52, need_module 'llm_router', 'llm_mask', 'llm_audit',
    'proxy_http', 'auth_basic', 'authn_file', 'authz_user';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/llmctl";
rmtree($dir);
t_mkdir($dir);
my $trail = "$dir/trail";
my $keys = "$dir/keys";
my $models = "$root/models/main.json";

# llmctl is built beside the modules the test server loads.
my $llmctl = llmctl_path();
ok -x $llmctl or diag "no $llmctl";

# Run llmctl: (exit code, stdout, stderr).
sub llmctl {
    my @args = @_;
    my $cmd = join ' ', $llmctl, map { "'$_'" } @args;
    my $out = `$cmd 2>$dir/stderr`;
    my $rc = $? >> 8;
    my $err = do { local (@ARGV, $/) = "$dir/stderr"; <> } // '';
    return ($rc, $out, $err);
}

# ------------------------------------------------------------------
# keygen

my ($rc, $out, $err) = llmctl('audit', 'keygen', '--dir', $keys,
    '--name', 'llmctl.t auditor', '--email', 'audit@test',
    '--out', "$dir/auditor.asc");
ok $rc == 0 or diag "exit $rc: $err";
my ($fpr) = $out =~ /^([0-9A-F]{40})$/;
ok $fpr or diag "stdout: $out";
ok(((stat $keys)[2] & 07777) == 0700)
    or diag sprintf "mode %o", (stat $keys)[2] & 07777;
ok -s "$dir/auditor.asc"
    && `cat $dir/auditor.asc` =~ /^-----BEGIN PGP PUBLIC KEY BLOCK-----/;
ok $err =~ /secret key stays in \Q$keys\E.*must not go to the gateway/s
    && $err =~ /warning: the secret key has no passphrase/
    or diag $err;
my $list = `GNUPGHOME=$keys gpg --batch --with-colons --list-secret-keys 2>/dev/null`;
ok $list =~ /^sec:u:255:22:.*:ed25519:/m && $list =~ /^ssb:u:255:18:[^\n]*:e:[^\n]*cv25519/m
    && $list =~ /^uid:.*llmctl\.t auditor <audit\@test>/m
    && $list !~ /^sec:(?:[^:]*:){5}\d+:/m     # no expiry date
    or diag $list;

# The public key file is never replaced; options are checked.
($rc, undef, $err) = llmctl('audit', 'keygen', '--dir', "$dir/keys-x",
    '--out', "$dir/auditor.asc");
ok $rc == 2 && $err =~ /auditor\.asc exists/ && !-e "$dir/keys-x"
    or diag "exit $rc: $err";
($rc) = llmctl('audit', 'keygen', '--bogus');
ok $rc == 2;
($rc, $out) = llmctl('audit', 'keygen', '--help');
ok $rc == 0 && $out =~ /--passphrase-file FILE/ && $out =~ /exit:/;

# With a passphrase: the default <fingerprint>.asc in the current
# directory, and the secret key opens with that passphrase only.
open my $pw, '>', "$dir/pass" or die;
print $pw "correct horse\n";
close $pw;
{
    require Cwd;
    my $cwd = Cwd::getcwd();
    chdir $dir or die;
    ($rc, $out, $err) = llmctl('audit', 'keygen', '--dir', "$dir/keys-pw",
        '--passphrase-file', "$dir/pass");
    chdir $cwd;
}
my ($fpr2) = $out =~ /^([0-9A-F]{40})$/;
ok $rc == 0 && $fpr2 && -s "$dir/$fpr2.asc" && $err !~ /warning/
    or diag "exit $rc: $err";
{
    local $ENV{GNUPGHOME} = "$dir/keys-pw";
    system("echo sealed | gpg --batch --trust-model always -r $fpr2 -ea "
           . ">$dir/msg.asc 2>/dev/null");
    my $bad = `gpg --batch --pinentry-mode loopback --passphrase wrong -d $dir/msg.asc 2>/dev/null`;
    my $good = `gpg --batch --pinentry-mode loopback --passphrase-file $dir/pass -d $dir/msg.asc 2>/dev/null`;
    ok $bad eq '' && $good eq "sealed\n" or diag "bad: $bad, good: $good";
    system("gpgconf --kill all >/dev/null 2>&1");
}

# ------------------------------------------------------------------
# A gateway that encrypts to the key keygen made, in batches, and a
# route behind Basic authentication (r->user).

open my $pwf, '>', "$dir/htpasswd" or die;
print $pwf "key-7:{SHA}" . sha1_base64('seven') . "=\n";
close $pwf;
my @conf = ('LogLevel warn llm_audit:info',
    'LLMRouter On', "LLMRouterModels $models",
    'LLMMask On',
    'LLMAudit On', "LLMAuditDir $trail",
    "LLMAuditRecipient $dir/auditor.asc",
    'LLMAuditSync batch 50 1s',
    '<Location /auth>', 'LLMRouterPrefix /auth', 'AuthType Basic',
    'AuthName audit', "AuthUserFile $dir/htpasswd", 'Require valid-user',
    '</Location>');
my $port = eval { start_httpd("$dir/httpd", {}, @conf) };
ok $port or diag $@;

my $http = HTTP::Tiny->new(timeout => 30);
sub chat {
    my ($path, $model, $content, %hdr) = @_;
    return $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json', %hdr },
        content => $J->encode({ model => $model,
            messages => [{ role => 'user', content => $content }] }) });
}

my $before = time;
ok chat('/v1/chat/completions', 'mock-chat', 'Hello')->{status} == 200;
ok chat('/v1/chat/completions', 'mock-tools', 'Hi')->{status} == 200;
ok chat('/auth/chat/completions', 'mock-chat', 'Who am I',
    Authorization => 'Basic ' . encode_base64('key-7:seven', ''))
    ->{status} == 200;
# Masking and request records of one request: one batch.
ok chat('/v1/chat/completions', 'mock-chat',
    'Write to jan.kowalski@example.com')->{status} == 200;

# A batch is written when it is full or its first record is a second
# old (the response does not wait for it in batch mode).
for (1 .. 100) {
    my ($v) = (llmctl('audit', 'verify', $trail))[1];
    last if ($v // '') =~ /^intact: 5 records/;
    select undef, undef, undef, 0.1;
}
my $raw = join '', map { local (@ARGV, $/) = $_; <> }
    glob "$trail/llm-audit.*.jsonl";
ok $raw =~ /"pgp":"-----BEGIN PGP MESSAGE-----/ && $raw !~ /mock-chat/
    or diag "trail: $raw\nerror_log: "
            . (do { local (@ARGV, $/) = "$dir/httpd/error_log"; <> } // '');
ok $raw =~ /"count":(?:[2-9]|\d\d+),/
    or diag "no sealed batch of several records:\n$raw";

# show opens every record with the keygen key.
sub shown {
    my ($rc, $out, $err) = llmctl('audit', 'show', '--keyring', $keys, @_,
                                  $trail);
    my @rec = map { eval { $J->decode($_) } || { bad => $_ } }
        split /\n/, $out;
    return ($rc, $err, @rec);
}
my ($src, $serr, @all) = shown();
ok $src == 0 && @all == 5 or diag "exit $src: $serr\n" . $J->encode(\@all);
ok join(',', map { $_->{seq} // '?' } @all) eq '1,2,3,4,5';

# Filters: each alone, repeated (any value), combined (all filters).
sub seqs { join ',', map { $_->{seq} // '?' } @_ }
my %want = map { $_->{seq} => $_ } @all;
my @req = grep { $_->{event} eq 'request' } @all;
my ($mask) = grep { $_->{event} eq 'masking' } @all;
my @chat = grep { ($_->{model} // '') eq 'mock-chat' } @all;
my ($keyed) = grep { ($_->{user} // '') eq 'key-7' } @all;
ok @req == 4 && $mask && @chat == 4 && $keyed
    or diag $J->encode(\@all);

my @got;
(undef, undef, @got) = shown('--event', 'request');
ok seqs(@got) eq seqs(@req) or diag seqs(@got);
(undef, undef, @got) = shown('--event', 'masking');
ok seqs(@got) eq seqs($mask) or diag seqs(@got);
(undef, undef, @got) = shown('--event', 'masking', '--event', 'request');
ok seqs(@got) eq seqs(@all) or diag seqs(@got);
(undef, undef, @got) = shown('--model', 'mock-tools');
ok @got == 1 && $got[0]{model} eq 'mock-tools' or diag seqs(@got);
(undef, undef, @got) = shown('--model', 'mock-chat');
ok seqs(@got) eq seqs(@chat) or diag seqs(@got);
(undef, undef, @got) = shown('--model', 'mock-chat', '--event', 'request');
ok seqs(@got) eq seqs(grep { $_->{event} eq 'request' } @chat)
    or diag seqs(@got);
(undef, undef, @got) = shown('--key', 'key-7');
ok seqs(@got) eq seqs($keyed) or diag seqs(@got);
(undef, undef, @got) = shown('--key', 'key-7', '--model', 'mock-tools');
ok @got == 0 or diag seqs(@got);
(undef, undef, @got) = shown('--key', 'nobody');
ok @got == 0 or diag seqs(@got);

# Times: the records' own, a second before and after, dates.
my $today = strftime('%Y-%m-%d', gmtime $before);
my $tomorrow = strftime('%Y-%m-%d', gmtime($before + 86400));
my $yesterday = strftime('%Y-%m-%d', gmtime($before - 86400));
(undef, undef, @got) = shown('--since', $today, '--until', $tomorrow);
ok seqs(@got) eq seqs(@all) or diag seqs(@got);
(undef, undef, @got) = shown('--until', $yesterday);
ok @got == 0 or diag seqs(@got);
(undef, undef, @got) = shown('--since', $tomorrow);
ok @got == 0 or diag seqs(@got);
my $third = $all[2]{time};                     # 2026-...T..:..:..\.\d{6}Z
(undef, undef, @got) = shown('--since', $third);
ok seqs(@got) eq seqs(grep { $_->{time} ge $third } @all)
    && @got >= 3 or diag "$third: " . seqs(@got);
(undef, undef, @got) = shown('--until', $third);
ok seqs(@got) eq seqs(grep { $_->{time} le $third } @all)
    && @got >= 3 or diag "$third: " . seqs(@got);
(my $at_second = $third) =~ s/\.\d+Z$/Z/;
(undef, undef, @got) = shown('--until', $at_second);
ok seqs(@got) eq seqs(grep { substr($_->{time}, 0, 19)
                             le substr($third, 0, 19) } @all)
    or diag "$at_second (the whole second): " . seqs(@got);
(my $plus_two = $at_second) =~ s/Z$/+00:00/;
(undef, undef, @got) = shown('--until', $plus_two);
ok @got == scalar(grep { substr($_->{time}, 0, 19) le substr($third, 0, 19) }
                  @all) or diag "$plus_two: " . seqs(@got);

# Usage errors: exit 2 and why.
my ($urc, $uerr);
($urc, undef, $uerr) = llmctl('audit', 'show', '--since', 'yesterday', $trail);
ok $urc == 2 && $uerr =~ /--since yesterday: not a time/ or diag $uerr;
($urc, undef, $uerr) = llmctl('audit', 'show', '--color', $trail);
ok $urc == 2 && $uerr =~ /unknown option --color/ or diag $uerr;
($urc, undef, $uerr) = llmctl('audit', 'show', $trail, '--model');
ok $urc == 2 && $uerr =~ /--model needs a value/ or diag $uerr;
($urc, $out) = llmctl('audit', 'show', '--help');
ok $urc == 0 && $out =~ /--since TIME/ && $out =~ /--key ID/
    && $out =~ /exit: 0/;

# The chain, over batches.
($rc, $out) = llmctl('audit', 'verify', $trail);
ok $rc == 0 && $out =~ /^intact: 5 records in 1 file/ or diag $out;

stop_httpd("$dir/httpd");
system("GNUPGHOME=$keys gpgconf --kill all >/dev/null 2>&1");

# ------------------------------------------------------------------
# A plaintext trail made here: access records' key_id, time offsets and
# fractions, records without the field a filter looks at.

my $small = "$dir/small";
mkdir $small;
{
    open my $fh, '>', "$small/llm-audit.0000000000000001.jsonl" or die;
    my $prev = sha256_hex('mod_llm audit trail v1');
    # time, event, the other fields; seq and prev put in as the writer
    # does (seq, time, event, prev, fields).
    my @rec = (
        ['2026-12-05T23:59:59.999999Z', 'access', '"key_id":"k_1","status":401'],
        ['2026-12-06T00:00:00.000000Z', 'request', '"model":"a","user":"bob"'],
        ['2026-12-06T10:30:00.500000Z', 'access', '"key_id":"k_2","model":"b"'],
        ['2026-12-06T23:59:59.999999Z', 'request', '"model":"b","user":null'],
        ['not a time', 'request', '"model":"b"'],
    );
    my $seq = 0;
    for my $r (@rec) {
        my ($time, $event, $fields) = @$r;
        $seq++;
        my $l = qq({"seq":$seq,"time":"$time","event":"$event",)
            . qq("prev":"$prev",$fields});
        print $fh "$l\n";
        $prev = sha256_hex($l);
    }
    close $fh;
}
sub plain { join ',', map { /"seq":(\d+)/ ? $1 : '?' }
            split /\n/, (llmctl('audit', 'show', @_, $small))[1] }
ok plain() eq '1,2,3,4,5' && (llmctl('audit', 'verify', $small))[0] == 0
    or diag plain();
ok plain('--key', 'k_2') eq '3' && plain('--key', 'bob', '--key', 'k_1')
    eq '1,2' or diag plain('--key', 'k_2');
ok plain('--since', '2026-12-06', '--until', '2026-12-06') eq '2,3,4'
    or diag plain('--since', '2026-12-06', '--until', '2026-12-06');
ok plain('--since', '2026-12-06T11:30:00.5+01:00') eq '3,4'
    && plain('--until', '2026-12-06T05:30:00.499-05:00') eq '1,2'
    or diag plain('--since', '2026-12-06T11:30:00.5+01:00');
ok plain('--model', 'b', '--until', '2027-01-01') eq '3,4'
    or diag plain('--model', 'b', '--until', '2027-01-01');

# ------------------------------------------------------------------
# A large plaintext trail (chained here as the writer does): verify and
# show read it a line at a time, so their memory does not grow with it.

my $big = "$dir/big";
mkdir $big;
my $lines = 100_000;
{
    open my $fh, '>', "$big/llm-audit.0000000000000001.jsonl" or die;
    my $prev = sha256_hex('mod_llm audit trail v1');
    my $pad = 'x' x 1000;
    for my $seq (1 .. $lines) {
        my $l = qq({"seq":$seq,"time":"2026-12-06T01:02:03.000000Z",)
            . qq("event":"request","prev":"$prev","model":"m","pad":"$pad"});
        print $fh "$l\n";
        $prev = sha256_hex($l);
    }
    close $fh;
}
my $size = -s "$big/llm-audit.0000000000000001.jsonl";
ok $size > 100e6 or diag "$size bytes";

# Maximum resident set size in kB, by /usr/bin/time. Under the
# sanitizers' pass AddressSanitizer keeps freed memory in a quarantine
# (256 MB by default): a small one, so that what is measured is llmctl's.
sub max_rss {
    my @args = @_;
    local $ENV{ASAN_OPTIONS} = join ':', grep { length }
        $ENV{ASAN_OPTIONS} // '', 'quarantine_size_mb=1';
    my $out = `/usr/bin/time -f 'rss=%M' $llmctl @args 2>&1 >/dev/null`;
    return $out =~ /rss=(\d+)/ ? $1 : undef;
}
SKIP: {
    skip 'no /usr/bin/time', 3 unless -x '/usr/bin/time';
    ($rc, $out) = llmctl('audit', 'verify', $big);
    ok $rc == 0 && $out =~ /^intact: $lines records/ or diag $out;
    # Under a quarter of the file (reading it whole took more than its
    # size): about 2.5 MB, 14 MB with the sanitizers' own memory.
    my $rss = max_rss('audit', 'verify', $big);
    diag "verify: max RSS ${\($rss // '?')} kB for $size bytes";
    ok defined $rss && $rss * 1024 < $size / 4
        or diag "verify: max RSS ${\($rss // '?')} kB for $size bytes";
    $rss = max_rss('audit', 'show', '--since', '2027-01-01', $big);
    diag "show: max RSS ${\($rss // '?')} kB for $size bytes";
    ok defined $rss && $rss * 1024 < $size / 4
        or diag "show: max RSS ${\($rss // '?')} kB for $size bytes";
}
rmtree($big);
