"""shardcache across restarts, in the mode named by argv[1] (copy or
adopt): every item comes back (values, flags, CAS), expiry stays at the
right absolute time, CAS keeps increasing, re-sharding, a smaller -m, a
corrupt checkpoint segment (copy), kill -9; and LRU eviction under -m."""
import glob
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardcache_lib import Server, check, done  # noqa: E402

STATE = os.environ.get("SHMSTATE_DIR") or "/dev/shm/shmstate"
MODE = sys.argv[1] if len(sys.argv) > 1 else "copy"
SVC = "sc-restart-%s-%d" % (MODE, os.getpid())
rnd = random.Random(7)


def server(*extra):
    return Server("-t", "2", "-m", "64", "--state", MODE, "--service", SVC,
                  *extra).start()


def fill(c, n, prefix=b"k", exptime=0):
    vals = {}
    out = []
    for i in range(n):
        key = prefix + b"%d" % i
        v = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300)))
        vals[key] = (i, v)
        out.append(b"set %s %d %d %d noreply\r\n%s\r\n" %
                   (key, i, exptime, len(v), v))
    c.send(b"".join(out))
    return vals


def gets(c, key):
    c.send(b"gets " + key + b"\r\n")
    hdr = c.line()
    if hdr == b"END\r\n":
        return None
    p = hdr.split()
    data = c.recv_exact(int(p[3]) + 2)[:-2]
    assert c.line() == b"END\r\n"
    return int(p[2]), data, int(p[4])


def all_present(c, vals):
    bad = 0
    for k, (flags, v) in vals.items():
        r = gets(c, k)
        if r is None or r[0] != flags or r[1] != v:
            bad += 1
    return bad


# 1. Everything survives a clean restart, CAS included.
s = server()
c = s.conn()
vals = fill(c, 3000)
t_set = time.time()
c.send(b"set exp3 0 3 1\r\na\r\n")
check("set expiring", c.line(), b"STORED\r\n")
abs_t = int(time.time()) + 4
c.send(b"set expabs 0 %d 1\r\nb\r\n" % abs_t)
check("set absolute", c.line(), b"STORED\r\n")
cas_before = {k: gets(c, k)[2] for k in list(vals)[:100]}
max_cas = max(cas_before.values())
c.send(b"set last 0 0 1\r\nz\r\n")
c.line()
max_cas = max(max_cas, gets(c, b"last")[2])
c.close()
check("clean stop exit 0", s.stop(), 0)
segs = glob.glob(os.path.join(STATE, SVC, "*"))
check("checkpoint segments written", len(segs) > 1, True)

s = server()
c = s.conn()
st = c.stats(b"shmstate")
check("restart mode " + MODE, st.get("restart"), MODE)
check("items adopted", st.get("items_adopted"), str(3000 + 3))
check("all items back", all_present(c, vals), 0)
check("cas kept", {k: gets(c, k)[2] for k in cas_before}, cas_before)
c.send(b"set new 0 0 1\r\nn\r\n")
c.line()
check("cas continues above adopted", gets(c, b"new")[2] > max_cas, True)
r = gets(c, b"exp3")
# it expires at the second int(t_set) + 3 (server clock, whole seconds)
check("expiring item still there before its time",
      r is not None or time.time() >= int(t_set) + 2.9, True)
time.sleep(max(0, t_set + 3.2 - time.time()))
check("relative expiry at the original absolute time",
      gets(c, b"exp3"), None)
time.sleep(max(0, abs_t + 1.1 - time.time()))
check("absolute expiry kept", gets(c, b"expabs"), None)
c.close()
check("stop 2", s.stop(), 0)

# 2. A stopped server's expired items are dropped at adopt, not served.
s = server()
c = s.conn()
c.send(b"set short 0 1 1\r\na\r\nset long 0 100 1\r\nb\r\n")
c.line(), c.line()
c.close()
check("stop 3", s.stop(), 0)
time.sleep(2.1)
s = server()
c = s.conn()
check("expired during downtime", gets(c, b"short"), None)
check("unexpired kept", gets(c, b"long")[1], b"b")
if MODE == "copy":
    check("dropped counted",
          int(c.stats(b"shmstate")["items_dropped"]) >= 1, True)
check("older items still there", all_present(c, vals), 0)
c.close()
check("stop 4", s.stop(), 0)

# 3. Different shard count: re-sharded, nothing lost.
s = server("--shards", "2")
c = s.conn()
check("re-shard 16->2 keeps all", all_present(c, vals), 0)
c.close()
check("stop 5", s.stop(), 0)
s = server("--shards", "32")
c = s.conn()
check("re-shard 2->32 keeps all", all_present(c, vals), 0)
big = b"B" * 1000
c.send(b"".join(b"set big%d 0 0 1000 noreply\r\n%s\r\n" % (i, big)
                for i in range(1500)) + b"version\r\n")
c.line()
c.close()
check("stop 6", s.stop(), 0)

# 4. Smaller -m: adopts what fits, stays within the limit.
c = None
s = Server("-t", "2", "-m", "1", "-I", "128k", "--shards", "2", "--state",
           MODE, "--service", SVC).start()
c = s.conn()
st = c.stats()
check("smaller -m within limit", int(st["bytes"]) <= 1 << 20, True)
sh = c.stats(b"shmstate")
check("smaller -m drops some", int(sh["items_dropped"]) > 0, True)
check("smaller -m adopts some", int(sh["items_adopted"]) > 0, True)
ok = all(gets(c, k) in (None,) or gets(c, k)[1] == vals[k][1]
         for k in list(vals)[:300])
check("smaller -m never wrong data", ok, True)
c.close()
check("stop 7", s.stop(), 0)

# 5. A corrupt segment (copy) or arena (adopt, sealed with a checksum by
# --verify-state): that shard is refused, the others adopted, no crash,
# no wrong data.
VS = ("--verify-state",) if MODE == "adopt" else ()
s = server("--shards", "4", *VS)
c = s.conn()
vals = fill(c, 2000, b"c")
c.send(b"version\r\n")
c.line()
c.close()
check("stop 8", s.stop(), 0)
segs = sorted(glob.glob(os.path.join(STATE, SVC, "*shard.0001*") if
                     MODE == "copy" else
                     os.path.join(STATE, SVC, "arena.s4.0001")))
check("segment found", len(segs) >= 1, True)
with open(segs[0], "r+b") as f:
    f.seek(-100, 2)
    b = f.read(1)
    f.seek(-100, 2)
    f.write(bytes([b[0] ^ 0xff]))
s = server("--shards", "4", *VS)
c = s.conn()
missing = 0
wrong = 0
for k, (flags, v) in vals.items():
    r = gets(c, k)
    if r is None:
        missing += 1
    elif r[1] != v or r[0] != flags:
        wrong += 1
check("no wrong data", wrong, 0)
check("corrupt: one shard lost (%d of %d)" % (missing, len(vals)),
      0 < missing < len(vals), True)
c.close()
check("stop 9", s.stop(), 0)

# 6. kill -9: the next start is cold or the last clean state, and serves.
s = server()
c = s.conn()
fill(c, 100, b"x")
c.send(b"version\r\n")
c.line()
c.close()
s.kill9()
s = server()
c = s.conn()
st = c.stats(b"shmstate")
check("after kill -9 serves", st.get("restart") in ("cold", "copy"), True)
c.send(b"set y 0 0 1\r\n1\r\nget y\r\n")
check("after kill -9 works", c.recv_exact(29), b"STORED\r\nVALUE y 0 1\r\n1\r\n"
      b"END\r\n")
c.close()
check("stop 10", s.stop(), 0)

# 7. Graceful stop: a value half-received when SIGTERM arrives is finished
# and kept; a client pipelining without pause does not hold the stop up.
import signal  # noqa: E402
import threading  # noqa: E402
s = server()
half = s.conn()
half.send(b"set inflight 0 0 100000\r\n" + b"i" * 50000)
busy = s.conn()
stop_busy = threading.Event()


def pound():
    try:
        while not stop_busy.is_set():
            busy.send(b"get inflight\r\nversion\r\n" * 50)
            busy.s.settimeout(0.5)
            busy.s.recv(1 << 16)
    except OSError:
        pass


th = threading.Thread(target=pound)
th.start()
time.sleep(0.3)
t0 = time.time()
s.proc.send_signal(signal.SIGTERM)
time.sleep(0.3)
half.send(b"i" * 50000 + b"\r\n")
check("in-flight value finished at stop", half.line(), b"STORED\r\n")
rc = s.proc.wait(20)
stop_busy.set()
th.join(5)
check("stop exit 0 with a busy client", rc, 0)
check("stop not held up by a pipelining client (%.2fs)" % (time.time() - t0),
      time.time() - t0 < 3, True)
s.proc = None
half.close()
busy.close()
s = server()
c = s.conn()
check("value finished during the stop was saved",
      c.get(b"inflight") == b"i" * 100000, True)
c.close()
check("stop 10b", s.stop(), 0)

# 8. Eviction under -m: LRU evicts, memory stays within the limit.
s = Server("-t", "2", "-m", "2", "-I", "256k", "--shards", "2", "--state",
           "none").start()
c = s.conn()
v = b"e" * 10000
c.send(b"set hot 0 0 1\r\nh\r\n")
c.line()
for i in range(1000):
    c.send(b"set ev%d 0 0 %d noreply\r\n%s\r\n" % (i, len(v), v))
    if i % 50 == 0:
        c.send(b"get hot\r\n")
        c.recv_until(b"END\r\n")
st = c.stats()
check("evictions counted", int(st["evictions"]) > 0, True)
check("bytes within -m", int(st["bytes"]) <= 2 << 20, True)
check("recent item kept", c.get(b"ev999") == v, True)
check("oldest item evicted", c.get(b"ev0"), None)
check("frequently read item kept by LRU", c.get(b"hot"), b"h")
# Every item read since it last reached the tail: eviction gives each a
# second chance, but at most a bounded number per set, so sets still store.
ev0 = int(c.stats()["evictions"])
for i in range(1000):
    c.send(b"get ev%d\r\n" % i)
    c.recv_until(b"END\r\n")
stored = 0
for i in range(50):
    c.send(b"set all%d 0 0 %d\r\n%s\r\n" % (i, len(v), v))
    stored += c.line() == b"STORED\r\n"
check("sets store when every item was read", stored, 50)
check("and evict", int(c.stats()["evictions"]) > ev0, True)
check("bytes within -m after", int(c.stats()["bytes"]) <= 2 << 20, True)
c.close()
check("stop 11", s.stop(), 0)

# 9. A large -m: each shard's arena may grow past 1 GiB, whose allocator
# metadata did not fit the fixed 1 MiB an arena used to start with
# (adopt mode refused to start above -m ~7 GiB): starts, serves, adopts.
big = ("-t", "2", "-m", "16384", "--state", MODE, "--service", SVC + "-big")
s = Server(*big).start()
c = s.conn()
c.send(b"set big 0 0 3\r\nbig\r\n")
check("large -m: serves", c.line(), b"STORED\r\n")
c.close()
check("stop 12", s.stop(), 0)
s = Server(*big).start()
c = s.conn()
check("large -m: kept across a restart", c.get(b"big"), b"big")
c.close()
check("stop 13", s.stop(), 0)
done()
