#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_crash.
exec python3 "$SRC/tests/integ/supervise.py" crash
