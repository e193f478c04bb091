// SPDX-License-Identifier: GPL-2.0

//! One open `/dev/p2pmm`: the address space of the process that opened it, and the advice given for
//! it.
//!
//! Advice follows madvise(2): it belongs to address ranges, and unmapping a range drops it. p2pmm
//! learns about unmaps from an `mmu_interval_notifier` over the whole address space, whose lock is
//! also the advice lock. The notifier ignores every other event (in particular the `MIGRATE`
//! invalidations p2pmm's own moves cause), so moving pages never waits for the advice lock.
//!
//! Advice lives as long as the file: closing it unpins what its pin advice pinned (when the closing
//! process is the one that opened it; otherwise the pages' exit or unmap releases their pins).
//!
//! Lock order: mmap lock -> the advice lock (the notifier's). It is taken with the mmap lock held
//! (unmap, advise) or alone, never around a page walk or a migration: callers copy what they need
//! out of it first. The route memo's lock (`P2PMM_IOC_BLKIO`) is a leaf: taken alone, for a lookup
//! or an insert. So is the thrash table's (`P2PMM_IOC_MIGRATE`): taken under the mmap lock between
//! the pieces of a migration, never across one.

use crate::{
    advice::{Advice, AdviceChange, AdviceFlags, AdviceMap},
    blkio::RouteMemo,
    location::Location,
    migration::ThrashWatch,
    notifier::{Event, IntervalNotifier, InvalidateHandler, Invalidation},
    provider::{Kind, Provider},
    range_index::{Entry, RangeError},
    residency, resident_advice,
    thrash::ThrashTable,
    uapi_advise::AdviseRequest,
    versioned::{self, CopyError, FixedBuf, LockedState, UpdateError, Versioned},
};
use kernel::{
    mm::{Mm, MmWithUser},
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::{Instant, Monotonic},
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// The advice and a generation count that every change bumps, behind the notifier's lock.
///
/// Nothing may allocate under that lock: core mm takes it inside `invalidate_range_start`, which
/// reclaim can reach. So a change is made with the portable core's [`versioned::update`]
/// (loom-checked in `mm/core/tests/loom_versioned.rs`): on a copy built outside the lock and
/// swapped in only if the generation is still the one the copy was taken at (else an unmap came in
/// between, and the change starts over).
pub type AdviceState = Versioned<AdviceMap>;

/// Drops advice of unmapped ranges.
pub struct AdviceHandler;

impl InvalidateHandler for AdviceHandler {
    type State = AdviceState;

    fn ignore(&self, inv: &Invalidation<'_>) -> bool {
        !matches!(inv.event(), Event::Unmap | Event::Release)
    }

    fn invalidate(&self, inv: &Invalidation<'_>, state: &mut AdviceState) {
        // Without allocating: an unmap punching a hole in the middle of one advised range leaves
        // that range's advice on the hole (documented in uapi.rst). Bumps the generation, so a
        // change whose copy predates the unmap starts over instead of swapping the unmapped advice
        // back in.
        state.invalidate(|map| {
            let _ = map.forget(inv.start() as u64, inv.end() as u64);
        });
    }
}

/// The advice lock is the notifier's: what [`versioned`] takes around each of its short sections.
impl LockedState for IntervalNotifier<AdviceHandler> {
    type State = AdviceState;

    fn with<R>(&self, f: impl FnOnce(&mut AdviceState) -> R) -> R {
        let mut state = self.lock();
        f(&mut state)
    }
}

/// How many attempts a change (or copy) of advice makes, each lost to a racing unmap or a copy that
/// no longer fit, before giving up with `EAGAIN`.
const ADVICE_RETRIES: u32 = 100;

/// Room for a copy of `map`: its entries, and some slack for entries that arrive between sizing and
/// copying.
fn advice_room(map: &AdviceMap) -> usize {
    map.len() + 8
}

/// The state of one open file.
#[pin_data(PinnedDrop)]
pub struct Space {
    #[pin]
    advice: IntervalNotifier<AdviceHandler>,
    /// The routes this file's block transfers asked (`P2PMM_IOC_BLKIO`).
    #[pin]
    routes: Mutex<RouteMemo>,
    /// The ranges this file's migrations moved into device memory lately (thrash detection).
    #[pin]
    thrash: Mutex<ThrashTable>,
    /// The origin of the thrash table's times.
    opened: Instant<Monotonic>,
    /// The opener's address space, as an identity: the only one this file's advice may name.
    mm: usize,
}

impl Space {
    /// The state of a file opened by a process with address space `mm`.
    pub fn new(mm: &Mm) -> impl PinInit<Self, Error> + '_ {
        try_pin_init!(Self {
            advice <- IntervalNotifier::new(
                mm,
                0,
                usize::MAX & !(PAGE_SIZE - 1),
                AdviceHandler,
                AdviceState::new(AdviceMap::new()),
            ),
            routes <- new_mutex!(RouteMemo::default(), "p2pmm_route_memo"),
            thrash <- new_mutex!(ThrashTable::new(), "p2pmm_thrash"),
            opened: Instant::now(),
            mm: mm.as_raw() as usize,
        })
    }

    /// The routes this file's block transfers asked.
    pub fn route_memo(&self) -> &Mutex<RouteMemo> {
        &self.routes
    }

    /// This file's thrash table, for a migration starting now.
    pub fn thrash_watch(&self) -> ThrashWatch<'_> {
        ThrashWatch {
            table: &self.thrash,
            now: (self.opened.elapsed().as_nanos() / 1000) as u64,
        }
    }

    /// Whether `mm` is the address space this file was opened in.
    pub fn is_own(&self, mm: &Mm) -> bool {
        mm.as_raw() as usize == self.mm
    }

    /// The advice over `[start, end)` (entries not clipped), copied out of the lock (the copy is
    /// sized outside it).
    pub fn advice_over(&self, start: usize, end: usize) -> Result<KVec<Entry<Advice>>> {
        let (start, end) = (start as u64, end as u64);
        let copy = versioned::snapshot(
            &self.advice,
            ADVICE_RETRIES,
            advice_room,
            |map: &AdviceMap, out: &mut FixedBuf<'_, Entry<Advice>>| {
                map.copy_within_capacity(start, end, out)
            },
        )
        .map_err(|e| match e {
            CopyError::NoMemory => ENOMEM,
            CopyError::Raced => EAGAIN,
        })?;
        Ok(copy.items)
    }

    /// Applies `change` to `[start, end)`: on a copy, swapped in unless an unmap raced (then
    /// again). The old map is freed outside the lock.
    fn change_advice(&self, start: u64, end: u64, change: AdviceChange) -> Result {
        versioned::update(
            &self.advice,
            ADVICE_RETRIES,
            advice_room,
            |map: &AdviceMap, out: &mut FixedBuf<'_, Entry<Advice>>| {
                map.copy_within_capacity(0, u64::MAX, out)
            },
            |entries: &[Entry<Advice>]| -> core::result::Result<AdviceMap, RangeError> {
                let mut map = AdviceMap::from_entries(entries)?;
                map.advise(start, end, change)?;
                Ok(map)
            },
        )
        .map_err(|e| match e {
            UpdateError::NoMemory => ENOMEM,
            UpdateError::Raced => EAGAIN,
            UpdateError::Change(e) => errno(e),
        })
    }

    /// `P2PMM_IOC_ADVISE` for the caller's address space `mm` (which must be this file's: `EPERM`).
    pub fn advise(&self, mm: &MmWithUser, req: &AdviseRequest, all: &[Arc<Provider>]) -> Result {
        if !self.is_own(mm) {
            return Err(EPERM);
        }
        if let Some(id) = req.provider {
            let p = all.iter().find(|p| p.id == id).ok_or(ENODEV)?;
            // Static memory is never a page's home: it cannot be preferred.
            if matches!(req.change, AdviceChange::SetPreferred(_)) && p.kind == Kind::Static {
                return Err(EINVAL);
            }
        }
        let (start, end) = (req.range.start as usize, req.range.end as usize);
        // Checked and changed under the mmap read lock: an unmap cannot slip in between and leave
        // advice on a range that is gone (the unmap's own forget waits for the lock, then runs
        // after the change).
        residency::while_mapped(mm, start, end, || {
            self.change_advice(req.range.start, req.range.end, req.change)
        })?;
        // Pages already on a provider follow the new advice now; later arrivals when they land.
        match req.change {
            AdviceChange::SetFlags(f) if f.contains(AdviceFlags::PINNED) => {
                resident_advice::set_pinned(mm, start, end, all, true)?;
            }
            AdviceChange::ClearFlags(f) if f.contains(AdviceFlags::PINNED) => {
                resident_advice::set_pinned(mm, start, end, all, false)?;
            }
            AdviceChange::SetPreferred(loc) => {
                let id = match loc {
                    Location::Provider(p) => Some(u32::from(p.raw())),
                    Location::System => None,
                };
                resident_advice::set_preferred(mm, start, end, all, id)?;
            }
            AdviceChange::ClearPreferred => {
                resident_advice::set_preferred(mm, start, end, all, None)?
            }
            AdviceChange::SetAccessedBy(p) => {
                resident_advice::set_accessed_by(mm, start, end, all, p, true)?
            }
            AdviceChange::ClearAccessedBy(p) => {
                resident_advice::set_accessed_by(mm, start, end, all, p, false)?
            }
            _ => {}
        }
        Ok(())
    }
}

fn errno(e: crate::range_index::RangeError) -> Error {
    Error::from(crate::errno::Errno::from(e))
}

#[pinned_drop]
impl PinnedDrop for Space {
    fn drop(self: Pin<&mut Self>) {
        // Unpin what this file's advice pinned, if the closing process can reach those pages.
        let task = kernel::current!();
        let Some(mm) = task.mm() else { return };
        if !self.is_own(mm) {
            return;
        }
        let Ok(pinned) = self.advice_over(0, usize::MAX) else {
            return;
        };
        let all = crate::registry::snapshot();
        for e in pinned
            .iter()
            .filter(|e| e.value.flags.contains(AdviceFlags::PINNED))
        {
            let (start, end) = (e.start as usize, e.end as usize);
            if residency::ensure_mapped(mm, start, end).is_ok() {
                let _ = resident_advice::set_pinned(mm, start, end, &all, false);
            }
        }
    }
}
