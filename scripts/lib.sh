# SPDX-License-Identifier: GPL-2.0
# Shared helpers for p2pmm's build scripts. Sourced, never run.
#
# P2PMM_CACHE (default: $HOME/.cache/p2pmm) holds everything built outside the repo:
#   chroot/            Debian trixie toolchain (rustc 1.85, bindgen, clang, qemu, linux-source-7.3)
#   chroot/build/linux the kernel tree (built in place, incremental)
#   chroot/build/p2pmm a copy of the repo's module sources, built with M=
#   chroot/build/linux-bench  the tree of the production kernel `make bench` boots (P2PMM_KERNEL=bench)
#   out/               initramfs, logs, results of the last VM run
#
# P2PMM_KERNEL picks the kernel: `test` (default), the sanitizer kernel every `make test` guest suite runs on
# (scripts/p2pmm.config + scripts/sanitizers.config), or `bench`, the production configuration `make bench`
# measures (scripts/p2pmm.config alone). Each has its own tree, modules and initramfs.

set -euo pipefail

P2PMM_CACHE=${P2PMM_CACHE:-$HOME/.cache/p2pmm}
P2PMM_KERNEL=${P2PMM_KERNEL:-test}
ROOT=$P2PMM_CACHE/chroot
OUT=$P2PMM_CACHE/out
case $P2PMM_KERNEL in
test) FLAVOUR= ;;
bench) FLAVOUR=-bench ;;
*) printf 'p2pmm: error: P2PMM_KERNEL=%s: expected test or bench\n' "$P2PMM_KERNEL" >&2; exit 1 ;;
esac
KTREE=/build/linux$FLAVOUR  # path of the kernel tree as seen inside the chroot
KSRC=$ROOT$KTREE            # same, from the host
MODS=$OUT/modules$FLAVOUR   # the modules built against it
INITRAMFS=$OUT/initramfs$FLAVOUR.cpio.gz
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KMAKE="make -C $KTREE ARCH=x86_64 LLVM=1"
JOBS=${JOBS:-$(nproc)}

log() { printf '[p2pmm %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'p2pmm: error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "building the toolchain chroot needs root (debootstrap, chroot, mounts): rerun as root, e.g. 'sudo make $1'"
}

# Pseudo filesystems the chroot needs while building or running QEMU.
mount_chroot() {
	mkdir -p "$OUT"
	need_root "${1:-test}"
	mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
	mountpoint -q "$ROOT/sys" || mount -t sysfs sys "$ROOT/sys"
	mountpoint -q "$ROOT/dev" || mount --bind /dev "$ROOT/dev"
	mountpoint -q "$ROOT/dev/pts" || mount --bind /dev/pts "$ROOT/dev/pts"
}

# Always unmount before deleting the chroot: a bind-mounted dev/ would take the host's /dev with it.
umount_chroot() {
	local m
	for m in dev/pts dev sys proc; do
		if mountpoint -q "$ROOT/$m"; then umount "$ROOT/$m" || umount -l "$ROOT/$m"; fi
	done
}

# Run a command inside the chroot, from a cwd that exists there.
in_chroot() {
	mkdir -p "$ROOT/build"
	(cd "$ROOT/build" && chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@")
}

# A digest of the contents (and paths) of the named files and directories, for steps that skip their work when
# their inputs did not change. Relative names are the repo's; build outputs under target/ are not inputs, and a name
# that does not exist counts as empty.
inputs_digest() {
	local p have=()
	for p in "$@"; do
		if [ -e "$REPO/$p" ] || [ -e "$p" ]; then have+=("$p"); fi
	done
	(cd "$REPO" && find "${have[@]}" -type f -not -path '*/target/*' -print0 | sort -z | xargs -0 md5sum) |
		md5sum | cut -d' ' -f1
}
