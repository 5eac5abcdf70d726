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
BENCH_PLOT_SIZES ("0.25 1 2 4"), BENCH_PLOT_OUT (bench/restart).
Prints `name: value unit' lines. Stops only the processes it started.
"""
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


def out(name, value, unit):
    if isinstance(value, float):
        value = "%.4g" % value if abs(value) < 1e4 else "%.0f" % value
    print("%s: %s %s" % (name, value, unit), flush=True)


def cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


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
            proc.kill()
            proc.wait()


def mcload(port, *args, timeout=900):
    r = subprocess.run([MCLOAD, "-p", str(port), "-T", str(timeout)] +
                       [str(a) for a in args], capture_output=True,
                       text=True, timeout=timeout + 30, check=True)
    res = {}
    for line in r.stdout.splitlines():
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
    old_pid (shardcache and memcached report their pid in stats)."""
    n = random.Random(5).randrange(keys)
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        try:
            c = Client(port, redis, timeout=30)
        except OSError:
            time.sleep(0.0005)
            continue
        try:
            c.send_gets([key(n)])
            v = c.read_get()
            t = time.monotonic()
            if value_ok(n, v, redis):
                if redis or old_pid is None or \
                        int(c.stats()["pid"]) != old_pid:
                    c.close()
                    return t - t0
        except (OSError, EOFError, ValueError):
            pass
        c.close()
        time.sleep(0.0005)
    raise RuntimeError("no hit within %ss" % timeout)


def mem_limit_mb(keys, vsize=VSIZE):
    return int(keys * (vsize + 200) * 1.2 / 2**20) + 256


def tmpdir(tag):
    d = "/dev/shm/scbench-%d-%s" % (os.getpid(), tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d, mode=0o700)
    return d


def logfile(tag):
    d = os.path.join(B, "bench-logs")
    os.makedirs(d, exist_ok=True)
    return open(os.path.join(d, "shardcache-%s.log" % tag), "ab")


def fill_mc(port, keys):
    t = time.monotonic()
    r = mcload(port, "-F", "-k", keys, "-v", VSIZE, "-c", 8, "-P", 32)
    if r["errors"] or r["failed"] or r["requests"] != keys:
        raise RuntimeError("fill: %r" % r)
    return time.monotonic() - t


# ---- restart ----

def restart_shardcache(mode, keys, steady=True, immediate=3):
    tag = "sc-" + mode
    d = tmpdir(tag)
    port = free_port()
    name = "scbench-%s-%d" % (mode, os.getpid())
    sup = spawn([SUP, "--name", name, "--dir", d, "--listen",
                 "tcp:127.0.0.1:%d" % port, "--stop-timeout", "600",
                 "--ready-timeout", "600", "--", SC, "-t", "2",
                 "-m", str(mem_limit_mb(keys)), "--state", mode],
                logfile(tag))
    res = {}
    try:
        wait_port(port, sup)
        fill_mc(port, keys)
        c = Client(port)
        old = int(c.stats()["pid"])
        c.close()
        st = Steady(port, keys) if steady else None
        if st:
            st.start()
            time.sleep(0.2)
        t0 = time.monotonic()
        sup.send_signal(signal.SIGHUP)	# reload: stop, start, adopt
        res["first_hit"] = first_hit(port, keys, False, old, t0)
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
            first_hit(port, keys, False, old, time.monotonic())
        if immediate:
            res["immediate_hit_rate"] = hit_rate(port, keys)
    finally:
        stop(sup)
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
        fill_mc(port, keys)
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
        p.wait(600)
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
        res["first_hit"] = first_hit(port, keys, False, None, t0)
        res["start_to_hit"] = time.monotonic() - t1
        if st:
            time.sleep(0.3)
            st.halt = True
            st.join()
            res["failed"], res["refused"] = st.failed, st.refused
        res["hit_rate"] = hit_rate(port, keys)
    finally:
        stop(p)
        shutil.rmtree(d, ignore_errors=True)
    return res


def redis_cmd(port, *args):
    c = Client(port, redis=True, timeout=600)
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
                         b"%d" % VSIZE)
        if line != b"+OK":
            raise RuntimeError("redis populate: %r" % line)
        st = Steady(port, keys, redis=True) if steady else None
        if st:
            st.start()
            time.sleep(0.2)
        t0 = time.monotonic()
        try:
            redis_cmd(port, b"SHUTDOWN", b"SAVE")
        except (EOFError, OSError):
            pass
        p.wait(600)
        res["shutdown"] = time.monotonic() - t0
        p = spawn(argv, logfile(tag))
        res["first_hit"] = first_hit(port, keys, True, None, t0)
        if st:
            time.sleep(0.3)
            st.halt = True
            st.join()
            res["failed"], res["refused"] = st.failed, st.refused
        res["hit_rate"] = hit_rate(port, keys, redis=True)
    finally:
        stop(p)
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
    try:
        for port, p in ((ps, sc), (pm, mc)):
            wait_port(port, p)
            fill_mc(port, keys)
        for i in range(runs):
            for sysname, port in (("shardcache", ps), ("memcached", pm)):
                r = mcload(port, "-c", 50, "-r", 90, "-v", VSIZE, "-k", keys,
                           "-d", secs, "-s", i + 1)
                if r["errors"] or r["failed"]:
                    raise RuntimeError("%s: %r" % (sysname, r))
                res[sysname].append(r)
        # The same offered load for both: 80% of memcached's median
        # ops/s, so that latencies compare at an equal rate.
        rate = 0.8 * statistics.median(r["ops_per_sec"]
                                       for r in res["memcached"])
        for i in range(runs):
            for sysname, port in (("shardcache", ps), ("memcached", pm)):
                r = mcload(port, "-c", 50, "-r", 90, "-v", VSIZE, "-k", keys,
                           "-d", secs, "-s", i + 1, "-q", int(rate))
                if r["errors"] or r["failed"]:
                    raise RuntimeError("%s: %r" % (sysname, r))
                res.setdefault(sysname + "_fixed", []).append(r)
    finally:
        stop(sc)
        stop(mc)
        shutil.rmtree(d, ignore_errors=True)
    out("tput_runs", runs, "count")
    out("tput_fixed_rate", rate, "ops/s")
    out("tput_secs_per_run", secs, "s")
    med = {}
    for sysname, rs in res.items():
        med[sysname] = {f: statistics.median(r[f] for r in rs)
                        for f in ("ops_per_sec", "p50", "p99", "p999",
                                  "get_hit_rate")}
        for f, unit in (("ops_per_sec", "ops/s"), ("p50", "us"),
                        ("p99", "us"), ("p999", "us")):
            out("%s_%s" % (sysname, f), med[sysname][f], unit)
        out("%s_get_hit_rate" % sysname, med[sysname]["get_hit_rate"] * 100,
            "%")
    out("shardcache_ops_ratio_vs_memcached",
        med["shardcache"]["ops_per_sec"] / med["memcached"]["ops_per_sec"],
        "x")
    out("shardcache_p99_ratio_vs_memcached",
        med["shardcache"]["p99"] / med["memcached"]["p99"], "x")
    out("shardcache_fixed_rate_p99_ratio_vs_memcached",
        med["shardcache_fixed"]["p99"] / med["memcached_fixed"]["p99"], "x")


# ---- memory ----

def tree_rss(pid):
    """Private Rss of pid and its descendants (shared memory excluded:
    it is counted once, from the files)."""
    pids, total = [pid], 0
    while pids:
        p = pids.pop()
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                v = {}
                for line in f:
                    fl = line.split()
                    if len(fl) >= 2 and fl[0].endswith(":"):
                        v[fl[0][:-1]] = int(fl[1])
            # smaps_rollup has no Rss_Shmem; status has RssShmem.
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("RssShmem:"):
                        v["RssShmem"] = int(line.split()[1])
            total += (v.get("Rss", 0) - v.get("RssShmem", 0)) * 1024
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                pids += [int(x) for x in f.read().split()]
        except FileNotFoundError:
            pass
    return total


def tmpfs_bytes(d):
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_blocks * 512
    return total


def bench_mem():
    items = int(os.environ.get("BENCH_ITEMS", "1000000"))
    out("mem_items", items, "items")
    for vs in (100, 1024):
        d = tmpdir("mem")
        ps, pm = free_port(), free_port()
        mb = str(mem_limit_mb(items, vs) + 1024)
        sc = spawn([SC, "-p", str(ps), "-l", "127.0.0.1", "-t", "2", "-m",
                    mb, "--state-dir", d, "--service", "mem"],
                   logfile("mem-sc"))
        mc = spawn(["memcached", "-u", "root", "-U", "0", "-l", "127.0.0.1",
                    "-p", str(pm), "-t", "2", "-m", mb], logfile("mem-mc"))
        try:
            per = {}
            for sysname, port, p in (("shardcache", ps, sc),
                                     ("memcached", pm, mc)):
                wait_port(port, p)
                base = tree_rss(p.pid) + tmpfs_bytes(d) * (p is sc)
                r = mcload(port, "-F", "-k", items, "-v", vs, "-c", 8,
                           "-P", 32)
                if r["errors"] or r["failed"]:
                    raise RuntimeError("fill: %r" % r)
                c = Client(port)
                n = int(c.stats()["curr_items"])
                c.close()
                if n != items:
                    raise RuntimeError("%s holds %d of %d items" %
                                       (sysname, n, items))
                total = tree_rss(p.pid) + (tmpfs_bytes(d) if p is sc else 0)
                per[sysname] = total / items
                out("mem_%s_%dB_total" % (sysname, vs), total / 2**20, "MiB")
                out("mem_%s_%dB_empty" % (sysname, vs), base / 2**20, "MiB")
                out("mem_%s_%dB_per_item" % (sysname, vs), per[sysname],
                    "bytes")
            out("mem_%dB_ratio_vs_memcached" % vs,
                per["shardcache"] / per["memcached"], "x")
        finally:
            stop(sc)
            stop(mc)
            shutil.rmtree(d, ignore_errors=True)


# ---- plot ----

def bench_plot():
    sizes = [float(x) for x in
             os.environ.get("BENCH_PLOT_SIZES", "0.25 1 2 4").split()]
    base = os.environ.get("BENCH_PLOT_OUT", os.path.join(SRC, "bench",
                                                         "restart"))
    rows = []
    for gb in sizes:
        keys = int(gb * 1000000)
        row = [gb * 1000000 * VSIZE / 2**30]
        a = restart_shardcache("adopt", keys, steady=False, immediate=0)
        c = restart_shardcache("copy", keys, steady=False, immediate=0)
        m = restart_memcached(keys, steady=False)
        r = restart_redis(keys, steady=False)
        for sysname, x in (("sc_adopt", a), ("sc_copy", c),
                           ("memcached", m), ("redis", r)):
            out("plot_%gGiB_%s_stop_to_first_hit" % (row[0], sysname),
                x["first_hit"] * 1e3, "ms")
            row.append(x["first_hit"] * 1e3)
        rows.append(row)
        with open(base + ".dat", "w") as f:
            f.write("# GiB of 1 KiB values; stop request -> first hit, ms:"
                    " shardcache-adopt shardcache-copy memcached redis\n")
            for rw in rows:
                f.write(" ".join("%.3f" % v for v in rw) + "\n")
    gp = """set terminal pngcairo size 900,560 noenhanced
set output '%s.png'
set title 'Restart with data: stop request to first hit (1 KiB values)'
set xlabel 'state size (GiB)'
set ylabel 'ms (log scale)'
set logscale y
set key top left
set grid
plot '%s.dat' using 1:2 with linespoints title 'shardcache adopt', \\
     '' using 1:3 with linespoints title 'shardcache copy', \\
     '' using 1:4 with linespoints title 'memcached 1.6 -e warm restart', \\
     '' using 1:5 with linespoints title 'Redis RDB on /dev/shm'
""" % (base, base)
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    out("plot_png", base + ".png", "path")


def main():
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    ensure_peers()
    what = sys.argv[1] if len(sys.argv) > 1 else "restart"
    try:
        {"restart": bench_restart, "tput": bench_tput, "mem": bench_mem,
         "plot": bench_plot}[what]()
    finally:
        cleanup()


if __name__ == "__main__":
    main()
