#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Fails when the modules of a Rust crate import each other in a circle.

Usage: import_cycles.py CRATE_ROOT.rs [CRATE_ROOT.rs ...]

A crate root declares its modules (`mod x;` or `pub mod x;`, with or without `#[path = "..."]`); each
module is one file. Module A imports module B when A's code (comments left out) names `crate::B`,
directly or in a `use crate::{...}` group. Every circle (a strongly connected component of more than
one module) is printed as `import circle in ROOT: a -> b -> ... -> a`, and the exit status is 1 if
there is one. Layering is what keeps files readable one at a time: a file may rely on the files
below it, never on one that relies on it (issue 13; `Documentation/p2pmm/index.rst` draws the
layers).
"""
import os
import re
import sys

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;")
PATH_ATTR = re.compile(r'^\s*#\[path\s*=\s*"([^"]+)"\]')


def modules(root):
    """{module name: file path} of the crate whose root file is `root`."""
    base = os.path.dirname(root)
    found = {}
    path = None
    with open(root) as f:
        for line in f:
            m = PATH_ATTR.match(line)
            if m:
                path = m.group(1)
                continue
            m = MOD_DECL.match(line)
            if m:
                name = m.group(1)
                found[name] = os.path.normpath(os.path.join(base, path or name + ".rs"))
            if line.strip() and not line.strip().startswith("#["):
                path = None
    return found


def strip_comments(text):
    """The text without `//` comments (doc comments included) and `/* */` blocks."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def use_groups(text):
    """The first path segments of every `use crate::{...};` group's items (nested groups too)."""
    for m in re.finditer(r"use\s+crate::\{(.*?)\};", text, flags=re.S):
        depth, item = 0, ""
        for ch in m.group(1) + ",":
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                yield item.strip().split("::")[0].strip()
                item = ""
            else:
                item += ch


def imports(mods):
    """{module: set of modules it imports}."""
    graph = {name: set() for name in mods}
    for name, path in mods.items():
        with open(path) as f:
            text = strip_comments(f.read())
        named = set(re.findall(r"\bcrate::(\w+)", text)) | set(use_groups(text))
        graph[name] = {m for m in named if m in mods and m != name}
    return graph


def circles(graph):
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def one_loop(graph, comp):
    """A shortest circle through the first module of `comp`, as a list ending where it starts."""
    start = comp[0]
    members = set(comp)
    prev = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp + [start]


def check(root):
    """The messages for the circles of the crate at `root` (none when it is layered)."""
    graph = imports(modules(root))
    return [
        "import circle in %s: %s (modules of the circle: %s)"
        % (root, " -> ".join(one_loop(graph, comp)), ", ".join(comp))
        for comp in circles(graph)
    ]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    problems = [msg for root in argv[1:] for msg in check(root)]
    for msg in problems:
        print(msg)
    if not problems:
        print("import_cycles: no import circle in %s" % ", ".join(argv[1:]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
