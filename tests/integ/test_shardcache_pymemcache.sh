#!/bin/sh
# shardcache with a real client (python3-pymemcache): randomized operations
# against a model, across restarts, in adopt and copy modes.
python3 "$SRC/tests/integ/test_shardcache_pymemcache.py" adopt || exit 1
exec python3 "$SRC/tests/integ/test_shardcache_pymemcache.py" copy
