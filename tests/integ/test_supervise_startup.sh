#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_startup.
exec python3 "$SRC/tests/integ/supervise.py" startup
