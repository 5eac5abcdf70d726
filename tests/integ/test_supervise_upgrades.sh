#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_upgrades.
exec python3 "$SRC/tests/integ/supervise.py" upgrades
