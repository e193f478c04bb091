#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test kernel + initramfs in QEMU (q35, TCG) on p2pmm's default PCIe topology; the guest powers off itself.
#   scripts/vm.sh test [suite,suite...]   run suites; console log -> $OUT/vm-test.log
#   scripts/vm.sh run                     the showcase; console shown live, log -> $OUT/vm-run.log
# Topology (the drawing with PCI names and providers: Documentation/p2pmm/index.rst, *The default VM topology*):
#   pcie.0 ─ rp1 ─ switch up1 ─┬─ dn1: nvme "p2pmm-cmb" with a 64 MiB CMB (p2pdma provider)
#          │                   ├─ dn2: ivshmem-plain, 256 MiB BAR2 (accelerator "VRAM" stand-in), function 0
#          │                   │       + edu (function 1: its copy engine, a DMA master; drivers/sample drives it)
#          │                   ├─ dn3: ivshmem-plain, 64 MiB BAR2 (a peer accelerator on the same switch), function 0
#          │                   │       + ivshmem-plain, 64 MiB BAR2 (function 1: a spare accelerator, unbound at boot;
#          │                   │         the eviction cascade over three managed providers binds it)
#          │                   └─ dn4: nvme "p2pmm-sw" (no CMB; a DMA master that reaches the switch's providers)
#          ├ rp2 ─ nvme "p2pmm-rp2" (no CMB; not P2P-reachable from the switch: q35's host bridge is not whitelisted)
#          ├ rp3 ─ ivshmem-plain "acc3", 128 MiB BAR2 (a second accelerator, on its own root port; the hot-plug
#          │       test removes and re-adds it through QEMU's monitor)
#          └ rp4 ─ empty: the hot-plug test adds a slot here, an nvme "p2pmm-hp" with a 64 MiB CMB (QEMU id
#                  "cmb4", disk node "hpdisk") and an edu as function 1 ("edu4"), removes and re-adds it, and
#                  removes it again; 128 MiB of prefetchable window is reserved for that CMB
# P2PMM_TOPOLOGY=scale boots the scale VM instead (accelerator-sized memory; log $OUT/vm-$mode-scale.log):
#   pcie.0 ─ rp1 ─ switch up1 ─┬─ dn1: ivshmem-plain, 16 GiB BAR2 (an accelerator of today's size)
#                              └─ dn2: ivshmem-plain, 2 GiB BAR2 (its peer)
#   with 5 GiB of guest memory for the struct pages. The BARs are backed with reserve=off: the host commits only
#   what the guest touches.
# VM_TIMEOUT (seconds, default 1200) bounds the whole boot; KVM is not used (it does not work on these hosts).
. "$(dirname "$0")/lib.sh"
mount_chroot vm

mode=${1:-test}
suites=${2:-}
vmdir=$ROOT/build/vm
mkdir -p "$vmdir"
cp "$INITRAMFS" "$vmdir/initramfs.cpio.gz"
for img in nvme-cmb nvme-sw nvme-rp2 nvme-hp; do
	[ -f "$vmdir/$img.img" ] || truncate -s 64M "$vmdir/$img.img"
done
# no5lvl: 4-level paging. With -cpu max the guest would use LA57, and 7.3's identify_cpu() clears the CPU feature
# bits (X86_FEATURE_LA57 among them) before reading them again; an interrupt in that window makes KASAN take the
# linear map for wild memory (a boot-time "wild-memory-access in do_raw_spin_lock", seen once in the scale VM).
append="console=ttyS0 panic=-1 oops=panic loglevel=5 no5lvl p2pmm_mode=$mode"
[ -n "$suites" ] && append="$append p2pmm_suites=$suites"
# One kselftest program instead of all of them, while working on it (the report then flags the missing ones).
[ -n "${P2PMM_KSELFTEST:-}" ] && append="$append p2pmm_kselftest=$P2PMM_KSELFTEST"
# The uAPI fuzzer's budget and seed (tests/kselftest/p2pmm_fuzz_test.c; `make fuzz`): the kernel hands unknown
# name=value parameters to init as environment variables.
[ -n "${P2PMM_FUZZ_CALLS:-}" ] && append="$append P2PMM_FUZZ_CALLS=$P2PMM_FUZZ_CALLS"
[ -n "${P2PMM_FUZZ_SEED:-}" ] && append="$append P2PMM_FUZZ_SEED=$P2PMM_FUZZ_SEED"
# The case the hmm-repeat suite repeats and how often (tests/guest/init.sh, suite_hmm_repeat).
[ -n "${P2PMM_HMM_CASE:-}" ] && append="$append P2PMM_HMM_CASE=$P2PMM_HMM_CASE"
[ -n "${P2PMM_HMM_REPEAT:-}" ] && append="$append P2PMM_HMM_REPEAT=$P2PMM_HMM_REPEAT"
[ -n "${P2PMM_HMM_STRESS:-}" ] && append="$append P2PMM_HMM_STRESS=$P2PMM_HMM_STRESS"
# How many times the hot-plug test removes and re-adds its device (tests/kselftest/p2pmm_hotplug_test.c).
[ -n "${P2PMM_HOTPLUG_CYCLES:-}" ] && append="$append P2PMM_HOTPLUG_CYCLES=$P2PMM_HOTPLUG_CYCLES"
topology=${P2PMM_TOPOLOGY:-default}
log="$OUT/vm-$mode.log"
[ "$topology" = default ] || log="$OUT/vm-$mode-$topology.log"

case $topology in
default)
	memory=2G
	devices=(
	-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1
	-device x3130-upstream,id=up1,bus=rp1
	-device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=1
	-device xio3130-downstream,id=dn2,bus=up1,chassis=2,slot=2
	-device xio3130-downstream,id=dn3,bus=up1,chassis=2,slot=3
	-device xio3130-downstream,id=dn4,bus=up1,chassis=2,slot=4
	-device pcie-root-port,id=rp2,bus=pcie.0,chassis=3,slot=1
	-drive file=/build/vm/nvme-cmb.img,if=none,id=nvm0,format=raw
	-device nvme,serial=p2pmm-cmb,drive=nvm0,cmb_size_mb=64,bus=dn1
	-drive file=/build/vm/nvme-rp2.img,if=none,id=nvm1,format=raw
	-device nvme,serial=p2pmm-rp2,drive=nvm1,bus=rp2
	-object memory-backend-ram,id=vram0,size=256M
	-device ivshmem-plain,memdev=vram0,bus=dn2,addr=0.0,multifunction=on
	-device edu,dma_mask=0xffffffffffffffff,bus=dn2,addr=0.1
	-object memory-backend-ram,id=vram2,size=64M
	-device ivshmem-plain,memdev=vram2,bus=dn3,addr=0.0,multifunction=on
	-object memory-backend-ram,id=vram3,size=64M
	-device ivshmem-plain,memdev=vram3,bus=dn3,addr=0.1
	-drive file=/build/vm/nvme-sw.img,if=none,id=nvm2,format=raw
	-device nvme,serial=p2pmm-sw,drive=nvm2,bus=dn4
	-device pcie-root-port,id=rp3,bus=pcie.0,chassis=4,slot=1
	-object memory-backend-ram,id=vram1,size=128M
	-device ivshmem-plain,id=acc3,memdev=vram1,bus=rp3
	-device pcie-root-port,id=rp4,bus=pcie.0,chassis=5,slot=1,pref64-reserve=128M
	-blockdev driver=raw,node-name=hpdisk,file.driver=file,file.filename=/build/vm/nvme-hp.img
	)
	;;
scale)
	memory=5G
	devices=(
	-device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1
	-device x3130-upstream,id=up1,bus=rp1
	-device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=1
	-device xio3130-downstream,id=dn2,bus=up1,chassis=2,slot=2
	-object memory-backend-ram,id=vbig,size=16G,reserve=off
	-device ivshmem-plain,memdev=vbig,bus=dn1
	-object memory-backend-ram,id=vpeer,size=2G,reserve=off
	-device ivshmem-plain,memdev=vpeer,bus=dn2
	)
	;;
*) die "unknown P2PMM_TOPOLOGY '$topology' (default or scale)" ;;
esac

# QEMU's monitor (QMP) on a socket: scripts/qmp_relay.py sends it the commands guest tests print (P2PMM-QMP ...),
# device_del and device_add for the hot-plug test; its transcript goes to $OUT/qmp.log.
rm -f "$vmdir/qmp.sock"
qemu=(chroot "$ROOT" qemu-system-x86_64
	-accel tcg,thread=multi -cpu max -machine q35 -smp 2 -m $memory
	-nographic -vga none -no-reboot -nic none -qmp unix:/build/vm/qmp.sock,server=on,wait=off
	-kernel $KTREE/arch/x86/boot/bzImage -initrd /build/vm/initramfs.cpio.gz -append "$append"
	"${devices[@]}"
)
log "booting the $topology VM ($mode${suites:+: $suites}); log: $log"
: >"$log"
python3 "$REPO/scripts/qmp_relay.py" "$vmdir/qmp.sock" "$log" >"$OUT/qmp.log" 2>&1 &
relay=$!
t0=$(date +%s)
set +e
if [ "$mode" = run ]; then
	# Show the guest's own output live, not the kernel's console noise nor the closing dmesg dump.
	(cd "$ROOT/build" && timeout -k 10 "${VM_TIMEOUT:-1200}" "${qemu[@]}" </dev/null 2>&1) | tee "$log" |
		awk '/^P2PMM: guest up/{on=1} /^P2PMM-DMESG-BEGIN/{skip=1} on && !skip && !/^\[ *[0-9]+\.[0-9]+\]/ && !/^P2PMM-/ {print} /^P2PMM-DMESG-END/{skip=0}'
	rc=${PIPESTATUS[0]}
else
	# Progress: one line per finished suite.
	(cd "$ROOT/build" && timeout -k 10 "${VM_TIMEOUT:-1200}" "${qemu[@]}" </dev/null 2>&1) | tee "$log" |
		grep --line-buffered -E '^P2PMM-SUITE-END' | sed -u 's/^/[guest] /' >&2
	rc=${PIPESTATUS[0]}
fi
kill "$relay" 2>/dev/null
wait "$relay" 2>/dev/null
set -e
echo "$(($(date +%s) - t0))" >"${log%.log}.secs"
[ "$rc" = 124 ] && log "VM timed out after ${VM_TIMEOUT:-1200} s"
exit 0
