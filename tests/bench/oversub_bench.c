// SPDX-License-Identifier: GPL-2.0
/*
 * Oversubscribed streaming through p2pmm's managed providers (`make bench`, guest suite bench-oversub).
 *
 * A working set of private anonymous memory (4 KiB pages, THP off) is streamed through a managed provider in
 * chunks with P2PMM_IOC_MIGRATE, for a fixed number of passes, at two sizes: half the provider's capacity ("fits")
 * and twice it ("oversub", every pass evicts). Every provider a scenario uses reclaims in the background with the
 * module's default watermarks (for these 8 MiB providers 1 MiB and 2 MiB free, the floor of a migration piece
 * ahead), as p2pmm is meant to run: eviction off the migrating process's path. Three scenarios:
 *  - prefetch_read: each pass prefetches every chunk to provider A in address order (the device streams over the
 *    set), then the CPU reads every chunk (a position-weighted checksum of the whole set, checked every pass), which
 *    brings the pages still on A back through migrate_to_ram. Reading each chunk right after its own prefetch would
 *    never hold more than one chunk on the provider, so nothing would be evicted: the CPU reads after the pass.
 *  - pingpong_ab: each pass prefetches every chunk to one provider, A and B alternately; the CPU does not touch the
 *    data (device to device moves, and under oversubscription evictions on every pass).
 *  - cascade_abc: prefetch_read over three managed providers below one bridge, the third the spare accelerator
 *    (bound for this scenario: tests/lib/p2pmm_spare.h): A evicts into B or C, and they pass victims on to each
 *    other or to system memory. Oversubscribed means twice the three providers' capacity (6x A's).
 * Throughput is MiB of working set per second of wall time (CLOCK_MONOTONIC) over the timed passes, best of REPS.
 * Every run ends with a byte-exact check of the whole set and of the eviction counters (the providers' direct
 * evictions against what P2PMM_IOC_MIGRATE reported; an oversubscribed run must evict, directly or in the
 * background; in cascade_abc every eviction from B and C is a background one, and an oversubscribed run has
 * some); a run that fails one (or any ioctl) prints `P2PMM-BENCH-ERROR oversub <run> ...` and no figure, and the
 * program exits non-zero. Runs are bounded by their pass count and by an alarm, never by "until done".
 *
 * Machine-readable output (scripts/bench_report.py), one line per run:
 *   P2PMM-BENCH oversub <scenario>.<fits|oversub> key=value ...
 * migrated/evicted/background/shortfall/cascaded are page counts summed over all timed passes of all repetitions
 * (per pass: divide by passes * reps): evicted = direct evictions (P2PMM_IOC_MIGRATE's count), background = the
 * workers' evictions from the scenario's providers, cascaded (cascade_abc only) = pages B and C evicted in turn,
 * retried = pages of a chunk that its prefetch neither found on the target (P2PMM_IOC_QUERY just before it, left
 * out of the figure) nor moved there, because background reclaim held them (summed over attempts: see
 * prefetch_pass()); shortfall = such pages the last attempt did not move either.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "p2pmm_spare.h"

#define MIB (1UL << 20)
#define PAGE 4096UL
#define MAX_PROVIDERS 32
#define REPS 3
#define TARGET_MIB 128 /* working set processed per repetition: passes = TARGET_MIB / working set */
#define RUN_ALARM_S 300 /* a run that takes longer than this is reported as hung */
#define PREFETCH_ATTEMPTS 4
#define PREFETCH_RETRY_US 2000

static int fd;
static const char *current_run = "setup";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_alarm(int sig)
{
	char msg[160];
	int n = snprintf(msg, sizeof(msg), "P2PMM-BENCH-ERROR oversub %s timeout after %d s (no progress?)\n",
			 current_run, RUN_ALARM_S);

	(void)sig;
	if (write(STDOUT_FILENO, msg, n) < 0)
		_exit(3);
	_exit(2);
}

static int providers(struct p2pmm_provider_info *out, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*out), .entries = (uintptr_t)out,
	};

	return ioctl(fd, P2PMM_IOC_PROVIDERS, &req) ? -1 : (int)req.count;
}

/* The word at index i of the working set: differs from its neighbours and between pages. */
static uint64_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;

	x ^= x >> 31;
	return x * 0xbf58476d1ce4e5b9ULL;
}

/* Position-weighted: a page read back at the wrong offset, or a stale page, changes it. */
static uint64_t checksum(const uint64_t *w, size_t words)
{
	uint64_t s = 0;

	for (size_t i = 0; i < words; i++)
		s += w[i] * (2 * i + 1);
	return s;
}

enum scenario { PREFETCH_READ, PINGPONG_AB, CASCADE_ABC };
static const char *const scenario_names[] = { "prefetch_read", "pingpong_ab", "cascade_abc" };

struct run {
	enum scenario scenario;
	const char *size; /* fits or oversub */
	size_t wset;	  /* bytes */
	int passes;
	/* results */
	double best_mib_s;
	uint64_t migrated, evicted, shortfall, retried, prov_evictions, background, cascaded, cascaded_background;
	double untimed; /* seconds of the timed passes spent in P2PMM_IOC_QUERY (left out of best_mib_s) */
};

#define MAX_CHUNK_PAGES 1024
static uint32_t locations[MAX_CHUNK_PAGES];
/* No provider id and no location: a page QUERY left alone never counts as placed anywhere. */
#define UNWRITTEN_LOC 0xa5a5a5a5U

/*
 * Pages of [addr, addr + len) that P2PMM_IOC_QUERY places on target; -1 (errno set) on failure,
 * ENODATA when the query left a page without a location (the previous chunk's answer would
 * otherwise count as this one's).
 */
static long on_target(void *addr, size_t len, uint32_t target)
{
	struct p2pmm_query q = {
		.size = sizeof(q), .addr = (uintptr_t)addr, .length = len, .locations = (uintptr_t)locations,
	};
	long n = 0;

	if (len / PAGE > MAX_CHUNK_PAGES) {
		errno = E2BIG;
		return -1;
	}
	for (size_t i = 0; i < len / PAGE; i++)
		locations[i] = UNWRITTEN_LOC;
	if (ioctl(fd, P2PMM_IOC_QUERY, &q))
		return -1;
	for (size_t i = 0; i < len / PAGE; i++) {
		if (locations[i] == UNWRITTEN_LOC) {
			errno = ENODATA;
			return -1;
		}
		n += locations[i] == target;
	}
	return n;
}

/* Counter `attr` of provider `id` from sysfs (those P2PMM_IOC_PROVIDERS does not report), or -1. */
static long long provider_attr(uint32_t id, const char *attr)
{
	char path[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/%s", id, attr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int fail(const struct run *r, const char *what)
{
	printf("P2PMM-BENCH-ERROR oversub %s.%s %s\n", scenario_names[r->scenario], r->size, what);
	fflush(stdout);
	return 1;
}

/*
 * Prefetches every chunk of buf to target, adding the ioctl's counts; 0 or -1 (errno set). A counted pass asks
 * P2PMM_IOC_QUERY first which pages are on the target already (untimed): what the move neither found there nor
 * moved was held by background reclaim (a page it was evicting, or one it was bringing in as a peer's victim), so
 * the chunk is asked again 2 ms later (timed), as a runtime that reads the count would, up to PREFETCH_ATTEMPTS
 * times; the shortfall is what the last attempt still missed. (Asking after the move would race with reclaim,
 * which may take a page of the chunk as soon as it is there: a resident page that the move found in place is the
 * oldest on the provider.)
 */
static int prefetch_pass(uint8_t *buf, struct run *r, size_t chunk, uint32_t target, int counted)
{
	for (size_t off = 0; off < r->wset; off += chunk) {
		struct p2pmm_migrate m = {
			.size = sizeof(m), .addr = (uintptr_t)(buf + off), .length = chunk, .target = target,
		};
		long missed = 0;

		if (!counted) {
			if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
				return -1;
			continue;
		}
		for (int attempt = 0; attempt < PREFETCH_ATTEMPTS; attempt++) {
			double t = now_s();
			long there = on_target(buf + off, chunk, target);

			if (there < 0)
				return -1;
			r->untimed += now_s() - t;
			m.migrated = m.evicted = 0;
			if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
				return -1;
			r->migrated += m.migrated;
			r->evicted += m.evicted;
			/* Negative only if reclaim took a page between the query and the move, which moved it back. */
			missed = (long)(chunk / PAGE) - there - (long)m.migrated;
			if (missed <= 0)
				break;
			r->retried += missed;
			/* A round of reclaim moves up to 256 pages and takes a few milliseconds: let it end. */
			usleep(PREFETCH_RETRY_US);
		}
		r->shortfall += missed > 0 ? missed : 0;
	}
	return 0;
}

/* Evictions of B and C (ids[1], ids[2]): all of them and the background ones, into both[2]; 0 or -1. */
static int cascade_counts_now(const uint32_t *ids, int n, long long both[2])
{
	(void)n;
	both[0] = both[1] = 0;
	for (int i = 1; i < 3; i++) {
		long long all = provider_attr(ids[i], "evictions"), bg = provider_attr(ids[i], "evictions_background");

		if (all < 0 || bg < 0)
			return -1;
		both[0] += all;
		both[1] += bg;
	}
	return 0;
}

/* Evictions of the n providers of ids, summed: direct ones into out[0], background ones into out[1]; 0 or -1. */
static int evict_counts_now(const uint32_t *ids, int n, long long out[2])
{
	out[0] = out[1] = 0;
	for (int i = 0; i < n; i++) {
		long long all = provider_attr(ids[i], "evictions"), bg = provider_attr(ids[i], "evictions_background");

		if (all < 0 || bg < 0)
			return -1;
		out[0] += all - bg;
		out[1] += bg;
	}
	return 0;
}

/*
 * counts(ids, out) once its counters hold still for 10 ms: a worker counts its round after the moves, and may
 * still be finishing one when the timed passes end. 0 or -1.
 */
static int settled(int (*counts)(const uint32_t *, int, long long[2]), const uint32_t *ids, int n,
		   long long out[2])
{
	long long again[2];

	if (counts(ids, n, out))
		return -1;
	for (int i = 0; i < 100; i++) {
		usleep(10 * 1000);
		if (counts(ids, n, again))
			return -1;
		if (again[0] == out[0] && again[1] == out[1])
			return 0;
		out[0] = again[0];
		out[1] = again[1];
	}
	return 0;
}

static int run_one(struct run *r, const uint32_t *ids, size_t chunk)
{
	int ab = r->scenario == PINGPONG_AB, cascade = r->scenario == CASCADE_ABC;
	int nids = cascade ? 3 : ids[1] != ids[0] ? 2 : 1;
	size_t words = r->wset / sizeof(uint64_t);
	uint64_t *w, sum;
	char msg[200];

	r->best_mib_s = 0;
	r->migrated = r->evicted = r->shortfall = r->retried = r->prov_evictions = r->background = 0;
	r->cascaded = r->cascaded_background = 0;
	r->untimed = 0;
	w = mmap(NULL, r->wset, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED)
		return fail(r, "mmap failed");
	madvise(w, r->wset, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < words; i++)
		w[i] = pattern(i);
	sum = checksum(w, words);

	for (int rep = 0; rep < REPS; rep++) {
		double t0, secs, untimed0 = r->untimed;
		long long c0[2], c1[2], e0[2], e1[2];

		/* pingpong_ab: an untimed pass to A first, so every timed pass starts from the steady state. */
		if (ab && prefetch_pass((uint8_t *)w, r, chunk, ids[0], 0))
			goto ioctl_failed;
		if (settled(evict_counts_now, ids, nids, e0) ||
		    (cascade && settled(cascade_counts_now, ids, 3, c0)))
			return fail(r, "reading the providers' evictions from sysfs failed");
		t0 = now_s();
		for (int pass = 0; pass < r->passes; pass++) {
			uint32_t target = ab ? ids[(pass + 1) % 2] : ids[0];

			if (prefetch_pass((uint8_t *)w, r, chunk, target, 1))
				goto ioctl_failed;
			if (!ab) {
				uint64_t got = checksum(w, words);

				if (got != sum) {
					snprintf(msg, sizeof(msg), "checksum mismatch in rep %d pass %d: %#llx, want %#llx",
						 rep, pass, (unsigned long long)got, (unsigned long long)sum);
					return fail(r, msg);
				}
			}
		}
		secs = now_s() - t0 - (r->untimed - untimed0);
		if (settled(evict_counts_now, ids, nids, e1) ||
		    (cascade && settled(cascade_counts_now, ids, 3, c1)))
			return fail(r, "reading the providers' evictions from sysfs failed");
		r->prov_evictions += e1[0] - e0[0];
		r->background += e1[1] - e0[1];
		if (cascade) {
			r->cascaded += c1[0] - c0[0];
			r->cascaded_background += c1[1] - c0[1];
		}
		if (secs > 0 && r->passes * (r->wset / (double)MIB) / secs > r->best_mib_s)
			r->best_mib_s = r->passes * (r->wset / (double)MIB) / secs;
	}

	/* Byte-exact check of the whole set (the CPU reads fault back whatever is still on a provider). */
	for (size_t i = 0; i < words; i++)
		if (w[i] != pattern(i)) {
			snprintf(msg, sizeof(msg), "data mismatch at byte %zu (page %zu): %#llx, want %#llx",
				 i * sizeof(uint64_t), i * sizeof(uint64_t) / PAGE, (unsigned long long)w[i],
				 (unsigned long long)pattern(i));
			return fail(r, msg);
		}
	munmap(w, r->wset);
	/* 2x the capacity through a provider each pass: it must evict, or it measured nothing. */
	if (!strcmp(r->size, "oversub") && r->evicted + r->background == 0)
		return fail(r, "no evictions with a working set twice the capacity");
	if (cascade && r->cascaded != r->cascaded_background) {
		snprintf(msg, sizeof(msg), "B and C evicted %llu pages, of which %llu in the background (all expected)",
			 (unsigned long long)r->cascaded, (unsigned long long)r->cascaded_background);
		return fail(r, msg);
	}
	if (cascade && !strcmp(r->size, "oversub") && r->cascaded == 0)
		return fail(r, "B and C passed no victim on with twice the three providers' capacity");
	if (r->prov_evictions != r->evicted) {
		snprintf(msg, sizeof(msg), "the providers count %llu direct evictions, P2PMM_IOC_MIGRATE reported %llu",
			 (unsigned long long)r->prov_evictions, (unsigned long long)r->evicted);
		return fail(r, msg);
	}
	return 0;

ioctl_failed:
	snprintf(msg, sizeof(msg), "P2PMM_IOC_MIGRATE or _QUERY failed: %s", strerror(errno));
	return fail(r, msg);
}

/* Runs r, printing its P2PMM-BENCH line or (inside run_one) its error; 0 or 1. */
static int run_and_print(struct run *r, const uint32_t *ids, size_t chunk, uint64_t capacity)
{
	char name[64], cascaded[48] = "";

	snprintf(name, sizeof(name), "%s.%s", scenario_names[r->scenario], r->size);
	current_run = name;
	alarm(RUN_ALARM_S);
	if (run_one(r, ids, chunk)) {
		alarm(0);
		r->best_mib_s = -1;
		return 1;
	}
	alarm(0);
	if (r->scenario == CASCADE_ABC)
		snprintf(cascaded, sizeof(cascaded), " cascaded=%llu", (unsigned long long)r->cascaded);
	printf("P2PMM-BENCH oversub %s capacity_kib=%llu wset_kib=%zu chunk_kib=%zu passes=%d reps=%d mib_s=%.2f migrated=%llu evicted=%llu background=%llu retried=%llu shortfall=%llu%s verify=ok\n",
	       name, (unsigned long long)(capacity >> 10), r->wset >> 10, chunk >> 10, r->passes, REPS,
	       r->best_mib_s, (unsigned long long)r->migrated, (unsigned long long)r->evicted,
	       (unsigned long long)r->background, (unsigned long long)r->retried, (unsigned long long)r->shortfall,
	       cascaded);
	return 0;
}

/* A fitting (half of `capacity`) and an oversubscribed (`over` times `capacity`) run of `scenario`. */
static void add_runs(struct run *runs, int *nruns, enum scenario scenario, uint64_t capacity, size_t chunk,
		     int over)
{
	for (int big = 0; big < 2; big++) {
		struct run *r = &runs[(*nruns)++];
		/* Whole chunks: half the capacity rounded down, the oversubscribed size rounded up. */
		size_t wset = big ? (over * capacity + chunk - 1) / chunk * chunk : capacity / 2 / chunk * chunk;

		*r = (struct run){ .scenario = scenario, .size = big ? "oversub" : "fits", .wset = wset };
		r->passes = TARGET_MIB * MIB / wset < 2 ? 2 : TARGET_MIB * MIB / wset;
	}
}

/*
 * cascade_abc: binds the spare accelerator for C (with the module's default watermarks, as A and B), runs, and
 * unbinds it. Returns 0 or 1 (a failure, reported).
 */
static int run_cascade(struct run *runs, int *nruns, const uint32_t *ab, uint64_t capacity, size_t chunk)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	uint32_t ids[3] = { ab[0], ab[1], 0 };
	char spare[32];
	int n, rc = 0;

	add_runs(runs, nruns, CASCADE_ABC, capacity, chunk, 6);
	if (p2pmm_spare_bind(spare, sizeof(spare))) {
		printf("P2PMM-BENCH-ERROR oversub cascade_abc.fits binding the spare accelerator: %s\n", strerror(errno));
		runs[*nruns - 2].best_mib_s = runs[*nruns - 1].best_mib_s = -1;
		return 1;
	}
	n = providers(p, MAX_PROVIDERS);
	for (int i = 0; i < n && i < MAX_PROVIDERS; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && !strcmp(p[i].device, spare) && p[i].capacity >= capacity)
			ids[2] = p[i].id;
	if (!ids[2] || provider_attr(ids[2], "watermark_low") <= 0) {
		printf("P2PMM-BENCH-ERROR oversub cascade_abc.fits no managed provider of %llu KiB with background reclaim on the spare %s\n",
		       (unsigned long long)(capacity >> 10), spare);
		runs[*nruns - 2].best_mib_s = runs[*nruns - 1].best_mib_s = -1;
		rc = 1;
	} else {
		for (int i = *nruns - 2; i < *nruns; i++)
			rc |= run_and_print(&runs[i], ids, chunk, capacity);
	}
	if (p2pmm_spare_unbind(spare)) {
		printf("P2PMM-BENCH-ERROR oversub cascade_abc.oversub unbinding the spare %s: %s\n", spare,
		       strerror(errno));
		rc = 1;
	}
	return rc;
}

int main(void)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	uint32_t ids[2];
	uint64_t capacity = 0;
	int n, nm = 0, rc = 0;
	size_t chunk;
	struct run runs[6];
	int nruns = 0;
	long long low[2] = { 0 }, high[2] = { 0 };

	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		printf("P2PMM-BENCH-ERROR oversub setup open /dev/p2pmm: %s (is p2pmm.ko loaded?)\n", strerror(errno));
		return 1;
	}
	n = providers(p, MAX_PROVIDERS);
	for (int i = 0; i < n && i < MAX_PROVIDERS; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && nm < 2) {
			ids[nm++] = p[i].id;
			if (!capacity || p[i].capacity < capacity)
				capacity = p[i].capacity;
		}
	if (nm == 0 || capacity < 4 * PAGE) {
		printf("P2PMM-BENCH-ERROR oversub setup no managed provider (P2PMM_IOC_PROVIDERS: %d providers)\n", n);
		return 1;
	}
	if (nm == 1)
		ids[1] = ids[0];
	capacity &= ~(PAGE - 1);
	chunk = capacity / 4 < MIB ? (capacity / 4) & ~(PAGE - 1) : MIB;

	for (int i = 0; i < nm; i++) {
		low[i] = provider_attr(ids[i], "watermark_low");
		high[i] = provider_attr(ids[i], "watermark_high");
		if (low[i] <= 0 || high[i] <= 0) {
			printf("P2PMM-BENCH-ERROR oversub setup provider %u has no background reclaim (watermark_low %lld): load p2pmm with its default watermarks\n",
			       ids[i], low[i]);
			return 1;
		}
	}
	printf("oversub_bench: background reclaim below %lld KiB free, up to %lld KiB (the providers' defaults)\n",
	       low[0] >> 10, high[0] >> 10);
	signal(SIGALRM, on_alarm);
	add_runs(runs, &nruns, PREFETCH_READ, capacity, chunk, 2);
	for (int i = 0; i < nruns; i++)
		rc |= run_and_print(&runs[i], ids, chunk, capacity);
	if (nm < 2) {
		printf("P2PMM-BENCH-SKIP oversub pingpong_ab needs two managed providers\n");
		printf("P2PMM-BENCH-SKIP oversub cascade_abc needs three managed providers\n");
	} else {
		add_runs(runs, &nruns, PINGPONG_AB, capacity, chunk, 2);
		for (int i = nruns - 2; i < nruns; i++)
			rc |= run_and_print(&runs[i], ids, chunk, capacity);
		rc |= run_cascade(runs, &nruns, ids, capacity, chunk);
	}

	printf("\noversubscribed streaming, managed provider capacity %llu KiB, chunk %zu KiB, best of %d\n",
	       (unsigned long long)(capacity >> 10), chunk >> 10, REPS);
	printf("%-22s %9s %7s %9s %14s %13s %10s\n", "run", "wset KiB", "passes", "MiB/s", "migrated/pass",
	       "evicted/pass", "shortfall");
	for (int i = 0; i < nruns; i++) {
		struct run *r = &runs[i];
		char name[64];
		double per = (double)r->passes * REPS;

		snprintf(name, sizeof(name), "%s.%s", scenario_names[r->scenario], r->size);
		if (r->best_mib_s < 0) {
			printf("%-22s %9zu %7d %9s\n", name, r->wset >> 10, r->passes, "FAILED");
			continue;
		}
		printf("%-22s %9zu %7d %9.2f %14.0f %13.0f %10llu\n", name, r->wset >> 10, r->passes, r->best_mib_s,
		       r->migrated / per, r->evicted / per, (unsigned long long)r->shortfall);
	}
	for (int i = 0; i + 1 < nruns; i += 2)
		if (runs[i].best_mib_s > 0 && runs[i + 1].best_mib_s > 0)
			printf("%s: oversub / fits = %.2fx (goal >= 0.8x)\n", scenario_names[runs[i].scenario],
			       runs[i + 1].best_mib_s / runs[i].best_mib_s);
	if (rc)
		fprintf(stderr, "oversub_bench: a run failed (ioctl error, data mismatch or timeout); see above\n");
	close(fd);
	return rc;
}
