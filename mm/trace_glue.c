// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmm's tracepoints (mm/p2pmm_trace.h) as plain functions the Rust side can call (mm/bind/trace.rs): the
 * trace_*() helpers are static inlines.
 */
#include <linux/p2pmm.h>
#include <linux/pci.h>

#include "p2pmm_glue.h"

#define CREATE_TRACE_POINTS
#include "p2pmm_trace.h"

void p2pmm_trace_migrate(u32 target, unsigned long start, unsigned long end, u64 migrated, u64 evicted)
{
	trace_p2pmm_migrate(target, start, end, migrated, evicted);
}

void p2pmm_trace_evict(u32 provider, u32 to, u32 picked, u32 evicted)
{
	trace_p2pmm_evict(provider, to, picked, evicted);
}

void p2pmm_trace_evict_cgroup(u32 provider, u64 cgroup, u32 pages)
{
	trace_p2pmm_evict_cgroup(provider, cgroup, pages);
}

void p2pmm_trace_reclaim(u32 provider, u32 free_before, u32 free_after, u64 evicted)
{
	trace_p2pmm_reclaim(provider, free_before, free_after, evicted);
}

void p2pmm_trace_thrash(u32 provider, u64 start, u32 moves, u64 backoff_us)
{
	trace_p2pmm_thrash(provider, start, moves, backoff_us);
}

void p2pmm_trace_route(u32 provider, const char *client, u32 verdict, u32 plan, u32 reason, s32 distance)
{
	trace_p2pmm_route(provider, client, verdict, plan, reason, distance);
}

void p2pmm_trace_revoke(u32 provider, const char *device)
{
	trace_p2pmm_revoke(provider, device);
}

void p2pmm_trace_blkio(bool to_device, u64 pos, u64 len, u64 p2p, u64 system, u64 bounce, u64 retries)
{
	trace_p2pmm_blkio(to_device, pos, len, p2p, system, bounce, retries);
}

void p2pmm_trace_copy(struct pci_dev *to, const struct p2pmm_copy_engine *engine, u32 pages)
{
	trace_p2pmm_copy(pci_name(to), engine ? dev_name(engine->dev) : "cpu", pages);
}
