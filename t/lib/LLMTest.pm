package LLMTest;

# Helpers shared by the mod_llm Apache::Test files.

use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil;
use JSON::PP;
use Exporter 'import';

our @EXPORT = qw(post_json get_json json_of chat_body is_error mock_url
                 error_log_mark error_log_since jdump diag access_line
                 access_line_matching
                 free_port start_httpd stop_httpd stream_request
                 provider_state llmctl_path create_key gpg_keypair
                 wait_stopped);

# A provider's entry of a gateway's status page (JSON), by id: {} when
# none. $status_url is the page, e.g. "http://127.0.0.1:PORT/status".
sub provider_state {
    my ($status_url, $id) = @_;
    require LWP::UserAgent;
    my $res = LWP::UserAgent->new(timeout => 10)
        ->get("$status_url?format=json");
    my $d = eval { decode_json($res->content) } // {};
    for my $f (@{ $d->{models_files} // [] }) {
        for my $m (@{ $f->{models} }) {
            for my $p (@{ $m->{providers} }) {
                return $p if $p->{id} eq $id;
            }
        }
    }
    return {};
}

# Test::More's diag, which Apache::Test does not export.
sub diag { print STDERR map { "# $_\n" } map { split /\n/ } @_; 1 }

my $json = JSON::PP->new->canonical->utf8->allow_nonref;

sub jdump { $json->encode(shift) }

# POST a JSON body (a Perl structure, or a string sent as it is).
sub post_json {
    my ($path, $body, @headers) = @_;
    $body = $json->encode($body) if ref $body;
    return POST($path, content => $body,
                'Content-Type' => 'application/json', @headers);
}

sub get_json { GET(@_) }

# The decoded JSON body of a response, or undef.
sub json_of {
    my $res = shift;
    my $d = eval { $json->decode($res->content) };
    return $d;
}

sub chat_body {
    my ($model, %extra) = @_;
    return { model => $model,
             messages => [{ role => 'user', content => 'Hello' }],
             %extra };
}

# One test: the response is an OpenAI-shaped JSON error with this status
# and code.
sub is_error {
    my ($res, $status, $code, $name) = @_;
    my $d = json_of($res);
    my $ok = $res->code == $status
        && ($res->header('Content-Type') // '') =~ m{^application/json}
        && $d && ref $d->{error} eq 'HASH'
        && ($d->{error}{code} // '') eq $code
        && length($d->{error}{message} // '')
        && length($d->{error}{type} // '')
        && exists $d->{error}{param};
    ok $ok or diag "$name: got " . $res->code . " "
        . ($res->header('Content-Type') // '-') . " " . $res->content;
    return $d;
}

sub mock_url {
    my $path = shift // '/';
    return Apache::TestRequest::module2url('mock_upstream',
                                           { path => $path });
}

sub error_log_path {
    return Apache::Test::vars('serverroot') . '/logs/error_log';
}

# Where the error log ends now; error_log_since() reads what came after.
sub error_log_mark { -s error_log_path() // 0 }

sub error_log_since {
    my $mark = shift;
    select undef, undef, undef, 0.05;
    open my $fh, '<', error_log_path() or return '';
    seek $fh, $mark, 0;
    local $/;
    return <$fh> // '';
}

# The access-log line the last request for $model wrote. httpd logs a
# request after its response went out, so wait (a little) for a line that
# was not there at the previous call.
my %access_seen;
sub access_line {
    my $model = shift;
    my @l;
    for (1 .. 40) {
        open my $fh, '<',
            Apache::Test::vars('serverroot') . '/logs/llm_access_log';
        @l = grep { /model=\Q$model\E / } <$fh>;
        last if @l > ($access_seen{$model} // 0);
        select undef, undef, undef, 0.05;
    }
    $access_seen{$model} = @l;
    return $l[-1] // '';
}

# The access-log line that matches $re (a request tagged with a query
# string of its own, say), waiting a little for httpd to write it; ''
# when none comes.
sub access_line_matching {
    my $re = shift;
    for (1 .. 40) {
        open my $fh, '<',
            Apache::Test::vars('serverroot') . '/logs/llm_access_log';
        my @l = grep { $_ =~ $re } <$fh>;
        return $l[-1] if @l;
        select undef, undef, undef, 0.05;
    }
    return '';
}

# Start another httpd (a second gateway node, a prefork server...) in
# $dir with the test server's LoadModule lines (mpm_event swapped for
# $o{mpm} when given) and @directives; it listens on the port returned
# and is stopped at exit. Dies when it does not come up.
my @started;
# The build's llmctl: beside the modules the test server loads.
sub llmctl_path {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    for (<$fh>) {
        return "$1/llmctl"
            if m{^LoadModule llm_audit_module (\S+)/mod_llm_audit\.so};
    }
    die 'no llm_audit_module in the test configuration';
}

# A new API key in $store — a key file's path, or llmctl's own
# "--redis host:port" — with options as llmctl takes them ("--id a",
# "--models mock-*"): the key, printed once by llmctl key create.
sub create_key {
    my ($store, @opts) = @_;
    my $llmctl = llmctl_path();
    my $where = $store =~ /^--/ ? $store : "--file $store";
    my $key = `$llmctl key create $where @opts 2>/dev/null`;
    chomp $key;
    return $key;
}

# A throw-away OpenPGP key pair without a passphrase in the GnuPG home
# $home (made 0700), its public key exported to $asc. GNUPGHOME is set
# to $home for what follows (local it to keep it to a block).
sub gpg_keypair {
    my ($home, $email, $asc) = @_;
    mkdir $home, 0700;
    $ENV{GNUPGHOME} = $home;
    system("gpg --batch --pinentry-mode loopback --passphrase '' "
        . "--quick-gen-key 'mod_llm tests <$email>' future-default "
        . "default never >/dev/null 2>&1") == 0
        and system("gpg --batch --armor --export $email >$asc 2>/dev/null") == 0
        or die "gpg cannot make a key pair";
}

sub start_httpd {
    my ($dir, $o, @directives) = @_;
    require IO::Socket::INET;
    my $httpd = Apache::Test::vars('httpd');
    my $port = free_port();
    my $mpm = $o->{mpm} // 'event';
    my @load = do {
        open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
        map { s/mpm_event/mpm_$mpm/gr } grep { /^LoadModule/ } <$fh>;
    };
    mkdir $dir;
    open my $fh, '>', "$dir/httpd.conf" or die "$dir: $!";
    print $fh @load, map { "$_\n" }
        "ServerRoot $dir", "DefaultRuntimeDir $dir", "PidFile $dir/httpd.pid",
        "ErrorLog $dir/error_log", "Listen 127.0.0.1:$port",
        'ServerName localhost', 'TypesConfig /dev/null', @directives;
    close $fh;
    # $o->{fsize}: the largest file it may write, in KiB (ulimit -f: a
    # disk that fills up).
    my $limit = $o->{fsize} ? "ulimit -f $o->{fsize}; " : '';
    system("$limit$httpd -f $dir/httpd.conf -k start") == 0
        or die "cannot start httpd in $dir";
    push @started, $dir;
    for (1 .. 50) {
        return $port if IO::Socket::INET->new("127.0.0.1:$port");
        select undef, undef, undef, 0.1;
    }
    die "httpd in $dir does not answer on $port";
}

sub stop_httpd {
    my $dir = shift;
    my $httpd = Apache::Test::vars('httpd');
    system("$httpd -f $dir/httpd.conf -k stop 2>/dev/null");
    @started = grep { $_ ne $dir } @started;
}

sub cmdline_of {
    open my $fh, '<', shift or return '';
    return <$fh> // '';
}

# Wait until every process of the httpd in $dir is gone (not only its
# pid file: a child may still run its exit cleanups, slow under the
# sanitizers). Reads /proc: pgrep hangs under their preloaded runtime.
sub wait_stopped {
    my $dir = shift;
    require Time::HiRes;
    for (1 .. 300) {
        my $alive = grep { index(cmdline_of($_), "$dir/httpd.conf") >= 0 }
            glob '/proc/[0-9]*/cmdline';
        return 1 unless $alive || -e "$dir/httpd.pid";
        Time::HiRes::sleep(0.1);
    }
    return 0;
}

# Over a copy: stop_httpd takes each out of @started (iterating the
# array itself skipped every other one, and left httpds running).
END { local $?; stop_httpd($_) for reverse @{[@started]} }

# POST $body (a string) to $path on the test server and read the answer
# as it arrives: { head => status line and headers, data => the de-chunked
# body, pieces => [[bytes, arrival time in us]...], complete => the
# terminating chunk came }. Headers in %hdr; path => ... overrides.
sub stream_request {
    my ($path, $body, %hdr) = @_;
    require IO::Select;
    require IO::Socket::INET;
    require Time::HiRes;
    # The current Apache::TestRequest::module's host and port.
    my ($host, $port) = split /:/, Apache::TestRequest::hostport();
    my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port,
        Timeout => 10) or die $!;
    $hdr{'Content-Type'} //= 'application/json';
    my $headers = join '', map { "$_: $hdr{$_}\r\n" } sort keys %hdr;
    print $sock "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Length: " . length($body) . "\r\n$headers"
        . "Connection: close\r\n\r\n$body";
    my ($raw, $data, @pieces, $head, $complete) = ('', '');
    my $sel = IO::Select->new($sock);
    my $deadline = Time::HiRes::time() + 15;
    while (Time::HiRes::time() < $deadline) {
        last unless $sel->can_read($deadline - Time::HiRes::time());
        my $n = sysread $sock, my $buf, 65536;
        my $now = int(Time::HiRes::time() * 1e6);
        last unless $n;
        $raw .= $buf;
        if (!defined $head) {
            next unless $raw =~ s/^(.*?\r\n)\r\n//s;
            $head = $1;
            if ($head !~ /^Transfer-Encoding: chunked/mi) {
                $data .= $raw;
                push @pieces, [$raw, $now] if length $raw;
                $raw = '';
                next;
            }
        }
        if ($head !~ /^Transfer-Encoding: chunked/mi) {
            $data .= $raw;
            push @pieces, [$raw, $now];
            $raw = '';
            next;
        }
        while ($raw =~ /^([0-9a-fA-F]+)\r\n/) {
            my $size = hex $1;
            my $start = length($1) + 2;
            last if length($raw) < $start + $size + 2;
            if ($size == 0) { $complete = 1; $raw = ''; last }
            my $piece = substr($raw, $start, $size);
            $data .= $piece;
            push @pieces, [$piece, $now];
            substr($raw, 0, $start + $size + 2, '');
        }
    }
    return { head => $head // '', data => $data, pieces => \@pieces,
             complete => $complete };
}

# A loopback port nobody listens on now.
sub free_port {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1) or die $!;
    return $s->sockport;
}

1;
