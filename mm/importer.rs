// SPDX-License-Identifier: GPL-2.0

//! In-kernel importers (`p2pmm_importer_*` of `include/linux/p2pmm.h`): a driver's device maps a
//! range of a process's memory wherever its pages are, and is told when they change.
//!
//! How the device reaches each page is p2pmm's route policy, as for `P2PMM_IOC_BLKIO`:
//!
//! - a page in system memory: the device DMAs to it;
//! - a page of static memory the process mapped: by bus address (or through the host bridge) when
//!   the route is direct; otherwise the mapping fails with `EREMOTEIO`, as static memory never
//!   moves;
//! - a page on a managed provider: in place, through the provider's P2P window, when the route is
//!   direct; otherwise the provider's pages in the range move to system memory first and the
//!   device maps them there. This is what p2pmm adds to `hmm_range_fault`, which would move every
//!   page of another driver's device memory to system memory: peers use the memory where it is.
//!
//! A managed page a device maps counts as used: the eviction policy gives it a second chance. With
//! `P2PMM_IMPORT_PIN` the mapping pins the managed pages it reaches in place: eviction (direct,
//! background or for a cgroup) never takes them while the mapping lasts. The pin is revocable: the
//! process's own moves (a migration, a CPU access, munmap) and the provider's removal still move
//! the pages, after the driver's invalidation callback, which ends the mapping and its pins.

use crate::{
    blkio::RouteMemo,
    dma_mirror::{Client, DmaMirror, Reach},
    hmm::PageKind,
    managed::{self, Slots},
    migration,
    notifier::ReadSeq,
    pci_p2p,
    provider::{Kind, Provider},
    registry,
};
use kernel::{
    device::Device,
    mm::Mm,
    new_mutex, pci,
    prelude::*,
    sync::{aref::ARef, Arc, Mutex},
    time::{delay::fsleep, Delta},
};

/// `P2PMM_IMPORT_WRITE`: the device writes.
pub const IMPORT_WRITE: u32 = 1 << 0;
/// `P2PMM_IMPORT_NO_P2P`: the device takes no P2P memory.
pub const IMPORT_NO_P2P: u32 = 1 << 1;
/// `P2PMM_IMPORT_PIN`: the mapping pins the managed pages it reaches in place.
pub const IMPORT_PIN: u32 = 1 << 2;

/// How many times a mapping moves pages or asks routes before it gives up (`EBUSY`).
const ROUNDS: u32 = 64;

/// How many milliseconds a mapping waits, a millisecond at a time, for the pages of a provider
/// that is going away to reach system memory before it gives up (`EBUSY`).
const GONE_WAITS: u32 = 1000;

/// One importer.
#[pin_data]
pub struct Importer<C: Client> {
    mirror: DmaMirror<C, Arc<Slots>>,
    /// The device as a PCI device: `None` reaches no P2P memory.
    client: Option<ARef<pci::Device>>,
    /// The routes asked so far.
    #[pin]
    routes: Mutex<RouteMemo>,
}

/// What a mapping attempt needs done outside the mirror's lock before the next one.
enum Wanted {
    /// The route to provider `.0` of the list.
    Route(usize),
    /// Provider `.0`'s pages in the range move to system memory: the device cannot reach them.
    Move(usize),
    /// A page is on a provider the list does not have: it was unregistered since the list was
    /// taken, or registered (its pages are on their way to system memory, or new).
    Refresh,
}

impl<C: Client> Importer<C> {
    /// Imports `[start, start + length)` of `mm` (which has users) for `dev`.
    pub fn new(
        mm: &Mm,
        dev: ARef<Device>,
        start: usize,
        length: usize,
        client: C,
    ) -> Result<Pin<KBox<Self>>> {
        let mirror = DmaMirror::new(mm, dev, start, length, client)?;
        let client = mirror.pci_device();
        KBox::pin_init(
            pin_init!(Self {
                mirror,
                client,
                routes <- new_mutex!(RouteMemo::default(), "p2pmm_importer_routes"),
            }),
            GFP_KERNEL,
        )
    }

    /// Maps the range for the device (`p2pmm_importer_map()`): each page's DMA address into
    /// `addrs`, its route into `routes`. Returns the sequence for [`Self::retry`].
    pub fn map(
        &self,
        flags: u32,
        addrs: &mut [u64],
        mut routes: Option<&mut [u8]>,
    ) -> Result<ReadSeq> {
        if flags & !(IMPORT_WRITE | IMPORT_NO_P2P | IMPORT_PIN) != 0 {
            return Err(EINVAL);
        }
        let (write, p2p) = (flags & IMPORT_WRITE != 0, flags & IMPORT_NO_P2P == 0);
        let pin = flags & IMPORT_PIN != 0;
        let mut all = registry::snapshot();
        let mut direct: KVec<Option<bool>> = KVec::from_elem(None, all.len(), GFP_KERNEL)?;
        let (mut rounds, mut waits) = (0, 0);
        while rounds < ROUNDS && waits < GONE_WAITS {
            let mut wanted = None;
            let res = self.mirror.map(
                write,
                pin,
                managed::owner(),
                addrs,
                routes.as_deref_mut(),
                |_addr, kind, pfn| classify(&all, &direct, p2p, &mut wanted, kind, pfn),
            );
            match wanted {
                // A page to pin was being evicted: once it has moved, it is mapped where it went.
                None if pin && res.as_ref().err() == Some(&EBUSY) => {
                    waits += 1;
                    fsleep(Delta::from_millis(1));
                }
                None => return res,
                Some(Wanted::Route(i)) => {
                    rounds += 1;
                    direct[i] = Some(
                        self.client
                            .as_ref()
                            .is_some_and(|c| RouteMemo::direct(&self.routes, &all[i], c)),
                    );
                }
                Some(Wanted::Move(i)) => {
                    rounds += 1;
                    let mm = self.mirror.mm().ok_or(EFAULT)?;
                    let them = [all[i].clone()];
                    migration::migrate_to_system(
                        &mm,
                        self.mirror.start(),
                        self.mirror.end(),
                        &them,
                    )?;
                }
                Some(Wanted::Refresh) => {
                    waits += 1;
                    fsleep(Delta::from_millis(1));
                    all = registry::snapshot();
                    direct = KVec::from_elem(None, all.len(), GFP_KERNEL)?;
                }
            }
        }
        Err(EBUSY)
    }

    /// Whether the mapping of `seq` was invalidated since (`p2pmm_importer_retry()`).
    pub fn retry(&self, seq: ReadSeq) -> bool {
        self.mirror.retry(seq)
    }

    /// First address of the range.
    pub fn start(&self) -> usize {
        self.mirror.start()
    }

    /// End (exclusive) of the range.
    pub fn end(&self) -> usize {
        self.mirror.end()
    }
}

/// How the device reaches a page of `kind` at `pfn`, with `all` the providers and `direct` the
/// routes known so far; what is missing goes to `wanted` with `EAGAIN`.
fn classify<'a>(
    all: &'a [Arc<Provider>],
    direct: &[Option<bool>],
    p2p: bool,
    wanted: &mut Option<Wanted>,
    kind: PageKind,
    pfn: Option<usize>,
) -> Result<Reach<'a, Arc<Slots>>> {
    let mut want = |w| {
        *wanted = Some(w);
        Err(EAGAIN)
    };
    match kind {
        PageKind::Zero => Ok(Reach::Itself),
        PageKind::System => {
            let pfn = pfn.ok_or(EFAULT)?;
            let on_static = all
                .iter()
                .position(|p| p.kind == Kind::Static && pci_p2p::owns_p2p_pfn(&p.pdev, pfn));
            match on_static.map(|i| (i, direct[i])) {
                None => Ok(Reach::Itself),
                Some((_, Some(true))) if p2p => Ok(Reach::Itself),
                Some((i, None)) if p2p => want(Wanted::Route(i)),
                // Static memory never moves: the device cannot use it.
                Some(_) => Err(EREMOTEIO),
            }
        }
        PageKind::DevicePrivateLocal => {
            let pfn = pfn.ok_or(EFAULT)?;
            let Some((i, managed, slot)) = all.iter().enumerate().find_map(|(i, p)| {
                let m = p.managed()?;
                Some((i, m, m.memory().slot_of_pfn(pfn)?))
            }) else {
                return want(Wanted::Refresh);
            };
            let mem = managed.memory();
            match direct[i] {
                Some(true) if p2p && mem.has_p2p_window() => {
                    // The device uses the page: the eviction policy gives it a second chance.
                    managed.touch(slot);
                    Ok(Reach::Window(mem, slot))
                }
                None if p2p && mem.has_p2p_window() => want(Wanted::Route(i)),
                _ => want(Wanted::Move(i)),
            }
        }
        // Faulting brings another driver's device memory back to system memory; a hole or an error
        // is a bad address.
        PageKind::DevicePrivateRemote | PageKind::None | PageKind::Error => Err(EFAULT),
    }
}
