"""Prints the line, function and branch coverage of the product code (services/
and shared/, never tests/) that a coverage build's tests left behind, and writes
the same figures as an HTML report (one page per file, every line's counts).

Usage: coverage.py BUILD_DIR NAME "TITLE"
  BUILD_DIR  the coverage build (make coverage: build/coverage); its obj/ holds
             the .gcno files and the .gcda counters the tests wrote
  NAME       the report's directory under BUILD_DIR/report/ (e.g. "tests")
  TITLE      the line printed above the table

gcovr (Debian's 5.2) runs gcov on every counter file; this script only prints
its JSON summary as one table, weakest files by missed lines last, so the
files to work on are the ones just above the totals."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def pct(covered, total):
    return 100.0 * covered / total if total else 100.0


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    build, name, title = sys.argv[1:]
    build = os.path.abspath(build)
    out = os.path.join(build, "report", name)
    os.makedirs(out, exist_ok=True)
    summary = os.path.join(out, "summary.json")
    # --filter: the product files only (paths relative to ROOT); the generated
    # asset files under BUILD/gen and the tests are left out.
    # --exclude-unreachable-branches: branches gcc adds on lines with no code
    # of their own (a closing brace) are not branches a test could take.
    # No -j: gcovr 5.2 hangs when a gcov parse error ends a worker thread.
    cmd = ["gcovr", "--root", ROOT, "--filter", "shared/", "--filter", "services/",
           "--exclude-unreachable-branches",
           "--json-summary", summary,
           "--html-details", os.path.join(out, "index.html"),
           "--txt", os.path.join(out, "lines.txt"),
           os.path.join(build, "obj")]
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.stdout.write(r.stdout.decode(errors="replace"))
        print("coverage.py: gcovr failed (%d)" % r.returncode, file=sys.stderr)
        return 1
    with open(summary) as f:
        data = json.load(f)

    files = sorted(data["files"], key=lambda e: (e["line_total"] - e["line_covered"],
                                                e["filename"]))
    width = max(len(e["filename"]) for e in files) if files else 10
    head = "%-*s %15s %15s %15s" % (width, "file", "lines", "functions", "branches")
    print(title)
    print(head)
    print("-" * len(head))

    def row(label, e):
        return "%-*s %7.1f%% %6d %7.1f%% %6d %7.1f%% %6d" % (
            width, label,
            pct(e["line_covered"], e["line_total"]), e["line_total"] - e["line_covered"],
            pct(e["function_covered"], e["function_total"]),
            e["function_total"] - e["function_covered"],
            pct(e["branch_covered"], e["branch_total"]),
            e["branch_total"] - e["branch_covered"])

    for e in files:
        print(row(e["filename"], e))
    print("-" * len(head))
    print(row("total (%d files)" % len(files), data))
    print("(each column: percent covered, then the number missed)")
    print("report: %s" % os.path.relpath(os.path.join(out, "index.html"), ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
