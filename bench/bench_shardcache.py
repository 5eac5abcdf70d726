#!/usr/bin/env python3
"""shardcache benchmarks against memcached (and Redis) in the same run.

  bench_shardcache.py restart   stop request -> first hit on the new
                                process, hit rate, failed/refused requests
                                under a steady client, for shardcache adopt,
                                shardcache copy, memcached -e warm restart,
                                Redis RDB; memcached's same-second loss
  bench_shardcache.py tput      ops/s and latency, 90/10 get/set, 1 KiB
  bench_shardcache.py mem       bytes of memory per item, 100 B and 1 KiB
  bench_shardcache.py plot      restart time against state size (PNG)

Environment: B (build dir), BENCH_GB (restart size, GiB, default 3),
BENCH_RUNS (3), BENCH_SECS (10), BENCH_ITEMS (1000000),
BENCH_PLOT_SIZES ("0.25 1 2 4 8", GiB of 1 KiB values: 2^30 / 1024 keys
per GiB), BENCH_PLOT_SYSTEMS ("sc_adopt sc_copy memcached redis"),
BENCH_PLOT_MERGE (1: keep the points of the existing .dat that this run
does not measure), BENCH_PLOT_RUNS (restarts per point, median; 1),
BENCH_PLOT_OUT (bench/restart), BENCH_MEM_WAIT (s to
wait for free memory before a point, 900).
Prints `name: value unit' lines. Stops only the processes it started.

Memory: the machine is shared. Before each restart point the script
waits (bounded) until MemAvailable covers what that system needs for the
state (MEM_FACTOR x the values, plus MEM_MARGIN), and while a point runs
a watchdog kills this script's own processes if MemAvailable falls below
MEM_FLOOR, so that the kernel's OOM killer never has to pick a victim. A
point that cannot run says why (stderr, and a comment in the .dat).
"""
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

B = os.environ.get("B", "build")
SRC = os.environ.get("SRC", os.getcwd())
SC = os.path.abspath(os.path.join(B, "shardcache"))
SUP = os.path.abspath(os.path.join(B, "shmsupervise"))
MCLOAD = os.path.abspath(os.path.join(B, "mcload"))
VSIZE = 1024
SAMPLE = 10000
PAT = bytes((ord("a") + i % 26) for i in range(VSIZE + 64))

_procs = []

GiB = 2**30
# MemAvailable needed before a restart point, as a multiple of the bytes
# of values: adopt keeps one arena copy (items are ~1.17x the values);
# copy mode holds its heap and, while checkpointing or adopting, part of
# the segments; memcached its -e file; Redis its heap (a 1 KiB value is a
# 1,280-byte jemalloc run) and, while loading, its RDB file in /dev/shm
# (small here: DEBUG POPULATE pads values with zeros, which LZF packs).
# Measured at 4 GiB: MemAvailable fell by 2.1x the values for copy mode,
# 1.7x for Redis, under 1.2x for adopt and memcached.
MEM_FACTOR = {"sc_adopt": 1.4, "sc_copy": 2.2, "memcached": 1.4,
              "redis": 1.9}
MEM_MARGIN = 2 * GiB	# left to the others on the machine
MEM_FLOOR = 1 * GiB	# the watchdog's line


class Skip(Exception):
    """A point that cannot be measured here, with the reason."""


def tmo(keys, base=120.0, per_million=60.0):
    """A timeout in seconds scaled to the state size."""
    return base + per_million * keys / 1e6


def meminfo():
    v = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, rest = line.partition(":")
            v[k] = int(rest.split()[0]) * 1024
    return v


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def descendants(pid):
    """pid's descendants, children first (from /proc; ours only)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            kids = []
        found += kids
        todo += kids
    return found


def kill_ours():
    """SIGKILL every process this script started, their children first
    (a supervised child would checkpoint on its supervisor's death)."""
    for p in _procs:
        if p.poll() is None:
            kill_ours_one(p)


def wait_for_memory(sysname, keys):
    need = MEM_FACTOR[sysname] * keys * VSIZE + MEM_MARGIN
    wait = float(os.environ.get("BENCH_MEM_WAIT", "900"))
    deadline = time.monotonic() + wait
    while True:
        avail = meminfo()["MemAvailable"]
        if avail >= need:
            return avail
        if time.monotonic() >= deadline:
            raise Skip("needs %.1f GiB of MemAvailable (%.1fx the %.2f GiB"
                       " of values + %.0f GiB left to others); %.1f GiB"
                       " after waiting %.0f s" %
                       (need / GiB, MEM_FACTOR[sysname], keys * VSIZE / GiB,
                        MEM_MARGIN / GiB, avail / GiB, wait))
        print("bench: %s, %d keys: waiting for memory (%.1f of %.1f GiB"
              " available)" % (sysname, keys, avail / GiB, need / GiB),
              file=sys.stderr, flush=True)
        time.sleep(15)


class MemWatch(threading.Thread):
    """Samples MemAvailable and the load average while a point runs; below
    MEM_FLOOR it kills this script's processes (never anyone else's)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.min_avail = math.inf
        self.max_load = 0.0
        self.loads = []
        self.tripped = False
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            a = meminfo()["MemAvailable"]
            self.min_avail = min(self.min_avail, a)
            self.loads.append(loadavg()[0])
            self.max_load = max(self.max_load, self.loads[-1])
            if a < MEM_FLOOR and not self.tripped:
                self.tripped = True
                print("bench: MemAvailable %.2f GiB < %.0f GiB: killing"
                      " this benchmark's processes" % (a / GiB,
                                                        MEM_FLOOR / GiB),
                      file=sys.stderr, flush=True)
                kill_ours()
            self.halt.wait(0.2)

    def stop(self):
        self.halt.set()
        self.join()


def out(name, value, unit):
    if isinstance(value, float):
        value = "%.4g" % value if abs(value) < 1e4 else "%.0f" % value
    print("%s: %s %s" % (name, value, unit), flush=True)


def cleanup():
    kill_ours()


def ensure_peers():
    need = [pkg for cmd, pkg in (("memcached", "memcached"),
                                 ("redis-server", "redis-server"),
                                 ("gnuplot", "gnuplot-nox"))
            if shutil.which(cmd) is None]
    if not need:
        return
    if os.geteuid() != 0:
        sys.exit("bench: missing %s; run as root: apt-get install %s" %
                 (need, " ".join(need)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq"] + need, check=True,
                   env=env, stdout=subprocess.DEVNULL)
    # Debian starts the packaged services: stop them, they are not ours
    # to run (and must not hold 11211/6379 or memory during the run).
    for svc in ("memcached", "redis-server"):
        subprocess.run(["systemctl", "stop", svc], stderr=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def spawn(argv, log, **kw):
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
    _procs.append(p)
    return p


def wait_port(port, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited" % proc.args[0])
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise RuntimeError("nothing listening on %d" % port)


def stop(proc, sig=signal.SIGTERM, timeout=120.0):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print("bench: %s (pid %d) did not stop within %.0f s: killed" %
                  (proc.args[0], proc.pid, timeout), file=sys.stderr,
                  flush=True)
            kill_ours_one(proc)


def kill_ours_one(proc):
    for k in reversed(descendants(proc.pid)):
        try:
            os.kill(k, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.kill()
    proc.wait()


def wait_exit(proc, timeout, what):
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError("%s: %s (pid %d) still running after %.0f s" %
                           (what, proc.args[0], proc.pid, timeout))


def mcload(port, *args, timeout=900, server=None):
    """Runs mcload; its figures as a dict. With server (a Popen), stops
    early with an error if that process exits while mcload runs (a fill
    would otherwise reconnect, refused, until its timeout)."""
    argv = [MCLOAD, "-p", str(port), "-T", str(timeout)] + [str(a)
                                                            for a in args]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout + 30
    try:
        while p.poll() is None:
            if server is not None and server.poll() is not None:
                raise RuntimeError("%s (pid %d) exited with status %d while"
                                   " mcload ran" % (server.args[0],
                                                    server.pid,
                                                    server.returncode))
            if time.monotonic() > deadline:
                raise RuntimeError("mcload still running after %.0f s" %
                                   (timeout + 30))
            time.sleep(0.2)
    finally:
        if p.poll() is None:
            p.kill()
        stdout, stderr = p.communicate()
    if p.returncode != 0:
        raise RuntimeError("mcload exited %d: %s" % (p.returncode,
                                                     stderr.strip()))
    res = {}
    for line in stdout.splitlines():
        name, _, rest = line.partition(": ")
        res[name] = float(rest.split()[0])
    return res


# ---- a tiny client for both protocols ----

class Client:
    def __init__(self, port, redis=False, timeout=10.0):
        self.redis = redis
        self.s = socket.create_connection(("127.0.0.1", port), timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        self.s.close()

    def _fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise EOFError("closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def send_gets(self, keys):
        if self.redis:
            self.s.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" %
                                    (len(k), k) for k in keys))
        else:
            self.s.sendall(b"".join(b"get %s\r\n" % k for k in keys))

    def read_get(self):
        """The value, None on a miss; raises on an error reply."""
        line = self._line()
        if self.redis:
            if line.startswith(b"$-1"):
                return None
            if not line.startswith(b"$"):
                raise IOError(line.decode(errors="replace"))
            v = self._take(int(line[1:]) + 2)[:-2]
            return v
        if line == b"END":
            return None
        if not line.startswith(b"VALUE "):
            raise IOError(line.decode(errors="replace"))
        v = self._take(int(line.split()[3]) + 2)[:-2]
        if self._line() != b"END":
            raise IOError("no END")
        return v

    def stats(self):
        self.s.sendall(b"stats\r\n")
        st = {}
        while True:
            line = self._line()
            if line == b"END":
                return st
            f = line.split()
            st[f[1].decode()] = f[2].decode()


def value_ok(key_n, v, redis):
    if redis:
        return v is not None and v.startswith(b"value:%d" % key_n)
    return v is not None and v == PAT[key_n % 64:key_n % 64 + VSIZE]


def key(n):
    return b"key:%d" % n


def hit_rate(port, keys, redis=False):
    """Hit rate of a SAMPLE-key sample; a wrong value counts as a miss."""
    rng = random.Random(7)
    sample = [rng.randrange(keys) for _ in range(SAMPLE)]
    c = Client(port, redis)
    good = 0
    for i in range(0, len(sample), 200):
        batch = sample[i:i + 200]
        c.send_gets([key(n) for n in batch])
        for n in batch:
            good += value_ok(n, c.read_get(), redis)
    c.close()
    return good / len(sample)


class Steady(threading.Thread):
    """One client, a get every millisecond, reconnecting at once: counts
    requests that failed (error reply, connection lost mid-request) and
    connection attempts refused."""

    def __init__(self, port, keys, redis=False):
        super().__init__(daemon=True)
        self.port, self.keys, self.redis = port, keys, redis
        self.ok = self.failed = self.refused = self.misses = 0
        self.halt = False

    def run(self):
        rng = random.Random(3)
        c = None
        while not self.halt:
            if c is None:
                try:
                    c = Client(self.port, self.redis, timeout=30)
                except ConnectionRefusedError:
                    self.refused += 1
                    time.sleep(0.001)
                    continue
                except OSError:
                    self.failed += 1
                    time.sleep(0.001)
                    continue
            n = rng.randrange(self.keys)
            try:
                c.send_gets([key(n)])
                v = c.read_get()
                if v is None:
                    self.misses += 1
                self.ok += 1
            except (OSError, EOFError, ValueError):
                self.failed += 1
                c.close()
                c = None
            time.sleep(0.001)
        if c is not None:
            c.close()


def first_hit(port, keys, redis, old_pid, t0, timeout=600.0):
    """Time from t0 to the first hit served by a process other than
    old_pid (shardcache and memcached report their pid in stats). The
    pid is asked first, then the get on the same connection: shardcache
    hands a connection over to its successor at a request boundary, so
    a get answered by the old process could be followed by a stats from
    the new one (that order once counted the old process's hit, 1.4 ms
    into a 10 s copy-mode restart); a connection only moves forward."""
    n = random.Random(5).randrange(keys)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            c = Client(port, redis, timeout=30)
        except OSError:
            time.sleep(0.0005)
            continue
        try:
            if redis or old_pid is None or \
                    int(c.stats()["pid"]) != old_pid:
                c.send_gets([key(n)])
                v = c.read_get()
                t = time.monotonic()
                if value_ok(n, v, redis):
                    c.close()
                    return t - t0
        except (OSError, EOFError, ValueError, KeyError):
            pass
        c.close()
        time.sleep(0.0005)
    raise RuntimeError("no hit on port %d within %.0f s of the stop"
                       " request" % (port, timeout))


def mem_limit_mb(keys, vsize=VSIZE):
    return int(keys * (vsize + 200) * 1.2 / 2**20) + 256


def tmpdir(tag):
    d = "/dev/shm/scbench-%d-%s" % (os.getpid(), tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, mode=0o700)
    return d


def logpath(tag):
    return os.path.join(B, "bench-logs", "shardcache-%s.log" % tag)


def logfile(tag):
    os.makedirs(os.path.dirname(logpath(tag)), exist_ok=True)
    return open(logpath(tag), "ab")


def last_complaint(tag):
    """The last fatal (or else warning) line of a log, to say why."""
    try:
        with open(logpath(tag), errors="replace") as f:
            lines = f.read().splitlines()[-200:]
        for word in ("fatal", "warning", "rror"):
            hits = [ln.strip() for ln in lines if word in ln]
            if hits:
                return hits[-1]
        return "(nothing in %s)" % logpath(tag)
    except FileNotFoundError:
        return "(no log)"


def fill_mc(port, keys, server=None, tag=None):
    t = time.monotonic()
    try:
        r = mcload(port, "-F", "-k", keys, "-v", VSIZE, "-c", 8, "-P", 32,
                   timeout=int(tmo(keys)), server=server)
    except RuntimeError as e:
        if tag is None:
            raise
        raise RuntimeError("fill of %d keys: %s; its log says: %s" %
                           (keys, e, last_complaint(tag)))
    if r["errors"] or r["failed"] or r["requests"] != keys:
        raise RuntimeError("fill of %d keys: %d done, %d errors, %d failed"
                           " (a full -m? a crash? see %s/bench-logs)" %
                           (keys, r["requests"], r["errors"], r["failed"],
                            B))
    return time.monotonic() - t


# ---- restart ----

def restart_shardcache(mode, keys, steady=True, immediate=3):
    tag = "sc-" + mode
    d = tmpdir(tag)
    port = free_port()
    name = "scbench-%s-%d" % (mode, os.getpid())
    t = "%d" % tmo(keys)
    sup = spawn([SUP, "--name", name, "--dir", d, "--listen",
                 "tcp:127.0.0.1:%d" % port, "--stop-timeout", t,
                 "--ready-timeout", t, "--", SC, "-t", "2",
                 "-m", str(mem_limit_mb(keys)), "--state", mode],
                logfile(tag))
    res = {}
    try:
        wait_port(port, sup)
        fill_mc(port, keys, sup, tag)
        c = Client(port)
        old = int(c.stats()["pid"])
        c.close()
        st = Steady(port, keys) if steady else None
        if st:
            st.start()
            time.sleep(0.2)
        t0 = time.monotonic()
        sup.send_signal(signal.SIGHUP)	# reload: stop, start, adopt
        res["first_hit"] = first_hit(port, keys, False, old, t0,
                                     tmo(keys))
        if st:
            time.sleep(0.3)
            st.halt = True
            st.join()
            res["failed"], res["refused"] = st.failed, st.refused
        res["hit_rate"] = hit_rate(port, keys)
        # Immediate restarts, back to back: nothing may be lost.
        for _ in range(immediate):
            c = Client(port)
            old = int(c.stats()["pid"])
            c.close()
            sup.send_signal(signal.SIGHUP)
            first_hit(port, keys, False, old, time.monotonic(),
                      tmo(keys))
        if immediate:
            res["immediate_hit_rate"] = hit_rate(port, keys)
    finally:
        # Not a clean stop: it would checkpoint (copy mode: the whole
        # state again, next to the previous generation) state that is
        # thrown away here.
        if sup.poll() is None:
            kill_ours_one(sup)
        shutil.rmtree(d, ignore_errors=True)
    return res


def mc_argv(port, keys, memfile):
    return ["memcached", "-u", "root", "-U", "0", "-l", "127.0.0.1",
            "-p", str(port), "-t", "2", "-m", str(mem_limit_mb(keys)),
            "-c", "4096", "-e", memfile]


def restart_memcached(keys, steady=True, same_second=False):
    """A warm restart: SIGUSR1 (graceful: the memory file is kept), wait
    for the exit, start again with the same -e. memcached refuses its
    memory file when started within the wall-clock second it stopped in:
    unless same_second (the demonstration), wait for the next second and
    count that wait in the cycle."""
    tag = "memcached"
    d = tmpdir(tag)
    port = free_port()
    argv = mc_argv(port, keys, os.path.join(d, "mc.mem"))
    p = spawn(argv, logfile(tag))
    res = {}
    try:
        wait_port(port, p)
        fill_mc(port, keys, p, tag)
        st = Steady(port, keys) if steady else None
        if same_second:
            # Stop right after a second boundary: the exit and the new
            # start fall in the same second.
            time.sleep(1.0 - time.time() % 1.0 + 0.01)
        if st:
            st.start()
            time.sleep(0.2)
        t0 = time.monotonic()
        p.send_signal(signal.SIGUSR1)
        wait_exit(p, tmo(keys), "memcached warm-restart stop")
        stopped_wall = int(time.time())
        res["shutdown"] = time.monotonic() - t0
        res["same_second"] = stopped_wall == int(time.time())
        if not same_second and int(time.time()) == stopped_wall:
            time.sleep(1.0 - time.time() % 1.0 + 0.001)
        res["waited"] = time.monotonic() - t0 - res["shutdown"]
        t1 = time.monotonic()
        p = spawn(argv, logfile(tag))
        res["same_second"] = stopped_wall == int(time.time())
        if same_second:
            wait_port(port, p)
            res["hit_rate"] = hit_rate(port, keys)
            return res
        res["first_hit"] = first_hit(port, keys, False, None, t0,
                                     tmo(keys))
        res["start_to_hit"] = time.monotonic() - t1
        if st:
            time.sleep(0.3)
            st.halt = True
            st.join()
            res["failed"], res["refused"] = st.failed, st.refused
        res["hit_rate"] = hit_rate(port, keys)
    finally:
        stop(p, timeout=tmo(keys))
        shutil.rmtree(d, ignore_errors=True)
    return res


def redis_cmd(port, *args, timeout=600):
    c = Client(port, redis=True, timeout=timeout)
    c.s.sendall(b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    line = c._line()
    c.close()
    return line


def restart_redis(keys, steady=True):
    tag = "redis"
    d = tmpdir(tag)
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", d, "--dbfilename", "dump.rdb", "--save", "",
            "--appendonly", "no", "--daemonize", "no",
            "--enable-debug-command", "local", "--protected-mode", "no"]
    p = spawn(argv, logfile(tag))
    res = {}
    try:
        wait_port(port, p)
        line = redis_cmd(port, b"DEBUG", b"POPULATE", b"%d" % keys, b"key",
                         b"%d" % VSIZE, timeout=tmo(keys))
        if line != b"+OK":
            raise RuntimeError("redis populate: %r" % line)
        st = Steady(port, keys, redis=True) if steady else None
        if st:
            st.start()
            time.sleep(0.2)
        t0 = time.monotonic()
        try:
            redis_cmd(port, b"SHUTDOWN", b"SAVE", timeout=tmo(keys))
        except (EOFError, OSError):
            pass
        wait_exit(p, tmo(keys), "redis SHUTDOWN SAVE")
        res["shutdown"] = time.monotonic() - t0
        res["rdb_bytes"] = os.path.getsize(os.path.join(d, "dump.rdb"))
        p = spawn(argv, logfile(tag))
        res["first_hit"] = first_hit(port, keys, True, None, t0,
                                     tmo(keys))
        if st:
            time.sleep(0.3)
            st.halt = True
            st.join()
            res["failed"], res["refused"] = st.failed, st.refused
        res["hit_rate"] = hit_rate(port, keys, redis=True)
    finally:
        stop(p, timeout=tmo(keys))
        shutil.rmtree(d, ignore_errors=True)
    return res


def bench_restart():
    gb = float(os.environ.get("BENCH_GB", "3"))
    keys = int(gb * 1000000)
    out("restart_keys", keys, "keys")
    out("restart_value_size", VSIZE, "bytes")
    r = {}
    for sysname, fn in (("sc_adopt", lambda: restart_shardcache("adopt",
                                                                keys)),
                        ("sc_copy", lambda: restart_shardcache(
                            "copy", keys, immediate=1)),
                        ("memcached", lambda: restart_memcached(keys)),
                        ("redis", lambda: restart_redis(keys))):
        x = r[sysname] = fn()
        out("%s_stop_to_first_hit" % sysname, x["first_hit"] * 1e3, "ms")
        out("%s_hit_rate" % sysname, x["hit_rate"] * 100, "%")
        out("%s_failed_requests" % sysname, x["failed"], "count")
        out("%s_refused_connections" % sysname, x["refused"], "count")
        if "immediate_hit_rate" in x:
            out("%s_immediate_restarts_hit_rate" % sysname,
                x["immediate_hit_rate"] * 100, "%")
    m = r["memcached"]
    out("memcached_shutdown", m["shutdown"] * 1e3, "ms")
    out("memcached_wait_for_next_second", m["waited"] * 1e3, "ms")
    out("memcached_start_to_first_hit", m["start_to_hit"] * 1e3, "ms")
    nowait = m["first_hit"] - m["waited"]
    out("memcached_stop_to_first_hit_without_wait", nowait * 1e3, "ms")
    out("redis_shutdown", r["redis"]["shutdown"] * 1e3, "ms")
    for sysname in ("sc_copy", "memcached", "redis"):
        out("sc_adopt_speedup_vs_%s" % sysname,
            r[sysname]["first_hit"] / r["sc_adopt"]["first_hit"], "x")
    out("sc_adopt_speedup_vs_memcached_without_wait",
        nowait / r["sc_adopt"]["first_hit"], "x")
    # The demonstration: memcached restarted within the second it stopped.
    # Up to 5 tries for a stop and a start that fall in the same second.
    for _ in range(5):
        demo = restart_memcached(min(keys, 100000), steady=False,
                                 same_second=True)
        if demo["same_second"]:
            break
    out("memcached_same_second_restart", int(demo["same_second"]), "bool")
    out("memcached_same_second_restart_shutdown", demo["shutdown"] * 1e3,
        "ms")
    out("memcached_same_second_restart_hit_rate", demo["hit_rate"] * 100,
        "%")


# ---- throughput ----

def pooled_q(paths, q):
    """The q-quantile (us) of every request in the runs whose mcload -o
    histograms are at paths: the top of the bucket holding it."""
    hist = {}
    for path in paths:
        with open(path) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                top, n = line.split()
                hist[float(top)] = hist.get(float(top), 0) + int(n)
    total = sum(hist.values())
    want, acc = max(1, math.ceil(q * total)), 0
    for top in sorted(hist):
        acc += hist[top]
        if acc >= want:
            return top / 1e3
    return 0.0


def bench_tput():
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    secs = float(os.environ.get("BENCH_SECS", "10"))
    keys = int(os.environ.get("BENCH_KEYS", "100000"))
    d = tmpdir("tput")
    ps, pm = free_port(), free_port()
    sc = spawn([SC, "-p", str(ps), "-l", "127.0.0.1", "-t", "2", "-m",
                "1024", "--state-dir", d, "--service", "tput"],
               logfile("tput-sc"))
    mc = spawn(["memcached", "-u", "root", "-U", "0", "-l", "127.0.0.1",
                "-p", str(pm), "-t", "2", "-m", "1024", "-c", "4096"],
               logfile("tput-mc"))
    res = {"shardcache": [], "memcached": []}
    hists = {}

    def load(sysname, port, i, *extra):
        path = os.path.join(d, "hist-%s-%d" % (sysname, i))
        r = mcload(port, "-c", 50, "-r", 90, "-v", VSIZE, "-k", keys,
                   "-d", secs, "-s", i + 1, "-o", path, *extra)
        if r["errors"] or r["failed"]:
            raise RuntimeError("%s: %r" % (sysname, r))
        res.setdefault(sysname, []).append(r)
        hists.setdefault(sysname, []).append(path)

    try:
        for port, p in ((ps, sc), (pm, mc)):
            wait_port(port, p)
            fill_mc(port, keys)
        for i in range(runs):
            for sysname, port in (("shardcache", ps), ("memcached", pm)):
                load(sysname, port, i)
        # The same offered load for both: 80% of memcached's median
        # ops/s, so that latencies compare at an equal rate.
        rate = 0.8 * statistics.median(r["ops_per_sec"]
                                       for r in res["memcached"])
        for i in range(runs):
            for sysname, port in (("shardcache", ps), ("memcached", pm)):
                load(sysname + "_fixed", port, i, "-q", int(rate))
        pooled = {n: pooled_q(h, 0.99) for n, h in hists.items()}
    finally:
        stop(sc)
        stop(mc)
        shutil.rmtree(d, ignore_errors=True)
    out("tput_runs", runs, "count")
    out("tput_fixed_rate", rate, "ops/s")
    out("tput_secs_per_run", secs, "s")
    med = {}
    for sysname, rs in res.items():
        for i, r in enumerate(rs):
            out("%s_run%d" % (sysname, i + 1), r["ops_per_sec"], "ops/s")
            out("%s_run%d_p99" % (sysname, i + 1), r["p99"], "us")
        med[sysname] = {f: statistics.median(r[f] for r in rs)
                        for f in ("ops_per_sec", "p50", "p99", "p999",
                                  "get_hit_rate")}
        for f, unit in (("ops_per_sec", "ops/s"), ("p50", "us"),
                        ("p99", "us"), ("p999", "us")):
            out("%s_%s" % (sysname, f), med[sysname][f], unit)
        out("%s_get_hit_rate" % sysname, med[sysname]["get_hit_rate"] * 100,
            "%")
        out("%s_pooled_p99" % sysname, pooled[sysname], "us")
    out("shardcache_ops_ratio_vs_memcached",
        med["shardcache"]["ops_per_sec"] / med["memcached"]["ops_per_sec"],
        "x")
    out("shardcache_p99_ratio_vs_memcached",
        med["shardcache"]["p99"] / med["memcached"]["p99"], "x")
    out("shardcache_fixed_rate_p99_ratio_vs_memcached",
        med["shardcache_fixed"]["p99"] / med["memcached_fixed"]["p99"], "x")
    # The p99 of all requests of all runs: a run's p99 near a scheduler
    # tick (4 ms at HZ=250) flips between runs; the pooled one does not.
    out("shardcache_pooled_p99_ratio_vs_memcached",
        pooled["shardcache"] / pooled["memcached"], "x")
    out("shardcache_fixed_rate_pooled_p99_ratio_vs_memcached",
        pooled["shardcache_fixed"] / pooled["memcached_fixed"], "x")


# ---- memory ----

def tree_rss(pid):
    """Private Rss of pid and its descendants (shared memory excluded:
    it is counted once, from the files)."""
    total = 0
    for p in [pid] + descendants(pid):
        v = {}
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    fl = line.split()
                    if len(fl) >= 2 and fl[0].endswith(":"):
                        v[fl[0][:-1]] = int(fl[1])
            # smaps_rollup has no Rss_Shmem; status has RssShmem.
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("RssShmem:"):
                        v["RssShmem"] = int(line.split()[1])
        except FileNotFoundError:
            continue
        total += (v.get("Rss", 0) - v.get("RssShmem", 0)) * 1024
    return total


def tmpfs_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


def mem_once(items, vs):
    """Fills a fresh shardcache and a fresh memcached with items values of
    vs bytes; per system: total, empty, private and shm bytes, and the
    bytes shardcache charges against -m (`stats' bytes)."""
    d = tmpdir("mem")
    ps, pm = free_port(), free_port()
    mb = str(mem_limit_mb(items, vs) + 1024)
    sc = spawn([SC, "-p", str(ps), "-l", "127.0.0.1", "-t", "2", "-m",
                mb, "--state-dir", d, "--service", "mem"],
               logfile("mem-sc"))
    mc = spawn(["memcached", "-u", "root", "-U", "0", "-l", "127.0.0.1",
                "-p", str(pm), "-t", "2", "-m", mb], logfile("mem-mc"))
    res = {}
    try:
        for sysname, port, p in (("shardcache", ps, sc),
                                 ("memcached", pm, mc)):
            wait_port(port, p)
            shm = tmpfs_bytes(d) if p is sc else 0
            base = tree_rss(p.pid) + shm
            r = mcload(port, "-F", "-k", items, "-v", vs, "-c", 8, "-P", 32,
                       timeout=int(tmo(items)))
            if r["errors"] or r["failed"]:
                raise RuntimeError("%s fill: %d errors, %d failed" %
                                   (sysname, r["errors"], r["failed"]))
            c = Client(port)
            st = c.stats()
            c.close()
            if int(st["curr_items"]) != items:
                raise RuntimeError("%s holds %s of %d items" %
                                   (sysname, st["curr_items"], items))
            priv = tree_rss(p.pid)
            shm = tmpfs_bytes(d) if p is sc else 0
            res[sysname] = {"total": priv + shm, "empty": base,
                            "private": priv, "shm": shm,
                            "charged": int(st["bytes"])}
    finally:
        stop(sc)
        stop(mc)
        shutil.rmtree(d, ignore_errors=True)
    return res


def bench_mem():
    items = int(os.environ.get("BENCH_ITEMS", "1000000"))
    runs = int(os.environ.get("BENCH_MEM_RUNS", "3"))
    out("mem_items", items, "items")
    out("mem_runs", runs, "count")
    for vs in (100, 1024):
        rs = [mem_once(items, vs) for _ in range(runs)]
        per = {}
        for sysname in ("shardcache", "memcached"):
            pre = "mem_%s_%dB_" % (sysname, vs)
            for i, r in enumerate(rs):
                out(pre + "per_item_run%d" % (i + 1),
                    r[sysname]["total"] / items, "bytes")

            def med(f):
                return statistics.median(r[sysname][f] for r in rs)
            out(pre + "total", med("total") / 2**20, "MiB")
            out(pre + "empty", med("empty") / 2**20, "MiB")
            if sysname == "shardcache":
                out(pre + "private", med("private") / 2**20, "MiB")
                out(pre + "shm", med("shm") / 2**20, "MiB")
            out(pre + "charged_per_item", med("charged") / items, "bytes")
            per[sysname] = med("total") / items
            out(pre + "per_item", per[sysname], "bytes")
        out("mem_%dB_ratio_vs_memcached" % vs,
            per["shardcache"] / per["memcached"], "x")


# ---- plot ----

PLOT_SYSTEMS = (
    ("sc_adopt", "shardcache adopt",
     lambda k: restart_shardcache("adopt", k, steady=False, immediate=0)),
    ("sc_copy", "shardcache copy",
     lambda k: restart_shardcache("copy", k, steady=False, immediate=0)),
    ("memcached", "memcached 1.6 -e warm restart",
     lambda k: restart_memcached(k, steady=False)),
    ("redis", "Redis RDB on /dev/shm",
     lambda k: restart_redis(k, steady=False)),
)


def plot_point(sysname, fn, keys, label, runs):
    """The median of runs restarts (ms), or Skip with the reason."""
    ts = []
    for run in range(1, runs + 1):
        avail = wait_for_memory(sysname, keys)
        load = loadavg()
        watch = MemWatch()
        watch.start()
        try:
            x = fn(keys)
        except (RuntimeError, OSError, EOFError,
                subprocess.SubprocessError, KeyError, ValueError) as e:
            if watch.tripped:
                raise Skip("MemAvailable fell below %.0f GiB (others' jobs"
                           " and this one): stopped" % (MEM_FLOOR / GiB))
            raise Skip("%s: %s" % (type(e).__name__, e))
        finally:
            watch.stop()
        ts.append(x["first_hit"] * 1e3)
        pre = label + ("_run%d" % run if runs > 1 else "")
        if runs > 1:
            out(pre + "_stop_to_first_hit", ts[-1], "ms")
        out(pre + "_mem_available_before", avail / GiB, "GiB")
        out(pre + "_mem_available_min", watch.min_avail / GiB, "GiB")
        out(pre + "_loadavg_before", load[0], "load")
        out(pre + "_loadavg_max", watch.max_load, "load")
        if "rdb_bytes" in x:
            out(pre + "_rdb_size", x["rdb_bytes"] / GiB, "GiB")
    out(label + "_stop_to_first_hit", statistics.median(ts), "ms")
    return statistics.median(ts)


def read_dat(path):
    rows, notes = {}, []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("# not measured: "):
                    notes.append(line[len("# not measured: "):].rstrip())
                elif line.startswith("# note: "):
                    notes.append(line[2:].rstrip())
                elif line.strip() and not line.startswith("#"):
                    v = line.split()
                    rows[v[0]] = [None if x == "-" else float(x)
                                  for x in v[1:]]
    except FileNotFoundError:
        pass
    return rows, notes


def write_dat(path, rows, notes):
    with open(path + ".tmp", "w") as f:
        f.write("# GiB of 1 KiB values; stop request -> first hit, ms:"
                " shardcache-adopt shardcache-copy memcached redis"
                " ('-': not measured)\n")
        f.write("# %s, %s, load average %s\n" %
                (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 os.uname().release, " ".join("%.2f" % x
                                              for x in loadavg())))
        for n in notes:
            f.write("# %s\n" % n if n.startswith("note: ") else
                    "# not measured: %s\n" % n)
        for gib in sorted(rows, key=float):
            f.write(gib + " " + " ".join("-" if v is None else "%.3f" % v
                                         for v in rows[gib]) + "\n")
    os.replace(path + ".tmp", path)


def bench_plot():
    sizes = [float(x) for x in
             os.environ.get("BENCH_PLOT_SIZES", "0.25 1 2 4 8").split()]
    only = os.environ.get("BENCH_PLOT_SYSTEMS",
                          " ".join(s[0] for s in PLOT_SYSTEMS)).split()
    base = os.environ.get("BENCH_PLOT_OUT", os.path.join(SRC, "bench",
                                                         "restart"))
    runs = int(os.environ.get("BENCH_PLOT_RUNS", "1"))
    rows, notes = {}, []
    if os.environ.get("BENCH_PLOT_MERGE") == "1":
        rows, notes = read_dat(base + ".dat")
    for gb in sizes:
        keys = int(gb * GiB / VSIZE)
        gib = "%g" % (keys * VSIZE / GiB)
        row = rows.setdefault(gib, [None] * len(PLOT_SYSTEMS))
        for i, (sysname, _, fn) in enumerate(PLOT_SYSTEMS):
            if sysname not in only:
                continue
            label = "plot_%sGiB_%s" % (gib, sysname)
            notes = [n for n in notes
                     if not n.startswith("%s GiB %s:" % (gib, sysname))]
            try:
                row[i] = plot_point(sysname, fn, keys, label, runs)
            except Skip as e:
                row[i] = None
                notes.append("%s GiB %s: %s" % (gib, sysname, e))
                print("bench: %s: not measured: %s" % (label, e),
                      file=sys.stderr, flush=True)
                out(label + "_measured", 0, "bool")
            write_dat(base + ".dat", rows, notes)
    ticks = ", ".join('"%s" %s' % ("%g GiB" % float(g) if float(g) >= 1
                                   else "%d MiB" % (float(g) * 1024), g)
                      for g in sorted(rows, key=float))
    plots = ", \\\n     ".join(
        "'%s.dat' using 1:%d with linespoints lw 2 pt %d ps 1.3 title '%s'"
        % (base, i + 2, (7, 5, 9, 11)[i], title)
        for i, (_, title, _) in enumerate(PLOT_SYSTEMS))
    gp = """set terminal pngcairo size 960,600 noenhanced font ',11'
set output '%s.png'
set title 'Restart with data: stop request to first hit (1 KiB values, 2 vCPUs, tmpfs /dev/shm)'
set xlabel 'state size (GiB of 1 KiB values, log scale)'
set ylabel 'stop request to first hit (log scale)'
set logscale xy 2
set logscale y 10
set xtics (%s)
set ytics ('0.1 ms' 0.1, '1 ms' 1, '10 ms' 10, '100 ms' 100, '1 s' 1000, '10 s' 10000, '100 s' 100000)
set yrange [1:300000]
set datafile missing '-'
set key top left box opaque
set offsets graph 0.03, graph 0.03, 0, 0
set grid
plot %s
""" % (base, ticks, plots)
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    out("plot_png", base + ".png", "path")


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    ensure_peers()
    what = sys.argv[1] if len(sys.argv) > 1 else "restart"
    # The 1-minute load average over the whole run (the machine is
    # shared), and the memory watchdog for the benchmarks but plot (which
    # runs its own per point).
    watch = MemWatch()
    watch.start()
    try:
        {"restart": bench_restart, "tput": bench_tput, "mem": bench_mem,
         "plot": bench_plot}[what]()
    finally:
        watch.stop()
        cleanup()
    out("loadavg_median", statistics.median(watch.loads), "load")
    out("loadavg_max", watch.max_load, "load")


if __name__ == "__main__":
    main()
