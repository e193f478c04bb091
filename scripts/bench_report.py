#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Prints `make bench`'s guest figures from one boot's log:
 - p2pmm_mirror against upstream test_hmm: tests/bench/mirror_bench's `BENCH` lines and upstream's
   benchmark_thp_migration tables (suite bench-migration);
 - oversubscribed streaming through p2pmm's managed providers: tests/bench/oversub_bench's `P2PMM-BENCH oversub`
   lines (suite bench-oversub);
 - NVMe DMA by P2P into and out of provider memory against system memory: tests/bench/p2p_bench's
   `P2PMM-BENCH p2p <read|write>.<ram|static|managed>` lines (suite bench-p2p);
 - and, from the second log (the scale VM's boot), cost against provider size: a small (64 MiB) and a large
   (12 GiB) managed provider side by side, tests/bench/scale_bench's `P2PMM-BENCH scale <small|large>` lines and
   the suite's `P2PMM-BENCH scale-register <small|large>` lines (suite bench-scale).

For `BENCH` figures, ratio = p2pmm / upstream where higher is better and upstream / p2pmm where lower is better.

Times are per migration (average of the benchmark's iterations); ratio = upstream time / p2pmm time, so a ratio
of 1.0 or more means p2pmm is at least as fast. Beside each row, the physical limit of the same boot:
tests/bench/memcpy_bench's `P2PMM-BENCH memcpy` lines, the guest's memcpy of the same size (average of 5), and
"of memcpy" = memcpy time / p2pmm time (goal for 256 MiB THP sys->dev >= 0.8x, issue 15).

Oversubscription: MiB/s of working set streamed, for a working set that fits the provider (half its capacity) and
one twice its capacity (cascade_abc: twice the three providers' capacity), with background reclaim on; ratio =
oversub / fits (goal >= 0.8x, issue 15). Page counts are per pass: direct and background evictions, pages asked
for again, shortfall; cascaded = pages B and C passed on in the background (cascade_abc).

P2P DMA: MiB/s of NVMe reads and writes with three buffers: system memory (ram) and static provider memory
(static), both by O_DIRECT, and the process's memory placed on a managed provider (managed), by P2PMM_IOC_BLKIO;
ratios = static / ram (goal >= 0.9x) and managed / ram (goal >= 0.8x). A static or managed run must have no DMA
mapping (maps=0), a ram run some.

Scale: registration time per GiB (goal for the large one <= 50 ms), kernel memory per device page (MemFree),
p2pmm's bookkeeping per slot (debugfs; goal <= 8 B), MiB/s of a 32 MiB working set migrated in and out and into
the full provider (evicting), ratio = large / small (goal >= 0.9x), and QUERY ms per GiB over the full provider,
ratio = small / large (lower is better; goal >= 0.9x).

Figures never fail the run. After the tables, every failed check gets a line of its own, and the exit status is 1:
 - `bench: data check failed: ...`: a benchmark's own data check (`P2PMM-BENCH-ERROR`: mirror_bench's device
   reads, oversub_bench's checksums, byte-exact checks and eviction counters), an oversub run that is not
   `verify=ok`, has a shortfall or (oversubscribed) evicted nothing, directly or in the background, a
   cascade_abc run without `cascaded=` or whose oversubscribed run cascaded nothing, a skipped oversub scenario, a
   benchmark_thp_migration case that did not end `ok`, or a p2p run that failed its data or path check
   (`P2PMM-BENCH-ERROR p2p`: a P2P transfer that was DMA mapped, a system-memory one that was not, a managed
   run not all by P2P DMA or whose pages left the provider) or whose line says so (verify, maps);
 - `bench: output missing: ...`: a benchmark whose output is absent or truncated: a bench suite that never started
   or never ended, a driver without its mirror_bench figures or benchmark_thp_migration table or result line,
   table rows one driver has and the other lacks, an oversub run without its line, oversub_bench's summary table,
   a p2p run (read or write of ram, static or managed) without its line, a migration size without its memcpy
   line (memcpy_bench's own failures, `P2PMM-BENCH-ERROR memcpy`, are data checks);
 - `bench: suite failed: ...`: a bench suite that ended with rc != 0.
Only the bench suites' own lines are read (not the closing dmesg dump).
"""
import re
import sys

SUITES = ("bench-migration", "bench-oversub", "bench-p2p")
SCALE_SUITE = "bench-scale"
DRIVERS = ("p2pmm_mirror", "test_hmm")
# tests/bench/mirror_bench.c, in the order it prints them.
MIRROR_FIGURES = ("read_fault_4k", "read_fault_thp") + tuple(
    f"munmap_{n}_mirrors_{p}" for n in (1, 4, 16) for p in ("p50", "p99"))
THP_CASE = "hmm.hmm_device_private.benchmark_thp_migration"
# tests/bench/oversub_bench.c: scenarios and sizes, in the order it runs them.
OVERSUB_RUNS = tuple((s, z) for s in ("prefetch_read", "pingpong_ab", "cascade_abc") for z in ("fits", "oversub"))
# The scenario over three providers, whose lines also say how many pages B and C passed on (cascaded=).
CASCADE = "cascade_abc"
OVERSUB_KEYS = ("capacity_kib", "wset_kib", "chunk_kib", "passes", "reps", "mib_s", "migrated", "evicted",
                "background", "retried", "shortfall", "verify")
OVERSUB_TABLE = "oversubscribed streaming, managed provider capacity "
# tests/bench/p2p_bench.c: directions and buffers, in the order it runs them.
P2P_BUFFERS = ("ram", "static", "managed")
P2P_RUNS = tuple((d, b) for d in ("read", "write") for b in P2P_BUFFERS)
P2P_KEYS = ("nvme", "target", "wset_mib", "chunk_kib", "reps", "mib_s", "maps", "verify")
P2P = re.compile(r"^P2PMM-BENCH p2p (read|write)\.(ram|static|managed) (.*)$")

# tests/bench/scale_bench.c and suite_bench_scale (tests/guest/init.sh).
SCALE = re.compile(r"^P2PMM-BENCH (scale|scale-register) (small|large) (.*)$")
SCALE_KEYS = {"scale": ("capacity_mib", "migrate_in_mib_s", "migrate_out_mib_s", "query_ms_per_gib", "evict_mib_s",
                        "verify"),
              "scale-register": ("mib", "ms", "memfree_kib", "bookkeeping_b_per_slot")}
ROW = re.compile(r"^(Sys->Dev Migration|Dev->Sys Migration)\s*\|\s*([\d.]+) ms\s*\|\s*([\d.]+) ms")
SECTION = re.compile(r"^=== (.+) ===")
BENCH = re.compile(r"^BENCH (\S+) ([\d.]+) (\S+) (higher|lower)")
OVERSUB = re.compile(r"^P2PMM-BENCH oversub (\S+)\.(fits|oversub) (.*)$")
MEMCPY = re.compile(r"^P2PMM-BENCH memcpy size_kib=(\d+) ms=([\d.]+) ")
# benchmark_thp_migration's section names end with the size: "Small Buffer (0.5 MB)".
SECTION_SIZE = re.compile(r"\(([\d.]+) MB\)$")
# The row issue 15 sets a goal for, against memcpy.
THP_GOAL_ROW = ("One twenty eight THP Size (256.0 MB)", "sys->dev", "THP")
OVERSUB_SKIP = re.compile(r"^P2PMM-BENCH-SKIP oversub (\S+) ?(.*)$")
ERROR = re.compile(r"^P2PMM-BENCH-ERROR (\S+) (\S+) ?(.*)$")
SUITE_BEGIN = re.compile(r"^P2PMM-SUITE-BEGIN (\S+)")
SUITE_END = re.compile(r"^P2PMM-SUITE-END (\S+) rc=(\d+)")
RESULT = re.compile(r"^(not )?ok \d+ (\S+)(?:\s+#\s*(\S*)(.*))?$")


def suites(lines):
    """{suite: (body lines, rc or None when it never ended)} of the bench suites in the log."""
    out, name, body = {}, None, []
    for line in lines:
        line = line.rstrip("\r")
        m = SUITE_BEGIN.match(line)
        if m:
            if name is not None:
                out[name] = (body, None)
            name, body = (m.group(1), []) if m.group(1) in SUITES + (SCALE_SUITE,) else (None, [])
            continue
        m = SUITE_END.match(line)
        if m and name is not None and m.group(1) == name:
            out[name] = (body, int(m.group(2)))
            name, body = None, []
            continue
        if line.startswith("P2PMM-DMESG-BEGIN") and name is not None:
            out[name] = (body, None)
            name, body = None, []
        if name is not None:
            body.append(line)
    if name is not None:
        out[name] = (body, None)
    return out


def by_driver(lines):
    """{driver: its lines} of bench-migration, split at its `P2PMM-BENCH-DRIVER` lines."""
    out, driver = {}, None
    for line in lines:
        if line.startswith("P2PMM-BENCH-DRIVER "):
            driver = line.split()[1]
            out[driver] = []
        elif driver:
            out[driver].append(line)
    return out


def parse_bench(drivers):
    figures = {}
    for driver, lines in drivers.items():
        for line in lines:
            m = BENCH.match(line)
            if m:
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


def parse(drivers):
    """{driver: {(section, direction, "THP"|"4K"): ms}} of benchmark_thp_migration's tables."""
    tables = {}
    for driver, lines in drivers.items():
        tables[driver], section = {}, None
        for line in lines:
            m = SECTION.match(line)
            if m:
                section = m.group(1)
                continue
            m = ROW.match(line)
            if m and section:
                kind = "sys->dev" if m.group(1).startswith("Sys") else "dev->sys"
                tables[driver][(section, kind, "THP")] = float(m.group(2))
                tables[driver][(section, kind, "4K")] = float(m.group(3))
    return tables


def parse_memcpy(lines):
    """{size in KiB: ms} of memcpy_bench's lines."""
    return {int(m.group(1)): float(m.group(2)) for m in map(MEMCPY.match, lines) if m}


def section_kib(section):
    """The size of a benchmark_thp_migration section in KiB, or None."""
    m = SECTION_SIZE.search(section)
    return round(float(m.group(1)) * 1024) if m else None


def print_migration(tables, memcpy):
    ours, base = tables.get("p2pmm_mirror", {}), tables.get("test_hmm", {})
    keys = sorted(set(ours) | set(base), key=lambda k: (list(base).index(k) if k in base else 999))
    print()
    print("migration time per call (ms), benchmark_thp_migration, same boot, QEMU TCG; memcpy: the guest's, same size")
    print(f"{'size':<37} {'direction':<9} {'pages':<5} {'p2pmm':>10} {'upstream':>10} {'ratio':>7} {'memcpy':>8} "
          f"{'of memcpy':>9}")
    print("-" * 103)
    ratios = []
    for k in keys:
        o, b = ours.get(k), base.get(k)
        ratio = f"{b / o:.2f}x" if o and b else "-"
        if o and b:
            ratios.append(b / o)
        fo = f"{o:.1f}" if o is not None else "missing"
        fb = f"{b:.1f}" if b is not None else "missing"
        mc = memcpy.get(section_kib(k[0]))
        fm = f"{mc:.2f}" if mc is not None else "missing"
        of = f"{mc / o:.2f}x" if mc is not None and o else "-"
        print(f"{k[0]:<37} {k[1]:<9} {k[2]:<5} {fo:>10} {fb:>10} {ratio:>7} {fm:>8} {of:>9}")
    if ratios:
        geo = 1.0
        for r in ratios:
            geo *= r
        geo **= 1 / len(ratios)
        print(f"geometric mean ratio over {len(ratios)} rows: {geo:.2f}x (>= 1.0: p2pmm at least as fast)")
    o, mc = ours.get(THP_GOAL_ROW), memcpy.get(section_kib(THP_GOAL_ROW[0]))
    if o and mc is not None:
        print(f"256 MiB THP migration sys->dev: {o:.1f} ms, memcpy of 256 MiB {mc:.1f} ms: {mc / o:.2f}x of memcpy "
              "(goal >= 0.8x)")


def parse_oversub(lines):
    """{scenario: {"fits"|"oversub": {key: value}}}, in the order the benchmark printed them."""
    runs = {}
    for line in lines:
        m = OVERSUB.match(line)
        if m:
            kv = dict(f.split("=", 1) for f in m.group(3).split() if "=" in f)
            runs.setdefault(m.group(1), {})[m.group(2)] = kv
    return runs


def oversub_keys(scenario):
    """The keys every line of `scenario` has."""
    return OVERSUB_KEYS + (("cascaded",) if scenario == CASCADE else ())


def complete(kv, scenario=None):
    return all(k in kv for k in oversub_keys(scenario))


def print_oversub(runs, errors):
    print()
    print("oversubscribed streaming through managed providers (tests/bench/oversub_bench.c), QEMU TCG")
    shown = {s: {z: kv for z, kv in sizes.items() if complete(kv, s)} for s, sizes in runs.items()}
    any_run = next((kv for sizes in shown.values() for kv in sizes.values()), None)
    if any_run is None:
        print("no figures in the log (suite bench-oversub missing or failed)")
        return
    print(f"provider capacity {int(any_run['capacity_kib']) // 1024} MiB, chunk {any_run['chunk_kib']} KiB, "
          f"best of {any_run['reps']} repetitions; page counts per pass")
    print(f"{'scenario':<15} {'working set':<20} {'MiB/s':>8} {'migrated':>9} {'evicted':>8} {'by worker':>9} "
          f"{'retried':>7} {'shortfall':>9} {'ratio':>7}")
    print("-" * 100)
    for scenario, sizes in shown.items():
        for size in ("fits", "oversub"):
            kv = sizes.get(size)
            if kv is None:
                failed = ("oversub", f"{scenario}.{size}") in errors
                print(f"{scenario:<15} {size:<20} {'FAILED' if failed else 'missing':>8}")
                continue
            cap, wset = int(kv["capacity_kib"]), int(kv["wset_kib"])
            label = f"{size} {wset // 1024} MiB ({wset / cap:g}x)"
            per = int(kv["passes"]) * int(kv["reps"])
            ratio = ""
            if size == "oversub" and "fits" in sizes and float(sizes["fits"]["mib_s"]) > 0:
                ratio = f"{float(kv['mib_s']) / float(sizes['fits']['mib_s']):.2f}x"
            cascaded = f"{int(kv['cascaded']) / per:>9.0f}" if "cascaded" in kv else ""
            print(f"{scenario:<15} {label:<20} {float(kv['mib_s']):>8.1f} {int(kv['migrated']) / per:>9.0f} "
                  f"{int(kv['evicted']) / per:>8.0f} {int(kv['background']) / per:>9.0f} "
                  f"{int(kv['retried']) / per:>7.1f} {int(kv['shortfall']) / per:>9.1f} {ratio:>7} "
                  f"{cascaded}".rstrip())
    print("ratio = oversub / fits MiB/s (goal >= 0.8x); evicted: by the migrations themselves, by worker: background "
          "reclaim (the providers' default watermarks); retried: pages a prefetch asked for again because "
          "reclaim held them; shortfall: pages still not placed (0 expected)")
    if CASCADE in shown:
        print(f"{CASCADE}: A evicts into B or C, which pass victims on in the background (last column: pages per "
              "pass); its working sets are half A's capacity and twice the three providers'")


def parse_p2p(lines):
    """{(direction, buffer): {key: value}} of p2p_bench's lines."""
    runs = {}
    for line in lines:
        m = P2P.match(line)
        if m:
            runs[(m.group(1), m.group(2))] = dict(f.split("=", 1) for f in m.group(3).split() if "=" in f)
    return runs


def print_p2p(runs):
    print()
    print("NVMe DMA by P2P into static (O_DIRECT) and managed (P2PMM_IOC_BLKIO) provider memory vs into system "
          "memory")
    shown = {k: kv for k, kv in runs.items() if all(key in kv for key in P2P_KEYS)}
    if not shown:
        print("tests/bench/p2p_bench.c: no figures in the log (suite bench-p2p missing or failed)")
        return
    any_run = next(iter(shown.values()))
    print(f"tests/bench/p2p_bench.c, same boot, QEMU TCG: NVMe {any_run['nvme']}, {any_run['wset_mib']} MiB in "
          f"{any_run['chunk_kib']} KiB pieces, best of {any_run['reps']}")
    print(f"{'direction':<9} {'RAM MiB/s':>10} {'static MiB/s':>13} {'managed MiB/s':>14} {'static/RAM':>11} "
          f"{'managed/RAM':>12}  {'static on':<12}  managed on")
    print("-" * 100)
    fig = lambda kv: f"{float(kv['mib_s']):.1f}" if kv else "missing"
    for direction in ("read", "write"):
        ram, static, managed = (shown.get((direction, b)) for b in P2P_BUFFERS)
        ratio = lambda kv: (f"{float(kv['mib_s']) / float(ram['mib_s']):.2f}x"
                            if ram and kv and float(ram["mib_s"]) > 0 else "-")
        on = lambda kv: kv["target"] if kv else "-"
        print(f"{direction:<9} {fig(ram):>10} {fig(static):>13} {fig(managed):>14} {ratio(static):>11} "
              f"{ratio(managed):>12}  {on(static):<12}  {on(managed)}")
    print("goals: static >= 0.9x and managed >= 0.8x of system RAM; every static and managed run had no DMA mapping "
          "(P2P by bus address)")


def parse_scale(lines):
    """{(kind, size): {key: value}} of the bench-scale lines."""
    runs = {}
    for line in lines:
        m = SCALE.match(line)
        if m:
            runs[(m.group(1), m.group(2))] = dict(f.split("=", 1) for f in m.group(3).split() if "=" in f)
    return runs


def print_scale(runs):
    print()
    print("cost against provider size: a small and a large managed provider, same boot (scale VM)")
    small, large = runs.get(("scale", "small")), runs.get(("scale", "large"))
    reg_small, reg_large = runs.get(("scale-register", "small")), runs.get(("scale-register", "large"))
    if not (small or large or reg_small or reg_large):
        print("tests/bench/scale_bench.c: no figures in the log (suite bench-scale missing or failed)")
        return
    cap = lambda kv: f"{kv['capacity_mib']} MiB" if kv and "capacity_mib" in kv else "?"
    print(f"tests/bench/scale_bench.c, QEMU TCG: small {cap(small)}, large {cap(large)} managed; 32 MiB working set")

    def value(kv, key):
        try:
            return float(kv[key]) if kv else None
        except (KeyError, ValueError):
            return None

    def per_gib_ms(kv):
        ms, mib = value(kv, "ms"), value(kv, "mib")
        return ms / (mib / 1024) if ms is not None and mib else None

    def per_page_b(kv):
        kib, mib = value(kv, "memfree_kib"), value(kv, "mib")
        return kib * 1024 / (mib * 256) if kib is not None and mib else None

    rows = [
        ("registration ms per GiB", per_gib_ms(reg_small), per_gib_ms(reg_large), None, "large <= 50"),
        ("kernel memory B per device page", per_page_b(reg_small), per_page_b(reg_large), None, ""),
        ("bookkeeping B per slot", value(reg_small, "bookkeeping_b_per_slot"),
         value(reg_large, "bookkeeping_b_per_slot"), None, "<= 8"),
        ("migrate in MiB/s", value(small, "migrate_in_mib_s"), value(large, "migrate_in_mib_s"), "up", ">= 0.9x"),
        ("migrate out MiB/s", value(small, "migrate_out_mib_s"), value(large, "migrate_out_mib_s"), "up", ">= 0.9x"),
        ("evict (full provider) MiB/s", value(small, "evict_mib_s"), value(large, "evict_mib_s"), "up", ">= 0.9x"),
        ("QUERY ms per GiB", value(small, "query_ms_per_gib"), value(large, "query_ms_per_gib"), "down", ">= 0.9x"),
    ]
    print(f"{'figure':<32} {'small':>10} {'large':>10} {'ratio':>8}  goal")
    print("-" * 72)
    for name, a, b, better, goal in rows:
        fig = lambda v: f"{v:.2f}" if v is not None else "missing"
        ratio = "-"
        if better and a and b:
            ratio = f"{b / a:.2f}x" if better == "up" else f"{a / b:.2f}x"
        print(f"{name:<32} {fig(a):>10} {fig(b):>10} {ratio:>8}  {goal}")
    print("ratios: large / small for throughput, small / large for times; kernel memory includes the struct pages "
          "(static, managed and its P2P window)")


def check_scale(body, failures):
    errors = reported_errors(body, failures)
    runs = parse_scale(body)
    for kind in ("scale-register", "scale"):
        for size in ("small", "large"):
            kv = runs.get((kind, size))
            if kv is None:
                if not any(run in (size, "setup") for (_, run) in errors):
                    failures.append(f"output missing: {kind} {size}: no P2PMM-BENCH line")
                continue
            lost = [k for k in SCALE_KEYS[kind] if k not in kv or kv[k] == ""]
            if lost:
                keys = " ".join(k + "=" for k in lost)
                failures.append(f"output missing: {kind} {size}: line cut short (no {keys})")
            elif kind == "scale" and kv["verify"] != "ok":
                failures.append(f"data check failed: scale {size}: verify={kv['verify']}")


def reported_errors(body, failures):
    """A failure line for each `P2PMM-BENCH-ERROR` of a suite's body; returns them as errors_of() does."""
    errors = errors_of(body)
    for (program, run), whats in errors.items():
        for what in whats:
            failures.append(f"data check failed: {program} {run} {what}".rstrip())
    return errors


def check_p2p(body, failures):
    errors = reported_errors(body, failures)
    runs = parse_p2p(body)
    for direction, buffer in P2P_RUNS:
        run = f"{direction}.{buffer}"
        kv = runs.get((direction, buffer))
        if kv is None:
            if ("p2p", run) not in errors and ("p2p", "setup") not in errors:
                failures.append(f"output missing: p2p {run}: no P2PMM-BENCH line")
            continue
        lost = [k for k in P2P_KEYS if k not in kv]
        if lost:
            failures.append(f"output missing: p2p {run}: line cut short (no {' '.join(k + '=' for k in lost)})")
        elif kv["verify"] != "ok":
            failures.append(f"data check failed: p2p {run}: verify={kv['verify']}")
        elif (buffer == "ram") != (int(kv["maps"]) > 0):
            # P2P (static, managed) by bus address: no mapping; system memory: mapped.
            failures.append(f"data check failed: p2p {run}: {kv['maps']} DMA mappings")


def errors_of(lines):
    """{(program, run): [what, ...]} of the `P2PMM-BENCH-ERROR <program> <run> <what>` lines."""
    out = {}
    for line in lines:
        m = ERROR.match(line)
        if m:
            out.setdefault((m.group(1), m.group(2)), []).append(m.group(3))
    return out


def check_migration(body, failures):
    drivers = by_driver(body)
    tables = parse(drivers)
    memcpy = parse_memcpy(body)
    reported = reported_errors([line for line in body if line.startswith("P2PMM-BENCH-ERROR memcpy ")], failures)
    sizes = dict.fromkeys(section_kib(k[0]) for d in DRIVERS for k in tables.get(d, {}))
    for kib in sizes:
        if kib is not None and kib not in memcpy and ("memcpy", str(kib)) not in reported:
            failures.append(f"output missing: bench-migration: no memcpy line for {kib} KiB")
    for driver in DRIVERS:
        if driver not in drivers:
            failures.append(f"output missing: bench-migration: nothing from driver {driver}")
            continue
        lines = drivers[driver]
        errors = errors_of(lines)
        for (program, run), whats in errors.items():
            for what in whats:
                failures.append(f"data check failed: {program} {run} ({driver}): {what}")
        figures = {m.group(1) for m in map(BENCH.match, lines) if m}
        for name in MIRROR_FIGURES:
            # A benchmark that reported its failure prints no figure: that line says it already.
            if name not in figures and not any(p == "mirror" and name.startswith(r) for p, r in errors):
                failures.append(f"output missing: mirror_bench ({driver}): no figure for {name}")
        results = [m for m in map(RESULT.match, lines) if m and m.group(2) == THP_CASE]
        if not results:
            failures.append(f"output missing: benchmark_thp_migration ({driver}): no result line")
        for m in results:
            directive, reason = (m.group(3) or ""), (m.group(4) or "").strip()
            if m.group(1):
                failures.append(f"data check failed: benchmark_thp_migration ({driver}): not ok"
                                + (f" ({(directive + ' ' + reason).strip()})" if directive or reason else ""))
            elif directive.upper() == "SKIP":
                failures.append(f"data check failed: benchmark_thp_migration ({driver}): skipped"
                                + (f" ({reason})" if reason else ""))
        if not tables.get(driver):
            failures.append(f"output missing: benchmark_thp_migration ({driver}): no table")
    # Both drivers run the same sizes: a row one has and the other lacks is output cut short.
    every = list(dict.fromkeys(k for d in DRIVERS for k in tables.get(d, {})))
    for driver in DRIVERS:
        have = tables.get(driver, {})
        lost = [k for k in every if k not in have]
        if have and lost:
            sections = ", ".join(dict.fromkeys(k[0] for k in lost))
            failures.append(f"output missing: benchmark_thp_migration ({driver}): {len(lost)} of {len(every)} "
                            f"rows missing ({sections})")


def check_oversub(body, failures):
    errors = reported_errors(body, failures)
    runs = parse_oversub(body)
    skipped = {m.group(1): m.group(2) for m in map(OVERSUB_SKIP.match, body) if m}
    for scenario, size in OVERSUB_RUNS:
        run = f"{scenario}.{size}"
        kv = runs.get(scenario, {}).get(size)
        if kv is None:
            if scenario in skipped:
                if size == "fits":
                    failures.append(f"data check failed: oversub {scenario}: skipped ({skipped[scenario]})")
            elif ("oversub", run) not in errors:
                failures.append(f"output missing: oversub {run}: no P2PMM-BENCH line")
            continue
        if not complete(kv, scenario):
            lost = " ".join(f"{k}=" for k in oversub_keys(scenario) if k not in kv)
            failures.append(f"output missing: oversub {run}: line cut short (no {lost})")
            continue
        if kv["verify"] != "ok":
            failures.append(f"data check failed: oversub {run}: verify={kv['verify']}")
        if int(kv["shortfall"]) != 0:
            failures.append(f"data check failed: oversub {run}: shortfall {kv['shortfall']} pages (0 expected)")
        if size == "oversub" and int(kv["evicted"]) + int(kv["background"]) == 0:
            failures.append(f"data check failed: oversub {run}: no evictions with a working set twice the "
                            "capacity")
        if scenario == CASCADE and size == "oversub" and int(kv["cascaded"]) == 0:
            failures.append(f"data check failed: oversub {run}: B and C passed no victim on")
    if not any(line.startswith(OVERSUB_TABLE) for line in body):
        failures.append("output missing: oversub_bench's summary table (the program did not finish)")


def main():
    try:
        lines = open(sys.argv[1], errors="replace").read().splitlines()
    except OSError as e:
        print(f"bench: output missing: no guest log ({e})")
        return 1
    scale_found, scale_missing = {}, None
    if len(sys.argv) > 2:
        try:
            scale_found = suites(open(sys.argv[2], errors="replace").read().splitlines())
        except OSError as e:
            scale_missing = f"output missing: no scale VM log ({e})"
    found = suites(lines)
    migration = found.get("bench-migration", ([], None))[0]
    oversub = found.get("bench-oversub", ([], None))[0]
    p2p = found.get("bench-p2p", ([], None))[0]
    drivers = by_driver(migration)
    print_bench(parse_bench(drivers))
    print_migration(parse(drivers), parse_memcpy(migration))
    print_oversub(parse_oversub(oversub), errors_of(oversub))
    print_p2p(parse_p2p(p2p))
    scale = scale_found.get(SCALE_SUITE, ([], None))[0]
    if len(sys.argv) > 2:
        print_scale(parse_scale(scale))

    failures = [scale_missing] if scale_missing else []
    for name in SUITES:
        if name not in found:
            failures.append(f"output missing: suite {name} never started")
            continue
        rc = found[name][1]
        if rc is None:
            failures.append(f"output missing: suite {name} did not finish (no P2PMM-SUITE-END)")
        elif rc != 0:
            failures.append(f"suite failed: {name} ended with rc={rc}")
    if "bench-migration" in found:
        check_migration(migration, failures)
    if "bench-oversub" in found:
        check_oversub(oversub, failures)
    if "bench-p2p" in found:
        check_p2p(p2p, failures)
    if len(sys.argv) > 2 and not scale_missing:
        if SCALE_SUITE not in scale_found:
            failures.append(f"output missing: suite {SCALE_SUITE} never started")
        else:
            rc = scale_found[SCALE_SUITE][1]
            if rc is None:
                failures.append(f"output missing: suite {SCALE_SUITE} did not finish (no P2PMM-SUITE-END)")
            elif rc != 0:
                failures.append(f"suite failed: {SCALE_SUITE} ended with rc={rc}")
            check_scale(scale, failures)
    if failures:
        print()
        for f in failures:
            print(f"bench: {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
