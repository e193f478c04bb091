#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the host and guest logs of one `make test` into one summary table; exits non-zero on any failure.

A run fails on: a failed test in any suite, a suite that ran no test or did not finish, a guest that did not
power off cleanly (panic, hang, timeout), or any kernel splat (WARNING, BUG, lockdep, KASAN, ...) in the log.
"""
import argparse
import re
import sys

RESULT = re.compile(r"^(?P<indent>\s*)(?P<not>not )?ok \d+(?: (?P<name>[^#]*?))?\s*(?:#\s*(?P<directive>\S+)(?P<reason>.*))?$")
SPLATS = re.compile(
    r"WARNING:|BUG:|Oops|Kernel panic|general protection fault|cut here|Call Trace:|"
    r"possible circular locking|possible recursive locking|inconsistent lock state|DEBUG_LOCKS_WARN_ON|"
    r"suspicious RCU usage|KASAN:|UBSAN:|INFO: task .* blocked|detected stall|soft lockup|hard LOCKUP"
)
# The KUnit suites of the modules (mm/tests.rs; scripts/doctest_gen.py): they run at every load of their module,
# also outside the `kunit` guest suite, so their results in the closing dmesg dump are checked too.
KUNIT_SUITES = ("p2pmm", "p2pmm_doctests", "p2pmm_mirror_doctests")
SUITE_RESULT = re.compile(rf"^(?P<not>not )?ok \d+ (?P<suite>{'|'.join(KUNIT_SUITES)})(?:\s|$)")
TITLES = {
    "host": "host: cargo test (portable core)",
    "lint": "host: fmt + clippy (host and module)",
    "kunit": "kunit: p2pmm.ko + p2pmm_mirror.ko",
    "kselftest": "kselftest: p2pmm",
    "hmm-baseline": "hmm-baseline (upstream test_hmm)",
    "hmm-conformance": "hmm-conformance (p2pmm_mirror)",
}


class Suite:
    def __init__(self, name):
        self.name, self.passed, self.failed, self.skipped = name, 0, 0, 0
        self.notes, self.secs = [], ""
        self.passed_names = set()

    def add(self, outcome):
        setattr(self, outcome, getattr(self, outcome) + 1)


def count_ktap(lines, suite):
    """Counts leaf results of (nested) KTAP/TAP: a result line directly after a deeper one closes a parent."""
    prev_indent = None
    for line in lines:
        m = RESULT.match(line)
        if not m:
            continue
        indent = len(m.group("indent").expandtabs())
        is_parent = prev_indent is not None and prev_indent > indent
        prev_indent = indent
        if is_parent:
            if m.group("not") and not suite.failed:
                suite.notes.append(f"parent failed: {line.strip()}")
            continue
        directive = (m.group("directive") or "").upper()
        if directive == "SKIP":
            suite.add("skipped")
        elif m.group("not") and directive != "TODO":
            suite.add("failed")
            suite.notes.append(f"FAILED: {line.strip()}")
        else:
            suite.add("passed")
            suite.passed_names.add((m.group("name") or "").strip())


def host_suites(path):
    test, lint = Suite("host"), Suite("lint")
    try:
        text = open(path, errors="replace").read().splitlines()
    except OSError:
        test.add("failed")
        test.notes.append(f"no host log at {path}")
        return [test, lint]
    for line in text:
        m = re.match(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", line)
        if m:
            test.passed += int(m.group(1))
            test.failed += int(m.group(2))
            test.skipped += int(m.group(3))
        m = re.match(r"^P2PMM-HOST (\S+) rc=(\d+)", line)
        if m:
            step, rc = m.group(1), int(m.group(2))
            if step == "test":
                if rc != 0 and test.failed == 0:
                    test.add("failed")
                    test.notes.append(f"cargo test exited {rc}")
            else:
                lint.add("passed" if rc == 0 else "failed")
                if rc:
                    lint.notes.append(f"{step} failed (rc={rc}); see the host log")
    if test.passed == 0 and test.failed == 0:
        test.add("failed")
        test.notes.append("cargo test ran no test")
    return [test, lint]


def guest_suites(path, wanted):
    suites, splats = [], []
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        s = Suite("vm")
        s.add("failed")
        s.notes.append(f"no VM log at {path}")
        return [s], ["(no log)"], False, []
    done = any(l.startswith("P2PMM-DONE") for l in lines)
    for name in wanted:
        s = Suite(name)
        suites.append(s)
        try:
            begin = lines.index(f"P2PMM-SUITE-BEGIN {name}")
        except ValueError:
            s.add("failed")
            s.notes.append("suite never started (guest crashed or hung before it)")
            continue
        end, rc = None, None
        for i in range(begin + 1, len(lines)):
            m = re.match(rf"^P2PMM-SUITE-END {re.escape(name)} rc=(\d+)(?: secs=(\S+))?", lines[i])
            if m:
                end, rc, s.secs = i, int(m.group(1)), (m.group(2) or "") + "s"
                break
        body = lines[begin + 1 : end if end is not None else len(lines)]
        count_ktap(body, s)
        if end is None:
            s.add("failed")
            s.notes.append("suite did not finish (guest crashed or hung)")
        elif rc != 0 and s.failed == 0:
            s.add("failed")
            s.notes.append(f"suite exited rc={rc} without a failed test line")
        if s.passed + s.failed == 0:
            s.add("failed")
            s.notes.append("ran no test")
    # KUnit suites run at every load of their module: a module another suite loads (p2pmm_mirror, by kselftest and
    # hmm-conformance) runs them again, and a suite failing there fails the run too. The closing dmesg dump holds
    # every load's KTAP, the kunit suite's own among them, which are not counted twice.
    def failed_suites(part, strip):
        out = []
        for line in part:
            m = SUITE_RESULT.match(re.sub(r"^\[ *\d+\.\d+\] ", "", line) if strip else line)
            if m and m.group("not"):
                out.append(m.group("suite"))
        return out

    def section(begin, end):
        try:
            i = lines.index(begin)
        except ValueError:
            return []
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith(end)), len(lines))
        return lines[i + 1 : j]

    late_kunit = failed_suites(section("P2PMM-DMESG-BEGIN", "P2PMM-DMESG-END"), True)
    if "kunit" in wanted:
        for name in failed_suites(section("P2PMM-SUITE-BEGIN kunit", "P2PMM-SUITE-END kunit"), False):
            if name in late_kunit:
                late_kunit.remove(name)
    # The console and the closing dmesg dump both carry each kernel message: count each once.
    seen = set()
    for line in lines:
        if SPLATS.search(line):
            bare = re.sub(r"^\[ *\d+\.\d+\] ", "", line.strip())
            if bare not in seen:
                seen.add(bare)
                splats.append(bare)
    return suites, splats, done, late_kunit


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host-log")
    ap.add_argument("--vm-log")
    ap.add_argument("--suites", default="", help="guest suites that were requested, comma separated")
    ap.add_argument("--versions", help="file with the toolchain versions to print")
    ap.add_argument("--expect-hmm-baseline-pass", type=int, default=0)
    args = ap.parse_args()

    suites, splats, done, late_kunit = [], [], True, []
    if args.host_log:
        suites += host_suites(args.host_log)
    wanted = [s for s in args.suites.split(",") if s]
    if args.vm_log and wanted:
        guest, splats, done, late_kunit = guest_suites(args.vm_log, wanted)
        suites += guest
    for s in suites:
        if s.name == "hmm-baseline" and s.passed < args.expect_hmm_baseline_pass and not s.failed:
            s.add("failed")
            s.notes.append(f"only {s.passed} passed, expected at least {args.expect_hmm_baseline_pass}")

    # Conformance is measured against the baseline of the same boot: name the baseline cases it does not pass.
    by_name = {s.name: s for s in suites}
    if "hmm-baseline" in by_name and "hmm-conformance" in by_name:
        base, conf = by_name["hmm-baseline"], by_name["hmm-conformance"]
        missing = sorted(base.passed_names - conf.passed_names)
        conf.notes.append(f"{len(base.passed_names) - len(missing)} of {len(base.passed_names)} baseline cases pass")
        if missing:
            conf.notes.append(f"not yet passing against p2pmm_mirror: {', '.join(n.split('.')[-1] for n in missing)}")

    print()
    print(f"{'suite':<40} {'pass':>5} {'fail':>5} {'skip':>5} {'time':>7}")
    print("-" * 66)
    for s in suites:
        print(f"{TITLES.get(s.name, s.name):<40} {s.passed:>5} {s.failed:>5} {s.skipped:>5} {s.secs:>7}")
        for n in s.notes[:20]:
            print(f"    {n}")
    extra_failures = 0
    if args.vm_log and wanted:
        print(f"{'kernel log: WARN/BUG/lockdep/KASAN':<40} {'':>5} {len(splats):>5}")
        for l in splats[:20]:
            print(f"    {l}")
        extra_failures += len(splats)
        if late_kunit:
            print(f"{'kernel log: KUnit at other module loads':<40} {'':>5} {len(late_kunit):>5}")
            for n in late_kunit[:20]:
                print(f"    KUnit suite {n} failed when its module was loaded outside the kunit suite")
            extra_failures += len(late_kunit)
        if not done:
            print("    guest did not reach P2PMM-DONE: panic, hang or timeout (see the VM log)")
            extra_failures += 1
    print("-" * 66)
    if args.versions:
        try:
            for l in open(args.versions).read().splitlines():
                print(f"  {l}")
        except OSError:
            pass
    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites) + extra_failures
    skipped = sum(s.skipped for s in suites)
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
