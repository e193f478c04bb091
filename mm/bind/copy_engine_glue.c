// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/copy_engine.rs; see copy_engine_glue.h. Pages are mapped for the engine's device with
 * dma_map_sgtable(), which gives a p2pdma page its PCI bus address when p2pdma routes it through a switch, maps it
 * through the host bridge where that is allowed, and fails with -EREMOTEIO where the device cannot reach it: the
 * kernel's own verdict, as for every other DMA p2pmm sets up.
 */
#include <linux/dma-mapping.h>
#include <linux/p2pmm.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "copy_engine_glue.h"

bool p2pmm_engine_valid(const struct p2pmm_copy_engine *engine)
{
	return engine->dev && engine->copy;
}

const char *p2pmm_engine_dev_name(const struct p2pmm_copy_engine *engine)
{
	return dev_name(engine->dev);
}

static int p2pmm_engine_map(struct device *dev, struct sg_table *sgt, struct page **pages, unsigned int n,
			    enum dma_data_direction dir)
{
	int ret;

	ret = sg_alloc_table_from_pages(sgt, pages, n, 0, (unsigned long)n << PAGE_SHIFT, GFP_KERNEL);
	if (ret)
		return ret;
	ret = dma_map_sgtable(dev, sgt, dir, 0);
	if (ret)
		sg_free_table(sgt);
	return ret;
}

static void p2pmm_engine_unmap(struct device *dev, struct sg_table *sgt, enum dma_data_direction dir)
{
	dma_unmap_sgtable(dev, sgt, dir, 0);
	sg_free_table(sgt);
}

/* The DMA address of each page of a mapped table (segments may span several pages) into copies[i].dst or .src. */
static int p2pmm_engine_addrs(struct sg_table *sgt, struct p2pmm_copy *copies, unsigned int n, bool dst)
{
	struct scatterlist *sg;
	unsigned int i, k = 0;
	u64 off;

	for_each_sgtable_dma_sg(sgt, sg, i) {
		for (off = 0; off < sg_dma_len(sg); off += PAGE_SIZE) {
			if (k == n)
				return -EIO;
			if (dst)
				copies[k++].dst = sg_dma_address(sg) + off;
			else
				copies[k++].src = sg_dma_address(sg) + off;
		}
	}
	return k == n ? 0 : -EIO;
}

int p2pmm_engine_copy(struct p2pmm_copy_engine *engine, struct page **dst, struct page **src, unsigned int n)
{
	struct sg_table dsgt, ssgt;
	struct p2pmm_copy *copies;
	int ret;

	copies = kmalloc_array(n, sizeof(*copies), GFP_KERNEL);
	if (!copies)
		return -ENOMEM;
	ret = p2pmm_engine_map(engine->dev, &dsgt, dst, n, DMA_FROM_DEVICE);
	if (ret)
		goto free;
	ret = p2pmm_engine_map(engine->dev, &ssgt, src, n, DMA_TO_DEVICE);
	if (ret)
		goto unmap_dst;
	ret = p2pmm_engine_addrs(&dsgt, copies, n, true);
	if (!ret)
		ret = p2pmm_engine_addrs(&ssgt, copies, n, false);
	if (!ret)
		ret = engine->copy(engine, copies, n);
	p2pmm_engine_unmap(engine->dev, &ssgt, DMA_TO_DEVICE);
unmap_dst:
	p2pmm_engine_unmap(engine->dev, &dsgt, DMA_FROM_DEVICE);
free:
	kfree(copies);
	return ret;
}
