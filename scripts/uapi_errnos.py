#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes, as a C header, the errnos Documentation/p2pmm/uapi.rst documents for each call of /dev/p2pmm.

The uAPI fuzzer (tests/kselftest/p2pmm_fuzz_test.c) fails on any errno that is not in its call's list, so the
documentation is the specification the kernel is checked against. For each section titled with an ioctl
(P2PMM_IOC_*) or "mmap...", the errnos are the ``E...`` names in its paragraphs that begin with "Errors"; the
errnos of the "Extensible structs" section apply to every ioctl.

    scripts/uapi_errnos.py Documentation/p2pmm/uapi.rst > p2pmm_uapi_errnos.h
"""
import re
import sys


def sections(text):
    """(title, body) for each section: a title line underlined with '=' of the same length."""
    lines = text.splitlines()
    out, title, body = [], None, []
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line and re.fullmatch(r"=+", nxt) and len(nxt) == len(line):
            if title is not None:
                out.append((title, "\n".join(body)))
            title, body = line, []
        elif not re.fullmatch(r"=+", line):
            body.append(line)
    if title is not None:
        out.append((title, "\n".join(body)))
    return out


def errnos(body, errors_only):
    """The ``E...`` names of the body (or of its "Errors" paragraphs), in first-seen order."""
    paras = re.split(r"\n\s*\n", body)
    if errors_only:
        paras = [p for p in paras if p.lstrip().startswith("Errors")]
    seen = []
    for name in re.findall(r"``(E[A-Z0-9]+)``", "\n".join(paras)):
        if name not in seen:
            seen.append(name)
    return seen


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    calls = {}
    common = []
    for title, body in sections(text):
        if title == "Extensible structs":
            common = errnos(body, False)
        elif title.startswith("P2PMM_IOC_"):
            calls[title[len("P2PMM_IOC_"):]] = errnos(body, True)
        elif title.startswith("mmap"):
            calls["MMAP"] = errnos(body, True)
    if not common or "MMAP" not in calls or len(calls) < 9:
        sys.exit(f"uapi_errnos: expected the common errnos, 8 ioctls and mmap in {sys.argv[1]}, got {sorted(calls)}")
    print("/* SPDX-License-Identifier: GPL-2.0 */")
    print(f"/* Generated from {sys.argv[1]} by scripts/uapi_errnos.py: the errnos documented for each call. */")
    print("#include <errno.h>\n")
    print(f"static const int p2pmm_errnos_COMMON[] = {{ {', '.join(common + ['0'])} }};")
    for name, errs in calls.items():
        print(f"static const int p2pmm_errnos_{name}[] = {{ {', '.join(errs + ['0'])} }};")


if __name__ == "__main__":
    main()
