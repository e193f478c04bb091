#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# /init of the p2pmm test guest. Says which detectors the running kernel has (P2PMM-SANITIZERS), runs the suites
# named by the kernel command line, framing each one's output:
#   P2PMM-SUITE-BEGIN <name> / P2PMM-SUITE-END <name> rc=<rc>
# then (test mode) unloads every module and lets kmemleak scan (P2PMM-KMEMLEAK-BEGIN/END), dumps dmesg
# (P2PMM-DMESG-BEGIN/END) for the host to check for splats, and powers off. scripts/report.py reads all of it.
# Kernel command line words without a dot reach init as environment variables:
#   p2pmm_mode=test|run       what to do (default test)
#   p2pmm_suites=a,b,...      suites to run in test mode (default: kunit,kselftest,hmm-baseline)
#   p2pmm_kselftest=NAME      the kselftest suite runs only /kselftest/NAME (P2PMM_KSELFTEST=NAME make test)
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages
# cgroup v2, where the dmem controller shows p2pmm's regions (dmem.capacity, dmem.current) and takes limits.
mount -t cgroup2 none /sys/fs/cgroup

say() { echo "P2PMM: $*"; }
mode=${p2pmm_mode:-test}

# The spare accelerator (scripts/vm.sh: the ivshmem at function 1 of a slot below the switch) stays unbound, so that
# every other test and the showcase see the topology they were written for. The tests of the eviction cascade over
# three providers (p2pmm_pressure_test, oversub_bench) bind it to p2pmm_vaccel and give it back
# (tests/lib/p2pmm_spare.h). driver_override with a name no driver has keeps every driver off it.
for d in /sys/bus/pci/devices/*.1; do
	[ "$(cat "$d/vendor" 2>/dev/null):$(cat "$d/device" 2>/dev/null)" = 0x1af4:0x1110 ] &&
		echo none >"$d/driver_override"
done
suites=${p2pmm_suites:-kunit,kselftest,hmm-conformance,hmm-baseline}
say "guest up after $(cut -d' ' -f1 /proc/uptime)s, kernel $(uname -r), mode $mode"

# The detectors of the running kernel, from its own configuration (CONFIG_IKCONFIG_PROC) and live settings, so the
# summary names what each suite really ran under (scripts/sanitizers.config says what should be there).
sanitizers() {
	[ -r /proc/config.gz ] || { echo unknown; return; }
	zcat /proc/config.gz | awk -v hung="$(cat /proc/sys/kernel/hung_task_timeout_secs 2>/dev/null)" \
		-v rcu="$(cat /sys/module/rcupdate/parameters/rcu_cpu_stall_timeout 2>/dev/null)" '
		/^CONFIG_[A-Z0-9_]+=/ { split($0, kv, "="); c[kv[1]] = kv[2] }
		END {
			if (c["CONFIG_KASAN_GENERIC"] == "y") w = w " KASAN(generic)"
			else if (c["CONFIG_KASAN"] == "y") w = w " KASAN"
			if (c["CONFIG_KFENCE"] == "y") w = w " KFENCE"
			if (c["CONFIG_UBSAN"] == "y") w = w " UBSAN" (c["CONFIG_UBSAN_BOUNDS"] == "y" ? "(bounds)" : "")
			if (c["CONFIG_DEBUG_KMEMLEAK"] == "y") w = w " kmemleak"
			if (c["CONFIG_DETECT_HUNG_TASK"] == "y") w = w " hung-task(" hung "s)"
			if (c["CONFIG_RCU_STALL_COMMON"] == "y") w = w " RCU-stall(" rcu "s)"
			if (c["CONFIG_PROVE_LOCKING"] == "y") w = w " lockdep"
			if (c["CONFIG_DEBUG_VM"] == "y") w = w " DEBUG_VM"
			print (w == "" ? "none" : substr(w, 2))
		}'
}
echo "P2PMM-SANITIZERS $(sanitizers)"

# dmesg lines printed since the mark, without the timestamp prefix (KTAP parsers want bare lines).
dmesg_mark() { dmesg | wc -l; }
dmesg_since() { dmesg | tail -n +$(($1 + 1)) | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //'; }

# The tests' provider sizes: vaccel's default 16 MiB static part, and 8 MiB of managed memory per device instead of
# the rest of the BAR (p2pmm_vaccel.ko managed_mb=8), so that tests and benchmarks oversubscribe it with little data.
# The tests also turn background reclaim and thrash detection off (watermark_low_permille=0 thrash_moves=0): they
# count evictions and moves exactly, and a worker evicting on its own, or a range held back after the test moved it
# back and forth on purpose, would change those counts (so do the benchmarks).
# p2pmm_pressure_test turns both on for the provider it uses.
P2PMM_TEST_PARAMS="watermark_low_permille=0 thrash_moves=0"
VACCEL_TEST_PARAMS="managed_mb=8"

# p2pmm.ko with the tests' parameters and those given, then its virtual accelerator driver p2pmm_vaccel.ko (a
# user of p2pmm's exported API) with $VACCEL_PARAMS, by default the tests' ones.
p2pmm_up() {
	insmod /lib/modules/p2pmm.ko $P2PMM_TEST_PARAMS "$@" &&
		insmod /lib/modules/p2pmm_vaccel.ko ${VACCEL_PARAMS-$VACCEL_TEST_PARAMS}
}

# The other way: the driver first (unbinding gives its memory back), then p2pmm.ko.
p2pmm_down() {
	if lsmod | grep -q '^p2pmm_vaccel '; then
		rmmod p2pmm_vaccel || return 1
	fi
	rmmod p2pmm
}

load_p2pmm() {
	lsmod | grep -q '^p2pmm ' && return 0
	p2pmm_up
}

# A driver of the upstream test_hmm uAPI: p2pmm_mirror is a Rust driver on p2pmm.ko's bindings (their symbols are
# p2pmm.ko's), so p2pmm.ko is loaded first; upstream test_hmm needs nothing.
load_hmm_driver() {
	if [ "$1" = p2pmm_mirror ]; then
		load_p2pmm || return 1
	fi
	insmod /lib/modules/$1.ko
}

suite_kunit() {
	# KUnit suites run when their module loads, and their KTAP lands in dmesg: p2pmm.ko's `p2pmm` and
	# `p2pmm_doctests` (the binding layer's `# Examples`, see scripts/doctest_gen.py). p2pmm_mirror, a Rust driver
	# on p2pmm.ko's bindings, is loaded and unloaded once on top (that it links and initialises); the kselftest and
	# hmm suites load it themselves, and upstream test_hmm, which creates the same device nodes, must not meet it.
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
	# The importer test reads through p2pmm's mirror device; unloaded again before the hmm suites. p2pmm_sample is
	# a C driver on p2pmm's exported API: it drives the edu copy engine and takes memory only when its test hands
	# it a device.
	insmod /lib/modules/p2pmm_mirror.ko || return 1
	insmod /lib/modules/p2pmm_sample.ko || return 1
	rc=0
	for t in /kselftest/${p2pmm_kselftest:-*}; do
		"$t" || rc=1
	done
	# The cases that make sense for an unprivileged user, as one: uid 1000 in group 1001, which owns the node
	# the way Documentation/p2pmm/admin.rst's udev rule makes it (p2pmm_unpriv_test checks the rest).
	if [ -z "$p2pmm_kselftest" ]; then
		chown 0:1001 /dev/p2pmm && chmod 0660 /dev/p2pmm || rc=1
		for t in p2pmm_migrate_test p2pmm_advise_test; do
			echo "# unprivileged: $t (uid 1000, group 1001)"
			p2pmm-run-as 1000 1000 1001 /kselftest/$t || rc=1
		done
		chmod 0600 /dev/p2pmm && chown 0:0 /dev/p2pmm || rc=1
	fi
	rmmod p2pmm_sample || rc=1
	rmmod p2pmm_mirror || rc=1
	# Unloading tears everything down (drivers unbind, managed memory is evicted, sysfs/debugfs go): any
	# splat on the way fails the run, a refused rmmod fails the suite.
	p2pmm_down || { echo "rmmod p2pmm failed"; rc=1; }
	# The administrator's route policy (module parameters): p2pmm.ko once more, with strict knobs, for the tests
	# written for them (tests/kselftest/policy), then unloaded again.
	if p2pmm_up route_max_distance=3 route_allow_host_bridge=0; then
		for t in /kselftest-policy/*; do
			"$t" || rc=1
		done
		p2pmm_down || { echo "rmmod p2pmm (route policy) failed"; rc=1; }
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

KHUGEPAGED=/sys/kernel/mm/transparent_hugepage/khugepaged

# Pauses the kernel's background page moves for an hmm suite: khugepaged (a scan sleep of an hour; writing the
# sleep wakes it for one more pass, which is waited for) and proactive compaction. Upstream's anon_write_child
# expects exactly one device fault for a write through the mirror; khugepaged collapsing the forked child's freshly
# copied 2 MiB range, or compaction migrating one of its pages, between that fault and the write invalidates the
# mirror and costs a second fault, with either driver (suite hmm-repeat shows both).
hmm_quiet() {
	khugepaged_sleep=$(cat $KHUGEPAGED/scan_sleep_millisecs)
	proactiveness=$(cat /proc/sys/vm/compaction_proactiveness)
	echo 0 >/proc/sys/vm/compaction_proactiveness
	echo 3600000 >$KHUGEPAGED/scan_sleep_millisecs
	pid=$(pidof khugepaged)
	i=0
	while [ $i -lt 100 ]; do
		case "$(cat /proc/$pid/wchan 2>/dev/null)" in khugepaged*) return 0 ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	say "khugepaged did not go to sleep within 10 s (wchan $(cat /proc/$pid/wchan))"
}

hmm_unquiet() {
	echo "$khugepaged_sleep" >$KHUGEPAGED/scan_sleep_millisecs
	echo "$proactiveness" >/proc/sys/vm/compaction_proactiveness
}

# Upstream hmm-tests (with arguments "$@") against the test_hmm uAPI driver module $1, which is loaded for the
# run only: p2pmm_mirror and upstream test_hmm create the same device nodes, so they never coexist. The kernel's
# background page moves are paused meanwhile (hmm_quiet says why).
run_hmm_tests() {
	drv=$1
	shift
	echo 8 > /proc/sys/vm/nr_hugepages
	load_hmm_driver $drv || return 1
	hmm_quiet
	hmm-tests "$@"
	rc=$?
	hmm_unquiet
	rmmod $drv
	return $rc
}

# Upstream hmm-tests against upstream test_hmm: the yardstick for p2pmm's own mirror driver. Without
# benchmark_thp_migration, a timed test (120 s budget) that the sanitizer kernel under TCG runs for 85 s to more
# than 120 s, whichever the driver: `make bench` runs it against both drivers on the production kernel, and
# hmm-conformance leaves it out too (tests/conformance/hmm-p2pmm.txt). Nor migrate_remap_fault, whose CPU faults
# sometimes outlast the harness's 30 s on this kernel with either driver (the reason is in the conformance list).
suite_hmm_baseline() {
	run_hmm_tests test_hmm -T benchmark_thp_migration -T migrate_remap_fault
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

# One upstream case (P2PMM_HMM_CASE, default hmm.hmm_device_private.anon_write_child) P2PMM_HMM_REPEAT times
# (default 50) against each driver, as the hmm suites run it (P2PMM_HMM_STRESS unset: khugepaged and proactive
# compaction paused, hmm_quiet) or under one kind of background mm activity: P2PMM_HMM_STRESS=khugepaged (khugepaged
# scanning without pause) or compact (memory compacted every 50 ms). For hunting a flaky case (not part of
# `make test`): fails if any run of either driver fails, says how many did, and shows for each failed run what
# invalidated the mirror from outside the test (the p2pmm_notify tracepoints) and what khugepaged collapsed.
suite_hmm_repeat() {
	hmmcase=${P2PMM_HMM_CASE:-hmm.hmm_device_private.anon_write_child}
	n=${P2PMM_HMM_REPEAT:-50}
	tr=/sys/kernel/debug/tracing
	echo 8 >/proc/sys/vm/nr_hugepages
	rc=0
	k=0
	echo "TAP version 13"
	echo "1..2"
	for drv in p2pmm_mirror test_hmm; do
		k=$((k + 1))
		failed=0
		i=0
		load_hmm_driver $drv || return 1
		hmm_quiet
		stress=
		case "${P2PMM_HMM_STRESS:-}" in
		khugepaged) echo 0 >$KHUGEPAGED/scan_sleep_millisecs ;;
		compact)
			(while :; do echo 1 >/proc/sys/vm/compact_memory; sleep 0.05; done) &
			stress=$!
			;;
		esac
		echo 'huge_memory:mm_collapse_huge_page' >$tr/set_event
		[ $drv = p2pmm_mirror ] && echo 'p2pmm_notify:invalidate_start' >>$tr/set_event
		while [ $i -lt "$n" ]; do
			echo >$tr/trace
			hmm-tests -r "$hmmcase" >/tmp/hmm-repeat.log 2>&1 || {
				failed=$((failed + 1))
				grep -E 'Expected|not ok' /tmp/hmm-repeat.log | sed 's/^/# /'
				grep -v '^#' $tr/trace | grep -v ' hmm-tests-' | tail -20 | sed 's/^/# /'
			}
			i=$((i + 1))
		done
		echo >$tr/set_event
		[ -n "$stress" ] && kill $stress
		hmm_unquiet
		rmmod $drv
		say "hmm-repeat $drv $hmmcase (${P2PMM_HMM_STRESS:-quiet}): $failed of $n runs failed"
		if [ $failed -eq 0 ]; then
			echo "ok $k $drv"
		else
			echo "not ok $k $drv"
			rc=1
		fi
	done
	return $rc
}

# Every upstream case against p2pmm's driver, to see what is left (not part of `make test`).
suite_hmm_conformance_all() {
	run_hmm_tests p2pmm_mirror
}

# `make bench`: tests/bench/mirror_bench and upstream's benchmark_thp_migration against p2pmm_mirror and against upstream test_hmm, in the
# same boot, one after the other, after tests/bench/memcpy_bench (the guest's memcpy of the same sizes: what a
# migration cannot beat). scripts/bench_report.py compares the two tables and each row with memcpy.
suite_bench_migration() {
	rc=0
	memcpy_bench || rc=1
	for drv in p2pmm_mirror test_hmm; do
		echo "P2PMM-BENCH-DRIVER $drv"
		load_hmm_driver $drv || return 1
		mirror_bench || rc=1
		rmmod $drv || rc=1
		run_hmm_tests $drv -r hmm.hmm_device_private.benchmark_thp_migration || rc=1
	done
	return $rc
}

# `make bench`: tests/bench/oversub_bench, streaming a working set that fits a managed provider and one twice its
# capacity through p2pmm.ko's managed providers (P2PMM_IOC_MIGRATE); scripts/bench_report.py prints its table.
# The providers' minimum residency is off for this one: with it (1 ms by default) a page that arrived less than
# 1 ms ago is not evicted, so when chunks move every few milliseconds some pages of a chunk may find no room and
# stay where they are (documented, not an error), and the benchmark's shortfall check (0 pages) could not tell
# that from a bug. Thrash detection is off as in the test suites (P2PMM_TEST_PARAMS): the ping-pong scenario moves
# the same ranges in and out on purpose. Background reclaim, which those parameters also turn off, keeps the
# module's default watermarks (the suite passes thrash_moves=0 alone; a Rust module parameter cannot be given
# twice): the benchmark measures p2pmm as it runs (it counts direct and background evictions apart). p2pmm is
# reloaded for the suite and left that way (it is the last suite of the boot to load p2pmm with its own
# parameters).
suite_bench_oversub() {
	if lsmod | grep -q '^p2pmm '; then
		p2pmm_down || return 1
	fi
	P2PMM_TEST_PARAMS="thrash_moves=0" p2pmm_up min_residency_us=0 || return 1
	oversub_bench
}

KMEMLEAK=/sys/kernel/debug/kmemleak

# kmemleak's verdict, framed for scripts/report.py. An object is reported once it is 5 s old and two scans in a row
# found no pointer to it; the file then lists every object reported so far.
kmemleak_scan() {
	echo "P2PMM-KMEMLEAK-BEGIN"
	if [ ! -e $KMEMLEAK ]; then
		echo "P2PMM-KMEMLEAK-END unavailable"
		return 0
	fi
	sleep 5
	echo scan >$KMEMLEAK
	echo scan >$KMEMLEAK
	cat $KMEMLEAK
	echo "P2PMM-KMEMLEAK-END leaks=$(grep -c '^unreferenced object' $KMEMLEAK)"
}

# Every module the suites may have left loaded, unloaded before the closing kmemleak scan so that what they leak on
# unload is seen. A module that will not unload is a failure of its own (P2PMM-TEARDOWN ... failed).
teardown() {
	for m in p2pmm_sample p2pmm_mirror test_hmm p2pmm_detectors p2pmm_vaccel p2pmm; do
		lsmod | grep -q "^$m " || continue
		rmmod $m || echo "P2PMM-TEARDOWN rmmod $m failed"
	done
}

# The detector suites (`make test SUITES=detectors`, never part of a normal run): each provokes one report of its
# detector through tests/detectors/p2pmm_detectors.ko, and scripts/report.py --expect-detector checks that the
# report failed that suite. Lockdep goes first: a KASAN report taints the kernel, which turns lockdep off.
DETECTORS=/sys/kernel/debug/p2pmm_detectors
provoke() {
	insmod /lib/modules/p2pmm_detectors.ko "$@" || return 1
	# A child shell does the write: the hung-task detector is to find a sleeper that is not init.
	sh -c "echo 1 >$DETECTORS/$detector"
	rc=$?
	rmmod p2pmm_detectors || rc=1
	return $rc
}

suite_detect_lockdep() {
	detector=lockdep provoke
}

suite_detect_hung_task() {
	old=$(cat /proc/sys/kernel/hung_task_timeout_secs)
	echo 3 >/proc/sys/kernel/hung_task_timeout_secs
	detector=hung_task provoke hung_task_secs=12
	rc=$?
	echo "$old" >/proc/sys/kernel/hung_task_timeout_secs
	return $rc
}

# The leaked objects are reported here, inside the suite; `clear` then keeps the closing scan from reporting them
# a second time, outside any suite.
suite_detect_kmemleak() {
	detector=kmemleak provoke || return 1
	kmemleak_scan
	echo clear >$KMEMLEAK
}

suite_detect_kasan() {
	detector=kasan provoke
}

# `make bench`: tests/bench/p2p_bench, the NVMe below the switch reading and writing its disk by O_DIRECT into and
# out of static provider memory (P2P DMA) and system memory, in the same boot; scripts/bench_report.py prints the
# ratio.
# p2pmm loaded afresh with the test suites' parameters (P2PMM_TEST_PARAMS: background reclaim off): the benchmark
# fills a managed provider with its buffer, and bench-oversub leaves p2pmm loaded with the default watermarks, under
# which a reclaim worker starts emptying the full provider while the transfers run (with 2 MiB folios it did so
# before the benchmark's check that the buffer stayed put).
suite_bench_p2p() {
	if lsmod | grep -q '^p2pmm '; then
		p2pmm_down || return 1
	fi
	p2pmm_up || return 1
	p2p_bench
}

meminfo_kb() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# Accelerator-sized memory, in the scale VM (scripts/vm.sh, P2PMM_TOPOLOGY=scale: a 16 GiB and a 2 GiB ivshmem BAR
# below one switch). vaccel with static_mb=4096 splits the 16 GiB BAR into 4 GiB of static and, by default,
# 12 GiB of managed memory, and refuses the 2 GiB BAR with its reason (the static part does not fit); p2pmm_sample
# then offers 1 GiB of that one as managed memory. The checks here are one TAP stream, the kselftest another.
suite_scale() {
	mark=$(dmesg_mark)
	free0=$(meminfo_kb MemFree) slab0=$(meminfo_kb Slab) vmalloc0=$(meminfo_kb VmallocUsed) load0=$(uptime_s)
	# Background reclaim and thrash detection off, as in the other test suites: the kselftest counts evictions
	# exactly.
	VACCEL_PARAMS=static_mb=4096 p2pmm_up || return 1
	load1=$(uptime_s) free1=$(meminfo_kb MemFree) slab1=$(meminfo_kb Slab) vmalloc1=$(meminfo_kb VmallocUsed)
	echo "TAP version 13"
	echo "1..2"
	echo "# insmod with a 16 GiB BAR: $(echo "$load0 $load1" | awk '{printf "%.2f", $2 - $1}') s; kernel memory" \
		"$(((free0 - free1) / 1024)) MiB (struct pages included), slab $((slab1 - slab0)) KiB," \
		"vmalloc $((vmalloc1 - vmalloc0)) KiB"
	big=$(dmesg_since "$mark" | sed -n 's/^p2pmm_vaccel \([0-9a-f:.]*\): vaccel: 16384 MiB VRAM: 4096 MiB static .* 12288 MiB managed$/\1/p')
	if [ -n "$big" ]; then echo "ok 1 scale.vaccel_splits_16_gib_into_4_static_12_managed"; else
		echo "not ok 1 scale.vaccel_splits_16_gib_into_4_static_12_managed"; fi
	refused=$(dmesg_since "$mark" |
		sed -n 's/^p2pmm_vaccel \([0-9a-f:.]*\): vaccel: 2048 MiB BAR 2: static_mb is larger than the BAR$/\1/p')
	if [ -n "$refused" ] && [ ! -e "/sys/bus/pci/devices/$refused/driver" ]; then
		echo "ok 2 scale.vaccel_refuses_a_split_that_does_not_fit"
	else
		echo "not ok 2 scale.vaccel_refuses_a_split_that_does_not_fit"
		dmesg_since "$mark" | grep vaccel | sed 's/^/#   /'
	fi
	[ -n "$refused" ] || return 1
	rc=0
	insmod /lib/modules/p2pmm_sample.ko managed_mb=1024 || return 1
	echo p2pmm_sample >"/sys/bus/pci/devices/$refused/driver_override"
	echo "$refused" >/sys/bus/pci/drivers_probe
	/kselftest-scale/p2pmm_scale_test || rc=1
	mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
	grep '^provider' /sys/kernel/debug/p2pmm/slots | sed 's/^/# /'
	echo "$refused" >/sys/bus/pci/drivers/p2pmm_sample/unbind
	rmmod p2pmm_sample || rc=1
	# Unloading evicts whatever is left and unmaps 16 GiB of pagemaps.
	echo "TAP version 13"
	echo "1..1"
	unload0=$(uptime_s)
	if p2pmm_down; then
		echo "# rmmod p2pmm: $(echo "$unload0 $(uptime_s)" | awk '{printf "%.2f", $2 - $1}') s"
		echo "ok 1 scale.unload_with_16_gib_registered"
	else
		echo "not ok 1 scale.unload_with_16_gib_registered"
		rc=1
	fi
	return $rc
}

# The id of the managed provider of `bytes` bytes (from /sys/kernel/p2pmm), or nothing.
managed_of() {
	for d in /sys/kernel/p2pmm/providers/*; do
		[ "$(cat "$d/kind")" = managed ] && [ "$(cat "$d/capacity")" = "$1" ] && echo "${d##*/}" && return
	done
}

# The bookkeeping bytes per slot debugfs reports for provider $1.
bookkeeping_of() {
	sed -n "s/^provider $1 (.*bookkeeping [0-9]* bytes (\([0-9.]*\) B\/slot)$/\1/p" /sys/kernel/debug/p2pmm/slots
}

# A `P2PMM-BENCH scale-register` line: $1 small or large, $2 MiB registered, $3 and $4 the uptime before and after,
# $5 and $6 MemFree (KiB) before and after, $7 the managed provider.
register_line() {
	echo "P2PMM-BENCH scale-register $1 mib=$2 ms=$(echo "$3 $4" | awk '{printf "%.0f", ($2 - $1) * 1000}')" \
		"memfree_kib=$(($5 - $6)) bookkeeping_b_per_slot=$(bookkeeping_of "$7")"
}

# `make bench`, in the scale VM: tests/bench/scale_bench on a small (64 MiB) and a large (12 GiB) managed provider
# in one boot, after timing their registrations (16 GiB for the large BAR: 4 static, 12 managed; 80 MiB for the
# small: 16 static, 64 managed) and what they cost in kernel memory; scripts/bench_report.py prints the table.
suite_bench_scale() {
	mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
	free0=$(meminfo_kb MemFree) load0=$(uptime_s)
	# Background reclaim and thrash detection off: the benchmark fills the providers exactly and moves the same
	# ranges in and out on purpose, to time each way, and checks every count.
	VACCEL_PARAMS=static_mb=4096 p2pmm_up || return 1
	load1=$(uptime_s) free1=$(meminfo_kb MemFree)
	large=$(managed_of $((12 << 30)))
	[ -n "$large" ] || { echo "P2PMM-BENCH-ERROR scale large no 12 GiB managed provider"; return 1; }
	register_line large 16384 "$load0" "$load1" "$free0" "$free1" "$large"
	insmod /lib/modules/p2pmm_sample.ko managed_mb=64 || return 1
	dev=$(dmesg | sed -n 's/.*p2pmm_vaccel \([0-9a-f:.]*\): vaccel: 2048 MiB BAR 2: .*/\1/p' | tail -1)
	[ -n "$dev" ] || { echo "P2PMM-BENCH-ERROR scale small no refused 2 GiB device to bind"; return 1; }
	echo p2pmm_sample >"/sys/bus/pci/devices/$dev/driver_override"
	free2=$(meminfo_kb MemFree) load2=$(uptime_s)
	echo "$dev" >/sys/bus/pci/drivers_probe
	load3=$(uptime_s) free3=$(meminfo_kb MemFree)
	small=$(managed_of $((64 << 20)))
	[ -n "$small" ] || { echo "P2PMM-BENCH-ERROR scale small no 64 MiB managed provider"; return 1; }
	register_line small 80 "$load2" "$load3" "$free2" "$free3" "$small"
	rc=0
	scale_bench "$small" "$large" || rc=1
	echo "$dev" >/sys/bus/pci/drivers/p2pmm_sample/unbind
	rmmod p2pmm_sample || rc=1
	p2pmm_down || rc=1
	return $rc
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

if [ "$mode" = test ]; then
	teardown
	kmemleak_scan
fi

echo "P2PMM-DMESG-BEGIN"
dmesg
echo "P2PMM-DMESG-END"
say "done after $(cut -d' ' -f1 /proc/uptime)s"
echo "P2PMM-DONE"
poweroff -f
