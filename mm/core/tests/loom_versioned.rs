// SPDX-License-Identifier: GPL-2.0

//! Loom model of `versioned.rs` on the real `AdviceMap`: every interleaving of the lock sections of
//! a change of advice ([`versioned::update`]) with an unmap ([`Versioned::invalidate`]) and with a
//! second change. Built only with `RUSTFLAGS="--cfg loom"` (scripts/host-tests.sh).
//!
//! Each model checks that the outcome is one a serial order of the operations gives (a change
//! either lands whole or, out of attempts, not at all), in particular that the advice an unmap
//! dropped never comes back with a swap, and that two changes both land. Beside the outcome it
//! checks the rule of the lock: the new map is built, and old maps are freed, only outside it.
//! Counters kept across the runs of a model check that every outcome the model allows (unmap first,
//! change first, change out of attempts; a change that had to start over) does occur.
#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;
use p2pmm_core::advice::{Advice, AdviceChange, AdviceFlags, AdviceMap};
use p2pmm_core::range_index::{Entry, RangeError};
use p2pmm_core::versioned::{self, FixedBuf, LockedState, UpdateError, Versioned};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

thread_local! {
    /// Set while a model thread holds the lock. Loom runs a model's threads one at a time on the OS
    /// thread that checks the model, and switches only at its own operations (none of which happen
    /// inside a lock section), so one flag per OS thread serves all threads of a model, and the
    /// tests (run in parallel) keep apart.
    static HELD: Cell<bool> = const { Cell::new(false) };
}

/// An `AdviceMap` that checks it is never freed under the lock (freeing the old map is the
/// protocol's job, after the swap's lock section).
struct Map(AdviceMap);

impl Drop for Map {
    fn drop(&mut self) {
        assert!(!HELD.get(), "a map freed under the lock");
    }
}

/// The notifier's lock, as a loom mutex.
struct Locked(Mutex<Versioned<Map>>);

impl LockedState for Locked {
    type State = Versioned<Map>;

    fn with<R>(&self, f: impl FnOnce(&mut Versioned<Map>) -> R) -> R {
        let mut guard = self.0.lock().unwrap();
        // Declared after the guard, so cleared before the mutex is released (also when `f` panics).
        let _held = Held::enter();
        f(&mut guard)
    }
}

/// Sets [`HELD`] for as long as it lives.
struct Held;

impl Held {
    fn enter() -> Held {
        assert!(!HELD.replace(true), "the lock taken twice");
        Held
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.set(false);
    }
}

const PIN: AdviceChange = AdviceChange::SetFlags(AdviceFlags::PINNED);
const READ_MOSTLY: AdviceChange = AdviceChange::SetFlags(AdviceFlags::READ_MOSTLY);

/// The advice as `(start, end, advice)` triples.
type Dump = Vec<(u64, u64, Advice)>;

fn dump(m: &AdviceMap) -> Dump {
    m.ranges(0, u64::MAX)
        .map(|e| (e.start, e.end, e.value))
        .collect()
}

/// A map with `change` on `[start, end)` for each triple, applied in order (serial reference
/// outcomes).
fn map_of(changes: &[(u64, u64, AdviceChange)]) -> AdviceMap {
    let mut m = AdviceMap::new();
    for &(s, e, c) in changes {
        m.advise(s, e, c).unwrap();
    }
    m
}

/// Applies `change` to `[start, end)` through the protocol, with at most `attempts` attempts;
/// counts the calls of the (allocating) rebuild in `rebuilds`.
fn advise(
    l: &Locked,
    start: u64,
    end: u64,
    change: AdviceChange,
    attempts: u32,
    rebuilds: &AtomicUsize,
) -> Result<(), UpdateError<RangeError>> {
    versioned::update(
        l,
        attempts,
        // No slack: a map that grew after sizing must not fit, so the model also runs the resizing
        // path.
        |m: &Map| m.0.len(),
        |m: &Map, out: &mut FixedBuf<'_, Entry<Advice>>| m.0.copy_within_capacity(0, u64::MAX, out),
        |entries| {
            assert!(!HELD.get(), "the new map built under the lock");
            rebuilds.fetch_add(1, SeqCst);
            let mut m = AdviceMap::from_entries(entries)?;
            m.advise(start, end, change)?;
            Ok(Map(m))
        },
    )
}

/// The unmap of `[start, end)`: what `AdviceHandler::invalidate` does under the notifier's lock.
fn unmap(l: &Locked, start: u64, end: u64) {
    l.with(|s| {
        s.invalidate(|m| assert!(m.0.forget(start, end), "the model's unmaps need no split"))
    });
}

fn world(initial: AdviceMap) -> Arc<Locked> {
    Arc::new(Locked(Mutex::new(Versioned::new(Map(initial)))))
}

fn finish(l: &Locked) -> (Dump, u64) {
    l.with(|s| (dump(&s.map().0), s.generation()))
}

/// Explores every interleaving, without a preemption bound: the threads synchronise only through
/// the mutex, in a few lock sections each, so the full search is small (about 16, 50 and 35,000
/// interleavings for the models below, two seconds in a release build).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

/// Pre-existing read-mostly advice on `[16, 32)`; the change pins `[0, 16)`; the unmap drops `[8,
/// 24)` (trimming both entries, so `forget` never has to split one).
fn change_against_unmap(attempts: u32, seen: &'static [AtomicUsize; 3]) {
    model(move || {
        let l = world(map_of(&[(16, 32, READ_MOSTLY)]));
        let l2 = l.clone();
        let t = thread::spawn(move || unmap(&l2, 8, 24));
        let rebuilds = AtomicUsize::new(0);
        let r = advise(&l, 0, 16, PIN, attempts, &rebuilds);
        t.join().unwrap();
        let (got, generation) = finish(&l);

        // Where the unmap dropped advice and the change did not touch, nothing ever brings it back.
        assert!(
            got.iter().all(|&(s, e, _)| e <= 16 || s >= 24),
            "advice the unmap dropped came back: {got:?}"
        );
        let change_then_unmap = {
            let mut m = map_of(&[(16, 32, READ_MOSTLY), (0, 16, PIN)]);
            m.forget(8, 24);
            dump(&m)
        };
        let unmap_then_change = dump(&map_of(&[(24, 32, READ_MOSTLY), (0, 16, PIN)]));
        let unmap_only = dump(&map_of(&[(24, 32, READ_MOSTLY)]));
        match r {
            Ok(()) => {
                if got == change_then_unmap {
                    seen[0].fetch_add(1, SeqCst);
                } else if got == unmap_then_change {
                    seen[1].fetch_add(1, SeqCst);
                } else {
                    panic!("no serial order gives {got:?}");
                }
                assert_eq!(generation, 2);
            }
            Err(UpdateError::Raced) => {
                // The unmap cost the change its attempts; the change left no trace.
                assert_eq!(rebuilds.load(SeqCst), attempts as usize);
                assert_eq!(got, unmap_only);
                assert_eq!(generation, 1);
                seen[2].fetch_add(1, SeqCst);
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    });
}

#[test]
fn change_against_unmap_with_one_attempt() {
    static SEEN: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
    change_against_unmap(1, &SEEN);
    let seen = SEEN.each_ref().map(|n| n.load(SeqCst));
    // Change first, unmap first, and the change out of attempts all occur.
    assert!(seen.iter().all(|&n| n > 0), "outcomes seen: {seen:?}");
}

#[test]
fn change_against_unmap_needs_at_most_one_retry() {
    static SEEN: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];
    change_against_unmap(2, &SEEN);
    let seen = SEEN.each_ref().map(|n| n.load(SeqCst));
    assert!(seen[0] > 0 && seen[1] > 0, "outcomes seen: {seen:?}");
    assert_eq!(seen[2], 0, "one unmap cost more than one attempt");
}

#[test]
fn two_changes_both_land() {
    // Per total number of rebuilds: 2 (no conflict), 3 (one change started over).
    static REBUILDS: [AtomicUsize; 5] = [const { AtomicUsize::new(0) }; 5];
    model(|| {
        let l = world(AdviceMap::new());
        let l2 = l.clone();
        let rebuilds = Arc::new(AtomicUsize::new(0));
        let r2 = rebuilds.clone();
        // Two attempts each: the other change's swap can cost one (a stale copy, or one that no
        // longer fits).
        let t = thread::spawn(move || advise(&l2, 8, 24, READ_MOSTLY, 2, &r2));
        advise(&l, 0, 16, PIN, 2, &rebuilds).unwrap();
        t.join().unwrap().unwrap();
        let (got, generation) = finish(&l);
        let both = AdviceFlags::PINNED.with(AdviceFlags::READ_MOSTLY);
        let want = dump(&map_of(&[
            (0, 8, PIN),
            (8, 16, AdviceChange::SetFlags(both)),
            (16, 24, READ_MOSTLY),
        ]));
        assert_eq!(got, want, "an update was lost");
        assert_eq!(generation, 2);
        REBUILDS[rebuilds.load(SeqCst)].fetch_add(1, SeqCst);
    });
    let seen = REBUILDS.each_ref().map(|n| n.load(SeqCst));
    assert!(seen[2] > 0 && seen[3] > 0, "rebuild counts seen: {seen:?}");
    assert_eq!(seen[4], 0, "both changes started over");
}

#[test]
fn two_changes_and_an_unmap() {
    // Not loom's: touched only by the model's main thread, after the others were joined.
    static SERIAL: std::sync::Mutex<Vec<Dump>> = std::sync::Mutex::new(Vec::new());
    static SEEN: std::sync::Mutex<Vec<Dump>> = std::sync::Mutex::new(Vec::new());
    model(|| {
        let l = world(map_of(&[(16, 32, READ_MOSTLY)]));
        let (l2, l3) = (l.clone(), l.clone());
        let t1 = thread::spawn(move || advise(&l2, 0, 16, PIN, 3, &AtomicUsize::new(0)));
        let t2 = thread::spawn(move || unmap(&l3, 8, 24));
        let a = AdviceChange::SetFlags(AdviceFlags::READ_MOSTLY);
        // Three attempts each: the other change and the unmap can cost one each.
        advise(&l, 4, 12, a, 3, &AtomicUsize::new(0)).unwrap();
        t1.join().unwrap().unwrap();
        t2.join().unwrap();
        let (got, generation) = finish(&l);
        // The outcome of one of the six serial orders.
        let ops: [&dyn Fn(&mut AdviceMap); 3] = [
            &|m| m.advise(0, 16, PIN).unwrap(),
            &|m| {
                m.forget(8, 24);
            },
            &|m| m.advise(4, 12, a).unwrap(),
        ];
        let orders = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let serial = orders.map(|o| {
            let mut m = map_of(&[(16, 32, READ_MOSTLY)]);
            o.iter().for_each(|&i| ops[i](&mut m));
            dump(&m)
        });
        *SERIAL.lock().unwrap() = serial.to_vec();
        assert!(serial.contains(&got), "no serial order gives {got:?}");
        assert_eq!(generation, 3);
        let mut seen = SEEN.lock().unwrap();
        if !seen.contains(&got) {
            seen.push(got);
        }
    });
    // Each outcome a serial order gives occurs in some interleaving.
    let serial = SERIAL.lock().unwrap();
    let seen = SEEN.lock().unwrap();
    assert!(serial.iter().all(|o| seen.contains(o)), "seen {seen:?}");
}
