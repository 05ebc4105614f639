"""Proves the runtime stage of deploy/Dockerfile installs enough: every shared
library each built binary loads (ldd) must be owned (dpkg -S) by a package in
the Dockerfile's runtime package list or in its Depends/PreDepends closure
(apt-cache depends --recurse). The image is debian:bookworm-slim and this
machine is Debian 12, so the package metadata here is the image's.

Usage: check_runtime_libs.py BINARY... ; exit 0 when every library is covered.
Stdlib only."""
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(ROOT, "deploy", "Dockerfile")
# Part of the kernel or the dynamic loader itself, not a file of any package.
VIRTUAL_LIBS = ("linux-vdso.so", "linux-gate.so")


def runtime_packages(dockerfile=DOCKERFILE):
    """Package names of the apt-get install between the RUNTIME-PACKAGES markers."""
    with open(dockerfile) as f:
        text = f.read()
    m = re.search(r"# RUNTIME-PACKAGES-BEGIN\n(.*?)# RUNTIME-PACKAGES-END", text, re.S)
    if not m:
        raise SystemExit("%s: no RUNTIME-PACKAGES-BEGIN/END block" % dockerfile)
    block = m.group(1).replace("\\\n", " ")
    m = re.search(r"apt-get install ([^&;]*)", block)
    if not m:
        raise SystemExit("%s: no apt-get install in the runtime block" % dockerfile)
    return [w for w in m.group(1).split() if not w.startswith("-")]


def depends_closure(packages):
    """Every package reachable through Depends/PreDepends, the roots included."""
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
         "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + packages,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout
    closure = set(packages)
    for line in out.splitlines():
        if line and not line[0].isspace():
            closure.add(line.strip().strip("<>").split(":")[0])
    return closure


def ldd_paths(binary):
    """{soname: resolved path} of a binary; a missing library is an error."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, check=True).stdout
    libs = {}
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith(VIRTUAL_LIBS):
            continue
        if "=> not found" in line:
            raise SystemExit("%s: %s" % (binary, line))
        m = re.match(r"(\S+) => (\S+) \(", line) or re.match(r"((\S+)) \(", line)
        if m:
            libs[m.group(1)] = m.group(2)
    return libs


def owners(paths):
    """{path: package} for each path, trying the usrmerge twin (/lib vs /usr/lib)
    and the symlink target, since dpkg records the path the package shipped.
    One dpkg -S call for all of them: it prints the ones it knows."""
    candidates = {}
    for path in paths:
        cands = []
        for p in (path, os.path.realpath(path)):
            cands += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
        candidates[path] = cands
    queried = sorted({c for cands in candidates.values() for c in cands})
    out = subprocess.run(["dpkg", "-S"] + queried, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    known = {}
    for line in out.splitlines():
        pkgs, _, file = line.partition(": ")
        known[file.strip()] = pkgs.split(",")[0].split(":")[0].strip()
    result = {}
    for path, cands in candidates.items():
        for c in cands:
            if c in known:
                result[path] = known[c]
                break
    return result


def main(binaries):
    if not binaries:
        raise SystemExit("usage: check_runtime_libs.py BINARY...")
    packages = runtime_packages()
    closure = depends_closure(packages)
    all_paths = {}
    for b in binaries:
        for soname, path in ldd_paths(b).items():
            all_paths.setdefault(path, set()).add((os.path.basename(b), soname))
    owner = owners(sorted(all_paths))
    problems = []
    for path, users in sorted(all_paths.items()):
        who = ", ".join(sorted(u for u, _ in users))
        pkg = owner.get(path)
        if pkg is None:
            problems.append("%s (used by %s): no Debian package owns it" % (path, who))
        elif pkg not in closure:
            problems.append("%s (used by %s): package %s is not in the runtime list or its "
                            "Depends closure" % (path, who, pkg))
    print("runtime packages: %d listed, %d with their dependencies; %d libraries checked "
          "for %s" % (len(packages), len(closure), len(all_paths),
                      ", ".join(os.path.basename(b) for b in binaries)))
    for p in problems:
        print("MISSING:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
