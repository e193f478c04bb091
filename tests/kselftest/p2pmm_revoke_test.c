// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: a vaccel device goes away (its driver unbinds) while its memory is in use (mapped from /dev/p2pmm and
 * through the provider's allocate file, and placed on its managed provider), then comes back.
 * Its static memory mapped by a process is revoked (the mapping faults with SIGBUS afterwards, and the unbind does
 * not wait for it); data placed on its managed memory moves back to system memory intact; its providers leave
 * the list and new ones appear when it binds again.
 *
 * The second test maps and touches the static memory of that device, through /dev/p2pmm and its allocate file,
 * from a child process without pause while the parent unbinds and binds the device again and again: a mapping set
 * up while the provider is revoked must keep nothing (each unbind returns, which p2pdma's teardown would not do
 * while a page stayed mapped), every access works or raises SIGBUS, and mmap fails only as documented.
 *
 * Needs p2pmm.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_fault.h"

#define DRIVER "/sys/bus/pci/drivers/p2pmm_vaccel"
#define PAGE 4096UL

static int list(int fd, struct p2pmm_provider_info *p, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*p), .entries = (uintptr_t)p,
	};

	return ioctl(fd, P2PMM_IOC_PROVIDERS, &req) ? -1 : (int)req.count;
}

TEST(unbind_revokes_static_and_evicts_managed)
{
	struct p2pmm_provider_info p[32], q[32];
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	uint32_t static_id = 0, managed_id = 0;
	char dev[32] = "";
	size_t len = 1 << 20;
	uint8_t *st, *sysfs_st, *data;
	char path[96];
	int n, afd;

	ASSERT_LE(0, fd);
	n = list(fd, p, 32);
	ASSERT_LT(0, n);
	/* The vaccel on its own root port: a managed and a static provider on the same device. */
	for (int i = 0; i < n; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED) {
			snprintf(dev, sizeof(dev), "%.31s", p[i].device);
			managed_id = p[i].id;
		}
	for (int i = 0; i < n; i++)
		if (p[i].kind == P2PMM_PROVIDER_STATIC && !strcmp(p[i].device, dev))
			static_id = p[i].id;
	ASSERT_NE(0, managed_id);
	ASSERT_NE(0, static_id);

	st = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(static_id));
	ASSERT_NE(MAP_FAILED, st);
	memset(st, 0xab, len);
	/* The same memory mapped through the provider's allocate file, which is closed (the mapping stays). */
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/allocate", static_id);
	afd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, afd) TH_LOG("%s: %s", path, strerror(errno));
	sysfs_st = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	ASSERT_NE(MAP_FAILED, sysfs_st) TH_LOG("mmap %s: %s", path, strerror(errno));
	close(afd);
	memset(sysfs_st, 0xcd, len);
	data = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 13);
	{
		struct p2pmm_migrate m = {
			.size = sizeof(m), .addr = (uintptr_t)data, .length = len, .target = managed_id,
		};

		ASSERT_EQ(0, ioctl(fd, P2PMM_IOC_MIGRATE, &m));
		ASSERT_EQ(len / PAGE, m.migrated);
	}

	/* The device goes away: this returns only if nothing waits for the mapping above. */
	ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/unbind", dev)) TH_LOG("unbind %s: %s", dev, strerror(errno));
	n = list(fd, q, 32);
	/* The other devices' providers stay: the checks below run over them. */
	ASSERT_LT(0, n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		EXPECT_NE(static_id, q[i].id);
		EXPECT_NE(managed_id, q[i].id);
		EXPECT_STRNE(dev, q[i].device);
	}
	EXPECT_EQ(SIGBUS, p2pmm_read_faults(st)) TH_LOG("revoked static memory must not stay mapped");
	EXPECT_EQ(SIGBUS, p2pmm_read_faults(sysfs_st)) TH_LOG("nor what the allocate file mapped");
	EXPECT_NE(0, access(path, F_OK)) TH_LOG("%s outlived its provider", path);
	for (size_t i = 0; i < len; i++)
		if (data[i] != (uint8_t)(i * 13)) {
			ASSERT_EQ((uint8_t)(i * 13), data[i]) TH_LOG("byte %zu lost with the device", i);
		}
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(static_id)));
	EXPECT_EQ(ENODEV, errno);
	munmap(st, len);
	munmap(sysfs_st, len);

	/*
	 * It comes back with new providers (the old ones were no longer listed above). Not necessarily with new ids:
	 * ids are handed out in turn and reused, so the freed ones may be next.
	 */
	ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/bind", dev)) TH_LOG("bind %s: %s", dev, strerror(errno));
	n = list(fd, q, 32);
	ASSERT_LT(0, n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	{
		int found = 0;

		for (int i = 0; i < n; i++)
			found += !strcmp(q[i].device, dev);
		EXPECT_EQ(2, found);
	}
	munmap(data, len);
	close(fd);
}

/* The static provider of `dev` (0 if none). */
static uint32_t static_of(int fd, const char *dev)
{
	struct p2pmm_provider_info p[32];
	int n = list(fd, p, 32);

	for (int i = 0; i < n && i < 32; i++)
		if (p[i].kind == P2PMM_PROVIDER_STATIC && !strcmp(p[i].device, dev))
			return p[i].id;
	return 0;
}

/* Long mappings: the old mmap inserted every page before the VMA was linked, a window as long as the mapping. */
#define RACE_LEN (2UL << 20)
#define RACE_ROUNDS 8

/*
 * The child: maps `dev`'s static memory (by /dev/p2pmm and by the allocate file, in turn), reads every page, keeps
 * the last few mappings, until killed. Exits 1 on an mmap errno the uAPI does not give, or an access that neither
 * works nor raises SIGBUS.
 */
static void race_mappings(const char *dev)
{
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	uint8_t *kept[2] = { 0 };

	for (unsigned long k = 0;; k++) {
		uint32_t id = static_of(fd, dev);
		char path[96];
		uint8_t *m;
		int afd;

		if (!id)
			continue;
		if (k & 1) {
			m = mmap(NULL, RACE_LEN, PROT_READ, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(id));
		} else {
			snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/allocate", id);
			afd = open(path, O_RDWR | O_CLOEXEC);
			if (afd < 0)
				continue;
			m = mmap(NULL, RACE_LEN, PROT_READ, MAP_SHARED, afd, 0);
			close(afd);
		}
		if (m == MAP_FAILED) {
			/* Gone (ENODEV, or the file's ENODEV/ENXIO while kernfs removes it) or full. */
			if (errno != ENODEV && errno != ENOMEM && errno != ENXIO)
				_exit(1);
			continue;
		}
		for (size_t off = 0; off < RACE_LEN; off += 16 * PAGE) {
			int sig = p2pmm_read_faults(m + off);

			if (sig && sig != SIGBUS)
				_exit(1);
		}
		if (kept[k % 2])
			munmap(kept[k % 2], RACE_LEN);
		kept[k % 2] = m;
	}
}

FIXTURE(race) {};
FIXTURE_SETUP(race) {}
FIXTURE_TEARDOWN(race) {}

/* Eight unbinds and binds of a vaccel under the sanitizers take longer than the harness's default 30 s. */
TEST_F_TIMEOUT(race, mmaps_racing_unbind_keep_nothing, 180)
{
	struct p2pmm_provider_info p[32];
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC), n, status;
	char dev[32] = "";
	pid_t child;

	ASSERT_LE(0, fd);
	n = list(fd, p, 32);
	for (int i = 0; i < n && i < 32; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED)
			snprintf(dev, sizeof(dev), "%.31s", p[i].device);
	ASSERT_NE(0, dev[0]);
	ASSERT_NE(0, static_of(fd, dev));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0)
		race_mappings(dev);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct timespec t0, t1;

		usleep(60000 + round * 23000);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		/* Returns only when p2pdma's teardown waits for no page of a mapping. */
		ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/unbind", dev)) TH_LOG("unbind %s: %s", dev, strerror(errno));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		TH_LOG("round %d: unbind took %.0f ms", round,
		       (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
		usleep(50000);
		ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/bind", dev)) TH_LOG("bind %s: %s", dev, strerror(errno));
	}
	ASSERT_EQ(0, waitpid(child, &status, WNOHANG)) TH_LOG("the mapping child stopped early");
	kill(child, SIGKILL);
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status)) TH_LOG("the child met an undocumented mmap errno or a bad access");
	/* The device works again: a new mapping reads zeroes. */
	{
		uint8_t *m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(static_of(fd, dev)));

		ASSERT_NE(MAP_FAILED, m);
		EXPECT_EQ(0, p2pmm_read_faults(m));
		EXPECT_EQ(0, m[0]);
		munmap(m, PAGE);
	}
	close(fd);
}

TEST_HARNESS_MAIN
