#!/usr/bin/env python3
"""make check-refs: no tracked file may send its reader outside the repository.

The design lives in the READMEs next to the code (docs/development.md, Design). A comment,
doc, test or help text that cites an outside design document, one of its
numbered sections, or an issue number points at something a reader of the tree
cannot open. Fails (exit 1) listing file:line for every tracked text file
(git ls-files; files with a NUL byte or not UTF-8 are skipped as binary) that
matches one of PATTERNS, case-insensitive, also across a line break inside a
comment. Runs its own self-test first, so a broken pattern cannot pass
silently."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Written so that this file does not match itself.
PATTERNS = [
    ("the outside design document", r"\bdesign\.md\b"),
    ("a section of the outside design document", r"\bdesign\s+sections?\b"),
    ("an issue number", r"\bissues?\s+(?:no\.?\s*)?#?\d+"),
]
REGEXES = [(what, re.compile(rx, re.IGNORECASE)) for what, rx in PATTERNS]
# What starts a continued comment line: " * ", "# ", "// ", "-- ", "; ".
LEADER = re.compile(r"^\s*(?:\*|#|//|--|;)?\s*")


def find(text):
    """(line number, what) for every match in text; a match across a line break
    (comment leader skipped) is reported at its first line."""
    lines = text.split("\n")
    hits = []
    for i, line in enumerate(lines):
        found = [what for what, rx in REGEXES if rx.search(line)]
        if not found and i + 1 < len(lines):
            joined = line.rstrip() + " " + LEADER.sub("", lines[i + 1])
            found = [what for what, rx in REGEXES
                     if rx.search(joined) and not rx.search(lines[i + 1])]
        hits.extend((i + 1, what) for what in found)
    return hits


def self_test():
    doc = "design" + ".md"
    bad = [
        "see " + doc,
        "/* config.h - defaults (design " + "section 8). */",
        "(design " + "sections 4 and 7)",
        "tests (iss" + "ue 8): crash",
        "# Iss" + "ue 7's independent check",
        "fixes iss" + "ue #12",
        "/* queues, see the design\n * " + "section 4 */",
    ]
    good = [
        "#define BOUNDARY_MAX 70 /* RFC 2046 section 5.1.1 */",
        "a luma sampled less finely than the frame loses detail by design",
        "every issue is logged",
        "designed as HarfBuzz measures it",
        "section 4 of RFC 3629",
    ]
    failed = [s for s in bad if not find(s)] + [s for s in good if find(s)]
    for s in failed:
        print("check_refs self-test: wrong verdict on %r" % s, file=sys.stderr)
    return not failed


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                         stdout=subprocess.PIPE).stdout
    return [p for p in out.decode("utf-8", "surrogateescape").split("\0") if p]


def main():
    if not self_test():
        return 1
    bad = 0
    for path in tracked_files():
        full = os.path.join(ROOT, path)
        if not os.path.isfile(full):
            continue  # deleted in the work tree, or a submodule
        with open(full, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for line, what in find(text):
            print("%s:%d: cites %s" % (path, line, what))
            bad += 1
    if bad:
        print("check-refs: %d reference(s) outside the repository; point to the "
              "READMEs instead (docs/development.md, Design)" % bad, file=sys.stderr)
        return 1
    print("check-refs: no tracked file cites an outside design document or an issue number")
    return 0


if __name__ == "__main__":
    sys.exit(main())
