// SPDX-License-Identifier: GPL-2.0

//! The lock-free handshake between the fault path and eviction over one slot of a managed provider.
//!
//! While a peer device maps a page, the fault path pins its slot so the page cannot move underneath
//! the mapping; eviction must claim a slot before copying its page out. Both race without the
//! provider lock (the fault path must not wait for an eviction in progress, it backs off and
//! retries), so each slot has one atomic word:
//!
//! ```text
//!   bit 31      CLAIMED: an evictor owns the slot
//!   bits 0..31  pin count
//! ```
//!
//! Invariants, checked by the loom model in `tests/loom_slot_claim.rs`: a slot is never both pinned
//! and claimed, and two evictors never claim the same slot. Both hold because every transition is
//! one compare-and-swap on the whole word: `try_pin` only adds to a word without `CLAIMED`,
//! `try_claim_for_eviction` only turns an all-zero word (no pins, no claim) into `CLAIMED`.
//!
//! Ordering: success takes the word with `Acquire` and giving it up publishes with `Release`, so an
//! evictor sees everything the last pinner did before its unpin (e.g. the end of a peer's DMA, as
//! observed by the CPU), and a pinner sees the page as the evictor left it before releasing its
//! claim.

use crate::errno::Errno;
use crate::katomic::{AtomicU32, Ordering};

const CLAIMED: u32 = 1 << 31;
const PINS: u32 = CLAIMED - 1;

/// Why a pin or claim did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimError {
    /// An evictor holds the slot: the fault path backs off and retries after the eviction.
    Claimed,
    /// The slot is pinned: the evictor skips it.
    Pinned,
    /// The pin count would overflow 31 bits, or an unpin/release found nothing to drop (a caller
    /// bug).
    Count,
}

impl From<ClaimError> for Errno {
    /// A fault that lost to an evictor retries; the ioctl paths report `EBUSY`.
    fn from(e: ClaimError) -> Errno {
        match e {
            ClaimError::Claimed | ClaimError::Pinned => Errno::Busy,
            ClaimError::Count => Errno::Inval,
        }
    }
}

/// One slot's atomic pin-or-claim word.
pub struct SlotClaim {
    word: AtomicU32,
}

impl Default for SlotClaim {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotClaim {
    /// A slot neither pinned nor claimed.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        SlotClaim {
            word: AtomicU32::new(0),
        }
    }

    /// A slot neither pinned nor claimed (loom's atomics have no `const` constructor).
    #[cfg(loom)]
    pub fn new() -> Self {
        SlotClaim {
            word: AtomicU32::new(0),
        }
    }

    /// Adds a pin, unless an evictor has claimed the slot.
    pub fn try_pin(&self) -> Result<(), ClaimError> {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            if cur & CLAIMED != 0 {
                return Err(ClaimError::Claimed);
            }
            if cur == PINS {
                return Err(ClaimError::Count);
            }
            match self.word.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// Drops a pin taken with [`SlotClaim::try_pin`].
    pub fn unpin(&self) -> Result<(), ClaimError> {
        let mut cur = self.word.load(Ordering::Relaxed);
        loop {
            // A pinned slot cannot be claimed, so a valid unpin always sees a plain non-zero count.
            if cur & PINS == 0 || cur & CLAIMED != 0 {
                return Err(ClaimError::Count);
            }
            match self.word.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// Claims the slot for eviction: succeeds only if nobody pins it and no other evictor claimed
    /// it.
    pub fn try_claim_for_eviction(&self) -> Result<(), ClaimError> {
        match self
            .word
            .compare_exchange(0, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(w) if w & CLAIMED != 0 => Err(ClaimError::Claimed),
            Err(_) => Err(ClaimError::Pinned),
        }
    }

    /// Gives up a claim (the page moved out, or the eviction was abandoned): the slot can be pinned
    /// again.
    pub fn release_claim(&self) -> Result<(), ClaimError> {
        self.word
            .compare_exchange(CLAIMED, 0, Ordering::Release, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| ClaimError::Count)
    }

    /// The current pin count (a snapshot, for statistics and assertions).
    pub fn pins(&self) -> u32 {
        self.word.load(Ordering::Relaxed) & PINS
    }

    /// Whether an evictor holds the slot (a snapshot).
    pub fn is_claimed(&self) -> bool {
        self.word.load(Ordering::Relaxed) & CLAIMED != 0
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pins_block_claims_and_claims_block_pins() {
        let s = SlotClaim::new();
        s.try_pin().unwrap();
        s.try_pin().unwrap();
        assert_eq!(s.pins(), 2);
        assert_eq!(s.try_claim_for_eviction(), Err(ClaimError::Pinned));
        s.unpin().unwrap();
        s.unpin().unwrap();
        assert_eq!(s.unpin(), Err(ClaimError::Count));
        s.try_claim_for_eviction().unwrap();
        assert!(s.is_claimed());
        assert_eq!(s.try_claim_for_eviction(), Err(ClaimError::Claimed));
        assert_eq!(s.try_pin(), Err(ClaimError::Claimed));
        assert_eq!(s.unpin(), Err(ClaimError::Count));
        s.release_claim().unwrap();
        assert_eq!(s.release_claim(), Err(ClaimError::Count));
        s.try_pin().unwrap();
    }

    #[test]
    fn pin_count_saturates_with_an_error() {
        let s = SlotClaim {
            word: AtomicU32::new(PINS - 1),
        };
        s.try_pin().unwrap();
        assert_eq!(s.try_pin(), Err(ClaimError::Count));
        assert!(!s.is_claimed());
    }
}
