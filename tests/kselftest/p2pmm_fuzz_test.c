// SPDX-License-Identifier: GPL-2.0
/*
 * A structure-aware fuzzer of /dev/p2pmm: every ioctl and mmap, with arguments built from the uAPI structs and
 * mutated (sizes around each struct's known sizes, flags, reserved fields, ranges unaligned, empty, wrapping,
 * unmapped, read-only or PROT_NONE, kernel addresses, provider ids valid and not, block-device fds valid, closed
 * and of the wrong kind), from several threads at once while one of them keeps unmapping and remapping a scratch
 * area the others aim at, and another closes and reopens its own descriptor.
 *
 * It checks what a fuzzer can: every failing call's errno is one Documentation/p2pmm/uapi.rst documents for that
 * call (scripts/uapi_errnos.py turns the document into p2pmm_uapi_errnos.h when the guest programs are built), and
 * a buffer the calls may move around but never write keeps every byte. The kernel side (no splat, no leak) is the
 * harness's: any KASAN, lockdep, WARN or kmemleak report fails the run.
 *
 * P2PMM_FUZZ_CALLS (default 100000) and P2PMM_FUZZ_SEED (default 1) set the budget and the seed; the same seed
 * makes the same calls in each thread (their interleaving is the scheduler's). `make fuzz` runs 1000000.
 *
 * Each thread records the blocks of p2pmm.ko its calls run (KCOV, p2pmm_kcov.h), and the end prints, per file,
 * how many of p2pmm.ko's functions the run reached: what the fuzzer does not reach is what it does not test.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_kcov.h"
#include "p2pmm_uapi_errnos.h"

#define PAGE 4096UL
#define THREADS 4
#define DATA_LEN (64 * PAGE)	/* moved around, never written by the calls: checked at the end */
#define SCRATCH_LEN (64 * PAGE) /* remapped under the other threads' calls */
#define MAX_REPORTS 10
#define NR_COMMANDS 8 /* the ioctl numbers in use: P2PMM_IOC_VERSION (0x00) to P2PMM_IOC_DMABUF (0x07) */

enum call { VERSION, PROVIDERS, ROUTE, MIGRATE, QUERY, ADVISE, BLKIO, DMABUF, MMAP, BAD_CMD, NR_CALLS };

static const char *const call_names[NR_CALLS] = {
	"VERSION", "PROVIDERS", "ROUTE", "MIGRATE", "QUERY", "ADVISE", "BLKIO", "DMABUF", "MMAP", "BAD_CMD",
};

static const int *const call_errnos[NR_CALLS] = {
	p2pmm_errnos_VERSION, p2pmm_errnos_PROVIDERS, p2pmm_errnos_ROUTE, p2pmm_errnos_MIGRATE,
	p2pmm_errnos_QUERY, p2pmm_errnos_ADVISE, p2pmm_errnos_BLKIO, p2pmm_errnos_DMABUF, p2pmm_errnos_MMAP,
	p2pmm_errnos_COMMON,
};

/* What every thread shares: the targets the calls aim at. */
static struct {
	uint8_t *data, *scratch, *ro, *none, *hole;
	uint32_t ids[P2P_DMA_MAX_PROVIDERS];
	int nids;
	char devices[P2P_DMA_MAX_PROVIDERS][32];
	int blk, blk_ro, null_fd;
	long calls;
	unsigned int seed;
	volatile int stop;
	int kcov_failed; /* a thread could not start its coverage */
} g;

/* Per thread: what it did and what was wrong. */
struct tally {
	long calls[NR_CALLS], failed[NR_CALLS], wrong;
	char report[MAX_REPORTS][160];
};

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? next(s) % n : 0;
}

static int chance(uint64_t *s, int percent)
{
	return (int)below(s, 100) < percent;
}

/* A struct size around the known ones: mostly the current size, sometimes too small, larger, or huge. */
static uint32_t fuzz_size(uint64_t *s, uint32_t ver0, uint32_t cur)
{
	switch (below(s, 10)) {
	case 0:
		return (uint32_t)below(s, ver0);
	case 1:
		return ver0;
	case 2:
		return cur + 8 * (1 + below(s, 4));
	case 3:
		return chance(s, 50) ? 4096 : (uint32_t)next(s);
	default:
		return cur;
	}
}

static uint32_t fuzz_flags(uint64_t *s)
{
	return chance(s, 90) ? 0 : 1U << below(s, 32);
}

/* An address: in the data or scratch area (page aligned or not), read-only, PROT_NONE, a hole, NULL, kernel. */
static uint64_t fuzz_addr(uint64_t *s)
{
	uint64_t off = below(s, 64) * PAGE + (chance(s, 5) ? below(s, PAGE) : 0);

	switch (below(s, 12)) {
	case 0:
		return (uint64_t)(uintptr_t)g.ro + off % (4 * PAGE);
	case 1:
		return (uint64_t)(uintptr_t)g.none + off % (4 * PAGE);
	case 2:
		return (uint64_t)(uintptr_t)g.hole + off % (4 * PAGE);
	case 3:
		return chance(s, 50) ? 0 : 0xffff800000000000ULL + off;
	case 4:
	case 5:
	case 6:
		return (uint64_t)(uintptr_t)g.scratch + off;
	default:
		return (uint64_t)(uintptr_t)g.data + off;
	}
}

/* A length: whole pages mostly (up to 64), sometimes 0, unaligned, past the end or wrapping. */
static uint64_t fuzz_len(uint64_t *s)
{
	switch (below(s, 12)) {
	case 0:
		return 0;
	case 1:
		return 1 + below(s, PAGE - 1);
	case 2:
		return chance(s, 50) ? ~0ULL - PAGE + 1 : 1ULL << (32 + below(s, 30));
	default:
		return (1 + below(s, 64)) * PAGE;
	}
}

/* A provider id: a listed one mostly, sometimes 0, 63, 64, SYSTEM's 0, NONE or anything. */
static uint32_t fuzz_id(uint64_t *s)
{
	switch (below(s, 10)) {
	case 0:
		return (uint32_t)below(s, 70);
	case 1:
		return P2PMM_LOCATION_NONE;
	case 2:
		return (uint32_t)next(s);
	default:
		return g.nids ? g.ids[below(s, g.nids)] : 1;
	}
}

/* An address the kernel may write to: as fuzz_addr(), but never into the data area. */
static uint64_t fuzz_out_addr(uint64_t *s)
{
	uint64_t a = fuzz_addr(s);

	if (a >= (uint64_t)(uintptr_t)g.data && a < (uint64_t)(uintptr_t)g.data + DATA_LEN)
		a = a - (uint64_t)(uintptr_t)g.data + (uint64_t)(uintptr_t)g.scratch;
	return a;
}

static int fuzz_fd(uint64_t *s)
{
	switch (below(s, 8)) {
	case 0:
		return -1;
	case 1:
		return g.null_fd;
	case 2:
		return 1000 + (int)below(s, 1000);
	case 3:
		return g.blk_ro;
	default:
		return g.blk;
	}
}

/* Fills buf with one call's argument; returns the ioctl command, or 0 for mmap (done by the caller). */
static unsigned long build(uint64_t *s, enum call c, void *buf)
{
	memset(buf, 0, 4096);
	/* Bytes past the struct: zero mostly (a newer userspace), sometimes not (E2BIG). */
	if (chance(s, 10))
		((uint8_t *)buf)[128 + below(s, 64)] = (uint8_t)next(s) | 1;
	switch (c) {
	case VERSION: {
		struct p2pmm_version *v = buf;

		v->size = fuzz_size(s, P2PMM_VERSION_SIZE_VER0, sizeof(*v));
		v->flags = fuzz_flags(s);
		if (chance(s, 10))
			v->version = (uint32_t)next(s);
		return P2PMM_IOC_VERSION;
	}
	case PROVIDERS: {
		static __thread struct p2pmm_provider_info out[P2P_DMA_MAX_PROVIDERS + 4];
		struct p2pmm_providers *p = buf;

		p->size = fuzz_size(s, P2PMM_PROVIDERS_SIZE_VER0, sizeof(*p));
		p->flags = fuzz_flags(s);
		p->count = (uint32_t)below(s, P2P_DMA_MAX_PROVIDERS + 4);
		p->entry_size = chance(s, 80) ? sizeof(out[0]) : (uint32_t)below(s, 8192);
		p->entries = chance(s, 80) ? (uint64_t)(uintptr_t)out : fuzz_out_addr(s);
		/* The kernel writes count strides: keep them inside the array (or the scratch area). */
		if (p->entries == (uint64_t)(uintptr_t)out && (uint64_t)p->count * p->entry_size > sizeof(out))
			p->count = sizeof(out) / (p->entry_size ? p->entry_size : 1);
		if (p->entries != (uint64_t)(uintptr_t)out && (uint64_t)p->count * p->entry_size > SCRATCH_LEN)
			p->count = 1;
		return P2PMM_IOC_PROVIDERS;
	}
	case ROUTE: {
		struct p2pmm_route *r = buf;

		r->size = fuzz_size(s, P2PMM_ROUTE_SIZE_VER0, sizeof(*r));
		r->flags = fuzz_flags(s);
		r->provider = fuzz_id(s);
		if (chance(s, 70) && g.nids)
			snprintf(r->client, sizeof(r->client), "%s", g.devices[below(s, g.nids)]);
		else if (chance(s, 50))
			snprintf(r->client, sizeof(r->client), "%04x:%02x:%02x.%x", (unsigned int)below(s, 3),
				 (unsigned int)below(s, 256), (unsigned int)below(s, 32), (unsigned int)below(s, 8));
		else
			for (size_t i = 0; i < sizeof(r->client); i++)
				r->client[i] = (char)next(s);
		if (chance(s, 5))
			r->__reserved2 = 1;
		return P2PMM_IOC_ROUTE;
	}
	case MIGRATE: {
		struct p2pmm_migrate *m = buf;

		m->size = fuzz_size(s, P2PMM_MIGRATE_SIZE_VER0, sizeof(*m));
		m->flags = fuzz_flags(s);
		m->addr = fuzz_addr(s);
		m->length = fuzz_len(s);
		m->target = chance(s, 25) ? P2PMM_LOCATION_SYSTEM : fuzz_id(s);
		return P2PMM_IOC_MIGRATE;
	}
	case QUERY: {
		static __thread uint32_t loc[64];
		struct p2pmm_query *q = buf;

		q->size = fuzz_size(s, P2PMM_QUERY_SIZE_VER0, sizeof(*q));
		q->flags = fuzz_flags(s);
		q->addr = fuzz_addr(s);
		q->length = fuzz_len(s);
		if (q->length > sizeof(loc) / 4 * PAGE && chance(s, 80))
			q->length = sizeof(loc) / 4 * PAGE;
		q->locations = chance(s, 85) ? (uint64_t)(uintptr_t)loc : fuzz_out_addr(s);
		q->pid = chance(s, 80) ? 0 : chance(s, 50) ? (uint32_t)getpid() : (uint32_t)below(s, 1 << 22);
		return P2PMM_IOC_QUERY;
	}
	case ADVISE: {
		struct p2pmm_advise *a = buf;

		a->size = fuzz_size(s, P2PMM_ADVISE_SIZE_VER0, sizeof(*a));
		a->flags = fuzz_flags(s);
		a->addr = fuzz_addr(s);
		a->length = fuzz_len(s);
		a->advice = (uint32_t)below(s, 10);
		a->location = chance(s, 20) ? P2PMM_LOCATION_SYSTEM : fuzz_id(s);
		return P2PMM_IOC_ADVISE;
	}
	case BLKIO: {
		struct p2pmm_blkio *b = buf;

		b->size = fuzz_size(s, P2PMM_BLKIO_SIZE_VER0, sizeof(*b));
		/* Reads only into the scratch area: the data area is never written. */
		b->flags = chance(s, 90) ? P2PMM_BLKIO_WRITE : fuzz_flags(s);
		b->fd = fuzz_fd(s);
		b->addr = b->flags & P2PMM_BLKIO_WRITE ? fuzz_addr(s) : fuzz_out_addr(s);
		b->length = fuzz_len(s);
		b->offset = chance(s, 80) ? below(s, 512) * PAGE : next(s);
		return P2PMM_IOC_BLKIO;
	}
	case DMABUF: {
		struct p2pmm_dmabuf *d = buf;

		d->size = fuzz_size(s, P2PMM_DMABUF_SIZE_VER0, sizeof(*d));
		d->flags = chance(s, 80) ? P2PMM_DMABUF_CLOEXEC : fuzz_flags(s);
		d->addr = fuzz_addr(s);
		d->length = fuzz_len(s);
		d->fd = (int32_t)next(s);
		d->provider = chance(s, 90) ? 0 : fuzz_id(s);
		/* Managed memory allocated as a dma-buf: any provider id, mostly without an address. */
		if (chance(s, 20)) {
			d->flags |= P2PMM_DMABUF_MANAGED;
			d->provider = fuzz_id(s);
			d->addr = chance(s, 80) ? 0 : d->addr;
		}
		return P2PMM_IOC_DMABUF;
	}
	case BAD_CMD:
		/* Another command number, size, direction or magic. */
		switch (below(s, 4)) {
		case 0:
			return _IOWR(P2PMM_IOC_MAGIC, NR_COMMANDS + below(s, 256 - NR_COMMANDS), struct p2pmm_version);
		case 1:
			return _IOR(P2PMM_IOC_MAGIC, below(s, NR_COMMANDS), struct p2pmm_version);
		case 2:
			return _IOWR(P2PMM_IOC_MAGIC ^ 1, below(s, NR_COMMANDS), struct p2pmm_version);
		default: {
			/* Any direction, size and number with p2pmm's magic (other magics are the VFS's) but a command's. */
			unsigned long cmd = ((unsigned long)next(s) & 0xffff00ffUL) | (P2PMM_IOC_MAGIC << 8);

			return _IOC_NR(cmd) < NR_COMMANDS ? cmd | NR_COMMANDS << _IOC_NRSHIFT : cmd;
		}
		}
	default:
		return 0;
	}
}

static int documented(enum call c, int err)
{
	for (const int *e = call_errnos[c]; *e; e++)
		if (*e == err)
			return 1;
	if (c == MMAP)
		return 0;
	for (const int *e = p2pmm_errnos_COMMON; *e; e++)
		if (*e == err)
			return 1;
	return 0;
}

static void note_wrong(struct tally *t, enum call c, unsigned long cmd, const void *arg, int err)
{
	const uint32_t *w = arg;

	if (t->wrong < MAX_REPORTS)
		snprintf(t->report[t->wrong], sizeof(t->report[0]),
			 "%s cmd=%#lx: %s (%d), undocumented; arg words %08x %08x %08x %08x %08x %08x", call_names[c],
			 cmd, strerror(err), err, w[0], w[1], w[2], w[3], w[4], w[5]);
	t->wrong++;
}

/* One mmap of /dev/p2pmm with a fuzzed offset, length and flags; touched and unmapped when it works. */
static void fuzz_mmap(uint64_t *s, int fd, struct tally *t)
{
	uint64_t len = chance(s, 80) ? (1 + below(s, 16)) * PAGE : fuzz_len(s);
	uint64_t off = chance(s, 80) ? P2PMM_MMAP_OFFSET(fuzz_id(s)) : next(s) & ~(PAGE - 1);
	int flags = chance(s, 85) ? MAP_SHARED : MAP_PRIVATE;
	/* A large private writable mapping is refused by overcommit before p2pmm sees it (and logged). */
	if (flags == MAP_PRIVATE && len > (1ULL << 30))
		len = 1ULL << 30;
	int prot = chance(s, 80) ? PROT_READ | PROT_WRITE : PROT_READ;
	void *p;

	t->calls[MMAP]++;
	if (len > (1ULL << 33))
		len = 1ULL << 33;
	p = mmap(NULL, len, prot, flags, fd, (off_t)off);
	if (p == MAP_FAILED) {
		t->failed[MMAP]++;
		if (!documented(MMAP, errno)) {
			uint32_t w[6] = { (uint32_t)len, (uint32_t)(len >> 32), (uint32_t)off, (uint32_t)(off >> 32),
					  (uint32_t)flags, (uint32_t)prot };

			note_wrong(t, MMAP, 0, w, errno);
		}
		return;
	}
	if (prot & PROT_WRITE)
		((volatile uint8_t *)p)[below(s, len)] = 1;
	else
		(void)((volatile uint8_t *)p)[below(s, len)];
	munmap(p, len);
}

static void *worker(void *arg)
{
	struct tally *t = arg;
	long me = t->calls[0];	/* the thread's index, passed in calls[0] */
	uint64_t s = 0x9e3779b97f4a7c15ULL * ((uint64_t)g.seed * THREADS + me + 1);
	uint64_t buf[4096 / 8 + 8];
	struct p2pmm_kcov_thread kc;
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);

	t->calls[0] = 0;
	if (fd < 0)
		return NULL;
	if (p2pmm_kcov_start(&kc))
		__atomic_store_n(&g.kcov_failed, 1, __ATOMIC_RELAXED);
	for (long i = 0; i < g.calls / THREADS && !g.stop; i++) {
		enum call c = (enum call)below(&s, NR_CALLS);
		unsigned long cmd;
		void *arg;

		/*
		 * Thread 0 keeps replacing the scratch area under the others' calls: in one step (MAP_FIXED), since
		 * another thread's mmap could take a gap left by munmap.
		 */
		if (me == 0 && chance(&s, 2) &&
		    mmap(g.scratch, SCRATCH_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) == g.scratch)
			memset(g.scratch, (int)i, SCRATCH_LEN / 2);
		/* Thread 1 closes and reopens its descriptor now and then. */
		if (me == 1 && chance(&s, 1)) {
			close(fd);
			fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
			if (fd < 0)
				break;
		}
		if (c == MMAP) {
			fuzz_mmap(&s, fd, t);
			p2pmm_kcov_drain(&kc);
			continue;
		}
		cmd = build(&s, c, buf);
		t->calls[c]++;
		arg = chance(&s, 3) ? (void *)(uintptr_t)fuzz_out_addr(&s) : (void *)buf;
		if (ioctl(fd, cmd, arg) < 0) {
			int err = errno;

			t->failed[c]++;
			if (!documented(c, err))
				note_wrong(t, c, cmd, buf, err);
		} else if (c == DMABUF && arg == (void *)buf) {
			/* A dma-buf made: it would hold its memory (and a descriptor) until the process exits. */
			int32_t made;

			memcpy(&made, (char *)buf + offsetof(struct p2pmm_dmabuf, fd), sizeof(made));
			close(made);
		}
		p2pmm_kcov_drain(&kc);
	}
	p2pmm_kcov_stop(&kc);
	close(fd);
	return NULL;
}

static uint8_t *map_area(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

FIXTURE(fuzz) {};
FIXTURE_SETUP(fuzz) {}
FIXTURE_TEARDOWN(fuzz) {}

/* Up to an hour: `make fuzz` makes 1,000,000 calls under TCG (the VM's own timeout stops a hang sooner). */
TEST_F_TIMEOUT(fuzz, uapi, 3300)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	static struct tally tallies[THREADS];
	pthread_t th[THREADS];
	struct p2p_dma_nvme nvme;
	struct timespec t0, t1;
	long total = 0, wrong = 0;
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC), n;
	const char *env, *missing;

	ASSERT_LE(0, fd);
	missing = p2pmm_kcov_setup();
	ASSERT_EQ(NULL, missing) TH_LOG("kcov: %s", missing);
	env = getenv("P2PMM_FUZZ_CALLS");
	g.calls = env ? atol(env) : 100000;
	env = getenv("P2PMM_FUZZ_SEED");
	g.seed = env ? (unsigned int)atoi(env) : 1;
	n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
	ASSERT_LT(0, n);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		g.ids[g.nids] = p[i].id;
		snprintf(g.devices[g.nids++], 32, "%s", p[i].device);
	}
	g.data = map_area(DATA_LEN, PROT_READ | PROT_WRITE);
	/* A guard page after the scratch area stops a write that runs past its end (EFAULT). */
	g.scratch = map_area(SCRATCH_LEN + PAGE, PROT_READ | PROT_WRITE);
	ASSERT_TRUE(g.scratch && !mprotect(g.scratch + SCRATCH_LEN, PAGE, PROT_NONE));
	g.ro = map_area(4 * PAGE, PROT_READ);
	g.none = map_area(4 * PAGE, PROT_NONE);
	/* A hole of 4 pages between two guard pages, so that nothing larger (a thread's stack) lands in it. */
	g.hole = map_area(6 * PAGE, PROT_NONE);
	ASSERT_TRUE(g.data && g.scratch && g.ro && g.none && g.hole);
	g.hole += PAGE;
	munmap(g.hole, 4 * PAGE);
	p2p_dma_fill(g.data, DATA_LEN, 81);
	ASSERT_EQ(0, p2p_dma_find_nvme("p2pmm-sw", &nvme)) TH_LOG("no NVMe below the switch");
	g.blk = open(nvme.blk, O_RDWR | O_CLOEXEC);
	g.blk_ro = open(nvme.blk, O_RDONLY | O_CLOEXEC);
	g.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, g.blk);
	ASSERT_LE(0, g.blk_ro);
	ASSERT_LE(0, g.null_fd);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < THREADS; i++) {
		tallies[i].calls[0] = i;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, worker, &tallies[i]));
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (int c = 0; c < NR_CALLS; c++) {
		long calls = 0, failed = 0;

		for (int i = 0; i < THREADS; i++) {
			calls += tallies[i].calls[c];
			failed += tallies[i].failed[c];
		}
		total += calls;
		ksft_print_msg("%-9s %8ld calls, %8ld failed\n", call_names[c], calls, failed);
	}
	for (int i = 0; i < THREADS; i++) {
		for (long k = 0; k < tallies[i].wrong && k < MAX_REPORTS; k++)
			ksft_print_msg("thread %d: %s\n", i, tallies[i].report[k]);
		wrong += tallies[i].wrong;
	}
	ksft_print_msg("P2PMM-FUZZ seed=%u calls=%ld threads=%d secs=%.1f undocumented=%ld\n", g.seed, total, THREADS,
		       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, wrong);
	EXPECT_LE(g.calls - THREADS, total) TH_LOG("a worker stopped early (could not reopen /dev/p2pmm?)");
	EXPECT_EQ(0, wrong) TH_LOG("errnos uapi.rst does not document for the call");
	/* The calls moved the data area around (migrations, evictions) but never wrote it. */
	EXPECT_EQ(-1, p2p_dma_mismatch(g.data, DATA_LEN, 81));
	EXPECT_EQ(0, g.kcov_failed) TH_LOG("a thread could not enable kcov");
	/* Every call enters p2pmm.ko (the ioctl dispatch at least): a run that reached none recorded nothing. */
	EXPECT_LT(0, p2pmm_kcov_report("uAPI fuzzer")) TH_LOG("kcov recorded no block of p2pmm.ko");
	close(g.blk);
	close(g.blk_ro);
	close(g.null_fd);
	close(fd);
}

TEST_HARNESS_MAIN
