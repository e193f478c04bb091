#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: build what is missing, run the host benchmarks of the portable core, boot the VM once, run the
# same benchmarks against p2pmm and against upstream C in that boot plus p2pmm's oversubscription and P2P DMA
# benchmarks, then boot the scale VM for small against large providers, and print figures with ratios. Figures
# only: nothing here fails on speed; it exits 1 if a benchmark's data check fails or its output is missing or cut
# short.
# The benchmarks measure the production configuration (scripts/p2pmm.config without scripts/sanitizers.config: no
# KASAN, kmemleak, lockdep or DEBUG_VM), with its own tree, modules and initramfs; `make test` keeps its own.
export P2PMM_KERNEL=bench
. "$(dirname "$0")/lib.sh"
need_root bench
bash "$REPO/scripts/toolchain.sh"
bash "$REPO/scripts/kernel.sh"
bash "$REPO/scripts/modules.sh"
bash "$REPO/scripts/initramfs.sh"
# Host side first (no VM, no root needed): the portable core's range_index. Its table is printed with the rest.
log "host benchmarks (scripts/host-bench.sh); log: $OUT/host-bench.log"
bash "$REPO/scripts/host-bench.sh" >"$OUT/host-bench.log" 2>&1 || die "host benchmarks failed; see $OUT/host-bench.log"
VM_TIMEOUT=${VM_TIMEOUT:-1200} bash "$REPO/scripts/vm.sh" bench bench-migration,bench-oversub,bench-p2p
# Cost against provider size needs the scale VM's 16 GiB BAR: a second boot, after the first.
VM_TIMEOUT=${VM_TIMEOUT:-1200} P2PMM_TOPOLOGY=scale bash "$REPO/scripts/vm.sh" bench bench-scale
finished=1
grep -q '^P2PMM-DONE' "$OUT/vm-bench.log" || finished=0
grep -q '^P2PMM-DONE' "$OUT/vm-bench-scale.log" || finished=0
echo
echo "guest kernel: $(cat "$OUT/kernelrelease-bench"), production configuration (scripts/p2pmm.config: no sanitizers," \
	"no lockdep, no DEBUG_VM)"
echo
echo "host benchmarks (scripts/host-bench.sh: mm/core on the host, cargo --release, not under TCG)"
cat "$OUT/host-bench.log"
# Every table, then one `bench: ...` line per failed data check or missing output, and exit status 1 if any
# (scripts/bench_report.py; its host test is scripts/bench_report_test.py). Printed even for a guest that did not
# finish: what it did print, and what is missing, is the first clue.
report_rc=0
python3 "$REPO/scripts/bench_report.py" "$OUT/vm-bench.log" "$OUT/vm-bench-scale.log" || report_rc=$?
[ "$finished" = 1 ] ||
	die "a guest did not finish (panic, hang or timeout); see $OUT/vm-bench.log and $OUT/vm-bench-scale.log"
[ "$report_rc" = 0 ] || die "a benchmark's data check failed or its output is missing (the 'bench:' lines above); log: $OUT/vm-bench.log"
