#!/bin/sh
# shardcache: client connections survive upgrades (connection handoff, see the .py).
exec python3 "$SRC/tests/integ/test_shardcache_handoff.py"
