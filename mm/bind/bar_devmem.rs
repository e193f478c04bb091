// SPDX-License-Identifier: GPL-2.0

//! Device-private memory whose data lives in a PCI BAR window: the memory of a managed provider.
//!
//! A [`BarDevmem`] is one `MEMORY_DEVICE_PRIVATE` pagemap (`memremap_pages`) of `npages` pages;
//! page `i` of it, a *slot*, keeps its data at offset `i * PAGE_SIZE` of the BAR window. The CPU
//! cannot map device-private pages: when it touches one, core mm calls `migrate_to_ram` and the
//! page moves back to system memory, and every other importer of the address is invalidated by core
//! mm (`MMU_NOTIFY_MIGRATE`) and re-faults.
//!
//! Which slots are free is the owner's business (p2pmm's eviction policy): this type turns slots
//! into pages and moves data, and tells the owner through [`SlotHandler`] when a slot's page is
//! gone.
//!
//! Pages that move between two such memories are copied BAR to BAR by a copy engine when one is
//! lent to either ([`BarDevmem::engine`], `copy_engine.rs`), else by the CPU.
//!
//! Lock order: mmap lock -> page lock -> the handler's lock (taken in [`SlotHandler::slot_freed`],
//! any context) or the engine slot's mutex (`copy_engine.rs`).

use crate::copy_engine::{Batch, EngineSlot};
use crate::dev_page::PMD_ORDER;
use crate::ffi::{
    p2pmm_alloc_page_locked, p2pmm_bar_copy_bar, p2pmm_bar_copy_from_page, p2pmm_bar_copy_to_page,
    p2pmm_bar_map, p2pmm_bar_unmap, p2pmm_bar_zero, p2pmm_devmem_add, p2pmm_devmem_remove,
    p2pmm_devpage_folio, p2pmm_devpage_init, p2pmm_folio_page, p2pmm_kaddr_page, p2pmm_nth_page,
    p2pmm_p2p_window_alloc, p2pmm_p2p_window_free, p2pmm_page_folio_order, p2pmm_page_pgmap,
    p2pmm_page_to_pfn, p2pmm_pfn_to_page, p2pmm_vm_fault_oom, p2pmm_vm_fault_sigbus,
    p2pmm_vmf_address, p2pmm_vmf_page, p2pmm_vmf_vma,
};
use crate::managed_dmabuf::{BufferGate, BufferMemory};
use crate::migrate::{evict_pfns_sized, MigrateVma, Select};
use crate::pci_p2p;
use kernel::{
    bindings, device,
    error::to_result,
    ffi::{c_int, c_ulong, c_void},
    mm::virt::VmaRef,
    pci,
    prelude::*,
    sync::aref::ARef,
    time::{delay::fsleep, Delta},
    types::Opaque,
    uaccess::UserPtr,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// What the owner of a [`BarDevmem`] learns about its slots.
///
/// # Examples
///
/// An owner counting the slots that come back and the pages that move out; `slot_freed` may run in
/// any context, so the handler only touches atomics (compile-only, as for [`BarDevmem`]: it needs a
/// bound device with a BAR).
///
/// ```no_run
/// use crate::bar_devmem::{BarDevmem, SlotHandler};
/// use kernel::{
///     mm::virt::VmaRef,
///     sync::atomic::{ordering, Atomic},
/// };
///
/// struct Counts {
///     freed: Atomic<usize>,
///     moved_out: Atomic<usize>,
/// }
///
/// impl SlotHandler for Counts {
///     fn slot_freed(&self, _slot: u32) {
///         self.freed.fetch_add(1, ordering::Relaxed);
///     }
///
///     fn moved_out(&self, _slot: u32) {
///         self.moved_out.fetch_add(1, ordering::Relaxed);
///     }
/// }
///
/// // Moving `[start, end)` of a process back to system memory: the owner hears of every page that
/// // moves.
/// fn to_system(
///     mem: &BarDevmem<Counts>,
///     vma: &VmaRef,
///     start: usize,
///     end: usize,
///     owner: usize,
/// ) -> Result {
///     let before = mem.handler().moved_out.load(ordering::Relaxed);
///     let moved = BarDevmem::migrate_out(vma, start, end, owner, &[mem])?;
///     assert_eq!(mem.handler().moved_out.load(ordering::Relaxed) - before, moved);
///     Ok(())
/// }
/// # Ok::<(), Error>(())
/// ```
pub trait SlotHandler: Send + Sync + Sized {
    /// The page of `slot` lost its last reference (it moved out, its process unmapped it, or a
    /// migration into it failed): the slot is free again. Called from any context: must not sleep.
    fn slot_freed(&self, slot: u32);

    /// The page of `slot` moved elsewhere (system memory or another device; its `slot_freed`
    /// follows).
    fn moved_out(&self, _slot: u32) {}

    /// How many pages a CPU fault brings back to system memory: the touched page and its neighbours
    /// in the naturally aligned window of this many pages (a power of two, at most
    /// [`MAX_FAULT_AROUND`]), as far as they are in the same VMA and on this memory. 1, the
    /// default, moves the touched page only.
    fn fault_around_pages(&self) -> usize {
        1
    }

    /// Whether the page of `slot`, a neighbour of a page the CPU touched, may come back with it
    /// (e.g. not if it is pinned to the device). The touched page itself always moves.
    fn may_come_back_with_neighbour(&self, _slot: u32) -> bool {
        true
    }

    /// Pages were copied into this memory from another device memory: `by_engine` by a copy
    /// engine, `by_cpu` by the CPU.
    fn copied(&self, _by_engine: usize, _by_cpu: usize) {}

    /// A device maps the page of `slot` and asks that it stay: the memory's own eviction must not
    /// pick it until [`Self::release`] (moves the process makes, and the memory's removal, still
    /// take it, after invalidating the mapping). Called with the page in the slot and locked in
    /// place (under a mirror's notifier lock); must not sleep. `EBUSY` if the page is being
    /// evicted already. The default holds nothing.
    fn hold(&self, _slot: u32) -> Result {
        Ok(())
    }

    /// Ends a [`Self::hold`] of `slot`, while its page is still in the slot (before the
    /// invalidation that took the mapping away lets the page move). Must not sleep.
    fn release(&self, _slot: u32) {}

    /// Eviction was asked for a page of a 2 MiB folio, slots `[first, first + pages)`, which can
    /// only leave whole: may the others go with it? The handler marks those it lets go so that
    /// nothing pins them meanwhile (as it marked the victims), or answers `false` and the folio
    /// stays. Must not sleep. The default keeps every large folio (only the memory's removal moves
    /// them).
    fn claim_folio(&self, _first: u32, _pages: u32) -> bool {
        false
    }

    /// Undoes [`Self::claim_folio`]'s mark on `slot`, whose folio did not move after all.
    fn unclaim(&self, _slot: u32) {}

    /// Whether `slot` may hold a page: eviction looks only at those. A free slot's page may still
    /// name the head of a 2 MiB folio that was freed, whose other pages are in use by now. The
    /// default looks at every slot.
    fn holds_page(&self, _slot: u32) -> bool {
        true
    }
}

/// Pages of a large folio: 2 MiB.
const FOLIO_PAGES: usize = 1 << PMD_ORDER;

/// The largest fault-around window, in pages ([`SlotHandler::fault_around_pages`]).
pub const MAX_FAULT_AROUND: usize = 64;

/// Where a page to be migrated into a [`BarDevmem`] is now.
///
/// # Examples
///
/// The `place` closure of [`BarDevmem::migrate_in`] sees where each page is: here it gives a slot
/// to pages in system memory or on a peer, and leaves alone pages already in this memory and empty
/// ones, which have nothing to copy yet; it takes 2 MiB folios page by page (compile-only, as for
/// [`BarDevmem`]: it needs a bound device with a BAR).
///
/// ```no_run
/// use crate::bar_devmem::{BarDevmem, SlotHandler, Source};
/// use kernel::{
///     mm::virt::VmaRef,
///     sync::atomic::{ordering, Atomic},
/// };
///
/// // Hands out slots in order, once each (a real owner reuses freed ones).
/// struct Bump(Atomic<u32>);
///
/// impl SlotHandler for Bump {
///     fn slot_freed(&self, _slot: u32) {}
/// }
///
/// fn migrate_here(
///     mem: &BarDevmem<Bump>,
///     peers: &[&BarDevmem<Bump>],
///     vma: &VmaRef,
///     start: usize,
///     end: usize,
/// ) -> Result<usize> {
///     let mut placed = 0;
///     let moved = mem.migrate_in(
///         vma,
///         start,
///         end,
///         peers,
///         |_addr, source, pages| match source {
///             _ if pages > 1 => None,
///             Source::Device(m, _) if core::ptr::eq(*m, mem) => None,
///             Source::Empty => None,
///             Source::System | Source::Device(..) => {
///                 let slot = mem.handler().0.fetch_add(1, ordering::Relaxed);
///                 (slot < mem.slots() as u32).then_some(slot)
///             }
///         },
///         |_addr, _slot| placed += 1,
///     )?;
///     // Each page that moved was reported placed (a page given a slot may still stay, e.g. a busy
///     // one).
///     assert_eq!(placed, moved);
///     Ok(moved)
/// }
/// # Ok::<(), Error>(())
/// ```
pub enum Source<'a, T: SlotHandler> {
    /// Nothing was there yet (the destination is zeroed).
    Empty,
    /// System memory.
    System,
    /// A slot of some p2pmm device memory (maybe this one).
    Device(&'a BarDevmem<T>, u32),
}

/// What an eviction moves (`BarDevmem::eviction_pfns`): for each PFN, the index in the slots
/// asked for of the slot it is (`asked`, `None` for the other pages of a 2 MiB folio) and of the
/// slot that brought it in (`owner`).
struct EvictionPlan {
    pfns: KVVec<usize>,
    asked: KVVec<Option<usize>>,
    owner: KVVec<usize>,
}

/// Adds each page that moved to `left[owner]`, the count of the slot that brought it in.
fn count_left(owner: &[usize], moved: &[bool], left: &mut [u32]) {
    for (&k, _) in owner.iter().zip(moved).filter(|(_, &m)| m) {
        if let Some(l) = left.get_mut(k) {
            *l += 1;
        }
    }
}

/// Device-private memory in a BAR window.
///
/// # Invariants
///
/// From the end of initialisation until `drop`: `pgmap` is a `memremap_pages`-ed
/// `MEMORY_DEVICE_PRIVATE` pagemap of `npages` pages from `first_pfn`, with `Self::OPS` and owner
/// `owner`; `p2p` is null or the kernel address of `npages * PAGE_SIZE` bytes of the BAR of `pdev`
/// as p2pdma memory of `pdev`, all of it allocated to this memory (the *P2P window*: its pages are
/// what a peer's bio names to reach a slot's data); `io` maps the same bytes for the CPU: it is
/// `p2p` when there is a window, else our own `ioremap` of them.
///
/// # Examples
///
/// In a driver's probe (compile-only: it needs a bound device with a BAR, which a KUnit test does
/// not have; the guest suites exercise it through `p2pmm_migrate_test`):
///
/// ```no_run
/// use crate::bar_devmem::{BarDevmem, SlotHandler};
/// use kernel::{
///     device, pci,
///     sync::atomic::{ordering, Atomic},
/// };
///
/// // The owner's bookkeeping: here only how many slots came back.
/// struct Freed(Atomic<usize>);
///
/// impl SlotHandler for Freed {
///     fn slot_freed(&self, _slot: u32) {
///         self.0.fetch_add(1, ordering::Relaxed);
///     }
/// }
///
/// // 2 MiB of BAR 2 from its start: 512 slots of device-private memory.
/// fn managed(
///     pdev: &pci::Device<device::Bound>,
///     owner: usize,
/// ) -> Result<Pin<KBox<BarDevmem<Freed>>>> {
///     let freed = Freed(Atomic::new(0));
///     let mem = KBox::pin_init(BarDevmem::new(pdev, 2, 0, 2 << 20, owner, freed), GFP_KERNEL)?;
///     assert_eq!(mem.slots(), 512);
///     assert_eq!(mem.handler().0.load(ordering::Relaxed), 0);
///     Ok(mem)
/// }
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct BarDevmem<T: SlotHandler> {
    #[pin]
    pgmap: Opaque<bindings::dev_pagemap>,
    first_pfn: usize,
    npages: usize,
    io: *mut c_void,
    p2p: *mut c_void,
    pdev: ARef<pci::Device>,
    owner: usize,
    handler: T,
    #[pin]
    engine: EngineSlot,
    /// The dma-bufs exported from this memory (`managed_dmabuf.rs`), with a P2P window only.
    buffers: Option<BufferGate>,
}

// SAFETY: The pagemap is only changed by core mm, the BAR window is plain MMIO that any CPU may
// access, and `T` is `Send + Sync`.
unsafe impl<T: SlotHandler> Send for BarDevmem<T> {}
// SAFETY: See `Send`.
unsafe impl<T: SlotHandler> Sync for BarDevmem<T> {}

impl<T: SlotHandler> BarDevmem<T> {
    const OPS: bindings::dev_pagemap_ops = bindings::dev_pagemap_ops {
        folio_free: Some(Self::folio_free_callback),
        migrate_to_ram: Some(Self::migrate_to_ram_callback),
        memory_failure: None,
        folio_split: None,
    };

    /// Device memory over `len` bytes (a multiple of 2 MiB, the sub-section size `memremap_pages`
    /// needs) of `bar` from `offset`, owned by `owner` (the `pgmap_owner`: p2pmm uses one for all
    /// its providers, so a migration can find pages on any of them).
    ///
    /// The same bytes also become p2pdma memory of `pdev`, all of it allocated here (the P2P
    /// window), so that a peer device can DMA to a slot by bus address. If p2pdma refuses the range
    /// (e.g. it is not aligned to a memory sub-section), the memory works without a window
    /// ([`Self::has_p2p_window`]). If p2pdma took the range but the allocation did not get exactly
    /// it (someone allocated part of it first), the memory is not this memory's to use: `EBUSY`.
    pub fn new(
        pdev: &pci::Device<device::Bound>,
        bar: u32,
        offset: u64,
        len: u64,
        owner: usize,
        handler: T,
    ) -> impl PinInit<Self, Error> {
        // The window is mapped while the device is bound (probe); the reference keeps the device
        // alive after.
        let pdev: ARef<pci::Device> = pdev.into();
        try_pin_init!(&this in Self {
            pgmap: Opaque::uninit(),
            first_pfn: 0,
            npages: (len as usize) / PAGE_SIZE,
            io: core::ptr::null_mut(),
            p2p: core::ptr::null_mut(),
            pdev,
            owner,
            handler,
            engine <- EngineSlot::new(),
            buffers: None,
            _: {
                if len == 0 || len % (2 << 20) != 0 {
                    return Err(EINVAL);
                }
                let bar = c_int::try_from(bar).map_err(|_| EINVAL)?;
                // SAFETY: `this` is pinned and every field is initialised; nothing else sees it
                // yet.
                let me = unsafe { &mut *this.as_ptr() };
                let mut err: c_int = 0;
                // SAFETY: `pdev` is bound (the `Bound` context), so its BARs are assigned; the
                // glue checks the range against the BAR.
                me.p2p = unsafe {
                    p2pmm_p2p_window_alloc(pci_p2p::raw(&me.pdev), bar, len, offset, &mut err)
                };
                if me.p2p.is_null() && err == EBUSY.to_errno() {
                    return Err(EBUSY);
                }
                // The window is already mapped for the CPU (p2pdma maps its memory in the kernel's
                // linear map): a second mapping would cost page tables and, on a KASAN_VMALLOC
                // kernel, an eighth of the BAR in shadow memory (1.5 GiB for 12 GiB).
                me.io = if me.p2p.is_null() {
                    // SAFETY: As above.
                    unsafe { p2pmm_bar_map(pci_p2p::raw(&me.pdev), bar, offset, len) }
                } else {
                    me.p2p
                };
                if me.io.is_null() {
                    return Err(ENOMEM);
                }
                if !me.p2p.is_null() {
                    // SAFETY: `this` is pinned, and the drop revokes the gate before anything of
                    // the memory goes.
                    match unsafe { BufferGate::new(&me.pdev, this.as_ptr()) } {
                        Ok(gate) => me.buffers = Some(gate),
                        Err(e) => {
                            // A window left allocated would keep p2pdma's teardown waiting
                            // at unbind. SAFETY: Mapped and allocated above, unused.
                            unsafe { me.unmap() };
                            return Err(e);
                        }
                    }
                }
                let mut first: c_ulong = 0;
                // SAFETY: `pgmap` is ours and pinned; `Self::OPS` is a constant. Callbacks may run
                // from here on: every field they read is set.
                let added = to_result(unsafe {
                    p2pmm_devmem_add(
                        me.pgmap.get().cast(),
                        len as c_ulong,
                        core::ptr::from_ref(&Self::OPS).cast(),
                        me.owner as *mut c_void,
                        &mut first,
                    )
                });
                if let Err(e) = added {
                    // SAFETY: Mapped and allocated above, unused.
                    unsafe { me.unmap() };
                    return Err(e);
                }
                me.first_pfn = first as usize;
            },
        })
    }

    /// Gives back the P2P window and unmaps `io` if it is a mapping of its own.
    ///
    /// # Safety
    ///
    /// `io` and `p2p` are as the type invariant says, and nothing uses them any more (no page of
    /// the pagemap is in use, no I/O names a window page).
    unsafe fn unmap(&self) {
        let pdev = pci_p2p::raw(&self.pdev);
        // SAFETY: Per the function's contract.
        unsafe {
            if self.p2p.is_null() {
                p2pmm_bar_unmap(pdev, self.io);
            } else {
                p2pmm_p2p_window_free(pdev, self.p2p, (self.npages * PAGE_SIZE) as u64);
            }
        }
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.npages
    }

    /// The owner handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// The slot of device page `pfn`, if it is one of ours.
    pub fn slot_of_pfn(&self, pfn: usize) -> Option<u32> {
        let i = pfn.checked_sub(self.first_pfn)?;
        (i < self.npages).then_some(i as u32)
    }

    fn slot_io(&self, slot: u32) -> *mut c_void {
        // By the type invariant `io` maps `npages` pages; callers pass slots below `npages`.
        self.io.wrapping_byte_add(slot as usize * PAGE_SIZE)
    }

    /// The copy engine lent to this memory, if any.
    pub fn engine(&self) -> &EngineSlot {
        &self.engine
    }

    /// The engine that copies a page between this memory and `peer`: this memory's, else the
    /// peer's, else none (the CPU).
    fn engine_with<'a>(&'a self, peer: &'a Self) -> Option<&'a EngineSlot> {
        [&self.engine, &peer.engine]
            .into_iter()
            .find(|e| e.is_set())
    }

    /// The P2P window pages of `slot` here and `peer_slot` of `peer`, when both have windows.
    fn window_pages(
        &self,
        slot: u32,
        peer: &Self,
        peer_slot: u32,
    ) -> Option<(*mut c_void, *mut c_void)> {
        self.p2p_page(slot).zip(peer.p2p_page(peer_slot))
    }

    /// Whether a peer can reach the slots by bus address: the memory has a P2P window.
    pub fn has_p2p_window(&self) -> bool {
        !self.p2p.is_null()
    }

    /// The PCI device whose BAR holds the data.
    pub fn pci_device(&self) -> &pci::Device {
        &self.pdev
    }

    /// The p2pdma page of the P2P window that holds `slot`'s data (`None` without a window or for a
    /// slot out of range). The page is only meaningful while the slot's device page stays in place:
    /// the caller keeps it there (e.g. an invalidation of its address waits for the I/O,
    /// `block_io.rs`).
    pub(crate) fn p2p_page(&self, slot: u32) -> Option<*mut c_void> {
        if self.p2p.is_null() || slot as usize >= self.npages {
            return None;
        }
        // SAFETY: By the type invariant `p2p` maps `npages` pages of p2pdma memory; `slot` is below
        // `npages`.
        Some(unsafe { p2pmm_kaddr_page(self.p2p.wrapping_byte_add(slot as usize * PAGE_SIZE)) })
    }

    /// Copies `slot`'s data into the system page `page` (a bounce buffer).
    ///
    /// # Safety
    ///
    /// `page` is a system page the caller owns; `slot` is below [`Self::slots`].
    pub(crate) unsafe fn copy_slot_to_page(&self, slot: u32, page: *mut c_void) {
        // SAFETY: The caller's promise; `slot_io` is one page of our window.
        unsafe { p2pmm_bar_copy_to_page(page, self.slot_io(slot)) }
    }

    /// Copies the system page `page` (a bounce buffer) into `slot`'s data.
    ///
    /// # Safety
    ///
    /// As [`Self::copy_slot_to_page`].
    pub(crate) unsafe fn copy_page_to_slot(&self, page: *mut c_void, slot: u32) {
        // SAFETY: The caller's promise; `slot_io` is one page of our window.
        unsafe { p2pmm_bar_copy_from_page(self.slot_io(slot), page) }
    }

    fn slot_page(&self, slot: u32) -> *mut c_void {
        // SAFETY: `first_pfn + slot` is a page of our pagemap (type invariant, `slot < npages`).
        unsafe { p2pmm_pfn_to_page((self.first_pfn + slot as usize) as c_ulong) }
    }

    /// Whether the memory holds 2 MiB folios: its first page is 2 MiB aligned, so every naturally
    /// aligned chunk of [`FOLIO_PAGES`] slots is a naturally aligned folio.
    pub fn holds_large_folios(&self) -> bool {
        self.first_pfn % FOLIO_PAGES == 0
    }

    /// Copies the `pages` slots from `first` into the system pages from `dst` on.
    ///
    /// # Safety
    ///
    /// `dst` is the first of `pages` contiguous system pages the caller owns; the slots are below
    /// [`Self::slots`].
    unsafe fn copy_slots_out(&self, first: u32, dst: *mut c_void, pages: usize) {
        for j in 0..pages {
            // SAFETY: The caller's promise: page `j` of `dst` is ours, slot `first + j` is ours.
            unsafe {
                p2pmm_bar_copy_to_page(
                    p2pmm_nth_page(dst, j as c_ulong),
                    self.slot_io(first + j as u32),
                )
            };
        }
    }

    /// The slot and page count of the folio device page `pfn` (one of ours) is part of, as it is
    /// now: a hint, since the folio may be split or freed meanwhile.
    fn folio_of(&self, pfn: usize) -> Option<(u32, usize)> {
        self.slot_of_pfn(pfn)?;
        let mut order = 0u32;
        // SAFETY: `pfn` is a page of our pagemap (checked above), alive while `self` is.
        let head = unsafe { p2pmm_devpage_folio(pfn as c_ulong, &mut order) } as usize;
        Some((self.slot_of_pfn(head)?, 1usize << order))
    }

    /// Exports `slots` as a dma-buf named after provider `id` (zeroing them first) and stores its
    /// descriptor at `fd_out` (`managed_dmabuf.rs`): `EOPNOTSUPP` without a P2P window (the
    /// dma-buf is for devices that reach the memory by P2P DMA), `EINVAL` for a slot out of range.
    /// On success the dma-buf owns the slots and gives them back through
    /// [`SlotHandler::slot_freed`] when it moves or goes; on failure the caller still owns them.
    ///
    /// # Safety
    ///
    /// `slots` are distinct slots the caller reserved, holding no page.
    pub unsafe fn export_dmabuf(
        &self,
        id: u32,
        slots: &[u32],
        cloexec: bool,
        fd_out: UserPtr,
    ) -> Result {
        let gate = self.buffers.as_ref().ok_or(EOPNOTSUPP)?;
        if slots.iter().any(|&s| s as usize >= self.npages) {
            return Err(EINVAL);
        }
        for &s in slots {
            // The slot is reserved by the caller: no one else reads or writes it.
            // SAFETY: One page of our BAR window (checked above), ours alone (see above).
            unsafe { p2pmm_bar_zero(self.slot_io(s)) };
        }
        // SAFETY: The caller's promise, and the slots were zeroed above.
        unsafe { gate.export(id, slots, cloexec, fd_out) }
    }

    /// Moves dma-bufs exported from this memory to system memory until `want` pages are free
    /// again (see [`BufferGate::evict`]); returns the pages moved and those of pinned dma-bufs
    /// passed over.
    pub fn evict_dmabufs(&self, want: usize) -> (usize, u64) {
        self.buffers.as_ref().map_or((0, 0), |g| g.evict(want))
    }

    /// Migrates `[start, end)` of `vma` (mmap lock held through the `&VmaRef`) into this memory.
    /// For each page, `place(addr, source, 1)` returns the slot to copy it to (a slot it reserved),
    /// or `None` to leave the page where it is; `placed(addr, slot)` then reports each page that
    /// moved (and the source slot's handler hears [`SlotHandler::moved_out`]). A slot whose page
    /// did not move is released through [`SlotHandler::slot_freed`] when core mm drops it. `peers`
    /// are every device memory of this owner (pages found on one of them are copied BAR to BAR).
    /// Returns the number of pages moved.
    ///
    /// When the memory holds 2 MiB folios ([`Self::holds_large_folios`]), a 2 MiB folio (a THP, a
    /// peer's 2 MiB folio, or an empty PMD) is first offered whole, `place(addr, source, 512)`: a
    /// naturally aligned chunk of 512 reserved slots makes it one 2 MiB device folio; `None` offers
    /// its pages one by one (core mm splits it).
    pub fn migrate_in(
        &self,
        vma: &VmaRef,
        start: usize,
        end: usize,
        peers: &[&Self],
        mut place: impl FnMut(usize, &Source<'_, T>, usize) -> Option<u32>,
        mut placed: impl FnMut(usize, u32),
    ) -> Result<usize> {
        let large = self.holds_large_folios();
        let mut m = MigrateVma::setup(vma, start, end, self.owner, Select::Any, large)?;
        // For each destination: its entry, first slot, source slot on a peer, and pages.
        let mut slots = KVec::<(usize, u32, Option<(&Self, u32)>, usize)>::new();
        slots.reserve((end - start) / PAGE_SIZE, GFP_KERNEL)?;
        // BAR-to-BAR copies wait here until every destination is chosen: done at once, by a copy
        // engine where one is lent, before core mm maps the new pages.
        let mut batch = Batch::with_capacity((end - start) / PAGE_SIZE)?;
        let fill = |m: &MigrateVma, i: usize, spage: Option<*mut c_void>, pages: usize| {
            let addr = m.addr(i);
            // SAFETY: `spage` is a page isolated and locked by the migration.
            let pfn = spage.map(|p| unsafe { p2pmm_page_to_pfn(p) } as usize);
            let remote = pfn.and_then(|pfn| {
                peers
                    .iter()
                    .find_map(|mem| mem.slot_of_pfn(pfn).map(|slot| (*mem, slot)))
            });
            let source = match (spage, remote) {
                (None, _) => Source::Empty,
                (Some(_), Some((mem, slot))) => Source::Device(mem, slot),
                (Some(_), None) => Source::System,
            };
            let Some(slot) = place(addr, &source, pages) else {
                return Ok(None);
            };
            if slot as usize + pages > self.npages || (pages > 1 && slot as usize % pages != 0) {
                return Err(EINVAL);
            }
            for j in 0..pages as u32 {
                let dst = self.slot_io(slot + j);
                // The source page is isolated and locked by the migration until it ends; a remote
                // slot is a live window's page. SAFETY: `dst` is one page of our BAR window
                // (checked above), the sources are valid (see above; page `j` of a large source is
                // within its folio), and only this migration writes `dst`.
                unsafe {
                    match (&source, spage) {
                        (Source::Device(mem, s), _) => batch.push(
                            dst,
                            mem.slot_io(*s + j),
                            self.window_pages(slot + j, mem, *s + j),
                            self.engine_with(mem),
                        )?,
                        (Source::System, Some(p)) => {
                            p2pmm_bar_copy_from_page(dst, p2pmm_nth_page(p, j as c_ulong))
                        }
                        (Source::Empty | Source::System, _) => p2pmm_bar_zero(dst),
                    }
                }
            }
            let page = self.slot_page(slot);
            let order = if pages > 1 { PMD_ORDER } else { 0 };
            // The slots were free (the caller reserved them): initialising gives the folio the one
            // reference the migration takes over. SAFETY: No page of it has a user (see above).
            unsafe { p2pmm_devpage_init(page, core::ptr::null_mut(), order) };
            slots
                .push_within_capacity((i, slot, remote, pages))
                .map_err(|_| ENOMEM)?;
            Ok(Some(page))
        };
        // SAFETY: Each page `fill` returns is a free slot's page, initialised with the one
        // reference the migration takes over (as the head of a 2 MiB folio for 512 pages), not
        // mapped, holding the source's data (or zeroes) once the batch is flushed, before `pages`.
        unsafe { m.fill_sized(fill) }?;
        self.flush(&mut batch);
        m.pages();
        let mut n = 0;
        for &(i, slot, from, pages) in slots.iter() {
            if m.moved(i) {
                for j in 0..pages {
                    placed(start + (i + j) * PAGE_SIZE, slot + j as u32);
                    if let Some((mem, s)) = from {
                        mem.handler.moved_out(s + j as u32);
                    }
                }
                n += pages;
            }
        }
        m.finalize();
        Ok(n)
    }

    /// Does the copies of `batch`, into this memory, and tells the handler who did them.
    fn flush(&self, batch: &mut Batch<'_>) {
        let (by_engine, by_cpu) = batch.flush(&self.pdev);
        if by_engine + by_cpu > 0 {
            self.handler.copied(by_engine, by_cpu);
        }
    }

    /// Migrates every page of `[start, end)` of `vma` (mmap lock held) that lives in one of `peers`
    /// (device memories of owner `owner`) back to system memory. Returns the number of pages moved.
    /// A 2 MiB device folio comes back as a 2 MiB folio (a THP) when one can be had, else as small
    /// pages.
    pub fn migrate_out(
        vma: &VmaRef,
        start: usize,
        end: usize,
        owner: usize,
        peers: &[&Self],
    ) -> Result<usize> {
        let large = peers.iter().any(|m| m.holds_large_folios());
        let mut m = MigrateVma::setup(vma, start, end, owner, Select::DevicePrivate, large)?;
        let mut from = KVec::<(usize, &Self, u32, usize)>::new();
        from.reserve((end - start) / PAGE_SIZE, GFP_KERNEL)?;
        let fill = |m: &MigrateVma, i: usize, spage: Option<*mut c_void>, pages: usize| {
            let Some(spage) = spage else { return Ok(None) };
            // SAFETY: `spage` is a page isolated and locked by the migration.
            let pfn = unsafe { p2pmm_page_to_pfn(spage) } as usize;
            let Some((mem, slot)) = peers
                .iter()
                .find_map(|mem| mem.slot_of_pfn(pfn).map(|s| (*mem, s)))
            else {
                return Ok(None);
            };
            let dst = if pages > 1 {
                // No 2 MiB folio to be had: the pages come back one by one.
                let Some(dst) = m.alloc_system_large(i) else {
                    return Ok(None);
                };
                dst
            } else {
                m.alloc_system_page(i).ok_or(ENOMEM)?
            };
            // SAFETY: `dst` is a fresh locked system folio of `pages` pages; the slots are the
            // isolated folio's pages of `mem`'s window.
            unsafe { mem.copy_slots_out(slot, dst, pages) };
            from.push_within_capacity((i, mem, slot, pages))
                .map_err(|_| ENOMEM)?;
            Ok(Some(dst))
        };
        // SAFETY: Each page `fill` returns is a new locked system page (a 2 MiB folio's head for
        // 512 pages) holding the slots' data.
        unsafe { m.fill_sized(fill) }?;
        m.pages();
        let mut n = 0;
        for &(i, mem, slot, pages) in from.iter() {
            if m.moved(i) {
                for j in 0..pages {
                    mem.handler.moved_out(slot + j as u32);
                }
                n += pages;
            }
        }
        m.finalize();
        Ok(n)
    }

    /// The PFNs to evict for `slots` ([`EvictionPlan`]): each small page's, and each 2 MiB folio's
    /// 512 in order, head first, when the handler lets the folio go whole
    /// ([`SlotHandler::claim_folio`]) or when `force` (the memory goes away).
    fn eviction_pfns(&self, slots: &[u32], force: bool) -> Result<EvictionPlan> {
        let mut pfns = KVVec::with_capacity(slots.len(), GFP_KERNEL)?;
        let mut asked = KVVec::with_capacity(slots.len(), GFP_KERNEL)?;
        let mut owner = KVVec::with_capacity(slots.len(), GFP_KERNEL)?;
        // The first slots of the folios taken so far.
        let mut folios = KVec::<u32>::new();
        for (k, &s) in slots.iter().enumerate() {
            if !self.handler.holds_page(s) {
                continue;
            }
            let pfn = self.first_pfn + s as usize;
            let Some((first, pages)) = self.folio_of(pfn) else {
                continue;
            };
            if pages == 1 {
                pfns.push(pfn, GFP_KERNEL)?;
                asked.push(Some(k), GFP_KERNEL)?;
                owner.push(k, GFP_KERNEL)?;
                continue;
            }
            if pages != FOLIO_PAGES
                || first as usize + pages > self.npages
                || folios.contains(&first)
                || !(force || self.handler.claim_folio(first, pages as u32))
            {
                continue;
            }
            folios.push(first, GFP_KERNEL)?;
            let head = self.first_pfn + first as usize;
            for j in 0..pages {
                pfns.push(head + j, GFP_KERNEL)?;
                asked.push((head + j == pfn).then_some(k), GFP_KERNEL)?;
                owner.push(k, GFP_KERNEL)?;
            }
        }
        Ok(EvictionPlan { pfns, asked, owner })
    }

    /// Gives back the claims of the folios that did not move: their pages that were not asked for.
    fn unclaim_unmoved(&self, pfns: &[usize], asked: &[Option<usize>], moved: &[bool]) {
        for ((&pfn, a), &m) in pfns.iter().zip(asked).zip(moved) {
            if !m && a.is_none() {
                if let Some(slot) = self.slot_of_pfn(pfn) {
                    self.handler.unclaim(slot);
                }
            }
        }
    }

    /// A locked system folio of `pages` pages (1 or 512) holding the data of the slots from the one
    /// of device page `dev`, or `None` when memory is short (small pages never are:
    /// `__GFP_NOFAIL`).
    ///
    /// # Safety
    ///
    /// `dev` is one of our pages, isolated by an eviction, the head of a folio of `pages` pages.
    unsafe fn copy_to_system(&self, dev: *mut c_void, pages: usize) -> Option<*mut c_void> {
        let order = if pages > 1 { PMD_ORDER } else { 0 };
        // SAFETY: Plain allocation.
        let sys = unsafe { p2pmm_alloc_page_locked(order) };
        if sys.is_null() {
            return None;
        }
        // SAFETY: `dev` is ours (the caller's promise), so it has a slot.
        let pfn = unsafe { p2pmm_page_to_pfn(dev) } as usize;
        let first = self.slot_of_pfn(pfn)?;
        // SAFETY: `sys` is a fresh folio of `pages` pages; the slots are the isolated folio's.
        unsafe { self.copy_slots_out(first, sys, pages) };
        Some(sys)
    }

    /// Evicts the pages of `slots` to system memory (`migrate_device_pfns`); pages that are free or
    /// busy stay, and so does a 2 MiB folio the handler does not let go whole or for which no 2 MiB
    /// of system memory can be had. Returns how many pages moved. Their slots come back through
    /// [`SlotHandler::slot_freed`].
    ///
    /// `left[i]` (when there is one) counts the pages that left for `slots[i]`: its own, and those
    /// of a 2 MiB folio that went with it.
    pub fn evict(&self, slots: &[u32], left: &mut [u32]) -> Result<usize> {
        self.evict_to_system(slots, false, left)
            .map(|(moved, _)| moved)
    }

    /// [`Self::evict`], every folio whole when `force`; also says whether a folio stayed for want
    /// of system memory.
    fn evict_to_system(
        &self,
        slots: &[u32],
        force: bool,
        left: &mut [u32],
    ) -> Result<(usize, bool)> {
        let EvictionPlan { pfns, asked, owner } = self.eviction_pfns(slots, force)?;
        let mut short = false;
        let dest = |(): &mut (), _: usize, dev: *mut c_void, pages: usize| {
            // SAFETY: `dev` is our page (a slot's PFN), isolated by the eviction, heading `pages`.
            let sys = unsafe { self.copy_to_system(dev, pages) };
            short |= sys.is_none();
            sys
        };
        // SAFETY: `pfns` are our slots' pages, alive while `self` is, each folio whole and in
        // order; each page `dest` returns holds the data of the folio it is offered for.
        let moved = unsafe { evict_pfns_sized(&pfns, &mut (), dest, |()| {}) }?;
        self.unclaim_unmoved(&pfns, &asked, &moved);
        count_left(&owner, &moved, left);
        Ok((moved.iter().filter(|&&m| m).count(), short))
    }

    /// Evicts the pages of `slots` into `dest` (another device memory, reachable from this one) as
    /// far as it has room, and the rest to system memory, in one migration: `alloc(i)` gives a free
    /// slot of `dest` for the page of `slots[i]`, or `None` when `dest` is full or the page must
    /// not go there (it goes to system memory), and `placed(i, slot)` reports each page that
    /// arrived in `dest`; `left` counts as for [`Self::evict`]. A 2 MiB folio goes whole: into a
    /// naturally aligned chunk of 512 free
    /// slots of `dest` that `alloc_large(i)` gives for the folio of `slots[i]`, else into system
    /// memory as [`Self::evict`] moves it; each of its pages is reported placed with that `i`. The
    /// data is copied BAR to BAR, or BAR to the new system memory. Returns how many pages moved
    /// into `dest` and how many into system memory; their old slots come back through
    /// [`SlotHandler::slot_freed`], and a reserved `dest` slot whose page did not move through
    /// `dest`'s.
    pub fn evict_to<'a>(
        &'a self,
        slots: &[u32],
        dest: &'a Self,
        mut alloc: impl FnMut(usize) -> Option<u32>,
        mut alloc_large: impl FnMut(usize) -> Option<u32>,
        mut placed: impl FnMut(usize, u32),
        left: &mut [u32],
    ) -> Result<(usize, usize)> {
        let EvictionPlan { pfns, asked, owner } = self.eviction_pfns(slots, false)?;
        // For each PFN, the `dest` slot it got.
        let mut to = KVVec::<Option<u32>>::with_capacity(pfns.len(), GFP_KERNEL)?;
        to.resize(pfns.len(), None, GFP_KERNEL)?;
        // BAR-to-BAR copies are done together before core mm maps the new pages, by a copy engine
        // where one is lent.
        let mut batch = Batch::<'a>::with_capacity(pfns.len())?;
        let dest_of = |batch: &mut Batch<'a>, i: usize, dev: *mut c_void, pages: usize| {
            let slot = if pages > 1 {
                Some(owner[i])
                    .filter(|_| dest.holds_large_folios())
                    .and_then(&mut alloc_large)
            } else {
                asked[i].and_then(&mut alloc)
            };
            let Some(slot) = slot.filter(|&s| s as usize + pages <= dest.npages) else {
                // System memory: `dest` is full, or the page must not go there.
                // SAFETY: `dev` is our page, isolated by the eviction, heading `pages`.
                return unsafe { self.copy_to_system(dev, pages) };
            };
            // SAFETY: `dev` is our page (a slot's PFN), isolated by the eviction.
            let pfn = unsafe { p2pmm_page_to_pfn(dev) } as usize;
            let from_slot = (pfn - self.first_pfn) as u32;
            for j in 0..pages as u32 {
                let (to_slot, from_slot) = (slot + j, from_slot + j);
                let (to_io, from) = (dest.slot_io(to_slot), self.slot_io(from_slot));
                let window = dest.window_pages(to_slot, self, from_slot);
                // SAFETY: `from` is our isolated folio's BAR memory until the eviction ends; the
                // destination slots are unused (the caller reserved them), only this eviction
                // writes them.
                unsafe {
                    if batch
                        .push(to_io, from, window, dest.engine_with(self))
                        .is_err()
                    {
                        p2pmm_bar_copy_bar(to_io, from);
                    }
                }
                to[i + j as usize] = Some(to_slot);
            }
            let page = dest.slot_page(slot);
            let order = if pages > 1 { PMD_ORDER } else { 0 };
            // The destination slots were free, so their pages have no user, and initialising gives
            // the folio the one reference the migration takes over. SAFETY: See above.
            unsafe { p2pmm_devpage_init(page, core::ptr::null_mut(), order) };
            Some(page)
        };
        // SAFETY: `pfns` are our slots' pages, alive while `self` is, each folio whole and in
        // order; each page `dest_of` returns holds the data of the page it is offered for once the
        // batch is flushed: a new locked system folio, or a free slot of `dest` initialised with
        // one reference.
        let moved = unsafe { evict_pfns_sized(&pfns, &mut batch, dest_of, |b| dest.flush(b)) }?;
        self.unclaim_unmoved(&pfns, &asked, &moved);
        count_left(&owner, &moved, left);
        let (mut into_dest, mut into_system) = (0, 0);
        for (i, &m) in moved.iter().enumerate() {
            match (m, to[i]) {
                (true, Some(slot)) => {
                    placed(owner[i], slot);
                    into_dest += 1;
                }
                (true, None) => into_system += 1,
                (false, _) => {}
            }
        }
        Ok((into_dest, into_system))
    }

    /// The memory a device page belongs to.
    ///
    /// # Safety
    ///
    /// `page` must be a page of a live `BarDevmem<T>`.
    unsafe fn of_page<'a>(page: *mut c_void) -> &'a Self {
        // SAFETY: The caller guarantees `page` is ours, so its pgmap is the `pgmap` field of a live
        // `Self`.
        unsafe {
            let pgmap = p2pmm_page_pgmap(page).cast::<Opaque<bindings::dev_pagemap>>();
            &*kernel::container_of!(pgmap, Self, pgmap)
        }
    }

    /// `folio_free`: the last reference to one of our pages went away.
    ///
    /// # Safety
    ///
    /// Called by core mm only, for a folio of a pagemap with `Self::OPS`.
    unsafe extern "C" fn folio_free_callback(folio: *mut bindings::folio) {
        // SAFETY: Core mm passes a live folio of one of our pagemaps.
        let page = unsafe { p2pmm_folio_page(folio.cast()) };
        // SAFETY: As above.
        let me = unsafe { Self::of_page(page) };
        // SAFETY: As above.
        let pfn = unsafe { p2pmm_page_to_pfn(page) } as usize;
        if let Some(slot) = me.slot_of_pfn(pfn) {
            // SAFETY: As above.
            let pages = 1u32 << unsafe { p2pmm_page_folio_order(page) };
            for j in 0..pages {
                me.handler.slot_freed(slot + j);
            }
        }
    }

    /// `migrate_to_ram`: the CPU touched one of our pages; move it back to system memory, with the
    /// neighbours the handler lets come along ([`SlotHandler::fault_around_pages`]): one fault
    /// instead of one per page when the CPU goes on to read the rest.
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
        let (page, vma, addr) = unsafe {
            (
                p2pmm_vmf_page(vmf),
                p2pmm_vmf_vma(vmf),
                p2pmm_vmf_address(vmf) as usize & !(PAGE_SIZE - 1),
            )
        };
        // SAFETY: `page` is the faulting page, one of ours (core mm calls its own pagemap's op).
        let me = unsafe { Self::of_page(page) };
        // SAFETY: The VMA is valid and read-locked (mmap or VMA lock) for the duration of the
        // fault.
        let (vm_start, vm_end) = unsafe {
            let v = VmaRef::from_raw(vma.cast());
            (v.start(), v.end())
        };
        // A page of a 2 MiB folio comes back with its whole folio, as a THP if one can be had (as
        // lib/test_hmm.c's fault handler does), when the folio's range is within the VMA; else
        // (and for small pages) the handler's fault-around window.
        // SAFETY: `page` is locked by the fault.
        let large = unsafe { p2pmm_page_folio_order(page) } > 0;
        let folio_start = addr & !(FOLIO_PAGES * PAGE_SIZE - 1);
        let whole =
            large && folio_start >= vm_start && folio_start + FOLIO_PAGES * PAGE_SIZE <= vm_end;
        let (start, end) = if whole {
            (folio_start, folio_start + FOLIO_PAGES * PAGE_SIZE)
        } else {
            crate::placement::fault_around_window(
                addr,
                me.handler.fault_around_pages(),
                MAX_FAULT_AROUND,
                PAGE_SIZE,
                vm_start,
                vm_end,
            )
        };
        let touched = (addr - start) / PAGE_SIZE;
        // SAFETY: `vma` is valid and locked for the fault, `[start, end)` page aligned inside it
        // and containing the locked fault page.
        let m = unsafe {
            MigrateVma::setup_raw(
                vma,
                start,
                end,
                me.owner,
                Select::DevicePrivate,
                whole,
                page,
            )
        };
        let Ok(mut m) = m else {
            // SAFETY: A constant of the kernel.
            return unsafe { p2pmm_vm_fault_sigbus() };
        };
        let mut slots = KVec::<(usize, u32, usize)>::new();
        if slots
            .reserve((end - start) / PAGE_SIZE, GFP_KERNEL)
            .is_err()
        {
            // SAFETY: A constant of the kernel.
            return unsafe { p2pmm_vm_fault_oom() };
        }
        let fill = |m: &MigrateVma, i: usize, spage: Option<*mut c_void>, pages: usize| {
            let Some(spage) = spage else { return Ok(None) };
            // SAFETY: `spage` is a page the migration isolated and locked.
            let pfn = unsafe { p2pmm_page_to_pfn(spage) } as usize;
            // Another provider's page (all share the owner) stays where it is, and so does a
            // neighbour the handler keeps on the device (a folio's pages all go: one of them is
            // the touched page).
            let Some(s) = me.slot_of_pfn(pfn) else {
                return Ok(None);
            };
            if !whole && i != touched && !me.handler.may_come_back_with_neighbour(s) {
                return Ok(None);
            }
            let dst = if pages > 1 {
                // No 2 MiB folio to be had: the pages come back one by one.
                let Some(dst) = m.alloc_system_large(i) else {
                    return Ok(None);
                };
                dst
            } else {
                let Some(dst) = m.alloc_system_page(i) else {
                    // Short of memory: the touched page must move (with its folio), a neighbour
                    // may stay.
                    return if whole || i == touched {
                        Err(ENOMEM)
                    } else {
                        Ok(None)
                    };
                };
                dst
            };
            // SAFETY: `dst` is a new locked system folio of `pages` pages, the slots' BAR memory is
            // the isolated folio's data.
            unsafe { me.copy_slots_out(s, dst, pages) };
            slots
                .push_within_capacity((i, s, pages))
                .map_err(|_| ENOMEM)?;
            Ok(Some(dst))
        };
        // SAFETY: Each page `fill` returns is a new locked system page (a 2 MiB folio's head for
        // 512 pages) holding the slots' data.
        let filled = unsafe { m.fill_sized(fill) };
        if filled.is_err() {
            // SAFETY: A constant of the kernel.
            return unsafe { p2pmm_vm_fault_oom() };
        }
        m.pages();
        for &(i, s, pages) in slots.iter() {
            if m.moved(i) {
                for j in 0..pages {
                    me.handler.moved_out(s + j as u32);
                }
            }
        }
        m.finalize();
        0
    }
}

impl<T: SlotHandler> BufferMemory for BarDevmem<T> {
    fn window_page(&self, slot: u32) -> *mut c_void {
        self.p2p_page(slot).unwrap_or(core::ptr::null_mut())
    }

    unsafe fn copy_out(&self, slot: u32, page: *mut c_void) {
        if (slot as usize) < self.npages {
            // SAFETY: The caller's promise; the slot is below `npages` (checked).
            unsafe { self.copy_slot_to_page(slot, page) }
        }
    }

    fn give_back(&self, slot: u32) {
        self.handler.slot_freed(slot);
    }
}

#[pinned_drop]
impl<T: SlotHandler> PinnedDrop for BarDevmem<T> {
    fn drop(self: Pin<&mut Self>) {
        // The dma-bufs' data first, to system memory, while the window is there to copy from.
        if let Some(gate) = &self.buffers {
            gate.revoke();
        }
        // Every page must be back in system memory before the pagemap goes: `memunmap_pages` waits
        // for them.
        // In batches: a provider of many GiB has millions of slots.
        let mut batch = [0u32; 512];
        for first in (0..self.npages).step_by(batch.len()) {
            let n = batch.len().min(self.npages - first);
            for (i, s) in batch[..n].iter_mut().enumerate() {
                *s = (first + i) as u32;
            }
            // Short of memory, the pages must still go: `memunmap_pages` would wait for them
            // forever (test_hmm allocates this path's arrays `__GFP_NOFAIL`). Try again, a moment
            // apart, until the allocations succeed.
            let mut warned = false;
            loop {
                // A 2 MiB folio that found no 2 MiB of system memory stays: as short of memory.
                let evicted = match self.evict_to_system(&batch[..n], true, &mut []) {
                    Ok((_, true)) => Err(ENOMEM),
                    other => other,
                };
                match evicted {
                    Err(e) if e == ENOMEM => {
                        if !warned {
                            pr_warn!("evicting device memory: short of memory, retrying\n");
                            warned = true;
                        }
                        fsleep(Delta::from_millis(10));
                    }
                    Err(_) => {
                        pr_err!("evicting device memory failed; pages stay in use\n");
                        break;
                    }
                    Ok(_) => break,
                }
            }
        }
        // SAFETY: Mapped since initialisation (type invariant); no page is in use after the
        // eviction, and no I/O names a window page any more (I/O keeps the slot's page in place, so
        // it ended before the eviction).
        unsafe {
            p2pmm_devmem_remove(self.pgmap.get().cast());
            self.unmap();
        }
    }
}
