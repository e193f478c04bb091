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
