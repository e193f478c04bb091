// SPDX-License-Identifier: GPL-2.0

//! A managed provider of 64 GiB: what its slot bookkeeping allocates, counted by the allocator.
//!
//! The module compiles the same `eviction.rs`, `slot_table.rs` and `free_chunks.rs`; there `Vec` is
//! `KVec` (kmalloc, at most `KMALLOC_MAX_SIZE` in one piece) and only the piece index and the chunk
//! headers are `KVVec`s. So every allocation but those two must stay within one page, and the whole
//! within 8 bytes per 4 KiB device page.
//!
//! A test without libtest (`harness = false` in Cargo.toml): the allocator's counts are global, and
//! libtest's own threads allocating meanwhile made the exact comparisons below fail under load.

use p2pmm_core::eviction::Clock;
use p2pmm_core::free_chunks::CHUNK_SLOTS;
use p2pmm_core::slot_table::{PIECE_SLOTS, WORD};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    a_64_gib_provider_costs_at_most_8_bytes_a_page_in_page_sized_pieces();
    println!("test a_64_gib_provider_costs_at_most_8_bytes_a_page_in_page_sized_pieces ... ok");
}

fn a_64_gib_provider_costs_at_most_8_bytes_a_page_in_page_sized_pieces() {
    const PAGES: u32 = 64 << (30 - 12);
    let region = Region::new(GLOBAL);
    let mut clock = Clock::new(PAGES, 1000).expect("64 GiB of slots");
    let stats = region.change();
    // Hundredths of a byte per page.
    let per_page = stats.bytes_allocated * 100 / PAGES as usize;
    println!(
        "64 GiB provider: {} bytes in {} allocations, {}.{:02} B/page",
        stats.bytes_allocated,
        stats.allocations,
        per_page / 100,
        per_page % 100
    );
    assert!(per_page <= 800, "{per_page} hundredths of a byte per page");
    assert_eq!(stats.reallocations, 0);
    // What the clock reports of itself (debugfs prints it) is what the allocator saw.
    assert_eq!(clock.heap_bytes(), stats.bytes_allocated);
    // One allocation per piece of at most a page, plus the piece index, the chunk headers (16 bytes
    // per 2 MiB) and the interned attribute pairs (255 of 24 bytes: under two pages, whatever the
    // size).
    let pieces = (PAGES as usize).div_ceil(PIECE_SLOTS);
    assert_eq!(stats.allocations, pieces + 3);
    let index = pieces * size_of::<Vec<[u8; WORD]>>();
    let heads = (PAGES / CHUNK_SLOTS) as usize * 16;
    assert!(stats.bytes_allocated - index - heads - PAGES as usize * WORD <= 8192);
    // And the slots work at the far end, whole chunks too.
    assert_eq!(clock.whole_free_chunks(), PAGES / CHUNK_SLOTS);
    assert_eq!(clock.alloc_chunk_for(0), Some(0));
    let mut last = None;
    for _ in CHUNK_SLOTS..PAGES {
        last = clock.alloc_slot();
    }
    assert_eq!(last, Some(PAGES - 1));
    assert_eq!(clock.alloc_slot(), None);
    clock.occupy(PAGES - 1, 0).unwrap();
    clock.release(PAGES - 1).unwrap();
    assert_eq!(clock.alloc_slot(), Some(PAGES - 1));
}
