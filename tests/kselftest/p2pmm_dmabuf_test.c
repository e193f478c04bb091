// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest of P2PMM_IOC_DMABUF: static memory a process mapped, exported as a dma-buf and imported by a device
 * driver, p2pmm_sample's importer (/dev/p2pmm_sample, include/uapi/linux/p2pmm_sample.h), whose DMA engine is
 * QEMU's edu on function 1 of the switch accelerator's slot. The edu DMAs pages out of and into the dma-buf at the
 * bus addresses the export hands out (inside the vaccel's BAR on function 0: P2P, no bounce), and every byte is
 * compared with what the process sees through its mapping. The dma-buf keeps its memory after munmap; importers
 * without P2P or without a route are refused at attach; unbinding the vaccel revokes the dma-buf: every importer,
 * dynamic or pinned, is told and unmaps before the unbind returns, and later mappings fail. The same importer
 * takes a udmabuf (memfd pages), a dma-buf of the kernel's own, to show it is a plain dma-buf importer.
 *
 * Managed memory allocated as a dma-buf (P2PMM_DMABUF_MANAGED) on the same vaccel: the edu reaches it in the BAR;
 * when the provider needs the room, the dma-buf moves to system memory whole, the importer is told and maps the
 * system pages, and every byte the edu wrote is still there; a pinned dma-buf stays put under that pressure and is
 * moved (its importer told) when the vaccel unbinds.
 *
 * Needs p2pmm.ko and p2pmm_sample.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/udmabuf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <linux/p2pmm_sample.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_dmabuf.h"
#include "p2pmm_fault.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_topo.h"

#define PCI "/sys/bus/pci"
#define VACCEL "/sys/bus/pci/drivers/p2pmm_vaccel"
#define PAGE 4096
#define LEN (64 * PAGE)

FIXTURE(dmabuf)
{
	int fd;
	char edu[32];
	char dev[32];		/* the switch accelerator, function 0 of the edu's slot */
	uint32_t st;		/* its static provider: the edu reaches it below the switch */
	char far[32];		/* the vaccel on its own root port */
	uint32_t far_st;	/* its static provider: out of the edu's reach */
	uint32_t mg;		/* the switch accelerator's managed provider */
	uint32_t far_mg;	/* the far vaccel's managed provider */
	uint8_t *mem;		/* LEN bytes of st, mapped */
};

FIXTURE_SETUP(dmabuf)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	char drv[PATH_MAX], path[PATH_MAX];
	struct p2pmm_route r;
	ssize_t l;
	int n;

	self->fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
	p2pmm_find_pci("0x1234", "0x11e8", self->edu, sizeof(self->edu));
	ASSERT_NE(0, self->edu[0]) TH_LOG("no edu device (the default VM has one beside the switch accelerator)");
	snprintf(path, sizeof(path), PCI "/devices/%s/driver", self->edu);
	l = readlink(path, drv, sizeof(drv) - 1);
	ASSERT_LT(0, l) TH_LOG("%s has no driver", self->edu);
	drv[l] = 0;
	ASSERT_STREQ("p2pmm_sample", strrchr(drv, '/') + 1);
	snprintf(self->dev, sizeof(self->dev), "%.*s0", (int)strlen(self->edu) - 1, self->edu);
	n = list_providers(self->fd, p, P2P_DMA_MAX_PROVIDERS);
	ASSERT_LT(0, n);
	self->st = self->far_st = self->mg = self->far_mg = 0;
	self->far[0] = 0;
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		if (p[i].kind == P2PMM_PROVIDER_MANAGED) {
			ASSERT_EQ(0, route(self->fd, p[i].id, self->edu, &r));
			if (!strcmp(p[i].device, self->dev))
				self->mg = p[i].id;
			if (r.verdict == P2PMM_ROUTE_NOT_SUPPORTED)
				self->far_mg = p[i].id;
		}
		if (p[i].kind != P2PMM_PROVIDER_STATIC || (p[i].flags & P2PMM_PROVIDER_F_ADOPTED))
			continue;
		ASSERT_EQ(0, route(self->fd, p[i].id, self->edu, &r));
		if (!strcmp(p[i].device, self->dev) && r.verdict == P2PMM_ROUTE_BUS_ADDR)
			self->st = p[i].id;
		if (r.verdict == P2PMM_ROUTE_NOT_SUPPORTED) {
			self->far_st = p[i].id;
			snprintf(self->far, sizeof(self->far), "%.31s", p[i].device);
		}
	}
	ASSERT_NE(0, self->st) TH_LOG("no static provider on %s that %s reaches by bus address", self->dev,
				      self->edu);
	self->mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->st));
	ASSERT_NE(MAP_FAILED, self->mem) TH_LOG("mmap of provider %u: %s", self->st, strerror(errno));
	p2p_dma_fill(self->mem, LEN, 7);
}

FIXTURE_TEARDOWN(dmabuf)
{
	munmap(self->mem, LEN);
	close(self->fd);
}

/* The edu reads and writes the exported pages by P2P DMA; the dma-buf keeps its memory after munmap. */
TEST_F(dmabuf, a_device_dmas_to_and_from_exported_static_memory)
{
	uint8_t *page = malloc(PAGE), *want = malloc(PAGE);
	struct p2pmm_sample_status st;
	char want_line[256], *json;
	struct stat sb;
	int buf, sfd;

	ASSERT_NE(NULL, page);
	ASSERT_NE(NULL, want);
	/* Pages 2..5 of the mapping. */
	buf = export_dmabuf(self->fd, self->mem + 2 * PAGE, 4 * PAGE, P2PMM_DMABUF_CLOEXEC);
	ASSERT_LE(0, buf) TH_LOG("P2PMM_IOC_DMABUF: %s", strerror(-buf));
	EXPECT_EQ(4 * PAGE, lseek(buf, 0, SEEK_END));
	EXPECT_EQ(FD_CLOEXEC, fcntl(buf, F_GETFD) & FD_CLOEXEC);
	sfd = import_dmabuf(buf, 0);
	ASSERT_LE(0, sfd) TH_LOG("import: %s", strerror(-sfd));

	for (int i = 0; i < 4; i += 3) {
		int pg = i;

		memset(page, 0, PAGE);
		ASSERT_EQ(0, dma_page(sfd, pg * PAGE, page, 0));
		EXPECT_EQ(0, memcmp(page, self->mem + (2 + pg) * PAGE, PAGE)) {
			TH_LOG("page %d of the dma-buf differs from page %d of the mapping", pg, 2 + pg);
		}
	}
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(4 * PAGE, st.size);
	EXPECT_EQ(1, st.maps);
	EXPECT_EQ(1, st.mapped);
	EXPECT_EQ(0, st.invalidations);
	/* p2pmmctl lists the dma-buf, its provider and its importer (from the kernel's bufinfo). */
	ASSERT_EQ(0, fstat(buf, &sb));
	ASSERT_EQ(0, system("p2pmmctl dmabufs --json > /tmp/p2pmm_dmabufs.json"));
	json = p2p_dma_slurp("/tmp/p2pmm_dmabufs.json", 1 << 16);
	ASSERT_NE(NULL, json);
	snprintf(want_line, sizeof(want_line), "\"inode\": %llu,\n      \"bytes\": %d,\n      \"provider\": %u,",
		 (unsigned long long)sb.st_ino, 4 * PAGE, self->st);
	EXPECT_NE(NULL, strstr(json, want_line)) TH_LOG("no %s in %s", want_line, json);
	snprintf(want_line, sizeof(want_line), "\"importers\": [\n        \"%s\"\n      ]", self->edu);
	EXPECT_NE(NULL, strstr(json, want_line)) TH_LOG("no %s in %s", want_line, json);
	free(json);
	/* A bus address inside the vaccel's BAR: the edu reached the memory by P2P, nothing bounced. */
	EXPECT_TRUE(p2pmm_in_a_bar(self->dev, st.dma_addr)) TH_LOG("DMA address %#" PRIx64 " is not in a BAR of %s",
							     (uint64_t)st.dma_addr, self->dev);

	p2p_dma_fill(want, PAGE, 99);
	ASSERT_EQ(0, dma_page(sfd, 1 * PAGE, want, 1));
	EXPECT_EQ(0, memcmp(want, self->mem + 3 * PAGE, PAGE)) TH_LOG("the device's write is not in the mapping");

	/* The mapping goes; the dma-buf holds the memory, and its data. */
	memcpy(want, self->mem + 5 * PAGE, PAGE);
	ASSERT_EQ(0, munmap(self->mem, LEN));
	self->mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->st));
	ASSERT_NE(MAP_FAILED, self->mem);
	memset(self->mem, 0, LEN);
	memset(page, 0, PAGE);
	ASSERT_EQ(0, dma_page(sfd, 3 * PAGE, page, 0));
	EXPECT_EQ(0, memcmp(page, want, PAGE)) TH_LOG("the dma-buf lost its data with the mapping");
	close(sfd);
	close(buf);
	free(page);
	free(want);
}

/* Memory mapped from the provider's allocate file (at offset 0, as fio maps a file) exports the same way. */
TEST_F(dmabuf, an_allocate_file_mapping_exports_too)
{
	uint8_t *mem, *page = malloc(PAGE);
	char path[PATH_MAX];
	int afd, buf, sfd;

	ASSERT_NE(NULL, page);
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/by-device/%s/allocate", self->dev);
	afd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, afd) TH_LOG("%s: %s", path, strerror(errno));
	mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	ASSERT_NE(MAP_FAILED, mem) TH_LOG("mmap %s: %s", path, strerror(errno));
	close(afd);
	p2p_dma_fill(mem, 2 * PAGE, 11);
	buf = export_dmabuf(self->fd, mem + PAGE, PAGE, 0);
	ASSERT_LE(0, buf) TH_LOG("P2PMM_IOC_DMABUF of the allocate file's mapping: %s", strerror(-buf));
	sfd = import_dmabuf(buf, 0);
	ASSERT_LE(0, sfd) TH_LOG("import: %s", strerror(-sfd));
	memset(page, 0, PAGE);
	ASSERT_EQ(0, dma_page(sfd, 0, page, 0));
	EXPECT_EQ(0, memcmp(page, mem + PAGE, PAGE));
	close(sfd);
	close(buf);
	munmap(mem, 2 * PAGE);
	free(page);
}

/* An importer that cannot take P2P memory, and one without a route to the provider, are refused at attach. */
TEST_F(dmabuf, importers_without_p2p_or_a_route_are_refused)
{
	int buf, sfd;
	uint8_t *far;

	buf = export_dmabuf(self->fd, self->mem, PAGE, 0);
	ASSERT_LE(0, buf);
	EXPECT_EQ(0, fcntl(buf, F_GETFD) & FD_CLOEXEC);
	sfd = import_dmabuf(buf, P2PMM_SAMPLE_NO_P2P);
	EXPECT_EQ(-EOPNOTSUPP, sfd);
	if (sfd >= 0)
		close(sfd);
	close(buf);

	if (!self->far_st)
		SKIP(return, "no static provider the edu cannot reach");
	far = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->far_st));
	ASSERT_NE(MAP_FAILED, far);
	buf = export_dmabuf(self->fd, far, PAGE, 0);
	ASSERT_LE(0, buf);
	sfd = import_dmabuf(buf, 0);
	EXPECT_EQ(-EREMOTEIO, sfd) TH_LOG("the edu has no route to %s (provider %u)", self->far, self->far_st);
	if (sfd >= 0)
		close(sfd);
	close(buf);
	munmap(far, PAGE);
}

/* Each bad request gets its documented errno, and a failed export installs no descriptor. */
TEST_F(dmabuf, bad_exports_get_their_errnos)
{
	struct p2pmm_dmabuf *ro;
	uint8_t *anon, *rd, *second, *area;
	int buf, next;

	EXPECT_EQ(-EINVAL, export_dmabuf(self->fd, self->mem, PAGE, 2));
	EXPECT_EQ(-EINVAL, export_dmabuf(self->fd, self->mem + 1, PAGE, 0));
	EXPECT_EQ(-EINVAL, export_dmabuf(self->fd, self->mem, PAGE / 2, 0));
	EXPECT_EQ(-EINVAL, export_dmabuf(self->fd, self->mem, 0, 0));
	/* Past a mapping: into nothing, then into another mapping. Four pages of address space reserved for them. */
	area = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ASSERT_EQ(area, mmap(area, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, self->fd,
			     P2PMM_MMAP_OFFSET(self->st)));
	ASSERT_EQ(0, munmap(area + 2 * PAGE, 2 * PAGE));
	EXPECT_EQ(-ENOMEM, export_dmabuf(self->fd, area, 3 * PAGE, 0));
	second = mmap(area + 2 * PAGE, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, self->fd,
		      P2PMM_MMAP_OFFSET(self->st));
	ASSERT_EQ(area + 2 * PAGE, second);
	EXPECT_EQ(-EINVAL, export_dmabuf(self->fd, area, 3 * PAGE, 0));
	/* Each whole mapping is fine, and so is a range inside one. */
	buf = export_dmabuf(self->fd, second, 2 * PAGE, 0);
	EXPECT_LE(0, buf);
	close(buf);
	munmap(area, 4 * PAGE);
	anon = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	anon[0] = 1;
	EXPECT_EQ(-EOPNOTSUPP, export_dmabuf(self->fd, anon, PAGE, 0)) TH_LOG("only static memory is exported");
	munmap(anon, PAGE);
	rd = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(self->st));
	ASSERT_NE(MAP_FAILED, rd);
	EXPECT_EQ(-EACCES, export_dmabuf(self->fd, rd, PAGE, 0)) TH_LOG("a read-only mapping made writable");
	munmap(rd, PAGE);

	/* The argument is readable but not writable: EFAULT, and no descriptor is left behind. */
	ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	*ro = (struct p2pmm_dmabuf){ .size = sizeof(*ro), .addr = (uintptr_t)self->mem, .length = PAGE };
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ));
	next = dup(0);
	ASSERT_LE(0, next);
	close(next);
	EXPECT_EQ(-1, ioctl(self->fd, P2PMM_IOC_DMABUF, ro));
	EXPECT_EQ(EFAULT, errno);
	buf = dup(0);
	EXPECT_EQ(next, buf) TH_LOG("a failed export left descriptor %d open", next);
	close(buf);
	munmap(ro, PAGE);

	/* The dma-buf is for devices: the CPU maps the memory where it was exported from. */
	buf = export_dmabuf(self->fd, self->mem, PAGE, 0);
	ASSERT_LE(0, buf);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, buf, 0));
	EXPECT_EQ(EINVAL, errno);
	close(buf);
}

/* Unbinding the vaccel revokes the dma-buf: dynamic and pinned importers are told and unmap before it returns. */
TEST_F_TIMEOUT(dmabuf, revocation_reaches_every_attachment, 120)
{
	struct p2pmm_sample_status st;
	uint8_t *page = malloc(PAGE);
	int buf, dyn, pinned;
	double t0;

	ASSERT_NE(NULL, page);
	buf = export_dmabuf(self->fd, self->mem, 4 * PAGE, 0);
	ASSERT_LE(0, buf);
	dyn = import_dmabuf(buf, 0);
	ASSERT_LE(0, dyn);
	pinned = import_dmabuf(buf, P2PMM_SAMPLE_PIN);
	ASSERT_LE(0, pinned) TH_LOG("pinned import: %s", strerror(-pinned));
	ASSERT_EQ(0, dma_page(dyn, 0, page, 0));
	EXPECT_EQ(0, memcmp(page, self->mem, PAGE));
	ASSERT_EQ(0, dma_page(pinned, PAGE, page, 0));
	EXPECT_EQ(0, memcmp(page, self->mem + PAGE, PAGE));
	ASSERT_EQ(0, status(pinned, &st));
	EXPECT_EQ(1, st.pinned);
	EXPECT_EQ(1, st.mapped);

	t0 = p2p_dma_now_s();
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/unbind", self->dev)) TH_LOG("unbind %s: %s", self->dev,
									       strerror(errno));
	TH_LOG("unbind with two attachments mapped took %.0f ms", (p2p_dma_now_s() - t0) * 1000);
	for (int i = 0; i < 2; i++) {
		int sfd = i ? pinned : dyn;

		ASSERT_EQ(0, status(sfd, &st));
		EXPECT_EQ(1, st.invalidations) TH_LOG("importer %d was not told", i);
		EXPECT_EQ(0, st.mapped) TH_LOG("importer %d still holds its mapping", i);
		EXPECT_EQ(-ENODEV, dma_page(sfd, 0, page, 0)) TH_LOG("importer %d mapped revoked memory", i);
	}
	EXPECT_EQ(SIGBUS, p2pmm_read_faults(self->mem));
	EXPECT_EQ(-ENODEV, export_dmabuf(self->fd, self->mem, PAGE, 0));
	EXPECT_EQ(-ENODEV, import_dmabuf(buf, 0));
	close(dyn);
	close(pinned);
	close(buf);
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/bind", self->dev)) TH_LOG("bind %s: %s", self->dev,
									     strerror(errno));
	free(page);
}

/* Provider @id's entry of P2PMM_IOC_PROVIDERS, or -1. */
static int provider_info(int fd, uint32_t id, struct p2pmm_provider_info *out)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	int n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);

	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
		if (p[i].id == id) {
			*out = p[i];
			return 0;
		}
	}
	return -1;
}

/* A counter of provider @id in sysfs, or -1. */
static long long provider_counter(uint32_t id, const char *name)
{
	char path[PATH_MAX], line[64];

	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/%s", id, name);
	return p2p_dma_read_line(path, line, sizeof(line)) ? -1 : atoll(line);
}

#define MG_PAGES 64

/* The edu writes a distinct page into each page of @sfd's dma-buf. */
static int fill_by_dma(int sfd, int seed)
{
	uint8_t page[PAGE];

	for (int i = 0; i < MG_PAGES; i++) {
		int ret;

		p2p_dma_fill(page, PAGE, seed + i);
		ret = dma_page(sfd, (uint64_t)i * PAGE, page, 1);
		if (ret)
			return ret;
	}
	return 0;
}

/* The first page of @sfd's dma-buf whose bytes (read by the edu) are not what fill_by_dma() wrote, or -1. */
static int first_wrong_page(int sfd, int seed)
{
	uint8_t page[PAGE];

	for (int i = 0; i < MG_PAGES; i++) {
		memset(page, 0, PAGE);
		if (dma_page(sfd, (uint64_t)i * PAGE, page, 0) || p2p_dma_mismatch(page, PAGE, seed + i) >= 0)
			return i;
	}
	return -1;
}

/* The first page of @sfd's dma-buf that is not all zeroes (read by the edu), or -1. */
static int first_nonzero_page(int sfd)
{
	static const uint8_t zero[PAGE];
	uint8_t page[PAGE];

	for (int i = 0; i < MG_PAGES; i++) {
		memset(page, 0xa5, PAGE);
		if (dma_page(sfd, (uint64_t)i * PAGE, page, 0) || memcmp(page, zero, PAGE))
			return i;
	}
	return -1;
}

/*
 * Managed memory as a dma-buf: the edu DMAs into it in the vaccel's BAR. A dma-buf of the whole provider then needs
 * the room: the first one moves to system memory, its importer is told once and maps the system pages, and every
 * byte is there.
 */
TEST_F_TIMEOUT(dmabuf, managed_memory_moves_to_system_memory_under_pressure, 120)
{
	struct p2pmm_provider_info info;
	struct p2pmm_sample_status st;
	char want_line[256], *json;
	long long evictions;
	int buf, sfd, whole;
	struct stat sb;

	if (!self->mg)
		SKIP(return, "no managed provider on %s", self->dev);
	buf = export_managed(self->fd, self->mg, MG_PAGES * PAGE, P2PMM_DMABUF_CLOEXEC);
	ASSERT_LE(0, buf) TH_LOG("managed export: %s", strerror(-buf));
	EXPECT_EQ(MG_PAGES * PAGE, lseek(buf, 0, SEEK_END));
	sfd = import_dmabuf(buf, 0);
	ASSERT_LE(0, sfd) TH_LOG("import: %s", strerror(-sfd));
	EXPECT_EQ(-1, first_nonzero_page(sfd)) TH_LOG("new memory is not zeroed");
	ASSERT_EQ(0, fill_by_dma(sfd, 1000));
	EXPECT_EQ(-1, first_wrong_page(sfd, 1000));
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_TRUE(p2pmm_in_a_bar(self->dev, st.dma_addr)) TH_LOG("DMA address %#" PRIx64 " is not in a BAR of %s",
							     (uint64_t)st.dma_addr, self->dev);
	EXPECT_EQ(0, st.invalidations);
	ASSERT_EQ(0, provider_info(self->fd, self->mg, &info));
	EXPECT_LE(MG_PAGES * PAGE, info.used) TH_LOG("the dma-buf's memory is not counted as used");
	evictions = provider_counter(self->mg, "evictions");

	/* All of the provider: only by moving the first dma-buf out. */
	whole = export_managed(self->fd, self->mg, info.capacity, 0);
	ASSERT_LE(0, whole) TH_LOG("a dma-buf of the whole provider (%" PRIu64 " bytes): %s", (uint64_t)info.capacity,
				   strerror(-whole));
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(1, st.invalidations) TH_LOG("the importer was not told of the move");
	EXPECT_EQ(0, st.mapped);
	EXPECT_LE(evictions + MG_PAGES, provider_counter(self->mg, "evictions"));
	EXPECT_EQ(-1, first_wrong_page(sfd, 1000)) TH_LOG("bytes lost in the move");
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(2, st.maps);
	EXPECT_FALSE(p2pmm_in_a_bar(self->dev, st.dma_addr)) TH_LOG("still in the BAR after the move: %#" PRIx64,
							      (uint64_t)st.dma_addr);
	/* p2pmmctl says where it is now. */
	ASSERT_EQ(0, fstat(buf, &sb));
	ASSERT_EQ(0, system("p2pmmctl dmabufs --json > /tmp/p2pmm_dmabufs.json"));
	json = p2p_dma_slurp("/tmp/p2pmm_dmabufs.json", 1 << 16);
	ASSERT_NE(NULL, json);
	snprintf(want_line, sizeof(want_line), "\"inode\": %llu,\n      \"bytes\": %d,\n      \"provider\": %u,\n"
		 "      \"kind\": \"managed\",\n      \"memory\": \"system\",", (unsigned long long)sb.st_ino,
		 MG_PAGES * PAGE, self->mg);
	EXPECT_NE(NULL, strstr(json, want_line)) TH_LOG("no %s in %s", want_line, json);
	free(json);
	/* The moved dma-buf works as before: written and read in system memory. */
	ASSERT_EQ(0, fill_by_dma(sfd, 2000));
	EXPECT_EQ(-1, first_wrong_page(sfd, 2000));
	close(whole);
	ASSERT_EQ(0, provider_info(self->fd, self->mg, &info));
	EXPECT_GT(MG_PAGES * PAGE, info.used) TH_LOG("the closed dma-buf's memory is still used: %" PRIu64,
						     (uint64_t)info.used);
	close(sfd);
	close(buf);
}

/*
 * A migration into the provider that needs more room than is free, whose own pages are pinned there (so the
 * policy finds no process page to evict), moves the dma-buf out: with the migrating process's mmap lock held, the
 * order dma_resv_lockdep() allows. Every page migrates; the importer is told once and every byte is there.
 */
TEST_F_TIMEOUT(dmabuf, a_migration_that_needs_the_room_moves_a_dmabuf, 120)
{
	struct p2pmm_advise adv = { .size = sizeof(adv), .advice = P2PMM_ADV_PIN };
	struct p2pmm_provider_info info;
	struct p2pmm_sample_status st;
	size_t len;
	int buf, sfd;
	uint8_t *anon;

	if (!self->mg)
		SKIP(return, "no managed provider on %s", self->dev);
	buf = export_managed(self->fd, self->mg, MG_PAGES * PAGE, 0);
	ASSERT_LE(0, buf) TH_LOG("managed export: %s", strerror(-buf));
	sfd = import_dmabuf(buf, 0);
	ASSERT_LE(0, sfd) TH_LOG("import: %s", strerror(-sfd));
	ASSERT_EQ(0, fill_by_dma(sfd, 4000));
	ASSERT_EQ(0, provider_info(self->fd, self->mg, &info));
	/* All that is free, and half of the dma-buf's room. */
	len = info.capacity - info.used + MG_PAGES / 2 * PAGE;
	anon = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	p2p_dma_fill(anon, len, 5);
	adv.addr = (uintptr_t)anon;
	adv.length = len;
	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_ADVISE, &adv)) TH_LOG("pin advice: %s", strerror(errno));
	EXPECT_EQ((long)(len / PAGE), p2pmm_migrate(self->fd, anon, len, self->mg))
		TH_LOG("P2PMM_IOC_MIGRATE: %s", strerror(errno));
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(1, st.invalidations) TH_LOG("the importer was not told of the move");
	EXPECT_EQ(-1, first_wrong_page(sfd, 4000)) TH_LOG("bytes lost in the move");
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_FALSE(p2pmm_in_a_bar(self->dev, st.dma_addr));
	EXPECT_EQ(-1, p2p_dma_mismatch(anon, len, 5)) TH_LOG("the migrated pages changed");
	munmap(anon, len);
	close(sfd);
	close(buf);
}

/*
 * A pinned managed dma-buf stays in the BAR when the provider needs its room (the eviction passes it over and
 * counts it); unbinding the vaccel moves it anyway, tells the pinned importer, and nothing is lost.
 */
TEST_F_TIMEOUT(dmabuf, a_pinned_managed_dmabuf_stays_until_its_device_goes, 120)
{
	struct p2pmm_provider_info info;
	struct p2pmm_sample_status st;
	long long skipped;
	uint64_t bus;
	int buf, sfd;

	if (!self->mg)
		SKIP(return, "no managed provider on %s", self->dev);
	buf = export_managed(self->fd, self->mg, MG_PAGES * PAGE, 0);
	ASSERT_LE(0, buf) TH_LOG("managed export: %s", strerror(-buf));
	sfd = import_dmabuf(buf, P2PMM_SAMPLE_PIN);
	ASSERT_LE(0, sfd) TH_LOG("pinned import: %s", strerror(-sfd));
	ASSERT_EQ(0, fill_by_dma(sfd, 3000));
	ASSERT_EQ(0, status(sfd, &st));
	bus = st.dma_addr;
	EXPECT_TRUE(p2pmm_in_a_bar(self->dev, bus));
	ASSERT_EQ(0, provider_info(self->fd, self->mg, &info));
	skipped = provider_counter(self->mg, "evictions_skipped_pinned");
	EXPECT_EQ(-ENOSPC, export_managed(self->fd, self->mg, info.capacity, 0)) TH_LOG("the pinned dma-buf moved");
	EXPECT_LE(skipped + MG_PAGES, provider_counter(self->mg, "evictions_skipped_pinned"));
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(0, st.invalidations);
	EXPECT_EQ(bus, st.dma_addr);
	EXPECT_EQ(-1, first_wrong_page(sfd, 3000));

	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/unbind", self->dev)) TH_LOG("unbind %s: %s", self->dev,
									       strerror(errno));
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(1, st.invalidations) TH_LOG("the pinned importer was not told");
	EXPECT_EQ(0, st.mapped) TH_LOG("the pinned importer still maps the BAR");
	EXPECT_EQ(-1, first_wrong_page(sfd, 3000)) TH_LOG("bytes lost when the device went");
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_NE(bus, st.dma_addr);
	EXPECT_FALSE(p2pmm_in_a_bar(self->dev, st.dma_addr));
	close(sfd);
	close(buf);
	ASSERT_EQ(0, p2p_dma_write_file(VACCEL "/bind", self->dev)) TH_LOG("bind %s: %s", self->dev,
									     strerror(errno));
}

/* Bad managed exports get their errnos; importers without P2P or a route are refused at attach. */
TEST_F(dmabuf, bad_managed_exports_get_their_errnos)
{
	struct p2pmm_provider_info info;
	struct p2pmm_dmabuf d;
	int buf, sfd;

	if (!self->mg)
		SKIP(return, "no managed provider on %s", self->dev);
	EXPECT_EQ(-EINVAL, export_managed(self->fd, self->st, PAGE, 0)) TH_LOG("a static provider");
	EXPECT_EQ(-ENODEV, export_managed(self->fd, 999, PAGE, 0));
	EXPECT_EQ(-EINVAL, export_managed(self->fd, 0, PAGE, 0));
	EXPECT_EQ(-EINVAL, export_managed(self->fd, self->mg, PAGE / 2, 0));
	EXPECT_EQ(-EINVAL, export_managed(self->fd, self->mg, 0, 0));
	ASSERT_EQ(0, provider_info(self->fd, self->mg, &info));
	EXPECT_EQ(-ENOSPC, export_managed(self->fd, self->mg, info.capacity + PAGE, 0));
	/* An address with P2PMM_DMABUF_MANAGED, a provider without it. */
	d = (struct p2pmm_dmabuf){ .size = sizeof(d), .flags = P2PMM_DMABUF_MANAGED, .addr = 4096, .length = PAGE,
				   .provider = self->mg };
	EXPECT_EQ(-1, ioctl(self->fd, P2PMM_IOC_DMABUF, &d));
	EXPECT_EQ(EINVAL, errno);
	d = (struct p2pmm_dmabuf){ .size = sizeof(d), .addr = (uintptr_t)self->mem, .length = PAGE,
				   .provider = self->mg };
	EXPECT_EQ(-1, ioctl(self->fd, P2PMM_IOC_DMABUF, &d));
	EXPECT_EQ(EINVAL, errno);
	buf = export_managed(self->fd, self->mg, PAGE, 0);
	ASSERT_LE(0, buf);
	EXPECT_EQ(-EOPNOTSUPP, import_dmabuf(buf, P2PMM_SAMPLE_NO_P2P));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ, MAP_SHARED, buf, 0));
	close(buf);
	if (!self->far_mg)
		SKIP(return, "no managed provider the edu cannot reach");
	buf = export_managed(self->fd, self->far_mg, PAGE, 0);
	ASSERT_LE(0, buf);
	sfd = import_dmabuf(buf, 0);
	EXPECT_EQ(-EREMOTEIO, sfd);
	if (sfd >= 0)
		close(sfd);
	close(buf);
}

/* The importer is a plain dma-buf importer: it takes a udmabuf (memfd pages, system memory) as well. */
TEST(a_udmabuf_is_imported_too)
{
	uint8_t *mem, *page = malloc(PAGE), *want = malloc(PAGE);
	struct udmabuf_create create = { .flags = UDMABUF_FLAGS_CLOEXEC, .size = 4 * PAGE };
	struct p2pmm_sample_status st;
	int memfd, udev, buf, sfd;

	ASSERT_NE(NULL, page);
	ASSERT_NE(NULL, want);
	memfd = memfd_create("p2pmm_dmabuf_test", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, 4 * PAGE));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	mem = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	p2p_dma_fill(mem, 4 * PAGE, 3);
	udev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, udev) TH_LOG("/dev/udmabuf: %s (CONFIG_UDMABUF)", strerror(errno));
	create.memfd = memfd;
	buf = ioctl(udev, UDMABUF_CREATE, &create);
	ASSERT_LE(0, buf) TH_LOG("UDMABUF_CREATE: %s", strerror(errno));

	sfd = import_dmabuf(buf, 0);
	ASSERT_LE(0, sfd) TH_LOG("import of a udmabuf: %s", strerror(-sfd));
	ASSERT_EQ(0, dma_page(sfd, 2 * PAGE, page, 0));
	EXPECT_EQ(0, memcmp(page, mem + 2 * PAGE, PAGE));
	p2p_dma_fill(want, PAGE, 42);
	ASSERT_EQ(0, dma_page(sfd, 3 * PAGE, want, 1));
	EXPECT_EQ(0, memcmp(want, mem + 3 * PAGE, PAGE));
	ASSERT_EQ(0, status(sfd, &st));
	EXPECT_EQ(1, st.maps);
	EXPECT_NE(0, st.dma_addr);
	close(sfd);
	/* System memory needs no P2P: an importer without it takes the udmabuf too. */
	sfd = import_dmabuf(buf, P2PMM_SAMPLE_NO_P2P);
	EXPECT_LE(0, sfd) TH_LOG("import without P2P: %s", strerror(-sfd));
	if (sfd >= 0)
		close(sfd);
	close(buf);
	close(udev);
	munmap(mem, 4 * PAGE);
	close(memfd);
	free(page);
	free(want);
}

TEST_HARNESS_MAIN
