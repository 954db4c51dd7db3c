#!/usr/bin/env python3
"""redisgen.py: test datasets and checks for the redis tests, speaking RESP
over plain sockets (no packages).

  redisgen.py PORT [--cluster] [--small N] [--big-mib M]
      Fill the server (or, with --cluster, the Redis Cluster that PORT is a
      node of) with the test dataset, check the key counts and print them.
  redisgen.py ttlcmp [--cluster] PORT1 PORT2
      Every key on PORT1 exists on PORT2 with a TTL within 10 s of PORT1's
      (or no TTL on either).
  redisgen.py digests PORT
      A cluster node: one line per master, ordered by its lowest slot,
      "<first-slot>-<last-slot> <DEBUG DIGEST>"; a plain server: its
      DEBUG DIGEST.
  redisgen.py plainstrings [--db N] [--match PATTERN] PORT
      The number of strings without a TTL and shorter than 64 KiB (in all
      databases, or in N; matching PATTERN).
  redisgen.py counts [--cluster] PORT
      "db<N> <DBSIZE>" for each database with keys (--cluster, which a
      cluster node needs: db0 summed over the masters).

The dataset: N small keys (default 200,000; 30,000 with --cluster) of every
type -- strings (raw, of every length encoding, and integer-encoded in
8, 16 and 32 bits), lists, sets (listpack/hashtable
and intset), hashes, sorted sets, streams (half with a consumer group that
has delivered a message to a consumer, so its PEL is not empty) -- with
binary-safe keys and values (CR, LF, NUL, invalid UTF-8, {hash tags}),
about a third with a TTL (PEXPIRE, > 1 hour). Half of them go to db 0, 30 %
to db 3, 20 % to db 7 (a cluster has db 0 only: all of them). Db 0 also
holds five big collections (a hash, a set, a sorted set, a list and a
stream of 10,000 elements each, for large DUMP payloads) and, unless
--big-mib 0, one value of M MiB (default 100; 8 with --cluster) with a
TTL. Keys, values and stream ids are fixed by the seed, and lists and
streams are rewritten rather than appended to, so every run gives the same
DEBUG DIGEST (which counts that a key has a TTL, not its value).

In a cluster each command goes to the master that owns its key's slot
(CRC16/XMODEM of the key or of its {hash tag}, mod 16384, as in the
cluster spec), read from CLUSTER SLOTS; one connection per master."""
import argparse
import binascii
import random
import socket
import sys
import time

HOST = "127.0.0.1"
BATCH_CMDS = 10000  # commands per pipelined write
BATCH_BYTES = 4 << 20  # or this many bytes, whichever comes first
BIG_N = 10000  # elements of each big collection
TTL_TOLERANCE_MS = 10000


def enc(*args):
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, (int, float)):
            a = repr(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def key_slot(key):
    """The cluster hash slot of key (bytes): CRC16 (XMODEM, which is
    binascii's CRC-CCITT with a zero start) of the part between the first
    '{' and the first '}' after it when that part is not empty, else of the
    whole key."""
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return binascii.crc_hqx(key, 0) & 16383


# The examples of the cluster spec, so that a wrong slot function fails here
# rather than as MOVED errors half-way through a test.
assert binascii.crc_hqx(b"123456789", 0) == 0x31C3
assert key_slot(b"{user1000}.following") == key_slot(b"user1000")
assert key_slot(b"foo") == 12182  # CLUSTER KEYSLOT foo
assert key_slot(b"foo{}{bar}") == binascii.crc_hqx(b"foo{}{bar}", 0) & 16383  # empty tag: whole key
assert key_slot(b"foo{{bar}}zap") == key_slot(b"{bar")
assert key_slot(b"foo{bar}{zap}") == key_slot(b"bar")


class Conn:
    """One connection, pipelined: send() queues a command; the queue goes
    out in big batches, and the replies of a batch are read only after the
    next batch has been sent, so that the server works while we encode.
    (The server buffers its replies meanwhile; nothing blocks.) An error
    reply ends the program."""

    def __init__(self, port, host=HOST):
        self.port = port
        try:
            self.s = socket.create_connection((host, port))
        except OSError as e:
            raise SystemExit("redisgen: %s:%d: %s" % (host, port, e.strerror or e))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb", buffering=1 << 16)
        self.pending = []  # encoded commands not sent yet
        self.pending_bytes = 0
        self.unread = 0  # replies of the commands sent, not read yet

    def send(self, *args):
        self.send_raw(enc(*args))

    def send_raw(self, cmd):
        self.pending.append(cmd)
        self.pending_bytes += len(cmd)
        if len(self.pending) >= BATCH_CMDS or self.pending_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self):
        """Send the queue; read the replies of the batches before it."""
        older = self.unread
        self.s.sendall(b"".join(self.pending))
        self.unread += len(self.pending)
        self.pending = []
        self.pending_bytes = 0
        self.read(older)

    def read(self, n):
        """Read (and drop) n outstanding replies."""
        for _ in range(n):
            self.reply()
        self.unread -= n

    def sync(self):
        """Send the queue and read every outstanding reply."""
        if self.pending:
            self.flush()
        self.read(self.unread)

    def call(self, *args):
        """One command, its reply returned."""
        self.sync()
        self.s.sendall(enc(*args))
        return self.reply()

    def send_big(self, head, parts, size):
        """A command whose last argument (size bytes) is the concatenation
        of parts, written piece by piece instead of being built in memory;
        head: the arguments before it."""
        self.sync()
        self.s.sendall(b"".join([b"*%d\r\n" % (len(head) + 1)] +
                                [enc(a)[4:] for a in head] + [b"$%d\r\n" % size]))
        sent = 0
        for p in parts:
            self.s.sendall(p)
            sent += len(p)
        assert sent == size
        self.s.sendall(b"\r\n")
        self.unread += 1

    def reply(self):
        line = self.f.readline()
        if not line:
            raise SystemExit("redisgen: port %d closed the connection" % self.port)
        t, rest = line[:1], line[1:-2]
        if t == b"-":
            raise SystemExit("redisgen: port %d: redis error: %s" % (self.port, rest.decode(errors="replace")))
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        if t == b":":
            return int(rest)
        return rest


def info(conn, section):
    """INFO section as a dict of str."""
    d = {}
    for line in conn.call("INFO", section).decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            d[k] = v
    return d


def keyspace_dbs(conn):
    """The numbers of the databases with keys, from INFO keyspace."""
    return sorted(int(k[2:]) for k in info(conn, "keyspace") if k.startswith("db"))


def is_cluster(conn):
    return info(conn, "cluster").get("cluster_enabled") == "1"


class Server:
    """A plain server: one connection, databases by SELECT."""

    def __init__(self, port):
        self.conn = Conn(port)
        if is_cluster(self.conn):
            raise SystemExit("redisgen: port %d is a cluster node (use --cluster)" % port)
        self.masters = [self.conn]

    def select(self, db):
        self.conn.send("SELECT", db)

    def send(self, *args, key=None):
        self.conn.send(*args)

    def route(self, key):
        return self.conn

    def sync(self):
        self.conn.sync()


class Cluster:
    """A Redis Cluster reached from any node: the slot table from CLUSTER
    SLOTS, one connection per master; commands routed by their key: the
    second argument, unless key= says otherwise (XGROUP, XREADGROUP). A
    wrong route shows as a MOVED error. db 0 only."""

    def __init__(self, port):
        entry = Conn(port)
        if not is_cluster(entry):
            raise SystemExit("redisgen: port %d is not a cluster node (cluster_enabled:0)" % port)
        self.owner = [None] * 16384  # slot -> Conn of its master
        self.ranges = {}  # Conn -> [(first, last), ...]
        by_addr = {}
        for r in entry.call("CLUSTER", "SLOTS"):
            first, last, master = r[0], r[1], r[2]
            host = master[0].decode() if master[0] not in (b"", b"?", None) else HOST
            addr = (host, master[1])
            if addr not in by_addr:
                by_addr[addr] = Conn(addr[1], addr[0])
            c = by_addr[addr]
            self.ranges.setdefault(c, []).append((first, last))
            for s in range(first, last + 1):
                self.owner[s] = c
        if None in self.owner:
            raise SystemExit("redisgen: cluster at port %d: slot %d has no master"
                             % (port, self.owner.index(None)))
        # Masters ordered by their lowest slot.
        self.masters = sorted(self.ranges, key=lambda c: min(self.ranges[c]))
        for c in self.masters:
            self.ranges[c].sort()

    def select(self, db):
        if db != 0:
            raise SystemExit("redisgen: a cluster has db 0 only")

    def route(self, key):
        return self.owner[key_slot(key)]

    def send(self, *args, key=None):
        k = args[1] if key is None else key
        if isinstance(k, str):
            k = k.encode()
        self.owner[key_slot(k)].send(*args)

    def sync(self):
        for c in self.masters:
            c.sync()


def connect(port, cluster):
    return Cluster(port) if cluster else Server(port)


# --- the dataset -------------------------------------------------------------

# Key suffixes: control bytes, invalid UTF-8, and brace edge cases of the
# hash-tag rule (empty tag, unclosed, '}' before '{').
WEIRD = [b"cr\r", b"lf\n", b"nul\x00x", b"\xff\xfe\x80bad", b"crlf\r\nx\x00\r\n", b" ",
         b"{}empty", b"{unclosed", b"}{t\x00ag}", b"plain"]
KINDS = 9
RAW_LENGTHS = (0, 1, 63, 64, 16383, 16384, 65535)  # every 101st string of kind 0 for each


def fill_small(t, rnd, db, n):
    """n small keys of every type in database db."""
    t.select(db)
    for i in range(n):
        k = b"k%d:%d:" % (db, i) + WEIRD[i % len(WEIRD)]
        if i % 10 == 3:
            # A tenth share 50 hash tags: many keys a slot in a cluster.
            k = b"{tag%d}" % (i % 50) + k
        kind = i % KINDS
        if kind == 0:
            # Random bytes (LZF cannot shrink them): every length encoding
            # of a DUMP payload (6, 14 and 32 bits), on both sides of each
            # limit, now and then.
            j = (i // KINDS) % 101
            t.send("SET", k, rnd.randbytes(RAW_LENGTHS[j] if j < len(RAW_LENGTHS) else 20))
        elif kind == 1:
            t.send("DEL", k)  # lists and streams: the same again on a second run
            t.send("RPUSH", k, b"a\r\n", b"\x00", b"\xff", b"x" * (i % 50))
        elif kind == 2:
            t.send("SADD", k, b"m1", b"m\x00", b"m\xff", i)
        elif kind == 3:
            t.send("HSET", k, b"f\r\n", b"v\x00", b"g", i)
        elif kind == 4:
            t.send("ZADD", k, 1.5, b"z\n", -3, b"\xff", i, b"n")
        elif kind == 5:
            # Fixed ids (the digest stays the same from run to run).
            t.send("DEL", k)
            t.send("XADD", k, "1-1", b"f", b"v\x00\r\n", b"g", i)
            t.send("XADD", k, "2-%d" % i, b"\xff\r\n", rnd.randbytes(8))
            if i % 2:
                # A group that delivered the first message to a consumer:
                # a non-empty PEL.
                t.send("XGROUP", "CREATE", k, b"grp", "0", key=k)
                t.send("XREADGROUP", "GROUP", b"grp", b"c\x00\xff", "COUNT", 1, "STREAMS", k, ">", key=k)
        elif kind == 6:
            t.send("SET", k, b"plain %d" % i)
        elif kind == 7:
            # integer-encoded: in a DUMP payload as 8, 16 or 32 bits
            t.send("SET", k, (i * 7919, -(i % 128), -(i % 32768), -i * 7919)[(i // KINDS) % 4])
        else:
            t.send("SADD", k, i, -i, 1 << 40)  # intset
        if rnd.random() < 1 / 3:
            t.send("PEXPIRE", k, 3600 * 1000 + 1000 + i)


def fill_big_collections(t, rnd):
    """Five collections of BIG_N elements each in db 0 (hashtable, skiplist,
    quicklist and stream encodings: large DUMP payloads). Returns their count."""
    t.select(0)
    weird = WEIRD[:6]
    args = []
    for i in range(BIG_N):
        args += [b"field%d" % i + weird[i % 6], rnd.randbytes(16)]
    t.send("HSET", b"big:hash\r\n", *args)
    t.send("SADD", b"big:set\x00", *[b"member%d" % i + weird[i % 6] for i in range(BIG_N)])
    args = []
    for i in range(BIG_N):
        args += [rnd.randrange(-10 ** 6, 10 ** 6) / 8, b"z%d\xff" % i]
    t.send("ZADD", b"big:zset", *args)
    t.send("DEL", b"{big}list")
    t.send("RPUSH", b"{big}list", *[rnd.randbytes(12) for _ in range(BIG_N)])
    t.send("PEXPIRE", b"{big}list", 7200 * 1000)
    k = b"big:stream\n"
    t.send("DEL", k)
    for i in range(BIG_N):
        t.send("XADD", k, "%d-0" % (i + 1), b"n", i, b"payload", rnd.randbytes(24))
    t.send("XGROUP", "CREATE", k, b"readers", "0", key=k)
    t.send("XGROUP", "CREATE", k, b"idle", "$", key=k)
    t.send("XREADGROUP", "GROUP", b"readers", b"alice", "COUNT", 100, "STREAMS", k, ">", key=k)
    t.send("XREADGROUP", "GROUP", b"readers", b"bob", "COUNT", 50, "STREAMS", k, ">", key=k)
    t.send("XACK", k, b"readers", "1-0", "2-0", "3-0")
    return 5


def fill_big_value(t, rnd, mib):
    """One value of mib MiB in db 0, with a TTL: a random MiB repeated, each
    copy with its own 16-byte prefix, streamed rather than built."""
    base = rnd.randbytes(1 << 20)
    parts = (b"%015d:" % i + base[16:] for i in range(mib))
    k = b"big\x00\xff"
    t.select(0)
    t.sync()
    t.route(k).send_big(["SET", k], parts, mib << 20)
    t.send("PEXPIRE", k, 7200 * 1000)


def db_counts(t):
    """{db: DBSIZE} of every database with keys (a cluster: db 0 summed)."""
    t.sync()
    if isinstance(t, Cluster):
        n = sum(c.call("DBSIZE") for c in t.masters)
        return {0: n} if n else {}
    out = {}
    for db in keyspace_dbs(t.conn):
        t.conn.call("SELECT", db)
        out[db] = t.conn.call("DBSIZE")
    return out


def generate(argv):
    p = argparse.ArgumentParser(prog="redisgen.py", description="Fill a Redis server or cluster with the test dataset.")
    p.add_argument("port", type=int)
    p.add_argument("--cluster", action="store_true", help="PORT is a node of a Redis Cluster")
    p.add_argument("--small", type=int, metavar="N", help="small keys in all (200000; 30000 with --cluster)")
    p.add_argument("--big-mib", type=int, metavar="M", help="size of the big value, 0 for none (100; 8 with --cluster)")
    a = p.parse_args(argv)
    n = a.small if a.small is not None else (30000 if a.cluster else 200000)
    mib = a.big_mib if a.big_mib is not None else (8 if a.cluster else 100)
    t0 = time.monotonic()
    t = connect(a.port, a.cluster)
    rnd = random.Random(42)
    plan = {0: n} if a.cluster else {0: n - n * 3 // 10 - n // 5, 3: n * 3 // 10, 7: n // 5}
    for db in (0, 3, 7):
        if plan.get(db):
            fill_small(t, rnd, db, plan[db])
    plan[0] += fill_big_collections(t, rnd)
    if mib > 0:
        fill_big_value(t, rnd, mib)
        plan[0] += 1
    t.sync()
    got = db_counts(t)
    want = {db: k for db, k in plan.items() if k}
    if got != want:
        raise SystemExit("redisgen: key counts %s, expected %s" % (got, want))
    print("redisgen: %d keys (%s), a %d MiB value, %.1f s" % (
        sum(got.values()), ", ".join("db%d %d" % kv for kv in sorted(got.items())), mib,
        time.monotonic() - t0))


# --- checks ----------------------------------------------------------------------

def pttl_many(t, keys):
    """PTTL of each key, pipelined (routed by slot in a cluster)."""
    t.sync()
    conns = [t.route(k) for k in keys]
    batch = {}
    for c, k in zip(conns, keys):
        batch.setdefault(c, []).append(enc("PTTL", k))
    for c, cmds in batch.items():
        c.s.sendall(b"".join(cmds))
    # Replies come back in order on each connection: read them in key order.
    return [c.reply() for c in conns]


def ttlcmp(argv):
    p = argparse.ArgumentParser(prog="redisgen.py ttlcmp",
                                description="Every key on PORT1 is on PORT2 with a TTL within 10 s of PORT1's.")
    p.add_argument("--cluster", action="store_true", help="both ports are nodes of (two different) clusters")
    p.add_argument("port1", type=int)
    p.add_argument("port2", type=int)
    a = p.parse_args(argv)
    src, dst = connect(a.port1, a.cluster), connect(a.port2, a.cluster)
    # What to scan: each master of a cluster (SCAN is per node), each db of a server.
    if a.cluster:
        scans = [(c, None) for c in src.masters]
    else:
        scans = [(src.conn, db) for db in keyspace_dbs(src.conn)]
    n = with_ttl = 0
    for conn, db in scans:
        if db is not None:
            conn.call("SELECT", db)
            dst.conn.call("SELECT", db)
        cur = b"0"
        while True:
            cur, keys = conn.call("SCAN", cur, "COUNT", 1000)
            ta, tb = pttl_many(src, keys), pttl_many(dst, keys)
            for k, x, y in zip(keys, ta, tb):
                if x == -2:
                    continue  # gone from the source since the SCAN
                where = "" if db is None else "db%d " % db
                if y == -2:
                    raise SystemExit("ttlcmp: %s%r: missing on port %d" % (where, k, a.port2))
                if (x < 0) != (y < 0) or abs(x - y) > TTL_TOLERANCE_MS:
                    raise SystemExit("ttlcmp: %sTTL of %r: %d ms on port %d, %d ms on port %d"
                                     % (where, k, x, a.port1, y, a.port2))
                n += 1
                with_ttl += x >= 0
            if cur == b"0":
                break
    print("ttl ok: %d keys, %d with a TTL" % (n, with_ttl))


def plainstrings(argv):
    p = argparse.ArgumentParser(prog="redisgen.py plainstrings",
                                description="The number of strings without a TTL and of less than 64 KiB.")
    p.add_argument("--db", type=int, help="in this database only (default: all)")
    p.add_argument("--match", default="*", help="only keys matching this pattern")
    p.add_argument("port", type=int)
    a = p.parse_args(argv)
    c = Conn(a.port)
    n = 0
    for db in keyspace_dbs(c) if a.db is None else [a.db]:
        c.call("SELECT", db)
        cur = b"0"
        while True:
            cur, keys = c.call("SCAN", cur, "MATCH", a.match, "COUNT", 1000)
            c.s.sendall(b"".join(enc("TYPE", k) + enc("PTTL", k) for k in keys))
            plain = [k for k in keys if (c.reply(), c.reply()) == (b"string", -1)]
            c.s.sendall(b"".join(enc("STRLEN", k) for k in plain))
            n += sum(c.reply() < 65536 for _ in plain)
            if cur == b"0":
                break
    print(n)


def digests(argv):
    p = argparse.ArgumentParser(prog="redisgen.py digests",
                                description="DEBUG DIGEST of a server, or of each master of a cluster.")
    p.add_argument("port", type=int)
    a = p.parse_args(argv)
    c = Conn(a.port)
    if not is_cluster(c):
        print(c.call("DEBUG", "DIGEST").decode())
        return
    t = Cluster(a.port)
    for m in t.masters:
        # A master with several ranges (after resharding): "a-b,c-d".
        slots = ",".join("%d-%d" % r for r in t.ranges[m])
        print(slots, m.call("DEBUG", "DIGEST").decode())


def counts(argv):
    p = argparse.ArgumentParser(prog="redisgen.py counts", description="DBSIZE of each database with keys.")
    p.add_argument("--cluster", action="store_true", help="PORT is a cluster node: db0 summed over the masters")
    p.add_argument("port", type=int)
    a = p.parse_args(argv)
    for db, n in sorted(db_counts(connect(a.port, a.cluster)).items()):
        print("db%d %d" % (db, n))


def relttl(argv):
    p = argparse.ArgumentParser(prog="redisgen.py relttl",
                                description="Copy a .resp file of cairn's with every RESTORE ... REPLACE ABSTTL "
                                            "rewritten to a TTL relative to now (RESTORE ... REPLACE), as a "
                                            "server without ABSTTL is sent.")
    p.add_argument("src")
    p.add_argument("dst")
    a = p.parse_args(argv)
    data = open(a.src, "rb").read()
    now = int(time.time() * 1000)
    out, i, n = [], 0, 0
    while i < len(data):
        assert data[i:i + 1] == b"*", "not a RESP command at %d" % i
        j = data.index(b"\r\n", i)
        argc, i, args = int(data[i + 1:j]), j + 2, []
        for _ in range(argc):
            j = data.index(b"\r\n", i)
            size = int(data[i + 1:j])
            args.append(data[j + 2:j + 2 + size])
            i = j + 2 + size + 2
        if args[0] == b"RESTORE" and args[4:] == [b"REPLACE", b"ABSTTL"]:
            ttl = int(args[2])
            args = args[:2] + [b"%d" % (max(ttl - now, 1) if ttl else 0)] + args[3:5]
            n += 1
        out.append(enc(*args))
    open(a.dst, "wb").write(b"".join(out))
    print("relttl: %d RESTOREs rewritten" % n)


def main(argv):
    cmds = {"ttlcmp": ttlcmp, "digests": digests, "counts": counts, "relttl": relttl, "plainstrings": plainstrings}
    if argv and argv[0] in cmds:
        cmds[argv[0]](argv[1:])
    else:
        generate(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
