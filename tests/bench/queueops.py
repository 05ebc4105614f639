"""Runs queueops.c (shared/rqueue.c's calls, one message per call and in
batches) against a private redis-server started with the project's
deploy/redis.conf (appendfsync always) in a temp dir, and prints its JSON line
with a small table (enqueue is one per call in both columns, as in the api).
Not part of `make bench`:

    make && make -f tests/bench/bench.mk queueops
    python3 tests/bench/queueops.py [n [k [rounds]]]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="imgcap-queueops-")
    port = bench.harness.free_port()
    redis = subprocess.Popen(["redis-server", os.path.join(bench.ROOT, "deploy", "redis.conf"),
                              "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp,
                              "--daemonize", "no", "--logfile", os.path.join(tmp, "redis.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = bench.harness.Redis(port)
        bench.harness.wait_until(lambda: _ping(r), 10, what="redis-server")
        r.close()
        out = bench.run([os.path.join(bench.BENCH_BIN, "queueops"),
                         "redis://127.0.0.1:%d" % port, bench.IMAGE] + sys.argv[1:4], 600)
    finally:
        redis.terminate()
        redis.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    res = bench.last_json(out)
    print("Redis round trips of one image through shared/rqueue.c, one connection, "
          "appendfsync always (us per message, best of %d rounds)" % res["rounds"])
    cols = ("batch_1", "batch_k")
    print("  %-14s %10s %10s" % ("", "1 per call", "%d per call" % res["k"]))
    total = dict.fromkeys(cols, 0.0)
    for step, v in res["us_per_message"].items():
        print("  %-14s %10.1f %10.1f" % (step, v["batch_1"], v["batch_k"]))
        for c in cols:
            total[c] += v[c]
    print("  %-14s %10.1f %10.1f" % ("total", total["batch_1"], total["batch_k"]))
    print(json.dumps(res, separators=(",", ":")))


def _ping(r):
    try:
        return r("PING") == "PONG"
    except (OSError, ConnectionError, RuntimeError):
        return False


if __name__ == "__main__":
    main()
