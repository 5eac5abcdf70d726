#!/bin/sh
# shmsupervise + kvd -A (arena): see tests/integ/supervise.py case_arena.
exec python3 "$SRC/tests/integ/supervise.py" arena
