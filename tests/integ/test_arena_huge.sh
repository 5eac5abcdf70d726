#!/bin/sh
# test_arena_huge: an arena on a tmpfs mounted huge=always is 2 MiB
# aligned, grows in 2 MiB steps, is mapped with huge pages, and is adopted
# (with SHMS_ARENA_POPULATE) by another process across execv. Mounting
# needs root: skipped otherwise.
set -eu
H=${B:-build}/tests/integ/helper_arena
[ -x "$H" ] || { echo "FAIL: $H not built"; exit 1; }
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: mounting a huge=always tmpfs needs root"
	exit 0
fi
dir=$(mktemp -d /tmp/arena-huge.XXXXXX)
if ! mount -t tmpfs -o huge=always,size=128m,mode=0700 tmpfs "$dir"; then
	rmdir "$dir"
	echo "SKIP: cannot mount tmpfs -o huge=always here"
	exit 0
fi
trap 'umount "$dir"; rmdir "$dir"' EXIT
SHMSTATE_DIR=$dir "$H" huge
echo "PASS"
