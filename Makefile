# SPDX-License-Identifier: GPL-2.0
# p2pmm's entry points. Two commands matter on a fresh machine:
#   make run    boot the VM and show p2pmm on the default PCIe topology
#   make test   everything: toolchain, kernel, modules, initramfs, VM, all suites, one summary
# Both set up what they need (as root) and are incremental. The kernel's kbuild reads ./Kbuild, not this file.
# P2PMM_CACHE (default ~/.cache/p2pmm) holds the toolchain chroot, the kernel tree and build outputs.

# SUITES (e.g. `make test SUITES=kselftest`) reaches scripts/test.sh, which holds the default list.

.PHONY: all test run bench fuzz toolchain kernel modules initramfs host-test fmt clean distclean
all: test

test:
	@bash scripts/test.sh

run:
	@bash scripts/run.sh

# Benchmarks against upstream C in the same boot; prints figures and ratios, never fails on speed.
bench:
	@bash scripts/bench.sh

# The uAPI fuzzer alone with a long budget (1,000,000 calls; P2PMM_FUZZ_CALLS and P2PMM_FUZZ_SEED override). `make
# test` runs it with 100,000 calls in its kselftest suite.
fuzz:
	@P2PMM_KSELFTEST=p2pmm_fuzz_test P2PMM_FUZZ_CALLS=$${P2PMM_FUZZ_CALLS:-1000000} \
		VM_TIMEOUT=$${VM_TIMEOUT:-3600} SUITES=kselftest bash scripts/test.sh

toolchain:
	@bash scripts/toolchain.sh

kernel: toolchain
	@bash scripts/kernel.sh

modules: kernel
	@bash scripts/modules.sh

initramfs: modules
	@bash scripts/initramfs.sh

host-test:
	@bash scripts/host-tests.sh

# Format host and module Rust code with the kernel's rustfmt settings.
fmt:
	cargo fmt --all
	rustfmt --edition 2021 --config-path rustfmt.toml $$(find mm drivers include -name '*.rs' -not -path '*/target/*' -not -name doctests_generated.rs)

# Build outputs only; the toolchain chroot and the kernel build stay cached.
clean:
	rm -rf target "$${P2PMM_CACHE:-$$HOME/.cache/p2pmm}/out"

# Everything in the cache, chroot included (unmounted first: a bind-mounted /dev must never be deleted through it).
distclean: clean
	@bash scripts/distclean.sh
