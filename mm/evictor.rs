// SPDX-License-Identifier: GPL-2.0

//! Eviction from a managed provider: making room for a move into it, for its background reclaim
//! (`reclaim.rs`) and for the dmem controller (`dmem_reclaim.rs`).
//!
//! The provider's policy picks the victims (`managed.rs`: its CLOCK, sparing what `dmem.min` and
//! `dmem.low` protect); `core/src/placement.rs` decides where they go, and this file carries that
//! out. Where victims go: into the peer provider with the most room that this provider's device
//! reaches by a direct plan (p2pdma's verdict under the administrator's route policy,
//! `Provider::route_to`), as many as fit and only those whose `ACCESSED_BY` devices reach that
//! peer directly too; the rest to system memory, in the same migration. A peer takes background
//! victims only into what it has free beyond its own high watermark (`core/src/watermarks.rs`: so
//! background reclaim never cascades in a loop); a direct eviction fills it and starts the peer's
//! own reclaim when that leaves it short (the cascade).
//!
//! Pages are charged to the dmem cgroup of the process that moves them in (`tenants.rs`): a
//! migration over the caller's `dmem.max` first evicts the caller's own pages ([`prepay`]). A
//! victim goes into a peer only when the evicting process is of the victim's cgroup (the controller
//! charges only the caller's cgroup); other tenants' victims go to system memory.
//!
//! Locks: those of `managed.rs`, one provider's at a time, none held across the migration. Moving
//! a dma-buf out (`make_room`) takes its reservation lock inside the caller's mmap read lock, and
//! the provider's slot locks inside that (`bind/managed_dmabuf.rs`).

use crate::{
    advice::ProviderSet,
    dmem::{self, ChargeError, Group, Limit},
    eviction::TenantMask,
    free_chunks::CHUNK_SLOTS,
    location::ProviderId,
    managed::{Managed, CHUNK_PAGES},
    placement::{self, Eviction, PeerCandidate, Victim},
    provider::Provider,
    route::PLAN_DIRECT,
    stats::Stats,
    trace,
};
use kernel::{prelude::*, sync::Arc};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// The memory of the managed provider `p` (`EINVAL` for a static one).
fn managed_of(p: &Provider) -> Result<&Managed> {
    p.managed().ok_or(EINVAL)
}

/// Makes room on the managed provider `target` for `want` pages by evicting victims its policy
/// picks: into the peer in `all` with the most room that `target`'s device reaches directly, as
/// many as fit, and the rest to system memory. `EINVAL` for a static `target`. Returns how many
/// pages were evicted (fewer than needed when the rest is pinned, too young to move, or protected
/// by its cgroup's `dmem.min` or `dmem.low`). When its processes' pages cannot make the room, the
/// provider's unpinned dma-bufs go to system memory (`managed_dmabuf.rs`).
pub fn make_room(target: &Provider, all: &[Arc<Provider>], want: usize) -> Result<usize> {
    let m = managed_of(target)?;
    let short = placement::room_to_make(m.free_slots(), want);
    if short == 0 {
        return Ok(0);
    }
    // One eviction takes at most `CHUNK_PAGES` victims; a move of 2 MiB may need more.
    let mut evicted = 0;
    while evicted < short {
        let k = evict(target, all, short - evicted, None, false)?;
        if k == 0 {
            break;
        }
        evicted += k;
    }
    if evicted >= short {
        return Ok(evicted);
    }
    // Processes' pages could not make the room: dma-bufs exported from the provider go to system
    // memory, whole, those mapped least recently first (their importers are told and map again).
    let (moved, pinned) = m.memory().evict_dmabufs(short - evicted);
    let stats = &target.stats;
    Stats::add(&stats.evictions_skipped_pinned, pinned);
    Stats::add(&stats.evictions, moved as u64);
    Stats::add(&stats.migrated_out, moved as u64);
    if moved > 0 {
        trace::evict(target.id, 0, moved as u32, moved as u32);
    }
    Ok(evicted + moved)
}

/// Evicts up to `want` pages of `target` that its policy picks (see [`Managed::pick`]; with
/// `limit`, only that cgroup's); returns how many went.
/// Background reclaim (`background`) puts victims into a peer only beyond the peer's high
/// watermark; a direct eviction fills the peer and starts the peer's reclaim when that leaves
/// it below its low watermark.
pub fn evict(
    target: &Provider,
    all: &[Arc<Provider>],
    want: usize,
    limit: Option<&Limit>,
    background: bool,
) -> Result<usize> {
    let src = managed_of(target)?;
    let mut victims = [0u32; CHUNK_PAGES];
    // Pages that left with each victim: its own, and a 2 MiB folio's with it.
    let mut left = [0u32; CHUNK_PAGES];
    let n = src.pick(want, limit, &mut victims);
    if n == 0 {
        return Ok(0);
    }
    // Whose pages they are: for the peer's charges and for the report of who lost pages.
    let mut tenant = [0u8; CHUNK_PAGES];
    let mut accessed_by = [ProviderSet::EMPTY; CHUNK_PAGES];
    {
        let clock = src.clock();
        for (i, &slot) in victims[..n].iter().enumerate() {
            tenant[i] = clock.tenant(slot);
            accessed_by[i] = clock.accessed_by(slot);
        }
    }
    let mut group = [None; CHUNK_PAGES];
    {
        let tenants = src.tenants();
        for (g, &t) in group.iter_mut().zip(&tenant[..n]) {
            *g = tenants.group(t);
        }
    }
    // Where to (`placement.rs`): the peer provider with the most room that this device reaches
    // directly (p2pdma allows it and the route policy does not rule it out) keeps the data in
    // device memory, as much of it as fits; the rest goes to system memory in the same
    // migration.
    let kind = if background {
        Eviction::Background
    } else {
        Eviction::Direct
    };
    let managed_peers = || {
        all.iter()
            .filter(|p| p.id != target.id)
            .filter_map(|p| p.managed().map(|m| (p, m)))
    };
    let candidates = managed_peers().map(|(_, m)| PeerCandidate {
        free: m.free_for_peers() as u32,
        watermarks: m.watermarks(),
    });
    let chosen = placement::peer_for_victims(candidates, kind, |i| {
        managed_peers()
            .nth(i)
            .is_some_and(|(p, _)| p.route_to(&target.pdev).plan == PLAN_DIRECT)
    });
    let peer = chosen.and_then(|(i, room)| managed_peers().nth(i).map(|(p, m)| (p, m, room)));
    let moved = match peer {
        Some((p, m, room)) => {
            let me = dmem::current_group();
            let reaches = |set: ProviderSet| {
                all.iter()
                    .filter(|q| {
                        u16::try_from(q.id)
                            .ok()
                            .and_then(|id| ProviderId::new(id).ok())
                            .is_some_and(|id| set.contains(id))
                    })
                    .all(|q| p.route_to(&q.pdev).plan == PLAN_DIRECT)
            };
            // Both allocations draw on the peer's room.
            let room = core::cell::Cell::new(room);
            let may_enter = |i: usize, pages: usize| {
                let victim = Victim {
                    accessors_reach_peer: reaches(accessed_by[i]),
                    peer_charges: p.region.is_some(),
                    evictors_page: group[i] == Some(me),
                };
                let left = room.get().checked_sub(u32::try_from(pages).ok()?)?;
                placement::may_enter_peer(&victim).then(|| room.set(left))
            };
            let moved = src.memory().evict_to(
                &victims[..n],
                m.memory(),
                |i| {
                    may_enter(i, 1)?;
                    m.alloc_charged_slot(p.region.as_ref())
                },
                // A 2 MiB folio takes the attributes of the page that was picked.
                |i| {
                    may_enter(i, CHUNK_SLOTS as usize)?;
                    m.alloc_charged_chunk(p.region.as_ref())
                },
                |i, slot| {
                    let now = m.now();
                    let mut clock = m.clock();
                    let _ = clock.occupy(slot, now);
                    let _ = clock.set_accessed_by(slot, accessed_by[i]);
                },
                &mut left[..n],
            );
            if let Ok((into_peer, _)) = moved {
                Stats::add(&p.stats.migrated_in, into_peer as u64);
                trace::evict(target.id, p.id, n as u32, into_peer as u32);
            }
            // A peer that a direct eviction left short makes room in turn (the cascade).
            m.start_reclaim_if_low();
            moved.map(|(into_peer, into_system)| (into_peer, into_system, true))
        }
        None => src
            .memory()
            .evict(&victims[..n], &mut left[..n])
            .map(|k| (0, k, false)),
    };
    {
        // A victim whose page did not move (busy) is occupied again; one that left is free (or
        // holds another page by now).
        let mut clock = src.clock();
        for &slot in &victims[..n] {
            let _ = clock.cancel_eviction(slot);
        }
    }
    report_losses(src, target.id, &tenant[..n], &group[..n], &left[..n]);
    let (into_peer, into_system, had_peer) = moved?;
    // One record per destination: what went to system memory (all of it without a peer).
    if !had_peer || into_system > 0 {
        trace::evict(target.id, 0, n as u32, into_system as u32);
    }
    let moved = (into_peer + into_system) as u64;
    let stats = &target.stats;
    if background {
        Stats::add(&stats.evictions_background, moved);
    }
    Stats::add(&stats.evictions, moved);
    Stats::add(&stats.migrated_out, moved);
    // Each evicted page was unmapped from the process and every importer of it.
    Stats::add(&stats.invalidations, moved);
    Ok(moved as usize)
}

/// Counts and traces, per cgroup, the pages that left (`left[i]` with victim `i`: a 2 MiB folio's
/// go with the page that was picked).
fn report_losses(m: &Managed, id: u32, tenant: &[u8], group: &[Option<Group>], left: &[u32]) {
    let mut seen = TenantMask::NONE;
    for i in 0..tenant.len() {
        if left[i] == 0 || seen.contains(tenant[i]) {
            continue;
        }
        seen.insert(tenant[i]);
        let lost: u32 = (i..tenant.len())
            .filter(|&j| tenant[j] == tenant[i])
            .map(|j| left[j])
            .sum();
        if let Some(g) = group[i] {
            m.tenants().count_evicted(tenant[i], g, u64::from(lost));
        }
        trace::evict_cgroup(id, group[i].map_or(0, |g| g.id()), lost);
    }
}

/// Charges `pages` pages to the caller's cgroup in `target`'s region, for a migration into
/// `target`. Over the cgroup's `dmem.max`, evicts the cgroup's own pages here first (never
/// another cgroup's); `ENOMEM` if still over. Returns the tenant of each charge and how many
/// pages were evicted.
pub fn prepay(target: &Provider, all: &[Arc<Provider>], pages: usize) -> Result<(KVec<u8>, usize)> {
    let m = managed_of(target)?;
    let mut tenants = KVec::with_capacity(pages, GFP_KERNEL)?;
    let Some(region) = &target.region else {
        return Ok((tenants, 0));
    };
    let mut evicted = 0;
    while tenants.len() < pages {
        let c = match region.try_charge(PAGE_SIZE as u64) {
            Ok(c) => c,
            Err(ChargeError::Limited(limit)) => {
                let room = limit.map_or(Ok(0), |l| {
                    evict(target, all, pages - tenants.len(), Some(&l), false)
                });
                match room {
                    Ok(0) | Err(_) => {
                        m.refund(&tenants);
                        return Err(ENOMEM);
                    }
                    Ok(k) => {
                        evicted += k;
                        continue;
                    }
                }
            }
            Err(ChargeError::Failed(e)) => {
                m.refund(&tenants);
                return Err(e);
            }
        };
        match m.tenants().add(c) {
            // Within the capacity reserved above.
            Ok(t) => drop(tenants.push_within_capacity(t)),
            // 255 other cgroups hold pages here: what was charged so far is all there is.
            Err(_) => break,
        }
    }
    Ok((tenants, evicted))
}

/// Evicts up to `want` (at most 256) of `target`'s pages charged to `limit`'s cgroup and its
/// descendants, for the dmem controller's reclaim (`dmem_reclaim.rs`); returns how many went.
pub fn evict_over_limit(
    target: &Provider,
    all: &[Arc<Provider>],
    want: usize,
    limit: &Limit,
) -> Result<usize> {
    evict(target, all, want.min(CHUNK_PAGES), Some(limit), false)
}
