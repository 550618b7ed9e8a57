# The official openai, Anthropic and ollama npm clients authenticate
# with mod_llm_access keys (t/npm/access.mjs prints the TAP) against a
# gateway of its own with AuthType llm-key on every route.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use File::Path qw(rmtree);
use lib 't/lib';
use LLMTest;

for my $m (qw(llm_router llm_access proxy_http)) {
    next if Apache::Test::have_module($m);
    print "1..0 # SKIP no module $m\n";
    exit 0;
}
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/access-npm";
rmtree($dir);
mkdir $dir;
my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_access_module (\S+)/mod_llm_access\.so} ? $1 : () }
        <$fh>;
};
my $file = "$dir/keys.json";
my $good = `$build/llmctl key create --file $file --id npm 2>/dev/null`;
my $chat = `$build/llmctl key create --file $file --id npm-chat --permissions chat 2>/dev/null`;
chomp($good, $chat);
my $port = start_httpd("$dir/httpd", {},
    'LLMRouter On', "LLMRouterModels $root/models/main.json",
    "LLMAccessKeyFile $file",
    '<Location />', 'AuthType llm-key', 'AuthName gateway',
    'AuthzSendForbiddenOnFailure On',
    'Require llm-permission chat embedding anthropic ollama',
    '</Location>');
# Not exec: this process must live on to stop its httpd (END).
system('node', 't/npm/access.mjs', "http://127.0.0.1:$port", $good, $chat)
    != -1 and exit($? >> 8)
    or do {
    print "1..1\nnot ok 1 - cannot run node: $!\n";
    exit 1;
};
