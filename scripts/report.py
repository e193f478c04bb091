#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the host and guest logs of one `make test` into one summary table; exits non-zero on any failure.

Host log (scripts/host-tests.sh): every step must finish; a `test` step must print its results (cargo's `test
result:` lines or unittest's `Ran N tests` summary) with none failed and exit 0; a lint step must exit 0.

Guest console log (tests/guest/init.sh), the run fails on:
- a requested suite (--suites) that never started, did not finish, ran no test, exited non-zero or has a failed test;
- KTAP/TAP that contradicts itself: a suite-level `not ok` over cases that all passed, or a plan `1..N` that does
  not match the number of results at its nesting level;
- kunit: a KUnit suite of KUNIT_SUITES without its own `ok` line;
- hmm-conformance: a case of the conformance list (--conformance-list) absent, skipped or failed, or a case upstream
  test_hmm passes in hmm-baseline that p2pmm_mirror does not pass;
- any kernel report (KASAN, KFENCE, UBSAN, kmemleak, lockdep, hung task, RCU stall, WARN, BUG/Oops, panic): it fails
  the suite it happened in, or the `kernel log (outside suites)` or `kmemleak after the suites` row;
- a closing kmemleak scan that did not run or found leaks, a module the guest could not unload, a KUnit suite failing
  at a module load outside the kunit suite, a guest that did not reach P2PMM-DONE (panic, hang, timeout).
Every guest row names the detectors of the kernel that ran, from the guest's `P2PMM-SANITIZERS` line.

With --expect-detector SUITE=KIND (`make test SUITES=detectors`) the exit status says whether each detector fired:
0 iff every such suite ran and a KIND report failed it, and nothing else failed.
"""
import argparse
import bisect
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE_LIST = os.path.join(REPO, "tests", "conformance", "hmm-p2pmm.txt")

RESULT = re.compile(
    r"^(?P<indent>\s*)(?P<not>not )?ok \d+(?: (?:- )?(?P<name>[^#]*?))?\s*(?:#\s*(?P<directive>\S+)(?P<reason>.*))?$"
)
PLAN = re.compile(r"^(?P<indent>\s*)1\.\.(?P<n>\d+)\s*(?:#.*)?$")
VERSION = re.compile(r"^(?P<indent>\s*)K?TAP version \d+\s*$")
SUBTEST = re.compile(r"^(?P<indent>\s*)# Subtest: (?P<name>.*?)\s*$")
# A console line's printk prefix: `[   12.345678] `, with the caller id when CONFIG_PRINTK_CALLER is set.
TIMESTAMP = re.compile(r"^\[ *(?P<ts>\d+\.\d+)\](?: (?:\[ *[TC]\d+\] )?|$)")
# The serial console interleaves kernel messages with the guest's own output, also in the middle of a line.
EMBEDDED_TIMESTAMP = re.compile(r"(?=\[ *\d+\.\d+\](?: |$))")

# The first line of each kind of kernel report, matched at the start of a message; the first kind that matches wins,
# so `BUG: KASAN:` is KASAN and lockdep's `WARNING: possible circular locking ...` is lockdep, not WARN.
HEADERS = [(kind, re.compile(pattern)) for kind, pattern in (
    ("KASAN", r"BUG: KASAN: "),
    ("KFENCE", r"BUG: KFENCE: "),
    ("UBSAN", r"UBSAN: "),
    ("kmemleak", r"unreferenced object |kmemleak: (?:Kernel memory leak detector disabled|Cannot allocate a kmemleak)"),
    ("lockdep", r"WARNING: (?:possible circular locking|possible recursive locking|inconsistent lock state|"
                r"possible irq lock inversion|.*-safe -> .*-unsafe lock order|Nested lock was not taken|"
                r"bad unlock balance|bad contention|held lock freed|.* still has locks held|"
                r"lock held when returning to user space|suspicious RCU usage|chain_key collision)|"
                r"\[ BUG: Invalid wait context \]|DEBUG_LOCKS_WARN_ON|"
                r"BUG: (?:MAX_\w+ too low|key \S+ has not been registered|looking up invalid subclass)"),
    ("hung-task", r"INFO: task .+:\d+ blocked (?:in I/O wait )?for more than"),
    ("RCU-stall", r"(?:rcu: )?INFO: \S+ (?:self-)?detected (?:expedited )?stall"),
    ("panic", r"Kernel panic - not syncing"),
    ("WARN", r"WARNING:"),
    ("BUG/Oops", r"(?:watchdog: )?BUG[: ]|Oops|general protection fault|kernel BUG at|watchdog: Watchdog detected"),
)]
KINDS = [kind for kind, _ in HEADERS]
# Reports the kernel prints that are not failures: the OOM killer's (`<comm> invoked oom-killer: ...`, then a stack
# dump and the task list), which a test that exhausts memory provokes on purpose. Its lines, `Call Trace:` included,
# belong to it; a report of a kind above fails the run as ever, near it or not.
BENIGN = re.compile(r"\S.* invoked oom-killer: ")
# Lines that belong to a report (before or after its header line); a report of their own only when no header is near:
# `cut here` precedes a WARN or UBSAN header, the others follow a header.
SECONDARY = re.compile(r"-+\[ cut here \]-+|Call Trace:|KASAN: .* in range \[|kmemleak: [1-9]\d* new suspected memory")
BEFORE_HEADER, AFTER_HEADER = 5, 300
# Headers of one report: x86 prints `BUG: unable to handle page fault ...` then `Oops: ...`; a DEBUG_LOCKS_WARN_ON
# message follows the WARNING line of its WARN.
MERGE_LINES = 15

# The KUnit suites of the modules (mm/tests.rs; scripts/doctest_gen.py): they run at every load of their module,
# also outside the `kunit` guest suite, so their results in the closing dmesg dump are checked too.
KUNIT_SUITES = ("p2pmm", "p2pmm_doctests")
SUITE_RESULT = re.compile(rf"^(?P<not>not )?ok \d+ (?P<suite>{'|'.join(KUNIT_SUITES)})(?:\s|$)")
TITLES = {
    "host": "host: cargo test (portable core)",
    "lint": "host: fmt + clippy (host and module)",
    "kunit": "kunit: p2pmm.ko",
    "kselftest": "kselftest: p2pmm",
    "scale": "scale: 16 GiB BAR (scale VM)",
    "hmm-baseline": "hmm-baseline (upstream test_hmm)",
    "hmm-conformance": "hmm-conformance (p2pmm_mirror)",
    "detect-kasan": "detector: KASAN use-after-free",
    "detect-kmemleak": "detector: kmemleak leak",
    "detect-lockdep": "detector: lockdep lock inversion",
    "detect-hung-task": "detector: hung task",
}
OUTSIDE, KMEMLEAK_AFTER = "kernel log (outside suites)", "kmemleak after the suites"
MAX_NOTES = 20


class Suite:
    """One row of the table. `failed` counts failed tests and every other failure of the row, each with a note."""

    def __init__(self, name, counts=True):
        self.name, self.counts, self.passed, self.failed, self.skipped = name, counts, 0, 0, 0
        self.notes, self.secs, self.report_kinds = [], "", []
        self.results, self.ran = [], False

    def fail(self, note):
        self.failed += 1
        self.notes.append(note)

    def report(self, kind, text):
        self.report_kinds.append(kind)
        self.fail(f"{kind}: {text}")


class Result:
    def __init__(self, m, parent):
        self.indent = len(m.group("indent").expandtabs())
        self.name = (m.group("name") or "").strip()
        self.parent, self.line = parent, m.string.strip()
        directive = (m.group("directive") or "").upper()
        if directive == "SKIP":
            self.outcome = "skipped"
        elif m.group("not") and directive != "TODO":
            self.outcome = "failed"
        else:
            self.outcome = "passed"


class Level:
    """The results at one indentation since its `KTAP version` line (or plan, or first result)."""

    def __init__(self, indent):
        self.indent, self.plan, self.count, self.failed, self.name, self.first = indent, None, 0, 0, None, None


def parse_ktap(lines, suite):
    """Counts the leaf results of (nested) KTAP/TAP into `suite` and checks that it agrees with itself: each plan
    `1..N` (leading or trailing) against the results at its level, each parent `not ok` against its subtests."""
    levels = []

    def close(level):
        if level.plan is not None and level.plan != level.count:
            where = level.name or (f"results from {level.first}" if level.first else "no result")
            suite.fail(f"plan 1..{level.plan} but {level.count} results ({where})")
        return level.failed

    def close_below(indent, inclusive=False):
        failed = 0
        while levels and (levels[-1].indent > indent or inclusive and levels[-1].indent == indent):
            failed += close(levels.pop())
        return failed

    def level_at(indent):
        if not levels or levels[-1].indent != indent:
            levels.append(Level(indent))
        return levels[-1]

    for line in lines:
        m = VERSION.match(line)
        if m:
            indent = len(m.group("indent").expandtabs())
            close_below(indent, inclusive=True)
            level_at(indent)
            continue
        m = PLAN.match(line)
        if m:
            indent = len(m.group("indent").expandtabs())
            close_below(indent)
            level = level_at(indent)
            if level.plan is None and level.count:
                # A trailing plan (tests/guest/p2pmmctl_test.sh) closes its block.
                level.plan = int(m.group("n"))
                close(levels.pop())
            else:
                if level.plan is not None:
                    # A second plan at one level without a version line starts a new block.
                    close(levels.pop())
                    level = level_at(indent)
                level.plan = int(m.group("n"))
            continue
        m = SUBTEST.match(line)
        if m:
            level_at(len(m.group("indent").expandtabs())).name = m.group("name")
            continue
        m = RESULT.match(line)
        if not m:
            continue
        indent = len(m.group("indent").expandtabs())
        parent = bool(levels) and levels[-1].indent > indent
        failed_below = close_below(indent)
        level = level_at(indent)
        r = Result(m, parent)
        level.count += 1
        level.first = level.first or r.name
        level.failed += failed_below
        suite.results.append(r)
        if r.outcome == "failed":
            level.failed += 1
        if parent:
            # A parent result only sums up its subtests; a `not ok` over subtests that all passed is a failure of its
            # own (a suite's init or exit failed, or a case crashed without a result line).
            if r.outcome == "failed" and not failed_below:
                suite.fail(f"suite-level not ok with every case ok: {r.line}")
            continue
        setattr(suite, r.outcome, getattr(suite, r.outcome) + 1)
        if r.outcome == "failed":
            suite.notes.append(f"FAILED: {r.line}")
    close_below(-1)


def unittest_counts(lines):
    """(passed, failed, skipped) from unittest's closing `Ran N tests` and `OK`/`FAILED (...)` lines, or None."""
    for i, line in enumerate(lines):
        m = re.match(r"^Ran (\d+) tests? in ", line)
        if not m:
            continue
        ran = int(m.group(1))
        for verdict in lines[i + 1 :]:
            v = re.match(r"^(OK|FAILED)(?: \((.*)\))?\s*$", verdict)
            if v:
                counts = {k.strip(): int(n) for k, n in re.findall(r"([a-z ]+)=(\d+)", v.group(2) or "")}
                failed = counts.get("failures", 0) + counts.get("errors", 0) + counts.get("unexpected successes", 0)
                skipped = counts.get("skipped", 0)
                return ran - failed - skipped, failed, skipped
        return 0, 1, 0
    return None


def host_suites(path):
    """Rows `host` and `lint` from scripts/host-tests.sh's log: `== <step>: <command>` ... `P2PMM-HOST <step> rc=N`."""
    test, lint = Suite("host"), Suite("lint")
    try:
        text = open(path, errors="replace").read().splitlines()
    except OSError:
        test.fail(f"no host log at {path}")
        return [test, lint]
    # A step's output is every line since the previous step ended; `== <step>: <command>` names it.
    steps, header, out = [], None, []
    for line in text:
        m = re.match(r"^== (\S+): (.*)$", line)
        if m:
            if header:
                steps.append(header + [out, None])
            header, out = [m.group(1), m.group(2)], []
            continue
        m = re.match(r"^P2PMM-HOST (\S+) rc=(\d+)", line)
        if m:
            steps.append((header or [m.group(1), m.group(1)]) + [out, int(m.group(2))])
            header, out = None, []
        else:
            out.append(line)
    if header:
        steps.append(header + [out, None])
    for name, command, out, rc in steps:
        if name != "test":
            if rc is None:
                lint.fail(f"{name} did not finish (`{command}`)")
            elif rc:
                lint.fail(f"{name} failed (rc={rc}); see the host log")
            else:
                lint.passed += 1
            continue
        # cargo prints one `test result:` line per test binary; a python test prints unittest's summary (and
        # scripts/doctest_gen_test.py a cargo-style line as well, which is then the one counted).
        cargo = [re.match(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", l) for l in out]
        cargo = [tuple(int(n) for n in m.groups()) for m in cargo if m]
        counts = tuple(map(sum, zip(*cargo))) if cargo else unittest_counts(out)
        passed, failed, skipped = counts or (0, 0, 0)
        test.passed, test.skipped = test.passed + passed, test.skipped + skipped
        if failed:
            test.failed += failed
            test.notes.append(f"{failed} failed in `{command}`; see the host log")
        if rc is None:
            test.fail(f"`{command}` did not finish")
        elif not counts:
            test.fail(f"`{command}` printed no test result (rc={rc})")
        elif rc and not failed:
            test.fail(f"`{command}` exited rc={rc} though no test failed")
    if not any(s[0] == "test" for s in steps):
        test.fail("the host log has no test step")
    if not any(s[0] != "test" for s in steps):
        lint.fail("the host log has no lint step")
    return [test, lint]


class Report:
    def __init__(self, kind, text, section, ts, stream):
        self.kind, self.text, self.section, self.ts, self.stream = kind, text, section, ts, stream


class GuestLog:
    """One pass over the console log: the suites' bodies, the guest's markers and every kernel report with the place
    it happened in (a suite's name, `boot`, `after <suite>`, or KMEMLEAK_AFTER for the closing kmemleak scan)."""

    def __init__(self, lines):
        self.sanitizers, self.done, self.dump_done = None, False, False
        self.suites = {}  # name -> {"end": (rc, secs) or None, "body": [lines]}
        self.blocks = []  # kmemleak scans: {"section", "objects", "end": N, "unavailable" or None, "resume"}
        self.teardown, self.dump, self.reports = [], [], []
        self.console_ts = []  # (timestamp, section) of each kernel message on the console, in order
        self.seen_ts, self.seen_bare, self.console_text = set(), set(), set()
        self.headers = {"console": [], "dump": []}  # (line index, section) of every header line, repeats included
        self.current = {"console": None, "dump": None}  # [index, kind, section, Report or None] of the last header
        self.secondaries = []
        section, stream, block, index = "boot", "console", None, 0
        for raw in lines:
            for line in (p for p in EMBEDDED_TIMESTAMP.split(raw) if p):
                index += 1
                m = TIMESTAMP.match(line)
                ts, bare = (float(m.group("ts")), line[m.end():].rstrip()) if m else (None, line.rstrip())
                if ts is None and bare.startswith("P2PMM-"):
                    if bare.startswith("P2PMM-DMESG-BEGIN"):
                        stream = "dump"
                    elif stream == "dump":
                        stream, self.dump_done = "console", bare.startswith("P2PMM-DMESG-END")
                    section, block = self.marker(bare, section, block)
                    continue
                if stream == "dump":
                    self.dump.append(bare)
                elif ts is not None:
                    self.console_ts.append((ts, section))
                else:
                    if section in self.suites:
                        self.suites[section]["body"].append(bare)
                    if block is not None and bare.startswith("unreferenced object"):
                        block["objects"] += 1
                self.scan(stream, index, ts, bare, section if stream == "console" else None)
        self.resolve()
        for b in self.blocks:
            if isinstance(b["end"], int) and b["end"] > b["objects"]:
                text = f"P2PMM-KMEMLEAK-END leaks={b['end']} but {b['objects']} unreferenced object lines in the scan"
                self.reports.append(Report("kmemleak", text, b["section"], None, "console"))
        for r in self.reports:
            if r.stream == "dump":
                r.section = self.dump_section(r.ts)

    def marker(self, line, section, block):
        """A guest marker line: returns the section and kmemleak block that follow it."""
        m = re.match(r"^P2PMM-SUITE-BEGIN (\S+)", line)
        if m:
            self.suites.setdefault(m.group(1), {"end": None, "body": []})
            return m.group(1), None
        m = re.match(r"^P2PMM-SUITE-END (\S+) rc=(\d+)(?: secs=(\S+))?", line)
        if m:
            if m.group(1) in self.suites:
                self.suites[m.group(1)]["end"] = (int(m.group(2)), m.group(3) or "")
            return f"after {m.group(1)}", None
        m = re.match(r"^P2PMM-SANITIZERS\s*(.*)$", line)
        if m:
            self.sanitizers = self.sanitizers or m.group(1).strip() or "unknown"
        if line.startswith("P2PMM-KMEMLEAK-BEGIN"):
            block = {"section": section if section in self.suites else KMEMLEAK_AFTER, "objects": 0, "end": None,
                     "resume": section}
            self.blocks.append(block)
            return block["section"], block
        m = re.match(r"^P2PMM-KMEMLEAK-END (?:leaks=(\d+)|(unavailable))", line)
        if m and block is not None:
            block["end"] = int(m.group(1)) if m.group(1) else "unavailable"
            return block["resume"], None
        if line.startswith("P2PMM-TEARDOWN"):
            self.teardown.append(line)
        if line.startswith("P2PMM-DONE"):
            self.done = True
        return section, block

    def scan(self, stream, index, ts, text, section):
        """A kernel report's header line starts a report, unless it continues the last one; a secondary line waits
        for resolve()."""
        kind = next((k for k, rx in HEADERS if rx.match(text)), None)
        if not kind and BENIGN.match(text):
            self.headers[stream].append((index, section))
            self.current[stream] = None
            return
        if not kind:
            if SECONDARY.match(text):
                self.secondaries.append((stream, index, section, ts, text))
            return
        self.headers[stream].append((index, section))
        cur = self.current[stream]
        if cur and cur[2] == section and index - cur[0] <= MERGE_LINES and (
            cur[1] == kind == "BUG/Oops" or cur[1] == "WARN" and text.startswith("DEBUG_LOCKS_WARN_ON")
        ):
            if cur[3] and kind != cur[1]:
                cur[3].kind, cur[3].text = kind, text
            cur[1] = kind
            return
        report = None
        if self.fresh(stream, ts, text, section):
            report = Report(kind, text, section, ts, stream)
            self.reports.append(report)
        self.current[stream] = [index, kind, section, report]

    def fresh(self, stream, ts, text, section):
        """Whether a report line is new. The closing dmesg dump repeats the console's kernel messages (same timestamp
        and text), and the kunit suite prints its dmesg again without timestamps: each report counts once."""
        if ts is not None:
            if (ts, text) in self.seen_ts or stream == "dump" and text in self.seen_bare:
                return False
            self.seen_ts.add((ts, text))
            if stream == "console":
                self.console_text.add((section, text))
            return True
        if (section, text) in self.console_text or text in self.seen_bare:
            return False
        self.seen_bare.add(text)
        return True

    def resolve(self):
        """Secondary lines near a header of the same stream and section belong to that report; the others are reports
        of their own, so that a report whose header is not known still fails the run."""
        leaks = any(r.kind == "kmemleak" for r in self.reports) or any(b["objects"] or b["end"] for b in self.blocks
                                                                         if b["end"] != "unavailable")
        for stream, index, section, ts, text in self.secondaries:
            if text.startswith("kmemleak:"):
                if leaks:
                    continue
                kind = "kmemleak"
            else:
                pos = self.headers[stream]
                lo = bisect.bisect_left(pos, (index - AFTER_HEADER,))
                hi = bisect.bisect_right(pos, (index + BEFORE_HEADER + 1,))
                if any(sec == section for _, sec in pos[lo:hi]):
                    continue
                kind = "KASAN" if text.startswith("KASAN:") else "stack trace"
            if self.fresh(stream, ts, text, section):
                self.reports.append(Report(kind, text, section, ts, stream))

    def dump_section(self, ts):
        """The place of a report only the closing dmesg dump has (its level kept it off the console): the suite whose
        console messages surround its timestamp, else `only in the closing dmesg dump`."""
        times = [t for t, _ in self.console_ts]
        i = bisect.bisect_right(times, ts) if ts is not None else 0
        if 0 < i < len(times) and self.console_ts[i - 1][1] == self.console_ts[i][1]:
            return self.console_ts[i][1]
        return "only in the closing dmesg dump"


def read_conformance(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


SUMMARY = "P2PMM-SUMMARY "


def guest_suites(args, wanted, expected, vm_log, vm=""):
    """The rows of the guest suites of one VM boot (its log `vm_log`), then `kernel log (outside suites)`, `kmemleak
    after the suites` and (when any failed) `kernel log: KUnit at other module loads`; `vm` names a boot other than
    the default one in those rows' titles."""
    tag = f" [{vm} VM]" if vm else ""
    outside, kmemleak = Suite(OUTSIDE + tag, counts=False), Suite(KMEMLEAK_AFTER + tag, counts=False)
    try:
        log = GuestLog(open(vm_log, errors="replace").read().splitlines())
    except OSError:
        s = Suite("vm" + tag)
        s.fail(f"no VM log at {vm_log}")
        return [s]
    kernel = f"kernel: {log.sanitizers or 'unknown (no P2PMM-SANITIZERS line)'}"
    suites = {}
    for name in wanted:
        s = suites[name] = Suite(name)
        s.notes.append(kernel)
        info = log.suites.get(name)
        if info is None:
            s.fail("suite never started (guest crashed or hung before it)")
            continue
        parse_ktap(info["body"], s)
        # A measurement a test wants in the summary: a line "P2PMM-SUMMARY <text>" in its output.
        s.notes += [line.split(SUMMARY, 1)[1].strip() for line in info["body"] if SUMMARY in line]
        if info["end"] is None:
            s.fail("suite did not finish (guest crashed or hung)")
        else:
            rc, secs = info["end"]
            s.secs, s.ran = f"{secs}s" if secs else "", True
            if rc != 0 and s.failed == 0:
                s.fail(f"suite exited rc={rc} without a failed test line")
        # A detector suite provokes a report and prints no test result.
        if not s.results and name not in expected:
            s.fail("ran no test")
    if "kunit" in log.suites and "kunit" in suites:
        top = {r.name: r for r in suites["kunit"].results if r.indent == 0}
        for name in KUNIT_SUITES:
            if name not in top:
                suites["kunit"].fail(f"KUnit suite {name} printed no result line")
            elif top[name].outcome == "skipped":
                suites["kunit"].fail(f"KUnit suite {name} was skipped: {top[name].line}")
    if "hmm-conformance" in suites and "hmm-conformance" in log.suites:
        check_conformance(args.conformance_list, suites["hmm-conformance"], suites.get("hmm-baseline"))

    for r in log.reports:
        if r.section in suites:
            suites[r.section].report(r.kind, r.text)
        elif r.section == KMEMLEAK_AFTER:
            kmemleak.report(r.kind, r.text)
        else:
            where = f"in suite {r.section}, not requested" if r.section in log.suites else r.section
            outside.report(r.kind, f"{r.text} ({where})")
    for line in log.teardown:
        if line.endswith("failed"):
            outside.fail(line)
    if not log.done:
        outside.fail("guest did not reach P2PMM-DONE: panic, hang or timeout (see the VM log)")
    elif not log.dump_done:
        outside.fail("the closing dmesg dump (P2PMM-DMESG-BEGIN/END) is missing or cut")

    closing = [b for b in log.blocks if b["section"] == KMEMLEAK_AFTER and b["end"] is not None]
    kmemleak_on = "kmemleak" in (log.sanitizers or "").split()
    if closing and closing[-1]["end"] == "unavailable":
        if kmemleak_on:
            kmemleak.fail("kmemleak is on (P2PMM-SANITIZERS) but the scan found no /sys/kernel/debug/kmemleak")
        else:
            kmemleak.notes.append("kmemleak is not in this kernel")
    elif closing:
        kmemleak.notes.insert(0, f"scanned after unloading every module: leaks={closing[-1]['end']}")
    elif not log.done:
        kmemleak.notes.append("no scan: the guest did not finish")
    elif kmemleak_on:
        kmemleak.fail("kmemleak scan did not run: kmemleak is on but no P2PMM-KMEMLEAK-END after the suites")
    else:
        kmemleak.fail("kmemleak scan did not run: no P2PMM-KMEMLEAK-END after the suites")

    # KUnit suites run at every load of their module: a module another suite loads (p2pmm_mirror, by kselftest and
    # hmm-conformance) runs them again, and a suite failing there fails the run too. The closing dmesg dump holds
    # every load's KTAP, the kunit suite's own among them, which are not counted twice.
    late = Suite("kernel log: KUnit at other module loads" + tag, counts=False)
    failed = [m.group("suite") for m in map(SUITE_RESULT.match, log.dump) if m and m.group("not")]
    if "kunit" in log.suites:
        for m in map(SUITE_RESULT.match, log.suites["kunit"]["body"]):
            if m and m.group("not") and m.group("suite") in failed:
                failed.remove(m.group("suite"))
    for name in failed:
        late.fail(f"KUnit suite {name} failed when its module was loaded outside the kunit suite")
    return list(suites.values()) + [outside, kmemleak] + ([late] if late.failed else [])


def check_conformance(path, conf, base):
    """Every listed case passes against p2pmm_mirror, and so does every case upstream test_hmm passes."""
    outcomes = {r.name: r for r in conf.results if not r.parent}
    try:
        listed = read_conformance(path)
    except OSError as e:
        conf.fail(f"cannot read the conformance list: {e}")
        listed = []
    listed_set = set(listed)
    # (A failed case is named by its FAILED line.)
    for name in listed:
        r = outcomes.get(name)
        if r is None:
            conf.fail(f"listed conformance case has no result: {name}")
        elif r.outcome == "skipped":
            conf.fail(f"listed conformance case skipped: {r.line}")
    if base is None or not base.results:
        return
    passing = {r.name for r in base.results if not r.parent and r.outcome == "passed"}
    missing = sorted(n for n in passing if n not in outcomes or outcomes[n].outcome != "passed")
    conf.notes.append(f"{len(passing) - len(missing)} of {len(passing)} baseline cases pass")
    if missing:
        conf.notes.append(f"upstream test_hmm passes, p2pmm_mirror does not: {', '.join(missing)}")
    for name in missing:
        # A listed case that does not pass, and a case that failed, are named above already.
        if name not in listed_set and not (name in outcomes and outcomes[name].outcome == "failed"):
            conf.fail(f"passes against upstream test_hmm (hmm-baseline) but not against p2pmm_mirror: {name}")


def detector(value):
    suite, _, kind = value.partition("=")
    if not suite or kind not in KINDS:
        raise argparse.ArgumentTypeError(f"expected SUITE=KIND with KIND one of {', '.join(KINDS)}: {value!r}")
    return suite, kind


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host-log")
    ap.add_argument("--vm-log")
    ap.add_argument("--suites", default="", help="guest suites that were requested, comma separated")
    ap.add_argument("--scale-log", help="log of the scale VM (scripts/vm.sh with P2PMM_TOPOLOGY=scale)")
    ap.add_argument("--scale-suites", default="", help="guest suites requested of the scale VM, comma separated")
    ap.add_argument("--versions", help="file with the toolchain versions to print")
    ap.add_argument("--expect-hmm-baseline-pass", type=int, default=0)
    ap.add_argument("--conformance-list", default=CONFORMANCE_LIST,
                    help="hmm-tests cases p2pmm_mirror must pass in hmm-conformance (default: %(default)s)")
    ap.add_argument("--expect-detector", type=detector, action="append", default=[], metavar="SUITE=KIND",
                    help="SUITE provokes a KIND report on purpose: pass iff it did and nothing else failed")
    args = ap.parse_args()
    expected = dict(args.expect_detector)

    suites = []
    if args.host_log:
        suites += host_suites(args.host_log)
    wanted = [s for s in args.suites.split(",") if s]
    if args.vm_log and wanted:
        suites += guest_suites(args, wanted, expected, args.vm_log)
    scale = [s for s in args.scale_suites.split(",") if s]
    if args.scale_log and scale:
        suites += guest_suites(args, scale, expected, args.scale_log, vm="scale")
    for s in suites:
        if s.name == "hmm-baseline" and s.passed < args.expect_hmm_baseline_pass and not s.failed:
            s.fail(f"only {s.passed} passed, expected at least {args.expect_hmm_baseline_pass}")

    print()
    print(f"{'suite':<40} {'pass':>5} {'fail':>5} {'skip':>5} {'time':>7}")
    print("-" * 66)
    for s in suites:
        passed, skipped = (s.passed, s.skipped) if s.counts else ("", "")
        print(f"{TITLES.get(s.name, s.name):<40} {passed:>5} {s.failed:>5} {skipped:>5} {s.secs:>7}")
        for n in s.notes[:MAX_NOTES]:
            print(f"    {n}")
        if len(s.notes) > MAX_NOTES:
            print(f"    ... and {len(s.notes) - MAX_NOTES} more")
    print("-" * 66)
    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites)
    skipped = sum(s.skipped for s in suites)

    status = 1 if failed else 0
    if expected:
        by_name = {s.name: s for s in suites}
        fired, explained = 0, 0
        for suite, kind in args.expect_detector:
            s = by_name.get(suite)
            if s is not None and s.ran and kind in s.report_kinds:
                print(f"detector {kind}: fired in {suite} and failed the run")
                fired += 1
                explained += s.report_kinds.count(kind)
                continue
            why = ("suite not requested" if s is None else "the suite did not run to its end" if not s.ran else
                   f"no {kind} report in it" + (f"; it had {', '.join(sorted(set(s.report_kinds)))}"
                                                if s.report_kinds else ""))
            print(f"detector {kind}: did NOT fail {suite} ({why})")
        status = 0 if fired == len(args.expect_detector) and failed == explained else 1
        if failed > explained:
            print(f"detectors: {failed - explained} other failures above fail the run")
        elif status == 0:
            print(f"detectors: each fired; the {failed} failures above are theirs")
        # What this mode tests is the detectors: one result each, and every failure they do not explain.
        passed, skipped = fired, 0
        failed = len(args.expect_detector) - fired + max(failed - explained, 0)
    if args.versions:
        try:
            for l in open(args.versions).read().splitlines():
                print(f"  {l}")
        except OSError:
            pass
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return status


if __name__ == "__main__":
    sys.exit(main())
