// SPDX-License-Identifier: GPL-2.0
/*
 * NVMe DMA into and out of provider memory by P2P, against the same transfers into and out of system memory
 * (`make bench`, guest suite bench-p2p). The NVMe below the switch reads and writes WSET_MIB of its disk in
 * CHUNK_KIB pieces, REPS times, with three buffers: system memory and static memory of the accelerator it reaches
 * directly (mapped from /dev/p2pmm), both by O_DIRECT pread/pwrite; and the process's memory placed on a managed
 * provider it reaches directly, by P2PMM_IOC_BLKIO (the pages stay on the provider). The figure is MiB/s, best of
 * REPS.
 *
 * Every run checks its data (what a read brought, what a write left on the disk, byte for byte) and its path: the
 * NVMe's dma:dma_map_phys events are counted over the timed transfers, and a P2P run must have none (bus addresses:
 * no mapping, no bounce, no CPU copy) while a system-memory run must have some; a managed run's replies must count
 * every byte as P2P, and its pages must still be on the provider after the timed transfers. A failed check prints
 * `P2PMM-BENCH-ERROR p2p <run> <what>` and no figure, and the program exits non-zero.
 *
 * Machine-readable output (scripts/bench_report.py), one line per run:
 *   P2PMM-BENCH p2p <read|write>.<ram|static|managed> key=value ...
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
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "p2p_dma.h"
#include "p2pmm_ioctl.h"

#define MIB (1UL << 20)
#define WSET_MIB 8
#define CHUNK_KIB 1024
#define REPS 3
#define MAX_PROVIDERS 32

static int failures;
/* /dev/p2pmm, for the managed runs' BLKIO. */
static int dev_fd;
/* Bytes the BLKIO replies of the current run counted as moved by P2P DMA. */
static uint64_t blkio_p2p;

/* How a run's buffer is reached. */
enum buffer { RAM, STATIC, MANAGED };
static const char *const buffer_name[] = { "ram", "static", "managed" };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t pattern(size_t i, unsigned int seed)
{
	return (uint8_t)(((i * 2654435761u) >> 11) ^ seed);
}

static void error(const char *run, const char *what)
{
	printf("P2PMM-BENCH-ERROR p2p %s %s\n", run, what);
	failures++;
}

/* One piece: O_DIRECT pread/pwrite, or P2PMM_IOC_BLKIO for a managed buffer. 0 or -1 (errno set). */
static int piece(int bfd, uint8_t *buf, size_t len, off_t off, int write, enum buffer where)
{
	struct p2pmm_blkio b;

	if (where == MANAGED) {
		if (p2pmm_blkio(dev_fd, bfd, buf, len, off, write, &b))
			return -1;
		blkio_p2p += b.bytes_p2p;
		return 0;
	}
	if ((write ? pwrite(bfd, buf, len, off) : pread(bfd, buf, len, off)) != (ssize_t)len) {
		errno = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

/* WSET_MIB of the disk at `off` moved in CHUNK_KIB pieces, to (read) or from (write) `buf`: seconds, or -1. */
static double stream(int bfd, uint8_t *buf, off_t off, int write, enum buffer where)
{
	const size_t chunk = CHUNK_KIB << 10;
	double t0 = now_s();

	for (size_t done = 0; done < WSET_MIB * MIB; done += chunk)
		if (piece(bfd, buf + done, chunk, off + done, write, where))
			return -1;
	return now_s() - t0;
}

/*
 * One run: REPS timed transfers between the disk and `buf`, then the data check. `p2p` says which path the
 * transfers must have taken. `check` is a system-memory buffer for reading back what a write left on the disk.
 */
static void run(int bfd, const char *nvme, uint8_t *buf, uint8_t *check, int write, enum buffer where,
		const struct p2pmm_provider_info *target)
{
	const int p2p = where != RAM;
	const size_t len = WSET_MIB * MIB;
	const off_t off = (write ? 32 : 16) * MIB; /* the disks are 64 MiB */
	char name[32];
	double best = 0;
	long bad = -1;
	int maps;

	snprintf(name, sizeof(name), "%s.%s", write ? "write" : "read", buffer_name[where]);
	if (write) {
		for (size_t i = 0; i < len; i++)
			buf[i] = pattern(i, 0x5c);
	} else {
		/* The data the reads must bring, put on the disk from system memory. */
		for (size_t i = 0; i < len; i++)
			check[i] = pattern(i, 0xc5);
		if (stream(bfd, check, off, 1, RAM) < 0) {
			error(name, "writing the data to read");
			return;
		}
		memset(buf, 0, len);
	}
	/* A managed buffer is placed on the provider first; the transfers leave it there. */
	if (where == MANAGED && (p2pmm_migrate(dev_fd, buf, len, target->id) < 0 ||
				 p2pmm_count_at(dev_fd, buf, len, target->id) != (long)(len / 4096))) {
		error(name, "placing the buffer on the managed provider");
		return;
	}
	blkio_p2p = 0;
	if (p2p_dma_trace_clear()) {
		error(name, "cannot clear the trace buffer");
		return;
	}
	for (int r = 0; r < REPS; r++) {
		double t = stream(bfd, buf, off, write, where);

		if (t < 0) {
			error(name, strerror(errno));
			return;
		}
		if (best == 0 || t < best)
			best = t;
	}
	maps = p2p_dma_maps_of(nvme);
	if (where == MANAGED && (blkio_p2p != REPS * len ||
				 p2pmm_count_at(dev_fd, buf, len, target->id) != (long)(len / 4096))) {
		error(name, "path: not every byte by P2P DMA, or pages moved off the provider");
		return;
	}
	if (write) {
		memset(check, 0, len);
		if (stream(bfd, check, off, 0, RAM) < 0) {
			error(name, "reading back what was written");
			return;
		}
		for (size_t i = 0; i < len && bad < 0; i++)
			if (check[i] != pattern(i, 0x5c))
				bad = (long)i;
	} else {
		for (size_t i = 0; i < len && bad < 0; i++)
			if (buf[i] != pattern(i, 0xc5))
				bad = (long)i;
	}
	if (bad >= 0) {
		char what[64];

		snprintf(what, sizeof(what), "byte %ld differs", bad);
		error(name, what);
		return;
	}
	if (maps < 0 || (p2p && maps != 0) || (!p2p && maps == 0)) {
		char what[96];

		snprintf(what, sizeof(what), "path: %d dma_map_phys events (%s expected)", maps,
			 p2p ? "none" : "some");
		error(name, what);
		return;
	}
	printf("P2PMM-BENCH p2p %s nvme=%s target=%s wset_mib=%d chunk_kib=%d reps=%d mib_s=%.1f maps=%d "
	       "verify=ok\n", name, nvme, target ? target->device : "ram", WSET_MIB, CHUNK_KIB, REPS, WSET_MIB / best,
	       maps);
}

int main(void)
{
	struct p2pmm_provider_info prov[MAX_PROVIDERS];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = MAX_PROVIDERS, .entry_size = sizeof(prov[0]),
		.entries = (uintptr_t)prov,
	};
	const struct p2pmm_provider_info *acc = NULL, *managed = NULL;
	struct p2p_dma_nvme nvme;
	uint8_t *ram, *check, *bar, *anon;
	int fd, bfd;

	fd = dev_fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, P2PMM_IOC_PROVIDERS, &req) || p2p_dma_find_nvme("p2pmm-sw", &nvme)) {
		error("setup", "no /dev/p2pmm, no providers or no NVMe below the switch");
		return 1;
	}
	/* The vaccel providers, static and managed, the NVMe reaches directly. */
	for (unsigned int i = 0; i < req.count && i < MAX_PROVIDERS; i++) {
		struct p2pmm_route r = { .size = sizeof(r), .provider = prov[i].id };

		if (prov[i].flags & P2PMM_PROVIDER_F_ADOPTED)
			continue;
		snprintf(r.client, sizeof(r.client), "%.31s", nvme.pci);
		if (ioctl(fd, P2PMM_IOC_ROUTE, &r) || r.plan != P2PMM_PLAN_DIRECT)
			continue;
		if (prov[i].kind == P2PMM_PROVIDER_STATIC && !acc)
			acc = &prov[i];
		if (prov[i].kind == P2PMM_PROVIDER_MANAGED && !managed)
			managed = &prov[i];
	}
	bfd = open(nvme.blk, O_RDWR | O_DIRECT | O_CLOEXEC);
	ram = aligned_alloc(4096, WSET_MIB * MIB);
	check = aligned_alloc(4096, WSET_MIB * MIB);
	bar = acc ? mmap(NULL, WSET_MIB * MIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(acc->id)) :
		    MAP_FAILED;
	anon = mmap(NULL, WSET_MIB * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!acc || !managed || bfd < 0 || !ram || !check || bar == MAP_FAILED || anon == MAP_FAILED ||
	    p2p_dma_trace(1)) {
		error("setup", "no directly reachable static and managed providers, buffers or dma:dma_map_phys event");
		return 1;
	}
	printf("p2p_bench: NVMe %s (%s), static memory of provider %u and managed provider %u on %s, %d MiB in %d KiB "
	       "pieces, best of %d\n", nvme.pci, nvme.blk, acc->id, managed->id, acc->device, WSET_MIB, CHUNK_KIB,
	       REPS);
	for (int write = 0; write <= 1; write++) {
		run(bfd, nvme.pci, ram, check, write, RAM, NULL);
		run(bfd, nvme.pci, bar, check, write, STATIC, acc);
		run(bfd, nvme.pci, anon, check, write, MANAGED, managed);
	}
	p2p_dma_trace(0);
	munmap(anon, WSET_MIB * MIB);
	munmap(bar, WSET_MIB * MIB);
	free(check);
	free(ram);
	close(bfd);
	close(fd);
	return failures ? 1 : 0;
}
