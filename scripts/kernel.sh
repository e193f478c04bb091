#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Configure (tinyconfig + scripts/p2pmm.config + scripts/sanitizers.config; for P2PMM_KERNEL=bench without the
# sanitizers) and build the kernel in the toolchain chroot. Incremental: reconfigures only when a fragment changed;
# a no-change rebuild costs seconds.
. "$(dirname "$0")/lib.sh"
mount_chroot kernel

FRAGS=("$REPO/scripts/p2pmm.config")
[ "$P2PMM_KERNEL" = test ] && FRAGS+=("$REPO/scripts/sanitizers.config")
STAMP=$KSRC/.p2pmm-config-stamp
want=$(cat "${FRAGS[@]}" | md5sum | cut -d' ' -f1)

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ] || [ ! -f "$KSRC/.config" ]; then
	log "configuring the $P2PMM_KERNEL kernel: tinyconfig + $(cd "$REPO/scripts" && basename -a "${FRAGS[@]}" | paste -sd+)"
	cat "${FRAGS[@]}" | grep -v '^#' >"$KSRC/kernel/configs/p2pmm.config"
	in_chroot $KMAKE tinyconfig p2pmm.config >"$OUT/kconfig.log" 2>&1 || die "kernel configuration failed; see $OUT/kconfig.log"
	missing=0
	while IFS= read -r line; do
		case "$line" in CONFIG_*=*) ;; *) continue ;; esac
		key=${line%%=*}
		if [ "${line#*=}" = n ]; then
			grep -q "^$key=" "$KSRC/.config" && { echo "kconfig: $line requested, got $(grep "^$key=" "$KSRC/.config")" >&2; missing=1; }
		else
			grep -qx "$line" "$KSRC/.config" || {
				echo "kconfig: $line requested, got: $(grep -E "^$key=|^# $key is not set" "$KSRC/.config" || echo absent)" >&2
				missing=1
			}
		fi
	done < <(cat "${FRAGS[@]}")
	[ $missing = 0 ] || die "some requested kernel options did not land (see above); fix scripts/{p2pmm,sanitizers}.config"
	echo "$want" >"$STAMP"
fi
in_chroot $KMAKE rustavailable >/dev/null 2>&1 || die "the kernel says Rust is not available: run 'make -C $KSRC LLVM=1 rustavailable' in the chroot"
log "building the kernel (-j$JOBS; ~8 min from scratch, seconds when nothing changed)"
in_chroot $KMAKE -j"$JOBS" >"$OUT/kbuild.log" 2>&1 || { tail -30 "$OUT/kbuild.log" >&2; die "kernel build failed; see $OUT/kbuild.log"; }
[ -f "$KSRC/arch/x86/boot/bzImage" ] || die "kernel build produced no bzImage"
in_chroot $KMAKE -s kernelrelease >"$OUT/kernelrelease$FLAVOUR"
log "$P2PMM_KERNEL kernel $(cat "$OUT/kernelrelease$FLAVOUR") ready"
