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
 * The symbols are in the "P2PMM" namespace: MODULE_IMPORT_NS("P2PMM"). Documentation/p2pmm/providers.rst.
 */
#ifndef _LINUX_P2PMM_H
#define _LINUX_P2PMM_H

#include <linux/types.h>

struct device;
struct pci_dev;

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

#endif /* _LINUX_P2PMM_H */
