"""Connection handoff (issue 6): client connections to shardcache under
shmsupervise survive upgrades. Real processes, loopback, bounded waits.
    test_shardcache_handoff.py [CASE...]   (all by default)"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardcache_lib import B, BIN, Conn, check, done, _live  # noqa: E402

SUP = os.path.join(B, "shmsupervise")
CTL = os.path.join(B, "shmctl")
TMP = tempfile.mkdtemp(prefix="handoff-test.")
MODE = os.environ.get("HANDOFF_MODE", "adopt")


def ctl(*args):
    return subprocess.run([CTL] + list(args), capture_output=True,
                          text=True, timeout=120)


def script(name, body):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


class Sup:
    """shmsupervise running shardcache on a free loopback port."""

    def __init__(self, tag, opts=()):
        self.name = "ho-%s-%d" % (tag, os.getpid())
        log = os.path.join(B, "test-logs", self.name + ".log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        self.p = subprocess.Popen(
            [SUP, "--name", self.name, "--listen", "tcp:127.0.0.1:0",
             "--ready-timeout", "10", "--stop-timeout", "10"] + list(opts) +
            ["--", os.path.abspath(BIN), "-t", "2", "-m", "64", "-c", "4096",
             "--state", MODE, "--service", self.name],
            stdout=open(log, "a"), stderr=subprocess.STDOUT)
        _live.append(self.p)
        st = {}
        end = time.time() + 20
        while time.time() < end:
            st = self.status()
            if st.get("state") == "ready":
                break
            time.sleep(0.05)
        check("%s: ready" % tag, st.get("state"), "ready")
        self.port = int(st["listen"][0].rsplit(":", 1)[1])

    def status(self):
        p = ctl("status", self.name, "--json")
        try:
            return json.loads(p.stdout) if p.returncode == 0 else {}
        except ValueError:
            return {}

    def upgrade(self, binary=None):
        args = ["upgrade", self.name] + (["--binary", binary] if binary
                                         else [])
        return ctl(*args)

    def nfds(self):
        return len(os.listdir("/proc/%d/fd" % self.p.pid))

    def no_leak(self, base, timeout=3.0):
        """fd count back to base: a leak stays, a closing pipe does not."""
        end = time.time() + timeout
        while self.nfds() > base and time.time() < end:
            time.sleep(0.05)
        return self.nfds() <= base

    def stop(self):
        ctl("stop", self.name)
        try:
            return self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return None


def value(i):
    return b"v%06d" % i


def case_persistent():
    """One connection, a request always in flight, 20 upgrades."""
    s = Sup("persist")
    c = Conn(s.port, timeout=10)
    stop = threading.Event()
    res = {"ok": 0, "bad": [], "err": None}

    def run():
        i = 0
        try:
            while not stop.is_set():
                k = b"p%d" % (i % 500)
                c.send(b"set " + k + b" 0 0 7\r\n" + value(i) + b"\r\n")
                if c.line() != b"STORED\r\n":
                    res["bad"].append(("set", i))
                c.send(b"get " + k + b"\r\n")
                want = b"VALUE " + k + b" 0 7\r\n" + value(i) + b"\r\nEND\r\n"
                got = c.recv_exact(len(want), timeout=10)
                if got != want:
                    res["bad"].append((i, got[:60]))
                    return
                res["ok"] += 1
                i += 1
        except Exception as e:  # noqa: BLE001 - any failure is an error
            res["err"] = repr(e)

    t = threading.Thread(target=run)
    t.start()
    pids, fails = {s.status().get("pid")}, []
    for _ in range(20):
        before = res["ok"]
        p = s.upgrade()
        if p.returncode != 0:
            fails.append(p.stdout + p.stderr)
        pids.add(s.status().get("pid"))
        end = time.time() + 5
        while res["ok"] < before + 20 and time.time() < end and \
                res["err"] is None:
            time.sleep(0.005)
    stop.set()
    t.join(20)
    check("persistent: 20 upgrades ok", fails, [])
    check("persistent: a new process each time", len(pids), 21)
    check("persistent: no connection error", res["err"], None)
    check("persistent: every reply correct", res["bad"], [])
    check("persistent: requests kept flowing (%d)" % res["ok"],
          res["ok"] > 400, True)
    st = s.status()
    check("persistent: status handoff_taken 1", st.get("handoff_taken"), 1)
    c.send(b"stats shmstate\r\n")
    txt = c.recv_until(b"END\r\n")
    check("persistent: stats shmstate handoff_conns_taken 1",
          b"STAT handoff_conns_taken 1\r\n" in txt, True)
    c.close()
    check("persistent: supervisor stops cleanly", s.stop(), 0)


def case_idle1000():
    """1000 idle connections, all usable after an upgrade; no fd leak."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    s = Sup("idle")
    fds0 = s.nfds()
    conns = [Conn(s.port, timeout=10) for _ in range(1000)]
    for c in conns:
        c.send(b"version\r\n")
    ok = sum(1 for c in conns if c.line().startswith(b"VERSION"))
    check("idle: 1000 connections answer before", ok, 1000)
    p = s.upgrade()
    check("idle: upgrade ok", p.returncode, 0)
    st = s.status()
    check("idle: 1000 handed over", st.get("handoff_handed"), 1000)
    check("idle: 1000 taken back", st.get("handoff_taken"), 1000)
    check("idle: 0 closed", st.get("handoff_closed"), 0)
    bad = 0
    for i, c in enumerate(conns):
        try:
            c.send(b"set i%d 0 0 1\r\nx\r\nget i%d\r\n" % (i, i))
            if c.recv_until(b"END\r\n") != (b"STORED\r\nVALUE i%d 0 1\r\n"
                                           b"x\r\nEND\r\n" % i):
                bad += 1
        except (OSError, EOFError, TimeoutError):
            bad += 1
    check("idle: all 1000 usable after the upgrade", bad, 0)
    for c in conns:
        c.s.close()
    time.sleep(0.3)
    check("idle: supervisor holds no fd more than before (%d)" % fds0,
          s.no_leak(fds0), True)
    check("idle: supervisor stops cleanly", s.stop(), 0)


def case_split():
    """A request split across the switch; pipelined requests too."""
    s = Sup("split")
    c = Conn(s.port)
    c.send(b"set sk 0 0 3\r\nabc\r\nset sk2 0 0 3\r\ndef\r\n")
    check("split: set", c.recv_exact(16), b"STORED\r\nSTORED\r\n")
    c.send(b"get s")
    p = s.upgrade()
    check("split: upgrade ok", p.returncode, 0)
    c.send(b"k\r\n")
    check("split: the request completed by the new binary",
          c.recv_until(b"END\r\n"), b"VALUE sk 0 0 3\r\nabc\r\nEND\r\n"
          .replace(b" 0 0 3", b" 0 3"))
    # Pipelined: two whole requests and the start of a third.
    d = Conn(s.port)
    d.send(b"get sk\r\nget sk2\r\nget s")
    time.sleep(0.05)
    p = s.upgrade()
    check("pipelined: upgrade ok", p.returncode, 0)
    d.send(b"k2\r\n")
    out = b"".join(d.recv_until(b"END\r\n") for _ in range(3))
    check("pipelined: three replies in order", out,
          b"VALUE sk 0 3\r\nabc\r\nEND\r\nVALUE sk2 0 3\r\ndef\r\nEND\r\n"
          b"VALUE sk2 0 3\r\ndef\r\nEND\r\n")
    # A value being sent across the switch: half of it, then the rest.
    d.send(b"set big 0 0 10\r\n01234")
    time.sleep(0.05)
    th = threading.Thread(target=s.upgrade)
    th.start()
    time.sleep(0.1)
    d.send(b"56789\r\n")
    th.join(30)
    check("value across the switch stored", d.line(), b"STORED\r\n")
    check("value across the switch intact", d.get(b"big"), b"0123456789")
    # A client that closes during the switch.
    e = Conn(s.port)
    e.send(b"get s")
    th = threading.Thread(target=s.upgrade)
    th.start()
    e.s.close()
    th.join(30)
    check("closing client: server still serves", c.get(b"sk"), b"abc")
    check("split: supervisor stops cleanly", s.stop(), 0)


def case_rollback():
    """A failing new binary: the connections go back to the old one."""
    s = Sup("rb")
    c = Conn(s.port)
    c.send(b"set rk 0 0 2\r\nok\r\n")
    check("rollback: set", c.line(), b"STORED\r\n")
    bad = script("bad", "echo failing on purpose >&2\nexit 3")
    c.send(b"get r")
    p = s.upgrade(bad)
    print(p.stdout.split("\n")[0], p.stderr.strip()[:200])
    check("rollback: upgrade reported failed", p.returncode != 0, True)
    st = s.status()
    check("rollback: result rolled-back", st.get("last_result"),
          "rolled-back")
    c.send(b"k\r\n")
    check("rollback: the connection works with the old binary",
          c.recv_until(b"END\r\n"), b"VALUE rk 0 2\r\nok\r\nEND\r\n")
    check("rollback: taken back", st.get("handoff_taken"), 1)
    check("rollback: supervisor stops cleanly", s.stop(), 0)


def case_limit():
    """Over --max-handoff-conns: closed cleanly and counted."""
    s = Sup("limit", ["--max-handoff-conns", "5"])
    conns = [Conn(s.port) for _ in range(12)]
    for c in conns:
        c.send(b"version\r\n")
        c.line()
    p = s.upgrade()
    check("limit: upgrade done", p.returncode, 0)
    st = s.status()
    check("limit: 12 handed", st.get("handoff_handed"), 12)
    check("limit: 7 over the limit", st.get("handoff_over_limit"), 7)
    check("limit: 5 taken", st.get("handoff_taken"), 5)
    check("limit: 7 closed", st.get("handoff_closed"), 7)
    alive = closed = 0
    for c in conns:
        try:
            c.send(b"version\r\n")
            if c.line().startswith(b"VERSION"):
                alive += 1
        except (OSError, EOFError, TimeoutError):
            closed += 1
    check("limit: 5 connections still served", alive, 5)
    check("limit: 7 saw their connection end", closed, 7)
    check("limit: supervisor stops cleanly", s.stop(), 0)


def case_nottaken():
    """A new binary that is ready but does not take its connections."""
    s = Sup("nt")
    fds0 = s.nfds()
    c = Conn(s.port)
    c.send(b"version\r\n")
    c.line()
    py = os.path.join(TMP, "ready_only.py")
    with open(py, "w") as f:
        f.write("import os, socket, time\n"
                "a = os.environ['NOTIFY_SOCKET']\n"
                "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                "s.sendto(b'READY=1', a)\n"
                "time.sleep(30)\n")
    nt = script("ready_only", "exec python3 %s" % py)
    p = s.upgrade(nt)
    print(p.stdout.split("\n")[0], p.stderr.strip()[:200])
    st = s.status()
    check("not taken: upgrade reported degraded", st.get("last_result"),
          "degraded")
    check("not taken: counted closed", st.get("handoff_closed"), 1)
    check("not taken: the client sees its connection end", c.closed(5),
          True)
    check("not taken: status text names it",
          "closed 1" in ctl("status", s.name).stdout, True)
    p = s.upgrade(os.path.abspath(BIN))
    check("not taken: back to shardcache", p.returncode, 0)
    check("not taken: no fd leak in the supervisor",
          s.no_leak(fds0), True)
    check("not taken: supervisor stops cleanly", s.stop(), 0)


FAKE = r"""
import os, signal, socket, sys, time, fcntl
a = os.environ["NOTIFY_SOCKET"]
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.connect(a)
lst = socket.socket(fileno=3)
# O_NONBLOCK lives on the shared open file description: the previous
# child (shardcache) left it set.
lst.setblocking(True)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
n.send(b"READY=1")
peer = lst.accept()[0]
signal.sigwait([signal.SIGTERM])
r, w = os.pipe()
unsealed = os.memfd_create("x")
os.write(unsealed, b"SHMSHOFF" + b"\0" * 24)
big = os.memfd_create("y", os.MFD_ALLOW_SEALING)
os.write(big, b"\0" * 4096)
fcntl.fcntl(big, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW |
            fcntl.F_SEAL_SHRINK)
socket.send_fds(n, [b"FDSTORE=1\nFDNAME=shms-conn"], [r, peer.fileno()])
socket.send_fds(n, [b"FDSTORE=1\nFDNAME=shms-blob"], [unsealed])
socket.send_fds(n, [b"FDSTORE=1\nFDNAME=shms-blob"], [big])
socket.send_fds(n, [b"READY=1"], [w])
n.send(b"X_SHMS_CHECKPOINT_US=1")
sys.exit(0)
"""


def case_badfds():
    """A child hands over a pipe, an unsealed blob, a blob over the limit
    and an fd without FDSTORE=1: refused and closed, the socket it handed
    without state closed by the next child; nothing leaks."""
    py = os.path.join(TMP, "fake.py")
    with open(py, "w") as f:
        f.write(FAKE)
    fake = script("fake", "exec python3 %s" % py)
    s = Sup("bad", ["--max-handoff-blob", "1000"])
    fds0 = s.nfds()
    p = s.upgrade(fake)
    check("badfds: upgrade to the fake child", p.returncode, 0)
    c = Conn(s.port)
    time.sleep(0.2)
    p = s.upgrade(os.path.abspath(BIN))
    check("badfds: upgrade back to shardcache", p.returncode, 0)
    if p.returncode != 0:
        print(p.stdout, p.stderr)
    st = s.status()
    check("badfds: 3 refused (pipe, unsealed blob, blob over the limit)",
          st.get("handoff_refused"), 3)
    check("badfds: the socket handed over", st.get("handoff_handed"), 1)
    check("badfds: closed by shardcache (no state for it)",
          c.closed(5), True)
    check("badfds: nothing held", st.get("handoff_held"), 0)
    d = Conn(s.port)
    d.send(b"version\r\n")
    check("badfds: shardcache serves", d.line().startswith(b"VERSION"),
          True)
    d.close()
    time.sleep(0.2)
    check("badfds: no fd leak in the supervisor (%d)" % fds0,
          s.no_leak(fds0), True)
    check("badfds: supervisor stops cleanly", s.stop(), 0)


CASES = {
    "persistent": case_persistent,
    "idle1000": case_idle1000,
    "split": case_split,
    "rollback": case_rollback,
    "limit": case_limit,
    "nottaken": case_nottaken,
    "badfds": case_badfds,
}

for name in (sys.argv[1:] or list(CASES)):
    CASES[name]()
done()
