"""Three shardcache instances, each under its own shmsupervise, behind
twemproxy (nutcracker) with ketama hashing: keys spread over all three,
and a rolling upgrade of the three while a client runs loses no key.
Requests failed during the switches are counted and reported (zero needs
connection handoff: issue 6)."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardcache_lib import B, BIN, Conn, check, done, free_port, _live  # noqa

SUP = os.path.join(B, "shmsupervise")
CTL = os.path.join(B, "shmctl")
TAG = "tw%d" % os.getpid()
LOGDIR = os.path.join(B, "test-logs")
os.makedirs(LOGDIR, exist_ok=True)


def ctl(*args):
    return subprocess.run([CTL] + list(args), capture_output=True,
                          text=True, timeout=60)


def status(name):
    p = ctl("status", name, "--json")
    return json.loads(p.stdout) if p.returncode == 0 else {}


names = ["%s-%d" % (TAG, i) for i in range(3)]
ports = []
sups = []
for n in names:
    p = subprocess.Popen([SUP, "--name", n, "--listen", "tcp:127.0.0.1:0",
                          "--ready-timeout", "20", "--",
                          os.path.abspath(BIN), "-t", "1", "-m", "16",
                          "--service", n],
                         stdout=open(os.path.join(LOGDIR, n + ".log"), "a"),
                         stderr=subprocess.STDOUT)
    _live.append(p)
    sups.append(p)
for n in names:
    deadline = time.time() + 20
    st = {}
    while time.time() < deadline and st.get("state") != "ready":
        st = status(n)
        time.sleep(0.05)
    check(n + " ready", st.get("state"), "ready")
    ports.append(int(st["listen"][0].rsplit(":", 1)[1]))

pport, sport = free_port(), free_port()
conf = os.path.join(LOGDIR, TAG + ".yml")
with open(conf, "w") as f:
    f.write("pool:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n"
            "  distribution: ketama\n  timeout: 5000\n"
            "  auto_eject_hosts: false\n  server_retry_timeout: 100\n"
            "  server_failure_limit: 3\n  servers:\n" % pport)
    for i, p in enumerate(ports):
        f.write("   - 127.0.0.1:%d:1 s%d\n" % (p, i))
nut = subprocess.Popen(["nutcracker", "-c", conf, "-s", str(sport), "-a",
                        "127.0.0.1", "-o",
                        os.path.join(LOGDIR, TAG + "-nut.log")])
_live.append(nut)
deadline = time.time() + 10
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", pport), 0.2).close()
        break
    except OSError:
        time.sleep(0.05)

N = 3000
c = Conn(pport)
for i in range(N):
    c.send(b"set key%d 0 0 8\r\nval%05d\r\n" % (i, i))
    c.line()
c.close()
counts = []
for p in ports:
    cc = Conn(p)
    counts.append(int(cc.stats()["curr_items"]))
    cc.close()
check("keys on all three (%s)" % counts, all(x > N // 10 for x in counts)
      and sum(counts) == N, True)

stop = threading.Event()
st = {"ok": 0, "failed": 0, "wrong": 0}


def load():
    i = 0
    cc = None
    while not stop.is_set():
        try:
            if cc is None:
                cc = Conn(pport, timeout=10)
            k = i % N
            i += 1
            cc.send(b"get key%d\r\n" % k)
            got = cc.recv_until(b"\r\n", timeout=10)
            if got.startswith(b"VALUE"):
                body = cc.recv_until(b"END\r\n", timeout=10)
                if body != b"val%05d\r\nEND\r\n" % k:
                    st["wrong"] += 1
                else:
                    st["ok"] += 1
            elif got.startswith(b"SERVER_ERROR") or got == b"END\r\n":
                st["failed"] += 1
            else:
                st["wrong"] += 1
        except (OSError, EOFError, TimeoutError):
            st["failed"] += 1
            if cc is not None:
                cc.close()
            cc = None


th = threading.Thread(target=load)
th.start()
time.sleep(0.3)
fails = []
for n in names:
    p = ctl("upgrade", n)
    if p.returncode != 0:
        fails.append(p.stdout + p.stderr)
    time.sleep(0.3)
stop.set()
th.join(30)
check("rolling upgrade of the three", fails, [])
check("0 wrong replies", st["wrong"], 0)
check("client kept going: %d ok, %d failed during the switches" %
      (st["ok"], st["failed"]), st["ok"] > 100, True)
print("requests_failed_during_rolling_upgrade: %d count" % st["failed"])

c = Conn(pport)
lost = 0
for i in range(N):
    c.send(b"get key%d\r\n" % i)
    if c.recv_until(b"END\r\n") != b"VALUE key%d 0 8\r\nval%05d\r\nEND\r\n" \
            % (i, i):
        lost += 1
c.close()
check("0 keys lost", lost, 0)
nut.terminate()
nut.wait(10)
for n, p in zip(names, sups):
    ctl("stop", n)
    try:
        rc = p.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    check(n + " stopped cleanly", rc, 0)
done()
