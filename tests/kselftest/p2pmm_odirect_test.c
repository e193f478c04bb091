// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of peer-to-peer DMA into static provider memory: a process maps static memory of a provider from
 * /dev/p2pmm (or from the provider's allocate file in /sys/kernel/p2pmm) and does O_DIRECT pread/pwrite, and the same reads and writes through io_uring, on an NVMe namespace
 * with it, so the NVMe itself moves the bytes to
 * or from the provider's BAR. For every NVMe of the default topology (below the switch, the CMB NVMe, on its own
 * root port) and every static provider (the CMB, the vaccels below the switch and on their own root port):
 *
 * - the outcome is the one the PCI topology gives (sysfs, not P2PMM_IOC_ROUTE): a pair below a common bridge
 *   transfers, a pair across q35's host bridge (not on p2pdma's allowlist) fails with EINVAL, as the block layer
 *   reports an unmappable P2P request (BLK_STS_INVAL), and nothing of the buffer or the disk changes;
 * - P2PMM_IOC_ROUTE's verdict and plan agree with that outcome;
 * - the bytes are checked on both sides: through the mapping of the BAR, and on the disk through a second
 *   O_DIRECT transfer to or from system memory;
 * - no bounce and no CPU copy happened: the kernel's dma:dma_map_phys event, which every DMA mapping of system
 *   memory and every mapping through a host bridge emits, fires for the system-memory transfer and never for the
 *   P2P one, whose bus addresses the block layer computes without mapping anything.
 *
 * Needs p2pmm.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_topo.h"

#define XFER (64 << 10)
/*
 * Each (static provider, direction) pair has a disk region of its own, by the provider's place among the static
 * ones (not its id: ids grow with every rebind, and other tests rebind devices many times).
 */
#define REGION(nth, write) ((off_t)((nth) * 2 + (write)) * 2 * XFER)

/* An O_DIRECT transfer by pread/pwrite: bytes moved, or -errno. */
static ssize_t xfer(int bfd, void *buf, off_t off, int write)
{
	ssize_t n = write ? pwrite(bfd, buf, XFER, off) : pread(bfd, buf, XFER, off);

	return n < 0 ? -errno : n;
}

/* The same transfer submitted through io_uring. */
static ssize_t xfer_uring(int bfd, void *buf, off_t off, int write)
{
	return p2p_dma_uring_rw(bfd, buf, XFER, off, write);
}

FIXTURE(odirect) {
	struct p2p_dma_rig rig;
};

FIXTURE_VARIANT(odirect) {
	const char *serial;
};

/* The NVMe below the PCIe switch, next to the accelerators. */
FIXTURE_VARIANT_ADD(odirect, switch_nvme) {
	.serial = "p2pmm-sw",
};

/* The NVMe whose CMB is a provider itself (also below the switch). */
FIXTURE_VARIANT_ADD(odirect, cmb_nvme) {
	.serial = "p2pmm-cmb",
};

/* The NVMe on a root port of its own: every static provider is across q35's host bridge. */
FIXTURE_VARIANT_ADD(odirect, root_port_nvme) {
	.serial = "p2pmm-rp2",
};

FIXTURE_SETUP(odirect)
{
	const char *missing = p2p_dma_rig_up(&self->rig, variant->serial, XFER);

	ASSERT_EQ(NULL, missing) TH_LOG("%s (NVMe %s): %s", missing, variant->serial, strerror(errno));
}

FIXTURE_TEARDOWN(odirect)
{
	p2p_dma_rig_down(&self->rig);
}

/*
 * XFER bytes of new static memory of provider `id`: from /dev/p2pmm at P2PMM_MMAP_OFFSET(id), or (via_file) from
 * the provider's allocate file at offset 0, the way tools written for p2pdma's p2pmem/allocate map it.
 */
static void *map_static(FIXTURE_DATA(odirect) *self, uint32_t id, int via_file)
{
	char path[96];
	void *p;
	int fd;

	if (!via_file)
		return mmap(NULL, XFER, PROT_READ | PROT_WRITE, MAP_SHARED, self->rig.fd, P2PMM_MMAP_OFFSET(id));
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/allocate", id);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, XFER, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

/*
 * One direction over every static provider: write = the NVMe reads the provider's memory (pwrite from it),
 * read = the NVMe writes into it (pread into it). Returns how many pairs transferred directly.
 */
static int run_matrix(struct __test_metadata *_metadata, FIXTURE_DATA(odirect) *self, int write,
		      ssize_t (*transfer)(int bfd, void *buf, off_t off, int write), int via_file)
{
	int direct = 0, statics = 0;

	for (int i = 0; i < self->rig.n; i++) {
		const struct p2pmm_provider_info *p = &self->rig.p[i];
		off_t off;
		unsigned int seed = p->id * 2 + write + 1;
		struct p2pmm_route r;
		unsigned char *bar;
		int reachable, maps;
		ssize_t got;
		long bad;

		if (p->kind != P2PMM_PROVIDER_STATIC)
			continue;
		off = REGION(statics, write);
		statics++;
		reachable = share_bridge(p->device, self->rig.nvme.pci);
		ASSERT_LE(0, reachable) TH_LOG("sysfs paths of %s and %s", p->device, self->rig.nvme.pci);
		ASSERT_EQ(0, route(self->rig.fd, p->id, self->rig.nvme.pci, &r)) TH_LOG("ROUTE: %s", strerror(errno));
		/* The route the kernel reports is the one the transfer below gets. */
		EXPECT_EQ(reachable ? P2PMM_ROUTE_BUS_ADDR : P2PMM_ROUTE_NOT_SUPPORTED, r.verdict)
			TH_LOG("provider %u (%s) to %s", p->id, p->device, self->rig.nvme.pci);
		EXPECT_EQ(reachable ? P2PMM_PLAN_DIRECT : P2PMM_PLAN_REFUSED, r.plan);

		bar = map_static(self, p->id, via_file);
		ASSERT_NE(MAP_FAILED, bar) TH_LOG("mmap provider %u: %s", p->id, strerror(errno));

		if (write) {
			/* The disk region starts out as something else, so a transfer that did nothing shows. */
			memset(self->rig.ram, 0x3c, XFER);
			ASSERT_EQ(XFER, xfer(self->rig.bfd, self->rig.ram, off, 1));
			p2p_dma_fill(bar, XFER, seed);
		} else {
			p2p_dma_fill(self->rig.ram, XFER, seed);
			ASSERT_EQ(0, p2p_dma_trace_clear());
			ASSERT_EQ(XFER, xfer(self->rig.bfd, self->rig.ram, off, 1));
			/* The control: a transfer from system memory is DMA mapped, so the event is there to see. */
			maps = p2p_dma_maps_of(self->rig.nvme.pci);
			ASSERT_LT(0, maps) TH_LOG("no dma_map_phys event for a transfer from system memory");
			memset(bar, 0x5a, XFER);
		}

		ASSERT_EQ(0, p2p_dma_trace_clear());
		got = transfer(self->rig.bfd, bar, off, write);
		maps = p2p_dma_maps_of(self->rig.nvme.pci);
		ASSERT_LE(0, maps);
		if (reachable) {
			EXPECT_EQ(XFER, got) TH_LOG("%s provider %u (%s) with %s: %s", write ? "pwrite from" : "pread into",
						    p->id, p->device, self->rig.nvme.pci, strerror(-got));
			/* Bus addresses, computed: no mapping, so no bounce buffer and no CPU copy. */
			EXPECT_EQ(0, maps) TH_LOG("the P2P transfer was DMA mapped %d times", maps);
			direct++;
		} else {
			EXPECT_EQ(-EINVAL, got) TH_LOG("provider %u (%s) with %s: got %zd", p->id, p->device,
						       self->rig.nvme.pci, got);
		}

		if (write) {
			/* The disk has the provider's bytes, or still its own. */
			ASSERT_EQ(XFER, xfer(self->rig.bfd, self->rig.ram, off, 0));
			if (reachable) {
				bad = p2p_dma_mismatch(self->rig.ram, XFER, seed);
				EXPECT_EQ(-1, bad) TH_LOG("disk byte %ld differs from the provider's", bad);
			} else {
				for (size_t b = 0; b < XFER; b++)
					if (self->rig.ram[b] != 0x3c) {
						EXPECT_EQ(0x3c, self->rig.ram[b]) TH_LOG("refused write changed byte %zu", b);
						break;
					}
			}
		} else if (reachable) {
			/* The BAR has the disk's bytes, read back through the mapping. */
			bad = p2p_dma_mismatch(bar, XFER, seed);
			EXPECT_EQ(-1, bad) TH_LOG("provider byte %ld differs from the disk's", bad);
		} else {
			for (size_t b = 0; b < XFER; b++)
				if (bar[b] != 0x5a) {
					EXPECT_EQ(0x5a, bar[b]) TH_LOG("refused read changed byte %zu", b);
					break;
				}
		}
		ASSERT_EQ(0, munmap(bar, XFER));
	}
	/* The default topology has the CMB and three vaccels with static memory. */
	EXPECT_EQ(4, statics);
	return direct;
}

/* Below the switch, the CMB and the two vaccels there are direct, the vaccel behind its own root port is not. */
static int direct_pairs_expected(const char *serial)
{
	return strcmp(serial, "p2pmm-rp2") ? 3 : 0;
}

TEST_F(odirect, pwrite_from_static_memory)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 1, xfer, 0));
}

TEST_F(odirect, pread_into_static_memory)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 0, xfer, 0));
}

TEST_F(odirect, io_uring_write_from_static_memory)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 1, xfer_uring, 0));
}

TEST_F(odirect, io_uring_read_into_static_memory)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 0, xfer_uring, 0));
}

/* The same through each provider's allocate file, mapped at offset 0. */
TEST_F(odirect, pread_into_allocate_file_mapping)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 0, xfer, 1));
}

TEST_F(odirect, pwrite_from_allocate_file_mapping)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 1, xfer, 1));
}

TEST_F(odirect, io_uring_read_into_allocate_file_mapping)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 0, xfer_uring, 1));
}

TEST_F(odirect, io_uring_write_from_allocate_file_mapping)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 1, xfer_uring, 1));
}

/*
 * Static memory as an io_uring fixed buffer: registration pins the pages long-term without FOLL_PCI_P2PDMA, so
 * GUP refuses p2pdma pages and the registration fails with EREMOTEIO; the same buffer size of system memory
 * registers (the control).
 */
TEST_F(odirect, io_uring_fixed_buffer_of_static_memory_is_refused)
{
	int tried = 0;

	ASSERT_EQ(0, p2p_dma_uring_register(self->rig.ram, XFER));
	for (int i = 0; i < self->rig.n; i++) {
		const struct p2pmm_provider_info *p = &self->rig.p[i];
		void *bar;

		if (p->kind != P2PMM_PROVIDER_STATIC)
			continue;
		bar = map_static(self, p->id, 0);
		ASSERT_NE(MAP_FAILED, bar);
		EXPECT_EQ(-EREMOTEIO, p2p_dma_uring_register(bar, XFER)) TH_LOG("provider %u", p->id);
		munmap(bar, XFER);
		tried++;
	}
	EXPECT_EQ(4, tried);
}

TEST_HARNESS_MAIN
