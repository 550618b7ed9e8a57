# The default method, "balanced", spreads a model's requests evenly
# over its providers (least used first).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use lib 't/lib';
use LLMTest;

plan tests => 3, need_module 'llm_router', 'proxy_http';

my %seen;
for (1 .. 60) {
    my $d = json_of(post_json('/v1/chat/completions', chat_body('mock-chat'),
                              'X-Mock-Echo' => 1));
    my ($p) = ($d->{uri} // '') =~ m{^/p=(\w+)/};
    $seen{$p // 'none'}++;
}
diag join ', ', map { "$_=$seen{$_}" } sort keys %seen;
ok !$seen{none};
ok $seen{a} && $seen{b};
# Counters are shared by every child (t/balance/multiprocess.t), so the
# split is exact whichever child serves.
ok abs(($seen{a} // 0) - ($seen{b} // 0)) <= 1;
