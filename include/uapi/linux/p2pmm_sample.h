/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * /dev/p2pmm_sample: the dma-buf importer of p2pmm's sample driver (drivers/sample), for tests and as a worked
 * example of a device driver that imports p2pmm memory (or any dma-buf) and DMAs to and from it.
 *
 * Each open file imports one dma-buf (P2PMM_SAMPLE_IOC_IMPORT) for the sample's DMA engine (QEMU's edu device,
 * bound to p2pmm_sample), as a dynamic importer: it maps the dma-buf when a DMA needs it, unmaps it when the
 * exporter invalidates its mappings (dma-buf's move_notify), and maps it again at the next DMA. Each
 * P2PMM_SAMPLE_IOC_DMA moves one page between the dma-buf and a user buffer through the engine's 4 KiB buffer: two
 * steps, one of which is the device's DMA to or from the dma-buf's DMA address. Closing the file detaches.
 *
 * /dev/p2pmm_sample_mirror is the driver's importer of process memory by virtual address (p2pmm_importer_* of
 * include/linux/p2pmm.h): each open file imports one range of the calling process's memory for the same engine
 * (P2PMM_SAMPLE_IOC_MIRROR), and each P2PMM_SAMPLE_IOC_MIRROR_DMA moves one page between the range and a user buffer
 * through the engine, at the DMA address p2pmm gave for the page wherever it is (system memory, a static mapping,
 * a managed provider's BAR). The mapping is kept until p2pmm invalidates it and made again at the next DMA.
 *
 * The ioctl numbers are 0x80 and up of p2pmm's magic (include/uapi/linux/p2pmm.h).
 */
#ifndef _UAPI_LINUX_P2PMM_SAMPLE_H
#define _UAPI_LINUX_P2PMM_SAMPLE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define P2PMM_SAMPLE_PIN (1U << 0)    /* import: pin the attachment (dma_buf_pin()); mirror: P2PMM_IMPORT_PIN */
#define P2PMM_SAMPLE_NO_P2P (1U << 1) /* attach as an importer that cannot take P2P memory (no allow_peer2peer) */
#define P2PMM_SAMPLE_TWO_PASS (1U << 2) /* mirror: take invalidations in two passes (invalidate_start/finish) */

/**
 * struct p2pmm_sample_import - argument of P2PMM_SAMPLE_IOC_IMPORT
 * @fd:    in: a dma-buf
 * @flags: in: P2PMM_SAMPLE_PIN, P2PMM_SAMPLE_NO_P2P
 *
 * Errors: EINVAL for unknown flags or @fd not a dma-buf; EBADF; EBUSY if this file imported one already; ENODEV
 * without an edu bound to p2pmm_sample; the exporter's attach errors (p2pmm: EOPNOTSUPP, EREMOTEIO, ENODEV); with
 * P2PMM_SAMPLE_PIN, the exporter's map errors.
 */
struct p2pmm_sample_import {
	__s32 fd;
	__u32 flags;
};

/**
 * struct p2pmm_sample_dma - argument of P2PMM_SAMPLE_IOC_DMA: one page between the dma-buf and a user buffer
 * @offset: in: byte offset in the dma-buf, page-aligned
 * @buf:    in: a user buffer of one page
 * @write:  in: 1: @buf to the dma-buf; 0: the dma-buf to @buf
 * @__reserved: 0
 *
 * Errors: EINVAL for an unaligned offset or one past the end, or a bad @write; ENOENT before an import; ENODEV
 * without an engine; the exporter's map errors (p2pmm: ENODEV once revoked); ETIMEDOUT for a DMA that did not
 * finish; EFAULT for @buf.
 */
struct p2pmm_sample_dma {
	__u64 offset;
	__u64 buf;
	__u32 write;
	__u32 __reserved;
};

/**
 * struct p2pmm_sample_status - argument of P2PMM_SAMPLE_IOC_STATUS: the import as the importer sees it
 * @size:          out: the dma-buf's size in bytes
 * @maps:          out: how many times the importer mapped it
 * @invalidations: out: how many times the exporter invalidated its mappings
 * @dma_addr:      out: the DMA address of the first byte in the last mapping
 * @mapped:        out: 1 while mapped
 * @pinned:        out: 1 for a pinned attachment
 *
 * Errors: ENOENT before an import.
 */
struct p2pmm_sample_status {
	__u64 size;
	__u64 maps;
	__u64 invalidations;
	__u64 dma_addr;
	__u32 mapped;
	__u32 pinned;
};

/* How the engine reached a page (enum p2pmm_dma_route of include/linux/p2pmm.h). */
#define P2PMM_SAMPLE_ROUTE_SYSTEM 1	 /* system memory */
#define P2PMM_SAMPLE_ROUTE_BUS 2	 /* p2pmm device memory by PCI bus address */
#define P2PMM_SAMPLE_ROUTE_HOST_BRIDGE 3 /* p2pmm device memory through the host bridge */

/**
 * struct p2pmm_sample_mirror - argument of P2PMM_SAMPLE_IOC_MIRROR: import a range of the caller's memory
 * @addr:   in: first address, page-aligned
 * @length: in: bytes, a multiple of the page size, at most 256 MiB
 * @flags:  in: P2PMM_SAMPLE_NO_P2P (the engine takes no P2P memory: managed pages move to system memory),
 *          P2PMM_SAMPLE_TWO_PASS (the driver takes invalidations in two passes: the first marks the mapping gone,
 *          the second waits for the DMA in flight), P2PMM_SAMPLE_PIN (the mappings pin the managed pages they reach
 *          in place: P2PMM_IMPORT_PIN)
 * @__reserved: 0
 *
 * Errors: EINVAL for unknown flags, a bad range or a nonzero @__reserved; EBUSY if this file imported a range
 * already; ENODEV without an edu bound to p2pmm_sample; ENOMEM.
 */
struct p2pmm_sample_mirror {
	__u64 addr;
	__u64 length;
	__u32 flags;
	__u32 __reserved;
};

/**
 * struct p2pmm_sample_mirror_dma - argument of P2PMM_SAMPLE_IOC_MIRROR_DMA: one page between the range and a buffer
 * @addr:     in: a page-aligned address inside the imported range
 * @buf:      in: a user buffer of one page (outside the range)
 * @dma_addr: out: the DMA address the engine used for the page
 * @write:    in: 1: @buf to the page; 0: the page to @buf
 * @route:    out: P2PMM_SAMPLE_ROUTE_*
 *
 * Errors: ENOENT before P2PMM_SAMPLE_IOC_MIRROR; EINVAL for @addr outside the range or unaligned, or a bad @write;
 * p2pmm_importer_map()'s errors (EFAULT for a range not fully mapped, EPERM for read-only memory, EREMOTEIO for
 * static memory the engine cannot reach, EBUSY); ENODEV without an engine; ETIMEDOUT for a DMA that did not finish;
 * EFAULT for @buf.
 */
struct p2pmm_sample_mirror_dma {
	__u64 addr;
	__u64 buf;
	__u64 dma_addr;
	__u32 write;
	__u32 route;
};

/**
 * struct p2pmm_sample_mirror_status - argument of P2PMM_SAMPLE_IOC_MIRROR_STATUS: the import as the driver sees it
 * @maps:          out: how many times the driver mapped the range (p2pmm_importer_map())
 * @invalidations: out: how many times p2pmm called the driver's invalidate callback
 * @retries:       out: mappings found invalidated before use (p2pmm_importer_retry())
 * @finishes:      out: how many second passes p2pmm called (P2PMM_SAMPLE_TWO_PASS)
 * @mapped:        out: 1 while the driver holds a mapping it has not seen invalidated
 * @__reserved:    0
 *
 * Errors: ENOENT before P2PMM_SAMPLE_IOC_MIRROR.
 */
struct p2pmm_sample_mirror_status {
	__u64 maps;
	__u64 invalidations;
	__u64 retries;
	__u64 finishes;
	__u32 mapped;
	__u32 __reserved;
};

#define P2PMM_SAMPLE_IOC_IMPORT _IOW(0xB9, 0x80, struct p2pmm_sample_import)
#define P2PMM_SAMPLE_IOC_DMA _IOW(0xB9, 0x81, struct p2pmm_sample_dma)
#define P2PMM_SAMPLE_IOC_STATUS _IOR(0xB9, 0x82, struct p2pmm_sample_status)
#define P2PMM_SAMPLE_IOC_MIRROR _IOW(0xB9, 0x83, struct p2pmm_sample_mirror)
#define P2PMM_SAMPLE_IOC_MIRROR_DMA _IOWR(0xB9, 0x84, struct p2pmm_sample_mirror_dma)
#define P2PMM_SAMPLE_IOC_MIRROR_STATUS _IOR(0xB9, 0x85, struct p2pmm_sample_mirror_status)

#endif /* _UAPI_LINUX_P2PMM_SAMPLE_H */
