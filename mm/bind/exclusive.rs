// SPDX-License-Identifier: GPL-2.0

//! `make_device_exclusive()`: take a page away from the CPU so a device may access it atomically.
//!
//! The CPU's page table entry is replaced by a device-exclusive entry; the next CPU access faults, core mm
//! restores the mapping and invalidates the range (event [`crate::notifier::Event::Exclusive`] first, then a
//! normal one), and the device must drop its exclusive mapping.

use kernel::{
    bindings,
    ffi::c_void,
    mm::{MmWithUser, MmapReadGuard},
    prelude::*,
};

extern "C" {
    fn p2pmm_make_device_exclusive(
        mm: *mut c_void,
        addr: usize,
        owner: *mut c_void,
        folio: *mut *mut c_void,
    ) -> *mut c_void;
    fn p2pmm_folio_unlock_put(folio: *mut c_void);
}

/// The mmap read lock of one address space, held while pages are made exclusive.
pub struct ExclusiveSession<'a> {
    mm: &'a MmWithUser,
    _lock: MmapReadGuard<'a>,
}

impl<'a> ExclusiveSession<'a> {
    /// Takes the mmap read lock of `mm`.
    pub fn new(mm: &'a MmWithUser) -> Self {
        Self {
            mm,
            _lock: mm.mmap_read_lock(),
        }
    }

    /// Makes the page at `addr` exclusive to the device identified by `owner` (an address used as identity, 0
    /// for none). The page stays locked and referenced until the returned value is dropped: map it into the
    /// device before that.
    pub fn make_exclusive(&self, addr: usize, owner: usize) -> Result<ExclusivePage<'_>> {
        let mut folio: *mut bindings::folio = core::ptr::null_mut();
        // SAFETY: The mmap read lock of `self.mm` is held (`_lock`), `folio` is a valid out pointer.
        let page = unsafe {
            p2pmm_make_device_exclusive(
                self.mm.as_raw().cast(),
                addr,
                owner as *mut c_void,
                (&raw mut folio).cast(),
            )
        };
        let page = kernel::error::from_err_ptr(page)?.cast::<bindings::page>();
        // INVARIANT: on success core mm returns the page locked and referenced through `folio`.
        Ok(ExclusivePage {
            page,
            folio,
            addr,
            _session: core::marker::PhantomData,
        })
    }
}

/// A page made exclusive to a device, locked and referenced until dropped.
///
/// # Invariants
///
/// `folio` is locked and holds a reference taken by `make_device_exclusive`; `page` belongs to it.
pub struct ExclusivePage<'s> {
    page: *mut bindings::page,
    folio: *mut bindings::folio,
    addr: usize,
    _session: core::marker::PhantomData<&'s ()>,
}

impl ExclusivePage<'_> {
    /// The user address of the page.
    pub fn addr(&self) -> usize {
        self.addr
    }

    pub(crate) fn raw_page(&self) -> *mut bindings::page {
        self.page
    }
}

impl Drop for ExclusivePage<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the folio is locked and referenced by us.
        unsafe { p2pmm_folio_unlock_put(self.folio.cast()) };
    }
}
