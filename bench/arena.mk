# Arenas: benchmark (issue 3 part 10) and the TSan run of the
# multithreaded arena tests (make tsan).
#   BENCH_ARENA_SIZES=256m make bench-arena    (small, while developing)

BENCH_ARENA	:= $(B)/bench_arena

$(BENCH_ARENA): $(B)/bench/bench_arena.o $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(SHMS_LINK)

BINS		+= $(BENCH_ARENA)

# Default sizes 256 MiB, 1 GiB, 4 GiB, 8 GiB; copy mode up to 4 GiB (it
# holds the state twice). Needs ~10 GiB free at the largest size.
bench-arena: $(BENCH_ARENA)
	$(BENCH_ARENA)

BENCHES		+= bench-arena

# make tsan: B=build/tsan TSAN=1 check-tsan. The threaded arena tests,
# under ThreadSanitizer (tests whose name contains "thread" or that
# exercise SHMS_ARENA_THREADSAFE).
TSAN_UNIT	:= $(B)/tests/unit/test_arena

check-tsan: $(TSAN_UNIT)
	@sh scripts/run-tests.sh tsan $(TSAN_UNIT)

.PHONY: bench-arena check-tsan

# gcc refuses atomic_thread_fence under -fsanitize=thread (-Wtsan); the
# fences in the library only order stores for other processes, so let
# the TSan build through with the warning off where the compiler has it.
ifneq ($(TSAN),)
WARNFLAGS	+= $(shell $(CC) -Werror -Wno-tsan -x c -c /dev/null \
		    -o /dev/null 2>/dev/null && echo -Wno-tsan)
endif
