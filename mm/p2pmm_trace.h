/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2pmm's tracepoints (system "p2pmm"): what moved where and why. Emitted through the wrappers in
 * mm/trace_glue.c, which mm/bind/trace.rs declares for the Rust side.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM p2pmm

#if !defined(_P2PMM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _P2PMM_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(p2pmm_migrate,
	TP_PROTO(u32 target, unsigned long start, unsigned long end, u64 migrated, u64 evicted),
	TP_ARGS(target, start, end, migrated, evicted),
	TP_STRUCT__entry(
		__field(u32, target)
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(u64, migrated)
		__field(u64, evicted)
	),
	TP_fast_assign(
		__entry->target = target;
		__entry->start = start;
		__entry->end = end;
		__entry->migrated = migrated;
		__entry->evicted = evicted;
	),
	TP_printk("target=%u range=%#lx-%#lx migrated=%llu evicted=%llu", __entry->target, __entry->start,
		  __entry->end, __entry->migrated, __entry->evicted)
);

TRACE_EVENT(p2pmm_evict,
	TP_PROTO(u32 provider, u32 to, u32 picked, u32 evicted),
	TP_ARGS(provider, to, picked, evicted),
	TP_STRUCT__entry(
		__field(u32, provider)
		__field(u32, to)
		__field(u32, picked)
		__field(u32, evicted)
	),
	TP_fast_assign(
		__entry->provider = provider;
		__entry->to = to;
		__entry->picked = picked;
		__entry->evicted = evicted;
	),
	TP_printk("provider=%u to=%u picked=%u evicted=%u", __entry->provider, __entry->to, __entry->picked,
		  __entry->evicted)
);

TRACE_EVENT(p2pmm_evict_cgroup,
	TP_PROTO(u32 provider, u64 cgroup, u32 pages),
	TP_ARGS(provider, cgroup, pages),
	TP_STRUCT__entry(
		__field(u32, provider)
		__field(u64, cgroup)
		__field(u32, pages)
	),
	TP_fast_assign(
		__entry->provider = provider;
		__entry->cgroup = cgroup;
		__entry->pages = pages;
	),
	TP_printk("provider=%u cgroup=%llu pages=%u", __entry->provider, __entry->cgroup, __entry->pages)
);

TRACE_EVENT(p2pmm_reclaim,
	TP_PROTO(u32 provider, u32 free_before, u32 free_after, u64 evicted),
	TP_ARGS(provider, free_before, free_after, evicted),
	TP_STRUCT__entry(
		__field(u32, provider)
		__field(u32, free_before)
		__field(u32, free_after)
		__field(u64, evicted)
	),
	TP_fast_assign(
		__entry->provider = provider;
		__entry->free_before = free_before;
		__entry->free_after = free_after;
		__entry->evicted = evicted;
	),
	TP_printk("provider=%u free=%u->%u evicted=%llu", __entry->provider, __entry->free_before,
		  __entry->free_after, __entry->evicted)
);

TRACE_EVENT(p2pmm_thrash,
	TP_PROTO(u32 provider, u64 start, u32 moves, u64 backoff_us),
	TP_ARGS(provider, start, moves, backoff_us),
	TP_STRUCT__entry(
		__field(u32, provider)
		__field(u64, start)
		__field(u32, moves)
		__field(u64, backoff_us)
	),
	TP_fast_assign(
		__entry->provider = provider;
		__entry->start = start;
		__entry->moves = moves;
		__entry->backoff_us = backoff_us;
	),
	TP_printk("provider=%u range=%#llx-%#llx moves=%u backoff_us=%llu", __entry->provider, __entry->start,
		  __entry->start + (2ULL << 20), __entry->moves, __entry->backoff_us)
);

TRACE_EVENT(p2pmm_route,
	TP_PROTO(u32 provider, const char *client, u32 verdict, u32 plan, u32 reason, s32 distance),
	TP_ARGS(provider, client, verdict, plan, reason, distance),
	TP_STRUCT__entry(
		__field(u32, provider)
		__string(client, client)
		__field(u32, verdict)
		__field(u32, plan)
		__field(u32, reason)
		__field(s32, distance)
	),
	TP_fast_assign(
		__entry->provider = provider;
		__assign_str(client);
		__entry->verdict = verdict;
		__entry->plan = plan;
		__entry->reason = reason;
		__entry->distance = distance;
	),
	TP_printk("provider=%u client=%s verdict=%u plan=%u reason=%u distance=%d", __entry->provider,
		  __get_str(client), __entry->verdict, __entry->plan, __entry->reason, __entry->distance)
);

TRACE_EVENT(p2pmm_revoke,
	TP_PROTO(u32 provider, const char *device),
	TP_ARGS(provider, device),
	TP_STRUCT__entry(
		__field(u32, provider)
		__string(device, device)
	),
	TP_fast_assign(
		__entry->provider = provider;
		__assign_str(device);
	),
	TP_printk("provider=%u device=%s", __entry->provider, __get_str(device))
);

TRACE_EVENT(p2pmm_blkio,
	TP_PROTO(bool to_device, u64 pos, u64 len, u64 p2p, u64 system, u64 bounce, u64 retries),
	TP_ARGS(to_device, pos, len, p2p, system, bounce, retries),
	TP_STRUCT__entry(
		__field(bool, to_device)
		__field(u64, pos)
		__field(u64, len)
		__field(u64, p2p)
		__field(u64, system)
		__field(u64, bounce)
		__field(u64, retries)
	),
	TP_fast_assign(
		__entry->to_device = to_device;
		__entry->pos = pos;
		__entry->len = len;
		__entry->p2p = p2p;
		__entry->system = system;
		__entry->bounce = bounce;
		__entry->retries = retries;
	),
	TP_printk("%s pos=%llu len=%llu p2p=%llu system=%llu bounce=%llu retries=%llu",
		  __entry->to_device ? "write" : "read", __entry->pos, __entry->len, __entry->p2p,
		  __entry->system, __entry->bounce, __entry->retries)
);

TRACE_EVENT(p2pmm_copy,
	TP_PROTO(const char *to, const char *by, u32 pages),
	TP_ARGS(to, by, pages),
	TP_STRUCT__entry(
		__string(to, to)
		__string(by, by)
		__field(u32, pages)
	),
	TP_fast_assign(
		__assign_str(to);
		__assign_str(by);
		__entry->pages = pages;
	),
	TP_printk("to=%s by=%s pages=%u", __get_str(to), __get_str(by), __entry->pages)
);

#endif /* _P2PMM_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE p2pmm_trace
#include <trace/define_trace.h>
