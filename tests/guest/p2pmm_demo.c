// SPDX-License-Identifier: GPL-2.0
/*
 * `make run`'s workload: both camps of p2pmm at work on the default VM topology, with real numbers.
 *
 *  (a) static BARs: an NVMe DMAs data from its disk into an accelerator's BAR mapped through /dev/p2pmm and back,
 *      by PCI bus address over the route the kernel reports (no DMA mapping, no CPU copy: shown, not assumed),
 *      then into memory placed on the accelerator's managed provider, where it is (P2PMM_IOC_BLKIO), and last
 *      through the doors tools and other drivers use: the accelerator's allocate file mapped at offset 0, as
 *      fio --mem=mmapshared:FILE maps its buffers, takes an O_DIRECT read, and that memory, exported as a
 *      dma-buf, is imported by p2pmm_sample's importer, whose DMA engine (the edu) reads a page of it by bus address;
 *  (b) invalidatable memory: a working set twice an accelerator's managed memory streams through it while a peer
 *      (p2pmm_mirror, an importer on the mirror layer) keeps reading it; evictions and invalidations are shown
 *      live, the peer re-faults and checks every byte it reads;
 *  (c) device to device: a range moves from one accelerator's managed memory to the other's.
 * Ends with what was verified and the providers' counters.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <linux/p2pmm_sample.h>
#include <lib/test_hmm_uapi.h>

#include "p2p_dma.h"
#include "p2pmm_ioctl.h"

#define PAGE 4096UL
#define MB (1UL << 20)

static struct p2pmm_provider_info prov[32];
static int nprov;
static int failures;

static void die(const char *what)
{
	fprintf(stderr, "p2pmm-demo: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void list(int fd)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = 32, .entry_size = sizeof(prov[0]), .entries = (uintptr_t)prov,
	};

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		die("P2PMM_IOC_PROVIDERS");
	nprov = req.count < 32 ? (int)req.count : 32;
}

static const struct p2pmm_provider_info *find(uint32_t kind, int adopted, const char *not_device)
{
	for (int i = 0; i < nprov; i++)
		if (prov[i].kind == kind && !!(prov[i].flags & P2PMM_PROVIDER_F_ADOPTED) == adopted &&
		    (!not_device || strcmp(prov[i].device, not_device)))
			return &prov[i];
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t pattern(size_t i, unsigned int seed)
{
	return (uint8_t)(((i * 2654435761u) >> 9) ^ seed);
}

static void check(const char *what, int ok)
{
	printf("  [%s] %s\n", ok ? " ok " : "FAIL", what);
	failures += !ok;
}

static const char *plan_name(uint32_t plan)
{
	return plan == P2PMM_PLAN_DIRECT ? "direct" : plan == P2PMM_PLAN_BOUNCE ? "bounce" : "refused";
}

static const char *verdict_name(uint32_t v)
{
	return v == P2PMM_ROUTE_BUS_ADDR ? "PCI bus address (stays below the switch)" :
	       v == P2PMM_ROUTE_HOST_BRIDGE ? "through the host bridge" : "not supported by p2pdma";
}

/*
 * (a), managed memory: the same disk bytes read by P2PMM_IOC_BLKIO into the process's memory placed on the same
 * accelerator's managed provider. The pages stay there; the NVMe writes into their data in the BAR by bus address.
 */
static void managed_blkio(int fd, int bfd, const struct p2p_dma_nvme *nvme, const char *device, off_t from,
			  size_t len)
{
	const struct p2pmm_provider_info *m = NULL;
	struct p2pmm_blkio b;
	uint8_t *buf;
	long bad = -1, on;
	double t0, t1;
	int maps;

	for (int i = 0; i < nprov && !m; i++)
		if (prov[i].kind == P2PMM_PROVIDER_MANAGED && !strcmp(prov[i].device, device))
			m = &prov[i];
	if (!m) {
		check("a managed provider on the same accelerator", 0);
		return;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("a buffer for managed memory");
	memset(buf, 0, len);
	if (p2pmm_migrate(fd, buf, len, m->id) < 0)
		die("placing the buffer on the managed provider");
	p2p_dma_trace_clear();
	t0 = now();
	if (p2pmm_blkio(fd, bfd, buf, len, from, 0, &b))
		die("P2PMM_IOC_BLKIO from the disk into managed memory");
	t1 = now();
	maps = p2p_dma_maps_of(nvme->pci);
	on = p2pmm_count_at(fd, buf, len, m->id);
	for (size_t i = 0; i < len && bad < 0; i++)
		if (buf[i] != pattern(i, 0xa1))
			bad = (long)i;
	printf("  disk -> managed memory of provider %u: %zu MiB in %.1f ms (%.0f MiB/s) by BLKIO: %llu bytes by P2P "
	       "DMA, %llu bounced; %ld of %zu pages still on the provider\n", m->id, len / MB, (t1 - t0) * 1e3,
	       len / MB / (t1 - t0), (unsigned long long)b.bytes_p2p, (unsigned long long)b.bytes_bounce, on,
	       len / PAGE);
	check("the NVMe wrote into managed memory where it was, by P2P DMA (no DMA mapping), every byte checked",
	      b.bytes_p2p == len && maps == 0 && on == (long)(len / PAGE) && bad < 0);
	munmap(buf, len);
}

/*
 * (a) static BARs: an NVMe below the switch DMAs 4 MiB of its disk into an accelerator's BAR mapped from /dev/p2pmm
 * (O_DIRECT pread) and writes them back to another place of the disk from there (O_DIRECT pwrite); then into the
 * same accelerator's managed memory by P2PMM_IOC_BLKIO.
 */
/* (a), last: the provider's allocate file, as a tool maps it, and a dma-buf of it for another driver's device. */
static void doors(int fd, const struct p2pmm_provider_info *acc, int bfd, off_t from)
{
	struct p2pmm_dmabuf d = { .size = sizeof(d), .flags = P2PMM_DMABUF_CLOEXEC };
	struct p2pmm_sample_status st;
	struct p2pmm_sample_import imp;
	struct p2pmm_sample_dma dma;
	uint8_t *mem, *page;
	size_t len = MB;
	char path[128];
	long bad = -1;
	int afd, sfd;

	printf("\n== (a) continued: the doors tools and other drivers use: %s's allocate file, and a dma-buf ==\n",
	       acc->device);
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/by-device/%s/allocate", acc->device);
	afd = open(path, O_RDWR | O_CLOEXEC);
	mem = afd < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, afd, 0);
	if (mem == MAP_FAILED)
		die(path);
	close(afd);
	if (pread(bfd, mem, len, from) != (ssize_t)len)
		die("O_DIRECT read into the allocate file's mapping");
	for (size_t i = 0; i < len && bad < 0; i++)
		if (mem[i] != pattern(i, 0xa1))
			bad = (long)i;
	printf("  mmap(%s, offset 0), as fio --mem=mmapshared:FILE maps its buffers; the NVMe's O_DIRECT read of "
	       "1 MiB lands in it\n", path);
	check("a tool's O_DIRECT read through the provider's allocate file, every byte", bad < 0);
	if (access("/dev/p2pmm_sample", F_OK)) {
		printf("  (no /dev/p2pmm_sample: p2pmm_sample.ko is not loaded, the dma-buf part is skipped)\n");
		munmap(mem, len);
		return;
	}
	d.addr = (uintptr_t)mem;
	d.length = len;
	if (ioctl(fd, P2PMM_IOC_DMABUF, &d))
		die("P2PMM_IOC_DMABUF");
	sfd = open("/dev/p2pmm_sample", O_RDWR | O_CLOEXEC);
	imp = (struct p2pmm_sample_import){ .fd = d.fd };
	if (sfd < 0 || ioctl(sfd, P2PMM_SAMPLE_IOC_IMPORT, &imp))
		die("import of the dma-buf by p2pmm_sample");
	page = calloc(1, PAGE);
	dma = (struct p2pmm_sample_dma){ .offset = 3 * PAGE, .buf = (uintptr_t)page };
	if (!page || ioctl(sfd, P2PMM_SAMPLE_IOC_DMA, &dma) || ioctl(sfd, P2PMM_SAMPLE_IOC_STATUS, &st))
		die("the edu's DMA from the dma-buf");
	printf("  exported as a dma-buf (P2PMM_IOC_DMABUF); p2pmm_sample attached its edu, mapped it at bus address "
	       "%#llx and read page 3 by DMA\n", (unsigned long long)st.dma_addr);
	check("the edu read the dma-buf's page by P2P DMA, every byte", !memcmp(page, mem + 3 * PAGE, PAGE));
	fflush(stdout);
	if (system("p2pmmctl dmabufs"))
		check("p2pmmctl dmabufs lists it", 0);
	close(sfd);
	close(d.fd);
	free(page);
	munmap(mem, len);
}

static void static_bars(int fd)
{
	const struct p2pmm_provider_info *acc = NULL;
	struct p2pmm_route r = { .size = sizeof(r) };
	const off_t from = 0, to = 8 * MB;
	size_t len = 4 * MB;
	struct p2p_dma_nvme nvme;
	int bfd, maps_ram, maps_in, maps_out;
	double t0, t1, t2, t3;
	uint8_t *ram, *bar;
	long bad_in = -1, bad_out = -1;

	printf("\n== (a) an NVMe DMAs its data into an accelerator's BAR and back, then into its managed memory ==\n");
	if (p2p_dma_find_nvme("p2pmm-sw", &nvme)) {
		check("an NVMe below the switch (serial p2pmm-sw)", 0);
		return;
	}
	/* The accelerator whose static memory the NVMe reaches directly. */
	for (int i = 0; i < nprov && !acc; i++) {
		if (prov[i].kind != P2PMM_PROVIDER_STATIC || (prov[i].flags & P2PMM_PROVIDER_F_ADOPTED))
			continue;
		r.provider = prov[i].id;
		snprintf(r.client, sizeof(r.client), "%.31s", nvme.pci);
		if (!ioctl(fd, P2PMM_IOC_ROUTE, &r) && r.plan == P2PMM_PLAN_DIRECT)
			acc = &prov[i];
	}
	if (!acc) {
		check("an accelerator the NVMe reaches directly", 0);
		return;
	}
	printf("  NVMe %s (%s) -> static memory of provider %u on %s: %s, distance %d, plan %s\n", nvme.pci, nvme.blk,
	       acc->id, acc->device, verdict_name(r.verdict), r.distance, plan_name(r.plan));
	bfd = open(nvme.blk, O_RDWR | O_DIRECT);
	ram = aligned_alloc(PAGE, len);
	bar = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(acc->id));
	if (bfd < 0 || !ram || bar == MAP_FAILED || p2p_dma_trace(1))
		die("NVMe, buffers or the dma:dma_map_phys event");
	for (size_t i = 0; i < len; i++)
		ram[i] = pattern(i, 0xa1);
	memset(bar, 0, len);
	/* The data on the disk, put there from system memory: the transfer the BAR ones are compared with. */
	if (p2p_dma_trace_clear() || pwrite(bfd, ram, len, from) != (ssize_t)len)
		die("writing the data to the disk");
	maps_ram = p2p_dma_maps_of(nvme.pci);
	p2p_dma_trace_clear();
	t0 = now();
	if (pread(bfd, bar, len, from) != (ssize_t)len)
		die("O_DIRECT read from the disk into the BAR");
	t1 = now();
	maps_in = p2p_dma_maps_of(nvme.pci);
	for (size_t i = 0; i < len && bad_in < 0; i++)
		if (bar[i] != pattern(i, 0xa1))
			bad_in = (long)i;
	p2p_dma_trace_clear();
	t2 = now();
	if (pwrite(bfd, bar, len, to) != (ssize_t)len)
		die("O_DIRECT write from the BAR to the disk");
	t3 = now();
	maps_out = p2p_dma_maps_of(nvme.pci);
	memset(ram, 0, len);
	if (pread(bfd, ram, len, to) != (ssize_t)len)
		die("reading the data back from the disk");
	for (size_t i = 0; i < len && bad_out < 0; i++)
		if (ram[i] != pattern(i, 0xa1))
			bad_out = (long)i;
	p2p_dma_trace(0);
	printf("  disk -> BAR: %zu MiB in %.1f ms (%.0f MiB/s), the NVMe writing into the BAR\n", len / MB,
	       (t1 - t0) * 1e3, len / MB / (t1 - t0));
	printf("  BAR -> disk: %zu MiB in %.1f ms (%.0f MiB/s), the NVMe reading from the BAR\n", len / MB,
	       (t3 - t2) * 1e3, len / MB / (t3 - t2));
	printf("  path: P2P DMA by PCI bus address; DMA mappings of the NVMe: %d and %d for the BAR transfers, %d for "
	       "the same transfer from system memory\n", maps_in, maps_out, maps_ram);
	check("every byte the NVMe read from its disk arrived in the accelerator's BAR", bad_in < 0);
	check("the NVMe wrote the BAR's bytes back to its disk, every byte checked", bad_out < 0);
	check("no DMA mapping, no bounce, no CPU copy for the BAR transfers (the control had some)",
	      maps_in == 0 && maps_out == 0 && maps_ram > 0);
	managed_blkio(fd, bfd, &nvme, acc->device, from, len);
	doors(fd, acc, bfd, from);
	munmap(bar, len);
	free(ram);
	close(bfd);
}

struct peer {
	int fd;
	uint8_t *base;
	size_t len;
	unsigned int seed;
	atomic_int stop;
	atomic_ulong reads, faults, bad, errors;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	size_t piece = 256 << 10;
	uint8_t *buf = malloc(piece);
	unsigned int r = 7;

	while (buf && !atomic_load(&p->stop)) {
		size_t off = (rand_r(&r) % (p->len / piece)) * piece;
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)(p->base + off), .ptr = (uintptr_t)buf, .npages = piece / PAGE,
		};
		unsigned long bad = 0;

		if (ioctl(p->fd, HMM_DMIRROR_READ, &cmd)) {
			atomic_fetch_add(&p->errors, 1);
			continue;
		}
		for (size_t i = 0; i < piece; i++)
			bad += buf[i] != pattern(off + i, p->seed);
		atomic_fetch_add(&p->bad, bad);
		atomic_fetch_add(&p->faults, cmd.faults);
		atomic_fetch_add(&p->reads, 1);
	}
	free(buf);
	return NULL;
}

/* Pages that arrived on managed providers other than `id` (where its evictions can go besides system memory). */
static uint64_t arrived_elsewhere(uint32_t id)
{
	uint64_t n = 0;

	for (int i = 0; i < nprov; i++)
		if (prov[i].id != id && prov[i].kind == P2PMM_PROVIDER_MANAGED)
			n += prov[i].migrated_in;
	return n;
}

static uint64_t counter(uint32_t id, int which)
{
	for (int i = 0; i < nprov; i++)
		if (prov[i].id == id)
			return which == 0 ? prov[i].evictions : which == 1 ? prov[i].invalidations : prov[i].used;
	return 0;
}

/* (b) oversubscription with a mirroring peer. */
static void oversubscribe(int fd, const struct p2pmm_provider_info *acc)
{
	struct peer p = { .seed = 0x5b };
	uint64_t ev0, inv0, peer0, moved = 0, evicted = 0;
	pthread_t t;
	double t0;
	long bad = -1;

	printf("\n== (b) invalidatable memory: 2x oversubscription of provider %u (%s, %llu MiB) with a mirroring "
	       "peer ==\n", acc->id, acc->device, (unsigned long long)(acc->capacity / MB));
	p.fd = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
	if (p.fd < 0)
		die("open /dev/hmm_dmirror0 (p2pmm_mirror.ko)");
	p.len = 2 * acc->capacity;
	p.base = mmap(NULL, p.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p.base == MAP_FAILED)
		die("mmap");
	for (size_t i = 0; i < p.len; i++)
		p.base[i] = pattern(i, p.seed);
	list(fd);
	ev0 = counter(acc->id, 0);
	inv0 = counter(acc->id, 1);
	peer0 = arrived_elsewhere(acc->id);
	if (pthread_create(&t, NULL, peer_main, &p))
		die("pthread_create");
	t0 = now();
	for (unsigned int pass = 0; pass < 4; pass++) {
		for (size_t off = 0; off < p.len; off += MB) {
			struct p2pmm_migrate m = {
				.size = sizeof(m), .addr = (uintptr_t)(p.base + off), .length = MB, .target = acc->id,
			};

			if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
				die("P2PMM_IOC_MIGRATE");
			moved += m.migrated;
			evicted += m.evicted;
		}
		list(fd);
		printf("\r  pass %u/4: %6llu pages prefetched, %6llu evicted | provider: %3llu MiB used, %llu evictions, "
		       "%llu invalidations | peer: %lu reads, %lu re-faults",
		       pass + 1, (unsigned long long)moved, (unsigned long long)evicted,
		       (unsigned long long)(counter(acc->id, 2) / MB), (unsigned long long)(counter(acc->id, 0) - ev0),
		       (unsigned long long)(counter(acc->id, 1) - inv0), atomic_load(&p.reads),
		       atomic_load(&p.faults));
		fflush(stdout);
	}
	atomic_store(&p.stop, 1);
	pthread_join(t, NULL);
	printf("\n  %.1f s for 4 passes of %zu MiB through %llu MiB\n", now() - t0, p.len / MB,
	       (unsigned long long)(acc->capacity / MB));
	{
		uint64_t to_peer = arrived_elsewhere(acc->id) - peer0;

		printf("  evicted pages went to: a peer provider below the same switch %llu, system memory %llu\n",
		       (unsigned long long)to_peer,
		       (unsigned long long)(evicted > to_peer ? evicted - to_peer : 0));
	}
	for (size_t i = 0; i < p.len && bad < 0; i++)
		if (p.base[i] != pattern(i, p.seed))
			bad = (long)i;
	check("evictions happened (the set is twice the capacity)", evicted > 0);
	check("the peer read only correct bytes across evictions and re-faults",
	      atomic_load(&p.bad) == 0 && atomic_load(&p.errors) == 0 && atomic_load(&p.reads) > 0);
	check("every byte of the working set is intact", bad < 0);
	munmap(p.base, p.len);
	close(p.fd);
}

/* (c) device to device. */
static void dev_to_dev(int fd, const struct p2pmm_provider_info *a, const struct p2pmm_provider_info *b)
{
	size_t len = 4 * MB, n = len / PAGE, on_b = 0;
	uint8_t *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *loc = calloc(n, sizeof(*loc));
	struct p2pmm_migrate m = { .size = sizeof(m), .addr = (uintptr_t)buf, .length = len };
	struct p2pmm_query q = { .size = sizeof(q), .addr = (uintptr_t)buf, .length = len, .locations = (uintptr_t)loc };
	struct p2pmm_route r = { .size = sizeof(r), .provider = a->id };
	double t0;
	long bad = -1;

	printf("\n== (c) device to device: provider %u (%s) -> provider %u (%s) ==\n", a->id, a->device, b->id,
	       b->device);
	if (buf == MAP_FAILED || !loc)
		die("mmap");
	snprintf(r.client, sizeof(r.client), "%.31s", b->device);
	if (!ioctl(fd, P2PMM_IOC_ROUTE, &r))
		printf("  route: %s, plan %s\n", verdict_name(r.verdict), plan_name(r.plan));
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i, 0xc3);
	m.target = a->id;
	if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
		die("P2PMM_IOC_MIGRATE");
	printf("  %llu pages on provider %u\n", (unsigned long long)m.migrated, a->id);
	m.target = b->id;
	t0 = now();
	if (ioctl(fd, P2PMM_IOC_MIGRATE, &m))
		die("P2PMM_IOC_MIGRATE");
	printf("  %llu pages moved to provider %u in %.1f ms\n", (unsigned long long)m.migrated, b->id,
	       (now() - t0) * 1e3);
	if (ioctl(fd, P2PMM_IOC_QUERY, &q))
		die("P2PMM_IOC_QUERY");
	for (size_t i = 0; i < n; i++)
		on_b += loc[i] == b->id;
	check("the query places every page on the second provider", on_b == n);
	for (size_t i = 0; i < len && bad < 0; i++)
		if (buf[i] != pattern(i, 0xc3))
			bad = (long)i;
	check("every byte is intact after the move (read back by the CPU)", bad < 0);
	munmap(buf, len);
	free(loc);
}

int main(void)
{
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	const struct p2pmm_provider_info *m0, *m1;

	if (fd < 0)
		die("open /dev/p2pmm");
	list(fd);
	static_bars(fd);
	m0 = find(P2PMM_PROVIDER_MANAGED, 0, NULL);
	m1 = m0 ? find(P2PMM_PROVIDER_MANAGED, 0, m0->device) : NULL;
	if (!m0 || !m1) {
		fprintf(stderr, "p2pmm-demo: two managed providers expected\n");
		return 1;
	}
	oversubscribe(fd, m0);
	dev_to_dev(fd, m0, m1);
	printf("\n== summary: %s ==\n", failures ? "SOME CHECKS FAILED" : "all data verified");
	close(fd);
	return failures ? 1 : 0;
}
