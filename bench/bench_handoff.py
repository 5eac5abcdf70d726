#!/usr/bin/env python3
"""Connection handoff benchmark (issue 6 part 6).

50 persistent connections, each with one `get' always in flight, against
a cache holding BENCH_HANDOFF_MB MiB of 1 KiB values; in the middle, an
upgrade. The load and the measuring are bench/mcload's gap mode (-g, one
C epoll loop; this script only fills, starts and stops the systems and
marks the upgrade window on mcload's stdin). Measured per connection:
the longest gap between two replies in the upgrade window (and, as the
noise floor, before it); errors (a reply missing or wrong, a request
lost with its connection) and reconnects.
  - shardcache (adopt mode) under shmsupervise: `shmctl upgrade'; the
    connections are handed over, so the clients never reconnect.
  - memcached 1.6 warm restart: `-e' memory file on /dev/shm, SIGUSR1
    (graceful stop, state saved), then started again as soon as it has
    exited and the wall-clock second has changed (within the second it
    stopped in, memcached discards the memory file); its clients must
    reconnect (retrying every ms) and count an error per lost request.
Environment: B (build dir), BENCH_HANDOFF_MB (default 3072),
BENCH_HANDOFF_CONNS (50), BENCH_HANDOFF_SYSTEMS ("shardcache memcached"),
BENCH_HANDOFF_PACE_US (0: closed loop; N: a connection sends its next
get no sooner than N us after its last, mcload -i),
BENCH_HANDOFF_THREADS (worker threads of either server, -t; default
one less than the cores, at most 2).
Prints `name: value unit' lines.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

B = os.path.abspath(os.environ.get("B", "build"))
MB = int(os.environ.get("BENCH_HANDOFF_MB", "3072"))
NCONN = int(os.environ.get("BENCH_HANDOFF_CONNS", "50"))
SYSTEMS = os.environ.get("BENCH_HANDOFF_SYSTEMS",
                         "shardcache memcached").split()
PACE_US = int(os.environ.get("BENCH_HANDOFF_PACE_US", "0"))
# Server worker threads: the client's thread and the servers' together
# must not outnumber the cores, or the longest gap with no upgrade at all
# is a scheduler time slice (measured on 2 cores with -t 2: 13-40 ms).
THREADS = int(os.environ.get("BENCH_HANDOFF_THREADS",
                             str(min(2, max(1, (os.cpu_count() or 2) - 1)))))
MCLOAD = os.path.join(B, "mcload")
VSIZE = 1024
NKEYS = MB * 1024 * 1024 // VSIZE
PREFIX = "k"
PRE_S, POST_S = 1.0, 0.25


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


def mcload_out(text):
    """`name: value unit' lines into {name: value}."""
    res = {}
    for line in text.splitlines():
        name, sep, rest = line.partition(": ")
        if sep and rest:
            res[name] = rest.split()[0]
    return res


def fill(port):
    """NKEYS sets of VSIZE bytes, every key once (mcload -F)."""
    t0 = time.time()
    r = subprocess.run([MCLOAD, "-p", str(port), "-F", "-K", PREFIX,
                        "-k", str(NKEYS), "-v", str(VSIZE), "-c", "8",
                        "-P", "32", "-T", "900"],
                       capture_output=True, text=True, timeout=1000)
    f = mcload_out(r.stdout)
    if (r.returncode != 0 or f.get("requests") != str(NKEYS) or
            f.get("errors") != "0" or f.get("failed") != "0"):
        raise SystemExit("fill failed: %s %s" % (r.stdout, r.stderr))
    return time.time() - t0


def run_load(port, trigger, is_done, poll_s):
    """mcload -g: NCONN connections, one get each always in flight
    (paced by PACE_US if set). "mark" on its stdin at PRE_S, then
    trigger(); is_done() polled every poll_s; "stop" POST_S after it.
    Returns mcload's figures as a dict."""
    argv = [MCLOAD, "-g", "-p", str(port), "-c", str(NCONN), "-r", "100",
            "-K", PREFIX, "-k", str(NKEYS), "-v", str(VSIZE), "-R", "1",
            "-T", "900"]
    if PACE_US > 0:
        argv += ["-i", str(PACE_US)]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(PRE_S)
        p.stdin.write("mark\n")
        p.stdin.flush()
        trigger()
        end = time.monotonic() + 600
        while not is_done():
            if time.monotonic() > end:
                raise SystemExit("load: upgrade did not finish in 600 s")
            time.sleep(poll_s)
        time.sleep(POST_S)
        o, e = p.communicate("stop\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        raise SystemExit("mcload -g failed: %s" % e)
    return mcload_out(o)


def out_load(sysname, f):
    """The figures of one system's run; returns (max gap, errors)."""
    gap = float(f["gap_window_max"])
    errors = sum(int(f[k]) for k in ("errors", "failed"))
    attempts = int(f["reconnects"])
    refused = int(f["refused"]) + int(f["connect_errors"])
    pre = "handoff_%s_" % sysname
    out(pre + "max_gap", "%.3f" % gap, "ms")
    out(pre + "baseline_max_gap", f["gap_baseline_max"], "ms")
    out(pre + "max_gap_conn_median", f["gap_window_conn_median"], "ms")
    out(pre + "max_gap_end", f["gap_window_max_end"], "ms")
    out(pre + "errors", errors, "requests")
    out(pre + "closed", f["closed"], "connections")
    out(pre + "reconnects", attempts - refused, "connections")
    out(pre + "refused_connects", refused, "attempts")
    out(pre + "replies", f["requests"], "replies")
    out(pre + "hit_rate", f["get_hit_rate"], "")
    out(pre + "ops_per_sec", f["ops_per_sec"], "ops/s")
    return gap, errors


def bench_shardcache(tmp):
    name = "bench-handoff"
    env = dict(os.environ, SHMSTATE_DIR=tmp)
    log = open(os.path.join(tmp, "sup.log"), "a")
    port = free_port()
    sup = subprocess.Popen(
        [os.path.join(B, "shmsupervise"), "--name", name, "--listen",
         "tcp:127.0.0.1:%d" % port, "--ready-timeout", "300", "--",
         os.path.join(B, "shardcache"), "-t", str(THREADS), "-c", "4096",
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

        f = run_load(port, trigger, is_done, 0.005)
        st = json.loads(subprocess.run(
            [os.path.join(B, "shmctl"), "status", name, "--json"], env=env,
            capture_output=True, text=True).stdout)
        gap, err = out_load("shardcache", f)
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
    argv = [mc, "-U", "0", "-l", "127.0.0.1", "-p", str(port), "-t", str(THREADS),
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
            # Restart as soon as the old one has saved and exited, but
            # not within the wall-clock second it stopped in: memcached
            # discards its memory file then (the restart benchmark of
            # bench_shardcache.py waits the same way).
            if not state["restarted"]:
                if proc["p"].poll() is None:
                    return False
                if "stopped" not in state:
                    state["stopped"] = int(time.time())
                    state["exit"] = time.monotonic()
                if int(time.time()) == state["stopped"]:
                    return False
                state["waited"] = time.monotonic() - state["exit"]
                proc["p"] = subprocess.Popen(argv, stdout=log, stderr=log)
                state["restarted"] = True
                return False
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False

        f = run_load(port, trigger, is_done, 0.001)
        gap, err = out_load("memcached", f)
        out("handoff_memcached_stop_s", "%.3f" % (state["exit"] -
                                                  state["t"]), "s")
        out("handoff_memcached_second_wait_s", "%.3f" % state["waited"],
            "s")
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
    out("handoff_server_threads", THREADS, "threads")
    out("handoff_pace", PACE_US, "us")
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
