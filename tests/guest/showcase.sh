#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make run`: the PCI tree, who offers P2P memory, then p2pmm: its providers and routes, a workload showing both
# camps (static BARs; invalidatable memory under 2x oversubscription with a mirroring peer; device to device),
# the counters, and two tenants sharing a provider under dmem cgroup limits.

echo
echo "== PCI devices (tree from sysfs) =="
for d in /sys/bus/pci/devices/*; do
	bdf=${d##*/}
	# The sysfs path of a device lists every bridge above it: its depth is the number of BDFs in it.
	path=$(readlink -f "$d")
	depth=$(echo "$path" | tr '/' '\n' | grep -cE '^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-9a-f]$')
	indent=$(printf '%*s' $((2 * (depth - 1))) '')
	ven=$(cat "$d/vendor"); dev=$(cat "$d/device"); class=$(cat "$d/class")
	drv=-; [ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
	case "$ven:$dev:${class%??}" in
	0x1b36:0x000c:*) what="PCIe root port" ;;
	0x104c:0x8232:*) what="PCIe switch upstream port (x3130)" ;;
	0x104c:0x8233:*) what="PCIe switch downstream port (xio3130)" ;;
	0x1b36:0x0010:*) what="NVMe controller" ;;
	0x1af4:0x1110:*) what="ivshmem (plain memory BAR)" ;;
	0x1234:0x11e8:*) what="edu (a DMA engine)" ;;
	0x8086:0x29c0:*) what="host bridge (q35)" ;;
	0x8086:0x2918:*) what="ISA bridge (ICH9 LPC)" ;;
	0x8086:0x2922:*) what="SATA controller (ICH9 AHCI)" ;;
	0x8086:0x2930:*) what="SMBus controller (ICH9)" ;;
	*) what="class $class" ;;
	esac
	# Sorting on the sysfs path prints each device right under the bridge it sits behind.
	printf '%s\t%s%s  %s:%s  %-38s driver=%s\n' "$path" "$indent" "$bdf" "${ven#0x}" "${dev#0x}" "$what" "$drv"
done | sort | cut -f2-

echo
echo "== P2P memory (p2pdma providers) =="
found=0
for d in /sys/bus/pci/devices/*; do
	[ -d "$d/p2pmem" ] || continue
	found=1
	printf '%s  size=%d MiB  available=%d MiB  published=%s\n' "${d##*/}" \
		$(($(cat "$d/p2pmem/size") >> 20)) $(($(cat "$d/p2pmem/available") >> 20)) "$(cat "$d/p2pmem/published")"
done
[ $found = 1 ] || echo "(none)"

echo
echo "== p2pmm =="
# p2pmm.ko, then its virtual accelerator driver, a module of its own that offers each accelerator's BAR through
# p2pmm's exported API: 8 MiB of managed memory per accelerator instead of the rest of its BAR (the default), as
# part (b) oversubscribes it twice over, which takes seconds at this size under emulation.
if ! insmod /lib/modules/p2pmm.ko || ! insmod /lib/modules/p2pmm_vaccel.ko managed_mb=8; then
	echo "p2pmm.ko or p2pmm_vaccel.ko failed to load"
	exit 0
fi
grep '^p2pmm ' /proc/modules | awk '{print "module p2pmm loaded, " $2 " bytes"}'
grep '^p2pmm ' /proc/modules | awk '{print "modules using its API: " $4}'
/bin/p2pmm-info

echo
echo "== providers =="
if [ -x /bin/p2pmmctl ]; then
	p2pmmctl providers
	echo
	echo "== routes (p2pmmctl topo) =="
	p2pmmctl topo
else
	for d in /sys/kernel/p2pmm/providers/*; do
		printf '%3s  %-8s %s  %s bytes\n' "${d##*/}" "$(cat "$d/kind")" "$(cat "$d/device")" "$(cat "$d/capacity")"
	done
	echo
	echo "== routes =="
	cat /sys/kernel/p2pmm/routes
fi

# The peer of part (b): p2pmm's mirror device, an importer on the mirror layer. The importer of part (d):
# p2pmm_sample's dma-buf importer, whose DMA engine is the edu (the driver binds it by its ID table).
insmod /lib/modules/p2pmm_mirror.ko
insmod /lib/modules/p2pmm_sample.ko
/bin/p2pmm-demo
echo "P2PMM-DEMO rc=$?"
rmmod p2pmm_sample
rmmod p2pmm_mirror

echo
echo "== counters =="
if [ -x /bin/p2pmmctl ]; then
	p2pmmctl stats
else
	mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
	cat /sys/kernel/debug/p2pmm/providers
fi

# Two tenants share one managed provider under dmem cgroup limits (Documentation/p2pmm/admin.rst): tenant-b is
# protected by dmem.min and holds 4 MiB; tenant-a asks for 8 MiB but dmem.max gives it 2 MiB, and what does not fit
# is its own pages, evicted, never tenant-b's.
echo
echo "== two tenants on one provider (dmem cgroups) =="
[ -e /sys/fs/cgroup/cgroup.controllers ] || mount -t cgroup2 none /sys/fs/cgroup
if ! grep -qw dmem /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	echo "(skipped: no dmem cgroup controller: $(cat /sys/fs/cgroup/cgroup.controllers 2>&1))"
elif [ -x /bin/p2pmmctl ]; then
	for d in /sys/kernel/p2pmm/providers/*; do
		[ "$(cat "$d/kind")" = managed ] && { m=${d##*/}; region=p2pmm/$(cat "$d/device")/managed; break; }
	done
	cg=/sys/fs/cgroup
	echo +dmem >$cg/cgroup.subtree_control
	mkdir -p $cg/tenant-a $cg/tenant-b
	echo "$region 2M" >$cg/tenant-a/dmem.max
	echo "$region 4M" >$cg/tenant-b/dmem.min
	echo "provider $m ($region): tenant-a dmem.max 2M, tenant-b dmem.min 4M"
	# Each tenant's p2pmmctl places its buffer and holds it (until killed) while the table is printed.
	hold() {
		sh -c "echo \$\$ >$cg/$1/cgroup.procs && exec p2pmmctl prefetch --size $2 --to $m --hold --hold-secs 60" \
			>/tmp/$1.out 2>&1 &
		i=0
		while ! grep -q '^holding ' /tmp/$1.out && [ $i -lt 100 ] && kill -0 $! 2>/dev/null; do
			sleep 1
			i=$((i + 1))
		done
	}
	hold tenant-b 4M
	holders=$!
	echo "tenant-b: p2pmmctl prefetch --size 4M --to $m --hold"
	hold tenant-a 8M
	holders="$holders $!"
	echo "tenant-a: p2pmmctl prefetch --size 8M --to $m --hold (over its dmem.max: its own pages go to a peer)"
	p2pmmctl cgroups
	kill $holders 2>/dev/null
	wait $holders 2>/dev/null
	rmdir $cg/tenant-a $cg/tenant-b
fi
