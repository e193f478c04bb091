#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the p2pmm test guest. Runs the suites named by the kernel command line, framing each one's output:
#   P2PMM-SUITE-BEGIN <name> / P2PMM-SUITE-END <name> rc=<rc>
# then dumps dmesg (P2PMM-DMESG-BEGIN/END) for the host to check for splats, and powers off.
# Kernel command line words without a dot reach init as environment variables:
#   p2pmm_mode=test|run       what to do (default test)
#   p2pmm_suites=a,b,...      suites to run in test mode (default: kunit,kselftest,hmm-baseline)
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages

say() { echo "P2PMM: $*"; }
mode=${p2pmm_mode:-test}
suites=${p2pmm_suites:-kunit,kselftest,hmm-conformance,hmm-baseline}
say "guest up after $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r), mode $mode"

# dmesg lines printed since the mark, without the timestamp prefix (KTAP parsers want bare lines).
dmesg_mark() { dmesg | wc -l; }
dmesg_since() { dmesg | tail -n +$(($1 + 1)) | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //'; }

load_p2pmm() {
	lsmod | grep -q '^p2pmm ' && return 0
	insmod /lib/modules/p2pmm.ko
}

suite_kunit() {
	# KUnit suites run when their module loads, and their KTAP lands in dmesg: p2pmm.ko's `p2pmm` and
	# `p2pmm_doctests`, then p2pmm_mirror.ko's `p2pmm_mirror_doctests` (the binding layer's `# Examples`, see
	# scripts/doctest_gen.py). p2pmm_mirror is unloaded again: the kselftest and hmm suites load it themselves, and
	# upstream test_hmm, which creates the same device nodes, must not meet it.
	mark=$(dmesg_mark)
	load_p2pmm || return 1
	rc=0
	if insmod /lib/modules/p2pmm_mirror.ko; then
		rmmod p2pmm_mirror || rc=1
	else
		rc=1
	fi
	dmesg_since "$mark" | grep -vE '^p2pmm(_mirror)?: '
	return $rc
}

suite_kselftest() {
	load_p2pmm || return 1
	# The importer test reads through p2pmm's mirror device; unloaded again before the hmm suites.
	insmod /lib/modules/p2pmm_mirror.ko || return 1
	rc=0
	for t in /kselftest/*; do
		"$t" || rc=1
	done
	rmmod p2pmm_mirror || rc=1
	# Unloading tears everything down (drivers unbind, managed memory is evicted, sysfs/debugfs go): any
	# splat on the way fails the run, a refused rmmod fails the suite.
	rmmod p2pmm || { echo "rmmod p2pmm failed"; rc=1; }
	# The administrator's route policy (module parameters): p2pmm.ko once more, with strict knobs, for the tests
	# written for them (tests/kselftest/policy), then unloaded again.
	if insmod /lib/modules/p2pmm.ko route_max_distance=3 route_allow_host_bridge=0; then
		for t in /kselftest-policy/*; do
			"$t" || rc=1
		done
		rmmod p2pmm || { echo "rmmod p2pmm (route policy) failed"; rc=1; }
	else
		echo "insmod p2pmm.ko with route policy knobs failed"
		rc=1
	fi
	return $rc
}

# p2pmmctl's guest test alone (it also runs inside suite_kselftest): `scripts/vm.sh test p2pmmctl`.
suite_p2pmmctl() {
	load_p2pmm || return 1
	/kselftest/p2pmmctl_test.sh
}

# Upstream hmm-tests (with arguments "$@") against the test_hmm uAPI driver module $1, which is loaded for the
# run only: p2pmm_mirror and upstream test_hmm create the same device nodes, so they never coexist.
run_hmm_tests() {
	drv=$1
	shift
	echo 8 > /proc/sys/vm/nr_hugepages
	insmod /lib/modules/$drv.ko || return 1
	hmm-tests "$@"
	rc=$?
	rmmod $drv
	return $rc
}

# Upstream hmm-tests against upstream test_hmm: the yardstick for p2pmm's own mirror driver.
suite_hmm_baseline() {
	run_hmm_tests test_hmm
}

# Upstream hmm-tests against p2pmm's own mirror driver (drivers/mirror): the cases listed in
# /conformance/hmm-p2pmm.txt, what the driver implements so far.
suite_hmm_conformance() {
	set --
	for c in $(grep -v '^#' /conformance/hmm-p2pmm.txt); do set -- "$@" -r "$c"; done
	run_hmm_tests p2pmm_mirror "$@"
}

# Upstream's THP migration benchmark alone against p2pmm's driver (for investigating its run time).
suite_hmm_thp_bench() {
	run_hmm_tests p2pmm_mirror -r hmm.hmm_device_private.benchmark_thp_migration
}

# The same against upstream test_hmm, for comparison.
suite_hmm_thp_bench_upstream() {
	run_hmm_tests test_hmm -r hmm.hmm_device_private.benchmark_thp_migration
}

# Every upstream case against p2pmm's driver, to see what is left (not part of `make test`).
suite_hmm_conformance_all() {
	run_hmm_tests p2pmm_mirror
}

# `make bench`: tests/bench/mirror_bench and upstream's benchmark_thp_migration against p2pmm_mirror and against upstream test_hmm, in the
# same boot, one after the other. scripts/bench_report.py compares the two tables.
suite_bench_migration() {
	for drv in p2pmm_mirror test_hmm; do
		echo "P2PMM-BENCH-DRIVER $drv"
		insmod /lib/modules/$drv.ko || return 1
		mirror_bench
		rmmod $drv
		run_hmm_tests $drv -r hmm.hmm_device_private.benchmark_thp_migration
	done
	return 0
}

# `make bench`: tests/bench/oversub_bench, streaming a working set that fits a managed provider and one twice its
# capacity through p2pmm.ko's managed providers (P2PMM_IOC_MIGRATE); scripts/bench_report.py prints its table.
suite_bench_oversub() {
	load_p2pmm || return 1
	oversub_bench
}

run_suite() {
	name=$1
	fn=suite_$(echo "$name" | tr '-' '_')
	echo "P2PMM-SUITE-BEGIN $name"
	t0=$(cut -d' ' -f1 /proc/uptime)
	if type "$fn" >/dev/null 2>&1; then
		"$fn" 2>&1
		rc=$?
	else
		echo "unknown suite '$name'"
		rc=127
	fi
	t1=$(cut -d' ' -f1 /proc/uptime)
	echo "P2PMM-SUITE-END $name rc=$rc secs=$(echo "$t0 $t1" | awk '{printf "%.1f", $2-$1}')"
}

if [ "$mode" = run ]; then
	/showcase.sh
else
	for s in $(echo "$suites" | tr ',' ' '); do
		run_suite "$s"
	done
fi

echo "P2PMM-DMESG-BEGIN"
dmesg
echo "P2PMM-DMESG-END"
say "done after $(cut -d' ' -f1 /proc/uptime)s"
echo "P2PMM-DONE"
poweroff -f
