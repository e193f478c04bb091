#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest's test programs (static, inside the chroot) and pack the busybox initramfs:
#   /init (tests/guest/init.sh), /showcase.sh, /lib/modules/{p2pmm,test_hmm}.ko, /kselftest/*,
#   /kselftest-policy/* (tests/kselftest/policy: run with p2pmm.ko's route policy knobs set), /kselftest-scale/*
#   (tests/kselftest/scale: the scale suite, in the scale VM), /bin/hmm-tests,
#   /bin/{mirror_bench,memcpy_bench,oversub_bench,p2p_bench,scale_bench} (tests/bench), /bin/p2pmmctl (tools/p2pmmctl, with
#   its guest test tests/guest/p2pmmctl_test.sh as /kselftest/p2pmmctl_test.sh).
. "$(dirname "$0")/lib.sh"
mount_chroot initramfs

# Nothing to do when no input changed (the test programs, the uAPI header, p2pmmctl, the modules, upstream's
# test_hmm.ko and busybox): a cached `make test` reuses the last initramfs.
stamp=$OUT/initramfs$FLAVOUR.inputs
want=$(inputs_digest tests include tools Cargo.toml Cargo.lock scripts/initramfs.sh scripts/uapi_errnos.py \
	Documentation/p2pmm/uapi.rst "$MODS" \
	"$KSRC/lib/test_hmm.ko" "$KSRC/tools/testing/selftests/mm/hmm-tests.c" "$ROOT/usr/bin/busybox")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$INITRAMFS" ]; then
	log "initramfs unchanged ($(du -h "$INITRAMFS" | cut -f1))"
	exit 0
fi
rm -f "$stamp"
src=$ROOT/build/guest-src
bin=$ROOT/build/guest-bin
rm -rf "$src" "$bin"
mkdir -p "$src" "$bin/kselftest" "$bin/kselftest-policy" "$bin/kselftest-scale"
cp -a "$REPO/tests" "$REPO/include" "$src/"
# The errnos uapi.rst documents for each call, for the uAPI fuzzer (tests/kselftest/p2pmm_fuzz_test.c).
python3 "$REPO/scripts/uapi_errnos.py" "$REPO/Documentation/p2pmm/uapi.rst" >"$src/tests/lib/p2pmm_uapi_errnos.h" ||
	die "scripts/uapi_errnos.py could not read the errnos of Documentation/p2pmm/uapi.rst"

CC="gcc -static -Wall -Wextra -Werror -O2 -no-pie -U_FORTIFY_SOURCE"
# The uAPI header, the guest programs' shared helpers (tests/lib) and the kernel's kselftest harness.
TEST_INC="-I /build/guest-src/include/uapi -I /build/guest-src/tests/lib -I $KTREE/tools/testing/selftests -I $KTREE"
log "building guest programs (kselftests, hmm-tests)"
# A subshell, so that `exit 1` on a failed compile ends it (and is reported below), not the whole script silently.
(
	for t in "$src"/tests/kselftest/*.c; do
		name=$(basename "$t" .c)
		in_chroot $CC -Wno-sign-compare $TEST_INC \
			"/build/guest-src/tests/kselftest/$name.c" -o "/build/guest-bin/kselftest/$name" || exit 1
	done
	for dir in policy scale; do
		for t in "$src"/tests/kselftest/$dir/*.c; do
			name=$(basename "$t" .c)
			in_chroot $CC -Wno-sign-compare $TEST_INC \
				"/build/guest-src/tests/kselftest/$dir/$name.c" -o "/build/guest-bin/kselftest-$dir/$name" ||
				exit 1
		done
	done
	in_chroot $CC -I $KTREE/lib /build/guest-src/tests/bench/mirror_bench.c -o /build/guest-bin/mirror_bench ||
		exit 1
	in_chroot $CC -I /build/guest-src/include/uapi -I /build/guest-src/tests/lib /build/guest-src/tests/bench/oversub_bench.c \
		-o /build/guest-bin/oversub_bench || exit 1
	in_chroot $CC $TEST_INC /build/guest-src/tests/bench/p2p_bench.c -o /build/guest-bin/p2p_bench || exit 1
	in_chroot $CC /build/guest-src/tests/bench/memcpy_bench.c -o /build/guest-bin/memcpy_bench || exit 1
	in_chroot $CC $TEST_INC /build/guest-src/tests/bench/scale_bench.c -o /build/guest-bin/scale_bench || exit 1
	in_chroot $CC -I /build/guest-src/include/uapi /build/guest-src/tests/guest/p2pmm_info.c -o /build/guest-bin/p2pmm-info ||
		exit 1
	in_chroot $CC -I /build/guest-src/include/uapi -I /build/guest-src/tests/lib -I $KTREE \
		/build/guest-src/tests/guest/p2pmm_demo.c \
		-o /build/guest-bin/p2pmm-demo || exit 1
	in_chroot $CC /build/guest-src/tests/guest/p2pmm_run_as.c -o /build/guest-bin/p2pmm-run-as || exit 1
	# Upstream hmm-tests, unmodified, as tools/testing/selftests/mm builds it (minus -Werror: upstream's own code).
	in_chroot sh -c "cd $KTREE/tools/testing/selftests/mm && gcc -static -Wall -O2 -no-pie -U_FORTIFY_SOURCE \
		-I $KTREE -I .. -isystem $KTREE/tools/include/uapi hmm-tests.c vm_util.c hugepage_settings.c \
		-lrt -lpthread -lm -o /build/guest-bin/hmm-tests" || exit 1
) >"$OUT/guest-build.log" 2>&1 || { tail -30 "$OUT/guest-build.log" >&2; die "building guest programs failed; see $OUT/guest-build.log"; }

# p2pmmctl is Rust with crates.io dependencies: built on the host with the host's cargo (the chroot's rustc is the
# kernel's), linked statically against the host's glibc (libc6-dev's libc.a), since the guest has no libc. With
# --target, RUSTFLAGS apply to p2pmmctl only, not to clap's proc-macro, and the output lands in its own directory.
log "building p2pmmctl (host cargo, static)"
p2pmmctl=$REPO/target/x86_64-unknown-linux-gnu/release/p2pmmctl
(cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static -C strip=symbols" \
	cargo build --release --locked -p p2pmmctl --target x86_64-unknown-linux-gnu) >"$OUT/p2pmmctl-build.log" 2>&1 ||
	{ tail -30 "$OUT/p2pmmctl-build.log" >&2; die "building p2pmmctl failed; see $OUT/p2pmmctl-build.log"; }
# A dynamically linked binary would fail in the guest with a confusing "not found": refuse it here.
if readelf -l "$p2pmmctl" | grep -q 'program interpreter'; then
	die "p2pmmctl is not statically linked (is the host's libc6-dev installed?)"
fi

# Staged and packed inside the chroot: it has cpio, a fresh host may not.
stage=$ROOT/build/initramfs
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,tmp,mnt,root,lib/modules,kselftest,kselftest-policy,kselftest-scale}
cp "$ROOT/usr/bin/busybox" "$stage/bin/busybox"
cp "$bin/hmm-tests" "$bin/p2pmm-info" "$bin/p2pmm-demo" "$bin/mirror_bench" "$bin/oversub_bench" "$bin/p2p_bench" "$bin/memcpy_bench" \
	"$bin/scale_bench" "$bin/p2pmm-run-as" "$stage/bin/"
cp "$bin"/kselftest/* "$stage/kselftest/"
cp "$bin"/kselftest-policy/* "$stage/kselftest-policy/"
cp "$bin"/kselftest-scale/* "$stage/kselftest-scale/"
cp "$p2pmmctl" "$stage/bin/p2pmmctl"
cp "$REPO/tests/guest/p2pmmctl_test.sh" "$stage/kselftest/p2pmmctl_test.sh"
chmod +x "$stage/kselftest/p2pmmctl_test.sh"
cp "$KSRC/lib/test_hmm.ko" "$MODS"/*.ko "$stage/lib/modules/"
mkdir -p "$stage/conformance"
cp "$REPO"/tests/conformance/*.txt "$stage/conformance/"
cp "$REPO/tests/guest/init.sh" "$stage/init"
cp "$REPO/tests/guest/showcase.sh" "$stage/showcase.sh"
chmod +x "$stage/init" "$stage/showcase.sh"
in_chroot sh -c 'cd /build/initramfs && find . | cpio -o -H newc --quiet | gzip -1' >"$INITRAMFS"
echo "$want" >"$stamp"
log "initramfs ready ($(du -h "$INITRAMFS" | cut -f1))"
