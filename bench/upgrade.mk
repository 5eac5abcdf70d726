# Upgrade benchmark (issue 4 part 12): shmsupervise upgrading examples/kvd
# with BENCH_UPGRADE_MB MiB of state in copy mode and in arena mode, split
# by phase, with the longest gap a client sees and the supervisor overhead.
#   BENCH_UPGRADE_MB=64 make bench-upgrade    (small, while developing)

bench-upgrade: $(B)/shmsupervise $(B)/kvd
	B=$(B) BENCH_UPGRADE_MODE=copy python3 bench/bench_upgrade.py
	B=$(B) BENCH_UPGRADE_MODE=arena python3 bench/bench_upgrade.py

BENCHES		+= bench-upgrade
.PHONY: bench-upgrade
