# Connection handoff benchmark (issue 6 part 6): the longest gap between
# two replies on any of 50 persistent connections during an upgrade, and
# errors, for shardcache (adopt, connections handed over) and memcached
# 1.6's warm restart (-e, SIGUSR1; its clients reconnect), in one run.
#   BENCH_HANDOFF_MB=64 make bench-handoff    (small, while developing)
# Default 3072 MiB of 1 KiB values: needs ~8 GiB free (one system at a
# time). memcached: apt-get install memcached.

bench-handoff: $(B)/shmsupervise $(B)/shmctl $(B)/shardcache $(B)/mcload
	B=$(B) python3 bench/bench_handoff.py

BENCHES		+= bench-handoff
.PHONY: bench-handoff
