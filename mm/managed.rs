// SPDX-License-Identifier: GPL-2.0

//! Managed providers: capacity-bounded device memory in a BAR (`bind/bar_devmem.rs`) whose pages
//! p2pmm places, evicts and moves, following the portable eviction policy (`core/src/eviction.rs`,
//! a CLOCK with pins, preferred pages and a minimum residency).
//!
//! Moving a page always goes through core mm's migration, which unmaps it from the process and from
//! every importer first (an `MMU_NOTIFY_MIGRATE` invalidation to each mirror of the range), so
//! peers re-fault and find the new location: p2pmm never has to track who maps a page.
//!
//! Lock order: mmap lock -> page lock -> [`Slots::clock`], [`Slots::tenants`] or
//! [`Slots::watermarks`] (spinlocks, the first two also taken from `folio_free` in any context;
//! never two at once). None is held across a migration or an eviction, and never two providers' at
//! once (an eviction into a peer takes the peer's locks only while its own are released).
//!
//! Below its low watermark, a provider's background reclaim (`reclaim.rs`) evicts until its high
//! watermark is free, with the same policy and destinations as a direct eviction, except that a
//! peer takes background victims only into what it has free beyond its own high watermark
//! (`core/src/watermarks.rs`: so background reclaim never cascades in a loop).
//!
//! Pages are charged to the dmem cgroup of the process that moves them in (`tenants.rs`): an
//! eviction spares what `dmem.min` and `dmem.low` protect, and a migration over the caller's
//! `dmem.max` first evicts the caller's own pages. A victim goes into a peer only when the
//! evicting process is of the victim's cgroup (the controller charges only the caller's cgroup);
//! other tenants' victims go to system memory.
//!
//! The decisions are `core/src/placement.rs`'s; this file carries them out. Where victims go: into
//! the peer provider with the most room that this provider's device reaches by a direct plan
//! (p2pdma's verdict under the administrator's route policy, `Provider::route_to`), as many as fit
//! and only those whose `ACCESSED_BY` devices reach that peer directly too; the rest to system
//! memory. A CPU fault brings back the touched page's unpinned neighbours of its aligned window
//! (`cpu_fault_around_pages`).

use crate::{
    advice::{Advice, AdviceFlags, ProviderSet},
    bar_devmem::{BarDevmem, SlotHandler, Source},
    dmem::{self, ChargeError, Group, Limit},
    errno::Errno,
    eviction::{Clock, SlotInfo, TenantMask},
    hmm::{fault_and_commit, HmmRange, PageKind, Request},
    location::{Location, ProviderId},
    migrate::for_each_mapped_piece,
    notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
    pci_p2p,
    placement::{self, Eviction, PeerCandidate, Victim},
    provider::{Kind, Provider, Stats},
    range_index::Entry,
    route::PLAN_DIRECT,
    tenants::{TenantInfo, Tenants},
    thrash::{Limits, ThrashTable},
    trace,
    watermarks::Watermarks,
};
use kernel::{
    device, impl_has_work,
    mm::MmWithUser,
    new_spinlock, new_work, pci,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc, Mutex, SpinLock,
    },
    time::{Instant, Monotonic},
    workqueue::Work,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Pages moved per `migrate_vma` call: bounds the migration arrays and how much is evicted at once.
const CHUNK_PAGES: usize = 256;

/// How often a placement query retries after racing an invalidation.
const QUERY_RETRIES: u32 = 1000;

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
    /// Background reclaim (`reclaim.rs`), queued when a move leaves fewer free pages than the low
    /// watermark.
    #[pin]
    pub(crate) work: Work<Slots>,
    /// Moves of a range into this provider within the thrash window that make it thrash (0: off).
    thrash_moves: Atomic<u32>,
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
        );
        Arc::pin_init(
            pin_init!(Self {
                clock <- new_spinlock!(clock, "p2pmm_slots"),
                tenants <- new_spinlock!(tenants, "p2pmm_tenants"),
                watermarks <- new_spinlock!(watermarks, "p2pmm_watermarks"),
                work <- new_work!("p2pmm_reclaim"),
                thrash_moves: Atomic::new(crate::module_parameters::thrash_moves.value()),
                stats,
                epoch: Instant::now(),
            }),
            GFP_KERNEL,
        )
    }

    /// Microseconds since the provider was created: the policy's clock (the clock keeps 32 bits
    /// of it, 71 minutes, which is plenty for a residency of a few milliseconds).
    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_nanos() / 1000) as u64
    }
}

impl SlotHandler for Arc<Slots> {
    fn slot_freed(&self, slot: u32) {
        let tenant = {
            let mut clock = self.clock.lock();
            // The page is gone, whoever pinned it: pins of a freed page (its range was unmapped)
            // go with it.
            while clock.is_pinned(slot) {
                if clock.unpin(slot).is_err() {
                    break;
                }
            }
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
}

/// The device memory of a managed provider.
pub type Memory = BarDevmem<Arc<Slots>>;

/// A managed provider's memory and slots.
pub struct Managed {
    mem: Pin<KBox<Memory>>,
    slots: Arc<Slots>,
}

/// What a migration did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moved {
    /// Pages that moved to the target.
    pub migrated: u64,
    /// Pages evicted from the target to make room.
    pub evicted: u64,
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

    /// Slots in use and the bytes of bookkeeping behind the slots, under one lock.
    pub fn slot_summary(&self) -> (u32, usize) {
        let clock = self.slots.clock.lock();
        (clock.used(), clock.heap_bytes())
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
    fn thrash_limits(&self) -> Limits {
        let ms = |v: u32| u64::from(v) * 1000;
        Limits {
            moves: self.thrash_moves(),
            window: ms(crate::module_parameters::thrash_window_ms.value()),
            backoff: ms(crate::module_parameters::thrash_backoff_ms.value()),
        }
    }

    /// Queues background reclaim if fewer pages are free than the low watermark.
    fn start_reclaim_if_low(&self) {
        let free = self.free_slots() as u32;
        if self.slots.watermarks.lock().should_start(free) {
            crate::reclaim::start(self.slots.clone());
        }
    }

    /// Whether `slots` are this memory's (background reclaim finds its provider by them).
    pub fn has_slots(&self, slots: &Slots) -> bool {
        core::ptr::eq(&*self.slots, slots)
    }

    /// One round of background reclaim of this memory (`target` is its provider): evicts what the
    /// policy picks until the high watermark is free. Returns the free pages before and after and
    /// how many pages were evicted; `None` when the provider was not below its low watermark.
    pub fn reclaim(&self, target: &Provider, all: &[Arc<Provider>]) -> Option<(u32, u32, u64)> {
        let before = self.free_slots() as u32;
        if !self.slots.watermarks.lock().should_start(before) {
            return None;
        }
        let mut evicted = 0u64;
        let mut idle = 0;
        loop {
            let free = self.free_slots() as u32;
            let want = self.slots.watermarks.lock().to_reclaim(free) as usize;
            if want == 0 || !crate::reclaim::still_listed(target) {
                break;
            }
            match self.evict(target, all, want.min(CHUNK_PAGES), None, true) {
                Ok(0) | Err(_) => {
                    // What is left is pinned, protected by its cgroup, busy or too young to move:
                    // young pages age, so look again a few times, a residency apart.
                    idle += 1;
                    if idle > crate::reclaim::IDLE_ROUNDS {
                        break;
                    }
                    crate::reclaim::wait_a_residency();
                }
                Ok(n) => {
                    idle = 0;
                    evicted += n as u64;
                }
            }
        }
        Some((before, self.free_slots() as u32, evicted))
    }

    /// Pins a slot's page (once: advice pins are on or off) or removes every pin.
    fn set_slot_pinned(&self, slot: u32, pin: bool) {
        let mut clock = self.slots.clock.lock();
        if pin {
            if !clock.is_pinned(slot) {
                let _ = clock.pin(slot);
            }
        } else {
            while clock.is_pinned(slot) {
                if clock.unpin(slot).is_err() {
                    break;
                }
            }
        }
    }

    /// Makes room for `want` pages by evicting victims the policy picks: into the peer provider
    /// with the most room that this device reaches directly, as many as fit, and the rest to system
    /// memory. Returns how many pages were evicted (fewer than needed when the rest is pinned, too
    /// young to move, or protected by its cgroup's `dmem.min` or `dmem.low`).
    fn make_room(&self, target: &Provider, all: &[Arc<Provider>], want: usize) -> Result<usize> {
        let short = placement::room_to_make(self.free_slots(), want);
        if short == 0 {
            return Ok(0);
        }
        self.evict(target, all, short, None, false)
    }

    /// Picks up to `want` victims into `out` among the pages eviction may take (with `limit`: only
    /// that cgroup's own), sparing pages within their cgroup's `dmem.low` while others can go.
    fn pick(&self, want: usize, limit: Option<&Limit>, out: &mut [u32]) -> usize {
        let now = self.slots.now();
        let (mask, hit_low) = self.slots.tenants.lock().evictable(limit, false);
        let mut n = self
            .slots
            .clock
            .lock()
            .pick_victims_of(want, now, out, &mask);
        if n < want && hit_low {
            let (mask, _) = self.slots.tenants.lock().evictable(limit, true);
            n += self
                .slots
                .clock
                .lock()
                .pick_victims_of(want - n, now, &mut out[n..], &mask);
        }
        n
    }

    /// Evicts up to `want` pages the policy picks (see [`Managed::pick`]); returns how many went.
    /// Background reclaim (`background`) puts victims into a peer only beyond the peer's high
    /// watermark; a direct eviction fills the peer and starts the peer's reclaim when that leaves
    /// it below its low watermark.
    fn evict(
        &self,
        target: &Provider,
        all: &[Arc<Provider>],
        want: usize,
        limit: Option<&Limit>,
        background: bool,
    ) -> Result<usize> {
        let mut victims = [0u32; CHUNK_PAGES];
        let n = self.pick(want, limit, &mut victims);
        if n == 0 {
            return Ok(0);
        }
        // Whose pages they are: for the peer's charges and for the report of who lost pages.
        let mut tenant = [0u8; CHUNK_PAGES];
        let mut accessed_by = [ProviderSet::EMPTY; CHUNK_PAGES];
        {
            let clock = self.slots.clock.lock();
            for (i, &slot) in victims[..n].iter().enumerate() {
                tenant[i] = clock.tenant(slot);
                accessed_by[i] = clock.accessed_by(slot);
            }
        }
        let mut group = [None; CHUNK_PAGES];
        {
            let tenants = self.slots.tenants.lock();
            for (g, &t) in group.iter_mut().zip(&tenant[..n]) {
                *g = tenants.group(t);
            }
        }
        // Where to (`placement.rs`): the peer provider with the most room that this device reaches
        // directly (p2pdma allows it and the route policy does not rule it out) keeps the data in
        // device memory, as much of it as fits; the rest goes to system memory in the same
        // migration.
        let kind = if background {
            Eviction::Background
        } else {
            Eviction::Direct
        };
        let managed_peers = || {
            all.iter()
                .filter(|p| p.id != target.id)
                .filter_map(|p| p.managed().map(|m| (p, m)))
        };
        let candidates = managed_peers().map(|(_, m)| PeerCandidate {
            free: m.free_slots() as u32,
            watermarks: m.watermarks(),
        });
        let chosen = placement::peer_for_victims(candidates, kind, |i| {
            managed_peers()
                .nth(i)
                .is_some_and(|(p, _)| p.route_to(&target.pdev).plan == PLAN_DIRECT)
        });
        let peer = chosen.and_then(|(i, room)| managed_peers().nth(i).map(|(p, m)| (p, m, room)));
        let moved = match peer {
            Some((p, m, mut room)) => {
                let me = dmem::current_group();
                let reaches = |set: ProviderSet| {
                    all.iter()
                        .filter(|q| {
                            u16::try_from(q.id)
                                .ok()
                                .and_then(|id| ProviderId::new(id).ok())
                                .is_some_and(|id| set.contains(id))
                        })
                        .all(|q| p.route_to(&q.pdev).plan == PLAN_DIRECT)
                };
                let moved = self.mem.evict_to(
                    &victims[..n],
                    &m.mem,
                    |i| {
                        let victim = Victim {
                            accessors_reach_peer: reaches(accessed_by[i]),
                            peer_charges: p.region.is_some(),
                            evictors_page: group[i] == Some(me),
                        };
                        if !placement::may_enter_peer(&victim) {
                            return None;
                        }
                        room = room.checked_sub(1)?;
                        m.alloc_charged_slot(p)
                    },
                    |i, slot| {
                        let now = m.slots.now();
                        let mut clock = m.slots.clock.lock();
                        let _ = clock.occupy(slot, now);
                        let _ = clock.set_accessed_by(slot, accessed_by[i]);
                    },
                );
                if let Ok((into_peer, _)) = moved {
                    Stats::add(&p.stats.migrated_in, into_peer as u64);
                    trace::evict(target.id, p.id, n as u32, into_peer as u32);
                }
                // A peer that a direct eviction left short makes room in turn (the cascade).
                m.start_reclaim_if_low();
                moved.map(|(into_peer, into_system)| (into_peer, into_system, true))
            }
            None => self.mem.evict(&victims[..n]).map(|k| (0, k, false)),
        };
        let mut stayed = [false; CHUNK_PAGES];
        {
            // A victim whose page did not move (busy) is occupied again; one that left is free (or
            // holds another page by now).
            let mut clock = self.slots.clock.lock();
            for (s, &slot) in stayed.iter_mut().zip(&victims[..n]) {
                *s = clock.cancel_eviction(slot).is_ok();
            }
        }
        self.report_losses(target.id, &tenant[..n], &group[..n], &stayed[..n]);
        let (into_peer, into_system, had_peer) = moved?;
        // One record per destination: what went to system memory (all of it without a peer).
        if !had_peer || into_system > 0 {
            trace::evict(target.id, 0, n as u32, into_system as u32);
        }
        let moved = (into_peer + into_system) as u64;
        let stats = &self.slots.stats;
        if background {
            Stats::add(&stats.evictions_background, moved);
        }
        Stats::add(&stats.evictions, moved);
        Stats::add(&stats.migrated_out, moved);
        // Each evicted page was unmapped from the process and every importer of it.
        Stats::add(&stats.invalidations, moved);
        Ok(moved as usize)
    }

    /// Counts and traces, per cgroup, the victims that left (`stayed[i]` false).
    fn report_losses(&self, id: u32, tenant: &[u8], group: &[Option<Group>], stayed: &[bool]) {
        let mut seen = TenantMask::NONE;
        for i in 0..tenant.len() {
            if stayed[i] || seen.contains(tenant[i]) {
                continue;
            }
            seen.insert(tenant[i]);
            let lost = (i..tenant.len())
                .filter(|&j| tenant[j] == tenant[i] && !stayed[j])
                .count();
            if let Some(g) = group[i] {
                self.slots
                    .tenants
                    .lock()
                    .count_evicted(tenant[i], g, lost as u64);
            }
            trace::evict_cgroup(id, group[i].map_or(0, |g| g.id()), lost as u32);
        }
    }

    /// A slot for a page the caller moves in, charged to the caller's cgroup in `p`'s region
    /// (`p` is this memory's provider); `None` when the provider is full, the cgroup is at its
    /// `dmem.max`, or 255 other cgroups hold pages here.
    fn alloc_charged_slot(&self, p: &Provider) -> Option<u32> {
        let tenant = match &p.region {
            None => 0,
            Some(r) => {
                let c = r.try_charge(PAGE_SIZE as u64).ok()?;
                self.slots.tenants.lock().add(c).ok()?
            }
        };
        self.take_slot(tenant)
    }

    /// A slot for a page of `tenant` (already charged), or `None` (and the charge is given back).
    fn take_slot(&self, tenant: u8) -> Option<u32> {
        let slot = self.slots.clock.lock().alloc_slot_for(tenant);
        if slot.is_none() {
            self.slots.tenants.lock().release(tenant);
        }
        slot
    }

    /// Charges `pages` pages to the caller's cgroup in `target`'s region, for a migration into
    /// this memory. Over the cgroup's `dmem.max`, evicts the cgroup's own pages here first (never
    /// another cgroup's); `ENOMEM` if still over. Returns the tenant of each charge and how many
    /// pages were evicted.
    fn prepay(
        &self,
        target: &Provider,
        all: &[Arc<Provider>],
        pages: usize,
    ) -> Result<(KVec<u8>, usize)> {
        let mut tenants = KVec::with_capacity(pages, GFP_KERNEL)?;
        let Some(region) = &target.region else {
            return Ok((tenants, 0));
        };
        let mut evicted = 0;
        while tenants.len() < pages {
            let c = match region.try_charge(PAGE_SIZE as u64) {
                Ok(c) => c,
                Err(ChargeError::Limited(limit)) => {
                    let room = limit.map_or(Ok(0), |l| {
                        self.evict(target, all, pages - tenants.len(), Some(&l), false)
                    });
                    match room {
                        Ok(0) | Err(_) => {
                            self.refund(&tenants);
                            return Err(ENOMEM);
                        }
                        Ok(k) => {
                            evicted += k;
                            continue;
                        }
                    }
                }
                Err(ChargeError::Failed(e)) => {
                    self.refund(&tenants);
                    return Err(e);
                }
            };
            match self.slots.tenants.lock().add(c) {
                // Within the capacity reserved above.
                Ok(t) => drop(tenants.push_within_capacity(t)),
                // 255 other cgroups hold pages here: what was charged so far is all there is.
                Err(_) => break,
            }
        }
        Ok((tenants, evicted))
    }

    /// Gives back charges from [`Managed::prepay`] that no page used.
    fn refund(&self, tenants: &[u8]) {
        let mut t = self.slots.tenants.lock();
        for &tenant in tenants {
            t.release(tenant);
        }
    }

    /// Evicts up to `want` (at most 256) of the pages charged to `limit`'s cgroup and its
    /// descendants, for the dmem controller's reclaim (`dmem_reclaim.rs`); returns how many went.
    pub fn evict_over_limit(
        &self,
        target: &Provider,
        all: &[Arc<Provider>],
        want: usize,
        limit: &Limit,
    ) -> Result<usize> {
        self.evict(target, all, want.min(CHUNK_PAGES), Some(limit), false)
    }

    /// Slots with no page.
    fn free_slots(&self) -> usize {
        let clock = self.slots.clock.lock();
        (clock.capacity() - clock.used()) as usize
    }
}

/// The thrash table of the process a migration runs for (`core/src/thrash.rs`), and the time of
/// the migration in the table's unit (µs).
pub struct ThrashWatch<'a> {
    /// The table.
    pub table: &'a Mutex<ThrashTable>,
    /// Now.
    pub now: u64,
}

/// The ranges of a piece of at most [`CHUNK_PAGES`] pages (so two at most) that thrash: a migration
/// leaves their pages where they are.
#[derive(Default)]
struct Held {
    bases: [Option<u64>; 2],
}

impl Held {
    /// The ranges of `[a, b)` that `watch` holds back now.
    fn of(watch: Option<&ThrashWatch<'_>>, a: usize, b: usize) -> Held {
        let mut held = Held::default();
        if let Some(w) = watch {
            let table = w.table.lock();
            for (base, addr) in held.bases.iter_mut().zip([a, b - 1]) {
                if table.holds(addr as u64, w.now) {
                    *base = Some(ThrashTable::base_of(addr as u64));
                }
            }
        }
        held
    }

    fn contains(&self, addr: usize) -> bool {
        let base = ThrashTable::base_of(addr as u64);
        self.bases.contains(&Some(base))
    }
}

/// Migrates `[start, end)` of `mm` to the managed provider `target`, from system memory or any
/// provider in `all`, evicting from `target` what its policy picks when it is full. `advice` (the
/// caller's advice over the range) decides how each page lands: pinned, or preferring `target`.
/// With `thrash` (the caller's thrash table), pages of ranges that thrash stay where they are, and
/// the ranges this migration moves count towards thrashing.
pub fn migrate_to_provider(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    target: &Provider,
    all: &[Arc<Provider>],
    advice: &[Entry<Advice>],
    thrash: Option<&ThrashWatch<'_>>,
) -> Result<Moved> {
    let target_loc = u16::try_from(target.id)
        .ok()
        .and_then(|id| ProviderId::new(id).ok())
        .map(Location::Provider);
    let tm = target.managed().ok_or(EINVAL)?;
    let limits = tm.thrash_limits();
    let thrash = thrash.filter(|_| limits.moves > 0);
    // The range last counted as moved: one migration counts once per range, however many pieces.
    let mut counted: Option<u64> = None;
    let mut held_pages = 0u64;
    let peers = peer_memories(all)?;
    // Pages already on `target` need no slot: room is made only for the others, or the eviction
    // would move out pages that this same call then brings back. (A page that moves meanwhile only
    // makes the count stale: a page without a slot stays where it is. For the same reason a failed
    // walk, e.g. over a hole that the migration below reports, only leaves the count high.) Their
    // bitmap is built a window at a time, so it stays small however large the range: 4 KiB for a
    // window of 1 GiB.
    const WINDOW: usize = 1 << 30;
    let mut done = Moved::default();
    let mut ws = start;
    while ws < end {
        let we = end.min(ws.saturating_add(WINDOW));
        let npages = (we - ws) / PAGE_SIZE;
        let mut on_target = KVVec::<u64>::from_elem(0, npages.div_ceil(64), GFP_KERNEL)?;
        let _ = walk(mm, ws, we, all, |addr, placement, _| {
            if placement == Placement::Provider(target.id) {
                let i = (addr - ws) / PAGE_SIZE;
                on_target[i / 64] |= 1 << (i % 64);
            }
        });
        let needing_slots = |a: usize, b: usize, held: &Held| {
            ((a - ws) / PAGE_SIZE..(b - ws) / PAGE_SIZE)
                .filter(|&i| on_target[i / 64] & (1 << (i % 64)) == 0)
                .filter(|&i| !held.contains(ws + i * PAGE_SIZE))
                .count()
        };
        for_each_mapped_piece(mm, ws, we, CHUNK_PAGES, |vma, a, b| {
            let held = Held::of(thrash, a, b);
            let need = needing_slots(a, b, &held);
            // Pages moved into each range of the piece: `a`'s, and the next one's.
            let mut moved_into = [0usize; 2];
            let first = ThrashTable::base_of(a as u64);
            let (mut prepaid, evicted) = tm.prepay(target, all, need)?;
            done.evicted += evicted as u64;
            done.evicted += tm.make_room(target, all, need)? as u64;
            let moved = tm.mem.migrate_in(
                vma,
                a,
                b,
                &peers,
                |addr, source| {
                    if let Source::Device(mem, slot) = source {
                        if core::ptr::eq(*mem, &*tm.mem) {
                            // Already here; asked for again: a second chance when the
                            // policy next looks at it.
                            let _ = tm.slots.clock.lock().touch(*slot);
                            return None;
                        }
                    }
                    if held.contains(addr) {
                        held_pages += 1;
                        return None;
                    }
                    match target.region {
                        None => tm.take_slot(0),
                        Some(_) => tm.take_slot(prepaid.pop()?),
                    }
                },
                |addr, slot| {
                    moved_into[usize::from(ThrashTable::base_of(addr as u64) != first)] += 1;
                    let a = advice
                        .iter()
                        .find(|e| e.start <= addr as u64 && (addr as u64) < e.end)
                        .map_or(Advice::default(), |e| e.value);
                    let now = tm.slots.now();
                    let mut clock = tm.slots.clock.lock();
                    let _ = clock.occupy(slot, now);
                    if a.flags.contains(AdviceFlags::PINNED) {
                        let _ = clock.pin(slot);
                    }
                    if a.preferred.is_some() && a.preferred == target_loc {
                        let _ = clock.set_preferred(slot, true);
                    }
                    if a.accessed_by != ProviderSet::EMPTY {
                        let _ = clock.set_accessed_by(slot, a.accessed_by);
                    }
                },
            );
            // Charges for pages that did not move (already here, or busy) go back.
            tm.refund(&prepaid);
            done.migrated += moved? as u64;
            if let Some(w) = thrash {
                for (n, addr) in moved_into.into_iter().zip([a, b - 1]) {
                    let base = ThrashTable::base_of(addr as u64);
                    if n == 0 || counted == Some(base) {
                        continue;
                    }
                    counted = Some(base);
                    let trip = w.table.lock().record(addr as u64, w.now, &limits);
                    if let Some(t) = trip {
                        Stats::add(&target.stats.thrash_trips, 1);
                        trace::thrash(target.id, t.base, t.moves, limits.backoff);
                    }
                }
            }
            Ok(())
        })?;
        ws = we;
    }
    Stats::add(&target.stats.migrated_in, done.migrated);
    Stats::add(&target.stats.thrash_held, held_pages);
    trace::migrate(target.id, start, end, done.migrated, done.evicted);
    tm.start_reclaim_if_low();
    Ok(done)
}

/// Migrates every page of `[start, end)` of `mm` that lives on a provider in `all` back to system
/// memory.
pub fn migrate_to_system(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
) -> Result<u64> {
    let peers = peer_memories(all)?;
    let mut moved = 0u64;
    for_each_mapped_piece(mm, start, end, CHUNK_PAGES, |vma, a, b| {
        moved += Memory::migrate_out(vma, a, b, owner(), &peers)? as u64;
        Ok(())
    })?;
    trace::migrate(0, start, end, moved, 0);
    Ok(moved)
}

/// `ENOMEM` unless every page of `[start, end)` is inside a VMA of `mm` (madvise(2)'s rule for
/// unmapped ranges).
pub fn ensure_mapped(mm: &MmWithUser, start: usize, end: usize) -> Result {
    while_mapped(mm, start, end, || Ok(()))
}

/// Runs `f` if every page of `[start, end)` is inside a VMA of `mm` (else `ENOMEM`), with the mmap
/// read lock held so no unmap can come in between. `f` must not take the mmap lock itself (no page
/// walk, no migration).
pub fn while_mapped<R>(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let mmap = mm.mmap_read_lock();
    let mut addr = start;
    while addr < end {
        addr = mmap.vma_lookup(addr).ok_or(ENOMEM)?.end();
    }
    f()
}

fn peer_memories(all: &[Arc<Provider>]) -> Result<KVec<&Memory>> {
    let mut peers = KVec::with_capacity(all.len(), GFP_KERNEL)?;
    for p in all {
        if let Some(m) = p.managed() {
            peers.push(m.memory(), GFP_KERNEL)?;
        }
    }
    Ok(peers)
}

/// Pages a query handles at once (bounds its buffers).
pub const QUERY_CHUNK_PAGES: usize = CHUNK_PAGES;

/// Where a page is, as a query reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Not populated.
    None,
    /// System memory.
    System,
    /// On the provider with this id.
    Provider(u32),
}

/// A query only needs the sequence bumped by invalidations; it keeps no state.
struct QueryHandler;

impl InvalidateHandler for QueryHandler {
    type State = ();

    fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
}

/// Calls `f(addr, placement, resident)` for each page of `[start, end)` of `mm`, without faulting;
/// `resident` is the provider and slot of a page on p2pmm's device memory. `f` runs while the
/// walk's notifier lock is held, so no page can move meanwhile (a migration must invalidate first,
/// and that waits for the lock).
pub fn walk(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    mut f: impl FnMut(usize, Placement, Option<(&Provider, u32)>),
) -> Result {
    let watch = KBox::pin_init(
        IntervalNotifier::new(mm, start, end - start, QueryHandler, ()),
        GFP_KERNEL,
    )?;
    let mut addr = start;
    while addr < end {
        let next = end.min(addr + CHUNK_PAGES * PAGE_SIZE);
        let mut range = HmmRange::new(&watch, addr, next, Request::SNAPSHOT, owner())?;
        fault_and_commit(&mut range, false, QUERY_RETRIES, |(), pfns| {
            for (i, (_, pfn)) in pfns.iter().enumerate() {
                let page = addr + i * PAGE_SIZE;
                match pfn.kind(owner()) {
                    PageKind::Zero => f(page, Placement::System, None),
                    PageKind::System => {
                        // Static memory a process mapped is PCI memory, not system memory: name its
                        // provider.
                        let on_static = pfn.pfn().and_then(|pfn| {
                            all.iter().find(|p| {
                                p.kind == Kind::Static && pci_p2p::owns_p2p_pfn(&p.pdev, pfn)
                            })
                        });
                        match on_static {
                            Some(p) => f(page, Placement::Provider(p.id), None),
                            None => f(page, Placement::System, None),
                        }
                    }
                    PageKind::DevicePrivateLocal => {
                        let found = pfn.pfn().and_then(|pfn| {
                            all.iter().find_map(|p| {
                                let slot = p.managed()?.mem.slot_of_pfn(pfn)?;
                                Some((&**p, slot))
                            })
                        });
                        match found {
                            Some((p, slot)) => f(page, Placement::Provider(p.id), Some((p, slot))),
                            None => f(page, Placement::None, None),
                        }
                    }
                    // Another driver's device memory, a hole or an error: not p2pmm's to report.
                    PageKind::DevicePrivateRemote | PageKind::None | PageKind::Error => {
                        f(page, Placement::None, None)
                    }
                }
            }
            Ok(())
        })?;
        addr = next;
    }
    Ok(())
}

/// Reports where each page of `[start, end)` of `mm` is, into `out` (one entry per page).
pub fn query(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    out: &mut [Placement],
) -> Result {
    if out.len() != (end - start) / PAGE_SIZE {
        return Err(EINVAL);
    }
    walk(mm, start, end, all, |addr, placement, _| {
        out[(addr - start) / PAGE_SIZE] = placement;
    })
}

/// Pins (or unpins) every page of `[start, end)` now resident on a managed provider: a pinned page
/// is never picked to make room. Returns the number of resident pages seen.
pub fn set_pinned(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    pin: bool,
) -> Result<u64> {
    let mut n = 0;
    walk(mm, start, end, all, |_, _, resident| {
        let Some((p, slot)) = resident else { return };
        let Some(m) = p.managed() else { return };
        m.set_slot_pinned(slot, pin);
        n += 1;
    })?;
    Ok(n)
}

/// Adds `provider` to (`add`) or removes it from the devices advised to access every page of
/// `[start, end)` now resident on a managed provider; later arrivals take the advice when they
/// land.
///
/// `ENOSPC` if a provider's pages already carry as many distinct sets of accessing devices as it
/// can tell apart (`eviction::ATTR_SETS`, counted with the tenants of its pages); the pages walked
/// before keep the new advice.
pub fn set_accessed_by(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    provider: ProviderId,
    add: bool,
) -> Result {
    let mut refused = Ok(());
    walk(mm, start, end, all, |_, _, resident| {
        if let Some((p, slot)) = resident {
            if let Some(m) = p.managed() {
                let mut clock = m.slots.clock.lock();
                let set = clock.accessed_by(slot);
                let set = if add {
                    set.with(provider)
                } else {
                    set.without(provider)
                };
                if let Err(e) = clock.set_accessed_by(slot, set) {
                    refused = Err(Error::from(Errno::from(e)));
                }
            }
        }
    })?;
    refused
}

/// Marks every page of `[start, end)` now resident on a managed provider as preferring it (or not):
/// the policy evicts such pages last. `preferred` is the provider the range prefers, if any.
pub fn set_preferred(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    preferred: Option<u32>,
) -> Result {
    walk(mm, start, end, all, |_, _, resident| {
        if let Some((p, slot)) = resident {
            if let Some(m) = p.managed() {
                let _ = m
                    .slots
                    .clock
                    .lock()
                    .set_preferred(slot, preferred == Some(p.id));
            }
        }
    })
}
