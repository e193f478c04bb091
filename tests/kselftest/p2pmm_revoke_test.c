// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: a vaccel device goes away (its driver unbinds) while its memory is in use (mapped from /dev/p2pmm and
 * through the provider's allocate file, and placed on its managed provider), then comes back.
 * Its static memory mapped by a process is revoked (the mapping faults with SIGBUS afterwards, and the unbind does
 * not wait for it); data placed on its managed memory moves back to system memory intact; its providers leave
 * the list and new ones appear when it binds again. Needs p2pmm.ko loaded on the default VM topology; run as root.
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

	/* It comes back with new providers. */
	ASSERT_EQ(0, p2p_dma_write_file(DRIVER "/bind", dev)) TH_LOG("bind %s: %s", dev, strerror(errno));
	n = list(fd, q, 32);
	ASSERT_LT(0, n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	{
		int found = 0;

		for (int i = 0; i < n; i++)
			if (!strcmp(q[i].device, dev)) {
				found++;
				EXPECT_LT(managed_id, q[i].id) TH_LOG("ids are never reused");
			}
		EXPECT_EQ(2, found);
	}
	munmap(data, len);
	close(fd);
}

TEST_HARNESS_MAIN
