#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make test`: everything, from nothing. Sets up the toolchain chroot, kernel, modules and initramfs as needed
# (each step is incremental), runs the host suite and boots the VM for the guest suites, then prints one summary.
# SUITES=host,kunit,kselftest,hmm-conformance,hmm-baseline (default: all) runs a subset, e.g. `make test SUITES=kselftest`;
# SUITES=detectors provokes each kernel detector once and passes only if each one failed its suite.
. "$(dirname "$0")/lib.sh"

SUITES=${SUITES:-host,kunit,kselftest,hmm-conformance,hmm-baseline}
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
guest=$(echo "$SUITES" | tr ',' '\n' | { grep -vx host || true; } | paste -sd, -)
mkdir -p "$OUT"
rm -f "$OUT/host.log" "$OUT/vm-test.log"
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
if [ -n "$guest" ]; then
	need_root test
	timed toolchain bash "$REPO/scripts/toolchain.sh"
	timed kernel bash "$REPO/scripts/kernel.sh"
	timed modules bash "$REPO/scripts/modules.sh"
	timed initramfs bash "$REPO/scripts/initramfs.sh"
	timed vm bash "$REPO/scripts/vm.sh" test "$guest"
	bash "$REPO/scripts/versions.sh" >"$OUT/versions" 2>/dev/null || true
	report_args+=(--vm-log "$OUT/vm-test.log" --suites "$guest" --versions "$OUT/versions")
	echo ",$guest," | grep -q ',hmm-baseline,' && report_args+=(--expect-hmm-baseline-pass 38)
fi
echo "  step times (s): $(tr '\n' ' ' <"$timings")" >>"$OUT/versions"
python3 "$REPO/scripts/report.py" "${report_args[@]}" "${detector_args[@]}"
