#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: build what is missing, run the host benchmarks of the portable core, boot the VM once, run the
# same benchmarks against p2pmm and against upstream C in that boot plus p2pmm's oversubscription benchmark, and
# print figures with ratios. Figures only: nothing here fails on speed; it fails if a benchmark's data check fails.
. "$(dirname "$0")/lib.sh"
need_root bench
bash "$REPO/scripts/toolchain.sh"
bash "$REPO/scripts/kernel.sh"
bash "$REPO/scripts/modules.sh"
bash "$REPO/scripts/initramfs.sh"
# Host side first (no VM, no root needed): the portable core's range_index. Its table is printed with the rest.
log "host benchmarks (scripts/host-bench.sh); log: $OUT/host-bench.log"
bash "$REPO/scripts/host-bench.sh" >"$OUT/host-bench.log" 2>&1 || die "host benchmarks failed; see $OUT/host-bench.log"
VM_TIMEOUT=${VM_TIMEOUT:-1200} bash "$REPO/scripts/vm.sh" bench bench-migration,bench-oversub
grep -q '^P2PMM-DONE' "$OUT/vm-bench.log" || die "the guest did not finish; see $OUT/vm-bench.log"
echo
echo "host benchmarks (scripts/host-bench.sh: mm/core on the host, cargo --release, not under TCG)"
cat "$OUT/host-bench.log"
python3 "$REPO/scripts/bench_report.py" "$OUT/vm-bench.log"
