// SPDX-License-Identifier: GPL-2.0

//! The portable core of p2pmm: decisions and bookkeeping in plain Rust, with no kernel calls.
//!
//! Every file below is compiled twice from the same source: into this host crate, where `cargo test` checks it,
//! and into `p2pmm.ko`, whose crate root (`mm/p2pmm.rs`) declares the same files with `#[path]` at its top level.
//! So a file here may use only `core` and refer to its siblings as `crate::<file>`.
#![no_std]

pub mod errno;
pub mod extensible;
pub mod ioctl_cmd;
pub mod pci_name;
pub mod uapi_providers;
pub mod uapi_route;
pub mod version;
