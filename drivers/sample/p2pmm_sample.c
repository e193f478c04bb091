// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmm_sample: a PCI driver outside p2pmm.ko that offers its device's BAR through p2pmm's in-kernel API
 * (include/linux/p2pmm.h): the first static_mb MiB of BAR 2 (16 by default) as static memory and the next
 * managed_mb MiB (8 by default) as managed memory. Its ID table names no memory device: it takes memory only where
 * an administrator (or tests/kselftest/p2pmm_sample_driver_test.c, or the scale suite) sets driver_override, e.g.
 * on an ivshmem-plain device.
 *
 * It also drives QEMU's "edu" device (1234:11e8, by its ID table) as a copy engine: a DMA master that moves up to
 * 4 KiB between memory and a buffer of its own, so a page copy is two DMAs, source to buffer and buffer to
 * destination (each takes 100 ms of QEMU's clock: a correct engine, not a fast one). The first edu bound is lent
 * to every managed provider this driver registers (p2pmm_set_copy_engine()), and taken back when either goes. In
 * the test VM the edu is function 1 of the switch accelerator's slot, beside its memory on function 0.
 *
 * The same engine is the device of the driver's dma-buf importer, /dev/p2pmm_sample (p2pmm_sample_importer.c), which
 * imports p2pmm's exported memory (P2PMM_IOC_DMABUF) or any other dma-buf and DMAs to and from it, and of its
 * importer of process memory by virtual address, /dev/p2pmm_sample_mirror (p2pmm_sample_mirror.c, through
 * p2pmm_importer_*), which DMAs to a process's pages wherever p2pmm placed them.
 *
 * Locks: sample_lock -> p2pmm's locks (lending the engine); sample_lock -> engine_lock -> an engine's lock; the
 * importers' locks -> engine_lock -> an engine's lock.
 */
#include <linux/dma-mapping.h>
#include <linux/iopoll.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/p2pmm.h>
#include <linux/pci.h>

#include "p2pmm_sample.h"

#define SAMPLE_BAR 2

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_IDENT 0x00
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_RUN 0x1
#define EDU_DMA_TO_MEMORY 0x2
#define EDU_DMA_BUF 0x40000
#define EDU_DMA_TIMEOUT_US (2 * USEC_PER_SEC)

static unsigned int static_mb = 16;
module_param(static_mb, uint, 0444);
MODULE_PARM_DESC(static_mb, "MiB at the start of BAR 2 offered as static memory");

static unsigned int managed_mb = 8;
module_param(managed_mb, uint, 0444);
MODULE_PARM_DESC(managed_mb, "MiB after the static part offered as managed memory (a multiple of 2)");

static bool engine_fail;
module_param(engine_fail, bool, 0644);
MODULE_PARM_DESC(engine_fail, "Make every copy of the edu engine fail with -EIO (p2pmm then copies with the CPU)");

struct p2pmm_sample {
	struct pci_dev *pdev;
	u32 static_id;
	u32 managed_id;
	struct list_head node;
};

struct p2pmm_sample_engine {
	struct p2pmm_copy_engine engine;
	void __iomem *regs;
	struct mutex lock;	/* one DMA at a time: the edu has one buffer */
};

/*
 * The sample devices with memory, and the engine lent to their managed providers. sample_engine changes under both
 * locks. The importers DMA under locks of their own, which p2pmm's invalidations take (with p2pmm's locks held, or
 * from reclaim), so the DMA path takes only engine_lock, which is never held across a call into p2pmm: lockdep
 * would see sample_lock -> p2pmm's registry lock (probe lends the engine) close a circle otherwise.
 */
static DEFINE_MUTEX(sample_lock);
static DEFINE_MUTEX(engine_lock);
static LIST_HEAD(sample_devices);
static struct p2pmm_sample_engine *sample_engine;

/* One edu DMA of a page between its buffer and @addr, and its wait. */
static int edu_dma(struct p2pmm_sample_engine *e, dma_addr_t addr, bool to_memory)
{
	u64 cmd;

	writeq(to_memory ? EDU_DMA_BUF : addr, e->regs + EDU_DMA_SRC);
	writeq(to_memory ? addr : EDU_DMA_BUF, e->regs + EDU_DMA_DST);
	writeq(PAGE_SIZE, e->regs + EDU_DMA_CNT);
	writeq(EDU_DMA_RUN | (to_memory ? EDU_DMA_TO_MEMORY : 0), e->regs + EDU_DMA_CMD);
	return readq_poll_timeout(e->regs + EDU_DMA_CMD, cmd, !(cmd & EDU_DMA_RUN), 1000, EDU_DMA_TIMEOUT_US);
}

static int edu_copy(struct p2pmm_copy_engine *engine, const struct p2pmm_copy *copies, unsigned int n)
{
	struct p2pmm_sample_engine *e = container_of(engine, struct p2pmm_sample_engine, engine);
	unsigned int i;
	int ret = 0;

	if (READ_ONCE(engine_fail))
		return -EIO;
	mutex_lock(&e->lock);
	for (i = 0; i < n && !ret; i++) {
		ret = edu_dma(e, copies[i].src, false);
		if (!ret)
			ret = edu_dma(e, copies[i].dst, true);
	}
	mutex_unlock(&e->lock);
	return ret;
}

/* The engine's device, referenced (put_device() it), or NULL without an engine. */
struct device *p2pmm_sample_engine_device(void)
{
	struct device *dev = NULL;

	mutex_lock(&engine_lock);
	if (sample_engine)
		dev = get_device(sample_engine->engine.dev);
	mutex_unlock(&engine_lock);
	return dev;
}

/*
 * Copies a page between @page (kernel memory) and @addr (a DMA address for @dev) with the engine: to @addr with
 * @to_memory, else from it. The edu's buffer is not mapped for the CPU, so @page is mapped for the device and the
 * copy is two DMAs, as edu_copy()'s. -ENODEV when @dev is not the engine (any more).
 */
int p2pmm_sample_engine_dma(struct device *dev, dma_addr_t addr, void *page, bool to_memory)
{
	struct p2pmm_sample_engine *e;
	dma_addr_t bounce;
	int ret = -ENODEV;

	bounce = dma_map_single(dev, page, PAGE_SIZE, DMA_BIDIRECTIONAL);
	if (dma_mapping_error(dev, bounce))
		return -ENOMEM;
	mutex_lock(&engine_lock);
	e = sample_engine;
	if (e && e->engine.dev == dev) {
		mutex_lock(&e->lock);
		ret = edu_dma(e, to_memory ? bounce : addr, false);
		if (!ret)
			ret = edu_dma(e, to_memory ? addr : bounce, true);
		mutex_unlock(&e->lock);
	}
	mutex_unlock(&engine_lock);
	dma_unmap_single(dev, bounce, PAGE_SIZE, DMA_BIDIRECTIONAL);
	return ret;
}

static int edu_probe(struct pci_dev *pdev)
{
	struct p2pmm_sample_engine *e;
	struct p2pmm_sample *s;
	int ret;

	e = devm_kzalloc(&pdev->dev, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	e->regs = pcim_iomap_region(pdev, 0, "p2pmm_sample");
	if (IS_ERR(e->regs))
		return PTR_ERR(e->regs);
	if ((readl(e->regs + EDU_IDENT) & 0xff) != 0xed)
		return -ENODEV;
	pci_set_master(pdev);
	mutex_init(&e->lock);
	e->engine.dev = &pdev->dev;
	e->engine.copy = edu_copy;
	pci_set_drvdata(pdev, e);

	mutex_lock(&sample_lock);
	if (!sample_engine) {
		mutex_lock(&engine_lock);
		sample_engine = e;
		mutex_unlock(&engine_lock);
		list_for_each_entry(s, &sample_devices, node)
			p2pmm_set_copy_engine(s->pdev, s->managed_id, &e->engine);
	}
	mutex_unlock(&sample_lock);
	dev_info(&pdev->dev, "copy engine\n");
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct p2pmm_sample_engine *e = pci_get_drvdata(pdev);
	struct p2pmm_sample *s;

	mutex_lock(&sample_lock);
	if (sample_engine == e) {
		/* Waits for a copy in progress. */
		list_for_each_entry(s, &sample_devices, node)
			p2pmm_set_copy_engine(s->pdev, s->managed_id, NULL);
		mutex_lock(&engine_lock);
		sample_engine = NULL;
		mutex_unlock(&engine_lock);
	}
	mutex_unlock(&sample_lock);
}

static bool is_edu(struct pci_dev *pdev)
{
	return pdev->vendor == EDU_VENDOR && pdev->device == EDU_DEVICE;
}

static int p2pmm_sample_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct p2pmm_sample *s;
	int ret;

	if (is_edu(pdev))
		return edu_probe(pdev);
	s = devm_kzalloc(&pdev->dev, sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	s->pdev = pdev;
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = p2pmm_register_static(pdev, SAMPLE_BAR, (u64)static_mb << 20, 0);
	if (ret < 0) {
		dev_err(&pdev->dev, "p2pmm_register_static: %d\n", ret);
		return ret;
	}
	s->static_id = ret;
	ret = p2pmm_register_managed(pdev, SAMPLE_BAR, (u64)managed_mb << 20, (u64)static_mb << 20);
	if (ret < 0) {
		dev_err(&pdev->dev, "p2pmm_register_managed: %d\n", ret);
		p2pmm_unregister(pdev, s->static_id);
		return ret;
	}
	s->managed_id = ret;
	pci_set_drvdata(pdev, s);
	mutex_lock(&sample_lock);
	list_add(&s->node, &sample_devices);
	if (sample_engine)
		p2pmm_set_copy_engine(pdev, s->managed_id, &sample_engine->engine);
	mutex_unlock(&sample_lock);
	dev_info(&pdev->dev, "p2pmm providers %u (static) and %u (managed)\n", s->static_id, s->managed_id);
	return 0;
}

static void p2pmm_sample_remove(struct pci_dev *pdev)
{
	struct p2pmm_sample *s;

	if (is_edu(pdev)) {
		edu_remove(pdev);
		return;
	}
	s = pci_get_drvdata(pdev);
	mutex_lock(&sample_lock);
	list_del(&s->node);
	mutex_unlock(&sample_lock);
	/* Before devres releases the BAR: managed pages move to system memory first. */
	p2pmm_unregister(pdev, s->managed_id);
	p2pmm_unregister(pdev, s->static_id);
}

static const struct pci_device_id p2pmm_sample_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR, EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, p2pmm_sample_ids);

static struct pci_driver p2pmm_sample_driver = {
	.name = "p2pmm_sample",
	.id_table = p2pmm_sample_ids,
	.probe = p2pmm_sample_probe,
	.remove = p2pmm_sample_remove,
};

static int __init p2pmm_sample_init(void)
{
	int ret = p2pmm_sample_importer_init();

	if (ret)
		return ret;
	ret = p2pmm_sample_mirror_init();
	if (ret)
		goto importer;
	ret = pci_register_driver(&p2pmm_sample_driver);
	if (ret)
		goto mirror;
	return 0;

mirror:
	p2pmm_sample_mirror_exit();
importer:
	p2pmm_sample_importer_exit();
	return ret;
}
module_init(p2pmm_sample_init);

static void __exit p2pmm_sample_exit(void)
{
	pci_unregister_driver(&p2pmm_sample_driver);
	p2pmm_sample_mirror_exit();
	p2pmm_sample_importer_exit();
}
module_exit(p2pmm_sample_exit);

MODULE_IMPORT_NS("P2PMM");
MODULE_DESCRIPTION("A PCI driver that offers its BAR through p2pmm's in-kernel API");
MODULE_LICENSE("GPL");
