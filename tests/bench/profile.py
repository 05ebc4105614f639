"""Profile of the end-to-end path, to find what an upload costs and
where the pipeline waits. Not part of `make bench`: run it by hand after `make`
and `make -f tests/bench/bench.mk`:

    python3 tests/bench/profile.py [OUT_DIR]     (default build/bench/profile)

Starts the local stack exactly as bench.py does, warms it up, then during
BENCH_N (default 2000) uploads at BENCH_C (64) records:
  - perf record -e cpu-clock -g of every process of the stack (hardware
    counters are not available in this VM; cpu-clock sampling is), reported
    per process by symbol into OUT_DIR/perf-<name>.txt;
  - CPU seconds of every thread (/proc/<pid>/task), to see which actor is busy
    and which one only waits;
  - Redis INFO commandstats (calls and usec per command, per image) and
    aof fsync figures; PostgreSQL commits and WAL syncs per image;
  - syscalls of render and persist (perf trace -s) for a shorter second run.
Prints a summary and writes everything to OUT_DIR.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

N = bench.N
C = bench.C


def threads(pid):
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[int(tid)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def redis_info(port, section):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", section],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            res[k] = v.strip()
    return res


def commandstats(port):
    res = {}
    for k, v in redis_info(port, "commandstats").items():
        if k.startswith("cmdstat_"):
            d = dict(kv.split("=") for kv in v.split(","))
            res[k[8:]] = (int(d["calls"]), int(d["usec"]))
    return res


def pg_counters(psql):
    row = psql.query("SELECT xact_commit, tup_inserted FROM pg_stat_database "
                     "WHERE datname = 'imgcap'")[0].split("|")
    wal = psql.query("SELECT wal_records, wal_write, wal_sync, wal_bytes FROM pg_stat_wal")[0]
    w = wal.split("|")
    return {"commits": int(row[0]), "inserted": int(row[1]), "wal_records": int(w[0]),
            "wal_write": int(w[1]), "wal_sync": int(w[2]), "wal_bytes": int(float(w[3]))}


def main():
    out_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                              os.path.join(bench.ROOT, "build", "bench", "profile"))
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="imgcap-prof-")
    os.chmod(tmp, 0o755)
    stack = bench.LocalStack(tmp)
    psql = None
    summary = {"n": N, "c": C}
    try:
        summary["health"] = stack.start()
        psql = bench.Psql(stack.pg_port, os.path.join(tmp, "psql.err"))
        bench.loadgen(stack, 50, 8, os.path.join(tmp, "warm.ids"))
        base = bench.wait_stored(psql, 50)

        pids = {s: stack.pid(s) for s in bench.SERVICES}
        pg_all = [pids["postgres"]] + bench.children_of(pids["postgres"])
        th0 = {s: threads(pids[s]) for s in ("api", "render", "persist", "redis")}
        cs0 = commandstats(stack.redis_port)
        pg0 = pg_counters(psql)
        perf_data = os.path.join(out_dir, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "997", "-g",
                                 "-o", perf_data, "-p",
                                 ",".join(str(p) for p in [pids[s] for s in
                                                           ("api", "render", "persist",
                                                            "redis")] + pg_all)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        t0 = time.monotonic()
        lg = bench.loadgen(stack, N, C, os.path.join(tmp, "run.ids"))
        ids = bench.read_ids(os.path.join(tmp, "run.ids"))
        bench.wait_stored(psql, base + len(ids))
        wall = time.monotonic() - t0
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
        th1 = {s: threads(pids[s]) for s in ("api", "render", "persist", "redis")}
        cs1 = commandstats(stack.redis_port)
        pg1 = pg_counters(psql)
        stats = bench.run_stats(psql, "run_ids", ids)
        summary.update({"loadgen": lg, "stats": stats, "wall_s": round(wall, 2)})
        n = max(1, stats["stored"])

        # Busy fraction of each thread over the run (1.0 = a whole core).
        busy = {}
        for s in th1:
            for tid, (comm, ticks) in th1[s].items():
                before = th0[s].get(tid, (comm, 0))[1]
                frac = (ticks - before) / bench.CLK_TCK / wall
                if frac >= 0.005:
                    busy.setdefault(s, []).append((comm, tid, round(frac, 3)))
        summary["thread_busy"] = {s: sorted(v, key=lambda x: -x[2]) for s, v in busy.items()}
        cmds = {}
        for name, (calls, usec) in cs1.items():
            c0, u0 = cs0.get(name, (0, 0))
            if calls - c0 > 0:
                cmds[name] = {"per_image": round((calls - c0) / n, 2),
                              "usec_per_call": round((usec - u0) / (calls - c0), 1)}
        summary["redis_commands"] = dict(sorted(cmds.items(), key=lambda kv: -kv[1]["per_image"]))
        summary["redis_persistence"] = {k: v for k, v in redis_info(
            stack.redis_port, "persistence").items() if k.startswith("aof_")}
        summary["postgres_per_image"] = {k: round((pg1[k] - pg0[k]) / n, 3) for k in pg0}

        # Per-process CPU profile (percentages relative to the process).
        for s in ("api", "render", "persist", "redis", "postgres"):
            pid_list = ",".join(str(p) for p in (pg_all if s == "postgres" else [pids[s]]))
            for sort, suffix in (("dso", "dso"), ("dso,sym", "sym")):
                with open(os.path.join(out_dir, "perf-%s-%s.txt" % (s, suffix)), "w") as f:
                    subprocess.run(["perf", "report", "-i", perf_data, "--pid", pid_list,
                                    "--stdio", "--no-children", "--percentage", "relative",
                                    "--sort", sort, "-g", "none", "--percent-limit", "0.5"],
                                   stdout=f, stderr=subprocess.DEVNULL)
            with open(os.path.join(out_dir, "perf-%s-callers.txt" % s), "w") as f:
                subprocess.run(["perf", "report", "-i", perf_data, "--pid", pid_list, "--stdio",
                                "--children", "--percentage", "relative", "--sort", "sym",
                                "-g", "caller,0.5,callee,function,percent",
                                "--percent-limit", "3"], stdout=f, stderr=subprocess.DEVNULL)

        # Syscalls of the consumers during a second, shorter run.
        n2 = max(200, N // 4)
        traces = {}
        for s in ("render", "persist"):
            traces[s] = subprocess.Popen(
                ["perf", "trace", "-s", "-o", os.path.join(out_dir, "syscalls-%s.txt" % s),
                 "-p", str(pids[s])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        rows = int(psql.query("SELECT count(*) FROM images")[0])
        bench.loadgen(stack, n2, C, os.path.join(tmp, "trace.ids"))
        bench.wait_stored(psql, rows + len(bench.read_ids(os.path.join(tmp, "trace.ids"))))
        for p in traces.values():
            p.send_signal(signal.SIGINT)
            p.wait(60)
        summary["trace_n"] = n2
    finally:
        if psql:
            psql.close()
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
    print(json.dumps(summary, indent=1, ensure_ascii=False))
    print("profile written to " + out_dir)


if __name__ == "__main__":
    main()
