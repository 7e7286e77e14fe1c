#!/usr/bin/env python3
"""How often does L1 wedge?  Boots the lab's guest plan again and again, one
L1 boot at a time with no retry, alternating between configurations, and
counts from build/lab/boots.jsonl (every lab boot is recorded there).

    tests/lab/wedge.py run --boots 30 [--config NAME=ENV,...]... [--only T,...]
    tests/lab/wedge.py poke --boots 3 --toggles 3000 [--config ...]...
    tests/lab/wedge.py summary [--campaign ID] [--tag guest|poke]
    tests/lab/wedge.py symbols

Each wedge is shown with what L1's vCPUs were doing, read from QEMU's
monitor when it was found (l1.probe_vcpus): the kernel function or module,
L1 user space, or the L2 guest.  `wedge.py symbols` boots L1 once to fetch
its kernel's symbols, so those are named rather than numbered.

A configuration is a name and environment settings for lab.py, e.g.
    --config keeper= --config nokeeper=LAB_L1_KEEPER=0
    --config qemu10=LAB_QEMU=10.0 --config cpus1=LAB_L1_CPUS=1
    --config tsc="LAB_L1_APPEND=clocksource=tsc tsc=reliable"
(LAB_QEMU, LAB_QEMU_DATA, LAB_L1_CPUS, LAB_L1_CPU, LAB_L1_APPEND,
LAB_L1_KEEPER: see l1.py).  The
configurations take turns, so the machine's load weighs on each alike.
The plan of `run` is test_guest.py's: every freestanding guest test with
build/hearth and build-asan/hearth, as on a host without /dev/kvm.  `poke`
has no L2 at all: L1 flips a static key (kernel.sched_schedstats) on and off
`--toggles` times while a shell loop keeps its other vCPU busy; every flip
patches kernel text through int3 (text_poke_bp) and IPIs, which is what
the wedged L1s were doing (tests/lab/README.md, "Wedges").  Prints, per
configuration, boots, wedges, and each wedge's kind and the L2 run it
happened in.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import lab as L  # noqa: E402
import l1  # noqa: E402


def parse_config(text):
    name, _, env = text.partition("=")
    settings = {}
    for kv in filter(None, env.split(",")):
        k, _, v = kv.partition("=")
        if not k.startswith("LAB_"):
            raise SystemExit("wedge.py: %r: only LAB_* settings" % kv)
        settings[k] = v
    return name, settings


def records(campaign=None, tag=None):
    out = []
    try:
        with open(l1.BOOTS_LOG) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if campaign and not (r.get("campaign") or "").startswith(campaign):
                    continue
                if tag and r.get("tag") != tag:
                    continue
                out.append(r)
    except FileNotFoundError:
        pass
    return out


_symbols = []


def name_offsets(text):
    """Names the kernel offsets ("_stext+0x...") a probe recorded before
    the symbols were fetched (`wedge.py symbols`), when they are now."""
    if not _symbols:
        try:
            lab = L.Lab()
            _symbols.append(lab.symbols() if os.path.exists(lab.symbols_path()) else None)
        except L.LabError:
            _symbols.append(None)
    syms = _symbols[0]
    if not syms:
        return text
    base = 0xffffffff81000000      # any base: the table holds offsets from _stext
    return re.sub(r"_stext\+(0x[0-9a-f]+)", lambda m: syms.name(int(m.group(1), 16) + base,
                                                               {"": base}) or m.group(0), text)


def summary(recs, key=lambda r: (r.get("campaign") or "-").split("/")[-1]):
    groups = collections.OrderedDict()
    for r in recs:
        groups.setdefault(key(r), []).append(r)
    lines = []
    for name, rs in groups.items():
        wedges = [r for r in rs if r["kind"] != "ok"]
        walls = sorted(r["wall"] for r in rs if r["kind"] == "ok")
        med = walls[len(walls) // 2] if walls else 0
        qemu = sorted({r.get("qemu", "?") for r in rs})
        lines.append("%s: %d boots, %d wedged (%.1f%%); qemu %s, L1 %s vCPUs, median wall of a "
                     "good boot %.0f s" % (name, len(rs), len(wedges),
                                           100.0 * len(wedges) / max(1, len(rs)), ",".join(qemu),
                                           ",".join(sorted({str(r.get("l1_cpus")) for r in rs})),
                                           med))
        kinds = collections.Counter(r["kind"] for r in wedges)
        if kinds:
            lines.append("  kinds: " + ", ".join("%s %d" % kv for kv in kinds.most_common()))
        for r in wedges:
            lines.append("  wedge %s: %s at %s after %d of %d runs, %.0f s into the boot (%s)"
                         % (r["time"], r["kind"], r["where"], r["runs_ended"],
                            r["runs_planned"], r["wall"], r.get("failure")))
            for i, v in enumerate(r.get("vcpus") or []):
                lines.append("    L1's vCPUs, look %d: %s" % (i + 1, name_offsets(v)))
    return "\n".join(lines)


POKE = ("( while :; do :; done ) & b=$!; i=0; while [ $i -lt %d ]; do "
        "echo 1 >/proc/sys/kernel/sched_schedstats; echo 0 >/proc/sys/kernel/sched_schedstats; "
        "i=$((i+1)); [ $((i %% 500)) = 0 ] && echo toggles=$i; done; kill $b; echo poke-done")


def poke_one(toggles):
    """One L1 boot that flips a static key `toggles` times, no retry."""
    lab = L.Lab()
    run = L.ShellRun("poke", "hearth", POKE % toggles, timeout=60 + toggles)
    res = lab.run_plan([run], tag="poke", retries=0)
    r = res.runs.get("poke")
    done = [l for l in (r.guest_lines if r else []) if l.startswith("toggles=")]
    print("%s after %s toggles" % ("ok" if res.ok else "WEDGED (%s)" % res.failure,
                                   done[-1].split("=")[1] if done else 0))
    return 0 if res.ok else 3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--boots", type=int, default=30, help="boots per configuration")
    run.add_argument("--config", action="append", default=[],
                     help="NAME=LAB_X=v,LAB_Y=w (repeat; default: the lab as it is)")
    run.add_argument("--only", help="test_guest.py --only")
    run.add_argument("--hearth", default=os.path.join(L.REPO, "build", "hearth"))
    run.add_argument("--asan", default=os.path.join(L.REPO, "build-asan", "hearth"))
    poke = sub.add_parser("poke")
    poke.add_argument("--boots", type=int, default=3, help="boots per configuration")
    poke.add_argument("--toggles", type=int, default=3000)
    poke.add_argument("--config", action="append", default=[])
    sub.add_parser("poke-one").add_argument("--toggles", type=int, default=3000)
    sub.add_parser("symbols")
    summ = sub.add_parser("summary")
    summ.add_argument("--campaign")
    summ.add_argument("--tag", default="guest", help="guest (run) or poke")
    a = ap.parse_args()
    if a.cmd == "symbols":
        lab = L.Lab()
        ok = lab.fetch_symbols()
        print("%s: %s" % (lab.symbols_path(), "ok" if ok else "could not read L1's kallsyms"))
        return 0 if ok else 3
    if a.cmd == "poke-one":
        return poke_one(a.toggles)
    if a.cmd == "summary":
        print(summary(records(a.campaign, a.tag)))
        return 0
    configs = [parse_config(c) for c in a.config] or [("default", {})]
    campaign = time.strftime("%s-%%Y%%m%%d-%%H%%M%%S" % ("poke" if a.cmd == "poke" else "wedge"))
    print("campaign %s: %d boots each of %s" % (campaign, a.boots,
                                                ", ".join(n for n, _ in configs)), flush=True)
    for i in range(a.boots):
        for name, settings in configs:
            env = dict(os.environ, LAB_CAMPAIGN="%s/%s" % (campaign, name), **settings)
            for k in ("LAB_QEMU", "LAB_QEMU_DATA", "LAB_L1_CPUS", "LAB_L1_CPU", "LAB_L1_APPEND",
                      "LAB_L1_KEEPER", "LAB_L1_NPT"):
                if k not in settings:
                    env.pop(k, None)
            if a.cmd == "poke":
                argv = [sys.executable, os.path.abspath(__file__), "poke-one", "--toggles",
                        str(a.toggles)]
            else:
                argv = [sys.executable, os.path.join(HERE, "test_guest.py"), "--hearth",
                        a.hearth, "--retries", "0"]
                if a.asan and os.path.exists(a.asan):
                    argv += ["--asan", a.asan]
                if a.only:
                    argv += ["--only", a.only]
            t0 = time.monotonic()
            p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            last = [l for l in p.stdout.splitlines() if l.strip()][-1:]
            print("boot %d %s: rc %d in %.0f s: %s" % (i + 1, name, p.returncode,
                                                     time.monotonic() - t0,
                                                     last[0] if last else ""), flush=True)
    print(summary([r for r in records() if (r.get("campaign") or "").startswith(campaign + "/")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
