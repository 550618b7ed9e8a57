# The anonymiser page (docs/anonymizer): served as static files beside
# the API; rendered by headless Chromium (Debian's package) against the
# masking gateways: masked text, the pseudonym mappings, the gateway's
# errors shown from their JSON bodies, a network error, and pasted HTML
# shown as text, never run.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use lib 't/lib';
use LLMTest;

plan tests => 17, need_module 'llm_router', 'llm_mask';

my $email = 'jan.kowalski@example.com';
my $pesel = '44051401359';
my $text = "Napisz do $email,\nPESEL $pesel.";

sub in_gw {
    my ($vhost, $code) = @_;
    Apache::TestRequest::module($vhost);
    my @r = $code->();
    Apache::TestRequest::module('default');
    return wantarray ? @r : $r[0];
}

sub url_of {
    my ($vhost, $path) = @_;
    my $url = Apache::TestRequest::module2url($vhost, { path => $path });
    Apache::TestRequest::module('default');
    return $url;
}

sub qs {
    my %p = @_;
    return join '&', map {
        my ($k, $v) = ($_, $p{$_});
        utf8::encode($v) if utf8::is_utf8($v);
        $v =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
        "$k=$v";
    } sort keys %p;
}

# --- Served as static files, on every virtual host -----------------------
my $res = GET '/anonymizer/';
ok $res->code == 200 && $res->header('Content-Type') =~ m{^text/html}
    && $res->content =~ m{<script src="anonymizer\.js" defer></script>}
    && $res->content =~ m{<link rel="stylesheet" href="anonymizer\.css">}
    or diag $res->code . ' ' . ($res->header('Content-Type') // '-');
$res = GET '/anonymizer/anonymizer.js';
ok $res->code == 200
    && $res->header('Content-Type') =~ m{^(?:text|application)/javascript\b}
    && $res->content =~ /fast_text_mask/
    or diag $res->code . ' ' . ($res->header('Content-Type') // '-');
$res = GET '/anonymizer/anonymizer.css';
ok $res->code == 200 && $res->header('Content-Type') =~ m{^text/css\b}
    or diag $res->code . ' ' . ($res->header('Content-Type') // '-');
$res = in_gw('masked_gateway', sub { GET '/anonymizer/index.html' });
ok $res->code == 200 && $res->header('Content-Type') =~ m{^text/html};

# --- Rendered by headless Chromium ------------------------------------------
my $chromium = -x '/usr/bin/chromium' ? '/usr/bin/chromium' : undef;

# The DOM once the page's script has had its answer (--dump-dom after
# the virtual time budget; a pending fetch holds virtual time).
sub render {
    my ($url) = @_;
    my $dir = tempdir(CLEANUP => 1);
    # Without the sanitizer runtimes the test pass may preload for httpd.
    my @cmd = (qw(env -u LD_PRELOAD -u ASAN_OPTIONS -u UBSAN_OPTIONS
                  timeout 60), $chromium, qw(--headless --no-sandbox
                  --disable-gpu --disable-dev-shm-usage --no-first-run
                  --disable-background-networking --disable-component-update
                  --disable-sync), "--user-data-dir=$dir",
               '--virtual-time-budget=5000', '--dump-dom', $url);
    open my $olderr, '>&', \*STDERR or die $!;
    open STDERR, '>', '/dev/null' or die $!;
    my $dom = '';
    if (open my $fh, '-|', @cmd) {
        local $/;
        $dom = <$fh> // '';
        close $fh;
    }
    open STDERR, '>&', $olderr or die $!;
    return $dom;
}

sub state_of { ($_[0] =~ m{<body[^>]*\bdata-state="([^"]*)"})[0] // '' }
sub output_of { ($_[0] =~ m{<pre id="output"[^>]*>(.*?)</pre>}s)[0] // '' }
sub error_of {
    my ($dom) = @_;
    return '' if $dom =~ m{<p id="error"[^>]*\bhidden\b};
    return ($dom =~ m{<p id="error"[^>]*>(.*?)</p>}s)[0] // '';
}
sub shows { my ($dom, $id) = @_; $dom =~ m{<[a-z]+ id="$id"(?![^>]*\bhidden\b)[^>]*>} }
sub brief { my $s = shift; $s =~ s/\s+/ /g; substr($s, 0, 2000) }

unless ($chromium) {
    skip('chromium is not installed (scripts/install-deps)', 0) for 1 .. 13;
    exit 0;
}

# Static masking: the text comes back with tokens, line break kept.
my $dom = render(url_of('masked_gateway', '/anonymizer/?' . qs(text => $text)));
my $out = output_of($dom);
ok state_of($dom) eq 'done' or diag brief($dom);
ok $out =~ /\{\{EMAIL\}\}/ && $out =~ /\{\{PESEL_TAGGED\}\}/ && $out =~ /\n/
    && index($out, $email) < 0 && index($out, $pesel) < 0
    or diag "output: $out";
ok shows($dom, 'result') && !shows($dom, 'mappings-box') && error_of($dom) eq ''
    or diag brief($dom);

# Pseudonym mode: the mappings table, token -> original.
$dom = render(url_of('pseudonym_gateway',
                     '/anonymizer/?' . qs(text => "$email, $email")));
ok state_of($dom) eq 'done' && output_of($dom) eq '{{EMAIL_1}}, {{EMAIL_1}}'
    or diag brief($dom);
ok shows($dom, 'mappings-box')
    && $dom =~ m{<tr><th scope="row"><code>\{\{EMAIL_1\}\}</code></th><td>\Q$email\E</td></tr>}
    or diag brief($dom);

# The gateway's errors, from their JSON bodies: an unknown route under
# /api answers Ollama's {"error": "..."}, one under /v1 OpenAI's
# {"error": {"message", ...}}.
$dom = render(url_of('masked_gateway', '/anonymizer/?'
                     . qs(text => $text, endpoint => '/api/nope')));
ok state_of($dom) eq 'error'
    && error_of($dom) =~ m{HTTP 404.*There is no API route POST /api/nope here}s
    && !shows($dom, 'result')
    or diag brief($dom);
$dom = render(url_of('masked_gateway', '/anonymizer/?'
                     . qs(text => $text, endpoint => '/v1/nope')));
ok state_of($dom) eq 'error'
    && error_of($dom) =~ m{HTTP 404.*There is no API route POST /v1/nope here\..*\[unknown_route\]}s
    or diag brief($dom);

# ?endpoint= stays on the page's own server.
$dom = render(url_of('masked_gateway', '/anonymizer/?'
                     . qs(text => $text, endpoint => mock_url('/collect'))));
ok state_of($dom) eq 'error' && error_of($dom) =~ /is not on this server/
    or diag brief($dom);

# A network error: the page from a file, <body data-endpoint> on a port
# nobody listens on (also: the page works from any path).
my $copy = tempdir(CLEANUP => 1);
copy("docs/anonymizer/$_", "$copy/$_") or die "$_: $!"
    for qw(anonymizer.js anonymizer.css);
my $port = free_port();
{
    open my $in, '<', 'docs/anonymizer/index.html' or die $!;
    open my $o, '>', "$copy/index.html" or die $!;
    local $/;
    (my $html = <$in>) =~ s{<body data-state=}{<body data-endpoint="http://127.0.0.1:$port/api/fast_text_mask" data-state=};
    print $o $html;
}
$dom = render("file://$copy/index.html?" . qs(text => $text));
ok state_of($dom) eq 'error'
    && error_of($dom) =~ m{Could not reach the gateway at http://127\.0\.0\.1:$port/api/fast_text_mask}
    or diag brief($dom);

# Pasted HTML is text: escaped in the DOM, never run.
my $html = q{<script>document.body.dataset.pwned='script'</script>}
         . q{<img src=x onerror="document.body.dataset.pwned='img'"> & done};
$dom = render(url_of('masked_gateway', '/anonymizer/?' . qs(text => $html)));
$out = output_of($dom);
ok state_of($dom) eq 'done' or diag brief($dom);
ok index($out, '&lt;script&gt;') >= 0 && index($out, '&lt;img src=x onerror=') >= 0
    && index($out, '&amp; done') >= 0
    or diag "output: $out";
ok $dom !~ /data-pwned/ && $dom !~ /<img/ && $dom !~ /<script>document/
    or diag brief($dom);

# An empty ?text= is refused by the page itself, with a message.
$dom = render(url_of('masked_gateway', '/anonymizer/?text='));
ok state_of($dom) eq 'error' && error_of($dom) =~ /Paste some text first/
    or diag brief($dom);
