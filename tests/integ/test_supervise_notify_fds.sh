#!/bin/sh
# shmsupervise: fds passed with bad notify datagrams are closed, never kept:
# see tests/integ/supervise.py case_notify_fds.
exec python3 "$SRC/tests/integ/supervise.py" notify_fds
