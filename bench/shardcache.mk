# shardcache benchmarks (issue 5 part 9): restart with data, throughput
# and latency, memory per item, each against memcached (and Redis for
# restarts) measured in the same run; mcload is the load generator.
#   BENCH_GB=0.25 make bench-shardcache-restart    (small, while developing)
#   BENCH_RUNS=3 BENCH_SECS=10 make bench-shardcache-tput
#   BENCH_ITEMS=1000000 make bench-shardcache-mem
#   BENCH_PLOT_SIZES="0.25 1 2 4 8" make bench-shardcache-plot (waits for
#   free memory before each point; BENCH_PLOT_SYSTEMS, BENCH_PLOT_MERGE=1)

MCLOAD		:= $(B)/mcload

$(MCLOAD): $(B)/bench/mcload.o
	$(CC) $(ALL_LDFLAGS) -o $@ $< -lm

BINS		+= $(MCLOAD)

SC_BENCH_DEPS	:= $(B)/shardcache $(B)/shmsupervise $(B)/shmctl $(MCLOAD)
SC_BENCH_ENV	:= B=$(B) SRC=$(CURDIR)

bench-shardcache-restart: $(SC_BENCH_DEPS)
	$(SC_BENCH_ENV) python3 bench/bench_shardcache.py restart

bench-shardcache-tput: $(SC_BENCH_DEPS)
	$(SC_BENCH_ENV) python3 bench/bench_shardcache.py tput

bench-shardcache-mem: $(SC_BENCH_DEPS)
	$(SC_BENCH_ENV) python3 bench/bench_shardcache.py mem

bench-shardcache-plot: $(SC_BENCH_DEPS)
	$(SC_BENCH_ENV) python3 bench/bench_shardcache.py plot

BENCHES		+= bench-shardcache-restart bench-shardcache-tput \
		   bench-shardcache-mem
.PHONY: bench-shardcache-restart bench-shardcache-tput bench-shardcache-mem \
	bench-shardcache-plot
