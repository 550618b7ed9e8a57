# mod_llm_access's limits through a real httpd of its own (prefork, four
# processes): LLMLimitRequests is exact across the processes under
# concurrent clients, per key, with a key's own limit from the store, off
# where a Location says so; LLMLimitTokens charges each answer's usage;
# 429s are JSON in the client's dialect with Retry-After and
# X-RateLimit-*; a graceful restart keeps the buckets.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use lib 't/lib';
use LLMTest;

plan tests => 22, need_module 'llm_router', 'llm_access', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-limits";
rmtree($dir);
mkdir $dir;
my $file = "$dir/keys.json";
sub make_key { create_key($file, @_) }
my %k = (a => make_key('--id a'), b => make_key('--id b'),
         small => make_key('--id small --requests 3/min'),
         tok => make_key('--id tok'));

my $port = start_httpd("$dir/httpd", { mpm => 'prefork' },
    'StartServers 4', 'MinSpareServers 4', 'MaxSpareServers 8',
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file",
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'Require llm-permission chat anthropic', 'LLMLimitRequests 10/min',
    '</Location>',
    '<Location /off>', 'LLMRouterPrefix /off', 'LLMLimitRequests off',
    '</Location>',
    '<Location /tok>', 'LLMRouterPrefix /tok', 'LLMLimitRequests off',
    'LLMLimitTokens 1/hour', '</Location>',
    '<Location /bud>', 'LLMRouterPrefix /bud', 'LLMLimitRequests off',
    'LLMBudgetTokens 1/day', '</Location>');

my $http = HTTP::Tiny->new(timeout => 30);
sub call {
    my ($path, $key, $model) = @_;
    return $http->post("http://127.0.0.1:$port$path", {
        headers => { 'Content-Type' => 'application/json',
                     Authorization => "Bearer $key" },
        content => $J->encode({ model => $model // 'mock-chat',
            max_tokens => 16,
            messages => [{ role => 'user', content => 'Hello' }] }) });
}

# 30 requests of one key at once, from 6 client processes: exactly 10.
sub burst {
    my ($key, $n, $each) = @_;
    my @pids;
    pipe my $r, my $w or die;
    for (1 .. $n) {
        my $pid = fork // die;
        if (!$pid) {
            close $r;
            my $out = '';
            for (1 .. $each) {
                $out .= call('/v1/chat/completions', $key)->{status} . "\n";
            }
            print $w $out;
            close $w;
            POSIX::_exit(0);    # not LLMTest's END, which stops httpd
        }
        push @pids, $pid;
    }
    close $w;
    my @st = <$r>;
    waitpid $_, 0 for @pids;
    chomp @st;
    my %c;
    $c{$_}++ for @st;
    return \%c;
}
my $c = burst($k{a}, 6, 5);
ok(($c->{200} // 0) == 10 && ($c->{429} // 0) == 20)
    or diag "key a: " . $J->encode($c);

my $res = call('/v1/chat/completions', $k{a});
my $d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 429
    && ($res->{headers}{'content-type'} // '') =~ m{^application/json}
    && ($d->{error}{code} // '') eq 'rate_limit_exceeded'
    or diag "429: $res->{status} $res->{content}";
ok(($res->{headers}{'retry-after'} // '') =~ /^[1-6]$/)
    or diag 'Retry-After: ' . ($res->{headers}{'retry-after'} // '-');
ok(($res->{headers}{'x-ratelimit-limit'} // '') eq '10'
   && ($res->{headers}{'x-ratelimit-remaining'} // '') eq '0');
ok $d->{error}{message} =~ /^Rate limit exceeded: 10 requests per 60 s/;

# The Anthropic dialect's shape.
$res = call('/v1/messages', $k{a}, 'claude-chat');
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 429 && ($d->{error}{type} // '') eq 'rate_limit_error'
    or diag "anthropic 429: $res->{status} $res->{content}";

# Another key has its own bucket; allowed answers carry the headers.
$res = call('/v1/chat/completions', $k{b});
ok $res->{status} == 200
    && ($res->{headers}{'x-ratelimit-remaining'} // '') eq '9'
    or diag "key b: $res->{status} "
            . ($res->{headers}{'x-ratelimit-remaining'} // '-');

# A key's own limit from the store replaces the directive's.
$c = burst($k{small}, 2, 3);
ok(($c->{200} // 0) == 3 && ($c->{429} // 0) == 3)
    or diag "small: " . $J->encode($c);

# LLMLimitRequests off in a Location.
my $ok = 0;
$ok += call('/off/chat/completions', $k{a})->{status} == 200 for 1 .. 12;
ok $ok == 12 or diag "off: $ok of 12";

# Tokens: the first answer is served and charged; at 1 token an hour the
# next waits.
$res = call('/tok/chat/completions', $k{tok});
ok $res->{status} == 200 or diag "tok: $res->{status} $res->{content}";
$res = call('/tok/chat/completions', $k{tok});
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 429
    && ($d->{error}{message} // '') =~ /1 tokens per 3600 s/
    or diag "tok 2: $res->{status} $res->{content}";
ok(($res->{headers}{'retry-after'} // 0) > 3600)
    or diag 'tok Retry-After: ' . ($res->{headers}{'retry-after'} // '-');

# Tokens of a streamed answer are charged too (its usage, at its end).
$res = $http->post("http://127.0.0.1:$port/tok/chat/completions", {
    headers => { 'Content-Type' => 'application/json',
                 Authorization => "Bearer $k{a}" },
    content => $J->encode({ model => 'mock-chat', stream => JSON::PP::true,
        messages => [{ role => 'user', content => 'Hello' }] }) });
ok $res->{status} == 200 && $res->{content} =~ /data: \[DONE\]/
    or diag "stream: $res->{status}";
$res = call('/tok/chat/completions', $k{a});
ok $res->{status} == 429 or diag "after a stream: $res->{status}";

# A budget per calendar day: the first answer is served and spends it.
ok call('/bud/chat/completions', $k{b})->{status} == 200;
$res = call('/bud/chat/completions', $k{b});
$d = eval { $J->decode($res->{content}) } // {};
ok $res->{status} == 429 && ($d->{error}{code} // '') eq 'budget_exceeded'
    && ($d->{error}{message} // '') =~ m{\(1/day\) is spent until the period \d{4}-\d\d-\d\d ends}
    or diag "budget: $res->{status} $res->{content}";
my $ra = $res->{headers}{'retry-after'} // 0;
ok $ra > 0 && $ra <= 86400 or diag "budget Retry-After: $ra";

# A graceful restart keeps the buckets.
my $httpd = Apache::Test::vars('httpd');
system("$httpd -f $dir/httpd/httpd.conf -k graceful");
my $st = 0;
for (1 .. 30) {
    select undef, undef, undef, 0.2;
    $st = call('/v1/chat/completions', $k{a})->{status};
    last if $st;
}
ok $st == 429 or diag "after graceful: $st";
ok call('/v1/chat/completions', $k{b})->{status} == 200;

my $log = do { local (@ARGV, $/) = "$dir/httpd/error_log"; <> } // '';
ok $log !~ /LLM05007/;
ok !grep { index($log, $_) >= 0 } values %k;
ok $log !~ /exit signal|segfault/i or diag $log;
