// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: a managed provider oversubscribed 2x while an importer keeps reading the same memory.
 *
 * The importer is p2pmm's mirror device (drivers/mirror, upstream test_hmm's uAPI on /dev/hmm_dmirror0): it
 * mirrors this process's address space through an mmu_interval_notifier and hmm_range_fault. Every page p2pmm
 * moves (prefetch, eviction, device to device) is unmapped from it first by a two-pass invalidation, and its
 * next read faults the page back in (through p2pmm's migrate_to_ram when the page sits on a provider). The
 * working set is checksummed: the importer checks every byte it reads, the CPU checks every byte at the end.
 * Needs p2pmm.ko and p2pmm_mirror.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <lib/test_hmm_uapi.h>

#include "kselftest_harness.h"

#define PAGE 4096UL
#define MB (1UL << 20)

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 11) ^ 0x3c;
}

struct importer {
	int fd;
	uint8_t *base;
	size_t len;
	atomic_int stop;
	unsigned long reads, bad_bytes, errors, faults;
	int last_errno;
};

/* Reads random 256 KiB pieces through the mirror device and checks them, until told to stop. */
static void *importer_main(void *arg)
{
	struct importer *im = arg;
	size_t piece = 256 << 10;
	uint8_t *buf = malloc(piece);
	unsigned int seed = 1;

	while (buf && !atomic_load(&im->stop)) {
		size_t off = (rand_r(&seed) % (im->len / piece)) * piece;
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)(im->base + off), .ptr = (uintptr_t)buf, .npages = piece / PAGE,
		};

		if (ioctl(im->fd, HMM_DMIRROR_READ, &cmd)) {
			im->errors++;
			im->last_errno = errno;
			continue;
		}
		for (size_t i = 0; i < piece; i++)
			im->bad_bytes += buf[i] != pattern(off + i);
		im->faults += cmd.faults;
		im->reads++;
	}
	free(buf);
	return NULL;
}

static int managed_ids(int fd, uint32_t ids[2], uint64_t *capacity, uint64_t *evictions, uint64_t *invals)
{
	struct p2pmm_provider_info p[32];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = 32, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};
	int n = 0;

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		return -1;
	*evictions = *invals = 0;
	for (unsigned int i = 0; i < req.count && i < 32; i++) {
		if (p[i].kind != P2PMM_PROVIDER_MANAGED)
			continue;
		if (n < 2)
			ids[n++] = p[i].id;
		*capacity = p[i].capacity;
		*evictions += p[i].evictions;
		*invals += p[i].invalidations;
	}
	return n;
}

TEST(oversubscribed_while_an_importer_reads)
{
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	uint64_t capacity = 0, ev0, ev1, inv0, inv1;
	struct importer im = { 0 };
	unsigned long moved = 0, evicted = 0;
	uint32_t ids[2];
	pthread_t thread;

	ASSERT_LE(0, fd);
	ASSERT_EQ(2, managed_ids(fd, ids, &capacity, &ev0, &inv0));
	im.fd = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, im.fd) TH_LOG("is p2pmm_mirror.ko loaded?");
	im.len = 2 * capacity;
	im.base = mmap(NULL, im.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, im.base);
	for (size_t i = 0; i < im.len; i++)
		im.base[i] = pattern(i);

	ASSERT_EQ(0, pthread_create(&thread, NULL, importer_main, &im));
	/* Six passes of the whole set through one provider, then the other: each pass evicts about half of it. */
	for (unsigned int round = 0; round < 6; round++) {
		for (size_t off = 0; off < im.len; off += MB) {
			struct p2pmm_migrate m = {
				.size = sizeof(m), .addr = (uintptr_t)(im.base + off), .length = MB,
				.target = ids[(round / 3) % 2],
			};

			ASSERT_EQ(0, ioctl(fd, P2PMM_IOC_MIGRATE, &m)) TH_LOG("round %u: %s", round, strerror(errno));
			moved += m.migrated;
			evicted += m.evicted;
		}
	}
	atomic_store(&im.stop, 1);
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_EQ(2, managed_ids(fd, ids, &capacity, &ev1, &inv1));
	TH_LOG("%lu pages moved, %lu evicted; importer: %lu reads, %lu faults, %lu errors (last %d)", moved, evicted,
	       im.reads, im.faults, im.errors, im.last_errno);

	EXPECT_EQ(0, im.bad_bytes) TH_LOG("the importer read wrong data");
	EXPECT_EQ(0, im.errors);
	EXPECT_LT(0, im.reads);
	EXPECT_LE(6 * (capacity / PAGE) / 2, evicted) TH_LOG("2x capacity per pass must evict");
	EXPECT_LE(evicted, ev1 - ev0);
	EXPECT_LE(evicted, inv1 - inv0) TH_LOG("every eviction invalidates the page's importers");
	for (size_t i = 0; i < im.len; i++)
		if (im.base[i] != pattern(i)) {
			ASSERT_EQ(pattern(i), im.base[i]) TH_LOG("byte %zu lost", i);
		}
	munmap(im.base, im.len);
	close(im.fd);
	close(fd);
}

TEST_HARNESS_MAIN
