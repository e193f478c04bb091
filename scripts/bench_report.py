#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Prints `make bench`'s guest figures from one boot's log:
 - p2pmm_mirror against upstream test_hmm: tests/bench/mirror_bench's `BENCH` lines and upstream's
   benchmark_thp_migration tables (suite bench-migration);
 - oversubscribed streaming through p2pmm's managed providers: tests/bench/oversub_bench's `P2PMM-BENCH oversub`
   lines (suite bench-oversub).

For `BENCH` figures, ratio = p2pmm / upstream where higher is better and upstream / p2pmm where lower is better.

Times are per migration (average of the benchmark's iterations); ratio = upstream time / p2pmm time, so a ratio
of 1.0 or more means p2pmm is at least as fast. Sizes the benchmark did not reach (it has a 120 s budget) are
shown as missing.

Oversubscription: MiB/s of working set streamed, for a working set that fits the provider (half its capacity) and
one twice its capacity; ratio = oversub / fits (goal >= 0.5x). Page counts are per pass.

Figures never fail the run; a benchmark's failed data check (`P2PMM-BENCH-ERROR`) or a bench suite that ended
with rc != 0 does: exit status 1.
"""
import re
import sys

ROW = re.compile(r"^(Sys->Dev Migration|Dev->Sys Migration)\s*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms")
SECTION = re.compile(r"^=== (.+) ===")
BENCH = re.compile(r"^BENCH (\S+) ([\d.]+) (\S+) (higher|lower)")
OVERSUB = re.compile(r"^P2PMM-BENCH oversub (\S+)\.(fits|oversub) (.*)$")
ERROR = re.compile(r"^P2PMM-BENCH-ERROR (.*)$")
SUITE_END = re.compile(r"^P2PMM-SUITE-END (bench-\S+) rc=(\d+)")


def parse_bench(lines):
    figures, driver = {}, None
    for line in lines:
        line = line.rstrip("\r")
        if line.startswith("P2PMM-SUITE-BEGIN "):
            driver = None
        elif line.startswith("P2PMM-BENCH-DRIVER "):
            driver = line.split()[1]
            continue
        m = BENCH.match(line)
        if m and driver:
            figures.setdefault(m.group(1), {})[driver] = (float(m.group(2)), m.group(3), m.group(4))
    return figures


def print_bench(figures):
    print()
    if not figures:
        print("mirror benchmarks (tests/bench/mirror_bench.c): no figures in the log")
        return
    print("mirror benchmarks (tests/bench/mirror_bench.c), same boot, QEMU TCG")
    print(f"{'benchmark':<28} {'unit':<8} {'p2pmm':>12} {'upstream':>12} {'ratio':>7}")
    print("-" * 71)
    for name, per in figures.items():
        o, b = per.get("p2pmm_mirror"), per.get("test_hmm")
        unit = (o or b)[1]
        ratio = "-"
        if o and b and o[0] > 0 and b[0] > 0:
            r = o[0] / b[0] if o[2] == "higher" else b[0] / o[0]
            ratio = f"{r:.2f}x"
        fo = f"{o[0]:.1f}" if o else "missing"
        fb = f"{b[0]:.1f}" if b else "missing"
        print(f"{name:<28} {unit:<8} {fo:>12} {fb:>12} {ratio:>7}")
    print("ratio >= 1.0: p2pmm at least as good")


def parse(lines):
    tables, driver, section = {}, None, None
    for line in lines:
        line = line.rstrip("\r")
        if line.startswith("P2PMM-SUITE-BEGIN "):
            driver, section = None, None
        elif line.startswith("P2PMM-BENCH-DRIVER "):
            driver = line.split()[1]
            tables[driver] = {}
            continue
        m = SECTION.match(line)
        if m and driver:
            section = m.group(1)
            continue
        m = ROW.match(line)
        if m and driver and section:
            kind = "sys->dev" if m.group(1).startswith("Sys") else "dev->sys"
            tables[driver][(section, kind, "THP")] = float(m.group(2))
            tables[driver][(section, kind, "4K")] = float(m.group(3))
    return tables


def parse_oversub(lines):
    """{scenario: {"fits"|"oversub": {key: value}}}, in the order the benchmark printed them."""
    runs = {}
    for line in lines:
        m = OVERSUB.match(line.rstrip("\r"))
        if m:
            kv = dict(f.split("=", 1) for f in m.group(3).split() if "=" in f)
            runs.setdefault(m.group(1), {})[m.group(2)] = kv
    return runs


def print_oversub(runs, bad):
    print()
    print("oversubscribed streaming through a managed provider (tests/bench/oversub_bench.c), QEMU TCG")
    if not runs:
        print("no figures in the log (suite bench-oversub missing or failed)")
        return
    any_run = next(iter(next(iter(runs.values())).values()))
    print(f"provider capacity {int(any_run['capacity_kib']) // 1024} MiB, chunk {any_run['chunk_kib']} KiB, "
          f"best of {any_run['reps']} repetitions; page counts per pass")
    print(f"{'scenario':<15} {'working set':<20} {'MiB/s':>8} {'migrated':>9} {'evicted':>8} {'shortfall':>9} "
          f"{'ratio':>7}")
    print("-" * 82)
    for scenario, sizes in runs.items():
        for size in ("fits", "oversub"):
            kv = sizes.get(size)
            if kv is None:
                failed = any(b.startswith(f"oversub {scenario}.{size} ") for b in bad)
                print(f"{scenario:<15} {size:<20} {'FAILED' if failed else 'missing':>8}")
                continue
            cap, wset = int(kv["capacity_kib"]), int(kv["wset_kib"])
            label = f"{size} {wset // 1024} MiB ({wset / cap:g}x)"
            per = int(kv["passes"]) * int(kv["reps"])
            ratio = ""
            if size == "oversub" and "fits" in sizes and float(sizes["fits"]["mib_s"]) > 0:
                ratio = f"{float(kv['mib_s']) / float(sizes['fits']['mib_s']):.2f}x"
            print(f"{scenario:<15} {label:<20} {float(kv['mib_s']):>8.1f} {int(kv['migrated']) / per:>9.0f} "
                  f"{int(kv['evicted']) / per:>8.0f} {int(kv['shortfall']) / per:>9.1f} {ratio:>7}".rstrip())
    print("ratio = oversub / fits MiB/s (goal >= 0.5x); shortfall: pages of a chunk not on the target after its prefetch (0 expected)")


def failures(lines):
    """Failed data checks and bench suites that ended with rc != 0."""
    out = []
    for line in lines:
        line = line.rstrip("\r")
        m = ERROR.match(line)
        if m:
            out.append(m.group(1))
        m = SUITE_END.match(line)
        if m and m.group(2) != "0":
            out.append(f"suite {m.group(1)} ended with rc={m.group(2)}")
    return out


def main():
    lines = open(sys.argv[1], errors="replace").read().splitlines()
    print_bench(parse_bench(lines))
    t = parse(lines)
    ours, base = t.get("p2pmm_mirror", {}), t.get("test_hmm", {})
    keys = sorted(set(ours) | set(base), key=lambda k: (list(base).index(k) if k in base else 999))
    print()
    print("migration time per call (ms), benchmark_thp_migration, same boot, QEMU TCG")
    print(f"{'size':<28} {'direction':<9} {'pages':<5} {'p2pmm':>10} {'upstream':>10} {'ratio':>7}")
    print("-" * 74)
    ratios = []
    for k in keys:
        o, b = ours.get(k), base.get(k)
        ratio = f"{b / o:.2f}x" if o and b else "-"
        if o and b:
            ratios.append(b / o)
        fo = f"{o:.1f}" if o is not None else "missing"
        fb = f"{b:.1f}" if b is not None else "missing"
        print(f"{k[0]:<28} {k[1]:<9} {k[2]:<5} {fo:>10} {fb:>10} {ratio:>7}")
    if ratios:
        geo = 1.0
        for r in ratios:
            geo *= r
        geo **= 1 / len(ratios)
        print(f"geometric mean ratio over {len(ratios)} rows: {geo:.2f}x (>= 1.0: p2pmm at least as fast)")
    missing = [k for k in base if k not in ours]
    if missing:
        print(f"{len(missing)} rows missing for p2pmm (benchmark budget exceeded before those sizes)")
    bad = failures(lines)
    print_oversub(parse_oversub(lines), bad)
    if bad:
        print()
        for b in bad:
            print(f"FAILED: {b}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
