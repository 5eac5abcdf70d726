#!/bin/sh
# shardcache with libmemcached-tools (Debian names): memccapable -a passes
# every ascii test, and memccp/memccat/memcrm/memcflush/memcstat work.
set -u
for t in memccapable memccp memccat memcrm memcflush memcstat; do
	command -v $t >/dev/null 2>&1 || {
		echo "missing $t: apt-get install libmemcached-tools"; exit 1; }
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
"$B/shardcache" -p "$port" -t 2 --service tools >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { echo "server did not start"; cat "$work/log"; exit 1; }
	sleep 0.05
done
fail=0
s="--servers=127.0.0.1:$port"

out=$(memccapable -a -h 127.0.0.1 -p "$port" 2>&1)
echo "$out"
echo "$out" | grep -q "All tests passed" || { echo "FAIL memccapable"; fail=1; }
echo "$out" | grep -q "\[fail\]" && { echo "FAIL memccapable: a test failed"; fail=1; }

head -c 100000 /dev/urandom > "$work/blob.bin"
(cd "$work" && memccp "$s" blob.bin) || { echo "FAIL memccp"; fail=1; }
memccat "$s" blob.bin > "$work/back.bin" || { echo "FAIL memccat"; fail=1; }
# memccat adds a newline after each value
head -c 100000 "$work/back.bin" | cmp - "$work/blob.bin" &&
    [ "$(wc -c < "$work/back.bin")" -eq 100001 ] ||
    { echo "FAIL memccat: content differs"; fail=1; }
memcstat "$s" | grep -q "curr_items: 1" || { echo "FAIL memcstat"; memcstat "$s"; fail=1; }
memcrm "$s" blob.bin || { echo "FAIL memcrm"; fail=1; }
memccat "$s" blob.bin >/dev/null 2>&1 && { echo "FAIL: removed key still there"; fail=1; }
(cd "$work" && memccp "$s" blob.bin) && memcflush "$s" || { echo "FAIL memcflush"; fail=1; }
memccat "$s" blob.bin >/dev/null 2>&1 && { echo "FAIL: flushed key still there"; fail=1; }

kill $pid; wait $pid; rc=$?
[ $rc -eq 0 ] || { echo "FAIL: exit $rc on SIGTERM"; cat "$work/log"; fail=1; }
trap - EXIT; rm -rf "$work"
[ $fail -eq 0 ] && echo "all passed"
exit $fail
