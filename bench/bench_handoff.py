#!/usr/bin/env python3
"""Connection handoff benchmark (issue 6 part 6).

50 persistent connections, each with one `get' always in flight, against
a cache holding BENCH_HANDOFF_MB MiB of 1 KiB values; in the middle, an
upgrade. Measured per connection: the longest gap between two replies in
the upgrade window; errors (a reply missing, wrong, or a connection that
ended) and reconnects.
  - shardcache (adopt mode) under shmsupervise: `shmctl upgrade'; the
    connections are handed over, so the clients never reconnect.
  - memcached 1.6 warm restart: `-e' memory file on /dev/shm, SIGUSR1
    (graceful stop, state saved), then started again at once; its clients
    must reconnect (retrying every ms) and count an error per lost
    request.
Environment: B (build dir), BENCH_HANDOFF_MB (default 3072),
BENCH_HANDOFF_CONNS (50), BENCH_HANDOFF_SYSTEMS ("shardcache memcached").
Prints `name: value unit' lines.
"""
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

B = os.path.abspath(os.environ.get("B", "build"))
MB = int(os.environ.get("BENCH_HANDOFF_MB", "3072"))
NCONN = int(os.environ.get("BENCH_HANDOFF_CONNS", "50"))
SYSTEMS = os.environ.get("BENCH_HANDOFF_SYSTEMS",
                         "shardcache memcached").split()
VSIZE = 1024
NKEYS = MB * 1024 * 1024 // VSIZE
VAL = (b"0123456789abcdef" * (VSIZE // 16 + 1))[:VSIZE]
PRE_S, POST_S = 1.0, 1.0


def out(name, value, unit):
    print("%s: %s %s" % (name, value, unit), flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def fill(port):
    """NKEYS sets (noreply) on 4 connections, then one acknowledged."""
    t0 = time.time()
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    batch = []
    for i in range(NKEYS):
        batch.append(b"set k%d 0 0 %d noreply\r\n%s\r\n" % (i, VSIZE, VAL))
        if len(batch) == 256:
            socks[i % 4].sendall(b"".join(batch))
            batch = []
    if batch:
        socks[0].sendall(b"".join(batch))
    for s in socks:
        s.sendall(b"set fill_done 0 0 1\r\nx\r\n")
        buf = b""
        while not buf.endswith(b"STORED\r\n"):
            d = s.recv(65536)
            if not d:
                raise SystemExit("fill: connection closed")
            buf += d
        s.close()
    return time.time() - t0


class Client:
    """One persistent connection with one get in flight."""

    def __init__(self, port, idx):
        self.port, self.idx, self.n = port, idx, 0
        self.sock, self.buf, self.want = None, b"", None
        self.last = None
        self.connect()

    def connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), 5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = b""
        self.send()

    def send(self):
        k = (self.idx * 7919 + self.n * 104729) % NKEYS
        self.n += 1
        self.key = b"k%d" % k
        self.sock.sendall(b"get " + self.key + b"\r\n")


def run_load(port, trigger, is_done):
    """The event loop. trigger() once at PRE_S; runs until is_done() and
    POST_S after it. Returns (max gap ms in the window, errors,
    reconnects, replies, baseline max gap ms, hits)."""
    sel = selectors.DefaultSelector()
    cl = [Client(port, i) for i in range(NCONN)]
    for c in cl:
        sel.register(c.sock, selectors.EVENT_READ, c)
    t0 = time.monotonic()
    for c in cl:
        c.last = t0
    hit = b"VALUE "
    errors = reconnects = replies = hits = 0
    gap = base_gap = 0.0
    triggered_at = done_at = None
    dead = []
    while True:
        now = time.monotonic()
        if triggered_at is None and now - t0 >= PRE_S:
            triggered_at = now
            trigger()
        if triggered_at is not None and done_at is None and is_done():
            done_at = now
        if done_at is not None and now - done_at >= POST_S:
            break
        if now - t0 > 600:
            raise SystemExit("load: upgrade did not finish in 600 s")
        for c in list(dead):
            try:
                c.connect()
                sel.register(c.sock, selectors.EVENT_READ, c)
                reconnects += 1
                dead.remove(c)
            except OSError:
                pass
        for key, _ in sel.select(0.001 if dead else 0.05):
            c = key.data
            try:
                d = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if not d:
                errors += 1
                sel.unregister(c.sock)
                c.sock.close()
                dead.append(c)
                continue
            c.buf += d
            while True:
                # One reply: "END\r\n" or "VALUE k 0 1024\r\n<v>\r\nEND\r\n".
                if c.buf.startswith(b"END\r\n"):
                    c.buf = c.buf[5:]
                elif c.buf.startswith(hit):
                    want = b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (
                        c.key, VSIZE, VAL)
                    if len(c.buf) < len(want):
                        break
                    if not c.buf.startswith(want):
                        errors += 1
                    else:
                        hits += 1
                    c.buf = c.buf[len(want):]
                elif len(c.buf) >= 5:
                    errors += 1
                    c.buf = b""
                else:
                    break
                t = time.monotonic()
                g = (t - c.last) * 1000
                if triggered_at is None:
                    base_gap = max(base_gap, g)
                else:
                    gap = max(gap, g)
                c.last = t
                replies += 1
                try:
                    c.send()
                except OSError:
                    pass
    for c in cl:
        if c.sock:
            c.sock.close()
    return gap, errors, reconnects, replies, base_gap, hits


def bench_shardcache(tmp):
    name = "bench-handoff"
    env = dict(os.environ, SHMSTATE_DIR=tmp)
    log = open(os.path.join(tmp, "sup.log"), "a")
    port = free_port()
    sup = subprocess.Popen(
        [os.path.join(B, "shmsupervise"), "--name", name, "--listen",
         "tcp:127.0.0.1:%d" % port, "--ready-timeout", "300", "--",
         os.path.join(B, "shardcache"), "-t", "2", "-c", "4096",
         "-m", str(MB * 5 // 4 + 64), "--state", "adopt",
         "--service", name], env=env, stdout=log, stderr=log)
    try:
        if not wait_port(port):
            raise SystemExit("shardcache did not start")
        out("handoff_fill_shardcache_s", "%.1f" % fill(port), "s")
        up = {}

        def trigger():
            up["p"] = subprocess.Popen(
                [os.path.join(B, "shmctl"), "upgrade", name], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

        def is_done():
            return up["p"].poll() is not None

        gap, err, rec, n, base, hits = run_load(port, trigger, is_done)
        st = json.loads(subprocess.run(
            [os.path.join(B, "shmctl"), "status", name, "--json"], env=env,
            capture_output=True, text=True).stdout)
        out("handoff_shardcache_max_gap", "%.3f" % gap, "ms")
        out("handoff_shardcache_baseline_max_gap", "%.3f" % base, "ms")
        out("handoff_shardcache_errors", err, "requests")
        out("handoff_shardcache_reconnects", rec, "connections")
        out("handoff_shardcache_replies", n, "replies")
        out("handoff_shardcache_hit_rate", "%.4f" % (hits / max(n, 1)), "")
        out("handoff_shardcache_upgrade_total", st.get("last_total_ms"),
            "ms")
        for ph in ("stop", "checkpoint", "exec", "ready", "adopt"):
            out("handoff_shardcache_upgrade_%s" % ph,
                st.get("last_%s_ms" % ph), "ms")
        out("handoff_shardcache_conns_taken", st.get("handoff_taken"),
            "connections")
        out("handoff_shardcache_upgrade_result", st.get("last_result"), "")
        if st.get("last_result") not in ("ok",):
            print("upgrade: %s %s" % (st.get("last_reason"),
                                      st.get("last_stderr")), flush=True)
        return gap, err
    finally:
        subprocess.run([os.path.join(B, "shmctl"), "stop", name], env=env,
                       capture_output=True)
        try:
            sup.wait(120)
        except subprocess.TimeoutExpired:
            sup.kill()


def bench_memcached(tmp):
    mc = shutil.which("memcached")
    if mc is None:
        out("handoff_memcached_skipped", 1, "(apt-get install memcached)")
        return None, None
    memfile = "/dev/shm/bench-handoff-mc.%d" % os.getpid()
    port = free_port()
    argv = [mc, "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-t", "2",
            "-c", "4096", "-m", str(MB * 5 // 4 + 64), "-e", memfile]
    if os.geteuid() == 0:
        argv += ["-u", "root"]
    log = open(os.path.join(tmp, "mc.log"), "a")
    proc = {"p": subprocess.Popen(argv, stdout=log, stderr=log)}
    try:
        if not wait_port(port):
            raise SystemExit("memcached did not start")
        out("handoff_fill_memcached_s", "%.1f" % fill(port), "s")
        state = {"restarted": False}

        def trigger():
            proc["p"].send_signal(signal.SIGUSR1)
            state["t"] = time.monotonic()

        def is_done():
            # Restart as soon as the old one has saved and exited.
            if not state["restarted"]:
                if proc["p"].poll() is None:
                    return False
                proc["p"] = subprocess.Popen(argv, stdout=log, stderr=log)
                state["restarted"] = True
                return False
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        gap, err, rec, n, base, hits = run_load(port, trigger, is_done)
        out("handoff_memcached_max_gap", "%.3f" % gap, "ms")
        out("handoff_memcached_baseline_max_gap", "%.3f" % base, "ms")
        out("handoff_memcached_errors", err, "requests")
        out("handoff_memcached_reconnects", rec, "connections")
        out("handoff_memcached_replies", n, "replies")
        out("handoff_memcached_hit_rate", "%.4f" % (hits / max(n, 1)), "")
        return gap, err
    finally:
        if proc["p"].poll() is None:
            proc["p"].kill()
            proc["p"].wait()
        for f in (memfile,):
            try:
                os.unlink(f)
            except OSError:
                pass


def main():
    tmp = tempfile.mkdtemp(prefix="bench-handoff.", dir="/dev/shm")
    out("handoff_state", MB, "MiB")
    out("handoff_connections", NCONN, "connections")
    res = {}
    try:
        if "shardcache" in SYSTEMS:
            res["sc"] = bench_shardcache(tmp)
        if "memcached" in SYSTEMS:
            res["mc"] = bench_memcached(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if "sc" in res and res.get("mc", (None,))[0]:
        sc, mc = res["sc"][0], res["mc"][0]
        out("handoff_gap_ratio_memcached_over_shardcache",
            "%.1f" % (mc / sc if sc > 0 else float("inf")), "x")


if __name__ == "__main__":
    main()
