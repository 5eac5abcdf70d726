"""pymemcache against shardcache: randomized operations (set, add,
replace, append, prepend, cas, gets, get_many, delete, incr, decr, touch,
binary values) compared with a model dict, across restarts in the mode
named by argv[1] (adopt or copy): the model must still hold afterwards."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shardcache_lib import Server, check, done  # noqa: E402

try:
    from pymemcache.client.base import Client
except ImportError:
    # Debian's python3-pymemcache, when python3 is not Debian's own
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    from pymemcache.client.base import Client
except ImportError:
    print("pymemcache not installed (apt-get install python3-pymemcache)")
    sys.exit(1)

MODE = sys.argv[1] if len(sys.argv) > 1 else "adopt"
SVC = "sc-pymc-%s-%d" % (MODE, os.getpid())
rnd = random.Random(int(os.environ.get("SEED", "1234")))
KEYS = [b"key%d" % i for i in range(200)] + [b"k:\xc3\xa9%d" % i
                                               for i in range(20)]
model = {}      # key -> (value bytes, flags)
mism = []


def mk(port):
    return Client(("127.0.0.1", port), connect_timeout=5, timeout=5,
                  default_noreply=False, allow_unicode_keys=False)


def val():
    n = rnd.choice([0, 1, 5, 100, 1000, 5000])
    return bytes(rnd.getrandbits(8) for _ in range(n))


def agree(what, got, want):
    if got != want and len(mism) < 20:
        mism.append((what, got, want))


def step(c):
    k = rnd.choice(KEYS)
    op = rnd.randrange(13)
    if op == 0:
        v, f = val(), rnd.randrange(1 << 32)
        agree("set", c.set(k, v, flags=f), True)
        model[k] = (v, f)
    elif op == 1:
        v = val()
        r = c.add(k, v)
        agree("add", r, k not in model)
        if k not in model:
            model[k] = (v, 0)
    elif op == 2:
        v = val()
        r = c.replace(k, v)
        agree("replace", r, k in model)
        if k in model:
            model[k] = (v, 0)
    elif op == 3:
        v = val()
        r = c.append(k, v)
        agree("append", r, k in model)
        if k in model:
            model[k] = (model[k][0] + v, model[k][1])
    elif op == 4:
        v = val()
        r = c.prepend(k, v)
        agree("prepend", r, k in model)
        if k in model:
            model[k] = (v + model[k][0], model[k][1])
    elif op == 5:
        r = c.get(k)
        agree("get " + repr(k), r, model[k][0] if k in model else None)
    elif op == 6:
        ks = rnd.sample(KEYS, 10)
        r = c.get_many(ks)
        agree("get_many", r, {x: model[x][0] for x in ks if x in model})
    elif op == 7:
        r = c.delete(k)
        agree("delete", r, k in model)
        model.pop(k, None)
    elif op in (8, 9):
        d = rnd.choice([0, 1, 7, 1 << 63, (1 << 64) - 1])
        if k in model and not model[k][0].strip(b" ").isdigit():
            c.set(k, b"%d" % rnd.randrange(1 << 64))
            model[k] = (c.get(k), 0)
        if op == 8:
            r = c.incr(k, d)
        else:
            r = c.decr(k, d)
        if k not in model:
            agree("incr/decr miss", r, None)
            return
        cur = int(model[k][0])
        new = (cur + d) % (1 << 64) if op == 8 else max(0, cur - d)
        agree("incr/decr", r, new)
        s = b"%d" % new
        old = model[k][0]
        if len(s) <= len(old):   # memcached pads in place
            s = s + b" " * (len(old) - len(s))
        model[k] = (s, model[k][1])
    elif op == 10:
        r, cas = c.gets(k)
        agree("gets", r, model[k][0] if k in model else None)
        if r is not None:
            v = val()
            ok = c.cas(k, v, cas)
            agree("cas", ok, True)
            model[k] = (v, 0)
            agree("cas stale", c.cas(k, v, cas), False)
    elif op == 11:
        r = c.touch(k, 3600)
        agree("touch", r, k in model)
    else:
        r = c.gets_many([k])
        agree("gets_many", k in r, k in model)


srv = Server("-t", "2", "-m", "64", "--state", MODE, "--service",
             SVC).start()
c = mk(srv.port)
for rnd_i in range(3):
    for _ in range(3000):
        step(c)
    c.close()
    check("round %d: stop exit 0" % rnd_i, srv.stop(), 0)
    srv = Server("-t", "2", "-m", "64", "--state", MODE, "--service",
                 SVC).start()
    c = mk(srv.port)
    # the whole model must have survived the restart
    for k in KEYS:
        agree("after restart " + repr(k), c.get(k),
              model[k][0] if k in model else None)
    check("round %d: model agrees (%d keys)" % (rnd_i, len(model)),
          mism, [])
# expiry through the client. Times are whole seconds (as in memcached):
# a TTL of N lives between N - 1 and N seconds, so 1 could expire before
# the get right after the set (seen under ASan); 2 leaves a second.
c.set(b"ttl", b"x", expire=2)
check("expire set", c.get(b"ttl"), b"x")
import time  # noqa: E402
time.sleep(3.1)
check("expired", c.get(b"ttl"), None)
c.close()
check("final stop", srv.stop(), 0)
done()
