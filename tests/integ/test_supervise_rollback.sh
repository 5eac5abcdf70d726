#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_rollback.
exec python3 "$SRC/tests/integ/supervise.py" rollback
