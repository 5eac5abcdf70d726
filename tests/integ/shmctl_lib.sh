# shmctl_lib.sh: sourced by the shmctl(1) integration tests (test_shmctl*.sh;
# not a test itself). Gives C (the shmctl under test), T (a scratch
# directory), bg_pids (background pids to kill at exit: bg_add PID; once
# reaped, bg_done PID, so a reused pid is never killed), and:
#   fail MSG          print "FAIL: MSG" and exit 1
#   expect RC CMD...  run CMD, stdout in $T/out, stderr in $T/err; fail
#                     unless it exits RC
#   has/hasnt F RE    $T/F has (lacks) a line matching RE
#   wait_for CMD...   retry CMD every 50 ms, for 10 s at most
set -u
: "${B:?}" "${SHMSTATE_DIR:?}"
C=$B/shmctl
T=$(mktemp -d /tmp/test_shmctl.XXXXXX)
bg_pids=

cleanup() {
	for p in $bg_pids; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

bg_add() { bg_pids="$bg_pids $1"; }
bg_done() {
	_l=
	for p in $bg_pids; do [ "$p" = "$1" ] || _l="$_l $p"; done
	bg_pids=$_l
}
fail() { echo "FAIL: $*"; exit 1; }
expect() {
	want=$1; shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "--- stdout"; cat "$T/out"; echo "--- stderr"; cat "$T/err"
		fail "'$*' exited $rc, want $want"
	fi
}
has() { grep -q -- "$2" "$T/$1" || { cat "$T/$1"; fail "$1 lacks '$2'"; }; }
hasnt() { ! grep -q -- "$2" "$T/$1" || { cat "$T/$1"; fail "$1 has '$2'"; }; }
wait_for() {
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 200 ] && return 1
		sleep 0.05
	done
}
