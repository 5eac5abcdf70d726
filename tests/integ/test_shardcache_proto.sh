#!/bin/sh
# shardcache: memcached text protocol conformance (see the .py).
exec python3 "$SRC/tests/integ/test_shardcache_proto.py"
