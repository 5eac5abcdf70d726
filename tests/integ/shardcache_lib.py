"""Helpers for shardcache integration tests: start/stop a real server on a
free loopback port, talk the text protocol over a raw socket."""
import atexit
import os
import signal
import socket
import subprocess
import sys
import time

B = os.environ.get("B", "build")
SRC = os.environ.get("SRC", os.getcwd())
BIN = os.path.join(B, "shardcache")


_live = []


@atexit.register
def _reap():
    """A test that fails half-way never leaves a server behind."""
    for p in _live:
        if p.poll() is None:
            p.kill()
            p.wait()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, *args, env=None, port=None):
        self.args = list(args)
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        self.port = port
        self.proc = None
        self.log = None

    def start(self, timeout=10.0):
        for attempt in range(5):
            if self.port is None or attempt > 0:
                self.port = free_port()
            logpath = os.path.join(B, "test-logs",
                                   "shardcache-%d.log" % self.port)
            os.makedirs(os.path.dirname(logpath), exist_ok=True)
            self.log = open(logpath, "ab")
            self.proc = subprocess.Popen(
                [BIN, "-p", str(self.port), "-l", "127.0.0.1"] + self.args,
                stdout=self.log, stderr=self.log, env=self.env)
            _live.append(self.proc)
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port),
                                             0.2).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        raise RuntimeError("shardcache did not start: %s" % self.logtext())

    def logtext(self):
        try:
            with open(self.log.name, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except Exception:
            return ""

    def stop(self, timeout=20.0):
        """SIGTERM, wait, return exit status (must be 0 for a clean stop)."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("shardcache did not stop in %ss" % timeout)
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def conn(self):
        return Conn(self.port)


class Conn:
    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def recv_exact(self, n, timeout=5.0):
        deadline = time.time() + timeout
        while len(self.buf) < n:
            self.s.settimeout(max(0.01, deadline - time.time()))
            d = self.s.recv(1 << 20)
            if not d:
                break
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_until(self, end, timeout=5.0):
        deadline = time.time() + timeout
        while end not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("waiting for %r, have %r" %
                                   (end, self.buf[:200]))
            self.s.settimeout(max(0.01, deadline - time.time()))
            d = self.s.recv(1 << 20)
            if not d:
                raise EOFError("closed; have %r" % self.buf[:200])
            self.buf += d
        i = self.buf.index(end) + len(end)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def line(self):
        return self.recv_until(b"\r\n")

    def cmd(self, data, expect_len):
        self.send(data)
        return self.recv_exact(expect_len)

    def nothing(self, wait=0.2):
        """Asserts nothing more arrives within `wait' seconds."""
        self.s.settimeout(wait)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            d = None
        self.buf += d or b""
        return d is None

    def closed(self, timeout=5.0):
        """True once the server closes the connection (after any data)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.s.settimeout(max(0.01, deadline - time.time()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not d:
                return True
            self.buf += d
        return False

    def get(self, key):
        self.send(b"get " + key + b"\r\n")
        hdr = self.line()
        if hdr == b"END\r\n":
            return None
        parts = hdr.split()
        n = int(parts[3])
        data = self.recv_exact(n + 2)[:-2]
        assert self.line() == b"END\r\n"
        return data

    def stats(self, sub=b""):
        self.send(b"stats" + (b" " + sub if sub else b"") + b"\r\n")
        out = {}
        while True:
            ln = self.line()
            if ln == b"END\r\n":
                return out
            _, k, v = ln.decode().rstrip("\r\n").split(" ", 2)
            out[k] = v

    def close(self):
        self.s.close()


failures = []


def check(name, got, want):
    if got != want:
        failures.append(name)
        print("FAIL %s:\n  got  %r\n  want %r" % (name, got, want))
    else:
        print("ok   %s" % name)


def done():
    if failures:
        print("%d failed: %s" % (len(failures), ", ".join(failures)))
        sys.exit(1)
    print("all passed")
    sys.exit(0)
