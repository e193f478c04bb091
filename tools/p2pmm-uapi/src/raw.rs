// SPDX-License-Identifier: GPL-2.0

//! The C uAPI as it is: the constants, ioctl numbers and `#[repr(C)]` structs of
//! `include/uapi/linux/p2pmm.h`, under the header's own names (structs in CamelCase, `__reserved`
//! fields as `reserved`).
//!
//! The numbers are not written here: each constant names the one the kernel module itself uses,
//! from the portable core (`mm/core`, crate `p2pmm-core`), and the ioctl numbers are the core's
//! `Command::encode` of these structs' sizes. The structs are this crate's own: userspace's memory
//! image of the header's.
//!
//! `tests/layout.rs` compiles a C program against the header and checks every size, offset and
//! constant here against what the C compiler computes, so it checks the core's numbers too; it also
//! fails when the header gains a `#define` this file lacks.

use p2pmm_core::ioctl_cmd::Command;
use p2pmm_core::route::{self, NoRouteReason};
use p2pmm_core::{
    ioctl_cmd, uapi_advise, uapi_blkio, uapi_dmabuf, uapi_migrate, uapi_providers, uapi_route,
    version,
};

/// `P2PMM_UAPI_VERSION`: the interface version this crate was written against.
pub const P2PMM_UAPI_VERSION: u32 = version::UAPI_VERSION;

/// `P2PMM_FEATURE_VERSION`: `P2PMM_IOC_VERSION` and extensible structs.
pub const P2PMM_FEATURE_VERSION: u64 = version::FEATURE_VERSION;
/// `P2PMM_FEATURE_PROVIDERS`: `P2PMM_IOC_PROVIDERS` and `P2PMM_IOC_ROUTE`.
pub const P2PMM_FEATURE_PROVIDERS: u64 = version::FEATURE_PROVIDERS;
/// `P2PMM_FEATURE_MIGRATE`: managed providers, `P2PMM_IOC_MIGRATE` and `P2PMM_IOC_QUERY`.
pub const P2PMM_FEATURE_MIGRATE: u64 = version::FEATURE_MIGRATE;
/// `P2PMM_FEATURE_ADVISE`: `P2PMM_IOC_ADVISE`.
pub const P2PMM_FEATURE_ADVISE: u64 = version::FEATURE_ADVISE;
/// `P2PMM_FEATURE_STATIC_MMAP`: mmap of static memory at `P2PMM_MMAP_OFFSET(id)`.
pub const P2PMM_FEATURE_STATIC_MMAP: u64 = version::FEATURE_STATIC_MMAP;
/// `P2PMM_FEATURE_BLKIO`: `P2PMM_IOC_BLKIO` (uAPI version 4).
pub const P2PMM_FEATURE_BLKIO: u64 = version::FEATURE_BLKIO;
/// `P2PMM_FEATURE_DMABUF`: `P2PMM_IOC_DMABUF` (uAPI version 5).
pub const P2PMM_FEATURE_DMABUF: u64 = version::FEATURE_DMABUF;
/// `P2PMM_FEATURE_DMABUF_MANAGED`: `P2PMM_IOC_DMABUF` allocates managed memory (uAPI version 6).
pub const P2PMM_FEATURE_DMABUF_MANAGED: u64 = version::FEATURE_DMABUF_MANAGED;

/// `P2PMM_IOC_MAGIC`: the ioctl type byte.
pub const P2PMM_IOC_MAGIC: u32 = ioctl_cmd::IOC_MAGIC;

/// `P2PMM_VERSION_SIZE_VER0`.
pub const P2PMM_VERSION_SIZE_VER0: u32 = version::SIZE_VER0 as u32;
/// `P2PMM_PROVIDER_INFO_SIZE_VER0`.
pub const P2PMM_PROVIDER_INFO_SIZE_VER0: u32 = uapi_providers::INFO_SIZE as u32;
/// `P2PMM_PROVIDERS_SIZE_VER0`.
pub const P2PMM_PROVIDERS_SIZE_VER0: u32 = uapi_providers::SIZE_VER0 as u32;
/// `P2PMM_ROUTE_SIZE_VER0`.
pub const P2PMM_ROUTE_SIZE_VER0: u32 = uapi_route::SIZE_VER0 as u32;
/// `P2PMM_MIGRATE_SIZE_VER0`.
pub const P2PMM_MIGRATE_SIZE_VER0: u32 = uapi_migrate::MIGRATE_SIZE_VER0 as u32;
/// `P2PMM_QUERY_SIZE_VER0`: the struct without `pid` (uAPI version 2), which always means the
/// caller.
pub const P2PMM_QUERY_SIZE_VER0: u32 = uapi_migrate::QUERY_SIZE_VER0 as u32;
/// `P2PMM_QUERY_SIZE_VER1`: the struct with `pid` (uAPI version 3).
pub const P2PMM_QUERY_SIZE_VER1: u32 = uapi_migrate::QUERY_SIZE as u32;
/// `P2PMM_ADVISE_SIZE_VER0`.
pub const P2PMM_ADVISE_SIZE_VER0: u32 = uapi_advise::SIZE_VER0 as u32;
/// `P2PMM_BLKIO_SIZE_VER0`.
pub const P2PMM_BLKIO_SIZE_VER0: u32 = uapi_blkio::SIZE_VER0 as u32;
/// `P2PMM_DMABUF_SIZE_VER0`.
pub const P2PMM_DMABUF_SIZE_VER0: u32 = uapi_dmabuf::SIZE_VER0 as u32;

/// `P2PMM_PROVIDER_STATIC`: a BAR (or part) used through p2pdma: never invalidated, revoked on
/// removal.
pub const P2PMM_PROVIDER_STATIC: u32 = uapi_providers::KIND_STATIC;
/// `P2PMM_PROVIDER_MANAGED`: capacity-bounded device memory whose pages may be evicted at any time.
pub const P2PMM_PROVIDER_MANAGED: u32 = uapi_providers::KIND_MANAGED;
/// `P2PMM_PROVIDER_F_ADOPTED`: registered with p2pdma by another driver (e.g. an NVMe CMB).
pub const P2PMM_PROVIDER_F_ADOPTED: u32 = uapi_providers::FLAG_ADOPTED;

/// `P2PMM_ROUTE_BUS_ADDR`: below a common PCI bridge: the client uses PCI bus addresses.
pub const P2PMM_ROUTE_BUS_ADDR: u32 = uapi_route::ROUTE_BUS_ADDR;
/// `P2PMM_ROUTE_HOST_BRIDGE`: through a host bridge on p2pdma's allowlist.
pub const P2PMM_ROUTE_HOST_BRIDGE: u32 = uapi_route::ROUTE_HOST_BRIDGE;
/// `P2PMM_ROUTE_NOT_SUPPORTED`: no P2P path.
pub const P2PMM_ROUTE_NOT_SUPPORTED: u32 = uapi_route::ROUTE_NOT_SUPPORTED;

/// `P2PMM_PLAN_DIRECT`: the client maps the provider's memory directly.
pub const P2PMM_PLAN_DIRECT: u32 = route::PLAN_DIRECT;
/// `P2PMM_PLAN_BOUNCE`: managed memory: the page moves to system memory and the client maps it
/// there.
pub const P2PMM_PLAN_BOUNCE: u32 = route::PLAN_BOUNCE;
/// `P2PMM_PLAN_REFUSED`: static memory cannot move: the client cannot use it.
pub const P2PMM_PLAN_REFUSED: u32 = route::PLAN_REFUSED;

/// `P2PMM_REASON_NONE`: the route is direct.
pub const P2PMM_REASON_NONE: u32 = route::REASON_NONE;
/// `P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED`: no common upstream bridge, host bridge not on the
/// allowlist.
pub const P2PMM_REASON_HOST_BRIDGE_NOT_ALLOWED: u32 = NoRouteReason::HostBridgeNotAllowed.code();
/// `P2PMM_REASON_ACS_REDIRECT`: common bridge, but ACS redirects and the host bridge is not
/// allowed.
pub const P2PMM_REASON_ACS_REDIRECT: u32 = NoRouteReason::AcsRedirect.code();
/// `P2PMM_REASON_NOT_PCI`: the client is not a PCI device.
pub const P2PMM_REASON_NOT_PCI: u32 = NoRouteReason::NotPci.code();
/// `P2PMM_REASON_HOST_BRIDGE_DISALLOWED`: p2pmm's policy forbids the host-bridge path p2pdma
/// allows.
pub const P2PMM_REASON_HOST_BRIDGE_DISALLOWED: u32 = NoRouteReason::HostBridgeDisallowed.code();
/// `P2PMM_REASON_TOO_FAR`: p2pmm's policy limits the PCI distance.
pub const P2PMM_REASON_TOO_FAR: u32 = NoRouteReason::TooFar.code();

/// `P2PMM_LOCATION_SYSTEM`: system memory.
pub const P2PMM_LOCATION_SYSTEM: u32 = uapi_migrate::LOCATION_SYSTEM;
/// `P2PMM_LOCATION_NONE`: not populated (or memory p2pmm does not manage).
pub const P2PMM_LOCATION_NONE: u32 = uapi_migrate::LOCATION_NONE;

/// `P2PMM_ADV_PREFERRED_LOCATION`.
pub const P2PMM_ADV_PREFERRED_LOCATION: u32 = uapi_advise::adv::PREFERRED_LOCATION;
/// `P2PMM_ADV_UNSET_PREFERRED_LOCATION`.
pub const P2PMM_ADV_UNSET_PREFERRED_LOCATION: u32 = uapi_advise::adv::UNSET_PREFERRED_LOCATION;
/// `P2PMM_ADV_ACCESSED_BY`.
pub const P2PMM_ADV_ACCESSED_BY: u32 = uapi_advise::adv::ACCESSED_BY;
/// `P2PMM_ADV_UNSET_ACCESSED_BY`.
pub const P2PMM_ADV_UNSET_ACCESSED_BY: u32 = uapi_advise::adv::UNSET_ACCESSED_BY;
/// `P2PMM_ADV_READ_MOSTLY`.
pub const P2PMM_ADV_READ_MOSTLY: u32 = uapi_advise::adv::READ_MOSTLY;
/// `P2PMM_ADV_UNSET_READ_MOSTLY`.
pub const P2PMM_ADV_UNSET_READ_MOSTLY: u32 = uapi_advise::adv::UNSET_READ_MOSTLY;
/// `P2PMM_ADV_PIN`: never evict the range's pages from a provider to make room.
pub const P2PMM_ADV_PIN: u32 = uapi_advise::adv::PIN;
/// `P2PMM_ADV_UNPIN`.
pub const P2PMM_ADV_UNPIN: u32 = uapi_advise::adv::UNPIN;

/// `P2PMM_BLKIO_WRITE`: memory to device; without it, device to memory.
pub const P2PMM_BLKIO_WRITE: u32 = uapi_blkio::FLAG_WRITE;

/// `P2PMM_DMABUF_CLOEXEC`: the new file descriptor is close-on-exec.
pub const P2PMM_DMABUF_CLOEXEC: u32 = uapi_dmabuf::FLAG_CLOEXEC;
/// `P2PMM_DMABUF_MANAGED`: allocate `length` bytes of managed provider `provider` as the dma-buf.
pub const P2PMM_DMABUF_MANAGED: u32 = uapi_dmabuf::FLAG_MANAGED;

/// `P2PMM_MMAP_OFFSET(id)`: the mmap offset that allocates memory of static provider `id`.
pub const fn p2pmm_mmap_offset(id: u32) -> u64 {
    uapi_migrate::mmap_offset(id)
}

/// `P2PMM_IOC_VERSION`: `_IOWR(P2PMM_IOC_MAGIC, 0x00, struct p2pmm_version)`.
pub const P2PMM_IOC_VERSION: u32 = Command::Version.encode(size_of::<Version>());
/// `P2PMM_IOC_PROVIDERS`: `_IOWR(P2PMM_IOC_MAGIC, 0x01, struct p2pmm_providers)`.
pub const P2PMM_IOC_PROVIDERS: u32 = Command::Providers.encode(size_of::<Providers>());
/// `P2PMM_IOC_ROUTE`: `_IOWR(P2PMM_IOC_MAGIC, 0x02, struct p2pmm_route)`.
pub const P2PMM_IOC_ROUTE: u32 = Command::Route.encode(size_of::<Route>());
/// `P2PMM_IOC_MIGRATE`: `_IOWR(P2PMM_IOC_MAGIC, 0x03, struct p2pmm_migrate)`.
pub const P2PMM_IOC_MIGRATE: u32 = Command::Migrate.encode(size_of::<Migrate>());
/// `P2PMM_IOC_QUERY`: `_IOWR(P2PMM_IOC_MAGIC, 0x04, struct p2pmm_query)`.
pub const P2PMM_IOC_QUERY: u32 = Command::Query.encode(size_of::<Query>());
/// `P2PMM_IOC_ADVISE`: `_IOWR(P2PMM_IOC_MAGIC, 0x05, struct p2pmm_advise)`.
pub const P2PMM_IOC_ADVISE: u32 = Command::Advise.encode(size_of::<Advise>());
/// `P2PMM_IOC_BLKIO`: `_IOWR(P2PMM_IOC_MAGIC, 0x06, struct p2pmm_blkio)`.
pub const P2PMM_IOC_BLKIO: u32 = Command::Blkio.encode(size_of::<Blkio>());
/// `P2PMM_IOC_DMABUF`: `_IOWR(P2PMM_IOC_MAGIC, 0x07, struct p2pmm_dmabuf)`.
pub const P2PMM_IOC_DMABUF: u32 = Command::Dmabuf.encode(size_of::<Dmabuf>());

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
    /// In: the process whose memory to look at; 0 (or the caller's own pid) for the caller. Another
    /// process needs `CAP_SYS_PTRACE`. Added in uAPI version 3.
    pub pid: u32,
    /// `__reserved`: 0.
    pub reserved: u32,
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

/// `struct p2pmm_blkio`: argument of `P2PMM_IOC_BLKIO`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Blkio {
    /// In: `sizeof(struct p2pmm_blkio)`.
    pub size: u32,
    /// In: `P2PMM_BLKIO_WRITE` or 0.
    pub flags: u32,
    /// In: a block device, open for reading (a read) or writing (`P2PMM_BLKIO_WRITE`).
    pub fd: i32,
    /// `__reserved`: 0.
    pub reserved: u32,
    /// In: first byte of the memory range, a multiple of the device's logical block size.
    pub addr: u64,
    /// In: bytes, a multiple of the logical block size, > 0.
    pub length: u64,
    /// In: byte offset on the device, a multiple of the logical block size.
    pub offset: u64,
    /// Out: bytes the device moved to or from a provider's BAR by bus address (P2P DMA).
    pub bytes_p2p: u64,
    /// Out: bytes the device moved to or from system memory.
    pub bytes_system: u64,
    /// Out: bytes that went through a bounce page in system memory, copied by the CPU to or from a
    /// managed provider the device does not reach directly.
    pub bytes_bounce: u64,
    /// Out: pieces of the range set up again because an invalidation raced their setup.
    pub retries: u64,
}

/// `struct p2pmm_dmabuf`: argument of `P2PMM_IOC_DMABUF`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dmabuf {
    /// In: `sizeof(struct p2pmm_dmabuf)`.
    pub size: u32,
    /// In: `P2PMM_DMABUF_CLOEXEC`, `P2PMM_DMABUF_MANAGED`.
    pub flags: u32,
    /// In: first byte of the range, page-aligned, in a writable shared mapping of static memory
    /// (0 with `P2PMM_DMABUF_MANAGED`).
    pub addr: u64,
    /// In: bytes, a multiple of the page size, > 0, within that one mapping (or to allocate).
    pub length: u64,
    /// Out: the dma-buf's file descriptor.
    pub fd: i32,
    /// In: with `P2PMM_DMABUF_MANAGED`, the managed provider's id; else 0.
    pub provider: u32,
}

/// The `size` field of a struct: its size as this crate was built with.
pub(crate) const fn size_of_u32<T>() -> u32 {
    core::mem::size_of::<T>() as u32
}
