#!/bin/sh
# shmsupervise + kvd: see tests/integ/supervise.py case_control.
exec python3 "$SRC/tests/integ/supervise.py" control
