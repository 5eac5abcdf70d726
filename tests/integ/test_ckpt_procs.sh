#!/bin/sh
# test_ckpt_procs: checkpoint in one process, adopt in another, through
# helper_kv_state (a pattern checkpoint whose every byte is checked).
# Covers keep/finish, all three verify levels, write and reserve/commit,
# generations replacing each other, and sizes that are not page multiples.
set -eu
H=${B:-build}/tests/integ/helper_kv_state
[ -x "$H" ] || { echo "FAIL: $H not built"; exit 1; }
. "${SRC:-.}/tests/integ/helper_kv.sh"
gen() { echo "$out" | sed -n 's/.*gen=\([0-9]*\).*/\1/p'; }

# One process writes, another adopts and keeps, a third adopts and finishes.
run 0 "$H" write procs 1 3 1m
g1=$(gen)
run 0 "$H" verify procs 1 3 1m full keep
[ "$(gen)" = "$g1" ] || fail "adopted generation $(gen), committed $g1"
run 0 "$H" verify procs 1 3 1m stream finish
[ "$(files procs)" -eq 0 ] || fail "finish left $(files procs) files"
run 2 "$H" verify procs 1 3 1m full
echo "$out" | grep -q 'rc=-4100' || fail "expected SHMS_ENOSTATE after finish"

# A newer checkpoint replaces the older one, whatever the writing call.
run 0 "$H" write procs 2 2 64k reserve
g2=$(gen)
run 0 "$H" write procs 3 2 64k write
g3=$(gen)
[ "$g3" -gt "$g2" ] || fail "generation $g3 after $g2"
[ "$(files procs)" -eq 2 ] || fail "$(files procs) files, expected 2"
run 0 "$H" verify procs 3 2 64k header abort
run 3 "$H" verify procs 2 2 64k full abort

# Sizes that are not page or chunk multiples, down to one word.
run 0 "$H" write odd 4 1 8
run 0 "$H" verify odd 4 1 8 stream finish
run 0 "$H" write odd 5 5 12296 reserve
run 0 "$H" verify odd 5 5 12296 full finish

# Bigger segments than a chunk, several of them, streamed.
run 0 "$H" write big 6 4 8m
run 0 "$H" verify big 6 4 8m stream finish
echo "procs: all passed"
