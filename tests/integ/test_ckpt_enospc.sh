#!/bin/sh
# test_ckpt_enospc: a full tmpfs in the middle of a checkpoint. On a
# private 16 MiB tmpfs, commit a small checkpoint, then try one that does
# not fit: the writer gets ENOSPC (not SIGBUS), the new files are gone, and
# the previous checkpoint is still adoptable and exact. Needs root (mount);
# skips otherwise.
set -u
H=${B:-build}/tests/integ/helper_kv_state
[ -x "$H" ] || { echo "FAIL: $H not built"; exit 1; }
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: not root: cannot mount a tmpfs"
	exit 0
fi
mnt=$(mktemp -d)
cleanup() {
	umount "$mnt" 2>/dev/null || true
	rmdir "$mnt" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
if ! mount -t tmpfs -o size=16m,mode=0700 tmpfs "$mnt" 2>/dev/null; then
	echo "SKIP: mount -t tmpfs not permitted here"
	exit 0
fi
export SHMSTATE_DIR="$mnt"
. "${SRC:-.}/tests/integ/helper_kv.sh"
fail() { echo "FAIL: $*"; df -k "$mnt"; ls -la "$mnt"/*; exit 1; }
used_kib() { df -k "$mnt" | awk 'NR == 2 { print $3 }'; }

run 0 "$H" write full 1 2 2m
base=$(used_kib)
# 2 x 8 MiB on top of 4 MiB: does not fit in 16 MiB. With a size hint the
# space runs out when a segment is created; without, while it grows.
for how in write reserve write-nohint reserve-nohint; do
	run 2 "$H" write full 2 2 8m "$how"
	echo "$out" | grep -q 'rc=-28 ' || fail "expected -ENOSPC"
	[ "$(used_kib)" -le $((base + 64)) ] ||
	    fail "failed checkpoint left $(($(used_kib) - base)) KiB behind"
	run 0 "$H" verify full 1 2 2m full keep
done
# Once there is room again, checkpoints work and replace the old one.
run 0 "$H" write full 3 2 5m
run 0 "$H" verify full 3 2 5m stream finish
echo "enospc: passed (tmpfs 16 MiB, previous checkpoint intact)"
