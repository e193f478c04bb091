// SPDX-License-Identifier: GPL-2.0

//! Background reclaim of managed providers: evicting off the faulting path.
//!
//! When a move into a managed provider (a migration, or a peer's direct eviction) leaves fewer
//! pages free than the provider's low watermark, [`start`] queues the provider's work item on
//! p2pmm's own workqueue (`p2pmm_reclaim`, unbound: eviction copies pages and sleeps). The worker
//! evicts what the provider's CLOCK picks, in the same way and to the same places as a direct
//! eviction (`evictor.rs`), until the high watermark is free; the next migration or device fault
//! then finds room instead of paying for it. Victims too young to move (`min_residency_us`) are
//! looked at again a few times, a residency apart; pinned and cgroup-protected pages are never
//! taken. Each round that evicted anything is one `p2pmm_reclaim` trace record, and its pages count
//! in the provider's `evictions` and `evictions_background`.
//!
//! The work item is the provider's slots (`Arc<Slots>`, kept alive while queued; `managed.rs`
//! queues it, this file runs it); the worker finds their provider in the registry, so a provider
//! that left it is not reclaimed any more. The queue (`bind/reclaim_queue.rs`) lives from module
//! init until module exit, after p2pmm's drivers have unregistered their providers, and destroying
//! it waits for a worker that still runs.

use crate::{
    evictor,
    managed::{Slots, CHUNK_PAGES},
    provider::Provider,
    registry, trace,
};
use kernel::{
    sync::Arc,
    time::{delay::fsleep, Delta},
    workqueue::WorkItem,
};

/// How many times in a row a reclaim looks again after finding nothing it may evict.
const IDLE_ROUNDS: u32 = 8;

/// Whether `p` is still in the registry: a provider that left it is not reclaimed any more.
fn still_listed(p: &Provider) -> bool {
    registry::get(p.id).is_some_and(|q| core::ptr::eq(&*q, p))
}

/// Sleeps one minimum residency (at least a millisecond): long enough for a young page to age.
fn wait_a_residency() {
    let us = crate::module_parameters::min_residency_us.value().max(1000);
    fsleep(Delta::from_micros(i64::from(us)));
}

/// One round of background reclaim of the managed provider `p`: evicts what its policy picks until
/// its high watermark is free. Returns the free pages before and after and how many pages were
/// evicted; `None` when the provider was not below its low watermark.
fn round(p: &Provider, all: &[Arc<Provider>]) -> Option<(usize, usize, u64)> {
    let m = p.managed()?;
    let before = m.free_slots();
    if !m.reclaim_wanted().1 {
        return None;
    }
    let mut evicted = 0u64;
    let mut idle = 0;
    loop {
        let want = m.reclaim_wanted().0;
        if want == 0 || !still_listed(p) {
            break;
        }
        match evictor::evict(p, all, want.min(CHUNK_PAGES), None, true) {
            Ok(0) | Err(_) => {
                // What is left is pinned, protected by its cgroup, busy or too young to move:
                // young pages age, so look again a few times, a residency apart.
                idle += 1;
                if idle > IDLE_ROUNDS {
                    break;
                }
                wait_a_residency();
            }
            Ok(n) => {
                idle = 0;
                evicted += n as u64;
            }
        }
    }
    Some((before, m.free_slots(), evicted))
}

impl WorkItem for Slots {
    type Pointer = Arc<Slots>;

    fn run(slots: Arc<Slots>) {
        let all = registry::snapshot();
        let Some(p) = all
            .iter()
            .find(|p| p.managed().is_some_and(|m| m.has_slots(&slots)))
        else {
            return;
        };
        if let Some((before, after, evicted)) = round(p, &all) {
            if evicted > 0 {
                trace::reclaim(p.id, before as u32, after as u32, evicted);
            }
        }
    }
}
