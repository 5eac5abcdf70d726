# valgrind memcheck on the tools (issue 7 part 6): shmctl's commands on
# real state, shmsupervise through start/upgrade/restart/stop, shardcache
# in copy and adopt mode; no error, no leak. Not in make check (slow:
# about a minute); .ci/run runs it.
#   make check-valgrind

check-valgrind: $(B)/shmctl $(B)/shmsupervise $(B)/shardcache
	@command -v valgrind >/dev/null || { echo "check-valgrind: needs" \
	    "valgrind (apt-get install valgrind)"; exit 1; }
	@B=$(B) sh scripts/run-tests.sh valgrind tests/valgrind/run-valgrind.sh

.PHONY: check-valgrind
