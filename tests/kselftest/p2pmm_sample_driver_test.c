// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest of p2pmm's in-kernel API (include/linux/p2pmm.h) used by a driver outside p2pmm.ko: the vaccel on its
 * own root port is handed to p2pmm_sample.ko (drivers/sample, C) by driver_override. Its memory then comes from
 * that driver's p2pmm_register_static()/p2pmm_register_managed(): the providers are listed, static memory maps
 * and holds data, managed memory takes a process's pages; when p2pmm_sample unbinds, its providers go, static
 * mappings get SIGBUS and the managed data comes back to system memory. Then the vaccel gets the device back.
 *
 * The second test lends the driver's copy engine (QEMU's edu, a DMA master, function 1 of the switch accelerator's
 * slot) to the managed memory of function 0: pages that move between it and a peer provider below the switch are
 * copied by the engine, in both directions; a failing engine and a peer the engine cannot reach (across the host
 * bridge) leave the copy to the CPU. The providers' copied_by_engine and copied_by_cpu counters tell which one did,
 * and every byte is compared. The third lends the same engine from a Rust driver: p2pmm_vaccel, given the edu by
 * driver_override, lends it to the vaccel of its slot through include/rust/p2pmm.rs, and takes it back when the
 * edu unbinds.
 *
 * Needs p2pmm.ko, p2pmm_vaccel.ko and p2pmm_sample.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_fault.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_topo.h"

#define PCI "/sys/bus/pci"
#define LEN (1 << 20)

/* The name of the driver bound to PCI device `dev` ("" for none). */
static void driver_of(const char *dev, char *out, size_t len)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), PCI "/devices/%s/driver", dev);
	n = readlink(path, link, sizeof(link) - 1);
	out[0] = 0;
	if (n > 0) {
		link[n] = 0;
		snprintf(out, len, "%s", strrchr(link, '/') + 1);
	}
}

/* Binds `dev` to `driver` (unbinding it from `from` first), by driver_override. 0 or -1. */
/* Has the PCI core probe unbound @dev for @driver alone (its driver_override), or for any driver ("\n"). */
static int rebind_unbound(const char *dev, const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI "/devices/%s/driver_override", dev);
	if (p2p_dma_write_file(path, driver))
		return -1;
	return p2p_dma_write_file(PCI "/drivers_probe", dev);
}

static int rebind(const char *dev, const char *from, const char *driver)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI "/drivers/%s/unbind", from);
	if (p2p_dma_write_file(path, dev))
		return -1;
	return rebind_unbound(dev, driver);
}

TEST(a_driver_outside_p2pmm_offers_its_memory)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC), n;
	uint32_t st, managed, vaccel_st, vaccel_managed;
	char dev[32] = "", drv[64], path[96], engine[64];
	uint8_t *bar, *data;

	ASSERT_LE(0, fd);
	n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
	ASSERT_LT(0, n);
	/* The vaccel on the highest bus: the one on its own root port. */
	for (int i = 0; i < n; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && strcmp(p[i].device, dev) > 0)
			snprintf(dev, sizeof(dev), "%s", p[i].device);
	ASSERT_NE(0, dev[0]);
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &vaccel_st, &vaccel_managed));

	ASSERT_EQ(0, rebind(dev, "p2pmm_vaccel", "p2pmm_sample")) TH_LOG("%s to p2pmm_sample: %s", dev,
									 strerror(errno));
	driver_of(dev, drv, sizeof(drv));
	ASSERT_STREQ("p2pmm_sample", drv);
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &st, &managed));
	ASSERT_NE(0, st) TH_LOG("p2pmm_sample registered no static memory on %s", dev);
	ASSERT_NE(0, managed);
	/*
	 * New providers, the sample's: its managed memory has the sample's copy engine (the edu), which the vaccel's
	 * never had. (Not the ids: they are handed out in turn and reused, so the freed ones can come back at once.)
	 */
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/copy_engine", managed);
	ASSERT_EQ(0, p2p_dma_read_line(path, engine, sizeof(engine))) TH_LOG("%s: %s", path, strerror(errno));
	EXPECT_STRNE("none", engine) TH_LOG("provider %u (was %u, %u) is not the sample's", managed, vaccel_st,
					    vaccel_managed);

	bar = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(st));
	ASSERT_NE(MAP_FAILED, bar) TH_LOG("mmap static memory of provider %u: %s", st, strerror(errno));
	p2p_dma_fill(bar, LEN, 61);
	EXPECT_EQ(-1, p2p_dma_mismatch(bar, LEN, 61));
	data = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, data);
	p2p_dma_fill(data, LEN, 62);
	ASSERT_LE(0, p2pmm_migrate(fd, data, LEN, managed));
	EXPECT_EQ(LEN / 4096, p2pmm_count_at(fd, data, LEN, managed));

	/* The driver goes: its memory is revoked and evicted, as p2pmm's own driver's is. */
	ASSERT_EQ(0, p2p_dma_write_file(PCI "/drivers/p2pmm_sample/unbind", dev));
	/* The list still works (the other devices' providers), without this device's. */
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &st, &managed));
	EXPECT_EQ(0, st);
	EXPECT_EQ(0, managed);
	EXPECT_EQ(SIGBUS, p2pmm_read_faults(bar));
	EXPECT_EQ(LEN / 4096, p2pmm_count_at(fd, data, LEN, P2PMM_LOCATION_SYSTEM));
	EXPECT_EQ(-1, p2p_dma_mismatch(data, LEN, 62));
	munmap(bar, LEN);
	munmap(data, LEN);

	/* The vaccel takes the device back. */
	{
		char path[PATH_MAX];

		snprintf(path, sizeof(path), PCI "/devices/%s/driver_override", dev);
		ASSERT_EQ(0, p2p_dma_write_file(path, "\n"));
		ASSERT_EQ(0, p2p_dma_write_file(PCI "/drivers/p2pmm_vaccel/bind", dev));
	}
	driver_of(dev, drv, sizeof(drv));
	EXPECT_STREQ("p2pmm_vaccel", drv);
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &st, &managed));
	EXPECT_NE(0, st);
	EXPECT_NE(0, managed);
	close(fd);
}

/* A provider's file in /sys/kernel/p2pmm as a number, or -1. */
static long long provider_count(uint32_t id, const char *file)
{
	char path[PATH_MAX], line[64];

	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/%s", id, file);
	if (p2p_dma_read_line(path, line, sizeof(line)))
		return -1;
	return strtoll(line, NULL, 10);
}

/* Whether the trace buffer holds a line containing `what`. */
static int traced(const char *what)
{
	char line[512];
	FILE *f = fopen(P2P_DMA_TRACEFS "/trace", "r");
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	if (f)
		fclose(f);
	return found;
}

#define ENGINE_LEN (16 * 4096)
#define COPY_EVENT P2P_DMA_TRACEFS "/events/p2pmm/p2pmm_copy/enable"
#define ENGINE_FAIL "/sys/module/p2pmm_sample/parameters/engine_fail"

/* Moves data (ENGINE_LEN bytes) to provider `to` and checks who copied: by_engine and by_cpu pages more there. */
#define MOVE_AND_COUNT(fd, data, to, by_engine, by_cpu)                                              \
	do {                                                                                         \
		long long e0 = provider_count(to, "copied_by_engine");                               \
		long long c0 = provider_count(to, "copied_by_cpu");                                  \
		ASSERT_LE(0, e0);                                                                    \
		ASSERT_LE(0, p2pmm_migrate(fd, data, ENGINE_LEN, to)) TH_LOG("to %u: %s", to, strerror(errno)); \
		EXPECT_EQ(ENGINE_LEN / 4096, p2pmm_count_at(fd, data, ENGINE_LEN, to));              \
		EXPECT_EQ(e0 + (by_engine), provider_count(to, "copied_by_engine"));                 \
		EXPECT_EQ(c0 + (by_cpu), provider_count(to, "copied_by_cpu"));                       \
	} while (0)

/*
 * The copy engine of the default VM (the edu, which p2pmm_sample drives) in @edu, the accelerator of its slot
 * (function 0) in @dev, and a managed provider below the switch beside it (@peer) and one across the host bridge
 * (@far): NULL, or what is missing.
 */
static const char *engine_rig(int fd, char *edu, char *dev, uint32_t *peer, uint32_t *far)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	char drv[64];
	int n;

	*peer = *far = 0;
	p2pmm_find_pci("0x1234", "0x11e8", edu, 32);
	if (!edu[0])
		return "no edu device (the default VM has one beside the switch accelerator)";
	driver_of(edu, drv, sizeof(drv));
	if (strcmp(drv, "p2pmm_sample"))
		return "the edu is not p2pmm_sample's";
	snprintf(dev, 32, "%.*s0", (int)strlen(edu) - 1, edu);
	n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		if (p[i].kind != P2PMM_PROVIDER_MANAGED || !strcmp(p[i].device, dev))
			continue;
		if (share_bridge(dev, p[i].device) == 1)
			*peer = p[i].id;
		else
			*far = p[i].id;
	}
	if (!*peer)
		return "no managed provider below the switch beside the edu's accelerator";
	return *far ? NULL : "no managed provider across the host bridge";
}

/* The copy_engine file of provider @id in @line: 0 or -1. */
static int engine_of(uint32_t id, char *line, size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/copy_engine", id);
	return p2p_dma_read_line(path, line, len);
}

/* Provider @managed has @engine (a PCI name) as its copy engine, provider @peer none. */
#define EXPECT_ENGINES(managed, engine, peer)                                                         \
	do {                                                                                          \
		char l_[96];                                                                          \
		ASSERT_EQ(0, engine_of(managed, l_, sizeof(l_)));                                     \
		EXPECT_STREQ(engine, l_);                                                             \
		ASSERT_EQ(0, engine_of(peer, l_, sizeof(l_)));                                        \
		EXPECT_STREQ("none", l_);                                                             \
	} while (0)

/* ENGINE_LEN bytes of new anonymous memory holding the pattern of @seed, or MAP_FAILED. */
static uint8_t *filled(unsigned int seed)
{
	uint8_t *data = mmap(NULL, ENGINE_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (data != MAP_FAILED)
		p2p_dma_fill(data, ENGINE_LEN, seed);
	return data;
}

TEST(a_copy_engine_moves_pages_between_providers)
{
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	uint32_t st, managed, peer, far;
	char edu[32], dev[32], path[PATH_MAX], line[96];
	const char *why;
	uint8_t *data;

	ASSERT_LE(0, fd);
	why = engine_rig(fd, edu, dev, &peer, &far);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);

	ASSERT_EQ(0, rebind(dev, "p2pmm_vaccel", "p2pmm_sample")) TH_LOG("%s: %s", dev, strerror(errno));
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &st, &managed));
	ASSERT_NE(0, managed);
	EXPECT_ENGINES(managed, edu, peer);
	data = filled(71);
	ASSERT_NE(MAP_FAILED, data);
	/* From system memory: a CPU copy, not between providers, so counted by neither. */
	MOVE_AND_COUNT(fd, data, peer, 0, 0);
	/* Peer to the engine's memory: the engine pulls, and the tracepoint names it. */
	ASSERT_EQ(0, p2p_dma_trace(0));
	ASSERT_EQ(0, p2p_dma_trace_clear());
	ASSERT_EQ(0, p2p_dma_write_file(COPY_EVENT, "1"));
	MOVE_AND_COUNT(fd, data, managed, ENGINE_LEN / 4096, 0);
	ASSERT_EQ(0, p2p_dma_write_file(COPY_EVENT, "0"));
	snprintf(line, sizeof(line), "to=%s by=%s pages=16", dev, edu);
	EXPECT_TRUE(traced(line)) TH_LOG("no p2pmm_copy record \"%s\"", line);
	EXPECT_EQ(-1, p2p_dma_mismatch(data, ENGINE_LEN, 71)) TH_LOG("data after the engine's pull");
	MOVE_AND_COUNT(fd, data, managed, 0, 0);
	/* Out to the peer, which has no engine: this memory's engine pushes. */
	MOVE_AND_COUNT(fd, data, peer, ENGINE_LEN / 4096, 0);
	/* A failing engine: the CPU copies the batch again. */
	ASSERT_EQ(0, p2p_dma_write_file(ENGINE_FAIL, "1"));
	MOVE_AND_COUNT(fd, data, managed, 0, ENGINE_LEN / 4096);
	ASSERT_EQ(0, p2p_dma_write_file(ENGINE_FAIL, "0"));
	/* A peer across the host bridge, which the engine cannot reach: the CPU copies. */
	MOVE_AND_COUNT(fd, data, far, 0, ENGINE_LEN / 4096);
	EXPECT_EQ(-1, p2p_dma_mismatch(data, ENGINE_LEN, 71)) TH_LOG("data after every move");

	/* The memory goes back to the vaccel, without the engine. */
	ASSERT_EQ(0, p2p_dma_write_file(PCI "/drivers/p2pmm_sample/unbind", dev));
	snprintf(path, sizeof(path), PCI "/devices/%s/driver_override", dev);
	ASSERT_EQ(0, p2p_dma_write_file(path, "\n"));
	ASSERT_EQ(0, p2p_dma_write_file(PCI "/drivers/p2pmm_vaccel/bind", dev));
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &st, &managed));
	EXPECT_NE(0, managed);
	munmap(data, ENGINE_LEN);
	close(fd);
}

/*
 * The same engine lent by a Rust driver: the edu handed to p2pmm_vaccel (by driver_override; it is not in vaccel's
 * id table) is lent, through include/rust/p2pmm.rs's LentEngine, to the managed memory of the vaccel in its slot.
 * Moves to and from the peer are the engine's; when the edu unbinds, vaccel's drop takes it back, and the CPU
 * copies again. Then p2pmm_sample gets the edu back.
 */
TEST(a_rust_driver_lends_its_copy_engine)
{
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	uint32_t st, managed, peer, far;
	char edu[32], dev[32], line[64];
	const char *why;
	uint8_t *data;

	ASSERT_LE(0, fd);
	why = engine_rig(fd, edu, dev, &peer, &far);
	ASSERT_EQ(NULL, why) TH_LOG("%s", why);
	ASSERT_LT(0, p2pmm_providers_of(fd, dev, &st, &managed));
	ASSERT_NE(0, managed) TH_LOG("%s has no managed provider", dev);
	ASSERT_EQ(0, engine_of(managed, line, sizeof(line)));
	ASSERT_STREQ("none", line);

	ASSERT_EQ(0, rebind(edu, "p2pmm_sample", "p2pmm_vaccel")) TH_LOG("%s: %s", edu, strerror(errno));
	driver_of(edu, line, sizeof(line));
	ASSERT_STREQ("p2pmm_vaccel", line);
	EXPECT_ENGINES(managed, edu, peer);
	data = filled(73);
	ASSERT_NE(MAP_FAILED, data);
	MOVE_AND_COUNT(fd, data, peer, 0, 0);
	/* Peer to the engine's memory: the engine pulls; and back: it pushes. */
	MOVE_AND_COUNT(fd, data, managed, ENGINE_LEN / 4096, 0);
	MOVE_AND_COUNT(fd, data, peer, ENGINE_LEN / 4096, 0);
	/* The CPU's read faults the pages back to system memory. */
	EXPECT_EQ(-1, p2p_dma_mismatch(data, ENGINE_LEN, 73)) TH_LOG("data after the engine's copies");

	/* The edu goes: the engine is taken back, and the CPU copies. */
	ASSERT_EQ(0, p2p_dma_write_file(PCI "/drivers/p2pmm_vaccel/unbind", edu));
	ASSERT_EQ(0, engine_of(managed, line, sizeof(line)));
	EXPECT_STREQ("none", line);
	MOVE_AND_COUNT(fd, data, peer, 0, 0);
	MOVE_AND_COUNT(fd, data, managed, 0, ENGINE_LEN / 4096);
	EXPECT_EQ(-1, p2p_dma_mismatch(data, ENGINE_LEN, 73)) TH_LOG("data after every move");
	munmap(data, ENGINE_LEN);

	/* p2pmm_sample, which has the edu in its ids, gets its engine back. */
	ASSERT_EQ(0, rebind_unbound(edu, "\n")) TH_LOG("%s: %s", edu, strerror(errno));
	driver_of(edu, line, sizeof(line));
	EXPECT_STREQ("p2pmm_sample", line);
	close(fd);
}

TEST_HARNESS_MAIN
