# Translated streams survive upstream faults as passthrough ones do
# (issue 12): for each client dialect (OpenAI chat, Ollama, Anthropic)
# against each provider dialect that differs (vLLM, Ollama, Anthropic):
#   - one malformed event in the provider's stream (bad_event=2) is
#     skipped, logged (LLM01050) and counted (llm-skipped-events): the
#     client gets one whole, well-formed stream, its text intact;
#   - a stream that ends after its finish reason without its end marker
#     (no_done=1) is ended by the gateway (LLM01051) with the end marker
#     of the client's dialect and the usage; Ollama's finish is its end
#     (the done:true line), so without it the stream is a cut;
#   - a stream cut before its finish (drop_after=2) ends in exactly one
#     explicit error and no end marker.
# And the usage of a stream: asked of OpenAI-dialect providers whenever
# the client streams, never shown to a client that did not ask.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use JSON::PP;
use lib 't/lib';
use LLMTest;

my $J = JSON::PP->new->utf8;
my $text = 'one two three four';

my %client = (
    openai    => '/v1/chat/completions',
    ollama    => '/api/chat',
    anthropic => '/v1/messages',
);
my %provider = (vllm => 'mock-chat', ollama => 'ollama-chat',
                anthropic => 'claude-chat');
my %dialect_of = (vllm => 'openai', ollama => 'ollama',
                  anthropic => 'anthropic');
my @pairs;
for my $c (qw(openai ollama anthropic)) {
    for my $p (qw(vllm ollama anthropic)) {
        push @pairs, [$c, $p] if $dialect_of{$p} ne $c;
    }
}

plan tests => @pairs * 8 + 8, need_module 'llm_router', 'proxy_http';

sub body_for {
    my ($c, $model, %o) = @_;
    my $b = { model => $model,
              messages => [{ role => 'user', content => 'Hi' }] };
    if ($c eq 'openai') {
        $b->{stream} = JSON::PP::true;
        $b->{stream_options} = { include_usage => JSON::PP::true }
            unless $o{no_usage};
    }
    elsif ($c eq 'anthropic') {
        $b->{stream} = JSON::PP::true;
        $b->{max_tokens} = 64;
    }
    return $J->encode($b);
}

# The client's stream, read in its own dialect: its text, whether it
# ended with its end marker, how many errors it carried, its usage
# (completion tokens, or undef), and records that are not JSON.
sub parse_stream {
    my ($c, $data) = @_;
    my %s = (text => '', end => 0, errors => 0, bad => 0);
    my $json = sub { my $d = eval { $J->decode(shift) }; $s{bad}++ unless $d; $d };
    if ($c eq 'ollama') {
        my @lines = grep { length } split /\n/, $data;
        for my $i (0 .. $#lines) {
            my $d = $json->($lines[$i]) or next;
            $s{errors}++ if exists $d->{error};
            $s{text} .= $d->{message}{content} // '';
            if ($d->{done}) {
                $s{end} = $i == $#lines;
                $s{usage} = $d->{eval_count};
            }
        }
        return \%s;
    }
    my @ev;
    for my $block (split /\n\n/, $data) {
        my ($name) = $block =~ /^event: (.*)$/m;
        my ($d) = $block =~ /^data: (.*)$/m;
        push @ev, [$name, $d] if defined $d;
    }
    for my $i (0 .. $#ev) {
        my ($name, $raw) = @{ $ev[$i] };
        if ($c eq 'openai' && $raw eq '[DONE]') {
            $s{end} = $i == $#ev;
            next;
        }
        my $d = $json->($raw) or next;
        if ($c eq 'openai') {
            $s{errors}++ if $d->{error};
            $s{text} .= $d->{choices}[0]{delta}{content} // ''
                if $d->{choices} && @{ $d->{choices} };
            $s{usage} = $d->{usage}{completion_tokens}
                if ref $d->{usage} eq 'HASH';
            $s{usage_chunks}++ if ref $d->{usage} eq 'HASH'
                && !@{ $d->{choices} // [] };
        }
        else {
            $s{errors}++ if ($name // '') eq 'error';
            $s{text} .= $d->{delta}{text} // ''
                if ($name // '') eq 'content_block_delta';
            $s{usage} = $d->{usage}{output_tokens}
                if ($name // '') eq 'message_delta';
            $s{end} = $i == $#ev if ($name // '') eq 'message_stop';
        }
    }
    return \%s;
}

sub run_case {
    my ($c, $p, %hdr) = @_;
    my $got = stream_request($client{$c}, body_for($c, $provider{$p}),
                             'X-Mock-Content' => $text, 'X-Mock-Chunks' => 4,
                             %hdr);
    my $s = parse_stream($c, $got->{data});
    $s->{raw} = $got->{data};
    $s->{complete} = $got->{complete};
    $s->{head} = $got->{head};
    return $s;
}

# A cut is a failure of the provider: three in a row would take it out
# of service (LLMBalanceFailures); a whole answer after each keeps it in.
sub heal {
    my ($c, $p) = @_;
    my $s = run_case($c, $p);
    print "# $c client, $p provider: the answer after a cut was not whole\n"
        unless $s->{end};
}

sub show { my $s = shift; "text='$s->{text}' end=$s->{end} errors=$s->{errors} "
    . "bad=$s->{bad} usage=" . ($s->{usage} // '-') . "\n$s->{raw}" }

access_line($_) for values %provider;      # the lines so far

for my $pair (@pairs) {
    my ($c, $p) = @$pair;
    my $name = "$c client, $p provider";

    # One malformed event after the second piece: skipped, the rest whole.
    my $mark = error_log_mark();
    my $s = run_case($c, $p, 'X-Mock-Bad-Event' => 2);
    ok $s->{head} =~ m{^HTTP/1\.1 200} && $s->{text} eq $text && $s->{end}
        && !$s->{errors} && !$s->{bad} && $s->{raw} !~ /BROKEN/
        && $s->{complete}
        or diag "$name, bad event: " . show($s);
    my $log = error_log_since($mark);
    ok $log =~ /LLM01050: .*malformed event/ && $log !~ /LLM01041/
        or diag "$name, bad event: log: $log";
    my $line = access_line($provider{$p});
    ok $line =~ / skipped=1 / or diag "$name, bad event: access: $line";

    # The end marker missing after the finish reason.
    $mark = error_log_mark();
    $s = run_case($c, $p, 'X-Mock-No-Done' => 1);
    if ($p eq 'ollama') {
        # Ollama's finish is its done:true line: no line, no finish.
        ok !$s->{end} && $s->{errors} == 1 && !$s->{bad}
            or diag "$name, no done: " . show($s);
        heal($c, $p);
    }
    else {
        ok $s->{text} eq $text && $s->{end} && !$s->{errors} && !$s->{bad}
            && ($s->{usage} // 0) > 0 && $s->{complete}
            && error_log_since($mark) =~ /LLM01051: /
            or diag "$name, no done: " . show($s);
    }

    # Cut before the finish: one explicit error, no end marker.
    $s = run_case($c, $p, 'X-Mock-Drop-After' => 2);
    ok !$s->{end} && $s->{errors} == 1 && !$s->{bad}
        && length($s->{text}) < length($text)
        && index($text, $s->{text}) == 0
        or diag "$name, cut: " . show($s);
    # ... and the attempt failed (not "200"): health, metrics and the
    # access log see a cut stream.
    $line = access_line($provider{$p});
    ok $line =~ / tried=[^:\s]+:broken / or diag "$name, cut: access: $line";
    heal($c, $p);

    # Cut before the finish, the connection closed cleanly (Ollama
    # without its last line): the same.
    $s = run_case($c, 'ollama', 'X-Mock-No-Done' => 1) if $p eq 'ollama';
    $s = run_case($c, $p, 'X-Mock-Drop-After' => 2, 'X-Mock-Drop-Rst' => 0)
        if $p ne 'ollama';
    ok !$s->{end} && $s->{errors} == 1 && !$s->{bad}
        or diag "$name, cut with a FIN: " . show($s);
    $line = access_line($provider{$p});
    ok $line =~ / tried=[^:\s]+:broken / or diag "$name, cut with a FIN: access: $line";
    heal($c, $p);
}

# --- Usage: asked whenever the client streams, shown only when asked --------
# An OpenAI client of an OpenAI-dialect provider (passthrough) that did not
# ask: no usage chunk reaches it, yet the gateway has the usage.
my $rec = Apache::Test::vars('serverroot') . '/logs/mock-xf-usage.json';
unlink $rec;
my $got = stream_request('/v1/chat/completions',
                         body_for('openai', 'mock-chat', no_usage => 1),
                         'X-Mock-Content' => $text, 'X-Mock-Chunks' => 4,
                         'X-Mock-Record' => 'xf-usage');
my $s = parse_stream('openai', $got->{data});
ok $s->{text} eq $text && $s->{end} && !$s->{errors} && !$s->{usage_chunks}
    && $got->{data} !~ /"usage":\{/ or diag show($s) . $got->{data};
my $sent = eval { local (@ARGV, $/) = ($rec); $J->decode(<>) } // {};
my $sent_body = eval { $J->decode($sent->{body}) } // {};
ok $sent_body->{stream_options}{include_usage}
    or diag "the provider got: " . ($sent->{body} // '-');
ok access_line('mock-chat') =~ m{usage=\d+/4/\d+ }
    or diag access_line('mock-chat');

# The same client asking: the provider's usage chunk, once.
$got = stream_request('/v1/chat/completions', body_for('openai', 'mock-chat'),
                      'X-Mock-Content' => $text, 'X-Mock-Chunks' => 4);
$s = parse_stream('openai', $got->{data});
ok $s->{end} && ($s->{usage_chunks} // 0) == 1 && $s->{usage} == 4
    or diag show($s);

# A translated stream whose client did not ask (an OpenAI client of an
# Anthropic provider): no usage chunk either, the usage logged.
$got = stream_request('/v1/chat/completions',
                      body_for('openai', 'claude-chat', no_usage => 1),
                      'X-Mock-Content' => $text, 'X-Mock-Chunks' => 4);
$s = parse_stream('openai', $got->{data});
ok $s->{end} && !$s->{usage_chunks} && $s->{text} eq $text or diag show($s);

# Passthrough, the provider ends after its finish without [DONE]: the
# gateway ends the client's stream as it does a translated one.
$got = stream_request('/v1/chat/completions', body_for('openai', 'mock-chat'),
                      'X-Mock-Content' => $text, 'X-Mock-Chunks' => 4,
                      'X-Mock-No-Done' => 1);
$s = parse_stream('openai', $got->{data});
ok $s->{end} && $s->{text} eq $text && !$s->{errors} && $s->{usage}
    or diag show($s);

# --- Built-ins carry the answer's length: NUL does not cut it (issue 11) ----
# The mock sends "@@" of its text as \u0000: a vLLM provider (its answer
# read as it is) and an Ollama one (translated).
for my $model ('mock-chat', 'ollama-chat') {
    my $res = post_json('/api/conversation_with_model',
                        { model_name => $model, user_last_statement => 'Hi',
                          language => 'en' },
                        'X-Mock-Content' => 'before@@after', 'X-Mock-Nul' => '@@');
    my $d = json_of($res);
    ok $res->code == 200 && $d && $d->{response} eq "before\0after"
        && $res->content =~ /"before\\u0000after"/
        or diag "$model: " . $res->code . ' ' . $res->content;
}
