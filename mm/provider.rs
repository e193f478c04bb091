// SPDX-License-Identifier: GPL-2.0

//! A provider: device memory that p2pmm manages on behalf of the device that offers it.
//!
//! Two kinds share this type: *static* memory (a BAR, or part of one, registered with p2pdma: never invalidated,
//! gone when the device goes) and *managed* memory (capacity-bounded device memory whose pages p2pmm may evict at
//! any time). The counters are what `P2PMM_IOC_PROVIDERS` reports.

use crate::{pci_p2p, uapi_providers as uapi};
use kernel::{
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{ordering, Atomic},
    },
};

/// The kind of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A BAR range registered with p2pdma.
    Static,
    /// Device memory p2pmm may evict.
    Managed,
}

/// Event counters of a provider, in pages (relaxed atomics: statistics, not synchronisation).
pub struct Stats {
    /// Pages evicted to make room.
    pub evictions: Atomic<u64>,
    /// Pages migrated to the provider.
    pub migrated_in: Atomic<u64>,
    /// Pages migrated away (evictions included).
    pub migrated_out: Atomic<u64>,
    /// Invalidations p2pmm caused on the provider's pages.
    pub invalidations: Atomic<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// All counters at zero.
    pub fn new() -> Self {
        Self {
            evictions: Atomic::new(0),
            migrated_in: Atomic::new(0),
            migrated_out: Atomic::new(0),
            invalidations: Atomic::new(0),
        }
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &Atomic<u64>, n: u64) {
        counter.fetch_add(n, ordering::Relaxed);
    }
}

/// One provider.
pub struct Provider {
    /// p2pmm's id (never reused while the module is loaded).
    pub id: u32,
    /// Static or managed.
    pub kind: Kind,
    /// Registered with p2pdma by another driver and adopted by p2pmm.
    pub adopted: bool,
    /// The PCI device offering the memory.
    pub pdev: ARef<pci::Device>,
    /// Bytes offered (static providers report p2pdma's own figure when it has one).
    capacity: u64,
    /// Counters.
    pub stats: Stats,
    /// Bytes in use for a managed provider (static providers ask p2pdma).
    pub managed_used: Atomic<u64>,
}

impl Provider {
    /// A provider of `capacity` bytes on `pdev`.
    pub fn new(id: u32, kind: Kind, adopted: bool, pdev: ARef<pci::Device>, capacity: u64) -> Self {
        Self {
            id,
            kind,
            adopted,
            pdev,
            capacity,
            stats: Stats::new(),
            managed_used: Atomic::new(0),
        }
    }

    /// `(capacity, used)` in bytes, now. A static provider whose p2pdma memory is gone (the owning driver
    /// unbound: the memory was revoked) reports `None`.
    pub fn usage(&self) -> Option<(u64, u64)> {
        match self.kind {
            Kind::Static => {
                let (size, avail) = pci_p2p::p2p_memory(&self.pdev)?;
                Some((size, size.saturating_sub(avail)))
            }
            Kind::Managed => Some((self.capacity, self.managed_used.load(ordering::Relaxed))),
        }
    }

    /// The PCI name of the device.
    pub fn device_name(&self) -> &CStr {
        pci_p2p::name(&self.pdev)
    }

    /// The `struct p2pmm_provider_info` image of this provider (`None` once revoked).
    pub fn info(&self) -> Option<[u8; uapi::INFO_SIZE]> {
        let (capacity, used) = self.usage()?;
        let s = &self.stats;
        Some(
            uapi::ProviderInfo {
                id: self.id,
                kind: match self.kind {
                    Kind::Static => uapi::KIND_STATIC,
                    Kind::Managed => uapi::KIND_MANAGED,
                },
                flags: if self.adopted { uapi::FLAG_ADOPTED } else { 0 },
                device: self.device_name().to_bytes(),
                capacity,
                used,
                evictions: s.evictions.load(ordering::Relaxed),
                migrated_in: s.migrated_in.load(ordering::Relaxed),
                migrated_out: s.migrated_out.load(ordering::Relaxed),
                invalidations: s.invalidations.load(ordering::Relaxed),
            }
            .encode(),
        )
    }
}
