#!/usr/bin/env python3
"""The tree shows the architecture: each src/ layer includes only itself and
the layers listed before it. Prints every include that breaks the order and
exits 1 if there is one.

    check_layers.py [SRC_DIR]
"""

import os
import re
import sys

# Lower layers first. Layers on one line are peers and must not include each other.
ORDER = [
    ["util"],
    ["core"],
    ["mem"],
    ["boot", "vcpu", "devices"],
    ["virtio"],
    ["vmm"],
    ["snapshot", "sandbox"],
    ["api"],
    ["cli"],
]
RANK = {name: i for i, group in enumerate(ORDER) for name in group}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                             "..", "src")
    bad = []
    checked = 0
    for layer in sorted(os.listdir(src)):
        path = os.path.join(src, layer)
        if not os.path.isdir(path):
            continue
        if layer not in RANK:
            bad.append("src/%s: a layer the order does not know; add it to %s" %
                       (layer, os.path.basename(__file__)))
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            checked += 1
            text = open(os.path.join(path, name), encoding="utf-8").read()
            for dep in INCLUDE.findall(text):
                if dep == layer or dep not in RANK:
                    continue
                if RANK[dep] >= RANK[layer]:
                    bad.append("src/%s/%s includes %s/, which is not below %s/" %
                               (layer, name, dep, layer))
    for line in bad:
        print(line)
    print("%d files checked, %d layering violations" % (checked, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
