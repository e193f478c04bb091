// SPDX-License-Identifier: GPL-2.0
/*
 * Mirror benchmarks over the test_hmm uAPI, run against p2pmm_mirror and upstream test_hmm in the same boot
 * (`make bench`). Prints `BENCH <name> <value> <unit> <better>` lines; scripts/bench_report.py compares them.
 *  - read_fault_{4k,thp}: device read of a 64 MiB populated buffer through a fresh mirror (every page faults
 *    through hmm_range_fault), pages per second;
 *  - munmap_{1,4,16}_mirrors_{p50,p99}: munmap of a 2 MiB range that N mirrors have mapped (the time core mm
 *    spends invalidating every mirror), microseconds.
 * Every device read is checked: the ioctl, its page count and (read_fault) every byte read
 * against the buffer, whose pages all differ. A benchmark that fails a check prints
 * `P2PMM-BENCH-ERROR mirror <name> <what>` and no figure, and the program exits non-zero.
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

#include "test_hmm_uapi.h"

#define MIB (1UL << 20)
#define PAGE 4096UL

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int fail(const char *name, const char *what)
{
	printf("P2PMM-BENCH-ERROR mirror %s %s\n", name, what);
	fflush(stdout);
	return 1;
}

/* 0, or -1 with errno set: the ioctl failed (its errno) or read fewer pages than asked (EIO). */
static int device_read(int fd, void *addr, void *out, unsigned long size)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .ptr = (uintptr_t)out, .npages = size / PAGE,
	};

	if (ioctl(fd, HMM_DMIRROR_READ, &cmd))
		return -1;
	if (cmd.cpages != size / PAGE) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * A buffer of `size` bytes aligned to 2 MiB, populated, with or without THP. Each page starts with
 * its own index (the rest is zero): a read that misses a page, or returns the wrong one, differs.
 */
static void *populated(unsigned long size, int thp)
{
	char *raw = mmap(NULL, size + 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf;

	if (raw == MAP_FAILED)
		return NULL;
	buf = (char *)(((uintptr_t)raw + 2 * MIB - 1) & ~(2 * MIB - 1));
	if (madvise(buf, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		return NULL;
	for (unsigned long i = 0; i < size; i += PAGE)
		*(uint64_t *)(buf + i) = i / PAGE + 1;
	return buf;
}

static int read_fault(int thp)
{
	const char *name = thp ? "read_fault_thp" : "read_fault_4k";
	unsigned long size = 64 * MIB;
	char *buf = populated(size, thp), *out = malloc(size), msg[128];
	double best = 0;

	if (!buf || !out)
		return fail(name, "no memory for the buffers (or madvise failed)");
	for (int it = 0; it < 3; it++) {
		int fd = open("/dev/hmm_dmirror0", O_RDWR);
		double t0, t1;

		if (fd < 0)
			return fail(name, "cannot open /dev/hmm_dmirror0");
		/* Unlike every byte of buf: a byte the read did not write fails the memcmp. */
		memset(out, 0xff, size);
		t0 = now_us();
		if (device_read(fd, buf, out, size)) {
			snprintf(msg, sizeof(msg), "device read failed: %s", strerror(errno));
			return fail(name, msg);
		}
		t1 = now_us();
		close(fd);
		if (memcmp(out, buf, size))
			return fail(name, "data mismatch: the device read differs from the buffer");
		if (size / PAGE / ((t1 - t0) / 1e6) > best)
			best = size / PAGE / ((t1 - t0) / 1e6);
	}
	printf("BENCH %s %.0f pages/s higher\n", name, best);
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
	char *out = malloc(2 * MIB), name[32], msg[128];

	snprintf(name, sizeof(name), "munmap_%d_mirrors", mirrors);
	if (!out)
		return fail(name, "no memory");
	for (int m = 0; m < mirrors; m++) {
		fds[m] = open("/dev/hmm_dmirror0", O_RDWR);
		if (fds[m] < 0)
			return fail(name, "cannot open /dev/hmm_dmirror0");
	}
	for (int it = 0; it < ITER; it++) {
		char *buf = populated(2 * MIB, 0);
		double t0;
		int rc;

		if (!buf)
			return fail(name, "no memory for the buffer (or madvise failed)");
		/* Each mirror maps the range: the munmap has every one of them to invalidate. */
		for (int m = 0; m < mirrors; m++)
			if (device_read(fds[m], buf, out, 2 * MIB)) {
				snprintf(msg, sizeof(msg), "device read of mirror %d failed: %s", m,
					 strerror(errno));
				return fail(name, msg);
			}
		t0 = now_us();
		rc = munmap(buf, 2 * MIB);
		lat[it] = now_us() - t0;
		if (rc) {
			snprintf(msg, sizeof(msg), "munmap failed: %s", strerror(errno));
			return fail(name, msg);
		}
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
		fprintf(stderr, "mirror_bench: a benchmark failed (see P2PMM-BENCH-ERROR above)\n");
	return rc;
}
