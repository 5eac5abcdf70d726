#!/bin/sh
# Runs libFuzzer targets built by `make fuzz` for $FUZZ_SECONDS each,
# starting from the committed corpus and regression inputs. New inputs go
# to $B/work/<target> (not the tree), crash inputs to $B/crashes/.
# Prints per target "fuzz-<target>-execs: N execs" and fails on a crash.
#   B=build/x-fuzz FUZZ_SECONDS=60 run-fuzz.sh TARGET...
set -u
secs=${FUZZ_SECONDS:-60}
fail=0
total=0
for t in "$@"; do
	work="$B/work/$t"
	mkdir -p "$work" "$B/crashes" "tests/fuzz/regress/$t"
	case $t in
	arena|arena_file) maxlen=300000 ;;
	mcproto) maxlen=16384 ;;
	notify) maxlen=4200 ;;
	ctlproto) maxlen=8192 ;;
	*) maxlen=4096 ;;
	esac
	dict=""
	[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	log="$B/fuzz-$t.log"
	"$B/tests/fuzz/fuzz_$t" -max_total_time="$secs" -max_len="$maxlen" \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$B/crashes/$t-" $dict \
	    "$work" "tests/fuzz/corpus/$t" "tests/fuzz/regress/$t" \
	    >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
	echo "fuzz-$t-execs: ${execs:-0} execs"
	echo "fuzz-$t-coverage: ${cov:-0} edges"
	total=$((total + ${execs:-0}))
	if [ $rc -ne 0 ]; then
		fail=$((fail + 1))
		echo "fuzz-$t: FAILED (exit $rc); log: $log"
		grep -A 30 'ERROR\|invariant failed\|deadly signal' "$log" |
		    head -n 40 | sed 's/^/    | /'
		ls "$B/crashes/$t-"* 2>/dev/null | sed 's/^/    crash input: /'
	fi
done
echo "fuzz-total-execs: $total execs"
echo "fuzz-crashes: $fail targets"
[ $fail -eq 0 ]
