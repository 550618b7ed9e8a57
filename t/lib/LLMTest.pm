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
                 free_port);

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

# A loopback port nobody listens on now.
sub free_port {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1) or die $!;
    return $s->sockport;
}

1;
