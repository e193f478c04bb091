// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/dmem.rs; see dmem_glue.h.
 *
 * A static mapping is charged once, for its whole length, when it is made (static_map_glue.c), and the charge is
 * given back when the mapping's last VMA is closed, or when the provider is revoked, whichever comes first: a
 * revoked mapping holds no device memory any more.
 *
 * Lock: p2pmm_dmem_vma_lock guards every region's list of charges and each charge's pool. It is a leaf: taken
 * with nothing else of p2pmm's held, from mmap (mmap lock held), from vm_ops->close and from a revocation.
 */
#include <linux/cgroup.h>
#include <linux/cgroup_dmem.h>
#include <linux/err.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "dmem_glue.h"

/* A dmem region and the static mappings charged to it. */
struct p2pmm_dmem_region {
	struct dmem_cgroup_region *region;
	struct list_head vmas;
};

/* The charge of one static mapping (static_map_glue.c owns it). */
struct p2pmm_vma_charge {
	struct list_head node;			/* in the region's vmas while charged */
	struct dmem_cgroup_pool_state *pool;	/* NULL once given back */
	u64 size;
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

/* Gives back @c: uncharged unless a revocation did it, off its region's list, freed. */
void p2pmm_dmem_charge_put(struct p2pmm_vma_charge *c)
{
	struct dmem_cgroup_pool_state *pool;

	spin_lock(&p2pmm_dmem_vma_lock);
	pool = c->pool;
	c->pool = NULL;
	if (pool)
		list_del(&c->node);
	spin_unlock(&p2pmm_dmem_vma_lock);
	dmem_cgroup_uncharge(pool, c->size);
	kfree(c);
}

/*
 * Charges @size bytes of a static mapping being set up to the caller's cgroup in @r: NULL with *@err -ENOMEM when
 * that would pass a dmem.max (or memory is short). The mapping gives it back with p2pmm_dmem_charge_put().
 */
struct p2pmm_vma_charge *p2pmm_dmem_charge_new(struct p2pmm_dmem_region *r, u64 size, int *err)
{
	struct dmem_cgroup_pool_state *pool;
	struct p2pmm_vma_charge *c;
	int ret;

	c = kzalloc_obj(*c);
	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	ret = dmem_cgroup_try_charge(r->region, size, &pool, NULL);
	if (ret) {
		kfree(c);
		/* -EAGAIN is "over the limit": for a mapping that is no memory, as for memcg. */
		*err = ret == -EAGAIN ? -ENOMEM : ret;
		return NULL;
	}
	c->pool = pool;
	c->size = size;
	spin_lock(&p2pmm_dmem_vma_lock);
	list_add(&c->node, &r->vmas);
	spin_unlock(&p2pmm_dmem_vma_lock);
	return c;
}

/*
 * Gives back the charges of every static mapping of @r's memory (the provider is revoked or gone): the mappings keep
 * their charge objects, which find nothing to uncharge when they go.
 */
void p2pmm_dmem_revoke_vmas(struct p2pmm_dmem_region *r)
{
	struct p2pmm_vma_charge *c;

	for (;;) {
		struct dmem_cgroup_pool_state *pool = NULL;
		u64 size = 0;

		spin_lock(&p2pmm_dmem_vma_lock);
		c = list_first_entry_or_null(&r->vmas, struct p2pmm_vma_charge, node);
		if (c) {
			list_del(&c->node);
			pool = c->pool;
			size = c->size;
			c->pool = NULL;
		}
		spin_unlock(&p2pmm_dmem_vma_lock);
		if (!c)
			break;
		dmem_cgroup_uncharge(pool, size);
	}
}
