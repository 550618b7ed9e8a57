#!/usr/bin/env bash
# The container image (issue 16), built and run by a real engine:
# Debian's buildah builds docker/Dockerfile (gateway and mock stages) on
# a debian:bookworm base made here by mmdebstrap from Debian's archive
# (no registry is reachable), and podman runs it: the gateway answers a
# chat and a stream from the mock stage's upstream, the original router's
# variable names and a mounted conf.d file take effect, httpd is PID 1 as
# www-data with its logs on stdout/stderr, the health check passes,
# "podman stop" (SIGWINCH) lets a stream in flight finish, and two
# gateway containers sharing a Redis take the providers in turn as
# docker/compose.yaml sets them up. Root only; its own container storage
# in a scratch directory, removed at the end. Prints TAP.
# scripts/run-tests runs it as root with LLM_TEST_INSTALL=1 (.ci/run).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=t/install/tap.sh
. "$top/t/install/tap.sh"
ccurl() { env -u LD_PRELOAD curl -sS --max-time 30 "$@"; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
for tool in buildah podman runc mmdebstrap redis-server; do
    command -v $tool >/dev/null || skip_all "$tool is not installed (scripts/install-deps installs it when LLM_TEST_INSTALL=1)"
done

work=$(mktemp -d /tmp/mod_llm-container.XXXXXX)
# Container storage of its own: overlay where the kernel lets us mount
# it (a build in a minute), else vfs (every layer a full copy: slower).
store=(--root "$work/storage" --runroot "$work/runroot" --storage-driver overlay)
mkdir -p "$work/o/l" "$work/o/u" "$work/o/w" "$work/o/m"
if mount -t overlay overlay -o "lowerdir=$work/o/l,upperdir=$work/o/u,workdir=$work/o/w" "$work/o/m" 2>/dev/null; then
    umount "$work/o/m"
else
    store=(--root "$work/storage" --runroot "$work/runroot" --storage-driver vfs)
fi
echo "# container storage: ${store[-1]}"
# This machine's containers: runc (crun refuses its hybrid cgroup
# layout), the host's network (no bridge), limits no higher than the
# host's hard ones (podman's defaults are above them, and root here
# cannot raise them: no CAP_SYS_RESOURCE).
run_opts=(--runtime runc --network host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
pod() { podman "${store[@]}" "$@"; }
# podman says on stderr that it has no systemd for its health-check
# timers (the test runs the check itself): into a log, not the TAP.
podq() { podman "${store[@]}" "$@" 2>>"$work/podman.log"; }
redis_pid=""
cleanup() {
    pod rm -f -t 0 --all >/dev/null 2>&1
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    buildah "${store[@]}" rm --all >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

echo "1..22"

# The base image the Dockerfile names, from Debian's archive (the
# mirror this machine's apt uses).
mirror=$(awk '/^URIs:/ {print $2; exit} /^deb / {print $2; exit}' \
             /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null)
mmdebstrap --quiet --variant=minbase --mode=root bookworm "$work/base.tar" \
    "${mirror:-http://deb.debian.org/debian}" >"$work/mmdebstrap.log" 2>&1 \
    && pod import "$work/base.tar" docker.io/library/debian:bookworm-slim >/dev/null 2>&1
ok $? "debian:bookworm-slim made by mmdebstrap and imported" || tail -5 "$work/mmdebstrap.log" | diag

build() {   # build <target> <tag>
    buildah "${store[@]}" bud --isolation chroot --pull=never --layers \
        --format docker --target "$1" -f "$top/docker/Dockerfile" -t "$2" "$top" \
        >>"$work/build.log" 2>&1
}
build gateway localhost/mod_llm:test
ok $? "buildah builds docker/Dockerfile (the gateway)" || tail -20 "$work/build.log" | diag
build mock localhost/mod_llm-mock:test
ok $? "buildah builds its mock stage"

# The image: no compiler, no test mock, our modules, an unprivileged
# user, a health check, a graceful stop signal.
inspect=$(pod image inspect localhost/mod_llm:test --format \
    '{{.Config.User}} {{.Config.StopSignal}} {{index .HealthCheck.Test 0}}' 2>&1)
[ "$inspect" = "www-data SIGWINCH CMD" ]
ok $? "runs as www-data, stops on SIGWINCH, has a HEALTHCHECK ($inspect)"
contents=$(pod run --rm "${run_opts[@]}" --entrypoint sh localhost/mod_llm:test -c \
    'command -v gcc cc make apxs; ls /usr/lib/apache2/modules | grep -c "^mod_llm_"; ls /usr/lib/apache2/modules/mod_llm_mock.so 2>/dev/null; command -v llmctl' 2>>"$work/podman.log")
[ "$contents" = "$(printf '6\n/usr/bin/llmctl')" ]
ok $? "no compiler or test mock in the image; six modules and llmctl" || echo "$contents" | diag

# The mock upstream and the gateway, on spare ports of the host.
mock_port=$(free_port) gw_port=$(free_port)
podq run -d --name mock "${run_opts[@]}" -e LLM_MOCK_PORT="$mock_port" \
    localhost/mod_llm-mock:test >/dev/null
cat > "$work/models.json" <<JSON
{"local":{
   "container-chat":{"providers":[
     {"id":"mock","api_host":"http://127.0.0.1:$mock_port","api_type":"vllm"}]},
   "container-slow":{"providers":[
     {"id":"slow","api_host":"http://127.0.0.1:$mock_port/chunks=8/delay=250","api_type":"vllm"}]}},
 "active_models":{"local":["container-chat","container-slow"]}}
JSON
mkdir -p "$work/conf.d"
printf 'LLMRouterMaxBody 2000\n' > "$work/conf.d/limits.conf"
chmod -R a+rX "$work"
# The original's names for the port and the prefix; a models file whose
# path has a space.
podq run -d --name gw "${run_opts[@]}" -e LLM_ROUTER_SERVER_PORT="$gw_port" \
    -e LLM_ROUTER_EP_PREFIX=/router \
    -e LLM_MODELS="/srv/my models/models.json" \
    -v "$work/models.json:/srv/my models/models.json:ro" \
    -v "$work/conf.d:/etc/mod_llm/conf.d:ro" \
    localhost/mod_llm:test >/dev/null
up=1
for _ in $(seq 1 100); do
    ccurl -f "http://127.0.0.1:$gw_port/ping" >/dev/null 2>&1 && { up=0; break; }
    sleep 0.1
done
ok $up "the gateway container answers /ping (a models file at a path with a space)" || pod logs gw 2>&1 | tail -10 | diag

pod healthcheck run gw >/dev/null 2>&1
ok $? "its HEALTHCHECK passes (on LLM_ROUTER_SERVER_PORT's port)"

chat='{"model":"container-chat","messages":[{"role":"user","content":"hi"}]}'
answer=$(ccurl "http://127.0.0.1:$gw_port/v1/chat/completions" -H 'content-type: application/json' -d "$chat")
echo "$answer" | grep -q '"content":"Hello from the mock upstream."'
ok $? "a chat request through the container to the mock stage" || echo "$answer" | diag

stream=$(ccurl -N "http://127.0.0.1:$gw_port/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"container-chat","stream":true,"messages":[{"role":"user","content":"hi"}]}')
echo "$stream" | grep -q '^data: \[DONE\]'
ok $? "a streamed answer, to its [DONE]"

ping=$(ccurl "http://127.0.0.1:$gw_port/router/ping")
[ "$ping" = '{"body":"pong","status":true}' ]
ok $? "LLM_ROUTER_EP_PREFIX (the original's name) sets LLMRouterPrefix"

big=$(printf '{"model":"container-chat","messages":[{"role":"user","content":"%04000d"}]}' 0)
status=$(ccurl -o /dev/null -w '%{http_code}' "http://127.0.0.1:$gw_port/v1/chat/completions" \
    -H 'content-type: application/json' -d "$big")
[ "$status" = 413 ]
ok $? "a mounted /etc/mod_llm/conf.d file is in force (LLMRouterMaxBody: $status)"

pid1=$(pod exec gw sh -c 'tr "\0" " " </proc/1/cmdline; echo; awk "/^Uid:/ {print \$2}" /proc/1/status')
echo "$pid1" | head -1 | grep -q '^apache2 -DFOREGROUND' && [ "$(echo "$pid1" | tail -1)" = 33 ]
ok $? "PID 1 is httpd in the foreground, as www-data (uid 33)" || echo "$pid1" | diag

logs=$(pod logs gw 2>&1)
echo "$logs" | grep -q 'resuming normal operations' \
    && echo "$logs" | grep -q '"POST /v1/chat/completions HTTP/1.1" 200 .*model=container-chat provider=mock'
ok $? "the error log and the access log on the container's output"

# docker stop: SIGWINCH, httpd's graceful stop; a stream in flight
# (8 pieces, 250 ms apart) ends whole.
ccurl -N "http://127.0.0.1:$gw_port/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"container-slow","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
    >"$work/slow.txt" 2>&1 &
slow=$!
sleep 0.6
podq stop -t 20 gw >/dev/null 2>&1
wait $slow
grep -q '^data: \[DONE\]' "$work/slow.txt"
ok $? "podman stop waits for a stream in flight, which ends with [DONE]"
# (podman wait: the exit status once the container is over, not a
# state read while it still ends)
code=$(pod wait gw 2>>"$work/podman.log")
[ "$code" = 0 ] && pod logs gw 2>&1 | grep -q 'caught SIGWINCH, shutting down gracefully'
ok $? "httpd stopped gracefully (SIGWINCH), exit status $code" \
    || { echo "exit status: $code"; pod logs gw 2>&1 | tail -8; } | diag

# Without a readable models file the container says so and stops.
out=$(pod run --rm "${run_opts[@]}" -e LLM_MODELS=/nowhere.json localhost/mod_llm:test 2>&1)
code=$?
[ $code = 2 ] && echo "$out" | grep -q 'cannot read the models file /nowhere.json'
ok $? "no models file: exit 2 and a clear message"

# docker/compose.yaml's setup: two gateway nodes on one Redis (a
# redis-server of this machine: no registry for the redis image), the
# compose models file with the mock's port, the compose environment.
redis_port=$(free_port)
# With a password holding what a URL must encode: the entrypoint maps
# LLM_ROUTER_REDIS_PASSWORD into LLMBalanceRedis's redis:// URL.
redis_pass='s3c@r/t:pw'
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --requirepass "$redis_pass" --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
compose_env=$(perl -ne 'print "$1=$2\n" if /^\s+(LLM_[A-Z_]+):\s*"?([^"\s]+)"?/ && $1 ne "LLM_PORT"' \
    "$top/docker/compose.yaml" | sort -u)
echo "$compose_env" | grep -q '^LLM_ROUTER_REDIS_HOST=redis$' && echo "$compose_env" | grep -q '^LLM_BALANCE=balanced$'
ok $? "compose.yaml sets the nodes' Redis and balance method"
sed "s|mock:8090|mock:$mock_port|g" "$top/docker/compose/models.json" > "$work/compose-models.json"
chmod 644 "$work/compose-models.json"
ports=()
for node in a b; do
    p=$(free_port); ports+=("$p")
    env_args=()
    while IFS= read -r kv; do
        case $kv in LLM_ROUTER_REDIS_PORT=*) kv="LLM_ROUTER_REDIS_PORT=$redis_port";; esac
        env_args+=(-e "$kv")
    done <<<"$compose_env"
    podq run -d --name "gateway-$node" "${run_opts[@]}" \
        --add-host redis:127.0.0.1 --add-host mock:127.0.0.1 \
        -e LLM_PORT="$p" -e LLM_ROUTER_REDIS_PASSWORD="$redis_pass" "${env_args[@]}" \
        -v "$work/compose-models.json:/etc/mod_llm/models.json:ro" \
        localhost/mod_llm:test >/dev/null
done
ready=0
for p in "${ports[@]}"; do
    for _ in $(seq 1 100); do
        ccurl -f "http://127.0.0.1:$p/ping" >/dev/null 2>&1 && { ready=$((ready + 1)); break; }
        sleep 0.1
    done
done
[ $ready = 2 ]
ok $? "two gateway nodes up with compose.yaml's environment"
said=""
for p in "${ports[0]}" "${ports[1]}" "${ports[0]}" "${ports[1]}" "${ports[0]}" "${ports[1]}"; do
    a=$(ccurl "http://127.0.0.1:$p/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"model":"compose-chat","messages":[{"role":"user","content":"hi"}]}' \
        | perl -ne 'print $1 if /"content":"(\w+)"/')
    said="$said $a"
done
counts=$(echo $said | tr ' ' '\n' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ')
[ "$counts" = "2 2 2 " ]
ok $? "requests alternated between the nodes take the three providers in turn (Redis-shared counts):$said"
keys=$(env -u LD_PRELOAD redis-cli -p "$redis_port" -a "$redis_pass" --no-auth-warning \
    --scan --pattern 'llm:sel:*' 2>/dev/null)
[ "$keys" = "llm:sel:compose-chat" ] && ! pod logs gateway-a 2>&1 | grep -q -e 's3c@r' -e 's3c%40r'
ok $? "the nodes' choices are counted in Redis, with LLM_ROUTER_REDIS_PASSWORD ($keys), never logged"
podq stop -t 20 gateway-a gateway-b >/dev/null 2>&1
codes=$(pod wait gateway-a gateway-b 2>>"$work/podman.log" | tr '\n' ' ')
[ "$codes" = "0 0 " ]
ok $? "both nodes stopped gracefully" \
    || { echo "exit statuses: $codes"; pod logs gateway-a 2>&1 | tail -5; } | diag

docs=$(grep -c 'LLM_ROUTER_EP_PREFIX\|LLM_ROUTER_REDIS_HOST' "$top/docs/install.md")
[ "$docs" -ge 2 ]
ok $? "docs/install.md lists the variables"

exit $((failed > 0))
