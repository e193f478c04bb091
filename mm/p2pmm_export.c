// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel API of include/linux/p2pmm.h: exported wrappers of mm/export.rs, which does the work (the
 * kernel-doc is in the header).
 */
#include <linux/module.h>
#include <linux/p2pmm.h>

#include "p2pmm_glue.h"

int p2pmm_register_static(struct pci_dev *pdev, int bar, u64 size, u64 offset)
{
	return p2pmm_rs_register_static(pdev, bar, size, offset);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_register_static, "P2PMM");

int p2pmm_register_managed(struct pci_dev *pdev, int bar, u64 size, u64 offset)
{
	return p2pmm_rs_register_managed(pdev, bar, size, offset);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_register_managed, "P2PMM");

int p2pmm_unregister(struct pci_dev *pdev, u32 id)
{
	return p2pmm_rs_unregister(pdev, id);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_unregister, "P2PMM");

int p2pmm_set_copy_engine(struct pci_dev *pdev, u32 id, struct p2pmm_copy_engine *engine)
{
	return p2pmm_rs_set_copy_engine(pdev, id, engine);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_set_copy_engine, "P2PMM");
