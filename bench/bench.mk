# Benchmarks (make bench): not tests. Each prints `name: value unit' lines.
# A benchmark adds a phony target to BENCHES; make bench runs them all.
#   BENCH_SIZES=256m BENCH_RUNS=3 make bench    (small, while developing)

BENCH_CKPT	:= $(B)/bench_ckpt

$(BENCH_CKPT): $(B)/bench/bench_ckpt.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHMS_LINK)

# Built by `make' too, so that it never rots between benchmark runs.
BINS		+= $(BENCH_CKPT)

# Copy mode: checkpoint/adopt throughput vs memcpy, peak memory
# (issue 2 part 12). Default sizes 1 GiB and 4 GiB: needs ~9 GiB free.
bench-ckpt: $(BENCH_CKPT)
	$(BENCH_CKPT)

BENCHES		+= bench-ckpt
.PHONY: bench-ckpt
