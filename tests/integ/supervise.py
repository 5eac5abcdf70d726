#!/usr/bin/env python3
"""Integration tests of shmsupervise(8) wrapping examples/kvd.

Real processes, real sockets, loopback only, every wait bounded.
    supervise.py CASE...      (see CASES at the end)
Environment: B (build dir), SHMSTATE_DIR (private state root, set by
scripts/run-tests.sh). Prints one line per check; exits 1 on a failure.
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

B = os.path.abspath(os.environ.get("B", "build"))
SUP = os.path.join(B, "shmsupervise")
KVD = os.path.join(B, "kvd")
STATE = os.environ["SHMSTATE_DIR"]
TMP = tempfile.mkdtemp(prefix="sup-test.")
FAILED = []
STARTED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def wait_for(pred, timeout=5.0, step=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def script(name, body):
    """A wrapper binary: a shell script that execs kvd with extra flags."""
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, 0o755)
    return path


def ctl_raw(name, data, timeout=30.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(os.path.join(STATE, name, "control.sock"))
    s.sendall(data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode(errors="replace")


def parse_reply(text):
    lines = text.split("\n")
    kv = {}
    for l in lines[1:]:
        if " " in l:
            k, v = l.split(" ", 1)
            if k in kv:
                kv[k] += "\n" + v
            else:
                kv[k] = v
    return lines[0], kv


def ctl(name, *words, timeout=30.0):
    return parse_reply(ctl_raw(name, (" ".join(words) + "\n").encode(),
                               timeout))


class Sup:
    """One shmsupervise process, its log in TMP."""

    def __init__(self, name, binary=KVD, args=(), opts=(), listen=True,
                 wait=True):
        self.name = name
        self.logpath = os.path.join(TMP, name + ".log")
        self.log = open(self.logpath, "a+")
        argv = [SUP, "--name", name]
        if listen:
            argv += ["--listen", "tcp:127.0.0.1:0"]
        argv += list(opts) + ["--", binary] + list(args)
        self.p = subprocess.Popen(argv, stdout=self.log,
                                  stderr=subprocess.STDOUT)
        STARTED.append(self)
        self.port = None
        if wait:
            ok = wait_for(lambda: self.state() == "ready", 10)
            check(ok, "%s: supervisor up and child ready" % name)
            st = self.status()
            for v in st.get("listen", "").split("\n"):
                if "tcp:127.0.0.1:" in v:
                    self.port = int(v.rsplit(":", 1)[1])

    def text(self):
        with open(self.logpath) as f:
            return f.read()

    def status(self):
        try:
            return ctl(self.name, "status", timeout=5)[1]
        except OSError:
            return {}

    def state(self):
        return self.status().get("state")

    def pid(self):
        return int(self.status().get("pid", "0"))

    def ready_other_than(self, pid):
        """Ready with a child other than pid, from one status reply."""
        st = self.status()
        return (st.get("state") == "ready" and
                int(st.get("pid", "0")) not in (0, pid))

    def stop(self, timeout=15):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


def kv(port, *reqs, timeout=5.0):
    """Sends requests on one connection; returns the reply lines."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    f = s.makefile("rwb")
    out = []
    for r in reqs:
        f.write((r + "\n").encode())
        f.flush()
        out.append(f.readline().decode().rstrip("\n"))
    s.close()
    return out


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not alive for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Load(threading.Thread):
    """Clients sending `set' requests back to back, one connection per
    request (the backlog path) or persistent (reconnects when the server
    closes between requests). Records refusals, retries, acked keys and
    the longest gap between two answered requests."""

    def __init__(self, port, tag, persistent=False):
        super().__init__(daemon=True)
        self.port, self.tag, self.persistent = port, tag, persistent
        self.stop_ev = threading.Event()
        self.refused = self.retries = self.errors = 0
        self.acked = {}
        self.gap = 0.0
        self.n = 0

    def run(self):
        s = f = None
        last = time.monotonic()
        while not self.stop_ev.is_set():
            key = "%s%d" % (self.tag, self.n)
            val = "v%d" % self.n
            try:
                if s is None:
                    s = socket.create_connection(("127.0.0.1", self.port),
                                                 timeout=10)
                    f = s.makefile("rwb")
                f.write(("set %s %s\n" % (key, val)).encode())
                f.flush()
                line = f.readline()
            except ConnectionRefusedError:
                self.refused += 1
                s = None
                time.sleep(0.001)
                continue
            except OSError:
                line = b""
            if line == b"OK\n":
                self.acked[key] = val
                self.n += 1
                now = time.monotonic()
                self.gap = max(self.gap, now - last)
                last = now
            elif line == b"":
                # Closed before answering (server stopping): resend.
                self.retries += 1
            else:
                self.errors += 1
            if line == b"" or not self.persistent:
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
        if s is not None:
            s.close()


def verify(port, acked, what):
    bad = 0
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rwb")
    for k, v in acked.items():
        f.write(("get %s\n" % k).encode())
    f.flush()
    for k, v in acked.items():
        if f.readline().decode().rstrip("\n") != "VALUE " + v:
            bad += 1
    s.close()
    check(bad == 0, "%s: all %d acknowledged keys present (%d lost)" %
          (what, len(acked), bad))


# ---- cases

def case_upgrades():
    """20 upgrades in a row under continuous load: 0 refused, 0 lost."""
    sup = Sup("up20", opts=["--ready-timeout", "10"])
    kv(sup.port, "fill 2000 100 pre")
    fds_before = len(os.listdir("/proc/%d/fd" % sup.p.pid))
    loads = [Load(sup.port, "a"), Load(sup.port, "b", persistent=True)]
    for l in loads:
        l.start()
    time.sleep(0.2)
    pids, fails, worst = {sup.pid()}, [], 0.0
    for i in range(20):
        first, r = ctl("up20", "upgrade")
        if not first.startswith("ok"):
            fails.append(first)
        worst = max(worst, float(r.get("overhead_ms", "0")))
        pids.add(int(r.get("pid", "0")))
        time.sleep(0.05)
    time.sleep(0.2)
    for l in loads:
        l.stop_ev.set()
    for l in loads:
        l.join(10)
    check(not fails, "20 upgrades succeeded %s" % fails[:2])
    fds_after = len(os.listdir("/proc/%d/fd" % sup.p.pid))
    check(fds_after == fds_before, "supervisor leaks no fd (%d, then %d)" %
          (fds_before, fds_after))
    # Above stdio and the one passed socket (fd 3), nothing the child
    # has may be an open file of the supervisor's. Stdio itself is
    # whatever the supervisor was given (a pipe on stdin when the tests
    # run under a pipe), so it is not counted.
    child = sup.pid()

    def fdlinks(pid):
        out = {}
        for f in os.listdir("/proc/%d/fd" % pid):
            try:
                out[int(f)] = os.readlink("/proc/%d/fd/%s" % (pid, f))
            except OSError:
                pass
        return out
    sup_files = set(fdlinks(sup.p.pid).values())
    links = fdlinks(child)
    # anon_inode:[...] names every signalfd/eventfd alike: not telling.
    inherited = {fd: l for fd, l in links.items()
                 if fd > 3 and l in sup_files and
                 not l.startswith("anon_inode:")}
    check(not inherited and
          not [l for l in links.values() if "supervisor.lock" in l],
          "child inherits only stdio and its sockets: %s (all: %s)" %
          (inherited, sorted(links.items())))
    check(len(pids) == 21, "21 distinct child pids (%d)" % len(pids))
    refused = sum(l.refused for l in loads)
    check(refused == 0, "0 refused connections (%d)" % refused)
    errors = sum(l.errors for l in loads)
    check(errors == 0, "0 error replies (%d)" % errors)
    sent = sum(l.n for l in loads)
    check(sent > 200, "clients kept working: %d requests answered, %d "
          "resent after a close" % (sent, sum(l.retries for l in loads)))
    print("longest gap between answers: %.1f ms; worst supervisor "
          "overhead %.3f ms" % (max(l.gap for l in loads) * 1000, worst))
    acked = {}
    for l in loads:
        acked.update(l.acked)
    verify(sup.port, acked, "after 20 upgrades")
    check(kv(sup.port, "count") == ["COUNT %d" % (2000 + len(acked))],
          "count is 2000 + acknowledged")
    st = sup.status()
    check(st.get("generation") not in (None, "-"), "status shows a "
          "generation (%s)" % st.get("generation"))
    check(sup.stop() == 0, "SIGTERM: supervisor exits 0")
    check(not os.path.exists(os.path.join(STATE, "up20", "control.sock")),
          "control socket removed at exit")


def case_rollback():
    """Failing new binaries: exit at start, hang before READY, took the
    lock; a missing or non-executable binary is refused up front."""
    sup = Sup("rb", opts=["--ready-timeout", "1", "--stop-timeout", "2"])
    kv(sup.port, "set keep me")
    old = sup.pid()

    first, r = ctl("rb", "upgrade", "/nonexistent/kvd")
    check(first.startswith("error upgrade refused") and
          "No such file" in first, "missing binary refused: %s" % first)
    noexec = os.path.join(TMP, "noexec")
    open(noexec, "w").write("#!/bin/sh\n")
    os.chmod(noexec, 0o644)
    first, r = ctl("rb", "upgrade", noexec)
    check(first.startswith("error upgrade refused") and
          "not executable" in first, "non-executable refused: %s" % first)
    check(sup.pid() == old and kv(sup.port, "get keep") == ["VALUE me"],
          "old child untouched and serving after refusals")

    bad = script("kvd-fail-start", 'exec "%s" -F start "$@"' % KVD)
    first, r = ctl("rb", "upgrade", bad)
    check(first.startswith("error upgrade rolled-back"),
          "exit at start: rolled back: %s" % first)
    check("simulated failure at start" in r.get("stderr", ""),
          "reply carries the new binary's stderr")
    check("exited with status 3" in first, "reason says how it ended")
    st = sup.status()
    check(st.get("binary") == KVD and st.get("state") == "ready",
          "previous binary serving again (%s, %s)" %
          (st.get("binary"), st.get("state")))
    check(kv(sup.port, "get keep") == ["VALUE me"], "state kept")
    check(st.get("last_result") == "rolled-back", "status: last result "
          "rolled-back")

    hang = script("kvd-hang", 'exec "%s" -F hang "$@"' % KVD)
    t = time.monotonic()
    first, r = ctl("rb", "upgrade", hang)
    took = time.monotonic() - t
    check(first.startswith("error upgrade rolled-back") and
          "READY" in first, "hang before READY: rolled back: %s" % first)
    check(0.9 < took < 5, "after the ready timeout (%.2f s)" % took)
    check(kv(sup.port, "get keep") == ["VALUE me"], "state kept")

    owned = script("kvd-owned", 'exec "%s" -F owned "$@"' % KVD)
    first, r = ctl("rb", "upgrade", owned)
    check(first.startswith("error upgrade rolled-back") and
          "ownership" in first and r.get("new_owned_state") == "1",
          "took the lock then failed: said so: %s" % first)
    check(kv(sup.port, "get keep") == ["VALUE me"], "state kept")

    first, r = ctl("rb", "upgrade", KVD)
    check(first.startswith("ok"), "a good upgrade still works after")

    # The file replaced in place by a broken one: SIGHUP's case. The
    # rollback runs the file that ran before, not what the path names.
    copy = os.path.join(TMP, "kvd-inplace")
    shutil.copy(KVD, copy)
    os.chmod(copy, 0o755)
    first, r = ctl("rb", "upgrade", copy)
    check(first.startswith("ok"), "upgrade to a copy: %s" % first)
    broken = copy + ".new"
    with open(broken, "w") as f:
        f.write("#!/bin/sh\necho broken build >&2\nexit 4\n")
    os.chmod(broken, 0o755)
    os.rename(broken, copy)
    first, r = ctl("rb", "upgrade")
    check(first.startswith("error upgrade rolled-back") and
          "broken build" in r.get("stderr", ""),
          "replaced in place by a broken file: rolled back: %s" % first)
    pid = sup.pid()
    exe = os.readlink("/proc/%d/exe" % pid) if pid else ""
    check(exe.endswith("(deleted)") and sup.state() == "ready",
          "the previous file runs again, though the path was replaced "
          "(%s)" % exe)
    check(kv(sup.port, "get keep") == ["VALUE me"], "state kept")
    check(sup.stop() == 0, "supervisor exits 0")


def case_crash():
    """kill -9 of the child restarts it with backoff; a binary crashing
    after READY is restarted until --max-restarts, then we give up."""
    sup = Sup("crash", opts=["--backoff-max", "0.3", "--max-restarts", "3",
                             "--restart-window", "30"])
    kv(sup.port, "set a 1")
    first, r = ctl("crash", "upgrade")          # checkpoint holding a=1
    pid = sup.pid()
    os.kill(pid, signal.SIGKILL)
    check(wait_for(lambda: sup.state() == "backoff" or
                   sup.pid() not in (0, pid), 3), "kill -9 noticed")
    check(wait_for(lambda: sup.ready_other_than(pid), 5),
          "restarted after kill -9")
    st = sup.status()
    check(st.get("restarts") == "1", "restart counter 1 (%s)" %
          st.get("restarts"))
    check("restart 1 in 100 ms" in sup.text(), "first backoff 100 ms")
    check(kv(sup.port, "get a") == ["VALUE 1"],
          "restarted child adopted the last checkpoint")
    pid = sup.pid()
    os.kill(pid, signal.SIGKILL)
    check(wait_for(lambda: sup.ready_other_than(pid), 5),
          "restarted again")
    check("restart 2 in 200 ms" in sup.text(), "backoff doubled to 200 ms")

    crashy = script("kvd-crash", 'exec "%s" -F crash "$@"' % KVD)
    first, r = ctl("crash", "upgrade", crashy)
    check(first.startswith("ok"), "crash-after-READY binary: upgrade ok "
          "(it was ready)")
    rc = None
    try:
        rc = sup.p.wait(15)
    except subprocess.TimeoutExpired:
        pass
    check(rc == 1, "gave up after --max-restarts, exit 1 (%s)" % rc)
    check("giving up" in sup.text(), "log says it gave up")
    check("restart 3 in 300 ms" in sup.text(),
          "backoff capped by --backoff-max (300 ms, not 400)")
    check("simulated crash after READY" in sup.text(),
          "child stderr forwarded to the log")


def case_control():
    """Control socket: malformed input, other uid, stop; SIGHUP reload."""
    sup = Sup("ctl", opts=["--stop-timeout", "0.5"])
    for req, want in [(b"bogus\n", "error unknown command"),
                      (b"status now\n", "error command takes no argument"),
                      (b"upgrade rel/path\n", "error binary must be an "
                       "absolute path"),
                      (b"upgrade /a /b\n", "error expected one argument"),
                      (b"\n", "error empty request"),
                      (b"stat\x01us\n", "error request contains control"),
                      (b"status\nstatus\n", "error one request per"),
                      (b"x" * 5000, "error request too long")]:
        got = ctl_raw("ctl", req, 10).split("\n")[0]
        check(got.startswith(want), "malformed %r -> %s" % (req[:20], got))
    check(sup.state() == "ready", "still ready after malformed requests")

    # Another uid: first the directory mode stops it, then SO_PEERCRED.
    if os.geteuid() == 0 and os.path.exists("/usr/bin/setpriv"):
        code = ("import socket,sys\n"
                "s=socket.socket(socket.AF_UNIX)\n"
                "try:\n s.connect(sys.argv[1])\n"
                "except OSError as e:\n print('connect', e.errno); sys.exit()\n"
                "try:\n s.sendall(b'stop\\n')\n"
                "except OSError:\n pass\n"
                "print(s.recv(100).decode())\n")
        sock = os.path.join(STATE, "ctl", "control.sock")
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup",
               "--clear-groups", sys.executable, "-c", code, sock]
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=10).stdout
        check(out.startswith("connect 13"), "nobody: no access to the 0700 "
              "dir/0600 socket (%s)" % out.strip())
        modes = [(p, stat.S_IMODE(os.stat(p).st_mode)) for p in
                 (STATE, os.path.join(STATE, "ctl"), sock)]
        os.chmod(STATE, 0o711)
        os.chmod(os.path.join(STATE, "ctl"), 0o711)
        os.chmod(sock, 0o666)
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=10).stdout
        for p, m in modes:
            os.chmod(p, m)
        check(out.startswith("error permission denied"),
              "nobody with access: refused by peer credentials (%s)" %
              out.strip())
        check(sup.state() == "ready", "still running after nobody's stop")
    else:
        print("skip other-uid check: not root or no setpriv")

    pid = sup.pid()
    sup.p.send_signal(signal.SIGHUP)
    check(wait_for(lambda: sup.ready_other_than(pid), 5),
          "SIGHUP: reloaded")
    check(sup.status().get("last_kind") == "reload", "reported as reload")

    first, r = ctl("ctl", "restart")
    check(first.startswith("ok restart"), "restart: %s" % first)

    # The same through shmctl(1).
    shmctl = os.path.join(B, "shmctl")
    p = subprocess.run([shmctl, "status", "ctl", "--json"],
                       capture_output=True, text=True, timeout=10)
    try:
        js = json.loads(p.stdout)
    except ValueError:
        js = {}
    check(p.returncode == 0 and js.get("state") == "ready" and
          js.get("pid") == sup.pid() and js.get("last_kind") == "restart"
          and isinstance(js.get("last_total_ms"), float),
          "shmctl status --json: %s" % p.stdout[:80].replace("\n", " "))
    p = subprocess.run([shmctl, "upgrade", "ctl", "--binary", "kvd"],
                       capture_output=True, text=True, timeout=30, cwd=B)
    check(p.returncode == 0 and "upgrade done" in p.stdout and
          "supervisor overhead" in p.stdout,
          "shmctl upgrade --binary RELATIVE: %s" %
          p.stdout.strip()[:60].replace("\n", " "))
    p = subprocess.run([shmctl, "upgrade", "ctl", "--binary", "/nope"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and "refused" in p.stderr,
          "shmctl upgrade to a missing binary: exit 1, %s" %
          p.stderr.strip())
    p = subprocess.run([shmctl, "status", "nosuch"], capture_output=True,
                       text=True, timeout=10)
    check(p.returncode == 1 and "no supervisor running" in p.stderr,
          "shmctl status of an unsupervised name: %s" % p.stderr.strip())
    p = subprocess.run([shmctl, "upgrade"], capture_output=True, text=True,
                       timeout=10)
    check(p.returncode == 2, "shmctl upgrade without a name: usage, exit 2")

    nostop = script("kvd-nostop", 'exec "%s" -F nostop "$@"' % KVD)
    first, r = ctl("ctl", "upgrade", nostop)
    check(first.startswith("ok"), "upgrade to a binary ignoring SIGTERM")
    pid = sup.pid()
    t = time.monotonic()
    first, r = ctl("ctl", "stop")
    check(first == "ok stopped", "stop: %s" % first)
    check(time.monotonic() - t < 3, "SIGKILL after the stop timeout")
    check("SIGKILL" in sup.text(), "log reports the SIGKILL")
    check(sup.p.wait(5) == 0, "supervisor exit 0 after stop")
    check(not alive(pid), "no orphan left")


def case_impostor():
    """Only the child may report: READY=1 from another process, or a
    malformed datagram from the child's uid, changes nothing."""
    hang = script("kvd-hang2", 'exec "%s" -F hang "$@"' % KVD)
    sup = Sup("imp", binary=hang, opts=["--ready-timeout", "30"], wait=False)
    path = os.path.join(STATE, "imp", "notify.sock")
    check(wait_for(lambda: os.path.exists(path) and
                   sup.state() == "starting", 5), "child starting")
    d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    for msg in (b"READY=1", b"READY=1\n\n", b"\x00READY=1", b"x" * 5000):
        try:
            d.sendto(msg, path)
        except OSError:
            pass
    d.close()
    time.sleep(0.2)
    check(sup.state() == "starting", "READY=1 from another pid ignored")
    check("not the child" in sup.text(), "and logged")
    check(sup.stop() == 0, "stops a child that never got ready")


NOTIFY_FDS_CHILD = r"""
import os, socket, sys, time
path = os.environ["NOTIFY_SOCKET"]
marker = os.open(sys.argv[1], os.O_RDONLY)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
           bytes(memoryview(__import__("array").array("i", [marker] * 3))))]
for msg in (b"X_PAD=" + b"x" * (4097 - 6),       # one byte over the limit
            b"x" * 6000,                          # truncated
            b"STATUS=no FDSTORE\n",              # fds without FDSTORE=1
            b"\x00bad",                           # malformed
            b"FDSTORE=1\nFDNAME=shms-blob\n"):   # a blob that is no memfd
    s.sendmsg([msg], rights, 0, path)
s.sendto(b"READY=1", path)
time.sleep(300)
"""


def case_notify_fds():
    """fds the child passes with a datagram that is oversized (even by one
    byte, which fits the receive buffer), truncated, without FDSTORE=1,
    malformed, or an unacceptable blob: every one closed, none leaked."""
    marker = os.path.join(TMP, "fd-marker")
    with open(marker, "w") as f:
        f.write("x")
    prog = os.path.join(TMP, "notify_fds.py")
    with open(prog, "w") as f:
        f.write(NOTIFY_FDS_CHILD)
    child = script("notify-fds", 'exec python3 "%s" "%s"' % (prog, marker))
    sup = Sup("nfd", binary=child)
    spid = sup.p.pid

    def held():
        n = 0
        for fd in os.listdir("/proc/%d/fd" % spid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (spid, fd)) == marker
            except OSError:
                pass
        return n
    wait_for(lambda: held() == 0, 3)
    check(held() == 0, "supervisor holds none of the 15 fds passed "
          "(holds %d)" % held())
    check("oversized message" in sup.text(), "oversized logged")
    check("without FDSTORE=1 closed" in sup.text(), "no FDSTORE logged")
    check(sup.stop() == 0, "stops")


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def case_leftovers():
    """A helper process the service started does not outlive it."""
    wrap = script("kvd-helper", 'sleep 300 &\nexec "%s" "$@"' % KVD)
    sup = Sup("left", binary=wrap)
    kids = children(sup.pid())
    check(len(kids) == 1, "the service has a helper process: %s" % kids)
    first, r = ctl("left", "stop")
    check(first == "ok stopped", "stopped")
    check(sup.p.wait(5) == 0, "supervisor exits 0")
    check(kids and wait_for(lambda: not alive(kids[0]), 3),
          "its helper was stopped too (process group)")


def case_arena():
    """kvd -A: the table in an arena, adopted in place at each upgrade."""
    sup = Sup("ar", args=["-A", "-M", "256"])
    check(kv(sup.port, "fill 5000 200 f", "set a 1") == ["OK 5000", "OK"],
          "filled")
    for i in range(5):
        first, r = ctl("ar", "upgrade")
        check(first.startswith("ok"), "arena upgrade %d: %s" % (i, first))
        kv(sup.port, "set u%d %d" % (i, i))
    got = kv(sup.port, "count", "get a", "get f4999", "get u4")
    check(got == ["COUNT 5006", "VALUE 1", "VALUE " + "v" * 200,
                  "VALUE 4"] or got[:2] == ["COUNT 5006", "VALUE 1"],
          "everything adopted in place: %s" % [g[:20] for g in got])
    check(re.search(r"adopted with 50\d\d keys \(arena\)", sup.text()),
          "log says arena")
    pid = sup.pid()
    os.kill(pid, signal.SIGKILL)
    check(wait_for(lambda: sup.ready_other_than(pid), 5),
          "restarted after kill -9")
    check("left dirty by a crash" in sup.text() and
          kv(sup.port, "count") == ["COUNT 0"],
          "a dirty arena is not trusted: empty start")
    check(sup.stop() == 0, "stops")


def case_startup():
    """Bad command lines, port in use, second supervisor, stale socket,
    pidfile, supervisor killed with SIGKILL."""
    bad = [[], ["--name", "x"], ["--name", "x", "--", "/nonexistent"],
           ["--name", "../x", "--", KVD], ["--bogus", "--", KVD],
           ["--name", "x", "--listen", "udp:1", "--", KVD],
           ["--name", "x", "--listen", "tcp:127.0.0.1:99999", "--", KVD],
           ["--name", "x", "--stop-timeout", "-1", "--", KVD],
           ["--name", "x", "--stop-signal", "NOPE", "--", KVD],
           ["--name", "x", "--max-restarts", "many", "--", KVD]]
    for argv in bad:
        p = subprocess.run([SUP] + argv, capture_output=True, text=True,
                           timeout=10)
        check(p.returncode == 2 and "usage:" in p.stderr,
              "usage error for %s (exit %d)" % (argv, p.returncode))

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    p = subprocess.run([SUP, "--name", "busy", "--listen",
                        "tcp:127.0.0.1:%d" % port, "--", KVD],
                       capture_output=True, text=True, timeout=10)
    check(p.returncode == 1 and "Address already in use" in p.stderr,
          "port in use: clear error (exit %d)" % p.returncode)
    busy.close()

    # IPv6 and a unix socket with a mode; kvd takes the one named "kvd".
    upath = os.path.join(TMP, "multi.sock")
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
        v6 = "tcp:[::1]:0"
    except OSError:
        print("no IPv6 loopback here: the admin socket is IPv4")
        v6 = "tcp:127.0.0.1:0"
    multi = Sup("multi", listen=False,
                opts=["--listen", "admin=" + v6,
                      "--listen", "kvd=unix:%s:0600" % upath])
    st = multi.status()
    check("admin " + v6[:-1] in st.get("listen", "") and
          "kvd unix:%s:0600" % upath in st.get("listen", ""),
          "two sockets, named: %s" % st.get("listen", "").replace("\n", "; "))
    check(stat.S_IMODE(os.stat(upath).st_mode) == 0o600,
          "unix socket mode 0600")
    u = socket.socket(socket.AF_UNIX)
    u.connect(upath)
    u.sendall(b"set u 1\nget u\n")
    got = u.makefile().read(len("OK\nVALUE 1\n"))
    u.close()
    check(got == "OK\nVALUE 1\n", "kvd serves the socket named kvd")
    check(multi.stop() == 0 and not os.path.exists(upath),
          "unix socket removed at exit")

    pidfile = os.path.join(TMP, "one.pid")
    one = Sup("one", opts=["--pidfile", pidfile])
    check(open(pidfile).read().strip() == str(one.p.pid), "pidfile written")
    p = subprocess.run([SUP, "--name", "one", "--listen", "tcp:127.0.0.1:0",
                        "--", KVD], capture_output=True, text=True,
                       timeout=10)
    check(p.returncode == 1 and "another shmsupervise is running" in
          p.stderr, "second supervisor, same name: refused")
    p = subprocess.run([SUP, "--name", "two", "--pidfile", pidfile, "--",
                        KVD], capture_output=True, text=True, timeout=10)
    check(p.returncode == 1 and "already running" in p.stderr,
          "same pidfile: refused")
    check(one.state() == "ready", "first supervisor unaffected")

    child = one.pid()
    kv(one.port, "set x 1")
    one.p.kill()
    one.p.wait()
    check(wait_for(lambda: not alive(child), 5),
          "supervisor SIGKILLed: child stopped too (PDEATHSIG)")
    check(os.path.exists(os.path.join(STATE, "one", "control.sock")),
          "stale control socket left behind")
    again = Sup("one", opts=["--backoff-max", "0.2"])
    check("replacing stale socket" in again.text(),
          "stale control socket detected and replaced")
    check(kv(again.port, "get x") == ["VALUE 1"],
          "state checkpointed by the orphaned child at its stop signal")
    check(again.stop() == 0, "stops cleanly")


def case_systemd():
    """The same kvd under Debian's systemd-socket-activate."""
    tool = "/usr/bin/systemd-socket-activate"
    if not os.path.exists(tool):
        print("skip: %s missing (apt-get install systemd)" % tool)
        return
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(os.path.join(TMP, "sa.log"), "w")
    p = subprocess.Popen([tool, "-l", "127.0.0.1:%d" % port,
                          "--fdname=kvd", "-E", "SHMSTATE_DIR=" + STATE,
                          KVD, "-n", "sa"], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                return kv(port, "set k v", "get k", "count")
            except OSError:
                return None
        got = wait_for(up, 10, 0.05)
        check(got == ["OK", "VALUE v", "COUNT 1"],
              "socket-activated kvd answers: %s" % got)
        p.send_signal(signal.SIGTERM)
        check(p.wait(10) == 0, "kvd exits 0 on SIGTERM")
        check(os.path.exists(os.path.join(STATE, "sa", "manifest")),
              "and left a checkpoint")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    print(open(os.path.join(TMP, "sa.log")).read())


CASES = {"upgrades": case_upgrades, "rollback": case_rollback,
         "crash": case_crash, "control": case_control,
         "startup": case_startup, "impostor": case_impostor,
         "leftovers": case_leftovers, "arena": case_arena, "systemd": case_systemd,
         "notify_fds": case_notify_fds}


def main():
    for name in sys.argv[1:]:
        t = time.monotonic()
        print("== %s" % name, flush=True)
        try:
            CASES[name]()
        except Exception as e:  # a broken case is a failure, not a crash
            import traceback
            traceback.print_exc()
            check(False, "%s raised %r" % (name, e))
        print("== %s: %.1f s" % (name, time.monotonic() - t), flush=True)
    for s in STARTED:
        if s.p.poll() is None:
            s.stop(5)
    if FAILED:
        for s in STARTED:
            print("---- log of %s" % s.name)
            print(s.text()[-6000:])
        print("%d check(s) failed" % len(FAILED))
        sys.exit(1)


if __name__ == "__main__":
    main()
