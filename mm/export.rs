// SPDX-License-Identifier: GPL-2.0

//! Registering BAR memory as providers: what `include/linux/p2pmm.h` offers drivers outside
//! p2pmm.ko (through the exported wrappers of `p2pmm_export.c`) and what p2pmm's own vaccel uses.
//!
//! A static range becomes p2pdma memory of the device (published) after its provider is listed, so
//! p2pmm's adoption scan never takes it for another driver's memory. A managed range's P2P window
//! is p2pdma memory too, allocated whole: the device's static provider reports its capacity without
//! it.

use crate::{dmem_reclaim, managed::Managed, pci_p2p, registry, stats::Stats};
use kernel::{
    device::Bound,
    ffi::{c_int, c_void},
    pci,
    prelude::*,
};

/// Sub-section size: `memremap_pages()` maps device memory in 2 MiB steps.
const SUBSECTION: u64 = 2 << 20;

/// Checks a BAR range: non-empty, sub-section aligned, inside the BAR.
fn check_range(pdev: &pci::Device<Bound>, bar: u32, size: u64, offset: u64) -> Result {
    let len = pdev.resource_len(bar)?;
    if size == 0 || size % SUBSECTION != 0 || offset % SUBSECTION != 0 {
        return Err(EINVAL);
    }
    match offset.checked_add(size) {
        Some(end) if end <= len => Ok(()),
        _ => Err(EINVAL),
    }
}

/// Lists `size` bytes of `bar` from `offset` as the static provider of `pdev` and gives them to
/// p2pdma. Returns the provider's id.
pub fn register_static(pdev: &pci::Device<Bound>, bar: u32, size: u64, offset: u64) -> Result<u32> {
    check_range(pdev, bar, size, offset)?;
    let provider = registry::register_static(false, pdev.into(), size)?;
    if let Err(e) = pci_p2p::add_p2p_memory(pdev, bar, size, offset) {
        registry::unregister(provider.id);
        return Err(e);
    }
    Ok(provider.id)
}

/// Lists `size` bytes of `bar` from `offset` as a managed provider of `pdev`. Returns the
/// provider's id.
pub fn register_managed(
    pdev: &pci::Device<Bound>,
    bar: u32,
    size: u64,
    offset: u64,
) -> Result<u32> {
    check_range(pdev, bar, size, offset)?;
    let stats = Stats::new()?;
    let managed = Managed::new(pdev, bar, offset, size, stats.clone())?;
    let window = managed.memory().has_p2p_window();
    // Lowering a cgroup's dmem.max below its use evicts its pages (dmem_reclaim.rs).
    let provider = registry::register_managed(pdev.into(), managed, stats, dmem_reclaim::reclaim)?;
    if window {
        if let Some(s) = registry::static_on(pdev) {
            // The window is p2pdma memory of this device too, allocated whole.
            s.reserve_p2p(size);
        }
    }
    Ok(provider.id)
}

/// Unregisters provider `id` of `pdev`: `ENOENT` if `pdev` has no such provider.
pub fn unregister(pdev: &pci::Device, id: u32) -> Result {
    let p = registry::get(id).ok_or(ENOENT)?;
    if !core::ptr::eq::<pci::Device>(&*p.pdev, pdev) {
        return Err(ENOENT);
    }
    // The driver's engine is valid only until it unregisters, but a migration or a background
    // reclaim in progress may still hold the provider: from here on, they copy by CPU.
    if let Some(m) = p.managed() {
        m.memory().engine().take_back();
    }
    drop(p);
    registry::unregister(id);
    Ok(())
}

/// Lends `engine` (null: takes it back) to managed provider `id` of `pdev`: `ENOENT` if `pdev` has
/// no such provider, `EINVAL` if it is not managed or the engine is incomplete.
///
/// # Safety
///
/// `engine` is null or a `struct p2pmm_copy_engine` that stays valid until it is taken back or the
/// provider is unregistered (the API's contract).
unsafe fn set_copy_engine(pdev: &pci::Device, id: u32, engine: *mut c_void) -> Result {
    let p = registry::get(id).ok_or(ENOENT)?;
    if !core::ptr::eq::<pci::Device>(&*p.pdev, pdev) {
        return Err(ENOENT);
    }
    let m = p.managed().ok_or(EINVAL)?;
    // SAFETY: The caller's promise; the provider's memory, which holds the engine, goes when the
    // provider is unregistered.
    unsafe { m.memory().engine().set(engine) }
}

/// The result of a registration as the C API returns it: the id, or a negative errno.
fn id_or_errno(r: Result<u32>) -> c_int {
    match r.and_then(|id| c_int::try_from(id).map_err(|_| EOVERFLOW)) {
        Ok(id) => id,
        Err(e) => e.to_errno(),
    }
}

/// The bound device and BAR of a C call, or `EINVAL`.
///
/// # Safety
///
/// `pdev` is null or a `struct pci_dev` that a driver is bound to for the duration of `'a` (the
/// API's contract: called from that driver's probe or remove).
unsafe fn bound<'a>(pdev: *mut c_void, bar: c_int) -> Result<(&'a pci::Device<Bound>, u32)> {
    if pdev.is_null() {
        return Err(EINVAL);
    }
    let bar = u32::try_from(bar).map_err(|_| EINVAL)?;
    // SAFETY: `pci::Device<Bound>` is `repr(transparent)` over `struct pci_dev`, and the device is
    // bound (the caller's promise).
    Ok((unsafe { &*pdev.cast::<pci::Device<Bound>>() }, bar))
}

/// `p2pmm_register_static()` of `include/linux/p2pmm.h`.
///
/// # Safety
///
/// As for [`bound`]: `pdev` is null or bound to the calling driver for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_register_static(
    pdev: *mut c_void,
    bar: c_int,
    size: u64,
    offset: u64,
) -> c_int {
    // SAFETY: The caller's promise.
    id_or_errno(unsafe { bound(pdev, bar) }.and_then(|(d, b)| register_static(d, b, size, offset)))
}

/// `p2pmm_register_managed()` of `include/linux/p2pmm.h`.
///
/// # Safety
///
/// As for [`p2pmm_rs_register_static`].
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_register_managed(
    pdev: *mut c_void,
    bar: c_int,
    size: u64,
    offset: u64,
) -> c_int {
    // SAFETY: The caller's promise.
    id_or_errno(unsafe { bound(pdev, bar) }.and_then(|(d, b)| register_managed(d, b, size, offset)))
}

/// `p2pmm_unregister()` of `include/linux/p2pmm.h`.
///
/// # Safety
///
/// As for [`p2pmm_rs_register_static`].
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_unregister(pdev: *mut c_void, id: u32) -> c_int {
    // SAFETY: The caller's promise.
    match unsafe { bound(pdev, 0) }.and_then(|(d, _)| unregister(d, id)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `p2pmm_set_copy_engine()` of `include/linux/p2pmm.h`.
///
/// # Safety
///
/// As for [`p2pmm_rs_register_static`]; `engine` is null or valid until it is taken back or the
/// provider is unregistered.
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_set_copy_engine(
    pdev: *mut c_void,
    id: u32,
    engine: *mut c_void,
) -> c_int {
    // SAFETY: The caller's promise.
    match unsafe { bound(pdev, 0) }.and_then(|(d, _)| unsafe { set_copy_engine(d, id, engine) }) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
