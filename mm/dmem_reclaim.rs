// SPDX-License-Identifier: GPL-2.0

//! An administrator lowers a cgroup's `dmem.max` below what the cgroup holds on a managed provider:
//! the dmem controller asks p2pmm to make up the difference (`dmem::Reclaim`), and p2pmm evicts
//! that cgroup's pages there (and its descendants', sparing those within their own `dmem.min`) in
//! the provider's CLOCK order, to system memory. Pages too young to move or pinned stay: the
//! controller retries a few times and then leaves the usage above the limit, where new charges fail
//! until it drops.
//!
//! The callback runs inside the controller's SRCU read section, and unregistering a region waits
//! for that section: so the provider reference taken here must not be the one that drops the
//! provider's region (an unbind meanwhile would make it the last); such a region is parked in the
//! registry and unregistered later.

use crate::{dmem::Limit, evictor, provider::Provider, registry};
use kernel::{prelude::*, sync::Arc};

const PAGE_SIZE: u64 = kernel::page::PAGE_SIZE as u64;

/// Frees at least `bytes` of what `limit`'s cgroup holds on managed provider `id`, as far as it
/// can: `ENOSPC` when nothing could be evicted.
pub fn reclaim(id: u32, limit: &Limit, bytes: u64) -> Result {
    let p = registry::get(id).ok_or(ENOSPC)?;
    let freed = evict(&p, limit, bytes);
    let_go(p);
    match freed? {
        0 => Err(ENOSPC),
        _ => Ok(()),
    }
}

/// Evicts up to `bytes` of `limit`'s cgroup's pages from `p` to system memory (no peer: the charge
/// there would be the caller's); returns how many pages went.
fn evict(p: &Provider, limit: &Limit, bytes: u64) -> Result<usize> {
    if p.managed().is_none() {
        return Err(ENOSPC);
    }
    let want = usize::try_from(bytes.div_ceil(PAGE_SIZE)).unwrap_or(usize::MAX);
    let mut freed = 0;
    while freed < want {
        let k = evictor::evict_over_limit(p, &[], want - freed, limit)?;
        if k == 0 {
            break;
        }
        freed += k;
    }
    Ok(freed)
}

/// Drops `p`, parking its dmem region in the registry if this was its last reference.
fn let_go(p: Arc<Provider>) {
    if let Some(last) = Arc::into_unique_or_drop(p) {
        let mut last = Pin::into_inner(last);
        if let Some(r) = last.region.take() {
            registry::park_region(r);
        }
        drop(last);
    }
}
