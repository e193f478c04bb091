// SPDX-License-Identifier: GPL-2.0

//! Moving pages between system memory and simulated device memory: `migrate_vma_*` (a range of a process)
//! and `migrate_device_*` (everything in a chunk, for eviction).
//!
//! A [`MigrateVma`] is one migration: `setup` isolates and unmaps the pages (core mm sends a
//! [`crate::notifier::Event::Migrate`] invalidation with our owner), the caller gives each selected page a
//! destination and copies it ([`MigrateVma::to_device`] / [`MigrateVma::to_ram`]), [`MigrateVma::pages`] moves
//! the mappings, and `finalize` (on drop at the latest) restores what could not move and unlocks everything.
//! Order-0 pages only for now: large folios are split by core mm on the way.

use crate::devmem::DevPage;
use kernel::{
    error::to_result,
    ffi::{c_ulong, c_void},
    mm::virt::VmaRef,
    prelude::*,
};

extern "C" {
    fn p2pmm_migrate_alloc(npages: c_ulong) -> *mut c_void;
    fn p2pmm_migrate_free(m: *mut c_void);
    fn p2pmm_migrate_src(m: *mut c_void) -> *mut c_ulong;
    fn p2pmm_migrate_dst(m: *mut c_void) -> *mut c_ulong;
    fn p2pmm_migrate_vma_setup(
        m: *mut c_void,
        vma: *mut c_void,
        start: c_ulong,
        end: c_ulong,
        owner: *mut c_void,
        flags: c_ulong,
        fault_page: *mut c_void,
    ) -> i32;
    fn p2pmm_migrate_vma_pages(m: *mut c_void);
    fn p2pmm_migrate_vma_finalize(m: *mut c_void);
    fn p2pmm_migrate_device_range(src: *mut c_ulong, start_pfn: c_ulong, npages: c_ulong) -> i32;
    fn p2pmm_migrate_device_pages(src: *mut c_ulong, dst: *mut c_ulong, npages: c_ulong);
    fn p2pmm_migrate_device_finalize(src: *mut c_ulong, dst: *mut c_ulong, npages: c_ulong);
    fn p2pmm_alloc_page_vma_locked(vma: *mut c_void, addr: c_ulong) -> *mut c_void;
    fn p2pmm_alloc_page_locked() -> *mut c_void;
    fn p2pmm_unlock_free_page(page: *mut c_void);
    fn p2pmm_migrate_select_system() -> c_ulong;
    fn p2pmm_migrate_select_device_private() -> c_ulong;
    fn p2pmm_pfn_to_page(pfn: c_ulong) -> *mut c_void;
    fn p2pmm_page_to_pfn(page: *mut c_void) -> c_ulong;
    fn p2pmm_copy_page(dst: *mut c_void, src: *mut c_void);
    fn p2pmm_clear_page(page: *mut c_void);
    fn p2pmm_devpage_backing(dpage: *mut c_void) -> *mut c_void;
}

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// `MIGRATE_PFN_*` (include/linux/migrate.h; checked by a `static_assert` in mirror_glue.c).
mod mpfn {
    pub(super) const VALID: usize = 1 << 0;
    pub(super) const MIGRATE: usize = 1 << 1;
    pub(super) const WRITE: usize = 1 << 3;
    pub(super) const SHIFT: u32 = 6;
}

fn mpfn_page(entry: usize) -> Option<*mut c_void> {
    if entry & mpfn::VALID == 0 {
        return None;
    }
    // SAFETY: A valid migrate entry encodes the PFN of a page with a `struct page`.
    Some(unsafe { p2pmm_pfn_to_page((entry >> mpfn::SHIFT) as c_ulong) })
}

fn mpfn_of(page: *mut c_void, write: bool) -> usize {
    // SAFETY: `page` is a live `struct page` the caller owns.
    let pfn = unsafe { p2pmm_page_to_pfn(page) } as usize;
    (pfn << mpfn::SHIFT) | mpfn::VALID | if write { mpfn::WRITE } else { 0 }
}

/// Which pages a migration selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// System memory (and empty or zero-page entries): for a migration to the device.
    System,
    /// Device-private pages of the given owner: for a migration back to system memory.
    DevicePrivate,
}

/// One `struct migrate_vma` migration of `[start, end)` within a single VMA.
///
/// # Invariants
///
/// `raw` is a `struct migrate_vma` allocated by `p2pmm_migrate_alloc(npages)` on which `migrate_vma_setup`
/// succeeded; it is finalized exactly once (`finalized`) before it is freed in `drop`.
pub struct MigrateVma {
    raw: *mut c_void,
    npages: usize,
    start: usize,
    vma: *mut c_void,
    finalized: bool,
}

impl MigrateVma {
    /// Sets up the migration of `[start, end)` (page aligned, inside `vma`, whose mmap lock the caller holds
    /// through the `&VmaRef`). `owner` identifies this device's memory.
    pub fn setup(
        vma: &VmaRef,
        start: usize,
        end: usize,
        owner: usize,
        select: Select,
    ) -> Result<Self> {
        if start >= end
            || start % PAGE_SIZE != 0
            || end % PAGE_SIZE != 0
            || start < vma.start()
            || end > vma.end()
        {
            return Err(EINVAL);
        }
        // SAFETY: `vma` is a live VMA whose mmap lock is held for the lifetime of the `&VmaRef`; no fault page.
        unsafe {
            Self::setup_raw(
                vma.as_ptr().cast(),
                start,
                end,
                owner,
                select,
                core::ptr::null_mut(),
            )
        }
    }

    /// # Safety
    ///
    /// `vma` must be a live VMA whose mmap lock is held until the migration is finalized; `[start, end)` must be
    /// page aligned and inside it; `fault_page`, if not null, is the locked device page of a `migrate_to_ram`.
    pub(crate) unsafe fn setup_raw(
        vma: *mut c_void,
        start: usize,
        end: usize,
        owner: usize,
        select: Select,
        fault_page: *mut c_void,
    ) -> Result<Self> {
        let npages = (end - start) / PAGE_SIZE;
        // SAFETY: Plain allocation.
        let raw = unsafe { p2pmm_migrate_alloc(npages as c_ulong) };
        if raw.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: Constants of the kernel.
        let flags = unsafe {
            match select {
                Select::System => p2pmm_migrate_select_system(),
                Select::DevicePrivate => p2pmm_migrate_select_device_private(),
            }
        };
        // SAFETY: `raw` has room for `npages` entries; the caller guarantees `vma`, the range and `fault_page`.
        let ret = unsafe {
            p2pmm_migrate_vma_setup(
                raw,
                vma,
                start as c_ulong,
                end as c_ulong,
                owner as *mut c_void,
                flags,
                fault_page,
            )
        };
        if let Err(e) = to_result(ret) {
            // SAFETY: Setup failed, nothing to finalize; `raw` came from `p2pmm_migrate_alloc`.
            unsafe { p2pmm_migrate_free(raw) };
            return Err(e);
        }
        // INVARIANT: set up successfully; finalized in `finalize` or `drop`.
        Ok(Self {
            raw,
            npages,
            start,
            vma,
            finalized: false,
        })
    }

    fn src(&self) -> &[usize] {
        // SAFETY: By the type invariant `raw` has `npages` source entries, written by setup and read-only after.
        unsafe {
            core::slice::from_raw_parts(p2pmm_migrate_src(self.raw).cast::<usize>(), self.npages)
        }
    }

    fn dst_mut(&mut self) -> &mut [usize] {
        // SAFETY: By the type invariant `raw` has `npages` destination entries, ours to fill before `pages`.
        unsafe {
            core::slice::from_raw_parts_mut(
                p2pmm_migrate_dst(self.raw).cast::<usize>(),
                self.npages,
            )
        }
    }

    /// Gives every selected page a device page from `alloc` and copies its data there (zero for an empty
    /// entry). `alloc` returning `None` leaves that page in system memory.
    pub fn to_device(&mut self, mut alloc: impl FnMut() -> Result<Option<DevPage>>) -> Result {
        for i in 0..self.npages {
            let src = self.src()[i];
            if src & mpfn::MIGRATE == 0 {
                continue;
            }
            let Some(dpage) = alloc()? else {
                continue;
            };
            let backing = dpage.backing();
            match mpfn_page(src) {
                // SAFETY: Both pages are live: the source is isolated and locked by setup, the backing page is
                // owned by the device page.
                Some(spage) => unsafe { p2pmm_copy_page(backing, spage) },
                // SAFETY: As above.
                None => unsafe { p2pmm_clear_page(backing) },
            }
            self.dst_mut()[i] = mpfn_of(dpage.into_raw(), src & mpfn::WRITE != 0);
        }
        Ok(())
    }

    /// Gives every selected device page a new system page (allocated near the VMA) and copies the data back.
    /// `ENOMEM` if an allocation fails (the pages allocated so far are released by `finalize`).
    pub fn to_ram(&mut self) -> Result {
        for i in 0..self.npages {
            let src = self.src()[i];
            let Some(spage) = mpfn_page(src) else {
                continue;
            };
            if src & mpfn::MIGRATE == 0 {
                continue;
            }
            let addr = self.start + i * PAGE_SIZE;
            // SAFETY: `vma` is live and its mmap lock held (type invariant via setup's contract).
            let dpage = unsafe { p2pmm_alloc_page_vma_locked(self.vma, addr as c_ulong) };
            if dpage.is_null() {
                // Give back what was allocated so far: with empty destinations `finalize` restores every page.
                for d in self.dst_mut().iter_mut() {
                    if let Some(page) = mpfn_page(*d) {
                        // SAFETY: Allocated locked above and never handed to core mm.
                        unsafe { p2pmm_unlock_free_page(page) };
                    }
                    *d = 0;
                }
                return Err(ENOMEM);
            }
            // SAFETY: `spage` is a device page selected (locked) by setup; its backing page holds its data.
            unsafe { p2pmm_copy_page(dpage, p2pmm_devpage_backing(spage)) };
            self.dst_mut()[i] = mpfn_of(dpage, src & mpfn::WRITE != 0);
        }
        Ok(())
    }

    /// Moves the mappings to the destinations (`migrate_vma_pages`).
    pub fn pages(&mut self) {
        // SAFETY: Set up and not finalized (type invariant); destinations filled.
        unsafe { p2pmm_migrate_vma_pages(self.raw) };
    }

    /// Pages that moved: selected and still valid after [`MigrateVma::pages`].
    pub fn migrated(&self) -> usize {
        self.src()
            .iter()
            .filter(|&&e| e & mpfn::VALID != 0 && e & mpfn::MIGRATE != 0)
            .count()
    }

    /// Finishes the migration (`migrate_vma_finalize`).
    pub fn finalize(mut self) {
        self.do_finalize();
    }

    fn do_finalize(&mut self) {
        if !self.finalized {
            // SAFETY: Set up and not yet finalized (type invariant).
            unsafe { p2pmm_migrate_vma_finalize(self.raw) };
            self.finalized = true;
        }
    }
}

impl Drop for MigrateVma {
    fn drop(&mut self) {
        self.do_finalize();
        // SAFETY: Finalized; `raw` came from `p2pmm_migrate_alloc` (type invariant).
        unsafe { p2pmm_migrate_free(self.raw) };
    }
}

/// Evicts every used page of the device PFN range `[first_pfn, first_pfn + npages)` to system memory
/// (`migrate_device_range`), e.g. before the memory goes away.
pub(crate) fn evict_range(first_pfn: usize, npages: usize) -> Result {
    let mut src = KVVec::<usize>::with_capacity(npages, GFP_KERNEL)?;
    src.resize(npages, 0, GFP_KERNEL)?;
    let mut dst = KVVec::<usize>::with_capacity(npages, GFP_KERNEL)?;
    dst.resize(npages, 0, GFP_KERNEL)?;
    // SAFETY: `src` has `npages` entries; the PFNs belong to device memory the caller owns.
    to_result(unsafe {
        p2pmm_migrate_device_range(
            src.as_mut_ptr().cast(),
            first_pfn as c_ulong,
            npages as c_ulong,
        )
    })?;
    for i in 0..npages {
        let s = src[i];
        if s & mpfn::MIGRATE == 0 {
            continue;
        }
        let Some(spage) = mpfn_page(s) else {
            continue;
        };
        // SAFETY: Never fails (`__GFP_NOFAIL`); returns a locked page.
        let dpage = unsafe { p2pmm_alloc_page_locked() };
        // SAFETY: `spage` is a selected device page whose backing page holds its data.
        unsafe { p2pmm_copy_page(dpage, p2pmm_devpage_backing(spage)) };
        dst[i] = mpfn_of(dpage, s & mpfn::WRITE != 0);
    }
    // SAFETY: `src`/`dst` were prepared by `migrate_device_range` and the loop above.
    unsafe {
        p2pmm_migrate_device_pages(
            src.as_mut_ptr().cast(),
            dst.as_mut_ptr().cast(),
            npages as c_ulong,
        );
        p2pmm_migrate_device_finalize(
            src.as_mut_ptr().cast(),
            dst.as_mut_ptr().cast(),
            npages as c_ulong,
        );
    }
    Ok(())
}
