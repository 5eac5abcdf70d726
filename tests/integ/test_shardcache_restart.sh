#!/bin/sh
# shardcache: restarts in copy and adopt modes, expiry across restarts,
# re-sharding, smaller -m, corruption, kill -9, eviction.
python3 "$SRC/tests/integ/test_shardcache_restart.py" copy || exit 1
exec python3 "$SRC/tests/integ/test_shardcache_restart.py" adopt
