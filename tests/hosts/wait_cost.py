"""What REDIS_WAIT_REPLICAS=1 costs: the same upload load against one app host
(api, render, persist), Redis primary and replica and PostgreSQL on hosts of
their own (network namespaces, as tests/hosts/test_hosts.py builds them),
with WAIT off, on, and off again (the two "off" runs show the noise). Figures
only, never pass/fail on time. Root needed; the load generator is
tests/bench/loadgen.c:

    make && make -f tests/bench/bench.mk && sudo python3 tests/hosts/wait_cost.py [n [c]]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_hosts import Cluster, wait_until  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
LOADGEN = os.path.join(os.environ.get("IMGCAP_BIN_DIR", os.path.join(ROOT, "build")), "bench",
                       "loadgen")
IMAGE = os.path.join(ROOT, "tests", "data", "camera_674x480.jpg")


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def start_primary_and_replica(cluster):
    """Redis r1 and its replica r2, in sync; returns r1."""
    primary = cluster.start_redis("r1", 2)
    replica = cluster.start_redis("r2", 3, replica_of=primary)
    wait_until(lambda: b"master_link_status:up" in replica.redis("INFO", "replication"),
               20, what="replica in sync")
    return primary


def enqueue_round_trips(rounds=500):
    """Median and p99 ms of the api's enqueue pipeline (MULTI, SET of a
    47 KB payload, LPUSH, EXEC), without and with WAIT 1, one connection."""
    cluster = Cluster(None)
    try:
        primary = start_primary_and_replica(cluster)
        r = primary.redis
        r("PING")
        payload = open(IMAGE, "rb").read()
        res = {}
        for wait in (0, 1, 0, 1):
            times = []
            for i in range(rounds):
                cmds = [resp("MULTI"), resp("SET", "bench:msg:%d" % i, payload),
                        resp("LPUSH", "bench:q", i), resp("EXEC")]
                if wait:
                    cmds.append(resp("WAIT", 1, 1000))
                t = time.perf_counter()
                r.sock.sendall(b"".join(cmds))
                replies = [r._reply() for _ in cmds]
                times.append((time.perf_counter() - t) * 1e3)
                if wait and replies[-1] < 1:
                    raise RuntimeError("WAIT reached no replica")
            times.sort()
            res.setdefault(wait, []).append((times[len(times) // 2], times[len(times) * 99 // 100]))
            r("DEL", "bench:q")
        return res
    finally:
        cluster.close()


def one_run(wait, n, c):
    cluster = Cluster(None)
    try:
        primary = start_primary_and_replica(cluster)
        cluster.start_pg()
        app = cluster.add_app("a", 11, env={"REDIS_WAIT_REPLICAS": str(wait),
                                            "LEASE_SECONDS": "30", "REDIS_TIMEOUT_MS": "10000"})
        with tempfile.NamedTemporaryFile(prefix="wait-cost-", suffix=".ids") as ids:
            subprocess.run([LOADGEN, "--url", app.api_url + "/api/images", "--image", IMAGE,
                            "--text", "warm-up", "-n", "20", "-c", "4"],
                           check=True, stdout=subprocess.DEVNULL)
            cluster.pg.wait_stored([])
            t0 = time.monotonic()
            out = subprocess.run([LOADGEN, "--url", app.api_url + "/api/images", "--image",
                                  IMAGE, "--text", "С начала фазы запрещающего сигнала прошло",
                                  "-n", str(n), "-c", str(c), "--ids", ids.name],
                                 check=True, stdout=subprocess.PIPE).stdout.decode()
            res = json.loads(out.strip().splitlines()[-1])
            accepted = [x.strip() for x in open(ids.name) if x.strip()]
            wait_until(lambda: cluster.psql("SELECT count(*) FROM images") ==
                       str(len(accepted) + 20), 300, interval=0.2, what="all stored")
            stored_s = time.monotonic() - t0
        return {"wait": wait, "accepted": len(accepted),
                "accepted_per_s": res.get("accepted_per_s"),
                "stored_per_s": round(len(accepted) / stored_s, 1),
                "client_ms": res.get("client_ms")}
    finally:
        cluster.close()


def main():
    if os.geteuid() != 0:
        sys.exit("wait_cost.py: network namespaces need root")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    rt = enqueue_round_trips()
    print("enqueue pipeline round trip, one connection, 500 each (ms, p50 / p99):")
    for wait in (0, 1):
        print("  WAIT %s: %s" % ("1" if wait else "-", "  ".join(
            "%.2f / %.2f" % x for x in rt[wait])))
    sys.stdout.flush()
    print("%d uploads at concurrency %d; one app host, Redis primary + replica, PostgreSQL"
          % (n, c))
    for wait in (0, 1, 0, 1):
        r = one_run(wait, n, c)
        ms = r["client_ms"] or {}
        print("REDIS_WAIT_REPLICAS=%d  accepted/s %7.1f  stored/s %6.1f  upload ms p50 %s "
              "p99 %s" % (r["wait"], r["accepted_per_s"], r["stored_per_s"], ms.get("p50"),
                          ms.get("p99")))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
