#!/usr/bin/env python3
"""The tree shows the architecture: each src/ layer includes only itself and
the layers listed before it. A layer is a folder of src/ with everything
under it: src/virtio/blk/blk.c is on the virtio floor. Each file is one
concern, and at most MAX_LINES lines: past that it is split by concern.
Prints every include that breaks the order, and every file too long, and
exits 1 if there is one.

    check_layers.py [SRC_DIR]
    check_layers.py --self-test   # the check itself, on small trees of its own
"""

import os
import re
import sys
import tempfile

# Lower layers first. Layers on one line are peers and must not include each other.
ORDER = [
    ["util"],
    ["core"],
    ["agent"],
    ["mem"],
    ["boot", "vcpu", "devices", "slirp", "disk"],
    ["pci"],
    ["firmware", "chipset"],
    ["mmds"],
    ["virtio"],
    ["vmm"],
    ["fcjson"],
    ["snapshot", "sandbox"],
    ["migrate"],
    ["control"],
    ["api"],
    ["host"],
    ["zygote", "jailer"],
    ["sandboxd"],
    ["cli"],
]
RANK = {name: i for i, group in enumerate(ORDER) for name in group}
MAX_LINES = 600
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def sources(layer_dir):
    """The .c and .h files of a layer, its subfolders' included, as paths inside it."""
    found = []
    for top, dirs, files in os.walk(layer_dir):
        dirs.sort()
        for name in sorted(files):
            if name.endswith((".c", ".h")):
                found.append(os.path.relpath(os.path.join(top, name), layer_dir))
    return found


def check(src):
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
        for name in sources(path):
            checked += 1
            text = open(os.path.join(path, name), encoding="utf-8").read()
            lines = text.count("\n")
            if lines > MAX_LINES:
                bad.append("src/%s/%s is %d lines, more than %d: split it by concern" %
                           (layer, name, lines, MAX_LINES))
            for dep in INCLUDE.findall(text):
                if dep == layer or dep not in RANK:
                    continue
                if RANK[dep] >= RANK[layer]:
                    bad.append("src/%s/%s includes %s/, which is not below %s/" %
                               (layer, name, dep, layer))
    for line in bad:
        print(line)
    print("%d files checked, %d layering violations or files too long" % (checked, len(bad)))
    return 1 if bad else 0


def self_test():
    """A tree that keeps the order passes; one include against it, each kind, fails."""
    good = {
        "util/err.h": "",
        "vmm/vm.c": '#include "util/err.h"\n#include "vmm/vm.h"\n',
        "control/control.c": '#include "vmm/vm.h"\n#include "snapshot/snapshot.h"\n',
        "api/routes.c": '#include "control/control.h"\n',
        "virtio/mmio/mmio.c": '#include "util/err.h"\n',
    }
    cases = [
        ("a clean tree", {}, 0),
        ("an include from a lower layer of a higher one",
         {"vmm/vm_patch.c": '#include "control/control.h"\n'}, 1),
        ("an include of the layer above, indented",
         {"control/model.c": '  #  include "api/server.h"\n'}, 1),
        ("an include between peers", {"snapshot/create.c": '#include "sandbox/confine.h"\n'}, 1),
        ("an include from a layer's subfolder of a higher one",
         {"virtio/blk/blk.c": '#include "vmm/vm.h"\n'}, 1),
        ("a layer the order does not know", {"gui/window.c": '#include "util/err.h"\n'}, 1),
        ("a file past the line limit", {"vmm/big.c": "\n" * (MAX_LINES + 1)}, 1),
        ("a file at the line limit", {"vmm/full.c": "\n" * MAX_LINES}, 0),
    ]
    failed = 0
    for name, extra, want in cases:
        with tempfile.TemporaryDirectory() as src:
            for rel, text in dict(good, **extra).items():
                os.makedirs(os.path.join(src, os.path.dirname(rel)), exist_ok=True)
                with open(os.path.join(src, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            got = check(src)
        if got != want:
            print("self-test: %s: exit %d, want %d" % (name, got, want))
            failed = 1
    print("self-test: %s" % ("FAILED" if failed else "ok"))
    return failed


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                             "..", "src")
    return check(src)


if __name__ == "__main__":
    sys.exit(main())
