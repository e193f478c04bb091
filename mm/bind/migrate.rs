// SPDX-License-Identifier: GPL-2.0

//! Moving pages between system memory and simulated device memory: `migrate_vma_*` (a range of a
//! process) and `migrate_device_*` (everything in a chunk, for eviction).
//!
//! A [`MigrateVma`] is one migration: `setup` isolates and unmaps the pages (core mm sends a
//! [`crate::notifier::Event::Migrate`] invalidation with our owner), the caller gives each selected
//! page a destination and copies it ([`MigrateVma::to_device`] / [`MigrateVma::to_ram`]),
//! [`MigrateVma::pages`] moves the mappings, and `finalize` (on drop at the latest) restores what
//! could not move and unlocks everything.
//!
//! Large folios: with `compound`, a PMD-sized folio is one entry flagged `MIGRATE_PFN_COMPOUND`
//! followed by 511 empty ones; it moves as one large folio when a large destination can be had,
//! else as 512 small pages.

use crate::dev_page::{DevPage, PMD_ORDER};
use crate::ffi::{
    p2pmm_alloc_page_locked, p2pmm_alloc_page_vma_locked, p2pmm_clear_page, p2pmm_copy_page,
    p2pmm_devpage_backing, p2pmm_migrate_alloc, p2pmm_migrate_device_finalize,
    p2pmm_migrate_device_pages, p2pmm_migrate_device_pfns, p2pmm_migrate_device_range,
    p2pmm_migrate_dst, p2pmm_migrate_free, p2pmm_migrate_select_compound,
    p2pmm_migrate_select_device_private, p2pmm_migrate_select_system, p2pmm_migrate_src,
    p2pmm_migrate_vma_finalize, p2pmm_migrate_vma_pages, p2pmm_migrate_vma_setup, p2pmm_nth_page,
    p2pmm_page_folio_order, p2pmm_page_to_pfn, p2pmm_pfn_to_page, p2pmm_unlock_free_pages,
};
use kernel::{
    error::to_result,
    ffi::{c_ulong, c_void},
    mm::{virt::flags as vm_flags, virt::VmaRef, MmWithUser},
    prelude::*,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// `MIGRATE_PFN_*` (include/linux/migrate.h; checked by a `static_assert` in mirror_glue.c).
mod mpfn {
    pub(super) const VALID: usize = 1 << 0;
    pub(super) const MIGRATE: usize = 1 << 1;
    pub(super) const WRITE: usize = 1 << 3;
    pub(super) const COMPOUND: usize = 1 << 4;
    pub(super) const SHIFT: u32 = 6;
}

fn mpfn_page(entry: usize) -> Option<*mut c_void> {
    if entry & mpfn::VALID == 0 {
        return None;
    }
    // SAFETY: A valid migrate entry encodes the PFN of a page with a `struct page`.
    Some(unsafe { p2pmm_pfn_to_page((entry >> mpfn::SHIFT) as c_ulong) })
}

/// The migrate entry of destination `page` for source entry `src`.
///
/// # Safety
///
/// `page` is a live `struct page`.
unsafe fn mpfn_of(page: *mut c_void, src: usize, large: bool) -> usize {
    // SAFETY: `page` is a live `struct page` (the caller's promise).
    let pfn = unsafe { p2pmm_page_to_pfn(page) } as usize;
    (pfn << mpfn::SHIFT)
        | mpfn::VALID
        | (src & mpfn::WRITE)
        | if large { mpfn::COMPOUND } else { 0 }
}

/// Copies `n` pages from `src` (or zeroes them when there is no source) into `dst`.
///
/// # Safety
///
/// `dst` and, if not null, `src` must be the first of `n` physically contiguous live pages the
/// caller may access.
unsafe fn copy_pages(dst: *mut c_void, src: Option<*mut c_void>, n: usize) {
    for j in 0..n {
        // SAFETY: Guaranteed by the caller: `j < n` stays within both ranges.
        unsafe {
            let d = p2pmm_nth_page(dst, j as c_ulong);
            match src {
                Some(s) => p2pmm_copy_page(d, p2pmm_nth_page(s, j as c_ulong)),
                None => p2pmm_clear_page(d),
            }
        }
    }
}

/// Which pages a migration selects.
///
/// # Examples
///
/// Each selection picks its pages of a range, here of three pages with page 1 on this device and
/// pages 0 and 2 in system memory; device pages of another owner are never picked.
/// [`MigrateVma::fill`] is offered each picked page, and giving none a destination moves nothing.
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(3 * PAGE_SIZE)?;
/// for i in 0..3u8 {
///     map.write(usize::from(i) * PAGE_SIZE, &[i + 1; 8])?;
/// }
/// let mm = map.mm()?;
/// let page1 = map.addr() + PAGE_SIZE;
/// for_each_vma_piece(&mm, page1, page1 + PAGE_SIZE, 1, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
///     m.to_device(|order| chunk.alloc(order))?;
///     m.pages();
///     m.finalize();
///     Ok(())
/// })?;
///
/// // The pages `select` picks for a migration of device `by`, as bits.
/// let picked = |select: Select, by: usize| -> Result<u32> {
///     let mut bits = 0;
///     for_each_vma_piece(&mm, map.addr(), map.end(), 3, |vma, a, b| {
///         let mut m = MigrateVma::setup(vma, a, b, by, select, false)?;
///         m.for_each_selected(|i| bits |= 1 << i);
///         Ok(())
///     })?;
///     Ok(bits)
/// };
/// assert_eq!(picked(Select::System, owner)?, 0b101);
/// assert_eq!(picked(Select::DevicePrivate, owner)?, 0b010);
/// assert_eq!(picked(Select::Any, owner)?, 0b111);
/// assert_eq!(picked(Select::DevicePrivate, 0)?, 0);
/// assert_eq!(picked(Select::Any, 0)?, 0b101);
///
/// // Nothing moved.
/// assert_eq!(chunk.used(), 1);
/// let mut data = [0u8; 8];
/// map.read(2 * PAGE_SIZE, &mut data)?;
/// assert_eq!(data, [3; 8]);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// System memory (and empty or zero-page entries): for a migration to the device.
    System,
    /// Device-private pages of the given owner: for a migration back to system memory.
    DevicePrivate,
    /// Both: for a migration to a device from wherever the pages are (system memory or another
    /// device).
    Any,
}

/// One `struct migrate_vma` migration of `[start, end)` within a single VMA.
///
/// # Invariants
///
/// `raw` is a `struct migrate_vma` allocated by `p2pmm_migrate_alloc(npages)` on which
/// `migrate_vma_setup` succeeded; it is finalized exactly once (`finalized`) before it is freed in
/// `drop`. `vma` stays valid (its mmap lock held) until then.
///
/// # Examples
///
/// Pages go to simulated device memory and come back with their data; meanwhile the CPU page tables
/// hold this device's private pages, and every move reaches notifiers as an [`Event::Migrate`]
/// invalidation naming the migration's owner.
///
/// [`Event::Migrate`]: crate::notifier::Event::Migrate
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     hmm::{fault_and_commit, HmmRange, PageKind, Request},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
///     notifier::{Event, IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // Counts the migration invalidations of a given owner.
/// struct Migrations(usize);
///
/// impl InvalidateHandler for Migrations {
///     type State = usize;
///
///     fn invalidate(&self, inv: &Invalidation<'_>, seen: &mut usize) {
///         if inv.event() == Event::Migrate && inv.owner() == self.0 {
///             *seen += 1;
///         }
///     }
/// }
///
/// // The device's memory is told apart by its owner: the address of a byte of ours.
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// for i in 0..4u8 {
///     map.write(usize::from(i) * PAGE_SIZE, &[0xa0 + i; 16])?;
/// }
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Migrations(owner), 0),
///     GFP_KERNEL,
/// )?;
///
/// let mut moved = 0;
/// for_each_vma_piece(&mm, map.addr(), map.end(), 4, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
///     m.to_device(|order| chunk.alloc(order))?;
///     m.pages();
///     moved += m.migrated();
///     m.finalize();
///     Ok(())
/// })?;
/// assert_eq!(moved, 4);
/// assert_eq!(chunk.used(), 4);
/// let to_device = *n.lock();
/// assert!(to_device > 0);
///
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), Request::SNAPSHOT, owner)?;
/// let on_device = fault_and_commit(&mut range, false, 16, |_, pfns| {
///     Ok(pfns
///         .iter()
///         .filter(|(_, p)| p.kind(owner) == PageKind::DevicePrivateLocal)
///         .count())
/// })?;
/// assert_eq!(on_device, 4);
///
/// let mut back = 0;
/// for_each_vma_piece(&mm, map.addr(), map.end(), 4, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::DevicePrivate, false)?;
///     m.to_ram(|| true)?;
///     m.pages();
///     back += m.migrated();
///     m.finalize();
///     Ok(())
/// })?;
/// assert_eq!(back, 4);
/// // The device pages went back to the chunk's free list (`folio_free`).
/// assert_eq!(chunk.used(), 0);
/// assert!(*n.lock() > to_device);
/// let mut data = [0u8; 16];
/// map.read(3 * PAGE_SIZE, &mut data)?;
/// assert_eq!(data, [0xa3; 16]);
/// # Ok::<(), Error>(())
/// ```
pub struct MigrateVma {
    raw: *mut c_void,
    npages: usize,
    start: usize,
    vma: *mut c_void,
    finalized: bool,
}

impl MigrateVma {
    /// Sets up the migration of `[start, end)` (page aligned, inside `vma`, whose mmap lock the
    /// caller holds through the `&VmaRef`). `owner` identifies this device's memory; `compound`
    /// selects large folios whole.
    pub fn setup(
        vma: &VmaRef,
        start: usize,
        end: usize,
        owner: usize,
        select: Select,
        compound: bool,
    ) -> Result<Self> {
        if start >= end
            || start % PAGE_SIZE != 0
            || end % PAGE_SIZE != 0
            || start < vma.start()
            || end > vma.end()
        {
            return Err(EINVAL);
        }
        // SAFETY: `vma` is a live VMA whose mmap lock is held for the lifetime of the `&VmaRef`; no
        // fault page.
        unsafe {
            Self::setup_raw(
                vma.as_ptr().cast(),
                start,
                end,
                owner,
                select,
                compound,
                core::ptr::null_mut(),
            )
        }
    }

    /// # Safety
    ///
    /// `vma` must be a live VMA whose mmap lock is held until the migration is finalized; `[start,
    /// end)` must be page aligned and inside it; `fault_page`, if not null, is the locked device
    /// page of a `migrate_to_ram`.
    pub(crate) unsafe fn setup_raw(
        vma: *mut c_void,
        start: usize,
        end: usize,
        owner: usize,
        select: Select,
        compound: bool,
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
            let f = match select {
                Select::System => p2pmm_migrate_select_system(),
                Select::DevicePrivate => p2pmm_migrate_select_device_private(),
                Select::Any => {
                    p2pmm_migrate_select_system() | p2pmm_migrate_select_device_private()
                }
            };
            if compound {
                f | p2pmm_migrate_select_compound()
            } else {
                f
            }
        };
        // SAFETY: `raw` has room for `npages` entries; the caller guarantees `vma`, the range and
        // `fault_page`.
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
        // SAFETY: By the type invariant `raw` has `npages` source entries, written by setup and
        // read-only after.
        unsafe {
            core::slice::from_raw_parts(p2pmm_migrate_src(self.raw).cast::<usize>(), self.npages)
        }
    }

    fn dst_mut(&mut self) -> &mut [usize] {
        // SAFETY: By the type invariant `raw` has `npages` destination entries, ours to fill before
        // `pages`.
        unsafe {
            core::slice::from_raw_parts_mut(
                p2pmm_migrate_dst(self.raw).cast::<usize>(),
                self.npages,
            )
        }
    }

    /// Gives every selected page a device page from `alloc(order)` and copies its data there (zero
    /// for an empty entry). A large entry that cannot get a large device page moves as small pages;
    /// `alloc` returning `None` for a small page leaves that page in system memory.
    pub fn to_device(&mut self, mut alloc: impl FnMut(u32) -> Result<Option<DevPage>>) -> Result {
        let fill = |_: &Self, _: usize, spage: Option<*mut c_void>, pages: usize| {
            let order = if pages > 1 { PMD_ORDER } else { 0 };
            let Some(dpage) = alloc(order)? else {
                return Ok(None);
            };
            // SAFETY: The source (page or folio) is isolated and locked by setup and, like the
            // device page's backing, has `pages` pages.
            unsafe { copy_pages(dpage.backing(), spage, pages) };
            Ok(Some(dpage.into_raw()))
        };
        // SAFETY: Each page `fill` returns is one the allocator just handed over (locked, one
        // reference, a 2 MiB folio's head for 512 pages), holding its source's data.
        unsafe { self.fill_sized(fill) }
    }

    /// Gives every selected device page new system memory (near the VMA; a large folio for a large
    /// device folio when `try_large()`, asked once per large folio, says so and the allocation
    /// succeeds, else small pages) and copies the data back. `ENOMEM` if a small allocation fails
    /// (everything allocated so far is released, `finalize` restores all).
    pub fn to_ram(&mut self, mut try_large: impl FnMut() -> bool) -> Result {
        let mut i = 0;
        while i < self.npages {
            let src = self.src()[i];
            let Some(spage) = mpfn_page(src).filter(|_| src & mpfn::MIGRATE != 0) else {
                i += 1;
                continue;
            };
            // SAFETY: `spage` is a device page selected (locked) by setup; its backing page holds
            // its data.
            let backing = unsafe { p2pmm_devpage_backing(spage) };
            // SAFETY: As above.
            let order = unsafe { p2pmm_page_folio_order(backing) };
            let nr = (1usize << order).min(self.npages - i);
            let addr = self.start + i * PAGE_SIZE;
            if order > 0 && try_large() {
                let (vma, at) = (self.vma, addr as c_ulong);
                // SAFETY: `vma` is live with its mmap lock held (type invariant).
                let dpage = unsafe { p2pmm_alloc_page_vma_locked(vma, at, order) };
                if !dpage.is_null() {
                    // SAFETY: Both folios have `nr` pages.
                    unsafe { copy_pages(dpage, Some(backing), nr) };
                    // SAFETY: A live page (see above).
                    self.dst_mut()[i] = unsafe { mpfn_of(dpage, src, true) };
                    i += nr;
                    continue;
                }
            }
            for j in 0..nr {
                // SAFETY: As above, for one page.
                let dpage = unsafe {
                    p2pmm_alloc_page_vma_locked(self.vma, (addr + j * PAGE_SIZE) as c_ulong, 0)
                };
                if dpage.is_null() {
                    self.release_destinations();
                    return Err(ENOMEM);
                }
                // SAFETY: Page `j` of the backing folio, one page each.
                unsafe { copy_pages(dpage, Some(p2pmm_nth_page(backing, j as c_ulong)), 1) };
                // SAFETY: A live page (see above).
                self.dst_mut()[i + j] = unsafe { mpfn_of(dpage, src, false) };
            }
            i += nr;
        }
        Ok(())
    }

    /// Frees every destination allocated so far: with empty destinations `finalize` restores every
    /// page.
    fn release_destinations(&mut self) {
        for d in self.dst_mut().iter_mut() {
            if let Some(page) = mpfn_page(*d) {
                let order = if *d & mpfn::COMPOUND != 0 {
                    PMD_ORDER
                } else {
                    0
                };
                // SAFETY: Allocated locked by `to_ram` and never handed to core mm.
                unsafe { p2pmm_unlock_free_pages(page, order) };
            }
            *d = 0;
        }
    }

    /// Calls `f` with the index of each selected small page, giving none a destination: they all
    /// stay where they are (e.g. to see what a selection picks).
    pub fn for_each_selected(&self, mut f: impl FnMut(usize)) {
        for i in 0..self.npages {
            if self.src()[i] & mpfn::MIGRATE != 0 {
                f(i);
            }
        }
    }

    /// Gives selected pages a destination chosen by `f`, which is called with the index of each
    /// selected small page and its source page (`None` for an empty entry: the destination must
    /// then be zeroed), and returns the destination page it filled (locked, with one reference,
    /// owned by the migration from then on) or `None` to leave the page where it is. For migrations
    /// set up without `compound` (core mm then splits large folios).
    ///
    /// # Safety
    ///
    /// Every page `f` returns is a live, locked page with one reference that the caller gives to
    /// the migration, not mapped anywhere, holding the data of its source (or zeroes): core mm maps
    /// it where the source was.
    pub unsafe fn fill(
        &mut self,
        mut f: impl FnMut(&Self, usize, Option<*mut c_void>) -> Result<Option<*mut c_void>>,
    ) -> Result {
        for i in 0..self.npages {
            let src = self.src()[i];
            if src & mpfn::MIGRATE == 0 {
                continue;
            }
            if let Some(dpage) = f(self, i, mpfn_page(src))? {
                // SAFETY: `f` returns live pages (the caller's promise).
                self.dst_mut()[i] = unsafe { mpfn_of(dpage, src, false) };
            }
        }
        Ok(())
    }

    /// As [`MigrateVma::fill`], for migrations set up with `compound`: `f(m, i, source, pages)` is
    /// offered each selected large folio whole first (`pages` is 512: `source` is its head page,
    /// or `None` for an empty PMD, and the page `f` returns must be the head of a 2 MiB folio
    /// holding all of its data), and, when it returns `None`, each of its pages alone (`pages` is
    /// 1, and core mm splits the folio); every small page is offered alone.
    ///
    /// # Safety
    ///
    /// As for [`MigrateVma::fill`]; a page returned for 512 pages is the head of a locked 2 MiB
    /// folio with one reference.
    pub unsafe fn fill_sized(
        &mut self,
        mut f: impl FnMut(&Self, usize, Option<*mut c_void>, usize) -> Result<Option<*mut c_void>>,
    ) -> Result {
        let large = 1usize << PMD_ORDER;
        let mut i = 0;
        while i < self.npages {
            let src = self.src()[i];
            if src & mpfn::MIGRATE == 0 {
                i += 1;
                continue;
            }
            let spage = mpfn_page(src);
            if src & mpfn::COMPOUND == 0 {
                if let Some(dpage) = f(self, i, spage, 1)? {
                    // SAFETY: `f` returns live pages (the caller's promise).
                    self.dst_mut()[i] = unsafe { mpfn_of(dpage, src, false) };
                }
                i += 1;
                continue;
            }
            let nr = large.min(self.npages - i);
            if nr == large {
                if let Some(dpage) = f(self, i, spage, large)? {
                    // SAFETY: `f` returns the head of a live large folio (the caller's promise).
                    self.dst_mut()[i] = unsafe { mpfn_of(dpage, src, true) };
                    i += nr;
                    continue;
                }
            }
            for j in 0..nr {
                // SAFETY: Page `j` of the isolated source folio (or nothing for an empty entry).
                let s = spage.map(|p| unsafe { p2pmm_nth_page(p, j as c_ulong) });
                if let Some(dpage) = f(self, i + j, s, 1)? {
                    // SAFETY: `f` returns live pages (the caller's promise).
                    self.dst_mut()[i + j] = unsafe { mpfn_of(dpage, src, false) };
                }
            }
            i += nr;
        }
        Ok(())
    }

    /// Whether entry `i` moved, after [`MigrateVma::pages`]: core mm keeps `MIGRATE_PFN_MIGRATE` on
    /// a page it moved and on a hole (nothing mapped yet, or the zero page) it filled with the new
    /// page, and clears it on everything else. A hole has no `MIGRATE_PFN_VALID`, so that flag says
    /// nothing here.
    pub fn moved(&self, i: usize) -> bool {
        self.src().get(i).is_some_and(|&e| e & mpfn::MIGRATE != 0)
    }

    /// The user address of entry `i`.
    pub fn addr(&self, i: usize) -> usize {
        self.start + i * PAGE_SIZE
    }

    /// A locked system page for entry `i`, allocated near the VMA (`None` when memory is short).
    pub fn alloc_system_page(&self, i: usize) -> Option<*mut c_void> {
        // SAFETY: `vma` is live with its mmap lock held (type invariant).
        let p = unsafe { p2pmm_alloc_page_vma_locked(self.vma, self.addr(i) as c_ulong, 0) };
        (!p.is_null()).then_some(p)
    }

    /// A locked 2 MiB system folio for the large entry `i`, allocated near the VMA (`None` when
    /// none can be had without reclaim).
    pub fn alloc_system_large(&self, i: usize) -> Option<*mut c_void> {
        // SAFETY: `vma` is live with its mmap lock held (type invariant).
        let p =
            unsafe { p2pmm_alloc_page_vma_locked(self.vma, self.addr(i) as c_ulong, PMD_ORDER) };
        (!p.is_null()).then_some(p)
    }

    /// Moves the mappings to the destinations (`migrate_vma_pages`).
    pub fn pages(&mut self) {
        // SAFETY: Set up and not finalized (type invariant); destinations filled.
        unsafe { p2pmm_migrate_vma_pages(self.raw) };
    }

    /// Pages that moved: selected and still valid after [`MigrateVma::pages`] (a large folio counts
    /// its pages).
    pub fn migrated(&self) -> usize {
        self.src()
            .iter()
            .filter(|&&e| e & mpfn::VALID != 0 && e & mpfn::MIGRATE != 0)
            .map(|&e| {
                if e & mpfn::COMPOUND != 0 {
                    1 << PMD_ORDER
                } else {
                    1
                }
            })
            .sum()
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

/// Evicts the device pages `pfns` (any order, each a small page of device-private memory the caller
/// owns) to system memory (`migrate_device_pfns`): `copy(device_page, system_page)` copies each
/// page that could be isolated. Pages that are free or busy are skipped. Returns how many pages
/// moved.
///
/// # Examples
///
/// A device page is evicted by its PFN alone, wherever it is mapped (here PFNs from a snapshot,
/// [`HmmPfn::pfn`]); a page that is busy, such as one a migration holds, or free is skipped, and
/// `copy` is not called for it. The example goes through `DevmemChunk::evict_pfns`, the safe form
/// for a chunk's own pages (the copy is the memory's own: `BarDevmem::evict` copies from its BAR).
///
/// [`HmmPfn::pfn`]: crate::hmm::HmmPfn::pfn
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     hmm::{fault_and_commit, HmmRange, PageKind, Request},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Mirror;
/// #
/// # impl InvalidateHandler for Mirror {
/// #     type State = ();
/// #
/// #     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// # }
/// #
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// map.write(0, b"first")?;
/// map.write(PAGE_SIZE, b"second")?;
/// let mm = map.mm()?;
/// // Both pages move to the device (as in `MigrateVma`'s example).
/// # for_each_vma_piece(&mm, map.addr(), map.end(), 2, |vma, a, b| {
/// #     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
/// #     m.to_device(|order| chunk.alloc(order))?;
/// #     m.pages();
/// #     m.finalize();
/// #     Ok(())
/// # })?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// // The PFN of each page that is on this device, from a snapshot.
/// let on_device = || -> Result<[Option<usize>; 2]> {
///     let mut range = HmmRange::new(&n, map.addr(), map.end(), Request::SNAPSHOT, owner)?;
///     fault_and_commit(&mut range, false, 16, |(), pfns| {
///         let mut out = [None; 2];
///         for (slot, (_, p)) in out.iter_mut().zip(pfns.iter()) {
///             if p.kind(owner) == PageKind::DevicePrivateLocal {
///                 *slot = p.pfn();
///             }
///         }
///         Ok(out)
///     })
/// };
/// let pfns = on_device()?;
/// let (page0, page1) = (pfns[0].ok_or(ENOENT)?, pfns[1].ok_or(ENOENT)?);
/// // Page 0 is busy while a migration back to system memory holds it.
/// for_each_vma_piece(&mm, map.addr(), map.addr() + PAGE_SIZE, 1, |vma, a, b| {
///     let _held = MigrateVma::setup(vma, a, b, owner, Select::DevicePrivate, false)?;
///     assert_eq!(chunk.evict_pfns(&[page0])?, 0);
///     Ok(())
/// })?; // The migration ends without a destination: page 0 stays on the device.
///
/// // The CPU reads page 1, which comes back to system memory: its device page is free.
/// let mut data = [0u8; 6];
/// map.read(PAGE_SIZE, &mut data)?;
/// assert_eq!(&data, b"second");
/// assert_eq!(chunk.evict_pfns(&[page1])?, 0);
/// assert_eq!(on_device()?, [Some(page0), None]);
/// # Ok::<(), Error>(())
/// ```
///
/// # Safety
///
/// Every PFN in `pfns` is a page of device-private memory the caller created and keeps alive for
/// the call, and `copy(device_page, system_page)` copies the data of the one into the other.
pub unsafe fn evict_pfns(
    pfns: &[usize],
    mut copy: impl FnMut(*mut c_void, *mut c_void),
) -> Result<usize> {
    let dest = |_: usize, spage: *mut c_void| {
        // SAFETY: Plain allocation; small ones never fail (`__GFP_NOFAIL`).
        let dpage = unsafe { p2pmm_alloc_page_locked(0) };
        copy(spage, dpage);
        Some(dpage)
    };
    // SAFETY: The caller's promise for `pfns`; each page `dest` returns was just allocated and
    // filled by `copy`.
    unsafe { evict_pfns_to(pfns, dest) }.map(|moved| moved.iter().filter(|&&m| m).count())
}

/// As [`evict_pfns`], with the destination chosen by `dest(i, device_page)`: a locked page holding
/// the data (system memory, or a page of another device's memory), or `None` to leave page `i`
/// where it is. Returns for each entry whether it moved.
///
/// # Examples
///
/// `dest` is offered each page that could be isolated, by its index in `pfns`, and gives it a
/// destination that holds its data, or `None` to leave it where it is. [`DevmemChunk::evict_pfns`],
/// used here, is this function with a `dest` that copies a chunk page to a new system page, for the
/// chunk's own PFNs only.
///
/// [`DevmemChunk::evict_pfns`]: crate::devmem::DevmemChunk::evict_pfns
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     hmm::{fault_and_commit, HmmRange, PageKind, Request},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Mirror;
/// #
/// # impl InvalidateHandler for Mirror {
/// #     type State = ();
/// #
/// #     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// # }
/// #
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// map.write(0, b"first")?;
/// map.write(PAGE_SIZE, b"second")?;
/// let mm = map.mm()?;
/// // Both pages move to the device (as in `MigrateVma`'s example).
/// # for_each_vma_piece(&mm, map.addr(), map.end(), 2, |vma, a, b| {
/// #     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
/// #     m.to_device(|order| chunk.alloc(order))?;
/// #     m.pages();
/// #     m.finalize();
/// #     Ok(())
/// # })?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// // The PFN of each page that is on this device, from a snapshot.
/// let on_device = || -> Result<[Option<usize>; 2]> {
///     let mut range = HmmRange::new(&n, map.addr(), map.end(), Request::SNAPSHOT, owner)?;
///     fault_and_commit(&mut range, false, 16, |(), pfns| {
///         let mut out = [None; 2];
///         for (slot, (_, p)) in out.iter_mut().zip(pfns.iter()) {
///             if p.kind(owner) == PageKind::DevicePrivateLocal {
///                 *slot = p.pfn();
///             }
///         }
///         Ok(out)
///     })
/// };
/// let pfns = on_device()?;
/// let (page0, page1) = (pfns[0].ok_or(ENOENT)?, pfns[1].ok_or(ENOENT)?);
/// assert_eq!(chunk.evict_pfns(&[page0])?, 1);
/// assert_eq!(on_device()?, [None, Some(page1)]);
/// let mut data = [0u8; 5];
/// map.read(0, &mut data)?;
/// assert_eq!(&data, b"first");
/// assert_eq!(chunk.used(), 1);
///
/// // Page 0's device page is free now, so only page 1 is offered; given no destination, it stays.
/// let mut offered = 0u32;
/// // Page 0's device page is free now: evicting both moves page 1 only.
/// assert_eq!(chunk.evict_pfns(&[page0, page1])?, 1);
/// assert_eq!(on_device()?, [None, None]);
/// # Ok::<(), Error>(())
/// ```
///
/// # Safety
///
/// Every PFN in `pfns` is a page of device-private memory the caller created and keeps alive for
/// the call, and every page `dest` returns is a live, locked page with one reference, not mapped
/// anywhere, holding the data of the device page it is offered for.
pub unsafe fn evict_pfns_to(
    pfns: &[usize],
    mut dest: impl FnMut(usize, *mut c_void) -> Option<*mut c_void>,
) -> Result<KVVec<bool>> {
    // SAFETY: The caller's promise; the pages hold their data as soon as `dest` returns them.
    unsafe { evict_pfns_with(pfns, &mut (), |(), i, page| dest(i, page), |()| {}) }
}

/// As [`evict_pfns_to`], with a `state` that `dest(state, i, device_page)` and then `before_pages`
/// share: `before_pages` runs after every destination is chosen and before core mm moves the
/// mappings, e.g. to do the copies `dest` collected all at once (`bar_devmem.rs`'s copy engine
/// batches).
///
/// # Safety
///
/// As for [`evict_pfns_to`], except that a page `dest` returns holds its data once `before_pages`
/// has returned.
pub unsafe fn evict_pfns_with<S>(
    pfns: &[usize],
    state: &mut S,
    mut dest: impl FnMut(&mut S, usize, *mut c_void) -> Option<*mut c_void>,
    before_pages: impl FnOnce(&mut S),
) -> Result<KVVec<bool>> {
    // SAFETY: The caller's promise; a small destination for a large folio leaves it in place.
    unsafe {
        evict_pfns_sized(
            pfns,
            state,
            |state, i, page, pages| {
                if pages == 1 {
                    dest(state, i, page)
                } else {
                    None
                }
            },
            before_pages,
        )
    }
}

/// As [`evict_pfns_with`], for device memory that holds 2 MiB folios: a large folio is evicted
/// whole, given as its head's PFN followed by the PFNs of its other 511 pages (in order), and
/// `dest(state, i, head, 512)` must return the head of a 2 MiB destination folio (or `None`: it
/// stays, core mm cannot split it here). Small pages are offered with `pages` 1. An entry of a
/// large folio that moved is reported moved with all of its pages.
///
/// # Safety
///
/// As for [`evict_pfns_with`]; a page returned for 512 pages is the head of a locked 2 MiB folio
/// with one reference, holding the data of the whole source folio.
pub unsafe fn evict_pfns_sized<S>(
    pfns: &[usize],
    state: &mut S,
    mut dest: impl FnMut(&mut S, usize, *mut c_void, usize) -> Option<*mut c_void>,
    before_pages: impl FnOnce(&mut S),
) -> Result<KVVec<bool>> {
    let n = pfns.len();
    let mut src = KVVec::<usize>::with_capacity(n, GFP_KERNEL)?;
    src.extend_from_slice(pfns, GFP_KERNEL)?;
    let mut dst = KVVec::<usize>::with_capacity(n, GFP_KERNEL)?;
    dst.resize(n, 0, GFP_KERNEL)?;
    // SAFETY: `src` holds `n` PFNs of device-private pages the caller owns (the caller's promise);
    // the call locks and unmaps those it can.
    to_result(unsafe { p2pmm_migrate_device_pfns(src.as_mut_ptr().cast(), n as c_ulong) })?;
    // Which entries are the heads of large folios, as `migrate_device_pfns` found them.
    let mut heads = KVVec::with_capacity(n, GFP_KERNEL)?;
    for &e in src.iter() {
        heads.push(e & mpfn::COMPOUND != 0, GFP_KERNEL)?;
    }
    for i in 0..n {
        let s = src[i];
        let Some(spage) = mpfn_page(s).filter(|_| s & mpfn::MIGRATE != 0) else {
            continue;
        };
        let large = heads[i];
        let pages = if large { 1 << PMD_ORDER } else { 1 };
        if let Some(dpage) = dest(state, i, spage, pages) {
            // SAFETY: `dest` returns live pages, large ones for large folios (the caller's
            // promise).
            dst[i] = unsafe { mpfn_of(dpage, s, large) };
        }
    }
    before_pages(state);
    // SAFETY: `src`/`dst` were prepared by `migrate_device_pfns` and the loop above.
    unsafe {
        p2pmm_migrate_device_pages(
            src.as_mut_ptr().cast(),
            dst.as_mut_ptr().cast(),
            n as c_ulong,
        );
        p2pmm_migrate_device_finalize(
            src.as_mut_ptr().cast(),
            dst.as_mut_ptr().cast(),
            n as c_ulong,
        );
    }
    let mut moved = KVVec::with_capacity(n, GFP_KERNEL)?;
    let mut rest_of_large = 0usize;
    for (&e, &head) in src.iter().zip(heads.iter()) {
        // The other pages of a large folio have empty entries: they share their head's fate.
        if rest_of_large > 0 {
            rest_of_large -= 1;
            let head_moved = moved.last().copied().unwrap_or(false);
            moved.push(head_moved, GFP_KERNEL)?;
            continue;
        }
        if head {
            rest_of_large = (1 << PMD_ORDER) - 1;
        }
        moved.push(e & mpfn::VALID != 0 && e & mpfn::MIGRATE != 0, GFP_KERNEL)?;
    }
    Ok(moved)
}

/// Evicts every used page of the device PFN range `[first_pfn, first_pfn + npages)` to system
/// memory (`migrate_device_range`), e.g. before the memory goes away. A large folio that cannot get
/// a large system folio stays (core mm cannot split it here) and `EBUSY` is returned.
///
/// # Safety
///
/// `[first_pfn, first_pfn + npages)` is device-private memory the caller created and keeps alive
/// for the call.
pub unsafe fn evict_range(first_pfn: usize, npages: usize) -> Result {
    let mut src = KVVec::<usize>::with_capacity(npages, GFP_KERNEL)?;
    src.resize(npages, 0, GFP_KERNEL)?;
    let mut dst = KVVec::<usize>::with_capacity(npages, GFP_KERNEL)?;
    dst.resize(npages, 0, GFP_KERNEL)?;
    // SAFETY: `src` has `npages` entries; the PFNs belong to device memory the caller owns (its
    // promise).
    to_result(unsafe {
        p2pmm_migrate_device_range(
            src.as_mut_ptr().cast(),
            first_pfn as c_ulong,
            npages as c_ulong,
        )
    })?;
    let mut stuck = false;
    for i in 0..npages {
        let s = src[i];
        let Some(spage) = mpfn_page(s).filter(|_| s & mpfn::MIGRATE != 0) else {
            continue;
        };
        // SAFETY: `spage` is a selected device page whose backing page holds its data.
        let backing = unsafe { p2pmm_devpage_backing(spage) };
        // SAFETY: As above.
        let order = unsafe { p2pmm_page_folio_order(backing) };
        // SAFETY: Plain allocation; small ones never fail (`__GFP_NOFAIL`).
        let dpage = unsafe { p2pmm_alloc_page_locked(order) };
        if dpage.is_null() {
            stuck = true;
            continue;
        }
        // SAFETY: Both folios have `1 << order` pages.
        unsafe { copy_pages(dpage, Some(backing), 1 << order) };
        // SAFETY: A page just allocated (checked non-null above).
        dst[i] = unsafe { mpfn_of(dpage, s, order > 0) };
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
    if stuck {
        return Err(EBUSY);
    }
    Ok(())
}

/// Calls `step(vma, a, b)` for consecutive pieces `[a, b)` of `[start, end)`, each inside one VMA
/// and at most `chunk_pages` long, under the mmap read lock. `EINVAL` where the range has a hole or
/// an unreadable VMA.
///
/// # Examples
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// let map = TestMapping::anonymous(5 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let mut pieces = KVec::new();
/// for_each_vma_piece(&mm, map.addr(), map.end(), 2, |vma, a, b| {
///     assert!(vma.start() <= a && b <= vma.end());
///     // A migration cannot leave its VMA, nor start mid-page.
///     let beyond = MigrateVma::setup(vma, a, vma.end() + PAGE_SIZE, 0, Select::System, false);
///     assert_eq!(beyond.err(), Some(EINVAL));
///     let unaligned = MigrateVma::setup(vma, a + 1, b, 0, Select::System, false);
///     assert_eq!(unaligned.err(), Some(EINVAL));
///     pieces.push(((a - map.addr()) / PAGE_SIZE, (b - map.addr()) / PAGE_SIZE), GFP_KERNEL)?;
///     Ok(())
/// })?;
/// assert_eq!(&pieces[..], &[(0, 2), (2, 4), (4, 5)]);
///
/// // Past the end of the mapping there is a hole.
/// let past = for_each_vma_piece(&mm, map.addr(), map.end() + PAGE_SIZE, 8, |_, _, _| Ok(()));
/// assert_eq!(past, Err(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub fn for_each_vma_piece(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    chunk_pages: usize,
    step: impl FnMut(&VmaRef, usize, usize) -> Result,
) -> Result {
    walk_vma_pieces(mm, start, end, chunk_pages, EINVAL, false, step)
}

/// As [`for_each_vma_piece`], but a hole is `ENOMEM`, madvise(2)'s errno for an unmapped range
/// and p2pmm's uAPI's: a range checked as mapped can lose a piece to a concurrent munmap before the
/// walk takes the mmap lock, and that is still "not mapped", not an invalid request.
pub fn for_each_mapped_piece(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    chunk_pages: usize,
    step: impl FnMut(&VmaRef, usize, usize) -> Result,
) -> Result {
    walk_vma_pieces(mm, start, end, chunk_pages, ENOMEM, false, step)
}

/// As [`for_each_mapped_piece`], with pieces that end on multiples of `chunk_pages` pages (a power
/// of two), so that the pieces of an aligned range are aligned: a 2 MiB folio is never cut in two.
pub fn for_each_mapped_aligned_piece(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    chunk_pages: usize,
    step: impl FnMut(&VmaRef, usize, usize) -> Result,
) -> Result {
    walk_vma_pieces(mm, start, end, chunk_pages, ENOMEM, true, step)
}

fn walk_vma_pieces(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    chunk_pages: usize,
    hole: Error,
    aligned: bool,
    mut step: impl FnMut(&VmaRef, usize, usize) -> Result,
) -> Result {
    let mmap = mm.mmap_read_lock();
    let chunk = chunk_pages * PAGE_SIZE;
    let mut addr = start;
    while addr < end {
        let vma = mmap.vma_lookup(addr).ok_or(hole)?;
        if vma.flags() & vm_flags::READ == 0 {
            return Err(EINVAL);
        }
        let piece_end = if aligned {
            (addr + chunk) & !(chunk - 1)
        } else {
            addr + chunk
        };
        let next = end.min(piece_end).min(vma.end());
        step(vma, addr, next)?;
        addr = next;
    }
    Ok(())
}
