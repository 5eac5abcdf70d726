#!/bin/sh
# test_arena: arenas across real processes (helper_arena does one step per
# process): a 100k-entry hash table adopted by another process and across
# execv; a randomized allocator model continued by three processes in
# turn; kill -9 of a live owner -> dirty -> refused, then adopted with
# SHMS_ARENA_ADOPT_DIRTY; and what shmctl shows of arenas.
set -eu
H=${B:-build}/tests/integ/helper_arena
CTL=${B:-build}/shmctl
[ -x "$H" ] || { echo "FAIL: $H not built"; exit 1; }
fail() { echo "FAIL: $*"; exit 1; }
step() { echo "== $*"; }

step "hash table: build, adopt in another process"
"$H" hash-build 100000
"$H" hash-check 100000

step "hash table: build, execv, adopt in the same pid"
out=$("$H" hash-build 100000 exec)
echo "$out"
p1=$(echo "$out" | sed -n 's/^built .* pid \([0-9]*\)$/\1/p')
p2=$(echo "$out" | sed -n 's/^found all .* pid \([0-9]*\)$/\1/p')
[ -n "$p1" ] && [ "$p1" = "$p2" ] || fail "execv: pids '$p1' '$p2'"

step "allocator model across three processes"
"$H" model 1 20000 new
"$H" model 2 20000
"$H" model 3 20000

step "kill -9 while live"
ready=$SHMSTATE_DIR/victim.ready
rm -f "$ready"
"$H" live-wait "$ready" &
pid=$!
i=0
while [ ! -s "$ready" ]; do
	i=$((i + 1))
	[ $i -le 200 ] || { kill -9 $pid; fail "helper never got ready"; }
	sleep 0.05
done
if [ -x "$CTL" ]; then
	"$CTL" list arena-integ || true
fi
kill -9 $pid
wait $pid 2>/dev/null || true
if [ -x "$CTL" ]; then
	"$CTL" list arena-integ || true
fi
"$H" dirty-check

echo "PASS"
