// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of P2PMM_IOC_BLKIO: an NVMe moves bytes to and from a range of the process's memory wherever its
 * pages are, without moving them. For every NVMe of the default topology (below the switch, the CMB NVMe, on
 * its own root port) and every managed provider (the vaccels below the switch and on their own root port):
 *
 * - pages migrated to a managed provider stay there (P2PMM_IOC_QUERY before and after);
 * - a provider below a common bridge with the NVMe is reached by P2P DMA (bytes_p2p, and no dma:dma_map_phys
 *   event of the NVMe: bus addresses need no mapping); any other bounces (bytes_bounce, and the bounce page is
 *   DMA mapped), matching P2PMM_IOC_ROUTE's plan;
 * - the bytes are checked on both sides: on the disk through O_DIRECT into system memory, and in memory by the
 *   CPU (which brings the pages back).
 *
 * Also: a range half on a provider and half in system memory, a range that starts and ends inside pages,
 * static memory (P2P or EREMOTEIO, never a bounce), placement by PREFERRED_LOCATION advice before the DMA, and
 * every documented error.
 *
 * Needs p2pmm.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_topo.h"

#define PAGE P2PMM_IOCTL_PAGE
#define XFER (256 << 10)
/*
 * Disk regions of this test: past the ones p2pmm_odirect_test uses, one per managed provider (by its place among
 * them, not its id, which grows with every rebind) and direction.
 */
#define REGION(nth, write) ((off_t)(32 << 20) + ((off_t)(nth) * 2 + (write)) * XFER)

FIXTURE(blkio) {
	struct p2p_dma_rig rig;
};

FIXTURE_VARIANT(blkio) {
	const char *serial;
};

/* The NVMe below the PCIe switch: the switch's managed providers are a bus address away. */
FIXTURE_VARIANT_ADD(blkio, switch_nvme) {
	.serial = "p2pmm-sw",
};

/* The NVMe with the CMB, also below the switch. */
FIXTURE_VARIANT_ADD(blkio, cmb_nvme) {
	.serial = "p2pmm-cmb",
};

/* The NVMe on a root port of its own: every provider is across q35's host bridge, so everything bounces. */
FIXTURE_VARIANT_ADD(blkio, root_port_nvme) {
	.serial = "p2pmm-rp2",
};

FIXTURE_SETUP(blkio)
{
	const char *missing = p2p_dma_rig_up(&self->rig, variant->serial, XFER);

	ASSERT_EQ(NULL, missing) TH_LOG("%s (NVMe %s): %s", missing, variant->serial, strerror(errno));
}

FIXTURE_TEARDOWN(blkio)
{
	p2p_dma_rig_down(&self->rig);
}

static void *anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Whether nvme reaches managed provider p by bus address, checked against ROUTE's plan; -1 on a failed check. */
static int reaches(struct __test_metadata *_metadata, FIXTURE_DATA(blkio) *self,
		   const struct p2pmm_provider_info *p)
{
	struct p2pmm_route r;
	int direct = share_bridge(p->device, self->rig.nvme.pci);

	if (direct < 0 || route(self->rig.fd, p->id, self->rig.nvme.pci, &r))
		return -1;
	EXPECT_EQ(direct ? P2PMM_PLAN_DIRECT : P2PMM_PLAN_BOUNCE, r.plan)
		TH_LOG("ROUTE of provider %u (%s) to %s", p->id, p->device, self->rig.nvme.pci);
	return direct;
}

/*
 * One direction over every managed provider: write = the NVMe reads the range (memory to disk), read = it
 * writes the range. Returns how many providers the NVMe reached by P2P DMA.
 */
static int run_managed(struct __test_metadata *_metadata, FIXTURE_DATA(blkio) *self, int write)
{
	int direct = 0, managed = 0;

	for (int i = 0; i < self->rig.n; i++) {
		const struct p2pmm_provider_info *p = &self->rig.p[i];
		off_t off;
		unsigned int seed = p->id * 2 + write + 11;
		struct p2pmm_blkio b;
		unsigned char *buf;
		int reach, maps;
		long bad;

		if (p->kind != P2PMM_PROVIDER_MANAGED)
			continue;
		off = REGION(managed, write);
		managed++;
		reach = reaches(_metadata, self, p);
		ASSERT_LE(0, reach);
		buf = anon(XFER);
		ASSERT_NE(NULL, buf);
		if (write) {
			/* The disk region starts out as something else, so a transfer that did nothing shows. */
			memset(self->rig.ram, 0x3c, XFER);
			ASSERT_EQ(XFER, pwrite(self->rig.bfd, self->rig.ram, XFER, off));
			p2p_dma_fill(buf, XFER, seed);
		} else {
			p2p_dma_fill(self->rig.ram, XFER, seed);
			ASSERT_EQ(XFER, pwrite(self->rig.bfd, self->rig.ram, XFER, off));
			memset(buf, 0x5a, XFER);
		}
		ASSERT_EQ(XFER / PAGE, p2pmm_migrate(self->rig.fd, buf, XFER, p->id)) TH_LOG("%s", strerror(errno));

		ASSERT_EQ(0, p2p_dma_trace_clear());
		ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, XFER, off, write, &b))
			TH_LOG("BLKIO %s provider %u (%s) with %s: %s", write ? "from" : "into", p->id, p->device,
			       self->rig.nvme.pci, strerror(errno));
		maps = p2p_dma_maps_of(self->rig.nvme.pci);
		ASSERT_LE(0, maps);
		EXPECT_EQ(0, b.bytes_system);
		if (reach) {
			EXPECT_EQ(XFER, b.bytes_p2p);
			EXPECT_EQ(0, b.bytes_bounce);
			/* Bus addresses, computed: nothing was DMA mapped, so nothing bounced. */
			EXPECT_EQ(0, maps) TH_LOG("the P2P transfer was DMA mapped %d times", maps);
			direct++;
		} else {
			EXPECT_EQ(0, b.bytes_p2p);
			EXPECT_EQ(XFER, b.bytes_bounce);
			EXPECT_LT(0, maps) TH_LOG("a bounced transfer maps its bounce pages");
		}
		/* Neither migrated nor pinned: every page is still on the provider. */
		EXPECT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, p->id));

		if (write) {
			ASSERT_EQ(XFER, pread(self->rig.bfd, self->rig.ram, XFER, off));
			bad = p2p_dma_mismatch(self->rig.ram, XFER, seed);
			EXPECT_EQ(-1, bad) TH_LOG("disk byte %ld differs from provider %u's", bad, p->id);
		} else {
			bad = p2p_dma_mismatch(buf, XFER, seed);
			EXPECT_EQ(-1, bad) TH_LOG("byte %ld on provider %u differs from the disk's", bad, p->id);
		}
		ASSERT_EQ(0, munmap(buf, XFER));
	}
	/* The default topology has three vaccels with managed memory. */
	EXPECT_EQ(3, managed);
	return direct;
}

/* Below the switch, the two vaccels there are direct; the one behind its own root port is not. */
static int direct_expected(const char *serial)
{
	return strcmp(serial, "p2pmm-rp2") ? 2 : 0;
}

TEST_F(blkio, write_from_managed_memory)
{
	EXPECT_EQ(direct_expected(variant->serial), run_managed(_metadata, self, 1));
}

TEST_F(blkio, read_into_managed_memory)
{
	EXPECT_EQ(direct_expected(variant->serial), run_managed(_metadata, self, 0));
}

/* The managed provider on the lowest PCI bus: the vaccel on the switch's first downstream port. */
static const struct p2pmm_provider_info *switch_managed(FIXTURE_DATA(blkio) *self)
{
	const struct p2pmm_provider_info *best = NULL;

	for (int i = 0; i < self->rig.n; i++)
		if (self->rig.p[i].kind == P2PMM_PROVIDER_MANAGED &&
		    (!best || strcmp(self->rig.p[i].device, best->device) < 0))
			best = &self->rig.p[i];
	return best;
}

/* Half the range on a provider, half in system memory: each half takes its own path, in one call. */
TEST_F(blkio, range_across_provider_and_system_memory)
{
	const struct p2pmm_provider_info *p = switch_managed(self);
	unsigned char *buf = anon(2 * XFER), *want;
	off_t off = REGION(0, 1);
	struct p2pmm_blkio b;
	int reach;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, buf);
	reach = reaches(_metadata, self, p);
	ASSERT_LE(0, reach);
	p2p_dma_fill(buf, 2 * XFER, 77);
	ASSERT_EQ(XFER / PAGE, p2pmm_migrate(self->rig.fd, buf, XFER, p->id));
	ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, 2 * XFER, off, 1, &b)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(XFER, b.bytes_system);
	EXPECT_EQ(reach ? XFER : 0, b.bytes_p2p);
	EXPECT_EQ(reach ? 0 : XFER, b.bytes_bounce);
	EXPECT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, p->id));
	ASSERT_EQ(0, munmap(buf, 2 * XFER));
	want = anon(2 * XFER);
	ASSERT_NE(NULL, want);
	p2p_dma_fill(want, 2 * XFER, 77);
	for (int half = 0; half < 2; half++) {
		ASSERT_EQ(XFER, pread(self->rig.bfd, self->rig.ram, XFER, off + half * XFER));
		EXPECT_EQ(0, memcmp(self->rig.ram, want + half * XFER, XFER)) TH_LOG("half %d on the disk differs", half);
	}
	munmap(want, 2 * XFER);
}

/*
 * A managed page a block transfer reached gets a second chance from the eviction policy: with the provider full
 * of two halves, the half the NVMe just read stays, and the room a migration then needs comes out of the other
 * half. Every byte survives.
 */
TEST_F(blkio, transfers_keep_their_pages_from_eviction)
{
	const struct p2pmm_provider_info *p = switch_managed(self);
	struct p2pmm_provider_info info;
	unsigned char *used, *idle, *more;
	struct p2pmm_blkio b;
	size_t half, quarter;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, p2pmm_provider(self->rig.fd, p->id, &info));
	ASSERT_EQ(0, info.used) TH_LOG("provider %u is not empty", p->id);
	half = info.capacity / 2;
	quarter = info.capacity / 4;
	used = anon(half);
	idle = anon(half);
	more = anon(quarter);
	ASSERT_NE(NULL, used);
	ASSERT_NE(NULL, idle);
	ASSERT_NE(NULL, more);
	p2p_dma_fill(used, half, 81);
	p2p_dma_fill(idle, half, 82);
	p2p_dma_fill(more, quarter, 83);
	ASSERT_EQ(half / PAGE, p2pmm_migrate(self->rig.fd, used, half, p->id));
	ASSERT_EQ(half / PAGE, p2pmm_migrate(self->rig.fd, idle, half, p->id));
	/* The NVMe reads every page of the first half (memory to disk), a piece at a time to one disk region. */
	for (size_t at = 0; at < half; at += XFER) {
		size_t piece = at;

		ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, used + piece, XFER, REGION(8, 1), 1, &b))
			TH_LOG("BLKIO at %zu: %s", piece, strerror(errno));
	}
	/* Older than the minimum residency (1 ms), so that only the policy decides. */
	usleep(20 * 1000);
	ASSERT_EQ(quarter / PAGE, p2pmm_migrate(self->rig.fd, more, quarter, p->id));
	EXPECT_EQ(half / PAGE, p2pmm_count_at(self->rig.fd, used, half, p->id));
	EXPECT_EQ(quarter / PAGE, p2pmm_count_at(self->rig.fd, idle, half, p->id));
	EXPECT_EQ(-1, p2p_dma_mismatch(used, half, 81));
	EXPECT_EQ(-1, p2p_dma_mismatch(idle, half, 82));
	EXPECT_EQ(-1, p2p_dma_mismatch(more, quarter, 83));
	munmap(used, half);
	munmap(idle, half);
	munmap(more, quarter);
}

/*
 * A range that starts and ends inside pages (the logical block size is 512): only its bytes move, the rest of
 * the first and last pages stays as it was, on the provider or bounced.
 */
TEST_F(blkio, range_inside_pages)
{
	const struct p2pmm_provider_info *p = switch_managed(self);
	unsigned char *buf = anon(4 * PAGE), *want = anon(4 * PAGE);
	size_t head = 1536, len = 2 * PAGE + 1024;
	off_t off = REGION(1, 0);
	struct p2pmm_blkio b;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, want);
	p2p_dma_fill(self->rig.ram, len, 5);
	ASSERT_EQ(XFER, pwrite(self->rig.bfd, self->rig.ram, XFER, off));
	memset(buf, 0xee, 4 * PAGE);
	ASSERT_EQ(4, p2pmm_migrate(self->rig.fd, buf, 4 * PAGE, p->id));
	ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf + head, len, off, 0, &b)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(len, b.bytes_p2p + b.bytes_bounce);
	EXPECT_EQ(4, p2pmm_count_at(self->rig.fd, buf, 4 * PAGE, p->id));
	memset(want, 0xee, 4 * PAGE);
	p2p_dma_fill(want + head, len, 5);
	EXPECT_EQ(0, memcmp(buf, want, 4 * PAGE));
	munmap(buf, 4 * PAGE);
	munmap(want, 4 * PAGE);
}

/* Static memory the process mapped: the NVMe reaches its BAR by bus address, or the call fails. Never a bounce. */
TEST_F(blkio, static_memory_never_bounces)
{
	int tried = 0;

	for (int i = 0; i < self->rig.n; i++) {
		const struct p2pmm_provider_info *p = &self->rig.p[i];
		int reach = share_bridge(p->device, self->rig.nvme.pci);
		struct p2pmm_blkio b;
		unsigned char *bar;

		/* The vaccels' static memory (the CMB is the NVMe's own queue memory too). */
		if (p->kind != P2PMM_PROVIDER_STATIC || (p->flags & P2PMM_PROVIDER_F_ADOPTED))
			continue;
		tried++;
		ASSERT_LE(0, reach);
		bar = mmap(NULL, XFER, PROT_READ | PROT_WRITE, MAP_SHARED, self->rig.fd, P2PMM_MMAP_OFFSET(p->id));
		ASSERT_NE(MAP_FAILED, bar) TH_LOG("mmap provider %u: %s", p->id, strerror(errno));
		p2p_dma_fill(bar, XFER, 31);
		if (reach) {
			ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, bar, XFER, REGION(2, 1), 1, &b))
				TH_LOG("%s", strerror(errno));
			EXPECT_EQ(XFER, b.bytes_p2p);
			EXPECT_EQ(0, b.bytes_bounce + b.bytes_system);
			ASSERT_EQ(XFER, pread(self->rig.bfd, self->rig.ram, XFER, REGION(2, 1)));
			EXPECT_EQ(-1, p2p_dma_mismatch(self->rig.ram, XFER, 31));
		} else {
			EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, bar, XFER, REGION(2, 1), 1, &b));
			EXPECT_EQ(EREMOTEIO, errno);
		}
		ASSERT_EQ(0, munmap(bar, XFER));
	}
	EXPECT_EQ(3, tried);
}

/*
 * PREFERRED_LOCATION advice places the pages before the device moves them: a read lands on the preferred provider
 * (by P2P DMA where the NVMe reaches it), and preferring system memory brings them back before a write.
 */
TEST_F(blkio, preferred_location_places_the_pages)
{
	const struct p2pmm_provider_info *p = switch_managed(self);
	unsigned char *buf = anon(XFER);
	struct p2pmm_advise a = { .size = sizeof(a), .length = XFER, .advice = P2PMM_ADV_PREFERRED_LOCATION };
	struct p2pmm_blkio b;
	int reach;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, buf);
	reach = reaches(_metadata, self, p);
	ASSERT_LE(0, reach);
	p2p_dma_fill(self->rig.ram, XFER, 21);
	ASSERT_EQ(XFER, pwrite(self->rig.bfd, self->rig.ram, XFER, REGION(4, 0)));
	memset(buf, 0x11, XFER);
	EXPECT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, P2PMM_LOCATION_SYSTEM));
	a.addr = (uintptr_t)buf;
	a.location = p->id;
	ASSERT_EQ(0, ioctl(self->rig.fd, P2PMM_IOC_ADVISE, &a)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, XFER, REGION(4, 0), 0, &b)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, p->id));
	EXPECT_EQ(0, b.bytes_system);
	EXPECT_EQ(reach ? XFER : 0, b.bytes_p2p);
	EXPECT_EQ(reach ? 0 : XFER, b.bytes_bounce);

	a.location = P2PMM_LOCATION_SYSTEM;
	ASSERT_EQ(0, ioctl(self->rig.fd, P2PMM_IOC_ADVISE, &a));
	ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, XFER, REGION(4, 1), 1, &b));
	EXPECT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(XFER, b.bytes_system);
	/* What the read put on the provider went to system memory with the pages and out to the disk. */
	ASSERT_EQ(XFER, pread(self->rig.bfd, self->rig.ram, XFER, REGION(4, 1)));
	EXPECT_EQ(-1, p2p_dma_mismatch(self->rig.ram, XFER, 21));
	munmap(buf, XFER);
}

/*
 * io_uring O_DIRECT into memory placed on a managed provider: io_uring pins the pages with GUP, which faults
 * device-private pages back to system memory first, so the NVMe DMAs to system memory. The bytes arrive and the
 * pages end in system memory; P2PMM_IOC_BLKIO is the path that leaves them on the provider.
 */
TEST_F(blkio, io_uring_into_managed_memory_goes_through_system_memory)
{
	const struct p2pmm_provider_info *p = switch_managed(self);
	unsigned char *buf = anon(XFER);

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, buf);
	p2p_dma_fill(self->rig.ram, XFER, 41);
	ASSERT_EQ(XFER, pwrite(self->rig.bfd, self->rig.ram, XFER, REGION(5, 0)));
	memset(buf, 0x22, XFER);
	ASSERT_LE(0, p2pmm_migrate(self->rig.fd, buf, XFER, p->id));
	ASSERT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, p->id));
	ASSERT_EQ(XFER, p2p_dma_uring_rw(self->rig.bfd, buf, XFER, REGION(5, 0), 0));
	EXPECT_EQ(XFER / PAGE, p2pmm_count_at(self->rig.fd, buf, XFER, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(-1, p2p_dma_mismatch(buf, XFER, 41));
	munmap(buf, XFER);
}

/* Every documented error, each with everything else right. */
TEST_F(blkio, bad_requests_get_their_errno)
{
	unsigned char *buf = anon(2 * PAGE), *ro;
	struct p2pmm_blkio b;
	int null = open("/dev/null", O_RDWR), rdonly = open(self->rig.nvme.blk, O_RDONLY);

	ASSERT_NE(NULL, buf);
	ASSERT_LE(0, null);
	ASSERT_LE(0, rdonly);
	ASSERT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, PAGE, 0, 0, &b)) TH_LOG("the good request");
	EXPECT_EQ(PAGE, b.bytes_system);

	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, -1, buf, PAGE, 0, 0, &b));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, 1000, buf, PAGE, 0, 0, &b));
	EXPECT_EQ(EBADF, errno);
	/* Open read-only: it may be read from, not written to. */
	EXPECT_EQ(0, p2pmm_blkio(self->rig.fd, rdonly, buf, PAGE, 0, 0, &b));
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, rdonly, buf, PAGE, 0, 1, &b));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, null, buf, PAGE, 0, 0, &b));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf + 1, PAGE, 0, 0, &b));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, PAGE + 1, 0, 0, &b));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, PAGE, 100, 0, &b));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, 0, 0, 0, &b));
	EXPECT_EQ(EINVAL, errno);
	/* The images are 64 MiB: the last page is fine, one past it is not. */
	EXPECT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, PAGE, (64 << 20) - PAGE, 0, &b));
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, 2 * PAGE, (64 << 20) - PAGE, 0, &b));
	EXPECT_EQ(EINVAL, errno);
	b.flags = 2;
	EXPECT_EQ(-1, ioctl(self->rig.fd, P2PMM_IOC_BLKIO, &b));
	EXPECT_EQ(EINVAL, errno);
	/* A hole in the range. */
	ASSERT_EQ(0, munmap(buf + PAGE, PAGE));
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, buf, 2 * PAGE, 0, 0, &b));
	EXPECT_EQ(ENOMEM, errno);
	/* Reading into memory the process may not write. */
	ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_EQ(-1, p2pmm_blkio(self->rig.fd, self->rig.bfd, ro, PAGE, 0, 0, &b));
	EXPECT_EQ(EFAULT, errno);
	/* ... from which it may write to the device (the zero page). */
	EXPECT_EQ(0, p2pmm_blkio(self->rig.fd, self->rig.bfd, ro, PAGE, REGION(3, 1), 1, &b));
	munmap(ro, PAGE);
	munmap(buf, PAGE);
	close(rdonly);
	close(null);
}

TEST_HARNESS_MAIN
