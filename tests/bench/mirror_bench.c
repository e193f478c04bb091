// SPDX-License-Identifier: GPL-2.0
/*
 * Mirror benchmarks over the test_hmm uAPI, run against p2pmm_mirror and upstream test_hmm in the same boot
 * (`make bench`). Prints `BENCH <name> <value> <unit> <better>` lines; scripts/bench_report.py compares them.
 *  - read_fault_{4k,thp}: device read of a 64 MiB populated buffer through a fresh mirror (every page faults
 *    through hmm_range_fault), pages per second;
 *  - munmap_{1,4,16}_mirrors_{p50,p99}: munmap of a 2 MiB range that N mirrors have mapped (the time core mm
 *    spends invalidating every mirror), microseconds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "test_hmm_uapi.h"

#define MIB (1UL << 20)
#define PAGE 4096UL

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int device_read(int fd, void *addr, void *out, unsigned long size)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .ptr = (uintptr_t)out, .npages = size / PAGE,
	};

	return ioctl(fd, HMM_DMIRROR_READ, &cmd);
}

/* A buffer of `size` bytes aligned to 2 MiB, populated, with or without THP. */
static void *populated(unsigned long size, int thp)
{
	char *raw = mmap(NULL, size + 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf;

	if (raw == MAP_FAILED)
		return NULL;
	buf = (char *)(((uintptr_t)raw + 2 * MIB - 1) & ~(2 * MIB - 1));
	madvise(buf, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (unsigned long i = 0; i < size; i += PAGE)
		buf[i] = (char)i;
	return buf;
}

static int read_fault(int thp)
{
	unsigned long size = 64 * MIB;
	char *buf = populated(size, thp), *out = malloc(size);
	double best = 0;

	if (!buf || !out)
		return 1;
	for (int it = 0; it < 3; it++) {
		int fd = open("/dev/hmm_dmirror0", O_RDWR);
		double t0, t1;

		if (fd < 0)
			return 1;
		t0 = now_us();
		if (device_read(fd, buf, out, size))
			return 1;
		t1 = now_us();
		close(fd);
		if (memcmp(out, buf, size))
			return 1;
		if (size / PAGE / ((t1 - t0) / 1e6) > best)
			best = size / PAGE / ((t1 - t0) / 1e6);
	}
	printf("BENCH read_fault_%s %.0f pages/s higher\n", thp ? "thp" : "4k", best);
	free(out);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int munmap_latency(int mirrors)
{
	enum { ITER = 40 };
	double lat[ITER];
	int fds[16];
	char *out = malloc(2 * MIB);

	for (int m = 0; m < mirrors; m++) {
		fds[m] = open("/dev/hmm_dmirror0", O_RDWR);
		if (fds[m] < 0)
			return 1;
	}
	for (int it = 0; it < ITER; it++) {
		char *buf = populated(2 * MIB, 0);
		double t0;

		if (!buf)
			return 1;
		for (int m = 0; m < mirrors; m++)
			if (device_read(fds[m], buf, out, 2 * MIB))
				return 1;
		t0 = now_us();
		munmap(buf, 2 * MIB);
		lat[it] = now_us() - t0;
	}
	qsort(lat, ITER, sizeof(lat[0]), cmp_double);
	printf("BENCH munmap_%d_mirrors_p50 %.1f us lower\n", mirrors, lat[ITER / 2]);
	printf("BENCH munmap_%d_mirrors_p99 %.1f us lower\n", mirrors, lat[ITER - 1]);
	for (int m = 0; m < mirrors; m++)
		close(fds[m]);
	free(out);
	return 0;
}

int main(void)
{
	int rc = 0;

	rc |= read_fault(0);
	rc |= read_fault(1);
	rc |= munmap_latency(1);
	rc |= munmap_latency(4);
	rc |= munmap_latency(16);
	if (rc)
		fprintf(stderr, "mirror_bench: a benchmark failed (device read error or data mismatch)\n");
	return rc;
}
