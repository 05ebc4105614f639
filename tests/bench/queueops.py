"""Runs queueops.c (shared/rqueue.c's calls, one message per call and in
batches) against a private redis-server started with the project's
deploy/redis.conf (appendfsync always) in a temp dir, and prints its JSON line
with a small table (enqueue is one per call in both columns, as in the api).
Not part of `make bench`:

    make && make -f tests/bench/bench.mk queueops
    python3 tests/bench/queueops.py [n [k [rounds]]]

With `e2e` first, it measures the same Redis work under the whole stack
instead (deploy/local.sh as bench.py starts it; IMGCAP_BIN_DIR picks the
build): 20 warm-up uploads, then n (600) uploads at c (64) concurrent by
loadgen, and per stored image: Redis commands and their usec by command
(INFO commandstats), Redis and api CPU ms (/proc, utime + stime), AOF bytes
(INFO persistence aof_current_size; 600 images stay below the first automatic
rewrite, which would reset it) and AOF fsyncs (perf stat counting Redis's
fdatasync calls):

    make && make -f tests/bench/bench.mk
    python3 tests/bench/queueops.py e2e [n [c]]
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

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


def _info(port, section):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return dict(line.split(":", 1) for line in out.splitlines()
                if ":" in line and not line.startswith("#"))


def _snapshot(stack):
    cs = {}
    for k, v in _info(stack.redis_port, "commandstats").items():
        if k.startswith("cmdstat_"):
            d = dict(kv.split("=") for kv in v.strip().split(","))
            cs[k[8:]] = (int(d["calls"]), int(d["usec"]))
    pers = _info(stack.redis_port, "persistence")
    return {"cmds": cs, "aof": int(pers["aof_current_size"]),
            "rewrites": int(pers["aof_rewrites"]),
            "cpu": {s: bench.proc_cpu_ticks(stack.pid(s), children_too=(s == "redis"))
                    for s in ("api", "redis")}}


def e2e(n, c):
    tmp = tempfile.mkdtemp(prefix="imgcap-queueops-e2e-")
    os.chmod(tmp, 0o755)
    stack = bench.LocalStack(tmp)
    psql = perf = None
    try:
        stack.start()
        psql = bench.Psql(stack.pg_port, os.path.join(tmp, "psql.err"))
        bench.loadgen(stack, 20, 4, os.path.join(tmp, "warm.ids"))
        base = bench.wait_stored(psql, 20)
        time.sleep(1)  # the last acks follow the rows
        perf_out = os.path.join(tmp, "perf.txt")
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", perf_out, "-e",
                                 "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync",
                                 "-p", str(stack.pid("redis"))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        s0 = _snapshot(stack)
        bench.loadgen(stack, n, c, os.path.join(tmp, "run.ids"))
        ids = bench.read_ids(os.path.join(tmp, "run.ids"))
        stored = bench.wait_stored(psql, base + len(ids)) - base
        time.sleep(1)
        s1 = _snapshot(stack)
        perf.send_signal(signal.SIGINT)
        perf.wait(30)
        fsyncs = 0
        with open(perf_out) as f:
            for line in f:
                parts = line.split(",")
                if len(parts) > 2 and parts[2].startswith("syscalls:"):
                    fsyncs += int(parts[0]) if parts[0].isdigit() else 0
    finally:
        if perf is not None and perf.poll() is None:
            perf.kill()
        if psql:
            psql.close()
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    k = max(1, stored)
    cmds = {}
    for name, (calls, usec) in s1["cmds"].items():
        c0, u0 = s0["cmds"].get(name, (0, 0))
        if calls > c0:
            cmds[name] = {"per_image": round((calls - c0) / k, 2),
                          "usec_per_image": round((usec - u0) / k, 1)}
    res = {"n": n, "c": c, "stored": stored, "accepted": len(ids),
           "redis_commands_per_image": round(sum(v["per_image"] for v in cmds.values()), 2),
           "redis_command_usec_per_image": round(sum(v["usec_per_image"]
                                                     for v in cmds.values()), 1),
           "by_command": dict(sorted(cmds.items(), key=lambda kv: -kv[1]["usec_per_image"])),
           "cpu_ms_per_image": {s: round((s1["cpu"][s] - s0["cpu"][s]) / bench.CLK_TCK * 1e3 / k, 3)
                                for s in s0["cpu"]},
           "aof_bytes_per_image": (round((s1["aof"] - s0["aof"]) / k)
                                   if s1["rewrites"] == s0["rewrites"] else None),
           "aof_fsyncs_per_image": round(fsyncs / k, 3)}
    print("Redis work per stored image, %d uploads at %d concurrent (whole stack)" % (n, c))
    print("  %-22s %8s %10s" % ("command", "calls", "usec"))
    for name, v in res["by_command"].items():
        print("  %-22s %8.2f %10.1f" % (name, v["per_image"], v["usec_per_image"]))
    print("  %-22s %8.2f %10.1f" % ("total", res["redis_commands_per_image"],
                                     res["redis_command_usec_per_image"]))
    print("  CPU ms: redis %.3f, api %.3f; AOF %s bytes, %.3f fsyncs" % (
        res["cpu_ms_per_image"]["redis"], res["cpu_ms_per_image"]["api"],
        res["aof_bytes_per_image"], res["aof_fsyncs_per_image"]))
    print(json.dumps(res, separators=(",", ":")))


def _ping(r):
    try:
        return r("PING") == "PONG"
    except (OSError, ConnectionError, RuntimeError):
        return False


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "e2e":
        e2e(int(sys.argv[2]) if len(sys.argv) > 2 else 600,
            int(sys.argv[3]) if len(sys.argv) > 3 else 64)
    else:
        main()
