// SPDX-License-Identifier: GPL-2.0

//! Property test of `placement.rs`: random sequences of advise, prefetch, fault, evict and free
//! against a plain reference model (a map from page to location and an array of advice).
//!
//! The model does not re-implement the CLOCK: it checks every move the engine reports (its source
//! must be where the model has the page, an eviction must never take a pinned page, a page leaves a
//! provider only when it was the one asked for or as an eviction), applies it, and then requires
//! the engine's view to equal the model's: no page lost, none in two places, no provider over its
//! capacity, advice as the model computed it.

use p2pmm_core::advice::{Advice, AdviceChange, AdviceFlags};
use p2pmm_core::errno::Errno;
use p2pmm_core::location::{Location, ProviderId};
use p2pmm_core::placement::{Accessor, Engine, Move, MoveCause, ProviderSpec};
use proptest::prelude::*;
use std::collections::HashMap;

const PAGES: u64 = 24;
const PROVIDERS: u16 = 3;
/// Not registered with the engine: requests naming it must fail with `ENODEV` and change nothing.
const GHOST: u16 = 5;

fn pid(n: u16) -> ProviderId {
    ProviderId::new(n).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Advise(u64, u64, AdviceChange),
    Prefetch(u64, u64, Location),
    Fault(u64, Accessor),
    Evict(u16, usize),
    Free(u64, u64),
    Tick(u64),
}

fn range() -> impl Strategy<Value = (u64, u64)> {
    (0..PAGES, 1..8u64).prop_map(|(s, n)| (s, (s + n).min(PAGES)))
}

fn provider() -> impl Strategy<Value = u16> {
    prop_oneof![8 => 0..PROVIDERS, 1 => Just(GHOST)]
}

fn accessor() -> impl Strategy<Value = Accessor> {
    prop_oneof![
        1 => Just(Accessor::Cpu),
        3 => provider().prop_map(|p| Accessor::Device(pid(p))),
    ]
}

fn location() -> impl Strategy<Value = Location> {
    prop_oneof![
        1 => Just(Location::System),
        3 => provider().prop_map(|p| Location::Provider(pid(p))),
    ]
}

fn change() -> impl Strategy<Value = AdviceChange> {
    let flags = prop_oneof![
        Just(AdviceFlags::PINNED),
        Just(AdviceFlags::READ_MOSTLY),
        Just(AdviceFlags::ALL)
    ];
    prop_oneof![
        location().prop_map(AdviceChange::SetPreferred),
        Just(AdviceChange::ClearPreferred),
        (0..PROVIDERS).prop_map(|p| AdviceChange::SetAccessedBy(pid(p))),
        (0..PROVIDERS).prop_map(|p| AdviceChange::ClearAccessedBy(pid(p))),
        flags.clone().prop_map(AdviceChange::SetFlags),
        flags.prop_map(AdviceChange::ClearFlags),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (range(), change()).prop_map(|((s, e), c)| Op::Advise(s, e, c)),
        3 => (range(), location()).prop_map(|((s, e), l)| Op::Prefetch(s, e, l)),
        5 => (0..PAGES, accessor()).prop_map(|(p, a)| Op::Fault(p, a)),
        2 => (provider(), 0..6usize).prop_map(|(p, n)| Op::Evict(p, n)),
        1 => range().prop_map(|(s, e)| Op::Free(s, e)),
        2 => (1..8u64).prop_map(Op::Tick),
    ]
}

struct Model {
    loc: HashMap<u64, Location>,
    advice: Vec<Advice>,
    caps: Vec<u32>,
}

impl Model {
    fn pinned(&self, page: u64) -> bool {
        self.advice[page as usize]
            .flags
            .contains(AdviceFlags::PINNED)
    }

    /// Checks one reported move against the model and applies it. `asked` are the pages the
    /// operation named.
    fn apply(&mut self, m: &Move, asked: (u64, u64)) {
        assert_eq!(
            self.loc.get(&m.page).copied(),
            m.from,
            "move from the wrong place: {m:?}"
        );
        assert_ne!(
            m.from,
            Some(m.to),
            "move to where the page already is: {m:?}"
        );
        let named = (asked.0..asked.1).contains(&m.page);
        if m.cause == MoveCause::Evict {
            assert!(
                matches!(m.from, Some(Location::Provider(_))),
                "eviction from system RAM: {m:?}"
            );
            assert_eq!(m.to, Location::System, "eviction not to system RAM: {m:?}");
            assert!(!self.pinned(m.page), "a pinned page was evicted: {m:?}");
        } else {
            assert!(
                named,
                "a page the operation did not name moved without eviction: {m:?}"
            );
        }
        self.loc.insert(m.page, m.to);
    }

    /// The engine's view equals the model's; every provider within capacity.
    fn compare(&self, e: &Engine) {
        e.check().unwrap();
        for page in 0..PAGES {
            assert_eq!(
                e.location(page),
                self.loc.get(&page).copied(),
                "page {page}"
            );
            assert_eq!(
                e.advice(page),
                self.advice[page as usize],
                "advice of page {page}"
            );
        }
        for (i, &cap) in self.caps.iter().enumerate() {
            let p = pid(i as u16);
            let here = self
                .loc
                .values()
                .filter(|&&l| l == Location::Provider(p))
                .count() as u32;
            assert!(here <= cap, "provider {i} over capacity");
            assert_eq!(e.used(p), Some(here), "provider {i} used");
        }
    }
}

fn run(caps: Vec<u32>, min_residency: u64, ops: Vec<Op>) {
    let specs: Vec<ProviderSpec> = caps
        .iter()
        .enumerate()
        .map(|(i, &capacity)| ProviderSpec {
            id: pid(i as u16),
            capacity,
        })
        .collect();
    let mut e = Engine::new(PAGES, &specs, min_residency).unwrap();
    let mut model = Model {
        loc: HashMap::new(),
        advice: vec![Advice::default(); PAGES as usize],
        caps,
    };
    let mut now = 0u64;
    let ghost = |l: Location| l == Location::Provider(pid(GHOST));
    for op in ops {
        let mut moves = Vec::new();
        let mut rec = |m: Move| moves.push(m);
        let before: Vec<u64> = model.loc.keys().copied().collect();
        let pinned_resident: Vec<(u64, Location)> = (0..PAGES)
            .filter(|&p| model.pinned(p))
            .filter_map(|p| match model.loc.get(&p) {
                Some(&l @ Location::Provider(_)) => Some((p, l)),
                _ => None,
            })
            .collect();
        let asked = match op {
            Op::Advise(s, en, c) => {
                let r = e.advise(s, en, c);
                if matches!(c, AdviceChange::SetPreferred(l) if ghost(l)) {
                    assert_eq!(r, Err(Errno::NoDev));
                } else {
                    r.unwrap();
                    for a in &mut model.advice[s as usize..en as usize] {
                        *a = a.changed(c);
                    }
                }
                (0, 0)
            }
            Op::Prefetch(s, en, to) => {
                match e.prefetch(s, en, to, now, &mut rec) {
                    Ok(()) => {}
                    Err(Errno::NoDev) => assert!(ghost(to)),
                    Err(Errno::Busy) => {
                        assert_ne!(to, Location::System, "system RAM is never full")
                    }
                    Err(err) => panic!("prefetch: {err:?}"),
                }
                (s, en)
            }
            Op::Fault(p, a) => {
                let got = e.fault(p, a, now, &mut rec).unwrap();
                assert_eq!(Some(got), e.location(p), "fault reports where the page is");
                (p, p + 1)
            }
            Op::Evict(p, n) => {
                match e.evict(pid(p), n, now, &mut rec) {
                    Ok(k) => assert!(k <= n),
                    Err(err) => assert_eq!((p, err), (GHOST, Errno::NoDev)),
                }
                (0, 0)
            }
            Op::Free(s, en) => {
                e.free(s, en).unwrap();
                for page in s..en {
                    model.loc.remove(&page);
                    model.advice[page as usize] = Advice::default();
                }
                (s, en)
            }
            Op::Tick(dt) => {
                now += dt;
                (0, 0)
            }
        };
        for m in &moves {
            model.apply(m, asked);
        }
        model.compare(&e);
        // Operation-specific outcomes the model can predict.
        match op {
            Op::Prefetch(s, en, to) if !ghost(to) => {
                let all_there = (s..en).all(|p| e.location(p) == Some(to));
                assert!(
                    all_there || to != Location::System,
                    "prefetch to system RAM incomplete"
                );
            }
            Op::Fault(p, Accessor::Cpu) => {
                assert!(e.location(p).is_some());
                assert!(moves.len() <= 1, "a CPU fault only populates");
            }
            Op::Fault(p, Accessor::Device(_)) => assert!(e.location(p).is_some()),
            Op::Evict(..) => {
                let evicted = moves.iter().filter(|m| m.cause == MoveCause::Evict).count();
                assert_eq!(evicted, moves.len());
            }
            _ => {}
        }
        if !matches!(op, Op::Free(..)) {
            for p in before {
                assert!(model.loc.contains_key(&p), "page {p} lost");
            }
            // Pinned resident pages move only when explicitly prefetched.
            for (p, l) in pinned_resident {
                let prefetched = matches!(op, Op::Prefetch(s, en, _) if (s..en).contains(&p));
                assert!(
                    prefetched || model.loc.get(&p) == Some(&l),
                    "pinned page {p} moved by {op:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_model(
        caps in proptest::collection::vec(0..6u32, PROVIDERS as usize),
        min_residency in prop_oneof![Just(0u64), Just(5u64)],
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(caps, min_residency, ops);
    }
}
