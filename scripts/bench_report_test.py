#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host tests of scripts/bench_report.py: `make bench` exits 1, with one line per failed check, when a benchmark's
data check fails or its output is missing or cut short, and 0 for a complete run. The logs are synthetic, written
with the formats of the programs that print them: tests/bench/mirror_bench.c, tests/bench/oversub_bench.c,
tests/bench/p2p_bench.c, upstream hmm-tests' benchmark_thp_migration and kselftest_harness.h, and tests/guest/init.sh's suite frames.
Run by scripts/host-tests.sh; prints a cargo-style `test result:` line for report.py."""
import os
import subprocess
import sys
import tempfile
import unittest

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_report.py")
THP_CASE = "hmm.hmm_device_private.benchmark_thp_migration"
# hmm-tests' benchmark_thp_migration: test_names[] and test_sizes[] (PMD size 2 MiB).
THP_SIZES = [("Small Buffer", 0.5), ("Half THP Size", 1.0), ("Single THP Size", 2.0), ("Two THP Size", 4.0),
             ("Four THP Size", 8.0), ("Eight THP Size", 16.0), ("One twenty eight THP Size", 256.0)]
MIRROR_FIGURES = ["read_fault_4k", "read_fault_thp"] + [
    f"munmap_{n}_mirrors_{p}" for n in (1, 4, 16) for p in ("p50", "p99")]


def mirror_bench(driver):
    """mirror_bench's stdout: printf("BENCH read_fault_%s %.0f pages/s higher\\n", ...) and
    printf("BENCH munmap_%d_mirrors_p50 %.1f us lower\\n", ...)."""
    speed = 2.0 if driver == "p2pmm_mirror" else 1.0
    out = [f"BENCH read_fault_{k} {41000 * speed:.0f} pages/s higher" for k in ("4k", "thp")]
    for n in (1, 4, 16):
        out.append(f"BENCH munmap_{n}_mirrors_p50 {50.0 * n / speed:.1f} us lower")
        out.append(f"BENCH munmap_{n}_mirrors_p99 {80.0 * n / speed:.1f} us lower")
    return out


def memcpy_bench(sizes=THP_SIZES):
    """memcpy_bench's printf("P2PMM-BENCH memcpy size_kib=%zu ms=%.3f iterations=%d verify=ok\\n", ...): a tenth
    of a millisecond per MiB."""
    return [f"P2PMM-BENCH memcpy size_kib={round(mb * 1024)} ms={mb / 10:.3f} iterations=5 verify=ok"
            for _, mb in sizes]


def thp_benchmark(driver, sizes=THP_SIZES, result="ok"):
    """hmm-tests -r benchmark_thp_migration: print_benchmark_results()'s tables in kselftest_harness.h's frame;
    `result` is the TAP line's status and directive ("ok", "not ok", "ok # SKIP why"), None for no result."""
    out = ["TAP version 13", "1..1", "# Starting 1 tests from 1 test cases.", f"#  RUN           {THP_CASE} ...",
           "", "HMM THP Migration Benchmark", "---------------------------", "System page size: 4096 bytes"]
    for name, mb in sizes:
        t = mb * (1.0 if driver == "p2pmm_mirror" else 1.5)
        out += ["", f"=== {name} ({mb:.1f} MB) ===",
                "                     | With THP        | Without THP     | Improvement",
                "---------------------------------------------------------------------",
                f"Sys->Dev Migration   | {t:.3f} ms        | {t * 1.2:.3f} ms        | 16.7%",
                f"Dev->Sys Migration   | {t:.3f} ms        | {t * 1.1:.3f} ms        | 9.1%",
                f"S->D Throughput      | {mb / 1024 / t * 1000:.2f} GB/s      | 0.50 GB/s      | 20.0%",
                f"D->S Throughput      | {mb / 1024 / t * 1000:.2f} GB/s      | 0.50 GB/s      | 10.0%"]
    if result is None:
        return out
    status, _, directive = result.partition(" # ")
    passed = status == "ok"
    return out + [f"#            {'OK' if passed else 'FAIL'}  {THP_CASE}",
                  f"{status} 1 {THP_CASE}" + (f" # {directive}" if directive else ""),
                  f"# {'PASSED' if passed else 'FAILED'}: {int(passed)} / 1 tests passed.",
                  f"# Totals: pass:{int(passed)} fail:{int(not passed)} xfail:0 xpass:0 skip:0 error:0"]


def oversub_line(run, wset_kib, passes, mib_s, migrated, evicted, background=0, retried=0, shortfall=0,
                 verify="ok", cascaded=None):
    """oversub_bench's printf("P2PMM-BENCH oversub %s capacity_kib=%llu wset_kib=%zu chunk_kib=%zu passes=%d
    reps=%d mib_s=%.2f migrated=%llu evicted=%llu background=%llu retried=%llu shortfall=%llu%s verify=ok\\n",
    ...), where %s is " cascaded=%llu" in cascade_abc's lines."""
    extra = "" if cascaded is None else f" cascaded={cascaded}"
    return (f"P2PMM-BENCH oversub {run} capacity_kib=8192 wset_kib={wset_kib} chunk_kib=1024 passes={passes} "
            f"reps=3 mib_s={mib_s:.2f} migrated={migrated} evicted={evicted} background={background} "
            f"retried={retried} shortfall={shortfall}{extra} verify={verify}")


OVERSUB_RUNS = {
    "prefetch_read.fits": oversub_line("prefetch_read.fits", 4096, 32, 93.8, 98304, 0),
    "prefetch_read.oversub": oversub_line("prefetch_read.oversub", 16384, 8, 69.0, 98304, 19152, 30000),
    "pingpong_ab.fits": oversub_line("pingpong_ab.fits", 4096, 32, 247.6, 98304, 0),
    "pingpong_ab.oversub": oversub_line("pingpong_ab.oversub", 16384, 8, 160.2, 56568, 12288, 38400, 960),
    "cascade_abc.fits": oversub_line("cascade_abc.fits", 4096, 32, 90.0, 98304, 0, cascaded=0),
    "cascade_abc.oversub": oversub_line("cascade_abc.oversub", 49152, 2, 72.0, 73728, 61440, cascaded=36864),
}


def oversub_table(runs):
    """oversub_bench's closing table (printf formats of its main())."""
    out = ["", "oversubscribed streaming, managed provider capacity 8192 KiB, chunk 1024 KiB, best of 3",
           f"{'run':<22} {'wset KiB':>9} {'passes':>7} {'MiB/s':>9} {'migrated/pass':>14} {'evicted/pass':>13} "
           f"{'shortfall':>10}"]
    for run in runs:
        out.append(f"{run:<22} {4096:>9} {32:>7} {'FAILED':>9}")
    return out


def p2p_line(run, mib_s, maps, verify="ok", target=None):
    """p2p_bench's printf("P2PMM-BENCH p2p %s nvme=%s target=%s wset_mib=%d chunk_kib=%d reps=%d mib_s=%.1f
    maps=%d verify=ok\n", ...); target: "ram", or the static or managed provider's device (here the same
    vaccel's)."""
    target = target or ("ram" if run.endswith(".ram") else "0000:04:00.0")
    return (f"P2PMM-BENCH p2p {run} nvme=0000:06:00.0 target={target} wset_mib=8 chunk_kib=1024 reps=3 "
            f"mib_s={mib_s:.1f} maps={maps} verify={verify}")


P2P_RUNS = {
    "read.ram": p2p_line("read.ram", 400.0, 24),
    "read.static": p2p_line("read.static", 380.0, 0),
    "read.managed": p2p_line("read.managed", 340.0, 0),
    "write.ram": p2p_line("write.ram", 300.0, 24),
    "write.static": p2p_line("write.static", 270.0, 0),
    "write.managed": p2p_line("write.managed", 255.0, 0),
}


def good_log():
    """A complete `make bench` guest log, as tests/guest/init.sh frames it: {part name: lines}."""
    return {
        "head": ["P2PMM: guest up after 1.23s, kernel 7.3.0, mode bench", "P2PMM-SANITIZERS lockdep DEBUG_VM"],
        "migration-begin": ["P2PMM-SUITE-BEGIN bench-migration"],
        "memcpy": memcpy_bench(),
        "p2pmm_mirror": ["P2PMM-BENCH-DRIVER p2pmm_mirror"] + mirror_bench("p2pmm_mirror")
        + thp_benchmark("p2pmm_mirror"),
        "test_hmm": ["P2PMM-BENCH-DRIVER test_hmm"] + mirror_bench("test_hmm") + thp_benchmark("test_hmm"),
        "migration-end": ["P2PMM-SUITE-END bench-migration rc=0 secs=210.4"],
        "oversub-begin": ["P2PMM-SUITE-BEGIN bench-oversub"],
        "oversub": list(OVERSUB_RUNS.values()),
        "oversub-table": oversub_table(OVERSUB_RUNS) + ["prefetch_read: oversub / fits = 0.74x (goal >= 0.8x)",
                                                        "pingpong_ab: oversub / fits = 0.65x (goal >= 0.8x)",
                                                        "cascade_abc: oversub / fits = 0.80x (goal >= 0.8x)"],
        "oversub-end": ["P2PMM-SUITE-END bench-oversub rc=0 secs=80.2"],
        "p2p-begin": ["P2PMM-SUITE-BEGIN bench-p2p",
                      "p2p_bench: NVMe 0000:06:00.0 (/dev/nvme1n1), static memory of provider 1 and managed "
                      "provider 2 on 0000:04:00.0, 8 MiB in 1024 KiB pieces, best of 3"],
        "p2p": list(P2P_RUNS.values()),
        "p2p-end": ["P2PMM-SUITE-END bench-p2p rc=0 secs=12.0"],
        # The closing dmesg dump: KUnit's KTAP of p2pmm.ko, never read as a benchmark's output.
        "tail": ["P2PMM-DMESG-BEGIN", "[    5.1] KTAP version 1", "[    5.2] not ok 1 p2pmm",
                 "[    5.3] P2PMM-BENCH-ERROR oversub prefetch_read.fits quoted in a kernel message",
                 "P2PMM-DMESG-END", "P2PMM: done after 300.1s", "P2PMM-DONE"],
    }


def report(parts, crlf=False):
    """Runs bench_report.py on the log made of `parts`: (exit status, stdout, its `bench: ` lines)."""
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False, newline="") as f:
        f.write(("\r\n" if crlf else "\n").join(line for part in parts.values() for line in part) + "\n")
    try:
        p = subprocess.run([sys.executable, REPORT, f.name], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
    return p.returncode, p.stdout, [line for line in p.stdout.splitlines() if line.startswith("bench: ")]


class BenchReport(unittest.TestCase):
    def assert_fails(self, parts, *expected):
        """Exit status 1 and exactly the `expected` failure lines, in order."""
        rc, out, lines = report(parts)
        self.assertEqual(lines, [f"bench: {e}" for e in expected], out)
        self.assertEqual(rc, 1, out)
        return out

    def test_a_complete_run_passes_and_prints_every_table(self):
        for crlf in (False, True):
            rc, out, lines = report(good_log(), crlf=crlf)
            self.assertEqual((rc, lines), (0, []), out)
            self.assertIn("geometric mean ratio over 28 rows: 1.50x", out)
            self.assertRegex(out, r"read_fault_4k +pages/s +82000\.0 +41000\.0 +2\.00x")
            self.assertRegex(out, r"pingpong_ab +oversub 16 MiB \(2x\) +160\.2 +2357 +512 +1600 +40\.0 +0\.0 +0\.65x\n")
            self.assertRegex(out, r"cascade_abc +oversub 48 MiB \(6x\) +72\.0 +12288 +10240 +0 +0\.0 +0\.0 +0\.80x "
                                  r"+6144\n")
            self.assertIn("goal >= 0.8x", out)
            self.assertRegex(out, r"\nread +400\.0 +380\.0 +340\.0 +0\.95x +0\.85x +0000:04:00\.0 +0000:04:00\.0\n")
            self.assertRegex(out, r"\nwrite +300\.0 +270\.0 +255\.0 +0\.90x +0\.85x +0000:04:00\.0 +0000:04:00\.0\n")
            self.assertNotIn("missing", out)
            # Each row beside the guest's memcpy of its size: memcpy time / p2pmm time.
            self.assertRegex(out, r"\nOne twenty eight THP Size \(256\.0 MB\) +sys->dev +THP +256\.0 +384\.0 +1\.50x "
                                  r"+25\.60 +0\.10x\n")
            self.assertRegex(out, r"\nSmall Buffer \(0\.5 MB\) +dev->sys +4K +0\.6 +0\.8 +1\.50x +0\.05 +0\.09x\n")
            self.assertIn("256 MiB THP migration sys->dev: 256.0 ms, memcpy of 256 MiB 25.6 ms: 0.10x of memcpy "
                          "(goal >= 0.8x)", out)

    # p2p_bench's checks: its own (P2PMM-BENCH-ERROR: data, path), and those of its lines.

    def test_p2p_transfer_that_was_dma_mapped(self):
        parts = good_log()
        parts["p2p"] = [l for l in parts["p2p"] if "read.static" not in l] + [
            "P2PMM-BENCH-ERROR p2p read.static path: 24 dma_map_phys events (none expected)"]
        parts["p2p-end"] = ["P2PMM-SUITE-END bench-p2p rc=1 secs=12.0"]
        self.assert_fails(parts, "suite failed: bench-p2p ended with rc=1",
                          "data check failed: p2p read.static path: 24 dma_map_phys events (none expected)")

    def test_p2p_line_claims_mappings_for_a_static_run(self):
        parts = good_log()
        parts["p2p"][1] = p2p_line("read.static", 380.0, 3)
        self.assert_fails(parts, "data check failed: p2p read.static: 3 DMA mappings")

    def test_p2p_line_claims_mappings_for_a_managed_run(self):
        parts = good_log()
        parts["p2p"] = [p2p_line("write.managed", 255.0, 5) if l == P2P_RUNS["write.managed"] else l
                        for l in parts["p2p"]]
        self.assert_fails(parts, "data check failed: p2p write.managed: 5 DMA mappings")

    def test_p2p_line_claims_no_mappings_for_a_ram_run(self):
        parts = good_log()
        parts["p2p"][0] = p2p_line("read.ram", 400.0, 0)
        self.assert_fails(parts, "data check failed: p2p read.ram: 0 DMA mappings")

    def test_p2p_managed_run_not_all_by_p2p(self):
        # p2p_bench's own path check of a managed run: the error line in place of its figure, then exit 1.
        parts = good_log()
        parts["p2p"] = [l for l in parts["p2p"] if "read.managed" not in l]
        parts["p2p"].insert(2, "P2PMM-BENCH-ERROR p2p read.managed path: not every byte by P2P DMA, or pages "
                               "moved off the provider")
        parts["p2p-end"] = ["P2PMM-SUITE-END bench-p2p rc=1 secs=12.0"]
        out = self.assert_fails(parts, "suite failed: bench-p2p ended with rc=1",
                                "data check failed: p2p read.managed path: not every byte by P2P DMA, or pages "
                                "moved off the provider")
        self.assertRegex(out, r"\nread +400\.0 +380\.0 +missing +0\.95x +- +0000:04:00\.0 +-\n")

    def test_p2p_no_managed_provider(self):
        # Setup failed (no managed provider the NVMe reaches directly): one error line, no runs, exit 1.
        parts = good_log()
        parts["p2p"] = ["P2PMM-BENCH-ERROR p2p setup no directly reachable static and managed providers, buffers "
                        "or dma:dma_map_phys event"]
        parts["p2p-end"] = ["P2PMM-SUITE-END bench-p2p rc=1 secs=0.1"]
        out = self.assert_fails(parts, "suite failed: bench-p2p ended with rc=1",
                                "data check failed: p2p setup no directly reachable static and managed providers, "
                                "buffers or dma:dma_map_phys event")
        self.assertIn("no figures in the log (suite bench-p2p missing or failed)", out)

    def test_p2p_verify_and_missing_run(self):
        # Output cut short after write.ram: the write runs of provider memory have no line.
        parts = good_log()
        parts["p2p"] = [p2p_line("read.ram", 400.0, 24, verify="bad"), P2P_RUNS["read.static"],
                        P2P_RUNS["read.managed"], P2P_RUNS["write.ram"]]
        self.assert_fails(parts, "data check failed: p2p read.ram: verify=bad",
                          "output missing: p2p write.static: no P2PMM-BENCH line",
                          "output missing: p2p write.managed: no P2PMM-BENCH line")

    def test_p2p_managed_line_missing(self):
        # The last run's line never came (no error line either): the managed run is missing output.
        parts = good_log()
        parts["p2p"] = [l for l in parts["p2p"] if l != P2P_RUNS["write.managed"]]
        out = self.assert_fails(parts, "output missing: p2p write.managed: no P2PMM-BENCH line")
        self.assertRegex(out, r"\nwrite +300\.0 +270\.0 +missing +0\.90x +- +0000:04:00\.0 +-\n")

    def test_p2p_managed_line_cut_short(self):
        parts = good_log()
        cut = P2P_RUNS["read.managed"].split(" maps=")[0]
        parts["p2p"] = [cut if l == P2P_RUNS["read.managed"] else l for l in parts["p2p"]]
        self.assert_fails(parts, "output missing: p2p read.managed: line cut short (no maps= verify=)")

    def test_p2p_table_shows_the_managed_ratio(self):
        # managed / system RAM per direction, and the managed provider's own device in its column.
        parts = good_log()
        parts["p2p"] = [p2p_line("read.managed", 320.0, 0, target="0000:05:00.0") if l == P2P_RUNS["read.managed"]
                        else p2p_line("write.managed", 150.0, 0, target="0000:05:00.0")
                        if l == P2P_RUNS["write.managed"] else l for l in parts["p2p"]]
        rc, out, lines = report(parts)
        # Figures never fail the run: a managed ratio under its goal (0.50x) is printed, not reported.
        self.assertEqual((rc, lines), (0, []), out)
        self.assertRegex(out, r"\ndirection +RAM MiB/s +static MiB/s +managed MiB/s +static/RAM +"
                              r"managed/RAM +static on +managed on\n")
        self.assertRegex(out, r"\nread +400\.0 +380\.0 +320\.0 +0\.95x +0\.80x +0000:04:00\.0 +0000:05:00\.0\n")
        self.assertRegex(out, r"\nwrite +300\.0 +270\.0 +150\.0 +0\.90x +0\.50x +0000:04:00\.0 +0000:05:00\.0\n")
        self.assertIn("NVMe DMA by P2P into static (O_DIRECT) and managed (P2PMM_IOC_BLKIO) provider memory vs into "
                      "system memory", out)
        self.assertIn("goals: static >= 0.9x and managed >= 0.8x of system RAM; every static and managed run had "
                      "no DMA mapping", out)

    def test_p2p_suite_never_started(self):
        parts = good_log()
        for k in ("p2p-begin", "p2p", "p2p-end"):
            del parts[k]
        out = self.assert_fails(parts, "output missing: suite bench-p2p never started")
        self.assertIn("no figures in the log (suite bench-p2p missing or failed)", out)

    # oversub_bench's own data checks (P2PMM-BENCH-ERROR), each in place of its run's line; it then exits 1.

    def failed_oversub_run(self, run, error):
        parts = good_log()
        parts["oversub"] = [error if line == OVERSUB_RUNS[run] else line for line in parts["oversub"]]
        parts["oversub-table"] = oversub_table(OVERSUB_RUNS)
        parts["oversub-end"] = ["P2PMM-SUITE-END bench-oversub rc=1 secs=80.2"]
        return parts

    def test_checksum_mismatch(self):
        error = ("P2PMM-BENCH-ERROR oversub prefetch_read.oversub checksum mismatch in rep 0 pass 2: 0x1f, "
                 "want 0x2e")
        out = self.assert_fails(self.failed_oversub_run("prefetch_read.oversub", error),
                                "suite failed: bench-oversub ended with rc=1",
                                "data check failed: oversub prefetch_read.oversub checksum mismatch in rep 0 "
                                "pass 2: 0x1f, want 0x2e")
        self.assertRegex(out, r"prefetch_read +oversub +FAILED")

    def test_byte_exact_check(self):
        error = ("P2PMM-BENCH-ERROR oversub pingpong_ab.fits data mismatch at byte 4096 (page 1): 0x0, "
                 "want 0x9e37")
        self.assert_fails(self.failed_oversub_run("pingpong_ab.fits", error),
                          "suite failed: bench-oversub ended with rc=1",
                          "data check failed: oversub pingpong_ab.fits data mismatch at byte 4096 (page 1): "
                          "0x0, want 0x9e37")

    def test_eviction_counters(self):
        error = ("P2PMM-BENCH-ERROR oversub pingpong_ab.oversub the providers count 50000 evictions, "
                 "P2PMM_IOC_MIGRATE reported 50688")
        self.assert_fails(self.failed_oversub_run("pingpong_ab.oversub", error),
                          "suite failed: bench-oversub ended with rc=1",
                          "data check failed: oversub pingpong_ab.oversub the providers count 50000 evictions, "
                          "P2PMM_IOC_MIGRATE reported 50688")

    def test_failed_ioctl(self):
        error = ("P2PMM-BENCH-ERROR oversub prefetch_read.fits P2PMM_IOC_MIGRATE or _QUERY failed: "
                 "No data available")
        self.assert_fails(self.failed_oversub_run("prefetch_read.fits", error),
                          "suite failed: bench-oversub ended with rc=1",
                          "data check failed: oversub prefetch_read.fits P2PMM_IOC_MIGRATE or _QUERY failed: "
                          "No data available")

    def test_no_managed_provider(self):
        parts = good_log()
        parts["oversub"] = ["P2PMM-BENCH-ERROR oversub setup no managed provider (P2PMM_IOC_PROVIDERS: "
                            "-1 providers)"]
        del parts["oversub-table"]
        parts["oversub-end"] = ["P2PMM-SUITE-END bench-oversub rc=1 secs=0.1"]
        self.assert_fails(parts, "suite failed: bench-oversub ended with rc=1",
                          "data check failed: oversub setup no managed provider (P2PMM_IOC_PROVIDERS: -1 "
                          "providers)",
                          *(f"output missing: oversub {run}: no P2PMM-BENCH line" for run in OVERSUB_RUNS),
                          "output missing: oversub_bench's summary table (the program did not finish)")

    def test_timeout_cuts_the_output_short(self):
        # on_alarm(): the error line, then _exit(2): no later run, no table.
        parts = good_log()
        parts["oversub"] = parts["oversub"][:2] + [
            "P2PMM-BENCH-ERROR oversub pingpong_ab.fits timeout after 300 s (no progress?)"]
        del parts["oversub-table"]
        parts["oversub-end"] = ["P2PMM-SUITE-END bench-oversub rc=2 secs=300.0"]
        self.assert_fails(parts, "suite failed: bench-oversub ended with rc=2",
                          "data check failed: oversub pingpong_ab.fits timeout after 300 s (no progress?)",
                          "output missing: oversub pingpong_ab.oversub: no P2PMM-BENCH line",
                          "output missing: oversub cascade_abc.fits: no P2PMM-BENCH line",
                          "output missing: oversub cascade_abc.oversub: no P2PMM-BENCH line",
                          "output missing: oversub_bench's summary table (the program did not finish)")

    # Checks of the figures' own columns.

    def with_oversub_line(self, run, **kw):
        parts = good_log()
        fields = dict(f.split("=", 1) for f in OVERSUB_RUNS[run].split()[3:])
        args = dict(wset_kib=fields["wset_kib"], passes=fields["passes"], mib_s=float(fields["mib_s"]),
                    migrated=fields["migrated"], evicted=fields["evicted"], background=fields["background"],
                    retried=fields["retried"], cascaded=fields.get("cascaded"))
        args.update(kw)
        line = oversub_line(run, **args)
        parts["oversub"] = [line if old == OVERSUB_RUNS[run] else old for old in parts["oversub"]]
        return parts

    def test_verify_column(self):
        self.assert_fails(self.with_oversub_line("prefetch_read.fits", verify="FAILED"),
                          "data check failed: oversub prefetch_read.fits: verify=FAILED")

    def test_shortfall(self):
        self.assert_fails(self.with_oversub_line("pingpong_ab.oversub", shortfall=12),
                          "data check failed: oversub pingpong_ab.oversub: shortfall 12 pages (0 expected)")

    def test_oversubscribed_run_that_evicts_nothing(self):
        # Evictions by the worker alone count.
        rc, out, _ = report(self.with_oversub_line("prefetch_read.oversub", evicted=0))
        self.assertEqual(rc, 0, out)
        self.assert_fails(self.with_oversub_line("prefetch_read.oversub", evicted=0, background=0),
                          "data check failed: oversub prefetch_read.oversub: no evictions with a working set "
                          "twice the capacity")
        # A working set that fits evicts nothing, and that is fine.
        rc, out, _ = report(self.with_oversub_line("prefetch_read.fits", evicted=0))
        self.assertEqual(rc, 0, out)

    def test_cascade_that_passes_nothing_on(self):
        self.assert_fails(self.with_oversub_line("cascade_abc.oversub", cascaded=0),
                          "data check failed: oversub cascade_abc.oversub: B and C passed no victim on")
        # Within A's capacity nothing is evicted, let alone passed on.
        rc, out, _ = report(self.with_oversub_line("cascade_abc.fits", cascaded=0))
        self.assertEqual(rc, 0, out)

    def test_cascade_line_without_its_count(self):
        parts = good_log()
        cut = OVERSUB_RUNS["cascade_abc.oversub"].replace(" cascaded=36864", "")
        parts["oversub"] = [cut if line == OVERSUB_RUNS["cascade_abc.oversub"] else line for line in parts["oversub"]]
        self.assert_fails(parts, "output missing: oversub cascade_abc.oversub: line cut short (no cascaded=)")

    def test_line_cut_short(self):
        parts = good_log()
        cut = OVERSUB_RUNS["pingpong_ab.fits"].split(" shortfall=")[0]
        parts["oversub"] = [cut if line == OVERSUB_RUNS["pingpong_ab.fits"] else line for line in parts["oversub"]]
        self.assert_fails(parts, "output missing: oversub pingpong_ab.fits: line cut short (no shortfall= verify=)")

    def test_skipped_scenario(self):
        parts = good_log()
        parts["oversub"] = parts["oversub"][:2] + [
            "P2PMM-BENCH-SKIP oversub pingpong_ab needs two managed providers",
            "P2PMM-BENCH-SKIP oversub cascade_abc needs three managed providers"]
        self.assert_fails(parts, "data check failed: oversub pingpong_ab: skipped (needs two managed providers)",
                          "data check failed: oversub cascade_abc: skipped (needs three managed providers)")

    # memcpy_bench: the physical limit beside each migration row.

    def test_memcpy_size_missing(self):
        parts = good_log()
        parts["memcpy"] = memcpy_bench()[:-1]
        out = self.assert_fails(parts, "output missing: bench-migration: no memcpy line for 262144 KiB")
        self.assertRegex(out, r"\nOne twenty eight THP Size \(256\.0 MB\) +sys->dev +THP +256\.0 +384\.0 +1\.50x "
                              r"+missing +-\n")
        self.assertNotIn("of memcpy (goal", out)

    def test_memcpy_copy_that_differs(self):
        parts = good_log()
        parts["memcpy"] = memcpy_bench()[:2] + ["P2PMM-BENCH-ERROR memcpy 2048 the copy differs from its source"] + \
            memcpy_bench()[3:]
        parts["migration-end"] = ["P2PMM-SUITE-END bench-migration rc=1 secs=210.4"]
        self.assert_fails(parts, "suite failed: bench-migration ended with rc=1",
                          "data check failed: memcpy 2048 the copy differs from its source")

    # mirror_bench and benchmark_thp_migration, per driver.

    def test_mirror_bench_data_check(self):
        parts = good_log()
        parts["p2pmm_mirror"] = [
            "P2PMM-BENCH-ERROR mirror read_fault_4k data mismatch: the device read differs from the buffer"
            if line.startswith("BENCH read_fault_4k ") else line for line in parts["p2pmm_mirror"]]
        out = self.assert_fails(parts, "data check failed: mirror read_fault_4k (p2pmm_mirror): data mismatch: "
                                "the device read differs from the buffer")
        self.assertRegex(out, r"read_fault_4k +pages/s +missing +41000\.0")

    def test_mirror_bench_failed_device_read(self):
        parts = good_log()
        parts["test_hmm"] = [line for line in parts["test_hmm"] if not line.startswith("BENCH munmap_4_")]
        parts["test_hmm"].insert(5, "P2PMM-BENCH-ERROR mirror munmap_4_mirrors device read of mirror 2 failed: "
                                    "Bad address")
        self.assert_fails(parts, "data check failed: mirror munmap_4_mirrors (test_hmm): device read of mirror 2 "
                          "failed: Bad address")

    def test_mirror_bench_figures_missing(self):
        # mirror_bench crashed after its first figures: no error line, figures missing.
        parts = good_log()
        parts["test_hmm"] = [line for line in parts["test_hmm"] if not line.startswith("BENCH munmap_16_")]
        self.assert_fails(parts, "output missing: mirror_bench (test_hmm): no figure for munmap_16_mirrors_p50",
                          "output missing: mirror_bench (test_hmm): no figure for munmap_16_mirrors_p99")

    def test_thp_benchmark_not_ok(self):
        parts = good_log()
        parts["p2pmm_mirror"] = (["P2PMM-BENCH-DRIVER p2pmm_mirror"] + mirror_bench("p2pmm_mirror")
                                 + thp_benchmark("p2pmm_mirror", result="not ok"))
        self.assert_fails(parts, "data check failed: benchmark_thp_migration (p2pmm_mirror): not ok")

    def test_thp_benchmark_skipped(self):
        parts = good_log()
        parts["test_hmm"] = (["P2PMM-BENCH-DRIVER test_hmm"] + mirror_bench("test_hmm")
                             + thp_benchmark("test_hmm", sizes=[], result="ok # SKIP no hmm device"))
        self.assert_fails(parts, "data check failed: benchmark_thp_migration (test_hmm): skipped (no hmm device)",
                          "output missing: benchmark_thp_migration (test_hmm): no table")

    def test_thp_benchmark_without_result_line(self):
        parts = good_log()
        parts["test_hmm"] = (["P2PMM-BENCH-DRIVER test_hmm"] + mirror_bench("test_hmm")
                             + thp_benchmark("test_hmm", result=None))
        self.assert_fails(parts, "output missing: benchmark_thp_migration (test_hmm): no result line")

    def test_thp_benchmark_rows_missing(self):
        # Timed out before its largest size: fewer rows than the other driver's table, and `not ok`.
        parts = good_log()
        parts["p2pmm_mirror"] = (["P2PMM-BENCH-DRIVER p2pmm_mirror"] + mirror_bench("p2pmm_mirror")
                                 + thp_benchmark("p2pmm_mirror", sizes=THP_SIZES[:5], result="not ok"))
        out = self.assert_fails(parts, "data check failed: benchmark_thp_migration (p2pmm_mirror): not ok",
                                "output missing: benchmark_thp_migration (p2pmm_mirror): 8 of 28 rows missing "
                                "(Eight THP Size (16.0 MB), One twenty eight THP Size (256.0 MB))")
        self.assertIn("geometric mean ratio over 20 rows", out)

    def test_thp_table_cut_in_the_middle(self):
        parts = good_log()
        lines = thp_benchmark("test_hmm", result=None)
        cut = max(i for i, line in enumerate(lines) if line.startswith("Dev->Sys Migration"))
        parts["test_hmm"] = ["P2PMM-BENCH-DRIVER test_hmm"] + mirror_bench("test_hmm") + lines[:cut]
        self.assert_fails(parts, "output missing: benchmark_thp_migration (test_hmm): no result line",
                          "output missing: benchmark_thp_migration (test_hmm): 2 of 28 rows missing "
                          "(One twenty eight THP Size (256.0 MB))")

    def test_driver_that_did_not_load(self):
        # insmod failed: `return 1` before anything of test_hmm ran.
        parts = good_log()
        parts["test_hmm"] = ["P2PMM-BENCH-DRIVER test_hmm", "insmod: can't insert 'test_hmm.ko': File exists"]
        parts["migration-end"] = ["P2PMM-SUITE-END bench-migration rc=1 secs=100.0"]
        self.assert_fails(parts, "suite failed: bench-migration ended with rc=1",
                          *(f"output missing: mirror_bench (test_hmm): no figure for {n}" for n in MIRROR_FIGURES),
                          "output missing: benchmark_thp_migration (test_hmm): no result line",
                          "output missing: benchmark_thp_migration (test_hmm): no table")

    def test_driver_section_missing(self):
        parts = good_log()
        del parts["test_hmm"]
        self.assert_fails(parts, "output missing: bench-migration: nothing from driver test_hmm")

    # The suites' frames.

    def test_suite_rc(self):
        parts = good_log()
        parts["migration-end"] = ["P2PMM-SUITE-END bench-migration rc=1 secs=210.4"]
        self.assert_fails(parts, "suite failed: bench-migration ended with rc=1")

    def test_suite_never_started(self):
        parts = good_log()
        for part in ("oversub-begin", "oversub", "oversub-table", "oversub-end"):
            del parts[part]
        out = self.assert_fails(parts, "output missing: suite bench-oversub never started")
        self.assertIn("no figures in the log", out)

    def test_suite_did_not_finish(self):
        # The guest hung in oversub_bench: the VM was killed, the log just stops.
        parts = good_log()
        parts["oversub"] = parts["oversub"][:1]
        for part in ("oversub-table", "oversub-end", "tail"):
            del parts[part]
        self.assert_fails(parts, "output missing: suite bench-oversub did not finish (no P2PMM-SUITE-END)",
                          *(f"output missing: oversub {run}: no P2PMM-BENCH line" for run in list(OVERSUB_RUNS)[1:]),
                          "output missing: oversub_bench's summary table (the program did not finish)")

    def test_no_log(self):
        p = subprocess.run([sys.executable, REPORT, "/nonexistent/vm-bench.log"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"^bench: output missing: no guest log \(.*/nonexistent/vm-bench\.log")

    def test_lines_after_a_suite_are_not_its_output(self):
        # Figures printed outside the suite frames (here: after the dmesg dump began) do not count.
        parts = good_log()
        moved = parts.pop("oversub")
        parts["oversub-end"] = []
        parts["tail"] = parts["tail"][:1] + moved + parts["tail"][1:]
        self.assert_fails(parts, "output missing: suite bench-oversub did not finish (no P2PMM-SUITE-END)",
                          *(f"output missing: oversub {run}: no P2PMM-BENCH line" for run in OVERSUB_RUNS))


def scale_log():
    """The scale VM's `make bench` log: suite bench-scale with its registration and benchmark lines."""
    return ["P2PMM: guest up after 9.1s, kernel 7.3.0, mode bench", "P2PMM-SUITE-BEGIN bench-scale",
            "P2PMM-BENCH scale-register large mib=16384 ms=640 memfree_kib=450000 bookkeeping_b_per_slot=7.04",
            "P2PMM-BENCH scale-register small mib=80 ms=20 memfree_kib=2600 bookkeeping_b_per_slot=7.05",
            "P2PMM-BENCH scale small capacity_mib=64 migrate_in_mib_s=200.0 migrate_out_mib_s=300.0 "
            "query_ms_per_gib=40.00 evict_mib_s=100.0 verify=ok",
            "P2PMM-BENCH scale large capacity_mib=12288 migrate_in_mib_s=190.0 migrate_out_mib_s=300.0 "
            "query_ms_per_gib=50.00 evict_mib_s=95.0 verify=ok",
            "P2PMM-SUITE-END bench-scale rc=0 secs=300.0", "P2PMM-DONE"]


def report_with_scale(scale_lines):
    """bench_report.py on a good main log and the given scale log (None: no such file)."""
    paths = []
    try:
        for lines in (sum(good_log().values(), []), scale_lines):
            with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
                f.write("\n".join(lines or []) + "\n")
            paths.append(f.name)
        if scale_lines is None:
            os.unlink(paths[1])
        p = subprocess.run([sys.executable, REPORT, *paths], capture_output=True, text=True, timeout=60)
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
    return p.returncode, p.stdout, [line for line in p.stdout.splitlines() if line.startswith("bench: ")]


class ScaleBench(unittest.TestCase):
    def test_the_table_has_every_figure_and_its_ratio(self):
        rc, out, lines = report_with_scale(scale_log())
        self.assertEqual((rc, lines), (0, []), out)
        self.assertRegex(out, r"registration ms per GiB +256\.00 +40\.00 +- +large <= 50")
        self.assertRegex(out, r"bookkeeping B per slot +7\.05 +7\.04 +- +<= 8")
        self.assertRegex(out, r"migrate in MiB/s +200\.00 +190\.00 +0\.95x +>= 0\.9x")
        self.assertRegex(out, r"QUERY ms per GiB +40\.00 +50\.00 +0\.80x")
        self.assertNotIn("missing", out)

    def test_a_failed_check_and_a_missing_line_fail_the_run(self):
        log = [line.replace("verify=ok", "verify=bad") if " large " in line else line for line in scale_log()]
        log = [line for line in log if "scale-register small" not in line]
        rc, out, lines = report_with_scale(log)
        self.assertEqual(rc, 1, out)
        self.assertEqual(lines, ["bench: output missing: scale-register small: no P2PMM-BENCH line",
                                 "bench: data check failed: scale large: verify=bad"], out)

    def test_a_reported_error_replaces_the_missing_line(self):
        log = [line for line in scale_log() if "scale large" not in line]
        log.insert(-2, "P2PMM-BENCH-ERROR scale large evict (Input/output error)")
        rc, out, lines = report_with_scale(log)
        self.assertEqual(lines, ["bench: data check failed: scale large evict (Input/output error)"], out)
        self.assertEqual(rc, 1, out)

    def test_a_scale_boot_without_its_suite_or_log(self):
        rc, out, lines = report_with_scale(scale_log()[:1] + ["P2PMM-DONE"])
        self.assertEqual((rc, lines), (1, ["bench: output missing: suite bench-scale never started"]), out)
        rc, out, lines = report_with_scale(None)
        self.assertEqual(rc, 1, out)
        self.assertRegex(lines[0], r"^bench: output missing: no scale VM log")


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"test result: {'ok' if failed == 0 else 'FAILED'}. {result.testsRun - failed} passed; {failed} failed; "
          f"{len(result.skipped)} ignored")
    sys.exit(1 if failed else 0)
