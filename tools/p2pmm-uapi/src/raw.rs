// SPDX-License-Identifier: GPL-2.0

//! The C uAPI as it is: the constants, ioctl numbers and `#[repr(C)]` structs of `include/uapi/linux/p2pmm.h`,
//! under the header's own names (structs in CamelCase, `__reserved` fields as `reserved`).
//!
//! `tests/layout.rs` compiles a C program against the header and checks every size, offset and constant here
//! against what the C compiler computes; it also fails when the header gains a `#define` this file lacks.

/// `P2PMM_UAPI_VERSION`: the interface version this crate was written against.
pub const P2PMM_UAPI_VERSION: u32 = 2;

/// `P2PMM_FEATURE_VERSION`: `P2PMM_IOC_VERSION` and extensible structs.
pub const P2PMM_FEATURE_VERSION: u64 = 1 << 0;
/// `P2PMM_FEATURE_PROVIDERS`: `P2PMM_IOC_PROVIDERS` and `P2PMM_IOC_ROUTE`.
pub const P2PMM_FEATURE_PROVIDERS: u64 = 1 << 1;
/// `P2PMM_FEATURE_MIGRATE`: managed providers, `P2PMM_IOC_MIGRATE` and `P2PMM_IOC_QUERY`.
pub const P2PMM_FEATURE_MIGRATE: u64 = 1 << 2;
/// `P2PMM_FEATURE_ADVISE`: `P2PMM_IOC_ADVISE`.
pub const P2PMM_FEATURE_ADVISE: u64 = 1 << 3;
/// `P2PMM_FEATURE_STATIC_MMAP`: mmap of static memory at `P2PMM_MMAP_OFFSET(id)`.
pub const P2PMM_FEATURE_STATIC_MMAP: u64 = 1 << 4;

/// `P2PMM_IOC_MAGIC`: the ioctl type byte.
pub const P2PMM_IOC_MAGIC: u32 = 0xB9;

/// `P2PMM_VERSION_SIZE_VER0`.
pub const P2PMM_VERSION_SIZE_VER0: u32 = 24;
/// `P2PMM_PROVIDER_INFO_SIZE_VER0`.
pub const P2PMM_PROVIDER_INFO_SIZE_VER0: u32 = 96;
/// `P2PMM_PROVIDERS_SIZE_VER0`.
pub const P2PMM_PROVIDERS_SIZE_VER0: u32 = 24;
/// `P2PMM_ROUTE_SIZE_VER0`.
pub const P2PMM_ROUTE_SIZE_VER0: u32 = 72;
/// `P2PMM_MIGRATE_SIZE_VER0`.
pub const P2PMM_MIGRATE_SIZE_VER0: u32 = 48;
/// `P2PMM_QUERY_SIZE_VER0`.
pub const P2PMM_QUERY_SIZE_VER0: u32 = 32;
/// `P2PMM_ADVISE_SIZE_VER0`.
pub const P2PMM_ADVISE_SIZE_VER0: u32 = 32;

/// `P2PMM_PROVIDER_STATIC`: a BAR (or part) used through p2pdma: never invalidated, revoked on removal.
pub const P2PMM_PROVIDER_STATIC: u32 = 1;
/// `P2PMM_PROVIDER_MANAGED`: capacity-bounded device memory whose pages may be evicted at any time.
pub const P2PMM_PROVIDER_MANAGED: u32 = 2;
/// `P2PMM_PROVIDER_F_ADOPTED`: registered with p2pdma by another driver (e.g. an NVMe CMB).
pub const P2PMM_PROVIDER_F_ADOPTED: u32 = 1 << 0;

/// `P2PMM_ROUTE_BUS_ADDR`: below a common PCI bridge: the client uses PCI bus addresses.
pub const P2PMM_ROUTE_BUS_ADDR: u32 = 1;
/// `P2PMM_ROUTE_HOST_BRIDGE`: through a host bridge on p2pdma's allowlist.
pub const P2PMM_ROUTE_HOST_BRIDGE: u32 = 2;
/// `P2PMM_ROUTE_NOT_SUPPORTED`: no P2P path.
pub const P2PMM_ROUTE_NOT_SUPPORTED: u32 = 3;

/// `P2PMM_PLAN_DIRECT`: the client maps the provider's memory directly.
pub const P2PMM_PLAN_DIRECT: u32 = 1;
/// `P2PMM_PLAN_BOUNCE`: managed memory: the page moves to system memory and the client maps it there.
pub const P2PMM_PLAN_BOUNCE: u32 = 2;
/// `P2PMM_PLAN_REFUSED`: static memory cannot move: the client cannot use it.
pub const P2PMM_PLAN_REFUSED: u32 = 3;

/// `P2PMM_REASON_NONE`: the route is direct.
pub const P2PMM_REASON_NONE: u32 = 0;
/// `P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED`: no common upstream bridge, host bridge not on the allowlist.
pub const P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED: u32 = 1;
/// `P2PMM_REASON_ACS_REDIRECT`: common bridge, but ACS redirects and the host bridge is not allowed.
pub const P2PMM_REASON_ACS_REDIRECT: u32 = 2;
/// `P2PMM_REASON_NOT_PCI`: the client is not a PCI device.
pub const P2PMM_REASON_NOT_PCI: u32 = 3;
/// `P2PMM_REASON_HOST_BRIDGE_DISALLOWED`: p2pmm's policy forbids the host-bridge path p2pdma allows.
pub const P2PMM_REASON_HOST_BRIDGE_DISALLOWED: u32 = 4;
/// `P2PMM_REASON_TOO_FAR`: p2pmm's policy limits the PCI distance.
pub const P2PMM_REASON_TOO_FAR: u32 = 5;

/// `P2PMM_LOCATION_SYSTEM`: system memory.
pub const P2PMM_LOCATION_SYSTEM: u32 = 0;
/// `P2PMM_LOCATION_NONE`: not populated (or memory p2pmm does not manage).
pub const P2PMM_LOCATION_NONE: u32 = 0xffff_ffff;

/// `P2PMM_ADV_PREFERRED_LOCATION`.
pub const P2PMM_ADV_PREFERRED_LOCATION: u32 = 1;
/// `P2PMM_ADV_UNSET_PREFERRED_LOCATION`.
pub const P2PMM_ADV_UNSET_PREFERRED_LOCATION: u32 = 2;
/// `P2PMM_ADV_ACCESSED_BY`.
pub const P2PMM_ADV_ACCESSED_BY: u32 = 3;
/// `P2PMM_ADV_UNSET_ACCESSED_BY`.
pub const P2PMM_ADV_UNSET_ACCESSED_BY: u32 = 4;
/// `P2PMM_ADV_READ_MOSTLY`.
pub const P2PMM_ADV_READ_MOSTLY: u32 = 5;
/// `P2PMM_ADV_UNSET_READ_MOSTLY`.
pub const P2PMM_ADV_UNSET_READ_MOSTLY: u32 = 6;
/// `P2PMM_ADV_PIN`: never evict the range's pages from a provider to make room.
pub const P2PMM_ADV_PIN: u32 = 7;
/// `P2PMM_ADV_UNPIN`.
pub const P2PMM_ADV_UNPIN: u32 = 8;

/// `P2PMM_MMAP_OFFSET(id)`: the mmap offset that allocates memory of static provider `id`.
pub const fn p2pmm_mmap_offset(id: u32) -> u64 {
    (id as u64) << 32
}

// <asm-generic/ioctl.h>, as x86 (and every architecture but alpha, mips, powerpc, sparc) encodes it.
const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOWR(P2PMM_IOC_MAGIC, nr, T)` for an argument of `size` bytes.
pub const fn iowr(nr: u32, size: usize) -> u32 {
    ((IOC_READ | IOC_WRITE) << IOC_DIRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
        | (P2PMM_IOC_MAGIC << IOC_TYPESHIFT)
        | (nr << IOC_NRSHIFT)
}

/// `P2PMM_IOC_VERSION`.
pub const P2PMM_IOC_VERSION: u32 = iowr(0x00, core::mem::size_of::<Version>());
/// `P2PMM_IOC_PROVIDERS`.
pub const P2PMM_IOC_PROVIDERS: u32 = iowr(0x01, core::mem::size_of::<Providers>());
/// `P2PMM_IOC_ROUTE`.
pub const P2PMM_IOC_ROUTE: u32 = iowr(0x02, core::mem::size_of::<Route>());
/// `P2PMM_IOC_MIGRATE`.
pub const P2PMM_IOC_MIGRATE: u32 = iowr(0x03, core::mem::size_of::<Migrate>());
/// `P2PMM_IOC_QUERY`.
pub const P2PMM_IOC_QUERY: u32 = iowr(0x04, core::mem::size_of::<Query>());
/// `P2PMM_IOC_ADVISE`.
pub const P2PMM_IOC_ADVISE: u32 = iowr(0x05, core::mem::size_of::<Advise>());

/// `struct p2pmm_version`: argument of `P2PMM_IOC_VERSION`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// In: `sizeof(struct p2pmm_version)`.
    pub size: u32,
    /// In: 0.
    pub flags: u32,
    /// Out: `P2PMM_UAPI_VERSION` of the running kernel.
    pub version: u32,
    /// `__reserved`: 0.
    pub reserved: u32,
    /// Out: `P2PMM_FEATURE_*` bits.
    pub features: u64,
}

/// `struct p2pmm_provider_info`: one provider, as listed by `P2PMM_IOC_PROVIDERS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderInfo {
    /// p2pmm's id of the provider.
    pub id: u32,
    /// `P2PMM_PROVIDER_*`.
    pub kind: u32,
    /// `P2PMM_PROVIDER_F_*`.
    pub flags: u32,
    /// `__reserved`: 0.
    pub reserved: u32,
    /// PCI name of the device offering the memory, NUL-terminated.
    pub device: [u8; 32],
    /// Bytes the provider offers.
    pub capacity: u64,
    /// Bytes in use.
    pub used: u64,
    /// Pages evicted from the provider to make room.
    pub evictions: u64,
    /// Pages migrated to the provider.
    pub migrated_in: u64,
    /// Pages migrated away from the provider (evictions included).
    pub migrated_out: u64,
    /// Invalidations p2pmm caused on this provider's pages.
    pub invalidations: u64,
}

/// `struct p2pmm_providers`: argument of `P2PMM_IOC_PROVIDERS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Providers {
    /// In: `sizeof(struct p2pmm_providers)`.
    pub size: u32,
    /// In: 0.
    pub flags: u32,
    /// In: room in `entries`; out: how many providers exist.
    pub count: u32,
    /// In: the stride of `entries`; out: the kernel's `sizeof(struct p2pmm_provider_info)`.
    pub entry_size: u32,
    /// In: user pointer to the array.
    pub entries: u64,
}

/// `struct p2pmm_route`: argument of `P2PMM_IOC_ROUTE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// In: `sizeof(struct p2pmm_route)`.
    pub size: u32,
    /// In: 0.
    pub flags: u32,
    /// In: provider id.
    pub provider: u32,
    /// `__reserved`: 0.
    pub reserved: u32,
    /// In: PCI name of the importing device, NUL-terminated.
    pub client: [u8; 32],
    /// Out: `P2PMM_ROUTE_*`.
    pub verdict: u32,
    /// Out: `P2PMM_PLAN_*`.
    pub plan: u32,
    /// Out: `P2PMM_REASON_*`.
    pub reason: u32,
    /// Out: `pci_p2pdma_distance()`, -1 when not supported.
    pub distance: i32,
    /// Out: `vendor << 16 | device` of the provider's host bridge (0 if unknown).
    pub host_bridge: u32,
    /// `__reserved2`: 0.
    pub reserved2: u32,
}

/// `struct p2pmm_migrate`: argument of `P2PMM_IOC_MIGRATE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrate {
    /// In: `sizeof(struct p2pmm_migrate)`.
    pub size: u32,
    /// In: 0.
    pub flags: u32,
    /// In: start of the range, page aligned.
    pub addr: u64,
    /// In: bytes, page aligned, > 0.
    pub length: u64,
    /// In: `P2PMM_LOCATION_SYSTEM` or a managed provider's id.
    pub target: u32,
    /// `__reserved`: 0.
    pub reserved: u32,
    /// Out: pages that moved to `target`.
    pub migrated: u64,
    /// Out: pages evicted from `target` to make room.
    pub evicted: u64,
}

/// `struct p2pmm_query`: argument of `P2PMM_IOC_QUERY`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// In: `sizeof(struct p2pmm_query)`.
    pub size: u32,
    /// In: 0.
    pub flags: u32,
    /// In: start of the range, page aligned.
    pub addr: u64,
    /// In: bytes, page aligned, > 0.
    pub length: u64,
    /// In: user pointer to `length / page size` `u32`s, each page's location on return.
    pub locations: u64,
}

/// `struct p2pmm_advise`: argument of `P2PMM_IOC_ADVISE`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Advise {
    /// In: `sizeof(struct p2pmm_advise)`.
    pub size: u32,
    /// In: 0.
    pub flags: u32,
    /// In: start of the range, page aligned.
    pub addr: u64,
    /// In: bytes, page aligned, > 0.
    pub length: u64,
    /// In: `P2PMM_ADV_*`.
    pub advice: u32,
    /// In: the provider (or `P2PMM_LOCATION_SYSTEM`) the advice names; 0 where it names none.
    pub location: u32,
}

/// The `size` field of a struct: its size as this crate was built with.
pub(crate) const fn size_of_u32<T>() -> u32 {
    core::mem::size_of::<T>() as u32
}
