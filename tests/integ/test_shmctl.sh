#!/bin/sh
# shmctl(1) against real state written by helper_ckpt in a private
# $SHMSTATE_DIR: list/--json, info, verify (clean and after a flipped
# byte), dump (byte-exact), gc, rm (live owner refused, --force), --help of
# every command, and usage errors.
. "$SRC/tests/integ/shmctl_lib.sh"
H=$B/tests/integ/helper_ckpt
json() { python3 -m json.tool "$T/out" >/dev/null || fail "invalid JSON"; }
D=$SHMSTATE_DIR/svc

# Nothing there yet: an empty listing, not an error.
rmdir "$SHMSTATE_DIR" 2>/dev/null
expect 0 "$C" list
[ -s "$T/out" ] && fail "list of nothing printed something"
expect 0 "$C" list --json
json
mkdir -p -m 0700 "$SHMSTATE_DIR"

# Generation 1, generation 2 keeping 1 (superseded), and a crashed 3.
"$H" a=100000:7 b=5000:3 >/dev/null || fail "helper gen 1"
"$H" -K a=70000:1 b=10:2 >/dev/null || fail "helper gen 2"
"$H" -c a=300:9 || fail "helper gen 3"
echo "== list"
expect 0 "$C" list
cat "$T/out"
has out "^SERVICE *SEGMENT *STATE"
[ "$(grep -c ' committed ' "$T/out")" -eq 2 ] || fail "2 committed"
[ "$(grep -c ' superseded ' "$T/out")" -eq 2 ] || fail "2 superseded"
[ "$(grep -c ' uncommitted ' "$T/out")" -eq 1 ] || fail "1 uncommitted"
has out "helper@1"
expect 0 "$C" list svc --json
json
python3 - "$T/out" <<'EOF' || fail "JSON content"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["services"][0]
assert s["service"] == "svc" and s["manifest"]["generation"] == 2, s
st = sorted((x["segment"], x["generation"], x["status"], x["size"])
            for x in s["segments"])
assert st == [("a", 1, "superseded", 100000), ("a", 2, "committed", 70000),
              ("a", 3, "uncommitted", 300), ("b", 1, "superseded", 5000),
              ("b", 2, "committed", 10)], st
assert all(x["error"] is None and x["state"] == "clean"
           for x in s["segments"])
EOF

echo "== info"
expect 0 "$C" info svc
has out "generation: *2"
has out "segments: *2"
has out "build id:"
expect 0 "$C" info svc/a
has out "payload length: *70000"
has out "status: *committed"
has out "state: *clean"
has out "layout: *helper"
expect 0 "$C" info svc/ckpt.0000000000000001.b
has out "status: *superseded"
has out "payload length: *5000"
expect 1 "$C" info svc/nosuch
has err "nosuch"
expect 1 "$C" info nosvc
has err "no such service"

echo "== dump"
"$C" dump svc/a >"$T/a.bin" || fail "dump"
"$H" -E 70000:1 | cmp - "$T/a.bin" || fail "dump differs"
"$C" dump svc/ckpt.0000000000000001.a >"$T/a1.bin" || fail "dump gen 1"
"$H" -E 100000:7 | cmp - "$T/a1.bin" || fail "dump gen 1 differs"
"$C" dump svc/b | cmp - "$("$H" -E 10:2 >"$T/b.exp"; echo "$T/b.exp")" ||
    fail "dump b differs"

echo "== verify"
expect 0 "$C" verify
has out "svc/a: OK"
has out "svc/b: OK"
# Flip one payload byte of the committed a (header page is 4096 bytes).
f=$D/ckpt.0000000000000002.a
printf 'Z' | dd of="$f" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect 1 "$C" verify svc
has out "svc/a: FAILED: .*checksum"
has out "svc/b: OK"
has err "failed verification"
expect 1 "$C" dump svc/a
has err "checksum"
expect 0 "$C" list
has out " committed "

echo "== gc"
expect 0 "$C" gc svc
cat "$T/out"
has out "removed svc/ckpt.0000000000000001.a (superseded)"
has out "removed svc/ckpt.0000000000000001.b (superseded)"
has out "removed svc/ckpt.0000000000000003.a (uncommitted)"
expect 0 "$C" list
hasnt out "superseded"
hasnt out "uncommitted"
expect 0 "$C" gc
[ -s "$T/out" ] && fail "second gc removed something"

echo "== live owner"
"$H" -H 60 >"$T/hold" &
holder=$!
bg_add $holder
wait_for grep -q ready "$T/hold" || fail "holder not ready"
expect 1 "$C" rm svc
has err "locked by pid $holder"
has err "force"
[ -d "$D" ] || fail "rm removed a live service"
expect 1 "$C" gc svc
has err "locked by pid $holder"
expect 0 "$C" gc
has err "skipped"
expect 0 "$C" list --json
json
python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["services"][0]
assert s["owner_alive"] and s["owner_pid"] == int(sys.argv[2]), s' \
    "$T/out" "$holder" || fail "JSON owner"
expect 0 "$C" info svc
has out "pid $holder (alive"
expect 0 "$C" rm --force svc/b
has err "going ahead"
has err "committed segment"
[ -e "$D/ckpt.0000000000000002.b" ] && fail "rm --force kept b"
expect 0 "$C" list
has out "missing"
expect 1 "$C" verify svc
has out "svc/b: FAILED: .*missing"
kill "$holder"; wait "$holder" 2>/dev/null; bg_done "$holder"

echo "== rm"
"$H" -s two x=1000 >/dev/null || fail "helper two"
expect 0 "$C" rm two/x
[ -e "$SHMSTATE_DIR/two/ckpt.0000000000000001.x" ] && fail "rm two/x kept it"
expect 1 "$C" rm two/x
echo "not ours" >"$SHMSTATE_DIR/two/notes.txt"
ln -s /etc/passwd "$SHMSTATE_DIR/two/evil"
expect 1 "$C" rm two
has err "unknown"
[ -e "$SHMSTATE_DIR/two/notes.txt" ] || fail "rm removed an unknown file"
expect 0 "$C" rm --force two
[ -e "$SHMSTATE_DIR/two" ] && fail "rm --force left the service"
[ -e /etc/passwd ] || fail "followed a symlink"
expect 0 "$C" rm svc
[ -e "$D" ] && fail "rm svc left the dir"

echo "== hostile names"
"$H" -s odd a=10 >/dev/null || fail "helper odd"
nl='x
y'
: >"$SHMSTATE_DIR/odd/$nl"
printf 'ckpt.\033[2J' >"$SHMSTATE_DIR/odd/esc"
expect 0 "$C" list odd
[ "$(wc -l <"$T/out")" -eq 4 ] || { cat "$T/out"; fail "raw newline"; }
has out 'x\\ny'
if grep -q "$(printf '\033')" "$T/out"; then fail "raw escape"; fi
printf 'caf\351' >"$SHMSTATE_DIR/odd/$(printf 'caf\351')"
expect 0 "$C" list odd --json
json
python3 -c 'import json,sys
names = [x["file"] for x in json.load(open(sys.argv[1]))["services"][0]["segments"]]
assert "x\ny" in names and "caf\u00e9" in names, names' "$T/out" ||
    fail "JSON names"
# A service with no files at all still lists as an object.
mkdir -m 0700 "$SHMSTATE_DIR/empty"
expect 0 "$C" list empty --json
json
has out '"segments": \[\]'
expect 0 "$C" verify empty
has out "empty: no committed checkpoint"
expect 0 "$C" rm empty
[ -e "$SHMSTATE_DIR/empty" ] && fail "rm empty left it"

# dump refuses a terminal unless --force (script(1) provides one).
if command -v script >/dev/null 2>&1; then
	expect 1 script -qec "$C dump odd/a" /dev/null
	has out "refusing"
	expect 0 script -qec "$C dump --force odd/a" /dev/null
fi

echo "== -d"
mkdir -m 0700 "$T/root"
SHMSTATE_DIR=$T/root "$H" -s alt q=5 >/dev/null || fail "helper alt"
expect 0 "$C" -d "$T/root" list
has out "^alt "
expect 0 "$C" --dir "$T/root" verify alt
has out "alt/q: OK"

echo "== help and usage"
for cmd in list info verify rm gc dump; do
	expect 0 "$C" $cmd --help
	has out "^usage: shmctl .*$cmd"
	expect 0 "$C" $cmd -h
done
expect 0 "$C" --help
for cmd in list info verify rm gc dump; do has out "$cmd"; done
expect 0 "$C" --version
has out "shmctl"
expect 2 "$C"
expect 2 "$C" bogus
has err "unknown command"
expect 2 "$C" --bogus
expect 2 "$C" -d
expect 2 "$C" list a b
expect 2 "$C" list --bogus
expect 2 "$C" list odd/a
expect 2 "$C" info
expect 2 "$C" info ../etc
expect 2 "$C" info 'odd/../x'
expect 2 "$C" dump odd
expect 2 "$C" rm
expect 2 "$C" gc a/b
expect 2 "$C" verify -x
expect 2 "$C" info "$(printf 'a%.0s' $(seq 1 100))"
echo "test_shmctl: all passed"
