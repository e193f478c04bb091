// SPDX-License-Identifier: GPL-2.0
/*
 * kselftest: real PCIe hot-unplug of provider devices in use, and their return, again and again.
 *
 * Devices on root ports of their own are removed and added back through QEMU's monitor: the test prints
 * "P2PMM-QMP {device_del ...}" on the console, scripts/qmp_relay.py sends it to QEMU, QEMU asks the guest through
 * ACPI to eject the device and the guest's acpiphp removes it (its driver unbinds); then "device_add" puts a new one
 * in the slot and acpiphp enumerates it.
 *
 * device_goes_in_use_and_comes_back: the vaccel on its own root port (QEMU device "acc3", scripts/vm.sh). While it
 * goes, it is in use:
 *  - static memory of it is mapped and filled;
 *  - data is placed on its managed memory (P2PMM_IOC_MIGRATE), and p2pmm's mirror device (an importer) reads and
 *    checks that data without pause;
 *  - a thread moves a second buffer between that provider and system memory without pause;
 *  - a thread has the NVMe on the other root port DMA a third buffer on that provider to disk and back
 *    (P2PMM_IOC_BLKIO), comparing each round.
 * Afterwards the static mapping raises SIGBUS, every byte of the managed data is where the CPU reads it (system
 * memory or a peer, none on the device that went), the importer never read a wrong byte, every move and transfer
 * failed only as documented, and when the device is back it registers new providers that work.
 *
 * a_cmb_nvme_goes_in_use_and_comes_back: an NVMe with a CMB (QEMU device "cmb4" on the empty root port rp4), whose
 * p2pdma memory nvme publishes and p2pmm adopts as a static provider, and QEMU's edu beside it (function 1). The
 * test adds the slot, and while it goes that memory is mapped and filled, the NVMe itself moves a buffer in its CMB
 * to its disk and back by O_DIRECT (its DMA into and out of its own BAR), comparing each round, and part of the
 * memory is exported as a dma-buf that p2pmm_sample imports twice, dynamic and pinned, and reads by the edu's DMA
 * (peer to peer below the port), checking each page. Afterwards the mapping raises SIGBUS, each importer was told
 * once, holds no mapping and maps nothing more (ENODEV), the transfers and DMAs failed only as documented, and
 * when the slot is back p2pmm adopts the CMB again and the memory works. p2pmm_sample's importer uses one engine,
 * so the default VM's edu is unbound from it for the test; the test removes the slot at the end and gives that
 * edu back, so the topology is again the one the other tests know.
 *
 * a_managed_dmabuf_goes_with_its_device: a slot on rp4 with a vaccel (function 0, QEMU's ivshmem-plain "acc4", a
 * memory backend of its own each time) and QEMU's edu (function 1). Each cycle two dma-bufs of the vaccel's managed
 * memory (P2PMM_DMABUF_MANAGED) are imported by p2pmm_sample through that edu, one dynamic, one pinned, and filled
 * by the edu's DMA; a third dma-buf that needs their room moves the dynamic one to system memory (its importer is
 * told once and reads every byte there) and leaves the pinned one in the BAR; then the slot goes while the edu reads
 * the pinned one: its importer is told once and holds no mapping. The last cycle's two dma-bufs are read once more
 * at the end by the default edu, from system memory: nothing was lost.
 *
 * For each device the time from the start of the revocation (the static provider leaves the list) to the device's
 * removal is printed, p50 and max, also for make test's summary (a P2PMM-SUMMARY line, scripts/report.py).
 *
 * P2PMM_HOTPLUG_CYCLES (environment, default 20) sets the number of cycles of each test. Needs p2pmm.ko and
 * p2pmm_mirror.ko on the default VM topology, run by scripts/vm.sh (the relay); run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <lib/test_hmm_uapi.h>

#include "kselftest_harness.h"
#include "p2p_dma.h"
#include "p2pmm_dmabuf.h"
#include "p2pmm_fault.h"
#include "p2pmm_ioctl.h"
#include "p2pmm_topo.h"

#define PAGE 4096UL
#define MB (1UL << 20)
#define QEMU_ID "acc3"
#define QEMU_BUS "rp3"
#define QEMU_MEMDEV "vram1"		/* the first device's memory backend (scripts/vm.sh) */
#define BAR_BYTES "134217728"		/* its size, 128 MiB */
#define WAIT_S 90.0
/*
 * The slot the CMB test fills on the empty root port rp4: an NVMe with a CMB (function 0, on the disk node vm.sh
 * defines) and QEMU's edu (function 1, a DMA master that reaches the CMB below the same port, for p2pmm_sample's
 * dma-buf importer). Function 1 is added first: adding function 0 announces the slot; removing it removes both.
 */
#define CMB_ID "cmb4"
#define CMB_SERIAL "p2pmm-hp"
#define CMB_EDU_ADD "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"edu\", \"id\": \"edu4\", " \
	"\"bus\": \"rp4\", \"addr\": \"0.1\", \"dma_mask\": 18446744073709551615}}"
#define CMB_ADD "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"nvme\", \"id\": \"" CMB_ID \
	"\", \"serial\": \"" CMB_SERIAL "\", \"drive\": \"hpdisk\", \"cmb_size_mb\": 64, \"bus\": \"rp4\", " \
	"\"addr\": \"0.0\", \"multifunction\": true}}"
#define CMB_IO (256 * 1024UL)
#define CMB_DMABUF (4 * PAGE)	/* the CMB memory exported to the importers */
#define SAMPLE "/sys/bus/pci/drivers/p2pmm_sample"

static uint8_t pattern(size_t i, unsigned int seed)
{
	return (uint8_t)(((i + seed * 7919u) * 2654435761u) >> 11) ^ 0x3c;
}

static void fill(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern(i, seed);
}

/* Bytes of p[0..len) that differ from bytes [first, first + len) of the pattern of @seed. */
static size_t wrong_at(const uint8_t *p, size_t len, unsigned int seed, size_t first)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += p[i] != pattern(first + i, seed);
	return n;
}

static size_t wrong(const uint8_t *p, size_t len, unsigned int seed)
{
	return wrong_at(p, len, seed, 0);
}

/* Asks QEMU, through the console and scripts/qmp_relay.py, to run a monitor command. */
static void qmp(const char *json)
{
	dprintf(STDOUT_FILENO, "P2PMM-QMP %s\n", json);
}

struct worker {
	pthread_t thread;
	int fd;			/* /dev/p2pmm, or the mirror's device */
	int disk;		/* the NVMe, for the BLKIO worker */
	uint8_t *buf, *back;
	size_t len;
	uint32_t provider;
	unsigned int seed;
	atomic_int stop;
	unsigned long rounds, bad_bytes, undocumented;
	unsigned long refused[4];	/* documented failures, by their place in the errno list */
	unsigned long gone;	/* transfers to or from a disk that was gone */
	int last_errno;
};

/* A failed call's errno: counted as undocumented unless it is one of @documented (0-terminated). */
static void failed(struct worker *w, int err, const int *documented)
{
	for (int i = 0; documented[i]; i++) {
		if (err == documented[i]) {
			w->refused[i]++;
			return;
		}
	}
	w->undocumented++;
	w->last_errno = err;
}

/* MIGRATE while the provider goes: ENODEV once it is gone, ENOMEM, EBUSY (uapi.rst). */
static const int migrate_errnos[] = { ENODEV, ENOMEM, EBUSY, 0 };
/* BLKIO: EBUSY when a provider being removed took over a second to evict its pages (uapi.rst). */
static const int blkio_errnos[] = { EBUSY, 0 };
/*
 * O_DIRECT from and to a static mapping while its device goes: EFAULT once the mapping is revoked (the pages are
 * gone; providers.rst, *Revocation on unbind*), EIO for a request the NVMe aborted as it went.
 */
static const int odirect_errnos[] = { EFAULT, EIO, 0 };
/* An importer's DMA once its engine's device or the exported memory is going or gone: ENODEV (p2pmm_sample.h). */
static const int dmabuf_errnos[] = { ENODEV, 0 };
/* The mirror's reads fault pages back wherever they are: no error is expected. */
static const int no_errnos[] = { 0 };

/* Moves its buffer to the provider and back until told to stop. */
static void *mover_main(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&w->stop)) {
		if (p2pmm_migrate(w->fd, w->buf, w->len, w->provider) < 0)
			failed(w, errno, migrate_errnos);
		if (p2pmm_migrate(w->fd, w->buf, w->len, P2PMM_LOCATION_SYSTEM) < 0)
			failed(w, errno, migrate_errnos);
		w->bad_bytes += wrong(w->buf, w->len, w->seed);
		w->rounds++;
	}
	return NULL;
}

/* Writes its buffer (on the provider) to the disk and reads it back into system memory, comparing. */
static void *blkio_main(void *arg)
{
	struct worker *w = arg;
	struct p2pmm_blkio b;

	while (!atomic_load(&w->stop)) {
		memset(w->back, 0, w->len);
		if (p2pmm_blkio(w->fd, w->disk, w->buf, w->len, 0, 1, &b) ||
		    p2pmm_blkio(w->fd, w->disk, w->back, w->len, 0, 0, &b)) {
			failed(w, errno, blkio_errnos);
			continue;
		}
		w->bad_bytes += wrong(w->back, w->len, w->seed);
		w->rounds++;
	}
	return NULL;
}

/*
 * The NVMe moves its buffer, in its own CMB, to its disk and back into system memory, comparing; then DMAs the
 * disk's copy back into its CMB, so that the next round reads what it wrote there. The CPU never touches the CMB
 * here: once the mapping is revoked, it would fault.
 */
static void *cmb_io_main(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&w->stop)) {
		ssize_t r;

		memset(w->back, 0, w->len);
		r = pwrite(w->disk, w->buf, w->len, 0);
		if (r == (ssize_t)w->len)
			r = pread(w->disk, w->back, w->len, 0);
		if (r == (ssize_t)w->len)
			r = pread(w->disk, w->buf, w->len, 0);
		if (r != (ssize_t)w->len) {
			uint64_t size = 0;

			/*
			 * Once the NVMe is gone the block layer has set its disk's capacity to 0: a write fails
			 * with ENOSPC and a read ends at end of file. Anything else (a short transfer has no
			 * errno) must be documented.
			 */
			if (ioctl(w->disk, BLKGETSIZE64, &size) || !size)
				w->gone++;
			else
				failed(w, r < 0 ? errno : -1, odirect_errnos);
			usleep(1000);
			continue;
		}
		w->bad_bytes += wrong(w->back, w->len, w->seed);
		w->rounds++;
	}
	return NULL;
}

/*
 * Has p2pmm_sample's engine DMA the pages of its importer's dma-buf (exported CMB memory holding the pattern of its
 * seed) into system memory, one after the other, and checks each, until told to stop.
 */
static void *dmabuf_main(void *arg)
{
	struct worker *w = arg;

	for (size_t off = 0; !atomic_load(&w->stop); off = (off + PAGE) % w->len) {
		int err = dma_page(w->fd, off, w->back, 0);

		if (err) {
			failed(w, -err, dmabuf_errnos);
			usleep(1000);
			continue;
		}
		w->bad_bytes += wrong_at(w->back, PAGE, w->seed, off);
		w->rounds++;
	}
	return NULL;
}

/* Reads its buffer through the mirror device (an importer) and checks it, until told to stop. */
static void *importer_main(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&w->stop)) {
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)w->buf, .ptr = (uintptr_t)w->back, .npages = w->len / PAGE,
		};

		if (ioctl(w->fd, HMM_DMIRROR_READ, &cmd)) {
			failed(w, errno, no_errnos);
			continue;
		}
		w->bad_bytes += wrong(w->back, w->len, w->seed);
		w->rounds++;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int exists(const char *path)
{
	struct stat sb;

	return !stat(path, &sb);
}

/*
 * Asks QEMU to remove device @id and waits until it is gone from the guest (PCI device @dev): 0, with *revoke_ms
 * the time from the start of the revocation (@dev's static provider leaves p2pmm's list) to the removal; -1 if
 * @dev is still there after WAIT_S.
 */
static int remove_device(int fd, const char *id, const char *dev, double *revoke_ms)
{
	char path[PATH_MAX], cmd[256];
	double t0, t_revoke = 0, t_gone;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", dev);
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"%s\"}}", id);
	qmp(cmd);
	t0 = p2p_dma_now_s();
	while (exists(path) && p2p_dma_now_s() - t0 < WAIT_S) {
		uint32_t st, mg;

		if (!t_revoke) {
			p2pmm_providers_of(fd, dev, &st, &mg);
			if (!st)
				t_revoke = p2p_dma_now_s();
		}
		usleep(1000);
	}
	t_gone = p2p_dma_now_s();
	if (exists(path))
		return -1;
	*revoke_ms = (t_gone - (t_revoke ? t_revoke : t_gone)) * 1000;
	return 0;
}

/* The revocation and return times of @cycles cycles, sorted, for make test's summary (and freed). */
static void summary(const char *dev, const char *what, int cycles, double *revoke_ms, double *back_s)
{
	qsort(revoke_ms, cycles, sizeof(*revoke_ms), cmp_double);
	qsort(back_s, cycles, sizeof(*back_s), cmp_double);
	dprintf(STDOUT_FILENO,
		"# P2PMM-SUMMARY hot-unplug of %s%s in use, %d cycles: revocation p50 %.0f ms, max %.0f ms; back and "
		"registered p50 %.1f s, max %.1f s\n", what, dev, cycles, revoke_ms[cycles / 2],
		revoke_ms[cycles - 1], back_s[cycles / 2], back_s[cycles - 1]);
	free(revoke_ms);
	free(back_s);
}

FIXTURE(hotplug)
{
	char edu0[32];	/* the default edu, while the CMB test keeps it from p2pmm_sample */
};

FIXTURE_SETUP(hotplug)
{
	self->edu0[0] = 0;
}

/* A test that failed midway still gives p2pmm_sample its engine back, so the tests after it find their VM. */
FIXTURE_TEARDOWN(hotplug)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", self->edu0);
	if (self->edu0[0] && !exists(path))
		p2p_dma_write_file(SAMPLE "/bind", self->edu0);
}

TEST_F_TIMEOUT(hotplug, device_goes_in_use_and_comes_back, 1800)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	const char *env = getenv("P2PMM_HOTPLUG_CYCLES");
	int cycles = env ? atoi(env) : 20, n;
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	double *revoke_ms, *back_s;
	char dev[32] = "", cmd[512], memdev[32] = QEMU_MEMDEV;
	struct p2p_dma_nvme nvme;
	uint32_t st, mg;
	int disk, mirror;

	ASSERT_LE(0, fd);
	ASSERT_LT(0, cycles);
	revoke_ms = calloc(cycles, sizeof(*revoke_ms));
	back_s = calloc(cycles, sizeof(*back_s));
	ASSERT_NE(NULL, revoke_ms);
	ASSERT_NE(NULL, back_s);
	/* The vaccel on the highest bus: the one on its own root port, QEMU's "acc3". */
	n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
	ASSERT_LT(0, n);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++)
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && strcmp(p[i].device, dev) > 0)
			snprintf(dev, sizeof(dev), "%.31s", p[i].device);
	ASSERT_NE(0, dev[0]);
	ASSERT_EQ(0, p2p_dma_find_nvme("p2pmm-rp2", &nvme)) TH_LOG("no NVMe p2pmm-rp2");
	disk = open(nvme.blk, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, disk) TH_LOG("%s: %s", nvme.blk, strerror(errno));
	mirror = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, mirror) TH_LOG("/dev/hmm_dmirror0 (p2pmm_mirror.ko): %s", strerror(errno));

	for (int c = 0; c < cycles; c++) {
		struct worker mover = { .fd = fd, .len = MB, .seed = 3 * c + 1 };
		struct worker io = { .fd = fd, .disk = disk, .len = MB, .seed = 3 * c + 2 };
		struct worker imp = { .fd = mirror, .len = 2 * MB, .seed = 3 * c };
		uint8_t *stat_mem, *data;
		uint32_t loc_bad = 0;
		double t0;

		/* The device is there, with its two providers. */
		t0 = p2p_dma_now_s();
		do {
			p2pmm_providers_of(fd, dev, &st, &mg);
		} while ((!st || !mg) && p2p_dma_now_s() - t0 < WAIT_S && !usleep(10000));
		ASSERT_NE(0, st) TH_LOG("cycle %d: no static provider on %s", c, dev);
		ASSERT_NE(0, mg) TH_LOG("cycle %d: no managed provider on %s", c, dev);

		stat_mem = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(st));
		ASSERT_NE(MAP_FAILED, stat_mem) TH_LOG("cycle %d: static mmap: %s", c, strerror(errno));
		fill(stat_mem, MB, c);
		data = mmap(NULL, 2 * MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, data);
		fill(data, 2 * MB, imp.seed);
		ASSERT_EQ(2 * MB / PAGE, p2pmm_migrate(fd, data, 2 * MB, mg)) TH_LOG("cycle %d: %s", c, strerror(errno));
		imp.buf = data;
		imp.back = malloc(imp.len);
		mover.buf = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		io.buf = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		io.back = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(NULL, imp.back);
		ASSERT_NE(MAP_FAILED, mover.buf);
		ASSERT_NE(MAP_FAILED, io.buf);
		ASSERT_NE(MAP_FAILED, io.back);
		fill(mover.buf, MB, mover.seed);
		fill(io.buf, MB, io.seed);
		mover.provider = io.provider = mg;
		ASSERT_EQ(MB / PAGE, p2pmm_migrate(fd, io.buf, MB, mg));
		ASSERT_EQ(0, pthread_create(&mover.thread, NULL, mover_main, &mover));
		ASSERT_EQ(0, pthread_create(&io.thread, NULL, blkio_main, &io));
		ASSERT_EQ(0, pthread_create(&imp.thread, NULL, importer_main, &imp));
		usleep(200000);

		/* Out it goes: acpiphp removes the device, its driver unbinds. */
		ASSERT_EQ(0, remove_device(fd, QEMU_ID, dev, &revoke_ms[c]))
			TH_LOG("cycle %d: %s still there %.0f s after device_del", c, dev, WAIT_S);
		usleep(100000);
		atomic_store(&mover.stop, 1);
		atomic_store(&io.stop, 1);
		atomic_store(&imp.stop, 1);
		pthread_join(mover.thread, NULL);
		pthread_join(io.thread, NULL);
		pthread_join(imp.thread, NULL);

		/* Nothing lost, nothing left on the device that went. */
		EXPECT_EQ(SIGBUS, p2pmm_read_faults(stat_mem)) TH_LOG("cycle %d: static memory still mapped", c);
		EXPECT_EQ(0, wrong(data, 2 * MB, imp.seed)) TH_LOG("cycle %d: the placed data changed", c);
		EXPECT_EQ(0, wrong(mover.buf, MB, mover.seed)) TH_LOG("cycle %d: the moved buffer changed", c);
		EXPECT_EQ(0, wrong(io.buf, MB, io.seed)) TH_LOG("cycle %d: the transferred buffer changed", c);
		loc_bad = p2pmm_count_at(fd, data, 2 * MB, mg) + p2pmm_count_at(fd, io.buf, MB, mg) +
			  p2pmm_count_at(fd, mover.buf, MB, mg);
		EXPECT_EQ(0, loc_bad) TH_LOG("cycle %d: pages still on provider %u", c, mg);
		EXPECT_EQ(0, mover.bad_bytes + io.bad_bytes + imp.bad_bytes) {
			TH_LOG("cycle %d: wrong bytes: mover %lu, blkio %lu, importer %lu", c, mover.bad_bytes,
			       io.bad_bytes, imp.bad_bytes);
		}
		EXPECT_EQ(0, mover.undocumented + io.undocumented + imp.undocumented) {
			TH_LOG("cycle %d: undocumented failures: mover %lu, blkio %lu, importer %lu (last errnos %d %d %d)",
			       c, mover.undocumented, io.undocumented, imp.undocumented, mover.last_errno,
			       io.last_errno, imp.last_errno);
		}
		TH_LOG("cycle %d: revoked in %.0f ms; rounds while it went: %lu moves, %lu transfers, %lu reads", c,
		       revoke_ms[c], mover.rounds, io.rounds, imp.rounds);
		munmap(stat_mem, MB);
		munmap(data, 2 * MB);
		munmap(mover.buf, MB);
		munmap(io.buf, MB);
		munmap(io.back, MB);
		free(imp.back);

		/*
		 * Back it comes: a new device in the slot, bound and registered again. QEMU cannot give a memory
		 * backend to a second device (its RAM block keeps the first one's name), so each device gets a new
		 * backend and the old one goes.
		 */
		snprintf(cmd, sizeof(cmd), "{\"execute\": \"object-del\", \"arguments\": {\"id\": \"%s\"}}", memdev);
		qmp(cmd);
		snprintf(memdev, sizeof(memdev), QEMU_ID "-mem%d", c + 1);
		snprintf(cmd, sizeof(cmd),
			 "{\"execute\": \"object-add\", \"arguments\": {\"qom-type\": \"memory-backend-ram\", "
			 "\"id\": \"%s\", \"size\": " BAR_BYTES "}}", memdev);
		qmp(cmd);
		snprintf(cmd, sizeof(cmd),
			 "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"ivshmem-plain\", \"id\": \""
			 QEMU_ID "\", \"memdev\": \"%s\", \"bus\": \"" QEMU_BUS "\"}}", memdev);
		qmp(cmd);
		t0 = p2p_dma_now_s();
		do {
			p2pmm_providers_of(fd, dev, &st, &mg);
		} while ((!st || !mg) && p2p_dma_now_s() - t0 < WAIT_S && !usleep(10000));
		back_s[c] = p2p_dma_now_s() - t0;
		ASSERT_NE(0, mg) TH_LOG("cycle %d: %s did not come back within %.0f s", c, dev, WAIT_S);
	}
	/* The device that came back last is usable: its static memory holds data, its managed memory takes pages. */
	{
		uint8_t *st_mem = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(st));
		uint8_t *buf = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		ASSERT_NE(MAP_FAILED, st_mem) TH_LOG("static mmap after the last return: %s", strerror(errno));
		ASSERT_NE(MAP_FAILED, buf);
		fill(st_mem, MB, 77);
		fill(buf, MB, 78);
		EXPECT_EQ(MB / PAGE, p2pmm_migrate(fd, buf, MB, mg));
		EXPECT_EQ(MB / PAGE, p2pmm_count_at(fd, buf, MB, mg));
		EXPECT_EQ(0, wrong(st_mem, MB, 77));
		EXPECT_EQ(0, wrong(buf, MB, 78));
		munmap(st_mem, MB);
		munmap(buf, MB);
	}
	summary(dev, "", cycles, revoke_ms, back_s);
	close(mirror);
	close(disk);
	close(fd);
}

/* Adds the CMB test's slot: the edu, then the NVMe. */
static void cmb_slot_add(void)
{
	qmp(CMB_EDU_ADD);
	qmp(CMB_ADD);
}

/*
 * Waits for the slot cmb_slot_add() adds: the NVMe's controller and namespace (its disk opens), the provider p2pmm
 * adopted from its CMB, and the edu of function 1 driven by p2pmm_sample.
 */
static int cmb_slot_arrives(int fd, struct p2p_dma_nvme *nvme, uint32_t *st)
{
	double t0 = p2p_dma_now_s();
	char edu_drv[PATH_MAX];
	uint32_t mg;

	*st = 0;
	do {
		int disk;

		if (p2p_dma_find_nvme(CMB_SERIAL, nvme))
			continue;
		/* The node appears before the disk is live (open fails with ENXIO in between). */
		disk = open(nvme->blk, O_RDONLY | O_CLOEXEC);
		if (disk < 0)
			continue;
		close(disk);
		snprintf(edu_drv, sizeof(edu_drv), SAMPLE "/%.*s1", (int)strlen(nvme->pci) - 1, nvme->pci);
		if (exists(edu_drv))
			p2pmm_providers_of(fd, nvme->pci, st, &mg);
	} while (!*st && p2p_dma_now_s() - t0 < WAIT_S && !usleep(10000));
	return *st ? 0 : -1;
}

TEST_F_TIMEOUT(hotplug, a_cmb_nvme_goes_in_use_and_comes_back, 1800)
{
	const char *env = getenv("P2PMM_HOTPLUG_CYCLES");
	int cycles = env ? atoi(env) : 20;
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	struct p2p_dma_nvme nvme;
	double *revoke_ms, *back_s, t0;
	char dev[32], *edu0 = self->edu0;
	uint32_t st;

	ASSERT_LE(0, fd);
	ASSERT_LT(0, cycles);
	revoke_ms = calloc(cycles, sizeof(*revoke_ms));
	back_s = calloc(cycles, sizeof(*back_s));
	ASSERT_NE(NULL, revoke_ms);
	ASSERT_NE(NULL, back_s);
	ASSERT_NE(0, p2p_dma_find_nvme(CMB_SERIAL, &nvme)) TH_LOG("%s is there before the test adds it", CMB_SERIAL);
	/* p2pmm_sample's importer DMAs with its one engine: the edu of the new slot, once the default one is off. */
	p2pmm_find_pci("0x1234", "0x11e8", edu0, sizeof(self->edu0));
	ASSERT_NE(0, edu0[0]) TH_LOG("no edu device (the default VM has one beside the switch accelerator)");
	ASSERT_EQ(0, p2p_dma_write_file(SAMPLE "/unbind", edu0)) TH_LOG("unbind %s: %s", edu0, strerror(errno));
	cmb_slot_add();
	ASSERT_EQ(0, cmb_slot_arrives(fd, &nvme, &st)) TH_LOG("no CMB provider of %s %.0f s after device_add",
							      CMB_SERIAL, WAIT_S);
	snprintf(dev, sizeof(dev), "%.31s", nvme.pci);

	for (int c = 0; c < cycles; c++) {
		struct worker io = { .len = CMB_IO, .seed = 2 * c + 1 };
		struct worker imp[2] = { { .len = CMB_DMABUF, .seed = 2 * c }, { .len = CMB_DMABUF, .seed = 2 * c } };
		struct p2pmm_sample_status sst;
		uint8_t *stat_mem;
		int dmabuf;

		stat_mem = mmap(NULL, MB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(st));
		ASSERT_NE(MAP_FAILED, stat_mem) TH_LOG("cycle %d: static mmap: %s", c, strerror(errno));
		fill(stat_mem, MB, 2 * c);
		io.buf = mmap(NULL, io.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(st));
		ASSERT_NE(MAP_FAILED, io.buf) TH_LOG("cycle %d: static mmap: %s", c, strerror(errno));
		fill(io.buf, io.len, io.seed);
		io.back = mmap(NULL, io.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, io.back);
		io.disk = open(nvme.blk, O_RDWR | O_DIRECT | O_CLOEXEC);
		ASSERT_LE(0, io.disk) TH_LOG("cycle %d: %s: %s", c, nvme.blk, strerror(errno));
		/* The start of the mapped memory as a dma-buf, imported dynamic and pinned by the slot's edu. */
		dmabuf = export_dmabuf(fd, stat_mem, CMB_DMABUF, 0);
		ASSERT_LE(0, dmabuf) TH_LOG("cycle %d: dma-buf export: %s", c, strerror(-dmabuf));
		for (int i = 0; i < 2; i++) {
			imp[i].fd = import_dmabuf(dmabuf, i ? P2PMM_SAMPLE_PIN : 0);
			ASSERT_LE(0, imp[i].fd) TH_LOG("cycle %d: import %d: %s", c, i, strerror(-imp[i].fd));
			imp[i].back = malloc(PAGE);
			ASSERT_NE(NULL, imp[i].back);
			ASSERT_EQ(0, pthread_create(&imp[i].thread, NULL, dmabuf_main, &imp[i]));
		}
		ASSERT_EQ(0, pthread_create(&io.thread, NULL, cmb_io_main, &io));
		/* The edu takes 100 ms a DMA (two a page): long enough for each importer to read a few pages. */
		usleep(1000000);

		/* Out it goes: acpiphp removes the NVMe, nvme unbinds and tears its p2pdma memory down. */
		ASSERT_EQ(0, remove_device(fd, CMB_ID, dev, &revoke_ms[c]))
			TH_LOG("cycle %d: %s still there %.0f s after device_del", c, dev, WAIT_S);
		usleep(100000);
		atomic_store(&io.stop, 1);
		pthread_join(io.thread, NULL);
		for (int i = 0; i < 2; i++) {
			atomic_store(&imp[i].stop, 1);
			pthread_join(imp[i].thread, NULL);
		}

		/* Each importer was told once, holds no mapping, and maps nothing any more. */
		for (int i = 0; i < 2; i++) {
			ASSERT_EQ(0, status(imp[i].fd, &sst));
			EXPECT_EQ(1, sst.invalidations) TH_LOG("cycle %d: importer %d was told %llu times", c, i,
							       (unsigned long long)sst.invalidations);
			EXPECT_EQ(0, sst.mapped) TH_LOG("cycle %d: importer %d still holds its mapping", c, i);
			EXPECT_EQ(-ENODEV, dma_page(imp[i].fd, 0, imp[i].back, 0));
			EXPECT_LT(0, imp[i].rounds) TH_LOG("cycle %d: importer %d read nothing before", c, i);
			EXPECT_EQ(0, imp[i].bad_bytes) TH_LOG("cycle %d: importer %d read %lu wrong bytes", c, i,
							      imp[i].bad_bytes);
			EXPECT_EQ(0, imp[i].undocumented) TH_LOG("cycle %d: importer %d: %lu undocumented failures "
								 "(last errno %d)", c, i, imp[i].undocumented,
								 imp[i].last_errno);
			close(imp[i].fd);
			free(imp[i].back);
		}
		close(dmabuf);
		EXPECT_EQ(SIGBUS, p2pmm_read_faults(stat_mem)) TH_LOG("cycle %d: static memory still mapped", c);
		EXPECT_EQ(SIGBUS, p2pmm_read_faults(io.buf)) TH_LOG("cycle %d: the DMA buffer still mapped", c);
		EXPECT_LT(0, io.rounds) TH_LOG("cycle %d: no transfer completed before the NVMe went", c);
		EXPECT_EQ(0, io.bad_bytes) TH_LOG("cycle %d: %lu wrong bytes came back from the disk", c, io.bad_bytes);
		EXPECT_EQ(0, io.undocumented) TH_LOG("cycle %d: %lu undocumented failures (last errno %d)", c,
						     io.undocumented, io.last_errno);
		TH_LOG("cycle %d: revoked in %.0f ms; while it went %lu transfers, %lu EFAULT, %lu EIO, %lu on the disk "
		       "gone; importer DMAs %lu and %lu", c, revoke_ms[c], io.rounds, io.refused[0], io.refused[1],
		       io.gone, imp[0].rounds, imp[1].rounds);
		close(io.disk);
		munmap(stat_mem, MB);
		munmap(io.buf, io.len);
		munmap(io.back, io.len);

		/* Back it comes: a new slot, the NVMe on the same disk; p2pmm adopts its CMB again. */
		cmb_slot_add();
		t0 = p2p_dma_now_s();
		ASSERT_EQ(0, cmb_slot_arrives(fd, &nvme, &st))
			TH_LOG("cycle %d: %s did not come back within %.0f s", c, CMB_SERIAL, WAIT_S);
		back_s[c] = p2p_dma_now_s() - t0;
		ASSERT_STREQ(dev, nvme.pci);
	}
	/* The CMB that came back last works: the CPU and the NVMe's DMA see the same bytes in it. */
	{
		uint8_t *cmb = mmap(NULL, CMB_IO, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(st));
		uint8_t *ram = mmap(NULL, CMB_IO, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int disk = open(nvme.blk, O_RDWR | O_DIRECT | O_CLOEXEC);

		ASSERT_NE(MAP_FAILED, cmb) TH_LOG("static mmap after the last return: %s", strerror(errno));
		ASSERT_NE(MAP_FAILED, ram);
		ASSERT_LE(0, disk) TH_LOG("%s: %s", nvme.blk, strerror(errno));
		fill(cmb, CMB_IO, 91);
		EXPECT_EQ((ssize_t)CMB_IO, pwrite(disk, cmb, CMB_IO, 0)) TH_LOG("write from the CMB: %s", strerror(errno));
		EXPECT_EQ((ssize_t)CMB_IO, pread(disk, ram, CMB_IO, 0)) TH_LOG("read: %s", strerror(errno));
		EXPECT_EQ(0, wrong(ram, CMB_IO, 91));
		fill(ram, CMB_IO, 92);
		EXPECT_EQ((ssize_t)CMB_IO, pwrite(disk, ram, CMB_IO, 0)) TH_LOG("write: %s", strerror(errno));
		EXPECT_EQ((ssize_t)CMB_IO, pread(disk, cmb, CMB_IO, 0)) TH_LOG("read into the CMB: %s", strerror(errno));
		EXPECT_EQ(0, wrong(cmb, CMB_IO, 92));
		close(disk);
		munmap(cmb, CMB_IO);
		munmap(ram, CMB_IO);
	}
	/* And out once more: the other tests know the topology without it, and p2pmm_sample with its own engine. */
	ASSERT_EQ(0, remove_device(fd, CMB_ID, dev, &t0)) TH_LOG("%s still there %.0f s after device_del", dev, WAIT_S);
	ASSERT_EQ(0, p2p_dma_write_file(SAMPLE "/bind", edu0)) TH_LOG("bind %s: %s", edu0, strerror(errno));
	summary(dev, "the CMB NVMe ", cycles, revoke_ms, back_s);
	close(fd);
}

/* The rp4 slot of the managed dma-buf test: the vaccel (function 0, added last: it announces the slot), the edu. */
#define MG_ID "acc4"
#define MG_EDU_ADD "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"edu\", \"id\": \"edu4\", " \
	"\"bus\": \"rp4\", \"addr\": \"0.1\", \"dma_mask\": 18446744073709551615}}"
#define MG_BAR_BYTES "33554432"	/* 32 MiB: vaccel makes 8 MiB of it managed (managed_mb=8) */
#define MG_BUF (8 * PAGE)	/* each imported dma-buf */

/* Adds the slot with a new memory backend @memdev; waits for its managed provider and its edu: 0 or -1. */
static int mg_slot_arrives(int fd, const char *memdev, const char *not, char *dev, uint32_t *mg)
{
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	char cmd[512], edu[PATH_MAX];
	double t0 = p2p_dma_now_s();

	snprintf(cmd, sizeof(cmd), "{\"execute\": \"object-add\", \"arguments\": {\"qom-type\": "
		 "\"memory-backend-ram\", \"id\": \"%s\", \"size\": " MG_BAR_BYTES "}}", memdev);
	qmp(cmd);
	qmp(MG_EDU_ADD);
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"ivshmem-plain\", "
		 "\"id\": \"" MG_ID "\", \"memdev\": \"%s\", \"bus\": \"rp4\", \"addr\": \"0.0\", "
		 "\"multifunction\": true}}", memdev);
	qmp(cmd);
	*mg = 0;
	do {
		int n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);

		/* A managed provider of a device on rp4's bus: one the default topology does not have (@not's). */
		for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++) {
			if (p[i].kind != P2PMM_PROVIDER_MANAGED || strstr(not, p[i].device))
				continue;
			snprintf(edu, sizeof(edu), SAMPLE "/%.*s1", (int)strlen(p[i].device) - 1, p[i].device);
			if (exists(edu)) {
				snprintf(dev, 32, "%.31s", p[i].device);
				*mg = p[i].id;
			}
		}
	} while (!*mg && p2p_dma_now_s() - t0 < WAIT_S && !usleep(10000));
	return *mg ? 0 : -1;
}

/* Has the edu write the pattern of @seed into every page of @sfd's dma-buf of @len bytes: 0 or -errno. */
static int dma_fill(int sfd, size_t len, unsigned int seed)
{
	uint8_t page[PAGE];

	for (size_t off = 0; off < len; off += PAGE) {
		int err;

		for (size_t i = 0; i < PAGE; i++)
			page[i] = pattern(off + i, seed);
		err = dma_page(sfd, off, page, 1);
		if (err)
			return err;
	}
	return 0;
}

/* Bytes of @sfd's dma-buf of @len bytes that the edu reads wrong against the pattern of @seed; -errno on failure. */
static long dma_wrong(int sfd, size_t len, unsigned int seed)
{
	uint8_t page[PAGE];
	long bad = 0;

	for (size_t off = 0; off < len; off += PAGE) {
		int err = dma_page(sfd, off, page, 0);

		if (err)
			return err;
		bad += wrong_at(page, PAGE, seed, off);
	}
	return bad;
}

TEST_F_TIMEOUT(hotplug, a_managed_dmabuf_goes_with_its_device, 1800)
{
	const char *env = getenv("P2PMM_HOTPLUG_CYCLES");
	int cycles = (env ? atoi(env) : 20) / 4;
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	char dev[32] = "", memdev[32], cmd[256], known[1024] = "", *edu0 = self->edu0;
	double *revoke_ms, *back_s, t0;
	int bufs[2] = { -1, -1 }, n;
	unsigned int seeds[2] = { 0, 0 };
	uint32_t mg;

	ASSERT_LE(0, fd);
	cycles = cycles > 0 ? cycles : 1;
	revoke_ms = calloc(cycles, sizeof(*revoke_ms));
	back_s = calloc(cycles, sizeof(*back_s));
	ASSERT_NE(NULL, revoke_ms);
	ASSERT_NE(NULL, back_s);
	n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
	for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++)
		snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s ", p[i].device);
	p2pmm_find_pci("0x1234", "0x11e8", edu0, sizeof(self->edu0));
	ASSERT_NE(0, edu0[0]) TH_LOG("no edu device (the default VM has one beside the switch accelerator)");
	ASSERT_EQ(0, p2p_dma_write_file(SAMPLE "/unbind", edu0)) TH_LOG("unbind %s: %s", edu0, strerror(errno));

	for (int c = 0; c < cycles; c++) {
		struct worker reader = { .len = MG_BUF, .seed = 2 * c + 1 };
		struct p2pmm_provider_info info = { .capacity = 0 };
		struct p2pmm_sample_status sst;
		int imp[2], pressure;
		uint64_t bus;

		snprintf(memdev, sizeof(memdev), MG_ID "-mem%d", c);
		t0 = p2p_dma_now_s();
		ASSERT_EQ(0, mg_slot_arrives(fd, memdev, known, dev, &mg))
			TH_LOG("cycle %d: no managed provider on rp4 %.0f s after device_add", c, WAIT_S);
		back_s[c] = p2p_dma_now_s() - t0;
		/* The last cycle's dma-bufs are kept for the end; the others go with their cycle. */
		for (int i = 0; i < 2; i++) {
			if (bufs[i] >= 0)
				close(bufs[i]);
			seeds[i] = 2 * c + i;
			bufs[i] = export_managed(fd, mg, MG_BUF, P2PMM_DMABUF_CLOEXEC);
			ASSERT_LE(0, bufs[i]) TH_LOG("cycle %d: managed export: %s", c, strerror(-bufs[i]));
			/* The driver link appears before edu_probe() has made the edu p2pmm_sample's engine. */
			t0 = p2p_dma_now_s();
			while ((imp[i] = import_dmabuf(bufs[i], i ? P2PMM_SAMPLE_PIN : 0)) == -ENODEV &&
			       p2p_dma_now_s() - t0 < WAIT_S)
				usleep(10000);
			ASSERT_LE(0, imp[i]) TH_LOG("cycle %d: import %d: %s", c, i, strerror(-imp[i]));
			ASSERT_EQ(0, dma_fill(imp[i], MG_BUF, seeds[i])) TH_LOG("cycle %d: DMA into dma-buf %d", c, i);
		}
		ASSERT_EQ(0, status(imp[1], &sst));
		bus = sst.dma_addr;
		EXPECT_TRUE(p2pmm_in_a_bar(dev, bus)) TH_LOG("cycle %d: the pinned dma-buf is not in %s's BAR", c, dev);

		/* Room for all but one dma-buf's worth: the dynamic one moves, the pinned one stays. */
		n = list_providers(fd, p, P2P_DMA_MAX_PROVIDERS);
		for (int i = 0; i < n && i < P2P_DMA_MAX_PROVIDERS; i++)
			if (p[i].id == mg)
				info = p[i];
		ASSERT_LT(2 * MG_BUF, info.capacity) TH_LOG("cycle %d: provider %u not listed", c, mg);
		pressure = export_managed(fd, mg, info.capacity - MG_BUF, 0);
		ASSERT_LE(0, pressure) TH_LOG("cycle %d: pressure export: %s", c, strerror(-pressure));
		ASSERT_EQ(0, status(imp[0], &sst));
		EXPECT_EQ(1, sst.invalidations) TH_LOG("cycle %d: the dynamic importer was not told of the move", c);
		EXPECT_EQ(0, dma_wrong(imp[0], MG_BUF, seeds[0])) TH_LOG("cycle %d: the moved dma-buf lost bytes", c);
		ASSERT_EQ(0, status(imp[0], &sst));
		EXPECT_FALSE(p2pmm_in_a_bar(dev, sst.dma_addr)) TH_LOG("cycle %d: the moved dma-buf is in the BAR", c);
		ASSERT_EQ(0, status(imp[1], &sst));
		EXPECT_EQ(0, sst.invalidations) TH_LOG("cycle %d: the pinned dma-buf moved under pressure", c);
		EXPECT_EQ(bus, sst.dma_addr);
		close(pressure);

		/* Out goes the slot while the edu reads the pinned dma-buf. */
		reader.fd = imp[1];
		reader.seed = seeds[1];
		reader.back = malloc(PAGE);
		ASSERT_NE(NULL, reader.back);
		ASSERT_EQ(0, pthread_create(&reader.thread, NULL, dmabuf_main, &reader));
		usleep(300000);
		ASSERT_EQ(0, remove_device(fd, MG_ID, dev, &revoke_ms[c]))
			TH_LOG("cycle %d: %s still there %.0f s after device_del", c, dev, WAIT_S);
		atomic_store(&reader.stop, 1);
		pthread_join(reader.thread, NULL);
		free(reader.back);
		ASSERT_EQ(0, status(imp[1], &sst));
		EXPECT_EQ(1, sst.invalidations) TH_LOG("cycle %d: the pinned importer was told %llu times", c,
						       (unsigned long long)sst.invalidations);
		/* The edu may have read on from system memory after the move, never from the BAR. */
		EXPECT_TRUE(!sst.mapped || sst.dma_addr != bus) TH_LOG("cycle %d: the pinned importer maps the BAR", c);
		ASSERT_EQ(0, status(imp[0], &sst));
		EXPECT_EQ(1, sst.invalidations) TH_LOG("cycle %d: the moved dma-buf was moved again", c);
		EXPECT_EQ(0, reader.bad_bytes) TH_LOG("cycle %d: the edu read %lu wrong bytes", c, reader.bad_bytes);
		EXPECT_LT(0, reader.rounds) TH_LOG("cycle %d: the edu read nothing before the slot went", c);
		EXPECT_EQ(0, reader.undocumented) TH_LOG("cycle %d: %lu undocumented failures (last errno %d)", c,
							 reader.undocumented, reader.last_errno);
		TH_LOG("cycle %d: removed in %.0f ms; the edu read %lu pages first", c, revoke_ms[c], reader.rounds);
		close(imp[0]);
		close(imp[1]);
		snprintf(cmd, sizeof(cmd), "{\"execute\": \"object-del\", \"arguments\": {\"id\": \"%s\"}}", memdev);
		qmp(cmd);
	}
	/* The default edu reads the last two dma-bufs from system memory: every byte is there. */
	ASSERT_EQ(0, p2p_dma_write_file(SAMPLE "/bind", edu0)) TH_LOG("bind %s: %s", edu0, strerror(errno));
	for (int i = 0; i < 2; i++) {
		int sfd = import_dmabuf(bufs[i], 0);

		ASSERT_LE(0, sfd) TH_LOG("import of dma-buf %d after the slot went: %s", i, strerror(-sfd));
		EXPECT_EQ(0, dma_wrong(sfd, MG_BUF, seeds[i])) TH_LOG("dma-buf %d lost bytes with its device", i);
		close(sfd);
		close(bufs[i]);
	}
	summary(dev, "the vaccel with managed dma-bufs ", cycles, revoke_ms, back_s);
	close(fd);
}

TEST_HARNESS_MAIN
