#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turns the `# Examples` doctests of a module's binding files into one KUnit suite (out-of-tree rustdoctest).

Kbuild turns doctests into KUnit only for the in-tree `kernel` crate (rust/Makefile's `rustdoctest`, with
scripts/rustdoc_test_builder.rs and scripts/rustdoc_test_gen.rs). This does the same for one p2pmm module, without
rustdoc: it reads the crate root, follows its `#[path = "..."] mod name;` declarations to the files under `--under`
(default mm/bind; given more than once, under any of them), extracts every fenced code block under an `# Examples` heading of a `///` or `//!` doc comment,
and writes one Rust file holding a `#[kunit_tests(<suite>)]` module with one `#[test]` fn per example, named
`<file>_rs_<line>` after the file and the line of the opening fence (`mirror_table_rs_123`). The crate root
`include!`s that file (scripts/modules.sh generates it into the build copy; Kbuild sets `--cfg p2pmm_doctests`).

Code blocks follow rustdoc's rules:
  - a fence with no info string, `rust`, or only rustdoc attributes opens a Rust block; any other word (`text`,
    `c`) makes the block not Rust, and it is left out, as rustdoc does;
  - `ignore` blocks are left out (rustdoc neither compiles nor runs them);
  - `no_run` blocks are compiled but not run, as rustdoc does: the KUnit case reports itself skipped
    (`# SKIP no_run: compile-only ...`), so compile-only examples stay visible in the counts. Keep them for what
    truly cannot run in a KUnit test (a bound PCI device, say);
  - `compile_fail`, `should_panic` and `test_harness` have no KUnit meaning: they are errors;
  - a line that is `#` or starts with `# ` (after indentation) is hidden from the docs but compiled without the
    `# `; `##` at the start stands for a literal `#`;
  - a block that defines `fn main` is used as is and `main()` is called; otherwise it becomes the body of a
    function, which returns `Result<(), impl Debug>` when the block ends with `(())` (rustdoc's rule, e.g.
    `Ok::<(), Error>(())`), so `?` works; 7.3's `#[kunit_tests]` fails a test whose fn returns `Err`.

As in scripts/rustdoc_test_gen.rs, `assert!` and `assert_eq!` are redefined inside each test to call
`kernel::kunit_assert!`/`kunit_assert_eq!` with the doctest's own file and line (the body is copied line for line,
so `line!()` minus a fixed offset is the source line), every test prints `# <name>.location: <file>:<line>`, an
`Err` result is printed before KUnit fails the case, and `kernel::prelude::*` is in scope. The generated file is
therefore not rustfmt-formatted (that would move lines) and scripts/modules.sh leaves it out of its rustfmt check.

Doctests are checked for what cannot work in the kernel: `unsafe` (examples show the safe API; every `unsafe`
stays in mm/bind), and `assert_ne!`, `debug_assert*!`, `panic!`, `todo!`, `unimplemented!`, `unreachable!`,
`.unwrap()` and `.expect(`, which would panic the kernel instead of failing the test (7.3's `#[kunit_tests]` maps
only `assert!` and `assert_eq!` to KUnit, and neither takes a message). A doctest that names `crate::<module>`
the crate does not compile (e.g. `crate::mirror_table` in p2pmm.ko) is left out of that crate's suite only, with
a note on stderr.
"""
import argparse
import os
import re
import sys

DOC = re.compile(r"^(?P<indent>\s*)(?P<kind>///|//!)(?!/)(?P<text>.*)$")
HEADING = re.compile(r"^(?P<level>#{1,6})\s+(?P<title>.*?)\s*#*\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
PATH_ATTR = re.compile(r'^\s*#\[path\s*=\s*"(?P<path>[^"]+)"\]\s*$')
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(?P<name>\w+)\s*;")
ATTR = re.compile(r"^\s*#\[.*\]\s*$")
FN_MAIN = re.compile(r"^\s*(?:pub\s+)?fn\s+main\s*\(\s*\)\s*(?P<ret>->\s*[^{]*?)?\s*\{")
# What rustdoc accepts in an info string besides `rust`; anything else makes the block not Rust.
RUSTDOC_ATTRS = {"ignore", "no_run", "should_panic", "compile_fail", "test_harness", "standalone_crate", "allow_fail"}
FORBIDDEN = [
    (re.compile(r"\bunsafe\b"), "`unsafe` (examples use the safe API; unsafe code stays in mm/bind)"),
    (
        re.compile(r"\b(?:assert_ne|debug_assert(?:_eq|_ne)?|panic|todo|unimplemented|unreachable)!"),
        "a panicking macro (only assert! and assert_eq! map to KUnit; the others would panic the kernel)",
    ),
    (re.compile(r"\.unwrap\(\)|\.expect\("), "`.unwrap()`/`.expect()` (panics the kernel; use `?`)"),
]


class GenError(Exception):
    pass


class Doctest:
    def __init__(self, path, fence_line, attrs, lines):
        self.path, self.fence_line, self.attrs = path, fence_line, attrs
        self.lines = lines  # [(source line number, compiled text)]
        stem = os.path.basename(path)[: -len(".rs")]
        self.name = f"{stem}_rs_{fence_line}"
        self.no_run = "no_run" in attrs

    @property
    def where(self):
        return f"{self.path}:{self.fence_line}"


def crate_modules(root, crate):
    """`{name: file}` of the crate root's out-of-line modules (`#[path]` or `<dir>/<name>.rs`), in order."""
    mods, pending = {}, None
    base = os.path.dirname(crate)
    with open(os.path.join(root, crate)) as f:
        for line in f:
            m = PATH_ATTR.match(line)
            if m:
                pending = m.group("path")
                continue
            m = MOD_DECL.match(line)
            if m:
                rel = pending if pending is not None else m.group("name") + ".rs"
                mods[m.group("name")] = os.path.normpath(os.path.join(base, rel))
                pending = None
                continue
            if not ATTR.match(line):
                pending = None
    return mods


def doc_blocks(text):
    """Consecutive `///` (or `//!`) lines: `[(first line number, [(line number, unindented text)])]`."""
    blocks, cur, kind = [], [], None
    for no, line in enumerate(text.splitlines(), 1):
        m = DOC.match(line)
        if m and (not cur or m.group("kind") == kind):
            cur.append((no, m.group("text")))
            kind = m.group("kind")
            continue
        if cur:
            blocks.append(cur)
        cur, kind = ([(no, m.group("text"))], m.group("kind")) if m else ([], None)
    if cur:
        blocks.append(cur)
    out = []
    for b in blocks:
        # rustdoc removes the indentation all lines share (usually the one space after `///`).
        indents = [len(t) - len(t.lstrip(" ")) for _, t in b if t.strip()]
        cut = min(indents) if indents else 0
        out.append([(no, t[cut:] if t.strip() else "") for no, t in b])
    return out


def info_attrs(info):
    """`(is_rust, attributes)` of a fence's info string, as rustdoc reads it."""
    tokens = [t for t in re.split(r"[\s,]+", info.strip().strip("{}")) if t]
    rust, other, attrs = False, False, set()
    for t in tokens:
        t = t.lstrip(".")
        if t == "rust":
            rust = True
        elif t in RUSTDOC_ATTRS or t.startswith("ignore-") or re.fullmatch(r"edition\d{4}", t):
            attrs.add("ignore" if t.startswith("ignore-") else t)
        else:
            other = True
    return (rust or not other), attrs


def hidden_map(line):
    """rustdoc's hidden-line rule: the text compiled for one line of a code block."""
    trimmed = line.strip()
    if trimmed.startswith("##"):
        return line.replace("##", "#", 1)
    if trimmed.startswith("# "):
        return trimmed[2:]
    if trimmed == "#":
        return ""
    return line


def extract(root, path):
    """Every Rust code block under an `# Examples` heading of `path`'s doc comments."""
    with open(os.path.join(root, path)) as f:
        text = f.read()
    tests = []
    for block in doc_blocks(text):
        examples_level = None
        fence = None  # (marker, indent, fence line number, attrs, rust, lines)
        for no, line in block:
            if fence is not None:
                marker, indent, fno, attrs, rust, lines = fence
                m = FENCE.match(line)
                if m and m.group("fence")[0] == marker[0] and len(m.group("fence")) >= len(marker) \
                        and not m.group("info").strip():
                    if rust and examples_level is not None and "ignore" not in attrs:
                        if not any(c.strip() for _, c in lines):
                            raise GenError(f"{path}:{fno}: empty doctest")
                        tests.append(Doctest(path, fno, attrs, lines))
                    fence = None
                    continue
                # Code lines keep their indentation relative to the fence.
                lines.append((no, hidden_map(line[indent:] if not line[:indent].strip() else line.lstrip())))
                continue
            m = FENCE.match(line)
            if m:
                rust, attrs = info_attrs(m.group("info"))
                fence = (m.group("fence"), len(m.group("indent")), no, attrs, rust, [])
                continue
            m = HEADING.match(line)
            if m:
                level = len(m.group("level"))
                if m.group("title") in ("Examples", "Example"):
                    examples_level = level
                elif examples_level is not None and level <= examples_level:
                    examples_level = None
        if fence is not None:
            raise GenError(f"{path}:{fence[2]}: code block not closed before the doc comment ends")
    for t in tests:
        for bad in ("compile_fail", "should_panic", "test_harness"):
            if bad in t.attrs:
                raise GenError(f"{t.where}: ```{bad} has no KUnit meaning; use ```ignore or rewrite the example")
        for no, code in t.lines:
            bare = re.sub(r"//.*$", "", code)
            for pat, why in FORBIDDEN:
                if pat.search(bare):
                    raise GenError(f"{path}:{no}: doctest uses {why}")
    return tests


def crate_refs(lines):
    """Names `X` of every `crate::X` a doctest mentions, including those inside `crate::{...}` imports."""
    text = "\n".join(re.sub(r"//.*$", "", c) for _, c in lines)
    names = set(re.findall(r"\bcrate::(\w+)", text))
    for m in re.finditer(r"\bcrate::\{", text):
        depth, i, item_start = 1, m.end(), True
        while i < len(text) and depth:
            c = text[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "," and depth == 1:
                item_start = True
            elif depth == 1 and item_start and (c.isalpha() or c == "_"):
                ident = re.match(r"\w+", text[i:]).group(0)
                names.add(ident)
                i += len(ident)
                item_start = False
                continue
            i += 1
    return names


def emit(suite, crate, tests, sources):
    """The generated file's lines."""
    out = [
        "// SPDX-License-Identifier: GPL-2.0",
        "",
        f"// Generated by scripts/doctest_gen.py from the `# Examples` doctests of the files {crate} compiles",
        "// (see that script for the rules); included by the crate root under `cfg(p2pmm_doctests)`. Do not edit:",
        "// the doctests live in the doc comments of:",
    ]
    out += [f"//   {s}" for s in sources]
    out += [
        "// The doctest bodies are copied line for line, so KUnit reports each assertion at its line in the source",
        "// file; that is also why this file is not rustfmt-formatted.",
        "",
        f"#[kunit_tests({suite})]",
        f"mod {suite} {{",
        "    #[allow(unused_imports)]",
        "    use kernel::prelude::*;",
    ]
    for k, t in enumerate(tests):
        code = [c for _, c in t.lines]
        main = next((m for m in map(FN_MAIN.match, code) if m), None)
        returns_result = "\n".join(code).rstrip().endswith("(())")
        inner_ret = " -> core::result::Result<(), impl core::fmt::Debug>" if returns_result else ""
        if main:
            if t.no_run:
                raise GenError(f"{t.where}: a no_run doctest with its own fn main is not supported")
            ret = (main.group("ret") or "").strip()
            outer_ret = f" {ret}" if ret else ""
        else:
            outer_ret = "" if t.no_run else inner_ret
        name, where, diff = t.name, t.where, f"@DIFF{k}@"
        out += [
            "",
            f"    /// `{where}`{' (no_run: compiled, reported skipped)' if t.no_run else ''}.",
            "    #[test]",
            f"    fn {name}(){outer_ret} {{",
            "        // `assert!`/`assert_eq!` go to KUnit with the doctest's own file and line.",
            "        #[allow(unused)]",
            "        macro_rules! assert {",
            "            ($cond:expr $(,)?) => {{",
            f'                ::kernel::kunit_assert!("{name}", c"{t.path}", ({diff}), $cond);',
            "            }};",
            "        }",
            "        #[allow(unused)]",
            "        macro_rules! assert_eq {",
            "            ($left:expr, $right:expr $(,)?) => {{",
            f'                ::kernel::kunit_assert_eq!("{name}", c"{t.path}", ({diff}), $left, $right);',
            "            }};",
            "        }",
            f'        ::kernel::kunit::info(fmt!("    # {name}.location: {where}\\n"));',
        ]
        if main:
            # rustdoc uses a block with its own `fn main` as is and calls it.
            body_start = len(out) + 1
            out += code
            out.append("        main()")
        else:
            out.append("        #[allow(unused)]")
            out.append(f"        fn doctest(){inner_ret} {{")
            body_start = len(out) + 1
            out += code
            out.append("        }")
            if t.no_run:
                out.append(f'        crate::kunit_mm::skip(c"no_run: compile-only example ({where})");')
            elif returns_result:
                out += [
                    "        let result = doctest();",
                    "        if let Err(e) = &result {",
                    f'            ::kernel::kunit::err(fmt!("    # {name}: returned Err({{:?}}) ({where})\\n", e));',
                    "        }",
                    "        result",
                ]
            else:
                out.append("        doctest()")
        out.append("    }")
        # `line!()` of an assertion minus this is its line in the source file.
        offset = body_start - t.lines[0][0]
        out = [l.replace(diff, str(offset)) for l in out]
    out.append("}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="the module source tree (scripts/modules.sh's build copy)")
    ap.add_argument("--crate", required=True, help="crate root, relative to --root (mm/p2pmm.rs)")
    ap.add_argument("--suite", required=True, help="KUnit suite name (p2pmm_doctests)")
    ap.add_argument("--out", help="file to write, relative to --root (default: stdout)")
    ap.add_argument("--under", action="append", help="only the crate's files below this directory (repeatable; "
                    "default mm/bind)")
    ap.add_argument("--list", action="store_true", help="print the doctests, write nothing")
    args = ap.parse_args()

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,254}", args.suite):
        sys.exit(f"doctest_gen: bad suite name {args.suite!r}")
    try:
        mods = crate_modules(args.root, args.crate)
        unders = tuple(os.path.normpath(u) + os.sep for u in (args.under or ["mm/bind"]))
        sources = sorted(p for p in set(mods.values()) if p.startswith(unders))
        tests, left_out = [], []
        for path in sources:
            for t in extract(args.root, path):
                missing = sorted(n for n in crate_refs(t.lines) if n not in mods)
                if missing:
                    left_out.append((t, missing))
                else:
                    tests.append(t)
        if not tests:
            raise GenError(f"no `# Examples` doctest found in the files {args.crate} compiles under "
                           f"{', '.join(args.under or ['mm/bind'])}")
        names = [t.name for t in tests]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise GenError(f"two doctests would be named {sorted(dup)[0]}: files with the same name")
    except (GenError, OSError) as e:
        sys.exit(f"doctest_gen: error: {e}")

    for t, missing in left_out:
        print(f"doctest_gen: {args.suite}: {t.where} left out: {args.crate} has no module "
              f"{', '.join('crate::' + m for m in missing)}", file=sys.stderr)
    if args.list:
        for t in tests:
            print(f"{args.suite} {t.name} {t.where}{' no_run' if t.no_run else ''}")
        return 0
    lines = emit(args.suite, args.crate, tests, sources)
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(os.path.join(args.root, args.out), "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    no_run = sum(t.no_run for t in tests)
    print(f"doctest_gen: {args.suite}: {len(tests)} doctests ({no_run} compile-only) from {len(sources)} files"
          f"{' -> ' + args.out if args.out else ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
