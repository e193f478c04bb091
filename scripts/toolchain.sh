#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Create (once) the Debian trixie chroot with the Rust-for-Linux toolchain and linux-source-7.3.
# Idempotent: a stamp records the package set; rerunning with nothing changed costs ~1 s.
. "$(dirname "$0")/lib.sh"
need_root toolchain

KSERIES=7.3
PKGS="build-essential bc bison flex libelf-dev libssl-dev cpio kmod rustc rust-src bindgen clang libclang-dev
 lld llvm python3 xz-utils zstd pahole busybox-static ca-certificates rustfmt rust-clippy qemu-system-x86
 gzip perl"
STAMP=$ROOT/.p2pmm-toolchain
WANT=$(printf '%s\n' "$PKGS linux-source-$KSERIES" | md5sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -f "$KSRC/Makefile" ]; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null; then
	log "installing debootstrap on the host"
	apt-get update -q >/dev/null
	apt-get install -y -q debootstrap >/dev/null || die "host package 'debootstrap' could not be installed"
fi
mkdir -p "$P2PMM_CACHE"
if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
	umount_chroot
	rm -rf "$ROOT"
	log "debootstrap trixie into $ROOT (~1 min)"
	debootstrap --variant=minbase trixie "$ROOT" http://deb.debian.org/debian >"$P2PMM_CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap of Debian trixie failed; see $P2PMM_CACHE/debootstrap.log"
fi
cat >"$ROOT/etc/apt/sources.list.d/debian.sources" <<EOS
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie trixie-updates trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
rm -f "$ROOT/etc/apt/sources.list"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
mount_chroot toolchain
log "apt-get update in the chroot"
in_chroot apt-get update -q >/dev/null || die "apt-get update inside the chroot failed"
for p in $PKGS; do
	in_chroot apt-cache show "$p" >/dev/null 2>&1 || die "package '$p' is not available from Debian trixie"
done
in_chroot apt-cache show -t trixie-backports "linux-source-$KSERIES" >/dev/null 2>&1 ||
	die "package 'linux-source-$KSERIES' is not available from trixie-backports"
log "installing the toolchain packages (~1 min)"
# shellcheck disable=SC2086
in_chroot apt-get install -y -q --no-install-recommends $PKGS >"$P2PMM_CACHE/apt.log" 2>&1 ||
	die "installing toolchain packages failed; see $P2PMM_CACHE/apt.log"
in_chroot apt-get install -y -q --no-install-recommends -t trixie-backports "linux-source-$KSERIES" "linux-libc-dev" \
	>>"$P2PMM_CACHE/apt.log" 2>&1 || die "installing linux-source-$KSERIES failed; see $P2PMM_CACHE/apt.log"
in_chroot rustc --version | grep -q '^rustc 1\.85\.' || die "rustc 1.85 expected in the chroot, got: $(in_chroot rustc --version)"
tarball=$(ls "$ROOT"/usr/src/linux-source-$KSERIES.tar.* 2>/dev/null | head -1)
[ -n "$tarball" ] || die "linux-source-$KSERIES installed but no tarball in /usr/src"
if [ ! -f "$KSRC/Makefile" ] || [ "$tarball" -nt "$KSRC/Makefile" ]; then
	log "unpacking $(basename "$tarball")"
	rm -rf "$KSRC" "$ROOT/build/linux-source-$KSERIES"
	mkdir -p "$ROOT/build"
	tar -C "$ROOT/build" -xf "$tarball"
	mv "$ROOT/build/linux-source-$KSERIES" "$KSRC"
fi
echo "$WANT" >"$STAMP"
log "toolchain ready: $(in_chroot rustc --version), $(in_chroot bindgen --version 2>&1 | head -1)"
