#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host tests of scripts/import_cycles.py on small crates written here: layered ones pass, circles fail and are
named, and what is not an import (comments, other crates, a module naming itself) is not counted. Run by
scripts/host-tests.sh."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import import_cycles  # noqa: E402


class Crate:
    """A crate in a temporary directory: `files` maps a path (relative to the root's directory) to its text."""

    def __init__(self, root_text, files):
        self.dir = tempfile.TemporaryDirectory()
        for path, text in dict(files, **{"lib.rs": root_text}).items():
            full = os.path.join(self.dir.name, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        self.root = os.path.join(self.dir.name, "lib.rs")

    def run(self):
        return subprocess.run([sys.executable, os.path.join(HERE, "import_cycles.py"), self.root],
                              capture_output=True, text=True)


ROOT = '//! A crate.\n#[path = "bind/low.rs"]\npub mod low;\npub mod mid;\npub(crate) mod top;\nmod other;\n'


class ImportCycles(unittest.TestCase):
    def test_layered_crate_passes(self):
        c = Crate(ROOT, {
            "bind/low.rs": "pub fn f() {}\n",
            "mid.rs": "use crate::low;\n",
            "top.rs": "use crate::{\n    low::f,\n    mid::{self, g},\n};\n",
            "other.rs": "fn x() { crate::top::y(); }\n",
        })
        r = c.run()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no import circle", r.stdout)

    def test_circle_fails_and_names_its_modules(self):
        c = Crate(ROOT, {
            "bind/low.rs": "fn f() { crate::top::g() }\n",
            "mid.rs": "use crate::low;\n",
            "top.rs": "use crate::{mid::{self, g}};\n",
            "other.rs": "",
        })
        r = c.run()
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("low -> top -> mid -> low", r.stdout)
        self.assertIn("modules of the circle: low, mid, top", r.stdout)

    def test_nested_use_group_is_an_import(self):
        c = Crate(ROOT, {
            "bind/low.rs": "use crate::{a::{b, c}, mid::{x::{y, z}}};\n",
            "mid.rs": "use crate::low;\n",
            "top.rs": "",
            "other.rs": "",
        })
        self.assertEqual(c.run().returncode, 1)

    def test_comments_other_crates_and_self_are_not_imports(self):
        c = Crate(ROOT, {
            "bind/low.rs": "/// See `crate::mid::x`.\n// crate::mid\n/* crate::mid */\nuse kernel::mid;\n"
                           "fn f() { crate::low::g() }\n",
            "mid.rs": "use crate::low;\n",
            "top.rs": "",
            "other.rs": "",
        })
        r = c.run()
        self.assertEqual(r.returncode, 0, r.stdout)

    def test_circles_finds_each_component(self):
        graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
        self.assertEqual(sorted(import_cycles.circles(graph)), [["a", "b"], ["c", "d", "e"]])
        self.assertEqual(import_cycles.one_loop(graph, ["c", "d", "e"]), ["c", "d", "e", "c"])

    def test_no_argument_is_a_usage_error(self):
        r = subprocess.run([sys.executable, os.path.join(HERE, "import_cycles.py")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
