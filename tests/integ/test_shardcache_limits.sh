#!/bin/sh
# shardcache: bounds under misbehaving clients (see the .py).
exec python3 "$SRC/tests/integ/test_shardcache_limits.py"
