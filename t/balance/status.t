# The balance status page: JSON for machines, HTML for people (rendered
# by headless Chromium), live numbers, protected by Require.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use File::Temp qw(tempdir);
use lib 't/lib';
use LLMTest;

plan tests => 15, need_module 'llm_router', 'proxy_http';

sub status {
    my $res = GET '/llm-status?format=json';
    return ($res, json_of($res));
}

sub provider {
    my ($s, $model, $id) = @_;
    for my $f (@{ $s->{models_files} }) {
        for my $m (@{ $f->{models} }) {
            next unless $m->{name} eq $model;
            my ($p) = grep { $_->{id} eq $id } @{ $m->{providers} };
            return ($p, $m);
        }
    }
    return;
}

my ($res, $s) = status();
ok $res->code == 200 && $res->header('Content-Type') =~ m{^application/json};
ok $s && ref $s->{models_files} eq 'ARRAY'
    && (grep { $_->{path} =~ m{models/main\.json$} } @{ $s->{models_files} })
    && (grep { $_->{path} =~ m{models/b\.json$} } @{ $s->{models_files} });
my ($p, $m) = provider($s, 'mock-tools', 'mock-tools-1');
ok $p && $p->{state} eq 'ok' && $p->{tier} eq 'primary'
    && $p->{api_type} eq 'openai' && $m->{method} =~ /balanced/;
my $before = $p->{requests};

# Live: three requests later, three more are counted.
post_json('/v1/chat/completions', chat_body('mock-tools')) for 1 .. 3;
($res, $s) = status();
($p) = provider($s, 'mock-tools', 'mock-tools-1');
ok $p->{requests} == $before + 3 && $p->{inflight} == 0
    && $p->{latency_ewma_ms} > 0 or diag jdump($p);

# A provider that refuses three times in a row is shown out, until when.
post_json('/v1/chat/completions', chat_body('status-dead')) for 1 .. 3;
($res, $s) = status();
($p) = provider($s, 'status-dead', 'sd-1');
ok $p->{state} eq 'out' && $p->{out_until} > time - 1
    && $p->{failures} == 3 && $p->{consecutive_failures} == 3
    or diag jdump($p);
my (undef, $wm) = provider($s, 'weighted-model', 'w1');
ok $wm->{method} eq 'weighted';
# Per VirtualHost: its models file and the method in force there.
my ($main) = grep { $_->{models_file} =~ m{models/main\.json$} } @{ $s->{servers} };
my ($b) = grep { $_->{models_file} =~ m{models/b\.json$} } @{ $s->{servers} };
ok $main && $main->{method} eq 'balanced' && $b && $b->{server} =~ /:\d+$/
    or diag jdump($s->{servers});

# HTML for people.
$res = GET '/llm-status';
ok $res->code == 200 && $res->header('Content-Type') =~ m{^text/html};
ok $res->content =~ m{<tr id="p-mock-tools-mock-tools-1"><td>mock-tools-1</td><td class="s">primary</td>};
ok $res->content =~ m{<td class="state s out">out</td>};
ok $res->content =~ m{<h2>Servers</h2>.*models/b\.json}s;

# Require all denied protects it like any other location.
ok GET('/llm-status-closed')->code == 403;
ok POST('/llm-status', content => '')->code == 405;

# Headless Chromium (Debian's package) renders the page; two renders
# around more requests show the numbers moving.
my $chromium = -x '/usr/bin/chromium' ? '/usr/bin/chromium' : undef;
my $url = 'http://' . Apache::Test::vars('servername') . ':'
        . Apache::Test::vars('port') . '/llm-status';
sub render {
    my $dir = tempdir(CLEANUP => 1);
    # Without the sanitizer runtimes the test pass may preload for httpd.
    my $dom = `env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS timeout 60 $chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir=$dir --virtual-time-budget=3000 --dump-dom '$url' 2>/dev/null`;
    my ($n) = $dom =~ m{<tr id="p-mock-tools-mock-tools-1">.*?<td class="requests">(\d+)</td>}s;
    my ($updated) = $dom =~ m{<span id="updated">([^<]*)</span>};
    return ($n, $updated // '');
}
if ($chromium) {
    my ($n1, $u1) = render();
    post_json('/v1/chat/completions', chat_body('mock-tools')) for 1 .. 2;
    my ($n2, $u2) = render();
    ok defined $n1 && defined $n2 && $n2 == $n1 + 2
        or diag "rendered requests: " . ($n1 // '-') . " then " . ($n2 // '-');
    # The page's script refreshed it from the JSON (ISO time, not the
    # server's RFC 822 date).
    ok $u2 =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/ or diag "updated: $u2";
}
else {
    print "not ok - chromium is not installed (scripts/install-deps)\n" for 1 .. 2;
}
