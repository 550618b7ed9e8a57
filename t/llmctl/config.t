# llmctl config / models / mask, the real binary (docs/llmctl.md):
#   config check on a valid file and on broken ones (bad JSON, wrong
#   types, unknown api_type, duplicate provider ids, a fallback that is
#   not a model), the problem's JSON path asserted, and on a file with
#   several problems every one named, in order, exit codes 0/1/2;
#   models lists models and providers, never an api_token nor a URL's
#   password, in text and --json;
#   mask masks a PESEL and an e-mail, pseudonyms consistent within one
#   run (across inputs), the map on stderr or --map, --json masks texts
#   only, nothing printed on error;
#   config discover against the mock upstream's OpenAI (/v1/models) and
#   Ollama (/api/tags) endpoints writes a file config check accepts; a
#   dead server is named, the exit code says whether any answered;
#   config merge with and without conflicts (both paths named).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir t_cmp);
use File::Path qw(rmtree);
use JSON::PP;
use lib 't/lib';
use LLMTest;

plan tests => 104, need_module 'llm_router', 'llm_mask';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/llmctl-config";
rmtree($dir);
t_mkdir($dir);

# llmctl is built beside the modules the test server loads.
my ($build) = do {
    open my $fh, '<', Apache::Test::vars('httpd_conf') or die;
    map { m{^LoadModule llm_router_module (\S+)/mod_llm_router\.so} ? $1 : () }
        <$fh>;
};
my $llmctl = "$build/llmctl";
ok -x $llmctl or diag "no $llmctl";

# Run llmctl with optional stdin: (exit code, stdout, stderr).
sub llmctl {
    my ($stdin, @args) = @_;
    my $cmd = join ' ', $llmctl, map { "'$_'" } @args;
    if (defined $stdin) {
        write_file("$dir/stdin", $stdin);
        $cmd .= " <$dir/stdin";
    }
    my $out = `$cmd 2>$dir/stderr`;
    my $rc = $? >> 8;
    return ($rc, $out, read_file("$dir/stderr"));
}

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

sub read_file {
    my $path = shift;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

my ($rc, $out, $err);

# ------------------------------------------------------------------
# config check

my $good = write_file("$dir/good.json", <<'EOF');
{
  "team": {
    "chat": {
      "balance": "weighted",
      "providers": [
        {"id": "c-1", "api_host": "http://user:secret-pw@127.0.0.1:9/v", "api_type": "openai", "api_token": "sk-SECRET-TOKEN"},
        {"id": "c-2", "api_host": "http://127.0.0.1:9", "api_type": "ollama", "weight": 0.5}
      ],
      "providers_sleep": [
        {"id": "c-sleep", "api_host": "http://127.0.0.1:9/s", "api_type": "vllm"}
      ],
      "fallbacks": ["other/model:7b"]
    },
    "other/model:7b": {
      "providers": [{"id": "o-1", "api_host": "http://127.0.0.1:9/o", "api_type": "lmstudio"}]
    }
  },
  "active_models": {"team": ["chat", "other/model:7b"]}
}
EOF

($rc, $out, $err) = llmctl(undef, 'config', 'check', $good);
ok t_cmp($rc, 0, 'config check: a valid file, exit 0');
ok t_cmp($out, qr/^valid: .*good\.json: 2 active model\(s\), 4 provider\(s\)$/m,
         'config check: says valid, with the counts');

# Each broken file: its text, and the JSON path the problem names.
my @broken = (
    [ 'bad JSON', '{"team": {"chat": }', qr/invalid JSON at line 1, column 19/ ],
    [ 'repeated key', '{"a": 1, "a": 2}', qr/a key is repeated/ ],
    [ 'no active_models', '{"team": {}}', qr/: \$: "active_models" is missing/ ],
    [ 'providers not a list',
      '{"g": {"m": {"providers": {}}}, "active_models": {"g": ["m"]}}',
      qr/: \$\.g\.m\.providers: must be a list, not object/ ],
    [ 'id a number',
      '{"g": {"m": {"providers": [{"id": 7, "api_host": "http://h", "api_type": "openai"}]}}, "active_models": {"g": ["m"]}}',
      qr/: \$\.g\.m\.providers\[0\]\.id: must be a string, not int/ ],
    [ 'weight a string',
      '{"g": {"m": {"providers": [{"id": "a", "api_host": "http://h", "api_type": "openai", "weight": "1"}]}}, "active_models": {"g": ["m"]}}',
      qr/: \$\.g\.m\.providers\[0\]\.weight: must be a number, not string/ ],
    [ 'unknown api_type',
      '{"g": {"m": {"providers": [{"id": "a", "api_host": "http://h", "api_type": "gemini"}]}}, "active_models": {"g": ["m"]}}',
      qr/: \$\.g\.m\.providers\[0\]\.api_type: unknown api_type "gemini"/ ],
    [ 'duplicate provider id',
      '{"g": {"m": {"providers": [{"id": "a", "api_host": "http://h", "api_type": "openai"}]}, "n": {"providers_sleep": [], "providers": [{"id": "a", "api_host": "http://i", "api_type": "openai"}]}}, "active_models": {"g": ["m", "n"]}}',
      qr/: \$\.g\.n\.providers\[0\]\.id: duplicate provider id "a" \(first used at \$\.g\.m\.providers\[0\]\)/ ],
    [ 'fallback not a model',
      '{"g": {"m": {"fallbacks": ["nope"], "providers": [{"id": "a", "api_host": "http://h", "api_type": "openai"}]}}, "active_models": {"g": ["m"]}}',
      qr/: \$\.g\.m\.fallbacks\[0\]: "nope" is not an active model/ ],
    [ 'api_host not a URL',
      '{"g": {"m/x": {"providers": [{"id": "a", "api_host": "ftp://h", "api_type": "openai"}]}}, "active_models": {"g": ["m/x"]}}',
      qr/: \$\.g\["m\/x"\]\.providers\[0\]\.api_host: "ftp:\/\/h" is not an http/ ],
);
for my $b (@broken) {
    my ($what, $text, $re) = @$b;
    (my $name = $what) =~ s/\W+/-/g;
    my $path = write_file("$dir/broken-$name.json", $text);
    ($rc, $out, $err) = llmctl(undef, 'config', 'check', $path);
    ok t_cmp($rc, 1, "config check: $what: exit 1");
    ok t_cmp($out, qr/^invalid: \Q$path\E: /, "config check: $what: the file");
    ok t_cmp($out, $re, "config check: $what: the path and the reason");
}

# Several problems, in different models and providers: every one named
# with its path, one per line, in the parser's order (active_models',
# then the fields', fallbacks last), exit 1.
my $multi = write_file("$dir/multi.json", <<'EOF');
{
  "g": {
    "a": {"providers": [
      {"id": "x", "api_host": "ftp://h", "api_type": "vllm"},
      {"id": "y", "api_host": "http://h", "api_type": "gemini", "weight": "1"}
    ]},
    "b/c": {"providers_sleep": [{"id": "x", "api_host": "http://i", "api_type": "ollama"}],
            "fallbacks": ["nope"]}
  },
  "active_models": {"g": ["a", "b/c", "missing"]}
}
EOF
($rc, $out, $err) = llmctl(undef, 'config', 'check', $multi);
ok t_cmp($rc, 1, 'config check: several problems, exit 1');
my @lines = split /\n/, $out;
ok t_cmp(scalar(grep { /^invalid: \Q$multi\E: \S+: \S/ } @lines), 7,
         'config check: one line per problem, each with the file and a path');
ok t_cmp(join("\n", map { /^invalid: \Q$multi\E: (\S+): (.*)/ ? "$1 $2" : $_ } @lines),
         join("\n",
              '$.g.a.providers[0].api_host "ftp://h" is not an http:// or https:// URL',
              '$.g.a.providers[1].api_type unknown api_type "gemini" (known: openai, vllm, lmstudio, ollama, anthropic)',
              '$.g.a.providers[1].weight must be a number, not string',
              '$.g["b/c"].providers_sleep[0].id duplicate provider id "x" (first used at $.g.a.providers[0])',
              '$.g["b/c"].providers an active model needs at least one provider',
              '$.g.missing model "missing" is active but not defined in group "g"',
              '$.g["b/c"].fallbacks[0] "nope" is not an active model of this file'),
         'config check: every path and reason, in order');
ok t_cmp($err, qr/^llmctl config check: 7 problem\(s\)$/m,
         'config check: the count on stderr');
($rc, $out, $err) = llmctl(undef, 'models', $multi);
ok t_cmp($err, qr/api_host: "ftp:\/\/h" is not an http:\/\/ or https:\/\/ URL \(and 6 more problem\(s\): llmctl config check lists them all\)/,
         'models: the first problem, and how many more');

($rc, $out, $err) = llmctl(undef, 'config', 'check', "$dir/missing.json");
ok t_cmp($rc, 2, 'config check: an unreadable file, exit 2');
ok t_cmp($err, qr/missing\.json: cannot read/, 'config check: says why');
($rc, $out, $err) = llmctl(undef, 'config', 'check');
ok t_cmp($rc, 2, 'config check: no file, exit 2');
($rc, $out, $err) = llmctl(undef, 'config', 'check', '--help');
ok t_cmp($rc == 0 && $out =~ /^usage: llmctl config check FILE/m, 1,
         'config --help');

# ------------------------------------------------------------------
# models

($rc, $out, $err) = llmctl(undef, 'models', $good);
ok t_cmp($rc, 0, 'models: exit 0');
ok t_cmp($out, qr/^chat\n  group   team\n  balance weighted\n  active  c-1 +openai +http:\/\/127\.0\.0\.1:9\/v\n  active  c-2 +ollama +http:\/\/127\.0\.0\.1:9\n  sleep   c-sleep +vllm +http:\/\/127\.0\.0\.1:9\/s\n  fallbacks other\/model:7b\n/m,
         'models: a model, its providers by tier, its fallbacks');
ok t_cmp(($out . $err) !~ /SECRET|secret-pw/ ? 1 : 0, 1,
         'models: neither the api_token nor the password of a URL');
($rc, $out, $err) = llmctl(undef, 'models', '--json', $good);
my $list = eval { $J->decode($out) } || {};
my ($chat) = grep { $_->{name} eq 'chat' } @{ $list->{models} || [] };
ok t_cmp($rc == 0 && $chat && $chat->{balance}, 'weighted', 'models --json');
ok t_cmp(join(',', map { "$_->{id}:$_->{api_type}" }
                  @{ $chat->{providers} || [] }, @{ $chat->{providers_sleep} || [] }),
         'c-1:openai,c-2:ollama,c-sleep:vllm', 'models --json: providers by tier');
ok t_cmp(($chat->{fallbacks} || [])->[0], 'other/model:7b',
         'models --json: fallbacks');
ok t_cmp($out !~ /SECRET|secret-pw|api_token/, 1,
         'models --json: no api_token, no password');
($rc, $out, $err) = llmctl(undef, 'models', "$dir/broken-unknown-api_type.json");
ok t_cmp($rc, 1, 'models: an invalid file, exit 1');
ok t_cmp($err, qr/api_type: unknown api_type/, 'models: the problem on stderr');

# ------------------------------------------------------------------
# mask

my $text = "Jan, PESEL 44051401359, jan\@example.com; again jan\@example.com"
         . " and ola\@example.org\n";
($rc, $out, $err) = llmctl($text, 'mask');
ok t_cmp($rc, 0, 'mask: exit 0');
ok t_cmp($out, "Jan, PESEL {{PESEL_TAGGED}}, {{EMAIL}}; again {{EMAIL}} and {{EMAIL}}\n",
         'mask: static tokens, as the module\'s default mode');

my $in1 = write_file("$dir/in1.txt", $text);
my $in2 = write_file("$dir/in2.txt", "reply to ola\@example.org or jan\@example.com\n");
($rc, $out, $err) = llmctl(undef, 'mask', '--mode', 'pseudonym', $in1, $in2);
ok t_cmp($rc, 0, 'mask --mode pseudonym: exit 0');
ok t_cmp($out, "Jan, PESEL {{PESEL_TAGGED_1}}, {{EMAIL_1}}; again {{EMAIL_1}} and {{EMAIL_2}}\n"
             . "reply to {{EMAIL_2}} or {{EMAIL_1}}\n",
         'mask: the same value, the same pseudonym, across the inputs of a run');
my $map = eval { $J->decode($err) } || {};
ok t_cmp($map->{'{{EMAIL_1}}'} . ' ' . $map->{'{{PESEL_TAGGED_1}}'},
         'jan@example.com 44051401359', 'mask: the map on stderr');

($rc, $out, $err) = llmctl(undef, 'mask', '--mode', 'pseudonym', '--map',
                           "$dir/map.json", $in2);
$map = eval { $J->decode(read_file("$dir/map.json")) } || {};
ok t_cmp($rc == 0 && $err eq '' && $map->{'{{EMAIL_1}}'}, 'ola@example.org',
         'mask --map: the map in the file, a new numbering per run');

my $body = '{"model":"jan@example.com","messages":[{"role":"user",'
         . '"content":"PESEL 44051401359, mail jan@example.com"}]}';
($rc, $out, $err) = llmctl($body, 'mask', '--json');
my $masked = eval { $J->decode($out) } || {};
ok t_cmp($rc, 0, 'mask --json: exit 0');
ok t_cmp($masked->{messages}[0]{content},
         'PESEL {{PESEL_TAGGED}}, mail {{EMAIL}}', 'mask --json: the texts');
ok t_cmp($masked->{model}, 'jan@example.com',
         'mask --json: the structure (model) is kept');

my $rules = write_file("$dir/rules.json",
    '[{"name": "TICKET", "pattern": "TCK-[0-9]{6}", "token": "{{TICKET}}"},'
  . ' {"name": "EMAIL", "enabled": false}]');
($rc, $out, $err) = llmctl("TCK-123456 for jan\@example.com\n", 'mask',
                           '--rules', $rules);
ok t_cmp($out, "{{TICKET}} for jan\@example.com\n",
         'mask --rules: a rule added, a default rule switched off');

($rc, $out, $err) = llmctl(undef, 'mask', '--json', $in1);
ok t_cmp("$rc " . length($out), '1 0', 'mask --json: not JSON, exit 1, no output');
($rc, $out, $err) = llmctl(undef, 'mask', $in1, "$dir/missing.txt");
ok t_cmp("$rc " . length($out), '2 0',
         'mask: an unreadable input, exit 2, nothing printed for the others');
ok t_cmp($err, qr/missing\.txt: cannot read/, 'mask: says which');
($rc, $out, $err) = llmctl(undef, 'mask', '--rules',
                           write_file("$dir/bad-rules.json", '[{"name": "X", "pattern": "("}]'),
                           $in1);
ok t_cmp("$rc " . length($out), '2 0', 'mask: a broken rules file, exit 2');
ok t_cmp($err, qr/pattern error/, 'mask: says why');
($rc, $out, $err) = llmctl(undef, 'mask', '--mode', 'fancy');
ok t_cmp($rc, 2, 'mask: a bad --mode, exit 2');
($rc, $out, $err) = llmctl(undef, 'mask', '--help');
ok t_cmp($rc == 0 && $out =~ /^usage: llmctl mask/, 1, 'mask --help');

# ------------------------------------------------------------------
# config discover

(my $openai = mock_url('/models=disc-a,disc-b')) =~ s{/$}{};
(my $ollama = mock_url('/models=disc-b,llama3')) =~ s{/$}{};
my $dead = 'http://127.0.0.1:' . free_port();

($rc, $out, $err) = llmctl(undef, 'config', 'discover', '-o',
                           "$dir/discovered.json", "openai=$openai",
                           "ollama=$ollama");
ok t_cmp($rc, 0, 'config discover: exit 0');
ok t_cmp($err, qr/\Q$openai\E: 2 model\(s\)/, 'config discover: OpenAI answered');
ok t_cmp($err, qr/\Q$ollama\E: 2 model\(s\)/, 'config discover: Ollama answered');
my $disc = eval { $J->decode(read_file("$dir/discovered.json")) } || {};
ok t_cmp(join(',', sort keys %{ $disc->{openai_models} || {} }),
         'disc-a,disc-b', 'config discover: the OpenAI server\'s models');
ok t_cmp(join(',', sort keys %{ $disc->{ollama_models} || {} }),
         'disc-b:latest,llama3:latest', 'config discover: the Ollama server\'s');
my $pr = $disc->{openai_models}{'disc-a'}{providers}[0] || {};
ok t_cmp("$pr->{api_type} $pr->{api_host} $pr->{model_path}",
         "openai $openai disc-a", 'config discover: a provider');
ok t_cmp($pr->{input_size}, 4096, 'config discover: the context length said');
ok t_cmp(join(',', @{ $disc->{active_models}{openai_models} || [] }),
         'disc-a,disc-b', 'config discover: every model active');
($rc, $out, $err) = llmctl(undef, 'config', 'check', "$dir/discovered.json");
ok t_cmp($rc, 0, 'config discover: config check accepts the file');

# Untyped: Ollama's own list is asked first (the mock answers it).
($rc, $out, $err) = llmctl(undef, 'config', 'discover', $ollama, $dead);
ok t_cmp($rc, 0, 'config discover: one server dead, another answered: exit 0');
ok t_cmp($err, qr/\Q$dead\E: .*(refused|connect)/i,
         'config discover: the dead server named on stderr');
$disc = eval { $J->decode($out) } || {};
ok t_cmp(join(',', sort keys %{ $disc->{ollama_models} || {} }),
         'disc-b:latest,llama3:latest', 'config discover: the type found');

($rc, $out, $err) = llmctl(undef, 'config', 'discover', '--timeout', '2', $dead);
ok t_cmp("$rc " . length($out), '1 0',
         'config discover: no server answered, exit 1, nothing written');
($rc, $out, $err) = llmctl(undef, 'config', 'discover', '--timeout', '1',
                           "openai=" . mock_url('/hang=1/hang_ms=5000'));
ok t_cmp($rc, 1, 'config discover: a server that hangs times out');
ok t_cmp($err, qr/[Tt]imeout/, 'config discover: says so');
($rc, $out, $err) = llmctl(undef, 'config', 'discover', "gemini=$openai");
ok t_cmp($rc, 1, 'config discover: an unknown type');
($rc, $out, $err) = llmctl(undef, 'config', 'discover', 'file:///etc/passwd');
ok t_cmp("$rc " . length($out), '1 0', 'config discover: not an http(s) URL');
ok t_cmp($err, qr/not \[TYPE=\]URL/, 'config discover: says so');
($rc, $out, $err) = llmctl(undef, 'config', 'discover');
ok t_cmp($rc, 2, 'config discover: no URL, exit 2');

# ------------------------------------------------------------------
# config merge

my $b = write_file("$dir/b.json", <<'EOF');
{
  "team": {
    "chat": {
      "balance": "first_available",
      "providers": [
        {"id": "c-1", "api_host": "http://user:secret-pw@127.0.0.1:9/v", "api_type": "openai", "api_token": "sk-SECRET-TOKEN"},
        {"id": "c-2", "api_host": "http://127.0.0.1:9", "api_type": "ollama", "weight": 0.5}
      ],
      "providers_sleep": [
        {"id": "c-sleep", "api_host": "http://127.0.0.1:9/s", "api_type": "vllm"}
      ]
    }
  },
  "extra": {
    "new-model": {"providers": [{"id": "n-1", "api_host": "http://127.0.0.1:9/n", "api_type": "openai"}]}
  },
  "active_models": {"team": ["chat"], "extra": ["new-model"]}
}
EOF
($rc, $out, $err) = llmctl(undef, 'config', 'merge', '-o', "$dir/merged.json",
                           $good, $b, "$dir/discovered.json");
ok t_cmp($rc, 0, 'config merge: no conflict, exit 0') or diag $err;
($rc, $out, $err) = llmctl(undef, 'models', '--json', "$dir/merged.json");
$list = eval { $J->decode($out) } || {};
ok t_cmp(join(',', sort map { $_->{name} } @{ $list->{models} || [] }),
         'chat,disc-a,disc-b,disc-b:latest,llama3:latest,new-model,other/model:7b',
         'config merge: every file\'s models, a model in two files once');
($chat) = grep { $_->{name} eq 'chat' } @{ $list->{models} || [] };
ok t_cmp($chat->{balance}, 'first_available',
         'config merge: a later file\'s other fields win');
ok t_cmp(read_file("$dir/merged.json"), qr/sk-SECRET-TOKEN/,
         'config merge: the output keeps the api_token (it is a models file)');

# The same model, with the same providers, in another group.
(my $moved = read_file($b)) =~ s/"team"/"elsewhere"/g;
write_file("$dir/moved.json", $moved);
($rc, $out, $err) = llmctl(undef, 'config', 'merge', '-o', "$dir/merged2.json",
                           $good, "$dir/moved.json");
ok t_cmp($rc, 0, 'config merge: the same model in another group, exit 0')
    or diag $err;
my $m2 = eval { $J->decode(read_file("$dir/merged2.json")) } || {};
ok t_cmp(join(' ', sort keys %{ $m2->{active_models} || {} }) . ' '
         . join(',', @{ $m2->{active_models}{team} || [] }),
         'extra team chat,other/model:7b',
         'config merge: it stays in the first file\'s group, active there');
ok t_cmp((stat "$dir/merged2.json")[2] & 0777, 0600,
         'config merge: -o is readable by its owner only');

my $c1 = write_file("$dir/conflict-model.json",
    '{"g2": {"chat": {"providers": [{"id": "z-1", "api_host": "http://h", "api_type": "openai"}]}},'
  . ' "active_models": {"g2": ["chat"]}}');
($rc, $out, $err) = llmctl(undef, 'config', 'merge', '-o', "$dir/never.json",
                           $good, $c1);
ok t_cmp($rc, 1, 'config merge: a model with other providers, exit 1');
ok t_cmp($err, qr/model "chat" has other providers at \Q$c1\E: \$\.g2\.chat than at \Q$good\E: \$\.team\.chat/,
         'config merge: both paths named');
ok t_cmp(-e "$dir/never.json" ? 1 : 0, 0, 'config merge: nothing written');

my $c2 = write_file("$dir/conflict-id.json",
    '{"g3": {"m3": {"providers": [{"id": "c-2", "api_host": "http://elsewhere", "api_type": "openai"}]}},'
  . ' "active_models": {"g3": ["m3"]}}');
($rc, $out, $err) = llmctl(undef, 'config', 'merge', $good, $c2);
ok t_cmp("$rc " . length($out), '1 0', 'config merge: a duplicate provider id, exit 1');
ok t_cmp($err, qr/provider id "c-2" at \Q$good\E: \$\.team\.chat\.providers\[1\]\.id and at \Q$c2\E: \$\.g3\.m3\.providers\[0\]\.id/,
         'config merge: both paths of the id named');
ok t_cmp($err !~ /SECRET/, 1, 'config merge: no token in the messages');

($rc, $out, $err) = llmctl(undef, 'config', 'merge', $good, "$dir/broken-bad-JSON.json");
ok t_cmp($rc, 1, 'config merge: an invalid input, exit 1');
ok t_cmp($err, qr/broken-bad-JSON\.json: invalid JSON/, 'config merge: says which');
($rc, $out, $err) = llmctl(undef, 'config', 'merge', $good, "$dir/missing.json");
ok t_cmp($rc, 2, 'config merge: an unreadable input, exit 2');
($rc, $out, $err) = llmctl(undef, 'config', 'frobnicate');
ok t_cmp($rc, 2, 'config: an unknown command, exit 2');
