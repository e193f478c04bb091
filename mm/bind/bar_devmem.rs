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
use crate::ffi::{
    p2pmm_alloc_page_locked, p2pmm_bar_copy_bar, p2pmm_bar_copy_from_page, p2pmm_bar_copy_to_page,
    p2pmm_bar_map, p2pmm_bar_unmap, p2pmm_bar_zero, p2pmm_devmem_add, p2pmm_devmem_remove,
    p2pmm_devpage_init, p2pmm_folio_page, p2pmm_kaddr_page, p2pmm_p2p_window_alloc,
    p2pmm_p2p_window_free, p2pmm_page_pgmap, p2pmm_page_to_pfn, p2pmm_pfn_to_page,
    p2pmm_vm_fault_oom, p2pmm_vm_fault_sigbus, p2pmm_vmf_address, p2pmm_vmf_page, p2pmm_vmf_vma,
};
use crate::managed_dmabuf::{BufferGate, BufferMemory};
use crate::migrate::{evict_pfns, evict_pfns_with, MigrateVma, Select};
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
}

/// The largest fault-around window, in pages ([`SlotHandler::fault_around_pages`]).
pub const MAX_FAULT_AROUND: usize = 64;

/// Where a page to be migrated into a [`BarDevmem`] is now.
///
/// # Examples
///
/// The `place` closure of [`BarDevmem::migrate_in`] sees where each page is: here it gives a slot
/// to pages in system memory or on a peer, and leaves alone pages already in this memory and empty
/// ones, which have nothing to copy yet (compile-only, as for [`BarDevmem`]: it needs a bound
/// device with a BAR).
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
///         |_addr, source| match source {
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
    /// For each page, `place(addr, source)` returns the slot to copy it to (a slot it reserved), or
    /// `None` to leave the page where it is; `placed(addr, slot)` then reports each page that moved
    /// (and the source slot's handler hears [`SlotHandler::moved_out`]). A slot whose page did not
    /// move is released through [`SlotHandler::slot_freed`] when core mm drops it. `peers` are
    /// every device memory of this owner (pages found on one of them are copied BAR to BAR).
    /// Returns the number of pages moved.
    pub fn migrate_in(
        &self,
        vma: &VmaRef,
        start: usize,
        end: usize,
        peers: &[&Self],
        mut place: impl FnMut(usize, &Source<'_, T>) -> Option<u32>,
        mut placed: impl FnMut(usize, u32),
    ) -> Result<usize> {
        let mut m = MigrateVma::setup(vma, start, end, self.owner, Select::Any, false)?;
        let mut slots = KVec::<(usize, u32, Option<(&Self, u32)>)>::new();
        slots.reserve((end - start) / PAGE_SIZE, GFP_KERNEL)?;
        // BAR-to-BAR copies wait here until every destination is chosen: done at once, by a copy
        // engine where one is lent, before core mm maps the new pages.
        let mut batch = Batch::with_capacity((end - start) / PAGE_SIZE)?;
        let fill = |m: &MigrateVma, i: usize, spage: Option<*mut c_void>| {
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
            let Some(slot) = place(addr, &source) else {
                return Ok(None);
            };
            if slot as usize >= self.npages {
                return Err(EINVAL);
            }
            let dst = self.slot_io(slot);
            // The source page is isolated and locked by the migration until it ends; a remote
            // slot is a live window's page. SAFETY: `dst` is one page of our BAR window (checked
            // above), the sources are valid (see above), and only this migration writes `dst`.
            unsafe {
                match (&source, spage) {
                    (Source::Empty, _) => p2pmm_bar_zero(dst),
                    (Source::Device(mem, s), _) => batch.push(
                        dst,
                        mem.slot_io(*s),
                        self.window_pages(slot, mem, *s),
                        self.engine_with(mem),
                    )?,
                    (Source::System, Some(p)) => p2pmm_bar_copy_from_page(dst, p),
                    (Source::System, None) => p2pmm_bar_zero(dst),
                }
            }
            let page = self.slot_page(slot);
            // The slot was free (the caller reserved it): initialising gives its page the one
            // reference the migration takes over. SAFETY: The page has no user (see above).
            unsafe { p2pmm_devpage_init(page, core::ptr::null_mut(), 0) };
            slots
                .push_within_capacity((i, slot, remote))
                .map_err(|_| ENOMEM)?;
            Ok(Some(page))
        };
        // SAFETY: Each page `fill` returns is a free slot's page, initialised with the one
        // reference the migration takes over, not mapped, holding the source's data (or zeroes)
        // once the batch is flushed, before `pages`.
        unsafe { m.fill(fill) }?;
        self.flush(&mut batch);
        m.pages();
        let mut n = 0;
        for &(i, slot, from) in slots.iter() {
            if m.moved(i) {
                placed(start + i * PAGE_SIZE, slot);
                if let Some((mem, s)) = from {
                    mem.handler.moved_out(s);
                }
                n += 1;
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
    pub fn migrate_out(
        vma: &VmaRef,
        start: usize,
        end: usize,
        owner: usize,
        peers: &[&Self],
    ) -> Result<usize> {
        let mut m = MigrateVma::setup(vma, start, end, owner, Select::DevicePrivate, false)?;
        let mut from = KVec::<(usize, &Self, u32)>::new();
        from.reserve((end - start) / PAGE_SIZE, GFP_KERNEL)?;
        let fill = |m: &MigrateVma, i: usize, spage: Option<*mut c_void>| {
            let Some(spage) = spage else { return Ok(None) };
            // SAFETY: `spage` is a page isolated and locked by the migration.
            let pfn = unsafe { p2pmm_page_to_pfn(spage) } as usize;
            let Some((mem, slot)) = peers
                .iter()
                .find_map(|mem| mem.slot_of_pfn(pfn).map(|s| (*mem, s)))
            else {
                return Ok(None);
            };
            let dst = m.alloc_system_page(i).ok_or(ENOMEM)?;
            // SAFETY: `dst` is a fresh locked system page; the slot is one page of `mem`'s window.
            unsafe { p2pmm_bar_copy_to_page(dst, mem.slot_io(slot)) };
            from.push_within_capacity((i, mem, slot))
                .map_err(|_| ENOMEM)?;
            Ok(Some(dst))
        };
        // SAFETY: Each page `fill` returns is a new locked system page holding the slot's data.
        unsafe { m.fill(fill) }?;
        m.pages();
        let mut n = 0;
        for &(i, mem, slot) in from.iter() {
            if m.moved(i) {
                mem.handler.moved_out(slot);
                n += 1;
            }
        }
        m.finalize();
        Ok(n)
    }

    /// Evicts the pages of `slots` to system memory (`migrate_device_pfns`); pages that are free or
    /// busy stay. Returns how many moved. Their slots come back through
    /// [`SlotHandler::slot_freed`].
    pub fn evict(&self, slots: &[u32]) -> Result<usize> {
        let mut pfns = KVec::with_capacity(slots.len(), GFP_KERNEL)?;
        for &s in slots {
            if (s as usize) < self.npages {
                pfns.push(self.first_pfn + s as usize, GFP_KERNEL)?;
            }
        }
        let copy = |dev: *mut c_void, sys: *mut c_void| {
            // SAFETY: `dev` is our page (a slot's PFN), isolated by the eviction; `sys` is a fresh
            // locked system page.
            unsafe {
                let pfn = p2pmm_page_to_pfn(dev) as usize;
                p2pmm_bar_copy_to_page(sys, self.slot_io((pfn - self.first_pfn) as u32));
            }
        };
        // SAFETY: `pfns` are our slots' pages (checked against `npages` above), alive while `self`
        // is; `copy` copies each slot's data.
        unsafe { evict_pfns(&pfns, copy) }
    }

    /// Evicts the pages of `slots` into `dest` (another device memory, reachable from this one) as
    /// far as it has room, and the rest to system memory, in one migration: `alloc(i)` gives a free
    /// slot of `dest` for the page of `slots[i]`, or `None` when `dest` is full or the page must
    /// not go there (it goes to system memory), and `placed(i, slot)` reports each page that
    /// arrived in `dest`. The data is copied BAR to BAR, or BAR to the new system page. Returns how
    /// many pages moved into `dest` and how many into system memory; their old slots come back
    /// through [`SlotHandler::slot_freed`], and a reserved `dest` slot whose page did not move
    /// through `dest`'s.
    pub fn evict_to<'a>(
        &'a self,
        slots: &[u32],
        dest: &'a Self,
        mut alloc: impl FnMut(usize) -> Option<u32>,
        mut placed: impl FnMut(usize, u32),
    ) -> Result<(usize, usize)> {
        let mut pfns = KVec::with_capacity(slots.len(), GFP_KERNEL)?;
        // For each PFN, the index of its victim in `slots` and the `dest` slot it got.
        let mut to = KVec::with_capacity(slots.len(), GFP_KERNEL)?;
        for (i, &s) in slots.iter().enumerate() {
            if (s as usize) < self.npages {
                pfns.push(self.first_pfn + s as usize, GFP_KERNEL)?;
                to.push((i, None), GFP_KERNEL)?;
            }
        }
        // BAR-to-BAR copies are done together before core mm maps the new pages, by a copy engine
        // where one is lent.
        let mut batch = Batch::<'a>::with_capacity(slots.len())?;
        let dest_of = |batch: &mut Batch<'a>, i: usize, dev: *mut c_void| {
            // SAFETY: `dev` is our page (a slot's PFN), isolated by the eviction.
            let pfn = unsafe { p2pmm_page_to_pfn(dev) } as usize;
            let from_slot = (pfn - self.first_pfn) as u32;
            let from = self.slot_io(from_slot);
            let Some(slot) = alloc(to[i].0).filter(|&slot| (slot as usize) < dest.npages) else {
                // `dest` is full: system memory. Small allocations never fail (`__GFP_NOFAIL`).
                // SAFETY: Plain allocation; the new page is locked and ours, `from` is our slot's
                // BAR memory.
                let sys = unsafe { p2pmm_alloc_page_locked(0) };
                if sys.is_null() {
                    return None;
                }
                // SAFETY: See above.
                unsafe { p2pmm_bar_copy_to_page(sys, from) };
                return Some(sys);
            };
            // The destination slot was free (the caller reserved it), so its page has no user, and
            // initialising gives it the one reference the migration takes over. SAFETY: `from` is
            // our isolated page's BAR memory until the eviction ends; the destination page is
            // unused (see above), only this eviction writes it.
            unsafe {
                let to_io = dest.slot_io(slot);
                let pages = dest.window_pages(slot, self, from_slot);
                if batch
                    .push(to_io, from, pages, dest.engine_with(self))
                    .is_err()
                {
                    p2pmm_bar_copy_bar(to_io, from);
                }
                let page = dest.slot_page(slot);
                p2pmm_devpage_init(page, core::ptr::null_mut(), 0);
                to[i].1 = Some(slot);
                Some(page)
            }
        };
        // SAFETY: `pfns` are our slots' pages, alive while `self` is; each page `dest_of` returns
        // holds the data of the page it is offered for once the batch is flushed: a new locked
        // system page, or a free slot of `dest` initialised with one reference.
        let moved = unsafe { evict_pfns_with(&pfns, &mut batch, dest_of, |b| dest.flush(b)) }?;
        let (mut into_dest, mut into_system) = (0, 0);
        for (i, m) in moved.iter().enumerate() {
            match (*m, to[i]) {
                (true, (victim, Some(slot))) => {
                    placed(victim, slot);
                    into_dest += 1;
                }
                (true, (_, None)) => into_system += 1,
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
            me.handler.slot_freed(slot);
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
        let (start, end) = crate::placement::fault_around_window(
            addr,
            me.handler.fault_around_pages(),
            MAX_FAULT_AROUND,
            PAGE_SIZE,
            vm_start,
            vm_end,
        );
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
                false,
                page,
            )
        };
        let Ok(mut m) = m else {
            // SAFETY: A constant of the kernel.
            return unsafe { p2pmm_vm_fault_sigbus() };
        };
        let mut slots = [None; MAX_FAULT_AROUND];
        let fill = |m: &MigrateVma, i: usize, spage: Option<*mut c_void>| {
            let Some(spage) = spage else { return Ok(None) };
            // SAFETY: `spage` is a page the migration isolated and locked.
            let pfn = unsafe { p2pmm_page_to_pfn(spage) } as usize;
            // Another provider's page (all share the owner) stays where it is, and so does a
            // neighbour the handler keeps on the device.
            let Some(s) = me.slot_of_pfn(pfn) else {
                return Ok(None);
            };
            if i != touched && !me.handler.may_come_back_with_neighbour(s) {
                return Ok(None);
            }
            let Some(dst) = m.alloc_system_page(i) else {
                // Short of memory: the touched page must move, a neighbour may stay.
                return if i == touched { Err(ENOMEM) } else { Ok(None) };
            };
            // SAFETY: `dst` is a new locked system page, the slot's BAR memory is the isolated
            // page's data.
            unsafe { p2pmm_bar_copy_to_page(dst, me.slot_io(s)) };
            slots[i] = Some(s);
            Ok(Some(dst))
        };
        // SAFETY: Each page `fill` returns is a new locked system page holding the slot's data.
        let filled = unsafe { m.fill(fill) };
        if filled.is_err() {
            // SAFETY: A constant of the kernel.
            return unsafe { p2pmm_vm_fault_oom() };
        }
        m.pages();
        for (i, slot) in slots.iter().enumerate() {
            if let (true, Some(s)) = (m.moved(i), slot) {
                me.handler.moved_out(*s);
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
                match self.evict(&batch[..n]) {
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
