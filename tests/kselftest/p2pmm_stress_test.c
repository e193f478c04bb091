// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress: a mover thread migrates a 64-page region between system memory and every managed provider,
 * as fast as it can, while a disturber changes what lies under it: munmap and remap, fork (COW), mprotect, pins
 * under eviction pressure, advice; and QUERY of another process races that process's exit. Each case runs for a
 * fixed time (P2PMM_STRESS_SECS, default 3) with a fixed seed. Every page carries a pattern of its index and
 * generation; the mover checks every byte between moves (under the lock the disturber changes the region under),
 * so one lost or wrong byte fails the test, and the harness fails the run on any kernel report.
 *
 * Needs p2pmm.ko on the default VM topology (managed providers); run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"

#define PAGE 4096UL
#define NPAGES 64
#define LEN (NPAGES * PAGE)

enum disturbance { MUNMAP, FORK, MPROTECT, PIN_EVICT, ADVISE };

static struct {
	int fd;
	uint8_t *region;
	uint32_t gen[NPAGES];
	uint32_t targets[P2P_DMA_MAX_PROVIDERS + 1];	/* managed providers, then system memory */
	int ntargets;
	pthread_mutex_t lock;	/* the region's contents, mapping and protection change only under it */
	int readable;		/* every page readable and writable (checked under the lock) */
	volatile int stop;
	long moved, checks, wrong, move_errors[3];
	enum disturbance what;
	uint8_t *pressure;
	size_t pressure_len;
} g;

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The bytes of page i in generation gen. */
static void fill_page(uint8_t *p, unsigned int i, uint32_t gen)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)i << 32) ^ gen ^ 0x5bd1e995;
	uint64_t *w = (uint64_t *)p;

	for (size_t k = 0; k < PAGE / 8; k++)
		w[k] = next(&s);
}

/* The pages of region that do not hold their pattern (lock held). */
static long check_region(void)
{
	static uint8_t want[PAGE];
	long bad = 0;

	for (unsigned int i = 0; i < NPAGES; i++) {
		fill_page(want, i, g.gen[i]);
		bad += memcmp(g.region + i * PAGE, want, PAGE) != 0;
	}
	return bad;
}

static void *mover(void *arg)
{
	uint64_t s = 42;

	(void)arg;
	while (!g.stop) {
		uint32_t to = g.targets[next(&s) % g.ntargets];
		long n = p2pmm_migrate(g.fd, g.region, LEN, to);

		if (n >= 0)
			g.moved += n;
		else if (errno == EINVAL || errno == ENOMEM)
			g.move_errors[errno == EINVAL]++;
		else
			g.move_errors[2]++;
		pthread_mutex_lock(&g.lock);
		if (g.readable) {
			g.wrong += check_region();
			g.checks++;
		}
		pthread_mutex_unlock(&g.lock);
	}
	return NULL;
}

static int advise(void *addr, size_t len, uint32_t advice, uint32_t location)
{
	struct p2pmm_advise a = {
		.size = sizeof(a), .addr = (uintptr_t)addr, .length = len, .advice = advice, .location = location,
	};

	return ioctl(g.fd, P2PMM_IOC_ADVISE, &a);
}

/* One disturbance of the region, from pages [a, b). */
static void disturb(uint64_t *s, unsigned int a, unsigned int b)
{
	uint8_t *p = g.region + a * PAGE;
	size_t len = (b - a) * PAGE;

	switch (g.what) {
	case MUNMAP:
		/* The pages go and come back as new anonymous memory with the next generation. */
		pthread_mutex_lock(&g.lock);
		munmap(p, len);
		if (mmap(p, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p)
			for (unsigned int i = a; i < b; i++)
				fill_page(g.region + i * PAGE, i, ++g.gen[i]);
		else
			g.readable = 0;
		pthread_mutex_unlock(&g.lock);
		break;
	case FORK: {
		pid_t pid;
		int status = -1;

		/* The child sees the region as it was at fork (COW, wherever the pages were). */
		pthread_mutex_lock(&g.lock);
		pid = fork();
		if (pid == 0)
			_exit(check_region() ? 1 : 0);
		/* The parent writes after the fork: its copy breaks away from the child's. */
		fill_page(g.region + a * PAGE, a, ++g.gen[a]);
		pthread_mutex_unlock(&g.lock);
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			g.wrong++;
		break;
	}
	case MPROTECT:
		pthread_mutex_lock(&g.lock);
		mprotect(p, len, next(s) & 1 ? PROT_NONE : PROT_READ);
		g.readable = 0;
		pthread_mutex_unlock(&g.lock);
		usleep(200 + next(s) % 800);
		pthread_mutex_lock(&g.lock);
		mprotect(p, len, PROT_READ | PROT_WRITE);
		fill_page(g.region + a * PAGE, a, ++g.gen[a]);
		g.readable = 1;
		pthread_mutex_unlock(&g.lock);
		break;
	case PIN_EVICT:
		/* Pins and unpins part of the region while other memory floods a provider. */
		advise(p, len, next(s) & 1 ? P2PMM_ADV_PIN : P2PMM_ADV_UNPIN, 0);
		p2pmm_migrate(g.fd, g.pressure, g.pressure_len, g.targets[next(s) % (g.ntargets - 1)]);
		break;
	case ADVISE: {
		static const uint32_t advices[] = {
			P2PMM_ADV_PREFERRED_LOCATION, P2PMM_ADV_UNSET_PREFERRED_LOCATION, P2PMM_ADV_ACCESSED_BY,
			P2PMM_ADV_UNSET_ACCESSED_BY, P2PMM_ADV_PIN, P2PMM_ADV_UNPIN,
		};
		uint32_t adv = advices[next(s) % 6];
		uint32_t loc = adv == P2PMM_ADV_PIN || adv == P2PMM_ADV_UNPIN ||
				adv == P2PMM_ADV_UNSET_PREFERRED_LOCATION ? 0 : g.targets[next(s) % (g.ntargets - 1)];

		if (advise(p, len, adv, loc))
			g.move_errors[2]++;
		break;
	}
	}
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double budget(void)
{
	const char *env = getenv("P2PMM_STRESS_SECS");

	return env ? atof(env) : 3.0;
}

/* Sets up the region and the targets, runs the mover against `what` for the budget, and returns the pages moved. */
static long run(struct __test_metadata *_metadata, enum disturbance what)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	uint64_t s = 7 + what;
	pthread_t th;
	double end;
	int n;

	memset(&g, 0, sizeof(g));
	pthread_mutex_init(&g.lock, NULL);
	g.what = what;
	g.readable = 1;
	g.fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	if (g.fd < 0)
		return -1;
	n = p2pmm_providers(g.fd, p, P2P_DMA_MAX_PROVIDERS);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		if (p[i].kind != P2PMM_PROVIDER_MANAGED)
			continue;
		/* The pressure of PIN_EVICT: 1.5 times the largest managed provider. */
		if (p[i].capacity + p[i].capacity / 2 > g.pressure_len)
			g.pressure_len = p[i].capacity + p[i].capacity / 2;
		g.targets[g.ntargets++] = p[i].id;
	}
	if (!g.ntargets)
		return -1;
	g.targets[g.ntargets++] = P2PMM_LOCATION_SYSTEM;
	g.region = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.region == MAP_FAILED)
		return -1;
	for (unsigned int i = 0; i < NPAGES; i++)
		fill_page(g.region + i * PAGE, i, 0);
	if (what == PIN_EVICT) {
		g.pressure = mmap(NULL, g.pressure_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (g.pressure == MAP_FAILED)
			return -1;
		memset(g.pressure, 0x5a, g.pressure_len);
	}

	if (pthread_create(&th, NULL, mover, NULL))
		return -1;
	end = now() + budget();
	while (now() < end) {
		unsigned int a = next(&s) % NPAGES;
		unsigned int b = a + 1 + next(&s) % (NPAGES - a);

		disturb(&s, a, b);
		/* Room for the mover to check between disturbances. */
		usleep(500);
	}
	g.stop = 1;
	pthread_join(th, NULL);
	pthread_mutex_lock(&g.lock);
	if (g.readable) {
		g.wrong += check_region();
		g.checks++;
	}
	pthread_mutex_unlock(&g.lock);
	TH_LOG("%ld pages moved, %ld checks, %ld wrong pages; failed moves: %ld EINVAL, %ld ENOMEM, %ld other",
	       g.moved, g.checks, g.wrong, g.move_errors[1], g.move_errors[0], g.move_errors[2]);
	advise(g.region, LEN, P2PMM_ADV_UNPIN, 0);
	munmap(g.region, LEN);
	if (g.pressure)
		munmap(g.pressure, g.pressure_len);
	close(g.fd);
	return g.moved;
}

/* What every case asserts: the mover moved pages, every check found every byte, no move failed unexpectedly. */
#define STRESS(what)                                                                             \
	do {                                                                                     \
		ASSERT_LT(0, run(_metadata, what)) TH_LOG("nothing moved (no managed provider?)"); \
		EXPECT_LT(0, g.checks);                                                          \
		EXPECT_EQ(0, g.wrong);                                                           \
		EXPECT_EQ(0, g.move_errors[2]);                                                  \
		/* EINVAL is for an unreadable range: only mprotect makes one. */                \
		if (what != MPROTECT)                                                            \
			EXPECT_EQ(0, g.move_errors[1]);                                          \
	} while (0)

TEST(migrate_vs_munmap)
{
	STRESS(MUNMAP);
}

TEST(migrate_vs_fork)
{
	STRESS(FORK);
}

TEST(migrate_vs_mprotect)
{
	STRESS(MPROTECT);
}

TEST(pin_vs_eviction)
{
	STRESS(PIN_EVICT);
}

TEST(advise_vs_migrate)
{
	STRESS(ADVISE);
}

/* QUERY of a child's memory while the child migrates it and exits: ESRCH once it is gone, never a crash. */
TEST(query_of_another_process_vs_its_exit)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	static uint32_t loc[NPAGES];
	long queries = 0, gone = 0, other = 0;
	uint32_t managed = 0;
	double end = now() + budget();
	uint8_t *r;
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC), n;

	ASSERT_LE(0, fd);
	n = p2pmm_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS && !managed; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED)
			managed = p[i].id;
	ASSERT_NE(0, managed);
	r = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	memset(r, 1, LEN);
	for (unsigned int round = 0; now() < end; round++) {
		pid_t pid = fork();
		int status;

		ASSERT_LE(0, pid);
		if (pid == 0) {
			memset(r, 2, LEN);
			p2pmm_migrate(fd, r, LEN, managed);
			usleep(round % 7 * 300);
			_exit(0);
		}
		for (;;) {
			struct p2pmm_query q = {
				.size = sizeof(q), .addr = (uintptr_t)r, .length = LEN, .locations = (uintptr_t)loc,
				.pid = (uint32_t)pid,
			};

			queries++;
			if (!ioctl(fd, P2PMM_IOC_QUERY, &q))
				continue;
			if (errno == ESRCH) {
				gone++;
				break;
			}
			/* The child's address space is being torn down: its range is no longer mapped. */
			if (errno != ENOMEM)
				other++;
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
		}
		waitpid(pid, &status, 0);
	}
	TH_LOG("%ld queries, %ld children gone, %ld unexpected errors", queries, gone, other);
	EXPECT_LT(0, gone);
	EXPECT_EQ(0, other);
	munmap(r, LEN);
	close(fd);
}

TEST_HARNESS_MAIN
