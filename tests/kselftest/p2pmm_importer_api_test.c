// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest of p2pmm's in-kernel importer API (p2pmm_importer_* of include/linux/p2pmm.h), through the C sample
 * driver that uses it: /dev/p2pmm_sample_mirror (include/uapi/linux/p2pmm_sample.h) imports a range of this
 * process's memory for QEMU's edu, function 1 of the switch accelerator's slot, and has the edu DMA one page at a
 * time at the address p2pmm gives for it. Every byte the edu reads or writes is compared with what the process
 * sees.
 *
 * What is shown: system memory is reached in place; a page on the switch accelerator's managed provider is reached
 * *where it is*, by bus address inside that accelerator's BAR (it does not move, as hmm_range_fault alone would move
 * it); static memory by bus address; a provider the edu cannot reach (the vaccel on its own root port) has its pages
 * moved to system memory first, and its static memory is refused (EREMOTEIO); migrations and munmap invalidate the
 * driver's mapping (its callback runs) and the next DMA maps again at the new place; a pinned mapping
 * (P2PMM_IMPORT_PIN) keeps its pages through eviction pressure and is still revoked when the provider goes;
 * migrations racing DMAs and the provider's unbind during DMAs lose no byte.
 *
 * Needs p2pmm.ko and p2pmm_sample.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <linux/p2pmm_sample.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_topo.h"

#define VACCEL "/sys/bus/pci/drivers/p2pmm_vaccel"
#define PAGE 4096
#define PAGES 16
#define LEN (PAGES * PAGE)

/* A new importer of [addr, addr + len) of this process (flags P2PMM_SAMPLE_*): its descriptor, or -errno. */
static int mirror(void *addr, size_t len, uint32_t flags)
{
	struct p2pmm_sample_mirror m = { .addr = (uintptr_t)addr, .length = len, .flags = flags };
	int fd = open("/dev/p2pmm_sample_mirror", O_RDWR | O_CLOEXEC), err;

	if (fd < 0)
		return -errno;
	if (!ioctl(fd, P2PMM_SAMPLE_IOC_MIRROR, &m))
		return fd;
	err = errno;
	close(fd);
	return -err;
}

/* The edu moves the page at @addr to @buf (or @buf to it, with @write): 0 or -errno; the route in @d. */
static int dma(int mfd, void *addr, void *buf, int write, struct p2pmm_sample_mirror_dma *d)
{
	memset(d, 0, sizeof(*d));
	d->addr = (uintptr_t)addr;
	d->buf = (uintptr_t)buf;
	d->write = write;
	return ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR_DMA, d) ? -errno : 0;
}

static int status(int mfd, struct p2pmm_sample_mirror_status *st)
{
	memset(st, 0xa5, sizeof(*st));
	return ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR_STATUS, st) ? -errno : 0;
}

/* Provider @id's evictions_skipped_pinned counter in sysfs, or -1. */
static long long pinned_skips(uint32_t id)
{
	char path[96], buf[32];

	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/evictions_skipped_pinned", id);
	return p2p_dma_read_line(path, buf, sizeof(buf)) ? -1 : atoll(buf);
}

/* Anonymous memory holding p2p_dma_fill(@seed). */
static uint8_t *filled(size_t len, unsigned int seed)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	p2p_dma_fill(p, len, seed);
	return p;
}

FIXTURE(importer)
{
	int fd;
	char edu[32];
	char dev[32];		/* the switch accelerator, function 0 of the edu's slot */
	uint32_t st, managed;	/* its providers: the edu reaches them below the switch */
	uint32_t far_st, far_managed; /* the providers of a vaccel out of the edu's reach */
	uint8_t *want;		/* p2p_dma_fill(1) of LEN bytes: what the buffers hold */
	uint8_t *page;
};

FIXTURE_SETUP(importer)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	struct p2pmm_route r;
	int n;

	self->fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	p2pmm_find_pci("0x1234", "0x11e8", self->edu, sizeof(self->edu));
	ASSERT_NE(0, self->edu[0]) TH_LOG("no edu device (the default VM has one beside the switch accelerator)");
	snprintf(self->dev, sizeof(self->dev), "%.*s0", (int)strlen(self->edu) - 1, self->edu);
	ASSERT_LT(0, p2pmm_providers_of(self->fd, self->dev, &self->st, &self->managed));
	ASSERT_NE(0, self->managed) TH_LOG("no managed provider on %s", self->dev);
	ASSERT_EQ(0, route(self->fd, self->managed, self->edu, &r));
	ASSERT_EQ(P2PMM_ROUTE_BUS_ADDR, r.verdict);
	n = list_providers(self->fd, p, P2P_DMA_MAX_PROVIDERS);
	ASSERT_LT(0, n);
	self->far_st = self->far_managed = 0;
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		if (p[i].flags & P2PMM_PROVIDER_F_ADOPTED)
			continue;
		ASSERT_EQ(0, route(self->fd, p[i].id, self->edu, &r));
		if (r.verdict != P2PMM_ROUTE_NOT_SUPPORTED)
			continue;
		if (p[i].kind == P2PMM_PROVIDER_STATIC)
			self->far_st = p[i].id;
		else
			self->far_managed = p[i].id;
	}
	self->want = malloc(LEN);
	self->page = malloc(PAGE);
	ASSERT_NE(NULL, self->want);
	ASSERT_NE(NULL, self->page);
	p2p_dma_fill(self->want, LEN, 1);
}

FIXTURE_TEARDOWN(importer)
{
	free(self->want);
	free(self->page);
	close(self->fd);
}

/* System memory: the edu reads and writes it in place, and the mapping is made once for both. */
TEST_F(importer, system_memory_is_reached_in_place)
{
	struct p2pmm_sample_mirror_status st;
	struct p2pmm_sample_mirror_dma d;
	uint8_t *mem = filled(LEN, 1);
	int mfd;

	ASSERT_NE(NULL, mem);
	mfd = mirror(mem, LEN, 0);
	ASSERT_LE(0, mfd) TH_LOG("import: %s", strerror(-mfd));
	ASSERT_EQ(0, dma(mfd, mem + 3 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);
	EXPECT_FALSE(p2pmm_in_a_bar(self->dev, d.dma_addr));
	EXPECT_EQ(0, memcmp(self->page, self->want + 3 * PAGE, PAGE)) TH_LOG("the edu read other bytes");

	p2p_dma_fill(self->page, PAGE, 42);
	ASSERT_EQ(0, dma(mfd, mem + 5 * PAGE, self->page, 1, &d));
	EXPECT_EQ(0, memcmp(mem + 5 * PAGE, self->page, PAGE)) TH_LOG("the edu's write is not in the process's page");
	ASSERT_EQ(0, status(mfd, &st));
	EXPECT_EQ(1, st.maps);
	EXPECT_EQ(0, st.invalidations);
	EXPECT_EQ(0, st.retries);
	EXPECT_EQ(1, st.mapped);
	close(mfd);
	munmap(mem, LEN);
}

/*
 * Pages on the managed provider of the edu's own slot stay there: the edu reaches them by bus address inside the
 * accelerator's BAR, reads them and writes them, and none moves. The CPU then finds the edu's write.
 */
TEST_F(importer, managed_pages_are_reached_where_they_are)
{
	struct p2pmm_sample_mirror_dma d;
	uint8_t *mem = filled(LEN, 1);
	int mfd;

	ASSERT_NE(NULL, mem);
	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, mem, LEN, self->managed));
	mfd = mirror(mem, LEN, 0);
	ASSERT_LE(0, mfd);
	for (int i = 0; i < PAGES; i += 5) {
		memset(self->page, 0, PAGE);
		ASSERT_EQ(0, dma(mfd, mem + i * PAGE, self->page, 0, &d)) TH_LOG("page %d", i);
		EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route) TH_LOG("page %d", i);
		EXPECT_TRUE(p2pmm_in_a_bar(self->dev, d.dma_addr))
			TH_LOG("page %d: DMA address %#" PRIx64 " is not in a BAR of %s", i, (uint64_t)d.dma_addr,
			       self->dev);
		EXPECT_EQ(0, memcmp(self->page, self->want + i * PAGE, PAGE)) TH_LOG("page %d read wrong", i);
	}
	p2p_dma_fill(self->page, PAGE, 77);
	ASSERT_EQ(0, dma(mfd, mem + 7 * PAGE, self->page, 1, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	/* Still all on the provider: the device's accesses moved nothing. */
	EXPECT_EQ(PAGES, p2pmm_count_at(self->fd, mem, LEN, self->managed));
	/* The CPU's touch brings the page back with the edu's bytes, written into the BAR. */
	EXPECT_EQ(-1, p2p_dma_mismatch(mem + 7 * PAGE, PAGE, 77)) TH_LOG("the edu's write did not reach the BAR");
	close(mfd);
	munmap(mem, LEN);
}

/* Static memory: by bus address; a static provider out of reach is refused, never moved. */
TEST_F(importer, static_memory_by_bus_address_or_refused)
{
	struct p2pmm_sample_mirror_dma d;
	uint8_t *mem;
	int mfd;

	ASSERT_NE(0, self->st);
	mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->st));
	ASSERT_NE(MAP_FAILED, mem) TH_LOG("mmap of provider %u: %s", self->st, strerror(errno));
	p2p_dma_fill(mem, LEN, 1);
	mfd = mirror(mem, LEN, 0);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, dma(mfd, mem + 2 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	EXPECT_TRUE(p2pmm_in_a_bar(self->dev, d.dma_addr));
	EXPECT_EQ(0, memcmp(self->page, self->want + 2 * PAGE, PAGE));
	close(mfd);
	/* An importer that takes no P2P memory cannot use static memory: it never moves. */
	mfd = mirror(mem, LEN, P2PMM_SAMPLE_NO_P2P);
	ASSERT_LE(0, mfd);
	EXPECT_EQ(-EREMOTEIO, dma(mfd, mem, self->page, 0, &d));
	close(mfd);
	munmap(mem, LEN);

	ASSERT_NE(0, self->far_st) TH_LOG("no static provider out of the edu's reach (the vaccel on rp3)");
	mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->far_st));
	ASSERT_NE(MAP_FAILED, mem);
	mem[0] = 1;
	mfd = mirror(mem, PAGE, 0);
	ASSERT_LE(0, mfd);
	EXPECT_EQ(-EREMOTEIO, dma(mfd, mem, self->page, 0, &d));
	close(mfd);
	munmap(mem, PAGE);
}

/* Pages the edu cannot reach where they are (a far provider, or any provider for a no-P2P importer) move first. */
TEST_F(importer, unreachable_pages_move_to_system_memory_first)
{
	struct p2pmm_sample_mirror_dma d;
	uint8_t *mem = filled(LEN, 1);
	int mfd;

	ASSERT_NE(NULL, mem);
	ASSERT_NE(0, self->far_managed) TH_LOG("no managed provider out of the edu's reach (the vaccel on rp3)");
	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, mem, LEN, self->far_managed));
	mfd = mirror(mem, LEN, 0);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, dma(mfd, mem + 4 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);
	EXPECT_EQ(0, memcmp(self->page, self->want + 4 * PAGE, PAGE));
	EXPECT_EQ(0, p2pmm_count_at(self->fd, mem, LEN, self->far_managed));
	EXPECT_EQ(PAGES, p2pmm_count_at(self->fd, mem, LEN, P2PMM_LOCATION_SYSTEM));
	close(mfd);

	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, mem, LEN, self->managed));
	mfd = mirror(mem, LEN, P2PMM_SAMPLE_NO_P2P);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, dma(mfd, mem + PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);
	EXPECT_EQ(0, memcmp(self->page, self->want + PAGE, PAGE));
	EXPECT_EQ(0, p2pmm_count_at(self->fd, mem, LEN, self->managed));
	close(mfd);
	EXPECT_EQ(-1, p2p_dma_mismatch(mem, LEN, 1));
	munmap(mem, LEN);
}

/* Migrations and munmap invalidate the driver's mapping; the next DMA maps again, at the page's new place. */
TEST_F(importer, invalidations_reach_the_driver_and_it_maps_again)
{
	struct p2pmm_sample_mirror_status st;
	struct p2pmm_sample_mirror_dma d;
	uint8_t *mem = filled(LEN, 1);
	int mfd;

	ASSERT_NE(NULL, mem);
	mfd = mirror(mem, LEN, 0);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, dma(mfd, mem, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);

	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, mem, LEN, self->managed));
	ASSERT_EQ(0, status(mfd, &st));
	EXPECT_EQ(1, st.invalidations) TH_LOG("the migration did not reach the driver");
	EXPECT_EQ(0, st.mapped);
	ASSERT_EQ(0, dma(mfd, mem + 9 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	EXPECT_EQ(0, memcmp(self->page, self->want + 9 * PAGE, PAGE));

	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, mem, LEN, P2PMM_LOCATION_SYSTEM));
	ASSERT_EQ(0, dma(mfd, mem + 9 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);
	EXPECT_EQ(0, memcmp(self->page, self->want + 9 * PAGE, PAGE));
	ASSERT_EQ(0, status(mfd, &st));
	EXPECT_EQ(3, st.maps);
	EXPECT_EQ(2, st.invalidations);

	ASSERT_EQ(0, munmap(mem, LEN));
	ASSERT_EQ(0, status(mfd, &st));
	EXPECT_EQ(3, st.invalidations) TH_LOG("munmap did not reach the driver");
	EXPECT_EQ(0, st.finishes);
	EXPECT_EQ(-EFAULT, dma(mfd, mem, self->page, 0, &d));
	close(mfd);

	/* A two-pass driver: its second pass runs, and the mapping is made again after it. */
	mem = filled(LEN, 1);
	ASSERT_NE(NULL, mem);
	mfd = mirror(mem, LEN, P2PMM_SAMPLE_TWO_PASS);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, dma(mfd, mem, self->page, 0, &d));
	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, mem, LEN, self->managed));
	ASSERT_EQ(0, status(mfd, &st));
	EXPECT_EQ(1, st.invalidations);
	EXPECT_EQ(1, st.finishes);
	ASSERT_EQ(0, dma(mfd, mem + 2 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	EXPECT_EQ(0, memcmp(self->page, self->want + 2 * PAGE, PAGE));
	close(mfd);
	munmap(mem, LEN);
}

/*
 * A managed page a device mapped gets a second chance from the eviction policy (an access signal, as a block
 * transfer's): with the provider full of two halves, the half the edu's import mapped stays, and the room a
 * migration then needs comes out of the other half. The import is never invalidated. Every byte survives.
 */
TEST_F(importer, mapped_pages_are_kept_from_eviction)
{
	struct p2pmm_sample_mirror_status st;
	struct p2pmm_sample_mirror_dma d;
	struct p2pmm_provider_info info;
	uint8_t *used, *idle, *more;
	size_t half, quarter;
	int mfd;

	ASSERT_EQ(0, p2pmm_provider(self->fd, self->managed, &info));
	ASSERT_EQ(0, info.used) TH_LOG("provider %u is not empty", self->managed);
	half = info.capacity / 2;
	quarter = info.capacity / 4;
	used = filled(half, 81);
	idle = filled(half, 82);
	more = filled(quarter, 83);
	ASSERT_NE(NULL, used);
	ASSERT_NE(NULL, idle);
	ASSERT_NE(NULL, more);
	ASSERT_EQ(half / PAGE, p2pmm_migrate(self->fd, used, half, self->managed));
	ASSERT_EQ(half / PAGE, p2pmm_migrate(self->fd, idle, half, self->managed));
	/* One DMA maps the whole first half for the edu, every page where it is. */
	mfd = mirror(used, half, 0);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, dma(mfd, used, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	/* Older than the minimum residency (1 ms), so that only the policy decides. */
	usleep(20 * 1000);
	ASSERT_EQ(quarter / PAGE, p2pmm_migrate(self->fd, more, quarter, self->managed));
	EXPECT_EQ(half / PAGE, p2pmm_count_at(self->fd, used, half, self->managed));
	EXPECT_EQ(quarter / PAGE, p2pmm_count_at(self->fd, idle, half, self->managed));
	ASSERT_EQ(0, status(mfd, &st));
	EXPECT_EQ(0, st.invalidations) TH_LOG("the eviction took mapped pages");
	close(mfd);
	EXPECT_EQ(-1, p2p_dma_mismatch(used, half, 81));
	EXPECT_EQ(-1, p2p_dma_mismatch(idle, half, 82));
	EXPECT_EQ(-1, p2p_dma_mismatch(more, quarter, 83));
	munmap(used, half);
	munmap(idle, half);
	munmap(more, quarter);
}

/*
 * Pinned but revocable (P2PMM_SAMPLE_PIN: P2PMM_IMPORT_PIN): of two mapped halves of a full provider, a pressure
 * of twice the provider's capacity evicts the half a plain mapping holds (its second chance runs out) but never
 * the pinned one. Then the provider's device unbinds with the pin held: the pinned pages are revoked like any
 * (the driver is told, the data is in system memory), and the next DMA reaches them there.
 */
TEST_F_TIMEOUT(importer, pinned_mapping_survives_pressure_until_revoked, 180)
{
	struct p2pmm_sample_mirror_status st, plain_st;
	struct p2pmm_sample_mirror_dma d;
	struct p2pmm_provider_info info;
	uint8_t *pinned, *plain, *more;
	uint32_t st_id, managed;
	long long skipped;
	int pfd, qfd;
	size_t half;

	ASSERT_EQ(0, p2pmm_provider(self->fd, self->managed, &info));
	ASSERT_EQ(0, info.used) TH_LOG("provider %u is not empty", self->managed);
	half = info.capacity / 2;
	pinned = filled(half, 91);
	plain = filled(half, 92);
	more = filled(info.capacity, 93);
	ASSERT_NE(NULL, pinned);
	ASSERT_NE(NULL, plain);
	ASSERT_NE(NULL, more);
	ASSERT_EQ(half / PAGE, p2pmm_migrate(self->fd, pinned, half, self->managed));
	ASSERT_EQ(half / PAGE, p2pmm_migrate(self->fd, plain, half, self->managed));
	pfd = mirror(pinned, half, P2PMM_SAMPLE_PIN);
	qfd = mirror(plain, half, 0);
	ASSERT_LE(0, pfd);
	ASSERT_LE(0, qfd);
	/* One DMA each maps a whole half for the edu, in place. */
	ASSERT_EQ(0, dma(pfd, pinned, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	ASSERT_EQ(0, dma(qfd, plain, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	/* Older than the minimum residency (1 ms), so that only the policy decides. */
	usleep(20 * 1000);
	skipped = pinned_skips(self->managed);
	ASSERT_LE(0, skipped) TH_LOG("no evictions_skipped_pinned in sysfs");
	for (int round = 0; round < 2; round++)
		ASSERT_LE(0, p2pmm_migrate(self->fd, more, info.capacity, self->managed)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(half / PAGE, p2pmm_count_at(self->fd, pinned, half, self->managed));
	/* The provider says that eviction had to leave pinned pages. */
	EXPECT_LE(skipped + (long long)(half / PAGE), pinned_skips(self->managed));
	ASSERT_EQ(0, status(pfd, &st));
	EXPECT_EQ(0, st.invalidations) TH_LOG("the eviction took pinned pages");
	/* The same pressure did evict mapped pages that were not pinned: the pin is what kept the others. */
	ASSERT_EQ(0, status(qfd, &plain_st));
	EXPECT_LT(0, plain_st.invalidations);
	EXPECT_GT(half / PAGE, p2pmm_count_at(self->fd, plain, half, self->managed));
	close(qfd);

	/* Revocable: the provider goes with the pin held. */
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/unbind", self->dev)) TH_LOG("unbind %s: %s", self->dev,
									       strerror(errno));
	ASSERT_EQ(0, status(pfd, &st));
	EXPECT_LT(0, st.invalidations) TH_LOG("the driver was not told");
	EXPECT_EQ(half / PAGE, p2pmm_count_at(self->fd, pinned, half, P2PMM_LOCATION_SYSTEM));
	ASSERT_EQ(0, dma(pfd, pinned + PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);
	EXPECT_EQ(0, memcmp(self->page, pinned + PAGE, PAGE)) TH_LOG("the edu read other bytes");
	close(pfd);
	EXPECT_EQ(-1, p2p_dma_mismatch(pinned, half, 91));
	EXPECT_EQ(-1, p2p_dma_mismatch(plain, half, 92));
	EXPECT_EQ(-1, p2p_dma_mismatch(more, info.capacity, 93));
	munmap(pinned, half);
	munmap(plain, half);
	munmap(more, info.capacity);
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/bind", self->dev)) TH_LOG("bind %s: %s", self->dev,
									     strerror(errno));
	ASSERT_LT(0, p2pmm_providers_of(self->fd, self->dev, &st_id, &managed));
	EXPECT_NE(0, managed) TH_LOG("%s came back without its managed provider", self->dev);
}

/* Every bad call gets its errno. */
TEST_F(importer, bad_calls_get_their_errno)
{
	struct p2pmm_sample_mirror m = { 0 };
	struct p2pmm_sample_mirror_dma d;
	uint8_t *mem = filled(LEN, 1), *ro;
	int mfd = open("/dev/p2pmm_sample_mirror", O_RDWR | O_CLOEXEC);

	ASSERT_NE(NULL, mem);
	ASSERT_LE(0, mfd);
	EXPECT_EQ(-ENOENT, dma(mfd, mem, self->page, 0, &d));
	m.addr = (uintptr_t)mem;
	m.length = LEN;
	m.flags = 1U << 7;
	EXPECT_EQ(-1, ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR, &m));
	EXPECT_EQ(EINVAL, errno);
	m.flags = 0;
	m.length = 0;
	EXPECT_EQ(-1, ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR, &m));
	EXPECT_EQ(EINVAL, errno);
	m.length = LEN;
	m.addr = (uintptr_t)mem + 1;
	EXPECT_EQ(-1, ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR, &m));
	EXPECT_EQ(EINVAL, errno);
	m.addr = (uintptr_t)mem;
	ASSERT_EQ(0, ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR, &m));
	EXPECT_EQ(-1, ioctl(mfd, P2PMM_SAMPLE_IOC_MIRROR, &m));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-EINVAL, dma(mfd, mem + LEN, self->page, 0, &d));
	EXPECT_EQ(-EINVAL, dma(mfd, mem + 1, self->page, 0, &d));
	EXPECT_EQ(-EINVAL, dma(mfd, mem, self->page, 2, &d));
	/* A hole in the range. */
	ASSERT_EQ(0, munmap(mem + 4 * PAGE, PAGE));
	EXPECT_EQ(-EFAULT, dma(mfd, mem, self->page, 0, &d));
	close(mfd);
	munmap(mem, LEN);
	/* Read-only memory: the engine writes, so the mapping asks for write access. */
	ro = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	mfd = mirror(ro, PAGE, 0);
	ASSERT_LE(0, mfd);
	EXPECT_EQ(-EPERM, dma(mfd, ro, self->page, 0, &d));
	close(mfd);
	munmap(ro, PAGE);
}

struct mover {
	int fd;
	uint8_t *mem;
	uint32_t targets[2];
	atomic_int stop;
	long moves, errors;
	int last_errno;
};

static void *mover_main(void *arg)
{
	struct mover *mv = arg;

	for (unsigned int i = 0; !atomic_load(&mv->stop); i++) {
		if (p2pmm_migrate(mv->fd, mv->mem, LEN, mv->targets[i % 2]) < 0) {
			mv->errors++;
			mv->last_errno = errno;
		} else {
			mv->moves++;
		}
	}
	return NULL;
}

/*
 * Migrations back and forth race the edu's DMAs: every page it reads has its bytes, wherever it was. The import
 * then ends while the migrations go on. @flags: the import's P2PMM_SAMPLE_* flags.
 */
static void dmas_race_migrations(struct __test_metadata *_metadata, FIXTURE_DATA(importer) *self, uint32_t flags)
{
	struct mover mv = { .fd = self->fd, .targets = { 0, 0 } };
	struct p2pmm_sample_mirror_status st;
	struct p2pmm_sample_mirror_dma d;
	int mfd, ok = 0, routes[4] = { 0 }, bad = 0;
	unsigned int seed = 3;
	pthread_t t;

	mv.mem = filled(LEN, 1);
	ASSERT_NE(NULL, mv.mem);
	mv.targets[0] = self->managed;
	mv.targets[1] = P2PMM_LOCATION_SYSTEM;
	mfd = mirror(mv.mem, LEN, flags);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, pthread_create(&t, NULL, mover_main, &mv));
	for (int i = 0; i < 24; i++) {
		int pg = rand_r(&seed) % PAGES, ret;

		memset(self->page, 0, PAGE);
		ret = dma(mfd, mv.mem + pg * PAGE, self->page, 0, &d);
		if (ret) {
			EXPECT_EQ(-EBUSY, ret) TH_LOG("DMA %d: %s", i, strerror(-ret));
			continue;
		}
		ok++;
		routes[d.route & 3]++;
		if (memcmp(self->page, self->want + pg * PAGE, PAGE))
			bad++;
	}
	ASSERT_EQ(0, status(mfd, &st));
	/* The import ends while migrations still invalidate its range: the callback never runs after it. */
	close(mfd);
	usleep(200 * 1000);
	atomic_store(&mv.stop, 1);
	pthread_join(t, NULL);
	TH_LOG("%d DMAs (%d by bus address, %d to system memory) over %ld migrations: %llu maps, %llu invalidations "
	       "(%llu second passes), %llu retries", ok, routes[P2PMM_SAMPLE_ROUTE_BUS],
	       routes[P2PMM_SAMPLE_ROUTE_SYSTEM], mv.moves, (unsigned long long)st.maps,
	       (unsigned long long)st.invalidations, (unsigned long long)st.finishes, (unsigned long long)st.retries);
	EXPECT_EQ(0, bad) TH_LOG("%d DMAs read wrong bytes", bad);
	EXPECT_LT(0, ok);
	EXPECT_EQ(0, mv.errors) TH_LOG("migrations failed: %s", strerror(mv.last_errno));
	EXPECT_LT(1, mv.moves);
	EXPECT_LT(0, st.invalidations);
	/* Every invalidation of a two-pass driver has its second pass; a one-pass driver has none. */
	EXPECT_EQ(flags & P2PMM_SAMPLE_TWO_PASS ? st.invalidations : 0, st.finishes);
	EXPECT_EQ(-1, p2p_dma_mismatch(mv.mem, LEN, 1));
	munmap(mv.mem, LEN);
}

TEST_F_TIMEOUT(importer, dmas_racing_migrations_lose_nothing, 120)
{
	dmas_race_migrations(_metadata, self, 0);
}

/* The same with a driver that takes invalidations in two passes: it waits for its DMA in the second. */
TEST_F_TIMEOUT(importer, dmas_racing_migrations_lose_nothing_two_pass, 120)
{
	dmas_race_migrations(_metadata, self, P2PMM_SAMPLE_TWO_PASS);
}

struct reader {
	int mfd;
	uint8_t *mem;
	const uint8_t *want;
	atomic_int stop;
	long dmas, bad, errors;
	int last_errno;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct p2pmm_sample_mirror_dma d;
	uint8_t page[PAGE];

	for (unsigned int i = 0; !atomic_load(&r->stop); i++) {
		int pg = i % PAGES, ret = dma(r->mfd, r->mem + pg * PAGE, page, 0, &d);

		if (ret) {
			r->errors++;
			r->last_errno = -ret;
			continue;
		}
		r->dmas++;
		if (memcmp(page, r->want + pg * PAGE, PAGE))
			r->bad++;
	}
	return NULL;
}

/*
 * The provider goes (its device unbinds) while the edu DMAs to its pages: the unbind moves them to system memory,
 * which invalidates the driver's mapping, and the DMAs that follow reach them there. Nothing is lost, nothing
 * splats, and the driver's callback never runs after the import is gone.
 */
TEST_F_TIMEOUT(importer, the_provider_unbinds_while_its_pages_are_dmaed, 180)
{
	struct reader r = { .want = self->want };
	struct p2pmm_sample_mirror_status st;
	struct p2pmm_sample_mirror_dma d;
	uint32_t st_id, managed;
	pthread_t t;

	r.mem = filled(LEN, 1);
	ASSERT_NE(NULL, r.mem);
	ASSERT_EQ(PAGES, p2pmm_migrate(self->fd, r.mem, LEN, self->managed));
	r.mfd = mirror(r.mem, LEN, 0);
	ASSERT_LE(0, r.mfd);
	ASSERT_EQ(0, dma(r.mfd, r.mem, self->page, 0, &d));
	ASSERT_EQ(P2PMM_SAMPLE_ROUTE_BUS, d.route);
	ASSERT_EQ(0, pthread_create(&t, NULL, reader_main, &r));
	usleep(500 * 1000);
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/unbind", self->dev)) TH_LOG("unbind %s: %s", self->dev,
									       strerror(errno));
	usleep(1000 * 1000);
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	ASSERT_EQ(0, status(r.mfd, &st));
	TH_LOG("%ld DMAs, %llu maps, %llu invalidations", r.dmas, (unsigned long long)st.maps,
	       (unsigned long long)st.invalidations);
	EXPECT_EQ(0, r.bad) TH_LOG("%ld DMAs read wrong bytes", r.bad);
	EXPECT_EQ(0, r.errors) TH_LOG("%ld DMAs failed: %s", r.errors, strerror(r.last_errno));
	EXPECT_LT(0, st.invalidations);
	ASSERT_EQ(0, dma(r.mfd, r.mem + 3 * PAGE, self->page, 0, &d));
	EXPECT_EQ(P2PMM_SAMPLE_ROUTE_SYSTEM, d.route);
	EXPECT_EQ(PAGES, p2pmm_count_at(self->fd, r.mem, LEN, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(-1, p2p_dma_mismatch(r.mem, LEN, 1));
	close(r.mfd);
	munmap(r.mem, LEN);
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/bind", self->dev)) TH_LOG("bind %s: %s", self->dev,
									     strerror(errno));
	ASSERT_LT(0, p2pmm_providers_of(self->fd, self->dev, &st_id, &managed));
	EXPECT_NE(0, managed) TH_LOG("%s came back without its managed provider", self->dev);
}

TEST_HARNESS_MAIN
