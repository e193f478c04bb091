// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmm_sample: a PCI driver outside p2pmm.ko that offers its device's BAR through p2pmm's in-kernel API
 * (include/linux/p2pmm.h): the first static_mb MiB of BAR 2 (16 by default) as static memory and the next
 * managed_mb MiB (8 by default) as managed memory. It has no ID table: it binds only where an administrator (or
 * tests/kselftest/p2pmm_sample_driver_test.c, or the scale suite) sets driver_override, e.g. on an ivshmem-plain
 * device.
 */
#include <linux/module.h>
#include <linux/p2pmm.h>
#include <linux/pci.h>

#define SAMPLE_BAR 2

static unsigned int static_mb = 16;
module_param(static_mb, uint, 0444);
MODULE_PARM_DESC(static_mb, "MiB at the start of BAR 2 offered as static memory");

static unsigned int managed_mb = 8;
module_param(managed_mb, uint, 0444);
MODULE_PARM_DESC(managed_mb, "MiB after the static part offered as managed memory (a multiple of 2)");

struct p2pmm_sample {
	u32 static_id;
	u32 managed_id;
};

static int p2pmm_sample_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct p2pmm_sample *s;
	int ret;

	s = devm_kzalloc(&pdev->dev, sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
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
	dev_info(&pdev->dev, "p2pmm providers %u (static) and %u (managed)\n", s->static_id, s->managed_id);
	return 0;
}

static void p2pmm_sample_remove(struct pci_dev *pdev)
{
	struct p2pmm_sample *s = pci_get_drvdata(pdev);

	/* Before devres releases the BAR: managed pages move to system memory first. */
	p2pmm_unregister(pdev, s->managed_id);
	p2pmm_unregister(pdev, s->static_id);
}

static const struct pci_device_id p2pmm_sample_ids[] = {
	{ }
};
MODULE_DEVICE_TABLE(pci, p2pmm_sample_ids);

static struct pci_driver p2pmm_sample_driver = {
	.name = "p2pmm_sample",
	.id_table = p2pmm_sample_ids,
	.probe = p2pmm_sample_probe,
	.remove = p2pmm_sample_remove,
};
module_pci_driver(p2pmm_sample_driver);

MODULE_IMPORT_NS("P2PMM");
MODULE_DESCRIPTION("A PCI driver that offers its BAR through p2pmm's in-kernel API");
MODULE_LICENSE("GPL");
