# A stream cut mid-answer is continued on a prefill-capable provider
# ("prefill": true): the text already delivered goes to it as a final
# assistant message, and its continuation is spliced into the same
# client stream, in the client's dialect. Golden at every cut position:
# what the client reads is the whole answer, once — no character lost or
# repeated, one start, one end, no error. Without a prefill provider, or
# for a tool call, the cut ends in one explicit error, as before.
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestRequest;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

my $content = 'one two three four five six';
my @cuts = (1 .. 5);
my @clients = ('openai', 'anthropic', 'ollama', 'responses');
my @models = ('cont-model', 'cont-anth');

# (A Responses client is continued on a provider spoken to in another
# dialect only: vLLM serves it its own Responses API, so cont-model's
# Responses cases are a cut ended by its error.)
plan tests => @models * @clients * @cuts * 3 + 6,
    need_module 'llm_router', 'proxy_http';

my $J = JSON::PP->new;
my $n = 0;

sub request {
    my ($client, $model, @h) = @_;
    my $msgs = [{ role => 'user', content => 'Count to six.' }];
    my $tag = 'cont-' . ++$n;
    my $res;
    if ($client eq 'openai') {
        $res = post_json("/v1/chat/completions?case=$tag",
            { model => $model, messages => $msgs, stream => JSON::PP::true },
            @h);
    }
    elsif ($client eq 'anthropic') {
        $res = post_json("/v1/messages?case=$tag",
            { model => $model, messages => $msgs, max_tokens => 64,
              stream => JSON::PP::true },
            'anthropic-version' => '2023-06-01', @h);
    }
    elsif ($client eq 'responses') {
        $res = post_json("/v1/responses?case=$tag",
            { model => $model, input => 'Count to six.',
              stream => JSON::PP::true }, @h);
    }
    else {
        $res = post_json("/api/chat?case=$tag",
            { model => $model, messages => $msgs }, @h);
    }
    my $line = access_line_matching(qr{\?case=\Q$tag\E HTTP/});
    return ($res, $line);
}

# The client's stream read in its dialect: (text, starts, ends, errors).
sub read_stream {
    my ($client, $body) = @_;
    my ($text, $starts, $ends, $errors) = ('', 0, 0, 0);
    if ($client eq 'ollama') {
        for my $l (split /\n/, $body) {
            my $o = eval { $J->decode($l) } or do { $errors++; next };
            $errors++ if exists $o->{error};
            $text .= $o->{message}{content} // '';
            $ends++ if $o->{done};
        }
        $starts = 1;
        return ($text, $starts, $ends, $errors);
    }
    for my $ev (split /\n\n/, $body) {
        my ($data) = $ev =~ /^data: (.*)$/m or next;
        if ($data eq '[DONE]') { $ends++; next }
        my $o = eval { $J->decode($data) } or do { $errors++; next };
        if ($client eq 'responses') {
            my $t = $o->{type} // '';
            $errors++ if $t eq 'error' || $t eq 'response.failed';
            $starts++ if $t eq 'response.created';
            $ends++ if $t eq 'response.completed';
            $text .= $o->{delta} // '' if $t eq 'response.output_text.delta';
        }
        elsif ($client eq 'openai') {
            $errors++ if exists $o->{error};
            my $d = $o->{choices}[0]{delta} // {};
            $starts++ if defined $d->{role};
            $text .= $d->{content} // '';
        }
        else {
            my $t = $o->{type} // '';
            $errors++ if $t eq 'error';
            $starts++ if $t eq 'message_start';
            $ends++ if $t eq 'message_stop';
            $text .= $o->{delta}{text} // ''
                if $t eq 'content_block_delta';
        }
    }
    return ($text, $starts, $ends, $errors);
}

# A provider that cuts a stream has failed (its circuit opens after
# three in a row); with three providers, balanced's rotation gives each
# a success between two cuts here, so none is taken out mid-test.
for my $model (@models) {
    for my $client (@clients) {
        for my $cut (@cuts) {
            my ($res, $line) = request($client, $model,
                'X-Mock-Content' => $content, 'X-Mock-Chunks' => 6,
                'X-Mock-Drop-After' => $cut);
            my ($text, $starts, $ends, $errors) =
                read_stream($client, $res->content);
            my $what = "$model, $client client, cut after $cut";
            if ($client eq 'responses' && $model eq 'cont-model') {
                # vLLM's own Responses API: not continued, one error.
                my ($t, $s, $e, $err) = read_stream($client, $res->content);
                ok $res->code == 200 && $err == 1 && !$e
                    or diag "$what: ", $res->content;
                ok $t ne $content;
                ok $line =~ /attempts=1 / or diag "$what: $line";
                next;
            }
            ok $res->code == 200 && $text eq $content
                or diag "$what: '$text' from ", $res->content;
            ok $starts == 1 && $ends == 1 && !$errors
                or diag "$what: $starts starts, $ends ends, $errors errors: ",
                        $res->content;
            ok $line =~ /tried=\S+:broken,\S+:200 / or diag "$what: $line";
        }
    }
}

# No prefill provider: the cut is the client's, as one error event, and
# no end marker.
my ($res, $line) = request('openai', 'cont-half', 'X-Mock-Content' => $content,
    'X-Mock-Chunks' => 6, 'X-Mock-Drop-After' => 2);
my ($text, $starts, $ends, $errors) = read_stream('openai', $res->content);
ok $errors == 1 && !$ends && $text ne $content or diag $res->content;
ok $line =~ /attempts=1 / or diag $line;

# A tool call cut mid-arguments is not continued: one error event.
($res, $line) = request('openai', 'cont-model', 'X-Mock-Tool' => 'get_weather',
    'X-Mock-Chunks' => 4, 'X-Mock-Drop-After' => 2);
($text, $starts, $ends, $errors) = read_stream('openai', $res->content);
ok $errors == 1 && !$ends or diag $res->content;
ok $line =~ /attempts=1 / or diag $line;

# A stream that stalls past LLMRouterIdleTimeout (1 s under /idle; its
# first token came in time, after 2.5 s) is continued the same way.
my $t0 = time;
my $tag = 'cont-stall';
$res = post_json("/idle/chat/completions?case=$tag",
    { model => 'cont-model', stream => JSON::PP::true,
      messages => [{ role => 'user', content => 'Count to six.' }] },
    'X-Mock-Content' => $content, 'X-Mock-Chunks' => 3,
    'X-Mock-Delay' => 2500);
my $took = time - $t0;
($text, $starts, $ends, $errors) = read_stream('openai', $res->content);
ok $text eq $content && $ends == 1 && !$errors && $took > 3.3 && $took < 5
    or diag "took $took: ", $res->content;
$line = access_line_matching(qr{\?case=\Q$tag\E HTTP/});
ok $line =~ /tried=\S+:broken,\S+:200 / or diag $line;
