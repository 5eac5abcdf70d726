#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_impostor.
exec python3 "$SRC/tests/integ/supervise.py" impostor
