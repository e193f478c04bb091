// SPDX-License-Identifier: GPL-2.0

//! Migrations of a process's range: to a managed provider (from system memory or any provider,
//! evicting from the target what its policy picks when it is full, `evictor.rs`), or back to system
//! memory. Advice decides how pages land (pinned, preferring the target, the devices that access
//! them), and the caller's thrash table holds back ranges that move back and forth too often
//! (`core/src/thrash.rs`).
//!
//! Locks: the mmap read lock for the walk and each piece
//! (`migrate::for_each_mapped_aligned_piece`), the target's slot locks inside (`managed.rs`), the
//! thrash table's mutex alone.

use crate::{
    advice::{Advice, AdviceFlags, ProviderSet},
    bar_devmem::Source,
    evictor,
    location::{Location, ProviderId},
    managed::{owner, Memory},
    migrate::for_each_mapped_aligned_piece,
    provider::Provider,
    range_index::Entry,
    residency::{walk, Placement},
    stats::Stats,
    thrash::ThrashTable,
    trace,
};
use kernel::{
    mm::{virt::flags as vm_flags, MmWithUser},
    prelude::*,
    sync::{Arc, Mutex},
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Pages per piece of a migration into a provider: 2 MiB, aligned, so that a THP (or a peer's 2 MiB
/// folio) meets the target whole and can land as one 2 MiB device folio.
const PIECE_PAGES: usize = 512;

/// What a migration did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moved {
    /// Pages that moved to the target.
    pub migrated: u64,
    /// Pages evicted from the target to make room.
    pub evicted: u64,
}

/// The thrash table of the process a migration runs for (`core/src/thrash.rs`), and the time of
/// the migration in the table's unit (µs).
pub struct ThrashWatch<'a> {
    /// The table.
    pub table: &'a Mutex<ThrashTable>,
    /// Now.
    pub now: u64,
}

/// The ranges of a piece of at most [`PIECE_PAGES`] pages (so two at most) that thrash: a migration
/// leaves their pages where they are.
#[derive(Default)]
struct Held {
    bases: [Option<u64>; 2],
}

impl Held {
    /// The ranges of `[a, b)` that `watch` holds back now.
    fn of(watch: Option<&ThrashWatch<'_>>, a: usize, b: usize) -> Held {
        let mut held = Held::default();
        if let Some(w) = watch {
            let table = w.table.lock();
            for (base, addr) in held.bases.iter_mut().zip([a, b - 1]) {
                if table.holds(addr as u64, w.now) {
                    *base = Some(ThrashTable::base_of(addr as u64));
                }
            }
        }
        held
    }

    fn contains(&self, addr: usize) -> bool {
        let base = ThrashTable::base_of(addr as u64);
        self.bases.contains(&Some(base))
    }
}

/// Migrates `[start, end)` of `mm` to the managed provider `target`, from system memory or any
/// provider in `all`, evicting from `target` what its policy picks when it is full. `advice` (the
/// caller's advice over the range) decides how each page lands: pinned, or preferring `target`.
/// With `thrash` (the caller's thrash table), pages of ranges that thrash stay where they are, and
/// the ranges this migration moves count towards thrashing.
pub fn migrate_to_provider(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    target: &Provider,
    all: &[Arc<Provider>],
    advice: &[Entry<Advice>],
    thrash: Option<&ThrashWatch<'_>>,
) -> Result<Moved> {
    let target_loc = u16::try_from(target.id)
        .ok()
        .and_then(|id| ProviderId::new(id).ok())
        .map(Location::Provider);
    let tm = target.managed().ok_or(EINVAL)?;
    let limits = tm.thrash_limits();
    let thrash = thrash.filter(|_| limits.moves > 0);
    // The range last counted as moved: one migration counts once per range, however many pieces.
    let mut counted: Option<u64> = None;
    let mut held_pages = 0u64;
    let peers = peer_memories(all)?;
    // Pages already on `target` need no slot: room is made only for the others, or the eviction
    // would move out pages that this same call then brings back. (A page that moves meanwhile only
    // makes the count stale: a page without a slot stays where it is. For the same reason a failed
    // walk, e.g. over a hole that the migration below reports, only leaves the count high.) Their
    // bitmap is built a window at a time, so it stays small however large the range: 4 KiB for a
    // window of 1 GiB.
    const WINDOW: usize = 1 << 30;
    let mut done = Moved::default();
    let mut ws = start;
    while ws < end {
        let we = end.min(ws.saturating_add(WINDOW));
        let npages = (we - ws) / PAGE_SIZE;
        let mut on_target = KVVec::<u64>::from_elem(0, npages.div_ceil(64), GFP_KERNEL)?;
        let _ = walk(mm, ws, we, all, |addr, placement, _| {
            if placement == Placement::Provider(target.id) {
                let i = (addr - ws) / PAGE_SIZE;
                on_target[i / 64] |= 1 << (i % 64);
            }
        });
        let needing_slots = |a: usize, b: usize, held: &Held| {
            ((a - ws) / PAGE_SIZE..(b - ws) / PAGE_SIZE)
                .filter(|&i| on_target[i / 64] & (1 << (i % 64)) == 0)
                .filter(|&i| !held.contains(ws + i * PAGE_SIZE))
                .count()
        };
        for_each_mapped_aligned_piece(mm, ws, we, PIECE_PAGES, |vma, a, b| {
            let held = Held::of(thrash, a, b);
            let need = needing_slots(a, b, &held);
            // Pages moved into each range of the piece: `a`'s, and the next one's.
            let mut moved_into = [0usize; 2];
            let first = ThrashTable::base_of(a as u64);
            // The room made for this piece is its own until its pages have arrived.
            let _room = tm.reserve_incoming(need);
            let (mut prepaid, evicted) = evictor::prepay(target, all, need)?;
            done.evicted += evicted as u64;
            done.evicted += evictor::make_room(target, all, need)? as u64;
            let moved = tm.memory().migrate_in(
                vma,
                a,
                b,
                &peers,
                |addr, source, pages| {
                    if let Source::Device(mem, slot) = source {
                        if core::ptr::eq(*mem, tm.memory()) {
                            // Already here; asked for again: a second chance when the
                            // policy next looks at it (page by page).
                            if pages == 1 {
                                let _ = tm.clock().touch(*slot);
                            }
                            return None;
                        }
                    }
                    if pages > 1 {
                        // A 2 MiB folio lands whole in a whole free chunk, unless a range it is
                        // in thrashes, or it is an empty PMD of a VMA not advised to use huge
                        // pages (the page would come back as a THP); else its pages are offered
                        // one by one.
                        let hole = matches!(source, Source::Empty);
                        if held.contains(addr)
                            || held.contains(addr + (pages - 1) * PAGE_SIZE)
                            || (hole && vma.flags() & vm_flags::HUGEPAGE == 0)
                        {
                            return None;
                        }
                        return match target.region {
                            None => tm.take_chunk(0),
                            Some(_) => {
                                // The chunk's 512 charges, if the last ones are one tenant's.
                                let n = prepaid.len();
                                let t = *prepaid.last()?;
                                if n < pages || prepaid[n - pages..].iter().any(|&x| x != t) {
                                    return None;
                                }
                                let first = tm.take_chunk(t)?;
                                prepaid.truncate(n - pages);
                                Some(first)
                            }
                        };
                    }
                    if held.contains(addr) {
                        held_pages += 1;
                        return None;
                    }
                    match target.region {
                        None => tm.take_slot(0),
                        Some(_) => tm.take_slot(prepaid.pop()?),
                    }
                },
                |addr, slot| {
                    moved_into[usize::from(ThrashTable::base_of(addr as u64) != first)] += 1;
                    let a = advice
                        .iter()
                        .find(|e| e.start <= addr as u64 && (addr as u64) < e.end)
                        .map_or(Advice::default(), |e| e.value);
                    let now = tm.now();
                    let mut clock = tm.clock();
                    let _ = clock.occupy(slot, now);
                    if a.flags.contains(AdviceFlags::PINNED) {
                        let _ = clock.set_advice_pin(slot, true);
                    }
                    if a.preferred.is_some() && a.preferred == target_loc {
                        let _ = clock.set_preferred(slot, true);
                    }
                    if a.accessed_by != ProviderSet::EMPTY {
                        let _ = clock.set_accessed_by(slot, a.accessed_by);
                    }
                },
            );
            // Charges for pages that did not move (already here, or busy) go back.
            tm.refund(&prepaid);
            done.migrated += moved? as u64;
            if let Some(w) = thrash {
                for (n, addr) in moved_into.into_iter().zip([a, b - 1]) {
                    let base = ThrashTable::base_of(addr as u64);
                    if n == 0 || counted == Some(base) {
                        continue;
                    }
                    counted = Some(base);
                    let trip = w.table.lock().record(addr as u64, w.now, &limits);
                    if let Some(t) = trip {
                        Stats::add(&target.stats.thrash_trips, 1);
                        trace::thrash(target.id, t.base, t.moves, limits.backoff);
                    }
                }
            }
            Ok(())
        })?;
        ws = we;
    }
    Stats::add(&target.stats.migrated_in, done.migrated);
    Stats::add(&target.stats.thrash_held, held_pages);
    trace::migrate(target.id, start, end, done.migrated, done.evicted);
    tm.start_reclaim_if_low();
    Ok(done)
}

/// Migrates every page of `[start, end)` of `mm` that lives on a provider in `all` back to system
/// memory.
pub fn migrate_to_system(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
) -> Result<u64> {
    let peers = peer_memories(all)?;
    let mut moved = 0u64;
    for_each_mapped_aligned_piece(mm, start, end, PIECE_PAGES, |vma, a, b| {
        moved += Memory::migrate_out(vma, a, b, owner(), &peers)? as u64;
        Ok(())
    })?;
    trace::migrate(0, start, end, moved, 0);
    Ok(moved)
}

fn peer_memories(all: &[Arc<Provider>]) -> Result<KVec<&Memory>> {
    let mut peers = KVec::with_capacity(all.len(), GFP_KERNEL)?;
    for p in all {
        if let Some(m) = p.managed() {
            peers.push(m.memory(), GFP_KERNEL)?;
        }
    }
    Ok(peers)
}
