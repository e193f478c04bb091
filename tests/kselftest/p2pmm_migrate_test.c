// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of managed providers: P2PMM_IOC_MIGRATE (prefetch to a provider, back to system memory, device to
 * device), P2PMM_IOC_QUERY (per-page placement), eviction when a provider is oversubscribed, and what happens to
 * placed memory on munmap and fork. Every data check compares bytes written before the moves with bytes read
 * after them. Needs p2pmm.ko loaded on the default VM topology (two vaccel devices); run as root.
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
#include <sys/wait.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"

#define P2PMM_DEV "/dev/p2pmm"
#define MAX_PROVIDERS 32
#define PAGE 4096UL

static int providers(int fd, struct p2pmm_provider_info *out, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*out), .entries = (uintptr_t)out,
	};

	return ioctl(fd, P2PMM_IOC_PROVIDERS, &req) ? -1 : (int)req.count;
}

static int find_provider(int fd, uint32_t id, struct p2pmm_provider_info *info)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	int n = providers(fd, p, MAX_PROVIDERS);

	for (int i = 0; i < n; i++)
		if (p[i].id == id) {
			*info = p[i];
			return 0;
		}
	return -1;
}

/* Output fields start as this: a reply that does not write them fails every check, of 0 too. */
#define UNWRITTEN_U64 0xa5a5a5a5a5a5a5a5ULL
/* No provider id and no location: a page QUERY left alone never counts as placed anywhere. */
#define UNWRITTEN_LOC 0xa5a5a5a5U

static int migrate(int fd, void *addr, size_t len, uint32_t target, struct p2pmm_migrate *m)
{
	memset(m, 0, sizeof(*m));
	m->size = sizeof(*m);
	m->addr = (uintptr_t)addr;
	m->length = len;
	m->target = target;
	/* Output only: the kernel ignores them on input. */
	m->migrated = UNWRITTEN_U64;
	m->evicted = UNWRITTEN_U64;
	return ioctl(fd, P2PMM_IOC_MIGRATE, m);
}

/* 0 when the kernel wrote a location for every page of the range; -1 (errno set) otherwise. */
static int query(int fd, void *addr, size_t len, uint32_t *loc)
{
	struct p2pmm_query q = {
		.size = sizeof(q), .addr = (uintptr_t)addr, .length = len, .locations = (uintptr_t)loc,
	};

	for (size_t i = 0; i < len / PAGE; i++)
		loc[i] = UNWRITTEN_LOC;
	if (ioctl(fd, P2PMM_IOC_QUERY, &q))
		return -1;
	for (size_t i = 0; i < len / PAGE; i++)
		if (loc[i] == UNWRITTEN_LOC) {
			errno = ENODATA;
			return -1;
		}
	return 0;
}

/* How many of the n pages query reports at `where`. */
static size_t count_at(const uint32_t *loc, size_t n, uint32_t where)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += loc[i] == where;
	return c;
}

/* The byte at offset i of a buffer written in round r: every byte of every round differs from its neighbours. */
static uint8_t pattern(size_t i, unsigned int r)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(r * 37 + 1);
}

static void fill(uint8_t *p, size_t len, unsigned int r)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(i, r);
}

/* The offset of the first byte that differs from round r's pattern, or -1. */
static long first_bad(const uint8_t *p, size_t len, unsigned int r)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(i, r))
			return (long)i;
	return -1;
}

/*
 * A routable pair of managed providers (*a's device reaches *b directly) and, in *far, one that *a cannot reach
 * (0 if none); -1 if a route ioctl fails.
 */
static int routable_pair(int fd, const struct p2pmm_provider_info *p, int n, uint32_t *a, uint32_t *b, uint32_t *far)
{
	*a = *b = *far = 0;
	for (int i = 0; i < n && !*b; i++) {
		for (int j = 0; j < n; j++) {
			struct p2pmm_route r = { .size = sizeof(r), .provider = p[j].id };

			if (i == j || p[i].kind != P2PMM_PROVIDER_MANAGED || p[j].kind != P2PMM_PROVIDER_MANAGED)
				continue;
			snprintf(r.client, sizeof(r.client), "%.31s", p[i].device);
			if (ioctl(fd, P2PMM_IOC_ROUTE, &r))
				return -1;
			if (r.plan == P2PMM_PLAN_DIRECT && !*b) {
				*a = p[i].id;
				*b = p[j].id;
			} else if (r.plan != P2PMM_PLAN_DIRECT) {
				*far = p[j].id;
			}
		}
	}
	return 0;
}

FIXTURE(mig) {
	int fd;
	uint32_t managed[2];
	uint64_t capacity[2];
	uint32_t static_id;
};

FIXTURE_SETUP(mig)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	int n, nm = 0;

	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
	n = providers(self->fd, p, MAX_PROVIDERS);
	ASSERT_LT(0, n);
	self->static_id = 0;
	for (int i = 0; i < n; i++) {
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && nm < 2) {
			self->managed[nm] = p[i].id;
			self->capacity[nm++] = p[i].capacity;
		} else if (p[i].kind == P2PMM_PROVIDER_STATIC) {
			self->static_id = p[i].id;
		}
	}
	ASSERT_EQ(2, nm) TH_LOG("the default VM topology has vaccels with managed providers");
	ASSERT_NE(0, self->static_id);
}

FIXTURE_TEARDOWN(mig)
{
	close(self->fd);
}

/* Each vaccel's managed provider sits on the same device as its static one and has the configured capacity. */
TEST_F(mig, managed_providers_listed)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	int n = providers(self->fd, p, MAX_PROVIDERS);

	ASSERT_LT(0, n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	for (int m = 0; m < 2; m++) {
		int found_static = 0;
		struct p2pmm_provider_info info;

		ASSERT_EQ(0, find_provider(self->fd, self->managed[m], &info));
		EXPECT_EQ(8UL << 20, info.capacity) TH_LOG("the tests load p2pmm_vaccel with managed_mb=8");
		EXPECT_EQ(0, info.flags);
		for (int i = 0; i < n; i++)
			found_static |= p[i].kind == P2PMM_PROVIDER_STATIC && !strcmp(p[i].device, info.device);
		EXPECT_TRUE(found_static) TH_LOG("%s has no static provider", info.device);
	}
}

/* A buffer the kernel backs with a transparent huge page: MIGRATE counts every page that moved, as for small ones. */
TEST_F(mig, huge_page_buffer_counts_what_moved)
{
	size_t len = 2 << 20, n = len / PAGE;
	uint8_t *raw = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *buf;
	uint32_t *loc = calloc(n, sizeof(*loc));
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, raw);
	ASSERT_NE(NULL, loc);
	buf = (uint8_t *)(((uintptr_t)raw + len - 1) & ~(uintptr_t)(len - 1));
	madvise(buf, len, MADV_HUGEPAGE);
	fill(buf, len, 9);
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, self->managed[0]));
	EXPECT_EQ(n, m.migrated);
	EXPECT_EQ(-1, first_bad(buf, len, 9));
	munmap(raw, 2 * len);
	free(loc);
}

/*
 * Memory never written (no page yet, or the shared zero page after a read): prefetching gives it zeroed device
 * pages, and MIGRATE counts them as it counts pages that had data.
 */
TEST_F(mig, untouched_pages_count_what_moved)
{
	size_t len = 256 << 10, n = len / PAGE;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *loc = calloc(n, sizeof(*loc));
	volatile uint8_t sum = 0;
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	/* The second half is read once: the zero page. */
	for (size_t i = n / 2; i < n; i++)
		sum += buf[i * PAGE];
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, self->managed[0]));
	EXPECT_EQ(n, m.migrated);
	for (size_t i = 0; i < len; i++)
		if (buf[i]) {
			EXPECT_EQ(0, buf[i]) TH_LOG("byte %zu of never written memory is not 0", i);
			break;
		}
	munmap(buf, len);
	free(loc);
}

/* Prefetch to a provider, see it there, read it back through CPU faults (which bring each page home). */
TEST_F(mig, prefetch_query_read_back)
{
	size_t len = 1 << 20, n = len / PAGE;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *loc = calloc(n, sizeof(*loc));
	struct p2pmm_provider_info before, during, after;
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	fill(buf, len, 1);
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, P2PMM_LOCATION_SYSTEM));
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &before));

	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(n, m.migrated);
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, self->managed[0]));
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &during));
	EXPECT_EQ(before.used + len, during.used);
	EXPECT_EQ(before.migrated_in + n, during.migrated_in);

	/* Migrating again to where it is moves nothing. */
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m));
	EXPECT_EQ(0, m.migrated);

	EXPECT_EQ(-1, first_bad(buf, len, 1));
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, P2PMM_LOCATION_SYSTEM)) TH_LOG("CPU access brings pages to system memory");
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &after));
	EXPECT_EQ(before.used, after.used);
	EXPECT_EQ(during.migrated_out + n, after.migrated_out);
	munmap(buf, len);
	free(loc);
}

/* Device to device, then back to system memory explicitly; the data survives every hop. */
TEST_F(mig, device_to_device_and_back)
{
	size_t len = 2 << 20, n = len / PAGE;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *loc = calloc(n, sizeof(*loc));
	struct p2pmm_provider_info a0, a1;
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	fill(buf, len, 2);
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m));
	ASSERT_EQ(n, m.migrated);
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &a0));
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[1], &m));
	EXPECT_EQ(n, m.migrated);
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, self->managed[1]));
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &a1));
	EXPECT_EQ(a0.used - len, a1.used) TH_LOG("the source provider's pages are freed");
	EXPECT_EQ(a0.migrated_out + n, a1.migrated_out);

	ASSERT_EQ(0, migrate(self->fd, buf, len, P2PMM_LOCATION_SYSTEM, &m));
	EXPECT_EQ(n, m.migrated);
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(-1, first_bad(buf, len, 2));
	munmap(buf, len);
	free(loc);
}

/*
 * A working set of twice a provider's capacity, prefetched chunk by chunk to one provider for two rounds, then to
 * the other for two rounds, rewritten every other round: each pass must evict at least half the set, pages pass
 * through both providers and system memory (device to device for what was still resident), and not one byte may
 * be lost.
 */
TEST_F(mig, oversubscribe_twice_capacity)
{
	size_t len = 2 * self->capacity[0], chunk = 1 << 20, n = len / PAGE;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *loc = calloc(n, sizeof(*loc));
	struct p2pmm_provider_info s0, s1, e0, e1;
	uint64_t evicted = 0, migrated = 0;
	int seen[3] = { 0, 0, 0 };
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	ASSERT_LT(0, self->capacity[0]);
	ASSERT_EQ(self->capacity[0], self->capacity[1]);
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &s0));
	ASSERT_EQ(0, find_provider(self->fd, self->managed[1], &s1));
	for (unsigned int round = 0; round < 4; round++) {
		if (round % 2 == 0)
			fill(buf, len, 10 + round);
		for (size_t off = 0; off < len; off += chunk) {
			uint32_t target = self->managed[round / 2];

			ASSERT_EQ(0, migrate(self->fd, buf + off, chunk, target, &m)) TH_LOG("%s", strerror(errno));
			migrated += m.migrated;
			evicted += m.evicted;
		}
		ASSERT_EQ(0, query(self->fd, buf, len, loc));
		seen[0] += count_at(loc, n, P2PMM_LOCATION_SYSTEM) > 0;
		seen[1] += count_at(loc, n, self->managed[0]) > 0;
		seen[2] += count_at(loc, n, self->managed[1]) > 0;
		/* Never more on a provider than it holds. */
		EXPECT_GE(self->capacity[0] / PAGE, count_at(loc, n, self->managed[0]));
		EXPECT_GE(self->capacity[1] / PAGE, count_at(loc, n, self->managed[1]));
		if (round % 2 == 1) {
			long bad = first_bad(buf, len, 10 + round - 1);

			ASSERT_EQ(-1, bad) TH_LOG("round %u: byte %ld differs", round, bad);
		}
	}
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &e0));
	ASSERT_EQ(0, find_provider(self->fd, self->managed[1], &e1));
	TH_LOG("%lu pages migrated, %lu evicted; provider evictions %llu + %llu", (unsigned long)migrated,
	       (unsigned long)evicted, e0.evictions - s0.evictions, e1.evictions - s1.evictions);
	/* Each of the 4 passes pushes 2x capacity through a provider: at least one capacity's worth is evicted. */
	EXPECT_LE(4 * (self->capacity[0] / PAGE), evicted) TH_LOG("twice the capacity must evict");
	EXPECT_EQ(evicted, (e0.evictions - s0.evictions) + (e1.evictions - s1.evictions));
	EXPECT_LT(n, migrated);
	EXPECT_TRUE(seen[0] && seen[1] && seen[2]) TH_LOG("data passed through system memory and both providers");
	munmap(buf, len);
	free(loc);
}

/*
 * Prefetching pages that are already on the target moves nothing and evicts nothing, even when the provider is
 * full: room is made only for pages that need a slot (evicting for them would push out pages the same call
 * then brings back).
 */
TEST_F(mig, prefetch_of_resident_pages_evicts_nothing)
{
	size_t len = self->capacity[0], chunk = 1 << 20, n = len / PAGE;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *loc = calloc(n, sizeof(*loc));
	struct p2pmm_provider_info before, after;
	uint64_t migrated = 0, evicted = 0;
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &before));
	/* Every earlier test's process has exited: its device pages were freed with its memory. */
	ASSERT_EQ(0, before.used) TH_LOG("provider %u holds %llu bytes of another test",
					 self->managed[0], (unsigned long long)before.used);
	fill(buf, len, 40);
	/* Exactly the capacity: fills the provider without evicting. */
	for (size_t off = 0; off < len; off += chunk) {
		ASSERT_EQ(0, migrate(self->fd, buf + off, chunk, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
		migrated += m.migrated;
		evicted += m.evicted;
	}
	ASSERT_EQ(n, migrated);
	ASSERT_EQ(0, evicted);
	/* Again, whole and chunk by chunk, past the minimum residency: everything is where it is asked to be. */
	usleep(20 * 1000);
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, m.migrated);
	EXPECT_EQ(0, m.evicted);
	for (size_t off = 0; off < len; off += chunk) {
		ASSERT_EQ(0, migrate(self->fd, buf + off, chunk, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(0, m.migrated);
		EXPECT_EQ(0, m.evicted);
	}
	ASSERT_EQ(0, find_provider(self->fd, self->managed[0], &after));
	EXPECT_EQ(before.evictions, after.evictions);
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	EXPECT_EQ(n, count_at(loc, n, self->managed[0]));
	EXPECT_EQ(-1, first_bad(buf, len, 40));
	munmap(buf, len);
	free(loc);
}

/*
 * A full provider evicts to a peer provider its device reaches directly (the two vaccels below the switch), so the
 * data stays in device memory; a peer behind the host bridge never receives its pages.
 */
TEST_F(mig, eviction_prefers_a_routable_peer)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS], a, b, before_b;
	int n = providers(self->fd, p, MAX_PROVIDERS);
	uint32_t ida = 0, idb = 0, far = 0;
	size_t len, pages;
	uint8_t *buf;
	uint32_t *loc;
	struct p2pmm_migrate m;
	long bad;

	ASSERT_LT(0, n);
	ASSERT_EQ(0, routable_pair(self->fd, p, n, &ida, &idb, &far));
	ASSERT_NE(0, idb) TH_LOG("the default topology has two vaccels below one switch");
	ASSERT_NE(0, far) TH_LOG("the default topology has a vaccel on its own root port");
	ASSERT_EQ(0, find_provider(self->fd, ida, &a));
	ASSERT_EQ(0, find_provider(self->fd, idb, &before_b));
	ASSERT_EQ(0, before_b.used) TH_LOG("the peer starts empty");
	len = a.capacity + a.capacity / 2;
	pages = len / PAGE;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	loc = calloc(pages, sizeof(*loc));
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	fill(buf, len, 7);
	for (size_t off = 0; off < len; off += 1 << 20) {
		ASSERT_EQ(0, migrate(self->fd, buf + off, 1 << 20, ida, &m));
		usleep(2000); /* past the minimum residency: earlier pages become victims */
	}
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	ASSERT_EQ(0, find_provider(self->fd, idb, &b));
	TH_LOG("on A: %zu, on the peer: %zu, in system memory: %zu", count_at(loc, pages, ida), count_at(loc, pages, idb),
	       count_at(loc, pages, P2PMM_LOCATION_SYSTEM));
	EXPECT_LT(0, count_at(loc, pages, idb)) TH_LOG("evicted pages went to the routable peer");
	EXPECT_EQ(0, count_at(loc, pages, P2PMM_LOCATION_SYSTEM)) TH_LOG("the peer had room: nothing left device memory");
	EXPECT_EQ(count_at(loc, pages, idb), b.migrated_in - before_b.migrated_in);
	EXPECT_EQ(0, count_at(loc, pages, far));
	bad = first_bad(buf, len, 7);
	EXPECT_EQ(-1, bad);
	munmap(buf, len);
	free(loc);
}

/*
 * A peer with room for only some of the victims takes those, and the rest go to system memory in the same
 * eviction (they used to go to system memory all together).
 */
TEST_F(mig, eviction_splits_between_peer_and_system)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS], a, b, before_b;
	int n = providers(self->fd, p, MAX_PROVIDERS);
	uint32_t ida, idb, far;
	const size_t peer_room = 32, chunk = 1 << 20;
	size_t len, pages, flen;
	uint8_t *buf, *filler;
	uint32_t *loc;
	struct p2pmm_migrate m;
	size_t on_a, on_b, in_sys;

	ASSERT_LT(0, n);
	ASSERT_EQ(0, routable_pair(self->fd, p, n, &ida, &idb, &far));
	ASSERT_NE(0, idb) TH_LOG("the default topology has two vaccels below one switch");
	ASSERT_NE(0, far) TH_LOG("the default topology has a vaccel on its own root port");
	ASSERT_EQ(0, find_provider(self->fd, ida, &a));
	ASSERT_EQ(0, find_provider(self->fd, idb, &before_b));
	ASSERT_EQ(0, a.used) TH_LOG("the provider starts empty");
	ASSERT_EQ(0, before_b.used) TH_LOG("the peer starts empty");
	/* The peer is full but for peer_room pages. */
	flen = before_b.capacity - peer_room * PAGE;
	filler = mmap(NULL, flen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, filler);
	fill(filler, flen, 8);
	for (size_t off = 0; off < flen; off += chunk)
		ASSERT_EQ(0, migrate(self->fd, filler + off, flen - off < chunk ? flen - off : chunk, idb, &m));
	/* The provider exactly full, then one more chunk: it evicts a chunk's worth of its oldest pages. */
	len = a.capacity + chunk;
	pages = len / PAGE;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	loc = calloc(pages, sizeof(*loc));
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	fill(buf, len, 9);
	for (size_t off = 0; off < len; off += chunk) {
		ASSERT_EQ(0, migrate(self->fd, buf + off, chunk, ida, &m)) TH_LOG("%s", strerror(errno));
		usleep(2000); /* past the minimum residency: earlier pages become victims */
	}
	ASSERT_LT(peer_room, m.evicted) TH_LOG("the last chunk evicts more than the peer has room for");
	ASSERT_EQ(0, query(self->fd, buf, len, loc));
	ASSERT_EQ(0, find_provider(self->fd, idb, &b));
	on_a = count_at(loc, pages, ida);
	on_b = count_at(loc, pages, idb);
	in_sys = count_at(loc, pages, P2PMM_LOCATION_SYSTEM);
	TH_LOG("last chunk evicted %llu; on A: %zu, on the peer: %zu, in system memory: %zu",
	       (unsigned long long)m.evicted, on_a, on_b, in_sys);
	EXPECT_EQ(peer_room, on_b) TH_LOG("the peer took as many victims as it had room for");
	EXPECT_EQ(peer_room, b.migrated_in - before_b.migrated_in - (flen / PAGE));
	EXPECT_EQ(b.capacity, b.used) TH_LOG("the peer is full now");
	EXPECT_LT(0, in_sys) TH_LOG("the other victims went to system memory");
	EXPECT_EQ(pages, on_a + on_b + in_sys);
	EXPECT_EQ(0, count_at(loc, pages, far));
	EXPECT_EQ(-1, first_bad(buf, len, 9));
	EXPECT_EQ(-1, first_bad(filler, flen, 8)) TH_LOG("the peer's own pages stayed intact");
	munmap(buf, len);
	munmap(filler, flen);
	free(loc);
}

/* munmap of placed memory frees its device pages. */
TEST_F(mig, munmap_frees_device_pages)
{
	size_t len = 1 << 20;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct p2pmm_provider_info before, during, after;
	struct p2pmm_migrate m;

	ASSERT_NE(MAP_FAILED, buf);
	fill(buf, len, 3);
	ASSERT_EQ(0, find_provider(self->fd, self->managed[1], &before));
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[1], &m));
	ASSERT_EQ(len / PAGE, m.migrated);
	ASSERT_EQ(0, find_provider(self->fd, self->managed[1], &during));
	EXPECT_EQ(before.used + len, during.used);
	ASSERT_EQ(0, munmap(buf, len));
	ASSERT_EQ(0, find_provider(self->fd, self->managed[1], &after));
	EXPECT_EQ(before.used, after.used);
}

/* fork shares placed pages copy-on-write: the child sees the data, its writes do not reach the parent. */
TEST_F(mig, fork_cow)
{
	size_t len = 256 << 10;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct p2pmm_migrate m;
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, buf);
	fill(buf, len, 4);
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m));
	ASSERT_EQ(len / PAGE, m.migrated);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (first_bad(buf, len, 4) != -1)
			_exit(1);
		fill(buf, len, 5);
		_exit(first_bad(buf, len, 5) == -1 ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("1: child saw wrong data, 2: child's write lost");
	EXPECT_EQ(-1, first_bad(buf, len, 4)) TH_LOG("the child's write reached the parent");
	munmap(buf, len);
}

/*
 * Another process's placement, with CAP_SYS_PTRACE; without it, EPERM; no such process, ESRCH. Run unprivileged
 * (the kselftest suite's group-member pass), only the EPERM half applies.
 */
TEST_F(mig, query_another_process)
{
	size_t len = 256 << 10, n = len / PAGE;
	int to_parent[2], to_child[2], status;
	uint32_t *loc = calloc(n, sizeof(*loc));
	uint8_t *child_buf;
	char go = 0;
	pid_t pid, g;

	ASSERT_NE(NULL, loc);
	ASSERT_EQ(0, pipe(to_parent));
	ASSERT_EQ(0, pipe(to_child));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct p2pmm_migrate m;
		uint8_t *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);

		/* So that a parent that stops early (a failed assertion) ends this child too: EOF below. */
		close(to_child[1]);

		fill(b, len, 9);
		if (fd < 0 || migrate(fd, b, len, self->managed[1], &m) || m.migrated != n)
			b = NULL;
		if (write(to_parent[1], &b, sizeof(b)) != sizeof(b) || read(to_child[0], &go, 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(to_child[0]);
	ASSERT_EQ(sizeof(child_buf), read(to_parent[0], &child_buf, sizeof(child_buf)));
	ASSERT_NE(NULL, child_buf) TH_LOG("the child could not place its buffer");
	if (geteuid()) {
		struct p2pmm_query q = {
			.size = sizeof(q), .addr = (uintptr_t)child_buf, .length = len, .locations = (uintptr_t)loc,
			.pid = pid,
		};

		EXPECT_EQ(-1, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
		EXPECT_EQ(EPERM, errno);
	} else {
		struct p2pmm_query q = {
			.size = sizeof(q), .addr = (uintptr_t)child_buf, .length = len, .locations = (uintptr_t)loc,
			.pid = pid,
		};

		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_QUERY, &q)) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(n, count_at(loc, n, self->managed[1])) TH_LOG("the child's pages, seen from here");
		q.pid = 0x7ffffff0;
		ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
		EXPECT_EQ(ESRCH, errno);
		q.pid = pid;
		q.__reserved = 1;
		ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
		EXPECT_EQ(EINVAL, errno);
		/* Without CAP_SYS_PTRACE (a grandchild that dropped to nobody), another process is off limits. */
		g = fork();
		ASSERT_LE(0, g);
		if (g == 0) {
			struct p2pmm_query q = {
				.size = sizeof(q), .addr = (uintptr_t)child_buf, .length = len,
				.locations = (uintptr_t)loc, .pid = pid,
			};

			if (setgid(65534) || setuid(65534))
				_exit(2);
			_exit(ioctl(self->fd, P2PMM_IOC_QUERY, &q) == -1 && errno == EPERM ? 0 : 1);
		}
		ASSERT_EQ(g, waitpid(g, &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("unprivileged: EPERM");
	}
	ASSERT_EQ(1, write(to_child[1], &go, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child lost its pipe");
	free(loc);
}

TEST_F(mig, bad_requests)
{
	size_t len = 64 << 10;
	uint8_t *buf = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t loc[32];
	struct p2pmm_migrate m;
	struct p2pmm_query q;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, munmap(buf + len, len)); /* a hole right after the buffer */
	ASSERT_EQ(-1, migrate(self->fd, buf + 1, len, self->managed[0], &m));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unaligned address");
	ASSERT_EQ(-1, migrate(self->fd, buf, len - 1, self->managed[0], &m));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unaligned length");
	ASSERT_EQ(-1, migrate(self->fd, buf, 0, self->managed[0], &m));
	EXPECT_EQ(EINVAL, errno) TH_LOG("empty range");
	ASSERT_EQ(-1, migrate(self->fd, (void *)(~0UL & ~(PAGE - 1)), 2 * PAGE, self->managed[0], &m));
	EXPECT_EQ(EINVAL, errno) TH_LOG("wrapping range");
	ASSERT_EQ(-1, migrate(self->fd, buf, 2 * len, self->managed[0], &m));
	EXPECT_EQ(ENOMEM, errno) TH_LOG("partly unmapped, as madvise");
	ASSERT_EQ(-1, migrate(self->fd, buf, len, 0x7fff0000, &m));
	EXPECT_EQ(ENODEV, errno) TH_LOG("no such provider");
	ASSERT_EQ(-1, migrate(self->fd, buf, len, self->static_id, &m));
	EXPECT_EQ(EINVAL, errno) TH_LOG("static memory is not a migration target");
	ASSERT_EQ(-1, migrate(self->fd, buf, len, P2PMM_LOCATION_NONE, &m));
	EXPECT_EQ(EINVAL, errno);
	/* A request that succeeds, then the same with one bad field at a time. */
	ASSERT_EQ(0, migrate(self->fd, buf, len, self->managed[0], &m))
		TH_LOG("%s", strerror(errno));
	m.flags = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_MIGRATE, &m));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unknown flags");
	m.flags = 0;
	m.__reserved = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_MIGRATE, &m));
	EXPECT_EQ(EINVAL, errno);

	q = (struct p2pmm_query){ .size = sizeof(q), .addr = (uintptr_t)buf, .length = len, .locations = 16 };
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
	EXPECT_EQ(EFAULT, errno) TH_LOG("unwritable output");
	q.locations = (uintptr_t)loc;
	q.length = 2 * len;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
	EXPECT_EQ(ENOMEM, errno);
	q.length = len;
	q.flags = 4;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);
	munmap(buf, len);
}

TEST_HARNESS_MAIN
