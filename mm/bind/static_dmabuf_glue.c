// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/static_map.rs: a range of a static mapping exported as a dma-buf (P2PMM_IOC_DMABUF).
 *
 * The dma-buf holds the mapping's memory (a reference on its struct p2pmm_static_map, as a VMA does), so it outlives
 * munmap(2). Importers get the BAR range by the kernel's P2P mapping of MMIO (dma_buf_phys_vec_to_sgt(): PCI bus
 * addresses below a common switch, IOMMU addresses through an allowed host bridge); the route is checked at attach,
 * so an importer without one learns it there (-EREMOTEIO), and one that cannot take memory without struct pages
 * (no allow_peer2peer) is refused (-EOPNOTSUPP): nothing bounces through system memory. Static memory never moves,
 * so the only invalidation is the revocation of its provider; importers must be able to take it
 * (dma_buf_attach_revocable()), pinned or not, so that a revocation ends in bounded time. The model is VFIO's BAR
 * export (drivers/vfio/pci/vfio_pci_dmabuf.c).
 *
 * Revocation (p2pmm_static_dmabufs_revoke(), from the gate's, after the gate is shut so no new export starts):
 * under each dma-buf's reservation lock it marks the dma-buf revoked (mappings and attachments fail with -ENODEV
 * from then on), tells every importer (dma_buf_invalidate_mappings()) and waits for their fences; then it waits
 * until every mapping is unmapped (a kref of one plus one per mapping, and a completion). Only then does the gate's
 * revocation give the memory back to p2pdma.
 *
 * Locks: static_map_priv.h.
 */
#include <linux/dma-buf.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "p2p_glue.h"
#include "static_map_glue.h"
#include "static_map_priv.h"

MODULE_IMPORT_NS("DMA_BUF");

/* One exported dma-buf. */
struct p2pmm_static_dmabuf {
	struct dma_buf *dmabuf;
	struct p2pmm_static_map *map;		/* holds the memory */
	struct p2pdma_provider *provider;	/* the BAR's; used only while not revoked */
	struct phys_vec phys;			/* the range, as CPU physical addresses of the BAR */
	struct list_head node;			/* in the gate's dmabufs until revoked or released */
	struct kref kref;			/* one, plus one per mapping */
	struct completion unmapped;		/* the kref's last put, after a revocation dropped the one */
	bool revoked;				/* under the reservation lock */
};

static int p2pmm_dmabuf_attach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct p2pmm_static_dmabuf *d = dmabuf->priv;
	int ret = 0;

	if (!attach->peer2peer || !dma_buf_attach_revocable(attach))
		return -EOPNOTSUPP;
	/* Not revoked under the lock: the provider (freed after revocation, with its device) is still there. */
	dma_resv_lock(dmabuf->resv, NULL);
	if (d->revoked)
		ret = -ENODEV;
	else if (pci_p2pdma_distance_many(to_pci_dev(d->provider->owner), &attach->dev, 1, false) < 0)
		ret = -EREMOTEIO;
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

static struct sg_table *p2pmm_dmabuf_map(struct dma_buf_attachment *attach, enum dma_data_direction dir)
{
	struct p2pmm_static_dmabuf *d = attach->dmabuf->priv;
	struct sg_table *sgt;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (d->revoked)
		return ERR_PTR(-ENODEV);
	sgt = dma_buf_phys_vec_to_sgt(attach, d->provider, &d->phys, 1, d->phys.len, dir);
	if (!IS_ERR(sgt))
		kref_get(&d->kref);
	return sgt;
}

static void p2pmm_dmabuf_mappings_gone(struct kref *kref)
{
	complete(&container_of(kref, struct p2pmm_static_dmabuf, kref)->unmapped);
}

static void p2pmm_dmabuf_unmap(struct dma_buf_attachment *attach, struct sg_table *sgt, enum dma_data_direction dir)
{
	struct p2pmm_static_dmabuf *d = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	/*
	 * dma_buf_phys_vec_to_sgt() zeroes orig_nents (the table has no CPU list), and sg_free_table() frees as many
	 * entries as orig_nents says: none, so every mapping's scatterlist leaked (kmemleak showed it, in 7.3.4).
	 * Its entries are its nents (sg_alloc_table() set both; nothing changes nents after).
	 */
	sgt->orig_nents = sgt->nents;
	dma_buf_free_sgt(attach, sgt, dir);
	kref_put(&d->kref, p2pmm_dmabuf_mappings_gone);
}

static void p2pmm_dmabuf_release(struct dma_buf *dmabuf)
{
	struct p2pmm_static_dmabuf *d = dmabuf->priv;
	struct p2pmm_static_gate *gate = d->map->gate;

	/* A revocation takes the dma-buf off the list only with a file reference, which we are past. */
	spin_lock(&gate->lock);
	list_del_init(&d->node);
	spin_unlock(&gate->lock);
	p2pmm_static_map_put(d->map);
	kfree(d);
}

static const struct dma_buf_ops p2pmm_dmabuf_ops = {
	.attach = p2pmm_dmabuf_attach,
	.map_dma_buf = p2pmm_dmabuf_map,
	.unmap_dma_buf = p2pmm_dmabuf_unmap,
	.release = p2pmm_dmabuf_release,
};

/* Creates the dma-buf of @len bytes at @offset of @m's memory (a reference the dma-buf takes over). */
static struct dma_buf *p2pmm_static_dmabuf_new(struct p2pmm_static_map *m, size_t offset, size_t len)
{
	struct p2pmm_static_gate *gate = m->gate;
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct p2pmm_static_dmabuf *d;
	struct dma_buf *dmabuf;
	int ret = -ENODEV;

	d = kzalloc_obj(*d);
	if (!d)
		return ERR_PTR(-ENOMEM);
	/* Read side of the gate: the revocation either finds the dma-buf on the list or shut the gate first. */
	down_read(&gate->sem);
	if (gate->revoked || !m->kaddr)
		goto unlock;
	d->map = m;
	d->phys.paddr = page_to_phys(virt_to_page(m->kaddr)) + offset;
	d->phys.len = len;
	d->provider = p2pmm_bar_provider(m->pdev, d->phys.paddr, len);
	if (!d->provider)
		goto unlock;
	kref_init(&d->kref);
	init_completion(&d->unmapped);
	INIT_LIST_HEAD(&d->node);
	info.ops = &p2pmm_dmabuf_ops;
	info.size = len;
	info.flags = O_RDWR;
	info.priv = d;
	dmabuf = dma_buf_export(&info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto unlock;
	}
	d->dmabuf = dmabuf;
	/* For /sys/kernel/debug/dma_buf/bufinfo (p2pmmctl dmabufs); set before anyone else sees the dma-buf. */
	dmabuf->name = kasprintf(GFP_KERNEL, "p2pmm provider %u", READ_ONCE(gate->id));
	spin_lock(&gate->lock);
	list_add_tail(&d->node, &gate->dmabufs);
	spin_unlock(&gate->lock);
	up_read(&gate->sem);
	return dmabuf;

unlock:
	up_read(&gate->sem);
	kfree(d);
	return ERR_PTR(ret);
}

/*
 * Exports [@addr, @addr + @len) of the caller's static memory (page-aligned, checked by the caller) as a dma-buf
 * and stores its new file descriptor (close-on-exec with @cloexec) at @fd_out; the descriptor is installed only
 * once that store succeeded, so a failure leaves the caller's file table as it was. 0 or -errno: see
 * p2pmm_static_map_of_range(), -ENODEV when the provider was revoked, -EFAULT for @fd_out, -EMFILE, -ENOMEM.
 */
int p2pmm_static_dmabuf_export(unsigned long addr, size_t len, bool cloexec, int __user *fd_out)
{
	struct mm_struct *mm = current->mm;
	struct p2pmm_static_map *m;
	struct dma_buf *dmabuf;
	size_t offset;
	int fd;

	if (!mm)
		return -EINVAL;
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	m = p2pmm_static_map_of_range(mm, addr, len, &offset);
	mmap_read_unlock(mm);
	if (IS_ERR(m))
		return PTR_ERR(m);
	dmabuf = p2pmm_static_dmabuf_new(m, offset, len);
	if (IS_ERR(dmabuf)) {
		p2pmm_static_map_put(m);
		return PTR_ERR(dmabuf);
	}
	fd = get_unused_fd_flags(cloexec ? O_CLOEXEC : 0);
	if (fd >= 0 && put_user(fd, fd_out)) {
		put_unused_fd(fd);
		fd = -EFAULT;
	}
	if (fd < 0) {
		/* The file's release puts the map and frees the rest. */
		dma_buf_put(dmabuf);
		return fd;
	}
	dma_buf_fd_install(dmabuf, fd);
	return 0;
}

/* See the comment at the top. */
void p2pmm_static_dmabufs_revoke(struct p2pmm_static_gate *gate)
{
	struct p2pmm_static_dmabuf *d;

	for (;;) {
		spin_lock(&gate->lock);
		d = list_first_entry_or_null(&gate->dmabufs, struct p2pmm_static_dmabuf, node);
		if (d) {
			list_del_init(&d->node);
			/* Being released: its importers are gone, and the release frees it. */
			if (!get_file_active(&d->dmabuf->file)) {
				spin_unlock(&gate->lock);
				continue;
			}
		}
		spin_unlock(&gate->lock);
		if (!d)
			break;
		dma_resv_lock(d->dmabuf->resv, NULL);
		d->revoked = true;
		dma_buf_invalidate_mappings(d->dmabuf);
		dma_resv_wait_timeout(d->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP, false, MAX_SCHEDULE_TIMEOUT);
		dma_resv_unlock(d->dmabuf->resv);
		kref_put(&d->kref, p2pmm_dmabuf_mappings_gone);
		/* Bounded: every importer takes invalidate_mappings and unmaps (p2pmm_dmabuf_attach()). */
		wait_for_completion(&d->unmapped);
		fput(d->dmabuf->file);
	}
}
