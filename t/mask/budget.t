# LLMMaskTimeBudget: a request whose masking and guarding take longer
# than its scope allows is refused with 413 and one JSON error in the
# client's dialect naming the limit, before any provider sees it; a
# <Location> sets its own budget; a bad value stops httpd.
#
# The gateway is an httpd of its own (start_httpd), so that its scopes
# need nothing in the shared test configuration; its provider is the
# test server's mock.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_mkdir);
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

plan tests => 19, need_module 'llm_router', 'llm_mask', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $dir = Apache::Test::vars('serverroot') . '/logs/mask-budget';
t_mkdir($dir);
my $models = Apache::Test::vars('serverroot') . '/models/main.json';

my $port = eval {
    start_httpd($dir, {}, 'LogLevel warn llm_mask:info',
        'LLMRouter On', "LLMRouterModels $models",
        'LLMMask On', 'LLMMaskTimeBudget 60s', 'LLMRouterMaxBody 16M',
        '<Location /tight>', 'LLMRouterPrefix /tight',
        'LLMMaskTimeBudget 1', '</Location>',
        '<Location /v1/messages>', 'LLMMaskTimeBudget 1ms', '</Location>');
};
ok $port or diag $@;

# POST $body to the gateway and read the raw answer: (status, headers,
# body as the client gets it).
sub post_raw {
    my ($path, $body) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 60) or die $!;
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\nConnection: close\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $/;
    my $raw = <$s> // '';
    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    $rest //= '';
    if (($head // '') =~ /^Transfer-Encoding: chunked/mi) {
        my $data = '';
        while ($rest =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            $data .= substr($rest, 0, $n, '');
            $rest =~ s/^\r\n//;
        }
        $rest = $data;
    }
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    return ($status // 0, $head // '', $rest);
}

# Exactly one JSON document: JSON::PP refuses anything after it.
sub one_json {
    my $body = shift;
    return eval { $J->decode($body) };
}

# Dense: every line holds a value of several rules.
my $unit = "Jan, PESEL 44051401359, jan.kowalski\@example.com, "
    . "tel. +48 512 345 678, PL61 1090 1014 0000 0712 1981 2874, "
    . "15.03.2024 o 14:30. ";
my @many = map { { role => 'user', content => $unit x 40 } } 1 .. 200;
my $many = $J->encode({ model => 'mock-chat', messages => \@many });

# Over budget: 413, one JSON error, the limit named; nothing else.
my ($status, $head, $body) = post_raw('/tight/chat/completions', $many);
my $d = one_json($body);
ok $status == 413 or diag "$status $head";
ok $head =~ m{^Content-Type: application/json}mi or diag $head;
ok $d && $d->{error}{code} eq 'mask_time_budget_exceeded'
    && $d->{error}{message} =~ /LLMMaskTimeBudget 1 ms/ or diag $body;
ok $body =~ /\A\{.*\}\n?\z/s && $body !~ /\Q44051401359\E|data:/ or diag $body;

# One long text: the check after the last text refuses it too.
my $one = $J->encode({ model => 'mock-chat',
                       messages => [{ role => 'user', content => $unit x 4000 }] });
($status, $head, $body) = post_raw('/tight/chat/completions', $one);
$d = one_json($body);
ok $status == 413 && $d && $d->{error}{code} eq 'mask_time_budget_exceeded'
    or diag "$status $body";

# One huge text (10 MiB in one string): the engine's deadline cuts it
# in its middle. The 413 comes back, one JSON document in the client's
# dialect, in a fraction of the time the whole text takes to mask where
# the budget is 60 s (the body is read and parsed in both).
my $huge_text = $unit x int(10 * 1024 * 1024 / length $unit);
my $huge = $J->encode({ model => 'mock-chat',
                        messages => [{ role => 'user', content => $huge_text }] });
my $t0 = time;
($status, $head, $body) = post_raw('/tight/chat/completions', $huge);
my $cut = time - $t0;
$d = one_json($body);
ok $status == 413 && $d && $d->{error}{code} eq 'mask_time_budget_exceeded'
    && $body !~ /\Q44051401359\E/ or diag "$status " . substr($body, 0, 300);
my $huge_anthropic = $J->encode({ model => 'mock-chat', max_tokens => 10,
    messages => [{ role => 'user', content => $huge_text }] });
($status, $head, $body) = post_raw('/v1/messages', $huge_anthropic);
$d = one_json($body);
ok $status == 413 && $d && $d->{type} eq 'error'
    && $d->{error}{type} eq 'request_too_large' or diag "$status $body";
$t0 = time;
($status, $head, $body) = post_raw('/v1/chat/completions', $huge);
my $whole = time - $t0;
ok $status == 200 or diag "$status " . substr($body, 0, 300);
ok $cut < $whole / 2
    or diag sprintf 'refused after %.2f s, masked whole in %.2f s', $cut, $whole;
diag sprintf 'huge text: refused after %.2f s, masked whole in %.2f s',
    $cut, $whole;

# A streamed request gets the same single JSON error, not a stream.
my $stream = $J->encode({ model => 'mock-chat', stream => JSON::PP::true,
                          messages => \@many });
($status, $head, $body) = post_raw('/tight/chat/completions', $stream);
$d = one_json($body);
ok $status == 413 && $d && $head !~ /event-stream/ or diag "$status $head";

# Anthropic's dialect (its route is in a <Location> of its own): its
# error shape.
my $anthropic = $J->encode({ model => 'mock-chat', max_tokens => 10,
                             messages => \@many });
($status, $head, $body) = post_raw('/v1/messages', $anthropic);
$d = one_json($body);
ok $status == 413 && $d && $d->{type} eq 'error'
    && $d->{error}{type} eq 'request_too_large'
    && $d->{error}{message} =~ /LLMMaskTimeBudget 1 ms/ or diag "$status $body";

# Logged once per refusal, at notice.
my $log = do { local (@ARGV, $/) = ("$dir/error_log"); <> } // '';
my @lines = $log =~ /(LLM03005: [^\n]*)/g;
ok @lines == 6 or diag $log;
ok $lines[0] =~ m{/tight/chat/completions: model mock-chat: masking and guarding took longer than LLMMaskTimeBudget \(1 ms\)}
    or diag $log;

# Outside the Location the server's budget holds: the same body is
# masked and answered.
($status, $head, $body) = post_raw('/v1/chat/completions', $many);
$d = one_json($body);
ok $status == 200 && $d && $d->{choices} or diag "$status " . substr($body, 0, 300);

# A bad value stops httpd, naming the directive.
my $httpd = Apache::Test::vars('httpd');
my @load = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    grep { /^LoadModule/ } <$fh>;
};
my $n = 0;
sub config_error {
    my @directives = @_;
    my $conf = "$dir/bad-" . ++$n . '.conf';
    open my $fh, '>', $conf or die $!;
    print $fh @load, map { "$_\n" } "ServerRoot $dir", "ServerName t",
        'Listen 127.0.0.1:' . free_port(), 'TypesConfig /dev/null',
        "ErrorLog $dir/bad_error_log", @directives;
    close $fh;
    my $out = `$httpd -t -f $conf 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $out) = config_error('LLMMaskTimeBudget 0');
ok $rc != 0 && $out =~ /LLMMaskTimeBudget takes a time such as 2000 \(ms\) or 5s/
    or diag $out;
($rc, $out) = config_error('LLMMaskTimeBudget soon');
ok $rc != 0 && $out =~ /LLMMaskTimeBudget takes a time/ or diag $out;
($rc, $out) = config_error('<Location /x>', 'LLMMaskTimeBudget 250ms',
                           '</Location>');
ok $rc == 0 or diag $out;
($rc, $out) = config_error('LLMMaskTimeBudget 2000');
ok $rc == 0 or diag $out;
