// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/p2pmm_sample_mirror: the sample driver's importer of process memory by virtual address
 * (include/uapi/linux/p2pmm_sample.h), through p2pmm's importer API (include/linux/p2pmm.h). It is what an
 * accelerator driver with its own page tables does, in a page of code:
 *
 *   - import: p2pmm_importer_create() over a range of the caller's address space, for the DMA engine (the edu);
 *   - use: map the range once (p2pmm_importer_map(): one DMA address per page, wherever the page is), then, under
 *     the driver's DMA lock, check the mapping is still current (p2pmm_importer_retry()) and DMA;
 *   - invalidate: p2pmm's callback takes the same DMA lock, so it returns only once no DMA uses the old addresses;
 *     the next DMA maps again.
 *
 * Locks: a file's map_lock (its mapping) -> p2pmm's lock of the importer -> the file's dma_lock -> the engine's
 * locks (p2pmm_sample.c). The invalidate callback runs under p2pmm's lock and takes only dma_lock.
 */
#include <linux/err.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/p2pmm.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/p2pmm_sample.h>

#include "p2pmm_sample.h"

#define MIRROR_MAX_BYTES (256UL << 20)
#define MIRROR_TRIES 16

static_assert(P2PMM_SAMPLE_ROUTE_SYSTEM == P2PMM_DMA_SYSTEM);
static_assert(P2PMM_SAMPLE_ROUTE_BUS == P2PMM_DMA_BUS);
static_assert(P2PMM_SAMPLE_ROUTE_HOST_BRIDGE == P2PMM_DMA_HOST_BRIDGE);

/* One open file's import. */
struct sample_mirror {
	struct mutex map_lock;		/* the import and the mapping below */
	struct p2pmm_importer *imp;
	struct device *dev;		/* the engine's device, referenced */
	unsigned long start, npages;
	unsigned int flags;		/* P2PMM_IMPORT_* */
	dma_addr_t *addrs;
	u8 *routes;
	unsigned long seq;
	bool mapped;
	u64 maps, retries;
	struct mutex dma_lock;		/* held while the engine uses the mapping */
	u64 invalidations, finishes;	/* under dma_lock */
};

/* p2pmm's callback: once dma_lock is ours, no DMA uses the mapping, and none starts on it (retry says so). */
static void mirror_invalidate(struct p2pmm_importer *imp, unsigned long start, unsigned long end)
{
	struct sample_mirror *m = p2pmm_importer_priv(imp);

	mutex_lock(&m->dma_lock);
	m->invalidations++;
	mutex_unlock(&m->dma_lock);
}

static const struct p2pmm_importer_ops mirror_ops = {
	.invalidate = mirror_invalidate,
};

/*
 * The same in two passes. First, under p2pmm's lock: nothing to do, as p2pmm_importer_retry() already tells every
 * DMA that has not started that the mapping is gone; ask for the second pass. Second, without it: wait for the DMA
 * in flight.
 */
static bool mirror_invalidate_start(struct p2pmm_importer *imp, unsigned long start, unsigned long end)
{
	return true;
}

static void mirror_invalidate_finish(struct p2pmm_importer *imp, unsigned long start, unsigned long end)
{
	struct sample_mirror *m = p2pmm_importer_priv(imp);

	mutex_lock(&m->dma_lock);
	m->invalidations++;
	m->finishes++;
	mutex_unlock(&m->dma_lock);
}

static const struct p2pmm_importer_ops mirror_two_pass_ops = {
	.invalidate_start = mirror_invalidate_start,
	.invalidate_finish = mirror_invalidate_finish,
};

static int mirror_open(struct inode *inode, struct file *file)
{
	struct sample_mirror *m = kzalloc_obj(*m);

	if (!m)
		return -ENOMEM;
	mutex_init(&m->map_lock);
	mutex_init(&m->dma_lock);
	file->private_data = m;
	return 0;
}

static int mirror_release(struct inode *inode, struct file *file)
{
	struct sample_mirror *m = file->private_data;

	/* Waits for an invalidation in progress and unmaps: no DMA runs, the file is going. */
	p2pmm_importer_destroy(m->imp);
	if (m->dev)
		put_device(m->dev);
	kvfree(m->addrs);
	kvfree(m->routes);
	mutex_destroy(&m->dma_lock);
	mutex_destroy(&m->map_lock);
	kfree(m);
	return 0;
}

static int mirror_import(struct sample_mirror *m, const struct p2pmm_sample_mirror __user *uarg)
{
	struct p2pmm_sample_mirror arg;
	struct p2pmm_importer *imp;
	struct device *dev;
	int ret = -ENOMEM;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~(P2PMM_SAMPLE_NO_P2P | P2PMM_SAMPLE_TWO_PASS | P2PMM_SAMPLE_PIN) || arg.__reserved ||
	    !arg.length || arg.length > MIRROR_MAX_BYTES || !PAGE_ALIGNED(arg.addr) || !PAGE_ALIGNED(arg.length))
		return -EINVAL;
	if (m->imp)
		return -EBUSY;
	dev = p2pmm_sample_engine_device();
	if (!dev)
		return -ENODEV;
	m->npages = arg.length >> PAGE_SHIFT;
	m->addrs = kvcalloc(m->npages, sizeof(*m->addrs), GFP_KERNEL);
	m->routes = kvcalloc(m->npages, sizeof(*m->routes), GFP_KERNEL);
	if (!m->addrs || !m->routes)
		goto free;
	imp = p2pmm_importer_create(dev, current->mm, arg.addr, arg.length,
				    arg.flags & P2PMM_SAMPLE_TWO_PASS ? &mirror_two_pass_ops : &mirror_ops, m);
	if (IS_ERR(imp)) {
		ret = PTR_ERR(imp);
		goto free;
	}
	m->imp = imp;
	m->dev = dev;
	m->start = arg.addr;
	/* The engine reads and writes the pages. */
	m->flags = P2PMM_IMPORT_WRITE | (arg.flags & P2PMM_SAMPLE_NO_P2P ? P2PMM_IMPORT_NO_P2P : 0) |
		   (arg.flags & P2PMM_SAMPLE_PIN ? P2PMM_IMPORT_PIN : 0);
	return 0;

free:
	kvfree(m->addrs);
	kvfree(m->routes);
	m->addrs = NULL;
	m->routes = NULL;
	put_device(dev);
	return ret;
}

/* One page between the range and @page with the engine, mapping the range when p2pmm invalidated it. */
static int mirror_engine_dma(struct sample_mirror *m, unsigned long i, void *page, bool write,
			     struct p2pmm_sample_mirror_dma *arg)
{
	unsigned long seq;
	int tries, ret;

	for (tries = 0; tries < MIRROR_TRIES; tries++) {
		if (!m->mapped) {
			ret = p2pmm_importer_map(m->imp, m->flags, m->addrs, m->routes, &seq);
			if (ret)
				return ret;
			m->seq = seq;
			m->mapped = true;
			m->maps++;
		}
		mutex_lock(&m->dma_lock);
		if (p2pmm_importer_retry(m->imp, m->seq)) {
			mutex_unlock(&m->dma_lock);
			m->mapped = false;
			m->retries++;
			continue;
		}
		arg->dma_addr = m->addrs[i];
		arg->route = m->routes[i];
		ret = p2pmm_sample_engine_dma(m->dev, m->addrs[i], page, write);
		mutex_unlock(&m->dma_lock);
		return ret;
	}
	return -EBUSY;
}

static int mirror_dma(struct sample_mirror *m, struct p2pmm_sample_mirror_dma __user *uarg)
{
	struct p2pmm_sample_mirror_dma arg;
	void *page;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (!m->imp)
		return -ENOENT;
	if (arg.write > 1 || !PAGE_ALIGNED(arg.addr) || arg.addr < m->start ||
	    (arg.addr - m->start) >> PAGE_SHIFT >= m->npages)
		return -EINVAL;
	page = kmalloc(PAGE_SIZE, GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	/* The user buffer is touched without dma_lock: a fault on it may invalidate the range. */
	if (arg.write && copy_from_user(page, u64_to_user_ptr(arg.buf), PAGE_SIZE)) {
		ret = -EFAULT;
		goto free;
	}
	ret = mirror_engine_dma(m, (arg.addr - m->start) >> PAGE_SHIFT, page, arg.write, &arg);
	if (!ret && !arg.write && copy_to_user(u64_to_user_ptr(arg.buf), page, PAGE_SIZE))
		ret = -EFAULT;
	if (!ret && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
free:
	kfree(page);
	return ret;
}

static int mirror_status(struct sample_mirror *m, struct p2pmm_sample_mirror_status __user *uarg)
{
	struct p2pmm_sample_mirror_status st = {};

	if (!m->imp)
		return -ENOENT;
	st.maps = m->maps;
	st.retries = m->retries;
	mutex_lock(&m->dma_lock);
	st.invalidations = m->invalidations;
	st.finishes = m->finishes;
	st.mapped = m->mapped && !p2pmm_importer_retry(m->imp, m->seq);
	mutex_unlock(&m->dma_lock);
	return copy_to_user(uarg, &st, sizeof(st)) ? -EFAULT : 0;
}

static long mirror_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct sample_mirror *m = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	mutex_lock(&m->map_lock);
	switch (cmd) {
	case P2PMM_SAMPLE_IOC_MIRROR:
		ret = mirror_import(m, uarg);
		break;
	case P2PMM_SAMPLE_IOC_MIRROR_DMA:
		ret = mirror_dma(m, uarg);
		break;
	case P2PMM_SAMPLE_IOC_MIRROR_STATUS:
		ret = mirror_status(m, uarg);
		break;
	default:
		ret = -ENOTTY;
	}
	mutex_unlock(&m->map_lock);
	return ret;
}

static const struct file_operations mirror_fops = {
	.owner = THIS_MODULE,
	.open = mirror_open,
	.release = mirror_release,
	.unlocked_ioctl = mirror_ioctl,
};

static struct miscdevice mirror_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "p2pmm_sample_mirror",
	.fops = &mirror_fops,
};

int p2pmm_sample_mirror_init(void)
{
	return misc_register(&mirror_misc);
}

void p2pmm_sample_mirror_exit(void)
{
	misc_deregister(&mirror_misc);
}
