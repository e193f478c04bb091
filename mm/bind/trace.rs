// SPDX-License-Identifier: GPL-2.0

//! p2pmm's tracepoints (system `p2pmm` in tracefs; defined in `mm/p2pmm_trace.h`, emitted by
//! `mm/trace_glue.c`).
//!
//! Each function costs a static-branch test when its event is disabled.

use crate::ffi::{
    p2pmm_trace_blkio, p2pmm_trace_evict, p2pmm_trace_evict_cgroup, p2pmm_trace_migrate,
    p2pmm_trace_reclaim, p2pmm_trace_revoke, p2pmm_trace_route, p2pmm_trace_thrash,
};
use crate::uapi_blkio::BlkioDone;
use kernel::{prelude::*, str::CStr};

/// A migration of `[start, end)` to `target` (0: system memory) finished.
pub fn migrate(target: u32, start: usize, end: usize, migrated: u64, evicted: u64) {
    // SAFETY: Plain values.
    unsafe { p2pmm_trace_migrate(target, start, end, migrated, evicted) };
}

/// `provider`'s policy picked `picked` victims, of which `evicted` moved to provider `to` (0:
/// system memory); one record per destination when the victims were split between a peer and system
/// memory.
pub fn evict(provider: u32, to: u32, picked: u32, evicted: u32) {
    // SAFETY: Plain values.
    unsafe { p2pmm_trace_evict(provider, to, picked, evicted) };
}

/// An eviction from `provider` took `pages` pages charged to the cgroup with id `cgroup` (0: to
/// no one); one record per cgroup that lost pages.
pub fn evict_cgroup(provider: u32, cgroup: u64, pages: u32) {
    // SAFETY: Plain values.
    unsafe { p2pmm_trace_evict_cgroup(provider, cgroup, pages) };
}

/// A round of background reclaim of `provider` evicted `evicted` pages: `free_before` pages were
/// free when it started, `free_after` when it ended.
pub fn reclaim(provider: u32, free_before: u32, free_after: u32, evicted: u64) {
    // SAFETY: Plain values.
    unsafe { p2pmm_trace_reclaim(provider, free_before, free_after, evicted) };
}

/// The 2 MiB range at `start` was moved into `provider` `moves` times within the thrash window: it
/// stays where it is for `backoff_us` microseconds.
pub fn thrash(provider: u32, start: u64, moves: u32, backoff_us: u64) {
    // SAFETY: Plain values.
    unsafe { p2pmm_trace_thrash(provider, start, moves, backoff_us) };
}

/// A route was decided for `client` to `provider`'s memory.
pub fn route(provider: u32, client: &CStr, verdict: u32, plan: u32, reason: u32, distance: i32) {
    // SAFETY: `client` is a NUL-terminated string, valid for the call (the event copies it).
    unsafe {
        p2pmm_trace_route(
            provider,
            client.as_char_ptr(),
            verdict,
            plan,
            reason,
            distance,
        )
    };
}

/// `provider` on `device` was revoked.
pub fn revoke(provider: u32, device: &CStr) {
    // SAFETY: `device` is a NUL-terminated string, valid for the call (the event copies it).
    unsafe { p2pmm_trace_revoke(provider, device.as_char_ptr()) };
}

/// A block transfer of `len` bytes at device byte `pos` finished, with the bytes by path
/// (`P2PMM_IOC_BLKIO`).
pub fn blkio(to_device: bool, pos: u64, len: u64, done: &BlkioDone) {
    // SAFETY: Plain values.
    unsafe {
        p2pmm_trace_blkio(
            to_device,
            pos,
            len,
            done.p2p,
            done.system,
            done.bounce,
            done.retries,
        )
    };
}
