#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# p2pmmctl against the real /dev/p2pmm, as a kselftest: TAP lines (`ok N name` / `not ok N name`) that
# scripts/report.py counts in the kselftest suite. Installed as /kselftest/p2pmmctl_test.sh by scripts/initramfs.sh.
# Busybox only (no python, no jq): JSON is checked by flattening p2pmmctl's pretty-printed objects with awk, and
# every expectation comes from sysfs (p2pmem sizes, which devices share a root port), not from constants.
# Needs p2pmm.ko loaded on the default VM topology; runs as root and drops to nobody for the permission check.

CTL=${P2PMMCTL:-/bin/p2pmmctl}
PCI=/sys/bus/pci/devices
T=$(mktemp -d)
n=0
failed=0

echo "TAP version 13"
echo "# p2pmmctl: $($CTL --version)"

ok() {
	n=$((n + 1))
	echo "ok $n p2pmmctl.$1"
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n p2pmmctl.$1"
}
# check NAME 'CONDITION': one test result (CONDITION is a shell list, evaluated here); on failure the condition
# and the last command's output as comments.
check() {
	name=$1
	if eval "$2"; then
		ok "$name"
	else
		not_ok "$name"
		echo "$2" | sed 's/^[[:space:]]*/#   failed: /'
		[ -s "$T/out" ] && sed 's/^/#   stdout: /' "$T/out" | head -40
		[ -s "$T/err" ] && sed 's/^/#   stderr: /' "$T/err" | head -10
	fi
}
# run ARGS...: p2pmmctl with stdout in $T/out, stderr in $T/err, exit code in $rc.
run() {
	"$CTL" "$@" >"$T/out" 2>"$T/err"
	rc=$?
}

# One line per innermost JSON object of pretty-printed JSON: " key=value key=value ..." (strings unquoted).
flat() {
	awk '
	/^ *"[a-z_]+": [^[{]/ {
		line = $0
		sub(/^ *"/, "", line); key = line; sub(/".*/, "", key)
		val = line; sub(/^[a-z_]+": /, "", val); sub(/,$/, "", val); gsub(/"/, "", val)
		acc = acc " " key "=" val
		next
	}
	/^ *[}]/ { if (acc != "") print acc " "; acc = "" }
	' "$@"
}
# field KEY: the value of KEY in each line of stdin.
field() { sed -n "s/.* $1=\([^ ]*\) .*/\1/p"; }
one_line_stderr() { [ "$(wc -l <"$T/err")" = 1 ]; }

# ---- sysfs facts: the CMB NVMe, the vaccel below the same switch, the vaccel on its own root port ----
root_port() { readlink -f "$PCI/$1" | cut -d/ -f5; }
cmb=
for d in "$PCI"/*; do
	[ -f "$d/p2pmem/size" ] && [ "$(cat "$d/vendor")" = 0x1b36 ] && cmb=${d##*/}
done
near=
far=
for d in "$PCI"/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x1af4:0x1110 ] || continue
	[ -e "$d/driver" ] || continue # the spare accelerator, which no driver takes (tests/guest/init.sh)
	if [ -n "$cmb" ] && [ "$(root_port "${d##*/}")" = "$(root_port "$cmb")" ]; then near=${d##*/}; else far=${d##*/}; fi
done
echo "# topology from sysfs: CMB $cmb, vaccel below the same switch $near, vaccel on its own root port $far"

# ---- version ----
run version
check version_reports_uapi '[ $rc = 0 ] && grep -q "^p2pmm uAPI version 6 (p2pmmctl speaks version 6)$" "$T/out" &&
	grep -q "^features: version, providers, migrate, advise, static-mmap, blkio, dmabuf, dmabuf-managed (0xff)$" "$T/out"'

# ---- providers ----
run providers --json
check providers_json_exits_0 '[ $rc = 0 ]'
cp "$T/out" "$T/providers.json"
flat "$T/providers.json" >"$T/providers"
njson=$(grep -c ' id=' "$T/providers")
check providers_json_well_formed '[ "$(head -1 "$T/providers.json")" = "{" ] && [ "$(tail -1 "$T/providers.json")" = "}" ] &&
	[ "$(grep -c "{" "$T/providers.json")" = "$(grep -c "}" "$T/providers.json")" ] && [ "$njson" -ge 5 ]'
run providers
# The summary line "N providers (S static, M managed)" and the table's rows agree with the JSON.
nsum=$(sed -n 's/^\([0-9]*\) providers (.*/\1/p' "$T/out")
nrows=$(grep -cE '^ *[0-9]+  (static|managed) ' "$T/out")
check providers_table_matches_json '[ $rc = 0 ] && [ "$nsum" = "$njson" ] && [ "$nrows" = "$njson" ]'
# Every device with p2pdma memory has a static provider of exactly that size and use, less the P2P window of a
# managed provider on the same device (p2pdma memory too, allocated whole); the CMB is adopted.
good=1
for d in "$PCI"/*; do
	[ -f "$d/p2pmem/size" ] || continue
	name=${d##*/}
	line=$(grep " kind=static device=$name " "$T/providers")
	size=$(echo "$line" | field capacity)
	used=$(echo "$line" | field used)
	window=$(grep " kind=managed device=$name " "$T/providers" | field capacity)
	p2pmem=$(($(cat "$d/p2pmem/size") - ${window:-0}))
	if [ "$size" != "$p2pmem" ] || [ "$used" != $((p2pmem - $(cat "$d/p2pmem/available"))) ]; then
		echo "# $name: p2pmem size $(cat "$d/p2pmem/size") available $(cat "$d/p2pmem/available"), p2pmmctl: $line"
		good=0
	fi
done
check providers_match_sysfs_p2pmem '[ $good = 1 ] && [ -n "$cmb" ] && grep " device=$cmb " "$T/providers" | grep -q " adopted=true "'
managed=$(grep " kind=managed device=$near " "$T/providers" | field id)
managed_far=$(grep " kind=managed device=$far " "$T/providers" | field id)
static_cmb=$(grep " kind=static device=$cmb " "$T/providers" | field id)
static_far=$(grep " kind=static device=$far " "$T/providers" | field id)
echo "# providers: managed $managed ($near), managed $managed_far ($far), static $static_cmb ($cmb), static $static_far ($far)"

# ---- topo ----
run topo --json
flat "$T/out" >"$T/routes"
route() { grep " provider=$1 client=$2 " "$T/routes"; }
check topo_switch_pair_is_bus_address '[ $rc = 0 ] && route "$static_cmb" "$near" | grep -q " cell=BUS verdict=bus-address plan=direct reason=NONE "'
check topo_root_port_pair_static_refused 'route "$static_far" "$cmb" | grep -q " cell=X verdict=not-supported plan=refused reason=HOST_BRIDGE_NOT_ALLOWED "'
check topo_root_port_pair_managed_bounces 'route "$managed_far" "$cmb" | grep -q " cell=BNC verdict=not-supported plan=bounce reason=HOST_BRIDGE_NOT_ALLOWED "'
check topo_own_device_is_self 'route "$managed" "$near" | grep -q " cell=SELF .* distance=0 "'
run topo
# The matrix row of the CMB: its cell in the far static provider's column is X; the reason is spelled out.
col=$(awk -v id="$static_far" '/^CLIENT/ { for (i = 1; i <= NF; i++) if ($i == id) print i - 1 }' "$T/out")
cellx=$(awk -v dev="$cmb" -v c="$col" 'index($0, dev) == 1 { print $c; exit }' "$T/out")
check topo_table_marks_refused_pair '[ $rc = 0 ] && [ "$cellx" = X ] &&
	grep -q "^  HOST_BRIDGE_NOT_ALLOWED  no common upstream bridge" "$T/out" && grep -q "^Not direct ([0-9]* pairs):" "$T/out"'
run topo --all-pci --json
nclients=$(flat "$T/out" | grep -c ' device=.* class=')
check topo_all_pci_lists_every_device '[ $rc = 0 ] && [ "$nclients" = "$(ls "$PCI" | wc -l)" ]'

# ---- prefetch self-test ----
before=$(flat "$T/providers.json" | grep " id=$managed " | field migrated_in)
run prefetch --size 4M --to "$managed"
check prefetch_places_pages_on_target '[ $rc = 0 ] && grep -qE "^  placement +provider $managed: 1024 pages$" "$T/out" &&
	grep -qE "^  data check +ok, 4194304 bytes" "$T/out"'
"$CTL" providers --json | flat | grep " id=$managed " >"$T/after"
after=$(field migrated_in <"$T/after")
check prefetch_counted_in_stats '[ $((after - before)) -ge 1024 ]'
run prefetch --size 1M --to "$managed" --json
check prefetch_json '[ $rc = 0 ] && grep -q "\"data_ok\": true" "$T/out" && flat "$T/out" | grep -q " target=provider $managed migrated=256 "'

# ---- query self-test: provider, system and unpopulated pages in one buffer ----
run query --size 1M --fill 512K --prefetch-to "$managed" --prefetch-size 256K
check query_shows_three_kinds_of_page '[ $rc = 0 ] && grep -qE "^0-63 .* provider $managed$" "$T/out" &&
	grep -qE "^64-127 .* system$" "$T/out" && grep -qE "^128-255 .* not populated$" "$T/out"'

# ---- query of another process: a buffer placed and held by one p2pmmctl, looked at by another ----
# The holder runs in a cgroup of its own with a dmem.max, for `p2pmmctl cgroups` below.
CG=/sys/fs/cgroup/p2pmmctl_test
echo +dmem >/sys/fs/cgroup/cgroup.subtree_control
rmdir "$CG" 2>/dev/null
mkdir "$CG" && echo "p2pmm/$near/managed 2M" >"$CG/dmem.max"
sh -c "echo \$\$ >$CG/cgroup.procs && exec $CTL prefetch --size 1M --to $managed --hold --hold-secs 60" \
	>"$T/hold" 2>"$T/hold.err" &
holder=$!
i=0
while ! grep -q '^holding ' "$T/hold" && [ $i -lt 50 ] && kill -0 "$holder" 2>/dev/null; do
	sleep 0.2 2>/dev/null || sleep 1
	i=$((i + 1))
done
# "holding <addr> <len> pid <pid>"
haddr=$(awk '/^holding / { print $2 }' "$T/hold")
hlen=$(awk '/^holding / { print $3 }' "$T/hold")
hpid=$(awk '/^holding / { print $5 }' "$T/hold")
echo "# holder $holder: $(head -1 "$T/hold")"
cp "$T/hold" "$T/out"
cp "$T/hold.err" "$T/err"
check prefetch_hold_prints_range '[ "$hpid" = "$holder" ] && [ "$hlen" = 1048576 ] && echo "$haddr" | grep -qE "^0x[0-9a-f]+000$" &&
	[ "$(wc -l <"$T/hold")" = 1 ] && kill -0 "$holder"'
# What the holder's cgroup holds, from the dmem controller.
run cgroups --json
flat "$T/out" >"$T/cgflat"
check cgroups_json_shows_the_holders_charge '[ $rc = 0 ] && grep -q "^ cgroup=/p2pmmctl_test region=p2pmm/$near/managed provider=$managed current=1048576 max=2097152 min=0 low=0 $" "$T/cgflat"'
run cgroups
check cgroups_table_shows_the_holders_charge '[ $rc = 0 ] &&
	grep -qE "^/p2pmmctl_test +$managed +p2pmm/$near/managed +1 MiB +2 MiB +- +-$" "$T/out"'
run cgroups --cgroup-root /proc
check cgroups_without_dmem_controller '[ $rc = 1 ] && one_line_stderr && grep -q "^p2pmmctl: /proc: no dmem cgroup controller there" "$T/err"'
run query --pid "$holder" --addr "$haddr" --len "$hlen"
check query_other_process_every_page_on_provider '[ $rc = 0 ] &&
	grep -q "^query of process $holder (p2pmmctl): 1 MiB (256 pages) at $haddr$" "$T/out" &&
	grep -qE "^  placement +provider $managed: 256 pages$" "$T/out" &&
	grep -qE "^0-255 +0x0-0xfffff +provider $managed$" "$T/out" && [ "$(grep -cE "^[0-9]+-[0-9]+ " "$T/out")" = 1 ]'
sed 's/^/#   /' "$T/out"
run query --pid "$holder" --addr "$haddr" --len "$hlen" --json
flat "$T/out" >"$T/qflat"
check query_other_process_json '[ $rc = 0 ] && [ "$(head -1 "$T/out")" = "{" ] && [ "$(tail -1 "$T/out")" = "}" ] &&
	grep -q "^ pid=$holder comm=p2pmmctl addr=$((haddr)) length=1048576 pages=256 system=0 none=0 $" "$T/qflat" &&
	grep -q "\"$managed\": 256$" "$T/out" && [ "$(grep -c " first=" "$T/qflat")" = 1 ] &&
	grep -q "^ first=0 last=255 location=provider $managed $" "$T/qflat"'
run query --pid "$holder" --addr 0x1000 --len 4096
check query_other_process_unmapped_range '[ $rc = 1 ] && one_line_stderr &&
	grep -q "^p2pmmctl: --pid $holder: P2PMM_IOC_QUERY: .*(ENOMEM); part of the range is not mapped$" "$T/err"'
run query --pid 2147483632 --addr "$haddr" --len "$hlen"
check query_no_such_process_esrch '[ $rc = 1 ] && one_line_stderr &&
	grep -q "^p2pmmctl: --pid 2147483632: P2PMM_IOC_QUERY: no such process (ESRCH); no process with that pid" "$T/err"'
run query --pid "$holder"
check query_other_process_needs_range '[ $rc = 2 ] && one_line_stderr &&
	grep -q "^p2pmmctl: --pid $holder: a query of another process needs --addr and --len" "$T/err"'
# Without CAP_SYS_PTRACE: nobody. The node is 0600 root, so it is opened up for this one command (EPERM is the
# kernel's answer to the ioctl, not to open); the kselftest mig.query_another_process checks the same from C.
mode=$(stat -c %a /dev/p2pmm 2>/dev/null || echo 600)
grep -q '^nobody:' /etc/passwd 2>/dev/null || { mkdir -p /etc && echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd; }
grep -q '^nogroup:' /etc/group 2>/dev/null || echo 'nogroup:x:65534:' >>/etc/group
chmod 0666 /dev/p2pmm
su -s /bin/sh nobody -c "$CTL query --pid $holder --addr $haddr --len $hlen" >"$T/out" 2>"$T/err"
rc=$?
chmod "$mode" /dev/p2pmm
check query_other_process_unprivileged_eperm '[ $rc = 1 ] && one_line_stderr &&
	grep -q "^p2pmmctl: --pid $holder: P2PMM_IOC_QUERY: operation not permitted (EPERM); another process.s memory needs CAP_SYS_PTRACE or tracing it$" "$T/err"'
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
check cgroups_charge_leaves_with_the_holder '[ "$(grep "^p2pmm/$near/managed " "$CG/dmem.current")" = "p2pmm/$near/managed 0" ] && rmdir "$CG"'
# A hold that runs out: the data check follows it, and the pages were where the prefetch put them.
run prefetch --size 64K --to "$managed" --hold --hold-secs 1
check prefetch_hold_ends_with_report '[ $rc = 0 ] && head -1 "$T/out" | grep -qE "^holding 0x[0-9a-f]+ 65536 pid [0-9]+$" &&
	grep -qE "^  placement +provider $managed: 16 pages$" "$T/out" && grep -qE "^  data check +ok, 65536 bytes" "$T/out"'

# ---- advise self-test: pinned pages stay under 2x pressure ----
run advise --size 2M --pin --prefetch-to "$managed" --pressure 16M
check advise_pin_survives_pressure '[ $rc = 0 ] && grep -q "512 of the 512 advised pages on provider $managed stayed" "$T/out"'

# ---- stats ----
run stats --watch 0.2 --count 3
check stats_watch_count '[ $rc = 0 ] && [ "$(grep -c "^sample [0-9]* at +" "$T/out")" = 3 ] && [ "$(grep -c "^ *ID  KIND" "$T/out")" = 3 ]'
run stats --json --watch 0.1 --count 2
check stats_json_lines '[ $rc = 0 ] && [ "$(grep -c "^{\"sample\":" "$T/out")" = 2 ]'

# ---- errors: one line on stderr, non-zero exit ----
run prefetch --to 4242
check error_unknown_provider '[ $rc = 1 ] && one_line_stderr && grep -q "^p2pmmctl: no provider 4242 " "$T/err"'
run prefetch --to "$static_cmb"
check error_static_target '[ $rc = 1 ] && one_line_stderr && grep -q "^p2pmmctl: provider $static_cmb is static" "$T/err"'
run prefetch --to "$managed" --pid 1
check error_prefetch_other_pid_exit_2 '[ $rc = 2 ] && one_line_stderr &&
	grep -q "^p2pmmctl: --pid 1: prefetch acts on the caller.s own address space only (P2PMM_IOC_MIGRATE takes no pid)" "$T/err"'
run advise --pin --pid 1
check error_advise_other_pid_exit_2 '[ $rc = 2 ] && one_line_stderr &&
	grep -q "^p2pmmctl: --pid 1: advise acts on the caller.s own address space only (P2PMM_IOC_ADVISE takes no pid)" "$T/err"'
# ---- transfer: an NVMe's DMA into and out of p2pmm memory (O_DIRECT for static, P2PMM_IOC_BLKIO for managed) ----
# The NVMe below the switch and the one on its own root port, by serial; their namespaces' block devices.
nvme_blk() {
	for c in /sys/class/nvme/*; do
		[ "$(sed 's/ *$//' "$c/serial")" = "$1" ] || continue
		for ns in "$c/${c##*/}"n*; do
			[ -e "$ns" ] && echo "/dev/${ns##*/}" && return
		done
	done
}
sw=$(nvme_blk p2pmm-sw)
rp=$(nvme_blk p2pmm-rp2)
static_near=$(grep " kind=static device=$near " "$T/providers" | field id)
echo "# transfer: NVMe $sw below the switch, $rp on its own root port, static provider $static_near ($near)," \
	"managed providers $managed ($near) and $managed_far ($far)"
run transfer --file "$sw" --provider "$static_near" --op write --size 1M --offset 40M
check transfer_write_from_static_memory_is_p2p '[ $rc = 0 ] && grep -q "^route: bus-address (distance [0-9]*), plan direct$" "$T/out" &&
	grep -q "^by P2P DMA: 1 MiB; by DMA to system memory: 0 B; bounced through system memory by a CPU copy: 0 B$" "$T/out"'
run transfer --file "$sw" --provider "$static_near" --op read --size 1M --offset 40M --chunk 256K --json
check transfer_read_into_static_memory_json '[ $rc = 0 ] && grep -q "^  \"op\": \"read\",$" "$T/out" &&
	grep -q "^  \"p2p_bytes\": 1048576,$" "$T/out" && grep -q "^  \"system_dma_bytes\": 0,$" "$T/out" &&
	grep -q "^  \"bounced_bytes\": 0$" "$T/out"'
run transfer --file "$rp" --provider "$static_near" --size 64K
check transfer_without_a_p2p_route_fails '[ $rc = 1 ] && one_line_stderr &&
	grep -q "^p2pmmctl: transfer: read of $rp at offset 0: Invalid argument (os error 22) (the device cannot DMA to this memory" "$T/err"'
# Managed memory stays on its provider (P2PMM_IOC_BLKIO): the NVMe below the switch reaches the vaccel below the
# same switch by P2P DMA through the provider's BAR, and every byte of the vaccel on its own root port bounces.
run transfer --file "$sw" --provider "$managed" --op write --size 1M --offset 40M
check transfer_write_from_managed_memory_is_p2p '[ $rc = 0 ] && grep -q "^route: bus-address (distance [0-9]*), plan direct$" "$T/out" &&
	grep -q "^by P2P DMA: 1 MiB; by DMA to system memory: 0 B; bounced through system memory by a CPU copy: 0 B$" "$T/out" &&
	grep -q "^still on provider $managed: 256 of 256 pages (256 before the transfer)$" "$T/out"'
run transfer --file "$sw" --provider "$managed" --op read --size 1M --offset 40M --chunk 256K --json
check transfer_read_into_managed_memory_is_p2p_json '[ $rc = 0 ] && grep -q "^  \"op\": \"read\",$" "$T/out" &&
	grep -q "^  \"kind\": \"managed\",$" "$T/out" && grep -q "^  \"p2p_bytes\": 1048576,$" "$T/out" &&
	grep -q "^  \"system_dma_bytes\": 0,$" "$T/out" && grep -q "^  \"bounced_bytes\": 0,$" "$T/out" &&
	grep -q "^  \"pages_on_provider_before\": 256,$" "$T/out" && grep -q "^  \"pages_on_provider_after\": 256$" "$T/out"'
run transfer --file "$sw" --provider "$managed_far" --op write --size 1M --offset 40M
check transfer_write_from_far_managed_memory_bounces '[ $rc = 0 ] && grep -q "^route: not-supported (distance none), plan bounce, " "$T/out" &&
	grep -q "^by P2P DMA: 0 B; by DMA to system memory: 0 B; bounced through system memory by a CPU copy: 1 MiB$" "$T/out" &&
	grep -q "^still on provider $managed_far: 256 of 256 pages (256 before the transfer)$" "$T/out"'
run transfer --file "$sw" --provider "$managed_far" --op read --size 1M --offset 40M --chunk 256K --json
check transfer_read_into_far_managed_memory_bounces_json '[ $rc = 0 ] && grep -q "^  \"op\": \"read\",$" "$T/out" &&
	grep -q "^  \"p2p_bytes\": 0,$" "$T/out" && grep -q "^  \"system_dma_bytes\": 0,$" "$T/out" &&
	grep -q "^  \"bounced_bytes\": 1048576,$" "$T/out" && grep -q "^  \"pages_on_provider_after\": 256$" "$T/out"'
: >"$T/plain"
run transfer --file "$T/plain" --provider "$managed" --size 64K
check transfer_managed_memory_needs_a_block_device '[ $rc = 2 ] && one_line_stderr &&
	grep -q "^p2pmmctl: transfer: $T/plain is not a block device: the memory of managed provider $managed moves by P2PMM_IOC_BLKIO, which needs one$" "$T/err"'
run transfer --file "$sw" --provider "$static_near" --size 1000
check transfer_unaligned_size_exit_2 '[ $rc = 2 ] && one_line_stderr && grep -q "^p2pmmctl: transfer: --size 1000 is not a multiple" "$T/err"'

run providers --device /dev/nonexistent
check error_missing_node '[ $rc = 1 ] && one_line_stderr && grep -q "^p2pmmctl: /dev/nonexistent: no such file or directory (is p2pmm.ko loaded?)$" "$T/err"'
# Not root: the node is 0600 root. busybox su, as root, needs only a passwd entry (added above).
su -s /bin/sh nobody -c "$CTL providers" >"$T/out" 2>"$T/err"
rc=$?
check error_not_root '[ $rc = 1 ] && one_line_stderr &&
	grep -q "^p2pmmctl: /dev/p2pmm: permission denied (the uAPI is root-only by default)$" "$T/err"'

echo "1..$n"
echo "# p2pmmctl: $((n - failed)) passed, $failed failed"
rm -rf "$T"
[ $failed = 0 ]
