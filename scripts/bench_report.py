#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compares p2pmm_mirror with upstream test_hmm from one boot: tests/bench/mirror_bench's `BENCH` lines and
upstream's benchmark_thp_migration tables.

For `BENCH` figures, ratio = p2pmm / upstream where higher is better and upstream / p2pmm where lower is better.

Times are per migration (average of the benchmark's iterations); ratio = upstream time / p2pmm time, so a ratio
of 1.0 or more means p2pmm is at least as fast. Sizes the benchmark did not reach (it has a 120 s budget) are
shown as missing.
"""
import re
import sys

ROW = re.compile(r"^(Sys->Dev Migration|Dev->Sys Migration)\s*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms")
SECTION = re.compile(r"^=== (.+) ===")
BENCH = re.compile(r"^BENCH (\S+) ([\d.]+) (\S+) (higher|lower)")


def parse_bench(lines):
    figures, driver = {}, None
    for line in lines:
        line = line.rstrip("\r")
        if line.startswith("P2PMM-BENCH-DRIVER "):
            driver = line.split()[1]
            continue
        m = BENCH.match(line)
        if m and driver:
            figures.setdefault(m.group(1), {})[driver] = (float(m.group(2)), m.group(3), m.group(4))
    return figures


def print_bench(figures):
    print()
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
        if line.startswith("P2PMM-BENCH-DRIVER "):
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
