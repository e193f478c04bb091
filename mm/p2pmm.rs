// SPDX-License-Identifier: GPL-2.0

//! p2pmm: one memory manager for PCIe peer-to-peer device memory.
//!
//! This crate is `p2pmm.ko`. It compiles the portable core (`mm/core/src/*.rs`, also tested on the host by
//! `cargo test`) from the same source files, declared below with `#[path]`, and adds what needs the kernel:
//! the `/dev/p2pmm` character device, user copies and, in `p2pmm_glue.c`, C glue.

use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
};

// ---- the portable core, shared with the host crate `p2pmm-core` ----
#[path = "core/src/errno.rs"]
pub mod errno;
#[path = "core/src/extensible.rs"]
pub mod extensible;
#[path = "core/src/ioctl_cmd.rs"]
pub mod ioctl_cmd;
#[path = "core/src/version.rs"]
pub mod version;

// ---- kernel-only parts ----
pub mod chardev;
pub mod errno_map;
pub mod uapi_layout;
pub mod user_struct;

#[cfg(CONFIG_KUNIT)]
mod tests;

module! {
    type: P2pmmModule,
    name: "p2pmm",
    authors: ["The p2pmm developers"],
    description: "Peer-to-peer device memory manager: static BARs and invalidatable device memory",
    license: "GPL",
}

/// The module's state: the registered `/dev/p2pmm`, unregistered when the module goes away.
#[pin_data]
pub struct P2pmmModule {
    #[pin]
    _dev: MiscDeviceRegistration<chardev::P2pmmFile>,
}

impl kernel::InPlaceModule for P2pmmModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!(
            "p2pmm: uapi version {}, features {:#x}\n",
            version::UAPI_VERSION,
            version::FEATURES
        );
        try_pin_init!(Self {
            _dev <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"p2pmm" }),
        })
    }
}
