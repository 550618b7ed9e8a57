# The official ollama npm client against the gateway's Ollama API (at the
# server root), with providers of other dialects behind (t/npm/ollama.mjs
# prints the TAP). scripts/run-tests installs it from the npm registry.
use strict;
use warnings FATAL => 'all';

use Apache::Test;

my $base = 'http://' . Apache::Test::vars('servername') . ':'
         . Apache::Test::vars('port');
exec 'node', 't/npm/ollama.mjs', $base or do {
    print "1..1\nnot ok 1 - cannot run node: $!\n";
    exit 1;
};
