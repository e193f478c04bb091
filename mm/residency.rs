// SPDX-License-Identifier: GPL-2.0

//! Where the pages of a process's range are (system memory, a provider, nowhere), found without
//! faulting by a snapshot `hmm_range_fault` under an interval notifier, so no page moves while the
//! caller looks (`P2PMM_IOC_QUERY`, advice on resident pages, the pages a migration need not
//! move); and whether a range is mapped at all (madvise(2)'s `ENOMEM` rule).

use crate::{
    hmm::{fault_and_commit, HmmRange, PageKind, Request},
    managed::{owner, CHUNK_PAGES},
    notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
    pci_p2p,
    provider::{Kind, Provider},
};
use kernel::{mm::MmWithUser, prelude::*, sync::Arc};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// How often a placement query retries after racing an invalidation.
const QUERY_RETRIES: u32 = 1000;

/// `ENOMEM` unless every page of `[start, end)` is inside a VMA of `mm` (madvise(2)'s rule for
/// unmapped ranges).
pub fn ensure_mapped(mm: &MmWithUser, start: usize, end: usize) -> Result {
    while_mapped(mm, start, end, || Ok(()))
}

/// Runs `f` if every page of `[start, end)` is inside a VMA of `mm` (else `ENOMEM`), with the mmap
/// read lock held so no unmap can come in between. `f` must not take the mmap lock itself (no page
/// walk, no migration).
pub fn while_mapped<R>(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    f: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let mmap = mm.mmap_read_lock();
    let mut addr = start;
    while addr < end {
        addr = mmap.vma_lookup(addr).ok_or(ENOMEM)?.end();
    }
    f()
}

/// Pages a query handles at once (bounds its buffers).
pub const QUERY_CHUNK_PAGES: usize = CHUNK_PAGES;

/// Where a page is, as a query reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Not populated.
    None,
    /// System memory.
    System,
    /// On the provider with this id.
    Provider(u32),
}

/// A query only needs the sequence bumped by invalidations; it keeps no state.
struct QueryHandler;

impl InvalidateHandler for QueryHandler {
    type State = ();

    fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
}

/// Calls `f(addr, placement, resident)` for each page of `[start, end)` of `mm`, without faulting;
/// `resident` is the provider and slot of a page on p2pmm's device memory. `f` runs while the
/// walk's notifier lock is held, so no page can move meanwhile (a migration must invalidate first,
/// and that waits for the lock).
pub fn walk(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    mut f: impl FnMut(usize, Placement, Option<(&Provider, u32)>),
) -> Result {
    let watch = KBox::pin_init(
        IntervalNotifier::new(mm, start, end - start, QueryHandler, ()),
        GFP_KERNEL,
    )?;
    let mut addr = start;
    while addr < end {
        let next = end.min(addr + CHUNK_PAGES * PAGE_SIZE);
        let mut range = HmmRange::new(&watch, addr, next, Request::SNAPSHOT, owner())?;
        fault_and_commit(&mut range, false, QUERY_RETRIES, |(), pfns| {
            for (i, (_, pfn)) in pfns.iter().enumerate() {
                let page = addr + i * PAGE_SIZE;
                match pfn.kind(owner()) {
                    PageKind::Zero => f(page, Placement::System, None),
                    PageKind::System => {
                        // Static memory a process mapped is PCI memory, not system memory: name its
                        // provider.
                        let on_static = pfn.pfn().and_then(|pfn| {
                            all.iter().find(|p| {
                                p.kind == Kind::Static && pci_p2p::owns_p2p_pfn(&p.pdev, pfn)
                            })
                        });
                        match on_static {
                            Some(p) => f(page, Placement::Provider(p.id), None),
                            None => f(page, Placement::System, None),
                        }
                    }
                    PageKind::DevicePrivateLocal => {
                        let found = pfn.pfn().and_then(|pfn| {
                            all.iter().find_map(|p| {
                                let slot = p.managed()?.memory().slot_of_pfn(pfn)?;
                                Some((&**p, slot))
                            })
                        });
                        match found {
                            Some((p, slot)) => f(page, Placement::Provider(p.id), Some((p, slot))),
                            None => f(page, Placement::None, None),
                        }
                    }
                    // Another driver's device memory, a hole or an error: not p2pmm's to report.
                    PageKind::DevicePrivateRemote | PageKind::None | PageKind::Error => {
                        f(page, Placement::None, None)
                    }
                }
            }
            Ok(())
        })?;
        addr = next;
    }
    Ok(())
}

/// Reports where each page of `[start, end)` of `mm` is, into `out` (one entry per page).
pub fn query(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    out: &mut [Placement],
) -> Result {
    if out.len() != (end - start) / PAGE_SIZE {
        return Err(EINVAL);
    }
    walk(mm, start, end, all, |addr, placement, _| {
        out[(addr - start) / PAGE_SIZE] = placement;
    })
}
