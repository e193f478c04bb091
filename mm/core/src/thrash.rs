// SPDX-License-Identifier: GPL-2.0

//! Thrash detection: address ranges whose pages keep being moved into device memory.
//!
//! A migration moves a page into a provider only if it is not there, so when the pages of one
//! range of a process are moved in again and again within a short window, something keeps taking
//! them away (other pages competing for the provider, CPU faults bringing them back, moves
//! elsewhere), and every round trip costs copies and invalidations for nothing. UVM calls this
//! thrashing and answers by leaving the pages where they are for a while; so does p2pmm: once a
//! range of [`GRANULE`] bytes was moved in more than [`Limits::moves`] times within
//! [`Limits::window`], migrations into a provider leave its pages where they are (system memory or
//! a peer, which devices reach by DMA) for [`Limits::backoff`], and move the rest.
//!
//! One table per open `/dev/p2pmm`, of [`ENTRIES`] ranges, allocated with it (nothing allocates
//! afterwards: the module updates it under a lock around a migration). When the table is full, a
//! new range replaces the one moved least recently that is not backing off: the table may forget a
//! range and notice its thrashing late, never hold back a range that did not thrash. Times are the
//! caller's unit (microseconds in the module), from any fixed origin.

/// The size and alignment of the ranges that are watched.
pub const GRANULE: u64 = 2 << 20;

/// How many ranges one table watches at once.
pub const ENTRIES: usize = 64;

/// When a range thrashes, and for how long it is held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// More moves than this within `window` is thrashing; 0 turns detection off.
    pub moves: u32,
    /// The window the moves are counted in.
    pub window: u64,
    /// How long a thrashing range is held back.
    pub backoff: u64,
}

/// A range found thrashing by [`ThrashTable::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trip {
    /// The range's first byte (a multiple of [`GRANULE`]).
    pub base: u64,
    /// The moves counted in the window, this one included.
    pub moves: u32,
    /// Until when it is held back.
    pub until: u64,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    base: u64,
    /// Moves since `since`.
    moves: u32,
    since: u64,
    last: u64,
    until: u64,
    used: bool,
}

impl Range {
    const UNUSED: Range = Range {
        base: 0,
        moves: 0,
        since: 0,
        last: 0,
        until: 0,
        used: false,
    };
}

/// The ranges one process moved into device memory lately (see the file comment).
pub struct ThrashTable {
    ranges: [Range; ENTRIES],
}

impl Default for ThrashTable {
    fn default() -> Self {
        Self::new()
    }
}

impl ThrashTable {
    /// A table that watches nothing yet.
    pub const fn new() -> ThrashTable {
        ThrashTable {
            ranges: [Range::UNUSED; ENTRIES],
        }
    }

    /// The first byte of the range `addr` is in.
    pub fn base_of(addr: u64) -> u64 {
        addr & !(GRANULE - 1)
    }

    fn find(&self, base: u64) -> Option<usize> {
        self.ranges.iter().position(|r| r.used && r.base == base)
    }

    /// Whether migrations at `now` leave the pages of `addr`'s range where they are.
    pub fn holds(&self, addr: u64, now: u64) -> bool {
        self.find(Self::base_of(addr))
            .is_some_and(|i| now < self.ranges[i].until)
    }

    /// Records that a migration at `now` moved pages of `addr`'s range into a provider. Returns the
    /// trip when this move makes the range thrash: it is then held back until `now +
    /// limits.backoff`, and counting starts over.
    pub fn record(&mut self, addr: u64, now: u64, limits: &Limits) -> Option<Trip> {
        if limits.moves == 0 {
            return None;
        }
        let base = Self::base_of(addr);
        let i = match self.find(base) {
            Some(i) => i,
            None => {
                let i = self.victim(now)?;
                self.ranges[i] = Range {
                    base,
                    used: true,
                    since: now,
                    ..Range::UNUSED
                };
                i
            }
        };
        let r = &mut self.ranges[i];
        if now.saturating_sub(r.since) > limits.window {
            r.moves = 0;
            r.since = now;
        }
        r.moves = r.moves.saturating_add(1);
        r.last = now;
        if r.moves <= limits.moves {
            return None;
        }
        let trip = Trip {
            base,
            moves: r.moves,
            until: now.saturating_add(limits.backoff),
        };
        r.until = trip.until;
        r.moves = 0;
        r.since = now;
        Some(trip)
    }

    /// The entry a new range takes: an unused one, else the one moved least recently that is not
    /// backing off; `None` if every range is backing off.
    fn victim(&self, now: u64) -> Option<usize> {
        if let Some(i) = self.ranges.iter().position(|r| !r.used) {
            return Some(i);
        }
        self.ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| now >= r.until)
            .min_by_key(|(_, r)| r.last)
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        moves: 3,
        window: 1000,
        backoff: 500,
    };

    #[test]
    fn more_moves_than_the_limit_in_a_window_trip() {
        let mut t = ThrashTable::new();
        let a = 5 * GRANULE + 4096;
        for now in [0, 10, 20] {
            assert_eq!(t.record(a, now, &LIMITS), None);
        }
        assert!(!t.holds(a, 25));
        let trip = t.record(a + 8192, 30, &LIMITS).unwrap();
        assert_eq!(
            trip,
            Trip {
                base: 5 * GRANULE,
                moves: 4,
                until: 530
            }
        );
        // The whole range, not the page: held until the back-off ends.
        assert!(t.holds(5 * GRANULE, 31));
        assert!(t.holds(6 * GRANULE - 1, 529));
        assert!(!t.holds(6 * GRANULE, 31));
        assert!(!t.holds(a, 530));
    }

    #[test]
    fn moves_spread_over_windows_do_not_trip() {
        let mut t = ThrashTable::new();
        for k in 0..100u64 {
            assert_eq!(t.record(0, k * 400, &LIMITS), None, "move {k}");
        }
    }

    #[test]
    fn off_records_nothing() {
        let mut t = ThrashTable::new();
        let off = Limits { moves: 0, ..LIMITS };
        for now in 0..100 {
            assert_eq!(t.record(0, now, &off), None);
        }
        assert!(!t.holds(0, 100));
    }

    #[test]
    fn a_full_table_forgets_the_oldest_but_keeps_those_held_back() {
        let mut t = ThrashTable::new();
        // Range 0 thrashes at time 3..=6 and is held back until 506.
        for now in 3..=6 {
            t.record(0, now, &LIMITS);
        }
        assert!(t.holds(0, 7));
        // ENTRIES more ranges: every entry but range 0's is replaced in turn.
        for k in 1..=ENTRIES as u64 {
            t.record(k * GRANULE, 10 + k, &LIMITS);
        }
        assert!(t.holds(0, 100));
        // Once every other range is held back too, a new one finds no room and is not watched.
        let mut t = ThrashTable::new();
        for k in 0..ENTRIES as u64 {
            for now in 0..4 {
                t.record(k * GRANULE, now, &LIMITS);
            }
        }
        assert_eq!(t.record(ENTRIES as u64 * GRANULE, 5, &LIMITS), None);
        assert!(!t.holds(ENTRIES as u64 * GRANULE, 5));
    }

    proptest! {
        /// A range is held back only after more than `moves` moves within one window, and never
        /// longer than `backoff` after its last trip.
        #[test]
        fn held_back_only_after_thrashing(
            steps in prop::collection::vec((0u64..8, 0u64..300), 1..300),
        ) {
            let mut t = ThrashTable::new();
            let mut now = 0u64;
            // Per range: the times of its moves, and its last trip.
            let mut moves: [alloc::vec::Vec<u64>; 8] = Default::default();
            let mut tripped: [Option<u64>; 8] = [None; 8];
            for (range, dt) in steps {
                now += dt;
                let addr = range * GRANULE + 12345;
                if let Some(trip) = t.record(addr, now, &LIMITS) {
                    let r = range as usize;
                    let recent = moves[r].iter().filter(|&&m| now - m <= LIMITS.window).count();
                    // This move and at least `moves` others within the window.
                    prop_assert!(recent as u32 >= LIMITS.moves);
                    prop_assert_eq!(trip.until, now + LIMITS.backoff);
                    tripped[r] = Some(now);
                    moves[r].clear();
                } else {
                    moves[range as usize].push(now);
                }
                for (r, last) in tripped.iter().enumerate() {
                    let held = t.holds(r as u64 * GRANULE, now);
                    prop_assert_eq!(held, last.is_some_and(|at| now < at + LIMITS.backoff));
                }
            }
        }
    }
}
