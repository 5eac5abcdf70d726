# ThreadSanitizer (issue 7 part 6): make tsan (B=build/tsan TSAN=1
# check-tsan) runs, besides the arena's threaded unit test (bench/arena.mk),
# every other test that runs threads: the checkpoint writers' threads
# (test_ckpt) and the threaded servers (shardcache's workers, kvd) under
# load, upgrades, handoff, the short soak and the limits (timeouts and
# 5000 connections: scans that take connections the workers serve). A
# race or a use-after-free stops the process (halt_on_error) and fails
# the test.

TSAN_MORE_UNIT	:= $(B)/tests/unit/test_ckpt
TSAN_MORE_INTEG	:= tests/integ/test_shardcache_proto.sh \
		   tests/integ/test_shardcache_supervise.sh \
		   tests/integ/test_shardcache_handoff.sh \
		   tests/integ/test_supervise_upgrades.sh \
		   tests/integ/test_soak_upgrade.sh \
		   tests/integ/test_shardcache_limits.sh

check-tsan: check-tsan-more

check-tsan-more: build-all $(TSAN_MORE_UNIT)
	@TSAN_OPTIONS="halt_on_error=1 exitcode=66 $${TSAN_OPTIONS:-}" \
	    SOAK_RSS_SLACK_KIB=65536 B=$(B) sh scripts/run-tests.sh tsan \
	    $(TSAN_MORE_UNIT) $(wildcard $(TSAN_MORE_INTEG))

.PHONY: check-tsan-more
