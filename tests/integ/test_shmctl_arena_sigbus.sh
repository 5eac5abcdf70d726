#!/bin/sh
# shmctl on an arena truncated by another process while it reads the
# arena through a mapping (shms_arena_inspect maps it: the lost pages
# raise SIGBUS). shmctl must report "SERVICE/FILE: file truncated while
# being read (SIGBUS)" for that entry, go on with the others, and exit 1;
# it must never die of the signal.
#  - sigbus_guard: the guard itself on a real file cut under a real
#    mapping (fires, releases the mapping and descriptor, restores the
#    previous disposition, does not swallow faults outside it);
#  - shmctl_sigbus: shmctl built with mmap wrapped to truncate the named
#    arena right after mapping it (tests/integ/sigbus_mmap.c), so that the
#    truncation lands inside the read every time: verify, list, info;
#  - the real shmctl on an arena truncated before the call: the library's
#    size check refuses it (no mapping, no signal).
. "$SRC/tests/integ/shmctl_lib.sh"
H=$B/tests/integ/helper_arena
S=$B/tests/integ/shmctl_sigbus
G=$B/tests/integ/sigbus_guard
for p in "$H" "$S" "$G" "$C"; do
	[ -x "$p" ] || fail "$p not built"
done
A=$SHMSTATE_DIR/arena-integ
WHY='file truncated while being read (SIGBUS)'

echo "== the guard on a real file"
"$G" || fail "sigbus_guard"

echo "== two arenas of a few MiB"
"$H" hash-build 100000 || fail "hash-build"
"$H" model 1 2000 new || fail "model"
cp "$A/arena.hash" "$T/hash.bak"
size=$(stat -c %s "$A/arena.hash")
[ "$size" -gt 1048576 ] || fail "arena.hash is only $size bytes"
expect 0 "$C" verify arena-integ

restore() { cp "$T/hash.bak" "$A/arena.hash"; }

echo "== verify: hash truncated after it is mapped"
restore
expect 1 env SHMCTL_TEST_TRUNCATE=arena.hash "$S" verify arena-integ
has err "^sigbus_mmap: truncated arena.hash"
has err "arena-integ/arena.hash: $WHY"
has out "^arena-integ/hash: FAILED: $WHY"
has out "^arena-integ/model: OK"
[ "$(stat -c %s "$A/arena.hash")" -eq 4096 ] || fail "not truncated"

echo "== verify: model truncated (listed second), hash still checked"
restore
cp "$A/arena.model" "$T/model.bak"
expect 1 env SHMCTL_TEST_TRUNCATE=arena.model "$S" verify arena-integ
has err "arena-integ/arena.model: $WHY"
has out "^arena-integ/hash: OK"
has out "^arena-integ/model: FAILED: $WHY"
cp "$T/model.bak" "$A/arena.model"

echo "== list and list --json: the row is there, the other arena too"
restore
expect 1 env SHMCTL_TEST_TRUNCATE=arena.hash "$S" list arena-integ
has err "arena-integ/arena.hash: $WHY"
has out "^arena-integ  *hash  *clean"
grep ' model ' "$T/out" | grep -q 'root=set' ||
    fail "list: the model arena lost its facts"
restore
expect 1 env SHMCTL_TEST_TRUNCATE=arena.hash "$S" list --json arena-integ
has err "arena-integ/arena.hash: $WHY"
python3 -c 'import json,sys; d = json.load(open(sys.argv[1]));
segs = d["services"][0]["segments"]
assert len(segs) == 2, segs' "$T/out" || fail "list --json: not valid"

echo "== info of the truncated arena"
restore
expect 1 env SHMCTL_TEST_TRUNCATE=arena.hash "$S" info arena-integ/hash
has err "arena-integ/arena.hash: $WHY"
has out "^file size:"
hasnt out "^root:"

echo "== the test build without the variable behaves like shmctl"
restore
expect 0 "$S" verify arena-integ
expect 0 "$S" info arena-integ/hash
has out "^root: *set"

echo "== the real shmctl, arena truncated before the call"
restore
truncate -s 8192 "$A/arena.hash"
expect 1 "$C" verify arena-integ
has out "^arena-integ/arena.hash: FAILED: .*8192 bytes"
has out "^arena-integ/model: OK"
expect 0 "$C" list arena-integ
has out "8192 bytes"
expect 1 "$C" info arena-integ/arena.hash
has out "^error:.*8192 bytes"
echo "PASS"
