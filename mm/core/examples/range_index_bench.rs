// SPDX-License-Identifier: GPL-2.0

//! Lookup cost of `RangeIndex` at 1, 1 Ki, 100 Ki and 1 Mi registered ranges
//! (`scripts/host-bench.sh`).
//!
//! Ranges are 2 pages long with 1-page holes, registered in ascending order (the append path, also
//! timed). Every lookup hits a range. "random" draws addresses uniformly over all ranges, the worst
//! case for caches; "sequential" walks them in address order, as an invalidation of a large region
//! or a streaming fault pattern does. "flat" and "flat_seq" are the same lookups in one sorted
//! array, the layout `RangeIndex` is measured against. Output: one table row per size and a ratio
//! row, space separated, for scripts to print or parse.

// A host-only measuring tool: the no-float rule is for code the kernel runs.
#![allow(clippy::float_arithmetic)]

use p2pmm_core::range_index::RangeIndex;
use std::hint::black_box;
use std::time::Instant;

const PAGE: u64 = 4096;
const LOOKUPS: usize = 1 << 21;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Nanoseconds per call of `f` over `addrs`, best of three passes.
fn time_lookups(addrs: &[u64], mut f: impl FnMut(u64) -> u32) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let mut sum = 0u32;
        for &a in addrs {
            sum = sum.wrapping_add(f(black_box(a)));
        }
        black_box(sum);
        best = best.min(t.elapsed().as_nanos() as f64 / addrs.len() as f64);
    }
    best
}

struct Row {
    ranges: usize,
    insert_ms: f64,
    random: f64,
    sequential: f64,
    flat: f64,
    flat_seq: f64,
}

fn measure(ranges: usize) -> Row {
    let mut ix = RangeIndex::new();
    let t = Instant::now();
    for i in 0..ranges as u64 {
        ix.insert(3 * i * PAGE, (3 * i + 2) * PAGE, i as u32)
            .unwrap();
    }
    let insert_ms = t.elapsed().as_secs_f64() * 1e3;
    let flat: Vec<(u64, u64, u32)> = ix.iter().map(|e| (e.start, e.end, e.value)).collect();

    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u64> = (0..LOOKUPS)
        .map(|_| {
            let i = xorshift(&mut x) % ranges as u64;
            3 * i * PAGE + xorshift(&mut x) % (2 * PAGE)
        })
        .collect();
    let sequential: Vec<u64> = (0..LOOKUPS as u64)
        .map(|n| {
            let i = n % ranges as u64;
            3 * i * PAGE + (n * 64) % (2 * PAGE)
        })
        .collect();

    let lookup = |a| ix.lookup(a).map_or(u32::MAX, |e| e.value);
    let flat_lookup = |a: u64| {
        let i = flat.partition_point(|e| e.0 <= a);
        match i.checked_sub(1).map(|i| flat[i]) {
            Some((_, end, v)) if a < end => v,
            _ => u32::MAX,
        }
    };
    Row {
        ranges,
        insert_ms,
        random: time_lookups(&random, lookup),
        sequential: time_lookups(&sequential, lookup),
        flat: time_lookups(&random, flat_lookup),
        flat_seq: time_lookups(&sequential, flat_lookup),
    }
}

fn main() {
    let rows: Vec<Row> = [1, 1 << 10, 100 << 10, 1 << 20]
        .into_iter()
        .map(measure)
        .collect();
    println!(
        "range_index lookup, ns per lookup ({LOOKUPS} lookups, best of 3; blocks of {} entries)",
        p2pmm_core::range_index::BLOCK
    );
    println!(
        "{:>8} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "ranges", "random", "sequential", "flat", "flat_seq", "insert_ms"
    );
    for r in &rows {
        println!(
            "{:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>10.2}",
            r.ranges, r.random, r.sequential, r.flat, r.flat_seq, r.insert_ms
        );
    }
    let (k, m) = (&rows[1], &rows[3]);
    println!(
        "{:>8} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10}",
        "1M/1K",
        m.random / k.random,
        m.sequential / k.sequential,
        m.flat / k.flat,
        m.flat_seq / k.flat_seq,
        "-"
    );
}
