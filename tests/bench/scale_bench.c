// SPDX-License-Identifier: GPL-2.0
/*
 * Cost against provider size (`make bench`, guest suite bench-scale, in the scale VM): the same operations on a
 * small managed provider (64 MiB, p2pmm_sample on the 2 GiB BAR) and a large one (12 GiB, vaccel on the 16 GiB
 * BAR), in one boot. For each, with a working set of WSET bytes of private anonymous memory:
 *   migrate_in:  MiB/s system -> provider, the provider empty (best of REPS);
 *   migrate_out: MiB/s provider -> system (best of REPS);
 *   query:       ms per GiB of P2PMM_IOC_QUERY over the provider filled to capacity;
 *   evict:       MiB/s of the working set migrated into the full provider, every page evicting one.
 * The provider is filled in FILL pieces (each touched, then migrated), so the guest holds at most one piece in
 * system memory. Every working set is compared byte for byte after its moves; page counts (migrated, evicted,
 * pages QUERY finds on the provider) are checked against what must be. A failed check or ioctl prints
 * `P2PMM-BENCH-ERROR scale <provider> <what>` and no figure, and the program exits non-zero.
 *
 * Usage: scale_bench <small provider id> <large provider id>. Output, one line per provider:
 *   P2PMM-BENCH scale <small|large> capacity_mib=N migrate_in_mib_s=X migrate_out_mib_s=X query_ms_per_gib=X
 *     evict_mib_s=X verify=ok
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

#include "p2pmm_ioctl.h"

#define MIB (1UL << 20)
#define PAGE 4096UL
#define WSET (32 * MIB)
#define FILL (256 * MIB)
#define REPS 3

static int fd;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int fail(const char *name, const char *what)
{
	printf("P2PMM-BENCH-ERROR scale %s %s (%s)\n", name, what, strerror(errno));
	return -1;
}

static uint64_t capacity_of(uint32_t id)
{
	struct p2pmm_provider_info p;

	return !p2pmm_provider(fd, id, &p) && p.kind == P2PMM_PROVIDER_MANAGED ? p.capacity : 0;
}

/* MIGRATE of [addr, addr + len) to target; 0 when `want` pages moved and `evicted` were evicted (-1: any). */
static int migrate_exactly(void *addr, size_t len, uint32_t target, uint64_t want, int64_t evicted)
{
	struct p2pmm_migrate m = {
		.size = sizeof(m), .addr = (uintptr_t)addr, .length = len, .target = target,
		.migrated = P2PMM_IOCTL_UNWRITTEN, .evicted = P2PMM_IOCTL_UNWRITTEN,
	};

	if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
		return -1;
	if (m.migrated != want || (evicted >= 0 && m.evicted != (uint64_t)evicted)) {
		fprintf(stderr, "moved %llu of %llu, evicted %llu\n", (unsigned long long)m.migrated,
			(unsigned long long)want, (unsigned long long)m.evicted);
		errno = EIO;
		return -1;
	}
	return 0;
}

static void fill(uint64_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		buf[i] = (i * 0x9e3779b97f4a7c15ULL) ^ seed;
}

static int intact(const uint64_t *buf, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len / 8; i++)
		if (buf[i] != ((i * 0x9e3779b97f4a7c15ULL) ^ seed))
			return 0;
	return 1;
}

static int run(const char *name, uint32_t id)
{
	uint64_t cap = capacity_of(id), pages = WSET / PAGE;
	double in = 0, out = 0, t, query, evict;
	char *set, *filled;
	long on;

	if (!cap || cap < 2 * WSET)
		return fail(name, "no managed provider of at least twice the working set");
	set = mmap(NULL, WSET, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (set == MAP_FAILED)
		return fail(name, "mmap of the working set");
	madvise(set, WSET, MADV_NOHUGEPAGE);
	for (int rep = 0; rep < REPS; rep++) {
		fill((uint64_t *)set, WSET, rep);
		t = now();
		if (migrate_exactly(set, WSET, id, pages, 0))
			return fail(name, "migrate_in");
		t = now() - t;
		in = rep && in > WSET / MIB / t ? in : WSET / MIB / t;
		t = now();
		if (migrate_exactly(set, WSET, P2PMM_LOCATION_SYSTEM, pages, -1))
			return fail(name, "migrate_out");
		t = now() - t;
		out = rep && out > WSET / MIB / t ? out : WSET / MIB / t;
		if (!intact((uint64_t *)set, WSET, rep))
			return fail(name, "data after migrate_in and migrate_out");
	}
	/* Fill to capacity, a piece at a time; the pages stay mapped, so they stay placed. */
	filled = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (filled == MAP_FAILED)
		return fail(name, "mmap of the fill");
	madvise(filled, cap, MADV_NOHUGEPAGE);
	for (uint64_t at = 0; at < cap; at += FILL) {
		size_t len = cap - at < FILL ? cap - at : FILL;

		for (size_t p = 0; p < len; p += PAGE)
			*(uint64_t *)(filled + at + p) = at + p;
		if (migrate_exactly(filled + at, len, id, len / PAGE, 0))
			return fail(name, "fill");
	}
	t = now();
	on = p2pmm_count_at(fd, filled, cap, id);
	query = (now() - t) * 1000 / ((double)cap / (1UL << 30));
	if (on != (long)(cap / PAGE)) {
		errno = EIO;
		return fail(name, "QUERY of the full provider");
	}
	fill((uint64_t *)set, WSET, 7);
	t = now();
	if (migrate_exactly(set, WSET, id, pages, pages))
		return fail(name, "evict");
	evict = WSET / MIB / (now() - t);
	if (migrate_exactly(set, WSET, P2PMM_LOCATION_SYSTEM, pages, -1) || !intact((uint64_t *)set, WSET, 7))
		return fail(name, "data after evicting into the full provider");
	munmap(filled, cap);
	munmap(set, WSET);
	printf("P2PMM-BENCH scale %s capacity_mib=%llu migrate_in_mib_s=%.1f migrate_out_mib_s=%.1f "
	       "query_ms_per_gib=%.2f evict_mib_s=%.1f verify=ok\n", name, (unsigned long long)(cap / MIB), in, out,
	       query, evict);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <small provider id> <large provider id>\n", argv[0]);
		return 2;
	}
	fd = open("/dev/p2pmm", O_RDWR);
	if (fd < 0) {
		fail("setup", "open /dev/p2pmm");
		return 1;
	}
	rc |= run("small", strtoul(argv[1], NULL, 0));
	rc |= run("large", strtoul(argv[2], NULL, 0));
	return rc ? 1 : 0;
}
