// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest of accelerator-sized memory: the scale VM (scripts/vm.sh, P2PMM_TOPOLOGY=scale) has a 16 GiB ivshmem
 * BAR and a 2 GiB one below one switch. The scale suite (tests/guest/init.sh) loads p2pmm.ko and p2pmm_vaccel.ko
 * with static_mb=4096, so the 16 GiB BAR becomes 4 GiB of static and 12 GiB of managed memory, and binds the
 * 2 GiB device to p2pmm_sample with managed_mb=1024: a 1 GiB managed provider that is a peer of the 12 GiB one.
 * Every byte moved is written before the moves and compared after them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2pmm_ioctl.h"

#define P2PMM_DEV "/dev/p2pmm"
#define MAX_PROVIDERS 16
#define PAGE 4096UL
#define GIB (1UL << 30)
/* Seconds a test of 2 GiB may take: the sanitizer kernel under TCG moves some 10 to 20 MiB/s. */
#define TIMEOUT 900
/* Migrations go in pieces of this size, so a failure says where. */
#define STEP (256UL << 20)

/* The provider of `kind` with `capacity` bytes (on device `dev` if not NULL), or NULL. */
static const struct p2pmm_provider_info *find(const struct p2pmm_provider_info *p, int n, uint32_t kind,
					      uint64_t capacity, const char *dev)
{
	for (int i = 0; i < n; i++)
		if (p[i].kind == kind && p[i].capacity == capacity && (!dev || !strcmp(dev, p[i].device)))
			return &p[i];
	return NULL;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Every 8-byte word of [buf, buf + len) gets a value of its own index and the seed. */
static void fill(uint64_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		buf[i] = (i * 0x9e3779b97f4a7c15ULL) ^ seed;
}

/* The index of the first word that does not hold what fill() wrote, or -1. */
static long long mismatch(const uint64_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		if (buf[i] != ((i * 0x9e3779b97f4a7c15ULL) ^ seed))
			return (long long)i;
	return -1;
}

/* Migrates [buf, buf + len) to target in STEP pieces; the pages moved, or -1 (errno set). Adds evictions up. */
static long long migrate_all(int fd, char *buf, size_t len, uint32_t target, uint64_t *evicted)
{
	double t0 = now();
	long long moved = 0;

	for (size_t at = 0; at < len; at += STEP) {
		struct p2pmm_migrate m = {
			.size = sizeof(m), .addr = (uintptr_t)buf + at, .length = STEP, .target = target,
			.migrated = P2PMM_IOCTL_UNWRITTEN, .evicted = P2PMM_IOCTL_UNWRITTEN,
		};

		if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
			return -1;
		if (!at)
			printf("# first %lu MiB to %u: %.1f s\n", STEP >> 20, target, now() - t0);
		moved += m.migrated;
		if (evicted)
			*evicted += m.evicted;
	}
	return moved;
}

FIXTURE(scale)
{
	int fd;
	struct p2pmm_provider_info big_static, big_managed, small_managed;
};

FIXTURE_SETUP(scale)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	const struct p2pmm_provider_info *s, *m, *small;
	int n;

	self->fd = open(P2PMM_DEV, O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", P2PMM_DEV, strerror(errno));
	n = p2pmm_providers(self->fd, p, MAX_PROVIDERS);
	ASSERT_LT(0, n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	m = find(p, n, P2PMM_PROVIDER_MANAGED, 12 * GIB, NULL);
	ASSERT_NE(NULL, m) TH_LOG("no 12 GiB managed provider: the 16 GiB BAR did not register");
	s = find(p, n, P2PMM_PROVIDER_STATIC, 4 * GIB, m->device);
	ASSERT_NE(NULL, s) TH_LOG("no 4 GiB static provider on %s", m->device);
	small = find(p, n, P2PMM_PROVIDER_MANAGED, GIB, NULL);
	ASSERT_NE(NULL, small) TH_LOG("no 1 GiB managed provider (p2pmm_sample managed_mb=1024)");
	ASSERT_STRNE(m->device, small->device);
	self->big_static = *s;
	self->big_managed = *m;
	self->small_managed = *small;
}

FIXTURE_TEARDOWN(scale)
{
	close(self->fd);
}

/* The whole of the 16 GiB BAR is registered, and static memory at its far end is usable. */
TEST_F(scale, sixteen_gib_bar_registers_static_and_managed)
{
	struct p2pmm_route r = { .size = sizeof(r), .provider = self->small_managed.id };
	size_t len = 64UL << 20;
	uint64_t *buf;

	EXPECT_EQ(0, self->big_managed.used);
	EXPECT_EQ(0, self->big_static.used);
	/* Static memory: an mmap of 64 MiB from the 4 GiB, written and read back. */
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->big_static.id));
	ASSERT_NE(MAP_FAILED, buf) TH_LOG("mmap of static memory: %s", strerror(errno));
	fill(buf, len, 1);
	EXPECT_EQ(-1, mismatch(buf, len, 1));
	munmap(buf, len);
	/* The two managed providers are peers: evictions from the small one can go to the big one. */
	snprintf(r.client, sizeof(r.client), "%s", self->big_managed.device);
	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_ROUTE, &r)) TH_LOG("P2PMM_IOC_ROUTE: %s", strerror(errno));
	EXPECT_EQ(P2PMM_PLAN_DIRECT, r.plan);
}

/* 2 GiB of anonymous memory to the 12 GiB provider and back, every byte compared. */
TEST_F_TIMEOUT(scale, two_gib_migrate_to_device_and_back, TIMEOUT)
{
	size_t len = 2 * GIB, pages = len / PAGE;
	struct p2pmm_provider_info after;
	double t0, t1, t2;
	char *buf;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	fill((uint64_t *)buf, len, 2);
	t0 = now();
	ASSERT_EQ((long long)pages, migrate_all(self->fd, buf, len, self->big_managed.id, NULL))
		TH_LOG("MIGRATE to provider %u: %s", self->big_managed.id, strerror(errno));
	t1 = now();
	EXPECT_EQ((long)pages, p2pmm_count_at(self->fd, buf, len, self->big_managed.id));
	ASSERT_EQ(0, p2pmm_provider(self->fd, self->big_managed.id, &after));
	EXPECT_EQ(len, after.used);
	EXPECT_EQ(0, after.evictions);
	t2 = now();
	ASSERT_EQ((long long)pages, migrate_all(self->fd, buf, len, P2PMM_LOCATION_SYSTEM, NULL))
		TH_LOG("MIGRATE to system memory: %s", strerror(errno));
	printf("# 2 GiB system -> device %.0f MiB/s, device -> system %.0f MiB/s\n", 2048 / (t1 - t0),
	       2048 / (now() - t2));
	EXPECT_EQ((long)pages, p2pmm_count_at(self->fd, buf, len, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(-1, mismatch((uint64_t *)buf, len, 2));
	ASSERT_EQ(0, p2pmm_provider(self->fd, self->big_managed.id, &after));
	EXPECT_EQ(0, after.used);
	munmap(buf, len);
}

/* 2 GiB through the 1 GiB provider: it evicts into its 12 GiB peer, and nothing is lost. */
TEST_F_TIMEOUT(scale, twice_oversubscribed_provider_evicts_into_its_peer, TIMEOUT)
{
	size_t len = 2 * GIB, pages = len / PAGE;
	struct p2pmm_provider_info peer_after;
	long on_small, on_peer, on_system;
	uint64_t evicted = 0;
	long long back;
	char *buf;

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	fill((uint64_t *)buf, len, 3);
	ASSERT_EQ((long long)pages, migrate_all(self->fd, buf, len, self->small_managed.id, &evicted))
		TH_LOG("MIGRATE to provider %u: %s", self->small_managed.id, strerror(errno));
	on_small = p2pmm_count_at(self->fd, buf, len, self->small_managed.id);
	on_peer = p2pmm_count_at(self->fd, buf, len, self->big_managed.id);
	on_system = p2pmm_count_at(self->fd, buf, len, P2PMM_LOCATION_SYSTEM);
	printf("# %lu pages through %lu: %lu on the provider, %lu evicted into its peer, %lu into system memory "
	       "(%llu evictions reported)\n", pages, GIB / PAGE, on_small, on_peer, on_system,
	       (unsigned long long)evicted);
	/* The provider is full, the rest was evicted, and every page is somewhere. */
	EXPECT_EQ((long)(GIB / PAGE), on_small);
	EXPECT_EQ(pages - GIB / PAGE, evicted);
	EXPECT_EQ((long)pages, on_small + on_peer + on_system);
	/* The peer has room for all of it and is reachable: nothing went to system memory. */
	EXPECT_EQ((long)(pages - GIB / PAGE), on_peer);
	ASSERT_EQ(0, p2pmm_provider(self->fd, self->big_managed.id, &peer_after));
	EXPECT_EQ((uint64_t)on_peer * PAGE, peer_after.used);
	back = migrate_all(self->fd, buf, len, P2PMM_LOCATION_SYSTEM, NULL);
	EXPECT_EQ((long long)(on_small + on_peer), back) TH_LOG("MIGRATE back: %s", strerror(errno));
	EXPECT_EQ(-1, mismatch((uint64_t *)buf, len, 3));
	munmap(buf, len);
}

TEST_HARNESS_MAIN
