"""Upgrade soak (issue 7 part 3): shardcache under shmsupervise, filled
with SOAK_MB of data, a mixed get/set load on SOAK_CONNS persistent
connections, SOAK_UPGRADES upgrades alternating between two different
builds of the binary, and SOAK_CRASHES kill -9 of the child at random
moments.

Checked and printed as `name: value unit':
  - failed requests (wrong or error reply, no answer in 10 s); a request
    whose connection was closed before its answer is sent again on a new
    connection and counted as a reconnect, not a failure;
  - lost keys: every key acknowledged before an upgrade is read back,
    exactly, after it (the load is paused for the check; -m is sized so
    nothing is evicted and nothing expires);
  - after a kill -9 the server comes back and serves; what it serves is
    exactly what was written or absent (adopt mode refuses the dirty
    arenas, so the shard may start cold: by design), never garbage;
  - the supervisor's fds and VmRSS before and after: flat;
  - the longest time a client waited for an answer (reconnects included).
Environment: SOAK_MB (default 64), SOAK_CONNS (50), SOAK_UPGRADES (10),
SOAK_CRASHES (2), SOAK_SEED, SOAK_FULL_EVERY (full check of the bulk data
every N upgrades, default 1), SOAK_RSS_SLACK_KIB (1024), B, SHMSTATE_DIR.
"""
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import zlib

B = os.path.abspath(os.environ.get("B", "build"))
SUP = os.path.join(B, "shmsupervise")
CTL = os.path.join(B, "shmctl")
BINS = [os.path.join(B, "shardcache"), os.path.join(B, "shardcache-b")]
MB = int(os.environ.get("SOAK_MB", "64"))
CONNS = int(os.environ.get("SOAK_CONNS", "50"))
UPGRADES = int(os.environ.get("SOAK_UPGRADES", "10"))
CRASHES = int(os.environ.get("SOAK_CRASHES", "2"))
SEED = int(os.environ.get("SOAK_SEED", str(int(time.time()))))
FULL_EVERY = max(1, int(os.environ.get("SOAK_FULL_EVERY", "1")))
NAME = "soak-%d" % os.getpid()
VSIZE = 4000            # bulk values
HOT = 100               # keys each connection owns and rewrites
REQ_TIMEOUT = 10.0
# Growth of the supervisor's VmRSS tolerated (malloc arenas settling);
# a sanitizer's shadow memory needs more.
RSS_SLACK = int(os.environ.get("SOAK_RSS_SLACK_KIB", "1024"))
rng = random.Random(SEED)
FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def fig(name, value, unit):
    print("%s: %s %s" % (name, value, unit), flush=True)


def value(key, ver, size):
    """Self-describing: a value read back can be checked on its own."""
    head = b"%s:%d:" % (key, ver)
    seed = b"%08x" % zlib.crc32(head)
    body = (seed * (size // 8 + 1))[:max(0, size - len(head))]
    return head + body


def parse_value(key, data):
    """The version a value was written with, or None if it is garbage."""
    try:
        k, ver, _ = data.split(b":", 2)
        ver = int(ver)
    except ValueError:
        return None
    if k != key or value(key, ver, len(data)) != data:
        return None
    return ver


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(REQ_TIMEOUT)
        self.buf = bytearray()

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return out
            self.fill()

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def get_many(self, keys):
        self.s.sendall(b"get " + b" ".join(keys) + b"\r\n")
        return self.read_values()

    def read_values(self):
        """{key: data} for the keys present; raises ValueError on a
        malformed reply."""
        out = {}
        while True:
            ln = self.line()
            if ln == b"END":
                return out
            p = ln.split()
            if len(p) != 4 or p[0] != b"VALUE":
                raise ValueError(ln)
            data = self.exact(int(p[3]) + 2)
            if data[-2:] != b"\r\n":
                raise ValueError(data[-10:])
            out[p[1]] = data[:-2]

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def ctl(*args, timeout=120):
    return subprocess.run([CTL] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def status():
    p = ctl("status", NAME, "--json", timeout=10)
    try:
        return json.loads(p.stdout) if p.returncode == 0 else {}
    except ValueError:
        return {}


def fd_links(pid):
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return out


def proc_figures(pid, want=None):
    """fd count and VmRSS. With want, waits up to 3 s for the fd count to
    come back to it: a control connection being answered is not a leak."""
    deadline = time.monotonic() + 3
    while True:
        fds = len(os.listdir("/proc/%d/fd" % pid))
        if want is None or fds == want or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    rss = 0
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                rss = int(ln.split()[1])
    return fds, rss


class Model:
    """What the server must hold: key -> acknowledged version (None: may
    be absent) and, for a set whose answer never came, the version that
    may have landed instead."""

    def __init__(self):
        self.acked = {}
        self.pending = {}
        self.size = {}
        self.lock = threading.Lock()


class Worker(threading.Thread):
    def __init__(self, idx, port, model, bulk_keys, ctrl):
        super().__init__(daemon=True)
        self.idx, self.port, self.model = idx, port, model
        self.bulk = bulk_keys
        self.ctrl = ctrl
        self.rng = random.Random(SEED * 1000 + idx)
        self.mine = [b"h%d_%d" % (idx, i) for i in range(HOT)]
        self.ver = {k: 0 for k in self.mine}
        self.conn = None
        self.requests = self.failed = self.reconnects = self.garbage = 0
        self.gap = 0.0
        self.lat = []
        self.reconn_t = []      # when each reconnect happened
        self.slow = []          # (start, end) of requests over 20 ms

    def request(self, payload, parse):
        """Sends until answered; returns parse(conn) or None (failed)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3 * REQ_TIMEOUT:
            try:
                if self.conn is None:
                    self.conn = Conn(self.port)
                self.conn.s.sendall(payload)
                out = parse(self.conn)
                dt = time.monotonic() - t0
                self.gap = max(self.gap, dt)
                if len(self.lat) < 200000:
                    self.lat.append(dt)
                if dt > 0.02 and len(self.slow) < 100000:
                    self.slow.append((t0, t0 + dt))
                return out
            except (EOFError, ConnectionError, BrokenPipeError):
                # Closed under us (an upgrade or a crash): send again.
                self.reconnects += 1
                if len(self.reconn_t) < 100000:
                    self.reconn_t.append(time.monotonic())
                if self.conn:
                    self.conn.close()
                self.conn = None
                time.sleep(0.002)
            except (socket.timeout, ValueError) as e:
                print("request failed: %r" % (repr(e)[:80]), flush=True)
                break
            except OSError as e:
                print("request failed: %r" % (repr(e)[:80]), flush=True)
                break
        if self.conn:
            self.conn.close()
        self.conn = None
        self.gap = max(self.gap, time.monotonic() - t0)
        return None

    def do_set(self):
        k = self.rng.choice(self.mine)
        ver = self.ver[k] + 1
        size = self.rng.randrange(16, 2000)
        v = value(k, ver, size)
        with self.model.lock:
            self.model.pending[k] = ver
        payload = b"set %s %d 0 %d\r\n%s\r\n" % (k, ver, len(v), v)
        ln = self.request(payload, lambda c: c.line())
        self.requests += 1
        if ln == b"STORED":
            self.ver[k] = ver
            with self.model.lock:
                self.model.acked[k] = ver
                self.model.pending.pop(k, None)
        else:
            self.failed += 1
            if ln is not None:
                print("set %s: %r" % (k, ln[:40]), flush=True)

    def do_get(self):
        if self.rng.random() < 0.5 and self.bulk:
            k = self.rng.choice(self.bulk)
        else:
            k = b"h%d_%d" % (self.rng.randrange(CONNS),
                             self.rng.randrange(HOT))
        got = self.request(b"get %s\r\n" % k, lambda c: c.read_values())
        self.requests += 1
        if got is None:
            self.failed += 1
        elif k in got and parse_value(k, got[k]) is None:
            self.garbage += 1
            print("garbage for %s: %r" % (k, got[k][:60]), flush=True)

    def run(self):
        while self.ctrl.gate():
            if self.rng.random() < 0.3:
                self.do_set()
            else:
                self.do_get()
        if self.conn:
            self.conn.close()


class Ctrl:
    """Pauses the workers between requests, so checks see a quiet
    server."""

    def __init__(self, n):
        self.cv = threading.Condition()
        self.n, self.idle = n, 0
        self.paused = self.stopped = False

    def gate(self):
        with self.cv:
            if self.paused:
                self.idle += 1
                self.cv.notify_all()
                while self.paused:
                    self.cv.wait()
                self.idle -= 1
            return not self.stopped

    def pause(self):
        with self.cv:
            self.paused = True
            self.cv.wait_for(lambda: self.idle == self.n, 60)

    def resume(self):
        with self.cv:
            self.paused = False
            self.cv.notify_all()


def bulk_write(port, keys):
    c = Conn(port)
    batch = []
    for k in keys:
        v = value(k, 0, VSIZE)
        batch.append(b"set %s 0 0 %d noreply\r\n%s\r\n" % (k, len(v), v))
        if len(batch) >= 256:
            c.s.sendall(b"".join(batch))
            batch = []
    c.s.sendall(b"".join(batch))
    c.get_many([b"sync"])           # answered: everything before is done
    c.close()


def verify(port, model, keys, strict):
    """Reads keys back. strict: every key with an acknowledged version
    must hold it (or the pending one). Returns (lost, garbage, present)
    and brings the model up to what is there."""
    lost = garbage = 0
    present = {}
    c = Conn(port)
    for i in range(0, len(keys), 100):
        chunk = keys[i:i + 100]
        present.update(c.get_many(chunk))
    c.close()
    with model.lock:
        for k in keys:
            want = model.acked.get(k)
            pend = model.pending.get(k)
            if k in present:
                ver = parse_value(k, present[k])
                if ver is None or (ver != want and ver != pend):
                    garbage += 1
                    print("%s: %r (want version %s or %s)" %
                          (k, present[k][:60], want, pend), flush=True)
                    continue
                model.acked[k] = ver
            else:
                if strict and want is not None:
                    lost += 1
                    if lost <= 5:
                        print("lost %s (version %s)" % (k, want),
                              flush=True)
                model.acked[k] = None
            model.pending.pop(k, None)
    return lost, garbage, len(present)


def item_stats(port):
    c = Conn(port)
    c.s.sendall(b"stats\r\n")
    out = {}
    while True:
        ln = c.line()
        if ln == b"END":
            break
        p = ln.decode().split(" ", 2)
        out[p[1]] = p[2]
    c.close()
    return out


def main():
    t_start = time.monotonic()
    for b in BINS:
        check(os.access(b, os.X_OK), "binary %s" % b)
    check(open(BINS[0], "rb").read() != open(BINS[1], "rb").read(),
          "the two builds are different files")
    if FAILED:
        sys.exit(1)
    nbulk = MB * 1024 * 1024 // VSIZE
    bulk = [b"b%d" % i for i in range(nbulk)]
    mem = 2 * MB + 256
    print("seed %d; %d MiB in %d keys; -m %d; %d connections; %d upgrades; "
          "%d crashes" % (SEED, MB, nbulk, mem, CONNS, UPGRADES, CRASHES),
          flush=True)
    logpath = os.path.join(B, "test-logs", NAME + ".log")
    os.makedirs(os.path.dirname(logpath), exist_ok=True)
    sup = subprocess.Popen(
        [SUP, "--name", NAME, "--listen", "tcp:127.0.0.1:0",
         "--ready-timeout", "60", "--stop-timeout", "60",
         "--backoff-max", "0.5", "--max-restarts", "1000",
         "--", BINS[0], "-t", "2", "-m", str(mem), "-c", "4096",
         "--state", "adopt", "--service", NAME],
        stdout=open(logpath, "a"), stderr=subprocess.STDOUT)
    try:
        run(sup, bulk, mem)
    finally:
        if sup.poll() is None:
            ctl("stop", NAME)
            try:
                sup.wait(60)
            except subprocess.TimeoutExpired:
                sup.kill()
                sup.wait()
    fig("soak-duration", "%.1f" % (time.monotonic() - t_start), "s")
    if FAILED:
        print(open(logpath).read()[-4000:])
        print("%d check(s) failed" % len(FAILED))
        sys.exit(1)
    print("all passed")


def wait_ready(old_pid, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = status()
        if st.get("state") == "ready" and st.get("pid") not in (None, 0,
                                                                 old_pid):
            return st
        time.sleep(0.02)
    return None


def holders():
    """Who has the state's files open or mapped (after a failure)."""
    d = os.path.join(os.environ["SHMSTATE_DIR"], NAME)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = [os.readlink("/proc/%s/fd/%s" % (pid, f))
                   for f in os.listdir("/proc/%s/fd" % pid)]
            with open("/proc/%s/maps" % pid) as f:
                maps = {ln.split()[-1] for ln in f if d in ln}
        except OSError:
            continue
        fds = [x for x in fds if d in x]
        if fds or maps:
            print("  pid %s: open %s; mapped %s" % (
                pid, sorted(os.path.basename(x) for x in fds),
                sorted(os.path.basename(x) for x in maps)), flush=True)
    try:
        with open("/proc/locks") as f:
            print("  locks: %s" % " | ".join(
                ln.strip() for ln in f if "OFDLCK" in ln), flush=True)
    except OSError:
        pass


def run(sup, bulk, mem):
    st = wait_ready(None)
    if not check(st is not None, "ready under the supervisor"):
        return
    port = int(st["listen"][0].rsplit(":", 1)[1])
    model = Model()
    t = time.monotonic()
    bulk_write(port, bulk)
    for k in bulk:
        model.acked[k] = 0
    fig("soak-fill-time", "%.1f" % (time.monotonic() - t), "s")
    s0 = item_stats(port)
    check(int(s0.get("curr_items", 0)) == len(bulk) and
          s0.get("evictions") == "0",
          "filled: %s items, %s evictions" % (s0.get("curr_items"),
                                              s0.get("evictions")))
    fds0, rss0 = proc_figures(sup.pid)
    links0 = fd_links(sup.pid)

    ctrl = Ctrl(CONNS)
    workers = [Worker(i, port, model, bulk, ctrl) for i in range(CONNS)]
    hot = [k for w in workers for k in w.mine]
    for w in workers:
        w.start()
    crash_at = set(rng.sample(range(UPGRADES), min(CRASHES, UPGRADES)))
    up_ok = up_fail = crashes = back = 0
    lost = garbage = 0
    worst_up = 0.0
    kept_after_crash = []
    crash_windows = []          # from a kill -9 to just after READY
    for i in range(UPGRADES):
        time.sleep(rng.uniform(0.05, 0.4))
        pid = status().get("pid")
        t = time.monotonic()
        p = ctl("upgrade", NAME, "--binary", BINS[(i + 1) % 2])
        worst_up = max(worst_up, time.monotonic() - t)
        if p.returncode == 0 and wait_ready(pid, 10):
            up_ok += 1
        else:
            up_fail += 1
            print("upgrade %d: %s %s" % (i, p.stdout, p.stderr), flush=True)
            holders()
        # Every key acknowledged before the upgrade is there after it.
        ctrl.pause()
        full = (i + 1) % FULL_EVERY == 0 or i in crash_at
        keys = hot + (bulk if full else rng.sample(bulk, min(2000,
                                                             len(bulk))))
        lo, ga, _ = verify(port, model, keys, strict=True)
        lost += lo
        garbage += ga
        ctrl.resume()
        if i not in crash_at:
            continue
        # kill -9 at a random moment under load.
        time.sleep(rng.uniform(0.0, 0.5))
        pid = status().get("pid")
        t_kill = time.monotonic()
        os.kill(pid, 9)
        crashes += 1
        st = wait_ready(pid)
        crash_windows.append((t_kill, time.monotonic() + 0.5))
        if check(st is not None, "crash %d: back after kill -9" % crashes):
            back += 1
        ctrl.pause()
        # Exactly what was written, or absent; nothing else.
        _, ga, n = verify(port, model, hot + bulk, strict=False)
        garbage += ga
        kept_after_crash.append(n)
        if n < len(bulk):
            # Cold start: put the bulk data back so the upgrades that
            # follow still carry it.
            bulk_write(port, bulk)
            with model.lock:
                for k in bulk:
                    model.acked[k] = 0
        ctrl.resume()
    ctrl.pause()
    lo, ga, _ = verify(port, model, hot + bulk, strict=True)
    lost += lo
    garbage += ga
    ctrl.stopped = True
    ctrl.resume()
    for w in workers:
        w.join(30)
    fds1, rss1 = proc_figures(sup.pid, fds0)
    if fds1 != fds0:
        links1 = fd_links(sup.pid)
        print("supervisor fds before: %s" % sorted(links0.items()))
        print("supervisor fds after:  %s" % sorted(links1.items()))
    s1 = item_stats(port)

    req = sum(w.requests for w in workers)
    failed = sum(w.failed for w in workers)
    reconn = sum(w.reconnects for w in workers)
    garbage += sum(w.garbage for w in workers)
    lat = sorted(x for w in workers for x in w.lat)
    gap = max(w.gap for w in workers)

    def in_crash(a, b):
        return any(a < y and b > x for x, y in crash_windows)
    reconn_crash = sum(1 for w in workers for t in w.reconn_t
                       if in_crash(t, t))
    gap_up = max([b - a for w in workers for a, b in w.slow
                  if not in_crash(a, b)] or [0.0])
    fig("soak-data", MB, "MiB")
    fig("soak-connections", CONNS, "connections")
    fig("soak-upgrades", up_ok, "ok")
    fig("soak-upgrades-failed", up_fail, "upgrades")
    fig("soak-crashes", crashes, "kill-9")
    fig("soak-crash-recoveries", back, "restarts")
    fig("soak-keys-kept-after-crash", min(kept_after_crash)
        if kept_after_crash else "-", "keys")
    fig("soak-requests", req, "requests")
    fig("soak-failed-requests", failed, "requests")
    fig("soak-reconnects", reconn, "reconnects")
    fig("soak-reconnects-at-upgrades", reconn - reconn_crash, "reconnects")
    fig("soak-reconnects-at-crashes", reconn_crash, "reconnects")
    fig("soak-lost-keys", lost, "keys")
    fig("soak-garbage-values", garbage, "values")
    fig("soak-evictions", s1.get("evictions"), "items")
    fig("soak-supervisor-fds-before", fds0, "fds")
    fig("soak-supervisor-fds-after", fds1, "fds")
    fig("soak-supervisor-rss-before", rss0, "KiB")
    fig("soak-supervisor-rss-after", rss1, "KiB")
    fig("soak-longest-gap", "%.1f" % (gap * 1000), "ms")
    fig("soak-longest-gap-outside-crashes", "%.1f" % (gap_up * 1000), "ms")
    if lat:
        fig("soak-p99-latency", "%.2f" % (lat[len(lat) * 99 // 100] * 1000),
            "ms")
    fig("soak-slowest-upgrade", "%.1f" % (worst_up * 1000), "ms")
    check(up_fail == 0, "%d upgrades, all succeeded" % UPGRADES)
    check(back == crashes, "back and serving after each of %d crashes" %
          crashes)
    check(failed == 0, "0 failed requests (%d)" % failed)
    check(lost == 0, "0 keys lost across upgrades (%d)" % lost)
    check(garbage == 0, "0 garbage values (%d)" % garbage)
    check(s1.get("evictions") == "0", "nothing evicted")
    check(fds1 == fds0, "supervisor fds flat (%d, then %d)" % (fds0, fds1))
    check(rss1 - rss0 <= RSS_SLACK, "supervisor RSS flat (%d KiB, then %d KiB)"
          % (rss0, rss1))
    check(req > 1000, "the load kept going (%d requests)" % req)


if __name__ == "__main__":
    main()
