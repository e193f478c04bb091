#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host tests of scripts/doctest_gen.py: rustdoc's rules, the line mapping and the refusals, on small crates written
to a temporary directory. Run by scripts/host-tests.sh; prints a cargo-style `test result:` line for report.py."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "doctest_gen.py")

THING = '''//! A module.

/// A thing.
///
/// # Safety
///
/// ```
/// not_an_example();
/// ```
///
/// # Examples
///
/// ```
/// # let hidden = 2;
/// assert_eq!(hidden, 2);
/// # Ok::<(), Error>(())
/// ```
///
/// ```ignore
/// this is not rust
/// ```
///
/// ```text
/// nor is this
/// ```
///
/// ```no_run
/// let x = 1;
/// assert!(x == 1);
/// ```
pub struct Thing;
'''


class Crate:
    """A crate root declaring `mods` (name -> source) under bind/, in a temporary directory."""

    def __init__(self, mods, declared=None):
        self.dir = tempfile.TemporaryDirectory()
        os.mkdir(os.path.join(self.dir.name, "bind"))
        root = []
        for name, src in mods.items():
            with open(os.path.join(self.dir.name, "bind", f"{name}.rs"), "w") as f:
                f.write(src)
        for name in declared if declared is not None else mods:
            root += [f'#[path = "bind/{name}.rs"]', f"pub mod {name};"]
        with open(os.path.join(self.dir.name, "root.rs"), "w") as f:
            f.write("\n".join(root) + "\n")

    def generate(self, unders=("bind",)):
        args = [a for u in unders for a in ("--under", u)]
        r = subprocess.run([sys.executable, GEN, "--root", self.dir.name, "--crate", "root.rs", "--suite", "s",
                            "--out", "gen.rs"] + args, capture_output=True, text=True)
        out = ""
        path = os.path.join(self.dir.name, "gen.rs")
        if os.path.exists(path):
            with open(path) as f:
                out = f.read()
        self.dir.cleanup()
        return r.returncode, out, r.stderr


class DoctestGen(unittest.TestCase):
    def test_examples_become_tests_by_rustdocs_rules(self):
        rc, out, err = Crate({"thing": THING}).generate()
        self.assertEqual(rc, 0, err)
        # The example under `# Examples`, its hidden line compiled, returning Result (it ends with `(())`).
        self.assertIn("fn thing_rs_13() -> core::result::Result", out)
        self.assertIn("\nlet hidden = 2;\n", out)
        # Not under `# Examples`, `ignore` and `text`: no test.
        self.assertNotIn("not_an_example", out)
        self.assertNotIn("this is not rust", out)
        self.assertNotIn("nor is this", out)
        # `no_run`: compiled, and the test reports itself skipped.
        self.assertIn("fn thing_rs_27()", out)
        self.assertIn('skip(c"no_run: compile-only example (bind/thing.rs:27)")', out)
        self.assertEqual(len(re.findall(r"#\[test\]", out)), 2)

    def test_assertions_report_their_source_line(self):
        rc, out, err = Crate({"thing": THING}).generate()
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        body = lines.index("assert_eq!(hidden, 2);") + 1
        start = next(i for i, l in enumerate(lines) if "fn thing_rs_13()" in l)
        diff = int(re.search(r'kunit_assert_eq!\("thing_rs_13", c"bind/thing.rs", \((\d+)\)', out).group(1))
        self.assertLess(start, body)
        # kunit_assert_eq! reports `line!() - diff`: the assertion's line in bind/thing.rs (15).
        self.assertEqual(body - diff, 15)

    def test_panicking_code_is_refused_with_its_place(self):
        bad = "/// # Examples\n///\n/// ```\n/// let v: Option<u8> = None;\n/// v.unwrap();\n/// ```\npub struct Bad;\n"
        rc, out, err = Crate({"bad": bad}).generate()
        self.assertNotEqual(rc, 0)
        self.assertIn("bind/bad.rs:5", err)
        self.assertIn("unwrap", err)

    def test_a_crate_without_examples_is_an_error(self):
        # A generator that finds nothing must not look like a suite that passes.
        rc, _, err = Crate({"plain": "/// No examples.\npub struct P;\n"}).generate()
        self.assertNotEqual(rc, 0)
        self.assertIn("no `# Examples` doctest", err)

    def test_unsafe_is_refused(self):
        bad = "/// # Examples\n///\n/// ```\n/// unsafe { core::hint::unreachable_unchecked() }\n/// ```\npub struct B;\n"
        rc, _, err = Crate({"bad": bad}).generate()
        self.assertNotEqual(rc, 0)
        self.assertIn("unsafe", err)

    def test_example_naming_a_module_the_crate_lacks_is_left_out(self):
        uses = "/// # Examples\n///\n/// ```\n/// use crate::other::X;\n/// ```\npub struct U;\n"
        mods = {"thing": THING, "uses": uses, "other": "pub struct X;\n"}
        rc, out, err = Crate(mods, declared=["thing", "uses"]).generate()
        self.assertEqual(rc, 0, err)
        self.assertIn("fn thing_rs_13", out)
        self.assertNotIn("fn uses_rs_3", out)
        rc, out, err = Crate(mods).generate()
        self.assertEqual(rc, 0, err)
        self.assertIn("fn uses_rs_3", out)

    def test_files_under_any_given_directory_are_read(self):
        # A module outside bind/ (as include/rust/p2pmm.rs is for p2pmm.ko) counts only when named.
        c = Crate({"thing": THING})
        os.mkdir(os.path.join(c.dir.name, "extra"))
        with open(os.path.join(c.dir.name, "extra", "more.rs"), "w") as f:
            f.write(THING)
        with open(os.path.join(c.dir.name, "root.rs"), "a") as f:
            f.write('#[path = "extra/more.rs"]\npub mod more;\n')
        rc, out, err = c.generate(unders=("bind", "extra"))
        self.assertEqual(rc, 0, err)
        self.assertIn("fn thing_rs_13", out)
        self.assertIn("fn more_rs_13", out)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print(f"test result: {'ok' if failed == 0 else 'FAILED'}. {result.testsRun - failed} passed; {failed} failed; "
          f"{len(result.skipped)} ignored")
    sys.exit(1 if failed else 0)
