// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of p2pmm's providers and routes: P2PMM_IOC_PROVIDERS lists exactly the memory the PCI topology offers
 * (checked against sysfs, not against constants), and P2PMM_IOC_ROUTE reports what the topology allows (checked
 * against the bridges each device sits under). Needs p2pmm.ko loaded on the default VM topology; run as root.
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

#define P2PMM_DEV "/dev/p2pmm"
#define PCI_DEVICES "/sys/bus/pci/devices"
#define MAX_PROVIDERS 32

static unsigned long sysfs_ulong(const char *dev, const char *attr)
{
	char path[PATH_MAX], buf[64] = "", *end;
	unsigned long v;
	FILE *f;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return ULONG_MAX;
	/* Unreadable or not a number: ULONG_MAX as for a missing file, never a plausible value. */
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	v = strtoul(buf, &end, 0);
	return end == buf ? ULONG_MAX : v;
}

/* Names of the PCI devices with this vendor:device, in sysfs order. */
static int find_pci(unsigned int vendor, unsigned int device, char names[][32], int max)
{
	struct dirent *d;
	DIR *dir = opendir(PCI_DEVICES);
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)) && n < max) {
		if (d->d_name[0] == '.')
			continue;
		if (sysfs_ulong(d->d_name, "vendor") == vendor && sysfs_ulong(d->d_name, "device") == device)
			snprintf(names[n++], 32, "%.31s", d->d_name);
	}
	closedir(dir);
	return n;
}

FIXTURE(prov) {
	int fd;
	int n;
	struct p2pmm_provider_info p[MAX_PROVIDERS];
};

FIXTURE_SETUP(prov)
{
	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
	self->n = list_providers(self->fd, self->p, MAX_PROVIDERS);
	ASSERT_LE(0, self->n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	/* Every loop over the list below must run: the default topology always has providers. */
	ASSERT_LT(0, self->n) TH_LOG("no providers listed");
	ASSERT_GE(MAX_PROVIDERS, self->n);
}

FIXTURE_TEARDOWN(prov)
{
	close(self->fd);
}

static const struct p2pmm_provider_info *by_device(const struct p2pmm_provider_info *p, int n, const char *dev,
						    uint32_t kind)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(p[i].device, dev) && p[i].kind == kind)
			return &p[i];
	return NULL;
}

/* Every vaccel (ivshmem) device offers a static provider; so does every device with published p2pdma memory. */
TEST_F(prov, list_matches_sysfs)
{
	char vaccels[8][32];
	int nv = find_pci(0x1af4, 0x1110, vaccels, 8);
	struct dirent *d;
	DIR *dir;
	int nstatic = 0, nvme = 0, nunbound = 0;

	/* Three vaccels and the spare that no driver takes (tests/lib/p2pmm_spare.h), which offers nothing. */
	ASSERT_EQ(4, nv) TH_LOG("the default VM topology has four ivshmem devices");
	for (int i = 0; i < nv; i++) {
		const struct p2pmm_provider_info *p = by_device(self->p, self->n, vaccels[i], P2PMM_PROVIDER_STATIC);
		char driver[PATH_MAX];

		snprintf(driver, sizeof(driver), PCI_DEVICES "/%s/driver", vaccels[i]);
		if (access(driver, F_OK)) {
			EXPECT_EQ(NULL, p) TH_LOG("unbound %s offers a provider", vaccels[i]);
			EXPECT_EQ(NULL, by_device(self->p, self->n, vaccels[i], P2PMM_PROVIDER_MANAGED));
			nunbound++;
			continue;
		}
		ASSERT_NE(NULL, p) TH_LOG("no static provider on vaccel %s", vaccels[i]);
		EXPECT_EQ(0, p->flags & P2PMM_PROVIDER_F_ADOPTED);
	}
	EXPECT_EQ(1, nunbound) TH_LOG("the spare is the one ivshmem device without a driver");
	dir = opendir(PCI_DEVICES);
	ASSERT_NE(NULL, dir);
	while ((d = readdir(dir))) {
		const struct p2pmm_provider_info *p, *m;

		if (d->d_name[0] == '.' || sysfs_ulong(d->d_name, "p2pmem/size") == ULONG_MAX)
			continue;
		nstatic++;
		p = by_device(self->p, self->n, d->d_name, P2PMM_PROVIDER_STATIC);
		ASSERT_NE(NULL, p) TH_LOG("p2pdma memory of %s not listed", d->d_name);
		/*
		 * Capacity and use are p2pdma's own figures, less the P2P window of a managed provider on the same
		 * device: p2pdma memory too, allocated whole to the managed provider.
		 */
		m = by_device(self->p, self->n, d->d_name, P2PMM_PROVIDER_MANAGED);
		EXPECT_EQ(sysfs_ulong(d->d_name, "p2pmem/size") - (m ? m->capacity : 0), p->capacity);
		EXPECT_EQ(p->capacity - sysfs_ulong(d->d_name, "p2pmem/available"), p->used);
		/* The NVMe CMB is nvme's memory, adopted; a vaccel's is p2pmm's own. */
		if (sysfs_ulong(d->d_name, "vendor") == 0x1b36) {
			EXPECT_TRUE(p->flags & P2PMM_PROVIDER_F_ADOPTED);
			nvme++;
		}
	}
	closedir(dir);
	EXPECT_EQ(4, nstatic) TH_LOG("three vaccels and one NVMe CMB publish p2pdma memory");
	EXPECT_EQ(1, nvme) TH_LOG("the adopted check above ran for the NVMe CMB");
	/* Ids are unique. */
	for (int i = 0; i < self->n; i++)
		for (int j = i + 1; j < self->n; j++)
			EXPECT_NE(self->p[i].id, self->p[j].id);
}

/* count = 0 only counts; a short array gets what fits and the full count; nothing is written past it. */
TEST_F(prov, count_and_short_array)
{
	struct p2pmm_provider_info two[2];
	struct p2pmm_providers req = { .size = sizeof(req) };

	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(self->n, req.count);
	EXPECT_EQ(sizeof(struct p2pmm_provider_info), req.entry_size);

	memset(two, 0xa5, sizeof(two));
	req = (struct p2pmm_providers){
		.size = sizeof(req), .count = 1, .entry_size = sizeof(two[0]), .entries = (uintptr_t)two,
	};
	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(self->n, req.count);
	EXPECT_EQ(self->p[0].id, two[0].id);
	EXPECT_EQ(0xa5a5a5a5, two[1].id) TH_LOG("the kernel wrote past the room it was given");
}

/* A newer userspace's longer entries: the known prefix is filled, the unknown tail zeroed, the stride honoured. */
TEST_F(prov, longer_entries)
{
	struct {
		struct p2pmm_provider_info info;
		uint64_t future[4];
	} big[MAX_PROVIDERS];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = MAX_PROVIDERS, .entry_size = sizeof(big[0]), .entries = (uintptr_t)big,
	};

	memset(big, 0xa5, sizeof(big));
	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	ASSERT_EQ(self->n, req.count);
	for (int i = 0; i < self->n; i++) {
		EXPECT_EQ(self->p[i].id, big[i].info.id);
		EXPECT_STREQ(self->p[i].device, big[i].info.device);
		for (int j = 0; j < 4; j++)
			EXPECT_EQ(0, big[i].future[j]);
	}
}

TEST_F(prov, bad_requests)
{
	struct p2pmm_provider_info one;
	struct p2pmm_providers req = { .size = sizeof(req), .flags = 1 };

	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(EINVAL, errno);
	req = (struct p2pmm_providers){ .size = sizeof(req), .count = 1, .entry_size = 8, .entries = (uintptr_t)&one };
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(EINVAL, errno);
	req.entry_size = 1 << 20;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(E2BIG, errno);
	req.entry_size = sizeof(one);
	req.entries = 16; /* unmapped */
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(EFAULT, errno);
	req.entries = UINT64_MAX - 8;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(EINVAL, errno);
	req.size = P2PMM_PROVIDERS_SIZE_VER0 - 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * For every (provider, client) pair of p2pmm's devices: below a common bridge p2pdma allows bus addresses and
 * p2pmm plans a direct route; otherwise the route crosses q35's host bridge, which p2pdma does not allow, and
 * p2pmm reports that reason and its plan: managed memory bounces through system memory, static memory is
 * refused. A device reaching its own memory is distance 0.
 */
TEST_F(prov, routes_follow_topology)
{
	int checked = 0, direct = 0, bounce = 0;

	for (int i = 0; i < self->n; i++) {
		for (int j = 0; j < self->n; j++) {
			const char *client = self->p[j].device;
			int shared = share_bridge(self->p[i].device, client);
			struct p2pmm_route r;

			ASSERT_LE(0, shared);
			ASSERT_EQ(0, route(self->fd, self->p[i].id, client, &r))
				TH_LOG("route %u -> %s: %s", self->p[i].id, client, strerror(errno));
			TH_LOG("%s -> %s: verdict %u plan %u reason %u distance %d", self->p[i].device, client,
			       r.verdict, r.plan, r.reason, r.distance);
			if (!strcmp(self->p[i].device, client)) {
				EXPECT_EQ(P2PMM_ROUTE_BUS_ADDR, r.verdict);
				EXPECT_EQ(0, r.distance);
			} else if (shared) {
				EXPECT_EQ(P2PMM_ROUTE_BUS_ADDR, r.verdict);
				EXPECT_EQ(P2PMM_PLAN_DIRECT, r.plan);
				EXPECT_EQ(P2PMM_REASON_NONE, r.reason);
				EXPECT_LT(0, r.distance);
				direct++;
			} else {
				EXPECT_EQ(P2PMM_ROUTE_NOT_SUPPORTED, r.verdict);
				EXPECT_EQ(self->p[i].kind == P2PMM_PROVIDER_MANAGED ? P2PMM_PLAN_BOUNCE : P2PMM_PLAN_REFUSED,
					  r.plan);
				EXPECT_EQ(P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED, r.reason);
				EXPECT_EQ(-1, r.distance);
				EXPECT_EQ(0x808629c0, r.host_bridge) TH_LOG("q35's host bridge is 8086:29c0");
				bounce++;
			}
			checked++;
		}
	}
	/* The topology has both kinds of pair: the switch's CMB and vaccel, and the vaccel on its own root port. */
	EXPECT_LT(0, direct);
	EXPECT_LT(0, bounce);
	EXPECT_LE(49, checked) TH_LOG("4 static and 3 managed providers");
}

TEST_F(prov, route_bad_requests)
{
	struct p2pmm_route r;
	uint32_t max_id = 0;

	ASSERT_LT(0, self->n);
	for (int i = 0; i < self->n; i++)
		if (self->p[i].id > max_id)
			max_id = self->p[i].id;
	ASSERT_EQ(-1, route(self->fd, max_id + 1000, self->p[0].device, &r));
	EXPECT_EQ(ENODEV, errno) TH_LOG("unknown provider");
	ASSERT_EQ(-1, route(self->fd, self->p[0].id, "0000:7f:1f.7", &r));
	EXPECT_EQ(ENODEV, errno) TH_LOG("no such PCI device");
	ASSERT_EQ(-1, route(self->fd, self->p[0].id, "04:00.0", &r));
	EXPECT_EQ(EINVAL, errno) TH_LOG("malformed name");
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.provider = self->p[0].id;
	memset(r.client, 'a', sizeof(r.client)); /* no NUL */
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_ROUTE, &r));
	EXPECT_EQ(EINVAL, errno);
	/* A request that succeeds, then the same with one bad field at a time. */
	ASSERT_EQ(0, route(self->fd, self->p[0].id, self->p[0].device, &r))
		TH_LOG("%s", strerror(errno));
	r.flags = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_ROUTE, &r));
	EXPECT_EQ(EINVAL, errno);
	r.flags = 0;
	r.__reserved = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_ROUTE, &r));
	EXPECT_EQ(EINVAL, errno);
}

/*
 * Static memory is allocated by mapping it: every static provider (the vaccels' BARs and the adopted NVMe CMB)
 * gives memory that reads back what was written, is accounted as used while mapped, and returns on munmap.
 */
TEST_F(prov, allocate_static_memory_and_read_back)
{
	size_t len = 1 << 20;
	int tested = 0;

	for (int i = 0; i < self->n; i++) {
		struct p2pmm_provider_info before[MAX_PROVIDERS], during[MAX_PROVIDERS], after[MAX_PROVIDERS];
		uint8_t *p;
		long bad = -1;

		if (self->p[i].kind != P2PMM_PROVIDER_STATIC)
			continue;
		ASSERT_EQ(self->n, list_providers(self->fd, before, MAX_PROVIDERS));
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->p[i].id));
		ASSERT_NE(MAP_FAILED, p) TH_LOG("provider %u (%s): %s", self->p[i].id, self->p[i].device,
						 strerror(errno));
		for (size_t j = 0; j < len; j++)
			p[j] = (uint8_t)(j * 7 + i);
		for (size_t j = 0; j < len && bad < 0; j++)
			if (p[j] != (uint8_t)(j * 7 + i))
				bad = (long)j;
		ASSERT_EQ(-1, bad) TH_LOG("provider %u: byte %ld reads back wrong", self->p[i].id, bad);
		{
			/* Placement queries name the static provider, not system memory. */
			uint32_t loc[256];
			struct p2pmm_query q = {
				.size = sizeof(q), .addr = (uintptr_t)p, .length = sizeof(loc) / 4 * 4096,
				.locations = (uintptr_t)loc,
			};

			ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_QUERY, &q));
			EXPECT_EQ(self->p[i].id, loc[0]);
			EXPECT_EQ(self->p[i].id, loc[255]);
		}
		ASSERT_EQ(self->n, list_providers(self->fd, during, MAX_PROVIDERS));
		EXPECT_EQ(before[i].used + len, during[i].used);
		ASSERT_EQ(0, munmap(p, len));
		ASSERT_EQ(self->n, list_providers(self->fd, after, MAX_PROVIDERS));
		EXPECT_EQ(before[i].used, after[i].used);
		tested++;
	}
	EXPECT_EQ(4, tested);
}

/*
 * Static memory starts zeroed: what an earlier mapping left in the BAR range (here, this process's own bytes,
 * from the same range of the pool) is not readable through the next one.
 */
TEST_F(prov, static_memory_starts_zeroed)
{
	size_t len = 256 << 10;
	int tested = 0;

	for (int i = 0; i < self->n; i++) {
		uint8_t *p;
		long nonzero = -1;

		if (self->p[i].kind != P2PMM_PROVIDER_STATIC)
			continue;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->p[i].id));
		ASSERT_NE(MAP_FAILED, p) TH_LOG("provider %u: %s", self->p[i].id, strerror(errno));
		memset(p, 0xa7, len);
		ASSERT_EQ(0, munmap(p, len));
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->p[i].id));
		ASSERT_NE(MAP_FAILED, p);
		for (size_t j = 0; j < len && nonzero < 0; j++)
			if (p[j])
				nonzero = (long)j;
		EXPECT_EQ(-1, nonzero) TH_LOG("provider %u: byte %ld of new static memory is not 0", self->p[i].id,
					      nonzero);
		ASSERT_EQ(0, munmap(p, len));
		tested++;
	}
	EXPECT_EQ(4, tested);
}

/*
 * Each static provider's /sys/kernel/p2pmm/providers/<id>/allocate (also by-device/<pci name>/allocate) maps new
 * memory at offset 0, as p2pdma's p2pmem/allocate does (what fio --mem=mmapshared:FILE needs); managed providers
 * have none.
 */
TEST_F(prov, allocate_file_maps_at_offset_0)
{
	size_t len = 1 << 20;
	int tested = 0;

	for (int i = 0; i < self->n; i++) {
		struct p2pmm_provider_info before[MAX_PROVIDERS], during[MAX_PROVIDERS];
		char path[96];
		uint8_t *p;
		long bad = -1;
		int afd;

		snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/allocate", self->p[i].id);
		if (self->p[i].kind != P2PMM_PROVIDER_STATIC) {
			EXPECT_NE(0, access(path, F_OK)) TH_LOG("managed provider %u has %s", self->p[i].id, path);
			continue;
		}
		/* The same file by device name: by-device/<pci name> is the static provider's directory. */
		{
			char by_dev[128], a[PATH_MAX], b[PATH_MAX];

			snprintf(by_dev, sizeof(by_dev), "/sys/kernel/p2pmm/by-device/%s/allocate", self->p[i].device);
			ASSERT_NE(NULL, realpath(by_dev, a)) TH_LOG("%s: %s", by_dev, strerror(errno));
			ASSERT_NE(NULL, realpath(path, b));
			EXPECT_STREQ(b, a);
		}
		afd = open(path, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, afd) TH_LOG("%s: %s", path, strerror(errno));
		ASSERT_EQ(self->n, list_providers(self->fd, before, MAX_PROVIDERS));
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
		ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap %s: %s", path, strerror(errno));
		for (size_t j = 0; j < len; j++)
			p[j] = (uint8_t)(j * 5 + i);
		for (size_t j = 0; j < len && bad < 0; j++)
			if (p[j] != (uint8_t)(j * 5 + i))
				bad = (long)j;
		EXPECT_EQ(-1, bad) TH_LOG("%s: byte %ld reads back wrong", path, bad);
		ASSERT_EQ(self->n, list_providers(self->fd, during, MAX_PROVIDERS));
		EXPECT_EQ(before[i].used + len, during[i].used);
		ASSERT_EQ(0, munmap(p, len));
		/* Offset 0 only, shared only. */
		EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 4096));
		EXPECT_EQ(EINVAL, errno);
		EXPECT_EQ(MAP_FAILED, mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, afd, 0));
		EXPECT_EQ(EINVAL, errno);
		close(afd);
		tested++;
	}
	EXPECT_EQ(4, tested);
}

TEST_F(prov, static_mmap_bad_requests)
{
	uint32_t managed = 0, stat = 0;
	void *p;

	for (int i = 0; i < self->n; i++) {
		if (self->p[i].kind == P2PMM_PROVIDER_MANAGED)
			managed = self->p[i].id;
		else
			stat = self->p[i].id;
	}
	ASSERT_NE(0, stat);
	ASSERT_NE(0, managed) TH_LOG("the default topology has managed providers");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, P2PMM_MMAP_OFFSET(stat));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("private mapping");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(stat) + 4096);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("offset inside a provider");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("offset 0");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(60000));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno) TH_LOG("no such provider");
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
		 P2PMM_MMAP_OFFSET(managed));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("managed memory is migrated to, not mapped");
	p = mmap(NULL, 1UL << 30, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(stat));
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENOMEM, errno) TH_LOG("more than the provider has");
}

/* debugfs shows the same providers the ioctl lists, and each managed provider's slot count. */
TEST_F(prov, debugfs_matches_ioctl)
{
	char *providers, *slots, line[128];

	mkdir("/sys/kernel/debug", 0755);
	if (access("/sys/kernel/debug/p2pmm", F_OK))
		mount("nodev", "/sys/kernel/debug", "debugfs", 0, NULL);
	providers = p2p_dma_slurp("/sys/kernel/debug/p2pmm/providers", 1 << 16);
	slots = p2p_dma_slurp("/sys/kernel/debug/p2pmm/slots", 1 << 16);
	ASSERT_NE(NULL, providers);
	ASSERT_NE(NULL, slots);
	for (int i = 0; i < self->n; i++) {
		const char *kind = self->p[i].kind == P2PMM_PROVIDER_MANAGED ? "managed" :
				   self->p[i].flags & P2PMM_PROVIDER_F_ADOPTED ? "adopted" : "static";

		snprintf(line, sizeof(line), "%3u  %-8s %-13s %10llu", self->p[i].id, kind, self->p[i].device,
			 (unsigned long long)self->p[i].capacity);
		EXPECT_NE(NULL, strstr(providers, line)) TH_LOG("missing in debugfs: '%s'", line);
		if (self->p[i].kind == P2PMM_PROVIDER_MANAGED) {
			snprintf(line, sizeof(line), "provider %u (%s): ", self->p[i].id, self->p[i].device);
			EXPECT_NE(NULL, strstr(slots, line)) TH_LOG("missing in debugfs slots: '%s'", line);
			snprintf(line, sizeof(line), " of %llu slots in use",
				 (unsigned long long)(self->p[i].capacity / 4096));
			EXPECT_NE(NULL, strstr(slots, line)) TH_LOG("missing in debugfs slots: '%s'", line);
		}
	}
	free(providers);
	free(slots);
}

/* /sys/kernel/p2pmm/providers/<id>/ holds the values the ioctl reports; routes has every pair. */
TEST_F(prov, sysfs_matches_ioctl)
{
	char path[128], *v, *routes;

	for (int i = 0; i < self->n; i++) {
		const struct p2pmm_provider_info *p = &self->p[i];
		const char *kind = p->kind == P2PMM_PROVIDER_MANAGED ? "managed\n" :
				   p->flags & P2PMM_PROVIDER_F_ADOPTED ? "adopted\n" : "static\n";
		char num[32];
		struct {
			const char *attr;
			uint64_t value;
		} counters[] = {
			{ "capacity", p->capacity },
			{ "evictions", p->evictions },
			{ "migrated_in", p->migrated_in },
			{ "migrated_out", p->migrated_out },
			{ "invalidations", p->invalidations },
		};

		snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/kind", p->id);
		v = p2p_dma_slurp(path, 1 << 16);
		ASSERT_NE(NULL, v) TH_LOG("no %s", path);
		EXPECT_STREQ(kind, v);
		free(v);
		snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/device", p->id);
		v = p2p_dma_slurp(path, 1 << 16);
		ASSERT_NE(NULL, v);
		snprintf(num, sizeof(num), "%s\n", p->device);
		EXPECT_STREQ(num, v);
		free(v);
		for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
			snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/%s", p->id, counters[c].attr);
			v = p2p_dma_slurp(path, 1 << 16);
			ASSERT_NE(NULL, v) TH_LOG("no %s", path);
			snprintf(num, sizeof(num), "%llu\n", (unsigned long long)counters[c].value);
			EXPECT_STREQ(num, v) TH_LOG("%s", path);
			free(v);
		}
	}
	routes = p2p_dma_slurp("/sys/kernel/p2pmm/routes", 1 << 16);
	ASSERT_NE(NULL, routes);
	for (int i = 0; i < self->n; i++) {
		char line[96];

		snprintf(line, sizeof(line), "%3u %s -> ", self->p[i].id, self->p[i].device);
		EXPECT_NE(NULL, strstr(routes, line)) TH_LOG("no route lines for provider %u", self->p[i].id);
	}
	free(routes);
	/* A provider that does not exist has no directory (ENOENT, not some other failure). */
	EXPECT_EQ(-1, access("/sys/kernel/p2pmm/providers/60000", F_OK));
	EXPECT_EQ(ENOENT, errno);
}

TEST_HARNESS_MAIN
