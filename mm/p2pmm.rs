// SPDX-License-Identifier: GPL-2.0

//! p2pmm: one memory manager for PCIe peer-to-peer device memory.
//!
//! This crate is `p2pmm.ko`. Its layers, bottom up (Documentation/p2pmm/index.rst draws them):
//! - the portable core (`mm/core/src/*.rs`: uAPI decoding, eviction policy, advice, routes),
//!   compiled from the same source files that `cargo test` checks on the host, declared below with
//!   `#[path]`;
//! - the binding layer (`mm/bind/*.rs` and its C glue): the only place with `unsafe` kernel calls
//!   (besides `uapi_layout.rs` and the registry's one-time global-lock init);
//! - the subsystem (`registry`, `provider`, `managed`, `space`, `chardev`, `sysfs`, `debugfs`)
//!   and the in-kernel API it exports (`include/linux/p2pmm.h`: `export`, `export_importer`).
//!
//! Drivers are users, not parts: the virtual accelerator is `p2pmm_vaccel.ko`
//! (`drivers/vaccel`), which registers its memory through the exported API.
//!
//! The binding layer is also a library for Rust drivers: the kernel crate has no HMM, migration,
//! device-private memory or interval-notifier abstractions, and these are p2pmm's. Kbuild exports
//! the binding layer's Rust symbols in namespace `P2PMM` (as vmlinux exports the `kernel` crate's;
//! the subsystem's own modules stay private) and hands this crate's metadata to the Rust drivers it
//! builds, which name the modules as `p2pmm::hmm`, `p2pmm::migrate` and so on (`p2pmm_mirror.ko`,
//! `drivers/mirror`, does).

use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

// ---- the portable core, shared with the host crate `p2pmm-core` ----
#[path = "core/src/advice.rs"]
pub mod advice;
#[path = "core/src/errno.rs"]
pub mod errno;
#[path = "core/src/eviction.rs"]
pub mod eviction;
#[path = "core/src/extensible.rs"]
pub mod extensible;
#[path = "core/src/free_chunks.rs"]
pub mod free_chunks;
#[path = "core/src/ioctl_cmd.rs"]
pub mod ioctl_cmd;
#[path = "core/src/kalloc.rs"]
pub mod kalloc;
#[path = "core/src/location.rs"]
pub mod location;
#[path = "core/src/pci_name.rs"]
pub mod pci_name;
#[path = "core/src/placement.rs"]
pub mod placement;
#[path = "core/src/provider_ids.rs"]
pub mod provider_ids;
#[path = "core/src/range_index.rs"]
pub mod range_index;
#[path = "core/src/route.rs"]
pub mod route;
#[path = "core/src/slot_table.rs"]
pub mod slot_table;
#[path = "core/src/thrash.rs"]
pub mod thrash;
#[path = "core/src/uapi_advise.rs"]
pub mod uapi_advise;
#[path = "core/src/uapi_blkio.rs"]
pub mod uapi_blkio;
#[path = "core/src/uapi_dmabuf.rs"]
pub mod uapi_dmabuf;
#[path = "core/src/uapi_migrate.rs"]
pub mod uapi_migrate;
#[path = "core/src/uapi_providers.rs"]
pub mod uapi_providers;
#[path = "core/src/uapi_route.rs"]
pub mod uapi_route;
#[path = "core/src/version.rs"]
pub mod version;
#[path = "core/src/versioned.rs"]
pub mod versioned;
#[path = "core/src/watermarks.rs"]
pub mod watermarks;

// ---- the binding layer: the only `unsafe` kernel calls (besides mm/uapi_layout.rs) ----
#[path = "bind/bar_devmem.rs"]
pub mod bar_devmem;
#[path = "bind/sysfs.rs"]
pub mod bind_sysfs;
#[path = "bind/block_io.rs"]
pub mod block_io;
#[path = "bind/copy_engine.rs"]
pub mod copy_engine;
#[path = "bind/dev_page.rs"]
pub mod dev_page;
#[path = "bind/devmem.rs"]
pub mod devmem;
#[path = "bind/dma_mirror.rs"]
pub mod dma_mirror;
#[path = "bind/dmem.rs"]
pub mod dmem;
#[path = "bind/exclusive.rs"]
pub mod exclusive;
#[path = "bind/ffi.rs"]
pub mod ffi;
#[path = "bind/hmm.rs"]
pub mod hmm;
#[cfg(all(CONFIG_KUNIT, p2pmm_doctests))]
#[path = "bind/kunit_mm.rs"]
pub mod kunit_mm;
#[path = "bind/lock_class.rs"]
pub mod lock_class;
#[path = "bind/managed_dmabuf.rs"]
pub mod managed_dmabuf;
#[path = "bind/migrate.rs"]
pub mod migrate;
#[path = "bind/mirror_table.rs"]
pub mod mirror_table;
#[path = "bind/notifier.rs"]
pub mod notifier;
// The Rust binding of include/linux/p2pmm.h that drivers outside p2pmm.ko compile (vaccel does):
// compiled into the test build too, so that its examples run as KUnit cases against the exported
// functions themselves.
#[cfg(all(CONFIG_KUNIT, p2pmm_doctests))]
#[path = "../include/rust/p2pmm.rs"]
pub mod p2pmm_binding;
#[path = "bind/pci_p2p.rs"]
pub mod pci_p2p;
#[path = "bind/rcu_arc.rs"]
pub mod rcu_arc;
#[path = "bind/reclaim_queue.rs"]
pub mod reclaim_queue;
#[path = "bind/static_map.rs"]
pub mod static_map;
#[path = "bind/trace.rs"]
pub mod trace;

// ---- kernel-only parts ----
pub mod blkio;
pub mod chardev;
pub mod debugfs;
pub mod dmabuf_alloc;
pub mod dmem_reclaim;
pub mod errno_map;
pub mod evictor;
pub mod export;
pub mod export_importer;
pub mod importer;
pub mod managed;
pub mod migration;
pub mod provider;
pub mod reclaim;
pub mod registry;
pub mod residency;
pub mod resident_advice;
pub mod space;
pub mod stats;
pub mod sysfs;
pub mod tenants;
pub mod uapi_layout;
pub mod user_struct;

#[cfg(CONFIG_KUNIT)]
mod tests;

// The binding layer's `# Examples` doctests as KUnit suite `p2pmm_doctests`: scripts/doctest_gen.py
// writes them into the build copy (scripts/modules.sh), never into the repo, and Kbuild sets
// `p2pmm_doctests` only when the file is there, so a build without the generator still compiles.
#[cfg(all(CONFIG_KUNIT, p2pmm_doctests))]
include!("doctests_generated.rs");

module! {
    type: P2pmmModule,
    name: "p2pmm",
    authors: ["The p2pmm developers"],
    description: "Peer-to-peer device memory manager: static BARs and invalidatable device memory",
    license: "GPL",
    params: {
        min_residency_us: u32 {
            default: 1000,
            description: "Microseconds a page stays on a managed provider before it may be \
                evicted (read at probe)",
        },
        watermark_low_permille: u32 {
            default: 10,
            description: "Free part (per mille) of a managed provider below which background \
                reclaim starts (0: off; at least 1 MiB, at most an eighth of the capacity)",
        },
        watermark_high_permille: u32 {
            default: 20,
            description: "Free part (per mille) of a managed provider background reclaim frees \
                (at least the low one, and twice its floor while reclaim is on)",
        },
        thrash_moves: u32 {
            default: 8,
            description: "Moves of a 2 MiB range into device memory within thrash_window_ms that \
                make it thrash (0: off)",
        },
        thrash_window_ms: u32 {
            default: 1000,
            description: "Milliseconds in which thrash_moves moves of a range are counted",
        },
        thrash_backoff_ms: u32 {
            default: 500,
            description: "Milliseconds a thrashing range stays where it is",
        },
        cpu_fault_around_pages: u32 {
            default: 16,
            description: "Pages (power of two, at most 64) a CPU fault on managed memory brings \
                back: the touched one and its aligned unpinned neighbours (1: the touched page \
                only)",
        },
        route_allow_host_bridge: bool {
            default: true,
            description: "Route peer traffic through the host bridge when p2pdma allows it (0: \
                bounce or refuse)",
        },
        route_max_distance: u32 {
            default: 0,
            description: "Longest p2pdma distance of a direct route (0: no limit); longer routes \
                bounce or are refused",
        },
    },
}

/// The module's state: the registered `/dev/p2pmm`, unregistered when the module goes away.
#[pin_data]
pub struct P2pmmModule {
    // Background reclaim of the providers that are gone may still run: waited for before anything
    // it uses goes.
    _reclaim: reclaim_queue::ReclaimQueue,
    // Revokes static memory when any PCI driver unbinds from its device; after the drivers are
    // gone.
    _unbind: pci_p2p::UnbindGuard,
    // Then the providers still listed (adopted ones) and their sysfs directories, then the sysfs
    // root.
    _registry: registry::ClearOnDrop,
    _sysfs: bind_sysfs::SysfsRoot,
    #[pin]
    _dev: MiscDeviceRegistration<chardev::P2pmmFile>,
    _debugfs: debugfs::Debugfs,
}

impl kernel::InPlaceModule for P2pmmModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!(
            "uapi version {}, features {:#x}\n",
            version::UAPI_VERSION,
            version::FEATURES
        );
        // SAFETY: Module init runs once, before any other p2pmm code.
        unsafe { registry::init() };
        try_pin_init!(Self {
            _reclaim: reclaim_queue::ReclaimQueue::new()?,
            _unbind: pci_p2p::watch_unbind::<registry::RevokeOnUnbind>()?,
            _registry: registry::ClearOnDrop,
            _sysfs: bind_sysfs::init::<sysfs::FromRegistry>()?,
            _dev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"p2pmm" }),
            _debugfs: debugfs::Debugfs::new()?,
            _: {
                // Existing p2pdma memory (an NVMe CMB) becomes static providers; listing re-checks
                // later.
                if let Err(e) = registry::sync_adopted() {
                    pr_warn!("adopting p2pdma providers failed: {:?}\n", e);
                }
            },
        })
    }
}
