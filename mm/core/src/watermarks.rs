// SPDX-License-Identifier: GPL-2.0

//! The watermarks of a managed provider: when background reclaim starts, where it stops, and how
//! much of another provider's reclaim a provider takes in.
//!
//! As the page allocator's zone watermarks do for kswapd, two thresholds of *free* pages drive a
//! worker: when a move leaves fewer than `low` pages free, the worker evicts cold pages off the
//! faulting path until `high` are free, so the next migration or device fault finds room instead of
//! evicting itself. `low == 0` turns background reclaim off: then only the move that runs out of
//! room evicts (direct eviction), as it always does when the worker is behind.
//!
//! A provider takes another one's background victims only into what it has free beyond its own
//! `high` ([`Watermarks::room_for_reclaimed`]), so a background move never starts the receiving
//! provider's reclaim: cascades of background reclaim end, whatever the topology. A direct eviction
//! may fill a peer, whose own reclaim then cascades onwards (or to system memory).

use crate::errno::Errno;

/// A managed provider's watermarks, in pages.
///
/// # Invariants
///
/// `low <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    low: u32,
    high: u32,
}

impl Watermarks {
    /// Background reclaim off.
    pub const OFF: Watermarks = Watermarks { low: 0, high: 0 };

    /// Watermarks at `low` and `high` per mille of `capacity` pages (each clamped to the capacity;
    /// `high` raised to `low` if below it): the defaults a provider gets from the module
    /// parameters. With `low` on (not 0), a small provider still keeps `piece` pages ahead (what
    /// one migration piece needs; at most an eighth of the capacity) and frees twice that: 1% of
    /// a provider of many GiB is hundreds of pieces, 1% of 8 MiB less than one, which would leave
    /// every piece to evict for itself.
    pub fn from_permille(capacity: u32, low: u32, high: u32, piece: u32) -> Watermarks {
        let part = |permille: u32| {
            let pages = u64::from(capacity) * u64::from(permille.min(1000)) / 1000;
            // At most `capacity`, a `u32`.
            pages as u32
        };
        if low == 0 {
            return Watermarks {
                low: 0,
                high: part(high),
            };
        }
        let floor = piece.min(capacity / 8);
        let low = part(low).max(floor);
        Watermarks {
            low,
            high: part(high).max(low).max(floor.saturating_mul(2)),
        }
    }

    /// Below this many free pages, background reclaim starts (0: never).
    pub fn low(&self) -> u32 {
        self.low
    }

    /// Background reclaim goes on until this many pages are free.
    pub fn high(&self) -> u32 {
        self.high
    }

    /// Sets `low` to `pages`; `EINVAL` above `high` (raise `high` first).
    pub fn set_low(&mut self, pages: u64) -> Result<(), Errno> {
        let pages = u32::try_from(pages).map_err(|_| Errno::Inval)?;
        if pages > self.high {
            return Err(Errno::Inval);
        }
        self.low = pages;
        Ok(())
    }

    /// Sets `high` to `pages`; `EINVAL` below `low` (lower `low` first) or above `capacity`.
    pub fn set_high(&mut self, pages: u64, capacity: u32) -> Result<(), Errno> {
        let pages = u32::try_from(pages).map_err(|_| Errno::Inval)?;
        if pages < self.low || pages > capacity {
            return Err(Errno::Inval);
        }
        self.high = pages;
        Ok(())
    }

    /// Whether a provider with `free` pages free should start background reclaim.
    pub fn should_start(&self, free: u32) -> bool {
        free < self.low
    }

    /// How many pages a background reclaim that finds `free` pages free still has to evict (0 when
    /// it is done, or when background reclaim was turned off meanwhile).
    pub fn to_reclaim(&self, free: u32) -> u32 {
        if self.low == 0 {
            return 0;
        }
        self.high.saturating_sub(free)
    }

    /// How many of another provider's background victims a provider with `free` pages free takes
    /// in: what it has beyond its own `high`, so that taking them never starts its own reclaim.
    pub fn room_for_reclaimed(&self, free: u32) -> u32 {
        free.saturating_sub(self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_are_fractions_of_the_capacity() {
        // 16 GiB: 1% and 2%, far above one piece.
        let w = Watermarks::from_permille(4 << 20, 10, 20, 256);
        assert_eq!((w.low(), w.high()), (41943, 83886));
        // Out-of-range fractions are clamped; `high` never below `low`.
        let w = Watermarks::from_permille(2048, 5000, 1, 256);
        assert_eq!((w.low(), w.high()), (2048, 2048));
        assert_eq!(Watermarks::from_permille(0, 10, 20, 256), Watermarks::OFF);
        // A 64 GiB provider (16 Mi pages) does not overflow.
        let w = Watermarks::from_permille(16 << 20, 1000, 1000, 256);
        assert_eq!(w.high(), 16 << 20);
    }

    #[test]
    fn a_small_provider_keeps_a_piece_ahead() {
        // 8 MiB: 1% would be 20 pages; a piece (1 MiB) ahead, two freed.
        let w = Watermarks::from_permille(2048, 10, 20, 256);
        assert_eq!((w.low(), w.high()), (256, 512));
        // 1 MiB: at most an eighth, and a quarter.
        let w = Watermarks::from_permille(256, 10, 20, 256);
        assert_eq!((w.low(), w.high()), (32, 64));
        // Off stays off, whatever the size.
        let w = Watermarks::from_permille(2048, 0, 20, 256);
        assert_eq!((w.low(), w.high()), (0, 40));
        assert!(!w.should_start(0));
    }

    #[test]
    fn setting_keeps_low_at_most_high() {
        let mut w = Watermarks::OFF;
        assert_eq!(w.set_low(1), Err(Errno::Inval));
        assert_eq!(w.set_high(100, 64), Err(Errno::Inval));
        assert_eq!(w.set_high(64, 64), Ok(()));
        assert_eq!(w.set_low(32), Ok(()));
        assert_eq!(w.set_high(31, 64), Err(Errno::Inval));
        assert_eq!(w.set_low(u64::MAX), Err(Errno::Inval));
        assert_eq!(
            w.set_high(u64::from(u32::MAX) + 1, u32::MAX),
            Err(Errno::Inval)
        );
        assert_eq!((w.low(), w.high()), (32, 64));
    }

    #[test]
    fn reclaim_starts_below_low_and_stops_at_high() {
        let mut w = Watermarks::OFF;
        w.set_high(64, 1024).unwrap();
        w.set_low(32).unwrap();
        assert!(!w.should_start(32));
        assert!(w.should_start(31));
        assert_eq!(w.to_reclaim(31), 33);
        assert_eq!(w.to_reclaim(64), 0);
        assert_eq!(w.room_for_reclaimed(100), 36);
        assert_eq!(w.room_for_reclaimed(10), 0);
        // Turned off mid-run: the run stops.
        w.set_low(0).unwrap();
        assert!(!w.should_start(0));
        assert_eq!(w.to_reclaim(0), 0);
    }

    proptest! {
        /// Whatever is written, `low <= high <= capacity` once `high` was set; and a provider that
        /// takes what `room_for_reclaimed` allows is still at or above `high` free, so its own
        /// reclaim does not start.
        #[test]
        fn a_reclaimed_page_never_starts_the_receivers_reclaim(
            capacity in 0u32..100_000,
            writes in prop::collection::vec((any::<bool>(), 0u64..120_000), 0..20),
            free in 0u32..100_000,
        ) {
            let mut w = Watermarks::from_permille(capacity, 10, 20, 256);
            prop_assert!(w.low() <= w.high() && w.high() <= capacity);
            for (low, pages) in writes {
                let _ = if low { w.set_low(pages) } else { w.set_high(pages, capacity) };
                prop_assert!(w.low() <= w.high());
                prop_assert!(w.high() <= capacity);
            }
            let free = free.min(capacity);
            let after = free - w.room_for_reclaimed(free);
            let took = w.room_for_reclaimed(free) > 0;
            prop_assert!(!took || (after == w.high() && !w.should_start(after)));
        }
    }
}
