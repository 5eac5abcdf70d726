#!/bin/sh
# shmctl rm SERVICE next to a real shmsupervise(8) whose child is stopped
# (a crash-looping /bin/false, in backoff): rm removes the state but
# leaves the running supervisor's control socket, notify socket, lock and
# the directory, so `shmctl status` still reaches it; once the supervisor
# is gone, rm removes its leftovers (supervisor.lock, a stale socket) and
# the directory itself.
. "$SRC/tests/integ/shmctl_lib.sh"
H=$B/tests/integ/helper_ckpt
D=$SHMSTATE_DIR/svc

# State first, then a supervisor whose child never stays up.
"$H" a=10000:1 b=2000:2 >/dev/null || fail "helper_ckpt"
[ -e "$D/manifest" ] || fail "no manifest"
"$B/shmsupervise" --name svc --max-restarts 1000 --backoff-max 30 \
    -- /bin/false >"$T/sup.log" 2>&1 &
sup=$!
bg_add $sup
wait_for "$C" status svc || fail "supervisor never answered"
in_backoff() { "$C" status svc | grep -q 'backoff'; }
wait_for in_backoff || fail "child never in backoff"

echo "== rm with a live supervisor"
expect 0 "$C" rm svc
cat "$T/err"
has err "supervisor is running"
[ -e "$D/manifest" ] && fail "rm kept the manifest"
ls "$D" | grep -q '^ckpt\.' && fail "rm kept segments"
[ -S "$D/control.sock" ] || fail "rm removed a live supervisor's control.sock"
[ -e "$D/supervisor.lock" ] || fail "rm removed a live supervisor's lock"
expect 0 "$C" status svc
kill -0 "$sup" || fail "supervisor died"

echo "== rm --force with a live supervisor keeps its files too"
"$H" a=100:3 >/dev/null || fail "helper_ckpt 2"
expect 0 "$C" rm --force svc
[ -e "$D/manifest" ] && fail "rm --force kept the manifest"
[ -S "$D/control.sock" ] || fail "rm --force removed control.sock"
expect 0 "$C" status svc

echo "== stop the supervisor, then rm removes everything"
expect 0 "$C" stop svc
wait "$sup"
bg_done "$sup"
[ -e "$D/supervisor.lock" ] || fail "expected a supervisor.lock left behind"
"$H" a=100:4 >/dev/null || fail "helper_ckpt 3"
expect 0 "$C" rm svc
[ -e "$D" ] && { ls -la "$D"; fail "rm left the directory"; }

echo "== a stale notify.sock and supervisor.lock of a dead supervisor"
mkdir -m 0700 "$D" || fail "mkdir"
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])' "$D/notify.sock" || fail "stale socket"
echo 12345 >"$D/supervisor.lock"
chmod 0600 "$D/supervisor.lock"
expect 0 "$C" rm svc
[ -e "$D" ] && { ls -la "$D"; fail "rm left a dead supervisor's files"; }
echo "PASS"
