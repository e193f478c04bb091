// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: the administrator's route policy. Runs only with p2pmm.ko loaded as
 *   insmod p2pmm.ko route_max_distance=3 route_allow_host_bridge=0
 * (tests/guest/init.sh does so after the main kselftests): on the default VM topology the two vaccels below the
 * PCIe switch are at p2pdma distance 4, so their direct routes become "too far", their managed memory bounces,
 * their static memory is refused, and a full provider no longer evicts into its neighbour.
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
#include "p2pmm_topo.h"

#define P2PMM_DEV "/dev/p2pmm"
#define PAGE 4096UL
#define MAX_PROVIDERS 32
#define MAX_DISTANCE 3 /* what init.sh loads the module with */
/* No provider id and no location: a page QUERY left alone never counts as placed anywhere. */
#define UNWRITTEN_LOC 0xa5a5a5a5U

static int providers(int fd, struct p2pmm_provider_info *out, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*out), .entries = (uintptr_t)out,
	};

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		return -1;
	return req.count < (uint32_t)room ? (int)req.count : room;
}

FIXTURE(pol) {
	int fd;
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	int n;
};

FIXTURE_SETUP(pol)
{
	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
	self->n = providers(self->fd, self->p, MAX_PROVIDERS);
	ASSERT_LT(0, self->n);
}

FIXTURE_TEARDOWN(pol)
{
	close(self->fd);
}

/*
 * Every (client, provider) pair: p2pdma's verdict and distance are reported unchanged, and the plan follows the
 * policy: a bus-address path longer than MAX_DISTANCE is too far (managed memory bounces, static memory is
 * refused), a shorter one (a device and its own memory) stays direct, and no route through the host bridge is
 * direct.
 */
TEST_F(pol, plans_follow_the_policy)
{
	int too_far = 0, direct = 0;

	for (int i = 0; i < self->n; i++) {
		for (int j = 0; j < self->n; j++) {
			struct p2pmm_route r;
			int managed = self->p[j].kind == P2PMM_PROVIDER_MANAGED;

			ASSERT_EQ(0, route(self->fd, self->p[j].id, self->p[i].device, &r)) TH_LOG("%s", strerror(errno));
			if (r.verdict == P2PMM_ROUTE_BUS_ADDR && r.distance > MAX_DISTANCE) {
				EXPECT_EQ(P2PMM_REASON_TOO_FAR, r.reason)
					TH_LOG("%s -> %u at distance %d", self->p[i].device, self->p[j].id, r.distance);
				EXPECT_EQ(managed ? P2PMM_PLAN_BOUNCE : P2PMM_PLAN_REFUSED, r.plan);
				too_far++;
			} else if (r.verdict == P2PMM_ROUTE_BUS_ADDR) {
				EXPECT_EQ(P2PMM_PLAN_DIRECT, r.plan);
				EXPECT_EQ(P2PMM_REASON_NONE, r.reason);
				direct++;
			} else if (r.verdict == P2PMM_ROUTE_HOST_BRIDGE) {
				EXPECT_EQ(P2PMM_REASON_HOST_BRIDGE_DISALLOWED, r.reason);
			} else {
				EXPECT_NE(P2PMM_PLAN_DIRECT, r.plan);
			}
		}
	}
	TH_LOG("%d pairs too far, %d direct", too_far, direct);
	EXPECT_LT(0, too_far) TH_LOG("the vaccels below the switch are at distance 4");
	EXPECT_LT(0, direct) TH_LOG("a device reaches its own memory at distance 0");
}

/* /sys/kernel/p2pmm/routes reports the same plans. */
TEST_F(pol, sysfs_routes_show_the_policy)
{
	char buf[16384];
	int fd = open("/sys/kernel/p2pmm/routes", O_RDONLY);
	ssize_t len;

	ASSERT_LE(0, fd);
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, len);
	buf[len] = 0;
	EXPECT_NE(NULL, strstr(buf, "too-far")) TH_LOG("%s", buf);
}

/*
 * A full provider evicts into a peer only over a route the policy allows: with its neighbour too far, every victim
 * goes to system memory, and the data stays intact.
 */
TEST_F(pol, eviction_skips_a_peer_the_policy_rules_out)
{
	struct p2pmm_provider_info *a = NULL, *b = NULL;
	const size_t chunk = 1 << 20;
	uint64_t evicted = 0;
	size_t len, pages, on_b = 0, in_sys = 0;
	uint32_t *loc;
	uint8_t *buf;

	/* A managed pair at bus-address distance above the limit: the two vaccels below the switch. */
	for (int i = 0; i < self->n && !b; i++) {
		for (int j = 0; j < self->n && !b; j++) {
			struct p2pmm_route r;

			if (i == j || self->p[i].kind != P2PMM_PROVIDER_MANAGED ||
			    self->p[j].kind != P2PMM_PROVIDER_MANAGED)
				continue;
			ASSERT_EQ(0, route(self->fd, self->p[j].id, self->p[i].device, &r));
			if (r.verdict == P2PMM_ROUTE_BUS_ADDR && r.reason == P2PMM_REASON_TOO_FAR) {
				a = &self->p[i];
				b = &self->p[j];
			}
		}
	}
	ASSERT_NE(NULL, b) TH_LOG("the default topology has two vaccels below one switch");
	ASSERT_EQ(0, a->used);
	ASSERT_EQ(0, b->used);
	len = a->capacity + chunk;
	pages = len / PAGE;
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	loc = calloc(pages, sizeof(*loc));
	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_NE(NULL, loc);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + i / PAGE);
	for (size_t off = 0; off < len; off += chunk) {
		struct p2pmm_migrate m = {
			.size = sizeof(m), .addr = (uintptr_t)(buf + off), .length = chunk, .target = a->id,
		};

		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_MIGRATE, &m)) TH_LOG("%s", strerror(errno));
		evicted += m.evicted;
		usleep(2000); /* past the minimum residency: earlier pages become victims */
	}
	{
		struct p2pmm_query q = {
			.size = sizeof(q), .addr = (uintptr_t)buf, .length = len, .locations = (uintptr_t)loc,
		};

		/* calloc's zeros are P2PMM_LOCATION_SYSTEM: only what the kernel writes counts. */
		for (size_t i = 0; i < pages; i++)
			loc[i] = UNWRITTEN_LOC;
		ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_QUERY, &q)) TH_LOG("%s", strerror(errno));
	}
	for (size_t i = 0; i < pages; i++) {
		ASSERT_NE(UNWRITTEN_LOC, loc[i]) TH_LOG("no location for page %zu", i);
		on_b += loc[i] == b->id;
		in_sys += loc[i] == P2PMM_LOCATION_SYSTEM;
	}
	TH_LOG("%llu evicted; on the neighbour: %zu, in system memory: %zu", (unsigned long long)evicted, on_b, in_sys);
	EXPECT_LT(0, evicted) TH_LOG("one chunk more than the capacity must evict");
	EXPECT_EQ(0, on_b) TH_LOG("the neighbour is too far for the policy");
	EXPECT_LE(evicted, in_sys);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(i * 7 + i / PAGE)) {
			EXPECT_EQ(-1, (long)i) TH_LOG("byte %zu differs", i);
			break;
		}
	munmap(buf, len);
	free(loc);
}

TEST_HARNESS_MAIN
