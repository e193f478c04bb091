// SPDX-License-Identifier: GPL-2.0

//! Simulated device-private memory: `ZONE_DEVICE` pages (`MEMORY_DEVICE_PRIVATE`, `memremap_pages`)
//! whose data lives in one system page each, as `lib/test_hmm.c` simulates a device.
//!
//! A [`DevmemChunk`] is one `struct dev_pagemap` over a free physical range, with a free list of
//! its pages. Core mm calls back when a page's last reference goes (`folio_free`: the page returns
//! to the free list) and when the CPU touches a page (`migrate_to_ram`: the page migrates back to
//! system memory, see `migrate.rs`). Dropping a chunk first evicts every page still in use, then
//! unmaps the memory.
//!
//! Lock order: mmap lock -> page lock -> the chunk's free-list spinlock (taken from `folio_free`,
//! any context).

use crate::ffi::{
    p2pmm_alloc_backing, p2pmm_alloc_page_locked, p2pmm_copy_page, p2pmm_devmem_add,
    p2pmm_devmem_remove, p2pmm_devmem_split_backing, p2pmm_devpage_backing, p2pmm_devpage_clear,
    p2pmm_devpage_init, p2pmm_folio_page, p2pmm_free_pages, p2pmm_page_folio_order,
    p2pmm_page_pgmap, p2pmm_page_to_pfn, p2pmm_pfn_to_page, p2pmm_vm_fault_oom,
    p2pmm_vm_fault_sigbus, p2pmm_vmf_address, p2pmm_vmf_has_pte, p2pmm_vmf_page, p2pmm_vmf_vma,
};
use crate::lock_class::lock_class;
use crate::migrate::{evict_pfns_to, evict_range, MigrateVma, Select};
// The device pages a chunk hands out are `dev_page.rs`'s (shared with `migrate.rs` without an
// import circle); named here too, where their users look for them.
pub use crate::dev_page::{DevPage, PMD_ORDER};
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_ulong, c_void},
    prelude::*,
    sync::{Arc, SpinLock},
    types::Opaque,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// What a chunk's driver decides when the CPU touches one of its large folios (`migrate_to_ram`).
///
/// A driver may want such a folio back as small pages rather than one large system folio: under
/// memory pressure, or (the mirror's `HMM_DMIRROR_FLAG_FAIL_ALLOC`) to exercise core mm's fallback.
/// The driver keeps that state; the binding only asks.
///
/// # Examples
///
/// ```
/// use crate::devmem::FaultPolicy;
/// use kernel::sync::Arc;
///
/// /// Always brings large folios back whole.
/// struct Whole;
/// impl FaultPolicy for Whole {
///     fn large_system_folio(&self) -> bool {
///         true
///     }
/// }
/// let policy: Arc<dyn FaultPolicy> = Arc::new(Whole, GFP_KERNEL)?;
/// assert!(policy.large_system_folio());
/// # Ok::<(), Error>(())
/// ```
pub trait FaultPolicy: Send + Sync {
    /// Whether a large folio touched by the CPU may come back as one large system folio now;
    /// `false` brings it back as small pages (core mm splits the device folio).
    fn large_system_folio(&self) -> bool;
}

/// The [`FaultPolicy`] of a driver that always takes large system folios when it can.
pub struct WholeFolios;

impl WholeFolios {
    /// The policy, to hand to [`DevmemChunk::new`].
    pub fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self, GFP_KERNEL)?)
    }
}

impl FaultPolicy for WholeFolios {
    fn large_system_folio(&self) -> bool {
        true
    }
}

/// Size of one chunk of device memory (a power of two, so `memremap_pages` alignment is met).
pub const CHUNK_SIZE: usize = 64 << 20;
const CHUNK_PAGES: usize = CHUNK_SIZE / PAGE_SIZE;

const PMD_PAGES: usize = 1 << PMD_ORDER;

/// Free pages of a chunk, by size.
struct FreeLists {
    /// PFNs of free small pages (capacity for every page of the chunk: large folios may be split).
    small: KVec<usize>,
    /// Head PFNs of free PMD-sized folios.
    large: KVec<usize>,
}

/// A system folio that will hold the data of a device folio ([`DevmemChunk::take`]).
///
/// # Invariants
///
/// `page` heads a folio of `order` allocated by `p2pmm_alloc_backing` and owned by this value.
///
/// # Examples
///
/// A chunk without a free folio of the backing's size hands the backing back, for the next chunk to
/// try.
///
/// ```
/// use crate::devmem::{Backing, DevmemChunk, WholeFolios};
///
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// // A chunk handed out as PMD-sized folios has no small pages.
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, true, WholeFolios::new()?), GFP_KERNEL)?;
/// let backing = Backing::new(0).ok_or(ENOMEM)?;
/// let refused = chunk.take(backing).is_err();
/// assert!(refused);
/// assert_eq!(chunk.used(), 0);
/// # Ok::<(), Error>(())
/// ```
pub struct Backing {
    page: *mut c_void,
    order: u32,
}

impl Backing {
    /// A new backing folio of `order`; `None` when memory is short.
    pub fn new(order: u32) -> Option<Self> {
        // SAFETY: Plain allocation.
        let page = unsafe { p2pmm_alloc_backing(order) };
        // INVARIANT: a folio of `order`, ours.
        (!page.is_null()).then_some(Self { page, order })
    }
}

impl Drop for Backing {
    fn drop(&mut self) {
        // SAFETY: Allocated by `p2pmm_alloc_backing` with this order and never handed out (type
        // invariant).
        unsafe { p2pmm_free_pages(self.page, self.order) };
    }
}

/// One chunk of simulated device-private memory.
///
/// # Invariants
///
/// From the end of initialisation until `drop`, `pgmap` is a `memremap_pages`-ed
/// `MEMORY_DEVICE_PRIVATE` pagemap of `CHUNK_PAGES` pages from `first_pfn`, with `Self::OPS` and
/// owner `owner`; `free` holds the PFNs of its free folios, and each list has capacity for all of
/// them (so `folio_free` never allocates).
///
/// # Examples
///
/// Pages migrated into a chunk come back when the CPU touches them (`migrate_to_ram`), and dropping
/// the chunk evicts the ones still there, data intact.
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
/// assert_eq!((chunk.owner(), chunk.used()), (owner, 0));
///
/// let map = TestMapping::anonymous(3 * PAGE_SIZE)?;
/// for i in 0..3u8 {
///     map.write(usize::from(i) * PAGE_SIZE, &[i + 1; 8])?;
/// }
/// let mm = map.mm()?;
/// for_each_vma_piece(&mm, map.addr(), map.end(), 3, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
///     m.to_device(|order| chunk.alloc(order))?;
///     m.pages();
///     m.finalize();
///     Ok(())
/// })?;
/// assert_eq!(chunk.used(), 3);
///
/// // The CPU reads page 1: it migrates back, and its device page is free again.
/// let mut data = [0u8; 8];
/// map.read(PAGE_SIZE, &mut data)?;
/// assert_eq!(data, [2; 8]);
/// assert_eq!(chunk.used(), 2);
///
/// // Dropping the chunk moves pages 0 and 2 back to system memory before the device memory goes.
/// drop(chunk);
/// map.read(0, &mut data)?;
/// assert_eq!(data, [1; 8]);
/// map.read(2 * PAGE_SIZE, &mut data)?;
/// assert_eq!(data, [3; 8]);
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct DevmemChunk {
    #[pin]
    pgmap: Opaque<bindings::dev_pagemap>,
    #[pin]
    free: SpinLock<FreeLists>,
    first_pfn: usize,
    owner: usize,
    policy: Arc<dyn FaultPolicy>,
}

// SAFETY: The pagemap is only changed by core mm; the free list is behind a spinlock.
unsafe impl Send for DevmemChunk {}
// SAFETY: See `Send`.
unsafe impl Sync for DevmemChunk {}

impl DevmemChunk {
    const OPS: bindings::dev_pagemap_ops = bindings::dev_pagemap_ops {
        folio_free: Some(Self::folio_free_callback),
        migrate_to_ram: Some(Self::migrate_to_ram_callback),
        memory_failure: None,
        folio_split: Some(Self::folio_split_callback),
    };

    /// Maps a new chunk of device memory owned by `owner` (an address used as identity, the
    /// `pgmap_owner`), handed out as PMD-sized folios if `large`, else as small pages. `policy`
    /// decides how large folios come back to system memory on a CPU fault.
    pub fn new(
        owner: usize,
        large: bool,
        policy: Arc<dyn FaultPolicy>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            pgmap: Opaque::uninit(),
            free <- {
                let (name, key) = lock_class!("p2pmm_devmem_free");
                SpinLock::new(FreeLists { small: KVec::new(), large: KVec::new() }, name, key)
            },
            first_pfn: 0,
            owner,
            policy,
            _: {
                // SAFETY: `this` is pinned and all fields are initialised; callbacks may run once
                // the pagemap exists, and the free list must then be ready: it is filled below
                // before any page is handed out.
                let me = unsafe { &mut *this.as_ptr() };
                let mut first: c_ulong = 0;
                // SAFETY: `pgmap` is ours and stays pinned; `Self::OPS` is a constant.
                to_result(unsafe {
                    p2pmm_devmem_add(
                        me.pgmap.get().cast(),
                        CHUNK_SIZE as c_ulong,
                        core::ptr::from_ref(&Self::OPS).cast(),
                        me.owner as *mut c_void,
                        &mut first,
                    )
                })?;
                me.first_pfn = first as usize;
                // Fill the free list outside its lock (allocating under a spinlock may not sleep),
                // then publish it.
                let filled = (|| -> Result {
                    let mut small = KVec::with_capacity(CHUNK_PAGES, GFP_KERNEL)?;
                    let mut heads = KVec::with_capacity(CHUNK_PAGES / PMD_PAGES, GFP_KERNEL)?;
                    if large {
                        for i in (0..CHUNK_PAGES / PMD_PAGES).rev() {
                            heads.push(me.first_pfn + i * PMD_PAGES, GFP_KERNEL)?;
                        }
                    } else {
                        for i in (0..CHUNK_PAGES).rev() {
                            small.push(me.first_pfn + i, GFP_KERNEL)?;
                        }
                    }
                    *me.free.lock() = FreeLists {
                        small,
                        large: heads,
                    };
                    Ok(())
                })();
                if let Err(e) = filled {
                    // SAFETY: Mapped above, no page handed out yet.
                    unsafe { p2pmm_devmem_remove(me.pgmap.get().cast()) };
                    return Err(e);
                }
            },
        })
    }

    /// The owner identity of this memory.
    pub fn owner(&self) -> usize {
        self.owner
    }

    /// Takes a free device folio of `order` (0 or [`PMD_ORDER`]) and gives it a backing folio;
    /// `None` when the chunk has none of that size (or, for a large folio, when no large backing
    /// folio can be had).
    pub fn alloc(&self, order: u32) -> Result<Option<DevPage>> {
        let Some(backing) = Backing::new(order) else {
            return if order > 0 { Ok(None) } else { Err(ENOMEM) };
        };
        Ok(self.take(backing).ok())
    }

    /// Takes a free device folio of `backing`'s order and gives it `backing` to hold its data;
    /// hands `backing` back when the chunk has no free folio of that size, so a caller trying
    /// several chunks allocates the backing memory once.
    pub fn take(&self, backing: Backing) -> Result<DevPage, Backing> {
        let order = backing.order;
        let pfn = {
            let mut free = self.free.lock();
            if order > 0 {
                free.large.pop()
            } else {
                free.small.pop()
            }
        };
        let Some(pfn) = pfn else {
            return Err(backing);
        };
        // SAFETY: `pfn` heads a free folio of this size in this chunk (type invariant): no user.
        let page = unsafe { p2pmm_pfn_to_page(pfn as c_ulong) };
        // The device folio owns the backing folio from here on (`folio_free` frees it).
        let backing = core::mem::ManuallyDrop::new(backing);
        // SAFETY: As above; initialising sets its refcount to 1 and records the backing folio of
        // the same order.
        unsafe { p2pmm_devpage_init(page, backing.page, order) };
        // SAFETY: Initialised with its backing folio of the same order, just above.
        Ok(unsafe { DevPage::from_raw(page) })
    }

    /// Number of pages in use.
    pub fn used(&self) -> usize {
        let free = self.free.lock();
        CHUNK_PAGES - free.small.len() - free.large.len() * PMD_PAGES
    }

    /// Migrates every page in use back to system memory.
    pub fn evict(&self) -> Result {
        // SAFETY: The chunk's own pages, alive while `self` is.
        unsafe { evict_range(self.first_pfn, CHUNK_PAGES) }
    }

    /// Migrates the small pages of this chunk at `pfns` (device PFNs, e.g. from
    /// [`crate::hmm::HmmPfn::pfn`]) back to system memory with their data ([`evict_pfns_to`]);
    /// other PFNs, and pages that are free, busy or large, stay. Returns how many moved.
    pub fn evict_pfns(&self, pfns: &[usize]) -> Result<usize> {
        let mut mine = KVec::with_capacity(pfns.len(), GFP_KERNEL)?;
        for &pfn in pfns {
            if pfn.wrapping_sub(self.first_pfn) < CHUNK_PAGES {
                mine.push(pfn, GFP_KERNEL)?;
            }
        }
        let dest_of = |_: usize, dev: *mut c_void| {
            // SAFETY: `dev` is a page of this chunk that the eviction isolated (locked, with a
            // reference), so its backing page, if any, is live.
            let backing = unsafe { p2pmm_devpage_backing(dev) };
            // SAFETY: As above.
            if backing.is_null() || unsafe { p2pmm_page_folio_order(backing) } != 0 {
                return None;
            }
            // SAFETY: Plain allocation.
            let sys = unsafe { p2pmm_alloc_page_locked(0) };
            if sys.is_null() {
                return None;
            }
            // SAFETY: `sys` is a new locked system page and `backing` a live small page (see
            // above).
            unsafe { p2pmm_copy_page(sys, backing) };
            Some(sys)
        };
        // SAFETY: `mine` holds only this chunk's PFNs, alive while `self` is; each page `dest_of`
        // returns is a new locked system page holding the device page's data.
        let moved = unsafe { evict_pfns_to(&mine, dest_of) }?;
        Ok(moved.iter().filter(|&&m| m).count())
    }

    /// The chunk a device page of ours belongs to.
    ///
    /// # Safety
    ///
    /// `page` must be a page of a live `DevmemChunk`.
    unsafe fn of_page<'a>(page: *mut c_void) -> &'a Self {
        // SAFETY: The caller guarantees `page` is ours, so its pgmap is the `pgmap` field of a live
        // `Self`.
        unsafe {
            let pgmap = p2pmm_page_pgmap(page).cast::<Opaque<bindings::dev_pagemap>>();
            &*kernel::container_of!(pgmap, Self, pgmap)
        }
    }

    /// `folio_free`: the last reference to a device page went away.
    ///
    /// # Safety
    ///
    /// Called by core mm only, for a folio of a pagemap with `Self::OPS`.
    unsafe extern "C" fn folio_free_callback(folio: *mut bindings::folio) {
        // SAFETY: Core mm passes a live folio of one of our pagemaps.
        let page = unsafe { p2pmm_folio_page(folio.cast()) };
        // SAFETY: As above.
        let chunk = unsafe { Self::of_page(page) };
        // SAFETY: The folio is ours and unused; its backing folio (of the same order, split along
        // with it) was allocated by `alloc`.
        let order = unsafe {
            let backing = p2pmm_devpage_backing(page);
            let mut order = 0;
            if !backing.is_null() {
                order = p2pmm_page_folio_order(backing);
                p2pmm_free_pages(backing, order);
            }
            p2pmm_devpage_clear(page);
            order
        };
        // SAFETY: The page has no user any more.
        let pfn = unsafe { p2pmm_page_to_pfn(page) } as usize;
        // Capacity for every folio is reserved (type invariant): these pushes never allocate.
        let mut free = chunk.free.lock();
        let _ = if order > 0 {
            free.large.push(pfn, GFP_ATOMIC)
        } else {
            free.small.push(pfn, GFP_ATOMIC)
        };
    }

    /// `migrate_to_ram`: the CPU touched a device page; move it back to system memory.
    ///
    /// # Safety
    ///
    /// Called by core mm only, with a valid `vmf` whose page belongs to a pagemap with `Self::OPS`.
    unsafe extern "C" fn migrate_to_ram_callback(
        vmf: *mut bindings::vm_fault,
    ) -> bindings::vm_fault_t {
        let vmf = vmf.cast::<c_void>();
        // SAFETY: Core mm passes a valid fault on our page, holding the mmap (or VMA) lock and page
        // lock meanwhile.
        unsafe {
            let page = p2pmm_vmf_page(vmf);
            let vma = p2pmm_vmf_vma(vmf);
            let chunk = Self::of_page(page);
            // A PMD-mapped large folio moves whole; once split into PTEs, only the touched page.
            let order = if p2pmm_vmf_has_pte(vmf) {
                0
            } else {
                p2pmm_page_folio_order(page)
            };
            let size = PAGE_SIZE << order;
            let start = p2pmm_vmf_address(vmf) as usize & !(size - 1);
            let Ok(mut m) = MigrateVma::setup_raw(
                vma,
                start,
                start + size,
                chunk.owner,
                Select::DevicePrivate,
                order > 0,
                page,
            ) else {
                return p2pmm_vm_fault_sigbus();
            };
            if m.to_ram(|| chunk.policy.large_system_folio()).is_err() {
                return p2pmm_vm_fault_oom();
            }
            m.pages();
            m.finalize();
        }
        0
    }
}

impl DevmemChunk {
    /// `folio_split`: core mm splits one of our large folios; split its backing folio alike.
    ///
    /// # Safety
    ///
    /// Called by core mm only, for folios of a pagemap with `Self::OPS` (`tail` null for the final
    /// call).
    unsafe extern "C" fn folio_split_callback(
        head: *mut bindings::folio,
        tail: *mut bindings::folio,
    ) {
        // SAFETY: Core mm passes our folio being split; the glue follows lib/test_hmm.c's
        // bookkeeping.
        unsafe { p2pmm_devmem_split_backing(head.cast(), tail.cast()) };
    }
}

#[pinned_drop]
impl PinnedDrop for DevmemChunk {
    fn drop(self: Pin<&mut Self>) {
        // Every page must be back in system memory before the pagemap goes: `memunmap_pages` waits
        // for them.
        if self.evict().is_err() {
            pr_err!("p2pmm: evicting device memory failed; pages stay in use\n");
        }
        // SAFETY: Mapped since initialisation (type invariant); no page is in use after the
        // eviction.
        unsafe { p2pmm_devmem_remove(self.pgmap.get().cast()) };
    }
}
