#!/usr/bin/env python3
"""scripts/test.sh's reading of one meson run: its counts, and the tests the lab must run.

    scripts/meson_log.py DIR LAB_GUESTS NOT_HERE_OUT

Reads DIR/meson-logs/testlog.json and prints "PASSED FAILED SKIPPED". A
skip is not counted when the lab runs that test instead:
  - a guest test the placement rule put in the lab (LAB_GUESTS, comma-
    separated: tests/lab/test_guest.py runs it);
  - a test that said "not here:" (tests/integration/itest.py, NotHere):
    its DIR:NAME is appended to NOT_HERE_OUT, for tests/lab/test_meson.py.
Any other skip is counted, and named on stderr.
"""
import json
import os
import sys

NOT_HERE = "not here:"


def main():
    build_dir, lab_guests, out = sys.argv[1], set(filter(None, sys.argv[2].split(","))), sys.argv[3]
    log = os.path.join(build_dir, "meson-logs", "testlog.json")
    p = f = s = 0
    to_lab = []
    if os.path.exists(log):
        for line in open(log):
            t = json.loads(line)
            r, name = t.get("result"), t.get("name", "")
            short = name.split(" / ", 1)[1] if " / " in name else name
            if r in ("OK", "EXPECTEDFAIL"):
                p += 1
            elif r == "SKIP":
                if name.startswith("hearth:guest / ") and short in lab_guests:
                    continue
                if any(l.startswith(NOT_HERE) for l in (t.get("stdout") or "").splitlines()):
                    to_lab.append("%s:%s" % (build_dir, short))
                    continue
                s += 1
                print("   skipped: %s" % name, file=sys.stderr)
            else:
                f += 1
    with open(out, "a") as fo:
        for item in to_lab:
            fo.write(item + "\n")
    print(p, f, s)


if __name__ == "__main__":
    main()
