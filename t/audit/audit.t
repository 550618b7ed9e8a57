# mod_llm_audit end to end: a gateway (an httpd of its own, so that its
# trail needs nothing in the shared test configuration) audits each
# request to an encrypted, hash-chained trail; the records are opened
# with a throw-away key pair (gpg --batch) by llmctl audit show and
# checked field by field; llmctl audit verify passes, then names the
# record an edit altered; a restart continues the chain.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir);
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 32, need_module 'llm_router', 'llm_mask', 'llm_audit',
    'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/audit";
rmtree($dir);
t_mkdir($dir);
my $trail = "$dir/trail";
my $gnupg = "$dir/gnupg";
my $models = "$root/models/main.json";

# llmctl is built beside the modules the test server loads.
my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_audit_module (\S+)/mod_llm_audit\.so} ? $1 : () }
        <$fh>;
};
my $llmctl = "$build/llmctl";
ok -x $llmctl or diag "no $llmctl";

# A throw-away recipient key pair; the gateway gets the public key only.
mkdir $gnupg, 0700;
$ENV{GNUPGHOME} = $gnupg;
system("gpg --batch --pinentry-mode loopback --passphrase '' "
    . "--quick-gen-key 'mod_llm audit.t <audit\@test>' future-default "
    . "default never >/dev/null 2>&1") == 0
    and system("gpg --batch --armor --export audit\@test "
               . ">$dir/auditor.asc 2>/dev/null") == 0
    or die "gpg cannot make a key pair";
ok -s "$dir/auditor.asc";

my @conf = ('LogLevel warn llm_audit:info',
    'LLMRouter On', "LLMRouterModels $models",
    'LLMMask On',
    'LLMAudit On', "LLMAuditDir $trail",
    "LLMAuditRecipient $dir/auditor.asc",
    '<Location /quiet>', 'LLMRouterPrefix /quiet', 'LLMAudit Off',
    '</Location>');
my $port = eval { start_httpd("$dir/httpd", {}, @conf) };
ok $port or diag $@;

my $http = HTTP::Tiny->new(timeout => 30);
sub chat {
    my ($path, $content, %extra) = @_;
    my $res = $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json' },
        content => $J->encode({ model => 'mock-chat',
            messages => [{ role => 'user', content => $content }],
            %extra }) });
    return $res;
}

ok chat('/v1/chat/completions', 'Hello')->{status} == 200;
ok chat('/v1/chat/completions', 'Write to jan.kowalski@example.com')
    ->{status} == 200;
ok chat('/v1/chat/completions', 'Stream it', stream => JSON::PP::true)
    ->{status} == 200;
ok chat('/quiet/chat/completions', 'Not audited')->{status} == 200;

# The trail on disk: sealed, nothing in clear.
my $raw = join '', map { local (@ARGV, $/) = $_; <> }
    glob "$trail/llm-audit.*.jsonl";
ok $raw =~ /-----BEGIN PGP MESSAGE-----/;
ok $raw !~ /mock-chat|example\.com|127\.0\.0\.1/
    or diag "something in clear";

# Opened with the recipient's key.
my $out = `$llmctl audit show --keyring $gnupg $trail 2>&1`;
ok $? == 0 or diag $out;
my @rec = map { eval { $J->decode($_) } || { bad => $_ } } split /\n/, $out;
my @req = grep { ($_->{event} // '') eq 'request' } @rec;
my @mask = grep { ($_->{event} // '') eq 'masking' } @rec;
ok @req == 3 or diag "request records: " . scalar(@req) . "\n$out";
ok @mask == 1 or diag "masking records: " . scalar(@mask);
ok join(',', map { $_->{seq} } @rec) eq join(',', 1 .. @rec)
    or diag join ',', map { $_->{seq} // '?' } @rec;
my $r = $req[0] // {};
ok(($r->{route} // '') eq 'v1/chat/completions'
    && ($r->{dialect} // '') eq 'openai' && ($r->{model} // '') eq 'mock-chat')
    or diag jdump($r);
ok(($r->{status} // 0) == 200 && ($r->{provider} // '') =~ /^mock-[ab]$/)
    or diag jdump($r);
ok(ref $r->{attempts} eq 'ARRAY' && @{$r->{attempts}} >= 1
    && ($r->{attempts}[-1]{provider} // '') eq $r->{provider}
    && ($r->{attempts}[-1]{outcome} // '') eq 'ok')
    or diag jdump($r);
ok(($r->{client} // '') eq '127.0.0.1' && exists $r->{user}
    && ($r->{server} // '') ne '') or diag jdump($r);
ok(($r->{latency_us} // 0) > 0 && ($r->{ttfb_us} // 0) > 0
    && ($r->{bytes_in} // 0) > 0 && ref $r->{usage} eq 'HASH')
    or diag jdump($r);
ok(($r->{time} // '') =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/
    && ($r->{prev} // '') =~ /^[0-9a-f]{64}$/) or diag jdump($r);
ok(($req[2]{stream} // 0) && !($req[0]{stream} // 1)) or diag jdump($req[2]);
ok(($mask[0]{masked} // 0) >= 1 && $out !~ /kowalski/)
    or diag jdump($mask[0] // {});

# The chain: intact; an edited record is named.
my $v = `$llmctl audit verify $trail 2>&1`;
ok $? == 0 or diag $v;
ok $v =~ /^intact: 4 records/ or diag $v;
rmtree("$dir/tampered");
mkdir "$dir/tampered";
my ($file) = glob "$trail/llm-audit.*.jsonl";
my @lines = do { local @ARGV = $file; <> };
# One letter of record 2's ciphertext changed.
my $at = index($lines[1], '"pgp":"-----BEGIN PGP MESSAGE-----') + 80;
die "no armor in record 2: $lines[1]" if $at < 80;
substr($lines[1], $at, 1) = substr($lines[1], $at, 1) eq 'A' ? 'B' : 'A';
open my $fh, '>', "$dir/tampered/" . ($file =~ s{.*/}{}r) or die;
print $fh @lines;
close $fh;
$v = `$llmctl audit verify $dir/tampered 2>&1`;
ok $? >> 8 == 1 or diag "exit " . ($? >> 8) . ": $v";
ok $v =~ /BROKEN: seq 2 \(.* line 2\) was altered/ or diag $v;

# A restart goes on with the chain, and says where it found it.
my $old_pid = do { local (@ARGV, $/) = "$dir/httpd/httpd.pid"; <> } // 0;
chomp $old_pid;
stop_httpd("$dir/httpd");
# -k stop does not wait: a start before the old httpd is gone would
# find its pid file and refuse (slow under the sanitizers), and keep
# its keyring.
for (1 .. 100) {
    last unless -e "$dir/httpd/httpd.pid" || ($old_pid && kill 0, $old_pid);
    select undef, undef, undef, 0.1;
}
$port = eval { start_httpd("$dir/httpd", {}, @conf) };
ok $port or diag $@;
ok chat('/v1/chat/completions', 'Again')->{status} == 200;
# The keyring of the httpd that stopped is gone; this one's is there.
my @rings = glob "$dir/httpd/llm-audit-keys.*";
ok @rings == 1 or diag "keyrings: @rings";
$v = `$llmctl audit verify $trail 2>&1`;
ok $? == 0 && $v =~ /^intact: 5 records/ or diag $v;
my $log = do { local (@ARGV, $/) = "$dir/httpd/error_log"; <> } // '';
ok $log =~ /LLM04002: audit trail \Q$trail\E: 1 file\(s\), the chain goes on after seq 4/
    or diag $log;
$out = `$llmctl audit show --keyring $gnupg --event request $trail 2>&1`;
my @again = map { $J->decode($_) } split /\n/, $out;
ok @again == 4 && $again[-1]{seq} == 5 or diag $out;

# A second httpd on the same trail is refused: it would chain over it.
ok !eval { start_httpd("$dir/httpd2", {}, @conf); 1 }
    && do { local (@ARGV, $/) = "$dir/httpd2/error_log"; <> // '' }
       =~ /another httpd writes this trail/
    or diag 'a second httpd started on the same trail';

# What a sealed record adds to a request, roughly (docs/performance.md
# has the figures): 20 sequential requests audited, 20 not.
require Time::HiRes;
for my $path ('/v1/chat/completions', '/quiet/chat/completions') {
    my $t0 = Time::HiRes::time();
    chat($path, 'Hello') for 1 .. 20;
    diag sprintf "%-24s %.2f ms per request", $path,
        (Time::HiRes::time() - $t0) * 1000 / 20;
}

stop_httpd("$dir/httpd");
system("gpgconf --kill all >/dev/null 2>&1");
