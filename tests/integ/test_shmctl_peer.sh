#!/bin/sh
# shmctl's supervisor commands against a hostile peer on control.sock (a
# fake supervisor in Python answering each connection with canned bytes):
# a NUL in the reply is refused (it used to crash shmctl), so is a reply
# longer than any a supervisor sends (it used to be cut and parsed), terminal
# escapes in any value are escaped, and --json stays valid JSON whatever
# a "numeric" value holds.
. "$SRC/tests/integ/shmctl_lib.sh"
D=$SHMSTATE_DIR/fake
srv=
mkdir -m 0700 -p "$D" || fail "mkdir"

# serve REPLY: one fake supervisor answering every connection with REPLY
# (Python bytes syntax), until killed.
serve() {
	if [ -n "$srv" ]; then
		kill "$srv"; wait "$srv" 2>/dev/null; bg_done "$srv"
	fi
	rm -f "$D/control.sock"
	python3 - "$D/control.sock" "$1" <<'EOF' &
import ast, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o600)
s.listen(4)
reply = ast.literal_eval(sys.argv[2])
for _ in range(50):
    c, _ = s.accept()
    c.settimeout(5)
    try:
        c.recv(4096)
        c.sendall(reply)
    except OSError:
        pass
    c.close()
EOF
	srv=$!
	bg_add $srv
	wait_for test -S "$D/control.sock" || fail "fake supervisor not up"
}
# run CMD...: stdout in $T/out, stderr in $T/err, status in $rc.
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; }
no_esc() {
	if grep -q "$(printf '\033')" "$T/out" "$T/err"; then
		cat -v "$T/out" "$T/err"; fail "$1: raw escape printed"
	fi
}

echo "== NUL before the first newline"
serve "b'\\x00ok\\n'"
run "$C" status fake
[ $rc -eq 1 ] || { cat "$T/err"; fail "status exited $rc, want 1"; }
grep -q malformed "$T/err" || fail "no 'malformed' in: $(cat "$T/err")"
serve "b'ok\\x00\\npid 1\\n'"
run "$C" status fake --json
[ $rc -eq 1 ] || fail "status --json exited $rc on a NUL, want 1"

echo "== a reply longer than any the supervisor sends (16 KiB)"
serve "$(python3 -c "print(repr(b'ok\\n' + b'pid 1\\n' * 12000))")"
run "$C" status fake
[ $rc -eq 1 ] || { cat "$T/out"; fail "status exited $rc on 72 KB, want 1"; }
grep -q "longer than" "$T/err" || fail "no 'longer than' in: $(cat "$T/err")"
[ -s "$T/out" ] && fail "printed a cut reply: $(head -c 200 "$T/out")"

echo "== escapes in values"
serve "b'ok\\nname fake\\nstate \\x1b[31mred\\npid 1\\x1b]0;t\\x07\\ngeneration \\x1b[2J\\nrestarts 0\\x1b\\nhandoff_handed 1\\x1b\\nhandoff_held \\x1b\\nlast_result ok\\x1b\\nlast_kind \\x1b[H\\nlast_total_ms 1\\x1b\\n'"
run "$C" status fake
[ $rc -eq 0 ] || { cat "$T/err"; fail "status exited $rc"; }
cat -v "$T/out"
no_esc status
grep -q 'red' "$T/out" || fail "state value lost"
serve "b'error no\\x1b[31m\\npid 7\\x1b\\nbinary /x\\x1b\\nstderr line\\x1b\\n'"
run "$C" restart fake
[ $rc -eq 1 ] || fail "restart exited $rc, want 1"
no_esc restart
serve "b'ok\\nbinary /b\\x1b[2J\\npid 9\\x1b\\ntotal_ms 3\\x1b\\n'"
run "$C" upgrade fake --binary /bin/true
[ $rc -eq 0 ] || fail "upgrade exited $rc"
no_esc upgrade

echo "== --json with odd numbers"
serve "b'ok\\npid \\ngeneration .\\nrestarts 1.2.3\\nuptime_s 12.5\\nsupervisor_pid 42\\nready_ms 007\\nadopt_ms 0.25\\nstop_ms -\\nexec_ms 1.\\n'"
run "$C" status fake --json
[ $rc -eq 0 ] || fail "status --json exited $rc"
cat "$T/out"
python3 - "$T/out" <<'EOF' || fail "invalid JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["supervisor_pid"] == 42 and d["adopt_ms"] == 0.25, d
assert d["ready_ms"] == "007", d
assert d["uptime_s"] == 12.5, d
assert d["stop_ms"] is None, d
assert d["pid"] == "" and d["generation"] == "." and \
    d["restarts"] == "1.2.3" and d["exec_ms"] == "1.", d
EOF
echo PASS
