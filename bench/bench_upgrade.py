#!/usr/bin/env python3
"""Upgrade benchmark: shmsupervise upgrading examples/kvd, in copy mode
(checkpoint at stop, adopt by copying back) or, with
BENCH_UPGRADE_MODE=arena, with kvd's table in an arena (kvd -A: sealed at
stop, adopted in place).

Fills kvd with BENCH_UPGRADE_MB MiB of values (1 KiB each), then upgrades
it BENCH_UPGRADE_RUNS times to the same binary while probe clients send
requests back to back, and prints `name: value unit' lines:
  - each phase as the supervisor measured it (stop incl. the service's
    checkpoint, exec, ready incl. its adopt), the service's own
    checkpoint and adopt, and the supervisor overhead (everything but
    the service's checkpoint and adopt), median over the runs;
  - the longest gap a client saw between two answered requests, and
    refused connections (must be 0).
Environment: B (build dir), BENCH_UPGRADE_MB (default 1024; 0 measures
the supervisor with an empty service), BENCH_UPGRADE_RUNS (default 3).
"""
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

B = os.path.abspath(os.environ.get("B", "build"))
MB = int(os.environ.get("BENCH_UPGRADE_MB", "1024"))
MODE = os.environ.get("BENCH_UPGRADE_MODE", "copy")
RUNS = int(os.environ.get("BENCH_UPGRADE_RUNS", "3"))
VALUE = 1000                       # + key and record header: ~1 KiB
STATE = tempfile.mkdtemp(prefix="shmstate-bench-upgrade.", dir="/dev/shm")
NAME = "kvd-bench"


def ctl(*words, timeout=600):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(os.path.join(STATE, NAME, "control.sock"))
    s.sendall((" ".join(words) + "\n").encode())
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    lines = out.decode().split("\n")
    kv = {}
    for l in lines[1:]:
        if " " in l:
            k, v = l.split(" ", 1)
            kv.setdefault(k, v)
    return lines[0], kv


class Probe(threading.Thread):
    """Back-to-back `get' requests; persistent or one connection each."""

    def __init__(self, port, persistent):
        super().__init__(daemon=True)
        self.port, self.persistent = port, persistent
        self.stop = threading.Event()
        self.refused = self.resent = 0
        self.gap = 0.0
        self.answered = 0

    def run(self):
        s = f = None
        last = time.monotonic()
        while not self.stop.is_set():
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", self.port),
                                                 timeout=60)
                    f = s.makefile("rwb")
                f.write(b"get k1\n")
                f.flush()
                line = f.readline()
            except ConnectionRefusedError:
                self.refused += 1
                s = None
                continue
            except OSError:
                line = b""
            if line.startswith((b"VALUE", b"NOTFOUND")):
                now = time.monotonic()
                # From the first answer on: not the thread's start-up.
                if self.answered > 0:
                    self.gap = max(self.gap, now - last)
                last = now
                self.answered += 1
            else:
                self.resent += 1
            if not line or not self.persistent:
                if s is not None:
                    s.close()
                s = None


def main():
    env = dict(os.environ, SHMSTATE_DIR=STATE)
    log = open(os.path.join(STATE, "sup.log"), "w")
    sup = subprocess.Popen([os.path.join(B, "shmsupervise"), "--name", NAME,
                            "--listen", "tcp:127.0.0.1:0",
                            "--ready-timeout", "600",
                            "--stop-timeout", "600", "--",
                            os.path.join(B, "kvd")] +
                           (["-A", "-M", str(max(4096, MB * 2))]
                            if MODE == "arena" else []),
                           env=env, stdout=log,
                           stderr=subprocess.STDOUT)
    try:
        for _ in range(500):
            try:
                first, st = ctl("status", timeout=5)
                if st.get("state") == "ready":
                    break
            except OSError:
                pass
            time.sleep(0.01)
        port = int(st["listen"].rsplit(":", 1)[1])
        n = MB * 1024 * 1024 // 1024
        t = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port), timeout=600)
        s.sendall(b"fill %d %d k\n" % (n, VALUE))
        s.makefile("rb").readline()
        s.close()
        print("mode: %s" % MODE)
        print("state_entries: %d" % n)
        print("state_size: %d MiB" % MB)
        print("fill_time: %.0f ms" % ((time.monotonic() - t) * 1000))
        keys = ("stop_ms", "checkpoint_ms", "exec_ms", "ready_ms",
                "adopt_ms", "total_ms", "overhead_ms")
        res = {k: [] for k in keys}
        gaps, refused, resent = [], 0, 0
        for i in range(RUNS):
            probes = [Probe(port, True), Probe(port, False)]
            for p in probes:
                p.start()
            time.sleep(0.3)
            first, r = ctl("upgrade")
            if not first.startswith("ok"):
                print("upgrade failed: %s" % first, file=sys.stderr)
                sys.exit(1)
            time.sleep(0.3)
            for p in probes:
                p.stop.set()
            for p in probes:
                p.join(60)
            for k in keys:
                res[k].append(float(r[k]))
            gaps.append(max(p.gap for p in probes) * 1000)
            refused += sum(p.refused for p in probes)
            resent += sum(p.resent for p in probes)
        for k in keys:
            print("%s_upgrade_%s: %.3f ms" % (MODE, k[:-3],
                  statistics.median(res[k])))
        print("%s_upgrade_overhead_max: %.3f ms" % (MODE,
              max(res["overhead_ms"])))
        print("%s_supervisor_own: %.3f ms" % (MODE, statistics.median(
            [res["total_ms"][i] - res["stop_ms"][i] - res["ready_ms"][i]
             - res["exec_ms"][i] for i in range(RUNS)])))
        print("%s_client_longest_gap: %.1f ms" % (MODE, max(gaps)))
        print("%s_client_refused: %d connections" % (MODE, refused))
        print("%s_client_resent: %d requests" % (MODE, resent))
        print("upgrade_runs: %d" % RUNS)
    finally:
        sup.terminate()
        try:
            sup.wait(600)
        except subprocess.TimeoutExpired:
            sup.kill()
        shutil.rmtree(STATE, ignore_errors=True)


if __name__ == "__main__":
    main()
