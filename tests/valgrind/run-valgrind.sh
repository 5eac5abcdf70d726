#!/bin/sh
# valgrind memcheck on the tools, on real state (issue 7 part 6): every
# shmctl command on a copy-mode and an adopt-mode service that shardcache
# (itself under valgrind) wrote, and shmsupervise through a start, an
# upgrade and a stop. Any memcheck error or leak (definite, indirect,
# possible) fails. Prints `valgrind-runs: N runs, N errors'.
# Environment: B (build dir), SHMSTATE_DIR (private; made if unset).
set -u
B=${B:-build}
: "${SHMSTATE_DIR:=$(mktemp -d /dev/shm/shmstate-vg.XXXXXX)}"
export SHMSTATE_DIR
LOGS=$B/test-logs/valgrind
mkdir -p "$LOGS"
rm -f "$LOGS"/*.vg
VG="valgrind -q --error-exitcode=99 --leak-check=full
    --show-leak-kinds=definite,indirect,possible
    --errors-for-leak-kinds=definite,indirect,possible"
runs=0 bad=0 pids=""

vg() {	# vg NAME CMD...: runs CMD under memcheck, its report in $LOGS/NAME.vg
	name=$1; shift
	runs=$((runs + 1))
	$VG --log-file="$LOGS/$name.vg" "$@" >"$LOGS/$name.out" 2>&1
	rc=$?
	if [ $rc -eq 99 ] || [ -s "$LOGS/$name.vg" ]; then
		bad=$((bad + 1))
		echo "FAIL $name (exit $rc):"; sed 's/^/    | /' "$LOGS/$name.vg"
	else
		echo "ok   $name (exit $rc)"
	fi
	return $rc
}

expect0() { [ "$1" -eq 0 ] || { echo "FAIL $2: exit $1"; bad=$((bad + 1)); }; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Sends requests, prints the replies (at most 2 s).
mc() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, data = int(sys.argv[1]), sys.argv[2].encode().decode("unicode_escape")
for _ in range(200):			# a server under valgrind starts slowly
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        time.sleep(0.05)
s.sendall(data.encode())
out, end = b"", time.time() + 5
while b"END\r\n" not in out and time.time() < end:
    d = s.recv(65536)
    if not d:
        break
    out += d
print(out.decode(errors="replace"))
PY
}

cleanup() {
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
}
trap cleanup EXIT

# shardcache, short runs under memcheck: copy mode, then adopt mode.
for mode in copy adopt; do
	port=$(free_port)
	$VG --log-file="$LOGS/shardcache-$mode.vg" "$B/shardcache" \
	    -p "$port" -l 127.0.0.1 -t 2 -m 64 --state $mode \
	    --service "vg$mode" >"$LOGS/shardcache-$mode.out" 2>&1 &
	sc=$!; pids="$pids $sc"; runs=$((runs + 1))
	got=$(mc "$port" 'set a 0 0 3\r\nabc\r\nset b 5 0 2\r\nxy\r\nget a b\r\n')
	case $got in *"VALUE b 5 2"*) echo "ok   shardcache $mode serves" ;;
	*) echo "FAIL shardcache $mode: $got"; bad=$((bad + 1)) ;; esac
	kill -TERM $sc; wait $sc; rc=$?
	if [ $rc -ne 0 ] || [ -s "$LOGS/shardcache-$mode.vg" ]; then
		bad=$((bad + 1)); echo "FAIL shardcache-$mode (exit $rc)"
		sed 's/^/    | /' "$LOGS/shardcache-$mode.vg"
	else
		echo "ok   shardcache-$mode (exit 0)"
	fi
done

# shmctl on that state.
for s in vgcopy vgadopt; do
	vg "list-$s" "$B/shmctl" list "$s"; expect0 $? "list $s"
	vg "list-json-$s" "$B/shmctl" list "$s" --json; expect0 $? "list --json $s"
	vg "info-$s" "$B/shmctl" info "$s"; expect0 $? "info $s"
	vg "verify-$s" "$B/shmctl" verify "$s"; expect0 $? "verify $s"
done
vg list-all "$B/shmctl" list; expect0 $? "list"
vg info-seg "$B/shmctl" info vgcopy/shard.0000; expect0 $? "info segment"
vg info-arena "$B/shmctl" info vgadopt/s8.0000; expect0 $? "info arena"
vg dump "$B/shmctl" dump vgcopy/meta; expect0 $? "dump"
vg dump-missing "$B/shmctl" dump vgcopy/nosuch
vg info-missing "$B/shmctl" info nosuch
vg gc "$B/shmctl" gc vgcopy; expect0 $? "gc"
vg rm "$B/shmctl" rm vgcopy/meta; expect0 $? "rm segment"
vg verify-all "$B/shmctl" verify
vg bad-usage "$B/shmctl" frobnicate

# shmsupervise: start, status, upgrade, stop; the child is not traced.
port=$(free_port)
$VG --log-file="$LOGS/shmsupervise.vg" "$B/shmsupervise" --name vgsup \
    --listen "tcp:127.0.0.1:$port" --ready-timeout 30 -- \
    "$(pwd)/$B/shardcache" -t 2 -m 64 --state adopt --service vgsup \
    >"$LOGS/shmsupervise.out" 2>&1 &
sup=$!; pids="$pids $sup"; runs=$((runs + 1))
i=0
until "$B/shmctl" status vgsup 2>/dev/null | grep -q "ready"; do
	i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.1
done
mc "$port" 'set k 0 0 1\r\nv\r\nget k\r\n' >/dev/null
vg status "$B/shmctl" status vgsup; expect0 $? "status"
vg status-json "$B/shmctl" status vgsup --json; expect0 $? "status --json"
vg upgrade "$B/shmctl" upgrade vgsup --binary "$(pwd)/$B/shardcache"
expect0 $? "upgrade"
vg upgrade-missing "$B/shmctl" upgrade vgsup --binary /nonexistent
vg restart "$B/shmctl" restart vgsup; expect0 $? "restart"
got=$(mc "$port" 'get k\r\n')
case $got in *"VALUE k"*) echo "ok   state kept across upgrade and restart" ;;
*) echo "FAIL state after upgrade: $got"; bad=$((bad + 1)) ;; esac
vg stop "$B/shmctl" stop vgsup; expect0 $? "stop"
wait $sup; rc=$?
if [ $rc -ne 0 ] || [ -s "$LOGS/shmsupervise.vg" ]; then
	bad=$((bad + 1)); echo "FAIL shmsupervise (exit $rc)"
	sed 's/^/    | /' "$LOGS/shmsupervise.vg"
else
	echo "ok   shmsupervise start/upgrade/restart/stop (exit 0)"
fi
pids=""

echo "valgrind-runs: $runs runs, $bad errors"
[ $bad -eq 0 ]
