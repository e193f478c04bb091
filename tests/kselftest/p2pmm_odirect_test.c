// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of peer-to-peer DMA into static provider memory: a process maps static memory of a provider from
 * /dev/p2pmm and does O_DIRECT pread/pwrite on an NVMe namespace with it, so the NVMe itself moves the bytes to
 * or from the provider's BAR. For every NVMe of the default topology (below the switch, the CMB NVMe, on its own
 * root port) and every static provider (the CMB, the vaccels below the switch and on their own root port):
 *
 * - the outcome is the one the PCI topology gives (sysfs, not P2PMM_IOC_ROUTE): a pair below a common bridge
 *   transfers, a pair across q35's host bridge (not on p2pdma's allowlist) fails with EINVAL, as the block layer
 *   reports an unmappable P2P request (BLK_STS_INVAL), and nothing of the buffer or the disk changes;
 * - P2PMM_IOC_ROUTE's verdict and plan agree with that outcome;
 * - the bytes are checked on both sides: through the mapping of the BAR, and on the disk through a second
 *   O_DIRECT transfer to or from system memory;
 * - no bounce and no CPU copy happened: the kernel's dma:dma_map_phys event, which every DMA mapping of system
 *   memory and every mapping through a host bridge emits, fires for the system-memory transfer and never for the
 *   P2P one, whose bus addresses the block layer computes without mapping anything.
 *
 * Needs p2pmm.ko loaded on the default VM topology; run as root.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "kselftest_harness.h"

#define P2PMM_DEV "/dev/p2pmm"
#define NVME_CLASS "/sys/class/nvme"
#define PCI_DEVICES "/sys/bus/pci/devices"
#define TRACEFS "/sys/kernel/tracing"
#define MAX_PROVIDERS 32
#define XFER (64 << 10)
/* Each (provider, direction) pair has a disk region of its own. */
#define REGION(provider, write) ((off_t)((provider) * 2 + (write)) * 2 * XFER)

struct nvme {
	char blk[64];	/* /dev/nvmeXn1 */
	char pci[32];	/* 0000:06:00.0 */
};

static int read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char *nl;

	if (!f)
		return -1;
	if (!fgets(buf, len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	nl = buf + strcspn(buf, "\n");
	/* The NVMe serial is space padded. */
	while (nl > buf && (nl[-1] == ' ' || nl[-1] == '\n'))
		nl--;
	*nl = 0;
	return 0;
}

/* The NVMe controller with this serial: its first namespace's block device and its PCI name. */
static int find_nvme(const char *serial, struct nvme *out)
{
	char path[PATH_MAX], buf[64], link[PATH_MAX];
	struct dirent *d, *ns;
	DIR *dir = opendir(NVME_CLASS);
	int found = -1;

	if (!dir)
		return -1;
	while (found && (d = readdir(dir))) {
		DIR *ctrl;
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), NVME_CLASS "/%s/serial", d->d_name);
		if (read_line(path, buf, sizeof(buf)) || strcmp(buf, serial))
			continue;
		snprintf(path, sizeof(path), NVME_CLASS "/%s/device", d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			break;
		link[n] = 0;
		snprintf(out->pci, sizeof(out->pci), "%.31s", strrchr(link, '/') ? strrchr(link, '/') + 1 : link);
		snprintf(path, sizeof(path), NVME_CLASS "/%s", d->d_name);
		ctrl = opendir(path);
		if (!ctrl)
			break;
		while ((ns = readdir(ctrl))) {
			/* nvme0n1 under nvme0: the namespace, not nvme0's other attributes. */
			if (!strncmp(ns->d_name, d->d_name, strlen(d->d_name)) &&
			    ns->d_name[strlen(d->d_name)] == 'n') {
				snprintf(out->blk, sizeof(out->blk), "/dev/%.50s", ns->d_name);
				found = 0;
				break;
			}
		}
		closedir(ctrl);
		break;
	}
	closedir(dir);
	return found;
}

/* Whether two PCI devices sit below a common PCI bridge: their sysfs paths share a bridge component. */
static int share_bridge(const char *a, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX], link[PATH_MAX];
	char *sa, *sb, *ta, *tb;

	snprintf(link, sizeof(link), PCI_DEVICES "/%s", a);
	if (!realpath(link, pa))
		return -1;
	snprintf(link, sizeof(link), PCI_DEVICES "/%s", b);
	if (!realpath(link, pb))
		return -1;
	/* /sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/... : the first PCI component is the root port. */
	for (ta = strtok_r(pa, "/", &sa); ta; ta = strtok_r(NULL, "/", &sa)) {
		char copy[PATH_MAX];

		if (strlen(ta) != 12 || ta[4] != ':')
			continue;
		snprintf(copy, sizeof(copy), "%s", pb);
		for (tb = strtok_r(copy, "/", &sb); tb; tb = strtok_r(NULL, "/", &sb))
			if (!strcmp(ta, tb))
				return 1;
	}
	return 0;
}

static int list_providers(int fd, struct p2pmm_provider_info *out, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*out), .entries = (uintptr_t)out,
	};

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		return -1;
	return req.count;
}

static int route(int fd, uint32_t provider, const char *client, struct p2pmm_route *r)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->provider = provider;
	snprintf(r->client, sizeof(r->client), "%.31s", client);
	/* Output only: an answer left unwritten matches no verdict. */
	r->verdict = r->plan = r->reason = r->host_bridge = 0xa5a5a5a5U;
	r->distance = INT32_MIN;
	return ioctl(fd, P2PMM_IOC_ROUTE, r);
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* dma_map_phys events of `pci` in the trace buffer since it was last cleared; -1 if it cannot be read. */
static int dma_maps_of(const char *pci)
{
	char line[512];
	FILE *f = fopen(TRACEFS "/trace", "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "dma_map_phys:") && strstr(line, pci))
			n++;
	fclose(f);
	return n;
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 12));
}

/* Index of the first byte that differs from fill(seed), or -1 if none. */
static long mismatch(const volatile unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 12)))
			return (long)i;
	return -1;
}

/* An O_DIRECT transfer: bytes moved, or -errno. */
static ssize_t xfer(int bfd, void *buf, off_t off, int write)
{
	ssize_t n = write ? pwrite(bfd, buf, XFER, off) : pread(bfd, buf, XFER, off);

	return n < 0 ? -errno : n;
}

FIXTURE(odirect) {
	int fd;
	int bfd;
	int n;
	struct nvme nvme;
	struct p2pmm_provider_info p[MAX_PROVIDERS];
	unsigned char *ram;
};

FIXTURE_VARIANT(odirect) {
	const char *serial;
};

/* The NVMe below the PCIe switch, next to the accelerators. */
FIXTURE_VARIANT_ADD(odirect, switch_nvme) {
	.serial = "p2pmm-sw",
};

/* The NVMe whose CMB is a provider itself (also below the switch). */
FIXTURE_VARIANT_ADD(odirect, cmb_nvme) {
	.serial = "p2pmm-cmb",
};

/* The NVMe on a root port of its own: every static provider is across q35's host bridge. */
FIXTURE_VARIANT_ADD(odirect, root_port_nvme) {
	.serial = "p2pmm-rp2",
};

FIXTURE_SETUP(odirect)
{
	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
	self->n = list_providers(self->fd, self->p, MAX_PROVIDERS);
	ASSERT_LT(0, self->n) TH_LOG("P2PMM_IOC_PROVIDERS: %s", strerror(errno));
	ASSERT_GE(MAX_PROVIDERS, self->n);
	ASSERT_EQ(0, find_nvme(variant->serial, &self->nvme)) TH_LOG("no NVMe with serial %s", variant->serial);
	self->bfd = open(self->nvme.blk, O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->bfd) TH_LOG("open %s O_DIRECT: %s", self->nvme.blk, strerror(errno));
	self->ram = aligned_alloc(4096, XFER);
	ASSERT_NE(NULL, self->ram);
	mkdir(TRACEFS, 0755);
	if (access(TRACEFS "/trace", F_OK))
		ASSERT_EQ(0, mount("nodev", TRACEFS, "tracefs", 0, NULL)) TH_LOG("mount tracefs: %s", strerror(errno));
	ASSERT_EQ(0, write_file(TRACEFS "/events/dma/dma_map_phys/enable", "1")) TH_LOG("no dma:dma_map_phys event");
}

FIXTURE_TEARDOWN(odirect)
{
	write_file(TRACEFS "/events/dma/dma_map_phys/enable", "0");
	free(self->ram);
	close(self->bfd);
	close(self->fd);
}

/*
 * One direction over every static provider: write = the NVMe reads the provider's memory (pwrite from it),
 * read = the NVMe writes into it (pread into it). Returns how many pairs transferred directly.
 */
static int run_matrix(struct __test_metadata *_metadata, FIXTURE_DATA(odirect) *self, int write)
{
	int direct = 0, statics = 0;

	for (int i = 0; i < self->n; i++) {
		const struct p2pmm_provider_info *p = &self->p[i];
		off_t off = REGION(p->id, write);
		unsigned int seed = p->id * 2 + write + 1;
		struct p2pmm_route r;
		unsigned char *bar;
		int reachable, maps;
		ssize_t got;
		long bad;

		if (p->kind != P2PMM_PROVIDER_STATIC)
			continue;
		statics++;
		reachable = share_bridge(p->device, self->nvme.pci);
		ASSERT_LE(0, reachable) TH_LOG("sysfs paths of %s and %s", p->device, self->nvme.pci);
		ASSERT_EQ(0, route(self->fd, p->id, self->nvme.pci, &r)) TH_LOG("ROUTE: %s", strerror(errno));
		/* The route the kernel reports is the one the transfer below gets. */
		EXPECT_EQ(reachable ? P2PMM_ROUTE_BUS_ADDR : P2PMM_ROUTE_NOT_SUPPORTED, r.verdict)
			TH_LOG("provider %u (%s) to %s", p->id, p->device, self->nvme.pci);
		EXPECT_EQ(reachable ? P2PMM_PLAN_DIRECT : P2PMM_PLAN_REFUSED, r.plan);

		bar = mmap(NULL, XFER, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, P2PMM_MMAP_OFFSET(p->id));
		ASSERT_NE(MAP_FAILED, bar) TH_LOG("mmap provider %u: %s", p->id, strerror(errno));

		if (write) {
			/* The disk region starts out as something else, so a transfer that did nothing shows. */
			memset(self->ram, 0x3c, XFER);
			ASSERT_EQ(XFER, xfer(self->bfd, self->ram, off, 1));
			fill(bar, XFER, seed);
		} else {
			fill(self->ram, XFER, seed);
			ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
			ASSERT_EQ(XFER, xfer(self->bfd, self->ram, off, 1));
			/* The control: a transfer from system memory is DMA mapped, so the event is there to see. */
			maps = dma_maps_of(self->nvme.pci);
			ASSERT_LT(0, maps) TH_LOG("no dma_map_phys event for a transfer from system memory");
			memset(bar, 0x5a, XFER);
		}

		ASSERT_EQ(0, write_file(TRACEFS "/trace", ""));
		got = xfer(self->bfd, bar, off, write);
		maps = dma_maps_of(self->nvme.pci);
		ASSERT_LE(0, maps);
		if (reachable) {
			EXPECT_EQ(XFER, got) TH_LOG("%s provider %u (%s) with %s: %s", write ? "pwrite from" : "pread into",
						    p->id, p->device, self->nvme.pci, strerror(-got));
			/* Bus addresses, computed: no mapping, so no bounce buffer and no CPU copy. */
			EXPECT_EQ(0, maps) TH_LOG("the P2P transfer was DMA mapped %d times", maps);
			direct++;
		} else {
			EXPECT_EQ(-EINVAL, got) TH_LOG("provider %u (%s) with %s: got %zd", p->id, p->device,
						       self->nvme.pci, got);
		}

		if (write) {
			/* The disk has the provider's bytes, or still its own. */
			ASSERT_EQ(XFER, xfer(self->bfd, self->ram, off, 0));
			if (reachable) {
				bad = mismatch(self->ram, XFER, seed);
				EXPECT_EQ(-1, bad) TH_LOG("disk byte %ld differs from the provider's", bad);
			} else {
				for (size_t b = 0; b < XFER; b++)
					if (self->ram[b] != 0x3c) {
						EXPECT_EQ(0x3c, self->ram[b]) TH_LOG("refused write changed byte %zu", b);
						break;
					}
			}
		} else if (reachable) {
			/* The BAR has the disk's bytes, read back through the mapping. */
			bad = mismatch(bar, XFER, seed);
			EXPECT_EQ(-1, bad) TH_LOG("provider byte %ld differs from the disk's", bad);
		} else {
			for (size_t b = 0; b < XFER; b++)
				if (bar[b] != 0x5a) {
					EXPECT_EQ(0x5a, bar[b]) TH_LOG("refused read changed byte %zu", b);
					break;
				}
		}
		ASSERT_EQ(0, munmap(bar, XFER));
	}
	/* The default topology has the CMB and three vaccels with static memory. */
	EXPECT_EQ(4, statics);
	return direct;
}

/* Below the switch, the CMB and the two vaccels there are direct, the vaccel behind its own root port is not. */
static int direct_pairs_expected(const char *serial)
{
	return strcmp(serial, "p2pmm-rp2") ? 3 : 0;
}

TEST_F(odirect, pwrite_from_static_memory)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 1));
}

TEST_F(odirect, pread_into_static_memory)
{
	EXPECT_EQ(direct_pairs_expected(variant->serial), run_matrix(_metadata, self, 0));
}

TEST_HARNESS_MAIN
