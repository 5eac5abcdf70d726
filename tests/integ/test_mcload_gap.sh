#!/bin/sh
# bench/mcload's gap mode (-g) against a real shardcache: every hit is
# checked against the value the fill stored; the baseline and window
# figures come out; a server that goes away for ~300 ms inside the window
# shows as a gap of at least that, with its lost requests and reconnects
# counted; a wrong value is an error.
set -u
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$work"' EXIT
start() {
	"$B/shardcache" -p "$port" -t 2 --state none >>"$work/log" 2>&1 &
	pid=$!
	i=0
	until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "server did not start"; cat "$work/log"; exit 1; }
		sleep 0.05
	done
}
fail=0
# expect FILE NAME VALUE: the `NAME: VALUE unit' line says so
expect() {
	grep -q "^$2: $3 " "$1" || { echo "FAIL $2 != $3"; cat "$1"; fail=1; }
}
# at_least FILE NAME MIN (numbers, possibly with decimals)
at_least() {
	v=$(sed -n "s/^$2: \([0-9.]*\) .*/\1/p" "$1")
	[ -n "$v" ] && python3 -c "import sys; sys.exit(0 if $v >= $3 else 1)" ||
	    { echo "FAIL $2 = '$v' < $3"; cat "$1"; fail=1; }
}
start
timeout 30 "$B/mcload" -T 20 -p "$port" -F -K g -k 2000 -v 700 -c 4 -P 16 \
    >"$work/fill" || { echo "FAIL fill"; fail=1; }
expect "$work/fill" errors 0

# Quiet run: mark at 0.3 s, stop at 0.6 s.
(sleep 0.3; echo mark; sleep 0.3; echo stop) |
    timeout 30 "$B/mcload" -T 20 -g -p "$port" -K g -k 2000 -v 700 -c 8 -r 100 \
    >"$work/quiet" || { echo "FAIL quiet run"; fail=1; }
expect "$work/quiet" errors 0
expect "$work/quiet" failed 0
expect "$work/quiet" get_hit_rate 1.0000
expect "$work/quiet" gap_window_errors 0
expect "$work/quiet" gap_window_reconnects 0
at_least "$work/quiet" gap_baseline_s 0.2
at_least "$work/quiet" gap_window_s 0.2
at_least "$work/quiet" gap_window_replies 100
grep -q "^gap_baseline_max: [0-9.]* ms" "$work/quiet" ||
    { echo "FAIL no baseline gap"; fail=1; }

# Paced (-i 2000 us): the longest gap is at least the pace.
(sleep 0.2; echo mark; sleep 0.2; echo stop) |
    timeout 30 "$B/mcload" -T 20 -g -i 2000 -p "$port" -K g -k 2000 -v 700 \
    -c 4 -r 100 >"$work/paced" || { echo "FAIL paced run"; fail=1; }
expect "$work/paced" errors 0
at_least "$work/paced" gap_window_max 1.9

# The server goes away inside the window for ~300 ms and comes back.
(sleep 0.3; echo mark; sleep 2; echo stop) |
    timeout 30 "$B/mcload" -T 20 -g -R 1 -p "$port" -K g -k 2000 -v 700 -c 4 \
    -r 100 >"$work/down" &
load=$!
sleep 0.4
kill $pid; wait $pid
sleep 0.3
start
wait $load || { echo "FAIL down run"; fail=1; }
at_least "$work/down" gap_window_max 250
at_least "$work/down" gap_window_failed 1
at_least "$work/down" gap_window_reconnects 4
at_least "$work/down" gap_window_refused 1
expect "$work/down" gap_baseline_errors 0
# A wrong value (another size under a key the client reads) is an error.
printf 'set g7 0 0 3\r\nabc\r\n' | timeout 5 python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$port)); s.sendall(sys.stdin.buffer.read())
d=b''
while b'STORED' not in d: d+=s.recv(100)"
(sleep 0.3; echo stop) |
    timeout 30 "$B/mcload" -T 20 -g -p "$port" -K g -k 8 -v 700 -c 2 -r 100 \
    >"$work/wrong" || { echo "FAIL wrong-value run"; fail=1; }
at_least "$work/wrong" errors 1

kill $pid; wait $pid; pid=
[ $fail -eq 0 ] && echo "mcload gap mode: all passed"
exit $fail
