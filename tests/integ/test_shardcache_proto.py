"""Protocol conformance of shardcache against memcached 1.6's text
protocol: every command, every error reply, noreply, pipelining, split
packets, binary data, limits. Replies were checked against memcached
1.6.18 on this machine (differences are deliberate and noted)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardcache_lib import Server, check, done  # noqa: E402

MODE = sys.argv[1] if len(sys.argv) > 1 else "none"
srv = Server("-t", "2", "-m", "16", "-I", "64k", "--state", MODE,
             "--service", "sc-proto-%d" % os.getpid(),
             "-c", "50", "--output-max", "64k").start()
BF = b"CLIENT_ERROR bad command line format\r\n"


def x(name, send, want, c=None):
    own = c is None
    if own:
        c = srv.conn()
    c.send(send)
    got = c.recv_exact(len(want), timeout=3)
    check(name, got, want)
    if own:
        extra = not c.nothing(0.05)
        if extra:
            check(name + " (no extra bytes)", c.buf, b"")
        c.close()


# --- storage ---
x("set", b"set a 5 0 3\r\nabc\r\n", b"STORED\r\n")
x("get", b"get a\r\n", b"VALUE a 5 3\r\nabc\r\nEND\r\n")
x("get miss", b"get nope\r\n", b"END\r\n")
x("multi get", b"get a nope a\r\n",
  b"VALUE a 5 3\r\nabc\r\nVALUE a 5 3\r\nabc\r\nEND\r\n")
x("add existing", b"add a 0 0 1\r\nx\r\n", b"NOT_STORED\r\n")
x("add new", b"add b 0 0 1\r\nx\r\n", b"STORED\r\n")
x("replace missing", b"replace zz 0 0 1\r\nx\r\n", b"NOT_STORED\r\n")
x("replace", b"replace b 7 0 2\r\nyy\r\n", b"STORED\r\n")
x("get replaced", b"get b\r\n", b"VALUE b 7 2\r\nyy\r\nEND\r\n")
x("append", b"append b 9 0 2\r\nzz\r\nget b\r\n",
  b"STORED\r\nVALUE b 7 4\r\nyyzz\r\nEND\r\n")
x("prepend", b"prepend b 0 0 2\r\n00\r\nget b\r\n",
  b"STORED\r\nVALUE b 7 6\r\n00yyzz\r\nEND\r\n")
x("append missing", b"append qq 0 0 1\r\nx\r\n", b"NOT_STORED\r\n")
x("prepend missing", b"prepend qq 0 0 1\r\nx\r\n", b"NOT_STORED\r\n")
x("flags max", b"set f 4294967295 0 1\r\na\r\nget f\r\n",
  b"STORED\r\nVALUE f 4294967295 1\r\na\r\nEND\r\n")
x("empty value", b"set e 0 0 0\r\n\r\nget e\r\n",
  b"STORED\r\nVALUE e 0 0\r\n\r\nEND\r\n")
x("LF-only line", b"set l 0 0 1\na\r\nget l\n",
  b"STORED\r\nVALUE l 0 1\r\na\r\nEND\r\n")
x("extra spaces", b"set  s   0 0  1 \r\na\r\nget   s  \r\n",
  b"STORED\r\nVALUE s 0 1\r\na\r\nEND\r\n")

# --- cas / gets ---
c = srv.conn()
c.send(b"gets a\r\n")
hdr = c.line()
parts = hdr.split()
check("gets header", parts[:4], [b"VALUE", b"a", b"5", b"3"])
cas = int(parts[4])
check("gets body", c.recv_exact(10), b"abc\r\nEND\r\n")
x("cas bad", b"cas a 0 0 1 %d\r\nx\r\n" % (cas + 1000), b"EXISTS\r\n", c)
x("cas good", b"cas a 1 0 2 %d\r\nxy\r\n" % cas, b"STORED\r\n", c)
x("cas again stale", b"cas a 1 0 2 %d\r\nxy\r\n" % cas, b"EXISTS\r\n", c)
x("cas missing", b"cas nokey 0 0 1 5\r\na\r\n", b"NOT_FOUND\r\n", c)
c.send(b"gets a\r\n")
newcas = int(c.line().split()[4])
c.recv_exact(9)
check("cas increases", newcas > cas, True)
c.close()
x("cas few tokens", b"cas k 0 0 1\r\na\r\n", b"ERROR\r\nERROR\r\n")
x("cas bad unique", b"cas k 0 0 1 abc\r\na\r\n", BF + b"ERROR\r\n")

# --- gat / gats / touch ---
x("gat", b"set t 3 0 1\r\nz\r\ngat 100 t\r\n",
  b"STORED\r\nVALUE t 3 1\r\nz\r\nEND\r\n")
c = srv.conn()
c.send(b"gats 100 t nope\r\n")
p = c.line().split()
check("gats", (p[:4], len(p)), ([b"VALUE", b"t", b"3", b"1"], 5))
check("gats body", c.recv_exact(8), b"z\r\nEND\r\n")
c.close()
x("gat no key", b"gat 10\r\n", b"END\r\n")
x("gat alone", b"gat\r\n", b"ERROR\r\n")
x("gat bad exptime", b"gat x k\r\n",
  b"CLIENT_ERROR invalid exptime argument\r\n")
x("touch", b"touch t 100\r\n", b"TOUCHED\r\n")
x("touch miss", b"touch nokey 10\r\n", b"NOT_FOUND\r\n")
x("touch few", b"touch k\r\n", b"ERROR\r\n")
x("touch bad", b"touch k abc\r\n", b"CLIENT_ERROR invalid exptime argument\r\n")
x("touch noreply", b"touch t 100 noreply\r\nget t\r\n",
  b"VALUE t 3 1\r\nz\r\nEND\r\n")

# --- delete ---
x("delete", b"set d 0 0 1\r\n1\r\ndelete d\r\ndelete d\r\n",
  b"STORED\r\nDELETED\r\nNOT_FOUND\r\n")
x("delete 0", b"delete d 0\r\n", b"NOT_FOUND\r\n")
x("delete usage", b"delete d 1\r\n", b"CLIENT_ERROR bad command line format."
  b"  Usage: delete <key> [noreply]\r\n")
x("delete noreply", b"set d 0 0 1\r\n1\r\ndelete d noreply\r\n"
  b"delete d 0 noreply\r\nget d\r\n", b"STORED\r\nEND\r\n")
x("delete alone", b"delete\r\n", b"ERROR\r\n")

# --- incr / decr ---
x("incr", b"set n 0 0 2\r\n10\r\nincr n 5\r\n", b"STORED\r\n15\r\n")
x("decr pads", b"decr n 6\r\nget n\r\n", b"9\r\nVALUE n 0 2\r\n9 \r\nEND\r\n")
x("decr floor", b"decr n 100\r\n", b"0\r\n")
x("incr grows", b"set n 0 0 1\r\n9\r\nincr n 1\r\nget n\r\n",
  b"STORED\r\n10\r\nVALUE n 0 2\r\n10\r\nEND\r\n")
x("incr wrap", b"set n 0 0 20\r\n18446744073709551615\r\nincr n 2\r\n",
  b"STORED\r\n1\r\n")
x("incr miss", b"incr nokey 1\r\n", b"NOT_FOUND\r\n")
x("decr miss", b"decr nokey 1\r\n", b"NOT_FOUND\r\n")
x("incr non-numeric", b"set t2 0 0 1\r\na\r\nincr t2 1\r\n",
  b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric "
  b"value\r\n")
x("incr negative value", b"set z 0 0 2\r\n-1\r\nincr z 1\r\n",
  b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric "
  b"value\r\n")
x("incr 21 digits", b"set z 0 0 21\r\n123456789012345678901\r\nincr z 1\r\n",
  b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric "
  b"value\r\n")
x("incr bad delta", b"incr n -1\r\nincr n abc\r\nincr n 5x\r\n",
  b"CLIENT_ERROR invalid numeric delta argument\r\n" * 3)
x("incr few", b"incr n\r\n", b"ERROR\r\n")
x("incr noreply", b"set n 0 0 1\r\n1\r\nincr n 1 noreply\r\nget n\r\n",
  b"STORED\r\nVALUE n 0 1\r\n2\r\nEND\r\n")

# --- flush_all ---
x("flush_all", b"set fl 0 0 1\r\n1\r\nflush_all\r\nget fl\r\n",
  b"STORED\r\nOK\r\nEND\r\n")
x("flush_all noreply", b"flush_all noreply\r\nflush_all 0\r\n", b"OK\r\n")
x("flush_all bad", b"flush_all abc\r\n",
  b"CLIENT_ERROR invalid exptime argument\r\n")
x("flush_all many", b"flush_all 1 2 3\r\n", b"ERROR\r\n")
x("flush_all delayed", b"set fd 0 0 1\r\n1\r\nflush_all 2\r\nget fd\r\n",
  b"STORED\r\nOK\r\nVALUE fd 0 1\r\n1\r\nEND\r\n")
time.sleep(2.2)
x("flush_all delayed fired", b"get fd\r\nset fd 0 0 1\r\n2\r\nget fd\r\n",
  b"END\r\nSTORED\r\nVALUE fd 0 1\r\n2\r\nEND\r\n")

# --- misc commands ---
c = srv.conn()
c.send(b"version\r\n")
check("version", c.line().startswith(b"VERSION 1.6"), True)
c.close()
x("verbosity", b"verbosity 1\r\nverbosity 1 noreply\r\n", b"OK\r\n")
x("verbosity none", b"verbosity\r\n", b"ERROR\r\n")
x("verbosity bad", b"verbosity x\r\n", BF)
x("unknown", b"bogus\r\n", b"ERROR\r\n")
x("upper case", b"SET k 0 0 1\r\na\r\n", b"ERROR\r\nERROR\r\n")
x("empty line", b"\r\n", b"ERROR\r\n")
x("stats unknown", b"stats foo\r\n", b"ERROR\r\n")
x("stats reset", b"stats reset\r\n", b"RESET\r\n")
c = srv.conn()
st = c.stats()
check("stats reset zeroes counters", (st["cmd_get"], st["total_items"],
      st["get_hits"]), ("0", "0", "0"))
check("stats reset keeps items", int(st["curr_items"]) > 0, True)
c.close()
c = srv.conn()
st = c.stats()
for k in ("pid", "uptime", "time", "version", "curr_connections",
          "total_connections", "cmd_get", "cmd_set", "get_hits",
          "get_misses", "curr_items", "total_items", "bytes",
          "limit_maxbytes", "evictions", "expired_unfetched", "threads"):
    check("stats has " + k, k in st, True)
check("limit_maxbytes", st["limit_maxbytes"], str(16 << 20))
s2 = c.stats(b"settings")
check("stats settings item_size_max", s2.get("item_size_max"), str(64 << 10))
s3 = c.stats(b"shmstate")
check("stats shmstate mode", s3.get("mode"), MODE)
for k in ("restart", "generation", "items_adopted", "adopt_time",
          "last_checkpoint_time"):
    check("stats shmstate has " + k, k in s3, True)
c.send(b"quit\r\n")
check("quit closes", c.closed(), True)

# --- errors in storage commands ---
x("bad data chunk", b"set k 0 0 3\r\nabcdef\r\nget k\r\n",
  b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n")
x("bad chunk no CR", b"set k 0 0 1\r\na\rget k\r\n",
  b"CLIENT_ERROR bad data chunk\r\nERROR\r\n")
x("bad chunk noreply", b"set k 0 0 1 noreply\r\nab\r\n", b"ERROR\r\n")
x("few tokens", b"set k 0 0\r\n", b"ERROR\r\n")
x("negative length", b"set k 0 0 -1\r\nabc\r\n", BF + b"ERROR\r\n")
x("huge length", b"set k 0 0 99999999999\r\n", BF)
x("negative flags", b"set k -1 0 1\r\na\r\n", BF + b"ERROR\r\n")
x("flags over 32 bits (memcached truncates)", b"set k 4294967296 0 1\r\n",
  BF)
x("bad exptime", b"set k 0 abc 1\r\na\r\n", BF + b"ERROR\r\n")
x("key too long set", b"set " + b"a" * 251 + b" 0 0 1\r\na\r\n",
  BF + b"ERROR\r\n")
x("key 250 ok", b"set " + b"a" * 250 + b" 0 0 1\r\na\r\n", b"STORED\r\n")
x("key too long get", b"get " + b"a" * 251 + b"\r\n", BF)
x("key too long in multiget", b"get a " + b"b" * 251 + b"\r\n", BF)
x("control char key (memcached accepts)", b"get a\tb\r\n", BF)
x("too large", b"set big 0 0 70000\r\n" + b"x" * 70002 + b"get big\r\n",
  b"SERVER_ERROR object too large for cache\r\nEND\r\n")
x("too large noreply", b"set big 0 0 70000 noreply\r\n" + b"x" * 70002 +
  b"get big\r\n", b"END\r\n")
x("too large clears old", b"set big 0 0 1\r\na\r\nset big 0 0 70000\r\n" +
  b"x" * 70002 + b"get big\r\n",
  b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n")

# --- noreply on storage ---
x("noreply set", b"set nr 0 0 1 noreply\r\na\r\nadd nr 0 0 1 noreply\r\n"
  b"b\r\nget nr\r\n", b"VALUE nr 0 1\r\na\r\nEND\r\n")

# --- exptime ---
x("negative exptime", b"set ex 0 -1 1\r\na\r\nget ex\r\n",
  b"STORED\r\nEND\r\n")
now = int(time.time())
x("absolute past", b"set ex 0 %d 1\r\na\r\nget ex\r\n" % (now - 10),
  b"STORED\r\nEND\r\n")
x("absolute future", b"set ex 0 %d 1\r\na\r\nget ex\r\n" % (now + 100),
  b"STORED\r\nVALUE ex 0 1\r\na\r\nEND\r\n")
# Whole seconds: a TTL of N lives N - 1 to N s, so 2 (not 1) for "still
# there right after the set".
x("relative 2s", b"set ex1 0 2 1\r\na\r\nget ex1\r\n",
  b"STORED\r\nVALUE ex1 0 1\r\na\r\nEND\r\n")
time.sleep(3.1)
x("relative 2s expired", b"get ex1\r\n", b"END\r\n")

# --- binary values, pipelining, split packets ---
blob = bytes(range(256)) * 4 + b"\r\n\r\nEND\r\n\0"
x("binary", b"set bin 0 0 %d\r\n" % len(blob) + blob + b"\r\nget bin\r\n",
  b"STORED\r\nVALUE bin 0 %d\r\n" % len(blob) + blob + b"\r\nEND\r\n")
pipe = b"".join(b"set p%d 0 0 2\r\n%02d\r\n" % (i, i) for i in range(100))
pipe += b"".join(b"get p%d\r\n" % i for i in range(100))
want = b"STORED\r\n" * 100 + b"".join(
    b"VALUE p%d 0 2\r\n%02d\r\nEND\r\n" % (i, i) for i in range(100))
x("pipelined 200", pipe, want)
c = srv.conn()
msg = b"set sp 0 0 10\r\n0123456789\r\nget sp\r\n"
for i in range(len(msg)):
    c.send(msg[i:i + 1])
    time.sleep(0.002)
want = b"STORED\r\nVALUE sp 0 10\r\n0123456789\r\nEND\r\n"
check("split byte by byte", c.recv_exact(len(want)), want)
c.close()

# --- limits ---
c = srv.conn()
c.send(b"a" * 3000)
check("line too long", c.recv_exact(28), b"CLIENT_ERROR line too long\r\n")
check("line too long closes", c.closed(), True)
c.close()
x("long multiget ok", b"get " + b"a " * 2000 + b"\r\n", b"END\r\n")
c = srv.conn()
c.send(b"get " + b"a " * 40000)
check("multiget too long", c.recv_exact(28), b"CLIENT_ERROR line too long\r\n")
check("multiget too long closes", c.closed(), True)
c.close()

# big multi-get beyond the output cap: resumes, all values arrive in order
val = b"v" * 30000
c = srv.conn()
c.send(b"set bigv 0 0 30000\r\n" + val + b"\r\n")
check("set 30k", c.line(), b"STORED\r\n")
c.send(b"get" + b" bigv" * 40 + b"\r\n")
one = b"VALUE bigv 0 30000\r\n" + val + b"\r\n"
got = c.recv_exact(len(one) * 40 + 5, timeout=10)
check("multiget over output cap", got == one * 40 + b"END\r\n", True)
c.close()

# connection limit
# wait until the connections of earlier cases are gone (1 = this one)
c = srv.conn()
deadline = time.time() + 10
while c.stats()["curr_connections"] != "1" and time.time() < deadline:
    time.sleep(0.05)
c.close()
time.sleep(0.2)
conns = [srv.conn() for _ in range(50)]
for cc in conns[-3:]:
    x("connection below the limit works", b"version\r\n", b"VERSION", cc)
extra = srv.conn()
got = extra.recv_exact(35, timeout=3)
check("too many connections", got, b"SERVER_ERROR too many connections\r\n")
check("too many closes", extra.closed(), True)
for cc in conns:
    cc.close()
time.sleep(0.3)
x("after freeing connections", b"version\r\n", b"VERSION")

check("clean stop", srv.stop(), 0)

# a unix socket (-s), mode from -a, removed at exit
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from shardcache_lib import BIN  # noqa: E402
d = tempfile.mkdtemp()
path = os.path.join(d, "sc.sock")
p = subprocess.Popen([BIN, "-s", path, "-a", "0600", "--state", "none"],
                     stderr=subprocess.DEVNULL)
for _ in range(200):
    if os.path.exists(path):
        break
    time.sleep(0.01)
check("unix socket mode", oct(os.stat(path).st_mode & 0o777), "0o600")
u = socket.socket(socket.AF_UNIX)
u.connect(path)
u.sendall(b"set u 0 0 1\r\n1\r\nget u\r\n")
got = b""
u.settimeout(5)
while len(got) < 29:
    got += u.recv(100)
check("unix socket serves", got, b"STORED\r\nVALUE u 0 1\r\n1\r\nEND\r\n")
u.close()
p.terminate()
check("unix: clean stop", p.wait(10), 0)
check("unix socket removed at exit", os.path.exists(path), False)
os.rmdir(d)
done()
