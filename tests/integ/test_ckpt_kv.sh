#!/bin/sh
# test_ckpt_kv: the kv demo (examples/kv) across execv and across two
# processes, an incompatible build starting cold, and a failed exec
# leaving an adoptable checkpoint behind.
set -eu
KV=${B:-build}/kv
[ -x "$KV" ] || { echo "FAIL: $KV not built"; exit 1; }
. "${SRC:-.}/tests/integ/helper_kv.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run 0 "$KV" -h
has "usage: kv"
run 1 "$KV" --no-such-option
run 1 "$KV" -n 0

# Checkpoint, exec itself, adopt (streaming reads), verify.
run 0 "$KV" -n 20000 -s 3
has "kv: exec "
has "kv: 20000 entries verified after exec"
[ "$(files kv-demo)" -eq 0 ] || fail "adopted checkpoint left behind"

# The same, adopting by parsing the mapping (full verify at open).
run 0 "$KV" -n 20000 -s 1 --map
has "kv: 20000 entries verified after exec"

# Exec another binary: "the newer build".
cp "$KV" "$tmp/kv-new"
run 0 "$KV" -n 5000 -s 2 -S kv-upgrade --exec "$tmp/kv-new"
has "exec $tmp/kv-new --adopt"
has "kv: 5000 entries verified after exec"

# Across two processes: checkpoint and exit; adopt later.
run 0 "$KV" -n 5000 --no-exec -S kv-restart
[ "$(files kv-restart)" -eq 2 ] || fail "expected 2 segments"
run 0 "$KV" --adopt -n 5000 -S kv-restart
has "kv: 5000 entries verified after restart"

# An incompatible build refuses the checkpoint, starts cold, and leaves it
# for the old build (a rollback) to adopt.
run 0 "$KV" -n 5000 --no-exec -S kv-compat
run 0 "$KV" --adopt -n 5000 -S kv-compat --layout-version 2
has "layout version mismatch"
has "starting cold"
has "kv: cold start: loaded 5000 entries"
[ "$(files kv-compat)" -eq 2 ] || fail "cold start removed the checkpoint"
run 0 "$KV" --adopt -n 5000 -S kv-compat
has "verified after restart"

# The same across exec: this image writes v2, the exec'd one reads v1.
run 0 "$KV" -n 2000 -S kv-exec-compat --layout-version 2
has "this build reads kv-demo v1"
has "kv: cold start: loaded 2000 entries"

# Nothing to adopt: cold start.
run 0 "$KV" --adopt -n 100 -S kv-empty
has "no committed checkpoint"
has "kv: cold start"

# The verification is real: another seed means other values.
run 0 "$KV" -n 1000 --no-exec -S kv-seed
run 1 "$KV" --adopt -n 1000 --seed 2 -S kv-seed
has "wrong value"

# A failed exec leaves the committed checkpoint adoptable.
run 1 "$KV" -n 3000 -S kv-noexec --exec "$tmp/does-not-exist"
has "execv"
run 0 "$KV" --adopt -n 3000 -S kv-noexec
has "kv: 3000 entries verified"

# Pages released while adopting: that checkpoint cannot be adopted twice,
# even when kept.
run 0 "$KV" -n 3000 --no-exec -S kv-twice
run 0 "$KV" --adopt -n 3000 --keep -S kv-twice
run 1 "$KV" --adopt -n 3000 -S kv-twice
echo "kv: all passed"
