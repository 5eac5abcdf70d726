# helper_kv.sh: shell functions for the checkpoint tests (test_ckpt_*.sh).
# Sourced, never run. Expects $SHMSTATE_DIR (set by scripts/run-tests.sh).

: "${SHMSTATE_DIR:?run through scripts/run-tests.sh, or set SHMSTATE_DIR}"

fail() { echo "FAIL: $*"; exit 1; }

# run WANT_EXIT CMD...: runs CMD, shows it and its output, checks its exit
# status (a death by signal never passes); the output is left in $out.
run() {
	want=$1; shift
	set +e; out=$("$@" 2>&1); rc=$?; set -e
	printf '$ %s\n%s\n' "$*" "$out"
	[ "$rc" -lt 128 ] || fail "killed by signal $((rc - 128)): $*"
	[ "$rc" -eq "$want" ] || fail "exit $rc, expected $want: $*"
}

# has TEXT: the last run's output contains TEXT.
has() { echo "$out" | grep -q -- "$1" || fail "output lacks: $1"; }

# files SERVICE: how many checkpoint segment files the service holds.
files() { ls "$SHMSTATE_DIR/$1" 2>/dev/null | grep -c '^ckpt\.' || true; }
