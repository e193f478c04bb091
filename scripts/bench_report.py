#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Compares upstream's benchmark_thp_migration tables for p2pmm_mirror and upstream test_hmm from one boot.

Times are per migration (average of the benchmark's iterations); ratio = upstream time / p2pmm time, so a ratio
of 1.0 or more means p2pmm is at least as fast. Sizes the benchmark did not reach (it has a 120 s budget) are
shown as missing.
"""
import re
import sys

ROW = re.compile(r"^(Sys->Dev Migration|Dev->Sys Migration)\s*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms")
SECTION = re.compile(r"^=== (.+) ===")


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
