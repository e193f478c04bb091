// SPDX-License-Identifier: GPL-2.0

//! Background reclaim of managed providers: evicting off the faulting path.
//!
//! When a move into a managed provider (a migration, or a peer's direct eviction) leaves fewer
//! pages free than the provider's low watermark, [`start`] queues the provider's work item on
//! p2pmm's own workqueue (`p2pmm_reclaim`, unbound: eviction copies pages and sleeps). The worker
//! evicts what the provider's CLOCK picks, in the same way and to the same places as a direct
//! eviction (`managed.rs`), until the high watermark is free; the next migration or device fault
//! then finds room instead of paying for it. Victims too young to move (`min_residency_us`) are
//! looked at again a few times, a residency apart; pinned and cgroup-protected pages are never
//! taken. Each round that evicted anything is one `p2pmm_reclaim` trace record, and its pages count
//! in the provider's `evictions` and `evictions_background`.
//!
//! The work item is the provider's slots (`Arc<Slots>`, kept alive while queued); the worker finds
//! their provider in the registry, so a provider that left it is not reclaimed any more. The queue
//! (`bind/reclaim_queue.rs`) lives from module init until module exit, after p2pmm's drivers have
//! unregistered their providers, and destroying it waits for a worker that still runs.

use crate::{managed::Slots, provider::Provider, reclaim_queue::queue, registry, trace};
use kernel::{
    sync::Arc,
    time::{delay::fsleep, Delta},
    workqueue::WorkItem,
};

/// How many times in a row a reclaim looks again after finding nothing it may evict.
pub const IDLE_ROUNDS: u32 = 8;

/// Queues background reclaim of the provider whose slots are `slots` (nothing if it is queued
/// already: the queued run will see the new state).
pub fn start(slots: Arc<Slots>) {
    if let Some(q) = queue() {
        // Already queued: the item comes back, and the reference with it.
        let _ = q.enqueue(slots);
    }
}

/// Whether `p` is still in the registry: a provider that left it is not reclaimed any more.
pub fn still_listed(p: &Provider) -> bool {
    registry::get(p.id).is_some_and(|q| core::ptr::eq(&*q, p))
}

/// Sleeps one minimum residency (at least a millisecond): long enough for a young page to age.
pub fn wait_a_residency() {
    let us = crate::module_parameters::min_residency_us.value().max(1000);
    fsleep(Delta::from_micros(i64::from(us)));
}

impl WorkItem for Slots {
    type Pointer = Arc<Slots>;

    fn run(slots: Arc<Slots>) {
        let Ok(all) = registry::snapshot() else {
            return;
        };
        let Some((p, m)) = all
            .iter()
            .filter_map(|p| p.managed().map(|m| (p, m)))
            .find(|(_, m)| m.has_slots(&slots))
        else {
            return;
        };
        if let Some((before, after, evicted)) = m.reclaim(p, &all) {
            if evicted > 0 {
                trace::reclaim(p.id, before, after, evicted);
            }
        }
    }
}
