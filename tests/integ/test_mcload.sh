#!/bin/sh
# bench/mcload against a real shardcache, quickly: a fill sets every key
# once, a mixed zipf run with pipelining hits every get, and with no
# server every connect is counted as refused (reconnecting, bounded).
set -u
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
"$B/shardcache" -p "$port" -t 2 --state none >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "server did not start"; cat "$work/log"; exit 1; }
	sleep 0.05
done
fail=0
# expect FILE NAME VALUE: the `NAME: VALUE unit' line says so
expect() {
	grep -q "^$2: $3 " "$1" || { echo "FAIL $2 != $3"; cat "$1"; fail=1; }
}
timeout 30 "$B/mcload" -T 20 -p "$port" -F -k 5000 -v 100-2000 -c 4 -P 16 \
    >"$work/fill" || { echo "FAIL fill"; fail=1; }
expect "$work/fill" requests 5000
expect "$work/fill" sets 5000
expect "$work/fill" errors 0
expect "$work/fill" failed 0
timeout 30 "$B/mcload" -T 20 -p "$port" -k 5000 -z 0.99 -r 80 -c 8 -P 4 \
    -n 20000 >"$work/mix" || { echo "FAIL mix"; fail=1; }
expect "$work/mix" requests 20000
expect "$work/mix" get_hit_rate 1.0000
expect "$work/mix" errors 0
grep -q "^p999: [0-9.]* us" "$work/mix" || { echo "FAIL no p999"; fail=1; }
printf 'stats\r\nquit\r\n' | timeout 5 python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$port)); s.sendall(sys.stdin.buffer.read())
d=b''
while b'END' not in d: d+=s.recv(65536)
sys.stdout.write(d.decode())" >"$work/stats"
grep -q "STAT curr_items 5000" "$work/stats" || { echo "FAIL curr_items"; cat "$work/stats"; fail=1; }
kill $pid; wait $pid
timeout 10 "$B/mcload" -T 5 -p "$port" -c 2 -d 0.3 -R 20 >"$work/down" ||
    { echo "FAIL down"; fail=1; }
expect "$work/down" requests 0
grep -q "^refused: [1-9][0-9]* count" "$work/down" || { echo "FAIL refused not counted"; cat "$work/down"; fail=1; }
[ $fail -eq 0 ] && echo "mcload: all passed"
exit $fail
