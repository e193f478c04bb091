// SPDX-License-Identifier: GPL-2.0

//! A map from disjoint address ranges `[start, end)` to small values: the invalidation lookup.
//!
//! An invalidation callback gets an address range and must find every registered range that
//! overlaps it, on every `munmap()`, `mprotect()` or migration of the process, so lookups dominate.
//! The index is a B+-tree with a single inner level: a sorted array of block keys (the start of
//! each block's first entry) over sorted blocks of at most [`BLOCK`] entries. A lookup
//! binary-searches the key array, which is small and dense (8 bytes per block, so it stays in the
//! CPU cache even at a million ranges), then one block, which is one small contiguous allocation. A
//! flat sorted array would binary-search through cold memory at every level instead, and would need
//! one huge allocation, which the kernel's kmalloc-backed vectors cannot provide.
//!
//! Each block is allocated with its full capacity at creation, so inserting into a non-full block
//! never allocates; a full block is split in two, except that appending past the last entry starts
//! a new block and leaves the full one full (ascending registration, the common case, then fills
//! every block). Blocks left small by removals are merged with a neighbour when both fit in half a
//! block.
//!
//! Addresses are plain `u64`s: the index works for byte addresses as well as page numbers, and
//! leaves checking alignment to the uAPI decoding.

use crate::errno::Errno;
use crate::kalloc::{self, AllocError, Vec};

/// The most entries a block holds: 128 entries of a `u32` value are 3 KiB, one kmalloc-4k object.
pub const BLOCK: usize = 128;

/// Why an update of the index failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeError {
    /// `start >= end`.
    Empty,
    /// The range overlaps a registered one.
    Overlap,
    /// No registered range there.
    NotFound,
    /// Out of memory; the index is unchanged.
    NoMemory,
}

impl From<AllocError> for RangeError {
    fn from(_: AllocError) -> RangeError {
        RangeError::NoMemory
    }
}

impl From<RangeError> for Errno {
    /// `ENOMEM` for memory, `EINVAL` for the rest: an overlapping or unknown range is a malformed
    /// request.
    fn from(e: RangeError) -> Errno {
        match e {
            RangeError::NoMemory => Errno::NoMem,
            RangeError::Empty | RangeError::Overlap | RangeError::NotFound => Errno::Inval,
        }
    }
}

/// One registered range and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<V> {
    /// First address of the range.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
    /// The value stored for the range.
    pub value: V,
}

/// Disjoint ranges, sorted by address (see the file comment for the layout).
pub struct RangeIndex<V> {
    /// `keys[i]` is `blocks[i][0].start`: the inner level, searched first.
    keys: Vec<u64>,
    /// Never empty: a block that loses its last entry is removed.
    blocks: Vec<Vec<Entry<V>>>,
    len: usize,
}

/// Where an entry is: block index and index within the block.
#[derive(Clone, Copy)]
struct Pos {
    block: usize,
    slot: usize,
}

impl<V: Copy> Default for RangeIndex<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy> RangeIndex<V> {
    /// An empty index; allocates nothing until the first insert.
    pub const fn new() -> Self {
        RangeIndex {
            keys: Vec::new(),
            blocks: Vec::new(),
            len: 0,
        }
    }

    /// The number of registered ranges.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no range is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entry containing `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<Entry<V>> {
        self.find(addr).map(|p| self.blocks[p.block][p.slot])
    }

    /// The value of the entry containing `addr`, to change it in place.
    pub fn value_mut(&mut self, addr: u64) -> Option<&mut V> {
        let p = self.find(addr)?;
        Some(&mut self.blocks[p.block][p.slot].value)
    }

    /// Every entry overlapping `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> Overlaps<'_, V> {
        // The first candidate is the last entry starting at or before `start` (it overlaps if it
        // ends after `start`); otherwise the first entry after it.
        let mut pos = match self.last_at_or_before(start) {
            Some(p) if self.blocks[p.block][p.slot].end > start => p,
            Some(p) => self.next_pos(p),
            None => Pos { block: 0, slot: 0 },
        };
        if start >= end {
            pos.block = self.blocks.len();
        }
        Overlaps {
            index: self,
            pos,
            end,
        }
    }

    /// Every entry, in address order.
    pub fn iter(&self) -> Overlaps<'_, V> {
        self.overlapping(0, u64::MAX)
    }

    /// Registers `[start, end)` with `value`; fails if it is empty or overlaps a registered range.
    pub fn insert(&mut self, start: u64, end: u64, value: V) -> Result<(), RangeError> {
        if start >= end {
            return Err(RangeError::Empty);
        }
        let entry = Entry { start, end, value };
        let Some(prev) = self.last_at_or_before(start) else {
            // Before every entry (or the index is empty).
            if let Some(&first) = self.keys.first() {
                if first < end {
                    return Err(RangeError::Overlap);
                }
                return self.insert_at(Pos { block: 0, slot: 0 }, entry);
            }
            return self.push_block(entry);
        };
        if self.blocks[prev.block][prev.slot].end > start {
            return Err(RangeError::Overlap);
        }
        let next = self.next_pos(prev);
        if let Some(n) = self.entry_at(next) {
            if n.start < end {
                return Err(RangeError::Overlap);
            }
        }
        let last_block = self.blocks.len() - 1;
        if next.block > last_block && self.blocks[last_block].len() == BLOCK {
            // Appending past a full last block: start a new one instead of splitting, so that
            // ascending inserts leave every block full.
            return self.push_block(entry);
        }
        // Insert after `prev` in its block; when `prev` ends its block this appends to it, keeping
        // the block key.
        self.insert_at(
            Pos {
                block: prev.block,
                slot: prev.slot + 1,
            },
            entry,
        )
    }

    /// Unregisters the range that starts at `start`, returning it.
    pub fn remove(&mut self, start: u64) -> Option<Entry<V>> {
        let p = self.last_at_or_before(start)?;
        if self.blocks[p.block][p.slot].start != start {
            return None;
        }
        let removed = kalloc::remove(&mut self.blocks[p.block], p.slot)?;
        self.len -= 1;
        match self.blocks[p.block].first() {
            None => {
                kalloc::remove(&mut self.blocks, p.block);
                kalloc::remove(&mut self.keys, p.block);
            }
            Some(first) => {
                self.keys[p.block] = first.start;
                if p.block + 1 < self.blocks.len() {
                    self.merge_blocks(p.block);
                }
                if p.block > 0 {
                    self.merge_blocks(p.block - 1);
                }
            }
        }
        Some(removed)
    }

    /// Splits the entry containing `addr` in two at `addr`, both with its value; nothing to do if
    /// no entry contains `addr` or one starts there.
    pub fn split_at(&mut self, addr: u64) -> Result<(), RangeError> {
        let Some(p) = self.find(addr) else {
            return Ok(());
        };
        let e = self.blocks[p.block][p.slot];
        if e.start == addr {
            return Ok(());
        }
        self.blocks[p.block][p.slot].end = addr;
        let upper = Entry {
            start: addr,
            end: e.end,
            value: e.value,
        };
        let next = Pos {
            block: p.block,
            slot: p.slot + 1,
        };
        if let Err(err) = self.insert_at(next, upper) {
            self.blocks[p.block][p.slot].end = e.end;
            return Err(err);
        }
        Ok(())
    }

    /// Moves the end of the entry starting at `start` to `end`; fails if that empties it or
    /// overlaps the next one.
    pub fn set_end(&mut self, start: u64, end: u64) -> Result<(), RangeError> {
        let p = self.last_at_or_before(start).ok_or(RangeError::NotFound)?;
        if self.blocks[p.block][p.slot].start != start {
            return Err(RangeError::NotFound);
        }
        if end <= start {
            return Err(RangeError::Empty);
        }
        if let Some(n) = self.entry_at(self.next_pos(p)) {
            if n.start < end {
                return Err(RangeError::Overlap);
            }
        }
        self.blocks[p.block][p.slot].end = end;
        Ok(())
    }

    /// Moves the start of the entry starting at `start` forward to `new_start` (inside the entry).
    /// Never allocates, so it may be used where allocation is not allowed (an invalidation
    /// callback).
    pub fn set_start(&mut self, start: u64, new_start: u64) -> Result<(), RangeError> {
        let p = self.last_at_or_before(start).ok_or(RangeError::NotFound)?;
        let e = &mut self.blocks[p.block][p.slot];
        if e.start != start {
            return Err(RangeError::NotFound);
        }
        if new_start < start || new_start >= e.end {
            return Err(RangeError::Empty);
        }
        // Later than the old start and before the end: still after the previous entry and before
        // the next.
        e.start = new_start;
        if p.slot == 0 {
            self.keys[p.block] = new_start;
        }
        Ok(())
    }

    /// Position of the last entry with `start <= addr`.
    fn last_at_or_before(&self, addr: u64) -> Option<Pos> {
        let block = self.keys.partition_point(|&k| k <= addr).checked_sub(1)?;
        // `keys[block] <= addr`, so the block's first entry qualifies and `slot >= 0`.
        let slot = self.blocks[block]
            .partition_point(|e| e.start <= addr)
            .checked_sub(1)?;
        Some(Pos { block, slot })
    }

    fn find(&self, addr: u64) -> Option<Pos> {
        self.last_at_or_before(addr)
            .filter(|p| self.blocks[p.block][p.slot].end > addr)
    }

    fn next_pos(&self, p: Pos) -> Pos {
        if p.slot + 1 < self.blocks[p.block].len() {
            Pos {
                block: p.block,
                slot: p.slot + 1,
            }
        } else {
            Pos {
                block: p.block + 1,
                slot: 0,
            }
        }
    }

    fn entry_at(&self, p: Pos) -> Option<Entry<V>> {
        self.blocks.get(p.block)?.get(p.slot).copied()
    }

    /// Appends a new block holding just `entry`.
    fn push_block(&mut self, entry: Entry<V>) -> Result<(), RangeError> {
        let at = self.blocks.len();
        self.insert_block(at, entry.start)?;
        kalloc::try_push(&mut self.blocks[at], entry)?;
        self.len += 1;
        Ok(())
    }

    /// Inserts an empty block (with its full capacity) and its key at `at`; undone on failure.
    fn insert_block(&mut self, at: usize, key: u64) -> Result<(), RangeError> {
        let block = kalloc::try_with_capacity(BLOCK)?;
        kalloc::try_insert(&mut self.keys, at, key)?;
        if let Err(e) = kalloc::try_insert(&mut self.blocks, at, block) {
            kalloc::remove(&mut self.keys, at);
            return Err(e.into());
        }
        Ok(())
    }

    /// Inserts `entry` at `p` (`p.slot` may be the block's length), splitting the block first if it
    /// is full.
    fn insert_at(&mut self, mut p: Pos, entry: Entry<V>) -> Result<(), RangeError> {
        if self.blocks[p.block].len() == BLOCK {
            let half = BLOCK / 2;
            let upper_key = self.blocks[p.block][half].start;
            self.insert_block(p.block + 1, upper_key)?;
            let (lower, upper) = self.blocks.split_at_mut(p.block + 1);
            // Within the new block's capacity: cannot allocate, cannot fail.
            kalloc::try_extend_from_slice(&mut upper[0], &lower[p.block][half..])?;
            lower[p.block].truncate(half);
            if p.slot > half {
                p = Pos {
                    block: p.block + 1,
                    slot: p.slot - half,
                };
            }
        }
        // A block never exceeds its initial capacity, so this insert does not allocate.
        kalloc::try_insert(&mut self.blocks[p.block], p.slot, entry)?;
        if p.slot == 0 {
            self.keys[p.block] = entry.start;
        }
        self.len += 1;
        Ok(())
    }

    /// Moves block `b + 1` into block `b` if both together fill at most half a block; no
    /// allocation.
    fn merge_blocks(&mut self, b: usize) {
        if self.blocks[b].len() + self.blocks[b + 1].len() > BLOCK / 2 {
            return;
        }
        let Some(next) = kalloc::remove(&mut self.blocks, b + 1) else {
            return;
        };
        kalloc::remove(&mut self.keys, b + 1);
        // Within block `b`'s full capacity, so this cannot fail; if it somehow did, the block is
        // put back.
        if kalloc::try_extend_from_slice(&mut self.blocks[b], &next).is_err() {
            let key = next[0].start;
            // Reinserting where it was removed from reuses the capacity just freed.
            let _ = kalloc::try_insert(&mut self.keys, b + 1, key);
            let _ = kalloc::try_insert(&mut self.blocks, b + 1, next);
        }
    }
}

/// Iterator over the entries overlapping a range, from [`RangeIndex::overlapping`].
pub struct Overlaps<'a, V> {
    index: &'a RangeIndex<V>,
    pos: Pos,
    end: u64,
}

impl<V: Copy> Iterator for Overlaps<'_, V> {
    type Item = Entry<V>;

    fn next(&mut self) -> Option<Entry<V>> {
        let e = self.index.entry_at(self.pos)?;
        if e.start >= self.end {
            return None;
        }
        self.pos = self.index.next_pos(self.pos);
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec as StdVec;

    const PAGE: u64 = 4096;

    fn entries(ix: &RangeIndex<u32>) -> StdVec<(u64, u64, u32)> {
        ix.iter().map(|e| (e.start, e.end, e.value)).collect()
    }

    /// Checks the layout invariants: keys match blocks, blocks non-empty and bounded, entries
    /// sorted and disjoint.
    fn check(ix: &RangeIndex<u32>) {
        assert_eq!(ix.keys.len(), ix.blocks.len());
        let mut n = 0;
        let mut prev_end = 0;
        for (k, b) in ix.keys.iter().zip(ix.blocks.iter()) {
            assert!(!b.is_empty() && b.len() <= BLOCK);
            assert_eq!(*k, b[0].start);
            for e in b.iter() {
                assert!(e.start < e.end && e.start >= prev_end);
                prev_end = e.end;
                n += 1;
            }
        }
        assert_eq!(n, ix.len());
    }

    #[test]
    fn insert_lookup_remove() {
        let mut ix = RangeIndex::new();
        ix.insert(2 * PAGE, 4 * PAGE, 7).unwrap();
        ix.insert(8 * PAGE, 9 * PAGE, 8).unwrap();
        ix.insert(0, PAGE, 6).unwrap();
        assert_eq!(ix.lookup(3 * PAGE + 5).map(|e| e.value), Some(7));
        assert_eq!(ix.lookup(4 * PAGE), None);
        assert_eq!(ix.lookup(PAGE - 1).map(|e| e.value), Some(6));
        assert_eq!(ix.lookup(u64::MAX), None);
        assert_eq!(ix.remove(2 * PAGE).map(|e| e.value), Some(7));
        assert_eq!(ix.remove(2 * PAGE), None);
        assert_eq!(ix.remove(8 * PAGE + 1), None);
        assert_eq!(entries(&ix), [(0, PAGE, 6), (8 * PAGE, 9 * PAGE, 8)]);
        check(&ix);
    }

    #[test]
    fn overlap_and_empty_ranges_are_rejected() {
        let mut ix = RangeIndex::new();
        ix.insert(2 * PAGE, 4 * PAGE, 1).unwrap();
        for (s, e) in [
            (PAGE, 3 * PAGE),
            (3 * PAGE, 5 * PAGE),
            (0, 9 * PAGE),
            (2 * PAGE, 4 * PAGE),
        ] {
            assert_eq!(ix.insert(s, e, 2), Err(RangeError::Overlap));
        }
        assert_eq!(ix.insert(PAGE, PAGE, 2), Err(RangeError::Empty));
        ix.insert(PAGE, 2 * PAGE, 3).unwrap();
        ix.insert(4 * PAGE, 5 * PAGE, 4).unwrap();
        assert_eq!(ix.len(), 3);
    }

    #[test]
    fn overlapping_finds_exactly_the_intersecting_ranges() {
        let mut ix = RangeIndex::new();
        for i in 0..1000u64 {
            ix.insert(i * 4 * PAGE, (i * 4 + 2) * PAGE, i as u32)
                .unwrap();
        }
        let got: StdVec<u32> = ix
            .overlapping(8 * PAGE + 1, 17 * PAGE)
            .map(|e| e.value)
            .collect();
        assert_eq!(got, [2, 3, 4]);
        assert_eq!(ix.overlapping(2 * PAGE, 4 * PAGE).count(), 0);
        assert_eq!(ix.overlapping(5 * PAGE, 5 * PAGE).count(), 0);
        assert_eq!(ix.overlapping(0, u64::MAX).count(), 1000);
        assert_eq!(ix.overlapping(4000 * PAGE, u64::MAX).count(), 0);
    }

    #[test]
    fn ascending_inserts_fill_blocks() {
        let mut ix = RangeIndex::new();
        for i in 0..(10 * BLOCK as u64) {
            ix.insert(i * PAGE, (i + 1) * PAGE, 0).unwrap();
        }
        assert_eq!(ix.blocks.len(), 10);
        check(&ix);
    }

    #[test]
    fn split_and_set_end() {
        let mut ix = RangeIndex::new();
        ix.insert(0, 4 * PAGE, 1).unwrap();
        ix.insert(6 * PAGE, 8 * PAGE, 2).unwrap();
        ix.split_at(PAGE).unwrap();
        ix.split_at(PAGE).unwrap();
        ix.split_at(5 * PAGE).unwrap();
        assert_eq!(
            entries(&ix),
            [(0, PAGE, 1), (PAGE, 4 * PAGE, 1), (6 * PAGE, 8 * PAGE, 2)]
        );
        assert_eq!(ix.set_end(PAGE, 7 * PAGE), Err(RangeError::Overlap));
        assert_eq!(ix.set_end(PAGE, PAGE), Err(RangeError::Empty));
        assert_eq!(ix.set_end(2 * PAGE, 3 * PAGE), Err(RangeError::NotFound));
        ix.set_end(PAGE, 6 * PAGE).unwrap();
        *ix.value_mut(5 * PAGE).unwrap() = 9;
        assert_eq!(
            ix.lookup(PAGE).map(|e| (e.end, e.value)),
            Some((6 * PAGE, 9))
        );
        check(&ix);
    }

    /// Random inserts and removals against a BTreeMap, with the layout checked throughout.
    #[test]
    fn matches_a_btreemap_under_churn() {
        let mut ix = RangeIndex::new();
        let mut model: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..20_000u32 {
            // xorshift: deterministic, no dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let start = (x % 4096) * PAGE;
            let end = start + (1 + (x >> 20) % 4) * PAGE;
            if (x >> 40) % 3 == 0 {
                let want = model.remove(&start).map(|(_, v)| v);
                assert_eq!(ix.remove(start).map(|e| e.value), want);
            } else {
                let clash = model
                    .range(..end)
                    .next_back()
                    .is_some_and(|(&s, &(e, _))| e > start && s < end);
                let got = ix.insert(start, end, round);
                if clash {
                    assert_eq!(got, Err(RangeError::Overlap));
                } else {
                    assert_eq!(got, Ok(()));
                    model.insert(start, (end, round));
                }
            }
            if round % 1000 == 0 {
                check(&ix);
            }
            let probe = (x >> 24) % (4100 * PAGE);
            let want = model
                .range(..=probe)
                .next_back()
                .filter(|(_, &(e, _))| e > probe)
                .map(|(_, &(_, v))| v);
            assert_eq!(ix.lookup(probe).map(|e| e.value), want);
        }
        check(&ix);
        let want: StdVec<(u64, u64, u32)> = model.iter().map(|(&s, &(e, v))| (s, e, v)).collect();
        assert_eq!(entries(&ix), want);
    }
}
