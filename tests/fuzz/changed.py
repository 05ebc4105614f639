#!/usr/bin/env python3
"""Prints the fuzz targets whose code changed recently, one per line.

Usage: changed.py FUZZ_BUILD DAYS TARGET...

A target's code is every project file it is built from: its own
tests/fuzz/fuzz_<target>.c and the headers it includes, and every archive
member the linker took (read from the link map fuzz_<target>.map) with the
sources and headers of that member (read from its compiler .d file). "Changed"
means touched by a commit made within DAYS days before HEAD's commit (commit
dates, so the answer depends on the history only, not on the clock). fuzz.mk
gives those targets the long run: a bug in code that just changed is the one
a short run misses.
"""
import os
import re
import subprocess
import sys

MEMBER = re.compile(r"^\S*libimgcap\.a\(([^)]+\.o)\)")


def git(*args):
    return subprocess.run(["git"] + list(args), check=True, capture_output=True,
                          text=True).stdout


def changed_files(days):
    head_date = int(git("log", "-1", "--format=%ct", "HEAD").strip())
    since = head_date - int(float(days) * 86400)
    base = git("rev-list", "-1", "--min-age=%d" % since, "HEAD").strip()
    if not base:  # the whole history is recent: everything changed
        return set(git("ls-files").split("\n"))
    return set(git("diff", "--name-only", base, "HEAD").split("\n"))


def deps_of(dfile):
    """Project-relative paths a compiler .d file names (its rule's prerequisites)."""
    try:
        with open(dfile) as f:
            text = f.read().replace("\\\n", " ")
    except OSError:
        return set()
    out = set()
    for line in text.split("\n"):
        if ":" not in line:
            continue
        for p in line.split(":", 1)[1].split():
            if not os.path.isabs(p):
                out.add(os.path.normpath(p))
    return out


def target_files(build, target, objects_by_name):
    files = deps_of(os.path.join(build, "fuzz_%s.d" % target))
    files.add("tests/fuzz/fuzz_%s.c" % target)
    try:
        with open(os.path.join(build, "fuzz_%s.map" % target)) as f:
            members = {m.group(1) for m in map(MEMBER.match, f) if m}
    except OSError:
        return None  # not linked with a map: treat as changed
    for name in members:
        for obj in objects_by_name.get(name, []):
            files |= deps_of(obj[:-2] + ".d")
    return files


def main():
    build, days, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
    objects_by_name = {}
    for root, _, names in os.walk(os.path.join(build, "obj")):
        for n in names:
            if n.endswith(".o"):
                objects_by_name.setdefault(n, []).append(os.path.join(root, n))
    try:
        changed = changed_files(days)
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout (an exported tree): every target counts as changed.
        print("\n".join(targets))
        return
    for t in targets:
        files = target_files(build, t, objects_by_name)
        if files is None or files & changed:
            print(t)


if __name__ == "__main__":
    main()
