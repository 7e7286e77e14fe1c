#!/usr/bin/env python3
"""The placement rule of the guest tests (run_guest_test.py, tests/lab/README.md):
given a host with no KVM, a PVM-backed KVM or hardware virtualization, each
test lands where the rule says.  The expected lists are written out here on
purpose: a test that starts or stops needing something changes them.

    test_placement.py --guests build/tests/guest [--meson tests/guest/meson.build]
"""
import argparse
import os
import re
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import run_guest_test as G  # noqa: E402

NO_KVM_TESTS = {"bad-empty", "bad-truncated-header", "bad-truncated-segment",
                "bad-segment-outside-ram", "bad-segment-in-hole", "bad-segment-loader-area",
                "bad-mb-outside-ram", "bad-mb-no-entry", "bad-mb-aout-outside-file"}
# Host kind -> the tests that go to the lab there.
EXPECTED_LAB = {
    "none": set(G.TESTS) - NO_KVM_TESTS,
    "pvm": {"chaos", "chaos-sigterm", "testdev"},
    "hw": set(),
}
# Host kind -> the tests that run natively and in the lab as well.
EXPECTED_BOTH = {
    "none": set(),
    "pvm": {"flat-real"},
    "hw": set(),
}

failures = []


def check(ok, what):
    print("%s %s" % ("PASS" if ok else "FAIL", what))
    if not ok:
        failures.append(what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", default=os.path.join(HERE, "meson.build"))
    ap.add_argument("--guests", required=True, help="the built guests (build/tests/guest)")
    a = ap.parse_args()

    # The guest tests with runners of their own: natively where KVM is, else unchanged in L1.
    for kind, want in (("none", "lab:meson"), ("pvm", "native"), ("hw", "native")):
        got = G.external_placement(G.EXTERNAL["snapshot-uffd"], kind)[0]
        check(got == want, "%s host: snapshot-uffd %s (want %s)" % (kind, got, want))
    for kind, want in EXPECTED_LAB.items():
        lab = {n for n, t in G.TESTS.items() if G.placement(t, kind)[0] == "lab"}
        check(lab == want, "%s host: lab %s (extra %s, missing %s)"
              % (kind, sorted(lab), sorted(lab - want), sorted(want - lab)))
        both = {n for n, t in G.TESTS.items() if G.placement(t, kind)[0] == "native+lab"}
        check(both == EXPECTED_BOTH[kind], "%s host: native and lab %s (extra %s, missing %s)"
              % (kind, sorted(both), sorted(both - EXPECTED_BOTH[kind]),
                 sorted(EXPECTED_BOTH[kind] - both)))
        for n, t in G.TESTS.items():
            where, why = G.placement(t, kind)
            if where == "lab":
                check(all(m in why for m in t.needs - G.PROVIDES[kind]),
                      "%s on %s: the reason names what is missing (%r)" % (n, kind, why))

    # Tests that need no KVM point hearth at a device that is not there.
    with tempfile.TemporaryDirectory() as tmp:
        def put(path, data):
            with open(path, "wb") as f:
                f.write(data)
        for n in sorted(NO_KVM_TESTS):
            t = G.TESTS[n]
            guest = os.path.join(a.guests, t.image)
            invs = t.plan(G.Place("hearth", guest, guest, tmp, put))
            check(invs and all(inv.args[inv.args.index("--kvm") + 1:][:1] == [G.NO_KVM]
                               for inv in invs if "--kvm" in inv.args) and
                  all("--kvm" in inv.args for inv in invs),
                  "%s: hearth gets --kvm %s" % (n, G.NO_KVM))

    # Host detection, with HEARTH_TEST_HOST and with fakes for /dev/kvm.
    works = lambda path: None  # noqa: E731
    broken = lambda path: "cannot open %s: No such file or directory" % path  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        pvm = os.path.join(tmp, "kvm_pvm")
        check(G.host_kind(pvm=pvm, env={}, usable=broken)[0] == "none",
              "no usable /dev/kvm: none")
        check(G.host_kind(pvm=pvm, env={}, usable=works)[0] == "hw",
              "a usable /dev/kvm without kvm_pvm: hw")
        os.mkdir(pvm)
        check(G.host_kind(pvm=pvm, env={}, usable=works)[0] == "pvm",
              "a usable /dev/kvm with kvm_pvm loaded: pvm")
        check(G.host_kind(pvm=pvm, env={}, usable=broken)[0] == "none",
              "kvm_pvm loaded but /dev/kvm unusable: none")
        for kind in G.HOST_KINDS:
            check(G.host_kind(pvm=pvm, env={"HEARTH_TEST_HOST": kind}, usable=works)[0] == kind,
                  "HEARTH_TEST_HOST=%s is taken" % kind)
        try:
            G.host_kind(env={"HEARTH_TEST_HOST": "vtx"})
            check(False, "HEARTH_TEST_HOST=vtx is refused")
        except ValueError as e:
            check("none, pvm, hw" in str(e), "HEARTH_TEST_HOST=vtx is refused, naming the kinds")
        check(G.kvm_usable(os.path.join(tmp, "missing")) is not None,
              "a missing KVM path is unusable")
        check(G.kvm_usable("/dev/null") is not None, "/dev/null is not a KVM")

    # meson's guest tests and the runner's tests are the same list.
    text = open(a.meson).read()
    block = text[text.index("guest_tests = {"):]
    block = block[:block.index("}")]
    names = set(re.findall(r"'([a-z0-9-]+)'\s*:", block))
    check(names == set(G.TESTS), "meson's guest tests are the runner's (extra %s, missing %s)"
          % (sorted(names - set(G.TESTS)), sorted(set(G.TESTS) - names)))

    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
