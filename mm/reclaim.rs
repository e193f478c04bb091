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
//! lives from module init until [`ReclaimQueue`] is dropped at module exit, after p2pmm's drivers
//! have unregistered their providers (other modules' providers went when those modules did), and
//! destroying it waits for a worker that still runs.

use crate::{
    ffi::{p2pmm_reclaim_wq, p2pmm_reclaim_wq_create, p2pmm_reclaim_wq_destroy},
    managed::Slots,
    provider::Provider,
    registry, trace,
};
use kernel::{
    error::to_result,
    prelude::*,
    sync::Arc,
    time::{delay::fsleep, Delta},
    workqueue::{Queue, WorkItem},
};

/// How many times in a row a reclaim looks again after finding nothing it may evict.
pub const IDLE_ROUNDS: u32 = 8;

/// p2pmm's reclaim workqueue; destroyed (after the work in progress) when dropped.
pub struct ReclaimQueue(());

impl ReclaimQueue {
    /// Creates the workqueue (module init).
    pub fn new() -> Result<Self> {
        // SAFETY: Called once, from module init; `Drop` destroys it.
        to_result(unsafe { p2pmm_reclaim_wq_create() })?;
        Ok(Self(()))
    }
}

impl Drop for ReclaimQueue {
    fn drop(&mut self) {
        // SAFETY: Created by `new`; no provider of p2pmm's is left to queue work (see the file
        // comment), and destroying waits for the work already queued.
        unsafe { p2pmm_reclaim_wq_destroy() };
    }
}

/// The reclaim workqueue, `None` outside the module's lifetime (before init, after exit).
fn queue() -> Option<&'static Queue> {
    // SAFETY: No arguments; reads the glue's pointer.
    let wq = unsafe { p2pmm_reclaim_wq() };
    if wq.is_null() {
        return None;
    }
    // SAFETY: A live workqueue, which stays so while any provider can queue work on it (see the
    // file comment: it is destroyed only after every managed provider is gone).
    Some(unsafe { Queue::from_raw(wq.cast()) })
}

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
