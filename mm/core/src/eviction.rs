// SPDX-License-Identifier: GPL-2.0

//! Slot bookkeeping and victim selection for one managed provider: a CLOCK (second-chance)
//! replacement.
//!
//! A managed provider's memory is a fixed number of page-sized slots. The kernel calls into this
//! under the provider's spinlock, from the fault path and from reclaim, so everything after
//! [`Clock::new`] works in place: every allocation at creation, none afterwards, and no clock read
//! inside (time is passed in).
//!
//! Victim selection honours, in this order:
//! - pinned slots are never picked, nor slots whose tenant the caller protects
//!   ([`Clock::pick_victims_of`]: a cgroup within its `dmem.min` or `dmem.low`);
//! - a slot occupied less than `min_residency` ago is not picked: a page that just moved in stays a
//!   while, which damps migration ping-pong between two devices (drm_pagemap's `timeslice_ms` does
//!   the same);
//! - a slot whose page prefers this provider is picked only when no other slot is evictable;
//! - a referenced slot gets a second chance: its bit is cleared and the hand moves on.
//!
//! A picked slot is marked as being evicted, so neither this nor a later call picks it again before
//! the caller either releases it (the page moved out) or puts it back with
//! [`Clock::cancel_eviction`].
//!
//! # Cost
//!
//! Accelerators carry tens of GiB, so a slot costs 7 bytes ([`slot_table`](crate::slot_table)) and
//! the slots are stored in 4 KiB pieces, never in one array sized by the provider (a 64 GiB
//! provider is 16 Mi slots: 112 MiB in 28,680 pieces). What would not fit in 7 bytes is shared: the
//! sets of accessing devices (`ACCESSED_BY` advice) are interned together with the page's *tenant*
//! (the caller's index of whom the page is charged to, 0 for no one, see
//! [`Clock::alloc_slot_for`]), in a table of [`ATTR_SETS`] distinct (set, tenant) pairs per
//! provider, and a slot stores an index. Times are kept modulo 2^32 of the
//! caller's unit (microseconds in the module: 71 minutes), so `min_residency` is at most 2^31 - 1
//! units; a page whose stamp wrapped may look young for one `min_residency` more, which only delays
//! its eviction.

use crate::advice::ProviderSet;
use crate::errno::Errno;
use crate::free_chunks::{FreeChunks, CHUNK_SLOTS, NONE};
use crate::kalloc::{self, AllocError, Vec};
use crate::slot_table::{Slot, SlotState, SlotTable, MAX_PINS};

/// The pin of pinning advice: the top bit of a slot's pin field, one per page.
const ADVICE_PIN: u16 = (MAX_PINS >> 1) + 1;

/// How many counted pins ([`Clock::pin`]) a page may have: the bits below [`ADVICE_PIN`].
pub const MAX_COUNTED_PINS: u16 = ADVICE_PIN - 1;

/// How many distinct (set of accessing devices, tenant) pairs other than (none, 0) one provider's
/// pages can carry.
pub const ATTR_SETS: usize = 255;

/// A set of tenants (0 to 255): whose pages may be picked as victims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantMask([u64; 4]);

impl TenantMask {
    /// Every tenant.
    pub const ALL: TenantMask = TenantMask([u64::MAX; 4]);
    /// No tenant.
    pub const NONE: TenantMask = TenantMask([0; 4]);

    /// Whether `tenant` is in the set.
    pub fn contains(&self, tenant: u8) -> bool {
        self.0[usize::from(tenant / 64)] & (1 << (tenant % 64)) != 0
    }

    /// Adds `tenant` to the set.
    pub fn insert(&mut self, tenant: u8) {
        self.0[usize::from(tenant / 64)] |= 1 << (tenant % 64);
    }
}

/// A misuse of a slot (a caller bug in the subsystem, `EINVAL`, except for `Busy` and
/// `TooManySets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError {
    /// No such slot.
    OutOfRange,
    /// The slot is not in the state the operation needs.
    WrongState,
    /// The slot is being evicted (`EBUSY`): it cannot be pinned now.
    Busy,
    /// Unpin of a slot that is not pinned, or a pin count overflow.
    PinCount,
    /// The provider's pages already carry [`ATTR_SETS`] other (set of accessing devices, tenant)
    /// pairs (`ENOSPC`).
    TooManySets,
}

impl From<SlotError> for Errno {
    fn from(e: SlotError) -> Errno {
        match e {
            SlotError::Busy => Errno::Busy,
            SlotError::TooManySets => Errno::NoSpc,
            SlotError::OutOfRange | SlotError::WrongState | SlotError::PinCount => Errno::Inval,
        }
    }
}

/// What a slot holds, for diagnostics (debugfs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotInfo {
    /// `free`, `reserved`, `occupied` or `evicting`.
    pub state: &'static str,
    /// Pins on the page.
    pub pins: u32,
    /// The page prefers this provider.
    pub preferred: bool,
    /// Accessed since the hand last passed.
    pub referenced: bool,
    /// When the page moved in, modulo 2^32 of the caller's unit.
    pub occupied_at: u32,
    /// The providers whose devices access the page.
    pub accessed_by: ProviderSet,
    /// Whom the page is charged to (the caller's index, 0 for no one).
    pub tenant: u8,
}

impl SlotInfo {
    /// How long before `now` the page moved in (modulo 2^32 of the caller's unit).
    pub fn age(&self, now: u64) -> u32 {
        (now as u32).wrapping_sub(self.occupied_at)
    }
}

/// What a slot's page carries besides its state: the devices advised to access it and its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Attr {
    accessed_by: ProviderSet,
    tenant: u8,
}

impl Attr {
    const NONE: Attr = Attr {
        accessed_by: ProviderSet::EMPTY,
        tenant: 0,
    };

    /// A new page's attributes: its tenant, no accessing devices yet.
    fn tenant(tenant: u8) -> Attr {
        Attr {
            accessed_by: ProviderSet::EMPTY,
            tenant,
        }
    }
}

/// The interned attributes: index `i + 1` of a slot names `attrs[i]`, which `refs[i]` slots name;
/// index 0 is [`Attr::NONE`].
struct Attrs {
    attrs: Vec<(Attr, u32)>,
}

impl Attrs {
    fn new() -> Result<Attrs, AllocError> {
        Ok(Attrs {
            attrs: kalloc::try_with_capacity(ATTR_SETS)?,
        })
    }

    fn get(&self, index: u8) -> Attr {
        match index {
            0 => Attr::NONE,
            i => self
                .attrs
                .get(usize::from(i) - 1)
                .map_or(Attr::NONE, |e| e.0),
        }
    }

    /// The index of `attr`, taking a reference to it; never allocates (room for every pair is
    /// reserved).
    fn take(&mut self, attr: Attr, refs: u32) -> Result<u8, SlotError> {
        if attr == Attr::NONE {
            return Ok(0);
        }
        let i = match self.attrs.iter().position(|e| e.0 == attr || e.1 == 0) {
            Some(i) => i,
            None if kalloc::push_within_capacity(&mut self.attrs, (attr, 0)) => {
                self.attrs.len() - 1
            }
            None => return Err(SlotError::TooManySets),
        };
        let e = &mut self.attrs[i];
        if e.1 == 0 {
            // A pair no slot names any more is reused.
            e.0 = attr;
        }
        e.1 += refs;
        Ok(i as u8 + 1)
    }

    /// Drops a reference taken by [`Attrs::take`].
    fn put(&mut self, index: u8) {
        if let Some(e) = usize::from(index)
            .checked_sub(1)
            .and_then(|i| self.attrs.get_mut(i))
        {
            e.1 = e.1.saturating_sub(1);
        }
    }
}

/// The slots of one managed provider and the CLOCK hand over them.
pub struct Clock {
    slots: SlotTable,
    attrs: Attrs,
    hand: u32,
    free: FreeChunks,
    used: u32,
    min_residency: u32,
    /// Pinned pages the hand passed over while picking victims, since the last
    /// [`Clock::take_pinned_passed`].
    pinned_passed: u64,
}

impl Clock {
    /// A provider with `capacity` free slots; `min_residency` in the caller's time unit (at most
    /// 2^31 - 1: larger values are clamped).
    ///
    /// Every allocation of the clock is made here; fails with `AllocError` if one cannot be made
    /// or if `capacity` does not fit a `u32` slot number.
    pub fn new(capacity: u32, min_residency: u64) -> Result<Clock, AllocError> {
        if capacity == NONE {
            return Err(AllocError);
        }
        // A free slot's stamp is its link in its chunk's free list (`free_chunks.rs`).
        let slots = SlotTable::new(capacity, |i| {
            Slot::free(FreeChunks::initial_link(i, capacity))
        })?;
        Ok(Clock {
            slots,
            attrs: Attrs::new()?,
            hand: 0,
            free: FreeChunks::new(capacity)?,
            used: 0,
            min_residency: clamp_residency(min_residency),
            pinned_passed: 0,
        })
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.slots.len()
    }

    /// Bytes of bookkeeping the clock holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
            + self.attrs.attrs.capacity() * size_of::<(Attr, u32)>()
            + self.free.heap_bytes()
    }

    /// How many 2 MiB chunks of slots are entirely free ([`Clock::alloc_chunk_for`]).
    pub fn whole_free_chunks(&self) -> u32 {
        self.free.whole_chunks()
    }

    /// The number of slots not on the free list.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Changes the minimum residency.
    pub fn set_min_residency(&mut self, min_residency: u64) {
        self.min_residency = clamp_residency(min_residency);
    }

    /// Takes a free slot for a page about to be copied in, or `None` if the provider is full.
    pub fn alloc_slot(&mut self) -> Option<u32> {
        self.alloc_slot_for(0)
    }

    /// Takes a free slot for a page about to be copied in that is charged to `tenant` (the caller's
    /// index; 0 for no one), or `None` if the provider is full or its pages already carry
    /// [`ATTR_SETS`] other pairs of attributes.
    pub fn alloc_slot_for(&mut self, tenant: u8) -> Option<u32> {
        if self.free.free() == 0 {
            return None;
        }
        let attrs = self.attrs.take(Attr::tenant(tenant), 1).ok()?;
        let slots = &self.slots;
        // Not empty (checked above); a free slot's stamp is its link.
        let i = self.free.take(|j| slots.get(j).map_or(NONE, |s| s.stamp))?;
        self.slots.set(i, Slot::reserved(attrs));
        self.used += 1;
        Some(i)
    }

    /// Takes a whole chunk of [`CHUNK_SLOTS`] free slots, naturally aligned, for a 2 MiB folio
    /// about to be copied in, charged to `tenant` as [`Clock::alloc_slot_for`]; returns its first
    /// slot, or `None` if no chunk is entirely free (or the tenant's attributes do not fit). Each
    /// slot is then occupied and released on its own.
    pub fn alloc_chunk_for(&mut self, tenant: u8) -> Option<u32> {
        if self.free.whole_chunks() == 0 {
            return None;
        }
        let attrs = self.attrs.take(Attr::tenant(tenant), CHUNK_SLOTS).ok()?;
        let first = self.free.take_chunk()?;
        for i in first..first + CHUNK_SLOTS {
            self.slots.set(i, Slot::reserved(attrs));
        }
        self.used += CHUNK_SLOTS;
        Some(first)
    }

    /// The page arrived in a slot from [`Clock::alloc_slot`] at time `now`.
    pub fn occupy(&mut self, slot: u32, now: u64) -> Result<(), SlotError> {
        self.update(slot, |s| {
            if s.state != SlotState::Reserved {
                return Err(SlotError::WrongState);
            }
            s.state = SlotState::Occupied;
            s.stamp = now as u32;
            s.referenced = false;
            Ok(())
        })
    }

    /// The slot's page is gone (moved out, freed, or its copy-in failed): the slot goes back on the
    /// free list. Returns the tenant the page was charged to, for the caller to uncharge.
    ///
    /// Refused while the slot is pinned.
    pub fn release(&mut self, slot: u32) -> Result<u8, SlotError> {
        let s = self.slot(slot)?;
        if s.state == SlotState::Free {
            return Err(SlotError::WrongState);
        }
        if s.pins > 0 {
            return Err(SlotError::Busy);
        }
        let tenant = self.attrs.get(s.attrs).tenant;
        self.attrs.put(s.attrs);
        let link = self.free.put(slot);
        self.slots.set(slot, Slot::free(link));
        self.used -= 1;
        Ok(tenant)
    }

    /// The page was accessed: it gets a second chance when the hand next passes.
    pub fn touch(&mut self, slot: u32) -> Result<(), SlotError> {
        self.update(slot, |s| {
            if s.state != SlotState::Occupied {
                return Err(SlotError::WrongState);
            }
            s.referenced = true;
            Ok(())
        })
    }

    /// Records whether the slot's page prefers this provider.
    pub fn set_preferred(&mut self, slot: u32, preferred: bool) -> Result<(), SlotError> {
        self.update(slot, |s| {
            holding(s)?;
            s.preferred = preferred;
            Ok(())
        })
    }

    /// Records which providers' devices are advised to access the slot's page: where it may go when
    /// evicted depends on whether they reach that place.
    pub fn set_accessed_by(&mut self, slot: u32, set: ProviderSet) -> Result<(), SlotError> {
        let s = self.slot(slot)?;
        holding(&s)?;
        let attr = Attr {
            accessed_by: set,
            ..self.attrs.get(s.attrs)
        };
        let index = self.attrs.take(attr, 1)?;
        self.attrs.put(s.attrs);
        self.slots.set(slot, Slot { attrs: index, ..s });
        Ok(())
    }

    /// The providers whose devices access the slot's page (empty for a free slot or one past the
    /// capacity).
    pub fn accessed_by(&self, slot: u32) -> ProviderSet {
        self.slots
            .get(slot)
            .map_or(ProviderSet::EMPTY, |s| self.attrs.get(s.attrs).accessed_by)
    }

    /// Whom the slot's page is charged to (0 for no one, a free slot or one past the capacity).
    pub fn tenant(&self, slot: u32) -> u8 {
        self.slots
            .get(slot)
            .map_or(0, |s| self.attrs.get(s.attrs).tenant)
    }

    /// Pins the slot's page for a holder that counts its pins (a device's mapping): it is not
    /// picked until every pin is gone. At most [`MAX_COUNTED_PINS`]; refused while the slot is
    /// being evicted.
    pub fn pin(&mut self, slot: u32) -> Result<(), SlotError> {
        self.update(slot, |s| {
            pinnable(s)?;
            if s.pins & MAX_COUNTED_PINS == MAX_COUNTED_PINS {
                return Err(SlotError::PinCount);
            }
            s.pins += 1;
            Ok(())
        })
    }

    /// Drops one counted pin ([`Clock::pin`]); the advice pin stays.
    pub fn unpin(&mut self, slot: u32) -> Result<(), SlotError> {
        self.update(slot, |s| {
            if s.pins & MAX_COUNTED_PINS == 0 {
                return Err(SlotError::PinCount);
            }
            s.pins -= 1;
            Ok(())
        })
    }

    /// Sets or clears the pin of pinning advice: one per page however often the advice is given,
    /// apart from the counted pins, so that clearing the advice leaves a device's pins in place.
    /// Setting it is refused while the slot is being evicted.
    pub fn set_advice_pin(&mut self, slot: u32, on: bool) -> Result<(), SlotError> {
        self.update(slot, |s| {
            if on {
                pinnable(s)?;
                s.pins |= ADVICE_PIN;
            } else {
                s.pins &= !ADVICE_PIN;
            }
            Ok(())
        })
    }

    /// Drops every pin of the slot (its page is gone, whoever pinned it).
    pub fn clear_pins(&mut self, slot: u32) -> Result<(), SlotError> {
        self.update(slot, |s| {
            s.pins = 0;
            Ok(())
        })
    }

    /// Whether the slot's page moved in less than the minimum residency before `now`.
    pub fn is_young(&self, slot: u32, now: u64) -> bool {
        self.slots.get(slot).is_some_and(|s| self.young(&s, now))
    }

    /// What `slot` holds (`None` past the capacity).
    pub fn slot_info(&self, slot: u32) -> Option<SlotInfo> {
        let s = self.slots.get(slot)?;
        let free = s.state == SlotState::Free;
        Some(SlotInfo {
            state: match s.state {
                SlotState::Free => "free",
                SlotState::Reserved => "reserved",
                SlotState::Occupied => "occupied",
                SlotState::Evicting => "evicting",
            },
            pins: u32::from(s.pins & MAX_COUNTED_PINS) + u32::from(s.pins & ADVICE_PIN != 0),
            preferred: s.preferred,
            referenced: s.referenced,
            // A free slot's stamp is its free-list link, not a time.
            occupied_at: if free { 0 } else { s.stamp },
            accessed_by: self.attrs.get(s.attrs).accessed_by,
            tenant: self.attrs.get(s.attrs).tenant,
        })
    }

    /// How many pinned pages the hand passed over while picking victims since the last call (a
    /// pick's first turn counts each once): what eviction had to leave because pinned.
    pub fn take_pinned_passed(&mut self) -> u64 {
        core::mem::take(&mut self.pinned_passed)
    }

    /// The position of the CLOCK hand.
    pub fn hand(&self) -> u32 {
        self.hand
    }

    /// Whether the slot is free (`false` past the capacity).
    pub fn is_free(&self, slot: u32) -> bool {
        self.slots
            .get(slot)
            .is_some_and(|s| s.state == SlotState::Free)
    }

    /// Whether the slot holds a pinned page.
    pub fn is_pinned(&self, slot: u32) -> bool {
        self.slots.get(slot).is_some_and(|s| s.pins > 0)
    }

    /// The eviction of a picked slot failed: it holds its page again (keeping its residency start).
    pub fn cancel_eviction(&mut self, slot: u32) -> Result<(), SlotError> {
        self.update(slot, |s| {
            if s.state != SlotState::Evicting {
                return Err(SlotError::WrongState);
            }
            s.state = SlotState::Occupied;
            Ok(())
        })
    }

    /// Marks the `n` slots from `first` (the pages of one large folio, which can only leave whole)
    /// as being evicted, if each holds a page, none is pinned, and the caller may evict them
    /// (those already marked are the caller's victims); `false`, and nothing marked, otherwise.
    /// [`Clock::cancel_eviction`] undoes the mark of each slot whose page stays.
    pub fn claim_run(&mut self, first: u32, n: u32) -> bool {
        let Some(end) = first.checked_add(n).filter(|&e| e <= self.slots.len()) else {
            return false;
        };
        let claimable = (first..end).all(|i| {
            self.slots.get(i).is_some_and(|s| {
                matches!(s.state, SlotState::Occupied | SlotState::Evicting) && s.pins == 0
            })
        });
        if !claimable {
            return false;
        }
        for i in first..end {
            let _ = self.update(i, |s| {
                s.state = SlotState::Evicting;
                Ok(())
            });
        }
        true
    }

    /// Picks up to `max` victims (bounded by `out.len()`), writes their slot numbers to `out` and
    /// returns how many.
    ///
    /// Picked slots are marked as being evicted; the caller moves their pages out and then calls
    /// [`Clock::release`] or [`Clock::cancel_eviction`] for each.
    pub fn pick_victims(&mut self, max: usize, now: u64, out: &mut [u32]) -> usize {
        self.pick_victims_of(max, now, out, &TenantMask::ALL)
    }

    /// [`Clock::pick_victims`] among the pages of the tenants in `tenants` only.
    pub fn pick_victims_of(
        &mut self,
        max: usize,
        now: u64,
        out: &mut [u32],
        tenants: &TenantMask,
    ) -> usize {
        let want = max.min(out.len());
        let (mut n, skipped_preferred) = self.sweep(want, now, false, tenants, out);
        if n < want && skipped_preferred {
            n += self.sweep(want - n, now, true, tenants, &mut out[n..]).0;
        }
        n
    }

    /// Moves the hand at most two full turns (one to clear referenced bits, one to pick them),
    /// picking up to `want` victims. Returns how many it picked and whether it passed over an
    /// eligible preferred slot.
    fn sweep(
        &mut self,
        want: usize,
        now: u64,
        take_preferred: bool,
        tenants: &TenantMask,
        out: &mut [u32],
    ) -> (usize, bool) {
        let cap = self.slots.len();
        let mut picked = 0;
        let mut skipped_preferred = false;
        let mut steps = 0u64;
        while picked < want && steps < 2 * u64::from(cap) {
            let i = self.hand;
            self.hand = if i + 1 < cap { i + 1 } else { 0 };
            steps += 1;
            let Some(mut s) = self.slots.get(i) else {
                continue;
            };
            if s.state == SlotState::Occupied && s.pins > 0 {
                // Counted on the hand's first turn only: what eviction had to leave because pinned.
                if steps <= u64::from(cap) {
                    self.pinned_passed += 1;
                }
                continue;
            }
            if s.state != SlotState::Occupied
                || self.young(&s, now)
                || !tenants.contains(self.attrs.get(s.attrs).tenant)
            {
                continue;
            }
            if s.preferred && !take_preferred {
                skipped_preferred = true;
                continue;
            }
            if s.referenced {
                s.referenced = false;
            } else {
                s.state = SlotState::Evicting;
                out[picked] = i;
                picked += 1;
            }
            self.slots.set(i, s);
        }
        (picked, skipped_preferred)
    }

    fn young(&self, s: &Slot, now: u64) -> bool {
        (now as u32).wrapping_sub(s.stamp) < self.min_residency
    }

    fn slot(&self, slot: u32) -> Result<Slot, SlotError> {
        self.slots.get(slot).ok_or(SlotError::OutOfRange)
    }

    /// Applies `f` to a copy of `slot` and stores the copy if `f` succeeds.
    fn update(
        &mut self,
        slot: u32,
        f: impl FnOnce(&mut Slot) -> Result<(), SlotError>,
    ) -> Result<(), SlotError> {
        let mut s = self.slot(slot)?;
        f(&mut s)?;
        self.slots.set(slot, s);
        Ok(())
    }
}

/// `Ok` if the slot's page may be pinned: it holds one and is not being evicted.
fn pinnable(s: &Slot) -> Result<(), SlotError> {
    match s.state {
        SlotState::Occupied => Ok(()),
        SlotState::Evicting => Err(SlotError::Busy),
        SlotState::Free | SlotState::Reserved => Err(SlotError::WrongState),
    }
}

/// `Ok` if the slot holds (or is about to hold) a page: any state but free.
fn holding(s: &Slot) -> Result<(), SlotError> {
    if s.state == SlotState::Free {
        Err(SlotError::WrongState)
    } else {
        Ok(())
    }
}

/// The minimum residency as stored: stamps wrap at 2^32, so ages are meaningful below 2^31.
fn clamp_residency(min_residency: u64) -> u32 {
    min_residency.min(i32::MAX as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessed_by_follows_the_page_and_goes_with_it() {
        use crate::location::ProviderId;
        let mut c = Clock::new(2, 0).unwrap();
        let p6 = ProviderId::new(6).unwrap();
        assert_eq!(
            c.set_accessed_by(0, ProviderSet::EMPTY.with(p6)),
            Err(SlotError::WrongState)
        );
        let s = c.alloc_slot().unwrap();
        c.occupy(s, 1).unwrap();
        c.set_accessed_by(s, ProviderSet::EMPTY.with(p6)).unwrap();
        assert!(c.accessed_by(s).contains(p6));
        assert!(c.slot_info(s).unwrap().accessed_by.contains(p6));
        assert_eq!(c.accessed_by(99), ProviderSet::EMPTY);
        c.release(s).unwrap();
        assert_eq!(c.accessed_by(s), ProviderSet::EMPTY);
    }

    /// A clock with `n` slots occupied at time 0 and no minimum residency.
    fn full(n: u32) -> Clock {
        let mut c = Clock::new(n, 0).unwrap();
        for i in 0..n {
            assert_eq!(c.alloc_slot(), Some(i));
            c.occupy(i, 0).unwrap();
        }
        c
    }

    #[test]
    fn slots_are_allocated_until_full_and_reused() {
        let mut c = Clock::new(3, 0).unwrap();
        assert_eq!((c.capacity(), c.used()), (3, 0));
        let a = c.alloc_slot().unwrap();
        let b = c.alloc_slot().unwrap();
        let d = c.alloc_slot().unwrap();
        assert_eq!(c.alloc_slot(), None);
        assert_eq!(c.used(), 3);
        c.release(b).unwrap();
        assert_eq!(c.alloc_slot(), Some(b));
        assert_ne!(a, d);
        assert_eq!(c.release(7), Err(SlotError::OutOfRange));
        assert!(Clock::new(0, 0).unwrap().alloc_slot().is_none());
    }

    #[test]
    fn a_large_folio_is_claimed_whole_or_not_at_all() {
        let mut c = Clock::new(8, 0).unwrap();
        for _ in 0..8 {
            let s = c.alloc_slot().unwrap();
            c.occupy(s, 0).unwrap();
        }
        let mut out = [0; 1];
        assert_eq!(c.pick_victims(1, 1, &mut out), 1);
        let victim = out[0];
        c.pin(victim + 2).unwrap();
        // A pinned page keeps the folio in place, and nothing is marked.
        assert!(!c.claim_run(victim, 4));
        assert_eq!(c.slot_info(victim + 1).unwrap().state, "occupied");
        c.unpin(victim + 2).unwrap();
        assert!(c.claim_run(victim, 4));
        for s in victim..victim + 4 {
            assert_eq!(c.slot_info(s).unwrap().state, "evicting");
            // Nor can the marked pages be pinned meanwhile.
            assert_eq!(c.pin(s), Err(SlotError::Busy));
        }
        // The folio stayed: each mark is undone.
        for s in victim..victim + 4 {
            c.cancel_eviction(s).unwrap();
        }
        assert!(!c.claim_run(6, 4));
        c.release(7).unwrap();
        assert!(!c.claim_run(4, 4));
    }

    #[test]
    fn a_whole_chunk_is_taken_at_once_and_given_back_slot_by_slot() {
        let mut c = Clock::new(2 * CHUNK_SLOTS, 0).unwrap();
        let one = c.alloc_slot_for(3).unwrap();
        // The chunk of `one` is broken: the 2 MiB move gets the other one.
        assert_eq!(c.whole_free_chunks(), 1);
        let first = c.alloc_chunk_for(3).unwrap();
        assert_eq!(first % CHUNK_SLOTS, 0);
        assert_ne!(first / CHUNK_SLOTS, one / CHUNK_SLOTS);
        assert_eq!(c.alloc_chunk_for(3), None);
        assert_eq!(c.used(), CHUNK_SLOTS + 1);
        // Every slot of the chunk is reserved for the tenant, occupied and freed on its own.
        for s in first..first + CHUNK_SLOTS {
            assert_eq!(c.slot_info(s).unwrap().state, "reserved");
            assert_eq!(c.tenant(s), 3);
            c.occupy(s, 0).unwrap();
        }
        for s in first..first + CHUNK_SLOTS - 1 {
            assert_eq!(c.release(s), Ok(3));
        }
        assert_eq!(c.alloc_chunk_for(0), None);
        // The last slot back makes the chunk whole again; the tenant's attributes are counted per
        // slot, so `one` keeps them.
        assert_eq!(c.release(first + CHUNK_SLOTS - 1), Ok(3));
        assert_eq!(c.tenant(one), 3);
        assert_eq!(c.alloc_chunk_for(0), Some(first));
    }

    #[test]
    fn unreferenced_slots_go_in_hand_order() {
        let mut c = full(4);
        let mut out = [0; 4];
        assert_eq!(c.pick_victims(2, 0, &mut out), 2);
        assert_eq!(&out[..2], &[0, 1]);
        // Picked slots are not picked again.
        assert_eq!(c.pick_victims(4, 0, &mut out), 2);
        assert_eq!(&out[..2], &[2, 3]);
        assert_eq!(c.pick_victims(4, 0, &mut out), 0);
    }

    #[test]
    fn referenced_slots_get_a_second_chance() {
        let mut c = full(3);
        c.touch(0).unwrap();
        let mut out = [0; 1];
        assert_eq!(c.pick_victims(1, 0, &mut out), 1);
        assert_eq!(out[0], 1);
        // Slot 0's bit was cleared when the hand passed: with nothing else left it goes too.
        c.touch(2).unwrap();
        let mut out = [0; 3];
        assert_eq!(c.pick_victims(3, 0, &mut out), 2);
        assert_eq!(&out[..2], &[0, 2]);
    }

    #[test]
    fn pinned_slots_are_never_picked() {
        let mut c = full(3);
        c.pin(1).unwrap();
        c.pin(1).unwrap();
        let mut out = [0; 3];
        assert_eq!(c.pick_victims(3, 0, &mut out), 2);
        assert!(!out[..2].contains(&1));
        assert_eq!(c.release(1), Err(SlotError::Busy));
        assert_eq!(c.pin(0), Err(SlotError::Busy));
        c.unpin(1).unwrap();
        assert_eq!(c.pick_victims(3, 0, &mut out), 0);
        c.unpin(1).unwrap();
        assert_eq!(c.unpin(1), Err(SlotError::PinCount));
        assert_eq!(c.pick_victims(3, 0, &mut out), 1);
        assert_eq!(out[0], 1);
    }

    #[test]
    fn young_slots_stay_for_the_minimum_residency() {
        let mut c = Clock::new(2, 100).unwrap();
        for (i, t) in [(0, 0), (1, 50)] {
            assert_eq!(c.alloc_slot(), Some(i));
            c.occupy(i, t).unwrap();
        }
        let mut out = [0; 2];
        assert_eq!(c.pick_victims(2, 99, &mut out), 0);
        assert_eq!(c.pick_victims(2, 100, &mut out), 1);
        assert_eq!(out[0], 0);
        assert!(c.is_young(1, 149) && !c.is_young(1, 150));
        c.set_min_residency(0);
        assert_eq!(c.pick_victims(2, 100, &mut out), 1);
        assert_eq!(out[0], 1);
    }

    #[test]
    fn preferred_slots_go_only_when_nothing_else_can() {
        let mut c = full(3);
        c.set_preferred(0, true).unwrap();
        c.set_preferred(1, true).unwrap();
        c.touch(2).unwrap();
        let mut out = [0; 1];
        // Slot 2 is referenced but still goes before the preferred ones (after its second chance).
        assert_eq!(c.pick_victims(1, 0, &mut out), 1);
        assert_eq!(out[0], 2);
        let mut out = [0; 3];
        assert_eq!(c.pick_victims(3, 0, &mut out), 2);
        out[..2].sort_unstable();
        assert_eq!(&out[..2], &[0, 1]);
    }

    #[test]
    fn cancelled_and_released_evictions() {
        let mut c = full(2);
        let mut out = [0; 2];
        assert_eq!(c.pick_victims(2, 0, &mut out), 2);
        c.cancel_eviction(out[0]).unwrap();
        c.release(out[1]).unwrap();
        assert_eq!(c.cancel_eviction(out[1]), Err(SlotError::WrongState));
        assert_eq!(c.used(), 1);
        assert_eq!(c.pick_victims(2, 0, &mut out), 1);
        assert_eq!(c.touch(out[0]), Err(SlotError::WrongState));
    }

    #[test]
    fn accessor_sets_are_shared_counted_and_bounded() {
        use crate::location::ProviderId;
        let n = ATTR_SETS as u32 + 2;
        let mut c = full(n);
        let set = |i: u32| ProviderSet::from_bits(u64::from(i) + 1);
        for i in 0..ATTR_SETS as u32 {
            c.set_accessed_by(i, set(i)).unwrap();
        }
        // Every index is taken: a new set is refused, a known one is shared.
        assert_eq!(
            c.set_accessed_by(n - 2, set(n)),
            Err(SlotError::TooManySets)
        );
        assert_eq!(Errno::from(SlotError::TooManySets), Errno::NoSpc);
        c.set_accessed_by(n - 2, set(3)).unwrap();
        assert_eq!(c.accessed_by(n - 2), set(3));
        // Releasing the last slot naming a set frees its index for another set.
        c.release(0).unwrap();
        c.set_accessed_by(n - 1, set(n)).unwrap();
        assert_eq!((c.accessed_by(n - 1), c.accessed_by(3)), (set(n), set(3)));
        // Replacing a slot's set drops its reference to the old one.
        c.set_accessed_by(1, ProviderSet::EMPTY).unwrap();
        let p = ProviderId::new(9).unwrap();
        c.set_accessed_by(2, ProviderSet::EMPTY.with(p)).unwrap();
        assert!(c.accessed_by(2).contains(p));
    }

    #[test]
    fn stamps_wrap_and_residency_is_clamped() {
        let mut c = Clock::new(1, u64::MAX).unwrap();
        let s = c.alloc_slot().unwrap();
        c.occupy(s, u64::from(u32::MAX)).unwrap();
        // Two units later, across the wrap of the stamp: still young.
        assert!(c.is_young(s, (1 << 32) + 1));
        c.set_min_residency(3);
        assert!(c.is_young(s, (1 << 32) + 1) && !c.is_young(s, (1 << 32) + 2));
    }

    #[test]
    fn pins_are_bounded() {
        let mut c = full(1);
        for _ in 0..MAX_COUNTED_PINS {
            c.pin(0).unwrap();
        }
        assert_eq!(c.pin(0), Err(SlotError::PinCount));
        assert_eq!(c.slot_info(0).unwrap().pins, u32::from(MAX_COUNTED_PINS));
        // The advice pin is apart: it still fits, and counts once.
        c.set_advice_pin(0, true).unwrap();
        assert_eq!(
            c.slot_info(0).unwrap().pins,
            u32::from(MAX_COUNTED_PINS) + 1
        );
    }

    #[test]
    fn advice_pin_and_counted_pins_are_apart() {
        let mut c = full(2);
        let mut out = [0; 2];
        // A device's pin, then advice given twice and cleared once: the device's pin stays.
        c.pin(0).unwrap();
        c.set_advice_pin(0, true).unwrap();
        c.set_advice_pin(0, true).unwrap();
        assert_eq!(c.slot_info(0).unwrap().pins, 2);
        c.set_advice_pin(0, false).unwrap();
        assert!(c.is_pinned(0));
        c.take_pinned_passed();
        assert_eq!(c.pick_victims(2, 0, &mut out), 1);
        assert_eq!(out[0], 1);
        // The pick passed the pinned page once.
        assert_eq!(c.take_pinned_passed(), 1);
        assert_eq!(c.take_pinned_passed(), 0);
        c.cancel_eviction(1).unwrap();
        // The advice alone pins too, and the device's unpin leaves it.
        c.set_advice_pin(0, true).unwrap();
        c.unpin(0).unwrap();
        assert!(c.is_pinned(0));
        assert_eq!(c.unpin(0), Err(SlotError::PinCount));
        c.set_advice_pin(0, false).unwrap();
        assert!(!c.is_pinned(0));
        // A page being evicted takes no new pin of either kind; clearing takes any.
        c.pin(1).unwrap();
        c.set_advice_pin(1, true).unwrap();
        c.clear_pins(1).unwrap();
        assert!(!c.is_pinned(1));
        assert_eq!(c.pick_victims(1, 0, &mut out), 1);
        assert_eq!(c.pin(out[0]), Err(SlotError::Busy));
        assert_eq!(c.set_advice_pin(out[0], true), Err(SlotError::Busy));
    }

    #[test]
    fn out_bounds_the_number_of_victims() {
        let mut c = full(4);
        let mut out = [0; 1];
        assert_eq!(c.pick_victims(usize::MAX, 0, &mut out), 1);
    }

    #[test]
    fn reserved_slots_are_not_victims_until_occupied() {
        let mut c = Clock::new(1, 0).unwrap();
        let s = c.alloc_slot().unwrap();
        let mut out = [0; 1];
        assert_eq!(c.pick_victims(1, 0, &mut out), 0);
        assert_eq!(c.touch(s), Err(SlotError::WrongState));
        c.occupy(s, 5).unwrap();
        assert_eq!(c.occupy(s, 5), Err(SlotError::WrongState));
        assert_eq!(c.pick_victims(1, 5, &mut out), 1);
    }

    #[test]
    fn slot_info_reports_state() {
        let mut c = Clock::new(2, 0).unwrap();
        let s = c.alloc_slot().unwrap();
        assert_eq!(c.slot_info(s).unwrap().state, "reserved");
        c.occupy(s, 7).unwrap();
        c.pin(s).unwrap();
        let i = c.slot_info(s).unwrap();
        assert_eq!(
            (i.state, i.pins, i.occupied_at, i.age(10)),
            ("occupied", 1, 7, 3)
        );
        assert_eq!(c.slot_info(1 - s).unwrap().state, "free");
        assert_eq!(c.slot_info(2), None);
    }

    #[test]
    fn tenants_follow_the_page_and_keep_their_advice() {
        let mut c = Clock::new(3, 0).unwrap();
        let a = c.alloc_slot_for(7).unwrap();
        let b = c.alloc_slot_for(9).unwrap();
        let none = c.alloc_slot().unwrap();
        assert_eq!((c.tenant(a), c.tenant(b), c.tenant(none)), (7, 9, 0));
        for s in [a, b, none] {
            c.occupy(s, 0).unwrap();
        }
        // Advice changes the set of accessing devices, not the tenant.
        let set = ProviderSet::from_bits(4);
        c.set_accessed_by(a, set).unwrap();
        assert_eq!((c.tenant(a), c.accessed_by(a)), (7, set));
        assert_eq!(c.slot_info(a).unwrap().tenant, 7);
        // Releasing hands the tenant back to be uncharged; the freed slot has none.
        assert_eq!(c.release(a), Ok(7));
        assert_eq!(c.tenant(a), 0);
        assert_eq!(c.release(none), Ok(0));
    }

    #[test]
    fn tenant_masks_decide_whose_pages_are_victims() {
        let mut c = Clock::new(4, 0).unwrap();
        for t in [1u8, 2, 1, 200] {
            let s = c.alloc_slot_for(t).unwrap();
            c.occupy(s, 0).unwrap();
        }
        let mut out = [0; 4];
        assert_eq!(c.pick_victims_of(4, 0, &mut out, &TenantMask::NONE), 0);
        let mut only = TenantMask::NONE;
        only.insert(1);
        assert!(only.contains(1) && !only.contains(2) && !only.contains(200));
        assert_eq!(c.pick_victims_of(4, 0, &mut out, &only), 2);
        assert_eq!((c.tenant(out[0]), c.tenant(out[1])), (1, 1));
        only.insert(200);
        assert_eq!(c.pick_victims_of(4, 0, &mut out, &only), 1);
        assert_eq!(c.tenant(out[0]), 200);
        // What is left is tenant 2's, which every tenant mask but these reaches.
        assert_eq!(c.pick_victims(4, 0, &mut out), 1);
        assert_eq!(c.tenant(out[0]), 2);
    }

    #[test]
    fn tenants_share_the_bounded_attribute_table() {
        let n = ATTR_SETS as u32 + 1;
        let mut c = Clock::new(n + 1, 0).unwrap();
        for t in 1..=ATTR_SETS as u32 {
            assert!(c.alloc_slot_for(t as u8).is_some());
        }
        // Every pair is taken: a new one is refused; known ones and tenant 0 are shared.
        c.occupy(0, 0).unwrap();
        assert_eq!(
            c.set_accessed_by(0, ProviderSet::from_bits(1)),
            Err(SlotError::TooManySets)
        );
        let used = c.used();
        let shared = c.alloc_slot_for(5).unwrap();
        let nobody = c.alloc_slot_for(0).unwrap();
        assert_eq!((c.tenant(shared), c.tenant(nobody)), (5, 0));
        assert_eq!(c.used(), used + 2);
        // Releasing the last page of tenant 1 frees its pair for another.
        assert_eq!(c.release(0), Ok(1));
        c.occupy(shared, 0).unwrap();
        c.set_accessed_by(shared, ProviderSet::from_bits(1))
            .unwrap();
        assert_eq!(c.tenant(shared), 5);
    }
}
