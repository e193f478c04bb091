// SPDX-License-Identifier: GPL-2.0

//! The portable core of p2pmm: decisions and bookkeeping in plain Rust, with no kernel calls.
//!
//! Every file below is compiled twice from the same source: into this host crate, where `cargo
//! test` checks it, and into `p2pmm.ko`, whose crate root (`mm/p2pmm.rs`) declares the same files
//! with `#[path]` at its top level. So a file here may use only `core` and refer to its siblings as
//! `crate::<file>`; it allocates only through `kalloc.rs` and uses no atomics (a concurrency
//! protocol it models on the host, `versioned.rs`, takes the caller's lock).
#![no_std]

// Host only: the module gets its vectors from the `kernel` crate (see kalloc.rs).
extern crate alloc;

pub mod advice;
// vaccel's (drivers/vaccel), kept here for its host tests: drivers use no mm/ source.
#[path = "../../../drivers/vaccel/bar_split.rs"]
pub mod bar_split;
pub mod errno;
pub mod eviction;
pub mod extensible;
pub mod free_chunks;
pub mod ioctl_cmd;
pub mod kalloc;
pub mod location;
pub mod pci_name;
pub mod placement;
pub mod provider_ids;
pub mod range_index;
pub mod route;
pub mod slot_table;
pub mod thrash;
pub mod uapi_advise;
pub mod uapi_blkio;
pub mod uapi_dmabuf;
pub mod uapi_migrate;
pub mod uapi_providers;
pub mod uapi_route;
pub mod version;
pub mod versioned;
pub mod watermarks;
