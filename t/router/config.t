# A bad models file or directive stops httpd at start-up, naming the
# file, the JSON path and the reason; it never crashes.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use File::Spec;
use lib 't/lib';
use LLMTest;

plan tests => 15, need_module 'llm_router';

my $httpd = Apache::Test::vars('httpd');
my $dir = Apache::Test::vars('serverroot') . '/logs/config-test';
t_mkdir($dir);

my @load = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf')
        // 't/setup/base.conf' or die;
    grep { /^LoadModule/ } <$fh>;
};

# A port nobody uses, for the Listen the configurations need.
my $port = free_port();

my $n = 0;
# Run httpd on a config with @extra directives; return (exit code,
# everything it said).
sub httpd_with {
    my ($mode, @extra) = @_;
    my $conf = "$dir/httpd-" . ++$n . ".conf";
    t_write_file($conf, join '', @load, map { "$_\n" }
        "ServerRoot $dir", "DefaultRuntimeDir $dir", "PidFile $dir/pid$n",
        "ErrorLog $dir/error_log.$n", "Listen 127.0.0.1:$port", "ServerName t",
        "TypesConfig /dev/null",
        @extra);
    my $cmd = $mode eq 'test'
        ? "$httpd -t -f $conf 2>&1"
        : "timeout 10 $httpd -DFOREGROUND -f $conf 2>&1";
    my $out = `$cmd`;
    my $rc = $? >> 8;
    if (open my $fh, '<', "$dir/error_log.$n") { local $/; $out .= <$fh> }
    return ($rc, $out);
}

sub models_file {
    my ($name, $json) = @_;
    my $f = "$dir/$name.json";
    t_write_file($f, $json);
    return $f;
}

sub with_provider {
    my $p = shift;
    return qq({"g":{"m":{"providers":[$p]}},"active_models":{"g":["m"]}});
}

my $good = models_file('good', with_provider(
    '{"id":"a","api_host":"http://127.0.0.1:9","api_type":"vllm"}'));
my ($rc, $out) = httpd_with('test', 'LLMRouter On', "LLMRouterModels $good");
ok $rc == 0 && $out =~ /Syntax OK/ or diag $out;

my $f = models_file('syntax', "{\n  \"g\": {\n    oops\n  }\n}\n");
($rc, $out) = httpd_with('test', "LLMRouterModels $f");
ok $rc != 0 && $out =~ /\Q$f\E: invalid JSON at line 3/ or diag $out;

$f = models_file('apitype', with_provider(
    '{"id":"a","api_host":"http://h","api_type":"llamacpp"}'));
($rc, $out) = httpd_with('test', "LLMRouterModels $f");
ok $rc != 0 && $out =~ /\Q$f\E: \$\.g\.m\.providers\[0\]\.api_type: unknown api_type "llamacpp"/
    or diag $out;

$f = models_file('dup', qq({"g":{"m":{"providers":[)
    . '{"id":"a","api_host":"http://h","api_type":"vllm"}]},'
    . '"n":{"providers":[{"id":"a","api_host":"http://i","api_type":"vllm"}]}},'
    . '"active_models":{"g":["m","n"]}}');
($rc, $out) = httpd_with('test', "LLMRouterModels $f");
ok $rc != 0 && $out =~ /\$\.g\.n\.providers\[0\]\.id: duplicate provider id "a"/
    or diag $out;

$f = models_file('noprov', '{"g":{"m":{"providers":[]}},"active_models":{"g":["m"]}}');
($rc, $out) = httpd_with('test', "LLMRouterModels $f");
ok $rc != 0 && $out =~ /\$\.g\.m\.providers: an active model needs at least one provider/
    or diag $out;

($rc, $out) = httpd_with('test', "LLMRouterModels $dir/missing.json");
ok $rc != 0 && $out =~ m{missing\.json: cannot read} or diag $out;

($rc, $out) = httpd_with('test', 'LLMRouterBalance fastest');
ok $rc != 0 && $out =~ /unknown balance method "fastest" \(known: [^)]*\bbalanced\b[^)]*\bfirst_available\b[^)]*\)/
    or diag $out;

($rc, $out) = httpd_with('test', 'LLMRouterMaxBody lots');
ok $rc != 0 && $out =~ /LLMRouterMaxBody/ or diag $out;

($rc, $out) = httpd_with('test', 'LLMRouterTimeout -1');
ok $rc != 0 && $out =~ /LLMRouterTimeout takes a positive time/ or diag $out;

# Checked once every module has registered its methods: a real start.
$f = models_file('method', qq({"g":{"m":{"balance":"fastest","providers":[)
    . '{"id":"a","api_host":"http://h","api_type":"vllm"}]}},'
    . '"active_models":{"g":["m"]}}');
($rc, $out) = httpd_with('start', 'LLMRouter On', "LLMRouterModels $f");
ok $rc != 0 && $out =~ /\Q$f\E: model "m": unknown balance method "fastest"/
    or diag $out;
# mod_llm_mask's directives: a bad rule, file or name stops httpd too.
SKIP: {
    skip 'mod_llm_mask not loaded', 4 unless grep { /llm_mask_module/ } @load;
    ($rc, $out) = httpd_with('test', 'LLMMaskRule TICKET {{TICKET}} "TCK-([0-9]"');
    ok $rc != 0 && $out =~ /rule TICKET: pattern error at offset \d+/ or diag $out;
    ($rc, $out) = httpd_with('test', 'LLMMaskDisable NOPE');
    ok $rc != 0 && $out =~ /no rule named NOPE \(known: all, EMAIL, URL/ or diag $out;
    my $bad = "$dir/rules-bad.json";
    t_write_file($bad, '[{"name": "A", "pattern": "a"}, {"name": "B"}]');
    ($rc, $out) = httpd_with('test', "LLMMaskRulesFile $bad");
    ok $rc != 0 && $out =~ /\Q$bad\E: \$\[1\]\.pattern: a new rule needs a pattern/
        or diag $out;
    ($rc, $out) = httpd_with('test', 'LLMGuardDeny x "a(b"');
    ok $rc != 0 && $out =~ /LLMGuardDeny x: pattern a\(b: error at offset/ or diag $out;
}
ok $out !~ /Segmentation|core dumped/;
