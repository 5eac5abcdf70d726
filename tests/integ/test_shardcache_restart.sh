#!/bin/sh
# shardcache: copy-mode restarts, expiry across restarts, eviction.
exec python3 "$SRC/tests/integ/test_shardcache_restart.py"
