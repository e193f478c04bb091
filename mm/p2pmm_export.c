// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel API of include/linux/p2pmm.h: exported wrappers of mm/export.rs, which does the work (the
 * kernel-doc is in the header).
 */
#include <linux/err.h>
#include <linux/module.h>
#include <linux/p2pmm.h>
#include <linux/slab.h>

#include "p2pmm_glue.h"
#include "bind/dma_mirror_glue.h"

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

/* An importer: the driver's side here, the mirror in mm/importer.rs. */
struct p2pmm_importer {
	const struct p2pmm_importer_ops *ops;
	void *priv;
	void *rs;
};

struct p2pmm_importer *p2pmm_importer_create(struct device *dev, struct mm_struct *mm, unsigned long start,
					     unsigned long length, const struct p2pmm_importer_ops *ops, void *priv)
{
	struct p2pmm_importer *imp;
	int ret = 0;

	if (!dev || !mm || !ops || !ops->invalidate == !ops->invalidate_start)
		return ERR_PTR(-EINVAL);
	imp = kzalloc_obj(*imp);
	if (!imp)
		return ERR_PTR(-ENOMEM);
	imp->ops = ops;
	imp->priv = priv;
	imp->rs = p2pmm_rs_importer_new(dev, mm, start, length, imp, &ret);
	if (!imp->rs) {
		kfree(imp);
		return ERR_PTR(ret);
	}
	return imp;
}
EXPORT_SYMBOL_NS_GPL(p2pmm_importer_create, "P2PMM");

void *p2pmm_importer_priv(struct p2pmm_importer *imp)
{
	return imp->priv;
}
EXPORT_SYMBOL_NS_GPL(p2pmm_importer_priv, "P2PMM");

int p2pmm_importer_map(struct p2pmm_importer *imp, unsigned int flags, dma_addr_t *addrs, u8 *routes,
		       unsigned long *seq)
{
	return p2pmm_rs_importer_map(imp->rs, flags, addrs, routes, seq);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_importer_map, "P2PMM");

bool p2pmm_importer_retry(struct p2pmm_importer *imp, unsigned long seq)
{
	return p2pmm_rs_importer_retry(imp->rs, seq);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_importer_retry, "P2PMM");

void p2pmm_importer_destroy(struct p2pmm_importer *imp)
{
	if (!imp)
		return;
	p2pmm_rs_importer_drop(imp->rs);
	kfree(imp);
}
EXPORT_SYMBOL_NS_GPL(p2pmm_importer_destroy, "P2PMM");

/* For mm/bind/dma_mirror.rs: the driver's first pass (or only one); whether it wants the second. */
bool p2pmm_importer_call_invalidate_start(struct p2pmm_importer *imp, unsigned long start, unsigned long end)
{
	if (imp->ops->invalidate_start)
		return imp->ops->invalidate_start(imp, start, end);
	imp->ops->invalidate(imp, start, end);
	return false;
}

/* For mm/bind/dma_mirror.rs: the driver's second pass. */
void p2pmm_importer_call_invalidate_finish(struct p2pmm_importer *imp, unsigned long start, unsigned long end)
{
	if (imp->ops->invalidate_finish)
		imp->ops->invalidate_finish(imp, start, end);
}
