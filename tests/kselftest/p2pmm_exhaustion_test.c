// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest of exhaustion: every managed provider and most of system memory filled with processes' managed memory,
 * while they keep faulting it back and migrating it, and one more process allocates until the OOM killer kills it
 * with pages of its own on the providers. Nothing a surviving process wrote is lost or changed, the killed
 * process's device pages are freed with it, and when every process has exited the providers are empty again
 * (their `used` counters back to 0). The kernel log is checked by the harness for any report.
 *
 * Needs p2pmm.ko and p2pmm_vaccel.ko loaded on the default VM topology; run as root (oom_score_adj).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"

#define PAGE 4096UL
#define MB (1UL << 20)
#define CHUNK (4 * MB)
#define WORKERS 3
#define CHURN_SECS 6

struct fill {
	int fd;
	uint32_t managed[P2P_DMA_MAX_PROVIDERS];
	int nmanaged;
	size_t capacity;	/* of all managed providers together */
};

static long mem_available_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void oom_score_adj(int v)
{
	char s[16];

	snprintf(s, sizeof(s), "%d", v);
	p2p_dma_write_file("/proc/self/oom_score_adj", s);
}

/*
 * A worker: @bytes in chunks, each filled with its own pattern and placed on a managed provider in turn, then
 * CHURN_SECS of random moves (to a provider, to system memory, or a CPU read that faults it back) with the chunk's
 * bytes checked after each, and every chunk's at the end. Exit status: 0, 1 for a wrong byte, 2 for no memory, 4
 * if no page of its own ever reached a provider (the test would then show nothing about them).
 */
static int worker(const struct fill *f, size_t bytes, unsigned int base)
{
	size_t n = bytes / CHUNK;
	uint8_t **chunk = calloc(n, sizeof(*chunk));
	unsigned int rng = base;
	long placed = 0;
	time_t end;

	oom_score_adj(-900);
	if (!chunk)
		return 2;
	for (size_t i = 0; i < n; i++) {
		chunk[i] = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (chunk[i] == MAP_FAILED)
			return 2;
		p2p_dma_fill(chunk[i], CHUNK, base + i);
		/* A full provider evicts; what does not fit stays in system memory: both are fine. */
		placed += p2pmm_migrate(f->fd, chunk[i], CHUNK, f->managed[i % f->nmanaged]) > 0;
	}
	if (!placed)
		return 4;
	end = time(NULL) + CHURN_SECS;
	while (time(NULL) < end) {
		size_t i = rand_r(&rng) % n;
		unsigned int op = rand_r(&rng) % 3;

		/* Moves may fail for want of memory (ENOMEM) or room: the data must not care. */
		if (op == 0)
			p2pmm_migrate(f->fd, chunk[i], CHUNK, f->managed[rand_r(&rng) % f->nmanaged]);
		else if (op == 1)
			p2pmm_migrate(f->fd, chunk[i], CHUNK, P2PMM_LOCATION_SYSTEM);
		if (p2p_dma_mismatch(chunk[i], CHUNK, base + i) != -1)
			return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (p2p_dma_mismatch(chunk[i], CHUNK, base + i) != -1)
			return 1;
	return 0;
}

/* The hog: memory until the OOM killer takes it, every other chunk placed on a provider. */
static int hog(const struct fill *f)
{
	oom_score_adj(1000);
	for (size_t i = 0;; i++) {
		uint8_t *p = mmap(NULL, CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return 3;
		memset(p, (int)i, CHUNK);
		if (i % 2)
			p2pmm_migrate(f->fd, p, CHUNK, f->managed[i % f->nmanaged]);
	}
}

static long long used_of(const struct fill *f)
{
	struct p2pmm_provider_info info;
	long long used = 0;

	for (int i = 0; i < f->nmanaged; i++) {
		if (p2pmm_provider(f->fd, f->managed[i], &info))
			return -1;
		used += info.used;
	}
	return used;
}

FIXTURE(exhaustion)
{
	int unused;
};

FIXTURE_SETUP(exhaustion)
{
}

FIXTURE_TEARDOWN(exhaustion)
{
}

/* Emulated, with the sanitizers, filling and checking the memory takes a while. */
TEST_F_TIMEOUT(exhaustion, providers_and_memory_full_lose_nothing_and_drain, 300)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	struct fill f = { .fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC) };
	pid_t pids[WORKERS + 1];
	long avail = mem_available_kb();
	size_t share;
	long long used, peak = 0;
	int n, status, stuck = 0;

	ASSERT_LE(0, f.fd);
	ASSERT_LT(0, avail);
	n = p2pmm_providers(f.fd, p, P2P_DMA_MAX_PROVIDERS);
	ASSERT_LT(0, n);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		if (p[i].kind != P2PMM_PROVIDER_MANAGED)
			continue;
		f.managed[f.nmanaged++] = p[i].id;
		f.capacity += p[i].capacity;
	}
	ASSERT_LT(0, f.nmanaged);
	ASSERT_EQ(0, used_of(&f)) TH_LOG("the managed providers are not empty to begin with");
	/* The workers: every provider twice over, and a quarter of what system memory has left; the hog the rest. */
	share = ((2 * f.capacity + (size_t)avail * 1024 / 4) / WORKERS) & ~(CHUNK - 1);
	TH_LOG("%d managed providers of %zu MiB, %ld MiB available: %d workers of %zu MiB and a hog", f.nmanaged,
	       f.capacity / MB, avail / 1024, WORKERS, share / MB);
	for (int w = 0; w <= WORKERS; w++) {
		pids[w] = fork();
		ASSERT_LE(0, pids[w]);
		if (!pids[w])
			_exit(w < WORKERS ? worker(&f, share, 1000 * (w + 1)) : hog(&f));
	}
	/* How full the providers get while the workers run (each worker fails if none of its pages got there). */
	for (int w = 0; w < WORKERS; w++) {
		pid_t got;

		while ((got = waitpid(pids[w], &status, WNOHANG)) == 0) {
			used = used_of(&f);
			peak = used > peak ? used : peak;
			usleep(50 * 1000);
		}
		ASSERT_EQ(pids[w], got);
		EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
			TH_LOG("worker %d: %s %d", w, WIFEXITED(status) ? "exit" : "signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
	TH_LOG("the managed providers held up to %lld of %zu MiB", peak >> 20, f.capacity / MB);
	/* The hog never stops by itself: the OOM killer ends it, or the test does. */
	if (waitpid(pids[WORKERS], &status, WNOHANG) == 0) {
		for (int i = 0; i < 600 && waitpid(pids[WORKERS], &status, WNOHANG) == 0; i++)
			usleep(100 * 1000);
	}
	if (waitpid(pids[WORKERS], &status, WNOHANG) == 0) {
		kill(pids[WORKERS], SIGKILL);
		waitpid(pids[WORKERS], &status, 0);
		stuck = 1;
	}
	EXPECT_EQ(0, stuck) TH_LOG("the hog was not killed by the OOM killer within 60 s");
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) TH_LOG("the hog ended otherwise");
	/* Exiting processes free their device pages; the providers drain to empty. */
	for (int i = 0; i < 100 && (used = used_of(&f)) > 0; i++)
		usleep(100 * 1000);
	EXPECT_EQ(0, used) TH_LOG("%lld bytes still used on the managed providers", used);
	close(f.fd);
}

TEST_HARNESS_MAIN
