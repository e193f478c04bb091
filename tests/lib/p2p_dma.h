/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side helpers for the programs that make an NVMe DMA into p2pmm memory (tests/kselftest/p2pmm_odirect_test.c,
 * tests/guest/p2pmm_demo.c, tests/bench/p2p_bench.c, the BLKIO kselftests): finding an NVMe of the VM by its
 * serial, a byte pattern to check transfers with, counting the
 * kernel's dma:dma_map_phys events of a device, which every DMA mapping of system memory (and every mapping
 * through a host bridge) emits and a P2P transfer by bus address never does, and one O_DIRECT transfer through
 * io_uring; and writing a sysfs or tracefs file (also for the trace and revoke kselftests). Header-only: each
 * program is one static binary.
 */
#ifndef P2PMM_TESTS_P2P_DMA_H
#define P2PMM_TESTS_P2P_DMA_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "p2pmm_topo.h"

#define P2P_DMA_NVME_CLASS "/sys/class/nvme"
#define P2P_DMA_TRACEFS "/sys/kernel/tracing"

struct p2p_dma_nvme {
	char blk[64];	/* /dev/nvmeXn1 */
	char pci[32];	/* 0000:06:00.0 */
};

/* The first line of a sysfs file, without the trailing newline and the NVMe serial's space padding. */
static inline int p2p_dma_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char *end;

	if (!f)
		return -1;
	if (!fgets(buf, len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	end = buf + strcspn(buf, "\n");
	while (end > buf && end[-1] == ' ')
		end--;
	*end = 0;
	return 0;
}

/* The NVMe controller with this serial: its first namespace's block device and its PCI name. 0 or -1. */
static inline int p2p_dma_find_nvme(const char *serial, struct p2p_dma_nvme *out)
{
	char path[PATH_MAX], buf[64], link[PATH_MAX];
	struct dirent *d, *ns;
	DIR *dir = opendir(P2P_DMA_NVME_CLASS);
	int found = -1;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		size_t nlen = strlen(d->d_name);
		const char *slash;
		DIR *ctrl;
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), P2P_DMA_NVME_CLASS "/%s/serial", d->d_name);
		if (p2p_dma_read_line(path, buf, sizeof(buf)) || strcmp(buf, serial))
			continue;
		snprintf(path, sizeof(path), P2P_DMA_NVME_CLASS "/%s/device", d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			break;
		link[n] = 0;
		slash = strrchr(link, '/');
		snprintf(out->pci, sizeof(out->pci), "%.31s", slash ? slash + 1 : link);
		snprintf(path, sizeof(path), P2P_DMA_NVME_CLASS "/%s", d->d_name);
		ctrl = opendir(path);
		if (!ctrl)
			break;
		/* nvme0n1 under nvme0: the namespace, not one of nvme0's other attributes. */
		while ((ns = readdir(ctrl))) {
			if (!strncmp(ns->d_name, d->d_name, nlen) && ns->d_name[nlen] == 'n') {
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

/* A byte pattern that differs per seed and per page, so a page that landed elsewhere shows. */
static inline void p2p_dma_fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 12));
}

/* Index of the first byte that differs from p2p_dma_fill(seed), or -1 if none. */
static inline long p2p_dma_mismatch(const volatile unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (unsigned char)(seed * 131 + i * 7 + (i >> 12)))
			return (long)i;
	return -1;
}

static inline int p2p_dma_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* The whole of file `path` (at most cap - 1 bytes), NUL-terminated, in a buffer to free(); NULL on error. */
static inline char *p2p_dma_slurp(const char *path, size_t cap)
{
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY);
	size_t len = 0;
	ssize_t n;

	if (!buf || fd < 0) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return buf;
}

/* Seconds of CLOCK_MONOTONIC. */
static inline double p2p_dma_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Mounts tracefs if needed and switches dma:dma_map_phys on (1) or off (0). 0 or -1. */
static inline int p2p_dma_trace(int on)
{
	mkdir(P2P_DMA_TRACEFS, 0755);
	if (access(P2P_DMA_TRACEFS "/trace", F_OK) && mount("nodev", P2P_DMA_TRACEFS, "tracefs", 0, NULL))
		return -1;
	return p2p_dma_write_file(P2P_DMA_TRACEFS "/events/dma/dma_map_phys/enable", on ? "1" : "0");
}

/* Empties the trace buffer. 0 or -1. */
static inline int p2p_dma_trace_clear(void)
{
	return p2p_dma_write_file(P2P_DMA_TRACEFS "/trace", "");
}

/* dma_map_phys events of PCI device `pci` since the buffer was last cleared; -1 if it cannot be read. */
static inline int p2p_dma_maps_of(const char *pci)
{
	char line[512];
	FILE *f = fopen(P2P_DMA_TRACEFS "/trace", "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "dma_map_phys:") && strstr(line, pci))
			n++;
	fclose(f);
	return n;
}

/*
 * One read (write = 0) or write of len bytes at off of fd through io_uring, the way current storage software
 * submits O_DIRECT I/O; the guest has no liburing, so the ring is set up with the raw system calls. Returns the
 * bytes moved (the completion's result) or a negative errno.
 */
static inline ssize_t p2p_dma_uring_rw(int fd, void *buf, size_t len, off_t off, int write)
{
	struct io_uring_params p;
	struct io_uring_sqe *sqes, *e;
	struct io_uring_cqe *cqes;
	unsigned int *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask, tail, head, idx;
	size_t sq_len, cq_len, sqes_len;
	char *sq, *cq;
	ssize_t ret;
	int ring;

	memset(&p, 0, sizeof(p));
	ring = syscall(__NR_io_uring_setup, 2, &p);
	if (ring < 0)
		return -errno;
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if ((p.features & IORING_FEAT_SINGLE_MMAP) && cq_len > sq_len)
		sq_len = cq_len;
	sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	cq = (p.features & IORING_FEAT_SINGLE_MMAP) ? sq :
	     mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	sqes = mmap(NULL, sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
		ret = -ENOMEM;
		goto out;
	}
	sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	sq_array = (unsigned int *)(sq + p.sq_off.array);
	tail = *sq_tail;
	idx = tail & *sq_mask;
	e = &sqes[idx];
	memset(e, 0, sizeof(*e));
	e->opcode = write ? IORING_OP_WRITE : IORING_OP_READ;
	e->fd = fd;
	e->addr = (uintptr_t)buf;
	e->len = len;
	e->off = off;
	sq_array[idx] = idx;
	__atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
		ret = -errno;
		goto out;
	}
	cq_head = (unsigned int *)(cq + p.cq_off.head);
	cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	head = *cq_head;
	if (head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
		ret = -EAGAIN;
		goto out;
	}
	ret = cqes[head & *cq_mask].res;
	__atomic_store_n(cq_head, head + 1, __ATOMIC_RELEASE);
out:
	if (sqes != MAP_FAILED)
		munmap(sqes, sqes_len);
	if (cq != MAP_FAILED && cq != sq)
		munmap(cq, cq_len);
	if (sq != MAP_FAILED)
		munmap(sq, sq_len);
	close(ring);
	return ret;
}

/* Registers `len` bytes at `buf` as an io_uring fixed buffer (IORING_REGISTER_BUFFERS) on a new ring: 0 or -errno. */
static inline int p2p_dma_uring_register(void *buf, size_t len)
{
	struct io_uring_params p;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	int ring, ret;

	memset(&p, 0, sizeof(p));
	ring = syscall(__NR_io_uring_setup, 2, &p);
	if (ring < 0)
		return -errno;
	ret = syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1) ? -errno : 0;
	close(ring);
	return ret;
}

#define P2P_DMA_MAX_PROVIDERS 32

/*
 * What the kselftests of an NVMe's DMA into p2pmm memory start from: /dev/p2pmm and its providers, the NVMe with
 * a given serial opened O_DIRECT, a page-aligned buffer of system memory, and dma:dma_map_phys tracing on.
 */
struct p2p_dma_rig {
	int fd;
	int bfd;
	int n;
	struct p2p_dma_nvme nvme;
	struct p2pmm_provider_info p[P2P_DMA_MAX_PROVIDERS];
	unsigned char *ram;
};

/* Sets up `r` (NULL) or says what is missing; a half set-up rig is still fine for p2p_dma_rig_down(). */
static inline const char *p2p_dma_rig_up(struct p2p_dma_rig *r, const char *serial, size_t ram_len)
{
	r->bfd = -1;
	r->ram = NULL;
	r->fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);
	if (r->fd < 0)
		return "cannot open /dev/p2pmm (is p2pmm.ko loaded?)";
	r->n = list_providers(r->fd, r->p, P2P_DMA_MAX_PROVIDERS);
	if (r->n <= 0 || r->n > P2P_DMA_MAX_PROVIDERS)
		return "P2PMM_IOC_PROVIDERS failed, found none or too many";
	if (p2p_dma_find_nvme(serial, &r->nvme))
		return "no NVMe with that serial";
	r->bfd = open(r->nvme.blk, O_RDWR | O_DIRECT | O_CLOEXEC);
	if (r->bfd < 0)
		return "cannot open the NVMe's namespace O_DIRECT";
	r->ram = aligned_alloc(4096, ram_len);
	if (!r->ram)
		return "no memory for the system-memory buffer";
	if (p2p_dma_trace(1))
		return "no tracefs or no dma:dma_map_phys event";
	return NULL;
}

static inline void p2p_dma_rig_down(struct p2p_dma_rig *r)
{
	p2p_dma_trace(0);
	free(r->ram);
	if (r->bfd >= 0)
		close(r->bfd);
	if (r->fd >= 0)
		close(r->fd);
}

#endif /* P2PMM_TESTS_P2P_DMA_H */
