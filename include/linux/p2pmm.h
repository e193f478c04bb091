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
 * The symbols are in the "P2PMM" namespace: MODULE_IMPORT_NS("P2PMM"). Documentation/p2pmm/providers.rst.
 */
#ifndef _LINUX_P2PMM_H
#define _LINUX_P2PMM_H

#include <linux/types.h>

struct pci_dev;

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

#endif /* _LINUX_P2PMM_H */
