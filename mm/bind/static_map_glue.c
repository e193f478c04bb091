// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/static_map.rs; see static_map_glue.h.
 *
 * A static mapping (of /dev/p2pmm at P2PMM_MMAP_OFFSET(id), or of a provider's sysfs allocate file) gets its memory
 * whole at mmap, so mmap returns the allocation's errors, but maps no page then: a page is mapped when it is first
 * touched, by the fault handler, under the read side of its provider's gate. Revocation takes the write side, so it
 * waits for a fault that is mapping a page and every later fault finds the gate shut (SIGBUS); then it unmaps every
 * mapping of the provider and gives their memory back. A mapping being set up while a revocation runs thus maps
 * nothing it could keep: before, mmap inserted the pages while the new VMA was not yet linked where the
 * revocation's unmap looks, so a racing mapping kept the device's pages after revocation and p2pdma's teardown
 * waited for them (Documentation/p2pmm/providers.rst, *Revocation on unbind*).
 *
 * The memory of a mapping (a struct p2pmm_static_map) is shared by every VMA made from it (a split, a fork, an
 * mremap: vm_ops->open takes a reference) and given back when the last of them is closed or when the provider is
 * revoked, whichever comes first; so is its dmem charge (dmem_glue.c). A mapping of the allocate file needs
 * vm_ops->close, which kernfs refuses to wrap: it moves to a file of its own (an anonymous inode, as
 * shmem_zero_setup() moves a mapping to a shmem file), which keeps p2pmm.ko loaded while the mapping lasts, as
 * /dev/p2pmm's file does for its mappings.
 *
 * A mapping's memory can also be exported as a dma-buf (static_dmabuf_glue.c), which holds it like a VMA does.
 *
 * Locks: static_map_priv.h.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "dmem_glue.h"
#include "p2p_glue.h"
#include "static_map_glue.h"
#include "static_map_priv.h"

static const struct file_operations p2pmm_static_fops = {
	.owner = THIS_MODULE,
};

struct p2pmm_static_gate *p2pmm_static_gate_new(void)
{
	struct p2pmm_static_gate *g = kzalloc_obj(*g);

	if (!g)
		return NULL;
	kref_init(&g->kref);
	init_rwsem(&g->sem);
	spin_lock_init(&g->lock);
	INIT_LIST_HEAD(&g->maps);
	INIT_LIST_HEAD(&g->dmabufs);
	return g;
}

void p2pmm_static_gate_set_id(struct p2pmm_static_gate *gate, u32 id)
{
	WRITE_ONCE(gate->id, id);
}

static void p2pmm_static_gate_free(struct kref *kref)
{
	kfree(container_of(kref, struct p2pmm_static_gate, kref));
}

void p2pmm_static_gate_put(struct p2pmm_static_gate *gate)
{
	kref_put(&gate->kref, p2pmm_static_gate_free);
}

/* Gives back the memory and the charge of @m, once (a revocation and the last close may both try). */
static void p2pmm_static_map_release(struct p2pmm_static_map *m)
{
	void *kaddr = xchg(&m->kaddr, NULL);
	struct p2pmm_vma_charge *charge = xchg(&m->charge, NULL);

	if (kaddr)
		p2pmm_p2p_free_pages(kaddr, m->len);
	if (charge)
		p2pmm_dmem_charge_put(charge);
}

void p2pmm_static_map_put(struct p2pmm_static_map *m)
{
	if (!refcount_dec_and_test(&m->ref))
		return;
	spin_lock(&m->gate->lock);
	list_del_init(&m->node);
	spin_unlock(&m->gate->lock);
	p2pmm_static_map_release(m);
	fput(m->file);
	p2pmm_static_gate_put(m->gate);
	kfree(m);
}

static void p2pmm_static_vm_open(struct vm_area_struct *vma)
{
	struct p2pmm_static_map *m = vma->vm_private_data;

	refcount_inc(&m->ref);
}

static void p2pmm_static_vm_close(struct vm_area_struct *vma)
{
	p2pmm_static_map_put(vma->vm_private_data);
}

/* Maps the touched page, unless the provider was revoked (SIGBUS). */
static vm_fault_t p2pmm_static_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct p2pmm_static_map *m = vma->vm_private_data;
	pgoff_t i = vmf->pgoff - m->pgoff;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	int err;

	down_read(&m->gate->sem);
	if (!m->gate->revoked && m->kaddr && vmf->pgoff >= m->pgoff && i < m->len >> PAGE_SHIFT) {
		err = vm_insert_page(vma, vmf->address & PAGE_MASK, virt_to_page(m->kaddr + (i << PAGE_SHIFT)));
		/* -EBUSY: another thread's fault mapped it first. */
		ret = !err || err == -EBUSY ? VM_FAULT_NOPAGE : vmf_error(err);
	}
	up_read(&m->gate->sem);
	return ret;
}

static const struct vm_operations_struct p2pmm_static_vm_ops = {
	.open = p2pmm_static_vm_open,
	.close = p2pmm_static_vm_close,
	.fault = p2pmm_static_vm_fault,
};

/*
 * Sets up @vma (a new shared mapping of static memory of @pdev, behind @gate) with newly allocated memory of its
 * length, charged to the caller's cgroup in @region (if any; -ENOMEM over its dmem.max, nothing taken). With
 * @own_file the VMA moves to a file of its own (the allocate file: see above). -EINVAL for a private mapping,
 * -ENODEV when the gate is shut or @pdev has no p2pdma memory any more, -ENOMEM when its pool has no room.
 */
int p2pmm_static_mmap(struct pci_dev *pdev, struct p2pmm_static_gate *gate, struct p2pmm_dmem_region *region,
		      struct vm_area_struct *vma, bool own_file)
{
	size_t len = vma->vm_end - vma->vm_start;
	struct p2pmm_static_map *m;
	struct file *file;
	int ret;

	if ((vma->vm_flags & VM_MAYSHARE) != VM_MAYSHARE)
		return -EINVAL;
	m = kzalloc_obj(*m);
	if (!m)
		return -ENOMEM;
	if (region) {
		m->charge = p2pmm_dmem_charge_new(region, len, &ret);
		if (!m->charge)
			goto free;
	}
	m->kaddr = p2pmm_p2p_alloc_pages(pdev, len, &ret);
	if (!m->kaddr)
		goto uncharge;
	if (own_file) {
		file = anon_inode_create_getfile("[p2pmm-static]", &p2pmm_static_fops, NULL, O_RDWR, NULL);
		if (IS_ERR(file)) {
			ret = PTR_ERR(file);
			goto free_pages;
		}
		vma_set_file(vma, file);
		/* The VMA holds the file now; the mapping holds it too, below. */
		fput(file);
	}
	refcount_set(&m->ref, 1);
	m->len = len;
	m->pgoff = vma->vm_pgoff;
	m->file = get_file(vma->vm_file);
	m->gate = gate;
	m->pdev = pdev;
	/* The gate is checked under its lock, so a revocation either sees this mapping or has shut the gate first. */
	spin_lock(&gate->lock);
	if (READ_ONCE(gate->revoked)) {
		spin_unlock(&gate->lock);
		fput(m->file);
		ret = -ENODEV;
		goto free_pages;
	}
	kref_get(&gate->kref);
	list_add(&m->node, &gate->maps);
	spin_unlock(&gate->lock);
	/* VM_MIXEDMAP now, under the mmap write lock: the fault handler inserts pages under a read lock. */
	vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND);
	vma->vm_private_data = m;
	vma->vm_ops = &p2pmm_static_vm_ops;
	return 0;

free_pages:
	p2pmm_p2p_free_pages(m->kaddr, len);
uncharge:
	if (m->charge)
		p2pmm_dmem_charge_put(m->charge);
free:
	kfree(m);
	return ret;
}

/*
 * Shuts @gate (waiting for a fault that is mapping a page or an export), revokes the dma-bufs exported behind it
 * (waiting until every importer unmapped), then unmaps every mapping behind it and gives their memory and charges
 * back: later accesses raise SIGBUS, and p2pdma's teardown waits for nothing of theirs.
 */
void p2pmm_static_gate_revoke(struct p2pmm_static_gate *gate)
{
	struct p2pmm_static_map *m;

	down_write(&gate->sem);
	spin_lock(&gate->lock);
	WRITE_ONCE(gate->revoked, true);
	spin_unlock(&gate->lock);
	up_write(&gate->sem);
	/* Importers first: they stop their DMA before the memory goes back to the pool. */
	p2pmm_static_dmabufs_revoke(gate);
	for (;;) {
		spin_lock(&gate->lock);
		m = list_first_entry_or_null(&gate->maps, struct p2pmm_static_map, node);
		if (m) {
			list_del_init(&m->node);
			/*
			 * Not freed yet: a mapping leaves the list under this lock before it is freed. Its last VMA may be
			 * closing, though: then that close gives its memory back.
			 */
			if (!refcount_inc_not_zero(&m->ref)) {
				spin_unlock(&gate->lock);
				continue;
			}
		}
		spin_unlock(&gate->lock);
		if (!m)
			break;
		unmap_mapping_range(m->file->f_mapping, (loff_t)m->pgoff << PAGE_SHIFT, m->len, 1);
		p2pmm_static_map_release(m);
		p2pmm_static_map_put(m);
	}
}

/*
 * The mapping of static memory that holds [@addr, @addr + @len) of @mm, with a reference for the caller, and
 * where in its memory @addr is (@offset). Called with @mm's mmap lock held. ERR_PTR: -ENOMEM if part of the range
 * is not mapped, -EINVAL if it spans more than one VMA, -EOPNOTSUPP if it is not static memory, -EACCES if the
 * mapping is not writable.
 */
struct p2pmm_static_map *p2pmm_static_map_of_range(struct mm_struct *mm, unsigned long addr, size_t len,
						   size_t *offset)
{
	struct vm_area_struct *vma = vma_lookup(mm, addr), *next;
	unsigned long end = addr + len, at;
	struct p2pmm_static_map *m;

	if (!vma)
		return ERR_PTR(-ENOMEM);
	for (at = vma->vm_end; at < end; at = next->vm_end) {
		next = vma_lookup(mm, at);
		if (!next)
			return ERR_PTR(-ENOMEM);
	}
	if (vma->vm_ops != &p2pmm_static_vm_ops)
		return ERR_PTR(-EOPNOTSUPP);
	/* More than one VMA (of one mapping split by mprotect(2), too). */
	if (end > vma->vm_end)
		return ERR_PTR(-EINVAL);
	if (!(vma->vm_flags & VM_WRITE))
		return ERR_PTR(-EACCES);
	m = vma->vm_private_data;
	/* The VMA holds a reference, and cannot go while the mmap lock is held. */
	refcount_inc(&m->ref);
	*offset = ((vma->vm_pgoff - m->pgoff) << PAGE_SHIFT) + (addr - vma->vm_start);
	return m;
}
