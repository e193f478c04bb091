// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of p2pmm's dmem cgroup accounting: every provider is a dmem region (`p2pmm/<pci name>/static` or
 * `.../managed`) whose capacity dmem.capacity lists; static mappings and managed pages are charged to the cgroup
 * of the process that maps or moves them in, and given back on munmap, process exit and unbind. dmem.max stops a
 * cgroup (a static mmap with ENOMEM; a migration by evicting the cgroup's own pages first, ENOMEM when none can
 * go) and leaves the others alone; dmem.min keeps a cgroup's pages through another tenant's pressure, and
 * without it they go. dmem.current agrees with p2pmm's own `used` counters at every step. Needs p2pmm.ko loaded
 * on the default VM topology with cgroup2 mounted at /sys/fs/cgroup; run as root.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"

#define CG "/sys/fs/cgroup"
#define CG_A CG "/p2pmm_a"
#define CG_B CG "/p2pmm_b"
#define DRIVER "/sys/bus/pci/drivers/p2pmm_vaccel"
#define PAGE 4096UL
#define MiB (1UL << 20)
/* Longer than p2pmm's min_residency_us (1 ms by default): pages moved in before it are evictable. */
#define PAST_RESIDENCY_US 20000

/* The value of @region in @cg's dmem file @file: bytes, LLONG_MAX for "max", -1 when it is not listed. */
static long long dmem_value(const char *cg, const char *file, const char *region)
{
	char path[128], line[256];
	long long v = -1;
	size_t n = strlen(region);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, region, n) && line[n] == ' ') {
			v = strncmp(line + n + 1, "max", 3) ? atoll(line + n + 1) : LLONG_MAX;
			break;
		}
	fclose(f);
	return v;
}

/* What @cg has charged in @region: dmem.current, with a region that is gone counting as 0. */
static long long charged(const char *cg, const char *region)
{
	long long v = dmem_value(cg, "dmem.current", region);

	return v < 0 ? 0 : v;
}

static int set_dmem(const char *cg, const char *file, const char *region, const char *value)
{
	char path[128], line[160];

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	snprintf(line, sizeof(line), "%s %s", region, value);
	return p2p_dma_write_file(path, line);
}

/* Moves the calling process into @cg: what it maps or moves in from now on is charged there. */
static int join(const char *cg)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	return p2p_dma_write_file(path, "0");
}

static void region_of(const struct p2pmm_provider_info *p, char *out, size_t room)
{
	snprintf(out, room, "p2pmm/%.32s/%s", p->device, p->kind == P2PMM_PROVIDER_STATIC ? "static" : "managed");
}

static void *map_static(int fd, uint32_t id, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(id));
}

static void *anon(size_t len, uint8_t seed)
{
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)(seed + i * 7 + i / PAGE);
	return p;
}

/* Whether @p still holds what anon(@len, @seed) wrote (reading it brings managed pages back). */
static int intact(const uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(seed + i * 7 + i / PAGE))
			return 0;
	return 1;
}

static int advise(int fd, void *addr, size_t len, uint32_t advice)
{
	struct p2pmm_advise a = {
		.size = sizeof(a), .addr = (uintptr_t)addr, .length = len, .advice = advice,
	};

	return ioctl(fd, P2PMM_IOC_ADVISE, &a);
}

/* Pages p2pmm_evict_cgroup records (since the buffer was emptied) say cgroup @cg lost; -1 if unreadable. */
static long evicted_from(const char *cg)
{
	char line[512], key[48];
	struct stat st;
	long pages = 0;
	FILE *f;

	if (stat(cg, &st))
		return -1;
	snprintf(key, sizeof(key), " cgroup=%llu pages=", (unsigned long long)st.st_ino);
	f = fopen(P2P_DMA_TRACEFS "/trace", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *at = strstr(line, "p2pmm_evict_cgroup:");

		if (at && (at = strstr(at, key)))
			pages += atol(at + strlen(key));
	}
	fclose(f);
	return pages;
}

static int trace_evictions(int on)
{
	if (p2p_dma_trace(0))	/* mounts tracefs */
		return -1;
	return p2p_dma_write_file(P2P_DMA_TRACEFS "/events/p2pmm/p2pmm_evict_cgroup/enable", on ? "1" : "0");
}

static long long used_of(int fd, uint32_t id)
{
	struct p2pmm_provider_info info;

	return p2pmm_provider(fd, id, &info) ? -1 : (long long)info.used;
}

FIXTURE(cg)
{
	int fd;
	struct p2pmm_provider_info st, mg;	/* a static provider with room, the first managed one */
	char st_region[64], mg_region[64];
};

FIXTURE_SETUP(cg)
{
	struct p2pmm_provider_info p[32];
	char controllers[256] = "";
	int n, cfd;

	cfd = open(CG "/cgroup.controllers", O_RDONLY);
	ASSERT_LE(0, cfd) TH_LOG("cgroup2 is not mounted at " CG);
	ASSERT_LT(0, read(cfd, controllers, sizeof(controllers) - 1));
	close(cfd);
	ASSERT_NE(NULL, strstr(controllers, "dmem")) TH_LOG("no dmem controller: %s", controllers);
	ASSERT_EQ(0, p2p_dma_write_file(CG "/cgroup.subtree_control", "+dmem"));
	rmdir(CG_A);
	rmdir(CG_B);
	ASSERT_EQ(0, mkdir(CG_A, 0755));
	ASSERT_EQ(0, mkdir(CG_B, 0755));

	self->fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	n = p2pmm_providers(self->fd, p, 32);
	ASSERT_LT(0, n);
	memset(&self->st, 0, sizeof(self->st));
	memset(&self->mg, 0, sizeof(self->mg));
	for (int i = 0; i < n && i < 32; i++) {
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && !self->mg.id)
			self->mg = p[i];
		if (p[i].kind == P2PMM_PROVIDER_STATIC && p[i].capacity - p[i].used >= 4 * MiB &&
		    p[i].capacity - p[i].used > self->st.capacity - self->st.used)
			self->st = p[i];
	}
	ASSERT_NE(0, self->st.id) TH_LOG("no static provider with 4 MiB free");
	ASSERT_NE(0, self->mg.id) TH_LOG("no managed provider");
	ASSERT_EQ(0, self->mg.used) TH_LOG("managed provider %u in use before the test", self->mg.id);
	region_of(&self->st, self->st_region, sizeof(self->st_region));
	region_of(&self->mg, self->mg_region, sizeof(self->mg_region));
}

FIXTURE_TEARDOWN(cg)
{
	join(CG);
	close(self->fd);
	EXPECT_EQ(0, rmdir(CG_A));
	EXPECT_EQ(0, rmdir(CG_B));
}

/* Every provider is a dmem region named after its device, of its capacity. */
TEST_F(cg, every_provider_is_a_region_of_its_capacity)
{
	struct p2pmm_provider_info p[32];
	char region[64];
	int n = p2pmm_providers(self->fd, p, 32);

	ASSERT_LT(0, n);
	for (int i = 0; i < n && i < 32; i++) {
		region_of(&p[i], region, sizeof(region));
		EXPECT_EQ((long long)p[i].capacity, dmem_value(CG, "dmem.capacity", region))
			TH_LOG("provider %u: %s", p[i].id, region);
		/* Listed in every cgroup's dmem.current, at 0 for a cgroup that took nothing. */
		EXPECT_EQ(0, dmem_value(CG_A, "dmem.current", region)) TH_LOG("%s", region);
	}
}

/* dmem.max stops a cgroup's static mappings at its limit; the other cgroup maps on, also through allocate. */
TEST_F(cg, static_mappings_are_held_to_dmem_max)
{
	long long used0 = used_of(self->fd, self->st.id);
	uint8_t *a, *b, *c, *d;
	char path[96];
	int afd;

	ASSERT_LE(0, used0);
	ASSERT_EQ(0, set_dmem(CG_A, "dmem.max", self->st_region, "1M"));
	ASSERT_EQ(MiB, dmem_value(CG_A, "dmem.max", self->st_region));

	ASSERT_EQ(0, join(CG_A));
	a = map_static(self->fd, self->st.id, MiB);
	ASSERT_NE(MAP_FAILED, a) TH_LOG("mmap within the limit: %s", strerror(errno));
	memset(a, 0x5a, MiB);
	EXPECT_EQ(MiB, charged(CG_A, self->st_region));
	EXPECT_EQ(used0 + (long long)MiB, used_of(self->fd, self->st.id));
	/* One page more is over the limit: refused, and nothing taken. */
	errno = 0;
	EXPECT_EQ(MAP_FAILED, map_static(self->fd, self->st.id, PAGE));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_EQ(MiB, charged(CG_A, self->st_region));
	EXPECT_EQ(used0 + (long long)MiB, used_of(self->fd, self->st.id));

	/* The other cgroup has no limit. */
	ASSERT_EQ(0, join(CG_B));
	b = map_static(self->fd, self->st.id, 2 * MiB);
	ASSERT_NE(MAP_FAILED, b);
	EXPECT_EQ(2 * MiB, charged(CG_B, self->st_region));
	EXPECT_EQ(MiB, charged(CG_A, self->st_region));
	EXPECT_EQ(used0 + 3 * (long long)MiB, used_of(self->fd, self->st.id));
	/* A mapping of the provider's allocate file is charged the same way, and given back on munmap. */
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/allocate", self->st.id);
	afd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, afd) TH_LOG("%s: %s", path, strerror(errno));
	d = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	close(afd);
	ASSERT_NE(MAP_FAILED, d);
	memset(d, 0x77, MiB);
	EXPECT_EQ(3 * MiB, charged(CG_B, self->st_region));
	ASSERT_EQ(0, munmap(d, MiB));
	EXPECT_EQ(2 * MiB, charged(CG_B, self->st_region));

	/* munmap gives it back; A maps again (the data of the first mapping was A's to the end). */
	for (size_t i = 0; i < MiB; i++)
		ASSERT_EQ(0x5a, a[i]);
	ASSERT_EQ(0, munmap(a, MiB));
	EXPECT_EQ(0, charged(CG_A, self->st_region));
	ASSERT_EQ(0, join(CG_A));
	c = map_static(self->fd, self->st.id, MiB);
	ASSERT_NE(MAP_FAILED, c);
	EXPECT_EQ(MiB, charged(CG_A, self->st_region));
	/* A mapping split by a partial munmap stays charged until its last piece goes. */
	ASSERT_EQ(0, munmap(c, MiB / 2));
	EXPECT_EQ(MiB, charged(CG_A, self->st_region));
	ASSERT_EQ(0, munmap(c + MiB / 2, MiB / 2));
	EXPECT_EQ(0, charged(CG_A, self->st_region));
	ASSERT_EQ(0, munmap(b, 2 * MiB));
	EXPECT_EQ(0, charged(CG_B, self->st_region));
	EXPECT_EQ(used0, used_of(self->fd, self->st.id));
}

/*
 * Over its dmem.max on a managed provider, a migration evicts the cgroup's own pages first and never another
 * cgroup's; when its own cannot go (pinned), it fails with ENOMEM.
 */
TEST_F(cg, managed_migration_over_dmem_max_evicts_own_pages_first)
{
	const long pages = MiB / PAGE;
	uint8_t *b = anon(MiB, 1), *a1 = anon(MiB, 2), *a2 = anon(MiB, 3), *a3 = anon(MiB, 4);

	ASSERT_NE(MAP_FAILED, b);
	ASSERT_NE(MAP_FAILED, a1);
	ASSERT_NE(MAP_FAILED, a2);
	ASSERT_NE(MAP_FAILED, a3);
	ASSERT_EQ(0, set_dmem(CG_A, "dmem.max", self->mg_region, "1M"));

	ASSERT_EQ(0, join(CG_B));
	ASSERT_EQ(pages, p2pmm_migrate(self->fd, b, MiB, self->mg.id));
	ASSERT_EQ(0, join(CG_A));
	ASSERT_EQ(pages, p2pmm_migrate(self->fd, a1, MiB, self->mg.id));
	EXPECT_EQ(MiB, charged(CG_A, self->mg_region));
	EXPECT_EQ(MiB, charged(CG_B, self->mg_region));
	EXPECT_EQ(2 * (long long)MiB, used_of(self->fd, self->mg.id));

	/* Another MiB: A's first one makes room, B's stays. */
	usleep(PAST_RESIDENCY_US);
	ASSERT_EQ(pages, p2pmm_migrate(self->fd, a2, MiB, self->mg.id)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(MiB, charged(CG_A, self->mg_region));
	EXPECT_EQ(0, p2pmm_count_at(self->fd, a1, MiB, self->mg.id));
	EXPECT_EQ(pages, p2pmm_count_at(self->fd, a2, MiB, self->mg.id));
	EXPECT_EQ(pages, p2pmm_count_at(self->fd, b, MiB, self->mg.id));
	EXPECT_EQ(MiB, charged(CG_B, self->mg_region));
	EXPECT_EQ(2 * (long long)MiB, used_of(self->fd, self->mg.id));

	/* A's pages there are pinned: nothing of A's can go, and B's are not A's to take. */
	ASSERT_EQ(0, advise(self->fd, a2, MiB, P2PMM_ADV_PIN));
	usleep(PAST_RESIDENCY_US);
	errno = 0;
	EXPECT_EQ(-1, p2pmm_migrate(self->fd, a3, MiB, self->mg.id));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_EQ(0, p2pmm_count_at(self->fd, a3, MiB, self->mg.id));
	EXPECT_EQ(pages, p2pmm_count_at(self->fd, b, MiB, self->mg.id));
	EXPECT_EQ(MiB, charged(CG_A, self->mg_region));

	EXPECT_TRUE(intact(a1, MiB, 2));
	EXPECT_TRUE(intact(a2, MiB, 3));
	EXPECT_TRUE(intact(a3, MiB, 4));
	EXPECT_TRUE(intact(b, MiB, 1));
	/* Reading brought the pages back to system memory (CPU faults): nothing is charged any more. */
	munmap(a1, MiB);
	munmap(a2, MiB);
	munmap(a3, MiB);
	munmap(b, MiB);
	EXPECT_EQ(0, charged(CG_A, self->mg_region));
	EXPECT_EQ(0, charged(CG_B, self->mg_region));
	EXPECT_EQ(0, used_of(self->fd, self->mg.id));
}

/*
 * Tenant B oversubscribes the provider that tenant A half fills: with dmem.min covering A's pages they all stay
 * (B evicts its own); without it, B's pressure takes some of them. p2pmm_evict_cgroup says whose pages went.
 */
TEST_F(cg, dmem_min_keeps_pages_through_another_tenants_pressure)
{
	const size_t cap = self->mg.capacity, half = cap / 2;
	uint8_t *a = anon(half, 5), *b1 = anon(cap, 6), *b2 = anon(cap, 7);
	char min[32];
	long got;

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b1);
	ASSERT_NE(MAP_FAILED, b2);
	snprintf(min, sizeof(min), "%zu", half);
	ASSERT_EQ(0, set_dmem(CG_A, "dmem.min", self->mg_region, min));

	ASSERT_EQ(0, join(CG_A));
	ASSERT_EQ((long)(half / PAGE), p2pmm_migrate(self->fd, a, half, self->mg.id));
	EXPECT_EQ((long long)half, charged(CG_A, self->mg_region));

	usleep(PAST_RESIDENCY_US);
	ASSERT_EQ(0, trace_evictions(1));
	ASSERT_EQ(0, p2p_dma_trace_clear());
	ASSERT_EQ(0, join(CG_B));
	got = p2pmm_migrate(self->fd, b1, cap, self->mg.id);
	ASSERT_LE(0, got) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, evicted_from(CG_A));
	EXPECT_EQ((long)(half / PAGE), p2pmm_count_at(self->fd, a, half, self->mg.id));
	EXPECT_EQ((long long)half, charged(CG_A, self->mg_region));
	EXPECT_EQ(used_of(self->fd, self->mg.id), charged(CG_A, self->mg_region) + charged(CG_B, self->mg_region));

	/* The same pressure without the protection: A loses pages. */
	ASSERT_EQ(0, set_dmem(CG_A, "dmem.min", self->mg_region, "0"));
	usleep(PAST_RESIDENCY_US);
	got = p2pmm_migrate(self->fd, b2, cap, self->mg.id);
	ASSERT_LE(0, got) TH_LOG("%s", strerror(errno));
	EXPECT_EQ((long)(half / PAGE) - p2pmm_count_at(self->fd, a, half, self->mg.id), evicted_from(CG_A));
	EXPECT_LT(0, evicted_from(CG_A));
	EXPECT_EQ(0, trace_evictions(0));
	EXPECT_GT((long)(half / PAGE), p2pmm_count_at(self->fd, a, half, self->mg.id));
	EXPECT_GT((long long)half, charged(CG_A, self->mg_region));
	EXPECT_EQ(used_of(self->fd, self->mg.id), charged(CG_A, self->mg_region) + charged(CG_B, self->mg_region));

	EXPECT_TRUE(intact(a, half, 5));
	EXPECT_TRUE(intact(b1, cap, 6));
	EXPECT_TRUE(intact(b2, cap, 7));
	munmap(a, half);
	munmap(b1, cap);
	munmap(b2, cap);
	EXPECT_EQ(0, charged(CG_A, self->mg_region));
	EXPECT_EQ(0, charged(CG_B, self->mg_region));
}

/*
 * Lowering dmem.max below what a cgroup holds on a managed provider evicts its pages there until it fits (the
 * write returns after the controller's reclaim); the other cgroup's pages stay.
 */
TEST_F(cg, lowering_dmem_max_evicts_the_cgroups_pages)
{
	const long pages = MiB / PAGE;
	uint8_t *a = anon(2 * MiB, 10), *b = anon(MiB, 11);

	ASSERT_NE(MAP_FAILED, a);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, join(CG_B));
	ASSERT_EQ(pages, p2pmm_migrate(self->fd, b, MiB, self->mg.id));
	ASSERT_EQ(0, join(CG_A));
	ASSERT_EQ(2 * pages, p2pmm_migrate(self->fd, a, 2 * MiB, self->mg.id));
	EXPECT_EQ(2 * MiB, charged(CG_A, self->mg_region));
	usleep(PAST_RESIDENCY_US);

	ASSERT_EQ(0, join(CG));
	ASSERT_EQ(0, set_dmem(CG_A, "dmem.max", self->mg_region, "1M"));
	EXPECT_GE((long long)MiB, charged(CG_A, self->mg_region));
	EXPECT_GE(pages, p2pmm_count_at(self->fd, a, 2 * MiB, self->mg.id));
	EXPECT_EQ(pages, p2pmm_count_at(self->fd, b, MiB, self->mg.id));
	EXPECT_EQ(MiB, charged(CG_B, self->mg_region));
	EXPECT_EQ(used_of(self->fd, self->mg.id), charged(CG_A, self->mg_region) + charged(CG_B, self->mg_region));
	/* And to nothing. */
	ASSERT_EQ(0, set_dmem(CG_A, "dmem.max", self->mg_region, "0"));
	EXPECT_EQ(0, charged(CG_A, self->mg_region));
	EXPECT_EQ(0, p2pmm_count_at(self->fd, a, 2 * MiB, self->mg.id));

	EXPECT_TRUE(intact(a, 2 * MiB, 10));
	EXPECT_TRUE(intact(b, MiB, 11));
	munmap(a, 2 * MiB);
	munmap(b, MiB);
	EXPECT_EQ(0, charged(CG_B, self->mg_region));
}

/* A process that exits with memory mapped and placed leaves nothing charged. */
TEST_F(cg, charges_return_to_zero_when_the_process_exits)
{
	int go[2], done[2], status;
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		uint8_t *s, *m;

		if (join(CG_A))
			_exit(1);
		s = map_static(self->fd, self->st.id, MiB);
		m = anon(MiB, 8);
		if (s == MAP_FAILED || m == MAP_FAILED)
			_exit(2);
		memset(s, 1, MiB);
		if (p2pmm_migrate(self->fd, m, MiB, self->mg.id) != (long)(MiB / PAGE))
			_exit(3);
		if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(4);
		_exit(0);	/* without munmap */
	}
	ASSERT_EQ(1, read(done[0], &c, 1));
	EXPECT_EQ(MiB, charged(CG_A, self->st_region));
	EXPECT_EQ(MiB, charged(CG_A, self->mg_region));
	ASSERT_EQ(1, write(go[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) TH_LOG("child status %#x", status);
	EXPECT_EQ(0, charged(CG_A, self->st_region));
	EXPECT_EQ(0, charged(CG_A, self->mg_region));
	EXPECT_EQ(0, used_of(self->fd, self->mg.id));
}

/* Unbinding the device gives back what its providers' memory was charged, while the process still runs. */
TEST_F(cg, charges_return_to_zero_when_the_device_unbinds)
{
	struct p2pmm_provider_info p[32];
	char dev[40], st_region[64] = "";
	uint8_t *s = MAP_FAILED, *m;
	int n;

	snprintf(dev, sizeof(dev), "%.32s", self->mg.device);
	/* The static provider on the same device as the managed one (vaccel offers both). */
	n = p2pmm_providers(self->fd, p, 32);
	for (int i = 0; i < n && i < 32; i++)
		if (p[i].kind == P2PMM_PROVIDER_STATIC && !strcmp(p[i].device, dev))
			region_of(&p[i], st_region, sizeof(st_region));
	ASSERT_NE(0, st_region[0]) TH_LOG("no static provider on %s", dev);
	for (int i = 0; i < n && i < 32; i++)
		if (p[i].kind == P2PMM_PROVIDER_STATIC && !strcmp(p[i].device, dev)) {
			ASSERT_EQ(0, join(CG_A));
			s = map_static(self->fd, p[i].id, MiB);
			ASSERT_NE(MAP_FAILED, s);
		}
	m = anon(MiB, 9);
	ASSERT_NE(MAP_FAILED, m);
	ASSERT_EQ((long)(MiB / PAGE), p2pmm_migrate(self->fd, m, MiB, self->mg.id));
	EXPECT_EQ(MiB, charged(CG_A, st_region));
	EXPECT_EQ(MiB, charged(CG_A, self->mg_region));

	ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/unbind", dev)) TH_LOG("unbind %s: %s", dev, strerror(errno));
	EXPECT_EQ(0, charged(CG_A, st_region));
	EXPECT_EQ(0, charged(CG_A, self->mg_region));
	/* The regions went with the providers. */
	EXPECT_EQ(-1, dmem_value(CG, "dmem.capacity", st_region));
	EXPECT_EQ(-1, dmem_value(CG, "dmem.capacity", self->mg_region));
	EXPECT_TRUE(intact(m, MiB, 9));
	ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/bind", dev)) TH_LOG("bind %s: %s", dev, strerror(errno));
	EXPECT_LT(0, dmem_value(CG, "dmem.capacity", self->mg_region));
	EXPECT_EQ(0, munmap(s, MiB));
	munmap(m, MiB);
	EXPECT_EQ(0, charged(CG_A, st_region));
}

TEST_HARNESS_MAIN
