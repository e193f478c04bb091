// SPDX-License-Identifier: GPL-2.0

//! The placement engine: the pages of one address range, the managed providers they can live on,
//! and the advice for them, kept consistent through advise, prefetch, fault, evict and free.
//!
//! This is the per-process bookkeeping of the subsystem, without the mechanisms: a move here is a
//! decision the caller carries out (the kernel with `migrate_vma`), reported through the `on_move`
//! callback in the order the moves must happen. Every move goes through `page_state.rs`'s
//! transitions and `eviction.rs`'s slots, so the invariants of both hold here too, and
//! [`Engine::check`] verifies the cross-structure ones:
//! - a page has one home, and a provider's slots hold exactly the pages whose home it is (no page
//!   lost, none in two places, a provider never over its capacity);
//! - a page advised `PINNED` holds a pin on its slot while it is on a provider, so eviction never
//!   picks it.
//!
//! Pages are numbered from 0 within the range. The policy:
//! - a CPU fault populates an absent page in system RAM and moves nothing else (provider memory is
//!   a BAR, which the CPU can map where it is);
//! - a device fault moves the page to its preferred location, or else to the faulting device's own
//!   memory, unless the page is pinned, or young (within the minimum residency: no ping-pong), or
//!   the device is advised to access it where it is; a full provider evicts its CLOCK victim to
//!   system RAM to make room;
//! - eviction moves victims to system RAM.

use crate::advice::{Advice, AdviceChange, AdviceFlags, AdviceMap};
use crate::errno::Errno;
use crate::eviction::Clock;
use crate::kalloc::{self, Vec};
use crate::location::{Location, ProviderId};
use crate::page_state::PageState;

/// A managed provider the range can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderSpec {
    /// The provider.
    pub id: ProviderId,
    /// Its capacity in pages.
    pub capacity: u32,
}

/// Who faults on a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accessor {
    /// A CPU of the process.
    Cpu,
    /// The device of a provider, as an importer (a device without a registered provider is allowed
    /// too).
    Device(ProviderId),
}

/// Why a page moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveCause {
    /// The page was prefetched.
    Prefetch,
    /// The page was faulted on.
    Fault,
    /// The page was evicted to make room or on request.
    Evict,
}

/// One decided move of one page; the caller copies the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// The page, from 0 within the range.
    pub page: u64,
    /// Where it was; `None` when it was absent (the move populates it).
    pub from: Option<Location>,
    /// Where it goes.
    pub to: Location,
    /// Why.
    pub cause: MoveCause,
}

const NO_SLOT: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct PageRecord {
    state: PageState,
    /// The slot on the page's provider, or `NO_SLOT`.
    slot: u32,
    /// The page holds an advice pin on its slot.
    pinned: bool,
}

struct ProviderSlots {
    id: ProviderId,
    clock: Clock,
    /// Slot to page, valid for slots that hold a page.
    owner: Vec<u64>,
}

/// The placement state of one address range (see the file comment).
pub struct Engine {
    pages: Vec<PageRecord>,
    providers: Vec<ProviderSlots>,
    advice: AdviceMap,
}

impl Engine {
    /// A range of `npages` absent pages that can use `providers`; `EINVAL` for a provider listed
    /// twice.
    pub fn new(
        npages: u64,
        providers: &[ProviderSpec],
        min_residency: u64,
    ) -> Result<Engine, Errno> {
        let absent = PageRecord {
            state: PageState::Absent,
            slot: NO_SLOT,
            pinned: false,
        };
        let n = usize::try_from(npages).map_err(|_| Errno::NoMem)?;
        let pages = kalloc::try_from_elem(absent, n).map_err(|_| Errno::NoMem)?;
        let mut list = kalloc::try_with_capacity(providers.len()).map_err(|_| Errno::NoMem)?;
        for (i, spec) in providers.iter().enumerate() {
            if providers[..i].iter().any(|p| p.id == spec.id) {
                return Err(Errno::Inval);
            }
            let slots = ProviderSlots {
                id: spec.id,
                clock: Clock::new(spec.capacity, min_residency).map_err(|_| Errno::NoMem)?,
                owner: kalloc::try_from_elem(0, spec.capacity as usize)
                    .map_err(|_| Errno::NoMem)?,
            };
            kalloc::try_push(&mut list, slots).map_err(|_| Errno::NoMem)?;
        }
        Ok(Engine {
            pages,
            providers: list,
            advice: AdviceMap::new(),
        })
    }

    /// The number of pages in the range.
    pub fn npages(&self) -> u64 {
        self.pages.len() as u64
    }

    /// Where `page` lives; `None` if it is absent (or out of the range).
    pub fn location(&self, page: u64) -> Option<Location> {
        self.pages.get(page as usize)?.state.location()
    }

    /// Pages on provider `p` (slots in use), or `None` for an unknown provider.
    pub fn used(&self, p: ProviderId) -> Option<u32> {
        self.provider(p).map(|s| s.clock.used())
    }

    /// The advice for `page`.
    pub fn advice(&self, page: u64) -> Advice {
        self.advice.get(page)
    }

    /// Applies advice to pages `[start, end)`; pages already on a provider follow the new advice at
    /// once.
    pub fn advise(&mut self, start: u64, end: u64, change: AdviceChange) -> Result<(), Errno> {
        self.check_range(start, end)?;
        let named = match change {
            AdviceChange::SetPreferred(Location::Provider(p)) => Some(p),
            _ => None,
        };
        if named.is_some_and(|p| self.provider(p).is_none()) {
            return Err(Errno::NoDev);
        }
        self.advice.advise(start, end, change)?;
        for page in start..end {
            self.sync_slot(page)?;
        }
        Ok(())
    }

    /// Moves pages `[start, end)` to `to`, evicting from a full provider as needed.
    ///
    /// `EBUSY` if a provider has no free slot and nothing evictable; the pages moved before stay
    /// moved.
    pub fn prefetch(
        &mut self,
        start: u64,
        end: u64,
        to: Location,
        now: u64,
        on_move: &mut impl FnMut(Move),
    ) -> Result<(), Errno> {
        self.check_range(start, end)?;
        self.check_location(to)?;
        for page in start..end {
            if !self.move_page(page, to, now, MoveCause::Prefetch, on_move)? {
                return Err(Errno::Busy);
            }
        }
        Ok(())
    }

    /// Handles a fault on `page`; returns where the accessor maps it.
    pub fn fault(
        &mut self,
        page: u64,
        accessor: Accessor,
        now: u64,
        on_move: &mut impl FnMut(Move),
    ) -> Result<Location, Errno> {
        self.check_range(page, page.saturating_add(1))?;
        let here = self.location(page);
        let Accessor::Device(dev) = accessor else {
            if here.is_none() {
                self.move_page(page, Location::System, now, MoveCause::Fault, on_move)?;
            }
            return Ok(self.location(page).unwrap_or(Location::System));
        };
        let adv = self.advice.get(page);
        let own = self
            .provider(dev)
            .filter(|s| s.clock.capacity() > 0)
            .map_or(Location::System, |_| Location::Provider(dev));
        let target = adv.preferred.unwrap_or(own);
        let stay = match here {
            None => false,
            Some(loc) if loc == target => true,
            Some(_) if adv.accessed_by.contains(dev) => true,
            Some(Location::System) => false,
            Some(Location::Provider(_)) => {
                let rec = self.pages[page as usize];
                rec.pinned || self.slot_is_young(page, now)
            }
        };
        if !stay && !self.move_page(page, target, now, MoveCause::Fault, on_move)? && here.is_none()
        {
            // The target is full of unevictable pages: populate the page in system RAM instead.
            self.move_page(page, Location::System, now, MoveCause::Fault, on_move)?;
        }
        self.touch(page);
        Ok(self.location(page).unwrap_or(Location::System))
    }

    /// Evicts up to `n` CLOCK victims of provider `p` to system RAM; returns how many moved.
    pub fn evict(
        &mut self,
        p: ProviderId,
        n: usize,
        now: u64,
        on_move: &mut impl FnMut(Move),
    ) -> Result<usize, Errno> {
        let mut done = 0;
        let mut victims = [0u32; 16];
        while done < n {
            let want = (n - done).min(victims.len());
            let got = self
                .provider_mut(p)
                .ok_or(Errno::NoDev)?
                .clock
                .pick_victims(want, now, &mut victims);
            if got == 0 {
                break;
            }
            for &slot in &victims[..got] {
                self.evict_slot(p, slot, on_move)?;
            }
            done += got;
        }
        Ok(done)
    }

    /// Frees pages `[start, end)` (the range was unmapped): they become absent and lose their
    /// advice.
    pub fn free(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        self.check_range(start, end)?;
        for page in start..end {
            self.leave_slot(page)?;
            let rec = &mut self.pages[page as usize];
            rec.state = rec.state.free()?;
        }
        self.advice.clear(start, end)?;
        Ok(())
    }

    /// Verifies the invariants that span pages, slots and advice; `Err` names the first one broken.
    pub fn check(&self) -> Result<(), &'static str> {
        for s in self.providers.iter() {
            let mut resident = 0u32;
            for (i, rec) in self.pages.iter().enumerate() {
                if rec.state != PageState::Resident(s.id) {
                    continue;
                }
                resident += 1;
                if s.owner.get(rec.slot as usize) != Some(&(i as u64)) {
                    return Err("a resident page's slot belongs to another page");
                }
                if rec.pinned != s.clock.is_pinned(rec.slot) {
                    return Err("a page's pin and its slot's pin disagree");
                }
            }
            if resident != s.clock.used() {
                return Err("a provider's used slots differ from its resident pages");
            }
            if s.clock.used() > s.clock.capacity() {
                return Err("a provider is over its capacity");
            }
        }
        for (i, rec) in self.pages.iter().enumerate() {
            let resident = matches!(rec.state, PageState::Resident(_));
            if !resident && (rec.slot != NO_SLOT || rec.pinned) {
                return Err("a page off providers holds a slot or a pin");
            }
            let advised = self
                .advice
                .get(i as u64)
                .flags
                .contains(AdviceFlags::PINNED);
            if rec.pinned != (resident && advised) {
                return Err("a page's pin does not follow its advice");
            }
        }
        Ok(())
    }

    fn provider(&self, p: ProviderId) -> Option<&ProviderSlots> {
        self.providers.iter().find(|s| s.id == p)
    }

    fn provider_mut(&mut self, p: ProviderId) -> Option<&mut ProviderSlots> {
        self.providers.iter_mut().find(|s| s.id == p)
    }

    fn check_range(&self, start: u64, end: u64) -> Result<(), Errno> {
        if start >= end || end > self.npages() {
            return Err(Errno::Inval);
        }
        Ok(())
    }

    fn check_location(&self, loc: Location) -> Result<(), Errno> {
        match loc {
            Location::Provider(p) if self.provider(p).is_none() => Err(Errno::NoDev),
            _ => Ok(()),
        }
    }

    fn slot_is_young(&self, page: u64, now: u64) -> bool {
        let rec = self.pages[page as usize];
        match rec.state {
            PageState::Resident(p) => self
                .provider(p)
                .is_some_and(|s| s.clock.is_young(rec.slot, now)),
            _ => false,
        }
    }

    fn touch(&mut self, page: u64) {
        let rec = self.pages[page as usize];
        if let PageState::Resident(p) = rec.state {
            if let Some(s) = self.provider_mut(p) {
                // Only fails for a slot being evicted, which the engine never leaves behind.
                let _ = s.clock.touch(rec.slot);
            }
        }
    }

    /// Makes a resident page's slot follow its advice: preferred flag and advice pin.
    fn sync_slot(&mut self, page: u64) -> Result<(), Errno> {
        let rec = self.pages[page as usize];
        let PageState::Resident(p) = rec.state else {
            return Ok(());
        };
        let adv = self.advice.get(page);
        let want_pin = adv.flags.contains(AdviceFlags::PINNED);
        let s = self.provider_mut(p).ok_or(Errno::Inval)?;
        s.clock
            .set_preferred(rec.slot, adv.preferred == Some(Location::Provider(p)))?;
        if want_pin && !rec.pinned {
            s.clock.pin(rec.slot)?;
        } else if !want_pin && rec.pinned {
            s.clock.unpin(rec.slot)?;
        }
        self.pages[page as usize].pinned = want_pin;
        Ok(())
    }

    /// Gives up the page's slot, if it has one (dropping its advice pin first).
    fn leave_slot(&mut self, page: u64) -> Result<(), Errno> {
        let rec = self.pages[page as usize];
        let PageState::Resident(p) = rec.state else {
            return Ok(());
        };
        let s = self.provider_mut(p).ok_or(Errno::Inval)?;
        if rec.pinned {
            s.clock.unpin(rec.slot)?;
        }
        s.clock.release(rec.slot)?;
        let r = &mut self.pages[page as usize];
        r.slot = NO_SLOT;
        r.pinned = false;
        Ok(())
    }

    /// Moves `page` to `to`; `Ok(false)` if `to` is a provider with no free slot and nothing
    /// evictable.
    fn move_page(
        &mut self,
        page: u64,
        to: Location,
        now: u64,
        cause: MoveCause,
        on_move: &mut impl FnMut(Move),
    ) -> Result<bool, Errno> {
        let from = self.location(page);
        if from == Some(to) {
            return Ok(true);
        }
        // Checked before a slot is taken, so that an illegal move leaves no slot behind.
        let moving = self.pages[page as usize].state.begin_migrate(to)?;
        let slot = match to {
            Location::System => NO_SLOT,
            Location::Provider(p) => match self.take_slot(p, now, on_move)? {
                Some(slot) => slot,
                None => return Ok(false),
            },
        };
        self.leave_slot(page)?;
        self.pages[page as usize] = PageRecord {
            state: moving.finish_migrate()?,
            slot,
            pinned: false,
        };
        if let Location::Provider(p) = to {
            let s = self.provider_mut(p).ok_or(Errno::Inval)?;
            s.clock.occupy(slot, now)?;
            s.owner[slot as usize] = page;
            self.sync_slot(page)?;
        }
        on_move(Move {
            page,
            from,
            to,
            cause,
        });
        Ok(true)
    }

    /// A free slot of provider `p`, evicting its CLOCK victim if it is full.
    fn take_slot(
        &mut self,
        p: ProviderId,
        now: u64,
        on_move: &mut impl FnMut(Move),
    ) -> Result<Option<u32>, Errno> {
        let s = self.provider_mut(p).ok_or(Errno::NoDev)?;
        if let Some(slot) = s.clock.alloc_slot() {
            return Ok(Some(slot));
        }
        let mut victim = [0u32; 1];
        if s.clock.pick_victims(1, now, &mut victim) == 0 {
            return Ok(None);
        }
        self.evict_slot(p, victim[0], on_move)?;
        Ok(self.provider_mut(p).and_then(|s| s.clock.alloc_slot()))
    }

    /// Moves the page in a slot picked by `pick_victims` to system RAM and frees the slot.
    fn evict_slot(
        &mut self,
        p: ProviderId,
        slot: u32,
        on_move: &mut impl FnMut(Move),
    ) -> Result<(), Errno> {
        let s = self.provider_mut(p).ok_or(Errno::NoDev)?;
        let page = *s.owner.get(slot as usize).ok_or(Errno::Inval)?;
        // A picked slot is never pinned, so releasing it cannot fail for a pin.
        s.clock.release(slot)?;
        let rec = &mut self.pages[page as usize];
        rec.state = rec
            .state
            .begin_migrate(Location::System)?
            .finish_migrate()?;
        rec.slot = NO_SLOT;
        rec.pinned = false;
        on_move(Move {
            page,
            from: Some(Location::Provider(p)),
            to: Location::System,
            cause: MoveCause::Evict,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec as StdVec;

    fn p(n: u16) -> ProviderId {
        ProviderId::new(n).unwrap()
    }

    fn engine(caps: &[u32], min_residency: u64) -> Engine {
        let specs: StdVec<ProviderSpec> = caps
            .iter()
            .enumerate()
            .map(|(i, &capacity)| ProviderSpec {
                id: p(i as u16),
                capacity,
            })
            .collect();
        Engine::new(16, &specs, min_residency).unwrap()
    }

    fn moves(e: &mut Engine, f: impl FnOnce(&mut Engine, &mut dyn FnMut(Move))) -> StdVec<Move> {
        let mut v = StdVec::new();
        f(e, &mut |m| v.push(m));
        e.check().unwrap();
        v
    }

    #[test]
    fn prefetch_evicts_the_clock_victim_when_full() {
        let mut e = engine(&[2], 0);
        let to = Location::Provider(p(0));
        let m = moves(&mut e, |e, f| {
            e.prefetch(0, 2, to, 0, &mut |m| f(m)).unwrap()
        });
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].from, None);
        let m = moves(&mut e, |e, f| {
            e.prefetch(2, 3, to, 1, &mut |m| f(m)).unwrap()
        });
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].page, m[0].cause), (0, MoveCause::Evict));
        assert_eq!(e.location(0), Some(Location::System));
        assert_eq!(e.used(p(0)), Some(2));
    }

    #[test]
    fn pinned_pages_stay_and_a_full_pinned_provider_is_busy() {
        let mut e = engine(&[2], 0);
        let to = Location::Provider(p(0));
        e.advise(0, 2, AdviceChange::SetFlags(AdviceFlags::PINNED))
            .unwrap();
        e.prefetch(0, 2, to, 0, &mut |_| {}).unwrap();
        assert_eq!(e.prefetch(2, 3, to, 0, &mut |_| {}), Err(Errno::Busy));
        assert_eq!(e.evict(p(0), 5, 0, &mut |_| {}), Ok(0));
        // A device fault with no room populates the page in system RAM.
        assert_eq!(
            e.fault(3, Accessor::Device(p(0)), 0, &mut |_| {}),
            Ok(Location::System)
        );
        e.advise(0, 1, AdviceChange::ClearFlags(AdviceFlags::PINNED))
            .unwrap();
        e.check().unwrap();
        assert_eq!(e.evict(p(0), 5, 0, &mut |_| {}), Ok(1));
        assert_eq!(e.location(0), Some(Location::System));
        assert_eq!(e.location(1), Some(to));
    }

    #[test]
    fn device_faults_follow_preference_and_damp_ping_pong() {
        let mut e = engine(&[4, 4], 10);
        let (a, b) = (Location::Provider(p(0)), Location::Provider(p(1)));
        assert_eq!(e.fault(0, Accessor::Device(p(0)), 0, &mut |_| {}), Ok(a));
        // Young on provider 0: provider 1's fault maps it remotely.
        assert_eq!(e.fault(0, Accessor::Device(p(1)), 5, &mut |_| {}), Ok(a));
        assert_eq!(e.fault(0, Accessor::Device(p(1)), 10, &mut |_| {}), Ok(b));
        e.advise(0, 1, AdviceChange::SetPreferred(a)).unwrap();
        assert_eq!(e.fault(0, Accessor::Device(p(1)), 30, &mut |_| {}), Ok(a));
        e.advise(0, 1, AdviceChange::SetAccessedBy(p(1))).unwrap();
        assert_eq!(e.fault(0, Accessor::Device(p(1)), 50, &mut |_| {}), Ok(a));
        assert_eq!(
            e.fault(1, Accessor::Cpu, 50, &mut |_| {}),
            Ok(Location::System)
        );
        e.check().unwrap();
    }

    #[test]
    fn free_makes_pages_absent_and_drops_advice() {
        let mut e = engine(&[4], 0);
        e.advise(0, 4, AdviceChange::SetFlags(AdviceFlags::PINNED))
            .unwrap();
        e.prefetch(0, 4, Location::Provider(p(0)), 0, &mut |_| {})
            .unwrap();
        e.free(1, 3).unwrap();
        e.check().unwrap();
        assert_eq!((e.location(1), e.location(2)), (None, None));
        assert_eq!(e.used(p(0)), Some(2));
        assert_eq!(e.advice(1), Advice::default());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let mut e = engine(&[1], 0);
        assert_eq!(e.free(3, 3), Err(Errno::Inval));
        assert_eq!(e.free(0, 17), Err(Errno::Inval));
        let ghost = Location::Provider(p(9));
        assert_eq!(e.prefetch(0, 1, ghost, 0, &mut |_| {}), Err(Errno::NoDev));
        assert_eq!(
            e.advise(0, 1, AdviceChange::SetPreferred(ghost)),
            Err(Errno::NoDev)
        );
        assert_eq!(e.evict(p(9), 1, 0, &mut |_| {}), Err(Errno::NoDev));
        assert_eq!(
            e.fault(16, Accessor::Cpu, 0, &mut |_| {}),
            Err(Errno::Inval)
        );
        let spec = ProviderSpec {
            id: p(0),
            capacity: 1,
        };
        assert!(Engine::new(1, &[spec, spec], 0).is_err());
    }
}
