// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/p2pmm_sample: the sample driver's dma-buf importer (include/uapi/linux/p2pmm_sample.h). A dynamic importer
 * of the kind a device driver is: it attaches the sample's DMA engine (the edu) with allow_peer2peer, maps the
 * dma-buf under its reservation lock when a DMA needs it, and on invalidate_mappings (the exporter moves or revokes
 * the memory) unmaps at once, in the callback, so the exporter's wait is bounded; the next DMA maps again, and the
 * exporter says whether it can (p2pmm: -ENODEV once its provider is revoked). A DMA runs under the reservation
 * lock, so an invalidation waits for a DMA in flight and no DMA uses a mapping that was invalidated.
 *
 * It imports any dma-buf, not only p2pmm's: the tests also hand it a udmabuf (memfd pages).
 *
 * Locks: a file's lock (its import) -> a dma-buf's reservation lock -> the engine's locks (p2pmm_sample.c).
 */
#include <linux/dma-buf.h>
#include <linux/dma-resv.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/p2pmm_sample.h>

#include "p2pmm_sample.h"

MODULE_IMPORT_NS("DMA_BUF");

/* One open file's import. */
struct sample_import {
	struct mutex lock;		/* the fields below but those under the reservation lock */
	struct dma_buf *dmabuf;
	struct dma_buf_attachment *attach;
	struct device *dev;		/* the engine's device, referenced */
	bool pinned;
	/* Under the dma-buf's reservation lock: */
	struct sg_table *sgt;		/* the mapping, or NULL */
	dma_addr_t dma_addr;		/* of its first byte */
	u64 maps;
	u64 invalidations;
};

static void sample_unmap(struct sample_import *imp)
{
	dma_resv_assert_held(imp->dmabuf->resv);
	if (!imp->sgt)
		return;
	dma_buf_unmap_attachment(imp->attach, imp->sgt, DMA_BIDIRECTIONAL);
	imp->sgt = NULL;
}

/* Called by the exporter with the reservation lock held: stop using the mapping now. */
static void sample_invalidate(struct dma_buf_attachment *attach)
{
	struct sample_import *imp = attach->importer_priv;

	sample_unmap(imp);
	imp->invalidations++;
}

static const struct dma_buf_attach_ops sample_p2p_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = sample_invalidate,
};

static const struct dma_buf_attach_ops sample_no_p2p_ops = {
	.allow_peer2peer = false,
	.invalidate_mappings = sample_invalidate,
};

static int sample_map(struct sample_import *imp)
{
	struct sg_table *sgt;

	dma_resv_assert_held(imp->dmabuf->resv);
	if (imp->sgt)
		return 0;
	sgt = dma_buf_map_attachment(imp->attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt))
		return PTR_ERR(sgt);
	imp->sgt = sgt;
	imp->dma_addr = sg_dma_address(sgt->sgl);
	imp->maps++;
	return 0;
}

/* The DMA address of byte @offset of the mapping, or 0 past its end. */
static dma_addr_t sample_dma_addr(struct sample_import *imp, u64 offset)
{
	struct scatterlist *sg;
	unsigned int i;

	for_each_sgtable_dma_sg(imp->sgt, sg, i) {
		if (offset < sg_dma_len(sg))
			return sg_dma_address(sg) + offset;
		offset -= sg_dma_len(sg);
	}
	return 0;
}

static int sample_open(struct inode *inode, struct file *file)
{
	struct sample_import *imp = kzalloc_obj(*imp);

	if (!imp)
		return -ENOMEM;
	mutex_init(&imp->lock);
	file->private_data = imp;
	return 0;
}

static int sample_release(struct inode *inode, struct file *file)
{
	struct sample_import *imp = file->private_data;

	if (imp->dmabuf) {
		dma_resv_lock(imp->dmabuf->resv, NULL);
		sample_unmap(imp);
		if (imp->pinned)
			dma_buf_unpin(imp->attach);
		dma_resv_unlock(imp->dmabuf->resv);
		dma_buf_detach(imp->dmabuf, imp->attach);
		dma_buf_put(imp->dmabuf);
		put_device(imp->dev);
	}
	mutex_destroy(&imp->lock);
	kfree(imp);
	return 0;
}

static int sample_import(struct sample_import *imp, const struct p2pmm_sample_import __user *uarg)
{
	struct p2pmm_sample_import arg;
	struct dma_buf_attachment *attach;
	struct dma_buf *dmabuf;
	struct device *dev;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~(P2PMM_SAMPLE_PIN | P2PMM_SAMPLE_NO_P2P))
		return -EINVAL;
	if (imp->dmabuf)
		return -EBUSY;
	dev = p2pmm_sample_engine_device();
	if (!dev)
		return -ENODEV;
	dmabuf = dma_buf_get(arg.fd);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto put_dev;
	}
	attach = dma_buf_dynamic_attach(dmabuf, dev,
					arg.flags & P2PMM_SAMPLE_NO_P2P ? &sample_no_p2p_ops : &sample_p2p_ops, imp);
	if (IS_ERR(attach)) {
		ret = PTR_ERR(attach);
		goto put_buf;
	}
	imp->dmabuf = dmabuf;
	imp->attach = attach;
	imp->dev = dev;
	if (arg.flags & P2PMM_SAMPLE_PIN) {
		/* Pinned: mapped once here; an invalidation is then a revocation (the next DMA's map says so). */
		dma_resv_lock(dmabuf->resv, NULL);
		ret = dma_buf_pin(attach);
		if (!ret) {
			ret = sample_map(imp);
			if (ret)
				dma_buf_unpin(attach);
		}
		dma_resv_unlock(dmabuf->resv);
		if (ret)
			goto detach;
		imp->pinned = true;
	}
	return 0;

detach:
	imp->dmabuf = NULL;
	dma_buf_detach(dmabuf, attach);
put_buf:
	dma_buf_put(dmabuf);
put_dev:
	put_device(dev);
	return ret;
}

static int sample_dma(struct sample_import *imp, const struct p2pmm_sample_dma __user *uarg)
{
	struct p2pmm_sample_dma arg;
	dma_addr_t addr;
	void *page;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!imp->dmabuf)
		return -ENOENT;
	if (arg.write > 1 || arg.__reserved || !PAGE_ALIGNED(arg.offset) || arg.offset >= imp->dmabuf->size)
		return -EINVAL;
	page = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	if (arg.write && copy_from_user(page, u64_to_user_ptr(arg.buf), PAGE_SIZE)) {
		ret = -EFAULT;
		goto free;
	}
	ret = dma_resv_lock_interruptible(imp->dmabuf->resv, NULL);
	if (ret)
		goto free;
	ret = sample_map(imp);
	if (!ret) {
		addr = sample_dma_addr(imp, arg.offset);
		ret = addr ? p2pmm_sample_engine_dma(imp->dev, addr, page, arg.write) : -EINVAL;
	}
	dma_resv_unlock(imp->dmabuf->resv);
	if (!ret && !arg.write && copy_to_user(u64_to_user_ptr(arg.buf), page, PAGE_SIZE))
		ret = -EFAULT;
free:
	kfree(page);
	return ret;
}

static int sample_status(struct sample_import *imp, struct p2pmm_sample_status __user *uarg)
{
	struct p2pmm_sample_status st = {};

	if (!imp->dmabuf)
		return -ENOENT;
	dma_resv_lock(imp->dmabuf->resv, NULL);
	st.size = imp->dmabuf->size;
	st.maps = imp->maps;
	st.invalidations = imp->invalidations;
	st.dma_addr = imp->dma_addr;
	st.mapped = !!imp->sgt;
	st.pinned = imp->pinned;
	dma_resv_unlock(imp->dmabuf->resv);
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long sample_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct sample_import *imp = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&imp->lock);
	switch (cmd) {
	case P2PMM_SAMPLE_IOC_IMPORT:
		ret = sample_import(imp, uarg);
		break;
	case P2PMM_SAMPLE_IOC_DMA:
		ret = sample_dma(imp, uarg);
		break;
	case P2PMM_SAMPLE_IOC_STATUS:
		ret = sample_status(imp, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&imp->lock);
	return ret;
}

static const struct file_operations sample_fops = {
	.owner = THIS_MODULE,
	.open = sample_open,
	.release = sample_release,
	.unlocked_ioctl = sample_ioctl,
};

static struct miscdevice sample_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "p2pmm_sample",
	.fops = &sample_fops,
};

int p2pmm_sample_importer_init(void)
{
	return misc_register(&sample_misc);
}

void p2pmm_sample_importer_exit(void)
{
	misc_deregister(&sample_misc);
}
