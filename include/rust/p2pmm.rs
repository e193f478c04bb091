// SPDX-License-Identifier: GPL-2.0

//! Rust binding of `include/linux/p2pmm.h` for Rust drivers outside `p2pmm.ko`.
//!
//! An out-of-tree Rust module cannot use another module's Rust API, but it can call the C symbols
//! `p2pmm.ko` exports (namespace `P2PMM`). A driver compiles this file into its own crate
//! (`#[path]` to `include/rust/p2pmm.rs`, as a C driver includes the header) and imports the
//! namespace (`imports_ns: ["P2PMM"]` in its `module!`). What it offers is the header's, with
//! ownership: a [`Registration`] is a provider that goes away when it is dropped.

use kernel::ffi::{c_int, c_void};
use kernel::{device::Bound, pci, prelude::*, sync::aref::ARef};

// The functions of `include/linux/p2pmm.h` this binding wraps, declared once. `struct pci_dev` is
// `void *` here: it holds zero-sized arrays that rustc's FFI-safety lint rejects.
extern "C" {
    fn p2pmm_register_static(pdev: *mut c_void, bar: c_int, size: u64, offset: u64) -> c_int;
    fn p2pmm_register_managed(pdev: *mut c_void, bar: c_int, size: u64, offset: u64) -> c_int;
    fn p2pmm_unregister(pdev: *mut c_void, id: u32) -> c_int;
}

/// The raw `struct pci_dev` of a device: `pci::Device` is `#[repr(transparent)]` over
/// `Opaque<bindings::pci_dev>`.
fn raw<Ctx: kernel::device::DeviceContext>(pdev: &pci::Device<Ctx>) -> *mut c_void {
    core::ptr::from_ref(pdev).cast_mut().cast()
}

/// A provider a driver registered on its device: static (p2pdma) or managed memory in a BAR.
///
/// # Examples
///
/// A probe that offers the first 16 MiB of BAR 2 as static memory and the next 8 MiB as managed
/// memory, for as long as the driver is bound. Not a KUnit case (it needs a device bound to the
/// calling driver): `drivers/vaccel/vaccel.rs`, the full driver, is what compiles and runs it.
///
/// ```ignore
/// use crate::p2pmm::Registration;
/// use kernel::{device::Core, pci};
///
/// // The driver's data of one device, dropped at unbind: the managed memory goes first, its pages
/// // back to system memory.
/// struct Bound {
///     managed: Registration,
///     stat: Registration,
/// }
///
/// fn probe(pdev: &pci::Device<Core<'_>>) -> Result<Bound> {
///     pdev.enable_device_mem()?;
///     let stat = Registration::new_static(pdev, 2, 16 << 20, 0)?;
///     let managed = Registration::new_managed(pdev, 2, 8 << 20, 16 << 20)?;
///     pr_info!("providers {} and {}\n", stat.id(), managed.id());
///     Ok(Bound { managed, stat })
/// }
/// ```
///
/// # Invariants
///
/// `id` is a provider registered on `pdev` that only p2pmm's revocation (a static provider, at
/// unbind) or this value's drop unregisters, once.
pub struct Registration {
    pdev: ARef<pci::Device>,
    id: u32,
}

impl Registration {
    /// Offers `size` bytes of `bar` from `offset` (both multiples of 2 MiB) as static memory
    /// (`p2pmm_register_static()`): `EINVAL` for a bad range, `EEXIST` if the device has a static
    /// provider, `ENOMEM`, or p2pdma's error.
    pub fn new_static(pdev: &pci::Device<Bound>, bar: u32, size: u64, offset: u64) -> Result<Self> {
        let bar = c_int::try_from(bar).map_err(|_| EINVAL)?;
        // SAFETY: `pdev` is bound to the calling driver (its type says so) for this call.
        Self::from_ret(pdev, unsafe {
            p2pmm_register_static(raw(pdev), bar, size, offset)
        })
    }

    /// Offers `size` bytes of `bar` from `offset` (both multiples of 2 MiB, not overlapping the
    /// static range) as managed memory (`p2pmm_register_managed()`): `EINVAL` for a bad range,
    /// `EBUSY` if p2pdma handed out part of it, `ENOMEM`.
    pub fn new_managed(
        pdev: &pci::Device<Bound>,
        bar: u32,
        size: u64,
        offset: u64,
    ) -> Result<Self> {
        let bar = c_int::try_from(bar).map_err(|_| EINVAL)?;
        // SAFETY: As in `new_static`.
        Self::from_ret(pdev, unsafe {
            p2pmm_register_managed(raw(pdev), bar, size, offset)
        })
    }

    fn from_ret(pdev: &pci::Device<Bound>, ret: c_int) -> Result<Self> {
        let id = u32::try_from(kernel::error::to_result(ret).map(|()| ret)?).map_err(|_| EINVAL)?;
        let pdev: &pci::Device = pdev;
        // INVARIANT: p2pmm registered provider `id` on `pdev`.
        Ok(Self {
            pdev: ARef::from(pdev),
            id,
        })
    }

    /// The provider's id, as `P2PMM_IOC_PROVIDERS` and `/sys/kernel/p2pmm/providers/` list it.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // A static provider is already gone when its device unbinds (p2pmm revokes static memory
        // from the PCI bus notifier, before the driver's remove): `ENOENT`, the only error, then.
        // SAFETY: `id` was registered on `pdev` (type invariant); the driver is still bound (the
        // value lives in its per-device data, dropped at unbind before devres releases the BAR).
        let _ = unsafe { p2pmm_unregister(raw(&self.pdev), self.id) };
    }
}
