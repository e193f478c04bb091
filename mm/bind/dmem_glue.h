/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for p2pmm's dmem cgroup bindings (mm/bind/dmem.rs): <linux/cgroup_dmem.h> (whose functions are inline stubs
 * without CONFIG_CGROUP_DMEM) and the charges of static memory mappings (static_map_glue.c).
 */
#ifndef P2PMM_DMEM_GLUE_H
#define P2PMM_DMEM_GLUE_H

#include <linux/types.h>

struct dmem_cgroup_pool_state;
struct p2pmm_dmem_region;
struct p2pmm_vma_charge;

struct p2pmm_dmem_region *p2pmm_dmem_register(u64 size, const char *name, void *hook, int *err);
/* In mm/bind/dmem.rs. */
int p2pmm_rs_dmem_reclaim(struct dmem_cgroup_pool_state *pool, u64 bytes, void *hook);
void p2pmm_dmem_unregister(struct p2pmm_dmem_region *r);
int p2pmm_dmem_try_charge(struct p2pmm_dmem_region *r, u64 size, struct dmem_cgroup_pool_state **pool,
			  struct dmem_cgroup_pool_state **limit);
void p2pmm_dmem_uncharge(struct dmem_cgroup_pool_state *pool, u64 size);
void p2pmm_dmem_pool_put(struct dmem_cgroup_pool_state *pool);
bool p2pmm_dmem_evict_valuable(struct dmem_cgroup_pool_state *limit, struct dmem_cgroup_pool_state *test,
			       bool ignore_low, bool *hit_low);
u64 p2pmm_dmem_current_group(void);
struct p2pmm_vma_charge *p2pmm_dmem_charge_new(struct p2pmm_dmem_region *r, u64 size, int *err);
void p2pmm_dmem_charge_put(struct p2pmm_vma_charge *c);
void p2pmm_dmem_revoke_vmas(struct p2pmm_dmem_region *r);

#endif /* P2PMM_DMEM_GLUE_H */
