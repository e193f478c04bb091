#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make test`: everything, from nothing. Sets up the toolchain chroot, kernel, modules and initramfs as needed
# (each step is incremental), runs the host suite and boots the VM for the guest suites, then prints one summary.
# SUITES=host,kunit,kselftest,hmm-conformance,hmm-baseline,scale (default: all) runs a subset, e.g.
# `make test SUITES=kselftest`; SUITES=detectors provokes each kernel detector once and passes only if each one failed
# its suite. `scale` runs in a VM of its own (scripts/vm.sh, P2PMM_TOPOLOGY=scale), booted after the default one.
. "$(dirname "$0")/lib.sh"

SUITES=${SUITES:-host,kunit,kselftest,hmm-conformance,hmm-baseline,scale}
# `detectors` stands for the four detector suites (tests/detectors): each must fail the run with its own report,
# and scripts/report.py --expect-detector turns exactly that into a pass.
DETECTOR_SUITES="detect-lockdep=lockdep detect-hung-task=hung-task detect-kmemleak=kmemleak detect-kasan=KASAN"
detector_args=()
if echo ",$SUITES," | grep -q ',detectors,'; then
	expanded=
	for d in $DETECTOR_SUITES; do
		expanded=$expanded,${d%%=*}
		detector_args+=(--expect-detector "$d")
	done
	SUITES=$(echo ",$SUITES," | sed "s/,detectors,/$expanded,/; s/^,//; s/,$//")
fi
# (grep finds nothing for SUITES=host alone: that is not an error.)
guest=$(echo "$SUITES" | tr ',' '\n' | { grep -vx -e host -e scale || true; } | paste -sd, -)
scale=$(echo "$SUITES" | tr ',' '\n' | { grep -x scale || true; } | paste -sd, -)
mkdir -p "$OUT"
rm -f "$OUT/host.log" "$OUT/vm-test.log" "$OUT/vm-test-scale.log"
timings=$OUT/timings
: >"$timings"
timed() {
	local name=$1 t0=$SECONDS
	shift
	"$@"
	echo "$name $((SECONDS - t0))" >>"$timings"
}

report_args=()
if echo ",$SUITES," | grep -q ',host,'; then
	log "host suite: cargo test, fmt, clippy"
	timed host bash "$REPO/scripts/host-tests.sh" >"$OUT/host.log"
	report_args+=(--host-log "$OUT/host.log")
fi
if [ -n "$guest$scale" ]; then
	need_root test
	timed toolchain bash "$REPO/scripts/toolchain.sh"
	timed kernel bash "$REPO/scripts/kernel.sh"
	timed modules bash "$REPO/scripts/modules.sh"
	timed initramfs bash "$REPO/scripts/initramfs.sh"
	if [ -n "$guest" ]; then
		timed vm bash "$REPO/scripts/vm.sh" test "$guest"
		report_args+=(--vm-log "$OUT/vm-test.log" --suites "$guest")
		echo ",$guest," | grep -q ',hmm-baseline,' && report_args+=(--expect-hmm-baseline-pass 37)
	fi
	if [ -n "$scale" ]; then
		timed vm-scale env P2PMM_TOPOLOGY=scale bash "$REPO/scripts/vm.sh" test "$scale"
		report_args+=(--scale-log "$OUT/vm-test-scale.log" --scale-suites "$scale")
	fi
	bash "$REPO/scripts/versions.sh" >"$OUT/versions" 2>/dev/null || true
	report_args+=(--versions "$OUT/versions")
fi
echo "  step times (s): $(tr '\n' ' ' <"$timings")" >>"$OUT/versions"
python3 "$REPO/scripts/report.py" "${report_args[@]}" "${detector_args[@]}"
