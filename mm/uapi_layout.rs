// SPDX-License-Identifier: GPL-2.0

//! Binding to `p2pmm_glue_uapi_layout()`: the uAPI header as the C compiler laid it out.
//!
//! The Rust side of the uAPI (`mm/core/src/version.rs`) is written by hand; this lets a KUnit test
//! compare it with `include/uapi/linux/p2pmm.h` in the same build, so the two cannot silently drift
//! apart.

use crate::ffi::{p2pmm_glue_uapi_facts, p2pmm_glue_uapi_layout};

/// Sizes, offsets and constants of `include/uapi/linux/p2pmm.h`; mirrors `struct
/// p2pmm_uapi_layout`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UapiLayout {
    /// `sizeof(struct p2pmm_version)`
    pub version_size: u32,
    /// `P2PMM_VERSION_SIZE_VER0`
    pub version_size_ver0: u32,
    /// `offsetof(struct p2pmm_version, size)`
    pub off_size: u32,
    /// `offsetof(struct p2pmm_version, flags)`
    pub off_flags: u32,
    /// `offsetof(struct p2pmm_version, version)`
    pub off_version: u32,
    /// `offsetof(struct p2pmm_version, __reserved)`
    pub off_reserved: u32,
    /// `offsetof(struct p2pmm_version, features)`
    pub off_features: u32,
    /// `P2PMM_IOC_VERSION`
    pub ioc_version: u32,
    /// `P2PMM_UAPI_VERSION`
    pub uapi_version: u32,
    /// `P2PMM_IOC_MAGIC`
    pub ioc_magic: u32,
    /// `P2PMM_FEATURE_VERSION`
    pub feature_version: u64,
}

impl UapiLayout {
    /// Asks the C compiler's view of the uAPI header.
    pub fn from_c_header() -> UapiLayout {
        let mut layout = UapiLayout::default();
        // SAFETY: `layout` is a valid, writable struct of the layout of `struct p2pmm_uapi_layout`
        // in `mm/p2pmm_glue.h` (`UapiLayout` has its field order and types); the C function only
        // writes it.
        unsafe { p2pmm_glue_uapi_layout((&raw mut layout).cast()) };
        layout
    }
}

/// The facts `p2pmm_glue_uapi_facts()` reports, in the order of `enum p2pmm_uapi_fact`
/// (mm/p2pmm_glue.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum UapiFact {
    ProvidersSize,
    ProvidersSizeVer0,
    ProvidersOffFlags,
    ProvidersOffCount,
    ProvidersOffEntrySize,
    ProvidersOffEntries,
    InfoSize,
    InfoSizeVer0,
    InfoOffKind,
    InfoOffFlags,
    InfoOffDevice,
    InfoOffCapacity,
    InfoOffUsed,
    InfoOffEvictions,
    InfoOffMigratedIn,
    InfoOffMigratedOut,
    InfoOffInvalidations,
    RouteSize,
    RouteSizeVer0,
    RouteOffProvider,
    RouteOffClient,
    RouteOffVerdict,
    RouteOffPlan,
    RouteOffReason,
    RouteOffDistance,
    RouteOffHostBridge,
    RouteOffReserved2,
    MigrateSize,
    MigrateSizeVer0,
    MigrateOffAddr,
    MigrateOffLength,
    MigrateOffTarget,
    MigrateOffMigrated,
    MigrateOffEvicted,
    QuerySize,
    QuerySizeVer0,
    QueryOffAddr,
    QueryOffLength,
    QueryOffLocations,
    IocProviders,
    IocRoute,
    IocMigrate,
    IocQuery,
    FeaturesAll,
    KindStatic,
    KindManaged,
    FlagAdopted,
    LocationSystem,
    LocationNone,
    PlanDirect,
    PlanBounce,
    PlanRefused,
    AdviseSize,
    AdviseSizeVer0,
    AdviseOffAdvice,
    AdviseOffLocation,
    IocAdvise,
    AdvPin,
    AdvUnpin,
    MmapOffset7,
    BlkioSize,
    BlkioSizeVer0,
    BlkioOffFd,
    BlkioOffAddr,
    BlkioOffLength,
    BlkioOffOffset,
    BlkioOffBytesP2p,
    BlkioOffBytesSystem,
    BlkioOffBytesBounce,
    BlkioOffRetries,
    BlkioWrite,
    IocBlkio,
    DmabufSize,
    DmabufSizeVer0,
    DmabufOffAddr,
    DmabufOffLength,
    DmabufOffFd,
    DmabufOffProvider,
    DmabufCloexec,
    DmabufManaged,
    IocDmabuf,
    /// Number of facts.
    Count,
}

/// The header's facts as the C compiler sees them.
pub struct UapiFacts {
    facts: [u64; UapiFact::Count as usize],
    c_count: u32,
}

impl UapiFacts {
    /// Asks the C side.
    pub fn from_c_header() -> Self {
        let mut facts = [0u64; UapiFact::Count as usize];
        // SAFETY: `facts` has room for `Count` values, which is what is passed as `n`.
        let c_count = unsafe { p2pmm_glue_uapi_facts(facts.as_mut_ptr(), UapiFact::Count as u32) };
        Self { facts, c_count }
    }

    /// How many facts the C side has: a fact C lacks would otherwise read as 0 here, which some
    /// constants are.
    pub fn c_count(&self) -> u32 {
        self.c_count
    }

    /// One fact.
    pub fn get(&self, f: UapiFact) -> u64 {
        self.facts[f as usize]
    }
}
