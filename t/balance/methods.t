# Methods chosen per model (models file) and per Location, through httpd.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use IO::Socket::INET;
use POSIX qw(_exit);
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

plan tests => 8, need_module 'llm_router', 'proxy_http';

my $chat = '/v1/chat/completions';

sub served_by {
    my ($path, $model) = @_;
    my $d = json_of(post_json($path, chat_body($model), 'X-Mock-Echo' => 1));
    return ($d->{uri} // '') =~ m{^/p=(\w+)/} ? $1 : '?';
}

# "balance": "weighted" in the models file, weights 1 and 0.25.
my %n;
$n{ served_by($chat, 'weighted-model') }++ for 1 .. 50;
ok(($n{w1} // 0) == 40 && ($n{w2} // 0) == 10)
    or diag join ' ', map { "$_=$n{$_}" } sort keys %n;

# LLMRouterBalance least_inflight in <Location /busy>: serves.
ok served_by('/busy/chat/completions', 'mock-chat') =~ /^[ab]$/;

# Concurrent requests, each started on a fresh connection; returns
# [status, seconds, served by] per request.
sub concurrently {
    my ($model, $count) = @_;
    my $body = qq({"model":"$model","messages":[{"role":"user","content":"x"}]});
    my @kids;
    for (1 .. $count) {
        pipe my $r, my $w or die;
        my $pid = fork // die;
        if (!$pid) {
            close $r;
            my $t0 = time;
            my $s = IO::Socket::INET->new(PeerAddr => 'localhost',
                PeerPort => Apache::Test::vars('port')) or _exit(1);
            print $s "POST $chat HTTP/1.0\r\nContent-Type: application/json\r\n"
                . "X-Mock-Echo: 1\r\nContent-Length: " . length($body)
                . "\r\n\r\n$body";
            local $/;
            my $res = <$s> // '';
            my ($code) = $res =~ m{^HTTP/1\.\d (\d+)};
            my ($who) = $res =~ m{"uri":"/p=(\w+)/};
            printf $w "%s %.3f %s\n", $code // 0, time - $t0, $who // '-';
            close $w;
            _exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my @out;
    for my $k (@kids) {
        my $line = readline $k->[1];
        waitpid $k->[0], 0;
        push @out, [split ' ', $line // '0 0 -'];
    }
    return @out;
}

# first_available, 2 providers taking 0.6 s each, 4 requests at once:
# two are served at once, two wait for a provider to free up; no
# provider ever has two (the mock would then answer two at ~0.6 s).
my @r = concurrently('exclusive-model', 4);
my @ok = grep { $_->[0] == 200 } @r;
my @slow = sort { $a <=> $b } map { $_->[1] } @r;
ok @ok == 4 or diag join '; ', map { "@$_" } @r;
ok $slow[1] < 1.0 && $slow[2] > 1.1 && $slow[3] < 2.0
    or diag "times: @slow";
my %by;
$by{ $_->[2] }++ for @r;
ok(($by{x1} // 0) == 2 && ($by{x2} // 0) == 2) or diag join ' ', %by;

# One provider taking 1.8 s, queue time 1 s: the second request waits
# 1 s, then gets 503 with Retry-After instead of hanging.
@r = concurrently('exclusive-one', 2);
my ($served) = grep { $_->[0] == 200 } @r;
my ($refused) = grep { $_->[0] == 503 } @r;
ok $served && $refused or diag join '; ', map { "@$_" } @r;
ok $refused && $refused->[1] > 0.9 && $refused->[1] < 1.6
    or diag "refused after " . ($refused ? $refused->[1] : '-');
my $log = error_log_since(0);
ok $log =~ /LLM01011: .*no provider of model exclusive-one is available now/;
