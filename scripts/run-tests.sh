#!/bin/sh
# Runs test programs and scripts one at a time, each in a child with its own
# private $SHMSTATE_DIR and a timeout, like libuv's runner. Prints one line
# per test and a closing "N passed, N failed" line; exits non-zero if any
# failed.
#   run-tests.sh SUITE TEST...
# Environment: TEST_TIMEOUT (seconds, default 300), TEST_FILTER (substring),
# KEEP_LOGS=1 keeps logs of passing tests too.
set -u
suite=$1; shift
timeout_s=${TEST_TIMEOUT:-300}
pass=0 fail=0 failed=""
logdir=${B:-build}/test-logs/$suite
mkdir -p "$logdir"
export SRC="$(pwd)"
export B="${B:-build}"

for t in "$@"; do
	name=$(basename "$t")
	case $name in *"${TEST_FILTER:-}"*) ;; *) continue ;; esac
	dir=$(mktemp -d /dev/shm/shmstate-test.XXXXXX) || exit 1
	log="$logdir/$name.log"
	start=$(date +%s.%N)
	case $t in
	*.sh) SHMSTATE_DIR="$dir" timeout -k 10 "$timeout_s" sh "$t" >"$log" 2>&1 ;;
	*) SHMSTATE_DIR="$dir" timeout -k 10 "$timeout_s" "$t" >"$log" 2>&1 ;;
	esac
	rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	rm -rf "$dir"
	if [ $rc -eq 0 ]; then
		pass=$((pass + 1))
		printf '  PASS  %-40s %ss\n' "$suite/$name" "$secs"
		[ -n "${KEEP_LOGS:-}" ] || rm -f "$log"
	else
		fail=$((fail + 1)); failed="$failed $name"
		[ $rc -eq 124 ] && why="timeout after ${timeout_s}s" || why="exit $rc"
		printf '  FAIL  %-40s (%s) log: %s\n' "$suite/$name" "$why" "$log"
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
done
echo "$suite: $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "$suite: failed:$failed"; exit 1; }
