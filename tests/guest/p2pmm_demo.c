// SPDX-License-Identifier: GPL-2.0
/*
 * `make run`'s workload: both camps of p2pmm at work on the default VM topology, with real numbers.
 *
 *  (a) static BARs: data goes from the NVMe's CMB to an accelerator's BAR, both mapped through /dev/p2pmm,
 *      over the route p2pdma allows between them (reported, never assumed);
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
#include <lib/test_hmm_uapi.h>

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

/* (a) CMB -> accelerator BAR. */
static void static_bars(int fd)
{
	const struct p2pmm_provider_info *cmb = find(P2PMM_PROVIDER_STATIC, 1, NULL), *acc = NULL;
	struct p2pmm_route r = { .size = sizeof(r) };
	size_t len = 4 * MB;
	uint8_t *src, *dst;
	double t0, t1;
	long bad = -1;

	printf("\n== (a) static BARs: NVMe CMB -> accelerator BAR ==\n");
	if (!cmb) {
		printf("  no adopted CMB provider; skipped\n");
		return;
	}
	/* The accelerator that p2pdma lets the CMB reach directly, if any. */
	for (int i = 0; i < nprov && !acc; i++) {
		if (prov[i].kind != P2PMM_PROVIDER_STATIC || (prov[i].flags & P2PMM_PROVIDER_F_ADOPTED))
			continue;
		r.provider = prov[i].id;
		snprintf(r.client, sizeof(r.client), "%.31s", cmb->device);
		if (!ioctl(fd, P2PMM_IOC_ROUTE, &r) && r.plan == P2PMM_PLAN_DIRECT)
			acc = &prov[i];
	}
	if (!acc) {
		printf("  no accelerator reachable from the CMB; skipped\n");
		return;
	}
	printf("  route %s -> %s: %s, distance %d, plan %s\n", cmb->device, acc->device, verdict_name(r.verdict),
	       r.distance, plan_name(r.plan));
	src = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(cmb->id));
	dst = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(acc->id));
	if (src == MAP_FAILED || dst == MAP_FAILED)
		die("mmap static memory");
	for (size_t i = 0; i < len; i++)
		src[i] = pattern(i, 0xa1);
	t0 = now();
	memcpy(dst, src, len);
	t1 = now();
	for (size_t i = 0; i < len && bad < 0; i++)
		if (dst[i] != pattern(i, 0xa1))
			bad = (long)i;
	printf("  %zu MiB CMB (provider %u) -> BAR (provider %u) in %.1f ms (%.0f MiB/s, CPU copy between the two BAR "
	       "mappings)\n", len / MB, cmb->id, acc->id, (t1 - t0) * 1e3, len / MB / (t1 - t0));
	check("every byte arrived in the accelerator's BAR", bad < 0);
	munmap(src, len);
	munmap(dst, len);
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
