// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: p2pmm's tracepoints fire with the values the uAPI reported. Enables the "p2pmm" event system in
 * tracefs, migrates a range (with eviction) and asks for a route, then finds the matching p2pmm_migrate,
 * p2pmm_evict and p2pmm_route records in the trace. Needs p2pmm.ko on the default VM topology; run as root.
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
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <lib/test_hmm_uapi.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"

#define TRACEFS "/sys/kernel/tracing"

static char *read_trace(void)
{
	return p2p_dma_slurp(TRACEFS "/trace", 1 << 20);
}

TEST(events_match_what_happened)
{
	struct p2pmm_provider_info p[32];
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = 32, .entry_size = sizeof(p[0]), .entries = (uintptr_t)p,
	};
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	uint32_t managed = 0, other_static = 0;
	uint64_t capacity = 0;
	char expect[256], client[32] = "";
	size_t len;
	uint8_t *buf;
	char *trace;
	struct p2pmm_migrate m = { .size = sizeof(m) };
	struct p2pmm_route r = { .size = sizeof(r) };

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, P2PMM_IOC_PROVIDERS, &req));
	for (unsigned int i = 0; i < req.count && i < 32; i++) {
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && !managed) {
			managed = p[i].id;
			capacity = p[i].capacity;
			snprintf(client, sizeof(client), "%.31s", p[i].device);
		}
	}
	for (unsigned int i = 0; i < req.count && i < 32; i++)
		if (p[i].kind == P2PMM_PROVIDER_STATIC && strcmp(p[i].device, client))
			other_static = p[i].id;
	ASSERT_NE(0, managed);
	ASSERT_NE(0, other_static);

	mkdir(TRACEFS, 0755);
	if (access(TRACEFS "/trace", F_OK))
		ASSERT_EQ(0, mount("nodev", TRACEFS, "tracefs", 0, NULL)) TH_LOG("mount tracefs: %s", strerror(errno));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/trace", "")) TH_LOG("clear the trace");
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/events/p2pmm/enable", "1")) TH_LOG("no p2pmm events in tracefs");

	/* 1.5x the capacity in one request: the last part must evict the first. */
	len = capacity + capacity / 2;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, len);
	usleep(20000);
	m.addr = (uintptr_t)buf;
	m.length = len;
	m.target = managed;
	ASSERT_EQ(0, ioctl(fd, P2PMM_IOC_MIGRATE, &m));
	r.provider = other_static;
	snprintf(r.client, sizeof(r.client), "%.31s", client);
	ASSERT_EQ(0, ioctl(fd, P2PMM_IOC_ROUTE, &r));

	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/events/p2pmm/enable", "0"));
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	snprintf(expect, sizeof(expect), "p2pmm_migrate: target=%u range=%#lx-%#lx migrated=%llu evicted=%llu",
		 managed, (unsigned long)buf, (unsigned long)buf + len, (unsigned long long)m.migrated,
		 (unsigned long long)m.evicted);
	EXPECT_NE(NULL, strstr(trace, expect)) TH_LOG("missing: %s", expect);
	EXPECT_LT(0, m.evicted);
	snprintf(expect, sizeof(expect), "p2pmm_evict: provider=%u", managed);
	EXPECT_NE(NULL, strstr(trace, expect)) TH_LOG("missing: %s", expect);
	snprintf(expect, sizeof(expect), "p2pmm_route: provider=%u client=%s verdict=%u plan=%u reason=%u distance=%d",
		 other_static, client, r.verdict, r.plan, r.reason, r.distance);
	EXPECT_NE(NULL, strstr(trace, expect)) TH_LOG("missing: %s", expect);
	free(trace);
	munmap(buf, len);
	close(fd);
}

/* The mirror layer's notifiers trace both passes: an unmap reaches /dev/p2pmm's advice notifier. */
TEST(notifier_traces_invalidations)
{
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	size_t len = 64 << 10;
	char expect[128], *trace;
	uint8_t *buf;

	ASSERT_LE(0, fd);
	mkdir(TRACEFS, 0755);
	if (access(TRACEFS "/trace", F_OK))
		ASSERT_EQ(0, mount("nodev", TRACEFS, "tracefs", 0, NULL));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/events/p2pmm_notify/enable", "1")) TH_LOG("no p2pmm_notify events");
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 1, len);
	ASSERT_EQ(0, munmap(buf, len));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/events/p2pmm_notify/enable", "0"));
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	/* MMU_NOTIFY_UNMAP is 0. */
	snprintf(expect, sizeof(expect), "invalidate_start: range=%#lx-%#lx event=0 ", (unsigned long)buf,
		 (unsigned long)buf + len);
	EXPECT_NE(NULL, strstr(trace, expect)) TH_LOG("missing: %s", expect);
	free(trace);
	close(fd);
}

/*
 * The mirror device (p2pmm_mirror.ko) is a two-pass importer: unmapping what it mirrors runs its first pass under
 * its lock and a deferred second pass after every notifier of the range had its first. Its notifiers are p2pmm.ko's
 * bindings, so their events are p2pmm_notify's, told from /dev/p2pmm's one-pass advice notifiers by two_pass=1.
 */
TEST(importer_gets_both_passes)
{
	int fd = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
	size_t len = 64 << 10;
	char expect[128], *trace;
	uint8_t *buf, *out = malloc(len);
	struct hmm_dmirror_cmd cmd = { 0 };

	ASSERT_LE(0, fd) TH_LOG("is p2pmm_mirror.ko loaded?");
	ASSERT_NE(NULL, out);
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 7, len);
	cmd.addr = (uintptr_t)buf;
	cmd.ptr = (uintptr_t)out;
	cmd.npages = len / 4096;
	ASSERT_EQ(0, ioctl(fd, HMM_DMIRROR_READ, &cmd)) TH_LOG("the mirror maps the range");
	mkdir(TRACEFS, 0755);
	if (access(TRACEFS "/trace", F_OK))
		ASSERT_EQ(0, mount("nodev", TRACEFS, "tracefs", 0, NULL));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/trace", ""));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/events/p2pmm_notify/enable", "1")) TH_LOG("no p2pmm_notify events");
	ASSERT_EQ(0, munmap(buf, len));
	ASSERT_EQ(0, p2p_dma_write_file(TRACEFS "/events/p2pmm_notify/enable", "0"));
	trace = read_trace();
	ASSERT_NE(NULL, trace);
	snprintf(expect, sizeof(expect), "invalidate_start: range=%#lx-%#lx event=0 owner=0x0 two_pass=1",
		 (unsigned long)buf, (unsigned long)buf + len);
	EXPECT_NE(NULL, strstr(trace, expect)) TH_LOG("missing: %s", expect);
	snprintf(expect, sizeof(expect), "invalidate_finish: range=%#lx-%#lx deferred=1", (unsigned long)buf,
		 (unsigned long)buf + len);
	EXPECT_NE(NULL, strstr(trace, expect)) TH_LOG("missing: %s", expect);
	free(trace);
	free(out);
	close(fd);
}

TEST_HARNESS_MAIN
