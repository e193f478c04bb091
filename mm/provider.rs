// SPDX-License-Identifier: GPL-2.0

//! A provider: device memory that p2pmm manages on behalf of the device that offers it.
//!
//! Two kinds share this type: *static* memory (a BAR, or part of one, registered with p2pdma: never
//! invalidated, gone when the device goes) and *managed* memory (capacity-bounded device memory
//! whose pages p2pmm may evict at any time). The counters are what `P2PMM_IOC_PROVIDERS` reports.

use crate::{
    dmem,
    managed::Managed,
    pci_p2p,
    route::{ProviderKind, RoutePolicy},
    static_map::Gate,
    stats::Stats,
    uapi_providers as uapi,
    uapi_route::RouteAnswer,
};
use kernel::{
    pci,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{ordering, Atomic},
        Arc,
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

/// One provider.
pub struct Provider {
    /// p2pmm's id, 1 to 63 (`provider_ids.rs`: reused in turn once the provider is gone).
    pub id: u32,
    /// Static or managed.
    pub kind: Kind,
    /// Registered with p2pdma by another driver and adopted by p2pmm.
    pub adopted: bool,
    /// The PCI device offering the memory.
    pub pdev: ARef<pci::Device>,
    /// Bytes offered by a static provider (managed ones ask their memory).
    capacity: u64,
    /// Counters (shared with a managed provider's slots, which count from `folio_free`).
    pub stats: Arc<Stats>,
    /// The memory of a managed provider.
    managed: Option<Managed>,
    /// Bytes of the device's p2pdma pool that are not this static provider's: the P2P windows of
    /// managed providers on the same device, which p2pdma counts in the pool (allocated).
    p2p_reserved: Atomic<u64>,
    /// The dmem cgroup region its memory is charged to (`None` without the dmem controller).
    pub region: Option<dmem::Region>,
    /// The revoke gate of a static provider's mappings (`None` for a managed one).
    pub gate: Option<Gate>,
}

/// The administrator's route policy: the module parameters `route_allow_host_bridge` and
/// `route_max_distance` (0: no limit). A route the policy rules out bounces (managed memory) or is
/// refused (static memory), whatever p2pdma would allow.
pub fn route_policy() -> RoutePolicy {
    let max = crate::module_parameters::route_max_distance.value();
    RoutePolicy {
        allow_host_bridge: crate::module_parameters::route_allow_host_bridge.value(),
        max_distance: if max == 0 { u32::MAX } else { max },
    }
}

impl Provider {
    /// How `client` reaches this provider's memory: p2pdma's verdict and distance, and p2pmm's plan
    /// under the administrator's [`route_policy`].
    pub fn route_to(&self, client: &pci::Device) -> RouteAnswer {
        self.route_and_source(client).0
    }

    /// [`Provider::route_to`], and whether the DMA API gave the verdict (`false`: it follows from
    /// the p2pdma distance, because the provider had no free pool page to probe with).
    pub fn route_and_source(&self, client: &pci::Device) -> (RouteAnswer, bool) {
        let facts = pci_p2p::route(&self.pdev, client);
        let kind = match self.kind {
            Kind::Static => ProviderKind::Static,
            Kind::Managed => ProviderKind::Managed,
        };
        let answer = RouteAnswer::from_facts(
            facts.verdict,
            facts.distance,
            facts.common_bridge,
            facts.host_bridge,
            kind,
            &route_policy(),
        );
        (answer, facts.probed)
    }

    /// A provider on `pdev`: managed if it has `managed` memory, else static with `capacity` bytes
    /// (and a revoke gate for its mappings).
    pub fn new(
        id: u32,
        adopted: bool,
        pdev: ARef<pci::Device>,
        capacity: u64,
        managed: Option<Managed>,
        stats: Arc<Stats>,
        region: Option<dmem::Region>,
    ) -> Result<Self> {
        let (kind, gate) = if managed.is_some() {
            (Kind::Managed, None)
        } else {
            (Kind::Static, Some(Gate::new()?))
        };
        Ok(Self {
            id,
            kind,
            adopted,
            pdev,
            capacity,
            stats,
            managed,
            p2p_reserved: Atomic::new(0),
            region,
            gate,
        })
    }

    /// The name of the dmem region of a provider of `kind` on `pdev`: `p2pmm/<pci name>/static` or
    /// `.../managed` (what an administrator writes to `dmem.max` and reads in `dmem.current`).
    pub fn region_name(pdev: &pci::Device, kind: Kind) -> Result<CString> {
        let kind = match kind {
            Kind::Static => "static",
            Kind::Managed => "managed",
        };
        CString::try_from_fmt(fmt!(
            "p2pmm/{}/{}",
            pci_p2p::name(pdev).to_str().map_err(|_| EINVAL)?,
            kind
        ))
    }

    /// Tells a static provider that `bytes` of its device's p2pdma pool are a managed provider's
    /// P2P window: neither its capacity nor in use.
    pub fn reserve_p2p(&self, bytes: u64) {
        self.p2p_reserved.fetch_add(bytes, ordering::Relaxed);
    }

    /// Bytes the provider offers.
    pub fn capacity_bytes(&self) -> u64 {
        self.managed().map_or(self.capacity, |m| m.capacity())
    }

    /// The memory of a managed provider.
    pub fn managed(&self) -> Option<&Managed> {
        self.managed.as_ref()
    }

    /// `(capacity, used)` in bytes, now. A static provider whose p2pdma memory is gone (the owning
    /// driver unbound: the memory was revoked) reports `None`.
    pub fn usage(&self) -> Option<(u64, u64)> {
        match self.kind {
            Kind::Static => {
                let (size, avail) = pci_p2p::p2p_memory(&self.pdev)?;
                let reserved = self.p2p_reserved.load(ordering::Relaxed);
                let size = size.saturating_sub(reserved);
                Some((size, size.saturating_sub(avail)))
            }
            Kind::Managed => self.managed().map(|m| (m.capacity(), m.used())),
        }
    }

    /// The PCI name of the device.
    pub fn device_name(&self) -> &CStr {
        pci_p2p::name(&self.pdev)
    }

    /// The PCI name as text (PCI names are ASCII).
    pub fn device_str(&self) -> &str {
        self.device_name().to_str().unwrap_or("?")
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
