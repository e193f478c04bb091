// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/dmem.rs; see dmem_glue.h.
 *
 * A static mapping is charged once, for its whole length, when it is made. The charge is shared by every VMA that
 * comes from that mapping (a split by a partial munmap, a fork, an mremap: vm_ops->open takes a reference) and
 * given back when the last of them is closed, or when the provider is revoked, whichever comes first: a revoked
 * mapping holds no device memory any more (its pages are zapped; touching them is SIGBUS).
 *
 * A mapping of a provider's sysfs `allocate` file needs vm_ops->close too, which kernfs refuses to wrap; such a
 * mapping is moved to a file of its own (an anonymous inode, as shmem_zero_setup() moves a mapping to a shmem file,
 * which kernfs allows), so p2pmm unmaps it itself on revocation. The file keeps p2pmm.ko loaded while the mapping
 * lasts, as /dev/p2pmm's file does for its mappings.
 *
 * Lock: p2pmm_dmem_vma_lock guards every region's list of VMA charges and each charge's pool. It is a leaf: taken
 * with nothing else of p2pmm's held, from mmap (mmap lock held) and from vm_ops->open/close.
 */
#include <linux/anon_inodes.h>
#include <linux/cgroup.h>
#include <linux/cgroup_dmem.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/refcount.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "dmem_glue.h"

/* A dmem region and the static mappings charged to it. */
struct p2pmm_dmem_region {
	struct dmem_cgroup_region *region;
	struct list_head vmas;
};

static const struct file_operations p2pmm_static_fops = {
	.owner = THIS_MODULE,
};

/* The charge of one static mapping, shared by the VMAs made from it. */
struct p2pmm_vma_charge {
	refcount_t ref;
	struct list_head node;			/* in the region's vmas while charged */
	struct dmem_cgroup_pool_state *pool;	/* NULL once given back */
	u64 size;
	struct file *file;			/* the file it moved to, if any (the VMAs hold it) */
};

static DEFINE_SPINLOCK(p2pmm_dmem_vma_lock);

/* Lowering a cgroup's dmem.max below its usage: mm/bind/dmem.rs hands it to the region's hook. */
static int p2pmm_dmem_reclaim(struct dmem_cgroup_pool_state *pool, u64 target_bytes, void *hook)
{
	return p2pmm_rs_dmem_reclaim(pool, target_bytes, hook);
}

static const struct dmem_cgroup_ops p2pmm_dmem_ops = {
	.reclaim = p2pmm_dmem_reclaim,
};

/*
 * The region @name of @size bytes, whose reclaim callback (dmem.max lowered below a cgroup's usage) goes to @hook
 * if it is not NULL. NULL with *@err == 0 when the kernel has no dmem controller (nothing to charge); NULL with
 * *@err set when the registration failed. Unregistering waits for callbacks in flight.
 */
struct p2pmm_dmem_region *p2pmm_dmem_register(u64 size, const char *name, void *hook, int *err)
{
	struct dmem_cgroup_init init = {
		.size = size,
		.ops = hook ? &p2pmm_dmem_ops : NULL,
		.reclaim_priv = hook,
	};
	struct dmem_cgroup_region *region;
	struct p2pmm_dmem_region *r;

	*err = 0;
	region = dmem_cgroup_register_region(&init, "%s", name);
	if (IS_ERR(region)) {
		*err = PTR_ERR(region);
		return NULL;
	}
	if (!region)
		return NULL;
	r = kzalloc_obj(*r);
	if (!r) {
		dmem_cgroup_unregister_region(region);
		*err = -ENOMEM;
		return NULL;
	}
	r->region = region;
	INIT_LIST_HEAD(&r->vmas);
	return r;
}

/* Gives back what static mappings still hold, then unregisters. Charges of managed pages may outlive it. */
void p2pmm_dmem_unregister(struct p2pmm_dmem_region *r)
{
	p2pmm_dmem_revoke_vmas(r);
	dmem_cgroup_unregister_region(r->region);
	kfree(r);
}

int p2pmm_dmem_try_charge(struct p2pmm_dmem_region *r, u64 size, struct dmem_cgroup_pool_state **pool,
			  struct dmem_cgroup_pool_state **limit)
{
	return dmem_cgroup_try_charge(r->region, size, pool, limit);
}

void p2pmm_dmem_uncharge(struct dmem_cgroup_pool_state *pool, u64 size)
{
	dmem_cgroup_uncharge(pool, size);
}

void p2pmm_dmem_pool_put(struct dmem_cgroup_pool_state *pool)
{
	dmem_cgroup_pool_state_put(pool);
}

bool p2pmm_dmem_evict_valuable(struct dmem_cgroup_pool_state *limit, struct dmem_cgroup_pool_state *test,
			       bool ignore_low, bool *hit_low)
{
	return dmem_cgroup_state_evict_valuable(limit, test, ignore_low, hit_low);
}

/*
 * The id of the cgroup whose dmem state the caller is charged to (the inode number of its directory; ids are never
 * reused), 0 without the controller.
 */
u64 p2pmm_dmem_current_group(void)
{
#if IS_ENABLED(CONFIG_CGROUP_DMEM)
	u64 id;

	rcu_read_lock();
	id = cgroup_id(task_css(current, dmem_cgrp_id)->cgroup);
	rcu_read_unlock();
	return id;
#else
	return 0;
#endif
}

static void p2pmm_vma_charge_put(struct p2pmm_vma_charge *c)
{
	struct dmem_cgroup_pool_state *pool;

	if (!refcount_dec_and_test(&c->ref))
		return;
	spin_lock(&p2pmm_dmem_vma_lock);
	pool = c->pool;
	c->pool = NULL;
	if (pool)
		list_del(&c->node);
	spin_unlock(&p2pmm_dmem_vma_lock);
	dmem_cgroup_uncharge(pool, c->size);
	kfree(c);
}

static void p2pmm_vma_charge_open(struct vm_area_struct *vma)
{
	struct p2pmm_vma_charge *c = vma->vm_private_data;

	refcount_inc(&c->ref);
}

static void p2pmm_vma_charge_close(struct vm_area_struct *vma)
{
	p2pmm_vma_charge_put(vma->vm_private_data);
}

static const struct vm_operations_struct p2pmm_static_vm_ops = {
	.open = p2pmm_vma_charge_open,
	.close = p2pmm_vma_charge_close,
};

/*
 * Charges all of @vma (a static mapping being set up, before its pages are inserted) to the caller's cgroup in @r:
 * -ENOMEM when that would pass a dmem.max. p2pmm_dmem_uncharge_vma() undoes it if the mapping then fails.
 */
int p2pmm_dmem_charge_vma(struct p2pmm_dmem_region *r, struct vm_area_struct *vma)
{
	u64 size = vma->vm_end - vma->vm_start;
	struct dmem_cgroup_pool_state *pool;
	struct p2pmm_vma_charge *c;
	int ret;

	c = kzalloc_obj(*c);
	if (!c)
		return -ENOMEM;
	ret = dmem_cgroup_try_charge(r->region, size, &pool, NULL);
	if (ret) {
		kfree(c);
		/* -EAGAIN is "over the limit": for a mapping that is no memory, as for memcg. */
		return ret == -EAGAIN ? -ENOMEM : ret;
	}
	refcount_set(&c->ref, 1);
	c->pool = pool;
	c->size = size;
	spin_lock(&p2pmm_dmem_vma_lock);
	list_add(&c->node, &r->vmas);
	spin_unlock(&p2pmm_dmem_vma_lock);
	vma->vm_private_data = c;
	vma->vm_ops = &p2pmm_static_vm_ops;
	return 0;
}

/* Undoes p2pmm_dmem_charge_vma() for a mapping that failed (no VMA was made from it). */
void p2pmm_dmem_uncharge_vma(struct vm_area_struct *vma)
{
	struct p2pmm_vma_charge *c = vma->vm_private_data;

	if (vma->vm_ops != &p2pmm_static_vm_ops)
		return;
	vma->vm_ops = NULL;
	vma->vm_private_data = NULL;
	p2pmm_vma_charge_put(c);
}

/*
 * Makes @vma (a mapping of the allocate file, charged by p2pmm_dmem_charge_vma() and mapped) a mapping of a new
 * file of its own, which kernfs then leaves alone and p2pmm_dmem_revoke_vmas() unmaps.
 */
int p2pmm_dmem_move_vma(struct vm_area_struct *vma)
{
	struct p2pmm_vma_charge *c = vma->vm_private_data;
	struct file *file;

	if (vma->vm_ops != &p2pmm_static_vm_ops)
		return -EINVAL;
	file = anon_inode_create_getfile("[p2pmm-static]", &p2pmm_static_fops, NULL, O_RDWR, NULL);
	if (IS_ERR(file))
		return PTR_ERR(file);
	vma_set_file(vma, file);
	/* The VMA holds the file now, and the charge names it while on its region's list. */
	fput(file);
	spin_lock(&p2pmm_dmem_vma_lock);
	c->file = file;
	spin_unlock(&p2pmm_dmem_vma_lock);
	return 0;
}

/*
 * Unmaps what was mapped through the allocate file (moved to @r's file) and gives back the charges of every static
 * mapping of @r's memory (the provider is revoked or gone).
 */
void p2pmm_dmem_revoke_vmas(struct p2pmm_dmem_region *r)
{
	struct p2pmm_vma_charge *c;
	LIST_HEAD(gone);

	spin_lock(&p2pmm_dmem_vma_lock);
	list_splice_init(&r->vmas, &gone);
	spin_unlock(&p2pmm_dmem_vma_lock);
	/*
	 * Each charge leaves the list with its pool under the lock, so a VMA closed meanwhile either took its charge off
	 * the list above (and uncharged it itself) or finds the pool NULL.
	 */
	for (;;) {
		struct dmem_cgroup_pool_state *pool = NULL;
		struct file *file = NULL;
		u64 size = 0;

		spin_lock(&p2pmm_dmem_vma_lock);
		c = list_first_entry_or_null(&gone, struct p2pmm_vma_charge, node);
		if (c) {
			list_del(&c->node);
			pool = c->pool;
			size = c->size;
			c->pool = NULL;
			/* Alive: a charge is on a list only while a VMA (which holds its file) is. */
			if (c->file)
				file = get_file(c->file);
		}
		spin_unlock(&p2pmm_dmem_vma_lock);
		if (!c)
			break;
		if (file) {
			unmap_mapping_range(file->f_mapping, 0, 0, 1);
			fput(file);
		}
		dmem_cgroup_uncharge(pool, size);
	}
}
