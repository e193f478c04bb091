/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side wrappers of P2PMM_IOC_DMABUF and of p2pmm_sample's dma-buf importer (/dev/p2pmm_sample,
 * include/uapi/linux/p2pmm_sample.h: import, DMA by its engine, status) for the kselftests that export p2pmm memory
 * to it (p2pmm_dmabuf_test, p2pmm_hotplug_test). Header-only.
 */
#ifndef P2PMM_TESTS_P2PMM_DMABUF_H
#define P2PMM_TESTS_P2PMM_DMABUF_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/p2pmm.h>
#include <linux/p2pmm_sample.h>

/* P2PMM_IOC_DMABUF: the new dma-buf's descriptor, or -errno. */
static inline int export_dmabuf(int fd, void *addr, size_t len, uint32_t flags)
{
	struct p2pmm_dmabuf d = {
		.size = sizeof(d), .flags = flags, .addr = (uintptr_t)addr, .length = len, .fd = -1,
	};

	return ioctl(fd, P2PMM_IOC_DMABUF, &d) ? -errno : d.fd;
}

/* P2PMM_IOC_DMABUF with P2PMM_DMABUF_MANAGED: @len new bytes of managed provider @id; the descriptor, or -errno. */
static inline int export_managed(int fd, uint32_t id, size_t len, uint32_t flags)
{
	struct p2pmm_dmabuf d = {
		.size = sizeof(d), .flags = flags | P2PMM_DMABUF_MANAGED, .length = len, .fd = -1, .provider = id,
	};

	return ioctl(fd, P2PMM_IOC_DMABUF, &d) ? -errno : d.fd;
}

/* A new importer of @dmabuf (flags P2PMM_SAMPLE_*): its descriptor, or -errno. */
static inline int import_dmabuf(int dmabuf, uint32_t flags)
{
	struct p2pmm_sample_import imp = { .fd = dmabuf, .flags = flags };
	int sfd = open("/dev/p2pmm_sample", O_RDWR | O_CLOEXEC), err;

	if (sfd < 0)
		return -errno;
	if (!ioctl(sfd, P2PMM_SAMPLE_IOC_IMPORT, &imp))
		return sfd;
	err = errno;
	close(sfd);
	return -err;
}

/* One page between @buf and byte @offset of the importer's dma-buf, by the engine's DMA: 0 or -errno. */
static inline int dma_page(int sfd, uint64_t offset, void *buf, int write)
{
	struct p2pmm_sample_dma d = { .offset = offset, .buf = (uintptr_t)buf, .write = write };

	return ioctl(sfd, P2PMM_SAMPLE_IOC_DMA, &d) ? -errno : 0;
}

static inline int status(int sfd, struct p2pmm_sample_status *st)
{
	memset(st, 0xa5, sizeof(*st));
	return ioctl(sfd, P2PMM_SAMPLE_IOC_STATUS, st) ? -errno : 0;
}

#endif /* P2PMM_TESTS_P2PMM_DMABUF_H */
