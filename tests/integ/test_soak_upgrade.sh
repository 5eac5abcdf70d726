#!/bin/sh
# The short upgrade soak (make soak is the long one): 64 MiB, 50
# connections, 10 upgrades between two builds, 2 kill -9.
SOAK_MB=${SOAK_MB:-64} SOAK_UPGRADES=${SOAK_UPGRADES:-10} \
SOAK_CRASHES=${SOAK_CRASHES:-2} \
    exec python3 "$SRC/tests/integ/test_soak_upgrade.py"
