#!/bin/sh
# shardcache x3 behind twemproxy (ketama), rolling upgrade under load.
command -v nutcracker >/dev/null 2>&1 ||
    { echo "missing nutcracker: apt-get install nutcracker"; exit 1; }
exec python3 "$SRC/tests/integ/test_shardcache_twemproxy.py"
