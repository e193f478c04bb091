#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: build what is missing, boot the default VM and show the PCI tree, the P2P memory providers and p2pmm.
. "$(dirname "$0")/lib.sh"
need_root run
bash "$REPO/scripts/toolchain.sh"
bash "$REPO/scripts/kernel.sh"
bash "$REPO/scripts/modules.sh"
bash "$REPO/scripts/initramfs.sh"
bash "$REPO/scripts/vm.sh" run
grep -q '^P2PMM-DONE' "$OUT/vm-run.log" || die "the guest did not finish; see $OUT/vm-run.log"
# The demo verifies its data: a failed check (or a demo that did not run) fails `make run`.
tr -d '\r' <"$OUT/vm-run.log" | grep -q '^P2PMM-DEMO rc=0$' || die "the demo's data checks failed; see $OUT/vm-run.log"
