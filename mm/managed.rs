// SPDX-License-Identifier: GPL-2.0

//! Managed memory: capacity-bounded device memory in a BAR (`bind/bar_devmem.rs`) whose pages
//! p2pmm places, evicts and moves, and the state of its slots, which the portable eviction policy
//! keeps (`core/src/eviction.rs`: a CLOCK with pins, preferred pages and a minimum residency), with
//! the cgroups holding pages (`tenants.rs`) and the watermarks of background reclaim.
//!
//! This file knows one provider's memory only. Moving a process's range is `migration.rs`, making
//! room (into peers or system memory) `evictor.rs`, background reclaim `reclaim.rs`, where a range
//! is `residency.rs`, and advice on resident pages `resident_advice.rs`: they sit above the
//! provider, which holds this memory.
//!
//! Moving a page always goes through core mm's migration, which unmaps it from the process and from
//! every importer first (an `MMU_NOTIFY_MIGRATE` invalidation to each mirror of the range), so
//! peers re-fault and find the new location: p2pmm never has to track who maps a page.
//!
//! Lock order: mmap lock -> page lock -> [`Slots`]' `clock`, `tenants` or `watermarks` (spinlocks,
//! the first two also taken from `folio_free` in any context; never two at once). None is held
//! across a migration or an eviction, and never two providers' at once (an eviction into a peer
//! takes the peer's locks only while its own are released).

use crate::{
    bar_devmem::{BarDevmem, SlotHandler},
    dmem::{self, Limit},
    eviction::{Clock, SlotError, SlotInfo},
    reclaim_queue::queue,
    stats::Stats,
    tenants::{TenantInfo, Tenants},
    thrash::Limits,
    watermarks::Watermarks,
};
use kernel::{
    device, impl_has_work, new_spinlock, new_work, pci,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, SpinLock, SpinLockGuard,
    },
    time::{Instant, Monotonic},
    uaccess::UserPtr,
    workqueue::Work,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Pages moved per `migrate_vma` call: bounds the migration arrays and how much is evicted at once.
pub const CHUNK_PAGES: usize = 256;

/// p2pmm's `pgmap_owner`: one identity for every managed provider, so one migration finds pages on
/// any of them.
static OWNER: u8 = 0;

/// The `pgmap_owner` of p2pmm's device memory.
pub fn owner() -> usize {
    core::ptr::from_ref(&OWNER) as usize
}

/// The slots of a managed provider: the eviction policy's state, under a spinlock.
#[pin_data]
pub struct Slots {
    #[pin]
    clock: SpinLock<Clock>,
    #[pin]
    tenants: SpinLock<Tenants>,
    #[pin]
    watermarks: SpinLock<Watermarks>,
    /// Background reclaim (`reclaim.rs`, which implements the work item), queued when a move
    /// leaves fewer free pages than the low watermark.
    #[pin]
    work: Work<Slots>,
    /// Moves of a range into this provider within the thrash window that make it thrash (0: off).
    thrash_moves: Atomic<u32>,
    /// Slots migrations into this memory made room for and have not filled yet ([`Incoming`]).
    incoming: Atomic<u32>,
    stats: Arc<Stats>,
    epoch: Instant<Monotonic>,
}

impl_has_work! {
    impl HasWork<Self> for Slots { self.work }
}

impl Slots {
    fn new(capacity: u32, stats: Arc<Stats>) -> Result<Arc<Self>> {
        // A page stays at least this long where it was moved before it may be evicted: damps
        // ping-pong between providers, as drm_pagemap's `timeslice_ms` does. Short by default: the
        // tests oversubscribe on purpose.
        let min_residency = u64::from(crate::module_parameters::min_residency_us.value());
        let clock = Clock::new(capacity, min_residency).map_err(|_| ENOMEM)?;
        let tenants = Tenants::new()?;
        let watermarks = Watermarks::from_permille(
            capacity,
            crate::module_parameters::watermark_low_permille.value(),
            crate::module_parameters::watermark_high_permille.value(),
            CHUNK_PAGES as u32,
        );
        Arc::pin_init(
            pin_init!(Self {
                clock <- new_spinlock!(clock, "p2pmm_slots"),
                tenants <- new_spinlock!(tenants, "p2pmm_tenants"),
                watermarks <- new_spinlock!(watermarks, "p2pmm_watermarks"),
                work <- new_work!("p2pmm_reclaim"),
                thrash_moves: Atomic::new(crate::module_parameters::thrash_moves.value()),
                incoming: Atomic::new(0),
                stats,
                epoch: Instant::now(),
            }),
            GFP_KERNEL,
        )
    }

    /// Microseconds since the provider was created: the policy's clock (the clock keeps 32 bits
    /// of it, 71 minutes, which is plenty for a residency of a few milliseconds).
    pub fn now(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() / 1000) as u64
    }
}

impl SlotHandler for Arc<Slots> {
    fn slot_freed(&self, slot: u32) {
        let tenant = {
            let mut clock = self.clock.lock();
            // The page is gone, whoever pinned it: pins of a freed page (its range was unmapped)
            // go with it.
            let _ = clock.clear_pins(slot);
            // A slot already free is core mm freeing a page it never gave us (cannot happen);
            // nothing to undo.
            clock.release(slot).unwrap_or(0)
        };
        self.tenants.lock().release(tenant);
    }

    fn moved_out(&self, _slot: u32) {
        // Moving a page out unmaps it from the process and every importer.
        Stats::add(&self.stats.migrated_out, 1);
        Stats::add(&self.stats.invalidations, 1);
    }

    fn fault_around_pages(&self) -> usize {
        crate::module_parameters::cpu_fault_around_pages.value() as usize
    }

    fn may_come_back_with_neighbour(&self, slot: u32) -> bool {
        // A pinned page stays on the device unless the CPU touches it itself.
        !self.clock.lock().is_pinned(slot)
    }

    fn copied(&self, by_engine: usize, by_cpu: usize) {
        Stats::add(&self.stats.copied_by_engine, by_engine as u64);
        Stats::add(&self.stats.copied_by_cpu, by_cpu as u64);
    }

    fn hold(&self, slot: u32) -> Result {
        // A device's pin, counted: the policy never picks the page while one is held.
        self.clock.lock().pin(slot).map_err(|e| match e {
            SlotError::Busy | SlotError::PinCount => EBUSY,
            _ => EINVAL,
        })
    }

    fn release(&self, slot: u32) {
        let _ = self.clock.lock().unpin(slot);
    }

    fn claim_folio(&self, first: u32, pages: u32) -> bool {
        // The whole folio goes if none of its pages is pinned (as for any victim).
        self.clock.lock().claim_run(first, pages)
    }

    fn unclaim(&self, slot: u32) {
        let _ = self.clock.lock().cancel_eviction(slot);
    }

    fn holds_page(&self, slot: u32) -> bool {
        !self.clock.lock().is_free(slot)
    }
}

/// The device memory of a managed provider.
pub type Memory = BarDevmem<Arc<Slots>>;

/// Free slots a migration keeps for its pages ([`Managed::reserve_incoming`]), until dropped.
pub struct Incoming<'a> {
    slots: &'a Slots,
    pages: u32,
}

impl Drop for Incoming<'_> {
    fn drop(&mut self) {
        self.slots.incoming.fetch_sub(self.pages, ordering::Relaxed);
    }
}

/// A managed provider's memory and slots.
pub struct Managed {
    mem: Pin<KBox<Memory>>,
    slots: Arc<Slots>,
}

impl Managed {
    /// Managed memory over `len` bytes of `bar` of `pdev` from `offset`, counting into `stats`.
    pub fn new(
        pdev: &pci::Device<device::Bound>,
        bar: u32,
        offset: u64,
        len: u64,
        stats: Arc<Stats>,
    ) -> Result<Self> {
        let pages = u32::try_from(len / PAGE_SIZE as u64).map_err(|_| EINVAL)?;
        let slots = Slots::new(pages, stats)?;
        let mem = KBox::pin_init(
            BarDevmem::new(pdev, bar, offset, len, owner(), slots.clone()),
            GFP_KERNEL,
        )?;
        Ok(Self { mem, slots })
    }

    /// Bytes of device memory.
    pub fn capacity(&self) -> u64 {
        (self.mem.slots() * PAGE_SIZE) as u64
    }

    /// Bytes in use (slots holding a page or being filled).
    pub fn used(&self) -> u64 {
        u64::from(self.slots.clock.lock().used()) * PAGE_SIZE as u64
    }

    /// The device memory.
    pub fn memory(&self) -> &Memory {
        &self.mem
    }

    /// The state of up to `out.len()` slots from `first` on, copied out of the clock under its
    /// lock (for debugfs, which prints them after the lock is dropped). Returns how many.
    pub fn slot_infos(&self, first: u32, out: &mut [(u32, SlotInfo)]) -> usize {
        let clock = self.slots.clock.lock();
        let mut n = 0;
        for (o, slot) in out.iter_mut().zip(first..clock.capacity()) {
            if let Some(info) = clock.slot_info(slot) {
                *o = (slot, info);
                n += 1;
            }
        }
        n
    }

    /// Slots in use, whole free 2 MiB chunks of slots and the bytes of bookkeeping behind the
    /// slots, under one lock.
    pub fn slot_summary(&self) -> (u32, u32, usize) {
        let clock = self.slots.clock.lock();
        (clock.used(), clock.whole_free_chunks(), clock.heap_bytes())
    }

    /// The cgroups holding pages here (at most `out.len()`); returns how many.
    pub fn tenant_infos(&self, out: &mut [TenantInfo]) -> usize {
        self.slots.tenants.lock().infos(out)
    }

    /// The CLOCK hand's position.
    pub fn hand(&self) -> u32 {
        self.slots.clock.lock().hand()
    }

    /// The policy's current time (µs since the provider was created).
    pub fn now(&self) -> u64 {
        self.slots.now()
    }

    /// The watermarks, in pages.
    pub fn watermarks(&self) -> Watermarks {
        *self.slots.watermarks.lock()
    }

    /// Sets the low watermark (`low`) or the high one to `bytes`, rounded down to pages: `EINVAL`
    /// for a low watermark above the high one or a high one below the low one or above the
    /// capacity. A provider already below its new low watermark starts background reclaim.
    pub fn set_watermark(&self, low: bool, bytes: u64) -> Result {
        let pages = bytes / PAGE_SIZE as u64;
        let capacity = u32::try_from(self.mem.slots()).map_err(|_| EINVAL)?;
        {
            let mut w = self.slots.watermarks.lock();
            if low {
                w.set_low(pages)
            } else {
                w.set_high(pages, capacity)
            }
        }
        .map_err(Error::from)?;
        self.start_reclaim_if_low();
        Ok(())
    }

    /// A device used the page in `slot` (a block transfer reached it): the eviction policy gives it
    /// a second chance. A slot that holds no page (freed meanwhile) is left alone.
    pub fn touch(&self, slot: u32) {
        let _ = self.slots.clock.lock().touch(slot);
    }

    /// Moves of a range into this provider within the thrash window that make it thrash (0: off).
    pub fn thrash_moves(&self) -> u32 {
        self.slots.thrash_moves.load(ordering::Relaxed)
    }

    /// Sets [`Managed::thrash_moves`].
    pub fn set_thrash_moves(&self, moves: u32) {
        self.slots.thrash_moves.store(moves, ordering::Relaxed);
    }

    /// When a range thrashes on its way into this provider, and how long it is held back (µs).
    pub fn thrash_limits(&self) -> Limits {
        let ms = |v: u32| u64::from(v) * 1000;
        Limits {
            moves: self.thrash_moves(),
            window: ms(crate::module_parameters::thrash_window_ms.value()),
            backoff: ms(crate::module_parameters::thrash_backoff_ms.value()),
        }
    }

    /// Queues background reclaim if fewer pages are free than the low watermark (nothing if it is
    /// queued already: the queued run will see the new state).
    pub fn start_reclaim_if_low(&self) {
        let free = self.free_slots() as u32;
        if self.slots.watermarks.lock().should_start(free) {
            if let Some(q) = queue() {
                // Already queued: the item comes back, and the reference with it.
                let _ = q.enqueue(self.slots.clone());
            }
        }
    }

    /// Pages background reclaim should evict now to have the high watermark free (0: none), and
    /// whether it should start at all (below the low watermark).
    pub fn reclaim_wanted(&self) -> (usize, bool) {
        let free = self.free_slots() as u32;
        let w = self.slots.watermarks.lock();
        (w.to_reclaim(free) as usize, w.should_start(free))
    }

    /// The slots' CLOCK (the eviction policy's state), locked.
    pub fn clock(&self) -> SpinLockGuard<'_, Clock> {
        self.slots.clock.lock()
    }

    /// The cgroups holding pages here, locked.
    pub fn tenants(&self) -> SpinLockGuard<'_, Tenants> {
        self.slots.tenants.lock()
    }

    /// Whether `slots` are this memory's (background reclaim finds its provider by them).
    pub fn has_slots(&self, slots: &Slots) -> bool {
        core::ptr::eq(&*self.slots, slots)
    }

    /// Sets or clears the pin of pinning advice on a slot's page (one however often the advice is
    /// given; a device's pins, [`SlotHandler::hold`], are apart and stay).
    pub fn set_slot_pinned(&self, slot: u32, pin: bool) {
        let _ = self.slots.clock.lock().set_advice_pin(slot, pin);
    }

    /// Picks up to `want` victims into `out` among the pages eviction may take (with `limit`: only
    /// that cgroup's own), sparing pages within their cgroup's `dmem.low` while others can go.
    pub fn pick(&self, want: usize, limit: Option<&Limit>, out: &mut [u32]) -> usize {
        let now = self.slots.now();
        let (mask, hit_low) = self.slots.tenants.lock().evictable(limit, false);
        let (mut n, mut pinned) = {
            let mut clock = self.slots.clock.lock();
            let n = clock.pick_victims_of(want, now, out, &mask);
            (n, clock.take_pinned_passed())
        };
        if n < want && hit_low {
            let (mask, _) = self.slots.tenants.lock().evictable(limit, true);
            let mut clock = self.slots.clock.lock();
            n += clock.pick_victims_of(want - n, now, &mut out[n..], &mask);
            pinned += clock.take_pinned_passed();
        }
        Stats::add(&self.slots.stats.evictions_skipped_pinned, pinned);
        n
    }

    /// A slot for a page the caller moves in, charged to the caller's cgroup in `region` (this
    /// memory's provider's); `None` when the provider is full, the cgroup is at its `dmem.max`, or
    /// 255 other cgroups hold pages here.
    pub fn alloc_charged_slot(&self, region: Option<&dmem::Region>) -> Option<u32> {
        let tenant = match region {
            None => 0,
            Some(r) => {
                let c = r.try_charge(PAGE_SIZE as u64).ok()?;
                self.slots.tenants.lock().add(c).ok()?
            }
        };
        self.take_slot(tenant)
    }

    /// A naturally aligned chunk of 512 free slots for a 2 MiB folio the caller moves in, its pages
    /// charged to the caller's cgroup in `region` as [`Self::alloc_charged_slot`] charges one: its
    /// first slot, or `None` (nothing charged) when no chunk is entirely free or the cgroup cannot
    /// take the 512 charges.
    pub fn alloc_charged_chunk(&self, region: Option<&dmem::Region>) -> Option<u32> {
        const PAGES: usize = crate::free_chunks::CHUNK_SLOTS as usize;
        if !self.mem.holds_large_folios() || self.slots.clock.lock().whole_free_chunks() == 0 {
            return None;
        }
        let Some(r) = region else {
            return self.take_chunk(0);
        };
        let mut charged = KVec::with_capacity(PAGES, GFP_KERNEL).ok()?;
        while charged.len() < PAGES {
            let tenant = r
                .try_charge(PAGE_SIZE as u64)
                .ok()
                .and_then(|c| self.slots.tenants.lock().add(c).ok());
            match tenant {
                // Within the capacity reserved above.
                Some(t) => drop(charged.push_within_capacity(t)),
                None => {
                    self.refund(&charged);
                    return None;
                }
            }
        }
        // One cgroup's charges: one tenant.
        let first = self.take_chunk(charged[0]);
        if first.is_none() {
            self.refund(&charged);
        }
        first
    }

    /// A slot for a page of `tenant` (already charged), or `None` (and the charge is given back).
    pub fn take_slot(&self, tenant: u8) -> Option<u32> {
        let slot = self.slots.clock.lock().alloc_slot_for(tenant);
        if slot.is_none() {
            self.slots.tenants.lock().release(tenant);
        }
        slot
    }

    /// A naturally aligned chunk of 512 free slots for a 2 MiB folio of `tenant` (whose 512
    /// charges the caller holds): its first slot, or `None` when no chunk is entirely free (the
    /// charges stay the caller's).
    pub fn take_chunk(&self, tenant: u8) -> Option<u32> {
        if !self.mem.holds_large_folios() {
            return None;
        }
        self.slots.clock.lock().alloc_chunk_for(tenant)
    }

    /// Exports a dma-buf of managed memory named after provider `id` (`managed_dmabuf.rs`): one
    /// slot for each charge in `tenants` (taken from it as the slots are), zeroed, and stores its
    /// descriptor at `fd_out`. `ENOSPC` when too few slots are free; the charges still in `tenants`
    /// are the caller's to refund.
    pub fn export_dmabuf(
        &self,
        id: u32,
        tenants: &mut KVec<u8>,
        cloexec: bool,
        fd_out: UserPtr,
    ) -> Result {
        let mut slots = KVVec::with_capacity(tenants.len(), GFP_KERNEL)?;
        let mut r = Ok(());
        while let Some(tenant) = tenants.pop() {
            // `take_slot` gives the charge back when there is no slot.
            match self.take_slot(tenant) {
                Some(slot) => slots.push_within_capacity(slot).map_err(|_| ENOMEM)?,
                None => {
                    r = Err(ENOSPC);
                    break;
                }
            }
        }
        if r.is_ok() {
            // SAFETY: `take_slot` reserved each slot just now for this caller alone: no page is
            // in it, and the policy never picks a reserved slot.
            r = unsafe { self.mem.export_dmabuf(id, &slots, cloexec, fd_out) };
        }
        if r.is_err() {
            for &slot in slots.iter() {
                self.slots.slot_freed(slot);
            }
        }
        r
    }

    /// Gives back charges from `evictor::prepay` that no page used.
    pub fn refund(&self, tenants: &[u8]) {
        let mut t = self.slots.tenants.lock();
        for &tenant in tenants {
            t.release(tenant);
        }
    }

    /// Keeps `pages` free slots for a migration into this memory until the returned guard goes:
    /// the room it makes must not be taken by a peer's victims before its own pages arrive (a
    /// peer that the room-making eviction filled would otherwise put its background victims back
    /// here, a loop).
    pub fn reserve_incoming(&self, pages: usize) -> Incoming<'_> {
        let pages = u32::try_from(pages).unwrap_or(u32::MAX);
        self.slots.incoming.fetch_add(pages, ordering::Relaxed);
        Incoming {
            slots: &self.slots,
            pages,
        }
    }

    /// Free slots a peer's eviction may fill: those no migration into this memory reserved.
    pub fn free_for_peers(&self) -> usize {
        let incoming = self.slots.incoming.load(ordering::Relaxed) as usize;
        self.free_slots().saturating_sub(incoming)
    }

    /// Slots with no page.
    pub fn free_slots(&self) -> usize {
        let clock = self.slots.clock.lock();
        (clock.capacity() - clock.used()) as usize
    }
}
