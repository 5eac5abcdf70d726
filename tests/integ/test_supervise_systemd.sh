#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_systemd.
exec python3 "$SRC/tests/integ/supervise.py" systemd
