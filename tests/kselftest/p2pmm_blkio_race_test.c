// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of P2PMM_IOC_BLKIO racing what moves or drops its pages: while the NVMe below the switch DMAs to
 * or from a range by P2P, a second thread migrates the range between two providers and system memory, evicts
 * it by filling its provider, forks, or unmaps it. The invalidation each of those causes must wait for the DMA
 * in flight (or make the transfer set the chunk up again), so:
 *
 * - every byte arrives where the process sees it afterwards (checked by the CPU and on the disk);
 * - the race really happened: invalidations waited for the I/O, or the transfer redid a chunk (debugfs
 *   p2pmm/blkio and the reply's retries); the transfer repeats until the second thread got its work done;
 * - an unmap under I/O ends the transfer with an error or lets it finish, and nothing is left behind (the
 *   sanitizer kernel and kmemleak check the rest).
 *
 * Needs p2pmm.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_topo.h"

#define P2PMM_DEV "/dev/p2pmm"
#define MAX_PROVIDERS 32
#define PAGE P2PMM_IOCTL_PAGE
#define LEN (2 << 20)
#define ROUNDS 12
#define FILLER (8 << 20)
/* Past the disk regions of the other BLKIO and O_DIRECT tests. */
#define REGION ((off_t)48 << 20)

/* What the second thread does while the transfer runs. */
enum disturb { MIGRATE, EVICT, FORK, UNMAP, UNBIND };

#define VACCEL_DRIVER "/sys/bus/pci/drivers/p2pmm_vaccel"

struct race {
	int fd;
	unsigned char *buf;
	unsigned char *filler;
	uint32_t x, y;
	const char *xdev;
	enum disturb what;
	int stop;
	long moves;
};

static void *disturber(void *arg)
{
	struct race *r = arg;

	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
		long moved = 0;

		switch (r->what) {
		case MIGRATE:
			moved += p2pmm_migrate(r->fd, r->buf, LEN, r->y) > 0;
			moved += p2pmm_migrate(r->fd, r->buf, LEN, P2PMM_LOCATION_SYSTEM) > 0;
			moved += p2pmm_migrate(r->fd, r->buf, LEN, r->x) > 0;
			break;
		case EVICT:
			/* The provider's whole 8 MiB, pinned: whatever else is there must make room. */
			p2pmm_migrate(r->fd, r->filler, FILLER, r->x);
			/* Done once the range itself was evicted. */
			moved += p2pmm_count_at(r->fd, r->buf, LEN, r->x) < LEN / PAGE;
			p2pmm_migrate(r->fd, r->filler, FILLER, P2PMM_LOCATION_SYSTEM);
			break;
		case FORK: {
			pid_t pid = fork();

			if (pid == 0)
				_exit(0);
			if (pid > 0) {
				waitpid(pid, NULL, 0);
				moved++;
			}
			break;
		}
		case UNMAP:
			usleep(200);
			munmap(r->buf, LEN);
			__atomic_add_fetch(&r->moves, 1, __ATOMIC_RELEASE);
			return NULL;
		case UNBIND:
			/* X's device goes away: its managed pages are evicted to system memory, data and all. */
			usleep(500);
			if (!p2p_dma_write_file(VACCEL_DRIVER "/unbind", r->xdev))
				__atomic_add_fetch(&r->moves, 1, __ATOMIC_RELEASE);
			return NULL;
		}
		__atomic_add_fetch(&r->moves, moved, __ATOMIC_RELEASE);
	}
	return NULL;
}

FIXTURE(race) {
	int fd;
	int bfd;
	struct p2p_dma_nvme nvme;
	uint32_t x, y;
	char xdev[32];
	unsigned char *ram;
	unsigned char *buf;
};

FIXTURE_SETUP(race)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	const char *xdev = NULL;
	int n;

	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
	n = list_providers(self->fd, p, MAX_PROVIDERS);
	ASSERT_LT(0, n);
	ASSERT_EQ(0, p2p_dma_find_nvme("p2pmm-sw", &self->nvme));
	self->x = self->y = 0;
	/* X and Y: the managed providers the switch NVMe reaches directly, X on the lower bus. */
	for (int i = 0; i < n; i++) {
		if (p[i].kind != P2PMM_PROVIDER_MANAGED || share_bridge(p[i].device, self->nvme.pci) != 1)
			continue;
		if (!xdev || strcmp(p[i].device, xdev) < 0) {
			self->y = self->x;
			self->x = p[i].id;
			xdev = p[i].device;
			snprintf(self->xdev, sizeof(self->xdev), "%s", xdev);
		} else {
			self->y = p[i].id;
		}
	}
	ASSERT_NE(0, self->x);
	ASSERT_NE(0, self->y);
	self->bfd = open(self->nvme.blk, O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->bfd);
	self->ram = aligned_alloc(PAGE, LEN);
	ASSERT_NE(NULL, self->ram);
	self->buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
}

FIXTURE_TEARDOWN(race)
{
	munmap(self->buf, LEN);
	free(self->ram);
	close(self->bfd);
	close(self->fd);
}

/*
 * ROUNDS transfers (write = memory to disk) of the range, which starts on provider X, each with the second
 * thread doing `what`; checks every byte after each. Returns the chunks the transfers redid.
 */
static long run(struct __test_metadata *_metadata, FIXTURE_DATA(race) *self, enum disturb what, int write)
{
	struct race r = { .fd = self->fd, .buf = self->buf, .x = self->x, .y = self->y, .what = what };
	long retries = 0, moves = 0;

	if (what == EVICT) {
		struct p2pmm_advise pin = { .size = sizeof(pin), .advice = P2PMM_ADV_PIN };

		r.filler = mmap(NULL, FILLER, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, r.filler);
		memset(r.filler, 1, FILLER);
		/*
		 * Pinned where it lands: the range is then all the provider can evict, although the transfers keep
		 * giving its pages a second chance (a page a transfer reaches counts as used).
		 */
		pin.addr = (uintptr_t)r.filler;
		pin.length = FILLER;
		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_ADVISE, &pin)) TH_LOG("PIN: %s", strerror(errno));
	}

	for (unsigned int round = 0; round < ROUNDS; round++) {
		unsigned int seed = round * 4 + what * 2 + write;
		struct p2pmm_blkio b;
		pthread_t t;
		double t0;
		long bad;
		int rc;

		if (write) {
			p2p_dma_fill(self->buf, LEN, seed);
			memset(self->ram, 0x3c, LEN);
			ASSERT_EQ(LEN, pwrite(self->bfd, self->ram, LEN, REGION));
		} else {
			p2p_dma_fill(self->ram, LEN, seed);
			ASSERT_EQ(LEN, pwrite(self->bfd, self->ram, LEN, REGION));
			memset(self->buf, 0x5a, LEN);
		}
		ASSERT_LE(0, p2pmm_migrate(self->fd, self->buf, LEN, self->x));
		ASSERT_EQ(LEN / PAGE, p2pmm_count_at(self->fd, self->buf, LEN, self->x));
		/* Past the residency time slice (1 ms by default): the pages may be evicted as soon as the I/O starts. */
		if (what == EVICT)
			usleep(3000);
		r.stop = 0;
		r.moves = 0;
		ASSERT_EQ(0, pthread_create(&t, NULL, disturber, &r));
		/*
		 * Transfers back to back (the same bytes each time) until the second thread got something done, or
		 * for 10 s at most: what it does then meets a transfer in flight.
		 */
		t0 = p2p_dma_now_s();
		do {
			rc = p2pmm_blkio(self->fd, self->bfd, self->buf, LEN, REGION, write, &b);
		} while (!rc && !__atomic_load_n(&r.moves, __ATOMIC_ACQUIRE) && p2p_dma_now_s() - t0 < 10);
		__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
		ASSERT_EQ(0, pthread_join(t, NULL));
		ASSERT_EQ(0, rc) TH_LOG("round %u: %s", round, strerror(errno));
		EXPECT_EQ(LEN, b.bytes_p2p + b.bytes_system + b.bytes_bounce);
		retries += b.retries;
		moves += r.moves;
		if (write) {
			ASSERT_EQ(LEN, pread(self->bfd, self->ram, LEN, REGION));
			bad = p2p_dma_mismatch(self->ram, LEN, seed);
			ASSERT_EQ(-1, bad) TH_LOG("round %u: disk byte %ld differs from memory's", round, bad);
		} else {
			bad = p2p_dma_mismatch(self->buf, LEN, seed);
			ASSERT_EQ(-1, bad) TH_LOG("round %u: byte %ld differs from the disk's", round, bad);
		}
	}
	EXPECT_LT(0, moves) TH_LOG("the second thread never got to move anything");
	if (r.filler)
		munmap(r.filler, FILLER);
	return retries;
}

/* Invalidations that waited for BLKIO's I/O so far, or -1. */
static long long waits(void)
{
	return p2pmm_blkio_stat("invalidation_waits");
}

/* The race happened: an invalidation waited for the I/O, or the transfer redid a chunk after one. */
#define EXPECT_RACED(before, retries)                                                                         \
	do {                                                                                                  \
		long long after = waits();                                                                    \
		ASSERT_LE(0, before) TH_LOG("no /sys/kernel/debug/p2pmm/blkio");                              \
		ASSERT_LE(0, after) TH_LOG("no /sys/kernel/debug/p2pmm/blkio");                               \
		EXPECT_LT(0, after - (before) + (retries))                                                    \
			TH_LOG("no invalidation met the I/O in %d rounds", ROUNDS);                            \
	} while (0)

TEST_F(race, migrate_during_read)
{
	long long before = waits();
	long retries = run(_metadata, self, MIGRATE, 0);

	EXPECT_RACED(before, retries);
}

TEST_F(race, migrate_during_write)
{
	long long before = waits();
	long retries = run(_metadata, self, MIGRATE, 1);

	EXPECT_RACED(before, retries);
}

TEST_F(race, evict_during_write)
{
	long long before = waits();
	long retries = run(_metadata, self, EVICT, 1);

	EXPECT_RACED(before, retries);
}

TEST_F(race, fork_during_read)
{
	run(_metadata, self, FORK, 0);
}

/* The range goes away under the transfer: it ends (done or failed), and the next one works. */
TEST_F(race, munmap_during_read)
{
	struct race r = { .fd = self->fd, .x = self->x, .y = self->y, .what = UNMAP };
	struct p2pmm_blkio b;

	for (unsigned int round = 0; round < ROUNDS; round++) {
		pthread_t t;
		int rc, err;

		r.buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, r.buf);
		memset(r.buf, 0x5a, LEN);
		ASSERT_LE(0, p2pmm_migrate(self->fd, r.buf, LEN, self->x));
		r.stop = 0;
		ASSERT_EQ(0, pthread_create(&t, NULL, disturber, &r));
		rc = p2pmm_blkio(self->fd, self->bfd, r.buf, LEN, REGION, 0, &b);
		err = errno;
		ASSERT_EQ(0, pthread_join(t, NULL));
		if (rc)
			EXPECT_TRUE(err == ENOMEM || err == EFAULT || err == EBUSY)
				TH_LOG("round %u: %s", round, strerror(err));
	}
	/* The provider and the device still work. */
	memset(self->buf, 0, LEN);
	p2p_dma_fill(self->ram, LEN, 99);
	ASSERT_EQ(LEN, pwrite(self->bfd, self->ram, LEN, REGION));
	ASSERT_LE(0, p2pmm_migrate(self->fd, self->buf, LEN, self->x));
	ASSERT_EQ(LEN / PAGE, p2pmm_count_at(self->fd, self->buf, LEN, self->x));
	ASSERT_EQ(0, p2pmm_blkio(self->fd, self->bfd, self->buf, LEN, REGION, 0, &b));
	EXPECT_EQ(-1, p2p_dma_mismatch(self->buf, LEN, 99));
}

/*
 * The device of the range's provider unbinds under the transfer (hot-unplug as the driver sees it): its managed
 * pages are evicted to system memory once no transfer uses the provider, the transfer completes, every byte is
 * where the process looks, and the device binds again.
 */
TEST_F(race, unbind_during_read)
{
	struct race r = { .fd = self->fd, .buf = self->buf, .x = self->x, .xdev = self->xdev, .what = UNBIND };
	struct p2pmm_blkio b;
	pthread_t t;
	int rc, err;

	p2p_dma_fill(self->ram, LEN, 55);
	ASSERT_EQ(LEN, pwrite(self->bfd, self->ram, LEN, REGION));
	memset(self->buf, 0x5a, LEN);
	ASSERT_LE(0, p2pmm_migrate(self->fd, self->buf, LEN, self->x));
	ASSERT_EQ(LEN / PAGE, p2pmm_count_at(self->fd, self->buf, LEN, self->x));
	ASSERT_EQ(0, pthread_create(&t, NULL, disturber, &r));
	do {
		rc = p2pmm_blkio(self->fd, self->bfd, self->buf, LEN, REGION, 0, &b);
		err = errno;
	} while (!rc && !__atomic_load_n(&r.moves, __ATOMIC_ACQUIRE));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, rc) TH_LOG("%s", strerror(err));
	EXPECT_EQ(1, r.moves) TH_LOG("unbinding %s failed", self->xdev);
	/* The provider is gone; its pages are in system memory with the disk's bytes. */
	EXPECT_EQ(LEN / PAGE, p2pmm_count_at(self->fd, self->buf, LEN, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(-1, p2p_dma_mismatch(self->buf, LEN, 55));
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL_DRIVER "/bind", self->xdev)) TH_LOG("bind %s: %s", self->xdev,
										 strerror(errno));
}

TEST_HARNESS_MAIN
