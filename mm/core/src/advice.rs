// SPDX-License-Identifier: GPL-2.0

//! Placement advice for address ranges, in the manner of `madvise(2)` and CUDA's `cudaMemAdvise`.
//!
//! Advice is kept per range: advising part of a range splits it, and neighbours that end up with
//! equal advice are merged again, the way VMAs are. Ranges without advice have no entry at all, so
//! an untouched address space costs nothing.
//!
//! The flag type is a plain newtype rather than `bitflags`, which the kernel build cannot use;
//! unknown bits are rejected when decoding, because the uAPI answers unknown flags with `EINVAL` so
//! they can be given a meaning later.

use crate::errno::Errno;
use crate::location::{Location, ProviderId};
use crate::range_index::{Entry, RangeError, RangeIndex};
use crate::versioned::FixedBuf;

/// Boolean advice bits (the uAPI's `P2PMM_ADVISE_*` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdviceFlags(u32);

impl AdviceFlags {
    /// No flag.
    pub const EMPTY: AdviceFlags = AdviceFlags(0);
    /// Mostly read: importers may each get a copy instead of sharing one location.
    pub const READ_MOSTLY: AdviceFlags = AdviceFlags(1 << 0);
    /// Never evict these pages from the provider they live on.
    pub const PINNED: AdviceFlags = AdviceFlags(1 << 1);
    /// Every flag this build knows.
    pub const ALL: AdviceFlags = AdviceFlags(Self::READ_MOSTLY.0 | Self::PINNED.0);

    /// Decodes flags from userspace: `EINVAL` if any bit is unknown.
    pub const fn from_bits(bits: u32) -> Result<AdviceFlags, Errno> {
        if bits & !Self::ALL.0 != 0 {
            Err(Errno::Inval)
        } else {
            Ok(AdviceFlags(bits))
        }
    }

    /// The raw bits, for the uAPI.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: AdviceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` set.
    pub const fn with(self, other: AdviceFlags) -> AdviceFlags {
        AdviceFlags(self.0 | other.0)
    }

    /// `self` with the flags of `other` cleared.
    pub const fn without(self, other: AdviceFlags) -> AdviceFlags {
        AdviceFlags(self.0 & !other.0)
    }
}

/// A set of providers, one bit per [`ProviderId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProviderSet(u64);

impl ProviderSet {
    /// The empty set.
    pub const EMPTY: ProviderSet = ProviderSet(0);

    /// The set from its uAPI bitmap; every bit names a valid provider index.
    pub const fn from_bits(bits: u64) -> ProviderSet {
        ProviderSet(bits)
    }

    /// The uAPI bitmap.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether `p` is in the set.
    pub const fn contains(self, p: ProviderId) -> bool {
        self.0 & (1 << p.index()) != 0
    }

    /// The set with `p` added.
    pub const fn with(self, p: ProviderId) -> ProviderSet {
        ProviderSet(self.0 | (1 << p.index()))
    }

    /// The set with `p` removed.
    pub const fn without(self, p: ProviderId) -> ProviderSet {
        ProviderSet(self.0 & !(1 << p.index()))
    }
}

/// The advice in force for a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Advice {
    /// Where the page should live when nothing else decides.
    pub preferred: Option<Location>,
    /// Providers whose devices access the page; a hint to map it there rather than migrate it.
    pub accessed_by: ProviderSet,
    /// Boolean advice.
    pub flags: AdviceFlags,
}

/// One change of advice, applied to every page of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdviceChange {
    /// Set the preferred location.
    SetPreferred(Location),
    /// Forget the preferred location.
    ClearPreferred,
    /// Add a provider to the accessed-by set.
    SetAccessedBy(ProviderId),
    /// Remove a provider from the accessed-by set.
    ClearAccessedBy(ProviderId),
    /// Set flags.
    SetFlags(AdviceFlags),
    /// Clear flags.
    ClearFlags(AdviceFlags),
}

impl Advice {
    /// The advice after `change`.
    pub const fn changed(self, change: AdviceChange) -> Advice {
        let mut a = self;
        match change {
            AdviceChange::SetPreferred(loc) => a.preferred = Some(loc),
            AdviceChange::ClearPreferred => a.preferred = None,
            AdviceChange::SetAccessedBy(p) => a.accessed_by = a.accessed_by.with(p),
            AdviceChange::ClearAccessedBy(p) => a.accessed_by = a.accessed_by.without(p),
            AdviceChange::SetFlags(f) => a.flags = a.flags.with(f),
            AdviceChange::ClearFlags(f) => a.flags = a.flags.without(f),
        }
        a
    }

    fn is_default(&self) -> bool {
        *self == Advice::default()
    }
}

/// Advice per address range; addresses without an entry have the default (empty) advice.
#[derive(Default)]
pub struct AdviceMap {
    ranges: RangeIndex<Advice>,
}

impl AdviceMap {
    /// A map with no advice.
    pub const fn new() -> Self {
        AdviceMap {
            ranges: RangeIndex::new(),
        }
    }

    /// The advice for `addr`.
    pub fn get(&self, addr: u64) -> Advice {
        self.ranges
            .lookup(addr)
            .map_or(Advice::default(), |e| e.value)
    }

    /// The ranges with advice that overlap `[start, end)` (their bounds are not clipped).
    pub fn ranges(&self, start: u64, end: u64) -> crate::range_index::Overlaps<'_, Advice> {
        self.ranges.overlapping(start, end)
    }

    /// The number of ranges with advice.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether no address has advice.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Applies `change` to `[start, end)`.
    ///
    /// On `NoMemory`, as with `madvise(2)`, part of the range may already carry the new advice;
    /// advice outside the range is never changed.
    pub fn advise(&mut self, start: u64, end: u64, change: AdviceChange) -> Result<(), RangeError> {
        if start >= end {
            return Err(RangeError::Empty);
        }
        // After these splits no entry straddles a bound, so every entry met below lies wholly
        // inside.
        self.ranges.split_at(start)?;
        self.ranges.split_at(end)?;
        let fresh = Advice::default().changed(change);
        let mut cursor = start;
        while cursor < end {
            let next = self.ranges.overlapping(cursor, end).next();
            let gap_end = next.map_or(end, |e| e.start);
            if gap_end > cursor && !fresh.is_default() {
                self.ranges.insert(cursor, gap_end, fresh)?;
            }
            let Some(e) = next else {
                break;
            };
            let new = e.value.changed(change);
            if new.is_default() {
                self.ranges.remove(e.start);
            } else if let Some(v) = self.ranges.value_mut(e.start) {
                *v = new;
            }
            cursor = e.end;
        }
        self.merge(start, end)
    }

    /// Drops all advice for `[start, end)` (the range was unmapped).
    ///
    /// Fails only if splitting an entry at a bound needs memory; nothing has changed then.
    pub fn clear(&mut self, start: u64, end: u64) -> Result<(), RangeError> {
        if start >= end {
            return Err(RangeError::Empty);
        }
        self.ranges.split_at(start)?;
        if let Err(e) = self.ranges.split_at(end) {
            // Undo the first split so that the map is exactly as it was.
            self.merge(start, start)?;
            return Err(e);
        }
        while let Some(e) = self.ranges.overlapping(start, end).next() {
            self.ranges.remove(e.start);
        }
        Ok(())
    }

    /// A map holding exactly `entries` (sorted, not overlapping, as [`AdviceMap::ranges`] returns
    /// them): how a caller that must not allocate under its lock rebuilds a copy outside it.
    pub fn from_entries(entries: &[Entry<Advice>]) -> Result<Self, RangeError> {
        let mut m = AdviceMap::new();
        for e in entries {
            m.ranges.insert(e.start, e.end, e.value)?;
        }
        Ok(m)
    }

    /// Copies the entries overlapping `[start, end)` into `out` without allocating (the copying
    /// step of [`crate::versioned::update`]); `false` (and `out` partly filled) if they do not fit.
    pub fn copy_within_capacity(
        &self,
        start: u64,
        end: u64,
        out: &mut FixedBuf<'_, Entry<Advice>>,
    ) -> bool {
        self.ranges.overlapping(start, end).all(|e| out.push(e))
    }

    /// Forgets advice for `[start, end)` without allocating (for an unmap notification, where
    /// allocation is not allowed): entries inside go, entries crossing a bound are trimmed. An
    /// entry that contains the whole range cannot be split without memory and keeps its advice;
    /// returns `false` in that case.
    pub fn forget(&mut self, start: u64, end: u64) -> bool {
        let mut complete = true;
        let mut cursor = start;
        while cursor < end {
            let Some(e) = self.ranges.overlapping(cursor, end).next() else {
                break;
            };
            cursor = e.end;
            let done = if e.start >= start && e.end <= end {
                self.ranges.remove(e.start);
                Ok(())
            } else if e.start < start && e.end > end {
                complete = false;
                Ok(())
            } else if e.start < start {
                self.ranges.set_end(e.start, start)
            } else {
                self.ranges.set_start(e.start, end)
            };
            // Each case was chosen so its operation applies; a failure would leave advice, never
            // corrupt it.
            complete &= done.is_ok();
        }
        complete
    }

    /// Merges touching entries with equal advice from the one before `start` to the one after
    /// `end`.
    fn merge(&mut self, start: u64, end: u64) -> Result<(), RangeError> {
        let mut pos = start.saturating_sub(1);
        while let Some(a) = self.ranges.overlapping(pos, u64::MAX).next() {
            if a.start > end {
                break;
            }
            match self.ranges.lookup(a.end) {
                Some(b) if b.start == a.end && b.value == a.value => {
                    self.ranges.remove(b.start);
                    // Nothing lies between the two any more, so growing `a` over `b` cannot
                    // overlap.
                    self.ranges.set_end(a.start, b.end)?;
                }
                _ => pos = a.end,
            }
        }
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

    fn dump(m: &AdviceMap) -> StdVec<(u64, u64, Advice)> {
        m.ranges(0, u64::MAX)
            .map(|e| (e.start, e.end, e.value))
            .collect()
    }

    #[test]
    fn unknown_flag_bits_are_einval() {
        assert_eq!(AdviceFlags::from_bits(0), Ok(AdviceFlags::EMPTY));
        assert_eq!(AdviceFlags::from_bits(3), Ok(AdviceFlags::ALL));
        assert_eq!(AdviceFlags::from_bits(4), Err(Errno::Inval));
        assert_eq!(AdviceFlags::from_bits(u32::MAX), Err(Errno::Inval));
        let f = AdviceFlags::READ_MOSTLY.with(AdviceFlags::PINNED);
        assert!(f.contains(AdviceFlags::PINNED));
        assert!(!f.without(AdviceFlags::PINNED).contains(AdviceFlags::PINNED));
    }

    #[test]
    fn provider_sets() {
        let s = ProviderSet::EMPTY.with(p(0)).with(p(63));
        assert_eq!(s.bits(), 1 | 1 << 63);
        assert!(s.contains(p(63)) && !s.contains(p(1)));
        assert_eq!(s.without(p(0)).without(p(63)), ProviderSet::EMPTY);
    }

    #[test]
    fn advising_a_sub_range_splits_and_clearing_merges_back() {
        let mut m = AdviceMap::new();
        let pref = AdviceChange::SetPreferred(Location::Provider(p(1)));
        m.advise(0, 10, pref).unwrap();
        m.advise(4, 6, AdviceChange::SetFlags(AdviceFlags::PINNED))
            .unwrap();
        assert_eq!(dump(&m).len(), 3);
        assert!(m.get(5).flags.contains(AdviceFlags::PINNED));
        assert!(!m.get(6).flags.contains(AdviceFlags::PINNED));
        assert_eq!(m.get(9).preferred, Some(Location::Provider(p(1))));
        m.advise(4, 6, AdviceChange::ClearFlags(AdviceFlags::PINNED))
            .unwrap();
        assert_eq!(dump(&m), [(0, 10, Advice::default().changed(pref))]);
        m.advise(0, 10, AdviceChange::ClearPreferred).unwrap();
        assert!(m.is_empty());
        m.advise(0, 10, pref).unwrap();
        m.clear(3, 5).unwrap();
        assert_eq!(dump(&m).len(), 2);
        assert_eq!(m.get(4), Advice::default());
        assert_eq!(m.clear(5, 5), Err(RangeError::Empty));
    }

    #[test]
    fn advice_fills_gaps_and_joins_neighbours() {
        let mut m = AdviceMap::new();
        let rm = AdviceChange::SetFlags(AdviceFlags::READ_MOSTLY);
        m.advise(0, 2, rm).unwrap();
        m.advise(8, 10, rm).unwrap();
        m.advise(5, 6, AdviceChange::SetAccessedBy(p(2))).unwrap();
        m.advise(1, 9, rm).unwrap();
        let d = dump(&m);
        assert_eq!(d.len(), 3);
        assert_eq!((d[0].0, d[0].1), (0, 5));
        assert_eq!((d[1].0, d[1].1), (5, 6));
        assert_eq!(d[1].2.accessed_by, ProviderSet::EMPTY.with(p(2)));
        assert!(d[1].2.flags.contains(AdviceFlags::READ_MOSTLY));
        assert_eq!((d[2].0, d[2].1), (6, 10));
        assert_eq!(m.advise(3, 3, rm), Err(RangeError::Empty));
    }

    /// Random advice against a per-address array.
    #[test]
    fn matches_a_per_address_model() {
        const N: usize = 64;
        let mut m = AdviceMap::new();
        let mut model = [Advice::default(); N];
        let mut x: u32 = 0x1234_5678;
        for _ in 0..3000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let a = u64::from(x % N as u32);
            let b = a + 1 + u64::from((x >> 8) % 16);
            let b = b.min(N as u64);
            let change = match (x >> 16) % 6 {
                0 => AdviceChange::SetPreferred(Location::Provider(p((x >> 20) as u16 % 3))),
                1 => AdviceChange::ClearPreferred,
                2 => AdviceChange::SetAccessedBy(p((x >> 20) as u16 % 3)),
                3 => AdviceChange::ClearAccessedBy(p((x >> 20) as u16 % 3)),
                4 => AdviceChange::SetFlags(AdviceFlags::PINNED),
                _ => AdviceChange::ClearFlags(AdviceFlags::ALL),
            };
            m.advise(a, b, change).unwrap();
            for adv in &mut model[a as usize..b as usize] {
                *adv = adv.changed(change);
            }
            for (i, want) in model.iter().enumerate() {
                assert_eq!(m.get(i as u64), *want, "address {i}");
            }
            // Fully merged: no two touching entries carry equal advice, no entry carries the
            // default.
            let d = dump(&m);
            assert!(d.iter().all(|e| !e.2.is_default()));
            assert!(d.windows(2).all(|w| w[0].1 != w[1].0 || w[0].2 != w[1].2));
        }
    }

    #[test]
    fn forget_trims_and_removes_without_splitting() {
        let mut m = AdviceMap::new();
        let pin = AdviceChange::SetFlags(AdviceFlags::PINNED);
        m.advise(0x1000, 0x5000, pin).unwrap();
        m.advise(
            0x8000,
            0x9000,
            AdviceChange::SetFlags(AdviceFlags::READ_MOSTLY),
        )
        .unwrap();
        // Crosses the first entry's end and swallows the second.
        assert!(m.forget(0x3000, 0xa000));
        assert_eq!(m.get(0x2000).flags, AdviceFlags::PINNED);
        assert_eq!(m.get(0x3000), Advice::default());
        assert_eq!(m.get(0x8000), Advice::default());
        // Crosses the start.
        assert!(m.forget(0x0, 0x2000));
        assert_eq!(m.get(0x1000), Advice::default());
        assert_eq!(m.get(0x2000).flags, AdviceFlags::PINNED);
        // A hole in the middle cannot be split out without memory: reported, advice kept.
        m.advise(0x10000, 0x20000, pin).unwrap();
        assert!(!m.forget(0x14000, 0x15000));
        assert_eq!(m.get(0x14000).flags, AdviceFlags::PINNED);
    }
}
