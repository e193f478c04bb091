// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_BLKIO`: a block device moves bytes to or from a range of the caller's memory by DMA, wherever each
//! page is, without moving or pinning it (`bind/block_io.rs` keeps the pages in place while the I/O runs).
//!
//! How the device reaches each page is decided here, once per provider per transfer:
//!
//! - a page in system memory: the device DMAs to it;
//! - a page of static memory the process mapped: the device DMAs to the BAR by bus address when the route is
//!   direct (p2pdma's verdict under the route policy, and a queue that takes p2pdma pages); otherwise the
//!   transfer fails with `EREMOTEIO`, as static memory never bounces;
//! - a page on a managed provider: the device DMAs to the provider's BAR through its P2P window when the route
//!   is direct; otherwise (or without a window) the bytes bounce through a system page and the CPU copies them
//!   to or from the BAR. The reply says how many bytes took each path.

use crate::{
    block_io::{self, BlockDev, Transfer, Via, CHUNK_PAGES},
    hmm::PageKind,
    managed::{self, Slots},
    pci_p2p,
    provider::{Kind, Provider},
    route::PLAN_DIRECT,
    trace,
    uapi_blkio::{BlkioDone, BlkioRequest},
};
use kernel::{
    mm::MmWithUser,
    prelude::*,
    sync::{
        atomic::{ordering, Atomic},
        Arc,
    },
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Bytes moved by every transfer since the module loaded, by path (relaxed atomics: statistics).
pub struct Totals {
    /// Transfers that completed.
    pub transfers: Atomic<u64>,
    /// Bytes by P2P DMA.
    pub p2p: Atomic<u64>,
    /// Bytes by DMA to or from system memory.
    pub system: Atomic<u64>,
    /// Bytes bounced.
    pub bounce: Atomic<u64>,
    /// Chunks faulted again after racing an invalidation.
    pub retries: Atomic<u64>,
}

/// The totals of every transfer.
pub static TOTALS: Totals = Totals {
    transfers: Atomic::new(0),
    p2p: Atomic::new(0),
    system: Atomic::new(0),
    bounce: Atomic::new(0),
    retries: Atomic::new(0),
};

/// How the device reaches one provider.
#[derive(Clone, Copy)]
struct Reach {
    /// By bus address (the route is direct and the queue takes p2pdma pages).
    direct: bool,
}

/// Runs `req` for the address space `mm` over the providers `all`.
pub fn transfer(mm: &MmWithUser, req: &BlkioRequest, all: &[Arc<Provider>]) -> Result<BlkioDone> {
    let dev = BlockDev::from_fd(req.fd, req.to_device)?;
    req.check_blocks(dev.block_size(), dev.bytes())?;
    let start = usize::try_from(req.addr).map_err(|_| EINVAL)?;
    let end = usize::try_from(req.addr + req.length).map_err(|_| EINVAL)?;
    let page_start = start & !(PAGE_SIZE - 1);
    let page_end = end.checked_next_multiple_of(PAGE_SIZE).ok_or(EINVAL)?;
    managed::ensure_mapped(mm, page_start, page_end)?;

    let client = dev.pci_device();
    let queue_p2p = dev.takes_p2pdma();
    let mut reach = KVec::with_capacity(all.len(), GFP_KERNEL)?;
    for p in all {
        let direct = queue_p2p
            && client
                .as_ref()
                .is_some_and(|c| p.route_to(c).plan == PLAN_DIRECT);
        reach.push(Reach { direct }, GFP_KERNEL)?;
    }
    let may_bounce = all.iter().zip(reach.iter()).any(|(p, r)| {
        p.managed()
            .is_some_and(|m| !r.direct || !m.memory().has_p2p_window())
    });

    block_io::prepare(&dev, req.offset, req.length, req.to_device)?;
    let mut io = Transfer::new(mm, start, end, req.to_device, req.offset, may_bounce)?;
    let mut done = BlkioDone::default();
    let chunk = CHUNK_PAGES * PAGE_SIZE;
    let mut a = page_start;
    let result = loop {
        if a >= page_end {
            break Ok(());
        }
        // Chunks aligned to their size, so a large mapping is never split across two.
        let b = page_end.min((a / chunk + 1) * chunk);
        let classify = |addr, kind, pfn| classify(all, &reach, addr, kind, pfn);
        match io.chunk(&dev, a, b, managed::owner(), classify) {
            Ok(m) => {
                done.p2p += m.p2p;
                done.system += m.system;
                done.bounce += m.bounce;
                done.retries += m.retries;
            }
            // A read into memory the process may not write is a bad address, as read(2) says it.
            Err(e) if e == EPERM => break Err(EFAULT),
            Err(e) => break Err(e),
        }
        a = b;
    };
    drop(io);
    block_io::finish(&dev, req.offset, req.length, req.to_device);
    result?;
    TOTALS.transfers.fetch_add(1, ordering::Relaxed);
    TOTALS.p2p.fetch_add(done.p2p, ordering::Relaxed);
    TOTALS.system.fetch_add(done.system, ordering::Relaxed);
    TOTALS.bounce.fetch_add(done.bounce, ordering::Relaxed);
    TOTALS.retries.fetch_add(done.retries, ordering::Relaxed);
    trace::blkio(req.to_device, req.offset, req.length, &done);
    Ok(done)
}

/// How the device reaches the page at `addr` (runs under the transfer's notifier lock: no sleeping, no
/// allocation).
fn classify<'a>(
    all: &'a [Arc<Provider>],
    reach: &[Reach],
    _addr: usize,
    kind: PageKind,
    pfn: Option<usize>,
) -> Result<Via<'a, Arc<Slots>>> {
    match kind {
        PageKind::Zero => Ok(Via::Itself { p2p: false }),
        PageKind::System => {
            let pfn = pfn.ok_or(EFAULT)?;
            let on_static = all
                .iter()
                .zip(reach)
                .find(|(p, _)| p.kind == Kind::Static && pci_p2p::owns_p2p_pfn(&p.pdev, pfn));
            match on_static {
                None => Ok(Via::Itself { p2p: false }),
                Some((_, r)) if r.direct => Ok(Via::Itself { p2p: true }),
                // Static memory never bounces: the device cannot use it.
                Some(_) => Err(EREMOTEIO),
            }
        }
        PageKind::DevicePrivateLocal => {
            let pfn = pfn.ok_or(EFAULT)?;
            let (mem, slot, r) = all
                .iter()
                .zip(reach)
                .find_map(|(p, r)| {
                    let mem = p.managed()?.memory();
                    Some((mem, mem.slot_of_pfn(pfn)?, r))
                })
                .ok_or(EFAULT)?;
            if r.direct && mem.has_p2p_window() {
                Ok(Via::Window(mem, slot))
            } else {
                Ok(Via::Bounce(mem, slot))
            }
        }
        // Faulting brings another driver's device memory back to system memory; a hole or an error is a bad
        // address.
        PageKind::DevicePrivateRemote | PageKind::None | PageKind::Error => Err(EFAULT),
    }
}
