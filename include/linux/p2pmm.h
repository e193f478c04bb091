/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2pmm's in-kernel API for PCI drivers outside p2pmm.ko: offer a BAR range as p2pmm memory.
 *
 * A driver whose device has memory in a BAR registers a range of it, from its probe, as a *static* provider
 * (p2pdma memory userspace maps from /dev/p2pmm or the provider's allocate file, and peers reach by bus address)
 * or as a *managed* provider (device memory p2pmm places processes' pages in and evicts when it is full). The
 * provider appears in P2PMM_IOC_PROVIDERS and /sys/kernel/p2pmm like p2pmm's own. The driver unregisters it from
 * its remove(), before devres releases the BAR: managed pages go back to system memory with their data, and
 * mappings of static memory are revoked (a later access raises SIGBUS).
 *
 * A driver whose device has a copy engine (a DMA master that copies memory to memory) lends it to its managed
 * provider with p2pmm_set_copy_engine(): p2pmm then moves pages between that provider and its peers with the
 * engine instead of the CPU.
 *
 * A driver whose device works on a process's memory by virtual address (an accelerator with its own page tables)
 * *imports* a range of it with p2pmm_importer_create(): p2pmm_importer_map() gives the device a DMA address for every
 * page of the range wherever the page is, with the route it takes: system memory, a static p2pmm mapping by PCI bus
 * address, or a page on a managed provider *in place*, by the bus address of the provider's BAR (a page the device
 * cannot reach there moves to system memory first). When the process's page tables change (munmap, migration,
 * eviction, fork's write-protect) p2pmm calls the driver's invalidate callback, which stops the device using the
 * addresses; the driver maps again before its next access.
 *
 * The symbols are in the "P2PMM" namespace: MODULE_IMPORT_NS("P2PMM"). Documentation/p2pmm/providers.rst.
 */
#ifndef _LINUX_P2PMM_H
#define _LINUX_P2PMM_H

#include <linux/types.h>

struct device;
struct mm_struct;
struct pci_dev;
struct p2pmm_importer;

/**
 * struct p2pmm_copy - one page for a copy engine to copy
 * @dst: where to, as a DMA address of the engine's device
 * @src: where from, as a DMA address of the engine's device
 *
 * Both are PAGE_SIZE bytes, mapped by p2pmm for &p2pmm_copy_engine.dev (a peer's BAR by its PCI bus address when
 * p2pdma routes it through a switch, dma_map_sgtable()'s verdict).
 */
struct p2pmm_copy {
	dma_addr_t dst;
	dma_addr_t src;
};

/**
 * struct p2pmm_copy_engine - a device that copies memory to memory, lent to a managed provider
 * @dev:  the DMA master that does the copies; p2pmm maps every address for it
 * @copy: copies @n pages, @copies[i].src to @copies[i].dst, and returns when they are done: 0, or a negative
 *        errno if any copy may not have happened (p2pmm then copies the batch with the CPU). Called in process
 *        context with the pages' locks held, may sleep; at most 256 pages at once; one call at a time per provider
 *        (an engine lent to several providers serialises itself).
 *
 * A driver embeds it in its own state (container_of() from @copy's first argument).
 */
struct p2pmm_copy_engine {
	struct device *dev;
	int (*copy)(struct p2pmm_copy_engine *engine, const struct p2pmm_copy *copies, unsigned int n);
};

/**
 * p2pmm_register_static() - offer a BAR range as static p2pmm memory
 * @pdev:   a PCI device the calling driver is bound to (call from probe)
 * @bar:    the BAR
 * @size:   bytes, a multiple of 2 MiB (p2pdma maps memory in sub-sections)
 * @offset: where in the BAR, a multiple of 2 MiB
 *
 * Registers the range with p2pdma (pci_p2pdma_add_resource(), published) and lists it as a static provider.
 * One static provider per device: p2pdma keeps one pool per device.
 *
 * Return: the provider's id (> 0), or -EINVAL for a bad range, -EEXIST if @pdev already has a static provider,
 * -ENOMEM, or p2pdma's error.
 */
int p2pmm_register_static(struct pci_dev *pdev, int bar, u64 size, u64 offset);

/**
 * p2pmm_register_managed() - offer a BAR range as managed p2pmm memory
 * @pdev:   a PCI device the calling driver is bound to (call from probe)
 * @bar:    the BAR
 * @size:   bytes, a multiple of 2 MiB
 * @offset: where in the BAR, a multiple of 2 MiB; must not overlap a static range
 *
 * The range holds the data of device-private pages p2pmm places pages in, and is p2pdma memory of @pdev too,
 * allocated whole to the provider, so that peers reach a page by bus address (P2PMM_IOC_BLKIO).
 *
 * Return: the provider's id (> 0), or -EINVAL for a bad range, -EBUSY if part of the range was handed out by
 * p2pdma meanwhile, -ENOMEM.
 */
int p2pmm_register_managed(struct pci_dev *pdev, int bar, u64 size, u64 offset);

/**
 * p2pmm_unregister() - take a provider away
 * @pdev: the device the provider was registered on (call from remove, before its BARs are released)
 * @id:   what p2pmm_register_static() or p2pmm_register_managed() returned
 *
 * A managed provider's pages move to system memory first. Waits for users of the provider that are in progress.
 *
 * Return: 0, or -ENOENT if @pdev has no provider @id.
 */
int p2pmm_unregister(struct pci_dev *pdev, u32 id);

/**
 * p2pmm_set_copy_engine() - lend a copy engine to a managed provider, or take it back
 * @pdev:   the device the provider was registered on
 * @id:     what p2pmm_register_managed() returned
 * @engine: the engine, or NULL to take it back; it must stay valid until it is taken back or the provider is
 *          unregistered
 *
 * From then on, a page that moves into the provider from a peer provider, or out of it into one, is copied by
 * @engine (this provider's engine is preferred to the peer's, so the copy is a pull where both have one), as long
 * as both memories have P2P windows and the engine's device reaches them (dma_map_sgtable() maps them). Otherwise,
 * and when the engine fails, the CPU copies. The provider's copied_by_engine and copied_by_cpu counters in
 * /sys/kernel/p2pmm and the p2pmm_copy tracepoint say which one did. Taking the engine back waits for the copy in
 * progress.
 *
 * Return: 0, -ENOENT if @pdev has no provider @id, or -EINVAL if it is not a managed provider or @engine has no
 * device or copy function.
 */
int p2pmm_set_copy_engine(struct pci_dev *pdev, u32 id, struct p2pmm_copy_engine *engine);

/**
 * enum p2pmm_dma_route - how an importer's device reaches a page p2pmm_importer_map() mapped
 * @P2PMM_DMA_SYSTEM:      system memory, at its DMA address for the device
 * @P2PMM_DMA_BUS:         device memory of a p2pmm provider, by PCI bus address (the device and the memory sit
 *                         below a common switch)
 * @P2PMM_DMA_HOST_BRIDGE: device memory of a p2pmm provider, through the host bridge (p2pdma allows it)
 */
enum p2pmm_dma_route {
	P2PMM_DMA_SYSTEM = 1,
	P2PMM_DMA_BUS = 2,
	P2PMM_DMA_HOST_BRIDGE = 3,
};

/* Flags of p2pmm_importer_map(). */
#define P2PMM_IMPORT_WRITE (1U << 0)  /* the device writes: every page is made writable (copy-on-write broken) */
#define P2PMM_IMPORT_NO_P2P (1U << 1) /* the device takes no P2P memory: managed pages move to system memory */
#define P2PMM_IMPORT_PIN (1U << 2)    /* pinned but revocable: eviction leaves the mapped managed pages alone */

/**
 * struct p2pmm_importer_ops - what p2pmm asks of an importer: one of @invalidate and @invalidate_start
 * @invalidate: part of the process's range, [@start, @end), changes (munmap, migration, eviction, fork's
 *              write-protect, the process's exit): stop the device using every address of the importer's current
 *              mapping, and return once it does (wait for its DMA in flight). Called only while the importer has a
 *              mapping; p2pmm unmaps it for the device when this returns. May sleep; called under p2pmm's lock of
 *              the importer, so it must not call p2pmm_importer_map() or p2pmm_importer_destroy(); it should take
 *              the lock the driver holds around its accesses (see p2pmm_importer_retry()).
 * @invalidate_start: the same in two passes, for a device whose teardown is asynchronous (a TLB flush, a queue
 *              drain), so that all the importers of a range tear down in parallel: called instead of @invalidate,
 *              under the same lock; on return the device starts no new access to the mapping. Return true if an
 *              access may still be finishing: @invalidate_finish is then called once every importer of the range
 *              had its first pass, without p2pmm's lock, and p2pmm unmaps the mapping after it. Return false if the
 *              device no longer uses the mapping: p2pmm unmaps it at once.
 * @invalidate_finish: the second pass (may be NULL): wait until the device no longer uses any address of the
 *              mapping. May sleep.
 */
struct p2pmm_importer_ops {
	void (*invalidate)(struct p2pmm_importer *imp, unsigned long start, unsigned long end);
	bool (*invalidate_start)(struct p2pmm_importer *imp, unsigned long start, unsigned long end);
	void (*invalidate_finish)(struct p2pmm_importer *imp, unsigned long start, unsigned long end);
};

/**
 * p2pmm_importer_create() - import a range of a process's memory for a device
 * @dev:    the device that will DMA to the range (its DMA mask and route decide each page's address)
 * @mm:     the process's address space, with users (e.g. current->mm in an ioctl); p2pmm keeps it (mmgrab())
 * @start:  first address, page-aligned
 * @length: bytes, a multiple of PAGE_SIZE
 * @ops:    the driver's callbacks; must stay valid until p2pmm_importer_destroy()
 * @priv:   the driver's pointer, p2pmm_importer_priv()
 *
 * Nothing is mapped yet. The importer keeps a reference to @dev; destroy it before the driver unbinds from @dev.
 *
 * Return: the importer, or ERR_PTR(-EINVAL) for an unaligned, empty or wrapping range, or ops with neither or
 * both of @invalidate and @invalidate_start; -ENOMEM.
 */
struct p2pmm_importer *p2pmm_importer_create(struct device *dev, struct mm_struct *mm, unsigned long start,
					     unsigned long length, const struct p2pmm_importer_ops *ops, void *priv);

/**
 * p2pmm_importer_priv() - the driver's pointer given to p2pmm_importer_create()
 * @imp: the importer
 */
void *p2pmm_importer_priv(struct p2pmm_importer *imp);

/**
 * p2pmm_importer_map() - map every page of the imported range for the device
 * @imp:    the importer
 * @flags:  P2PMM_IMPORT_WRITE, P2PMM_IMPORT_NO_P2P, P2PMM_IMPORT_PIN
 * @addrs:  out: the DMA address of each page of the range, in order (length / PAGE_SIZE entries)
 * @routes: out, may be NULL: the &enum p2pmm_dma_route of each page
 * @seq:    out: the mapping's sequence, for p2pmm_importer_retry()
 *
 * Faults the pages in (as a device fault would: hmm_range_fault()), leaves a page of a managed provider where it is
 * when the device reaches that provider under p2pmm's route policy (the mapping is its P2P window's bus address),
 * moves it to system memory otherwise, and maps each page for the device (dma_map_sgtable()). The mapping replaces
 * the importer's previous one and stays until the next call, an invalidation (the invalidate callback runs first)
 * or p2pmm_importer_destroy(). Nothing is pinned: the pages may move at any time after the invalidate callback
 * returned. A managed page mapped counts as used for eviction. With P2PMM_IMPORT_PIN, for a device that cannot
 * take being moved often, the managed pages mapped in place are pinned on their provider while the mapping lasts:
 * p2pmm's eviction (making room, background reclaim, a cgroup's dmem.max) never takes them. The pin is revocable:
 * the process's own moves (a migration, a CPU access, munmap, exit) and the provider's removal still move the
 * pages, after the invalidate callback, which ends the mapping and its pins. Call it without the lock the
 * invalidate callback takes.
 *
 * Return: 0; -EFAULT for a range not fully mapped by the process (or a process that exited); -EPERM for
 * P2PMM_IMPORT_WRITE on read-only memory; -EREMOTEIO for static p2pmm memory the device cannot reach (it never
 * moves); -EINVAL for unknown flags; -EBUSY when invalidations kept racing the fault (or, with P2PMM_IMPORT_PIN,
 * a page stayed under eviction for a second); -ENOMEM; the DMA API's error.
 */
int p2pmm_importer_map(struct p2pmm_importer *imp, unsigned int flags, dma_addr_t *addrs, u8 *routes,
		       unsigned long *seq);

/**
 * p2pmm_importer_retry() - whether the mapping of @seq was invalidated since
 * @imp: the importer
 * @seq: what p2pmm_importer_map() returned
 *
 * The driver calls it under the lock its invalidate callback takes, before it lets the device use the addresses:
 * if it returns false, the addresses are valid until the driver drops that lock (an invalidation waits for it in
 * the callback); if true, map again.
 */
bool p2pmm_importer_retry(struct p2pmm_importer *imp, unsigned long seq);

/**
 * p2pmm_importer_destroy() - end an import
 * @imp: the importer, or NULL
 *
 * Waits for an invalidation in progress, unmaps the mapping (the device must no longer use it) and drops the
 * references to the device and the address space.
 */
void p2pmm_importer_destroy(struct p2pmm_importer *imp);

#endif /* _LINUX_P2PMM_H */
