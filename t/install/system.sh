#!/usr/bin/env bash
# make install into the system apache2, the way an admin would use it
# (issue 16): install Debian's apache2 if it is missing (not started:
# policy-rc.d), make install, a2enmod llm_router llm_mask llm_audit
# (their LoadModule dependencies follow from the .load files), the
# example site on a spare port with a models file, apache2ctl
# configtest, start the system httpd, a chat request and a streamed one
# through it to a demo upstream, llmctl on PATH, stop, a2dismod, make
# uninstall, nothing left behind. Root only; changes the system's
# apache2 configuration for its duration (ports.conf is put back).
# Prints TAP. scripts/run-tests runs it as root with LLM_TEST_INSTALL=1
# (.ci/run).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=t/install/tap.sh
. "$top/t/install/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
echo "1..12"

# Debian's apache2 (a2enmod, apache2ctl, /etc/apache2), never started by
# its package scripts here.
if ! command -v a2enmod >/dev/null; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2 >/dev/null 2>&1
    rm -f /usr/sbin/policy-rc.d
fi
command -v a2enmod >/dev/null; ok $? "Debian's apache2 is there"

work=$(mktemp -d /tmp/mod_llm-install.XXXXXX)
port=$(free_port) upstream=$(free_port)
httpd=/usr/sbin/apache2
cleanup() {
    apache2ctl stop >/dev/null 2>&1
    "$httpd" -d "$work/up" -f "$work/up/httpd.conf" -k stop >/dev/null 2>&1
    [ -f "$work/ports.conf" ] && cp "$work/ports.conf" /etc/apache2/ports.conf
    a2dissite -q llm-gateway >/dev/null 2>&1
    a2disconf -q llm-gateway-test >/dev/null 2>&1
    rm -f /etc/apache2/conf-available/llm-gateway-test.conf
    a2dismod -q -f llm_metrics llm_access llm_audit llm_mask llm_router llm_balance >/dev/null 2>&1
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT

# A demo upstream: httpd with the test mock, from the build, not installed.
mkdir -p "$work/up"
cat > "$work/up/httpd.conf" <<CONF
ServerRoot $work/up
PidFile $work/up/httpd.pid
ErrorLog $work/up/error_log
ServerName localhost
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule llm_mock_module $top/build/mod_llm_mock.so
Listen 127.0.0.1:$upstream
<Location />
    SetHandler llm-mock
</Location>
CONF
"$httpd" -d "$work/up" -f "$work/up/httpd.conf" -k start
cat > "$work/models.json" <<JSON
{"local":{"installed-chat":{"providers":[
  {"id":"up","api_host":"http://127.0.0.1:$upstream","api_type":"vllm"}]}},
 "active_models":{"local":["installed-chat"]}}
JSON
chmod 644 "$work/models.json"; chmod 755 "$work"

make -s -C "$top" install >"$work/install.log" 2>&1; ok $? "make install"
[ -f /usr/lib/apache2/modules/mod_llm_router.so ] && [ ! -e /usr/lib/apache2/modules/mod_llm_mock.so ]
ok $? "the modules in the system's module directory, not the test mock"

a2enmod -q llm_router llm_mask llm_audit llm_access llm_metrics >"$work/a2enmod.log" 2>&1 \
    && [ -L /etc/apache2/mods-enabled/proxy_http.load ] \
    && [ -L /etc/apache2/mods-enabled/llm_balance.load ] \
    && [ -L /etc/apache2/mods-enabled/slotmem_shm.load ]
ok $? "a2enmod llm_router enables proxy, proxy_http, slotmem_shm and llm_balance"

cp /etc/apache2/ports.conf "$work/ports.conf"
echo "# mod_llm's install test: no other port" > /etc/apache2/ports.conf
printf 'Define LLM_PORT %s\nDefine LLM_MODELS %s\n' "$port" "$work/models.json" \
    > /etc/apache2/conf-available/llm-gateway-test.conf
a2enconf -q llm-gateway-test >/dev/null && a2ensite -q llm-gateway >/dev/null
out=$(apache2ctl configtest 2>&1); echo "$out" | grep -q "Syntax OK"
ok $? "apache2ctl configtest: $out"

apache2ctl start >"$work/start.log" 2>&1
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$port/ping" && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/ping" >/dev/null; ok $? "the system httpd answers on :$port"

body=$(curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"installed-chat","messages":[{"role":"user","content":"Hello"}]}')
echo "$body" | grep -q '"chat.completion"'; ok $? "a chat answer through it"
stream=$(curl -sN "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"installed-chat","stream":true,"messages":[{"role":"user","content":"Hello"}]}')
echo "$stream" | grep -q 'data: \[DONE\]'; ok $? "a streamed answer through it"
curl -s "http://127.0.0.1:$port/v1/models" | grep -q installed-chat; ok $? "its models file's models"

llmctl audit --help >/dev/null 2>&1; ok $? "llmctl on PATH"

apache2ctl stop >/dev/null 2>&1; sleep 1
a2dissite -q llm-gateway >/dev/null; a2disconf -q llm-gateway-test >/dev/null
a2dismod -q -f llm_metrics llm_access llm_audit llm_mask llm_router llm_balance >/dev/null 2>&1
cp "$work/ports.conf" /etc/apache2/ports.conf
make -s -C "$top" uninstall >/dev/null 2>&1; ok $? "make uninstall"
left=$(ls /usr/lib/apache2/modules/mod_llm_* /etc/apache2/mods-available/llm_* \
    /etc/apache2/sites-available/llm-gateway.conf /usr/bin/llmctl /usr/share/mod_llm 2>/dev/null)
[ -z "$left" ]; ok $? "nothing left: ${left:-}"
[ $failed -eq 0 ]
