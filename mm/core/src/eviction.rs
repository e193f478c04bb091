// SPDX-License-Identifier: GPL-2.0

//! Slot bookkeeping and victim selection for one managed provider: a CLOCK (second-chance) replacement.
//!
//! A managed provider's memory is a fixed number of page-sized slots. The kernel calls into this under the
//! provider's spinlock, from the fault path and from reclaim, so everything after [`Clock::new`] works in place:
//! one allocation at creation, none afterwards, and no clock read inside (time is passed in, jiffies or ns).
//!
//! Victim selection honours, in this order:
//! - pinned slots are never picked;
//! - a slot occupied less than `min_residency` ago is not picked: a page that just moved in stays a while, which
//!   damps migration ping-pong between two devices (drm_pagemap's `timeslice_ms` does the same);
//! - a slot whose page prefers this provider is picked only when no other slot is evictable;
//! - a referenced slot gets a second chance: its bit is cleared and the hand moves on.
//!
//! A picked slot is marked as being evicted, so neither this nor a later call picks it again before the caller
//! either releases it (the page moved out) or puts it back with [`Clock::cancel_eviction`].

use crate::advice::ProviderSet;
use crate::errno::Errno;
use crate::kalloc::{self, AllocError, Vec};

/// The lifecycle of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// On the free list.
    Free,
    /// Handed out by `alloc_slot`, a page is being copied in; not evictable yet.
    Reserved,
    /// Holds a page.
    Occupied,
    /// Picked as a victim; its page is being copied out.
    Evicting,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// When the page moved in: the start of its minimum residency.
    occupied_at: u64,
    /// Pins from importers mapping the page and from pinning advice.
    pins: u32,
    /// The next free slot, when this one is free (`NONE` ends the list).
    next_free: u32,
    state: SlotState,
    /// Accessed since the hand last passed.
    referenced: bool,
    /// The page's preferred location is this provider.
    preferred: bool,
    /// The providers whose devices are advised to access the page (`P2PMM_ADV_ACCESSED_BY`).
    accessed_by: ProviderSet,
}

const NONE: u32 = u32::MAX;

/// A misuse of a slot (a caller bug in the subsystem, `EINVAL`, except for `Busy`).
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
}

impl From<SlotError> for Errno {
    fn from(e: SlotError) -> Errno {
        match e {
            SlotError::Busy => Errno::Busy,
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
    /// When the page moved in.
    pub occupied_at: u64,
    /// The providers whose devices access the page.
    pub accessed_by: ProviderSet,
}

/// The slots of one managed provider and the CLOCK hand over them.
pub struct Clock {
    slots: Vec<Slot>,
    hand: u32,
    free_head: u32,
    used: u32,
    min_residency: u64,
}

impl Clock {
    /// A provider with `capacity` free slots; `min_residency` in the caller's time unit.
    ///
    /// The one allocation of the clock; fails with `AllocError` if it cannot be made or if `capacity` does not fit
    /// a `u32` slot number.
    pub fn new(capacity: u32, min_residency: u64) -> Result<Clock, AllocError> {
        if capacity == NONE {
            return Err(AllocError);
        }
        let free = Slot {
            occupied_at: 0,
            pins: 0,
            next_free: NONE,
            state: SlotState::Free,
            referenced: false,
            preferred: false,
            accessed_by: ProviderSet::EMPTY,
        };
        let mut slots = kalloc::try_from_elem(free, capacity as usize)?;
        for (i, s) in slots.iter_mut().enumerate() {
            // `i + 1 <= capacity < NONE`, so the list ends with `NONE` only at the last slot.
            s.next_free = if i + 1 < capacity as usize {
                i as u32 + 1
            } else {
                NONE
            };
        }
        Ok(Clock {
            slots,
            hand: 0,
            free_head: if capacity > 0 { 0 } else { NONE },
            used: 0,
            min_residency,
        })
    }

    /// The number of slots.
    pub fn capacity(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The number of slots not on the free list.
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Changes the minimum residency.
    pub fn set_min_residency(&mut self, min_residency: u64) {
        self.min_residency = min_residency;
    }

    /// Takes a free slot for a page about to be copied in, or `None` if the provider is full.
    pub fn alloc_slot(&mut self) -> Option<u32> {
        let i = self.free_head;
        let s = self.slots.get_mut(i as usize)?;
        self.free_head = s.next_free;
        s.state = SlotState::Reserved;
        s.next_free = NONE;
        self.used += 1;
        Some(i)
    }

    /// The page arrived in a slot from [`Clock::alloc_slot`] at time `now`.
    pub fn occupy(&mut self, slot: u32, now: u64) -> Result<(), SlotError> {
        let s = self.slot_in(slot, SlotState::Reserved)?;
        s.state = SlotState::Occupied;
        s.occupied_at = now;
        s.referenced = false;
        Ok(())
    }

    /// The slot's page is gone (moved out, freed, or its copy-in failed): the slot goes back on the free list.
    ///
    /// Refused while the slot is pinned.
    pub fn release(&mut self, slot: u32) -> Result<(), SlotError> {
        let head = self.free_head;
        let s = self.slot_mut(slot)?;
        if s.state == SlotState::Free {
            return Err(SlotError::WrongState);
        }
        if s.pins > 0 {
            return Err(SlotError::Busy);
        }
        s.state = SlotState::Free;
        s.referenced = false;
        s.preferred = false;
        s.accessed_by = ProviderSet::EMPTY;
        s.next_free = head;
        self.free_head = slot;
        self.used -= 1;
        Ok(())
    }

    /// The page was accessed: it gets a second chance when the hand next passes.
    pub fn touch(&mut self, slot: u32) -> Result<(), SlotError> {
        self.slot_in(slot, SlotState::Occupied)?.referenced = true;
        Ok(())
    }

    /// Records whether the slot's page prefers this provider.
    pub fn set_preferred(&mut self, slot: u32, preferred: bool) -> Result<(), SlotError> {
        self.slot_holding_mut(slot)?.preferred = preferred;
        Ok(())
    }

    /// Records which providers' devices are advised to access the slot's page: where it may go when evicted
    /// depends on whether they reach that place.
    pub fn set_accessed_by(&mut self, slot: u32, set: ProviderSet) -> Result<(), SlotError> {
        self.slot_holding_mut(slot)?.accessed_by = set;
        Ok(())
    }

    /// The providers whose devices access the slot's page (empty for a free slot or one past the capacity).
    pub fn accessed_by(&self, slot: u32) -> ProviderSet {
        self.slots
            .get(slot as usize)
            .map_or(ProviderSet::EMPTY, |s| s.accessed_by)
    }

    /// Pins the slot's page: it is not picked until unpinned. Refused while the slot is being evicted.
    pub fn pin(&mut self, slot: u32) -> Result<(), SlotError> {
        let s = self.slot_mut(slot)?;
        match s.state {
            SlotState::Occupied => {}
            SlotState::Evicting => return Err(SlotError::Busy),
            SlotState::Free | SlotState::Reserved => return Err(SlotError::WrongState),
        }
        s.pins = s.pins.checked_add(1).ok_or(SlotError::PinCount)?;
        Ok(())
    }

    /// Drops one pin.
    pub fn unpin(&mut self, slot: u32) -> Result<(), SlotError> {
        let s = self.slot_mut(slot)?;
        s.pins = s.pins.checked_sub(1).ok_or(SlotError::PinCount)?;
        Ok(())
    }

    /// Whether the slot's page moved in less than the minimum residency before `now`.
    pub fn is_young(&self, slot: u32, now: u64) -> bool {
        self.slots
            .get(slot as usize)
            .is_some_and(|s| now.saturating_sub(s.occupied_at) < self.min_residency)
    }

    /// What `slot` holds (`None` past the capacity).
    pub fn slot_info(&self, slot: u32) -> Option<SlotInfo> {
        let s = self.slots.get(slot as usize)?;
        Some(SlotInfo {
            state: match s.state {
                SlotState::Free => "free",
                SlotState::Reserved => "reserved",
                SlotState::Occupied => "occupied",
                SlotState::Evicting => "evicting",
            },
            pins: s.pins,
            preferred: s.preferred,
            referenced: s.referenced,
            occupied_at: s.occupied_at,
            accessed_by: s.accessed_by,
        })
    }

    /// The position of the CLOCK hand.
    pub fn hand(&self) -> u32 {
        self.hand
    }

    /// Whether the slot holds a pinned page.
    pub fn is_pinned(&self, slot: u32) -> bool {
        self.slots.get(slot as usize).is_some_and(|s| s.pins > 0)
    }

    /// The eviction of a picked slot failed: it holds its page again (keeping its residency start).
    pub fn cancel_eviction(&mut self, slot: u32) -> Result<(), SlotError> {
        self.slot_in(slot, SlotState::Evicting)?.state = SlotState::Occupied;
        Ok(())
    }

    /// Picks up to `max` victims (bounded by `out.len()`), writes their slot numbers to `out` and returns how many.
    ///
    /// Picked slots are marked as being evicted; the caller moves their pages out and then calls
    /// [`Clock::release`] or [`Clock::cancel_eviction`] for each.
    pub fn pick_victims(&mut self, max: usize, now: u64, out: &mut [u32]) -> usize {
        let want = max.min(out.len());
        let (mut n, skipped_preferred) = self.sweep(want, now, false, out);
        if n < want && skipped_preferred {
            n += self.sweep(want - n, now, true, &mut out[n..]).0;
        }
        n
    }

    /// Moves the hand at most two full turns (one to clear referenced bits, one to pick them), picking up to
    /// `want` victims. Returns how many it picked and whether it passed over an eligible preferred slot.
    fn sweep(
        &mut self,
        want: usize,
        now: u64,
        take_preferred: bool,
        out: &mut [u32],
    ) -> (usize, bool) {
        let cap = self.slots.len();
        let mut picked = 0;
        let mut skipped_preferred = false;
        let mut steps = 0;
        while picked < want && steps < 2 * cap {
            let i = self.hand as usize;
            self.hand = if i + 1 < cap { i as u32 + 1 } else { 0 };
            steps += 1;
            let s = &mut self.slots[i];
            if s.state != SlotState::Occupied
                || s.pins > 0
                || now.saturating_sub(s.occupied_at) < self.min_residency
            {
                continue;
            }
            if s.preferred && !take_preferred {
                skipped_preferred = true;
                continue;
            }
            if s.referenced {
                s.referenced = false;
                continue;
            }
            s.state = SlotState::Evicting;
            out[picked] = i as u32;
            picked += 1;
        }
        (picked, skipped_preferred)
    }

    fn slot_mut(&mut self, slot: u32) -> Result<&mut Slot, SlotError> {
        self.slots
            .get_mut(slot as usize)
            .ok_or(SlotError::OutOfRange)
    }

    /// A slot that holds (or is about to hold) a page: any state but free.
    fn slot_holding_mut(&mut self, slot: u32) -> Result<&mut Slot, SlotError> {
        let s = self.slot_mut(slot)?;
        if s.state == SlotState::Free {
            return Err(SlotError::WrongState);
        }
        Ok(s)
    }

    fn slot_in(&mut self, slot: u32, state: SlotState) -> Result<&mut Slot, SlotError> {
        let s = self.slot_mut(slot)?;
        if s.state == state {
            Ok(s)
        } else {
            Err(SlotError::WrongState)
        }
    }
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
        assert_eq!((i.state, i.pins, i.occupied_at), ("occupied", 1, 7));
        assert_eq!(c.slot_info(1 - s).unwrap().state, "free");
        assert_eq!(c.slot_info(2), None);
    }
}
