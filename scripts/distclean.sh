#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Remove the whole cache, chroot included, after unmounting its pseudo filesystems.
. "$(dirname "$0")/lib.sh"
need_root distclean
umount_chroot
if grep -q " $ROOT/" /proc/mounts; then
	die "something is still mounted under $ROOT; not deleting it"
fi
rm -rf "$P2PMM_CACHE"
log "removed $P2PMM_CACHE"
