// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of P2PMM_IOC_ADVISE: pinned pages survive any amount of eviction pressure, preferred pages are
 * evicted last, advice dies with munmap and with the file, and every bad request gets its errno. Pressure is
 * real: other memory is streamed through the same 8 MiB managed provider until it must evict. Needs p2pmm.ko
 * loaded on the default VM topology; run as root.
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
#define PAGE 4096UL
#define MB (1UL << 20)

static int find_managed(int fd, uint32_t *managed, uint64_t *capacity, uint32_t *static_id)
{
	struct p2pmm_provider_info p[32];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = 32, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		return -1;
	*static_id = 0;
	for (unsigned int i = 0; i < req.count && i < 32; i++) {
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && !*managed) {
			*managed = p[i].id;
			*capacity = p[i].capacity;
		} else if (p[i].kind == P2PMM_PROVIDER_STATIC) {
			*static_id = p[i].id;
		}
	}
	return *managed ? 0 : -1;
}

/* An id (1 to 63) no provider has now: ids are reused in turn, so no constant is safe; 0 if all are taken. */
static uint32_t unused_id(int fd)
{
	struct p2pmm_provider_info p[64];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = 64, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};
	uint64_t taken = 0;

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		return 0;
	for (unsigned int i = 0; i < req.count && i < 64; i++)
		if (p[i].id < 64)
			taken |= 1ULL << p[i].id;
	for (uint32_t id = 63; id > 0; id--)
		if (!(taken & (1ULL << id)))
			return id;
	return 0;
}

static int advise(int fd, void *addr, size_t len, uint32_t advice, uint32_t location)
{
	struct p2pmm_advise a = {
		.size = sizeof(a), .addr = (uintptr_t)addr, .length = len, .advice = advice, .location = location,
	};

	return ioctl(fd, P2PMM_IOC_ADVISE, &a);
}

static int migrate(int fd, void *addr, size_t len, uint32_t target)
{
	struct p2pmm_migrate m = {
		.size = sizeof(m), .addr = (uintptr_t)addr, .length = len, .target = target,
	};

	return ioctl(fd, P2PMM_IOC_MIGRATE, &m) ? -1 : (int)m.migrated;
}

/* No provider id and no location: a page QUERY left alone never counts as placed anywhere. */
#define UNWRITTEN_LOC 0xa5a5a5a5U

/*
 * Pages of [addr, addr + len) on provider `where`; -1 if the query fails or leaves a page without
 * a location. A caller comparing it with an upper bound asserts it is not -1 first: -1 is below
 * every bound.
 */
static long pages_on(int fd, void *addr, size_t len, uint32_t where)
{
	size_t n = len / PAGE;
	uint32_t *loc = malloc(n * sizeof(*loc));
	struct p2pmm_query q = {
		.size = sizeof(q), .addr = (uintptr_t)addr, .length = len, .locations = (uintptr_t)loc,
	};
	long c = 0;

	if (!loc)
		return -1;
	for (size_t i = 0; i < n; i++)
		loc[i] = UNWRITTEN_LOC;
	if (ioctl(fd, P2PMM_IOC_QUERY, &q)) {
		free(loc);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (loc[i] == UNWRITTEN_LOC) {
			c = -1;
			break;
		}
		c += loc[i] == where;
	}
	free(loc);
	return c;
}

static void fill(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed);
}

static int check(const uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(i * 131 + seed))
			return -1;
	return 0;
}

/* Streams `len` bytes of fresh memory through `target` in 1 MiB prefetches: pressure on its capacity. */
static int pressure(int fd, uint32_t target, size_t len)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc = 0;

	if (p == MAP_FAILED)
		return -1;
	memset(p, 0x5a, len);
	/* Let the pages already placed outlive the provider's minimum residency (1 ms). */
	usleep(20000);
	for (size_t off = 0; off < len && !rc; off += MB)
		rc = migrate(fd, p + off, MB, target) < 0;
	munmap(p, len);
	return rc ? -1 : 0;
}

FIXTURE(adv) {
	int fd;
	uint32_t managed;
	uint64_t capacity;
	uint32_t static_id;
};

FIXTURE_SETUP(adv)
{
	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	self->managed = 0;
	ASSERT_EQ(0, find_managed(self->fd, &self->managed, &self->capacity, &self->static_id));
}

FIXTURE_TEARDOWN(adv)
{
	close(self->fd);
}

/* Pinned after arriving, and pinned before arriving: both stay through 2x capacity of pressure. */
TEST_F(adv, pinned_pages_are_never_evicted)
{
	size_t len = 2 * MB;
	uint8_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *b = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long on_a, on_b;

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	fill(a, len, 1);
	fill(b, len, 2);
	ASSERT_EQ((int)(len / PAGE), migrate(self->fd, a, len, self->managed));
	ASSERT_EQ(0, advise(self->fd, a, len, P2PMM_ADV_PIN, 0));
	ASSERT_EQ(0, advise(self->fd, b, len, P2PMM_ADV_PIN, 0));
	ASSERT_EQ((int)(len / PAGE), migrate(self->fd, b, len, self->managed));

	ASSERT_EQ(0, pressure(self->fd, self->managed, 2 * self->capacity));
	EXPECT_EQ((long)(len / PAGE), pages_on(self->fd, a, len, self->managed));
	EXPECT_EQ((long)(len / PAGE), pages_on(self->fd, b, len, self->managed));

	/* Unpinned, the same pressure evicts them. */
	ASSERT_EQ(0, advise(self->fd, a, len, P2PMM_ADV_UNPIN, 0));
	ASSERT_EQ(0, advise(self->fd, b, len, P2PMM_ADV_UNPIN, 0));
	ASSERT_EQ(0, pressure(self->fd, self->managed, 2 * self->capacity));
	on_a = pages_on(self->fd, a, len, self->managed);
	on_b = pages_on(self->fd, b, len, self->managed);
	ASSERT_LE(0, on_a) TH_LOG("P2PMM_IOC_QUERY: %s", strerror(errno));
	ASSERT_LE(0, on_b) TH_LOG("P2PMM_IOC_QUERY: %s", strerror(errno));
	EXPECT_GT((long)(2 * len / PAGE), on_a + on_b);
	EXPECT_EQ(0, check(a, len, 1));
	EXPECT_EQ(0, check(b, len, 2));
	munmap(a, len);
	munmap(b, len);
}

/* Under pressure, pages that prefer the provider go after the others. */
TEST_F(adv, preferred_pages_are_evicted_last)
{
	size_t len = 3 * MB;
	uint8_t *pref = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *other = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long on;

	ASSERT_NE(MAP_FAILED, pref);
	ASSERT_NE(MAP_FAILED, other);
	fill(pref, len, 3);
	fill(other, len, 4);
	ASSERT_EQ(0, advise(self->fd, pref, len, P2PMM_ADV_PREFERRED_LOCATION, self->managed));
	ASSERT_EQ((int)(len / PAGE), migrate(self->fd, pref, len, self->managed));
	ASSERT_EQ((int)(len / PAGE), migrate(self->fd, other, len, self->managed));
	/* 2x capacity streamed through: the clock passes every slot; what does not prefer the provider goes. */
	ASSERT_EQ(0, pressure(self->fd, self->managed, 2 * self->capacity));
	EXPECT_EQ((long)(len / PAGE), pages_on(self->fd, pref, len, self->managed));
	on = pages_on(self->fd, other, len, self->managed);
	ASSERT_LE(0, on) TH_LOG("P2PMM_IOC_QUERY: %s", strerror(errno));
	EXPECT_GT((long)(len / PAGE), on);
	EXPECT_EQ(0, check(pref, len, 3));
	EXPECT_EQ(0, check(other, len, 4));
	munmap(pref, len);
	munmap(other, len);
}

/* Advice dies with the mapping: new memory at the same address is not pinned. */
TEST_F(adv, munmap_drops_advice)
{
	size_t len = 2 * MB;
	uint8_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *again;
	long on;

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, advise(self->fd, a, len, P2PMM_ADV_PIN, 0));
	ASSERT_EQ(0, munmap(a, len));
	again = mmap(a, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	ASSERT_EQ(a, again);
	fill(again, len, 5);
	ASSERT_EQ((int)(len / PAGE), migrate(self->fd, again, len, self->managed));
	ASSERT_EQ(0, pressure(self->fd, self->managed, 2 * self->capacity));
	on = pages_on(self->fd, again, len, self->managed);
	ASSERT_LE(0, on) TH_LOG("P2PMM_IOC_QUERY: %s", strerror(errno));
	EXPECT_GT((long)(len / PAGE), on);
	EXPECT_EQ(0, check(again, len, 5));
	munmap(again, len);
}

/* Closing the file that pinned unpins. */
TEST_F(adv, close_unpins)
{
	size_t len = 2 * MB;
	uint8_t *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd2 = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	long on;

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_LE(0, fd2);
	fill(a, len, 6);
	ASSERT_EQ((int)(len / PAGE), migrate(fd2, a, len, self->managed));
	ASSERT_EQ(0, advise(fd2, a, len, P2PMM_ADV_PIN, 0));
	ASSERT_EQ(0, pressure(self->fd, self->managed, 2 * self->capacity));
	EXPECT_EQ((long)(len / PAGE), pages_on(self->fd, a, len, self->managed));
	ASSERT_EQ(0, close(fd2));
	ASSERT_EQ(0, pressure(self->fd, self->managed, 2 * self->capacity));
	on = pages_on(self->fd, a, len, self->managed);
	ASSERT_LE(0, on) TH_LOG("P2PMM_IOC_QUERY: %s", strerror(errno));
	EXPECT_GT((long)(len / PAGE), on);
	EXPECT_EQ(0, check(a, len, 6));
	munmap(a, len);
}

/*
 * A CPU fault brings back the touched page with the unpinned neighbours of its aligned 16-page window
 * (cpu_fault_around_pages, default 16): one fault instead of sixteen when the CPU reads on. A pinned neighbour
 * stays on the device, and pages of windows the CPU did not touch stay too.
 */
TEST_F(adv, cpu_fault_brings_back_unpinned_neighbours)
{
	const size_t win = 16 * PAGE, len = 4 * win;
	uint8_t *raw = mmap(NULL, len + win, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *a;
	volatile uint8_t x;

	ASSERT_NE(MAP_FAILED, raw);
	a = (uint8_t *)(((uintptr_t)raw + win - 1) & ~(uintptr_t)(win - 1));
	fill(a, len, 8);
	ASSERT_EQ((int)(len / PAGE), migrate(self->fd, a, len, self->managed));
	ASSERT_EQ(0, advise(self->fd, a + win + 3 * PAGE, PAGE, P2PMM_ADV_PIN, 0));
	/* The CPU reads page 1 of the first window and page 5 of the second. */
	x = a[PAGE + 10];
	x = a[win + 5 * PAGE];
	(void)x;
	EXPECT_EQ(0, pages_on(self->fd, a, win, self->managed)) TH_LOG("the whole first window came back");
	EXPECT_EQ(1, pages_on(self->fd, a + win, win, self->managed)) TH_LOG("only the pinned page stayed");
	EXPECT_EQ(1, pages_on(self->fd, a + win + 3 * PAGE, PAGE, self->managed));
	EXPECT_EQ((long)(2 * win / PAGE), pages_on(self->fd, a + 2 * win, 2 * win, self->managed))
		TH_LOG("untouched windows stayed on the provider");
	EXPECT_EQ(0, check(a, len, 8));
	munmap(raw, len + win);
}

/*
 * ACCESSED_BY decides where victims may go: a full provider evicts pages whose advised device cannot reach the
 * peer directly to system memory, and the other victims still into the peer.
 */
TEST_F(adv, accessed_by_keeps_victims_off_a_peer_its_device_cannot_reach)
{
	struct p2pmm_provider_info p[32], a_info, b_info;
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = 32, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};
	uint32_t a = self->managed, b = 0, c = 0;
	const char *a_dev = NULL;
	size_t half = self->capacity / 2;
	uint8_t *buf1, *buf2, *buf3;

	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	for (unsigned int i = 0; i < req.count && i < 32; i++)
		if (p[i].id == a)
			a_dev = p[i].device, a_info = p[i];
	ASSERT_NE(NULL, a_dev);
	/* b: a managed peer a's device reaches directly; c: a managed provider whose device does not reach b. */
	for (unsigned int i = 0; i < req.count && i < 32; i++) {
		struct p2pmm_route r = { .size = sizeof(r), .provider = p[i].id };

		if (p[i].kind != P2PMM_PROVIDER_MANAGED || p[i].id == a || b)
			continue;
		snprintf(r.client, sizeof(r.client), "%.31s", a_dev);
		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_ROUTE, &r));
		if (r.plan == P2PMM_PLAN_DIRECT)
			b = p[i].id, b_info = p[i];
	}
	ASSERT_NE(0, b) TH_LOG("the default topology has two vaccels below one switch");
	for (unsigned int i = 0; i < req.count && i < 32; i++) {
		struct p2pmm_route r = { .size = sizeof(r), .provider = b };

		if (p[i].kind != P2PMM_PROVIDER_MANAGED || p[i].id == a || p[i].id == b)
			continue;
		snprintf(r.client, sizeof(r.client), "%.31s", p[i].device);
		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_ROUTE, &r));
		if (r.plan != P2PMM_PLAN_DIRECT)
			c = p[i].id;
	}
	ASSERT_NE(0, c) TH_LOG("the default topology has a vaccel on its own root port");
	ASSERT_EQ(0, a_info.used);
	ASSERT_EQ(0, b_info.used);

	buf1 = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf2 = mmap(NULL, half, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf3 = mmap(NULL, 2 * half, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf1);
	ASSERT_NE(MAP_FAILED, buf2);
	ASSERT_NE(MAP_FAILED, buf3);
	fill(buf1, half, 11);
	fill(buf2, half, 12);
	fill(buf3, 2 * half, 13);
	/* buf1 is accessed by c's device, buf2 by nobody in particular: together they fill a. */
	ASSERT_EQ(0, advise(self->fd, buf1, half, P2PMM_ADV_ACCESSED_BY, c));
	ASSERT_EQ((int)(half / PAGE), migrate(self->fd, buf1, half, a));
	ASSERT_EQ((int)(half / PAGE), migrate(self->fd, buf2, half, a));
	usleep(5000); /* past the minimum residency */
	/* A capacity's worth more pushes both out. */
	for (size_t off = 0; off < 2 * half; off += MB) {
		ASSERT_LE(0, migrate(self->fd, buf3 + off, MB, a));
		usleep(2000);
	}
	TH_LOG("buf1 (accessed by %u): %ld on the peer %u, %ld in system memory; buf2: %ld on the peer, %ld in system",
	       c, pages_on(self->fd, buf1, half, b), b, pages_on(self->fd, buf1, half, P2PMM_LOCATION_SYSTEM),
	       pages_on(self->fd, buf2, half, b), pages_on(self->fd, buf2, half, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(0, pages_on(self->fd, buf1, half, b)) TH_LOG("c's device cannot reach the peer");
	EXPECT_LT(0, pages_on(self->fd, buf1, half, P2PMM_LOCATION_SYSTEM));
	EXPECT_LT(0, pages_on(self->fd, buf2, half, b)) TH_LOG("unadvised victims still go to the peer");
	EXPECT_EQ(0, pages_on(self->fd, buf2, half, P2PMM_LOCATION_SYSTEM)) TH_LOG("the peer had room for them");
	EXPECT_EQ(0, check(buf1, half, 11));
	EXPECT_EQ(0, check(buf2, half, 12));
	EXPECT_EQ(0, check(buf3, 2 * half, 13));
	munmap(buf1, half);
	munmap(buf2, half);
	munmap(buf3, 2 * half);
}

TEST_F(adv, bad_requests)
{
	size_t len = 64 << 10;
	uint8_t *buf = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct p2pmm_advise a = { .size = sizeof(a), .advice = P2PMM_ADV_PIN };
	uint32_t absent;
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_EQ(0, munmap(buf + len, len));
	a.addr = (uintptr_t)buf;
	a.length = len;
	a.flags = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_ADVISE, &a));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unknown flags");
	ASSERT_EQ(-1, advise(self->fd, buf, len, 0, 0));
	EXPECT_EQ(EINVAL, errno) TH_LOG("advice 0");
	ASSERT_EQ(-1, advise(self->fd, buf, len, 9, 0));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unknown advice");
	ASSERT_EQ(-1, advise(self->fd, buf, len, P2PMM_ADV_PIN, self->managed));
	EXPECT_EQ(EINVAL, errno) TH_LOG("a location where none is taken");
	ASSERT_EQ(-1, advise(self->fd, buf, len, P2PMM_ADV_ACCESSED_BY, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(EINVAL, errno) TH_LOG("accessed-by needs a provider");
	absent = unused_id(self->fd);
	ASSERT_NE(0, absent);
	ASSERT_EQ(-1, advise(self->fd, buf, len, P2PMM_ADV_PREFERRED_LOCATION, absent));
	EXPECT_EQ(ENODEV, errno) TH_LOG("no such provider (%u)", absent);
	ASSERT_EQ(-1, advise(self->fd, buf, len, P2PMM_ADV_PREFERRED_LOCATION, self->static_id));
	EXPECT_EQ(EINVAL, errno) TH_LOG("static memory cannot be a preferred location");
	ASSERT_EQ(-1, advise(self->fd, buf + 1, len, P2PMM_ADV_PIN, 0));
	EXPECT_EQ(EINVAL, errno) TH_LOG("unaligned");
	ASSERT_EQ(-1, advise(self->fd, buf, 0, P2PMM_ADV_PIN, 0));
	EXPECT_EQ(EINVAL, errno) TH_LOG("empty");
	ASSERT_EQ(-1, advise(self->fd, buf, 2 * len, P2PMM_ADV_PIN, 0));
	EXPECT_EQ(ENOMEM, errno) TH_LOG("partly unmapped");
	EXPECT_EQ(0, advise(self->fd, buf, len, P2PMM_ADV_ACCESSED_BY, self->managed));
	/* No read duplication: read-mostly advice is refused, not recorded and ignored. */
	EXPECT_EQ(-1, advise(self->fd, buf, len, P2PMM_ADV_READ_MOSTLY, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(-1, advise(self->fd, buf, len, P2PMM_ADV_UNSET_READ_MOSTLY, 0));
	EXPECT_EQ(EOPNOTSUPP, errno);
	EXPECT_EQ(0, advise(self->fd, buf, len, P2PMM_ADV_PREFERRED_LOCATION, P2PMM_LOCATION_SYSTEM));
	/* A child inherits the file but has its own address space: advice through it is refused. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(advise(self->fd, buf, len, P2PMM_ADV_PIN, 0) == -1 && errno == EPERM ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("advice from another process: EPERM");
	munmap(buf, len);
}

TEST_HARNESS_MAIN
