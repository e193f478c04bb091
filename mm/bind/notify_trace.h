/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the mirror layer's interval notifiers (mm/bind/notifier.rs): the two passes of every
 * invalidation a p2pmm notifier handles, p2pmm.ko's own (/dev/p2pmm's advice notifiers) and those of the Rust
 * drivers on its bindings (p2pmm_mirror.ko's, which are two-pass: two_pass=1).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM p2pmm_notify

#if !defined(_P2PMM_NOTIFY_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _P2PMM_NOTIFY_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(invalidate_start,
	TP_PROTO(unsigned long start, unsigned long end, u32 event, unsigned long owner, bool two_pass),
	TP_ARGS(start, end, event, owner, two_pass),
	TP_STRUCT__entry(
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(u32, event)
		__field(unsigned long, owner)
		__field(bool, two_pass)
	),
	TP_fast_assign(
		__entry->start = start;
		__entry->end = end;
		__entry->event = event;
		__entry->owner = owner;
		__entry->two_pass = two_pass;
	),
	TP_printk("range=%#lx-%#lx event=%u owner=%#lx two_pass=%d", __entry->start, __entry->end, __entry->event,
		  __entry->owner, __entry->two_pass)
);

TRACE_EVENT(invalidate_finish,
	TP_PROTO(unsigned long start, unsigned long end, bool deferred),
	TP_ARGS(start, end, deferred),
	TP_STRUCT__entry(
		__field(unsigned long, start)
		__field(unsigned long, end)
		__field(bool, deferred)
	),
	TP_fast_assign(
		__entry->start = start;
		__entry->end = end;
		__entry->deferred = deferred;
	),
	TP_printk("range=%#lx-%#lx deferred=%d", __entry->start, __entry->end, __entry->deferred)
);

#endif /* _P2PMM_NOTIFY_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE notify_trace
#include <trace/define_trace.h>
