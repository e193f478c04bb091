// SPDX-License-Identifier: GPL-2.0

//! The slots of a managed provider, 7 bytes each, stored in pieces of one 4 KiB allocation.
//!
//! A managed provider of 64 GiB has 16 Mi page-sized slots. One array of them would be past
//! `KMALLOC_MAX_SIZE` (and one large vmalloc area for a structure every fault touches), so the
//! slots live in pieces of [`PIECE_SLOTS`] slots, each one kmalloc object of 4,095 bytes, found
//! through an index of one pointer-sized entry per piece (`KVVec` in the module, since it too grows
//! with the provider: 224 KiB for 64 GiB). Everything is allocated in [`SlotTable::new`].
//!
//! A slot is packed into 56 bits:
//!
//! ```text
//!   bits  0..2   state (free, reserved, occupied, evicting)
//!   bit   2      referenced
//!   bit   3      preferred
//!   bits  4..12  attributes: an index into the owner's interned (accessor set, tenant) pairs
//!   bits 12..24  pins
//!   bits 24..56  stamp: the next free slot while free, the time the page moved in otherwise
//! ```

use crate::kalloc::{self, AllocError, BigVec, Vec};

/// Slots per piece: as many 7-byte slots as fit 4,096 bytes, so a piece is one kmalloc-4k object.
pub const PIECE_SLOTS: usize = 4096 / WORD;

/// Bytes per slot.
pub const WORD: usize = 7;

// A piece is one kmalloc-4k object, and no slot of it would fit in the rest.
const _: () = assert!(PIECE_SLOTS * WORD <= 4096 && (PIECE_SLOTS + 1) * WORD > 4096);

/// The largest pin count a slot holds.
pub const MAX_PINS: u16 = (1 << 12) - 1;

/// The lifecycle of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// On the free list.
    Free,
    /// Handed out for a page about to be copied in; not evictable yet.
    Reserved,
    /// Holds a page.
    Occupied,
    /// Picked as a victim; its page is being copied out.
    Evicting,
}

/// One slot, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Where the slot is in its lifecycle.
    pub state: SlotState,
    /// Accessed since the hand last passed.
    pub referenced: bool,
    /// The page's preferred location is this provider.
    pub preferred: bool,
    /// The interned attributes of the page: the devices advised to access it and whom it is charged
    /// to (0: none of either).
    pub attrs: u8,
    /// Pins from importers mapping the page and from pinning advice (at most [`MAX_PINS`]).
    pub pins: u16,
    /// The next free slot while free; otherwise when the page moved in (modulo 2^32).
    pub stamp: u32,
}

impl Slot {
    /// A free slot whose successor on the free list is `next`.
    pub const fn free(next: u32) -> Slot {
        Slot {
            state: SlotState::Free,
            referenced: false,
            preferred: false,
            attrs: 0,
            pins: 0,
            stamp: next,
        }
    }

    /// A slot handed out for a page about to be copied in, with interned attributes `attrs`.
    pub const fn reserved(attrs: u8) -> Slot {
        Slot {
            state: SlotState::Reserved,
            referenced: false,
            preferred: false,
            attrs,
            pins: 0,
            stamp: 0,
        }
    }

    fn pack(self) -> [u8; WORD] {
        let state = match self.state {
            SlotState::Free => 0u64,
            SlotState::Reserved => 1,
            SlotState::Occupied => 2,
            SlotState::Evicting => 3,
        };
        let w = state
            | u64::from(self.referenced) << 2
            | u64::from(self.preferred) << 3
            | u64::from(self.attrs) << 4
            | u64::from(self.pins & MAX_PINS) << 12
            | u64::from(self.stamp) << 24;
        let b = w.to_le_bytes();
        [b[0], b[1], b[2], b[3], b[4], b[5], b[6]]
    }

    fn unpack(b: [u8; WORD]) -> Slot {
        let w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], 0]);
        Slot {
            state: match w & 3 {
                0 => SlotState::Free,
                1 => SlotState::Reserved,
                2 => SlotState::Occupied,
                _ => SlotState::Evicting,
            },
            referenced: w & (1 << 2) != 0,
            preferred: w & (1 << 3) != 0,
            attrs: (w >> 4) as u8,
            pins: (w >> 12) as u16 & MAX_PINS,
            stamp: (w >> 24) as u32,
        }
    }
}

/// `len` slots in pieces, each initialised by the caller's function of its number.
pub struct SlotTable {
    pieces: BigVec<Vec<[u8; WORD]>>,
    len: u32,
}

impl SlotTable {
    /// A table of `len` slots, slot `i` set to `init(i)`; every allocation of the table is made
    /// here.
    pub fn new(len: u32, init: impl Fn(u32) -> Slot) -> Result<SlotTable, AllocError> {
        let n = len as usize;
        let mut pieces = kalloc::try_big_with_capacity(n.div_ceil(PIECE_SLOTS))?;
        let mut first = 0usize;
        while first < n {
            let count = PIECE_SLOTS.min(n - first);
            let mut piece = kalloc::try_with_capacity(count)?;
            for i in first..first + count {
                // Within the capacity just reserved; `i < n <= u32::MAX`.
                kalloc::push_within_capacity(&mut piece, init(i as u32).pack());
            }
            // Within the capacity reserved for every piece.
            kalloc::big_push_within_capacity(&mut pieces, piece);
            first += count;
        }
        Ok(SlotTable { pieces, len })
    }

    /// The number of slots.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Bytes the table holds on the heap: the piece index and the pieces.
    pub fn heap_bytes(&self) -> usize {
        self.pieces.capacity() * size_of::<Vec<[u8; WORD]>>()
            + self
                .pieces
                .iter()
                .map(|p| p.capacity() * WORD)
                .sum::<usize>()
    }

    /// Whether the table has no slot.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slot `i`, or `None` past the end.
    pub fn get(&self, i: u32) -> Option<Slot> {
        let i = i as usize;
        let b = self.pieces.get(i / PIECE_SLOTS)?.get(i % PIECE_SLOTS)?;
        Some(Slot::unpack(*b))
    }

    /// Stores `s` as slot `i`; `false` past the end.
    pub fn set(&mut self, i: u32, s: Slot) -> bool {
        let i = i as usize;
        match self
            .pieces
            .get_mut(i / PIECE_SLOTS)
            .and_then(|p| p.get_mut(i % PIECE_SLOTS))
        {
            Some(b) => {
                *b = s.pack();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_survives_packing() {
        let s = Slot {
            state: SlotState::Evicting,
            referenced: true,
            preferred: false,
            attrs: 255,
            pins: MAX_PINS,
            stamp: u32::MAX - 1,
        };
        assert_eq!(Slot::unpack(s.pack()), s);
        assert_eq!(Slot::unpack(Slot::free(7).pack()), Slot::free(7));
    }

    #[test]
    fn a_piece_is_one_4k_object_and_slots_cross_pieces() {
        let n = 2 * PIECE_SLOTS as u32 + 3;
        let mut t = SlotTable::new(n, Slot::free).unwrap();
        assert_eq!(t.len(), n);
        assert_eq!(t.get(n - 1), Some(Slot::free(n - 1)));
        assert_eq!(t.get(n), None);
        let s = Slot {
            stamp: 9,
            ..Slot::free(0)
        };
        assert!(t.set(PIECE_SLOTS as u32, s));
        assert_eq!(t.get(PIECE_SLOTS as u32), Some(s));
        assert_eq!(
            t.get(PIECE_SLOTS as u32 - 1),
            Some(Slot::free(PIECE_SLOTS as u32 - 1))
        );
        assert!(!t.set(n, s));
        assert!(SlotTable::new(0, Slot::free).unwrap().is_empty());
    }
}
