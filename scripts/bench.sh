#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: build what is missing, boot the VM once, run the same benchmarks against p2pmm and against
# upstream C in that boot, and print figures with ratios. Figures only: nothing here passes or fails on speed.
. "$(dirname "$0")/lib.sh"
need_root bench
bash "$REPO/scripts/toolchain.sh"
bash "$REPO/scripts/kernel.sh"
bash "$REPO/scripts/modules.sh"
bash "$REPO/scripts/initramfs.sh"
VM_TIMEOUT=${VM_TIMEOUT:-1200} bash "$REPO/scripts/vm.sh" bench bench-migration
grep -q '^P2PMM-DONE' "$OUT/vm-bench.log" || die "the guest did not finish; see $OUT/vm-bench.log"
python3 "$REPO/scripts/bench_report.py" "$OUT/vm-bench.log"
