// SPDX-License-Identifier: GPL-2.0

//! The event counters of a provider, in pages: what `P2PMM_IOC_PROVIDERS`, sysfs and debugfs
//! report. A managed provider's slots share them with the provider (`folio_free` counts into them
//! in any context), so they are plain relaxed atomics: statistics, not synchronisation.

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc,
    },
};

/// Event counters of a provider, in pages (relaxed atomics: statistics, not synchronisation).
pub struct Stats {
    /// Pages evicted to make room.
    pub evictions: Atomic<u64>,
    /// Of those, pages background reclaim evicted (`reclaim.rs`); the rest were evicted by the move
    /// that needed the room.
    pub evictions_background: Atomic<u64>,
    /// Pages migrated to the provider.
    pub migrated_in: Atomic<u64>,
    /// Pages migrated away (evictions included).
    pub migrated_out: Atomic<u64>,
    /// Invalidations p2pmm caused on the provider's pages.
    pub invalidations: Atomic<u64>,
    /// Pages copied into the provider from a peer provider by a copy engine.
    pub copied_by_engine: Atomic<u64>,
    /// Pages copied into the provider from a peer provider by the CPU.
    pub copied_by_cpu: Atomic<u64>,
    /// Pages migrations to the provider left where they were because their range thrashed.
    pub thrash_held: Atomic<u64>,
    /// Ranges found thrashing on their way into the provider.
    pub thrash_trips: Atomic<u64>,
    /// Pinned pages (advice or an importer's `P2PMM_IMPORT_PIN`) eviction passed over while picking
    /// victims.
    pub evictions_skipped_pinned: Atomic<u64>,
}

impl Stats {
    /// All counters at zero.
    pub fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                evictions: Atomic::new(0),
                evictions_background: Atomic::new(0),
                migrated_in: Atomic::new(0),
                migrated_out: Atomic::new(0),
                invalidations: Atomic::new(0),
                copied_by_engine: Atomic::new(0),
                copied_by_cpu: Atomic::new(0),
                thrash_held: Atomic::new(0),
                thrash_trips: Atomic::new(0),
                evictions_skipped_pinned: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &Atomic<u64>, n: u64) {
        counter.fetch_add(n, ordering::Relaxed);
    }
}
