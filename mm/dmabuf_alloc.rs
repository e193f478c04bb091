// SPDX-License-Identifier: GPL-2.0

//! Managed memory allocated as a dma-buf (`P2PMM_IOC_DMABUF` with `P2PMM_DMABUF_MANAGED`): the
//! room is made as for a migration into the provider (the caller's cgroup is charged, over its
//! `dmem.max` its own pages go first; then the provider's policy evicts), and the slots are handed
//! to a dma-buf that owns them (`bind/managed_dmabuf.rs`), which p2pmm moves to system memory when
//! the provider needs the room or goes away.
//!
//! Locks: those of `evictor.rs`; none held across the export.

use crate::{evictor, managed::CHUNK_PAGES, provider::Provider};
use kernel::{prelude::*, sync::Arc, uaccess::UserPtr};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Allocates `len` bytes (a multiple of the page size, checked by the caller) of the managed
/// provider `target` as a new dma-buf and stores its descriptor (close-on-exec with `cloexec`) at
/// `fd_out`. `EINVAL` for a static provider; `EOPNOTSUPP` for one without a P2P window (no device
/// could reach the dma-buf by P2P DMA); `ENOSPC` for more than the provider holds, or when the
/// rest is pinned or too young to move; `ENOMEM` over the caller's `dmem.max`.
pub fn alloc(
    target: &Provider,
    all: &[Arc<Provider>],
    len: usize,
    cloexec: bool,
    fd_out: UserPtr,
) -> Result {
    let m = target.managed().ok_or(EINVAL)?;
    if !m.memory().has_p2p_window() {
        return Err(EOPNOTSUPP);
    }
    let pages = len / PAGE_SIZE;
    if pages as u64 * PAGE_SIZE as u64 > m.capacity() {
        return Err(ENOSPC);
    }
    // The room made here is this export's until its slots are taken.
    let _room = m.reserve_incoming(pages);
    let (mut tenants, _) = evictor::prepay(target, all, pages)?;
    if target.region.is_none() {
        // No dmem region: nobody is charged.
        tenants = KVec::from_elem(0u8, pages, GFP_KERNEL)?;
    }
    let r = make_room(target, all, pages)
        .and_then(|()| m.export_dmabuf(target.id, &mut tenants, cloexec, fd_out));
    m.refund(&tenants);
    r
}

/// Evicts from `target` until `pages` slots are free or nothing more can go, a chunk at a time
/// (what `evictor::make_room` moves at once).
fn make_room(target: &Provider, all: &[Arc<Provider>], pages: usize) -> Result {
    let m = target.managed().ok_or(EINVAL)?;
    loop {
        let free = m.free_slots();
        if free >= pages {
            break;
        }
        // Room for at most a chunk more than is free.
        let want = free + (pages - free).min(CHUNK_PAGES);
        if evictor::make_room(target, all, want)? == 0 {
            break;
        }
    }
    Ok(())
}
