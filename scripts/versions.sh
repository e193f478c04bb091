#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Print the exact versions this run used (kernel, Rust, bindgen, clang, QEMU), one per line.
. "$(dirname "$0")/lib.sh"
echo "kernel:  $(cat "$OUT/kernelrelease$FLAVOUR" 2>/dev/null) (Debian linux-source-7.3 $(in_chroot dpkg-query -W -f '${Version}' linux-source-7.3))"
echo "rustc:   $(in_chroot rustc --version)"
echo "bindgen: $(in_chroot bindgen --version 2>&1 | head -1)"
echo "clang:   $(in_chroot clang --version | head -1)"
echo "qemu:    $(in_chroot qemu-system-x86_64 --version | head -1)"
echo "host:    $(rustc --version 2>/dev/null || echo 'no host rustc') (host-side crates only)"
