#!/bin/sh
# shardcache: memcached text protocol conformance (see the .py), with the
# heap store (none; copy shares it) and with the arena store (adopt).
python3 "$SRC/tests/integ/test_shardcache_proto.py" none || exit 1
exec python3 "$SRC/tests/integ/test_shardcache_proto.py" adopt
