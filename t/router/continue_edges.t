# The edges of continuing a cut stream, found in review: a continuation a
# provider cannot take, a continuation refused with a 4xx, a stream cut
# by LLMRouterTotalTimeout (none of them the provider's failure), and
# what a vLLM continuation request carries. A gateway of its own
# (start_httpd) with its own models file, so that circuits and timeouts
# are this file's alone.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use Apache::TestUtil qw(t_write_file t_mkdir);
use JSON::PP;
use LWP::UserAgent;
use Time::HiRes qw(sleep);
use lib 't/lib';
use LLMTest;

plan tests => 11, need_module 'llm_router', 'proxy_http';

my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/continue_edges";
t_mkdir($dir);
unlink "$root/logs/mock-ce-rec.json";
my $mock = mock_url('/');
$mock =~ s{/$}{};
my $six = 'content=one%20two%20three%20four%20five%20six';
sub up {
    my ($id, $knobs, %o) = @_;
    my $api = $o{api_type} // 'vllm';
    my $pf = $o{prefill} ? ',"prefill":true' : '';
    return qq({"id":"$id","api_host":"$mock/$knobs","api_type":"$api"$pf});
}
sub model {
    my ($name, $primary, $sleep) = @_;
    return '"' . $name . '":{"providers":[' . $primary
        . ($sleep ? '],"providers_sleep":[' . $sleep : '') . ']}';
}

my @models = (
    model('ce-long', up('ce-long-1', 'chunks=10/delay=300')),
    model('ce-longpf', up('ce-longpf-1', 'chunks=10/delay=300', prefill => 1)),
    model('ce-mixed', up('ce-mixed-v', "chunks=6/drop_after=2/$six",
                         prefill => 1),
          up('ce-mixed-a', $six, api_type => 'anthropic', prefill => 1)),
    model('ce-c4', up('ce-c4-a', "chunks=6/drop_after=2/$six", prefill => 1),
          up('ce-c4-b', 'status=400', prefill => 1)),
    model('ce-rec', up('ce-rec-a', "chunks=6/drop_after=2/$six", prefill => 1),
          up('ce-rec-b', "record=ce-rec/$six", prefill => 1)),
);
t_write_file("$dir/models.json", '{"g":{' . join(',', @models)
    . '},"active_models":{"g":["ce-long","ce-longpf","ce-mixed","ce-c4",'
    . '"ce-rec"]}}');

my $port = start_httpd($dir, {},
    'LogLevel warn llm_router:info proxy:crit proxy_http:crit',
    'LogFormat "%h \"%r\" %>s %B attempts=%{llm-attempts}n tried=%{llm-tried}n" llm',
    "CustomLog $dir/access_log llm",
    'LLMRouter On', "LLMRouterModels $dir/models.json",
    'LLMRouterTimeout 3',
    '<Location /total>', 'LLMRouterPrefix /total',
    'LLMRouterTotalTimeout 1', '</Location>',
    '<Location /status>', 'SetHandler llm-balance-status', '</Location>');
my $base = "http://127.0.0.1:$port";
my $ua = LWP::UserAgent->new(timeout => 30);
my $stream = JSON::PP::true;

sub chat {
    my ($path, $body) = @_;
    return $ua->post("$base$path", 'Content-Type' => 'application/json',
                     Content => encode_json($body));
}


sub events { grep { /^data: / } split /\n\n/, shift }

# A stream cut by LLMRouterTotalTimeout is the request's limit, not the
# provider's failure: three of them leave it in service, continuable or
# not.
for my $model ('ce-long', 'ce-longpf') {
    chat('/total/chat/completions', chat_body($model, stream => $stream))
        for 1 .. 3;
    my $st = provider_state("$base/status", "$model-1");
    ok(($st->{failures} // -1) == 0 && ($st->{state} // '') eq 'ok')
        or diag "$model: ", jdump($st);
}

# A continuation the other prefill provider cannot take (n: 2 has no
# Anthropic form): nothing of that refusal goes into the client's open
# stream; it ends with one error event, no end marker.
my $res = chat('/chat/completions',
               chat_body('ce-mixed', stream => $stream, n => 2));
my @ev = events($res->content);
ok $res->content !~ /^\{/m or diag "raw JSON in the stream: ", $res->content;
ok((grep { /"error"/ } @ev) == 1 && !grep { /\[DONE\]/ } @ev)
    or diag $res->content;
ok((provider_state("$base/status", 'ce-mixed-a')->{failures} // -1) == 0);

# A continuation refused with a 400 (its prompt is longer): one error
# event for the client, and three of them leave the provider in service.
for (1 .. 3) {
    $res = chat('/chat/completions', chat_body('ce-c4', stream => $stream));
}
@ev = events($res->content);
ok((grep { /"error"/ } @ev) == 1) or diag $res->content;
my $st = provider_state("$base/status", 'ce-c4-b');
ok(($st->{failures} // -1) == 0 && ($st->{state} // '') eq 'ok')
    or diag jdump($st);

# What a vLLM continuation carries: the delivered text as the final
# assistant message, continue_final_message and no generation prompt.
$res = chat('/chat/completions', chat_body('ce-rec', stream => $stream));
my $text = join '', map {
    my ($j) = /^data: (\{.*\})$/m;
    $j ? (decode_json($j)->{choices}[0]{delta}{content} // '') : ''
} events($res->content);
ok $text eq 'one two three four five six' or diag $res->content;
my $rec = "$root/logs/mock-ce-rec.json";
sleep 0.2 unless -e $rec;
my $got = -e $rec ? decode_json(do { local (@ARGV, $/) = $rec; <> }) : {};
my $sent = eval { decode_json($got->{body} // '') } // {};
my $last = ($sent->{messages} // [])->[-1] // {};
ok $last->{role} eq 'assistant' && length $last->{content}
    && 'one two three four five six' =~ /^\Q$last->{content}\E/
    or diag jdump($sent);
ok $sent->{continue_final_message} && defined $sent->{add_generation_prompt}
    && !$sent->{add_generation_prompt}
    or diag jdump($sent);
# (Not found on the status page: -1, a failure, not a pass.)
ok((provider_state("$base/status", 'ce-rec-a')->{inflight} // -1) == 0
   && (provider_state("$base/status", 'ce-rec-b')->{inflight} // -1) == 0);
