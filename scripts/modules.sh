#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the out-of-tree modules (p2pmm.ko, the drivers on it, the test-only p2pmm_detectors.ko) against the
# kernel tree, inside the chroot, under clippy.
# Any compiler or clippy warning fails the build: the module must stay warning-free.
. "$(dirname "$0")/lib.sh"
mount_chroot modules

# P2PMM_MODULE_BUILD names another build directory (and log/output names) so a second checkout can compile
# its modules without touching the main build's; the default is what make test uses.
name=${P2PMM_MODULE_BUILD:-p2pmm$FLAVOUR}
dst=$ROOT/build/$name
mods=$MODS
logname=modules$FLAVOUR
if [ "$name" != "p2pmm$FLAVOUR" ]; then mods=$OUT/modules-$name; logname=modules-$name; fi
# Nothing to do when neither the sources nor the kernel changed: a cached `make test` skips the build and its lints.
stamp=$mods/.inputs
want=$(inputs_digest Kbuild mm drivers include tests/detectors scripts/doctest_gen.py scripts/modules.sh \
	"$KSRC/.config" "$KSRC/Module.symvers")
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	log "modules unchanged: $(cd "$mods" && echo *.ko)"
	exit 0
fi
rm -rf "$dst"
mkdir -p "$dst"
cp -a "$REPO/Kbuild" "$REPO/mm" "$REPO/drivers" "$REPO/include" "$dst/"
mkdir -p "$dst/tests"
cp -a "$REPO/tests/detectors" "$dst/tests/"
rm -rf "$dst/mm/core/target"
# The binding layer's `# Examples` doctests become p2pmm.ko's KUnit suite p2pmm_doctests, generated into this build copy only
# (the crate roots include the file; Kbuild compiles it in when it exists): Documentation/p2pmm/dev-loop.rst.
# p2pmm.ko's also take the Rust binding of its exported API (include/rust), which its test build compiles.
python3 "$REPO/scripts/doctest_gen.py" --root "$dst" --crate mm/p2pmm.rs --suite p2pmm_doctests \
	--under mm/bind --under include/rust --out mm/doctests_generated.rs ||
	die "generating p2pmm.ko's doctests failed"
log "building p2pmm.ko (clippy on)"
in_chroot $KMAKE M=/build/$name CLIPPY=1 W=1 modules >"$OUT/$logname.log" 2>&1 || {
	grep -E -A12 '^(error|warning)' "$OUT/$logname.log" | head -80 >&2
	die "module build failed; see $OUT/$logname.log"
}
if grep -qE '(^|: )(warning|error)(\[|:)|^WARNING: modpost' "$OUT/$logname.log"; then
	grep -E -A12 '(^|: )(warning|error)(\[|:)|^WARNING: modpost' "$OUT/$logname.log" | head -80 >&2
	die "module build has warnings (treated as errors); see $OUT/$logname.log"
fi
# rustfmt with the kernel tree's settings, over every Rust file the module compiles (but the generated doctests,
# whose bodies must keep their source lines; see scripts/doctest_gen.py).
in_chroot sh -c "cd /build/$name && find mm drivers include -name '*.rs' -not -path 'mm/core/tests/*' -not -path 'mm/core/benches/*' -not -path 'mm/core/examples/*' -not -name doctests_generated.rs | xargs rustfmt --check --edition 2021 --config-path /build/linux/.rustfmt.toml" \
	>"$OUT/rustfmt-$logname.log" 2>&1 || { head -40 "$OUT/rustfmt-$logname.log" >&2; die "module sources are not rustfmt-clean; run 'cargo fmt' (see $OUT/rustfmt-$logname.log)"; }
rm -rf "$mods"
mkdir -p "$mods"
cp "$dst"/*.ko "$mods/"
echo "$want" >"$stamp"
log "modules ready: $(cd "$mods" && echo *.ko)"
