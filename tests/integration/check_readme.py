#!/usr/bin/env python3
"""The README's commands exist as it shows them: each `make TARGET` is a Makefile target; each
`hearth SUBCOMMAND ... --flag` (in a code block, backslash lines joined, or in `backticks`)
names a subcommand `hearth --help` lists, whose own `--help` shows that flag; each `bench/run.sh --MODE` is a mode the
script takes; each `python3 PATH` or `bash PATH` names a file of the tree.

    check_readme.py ROOT HEARTH     the tree's check: exit 1 with a line per command that is not
    check_readme.py --self-test HEARTH   the checker's own cases (a flag --help lacks is caught)
"""
import os
import re
import subprocess
import sys

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
TICK = re.compile(r"`([^`\n]+)`")


def commands(text):
    """Every command line the README shows: code blocks' lines (continuations joined) and
    inline code spans."""
    out = []
    for block in FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        out += [l.split("  #")[0].strip() for l in joined.splitlines() if l.strip()]
    prose = FENCE.sub("", text)
    out += [m.strip() for m in TICK.findall(prose)]
    return out


def help_text(hearth, sub, cache):
    if sub not in cache:
        args = [hearth, sub, "--help"] if sub else [hearth, "--help"]
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=30)
        cache[sub] = r.stdout
    return cache[sub]


def faults(root, hearth, text):
    """(command, why) for each command of text that does not exist as shown."""
    out, cache = [], {}
    with open(os.path.join(root, "Makefile")) as f:
        make = f.read()
    # run.sh hands a mode's flags to its script (bench/io.py ...): any of them may take one.
    bench = ""
    for f in sorted(os.listdir(os.path.join(root, "bench"))):
        if f == "run.sh" or f.endswith(".py"):
            with open(os.path.join(root, "bench", f)) as fh:
                bench += fh.read()
    # The subcommands are those `hearth --help` names ("hearth WORD ...").
    subs = set(re.findall(r"^\s*(?:usage:)?\s*hearth ([a-z][a-z-]*)",
                          help_text(hearth, "", cache), re.M | re.I))
    for c in commands(text):
        words = c.split()
        if not words:
            continue
        if words[0] == "make" and len(words) > 1 and not words[1].startswith("-"):
            if not re.search(r"^%s:" % re.escape(words[1]), make, re.M):
                out.append((c, "no Makefile target '%s'" % words[1]))
        elif words[0] in ("python3", "bash") and len(words) > 1 and "/" in words[1]:
            if not os.path.exists(os.path.join(root, words[1])):
                out.append((c, "no file %s" % words[1]))
        elif words[0] == "bench/run.sh":
            for w in words[1:]:
                if w.startswith("--") and w.split("=")[0] not in bench:
                    out.append((c, "bench/run.sh takes no %s" % w))
        elif words[0] == "hearth" and len(words) > 1:
            sub = words[1] if words[1] in subs else ""
            if words[1] not in subs and not words[1].startswith("-"):
                out.append((c, "hearth has no subcommand '%s'" % words[1]))
                continue
            h = help_text(hearth, sub, cache)
            for w in words[1:]:
                flag = w.split("=")[0]
                if re.match(r"^--[a-z][a-z0-9-]*$", flag) and flag not in h:
                    out.append((c, "`hearth %s --help` shows no %s" % (sub, flag)))
    return out


def self_test(hearth):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    good = "```sh\nmake test\nhearth run --kernel k \\\n    --memory 64\n```\nand `hearth serve --api-sock s`\n"
    bad = ("```sh\nmake nothing-such\nhearth run --kernel k \\\n    --no-such-flag 1\n"
           "python3 tests/none.py\nbench/run.sh --no-such-mode\n```\n`hearth fly`\n")
    ok = not faults(root, hearth, good)
    got = [why for _, why in faults(root, hearth, bad)]
    want = ["no Makefile target 'nothing-such'", "`hearth run --help` shows no --no-such-flag",
            "no file tests/none.py", "bench/run.sh takes no --no-such-mode",
            "hearth has no subcommand 'fly'"]
    for w in want:
        if w not in got:
            print("FAIL self-test: not caught: %s (got %s)" % (w, got))
            ok = False
    print("ok: self-test" if ok else "FAIL self-test")
    return 0 if ok else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        return self_test(sys.argv[2])
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    root, hearth = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        bad = faults(root, hearth, f.read())
    for c, why in bad:
        print("README.md: %s: %s" % (c, why))
    if bad:
        return 1
    print("ok: every command the README shows exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
