// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of 2 MiB moves of managed memory: a transparent huge page migrated to a managed provider becomes one
 * 2 MiB device folio, comes back to system memory as a THP (by a CPU fault, P2PMM_IOC_MIGRATE or eviction), and
 * small pages stay small. /proc/self/smaps shows it: AnonHugePages counts 2 MiB folios, device-private ones
 * included, and P2PMM_IOC_QUERY says where each page is. khugepaged, which could make a THP of small pages behind
 * the test's back, is paused meanwhile. Every data check compares bytes written before the moves with bytes read
 * after them. Needs p2pmm.ko loaded on the default VM topology (two vaccel devices, 8 MiB managed each); root.
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
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_ioctl.h"

#define P2PMM_DEV "/dev/p2pmm"
#define MAX_PROVIDERS 32
#define PAGE 4096UL
#define HUGE (2UL << 20)
#define VACCEL "/sys/bus/pci/drivers/p2pmm_vaccel"
#define KHUGEPAGED_SLEEP "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs"

/* How many whole 2 MiB chunks provider `id` has free (debugfs p2pmm/slots); -1 if not found. */
static long whole_chunks(uint32_t id)
{
	FILE *f = fopen("/sys/kernel/debug/p2pmm/slots", "r");
	char line[512];
	long n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned int pid, used, slots;
		long whole;

		if (sscanf(line, "provider %u (%*[^)]): %u of %u slots in use, %ld whole", &pid, &used, &slots,
			   &whole) == 4 && pid == id) {
			n = whole;
			break;
		}
	}
	fclose(f);
	return n;
}

/* AnonHugePages of the mapping that contains addr, in KiB (/proc/self/smaps); -1 if not found. */
static long anon_huge_kib(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int inside = 0;
	long kib = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
			continue;
		}
		if (inside && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

/*
 * `len` bytes aligned to 2 MiB in a mapping of their own (the rest of the reservation is unmapped), advised
 * `advice` (MADV_HUGEPAGE or MADV_NOHUGEPAGE); NULL on failure.
 */
static uint8_t *huge_buffer(size_t len, int advice)
{
	uint8_t *raw = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *buf;
	size_t head;

	if (raw == MAP_FAILED)
		return NULL;
	buf = (uint8_t *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	head = buf - raw;
	if (head)
		munmap(raw, head);
	munmap(buf + len, HUGE - head);
	if (madvise(buf, len, advice)) {
		munmap(buf, len);
		return NULL;
	}
	return buf;
}

FIXTURE(thp) {
	int fd;
	uint32_t managed[2];
	char device[2][32];
	char khugepaged_sleep[32];
};

FIXTURE_SETUP(thp)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = MAX_PROVIDERS, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};
	int nm = 0, k;
	FILE *f;

	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	for (unsigned int i = 0; i < req.count && nm < 2; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED) {
			snprintf(self->device[nm], sizeof(self->device[nm]), "%s", p[i].device);
			self->managed[nm++] = p[i].id;
		}
	ASSERT_EQ(2, nm) TH_LOG("the default VM topology has vaccels with managed providers");
	/* khugepaged paused: a THP the test sees is one p2pmm made. */
	f = fopen(KHUGEPAGED_SLEEP, "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(self->khugepaged_sleep, sizeof(self->khugepaged_sleep), f));
	fclose(f);
	k = open(KHUGEPAGED_SLEEP, O_WRONLY);
	ASSERT_LE(0, k);
	ASSERT_EQ(7, write(k, "3600000", 7));
	close(k);
}

FIXTURE_TEARDOWN(thp)
{
	int k = open(KHUGEPAGED_SLEEP, O_WRONLY);

	if (k >= 0) {
		if (write(k, self->khugepaged_sleep, strlen(self->khugepaged_sleep)) < 0)
			perror("restoring khugepaged's scan sleep");
		close(k);
	}
	close(self->fd);
}

/*
 * Two THPs move to a managed provider; a CPU read of one byte brings back its whole 2 MiB as a THP and leaves the
 * other on the device, which P2PMM_IOC_MIGRATE then brings back as a THP too. Every byte is intact.
 */
TEST_F(thp, a_thp_moves_whole_and_comes_back_whole)
{
	size_t len = 2 * HUGE, n = len / PAGE;
	uint8_t *buf = huge_buffer(len, MADV_HUGEPAGE);
	struct p2pmm_migrate m;
	volatile uint8_t byte;

	ASSERT_NE(NULL, buf);
	p2p_dma_fill(buf, len, 1);
	ASSERT_EQ(4096, anon_huge_kib(buf)) TH_LOG("the test kernel gives MADV_HUGEPAGE memory THPs");
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, buf, len, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(n, m.migrated);
	EXPECT_EQ((long)n, p2pmm_count_at(self->fd, buf, len, self->managed[0]));
	EXPECT_EQ(4096, anon_huge_kib(buf)) TH_LOG("the THPs became small device pages");
	/* One byte of the first 2 MiB: its whole device folio comes back, as one THP. */
	byte = buf[HUGE / 2 + 5];
	(void)byte;
	EXPECT_EQ(4096, anon_huge_kib(buf)) TH_LOG("a CPU fault brought back small pages");
	EXPECT_EQ((long)(n / 2), p2pmm_count_at(self->fd, buf, HUGE, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ((long)(n / 2), p2pmm_count_at(self->fd, buf + HUGE, HUGE, self->managed[0]));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, buf, len, P2PMM_LOCATION_SYSTEM, &m)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(n / 2, m.migrated);
	EXPECT_EQ(4096, anon_huge_kib(buf));
	EXPECT_EQ(-1, p2p_dma_mismatch(buf, len, 1));
	munmap(buf, len);
}

/*
 * Small pages stay small: memory advised against huge pages comes back by a CPU fault as small pages, and so does
 * a never-touched range there, while a never-touched range advised to use them becomes a 2 MiB device folio.
 */
TEST_F(thp, small_pages_stay_small)
{
	uint8_t *no = huge_buffer(HUGE, MADV_NOHUGEPAGE), *empty = huge_buffer(HUGE, MADV_NOHUGEPAGE);
	uint8_t *huge_empty = huge_buffer(HUGE, MADV_HUGEPAGE);
	struct p2pmm_migrate m;
	volatile uint8_t byte;

	ASSERT_NE(NULL, no);
	ASSERT_NE(NULL, empty);
	ASSERT_NE(NULL, huge_empty);
	p2p_dma_fill(no, HUGE, 2);
	ASSERT_EQ(0, anon_huge_kib(no));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, no, HUGE, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, empty, HUGE, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, huge_empty, HUGE, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ((long)(HUGE / PAGE), p2pmm_count_at(self->fd, no, HUGE, self->managed[0]));
	EXPECT_EQ((long)(HUGE / PAGE), p2pmm_count_at(self->fd, empty, HUGE, self->managed[0]));
	EXPECT_EQ((long)(HUGE / PAGE), p2pmm_count_at(self->fd, huge_empty, HUGE, self->managed[0]));
	EXPECT_EQ(0, anon_huge_kib(no));
	EXPECT_EQ(0, anon_huge_kib(empty));
	EXPECT_EQ(2048, anon_huge_kib(huge_empty));
	byte = no[5] + empty[5] + huge_empty[5];
	(void)byte;
	EXPECT_EQ(0, anon_huge_kib(no));
	EXPECT_EQ(0, anon_huge_kib(empty));
	EXPECT_EQ(2048, anon_huge_kib(huge_empty));
	EXPECT_EQ((long)(HUGE / PAGE), p2pmm_count_at(self->fd, huge_empty, HUGE, P2PMM_LOCATION_SYSTEM));
	EXPECT_LT(0, p2pmm_count_at(self->fd, no, HUGE, self->managed[0])) TH_LOG("a small page brought back them all");
	EXPECT_EQ(-1, p2p_dma_mismatch(no, HUGE, 2));
	for (size_t i = 0; i < HUGE; i += PAGE)
		ASSERT_EQ(0, empty[i] | huge_empty[i]);
	munmap(no, HUGE);
	munmap(empty, HUGE);
	munmap(huge_empty, HUGE);
}

/*
 * A provider full of 2 MiB folios makes room for another THP by evicting whole folios: the evicted 2 MiB go whole
 * into the routable peer (the other vaccel below the switch) as far as it has whole chunks free, the newcomer lands
 * on the device, and no byte of either is lost.
 */
TEST_F(thp, folios_are_evicted_whole)
{
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = MAX_PROVIDERS, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};
	size_t cap = 0, n;
	uint8_t *full, *more;
	struct p2pmm_migrate m;
	long evicted, on_peer, peer_whole;
	uint32_t peer = 0;

	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_PROVIDERS, &req));
	for (unsigned int i = 0; i < req.count; i++)
		if (p[i].id == self->managed[0])
			cap = p[i].capacity;
	ASSERT_LE(2 * HUGE, cap);
	/* The managed provider whose device managed[0]'s device reaches directly: where its victims go. */
	for (unsigned int i = 0; i < req.count && !peer; i++) {
		struct p2pmm_route r = { .size = sizeof(r), .provider = p[i].id };

		if (p[i].kind != P2PMM_PROVIDER_MANAGED || p[i].id == self->managed[0])
			continue;
		snprintf(r.client, sizeof(r.client), "%s", self->device[0]);
		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_ROUTE, &r));
		if (r.plan == P2PMM_PLAN_DIRECT)
			peer = p[i].id;
	}
	ASSERT_NE(0, peer) TH_LOG("the default VM topology has two vaccels below one switch");
	n = cap / PAGE;
	full = huge_buffer(cap, MADV_HUGEPAGE);
	more = huge_buffer(HUGE, MADV_HUGEPAGE);
	ASSERT_NE(NULL, full);
	ASSERT_NE(NULL, more);
	p2p_dma_fill(full, cap, 3);
	p2p_dma_fill(more, HUGE, 4);
	ASSERT_EQ((long)(cap >> 10), anon_huge_kib(full));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, full, cap, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ((long)n, p2pmm_count_at(self->fd, full, cap, self->managed[0])) TH_LOG("the provider was not empty");
	/* Past the minimum residency, then room for 2 MiB more; the peer takes whole folios into whole chunks. */
	usleep(20000);
	peer_whole = whole_chunks(peer);
	ASSERT_LE(0, peer_whole) TH_LOG("debugfs p2pmm/slots has no line for provider %u", peer);
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, more, HUGE, self->managed[0], &m)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(HUGE / PAGE, m.migrated);
	EXPECT_EQ((long)(HUGE / PAGE), p2pmm_count_at(self->fd, more, HUGE, self->managed[0]));
	/* Whole folios made the room (one, or two when the policy's victims straddled a boundary). */
	evicted = (long)n - p2pmm_count_at(self->fd, full, cap, self->managed[0]);
	EXPECT_EQ((long)m.evicted, evicted);
	EXPECT_LE((long)(HUGE / PAGE), evicted);
	EXPECT_EQ(0, evicted % (long)(HUGE / PAGE));
	/*
	 * Each evicted folio went whole into the routable peer as far as it had whole chunks free, the rest into
	 * system memory as THPs: 2 MiB folios all.
	 */
	on_peer = p2pmm_count_at(self->fd, full, cap, peer);
	EXPECT_EQ(evicted - on_peer, p2pmm_count_at(self->fd, full, cap, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ((peer_whole * (long)(HUGE / PAGE) < evicted ? peer_whole * (long)(HUGE / PAGE) : evicted), on_peer)
		TH_LOG("the peer had %ld whole chunks free", peer_whole);
	EXPECT_EQ((long)(cap >> 10), anon_huge_kib(full)) TH_LOG("an evicted folio was split");
	EXPECT_EQ(-1, p2p_dma_mismatch(full, cap, 3));
	EXPECT_EQ(-1, p2p_dma_mismatch(more, HUGE, 4));
	munmap(full, cap);
	munmap(more, HUGE);
}

/*
 * When the device goes (unbind), its memory's 2 MiB folios come back to system memory as THPs and its small pages
 * as small pages, among them small pages in a chunk that held a 2 MiB folio before (its free pages still name the
 * old folio's head): nothing is left behind (the unbind would wait for it forever), no byte is lost.
 */
TEST_F(thp, a_device_that_goes_gives_its_folios_back_whole)
{
	uint8_t *big = huge_buffer(2 * HUGE, MADV_HUGEPAGE), *was = huge_buffer(HUGE, MADV_HUGEPAGE);
	uint8_t *small = huge_buffer(HUGE / 2, MADV_NOHUGEPAGE);
	struct p2pmm_migrate m;
	int rc;

	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, was);
	ASSERT_NE(NULL, small);
	p2p_dma_fill(big, 2 * HUGE, 5);
	p2p_dma_fill(was, HUGE, 6);
	p2p_dma_fill(small, HUGE / 2, 7);
	/* A 2 MiB folio there and back leaves its chunk free; the small pages then take half of it. */
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, was, HUGE, self->managed[1], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(2048, anon_huge_kib(was));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, was, HUGE, P2PMM_LOCATION_SYSTEM, &m));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, small, HUGE / 2, self->managed[1], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, p2pmm_migrate_reply(self->fd, big, 2 * HUGE, self->managed[1], &m)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ((long)(HUGE / 2 / PAGE), p2pmm_count_at(self->fd, small, HUGE / 2, self->managed[1]));
	ASSERT_EQ((long)(2 * HUGE / PAGE), p2pmm_count_at(self->fd, big, 2 * HUGE, self->managed[1]));
	ASSERT_EQ(4096, anon_huge_kib(big));
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/unbind", self->device[1])) TH_LOG("unbind %s: %s",
										  self->device[1], strerror(errno));
	EXPECT_EQ((long)(2 * HUGE / PAGE), p2pmm_count_at(self->fd, big, 2 * HUGE, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ((long)(HUGE / 2 / PAGE), p2pmm_count_at(self->fd, small, HUGE / 2, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(4096, anon_huge_kib(big)) TH_LOG("the device's 2 MiB folios came back as small pages");
	EXPECT_EQ(0, anon_huge_kib(small));
	EXPECT_EQ(-1, p2p_dma_mismatch(big, 2 * HUGE, 5));
	EXPECT_EQ(-1, p2p_dma_mismatch(was, HUGE, 6));
	EXPECT_EQ(-1, p2p_dma_mismatch(small, HUGE / 2, 7));
	rc = p2p_dma_write_file(VACCEL "/bind", self->device[1]);
	ASSERT_EQ(0, rc) TH_LOG("bind %s: %s", self->device[1], strerror(errno));
	munmap(big, 2 * HUGE);
	munmap(was, HUGE);
	munmap(small, HUGE / 2);
}

TEST_HARNESS_MAIN
