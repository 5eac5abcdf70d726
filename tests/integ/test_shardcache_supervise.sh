#!/bin/sh
# shardcache under shmsupervise: 20 upgrades under load, adopt and copy modes.
python3 "$SRC/tests/integ/test_shardcache_supervise.py" adopt || exit 1
exec python3 "$SRC/tests/integ/test_shardcache_supervise.py" copy
