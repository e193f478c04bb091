// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_BLKIO`: a block device moves bytes to or from a range of the caller's memory by DMA,
//! wherever each page is, without moving or pinning it (`bind/block_io.rs` keeps the pages in place
//! while the I/O runs).
//!
//! How the device reaches each page is decided here, once per provider per transfer:
//!
//! - a page in system memory: the device DMAs to it;
//! - a page of static memory the process mapped: the device DMAs to the BAR by bus address when the
//!   route is direct (p2pdma's verdict under the route policy, and a queue that takes p2pdma
//!   pages); otherwise the transfer fails with `EREMOTEIO`, as static memory never bounces;
//! - a page on a managed provider: the device DMAs to the provider's BAR through its P2P window
//!   when the route is direct; otherwise (or without a window) the bytes bounce through a system
//!   page and the CPU copies them to or from the BAR. The reply says how many bytes took each path.
//!
//! Before the device moves anything, pages go where the caller's `PREFERRED_LOCATION` advice (given
//! through the same open file) says: to the preferred managed provider (a read then lands in its
//! BAR by P2P DMA) or to system memory. What does not fit stays where it is and is reached from
//! there. A managed page a transfer reaches counts as used: the eviction policy gives it a second
//! chance.

use crate::{
    advice::Advice,
    block_io::{self, BlockDev, Transfer, Via, CHUNK_PAGES},
    hmm::PageKind,
    location::Location,
    managed::{self, Slots},
    migration, pci_p2p,
    provider::{Kind, Provider},
    range_index::Entry,
    residency,
    route::PLAN_DIRECT,
    trace,
    uapi_blkio::{BlkioDone, BlkioRequest},
};
use kernel::{
    mm::MmWithUser,
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{ordering, Atomic},
        Arc, Mutex,
    },
    time::{delay::fsleep, Delta},
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// How many milliseconds a transfer waits, piece by piece, for the pages of an unregistered
/// provider to reach system memory before it gives up (`EBUSY`).
const GONE_WAITS: u32 = 1000;

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

/// The routes a file's transfers asked of the DMA API: (provider id, provider device, client
/// device, direct). An answer stays right while the file is open: the route policy is fixed at
/// load, and an id that a provider on another device took over (ids are reused in turn) does not
/// match. Kept per open file so that a stream of transfers asks once, not once per call.
#[derive(Default)]
pub struct RouteMemo {
    entries: KVec<(u32, ARef<pci::Device>, ARef<pci::Device>, bool)>,
}

impl RouteMemo {
    /// Room for this many answers; the oldest goes first.
    const ROOM: usize = 32;

    fn get(&self, p: &Provider, client: &pci::Device) -> Option<bool> {
        self.entries
            .iter()
            .find(|(i, d, c, _)| {
                *i == p.id
                    && core::ptr::eq::<pci::Device>(&**d, &*p.pdev)
                    && core::ptr::eq::<pci::Device>(&**c, client)
            })
            .map(|&(_, _, _, direct)| direct)
    }

    /// Whether `client` reaches `p` directly under the route policy (`PLAN_DIRECT`): recalled, or
    /// asked of the DMA API now (which cannot happen under a mirror's lock).
    pub fn direct(memo: &Mutex<Self>, p: &Provider, client: &pci::Device) -> bool {
        let known = memo.lock().get(p, client);
        known.unwrap_or_else(|| {
            let direct = p.route_to(client).plan == PLAN_DIRECT;
            memo.lock().put(p, client, direct);
            direct
        })
    }

    fn put(&mut self, p: &Provider, client: &pci::Device, direct: bool) {
        if self.entries.len() >= Self::ROOM {
            let _ = self.entries.remove(0);
        }
        // An answer that cannot be kept is asked again next time.
        let _ = self
            .entries
            .push((p.id, p.pdev.clone(), client.into(), direct), GFP_KERNEL);
    }
}

/// How the device reaches one provider.
#[derive(Clone, Copy)]
struct Reach {
    /// By bus address (the route is direct and the queue takes p2pdma pages).
    direct: bool,
}

/// Runs `req` for the address space `mm` over the providers `all`, placing pages first as `advice`
/// (the caller's advice over the range) prefers; routes come from (and go to) `memo`.
pub fn transfer(
    mm: &MmWithUser,
    req: &BlkioRequest,
    all: &[Arc<Provider>],
    advice: &[Entry<Advice>],
    memo: &Mutex<RouteMemo>,
) -> Result<BlkioDone> {
    let dev = BlockDev::from_fd(req.fd, req.to_device)?;
    req.check_blocks(dev.block_size(), dev.bytes())?;
    let start = usize::try_from(req.addr).map_err(|_| EINVAL)?;
    let end = usize::try_from(req.addr + req.length).map_err(|_| EINVAL)?;
    let page_start = start & !(PAGE_SIZE - 1);
    let page_end = end.checked_next_multiple_of(PAGE_SIZE).ok_or(EINVAL)?;
    residency::ensure_mapped(mm, page_start, page_end)?;
    place_preferred(mm, page_start, page_end, all, advice)?;

    let client = dev.pci_device();
    let queue_p2p = dev.takes_p2pdma();
    // How the device reaches each provider, found out the first time a page of it turns up (the
    // route is asked of the DMA API, which cannot happen under the transfer's lock).
    let mut reach = KVec::from_elem(None, all.len(), GFP_KERNEL)?;
    let mut wanted = None;

    block_io::prepare(&dev, req.offset, req.length, req.to_device)?;
    let mut io = Transfer::new(mm, start, end, req.to_device, req.offset)?;
    let mut done = BlkioDone::default();
    let chunk = CHUNK_PAGES * PAGE_SIZE;
    let mut a = page_start;
    let mut gone_waits = 0;
    let result = loop {
        if a >= page_end {
            break Ok(());
        }
        // Chunks aligned to their size, so a large mapping is never split across two.
        let b = page_end.min((a / chunk + 1) * chunk);
        let classify = |addr, kind, pfn| classify(all, &reach, &mut wanted, addr, kind, pfn);
        let res = io.chunk(&dev, a, b, managed::owner(), classify);
        if let Some(i) = wanted.take() {
            // A provider's route was needed: ask it now (or recall it), then set the piece up
            // again.
            let direct = queue_p2p
                && client
                    .as_ref()
                    .is_some_and(|c| RouteMemo::direct(memo, &all[i], c));
            reach[i] = Some(Reach { direct });
            continue;
        }
        match res {
            Ok(m) => {
                done.p2p += m.p2p;
                done.system += m.system;
                done.bounce += m.bounce;
                done.retries += m.retries;
                a = b;
                gone_waits = 0;
            }
            // A page of a provider that unregistered after this call listed the providers: its
            // memory is being evicted to system memory. Set the piece up again once it is there.
            Err(e) if e == EAGAIN && gone_waits < GONE_WAITS => {
                gone_waits += 1;
                done.retries += 1;
                fsleep(Delta::from_millis(1));
            }
            Err(e) if e == EAGAIN => break Err(EBUSY),
            // A read into memory the process may not write is a bad address, as read(2) says it.
            Err(e) if e == EPERM => break Err(EFAULT),
            Err(e) => break Err(e),
        }
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

/// Moves the pages of `[start, end)` whose advice prefers a location there: a managed provider (as
/// far as it has room after its own eviction) or system memory. Returns the pages moved.
fn place_preferred(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    advice: &[Entry<Advice>],
) -> Result<u64> {
    let mut placed = 0;
    for e in advice {
        let (Ok(a), Ok(b)) = (usize::try_from(e.start), usize::try_from(e.end)) else {
            continue;
        };
        let (a, b) = (a.max(start), b.min(end));
        if a >= b {
            continue;
        }
        placed += match e.value.preferred {
            None => 0,
            Some(Location::System) => migration::migrate_to_system(mm, a, b, all)?,
            Some(Location::Provider(id)) => {
                let target = all.iter().find(|p| p.id == u32::from(id.raw()));
                match target {
                    // A provider gone since the advice was given: nowhere to place.
                    Some(t) if t.managed().is_some() => {
                        migration::migrate_to_provider(mm, a, b, t, all, advice, None)?.migrated
                    }
                    _ => 0,
                }
            }
        };
    }
    Ok(placed)
}

/// How the device reaches the page at `addr` (runs under the transfer's notifier lock: no sleeping,
/// no allocation). A page of a provider whose route is not known yet sets `wanted` to its index and
/// fails the piece (`EAGAIN`): the caller asks the route outside the lock and sets the piece up
/// again.
fn classify<'a>(
    all: &'a [Arc<Provider>],
    reach: &[Option<Reach>],
    wanted: &mut Option<usize>,
    _addr: usize,
    kind: PageKind,
    pfn: Option<usize>,
) -> Result<Via<'a, Arc<Slots>>> {
    let mut known = |i: usize| -> Result<bool> {
        match reach[i] {
            Some(r) => Ok(r.direct),
            None => {
                *wanted = Some(i);
                Err(EAGAIN)
            }
        }
    };
    match kind {
        PageKind::Zero => Ok(Via::Itself { p2p: false }),
        PageKind::System => {
            let pfn = pfn.ok_or(EFAULT)?;
            let on_static = all
                .iter()
                .position(|p| p.kind == Kind::Static && pci_p2p::owns_p2p_pfn(&p.pdev, pfn));
            match on_static {
                None => Ok(Via::Itself { p2p: false }),
                Some(i) if known(i)? => Ok(Via::Itself { p2p: true }),
                // Static memory never bounces: the device cannot use it.
                Some(_) => Err(EREMOTEIO),
            }
        }
        PageKind::DevicePrivateLocal => {
            let pfn = pfn.ok_or(EFAULT)?;
            // p2pmm's device memory that no listed provider has: a provider unregistered since the
            // list was taken, whose pages are on their way to system memory.
            let (i, managed, slot) = all
                .iter()
                .enumerate()
                .find_map(|(i, p)| {
                    let m = p.managed()?;
                    Some((i, m, m.memory().slot_of_pfn(pfn)?))
                })
                .ok_or(EAGAIN)?;
            // The device uses the page: the eviction policy gives it a second chance.
            managed.touch(slot);
            let mem = managed.memory();
            if mem.has_p2p_window() && known(i)? {
                Ok(Via::Window(mem, slot))
            } else {
                Ok(Via::Bounce(mem, slot))
            }
        }
        // Faulting brings another driver's device memory back to system memory; a hole or an error
        // is a bad address.
        PageKind::DevicePrivateRemote | PageKind::None | PageKind::Error => Err(EFAULT),
    }
}
