// SPDX-License-Identifier: GPL-2.0
/*
 * The physical limit of a migration in the same boot (`make bench`, suite bench-migration): the guest's memcpy()
 * of the sizes upstream's benchmark_thp_migration moves (a quarter of a THP to 128 THPs), between two populated,
 * THP-backed, 2 MiB-aligned buffers, timed as that benchmark times a migration: the average of 5 calls
 * (CLOCK_MONOTONIC, milliseconds), after one untimed call. A migration copies the same bytes and also unmaps,
 * allocates and remaps them, so memcpy is what it cannot beat; scripts/bench_report.py prints each migration row
 * against it.
 *
 * Machine-readable output (scripts/bench_report.py), one line per size:
 *   P2PMM-BENCH memcpy size_kib=<n> ms=<average> iterations=5 verify=ok
 * Every copy is checked (memcmp of the whole destination); a size whose copy differs or whose buffers cannot be
 * had prints `P2PMM-BENCH-ERROR memcpy <size_kib> <what>` and no figure, and the program exits non-zero.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define MIB (1UL << 20)
#define THP (2 * MIB)
#define PAGE 4096UL
#define ITERATIONS 5
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * A 2 MiB-aligned, THP-backed buffer of `size` bytes inside the mapping *raw (size + 2 MiB bytes), every page
 * written with `seed` and its index; NULL.
 */
static uint8_t *populated(size_t size, unsigned int seed, uint8_t **raw)
{
	uint8_t *buf;

	*raw = mmap(NULL, size + THP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*raw == MAP_FAILED) {
		*raw = NULL;
		return NULL;
	}
	buf = (uint8_t *)(((uintptr_t)*raw + THP - 1) & ~(THP - 1));
	madvise(buf, size, MADV_HUGEPAGE);
	for (size_t i = 0; i < size; i += PAGE) {
		memset(buf + i, seed, PAGE);
		*(uint64_t *)(buf + i) = i / PAGE;
	}
	return buf;
}

static int bench(size_t size)
{
	uint8_t *raw_src, *raw_dst, *src = populated(size, 0x5a, &raw_src), *dst = populated(size, 0xa5, &raw_dst);
	double total = 0;
	int rc = 1;

	if (!src || !dst) {
		printf("P2PMM-BENCH-ERROR memcpy %zu mmap of two %zu KiB buffers failed\n", size >> 10, size >> 10);
		goto out;
	}
	/* One untimed copy first: the guest's and QEMU's first touches of both buffers are not the copy's cost. */
	memcpy(dst, src, size);
	for (int i = 0; i < ITERATIONS; i++) {
		double t0;

		/* The destination differs before each copy, so a copy that did nothing fails the check. */
		dst[size - 1] ^= 0xff;
		t0 = now_ms();
		memcpy(dst, src, size);
		total += now_ms() - t0;
		if (memcmp(dst, src, size)) {
			printf("P2PMM-BENCH-ERROR memcpy %zu the copy differs from its source\n", size >> 10);
			goto out;
		}
	}
	printf("P2PMM-BENCH memcpy size_kib=%zu ms=%.3f iterations=%d verify=ok\n", size >> 10, total / ITERATIONS,
	       ITERATIONS);
	rc = 0;
out:
	if (raw_src)
		munmap(raw_src, size + THP);
	if (raw_dst)
		munmap(raw_dst, size + THP);
	return rc;
}

int main(void)
{
	/* benchmark_thp_migration's sizes (tools/testing/selftests/mm/hmm-tests.c), in its order. */
	static const size_t sizes[] = { THP / 4, THP / 2, THP, 2 * THP, 4 * THP, 8 * THP, 128 * THP };
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
		rc |= bench(sizes[i]);
	return rc;
}
