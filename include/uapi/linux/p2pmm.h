/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * p2pmm: one memory manager for PCIe peer-to-peer device memory, static BARs and invalidatable device memory.
 *
 * Userspace talks to /dev/p2pmm through ioctls. Every ioctl argument is an *extensible struct* whose first field,
 * `size`, says how many bytes userspace passed (as openat2(2)/clone3(2) do):
 *  - size smaller than the struct's first published version (..._SIZE_VER0) -> EINVAL;
 *  - size larger than the kernel knows: the extra bytes must be zero, else E2BIG (new fields a newer userspace
 *    set that this kernel does not understand); a size over 4096 -> E2BIG;
 *  - the kernel writes back at most `size` bytes.
 * The size encoded in the ioctl number itself is ignored: the `size` field is the only version a struct has, so
 * a struct can grow without its ioctl number changing.
 * Unknown ioctl -> ENOTTY, unknown flags or non-zero reserved fields -> EINVAL, bad pointer -> EFAULT.
 */
#ifndef _UAPI_LINUX_P2PMM_H
#define _UAPI_LINUX_P2PMM_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this interface; bumped when a struct grows or an ioctl is added. */
#define P2PMM_UAPI_VERSION 6

/* Feature bits returned by P2PMM_IOC_VERSION: what the running kernel implements. */
#define P2PMM_FEATURE_VERSION (1ULL << 0)   /* P2PMM_IOC_VERSION and extensible structs */
#define P2PMM_FEATURE_PROVIDERS (1ULL << 1) /* P2PMM_IOC_PROVIDERS and P2PMM_IOC_ROUTE */
#define P2PMM_FEATURE_MIGRATE (1ULL << 2)   /* managed providers, P2PMM_IOC_MIGRATE and P2PMM_IOC_QUERY */
#define P2PMM_FEATURE_ADVISE (1ULL << 3)    /* P2PMM_IOC_ADVISE */
#define P2PMM_FEATURE_STATIC_MMAP (1ULL << 4) /* mmap of static memory at P2PMM_MMAP_OFFSET(id) */
#define P2PMM_FEATURE_BLKIO (1ULL << 5)       /* P2PMM_IOC_BLKIO (uAPI version 4) */
#define P2PMM_FEATURE_DMABUF (1ULL << 6)      /* P2PMM_IOC_DMABUF (uAPI version 5) */
#define P2PMM_FEATURE_DMABUF_MANAGED (1ULL << 7) /* P2PMM_DMABUF_MANAGED (uAPI version 6) */

/* 0xB9 is unused in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define P2PMM_IOC_MAGIC 0xB9

/**
 * struct p2pmm_version - argument of P2PMM_IOC_VERSION
 * @size:      in: sizeof(struct p2pmm_version) as userspace was built with
 * @flags:     in: must be 0
 * @version:   out: P2PMM_UAPI_VERSION of the running kernel
 * @__reserved: must be 0
 * @features:  out: P2PMM_FEATURE_* bits the running kernel implements
 */
struct p2pmm_version {
	__u32 size;
	__u32 flags;
	__u32 version;
	__u32 __reserved;
	__u64 features;
};
#define P2PMM_VERSION_SIZE_VER0 24 /* sizeof first published struct p2pmm_version */

#define P2PMM_IOC_VERSION _IOWR(P2PMM_IOC_MAGIC, 0x00, struct p2pmm_version)

/* ---- Providers: device memory p2pmm manages ---- */

/* Kinds of provider. */
#define P2PMM_PROVIDER_STATIC 1	 /* a BAR (or part) used through p2pdma: never invalidated, revoked on removal */
#define P2PMM_PROVIDER_MANAGED 2 /* capacity-bounded device memory whose pages may be evicted at any time */

/* Provider flags. */
#define P2PMM_PROVIDER_F_ADOPTED (1U << 0) /* registered with p2pdma by another driver (e.g. an NVMe CMB) */

/**
 * struct p2pmm_provider_info - one provider, as listed by P2PMM_IOC_PROVIDERS
 * @id:           p2pmm's id of the provider, 1 to 63 (stable while it exists; reused after every other free id)
 * @kind:         P2PMM_PROVIDER_*
 * @flags:        P2PMM_PROVIDER_F_*
 * @__reserved:   0
 * @device:       PCI name of the device offering the memory ("0000:04:00.0"), NUL-terminated
 * @capacity:     bytes the provider offers
 * @used:         bytes in use
 * @evictions:    pages evicted from the provider to make room
 * @migrated_in:  pages migrated to the provider
 * @migrated_out: pages migrated away from the provider (evictions included)
 * @invalidations: invalidations p2pmm caused on this provider's pages (each unmaps them for every importer)
 */
struct p2pmm_provider_info {
	__u32 id;
	__u32 kind;
	__u32 flags;
	__u32 __reserved;
	char device[32];
	__u64 capacity;
	__u64 used;
	__u64 evictions;
	__u64 migrated_in;
	__u64 migrated_out;
	__u64 invalidations;
};
#define P2PMM_PROVIDER_INFO_SIZE_VER0 96

/**
 * struct p2pmm_providers - argument of P2PMM_IOC_PROVIDERS: list the providers
 * @size:       in: sizeof(struct p2pmm_providers)
 * @flags:      in: must be 0
 * @count:      in: how many entries @entries has room for (0: only count);
 *              out: how many providers exist (may exceed the room: call again with more)
 * @entry_size: in: sizeof(struct p2pmm_provider_info) as userspace knows it (>= P2PMM_PROVIDER_INFO_SIZE_VER0),
 *              the stride of @entries; the kernel writes min(entry_size, its own) bytes per entry;
 *              out: the kernel's sizeof(struct p2pmm_provider_info)
 * @entries:    in: user pointer to the array (may be 0 when @count is 0)
 */
struct p2pmm_providers {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 entry_size;
	__u64 entries;
};
#define P2PMM_PROVIDERS_SIZE_VER0 24

/* Verdicts of the PCI topology for a (provider, client) pair, as pci_p2pdma_distance() decides them. */
#define P2PMM_ROUTE_BUS_ADDR 1	    /* below a common PCI bridge: the client uses PCI bus addresses */
#define P2PMM_ROUTE_HOST_BRIDGE 2   /* through a host bridge on p2pdma's allowlist */
#define P2PMM_ROUTE_NOT_SUPPORTED 3 /* no P2P path: the data must bounce through system memory */

/* What p2pmm does for the pair. */
#define P2PMM_PLAN_DIRECT 1 /* the client maps the provider's memory directly */
#define P2PMM_PLAN_BOUNCE 2  /* managed memory: the page moves to system memory and the client maps it there */
#define P2PMM_PLAN_REFUSED 3 /* static memory cannot move: the client cannot use it (an error, never a copy) */

/* Why a route is not direct (P2PMM_REASON_NONE when it is). */
#define P2PMM_REASON_NONE 0
#define P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED 1 /* no common upstream bridge, host bridge not on the allowlist */
#define P2PMM_REASON_ACS_REDIRECT 2	      /* common bridge, but ACS redirects and the host bridge is not allowed */
#define P2PMM_REASON_NOT_PCI 3		      /* the client is not a PCI device */
#define P2PMM_REASON_HOST_BRIDGE_DISALLOWED 4 /* p2pmm's policy forbids the host-bridge path p2pdma allows */
#define P2PMM_REASON_TOO_FAR 5		      /* p2pmm's policy limits the PCI distance */

/**
 * struct p2pmm_route - argument of P2PMM_IOC_ROUTE: how a PCI device reaches a provider's memory
 * @size:        in: sizeof(struct p2pmm_route)
 * @flags:       in: must be 0
 * @provider:    in: provider id
 * @__reserved:  0
 * @client:      in: PCI name of the importing device ("0000:05:00.0"), NUL-terminated
 * @verdict:     out: P2PMM_ROUTE_*
 * @plan:        out: P2PMM_PLAN_*
 * @reason:      out: P2PMM_REASON_*
 * @distance:    out: pci_p2pdma_distance() (-1 when not supported)
 * @host_bridge: out: vendor << 16 | device of the host bridge the provider sits under (0 if unknown)
 * @__reserved2: 0
 *
 * Errors: ENODEV for an unknown provider or client device, EINVAL for a malformed @client.
 */
struct p2pmm_route {
	__u32 size;
	__u32 flags;
	__u32 provider;
	__u32 __reserved;
	char client[32];
	__u32 verdict;
	__u32 plan;
	__u32 reason;
	__s32 distance;
	__u32 host_bridge;
	__u32 __reserved2;
};
#define P2PMM_ROUTE_SIZE_VER0 72

/*
 * Static memory is allocated by mapping it: mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
 * P2PMM_MMAP_OFFSET(id)) maps len bytes of new, zeroed memory of static provider id; munmap gives it back.
 * Errors: EINVAL for a private mapping, an offset that is not P2PMM_MMAP_OFFSET(id) or a managed provider;
 * ENODEV for an unknown provider; ENOMEM when the provider has not that much free.
 */
#define P2PMM_MMAP_OFFSET(id) ((__u64)(id) << 32)

#define P2PMM_IOC_PROVIDERS _IOWR(P2PMM_IOC_MAGIC, 0x01, struct p2pmm_providers)
#define P2PMM_IOC_ROUTE _IOWR(P2PMM_IOC_MAGIC, 0x02, struct p2pmm_route)

/* ---- Placement: moving the caller's memory between system memory and managed providers ---- */

/* Locations: a provider id, or one of these. */
#define P2PMM_LOCATION_SYSTEM 0		/* system memory */
#define P2PMM_LOCATION_NONE 0xffffffffU /* query: not populated (or memory p2pmm does not manage) */

/**
 * struct p2pmm_migrate - argument of P2PMM_IOC_MIGRATE: move a range of the caller's memory (prefetch)
 * @size:       in: sizeof(struct p2pmm_migrate)
 * @flags:      in: must be 0
 * @addr:       in: start of the range, page aligned
 * @length:     in: bytes, page aligned, > 0
 * @target:     in: P2PMM_LOCATION_SYSTEM or the id of a managed provider
 * @__reserved: 0
 * @migrated:   out: pages that moved to @target
 * @evicted:    out: pages evicted from @target to make room (moved to system memory)
 *
 * Private anonymous memory moves; other pages (shared, file-backed, pinned by others) stay where they are and
 * are not counted. When @target is full, p2pmm evicts what its policy picks (least recently placed first,
 * never a pinned page nor one younger than the residency time slice); what still does not fit stays. Every
 * page that moves is unmapped from all importers first; they re-fault and find it at the new place.
 *
 * Errors: EINVAL for flags, reserved fields, an unaligned or empty range, a static provider as @target;
 * ENODEV for an unknown provider; ENOMEM if part of the range is not mapped (as madvise(2)).
 */
struct p2pmm_migrate {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 length;
	__u32 target;
	__u32 __reserved;
	__u64 migrated;
	__u64 evicted;
};
#define P2PMM_MIGRATE_SIZE_VER0 48

/**
 * struct p2pmm_query - argument of P2PMM_IOC_QUERY: where each page of a range of a process's memory is
 * @size:       in: sizeof(struct p2pmm_query)
 * @flags:      in: must be 0
 * @addr:       in: start of the range, page aligned
 * @length:     in: bytes, page aligned, > 0
 * @locations:  in: user pointer to length / page size __u32s; out (through it): each page's location, a
 *              provider id, P2PMM_LOCATION_SYSTEM or P2PMM_LOCATION_NONE. Nothing is faulted in.
 * @pid:        in: the process whose memory to look at; 0 (or the caller's own pid) for the caller. Another
 *              process needs CAP_SYS_PTRACE. (Added in uAPI version 3; a struct of P2PMM_QUERY_SIZE_VER0 bytes
 *              means the caller.)
 * @__reserved: 0
 *
 * Errors: EINVAL for flags, reserved fields, or an unaligned or empty range; ENOMEM if part of the range is not
 * mapped; EFAULT for @locations; ESRCH for no such process (or one without an address space); EPERM for
 * another process without CAP_SYS_PTRACE.
 */
struct p2pmm_query {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 length;
	__u64 locations;
	__u32 pid;
	__u32 __reserved;
};
#define P2PMM_QUERY_SIZE_VER0 32
#define P2PMM_QUERY_SIZE_VER1 40 /* with @pid */

/* Advice (struct p2pmm_advise @advice). */
#define P2PMM_ADV_PREFERRED_LOCATION 1	 /* @location: a managed provider or P2PMM_LOCATION_SYSTEM */
#define P2PMM_ADV_UNSET_PREFERRED_LOCATION 2
#define P2PMM_ADV_ACCESSED_BY 3		 /* @location: the provider whose device accesses the range */
#define P2PMM_ADV_UNSET_ACCESSED_BY 4
#define P2PMM_ADV_READ_MOSTLY 5	 /* refused (EOPNOTSUPP): no read duplication yet */
#define P2PMM_ADV_UNSET_READ_MOSTLY 6 /* refused (EOPNOTSUPP), as READ_MOSTLY */
#define P2PMM_ADV_PIN 7	  /* never evict the range's pages from a provider to make room */
#define P2PMM_ADV_UNPIN 8

/**
 * struct p2pmm_advise - argument of P2PMM_IOC_ADVISE: advice on a range of the caller's memory (like madvise(2))
 * @size:     in: sizeof(struct p2pmm_advise)
 * @flags:    in: must be 0
 * @addr:     in: start of the range, page aligned
 * @length:   in: bytes, page aligned, > 0
 * @advice:   in: P2PMM_ADV_*
 * @location: in: the provider (or P2PMM_LOCATION_SYSTEM) for PREFERRED_LOCATION, the provider for
 *            (UNSET_)ACCESSED_BY; 0 for every other advice
 *
 * Advice belongs to the range and to this open file: unmapping the range or closing the file drops it.
 * PIN: pages of the range on a managed provider are never evicted to make room (they still move when the CPU
 * touches them or on an explicit P2PMM_IOC_MIGRATE). PREFERRED_LOCATION: such pages are evicted from their
 * preferred provider only when nothing else can be. ACCESSED_BY: such pages are evicted into a peer provider
 * only if the named provider's device reaches it directly, else to system memory. (UNSET_)READ_MOSTLY is
 * refused: p2pmm does not duplicate read-mostly pages, and advice that does nothing is not taken.
 *
 * Errors: EINVAL for flags, an unknown advice, a misplaced @location, an unaligned or empty range, a static
 * provider as preferred location; EOPNOTSUPP for (UNSET_)READ_MOSTLY; ENODEV for an unknown provider; ENOMEM
 * if part of the range is not mapped; EPERM if the caller's address space is not the one that opened the file;
 * ENOSPC for ACCESSED_BY when a provider's pages already carry 255 other sets of accessing devices.
 */
struct p2pmm_advise {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 length;
	__u32 advice;
	__u32 location;
};
#define P2PMM_ADVISE_SIZE_VER0 32

#define P2PMM_IOC_MIGRATE _IOWR(P2PMM_IOC_MAGIC, 0x03, struct p2pmm_migrate)
#define P2PMM_IOC_QUERY _IOWR(P2PMM_IOC_MAGIC, 0x04, struct p2pmm_query)
#define P2PMM_IOC_ADVISE _IOWR(P2PMM_IOC_MAGIC, 0x05, struct p2pmm_advise)

/* ---- Block I/O: a block device's DMA into and out of the caller's memory, wherever its pages are ---- */

#define P2PMM_BLKIO_WRITE (1U << 0) /* memory -> device; without it device -> memory */

/**
 * struct p2pmm_blkio - argument of P2PMM_IOC_BLKIO: move bytes between a block device and the caller's memory
 * @size:         in: sizeof(struct p2pmm_blkio)
 * @flags:        in: P2PMM_BLKIO_WRITE or 0
 * @fd:           in: a block device, open for reading (a read) or writing (P2PMM_BLKIO_WRITE)
 * @__reserved:   0
 * @addr:         in: first byte of the memory range, a multiple of the device's logical block size
 * @length:       in: bytes, a multiple of the logical block size, > 0
 * @offset:       in: byte offset on the device, a multiple of the logical block size
 * @bytes_p2p:    out: bytes the device moved to or from a provider's BAR by bus address (P2P DMA)
 * @bytes_system: out: bytes the device moved to or from system memory
 * @bytes_bounce: out: bytes that went through a bounce page in system memory, copied by the CPU to or from a
 *                managed provider the device does not reach directly
 * @retries:      out: pieces of the range set up again because an invalidation (migration, eviction, unmap)
 *                raced their setup
 *
 * The pages stay where they are: nothing is migrated, nothing pinned. A page in system memory is a DMA target;
 * a page on a managed provider is reached through the provider's BAR when the device reaches it directly
 * (P2PMM_IOC_ROUTE's plan is P2PMM_PLAN_DIRECT and the device's queue takes p2pdma pages), else it bounces;
 * static memory the caller mapped is reached through its BAR, and never bounces. Pages not yet populated are
 * faulted in first. Before that, pages whose PREFERRED_LOCATION advice (given through the same open file) names
 * a managed provider or system memory are migrated there, as far as there is room: a read into a range that
 * prefers a provider lands in the provider's BAR. An invalidation of a page under I/O (eviction, migration, munmap, fork) waits until the I/O
 * finished, so no byte lands in a page after it moved. Like O_DIRECT, the device's page cache of the range is
 * written back before and dropped after a write.
 *
 * Errors: EINVAL for flags, reserved fields, an empty or wrapping range, one not aligned to the logical block
 * size or past the end of the device, or @fd not a block device; EBADF for @fd not open (or not open for the
 * direction); ENOMEM if part of the range is not mapped; EFAULT for memory that cannot be accessed (e.g.
 * PROT_NONE, or not writable for a read); EREMOTEIO for static memory the device cannot reach; EBUSY when
 * invalidations kept racing the setup, or a provider being removed took over a second to evict its pages; the device's error (EIO, ...) for a failed I/O. On an error some bytes
 * may have moved.
 */
struct p2pmm_blkio {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 __reserved;
	__u64 addr;
	__u64 length;
	__u64 offset;
	__u64 bytes_p2p;
	__u64 bytes_system;
	__u64 bytes_bounce;
	__u64 retries;
};
#define P2PMM_BLKIO_SIZE_VER0 72

#define P2PMM_IOC_BLKIO _IOWR(P2PMM_IOC_MAGIC, 0x06, struct p2pmm_blkio)

/* ---- dma-buf export: device memory shared with other drivers as a dma-buf ---- */

#define P2PMM_DMABUF_CLOEXEC (1U << 0) /* the new file descriptor is close-on-exec */
#define P2PMM_DMABUF_MANAGED (1U << 1) /* allocate @length bytes of managed provider @provider (uAPI 6) */

/**
 * struct p2pmm_dmabuf - argument of P2PMM_IOC_DMABUF: export device memory as a dma-buf
 * @size:       in: sizeof(struct p2pmm_dmabuf)
 * @flags:      in: P2PMM_DMABUF_CLOEXEC, P2PMM_DMABUF_MANAGED
 * @addr:       in: first byte of the range, page-aligned, in a writable shared mapping of static memory
 *              (/dev/p2pmm at P2PMM_MMAP_OFFSET(id), or a provider's allocate file); 0 with P2PMM_DMABUF_MANAGED
 * @length:     in: bytes, a multiple of the page size, > 0, within that one mapping (or to allocate)
 * @fd:         out: the dma-buf's file descriptor
 * @provider:   in: with P2PMM_DMABUF_MANAGED, the managed provider's id; otherwise 0 (was __reserved)
 *
 * Static memory: the dma-buf holds the range's memory: it stays allocated after munmap(2), until the dma-buf's last
 * reference is gone (or the provider is revoked). Static memory never moves: the only invalidation is the
 * revocation of the provider (its device unbinds), which reaches every attachment and waits until each has
 * unmapped; later mappings fail with ENODEV.
 *
 * Managed memory (P2PMM_DMABUF_MANAGED): new, zeroed memory of the provider that the dma-buf owns, charged to the
 * caller's dmem cgroup. When a migration into the provider needs room that processes' pages cannot give, and when
 * the provider goes away, p2pmm moves the whole dma-buf to system memory: every importer gets invalidate_mappings
 * (move_notify), and its next mapping is of the system pages. Pinned dma-bufs (dma_buf_pin()) are moved only when
 * the provider goes. Nothing is lost; the dma-buf stays in system memory after a move.
 *
 * Importers attach with peer2peer set and get the BAR's bus addresses (or IOMMU addresses through an allowed host
 * bridge), as the kernel's P2P route decides: an importer that cannot do P2P gets EOPNOTSUPP, one that has no route
 * to the provider EREMOTEIO, at attach; nothing is ever copied through system memory behind an importer's back.
 * Importers must take invalidate_mappings (move_notify) callbacks (dma_buf_attach_revocable()); pinned ones too.
 * The dma-buf is not mappable by the CPU (mmap(2) of it: EINVAL).
 *
 * Errors: EINVAL for flags, @provider, an empty, wrapping or unaligned range, one that spans more than one mapping,
 * or a nonzero @addr with P2PMM_DMABUF_MANAGED; ENOMEM if part of the range is not mapped; EOPNOTSUPP for memory
 * that is not static memory (anonymous, file or managed memory a process mapped); EACCES for a mapping that is not
 * writable; ENODEV when the provider was revoked (or, managed, is unknown); with P2PMM_DMABUF_MANAGED: EINVAL for
 * a static provider, EOPNOTSUPP for one without a P2P window, ENOSPC when the provider cannot make the room (more
 * than it holds, or the rest is pinned or too young to move), ENOMEM over the caller's dmem.max; EFAULT for @fd;
 * EMFILE, ENFILE when no file descriptor is left; ENOMEM.
 */
struct p2pmm_dmabuf {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 length;
	__s32 fd;
	__u32 provider;
};
#define P2PMM_DMABUF_SIZE_VER0 32

#define P2PMM_IOC_DMABUF _IOWR(P2PMM_IOC_MAGIC, 0x07, struct p2pmm_dmabuf)

#endif /* _UAPI_LINUX_P2PMM_H */
