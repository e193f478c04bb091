#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host tests of scripts/report.py: each case runs it on a log and checks its exit status and the line that says why.

The logs are tests/report/good.log (a green guest run: KTAP of the kunit suite, kselftest_harness TAP, hmm-tests,
the closing kmemleak scan and dmesg dump), tests/report/detectors.log (the four detector suites, each with its
report) and tests/report/host.log, and variants of them made here: a line dropped or changed, or one of the kernel
reports of tests/report/*.log (the kernel's formats) put into a suite, on the console and in the closing dmesg dump
as the guest prints them. Run by scripts/host-tests.sh, where report.py counts unittest's summary.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT = os.path.join(HERE, "report.py")
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "report")
CONFORMANCE = os.path.join(FIXTURES, "conformance.txt")
GUEST = ["kunit", "kselftest", "hmm-conformance", "hmm-baseline"]
SANITIZERS = "KASAN(generic) KFENCE UBSAN(bounds) kmemleak hung-task(60s) RCU-stall(60s) lockdep DEBUG_VM"
DETECTORS = {"detect-lockdep": "lockdep", "detect-hung-task": "hung-task", "detect-kmemleak": "kmemleak",
             "detect-kasan": "KASAN"}
TITLES = {
    "host": "host: cargo test (portable core)",
    "lint": "host: fmt + clippy (host and module)",
    "kunit": "kunit: p2pmm.ko",
    "kselftest": "kselftest: p2pmm",
    "hmm-conformance": "hmm-conformance (p2pmm_mirror)",
    "hmm-baseline": "hmm-baseline (upstream test_hmm)",
    "detect-kasan": "detector: KASAN use-after-free",
    "detect-kmemleak": "detector: kmemleak leak",
    "detect-lockdep": "detector: lockdep lock inversion",
    "detect-hung-task": "detector: hung task",
    "outside": "kernel log (outside suites)",
    "kmemleak": "kmemleak after the suites",
    "late": "kernel log: KUnit at other module loads",
}
USERFAULTFD = "hmm.hmm_device_private.userfaultfd_read"


def fixture(name):
    """A fixture's lines, without its SPDX line."""
    with open(os.path.join(FIXTURES, name)) as f:
        return [l for l in f.read().splitlines() if not l.startswith("# SPDX-License-Identifier")]


def span(lines, suite):
    """Indices of a suite's BEGIN and END lines."""
    begin = lines.index(f"P2PMM-SUITE-BEGIN {suite}")
    end = next(i for i in range(begin, len(lines)) if lines[i].startswith(f"P2PMM-SUITE-END {suite} "))
    return begin, end


def find(lines, pattern, suite=None):
    """The index of the one line matching `pattern` (inside `suite` when given)."""
    lo, hi = span(lines, suite) if suite else (0, len(lines))
    hits = [i for i in range(lo, hi) if re.search(pattern, lines[i])]
    assert len(hits) == 1, f"{pattern!r}: {len(hits)} lines match"
    return hits[0]


def drop(lines, pattern, suite=None):
    i = find(lines, pattern, suite)
    return lines[:i] + lines[i + 1 :]


def change(lines, pattern, old, new, suite=None):
    i = find(lines, pattern, suite)
    return lines[:i] + [lines[i].replace(old, new, 1)] + lines[i + 1 :]


def put(lines, snippet, suite=None, before=None):
    """`snippet` printed in `suite` (on the console before its END) or before the line matching `before`, and its
    kernel messages again in the closing dmesg dump, as the guest prints them."""
    at = span(lines, suite)[1] if suite else find(lines, before)
    lines = lines[:at] + snippet + lines[at:]
    dump_end = lines.index("P2PMM-DMESG-END")
    return lines[:dump_end] + [l for l in snippet if l.startswith("[")] + lines[dump_end:]


def console_times(lines, suite):
    """Timestamps for kernel messages at the end of `suite`: after every console message before them."""
    stamps = [re.match(r"^\[ *(\d+\.\d+)\]", l) for l in lines[: span(lines, suite)[1]]]
    t0 = max((float(m.group(1)) for m in stamps if m), default=0.0)
    return [f"[{t0 + k * 1e-6:12.6f}]" for k in range(1, 5)]


def replan(lines, suite, delta):
    """The suite's (one) leading TAP plan `1..N` changed to `1..N+delta`."""
    i = find(lines, r"^1\.\.\d+$", suite)
    return lines[:i] + [f"1..{int(lines[i][3:]) + delta}"] + lines[i + 1 :]


def run(vm=None, suites=GUEST, args=(), host=None):
    """report.py's exit status and output on the given logs (lists of lines)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, REPORT, "--conformance-list", CONFORMANCE, *args]
        for opt, lines in (("--vm-log", vm), ("--host-log", host)):
            if lines is not None:
                path = os.path.join(tmp, opt[2:])
                with open(path, "w") as f:
                    f.write("\n".join(lines) + "\n")
                cmd += [opt, path]
        if vm is not None:
            cmd += ["--suites", ",".join(suites)]
        p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def rows(out):
    """{title: (pass, fail, skip, [notes])} of the summary table (blank counts are "")."""
    table, notes = {}, None
    for line in out.splitlines():
        if line.startswith("    ") and notes is not None:
            notes.append(line.strip())
        elif re.match(r"^\S.{39} [ \d]{5} +\d+ [ \d]{5}", line):
            notes = []
            table[line[:40].strip()] = (line[41:46].strip(), line[47:52].strip(), line[53:58].strip(), notes)
        else:
            notes = None
    return table


class ReportTest(unittest.TestCase):
    def assertRow(self, out, row, note, fails=None):
        """Row `row` of the table carries a note matching `note` (and has `fails` failures)."""
        table = rows(out)
        self.assertIn(TITLES[row], table, out)
        _, failed, _, notes = table[TITLES[row]]
        self.assertTrue(any(re.search(note, n) for n in notes), f"no note {note!r} in row {row}:\n{out}")
        if fails is not None:
            self.assertEqual(failed, str(fails), out)

    def assertFails(self, rc_out, row, note, fails=None):
        """The run failed, and says so in row `row` (a regular expression `note`) and in the total."""
        rc, out = rc_out
        self.assertEqual(rc, 1, out)
        self.assertRow(out, row, note, fails)
        self.assertRegex(out, r"\ntotal: \d+ passed, [1-9]\d* failed, \d+ skipped\n$")


class GoodRun(ReportTest):
    def test_good_run_passes_with_every_row_and_its_kernel(self):
        rc, out = run(fixture("good.log"), args=["--expect-hmm-baseline-pass", "11"])
        self.assertEqual(rc, 0, out)
        table = rows(out)
        for suite in GUEST:
            _, failed, _, notes = table[TITLES[suite]]
            self.assertEqual(failed, "0", out)
            self.assertEqual(notes[0], f"kernel: {SANITIZERS}")
        self.assertEqual(table[TITLES["outside"]][1], "0", out)
        self.assertIn("scanned after unloading every module: leaks=0", table[TITLES["kmemleak"]][3])
        self.assertRegex(out, r"\ntotal: [1-9]\d* passed, 0 failed, \d+ skipped\n$")

    def test_the_kernel_of_each_row_comes_from_the_log(self):
        rc, out = run(change(fixture("good.log"), r"^P2PMM-SANITIZERS ", SANITIZERS, "KFENCE lockdep"))
        self.assertEqual(rc, 0, out)
        for suite in GUEST:
            self.assertRow(out, suite, r"^kernel: KFENCE lockdep$")
        rc, out = run(drop(fixture("good.log"), r"^P2PMM-SANITIZERS "))
        self.assertEqual(rc, 0, out)
        for suite in GUEST:
            self.assertRow(out, suite, r"^kernel: unknown \(no P2PMM-SANITIZERS line\)$")

    def test_baseline_below_its_expected_pass_count_fails(self):
        self.assertFails(run(fixture("good.log"), args=["--expect-hmm-baseline-pass", "39"]), "hmm-baseline",
                         r"^only 11 passed, expected at least 39$", fails=1)


class Host(ReportTest):
    def test_cargo_and_unittest_results_count_once_each(self):
        # cargo 3 + 2 (1 ignored); doctest_gen_test 4, whose unittest summary and cargo-style line are one count;
        # report_test 4 (1 skipped); loom 2 + 1. Lint: fmt, fmt-module, clippy.
        with tempfile.NamedTemporaryFile("w") as versions:
            versions.write("kernel:  7.3.4\n")
            versions.flush()
            rc, out = run(host=fixture("host.log"), args=["--versions", versions.name])
        self.assertEqual(rc, 0, out)
        self.assertEqual(rows(out)[TITLES["host"]][:3], ("16", "0", "2"))
        self.assertEqual(rows(out)[TITLES["lint"]][:3], ("3", "0", "0"))
        # The versions come last but one: CI reads the total from the last line.
        self.assertTrue(out.endswith("\n  kernel:  7.3.4\ntotal: 19 passed, 0 failed, 2 skipped\n"), out)

    def test_failed_unittest(self):
        log = change(fixture("host.log"), r"^OK \(skipped=1\)", "OK (", "FAILED (failures=1, errors=1, ")
        self.assertFails(run(host=log), "host", r"^2 failed in `python3 scripts/report_test.py`", fails=2)

    def test_test_step_without_results(self):
        log = drop(fixture("host.log"), r"^Ran 5 tests")
        self.assertFails(run(host=log), "host", r"^`python3 scripts/report_test.py` printed no test result \(rc=0\)")

    def test_test_step_failing_without_a_failed_test(self):
        # cargo fails after its results, e.g. when a doctest does not build.
        log = fixture("host.log")
        start = find(log, r"^== test: cargo test --workspace")
        end = next(i for i in range(start, len(log)) if log[i].startswith("P2PMM-HOST"))
        log[end] = "P2PMM-HOST test rc=101"
        self.assertFails(run(host=log), "host", r"^`cargo test --workspace` exited rc=101 though no test failed")

    def test_step_that_did_not_finish(self):
        log = fixture("host.log")
        self.assertFails(run(host=log[: find(log, r"^P2PMM-HOST clippy")]), "lint",
                         r"^clippy did not finish \(`cargo clippy --workspace --all-targets -- -D warnings`\)")

    def test_failed_lint(self):
        log = change(fixture("host.log"), r"^P2PMM-HOST fmt rc=0", "rc=0", "rc=1")
        self.assertFails(run(host=log), "lint", r"^fmt failed \(rc=1\); see the host log$", fails=1)


class Plan(ReportTest):
    """Nothing requested vanishes: every suite, KUnit suite and listed conformance case, and KTAP that adds up."""

    def test_dropped_conformance_case(self):
        out = run(drop(fixture("good.log"), rf"^ok \d+ {USERFAULTFD}$", "hmm-conformance"))
        self.assertFails(out, "hmm-conformance", rf"^listed conformance case has no result: {USERFAULTFD}$")
        self.assertRow(out[1], "hmm-conformance", r"^plan 1\.\.\d+ but \d+ results \(results from hmm\.")

    def test_skipped_conformance_case(self):
        log = change(fixture("good.log"), rf"^ok \d+ {USERFAULTFD}$", USERFAULTFD,
                     f"{USERFAULTFD} # SKIP userfaultfd not available", "hmm-conformance")
        self.assertFails(run(log), "hmm-conformance",
                         rf"^listed conformance case skipped: ok \d+ {USERFAULTFD} # SKIP userfaultfd not available$",
                         fails=1)

    def test_baseline_case_failing_in_conformance(self):
        log = change(fixture("good.log"), rf"^ok \d+ {USERFAULTFD}$", "ok", "not ok", "hmm-conformance")
        out = run(log)
        self.assertFails(out, "hmm-conformance", rf"^FAILED: not ok \d+ {USERFAULTFD}$", fails=1)
        self.assertRow(out[1], "hmm-conformance", rf"^upstream test_hmm passes, p2pmm_mirror does not: {USERFAULTFD}$")

    def test_baseline_case_left_out_of_the_conformance_list(self):
        log = replan(drop(fixture("good.log"), rf"^ok \d+ {USERFAULTFD}$", "hmm-conformance"), "hmm-conformance", -1)
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as listed:
            listed.write("\n".join(l for l in fixture("conformance.txt") if l != USERFAULTFD) + "\n")
            listed.flush()
            out = run(log, args=["--conformance-list", listed.name])
        self.assertFails(out, "hmm-conformance",
                         rf"^passes against upstream test_hmm \(hmm-baseline\) but not against p2pmm_mirror: "
                         rf"{USERFAULTFD}$", fails=1)

    def test_missing_suite(self):
        log = fixture("good.log")
        begin, end = span(log, "hmm-baseline")
        self.assertFails(run(log[:begin] + log[end + 1 :]), "hmm-baseline",
                         r"^suite never started \(guest crashed or hung before it\)$", fails=1)

    def test_truncated_suite(self):
        log = drop(fixture("good.log"), r"^P2PMM-SUITE-END kselftest ")
        self.assertFails(run(log), "kselftest", r"^suite did not finish \(guest crashed or hung\)$", fails=1)

    def test_missing_kunit_suite(self):
        # p2pmm.ko's second suite (its own KTAP subtest) gone from the kunit suite, the plan saying one suite, so
        # that only the missing result line can tell.
        log = fixture("good.log")
        last = find(log, r"^ok \d+ p2pmm_doctests$", "kunit")
        first = max(i for i in range(last) if log[i] == "    KTAP version 1")
        log = log[:first] + log[last + 1 :]
        plan = max(i for i in range(first) if log[i] == "1..2")
        log[plan] = "1..1"
        self.assertFails(run(log), "kunit",
                         r"^KUnit suite p2pmm_doctests printed no result line$", fails=1)

    def test_suite_level_not_ok_with_every_case_ok(self):
        log = change(fixture("good.log"), r"^ok \d+ p2pmm_doctests$", "ok", "not ok", "kunit")
        self.assertFails(run(log), "kunit", r"^suite-level not ok with every case ok: not ok \d+ p2pmm_doctests$",
                         fails=1)

    def test_ktap_plan_mismatch(self):
        log = drop(fixture("good.log"), r"^    ok \d+ constants_match_c_header$", "kunit")
        self.assertFails(run(log), "kunit", r"^plan 1\.\.6 but 5 results \(p2pmm\)$", fails=1)

    def test_trailing_tap_plan_mismatch(self):
        log = drop(fixture("good.log"), r"^ok \d+ p2pmmctl\.error_not_root$", "kselftest")
        self.assertFails(run(log), "kselftest", r"^plan 1\.\.\d+ but \d+ results \(results from p2pmmctl\.", fails=1)

    def test_suite_exit_status_without_a_failed_test(self):
        log = change(fixture("good.log"), r"^P2PMM-SUITE-END kselftest ", "rc=0", "rc=1")
        self.assertFails(run(log), "kselftest", r"^suite exited rc=1 without a failed test line$", fails=1)

    def test_a_tests_summary_line_is_a_note_of_its_suite(self):
        log = fixture("good.log")
        begin, _ = span(log, "kselftest")
        log = log[: begin + 1] + ["# P2PMM-SUMMARY hot-unplug: 20 cycles, revocation p50 640 ms"] + log[begin + 1 :]
        rc, out = run(log)
        self.assertEqual(rc, 0, out)
        self.assertRow(out, "kselftest", r"^hot-unplug: 20 cycles, revocation p50 640 ms$", fails=0)

    def test_suite_without_results(self):
        log = fixture("good.log")
        begin, end = span(log, "kselftest")
        self.assertFails(run(log[: begin + 1] + log[end:]), "kselftest", r"^ran no test$", fails=1)


WARN = ["------------[ cut here ]------------",
        "WARNING: drivers/pci/p2pdma.c:212 at pci_p2pdma_add_resource+0x1a/0x300, CPU#0: swapper/0/1",
        "Modules linked in:",
        "CPU: 0 UID: 0 PID: 1 Comm: swapper/0 Not tainted 7.3.4 #1 PREEMPT(voluntary)",
        "Call Trace:",
        " <TASK>",
        " pci_p2pdma_add_resource+0x1a/0x300",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---"]


def kernel(messages, stamps):
    """Kernel messages as the console prints them, with the given timestamps (the last one repeated)."""
    return [f"{stamps[min(i, len(stamps) - 1)]} {m}".rstrip() for i, m in enumerate(messages)]


class Reports(ReportTest):
    """Every kernel report fails the row of the place it happened in, once, named by its kind and first line."""

    def put_report(self, name, suite):
        return put(fixture("good.log"), fixture(name), suite)

    def test_kasan_in_a_suite(self):
        out = run(self.put_report("kasan.log", "kselftest"))
        self.assertFails(out, "kselftest",
                         r"^KASAN: BUG: KASAN: slab-use-after-free in detector_write\+0x9c/0x130 \[p2pmm_detectors\]$",
                         fails=1)
        self.assertNotIn("BUG/Oops", out[1])
        self.assertEqual(rows(out[1])[TITLES["outside"]][1], "0")

    def test_kmemleak_in_the_closing_scan(self):
        log = fixture("good.log")
        at = find(log, r"^P2PMM-KMEMLEAK-BEGIN$") + 1
        log = change(log[:at] + fixture("kmemleak.log") + log[at:], r"^P2PMM-KMEMLEAK-END ", "leaks=0", "leaks=2")
        out = run(log)
        self.assertFails(out, "kmemleak", r"^kmemleak: unreferenced object 0xff1100000f7f5640 \(size 8\):$",
                         fails=2)
        self.assertRow(out[1], "kmemleak", r"^kmemleak: unreferenced object 0xff11000006800880 \(size 8\):$")

    def test_kmemleak_count_without_its_objects(self):
        log = change(fixture("good.log"), r"^P2PMM-KMEMLEAK-END ", "leaks=0", "leaks=2")
        self.assertFails(run(log), "kmemleak",
                         r"^kmemleak: P2PMM-KMEMLEAK-END leaks=2 but 0 unreferenced object lines in the scan$", fails=1)

    def test_kmemleak_scan_that_did_not_run(self):
        log = drop(drop(fixture("good.log"), r"^P2PMM-KMEMLEAK-BEGIN$"), r"^P2PMM-KMEMLEAK-END ")
        self.assertFails(run(log), "kmemleak",
                         r"^kmemleak scan did not run: kmemleak is on but no P2PMM-KMEMLEAK-END after the suites$",
                         fails=1)
        self.assertFails(run(drop(log, r"^P2PMM-SANITIZERS ")), "kmemleak",
                         r"^kmemleak scan did not run: no P2PMM-KMEMLEAK-END after the suites$", fails=1)

    def test_kmemleak_unavailable_while_on(self):
        log = change(fixture("good.log"), r"^P2PMM-KMEMLEAK-END ", "leaks=0", "unavailable")
        self.assertFails(run(log), "kmemleak", r"^kmemleak is on \(P2PMM-SANITIZERS\) but the scan found no ", fails=1)
        rc, out = run(change(log, r"^P2PMM-SANITIZERS ", SANITIZERS, "KASAN(generic)"))
        self.assertEqual(rc, 0, out)
        self.assertRow(out, "kmemleak", r"^kmemleak is not in this kernel$", fails=0)

    def test_hung_task(self):
        self.assertFails(run(self.put_report("hung-task.log", "hmm-conformance")), "hmm-conformance",
                         r"^hung-task: INFO: task sh:226 blocked for more than 3 seconds\.$", fails=1)

    def test_lockdep(self):
        out = run(self.put_report("lockdep.log", "kselftest"))
        self.assertFails(out, "kselftest", r"^lockdep: WARNING: possible circular locking dependency detected$",
                         fails=1)
        self.assertNotIn("WARN:", out[1])

    def test_rcu_stall(self):
        self.assertFails(run(self.put_report("rcu-stall.log", "hmm-baseline")), "hmm-baseline",
                         r"^RCU-stall: rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:$", fails=1)

    def test_panic(self):
        # The guest dies in kselftest: nothing after the panic (no END, no later suite, no dump, no P2PMM-DONE).
        log = fixture("good.log")
        end = span(log, "kselftest")[1]
        out = run(log[:end] + fixture("panic.log"))
        self.assertFails(out, "kselftest", r"^BUG/Oops: BUG: kernel NULL pointer dereference, address: 0+8$", fails=3)
        self.assertRow(out[1], "kselftest", r"^panic: Kernel panic - not syncing: Fatal exception$")
        self.assertRow(out[1], "kselftest", r"^suite did not finish")
        self.assertRow(out[1], "hmm-conformance", r"^suite never started", fails=1)
        self.assertRow(out[1], "outside", r"^guest did not reach P2PMM-DONE: panic, hang or timeout", fails=1)
        self.assertRow(out[1], "kmemleak", r"^no scan: the guest did not finish$", fails=0)

    def test_report_at_boot(self):
        log = fixture("good.log")
        self.assertFails(run(put(log, kernel(WARN, ["[    1.500000]"]), before=r"^P2PMM: guest up")), "outside",
                         r"^WARN: WARNING: drivers/pci/p2pdma.c:212 at .* \(boot\)$", fails=1)

    def test_kinds(self):
        # Each header alone, in its real shape; follow-up lines of a report are not reports of their own.
        cases = (
            (WARN, r"^WARN: WARNING: drivers/pci/p2pdma.c:212 at "),
            (WARN[:2] + ["DEBUG_LOCKS_WARN_ON(early_boot_irqs_disabled)"] + WARN[2:],
             r"^lockdep: DEBUG_LOCKS_WARN_ON\(early_boot_irqs_disabled\)$"),
            (["------------[ cut here ]------------", "UBSAN: array-index-out-of-bounds in mm/bind/x.c:12:5",
              "index 8 is out of range for type 'u64 [8]'", "Call Trace:", "---[ end trace ]---"],
             r"^UBSAN: UBSAN: array-index-out-of-bounds in mm/bind/x.c:12:5$"),
            (["==================================================================",
              "BUG: KFENCE: use-after-free read in p2pmm_slot_get+0x2c/0x90 [p2pmm]", "",
              "Use-after-free read at 0x00000000c0ffee00 (in kfence-#12):"],
             r"^KFENCE: BUG: KFENCE: use-after-free read in p2pmm_slot_get"),
            (["Oops: general protection fault, probably for non-canonical address 0xdffffc0000000001: 0000 [#1] SMP",
              "KASAN: null-ptr-deref in range [0x0000000000000008-0x000000000000000f]", "Call Trace:"],
             r"^BUG/Oops: Oops: general protection fault"),
            (["kernel BUG at mm/migrate.c:212!", "Oops: invalid opcode: 0000 [#1] SMP KASAN NOPTI"],
             r"^BUG/Oops: kernel BUG at mm/migrate.c:212!$"),
            (["watchdog: BUG: soft lockup - CPU#1 stuck for 26s! [hmm-tests:242]"], r"^BUG/Oops: watchdog: BUG: soft"),
            (["", "=============================", "WARNING: suspicious RCU usage", "7.3.4 #1 Not tainted"],
             r"^lockdep: WARNING: suspicious RCU usage$"),
            (["Call Trace:", " <TASK>", " dump_stack_lvl+0x6f/0xa0", " </TASK>"], r"^stack trace: Call Trace:$"),
        )
        for messages, note in cases:
            with self.subTest(note=note):
                log = fixture("good.log")
                self.assertFails(run(put(log, kernel(messages, console_times(log, "kselftest")), "kselftest")),
                                 "kselftest", note, fails=1)

    def test_an_oom_kill_is_not_a_failure_but_a_report_next_to_it_is(self):
        oom = ["p2pmm_exhaustio invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_ZERO), order=0, "
               "oom_score_adj=1000",
               "CPU: 1 UID: 0 PID: 263 Comm: p2pmm_exhaustio Tainted: G           O     N  7.3.4 #1",
               "Call Trace:", " <TASK>", " dump_stack_lvl+0x6f/0xa0", " oom_kill_process+0xe1/0xd70", " </TASK>",
               "Mem-Info:",
               "Out of memory: Killed process 263 (p2pmm_exhaustio) total-vm:1537184kB, anon-rss:1535016kB"]
        log = fixture("good.log")
        stamps = console_times(log, "kselftest")
        rc, out = run(put(log, kernel(oom, stamps), "kselftest"))
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"\ntotal: [1-9]\d* passed, 0 failed, \d+ skipped\n$")
        self.assertFails(run(put(log, kernel(oom + WARN, stamps), "kselftest")), "kselftest",
                         r"^WARN: WARNING: drivers/pci/p2pdma.c:212 at ", fails=1)

    def test_the_same_report_in_two_suites_fails_both(self):
        log = fixture("good.log")
        log = put(log, kernel(WARN, console_times(log, "kselftest")), "kselftest")
        out = run(put(log, kernel(WARN, console_times(log, "hmm-baseline")), "hmm-baseline"))
        self.assertFails(out, "kselftest", r"^WARN: WARNING: drivers/pci/p2pdma.c:212 ", fails=1)
        self.assertFails(out, "hmm-baseline", r"^WARN: WARNING: drivers/pci/p2pdma.c:212 ", fails=1)

    def test_report_only_in_the_dump_goes_where_its_time_says(self):
        # A message below the console's loglevel is only in the closing dmesg dump: its timestamp places it.
        log = fixture("good.log")
        t = console_times(log, "kselftest")
        log = put(log, [f"{t[0]} p2pmm 0000:04:00.0: unbound", f"{t[2]} p2pmm 0000:04:00.0: bound"], "kselftest")
        dump_end = log.index("P2PMM-DMESG-END")
        inside = f"{t[1]} kmemleak: Kernel memory leak detector disabled"
        out = run(log[:dump_end] + [inside] + log[dump_end:])
        self.assertFails(out, "kselftest", r"^kmemleak: kmemleak: Kernel memory leak detector disabled$", fails=1)
        later = "[99999.000000] WARNING: mm/x.c:1 at f+0x1/0x2, CPU#0: kworker/0:1/9"
        self.assertFails(run(log[:dump_end] + [later] + log[dump_end:]), "outside",
                         r"^WARN: WARNING: mm/x.c:1 .* \(only in the closing dmesg dump\)$", fails=1)

    def test_kernel_message_inside_a_guest_line(self):
        log = fixture("good.log")
        i = find(log, r"^ok \d+ p2pmmctl\.error_not_root$", "kselftest")
        log[i] += kernel(WARN[1:2], console_times(log, "kselftest"))[0]
        out = run(log)
        self.assertFails(out, "kselftest", r"^WARN: WARNING: drivers/pci/p2pdma.c:212 ", fails=1)

    def test_module_that_would_not_unload(self):
        log = fixture("good.log")
        at = find(log, r"^P2PMM-KMEMLEAK-BEGIN$")
        self.assertFails(run(log[:at] + ["P2PMM-TEARDOWN rmmod p2pmm failed"] + log[at:]), "outside",
                         r"^P2PMM-TEARDOWN rmmod p2pmm failed$", fails=1)

    def test_kunit_failing_at_another_module_load(self):
        log = fixture("good.log")
        dump_end = log.index("P2PMM-DMESG-END")
        log = log[:dump_end] + ["[99999.000000] not ok 2 p2pmm_doctests"] + log[dump_end:]
        self.assertFails(run(log), "late", r"^KUnit suite p2pmm_doctests failed when its module was loaded "
                         r"outside the kunit suite$", fails=1)

    def test_missing_dmesg_dump(self):
        log = fixture("good.log")
        log = log[: log.index("P2PMM-DMESG-BEGIN")] + log[log.index("P2PMM-DMESG-END") + 1 :]
        self.assertFails(run(log), "outside", r"^the closing dmesg dump \(P2PMM-DMESG-BEGIN/END\) is missing", fails=1)


class Detectors(ReportTest):
    """--expect-detector: a pass iff each detector failed its own suite and nothing else failed."""

    def expect(self, log, expected=DETECTORS):
        return run(log, suites=list(DETECTORS), args=[a for s, k in expected.items() for a in ("--expect-detector",
                                                                                             f"{s}={k}")])

    def test_all_four_fire(self):
        rc, out = self.expect(fixture("detectors.log"))
        self.assertEqual(rc, 0, out)
        for suite, kind in DETECTORS.items():
            self.assertIn(f"\ndetector {kind}: fired in {suite} and failed the run\n", out)
            self.assertRow(out, suite, rf"^{kind}: ")
        self.assertRegex(out, r"\ndetectors: each fired; the \d+ failures above are theirs\n")
        self.assertRegex(out, r"\ntotal: 4 passed, 0 failed, 0 skipped\n$")
        # Without the expectations, the same log is a failed run.
        self.assertEqual(run(fixture("detectors.log"), suites=list(DETECTORS))[0], 1)

    def test_one_that_did_not_fire(self):
        # The KASAN report, on the console and in the dump: from the ==== line before its header to the one after.
        log, i = fixture("detectors.log"), 0
        while i < len(log):
            if "BUG: KASAN:" in log[i]:
                start = max(j for j in range(i) if "=====" in log[j])
                end = next(j for j in range(i, len(log)) if "=====" in log[j])
                log, i = log[:start] + log[end + 1 :], start
            else:
                i += 1
        rc, out = self.expect(log)
        self.assertEqual(rc, 1, out)
        self.assertIn("\ntotal: 3 passed, 1 failed, 0 skipped\n", out)
        self.assertIn("\ndetector KASAN: did NOT fail detect-kasan (no KASAN report in it)\n", out)
        self.assertIn("\ndetector lockdep: fired in detect-lockdep and failed the run\n", out)

    def test_a_report_of_another_kind(self):
        rc, out = self.expect(fixture("detectors.log"), dict(DETECTORS, **{"detect-lockdep": "KASAN"}))
        self.assertEqual(rc, 1, out)
        self.assertIn("\ndetector KASAN: did NOT fail detect-lockdep (no KASAN report in it; it had lockdep)\n", out)

    def test_a_detector_suite_that_did_not_end(self):
        rc, out = self.expect(drop(fixture("detectors.log"), r"^P2PMM-SUITE-END detect-kasan "))
        self.assertEqual(rc, 1, out)
        self.assertIn("\ndetector KASAN: did NOT fail detect-kasan (the suite did not run to its end)\n", out)

    def test_detectors_and_an_unrelated_failure(self):
        log = put(fixture("detectors.log"), kernel(WARN, ["[    1.500000]"]), before=r"^P2PMM: guest up")
        rc, out = self.expect(log)
        self.assertEqual(rc, 1, out)
        for suite, kind in DETECTORS.items():
            self.assertIn(f"\ndetector {kind}: fired in {suite} and failed the run\n", out)
        self.assertIn("\ndetectors: 1 other failures above fail the run\n", out)

    def test_unknown_kind_is_refused(self):
        args = ["--expect-detector", "detect-kasan=kasan"]
        rc, out = run(fixture("detectors.log"), suites=list(DETECTORS), args=args)
        self.assertEqual(rc, 2, out)
        self.assertIn("expected SUITE=KIND with KIND one of KASAN, KFENCE", out)


class ScaleVm(ReportTest):
    """The scale suite boots a VM of its own: its log is read like the default one, its rows tagged."""

    def run_both(self, scale_lines, scale_suites=("kselftest",)):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "scale.log")
            with open(path, "w") as f:
                f.write("\n".join(scale_lines) + "\n")
            args = ["--scale-log", path, "--scale-suites", ",".join(scale_suites), "--expect-hmm-baseline-pass", "11"]
            return run(fixture("good.log"), args=args)

    def test_a_green_scale_boot_adds_its_own_rows(self):
        rc, out = self.run_both(fixture("good.log"))
        self.assertEqual(rc, 0, out)
        table = rows(out)
        self.assertEqual(table[TITLES["outside"] + " [scale VM]"][1], "0", out)
        self.assertIn("scanned after unloading every module: leaks=0", table[TITLES["kmemleak"] + " [scale VM]"][3])

    def test_a_failure_in_the_scale_boot_fails_the_run(self):
        rc, out = self.run_both(fixture("good.log"), scale_suites=("scale",))
        self.assertEqual(rc, 1, out)
        self.assertIn("suite never started", rows(out)["scale: 16 GiB BAR (scale VM)"][3][1], out)
        rc, out = self.run_both(kernel(WARN, ["[    1.500000]"]) + fixture("good.log"))
        self.assertEqual(rc, 1, out)
        self.assertEqual(rows(out)[TITLES["outside"] + " [scale VM]"][1], "1", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
