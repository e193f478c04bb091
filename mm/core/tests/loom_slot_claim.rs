// SPDX-License-Identifier: GPL-2.0

//! Loom model of `slot_claim.rs`: every interleaving (and every weak-memory outcome loom models) of
//! a few fault and eviction threads racing on one slot. Built only with `RUSTFLAGS="--cfg loom"`
//! (scripts/host-tests.sh).
//!
//! Each model checks the two invariants with witness counters kept beside the word: a thread that
//! holds a pin or a claim bumps its counter while it holds it, and no thread ever sees the other
//! kind's counter non-zero, nor a second evictor's. A `payload` word stands for the page: an
//! evictor sets it to "moving" and back to "settled" with relaxed stores while it holds the claim;
//! a pinner must never see "moving", which requires the acquire/release pairing of the claim word
//! (weakening either side to `Relaxed` makes loom find the stale value).
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use p2pmm_core::slot_claim::{ClaimError, SlotClaim};

const SETTLED: u32 = 0;
const MOVING: u32 = 1;

#[derive(Default)]
struct World {
    slot: SlotClaim,
    payload: AtomicU32,
    pinners: AtomicUsize,
    evictors: AtomicUsize,
}

impl World {
    fn pin_and_map(&self) -> bool {
        if self.slot.try_pin().is_err() {
            return false;
        }
        self.pinners.fetch_add(1, SeqCst);
        assert_eq!(self.evictors.load(SeqCst), 0, "pinned while claimed");
        assert_eq!(
            self.payload.load(Relaxed),
            SETTLED,
            "pinner saw a page being moved"
        );
        self.pinners.fetch_sub(1, SeqCst);
        self.slot.unpin().unwrap();
        true
    }

    fn evict(&self) -> bool {
        match self.slot.try_claim_for_eviction() {
            Ok(()) => {}
            Err(ClaimError::Pinned | ClaimError::Claimed) => return false,
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(
            self.evictors.fetch_add(1, SeqCst),
            0,
            "two evictors hold the slot"
        );
        assert_eq!(self.pinners.load(SeqCst), 0, "claimed while pinned");
        self.payload.store(MOVING, Relaxed);
        self.payload.store(SETTLED, Relaxed);
        self.evictors.fetch_sub(1, SeqCst);
        self.slot.release_claim().unwrap();
        true
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    // Three threads with a handful of atomics each: a bound of 3 preemptions explores them in
    // seconds.
    b.preemption_bound = Some(3);
    b.check(f);
}

#[test]
fn pinner_against_evictor() {
    model(|| {
        let w = Arc::new(World::default());
        let w2 = w.clone();
        let t = thread::spawn(move || w2.evict());
        let pinned = w.pin_and_map();
        let evicted = t.join().unwrap();
        // At least one of them got the slot: they cannot both fail (the loser saw the winner's
        // hold).
        assert!(pinned || evicted);
        assert_eq!(w.slot.pins(), 0);
        assert!(!w.slot.is_claimed());
    });
}

#[test]
fn two_evictors_and_a_pinner() {
    model(|| {
        let w = Arc::new(World::default());
        let (a, b) = (w.clone(), w.clone());
        let t1 = thread::spawn(move || a.evict());
        let t2 = thread::spawn(move || b.evict());
        w.pin_and_map();
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(w.slot.pins(), 0);
        assert!(!w.slot.is_claimed());
    });
}

#[test]
fn two_pinners_and_an_evictor() {
    model(|| {
        let w = Arc::new(World::default());
        let (a, b) = (w.clone(), w.clone());
        let t1 = thread::spawn(move || a.pin_and_map());
        let t2 = thread::spawn(move || b.pin_and_map());
        w.evict();
        t1.join().unwrap();
        t2.join().unwrap();
        assert_eq!(w.slot.pins(), 0);
        assert!(!w.slot.is_claimed());
    });
}
