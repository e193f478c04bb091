/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for mm/bind/dma_mirror.rs: the pages of a mirrored range mapped for an importer's device, and the calls
 * into the importer's driver (struct p2pmm_importer of include/linux/p2pmm.h, defined in mm/p2pmm_export.c). The
 * rules for calling each function are in the Rust file.
 */
#ifndef P2PMM_DMA_MIRROR_GLUE_H
#define P2PMM_DMA_MIRROR_GLUE_H

#include <linux/types.h>

struct device;
struct p2pmm_dma_pages;
struct p2pmm_importer;
struct page;
struct pci_dev;

struct p2pmm_dma_pages *p2pmm_dma_pages_alloc(struct device *dev, unsigned int n, bool write);
int p2pmm_dma_pages_map(struct p2pmm_dma_pages *p, struct page **pages, unsigned int n, dma_addr_t *addrs,
			u8 *routes);
void p2pmm_dma_pages_free(struct p2pmm_dma_pages *p);
struct pci_dev *p2pmm_dev_pci_get(struct device *dev);
bool p2pmm_importer_call_invalidate_start(struct p2pmm_importer *imp, unsigned long start, unsigned long end);
void p2pmm_importer_call_invalidate_finish(struct p2pmm_importer *imp, unsigned long start, unsigned long end);

#endif /* P2PMM_DMA_MIRROR_GLUE_H */
