# The official openai npm client against the gateway (t/npm/openai.mjs
# prints the TAP). scripts/run-tests installs it from the npm registry.
use strict;
use warnings FATAL => 'all';

use Apache::Test;

my $base = 'http://' . Apache::Test::vars('servername') . ':'
         . Apache::Test::vars('port') . '/v1';
exec 'node', 't/npm/openai.mjs', $base or do {
    print "1..1\nnot ok 1 - cannot run node: $!\n";
    exit 1;
};
