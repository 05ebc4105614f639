"""Two builds side by side: runs `bench.py` of each checkout in turn, several
rounds (A B A B ...), so that a busy moment of the machine hits both alike,
and prints every figure of both as the median of its rounds with the ratio
new / base. Not part of `make bench`; run it by hand:

    python3 tests/bench/ab.py BASE_TREE NEW_TREE [ROUNDS]

BASE_TREE and NEW_TREE are checkouts with `make` and
`make -f tests/bench/bench.mk` done in each (their `build/` and
`build/bench/`). Each round runs the tree's own `tests/bench/bench.py` with
its own binaries, `deploy/local.sh`, configuration and schema, so a change to
any of them is measured with the code that needs it. BENCH_PARTS (default
`render,e2e,reads` here: `find` builds a million rows and says nothing about
a change of the pipeline), BENCH_N and BENCH_C pass through. ROUNDS defaults
to 3. Writes every round's JSON line to build/bench/ab-<time>.jsonl of the
new tree, and prints the table.
"""
import json
import os
import statistics
import subprocess
import sys
import time

# (label, path in bench.py's JSON line, True when larger is better)
FIGURES = [
    ("render: caption, ms", "render.render_ms", False),
    ("render: caption + thumbnail, ms", "render.render_thumbnail_ms", False),
    ("render: thumbnail alone, ms", "render.thumbnail_ms", False),
    ("e2e: accepted/s", "e2e.accepted_per_s", True),
    ("e2e: stored/s", "e2e.stored_per_s", True),
    ("e2e: CPU ms/image api", "e2e.cpu_ms_per_image.api", False),
    ("e2e: CPU ms/image render", "e2e.cpu_ms_per_image.render", False),
    ("e2e: CPU ms/image persist", "e2e.cpu_ms_per_image.persist", False),
    ("e2e: CPU ms/image redis", "e2e.cpu_ms_per_image.redis", False),
    ("e2e: CPU ms/image postgres", "e2e.cpu_ms_per_image.postgres", False),
    ("e2e: CPU ms/image total", "e2e.cpu_ms_per_image.total", False),
    ("e2e: half rate, received->stored p99 ms", "e2e.paced.latency_ms.p99", False),
    ("reads: one id, req/s", "reads.api_image.req_per_s", True),
    ("reads: one id, api CPU us/req", "reads.api_image.cpu_us_per_req.api", False),
    ("reads: nginx one file, req/s", "reads.nginx_image.req_per_s", True),
    ("reads: one id, api / nginx", "reads.api_vs_nginx", True),
    ("reads: every id, req/s", "reads.api_images_all.req_per_s", True),
    ("reads: every id, api CPU us/req", "reads.api_images_all.cpu_us_per_req.api", False),
    ("reads: nginx every file, req/s", "reads.nginx_images_all.req_per_s", True),
    ("reads: every id, api / nginx", "reads.api_vs_nginx_all", True),
    ("reads: list limit=100, req/s", "reads.api_list100.req_per_s", True),
    ("reads: list, api CPU us/req", "reads.api_list100.cpu_us_per_req.api", False),
    ("reads: list, postgres CPU us/req", "reads.api_list100.cpu_us_per_req.postgres", False),
]


def lookup(doc, path):
    for key in path.split("."):
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc if isinstance(doc, (int, float)) else None


def run(tree, env):
    """One bench.py run of tree; its JSON line, or exits on a failed run (a
    failed run is a lost or doubled upload, never a figure to average)."""
    e = dict(env)
    e["IMGCAP_BIN_DIR"] = os.path.join(tree, "build")
    e["BENCH_BIN_DIR"] = os.path.join(tree, "build", "bench")
    p = subprocess.run([sys.executable, os.path.join(tree, "tests", "bench", "bench.py")],
                       env=e, stdout=subprocess.PIPE, text=True)
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        sys.exit("ab: bench.py of %s failed (exit %d)" % (tree, p.returncode))
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        sys.exit("ab: bench.py of %s printed no JSON line" % tree)
    return json.loads(lines[-1])


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    trees = [os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])]
    rounds = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    env = dict(os.environ)
    env.setdefault("BENCH_PARTS", "render,e2e,reads")
    results = ([], [])
    out = os.path.join(trees[1], "build", "bench",
                       "ab-%s.jsonl" % time.strftime("%Y%m%dT%H%M%S"))
    with open(out, "w") as log:
        for r in range(rounds):
            for which in (0, 1):
                sys.stderr.write("ab: round %d of %d, %s\n"
                                 % (r + 1, rounds, ("base", "new")[which]))
                doc = run(trees[which], env)
                results[which].append(doc)
                log.write(json.dumps({"round": r + 1, "tree": trees[which], "run": doc}) + "\n")
                log.flush()
    print("\nab: %d rounds alternated, base %s, new %s (median of rounds; every value in brackets)"
          % (rounds, trees[0], trees[1]))
    print("%-42s %10s %10s %7s   %s" % ("figure", "base", "new", "new/base", "rounds base | new"))
    for label, path, _ in FIGURES:
        vals = [[lookup(d, path) for d in results[w]] for w in (0, 1)]
        vals = [[v for v in vs if v is not None] for vs in vals]
        if not vals[0] or not vals[1]:
            continue
        med = [statistics.median(vs) for vs in vals]
        ratio = "%7.2f" % (med[1] / med[0]) if med[0] else "      -"
        fmt = lambda vs: " ".join("%g" % round(v, 3) for v in vs)  # noqa: E731
        print("%-42s %10g %10g %s   %s | %s"
              % (label, round(med[0], 3), round(med[1], 3), ratio, fmt(vals[0]), fmt(vals[1])))
    print("ab: every round's JSON line in %s" % out)


if __name__ == "__main__":
    main()
