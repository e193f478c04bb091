// SPDX-License-Identifier: GPL-2.0

//! The importer half of `include/linux/p2pmm.h`, called by the exported wrappers of
//! `p2pmm_export.c`: a C driver's `struct p2pmm_importer` holds one of these [`CImporter`]s.

use crate::{dma_mirror::DriverCallbacks, importer::Importer, notifier::ReadSeq};
use core::ptr::NonNull;
use kernel::{
    bindings,
    device::Device,
    ffi::{c_int, c_uint, c_ulong, c_void},
    mm::Mm,
    prelude::*,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// What `struct p2pmm_importer` points to.
type CImporter = Pin<KBox<Importer<DriverCallbacks>>>;

/// `p2pmm_importer_create()`: the importer, or null with the errno in `err`.
///
/// # Safety
///
/// `dev` is a live device, `mm` an address space with users for the duration of the call, `imp`
/// the caller's `struct p2pmm_importer` with valid ops, which outlives the result, and `err` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_importer_new(
    dev: *mut c_void,
    mm: *mut c_void,
    start: c_ulong,
    length: c_ulong,
    imp: *mut c_void,
    err: *mut c_int,
) -> *mut c_void {
    let (Some(imp), false) = (NonNull::new(imp), dev.is_null() || mm.is_null()) else {
        // SAFETY: The caller's promise.
        unsafe { *err = EINVAL.to_errno() };
        return core::ptr::null_mut();
    };
    // SAFETY: `dev` is live (the caller's promise); the reference taken here goes with the
    // importer.
    let dev = unsafe { Device::get_device(dev.cast::<bindings::device>()) };
    // SAFETY: `mm` is a live address space with users for this call (the caller's promise).
    let mm = unsafe { Mm::from_raw(mm.cast::<bindings::mm_struct>()) };
    // SAFETY: `imp` outlives the importer, with valid ops (the caller's promise).
    let callbacks = unsafe { DriverCallbacks::new(imp) };
    match Importer::new(mm, dev, start, length, callbacks)
        .and_then(|i| KBox::new(i, GFP_KERNEL).map_err(Error::from))
    {
        Ok(i) => KBox::into_raw(i).cast(),
        Err(e) => {
            // SAFETY: The caller's promise.
            unsafe { *err = e.to_errno() };
            core::ptr::null_mut()
        }
    }
}

/// The importer behind `rs`.
///
/// # Safety
///
/// `rs` came from [`p2pmm_rs_importer_new`] and was not dropped; it lives for `'a`.
unsafe fn importer<'a>(rs: *mut c_void) -> &'a Importer<DriverCallbacks> {
    // SAFETY: The caller's promise: a live `CImporter`.
    unsafe { &*rs.cast::<CImporter>() }
}

/// `p2pmm_importer_map()`.
///
/// # Safety
///
/// `rs` is live ([`importer`]); `addrs` has an entry per page of the range; `routes` is null or
/// has as many; `seq` is writable.
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_importer_map(
    rs: *mut c_void,
    flags: c_uint,
    addrs: *mut u64,
    routes: *mut u8,
    seq: *mut c_ulong,
) -> c_int {
    // SAFETY: The caller's promise.
    let imp = unsafe { importer(rs) };
    if addrs.is_null() || seq.is_null() {
        return EINVAL.to_errno();
    }
    let n = (imp.end() - imp.start()) / PAGE_SIZE;
    // SAFETY: `addrs` has `n` entries (the caller's promise) and nothing else refers to them.
    let addrs = unsafe { core::slice::from_raw_parts_mut(addrs, n) };
    // SAFETY: As `addrs`, when not null.
    let routes = (!routes.is_null()).then(|| unsafe { core::slice::from_raw_parts_mut(routes, n) });
    match imp.map(flags, addrs, routes) {
        Ok(s) => {
            // SAFETY: The caller's promise.
            unsafe { *seq = s.0 };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `p2pmm_importer_retry()`.
///
/// # Safety
///
/// `rs` is live ([`importer`]).
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_importer_retry(rs: *mut c_void, seq: c_ulong) -> bool {
    // SAFETY: The caller's promise.
    unsafe { importer(rs) }.retry(ReadSeq(seq))
}

/// `p2pmm_importer_destroy()`: waits for an invalidation in progress and unmaps.
///
/// # Safety
///
/// `rs` is live ([`importer`]) and not used again.
#[no_mangle]
pub unsafe extern "C" fn p2pmm_rs_importer_drop(rs: *mut c_void) {
    // SAFETY: The caller's promise: ownership comes back here once.
    drop(unsafe { KBox::from_raw(rs.cast::<CImporter>()) });
}
