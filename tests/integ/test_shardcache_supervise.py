"""shardcache under shmsupervise: sockets from LISTEN_FDS, READY=1, and
upgrades through `shmctl upgrade' while clients keep going: no connection
refused, no key lost, expiry and CAS intact, state adopted in place."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardcache_lib import B, BIN, Conn, check, done, _live  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "adopt"
NAME = "scsup-%s-%d" % (MODE, os.getpid())
SUP = os.path.join(B, "shmsupervise")
CTL = os.path.join(B, "shmctl")
UPGRADES = 20


def ctl(*args):
    return subprocess.run([CTL] + list(args), capture_output=True,
                          text=True, timeout=60)


def status():
    p = ctl("status", NAME, "--json")
    return json.loads(p.stdout) if p.returncode == 0 else {}


logpath = os.path.join(B, "test-logs", NAME + ".log")
os.makedirs(os.path.dirname(logpath), exist_ok=True)
sup = subprocess.Popen([SUP, "--name", NAME, "--listen",
                        "tcp:127.0.0.1:0", "--ready-timeout", "20", "--",
                        os.path.abspath(BIN), "-t", "2", "--state", MODE,
                        "--service", NAME],
                       stdout=open(logpath, "a"), stderr=subprocess.STDOUT)
_live.append(sup)
deadline = time.time() + 20
st = {}
while time.time() < deadline:
    st = status()
    if st.get("state") == "ready":
        break
    time.sleep(0.05)
check("ready under the supervisor", st.get("state"), "ready")
port = int(st["listen"][0].rsplit(":", 1)[1])

c = Conn(port)
N = 2000
c.send(b"".join(b"set key%d %d 0 8 noreply\r\nval%05d\r\n" % (i, i, i)
                for i in range(N)))
c.send(b"set ttl 0 3 1\r\nt\r\n")
check("fill", c.line(), b"STORED\r\n")
c.close()
t_set = time.time()

stop = threading.Event()
stats = {"ok": 0, "refused": 0, "wrong": 0, "closed": 0}


def load():
    i = 0
    while not stop.is_set():
        try:
            cc = Conn(port, timeout=10)
        except ConnectionRefusedError:
            stats["refused"] += 1
            continue
        try:
            for _ in range(20):
                k = i % N
                i += 1
                cc.send(b"get key%d\r\n" % k)
                want = b"VALUE key%d %d 8\r\nval%05d\r\nEND\r\n" % (k, k, k)
                got = cc.recv_exact(len(want), timeout=10)
                if got == want:
                    stats["ok"] += 1
                elif got == b"":
                    stats["closed"] += 1   # stopped between requests
                    break
                else:
                    stats["wrong"] += 1
        except (OSError, EOFError):
            stats["closed"] += 1
        cc.close()


th = [threading.Thread(target=load) for _ in range(2)]
for t in th:
    t.start()
pids = {st.get("pid")}
fails = []
for i in range(UPGRADES):
    p = ctl("upgrade", NAME)
    if p.returncode != 0:
        fails.append(p.stdout + p.stderr)
    pids.add(status().get("pid"))
    time.sleep(0.2)
stop.set()
for t in th:
    t.join(30)
check("%d upgrades succeeded" % UPGRADES, fails, [])
check("a new process each time", len(pids), UPGRADES + 1)
check("0 refused connections", stats["refused"], 0)
check("0 wrong replies", stats["wrong"], 0)
check("clients kept working (%d ok, %d closed at a stop)" %
      (stats["ok"], stats["closed"]), stats["ok"] > 100, True)

c = Conn(port)
lost = 0
for i in range(N):
    c.send(b"get key%d\r\n" % i)
    if c.recv_until(b"END\r\n") != (b"VALUE key%d %d 8\r\nval%05d\r\nEND\r\n"
                                   % (i, i, i)):
        lost += 1
check("0 keys lost", lost, 0)
sh = c.stats(b"shmstate")
check("restart mode", sh.get("restart"), MODE)
time.sleep(max(0, t_set + 3.2 - time.time()))
c.send(b"get ttl\r\n")
check("expiry kept across upgrades", c.line(), b"END\r\n")
c.close()
p = ctl("stop", NAME)
try:
    rc = sup.wait(30)
except subprocess.TimeoutExpired:
    rc = None
check("supervisor stopped cleanly", rc, 0)
p = ctl("list", NAME)
check("shmctl list shows the saved state", p.returncode == 0 and
      ("arena" in p.stdout or "shard." in p.stdout), True)
done()
