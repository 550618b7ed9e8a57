# mod_llm_audit at its edges: another handler in an audited router
# Location (SetHandler) is not held; prefork children stopping with a
# batch keep every record; the router's own answers (GET /v1/models) are
# refused as 503 when their record cannot be written (LLMAuditOnFailure
# closed).
use strict;
use warnings FATAL => 'all';

use Apache::Test;
use Apache::TestUtil qw(t_mkdir);
use File::Path qw(rmtree);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time);
use lib 't/lib';
use LLMTest;

plan tests => 5, need_module 'llm_router', 'llm_audit', 'proxy_http';

my $J = JSON::PP->new->utf8->canonical;
my $root = Apache::Test::vars('serverroot');
my $dir = "$root/logs/audit-review";
rmtree($dir);
t_mkdir($dir);
my $models = "$root/models/main.json";
my $mods = '/usr/lib/apache2/modules';

sub gateway {
    my ($name, $o, @extra) = @_;
    my $trail = "$dir/$name/trail";
    mkdir "$dir/$name";
    my $port = start_httpd("$dir/$name/httpd", $o,
        'LogLevel warn llm_audit:info', 'LLMRouter On',
        "LLMRouterModels $models", 'LLMAudit On', "LLMAuditDir $trail",
        'LLMAuditEncrypt Off', @extra);
    return ($port, $trail);
}

# GET with a 6 s timeout: (seconds taken, response).
sub timed_get {
    my ($port, $path) = @_;
    my $t0 = time;
    my $res = HTTP::Tiny->new(timeout => 6)->get("http://127.0.0.1:$port$path");
    return (time - $t0, $res);
}

# 1. A handler other than the router's in an audited router location
#    (SetHandler): llm_request_done never runs, the hold keeps the EOS.
{
    my ($port) = gateway('sethandler', {},
        "LoadModule status_module $mods/mod_status.so",
        '<Location /v1/status>', 'SetHandler server-status', '</Location>',
        '<Location /v1/status-noaudit>', 'SetHandler server-status',
        'LLMAudit Off', '</Location>');
    my ($took, $res) = timed_get($port, '/v1/status?auto');
    ok $took < 5 && $res->{status} == 200
        or diag sprintf("took %.1fs, status %s: %s", $took, $res->{status},
                substr($res->{content} // '', 0, 300)),
            `tail -3 $dir/sethandler/httpd/error_log`;
    # The same without audit there: served.
    my ($took2, $res2) = timed_get($port, '/v1/status-noaudit?auto');
    ok $res2->{status} == 200 or diag $res2->{status};
}

# 2. LLMAuditSync batch under prefork: a stop (SIGTERM to each child,
#    prefork's just_die runs the child pool's cleanups in the signal
#    handler) must still write every record gathered.
{
    my $gnupg = "$dir/gnupg";
    local $ENV{GNUPGHOME};
    gpg_keypair($gnupg, 'review@test', "$dir/auditor.asc");
    my $name = 'prefork-batch';
    mkdir "$dir/$name";
    my $trail = "$dir/$name/trail";
    my $port = start_httpd("$dir/$name/httpd", { mpm => 'prefork' },
        'LogLevel warn llm_audit:debug', 'LLMRouter On',
        "LLMRouterModels $models", 'LLMAudit On', "LLMAuditDir $trail",
        "LLMAuditRecipient $dir/auditor.asc", 'LLMAuditSync batch 1000 1h',
        'StartServers 2', 'MinSpareServers 2', 'MaxSpareServers 4');
    my $http = HTTP::Tiny->new(timeout => 30);
    my $served = 0;
    for my $i (1 .. 12) {
        my $res = $http->post("http://127.0.0.1:$port/v1/chat/completions",
            { headers => { 'Content-Type' => 'application/json' },
              content => $J->encode({ model => 'mock-chat',
                  messages => [{ role => 'user', content => "r$i" }] }) });
        $served++ if $res->{status} == 200;
    }
    stop_httpd("$dir/$name/httpd");
    wait_stopped("$dir/$name/httpd");
    my $llmctl = llmctl_path();
    my $v = `$llmctl audit verify $trail 2>&1`;
    my ($n) = $v =~ /intact: (\d+) records/;
    ok defined $n && $n == $served
        or diag "served $served, trail: $v",
            `grep -E 'LLM040|AH00|SIGKILL|still did not' $dir/$name/httpd/error_log | tail -8`;
}

# 3. LLMAuditOnFailure closed and an answer the router writes itself
#    (llm_router_send_json: ap_rwrite, buffered by OLD_WRITE until the
#    EOS that ap_finalize_request_protocol sends after the handler):
#    nothing is held when llm_request_done runs, so
#    llm_audit_hold_refuse() just releases, and the answer ends as a
#    success although its record was NOT written.
{
    my $name = 'closed-own-answer';
    mkdir "$dir/$name";
    my $trail = "$dir/$name/trail";
    mkdir $trail, 0700;
    my ($port) = gateway($name, {});
    chmod 0500, $trail or die $!;
    my $http = HTTP::Tiny->new(timeout => 10);
    my $chat = $http->post("http://127.0.0.1:$port/v1/chat/completions",
        { headers => { 'Content-Type' => 'application/json' },
          content => $J->encode({ model => 'mock-chat',
              messages => [{ role => 'user', content => 'Hi' }] }) });
    ok $chat->{status} == 503 or diag "chat: $chat->{status}";
    sleep 1;        # the next probe of the failing trail
    my $models = $http->get("http://127.0.0.1:$port/v1/models");
    my $log = do { local (@ARGV, $/) = "$dir/$name/httpd/error_log"; <> };
    my $lost = () = $log =~ /LLM04007/g;
    ok !($models->{status} == 200 && $lost >= 2)
        or diag "GET /v1/models: $models->{status} though its record was "
              . "not written ($lost records NOT written)";
    chmod 0700, $trail;
}
