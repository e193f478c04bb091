// SPDX-License-Identifier: GPL-2.0

//! Placement: where p2pmm puts the pages it moves, the decisions of the kernel module in one place.
//!
//! The mechanisms (core mm's migration, the copies, the locks) are the module's (`mm/managed.rs`,
//! `mm/bind/bar_devmem.rs`); every choice they make about managed memory is a function of the
//! portable core, compiled into `p2pmm.ko` and tested here:
//! - how many victims a migration into a full provider evicts first: [`room_to_make`], for the
//!   pages that are not there yet and not held back because their range thrashes (`thrash.rs`);
//! - which pages an eviction takes: the provider's CLOCK (`eviction.rs`), never a pinned page, one
//!   younger than the minimum residency, or one its cgroup protects;
//! - where the victims go: into the peer [`peer_for_victims`] picks, those [`may_enter_peer`]
//!   lets in, as many as it has room for; the rest to system memory;
//! - when a provider makes room in the background, and how much: its watermarks
//!   (`watermarks.rs`);
//! - which neighbours a CPU fault brings back to system memory with the touched page:
//!   [`fault_around_window`].

use crate::watermarks::Watermarks;

/// What started an eviction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// A migration that found its target full: it waits for the room.
    Direct,
    /// Background reclaim, below the provider's low watermark.
    Background,
}

/// A managed provider that victims of an eviction could go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCandidate {
    /// Its free pages.
    pub free: u32,
    /// Its watermarks.
    pub watermarks: Watermarks,
}

impl PeerCandidate {
    /// How many victims it takes from an eviction of `kind`: all its free pages from a direct one,
    /// only those beyond its high watermark from background reclaim (so taking them never starts
    /// its own reclaim, and background reclaim cannot cascade in a loop).
    pub fn room(&self, kind: Eviction) -> u32 {
        match kind {
            Eviction::Direct => self.free,
            Eviction::Background => self.watermarks.room_for_reclaimed(self.free),
        }
    }
}

/// The peer the victims of an eviction of `kind` go to, as an index into `candidates`, with its
/// room: of the candidates with room that the evicting provider's device reaches directly
/// (`reaches(i)`, asked only of candidates with room: it is a route lookup), the one with the most
/// room, the last of equals. `None`: the victims go to system memory.
pub fn peer_for_victims(
    candidates: impl IntoIterator<Item = PeerCandidate>,
    kind: Eviction,
    mut reaches: impl FnMut(usize) -> bool,
) -> Option<(usize, u32)> {
    let mut best: Option<(usize, u32)> = None;
    for (i, c) in candidates.into_iter().enumerate() {
        let room = c.room(kind);
        if room == 0 || best.is_some_and(|(_, r)| r > room) {
            continue;
        }
        if reaches(i) {
            best = Some((i, room));
        }
    }
    best
}

/// What decides whether one victim may move into the chosen peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Victim {
    /// Every device advised to access the page (`ACCESSED_BY`) reaches the peer directly too.
    pub accessors_reach_peer: bool,
    /// The peer's memory is charged to a dmem cgroup region.
    pub peer_charges: bool,
    /// The page is charged to the evicting task's cgroup.
    pub evictors_page: bool,
}

/// Whether a victim moves into the chosen peer (else to system memory): the peer must be no worse
/// for the devices that access the page, and a peer that charges its memory can charge only the
/// evicting task's cgroup (the dmem controller charges the current task's), so another cgroup's
/// page goes to system memory.
pub fn may_enter_peer(v: &Victim) -> bool {
    v.accessors_reach_peer && (!v.peer_charges || v.evictors_page)
}

/// How many pages a migration of `need` pages into a provider with `free` free pages evicts first.
pub fn room_to_make(free: usize, need: usize) -> usize {
    need.saturating_sub(free)
}

/// The range a CPU fault at `addr` brings back to system memory: the naturally aligned window of
/// `pages` pages around it (rounded up to a power of two, between 1 and `max` pages, `max` a power
/// of two), clipped to the VMA `[vm_start, vm_end)` that holds `addr`. Addresses are multiples of
/// `page`, a power of two; so is the result, which always holds `addr`.
pub fn fault_around_window(
    addr: usize,
    pages: usize,
    max: usize,
    page: usize,
    vm_start: usize,
    vm_end: usize,
) -> (usize, usize) {
    let window = pages.clamp(1, max).next_power_of_two().min(max) * page;
    let aligned = addr & !(window - 1);
    (
        aligned.max(vm_start),
        aligned.saturating_add(window).min(vm_end),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn marks(capacity: u32, low: u64, high: u64) -> Watermarks {
        let mut w = Watermarks::OFF;
        w.set_high(high, capacity).unwrap();
        w.set_low(low).unwrap();
        w
    }

    fn peer(free: u32, high: u64) -> PeerCandidate {
        PeerCandidate {
            free,
            watermarks: marks(1000, 0, high),
        }
    }

    #[test]
    fn victims_go_to_the_reachable_peer_with_the_most_room() {
        let peers = [peer(10, 0), peer(50, 0), peer(80, 0), peer(50, 0)];
        // Peer 2 has the most room but is out of reach; of the two next, the last.
        let reach = |i: usize| i != 2;
        assert_eq!(
            peer_for_victims(peers, Eviction::Direct, reach),
            Some((3, 50))
        );
        assert_eq!(peer_for_victims(peers, Eviction::Direct, |_| false), None);
        assert_eq!(peer_for_victims([], Eviction::Direct, |_| true), None);
    }

    #[test]
    fn background_victims_stop_at_the_peers_high_watermark() {
        let peers = [peer(100, 90), peer(60, 10), peer(5, 0)];
        assert_eq!(
            peer_for_victims(peers, Eviction::Background, |_| true),
            Some((1, 50))
        );
        assert_eq!(
            peer_for_victims(peers, Eviction::Direct, |_| true),
            Some((0, 100))
        );
        // Every peer at its high watermark: background victims go to system memory.
        let full = [peer(90, 90), peer(10, 10)];
        assert_eq!(peer_for_victims(full, Eviction::Background, |_| true), None);
    }

    #[test]
    fn the_route_is_looked_up_only_for_peers_with_room() {
        let mut asked = alloc::vec::Vec::new();
        let peers = [peer(0, 0), peer(20, 0), peer(10, 0), peer(30, 0)];
        let got = peer_for_victims(peers, Eviction::Direct, |i| {
            asked.push(i);
            true
        });
        assert_eq!(got, Some((3, 30)));
        // Not the empty one, nor one with less room than a reachable peer already found.
        assert_eq!(asked, [1, 3]);
    }

    #[test]
    fn a_victim_enters_a_peer_its_devices_reach_and_that_may_charge_it() {
        let v = |accessors_reach_peer, peer_charges, evictors_page| Victim {
            accessors_reach_peer,
            peer_charges,
            evictors_page,
        };
        assert!(may_enter_peer(&v(true, false, false)));
        assert!(may_enter_peer(&v(true, true, true)));
        assert!(!may_enter_peer(&v(true, true, false)));
        assert!(!may_enter_peer(&v(false, false, true)));
    }

    #[test]
    fn room_is_made_only_for_what_does_not_fit() {
        assert_eq!(room_to_make(10, 4), 0);
        assert_eq!(room_to_make(10, 14), 4);
        assert_eq!(room_to_make(0, 256), 256);
    }

    #[test]
    fn fault_around_windows_are_aligned_and_clipped() {
        const P: usize = 4096;
        assert_eq!(
            fault_around_window(0x10_5000, 16, 64, P, 0, usize::MAX),
            (0x10_0000, 0x11_0000)
        );
        // 3 pages round up to 4; the VMA clips the window.
        assert_eq!(
            fault_around_window(0x10_5000, 3, 64, P, 0x10_5000, 0x10_6000),
            (0x10_5000, 0x10_6000)
        );
        // Out-of-range requests are clamped: 0 is the touched page only, 1000 is `max`.
        assert_eq!(
            fault_around_window(0x7000, 0, 64, P, 0, 1 << 30),
            (0x7000, 0x8000)
        );
        assert_eq!(
            fault_around_window(0x7000, 1000, 64, P, 0, 1 << 30),
            (0, 0x4_0000)
        );
    }

    proptest! {
        /// The chosen peer is reachable, has room, and no reachable candidate has more.
        #[test]
        fn the_chosen_peer_is_the_roomiest_reachable_one(
            peers in prop::collection::vec((0u32..1000, 0u64..1000, any::<bool>()), 0..20),
            background in any::<bool>(),
        ) {
            let kind = if background { Eviction::Background } else { Eviction::Direct };
            let cands: alloc::vec::Vec<PeerCandidate> =
                peers.iter().map(|&(free, high, _)| peer(free, high)).collect();
            let got = peer_for_victims(cands.iter().copied(), kind, |i| peers[i].2);
            let best = cands
                .iter()
                .zip(&peers)
                .filter(|(_, p)| p.2)
                .map(|(c, _)| c.room(kind))
                .max()
                .unwrap_or(0);
            match got {
                None => prop_assert_eq!(best, 0),
                Some((i, room)) => {
                    prop_assert!(peers[i].2);
                    prop_assert_eq!(room, cands[i].room(kind));
                    prop_assert_eq!(room, best);
                    prop_assert!(room > 0);
                    if background {
                        prop_assert!(cands[i].free - room >= cands[i].watermarks.high());
                    }
                }
            }
        }

        /// A fault-around window is page aligned, inside the VMA, at most `max` pages, and holds
        /// the faulting page.
        #[test]
        fn fault_around_window_holds_the_page(
            page_index in 0usize..1 << 20,
            pages in 0usize..200,
            below in 0usize..100,
            above in 1usize..100,
        ) {
            const P: usize = 4096;
            let addr = page_index * P + (1 << 30);
            let (vm_start, vm_end) = (addr - below * P, addr + above * P);
            let (s, e) = fault_around_window(addr, pages, 64, P, vm_start, vm_end);
            prop_assert!(s <= addr && addr < e);
            prop_assert!(vm_start <= s && e <= vm_end);
            prop_assert_eq!(s % P, 0);
            prop_assert_eq!(e % P, 0);
            prop_assert!(e - s <= 64 * P);
        }
    }
}
