// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/dma_mirror.rs; see dma_mirror_glue.h. The pages are mapped with dma_map_sgtable(), which gives
 * a p2pdma page its PCI bus address when p2pdma routes it through a switch (the segment is then marked
 * sg_dma_is_bus_address()), maps it through the host bridge where that is allowed, and fails with -EREMOTEIO where
 * the device cannot reach it: the kernel's own verdict, as for every other DMA p2pmm sets up.
 */
#include <linux/dma-mapping.h>
#include <linux/memremap.h>
#include <linux/p2pmm.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "dma_mirror_glue.h"

/* One mapping of an importer: a table of one page per entry, allocated before the pages are known. */
struct p2pmm_dma_pages {
	struct sg_table sgt;
	struct device *dev;	/* referenced */
	enum dma_data_direction dir;
	bool mapped;
};

struct p2pmm_dma_pages *p2pmm_dma_pages_alloc(struct device *dev, unsigned int n, bool write)
{
	struct p2pmm_dma_pages *p;

	if (!n)
		return NULL;
	p = kzalloc_obj(*p);
	if (!p)
		return NULL;
	if (sg_alloc_table(&p->sgt, n, GFP_KERNEL)) {
		kfree(p);
		return NULL;
	}
	p->dev = get_device(dev);
	p->dir = write ? DMA_BIDIRECTIONAL : DMA_TO_DEVICE;
	return p;
}

/*
 * Maps @pages (one per entry of @p's table, none device-private) for @p's device and writes each page's DMA
 * address and route. Allocates nothing beyond what the DMA API does: it runs under the importer's lock, which an
 * invalidation from reclaim takes.
 */
int p2pmm_dma_pages_map(struct p2pmm_dma_pages *p, struct page **pages, unsigned int n, dma_addr_t *addrs,
			u8 *routes)
{
	struct scatterlist *sg;
	unsigned int i, k = 0;
	u64 off;
	int ret;

	if (p->mapped || n != p->sgt.orig_nents)
		return -EINVAL;
	for_each_sgtable_sg(&p->sgt, sg, i)
		sg_set_page(sg, pages[i], PAGE_SIZE, 0);
	ret = dma_map_sgtable(p->dev, &p->sgt, p->dir, 0);
	if (ret)
		return ret;
	p->mapped = true;
	/* An IOMMU may merge pages into one segment: walk the segments page by page. */
	for_each_sgtable_dma_sg(&p->sgt, sg, i) {
		for (off = 0; off < sg_dma_len(sg) && k < n; off += PAGE_SIZE, k++) {
			addrs[k] = sg_dma_address(sg) + off;
			if (!routes)
				continue;
			if (!is_pci_p2pdma_page(pages[k]))
				routes[k] = P2PMM_DMA_SYSTEM;
			else if (sg_dma_is_bus_address(sg))
				routes[k] = P2PMM_DMA_BUS;
			else
				routes[k] = P2PMM_DMA_HOST_BRIDGE;
		}
	}
	return k == n ? 0 : -EIO;
}

void p2pmm_dma_pages_free(struct p2pmm_dma_pages *p)
{
	if (!p)
		return;
	if (p->mapped)
		dma_unmap_sgtable(p->dev, &p->sgt, p->dir, 0);
	sg_free_table(&p->sgt);
	put_device(p->dev);
	kfree(p);
}

/* @dev as a PCI device, referenced (pci_dev_put() it), or NULL if it is not one. */
struct pci_dev *p2pmm_dev_pci_get(struct device *dev)
{
	return dev_is_pci(dev) ? pci_dev_get(to_pci_dev(dev)) : NULL;
}
