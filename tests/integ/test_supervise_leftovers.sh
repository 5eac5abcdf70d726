#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_leftovers.
exec python3 "$SRC/tests/integ/supervise.py" leftovers
