# TAP for the shell tests of t/install/ (sourced): ok, skip_all, and a
# free port on loopback. The caller ends with: exit $((failed > 0))
n=0 failed=0
ok() {   # ok <status> <name>: one test line; returns <status>
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
    return "$1"
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
free_port() { perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport'; }
# Lines of standard input as TAP comments on stderr (prove shows them).
diag() { sed 's/^/# /' >&2; }
