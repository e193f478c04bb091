// SPDX-License-Identifier: GPL-2.0

//! Cost of the eviction policy (`eviction.rs`'s CLOCK, the code the module runs) per page at 1 Ki,
//! 100 Ki and 1 Mi slots (`scripts/host-bench.sh`): a provider of 4 MiB, 400 MiB and 4 GiB of
//! 4 KiB pages.
//!
//! Every slot holds a page. One round is what a provider does when it makes room for a 1 MiB move:
//! pick 256 victims, release their slots (the pages left), take 256 free slots and occupy them (the
//! new pages arrived). A fraction of the resident pages is touched before each round (the access
//! signals that give a page its second chance), so the hand also clears referenced bits. Output: ns
//! per page of a round (best of three passes) and the 1M/1K ratio, space separated.

// A host-only measuring tool: the no-float rule is for code the kernel runs.
#![allow(clippy::float_arithmetic)]

use p2pmm_core::eviction::Clock;
use std::hint::black_box;
use std::time::Instant;

/// Pages a 1 MiB move needs room for.
const ROUND: usize = 256;
/// Rounds timed per pass: every size turns its hand over the same number of pages.
const ROUNDS: usize = 8192;

fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

/// Nanoseconds per page of a round at `slots` slots, with `touched_per_round` random pages touched
/// before each round; best of three passes.
fn measure(slots: u32, touched_per_round: usize) -> f64 {
    let mut clock = Clock::new(slots, 0).expect("clock");
    for now in 0..slots {
        let s = clock.alloc_slot().expect("a free slot");
        clock.occupy(s, u64::from(now)).expect("occupy");
    }
    let mut victims = [0u32; ROUND];
    let mut x = 0x9e37_79b9u32;
    let mut now = u64::from(slots);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for _ in 0..ROUNDS {
            for _ in 0..touched_per_round {
                // A slot that is not occupied refuses the touch: fine, it is a miss.
                let _ = clock.touch(xorshift(&mut x) % slots);
            }
            let n = clock.pick_victims(ROUND, now, &mut victims);
            for &v in &victims[..n] {
                clock.release(v).expect("release a victim");
            }
            for _ in 0..n {
                let s = clock.alloc_slot().expect("a released slot");
                clock.occupy(s, now).expect("occupy");
            }
            now += 1;
            black_box(n);
        }
        let pages = (ROUNDS * ROUND) as f64;
        best = best.min(t.elapsed().as_nanos() as f64 / pages);
    }
    best
}

fn main() {
    let sizes = [1u32 << 10, 100 << 10, 1 << 20];
    println!(
        "eviction CLOCK, ns per page of a round (pick {ROUND} victims, release, refill; best of 3)"
    );
    println!("{:>8} {:>12} {:>12}", "slots", "untouched", "touched");
    let rows: Vec<(u32, f64, f64)> = sizes
        .iter()
        .map(|&s| (s, measure(s, 0), measure(s, ROUND / 4)))
        .collect();
    for &(s, quiet, touched) in &rows {
        println!("{s:>8} {quiet:>12.1} {touched:>12.1}");
    }
    let (k, m) = (rows[0], rows[2]);
    println!("{:>8} {:>12.2} {:>12.2}", "1M/1K", m.1 / k.1, m.2 / k.2);
}
